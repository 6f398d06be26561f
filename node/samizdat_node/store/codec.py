"""Byte-identical fast paths for the canonical encodings the store handles in bulk.

The protocol's general encoder (:func:`samizdat_protocol.encoding.encode`) and the ``Entry``
class validate and normalise any value; that generality costs 11-25 µs per record, more than the
whole per-record budget of the publishing target (design §8: 50k records/s). Record bodies and
entry headers have a fixed, flat shape, so the same bytes can be produced and checked with one
``msgpack`` call each. Every function here either returns exactly what the protocol function
would (proven by property tests in tests/node/test_store_codec.py) or falls back to it, so no
second canonical form can arise (house style §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack
import msgspec

from samizdat_protocol.encoding import Value, decode, encode
from samizdat_protocol.entries import (
    ENTRY_LIMITS,
    ENTRY_VERSION,
    MAX_PAYLOAD_BYTES,
    MAX_RECORD_ID_CHARS,
    PAYLOAD_LIMITS,
    Entry,
)
from samizdat_protocol.errors import LocalError, SchemaError
from samizdat_protocol.hashing import DIGEST_SIZE

__all__ = [
    "HeaderFields",
    "decode_body",
    "decode_header",
    "encode_body",
    "encode_flat_body",
    "put_header",
    "valid_record_id",
]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_TS_LIMIT = 2**53
# msgspec writes str, bin, bool, int, lists and maps exactly as msgpack-python's packer with
# use_bin_type (minimal forms, insertion order; proven by tests/node/test_store_codec.py), in
# a third of the time.
_pack_flat = msgspec.msgpack.Encoder().encode
_pack_sorted = msgspec.msgpack.Encoder(order="sorted").encode
_FLAT = frozenset({str, bool, int, list})
_STR_ONLY = frozenset({str})
_PUT_KEYS = ("kind", "payload", "record", "ts", "v")
_PUT_PREV_KEYS = ("kind", "payload", "prev", "record", "ts", "v")

# (kind, record_id, payload_hash_or_erase_target, ts)
HeaderFields = tuple[str, str, bytes | None, int]


def encode_body(body: Mapping[str, Any]) -> bytes:
    """``encode(body)`` for a record body, fast when it is flat.

    Flat means str keys and values that are str, bool, 64-bit int, or lists of str: the shape
    every schema-validated body has. The check is a few set operations in C; anything else
    goes to the general encoder.
    """
    kinds = set(map(type, body.values()))
    if not kinds <= _FLAT or not set(map(type, body)) <= _STR_ONLY:
        return encode(dict(body))
    if int in kinds and not all(_INT_MIN <= value <= _INT_MAX for value in body.values()
                                if type(value) is int):
        return encode(dict(body))
    if list in kinds and not all(set(map(type, value)) <= _STR_ONLY for value in body.values()
                                 if type(value) is list):
        return encode(dict(body))
    return encode_flat_body(body if type(body) is dict else dict(body))


def encode_flat_body(body: dict[str, Any]) -> bytes:
    """:func:`encode_body` of a body the caller knows is flat (a schema-built body: the TSV
    importer's), without the check; ``payload.oversize`` above the payload limit.

    msgspec's ``order="sorted"`` sorts str keys by their UTF-8 bytes, which is the canonical
    order (encoding.py; property-tested against ``encode`` in tests/node/test_store_codec.py).
    """
    try:
        data: bytes = _pack_sorted(body)
    except (ValueError, OverflowError, UnicodeEncodeError, msgspec.EncodeError) as exc:
        raise LocalError("encode.failed", f"cannot encode value: {exc}") from exc
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SchemaError("payload.oversize",
                          f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return data


def valid_record_id(record_id: object) -> bool:
    """The record id rule of entries.py: 1..200 chars, no controls, no surrounding space."""
    if type(record_id) is not str or not 0 < len(record_id) <= MAX_RECORD_ID_CHARS:
        return False
    if record_id.isprintable() and record_id == record_id.strip():
        return True
    # isprintable() also refuses non-control characters (e.g. U+00A0); decide exactly.
    return (not any(ord(ch) < 0x20 or ch == "\x7f" for ch in record_id)
            and record_id == record_id.strip())


def put_header(record_id: str, payload_hash: bytes, ts: int, prev: bytes | None) -> bytes:
    """``Entry.put(record_id, payload_hash, ts, prev).to_bytes()`` without the general encoder."""
    if (not valid_record_id(record_id) or type(ts) is not int or not 0 <= ts < _TS_LIMIT
            or type(payload_hash) is not bytes or len(payload_hash) != DIGEST_SIZE
            or (prev is not None and (type(prev) is not bytes or len(prev) != DIGEST_SIZE))):
        return Entry.put(record_id, payload_hash, ts, prev).to_bytes()  # raises the right error
    if prev is None:
        fields: dict[str, Any] = {"kind": "put", "payload": payload_hash, "record": record_id,
                                  "ts": ts, "v": ENTRY_VERSION}
    else:
        fields = {"kind": "put", "payload": payload_hash, "prev": prev, "record": record_id,
                  "ts": ts, "v": ENTRY_VERSION}
    out: bytes = _pack_flat(fields)
    return out


def decode_header(data: bytes) -> HeaderFields:
    """Decode and validate an entry header from outside, as ``Entry.from_bytes`` does.

    The common case (a put) is checked here completely: exact key set in canonical order,
    exact types, and re-encoding giving the same bytes (which rules out every non-minimal
    form). Anything else goes through ``Entry.from_bytes``, which accepts it or raises the
    protocol's own error.
    """
    fast = _fast_put(data)
    if fast is not None:
        return fast
    entry = Entry.from_bytes(data)
    key = entry.payload_hash if entry.kind == "put" else entry.target
    return entry.kind, entry.record_id, key, entry.timestamp


def _fast_put(data: bytes) -> HeaderFields | None:
    if type(data) is not bytes or len(data) > ENTRY_LIMITS.max_bytes:
        return None
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True, max_str_len=8192,
                                max_bin_len=64, max_array_len=16, max_map_len=16, max_ext_len=0)
    except Exception:  # any malformation: let the reference decoder name it
        return None
    if type(value) is not dict:
        return None
    keys = tuple(value)
    if keys != _PUT_KEYS and keys != _PUT_PREV_KEYS:
        return None
    record, payload, ts = value["record"], value["payload"], value["ts"]
    prev = value.get("prev")
    if (value["kind"] != "put" or type(value["v"]) is not int or value["v"] != ENTRY_VERSION
            or type(payload) is not bytes or len(payload) != DIGEST_SIZE
            or (prev is not None and (type(prev) is not bytes or len(prev) != DIGEST_SIZE))
            or type(ts) is not int or not 0 <= ts < _TS_LIMIT or not valid_record_id(record)
            or _pack_flat(value) != data):
        return None
    return "put", record, payload, ts


def decode_body(data: bytes) -> Value:
    """``decode(data, PAYLOAD_LIMITS)`` for a payload from outside, fast when it is flat.

    Accepted here only when it is a map of str keys in canonical order to str, bool, int or
    lists of str, and re-encodes to exactly ``data``; anything else is decided by the
    protocol's decoder (which raises its own errors).
    """
    fast = _fast_body(data)
    return fast if fast is not None else decode(data, PAYLOAD_LIMITS)


def _fast_body(data: bytes) -> dict[str, Any] | None:
    limits = PAYLOAD_LIMITS
    if type(data) is not bytes or len(data) > limits.max_bytes:
        return None
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True,
                                max_str_len=limits.max_str, max_bin_len=limits.max_bin,
                                max_array_len=limits.max_items, max_map_len=limits.max_items,
                                max_ext_len=0)
    except Exception:  # any malformation: let the reference decoder name it
        return None
    if type(value) is not dict:
        return None
    keys = list(value)
    if keys != sorted(keys):
        return None
    for item in value.values():
        kind = type(item)
        if kind is str or kind is bool or kind is int:
            continue
        if kind is list and all(type(x) is str for x in item):
            continue
        return None
    if _pack_flat(value) != data:
        return None
    return value
