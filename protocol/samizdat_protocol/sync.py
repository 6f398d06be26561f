"""Catch-up sync as sans-IO state machines (design §4.2; spec §11).

In the style of h11: a state machine takes decoded messages and returns what to do next; it
never touches a stream, a store or a clock. The node's sync session feeds it messages read from
a libp2p stream, performs the actions it returns (send a message, read a range from the store,
verify and commit a chunk) and reports back (:meth:`CatchUpClient.committed`).

Client, per session::

    IDLE --start()--> HELLO_SENT --Hello--> SYNCING --(all ranges done)--> DONE
                          |                    ^
                          | "gov" differ       | governance_applied() after the last page
                          v                    |
                      GOVERNANCE --GovGet/GovReply pages, ApplyGovernance each--
                                    any protocol violation --> FAILED (typed RemoteError)

Governance first (spec §11, §13): when the hellos' ``gov`` digests differ, the client pages
through the server's governance entries and equivocation proofs (``GovGet``, one page at a
time, at most ``max_gov_items`` items per session) and hands each page to the caller
(``ApplyGovernance``), who verifies and stores it and calls :meth:`governance_applied`. Only
after the last page are ranges planned, from the held lengths and the ``accept`` predicate as
the caller has refreshed them: a rotation's new key is accepted only once the rotation is known,
and a log dropped for contradicting a pinned root is fetched again from 0.

The client asks only for logs where the peer's head is longer than what we hold, of
publishers we accept (the caller's ``accept`` predicate: charter and governance), at most
``max_in_flight`` ranges at a time and at most ``max_range`` entries per request. Chunks must
arrive in order, contiguous, for an outstanding request, and never past the requested end;
anything else fails the session (the node then penalises the peer). A chunk is only handed to
the caller for verification (``VerifyChunk``); the caller verifies it with
:func:`samizdat_protocol.log.verify_prefix` and stores it, then calls ``committed``.

Server: answers a Hello with its own, and each GetRange with a ``ServeRange`` action; the node
reads the range from its store in chunks bounded by ``wire.MAX_CHUNK_ENTRIES`` and bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .errors import LocalError, RemoteError
from .governance import GovernanceEntry
from .heads import EquivocationProof, SignedHead
from .wire import (
    EMPTY_GOVERNANCE,
    MAX_REQUEST_ID,
    Chunk,
    Done,
    ErrorReply,
    GetRange,
    GovGet,
    GovReply,
    Hello,
)

__all__ = [
    "ApplyGovernance",
    "CatchUpClient",
    "CatchUpServer",
    "ClientState",
    "Finished",
    "SendMessage",
    "ServeGovernance",
    "ServeRange",
    "SyncError",
    "VerifyChunk",
    "plan_ranges",
]

MAX_GOV_ITEMS_PER_SESSION = 65_536


class SyncError(RemoteError):
    """The peer broke the catch-up protocol (codes ``sync.*``)."""


@dataclass(frozen=True, slots=True)
class SendMessage:
    message: Hello | GetRange | Done | ErrorReply | GovGet


@dataclass(frozen=True, slots=True)
class VerifyChunk:
    publisher: bytes
    chunk: Chunk


@dataclass(frozen=True, slots=True)
class ApplyGovernance:
    """Verify and store these items, entries first (all or none: a forged one is the peer's
    fault), then call :meth:`CatchUpClient.governance_applied`."""

    entries: tuple[GovernanceEntry, ...]
    proofs: tuple[EquivocationProof, ...]
    more: bool  # another page follows


@dataclass(frozen=True, slots=True)
class ServeRange:
    request: GetRange


@dataclass(frozen=True, slots=True)
class ServeGovernance:
    """Answer with one page of our governance items from ``request.offset``."""

    request: GovGet


@dataclass(frozen=True, slots=True)
class Finished:
    fetched: int  # entries committed in this session
    peer_heads: tuple[SignedHead, ...]
    peer_addrs: tuple[str, ...]


Action = SendMessage | VerifyChunk | ApplyGovernance | ServeRange | ServeGovernance | Finished


class ClientState:
    IDLE = "idle"
    HELLO_SENT = "hello_sent"
    GOVERNANCE = "governance"
    SYNCING = "syncing"
    DONE = "done"
    FAILED = "failed"


def plan_ranges(held: Mapping[bytes, int], remote: Iterable[SignedHead],
                accept: Callable[[SignedHead], bool], max_range: int) -> list[GetRange]:
    """Ranges to request: for each accepted remote head longer than what we hold.

    Request ids are assigned later by the client; here they are 0. Ranges are cut at
    ``max_range`` entries so no single request holds a peer's stream too long.
    """
    out = []
    for head in sorted(remote, key=lambda h: h.publisher):
        have = held.get(head.publisher, 0)
        if head.length <= have or not accept(head):
            continue
        for start in range(have, head.length, max_range):
            out.append(GetRange(0, head.publisher, start, min(head.length, start + max_range)))
    return out


@dataclass
class _Outstanding:
    request: GetRange
    next_index: int


@dataclass
class CatchUpClient:
    dataset_id: bytes
    held: dict[bytes, int]
    local_heads: tuple[SignedHead, ...] = ()
    accept: Callable[[SignedHead], bool] = lambda head: True
    addrs: tuple[str, ...] = ()
    max_in_flight: int = 4
    max_range: int = 1 << 20
    gov: bytes = EMPTY_GOVERNANCE  # wire.governance_digest of what we hold
    max_gov_items: int = MAX_GOV_ITEMS_PER_SESSION
    state: str = ClientState.IDLE
    error: RemoteError | None = None
    fetched: int = 0
    gov_items: int = 0  # governance items received in this session
    _queue: deque[GetRange] = field(default_factory=deque)
    _outstanding: dict[int, _Outstanding] = field(default_factory=dict)
    _next_id: int = 1
    _peer: Hello | None = None
    _gov_request: GovGet | None = None
    _gov_more: bool | None = None  # set while a page is with the caller
    _page: int = 0  # items in that page

    def start(self) -> list[Action]:
        if self.state != ClientState.IDLE:
            raise LocalError("sync.state", f"start() in state {self.state}")
        self.state = ClientState.HELLO_SENT
        return [SendMessage(Hello(self.dataset_id, self.local_heads, self.addrs, self.gov))]

    def receive(self, message: object) -> list[Action]:
        """Feed one decoded message from the server; returns what to do next."""
        try:
            return self._receive(message)
        except RemoteError as exc:
            self.state = ClientState.FAILED
            self.error = exc
            raise

    def _violation(self, code: str, text: str) -> SyncError:
        return SyncError(f"sync.{code}", text)

    def _receive(self, message: object) -> list[Action]:
        if self.state == ClientState.HELLO_SENT:
            if not isinstance(message, Hello):
                raise self._violation("unexpected", "expected the server's hello first")
            if message.dataset_id != self.dataset_id:
                raise self._violation("wrong_dataset", "peer serves another dataset")
            self._peer = message
            if message.gov != self.gov:
                self.state = ClientState.GOVERNANCE
                return [self._gov_get(0)]
            return self._plan()
        if self.state not in (ClientState.SYNCING, ClientState.GOVERNANCE):
            raise LocalError("sync.state", f"receive() in state {self.state}")
        if isinstance(message, ErrorReply):
            raise self._violation("peer_error", f"peer refused: {message.code}: "
                                  f"{message.message}")
        if self.state == ClientState.GOVERNANCE:
            if isinstance(message, GovReply):
                return self._on_gov(message)
            raise self._violation("unexpected", f"unexpected {type(message).__name__} while "
                                  "reading governance")
        if isinstance(message, Chunk):
            return self._on_chunk(message)
        if isinstance(message, Done):
            return self._on_done(message)
        raise self._violation("unexpected", f"unexpected {type(message).__name__} while syncing")

    def _on_chunk(self, chunk: Chunk) -> list[Action]:
        out = self._outstanding.get(chunk.request_id)
        if out is None:
            raise self._violation("unknown_request", f"chunk for unknown request "
                                  f"{chunk.request_id}")
        req = out.request
        if chunk.start != out.next_index or chunk.end > req.end:
            raise self._violation("out_of_order", f"chunk [{chunk.start},{chunk.end}) does not "
                                  f"continue request at {out.next_index} up to {req.end}")
        if chunk.head.publisher != req.publisher or chunk.head.dataset_id != self.dataset_id:
            raise self._violation("wrong_head", "chunk proves against another log's head")
        out.next_index = chunk.end
        return [VerifyChunk(req.publisher, chunk)]

    def _on_done(self, done: Done) -> list[Action]:
        out = self._outstanding.pop(done.request_id, None)
        if out is None:
            raise self._violation("unknown_request", f"done for unknown request {done.request_id}")
        if out.next_index != out.request.end:
            raise self._violation("truncated", f"request ended at {out.next_index}, "
                                  f"promised {out.request.end}")
        return self._pump()

    def _gov_get(self, offset: int) -> SendMessage:
        self._gov_request = GovGet(self._take_id(), offset)
        return SendMessage(self._gov_request)

    def _on_gov(self, reply: GovReply) -> list[Action]:
        asked = self._gov_request
        if asked is None or self._gov_more is not None or reply.request_id != asked.request_id:
            raise self._violation("unknown_request", f"governance page for unknown request "
                                  f"{reply.request_id}")
        self.gov_items += reply.count
        if self.gov_items > self.max_gov_items:
            raise self._violation("too_much_governance", f"more than {self.max_gov_items} "
                                  "governance items in one session")
        self._gov_more, self._page = reply.more, reply.count
        return [ApplyGovernance(reply.entries, reply.proofs, reply.more)]

    def governance_applied(self, held: dict[bytes, int] | None = None,
                           accept: Callable[[SignedHead], bool] | None = None) -> list[Action]:
        """The caller stored the last ``ApplyGovernance`` page. After the last page, give the
        held lengths and ``accept`` as they now are (or set the fields before calling)."""
        if self.state != ClientState.GOVERNANCE or self._gov_more is None:
            raise LocalError("sync.state", "governance_applied() without a page applied")
        assert self._gov_request is not None
        more, self._gov_more = self._gov_more, None
        if more:
            return [self._gov_get(self._gov_request.offset + self._page)]
        if held is not None:
            self.held = held
        if accept is not None:
            self.accept = accept
        return self._plan()

    def _plan(self) -> list[Action]:
        assert self._peer is not None
        self.state = ClientState.SYNCING
        for request in plan_ranges(self.held, self._peer.heads, self.accept, self.max_range):
            self._queue.append(request)
        return self._pump()

    def _take_id(self) -> int:
        if self._next_id > MAX_REQUEST_ID:
            raise LocalError("sync.ids", "request ids exhausted in one session")
        self._next_id += 1
        return self._next_id - 1

    def committed(self, publisher: bytes, new_length: int, stored: int) -> None:
        """The caller verified and stored a chunk; ``new_length`` is now held."""
        self.held[publisher] = max(self.held.get(publisher, 0), new_length)
        self.fetched += stored

    def _pump(self) -> list[Action]:
        actions: list[Action] = []
        while self._queue and len(self._outstanding) < self.max_in_flight:
            planned = self._queue.popleft()
            request = GetRange(self._take_id(), planned.publisher, planned.start, planned.end)
            self._outstanding[request.request_id] = _Outstanding(request, request.start)
            actions.append(SendMessage(request))
        if not self._queue and not self._outstanding:
            self.state = ClientState.DONE
            assert self._peer is not None
            actions.append(Finished(self.fetched, self._peer.heads, self._peer.addrs))
        return actions


@dataclass
class CatchUpServer:
    """Server side: one Hello exchange, then any number of range and governance requests
    (bounded in number)."""

    dataset_id: bytes
    local_heads: tuple[SignedHead, ...]
    addrs: tuple[str, ...] = ()
    max_requests: int = 10_000
    gov: bytes = EMPTY_GOVERNANCE
    served: int = 0
    peer: Hello | None = None

    def receive(self, message: object) -> list[Action]:
        if self.peer is None:
            if not isinstance(message, Hello):
                raise SyncError("sync.unexpected", "expected the client's hello first")
            if message.dataset_id != self.dataset_id:
                raise SyncError("sync.wrong_dataset", "client wants another dataset")
            self.peer = message
            return [SendMessage(Hello(self.dataset_id, self.local_heads, self.addrs, self.gov))]
        if not isinstance(message, GetRange | GovGet):
            raise SyncError("sync.unexpected", f"unexpected {type(message).__name__}")
        self.served += 1
        if self.served > self.max_requests:
            raise SyncError("sync.too_many_requests", "too many requests in one session")
        if isinstance(message, GovGet):
            return [ServeGovernance(message)]
        return [ServeRange(message)]
