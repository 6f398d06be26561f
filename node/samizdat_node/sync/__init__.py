"""Catch-up sync over libp2p (design §4.2; spec §11): sessions, server, scheduler."""

from .codec import CODEC_PLAIN, CODEC_ZSTD, MAX_FRAME, decode_payload, encode_payload
from .limits import SYNC_PROTOCOL, SyncLimits
from .scheduler import SchedulerConfig, SyncScheduler
from .server import ServerCounters, SyncServer
from .session import SyncReport, catch_up, local_view

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
