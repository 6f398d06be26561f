"""Serve ``/samizdat/light/1`` from the replica store (design §4.5; spec §14).

One request per stream, answered with one frame; :func:`~samizdat_node.p2p.serve_protocol`
caps the streams served at once and keeps a failing handler from hurting the host. Each peer
also has a token bucket (:mod:`samizdat_node.gateway.ratelimit`): a peer over its rate gets a
``light.rate_limited`` error instead of an answer. Every answer carries inclusion proofs
against the signed heads the store holds, and the governance entries and equivocation proofs it
holds (:mod:`.evidence`), so the client needs to trust nothing we say.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import Any

import trio

from samizdat_node.gateway.ratelimit import RateLimit, TokenBuckets
from samizdat_node.p2p.framing import read_frame, write_frame
from samizdat_node.p2p.serve import ServeStats, serve_protocol
from samizdat_node.store import AsyncStore, Store
from samizdat_protocol.errors import LocalError, RemoteError, SamizdatError

from .evidence import collect_hits, collect_record, held_items, prove_hits
from .messages import (
    LIGHT_PROTOCOL,
    MAX_HITS,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    GetRecord,
    LightError,
    RecordAnswer,
    Response,
    SearchAnswer,
    SearchRequest,
    decode_request,
    encode_message,
)

__all__ = ["DEFAULT_LIGHT_RATE", "answer_request", "register_light_protocol"]

log = logging.getLogger(__name__)

DEFAULT_LIGHT_RATE = RateLimit(rate=5.0, burst=20.0, max_clients=4096)
DEFAULT_MAX_STREAMS = 16
REQUEST_TIMEOUT = 20.0


def _record(store: Store, record_id: str) -> Response:
    evidence = collect_record(store, record_id)
    if evidence is None:
        return LightError("notfound.record", f"no record {record_id!r} here")
    return evidence.answer(held_items(store))


def _search(store: Store, request: SearchRequest) -> SearchAnswer:
    page, hits = collect_hits(store, request.query)
    return prove_hits(store, page, hits)


def _fit(answer: SearchAnswer) -> bytes:
    """Encode, dropping hits from the end until the answer fits one frame (``more`` set)."""
    data = encode_message(answer)
    hits = answer.hits
    while len(data) > MAX_RESPONSE_BYTES and hits:
        hits = hits[: len(hits) // 2] if len(hits) > 1 else ()
        used = {e.publisher for h in hits for e in h.entries}
        answer = SearchAnswer(tuple(h for h in answer.heads if h.publisher in used), hits,
                              True, answer.complete, answer.governance, answer.proofs)
        data = encode_message(answer)
    return data


async def answer_request(store: AsyncStore, request: GetRecord | SearchRequest) -> bytes:
    """The encoded response to one decoded request."""
    if request.dataset_id != store.dataset_id:
        return encode_message(LightError("light.wrong_dataset", "this node serves dataset "
                                         f"{store.dataset_id.hex()[:16]}…"))
    try:
        if isinstance(request, GetRecord):
            response = await store.run_sync(partial(_record, record_id=request.record_id))
            data = encode_message(response)
            if isinstance(response, RecordAnswer) and len(data) > MAX_RESPONSE_BYTES:
                return encode_message(LightError("light.too_large", "the record does not fit "
                                                 "one answer"))
            return data
        query = request.query
        if query.limit > MAX_HITS:
            query = replace(query, limit=MAX_HITS)
        query.validate()
        answer = await store.run_sync(partial(_search, request=SearchRequest(
            request.dataset_id, query)))
        return _fit(answer)
    except (RemoteError, LocalError) as exc:
        # A bad query (search.*) or a request we cannot serve (light.too_large): say why.
        if isinstance(exc, LocalError) and not exc.code.startswith(("light.", "notfound.")):
            raise
        return encode_message(LightError(exc.code, exc.message))


def register_light_protocol(host: Any, store: AsyncStore, *,
                            max_concurrent: int = DEFAULT_MAX_STREAMS,
                            rate: RateLimit = DEFAULT_LIGHT_RATE,
                            timeout: float = REQUEST_TIMEOUT) -> ServeStats:
    """Serve light clients on ``host`` from ``store``; returns the live stream counters."""
    buckets = TokenBuckets(rate)

    async def handle(stream: Any) -> None:
        peer = _peer_of(stream)
        data = await read_frame(stream, MAX_REQUEST_BYTES, timeout)
        wait = buckets.take(peer, trio.current_time())
        if wait > 0:
            reply = encode_message(LightError("light.rate_limited",
                                              f"too many requests; retry in {wait:.1f} s"))
        else:
            reply = await answer_request(store, decode_request(data))
        await write_frame(stream, reply, max_size=MAX_RESPONSE_BYTES, timeout=timeout)

    async def on_error(stream: Any, exc: Exception) -> None:
        if isinstance(exc, SamizdatError) and exc.code.startswith("frame."):
            return  # no usable frame boundary: the stream is reset
        error = (LightError(exc.code, exc.message) if isinstance(exc, RemoteError)
                 else LightError("light.internal", "the server failed to answer"))
        await write_frame(stream, encode_message(error), max_size=MAX_RESPONSE_BYTES,
                          timeout=5.0)

    return serve_protocol(host, LIGHT_PROTOCOL, handle, max_concurrent=max_concurrent,
                          on_error=on_error)


def _peer_of(stream: Any) -> str:
    try:
        return str(stream.muxed_conn.peer_id)
    except Exception:  # a stream without a connection (tests' memory streams)
        return "?"
