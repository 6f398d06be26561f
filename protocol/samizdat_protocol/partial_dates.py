"""Partial dates: a date known to the year, the month or the day, never more (memorial-data.md).

Memorial's records give many dates only in part: a birth year, an arrest "in May 1939". A partial
date must stay partial, so this module never invents a day or a month.

Stored form (the record body, schema ``memorial.victim/1``): an ISO 8601 calendar date in
reduced precision (ISO 8601-1:2019 §5.2.2.2): ``"1938-11-12"``, ``"1939-05"``, ``"1939"``.
Year 0001..9999, always four digits, zero-padded month and day, a real calendar day
(proleptic Gregorian). Nothing else is accepted by :meth:`PartialDate.from_iso`.

Source form (the 2007 export, ``D.M.YYYY`` with ``_`` for an unknown part): ``12.11.1938``,
``_.5.1939`` or ``5.1939`` (May 1939), ``_._.1939``, ``__.__.1939`` or ``1939`` (the year), and
``None`` or an empty string for "no date". Shapes that ISO reduced precision cannot express
keep only what *is* expressible and report the original text beside it (``verbatim``), so an
importer can store it in the record's ``<field>_verbatim`` field:

* day known, month unknown (``12._.1938``)        -> year 1938, verbatim ``"12._.1938"``;
* month or day out of range (``31.2.1938``, ``13.1938``) -> the coarser valid part + verbatim;
* year unknown (``12.11._``) or any other text (``1937-1938``, ``около 1900``) -> no date,
  verbatim kept;
* every part unknown (``_._._``) -> no date and nothing to keep (it says nothing).

:func:`parse_memorial_date_full` never fails and returns both; :func:`parse_memorial_date`
returns only exact readings and raises :class:`~samizdat_protocol.errors.SchemaError`
(``schema.date_inexact``) where information would be lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

from .errors import LocalError, SchemaError

__all__ = [
    "ParsedDate",
    "PartialDate",
    "check_iso",
    "format_memorial_date",
    "memorial_date_to_iso",
    "parse_memorial_date",
    "parse_memorial_date_full",
    "render_en",
    "render_ru",
]

_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


def _problem(year: int, month: int | None, day: int | None) -> str | None:
    """Why (year, month, day) is not a valid partial date, or None if it is."""
    if type(year) is not int or not 1 <= year <= 9999:
        return f"year {year!r} is outside 1..9999"
    if month is None:
        return None if day is None else "a day needs a month (ISO 8601 has no day-without-month)"
    if type(month) is not int or not 1 <= month <= 12:
        return f"month {month!r} is outside 1..12"
    if day is None:
        return None
    if type(day) is not int or not 1 <= day <= _days_in_month(year, month):
        return f"day {day!r} does not exist in {year:04d}-{month:02d}"
    return None


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A calendar date known to the year, the month or the day (``day`` implies ``month``)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        problem = _problem(self.year, self.month, self.day)
        if problem is not None:
            raise LocalError("date.invalid", f"invalid partial date: {problem}")

    @property
    def precision(self) -> Literal["year", "month", "day"]:
        if self.day is not None:
            return "day"
        return "year" if self.month is None else "month"

    def iso(self) -> str:
        """ISO 8601 reduced-precision form: ``1938-11-12``, ``1939-05`` or ``1939``."""
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    @classmethod
    def from_iso(cls, text: str) -> PartialDate:
        """Parse the stored form strictly; raise ``SchemaError("schema.date")`` otherwise."""
        return cls(*_iso_parts(text))

    def sort_key(self) -> tuple[int, int, int]:
        """Order by what is known; an unknown part sorts before every known one."""
        return (self.year, self.month or 0, self.day or 0)


# [0-9], not \d: \d also matches other scripts' digits, which ISO 8601 does not allow.
_ISO = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
# D.M.YYYY, M.YYYY or YYYY, each part a number or underscores (unknown).
_MEMORIAL = re.compile(r"(?:([0-9]{1,2}|_+)\.([0-9]{1,2}|_+)\.|([0-9]{1,2}|_+)\.)?([0-9]{4}|_+)")
_ABSENT = frozenset({"", "None"})


# Dates repeat a great deal (a few tens of thousands of distinct days in the whole database),
# so the two hot readers below memoise; the caches are bounded and hold only pure results.
_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def _iso_reading(text: str) -> tuple[int, int | None, int | None] | str:
    """The parts of a stored date, or why it is not one."""
    match = _ISO.fullmatch(text)
    if match is None:
        return f"{text!r} is not YYYY, YYYY-MM or YYYY-MM-DD"
    year = int(match[1])
    month = None if match[2] is None else int(match[2])
    day = None if match[3] is None else int(match[3])
    problem = _problem(year, month, day)
    return (year, month, day) if problem is None else f"{text!r}: {problem}"


def _iso_parts(text: str) -> tuple[int, int | None, int | None]:
    reading = _iso_reading(text) if isinstance(text, str) else f"{text!r} is not a string"
    if isinstance(reading, str):
        raise SchemaError("schema.date", reading)
    return reading


def check_iso(text: str) -> None:
    """Raise ``SchemaError("schema.date")`` unless ``text`` is a valid stored partial date."""
    _iso_parts(text)


class ParsedDate(NamedTuple):
    """What a source date says: the exact-or-coarser date, and the text if it said more."""

    date: PartialDate | None
    verbatim: str | None


def _read(text: str) -> tuple[int | None, int | None, int | None, str | None]:
    """(year, month, day, verbatim) of stripped, non-empty source text; the reading rules."""
    match = _MEMORIAL.fullmatch(text)
    if match is None:
        return None, None, None, text
    day_text, month_text, lone_month, year_text = match.groups()
    day = None if day_text is None or day_text[0] == "_" else int(day_text)
    month_text = month_text or lone_month
    month = None if month_text is None or month_text[0] == "_" else int(month_text)
    if year_text[0] == "_":
        return None, None, None, (None if day is None and month is None else text)
    year = int(year_text)
    if _problem(year, None, None) is not None:
        return None, None, None, text
    if month is None or _problem(year, month, None) is not None:
        return year, None, None, (None if month is None and day is None else text)
    if day is None:
        return year, month, None, None
    if _problem(year, month, day) is not None:
        return year, month, None, text
    return year, month, day, None


def parse_memorial_date_full(text: str | None) -> ParsedDate:
    """Read a 2007-export date; never fails, never invents (see the module docstring)."""
    if text is None:
        return ParsedDate(None, None)
    text = text.strip()
    if text in _ABSENT:
        return ParsedDate(None, None)
    year, month, day, verbatim = _read(text)
    return ParsedDate(None if year is None else PartialDate(year, month, day), verbatim)


@lru_cache(maxsize=_CACHE)
def memorial_date_to_iso(text: str) -> tuple[str | None, str | None]:
    """:func:`parse_memorial_date_full` as (ISO text or None, verbatim): the importer's path."""
    text = text.strip()
    if text in _ABSENT:
        return None, None
    year, month, day, verbatim = _read(text)
    if year is None:
        return None, verbatim
    if month is None:
        return f"{year:04d}", verbatim
    if day is None:
        return f"{year:04d}-{month:02d}", verbatim
    return f"{year:04d}-{month:02d}-{day:02d}", verbatim


