"""Audit of the whole store: re-hash everything, find exactly what is damaged (design §4.3).

For every publisher the stored head must decode, be signed by the publisher for this dataset,
and agree with its row; the entries must be exactly ``0 .. length - 1``; and the tree rebuilt
from the re-hashed headers must give the signed root. Per entry:

* ``header``  the header bytes no longer hash to the leaf the signed tree commits to (refetch);
* ``leaf``    the stored leaf hash is wrong but the header is right (rewrite it locally);
* ``entry``   header and leaf disagree and neither is included under the signed root;
* ``payload`` the payload bytes do not hash to the payload hash inside the header (refetch);
* ``index``   a column derived from the header (kind, record id, payload hash) disagrees;
* ``missing`` no row at that position;
* ``node``    a stored subtree hash (level >= 1) differs from the one rebuilt from the leaves;
* ``head``    the head is unreadable, badly signed, or not the root of the entries.

When header and leaf disagree the stored subtrees decide which is right: the one whose
inclusion proof (built from stored nodes) leads to the signed root. The rest of the rebuild then
uses the right leaf, so one damaged byte is reported once, not along its whole Merkle path.

Rows are streamed in blocks of :data:`BLOCK` leaves (bounded memory). A block's subtrees are
independent of other blocks, so blocks can be audited by several processes (``workers``); the
parent folds block roots into the upper levels and the root (RFC 9162 §2.1.1).
"""

from __future__ import annotations

import hashlib
import operator
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from samizdat_protocol import hashing
from samizdat_protocol.errors import ProofError, SamizdatError
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.merkle import frontier_positions, inclusion_proof, verify_inclusion

from .migrations import KIND_ERASE, KIND_PUT, KIND_RETRACT
from .tree import NODE_MIN_LEVEL, StoredTree, stored_nodes

__all__ = ["BLOCK", "BLOCK_LEVEL", "AuditReport", "BlockResult", "Damage", "audit_block",
           "check_head", "compare_nodes"]

BLOCK_LEVEL = 16
BLOCK = 1 << BLOCK_LEVEL

_LEAF_T = hashlib.blake2b(digest_size=32, person=hashing.LEAF)
_PAYLOAD_T = hashlib.blake2b(digest_size=32, person=hashing.PAYLOAD)
_NODE_T = hashlib.blake2b(digest_size=32, person=hashing.NODE)
# msgpack of the header keys as entries.py encodes them: fixstr key, then bin8 of 32 bytes.
_PAYLOAD_KEY = b"\xa7payload\xc4\x20"
_TARGET_KEY = b"\xa6target\xc4\x20"
_KIND_TAGS = {KIND_PUT: b"\xa4kind\xa3put", KIND_RETRACT: b"\xa4kind\xa7retract",
              KIND_ERASE: b"\xa4kind\xa5erase"}


@dataclass(frozen=True, slots=True)
class Damage:
    publisher: bytes
    part: str
    index: int  # log index (for a node: its index within its level)
    level: int = 0
    detail: str = ""


@dataclass
class AuditReport:
    entries: int = 0
    payloads: int = 0
    nodes: int = 0
    publishers: int = 0
    damage: list[Damage] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.damage


@dataclass
class BlockResult:
    """What one block of leaves yields: its subtree hashes and its damage."""

    start: int
    stack: list[bytes]  # the block's frontier hashes, largest first
    unknown: list[int] = field(default_factory=list)  # leaves neither held nor proven
    entries: int = 0
    payloads: int = 0
    nodes: int = 0
    damage: list[Damage] = field(default_factory=list)


def _key_in(header: bytes, tag: bytes) -> bytes | None:
    pos = header.find(tag)
    return header[pos + len(tag): pos + len(tag) + 32] if pos >= 0 else None


_Row = tuple[int, bytes, bytes, int, bytes, bytes | None, bytes | None]
_CHUNK = 4096


def _chunks(conn: sqlite3.Connection, pid: int, start: int, end: int) -> Iterator[list[_Row]]:
    cursor = conn.execute(
        "SELECT idx, header, leaf, kind, CAST(record_id AS BLOB), payload_hash, payload "
        "FROM entries WHERE publisher = ? AND idx >= ? AND idx < ? ORDER BY idx",
        (pid, start, end))
    while rows := cursor.fetchmany(_CHUNK):
        yield rows


