"""Client side of catch-up (spec §11): fetch what a peer holds and we lack, chunk by chunk.

:func:`catch_up` opens one ``/samizdat/sync/1`` stream and drives
:class:`samizdat_protocol.sync.CatchUpClient` with two tasks:

* the **reader** never stops reading (Yamux resets a stream whose reader stalls for 5 s,
  libp2p-notes.md): it decodes each frame (a worker thread for big ones), feeds chunks to the
  state machine at once (so ordering, ids and bounds are checked as they arrive) and queues
  them;
* the **committer** verifies and stores each chunk in a worker thread
  (``AsyncStore.apply_batch(..., proof=...)``: signature, consistency proof from the chunk's end
  to its signed head, payload hashes, schema) and only then hands the request's ``done`` to
  the state machine, which is when the next request goes out.

Before any range is planned, when the hellos' governance digests differ, the session pages
through the server's governance entries and equivocation proofs one page at a time
(governance.py) and stores each page all or nothing; a forged item is the server's fault.
The held lengths and the publishers accepted are then read again, so a rotation's new key is
fetched, and a log dropped for contradicting a pinned root is fetched again from 0.

So the data buffered between them is bounded by what was asked for (``max_in_flight`` ranges
of at most ``max_range`` entries), the transfer stays pipelined (the next range streams while
one commits), and every chunk is committed on its own: an interrupted transfer resumes at the
last committed chunk. A peer that breaks the protocol or sends data that does not verify gets
an ``error`` reply and a reset, and, when a :class:`PeerBackoff` is given, is disconnected and
backed off. An equivocation is not the serving peer's fault: the store keeps the proof, the
session ends and the report says so.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from samizdat_protocol.errors import (
    DecodeError,
    EquivocationError,
    LocalError,
    RemoteError,
    SamizdatError,
    SchemaError,
)
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.sync import (
    ApplyGovernance,
    CatchUpClient,
    ClientState,
    Finished,
    SendMessage,
    VerifyChunk,
    plan_ranges,
)
from samizdat_protocol.wire import Done, ErrorReply, GetRange, Hello

from ..p2p.backoff import PeerBackoff
from ..p2p.framing import FrameTimeout, FrameTooLarge
from ..p2p.host import disconnect, open_stream
from ..p2p.serve import close_stream, reset_stream
from ..store import ApplyResult, AsyncStore, Store
from .codec import SyncMessage, read_message, write_message
from .governance import apply_page, held_governance
from .limits import SYNC_PROTOCOL, SyncLimits
from .server import unwrap

__all__ = ["SyncProgress", "SyncReport", "catch_up", "local_view"]

log = logging.getLogger(__name__)

OnProgress = Callable[[int], None]
# (publisher, entries of its log held now beyond what we held at the hello, entries it was
# behind then): called once per planned log with 0, then after each of its chunks commits.
SyncProgress = Callable[[bytes, int, int], None]
PENALTY = 4  # backoff failures recorded for a peer that sent invalid data (8 s, then 16 s...)


@dataclass
class SyncReport:
    """What one catch-up session did (also the result of ``samizdat sync --once``)."""

    peer: str
    fetched: int = 0  # entries newly stored
    chunks: int = 0
    requests: int = 0
    round_trips: int = 0  # the hello, plus each wave of requests sent with none outstanding
    bytes_in: int = 0  # frames received (length prefixes included)
    bytes_out: int = 0
    seconds: float = 0.0
    peer_heads: tuple[SignedHead, ...] = ()
    peer_addrs: tuple[str, ...] = ()
    error: SamizdatError | None = None
    penalised: bool = False  # the peer sent invalid data or broke the protocol
    equivocations: list[EquivocationProof] = field(default_factory=list)
    index_seconds: float = 0.0  # bringing the search index up to date afterwards (sync_once)
    governance: int = 0  # governance entries and proofs newly stored (spec §11, §13)
    dropped: list[bytes] = field(default_factory=list)  # logs dropped as forged branches

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"peer": self.peer, "ok": self.ok, "fetched": self.fetched,
                "chunks": self.chunks, "requests": self.requests,
                "round_trips": self.round_trips, "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out, "seconds": round(self.seconds, 3),
                "peer_heads": {h.publisher.hex(): h.length for h in self.peer_heads},
                "error": self.error.to_dict() if self.error is not None else None,
                "penalised": self.penalised, "equivocations": len(self.equivocations),
                "index_seconds": round(self.index_seconds, 3), "governance": self.governance,
                "dropped": [k.hex() for k in self.dropped]}


def local_view(store: Store) -> tuple[dict[bytes, int], tuple[SignedHead, ...], frozenset[bytes]]:
    """Held lengths, verified heads and authorised publishers (blocking: a worker thread)."""
    authorised = frozenset(k for k, p in store.dataset.publishers.items() if p.authorised)
    held = {key: store.length(key) for key in authorised}
    return held, tuple(store.heads().values()), authorised


class _PeerFault(Exception):
    """Internal: wraps a RemoteError that is the serving peer's fault."""

    def __init__(self, error: RemoteError) -> None:
        super().__init__(str(error))
        self.error = error


