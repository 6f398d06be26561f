"""Writers for generated (or any valid) bodies: JSON Lines and the 2007 export's TSV.

JSONL: one body per line, keys sorted, UTF-8 without escapes, ``\\n`` line ends.
TSV: the header row, then one :func:`~samizdat_node.importers.memorial_tsv.format_row` row per
body, tab-separated, ``\\n`` line ends, like ``memorial_lists.tsv``. Like the real export, an
occasional value starts with a stray ``"`` (``stray_quote_rate`` of rows, default 1 in 500,
chosen by ``seed``); the quote goes only where the importer's rule removes it again (a value
with an even number of quotes), so the bodies read back unchanged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

from ..importers.memorial_tsv import COLUMNS, HEADER, format_row

__all__ = ["write_jsonl", "write_memorial_tsv"]

_BATCH = 1024
# Free-text columns, where the real export's stray quotes occur.
_QUOTABLE = tuple(
    index
    for index, column in enumerate(COLUMNS)
    if column not in ("person_id", "birth_year", "age", "sex", "was_executed")
    and not column.endswith("_date")
)


def _write_lines(lines: Iterable[str], fp: TextIO) -> int:
    """Write lines in batches of _BATCH (one write call each); return how many."""
    count = 0
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _BATCH:
            fp.write("\n".join(batch) + "\n")
            count += len(batch)
            batch.clear()
    if batch:
        fp.write("\n".join(batch) + "\n")
        count += len(batch)
    return count


def write_jsonl(records: Iterable[Mapping[str, Any]], fp: TextIO) -> int:
    """Write one JSON object per line; return how many."""
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
    return _write_lines((dumps(body) for body in records), fp)


def _stray_quote(row: list[str], r: random.Random) -> None:
    candidates = [i for i in _QUOTABLE if row[i] != "None" and row[i].count('"') % 2 == 0]
    if candidates:
        index = candidates[int(r.random() * len(candidates))]
        row[index] = '"' + row[index]


def write_memorial_tsv(
    records: Iterable[Mapping[str, Any]],
    fp: TextIO,
    *,
    header: bool = True,
    stray_quote_rate: float = 0.002,
    seed: int = 0,
) -> int:
    """Write the 39-column export (see the module docstring); return how many rows."""
    r = random.Random(seed)
    if header:
        fp.write(HEADER + "\n")

    def rows() -> Iterator[str]:
        for body in records:
            row = format_row(body)
            if stray_quote_rate and r.random() < stray_quote_rate:
                _stray_quote(row, r)
            yield "\t".join(row)

    return _write_lines(rows(), fp)
