"""The search API's values: a query, a page of hits, match classes, limits and errors.

A :class:`SearchQuery` comes from a person (CLI, web form, a light client's request), so a bad
one is a :class:`SearchQueryError` (a :class:`~samizdat_protocol.errors.RemoteError`: the input
is wrong, not our code) with a stable code; the gateway maps codes to HTTP 400. Every limit
that bounds the work of one query is named here (design §4: "every limit is explicit").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from samizdat_protocol.errors import RemoteError

from .facets import SENTENCE_KINDS

__all__ = [
    "MAX_EXAMINED",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "MAX_YEAR_TOLERANCE",
    "MatchClass",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "SearchQueryError",
]

MAX_QUERY_CHARS = 200  # longer text is refused: three names and a year fit in 100
MAX_TERMS = 5  # name words used from one query; the rest are reported as ignored
MAX_LIMIT = 100
MAX_OFFSET = 1000
MAX_YEAR_TOLERANCE = 10
MAX_EXAMINED = 2000  # index rows read and scored for one query, over all passes
_YEARS = range(1700, 2101)


class SearchQueryError(RemoteError):
    """A search query is malformed (codes ``search.*``)."""


class MatchClass(enum.IntEnum):
    """How a query word matched a name field, best first (the ranking's main key).

    ``EXACT``: the name as written (or, for Latin input, a reading of it);
    ``VARIANT``: an alias or a listed variant of the record (``Ифлянд (Инфлянд)``);
    ``FORM``: the same name in the other gender (``Иванова``/``Иванов``);
    ``PHONETIC``: the same spelling class (:mod:`.phonetic`);
    ``FUZZY``: within one or two edits.
    """

    EXACT = 5
    VARIANT = 4
    FORM = 3
    PHONETIC = 2
    FUZZY = 1
    NONE = 0


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a person asks for. ``text`` holds names (any order, any script) and may hold a
    four-digit birth year; ``birth_year`` (if given) wins over a year in the text.
    """

    text: str = ""
    birth_year: int | None = None
    year_tolerance: int = 1
    place: str | None = None
    sentence_kind: str | None = None
    include_retracted: bool = False
    limit: int = 20
    offset: int = 0

    def validate(self) -> None:
        """Raise :class:`SearchQueryError` unless the query is within every limit."""
        if len(self.text) > MAX_QUERY_CHARS or len(self.place or "") > MAX_QUERY_CHARS:
            raise SearchQueryError(
                "search.query_too_long", f"a query is limited to {MAX_QUERY_CHARS} characters"
            )
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchQueryError("search.bad_limit", f"limit must be 1..{MAX_LIMIT}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise SearchQueryError("search.bad_offset", f"offset must be 0..{MAX_OFFSET}")
        if self.birth_year is not None and self.birth_year not in _YEARS:
            raise SearchQueryError("search.bad_year", "birth_year must be 1700..2100")
        if not 0 <= self.year_tolerance <= MAX_YEAR_TOLERANCE:
            raise SearchQueryError(
                "search.bad_tolerance", f"year_tolerance must be 0..{MAX_YEAR_TOLERANCE}"
            )
        if self.sentence_kind is not None and self.sentence_kind not in SENTENCE_KINDS:
            raise SearchQueryError(
                "search.bad_sentence_kind",
                f"sentence_kind must be one of {', '.join(SENTENCE_KINDS)}",
            )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked record: its store row key and record id, its score and how it matched.

    ``matched`` maps ``"surname"``, ``"name"``, ``"patronymic"`` to the class of the query word
    that matched that field (fields no word matched are absent).
    """

    row_key: int
    record_id: str
    score: float
    birth_year: int | None
    matched: dict[str, MatchClass] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of hits, best first.

    ``examined``: index rows scored (at most :data:`MAX_EXAMINED`); ``complete``: every
    candidate the index had was scored, so the order is exact (``False`` means the cap cut
    the candidates: a narrower query ranks better); ``has_more``: a next page exists among the
    scored rows; ``ignored_terms``: query words beyond :data:`MAX_TERMS`; ``pending``: records
    whose index rows are stale because indexing trails a bulk sync (design §8; set by the
    store, 0 when the index is up to date).
    """

    hits: list[SearchHit]
    examined: int
    complete: bool
    has_more: bool
    ignored_terms: tuple[str, ...] = ()
    pending: int = 0
