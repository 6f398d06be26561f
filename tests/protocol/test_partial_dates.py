"""Partial dates: the stored ISO form, the 2007 export's form, and the never-invent rule."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_protocol.errors import LocalError, SchemaError
from samizdat_protocol.partial_dates import (
    ParsedDate,
    PartialDate,
    check_iso,
    format_memorial_date,
    memorial_date_to_iso,
    parse_memorial_date,
    parse_memorial_date_full,
    render_en,
    render_ru,
)


@st.composite
def partial_dates(draw: st.DrawFn) -> PartialDate:
    year = draw(st.integers(1, 9999))
    precision = draw(st.sampled_from(["year", "month", "day"]))
    if precision == "year":
        return PartialDate(year)
    month = draw(st.integers(1, 12))
    if precision == "month":
        return PartialDate(year, month)
    day = draw(st.integers(1, 31).filter(lambda d: _real(year, month, d)))
    return PartialDate(year, month, day)


def _real(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


# -- the stored form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1938-11-12", PartialDate(1938, 11, 12)),
        ("1939-05", PartialDate(1939, 5)),
        ("1939", PartialDate(1939)),
        ("2000-02-29", PartialDate(2000, 2, 29)),
        ("0001", PartialDate(1)),
    ],
)
def test_from_iso_reads_the_three_precisions(text: str, expected: PartialDate) -> None:
    assert PartialDate.from_iso(text) == expected
    assert expected.iso() == text


@pytest.mark.parametrize(
    "text",
    [
        "", "38", "1938-1-12", "1938-13", "1938-00", "1938-02-30", "1900-02-29", "1938-11-00",
        "0000", "1938-11-12 ", " 1938", "1938/11/12", "19381112", "12.11.1938", "1938-11-12T00",
        "\uff11\uff19\uff13\uff18", "١٩٣٨", "1938--11",
    ],
)  # fmt: skip
def test_from_iso_is_strict(text: str) -> None:
    with pytest.raises(SchemaError) as caught:
        PartialDate.from_iso(text)
    assert caught.value.code == "schema.date"
    with pytest.raises(SchemaError):
        check_iso(text)


@pytest.mark.parametrize(
    ("year", "month", "day"),
    [(0, None, None), (10000, None, None), (1938, None, 12), (1938, 13, None), (1938, 2, 30)],
)
def test_constructor_refuses_impossible_dates(
    year: int, month: int | None, day: int | None
) -> None:
    with pytest.raises(LocalError):
        PartialDate(year, month, day)


@given(partial_dates())
def test_iso_round_trip(date: PartialDate) -> None:
    assert PartialDate.from_iso(date.iso()) == date


@given(st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32))
@example(1900, 2, 29).via("not a leap year: divisible by 100")
@example(2000, 2, 29).via("a leap year: divisible by 400")
def test_from_iso_knows_the_calendar(year: int, month: int, day: int) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    valid = 1 <= month <= 12 and _real(year, month, day)
    if valid:
        assert PartialDate.from_iso(text) == PartialDate(year, month, day)
    else:
        with pytest.raises(SchemaError):
            PartialDate.from_iso(text)


def test_sort_key_puts_unknown_parts_first() -> None:
    dates = [
        PartialDate(1938, 5, 2),
        PartialDate(1938),
        PartialDate(1937, 12),
        PartialDate(1938, 5),
    ]
    assert sorted(dates, key=PartialDate.sort_key) == [
        PartialDate(1937, 12), PartialDate(1938), PartialDate(1938, 5), PartialDate(1938, 5, 2)
    ]  # fmt: skip
    assert [d.precision for d in dates] == ["day", "year", "month", "month"]


# -- the 2007 export's form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date", "verbatim"),
    [
        ("12.11.1938", PartialDate(1938, 11, 12), None),
        ("01.02.1938", PartialDate(1938, 2, 1), None),
        ("_.5.1939", PartialDate(1939, 5), None),
        ("__.05.1939", PartialDate(1939, 5), None),
        ("5.1939", PartialDate(1939, 5), None),
        ("1939", PartialDate(1939), None),
        ("_._.1939", PartialDate(1939), None),
        ("__.__.1939", PartialDate(1939), None),
        (" 1939 ", PartialDate(1939), None),
        (None, None, None),
        ("None", None, None),
        ("", None, None),
        ("   ", None, None),
        ("_._._", None, None),
        # not expressible in ISO reduced precision: keep what is certain, and the text
        ("12._.1938", PartialDate(1938), "12._.1938"),
        ("12.11._", None, "12.11._"),
        ("_.11._", None, "_.11._"),
        ("31.2.1938", PartialDate(1938, 2), "31.2.1938"),
        ("29.2.1900", PartialDate(1900, 2), "29.2.1900"),
        ("0.5.1938", PartialDate(1938, 5), "0.5.1938"),
        ("13.1938", PartialDate(1938), "13.1938"),
        ("12.13.1938", PartialDate(1938), "12.13.1938"),
        ("0000", None, "0000"),
        ("12.11.38", None, "12.11.38"),
        ("1937-1938", None, "1937-1938"),
        ("около 1900", None, "около 1900"),
        ("1.2.3.1938", None, "1.2.3.1938"),
    ],
)
def test_parse_memorial_dates(
    text: str | None, date: PartialDate | None, verbatim: str | None
) -> None:
    assert parse_memorial_date_full(text) == ParsedDate(date, verbatim)
    if text is not None:
        iso = None if date is None else date.iso()
        assert memorial_date_to_iso(text) == (iso, verbatim)
    if verbatim is None:
        assert parse_memorial_date(text) == date
    else:
        with pytest.raises(SchemaError) as caught:
            parse_memorial_date(text)
        assert caught.value.code == "schema.date_inexact"


@pytest.mark.parametrize(
    ("date", "bare", "text"),
    [
        (PartialDate(1938, 11, 12), False, "12.11.1938"),
        (PartialDate(1939, 5), False, "_.5.1939"),
        (PartialDate(1939), False, "_._.1939"),
        (PartialDate(1939), True, "1939"),
        (PartialDate(1939, 5), True, "_.5.1939"),
    ],
)
def test_format_memorial_date(date: PartialDate, bare: bool, text: str) -> None:
    assert format_memorial_date(date, bare_year=bare) == text


@given(partial_dates(), st.booleans())
def test_parse_of_format_is_identity(date: PartialDate, bare: bool) -> None:
    text = format_memorial_date(date, bare_year=bare)
    assert parse_memorial_date(text) == date
    assert parse_memorial_date_full(text) == ParsedDate(date, None)


_NUMBER = st.integers(0, 40).map(str) | st.integers(0, 40).map(lambda n: f"{n:02d}")
_PART = st.one_of(st.none(), st.sampled_from(["_", "__"]), _NUMBER)
_YEAR = st.sampled_from(["_", "____"]) | st.integers(0, 9999).map(lambda n: f"{n:04d}")


def _known(part: str | None) -> int | None:
    return None if part is None or part.startswith("_") else int(part)


@given(_PART, _PART, _YEAR)
@example("12", "_", "1938").via("day without month")
@example("31", "2", "1938").via("no such day")
@example(None, "_", "____").via("nothing known")
def test_never_more_precision_out_than_in(day: str | None, month: str | None, year: str) -> None:
    if day is not None and month is None:
        month, day = day, None  # two parts are month.year
    text = ".".join(p for p in (day, month, year) if p is not None)
    date, verbatim = parse_memorial_date_full(text)
    y, m, d = _known(year), _known(month), _known(day)
    if date is not None:
        assert date.year == y
        assert date.month is None or date.month == m
        assert date.day is None or date.day == d
    if verbatim is None:  # exact: every known part survived
        got = (None, None, None) if date is None else (date.year, date.month, date.day)
        assert got == (y, m, d)
    else:
        assert verbatim == text
    assert memorial_date_to_iso(text) == (None if date is None else date.iso(), verbatim)


@given(st.text())
def test_parsing_any_text_never_fails(text: str) -> None:
    date, verbatim = parse_memorial_date_full(text)
    assert verbatim is None or verbatim == text.strip()
    if date is not None and verbatim is None:
        assert parse_memorial_date_full(format_memorial_date(date)) == (date, None)


# -- rendering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "event", "field", "english"),
    [
        (PartialDate(1938, 11, 12), "12 ноября 1938 г.", "12 ноября 1938 г.", "12 November 1938"),
        (PartialDate(1939, 5), "в мае 1939 г.", "май 1939 г.", "May 1939"),
        (PartialDate(1939), "в 1939 г.", "1939 г.", "1939"),
        (PartialDate(1937, 8, 25), "25 августа 1937 г.", "25 августа 1937 г.", "25 August 1937"),
    ],
)
def test_render(date: PartialDate, event: str, field: str, english: str) -> None:
    assert render_ru(date) == event
    assert render_ru(date, kind="event") == event
    assert render_ru(date, kind="field") == field
    assert render_en(date) == english


def test_render_refuses_an_unknown_kind() -> None:
    with pytest.raises(LocalError):
        render_ru(PartialDate(1939), kind="genitive")  # type: ignore[arg-type]


_MONTHS_EN = {
    datetime.date(2000, number, 1).strftime("%B"): number for number in range(1, 13)
}  # the C locale's English month names


@given(partial_dates())
def test_render_en_says_exactly_what_is_known(date: PartialDate) -> None:
    words = render_en(date).split()
    assert int(words[-1]) == date.year
    month = _MONTHS_EN[words[-2]] if len(words) > 1 else None
    day = int(words[0]) if len(words) == 3 else None
    assert (month, day) == (date.month, date.day)


@given(partial_dates())
def test_render_ru_says_exactly_what_is_known(date: PartialDate) -> None:
    words = render_ru(date, kind="field").split()
    assert words[-2:] == [str(date.year), "г."]
    assert len(words) == {"year": 2, "month": 3, "day": 4}[date.precision]
    if date.day is not None:
        assert words[0] == str(date.day)
