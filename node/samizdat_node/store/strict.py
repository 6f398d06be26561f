"""A fast accept-only check of payloads from peers: ``memorial.victim/1`` bodies via msgspec.

Every payload a node receives is decoded (canonical msgpack, codec.py) and validated strictly
against the charter's schema (schema.py): together 14 µs per record, the largest part of
applying a sync chunk (design §8 target: 1M records in 23 s). Both are interpretive work per
field. Here the same decision is made mostly in C: msgspec decodes the bytes straight into a
struct whose field types and constraints restate the schema's rules (known fields only, str /
bool / int, lengths, ``age`` range, ``sex``, ``synthetic``), then a few calls check what the
types cannot say (printable, stripped, NFC text; ISO dates; distinct list items) and that the
bytes are the canonical encoding (re-encoded, compared byte for byte).

The check only ever *accepts*: :func:`fast_strict` returns the body as the general path would,
or None when it is not certain, and the caller then runs the general path, which accepts the
body or names exactly what is wrong. So it can never change what is accepted (property-tested
against the general path in tests/node/test_store_strict.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec

from samizdat_protocol.errors import SchemaError
from samizdat_protocol.partial_dates import check_iso
from samizdat_protocol.schema import (
    DATE_FIELDS,
    FIELDS,
    LIST_FIELDS,
    LIST_ITEM_LIMIT,
    LIST_LIMIT,
    SCHEMA_ID,
    TEXT_LIMITS,
)

__all__ = ["fast_strict"]

_SEP = "|"  # joins texts; printable, a starter that composes with nothing (UAX #15)
_MAP16 = 0xDE
_FIXMAP = 0x80


def _field_type(name: str) -> Any:
    """The msgspec type of one field, as strict as schema.py's rule for it (or stricter)."""
    if name in TEXT_LIMITS:
        return Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_LIMITS[name])]
    if name in DATE_FIELDS:
        return Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    if name in LIST_FIELDS:
        item = Annotated[str, msgspec.Meta(min_length=1, max_length=LIST_ITEM_LIMIT)]
        return Annotated[list[item], msgspec.Meta(min_length=1,
                                                  max_length=LIST_LIMIT)]
    if name == "age":
        return Annotated[int, msgspec.Meta(ge=0, le=130)]
    if name == "sex":
        return Literal["m", "f"]
    if name == "synthetic":
        return Literal[True]
    return bool  # executed


def _struct() -> type[msgspec.Struct]:
    # Fields in sorted order: msgspec encodes a struct in declaration order, which is then
    # the canonical (sorted) key order of encoding.py.
    fields: list[Any] = []
    for name in sorted(FIELDS):
        kind = _field_type(name)
        if name == "surname":
            fields.append((name, kind))
        else:
            fields.append((name, kind | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct("Victim", fields, kw_only=True, forbid_unknown_fields=True,
                             omit_defaults=True, gc=False)


_Victim = _struct()
_decode = msgspec.msgpack.Decoder(_Victim).decode
_encode = msgspec.msgpack.Encoder().encode
_astuple = msgspec.structs.astuple
_to_builtins = msgspec.to_builtins
_is_str = str.__instancecheck__
_is_normalized = unicodedata.is_normalized
_lists = attrgetter(*sorted(LIST_FIELDS))
_dates = attrgetter(*sorted(DATE_FIELDS))


@lru_cache(maxsize=1 << 16)
def _clean_date(text: str) -> bool:
    """A date the general path keeps unchanged (dates repeat across records: cached)."""
    if text != text.strip():
        return False
    try:
        check_iso(text)
    except SchemaError:
        return False
    return True


def _canonical(obj: msgspec.Struct, data: bytes) -> bool:
    """Whether ``data`` is the canonical encoding of ``obj``.

    msgspec writes a struct's map header as map16 whatever the count; the canonical encoder
    writes a fixmap below 16 entries. The rest must match byte for byte.
    """
    again = _encode(obj)
    if again[0] == _MAP16 and again[1] == 0:
        count = again[2]
        if count < 16:
            return data[0] == _FIXMAP | count and data[1:] == again[3:]
    return again == data


def _victim(data: bytes, want_body: bool) -> dict[str, Any] | bool | None:
    try:
        obj = _decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    values = _astuple(obj)
    texts = list(filter(_is_str, values))
    for items in _lists(obj):
        if items is not msgspec.UNSET:
            if len(set(items)) != len(items):
                return False
            texts.extend(items)
    # Printable means no control character, no lone surrogate and no whitespace but U+0020;
    # joined by a non-composing starter, the whole is NFC exactly when every part is; a part
    # with surrounding space shows as one at an end or beside a separator (a false alarm
    # there only costs the general path).
    joined = _SEP.join(texts)
    if not (joined.isprintable() and _is_normalized("NFC", joined)
            and joined[0] != " " and joined[-1] != " "
            and " |" not in joined and "| " not in joined):
        return False
    if not all(map(_clean_date, filter(_is_str, _dates(obj)))):
        return False
    if not _canonical(obj, data):
        return False
    return _to_builtins(obj) if want_body else True


_CHECKS: dict[str, Callable[[bytes, bool], dict[str, Any] | bool | None]] = {
    SCHEMA_ID: _victim,
}


def fast_strict(schema_id: str, data: bytes, want_body: bool = True) -> dict[str, Any] | bool:
    """Accept a payload whose bytes are a canonical, strictly valid body of ``schema_id``.

    Returns the body (``want_body``) or True when certain; False when not (run the general
    path: codec.decode_body, then schema.validate with ``strict=True``).
    """
    check = _CHECKS.get(schema_id)
    if check is None:
        return False
    result = check(data, want_body)
    return False if result is None else result

