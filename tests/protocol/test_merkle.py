"""Laws of samizdat_protocol.merkle against a literal reading of RFC 9162 §2.1.

The reference functions below (``ref_*``) transcribe the RFC's recursive definitions on plain
lists, with no shared code with the module under test. Golden vectors live in
tests/vectors/merkle.json; regenerate them (only on a deliberate wire change) with
``.venv/bin/python -m tests.protocol.test_merkle --write``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_protocol import hashing
from samizdat_protocol.errors import LocalError, ProofError
from samizdat_protocol.hashing import EMPTY_TREE_ROOT, hash_leaf, hash_node
from samizdat_protocol.merkle import (
    Frontier,
    MerkleTree,
    consistency_proof,
    frontier_positions,
    inclusion_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "merkle.json"
MAX = 2048
LEAVES = [hash_leaf(b"leaf %d" % i) for i in range(MAX)]
TREE = MerkleTree(LEAVES)
ROOTS = [TREE.root(n) for n in range(MAX + 1)]


# --- Reference: RFC 9162 §2.1 read literally ----------------------------------------------


def ref_k(n: int) -> int:
    """Largest power of two smaller than n (n > 1), found the slow way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return EMPTY_TREE_ROOT
    if len(d) == 1:
        return d[0]
    k = ref_k(len(d))
    return hash_node(ref_mth(d[:k]), ref_mth(d[k:]))


@functools.cache
def ref_mth_prefix(start: int, end: int) -> bytes:
    """ref_mth(LEAVES[start:end]), memoised so every size up to MAX stays cheap."""
    n = end - start
    if n == 0:
        return EMPTY_TREE_ROOT
    if n == 1:
        return LEAVES[start]
    k = ref_k(n)
    return hash_node(ref_mth_prefix(start, start + k), ref_mth_prefix(start + k, end))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_shape(m: int, n: int) -> tuple[bool, ...]:
    """For each element of PATH(m, D[n]): is the sibling on the right?"""
    if n == 1:
        return ()
    k = ref_k(n)
    if m < k:
        return (*ref_shape(m, k), True)
    return (*ref_shape(m - k, n - k), False)


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_consistency(m: int, d: Sequence[bytes]) -> list[bytes]:
    return [] if m == 0 else ref_subproof(m, d, True)


def flip(value: bytes, pos: int, mask: int) -> bytes:
    out = bytearray(value)
    out[pos % len(out)] ^= mask
    return bytes(out)


def fails_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError as exc:
        assert exc.code == "proof.inclusion"
        return True
    return False


def fails_consistency(
    old: int, old_root: bytes, new: int, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    try:
        verify_consistency(old, old_root, new, new_root, proof)
    except ProofError as exc:
        assert exc.code == "proof.consistency"
        return True
    return False


@st.composite
def size_and_index(draw: st.DrawFn, max_size: int = MAX) -> tuple[int, int]:
    size = draw(st.integers(1, max_size))
    return size, draw(st.integers(0, size - 1))


@st.composite
def old_and_new(draw: st.DrawFn, max_size: int = MAX) -> tuple[int, int]:
    new = draw(st.integers(0, max_size))
    return draw(st.integers(0, new)), new


# --- Roots -----------------------------------------------------------------------------------


def test_roots_match_reference_for_every_size() -> None:
    frontier = Frontier.empty()
    grown = MerkleTree()
    for n in range(MAX + 1):
        expected = ref_mth_prefix(0, n)
        assert ROOTS[n] == expected
        assert root_of(TREE, n) == expected
        assert frontier.root() == expected
        assert grown.root() == expected
        assert grown.size == frontier.size == n
        if n < MAX:
            frontier.extend([LEAVES[n]])
            assert grown.append(LEAVES[n]) == n


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=70))
@example([])
@example([b"\x00" * 32] * 3)
def test_any_leaves_root_is_rfc_mth(leaves: list[bytes]) -> None:
    expected = ref_mth(leaves)
    tree = MerkleTree(leaves)
    frontier = Frontier.empty()
    frontier.extend(leaves)
    assert tree.root() == frontier.root() == expected
    assert tree.size == frontier.size == len(leaves)