def _fast_chunk(rows: list[_Row], first: int) -> tuple[list[bytes], int] | None:
    """Check a run of rows column by column with C-level loops; None if anything is off.

    The common case, an intact store, costs a few passes over each column; the first sign of
    trouble sends the rows through :func:`_slow_chunk`, which names what is wrong.
    """
    idxs, headers, leaves, kinds, rids, phs, payloads = zip(*rows, strict=True)
    if idxs != tuple(range(first, first + len(rows))):
        return None
    copy = _LEAF_T.copy
    computed = []
    for header in headers:
        h = copy()
        h.update(header)
        computed.append(h.digest())
    if computed != list(leaves):
        return None
    # Derived columns: the payload hash (or erase target), the record id and the kind
    # column must appear in the header bytes they were taken from.
    tags = list(map(_KIND_TAGS.get, kinds))
    nulls = None in phs  # only a retract has no payload hash (or erase target)
    keys = [ph if ph is not None else b"" for ph in phs] if nulls else phs
    if (None in tags or not all(map(operator.contains, headers, tags))
            or not all(map(operator.contains, headers, rids))
            or not all(map(operator.contains, headers, keys))
            or (nulls and any(ph is None for ph, kind in zip(phs, kinds, strict=True)
                              if kind != 1))):
        return None
    pay = _PAYLOAD_T.copy
    if None in payloads:  # erased or not held: only the payloads held are hashed
        held = [(p, ph) for p, ph in zip(payloads, phs, strict=True) if p is not None]
        payloads, phs = tuple(p for p, _ in held), tuple(ph for _, ph in held)
    hashed = []
    for payload in payloads:
        h = pay()
        h.update(payload)
        hashed.append(h.digest())
    if tuple(hashed) != phs:
        return None
    return computed, len(hashed)


def _slow_chunk(conn: sqlite3.Connection, pid: int, key: bytes, rows: list[_Row], expect: int,
                head: SignedHead | None, out: BlockResult, leaves: list[bytes]) -> int:
    """Row by row: name every damaged entry, payload or column; return the next index."""
    damage = out.damage
    keep = leaves.append
    for idx, header, leaf, kind, rid, ph, payload in rows:
        expect = _gap(key, expect, idx, out, leaves)
        expect += 1
        h = _LEAF_T.copy()
        h.update(header)
        computed = h.digest()
        if computed != leaf:
            proven = _which_leaf(conn, pid, key, idx, leaf, computed, head, damage)
            if proven is None:
                out.unknown.append(idx)
            keep(proven or computed)
            continue
        keep(computed)
        if kind in (KIND_PUT, KIND_ERASE):
            tag = _PAYLOAD_KEY if kind == KIND_PUT else _TARGET_KEY
            true_key = ph if ph is not None and tag + ph in header else _key_in(header, tag)
        else:
            true_key = None
        if true_key != ph or rid not in header or _KIND_TAGS.get(kind, b"\xff") not in header:
            damage.append(Damage(key, "index", idx, 0, "kind, record id or payload hash column "
                                 "disagrees with the header"))
        if payload is not None:
            out.payloads += 1
            p = _PAYLOAD_T.copy()
            p.update(payload)
            if p.digest() != true_key:
                damage.append(Damage(key, "payload", idx, 0, "payload does not match its hash"))
    return expect


def _gap(key: bytes, expect: int, idx: int, out: BlockResult, leaves: list[bytes]) -> int:
    """Rows ``expect .. idx - 1`` are missing: their leaves are unknown."""
    while expect < idx:
        out.damage.append(Damage(key, "missing", expect, 0, "no entry row"))
        out.unknown.append(expect)
        leaves.append(b"\0" * 32)
        expect += 1
    return expect


def audit_block(conn: sqlite3.Connection, pid: int, key: bytes, start: int, end: int,
                head: SignedHead | None) -> BlockResult:
    """Audit leaves ``start .. end - 1`` (``start`` a multiple of the block size)."""
    out = BlockResult(start, [])
    leaves: list[bytes] = []
    expect = start
    for rows in _chunks(conn, pid, start, end):
        fast = _fast_chunk(rows, expect)
        if fast is None:
            expect = _slow_chunk(conn, pid, key, rows, expect, head, out, leaves)
        else:
            leaves.extend(fast[0])
            out.payloads += fast[1]
            expect += len(rows)
    _gap(key, expect, end, out, leaves)
    out.entries = end - start
    levels = _levels(leaves)
    out.nodes = _compare_levels(conn, pid, key, start, levels, out.damage, out.unknown)
    out.stack = [levels[level][index * 32:(index + 1) * 32]
                 for level, index in frontier_positions(len(leaves))]
    return out


