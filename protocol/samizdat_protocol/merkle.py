"""Per-publisher Merkle trees in the style of RFC 9162 (Certificate Transparency v2), design §2.

The tree is RFC 9162 §2.1.1 with BLAKE2b domain tags in place of the 0x00/0x01 prefixes
(:mod:`.hashing`): leaf = ``hash_leaf(entry)``, node = ``hash_node(left, right)``, the empty
tree's root is ``EMPTY_TREE_ROOT``, and for n > 1, with k the largest power of two below n,
``MTH(D[n]) = hash_node(MTH(D[0:k]), MTH(D[k:n]))``.

Everything here is addressed by *complete* subtrees: ``(level, index)`` names the perfect
subtree over leaves ``[index << level, (index + 1) << level)``. MTH of any prefix is the right
fold of its O(log n) complete subtrees (largest first), so a store that persists complete
subtree hashes (never changing once written) can answer roots and proofs for every past size.

Callers pass leaf *hashes*, never entries. Bad arguments from our own side raise
:class:`LocalError` (``merkle.range``, ``merkle.hash``, ``merkle.frontier``); proofs that do not
verify raise :class:`ProofError` (``proof.inclusion``, ``proof.consistency``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from typing import Protocol

from . import hashing
from .errors import LocalError, ProofError

__all__ = [
    "Frontier",
    "MerkleTree",
    "SubtreeSource",
    "consistency_proof",
    "frontier_positions",
    "inclusion_proof",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

_N = hashing.DIGEST_SIZE
# Same state as hashing.hash_node, kept here so the bulk loops below can hash a 64-byte
# ``left || right`` slice with one update() and no function call per node (design §8 targets).
_NODE_T = hashlib.blake2b(digest_size=_N, person=hashing.NODE)


class SubtreeSource(Protocol):
    """Anything that can give the hash of a complete subtree (a tree in memory, a store)."""

    def subtree_hash(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree over leaves ``[index << level, (index + 1) << level)``.

        Level 0 is the leaf hash itself.
        """
        ...


def _range_error(message: str, **details: int) -> LocalError:
    return LocalError("merkle.range", message, **details)


