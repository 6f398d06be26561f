"""The gossip topic validator: what may be forwarded, and who misbehaved (design §4.1; spec §12).

Pure logic (no trio, no libp2p): the gossip service calls :meth:`HeadValidator.check` from
libp2p's topic-validator hook with the forwarding peer, the message bytes and the time, and
acts on the :class:`Verdict`:

* ``accept``: forward it; ``news`` lists the heads longer than anything we know (a catch-up is
  due) and ``proof`` an equivocation proof to keep;
* ``ignore``: do not forward, no blame (over a peer's rate, a stale or repeated message);
* ``reject``: do not forward and penalise the forwarder: oversize, malformed, wrong dataset,
  a bad signature, a key that is not a publisher of the charter, a proof that does not prove.

"Known" is the longest head per publisher that the node holds or has accepted from gossip
(:meth:`note`); a head shorter than that is stale. A head of the same length is accepted
(forwarded, no catch-up): a mirror that already synced by another path must still relay, and
a different root at the same length is an equivocation the store will prove.
Per-peer token buckets bound the work a peer can cause (gossipsub's own 10 msg/s limit is
turned off: it silently drops the node's own announcements, libp2p-notes.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from samizdat_protocol.errors import RemoteError
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.wire import GOSSIP_LIMITS, GossipHeads, decode_gossip

__all__ = ["ACCEPT", "IGNORE", "REJECT", "HeadValidator", "RateLimiter", "Verdict"]

ACCEPT = "accept"
IGNORE = "ignore"
REJECT = "reject"


@dataclass(frozen=True)
class Verdict:
    action: str
    reason: str = ""
    news: tuple[SignedHead, ...] = ()  # longer than anything known: fetch
    conflicts: tuple[SignedHead, ...] = ()  # as long as a known head, another root: a fork
    heads: tuple[SignedHead, ...] = ()
    proof: EquivocationProof | None = None

    @property
    def forward(self) -> bool:
        return self.action == ACCEPT


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token bucket per peer: ``rate`` per second, bursts of ``burst``; ``max_peers`` kept."""

    def __init__(self, rate: float, burst: float, max_peers: int = 4096) -> None:
        self.rate = rate
        self.burst = burst
        self.max_peers = max_peers
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, peer: str, now: float, cost: float = 1.0) -> bool:
        bucket = self._buckets.pop(peer, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        self._buckets[peer] = bucket
        while len(self._buckets) > self.max_peers:
            self._buckets.popitem(last=False)
        if bucket.tokens < cost:
            return False
        bucket.tokens -= cost
        return True


@dataclass
class HeadValidator:
    """Checks gossip for one dataset; ``authorised(key)`` says whether a key may publish."""

    dataset_id: bytes
    authorised: Callable[[bytes], bool]
    rate: float = 20.0  # messages per second per forwarding peer
    burst: float = 60.0
    known: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # key -> (length, root)
    _limiter: RateLimiter = field(init=False)
    _proofs: OrderedDict[bytes, None] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self._limiter = RateLimiter(self.rate, self.burst)

    def note(self, head: SignedHead) -> None:
        """Remember a head as known (held, verified or accepted from gossip)."""
        length, _ = self.known.get(head.publisher, (-1, b""))
        if head.length > length:
            self.known[head.publisher] = (head.length, head.root)

    def check(self, peer: str, data: bytes, now: float, *, local: bool = False) -> Verdict:
        if not local and not self._limiter.allow(peer, now):
            return Verdict(IGNORE, "rate")
        if len(data) > GOSSIP_LIMITS.max_bytes:
            return Verdict(REJECT, "oversize")
        try:
            message = decode_gossip(data)
        except RemoteError as exc:
            return Verdict(REJECT, f"malformed: {exc.code}")
        if isinstance(message, GossipHeads):
            return self._heads(message.heads)
        return self._equivocation(message.proof)

    def _heads(self, heads: tuple[SignedHead, ...]) -> Verdict:
        news: list[SignedHead] = []
        conflicts: list[SignedHead] = []
        fresh = False
        for head in heads:
            if head.dataset_id != self.dataset_id:
                return Verdict(REJECT, "wrong dataset")
            if not self.authorised(head.publisher):
                return Verdict(REJECT, "unauthorised")
            try:
                head.verify(self.dataset_id)
            except RemoteError:
                return Verdict(REJECT, "bad signature")
            length, root = self.known.get(head.publisher, (-1, b""))
            if head.length > length:
                news.append(head)
            elif head.length == length and head.root != root:
                conflicts.append(head)
            # Same length: the same head again (relay, nothing to fetch) or, with another
            # root, an equivocation the store will prove: relay it too.
            fresh = fresh or head.length >= length
        if not fresh:
            return Verdict(IGNORE, "stale", heads=heads)
        for head in news:
            self.note(head)
        return Verdict(ACCEPT, news=tuple(news), conflicts=tuple(conflicts), heads=heads)

    def _equivocation(self, proof: EquivocationProof) -> Verdict:
        if proof.shorter.dataset_id != self.dataset_id:
            return Verdict(REJECT, "wrong dataset")
        if not self.authorised(proof.publisher):
            return Verdict(REJECT, "unauthorised")
        try:
            proof.verify(self.dataset_id)
        except RemoteError:
            return Verdict(REJECT, "invalid equivocation proof")
        name = proof.shorter.head_id + proof.longer.head_id
        if name in self._proofs:
            return Verdict(IGNORE, "known proof")
        self._proofs[name] = None
        while len(self._proofs) > 1024:
            self._proofs.popitem(last=False)
        return Verdict(ACCEPT, proof=proof)
