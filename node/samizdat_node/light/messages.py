"""Messages of the light-client protocol ``/samizdat/light/1`` (design §4.5; spec §14).

Sans-IO: canonical maps in, canonical bytes out, nothing else. One request per stream: the
client writes one request frame, the server answers with one response frame and closes.

Requests::

    {"t": "get_record", "v": 1, "dataset": bin32, "record": str}
    {"t": "search", "v": 1, "dataset": bin32, "text": str, "birth_year": int | nil,
     "tolerance": int, "place": str | nil, "kind": str | nil, "retracted": bool,
     "limit": int, "offset": int}

Responses::

    {"t": "record", "v": 1, "record": str, "heads": [head...], "entries": [proved...],
     "governance": [bin...], "proofs": [bin...]}
    {"t": "hits", "v": 1, "heads": [head...], "hits": [hit...], "more": bool, "complete": bool,
     "governance": [bin...], "proofs": [bin...]}
    {"t": "error", "v": 1, "code": str, "message": str}

    proved = {"publisher": bin32, "index": int, "header": bin, "payload": bin | nil,
              "proof": [bin32...]}
    hit    = {"record": str, "entries": [proved...] (1..3), "matched": {field: int 1..5}}

Every ``proved`` entry is proved against the head of its publisher in ``heads`` (exactly one
head per publisher). ``governance`` and ``proofs`` are the signed governance entries and the
equivocation proofs the server holds (spec §13), each the bytes of its signed document: the
client computes the authorisation state from them as a replica does (at most
:data:`MAX_GOVERNANCE_ITEMS` of each, :data:`MAX_GOVERNANCE_BYTES` in all). Decoding is strict
(house style §2): unknown types or fields, wrong types and anything over the limits below
raise :class:`LightMessageError`, never a half-built value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from samizdat_node.search.model import MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, SearchQuery
from samizdat_protocol.encoding import DecodeLimits, decode, encode
from samizdat_protocol.entries import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES, MAX_RECORD_ID_CHARS
from samizdat_protocol.errors import RemoteError, SamizdatError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.hashing import DIGEST_SIZE
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.signing import PUBLIC_KEY_SIZE

__all__ = [
    "LIGHT_PROTOCOL",
    "MAX_GOVERNANCE_BYTES",
    "MAX_GOVERNANCE_ITEMS",
    "MAX_HEADS",
    "MAX_HITS",
    "MAX_HIT_ENTRIES",
    "MAX_PROOF",
    "MAX_RECORD_ENTRIES",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "GetRecord",
    "LightError",
    "LightMessageError",
    "ProvedEntry",
    "ProvedHit",
    "RecordAnswer",
    "SearchAnswer",
    "SearchRequest",
    "decode_request",
    "decode_response",
    "encode_message",
    "governance_size",
]

LIGHT_PROTOCOL = "/samizdat/light/1"
LIGHT_VERSION = 1
MAX_REQUEST_BYTES = 4 * 1024
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # p2p.framing.DEFAULT_MAX_FRAME_SIZE
MAX_RECORD_ENTRIES = 1024
MAX_HITS = 50  # a light search asks for at most this many hits (the server clamps)
MAX_HIT_ENTRIES = 3  # the displayed put; or a retraction and the put it withdrew
MAX_HEADS = 256  # charter.MAX_PUBLISHERS
MAX_PROOF = 64  # an inclusion proof in a log of at most 2**48 entries has at most 48 hashes
MAX_MATCH_CLASS = 5
# Governance items in one answer (spec §14): as many of each as one catch-up page carries
# (wire.MAX_GOV_ITEMS), in at most a quarter of the frame, so hits and entries keep the rest.
MAX_GOVERNANCE_ITEMS = 1024
MAX_GOVERNANCE_BYTES = 1024 * 1024

REQUEST_LIMITS = DecodeLimits(max_bytes=MAX_REQUEST_BYTES, max_str=4 * MAX_QUERY_CHARS,
                              max_bin=64, max_items=16, max_depth=1)
# Depth: response map -> hits -> hit -> entries -> proved -> proof -> hash is 6 levels.
RESPONSE_LIMITS = DecodeLimits(max_bytes=MAX_RESPONSE_BYTES, max_str=4096,
                               max_bin=MAX_PAYLOAD_BYTES, max_items=MAX_RECORD_ENTRIES,
                               max_depth=6)
_MATCH_FIELDS = frozenset({"surname", "name", "patronymic"})


class LightMessageError(RemoteError):
    """A light-protocol message is malformed (codes ``light.malformed``, ``light.version``)."""


def _fail(message: str, field_name: str | None = None) -> LightMessageError:
    return LightMessageError("light.malformed", message, field=field_name)


def _int(value: Any, name: str, low: int = 0, high: int = 2**48) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(f"{name} must be an integer in {low}..{high}", name)
    return value


def _bin(value: Any, name: str, size: int | None = None, limit: int = 2**32) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size) \
            or len(value) > limit:
        raise _fail(f"{name} must be {size if size else f'at most {limit}'} bytes", name)
    return value


def _str(value: Any, name: str, limit: int, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(f"{name} must be a string of at most {limit} characters", name)
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"{name} must be a boolean", name)
    return value


def _list(value: Any, name: str, limit: int, minimum: int = 0) -> list[Any]:
    if not isinstance(value, list) or not minimum <= len(value) <= limit:
        raise _fail(f"{name} must be a list of {minimum}..{limit} items", name)
    return value


def _fields(body: dict[str, Any], expected: frozenset[str]) -> None:
    if frozenset(body) != expected:
        odd = sorted(frozenset(body) ^ expected)
        raise _fail(f"message {body.get('t')!r} has wrong fields {odd}", odd[0])
    if body["v"] != LIGHT_VERSION:
        raise LightMessageError("light.version", f"peer speaks light version {body['v']!r}",
                                field="v")


@dataclass(frozen=True, slots=True)
class GetRecord:
    dataset_id: bytes
    record_id: str

    def to_map(self) -> dict[str, Any]:
        return {"t": "get_record", "v": LIGHT_VERSION, "dataset": self.dataset_id,
                "record": self.record_id}


@dataclass(frozen=True, slots=True)
class SearchRequest:
    dataset_id: bytes
    query: SearchQuery

    def to_map(self) -> dict[str, Any]:
        q = self.query
        return {"t": "search", "v": LIGHT_VERSION, "dataset": self.dataset_id, "text": q.text,
                "birth_year": q.birth_year, "tolerance": q.year_tolerance, "place": q.place,
                "kind": q.sentence_kind, "retracted": q.include_retracted, "limit": q.limit,
                "offset": q.offset}


@dataclass(frozen=True, slots=True)
class ProvedEntry:
    """One log entry with its payload (None: not a put, erased or withheld) and the inclusion
    proof of ``index`` in the tree of its publisher's head given beside it."""

    publisher: bytes
    index: int
    header: bytes
    payload: bytes | None
    proof: tuple[bytes, ...]

    def to_map(self) -> dict[str, Any]:
        return {"publisher": self.publisher, "index": self.index, "header": self.header,
                "payload": self.payload, "proof": list(self.proof)}