def parse_memorial_date(text: str | None) -> PartialDate | None:
    """Read a 2007-export date exactly; raise ``schema.date_inexact`` rather than lose text."""
    parsed = parse_memorial_date_full(text)
    if parsed.verbatim is not None:
        raise SchemaError(
            "schema.date_inexact",
            f"{parsed.verbatim!r} is not a date this format can store exactly",
            verbatim=parsed.verbatim,
        )
    return parsed.date


def format_memorial_date(date: PartialDate, *, bare_year: bool = False) -> str:
    """The 2007 export's form: ``12.11.1938``, ``_.5.1939``, ``_._.1939`` (or ``1939``).

    The export writes a year-only date as ``_._.1939`` in date columns and as ``1939`` in the
    ``birth_year`` column (``bare_year=True``); both parse back to the same date.
    """
    year = f"{date.year:04d}"  # the export's years are 1801..; a year is always four digits
    if date.month is None:
        return year if bare_year else f"_._.{year}"
    if date.day is None:
        return f"_.{date.month}.{year}"
    return f"{date.day}.{date.month}.{year}"


_RU_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
_RU_PREPOSITIONAL = (
    "январе", "феврале", "марте", "апреле", "мае", "июне",
    "июле", "августе", "сентябре", "октябре", "ноябре", "декабре",
)  # fmt: skip
_RU_NOMINATIVE = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def render_ru(date: PartialDate, *, kind: Literal["event", "field"] = "event") -> str:
    """Russian text at the date's own precision, as Memorial's pages write it.

    ``kind="event"`` fits after a verb ("Арестован …", "Родился …"):
    ``12 ноября 1938 г.``, ``в мае 1939 г.``, ``в 1939 г.``.
    ``kind="field"`` stands alone beside a label ("Дата ареста: …"):
    ``12 ноября 1938 г.``, ``май 1939 г.``, ``1939 г.``.
    """
    if kind not in ("event", "field"):
        raise LocalError("date.render_kind", f"unknown render kind {kind!r}")
    if date.month is None:
        return f"в {date.year} г." if kind == "event" else f"{date.year} г."
    if date.day is None:
        if kind == "event":
            return f"в {_RU_PREPOSITIONAL[date.month - 1]} {date.year} г."
        return f"{_RU_NOMINATIVE[date.month - 1]} {date.year} г."
    return f"{date.day} {_RU_GENITIVE[date.month - 1]} {date.year} г."


def render_en(date: PartialDate) -> str:
    """English text at the date's own precision: ``12 November 1938``, ``May 1939``, ``1939``."""
    if date.month is None:
        return str(date.year)
    if date.day is None:
        return f"{_EN[date.month - 1]} {date.year}"
    return f"{date.day} {_EN[date.month - 1]} {date.year}"
