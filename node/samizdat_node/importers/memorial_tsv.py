"""Rows of the 2007 export (``memorial_lists.tsv``) to and from ``memorial.victim/1`` bodies.

Pure functions, no I/O: the caller reads lines, splits them with :func:`split_line` and skips
the header (:func:`is_header`). Format (memorial-data.md): 39 tab-separated columns in the
order of :data:`COLUMNS`, UTF-8, ``None`` for an empty value. Conversions:

* ``person_id`` -> ``source_id`` (ASCII digits); the record id is ``memo2007:<person_id>``;
* a value beginning with a stray ``"`` (an artefact of the export) loses that quote when the
  value holds an odd number of quotes; balanced quotes (``колхоз "Заря"``) are data and stay;
* dates ``12.11.1938``, ``_.5.1939``, ``_._.1939`` (``1939`` in ``birth_year``) -> ISO reduced
  precision; a date ISO cannot hold exactly (``12._.1938``) keeps its certain part and its text
  goes to ``<field>_verbatim`` (see :mod:`samizdat_protocol.partial_dates`);
* ``age``: ``35`` or ``35 лет`` -> 35; other text (``около 40``) -> ``age_verbatim``;
* ``sex``: ``м``/``ж`` (also ``m``/``f``, any case) -> ``"m"``/``"f"``; written as ``м``/``ж``;
* ``was_executed``: ``T``/``F`` -> ``executed`` true/false;
* the five variation columns: items joined by ``", "``, split on ``,`` (the real export's
  separator is not documented; a comma never occurs inside one name variant);
* ``memory_book``/``memory_book_url`` -> ``source``/``source_url``; a URL under
  :data:`SYNTHETIC_URL_PREFIX` marks generated data (``synthetic: true``), so synthetic rows
  stay marked after a trip through TSV, which has no column for it.

:func:`format_row` is the inverse of :func:`parse_row` for every body it accepts:
``parse_row(format_row(b))`` gives back ``b``. It raises ``LocalError("tsv.unrepresentable")``
for a body the format cannot carry (a comma inside a variant, a text ``None``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from samizdat_protocol.encoding import Value
from samizdat_protocol.errors import LocalError, SchemaError
from samizdat_protocol.partial_dates import memorial_date_to_iso, parse_memorial_date_full
from samizdat_protocol.schema import TEXT_LIMITS, clean_list, clean_text

__all__ = [
    "COLUMNS",
    "HEADER",
    "RECORD_ID_PREFIX",
    "SYNTHETIC_URL_PREFIX",
    "format_row",
    "is_header",
    "parse_row",
    "read_cell",
    "record_id_for",
    "split_line",
]

RECORD_ID_PREFIX = "memo2007:"
SYNTHETIC_URL_PREFIX = "https://synthetic.invalid/"  # RFC 2606: .invalid never resolves

_TEXT, _DATE, _BIRTH, _AGE, _SEX, _BOOL, _LIST, _ID = range(8)

# (column, kind, body field), in the export's order (memorial-data.md, "The 2007 export").
_SPEC: tuple[tuple[str, int, str], ...] = (
    ("person_id", _ID, "source_id"), ("surname", _TEXT, "surname"), ("name", _TEXT, "name"),
    ("patronimic", _TEXT, "patronymic"), ("birth_year", _BIRTH, "birth"),
    ("birth_year_comment", _TEXT, "birth_comment"), ("age", _AGE, "age"), ("sex", _SEX, "sex"),
    ("birth_place", _TEXT, "birth_place"), ("nation", _TEXT, "nation"),
    ("citizenship", _TEXT, "citizenship"), ("occupation", _TEXT, "occupation"),
    ("live_place", _TEXT, "live_place"), ("education", _TEXT, "education"),
    ("party", _TEXT, "party"), ("family", _TEXT, "family"),
    ("arest_date", _DATE, "arrest_date"), ("arest_organ", _TEXT, "arrest_organ"),
    ("arest_type", _TEXT, "arrest_type"), ("criminal_case", _TEXT, "criminal_case"),
    ("judicial_organ", _TEXT, "judicial_organ"), ("process_date", _DATE, "process_date"),
    ("criminal_article", _TEXT, "criminal_article"), ("sentence", _TEXT, "sentence"),
    ("was_executed", _BOOL, "executed"), ("death_place", _TEXT, "death_place"),
    ("death_date", _DATE, "death_date"), ("previous_repression", _TEXT, "previous_repression"),
    ("next_repression", _TEXT, "next_repression"),
    ("rehabilitation_organ", _TEXT, "rehabilitation_organ"),
    ("rehabilitation_reason", _TEXT, "rehabilitation_reason"),
    ("rehabilitation_date", _DATE, "rehabilitation_date"),
    ("all_name_variations", _LIST, "all_name_variations"),
    ("name_variations", _LIST, "name_variations"),
    ("surname_variations", _LIST, "surname_variations"),
    ("patronimic_variations", _LIST, "patronymic_variations"),
    ("fullname_variations", _LIST, "fullname_variations"),
    ("memory_book", _TEXT, "source"), ("memory_book_url", _TEXT, "source_url"),
)  # fmt: skip
COLUMNS: tuple[str, ...] = tuple(column for column, _, _ in _SPEC)
HEADER = "\t".join(COLUMNS)
# Body field -> export column, for error messages (a verbatim field comes from its column).
_COLUMN_OF = {field: column for column, _, field in _SPEC} | {
    f"{field}_verbatim": column for column, kind, field in _SPEC if kind in (_DATE, _BIRTH, _AGE)
}

_TEXT_COLUMNS = tuple(
    (i, field, TEXT_LIMITS[field]) for i, (_, kind, field) in enumerate(_SPEC) if kind == _TEXT
)
_OTHER_COLUMNS = tuple(
    (i, column, kind, field) for i, (column, kind, field) in enumerate(_SPEC) if kind != _TEXT
)

_AGE_TEXT = re.compile(r"([0-9]{1,3})\s*(?:лет|л\.?|г\.?|года|год)?", re.IGNORECASE)
_SEX_IN = {"м": "m", "ж": "f", "m": "m", "f": "f"}
_SEX_OUT = {"m": "м", "f": "ж"}
_DIGITS = re.compile(r"[0-9]{1,20}")


def split_line(line: str) -> list[str]:
    """The fields of one line of the export (its line ending removed)."""
    return line.rstrip("\r\n").split("\t")


def is_header(fields: Sequence[str]) -> bool:
    """Whether ``fields`` is the export's header row."""
    return tuple(fields) == COLUMNS


