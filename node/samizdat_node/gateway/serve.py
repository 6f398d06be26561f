"""Run the gateway under hypercorn's trio worker, as one service of the node (design §6).

``await nursery.start(serve_gateway, store, "127.0.0.1:8080")`` binds the address, reports the
bound URL (``http://127.0.0.1:8080``; with port 0, the port the system chose) and serves until
cancelled. Hypercorn's own limits are set here: request headers at most 16 KiB, idle keep-alive
connections closed after 5 s, a request that does not arrive whole within 30 s dropped, no
``Server`` header, no access log (a reader's searches are nobody's business).
"""

from __future__ import annotations

import ipaddress
import logging
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from samizdat_node.store import AsyncStore
from samizdat_protocol.errors import LocalError

from .app import GatewayApp
from .site import GatewaySettings

if TYPE_CHECKING:
    # trio-typing (a dependency of libp2p) installs trio-stubs, which shadow trio's own
    # annotations and do not re-export TaskStatus; both name the same runtime class.
    from trio_typing import TaskStatus

__all__ = ["hypercorn_config", "parse_listen", "serve_gateway"]

log = logging.getLogger(__name__)


def parse_listen(host_port: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as (host, port); ``usage.listen`` otherwise."""
    host, sep, port_text = host_port.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            host = ""
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise LocalError("usage.listen", f"gateway address {host_port!r} is not HOST:PORT")
    return host, int(port_text)


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False
    config.h11_max_incomplete_size = 16 * 1024
    config.h2_max_concurrent_streams = 32
    config.keep_alive_timeout = 5
    config.read_timeout = 30
    config.graceful_timeout = 3
    config.backlog = 128
    return config


async def serve_gateway(store: AsyncStore, host_port: str, *,
                        task_status: TaskStatus[str] = trio.TASK_STATUS_IGNORED,
                        settings: GatewaySettings | None = None) -> None:
    """Serve the web gateway and JSON API for ``store`` on ``host_port`` until cancelled."""
    host, port = parse_listen(host_port)
    app = GatewayApp(store, settings)
    config = hypercorn_config(host, port)
    # Bind here, not inside the worker, so that a taken port is one plain error for the caller
    # rather than an OSError deep in the worker's nurseries.
    try:
        sockets = config.create_sockets()
        for sock in sockets.insecure_sockets:
            sock.listen(config.backlog)
    except OSError as exc:
        raise LocalError("usage.listen", f"cannot listen on {host_port}: "
                         f"{exc.strerror or exc}") from exc
    wrapped = wrap_app(cast(Any, app), config.wsgi_max_body_size, "asgi")
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(worker_serve, wrapped, config, sockets=sockets))
        log.info("web gateway on %s", binds[0])
        task_status.started(binds[0])