@given(st.lists(st.integers(0, 300), max_size=6))  # sums stay within MAX leaves
@example([0, 1, 1, 0, 5])
def test_tree_extend_in_chunks_equals_one_shot(chunks: list[int]) -> None:
    total = sum(chunks)
    tree = MerkleTree()
    done = 0
    for c in chunks:
        tree.extend(LEAVES[done : done + c])
        done += c
    assert tree.size == total
    for level in range(total.bit_length()):
        for index in range(total >> level):
            assert tree.subtree_hash(level, index) == TREE.subtree_hash(level, index)
    assert tree.root() == ROOTS[total]


def test_subtree_hash_is_the_complete_subtree() -> None:
    tree = MerkleTree(LEAVES[:300])
    for level in range(9):
        for index in range(300 >> level):
            lo, hi = index << level, (index + 1) << level
            assert tree.subtree_hash(level, index) == ref_mth_prefix(lo, hi)


# --- Inclusion -------------------------------------------------------------------------------


def test_inclusion_every_size_every_index() -> None:
    # 500,500 proofs; about 4 s here. The shape-exact reference comparison runs on sizes <= 64.
    for size in range(1, 1001):
        root = ROOTS[size]
        for index in range(size):
            verify_inclusion(LEAVES[index], index, size, TREE.inclusion_proof(index, size), root)


def test_inclusion_proofs_equal_rfc_path() -> None:
    for size in range(1, 65):
        for index in range(size):
            assert inclusion_proof(TREE, index, size) == ref_path(index, LEAVES[:size])


def test_inclusion_every_single_byte_change_fails_small_trees() -> None:
    for size in range(1, 18):
        root = ROOTS[size]
        for index in range(size):
            leaf, proof = LEAVES[index], TREE.inclusion_proof(index, size)
            for pos in range(32):
                assert fails_inclusion(flip(leaf, pos, 1), index, size, proof, root)
                assert fails_inclusion(leaf, index, size, proof, flip(root, pos, 0x80))
                for i in range(len(proof)):
                    bad = [*proof[:i], flip(proof[i], pos, 1), *proof[i + 1 :]]
                    assert fails_inclusion(leaf, index, size, bad, root)


@given(size_and_index(), st.integers(0, 10**6), st.integers(0, 31), st.integers(1, 255))
@example((1, 0), 0, 0, 1)
@example((MAX, MAX - 1), 7, 31, 255)
def test_inclusion_tampered_fails(si: tuple[int, int], target: int, pos: int, mask: int) -> None:
    size, index = si
    leaf, root = LEAVES[index], ROOTS[size]
    proof = TREE.inclusion_proof(index, size)
    verify_inclusion(leaf, index, size, proof, root)
    choice = target % (len(proof) + 2)
    if choice == len(proof):
        assert fails_inclusion(flip(leaf, pos, mask), index, size, proof, root)
    elif choice == len(proof) + 1:
        assert fails_inclusion(leaf, index, size, proof, flip(root, pos, mask))
    else:
        proof[choice] = flip(proof[choice], pos, mask)
        assert fails_inclusion(leaf, index, size, proof, root)


@given(size_and_index(), size_and_index())
@example((4, 0), (3, 0))  # same shape: a root of 4 with size 3 is the head's lie to catch
@example((5, 4), (3, 2))  # same shape, other index and size: passes
def test_inclusion_only_the_honest_proof_passes(a: tuple[int, int], b: tuple[int, int]) -> None:
    """Against the real root of (index', size'), the proof for (index, size) passes only if
    it is also the proof for (index', size'): valid proofs are unique."""
    (size, index), (size2, index2) = a, b
    proof = TREE.inclusion_proof(index, size)
    passes = not fails_inclusion(LEAVES[index2], index2, size2, proof, ROOTS[size2])
    assert passes == (proof == TREE.inclusion_proof(index2, size2))
    # Same leaf, proof and root but another claimed position: it passes exactly when the RFC
    # path shape is the same (RFC 9162 proofs bind the leaf to the root, not to a size; the
    # signed head binds the root to its size, and within one size each shape is one index).
    passes = not fails_inclusion(LEAVES[index], index2, size2, proof, ROOTS[size])
    assert passes == (ref_shape(index2, size2) == ref_shape(index, size))


def test_inclusion_wrong_index_or_size_small_trees() -> None:
    for size in range(1, 33):
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            for other in range(size):
                if other != index:
                    assert fails_inclusion(LEAVES[index], other, size, proof, ROOTS[size])
            for size2 in range(index + 1, 40):
                if size2 != size:
                    ok = not fails_inclusion(LEAVES[index], index, size2, proof, ROOTS[size])
                    assert ok == (ref_shape(index, size2) == ref_shape(index, size))


