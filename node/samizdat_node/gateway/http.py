"""HTTP plumbing of the gateway: requests parsed under limits, responses with security headers.

The gateway is read-only, so only ``GET`` and ``HEAD`` exist and no request body is ever read
(one with a body is refused, 413). Headers (431), the path and the query string (414) are
bounded before anything is decoded, the query has at most :data:`MAX_QUERY_FIELDS` fields,
and everything must be UTF-8 (400). Every response carries a Content Security Policy that
allows only this node's own resources (``default-src 'self'``; the pages use no scripts at
all) and the usual companions.
Errors map to HTTP statuses through :func:`samizdat_node.outcomes.outcome_for`, except the
few that only HTTP has (:data:`HTTP_ONLY`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from samizdat_node.outcomes import outcome_for
from samizdat_protocol.errors import LocalError, SamizdatError

__all__ = [
    "HTTP_ONLY",
    "MAX_HEADER_BYTES",
    "MAX_PATH_BYTES",
    "MAX_QUERY_BYTES",
    "MAX_QUERY_FIELDS",
    "SECURITY_HEADERS",
    "GatewayError",
    "Request",
    "Response",
    "parse_request",
    "send_response",
    "status_for",
]

MAX_HEADER_BYTES = 16 * 1024  # h11 enforces its limit only on a request arriving in parts
MAX_PATH_BYTES = 1024
MAX_QUERY_BYTES = 2048
MAX_QUERY_FIELDS = 16

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", "default-src 'self'; base-uri 'none'; form-action 'self'; "
     "frame-ancestors 'none'; object-src 'none'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)

# Codes whose HTTP status has no counterpart in the CLI's table (outcomes.py).
HTTP_ONLY: dict[str, int] = {
    "gateway.method": 405,
    "gateway.body": 413,
    "gateway.uri_too_long": 414,
    "gateway.headers": 431,
    "gateway.rate_limited": 429,
    "gateway.bad_request": 400,
}


class GatewayError(LocalError):
    """A request the gateway refuses (codes ``gateway.*``, ``notfound.*``, ``usage.*``).

    A :class:`LocalError` here means *the client's* request is wrong, not ours: the gateway is
    the boundary where it is turned into an HTTP status, never an exit code.
    """


def status_for(error: SamizdatError) -> int:
    return HTTP_ONLY.get(error.code) or outcome_for(error).http_status


@dataclass(frozen=True)
class Request:
    method: str
    segments: tuple[str, ...]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    client: str
    query_string: str = ""

    def arg(self, name: str) -> str | None:
        value = self.query.get(name)
        return value if value is None else value.strip()

    @property
    def is_api(self) -> bool:
        return bool(self.segments) and self.segments[0] == "api"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GatewayError("gateway.bad_request", f"the {what} is not UTF-8") from exc


def parse_request(scope: Mapping[str, Any]) -> Request:
    """A :class:`Request` from an ASGI HTTP scope, or :class:`GatewayError`."""
    method = str(scope.get("method", "GET")).upper()
    if method not in ("GET", "HEAD"):
        raise GatewayError("gateway.method", f"{method} is not allowed: this gateway is "
                           "read-only (GET, HEAD)")
    raw_path: bytes = scope.get("raw_path") or str(scope.get("path", "/")).encode("utf-8")
    raw_path = raw_path.split(b"?", 1)[0]
    query_bytes: bytes = scope.get("query_string", b"")
    if len(raw_path) > MAX_PATH_BYTES or len(query_bytes) > MAX_QUERY_BYTES:
        raise GatewayError("gateway.uri_too_long", f"paths are limited to {MAX_PATH_BYTES} "
                           f"bytes and queries to {MAX_QUERY_BYTES}")
    raw_headers = scope.get("headers", ())
    if sum(len(k) + len(v) + 4 for k, v in raw_headers) > MAX_HEADER_BYTES:
        raise GatewayError("gateway.headers", f"request headers exceed {MAX_HEADER_BYTES} "
                           "bytes")
    headers: dict[str, str] = {}
    for name, value in raw_headers:
        key = bytes(name).decode("latin-1").lower()
        if key not in headers:  # the first copy wins; none we read may repeat
            headers[key] = bytes(value).decode("latin-1")
    length = headers.get("content-length", "0").strip() or "0"
    if length != "0" or "transfer-encoding" in headers:
        raise GatewayError("gateway.body", "requests to this gateway carry no body")
    segments = tuple(_utf8(unquote_to_bytes(part), "path")
                     for part in raw_path.split(b"/") if part)
    query_string = _utf8(query_bytes, "query string")
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True,
                          max_num_fields=MAX_QUERY_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise GatewayError("gateway.bad_request", f"malformed query string: {exc}") from exc
    query: dict[str, str] = {}
    for key, value in pairs:
        query.setdefault(key, value)
    client = scope.get("client") or ("?", 0)
    return Request(method, segments, query, headers, str(client[0]), query_string)


Send = Callable[[dict[str, Any]], Awaitable[None]]


async def send_response(send: Send, response: Response, *, head_only: bool = False) -> None:
    headers = [(b"content-type", response.content_type.encode("latin-1")),
               (b"content-length", str(len(response.body)).encode("latin-1"))]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else response.body})
