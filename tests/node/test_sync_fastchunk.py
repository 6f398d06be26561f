"""sync/fastchunk.py accepts only what the protocol's decoder accepts, and decodes it equally."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from samizdat_node.sync.fastchunk import decode_stream_message, fast_chunk
from samizdat_protocol.errors import SamizdatError
from samizdat_protocol.heads import sign_head
from samizdat_protocol.signing import SigningKey
from samizdat_protocol.wire import Chunk, Done, decode_message, encode_message

KEY = SigningKey.from_seed(b"\x07" * 32)
DATASET = b"\x11" * 32


def _chunk(n: int, start: int, nil_every: int, proof_len: int, rid: int) -> Chunk:
    headers = tuple(bytes([i % 256]) * (1 + i % 40) for i in range(n))
    payloads = tuple(None if nil_every and i % nil_every == 0 else b"p" * (i % 300)
                     for i in range(n))
    head = sign_head(KEY, DATASET, start + n + proof_len, b"\x22" * 32, 1_700_000_000_000)
    return Chunk(rid, start, headers, payloads, head, tuple(b"\x33" * 32
                                                            for _ in range(proof_len)))


def _general(data: bytes) -> object:
    try:
        return decode_message(data)
    except SamizdatError as exc:
        return ("error", exc.code)


chunks = st.builds(_chunk, st.integers(1, 40), st.integers(0, 2**40), st.integers(0, 5),
                   st.integers(0, 4), st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(chunks)
def test_a_chunk_decodes_the_same_both_ways(chunk: Chunk) -> None:
    data = encode_message(chunk)
    assert fast_chunk(data) == chunk == decode_message(data)


@settings(max_examples=400, deadline=None)
@given(chunks, st.integers(0, 10**6), st.integers(0, 255), st.booleans())
@example(_chunk(3, 0, 0, 0, 1), 0, 0x80, False)  # the outer map's header
def test_damaged_bytes_are_accepted_only_when_the_protocol_accepts_them(
        chunk: Chunk, where: int, byte: int, truncate: bool) -> None:
    data = bytearray(encode_message(chunk))
    pos = where % len(data)
    if truncate:
        del data[pos:]
    else:
        data[pos] = byte
    assert _outcome(bytes(data)) == _general(bytes(data))


def _outcome(data: bytes) -> object:
    """What a node makes of ``data`` (the fast path raises the general path's errors)."""
    try:
        return decode_stream_message(data)
    except SamizdatError as exc:
        return ("error", exc.code)


def test_non_canonical_forms_go_to_the_protocol_decoder() -> None:
    chunk = _chunk(3, 5, 2, 1, 9)
    body = chunk.to_map()
    body["head"] = chunk.head.to_map()
    unsorted = msgpack.packb(dict(reversed(list(body.items()))), use_bin_type=True)
    assert fast_chunk(unsorted) is None
    with pytest.raises(SamizdatError):
        decode_stream_message(unsorted)
    wide_int = bytearray(encode_message(chunk))
    # "id": 9 as a uint32 instead of a positive fixint: valid msgpack, not canonical
    at = wide_int.index(b"\xa2id\x09")
    wide = bytes(wide_int[:at + 3]) + b"\xce\x00\x00\x00\x09" + bytes(wide_int[at + 4:])
    assert fast_chunk(wide) is None
    with pytest.raises(SamizdatError):
        decode_stream_message(wide)


def test_other_messages_pass_through() -> None:
    data = encode_message(Done(4))
    assert fast_chunk(data) is None
    assert decode_stream_message(data) == Done(4)
