"""Laws of the merge view (design §3), checked against a naive reference written separately.

Replicas are drawn as small op lists per publisher, with few records, bodies and timestamps, so
that ties in priority and timestamp, shared payloads and cross-publisher erases are common.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_protocol import encoding, hashing
from samizdat_protocol.entries import Entry, LogEntry
from samizdat_protocol.errors import LocalError
from samizdat_protocol.merge import (
    MergePolicy,
    RecordView,
    Retraction,
    Version,
    merge_all,
    merge_record,
)

# Key bytes deliberately out of step with list position, so key order != draw order.
KEYS = [bytes([b]) * 32 for b in (0x30, 0x10, 0x40, 0x20)]
RECORDS = ["memo:1", "memo:2", "memo:3"]
BODIES: list[dict[str, Any]] = [
    {"surname": "Иванов", "born": 1901}, {"surname": "Петров"}, {"surname": "Иванов"}]
HASHES = [hashing.hash_payload(encoding.encode(b)) for b in BODIES]

# An op is ("put", record, body, ts) | ("retract", record, ts) | ("erase", record, target, ts).
Op = tuple[Any, ...]
Logs = dict[int, list[Op]]  # publisher number -> its log, index = list position
PolicySpec = tuple[dict[int, int], dict[int, int], frozenset[int]]

ts_st = st.integers(0, 2)
op_st = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 2), st.integers(0, 2), ts_st),
    st.tuples(st.just("retract"), st.integers(0, 2), ts_st),
    st.tuples(st.just("erase"), st.integers(0, 2), st.integers(0, 2), ts_st),
)
logs_st = st.dictionaries(st.integers(0, 3), st.lists(op_st, max_size=8), max_size=4)
policy_st = st.tuples(
    st.dictionaries(st.integers(0, 3), st.integers(0, 2), max_size=4),
    st.dictionaries(st.integers(0, 3), st.integers(0, 8), max_size=2),
    st.frozensets(st.integers(0, 3), max_size=2),
)


def make_entry(op: Op) -> tuple[Entry, dict[str, Any] | None]:
    record = RECORDS[op[1]]
    if op[0] == "put":
        return Entry.put(record, HASHES[op[2]], op[3]), dict(BODIES[op[2]])
    if op[0] == "retract":
        return Entry.retract(record, "duplicate of another record", op[2]), None
    return Entry.erase(record, HASHES[op[2]], "safety of a living person", op[3]), None


def build(logs: Logs) -> list[LogEntry]:
    out = []
    for pub, ops in logs.items():
        for index, op in enumerate(ops):
            entry, body = make_entry(op)
            out.append(LogEntry(KEYS[pub], index, entry, body))
    return out


def make_policy(spec: PolicySpec, **changes: Any) -> MergePolicy:
    prio, revoked, suspended = spec
    policy = MergePolicy(priorities={KEYS[p]: n for p, n in prio.items()},
                         revoked_after={KEYS[p]: n for p, n in revoked.items()},
                         suspended=frozenset(KEYS[p] for p in suspended))
    return replace(policy, **changes) if changes else policy


def visible(view: RecordView) -> tuple[Any, ...]:
    """Everything a reader sees by default: the view without its history."""
    return view.displayed, view.alternatives, view.retractions, view.retracted


def is_empty(view: RecordView) -> bool:
    return view.displayed is None and not view.retractions and not view.retracted


# --- the naive reference: rules of merge.py's docstring, written without looking at _merge_one -


def reference(entries: Iterable[LogEntry], policy: MergePolicy) -> dict[str, dict[str, Any]]:
    unique: dict[tuple[bytes, int], LogEntry] = {}
    for e in entries:
        if (e.publisher, e.index) not in unique or e.body is not None:
            unique[(e.publisher, e.index)] = e
    out = {}
    history_order = history_order_for(policy)
    for rid in {e.entry.record_id for e in unique.values()}:
        mine = [e for e in unique.values() if e.entry.record_id == rid]

        def counts(e: LogEntry) -> bool:
            limit = policy.revoked_after.get(e.publisher)
            return (limit is None or e.index < limit) and e.publisher not in policy.suspended

        ok = [e for e in mine if counts(e)]
        targets = set()
        in_effect = set()
        for er in ok:
            if er.entry.kind == "erase" and any(
                    p.entry.kind == "put" and p.publisher == er.publisher
                    and p.entry.payload_hash == er.entry.target for p in ok):
                targets.add(er.entry.target)
                in_effect.add((er.publisher, er.index))
        latest: dict[bytes, LogEntry] = {}
        for e in sorted((e for e in ok if e.entry.kind != "erase"), key=lambda e: e.index):
            latest[e.publisher] = e  # later index overwrites

        def before(a: LogEntry, b: LogEntry) -> int:
            pa, pb = policy.priorities.get(a.publisher), policy.priorities.get(b.publisher)
            if pa != pb:
                if pa is None:
                    return 1
                if pb is None:
                    return -1
                return -1 if pa < pb else 1
            if a.entry.timestamp != b.entry.timestamp:
                return -1 if a.entry.timestamp > b.entry.timestamp else 1
            return -1 if a.publisher < b.publisher else 1

        puts = sorted((e for e in latest.values() if e.entry.kind == "put"),
                      key=functools.cmp_to_key(before))
        rets = sorted((e for e in latest.values() if e.entry.kind == "retract"),
                      key=functools.cmp_to_key(before))
        out[rid] = {
            "versions": [(e.publisher, e.index, e.entry.payload_hash in targets,
                          None if e.entry.payload_hash in targets else e.body) for e in puts],
            "retractions": [(e.publisher, e.index) for e in rets],
            "retracted": not puts and bool(rets),
            "targets": targets,
            "history": [(e.publisher, e.index, status(e, latest, in_effect, policy))
                        for e in sorted(mine, key=functools.cmp_to_key(history_order))],
        }
    return out


def status(e: LogEntry, latest: dict[bytes, LogEntry], in_effect: set[tuple[bytes, int]],
           policy: MergePolicy) -> str:
    limit = policy.revoked_after.get(e.publisher)
    if limit is not None and e.index >= limit:
        return "ignored_revoked"
    if e.publisher in policy.suspended:
        return "ignored_suspended"
    if e.entry.kind == "erase":
        return "erase" if (e.publisher, e.index) in in_effect else "erase_unauthorised"
    if latest[e.publisher].index != e.index:
        return "superseded"
    return "current" if e.entry.kind == "put" else "retracted"


def history_order_for(policy: MergePolicy) -> Any:
    def order(a: LogEntry, b: LogEntry) -> int:
        big = float("inf")
        pa = policy.priorities.get(a.publisher, big)
        pb = policy.priorities.get(b.publisher, big)
        if pa != pb:
            return -1 if pa < pb else 1
        return -1 if (a.publisher, a.index) < (b.publisher, b.index) else 1
    return order


# --- laws ---------------------------------------------------------------------------------


@given(logs_st, policy_st, st.randoms(use_true_random=False),
       st.lists(st.integers(0, 100), max_size=12))
@example({0: [("put", 0, 0, 1)], 1: [("put", 0, 1, 1)]}, ({}, {}, frozenset()),
         random.Random(0), [0, 1, 1])
@example({0: [("put", 0, 0, 0), ("retract", 0, 0)]}, ({}, {}, frozenset()), random.Random(1), [])
def test_order_and_duplicates_do_not_change_the_view(
        logs: Logs, spec: PolicySpec, rng: random.Random, dups: list[int]) -> None:
    entries = build(logs)
    policy = make_policy(spec)
    shuffled = list(entries)
    if entries:
        # Duplicates arrive with and without their body (a header fetched before its payload).
        for n, i in enumerate(dups):
            copy = entries[i % len(entries)]
            shuffled.append(copy if n % 2 else replace(copy, body=None))
    rng.shuffle(shuffled)
    assert merge_all(shuffled, policy) == merge_all(entries, policy)


@given(logs_st, policy_st)
@example({0: [("put", 1, 0, 0), ("put", 0, 0, 0)]}, ({}, {}, frozenset()))
def test_merge_all_is_merge_record_per_record(logs: Logs, spec: PolicySpec) -> None:
    entries = build(logs)
    policy = make_policy(spec)
    views = merge_all(entries, policy)
    assert set(views) == {e.entry.record_id for e in entries}
    assert list(views) == sorted(views)
    for rid in RECORDS:
        assert merge_record(rid, entries, policy) == views.get(rid)


@given(logs_st, policy_st)
@example({1: [("put", 0, 0, 0)], 0: [("put", 0, 1, 0)]}, ({}, {}, frozenset()))
@example({0: [("put", 0, 0, 2)], 1: [("put", 0, 1, 1)]}, ({}, {}, frozenset()))
@example({0: [("put", 0, 0, 0), ("erase", 0, 0, 0)], 1: [("put", 0, 0, 2)]},
         ({1: 0}, {}, frozenset()))
@example({2: [("put", 0, 0, 0)], 3: [("put", 0, 0, 0)]}, ({2: 0, 3: 1}, {}, frozenset()))
@example({1: [("retract", 1, 0)], 2: [("retract", 1, 0)]}, ({1: 0, 2: 1}, {}, frozenset([1])))
@example({0: [("erase", 0, 0, 0)], 1: [("put", 0, 0, 0), ("retract", 0, 0)]},
         ({}, {}, frozenset()))
@example({0: [("put", 0, 0, 0)], 1: [("erase", 0, 0, 0)]}, ({}, {}, frozenset()))
@example({0: [("put", 0, 1, 0), ("erase", 0, 0, 0)], 1: [("put", 0, 0, 0)]},
         ({}, {}, frozenset()))
def test_view_matches_the_naive_reference(logs: Logs, spec: PolicySpec) -> None:
    entries = build(logs)
    policy = make_policy(spec)
    ref = reference(entries, policy)
    views = merge_all(entries, policy)
    assert set(views) == set(ref)
    for rid, view in views.items():
        want = ref[rid]
        shown = [v for v in (view.displayed, *view.alternatives) if v is not None]
        assert [(v.publisher, v.index, v.erased, v.body) for v in shown] == want["versions"]
        assert [(r.publisher, r.index) for r in view.retractions] == want["retractions"]
        assert view.retracted == want["retracted"]
        assert [(h.publisher, h.index, h.status) for h in view.history] == want["history"]
        erased = {(h.publisher, h.index) for h in view.history if h.erased}
        assert erased == {(h.publisher, h.index) for h in view.history
                          if h.entry.payload_hash in want["targets"]}


@given(logs_st, policy_st, st.integers(0, 3), st.integers(0, 8),
       st.lists(op_st, min_size=1, max_size=6))
@example({0: [("put", 0, 0, 0)], 1: [("put", 0, 1, 0)]}, ({}, {}, frozenset()), 1, 1,
         [("retract", 0, 0), ("erase", 0, 0, 0)])
def test_entries_after_revocation_change_nothing(
        logs: Logs, spec: PolicySpec, pub: int, cut: int, extra: list[Op]) -> None:
    logs.setdefault(pub, [])
    cut = min(cut, len(logs[pub]))
    policy = make_policy((spec[0], {**spec[1], pub: cut}, spec[2]))
    base = merge_all(build(logs), policy)
    added = {(KEYS[pub], len(logs[pub]) + i) for i in range(len(extra))}
    grown = merge_all(build({**logs, pub: logs[pub] + extra}), policy)
    for rid, view in grown.items():
        kept = tuple(h for h in view.history if (h.publisher, h.index) not in added)
        if rid in base:
            assert replace(view, history=kept) == base[rid]
        else:
            assert is_empty(view) and not kept
            assert {h.status for h in view.history} == {"ignored_revoked"}


@given(logs_st, policy_st, st.integers(0, 3), st.integers(0, 8))
def test_revocation_is_truncation_of_the_log(
        logs: Logs, spec: PolicySpec, pub: int, cut: int) -> None:
    revoked = make_policy((spec[0], {**spec[1], pub: cut}, spec[2]))
    rest = {k: v for k, v in spec[1].items() if k != pub}
    truncated = make_policy((spec[0], rest, spec[2]))
    full = merge_all(build(logs), revoked)
    short = merge_all(build({**logs, pub: logs.get(pub, [])[:cut]}), truncated)
    for rid, view in full.items():
        if rid in short:
            assert visible(view) == visible(short[rid])
        else:
            assert is_empty(view)


@given(logs_st, policy_st, st.integers(0, 3))
def test_suspension_hides_exactly_that_publisher(logs: Logs, spec: PolicySpec, pub: int) -> None:
    suspended = merge_all(build(logs), make_policy((spec[0], spec[1], spec[2] | {pub})))
    without = merge_all(build({k: v for k, v in logs.items() if k != pub}),
                        make_policy((spec[0], spec[1], spec[2] - {pub})))
    for rid, view in suspended.items():
        assert visible(view) == (visible(without[rid]) if rid in without else
                                 (None, (), (), False))
        # Still kept in history, marked (unless revocation already explains it).
        for h in view.history:
            if h.publisher == KEYS[pub] and h.status != "ignored_revoked":
                assert h.status == "ignored_suspended"


@given(logs_st, policy_st, st.integers(0, 3), st.integers(0, 2), ts_st)
@example({0: [("put", 0, 0, 0)], 1: [("put", 0, 0, 0)]}, ({}, {}, frozenset()), 1, 0, 0)
def test_a_retraction_never_hides_another_publishers_put(
        logs: Logs, spec: PolicySpec, pub: int, rec: int, ts: int) -> None:
    policy = make_policy(spec)
    before = merge_all(build(logs), policy)
    logs = {**logs, pub: [*logs.get(pub, []), ("retract", rec, ts)]}
    after = merge_all(build(logs), policy)
    rid = RECORDS[rec]
    for r, view in after.items():
        if r != rid:
            assert view == before[r]
            continue
        others_before = [v for v in versions(before.get(rid)) if v.publisher != KEYS[pub]]
        others_after = [v for v in versions(view) if v.publisher != KEYS[pub]]
        assert others_after == others_before
        counts = policy.ignored_status(KEYS[pub], len(logs[pub]) - 1) is None
        if counts:
            assert KEYS[pub] not in {v.publisher for v in versions(view)}
            assert KEYS[pub] in {r.publisher for r in view.retractions}
        if others_after:
            assert not view.retracted and view.displayed is not None


def versions(view: RecordView | None) -> list[Version]:
    if view is None or view.displayed is None:
        return []
    return [view.displayed, *view.alternatives]


@given(logs_st, policy_st)
@example({0: [("put", 0, 0, 0), ("erase", 0, 0, 0)], 1: [("put", 0, 0, 0), ("put", 0, 1, 0)],
          2: [("put", 0, 1, 1), ("erase", 0, 1, 1)]}, ({}, {}, frozenset()))
def test_erase_affects_only_versions_with_that_payload(logs: Logs, spec: PolicySpec) -> None:
    policy = make_policy(spec)
    entries = build(logs)
    ref = reference(entries, policy)
    with_erases = merge_all(entries, policy)
    no_erases = merge_all([e for e in entries if e.entry.kind != "erase"], policy)
    for rid, view in with_erases.items():
        plain = no_erases.get(rid)
        assert view.retractions == (plain.retractions if plain else ())
        assert view.retracted == (plain.retracted if plain else False)
        got, base = versions(view), versions(plain)
        assert [(v.publisher, v.index, v.entry) for v in got] == \
            [(v.publisher, v.index, v.entry) for v in base]
        for v, b in zip(got, base, strict=True):
            if v.entry.payload_hash in ref[rid]["targets"]:
                assert v.erased and v.body is None
            else:
                assert v == b


@given(logs_st, policy_st)
def test_erase_authorised_callback_decides(logs: Logs, spec: PolicySpec) -> None:
    entries = build(logs)
    counted = make_policy(spec)
    never = merge_all(entries, make_policy(spec, erase_authorised=lambda e: False))
    always = merge_all(entries, make_policy(spec, erase_authorised=lambda e: True))
    plain = merge_all([e for e in entries if e.entry.kind != "erase"], make_policy(spec))
    for rid, view in never.items():
        assert visible(view) == (visible(plain[rid]) if rid in plain else (None, (), (), False))
        assert "erase" not in {h.status for h in view.history}
    for rid, view in always.items():
        targets = {e.entry.target for e in entries if e.entry.kind == "erase"
                   and e.entry.record_id == rid
                   and counted.ignored_status(e.publisher, e.index) is None}
        for v in versions(view):
            assert v.erased == (v.entry.payload_hash in targets)


# --- worked examples: each rule once, readable ---------------------------------------------

A, B, C = KEYS[0], KEYS[1], KEYS[2]  # key order: B < A < C
REC = RECORDS[0]


def put(pub: bytes, index: int, body: int, ts: int = 0) -> LogEntry:
    return LogEntry(pub, index, Entry.put(REC, HASHES[body], ts), dict(BODIES[body]))


def retract(pub: bytes, index: int, ts: int = 0) -> LogEntry:
    return LogEntry(pub, index, Entry.retract(REC, "merged into memo:9", ts))


def erase(pub: bytes, index: int, body: int) -> LogEntry:
    return LogEntry(pub, index, Entry.erase(REC, HASHES[body], "living relative asked", 0))


def view_of(entries: list[LogEntry], policy: MergePolicy) -> RecordView:
    view = merge_record(REC, entries, policy)
    assert view is not None
    return view


def test_priority_then_later_timestamp_then_smaller_key() -> None:
    entries = [put(A, 0, 0, ts=5), put(B, 0, 1, ts=9), put(C, 0, 2, ts=9)]
    # Priority first: A (0) is shown although B's put is later.
    view = view_of(entries, MergePolicy({A: 0, B: 1, C: 1}))
    assert [v.publisher for v in versions(view)] == [A, B, C]
    # Equal priority: later timestamp, then smaller key (B < C); unknown keys come last.
    view = view_of(entries, MergePolicy({C: 0}))
    assert [v.publisher for v in versions(view)] == [C, B, A]
    view = view_of(entries, MergePolicy({}))
    assert [v.publisher for v in versions(view)] == [B, C, A]


def test_latest_in_log_order_wins_within_a_publisher() -> None:
    # Timestamps go backwards; log order still decides.
    view = view_of([put(A, 3, 0, ts=9), put(A, 7, 1, ts=1)], MergePolicy({A: 0}))
    assert view.displayed is not None and view.displayed.index == 7
    assert [h.status for h in view.history] == ["superseded", "current"]


def test_retraction_hides_only_its_publisher_and_retracted_needs_all() -> None:
    policy = MergePolicy({A: 0, B: 1})
    view = view_of([put(A, 0, 0), retract(A, 1, ts=4), put(B, 0, 1)], policy)
    assert versions(view)[0].publisher == B and not view.retracted
    assert view.retractions == (Retraction(A, 1, "merged into memo:9", 4),)
    view = view_of([put(A, 0, 0), retract(A, 1), retract(B, 0)], policy)
    assert view.displayed is None and view.retracted
    assert [h.status for h in view.history] == ["superseded", "retracted", "retracted"]
    # A later put by the retracting publisher revives its version.
    view = view_of([put(A, 0, 0), retract(A, 1), put(A, 2, 1)], policy)
    assert view.displayed is not None and view.displayed.index == 2 and not view.retractions


def test_seized_key_after_revocation_cannot_retract_or_erase() -> None:
    policy = MergePolicy({A: 0, B: 1}, revoked_after={A: 1})
    entries = [put(A, 0, 0), retract(A, 1), erase(A, 2, 0), put(B, 0, 0)]
    view = view_of(entries, policy)
    assert [(v.publisher, v.erased) for v in versions(view)] == [(A, False), (B, False)]
    assert [h.status for h in view.history] == [
        "current", "ignored_revoked", "ignored_revoked", "current"]


def test_erase_drops_every_copy_of_the_payload_and_keeps_the_header() -> None:
    policy = MergePolicy({A: 0, B: 1, C: 2})
    entries = [put(A, 0, 0), erase(A, 1, 0), put(B, 0, 0), put(C, 0, 1)]
    view = view_of(entries, policy)
    assert [(v.publisher, v.erased, v.body) for v in versions(view)] == [
        (A, True, None), (B, True, None), (C, False, BODIES[1])]
    assert view.displayed is not None and view.displayed.entry.payload_hash == HASHES[0]
    # C never put payload 0: its erase is not in effect under the default rule.
    view = view_of([put(A, 0, 0), erase(C, 0, 0)], policy)
    assert view.displayed is not None and not view.displayed.erased
    assert [h.status for h in view.history] == ["current", "erase_unauthorised"]


def test_a_held_body_survives_a_bodiless_copy() -> None:
    full = put(A, 0, 0)
    view = view_of([replace(full, body=None), full], MergePolicy({}))
    assert view.displayed is not None and view.displayed.body == BODIES[0]


@pytest.mark.parametrize("other", [
    LogEntry(A, 0, Entry.put(REC, HASHES[1], 0), dict(BODIES[1])),
    LogEntry(A, 0, Entry.put(RECORDS[1], HASHES[0], 0), dict(BODIES[0])),
    LogEntry(A, 0, Entry.put(REC, HASHES[0], 0), {"surname": "forged"}),
])
def test_two_different_entries_at_one_position_are_refused(other: LogEntry) -> None:
    for entries in ([put(A, 0, 0), other], [other, put(A, 0, 0)]):
        with pytest.raises(LocalError) as info:
            merge_all(entries, MergePolicy({}))
        assert info.value.code == "merge.conflicting_duplicate"
        with pytest.raises(LocalError):
            merge_record(REC, entries, MergePolicy({}))


def test_no_entries_no_view_and_policy_is_checked() -> None:
    assert merge_record(REC, [put(A, 0, 0)], MergePolicy({})) is not None
    assert merge_record(RECORDS[1], [put(A, 0, 0)], MergePolicy({})) is None
    assert merge_all([], MergePolicy({})) == {}
    for bad in ({"priorities": {A: True}}, {"priorities": {}, "revoked_after": {A: -1}}):
        with pytest.raises(LocalError) as info:
            MergePolicy(**bad)
        assert info.value.code == "merge.policy"


def test_policy_is_frozen_against_later_mutation() -> None:
    prio: dict[bytes, int] = {A: 1, B: 0}
    policy = MergePolicy(prio)
    prio[A] = -5
    assert policy.rank(A) == (0, 1)
    assert isinstance(policy.priorities, Mapping)


# --- identities (rotation) and the governance erase rule (spec §13) ----------------------------


def relabel(view: RecordView, old: bytes, new: bytes, offset: int) -> RecordView:
    """``view`` with the new key's positions written as positions in the old key's log, and
    without the old key's entries after the rotation point (the one log never had them)."""
    def move(item: Any) -> Any:
        if item is None or item.publisher != new:
            return item
        return replace(item, publisher=old, index=offset + item.index)

    return replace(
        view,
        displayed=move(view.displayed),
        alternatives=tuple(move(v) for v in view.alternatives),
        retractions=tuple(move(r) for r in view.retractions),
        history=tuple(move(h) for h in view.history
                      if h.status != "ignored_revoked" or h.publisher not in (old, new)),
    )


