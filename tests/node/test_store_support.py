"""Helpers shared by the store tests (no tests here): a charter, keys, stores and dumps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samizdat_node.store import Store
from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.governance import propose
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.signing import SigningKey

FOUNDER = SigningKey.from_seed(b"\x01" * 32)
KEYS = [SigningKey.from_seed(bytes([0x10 + n]) * 32) for n in range(3)]
STRANGER = SigningKey.from_seed(b"\x7f" * 32)
SCHEMA = "memorial.victim/1"


def make_charter(publishers: list[SigningKey] | None = None) -> SignedCharter:
    keys = KEYS if publishers is None else publishers
    charter = Charter(name="test dataset", schema=SCHEMA, founders=(FOUNDER.public,),
                      threshold=1,
                      publishers=tuple(PublisherGrant(k.public, f"pub{n}")
                                       for n, k in enumerate(keys)),
                      created=1_700_000_000_000)
    return SignedCharter(charter).sign(FOUNDER)


CHARTER = make_charter()


def new_store(path: Path | str, **options: Any) -> Store:
    return Store.create(path, CHARTER, clock=lambda: 1_700_000_000_000, **options)


def body(n: int, variant: str = "") -> dict[str, Any]:
    return {"surname": f"Иванов{variant}", "name": "Иван", "patronymic": "Петрович",
            "birth": str(1880 + n % 40), "source_id": str(n)}


def bodies(count: int, start: int = 0, variant: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for n in range(start, start + count):
        yield f"memo:{n}", body(n, variant)


def dump(path: Path) -> list[str]:
    """Every row of every table, as SQL text: two equal dumps mean nothing changed."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def view_table(store: Store) -> dict[str, tuple[bytes | None, int | None, int, int]]:
    """The records view by record id: (displayed publisher key, index, retracted, versions)."""
    keys = {p.id: p.key for p in store.dataset.by_id.values()}
    with store.database.reading() as conn:
        rows = conn.execute("SELECT record_id, publisher, idx, retracted, versions FROM records")
        return {rid: (keys.get(pub) if pub is not None else None, idx, retracted, versions)
                for rid, pub, idx, retracted, versions in rows}


def approve_erase(store: Store, record_id: str, payload_hash: bytes, seq: int = 1,
                  founders: tuple[SigningKey, ...] = (FOUNDER,)) -> None:
    """The founders' approval of a safety erasure (spec §13), added to ``store``."""
    entry = propose(store.dataset_id, seq, "erase",
                    {"record": record_id, "payload": payload_hash, "reason": "safety"}, 1)
    for founder in founders:
        entry = entry.sign(founder)
    store.add_governance(entry.to_bytes())


def log_batch(log: PublisherLog, start: int, end: int) -> tuple[list[bytes], list[bytes | None]]:
    """Headers and aligned payloads of entries start..end-1 of an in-memory log."""
    headers = [e.to_bytes() for e in log.entries[start:end]]
    payloads = [log.payloads.get(e.payload_hash) if e.payload_hash is not None else None
                for e in log.entries[start:end]]
    return headers, payloads


def sign_prefix(log: PublisherLog, key: SigningKey, length: int, ts: int = 1) -> SignedHead:
    """A head of the log's first ``length`` entries (a past head)."""
    return sign_head(key, log.dataset_id, length, log.tree.root(length), ts)
