"""``bundle export``: write what a store holds (or what another node lacks) as a bundle file.

For every publisher the store holds entries of, the bundle carries ``[start, n)`` where ``n`` is
the held head's length and ``start`` is 0, or the other node's length under ``--since``
(format.py). The range is cut into chunks of at most :data:`CHUNK_ENTRIES` entries and
``wire.MAX_CHUNK_BYTES`` bytes, and also at every signed head the store knows in the range
(its head history): each chunk carries the first such head at or after its end and a
consistency proof to it, so an importer verifies and commits every chunk on its own (spec §11),
and a chunk that ends at its head leaves the importer with a fully signed length.

The manifest also carries every governance entry and equivocation proof the store holds
(spec §13, §15; at most 1,024 of each and :data:`GOVERNANCE_BUDGET` bytes in all, entries
first: a store holding more is noted in ``skipped`` and the rest travels by catch-up), so the
bundle brings the authorisation state its logs need, whatever the importer held before.

The target heads are fixed when the export starts; entries below a held head never change, so
a node may keep publishing or syncing while an export runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from samizdat_protocol.errors import ProofError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merkle import verify_consistency
from samizdat_protocol.wire import MAX_CHUNK_BYTES, MAX_CHUNK_ENTRIES, Chunk

from ..store import Store
from ..sync.governance import held_governance
from .format import MAX_MANIFEST_ITEMS, BundleError, BundleWriter, LogRange, Manifest
from .since import PeerHead

__all__ = ["CHUNK_ENTRIES", "GOVERNANCE_BUDGET", "ExportResult", "export_bundle",
           "plan_export"]

T = TypeVar("T")
CHUNK_ENTRIES = MAX_CHUNK_ENTRIES
# Manifest bytes for governance entries and proofs (the reader's manifest limit is 4 MiB; the
# charter takes at most 256 KiB and 1,024 log ranges about 250 KiB).
GOVERNANCE_BUDGET = 3 * 1024 * 1024

OnChunk = Callable[[int], None]


@dataclass
class ExportResult:
    manifest: Manifest
    chunks: int = 0
    entries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # why a publisher was left out


def plan_export(store: Store, since: Mapping[bytes, PeerHead] | None = None,
                now_ms: int | None = None) -> tuple[Manifest, list[str]]:
    """The manifest: per publisher, the range the other node lacks (everything without
    ``since``). Checks the other node's signed heads and roots against our log."""
    logs: list[LogRange] = []
    notes: list[str] = []
    names = {p.key: p.name for p in store.dataset.publishers.values()}
    for publisher, head in store.heads().items():
        name = names.get(publisher, publisher.hex()[:16])
        theirs = since.get(publisher) if since else None
        start = 0 if theirs is None else theirs.length
        if theirs is not None:
            _check_theirs(store, head, theirs, name)
        if start >= head.length:
            notes.append(f"{name}: the other node already holds {start:,} of our "
                         f"{head.length:,} entries")
            continue
        logs.append(LogRange(publisher, start, head))
    if since:
        for publisher in since.keys() - store.heads().keys():
            notes.append(f"{names.get(publisher, publisher.hex()[:16])}: we hold no entries")
    created = int(time.time() * 1000) if now_ms is None else now_ms
    entries, proofs = _governance(store, notes)
    return Manifest(store.dataset_id, created, store.charter.to_bytes(), tuple(logs),
                    entries, proofs), notes


def _governance(store: Store, notes: list[str]
                ) -> tuple[tuple[GovernanceEntry, ...], tuple[EquivocationProof, ...]]:
    """Every governance entry, then every proof, the store holds, within the manifest's
    bounds (entries first: they decide who may publish)."""
    held = held_governance(store)
    entries, budget = _fit(held.entries, [len(e.to_bytes()) for e in held.entries],
                           GOVERNANCE_BUDGET)
    proofs, _ = _fit(held.proofs, [len(p.to_bytes()) for p in held.proofs], budget)
    left = len(held) - len(entries) - len(proofs)
    if left:
        notes.append(f"{left:,} governance entries or equivocation proofs left out (over the "
                     "manifest's limits): they travel by catch-up sync")
    return entries, proofs