def test_inclusion_malformed_inputs() -> None:
    leaf, root = LEAVES[5], ROOTS[9]
    proof = TREE.inclusion_proof(5, 9)
    assert fails_inclusion(leaf, 9, 9, proof, root)  # index >= size
    assert fails_inclusion(leaf, -1, 9, proof, root)
    assert fails_inclusion(leaf, 0, 0, [], EMPTY_TREE_ROOT)
    assert fails_inclusion(leaf, 5, 9, proof[:-1], root)  # too short
    assert fails_inclusion(leaf, 5, 9, [*proof, proof[0]], root)  # too long
    assert fails_inclusion(leaf[:31], 5, 9, proof, root)
    assert fails_inclusion(leaf, 5, 9, proof, root + b"\x00")
    assert fails_inclusion(leaf, 5, 9, [proof[0][:16], *proof[1:]], root)
    verify_inclusion(LEAVES[0], 0, 1, [], ROOTS[1])
    assert fails_inclusion(LEAVES[0], 0, 1, [LEAVES[0]], ROOTS[1])


# --- Consistency -----------------------------------------------------------------------------


def test_consistency_every_pair_up_to_200() -> None:
    for new in range(201):
        for old in range(new + 1):
            proof = TREE.consistency_proof(old, new)
            verify_consistency(old, ROOTS[old], new, ROOTS[new], proof)


def test_consistency_proofs_equal_rfc_subproof() -> None:
    for new in range(1, 65):
        for old in range(new + 1):
            assert consistency_proof(TREE, old, new) == ref_consistency(old, LEAVES[:new])


@given(old_and_new())
@example((1, MAX))
@example((MAX - 1, MAX))
@example((1023, 1025))
def test_consistency_sampled(pair: tuple[int, int]) -> None:
    old, new = pair
    verify_consistency(old, ROOTS[old], new, ROOTS[new], TREE.consistency_proof(old, new))


def test_consistency_every_single_byte_change_fails_small_trees() -> None:
    for new in range(1, 18):
        for old in range(1, new):
            proof = TREE.consistency_proof(old, new)
            args = (old, ROOTS[old], new, ROOTS[new])
            for pos in range(32):
                assert fails_consistency(old, flip(ROOTS[old], pos, 1), new, ROOTS[new], proof)
                assert fails_consistency(old, ROOTS[old], new, flip(ROOTS[new], pos, 1), proof)
                for i in range(len(proof)):
                    bad = [*proof[:i], flip(proof[i], pos, 0x40), *proof[i + 1 :]]
                    assert fails_consistency(*args, bad)


@given(old_and_new(), st.integers(0, 10**6), st.integers(0, 31), st.integers(1, 255))
@example((1, 2), 0, 0, 1)
@example((6, 7), 2, 5, 128)
@example((0, 0), 1, 0, 1)  # shrunk: two empty trees, one root changed, is a fork, not growth
def test_consistency_tampered_fails(
    pair: tuple[int, int], target: int, pos: int, mask: int
) -> None:
    old, new = pair
    proof = TREE.consistency_proof(old, new)
    choice = target % (len(proof) + 2)
    if choice == len(proof):
        # A changed old root is caught unless old is 0... where it must be the empty root.
        assert fails_consistency(old, flip(ROOTS[old], pos, mask), new, ROOTS[new], proof)
    elif choice == len(proof) + 1:
        if old == 0 < new:
            # Every tree extends the empty one: nothing about the new root can be checked.
            verify_consistency(0, EMPTY_TREE_ROOT, new, flip(ROOTS[new], pos, mask), proof)
        else:
            assert fails_consistency(old, ROOTS[old], new, flip(ROOTS[new], pos, mask), proof)
    else:
        proof[choice] = flip(proof[choice], pos, mask)
        assert fails_consistency(old, ROOTS[old], new, ROOTS[new], proof)


