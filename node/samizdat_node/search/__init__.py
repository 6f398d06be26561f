"""Search over the record view: names in any spelling or script, birth year, place, sentence.

The store calls :mod:`.index` with its own connection (design §5); everything else here is
pure: folding (:mod:`.normalise`), spelling classes (:mod:`.phonetic`), Latin readings
(:mod:`.translit`), facets (:mod:`.facets`), query parsing (:mod:`.query`) and ranking
(:mod:`.rank`). Decision record: ``docs/decisions/0003-search.md``.
"""

from __future__ import annotations

from .index import create_schema, index_records, remove, search, set_retracted
from .model import MatchClass, SearchHit, SearchPage, SearchQuery, SearchQueryError

__all__ = [
    "MatchClass",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "SearchQueryError",
    "create_schema",
    "index_records",
    "remove",
    "search",
    "set_retracted",
]
