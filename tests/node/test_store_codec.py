"""The store's fast encoders produce exactly the protocol's bytes, and its fast header decoder
accepts exactly what Entry.from_bytes accepts (house style §3: one canonical form)."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_node.store.codec import (
    decode_body,
    decode_header,
    encode_body,
    encode_flat_body,
    put_header,
    valid_record_id,
)
from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.entries import PAYLOAD_LIMITS, Entry
from samizdat_protocol.errors import SamizdatError
from tests.support.strategies import hashes, record_ids, timestamps, values

flat_values = (st.text(max_size=30) | st.booleans() | st.integers(-(2**63), 2**64 - 1)
               | st.lists(st.text(max_size=10), max_size=4))
flat_bodies = st.dictionaries(st.text(max_size=12), flat_values, max_size=12)
any_ids = st.text(max_size=12) | record_ids


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except SamizdatError as exc:
        return "error", exc.code


@given(flat_bodies | st.dictionaries(st.text(max_size=5), values, max_size=5))
@example({"b": 1, "a": 2.5})
@example({"ё": "x", "е": "y", "z": [1]})
def test_encode_body_equals_encode(body: dict[str, Any]) -> None:
    assert _outcome(encode_body, body) == _outcome(encode, body)


@given(flat_bodies)
@example({"é": "x", "z": "y", "e\u0301": "w", "\U0001f600": [], "\uffff": True})
def test_flat_bodies_encode_as_encode_does(body: dict[str, Any]) -> None:
    """msgspec's sorted order is the canonical (UTF-8 byte) order of keys, also beyond the
    BMP, where UTF-16 order would differ."""
    assert _outcome(encode_flat_body, body) == _outcome(encode, body)


@given(any_ids)
@example("memo:1\u00a0")  # no-break space: stripped by str.strip, printable
@example("a\u0085b")  # NEL inside: not a control below 0x20, not printable
def test_record_id_rule_equals_entries(record_id: str) -> None:
    try:
        Entry.put(record_id, b"\0" * 32, 1)
        accepted = True
    except SamizdatError:
        accepted = False
    assert valid_record_id(record_id) is accepted


@given(any_ids, hashes, timestamps, st.none() | hashes)
def test_put_header_equals_entry(record_id: str, payload_hash: bytes, ts: int,
                                 prev: bytes | None) -> None:
    assert _outcome(put_header, record_id, payload_hash, ts, prev) == _outcome(
        lambda *a: Entry.put(*a).to_bytes(), record_id, payload_hash, ts, prev)


def _reference(data: bytes) -> tuple[str, Any]:
    def fields(raw: bytes) -> tuple[str, str, bytes | None, int]:
        entry = Entry.from_bytes(raw)
        key = entry.payload_hash if entry.kind == "put" else entry.target
        return entry.kind, entry.record_id, key, entry.timestamp

    return _outcome(fields, data)


headers = st.builds(lambda r, h, t, p: Entry.put(r, h, t, p).to_bytes(),
                    record_ids, hashes, timestamps, st.none() | hashes)


@given(headers, st.data())
def test_decode_header_agrees_on_mutations(header: bytes, data: st.DataObject) -> None:
    raw = bytearray(header)
    for _ in range(data.draw(st.integers(0, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    mutated = bytes(raw)
    assert _outcome(decode_header, mutated) == _reference(mutated)


@given(st.dictionaries(st.sampled_from(["v", "kind", "record", "payload", "prev", "ts", "x"]),
                       st.none() | st.booleans() | st.integers(-5, 2**60) | st.text(max_size=8)
                       | st.binary(max_size=40) | st.sampled_from(["put", "retract"]),
                       max_size=7))
@example({"kind": "put", "payload": b"\1" * 32, "record": "r:1", "ts": 5, "v": True})
def test_decode_header_agrees_on_odd_maps(fields: dict[str, Any]) -> None:
    raw = msgpack.packb(fields, use_bin_type=True)
    assert _outcome(decode_header, raw) == _reference(raw)


@pytest.mark.parametrize("tail", [b"\x00", b"\xc0"])
def test_trailing_bytes_refused(tail: bytes) -> None:
    header = Entry.put("memo:1", b"\1" * 32, 5).to_bytes()
    assert _outcome(decode_header, header + tail) == _reference(header + tail)
    assert _outcome(decode_header, header + tail)[0] == "error"


def _decode_outcome(fn: Any, data: bytes) -> tuple[str, Any]:
    kind, value = _outcome(fn, data)
    return (kind, encode(value)) if kind == "ok" else (kind, value)


@given(flat_bodies | st.dictionaries(st.text(max_size=5), values, max_size=5), st.data())
@example({"a": 1.5}, None)
def test_decode_body_agrees(body: dict[str, Any], data: st.DataObject | None) -> None:
    try:
        raw = encode(body)
    except SamizdatError:
        raw = msgpack.packb(body, use_bin_type=True)
    if data is not None and data.draw(st.booleans()):
        mutated = bytearray(raw)
        pos = data.draw(st.integers(0, len(mutated) - 1))
        mutated[pos] = data.draw(st.integers(0, 255))
        raw = bytes(mutated)
    reference = _decode_outcome(lambda d: decode(d, PAYLOAD_LIMITS), raw)
    assert _decode_outcome(decode_body, raw) == reference


@example(b"\x82\xa1b\x01\xa1a\x02")  # unsorted keys
@example(b"\x81\xa1a\xd0\x01")  # non-minimal int
@given(st.binary(max_size=40))
def test_decode_body_agrees_on_noise(raw: bytes) -> None:
    reference = _decode_outcome(lambda d: decode(d, PAYLOAD_LIMITS), raw)
    assert _decode_outcome(decode_body, raw) == reference
