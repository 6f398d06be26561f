"""The materialised record view and its search index, kept up to date batch by batch.

The view is a pure function of the stored entries (design §3, merge.py). After a batch is
stored, every record it names is recomputed with :func:`samizdat_protocol.merge.merge_record`
over *all* stored entries of that record, so the table always equals ``merge_all`` of the whole
store, whatever order batches arrived in (tested as a law).

One shortcut, equal by the merge rules: a record no stored entry named before, named by exactly
one put in this batch whose publisher is not ignored (revoked or suspended), has that put as its
displayed version, no alternatives and no retraction (rules 3-5), and nothing can erase it
(rule 6 needs an erase naming the record). Bulk imports and first syncs take this path and never
decode a stored header again.

Erasure (rule 6) is carried out here: a put the merge marks ``erased`` loses its payload bytes.

With ``defer_index`` the search index is not touched: the rows whose text may have changed are
queued for the trailing indexer (indexer.py), which later runs :func:`refresh_search` on them,
the same function the inline path uses, so a deferred index ends equal to an inline one.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from samizdat_protocol.encoding import decode
from samizdat_protocol.entries import PAYLOAD_LIMITS, Entry, LogEntry
from samizdat_protocol.merge import RecordView, merge_record

from .dataset import Dataset
from .migrations import KIND_PUT
from .search_adapter import index_rows, mark_stale, search_remove, search_set_retracted

__all__ = ["Columns", "merge_stored", "refresh_search", "remerge_records", "update_view",
           "withdrawn_put"]


@dataclass(slots=True)
class Columns:
    """Verified new entries of one publisher, column by column, ready to store."""

    publisher_id: int
    start: int
    headers: list[bytes]
    kinds: list[int]
    record_ids: list[str]
    keys: list[bytes | None]  # payload hash of a put, target of an erase
    timestamps: list[int]
    payloads: list[bytes | None]
    # Decoded bodies of the payloads, for inline search indexing; None where no payload is
    # held, or for every entry when indexing is deferred (the payload bytes suffice then).
    bodies: list[dict[str, Any] | None]

    def tail(self, offset: int) -> Columns:
        """The entries from ``offset`` on (a batch trimmed of what is already held)."""
        if offset == 0:
            return self
        return Columns(self.publisher_id, self.start + offset, self.headers[offset:],
                       self.kinds[offset:], self.record_ids[offset:], self.keys[offset:],
                       self.timestamps[offset:], self.payloads[offset:], self.bodies[offset:])


def merge_stored(conn: sqlite3.Connection, ds: Dataset, record_id: str) -> RecordView | None:
    """The merged view of one record over every stored entry naming it."""
    rows = conn.execute("SELECT publisher, idx, header FROM entries WHERE record_id = ?",
                        (record_id,)).fetchall()
    items = [LogEntry(ds.by_id[pid].key, idx, Entry.from_bytes(header))
             for pid, idx, header in rows]
    return merge_record(record_id, items, ds.policy)


def update_view(conn: sqlite3.Connection, ds: Dataset, cols: Columns, *,
                defer_index: bool = False) -> int:
    """Bring the view (and search index) up to date for every record ``cols`` names.

    Runs inside the write transaction that stored ``cols``. Returns the records touched.
    ``defer_index``: queue the changed rows for the trailing indexer instead of indexing.
    """
    record_ids, kinds, bodies = cols.record_ids, cols.kinds, cols.bodies
    names = list(dict.fromkeys(record_ids))
    repeated: set[str] = set()
    if len(names) != len(record_ids):
        repeated = {rid for rid, n in Counter(record_ids).items() if n > 1}
    existing = _existing(conn, names)
    # A bare max() uses the b-tree's last row; wrapped in coalesce() SQLite would scan.
    top = conn.execute("SELECT max(id) FROM records").fetchone()[0]
    next_id = 1 if top is None else top + 1
    key = ds.by_id[cols.publisher_id].key
    policy = ds.policy
    # Rule 2 of merge.py: entries at or past a revocation point, or of a suspended key, are
    # ignored; such records take the full merge.
    limit = policy.revoked_after.get(key, 2**63) - cols.start
    if key in policy.suspended:
        limit = 0
    # Rule 6 under governance: an approved erasure needs no erase entry, so a put of an
    # approved (record, payload) pair takes the full merge (which drops its bytes).
    approved = policy.approved_erasures or frozenset()
    start, pid = cols.start, cols.publisher_id
    new_rows: list[tuple[int, str, int, int]] = []
    search: list[tuple[int, str, dict[str, Any]]] = []
    slow: dict[str, None] = {}
    stale: list[int] = []
    for pos, (record_id, kind, body, payload) in enumerate(
            zip(record_ids, kinds, bodies, cols.payloads, strict=True)):
        if (kind != KIND_PUT or record_id in existing or record_id in repeated
                or pos >= limit or (approved and (record_id, cols.keys[pos]) in approved)):
            slow[record_id] = None
            continue
        new_rows.append((next_id, record_id, pid, start + pos))
        if payload is not None:
            if defer_index:
                stale.append(next_id)
            elif body is not None:
                search.append((next_id, record_id, body))
        next_id += 1
    conn.executemany("INSERT INTO records (id, record_id, publisher, idx, retracted, versions) "
                     "VALUES (?, ?, ?, ?, 0, 1)", new_rows)
    if stale:
        mark_stale(conn, stale)
    if search:
        index_rows(conn, search)
    for record_id in slow:
        next_id = _remerge_row(conn, ds, record_id, existing.get(record_id), next_id,
                               defer_index)
    return len(names)


def remerge_records(conn: sqlite3.Connection, ds: Dataset, record_ids: Sequence[str], *,
                    defer_index: bool = False) -> int:
    """Merge records again under ``ds``'s policy (a new authorisation state, a dropped log):
    the view rows, erased payload bytes and search rows follow. Returns the records done."""
    done = 0
    for start in range(0, len(record_ids), 500):
        names = list(record_ids[start:start + 500])
        existing = _existing(conn, names)
        top = conn.execute("SELECT max(id) FROM records").fetchone()[0]
        next_id = 1 if top is None else top + 1
        for record_id in names:
            row = existing.get(record_id)
            if conn.execute("SELECT 1 FROM entries WHERE record_id = ? LIMIT 1",
                            (record_id,)).fetchone() is None:
                if row is not None:  # every entry naming it went with a dropped log
                    conn.execute("DELETE FROM records WHERE id = ?", (row[0],))
                    if defer_index:
                        mark_stale(conn, [row[0]])
                    else:
                        search_remove(conn, [row[0]])
                continue
            next_id = _remerge_row(conn, ds, record_id, row, next_id, defer_index)
            done += 1
    return done


def _remerge_row(conn: sqlite3.Connection, ds: Dataset, record_id: str, row: _Row | None,
                 next_id: int, defer_index: bool) -> int:
    """Merge one record into its view row (``row``, or a new one keyed ``next_id`` when it has
    none); returns the next free row key."""
    if row is None:
        _remerge(conn, ds, record_id, (next_id, None, None, 0), new=True,
                 defer_index=defer_index)
        return next_id + 1
    _remerge(conn, ds, record_id, row, new=False, defer_index=defer_index)
    return next_id


_Row = tuple[int, int | None, int | None, int]  # a records row: id, publisher, idx, retracted


def _existing(conn: sqlite3.Connection, record_ids: Sequence[str]) -> dict[str, _Row]:
    if not record_ids:
        return {}
    rows = conn.execute(
        "SELECT record_id, id, publisher, idx, retracted FROM records "
        "WHERE record_id IN (SELECT value FROM json_each(?))",
        (json.dumps(record_ids, ensure_ascii=False),))
    return {rid: (row_id, pub, idx, retracted) for rid, row_id, pub, idx, retracted in rows}


def _remerge(conn: sqlite3.Connection, ds: Dataset, record_id: str,
             old: _Row, *, new: bool,
             defer_index: bool = False) -> None:
    view = merge_stored(conn, ds, record_id)
    if view is None:  # pragma: no cover - the batch just stored an entry naming it
        return
    ids = {p.key: p.id for p in ds.by_id.values()}
    erased = [(ids[item.publisher], item.index) for item in view.history if item.erased]
    conn.executemany("UPDATE entries SET payload = NULL WHERE publisher = ? AND idx = ? "
                     "AND payload IS NOT NULL", erased)
    row_id, old_pub, old_idx, old_retracted = old
    shown = view.displayed
    pub = ids[shown.publisher] if shown is not None else None
    idx = shown.index if shown is not None else None
    versions = 1 + len(view.alternatives) if shown is not None else 0
    if new:
        conn.execute("INSERT INTO records (id, record_id, publisher, idx, retracted, versions) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (row_id, record_id, pub, idx, int(view.retracted), versions))
    else:
        conn.execute("UPDATE records SET publisher = ?, idx = ?, retracted = ?, versions = ? "
                     "WHERE id = ?", (pub, idx, int(view.retracted), versions, row_id))
    if (not new and shown is not None and not shown.erased and (pub, idx) == (old_pub, old_idx)
            and not old_retracted):
        return  # same displayed version, same text
    if defer_index:
        mark_stale(conn, [row_id])
    else:
        refresh_search(conn, ds, row_id, record_id, view, known=not new)


def refresh_search(conn: sqlite3.Connection, ds: Dataset, row_id: int, record_id: str,
                   view: RecordView | None = None, *, known: bool = True) -> None:
    """Make the search row of ``row_id`` match the view: the displayed body's text, or the
    retracted record's last text (marked retracted), or no row at all (erased, ignored).

    ``view``: the record's merged view if the caller has it; only a retracted record needs
    it (to find which text it was retracted with), and it is merged here if not given.
    ``known``: the row may already be indexed (False: a new row, nothing to remove).
    """
    row = conn.execute("SELECT publisher, idx, retracted FROM records WHERE id = ?",
                       (row_id,)).fetchone()
    if row is None:
        if known:
            search_remove(conn, [row_id])
        return
    pub, idx, retracted = row
    source: tuple[int, int] | None = None
    if pub is not None and idx is not None:
        source = (pub, idx)
    elif retracted:
        if view is None:
            view = merge_stored(conn, ds, record_id)
        if view is not None:
            source = _retracted_source(view, {p.key: p.id for p in ds.by_id.values()})
    body = _payload_body(conn, *source) if source is not None else None
    if body is not None:
        index_rows(conn, [(row_id, record_id, body)])  # replaces the row's old text
        if retracted:
            search_set_retracted(conn, row_id, True)
    elif known:
        search_remove(conn, [row_id])


def withdrawn_put(view: RecordView) -> tuple[bytes, int, int, str] | None:
    """(publisher, put index, retract index, reason) of a retracted record: where its text
    comes from, the last put the first retraction (in display order) withdrew. Found and shown
    as retracted (design §3), and chosen from the entries alone, so every node indexes the
    same text whatever order entries came in (and a light client's hit is checked by it)."""
    if not view.retracted or not view.retractions:
        return None
    first = view.retractions[0]
    puts = [item.index for item in view.history
            if item.publisher == first.publisher and item.entry.kind == "put"
            and item.index < first.index and not item.erased]
    return (first.publisher, max(puts), first.index, first.reason) if puts else None


def _retracted_source(view: RecordView, ids: dict[bytes, int]) -> tuple[int, int] | None:
    """:func:`withdrawn_put` as (publisher row id, put index), for the search index."""
    found = withdrawn_put(view)
    return None if found is None else (ids[found[0]], found[1])


def _payload_body(conn: sqlite3.Connection, pub: int, idx: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT payload FROM entries WHERE publisher = ? AND idx = ?",
                       (pub, idx)).fetchone()
    if row is None or row[0] is None:
        return None
    body = decode(row[0], PAYLOAD_LIMITS)
    return body if isinstance(body, dict) else None
