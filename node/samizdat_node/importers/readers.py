"""Reading publishers' export files into record bodies, line by line (issue 3).

Three formats, each a generator of :class:`Accepted` or :class:`Rejected` items so a bad line
never stops the import unless the caller asks for that (``--strict``):

* ``memorial-tsv``: the 2007 Memorial export (39 columns, see :mod:`.memorial_tsv`);
* ``csv``: a CSV file with a header row and a column mapping (body field -> CSV column);
  dates may be ISO (``1938-11-12``, ``1939-05``) or Memorial's ``D.M.YYYY`` with ``_``;
* ``jsonl``: one JSON object per line in our own schema (``memorial.victim/1``), with an
  optional ``record_id`` key.

Record ids: TSV rows use ``memo2007:<person_id>``; CSV and JSONL rows use ``record_id`` when
given, else ``<id_prefix><source_id>``. Every reject names the line, the field and the reason.
Bytes that are not UTF-8 reject only their own line. An accepted body is a normalised
``memorial.victim/1`` body (what ``validate_victim`` returns; TSV rows are built to equal it).

TSV and JSONL are read line by line through :func:`read_line`, which the import pipeline
(blocks.py) also runs on blocks of lines in a helper process, so both give the same items.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from samizdat_protocol.errors import LocalError, SamizdatError, SchemaError
from samizdat_protocol.partial_dates import PartialDate, memorial_date_to_iso
from samizdat_protocol.schema import DATE_FIELDS, FIELDS, LIST_FIELDS, validate_victim

from .memorial_tsv import is_header, parse_row, split_line

__all__ = ["FORMATS", "LINE_FORMATS", "Accepted", "ImportItem", "Rejected", "decode_line",
           "read_export", "read_line", "sniff_format"]

FORMATS = ("memorial-tsv", "csv", "jsonl")
LINE_FORMATS = ("memorial-tsv", "jsonl")  # one record per line: readable in blocks
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Accepted:
    line: int
    record_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    field: str | None
    code: str
    reason: str

    def describe(self, path: Path | str) -> str:
        where = f"{path}:{self.line}" + (f" field {self.field}" if self.field else "")
        return f"{where}: {self.reason} [{self.code}]"


ImportItem = Accepted | Rejected


def _reject(line: int, exc: SamizdatError) -> Rejected:
    details = exc.details
    field = details.get("column") or details.get("field")
    return Rejected(line, str(field) if field else None, exc.code, exc.message)


def decode_line(number: int, raw: bytes) -> str | Rejected:
    """One line of the file as text without its line ending, or why it cannot be read."""
    if len(raw) > MAX_LINE_BYTES:
        return Rejected(number, None, "import.line_too_long",
                        f"line is longer than {MAX_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(number, None, "import.encoding", f"not UTF-8 at byte {exc.start}")
    return text.rstrip("\r\n")


def _lines(fh: BinaryIO) -> Iterator[tuple[int, str | Rejected]]:
    for number, raw in enumerate(fh, start=1):
        yield number, decode_line(number, raw)


def _tsv_line(number: int, text: str, id_prefix: str) -> ImportItem | None:
    del id_prefix  # TSV record ids are memo2007:<person_id>
    if not text.strip():
        return None
    fields = split_line(text)
    if number == 1 and is_header(fields):
        return None
    try:
        record_id, body = parse_row(fields, line=number)
    except SchemaError as exc:
        return _reject(number, exc)
    return Accepted(number, record_id, body)


def _record_id(obj: dict[str, Any], id_prefix: str, line: int) -> str:
    given = obj.pop("record_id", None)
    if given is not None:
        if not isinstance(given, str) or not given.strip():
            raise SchemaError("import.record_id", "record_id must be a non-empty string",
                              field="record_id", line=line)
        return given.strip()
    source_id = obj.get("source_id")
    if not isinstance(source_id, str) or not source_id.strip():
        raise SchemaError("import.record_id", "no record_id and no source_id to derive it from",
                          field="source_id", line=line)
    return f"{id_prefix}{source_id.strip()}"


def _jsonl_line(number: int, text: str, id_prefix: str) -> ImportItem | None:
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejected(number, None, "import.json", f"not JSON: {exc.msg} at column "
                        f"{exc.colno}")
    if not isinstance(obj, dict):
        return Rejected(number, None, "import.json", "a line must hold one JSON object")
    try:
        record_id = _record_id(obj, id_prefix, number)
        return Accepted(number, record_id, validate_victim(obj))
    except SchemaError as exc:
        return _reject(number, exc)


_LINE_READERS = {"memorial-tsv": _tsv_line, "jsonl": _jsonl_line}


def read_line(fmt: str, number: int, text: str, id_prefix: str) -> ImportItem | None:
    """The item of one decoded line of a line-based format (None: blank or the header)."""
    return _LINE_READERS[fmt](number, text, id_prefix)


def _read_lines(fh: BinaryIO, fmt: str, id_prefix: str) -> Iterator[ImportItem]:
    read = _LINE_READERS[fmt]
    for number, text in _lines(fh):
        item = text if isinstance(text, Rejected) else read(number, text, id_prefix)
        if item is not None:
            yield item


def check_iso_date(value: str) -> bool:
    try:
        PartialDate.from_iso(value)
    except SchemaError:
        return False
    return True


_TRUE = {"t", "true", "1", "yes", "да", "y"}
_FALSE = {"f", "false", "0", "no", "нет", "n"}


def _csv_value(field: str, raw: str, body: dict[str, Any]) -> None:
    value = raw.strip()
    if not value or value == "None":
        return
    if field in DATE_FIELDS:
        if check_iso_date(value):
            body[field] = value
            return
        iso, verbatim = memorial_date_to_iso(value)
        if iso is not None:
            body[field] = iso
        if verbatim is not None:
            body[f"{field}_verbatim"] = verbatim
    elif field in LIST_FIELDS:
        body[field] = [item.strip() for item in value.split(";") if item.strip()]
    elif field == "age":
        body[field] = int(value) if value.isdigit() else value
    elif field == "executed":
        lowered = value.lower()
        if lowered not in _TRUE | _FALSE:
            raise SchemaError("import.bool", f"{value!r} is not a yes/no value", field=field)
        body[field] = lowered in _TRUE
    elif field == "sex":
        body[field] = {"м": "m", "ж": "f"}.get(value.lower(), value.lower())
    else:
        body[field] = value


def _read_csv(fh: BinaryIO, mapping: Mapping[str, str], id_prefix: str,
              id_column: str | None) -> Iterator[ImportItem]:
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise LocalError("usage.mapping", f"the mapping names unknown fields {unknown}")
    # Lines are decoded one by one (a non-UTF-8 line rejects only itself) and handed to the csv
    # module, which joins the physical lines of a quoted multi-line value; `physical` tracks the
    # file's line number for messages.
    physical = 0
    undecodable: list[Rejected] = []

    def text_lines() -> Iterator[str]:
        nonlocal physical
        for number, text in _lines(fh):
            physical = number
            if isinstance(text, Rejected):
                undecodable.append(text)
                continue
            yield text + "\n"

    reader = csv.reader(text_lines())
    header = next(reader, [])
    wanted = [*mapping.values(), *([id_column] if id_column else [])]
    missing = sorted(col for col in wanted if col not in header)
    if missing:
        raise LocalError("usage.mapping", f"the CSV header lacks columns {missing}")
    position = {name: header.index(name) for name in wanted}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            yield from undecodable
            return
        except csv.Error as exc:
            yield Rejected(physical, None, "import.csv", f"unreadable row: {exc}")
            continue
        yield from undecodable
        undecodable.clear()
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(header):
            yield Rejected(physical, None, "import.column_count",
                           f"{len(fields)} columns, the header has {len(header)}")
            continue
        body: dict[str, Any] = {}
        try:
            for field, column in mapping.items():
                _csv_value(field, fields[position[column]], body)
            if id_column and fields[position[id_column]].strip():
                body["record_id"] = fields[position[id_column]].strip()
            record_id = _record_id(body, id_prefix, physical)
            yield Accepted(physical, record_id, validate_victim(body))
        except SchemaError as exc:
            yield _reject(physical, exc)


def sniff_format(path: Path) -> str:
    """Guess the format from the name and first line (explicit ``--format`` wins)."""
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "memorial-tsv"


def read_export(fh: BinaryIO, fmt: str, *, mapping: Mapping[str, str] | None = None,
                id_prefix: str = "memo2007:", id_column: str | None = None) -> Iterator[ImportItem]:
    """Read an export file opened in binary mode, yielding accepted and rejected lines."""
    if fmt in _LINE_READERS:
        return _read_lines(fh, fmt, id_prefix)
    if fmt == "csv":
        if not mapping:
            raise LocalError("usage.mapping", "CSV import needs a column mapping")
        return _read_csv(fh, mapping, id_prefix, id_column)
    raise LocalError("usage.format", f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
