"""Length-prefixed frames over a libp2p stream.

Why frames: a py-libp2p stream ends with ``StreamEOF``, and a sender that was killed or whose
connection dropped looks exactly like one that finished (libp2p-notes.md). So every message on
our protocols is a frame, and a frame that stops short is *truncated*, never "complete".
Whether the stream may end *between* frames is the protocol's business: a transfer announces
what it will send and the receiver counts and hashes it (design.md §4.2).

Wire layout of a frame::

    +----------------------------+---------------------+
    | length: u32, big-endian    | payload: length B   |
    +----------------------------+---------------------+

The prefix is fixed-size (not a varint) so it has exactly one encoding and is read in one call.
Every reader states a ``max_size`` and rejects a larger announced length as soon as the prefix
arrives, before buffering anything; every read and write has a deadline.

The pure part (:func:`encode_frame`, :func:`decode_prefix`, :class:`FrameDecoder`) does no I/O;
:func:`read_frame`/:func:`write_frame` apply it to a stream with ``read(n)``/``write(b)``.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Protocol

import trio
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamEOF, StreamReset
from libp2p.stream_muxer.exceptions import MuxedStreamEOF, MuxedStreamReset

from samizdat_protocol.errors import LocalError, RemoteError

__all__ = [
    "DEFAULT_FRAME_TIMEOUT",
    "DEFAULT_MAX_FRAME_SIZE",
    "MAX_FRAME_SIZE_LIMIT",
    "PREFIX_SIZE",
    "FrameDecoder",
    "FrameEOF",
    "FrameError",
    "FrameStream",
    "FrameStreamError",
    "FrameTimeout",
    "FrameTooLarge",
    "FrameTruncated",
    "decode_prefix",
    "encode_frame",
    "encode_prefix",
    "iter_frames",
    "read_frame",
    "write_frame",
]

PREFIX_SIZE = 4
MAX_FRAME_SIZE_LIMIT = 2**32 - 1  # what the prefix can express
DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
DEFAULT_FRAME_TIMEOUT = 30.0
_PREFIX = struct.Struct(">I")


class FrameError(RemoteError):
    """The peer's byte stream does not carry a valid frame (codes ``frame.*``)."""


class FrameTooLarge(FrameError):
    """A prefix announced more than the reader's ``max_size`` (``frame.too_large``)."""


class FrameTruncated(FrameError):
    """The stream ended inside a prefix or payload (``frame.truncated``)."""


class FrameEOF(FrameError):
    """The stream ended cleanly *between* frames (``frame.eof``); may be normal, may be a kill."""


class FrameTimeout(FrameError):
    """A frame did not arrive (or could not be sent) before its deadline (``frame.timeout``)."""


class FrameStreamError(FrameError):
    """The stream was reset or failed underneath (``frame.reset``, ``frame.stream``)."""


class FrameStream(Protocol):
    """What framing needs from a stream (``libp2p`` ``INetStream`` satisfies it)."""

    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


# ---------------------------------------------------------------------------- pure part


def _check_max(max_size: int) -> None:
    if not 0 <= max_size <= MAX_FRAME_SIZE_LIMIT:
        raise LocalError("frame.bad_limit", f"max_size must be in [0, {MAX_FRAME_SIZE_LIMIT}]")


def encode_prefix(length: int) -> bytes:
    if not 0 <= length <= MAX_FRAME_SIZE_LIMIT:
        raise LocalError("frame.local_too_large", f"a frame cannot hold {length} bytes")
    return _PREFIX.pack(length)


def decode_prefix(prefix: bytes, max_size: int) -> int:
    """The payload length a 4-byte prefix announces; :class:`FrameTooLarge` above ``max_size``."""
    if len(prefix) != PREFIX_SIZE:
        raise LocalError("frame.prefix_size", f"a prefix is {PREFIX_SIZE} bytes")
    (length,) = _PREFIX.unpack(prefix)
    if length > max_size:
        raise FrameTooLarge(
            "frame.too_large",
            f"peer announced a {length}-byte frame; the limit is {max_size}",
            size=length,
            max_size=max_size,
        )
    return int(length)


