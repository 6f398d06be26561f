"""apply_batch: the one entry path. Verified batches are stored whole; anything wrong changes
nothing (compared as a full SQL dump); heads that contradict what we hold become proofs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from samizdat_node.store import Store
from samizdat_protocol.encoding import encode
from samizdat_protocol.entries import Entry
from samizdat_protocol.errors import (
    DecodeError,
    EquivocationError,
    ProofError,
    SchemaError,
    SignatureError,
    UnauthorisedError,
)
from samizdat_protocol.hashing import hash_payload
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.merkle import verify_consistency, verify_inclusion
from samizdat_protocol.signing import SigningKey

from .test_store_support import (
    CHARTER,
    KEYS,
    STRANGER,
    approve_erase,
    body,
    dump,
    log_batch,
    new_store,
    sign_prefix,
    view_table,
)

A, B = KEYS[0], KEYS[1]


def make_log(n: int, key: SigningKey = A, variant: str = "") -> PublisherLog:
    log = PublisherLog(CHARTER.dataset_id, key.public)
    for i in range(n):
        log.put(f"memo:{i}", body(i, variant), 1000 + i)
    return log


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with new_store(tmp_path / "store.sqlite") as s:
        yield s


def test_round_trip_between_stores(tmp_path: Path) -> None:
    log = make_log(30)
    with new_store(tmp_path / "a.sqlite") as a, new_store(tmp_path / "b.sqlite") as b:
        headers, payloads = log_batch(log, 0, 12)
        res = a.apply_batch(A.public, 0, headers, payloads, sign_prefix(log, A, 12))
        assert (res.start, res.stored, res.length) == (0, 12, 12)
        headers, payloads = log_batch(log, 12, 30)
        a.apply_batch(A.public, 12, headers, payloads, log.sign(A, 2))
        # What a serves, b verifies and stores identically.
        served = a.entries(A.public, 0, 100)
        assert served.head == log.sign(A, 2) and len(served.headers) == 30
        b.apply_batch(A.public, 0, served.headers, served.payloads, served.head)
        assert view_table(a) == view_table(b)
        assert a.verify().ok and b.verify().ok
        view = b.record("memo:7")
        assert view is not None and view.displayed is not None
        assert view.displayed.body == body(7)
        # Proofs served from stored nodes verify against the signed heads.
        head = b.head(A.public)
        assert head is not None
        for index in (0, 7, 29):
            proof = b.inclusion_proof(A.public, index, 30)
            verify_inclusion(log.entries[index].leaf_hash, index, 30, proof, head.root)
        verify_consistency(12, log.tree.root(12), 30, head.root,
                           b.consistency_proof(A.public, 12, 30))


def test_reapply_is_a_no_op(store: Store) -> None:
    log = make_log(20)
    headers, payloads = log_batch(log, 0, 20)
    head = log.sign(A, 1)
    store.apply_batch(A.public, 0, headers, payloads, head)
    before = dump(store.path)
    again = store.apply_batch(A.public, 0, headers, payloads, head)
    assert again.stored == 0 and again.length == 20
    assert dump(store.path) == before
    # An older, consistent head with its (already held) entries stores nothing new but is
    # remembered in the head history.
    older = store.apply_batch(A.public, 5, headers[5:10], payloads[5:10], sign_prefix(log, A, 10))
    assert older.stored == 0
    after = dump(store.path)
    assert [line for line in after if line not in before] == [
        line for line in after if line.startswith('INSERT INTO "head_history" VALUES(1,10,')]


def test_partial_overlap_is_trimmed(store: Store) -> None:
    log = make_log(25)
    headers, payloads = log_batch(log, 0, 15)
    store.apply_batch(A.public, 0, headers, payloads, sign_prefix(log, A, 15))
    headers, payloads = log_batch(log, 10, 25)
    res = store.apply_batch(A.public, 10, headers, payloads, log.sign(A, 2))
    assert (res.start, res.stored, res.length) == (15, 10, 25)
    assert store.counts().entries == 25 and store.verify().ok


def test_payloads_by_hash_and_missing(store: Store) -> None:
    log = make_log(6)
    headers, aligned = log_batch(log, 0, 6)
    by_hash = {hash_payload(p): p for p in aligned if p is not None and p != aligned[2]}
    store.apply_batch(A.public, 0, headers, by_hash, log.sign(A, 1))
    view = store.record("memo:2")
    assert view is not None and view.displayed is not None and view.displayed.body is None
    assert store.counts().payloads == 5 and store.verify().ok


def _rejects(store: Store, exc: type[Exception], code: str, *args: object) -> None:
    before = dump(store.path)
    with pytest.raises(exc) as err:
        store.apply_batch(*args)  # type: ignore[arg-type]
    assert getattr(err.value, "code", None) == code, err.value
    assert dump(store.path) == before


def test_rejections_change_nothing(store: Store) -> None:
    log = make_log(12)
    headers, payloads = log_batch(log, 0, 6)
    store.apply_batch(A.public, 0, headers, payloads, sign_prefix(log, A, 6))
    headers, payloads = log_batch(log, 6, 12)
    head = log.sign(A, 2)

    tampered = list(headers)
    tampered[3] = tampered[3].replace(b"memo:9", b"memo:X")
    _rejects(store, ProofError, "range.root", A.public, 6, tampered, payloads, head)

    wrong = list(payloads)
    wrong[2] = encode(body(99))
    _rejects(store, DecodeError, "payload.hash_mismatch", A.public, 6, headers, wrong, head)

    forged = SignedHead(head.dataset_id, head.publisher, head.length, head.root, head.timestamp,
                        bytes(64))
    _rejects(store, SignatureError, "signature.invalid", A.public, 6, headers, payloads, forged)

    _rejects(store, ProofError, "range.start", A.public, 7, headers[1:], payloads[1:], head)
    _rejects(store, ProofError, "range.length", A.public, 6, headers[:-1], payloads[:-1], head)

    other_dataset = sign_head(A, b"\x99" * 32, head.length, head.root, 1)
    _rejects(store, ProofError, "head.wrong_dataset", A.public, 6, headers, payloads,
             other_dataset)

    stranger_log = PublisherLog(CHARTER.dataset_id, STRANGER.public)
    stranger_log.put("memo:1", body(1), 5)
    h, p = log_batch(stranger_log, 0, 1)
    _rejects(store, UnauthorisedError, "auth.not_a_publisher", STRANGER.public, 0, h, p,
             stranger_log.sign(STRANGER, 1))

    assert store.length(A.public) == 6
    # And the genuine batch still goes in afterwards.
    assert store.apply_batch(A.public, 6, headers, payloads, head).stored == 6


def test_invalid_payload_named_by_entry(store: Store) -> None:
    log = PublisherLog(CHARTER.dataset_id, A.public)
    log.put("memo:1", body(1), 5)
    log.put("memo:2", {"surname": "Петров", "planet": "Mars"}, 5)
    headers, payloads = log_batch(log, 0, 2)
    before = dump(store.path)
    with pytest.raises(SchemaError) as err:
        store.apply_batch(A.public, 0, headers, payloads, log.sign(A, 1))
    assert err.value.code == "schema.unknown_field"
    assert err.value.details["index"] == 1 and err.value.details["publisher"] == A.public
    assert dump(store.path) == before


def test_non_canonical_header_rejected(store: Store) -> None:
    log = make_log(2)
    headers, payloads = log_batch(log, 0, 2)
    # A non-minimal integer encoding of the same map: same meaning, different bytes.
    bad = headers[1].replace(b"\xa1v\x01", b"\xa1v\xcc\x01")
    assert bad != headers[1]
    from samizdat_protocol.hashing import hash_leaves
    from samizdat_protocol.merkle import MerkleTree

    tree = MerkleTree(hash_leaves([headers[0], bad]))
    head = sign_head(A, CHARTER.dataset_id, 2, tree.root(), 1)
    before = dump(store.path)
    with pytest.raises(DecodeError) as err:
        store.apply_batch(A.public, 0, [headers[0], bad], payloads, head)
    assert err.value.code == "decode.non_canonical" and err.value.details["index"] == 1
    assert dump(store.path) == before


def test_fork_of_equal_length_is_proven(store: Store) -> None:
    log = make_log(8)
    headers, payloads = log_batch(log, 0, 8)
    store.apply_batch(A.public, 0, headers, payloads, log.sign(A, 1))
    fork = make_log(8, variant="-fork")
    h, p = log_batch(fork, 0, 8)
    with pytest.raises(EquivocationError):
        store.apply_batch(A.public, 0, h, p, fork.sign(A, 1))
    proofs = store.equivocations()
    assert len(proofs) == 1
    proofs[0].verify(CHARTER.dataset_id)
    assert store.length(A.public) == 8 and store.verify().ok


def test_fork_past_our_length_is_proven(store: Store) -> None:
    log = make_log(8)
    headers, payloads = log_batch(log, 0, 8)
    store.apply_batch(A.public, 0, headers, payloads, log.sign(A, 1))
    fork = make_log(7)  # agrees with ours up to index 6, differs from index 7 on
    for i in range(7, 12):
        fork.put(f"memo:{i}", body(i, "-fork"), 2000 + i)
    h, p = log_batch(fork, 6, 12)  # overlaps our 6..7; our 7 differs from its 7
    before_entries = store.counts().entries
    with pytest.raises(EquivocationError):
        store.apply_batch(A.public, 6, h, p, fork.sign(A, 1))
    proof = store.equivocations()[0]
    proof.verify(CHARTER.dataset_id)
    assert (proof.shorter.length, proof.longer.length) == (8, 12)
    assert store.counts().entries == before_entries


def test_record_head_outcomes(store: Store) -> None:
    log = make_log(10)
    headers, payloads = log_batch(log, 0, 6)
    store.apply_batch(A.public, 0, headers, payloads, sign_prefix(log, A, 6))
    assert store.record_head(sign_prefix(log, A, 4)).status == "consistent"
    assert store.record_head(log.sign(A, 1)).status == "announced"
    assert store.status()[0].announced == log.sign(A, 1)
    assert store.length(A.public) == 6  # an announced head is never "verified"
    fork = make_log(4, variant="-x")
    out = store.record_head(fork.sign(A, 1))
    assert out.status == "equivocation" and out.proof is not None
    # Once the announced head's entries arrive it is checked and cleared.
    headers, payloads = log_batch(log, 6, 10)
    store.apply_batch(A.public, 6, headers, payloads, log.sign(A, 1))
    assert store.status()[0].announced is None


def test_announced_fork_detected_on_arrival(store: Store) -> None:
    log = make_log(10)
    other = make_log(10, variant="-other")
    assert store.record_head(other.sign(A, 1)).status == "announced"
    headers, payloads = log_batch(log, 0, 10)
    res = store.apply_batch(A.public, 0, headers, payloads, log.sign(A, 1))
    assert res.stored == 10  # our batch is valid; the announced head was the lie
    assert len(store.equivocations()) == 1


def test_views_across_publishers(store: Store) -> None:
    a, b = make_log(3), make_log(0, key=B)
    b.put("memo:1", body(1, "-B"), 9999)
    b.put("memo:9", body(9, "-B"), 9999)
    store.apply_batch(B.public, 0, *log_batch(b, 0, 2), b.sign(B, 1))
    store.apply_batch(A.public, 0, *log_batch(a, 0, 3), a.sign(A, 1))
    view = store.record("memo:1")
    assert view is not None and view.displayed is not None
    assert view.displayed.publisher == A.public  # charter priority: A before B
    assert [v.publisher for v in view.alternatives] == [B.public]
    table = view_table(store)
    assert table["memo:1"] == (A.public, 1, 0, 2)
    assert table["memo:9"] == (B.public, 1, 0, 1)


def test_retract_and_erase_update_view_and_payloads(store: Store) -> None:
    log = make_log(3)
    secret = log.entries[2].payload_hash
    assert secret is not None
    log.retract("memo:1", "duplicate of memo:0", 5000)
    log.append(Entry.erase("memo:2", secret, "privacy", 5001))
    store.apply_batch(A.public, 0, *log_batch(log, 0, 5), log.sign(A, 1))
    table = view_table(store)
    assert table["memo:1"] == (None, None, 1, 0)
    # The publisher's erase entry alone erases nothing (spec §13): the founders approve it.
    view = store.record("memo:2")
    assert view is not None and view.displayed is not None and not view.displayed.erased
    assert store.payload(secret) is not None
    approve_erase(store, "memo:2", secret)
    view = store.record("memo:2")
    assert view is not None and view.displayed is not None and view.displayed.erased
    assert store.payload(secret) is None  # the bytes are gone, the header stays
    assert store.verify().ok
    served = store.entries(A.public, 0)
    assert served.payloads[2] is None and served.headers[2] == log.entries[2].to_bytes()


def test_stored_proofs_equal_the_log_at_every_size(tmp_path: Path) -> None:
    """Law: proofs and roots from the store (levels 1-3 folded from leaves, tree.py) equal
    the in-memory tree's, for every size and index of a log applied in uneven batches."""
    log = make_log(70)
    with new_store(tmp_path / "a.sqlite") as a:
        for start, end in ((0, 5), (5, 21), (21, 64), (64, 70)):
            headers, payloads = log_batch(log, start, end)
            head = log.sign(A, 1) if end == 70 else sign_prefix(log, A, end)
            a.apply_batch(A.public, start, headers, payloads, head)
        for size in range(1, 71):
            for index in range(0, size, 3):
                assert a.inclusion_proof(A.public, index, size) == \
                    log.tree.inclusion_proof(index, size)
            for old in range(1, size + 1, 4):
                assert a.consistency_proof(A.public, old, size) == \
                    log.tree.consistency_proof(old, size)
