"""Serve a libp2p protocol with a handler that can fail without hurting the host.

In py-libp2p 0.8.1 an exception escaping a stream handler cancels the whole swarm (a remote
crash; the compat patch is the backstop for libp2p's own handlers). :func:`serve_protocol`
wraps each handler so that:

* an ``Exception`` is logged (a :class:`RemoteError` — bad peer bytes — briefly, anything else
  with its traceback, since it is our bug), optionally answered through ``on_error`` (for a
  protocol-level error reply, bounded in time), and the stream is reset;
* ``trio.Cancelled`` (node shutdown, connection gone) resets the stream and propagates:
  it is never swallowed;
* a normal return closes the stream (idempotent if the handler already did), so no stream
  and no libp2p stream slot outlives its handler;
* at most ``max_concurrent`` streams of the protocol run at once; the next one is reset on
  arrival rather than queued ("finish local work before accepting new remote work",
  rust-libp2p coding guidelines).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.custom_types import TProtocol

from samizdat_protocol.errors import LocalError, RemoteError

__all__ = [
    "DEFAULT_MAX_CONCURRENT_STREAMS",
    "ErrorReply",
    "ServeStats",
    "StreamHandler",
    "close_stream",
    "closing_stream",
    "reset_stream",
    "serve_protocol",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT_STREAMS = 32
_RESET_TIMEOUT = 1.0
_CLOSE_TIMEOUT = 5.0

StreamHandler = Callable[[Any], Awaitable[None]]
ErrorReply = Callable[[Any, Exception], Awaitable[None]]


@dataclass
class ServeStats:
    """Live counters of one served protocol (for ``samizdat status`` and tests)."""

    protocol: str
    max_concurrent: int
    active: int = 0
    served: int = 0  # handler returned normally
    failed: int = 0  # handler raised
    rejected: int = 0  # refused at the concurrency cap


async def reset_stream(stream: Any) -> None:
    """Reset ``stream``, shielded and bounded: also used while being cancelled."""
    with trio.move_on_after(_RESET_TIMEOUT) as scope:
        scope.shield = True
        try:
            await stream.reset()
        except Exception:
            log.debug("stream reset failed", exc_info=True)


async def close_stream(stream: Any) -> None:
    """Close ``stream`` gracefully (half-close, then release); reset it if that fails."""
    try:
        with trio.fail_after(_CLOSE_TIMEOUT):
            await stream.close()
    except Exception:  # includes trio.TooSlowError
        log.debug("stream close failed; resetting", exc_info=True)
        await reset_stream(stream)


@asynccontextmanager
async def closing_stream(stream: Any) -> AsyncIterator[Any]:
    """Close ``stream`` on normal exit; reset it on an exception or cancellation."""
    try:
        yield stream
    except BaseException:
        await reset_stream(stream)
        raise
    await close_stream(stream)


def _peer_of(stream: Any) -> str:
    try:
        return str(stream.muxed_conn.peer_id)
    except Exception:
        return "?"


async def _report(stream: Any, exc: Exception, on_error: ErrorReply | None, proto: str) -> None:
    peer = _peer_of(stream)
    if isinstance(exc, RemoteError):
        log.info("%s: peer %s sent bad data: %s", proto, peer, exc)
    else:
        log.error("%s: handler failed on a stream from %s", proto, peer, exc_info=exc)
    if on_error is None:
        return
    with trio.move_on_after(_CLOSE_TIMEOUT):
        try:
            await on_error(stream, exc)
        except Exception:
            log.debug("%s: error reply to %s failed", proto, peer, exc_info=True)


def serve_protocol(
    host: Any,
    protocol_id: str,
    handler: StreamHandler,
    *,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT_STREAMS,
    on_error: ErrorReply | None = None,
) -> ServeStats:
    """Register ``handler`` for ``protocol_id`` on ``host``, guarded as described above."""
    if max_concurrent < 1:
        raise LocalError("p2p.config", "max_concurrent must be at least 1")
    stats = ServeStats(protocol=protocol_id, max_concurrent=max_concurrent)

    async def guarded(stream: Any) -> None:
        if stats.active >= max_concurrent:  # check and increment with no checkpoint between
            stats.rejected += 1
            log.debug("%s: %d streams active; refusing one", protocol_id, stats.active)
            await reset_stream(stream)
            return
        stats.active += 1
        try:
            await handler(stream)
        except Exception as exc:  # an ExceptionGroup holding a Cancelled is not an Exception
            stats.failed += 1
            await _report(stream, exc, on_error, protocol_id)
            await reset_stream(stream)
        except BaseException:
            await reset_stream(stream)
            raise
        else:
            stats.served += 1
            await close_stream(stream)
        finally:
            stats.active -= 1

    host.set_stream_handler(TProtocol(protocol_id), guarded)
    return stats
