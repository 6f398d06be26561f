"""The light client: ask one peer, trust nothing it says until it verifies (spec §14).

``samizdat fetch --peer`` and ``samizdat search --peer`` call :func:`fetch_record` and
:func:`remote_search` with a running libp2p host and the dataset's signed charter; no replica is
needed. Errors are typed and say whose fault they are:

* :class:`~.verify.LightVerifyError` (``light.bad_head``, ``light.bad_inclusion``,
  ``light.payload_mismatch``, ...): the peer sent something that does not verify;
* :class:`~.messages.LightMessageError` (``light.malformed``, ``light.unexpected``): the peer
  sent bytes that are not a light message, or the wrong one;
* :class:`LightNotFound` (``notfound.record``): the peer says it has no such record;
* :class:`LightPeerError` (``light.peer_error``): the peer refused (rate limit, other dataset);
* ``frame.*`` and ``p2p.*`` errors from the host layer: the peer is unreachable or slow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import trio

from samizdat_node.p2p.framing import read_frame, write_frame
from samizdat_node.p2p.host import connect, open_stream
from samizdat_node.p2p.serve import closing_stream
from samizdat_node.search.model import SearchQuery
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.errors import RemoteError

from .messages import (
    LIGHT_PROTOCOL,
    MAX_HITS,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    GetRecord,
    LightError,
    LightMessageError,
    RecordAnswer,
    Response,
    SearchAnswer,
    SearchRequest,
    decode_response,
    encode_message,
)
from .verify import VerifiedHit, VerifiedRecord, verify_record_answer, verify_search_answer

__all__ = [
    "DEFAULT_TIMEOUT",
    "LightNotFound",
    "LightPeerError",
    "RemoteSearch",
    "fetch_record",
    "remote_search",
    "remote_search_page",
]

DEFAULT_TIMEOUT = 30.0


class LightNotFound(RemoteError):
    """The peer says it holds no such record (``notfound.record``); it may be wrong."""


class LightPeerError(RemoteError):
    """The peer answered with an error (``light.peer_error``; ``peer_code`` is its code)."""


@dataclass(frozen=True)
class RemoteSearch:
    """Verified hits, best first, and what the peer said about the rest."""

    hits: list[VerifiedHit]
    more: bool
    complete: bool
    peer: str


async def _exchange(host: Any, peer_addr: str, request: GetRecord | SearchRequest,
                    timeout: float) -> tuple[Response, str]:  # noqa: ASYNC109
    with trio.fail_after(timeout * 3):  # connect, open and exchange each have `timeout`
        peer_id = await connect(host, peer_addr, timeout=timeout)
        stream = await open_stream(host, peer_id, [LIGHT_PROTOCOL], timeout=timeout)
        async with closing_stream(stream):
            await write_frame(stream, encode_message(request), max_size=MAX_REQUEST_BYTES,
                              timeout=timeout)
            data = await read_frame(stream, MAX_RESPONSE_BYTES, timeout)
    response = decode_response(data)
    peer = str(peer_id)
    if isinstance(response, LightError):
        if response.code.startswith("notfound."):
            raise LightNotFound("notfound.record", f"peer {peer} says: {response.message}",
                                peer=peer)
        raise LightPeerError("light.peer_error", f"peer {peer} refused: {response.message} "
                             f"[{response.code}]", peer=peer, peer_code=response.code)
    return response, peer


async def fetch_record(host: Any, peer_addr: str, record_id: str, charter: SignedCharter, *,
                       timeout: float = DEFAULT_TIMEOUT) -> VerifiedRecord:  # noqa: ASYNC109
    """Ask the peer at ``peer_addr`` (a multiaddr ending in ``/p2p/<id>``) for every entry of
    ``record_id`` and verify it with ``charter`` alone."""
    response, peer = await _exchange(host, peer_addr, GetRecord(charter.dataset_id, record_id),
                                     timeout)
    if not isinstance(response, RecordAnswer):
        raise LightMessageError("light.unexpected", f"peer {peer} answered a record request "
                                "with something else", peer=peer)
    verified = verify_record_answer(charter, record_id, response)
    return replace(verified, peer=peer)


async def remote_search_page(host: Any, peer_addr: str, query: SearchQuery,
                             charter: SignedCharter, *,
                             timeout: float = DEFAULT_TIMEOUT) -> RemoteSearch:  # noqa: ASYNC109
    """Search on the peer; every hit is verified (at most :data:`MAX_HITS` per page)."""
    if query.limit > MAX_HITS:
        query = replace(query, limit=MAX_HITS)
    query.validate()
    response, peer = await _exchange(host, peer_addr, SearchRequest(charter.dataset_id, query),
                                     timeout)
    if not isinstance(response, SearchAnswer):
        raise LightMessageError("light.unexpected", f"peer {peer} answered a search with "
                                "something else", peer=peer)
    return RemoteSearch(verify_search_answer(charter, response), response.more,
                        response.complete, peer)


async def remote_search(host: Any, peer_addr: str, query: SearchQuery, charter: SignedCharter,
                        *, timeout: float = DEFAULT_TIMEOUT) -> list[VerifiedHit]:  # noqa: ASYNC109
    """:func:`remote_search_page`'s hits only."""
    return (await remote_search_page(host, peer_addr, query, charter, timeout=timeout)).hits
