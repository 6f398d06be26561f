"""``GET /metrics`` for a running node: a small HTTP endpoint in the node's trio nursery.

``await nursery.start(serve_metrics, "127.0.0.1:9474", source.text)`` binds the address,
reports its URL and answers until cancelled: ``GET`` or ``HEAD /metrics`` gets the text of
metrics.py (``text/plain; version=0.0.4``), any other path 404, any other method 405. One
request per connection (``Connection: close``), which is how Prometheus scrapes anyway.

Not hypercorn (the gateway's server), because its trio worker cannot cap connections. Here
everything is bounded (rust-libp2p guidelines): at most :data:`MAX_CONNECTIONS` at once, a
further connection waits in the listen backlog, not in memory, until one ends; a request head
of at most :data:`MAX_REQUEST_BYTES` (else 431); :data:`REQUEST_TIMEOUT` seconds for the
whole exchange. :class:`NodeMetrics` re-reads the store's facts at most every ``ttl``
seconds, so a client that scrapes in a loop costs the store one cheap read per ``ttl``.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import trio

from samizdat_protocol.errors import LocalError

from .gateway.serve import parse_listen
from .metrics import CONTENT_TYPE, render_metrics, snapshot, store_facts
from .store import AsyncStore

if TYPE_CHECKING:
    # trio-typing's stubs shadow trio's annotations and do not re-export TaskStatus.
    from trio_typing import TaskStatus

__all__ = ["MAX_CONNECTIONS", "MAX_REQUEST_BYTES", "REQUEST_TIMEOUT", "NodeMetrics",
           "serve_metrics"]

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 4
MAX_REQUEST_BYTES = 8 * 1024
REQUEST_TIMEOUT = 10.0
LINGER = 1.0  # seconds to read what a client still sends after the response
BACKLOG = 16
PATH = "/metrics"

Render = Callable[[], Awaitable[str]]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}
# The process is out of descriptors or memory: wait and accept again (as trio.serve_listeners).
_ACCEPT_PAUSE = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


class NodeMetrics:
    """A running node's metrics text: its live status plus the store's facts (cached)."""

    def __init__(self, status: Callable[[], Mapping[str, Any]], store: AsyncStore, *,
                 ttl: float = 2.0) -> None:
        self._status = status
        self._store = store
        self._ttl = ttl
        self._facts: dict[str, Any] | None = None
        self._read_at = 0.0
        self._lock = trio.Lock()

    async def text(self) -> str:
        async with self._lock:  # concurrent scrapes share one read
            now = trio.current_time()
            if self._facts is None or now - self._read_at >= self._ttl:
                self._facts = await self._store.run_sync(store_facts)
                self._read_at = now
            facts = self._facts
        return render_metrics(snapshot(self._status(), facts))


def _url(listener: trio.SocketListener) -> str:
    host, port = listener.socket.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_metrics(host_port: str, render: Render, *,
                        task_status: TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``GET /metrics`` on ``host_port`` until cancelled; reports the bound URL."""
    try:
        host, port = parse_listen(host_port)
    except LocalError as exc:
        raise LocalError("usage.listen",
                         f"metrics address {host_port!r} is not HOST:PORT") from exc
    try:
        listeners = await trio.open_tcp_listeners(port, host=host, backlog=BACKLOG)
    except OSError as exc:
        raise LocalError("usage.listen", f"cannot listen on {host_port} for metrics: "
                         f"{exc.strerror or exc}") from exc
    slots = trio.Semaphore(MAX_CONNECTIONS)
    try:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(_accept, listener, slots, render, nursery)
            log.info("metrics on %s%s", _url(listeners[0]), PATH)
            task_status.started(_url(listeners[0]))
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)


async def _accept(listener: trio.SocketListener, slots: trio.Semaphore, render: Render,
                  nursery: trio.Nursery) -> None:
    while True:
        await slots.acquire()  # finish local work before accepting new remote work
        try:
            stream = await listener.accept()
        except OSError as exc:
            slots.release()
            if exc.errno not in _ACCEPT_PAUSE:
                raise
            log.warning("metrics: cannot accept a connection now: %s", exc)
            await trio.sleep(0.1)
            continue
        except BaseException:
            slots.release()
            raise
        nursery.start_soon(_exchange, stream, slots, render)


async def _exchange(stream: trio.SocketStream, slots: trio.Semaphore, render: Render) -> None:
    try:
        with trio.move_on_after(REQUEST_TIMEOUT):
            head = await _read_head(stream)
            if head is not None:
                await stream.send_all(await _respond(head, render))
                await _linger(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # the client went away; nothing to tell it
    finally:
        slots.release()
        await trio.aclose_forcefully(stream)


async def _linger(stream: trio.SocketStream) -> None:
    """Half-close, then read and drop what the client still sends (bounded): closing with
    unread request bytes would reset the connection, and a reset can destroy the response
    before the client reads it (a 431 most of all)."""
    await stream.send_eof()
    drained = 0
    with trio.move_on_after(LINGER):
        while drained < 8 * MAX_REQUEST_BYTES:
            chunk = await stream.receive_some(MAX_REQUEST_BYTES)
            if not chunk:
                return
            drained += len(chunk)


async def _read_head(stream: trio.SocketStream) -> bytes | None:
    """The request head up to its blank line; b"" if it is too long; None if the client
    closed before sending one."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        if len(data) > MAX_REQUEST_BYTES:
            return b""
        chunk = await stream.receive_some(MAX_REQUEST_BYTES + 1)
        if not chunk:
            return None
        data += chunk
    return data


async def _respond(head: bytes, render: Render) -> bytes:
    if not head:
        return _response(431, b"request head too long\n")
    parts = head.split(b"\n", 1)[0].strip().split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return _response(400, b"not an HTTP/1.x request\n")
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _response(405, b"only GET and HEAD\n", extra=b"Allow: GET, HEAD\r\n")
    if target != PATH.encode():
        return _response(404, b"not found: the metrics are at /metrics\n")
    try:
        body = (await render()).encode("utf-8")
    except Exception:  # a bug in rendering must not take the node down; Cancelled passes
        log.exception("metrics: rendering failed")
        return _response(500, b"internal error\n")
    return _response(200, body, CONTENT_TYPE, head_only=method == b"HEAD")


def _response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", *,
              extra: bytes = b"", head_only: bool = False) -> bytes:
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n").encode() + extra + b"\r\n"
    return head if head_only else head + body
