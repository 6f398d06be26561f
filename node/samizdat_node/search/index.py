"""The search index in SQLite: schema, indexing, removal, retraction, and search (design §5).

The store owns the connection and the transaction; every function here runs inside whatever
transaction the caller holds and never commits (the store calls them inside its ``atomic()``,
so the view and the index change together). All tables are prefixed ``search_``:

* ``search_row``: one row per indexed record, keyed by the store's integer ``row_key``, with
  the record id, the column texts of :mod:`.document`, the birth year and a ``retracted`` flag;
* ``search_fts``: an FTS5 index over ``search_row`` (external content, ``ascii`` tokenizer:
  every folded form is one token; ``detail=column``: column filters work, positions are not
  stored because no query needs them);
* ``search_term``, ``search_form_del``: the name vocabulary (:mod:`.vocab`).

A search (:func:`search`) parses the text into terms (:mod:`.query`), asks the vocabulary which
indexed forms each term may stand for and classifies them (:mod:`.rank`), then reads matching
rows from FTS5 in passes, best first: every term by exact forms; every term by any form; and,
with two or more terms, every term but one. Rows are scored and sorted in Python. Work is
bounded by the query limits of :mod:`.model`: at most :data:`~.model.MAX_TERMS` terms, a
bounded number of readings and forms per term, at most :data:`~.model.MAX_EXAMINED` rows
scored; the page says whether that cap cut the candidates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from .document import index_text
from .facets import place_stems
from .model import MAX_EXAMINED, SearchHit, SearchPage, SearchQuery, SearchQueryError
from .query import ParsedText, initial_class, parse_text
from .rank import FIELDS, TermForms, classify, score_row
from .vocab import VOCAB_SCHEMA, add_forms, offers

__all__ = ["create_schema", "index_records", "remove", "search", "set_retracted"]

SCHEMA_VERSION = 1
_BATCH = 2000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS search_row (
        row_key INTEGER PRIMARY KEY,
        record_id TEXT NOT NULL,
        s TEXT NOT NULL, n TEXT NOT NULL, p TEXT NOT NULL, f TEXT NOT NULL, pl TEXT NOT NULL,
        year INTEGER,
        retracted INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
        s, n, p, f, pl,
        content='search_row', content_rowid='row_key', tokenize='ascii', detail='column'
    )""",
    *VOCAB_SCHEMA,
    """CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
)

_INSERT_ROW = (
    "INSERT INTO search_row (row_key, record_id, s, n, p, f, pl, year) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_FTS = "INSERT INTO search_fts (rowid, s, n, p, f, pl) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE_FTS = (
    "INSERT INTO search_fts (search_fts, rowid, s, n, p, f, pl) "
    "SELECT 'delete', row_key, s, n, p, f, pl FROM search_row WHERE row_key = ?"
)
_SELECT = (
    "SELECT r.row_key, r.record_id, r.s, r.n, r.p, r.year "
    "FROM search_fts JOIN search_row AS r ON r.row_key = search_fts.rowid "
    "WHERE search_fts MATCH ? {retracted} LIMIT ?"
)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the ``search_*`` tables if missing (idempotent: safe in a migration)."""
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO search_meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


def _delete(conn: sqlite3.Connection, row_keys: Iterable[int]) -> None:
    keys = [(key,) for key in row_keys]
    conn.executemany(_DELETE_FTS, keys)
    conn.executemany("DELETE FROM search_row WHERE row_key = ?", keys)


def index_records(
    conn: sqlite3.Connection, rows: Iterable[tuple[int, str, dict[str, Any]]]
) -> None:
    """Index (or re-index) records given as ``(row_key, record_id, body)``.

    A row key already in the index is replaced. Work is done in batches, so ``rows`` may be
    a generator over millions of records.
    """
    top = conn.execute("SELECT max(row_key) FROM search_row").fetchone()[0]
    max_key = -1 if top is None else int(top)
    added: set[tuple[str, str]] = set()
    iterator = iter(rows)
    while batch := list(islice(iterator, _BATCH)):
        latest: dict[int, tuple[Any, ...]] = {}
        columns: tuple[set[str], set[str], set[str]] = (set(), set(), set())
        for row_key, record_id, body in batch:
            text = index_text(body)
            latest[row_key] = (row_key, record_id, *text)
            columns[0].add(text.s)
            columns[1].add(text.n)
            columns[2].add(text.p)
        old = [key for key in latest if key <= max_key]
        if old:
            marks = ",".join("?" * len(old))
            present = conn.execute(
                f"SELECT row_key FROM search_row WHERE row_key IN ({marks})", old
            ).fetchall()
            _delete(conn, (key for (key,) in present))
        values = list(latest.values())
        conn.executemany(_INSERT_ROW, values)
        conn.executemany(_INSERT_FTS, ((v[0], v[2], v[3], v[4], v[5], v[6]) for v in values))
        max_key = max(max_key, *latest)
        forms = {
            (field, form)
            for field, texts in zip(FIELDS, columns, strict=True)
            for text in texts
            for form in text.replace("|", " ").split()
        }
        add_forms(conn, forms - added)
        added |= forms


def remove(conn: sqlite3.Connection, row_keys: Iterable[int]) -> None:
    """Drop rows from the index (unknown keys are ignored)."""
    _delete(conn, list(row_keys))


