"""Repair (design §4.3): fetch entries that the audit marked damaged again, with proofs.

The audit (store.verify) names damaged parts by publisher and log index. Entry-level damage
(``header``, ``entry``, ``missing``, ``payload``) needs the bytes again from a peer; a wrong
stored ``leaf`` or ``node`` hash, or a derived ``index`` column, is recomputed locally by the
store from the entries. So this module:

1. asks a peer for the damaged indices with ordinary ``get`` requests of ranges *below* our
   held length (spec §11; every server answers any range under its verified head);
2. checks every received header against **our own** signed head: its leaf hash, with the
   inclusion proof built from our stored tree (``store.inclusion_proof``), must give the
   signed root (RFC 9162 §2.1.3.2); a payload must hash to the payload hash in its header.
   The peer's chunk heads and proofs are not needed: our head is the authority;
3. hands the verified entries to the store's repair operation (``Store.repair_entries``, when
   the store offers it; see ``docs/decisions/0004-sync-wire-and-policy.md``).

Nothing a peer sends is trusted before step 2, so a hostile peer can make repair fail, never
make it write a wrong byte.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from samizdat_protocol.entries import Entry
from samizdat_protocol.errors import ProofError, RemoteError
from samizdat_protocol.hashing import hash_leaf, hash_payload
from samizdat_protocol.merkle import verify_inclusion
from samizdat_protocol.sync import SyncError
from samizdat_protocol.wire import MAX_CHUNK_ENTRIES, Chunk, Done, GetRange, Hello

from ..p2p.host import open_stream
from ..p2p.serve import close_stream, reset_stream
from ..store import AsyncStore, Damage, Store
from .codec import read_message, write_message
from .governance import held_governance
from .limits import SYNC_PROTOCOL, SyncLimits

__all__ = ["FETCH_PARTS", "RepairItem", "RepairReport", "damaged_indices", "fetch_verified",
           "verify_items"]

log = logging.getLogger(__name__)

FETCH_PARTS = frozenset({"header", "entry", "missing", "payload"})


@dataclass(frozen=True, slots=True)
class RepairItem:
    """One entry fetched again and verified against our signed head."""

    publisher: bytes
    index: int
    header: bytes
    payload: bytes | None


@dataclass
class RepairReport:
    peer: str
    wanted: int = 0
    verified: list[RepairItem] = field(default_factory=list)
    error: Exception | None = None


def damaged_indices(damage: Iterable[Damage]) -> dict[bytes, list[int]]:
    """Per publisher, the sorted log indices whose bytes must come from a peer."""
    out: dict[bytes, set[int]] = {}
    for item in damage:
        if item.part in FETCH_PARTS and item.level == 0:
            out.setdefault(item.publisher, set()).add(item.index)
    return {k: sorted(v) for k, v in out.items()}


def _ranges(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of indices as [start, end) ranges of at most one chunk."""
    out: list[tuple[int, int]] = []
    for index in indices:
        if out and out[-1][1] == index and index - out[-1][0] < MAX_CHUNK_ENTRIES:
            out[-1] = (out[-1][0], index + 1)
        else:
            out.append((index, index + 1))
    return out


def verify_items(store: Store, publisher: bytes, fetched: dict[int, tuple[bytes, bytes | None]],
                 ) -> list[RepairItem]:
    """Keep the fetched entries that our signed head proves (blocking: a worker thread)."""
    head = store.head(publisher)
    if head is None:
        return []
    out = []
    for index, (header, payload) in sorted(fetched.items()):
        if index >= head.length:
            continue
        proof = store.inclusion_proof(publisher, index, head.length)
        try:
            verify_inclusion(hash_leaf(header), index, head.length, proof, head.root)
            entry = Entry.from_bytes(header)
            if payload is not None and hash_payload(payload) != entry.payload_hash:
                raise ProofError("repair.payload", "payload does not match its header")
        except (ProofError, RemoteError) as exc:
            log.info("repair: entry %d of %s does not verify: %s", index, publisher.hex()[:16],
                     exc)
            continue
        out.append(RepairItem(publisher, index, header, payload))
    return out


async def fetch_verified(host: Any, store: AsyncStore, peer_id: Any,
                         wanted: dict[bytes, list[int]], *,
                         limits: SyncLimits | None = None) -> RepairReport:
    """Fetch ``wanted`` (publisher -> indices) from one peer; return what verifies."""
    limits = limits or SyncLimits()
    report = RepairReport(peer=str(peer_id), wanted=sum(map(len, wanted.values())))
    try:
        stream = await open_stream(host, peer_id, [SYNC_PROTOCOL], timeout=limits.hello_timeout)
    except RemoteError as exc:
        report.error = exc
        return report
    try:
        fetched = await _fetch(stream, store, wanted, limits)
    except (RemoteError, trio.TooSlowError) as exc:
        report.error = exc
        await reset_stream(stream)
        return report
    except BaseException:
        await reset_stream(stream)
        raise
    await close_stream(stream)
    for publisher, entries in fetched.items():
        report.verified += await store.run_sync(
            partial(verify_items, publisher=publisher, fetched=entries))
    return report


async def _fetch(stream: Any, store: AsyncStore, wanted: dict[bytes, list[int]],
                 limits: SyncLimits) -> dict[bytes, dict[int, tuple[bytes, bytes | None]]]:
    gov = await store.run_sync(held_governance)  # what we hold, as every hello says (§11)
    await write_message(stream, Hello(store.dataset_id, (), (), gov.digest),
                        timeout=limits.write_timeout)
    hello, _ = await read_message(stream, timeout=limits.hello_timeout)
    if not isinstance(hello, Hello) or hello.dataset_id != store.dataset_id:
        raise SyncError("sync.unexpected", "expected the server's hello for this dataset")
    theirs = {h.publisher: h.length for h in hello.heads}
    out: dict[bytes, dict[int, tuple[bytes, bytes | None]]] = {}
    request_id = 0
    for publisher, indices in wanted.items():
        got = out.setdefault(publisher, {})
        for start, end in _ranges([i for i in indices if i < theirs.get(publisher, 0)]):
            request_id += 1
            await write_message(stream, GetRange(request_id, publisher, start, end),
                                timeout=limits.write_timeout)
            position = start
            while True:
                message, _ = await read_message(stream, timeout=limits.read_timeout)
                if isinstance(message, Done) and message.request_id == request_id:
                    break
                if not isinstance(message, Chunk) or message.request_id != request_id \
                        or message.start != position or message.end > end:
                    raise SyncError("sync.unexpected", "a repair answer out of order")
                for offset, header in enumerate(message.headers):
                    got[position + offset] = (header, message.payloads[offset])
                position = message.end
    return out
