"""Prefix chunks (spec §11): a batch ending before its signed head, proven by a consistency
proof, is stored and verified; the verified head stays the newest signed head fully held."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from samizdat_node.store import Store
from samizdat_protocol.errors import EquivocationError, ProofError
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.merkle import verify_consistency

from .test_store_support import (
    CHARTER,
    KEYS,
    body,
    dump,
    log_batch,
    new_store,
    sign_prefix,
    view_table,
)

A = KEYS[0]
N = 40


def make_log(n: int = N, variant: str = "") -> PublisherLog:
    """Puts, corrections and a retraction, so the view has work to do across chunks."""
    log = PublisherLog(CHARTER.dataset_id, A.public)
    for i in range(n):
        if i % 7 == 6:
            log.retract(f"memo:{i // 3}", "duplicate", 1000 + i)
        else:
            log.put(f"memo:{i // 2}", body(i, variant), 1000 + i)
    return log


LOG = make_log()


def make_fork(agree: int) -> PublisherLog:
    """A log equal to LOG's first ``agree`` entries, different after."""
    fork = PublisherLog(CHARTER.dataset_id, A.public)
    for entry in LOG.entries[:agree]:
        fork.append(entry, LOG.payloads.get(entry.payload_hash or b""))
    for i in range(agree, N):
        fork.put(f"memo:{i}", body(i, "-fork"), 2000 + i)
    return fork


def snapshot(store: Store) -> tuple[object, ...]:
    served = store.entries(A.public, 0, 10_000)
    return (view_table(store), store.counts(), served.headers, served.payloads,
            store.head(A.public), store.length(A.public))


def whole() -> tuple[object, ...]:
    with tempfile.TemporaryDirectory() as tmp, new_store(Path(tmp) / "w.sqlite") as s:
        s.apply_batch(A.public, 0, *log_batch(LOG, 0, N), LOG.sign(A, 1))
        return snapshot(s)


WHOLE = whole()


def chunk(log: PublisherLog, start: int, end: int, signed: int) -> tuple[
        list[bytes], list[bytes | None], SignedHead, list[bytes]]:
    headers, payloads = log_batch(log, start, end)
    proof = log.tree.consistency_proof(end, signed) if end < signed else []
    return headers, payloads, sign_prefix(log, A, signed), proof


