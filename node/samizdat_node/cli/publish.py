"""`samizdat publish`: sign and append the records of an export file (issue 3, issue 5).

Lines are read and encoded by the import pipeline (importers/pipeline.py: for TSV and JSONL in
a helper process on the second core, for CSV serially) and streamed into ``Store.publish``,
which appends a put for every record whose body changed and signs one head per batch
(``--batch-size``, default from config ``publish.batch_size``). Re-running the same file
appends nothing; a run interrupted by a crash resumes where it stopped.

Search indexing trails the import (design §8): batches queue their search rows, and when the
records are stored and signed a second phase, "indexing for search", brings the index up to
date before the command returns (``--index now``, the default; its time is reported apart).
``--index later`` leaves it to the node's daemon (``samizdat serve``), which indexes in the
background; until then search may miss the new records (and says how many rows wait).

Bad lines go to a rejects file (TSV: line, field, code, reason), by default
``FILE.rejects.tsv`` beside the input (or in the data directory when that is not writable), and
the rest is published; the exit code is then 10. ``--strict`` stops at the first bad line: the
batch being prepared is not stored, the batches before it are (each is complete and signed).
"""

from __future__ import annotations

import argparse
import gc
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from multiprocessing import get_all_start_methods
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from samizdat_protocol.errors import LocalError, SamizdatError, SchemaError

from ..importers.blocks import Block, RecordStream, item_blocks
from ..importers.pipeline import HELPER_MIN_BYTES, SPAWNED_HELPER_MIN_BYTES, BlockReader
from ..importers.readers import FORMATS, LINE_FORMATS, Rejected, read_export, sniff_format
from ..outcomes import OUTCOMES
from ..progress import Progress
from ..store import PublishResult, Store
from ..store.parsepool import ParsePool, usable_cpus
from ..store.publish import Encoded
from .common import (
    add_data,
    add_json,
    add_quiet,
    emit_json,
    load_signing_key,
    node_dir,
    now_ms,
    progress,
)

__all__ = ["EXIT_REJECTED", "register"]

EXIT_REJECTED = OUTCOMES["import.rejected_lines"].exit_code
_INDEX_STEP = 20_000  # search rows per indexing transaction


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "publish", help="sign and append the records of an export file",
        description="Read FILE (the 2007 Memorial TSV, CSV with --map, or JSONL), append a "
                    "signed entry for every new or changed record, one signed head per batch. "
                    f"Exit code {EXIT_REJECTED} when some lines were rejected (the rest is "
                    "published), 4 when --strict stopped at a bad line.")
    add_data(parser)
    parser.add_argument("--key", type=Path, required=True, help="the publisher's key file")
    parser.add_argument("--format", choices=FORMATS, help="input format (default: from the "
                                                          "file name; .csv, .jsonl, else TSV)")
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="CSV: take schema FIELD from COLUMN (repeat)")
    parser.add_argument("--id-column", help="CSV: the column holding record ids")
    parser.add_argument("--id-prefix", default="memo2007:",
                        help="CSV/JSONL: record id = PREFIX + source_id when no record_id "
                             "(default memo2007:)")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad line")
    parser.add_argument("--rejects", type=Path, help="where to write rejected lines")
    parser.add_argument("--batch-size", type=int, help="entries per signed head")
    parser.add_argument("--index", choices=("now", "later"), default="now",
                        help="bring the search index up to date before returning (now, the "
                             "default) or leave it to `samizdat serve` (later)")
    parser.add_argument("--parse-processes", type=int, choices=(0, 1), default=None,
                        help="helper processes reading TSV/JSONL lines beside the one that "
                             "signs and stores (default: 1 for files of 4 MiB or more on a "
                             "machine with 2 or more CPUs, else 0)")
    add_json(parser)
    add_quiet(parser)
    parser.add_argument("file", type=Path)
    parser.set_defaults(handler=cmd_publish)


class Rejects:
    """The rejects file, created on the first rejected line."""

    def __init__(self, path: Path, source: Path) -> None:
        self.path = path
        self.source = source
        self.count = 0
        self._fh: TextIO | None = None

    def add(self, line: int | None, field: str | None, code: str, reason: str) -> None:
        if self._fh is None:
            self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - close()
            self._fh.write(f"# rejected lines of {self.source}\nline\tfield\tcode\treason\n")
        clean = " ".join(reason.split())
        self._fh.write(f"{line if line is not None else ''}\t{field or ''}\t{code}\t{clean}\n")
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _rejects_path(args: argparse.Namespace, data: Path) -> tuple[Path, bool]:
    if args.rejects is not None:
        return args.rejects, False
    beside = args.file.with_name(args.file.name + ".rejects.tsv")
    if os.access(beside.parent, os.W_OK):
        return beside, True
    return data / f"{args.file.name}.rejects.tsv", True