def _levels(leaves: list[bytes]) -> list[bytes]:
    """Every complete subtree of a block, level by level, each level one bytes object.

    ``levels[l]`` holds the ``n >> l`` hashes of level ``l`` back to back (RFC 9162 §2.1.1:
    a complete subtree is hash_node(left || right) of its two halves).
    """
    copy = _NODE_T.copy
    levels = [b"".join(leaves)]
    while len(levels[-1]) >= 64:
        below = memoryview(levels[-1])
        out = []
        for pos in range(0, len(below) - 63, 64):
            h = copy()
            h.update(below[pos:pos + 64])
            out.append(h.digest())
        levels.append(b"".join(out))
    return levels


def _compare_levels(conn: sqlite3.Connection, pid: int, key: bytes, start: int,
                    levels: list[bytes], damage: list[Damage], unknown: Sequence[int]) -> int:
    """Compare a block's rebuilt subtrees (level >= 1) with the stored ones, level by level."""
    count = 0
    for level in range(NODE_MIN_LEVEL, len(levels)):  # lower levels are not stored (tree.py)
        mine = levels[level]
        first = start >> level
        n = len(mine) // 32
        count += n
        stored = conn.execute(
            "SELECT idx, hash FROM nodes WHERE publisher = ? AND level = ? AND idx >= ? "
            "AND idx < ? ORDER BY idx", (pid, level, first, first + n)).fetchall()
        if len(stored) == n and b"".join(h for _, h in stored) == mine:
            continue
        made = [(level, first + i, mine[i * 32:(i + 1) * 32]) for i in range(n)]
        compare_nodes(conn, pid, key, made, damage, unknown)
    return count


def _which_leaf(conn: sqlite3.Connection, pid: int, key: bytes, idx: int, stored: bytes,
                computed: bytes, head: SignedHead | None, damage: list[Damage]) -> bytes | None:
    """Header and leaf disagree: the one included under the signed root is right (None if
    neither is)."""
    if head is not None and idx < head.length:
        try:
            proof = inclusion_proof(StoredTree(conn, pid, head.length), idx, head.length)
        except SamizdatError:
            proof = None
        for candidate, part in ((stored, "header"), (computed, "leaf")):
            if proof is None:
                break
            try:
                verify_inclusion(candidate, idx, head.length, proof, head.root)
            except ProofError:
                continue
            damage.append(Damage(key, part, idx, 0, "header bytes do not hash to the signed "
                                 "leaf" if part == "header" else "stored leaf hash is wrong"))
            return candidate
    damage.append(Damage(key, "entry", idx, 0, "header and leaf disagree; neither is proven"))
    return None


def compare_nodes(conn: sqlite3.Connection, pid: int, key: bytes,
                  made: list[tuple[int, int, bytes]], damage: list[Damage],
                  unknown: Sequence[int] = ()) -> int:
    """Compare rebuilt subtrees ``(level, index, hash)`` with the stored ones.

    Subtrees over an ``unknown`` leaf (missing, or damaged beyond proof) cannot be rebuilt;
    they are skipped rather than reported, so one lost row is reported once.
    """
    by_level: dict[int, dict[int, bytes]] = {}
    made = stored_nodes(made)
    for level, index, h in made:
        by_level.setdefault(level, {})[index] = h
    for level, hashes in by_level.items():
        for index in {pos >> level for pos in unknown}:
            hashes.pop(index, None)
        if not hashes:
            continue
        stored = dict(conn.execute(
            "SELECT idx, hash FROM nodes WHERE publisher = ? AND level = ? AND idx >= ? "
            "AND idx <= ?", (pid, level, min(hashes), max(hashes))).fetchall())
        if stored == hashes:
            continue
        for index, h in hashes.items():
            got = stored.get(index)
            if got != h:
                damage.append(Damage(key, "node", index, level,
                                     "missing" if got is None else "hash differs"))
    return len(made)


def check_head(conn: sqlite3.Connection, pid: int, key: bytes, dataset_id: bytes,
               damage: list[Damage]) -> SignedHead | None:
    """The publisher's stored head if it is intact and validly signed; else damage and None."""
    row = conn.execute("SELECT length, root, head FROM heads WHERE publisher = ?",
                       (pid,)).fetchone()
    if row is None:
        return None
    length, root, data = row
    try:
        head = SignedHead.from_bytes(data)
        head.verify(dataset_id)
    except SamizdatError as exc:
        damage.append(Damage(key, "head", length, 0, f"stored head is unusable: {exc.code}"))
        return None
    if head.publisher != key or head.length != length or head.root != root:
        damage.append(Damage(key, "head", length, 0, "head row disagrees with its signed bytes"))
        return None
    return head