def encode_frame(data: bytes, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Prefix ``data``; sending more than our own ``max_size`` is our bug (:class:`LocalError`)."""
    _check_max(max_size)
    if len(data) > max_size:
        raise LocalError(
            "frame.local_too_large",
            f"refusing to send a {len(data)}-byte frame; the limit is {max_size}",
        )
    return encode_prefix(len(data)) + data


class FrameDecoder:
    """Incremental decoder: ``feed`` any chunking of the byte stream, get whole frames back.

    After an error the decoder is failed and refuses more input (the stream must be reset):
    a stream with one bad frame has no trustworthy boundary after it.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        _check_max(max_size)
        self._max = max_size
        self._buf = bytearray()
        self._need: int | None = None  # payload length once the prefix is in
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self._failed:
            raise LocalError("frame.decoder_failed", "this decoder already rejected its input")
        self._buf += data
        frames: list[bytes] = []
        try:
            while True:
                if self._need is None:
                    if len(self._buf) < PREFIX_SIZE:
                        break
                    self._need = decode_prefix(bytes(self._buf[:PREFIX_SIZE]), self._max)
                    del self._buf[:PREFIX_SIZE]
                if len(self._buf) < self._need:
                    break
                frames.append(bytes(self._buf[: self._need]))
                del self._buf[: self._need]
                self._need = None
        except FrameError:
            self._failed = True
            raise
        return frames

    def eof(self) -> None:
        """The stream ended: fine between frames, :class:`FrameTruncated` inside one."""
        if self._need is not None or self._buf:
            self._failed = True
            expected = PREFIX_SIZE if self._need is None else self._need
            raise FrameTruncated(
                "frame.truncated",
                "stream ended inside a frame",
                got=len(self._buf),
                expected=expected,
            )


# ---------------------------------------------------------------------------- stream part


def _stream_failure(exc: Exception) -> FrameStreamError | None:
    """Map a stream's own failure to :class:`FrameStreamError`; ``None`` for anything else."""
    if isinstance(exc, StreamReset | MuxedStreamReset):
        return FrameStreamError("frame.reset", "the peer reset the stream")
    if isinstance(exc, BaseLibp2pError | OSError | trio.BrokenResourceError):
        return FrameStreamError("frame.stream", f"stream failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, trio.ClosedResourceError):
        return FrameStreamError("frame.stream", "stream already closed")
    return None


async def _read_exactly(stream: FrameStream, n: int, *, started: bool) -> bytes:
    """Read ``n`` bytes; EOF before the first byte of a frame is :class:`FrameEOF`."""
    out = bytearray()
    while len(out) < n:
        try:
            chunk = await stream.read(n - len(out))
        except (StreamEOF, MuxedStreamEOF):
            chunk = b""
        except Exception as exc:
            failure = _stream_failure(exc)
            if failure is None:
                raise
            raise failure from exc
        if not chunk:
            if not started and not out:
                raise FrameEOF("frame.eof", "the stream ended between frames")
            raise FrameTruncated(
                "frame.truncated", "stream ended inside a frame", got=len(out), expected=n
            )
        out += chunk
        started = True
    return bytes(out)


async def read_frame(
    stream: FrameStream,
    max_size: int = DEFAULT_MAX_FRAME_SIZE,
    timeout: float = DEFAULT_FRAME_TIMEOUT,  # noqa: ASYNC109 (mapped to FrameTimeout)
) -> bytes:
    """Read one frame within ``timeout`` seconds.

    Raises :class:`FrameEOF` (clean end between frames), :class:`FrameTruncated`,
    :class:`FrameTooLarge`, :class:`FrameTimeout` or :class:`FrameStreamError`. After any error
    except ``FrameEOF`` the stream has no usable frame boundary: reset it.
    """
    _check_max(max_size)
    try:
        with trio.fail_after(timeout):
            prefix = await _read_exactly(stream, PREFIX_SIZE, started=False)
            length = decode_prefix(prefix, max_size)
            return await _read_exactly(stream, length, started=True) if length else b""
    except trio.TooSlowError as exc:
        raise FrameTimeout(
            "frame.timeout", f"no complete frame within {timeout} s", timeout=timeout
        ) from exc


async def write_frame(
    stream: FrameStream,
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_FRAME_SIZE,
    timeout: float = DEFAULT_FRAME_TIMEOUT,  # noqa: ASYNC109 (mapped to FrameTimeout)
) -> None:
    """Write one frame (prefix and payload in one ``write``) within ``timeout`` seconds."""
    frame = encode_frame(data, max_size)
    try:
        with trio.fail_after(timeout):
            await stream.write(frame)
    except trio.TooSlowError as exc:
        raise FrameTimeout(
            "frame.timeout", f"could not send a frame within {timeout} s", timeout=timeout
        ) from exc
    except Exception as exc:
        failure = _stream_failure(exc)
        if failure is None:
            raise
        raise failure from exc


async def iter_frames(
    stream: FrameStream,
    max_size: int = DEFAULT_MAX_FRAME_SIZE,
    timeout: float = DEFAULT_FRAME_TIMEOUT,  # noqa: ASYNC109 (mapped to FrameTimeout)
) -> AsyncIterator[bytes]:
    """Frames until a clean EOF between frames (``timeout`` applies to each frame)."""
    while True:
        try:
            frame = await read_frame(stream, max_size, timeout)
        except FrameEOF:
            return
        yield frame
