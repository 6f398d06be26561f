"""The gateway as one ASGI 3 application (design §6-7): pages, static files and the JSON API.

Per request: parse under limits (http.py), take a token from the client's bucket (static files
are free: a page and its stylesheet cost one), route, and turn any typed error into its HTTP
status: JSON ``{"error": {...}}`` under ``/api``, an HTML page elsewhere. An unexpected
exception is logged with its traceback and answered with 500 without details; ``Cancelled``
is never caught (house style: trio).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

from samizdat_node.store import AsyncStore
from samizdat_protocol.errors import SamizdatError

from .api import api_error, route_api
from .http import GatewayError, Request, Response, parse_request, send_response, status_for
from .i18n import text
from .pages import error_page, lang_of, record_page, search_page
from .ratelimit import TokenBuckets
from .site import GatewaySettings, Site

__all__ = ["GatewayApp"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    """Every file under static/, read once: name -> (bytes, content type, ETag)."""
    out = {}
    for item in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _STATIC_TYPES:
            data = item.read_bytes()
            etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
            out[item.name] = (data, _STATIC_TYPES[suffix], etag)
    return out


class GatewayApp:
    """``GatewayApp(store)`` is an ASGI application serving one store, read-only."""

    def __init__(self, store: AsyncStore, settings: GatewaySettings | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.site = Site(store, settings or GatewaySettings())
        if clock is not None:
            self.site.clock = clock
        self.buckets = TokenBuckets(self.site.settings.rate)
        self.static = _load_static()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: nothing here speaks them
            return
        response, head_only = await self._respond(scope)
        await send_response(send, response, head_only=head_only)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _respond(self, scope: Scope) -> tuple[Response, bool]:
        try:
            request = parse_request(scope)
        except GatewayError as exc:
            response = api_error(exc.code, exc.message, status_for(exc))
            if exc.code == "gateway.method":
                response.headers.append(("allow", "GET, HEAD"))
            return response, False
        try:
            return await self._dispatch(request), request.method == "HEAD"
        except SamizdatError as exc:
            return self._error(request, exc.code, exc.message, status_for(exc)), False
        except Exception:
            log.exception("gateway: %s /%s failed", request.method, "/".join(request.segments))
            return self._error(request, "gateway.internal", "internal error", 500), False

    def _error(self, request: Request, code: str, message: str, status: int) -> Response:
        if request.is_api:
            return api_error(code, message, status)
        return error_page(self.site, request, status, message)

    async def _dispatch(self, request: Request) -> Response:
        segments = request.segments
        if segments[:1] == ("static",) and len(segments) == 2:
            return self._static(request, segments[1])
        wait = self.buckets.take(request.client, self.site.clock())
        if wait > 0:
            response = self._error(request, "gateway.rate_limited",
                                   text("error.rate", lang_of(request)), 429)
            response.headers.append(("retry-after", str(max(1, math.ceil(wait)))))
            return response
        if not segments:
            return await search_page(self.site, request)
        if segments[0] == "api":
            return await route_api(self.site, request)
        if segments[0] == "records" and len(segments) == 2:
            return await record_page(self.site, request, segments[1])
        raise GatewayError("notfound.route", text("error.noroute", lang_of(request)))

    def _static(self, request: Request, name: str) -> Response:
        found = self.static.get(name)
        if found is None:
            raise GatewayError("notfound.static", "no such file")
        data, content_type, etag = found
        headers = [("etag", etag), ("cache-control", "public, max-age=3600")]
        if request.headers.get("if-none-match") == etag:
            return Response(304, b"", content_type, headers)
        return Response(200, data, content_type, headers)