def _mapping(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise LocalError("usage.mapping", f"--map takes FIELD=COLUMN, not {item!r}")
        out[field.strip()] = column.strip()
    return out


class Feed:
    """The records of the file as Encoded items for Store.publish; rejects go to the file."""

    def __init__(self, args: argparse.Namespace, fh: BinaryIO, rejects: Rejects,
                 meter: Progress, schema_id: str, pool: ParsePool | None) -> None:
        self.args, self.fh, self.rejects, self.meter = args, fh, rejects, meter
        self.fmt = _format(args)
        self.helpers = int(pool is not None)
        self._reader: BlockReader | None = None
        if self.fmt in LINE_FORMATS:
            self._reader = BlockReader(fh, self.fmt, schema_id, args.id_prefix, pool=pool,
                                       source=args.file)
            blocks: Any = self._reader
        else:
            blocks = item_blocks(read_export(fh, self.fmt, mapping=_mapping(args.map) or None,
                                             id_prefix=args.id_prefix,
                                             id_column=args.id_column), schema_id)
        self.stream = RecordStream(blocks, self._rejected, self._block,
                                   keep=3 * args.batch_size)
        self._done_bytes = 0

    @property
    def read(self) -> int:
        return self.stream.read

    @property
    def helper_failures(self) -> int:
        return self._reader.failures if self._reader is not None else 0

    @property
    def helper_blocks(self) -> int:
        return self._reader.helped if self._reader is not None else 0

    def __iter__(self) -> Iterator[Encoded]:
        return iter(self.stream)

    def close(self) -> None:
        """Stop the helper (if any); safe to call more than once."""
        if self._reader is not None:
            self._reader.close()

    def _block(self, block: Block) -> None:
        if block.size:
            self._done_bytes += block.size
            self.meter.update(self._done_bytes, note=f"{self.read:,} records")
        else:  # CSV: no block sizes; the file position (the csv reader reads ahead a little)
            self.meter.update(self.fh.tell(), note=f"{self.read:,} records")

    def _rejected(self, item: Rejected) -> None:
        if self.args.strict:
            raise SchemaError(item.code, f"{item.describe(self.args.file)}",
                              field=item.field, line=item.line)
        self.rejects.add(item.line, item.field, item.code, item.reason)

    def refused(self, record_id: str, exc: SchemaError) -> None:
        """Store.publish refused a record (the same record twice in the file)."""
        line = self.stream.line_of(record_id)
        if self.args.strict:
            where = f"{self.args.file}:{line}: " if line is not None else ""
            raise SchemaError(exc.code, where + exc.message, field=exc.field, line=line)
        self.rejects.add(line, exc.field, exc.code, exc.message)


def _format(args: argparse.Namespace) -> str:
    return str(args.format or sniff_format(args.file))


def _helper(args: argparse.Namespace, fh: BinaryIO) -> ParsePool | None:
    """A started helper process to read the file's lines, if it is worth one (pipeline.py).

    Started before anything else (the store, progress) starts a thread, so that it can be
    forked: ready in milliseconds, where a spawned one re-imports the program first.
    """
    info = os.fstat(fh.fileno())
    fork = threading.active_count() == 1 and "fork" in get_all_start_methods()
    wanted = args.parse_processes
    if wanted is None:
        least = HELPER_MIN_BYTES if fork else SPAWNED_HELPER_MIN_BYTES
        wanted = int(info.st_size >= least and usable_cpus() > 1)
    if not wanted or _format(args) not in LINE_FORMATS or not stat.S_ISREG(info.st_mode):
        return None  # CSV is read serially; a helper reads a regular file by itself
    pool = ParsePool(1, start_method="fork" if fork else "spawn")
    pool.submit(os.getpid)  # starts it now, while this is the only thread
    return pool


def cmd_publish(args: argparse.Namespace) -> int:
    node = node_dir(args, {("publish", "batch_size"): args.batch_size})
    args.batch_size = node.config.number("publish", "batch_size")
    key = load_signing_key(args.key)
    try:
        fh = open(args.file, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise LocalError("usage.no_such_file" if isinstance(exc, FileNotFoundError)
                         else "usage.unreadable", f"cannot read {args.file}: "
                         f"{exc.strerror}") from exc
    rejects_path, default_path = _rejects_path(args, node.path)
    rejects = Rejects(rejects_path, args.file)
    began = time.perf_counter()
    pool = _helper(args, fh)
    try:
        store = node.open_store()
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    # What exists now (modules, the store) lives until the end: keep it out of the
    # collector's full passes during the import (the batches pause it: store/bulk.py).
    gc.freeze()
    index_seconds: float | None = None
    try:
        before = store.counts().records
        length_before = store.length(key.public)
        size = os.fstat(fh.fileno()).st_size
        with fh, progress(args, "publish", size, "bytes") as meter:
            feed = Feed(args, fh, rejects, meter, store.schema_id, pool)
            try:
                # Search rows are queued (index=False) and indexed after the import.
                result = store.publish(key, feed, now_ms(), args.batch_size, feed.refused,
                                       index=False)
                meter.update(size, note=f"{feed.read:,} records")
            except SamizdatError:
                feed.close()
                stored = store.length(key.public) - length_before
                print(f"stopped; {stored:,} entries of earlier batches were stored and signed "
                      "(a re-run appends only what is missing)", file=sys.stderr)
                if args.index == "now":
                    with suppress(SamizdatError):  # the error above is the one to report
                        _index(args, store)
                raise
            finally:
                feed.close()
        seconds = time.perf_counter() - began
        if args.index == "now":
            index_seconds = _index(args, store)
        new_records = store.counts().records - before
        pending = store.index_backlog()
    finally:
        store.close()
        rejects.close()
        if pool is not None:
            pool.close()  # (the reader closed it already, unless the import never began)
    if rejects.count == 0 and default_path and rejects_path.exists():
        rejects_path.unlink()  # an old list of bad lines would now mislead
    _report(args, result, feed, new_records, rejects, seconds, index_seconds, pending)
    return EXIT_REJECTED if rejects.count else 0


def _index(args: argparse.Namespace, store: Store) -> float:
    """The second phase: index the queued search rows; returns its seconds."""
    began = time.perf_counter()
    backlog = store.index_backlog()
    with progress(args, "indexing for search", backlog, "records") as meter:
        done = 0
        # Each call indexes up to _INDEX_STEP queued rows and dequeues them, so the loop ends
        # after about backlog / _INDEX_STEP rounds (rows queued meanwhile by another writer
        # are indexed too).
        while indexed := store.index_pending(_INDEX_STEP):
            done += indexed
            meter.update(done)
    return time.perf_counter() - began


def _report(args: argparse.Namespace, result: PublishResult, feed: Feed, new_records: int,
            rejects: Rejects, seconds: float, index_seconds: float | None,
            pending: int) -> None:
    read = feed.read
    changed = result.appended - min(new_records, result.appended)
    info = {
        "file": str(args.file), "records_read": read, "appended": result.appended,
        "new_records": min(new_records, result.appended), "changed": changed,
        "unchanged": result.unchanged, "retracted_skipped": result.retracted,
        "rejected": rejects.count, "heads_signed": result.batches, "length": result.length,
        "rejects_file": str(rejects.path) if rejects.count else None,
        "seconds": round(seconds, 3), "records_per_second": round(read / seconds) if seconds
        else None,
        "index_seconds": None if index_seconds is None else round(index_seconds, 3),
        "index_pending": pending, "parse_processes": feed.helpers,
        "helper_blocks": feed.helper_blocks, "helper_failures": feed.helper_failures,
    }
    if args.json:
        emit_json(info)
        return
    print(f"read {read:,} records from {args.file}, signed and stored in {seconds:.1f} s "
          f"({info['records_per_second'] or 0:,} records/s)")
    print(f"new {info['new_records']:,}, changed {changed:,}, unchanged {result.unchanged:,}"
          + (f", left retracted {result.retracted:,}" if result.retracted else "")
          + f"; {result.batches} head(s) signed, log length {result.length:,}")
    if index_seconds is not None:
        print(f"search index brought up to date in {index_seconds:.1f} s")
    elif pending:
        print(f"{pending:,} record(s) wait for the search index: `samizdat serve` indexes "
              "them in the background")
    if feed.helper_failures:
        print(f"the helper process failed {feed.helper_failures} time(s); those lines were "
              "read in this process", file=sys.stderr)
    if rejects.count:
        print(f"{rejects.count:,} line(s) rejected: see {rejects.path}")