def _governance_map(entries: tuple[GovernanceEntry, ...],
                    proofs: tuple[EquivocationProof, ...]) -> dict[str, list[bytes]]:
    return {"governance": [e.to_bytes() for e in entries],
            "proofs": [p.to_bytes() for p in proofs]}


def governance_size(entries: tuple[GovernanceEntry, ...],
                    proofs: tuple[EquivocationProof, ...]) -> int:
    """Bytes of the signed documents (what :data:`MAX_GOVERNANCE_BYTES` bounds)."""
    return sum(len(e.to_bytes()) for e in entries) + sum(len(p.to_bytes()) for p in proofs)


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    record_id: str
    heads: tuple[SignedHead, ...]
    entries: tuple[ProvedEntry, ...]
    governance: tuple[GovernanceEntry, ...] = ()
    proofs: tuple[EquivocationProof, ...] = ()

    def to_map(self) -> dict[str, Any]:
        return {"t": "record", "v": LIGHT_VERSION, "record": self.record_id,
                "heads": [h.to_map() for h in self.heads],
                "entries": [e.to_map() for e in self.entries],
                **_governance_map(self.governance, self.proofs)}


@dataclass(frozen=True, slots=True)
class ProvedHit:
    record_id: str
    entries: tuple[ProvedEntry, ...]
    matched: dict[str, int] = field(default_factory=dict)

    def to_map(self) -> dict[str, Any]:
        return {"record": self.record_id, "entries": [e.to_map() for e in self.entries],
                "matched": dict(self.matched)}


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    heads: tuple[SignedHead, ...]
    hits: tuple[ProvedHit, ...]
    more: bool
    complete: bool
    governance: tuple[GovernanceEntry, ...] = ()
    proofs: tuple[EquivocationProof, ...] = ()

    def to_map(self) -> dict[str, Any]:
        return {"t": "hits", "v": LIGHT_VERSION, "heads": [h.to_map() for h in self.heads],
                "hits": [h.to_map() for h in self.hits], "more": self.more,
                "complete": self.complete, **_governance_map(self.governance, self.proofs)}