class _Session:
    def __init__(self, stream: Any, store: AsyncStore, limits: SyncLimits, report: SyncReport,
                 on_progress: OnProgress | None, claims: dict[bytes, int] | None,
                 progress: SyncProgress | None = None) -> None:
        self.stream = stream
        self.claims = claims
        self.claimed: list[tuple[bytes, int]] = []
        self.store = store
        self.limits = limits
        self.report = report
        self.on_progress = on_progress
        self.progress = progress
        self.planned: dict[bytes, tuple[int, int]] = {}  # publisher -> (held, target)
        self.client: CatchUpClient | None = None
        self.finished: Finished | None = None
        self.write_lock = trio.Lock()
        self.outstanding = 0
        self.queue_send, self.queue_recv = trio.open_memory_channel[VerifyChunk | Done](math.inf)

    def claim(self, hello: Hello) -> None:
        """Leave to another session what it is already fetching (``claims``): a new mirror
        connected to several peers must not download the same log from each of them."""
        if self.claims is None:
            return
        assert self.client is not None
        for head in hello.heads:
            theirs = head.length
            if self.claims.get(head.publisher, 0) >= theirs:
                self.client.held[head.publisher] = max(
                    self.client.held.get(head.publisher, 0), theirs)
            elif theirs > self.client.held.get(head.publisher, 0):
                self.claims[head.publisher] = theirs
                self.claimed.append((head.publisher, theirs))

    def release(self) -> None:
        if self.claims is not None:
            for publisher, length in self.claimed:
                if self.claims.get(publisher) == length:
                    del self.claims[publisher]

    def plan(self, hello: Hello) -> None:
        """Tell ``progress`` how far behind each log is, as the ranges about to be asked for
        (plan_ranges, after claims) say."""
        if self.progress is None:
            return
        assert self.client is not None
        for request in plan_ranges(self.client.held, hello.heads, self.client.accept,
                                   self.limits.max_range):
            held, _ = self.planned.get(request.publisher, (request.start, 0))
            self.planned[request.publisher] = (held, request.end)
        for publisher, (held, target) in self.planned.items():
            self.progress(publisher, 0, target - held)

    async def send(self, message: SyncMessage) -> None:
        async with self.write_lock:
            self.report.bytes_out += await write_message(self.stream, message,
                                                         timeout=self.limits.write_timeout)

    async def read(self, timeout: float) -> SyncMessage:  # noqa: ASYNC109
        try:
            message, size = await read_message(self.stream, timeout=timeout)
        except (FrameTooLarge, DecodeError, SchemaError) as exc:  # invalid bytes: its fault
            raise _PeerFault(exc) from exc
        self.report.bytes_in += size
        return message

    async def perform(self, actions: Sequence[object]) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                if isinstance(action.message, GetRange):
                    if self.outstanding == 0:
                        self.report.round_trips += 1
                    self.outstanding += 1
                    self.report.requests += 1
                await self.send(action.message)
            elif isinstance(action, VerifyChunk):
                self.queue_send.send_nowait(action)
            elif isinstance(action, Finished):
                self.finished = action

    def feed(self, message: object) -> list[Any]:
        assert self.client is not None
        try:
            return self.client.receive(message)
        except RemoteError as exc:
            raise _PeerFault(exc) from exc

    async def run(self, addrs: Sequence[str]) -> None:
        held, heads, authorised = await self.store.run_sync(local_view)
        gov = await self.store.run_sync(held_governance)
        self.client = CatchUpClient(
            self.store.dataset_id, dict(held), heads, lambda h: h.publisher in authorised,
            tuple(addrs), max_in_flight=self.limits.max_in_flight,
            max_range=self.limits.max_range, gov=gov.digest)
        await self.perform(self.client.start())
        self.report.round_trips += 1
        hello = await self.read(self.limits.hello_timeout)
        if isinstance(hello, Hello):
            self.report.peer_heads, self.report.peer_addrs = hello.heads, hello.addrs
            if hello.gov == gov.digest:  # else: once governance is applied (governance())
                self.claim(hello)
                self.plan(hello)
        actions = self.feed(hello)
        if self.client.state == ClientState.GOVERNANCE:
            assert isinstance(hello, Hello)
            actions = await self.governance(actions, hello)
        await self.perform(actions)
        if self.finished is not None:
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.reader)
            await self.committer()
            nursery.cancel_scope.cancel()

    async def governance(self, actions: list[Any], hello: Hello) -> list[Any]:
        """Page through the server's governance items, storing each page, then plan ranges
        from the held lengths and publishers as they now are (returns those actions)."""
        client = self.client
        assert client is not None
        while client.state == ClientState.GOVERNANCE:
            await self.perform(actions)
            self.report.round_trips += 1
            message = await self.read(self.limits.read_timeout)
            if isinstance(message, ErrorReply):
                client.receive(message)  # raises sync.peer_error: a refusal, no fault
            (page,) = self.feed(message)
            assert isinstance(page, ApplyGovernance)
            try:
                batch = await self.store.run_sync(
                    partial(apply_page, entries=page.entries, proofs=page.proofs), write=True)
            except RemoteError as exc:  # a forged item: nothing of the page was stored
                raise _PeerFault(exc) from exc
            self.report.governance += batch.entries + batch.proofs
            self.report.dropped.extend(batch.dropped)
            if not page.more:
                held, _, authorised = await self.store.run_sync(local_view)
                client.held = dict(held)
                client.accept = partial(_accepted, authorised)
                self.claim(hello)
                self.plan(hello)
            actions = client.governance_applied()
        return actions

    async def reader(self) -> None:
        while True:
            message = await self.read(self.limits.read_timeout)
            if isinstance(message, Done):
                self.queue_send.send_nowait(message)  # handled after its chunks are committed
            elif isinstance(message, ErrorReply):
                assert self.client is not None
                self.client.receive(message)  # raises sync.peer_error: a refusal, no fault
            else:
                await self.perform(self.feed(message))

    async def committer(self) -> None:
        """Commit chunks in order, up to ``limits.max_applies`` at a time: the store parses
        the next chunk while the previous one commits, and commits in the order called."""
        applies = trio.Semaphore(self.limits.max_applies)
        pending: deque[tuple[VerifyChunk, _Slot]] = deque()
        async with trio.open_nursery() as nursery:
            abort = nursery.cancel_scope  # a failed apply stops everything at once
            async for item in self.queue_recv:
                if isinstance(item, Done):
                    while pending:
                        await self.harvest(pending)
                    self.outstanding -= 1
                    await self.perform(self.feed(item))
                    if self.finished is not None:
                        return
                    continue
                await applies.acquire()
                chunk = item.chunk
                # The store takes its commit turn here, at the call (AsyncStore.apply_batch).
                call = self.store.apply_batch(item.publisher, chunk.start, chunk.headers,
                                              chunk.payloads, chunk.head, proof=chunk.proof)
                slot = _Slot()
                nursery.start_soon(slot.run, call, applies, abort)
                pending.append((item, slot))
                while pending and pending[0][1].done.is_set():
                    await self.harvest(pending)
        # Cancelled by a failed apply: report the first failure in chunk order.
        for _, slot in pending:
            if slot.error is not None:
                raise _fault(slot.error) from slot.error

    async def harvest(self, pending: deque[tuple[VerifyChunk, _Slot]]) -> None:
        action, slot = pending[0]
        await slot.done.wait()
        pending.popleft()
        if slot.error is not None:
            raise _fault(slot.error) from slot.error
        result = slot.result
        assert self.client is not None and result is not None
        self.client.committed(action.publisher, result.length, result.stored)
        self.report.chunks += 1
        self.report.fetched += result.stored
        if self.on_progress is not None:
            self.on_progress(result.stored)
        planned = self.planned.get(action.publisher)
        if self.progress is not None and planned is not None:
            held, target = planned
            self.progress(action.publisher, min(result.length, target) - held, target - held)


