"""The store's only link to the search index (:mod:`samizdat_node.search`).

The view and the search index change in the same write transaction, so a record that is shown
is also findable and a retracted one leaves default search at once (design §3, §5). The index
owns its ``search_*`` tables (created idempotently at every open) and is handed the writer
connection inside ``Database.atomic``; searches get a read connection.

Rows are ``(row_key, record_id, body)`` where ``row_key`` is ``records.id``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from samizdat_node.search import index as _index
from samizdat_node.search.model import SearchPage, SearchQuery

__all__ = [
    "create_search_schema",
    "index_rows",
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


def run_search(conn: sqlite3.Connection, query: SearchQuery) -> SearchPage:
    return _index.search(conn, query)
