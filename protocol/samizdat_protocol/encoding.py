"""Canonical encoding (design §2): deterministic msgpack.

Every byte string that is hashed or signed comes from :func:`encode`. The value model is small
on purpose: ``None``, ``bool``, ``int`` (-2**63 .. 2**64-1), ``str``, ``bytes``, ``list`` (tuples
encode as lists) and ``dict`` with ``str`` keys. Floats, extension types and non-string keys are
refused. Rules:

* every length and integer uses the shortest msgpack form (msgpack's packer already does this);
* ``str`` and ``bin`` are distinct types (``use_bin_type``);
* map keys are sorted by their UTF-8 bytes and unique.

:func:`decode` accepts a byte string only if re-encoding the decoded value gives back exactly
the same bytes; this one check rejects non-minimal forms, unsorted or duplicate keys, and
anything else a second encoder could vary. It also refuses trailing bytes, oversize strings,
containers and nesting depth, so a hostile peer cannot make us allocate or recurse without bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from .errors import DecodeError, LocalError

__all__ = ["DEFAULT_LIMITS", "DecodeLimits", "Value", "decode", "encode"]

Value = Any  # None | bool | int | str | bytes | list[Value] | dict[str, Value]

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Upper bounds for one decoded value. Defaults suit headers, heads and wire messages."""

    max_bytes: int = 16 * 1024 * 1024
    max_str: int = 64 * 1024
    max_bin: int = 8 * 1024 * 1024
    max_items: int = 100_000
    max_depth: int = 16


DEFAULT_LIMITS = DecodeLimits()


def _canonical(value: Value, depth: int, max_depth: int) -> Value:
    """Return an equal value whose dicts are key-sorted; refuse what the model does not allow."""
    if depth > max_depth:
        raise LocalError("encode.too_deep", f"value nests deeper than {max_depth}")
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise LocalError("encode.int_range", f"integer {value} is outside 64-bit range")
        return value
    if isinstance(value, (list, tuple)):
        return [_canonical(item, depth + 1, max_depth) for item in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise LocalError("encode.map_key", f"map key {key!r} is not a str")
        ordered = sorted(value, key=lambda k: k.encode("utf-8"))
        return {k: _canonical(value[k], depth + 1, max_depth) for k in ordered}
    raise LocalError("encode.type", f"type {type(value).__name__} cannot be encoded")


def encode(value: Value, *, max_depth: int = 32) -> bytes:
    """Canonical bytes of ``value``. Raises :class:`LocalError` for values outside the model."""
    try:
        out: bytes = msgpack.packb(_canonical(value, 0, max_depth), use_bin_type=True)
    except (ValueError, OverflowError, UnicodeEncodeError) as exc:
        raise LocalError("encode.failed", f"cannot encode value: {exc}") from exc
    return out


def _check_depth(value: Value, limit: int) -> None:
    stack: list[tuple[Value, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise DecodeError("decode.too_deep", f"value nests deeper than {limit}")
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())


def _reject_ext(code: int, data: bytes) -> Value:
    raise DecodeError("decode.ext_type", f"msgpack extension type {code} is not allowed")


def decode(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Value:
    """Decode canonical bytes; raise :class:`DecodeError` naming what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LocalError("decode.type", "decode() takes bytes")
    data = bytes(data)
    if len(data) > limits.max_bytes:
        raise DecodeError("decode.oversize", f"{len(data)} bytes exceed limit {limits.max_bytes}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_reject_ext,
            max_str_len=limits.max_str,
            max_bin_len=limits.max_bin,
            max_array_len=limits.max_items,
            max_map_len=limits.max_items,
            max_ext_len=0,
        )
    except DecodeError:
        raise
    except msgpack.ExtraData as exc:
        raise DecodeError("decode.trailing_bytes", "trailing bytes after the value") from exc
    except msgpack.StackError as exc:
        raise DecodeError("decode.too_deep", "value nests too deep") from exc
    except UnicodeDecodeError as exc:
        raise DecodeError("decode.bad_utf8", "a string is not valid UTF-8") from exc
    except ValueError as exc:
        # msgpack reports both truncation and over-limit lengths as ValueError subclasses.
        text = str(exc)
        if "ext" in text and "exceeds max" in text:
            raise DecodeError("decode.ext_type", "msgpack extension types are not allowed") from exc
        if "exceeds max" in text:
            raise DecodeError("decode.oversize", f"a field is too large: {text}") from exc
        reason = text or "truncated"
        raise DecodeError("decode.malformed", f"not a msgpack value: {reason}") from exc
    except (TypeError, msgpack.UnpackException) as exc:
        raise DecodeError("decode.malformed", f"not a msgpack value: {exc}") from exc
    _check_depth(value, limits.max_depth)
    if _contains_float(value):
        raise DecodeError("decode.float", "floats are not allowed")
    try:
        again = encode(value, max_depth=limits.max_depth + 1)
    except LocalError as exc:
        raise DecodeError("decode.not_allowed", f"value outside the model: {exc.message}") from exc
    if again != data:
        raise DecodeError("decode.non_canonical", "bytes are not the canonical encoding")
    return value


def _contains_float(value: Value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            return True
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return False
