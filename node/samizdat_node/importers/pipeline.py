"""Reading an export file on the second core while the first signs and stores (issue 3).

Design §8 asks for 50,000 records/s imported and signed on a 2-core machine; reading a line
(blocks.py) and storing it (store/publish.py) each take about as long as that budget allows
for both, so the two run side by side: :class:`BlockReader` hands blocks of lines of a
line-based file (2007 TSV, JSONL; CSV values may span lines and are read serially) to a
helper process (store/parsepool.py), which reads and encodes them while this process stores
the blocks before them.

What crosses the process boundary is small: the helper reads its block from the file itself
(path, offset, length) and leaves the pickled :class:`~.blocks.Block` in a private spool
directory (:func:`~.blocks.encode_file_block`; ``mkdtemp`` under TMPDIR, mode 0700, removed
when the reader closes, or by the helper if the importing process is killed), so no block
of data goes through the pool's pipes. A bounded number of blocks is in flight, so memory
stays bounded whatever the file's size, and blocks are handed out in file order.

The helper only ever *helps*: a block it did not return (killed, out of memory, slow to
start) is read here by the same pure function, so the records, their order and every reject
are the same with or without a helper, and a helper's death costs time, never records.
After :data:`MAX_HELPER_FAILURES` failures the rest of the file is read here.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from ..store.parsepool import ParsePool, on_parent_gone, result_or_none
from .blocks import Block, encode_block, encode_file_block
from .readers import LINE_FORMATS

__all__ = ["BLOCK_BYTES", "HELPER_MIN_BYTES", "MAX_HELPER_FAILURES", "SPAWNED_HELPER_MIN_BYTES",
           "BlockReader"]

BLOCK_BYTES = 1 << 21  # ~3,000 generated TSV records: ~45 ms of reading
MAX_HELPER_FAILURES = 2
# Below these sizes a file is imported before a helper would pay for itself: a forked helper
# starts in milliseconds (~6,000 TSV records), a spawned one takes 1-2 s of the other core to
# import the program again (~100,000 records).
HELPER_MIN_BYTES = 4 << 20
SPAWNED_HELPER_MIN_BYTES = 64 << 20


@dataclass(slots=True)
class _Slot:
    """A block read from the file and not yet handed out: with the helper, or read here."""

    first: int  # its first line's number
    offset: int  # its first byte's position in the file
    data: bytes
    future: Future[bool | None] | None = None
    generation: int = 0  # the helper (ParsePool.started) it was given to
    block: Block | None = None


def _ready(spool: str) -> bool:
    """The helper's first task: answering it means the helper has started (imports done).

    It also has the spool removed if the importing process dies without closing it (kill -9):
    the pool's own watch (parsepool._watch_parent) then ends the helper, which would otherwise
    wait for a task forever.
    """
    on_parent_gone(partial(shutil.rmtree, spool, ignore_errors=True))
    return True


class BlockReader:
    """The blocks of a line-based export file, in file order, read with a helper process.

    The helper gets blocks once it has started (a forked one at once, a spawned one after a
    second or two of importing the program) and then keeps ``depth`` blocks in hand; it
    reads them from ``source`` (the file's path) itself and leaves its results in a private
    spool directory (:func:`~.blocks.encode_file_block`). Whenever the next block in order is
    not back within ``patience`` seconds, this process reads a later block itself, so neither
    process waits long while there is work: before the helper starts everything is read here,
    and in steady state the two share the reading as their speeds dictate. At most
    ``depth + spare`` blocks are held. Without ``pool`` every block is read here.

    Close it (or use it as a context manager) to stop the helper and remove the spool.
    """

    def __init__(self, fh: BinaryIO, fmt: str, schema_id: str, id_prefix: str, *,
                 pool: ParsePool | None = None, source: Path | None = None, depth: int = 3,
                 spare: int = 2, patience: float = 0.01,
                 block_bytes: int = BLOCK_BYTES) -> None:
        if fmt not in LINE_FORMATS:
            raise ValueError(f"{fmt} is not read line by line")
        if pool is not None and source is None:
            raise ValueError("a helper reads the file itself: give its path (source)")
        self.fh, self.fmt, self.schema_id, self.id_prefix = fh, fmt, schema_id, id_prefix
        self.pool = pool
        self.source = None if source is None else os.path.abspath(source)
        self.depth, self.spare = max(1, depth), max(0, spare)
        self.patience = patience
        self.block_bytes = block_bytes
        self.failures = 0  # times the helper failed (each time its blocks were read here)
        self.helped = 0  # blocks the helper read
        self._failed_generation = 0
        self._warm_generation = 0  # the helper the warm-up call (_warm) was given to
        self._next_line = 1
        # Where the next block starts in the file (for the helper; a pipe has no position).
        self._offset = fh.tell() if pool is not None else 0
        self._rest = b""  # the start of a line the last block did not finish
        self._eof = False
        self._pending: deque[_Slot] = deque()
        self._spool = tempfile.mkdtemp(prefix="samizdat-import-") if pool is not None else None
        self._warm = self._start() if pool is not None else None

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop_helper()
        self._pending.clear()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None

    def __iter__(self) -> Iterator[Block]:
        while True:
            self._fill()
            if not self._pending and self._read() is None:
                return
            head = self._pending[0]
            # The helper is behind when the head is not back within ``patience`` (waiting
            # also lets this process's pool threads take the GIL and collect the result):
            # then read a later block here meanwhile.
            while head.future is not None and len(self._pending) < self.depth + self.spare \
                    and not wait([head.future], timeout=self.patience).done:
                slot = self._read()
                if slot is None:
                    break
                slot.block = self._encode(slot)
            self._pending.popleft()
            yield self._result(head)

    def _read(self) -> _Slot | None:
        """The next block of whole lines (raw bytes; a line longer than a block is read to
        its end), or None at the end of the file."""
        if self._eof:
            return None
        parts = [self._rest]
        while True:
            data = self.fh.read(self.block_bytes)
            if not data:
                self._eof = True
                data, self._rest = b"".join(parts), b""
                if not data:
                    return None
                break
            cut = data.rfind(b"\n") + 1
            if cut:
                parts.append(data[:cut])
                data, self._rest = b"".join(parts), data[cut:]
                break
            parts.append(data)
        slot = _Slot(self._next_line, self._offset, data)
        self._offset += len(data)
        # Lines in the block: its line ends, plus a last line without one at the file's end.
        self._next_line += data.count(b"\n") + (not data.endswith(b"\n"))
        self._pending.append(slot)
        return slot

    def _encode(self, slot: _Slot) -> Block:
        return encode_block(self.fmt, self.schema_id, self.id_prefix, slot.first, slot.data)

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the helper to start; whether it has."""
        if self._warm is not None:
            wait([self._warm], timeout=timeout)
        return self._helper_ready()

    def _start(self) -> Future[bool | None]:
        assert self.pool is not None and self._spool is not None
        warm = self.pool.submit(_ready, self._spool)
        self._warm_generation = self.pool.started
        return warm

    def _helper_ready(self) -> bool:
        if self.pool is None:
            return False
        if self._warm is not None:
            if not self._warm.done():
                return False
            warm, self._warm = self._warm, None
            if result_or_none(warm) is None:
                self._failed(self._warm_generation)
                return False
        return True

    def _fill(self) -> None:
        """Keep ``depth`` blocks with the helper once it has started."""
        while self._helper_ready() and sum(
                slot.future is not None for slot in self._pending) < self.depth:
            slot = self._read()
            if slot is None:
                return
            assert self.pool is not None and self._spool is not None
            slot.future = self.pool.submit(
                encode_file_block, self.fmt, self.schema_id, self.id_prefix, slot.first,
                self.source, slot.offset, len(slot.data), self._spooled(slot))
            slot.generation = self.pool.started

    def _spooled(self, slot: _Slot) -> str:
        assert self._spool is not None
        return os.path.join(self._spool, f"{slot.first}.block")

    def _result(self, slot: _Slot) -> Block:
        if slot.block is not None:
            return slot.block
        if slot.future is not None:
            slot.future.exception()  # waits; a killed helper ends it with BrokenProcessPool
            block = self._load(slot) if result_or_none(slot.future) else None
            if block is not None:
                self.helped += 1
                return block
            self._failed(slot.generation)
        return self._encode(slot)

    def _load(self, slot: _Slot) -> Block | None:
        """The helper's block from the spool (None if it is not there or not whole)."""
        path = self._spooled(slot)
        try:
            with open(path, "rb") as fh:
                block = pickle.load(fh)  # written by our helper into our private directory
        except Exception:  # missing or cut short (a killed helper): the block is read here
            return None
        finally:
            with suppress(OSError):
                os.unlink(path)
        return block if isinstance(block, Block) and block.first == slot.first else None

    def _failed(self, generation: int) -> None:
        """The helper failed a task: count each helper once; after MAX_HELPER_FAILURES read
        everything here, else let the pool start a new helper (and wait for it to start)."""
        if generation <= self._failed_generation:
            return  # another task of a helper already counted
        self._failed_generation = generation
        self.failures += 1
        if self.failures >= MAX_HELPER_FAILURES:
            self._stop_helper()
        elif self.pool is not None:
            self._warm = self._start()

    def _stop_helper(self) -> None:
        """Stop the helper; the blocks it had not returned are read here."""
        pool, self.pool, self._warm = self.pool, None, None
        if pool is None:
            return
        for slot in self._pending:
            slot.future = None  # abandoned, never cancelled (store/aio.py _parsed says why)
        pool.close()


