"""The store's only link to the search index (:mod:`samizdat_node.search`).

The view and the search index change in the same write transaction, so a record that is shown
is also findable and a retracted one leaves default search at once (design §3, §5). The index
owns its ``search_*`` tables (created idempotently at every open) and is handed the writer
connection inside ``Database.atomic``; searches get a read connection.

Rows are ``(row_key, record_id, body)`` where ``row_key`` is ``records.id``.

A bulk sync or import may instead *defer* indexing (design §8): the rows it changes are marked
stale in ``search_pending`` (:func:`mark_stale`) in the same transaction, and the trailing
indexer (indexer.py) indexes them later. Until then a search may miss them; its page says how
many rows are pending.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from samizdat_node.search import index as _index
from samizdat_node.search.model import SearchPage, SearchQuery

__all__ = [
    "backlog",
    "create_search_schema",
    "index_rows",
    "mark_stale",
    "run_search",
    "search_remove",
    "search_set_retracted",
]


def create_search_schema(conn: sqlite3.Connection) -> None:
    _index.create_schema(conn)


def index_rows(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
    """Add the searchable text of displayed records (a row key already indexed is replaced)."""
    _index.index_records(conn, rows)


def search_remove(conn: sqlite3.Connection, row_keys: Iterable[int]) -> None:
    keys = list(row_keys)
    if keys:
        _index.remove(conn, keys)


def search_set_retracted(conn: sqlite3.Connection, row_key: int, retracted: bool) -> None:
    _index.set_retracted(conn, row_key, retracted)


def mark_stale(conn: sqlite3.Connection, row_keys: Iterable[int]) -> None:
    """Queue rows for the trailing indexer instead of indexing them now."""
    conn.executemany("INSERT OR IGNORE INTO search_pending (row_key) VALUES (?)",
                     [(key,) for key in row_keys])


def backlog(conn: sqlite3.Connection) -> int:
    """Rows whose search text is stale (0: the index is up to date)."""
    return int(conn.execute("SELECT count(*) FROM search_pending").fetchone()[0])


def run_search(conn: sqlite3.Connection, query: SearchQuery) -> SearchPage:
    return _index.search(conn, query)