@given(logs_st, policy_st, st.integers(0, 3), st.integers(0, 3), st.integers(0, 9),
       st.randoms(use_true_random=False))
@example({0: [("put", 0, 0, 0), ("put", 0, 1, 0)], 1: [("put", 0, 2, 0)]},
         ({0: 1, 1: 0}, {}, frozenset()), 0, 1, 1, random.Random(0))
@example({0: [("put", 0, 0, 0)], 1: [("erase", 0, 0, 0)], 2: [("put", 0, 1, 5)]},
         ({}, {}, frozenset()), 0, 1, 1, random.Random(0))
def test_a_rotated_identity_merges_as_one_concatenated_log(
        logs: Logs, spec: PolicySpec, old: int, new: int, cut: int, rng: random.Random) -> None:
    if old == new:
        return
    prio, revoked, suspended = spec
    revoked = {k: v for k, v in revoked.items() if k not in (old, new)}
    suspended = suspended - {old, new}
    prio = {k: v for k, v in prio.items() if k != new}  # rank is looked up by identity
    old_log, new_log = logs.get(old, []), logs.get(new, [])
    rotated = make_policy((prio, {**revoked, old: cut}, suspended),
                          identities={KEYS[new]: (KEYS[old], 1)})
    entries = build(logs)
    rng.shuffle(entries)
    got = merge_all(entries, rotated)
    one_log = {k: v for k, v in logs.items() if k != new}
    one_log[old] = old_log[:cut] + new_log
    want = merge_all(build(one_log), make_policy((prio, revoked, suspended)))
    offset = min(cut, len(old_log))
    for rid, view in got.items():
        moved = relabel(view, KEYS[old], KEYS[new], offset)
        if rid in want:
            assert moved == want[rid]
        else:
            assert is_empty(view) and moved.history == ()