def _largest_pow2_below(n: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the complete subtrees making up a tree of ``size`` leaves.

    Largest first: one per set bit of ``size``. These are the nodes a :class:`Frontier` holds.
    """
    if size < 0:
        raise _range_error(f"negative tree size {size}", size=size)
    out = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, offset >> level))
            offset += 1 << level
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of complete subtree hashes (largest first) into one MTH (RFC 9162 §2.1.1)."""
    if not hashes:
        return hashing.EMPTY_TREE_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hashing.hash_node(h, acc)
    return acc


def _range_hash(source: SubtreeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range that is a node of the RFC tree.

    Every range the RFC recursion visits starts at a multiple of the smallest power of two
    >= its length, so its own decomposition into complete subtrees is aligned.
    """
    n = end - start
    parts = []
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            parts.append(source.subtree_hash(level, start >> level))
            start += 1 << level
    return _fold(parts)


def root_of(source: SubtreeSource, size: int) -> bytes:
    """MTH of the first ``size`` leaves of ``source`` (RFC 9162 §2.1.1)."""
    if size < 0:
        raise _range_error(f"negative tree size {size}", size=size)
    return _range_hash(source, 0, size)


def inclusion_proof(source: SubtreeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, deepest sibling first."""
    if not 0 <= index < size:
        raise _range_error(f"leaf {index} is not in a tree of {size}", index=index, size=size)
    proof = []
    level = 0
    # Walk up the perfect tree truncated at ``size``; a node with no right sibling (it starts
    # at or past ``size``) is promoted unchanged, which is exactly RFC 9162's uneven split.
    # Only the sibling holding the last leaf can be incomplete.
    while (size - 1) >> level:
        sibling = (index >> level) ^ 1
        end = (sibling + 1) << level
        if end <= size:
            proof.append(source.subtree_hash(level, sibling))
        elif sibling << level < size:
            proof.append(_range_hash(source, sibling << level, size))
        level += 1
    return proof


def consistency_proof(source: SubtreeSource, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty if old_size is 0 or equal)."""
    if not 0 <= old_size <= new_size:
        raise _range_error(
            f"no consistency proof from {old_size} to {new_size}",
            old_size=old_size,
            new_size=new_size,
        )
    if old_size == 0:
        return []
    # SUBPROOF(m, D[start:start+n], b) unrolled: each step appends one MTH *after* the inner
    # subproof, so collect outer-to-inner and reverse at the end.
    m, start, n, whole = old_size, 0, new_size, True
    outer: list[bytes] = []
    while m != n:
        k = _largest_pow2_below(n)
        if m <= k:
            outer.append(_range_hash(source, start + k, start + n))
            n = k
        else:
            outer.append(_range_hash(source, start, start + k))
            start, m, n, whole = start + k, m - k, n - k, False
    inner = [] if whole else [_range_hash(source, start, start + n)]
    return inner + outer[::-1]


def _check_hash(value: bytes, code: str, what: str) -> None:
    if len(value) != _N:
        raise ProofError(code, f"{what} is {len(value)} bytes, not {_N}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`ProofError` (``proof.inclusion``). As in the RFC, the
    proof authenticates the leaf against ``root``; that ``root`` belongs to ``size`` is what
    the signed head asserts.
    """
    code = "proof.inclusion"
    if not 0 <= index < size:
        raise ProofError(code, f"leaf {index} is not in a tree of {size}", index=index, size=size)
    _check_hash(leaf_hash, code, "leaf hash")
    _check_hash(root, code, "root")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if len(p) != _N:
            _check_hash(p, code, "proof element")
        if sn == 0:
            raise ProofError(code, "inclusion proof is too long", index=index, size=size)
        if fn & 1 or fn == sn:
            r = hashing.hash_node(p, r)
            if not fn & 1:
                # Skip levels where our node has no right sibling (promoted unchanged).
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashing.hash_node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(code, "inclusion proof is too short", index=index, size=size)
    if r != root:
        raise ProofError(code, "inclusion proof does not lead to the root", index=index, size=size)


def verify_consistency(
    old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (new_size, new_root) extends (old_size, old_root).

    RFC 9162 §2.1.4.2. Equal sizes need equal roots and an empty proof; old_size 0 needs an
    empty proof and ``old_root == EMPTY_TREE_ROOT`` (every tree extends the empty one).
    Raises :class:`ProofError` (``proof.consistency``).
    """
    code = "proof.consistency"
    details = {"old_size": old_size, "new_size": new_size}
    if not 0 <= old_size <= new_size:
        raise ProofError(code, f"size {new_size} cannot extend size {old_size}", **details)
    _check_hash(old_root, code, "old root")
    _check_hash(new_root, code, "new root")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError(code, "consistency proof must be empty here", **details)
        if old_size == 0 and old_root != hashing.EMPTY_TREE_ROOT:
            raise ProofError(code, "old root is not the empty tree's root", **details)
        if old_size == new_size and old_root != new_root:
            raise ProofError(code, "same size, different roots", **details)
        return
    if not proof:
        raise ProofError(code, "consistency proof is empty", **details)
    path = iter(proof)
    if old_size & (old_size - 1) == 0:
        # A power-of-two old tree is a complete subtree of the new one: its root starts the path.
        path = itertools.chain((old_root,), path)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = next(path)
    _check_hash(fr, code, "proof element")
    # Lengths are checked as we go, so a hostile, overlong proof costs O(log n) before failing.
    for c in path:
        _check_hash(c, code, "proof element")
        if sn == 0:
            raise ProofError(code, "consistency proof is too long", **details)
        if fn & 1 or fn == sn:
            fr = hashing.hash_node(c, fr)
            sr = hashing.hash_node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hashing.hash_node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(code, "consistency proof is too short", **details)
    if fr != old_root:
        raise ProofError(code, "proof does not lead to the old root", **details)
    if sr != new_root:
        raise ProofError(code, "proof does not lead to the new root", **details)


def _check_leaves(leaf_hashes: Iterable[bytes]) -> list[bytes]:
    leaves = list(leaf_hashes)
    if leaves and set(map(len, leaves)) != {_N}:
        raise LocalError("merkle.hash", f"every leaf hash must be {_N} bytes")
    return leaves


class MerkleTree:
    """An in-memory tree that keeps every complete subtree hash (a :class:`SubtreeSource`).

    ``_levels[l]`` is one bytearray holding the ``size >> l`` complete subtree hashes of level
    ``l`` back to back (32 bytes each): two bytes objects' worth of memory per leaf in total
    and no Python object per node, so a million-leaf tree is 64 MB.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaves)

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its index."""
        index = self._size
        self.extend((leaf_hash,))
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add leaf hashes, computing every subtree that becomes complete, level by level."""
        leaves = _check_leaves(leaf_hashes)
        if not leaves:
            return
        levels = self._levels
        levels[0] += b"".join(leaves)
        self._size += len(leaves)
        size = self._size
        copy = _NODE_T.copy
        level = 1
        while size >> level:
            if level == len(levels):
                levels.append(bytearray())
            below, here = levels[level - 1], levels[level]
            have, want = len(here) // _N, size >> level
            out = []
            # hash_node(left, right) is H_node(left || right): one update over 64 bytes.
            for pos in range(have * 2 * _N, want * 2 * _N, 2 * _N):
                h = copy()
                h.update(below[pos : pos + 2 * _N])
                out.append(h.digest())
            here += b"".join(out)
            level += 1

    def subtree_hash(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or level >= len(self._levels) or index >= self._size >> level:
            raise _range_error(
                f"no complete subtree ({level}, {index}) in a tree of {self._size}",
                level=level,
                index=index,
                size=self._size,
            )
        return bytes(self._levels[level][index * _N : (index + 1) * _N])

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise _range_error(
                f"size {size} is not within the {self._size} leaves held",
                size=size,
                held=self._size,
            )
        return size

    def root(self, size: int | None = None) -> bytes:
        return root_of(self, self._size_or_current(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self, index, self._size_or_current(size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof(self, old_size, self._size_or_current(new_size))


class Frontier:
    """The O(log n) complete subtrees (largest first) that make up a tree of size n: enough to
    append further leaves and compute every later root without the earlier leaves. Used to
    verify a received range of entries against a signed head, and by the store to persist nodes.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self, size: int, stack: list[bytes]) -> None:
        # Private: use empty(), from_source() or from_hashes(), which check the invariant
        # len(stack) == popcount(size).
        self._size = size
        self._stack = stack

    @classmethod
    def empty(cls) -> Frontier:
        return cls(0, [])

    @classmethod
    def from_source(cls, source: SubtreeSource, size: int) -> Frontier:
        return cls(size, [source.subtree_hash(lv, ix) for lv, ix in frontier_positions(size)])

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """Rebuild from persisted hashes (those at :func:`frontier_positions` of ``size``)."""
        if size < 0 or len(hashes) != size.bit_count():
            raise LocalError(
                "merkle.frontier",
                f"a frontier of size {size} has {max(size, 0).bit_count()} hashes,"
                f" not {len(hashes)}",
                size=size,
                count=len(hashes),
            )
        if any(len(h) != _N for h in hashes):
            raise LocalError("merkle.frontier", f"every frontier hash must be {_N} bytes")
        return cls(size, [bytes(h) for h in hashes])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._stack)

    def root(self) -> bytes:
        return _fold(self._stack)

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append leaf hashes; return each complete subtree of level >= 1 that became complete.

        Returned as ``(level, index, hash)`` in completion order, so a store can persist them.
        """
        leaves = _check_leaves(leaf_hashes)
        stack = self._stack
        pop, push = stack.pop, stack.append
        copy = _NODE_T.copy
        made: list[tuple[int, int, bytes]] = []
        report = made.append
        index = self._size
        for h in leaves:
            # A binary counter: each trailing 1 bit of the old size is a complete subtree
            # that now has its right sibling, so they merge into one larger subtree.
            level, i = 0, index
            while i & 1:
                node = copy()
                node.update(pop())
                node.update(h)
                h = node.digest()
                level += 1
                i >>= 1
                report((level, i, h))
            push(h)
            index += 1
        self._size = index
        return made

    def copy(self) -> Frontier:
        return Frontier(self._size, list(self._stack))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._stack == other._stack

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()[:16]}…)"
