"""The offline bundle file format (design §4.4; issue 5): byte layout, writer and strict reader.

A bundle is one file, written and read front to back (streamable, no seeking)::

    bundle   = magic version:u16 reserved:u16 frame(manifest) frame(chunk)* frame(end) checksum
    version  = 1;  reserved = 0 (a reader refuses anything else)
    magic    = 89 53 5A 42 4E 44 4C 0A          ("\\x89SZBNDL\\n", as PNG: catches 7-bit and
                                                  line-ending damage at the first bytes)
    frame    = length:u32 codec:u8 body[length]  (big-endian; body is the stored bytes)
    codec    = 0 none | 1 zlib (RFC 1950) | 2 zstd (RFC 8878, content size in the frame header)
    checksum = BLAKE2b-256, personalisation "samizdat-bundle", of every byte before it

Each decompressed frame body is one canonical map (spec §1) with a type tag ``t``:

* manifest (first)::

      {"t": "manifest", "v": 1, "dataset": bin32, "created": int (ms), "charter": bin,
       "logs": [{"publisher": bin32, "start": int, "head": head}, ...],
       "governance": [bin, ...], "proofs": [bin, ...]}

  ``charter`` is the signed charter file (spec §4); for each publisher the bundle holds entries
  ``[start, head.length)`` and ``head`` is the latest signed head (spec §7). ``governance``
  holds signed governance entries (spec §13) and ``proofs`` equivocation proofs (spec §8),
  each at most 1,024: an importer applies them before it checks the heads, so a rotation's new
  key is authorised by the bundle that carries its log.
* chunk: exactly a catch-up ``chunk`` message (spec §11, ``wire.Chunk``) whose ``id`` is the
  chunk's sequence number in the bundle (0, 1, ...): consecutive headers ``[s, k)`` of one
  publisher with their payloads (nil where none or erased), a signed head of length
  ``n >= k`` and a consistency proof from ``k`` to ``n``. Chunks of one publisher appear in log
  order, contiguous from the manifest's ``start``; each is verified on its own with
  ``log.verify_prefix`` against the frontier after the chunks before it. The exporter picks
  ``n`` as the first signed head it knows at or after ``k`` (chunks are also cut there), so an
  importer that stops between chunks holds as many fully signed lengths as possible.
* end (last): ``{"t": "end", "chunks": int, "entries": int}``, the totals.

Limits: a stored frame is at most :data:`MAX_FRAME` bytes and decompresses to at most
:data:`MAX_BODY` bytes (a chunk obeys the wire limits: 4,096 entries, 8 MiB); anything else,
an unknown codec, a frame out of order, trailing bytes after the checksum, or a checksum
mismatch is a :class:`BundleError` naming the byte offset.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from samizdat_protocol.encoding import DecodeLimits, decode, encode
from samizdat_protocol.errors import DecodeError, LocalError, RemoteError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.hashing import DIGEST_SIZE
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.wire import (
    MAX_HELLO_HEADS,
    STREAM_LIMITS,
    Chunk,
    encode_message,
)

from ..sync.fastchunk import decode_stream_message

__all__ = [
    "BUNDLE_VERSION",
    "CODECS",
    "MAGIC",
    "MAX_BODY",
    "MAX_FRAME",
    "MAX_MANIFEST",
    "MAX_MANIFEST_ITEMS",
    "BundleError",
    "BundleReader",
    "BundleWriter",
    "LogRange",
    "Manifest",
    "bundle_hasher",
    "check_checksum",
]

MAGIC = b"\x89SZBNDL\n"
BUNDLE_VERSION = 1
CODECS = {"none": 0, "zlib": 1, "zstd": 2}
MAX_BODY = STREAM_LIMITS.max_bytes
MAX_FRAME = MAX_BODY + 1024 * 1024  # incompressible data grows a little
CHECKSUM_SIZE = 32
_PREAMBLE = struct.Struct(">8sHH")
_FRAME = struct.Struct(">IB")
MAX_MANIFEST = 4 * 1024 * 1024
MAX_MANIFEST_ITEMS = MAX_HELLO_HEADS  # logs; governance entries; proofs
_MANIFEST_LIMITS = DecodeLimits(max_bytes=MAX_MANIFEST, max_str=64, max_bin=256 * 1024,
                                max_items=MAX_MANIFEST_ITEMS, max_depth=4)
_END_LIMITS = DecodeLimits(max_bytes=256, max_str=16, max_bin=0, max_items=8, max_depth=1)


class BundleError(DecodeError):
    """A bundle file is malformed, damaged or truncated (codes ``bundle.*``)."""


def bundle_hasher() -> Any:
    return hashlib.blake2b(digest_size=CHECKSUM_SIZE, person=b"samizdat-bundle")


@dataclass(frozen=True, slots=True)
class LogRange:
    publisher: bytes
    start: int
    head: SignedHead

    @property
    def end(self) -> int:
        return self.head.length


@dataclass(frozen=True, slots=True)
class Manifest:
    dataset_id: bytes
    created: int
    charter: bytes
    logs: tuple[LogRange, ...]
    governance: tuple[GovernanceEntry, ...] = ()
    proofs: tuple[EquivocationProof, ...] = ()

    @property
    def entries(self) -> int:
        return sum(log.end - log.start for log in self.logs)

    def to_map(self) -> dict[str, Any]:
        return {"t": "manifest", "v": BUNDLE_VERSION, "dataset": self.dataset_id,
                "created": self.created, "charter": self.charter,
                "logs": [{"publisher": r.publisher, "start": r.start, "head": r.head.to_map()}
                         for r in self.logs],
                "governance": [e.to_bytes() for e in self.governance],
                "proofs": [p.to_bytes() for p in self.proofs]}

    @classmethod
    def from_map(cls, body: Any) -> Manifest:
        keys = {"t", "v", "dataset", "created", "charter", "logs", "governance", "proofs"}
        if not isinstance(body, dict) or body.get("t") != "manifest":
            raise BundleError("bundle.manifest", "the first frame is not a bundle manifest")
        if body.get("v") != BUNDLE_VERSION:
            raise BundleError("bundle.version", f"unsupported manifest version "
                              f"{body.get('v')!r}")
        if set(body) != keys:
            raise BundleError("bundle.manifest", f"manifest fields {sorted(body)} are not "
                              f"{sorted(keys)}")
        dataset, created, charter, logs = (body["dataset"], body["created"], body["charter"],
                                           body["logs"])
        if (not isinstance(dataset, bytes) or len(dataset) != DIGEST_SIZE
                or isinstance(created, bool) or not isinstance(created, int) or created < 0
                or not isinstance(charter, bytes) or not isinstance(logs, list)):
            raise BundleError("bundle.manifest", "manifest fields have the wrong types")
        ranges = []
        for item in logs:
            if (not isinstance(item, dict) or set(item) != {"publisher", "start", "head"}
                    or isinstance(item["start"], bool) or not isinstance(item["start"], int)):
                raise BundleError("bundle.manifest", "a manifest log entry is malformed")
            head = SignedHead.from_map(item["head"])
            if item["publisher"] != head.publisher or head.dataset_id != dataset \
                    or not 0 <= item["start"] <= head.length:
                raise BundleError("bundle.manifest", "a manifest log range does not match "
                                  "its head")
            ranges.append(LogRange(head.publisher, item["start"], head))
        if len({r.publisher for r in ranges}) != len(ranges):
            raise BundleError("bundle.manifest", "a publisher is listed twice")
        return cls(dataset, created, charter, tuple(ranges),
                   _signed_items(body["governance"], "governance", GovernanceEntry.from_bytes),
                   _signed_items(body["proofs"], "proofs", EquivocationProof.from_bytes))


def _signed_items(value: Any, name: str, parse: Any) -> tuple[Any, ...]:
    """Strictly decode the manifest's governance entries or proofs (their own limits)."""
    if not isinstance(value, list) or not all(isinstance(item, bytes) for item in value) \
            or len(value) > MAX_MANIFEST_ITEMS:
        raise BundleError("bundle.manifest", f"manifest {name} must be a list of at most "
                          f"{MAX_MANIFEST_ITEMS} byte strings")
    out = []
    for n, item in enumerate(value):
        try:
            out.append(parse(item))
        except (RemoteError, LocalError) as exc:
            raise BundleError("bundle.manifest", f"manifest {name}[{n}] is malformed: "
                              f"{exc.code}: {exc.message}") from exc
    return tuple(out)