@dataclass(frozen=True, slots=True)
class LightError:
    """The server could not answer (``notfound.record``, ``search.*``, ``light.*``)."""

    code: str
    message: str

    def to_map(self) -> dict[str, Any]:
        return {"t": "error", "v": LIGHT_VERSION, "code": self.code[:100],
                "message": self.message[:1000]}


Request = GetRecord | SearchRequest
Response = RecordAnswer | SearchAnswer | LightError


def encode_message(message: Request | Response) -> bytes:
    return encode(message.to_map())


def _tagged(data: bytes, limits: DecodeLimits) -> dict[str, Any]:
    try:
        body = decode(data, limits)
    except SamizdatError as exc:
        raise LightMessageError("light.malformed", f"undecodable message: {exc.message}",
                                cause=exc.code) from exc
    if not isinstance(body, dict) or not isinstance(body.get("t"), str) or "v" not in body:
        raise _fail("not a tagged light message")
    return body


def decode_request(data: bytes) -> Request:
    """A request from a client; raises :class:`LightMessageError`."""
    body = _tagged(data, REQUEST_LIMITS)
    kind = body["t"]
    if kind == "get_record":
        _fields(body, frozenset({"t", "v", "dataset", "record"}))
        record = _str(body["record"], "record", MAX_RECORD_ID_CHARS)
        if not record:
            raise _fail("record id is empty", "record")
        return GetRecord(_bin(body["dataset"], "dataset", DIGEST_SIZE), record)
    if kind == "search":
        _fields(body, frozenset({"t", "v", "dataset", "text", "birth_year", "tolerance",
                                 "place", "kind", "retracted", "limit", "offset"}))
        year = body["birth_year"]
        query = SearchQuery(
            text=_str(body["text"], "text", MAX_QUERY_CHARS) or "",
            birth_year=None if year is None else _int(year, "birth_year", 0, 9999),
            year_tolerance=_int(body["tolerance"], "tolerance", 0, 100),
            place=_str(body["place"], "place", MAX_QUERY_CHARS, optional=True),
            sentence_kind=_str(body["kind"], "kind", 40, optional=True),
            include_retracted=_bool(body["retracted"], "retracted"),
            limit=_int(body["limit"], "limit", 1, MAX_LIMIT),
            offset=_int(body["offset"], "offset", 0, MAX_OFFSET),
        )
        return SearchRequest(_bin(body["dataset"], "dataset", DIGEST_SIZE), query)
    raise _fail(f"unknown request type {kind[:40]!r}", "t")


def _head(value: Any) -> SignedHead:
    try:
        return SignedHead.from_map(value)
    except SamizdatError as exc:
        raise _fail(f"malformed head: {exc.message}", "heads") from exc


def _heads(value: Any) -> tuple[SignedHead, ...]:
    heads = tuple(_head(h) for h in _list(value, "heads", MAX_HEADS))
    if len({h.publisher for h in heads}) != len(heads):
        raise _fail("two heads for one publisher", "heads")
    return heads