def _fit(items: Sequence[T], sizes: list[int], budget: int) -> tuple[tuple[T, ...], int]:
    """The leading items that fit the count limit and ``budget`` bytes; the budget left."""
    count = 0
    while count < min(len(items), MAX_MANIFEST_ITEMS) and sizes[count] <= budget:
        budget -= sizes[count]
        count += 1
    return tuple(items[:count]), budget


def _check_theirs(store: Store, ours: SignedHead, theirs: PeerHead, name: str) -> None:
    if theirs.head is not None:
        theirs.head.verify(store.dataset_id)
    at = theirs.root_length
    if theirs.root is None or at > ours.length or at == 0:
        return
    proof = store.consistency_proof(ours.publisher, at, ours.length)
    try:
        verify_consistency(at, theirs.root, ours.length, ours.root, proof)
    except ProofError as exc:
        raise BundleError("bundle.since_fork", f"{name}: the other node's log of "
                          f"{at:,} entries is not a prefix of ours: one of the two "
                          "holds a forked history (run samizdat verify on both)") from exc


def _checkpoints(store: Store, log: LogRange) -> list[SignedHead]:
    """Signed heads with lengths in (start, end], shortest first; the latest head included."""
    by_length: dict[int, SignedHead] = {}
    for head in store.head_history(log.publisher):
        if log.start < head.length < log.end:
            by_length.setdefault(head.length, head)
    by_length[log.end] = log.head
    return [by_length[length] for length in sorted(by_length)]


def _cut(headers: list[bytes], payloads: list[bytes | None]) -> int:
    """How many leading entries fit the chunk byte limit (at least one)."""
    total = 0
    for count, (header, payload) in enumerate(zip(headers, payloads, strict=True)):
        total += len(header) + (len(payload) if payload is not None else 0)
        if total > MAX_CHUNK_BYTES:
            return max(count, 1)
    return len(headers)


def write_log(store: Store, writer: BundleWriter, log: LogRange, chunk_entries: int,
              on_chunk: OnChunk | None) -> None:
    checkpoints = _checkpoints(store, log)
    target = 0
    pos = log.start
    while pos < log.end:
        while checkpoints[target].length <= pos:
            target += 1
        head = checkpoints[target]
        got = store.entries(log.publisher, pos, min(chunk_entries, head.length - pos))
        count = _cut(got.headers, got.payloads)
        if count == 0:
            raise BundleError("bundle.export", f"the store returned no entries at {pos}")
        end = pos + count
        proof = store.consistency_proof(log.publisher, end, head.length) \
            if end < head.length else []
        writer.write_chunk(Chunk(writer.chunks, pos, tuple(got.headers[:count]),
                                 tuple(got.payloads[:count]), head, tuple(proof)))
        pos = end
        if on_chunk is not None:
            on_chunk(count)


def _open_out(path: Path | None) -> tuple[BinaryIO, Path | None]:
    if path is None:
        return sys.stdout.buffer, None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        return open(tmp, "wb"), tmp
    except OSError as exc:
        raise BundleError("bundle.output", f"cannot write {path}: {exc.strerror}") from exc


def export_bundle(store: Store, out: Path | None, *, since: Mapping[bytes, PeerHead] | None = None,
                  codec: str = "zstd", level: int | None = None,
                  chunk_entries: int = CHUNK_ENTRIES, on_chunk: OnChunk | None = None,
                  manifest: Manifest | None = None) -> ExportResult:
    """Write a bundle to ``out`` (None: standard output). The file appears atomically: it is
    written beside ``out`` under a temporary name, synced, then renamed."""
    began = time.perf_counter()
    notes: list[str] = []
    if manifest is None:
        manifest, notes = plan_export(store, since)
    if not 1 <= chunk_entries <= MAX_CHUNK_ENTRIES:
        raise BundleError("bundle.export", f"chunk size must be 1..{MAX_CHUNK_ENTRIES}")
    fh, tmp = _open_out(out)
    try:
        writer = BundleWriter(fh, codec, level)
        writer.write_manifest(manifest)
        for log in manifest.logs:
            write_log(store, writer, log, chunk_entries, on_chunk)
        writer.finish()
        if tmp is not None:
            os.fsync(fh.fileno())
            fh.close()
            assert out is not None
            os.replace(tmp, out)
    except BaseException:
        if tmp is not None:
            fh.close()
            tmp.unlink(missing_ok=True)
        raise
    return ExportResult(manifest, writer.chunks, writer.entries, writer.bytes_written,
                        time.perf_counter() - began, notes)
