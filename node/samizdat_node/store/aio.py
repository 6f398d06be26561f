"""The store under trio: every blocking call runs in a worker thread (design §5, §6).

``aiosqlite`` would be the usual choice, but it is built on asyncio and cannot run under trio,
which py-libp2p requires (docs/decisions/0001-sqlite-worker-thread.md). Instead each call of
the synchronous :class:`~.store.Store` runs in ``trio.to_thread.run_sync``:

* writes (apply, publish, heads, verify's damage record) pass a ``CapacityLimiter(1)``: one
  writer at a time, in the order trio schedules them, never blocking the event loop;
* reads pass a limiter as large as the read connection pool.

(Parsing a batch in another thread while the previous one commits was tried and measured: no
gain, as SQLite's per-row steps hand the GIL back and forth with the parsing thread.)

A call that has started is not abandoned on cancellation: a write transaction always runs to
its commit or rollback, so cancelling a task never leaves half a batch (house style: never
swallow ``Cancelled``; trio delivers it once the thread returns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from samizdat_node.search.model import SearchPage, SearchQuery
from samizdat_protocol.authstate import AuthState
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merge import RecordView
from samizdat_protocol.signing import SigningKey

from .apply import ApplyResult, Payloads
from .audit import AuditReport, Damage
from .authority import GovernanceResult
from .headstore import HeadOutcome
from .indexer import defer_for
from .parsepool import MIN_ENTRIES, ParsedColumns, ParsePool, result_or_none, usable_cpus
from .publish import OnInvalid, PublishResult
from .reads import EntryRange, PublisherStatus, StoreCounts, ViewRow
from .repair import RepairEntry, RepairResult
from .store import Store

__all__ = ["AsyncStore"]

T = TypeVar("T")
DEFAULT_READERS = 4


class AsyncStore:
    """Trio facade over :class:`Store`; construct with :meth:`create` or :meth:`open`."""

    def __init__(self, store: Store, readers: int = DEFAULT_READERS,
                 parse_processes: int | None = None) -> None:
        self.store = store
        self._write = trio.CapacityLimiter(1)
        self._read = trio.CapacityLimiter(max(1, readers))
        # parsepool.py: big chunks from peers are parsed in a second process while the
        # previous one commits; None = one process when there is a second CPU to run it.
        if parse_processes is None:
            parse_processes = 1 if usable_cpus() >= 2 else 0
        self.parse_pool = ParsePool(parse_processes) if parse_processes > 0 else None
        self.parsed_elsewhere = 0  # batches whose parsing the pool did (for status and tests)
        # Applies commit in the order they were called (a sync session relies on it, and a
        # batch parsed elsewhere must not be overtaken by a later one parsed here): each
        # waits for the one called before it to finish.
        self._last_apply = trio.Event()
        self._last_apply.set()


    @classmethod
    async def create(cls, path: str | Path, charter: SignedCharter, **options: Any) -> AsyncStore:
        parse_processes = options.pop("parse_processes", None)
        store = await trio.to_thread.run_sync(partial(Store.create, path, charter, **options))
        return cls(store, options.get("readers", DEFAULT_READERS), parse_processes)

    @classmethod
    async def open(cls, path: str | Path, **options: Any) -> AsyncStore:
        parse_processes = options.pop("parse_processes", None)
        store = await trio.to_thread.run_sync(partial(Store.open, path, **options))
        return cls(store, options.get("readers", DEFAULT_READERS), parse_processes)

    async def _writing(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self._write)

    async def _reading(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self._read)

    async def aclose(self) -> None:
        try:
            if self.parse_pool is not None:
                await trio.to_thread.run_sync(self.parse_pool.close)
        finally:
            await self._writing(self.store.close)

    async def close_idle_pool(self) -> bool:
        """Stop the parsing process once it has been idle a while (parsepool.py)."""
        if self.parse_pool is None or not self.parse_pool.running:
            return False
        return await trio.to_thread.run_sync(self.parse_pool.close_if_idle)

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def dataset_id(self) -> bytes:
        return self.store.dataset_id

    # -- writes --------------------------------------------------------------------------

    async def apply_batch(self, publisher: bytes, start_index: int, headers: Sequence[bytes],
                          payloads: Payloads, head: SignedHead, *, proof: Sequence[bytes] = (),
                          index: bool | None = None) -> ApplyResult:
        """Verify and store a batch (Store.apply_batch). A big batch with aligned payloads
        is first parsed in the parsing process (once it is up: ParsePool.warm), outside the
        writer's turn, so that it overlaps the commit of the batch before it (parsepool.py)."""
        before, mine = self._last_apply, trio.Event()
        self._last_apply = mine
        try:
            pool = self.parse_pool
            if pool is None or len(headers) < MIN_ENTRIES or isinstance(payloads, Mapping) \
                    or not pool.warm():
                await before.wait()
                return await self._writing(
                    partial(self.store.apply_batch, publisher, start_index, headers, payloads,
                            head, proof=proof, index=index))
            want_bodies = not defer_for(self.store.index_mode, len(headers), index)
            parsed = await _parsed(pool.submit_chunk(self.store.schema_id, start_index,
                                                     headers, payloads, want_bodies))
            self.parsed_elsewhere += parsed is not None
            await before.wait()
            return await self._writing(
                partial(self.store.apply_parsed, publisher, start_index, headers, payloads,
                        head, parsed, proof=proof, index=index))
        finally:
            mine.set()

    async def record_head(self, head: SignedHead) -> HeadOutcome:
        return await self._writing(partial(self.store.record_head, head))

    async def publish(self, key: SigningKey, bodies: Iterable[tuple[str, Mapping[str, Any]]],
                      now_ms: int, batch_size: int = 10_000,
                      on_invalid: OnInvalid | None = None, *,
                      index: bool | None = None) -> PublishResult:
        return await self._writing(
            partial(self.store.publish, key, bodies, now_ms, batch_size, on_invalid,
                    index=index))

    async def index_pending(self, limit: int = 10_000) -> int:
        """One batch of the trailing indexer (a write); 0 when the index is up to date."""
        return await self._writing(partial(self.store.index_pending, limit))

    async def index_backlog(self) -> int:
        return await self._reading(self.store.index_backlog)

    async def correct(self, key: SigningKey, record_id: str, body: Mapping[str, Any],
                      now_ms: int) -> PublishResult:
        return await self._writing(partial(self.store.correct, key, record_id, body, now_ms))

    async def retract(self, key: SigningKey, record_id: str, reason: str,
                      now_ms: int) -> ApplyResult:
        return await self._writing(partial(self.store.retract, key, record_id, reason, now_ms))

    async def erase(self, key: SigningKey, record_id: str, payload_hash: bytes, reason: str,
                    now_ms: int) -> ApplyResult:
        return await self._writing(
            partial(self.store.erase, key, record_id, payload_hash, reason, now_ms))

    async def add_governance(self, entry: bytes) -> GovernanceResult:
        return await self._writing(partial(self.store.add_governance, entry))

    async def add_equivocation(self, proof: EquivocationProof | bytes) -> bool:
        return await self._writing(partial(self.store.add_equivocation, proof))

    async def repair_entries(self, items: Iterable[RepairEntry]) -> RepairResult:
        return await self._writing(partial(self.store.repair_entries, list(items)))

    async def damaged_ranges(self, most: int = 4096) -> list[tuple[bytes, int, int]]:
        return await self._reading(partial(self.store.damaged_ranges, most))

    async def verify(self, workers: int | None = None) -> AuditReport:
        return await self._writing(partial(self.store.verify, workers))

    # -- reads ---------------------------------------------------------------------------

    async def heads(self) -> dict[bytes, SignedHead]:
        return await self._reading(self.store.heads)

    async def head(self, publisher: bytes) -> SignedHead | None:
        return await self._reading(partial(self.store.head, publisher))

    async def head_history(self, publisher: bytes) -> list[SignedHead]:
        return await self._reading(partial(self.store.head_history, publisher))

    async def length(self, publisher: bytes) -> int:
        return await self._reading(partial(self.store.length, publisher))

    async def entries(self, publisher: bytes, start: int, limit: int = 10_000, *,
                      proof: bool = False) -> EntryRange:
        return await self._reading(
            partial(self.store.entries, publisher, start, limit, proof=proof))

    async def inclusion_proof(self, publisher: bytes, index: int, size: int) -> list[bytes]:
        return await self._reading(partial(self.store.inclusion_proof, publisher, index, size))

    async def consistency_proof(self, publisher: bytes, old: int, new: int) -> list[bytes]:
        return await self._reading(partial(self.store.consistency_proof, publisher, old, new))

    async def record(self, record_id: str) -> RecordView | None:
        return await self._reading(partial(self.store.record, record_id))

    async def view_rows(self, *, record_ids: Sequence[str] = (),
                        row_keys: Sequence[int] = ()) -> list[ViewRow]:
        return await self._reading(
            partial(self.store.view_rows, record_ids=record_ids, row_keys=row_keys))

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self._reading(partial(self.store.search, query))

    async def payload(self, payload_hash: bytes, record_id: str | None = None) -> bytes | None:
        return await self._reading(partial(self.store.payload, payload_hash, record_id))

    async def counts(self) -> StoreCounts:
        return await self._reading(self.store.counts)

    async def status(self) -> list[PublisherStatus]:
        return await self._reading(self.store.status)

    async def equivocations(self) -> list[EquivocationProof]:
        return await self._reading(self.store.equivocations)

    async def auth_state(self) -> AuthState:
        return await self._reading(self.store.auth_state)

    async def governance_entries(self) -> list[GovernanceEntry]:
        return await self._reading(self.store.governance_entries)

    async def refetch_needed(self) -> list[tuple[bytes, int]]:
        return await self._reading(self.store.refetch_needed)

    async def damage(self) -> list[Damage]:
        return await self._reading(self.store.damage)

    async def run_sync(self, fn: Callable[[Store], T], *, write: bool = False) -> T:
        """Run any other blocking use of the store (e.g. a search) in a worker thread."""
        call = partial(fn, self.store)
        return await (self._writing(call) if write else self._reading(call))


async def _parsed(future: Future[ParsedColumns | None]) -> ParsedColumns | None:
    """Wait for the parsing process without a thread; None when it could not help."""
    token = trio.lowlevel.current_trio_token()
    finished = trio.Event()

    def wake(_: object) -> None:
        # RunFinishedError: the run ended meanwhile and nobody waits any more.
        with suppress(trio.RunFinishedError):
            token.run_sync_soon(finished.set)

    future.add_done_callback(wake)
    # Cancelled meanwhile: the future is abandoned, not cancelled (the child finishes a chunk
    # nobody reads). CPython 3.11's pool crashes its manager thread when it breaks with a
    # cancelled future pending (terminate_broken sets an exception on it), leaving the
    # futures after it unresolved forever: parsepool.py never cancels one.
    await finished.wait()
    return result_or_none(future)
