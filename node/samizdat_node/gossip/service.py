"""Gossip of signed heads, equivocation proofs and governance entries over gossipsub
(design §4.1; spec §12, §13).

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

Governance travels like heads (spec §12): an accepted entry is stored (``add_governance``);
when it changes who may publish what, the peers that sent it are asked for a catch-up
(``on_governance``). The service also watches the store (``watch_interval``): entries and
proofs that arrive by any other path (a catch-up, a bundle, ``samizdat governance submit`` from
another process) are announced, and the validator's publishers and founders follow the
authorisation state, so a rotation's new key is accepted as soon as the rotation is held.
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

from samizdat_protocol.authstate import AuthState
from samizdat_protocol.errors import RemoteError, SamizdatError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.wire import (
    GOSSIP_LIMITS,
    MAX_GOSSIP_HEADS,
    GossipEquivocation,
    GossipGovernance,
    GossipHeads,
    encode_message,
)

from ..p2p.backoff import PeerBackoff
from ..p2p.host import disconnect
from ..store import AsyncStore, Store
from ..sync.governance import held_governance
from .validator import ACCEPT, REJECT, UNKNOWN_REASONS, HeadValidator, Verdict

__all__ = ["GossipConfig", "GossipService", "GossipStats", "topic_for"]

log = logging.getLogger(__name__)

OnNews = Callable[[SignedHead, Sequence[str]], Awaitable[None]]
OnProof = Callable[[EquivocationProof], Awaitable[None]]
OnGovernance = Callable[[Sequence[str]], Awaitable[None]]


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
    watch_interval: float = 0.1  # how often the store is checked for new governance items


@dataclass
class GossipStats:
    published: int = 0
    accepted: int = 0
    ignored: int = 0
    rejected: int = 0
    news: int = 0
    equivocations: int = 0
    governance: int = 0  # governance entries (or new signatures) stored from gossip
    unknown: int = 0  # ignored as perhaps valid under governance we lack (validator.py)
    banned: list[str] = field(default_factory=list)


class GossipService:
    def __init__(self, host: Any, store: AsyncStore, *, backoff: PeerBackoff,
                 on_news: OnNews | None = None, on_proof: OnProof | None = None,
                 on_governance: OnGovernance | None = None,
                 config: GossipConfig | None = None) -> None:
        self.host = host
        self.store = store
        self.backoff = backoff
        self.on_news = on_news
        self.on_proof = on_proof
        self.on_governance = on_governance
        self.config = config or GossipConfig()
        self.topic = topic_for(store.dataset_id)
        self._publishers: frozenset[bytes] = frozenset()
        self._auth_version: int | None = None
        self.validator = HeadValidator(store.dataset_id, self._is_publisher,
                                       rate=self.config.rate, burst=self.config.burst)
        self.follow(store.store.dataset.auth)
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

    def _is_publisher(self, key: bytes) -> bool:
        return key in self._publishers

    def follow(self, state: AuthState) -> None:
        """Validate from now on by this authorisation state: its publisher keys (revoked and
        rotated ones included: their earlier entries still count) and founders in force."""
        self._publishers = frozenset(state.publishers)
        self.validator.founders = frozenset(state.founders)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        router = self._router()
        pubsub = Pubsub(self.host, router, max_inbound_rpc_size=256 * 1024,
                        allowed_topics={self.topic})
        for head in (await self.store.heads()).values():
            self.validator.note(head)
        await self._watch_once(announce=False)
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
                    nursery.start_soon(self._watch_governance)
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
        """Publish a proof, unless it has been announced or relayed already."""
        if self.pubsub is not None and not self.validator.seen_proof(proof):
            await self._publish(encode_message(GossipEquivocation(proof)))

    async def announce_governance(self, entry: GovernanceEntry) -> None:
        """Publish a governance entry (one too big for gossip travels by catch-up only)."""
        data = encode_message(GossipGovernance(entry))
        if self.pubsub is not None and len(data) <= GOSSIP_LIMITS.max_bytes \
                and len(entry.to_bytes()) <= GOSSIP_LIMITS.max_bin \
                and entry.signers() & self.validator.founders:
            await self._publish(data)

    # -- the store: governance that arrived by another path -----------------------------

    async def _watch_governance(self) -> None:
        while True:
            await trio.sleep(self.config.watch_interval)
            try:
                await self._watch_once(announce=True)
            except SamizdatError as exc:  # a store that cannot be read now: try again later
                log.warning("could not read governance from the store: %s", exc)

    async def _watch_once(self, *, announce: bool) -> None:
        """When the store's authorisation state changed (any process, any path): follow the
        new state, and announce the entries, signatures and proofs not yet gossiped."""
        version = await self.store.run_sync(_auth_version)
        if version == self._auth_version:
            return
        self.follow(await self.store.auth_state())
        held = await self.store.run_sync(held_governance)
        for entry in held.entries:
            signers = held.signers[entry.id]
            if not self.validator.seen_governance(entry.id, signers):
                if announce:
                    await self.announce_governance(entry)
                self.validator.note_governance(entry.id, signers)
        for proof in held.proofs:
            if not self.validator.seen_proof(proof):
                if announce:
                    await self.announce_equivocation(proof)
                self.validator.note_proof(proof)
        self._auth_version = version  # only now: a failed round is tried again

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
        elif verdict.action == REJECT:
            self.stats.rejected += 1
            if forwarder != me:  # our own message: a bug or a stale state, never a strike
                self._strike(forwarder, verdict.reason)
        else:
            self.stats.ignored += 1
            self.stats.unknown += verdict.reason in UNKNOWN_REASONS
        if forwarder != me and (verdict.action == ACCEPT or verdict.ask):
            try:
                origin = str(ID(msg.from_id))
            except Exception:
                origin = peer
            try:
                self._events_send.send_nowait((verdict, origin, peer))
            except trio.WouldBlock:
                log.info("gossip events queue full; anti-entropy will catch up")
        return verdict.action == ACCEPT

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
        if verdict.ask:  # valid, perhaps, under governance the senders hold: catch up
            log.info("gossip from %s: %s; catching up from it", peers[-1], verdict.reason)
            if self.on_governance is not None:
                await self.on_governance(peers)
            return
        if verdict.governance is not None:
            await self._governance(verdict.governance, peers)
            return
        if verdict.proof is not None:
            self.stats.equivocations += 1
            # The proof is transferable (spec §8): kept as it is, it suspends the publisher
            # even on a node that holds neither branch.
            await self.store.add_equivocation(verdict.proof)
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

    async def _governance(self, entry: GovernanceEntry, peers: list[str]) -> None:
        """Store an accepted entry; when it changed the state, follow it and fetch what it
        allows (a rotation's new key) or restores (a log dropped as a forged branch)."""
        result = await self.store.add_governance(entry.to_bytes())
        if not result.stored:
            return
        self.stats.governance += 1
        self.follow(await self.store.auth_state())
        if (result.applied or result.dropped) and self.on_governance is not None:
            await self.on_governance(peers)


def _auth_version(store: Store) -> int:
    return store.dataset.version
