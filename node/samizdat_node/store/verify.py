"""``Store.verify``: run the audit of audit.py over every publisher and record the damage.

Blocks of :data:`~.audit.BLOCK` leaves are audited in this process or, with ``workers > 1``,
by a pool of processes each with its own read connection (hashing is CPU-bound and the GIL
would serialise threads). The upper levels of each tree are rebuilt here from block roots,
compared with the stored nodes, and folded into the root that must equal the signed head.
What is found replaces the publisher's rows in the ``damage`` table, for repair.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.errors import ProofError, SamizdatError
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.merkle import Frontier, root_of, verify_consistency

from .audit import (
    BLOCK_LEVEL,
    AuditReport,
    BlockResult,
    Damage,
    audit_block,
    check_head,
    compare_nodes,
)
from .bulk import paused_gc
from .dataset import Dataset
from .db import Database
from .tree import StoredTree

__all__ = ["verify_store"]


def _block_in_process(path: str, pid: int, key: bytes, start: int, end: int,
                      head: bytes | None) -> BlockResult:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")
        with paused_gc():
            return audit_block(conn, pid, key, start, end,
                               SignedHead.from_bytes(head) if head is not None else None)
    finally:
        conn.close()


def verify_store(db: Database, ds: Dataset, *, workers: int = 1, now_ms: int | None = None,
                 block_level: int = BLOCK_LEVEL,
                 only: frozenset[int] | None = None,
                 progress: Callable[[int], None] | None = None) -> AuditReport:
    """Audit everything; replace the damage table's rows with what was found.

    ``block_level``: blocks of ``2**block_level`` leaves are the unit of work (tests use small
    blocks to exercise the folding of block roots). ``only``: audit just these publisher ids
    (and replace only their damage rows; repair.py re-audits what it rewrote). ``progress``
    is called after each block with the log positions checked so far (of all publishers:
    it ends at the entries held, :func:`~.reads.counts_entries`).
    """
    began = time.perf_counter()
    report = AuditReport()
    # Per publisher id: positions 0 .. n checked (blocks finish in order; a pool that broke
    # and is replaced by the serial audit reports the same ends again, not twice).
    checked: dict[int, int] = {}

    def on_block(pid: int, end: int) -> None:
        if progress is not None and end > checked.get(pid, 0):
            checked[pid] = end
            progress(sum(checked.values()))

    pool = None
    if workers > 1:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        with paused_gc(), db.reading("auditing the store") as conn:
            if only is None:
                _check_charter(conn, ds, report)
            for pub in ds.by_id.values():
                if only is not None and pub.id not in only:
                    continue
                report.publishers += 1
                _audit_publisher(db, conn, ds, pub.id, pub.key, report, pool, block_level,
                                 on_block)
    finally:
        if pool is not None:
            pool.shutdown()
    found = int(time.time() * 1000) if now_ms is None else now_ms
    with db.reading("reading the damage table") as conn:
        had = conn.execute("SELECT count(*) FROM damage").fetchone()[0]
    if had or report.damage:  # a clean audit of a clean store writes nothing (disk may be full)
        _record(db, ds, report, found, only)
    report.seconds = time.perf_counter() - began
    return report


def _record(db: Database, ds: Dataset, report: AuditReport, found: int,
            only: frozenset[int] | None = None) -> None:
    with db.atomic("recording damage") as conn:
        if only is None:
            conn.execute("DELETE FROM damage")
        else:
            conn.executemany("DELETE FROM damage WHERE publisher = ?", [(p,) for p in only])
        ids = {p.key: p.id for p in ds.by_id.values()}
        conn.executemany(
            "INSERT OR REPLACE INTO damage (publisher, part, level, idx, detail, found_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(ids.get(d.publisher, 0), d.part, d.level, d.index, d.detail, found)
             for d in report.damage])


def _check_charter(conn: sqlite3.Connection, ds: Dataset, report: AuditReport) -> None:
    row = conn.execute("SELECT dataset_id, signed FROM charter WHERE id = 1").fetchone()
    try:
        signed = SignedCharter.from_bytes(row[1])
        signed.verify()
        ok = signed.dataset_id == row[0] == ds.dataset_id
    except SamizdatError:
        ok = False
    if not ok:
        report.damage.append(Damage(b"", "charter", 0, 0, "stored charter is damaged"))


def _audit_publisher(db: Database, conn: sqlite3.Connection, ds: Dataset, pid: int, key: bytes,
                     report: AuditReport, pool: ProcessPoolExecutor | None,
                     block_level: int, on_block: Callable[[int, int], None]) -> None:
    damage: list[Damage] = []
    head = check_head(conn, pid, key, ds.dataset_id, damage)
    row = conn.execute("SELECT length FROM heads WHERE publisher = ?", (pid,)).fetchone()
    signed = row[0] if row is not None else 0
    prefix = conn.execute("SELECT length, head, proof FROM prefixes WHERE publisher = ?",
                          (pid,)).fetchone()
    length = max(signed, prefix[0]) if prefix is not None else signed
    extra = conn.execute("SELECT count(*) FROM entries WHERE publisher = ? AND idx >= ?",
                         (pid, length)).fetchone()[0]
    if extra:
        damage.append(Damage(key, "head", length, 0, f"{extra} entries beyond the verified head"))
    size = 1 << block_level
    spans = [(s, min(s + size, length)) for s in range(0, length, size)]
    blocks: list[BlockResult] | None = None
    if pool is not None and len(spans) > 1:
        head_bytes = head.to_bytes() if head is not None else None
        futures = [pool.submit(_block_in_process, str(db.path), pid, key, s, e, head_bytes)
                   for s, e in spans]
        try:
            blocks = []
            for future, (_, e) in zip(futures, spans, strict=True):
                blocks.append(future.result())
                on_block(pid, e)
        except BrokenProcessPool:
            # A worker could not start (e.g. a __main__ that spawn cannot re-import): the
            # audit is still owed, so it runs here instead.
            blocks = None
    if blocks is None:
        blocks = []
        for s, e in spans:
            blocks.append(audit_block(conn, pid, key, s, e, head))
            on_block(pid, e)
    top = Frontier.empty()
    tail: list[bytes] = []
    unknown = [pos for block in blocks for pos in block.unknown]
    for block in blocks:
        damage.extend(block.damage)
        report.entries += block.entries
        report.payloads += block.payloads
        report.nodes += block.nodes
        if block.entries == size:
            made = top.extend(block.stack)
            shifted = [(level + block_level, index, h) for level, index, h in made]
            upper: list[Damage] = []
            report.nodes += compare_nodes(conn, pid, key, shifted, upper, unknown)
            damage.extend(upper)
        else:
            tail = block.stack
    root = Frontier.from_hashes(length, [*top.hashes, *tail]).root()
    if head is not None and not damage:
        # Below a proven prefix the verified head's root comes from the stored subtrees,
        # which the rebuild has just found intact.
        at = root if head.length == length else root_of(StoredTree(conn, pid, length),
                                                           head.length)
        if at != head.root:
            damage.append(Damage(key, "head", signed, 0,
                                 "entries do not hash to the signed root"))
    if prefix is not None and prefix[0] > signed and not damage:
        _check_prefix(ds, key, length, root, prefix[1], prefix[2], damage)
    report.damage.extend(damage)


def _check_prefix(ds: Dataset, key: bytes, length: int, root: bytes, head_bytes: bytes,
                  proof: bytes, damage: list[Damage]) -> None:
    """Entries held past the verified head: their root must extend, by the stored
    consistency proof, to the stored longer signed head (spec §11, headstore.Held)."""
    try:
        target = SignedHead.from_bytes(head_bytes)
        target.verify(ds.dataset_id)
        if target.publisher != key:
            raise ProofError("head.mismatch", "prefix head of another publisher")
        verify_consistency(length, root, target.length, target.root,
                           [proof[i:i + 32] for i in range(0, len(proof), 32)])
    except SamizdatError as exc:
        damage.append(Damage(key, "head", length, 0,
                             f"held prefix is not proven by its signed head: {exc.code}"))