def set_retracted(conn: sqlite3.Connection, row_key: int, retracted: bool) -> None:
    """Mark a row retracted (hidden from default search) or not (design §3)."""
    conn.execute("UPDATE search_row SET retracted = ? WHERE row_key = ?", (int(retracted), row_key))


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _term_expr(forms: TermForms, exact_only: bool) -> str | None:
    parts = []
    for field in FIELDS:
        found = forms.forms(field, best_only=exact_only)
        if found:
            parts.append(f"{field}:({' OR '.join(map(_quote, found))})")
    if not parts:
        return None
    return "(" + " OR ".join(parts) + ")"


def _initials_expr(parsed: ParsedText) -> list[str]:
    """Initials filter the given name and patronymic (a record without one is kept).

    With two or more full names in the query (surname and given name), a single initial is
    the patronymic's; otherwise initials are the given name's, then the patronymic's.
    """
    fields = ("p",) if len(parsed.terms) >= 2 else ("n", "p")
    return [
        f"f:({_quote(field + letter)} OR {_quote(field + '0')})"
        for field, letter in zip(fields, parsed.initials, strict=False)
    ]


INITIAL_BONUS = 3.0  # an initial the record has, over a record with no name there


def _initials_bonus(parsed: ParsedText, n: str, p: str) -> float:
    if not parsed.initials:
        return 0.0
    fields = (p,) if len(parsed.terms) >= 2 else (n, p)
    bonus = 0.0
    for column, letter in zip(fields, parsed.initials, strict=False):
        first = column.partition("|")[0].split()
        if first and initial_class(first[0]) == letter:
            bonus += INITIAL_BONUS
    return bonus


def _facet_expr(query: SearchQuery, year: int | None) -> list[str]:
    parts = []
    if year is not None:
        years = range(year - query.year_tolerance, year + query.year_tolerance + 1)
        tokens = [f"y{value}" for value in years] + ["y0"]
        parts.append(f"f:({' OR '.join(map(_quote, tokens))})")
    if query.sentence_kind is not None:
        parts.append(f"f:{_quote('k' + query.sentence_kind)}")
    if query.place:
        parts.extend(f"pl:{_quote(stem)}*" for stem in place_stems(query.place))
    return parts


def _passes(terms: list[TermForms], facets: list[str]) -> Iterator[tuple[bool, str]]:
    """FTS5 expressions to run, best first, as ``(is_fallback, expression)``."""
    if not terms:
        if facets:
            yield False, " AND ".join(facets)
        return
    previous = ""
    for exact_only in (True, False):
        exprs = [_term_expr(forms, exact_only) for forms in terms]
        if all(exprs):
            expr = " AND ".join([*(e for e in exprs if e), *facets])
            if expr != previous:  # every form exact: the second pass would repeat the first
                yield False, expr
            previous = expr
    if len(terms) >= 2:
        full = [_term_expr(forms, False) for forms in terms]
        for left_out in reversed(range(len(terms))):
            kept = [e for index, e in enumerate(full) if index != left_out and e]
            if kept:
                yield True, " AND ".join([*kept, *facets])


def _expand(conn: sqlite3.Connection, parsed: ParsedText) -> list[TermForms]:
    out = []
    for term in parsed.terms:
        offered, _ = offers(conn, term.skeletons, term.form_keys)
        out.append(classify(term, offered))
    return out


def search(conn: sqlite3.Connection, query: SearchQuery) -> SearchPage:
    """Ranked records for ``query`` (module docstring); raises :class:`SearchQueryError`."""
    query.validate()
    parsed = parse_text(query.text)
    year = query.birth_year if query.birth_year is not None else parsed.year
    if not parsed.terms and not (query.place and place_stems(query.place)):
        raise SearchQueryError("search.empty_query", "give a name or a place to search for")
    terms = _expand(conn, parsed)
    facets = _facet_expr(query, year) + _initials_expr(parsed)
    sql = _SELECT.format(retracted="" if query.include_retracted else "AND r.retracted = 0")
    needed = query.offset + query.limit
    scored: dict[int, tuple[float, SearchHit]] = {}
    complete = True
    for fallback, expr in _passes(terms, facets):
        if fallback and len(scored) >= needed:
            break
        if len(scored) >= MAX_EXAMINED:
            complete = False
            break
        rows = conn.execute(sql, (expr, MAX_EXAMINED)).fetchall()
        if len(rows) >= MAX_EXAMINED:
            complete = False
        for row_key, record_id, s, n, p, row_year in rows:
            if row_key in scored:
                continue
            if len(scored) >= MAX_EXAMINED:
                complete = False
                break
            score, matched = score_row(terms, (s, n, p), row_year, year)
            score += _initials_bonus(parsed, n, p)
            hit = SearchHit(row_key, record_id, round(score, 2), row_year, matched)
            scored[row_key] = (score, hit)
    ranked = sorted(scored.values(), key=lambda item: (-item[0], item[1].row_key))
    page = [hit for _, hit in ranked[query.offset : needed]]
    return SearchPage(
        hits=page,
        examined=len(scored),
        complete=complete,
        has_more=len(ranked) > needed,
        ignored_terms=parsed.ignored,
    )
