"""Governance in the store (issue 7, spec §13): the authorisation state drives the view.

The scenarios run against a real store: a seized key's vandalism undone by a revocation and a
rotation, a forged branch dropped for its pin, an equivocation suspending a publisher, and an
erasure that only the founders' threshold can make."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from samizdat_node.search.model import SearchQuery
from samizdat_node.store import Store
from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.entries import Entry
from samizdat_protocol.errors import (
    EquivocationError,
    LocalError,
    ProofError,
    UnauthorisedError,
)
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.signing import SigningKey

from .test_store_support import body, dump, log_batch, sign_prefix, view_table

F1, F2, F3 = (SigningKey.from_seed(bytes([0x21 + n]) * 32) for n in range(3))
A, B, C = (SigningKey.from_seed(bytes([0x31 + n]) * 32) for n in range(3))
OTHER = SigningKey.from_seed(b"\x41" * 32)
N = 40
NOW = 1_700_000_000_000


def _charter() -> SignedCharter:
    charter = Charter(name="governed", schema="memorial.victim/1",
                      founders=(F1.public, F2.public, F3.public), threshold=2,
                      publishers=(PublisherGrant(A.public, "A"),
                                  PublisherGrant(OTHER.public, "other")),
                      created=NOW)
    return SignedCharter(charter).sign(F1).sign(F2)


CHARTER = _charter()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.create(tmp_path / "s.sqlite", CHARTER, clock=lambda: NOW) as s:
        yield s


def decision(seq: int, action: str, fields: dict[str, Any],
             *signers: SigningKey) -> GovernanceEntry:
    entry = propose(CHARTER.dataset_id, seq, action, fields, NOW)
    for key in signers:
        entry = entry.sign(key)
    return entry


def a_log(n: int = N) -> PublisherLog:
    log = PublisherLog(CHARTER.dataset_id, A.public)
    for i in range(n):
        log.put(f"memo:{i}", body(i), 1000 + i)
    return log


def feed(store: Store, log: PublisherLog, key: SigningKey, start: int = 0) -> None:
    store.apply_batch(key.public, start, *log_batch(log, start, log.length), log.sign(key, 2))


def shown(store: Store) -> dict[str, Any]:
    """Every record's displayed body (or None), as a reader sees it."""
    rows = store.view_rows(record_ids=sorted(view_table(store)))
    return {row.record_id: (row.publisher, row.body, row.retracted) for row in rows}


def test_seized_key_undone_by_revocation_and_rotation(store: Store) -> None:
    log = a_log()
    feed(store, log, A)
    before_view, before_shown = view_table(store), shown(store)
    assert store.search(SearchQuery(text="Иванов", limit=100)).examined == N
    # The key is seized: every record retracted, one "corrected" with a forgery.
    for i in range(N):
        log.retract(f"memo:{i}", "vandalism", 9000)
    log.put("memo:0", body(0, "-forged"), 9001)
    feed(store, log, A, N)
    assert all(row[2] for rid, row in shown(store).items() if rid != "memo:0")
    assert not store.search(SearchQuery(text="Иванов")).hits[1:]
    # One founder alone decides nothing.
    revoke = decision(1, "revoke_publisher", {"key": A.public, "as_of": N,
                                              "root": log.tree.root(N)}, F1)
    result = store.add_governance(revoke.to_bytes())
    assert result.stored and not result.applied
    assert result.rejection is not None and result.rejection.code == "governance.threshold"
    assert shown(store) != before_shown
    # A second founder signs the same decision (another copy): it applies.
    entries_before = store.counts().entries
    result = store.add_governance(revoke.sign(F2).to_bytes())
    assert result.applied and result.remerged == N and result.dropped == ()
    assert view_table(store) == before_view and shown(store) == before_shown
    assert store.counts().entries == entries_before == 2 * N + 1  # nothing dropped, nothing
    assert store.refetch_needed() == []  # to fetch again
    assert store.search(SearchQuery(text="Иванов", limit=100)).examined == N
    history = store.history("memo:3")
    assert [item.status for item in history] == ["current", "ignored_revoked"]
    # Rotation to a new key: B continues A's identity; its later puts supersede A's.
    rotate = decision(2, "rotate_publisher", {"old": A.public, "new": B.public, "as_of": N,
                                              "root": log.tree.root(N)}, F2, F3)
    assert store.add_governance(rotate.to_bytes()).applied
    state = store.auth_state()
    assert state.publishers[A.public].state == "rotated"
    assert state.publishers[A.public].to == B.public
    standing = {row.key: row.extra for row in store.status()}
    assert standing[A.public] == {"state": "rotated", "as_of": N, "to": B.public}
    assert standing[B.public] == {"state": "active"}
    assert [e.id for e in store.governance_entries()] == [revoke.id, rotate.id]
    assert store.governance_entries()[0].signers() == {F1.public, F2.public}
    result_b = store.publish(B, [("memo:3", body(3, "-by-B"))], NOW)
    assert result_b.appended == 1
    view = store.record("memo:3")
    assert view is not None and view.displayed is not None
    assert view.displayed.publisher == B.public and view.displayed.body == body(3, "-by-B")
    assert shown(store)["memo:4"] == before_shown["memo:4"]
    # The frozen key can no longer publish here, and a stranger never could.
    with pytest.raises(LocalError) as err:
        store.publish(A, [("memo:1", body(1, "-again"))], NOW)
    assert err.value.code == "publish.rotated"
    stranger = PublisherLog(CHARTER.dataset_id, C.public)
    stranger.put("memo:1", body(1), 5)
    with pytest.raises(UnauthorisedError) as refused:
        feed(store, stranger, C)
    assert refused.value.code == "auth.not_a_publisher"
    assert store.verify().ok
    # Re-adding what is held changes nothing.
    before = dump(store.path)
    assert not store.add_governance(rotate.to_bytes()).stored
    assert dump(store.path) == before


