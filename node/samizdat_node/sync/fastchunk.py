"""A fast accept-only decoder for sync chunk messages (spec §11; design §8 targets).

A chunk carries up to 4,096 headers and payloads in 4-8 MiB. The protocol's decoder
(``encoding.decode``) checks canonicity by walking the decoded value in Python and encoding
it again: about 16 ms per chunk, 4 µs per entry, a sixth of a mirror's first sync, and it
holds the GIL against the thread that stores the previous chunk.

Here msgspec decodes the bytes straight into typed structs (field names, types and sizes
checked in C), encodes them again and compares byte for byte: equal bytes mean ``data`` is
the canonical encoding of exactly this value, which is what ``decode`` would have returned.
The same ``wire.parse_stream_map`` then builds the message with every check of the general
path (ids, start, proof items, the signed head's fields).

Like store/strict.py it only ever *accepts*: anything it is not certain of (another message
type, a limit, a type, any byte that re-encodes differently) goes to the general decoder,
which accepts it or names what is wrong. A property test holds both paths equal
(tests/node/test_sync_fastchunk.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from samizdat_protocol.wire import (
    MAX_CHUNK_ENTRIES,
    STREAM_LIMITS,
    Chunk,
    StreamMessage,
    decode_message,
    parse_stream_map,
)

__all__ = ["decode_stream_message", "fast_chunk"]

_Bin = Annotated[bytes, msgspec.Meta(max_length=STREAM_LIMITS.max_bin)]
_Bins = Annotated[list[_Bin], msgspec.Meta(max_length=MAX_CHUNK_ENTRIES)]
_Slots = Annotated[list[_Bin | None], msgspec.Meta(max_length=MAX_CHUNK_ENTRIES)]


# Fields in sorted key order: msgspec encodes a struct in declaration order, which is then the
# canonical (sorted) key order of encoding.py; both write the smallest map header that fits.
class _Head(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    dataset: _Bin
    length: int
    publisher: _Bin
    root: _Bin
    sig: _Bin
    ts: int
    v: int


class _Chunk(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    head: _Head
    headers: _Bins
    id: int
    payloads: _Slots
    proof: _Bins
    start: int
    t: Literal["chunk"]


_decode = msgspec.msgpack.Decoder(_Chunk).decode
_encode = msgspec.msgpack.Encoder().encode
_CHUNK_TAG = b"\xa1t\xa5chunk"  # "t": "chunk" ends every canonical chunk map


def fast_chunk(data: bytes) -> Chunk | None:
    """The chunk ``data`` is, when certain; None to let the general decoder decide."""
    if len(data) > STREAM_LIMITS.max_bytes or not data.endswith(_CHUNK_TAG):
        return None
    try:
        wire = _decode(data)
    except Exception:  # any doubt (bad UTF-8 in a key, a type, a size): the general path
        return None
    if _encode(wire) != data:
        return None
    head = wire.head
    message = parse_stream_map({
        "t": wire.t, "id": wire.id, "start": wire.start, "headers": wire.headers,
        "payloads": wire.payloads, "proof": wire.proof,
        "head": {"dataset": head.dataset, "length": head.length, "publisher": head.publisher,
                 "root": head.root, "sig": head.sig, "ts": head.ts, "v": head.v}})
    assert isinstance(message, Chunk)
    return message


def decode_stream_message(data: bytes) -> StreamMessage:
    """``wire.decode_message``, with chunks decoded by :func:`fast_chunk` when it is sure."""
    fast = fast_chunk(data)
    return fast if fast is not None else decode_message(data)
