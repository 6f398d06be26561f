"""Laws of the canonical encoding (design §2)."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_protocol.encoding import DecodeLimits, decode, encode
from samizdat_protocol.errors import DecodeError, LocalError
from tests.support.strategies import values


def _normalise(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == _normalise(value)
    assert encode(decode(data)) == data


@given(st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63), min_size=2, max_size=8))
def test_encoding_ignores_insertion_order(mapping: dict[str, int]) -> None:
    reversed_map = dict(reversed(list(mapping.items())))
    assert encode(mapping) == encode(reversed_map)


SMALL_INTS = st.integers(-(2**63), 2**63)


@given(st.dictionaries(st.text(min_size=1, max_size=8), SMALL_INTS, min_size=2, max_size=8))
def test_unsorted_map_rejected(mapping: dict[str, int]) -> None:
    items = sorted(mapping.items(), key=lambda kv: kv[0].encode(), reverse=True)
    raw = msgpack.packb(dict(items), use_bin_type=True)
    with pytest.raises(DecodeError) as err:
        decode(raw)
    assert err.value.code == "decode.non_canonical"


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_non_minimal_int_rejected(n: int) -> None:
    raw = b"\xcf" + n.to_bytes(8, "big")  # uint64 form for a value that fits smaller
    with pytest.raises(DecodeError):
        decode(raw)


@given(values, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_rejected(value: object, extra: bytes) -> None:
    with pytest.raises(DecodeError) as err:
        decode(encode(value) + extra)
    assert err.value.code in {"decode.trailing_bytes", "decode.malformed"}


@given(values)
def test_truncation_rejected(value: object) -> None:
    data = encode(value)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut])


@given(st.binary(max_size=64))
@example(b"\xcb" + b"\x00" * 8)
@example(b"\xc1")
def test_arbitrary_bytes_decode_or_typed_error(data: bytes) -> None:
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xcb" + b"\x00" * 8, "decode.float"),
        (b"\xca" + b"\x00" * 4, "decode.float"),
        (b"\xd4\x01\x00", "decode.ext_type"),
        (b"\x81\x01\x02", "decode.malformed"),  # int map key
        (b"\xa2\xff\xfe", "decode.bad_utf8"),
        (b"\x82\xa1a\x01\xa1a\x02", "decode.non_canonical"),  # duplicate key
        (b"\xd9\x01a", "decode.non_canonical"),  # str8 for a 1-byte string
        (b"\xc5\x00\x00", "decode.non_canonical"),  # bin16 for an empty byte string
    ],
)
def test_specific_rejections(raw: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(raw)
    assert err.value.code == code


def test_depth_bomb_rejected() -> None:
    with pytest.raises(DecodeError) as err:
        decode(b"\x91" * 100_000 + b"\xc0")
    assert err.value.code == "decode.too_deep"
    with pytest.raises(DecodeError):
        decode(b"\x91" * 20 + b"\xc0", DecodeLimits(max_depth=16))


def test_oversize_rejected() -> None:
    limits = DecodeLimits(max_str=10, max_bin=10, max_items=3, max_bytes=100)
    for value in ["x" * 11, b"x" * 11, [1, 2, 3, 4]]:
        with pytest.raises(DecodeError) as err:
            decode(encode(value), limits)
        assert err.value.code == "decode.oversize"
    with pytest.raises(DecodeError):
        decode(encode(b"x" * 200), limits)


@pytest.mark.parametrize("value", [1.5, {1: 2}, object(), 2**64, -(2**63) - 1, {"a": {1.0}}])
def test_values_outside_model_refused_on_encode(value: object) -> None:
    with pytest.raises(LocalError):
        encode(value)


def test_str_and_bin_distinct() -> None:
    assert encode("ab") != encode(b"ab")
    assert decode(encode(b"ab")) == b"ab"
    assert decode(encode("ab")) == "ab"
