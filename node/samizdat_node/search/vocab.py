"""The name vocabulary: every distinct indexed form, keyed by spelling class (SQLite).

Matching a misspelt or transliterated query word against 3 million rows would be slow; matching
it against the few hundred thousand distinct name forms is not. So the index keeps, beside the
FTS5 rows, two vocabulary tables (design §5, decision 0003):

* ``search_term(skel, field, form)``: each distinct form of a surname (``s``), given name
  (``n``) or patronymic (``p``) with its :func:`~samizdat_node.search.phonetic.skeleton`, so a
  query word's spelling class finds the real forms of that class;
* ``search_form_del(dkey, field, form)``: each form and its one-deletion neighbours
  (SymSpell, Garbe 2012): two words one edit apart (a letter typed wrong, dropped, added or
  swapped) share a deletion key, so a query word's keys find every form within one edit.

A query word's readings give skeletons and deletion keys; one probe of each table gives the
real forms they stand for, and only those forms go to FTS5. Both tables only grow: a form
whose last row is removed stays (it then matches nothing), which keeps removal cheap.
Every lookup carries a ``LIMIT``, so a short key that matches much cannot make a query slow.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .phonetic import deletes, skeleton

__all__ = [
    "MAX_OFFERS",
    "MIN_FORM_DELETE_LENGTH",
    "VOCAB_SCHEMA",
    "add_forms",
    "form_deletes",
    "offers",
]

MAX_OFFERS = 3000  # vocabulary rows read for one query
MIN_FORM_DELETE_LENGTH = 4  # shorter forms get no deletion keys (too many neighbours)
_CHUNK = 300  # rows per IN (...) list, well under SQLite's bound-parameter limit

VOCAB_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS search_term (
        skel TEXT NOT NULL, field TEXT NOT NULL, form TEXT NOT NULL,
        PRIMARY KEY (skel, field, form)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS search_form_del (
        dkey TEXT NOT NULL, field TEXT NOT NULL, form TEXT NOT NULL,
        PRIMARY KEY (dkey, field, form)
    ) WITHOUT ROWID""",
)


def form_deletes(form: str) -> set[str]:
    """``form`` and its one-deletion neighbours, if it is long enough to have any."""
    if len(form) < MIN_FORM_DELETE_LENGTH:
        return {form}
    return deletes(form)


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def add_forms(conn: sqlite3.Connection, forms: Iterable[tuple[str, str]]) -> None:
    """Add ``(field, form)`` pairs to the vocabulary (idempotent).

    Only forms not yet known get rows, so re-adding a batch of common names costs one probe
    per distinct skeleton, not one per deletion key. The deletion keys of a new form are most
    of the cost of indexing a record with a new surname (about eight rows per form).
    """
    rows = {(skeleton(form), field, form) for field, form in forms if form}
    if not rows:
        return
    skels = sorted({skel for skel, _, _ in rows})
    known: set[tuple[str, str, str]] = set()
    for chunk in _chunks(skels):
        marks = ",".join("?" * len(chunk))
        known.update(
            conn.execute(
                f"SELECT skel, field, form FROM search_term WHERE skel IN ({marks})", chunk
            )
        )
    new = [row for row in rows if row not in known]
    if not new:
        return
    conn.executemany("INSERT INTO search_term VALUES (?, ?, ?)", new)
    conn.executemany(
        "INSERT OR IGNORE INTO search_form_del VALUES (?, ?, ?)",
        [(key, field, form) for _, field, form in new for key in form_deletes(form)],
    )


def _select(
    conn: sqlite3.Connection, sql: str, keys: list[str], limit: int
) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for chunk in _chunks(keys):
        if len(out) >= limit:
            break
        marks = ",".join("?" * len(chunk))
        out.extend(conn.execute(sql.format(marks=marks), [*chunk, limit - len(out)]))
    return out


def offers(
    conn: sqlite3.Connection, skeletons: Iterable[str], form_keys: Iterable[str]
) -> tuple[list[tuple[str, str, str]], bool]:
    """Vocabulary rows ``(skel, field, form)`` a term's keys reach, and whether a limit cut them.

    ``skeletons`` reach forms of the same spelling class; ``form_keys`` (deletion keys of the
    readings) reach forms within one edit. Spelling-class matches come first, so a cut drops
    fuzzy candidates before phonetic ones.
    """
    rows = _select(
        conn,
        "SELECT skel, field, form FROM search_term WHERE skel IN ({marks}) LIMIT ?",
        sorted(set(skeletons)),
        MAX_OFFERS,
    )
    cut = len(rows) >= MAX_OFFERS
    keys = sorted(set(form_keys))
    if keys and not cut:
        near = _select(
            conn,
            "SELECT DISTINCT field, form FROM search_form_del WHERE dkey IN ({marks}) LIMIT ?",
            keys,
            MAX_OFFERS - len(rows),
        )
        rows.extend((skeleton(form), field, form) for field, form in near)
        cut = len(rows) >= MAX_OFFERS
    return [(str(a), str(b), str(c)) for a, b, c in dict.fromkeys(rows)], cut