@given(logs_st, policy_st, st.frozensets(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                         max_size=3))
@example({0: [("put", 0, 0, 0), ("erase", 0, 0, 0)]}, ({}, {}, frozenset()), frozenset())
@example({0: [("put", 0, 0, 0)], 1: [("put", 0, 0, 0), ("put", 0, 1, 0)]},
         ({}, {}, frozenset()), frozenset({(0, 0)}))
def test_governance_erase_rule_erases_exactly_the_approved_payloads(
        logs: Logs, spec: PolicySpec, approved_at: frozenset[tuple[int, int]]) -> None:
    approved = frozenset((RECORDS[r], HASHES[b]) for r, b in approved_at)
    policy = make_policy(spec, approved_erasures=approved)
    entries = build(logs)
    views = merge_all(entries, policy)
    plain = merge_all([e for e in entries if e.entry.kind != "erase"], make_policy(spec))
    for rid, view in views.items():
        for h in view.history:
            if h.entry.kind == "put":
                # With or without an erase entry in any log; a publisher's own erase alone
                # (a seized key) erases nothing.
                assert h.erased == ((rid, h.entry.payload_hash) in approved)
            elif h.entry.kind == "erase" and not h.status.startswith("ignored"):
                want = "erase" if (rid, h.entry.target) in approved else "erase_unauthorised"
                assert h.status == want
        base = plain.get(rid)
        assert view.retractions == (base.retractions if base else ())
        got, ref = versions(view), versions(base)
        assert [(v.publisher, v.index, v.entry) for v in got] == \
            [(v.publisher, v.index, v.entry) for v in ref]
        for v, b in zip(got, ref, strict=True):
            assert v.erased == ((rid, v.entry.payload_hash) in approved)
            assert v.body == (None if v.erased else b.body)


@pytest.mark.parametrize("identities", [
    {A: (B, 0)},  # generation 0 is the identity itself
    {A: (A, 1)},
    {A: (C, 1), B: (C, 1)},  # one place in the chain, two keys
    {A: (C, -1)},
    {A: C},
])
def test_identities_are_checked(identities: Any) -> None:
    with pytest.raises(LocalError) as info:
        MergePolicy({}, identities=identities)
    assert info.value.code == "merge.policy"


def test_a_successor_key_supersedes_and_keeps_its_identitys_place() -> None:
    policy = MergePolicy({A: 0, B: 1}, revoked_after={A: 2}, identities={C: (A, 1)})
    entries = [put(A, 0, 0, ts=9), retract(A, 2), put(B, 0, 1, ts=5), put(C, 0, 2, ts=1)]
    view = view_of(entries, policy)
    # C speaks for A: shown first (A's priority), though its put is older than B's.
    assert [(v.publisher, v.index) for v in versions(view)] == [(C, 0), (B, 0)]
    assert [(h.publisher, h.status) for h in view.history] == [
        (A, "superseded"), (A, "ignored_revoked"), (C, "current"), (B, "current")]
