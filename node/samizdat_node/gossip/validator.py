"""The gossip topic validator: what may be forwarded, and who misbehaved (design §4.1; spec §12).

Pure logic (no trio, no libp2p): the gossip service calls :meth:`HeadValidator.check` from
libp2p's topic-validator hook with the forwarding peer, the message bytes and the time, and
acts on the :class:`Verdict`:

* ``accept``: forward it; ``news`` lists the heads longer than anything we know (a catch-up is
  due), ``proof`` an equivocation proof and ``governance`` a governance entry to keep;
* ``ignore``: do not forward, no blame (over a peer's rate, a stale or repeated message, a
  governance entry whose signatures we all hold, and what may be valid under governance we
  do not hold yet, see below);
* ``reject``: do not forward and penalise the forwarder: oversize, malformed, wrong dataset,
  a bad signature, a proof that does not prove, a governance entry without any valid
  signature.

A validly signed head or proof of a key that is not a publisher in the node's authorisation
state, or a governance entry validly signed but by no founder in force, is not proof of
malice: it is what a node sees when a rotation, an added publisher or a new founder set
reaches it after the messages that rely on it (gossip keeps no order). It is ignored, and
its verdict carries ``ask``: catch up from the sender, whose hello brings the governance we
lack (spec §11) before any range is planned. ``ask`` is set at most once per forwarder per
``ask_interval`` seconds, so a peer that sends such messages on purpose costs us one session
now and then, like anti-entropy. Decision 0008 says why this is not a reject.

Who is a publisher or a founder follows the node's authorisation state (spec §13): the
``authorised`` predicate is the gossip service's, which it keeps current as governance
arrives (a rotation's new key is accepted once the rotation is held), and :attr:`founders` is
set by the same service.

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
from samizdat_protocol.governance import GovernanceEntry, equivocation_id
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.wire import GOSSIP_LIMITS, GossipEquivocation, GossipHeads, decode_gossip

__all__ = ["ACCEPT", "IGNORE", "REJECT", "UNKNOWN_REASONS", "HeadValidator", "RateLimiter",
           "Verdict"]

ACCEPT = "accept"
IGNORE = "ignore"
REJECT = "reject"
UNKNOWN_PUBLISHER = "unknown publisher"
NO_FOUNDER_IN_FORCE = "no founder in force"
UNKNOWN_REASONS = frozenset({UNKNOWN_PUBLISHER, NO_FOUNDER_IN_FORCE})


@dataclass(frozen=True)
class Verdict:
    action: str
    reason: str = ""
    news: tuple[SignedHead, ...] = ()  # longer than anything known: fetch
    conflicts: tuple[SignedHead, ...] = ()  # as long as a known head, another root: a fork
    heads: tuple[SignedHead, ...] = ()
    proof: EquivocationProof | None = None
    governance: GovernanceEntry | None = None
    ask: bool = False  # the sender may hold governance we lack: catch up from it

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


MAX_REMEMBERED = 4096  # proofs and governance entries remembered as seen


@dataclass
class HeadValidator:
    """Checks gossip for one dataset; ``authorised(key)`` says whether a key may publish."""

    dataset_id: bytes
    authorised: Callable[[bytes], bool]
    rate: float = 20.0  # messages per second per forwarding peer
    burst: float = 60.0
    founders: frozenset[bytes] = frozenset()  # the founders in force (spec §13)
    ask_interval: float = 30.0  # seconds between two catch-ups asked of one forwarder
    known: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # key -> (length, root)
    _limiter: RateLimiter = field(init=False)
    _proofs: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    # governance entry id -> keys whose valid signature we hold or have accepted
    _governance: OrderedDict[bytes, frozenset[bytes]] = field(default_factory=OrderedDict)
    _asked: OrderedDict[str, float] = field(default_factory=OrderedDict)  # peer -> when

    def __post_init__(self) -> None:
        self._limiter = RateLimiter(self.rate, self.burst)

    def note(self, head: SignedHead) -> None:
        """Remember a head as known (held, verified or accepted from gossip)."""
        length, _ = self.known.get(head.publisher, (-1, b""))
        if head.length > length:
            self.known[head.publisher] = (head.length, head.root)

    def note_proof(self, proof: EquivocationProof) -> bool:
        """Remember a proof as seen; False if it already was (by ``equivocation_id``)."""
        name = equivocation_id(proof)
        if name in self._proofs:
            return False
        self._proofs[name] = None
        while len(self._proofs) > MAX_REMEMBERED:
            self._proofs.popitem(last=False)
        return True

    def note_governance(self, entry_id: bytes, signers: frozenset[bytes]) -> bool:
        """Remember that these signers' signatures of an entry are held; False if nothing was
        new."""
        held = self._governance.get(entry_id, frozenset())
        if signers <= held:
            return False
        self._governance[entry_id] = held | signers
        self._governance.move_to_end(entry_id)
        while len(self._governance) > MAX_REMEMBERED:
            self._governance.popitem(last=False)
        return True

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
            verdict = self._heads(message.heads)
        elif isinstance(message, GossipEquivocation):
            verdict = self._equivocation(message.proof, local)
        else:
            verdict = self._governance_entry(message.entry, local)
        if verdict.ask and (local or not self._may_ask(peer, now)):
            verdict = Verdict(IGNORE, verdict.reason)
        return verdict

    def _may_ask(self, peer: str, now: float) -> bool:
        """Whether a catch-up may be asked of ``peer`` now (at most once an ``ask_interval``)."""
        last = self._asked.pop(peer, None)
        if last is not None and now - last < self.ask_interval:
            self._asked[peer] = last
            return False
        self._asked[peer] = now
        while len(self._asked) > MAX_REMEMBERED:
            self._asked.popitem(last=False)
        return True

    def _heads(self, heads: tuple[SignedHead, ...]) -> Verdict:
        news: list[SignedHead] = []
        conflicts: list[SignedHead] = []
        fresh = unknown = False
        for head in heads:
            if head.dataset_id != self.dataset_id:
                return Verdict(REJECT, "wrong dataset")
            try:
                head.verify(self.dataset_id)
            except RemoteError:
                return Verdict(REJECT, "bad signature")
            if not self.authorised(head.publisher):
                unknown = True
                continue
            length, root = self.known.get(head.publisher, (-1, b""))
            if head.length > length:
                news.append(head)
            elif head.length == length and head.root != root:
                conflicts.append(head)
            # Same length: the same head again (relay, nothing to fetch) or, with another
            # root, an equivocation the store will prove: relay it too.
            fresh = fresh or head.length >= length
        if unknown:  # a key governance we lack may authorise (module docstring)
            return Verdict(IGNORE, UNKNOWN_PUBLISHER, ask=True)
        if not fresh:
            return Verdict(IGNORE, "stale", heads=heads)
        for head in news:
            self.note(head)
        return Verdict(ACCEPT, news=tuple(news), conflicts=tuple(conflicts), heads=heads)

    def _equivocation(self, proof: EquivocationProof, local: bool = False) -> Verdict:
        if proof.shorter.dataset_id != self.dataset_id:
            return Verdict(REJECT, "wrong dataset")
        try:
            proof.verify(self.dataset_id)
        except RemoteError:
            return Verdict(REJECT, "invalid equivocation proof")
        if not self.authorised(proof.publisher):
            return Verdict(IGNORE, UNKNOWN_PUBLISHER, ask=True)
        # Our own announcement is always let through (pubsub validates it like any other).
        if not self.note_proof(proof) and not local:
            return Verdict(IGNORE, "known proof")
        return Verdict(ACCEPT, proof=proof)

    def seen_proof(self, proof: EquivocationProof) -> bool:
        return equivocation_id(proof) in self._proofs

    def seen_governance(self, entry_id: bytes, signers: frozenset[bytes]) -> bool:
        return signers <= self._governance.get(entry_id, frozenset())

    def _governance_entry(self, entry: GovernanceEntry, local: bool = False) -> Verdict:
        if entry.body.dataset_id != self.dataset_id:
            return Verdict(REJECT, "wrong dataset")
        listed = frozenset(k for k, _ in entry.signatures)
        if self.seen_governance(entry.id, listed) and not local:
            return Verdict(IGNORE, "known governance entry")
        # Signatures are checked only now (a repeat costs nothing); at most 64 of them.
        signers = entry.signers()
        if not signers:
            return Verdict(REJECT, "no valid signature")
        if not signers & self.founders:  # perhaps founders a decision we lack put in force
            return Verdict(IGNORE, NO_FOUNDER_IN_FORCE, ask=True)
        if not self.note_governance(entry.id, signers) and not local:
            return Verdict(IGNORE, "known governance entry")
        return Verdict(ACCEPT, governance=entry)
