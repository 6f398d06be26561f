"""The JSON API, ``/api/v1/...`` (described by ``openapi.json``, served at /api/openapi.json).

Every answer is JSON; every error is ``{"error": {"code", "message"}}`` with the HTTP status
of its code (http.py). Records and histories carry their proofs (document.py); heads and
proofs are served so that anyone can check a record against a publisher's signed head and a
later head against an earlier one (RFC 9162 §2.1.3-2.1.4).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from samizdat_protocol.hashing import hash_leaf
from samizdat_protocol.heads import SignedHead

from .document import head_json, history_json, record_json, search_json, status_json
from .http import GatewayError, Request, Response
from .site import Site, search_query

__all__ = ["API_PATHS", "OPENAPI", "api_error", "json_response", "route_api"]

OPENAPI: bytes = resources.files(__package__).joinpath("openapi.json").read_bytes()
_JSON = "application/json; charset=utf-8"
_MAX_INDEX = 2**48


def json_response(value: Any, status: int = 200) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, _JSON, [("cache-control", "no-cache")])


def api_error(code: str, message: str, status: int) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def _publisher(request: Request) -> bytes:
    text = request.arg("publisher") or ""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise GatewayError("usage.publisher", "publisher must be a 64-digit hex public key")
    return key


def _number(request: Request, name: str, *, required: bool = True) -> int | None:
    text = request.arg(name) or ""
    if not text:
        if required:
            raise GatewayError("usage.missing", f"parameter {name} is required")
        return None
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_INDEX:
        raise GatewayError("usage.range", f"{name} must be a whole number 0..2^48")
    return int(text)


async def _held(site: Site, publisher: bytes) -> SignedHead:
    head = await site.store.head(publisher)
    if head is None:
        raise GatewayError("notfound.log", "this node holds no entries of that publisher")
    return head


async def _past_heads(site: Site, publisher: bytes) -> dict[int, SignedHead]:
    return {h.length: h for h in await site.store.head_history(publisher)}


async def search(site: Site, request: Request) -> Response:
    query = search_query(request, site.settings.page_size)
    page, hits = await site.search(query)
    return json_response(search_json(query, page, hits, site.names))


async def record(site: Site, request: Request, record_id: str, *, history: bool) -> Response:
    found = await site.record(record_id)
    if found is None:
        raise GatewayError("notfound.record", f"no record {record_id!r} on this node")
    evidence, checked = found
    if history:
        return json_response(history_json(evidence, checked, site.names))
    return json_response(record_json(evidence, checked, site.names))


async def heads(site: Site, request: Request) -> Response:
    held = await site.store.heads()
    return json_response({"dataset": site.store.dataset_id.hex(),
                          "heads": [head_json(h, site.names) for h in held.values()]})


async def inclusion(site: Site, request: Request) -> Response:
    publisher = _publisher(request)
    head = await _held(site, publisher)
    index = _number(request, "index")
    size = _number(request, "size", required=False)
    size = head.length if size is None else size
    assert index is not None
    if not 0 <= index < size <= head.length:
        raise GatewayError("usage.range", f"need 0 <= index < size <= {head.length}")
    got = await site.store.entries(publisher, index, 1)
    path = await site.store.inclusion_proof(publisher, index, size)
    at = head if size == head.length else (await _past_heads(site, publisher)).get(size)
    return json_response({
        "publisher": publisher.hex(), "index": index, "size": size,
        "header": got.headers[0].hex(), "leaf_hash": hash_leaf(got.headers[0]).hex(),
        "path": [h.hex() for h in path],
        "head": None if at is None else head_json(at, site.names)})


async def consistency(site: Site, request: Request) -> Response:
    publisher = _publisher(request)
    head = await _held(site, publisher)
    old = _number(request, "old")
    new = _number(request, "new", required=False)
    new = head.length if new is None else new
    assert old is not None
    if not 0 <= old <= new <= head.length:
        raise GatewayError("usage.range", f"need 0 <= old <= new <= {head.length}")
    path = await site.store.consistency_proof(publisher, old, new)
    past = await _past_heads(site, publisher)
    past[head.length] = head
    return json_response({
        "publisher": publisher.hex(), "old": old, "new": new, "path": [h.hex() for h in path],
        "old_head": head_json(past[old], site.names) if old in past else None,
        "new_head": head_json(past[new], site.names) if new in past else None})


async def status(site: Site, request: Request) -> Response:
    counts = await site.store.counts()
    publishers = await site.store.status()
    charter = site.charter.charter
    return json_response(status_json(site.store.dataset_id, charter.name, charter.schema,
                                     counts, publishers))


Handler = Callable[[Site, Request], Awaitable[Response]]
_FIXED: dict[tuple[str, ...], Handler] = {
    ("search",): search,
    ("heads",): heads,
    ("proofs", "inclusion"): inclusion,
    ("proofs", "consistency"): consistency,
    ("status",): status,
}


# Every path route_api answers, as the OpenAPI document names it (a test keeps them equal).
API_PATHS = frozenset({"/api/openapi.json", "/api/v1/records/{record_id}",
                       "/api/v1/records/{record_id}/history",
                       *("/api/v1/" + "/".join(path) for path in _FIXED)})


async def route_api(site: Site, request: Request) -> Response:
    """Dispatch ``/api/...``; unknown paths are ``notfound.route``."""
    parts = request.segments[1:]
    if parts == ("openapi.json",):
        return Response(200, OPENAPI, _JSON, [("cache-control", "public, max-age=3600")])
    if parts[:1] == ("v1",):
        rest = parts[1:]
        handler = _FIXED.get(rest)
        if handler is not None:
            return await handler(site, request)
        if len(rest) in (2, 3) and rest[0] == "records" and rest[2:] in ((), ("history",)):
            return await record(site, request, rest[1], history=len(rest) == 3)
    raise GatewayError("notfound.route", "no such API endpoint; see /api/openapi.json")