@st.composite
def plans(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """Chunks (start, end, signed length) covering the log in order; a chunk may overlap
    what is held, and is proven against any signed length at or past its end."""
    cuts = sorted(draw(st.sets(st.integers(1, N - 1), max_size=8)))
    out, held = [], 0
    for end in [*cuts, N]:
        start = held - draw(st.integers(0, held))
        out.append((start, end, draw(st.integers(end, N))))
        held = end
    return out


@settings(max_examples=30, deadline=None)
@given(plans())
@example([(0, 13, 40), (13, 40, 40)])
@example([(0, 1, 2), (0, 39, 39), (39, 40, 40)])
def test_chunks_in_order_equal_the_whole(plan: list[tuple[int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, new_store(Path(tmp) / "s.sqlite") as s:
        best = 0
        for start, end, signed in plan:
            headers, payloads, head, proof = chunk(LOG, start, end, signed)
            res = s.apply_batch(A.public, start, headers, payloads, head, proof=proof)
            assert res.length == end == s.length(A.public)
            if signed == end:
                best = end
            held = s.head(A.public)
            assert (held.length if held is not None else 0) == best
            # Served entries stop at the verified head; a proof makes them a chunk.
            if held is not None and held.length > 1:
                part = s.entries(A.public, 0, held.length // 2, proof=True)
                verify_consistency(held.length // 2, LOG.tree.root(held.length // 2),
                                   held.length, held.root, part.proof)
        assert s.verify().ok
        assert snapshot(s) == WHOLE


def test_prefix_is_held_but_not_advertised(tmp_path: Path) -> None:
    with new_store(tmp_path / "s.sqlite") as s:
        s.apply_batch(A.public, 0, *log_batch(LOG, 0, 10), sign_prefix(LOG, A, 10))
        headers, payloads, head, proof = chunk(LOG, 10, 25, N)
        res = s.apply_batch(A.public, 10, headers, payloads, head, proof=proof)
        assert (res.start, res.stored, res.length) == (10, 15, 25)
        assert s.length(A.public) == 25 and s.counts().entries == 25
        assert s.head(A.public) == sign_prefix(LOG, A, 10)
        assert s.heads() == {A.public: sign_prefix(LOG, A, 10)}
        assert s.status()[0].length == 25
        assert len(s.entries(A.public, 0, 100).headers) == 10
        # The proven entries are in the view (they are verified).
        view = s.record("memo:11")
        assert view is not None and view.displayed is not None
        assert s.verify().ok
        # A signed head of a held length, learnt by gossip, becomes the verified head.
        assert s.record_head(sign_prefix(LOG, A, 20)).status == "consistent"
        assert s.head(A.public) == sign_prefix(LOG, A, 20) and s.length(A.public) == 25
        assert s.record_head(sign_prefix(LOG, A, 25)).status == "consistent"
        assert s.head(A.public) == sign_prefix(LOG, A, 25)
        assert s.verify().ok


def _rejects(store: Store, code: str, *args: object, proof: list[bytes]) -> None:
    before = dump(store.path)
    with pytest.raises((ProofError, EquivocationError)) as err:
        store.apply_batch(*args, proof=proof)  # type: ignore[arg-type]
    assert err.value.code == code, err.value
    assert dump(store.path) == before


def test_forged_chunks_and_proofs_change_nothing(tmp_path: Path) -> None:
    with new_store(tmp_path / "s.sqlite") as s:
        s.apply_batch(A.public, 0, *log_batch(LOG, 0, 10), sign_prefix(LOG, A, 10))
        headers, payloads, head, proof = chunk(LOG, 10, 20, N)
        _rejects(s, "range.length", A.public, 10, headers, payloads, head, proof=[])
        bad = [*proof[:-1], bytes(32)]
        _rejects(s, "range.root", A.public, 10, headers, payloads, head, proof=bad)
        _rejects(s, "range.root", A.public, 10, headers, payloads, head, proof=proof[:-1])
        _rejects(s, "range.root", A.public, 10, headers[:-1], payloads[:-1], head, proof=proof)
        tampered = [*headers]
        tampered[4] = tampered[4].replace(b"memo:", b"memo-")
        _rejects(s, "range.root", A.public, 10, tampered, payloads, head, proof=proof)
        full, fp = log_batch(LOG, 10, N)
        _rejects(s, "range.proof", A.public, 10, full, fp, head, proof=proof)
        # A chunk of another log (a fork) proven against its own head: the proof verifies,
        # the overlap with what we hold does not. Ending at our signed length, the chunk's
        # proof completes a transferable equivocation proof; ending past it, it cannot.
        fork = make_fork(8)
        fh, fpay, fhead, fproof = chunk(fork, 5, 20, N)
        _rejects(s, "equivocation.unproven", A.public, 5, fh, fpay, fhead, proof=fproof)
        fh, fpay, fhead, fproof = chunk(fork, 5, 10, N)
        with pytest.raises(EquivocationError) as err:
            s.apply_batch(A.public, 5, fh, fpay, fhead, proof=fproof)
        assert err.value.code == "equivocation.detected"
        assert [p.longer for p in s.equivocations()] == [fhead]
        assert s.length(A.public) == 10
        # The genuine chunk still goes in.
        assert s.apply_batch(A.public, 10, headers, payloads, head, proof=proof).stored == 10
        assert s.verify().ok


def test_fork_against_a_proven_prefix(tmp_path: Path) -> None:
    with new_store(tmp_path / "s.sqlite") as s:
        headers, payloads, head, proof = chunk(LOG, 0, 12, N)
        s.apply_batch(A.public, 0, headers, payloads, head, proof=proof)
        fork = make_fork(3)
        # A head of exactly the held length contradicts it: provable with the stored proof.
        out = s.record_head(sign_prefix(fork, A, 12))
        assert out.status == "equivocation" and out.proof is not None
        out.proof.verify(CHARTER.dataset_id)
        # Shorter than held: no transferable proof without more of the longer log.
        assert s.record_head(sign_prefix(fork, A, 5)).status == "unproven"
        assert s.length(A.public) == 12 and s.head(A.public) is None


def test_resume_after_interruption(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    plan = [(0, 7, N), (7, 19, N), (19, 31, N), (31, N, N)]
    with new_store(path) as s:
        for start, end, signed in plan[:2]:
            h, p, head, proof = chunk(LOG, start, end, signed)
            s.apply_batch(A.public, start, h, p, head, proof=proof)
        # The third chunk is cut off half-way: it fails to verify and changes nothing.
        h, p, head, proof = chunk(LOG, 19, 31, N)
        with pytest.raises(ProofError):
            s.apply_batch(A.public, 19, h[:5], p[:5], head, proof=proof)
    with Store.open(path) as s:
        held = s.length(A.public)
        assert held == 19 and s.head(A.public) is None
        for start, end, signed in plan[2:]:
            assert start == held
            h, p, head, proof = chunk(LOG, start, end, signed)
            held = s.apply_batch(A.public, start, h, p, head, proof=proof).length
        assert snapshot(s) == WHOLE and s.verify().ok


def test_serving_a_chunk_to_another_store(tmp_path: Path) -> None:
    with new_store(tmp_path / "a.sqlite") as a, new_store(tmp_path / "b.sqlite") as b:
        a.apply_batch(A.public, 0, *log_batch(LOG, 0, N), LOG.sign(A, 1))
        held = 0
        for size in (9, 16, 100):
            served = a.entries(A.public, held, size, proof=True)
            held = b.apply_batch(A.public, held, served.headers, served.payloads, served.head,
                                 proof=served.proof).length
        assert snapshot(b) == WHOLE


def test_audit_checks_the_prefix_proof(tmp_path: Path) -> None:
    with new_store(tmp_path / "s.sqlite") as s:
        h, p, head, proof = chunk(LOG, 0, 12, N)
        s.apply_batch(A.public, 0, h, p, head, proof=proof)
        assert s.verify().ok
        with s.database.atomic() as conn:
            conn.execute("UPDATE prefixes SET proof = ?", (bytes(32) * len(proof),))
        report = s.verify()
        assert [(d.part, d.index) for d in report.damage] == [("head", 12)]

