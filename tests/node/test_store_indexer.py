"""The trailing search indexer: a deferred index, once caught up, equals the inline one; search
says how far behind it is; the view never waits for it."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from samizdat_node.search.model import SearchQuery
from samizdat_node.store import Store
from samizdat_protocol.entries import Entry
from samizdat_protocol.errors import LocalError
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.signing import SigningKey

from .test_store_support import (
    CHARTER,
    KEYS,
    body,
    log_batch,
    new_store,
    sign_prefix,
    view_table,
)

A, B = KEYS[0], KEYS[1]
SURNAMES = ["Иванов", "Петрова", "Сидоров", "Кузнецов"]

Op = tuple[int, str, int, int]  # (publisher 0/1, kind, record, variant)
ops_strategy = st.lists(
    st.tuples(st.integers(0, 1), st.sampled_from(["put", "put", "put", "retract", "erase"]),
              st.integers(0, 5), st.integers(0, 3)),
    max_size=30)


def build_logs(ops: list[Op]) -> list[PublisherLog]:
    logs = [PublisherLog(CHARTER.dataset_id, k.public) for k in (A, B)]
    for who, kind, rec, variant in ops:
        log = logs[who]
        rid = f"memo:{rec}"
        mine = [e for e in log.entries if e.record_id == rid and e.kind == "put"]
        if kind == "put":
            fields = dict(body(rec), surname=SURNAMES[variant])
            log.put(rid, fields, 1000 + len(log.entries))
        elif kind == "retract" and mine:
            log.retract(rid, "withdrawn", 1000 + len(log.entries))
        elif kind == "erase" and mine and mine[-1].payload_hash is not None:
            log.append(Entry.erase(rid, mine[-1].payload_hash, "safety", 1000))
    return logs


def search_rows(store: Store) -> list[tuple[object, ...]]:
    with store.database.reading() as conn:
        return conn.execute("SELECT * FROM search_row ORDER BY row_key").fetchall()


def fts_rows(path: Path, term: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid", (term,))]
    finally:
        conn.close()


def feed(store: Store, logs: list[PublisherLog], cut: int) -> None:
    """Each log in two batches, cut at ``cut`` (or its end)."""
    for key, log in zip((A, B), logs, strict=True):
        held = 0
        for end in sorted({min(cut, log.length), log.length}):
            if end > held:
                store.apply_batch(key.public, held, *log_batch(log, held, end),
                                  log.sign(key, 1) if end == log.length else
                                  _prefix_head(log, key, end))
                held = end


def _prefix_head(log: PublisherLog, key: SigningKey, end: int) -> SignedHead:
    return sign_prefix(log, key, end)


@settings(max_examples=25, deadline=None)
@given(ops_strategy, st.integers(0, 30))
@example([(0, "put", 0, 0), (0, "retract", 0, 0), (1, "put", 0, 1), (1, "erase", 0, 0)], 2)
@example([(0, "put", 1, 0), (0, "put", 1, 2), (0, "erase", 1, 0)], 1)
def test_deferred_index_catches_up_to_the_inline_one(ops: list[Op], cut: int) -> None:
    logs = build_logs(ops)
    with tempfile.TemporaryDirectory() as tmp, \
            new_store(Path(tmp) / "inline.sqlite") as inline, \
            new_store(Path(tmp) / "defer.sqlite", index_mode="defer") as deferred:
        feed(inline, logs, cut)
        feed(deferred, logs, cut)
        assert view_table(inline) == view_table(deferred)  # the view never waits
        assert inline.index_backlog() == 0
        while deferred.index_pending(limit=3):
            pass
        assert deferred.index_backlog() == 0
        assert search_rows(inline) == search_rows(deferred)
        for term in ("иванов", "петрова", "сидоров", "кузнецов"):
            assert fts_rows(inline.path, term) == fts_rows(deferred.path, term)


def test_search_reports_pending_and_modes(tmp_path: Path) -> None:
    log = PublisherLog(CHARTER.dataset_id, A.public)
    for i in range(600):
        log.put(f"memo:{i}", body(i), 1000)
    with new_store(tmp_path / "s.sqlite", index_mode="auto") as store:
        # A small batch indexes inline even in auto mode...
        store.apply_batch(A.public, 0, *log_batch(log, 0, 10), _prefix_head(log, A, 10))
        assert store.index_backlog() == 0
        # ...a large one queues.
        store.apply_batch(A.public, 10, *log_batch(log, 10, 600), log.sign(A, 1))
        assert store.index_backlog() == 590
        page = store.search(SearchQuery("Иванов", limit=100))
        assert page.pending == 590 and page.examined == 10
        assert store.record("memo:500") is not None  # shown (verified) before it is findable
        assert store.index_pending(limit=500) == 500
        assert store.index_pending() == 90 and store.index_pending() == 0
        page = store.search(SearchQuery("Иванов", limit=100))
        assert page.pending == 0 and page.examined == 600
        # Per call, index=True forces inline work whatever the mode.
        store.index_mode = "defer"
        result = store.publish(A, [("memo:9000", body(9000))], 2000, index=True)
        assert result.appended == 1 and store.index_backlog() == 0
        store.publish(A, [("memo:9001", body(9001))], 2000)
        assert store.index_backlog() == 1
    with pytest.raises(LocalError):
        Store.open(tmp_path / "s.sqlite", index_mode="later")
