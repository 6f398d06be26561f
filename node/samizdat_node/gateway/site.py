"""What every gateway handler needs: the store, the charter's names, settings, shared readers.

Also the two reads both the pages and the API make: a search query from URL parameters, and a
record's evidence checked the way a light client checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import trio

from samizdat_node.light.evidence import HitEvidence, RecordEvidence, collect_hits, collect_record
from samizdat_node.light.verify import HeadChecker
from samizdat_node.search.model import SearchPage, SearchQuery, SearchQueryError
from samizdat_node.store import AsyncStore
from samizdat_protocol.charter import SignedCharter

from .document import Checked, check_evidence
from .http import Request
from .ratelimit import RateLimit

__all__ = ["GatewaySettings", "Site", "search_query"]


@dataclass(frozen=True)
class GatewaySettings:
    """Limits of one gateway. ``rate`` applies per client address (static files are free)."""

    rate: RateLimit = field(default_factory=RateLimit)
    page_size: int = 20
    max_history: int = 200  # history rows drawn on a record page (the API gives them all)


_TRUE = ("1", "true", "on", "yes")


def _int(value: str | None, name: str, code: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 6:
        raise SearchQueryError(code, f"{name} must be a whole number")
    return int(value)


def search_query(request: Request, default_limit: int) -> SearchQuery:
    """A validated :class:`SearchQuery` from ``q``, ``birth_year``, ``tolerance``, ``place``,
    ``kind``, ``retracted``, ``limit`` and ``offset`` (raises ``search.*``)."""
    tolerance = _int(request.arg("tolerance"), "tolerance", "search.bad_tolerance")
    limit = _int(request.arg("limit"), "limit", "search.bad_limit")
    offset = _int(request.arg("offset"), "offset", "search.bad_offset")
    query = SearchQuery(
        text=request.arg("q") or "",
        birth_year=_int(request.arg("birth_year"), "birth_year", "search.bad_year"),
        year_tolerance=1 if tolerance is None else tolerance,
        place=request.arg("place") or None,
        sentence_kind=request.arg("kind") or None,
        include_retracted=(request.arg("retracted") or "").lower() in _TRUE,
        limit=default_limit if limit is None else limit,
        offset=offset or 0,
    )
    query.validate()
    return query


@dataclass
class Site:
    store: AsyncStore
    settings: GatewaySettings
    clock: Callable[[], float] = trio.current_time

    def __post_init__(self) -> None:
        self.charter: SignedCharter = self.store.store.charter
        self.checker = HeadChecker(self.charter)
        self.names: dict[bytes, str] = dict(self.checker.names)

    @property
    def dataset_name(self) -> str:
        return self.charter.charter.name

    async def record(self, record_id: str) -> tuple[RecordEvidence, Checked] | None:
        evidence = await self.store.run_sync(partial(collect_record, record_id=record_id))
        if evidence is None:
            return None
        # Heads are checked against the authorisation state in force (a rotation's new key
        # is a publisher), as a replica and a light client with governance do (spec §14).
        state = await self.store.auth_state()
        if state is not self.checker.state:
            self.checker = HeadChecker(self.charter, state)
            self.names = dict(self.checker.names)
        return evidence, check_evidence(evidence, self.checker)

    async def search(self, query: SearchQuery) -> tuple[SearchPage, list[HitEvidence]]:
        return await self.store.run_sync(partial(collect_hits, query=query))
