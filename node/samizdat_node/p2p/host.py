"""Open a py-libp2p host the way the node needs it, and dial peers with bounded waits.

:func:`open_host` builds a host with one configuration only (design.md §6,
libp2p-notes.md "Defects"): TCP transport, Noise security, Yamux multiplexing, at most one
connection per peer (the default of three adds a fixed 250 ms to every ``connect``), one dial
attempt per ``connect`` (the node's :class:`~.backoff.PeerBackoff` decides when to retry), no
auto-connector (the node decides whom to dial), and the pinned compatibility patches applied.
The host is closed on every exit path: leaving ``host.run()`` without ``host.close()`` leaves
the port accepting and connections open.

:func:`connect` and :func:`open_stream` bound every wait and treat a failure as "peer down":
a peer that died without a FIN (killed machine, partition) keeps a dead connection that
``new_stream`` happily reuses and never redials, so a failed or timed-out stream closes the
peer's connection and the next attempt dials afresh.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.network.stream.exceptions import StreamReset
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.exceptions import MuxedStreamReset
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.transport.tcp.tcp import TCP
from multiaddr import Multiaddr

from samizdat_protocol.errors import LocalError, RemoteError

from . import compat
from .backoff import PeerBackoff
from .identity import Identity

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_STREAM_TIMEOUT",
    "ListenError",
    "PeerUnavailable",
    "connect",
    "disconnect",
    "open_host",
    "open_stream",
    "tcp_multiaddr",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_STREAM_TIMEOUT = 10.0
DEFAULT_CLOSE_TIMEOUT = 5.0


class ListenError(LocalError):
    """The host cannot listen where it was told to (``p2p.bad_addr``, ``p2p.listen_failed``)."""


class PeerUnavailable(RemoteError):
    """A peer could not be reached or would not open a stream (codes ``p2p.*``).

    ``retry_after`` (seconds) is set when a :class:`PeerBackoff` was given.
    """

    def __init__(self, code: str, message: str, *, peer: str, retry_after: float = 0.0) -> None:
        super().__init__(code, message, peer=peer, retry_after=round(retry_after, 3))
        self.peer = peer
        self.retry_after = retry_after


def tcp_multiaddr(addr: str | Multiaddr) -> Multiaddr:
    """Parse a listen address; only ``/ip4|ip6/<address>/tcp/<port>`` is accepted."""
    try:
        maddr = Multiaddr(str(addr))
        names = [p.name for p in maddr.protocols()]
    except Exception as exc:
        raise ListenError("p2p.bad_addr", f"not a multiaddr: {addr!r}") from exc
    if len(names) != 2 or names[0] not in ("ip4", "ip6") or names[1] != "tcp":
        raise ListenError(
            "p2p.bad_addr", f"listen address {addr} must be /ip4|ip6/<address>/tcp/<port>"
        )
    return maddr


def _connection_config(max_connections: int, negotiate_timeout: float) -> ConnectionConfig:
    if max_connections < 6:
        raise LocalError("p2p.config", "max_connections must be at least 6")
    return ConnectionConfig(
        max_connections=max_connections,
        high_watermark=max_connections,
        low_watermark=max_connections // 3,
        # libp2p admits max_connections - min_connections inbound connections at a time.
        min_connections=max_connections // 6,
        max_connections_per_peer=1,
        dial_timeout=DEFAULT_CONNECT_TIMEOUT,
        inbound_upgrade_timeout=negotiate_timeout,
        outbound_upgrade_timeout=negotiate_timeout,
        inbound_stream_protocol_negotiation_timeout=negotiate_timeout,
        outbound_stream_protocol_negotiation_timeout=negotiate_timeout,
    )


def _swarm(host: IHost) -> Swarm:
    network = host.get_network()
    if not isinstance(network, Swarm):  # new_host always builds a Swarm in 0.8.1
        raise LocalError("p2p.config", f"unexpected libp2p network {type(network).__name__}")
    return network


async def _close_host(host: IHost, grace: float) -> None:
    # Shielded: the host must close even when we leave because of a cancellation.
    with trio.move_on_after(grace) as scope:
        scope.shield = True
        try:
            await host.close()
        except Exception:
            log.warning("error while closing the libp2p host", exc_info=True)
    if scope.cancelled_caught:
        log.warning("closing the libp2p host took longer than %.1f s; gave up", grace)


@asynccontextmanager
async def open_host(
    identity: Identity,
    listen_addrs: Sequence[str | Multiaddr],
    *,
    announce_addrs: Sequence[str | Multiaddr] | None = None,
    max_connections: int = 300,
    negotiate_timeout: float = 10.0,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
) -> AsyncIterator[IHost]:
    """A started ``libp2p`` ``IHost`` listening on ``listen_addrs`` (TCP; port 0 = any).

    ``announce_addrs`` replace the listen addresses in ``host.get_addrs()`` (for a node behind
    a port forward). Raises :class:`ListenError` if any listen address could not be bound.
    """
    compat.apply()
    listen = [tcp_multiaddr(a) for a in listen_addrs]
    announce = [Multiaddr(str(a)) for a in announce_addrs] if announce_addrs is not None else None
    key_pair = identity.key_pair
    # A fresh Noise static key per run is fine: the handshake payload signs it with the
    # identity key (libp2p noise spec, "Static Key Authentication").
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        transports=[TCP()],
        connection_config=_connection_config(max_connections, negotiate_timeout),
        negotiate_timeout=max(1, round(negotiate_timeout)),
        announce_addrs=announce,
    )
    # One dial attempt per connect(): retries and their spacing belong to PeerBackoff.
    _swarm(host).retry_config = RetryConfig(max_retries=0)
    failure: BaseException | None = None  # raised by us or thrown in at `yield`
    try:
        async with host.run(listen_addrs=listen):
            # Whom to connect to is the node's policy (peer manager, PeerBackoff), not libp2p's:
            # its auto-connector would redial every peerstore peer, backed-off ones included,
            # up to (low + high watermark) / 2 connections.
            await _swarm(host).auto_connector.stop()
            bound = host.get_transport_addrs()
            if len(bound) < len(listen):
                failure = ListenError(
                    "p2p.listen_failed",
                    f"could not listen on all of {[str(a) for a in listen]} "
                    f"(bound: {[str(a) for a in bound]})",
                )
            else:
                log.info("libp2p host %s listening on %s", host.get_id(), [str(a) for a in bound])
                try:
                    yield host
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    await _close_host(host, close_timeout)
    except BaseExceptionGroup as group:
        # host.run's nurseries wrap whatever leaves the body; give the caller back their own
        # exception when it is the only thing in the group (open_host is one context manager).
        if failure is None or not _only(group, failure):
            raise
    finally:
        await _close_host(host, close_timeout)  # idempotent; covers a failed start
    if failure is not None:
        raise failure


def _only(group: BaseExceptionGroup[BaseException], exc: BaseException) -> bool:
    matched, rest = group.split(lambda e: e is exc)
    return matched is not None and rest is None


def _peer_down(code: str, message: str, peer: str, backoff: PeerBackoff | None) -> PeerUnavailable:
    wait = backoff.failure(peer, trio.current_time()) if backoff is not None else 0.0
    return PeerUnavailable(code, message, peer=peer, retry_after=wait)


def _check_backoff(peer: str, backoff: PeerBackoff | None) -> None:
    if backoff is None:
        return
    wait = backoff.wait_time(peer, trio.current_time())
    if wait > 0:
        raise PeerUnavailable(
            "p2p.backoff",
            f"peer {peer} failed recently; retry in {wait:.1f} s",
            peer=peer,
            retry_after=wait,
        )


async def disconnect(host: IHost, peer_id: ID, grace: float = DEFAULT_CLOSE_TIMEOUT) -> None:
    """Close every connection to ``peer_id`` (bounded: a dead peer must not hang us)."""
    with trio.move_on_after(grace):
        try:
            await host.disconnect(peer_id)
        except Exception:
            log.debug("error closing connection to %s", peer_id, exc_info=True)


async def connect(
    host: IHost,
    addr: str | Multiaddr,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,  # noqa: ASYNC109 (mapped to PeerUnavailable)
    backoff: PeerBackoff | None = None,
) -> ID:
    """Connect to ``addr`` (which must end in ``/p2p/<peer id>``) within ``timeout`` seconds.

    Returns at once if already connected. Otherwise the peer's previously known addresses are
    forgotten and ``addr`` is dialled once; failure raises :class:`PeerUnavailable`.
    """
    try:
        info = info_from_p2p_addr(Multiaddr(str(addr)))
    except Exception as exc:
        raise LocalError("p2p.bad_addr", f"{addr} is not a multiaddr ending in /p2p/<id>") from exc
    if info.peer_id == host.get_id():
        raise LocalError("p2p.self_dial", "refusing to dial our own peer id")
    peer = str(info.peer_id)
    _check_backoff(peer, backoff)
    swarm = _swarm(host)
    if not swarm.get_connections(info.peer_id):
        # Dial *this* address: libp2p dials one remembered TCP address per peer, which may be
        # the stale one that just failed (e.g. an address behind a partition).
        host.get_peerstore().clear_addrs(info.peer_id)
    # libp2p refuses to dial a peer for 60 s after a failed dial; our backoff decides instead.
    swarm.unblock_peer(info.peer_id)
    try:
        with trio.fail_after(timeout):
            await host.connect(info)
    except trio.TooSlowError:
        raise _peer_down(
            "p2p.dial_timeout", f"no connection to {addr} within {timeout} s", peer, backoff
        ) from None
    except Exception as exc:
        raise _peer_down(
            "p2p.dial_failed", f"cannot connect to {addr}: {exc}", peer, backoff
        ) from exc
    if backoff is not None:
        backoff.success(peer)
    return info.peer_id


def _reset_by_peer(exc: BaseException) -> bool:
    # A peer that resets the stream (at its stream cap, or its handler failed at once) is
    # alive: libp2p 0.8.1 surfaces this as StreamFailure <- ... <- StreamReset, because a
    # reset discards the unread multistream answer.
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, StreamReset | MuxedStreamReset):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unsupported(exc: BaseException) -> bool:
    # libp2p 0.8.1 wraps the multiselect "na" answer in StreamFailure(MultiselectClientError(
    # "protocols not supported: ...")); see protocol_muxer/multiselect_client.py.
    cause = exc.__cause__
    return cause is not None and str(cause).startswith("protocols not supported")


async def open_stream(
    host: IHost,
    peer_id: ID,
    protocols: Sequence[str],
    *,
    timeout: float = DEFAULT_STREAM_TIMEOUT,  # noqa: ASYNC109 (mapped to PeerUnavailable)
    backoff: PeerBackoff | None = None,
) -> INetStream:
    """Open a stream to a connected (or dialable) peer, negotiating one of ``protocols``.

    On timeout or failure the peer's connection is closed (it is presumed dead) and
    :class:`PeerUnavailable` is raised; a peer that answers but does not speak any of
    ``protocols`` (``p2p.protocol_unsupported``) or resets the new stream, e.g. at its
    concurrency cap (``p2p.stream_refused``), keeps its connection. The caller owns the
    stream: close it, or reset it on error (see :func:`~.serve.closing_stream`).
    """
    peer = str(peer_id)
    _check_backoff(peer, backoff)
    try:
        with trio.fail_after(timeout):
            stream = await host.new_stream(peer_id, [TProtocol(p) for p in protocols])
    except trio.TooSlowError:
        await disconnect(host, peer_id)
        raise _peer_down(
            "p2p.stream_timeout", f"no stream to {peer} within {timeout} s", peer, backoff
        ) from None
    except Exception as exc:
        if _unsupported(exc):
            raise _peer_down(
                "p2p.protocol_unsupported",
                f"peer {peer} supports none of {list(protocols)}",
                peer,
                backoff,
            ) from exc
        if _reset_by_peer(exc):
            raise _peer_down(
                "p2p.stream_refused", f"peer {peer} reset the new stream", peer, backoff
            ) from exc
        await disconnect(host, peer_id)
        raise _peer_down(
            "p2p.stream_failed", f"cannot open a stream to {peer}: {exc}", peer, backoff
        ) from exc
    if backoff is not None:
        backoff.success(peer)
    return stream
