"""Per-peer redial backoff: exponential with jitter, bounded in size, clock passed in.

A peer whose dial or stream failed is treated as down (libp2p-notes.md: a SIGKILLed or
partitioned peer can stay "connected" long after it died). The host helpers close its
connection and record the failure here; the next attempt waits ``initial * factor**(n-1)``
seconds (capped at ``maximum``, spread by ±``jitter`` so a restarted network does not redial
in lockstep). A success forgets the peer. Time is an argument (house style: aioquic), so the
schedule is tested without sleeping; randomness comes from the caller's ``random.Random``.

This replaces libp2p's own policy: its swarm retries every dial three times and then refuses
to dial the peer *at all* for 60 s (a "negative cache"), which kept a restarted peer
unreachable. The host helpers turn both off (one dial attempt; ``Swarm.unblock_peer``).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass

from samizdat_protocol.errors import LocalError

__all__ = ["BackoffPolicy", "PeerBackoff"]


@dataclass(frozen=True)
class BackoffPolicy:
    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.1  # fraction of the delay, both ways

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.factor >= 1 and self.maximum >= self.initial):
            raise LocalError("backoff.policy", "need initial > 0, factor >= 1, maximum >= initial")
        if not 0 <= self.jitter < 1:
            raise LocalError("backoff.policy", "jitter must be in [0, 1)")

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (``failures >= 1``)."""
        base = min(self.maximum, self.initial * self.factor ** min(failures - 1, 64))
        return base * (1 + self.jitter * (2 * rng.random() - 1))


@dataclass
class _Entry:
    failures: int
    not_before: float


class PeerBackoff:
    """Which peers may be dialled now; at most ``max_peers`` remembered (oldest dropped)."""

    def __init__(
        self,
        policy: BackoffPolicy | None = None,
        *,
        rng: random.Random | None = None,
        max_peers: int = 10_000,
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._rng = rng or random.Random()
        self._max = max_peers
        self._peers: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def failures(self, peer: str) -> int:
        entry = self._peers.get(peer)
        return entry.failures if entry else 0

    def wait_time(self, peer: str, now: float) -> float:
        """Seconds until ``peer`` may be tried again (0.0: now)."""
        entry = self._peers.get(peer)
        return max(0.0, entry.not_before - now) if entry else 0.0

    def ready(self, peer: str, now: float) -> bool:
        return self.wait_time(peer, now) == 0.0

    def failure(self, peer: str, now: float) -> float:
        """Record a failed dial or stream; returns the wait before the next attempt."""
        entry = self._peers.pop(peer, None)
        failures = (entry.failures if entry else 0) + 1
        wait = self.policy.delay(failures, self._rng)
        self._peers[peer] = _Entry(failures, now + wait)
        while len(self._peers) > self._max:
            self._peers.popitem(last=False)
        return wait

    def success(self, peer: str) -> None:
        self._peers.pop(peer, None)
