"""Governance (spec §13): the format, the laws of the authorisation state, worked scenarios.

Entries in the property tests are drawn from a small pool of decisions, seqs and signer sets, so
that ties in seq, founder changes, rotations of one key twice and unsigned copies are common.
Signatures are cached: Ed25519 signing dominates the run time otherwise.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_protocol import encoding, hashing
from samizdat_protocol.authstate import AuthState, Pin, PublisherStatus, authorisation_state
from samizdat_protocol.charter import Charter, PublisherGrant
from samizdat_protocol.encoding import decode
from samizdat_protocol.entries import Entry, LogEntry, encode_payload
from samizdat_protocol.errors import DecodeError, LocalError, RemoteError, SchemaError
from samizdat_protocol.governance import GovernanceBody, GovernanceEntry, equivocation_id, propose
from samizdat_protocol.heads import EquivocationProof, find_equivocation, sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.merge import RecordView, merge_all
from samizdat_protocol.merkle import MerkleTree
from samizdat_protocol.signing import SigningKey
from tests.vectors import make_governance_vectors as vectors
from tests.vectors.make_core_vectors import from_json

F = [SigningKey.from_seed(bytes([n]) * 32) for n in range(1, 6)]  # F[0..2] founders, F[3], F[4]
A, B, C, D = (SigningKey.from_seed(bytes([0x40 + n]) * 32) for n in range(4))
CHARTER = Charter(name="Жертвы политического террора", schema="memorial.victim/1",
                  founders=(F[0].public, F[1].public, F[2].public), threshold=2,
                  publishers=(PublisherGrant(A.public, "Memorial"),
                              PublisherGrant(C.public, "Мемориал в изгнании")),
                  created=1_700_000_000_000)
DS = CHARTER.dataset_id
ROOT = hashing.tagged_hash(hashing.NODE, b"some prefix")
BODIES = [{"surname": "Иванов", "birth": "1901"}, {"surname": "Петров"}]
HASHES = [encode_payload(b)[1] for b in BODIES]

# Decisions the property tests draw from: (action, fields).
POOL: list[tuple[str, dict[str, Any]]] = [
    ("add_publisher", {"key": B.public, "name": "B"}),
    ("add_publisher", {"key": D.public, "name": "D"}),
    ("revoke_publisher", {"key": A.public, "as_of": 3, "root": ROOT}),
    ("rotate_publisher", {"old": A.public, "new": B.public, "as_of": 2, "root": ROOT}),
    ("rotate_publisher", {"old": C.public, "new": D.public, "as_of": 1, "root": ROOT,
                          "name": "D"}),
    ("set_founders", {"founders": [F[0].public, F[1].public, F[3].public], "threshold": 2}),
    ("set_founders", {"founders": [F[0].public], "threshold": 1}),
    ("set_priorities", {"order": [C.public, A.public]}),
    ("erase", {"record": "memo:1", "payload": HASHES[0], "reason": "safety"}),
    ("reinstate_publisher", {"key": C.public, "through": 4}),
    ("reinstate_publisher", {"key": A.public, "through": 9}),
    ("set_priorities", {"order": [B.public]}),
    ("revoke_publisher", {"key": B.public, "as_of": 0, "root": ROOT}),
]


@functools.cache
def body(pool: int, seq: int, ts: int) -> GovernanceBody:
    action, fields = POOL[pool]
    return propose(DS, seq, action, fields, ts).body


@functools.cache
def signature(pool: int, seq: int, ts: int, signer: int) -> tuple[bytes, bytes]:
    entry = GovernanceEntry(body(pool, seq, ts)).sign(F[signer])
    return entry.signatures[0]


Spec = tuple[int, int, int, frozenset[int]]  # pool index, seq, ts, signers (indexes into F)


def make(spec: Spec) -> GovernanceEntry:
    pool, seq, ts, signers = spec
    sigs = sorted(signature(pool, seq, ts, s) for s in signers)
    return GovernanceEntry(body(pool, seq, ts), tuple(sigs))


def decide(seq: int, action: str, fields: dict[str, Any], *signers: SigningKey,
           ts: int = 0) -> GovernanceEntry:
    entry = propose(DS, seq, action, fields, ts)
    for key in signers:
        entry = entry.sign(key)
    return entry


def fork_proof(key: SigningKey, length: int, tag: bytes = b"",
               dataset: bytes = DS) -> EquivocationProof:
    """Two heads of one length with different roots: the simplest equivocation."""
    one = sign_head(key, dataset, length, hashing.tagged_hash(hashing.NODE, b"one" + tag), 5)
    two = sign_head(key, dataset, length, hashing.tagged_hash(hashing.NODE, b"two" + tag), 5)
    return EquivocationProof(one, two)


def longer_fork_proof(key: SigningKey, short: int, long: int) -> EquivocationProof:
    """Heads of different lengths whose prefixes differ (a consistency proof shows it)."""
    honest = MerkleTree([hashing.hash_leaf(bytes([n])) for n in range(long)])
    forged = MerkleTree([hashing.hash_leaf(bytes([n, 1])) for n in range(short)])
    a = sign_head(key, DS, short, forged.root(), 5)
    b = sign_head(key, DS, long, honest.root(), 5)
    proof = find_equivocation(a, b, honest.root(short), honest.consistency_proof(short, long))
    assert proof is not None
    return proof


PROOFS = [fork_proof(A, 2), fork_proof(A, 6), fork_proof(C, 3), longer_fork_proof(C, 5, 9),
          fork_proof(D, 1), fork_proof(F[4], 1),
          EquivocationProof(fork_proof(A, 2).shorter, fork_proof(A, 2).shorter)]

spec_st = st.tuples(st.integers(0, len(POOL) - 1), st.integers(1, 4), st.integers(0, 1),
                    st.frozensets(st.integers(0, 4), max_size=4))
specs_st = st.lists(spec_st, max_size=7)
proofs_st = st.lists(st.integers(0, len(PROOFS) - 1), max_size=3)


def state_of(specs: list[Spec], proofs: Sequence[int] = ()) -> AuthState:
    return authorisation_state(CHARTER, [make(s) for s in specs], [PROOFS[p] for p in proofs])


# --- laws -----------------------------------------------------------------------------------


@given(specs_st, proofs_st, st.randoms(use_true_random=False),
       st.lists(st.integers(0, 100), max_size=8))
@example([(5, 1, 0, frozenset({0, 1})), (0, 1, 0, frozenset({0, 2}))], [], random.Random(0), [])
@example([(3, 1, 0, frozenset({0, 1})), (3, 1, 0, frozenset({2}))], [0], random.Random(1), [0])
def test_state_does_not_depend_on_order_duplicates_or_how_signatures_travel(
        specs: list[Spec], proofs: list[int], rng: random.Random, dups: list[int]) -> None:
    base = state_of(specs, proofs)
    copies: list[GovernanceEntry] = []
    for n, spec in enumerate(specs):
        entry = make(spec)
        cut = n % (len(entry.signatures) + 1)
        # One copy may carry some signatures and another the rest: the union counts.
        copies += [replace(entry, signatures=entry.signatures[:cut]),
                   replace(entry, signatures=entry.signatures[cut:])]
    copies += [make(specs[i % len(specs)]) for i in dups] if specs else []
    evidence = [PROOFS[p] for p in proofs] * 2
    rng.shuffle(copies)
    rng.shuffle(evidence)
    assert authorisation_state(CHARTER, copies, evidence) == base


@given(specs_st, proofs_st)
def test_rejected_entries_change_nothing(specs: list[Spec], proofs: list[int]) -> None:
    state = state_of(specs, proofs)
    refused = {r.id for r in state.rejected if r.kind == "governance"}
    kept = [s for s in specs if make(s).id not in refused]
    again = state_of(kept, proofs)
    assert replace(again, rejected=state.rejected) == state
    assert set(state.applied) | refused == {make(s).id for s in specs}


@given(st.integers(0, 2), st.lists(st.tuples(
    st.integers(0, len(POOL) - 1), st.integers(1, 4), st.integers(0, 1),
    st.frozensets(st.integers(3, 4))), max_size=6))
@example(0, [(0, 1, 0, frozenset()), (0, 1, 0, frozenset({3}))])
def test_one_founder_alone_can_do_nothing_when_the_threshold_is_two(
        founder: int, draws: list[tuple[int, int, int, frozenset[int]]]) -> None:
    # One founder key (seized, say) plus any outsiders, on any number of copies.
    specs = [(p, seq, ts, others | {founder}) for p, seq, ts, others in draws]
    state = state_of(specs)
    assert state.applied == ()
    assert {r.code for r in state.rejected} <= {"governance.threshold"}
    assert replace(state, rejected=()) == replace(state_of([]), rejected=())


@given(specs_st, proofs_st, st.integers(0, 12))
def test_may_publish_agrees_with_the_merge_policy(
        specs: list[Spec], proofs: list[int], index: int) -> None:
    state = state_of(specs, proofs)
    policy = state.merge_policy()
    for key in (A.public, B.public, C.public, D.public, F[4].public):
        counts = key in state.publishers and policy.ignored_status(key, index) is None
        assert state.may_publish(key, index) == counts
        status = state.publishers.get(key)
        if status is not None:
            assert (status.state == "suspended") == (key in state.proofs)
            assert state.priorities[key] == state.order.index(state.identity(key))


# --- format -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", range(len(POOL)))
def test_every_action_round_trips(pool: int) -> None:
    entry = make((pool, 3, 7, frozenset({0, 2})))
    again = GovernanceEntry.from_bytes(entry.to_bytes())
    assert again == entry and again.id == entry.id == hashing.tagged_hash(
        hashing.GOVERNANCE, entry.body.body_bytes())
    assert again.signers() == {F[0].public, F[2].public}
    assert GovernanceBody.from_body(entry.body.body_bytes()) == entry.body


def test_signing_is_offline_one_founder_at_a_time_and_keeps_the_id() -> None:
    entry = propose(DS, 1, "add_publisher", {"key": B.public, "name": "B"}, 0)
    first = GovernanceEntry.from_bytes(entry.sign(F[0]).to_bytes())  # a file passed on
    both = first.sign(F[1])
    assert entry.id == first.id == both.id
    assert [k for k, _ in both.signatures] == sorted([F[0].public, F[1].public])
    assert both.sign(F[1]) == both  # signing again replaces, never duplicates
    assert entry.sign(F[1]).combine(first) == both
    with pytest.raises(LocalError):
        both.combine(propose(DS, 2, "add_publisher", {"key": B.public, "name": "B"}, 0))


@pytest.mark.parametrize(("seq", "action", "fields", "code"), [
    (0, "erase", {"record": "memo:1", "payload": HASHES[0], "reason": "x"}, "governance.field"),
    (1, "dissolve", {}, "governance.action"),
    (1, "add_publisher", {"key": B.public}, "governance.missing"),
    (1, "add_publisher", {"key": B.public, "name": "B", "as_of": 1}, "governance.unknown_field"),
    (1, "add_publisher", {"key": B.public[:31], "name": "B"}, "governance.field"),
    (1, "add_publisher", {"key": B.public, "name": " "}, "governance.field"),
    (1, "rotate_publisher", {"old": A.public, "new": A.public, "as_of": 1, "root": ROOT},
     "governance.field"),
    (1, "set_founders", {"founders": [A.public], "threshold": 2}, "governance.field"),
    (1, "set_founders", {"founders": [A.public, A.public], "threshold": 1}, "governance.field"),
    (1, "revoke_publisher", {"key": A.public, "as_of": -1, "root": ROOT}, "governance.field"),
    (1, "revoke_publisher", {"key": A.public, "as_of": True, "root": ROOT}, "governance.field"),
    (1, "erase", {"record": " memo:1", "payload": HASHES[0], "reason": "x"}, "governance.field"),
    (1, "set_priorities", {"order": []}, "governance.field"),
])
def test_malformed_decisions_are_refused_with_a_code(
        seq: int, action: str, fields: dict[str, Any], code: str) -> None:
    with pytest.raises(SchemaError) as info:
        propose(DS, seq, action, fields, 0)
    assert info.value.code == code


def test_decoding_is_strict() -> None:
    entry = decide(1, "add_publisher", {"key": B.public, "name": "B"}, F[0], F[1])
    value = decode(entry.to_bytes())
    for changed, code in [
        ({**value, "signatures": value["signatures"][::-1]}, "governance.signatures"),
        ({**value, "signatures": value["signatures"][:1] * 2}, "governance.signatures"),
        ({**value, "extra": 1}, "governance.malformed"),
        ({**value, "body": encoding.encode({**decode(value["body"]), "v": 2})},
         "governance.version"),
        ({**value, "body": encoding.encode({**decode(value["body"]), "seq": 2**53})},
         "governance.field"),
    ]:
        with pytest.raises(RemoteError) as info:
            GovernanceEntry.from_bytes(encoding.encode(changed))
        assert info.value.code == code
    with pytest.raises(DecodeError) as info:
        GovernanceEntry.from_bytes(entry.to_bytes() + b"\x00")
    assert info.value.code == "decode.trailing_bytes"
    with pytest.raises(DecodeError) as info:
        GovernanceEntry.from_bytes(encoding.encode({"body": b"x" * 70_000, "signatures": []}))
    assert info.value.code == "decode.oversize"
    with pytest.raises(LocalError):
        GovernanceEntry(entry.body, entry.signatures[::-1])


SIGNED = decide(4, "rotate_publisher", {"old": A.public, "new": B.public, "as_of": 12,
                                        "root": ROOT, "name": "Memorial"}, F[0], F[2])


@given(st.data())
def test_any_single_byte_change_is_detected(data: st.DataObject) -> None:
    raw = SIGNED.to_bytes()
    at = data.draw(st.integers(0, len(raw) - 1), label="at")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != raw[at]), label="value")
    changed = raw[:at] + bytes([value]) + raw[at + 1:]
    try:
        entry = GovernanceEntry.from_bytes(changed)
    except RemoteError:
        return
    # It decoded: then a signature no longer verifies, so the decision is short of its threshold.
    assert entry.signers() < SIGNED.signers()
    assert authorisation_state(CHARTER, [entry]).applied == ()


def test_each_byte_flipped_in_turn_is_detected() -> None:
    raw = SIGNED.to_bytes()
    assert authorisation_state(CHARTER, [SIGNED]).applied == (SIGNED.id,)
    for at in range(len(raw)):
        changed = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]
        try:
            entry = GovernanceEntry.from_bytes(changed)
        except RemoteError:
            continue
        assert authorisation_state(CHARTER, [entry]).applied == ()


# --- founders and thresholds ------------------------------------------------------------------


def test_a_single_founder_is_rejected_with_a_reason() -> None:
    entry = decide(1, "revoke_publisher", {"key": C.public, "as_of": 0, "root": ROOT}, F[0])
    state = authorisation_state(CHARTER, [entry])
    assert state.applied == () and state.publishers[C.public] == PublisherStatus("active")
    (rejection,) = state.rejected
    assert (rejection.id, rejection.code, rejection.seq) == (entry.id, "governance.threshold", 1)
    assert "1 valid founder signatures, 2 needed" in rejection.reason


def test_outsiders_duplicates_and_forgeries_do_not_count() -> None:
    fields = {"key": B.public, "name": "B"}
    outsiders = decide(1, "add_publisher", fields, F[0], F[3], F[4], A)
    twice = [decide(1, "add_publisher", fields, F[0]), decide(1, "add_publisher", fields, F[0])]
    forged_sig = decide(1, "add_publisher", fields, F[0], F[1])
    bad = replace(forged_sig, signatures=(forged_sig.signatures[0],
                                          (forged_sig.signatures[1][0], bytes(64))))
    for entries in ([outsiders], twice, [bad]):
        state = authorisation_state(CHARTER, entries)
        assert B.public not in state.publishers
        assert [r.code for r in state.rejected] == ["governance.threshold"]
    assert authorisation_state(CHARTER, [bad, forged_sig]).applied == (forged_sig.id,)
    assert bad.combine(forged_sig).signers() == forged_sig.signers()


def test_a_new_founder_set_applies_from_the_next_decision() -> None:
    change = decide(1, "set_founders", {"founders": [F[0].public, F[1].public, F[3].public],
                                        "threshold": 2}, F[0], F[2])
    by_old = decide(2, "add_publisher", {"key": B.public, "name": "B"}, F[0], F[2])
    by_new = decide(2, "add_publisher", {"key": D.public, "name": "D"}, F[0], F[3])
    early = decide(1, "add_publisher", {"key": D.public, "name": "D"}, F[3], F[4])
    state = authorisation_state(CHARTER, [by_new, by_old, change, early])
    assert state.founders == (F[0].public, F[1].public, F[3].public)
    assert change.id in state.applied and by_new.id in state.applied
    assert by_old.id not in state.applied and early.id not in state.applied
    assert state.last_seq == 2 and state.next_seq == 3
    # Without the change, the old founders' decision applies and the new one does not.
    state = authorisation_state(CHARTER, [by_new, by_old])
    assert state.applied == (by_old.id,)


def test_decisions_with_one_seq_all_apply_in_id_order() -> None:
    first = decide(1, "add_publisher", {"key": B.public, "name": "B"}, F[0], F[1])
    second = decide(1, "add_publisher", {"key": D.public, "name": "D"}, F[0], F[1])
    state = authorisation_state(CHARTER, [second, first])
    assert state.applied == tuple(sorted([first.id, second.id]))
    assert state.order[2:] == tuple(
        k for _, k in sorted([(first.id, B.public), (second.id, D.public)]))
    # A founder change at the same seq binds the decision after it in id order only.
    drop = decide(1, "set_founders", {"founders": [F[2].public], "threshold": 1}, F[0], F[1])
    state = authorisation_state(CHARTER, [drop, first])
    assert drop.id in state.applied
    assert (first.id in state.applied) == (first.id < drop.id)


def test_wrong_dataset_is_rejected() -> None:
    entry = propose(bytes(32), 1, "add_publisher", {"key": B.public, "name": "B"}, 0)
    state = authorisation_state(CHARTER, [entry.sign(F[0]).sign(F[1])])
    assert [r.code for r in state.rejected] == ["governance.wrong_dataset"]


# --- publishers: rotation, revocation, priorities -----------------------------------------------


def test_rotation_chains_and_preconditions() -> None:
    two = (F[0], F[1])
    rot_ab = decide(1, "rotate_publisher", {"old": A.public, "new": B.public, "as_of": 5,
                                            "root": ROOT}, *two)
    rot_bd = decide(2, "rotate_publisher", {"old": B.public, "new": D.public, "as_of": 3,
                                            "root": ROOT, "name": "Memorial 2"}, *two)
    again = decide(3, "rotate_publisher", {"old": A.public, "new": F[4].public, "as_of": 5,
                                           "root": ROOT}, *two)
    onto_c = decide(3, "rotate_publisher", {"old": D.public, "new": C.public, "as_of": 0,
                                            "root": ROOT}, *two)
    add_a = decide(4, "add_publisher", {"key": A.public, "name": "again"}, *two)
    move = decide(5, "revoke_publisher", {"key": A.public, "as_of": 4, "root": ROOT}, *two)
    back = decide(6, "reinstate_publisher", {"key": B.public, "through": 1}, *two)
    state = authorisation_state(CHARTER, [rot_ab, rot_bd, again, onto_c, add_a, move, back])
    assert state.publishers[A.public] == PublisherStatus("rotated", 4, ROOT, to=B.public)
    assert state.publishers[B.public] == PublisherStatus("rotated", 3, ROOT, to=D.public)
    assert state.publishers[D.public] == PublisherStatus("active")
    assert state.identities[D.public] == (A.public, 2)
    assert (state.names[B.public], state.names[D.public]) == ("Memorial", "Memorial 2")
    assert state.pins[A.public] == Pin(4, ROOT)
    assert state.priorities[D.public] == state.priorities[A.public] == 0
    assert {r.id: r.code for r in state.rejected} == {
        again.id: "governance.already_rotated", onto_c.id: "governance.publisher_exists",
        add_a.id: "governance.publisher_exists", back.id: "governance.frozen"}
    assert (state.may_publish(A.public, 3), state.may_publish(A.public, 4)) == (True, False)
    assert state.may_publish(D.public, 10**6) and not state.may_publish(F[4].public, 0)


def test_revoke_then_rotate_and_priorities() -> None:
    two = (F[1], F[2])
    entries = [
        decide(1, "revoke_publisher", {"key": A.public, "as_of": 7, "root": ROOT}, *two),
        decide(2, "add_publisher", {"key": D.public, "name": "D"}, *two),
        decide(3, "rotate_publisher", {"old": A.public, "new": B.public, "as_of": 7,
                                       "root": ROOT}, *two),
        decide(4, "set_priorities", {"order": [D.public, B.public]}, *two),
        decide(5, "set_priorities", {"order": [A.public, B.public]}, *two),
        decide(5, "set_priorities", {"order": [F[4].public]}, *two),
    ]
    state = authorisation_state(CHARTER, entries)
    assert state.publishers[A.public].state == "rotated"
    assert state.order == (D.public, A.public, C.public)  # B speaks for identity A
    assert state.priorities == {D.public: 0, A.public: 1, B.public: 1, C.public: 2}
    assert sorted(r.code for r in state.rejected) == [
        "governance.priorities", "governance.unknown_publisher"]


# --- equivocation ---------------------------------------------------------------------------


def test_equivocation_suspends_until_reinstated_and_a_new_fork_suspends_again() -> None:
    proof = PROOFS[2]  # C, heads of length 3
    state = authorisation_state(CHARTER, [], [proof])
    assert state.publishers[C.public] == PublisherStatus("suspended",
                                                         proof_id=equivocation_id(proof))
    assert state.proofs[C.public] == proof and not state.may_publish(C.public, 0)
    put = LogEntry(C.public, 0, Entry.put("memo:1", HASHES[1], 0), BODIES[1])
    view = merge_all([put], state.merge_policy())["memo:1"]
    assert view.displayed is None and view.history[0].status == "ignored_suspended"

    alone = decide(1, "reinstate_publisher", {"key": C.public, "through": 3}, F[0])
    assert authorisation_state(CHARTER, [alone], [proof]).publishers[C.public].state == \
        "suspended"
    back = decide(1, "reinstate_publisher", {"key": C.public, "through": 3}, F[0], F[1])
    state = authorisation_state(CHARTER, [back], [proof])
    assert state.publishers[C.public] == PublisherStatus("active") and not state.proofs
    assert merge_all([put], state.merge_policy())["memo:1"].displayed is not None
    # Every proof of the old fork has a head at most 3 long; a fork later is a new offence.
    later = longer_fork_proof(C, 5, 9)
    state = authorisation_state(CHARTER, [back], [proof, later])
    assert state.publishers[C.public].proof_id == equivocation_id(later)


def test_a_frozen_key_is_not_suspended_and_bad_proofs_are_reported() -> None:
    rotate = decide(1, "rotate_publisher", {"old": A.public, "new": B.public, "as_of": 1,
                                            "root": ROOT}, F[0], F[1])
    foreign = fork_proof(A, 2, dataset=bytes(32))
    state = authorisation_state(CHARTER, [rotate], [PROOFS[0], PROOFS[5], PROOFS[6], foreign])
    assert state.publishers[A.public].state == "rotated" and not state.proofs
    assert sorted(r.code for r in state.rejected) == sorted(
        ["governance.not_a_publisher", "equivocation.consistent", "head.wrong_dataset"])
    assert {r.kind for r in state.rejected} == {"equivocation"}


# --- erase ------------------------------------------------------------------------------------


def test_erase_needs_the_threshold_and_then_erases_every_copy() -> None:
    fields = {"record": "memo:1", "payload": HASHES[0], "reason": "a living relative asked"}
    entries = [
        LogEntry(A.public, 0, Entry.put("memo:1", HASHES[0], 1), BODIES[0]),
        LogEntry(C.public, 0, Entry.put("memo:1", HASHES[0], 2), BODIES[0]),
        LogEntry(C.public, 1, Entry.put("memo:2", HASHES[0], 2), BODIES[0]),
        # A seized publisher key tries to erase C's other version on its own.
        LogEntry(A.public, 1, Entry.erase("memo:1", HASHES[1], "seized", 3)),
        LogEntry(C.public, 2, Entry.put("memo:1", HASHES[1], 4), BODIES[1]),
    ]
    alone = authorisation_state(CHARTER, [decide(1, "erase", fields, F[2])])
    assert alone.erasures == frozenset()
    view = merge_all(entries, alone.merge_policy())["memo:1"]
    assert not any(h.erased for h in view.history)
    assert [h.status for h in view.history if h.entry.kind == "erase"] == ["erase_unauthorised"]

    state = authorisation_state(CHARTER, [decide(1, "erase", fields, F[2], F[1])])
    assert state.erasures == {("memo:1", HASHES[0])}
    views = merge_all(entries, state.merge_policy())
    erased = {(h.publisher, h.index) for h in views["memo:1"].history if h.erased}
    # Every put of that payload in that record, superseded ones too; C's current put differs.
    assert erased == {(A.public, 0), (C.public, 0)}
    shown = views["memo:1"].displayed
    assert shown is not None and (shown.publisher, shown.erased) == (A.public, True)
    assert shown.body is None
    assert views["memo:2"].displayed is not None and not views["memo:2"].displayed.erased


# --- the seized key, as a pure scenario -------------------------------------------------------


def record_body(n: int) -> dict[str, Any]:
    return {"surname": f"Фамилия{n}", "birth": str(1890 + n)}


def without_ignored(view: RecordView) -> RecordView:
    return replace(view, history=tuple(h for h in view.history
                                       if not h.status.startswith("ignored")))


def test_a_seized_key_is_visible_limited_and_reversible() -> None:
    records = 30
    log = PublisherLog(DS, A.public)
    for n in range(records):
        log.put(f"memo:{n}", record_body(n), 1000 + n)
    other = PublisherLog(DS, C.public)
    other.put("memo:0", record_body(0) | {"name": "Иван"}, 1000)
    pre_length, pre_root = log.length, log.tree.root()
    charter_state = authorisation_state(CHARTER, [])
    before = merge_all(log.log_entries() + other.log_entries(), charter_state.merge_policy())

    # The attack: everything retracted, some records "corrected", and a forked head for a mirror.
    for n in range(records):
        log.retract(f"memo:{n}", "запись ошибочна", 2000)
    for n in range(0, records, 3):
        log.put(f"memo:{n}", {"surname": "Враг народа"}, 2001)
    fork = PublisherLog(DS, A.public)
    for entry in log.entries[:pre_length]:
        fork.append(entry, log.payloads.get(entry.payload_hash or b""))
    for n in range(log.length - pre_length):
        fork.retract(f"memo:{n % records}", "другая история", 3000)
    proof = find_equivocation(log.sign(A, 9), fork.sign(A, 9))
    assert proof is not None
    entries = log.log_entries() + other.log_entries()

    attacked = merge_all(entries, charter_state.merge_policy())
    assert attacked["memo:1"].retracted and attacked["memo:1"].displayed is None
    forged = attacked["memo:3"].displayed
    assert forged is not None and forged.body == {"surname": "Враг народа"}
    assert attacked["memo:0"].displayed is not None  # C's version was never A's to retract
    assert "superseded" in {h.status for h in attacked["memo:1"].history}  # still in history
    suspended = authorisation_state(CHARTER, [], [proof])
    assert suspended.publishers[A.public].state == "suspended"

    # The founders, two of three, each signing offline: revoke, then rotate to a new key.
    revoke = decide(1, "revoke_publisher", {"key": A.public, "as_of": pre_length,
                                            "root": pre_root}, F[0])
    revoke = GovernanceEntry.from_bytes(revoke.to_bytes()).sign(F[2])
    rotate = decide(2, "rotate_publisher", {"old": A.public, "new": B.public,
                                            "as_of": pre_length, "root": pre_root}, F[1], F[2])
    attacker = decide(3, "reinstate_publisher", {"key": A.public, "through": 10**6}, F[0])
    state = authorisation_state(CHARTER, [attacker, rotate, revoke], [proof])
    assert state.applied == (revoke.id, rotate.id)
    assert [r.code for r in state.rejected] == ["governance.threshold"]
    assert state.publishers[A.public] == PublisherStatus("rotated", pre_length, pre_root,
                                                         to=B.public)
    assert state.pins[A.public] == Pin(pre_length, log.tree.root(pre_length))

    after = merge_all(entries, state.merge_policy())
    assert {rid: without_ignored(v) for rid, v in after.items()} == before
    attack = {(h.publisher, h.index, h.status) for v in after.values() for h in v.history
              if h.index >= pre_length and h.publisher == A.public}
    assert len(attack) == log.length - pre_length
    assert {s for _, _, s in attack} == {"ignored_revoked"}

    # The new key continues the same publisher: its put supersedes A's version of the record.
    new = PublisherLog(DS, B.public)
    new.put("memo:5", record_body(5) | {"name": "Пётр"}, 4000)
    later = merge_all(entries + new.log_entries(), state.merge_policy())
    shown = later["memo:5"].displayed
    assert shown is not None and (shown.publisher, shown.index) == (B.public, 0)
    assert later["memo:5"].alternatives == ()
    assert [(h.publisher, h.status) for h in later["memo:5"].history
            if h.index < pre_length or h.publisher == B.public] == [
        (A.public, "superseded"), (B.public, "current")]
    assert {rid: v for rid, v in later.items() if rid != "memo:5"} == \
        {rid: v for rid, v in after.items() if rid != "memo:5"}


# --- golden vectors -----------------------------------------------------------------------------

STORED: dict[str, Any] = json.loads(vectors.PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("section", sorted(STORED))
def test_we_still_produce_the_stored_vectors(section: str) -> None:
    assert vectors.build()[section] == STORED[section]


def test_stored_vectors_parse_verify_and_give_the_stored_state() -> None:
    charter = Charter.from_body(bytes.fromhex(STORED["charter"]["body"]))
    assert charter.dataset_id.hex() == STORED["charter"]["dataset_id"]
    parsed = []
    for case in STORED["entries"]:
        entry = GovernanceEntry.from_bytes(bytes.fromhex(case["signed"]))
        assert entry.body.body_bytes().hex() == case["body"]
        assert decode(bytes.fromhex(case["body"])) == from_json(case["body_value"])
        assert entry.id.hex() == case["id"] and entry.action == case["action"]
        assert sorted(k.hex() for k in entry.signers()) == case["signers"]
        parsed.append(entry)
    assert vectors.summary(authorisation_state(charter, parsed)) == STORED["state"]
