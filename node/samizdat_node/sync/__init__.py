"""Catch-up sync over libp2p (design §4.2; spec §11): sessions, server, scheduler.

The names below are imported on first use (PEP 562), so that the parts a command needs
without a network (``sync.governance`` and ``sync.fastchunk`` for bundles) do not pay for
importing libp2p: every ``samizdat`` command starts faster.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .codec import CODEC_PLAIN, CODEC_ZSTD, MAX_FRAME, decode_payload, encode_payload
    from .limits import SYNC_PROTOCOL, SyncLimits
    from .scheduler import SchedulerConfig, SyncScheduler
    from .server import ServerCounters, SyncServer
    from .session import SyncReport, catch_up, local_view

_SOURCES = {
    "CODEC_PLAIN": "codec",
    "CODEC_ZSTD": "codec",
    "MAX_FRAME": "codec",
    "decode_payload": "codec",
    "encode_payload": "codec",
    "SYNC_PROTOCOL": "limits",
    "SyncLimits": "limits",
    "SchedulerConfig": "scheduler",
    "SyncScheduler": "scheduler",
    "ServerCounters": "server",
    "SyncServer": "server",
    "SyncReport": "session",
    "catch_up": "session",
    "local_view": "session",
}

__all__ = [
    "CODEC_PLAIN",
    "CODEC_ZSTD",
    "MAX_FRAME",
    "SYNC_PROTOCOL",
    "SchedulerConfig",
    "ServerCounters",
    "SyncLimits",
    "SyncReport",
    "SyncScheduler",
    "SyncServer",
    "catch_up",
    "decode_payload",
    "encode_payload",
    "local_view",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{source}", __name__), name)
    globals()[name] = value
    return value
