"""Entry headers: canonical, validated, tamper-evident (design §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.entries import Entry, decode_payload, encode_payload
from samizdat_protocol.errors import DecodeError, RemoteError, SchemaError
from samizdat_protocol.hashing import hash_payload
from tests.support.strategies import hashes, record_ids, timestamps

reasons = st.text(min_size=1, max_size=50).filter(lambda s: s.strip() != "")
entries = st.one_of(
    st.builds(Entry.put, record_ids, hashes, timestamps, st.none() | hashes),
    st.builds(Entry.retract, record_ids, reasons, timestamps, st.none() | hashes),
    st.builds(Entry.erase, record_ids, hashes, reasons, timestamps),
)


@given(entries)
def test_round_trip(entry: Entry) -> None:
    data = entry.to_bytes()
    assert Entry.from_bytes(data) == entry
    assert Entry.from_bytes(data).leaf_hash == entry.leaf_hash


@given(entries, st.data())
def test_any_byte_change_detected(entry: Entry, data: st.DataObject) -> None:
    raw = bytearray(entry.to_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        other = Entry.from_bytes(bytes(raw))
    except RemoteError:
        return
    assert other.leaf_hash != entry.leaf_hash
    assert other != entry


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m: m.update(kind="delete"), "entry.kind"),
        (lambda m: m.update(v=2), "entry.version"),
        (lambda m: m.pop("payload"), "entry.missing"),
        (lambda m: m.update(extra=1), "entry.unknown_field"),
        (lambda m: m.update(payload=b"short"), "entry.hash"),
        (lambda m: m.update(record=""), "entry.record_id"),
        (lambda m: m.update(record="a\nb"), "entry.record_id"),
        (lambda m: m.update(ts=-1), "entry.timestamp"),
        (lambda m: m.update(ts=True), "entry.timestamp"),
    ],
)
def test_bad_headers_named(mutate: object, code: str) -> None:
    body = decode(Entry.put("memo2007:1", b"\x01" * 32, 5).to_bytes())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(SchemaError) as err:
        Entry.from_bytes(encode(body))
    assert err.value.code == code


def test_header_not_a_map() -> None:
    with pytest.raises(DecodeError):
        Entry.from_bytes(encode([1, 2]))


def test_payload_hash_checked() -> None:
    payload, digest = encode_payload({"surname": "Иванов"})
    assert digest == hash_payload(payload)
    assert decode_payload(payload, digest) == {"surname": "Иванов"}
    with pytest.raises(DecodeError) as err:
        decode_payload(payload + b"", b"\x00" * 32)
    assert err.value.code == "payload.hash_mismatch"


def test_oversize_payload_refused() -> None:
    with pytest.raises(SchemaError):
        encode_payload({"x": "я" * 40_000})


@given(st.dictionaries(st.sampled_from(["surname", "name", "birth"]), st.text(max_size=30),
                       min_size=1), st.data())
def test_any_byte_change_to_a_payload_detected(body: dict[str, str], data: st.DataObject) -> None:
    payload, digest = encode_payload(body)
    raw = bytearray(payload)
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    with pytest.raises(RemoteError):
        decode_payload(bytes(raw), digest)
