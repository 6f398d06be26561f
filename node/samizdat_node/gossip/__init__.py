"""Gossip of signed heads and equivocation proofs (design §4.1; spec §12)."""

from .service import GossipConfig, GossipService, GossipStats, topic_for
from .validator import ACCEPT, IGNORE, REJECT, HeadValidator, RateLimiter, Verdict

__all__ = [
    "ACCEPT",
    "IGNORE",
    "REJECT",
    "GossipConfig",
    "GossipService",
    "GossipStats",
    "HeadValidator",
    "RateLimiter",
    "Verdict",
    "topic_for",
]
