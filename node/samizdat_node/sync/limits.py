"""Every bound of the catch-up protocol in one place (design §4: "every peer limit is explicit").

Frames, chunks, requests in flight, sessions, and the deadline of every read. The values are
chosen for the design §8 figures on a 2-core machine (1M records of ~560 bytes) and for
py-libp2p's Yamux, which resets a stream whose reader stalls for 5 s (libp2p-notes.md): the
client never stops reading, and what it buffers is bounded by what it has asked for
(``max_in_flight`` ranges of at most ``max_range`` entries).
"""

from __future__ import annotations

from dataclasses import dataclass

from samizdat_protocol.errors import LocalError
from samizdat_protocol.wire import MAX_CHUNK_BYTES, MAX_CHUNK_ENTRIES

__all__ = ["SYNC_PROTOCOL", "SyncLimits"]

SYNC_PROTOCOL = "/samizdat/sync/1"


@dataclass(frozen=True)
class SyncLimits:
    chunk_entries: int = MAX_CHUNK_ENTRIES  # entries per chunk the server sends
    chunk_bytes: int = 4 * 1024 * 1024  # headers + payloads per chunk (wire allows 8 MiB)
    max_range: int = 16_384  # entries per request (4 chunks)
    max_in_flight: int = 2  # requests outstanding per session
    max_applies: int = 2  # chunks being verified and stored at once (parse overlaps commit)
    hello_timeout: float = 10.0  # the first message each way
    read_timeout: float = 30.0  # any later message while a transfer runs
    idle_timeout: float = 60.0  # server: between two requests of a client
    write_timeout: float = 30.0
    max_sessions: int = 32  # concurrent inbound sessions (server)
    max_sessions_per_peer: int = 2  # of those, from one peer
    max_requests: int = 10_000  # per inbound session
    compress: bool = True  # zstd chunk frames (codec.py)

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_entries <= MAX_CHUNK_ENTRIES:
            raise LocalError("sync.config", f"chunk_entries must be 1..{MAX_CHUNK_ENTRIES}")
        if not 1024 <= self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise LocalError("sync.config", f"chunk_bytes must be 1 KiB..{MAX_CHUNK_BYTES}")
        if self.max_range < 1 or self.max_in_flight < 1:
            raise LocalError("sync.config", "max_range and max_in_flight must be positive")
