"""``bundle import``: verify a bundle and store what is new (design §4.4, §9; issue 5).

Order of checks, so that a bad bundle changes as little as possible:

1. The trailing checksum over the whole file (one sequential read). Any damaged or altered
   byte stops the import here: nothing is stored.
2. The manifest's governance entries and equivocation proofs (spec §13), stored all or
   nothing before anything else (a forged one refuses the bundle, ``bundle.governance``):
   they decide who may publish, so a rotation's new key is authorised by the bundle that
   carries its log, and a held log that contradicts a root they pin is dropped.
3. The manifest: same dataset as the node, every head validly signed by a publisher of the
   authorisation state, and no gap (the node holds at least ``start`` entries of every log
   whose range starts later than 0; otherwise the chunks cannot be verified and the bundle is
   refused whole).
4. Each chunk as it is read: in order and contiguous per publisher, then
   ``log.verify_prefix`` from the frontier after the previous chunk (from the store's tree at
   the range start) to the chunk's signed head with its consistency proof.
5. The chunk then goes to ``Store.apply_batch`` with its head and proof, which verifies it
   again (headers, payload hashes, schema) and stores it in one transaction, or nothing. A
   chunk already held is checked against the log held (a fork is recorded as an
   equivocation) and stores nothing; a chunk ending before its head leaves the node holding a
   proven prefix (the store keeps the head and proof), completed by the next chunks.

So a bundle whose checksum was recomputed after tampering (deliberate forgery) keeps the chunks
that verified before the damaged one and stores nothing from it on. A crash loses at most the
chunk being stored; importing again skips what is held (idempotent, resumable). Memory is
bounded by one chunk (wire limits: 4,096 entries, 8 MiB).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.errors import RemoteError, SamizdatError
from samizdat_protocol.log import verify_prefix
from samizdat_protocol.merkle import Frontier
from samizdat_protocol.wire import Chunk

from ..store import Damage, Store
from ..store.authority import GovernanceBatch
from ..store.tree import StoredTree
from ..sync.governance import apply_page
from .format import BundleError, BundleReader, LogRange, Manifest, check_checksum

__all__ = ["ImportResult", "LogImport", "import_bundle", "read_manifest"]

OnChunk = Callable[[int], None]
# Damage the entries of a bundle can make good (audit.py's parts; nodes and heads are
# rebuilt from entries).
_ENTRY_PARTS = frozenset({"header", "payload", "entry", "missing", "leaf", "index", "node"})


@dataclass
class LogImport:
    """One publisher's part of an import."""

    publisher: bytes
    name: str
    start: int  # first entry the bundle carries
    end: int  # the bundle's head length
    held_before: int
    stored: int = 0  # entries newly stored
    records: int = 0  # records whose view changed
    next: int = 0
    frontier: Frontier = field(default_factory=Frontier.empty)


@dataclass
class ImportResult:
    manifest: Manifest
    logs: list[LogImport]
    chunks: int = 0
    entries: int = 0  # entries read from the bundle
    seconds: float = 0.0
    damage_covered: list[Damage] = field(default_factory=list)  # damage still there after
    repaired: int = 0  # held entries rewritten from the bundle (audit had marked them damaged)
    governance: GovernanceBatch = field(default_factory=GovernanceBatch)  # what it stored

    @property
    def stored(self) -> int:
        return sum(log.stored for log in self.logs)


def read_manifest(path: Path) -> Manifest:
    """The manifest of a bundle file (its first frame), without reading the chunks."""
    with _open(path) as fh:
        return BundleReader(fh).manifest


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BundleError("bundle.unreadable", f"cannot read {path}: {exc.strerror}") from exc


def _governance(store: Store, manifest: Manifest) -> GovernanceBatch:
    """Store the manifest's governance entries and proofs, all or none (step 2)."""
    if not manifest.governance and not manifest.proofs:
        return GovernanceBatch()
    try:
        return apply_page(store, entries=manifest.governance, proofs=manifest.proofs)
    except RemoteError as exc:
        raise BundleError("bundle.governance", f"the bundle's governance does not verify "
                          f"({exc.code}: {exc.message}); nothing was imported") from exc


def _check_dataset(store: Store, manifest: Manifest) -> None:
    """The bundle is of this node's dataset, with its charter (before anything is stored)."""
    if manifest.dataset_id != store.dataset_id:
        raise BundleError("bundle.other_dataset", f"the bundle is for dataset "
                          f"{manifest.dataset_id.hex()[:16]}…, this node holds "
                          f"{store.dataset_id.hex()[:16]}…")
    try:
        charter = SignedCharter.from_bytes(manifest.charter)
    except SamizdatError as exc:
        raise BundleError("bundle.charter", f"the bundle's charter does not decode: "
                          f"{exc.message}") from exc
    if charter.dataset_id != store.dataset_id:
        raise BundleError("bundle.charter", "the bundle's charter is not its dataset's")