def record_id_for(body: Mapping[str, Any]) -> str:
    """The project's record id for a 2007-export body: ``memo2007:<person_id>``."""
    source_id = body.get("source_id")
    if not isinstance(source_id, str) or not source_id:
        raise LocalError("record.no_source_id", "body has no source_id to name the record by")
    return RECORD_ID_PREFIX + source_id


def _fail(line: int, column: str | None, code: str, message: str) -> SchemaError:
    where = f"line {line}" if column is None else f"line {line}, column {column}"
    return SchemaError(code, f"{where}: {message}", field=column, line=line, column=column)


def _read_age(raw: str, body: dict[str, Value]) -> None:
    match = _AGE_TEXT.fullmatch(raw.strip())
    if match is not None and int(match[1]) <= 130:
        body["age"] = int(match[1])
    else:
        body["age_verbatim"] = clean_text("age_verbatim", raw, TEXT_LIMITS["age_verbatim"])


def _unquote(raw: str) -> str:
    # The export's stray leading quote: an unbalanced '"' at the start is an artefact.
    return raw[1:] if raw[:1] == '"' and raw.count('"') % 2 else raw


def parse_row(fields: Sequence[str], *, line: int) -> tuple[str, dict[str, Value]]:
    """One export row -> (record id, validated body); ``SchemaError`` names line and column.

    The body is built field by field with the schema's own rules (``clean_text``,
    ``clean_list``; dates, age, sex and flags are valid by construction), so it equals
    ``validate_victim(body, strict=True)`` without a second pass over the fields.
    """
    if len(fields) != len(_SPEC):
        raise _fail(
            line, None, "schema.column_count", f"{len(fields)} columns, expected {len(_SPEC)}"
        )
    body: dict[str, Value] = {}
    try:
        _read_texts(fields, body)
        _read_others(fields, body, line)
    except SchemaError as exc:
        if exc.details.get("line") is not None:
            raise
        raise _fail(line, _COLUMN_OF.get(exc.field or ""), exc.code, exc.message) from exc
    if "surname" not in body:
        raise _fail(line, "surname", "schema.required", "surname is required")
    url = body.get("source_url")
    if isinstance(url, str) and url.startswith(SYNTHETIC_URL_PREFIX):
        body["synthetic"] = True
    return RECORD_ID_PREFIX + body["source_id"], body


def _read_texts(fields: Sequence[str], body: dict[str, Value]) -> None:
    # Free-text columns are most of the row: one tight loop.
    for index, field, limit in _TEXT_COLUMNS:
        raw = fields[index]
        if raw == "None" or not raw:
            continue
        if raw[0] == '"':
            raw = _unquote(raw)
            if raw == "None":
                continue
        text = clean_text(field, raw, limit)
        if text:
            body[field] = text


def _read_others(fields: Sequence[str], body: dict[str, Value], line: int) -> None:
    for index, _column, kind, field in _OTHER_COLUMNS:
        raw = fields[index]
        if raw == "None":
            continue
        raw = _unquote(raw)
        if not raw.strip() or raw == "None":
            continue
        read_cell(kind, field, raw, body)
    if "source_id" not in body:
        raise _fail(line, "person_id", "schema.required", "person_id is missing")


