"""Whom the node knows and whom it stays connected to (design §4: "reconnect with backoff").

:class:`PeerBook` collects peer addresses from every source (configured bootstrap peers, mDNS,
the DHT, peer exchange in the sync hello), bounded in peers and addresses per peer, with the
source kept for ``samizdat status``. :class:`Connector` dials them: it keeps at least
``target`` connections, dials bootstrap peers whenever they are not connected, spaces
attempts with the shared :class:`~samizdat_node.p2p.backoff.PeerBackoff` (a peer that failed,
stalled or sent invalid data waits), and tells the node about every new connection, inbound
or outbound (a libp2p notifee), so the scheduler can sync with it at once.

libp2p's own auto-connector is stopped by ``open_host``: whom to dial is decided here.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import INotifee
from multiaddr import Multiaddr

from samizdat_protocol.errors import LocalError, RemoteError

from ..p2p.backoff import PeerBackoff
from ..p2p.host import connect

__all__ = ["Connector", "KnownPeer", "PeerBook", "split_p2p_addr"]

log = logging.getLogger(__name__)

MAX_PEERS = 1024
MAX_ADDRS = 8

OnConnected = Callable[[str], Awaitable[None]]


def split_p2p_addr(addr: str) -> tuple[str, str] | None:
    """``(peer id, transport address)`` of ``/ip4/../tcp/../p2p/<id>``; None if not that."""
    try:
        maddr = Multiaddr(addr)
        peer = maddr.value_for_protocol("p2p")
        names = [p.name for p in maddr.protocols()]
    except Exception:
        return None
    if not peer or len(names) != 3 or names[0] not in ("ip4", "ip6") or names[1] != "tcp":
        return None
    return str(peer), addr


@dataclass
class KnownPeer:
    peer: str
    addrs: list[str] = field(default_factory=list)  # full multiaddrs ending in /p2p/<id>
    sources: set[str] = field(default_factory=set)
    bootstrap: bool = False


class PeerBook:
    """Known peers and their addresses (most recently heard first), bounded."""

    def __init__(self, self_id: str, max_peers: int = MAX_PEERS) -> None:
        self.self_id = self_id
        self.max_peers = max_peers
        self._peers: OrderedDict[str, KnownPeer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    def get(self, peer: str) -> KnownPeer | None:
        return self._peers.get(peer)

    def peers(self) -> list[KnownPeer]:
        return list(self._peers.values())

    def add(self, addr: str, source: str, *, bootstrap: bool = False) -> str | None:
        """Remember a full multiaddr; returns its peer id (None if unusable or ourselves)."""
        parsed = split_p2p_addr(addr)
        if parsed is None or parsed[0] == self.self_id:
            return None
        peer, full = parsed
        known = self._peers.pop(peer, None) or KnownPeer(peer)
        if full in known.addrs:
            known.addrs.remove(full)
        known.addrs.insert(0, full)
        del known.addrs[MAX_ADDRS:]
        known.sources.add(source)
        known.bootstrap = known.bootstrap or bootstrap
        self._peers[peer] = known
        self._peers.move_to_end(peer, last=False)
        while len(self._peers) > self.max_peers:
            victim = next((p for p in reversed(self._peers) if not self._peers[p].bootstrap),
                          None)
            if victim is None:
                break
            del self._peers[victim]
        return peer

    def add_many(self, addrs: Iterable[str], source: str) -> list[str]:
        out = []
        for addr in list(addrs)[:MAX_ADDRS * 4]:
            peer = self.add(addr, source)
            if peer is not None and peer not in out:
                out.append(peer)
        return out


class _Notifee(INotifee):
    """Forwards connection events to the connector (libp2p calls these on the trio thread)."""

    def __init__(self, events: trio.MemorySendChannel[tuple[str, bool]]) -> None:
        self._events = events

    async def opened_stream(self, network: Any, stream: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: Any, stream: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: Any, multiaddr: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        await trio.lowlevel.checkpoint()

    async def connected(self, network: Any, conn: Any) -> None:
        self._send(str(conn.muxed_conn.peer_id), True)
        await trio.lowlevel.checkpoint()

    async def disconnected(self, network: Any, conn: Any) -> None:
        self._send(str(conn.muxed_conn.peer_id), False)
        await trio.lowlevel.checkpoint()

    def _send(self, peer: str, up: bool) -> None:
        # A full queue loses an event; the connector's periodic pass notices the peer anyway.
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError,
                                 trio.BrokenResourceError):
            self._events.send_nowait((peer, up))


class Connector:
    """Keeps the node connected: bootstrap peers always, others up to ``target``."""

    def __init__(self, host: Any, book: PeerBook, backoff: PeerBackoff, *, target: int = 8,
                 interval: float = 2.0, dial_timeout: float = 5.0, max_dials: int = 4,
                 on_connected: OnConnected | None = None,
                 rng: random.Random | None = None) -> None:
        self.host = host
        self.book = book
        self.backoff = backoff
        self.target = target
        self.interval = interval
        self.dial_timeout = dial_timeout
        self.on_connected = on_connected
        self._rng = rng or random.Random()
        self._dials = trio.Semaphore(max_dials)
        self._dialling: set[str] = set()
        self._wake = trio.Event()
        send, receive = trio.open_memory_channel[tuple[str, bool]](256)
        self._events_send, self._events_recv = send, receive
        self.dialled = 0
        self.failed = 0

    def connected_peers(self) -> list[str]:
        return [str(p) for p in self.host.get_network().connections]

    def wake(self) -> None:
        """Dial now (new addresses arrived) instead of at the next interval."""
        self._wake.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.host.get_network().register_notifee(_Notifee(self._events_send))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._events)
            task_status.started(self)
            while True:
                await self._pass(nursery)
                with trio.move_on_after(self.interval):
                    await self._wake.wait()
                self._wake = trio.Event()

    async def _events(self) -> None:
        async for peer, up in self._events_recv:
            if up and self.on_connected is not None:
                try:
                    await self.on_connected(peer)
                except Exception:  # one peer must not stop the connector (design §6)
                    log.exception("handling the new connection to %s failed", peer)

    async def _pass(self, nursery: trio.Nursery) -> None:
        connected = set(self.connected_peers())
        now = trio.current_time()
        wanted = [k for k in self.book.peers() if k.peer not in connected
                  and k.peer not in self._dialling and self.backoff.ready(k.peer, now)]
        self._rng.shuffle(wanted)
        wanted.sort(key=lambda k: not k.bootstrap)  # bootstrap peers first, always
        room = max(0, self.target - len(connected))
        for known in wanted:
            if not known.bootstrap:
                if room <= 0:
                    continue
                room -= 1
            self._dialling.add(known.peer)
            nursery.start_soon(self._dial, known)

    async def _dial(self, known: KnownPeer) -> None:
        try:
            async with self._dials:
                for addr in list(known.addrs):
                    try:
                        await connect(self.host, addr, timeout=self.dial_timeout)
                    except (RemoteError, LocalError) as exc:
                        log.debug("dial %s failed: %s", addr, exc)
                        continue
                    self.dialled += 1
                    self.backoff.success(known.peer)
                    return
                self.failed += 1
                self.backoff.failure(known.peer, trio.current_time())
        finally:
            self._dialling.discard(known.peer)