def _start(store: Store, manifest: Manifest) -> list[LogImport]:
    """Check the manifest's logs against the node (step 3); the per-log import states."""
    held = {pub.key: pub.length for pub in store.status()}  # a proven prefix included
    logs = []
    for log in manifest.logs:
        pub = store.dataset.authorised(log.publisher)
        log.head.verify(store.dataset_id)
        have = held.get(log.publisher, 0)
        if have < log.start:
            raise BundleError("bundle.gap", f"the bundle continues {pub.name}'s log from entry "
                              f"{log.start:,}, but this node holds only {have:,}: import an "
                              "earlier (or a full) bundle first", publisher=log.publisher)
        state = LogImport(log.publisher, pub.name, log.start, log.end, have, next=log.start)
        state.frontier = _frontier(store, pub.id, have, log.start)
        logs.append(state)
    return logs


def _frontier(store: Store, publisher_id: int, held: int, size: int) -> Frontier:
    if size == 0:
        return Frontier.empty()
    with store.database.reading("reading a log's frontier") as conn:
        return StoredTree(conn, publisher_id, held).frontier(size)


def _take(store: Store, log: LogImport, chunk: Chunk, log_range: LogRange) -> None:
    """Verify one chunk (step 3) and store it (step 4)."""
    if chunk.start != log.next:
        raise BundleError("bundle.order", f"{log.name}: a chunk starts at {chunk.start:,}, "
                          f"expected {log.next:,}", publisher=log.publisher)
    if chunk.head.length > log_range.end or (
            chunk.head.length == log_range.end and chunk.head.root != log_range.head.root):
        raise BundleError("bundle.order", f"{log.name}: a chunk proves against a head beyond "
                          "or beside the manifest's", publisher=log.publisher)
    verified = verify_prefix(log.frontier, chunk.headers, chunk.head, chunk.proof,
                             store.dataset_id)
    log.frontier = verified.frontier
    log.next = chunk.end
    proof = chunk.proof if chunk.end < chunk.head.length else ()
    result = store.apply_batch(log.publisher, chunk.start, list(chunk.headers),
                               list(chunk.payloads), chunk.head, proof=proof)
    log.stored += result.stored
    log.records += result.records


def import_bundle(store: Store, path: Path, *, on_chunk: OnChunk | None = None,
                  check_first: bool = True) -> ImportResult:
    """Verify and store a bundle file (module docstring). ``check_first=False`` skips the
    whole-file checksum pass (the checksum is then checked at the end, after storing the
    chunks that verified: for salvaging what is intact in a damaged file)."""
    began = time.perf_counter()
    with _open(path) as fh:
        if check_first:
            check_checksum(fh, os.fstat(fh.fileno()).st_size)
            fh.seek(0)
        reader = BundleReader(fh)
        manifest = reader.manifest
        _check_dataset(store, manifest)
        governance = _governance(store, manifest)
        to_repair = store.damaged_ranges()
        logs = _start(store, manifest)
        by_key = {log.publisher: log for log in logs}
        ranges = {r.publisher: r for r in manifest.logs}
        result = ImportResult(manifest, logs, governance=governance)
        for chunk in reader.chunks():
            log = by_key.get(chunk.head.publisher)
            if log is None:
                raise BundleError("bundle.order", "a chunk belongs to a publisher the manifest "
                                  "does not list", publisher=chunk.head.publisher)
            _take(store, log, chunk, ranges[log.publisher])
            result.repaired += _repair(store, chunk, to_repair)
            result.chunks += 1
            result.entries += len(chunk.headers)
            if on_chunk is not None:
                on_chunk(len(chunk.headers))
    for log in logs:
        if log.next != log.end:
            raise BundleError("bundle.incomplete", f"{log.name}: the bundle stops at entry "
                              f"{log.next:,} of {log.end:,}", publisher=log.publisher)
    result.damage_covered = [d for d in store.damage() if d.part in _ENTRY_PARTS
                             and d.publisher in ranges
                             and ranges[d.publisher].start <= _leaf_index(d)
                             < ranges[d.publisher].end]
    result.seconds = time.perf_counter() - began
    return result


def _repair(store: Store, chunk: Chunk, damaged: list[tuple[bytes, int, int]]) -> int:
    """Rewrite held entries that audit marked damaged from this chunk's copies (the store
    checks them against our own signed root, so a bad bundle can fail repair, never corrupt)."""
    repaired = 0
    for publisher, start, end in damaged:
        lo, hi = max(start, chunk.start), min(end, chunk.end)
        if publisher != chunk.head.publisher or lo >= hi:
            continue
        cut = slice(lo - chunk.start, hi - chunk.start)
        repaired += store.repair_range(publisher, lo, list(chunk.headers[cut]),
                                       list(chunk.payloads[cut])).entries
    return repaired


def _leaf_index(damage: Damage) -> int:
    """The first log index a damage row is about (a node covers ``2**level`` leaves)."""
    return damage.index << damage.level