def _accepted(authorised: frozenset[bytes], head: SignedHead) -> bool:
    return head.publisher in authorised


class _Slot:
    """One apply in flight: its result or its error, and when it finished."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: ApplyResult | None = None
        self.error: Exception | None = None

    async def run(self, call: Awaitable[ApplyResult], applies: trio.Semaphore,
                  abort: trio.CancelScope) -> None:
        try:
            self.result = await call
        except Exception as exc:  # handed to the committer, in chunk order
            self.error = exc
            abort.cancel()
        finally:
            applies.release()
            self.done.set()


def _fault(error: Exception) -> Exception:
    """A store error for a chunk: the serving peer's fault, unless it is an equivocation
    (the publisher's) or not about the peer's bytes at all."""
    if isinstance(error, RemoteError) and not isinstance(error, EquivocationError):
        return _PeerFault(error)
    return error


async def _record_peer_heads(store: AsyncStore, report: SyncReport) -> None:
    """Note the peer's heads we did not just reach: announced, consistent, or a fork."""
    ours = await store.heads()
    authorised = store.store.dataset.publishers
    for head in report.peer_heads:
        pub = authorised.get(head.publisher)
        mine = ours.get(head.publisher)
        if pub is None or not pub.authorised or (mine is not None and mine == head):
            continue
        try:
            outcome = await store.record_head(head)
        except RemoteError as exc:
            log.info("peer %s advertised a bad head: %s", report.peer, exc)
            continue
        if outcome.proof is not None:
            report.equivocations.append(outcome.proof)


async def catch_up(host: Any, store: AsyncStore, peer_id: Any, *, addrs: Sequence[str] = (),
                   limits: SyncLimits | None = None, backoff: PeerBackoff | None = None,
                   on_progress: OnProgress | None = None,
                   progress: SyncProgress | None = None,
                   claims: dict[bytes, int] | None = None) -> SyncReport:
    """One catch-up session with ``peer_id`` (connected, or dialable from the peerstore).

    Never raises for the peer's faults or unreachability: the report's ``error`` says what
    went wrong and ``penalised`` whether the peer is to blame (then, with ``backoff``, it has
    been disconnected and backed off). Cancellation propagates. ``claims`` (shared by the
    node's concurrent sessions: publisher -> length being fetched) keeps two sessions from
    fetching the same log at once.
    """
    limits = limits or SyncLimits()
    report = SyncReport(peer=str(peer_id))
    started = trio.current_time()
    try:
        stream = await open_stream(host, peer_id, [SYNC_PROTOCOL],
                                   timeout=limits.hello_timeout, backoff=backoff)
    except RemoteError as exc:
        report.error = exc
        return report
    session = _Session(stream, store, limits, report, on_progress, claims, progress)
    try:
        try:
            await session.run(addrs)
        except BaseExceptionGroup as group:
            inner = unwrap(group)
            if isinstance(inner, Exception) and not isinstance(inner, BaseExceptionGroup):
                raise inner from None
            raise
    except _PeerFault as fault:
        report.error, report.penalised = fault.error, True
    except EquivocationError as exc:
        report.error = exc
    except (RemoteError, LocalError) as exc:  # frame errors, timeouts; our own misuse
        report.error = exc
    except BaseException:
        await reset_stream(stream)
        raise
    finally:
        session.release()
        report.seconds = trio.current_time() - started
    if report.error is None:
        await close_stream(stream)
        await _record_peer_heads(store, report)
    else:
        await _fail(host, stream, peer_id, report, backoff)
    report.seconds = trio.current_time() - started
    return report


async def _fail(host: Any, stream: Any, peer_id: Any, report: SyncReport,
                backoff: PeerBackoff | None) -> None:
    error = report.error
    assert error is not None
    if report.penalised or isinstance(error, EquivocationError):
        with trio.move_on_after(1.0), contextlib.suppress(SamizdatError):
            await write_message(stream, ErrorReply(None, error.code, error.message[:1000]),
                                timeout=1.0)
    await reset_stream(stream)
    if report.penalised:
        log.warning("peer %s sent invalid data: %s", report.peer, error)
    else:
        log.info("catch-up with %s failed: %s", report.peer, error)
    if backoff is not None and (report.penalised or isinstance(error, FrameTimeout)):
        # Invalid data, or a stall (a frozen or hostile peer): drop it and back off; invalid
        # data counts as PENALTY failures at once (a longer wait than an unreachable peer's).
        now = trio.current_time()
        for _ in range(PENALTY if report.penalised else 1):
            backoff.failure(report.peer, now)
        await disconnect(host, peer_id)
