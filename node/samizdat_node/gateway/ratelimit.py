"""Per-client token buckets in a bounded table (design §4: every peer limit is explicit).

Pure: the clock is an argument (house style, aioquic), so tests run on virtual time. A bucket
holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request takes
``cost`` tokens or is refused with the time until it would be allowed. The table holds at most
``max_clients`` buckets, least recently used first out: a flood of addresses can evict buckets,
which only ever *forgives* a client (an evicted bucket comes back full), never blocks one, and
memory stays bounded whatever arrives.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from samizdat_protocol.errors import LocalError

__all__ = ["RateLimit", "TokenBuckets"]

_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` tokens per second, at most ``burst`` saved; ``max_clients`` buckets kept."""

    rate: float = 10.0
    burst: float = 40.0
    max_clients: int = 10_000

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1 and self.max_clients >= 1):
            raise LocalError("usage.rate_limit", "rate > 0, burst >= 1 and max_clients >= 1 "
                             "are required")


class TokenBuckets:
    """The bucket table. :meth:`take` is O(1)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        # client -> (tokens at `stamp`, stamp); ordered by last use, oldest first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens for ``client`` at time ``now`` (seconds, monotonic).

        Returns 0.0 when allowed, else the seconds to wait before the same request would be
        (and nothing is taken).
        """
        limit = self.limit
        found = self._buckets.pop(client, None)
        if found is None:
            tokens = limit.burst
        else:
            saved, stamp = found
            tokens = min(limit.burst, saved + max(0.0, now - stamp) * limit.rate)
        wait = 0.0
        # A client told to wait w seconds must be allowed at now + w: refill arithmetic in
        # floating point can fall short by an ulp, so allow that much.
        if tokens + _SLACK >= cost:
            tokens = max(0.0, tokens - cost)
        else:
            wait = (cost - tokens) / limit.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > limit.max_clients:
            self._buckets.popitem(last=False)
        return wait
