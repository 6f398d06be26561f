"""Gossip of signed heads and equivocation proofs over gossipsub (design §4.1; spec §12).

One topic per dataset, ``samizdat/<dataset hex>/heads``. Gossip only announces: a newer head
is recorded in the store as *announced* (never shown as verified) and handed to the sync
scheduler (``on_news``), which fetches the entries from the peer that originated the message
or the one that forwarded it; anti-entropy covers whatever gossip loses (delivery is
best-effort and silent, libp2p-notes.md).

gossipsub is configured explicitly (libp2p-notes.md "Defects"): no built-in spam protection
(it silently drops even our own announcements above 10 msg/s per topic) but our own validator
with per-peer rate limits (validator.py), a 1 s heartbeat, explicit mesh degrees, invalid
messages counted by the router's scorer (graylisting floods), and our own strikes: a peer
that forwards ``strikes`` invalid messages is blacklisted in pubsub, disconnected and backed
off (the shared :class:`PeerBackoff`) until its backoff expires.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.score import ScoreParams, TopicScoreParams
from libp2p.tools.anyio_service import background_trio_service

from samizdat_protocol.errors import RemoteError
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.wire import (
    MAX_GOSSIP_HEADS,
    GossipEquivocation,
    GossipHeads,
    encode_message,
)

from ..p2p.backoff import PeerBackoff
from ..p2p.host import disconnect
from ..store import AsyncStore
from .validator import ACCEPT, REJECT, HeadValidator, Verdict

__all__ = ["GossipConfig", "GossipService", "GossipStats", "topic_for"]

log = logging.getLogger(__name__)

OnNews = Callable[[SignedHead, Sequence[str]], Awaitable[None]]
OnProof = Callable[[EquivocationProof], Awaitable[None]]


def topic_for(dataset_id: bytes) -> str:
    return f"samizdat/{dataset_id.hex()}/heads"


@dataclass(frozen=True)
class GossipConfig:
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_interval: int = 1
    rate: float = 20.0  # messages per second per forwarding peer
    burst: float = 60.0
    strikes: int = 3  # invalid messages before a peer is banned
    ban: float = 60.0  # seconds of the first ban from pubsub; doubles per ban, at most 1 h
    max_events: int = 256  # accepted messages waiting for the store


@dataclass
class GossipStats:
    published: int = 0
    accepted: int = 0
    ignored: int = 0
    rejected: int = 0
    news: int = 0
    equivocations: int = 0
    banned: list[str] = field(default_factory=list)


class GossipService:
    def __init__(self, host: Any, store: AsyncStore, *, backoff: PeerBackoff,
                 on_news: OnNews | None = None, on_proof: OnProof | None = None,
                 config: GossipConfig | None = None) -> None:
        self.host = host
        self.store = store
        self.backoff = backoff
        self.on_news = on_news
        self.on_proof = on_proof
        self.config = config or GossipConfig()
        self.topic = topic_for(store.dataset_id)
        publishers = store.store.dataset.publishers
        self.validator = HeadValidator(
            store.dataset_id, lambda key: key in publishers and publishers[key].authorised,
            rate=self.config.rate, burst=self.config.burst)
        self.stats = GossipStats()
        self.pubsub: Pubsub | None = None
        self.router: GossipSub | None = None
        self._strikes: dict[str, int] = {}
        self._banned: dict[str, tuple[ID, float]] = {}  # peer -> (id, banned until)
        self._bans: dict[str, int] = {}
        send, receive = trio.open_memory_channel[tuple[Verdict, str, str]](self.config.max_events)
        self._events_send, self._events_recv = send, receive

    def _router(self) -> GossipSub:
        cfg = self.config
        # Invalid messages lower a peer's score; a flood gets it graylisted by the router.
        score = ScoreParams(p4_invalid_messages=TopicScoreParams(weight=1.0, cap=1000.0,
                                                                 decay=0.9),
                            graylist_threshold=-50.0, publish_threshold=-50.0,
                            gossip_threshold=-25.0)
        return GossipSub([PROTOCOL_ID_V11, PROTOCOL_ID], degree=cfg.degree,
                         degree_low=cfg.degree_low, degree_high=cfg.degree_high,
                         heartbeat_interval=cfg.heartbeat_interval,
                         heartbeat_initial_delay=0.1, do_px=False, score_params=score,
                         spam_protection_enabled=False,
                         # IP diversity means nothing for mirrors on one LAN or loopback.
                         eclipse_protection_enabled=False)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        router = self._router()
        pubsub = Pubsub(self.host, router, max_inbound_rpc_size=256 * 1024,
                        allowed_topics={self.topic})
        for head in (await self.store.heads()).values():
            self.validator.note(head)
        async with background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            pubsub.set_topic_validator(self.topic, self._validate, False)
            subscription = await pubsub.subscribe(self.topic)
            self.pubsub, self.router = pubsub, router
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._drain, subscription)
                    nursery.start_soon(self._consume)
                    nursery.start_soon(self._unban_loop)
                    task_status.started(self)
            finally:
                self.pubsub = None

    # -- publishing ----------------------------------------------------------------------

    async def announce(self, heads: Sequence[SignedHead]) -> None:
        """Publish our heads (in messages of at most MAX_GOSSIP_HEADS)."""
        if self.pubsub is None or not heads:
            return
        for n in range(0, len(heads), MAX_GOSSIP_HEADS):
            batch = tuple(heads[n:n + MAX_GOSSIP_HEADS])
            await self._publish(encode_message(GossipHeads(batch)))

    async def announce_equivocation(self, proof: EquivocationProof) -> None:
        if self.pubsub is not None:
            await self._publish(encode_message(GossipEquivocation(proof)))

    async def _publish(self, data: bytes) -> None:
        assert self.pubsub is not None
        try:
            await self.pubsub.publish(self.topic, data)
            self.stats.published += 1
        except Exception:  # a dying peer stream must not take the caller down
            log.warning("gossip publish failed", exc_info=True)

    # -- receiving -----------------------------------------------------------------------

    def _validate(self, forwarder: ID, msg: Any) -> bool:
        """libp2p's synchronous topic validator (runs on the trio thread: cheap checks only)."""
        me = self.host.get_id()
        peer = str(forwarder)
        verdict = self.validator.check(peer, bytes(msg.data), trio.current_time(),
                                       local=forwarder == me)
        if verdict.action == ACCEPT:
            self.stats.accepted += 1
            if forwarder != me:
                try:
                    origin = str(ID(msg.from_id))
                except Exception:
                    origin = peer
                try:
                    self._events_send.send_nowait((verdict, origin, peer))
                except trio.WouldBlock:
                    log.info("gossip events queue full; anti-entropy will catch up")
            return True
        if verdict.action == REJECT:
            self.stats.rejected += 1
            self._strike(forwarder, verdict.reason)
        else:
            self.stats.ignored += 1
        return False

    def _strike(self, peer_id: ID, reason: str) -> None:
        peer = str(peer_id)
        count = self._strikes.get(peer, 0) + 1
        self._strikes[peer] = count
        log.info("gossip from %s rejected (%s), strike %d", peer, reason, count)
        if count >= self.config.strikes and peer not in self._banned and self.pubsub:
            now = trio.current_time()
            bans = self._bans[peer] = min(self._bans.get(peer, 0) + 1, 7)
            self._banned[peer] = (peer_id, now + min(3600.0, self.config.ban * 2 ** (bans - 1)))
            if len(self._bans) > 4096:
                self._bans.pop(next(iter(self._bans)))
            self.stats.banned.append(peer)
            del self.stats.banned[:-64]
            self.backoff.failure(peer, now)
            self.pubsub.add_to_blacklist(peer_id)  # also tears its pubsub stream down
            trio.lowlevel.spawn_system_task(disconnect, self.host, peer_id)

    async def _unban_loop(self) -> None:
        while True:
            await trio.sleep(1.0)
            now = trio.current_time()
            for peer, (peer_id, until) in list(self._banned.items()):
                if until <= now and self.pubsub is not None:
                    self.pubsub.remove_from_blacklist(peer_id)
                    del self._banned[peer]
                    self._strikes.pop(peer, None)

    async def _drain(self, subscription: Any) -> None:
        async for _ in subscription:  # our work happens in _consume; keep the channel empty
            pass

    async def _consume(self) -> None:
        async for verdict, origin, forwarder in self._events_recv:
            try:
                await self._handle(verdict, [origin, forwarder] if origin != forwarder
                                   else [origin])
            except RemoteError as exc:
                log.info("gossip message from %s could not be recorded: %s", forwarder, exc)
            except Exception:  # one message must not stop gossip (design §6)
                log.exception("handling a gossip message from %s failed", forwarder)

    async def _handle(self, verdict: Verdict, peers: list[str]) -> None:
        if verdict.proof is not None:
            self.stats.equivocations += 1
            # The store keeps a fork it can prove from its own entries: record both heads.
            for head in (verdict.proof.shorter, verdict.proof.longer):
                await self.store.record_head(head)
            if self.on_proof is not None:
                await self.on_proof(verdict.proof)
            return
        for head in verdict.news + verdict.conflicts:
            outcome = await self.store.record_head(head)
            if outcome.proof is not None:
                self.stats.equivocations += 1
                await self.announce_equivocation(outcome.proof)
                if self.on_proof is not None:
                    await self.on_proof(outcome.proof)
            elif outcome.status == "announced":
                self.stats.news += 1
                if self.on_news is not None:
                    await self.on_news(head, peers)

