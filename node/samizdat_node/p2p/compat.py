"""Pinned compatibility patches for py-libp2p 0.8.1 (docs/decisions/0002-libp2p-compat.md).

A long-running mirror meets two defects of py-libp2p 0.8.1 that no configuration avoids:

1. **Inbound-connection leak.** ``Swarm._do_handle_inbound_connection`` ends with
   ``await self.manager.wait_finished()``: the task that accepted a connection lives until the
   whole swarm stops, holding one slot of the inbound ``CapacityLimiter`` (``max_connections -
   min_connections`` = 250 by default). After 250 *lifetime* inbound connections the node
   refuses every new one, and each connection ever accepted keeps a task and its socket
   objects. The patch waits for *that connection* to close instead, so the handler returns and
   releases its slot. (The handler must stay alive while the connection is open: trio's
   ``serve_listeners`` closes the socket when the handler returns.)
2. **A stream handler's exception kills the host.** Inbound streams run in
   ``SwarmConn._handle_muxed_stream`` inside a swarm-manager task; any exception that escapes a
   handler (ours, or libp2p's own: identify, ping, pubsub, kad) cancels the whole swarm. The
   patch logs it, resets that one stream and lets the connection live. ``trio.Cancelled`` (a
   ``BaseException``) still propagates.

Each patch replaces code we have read: :func:`apply` checks the installed version *and* a
SHA-256 of the source of every function it replaces, and refuses (all or nothing) if either
differs, so an upgrade of libp2p fails loudly instead of running a stale copy. Defects that are
handled by configuration or by the host helpers (per-peer connection cap, Noise/Yamux only,
stale peers, the dial negative cache) live in :mod:`samizdat_node.p2p.host`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from samizdat_protocol.errors import LocalError

__all__ = [
    "PINNED_VERSION",
    "CompatError",
    "apply",
    "installed_version",
    "is_applied",
    "patch_names",
]

log = logging.getLogger(__name__)

PINNED_VERSION = "0.8.1"
# How often a parked inbound handler re-checks a connection that offers no close event (the
# QUIC path, which this node does not use); Yamux connections wake it through ``event_closed``.
_CLOSE_POLL_SECONDS = 5.0
_MARK = "__samizdat_compat__"


class CompatError(LocalError):
    """The installed libp2p is not the one these patches were written for (``p2p.compat.*``)."""


@dataclass(frozen=True)
class _Patch:
    name: str
    owner: type
    attr: str
    source_sha256: str
    build: Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]


def installed_version() -> str:
    """The libp2p distribution version, as recorded by its installer."""
    return importlib.metadata.version("libp2p")


async def _until_connection_closed(swarm: Any, muxed_conn: Any) -> None:
    """Park until ``muxed_conn`` closes or the swarm stops (the replacement barrier).

    Yamux sets ``event_closed`` on every path that ends a connection: ``close()`` (local close,
    trim, prune, ``Swarm.close``) and ``_cleanup_on_error()`` (EOF, reset, GO_AWAY, protocol
    error). The poll is a safety net for connections without that event.
    """
    closed = getattr(muxed_conn, "event_closed", None)
    while True:
        with trio.move_on_after(_CLOSE_POLL_SECONDS):
            if isinstance(closed, trio.Event):
                await closed.wait()
                return
            await trio.sleep_forever()
        if getattr(muxed_conn, "is_closed", False) or getattr(swarm, "_closing", False):
            return
        manager = getattr(swarm, "_manager", None)
        if manager is not None and manager.is_finished:
            return


def _build_inbound_handler(
    _original: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    # A copy of Swarm._do_handle_inbound_connection (libp2p 0.8.1, network/swarm.py) with the two
    # `await self.manager.wait_finished()` barriers replaced by `_until_connection_closed`.
    from libp2p.abc import IMuxedConn
    from libp2p.network.connection.raw_connection import RawConnection

    async def _do_handle_inbound_connection(
        self: Any, read_write_closer: Any, maddr: Any, failure_event: Any
    ) -> None:
        async def _report_failure() -> None:
            failure_event.conn_incoming_error = True
            if self.metric_send_channel is not None:
                await self.metric_send_channel.send(failure_event)

        remote_maddr = self._build_remote_multiaddr(read_write_closer)
        if remote_maddr is not None and not await self.connection_gate.is_allowed(remote_maddr):
            log.debug("inbound connection from %s denied by connection gate", remote_maddr)
            try:
                await read_write_closer.close()
                await _report_failure()
            except Exception:
                pass
            return

        if isinstance(read_write_closer, IMuxedConn):  # pre-multiplexed (QUIC): not used here
            try:
                await self.add_conn(read_write_closer, direction="inbound")
                await _until_connection_closed(self, read_write_closer)
            except Exception:
                await read_write_closer.close()
                await _report_failure()
            return

        raw_conn = None
        try:
            raw_conn = RawConnection(read_write_closer, False)
            muxed_conn = await self.upgrade_inbound_raw_conn(raw_conn, maddr)
            await _until_connection_closed(self, muxed_conn)
        except Exception as exc:
            log.debug("error handling inbound connection: %s", exc)
            try:
                if raw_conn is not None:
                    await raw_conn.close()
                else:
                    await read_write_closer.close()
                    await _report_failure()
            except Exception:
                pass

    return _do_handle_inbound_connection


def _build_stream_guard(
    original: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    async def _handle_muxed_stream(self: Any, muxed_stream: Any) -> None:
        try:
            await original(self, muxed_stream)
        except Exception as exc:  # never BaseException: trio.Cancelled must propagate
            peer = getattr(self.muxed_conn, "peer_id", None)
            log.warning(
                "inbound stream handler for peer %s raised %s: %s; resetting the stream",
                peer,
                type(exc).__name__,
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            with contextlib.suppress(Exception):
                await muxed_stream.reset()

    return _handle_muxed_stream


def _patches() -> list[_Patch]:
    from libp2p.network.connection.swarm_connection import SwarmConn
    from libp2p.network.swarm import Swarm

    return [
        _Patch(
            name="inbound-connection-leak",
            owner=Swarm,
            attr="_do_handle_inbound_connection",
            source_sha256="c22fdfd5289f671c6ca1d2141200153d74bd1b81c873259215d3f2f5b91bc782",
            build=_build_inbound_handler,
        ),
        _Patch(
            name="stream-handler-exception",
            owner=SwarmConn,
            attr="_handle_muxed_stream",
            source_sha256="fb51f8a3e37c9800780217ef3402dbb06a79ecf7de6008c00dc8889263b55599",
            build=_build_stream_guard,
        ),
    ]


def patch_names() -> list[str]:
    """Names of the patches :func:`apply` installs (as used in the decision record)."""
    return [patch.name for patch in _patches()]


def is_applied() -> bool:
    return all(getattr(getattr(p.owner, p.attr), _MARK, False) for p in _patches())


def _check_version() -> None:
    import libp2p

    installed = installed_version()
    module_version = getattr(libp2p, "__version__", None)
    if installed != PINNED_VERSION or module_version != PINNED_VERSION:
        raise CompatError(
            "p2p.compat.version",
            f"samizdat's libp2p compatibility patches are written for libp2p {PINNED_VERSION}, "
            f"but {installed} is installed (module reports {module_version}); refusing to patch. "
            "Install the pinned version (pip install libp2p==0.8.1) or review the patches in "
            "docs/decisions/0002-libp2p-compat.md against the new release.",
            installed=installed,
            pinned=PINNED_VERSION,
        )


def _source_digest(function: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError) as exc:
        raise CompatError(
            "p2p.compat.source",
            f"cannot read the source of {function.__qualname__} to check it against libp2p "
            f"{PINNED_VERSION} before patching",
        ) from exc
    return hashlib.sha256(source.encode()).hexdigest()


def apply() -> None:
    """Install every patch once (idempotent); refuse on any other libp2p version or source.

    Verification happens for all patches before any is installed, so a refusal leaves libp2p
    untouched. Raises :class:`CompatError`.
    """
    patches = _patches()
    pending = [p for p in patches if not getattr(getattr(p.owner, p.attr), _MARK, False)]
    if not pending:
        return
    _check_version()
    for patch in pending:
        digest = _source_digest(getattr(patch.owner, patch.attr))
        if digest != patch.source_sha256:
            raise CompatError(
                "p2p.compat.source",
                f"{patch.owner.__name__}.{patch.attr} differs from the libp2p {PINNED_VERSION} "
                f"source the '{patch.name}' patch was written against (sha256 {digest}); "
                "refusing to patch a modified libp2p.",
                patch=patch.name,
            )
    for patch in pending:
        replacement = patch.build(getattr(patch.owner, patch.attr))
        replacement.__qualname__ = f"{patch.owner.__name__}.{patch.attr}"
        setattr(replacement, _MARK, patch.name)
        setattr(patch.owner, patch.attr, replacement)
        log.debug("libp2p compat patch applied: %s", patch.name)
