"""Server side of catch-up (spec §11): answer a hello, then stream requested ranges in chunks.

One inbound stream is one session, driven by :class:`samizdat_protocol.sync.CatchUpServer`.
For each ``get`` the server reads the range from its store in chunks of at most
``limits.chunk_entries`` entries and ``limits.chunk_bytes`` bytes. Each chunk carries the
store's current verified head (length ``n``) and the consistency proof from the chunk's end
``k`` to ``n`` (empty when ``k == n``), so the client verifies and commits every chunk alone.
Reading, proving, encoding and compressing a chunk run in one worker thread (never the trio
thread), while the previous chunk is being written: a one-slot channel between them.

A ``gov_get`` is answered with one page of the node's governance entries and equivocation
proofs (governance.py): of the items read for the hello, whose digest it carries (spec §11),
so a client paging through them gets exactly the set the digest names.

Only what a verified head covers is ever served (store.entries stops there). Anything wrong
on the client's side ends the session with an ``error`` reply and a reset (serve_protocol's
``on_error``); the host and other sessions are untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from samizdat_protocol.errors import LocalError, SamizdatError
from samizdat_protocol.sync import (
    CatchUpServer,
    SendMessage,
    ServeGovernance,
    ServeRange,
    SyncError,
)
from samizdat_protocol.wire import Chunk, Done, ErrorReply, GetRange, GovGet, Hello

from ..p2p.framing import FrameEOF, read_frame
from ..p2p.serve import ServeStats, serve_protocol
from ..store import AsyncStore, Store
from .codec import MAX_FRAME, encode_payload, read_message, send_payload, write_message
from .governance import HeldGovernance, governance_page, held_governance
from .limits import SYNC_PROTOCOL, SyncLimits

__all__ = ["ServerCounters", "SyncServer", "build_chunk", "peer_of", "unwrap"]

log = logging.getLogger(__name__)

_LINGER = 1.0

OnHello = Callable[[str, Hello], Awaitable[None]]


@dataclass
class ServerCounters:
    sessions: int = 0
    requests: int = 0
    chunks: int = 0
    entries: int = 0
    bytes_out: int = 0
    bytes_in: int = 0


def peer_of(stream: Any) -> str:
    try:
        return str(stream.muxed_conn.peer_id)
    except Exception:
        return "?"


def unwrap(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _cut(headers: Sequence[bytes], payloads: Sequence[bytes | None], budget: int) -> int:
    """How many leading entries fit ``budget`` bytes (at least one)."""
    total = 0
    for count, (header, payload) in enumerate(zip(headers, payloads, strict=True)):
        total += len(header) + (len(payload) if payload is not None else 0)
        if total > budget and count:
            return count
    return len(headers)


def build_chunk(store: Store, request_id: int, publisher: bytes, start: int, end: int,
                limits: SyncLimits) -> tuple[bytes, int]:
    """Read, prove and encode the chunk starting at ``start`` (blocking: a worker thread).

    Returns the frame payload and the chunk's end ``k``.
    """
    want = min(limits.chunk_entries, end - start)
    got = store.entries(publisher, start, want, proof=True)
    count = _cut(got.headers, got.payloads, limits.chunk_bytes)
    if count == 0:
        raise LocalError("sync.range", f"entries from {start} are not held under a verified "
                         f"head (held: {got.head.length})")
    k = start + count
    head = got.head
    proof = got.proof
    if count < len(got.headers):  # cut by bytes: prove from the shorter end
        proof = store.consistency_proof(publisher, k, head.length)
    chunk = Chunk(request_id, start, tuple(got.headers[:count]), tuple(got.payloads[:count]),
                  head, tuple(proof))
    return encode_payload(chunk, compress=limits.compress), k


def _build(store: Store, *, request: GetRange, start: int,
           limits: SyncLimits) -> tuple[bytes, int]:
    return build_chunk(store, request.request_id, request.publisher, start, request.end, limits)


class SyncServer:
    """Serves ``/samizdat/sync/1`` from ``store`` on a host (one instance per node)."""

    def __init__(self, store: AsyncStore, *, limits: SyncLimits | None = None,
                 addrs: Callable[[], Sequence[str]] = tuple,
                 on_hello: OnHello | None = None) -> None:
        self.store = store
        self.limits = limits or SyncLimits()
        self._addrs = addrs
        self._on_hello = on_hello
        self.counters = ServerCounters()
        self.stats: ServeStats | None = None
        self._per_peer: dict[str, int] = {}

    def register(self, host: Any) -> ServeStats:
        self.stats = serve_protocol(host, SYNC_PROTOCOL, self.handle,
                                    max_concurrent=self.limits.max_sessions,
                                    on_error=self._error_reply)
        return self.stats

    async def _error_reply(self, stream: Any, exc: Exception) -> None:
        inner = unwrap(exc)
        if isinstance(inner, SamizdatError):
            reply = ErrorReply(None, inner.code, inner.message)
        else:
            reply = ErrorReply(None, "sync.internal", "the server failed")
        await write_message(stream, reply, timeout=2.0)
        # Linger until the client has read it: py-libp2p 0.8.1 drops unread data when a reset
        # arrives (Yamux checks the reset before draining its buffer), and serve_protocol
        # resets the stream right after this. The client ends the stream when it reads the
        # reply; a client that does not is cut off after a second.
        with trio.move_on_after(_LINGER):
            while True:
                try:
                    await read_frame(stream, MAX_FRAME, _LINGER)
                except SamizdatError:
                    return

    async def handle(self, stream: Any) -> None:
        """One inbound session (exceptions are handled by serve_protocol's guard)."""
        peer = peer_of(stream)
        if self._per_peer.get(peer, 0) >= self.limits.max_sessions_per_peer:
            raise SyncError("sync.busy", "too many sessions from this peer at once")
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        try:
            await self._session(stream)
        finally:
            self._per_peer[peer] -= 1
            if not self._per_peer[peer]:
                del self._per_peer[peer]

    async def _session(self, stream: Any) -> None:
        limits = self.limits
        self.counters.sessions += 1
        message, size = await read_message(stream, timeout=limits.hello_timeout)
        self.counters.bytes_in += size
        heads = await self.store.heads()
        gov = await self.store.run_sync(held_governance)
        machine = CatchUpServer(self.store.dataset_id, tuple(heads.values()),
                                tuple(self._addrs()), max_requests=limits.max_requests,
                                gov=gov.digest)
        for action in machine.receive(message):
            if isinstance(action, SendMessage):
                self.counters.bytes_out += await write_message(
                    stream, action.message, timeout=limits.write_timeout)
        if self._on_hello is not None and isinstance(message, Hello):
            await self._on_hello(peer_of(stream), message)
        while True:
            try:
                message, size = await read_message(stream, timeout=limits.idle_timeout)
            except FrameEOF:
                return  # the client is done (it half-closes its side)
            self.counters.bytes_in += size
            for action in machine.receive(message):
                if isinstance(action, ServeRange):
                    await self._serve_range(stream, action.request)
                elif isinstance(action, ServeGovernance):
                    await self._serve_governance(stream, gov, action.request)

    async def _serve_governance(self, stream: Any, held: HeldGovernance,
                                request: GovGet) -> None:
        """One page of the governance items our hello named (read once per session)."""
        self.counters.requests += 1
        self.counters.bytes_out += await write_message(
            stream, governance_page(held, request), timeout=self.limits.write_timeout)

    async def _serve_range(self, stream: Any, request: GetRange) -> None:
        self.counters.requests += 1
        held = await self.store.head(request.publisher)
        if held is None or request.end > held.length:
            raise SyncError("sync.range", f"asked for entries up to {request.end}; this node "
                            f"holds {held.length if held else 0} under a verified head")
        send, receive = trio.open_memory_channel[tuple[bytes, int]](1)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._produce, request, send)
                async with receive:
                    async for payload, count in receive:
                        self.counters.bytes_out += await send_payload(
                            stream, payload, timeout=self.limits.write_timeout)
                        self.counters.chunks += 1
                        self.counters.entries += count
        except BaseExceptionGroup as group:
            inner = unwrap(group)
            if isinstance(inner, Exception) and not isinstance(inner, BaseExceptionGroup):
                raise inner from None
            raise
        self.counters.bytes_out += await write_message(stream, Done(request.request_id),
                                                       timeout=self.limits.write_timeout)

    async def _produce(self, request: GetRange,
                       send: trio.MemorySendChannel[tuple[bytes, int]]) -> None:
        async with send:
            position = request.start
            while position < request.end:
                start = position
                payload, position = await self.store.run_sync(
                    partial(_build, request=request, start=start, limits=self.limits))
                await send.send((payload, position - start))
