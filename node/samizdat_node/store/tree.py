"""Merkle subtrees of a publisher's log, served from the store (design §2, RFC 9162 §2.1).

:class:`StoredTree` implements :class:`samizdat_protocol.merkle.SubtreeSource` over the
``entries`` (level 0: leaf hashes) and ``nodes`` (levels >= :data:`NODE_MIN_LEVEL`) tables, so
roots, inclusion and consistency proofs for any size up to the held length cost O(log n) point
reads and never a rebuild. Levels 1-3 are not stored: such a subtree is folded from its at most 8
leaves in one range read, which costs less than storing a row for almost every entry did (the
``nodes`` inserts were a tenth of applying a sync chunk; design §8 targets).

:class:`OverlayTree` answers for a log that agrees with ours up to ``start`` and then
continues with leaves held in memory: the other branch of a fork, whose prefix root and
consistency proof an equivocation proof needs (heads.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from samizdat_protocol.errors import LocalError
from samizdat_protocol.hashing import hash_node
from samizdat_protocol.merkle import Frontier, SubtreeSource

from .errors import StoreError

__all__ = ["NODE_MIN_LEVEL", "OverlayTree", "StoredTree", "stored_nodes"]

NODE_MIN_LEVEL = 4  # the lowest level of the ``nodes`` table (migration 0006)


def stored_nodes(made: Iterable[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Of computed subtrees ``(level, index, hash)``, the ones the ``nodes`` table holds."""
    return [node for node in made if node[0] >= NODE_MIN_LEVEL]


class StoredTree:
    """The complete subtrees of one publisher's log as held (``size`` leaves)."""

    __slots__ = ("_conn", "_publisher", "size")

    def __init__(self, conn: sqlite3.Connection, publisher_id: int, size: int) -> None:
        self._conn = conn
        self._publisher = publisher_id
        self.size = size

    def subtree_hash(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or (index + 1) << level > self.size:
            raise LocalError("merkle.range", f"no complete subtree ({level}, {index}) in a "
                             f"log of {self.size}", level=level, index=index, size=self.size)
        if level == 0:
            row = self._conn.execute("SELECT leaf FROM entries WHERE publisher = ? AND idx = ?",
                                     (self._publisher, index)).fetchone()
        elif level < NODE_MIN_LEVEL:
            return _fold(self.leaves(index << level, (index + 1) << level))
        else:
            row = self._conn.execute(
                "SELECT hash FROM nodes WHERE publisher = ? AND level = ? AND idx = ?",
                (self._publisher, level, index)).fetchone()
        if row is None:
            raise StoreError("store.missing_node", f"the store lacks subtree ({level}, {index}) "
                             "of a log it holds; run verify", level=level, index=index)
        value: bytes = row[0]
        return value

    def frontier(self, size: int | None = None) -> Frontier:
        return Frontier.from_source(self, self.size if size is None else size)

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Stored leaf hashes of positions ``start .. end - 1``."""
        rows = self._conn.execute(
            "SELECT leaf FROM entries WHERE publisher = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (self._publisher, start, end)).fetchall()
        if len(rows) != end - start:
            raise StoreError("store.missing_entry", f"the store lacks entries in {start}..{end}",
                             start=start, end=end)
        return [row[0] for row in rows]


def _fold(hashes: list[bytes]) -> bytes:
    """The root of a complete subtree (a power of two of leaves), RFC 9162 §2.1.1."""
    while len(hashes) > 1:
        hashes = [hash_node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


class OverlayTree:
    """A log equal to ``base`` below ``start``, continuing with ``leaves`` from ``start`` on."""

    __slots__ = ("_base", "_leaves", "_start", "size")

    def __init__(self, base: SubtreeSource, start: int, leaves: Sequence[bytes]) -> None:
        self._base = base
        self._start = start
        self._leaves = leaves
        self.size = start + len(leaves)

    def subtree_hash(self, level: int, index: int) -> bytes:
        lo, hi = index << level, (index + 1) << level
        if level < 0 or index < 0 or hi > self.size:
            raise LocalError("merkle.range", f"no complete subtree ({level}, {index})")
        if hi <= self._start:
            return self._base.subtree_hash(level, index)
        if level == 0:
            return self._leaves[lo - self._start]
        return hash_node(self.subtree_hash(level - 1, 2 * index),
                         self.subtree_hash(level - 1, 2 * index + 1))