def test_forged_branch_dropped_for_its_pin_and_fetched_again(store: Store) -> None:
    true = a_log()
    forged = PublisherLog(CHARTER.dataset_id, A.public)
    for entry in true.entries[:10]:
        forged.append(entry, true.payloads.get(entry.payload_hash or b""))
    for i in range(10, N + 5):
        forged.put(f"memo:{i}", body(i, "-forged"), 7000 + i)
    other = PublisherLog(CHARTER.dataset_id, OTHER.public)
    other.put("memo:1", body(1, "-other"), 5)
    feed(store, forged, A)
    feed(store, other, OTHER)
    revoke = decision(1, "revoke_publisher", {"key": A.public, "as_of": N,
                                              "root": true.tree.root(N)}, F1, F3)
    result = store.add_governance(revoke.to_bytes())
    assert result.applied and result.dropped == (A.public,)
    assert store.refetch_needed() == [(A.public, 0)]
    assert store.length(A.public) == 0 and store.head(A.public) is None
    table = view_table(store)
    assert set(table) == {"memo:1"} and table["memo:1"][0] == OTHER.public
    # The forged branch is refused at the pin; the true log is accepted and clears the mark.
    with pytest.raises(ProofError) as err:
        feed(store, forged, A)
    assert err.value.code == "governance.pin"
    store.apply_batch(A.public, 0, *log_batch(true, 0, 25), sign_prefix(true, A, N),
                      proof=true.tree.consistency_proof(25, N))
    assert store.refetch_needed() == [(A.public, 0)]  # the pin is not reached yet
    store.apply_batch(A.public, 25, *log_batch(true, 25, N), sign_prefix(true, A, N))
    assert store.refetch_needed() == []
    assert view_table(store)["memo:1"][0] == A.public  # charter priority: A first
    assert len(view_table(store)) == N and store.verify().ok


def test_equivocation_suspends_until_reinstated(store: Store) -> None:
    log = a_log(10)
    feed(store, log, A)
    other = PublisherLog(CHARTER.dataset_id, OTHER.public)
    other.put("memo:2", body(2, "-other"), 5)
    feed(store, other, OTHER)
    assert view_table(store)["memo:2"][0] == A.public
    fork = PublisherLog(CHARTER.dataset_id, A.public)
    for i in range(10):
        fork.put(f"memo:{i}", body(i, "-fork"), 3000)
    outcome = store.record_head(fork.sign(A, 3))
    assert outcome.status == "equivocation"
    state = store.auth_state()
    assert state.publishers[A.public].state == "suspended"
    table = view_table(store)
    assert table["memo:2"][0] == OTHER.public  # A's versions no longer count
    assert table["memo:5"] == (None, None, 0, 0)
    with pytest.raises(LocalError) as err:
        store.publish(A, [("memo:20", body(20))], NOW)
    assert err.value.code == "publish.suspended"
    # The same proof from gossip again is nothing new.
    assert store.equivocations() and not store.add_equivocation(store.equivocations()[0])
    reinstate = decision(1, "reinstate_publisher", {"key": A.public, "through": 10}, F1, F2)
    assert store.add_governance(reinstate.to_bytes()).applied
    assert store.auth_state().publishers[A.public].state == "active"
    assert view_table(store)["memo:2"][0] == A.public
    # A fork that contradicts a batch while applying it suspends too.
    fork2 = a_log(10)
    fork2.put("memo:77", body(77), 1)
    evil = a_log(10)
    evil.put("memo:78", body(78), 2)
    feed(store, fork2, A, 10)
    with pytest.raises(EquivocationError):
        feed(store, evil, A, 10)
    assert store.auth_state().publishers[A.public].state == "suspended"
    assert view_table(store)["memo:77"] == (None, None, 0, 0)


