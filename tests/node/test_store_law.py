"""The view law (design §3): the same verified batches from several publishers, applied in any
order, give the same view table and search rows, and both equal merge_all over all entries."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from samizdat_protocol.entries import Entry, LogEntry, decode_payload
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.merge import MergePolicy, merge_all

from .test_store_support import CHARTER, KEYS, body, log_batch, new_store, view_table

# One op of one publisher: (kind, record number, variant)
ops = st.tuples(st.sampled_from(["put", "put", "put", "retract", "erase"]),
                st.integers(0, 4), st.integers(0, 2))
plans = st.lists(st.lists(ops, max_size=8), min_size=2, max_size=3)


def build_logs(plan: list[list[tuple[str, int, int]]]) -> list[PublisherLog]:
    logs = []
    for p, steps in enumerate(plan):
        key = KEYS[p]
        log = PublisherLog(CHARTER.dataset_id, key.public)
        last_put: dict[str, bytes] = {}
        for t, (kind, n, variant) in enumerate(steps):
            rid = f"memo:{n}"
            ts = 1000 + (t * 7 + p * 3) % 11  # colliding timestamps exercise the tie-breaks
            if kind == "put":
                entry = log.put(rid, body(n, f"-{variant}"), ts)
                assert entry.payload_hash is not None
                last_put[rid] = entry.payload_hash
            elif kind == "retract":
                log.retract(rid, "withdrawn", ts)
            elif rid in last_put:
                log.append(Entry.erase(rid, last_put[rid], "privacy", ts))
        logs.append(log)
    return logs


def batches_of(log: PublisherLog, cuts: list[int]) -> list[tuple[int, int]]:
    points = sorted({c % (log.length + 1) for c in cuts} | {0, log.length})
    return [(a, b) for a, b in itertools.pairwise(points) if b > a]


def apply_in_order(path: Path, logs: list[PublisherLog], spans: list[list[tuple[int, int]]],
                   order: list[int]) -> tuple[dict[str, Any], set[tuple[str, int, str]]]:
    with new_store(path) as store:
        nexts = [0] * len(logs)
        for p in order:
            if nexts[p] >= len(spans[p]):
                continue
            start, end = spans[p][nexts[p]]
            nexts[p] += 1
            log = logs[p]
            head = _head_at(log, p, end)
            store.apply_batch(KEYS[p].public, start, *log_batch(log, start, end), head)
        table = view_table(store)
        with store.database.reading() as conn:
            search = {(rid, retracted, s) for rid, retracted, s in conn.execute(
                "SELECT record_id, retracted, s FROM search_row")}
        assert store.verify().ok
    return table, search


def _head_at(log: PublisherLog, p: int, length: int) -> SignedHead:
    return sign_head(KEYS[p], log.dataset_id, length, log.tree.root(length), 1)


def expected(logs: list[PublisherLog]) -> dict[str, Any]:
    items = []
    for log in logs:
        for index, entry in enumerate(log.entries):
            payload = log.payloads.get(entry.payload_hash) if entry.payload_hash else None
            items.append(LogEntry(log.publisher, index, entry,
                                  decode_payload(payload) if payload is not None else None))
    policy = MergePolicy({k.public: n for n, k in enumerate(KEYS)})  # the charter's order
    out = {}
    for rid, view in merge_all(items, policy).items():
        shown = view.displayed
        out[rid] = (shown.publisher if shown else None, shown.index if shown else None,
                    int(view.retracted), 1 + len(view.alternatives) if shown else 0)
    return out


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(plan=plans, cuts=st.lists(st.integers(0, 10), max_size=4), data=st.data())
@example(plan=[[("put", 0, 0), ("retract", 0, 0)], [("put", 0, 1)]], cuts=[1],
         data=None).via("put, retract and a second publisher's put of one record")
def test_any_order_same_view(tmp_path: Path, plan: list[list[tuple[str, int, int]]],
                             cuts: list[int], data: st.DataObject | None) -> None:
    logs = build_logs(plan)
    spans = [batches_of(log, cuts) for log in logs]
    tags = [p for p, s in enumerate(spans) for _ in s]
    first = tags
    second = list(reversed(tags)) if data is None else data.draw(st.permutations(tags))
    base = Path(tempfile.mkdtemp(dir=tmp_path))
    view1, search1 = apply_in_order(base / "one.sqlite", logs, spans, first)
    view2, search2 = apply_in_order(base / "two.sqlite", logs, spans, second)
    assert view1 == view2 == expected(logs)
    assert search1 == search2
