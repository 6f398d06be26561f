"""The ``memorial.victim/1`` schema: accepted bodies, normalisation, and every refusal."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.errors import SchemaError
from samizdat_protocol.schema import (
    DATE_FIELDS,
    FIELDS,
    LIST_FIELDS,
    LIST_ITEM_LIMIT,
    LIST_LIMIT,
    SCHEMA_ID,
    SCHEMAS,
    TEXT_LIMITS,
    validate,
    validate_victim,
)

FULL: dict[str, Any] = {
    "surname": "Ифлянд (Инфлянд)",
    "name": "Михаил",
    "patronymic": "Львович",
    "birth": "1893",
    "birth_comment": "по другим данным 1892 г.р.",
    "sex": "m",
    "birth_place": "Витебская губ., Полоцкий у., м. Ушачи",
    "nation": "еврей",
    "citizenship": "СССР",
    "occupation": 'бухгалтер треста "Союззолото"',
    "live_place": "г. Москва, ул. Арбат, д. 12, кв. 5",
    "education": "среднее",
    "party": "член ВКП(б) с 1927",
    "family": "женат, двое детей",
    "arrest_date": "1937-08-25",
    "arrest_organ": "УНКВД по Московской обл.",
    "arrest_type": "арест",
    "criminal_case": "П-12345",
    "judicial_organ": "ВК ВС СССР",
    "process_date": "1937-10",
    "process_date_verbatim": "_.10.1937 (по другим данным 12._.1937)",
    "criminal_article": "58-7, 58-8, 58-11 УК РСФСР",
    "sentence": "ВМН",
    "executed": True,
    "death_place": "Коммунарка (Московская обл.)",
    "death_date": "1937",
    "previous_repression": "в 1930 г. выслан",
    "next_repression": "нет",
    "rehabilitation_organ": "ВК ВС СССР",
    "rehabilitation_reason": "за отсутствием состава преступления",
    "rehabilitation_date": "1957-05-18",
    "all_name_variations": ["Инфлянд", "Ифлянт"],
    "name_variations": ["Мовша"],
    "surname_variations": ["Инфлянд", "Ифлянт"],
    "patronymic_variations": ["Лейбович"],
    "fullname_variations": ["Инфлянд Михаил Львович"],
    "source": "Расстрельные списки. Москва, 1937-1941. «Коммунарка», Бутово",
    "source_url": "https://synthetic.invalid/memory-books/moscow-2",
    "source_id": "2918034",
    "synthetic": True,
}


def test_a_full_body_is_valid_normalised_and_encodable() -> None:
    out = validate_victim(FULL, strict=True)
    assert out == FULL
    assert decode(encode(out)) == FULL
    assert validate(SCHEMA_ID, FULL) == FULL
    assert FIELDS - set(FULL) == {
        "age", "age_verbatim", "birth_verbatim", "arrest_date_verbatim", "death_date_verbatim",
        "rehabilitation_date_verbatim",
    }  # fmt: skip


def test_the_smallest_body_is_a_surname() -> None:
    assert validate_victim({"surname": "Иванов"}) == {"surname": "Иванов"}
    assert validate_victim({"surname": "Ли", "age": 0, "executed": False}) == {
        "surname": "Ли", "age": 0, "executed": False
    }  # fmt: skip


def test_normalisation() -> None:
    body = {
        "surname": "  Иванов\u00a0",
        "name": "Андреи\u0306",  # decomposed й
        "patronymic": "   ",
        "nation": "",
        "birth": " 1899 ",
        "arrest_date": "",
        "name_variations": ("Андрей", " Андрей ", "", "Андреи\u0306", "Андрiй"),
        "surname_variations": [],
        "synthetic": False,
        "occupation": "колхоз\u00a0\u00a0«Заря»",
    }
    out = validate_victim(body)
    assert out == {
        "surname": "Иванов",
        "name": "Андрей",
        "birth": "1899",
        "name_variations": ["Андрей", "Андрiй"],
        "occupation": "колхоз\u00a0\u00a0«Заря»",
    }
    assert unicodedata.is_normalized("NFC", out["name"])
    assert validate_victim(out, strict=True) == out
    with pytest.raises(SchemaError) as caught:
        validate_victim(body, strict=True)
    assert caught.value.code == "schema.not_normalised"


def _refusal(body: object) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        validate_victim(body)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"colour": "red"}, "schema.unknown_field", "colour"),
        ({"Surname": "Иванов"}, "schema.unknown_field", "Surname"),
        ({"name": None}, "schema.null", "name"),
        ({"surname": None}, "schema.null", "surname"),
        ({"surname": "   "}, "schema.required", "surname"),
        ({"surname": 5}, "schema.type", "surname"),
        ({"surname": b"\xd0\x98"}, "schema.type", "surname"),
        ({"name": "Иван\tИванович"}, "schema.control_char", "name"),
        ({"name": "Иван\nИванович"}, "schema.control_char", "name"),
        ({"name": "Ив\x00ан"}, "schema.control_char", "name"),
        ({"name": "Ив\x85ан"}, "schema.control_char", "name"),
        ({"name": "Ив\ud800ан"}, "schema.control_char", "name"),
        ({"surname": "И" * 256}, "schema.too_long", "surname"),
        ({"sentence": "ВМН" * 667 + "!"}, "schema.too_long", "sentence"),
        ({"source": "К" * 401}, "schema.too_long", "source"),
        ({"age": True}, "schema.type", "age"),
        ({"age": "35"}, "schema.type", "age"),
        ({"age": 131}, "schema.range", "age"),
        ({"age": -1}, "schema.range", "age"),
        ({"sex": "M"}, "schema.enum", "sex"),
        ({"sex": "ж"}, "schema.enum", "sex"),
        ({"sex": ["m"]}, "schema.enum", "sex"),
        ({"executed": "T"}, "schema.type", "executed"),
        ({"executed": 1}, "schema.type", "executed"),
        ({"synthetic": "yes"}, "schema.type", "synthetic"),
        ({"birth": "12.11.1938"}, "schema.date", "birth"),
        ({"birth": "1938-02-30"}, "schema.date", "birth"),
        ({"death_date": 1938}, "schema.type", "death_date"),
        ({"surname_variations": "Иванов"}, "schema.type", "surname_variations"),
        ({"surname_variations": ["Иванов", 5]}, "schema.type", "surname_variations"),
        ({"surname_variations": [str(i) for i in range(33)]}, "schema.too_many",
         "surname_variations"),
        ({"name_variations": ["И" * 256]}, "schema.too_long", "name_variations"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(changes: dict[str, object], code: str, field: str) -> None:
    error = _refusal({"surname": "Иванов", **changes})
    assert (error.code, error.field) == (code, field)
    assert field in str(error)


def test_a_body_must_be_a_map() -> None:
    assert _refusal(["surname", "Иванов"]).code == "schema.not_a_map"


@pytest.mark.parametrize("field", sorted(TEXT_LIMITS))
def test_text_limits_are_exact(field: str) -> None:
    limit = TEXT_LIMITS[field]
    base = {"surname": "Иванов"}
    assert validate_victim({**base, field: "ж" * limit})[field] == "ж" * limit
    error = _refusal({**base, field: "ж" * (limit + 1)})
    assert (error.code, error.field) == ("schema.too_long", field)


def test_limits_follow_the_original_database() -> None:
    assert {TEXT_LIMITS[f] for f in ("surname", "name", "patronymic")} == {255}
    assert {TEXT_LIMITS[f] for f in ("birth_place", "live_place", "death_place", "occupation",
                                     "criminal_article", "criminal_case",
                                     "rehabilitation_reason")} == {1000}  # fmt: skip
    assert TEXT_LIMITS["sentence"] == 2000
    assert TEXT_LIMITS["source"] == 400
    assert (LIST_LIMIT, LIST_ITEM_LIMIT) == (32, 255)
    most = [str(i) for i in range(LIST_LIMIT)] + ["0", " 1 "]  # repeats do not count
    assert (
        validate_victim({"surname": "И", "all_name_variations": most})["all_name_variations"]
        == most[:LIST_LIMIT]
    )


def test_registry() -> None:
    assert SCHEMAS[SCHEMA_ID] is validate_victim
    assert SCHEMA_ID == "memorial.victim/1"
    with pytest.raises(SchemaError) as caught:
        validate("memorial.victim/2", {"surname": "Иванов"})
    assert caught.value.code == "schema.unknown_schema"
    with pytest.raises(SchemaError) as strict:
        validate(SCHEMA_ID, {"surname": " Иванов"}, strict=True)
    assert strict.value.code == "schema.not_normalised"


# -- laws --------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["Иванов", " Смирнова ", "б/п", "Андреи\u0306", "\u00a0", "", "ВМН"]
)
_DATE = st.sampled_from(["1938-11-12", "1939-05", "1939", " 1940 ", "", "1938-02-30", "x"])


def _value_for(field: str) -> st.SearchStrategy[object]:
    if field in DATE_FIELDS:
        return _DATE
    if field in LIST_FIELDS:
        return st.lists(_TEXT, max_size=4) | st.tuples(_TEXT, _TEXT)
    if field == "age":
        return st.integers(-2, 133) | st.booleans()
    if field == "sex":
        return st.sampled_from(["m", "f", "x", "M"])
    if field in ("executed", "synthetic"):
        return st.booleans() | st.just(0)
    return _TEXT | st.just(None)


_BODIES = st.fixed_dictionaries(
    {"surname": _TEXT},
    optional={field: _value_for(field) for field in sorted(FIELDS - {"surname"})},
)


@given(_BODIES)
@example({"surname": "Андреи\u0306", "name_variations": ["Андрей", "Андреи\u0306"]}).via(
    "NFC makes two list items equal: the normalised list has one"
)
def test_validation_is_idempotent_and_encodable(body: dict[str, object]) -> None:
    try:
        out = validate_victim(body)
    except SchemaError as error:
        assert error.code.startswith("schema.")
        assert error.field in FIELDS
        return
    assert validate_victim(out) == out
    assert validate_victim(out, strict=True) == out
    assert decode(encode(out)) == out
    assert all(value is not None and value != "" and value != [] for value in out.values())
    assert set(out) <= FIELDS and "surname" in out
    if out == body:
        assert validate_victim(body, strict=True) == out


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(sorted(FIELDS)) | st.text(max_size=4), _ANY, max_size=6))
def test_junk_is_refused_with_a_schema_error_only(body: dict[str, object]) -> None:
    try:
        out = validate_victim(body)
    except SchemaError:
        return
    assert validate_victim(out, strict=True) == out
