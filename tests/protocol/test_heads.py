"""Signed heads, extension checks and equivocation proofs (design §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol.errors import ProofError, RemoteError, SignatureError
from samizdat_protocol.hashing import hash_leaf
from samizdat_protocol.heads import (
    EquivocationProof,
    SignedHead,
    check_extends,
    find_equivocation,
    sign_head,
)
from samizdat_protocol.merkle import MerkleTree
from samizdat_protocol.signing import SigningKey

KEY = SigningKey.from_seed(b"\x11" * 32)
OTHER = SigningKey.from_seed(b"\x12" * 32)
DATASET = b"\xdd" * 32


def tree_of(tag: bytes, n: int) -> MerkleTree:
    return MerkleTree(hash_leaf(tag + b"%d" % i) for i in range(n))


def head_of(tree: MerkleTree, size: int, key: SigningKey = KEY, ts: int = 1) -> SignedHead:
    return sign_head(key, DATASET, size, tree.root(size), ts)


@given(st.integers(0, 60), st.integers(0, 2**53))
def test_round_trip_and_verify(size: int, ts: int) -> None:
    head = head_of(tree_of(b"a", size), size, ts=ts)
    again = SignedHead.from_bytes(head.to_bytes())
    assert again == head and again.head_id == head.head_id
    again.verify(DATASET)


@given(st.integers(1, 40), st.data())
def test_any_byte_change_to_a_head_detected(size: int, data: st.DataObject) -> None:
    head = head_of(tree_of(b"a", size), size)
    raw = bytearray(head.to_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        SignedHead.from_bytes(bytes(raw)).verify(DATASET)
    except RemoteError:
        return
    raise AssertionError("tampered head verified")


def test_head_for_other_dataset_rejected() -> None:
    head = head_of(tree_of(b"a", 3), 3)
    with pytest.raises(ProofError):
        head.verify(b"\x00" * 32)


def test_substituted_publisher_fails_signature() -> None:
    head = head_of(tree_of(b"a", 3), 3)
    forged = SignedHead(head.dataset_id, OTHER.public, head.length, head.root, head.timestamp,
                        head.signature)
    with pytest.raises(SignatureError):
        forged.verify()


@given(st.integers(0, 50), st.integers(0, 50))
def test_check_extends(old: int, extra: int) -> None:
    tree = tree_of(b"a", old + extra)
    a, b = head_of(tree, old), head_of(tree, old + extra)
    check_extends(a, b, tree.consistency_proof(old, old + extra))
    if extra:
        with pytest.raises(ProofError):
            check_extends(b, a, [])


@given(st.integers(1, 40), st.integers(0, 40), st.integers(0, 39))
def test_fork_yields_transferable_proof(short: int, extra: int, fork_at: int) -> None:
    """A publisher that signs two histories diverging at ``fork_at`` is caught."""
    fork_at = min(fork_at, short - 1)
    honest = tree_of(b"a", short)
    forked_leaves = [hash_leaf(b"a%d" % i) for i in range(fork_at)]
    forked_leaves += [hash_leaf(b"b%d" % i) for i in range(fork_at, short + extra)]
    forked = MerkleTree(forked_leaves)
    h_short = head_of(honest, short)
    h_long = head_of(forked, short + extra, ts=2)
    prefix = forked.root(short)
    proof_hashes = forked.consistency_proof(short, short + extra) if extra else []
    proof = find_equivocation(h_short, h_long, prefix if extra else None, proof_hashes)
    assert proof is not None
    decoded = EquivocationProof.from_bytes(proof.to_bytes())
    decoded.verify(DATASET)
    assert decoded.publisher == KEY.public


@given(st.integers(0, 40), st.integers(0, 40))
def test_consistent_heads_are_never_an_equivocation(old: int, extra: int) -> None:
    tree = tree_of(b"a", old + extra)
    a, b = head_of(tree, old), head_of(tree, old + extra, ts=9)
    prefix = tree.root(old)
    assert find_equivocation(a, b, prefix, tree.consistency_proof(old, old + extra)) is None
    # a lying "prefix root" cannot manufacture a proof either
    assert find_equivocation(a, b, b"\x00" * 32, tree.consistency_proof(old, old + extra)) is None


def test_equivocation_needs_both_signatures_valid() -> None:
    h1 = head_of(tree_of(b"a", 3), 3)
    h2 = head_of(tree_of(b"b", 3), 3)
    bad = SignedHead(h2.dataset_id, h2.publisher, h2.length, h2.root, h2.timestamp, b"\x00" * 64)
    assert find_equivocation(h1, h2) is not None
    assert find_equivocation(h1, bad) is None
    other = sign_head(OTHER, DATASET, 3, tree_of(b"b", 3).root(), 1)
    with pytest.raises(RemoteError):
        EquivocationProof(h1, other).verify()
