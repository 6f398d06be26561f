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
from .search_adapter import index_rows, search_remove, search_set_retracted

__all__ = ["Columns", "merge_stored", "update_view"]


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
    bodies: list[dict[str, Any] | None]


def merge_stored(conn: sqlite3.Connection, ds: Dataset, record_id: str) -> RecordView | None:
    """The merged view of one record over every stored entry naming it."""
    rows = conn.execute("SELECT publisher, idx, header FROM entries WHERE record_id = ?",
                        (record_id,)).fetchall()
    items = [LogEntry(ds.by_id[pid].key, idx, Entry.from_bytes(header))
             for pid, idx, header in rows]
    return merge_record(record_id, items, ds.policy)


def update_view(conn: sqlite3.Connection, ds: Dataset, cols: Columns) -> int:
    """Bring the view (and search index) up to date for every record ``cols`` names.

    Runs inside the write transaction that stored ``cols``. Returns the records touched.
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
    start, pid = cols.start, cols.publisher_id
    new_rows: list[tuple[int, str, int, int]] = []
    search: list[tuple[int, str, dict[str, Any]]] = []
    slow: dict[str, None] = {}
    for pos, (record_id, kind, body) in enumerate(zip(record_ids, kinds, bodies, strict=True)):
        if (kind != KIND_PUT or record_id in existing or record_id in repeated
                or pos >= limit):
            slow[record_id] = None
            continue
        new_rows.append((next_id, record_id, pid, start + pos))
        if body is not None:
            search.append((next_id, record_id, body))
        next_id += 1
    conn.executemany("INSERT INTO records (id, record_id, publisher, idx, retracted, versions) "
                     "VALUES (?, ?, ?, ?, 0, 1)", new_rows)
    if search:
        index_rows(conn, search)
    for record_id in slow:
        row = existing.get(record_id)
        if row is None:
            _remerge(conn, ds, record_id, (next_id, None, None, 0), new=True)
            next_id += 1
        else:
            _remerge(conn, ds, record_id, row, new=False)
    return len(names)


def _existing(conn: sqlite3.Connection,
              record_ids: Sequence[str]) -> dict[str, tuple[int, int | None, int | None, int]]:
    if not record_ids:
        return {}
    rows = conn.execute(
        "SELECT record_id, id, publisher, idx, retracted FROM records "
        "WHERE record_id IN (SELECT value FROM json_each(?))",
        (json.dumps(record_ids, ensure_ascii=False),))
    return {rid: (row_id, pub, idx, retracted) for rid, row_id, pub, idx, retracted in rows}


def _remerge(conn: sqlite3.Connection, ds: Dataset, record_id: str,
             old: tuple[int, int | None, int | None, int], *, new: bool) -> None:
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
    source = (pub, idx) if pub is not None and idx is not None else _retracted_source(view, ids)
    body = _payload_body(conn, *source) if source is not None else None
    if (not new and shown is not None and body is not None and (pub, idx) == (old_pub, old_idx)
            and not old_retracted):
        return  # same displayed version, same text
    if body is not None:
        index_rows(conn, [(row_id, record_id, body)])  # replaces the row's old text
        if view.retracted:
            search_set_retracted(conn, row_id, True)
    elif not new:
        search_remove(conn, [row_id])


def _retracted_source(view: RecordView, ids: dict[bytes, int]) -> tuple[int, int] | None:
    """Where the text of a retracted record comes from: the last put the first retraction
    (in display order) withdrew. Found and shown as retracted (design §3), and chosen from the
    entries alone, so every node indexes the same text whatever order entries came in."""
    if not view.retracted or not view.retractions:
        return None
    first = view.retractions[0]
    puts = [item.index for item in view.history
            if item.publisher == first.publisher and item.entry.kind == "put"
            and item.index < first.index and not item.erased]
    return (ids[first.publisher], max(puts)) if puts else None


def _payload_body(conn: sqlite3.Connection, pub: int, idx: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT payload FROM entries WHERE publisher = ? AND idx = ?",
                       (pub, idx)).fetchone()
    if row is None or row[0] is None:
        return None
    body = decode(row[0], PAYLOAD_LIMITS)
    return body if isinstance(body, dict) else None