def read_cell(kind: int, field: str, raw: str, body: dict[str, Value]) -> None:
    """One structured cell (not blank, not ``None``, stray quote removed) into ``body``;
    ``SchemaError`` names the body field (parse_row turns it into the column)."""
    if kind in (_DATE, _BIRTH):
        iso, verbatim = memorial_date_to_iso(raw)
        if iso is not None:
            body[field] = iso
        if verbatim is not None:
            key = field + "_verbatim"
            body[key] = clean_text(key, verbatim, TEXT_LIMITS[key])
    elif kind == _LIST:
        items = clean_list(field, raw.split(","))
        if items:
            body[field] = items
    elif kind == _AGE:
        _read_age(raw, body)
    elif kind == _SEX:
        sex = _SEX_IN.get(raw.strip().lower())
        if sex is None:
            raise SchemaError("schema.enum", f"{raw!r} is not м/ж", field=field)
        body[field] = sex
    elif kind == _BOOL:
        flag = raw.strip().upper()
        if flag not in ("T", "F"):
            raise SchemaError("schema.enum", f"{raw!r} is not T/F", field=field)
        body[field] = flag == "T"
    else:  # _ID
        raw = raw.strip()
        if not _DIGITS.fullmatch(raw):
            raise SchemaError("schema.person_id", f"{raw!r} is not a number", field=field)
        body[field] = raw


def _unrepresentable(field: str, why: str) -> LocalError:
    return LocalError("tsv.unrepresentable", f"{field}: {why}", field=field)


def _iso_to_memorial(iso: str, bare_year: bool) -> str:
    # format_memorial_date on a valid body's YYYY, YYYY-MM or YYYY-MM-DD, by slicing: the
    # export writes day and month without zeros and the year with four digits.
    if len(iso) == 4:
        return iso if bare_year else "_._." + iso
    month = str(int(iso[5:7]))
    if len(iso) == 7:
        return f"_.{month}.{iso[:4]}"
    return f"{int(iso[8:10])}.{month}.{iso[:4]}"


def _format_text(field: str, value: object) -> str:
    if not isinstance(value, str) or value == "None":
        raise _unrepresentable(field, f"{value!r} cannot be written")
    if value[:1] == '"' and value.count('"') % 2:
        raise _unrepresentable(field, "an unbalanced leading quote reads as a stray quote")
    if "\t" in value or "\n" in value or "\r" in value:
        raise _unrepresentable(field, "tabs and line breaks cannot be written")
    return value


def _format_verbatim(body: Mapping[str, Any], kind: int, field: str) -> str:
    text = _format_text(field + "_verbatim", body[field + "_verbatim"])
    if kind == _AGE:
        age = _AGE_TEXT.fullmatch(text)
        if "age" in body or (age is not None and int(age[1]) <= 130):
            raise _unrepresentable("age_verbatim", "would read back as a plain age")
        return text
    date, verbatim = parse_memorial_date_full(text)
    if verbatim != text or (None if date is None else date.iso()) != body.get(field):
        raise _unrepresentable(field + "_verbatim", "does not read back as the stored date")
    return text


def format_row(body: Mapping[str, Any]) -> list[str]:
    """A valid, normalised body -> its 39 export fields (no stray quotes: see the writer)."""
    row: list[str] = []
    for _column, kind, field in _SPEC:
        if kind in (_DATE, _BIRTH, _AGE) and field + "_verbatim" in body:
            row.append(_format_verbatim(body, kind, field))
            continue
        value = body.get(field)
        if value is None:
            if kind == _ID:
                raise _unrepresentable(field, "a row needs a person_id")
            row.append("None")
        elif kind == _TEXT:
            row.append(_format_text(field, value))
        elif kind in (_DATE, _BIRTH):
            row.append(_iso_to_memorial(value, kind == _BIRTH))
        elif kind == _LIST:
            if any("," in item for item in value):
                raise _unrepresentable(field, "a variant containing a comma")
            row.append(_format_text(field, ", ".join(value)))
        elif kind == _AGE:
            row.append(str(value))
        elif kind == _SEX:
            row.append(_SEX_OUT[value])
        elif kind == _BOOL:
            row.append("T" if value else "F")
        else:  # _ID
            if not isinstance(value, str) or not _DIGITS.fullmatch(value):
                raise _unrepresentable(field, "the export's person_id is a number")
            row.append(value)
    url = body.get("source_url")
    marked = isinstance(url, str) and url.startswith(SYNTHETIC_URL_PREFIX)
    if marked != (body.get("synthetic") is True):
        raise _unrepresentable(
            "synthetic", f"synthetic data must have, and only it, a {SYNTHETIC_URL_PREFIX} URL"
        )
    return row
