"""Log entries (design §2): small canonical headers; record bodies travel beside them.

An entry header is a canonical map. Its Merkle leaf hash is ``hash_leaf(header_bytes)``; the
payload (the record body, itself a canonical map) is addressed by ``payload`` =
``hash_payload(payload_bytes)``. Because the tree commits only to headers, erasing a payload
leaves the log verifiable.

Header maps (keys sorted on the wire by the encoder; ``v`` is the entry format version)::

    put:     {"v": 1, "kind": "put", "record": str, "payload": bin32, "ts": int, ["prev": bin32]}
    retract: {"v": 1, "kind": "retract", "record": str, "reason": str, "ts": int, ["prev": bin32]}
    erase:   {"v": 1, "kind": "erase", "record": str, "target": bin32, "reason": str, "ts": int}

``prev`` is the leaf hash of the publisher's previous entry for the same record (a hint that
links versions; merge order comes from log positions, never from it). ``ts`` is the publisher's
clock in milliseconds since the Unix epoch: informative only, used only to break ties between
publishers (design §3). ``target`` of an erase is the payload hash whose bytes must be dropped.
Kinds beginning with ``gov.`` are reserved for governance entries signed by the founders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .encoding import DecodeLimits, decode, encode
from .errors import DecodeError, LocalError, SchemaError
from .hashing import DIGEST_SIZE, hash_leaf, hash_payload

__all__ = [
    "ENTRY_KINDS",
    "ENTRY_LIMITS",
    "ENTRY_VERSION",
    "MAX_PAYLOAD_BYTES",
    "MAX_REASON_CHARS",
    "MAX_RECORD_ID_CHARS",
    "PAYLOAD_LIMITS",
    "Entry",
    "LogEntry",
    "decode_payload",
    "encode_payload",
]

ENTRY_VERSION = 1
PUT = "put"
RETRACT = "retract"
ERASE = "erase"
ENTRY_KINDS = frozenset({PUT, RETRACT, ERASE})

MAX_RECORD_ID_CHARS = 200
MAX_REASON_CHARS = 2000
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 4096

ENTRY_LIMITS = DecodeLimits(max_bytes=MAX_HEADER_BYTES, max_str=8 * 1024, max_bin=64,
                            max_items=16, max_depth=1)
PAYLOAD_LIMITS = DecodeLimits(max_bytes=MAX_PAYLOAD_BYTES, max_str=16 * 1024, max_bin=16 * 1024,
                              max_items=256, max_depth=3)

_REQUIRED = {
    PUT: frozenset({"v", "kind", "record", "payload", "ts"}),
    RETRACT: frozenset({"v", "kind", "record", "reason", "ts"}),
    ERASE: frozenset({"v", "kind", "record", "target", "reason", "ts"}),
}
_OPTIONAL = {PUT: frozenset({"prev"}), RETRACT: frozenset({"prev"}), ERASE: frozenset()}


def _bad(code: str, message: str, field_name: str | None = None) -> SchemaError:
    return SchemaError(f"entry.{code}", message, field=field_name)


def _check_record_id(record_id: object) -> str:
    if not isinstance(record_id, str) or not 0 < len(record_id) <= MAX_RECORD_ID_CHARS:
        raise _bad("record_id", f"record id must be 1..{MAX_RECORD_ID_CHARS} characters", "record")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in record_id) or record_id != record_id.strip():
        raise _bad("record_id", "record id has control characters or surrounding space", "record")
    return record_id


def _check_hash(value: object, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != DIGEST_SIZE:
        raise _bad("hash", f"{name} must be a {DIGEST_SIZE}-byte hash", name)
    return value


def _check_reason(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_REASON_CHARS:
        raise _bad("reason", f"reason must be 1..{MAX_REASON_CHARS} characters", "reason")
    return value


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry header. Build with :meth:`put`, :meth:`retract` or :meth:`erase`."""

    kind: str
    record_id: str
    timestamp: int
    payload_hash: bytes | None = None
    prev: bytes | None = None
    reason: str | None = None
    target: bytes | None = None
    _bytes: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        # Validate once at construction; a constructed Entry is always encodable and canonical.
        as_map = self._as_map()
        _validate_map(as_map)
        object.__setattr__(self, "_bytes", encode(as_map))

    @classmethod
    def put(cls, record_id: str, payload_hash: bytes, timestamp: int,
            prev: bytes | None = None) -> Entry:
        return cls(PUT, record_id, timestamp, payload_hash=payload_hash, prev=prev)

    @classmethod
    def retract(cls, record_id: str, reason: str, timestamp: int,
                prev: bytes | None = None) -> Entry:
        return cls(RETRACT, record_id, timestamp, reason=reason, prev=prev)

    @classmethod
    def erase(cls, record_id: str, target: bytes, reason: str, timestamp: int) -> Entry:
        return cls(ERASE, record_id, timestamp, target=target, reason=reason)

    def _as_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": ENTRY_VERSION, "kind": self.kind, "record": self.record_id,
                               "ts": self.timestamp}
        for key, value in (("payload", self.payload_hash), ("prev", self.prev),
                           ("reason", self.reason), ("target", self.target)):
            if value is not None:
                out[key] = value
        return out

    def to_bytes(self) -> bytes:
        """The canonical header bytes (what the Merkle leaf commits to)."""
        return self._bytes

    @property
    def leaf_hash(self) -> bytes:
        return hash_leaf(self._bytes)

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Decode and validate a header from outside; raises DecodeError/SchemaError."""
        value = decode(data, ENTRY_LIMITS)
        if not isinstance(value, dict):
            raise DecodeError("entry.not_a_map", "entry header is not a map")
        _validate_map(value)
        return cls(kind=value["kind"], record_id=value["record"], timestamp=value["ts"],
                   payload_hash=value.get("payload"), prev=value.get("prev"),
                   reason=value.get("reason"), target=value.get("target"))


def _validate_map(value: dict[str, Any]) -> None:
    if value.get("v") != ENTRY_VERSION:
        raise _bad("version", f"unsupported entry version {value.get('v')!r}", "v")
    kind = value.get("kind")
    if kind not in _REQUIRED:
        raise _bad("kind", f"unknown entry kind {kind!r}", "kind")
    keys = frozenset(value)
    missing = _REQUIRED[kind] - keys
    if missing:
        raise _bad("missing", f"{kind} entry lacks {sorted(missing)}", sorted(missing)[0])
    extra = keys - _REQUIRED[kind] - _OPTIONAL[kind]
    if extra:
        raise _bad("unknown_field", f"{kind} entry has unknown fields {sorted(extra)}",
                   sorted(extra)[0])
    _check_record_id(value["record"])
    ts = value["ts"]
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts < 2**53:
        raise _bad("timestamp", "ts must be milliseconds since the epoch", "ts")
    for name in ("payload", "prev", "target"):
        if name in value:
            _check_hash(value[name], name)
    if "reason" in value:
        _check_reason(value["reason"])


def encode_payload(body: dict[str, Any]) -> tuple[bytes, bytes]:
    """Canonical bytes of a record body and their payload hash."""
    if not isinstance(body, dict):
        raise LocalError("payload.type", "a payload is a map of fields")
    data = encode(body)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SchemaError("payload.oversize", f"payload of {len(data)} bytes exceeds "
                          f"{MAX_PAYLOAD_BYTES}")
    return data, hash_payload(data)


def decode_payload(data: bytes, expected_hash: bytes | None = None) -> dict[str, Any]:
    """Decode a payload from outside, checking its hash first when one is expected."""
    if expected_hash is not None and hash_payload(data) != expected_hash:
        raise DecodeError("payload.hash_mismatch", "payload bytes do not match their hash")
    value = decode(data, PAYLOAD_LIMITS)
    if not isinstance(value, dict):
        raise DecodeError("payload.not_a_map", "payload is not a map")
    return value


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A verified entry at its place in a publisher's log, with its body when held.

    ``body`` is None when the payload was erased or is not (yet) held; the merge view still
    uses the header.
    """

    publisher: bytes
    index: int
    entry: Entry
    body: dict[str, Any] | None = field(default=None, compare=False, hash=False)
