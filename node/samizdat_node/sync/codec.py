"""Catch-up messages on a stream: one frame per message, chunk frames zstd-compressed.

Part of protocol version 1 (``/samizdat/sync/1``, spec §11): every frame's payload starts with
one *codec byte* saying how the rest is to be read::

    frame   = u32-be length ‖ payload                   (p2p.framing; length <= MAX_FRAME)
    payload = 0x00 ‖ message                            (canonical msgpack, wire.py)
            | 0x01 ‖ zstd frame                         (of the canonical msgpack message)

A zstd frame must announce its decompressed size in its header (``frame_content_size``), at
most ``wire.STREAM_LIMITS.max_bytes``, and be exactly one frame with nothing after it; so a
peer cannot make us allocate more than a plain frame could (no "zip bomb"), nor smuggle bytes.
Receivers accept either codec for any message; senders compress chunks only (they are 99% of
the bytes: person records compress about 4x, design §8 asks for <= 150 MB on the wire per 1M
records). The decompressed bytes then go through the strict canonical decoder as usual.

Encoding and decoding a chunk (a few MB) takes milliseconds of CPU, so :func:`write_message`
and :func:`read_message` do it in a worker thread for large messages: a Yamux stream whose
receiver stalls for 5 s is reset (libp2p-notes.md), and the trio thread serves every peer.
"""

from __future__ import annotations

from typing import Any

import trio
import zstandard

from samizdat_protocol.errors import DecodeError
from samizdat_protocol.wire import (
    STREAM_LIMITS,
    Chunk,
    Done,
    ErrorReply,
    GetRange,
    GovGet,
    GovReply,
    Hello,
    encode_message,
)

from ..p2p.framing import read_frame, write_frame
from .fastchunk import decode_stream_message

__all__ = [
    "CODEC_PLAIN",
    "CODEC_ZSTD",
    "MAX_FRAME",
    "SyncMessage",
    "decode_payload",
    "encode_payload",
    "read_message",
    "send_payload",
    "write_message",
]

CODEC_PLAIN = 0x00
CODEC_ZSTD = 0x01
MAX_MESSAGE = STREAM_LIMITS.max_bytes
MAX_FRAME = MAX_MESSAGE + 1  # codec byte + the largest message the decoder accepts
ZSTD_LEVEL = 3
_THREAD_THRESHOLD = 64 * 1024  # smaller messages are coded on the trio thread (microseconds)

SyncMessage = Hello | GetRange | Chunk | Done | ErrorReply | GovGet | GovReply


def encode_payload(message: SyncMessage, *, compress: bool = False,
                   level: int = ZSTD_LEVEL) -> bytes:
    """The frame payload for ``message`` (compressed when asked and it pays)."""
    body = encode_message(message)
    if compress:
        packed = zstandard.ZstdCompressor(level=level, write_content_size=True).compress(body)
        if len(packed) < len(body):
            return bytes([CODEC_ZSTD]) + packed
    return bytes([CODEC_PLAIN]) + body


def _inflate(data: bytes) -> bytes:
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise DecodeError("sync.codec", f"not a zstd frame: {exc}") from exc
    if size < 0:
        raise DecodeError("sync.codec", "a zstd frame must state its decompressed size")
    if size > MAX_MESSAGE:
        raise DecodeError("sync.codec", f"a zstd frame announces {size} bytes; the limit is "
                          f"{MAX_MESSAGE}", size=size)
    inflater = zstandard.ZstdDecompressor().decompressobj()
    try:
        out = inflater.decompress(data)
    except zstandard.ZstdError as exc:
        raise DecodeError("sync.codec", f"corrupt zstd frame: {exc}") from exc
    if not inflater.eof or inflater.unused_data or len(out) != size:
        raise DecodeError("sync.codec", "a zstd frame is truncated, has trailing bytes or "
                          "the wrong size")
    return out


def decode_payload(payload: bytes) -> SyncMessage:
    """Decode one frame payload (raises DecodeError/SchemaError for anything malformed)."""
    if not payload:
        raise DecodeError("sync.codec", "empty frame")
    codec, body = payload[0], payload[1:]
    if codec == CODEC_ZSTD:
        body = _inflate(body)
    elif codec != CODEC_PLAIN:
        raise DecodeError("sync.codec", f"unknown codec byte {codec:#04x}")
    return decode_stream_message(body)  # fastchunk.py: chunks without a Python walk


async def write_message(stream: Any, message: SyncMessage, *, compress: bool = False,
                        timeout: float) -> int:  # noqa: ASYNC109 (maps to FrameTimeout)
    """Send one message as one frame; returns the frame's size on the wire (payload + 4)."""
    if isinstance(message, Chunk | GovReply):  # up to megabytes: off the trio thread
        payload = await trio.to_thread.run_sync(
            lambda: encode_payload(message, compress=compress))
    else:
        payload = encode_payload(message, compress=compress)
    await write_frame(stream, payload, max_size=MAX_FRAME, timeout=timeout)
    return len(payload) + 4


async def send_payload(stream: Any, payload: bytes, *,
                       timeout: float) -> int:  # noqa: ASYNC109 (maps to FrameTimeout)
    """Send an already encoded frame payload (the server encodes chunks in its read thread)."""
    await write_frame(stream, payload, max_size=MAX_FRAME, timeout=timeout)
    return len(payload) + 4


async def read_message(stream: Any, *,
                       timeout: float) -> tuple[SyncMessage, int]:  # noqa: ASYNC109
    """Read and decode one message within ``timeout``; returns it and its size on the wire."""
    payload = await read_frame(stream, MAX_FRAME, timeout)
    if len(payload) > _THREAD_THRESHOLD:
        message = await trio.to_thread.run_sync(decode_payload, payload)
    else:
        message = decode_payload(payload)
    return message, len(payload) + 4
