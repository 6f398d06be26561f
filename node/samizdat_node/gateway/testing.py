"""Call the ASGI app in-process, as hypercorn would (for tests and benchmarks).

:func:`asgi_request` builds the HTTP scope a server builds for ``GET path?query``, runs the real
:class:`~.app.GatewayApp` (real store, real templates) and collects what it sends. Only the
socket is missing; tests of the server itself go through :func:`~.serve.serve_gateway`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .app import GatewayApp

__all__ = ["AsgiResponse", "asgi_request"]


@dataclass(frozen=True)
class AsgiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi_request(app: GatewayApp, target: str, *, method: str = "GET",
                       headers: Iterable[tuple[str, str]] = (),
                       client: str = "127.0.0.1") -> AsgiResponse:
    """Send one request (``target`` is the raw path and query, already percent-encoded)."""
    raw_path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": raw_path, "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"), "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": (client, 50000), "server": ("127.0.0.1", 80),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    out_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return AsgiResponse(start["status"], out_headers, body)