@given(old_and_new(), old_and_new())
@example((3, 4), (1, 4))
@example((4, 8), (4, 6))
def test_consistency_only_the_honest_proof_passes(a: tuple[int, int], b: tuple[int, int]) -> None:
    """With the real roots of (old', new'), the proof for (old, new) passes exactly when it
    equals the proof for (old', new') (e.g. both empty): a wrong size is caught."""
    (old, new), (old2, new2) = a, b
    proof = TREE.consistency_proof(old, new)
    passes = not fails_consistency(old2, ROOTS[old2], new2, ROOTS[new2], proof)
    assert passes == (proof == TREE.consistency_proof(old2, new2))


def test_consistency_wrong_sizes_small_trees() -> None:
    for new in range(1, 33):
        for old in range(1, new):
            proof = TREE.consistency_proof(old, new)
            for old2 in range(1, new):
                if old2 != old:
                    assert fails_consistency(old2, ROOTS[old2], new, ROOTS[new], proof)
            for new2 in range(old + 1, 40):
                if new2 != new:
                    assert fails_consistency(old, ROOTS[old], new2, ROOTS[new2], proof)


def test_consistency_edge_cases() -> None:
    r5, r9 = ROOTS[5], ROOTS[9]
    verify_consistency(5, r5, 5, r5, [])
    assert fails_consistency(5, r5, 5, r9, [])  # same size, two roots: a fork
    assert fails_consistency(5, r5, 5, r5, [r5])
    verify_consistency(0, EMPTY_TREE_ROOT, 9, r9, [])
    verify_consistency(0, EMPTY_TREE_ROOT, 0, EMPTY_TREE_ROOT, [])
    assert fails_consistency(0, r5, 9, r9, [])  # a size-0 head must carry the empty root
    assert fails_consistency(0, EMPTY_TREE_ROOT, 9, r9, [r9])
    assert fails_consistency(9, r9, 5, r5, TREE.consistency_proof(5, 9))  # shrinking
    assert fails_consistency(-1, r5, 9, r9, [])
    assert fails_consistency(5, r5, 9, r9, [])  # a proof is required
    proof = TREE.consistency_proof(5, 9)
    assert fails_consistency(5, r5, 9, r9, proof[:-1])
    assert fails_consistency(5, r5, 9, r9, [*proof, proof[0]])
    assert fails_consistency(5, r5[:31], 9, r9, proof)
    assert fails_consistency(5, r5, 9, r9, [proof[0] + b"\x00", *proof[1:]])


# --- Frontier --------------------------------------------------------------------------------


def expected_completions(old: int, new: int) -> list[tuple[int, int]]:
    """Complete subtrees of level >= 1 whose last leaf lies in [old, new), in completion order."""
    out = []
    for leaf in range(old, new):
        level = 1
        while (leaf + 1) % (1 << level) == 0:
            out.append((level, ((leaf + 1) >> level) - 1))
            level += 1
    return out


@given(st.lists(st.integers(0, 200), max_size=10))
@example([1, 1, 1, 1])
@example([0, 7, 1, 8])
def test_frontier_reports_every_completed_subtree(chunks: list[int]) -> None:
    frontier = Frontier.empty()
    done = 0
    for c in chunks:
        made = frontier.extend(LEAVES[done : done + c])
        assert [(lv, ix) for lv, ix, _ in made] == expected_completions(done, done + c)
        for level, index, h in made:
            assert h == TREE.subtree_hash(level, index)
        done += c
        assert frontier.size == done
        assert frontier.root() == ROOTS[done]
        assert frontier.hashes == tuple(TREE.subtree_hash(*p) for p in frontier_positions(done))


@given(old_and_new())
@example((0, 0))
@example((1023, 1024))
def test_frontier_from_source_then_extend_equals_one_shot(pair: tuple[int, int]) -> None:
    old, new = pair
    resumed = Frontier.from_source(TREE, old)
    made = resumed.extend(LEAVES[old:new])
    whole = Frontier.empty()
    whole_made = whole.extend(LEAVES[:new])
    assert resumed == whole == Frontier.from_source(TREE, new)
    assert resumed.root() == ROOTS[new]
    assert made == [t for t in whole_made if (t[1] + 1) << t[0] > old]
    assert Frontier.from_hashes(new, whole.hashes) == whole


