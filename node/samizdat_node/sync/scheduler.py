"""Whom to sync with, and when (design §4.2-§4.3): the node's network-wide sync policy.

Per-connection work lives in session.py; this module only decides (rust-libp2p guidelines:
split network-wide policy from per-connection handling). A catch-up with a peer is requested

* when gossip announces a newer head (:meth:`on_news`): from the peer that originated the
  message if we can reach it, else from the one that forwarded it; if that session ends
  without reaching the head, the next candidate is tried;
* when a peer connects (:meth:`on_connected`) and when an inbound session's hello shows the
  client ahead of us or holding other governance items (:meth:`on_hello`, the server learning
  from its client);
* when a governance entry from gossip changed who may publish what (:meth:`on_governance`):
  a new key's log, or a log dropped as a forged branch, is fetched from the peers that sent
  it;
* periodically with random connected peers (anti-entropy, ``anti_entropy_interval`` with
  jitter), so a lost gossip message never leaves a mirror behind.

At most ``max_sessions`` outbound sessions run at once, one per peer; a request for a peer
already in session is kept and runs again afterwards (news may have come in mid-session).
Peers in backoff wait (a peer that sent invalid data was backed off by the session). Addresses
in a peer's hello go to the peer book (peer exchange); equivocation proofs found by a session
go to ``on_proof`` (gossip).
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.peer.id import ID

from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.wire import Hello

from ..discovery.peers import PeerBook
from ..p2p.backoff import PeerBackoff
from ..store import AsyncStore
from .governance import held_governance
from .limits import SyncLimits
from .session import SyncReport, catch_up, local_view

__all__ = ["SchedulerConfig", "SyncScheduler"]

log = logging.getLogger(__name__)

OnProof = Callable[[EquivocationProof], Awaitable[None]]
OnReport = Callable[[SyncReport], Awaitable[None]]


@dataclass(frozen=True)
class SchedulerConfig:
    max_sessions: int = 3
    anti_entropy_interval: float = 30.0
    anti_entropy_fanout: int = 1
    max_pending: int = 256
    history: int = 32  # session reports kept for status


@dataclass
class _Want:
    head: SignedHead
    candidates: deque[str] = field(default_factory=deque)
    trying: str | None = None


class SyncScheduler:
    def __init__(self, host: Any, store: AsyncStore, book: PeerBook, backoff: PeerBackoff, *,
                 limits: SyncLimits | None = None, config: SchedulerConfig | None = None,
                 addrs: Callable[[], Sequence[str]] = tuple, on_proof: OnProof | None = None,
                 on_report: OnReport | None = None, on_addrs: Callable[[], None] | None = None,
                 rng: random.Random | None = None) -> None:
        self.host = host
        self.store = store
        self.book = book
        self.backoff = backoff
        self.limits = limits or SyncLimits()
        self.config = config or SchedulerConfig()
        self._addrs = addrs
        self.on_proof = on_proof
        self.on_report = on_report
        self.on_addrs = on_addrs
        self._rng = rng or random.Random()
        self._pending: OrderedDict[str, str] = OrderedDict()  # peer -> reason
        self._active: set[str] = set()
        self._wants: dict[bytes, _Want] = {}
        self._claims: dict[bytes, int] = {}  # shared by concurrent sessions (session.py)
        self._wake = trio.Event()
        self.reports: deque[SyncReport] = deque(maxlen=self.config.history)
        self.sessions = 0
        self.fetched = 0
        self.failures = 0

    # -- requests ------------------------------------------------------------------------

    def request(self, peer: str, reason: str) -> None:
        """Ask for a catch-up with ``peer`` soon (non-blocking; deduplicated, bounded)."""
        if peer == str(self.host.get_id()):
            return
        if peer not in self._pending and len(self._pending) >= self.config.max_pending:
            self._pending.popitem(last=False)
        self._pending.setdefault(peer, reason)
        self._wake.set()

    async def on_connected(self, peer: str) -> None:
        self.request(peer, "connected")

    async def on_news(self, head: SignedHead, peers: Sequence[str]) -> None:
        """Gossip announced ``head`` (already recorded as announced): fetch it."""
        want = self._wants.get(head.publisher)
        if want is not None and want.head.length >= head.length:
            return
        connected = {str(p) for p in self.host.get_network().connections}
        ordered = [p for p in peers if p in connected] + [p for p in peers if p not in connected]
        self._wants[head.publisher] = _Want(head, deque(ordered))
        if not self._claims.get(head.publisher):
            self._next_candidate(head.publisher)
        # else: a session is fetching this log; _after() looks again when it ends.

    async def on_hello(self, peer: str, hello: Hello) -> None:
        """An inbound session's hello: learn the client's addresses; pull if it is ahead, or
        holds governance items we may lack (its digest differs from ours)."""
        if self.book.add_many(hello.addrs, "pex") and self.on_addrs is not None:
            self.on_addrs()
        held, _, authorised = await self.store.run_sync(local_view)
        if any(h.publisher in authorised and h.length > held.get(h.publisher, 0)
               for h in hello.heads):
            self.request(peer, "peer ahead")
        elif hello.gov != (await self.store.run_sync(held_governance)).digest:
            self.request(peer, "governance")

    async def on_governance(self, peers: Sequence[str]) -> None:
        """A governance entry from gossip changed the state: sync with the peers that sent
        it (they hold what it allows, or the branch it pins)."""
        for peer in peers:
            self.request(peer, "governance")

    def _next_candidate(self, publisher: bytes) -> None:
        want = self._wants.get(publisher)
        while want is not None and want.candidates:
            peer = want.candidates.popleft()
            if peer != str(self.host.get_id()):
                want.trying = peer
                self.request(peer, "news")
                return
        self._wants.pop(publisher, None)

    # -- running -------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._anti_entropy)
            task_status.started(self)
            while True:
                self._dispatch(nursery)
                await self._wake.wait()
                self._wake = trio.Event()

    def _dispatch(self, nursery: trio.Nursery) -> None:
        now = trio.current_time()
        for peer in list(self._pending):
            if len(self._active) >= self.config.max_sessions:
                return
            if peer in self._active:
                continue
            if not self.backoff.ready(peer, now):
                del self._pending[peer]  # anti-entropy or news will ask again later
                continue
            reason = self._pending.pop(peer)
            self._active.add(peer)
            nursery.start_soon(self._session, peer, reason)

    async def _session(self, peer: str, reason: str) -> None:
        try:
            report = await catch_up(self.host, self.store, ID.from_base58(peer),
                                    addrs=tuple(self._addrs()), limits=self.limits,
                                    backoff=self.backoff, claims=self._claims)
            await self._after(report, reason)
        except Exception:  # a bug in one session must not stop the node (design §6)
            self.failures += 1
            log.exception("sync session with %s failed unexpectedly", peer)
        finally:
            self._active.discard(peer)
            self._wake.set()

    async def _after(self, report: SyncReport, reason: str) -> None:
        self.sessions += 1
        self.fetched += report.fetched
        self.reports.append(report)
        if report.error is not None:
            self.failures += 1
            log.info("sync with %s (%s) failed: %s", report.peer, reason, report.error)
        elif report.fetched:
            log.info("synced %d entries from %s (%s) in %.2f s", report.fetched, report.peer,
                     reason, report.seconds)
        if self.book.add_many(report.peer_addrs, "pex") and self.on_addrs is not None:
            self.on_addrs()
        for proof in report.equivocations:
            if self.on_proof is not None:
                await self.on_proof(proof)
        if self.on_report is not None:
            await self.on_report(report)
        if self._wants:
            held, _, _ = await self.store.run_sync(local_view)
            for publisher, want in list(self._wants.items()):
                if held.get(publisher, 0) >= want.head.length:
                    del self._wants[publisher]
                elif want.trying in (None, report.peer) and not self._claims.get(publisher):
                    self._next_candidate(publisher)

    async def _anti_entropy(self) -> None:
        interval = self.config.anti_entropy_interval
        while True:
            await trio.sleep(interval * (0.75 + 0.5 * self._rng.random()))
            now = trio.current_time()
            peers = [str(p) for p in self.host.get_network().connections
                     if self.backoff.ready(str(p), now)]
            for peer in self._rng.sample(peers, min(len(peers), self.config.anti_entropy_fanout)):
                self.request(peer, "anti-entropy")

    def busy(self) -> bool:
        """Whether an outbound session is running (committing chunks)."""
        return bool(self._active)

    def status(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "fetched": self.fetched, "failures": self.failures,
                "active": sorted(self._active), "pending": list(self._pending),
                "wants": {k.hex(): w.head.length for k, w in self._wants.items()},
                "recent": [r.to_dict() for r in list(self.reports)[-8:]]}
