"""Wire messages of the catch-up sync protocol and of gossip (design §4; spec §11-§12).

Every message is one canonical map with a type tag ``t``; on a stream each message is one
length-prefixed frame (node package, ``p2p.framing``). Decoding is strict: unknown types,
missing or unknown fields, wrong types and anything over the limits below are a
:class:`DecodeError`/:class:`SchemaError`, never a half-built message. The peer that sent it is
then penalised by the node.

Catch-up (protocol id ``/samizdat/sync/1``), after the stream opens::

    client -> hello    {"t": "hello", "v": 1, "dataset": bin32, "heads": [head...], "addrs": [str]}
    server -> hello    (the same, the server's view)
    client -> get      {"t": "get", "id": int, "publisher": bin32, "start": int, "end": int}
    server -> chunk*   {"t": "chunk", "id": int, "start": int, "headers": [bin],
                        "payloads": [bin|nil], "head": head, "proof": [bin32]}
    server -> done     {"t": "done", "id": int}
    either -> error    {"t": "error", "id": int|nil, "code": str, "message": str}

A chunk carries consecutive headers ``[start, start+len)`` of one publisher, the payload of
each (nil where the entry has none or the payload was erased), a signed head of length
``n >= start+len`` and a consistency proof from ``start+len`` to ``n``. The receiver computes the
root at ``start+len`` from its frontier and the received leaves and checks the proof against
the signed head (:func:`samizdat_protocol.log.verify_prefix`), so every chunk is verified and
committed on its own and an interrupted transfer resumes where it stopped.

Gossip (one topic per dataset) carries only::

    {"t": "heads", "heads": [head...]}            (small: at most MAX_GOSSIP_HEADS)
    {"t": "equivocation", "proof": bin}            (an encoded EquivocationProof)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .encoding import DecodeLimits, decode, encode
from .errors import DecodeError, SchemaError
from .hashing import DIGEST_SIZE
from .heads import EquivocationProof, SignedHead

__all__ = [
    "MAX_CHUNK_BYTES",
    "MAX_CHUNK_ENTRIES",
    "MAX_GOSSIP_HEADS",
    "MAX_HELLO_HEADS",
    "MAX_REQUEST_ID",
    "Chunk",
    "Done",
    "ErrorReply",
    "GetRange",
    "GossipEquivocation",
    "GossipHeads",
    "Hello",
    "Message",
    "chunk_size_ok",
    "decode_gossip",
    "decode_message",
    "encode_message",
]

WIRE_VERSION = 1
MAX_CHUNK_ENTRIES = 4096
MAX_CHUNK_BYTES = 8 * 1024 * 1024
MAX_HELLO_HEADS = 1024
MAX_GOSSIP_HEADS = 16
MAX_ADDRS = 32
MAX_REQUEST_ID = 2**32 - 1

STREAM_LIMITS = DecodeLimits(max_bytes=MAX_CHUNK_BYTES + 64 * 1024, max_str=4096,
                             max_bin=64 * 1024, max_items=MAX_CHUNK_ENTRIES, max_depth=3)
GOSSIP_LIMITS = DecodeLimits(max_bytes=32 * 1024, max_str=64, max_bin=16 * 1024,
                             max_items=MAX_GOSSIP_HEADS, max_depth=3)


def _fail(message: str, field: str | None = None) -> SchemaError:
    return SchemaError("wire.malformed", message, field=field)


def _int(value: Any, name: str, limit: int = 2**48) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise _fail(f"{name} must be an integer in 0..{limit}", name)
    return value


def _key(value: Any, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != DIGEST_SIZE:
        raise _fail(f"{name} must be {DIGEST_SIZE} bytes", name)
    return value


def _list(value: Any, name: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise _fail(f"{name} must be a list of at most {limit} items", name)
    return value


def _fields(body: dict[str, Any], required: set[str],
            optional: frozenset[str] = frozenset()) -> None:
    keys = set(body)
    if not required <= keys <= required | optional | {"t"}:
        odd = sorted((required - keys) | (keys - required - optional - {"t"}))
        raise _fail(f"message {body.get('t')!r} has wrong fields {odd}", odd[0] if odd else None)


@dataclass(frozen=True, slots=True)
class Hello:
    dataset_id: bytes
    heads: tuple[SignedHead, ...]
    addrs: tuple[str, ...] = ()

    def to_map(self) -> dict[str, Any]:
        return {"t": "hello", "v": WIRE_VERSION, "dataset": self.dataset_id,
                "heads": [h.to_map() for h in self.heads], "addrs": list(self.addrs)}


@dataclass(frozen=True, slots=True)
class GetRange:
    request_id: int
    publisher: bytes
    start: int
    end: int

    def to_map(self) -> dict[str, Any]:
        return {"t": "get", "id": self.request_id, "publisher": self.publisher,
                "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Chunk:
    request_id: int
    start: int
    headers: tuple[bytes, ...]
    payloads: tuple[bytes | None, ...]
    head: SignedHead
    proof: tuple[bytes, ...]

    @property
    def end(self) -> int:
        return self.start + len(self.headers)

    def to_map(self) -> dict[str, Any]:
        return {"t": "chunk", "id": self.request_id, "start": self.start,
                "headers": list(self.headers), "payloads": list(self.payloads),
                "head": self.head.to_map(), "proof": list(self.proof)}


@dataclass(frozen=True, slots=True)
class Done:
    request_id: int

    def to_map(self) -> dict[str, Any]:
        return {"t": "done", "id": self.request_id}


@dataclass(frozen=True, slots=True)
class ErrorReply:
    request_id: int | None
    code: str
    message: str

    def to_map(self) -> dict[str, Any]:
        return {"t": "error", "id": self.request_id, "code": self.code,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class GossipHeads:
    heads: tuple[SignedHead, ...]

    def to_map(self) -> dict[str, Any]:
        return {"t": "heads", "heads": [h.to_map() for h in self.heads]}


@dataclass(frozen=True, slots=True)
class GossipEquivocation:
    proof: EquivocationProof

    def to_map(self) -> dict[str, Any]:
        return {"t": "equivocation", "proof": self.proof.to_bytes()}


Message = Hello | GetRange | Chunk | Done | ErrorReply | GossipHeads | GossipEquivocation


def encode_message(message: Message) -> bytes:
    return encode(message.to_map())


def _parse_hello(body: dict[str, Any]) -> Hello:
    _fields(body, {"v", "dataset", "heads", "addrs"})
    if body["v"] != WIRE_VERSION:
        raise SchemaError("wire.version", f"peer speaks sync version {body['v']!r}", field="v")
    heads = tuple(SignedHead.from_map(h) for h in _list(body["heads"], "heads", MAX_HELLO_HEADS))
    addrs = _list(body["addrs"], "addrs", MAX_ADDRS)
    if any(not isinstance(a, str) or len(a) > 512 for a in addrs):
        raise _fail("addrs must be multiaddr strings", "addrs")
    return Hello(_key(body["dataset"], "dataset"), heads, tuple(addrs))


def _parse_get(body: dict[str, Any]) -> GetRange:
    _fields(body, {"id", "publisher", "start", "end"})
    start, end = _int(body["start"], "start"), _int(body["end"], "end")
    if end <= start:
        raise _fail("end must be greater than start", "end")
    return GetRange(_int(body["id"], "id", MAX_REQUEST_ID), _key(body["publisher"], "publisher"),
                    start, end)


def _parse_chunk(body: dict[str, Any]) -> Chunk:
    _fields(body, {"id", "start", "headers", "payloads", "head", "proof"})
    headers = _list(body["headers"], "headers", MAX_CHUNK_ENTRIES)
    payloads = _list(body["payloads"], "payloads", MAX_CHUNK_ENTRIES)
    if not headers or len(payloads) != len(headers):
        raise _fail("a chunk has one payload slot per header and at least one header", "payloads")
    if any(not isinstance(h, bytes) for h in headers):
        raise _fail("headers must be byte strings", "headers")
    if any(p is not None and not isinstance(p, bytes) for p in payloads):
        raise _fail("payloads must be byte strings or nil", "payloads")
    proof = tuple(_key(p, "proof") for p in _list(body["proof"], "proof", 128))
    head = SignedHead.from_map(body["head"])
    start = _int(body["start"], "start")
    if start + len(headers) > head.length:
        raise _fail("chunk extends beyond its head", "head")
    return Chunk(_int(body["id"], "id", MAX_REQUEST_ID), start, tuple(headers), tuple(payloads),
                 head, proof)


def _parse_error(body: dict[str, Any]) -> ErrorReply:
    _fields(body, {"id", "code", "message"})
    rid = None if body["id"] is None else _int(body["id"], "id", MAX_REQUEST_ID)
    code, message = body["code"], body["message"]
    if not isinstance(code, str) or not isinstance(message, str):
        raise _fail("error code and message must be strings", "code")
    return ErrorReply(rid, code[:100], message[:1000])


def _parse_heads(body: dict[str, Any]) -> GossipHeads:
    _fields(body, {"heads"})
    heads = _list(body["heads"], "heads", MAX_GOSSIP_HEADS)
    if not heads:
        raise _fail("a heads message carries at least one head", "heads")
    return GossipHeads(tuple(SignedHead.from_map(h) for h in heads))


def _parse_equivocation(body: dict[str, Any]) -> GossipEquivocation:
    _fields(body, {"proof"})
    if not isinstance(body["proof"], bytes):
        raise _fail("proof must be bytes", "proof")
    return GossipEquivocation(EquivocationProof.from_bytes(body["proof"]))


def _parse_done(body: dict[str, Any]) -> Done:
    _fields(body, {"id"})
    return Done(_int(body["id"], "id", MAX_REQUEST_ID))


_STREAM = {"hello": _parse_hello, "get": _parse_get, "chunk": _parse_chunk, "done": _parse_done,
           "error": _parse_error}
_GOSSIP = {"heads": _parse_heads, "equivocation": _parse_equivocation}


def _decode(data: bytes, limits: DecodeLimits, table: dict[str, Any]) -> Any:
    body = decode(data, limits)
    if not isinstance(body, dict) or not isinstance(body.get("t"), str):
        raise DecodeError("wire.not_a_message", "not a tagged message map")
    parser = table.get(body["t"])
    if parser is None:
        raise SchemaError("wire.unknown_type", f"unknown message type {body['t'][:40]!r}",
                          field="t")
    return parser(body)


def decode_message(data: bytes) -> Hello | GetRange | Chunk | Done | ErrorReply:
    """Decode one catch-up stream message (raises DecodeError/SchemaError)."""
    message: Hello | GetRange | Chunk | Done | ErrorReply = _decode(data, STREAM_LIMITS, _STREAM)
    return message


def decode_gossip(data: bytes) -> GossipHeads | GossipEquivocation:
    """Decode one gossip message (much tighter limits than a stream)."""
    message: GossipHeads | GossipEquivocation = _decode(data, GOSSIP_LIMITS, _GOSSIP)
    return message


def chunk_size_ok(headers: Sequence[bytes], payloads: Sequence[bytes | None]) -> bool:
    """Whether a chunk of these entries fits the frame limit (servers cut chunks by this)."""
    total = sum(len(h) for h in headers) + sum(len(p) for p in payloads if p is not None)
    return len(headers) <= MAX_CHUNK_ENTRIES and total <= MAX_CHUNK_BYTES
