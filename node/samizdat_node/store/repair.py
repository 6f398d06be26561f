"""Repair of what the audit found damaged (design §4.3; Hypercore's ``lib/audit.js`` repair).

The audit (audit.py) names damaged parts: entry bytes that must come from a peer (``header``,
``entry``, ``missing``, ``payload``), and hashes or columns that can be derived again locally
(``leaf``, ``node``, ``index``). :func:`repair_entries` takes entries fetched again (from a
peer, a bundle) and, per publisher, in one write transaction:

1. rebuilds the whole tree from the stored headers with the received ones in their places,
   and accepts them only if it gives the root of our own verified head (and, past it, the
   proven prefix's root: headstore.Held). Our signed head is the authority: whatever a peer
   sends, a wrong byte cannot be written (collision resistance of the leaf hashes);
2. rewrites the received entries (header, leaf, derived columns, payload; a payload must hash
   to the payload hash in its header, and a payload whose erasure the founders approved is
   never written back), every stored leaf hash and subtree hash that differs from the
   rebuilt tree, and every derived column marked damaged;
3. merges the records of the rewritten entries again, then re-audits the publisher, which
   replaces its rows in ``damage``: what is fixed is no longer marked.

A publisher whose rebuilt root differs (another entry still damaged, or a wrong entry sent)
is left unchanged and reported in ``refused``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from samizdat_protocol.errors import ProofError, SamizdatError
from samizdat_protocol.hashing import hash_leaf, hash_payload
from samizdat_protocol.merkle import Frontier, verify_consistency

from .audit import Damage
from .bulk import paused_gc
from .codec import decode_header
from .dataset import Dataset
from .db import Database
from .headstore import Held, held_state
from .tree import stored_nodes
from .verify import verify_store
from .view import remerge_records

__all__ = ["RepairEntry", "RepairResult", "damaged_ranges", "repair_entries"]

_KINDS = {"put": 0, "retract": 1, "erase": 2}


class RepairEntry(Protocol):
    """One entry fetched again: sync/repair.RepairItem has this shape."""

    @property
    def publisher(self) -> bytes: ...

    @property
    def index(self) -> int: ...

    @property
    def header(self) -> bytes: ...

    @property
    def payload(self) -> bytes | None: ...


@dataclass
class RepairResult:
    """``entries``: rows rewritten from received entries; ``leaves``/``nodes``/``columns``:
    hashes and derived columns rewritten locally; ``refused``: publisher -> why nothing was
    written for it; ``damage``: what the re-audit still finds for the repaired publishers."""

    entries: int = 0
    leaves: int = 0
    nodes: int = 0
    columns: int = 0
    refused: dict[bytes, str] = field(default_factory=dict)
    damage: list[Damage] = field(default_factory=list)


def damaged_ranges(conn: sqlite3.Connection, ds: Dataset,
                   most: int = 4096) -> list[tuple[bytes, int, int]]:
    """``(publisher, start, end)`` runs of log indices whose bytes must come from a peer
    (damage parts header, entry, missing, payload), each at most ``most`` long."""
    rows = conn.execute("SELECT DISTINCT publisher, idx FROM damage WHERE level = 0 AND part IN "
                        "('header', 'entry', 'missing', 'payload') ORDER BY publisher, idx")
    out: list[tuple[bytes, int, int]] = []
    for pid, idx in rows:
        key = ds.by_id[pid].key if pid in ds.by_id else b""
        if out and out[-1][0] == key and out[-1][2] == idx and idx - out[-1][1] < most:
            out[-1] = (key, out[-1][1], idx + 1)
        else:
            out.append((key, idx, idx + 1))
    return out


def repair_entries(db: Database, ds: Dataset, items: Iterable[RepairEntry],
                   now_ms: int) -> RepairResult:
    """Rewrite damaged entries from ``items`` after checking them against our signed heads;
    rewrite damaged leaf hashes, subtree hashes and derived columns of every publisher."""
    by_publisher: dict[bytes, dict[int, tuple[bytes, bytes | None]]] = {}
    for item in items:
        by_publisher.setdefault(item.publisher, {})[item.index] = (item.header, item.payload)
    with db.reading("reading the damage table") as conn:
        # Hashes and columns derived from intact entries are rewritten with no copy needed.
        for (pid,) in conn.execute("SELECT DISTINCT publisher FROM damage WHERE part IN "
                                   "('leaf', 'node', 'index')"):
            if pid in ds.by_id:
                by_publisher.setdefault(ds.by_id[pid].key, {})
    result = RepairResult()
    done: set[int] = set()
    for key, got in by_publisher.items():
        pub = ds.publishers.get(key)
        if pub is None:
            result.refused[key] = "not a publisher of this dataset"
            continue
        try:
            with paused_gc(), db.atomic("repairing entries") as conn:
                _repair_publisher(conn, ds, pub.id, got, result)
            done.add(pub.id)
        except SamizdatError as exc:
            result.refused[key] = f"{exc.code}: {exc.message}"
    if done:
        report = verify_store(db, ds, now_ms=now_ms, only=frozenset(done))
        result.damage = report.damage
    return result


def _repair_publisher(conn: sqlite3.Connection, ds: Dataset, pid: int,
                      got: dict[int, tuple[bytes, bytes | None]], result: RepairResult) -> None:
    held = held_state(conn, pid)
    if held.head is None and held.target is None:
        raise ProofError("repair.no_head", "no verified head to check repairs against")
    if any(not 0 <= index < held.length for index in got):
        raise ProofError("repair.range", "an entry beyond what is held cannot be repaired")
    leaves: list[bytes] = []  # rows are streamed; only their leaf hashes are kept
    wrong_leaf: list[int] = []
    expect = 0
    for idx, header, leaf in conn.execute(
            "SELECT idx, header, leaf FROM entries WHERE publisher = ? AND idx < ? "
            "ORDER BY idx", (pid, held.length)):
        expect = _fill(got, expect, idx, leaves)
        computed = hash_leaf(got[idx][0] if idx in got else bytes(header))
        if idx not in got and computed != leaf:
            wrong_leaf.append(idx)
        leaves.append(computed)
        expect += 1
    _fill(got, expect, held.length, leaves)
    _check_root(held, leaves)
    # Verified: every header is the one our signed head commits to. Rewrite what differs.
    erasures = ds.auth.erasures
    touched: dict[str, None] = {}
    for index, (header, payload) in sorted(got.items()):
        kind, record_id, payload_key, ts = decode_header(header)
        keep = _payload(conn, pid, index, kind, record_id, payload_key, payload, erasures)
        conn.execute("INSERT OR REPLACE INTO entries (publisher, idx, header, leaf, kind, "
                     "record_id, payload_hash, ts, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (pid, index, header, leaves[index], _KINDS[kind], record_id, payload_key,
                      ts, keep))
        touched[record_id] = None
        result.entries += 1
    conn.executemany("UPDATE entries SET leaf = ? WHERE publisher = ? AND idx = ?",
                     [(leaves[i], pid, i) for i in wrong_leaf])
    result.leaves += len(wrong_leaf)
    result.columns += _fix_columns(conn, pid, touched)
    result.nodes += _fix_nodes(conn, pid, leaves)
    remerge_records(conn, ds, list(touched))


def _fill(got: dict[int, tuple[bytes, bytes | None]], expect: int, upto: int,
          leaves: list[bytes]) -> int:
    """Rows ``expect .. upto - 1`` are missing: they must be among the received entries."""
    while expect < upto:
        if expect not in got:
            raise ProofError("repair.missing", f"entry {expect} is missing and was not sent")
        leaves.append(hash_leaf(got[expect][0]))
        expect += 1
    return expect


def _check_root(held: Held, leaves: list[bytes]) -> None:
    frontier = Frontier.empty()
    signed = held.signed_length
    frontier.extend(leaves[:signed])
    if held.head is not None and frontier.root() != held.head.root:
        raise ProofError("repair.root", "the entries do not give the root of our signed head")
    frontier.extend(leaves[signed:])
    if held.target is not None:
        verify_consistency(held.length, frontier.root(), held.target.length, held.target.root,
                           list(held.proof))


def _payload(conn: sqlite3.Connection, pid: int, index: int, kind: str, record_id: str,
             payload_key: bytes | None, payload: bytes | None,
             erasures: frozenset[tuple[str, bytes]]) -> bytes | None:
    """The payload bytes to keep for a repaired entry: the received ones if they hash right,
    else the stored ones if they do; never an erased payload (spec §10 rule 6)."""
    if kind != "put" or payload_key is None or (record_id, payload_key) in erasures:
        return None
    if payload is not None and hash_payload(payload) == payload_key:
        return payload
    row = conn.execute("SELECT payload FROM entries WHERE publisher = ? AND idx = ?",
                       (pid, index)).fetchone()
    old = None if row is None or row[0] is None else bytes(row[0])
    return old if old is not None and hash_payload(old) == payload_key else None


def _fix_columns(conn: sqlite3.Connection, pid: int, touched: dict[str, None]) -> int:
    """Derive the kind, record id, payload hash and timestamp columns again where the audit
    found them disagreeing with the header (damage part ``index``)."""
    marked = conn.execute(
        "SELECT d.idx, e.header FROM damage AS d JOIN entries AS e ON e.publisher = d.publisher "
        "AND e.idx = d.idx WHERE d.publisher = ? AND d.part = 'index'", (pid,)).fetchall()
    for index, header in marked:
        kind, record_id, payload_key, ts = decode_header(bytes(header))
        conn.execute("UPDATE entries SET kind = ?, record_id = ?, payload_hash = ?, ts = ? "
                     "WHERE publisher = ? AND idx = ?",
                     (_KINDS[kind], record_id, payload_key, ts, pid, index))
        touched[record_id] = None
    return len(marked)


def _fix_nodes(conn: sqlite3.Connection, pid: int, leaves: list[bytes]) -> int:
    """Rewrite every stored subtree hash (level >= 1) that differs from the rebuilt tree."""
    made = Frontier.empty().extend(leaves)
    stored = {(level, idx): bytes(h) for level, idx, h in conn.execute(
        "SELECT level, idx, hash FROM nodes WHERE publisher = ?", (pid,))}
    fix = [(pid, level, idx, h) for level, idx, h in stored_nodes(made)
           if stored.get((level, idx)) != h]
    conn.executemany("INSERT OR REPLACE INTO nodes (publisher, level, idx, hash) "
                     "VALUES (?, ?, ?, ?)", fix)
    return len(fix)
