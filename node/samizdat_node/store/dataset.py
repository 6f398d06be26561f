"""The dataset a store holds: its charter, its publishers, and the merge policy they imply.

A store holds exactly one dataset (design §2: ``dataset_id = H(charter)``). The charter is
stored as signed bytes and checked (founders' threshold) when the store is created; its
publisher list gives the initial authorised keys and their display priority (list order,
design §3). Governance entries (add, revoke, rotate) will update the ``publishers`` table later;
everything that decides authorisation or display order reads it through :class:`Dataset`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.errors import UnauthorisedError
from samizdat_protocol.merge import MergePolicy

from .errors import StoreError

__all__ = ["Dataset", "Publisher", "init_dataset", "load_dataset"]


@dataclass(frozen=True, slots=True)
class Publisher:
    id: int
    key: bytes
    name: str
    priority: int | None
    authorised: bool


@dataclass
class Dataset:
    charter: SignedCharter
    publishers: dict[bytes, Publisher]
    by_id: dict[int, Publisher] = field(init=False)
    policy: MergePolicy = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {p.id: p for p in self.publishers.values()}
        self.policy = MergePolicy(
            priorities={p.key: p.priority for p in self.publishers.values()
                        if p.priority is not None})

    @property
    def dataset_id(self) -> bytes:
        return self.charter.dataset_id

    @property
    def schema_id(self) -> str:
        return self.charter.charter.schema

    def authorised(self, key: bytes) -> Publisher:
        """The publisher ``key`` names, if it may publish here; else ``auth.not_a_publisher``."""
        pub = self.publishers.get(key)
        if pub is None or not pub.authorised:
            raise UnauthorisedError("auth.not_a_publisher",
                                    f"key {key.hex()[:16]} is not a publisher of this dataset",
                                    publisher=key)
        return pub


def init_dataset(conn: sqlite3.Connection, signed: SignedCharter) -> None:
    """Record the charter and its publishers in a new store (inside a write transaction)."""
    signed.verify()
    charter = signed.charter
    conn.execute("INSERT INTO charter (id, dataset_id, schema_id, signed) VALUES (1, ?, ?, ?)",
                 (signed.dataset_id, charter.schema, signed.to_bytes()))
    conn.executemany(
        "INSERT INTO publishers (id, key, name, priority, authorised) VALUES (?, ?, ?, ?, 1)",
        [(n + 1, grant.key, grant.name, n) for n, grant in enumerate(charter.publishers)])


def load_dataset(conn: sqlite3.Connection) -> Dataset | None:
    """The dataset recorded in the store, or None for a store not yet given a charter."""
    row = conn.execute("SELECT dataset_id, signed FROM charter WHERE id = 1").fetchone()
    if row is None:
        return None
    signed = SignedCharter.from_bytes(row[1])
    if signed.dataset_id != row[0]:
        raise StoreError("store.corrupt", "the stored charter does not hash to its dataset id")
    publishers = {
        key: Publisher(pid, key, name, priority, bool(authorised))
        for pid, key, name, priority, authorised in conn.execute(
            "SELECT id, key, name, priority, authorised FROM publishers ORDER BY id")
    }
    return Dataset(signed, publishers)