class NodeTable:
    """A SubtreeSource built the way a store builds one: leaves plus the nodes that
    Frontier.extend reported, in a plain dict keyed by (level, index)."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.frontier = Frontier.empty()

    def append(self, leaves: Sequence[bytes]) -> None:
        start = self.frontier.size
        for i, h in enumerate(leaves):
            self.nodes[0, start + i] = h
        for level, index, h in self.frontier.extend(leaves):
            self.nodes[level, index] = h

    def subtree_hash(self, level: int, index: int) -> bytes:
        return self.nodes[level, index]


def test_store_shaped_source_gives_same_roots_and_proofs() -> None:
    table = NodeTable()
    for lo, hi in [(0, 5), (5, 6), (6, 64), (64, 300)]:
        table.append(LEAVES[lo:hi])
    assert len(table.nodes) == sum(300 >> lv for lv in range(9))
    for size in range(301):
        assert root_of(table, size) == ROOTS[size]
    for size in (1, 2, 3, 7, 64, 65, 299, 300):
        for index in range(0, size, 7):
            assert inclusion_proof(table, index, size) == TREE.inclusion_proof(index, size)
        for old in range(0, size + 1, 5):
            assert consistency_proof(table, old, size) == TREE.consistency_proof(old, size)


def test_frontier_copy_is_independent() -> None:
    a = Frontier.empty()
    a.extend(LEAVES[:5])
    b = a.copy()
    b.extend(LEAVES[5:6])
    assert (a.size, a.root()) == (5, ROOTS[5])
    assert (b.size, b.root()) == (6, ROOTS[6])
    assert a != b
    assert Frontier.empty().root() == EMPTY_TREE_ROOT
    assert Frontier.empty().hashes == ()


# --- Misuse: LocalError ----------------------------------------------------------------------


def local_code(fn: Any, *args: Any) -> str:
    with pytest.raises(LocalError) as info:
        fn(*args)
    return info.value.code


def test_impossible_arguments_raise_merkle_range() -> None:
    small = MerkleTree(LEAVES[:5])
    assert local_code(small.inclusion_proof, 5) == "merkle.range"
    assert local_code(small.inclusion_proof, -1) == "merkle.range"
    assert local_code(small.inclusion_proof, 0, 6) == "merkle.range"
    assert local_code(small.consistency_proof, 4, 3) == "merkle.range"
    assert local_code(small.consistency_proof, 0, 6) == "merkle.range"
    assert local_code(small.root, 6) == "merkle.range"
    assert local_code(small.root, -1) == "merkle.range"
    assert local_code(small.subtree_hash, 1, 2) == "merkle.range"  # leaf 4 has no sibling yet
    assert local_code(small.subtree_hash, 3, 0) == "merkle.range"
    assert local_code(small.subtree_hash, 0, 5) == "merkle.range"
    assert local_code(small.subtree_hash, -1, 0) == "merkle.range"
    assert local_code(inclusion_proof, small, 0, 0) == "merkle.range"
    assert local_code(consistency_proof, small, -1, 3) == "merkle.range"
    assert local_code(root_of, small, -2) == "merkle.range"
    assert local_code(frontier_positions, -1) == "merkle.range"
    assert local_code(Frontier.from_source, small, 6) == "merkle.range"


def test_bad_hashes_raise_and_change_nothing() -> None:
    tree = MerkleTree(LEAVES[:3])
    frontier = Frontier.from_source(tree, 3)
    for bad in ([b"\x00" * 31], [LEAVES[3], b"\x00" * 33]):
        assert local_code(tree.extend, bad) == "merkle.hash"
        assert local_code(frontier.extend, bad) == "merkle.hash"
    assert local_code(tree.append, b"") == "merkle.hash"
    assert (tree.size, tree.root()) == (3, ROOTS[3])
    assert (frontier.size, frontier.root()) == (3, ROOTS[3])


def test_from_hashes_validates() -> None:
    good = Frontier.from_source(TREE, 11)
    assert Frontier.from_hashes(11, list(good.hashes)) == good
    assert local_code(Frontier.from_hashes, 11, good.hashes[:2]) == "merkle.frontier"
    assert local_code(Frontier.from_hashes, 12, good.hashes) == "merkle.frontier"
    assert local_code(Frontier.from_hashes, -1, ()) == "merkle.frontier"
    bad = (good.hashes[0][:31], *good.hashes[1:])
    assert local_code(Frontier.from_hashes, 11, bad) == "merkle.frontier"


def test_positions_are_the_set_bits_largest_first() -> None:
    assert frontier_positions(0) == []
    assert frontier_positions(1) == [(0, 0)]
    assert frontier_positions(11) == [(3, 0), (1, 4), (0, 10)]
    assert frontier_positions(1024) == [(10, 0)]


# --- Golden vectors (tests/vectors/merkle.json) ----------------------------------------------

VECTOR_SIZES = [0, 1, 2, 3, 7, 8, 1000]
VECTOR_INCLUSION = [(0, 1), (0, 2), (1, 2), (2, 3), (0, 7), (6, 7), (3, 8), (0, 1000), (999, 1000)]
VECTOR_INCLUSION += [(500, 1000)]
VECTOR_CONSISTENCY = [(0, 7), (7, 7), (1, 2), (1, 3), (2, 3), (3, 7), (4, 8), (7, 8), (1, 1000)]
VECTOR_CONSISTENCY += [(7, 1000), (8, 1000), (999, 1000)]


def build_vectors() -> dict[str, Any]:
    tree = MerkleTree(LEAVES[:1000])
    return {
        "description": (
            "RFC 9162 §2.1 Merkle trees with BLAKE2b-256 domain tags: leaf i is"
            " hash_leaf(b'leaf %d' % i) (person b'samizdat/leaf'); node = BLAKE2b-256 of"
            " left||right with person b'samizdat/node'; empty root = BLAKE2b-256(b'') with"
            " person b'samizdat/node'. Proofs are lists of hex hashes in RFC order."
        ),
        "leaf_hashes": [h.hex() for h in LEAVES[:8]],
        "roots": [{"size": n, "root": tree.root(n).hex()} for n in VECTOR_SIZES],
        "inclusion": [
            {
                "index": i,
                "size": n,
                "leaf_hash": LEAVES[i].hex(),
                "root": tree.root(n).hex(),
                "proof": [h.hex() for h in tree.inclusion_proof(i, n)],
            }
            for i, n in VECTOR_INCLUSION
        ],
        "consistency": [
            {
                "old_size": m,
                "new_size": n,
                "old_root": tree.root(m).hex(),
                "new_root": tree.root(n).hex(),
                "proof": [h.hex() for h in tree.consistency_proof(m, n)],
            }
            for m, n in VECTOR_CONSISTENCY
        ],
    }


def write_vectors() -> None:
    VECTORS.write_text(json.dumps(build_vectors(), indent=1, ensure_ascii=False) + "\n")


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


def test_vectors_match_computation() -> None:
    assert load_vectors() == build_vectors()


def test_stored_vectors_verify_on_their_own() -> None:
    """The other direction: the stored bytes alone verify, and agree with the reference."""
    data = load_vectors()
    for i, h in enumerate(data["leaf_hashes"]):
        assert bytes.fromhex(h) == hashing.tagged_hash(hashing.LEAF, b"leaf %d" % i)
    for row in data["roots"]:
        assert bytes.fromhex(row["root"]) == ref_mth(LEAVES[: row["size"]])
    for row in data["inclusion"]:
        proof = [bytes.fromhex(h) for h in row["proof"]]
        leaf, root = bytes.fromhex(row["leaf_hash"]), bytes.fromhex(row["root"])
        verify_inclusion(leaf, row["index"], row["size"], proof, root)
        assert fails_inclusion(flip(leaf, 0, 1), row["index"], row["size"], proof, root)
    for row in data["consistency"]:
        proof = [bytes.fromhex(h) for h in row["proof"]]
        old_root, new_root = bytes.fromhex(row["old_root"]), bytes.fromhex(row["new_root"])
        verify_consistency(row["old_size"], old_root, row["new_size"], new_root, proof)
        if row["old_size"] not in (0, row["new_size"]):
            bad = flip(new_root, 31, 1)
            assert fails_consistency(row["old_size"], old_root, row["new_size"], bad, proof)


# --- Performance (opt-in) --------------------------------------------------------------------


@pytest.mark.soak
def test_frontier_and_tree_agree_on_a_million_leaves() -> None:
    """Scale check (speed is measured by `make bench`, not asserted here)."""
    leaves = hashing.hash_leaves(b"leaf %d" % i for i in range(1_000_000))
    frontier = Frontier.empty()
    frontier.extend(leaves[:333_333])
    frontier.extend(leaves[333_333:])
    assert frontier.root() == MerkleTree(leaves).root()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_vectors()
        print(f"wrote {VECTORS}")
    else:
        print("usage: python -m tests.protocol.test_merkle --write")
