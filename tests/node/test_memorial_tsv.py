"""The 2007 export's rows to bodies and back (memorial-data.md, "The 2007 export")."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_node.importers.memorial_tsv import (
    COLUMNS,
    HEADER,
    SYNTHETIC_URL_PREFIX,
    format_row,
    is_header,
    parse_row,
    record_id_for,
    split_line,
)
from samizdat_node.sample import generate_records, write_memorial_tsv
from samizdat_protocol.errors import LocalError, SchemaError
from samizdat_protocol.schema import validate_victim

DOC_COLUMNS = [
    "person_id",
    "surname",
    "name",
    "patronimic",
    "birth_year",
    "birth_year_comment",
    "age",
    "sex",
    "birth_place",
    "nation",
    "citizenship",
    "occupation",
    "live_place",
    "education",
    "party",
    "family",
    "arest_date",
    "arest_organ",
    "arest_type",
    "criminal_case",
    "judicial_organ",
    "process_date",
    "criminal_article",
    "sentence",
    "was_executed",
    "death_place",
    "death_date",
    "previous_repression",
    "next_repression",
    "rehabilitation_organ",
    "rehabilitation_reason",
    "rehabilitation_date",
    "all_name_variations",
    "name_variations",
    "surname_variations",
    "patronimic_variations",
    "fullname_variations",
    "memory_book",
    "memory_book_url",
]


def test_columns_are_the_exports_39_in_order() -> None:
    assert list(COLUMNS) == DOC_COLUMNS
    assert len(COLUMNS) == 39
    assert HEADER.split("\t") == DOC_COLUMNS
    assert is_header(split_line(HEADER + "\r\n"))
    assert not is_header(["person_id"])


def _row(**values: str) -> list[str]:
    row = ["None"] * len(COLUMNS)
    for column, value in values.items():
        row[COLUMNS.index(column)] = value
    return row


def test_a_row_like_the_real_export() -> None:
    row = _row(
        person_id="2918034", surname='"Ифлянд (Инфлянд)', name="Михаил", patronimic="Львович",
        birth_year="1893", sex="м", birth_place="Витебская губ., Полоцкий у., м. Ушачи",
        nation="еврей", occupation='"Заготзерно", счетовод', party="б/п",
        arest_date="25.8.1937", judicial_organ="ВК ВС СССР", process_date="_.10.1937",
        criminal_article="58-7, 58-8 УК РСФСР", sentence="ВМН", was_executed="T",
        death_place="Коммунарка", death_date="_._.1937", rehabilitation_date="18.5.1957",
        surname_variations="Инфлянд, Ифлянт, Инфлянд", fullname_variations="Инфлянд Михаил Львович",
        memory_book="Расстрельные списки. Москва", memory_book_url="http://example.org/book",
    )  # fmt: skip
    record_id, body = parse_row(row, line=7)
    assert record_id == "memo2007:2918034"
    assert body == {
        "source_id": "2918034", "surname": "Ифлянд (Инфлянд)", "name": "Михаил",
        "patronymic": "Львович", "birth": "1893", "sex": "m",
        "birth_place": "Витебская губ., Полоцкий у., м. Ушачи", "nation": "еврей",
        "occupation": '"Заготзерно", счетовод', "party": "б/п", "arrest_date": "1937-08-25",
        "judicial_organ": "ВК ВС СССР", "process_date": "1937-10",
        "criminal_article": "58-7, 58-8 УК РСФСР", "sentence": "ВМН", "executed": True,
        "death_place": "Коммунарка", "death_date": "1937", "rehabilitation_date": "1957-05-18",
        "surname_variations": ["Инфлянд", "Ифлянт"],
        "fullname_variations": ["Инфлянд Михаил Львович"],
        "source": "Расстрельные списки. Москва", "source_url": "http://example.org/book",
    }  # fmt: skip
    assert validate_victim(body, strict=True) == body
    assert record_id_for(body) == record_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"Иванов', "Иванов"),  # the stray quote
        ('колхоз "Заря"', 'колхоз "Заря"'),  # balanced quotes are data
        ('"Заря" колхоз', '"Заря" колхоз'),
        ('""Заря" колхоз', '"Заря" колхоз'),
        ('колхоз "Заря', 'колхоз "Заря'),  # odd, but not leading: left alone
        ('"None', None),
        ('"', None),
        ("None", None),
        ("", None),
        ("  ", None),
    ],
)
def test_stray_quotes_and_empty_values(raw: str, expected: str | None) -> None:
    _, body = parse_row(_row(person_id="1", surname="Иванов", occupation=raw), line=1)
    assert body.get("occupation") == expected


@pytest.mark.parametrize(
    ("column", "raw", "fields"),
    [
        ("arest_date", "12._.1938", {"arrest_date": "1938", "arrest_date_verbatim": "12._.1938"}),
        ("death_date", "12.11._", {"death_date_verbatim": "12.11._"}),
        ("process_date", "_._._", {}),
        ("process_date", '"12.11.1938', {"process_date": "1938-11-12"}),
        ("birth_year", "1899", {"birth": "1899"}),
        ("birth_year", "1899-1900", {"birth_verbatim": "1899-1900"}),
        ("age", "35", {"age": 35}),
        ("age", "35 лет", {"age": 35}),
        ("age", "около 40", {"age_verbatim": "около 40"}),
        ("age", "300", {"age_verbatim": "300"}),
        ("sex", "Ж", {"sex": "f"}),
        ("sex", "m", {"sex": "m"}),
        ("was_executed", "F", {"executed": False}),
        ("was_executed", "t", {"executed": True}),
        ("name_variations", "Иван, , Иоанн,Иван", {"name_variations": ["Иван", "Иоанн"]}),
        ("memory_book_url", SYNTHETIC_URL_PREFIX + "x", {"source_url": SYNTHETIC_URL_PREFIX + "x",
                                                         "synthetic": True}),
    ],
)  # fmt: skip
def test_column_conversions(column: str, raw: str, fields: dict[str, Any]) -> None:
    _, body = parse_row(_row(person_id="5", surname="Иванов", **{column: raw}), line=1)
    assert body == {"source_id": "5", "surname": "Иванов", **fields}
    assert validate_victim(body, strict=True) == body


@pytest.mark.parametrize(
    ("row", "code", "column"),
    [
        (["1", "Иванов"], "schema.column_count", None),
        ([*_row(person_id="1", surname="Иванов"), "None"], "schema.column_count", None),
        (_row(surname="Иванов"), "schema.required", "person_id"),
        (_row(person_id="1"), "schema.required", "surname"),
        (_row(person_id="1a", surname="Иванов"), "schema.person_id", "person_id"),
        (_row(person_id="1", surname="Иванов", was_executed="Да"), "schema.enum", "was_executed"),
        (_row(person_id="1", surname="Иванов", sex="муж."), "schema.enum", "sex"),
        (_row(person_id="1", surname="И" * 256), "schema.too_long", "surname"),
        (_row(person_id="1", surname="Иванов", sentence="ВМН\x01"), "schema.control_char",
         "sentence"),
        (_row(person_id="1", surname="Иванов", arest_date="1" * 300), "schema.too_long",
         "arest_date"),
        (_row(person_id="1", surname="Иванов", name_variations=",".join(map(str, range(40)))),
         "schema.too_many", "name_variations"),
    ],
)  # fmt: skip
def test_bad_rows_name_line_and_column(row: list[str], code: str, column: str | None) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_row(row, line=42)
    error = caught.value
    assert (error.code, error.details["line"], error.details["column"]) == (code, 42, column)
    assert "line 42" in str(error)
    if column is not None:
        assert column in str(error)


def test_generated_records_survive_the_export() -> None:
    bodies = list(generate_records(3000, seed=5))
    out = io.StringIO()
    assert write_memorial_tsv(bodies, out, stray_quote_rate=0.3, seed=1) == len(bodies)
    lines = out.getvalue().split("\n")
    assert lines[-1] == ""
    assert is_header(split_line(lines[0]))
    assert sum(line.count('\t"') for line in lines) > 500  # the stray quotes were written
    for number, (line, body) in enumerate(zip(lines[1:-1], bodies, strict=True), start=2):
        record_id, parsed = parse_row(split_line(line), line=number)
        assert (record_id, parsed) == (record_id_for(body), body)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"surname_variations": ["Иванов, Иваноф"]}, "surname_variations"),
        ({"name": "None"}, "name"),
        ({"name_variations": ["None"]}, "name_variations"),
        ({"occupation": '"Заря колхоз'}, "occupation"),
        ({"source_id": "ab12"}, "source_id"),
        ({"source_id": None}, "source_id"),
        ({"synthetic": True}, "synthetic"),
        ({"source_url": SYNTHETIC_URL_PREFIX + "x"}, "synthetic"),
        ({"age": 40, "age_verbatim": "около 40"}, "age_verbatim"),
        ({"age_verbatim": "40 лет"}, "age_verbatim"),
        ({"birth_verbatim": "1899"}, "birth_verbatim"),
        ({"birth": "1898", "birth_verbatim": "1899-1900"}, "birth_verbatim"),
    ],
)
def test_what_the_export_cannot_carry_is_refused(changes: dict[str, Any], field: str) -> None:
    body = {"surname": "Иванов", "source_id": "1", **changes}
    body = {key: value for key, value in body.items() if value is not None}
    with pytest.raises(LocalError) as caught:
        format_row(body)
    assert (caught.value.code, caught.value.details["field"]) == ("tsv.unrepresentable", field)


# -- laws --------------------------------------------------------------------------------------

_WORD = st.text(st.sampled_from('Иванов ё"(),.-_19'), min_size=1, max_size=8)
_ISO = st.sampled_from(["1938-11-12", "1939-05", "1939", "0999", "2000-02-29"])
_BODY = st.fixed_dictionaries(
    {"surname": _WORD, "source_id": st.integers(0, 10**12).map(str)},
    optional={
        "name": _WORD, "patronymic": _WORD, "birth": _ISO, "arrest_date": _ISO,
        "birth_comment": _WORD, "age": st.integers(0, 130), "sex": st.sampled_from("mf"),
        "executed": st.booleans(), "death_date_verbatim": st.sampled_from(["1.2._", "x"]),
        "process_date_verbatim": st.sampled_from(["12._.1939", "31.2.1938"]),
        "surname_variations": st.lists(_WORD, max_size=3),
        "source_url": st.sampled_from(["http://a.b/c", SYNTHETIC_URL_PREFIX + "b"]),
        "synthetic": st.just(True),
    },
)  # fmt: skip


@given(_BODY)
@example({"surname": "1", "source_id": "1", "process_date_verbatim": "12._.1939",
          "process_date": "1939"}).via("a date with its verbatim text")  # fmt: skip
def test_format_then_parse_is_identity_or_refused(raw: dict[str, Any]) -> None:
    try:
        body = validate_victim(raw)
    except SchemaError:
        return
    try:
        row = format_row(body)
    except LocalError as error:
        assert error.code == "tsv.unrepresentable"
        return
    assert len(row) == len(COLUMNS)
    assert parse_row(row, line=1) == ("memo2007:" + body["source_id"], body)


_CELL = st.sampled_from(["None", "", '"', "1", "12.11.1938", "_.5.1939", "T", "м", "а, б"]) | (
    st.text(st.sampled_from('Иваноё"(),._-1 \t'), max_size=6)
)


@given(st.lists(_CELL, min_size=len(COLUMNS), max_size=len(COLUMNS)))
def test_any_row_gives_a_valid_body_or_a_schema_error(row: list[str]) -> None:
    try:
        record_id, body = parse_row(row, line=3)
    except SchemaError as error:
        assert error.details["line"] == 3
        return
    assert validate_victim(body, strict=True) == body
    assert record_id == record_id_for(body)
