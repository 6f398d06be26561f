"""Wire messages of the catch-up sync protocol and of gossip (design §4; spec §11-§12).

Every message is one canonical map with a type tag ``t``; on a stream each message is one
length-prefixed frame (node package, ``p2p.framing``). Decoding is strict: unknown types,
missing or unknown fields, wrong types and anything over the limits below are a
:class:`DecodeError`/:class:`SchemaError`, never a half-built message. The peer that sent it is
then penalised by the node.

Catch-up (protocol id ``/samizdat/sync/1``), after the stream opens::

    client -> hello    {"t": "hello", "v": 1, "dataset": bin32, "heads": [head...], "addrs": [str],
                        "gov": bin32}
    server -> hello    (the same, the server's view)
    client -> gov_get  {"t": "gov_get", "id": int, "offset": int}      (when the "gov" differ)
    server -> gov      {"t": "gov", "id": int, "entries": [bin], "proofs": [bin], "more": bool}
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

``gov`` is :func:`governance_digest` of the governance entries (with their signers) and the
equivocation proofs the sender holds (spec §11, §13). When the two differ, the client pages
through the server's items with ``gov_get`` before it plans any range: the state those items
decide (who may publish, pinned prefixes) decides what to fetch. A page holds consecutive items
of the server's list (entries in (seq, id) order, then proofs in name order) from ``offset``;
``more`` says whether items follow.

Gossip (one topic per dataset) carries only::

    {"t": "heads", "heads": [head...]}            (small: at most MAX_GOSSIP_HEADS)
    {"t": "equivocation", "proof": bin}            (an encoded EquivocationProof)
    {"t": "governance", "entry": bin}              (a signed governance entry, spec §13)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .encoding import DecodeLimits, decode, encode
from .errors import DecodeError, LocalError, RemoteError, SchemaError
from .governance import GovernanceEntry, equivocation_id
from .hashing import DIGEST_SIZE, GOVSET, tagged_hash
from .heads import EquivocationProof, SignedHead

__all__ = [
    "EMPTY_GOVERNANCE",
    "MAX_CHUNK_BYTES",
    "MAX_CHUNK_ENTRIES",
    "MAX_GOSSIP_ENTRY",
    "MAX_GOSSIP_HEADS",
    "MAX_GOV_BYTES",
    "MAX_GOV_ITEMS",
    "MAX_HELLO_HEADS",
    "MAX_REQUEST_ID",
    "Chunk",
    "Done",
    "ErrorReply",
    "GetRange",
    "GossipEquivocation",
    "GossipGovernance",
    "GossipHeads",
    "GossipMessage",
    "GovGet",
    "GovReply",
    "Hello",
    "Message",
    "StreamMessage",
    "chunk_size_ok",
    "decode_gossip",
    "decode_message",
    "encode_message",
    "governance_digest",
    "parse_stream_map",
]

WIRE_VERSION = 1
MAX_CHUNK_ENTRIES = 4096
MAX_CHUNK_BYTES = 8 * 1024 * 1024
MAX_HELLO_HEADS = 1024
MAX_GOSSIP_HEADS = 16
MAX_ADDRS = 32
MAX_REQUEST_ID = 2**32 - 1
MAX_GOV_ITEMS = 1024  # entries, and proofs, in one gov page
MAX_GOV_BYTES = 4 * 1024 * 1024  # what a sender puts in one gov page (receivers: the frame)
MAX_GOV_OFFSET = 2**32 - 1
MAX_GOSSIP_ENTRY = 16 * 1024  # a bigger governance entry travels by catch-up only

STREAM_LIMITS = DecodeLimits(max_bytes=MAX_CHUNK_BYTES + 64 * 1024, max_str=4096,
                             max_bin=64 * 1024, max_items=MAX_CHUNK_ENTRIES, max_depth=3)
GOSSIP_LIMITS = DecodeLimits(max_bytes=32 * 1024, max_str=64, max_bin=MAX_GOSSIP_ENTRY,
                             max_items=MAX_GOSSIP_HEADS, max_depth=3)


def governance_digest(entries: Iterable[GovernanceEntry],
                      proofs: Iterable[EquivocationProof]) -> bytes:
    """The hello's ``gov``: what a node holds of the authorisation state's inputs (spec §11).

    ``H_govset(encode([[[id, [signer, ...]], ...], [proof name, ...]]))``: entries by id, each
    with the sorted keys of its signatures (a node keeps only valid ones, and copies of one
    decision merge their signers, spec §13), and the distinct names of the proofs
    (``equivocation_id``, 64 bytes), sorted. Order and duplicates of the input do not matter.
    """
    signers: dict[bytes, set[bytes]] = {}
    for entry in entries:
        signers.setdefault(entry.id, set()).update(k for k, _ in entry.signatures)
    names = sorted({equivocation_id(p) for p in proofs})
    items = [[entry_id, sorted(signers[entry_id])] for entry_id in sorted(signers)]
    return tagged_hash(GOVSET, encode([items, names]))


EMPTY_GOVERNANCE = governance_digest((), ())


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
    gov: bytes = EMPTY_GOVERNANCE  # governance_digest of what the sender holds

    def to_map(self) -> dict[str, Any]:
        return {"t": "hello", "v": WIRE_VERSION, "dataset": self.dataset_id,
                "heads": [h.to_map() for h in self.heads], "addrs": list(self.addrs),
                "gov": self.gov}


@dataclass(frozen=True, slots=True)
class GovGet:
    """Ask for the server's governance items from ``offset`` (spec §11)."""

    request_id: int
    offset: int = 0

    def to_map(self) -> dict[str, Any]:
        return {"t": "gov_get", "id": self.request_id, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class GovReply:
    """One page of the server's governance entries and equivocation proofs."""

    request_id: int
    entries: tuple[GovernanceEntry, ...]
    proofs: tuple[EquivocationProof, ...]
    more: bool = False

    @property
    def count(self) -> int:
        return len(self.entries) + len(self.proofs)

    def to_map(self) -> dict[str, Any]:
        return {"t": "gov", "id": self.request_id,
                "entries": [e.to_bytes() for e in self.entries],
                "proofs": [p.to_bytes() for p in self.proofs], "more": self.more}


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


@dataclass(frozen=True, slots=True)
class GossipGovernance:
    entry: GovernanceEntry

    def to_map(self) -> dict[str, Any]:
        return {"t": "governance", "entry": self.entry.to_bytes()}


StreamMessage = Hello | GetRange | Chunk | Done | ErrorReply | GovGet | GovReply
GossipMessage = GossipHeads | GossipEquivocation | GossipGovernance
Message = StreamMessage | GossipMessage


def encode_message(message: Message) -> bytes:
    return encode(message.to_map())


def _parse_hello(body: dict[str, Any]) -> Hello:
    if body.get("v") != WIRE_VERSION:
        raise SchemaError("wire.version", f"peer speaks sync version {body.get('v')!r}",
                          field="v")
    _fields(body, {"v", "dataset", "heads", "addrs", "gov"})
    heads = tuple(SignedHead.from_map(h) for h in _list(body["heads"], "heads", MAX_HELLO_HEADS))
    addrs = _list(body["addrs"], "addrs", MAX_ADDRS)
    if any(not isinstance(a, str) or len(a) > 512 for a in addrs):
        raise _fail("addrs must be multiaddr strings", "addrs")
    return Hello(_key(body["dataset"], "dataset"), heads, tuple(addrs), _key(body["gov"], "gov"))


def _parse_gov_get(body: dict[str, Any]) -> GovGet:
    _fields(body, {"id", "offset"})
    return GovGet(_int(body["id"], "id", MAX_REQUEST_ID),
                  _int(body["offset"], "offset", MAX_GOV_OFFSET))


def _items(value: Any, name: str, parse: Any) -> tuple[Any, ...]:
    """Strictly decode a list of signed documents; any bad one is the whole message's fault."""
    out = []
    for n, item in enumerate(_list(value, name, MAX_GOV_ITEMS)):
        if not isinstance(item, bytes):
            raise _fail(f"{name} must be byte strings", name)
        try:
            out.append(parse(item))
        except (RemoteError, LocalError) as exc:
            raise _fail(f"{name}[{n}] is malformed: {exc.code}: {exc.message}", name) from exc
    return tuple(out)


def _parse_gov(body: dict[str, Any]) -> GovReply:
    _fields(body, {"id", "entries", "proofs", "more"})
    if not isinstance(body["more"], bool):
        raise _fail("more must be a boolean", "more")
    entries = _items(body["entries"], "entries", GovernanceEntry.from_bytes)
    proofs = _items(body["proofs"], "proofs", EquivocationProof.from_bytes)
    if body["more"] and not entries and not proofs:
        raise _fail("an empty page cannot promise more", "more")
    return GovReply(_int(body["id"], "id", MAX_REQUEST_ID), entries, proofs, body["more"])


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


def _parse_governance(body: dict[str, Any]) -> GossipGovernance:
    _fields(body, {"entry"})
    (entry,) = _items([body["entry"]], "entry", GovernanceEntry.from_bytes)
    return GossipGovernance(entry)


def _parse_done(body: dict[str, Any]) -> Done:
    _fields(body, {"id"})
    return Done(_int(body["id"], "id", MAX_REQUEST_ID))


_STREAM = {"hello": _parse_hello, "get": _parse_get, "chunk": _parse_chunk, "done": _parse_done,
           "error": _parse_error, "gov_get": _parse_gov_get, "gov": _parse_gov}
_GOSSIP = {"heads": _parse_heads, "equivocation": _parse_equivocation,
           "governance": _parse_governance}


def _decode(data: bytes, limits: DecodeLimits, table: dict[str, Any]) -> Any:
    return _parse_map(decode(data, limits), table)


def parse_stream_map(body: object) -> StreamMessage:
    """The stream message a decoded map is, with every check :func:`decode_message` makes
    after decoding (for a node's faster decoder of the same canonical bytes)."""
    message: StreamMessage = _parse_map(body, _STREAM)
    return message


def _parse_map(body: Any, table: dict[str, Any]) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("t"), str):
        raise DecodeError("wire.not_a_message", "not a tagged message map")
    parser = table.get(body["t"])
    if parser is None:
        raise SchemaError("wire.unknown_type", f"unknown message type {body['t'][:40]!r}",
                          field="t")
    return parser(body)


def decode_message(data: bytes) -> StreamMessage:
    """Decode one catch-up stream message (raises DecodeError/SchemaError)."""
    message: StreamMessage = _decode(data, STREAM_LIMITS, _STREAM)
    return message


def decode_gossip(data: bytes) -> GossipMessage:
    """Decode one gossip message (much tighter limits than a stream)."""
    message: GossipMessage = _decode(data, GOSSIP_LIMITS, _GOSSIP)
    return message


def chunk_size_ok(headers: Sequence[bytes], payloads: Sequence[bytes | None]) -> bool:
    """Whether a chunk of these entries fits the frame limit (servers cut chunks by this)."""
    total = sum(len(h) for h in headers) + sum(len(p) for p in payloads if p is not None)
    return len(headers) <= MAX_CHUNK_ENTRIES and total <= MAX_CHUNK_BYTES
