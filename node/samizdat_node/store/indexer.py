"""The trailing search indexer (design §8: the search index may trail a bulk sync).

Indexing a record's search text costs more than storing and verifying it, so a bulk sync or a
large import may *defer* it: the view is updated in the batch's transaction as always (a shown
record is a verified record), and the rows whose search text changed are queued in
``search_pending`` (search_adapter.mark_stale). :func:`index_pending` later takes a batch of
queued rows, brings their search rows up to date with the view (view.refresh_search: the same
rule as inline indexing), and dequeues them, in one write transaction.

When to defer is the store's *index mode* (:data:`IndexMode`), chosen at open and overridable
per call:

* ``"inline"`` (default): every batch indexes in its own transaction; search is never behind.
  Right for tests, the CLI, and interactive publishing.
* ``"defer"``: every batch queues; someone must call ``index_pending`` (the node's service does,
  in the background; a CLI bulk import does before it exits).
* ``"auto"``: batches of more than :data:`AUTO_INLINE_MAX` entries queue (sync chunks, import
  batches), smaller ones (a correction, a retraction, a gossip-sized catch-up) index inline.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from samizdat_protocol.errors import LocalError, SamizdatError

from .bulk import paused_gc
from .dataset import Dataset
from .db import Database
from .search_adapter import index_rows, search_remove
from .view import refresh_search

__all__ = ["AUTO_INLINE_MAX", "INDEX_MODES", "IndexMode", "check_mode", "defer_for",
           "index_pending"]

IndexMode = Literal["inline", "defer", "auto"]
INDEX_MODES: tuple[str, ...] = ("inline", "defer", "auto")
AUTO_INLINE_MAX = 512

_PENDING = (
    "SELECT q.row_key, r.record_id, r.publisher, r.idx, r.retracted, e.payload "
    "FROM search_pending AS q LEFT JOIN records AS r ON r.id = q.row_key "
    "LEFT JOIN entries AS e ON e.publisher = r.publisher AND e.idx = r.idx "
    "ORDER BY q.row_key LIMIT ?"
)


def check_mode(mode: str) -> IndexMode:
    if mode not in INDEX_MODES:
        raise LocalError("store.index_mode", f"index mode must be one of {INDEX_MODES}, "
                         f"not {mode!r}")
    return mode  # type: ignore[return-value]


def defer_for(mode: IndexMode, entries: int, index: bool | None) -> bool:
    """Whether a batch of ``entries`` defers its indexing (``index``: the caller's override,
    True to index inline, False to defer, None to follow the store's mode)."""
    if index is not None:
        return not index
    return mode == "defer" or (mode == "auto" and entries > AUTO_INLINE_MAX)


_decode = msgspec.msgpack.Decoder().decode


def _stored_body(payload: bytes) -> dict[str, Any] | None:
    """The body of a stored payload (verified when it was stored, so a plain decode), or
    None if the bytes no longer decode to a map: damage for the audit to find, which must
    not stop the indexer (the row then leaves the index, via refresh_search)."""
    try:
        body = _decode(payload)
    except msgspec.DecodeError:
        return None
    return body if isinstance(body, dict) else None


def index_pending(db: Database, ds: Dataset, limit: int = 10_000) -> int:
    """Index up to ``limit`` queued rows (oldest row keys first); return how many were done.

    0 means the index is up to date. Each call is one write transaction, so a node can
    interleave it with sync batches; the work is idempotent (a row indexed twice ends the same).
    """
    if limit < 1:
        raise LocalError("usage.limit", "limit must be positive")
    with paused_gc(), db.atomic("indexing for search") as conn:
        rows = conn.execute(_PENDING, (limit,)).fetchall()
        plain = []
        for row_key, record_id, pub, _idx, retracted, payload in rows:
            if record_id is not None and pub is not None and not retracted \
                    and payload is not None:
                body = _stored_body(payload)
                if body is not None:
                    plain.append((row_key, record_id, body))
                    continue
            # Retracted, erased, not held, or gone: the exact rule, row by row (rare).
            try:
                refresh_search(conn, ds, row_key, record_id or "", known=True)
            except SamizdatError:  # a damaged payload (the audit's to report): not indexed
                search_remove(conn, [row_key])
        if plain:
            index_rows(conn, plain)
        conn.executemany("DELETE FROM search_pending WHERE row_key = ?",
                         [(row[0],) for row in rows])
    return len(rows)
