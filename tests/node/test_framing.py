"""Length-prefixed framing: the pure codec (laws) and the stream part over trio memory streams.

Real libp2p streams (reset, EOF from a closed or killed sender) are exercised in
tests/integration/test_p2p_host.py.
"""

from __future__ import annotations

import itertools
import struct

import pytest
import trio
import trio.testing
from hypothesis import example, given
from hypothesis import strategies as st
from libp2p.network.stream.exceptions import StreamEOF

from samizdat_node.p2p.framing import (
    MAX_FRAME_SIZE_LIMIT,
    PREFIX_SIZE,
    FrameDecoder,
    FrameEOF,
    FrameError,
    FrameTimeout,
    FrameTooLarge,
    FrameTruncated,
    decode_prefix,
    encode_frame,
    encode_prefix,
    iter_frames,
    read_frame,
    write_frame,
)
from samizdat_protocol.errors import LocalError, RemoteError

frames_st = st.lists(st.binary(max_size=300), max_size=12)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# ------------------------------------------------------------------------------- pure codec


@given(st.integers(min_value=0, max_value=MAX_FRAME_SIZE_LIMIT))
@example(0)
@example(MAX_FRAME_SIZE_LIMIT)
def test_prefix_round_trip(length: int) -> None:
    prefix = encode_prefix(length)
    assert len(prefix) == PREFIX_SIZE
    assert prefix == struct.pack(">I", length)  # the documented wire layout
    assert decode_prefix(prefix, MAX_FRAME_SIZE_LIMIT) == length


def test_prefix_rejects_unrepresentable_lengths() -> None:
    for bad in (-1, MAX_FRAME_SIZE_LIMIT + 1):
        with pytest.raises(LocalError) as info:
            encode_prefix(bad)
        assert info.value.code == "frame.local_too_large"


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=1000))
def test_decode_prefix_enforces_the_limit(length: int, max_size: int) -> None:
    if length <= max_size:
        assert decode_prefix(encode_prefix(length), max_size) == length
    else:
        with pytest.raises(FrameTooLarge) as info:
            decode_prefix(encode_prefix(length), max_size)
        assert info.value.code == "frame.too_large"
        assert isinstance(info.value, RemoteError)


def test_encode_frame_refuses_our_own_oversized_frame() -> None:
    assert encode_frame(b"abc", 3) == b"\x00\x00\x00\x03abc"
    with pytest.raises(LocalError) as info:
        encode_frame(b"abcd", 3)
    assert info.value.code == "frame.local_too_large"


@given(frames_st, st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
@example([b"", b"x"], [1, 2, 3, 4, 5])  # an empty frame followed by one byte, cut everywhere
def test_decoder_reassembles_any_chunking(frames: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(f, 300) for f in frames)
    decoder = FrameDecoder(300)
    out: list[bytes] = []
    for chunk in _chunks(wire, cuts):
        out += decoder.feed(chunk)
    assert out == frames
    assert decoder.buffered == 0
    decoder.eof()  # a clean end between frames


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=5), st.data())
def test_decoder_detects_truncation_anywhere_inside_a_frame(
    frames: list[bytes], data: st.DataObject
) -> None:
    encoded = [encode_frame(f, 50) for f in frames]
    wire = b"".join(encoded)
    boundaries = {sum(len(e) for e in encoded[:i]) for i in range(len(encoded) + 1)}
    cut = data.draw(
        st.integers(min_value=1, max_value=len(wire) - 1).filter(lambda c: c not in boundaries)
    )
    decoder = FrameDecoder(50)
    decoder.feed(wire[:cut])
    with pytest.raises(FrameTruncated) as info:
        decoder.eof()
    assert info.value.code == "frame.truncated"


def test_decoder_rejects_oversize_as_soon_as_the_prefix_arrives() -> None:
    decoder = FrameDecoder(100)
    assert decoder.feed(b"\x00\x00") == []
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"\x01\x00")  # 256 > 100, and not one payload byte was needed
    with pytest.raises(LocalError) as info:
        decoder.feed(b"")  # a failed decoder stays failed
    assert info.value.code == "frame.decoder_failed"


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=64))
@example(b"\xff\xff\xff\xff", 64)
def test_decoder_on_garbage_never_yields_more_than_the_limit(garbage: bytes, limit: int) -> None:
    decoder = FrameDecoder(limit)
    try:
        frames = decoder.feed(garbage)
    except FrameTooLarge:
        return
    assert all(len(f) <= limit for f in frames)
    consumed = sum(PREFIX_SIZE + len(f) for f in frames)
    # What was decoded re-encodes to exactly the bytes it came from; the rest is held back.
    assert b"".join(encode_frame(f, limit) for f in frames) == garbage[:consumed]
    assert decoder.buffered <= len(garbage) - consumed


# ------------------------------------------------------------------------------ stream part


class MemoryFrameStream:
    """A trio memory stream with the libp2p stream surface (``read`` raises StreamEOF)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def read(self, n: int | None = None) -> bytes:
        data = await self.stream.receive_some(n)
        if not data:
            raise StreamEOF()
        return data

    async def write(self, data: bytes) -> None:
        await self.stream.send_all(data)


def _pair() -> tuple[MemoryFrameStream, MemoryFrameStream]:
    left, right = trio.testing.memory_stream_pair()
    return MemoryFrameStream(left), MemoryFrameStream(right)


async def test_frames_round_trip_then_clean_eof() -> None:
    with trio.fail_after(5):
        sender, receiver = _pair()
        frames = [b"", b"one", bytes(range(256)) * 40]
        for frame in frames:
            await write_frame(sender, frame, max_size=20_000, timeout=1)
        await sender.stream.aclose()
        assert [f async for f in iter_frames(receiver, 20_000, 1)] == frames
        with pytest.raises(FrameEOF) as info:
            await read_frame(receiver, 20_000, 1)
        assert info.value.code == "frame.eof"


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\x00\x00", "frame.truncated"),  # killed inside the prefix
        (b"\x00\x00\x00\x0aabc", "frame.truncated"),  # killed inside the payload
        (b"\x00\x10\x00\x00", "frame.too_large"),  # 1 MiB announced, 1 KiB allowed
    ],
)
async def test_bad_wire_is_rejected_with_a_stable_code(wire: bytes, code: str) -> None:
    with trio.fail_after(5):
        sender, receiver = _pair()
        await sender.write(wire)
        await sender.stream.aclose()
        with pytest.raises(FrameError) as info:
            await read_frame(receiver, 1024, 1)
        assert info.value.code == code


async def test_read_times_out_on_a_silent_peer(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        _sender, receiver = _pair()
        with pytest.raises(FrameTimeout) as info:
            await read_frame(receiver, 1024, 5)
        assert info.value.code == "frame.timeout"
        assert trio.current_time() >= 5


async def test_read_times_out_on_a_stalled_payload(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        sender, receiver = _pair()
        await sender.write(b"\x00\x00\x00\x05ab")  # then nothing: a hung, not a dead, peer
        with pytest.raises(FrameTimeout):
            await read_frame(receiver, 1024, 5)


async def test_write_times_out_when_the_peer_does_not_read(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        left, _right = trio.testing.lockstep_stream_pair()  # send blocks until received
        with pytest.raises(FrameTimeout) as info:
            await write_frame(MemoryFrameStream(left), b"data", timeout=3)
        assert info.value.code == "frame.timeout"