def _compress(data: bytes, codec: int, level: int) -> bytes:
    if codec == 0:
        return data
    if codec == 1:
        return zlib.compress(data, level)
    import zstandard

    out: bytes = zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)
    return out


def _decompress(data: bytes, codec: int, offset: int) -> bytes:
    where = f"frame at byte {offset}"
    try:
        if codec == 0:
            out = data
        elif codec == 1:
            inflater = zlib.decompressobj()
            out = inflater.decompress(data, MAX_BODY + 1)
            if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
                raise BundleError("bundle.decompress", f"{where}: zlib data is truncated, "
                                  "too large or followed by stray bytes", offset=offset)
        elif codec == 2:
            out = _unzstd(data, where, offset)
        else:
            raise BundleError("bundle.codec", f"{where}: unknown codec {codec}", offset=offset)
    except zlib.error as exc:
        raise BundleError("bundle.decompress", f"{where}: {exc}", offset=offset) from exc
    if len(out) > MAX_BODY:
        raise BundleError("bundle.frame_size", f"{where} decompresses beyond {MAX_BODY} bytes",
                          offset=offset)
    return out


def _unzstd(data: bytes, where: str, offset: int) -> bytes:
    try:
        import zstandard
    except ImportError as exc:
        raise BundleError("bundle.codec_unavailable", f"{where} is zstd-compressed; install "
                          "the zstandard package", offset=offset) from exc
    try:
        # The declared size bounds the allocation (a bomb is refused before it is inflated).
        size = zstandard.frame_content_size(data)
        if size < 0 or size > MAX_BODY:
            raise BundleError("bundle.frame_size", f"{where}: zstd frame declares no size or "
                              f"more than {MAX_BODY} bytes", offset=offset)
        out: bytes = zstandard.ZstdDecompressor().decompress(data, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise BundleError("bundle.decompress", f"{where}: {exc}", offset=offset) from exc
    if len(out) != size:
        raise BundleError("bundle.decompress", f"{where}: zstd frame size mismatch",
                          offset=offset)
    return out


class BundleWriter:
    """Write a bundle to a binary stream: manifest, chunks, then :meth:`finish`."""

    def __init__(self, fh: BinaryIO, codec: str = "zstd", level: int | None = None) -> None:
        if codec not in CODECS:
            raise BundleError("bundle.codec", f"unknown codec {codec!r}")
        self._fh = fh
        self._codec = CODECS[codec]
        self._level = level if level is not None else {0: 0, 1: 6, 2: 3}[self._codec]
        self._hash = bundle_hasher()
        self.chunks = 0
        self.entries = 0
        self.bytes_written = 0
        self._raw(_PREAMBLE.pack(MAGIC, BUNDLE_VERSION, 0))

    def _raw(self, data: bytes) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self.bytes_written += len(data)

    def _frame(self, body: bytes) -> None:
        if len(body) > MAX_BODY:
            raise BundleError("bundle.frame_size", f"a frame of {len(body)} bytes exceeds "
                              f"{MAX_BODY}")
        stored = _compress(body, self._codec, self._level)
        codec = self._codec
        if len(stored) >= len(body):  # incompressible: store it as is
            stored, codec = body, 0
        self._raw(_FRAME.pack(len(stored), codec) + stored)

    def write_manifest(self, manifest: Manifest) -> None:
        self._frame(encode(manifest.to_map()))

    def write_chunk(self, chunk: Chunk) -> None:
        if chunk.request_id != self.chunks:
            raise BundleError("bundle.order", "chunk ids must count 0, 1, 2, ...")
        self._frame(encode_message(chunk))
        self.chunks += 1
        self.entries += len(chunk.headers)

    def finish(self) -> bytes:
        self._frame(encode({"t": "end", "chunks": self.chunks, "entries": self.entries}))
        digest: bytes = self._hash.digest()
        self._fh.write(digest)
        self.bytes_written += len(digest)
        self._fh.flush()
        return digest


def _read_exact(fh: BinaryIO, size: int, offset: int, what: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise BundleError("bundle.truncated", f"the bundle ends inside {what} at byte "
                          f"{offset + len(data)}", offset=offset + len(data))
    return data


class BundleReader:
    """Read a bundle front to back. The manifest is read at once; :meth:`chunks` yields the
    chunks and finally checks the end frame, the checksum and that nothing follows."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._hash = bundle_hasher()
        self.offset = 0
        magic, version, reserved = _PREAMBLE.unpack(self._take(_PREAMBLE.size, "the header"))
        if magic != MAGIC:
            raise BundleError("bundle.magic", "not a samizdat bundle (wrong magic bytes)")
        if version != BUNDLE_VERSION or reserved != 0:
            raise BundleError("bundle.version", f"bundle format version {version} is not "
                              f"supported (this node reads version {BUNDLE_VERSION})")
        self.manifest = Manifest.from_map(decode(self._frame(), _MANIFEST_LIMITS))
        self.finished = False

    def _take(self, size: int, what: str) -> bytes:
        data = _read_exact(self._fh, size, self.offset, what)
        self._hash.update(data)
        self.offset += size
        return data

    def _frame(self) -> bytes:
        at = self.offset
        length, codec = _FRAME.unpack(self._take(_FRAME.size, "a frame header"))
        if length > MAX_FRAME:
            raise BundleError("bundle.frame_size", f"frame at byte {at} claims {length} bytes",
                              offset=at)
        return _decompress(self._take(length, "a frame"), codec, at)

    def chunks(self) -> Iterator[Chunk]:
        expected = 0
        entries = 0
        while True:
            at = self.offset
            body = self._frame()
            end = _as_end(body)
            if end is not None:
                if (set(end) != {"t", "chunks", "entries"}
                        or end["chunks"] != expected or end["entries"] != entries):
                    raise BundleError("bundle.end", f"the end frame at byte {at} does not "
                                      f"match the {expected} chunks read", offset=at)
                break
            message = decode_stream_message(body)
            if not isinstance(message, Chunk):
                raise BundleError("bundle.order", f"frame at byte {at} is not a chunk",
                                  offset=at)
            if message.request_id != expected:
                raise BundleError("bundle.order", f"chunk at byte {at} is numbered "
                                  f"{message.request_id}, expected {expected}", offset=at)
            expected += 1
            entries += len(message.headers)
            yield message
        digest = self._hash.digest()
        stored = _read_exact(self._fh, CHECKSUM_SIZE, self.offset, "the checksum")
        self.offset += CHECKSUM_SIZE
        if stored != digest:
            raise BundleError("bundle.checksum", "the bundle's checksum does not match its "
                              "contents: the file is damaged or was altered")
        if self._fh.read(1):
            raise BundleError("bundle.trailing", f"bytes follow the checksum at byte "
                              f"{self.offset}", offset=self.offset)
        self.finished = True


def _as_end(body: bytes) -> dict[str, Any] | None:
    """The end frame's map if ``body`` is one (it is tiny; a chunk never is that small)."""
    if len(body) > _END_LIMITS.max_bytes:
        return None
    try:
        value = decode(body, _END_LIMITS)
    except DecodeError:
        return None
    return value if isinstance(value, dict) and value.get("t") == "end" else None


def check_checksum(fh: BinaryIO, size: int, block: int = 1 << 20) -> None:
    """Hash a whole seekable bundle of ``size`` bytes and compare its trailing checksum.

    Run before importing so that a file damaged anywhere changes nothing at all.
    """
    if size < _PREAMBLE.size + CHECKSUM_SIZE:
        raise BundleError("bundle.truncated", f"a bundle of {size} bytes is too short")
    hasher = bundle_hasher()
    left = size - CHECKSUM_SIZE
    while left:
        data = fh.read(min(block, left))
        if not data:
            raise BundleError("bundle.truncated", "the bundle ended while being read")
        hasher.update(data)
        left -= len(data)
    if fh.read(CHECKSUM_SIZE) != hasher.digest():
        raise BundleError("bundle.checksum", "the bundle's checksum does not match its "
                          "contents: the file is damaged or was altered")
