"""Blocks of an export file read into encoded records (issue 3): the reading half of an import.

Importing a record is two kinds of work: *reading* its line (decode, parse, validate,
canonically encode, hash: readers.py, memorial_tsv.py, store/codec.py) and *storing* it
(current versions, headers, tree, signature, SQLite: store/publish.py). Reading needs nothing
from the store, so it is done a block of lines at a time by :func:`encode_block`, a pure
function that runs in a helper process (pipeline.py) or in the importing process, with the
same result either way. A :class:`Block` holds a block's records as columns (line numbers,
record ids, payloads, payload hashes) and its rejected lines in file order, and
:class:`RecordStream` turns a sequence of blocks into the :class:`~..store.publish.Encoded`
items ``Store.publish`` takes.

The bodies the readers accept are normalised ``memorial.victim/1`` bodies (readers.py), so
for that schema a body is encoded as it is (``codec.encode_flat_body``) and is not validated a
second time; the 2007 TSV's lines take an inlined path (:func:`_encode_tsv`) through the same
steps, and every line it does not take whole is done the general way.
"""

from __future__ import annotations

import io
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter, length_hint

from samizdat_protocol.errors import SchemaError
from samizdat_protocol.hashing import hash_payload
from samizdat_protocol.schema import SCHEMA_ID, validate

from ..store.bulk import paused_gc
from ..store.codec import encode_body, encode_flat_body
from ..store.publish import Encoded
from .memorial_tsv import parse_row
from .readers import MAX_LINE_BYTES, Accepted, ImportItem, Rejected, decode_line, read_line

__all__ = ["Block", "RecordStream", "encode_accepted", "encode_block", "encode_file_block",
           "item_blocks"]

_second = itemgetter(1)


@dataclass(slots=True)
class Block:
    """One block of lines read: its records as columns, and its rejected lines."""

    first: int  # line number of the block's first line
    end: int  # line number after its last line
    size: int  # bytes of its lines (0 for items read elsewhere: CSV)
    lines: list[int] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # For each reject, how many of the block's records come before it (file order).
    rejected_at: list[int] = field(default_factory=list)

    def reject(self, item: Rejected) -> None:
        self.rejected.append(item)
        self.rejected_at.append(len(self.record_ids))

    def add(self, line: int, record: Encoded) -> None:
        self.lines.append(line)
        self.record_ids.append(record.record_id)
        self.payloads.append(record.payload)
        self.hashes.append(record.payload_hash)


def encode_accepted(schema_id: str, item: Accepted) -> Encoded | Rejected:
    """An accepted line's record, encoded for Store.publish, or why it cannot be published.

    The readers' bodies are normalised ``memorial.victim/1`` bodies (readers.py), so for that
    schema they are encoded as they are; another schema validates them first.
    """
    try:
        if schema_id == SCHEMA_ID:
            payload = encode_flat_body(item.body)
        else:
            payload = encode_body(validate(schema_id, item.body))
    except SchemaError as exc:  # payload.oversize: named as Store.publish names it
        return Rejected(item.line, exc.field, exc.code,
                        f"record {item.record_id}: {exc.message}")
    return Encoded(item.record_id, payload, hash_payload(payload))


def encode_block(fmt: str, schema_id: str, id_prefix: str, first: int, data: bytes) -> Block:
    """Read and encode the whole lines in ``data`` (raw bytes of the file, cut after a line
    end or at the end of the file), the first being line ``first`` of the file. Pure: runs in
    the helper or, failing that, here."""
    # BytesIO splits lines exactly as iterating the file does (after b"\n" only).
    lines = io.BytesIO(data).readlines()
    block = Block(first, first + len(lines), len(data))
    with paused_gc():
        if fmt == "memorial-tsv" and schema_id == SCHEMA_ID:
            _encode_tsv(block, lines, first)
        else:
            for number, raw in enumerate(lines, start=first):
                _encode_line(block, fmt, schema_id, id_prefix, number, raw)
    return block


def _encode_line(block: Block, fmt: str, schema_id: str, id_prefix: str, number: int,
                 raw: bytes) -> None:
    """One line the general way: readers.decode_line, readers.read_line, encode_accepted."""
    text = decode_line(number, raw)
    item = text if isinstance(text, Rejected) else read_line(fmt, number, text, id_prefix)
    if item is None:
        return
    out = item if isinstance(item, Rejected) else encode_accepted(schema_id, item)
    if isinstance(out, Rejected):
        block.reject(out)
    else:
        block.add(number, out)


