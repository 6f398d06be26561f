"""`samizdat publish`: sign and append the records of an export file (issue 3, issue 5).

Lines are read by :func:`samizdat_node.importers.readers.read_export` and streamed into
``Store.publish``, which appends a put for every record whose body changed and signs one head
per batch (``--batch-size``, default from config ``publish.batch_size``). Re-running the same
file appends nothing; a run interrupted by a crash resumes where it stopped.

Bad lines go to a rejects file (TSV: line, field, code, reason), by default
``FILE.rejects.tsv`` beside the input (or in the data directory when that is not writable), and
the rest is published; the exit code is then 10. ``--strict`` stops at the first bad line: the
batch being prepared is not stored, the batches before it are (each is complete and signed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from samizdat_protocol.errors import LocalError, SamizdatError, SchemaError

from ..importers.readers import FORMATS, Accepted, read_export, sniff_format
from ..outcomes import OUTCOMES
from ..progress import Progress
from ..store import PublishResult
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
_PROGRESS_EVERY = 2048


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
    """The accepted records of the file, for Store.publish; rejects go to the file."""

    def __init__(self, args: argparse.Namespace, fh: BinaryIO, rejects: Rejects,
                 meter: Progress) -> None:
        self.args, self.fh, self.rejects, self.meter = args, fh, rejects, meter
        self.read = 0
        self.lines: dict[str, int] = {}  # record id -> line, for the batches in flight
        self.keep = 3 * args.batch_size

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        fmt = self.args.format or sniff_format(self.args.file)
        items = read_export(self.fh, fmt, mapping=_mapping(self.args.map) or None,
                            id_prefix=self.args.id_prefix, id_column=self.args.id_column)
        for item in items:
            if not isinstance(item, Accepted):
                if self.args.strict:
                    raise SchemaError(item.code, f"{item.describe(self.args.file)}",
                                      field=item.field, line=item.line)
                self.rejects.add(item.line, item.field, item.code, item.reason)
                continue
            self.lines[item.record_id] = item.line
            if len(self.lines) > self.keep:
                del self.lines[next(iter(self.lines))]
            self.read += 1
            if self.read % _PROGRESS_EVERY == 0:
                self.meter.update(self.fh.tell(), note=f"{self.read:,} records")
            yield item.record_id, item.body

    def refused(self, record_id: str, exc: SchemaError) -> None:
        """Store.publish refused a body (schema, or the same record twice in the file)."""
        line = self.lines.get(record_id)
        if self.args.strict:
            where = f"{self.args.file}:{line}: " if line is not None else ""
            raise SchemaError(exc.code, where + exc.message, field=exc.field, line=line)
        self.rejects.add(line, exc.field, exc.code, exc.message)


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
    store = node.open_store()
    try:
        before = store.counts().records
        length_before = store.length(key.public)
        size = os.fstat(fh.fileno()).st_size
        with fh, progress(args, "publish", size, "bytes") as meter:
            feed = Feed(args, fh, rejects, meter)
            try:
                result = store.publish(key, feed, now_ms(), args.batch_size, feed.refused)
                # Not fh.tell(): the CSV reader's text wrapper closes fh when it is collected.
                meter.update(size, note=f"{feed.read:,} records")
            except SamizdatError:
                stored = store.length(key.public) - length_before
                print(f"stopped; {stored:,} entries of earlier batches were stored and signed "
                      "(a re-run appends only what is missing)", file=sys.stderr)
                raise
        new_records = store.counts().records - before
    finally:
        store.close()
        rejects.close()
    if rejects.count == 0 and default_path and rejects_path.exists():
        rejects_path.unlink()  # an old list of bad lines would now mislead
    _report(args, result, feed.read, new_records, rejects, time.perf_counter() - began)
    return EXIT_REJECTED if rejects.count else 0


def _report(args: argparse.Namespace, result: PublishResult, read: int, new_records: int,
            rejects: Rejects, seconds: float) -> None:
    changed = result.appended - min(new_records, result.appended)
    info = {
        "file": str(args.file), "records_read": read, "appended": result.appended,
        "new_records": min(new_records, result.appended), "changed": changed,
        "unchanged": result.unchanged, "retracted_skipped": result.retracted,
        "rejected": rejects.count, "heads_signed": result.batches, "length": result.length,
        "rejects_file": str(rejects.path) if rejects.count else None,
        "seconds": round(seconds, 3), "records_per_second": round(read / seconds) if seconds
        else None,
    }
    if args.json:
        emit_json(info)
        return
    print(f"read {read:,} records from {args.file} in {seconds:.1f} s "
          f"({info['records_per_second'] or 0:,} records/s)")
    print(f"new {info['new_records']:,}, changed {changed:,}, unchanged {result.unchanged:,}"
          + (f", left retracted {result.retracted:,}" if result.retracted else "")
          + f"; {result.batches} head(s) signed, log length {result.length:,}")
    if rejects.count:
        print(f"{rejects.count:,} line(s) rejected: see {rejects.path}")