def _proved(value: Any) -> ProvedEntry:
    if not isinstance(value, dict):
        raise _fail("an entry is a map", "entries")
    if frozenset(value) != {"publisher", "index", "header", "payload", "proof"}:
        raise _fail(f"entry has wrong fields {sorted(value)}", "entries")
    payload = value["payload"]
    return ProvedEntry(
        publisher=_bin(value["publisher"], "publisher", PUBLIC_KEY_SIZE),
        index=_int(value["index"], "index"),
        header=_bin(value["header"], "header", limit=MAX_HEADER_BYTES),
        payload=None if payload is None else _bin(payload, "payload", limit=MAX_PAYLOAD_BYTES),
        proof=tuple(_bin(h, "proof", DIGEST_SIZE) for h in _list(value["proof"], "proof",
                                                                 MAX_PROOF)),
    )


def _hit(value: Any) -> ProvedHit:
    if not isinstance(value, dict) or frozenset(value) != {"record", "entries", "matched"}:
        raise _fail("a hit is {record, entries, matched}", "hits")
    matched = value["matched"]
    if not isinstance(matched, dict) or not set(matched) <= _MATCH_FIELDS:
        raise _fail("matched maps surname, name, patronymic to a class", "matched")
    return ProvedHit(
        record_id=_str(value["record"], "record", MAX_RECORD_ID_CHARS) or "",
        entries=tuple(_proved(e) for e in _list(value["entries"], "entries", MAX_HIT_ENTRIES,
                                                 minimum=1)),
        matched={k: _int(v, "matched", 1, MAX_MATCH_CLASS) for k, v in matched.items()},
    )


def _documents(value: Any, name: str, parse: Any) -> tuple[Any, ...]:
    out = []
    for n, item in enumerate(_list(value, name, MAX_GOVERNANCE_ITEMS)):
        if not isinstance(item, bytes):
            raise _fail(f"{name} must be byte strings", name)
        try:
            out.append(parse(item))
        except SamizdatError as exc:
            raise _fail(f"{name}[{n}] is malformed: {exc.code}: {exc.message}", name) from exc
    return tuple(out)


def _governance(body: dict[str, Any]) -> tuple[tuple[GovernanceEntry, ...],
                                                tuple[EquivocationProof, ...]]:
    """The governance items of an answer, strictly decoded (signatures are the state's
    concern, spec §13 rule 3: a forged entry is decoded here and changes nothing there)."""
    entries = _documents(body["governance"], "governance", GovernanceEntry.from_bytes)
    proofs = _documents(body["proofs"], "proofs", EquivocationProof.from_bytes)
    if governance_size(entries, proofs) > MAX_GOVERNANCE_BYTES:
        raise _fail(f"governance items exceed {MAX_GOVERNANCE_BYTES} bytes", "governance")
    return entries, proofs


def decode_response(data: bytes) -> Response:
    """A response from a server; raises :class:`LightMessageError`."""
    body = _tagged(data, RESPONSE_LIMITS)
    kind = body["t"]
    if kind == "record":
        _fields(body, frozenset({"t", "v", "record", "heads", "entries", "governance",
                                 "proofs"}))
        return RecordAnswer(
            _str(body["record"], "record", MAX_RECORD_ID_CHARS) or "",
            _heads(body["heads"]),
            tuple(_proved(e) for e in _list(body["entries"], "entries", MAX_RECORD_ENTRIES)),
            *_governance(body))
    if kind == "hits":
        _fields(body, frozenset({"t", "v", "heads", "hits", "more", "complete", "governance",
                                 "proofs"}))
        return SearchAnswer(_heads(body["heads"]),
                            tuple(_hit(h) for h in _list(body["hits"], "hits", MAX_HITS)),
                            _bool(body["more"], "more"), _bool(body["complete"], "complete"),
                            *_governance(body))
    if kind == "error":
        _fields(body, frozenset({"t", "v", "code", "message"}))
        return LightError(_str(body["code"], "code", 100) or "light.unknown",
                          _str(body["message"], "message", 1000) or "")
    raise _fail(f"unknown response type {kind[:40]!r}", "t")