def _encode_tsv(block: Block, lines: list[bytes], first: int) -> None:
    """_encode_line for 2007-export lines, with the general path's steps inlined for the lines
    that pass them all (nearly all); any other line (the header, a blank, bad or oversize
    one) is done again the general way, which then decides and names it."""
    numbers, record_ids, payloads, hashes = (block.lines, block.record_ids, block.payloads,
                                             block.hashes)
    for number, raw in enumerate(lines, start=first):
        if number != 1 and len(raw) <= MAX_LINE_BYTES:
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
                if text.strip():
                    record_id, body = parse_row(text.split("\t"), line=number)
                    payload = encode_flat_body(body)
                    numbers.append(number)
                    record_ids.append(record_id)
                    payloads.append(payload)
                    hashes.append(hash_payload(payload))
                    continue
            except (UnicodeDecodeError, SchemaError):
                pass
        _encode_line(block, "memorial-tsv", SCHEMA_ID, "", number, raw)


def encode_file_block(fmt: str, schema_id: str, id_prefix: str, first: int, source: str,
                      offset: int, length: int, out: str) -> bool:
    """:func:`encode_block` in the helper on ``length`` bytes of ``source`` at ``offset``,
    leaving the pickled :class:`Block` in the file ``out``.

    Large data never crosses the pool's pipes: their 64 KiB chunks each wait for the GIL of
    the importing process's pool threads, which its busy main thread holds (measured: the
    helper then spent more time waiting than working). Only names and offsets go out, and a
    boolean comes back (pipeline.py).
    """
    with open(source, "rb") as fh:
        data = os.pread(fh.fileno(), length, offset)
    if len(data) != length:
        raise OSError(f"{source} changed while it was imported")
    block = encode_block(fmt, schema_id, id_prefix, first, data)
    with open(out, "wb") as fh:
        pickle.dump(block, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return True


def item_blocks(items: Iterable[ImportItem], schema_id: str,
                size: int = 2048) -> Iterator[Block]:
    """Blocks of items read serially (CSV), encoded as :func:`encode_block` encodes lines.

    A block's line numbers are its items' (``first``/``end`` span them; ``size`` is 0).
    """
    it = iter(items)
    while chunk := list(islice(it, size)):
        block = Block(chunk[0].line, chunk[-1].line + 1, 0)
        for item in chunk:
            out = item if isinstance(item, Rejected) else encode_accepted(schema_id, item)
            if isinstance(out, Rejected):
                block.reject(out)
            else:
                block.add(item.line, out)
        yield block


class RecordStream:
    """The records of a sequence of blocks as :class:`Encoded` items for Store.publish.

    Rejects are handed to ``on_reject`` exactly when the items before them in the file have
    been taken, and ``on_block`` sees each block before its first item, so a consumer that
    stops early has heard of nothing beyond where it stopped. :meth:`line_of` names the line
    of a record the store refuses (``publish.duplicate``): the last line that gave that
    record id among the items taken so far, within the last ``keep`` records.
    """

    def __init__(self, blocks: Iterable[Block], on_reject: Callable[[Rejected], None],
                 on_block: Callable[[Block], None] | None = None, keep: int = 30_000) -> None:
        self._blocks = blocks
        self._on_reject = on_reject
        self._on_block = on_block
        self._keep = keep
        self._recent: deque[Block] = deque()
        self._recent_records = 0
        self._cursor: Iterator[int] = iter(())
        self._before = 0  # records of the blocks before the newest

    def __iter__(self) -> Iterator[Encoded]:
        for block in self._blocks:
            if self._on_block is not None:
                self._on_block(block)
            if self._recent:
                self._before += len(self._recent[-1].record_ids)
            self._remember(block)
            # _cursor counts what the consumer took from this block (length_hint: the rest).
            self._cursor = cursor = iter(range(len(block.record_ids)))
            items = map(_second, zip(cursor, map(Encoded._make, zip(
                block.record_ids, block.payloads, block.hashes, strict=True)), strict=True))
            taken = 0
            for reject, at in zip(block.rejected, block.rejected_at, strict=True):
                yield from islice(items, at - taken)
                taken = at
                self._on_reject(reject)
            yield from items

    def taken_from_block(self) -> int:
        """Items of the newest block handed out so far."""
        if not self._recent:
            return 0
        return len(self._recent[-1].record_ids) - length_hint(self._cursor)

    @property
    def read(self) -> int:
        """Records handed out so far."""
        return self._before + self.taken_from_block()

    def _remember(self, block: Block) -> None:
        # The blocks before it are all taken: drop the oldest while the rest hold ``keep``.
        while self._recent and \
                self._recent_records - len(self._recent[0].record_ids) >= self._keep:
            self._recent_records -= len(self._recent.popleft().record_ids)
        self._recent.append(block)
        self._recent_records += len(block.record_ids)

    def line_of(self, record_id: str) -> int | None:
        """The line of the latest item taken with ``record_id`` (None: not among the last
        ``keep`` records)."""
        taken = self.taken_from_block()
        for age, block in enumerate(reversed(self._recent)):
            ids = block.record_ids if age else block.record_ids[:taken]
            if record_id in ids:
                last = len(ids) - 1 - ids[::-1].index(record_id)
                return block.lines[last]
        return None