def test_erasure_needs_the_threshold(store: Store) -> None:
    log = a_log(3)
    secret = log.entries[1].payload_hash
    assert secret is not None
    log.append(Entry.erase("memo:1", secret, "the family asked", 5000))
    feed(store, log, A)
    # The publisher's erase entry (a seized key could write one) erases nothing.
    assert store.payload(secret, "memo:1") is not None
    assert store.search(SearchQuery(text="Иванов", limit=10)).examined == 3
    approval = decision(1, "erase", {"record": "memo:1", "payload": secret,
                                     "reason": "the family asked"}, F3)
    result = store.add_governance(approval.to_bytes())
    assert not result.applied and store.payload(secret, "memo:1") is not None
    result = store.add_governance(approval.sign(F1).to_bytes())
    assert result.applied
    assert store.payload(secret, "memo:1") is None
    view = store.record("memo:1")
    assert view is not None and view.displayed is not None and view.displayed.erased
    assert store.search(SearchQuery(text="Иванов", limit=10)).examined == 2
    # A peer that still sends the erased payload: stored without it all the same.
    with Store.create(store.path.with_name("m.sqlite"), CHARTER, clock=lambda: NOW) as mirror:
        mirror.add_governance(store.governance_entries()[0].to_bytes())
        feed(mirror, log, A)
        assert mirror.payload(secret, "memo:1") is None
        assert view_table(mirror) == view_table(store)
    assert store.verify().ok


def test_added_publisher_and_refused_entries(store: Store) -> None:
    log = PublisherLog(CHARTER.dataset_id, C.public)
    log.put("memo:1", body(1, "-C"), 5)
    with pytest.raises(UnauthorisedError):
        feed(store, log, C)
    add = decision(1, "add_publisher", {"key": C.public, "name": "C"}, F1, F2)
    assert store.add_governance(add.to_bytes()).applied
    feed(store, log, C)
    assert view_table(store)["memo:1"][0] == C.public
    # Entries naming another dataset, or signed by no founder, are refused outright.
    stray = propose(b"\x01" * 32, 2, "add_publisher", {"key": B.public, "name": "B"}, NOW)
    with pytest.raises(Exception) as err:
        store.add_governance(stray.sign(F1).to_bytes())
    assert getattr(err.value, "code", None) == "governance.wrong_dataset"
    unsigned = decision(2, "add_publisher", {"key": B.public, "name": "B"}, A)
    with pytest.raises(UnauthorisedError) as refused:
        store.add_governance(unsigned.to_bytes())
    assert refused.value.code == "governance.unsigned"


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    log = a_log(5)
    with Store.create(path, CHARTER, clock=lambda: NOW) as store:
        feed(store, log, A)
        revoke = decision(1, "revoke_publisher", {"key": A.public, "as_of": 2,
                                                  "root": log.tree.root(2)}, F1, F2)
        store.add_governance(revoke.to_bytes())
        table = view_table(store)
    with Store.open(path) as again:
        assert again.auth_state().publishers[A.public].state == "revoked"
        assert view_table(again) == table
        assert [rid for rid, row in table.items() if row[0] is not None] == ["memo:0", "memo:1"]
        # Another process adds a decision: this one sees it on its next call.
        with Store.open(path) as writer:
            add = decision(2, "add_publisher", {"key": C.public, "name": "C"}, F1, F3)
            writer.add_governance(add.to_bytes())
        assert C.public in again.auth_state().publishers


def _ops() -> list[tuple[str, Any]]:
    """A's log in three batches, OTHER's log, and three decisions, in a fixed order."""
    log = a_log(12)
    for i in range(4):
        log.retract(f"memo:{i}", "vandalism", 9000)
    other = PublisherLog(CHARTER.dataset_id, OTHER.public)
    other.put("memo:2", body(2, "-other"), 5)
    other.put("memo:30", body(30, "-other"), 6)
    secret = log.entries[5].payload_hash
    decisions = [
        decision(1, "revoke_publisher", {"key": A.public, "as_of": 12,
                                         "root": log.tree.root(12)}, F1, F2),
        decision(2, "erase", {"record": "memo:5", "payload": secret, "reason": "safety"},
                 F2, F3),
        decision(3, "set_priorities", {"order": [OTHER.public]}, F1, F3),
    ]
    batches = [(A, log, 0, 5), (A, log, 5, 12), (A, log, 12, 16), (OTHER, other, 0, 2)]
    return ([("batch", b) for b in batches] + [("gov", d.to_bytes()) for d in decisions])


OPS = _ops()


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(len(OPS))))
@example(list(range(len(OPS))))
@example(list(reversed(range(len(OPS)))))
def test_any_order_of_entries_and_decisions_gives_one_view(order: list[int]) -> None:
    """The law of issue 7 in the store: the same entries and decisions, in any order (a
    batch that arrives before its predecessor waits for it), give the same view."""
    views = []
    for sequence in (range(len(OPS)), order):
        with tempfile.TemporaryDirectory() as tmp, \
                Store.create(Path(tmp) / "s.sqlite", CHARTER, clock=lambda: NOW) as s:
            waiting = [OPS[n] for n in sequence]
            while waiting:
                kind, op = waiting.pop(0)
                if kind == "gov":
                    s.add_governance(op)
                    continue
                key, log, start, end = op
                if s.length(key.public) < start:
                    waiting.append((kind, op))
                    continue
                s.apply_batch(key.public, start, *log_batch(log, start, end),
                              sign_prefix(log, key, end))
            views.append((view_table(s), shown(s), s.counts()))
            assert s.verify().ok
    assert views[0] == views[1]
