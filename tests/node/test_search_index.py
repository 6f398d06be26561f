"""The SQLite search index (index.py) on a real database file, and the facets it filters on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from samizdat_node.search import (
    MatchClass,
    SearchQuery,
    SearchQueryError,
    create_schema,
    index_records,
    remove,
    search,
    set_retracted,
)
from samizdat_node.search.document import index_text
from samizdat_node.search.facets import place_stems, sentence_kinds
from samizdat_node.search.model import MAX_EXAMINED, MAX_QUERY_CHARS


def person(surname: str, name: str = "", patronymic: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"surname": surname}
    if name:
        body["name"] = name
    if patronymic:
        body["patronymic"] = patronymic
    body.update(extra)
    return body


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(tmp_path / "search.db")
    db.execute("PRAGMA journal_mode=WAL")
    create_schema(db)
    db.commit()
    yield db
    db.close()


def keys(conn: sqlite3.Connection, text: str = "", **kwargs: Any) -> list[int]:
    return [hit.row_key for hit in search(conn, SearchQuery(text=text, **kwargs)).hits]


PEOPLE = [
    (1, "r:1", person("Ифлянд (Инфлянд)", "Михаил", "Львович", birth="1901")),
    (2, "r:2", person("Иванов", "Иван", "Иванович", birth="1900", sentence="ВМН")),
    (3, "r:3", person("Иванова", "Мария", "Ивановна", birth="1905-03")),
    (4, "r:4", person("Иванов", "Петр", birth="1890", sentence="10 лет ИТЛ")),
    (5, "r:5", person("Флисс", "Абрам", "Моисеевич", birth="1895", birth_place="г. Витебск")),
    (6, "r:6", person("Майзельс", "Яков", "Иосифович", live_place="Ленинградская обл., г. Луга")),
    (7, "r:7", person("Ибрагим-Заде", "Гасан", sentence="5 лет ссылки в Казахстан")),
    (8, "r:8", person("Щукин", "Николай", "Петрович", birth="1902", executed=True)),
    (9, "r:9", person("Иванов", "Иван", "Петрович", birth="1915")),
    (10, "r:10", person("Петров", "Иван", surname_variations=["Петровъ"], birth="1899")),
    (11, "r:11", person("Иванов", "Иван", birth="1930")),
]


@pytest.fixture
def filled(conn: sqlite3.Connection) -> sqlite3.Connection:
    index_records(conn, PEOPLE)
    conn.commit()
    return conn


def test_schema_is_idempotent_and_prefixed(conn: sqlite3.Connection) -> None:
    create_schema(conn)
    create_schema(conn)
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert names and all(name.startswith("search_") for name in names)


def test_index_functions_leave_the_transaction_to_the_caller(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    index_records(conn, PEOPLE[:2])
    set_retracted(conn, 1, True)
    remove(conn, [2])
    assert conn.in_transaction
    conn.rollback()
    assert keys(conn, "Ифлянд") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ифлянд", 1),
        ("Инфлянд", 1),  # the variant in parentheses
        ("ифлянд михаил львович", 1),
        ("Michail Iflyand", 1),  # Latin, Western order
        ("Флис", 5),  # double consonant
        ("Майзальс", 6),  # unstressed vowel
        ("Ибрагим-Заде", 7),
        ("Ибрагимзаде", 7),
        ("Заде", 7),
        ("Schtschukin Nikolai", 8),
        ("Shchukin", 8),
        ("Щукин Hиколaй", 8),  # Latin look-alikes
        ("Щюкин", 8),  # a typo
        ("Петровъ", 10),  # from the variation list
    ],
)
def test_finds_the_person(filled: sqlite3.Connection, text: str, expected: int) -> None:
    assert keys(filled, text)[:1] == [expected]


def test_ranking_prefers_exact_then_form_then_fuzzy(filled: sqlite3.Connection) -> None:
    page = search(filled, SearchQuery(text="Иванова"))
    assert page.hits[0].row_key == 3
    assert page.hits[0].matched["surname"] == MatchClass.EXACT
    assert {hit.matched["surname"] for hit in page.hits[1:]} <= {MatchClass.FORM}
    # a variant is found, but below the name as written
    page = search(filled, SearchQuery(text="Инфлянд"))
    assert page.hits[0].matched["surname"] == MatchClass.VARIANT


def test_all_three_names_beat_surname_only(filled: sqlite3.Connection) -> None:
    assert keys(filled, "Иванов Иван Иванович")[0] == 2
    assert keys(filled, "Иван Иванович Иванов")[0] == 2  # order does not matter
    assert keys(filled, "Иванов Иван Петрович")[0] == 9
    # Without a patronymic in the record the third word is not evidence against it; a
    # different patronymic is.
    assert keys(filled, "Иванов Иван Сидорович")[:3] == [11, 2, 9]
    assert 4 not in keys(filled, "Иванов Иван Петрович")  # one word of three: not shown


def test_initials_filter_name_and_patronymic(filled: sqlite3.Connection) -> None:
    assert set(keys(filled, "Иванов И.")[:2]) == {2, 9}
    assert keys(filled, "Иванов И. И.")[0] == 2
    assert 9 not in keys(filled, "Иванов И. И.")
    assert keys(filled, "Ivanov I. P.")[0] == 9
    assert keys(filled, "Иванов Иван П.")[0] == 9  # after a full given name: the patronymic
    assert keys(filled, "Петров И. П.")[0] == 10  # no patronymic: kept
    assert keys(filled, "Иванов 1900 г.р.")[0] == 2  # "г.р." is not a pair of initials


def test_birth_year_filters_with_tolerance_and_ranks(filled: sqlite3.Connection) -> None:
    assert keys(filled, "Иванов", birth_year=1915, year_tolerance=0) == [9]
    assert set(keys(filled, "Иванов", birth_year=1901)) == {2}
    assert keys(filled, "Иванов 1899", year_tolerance=1)[0] == 2  # the year in the text
    assert set(keys(filled, "Майзельс", birth_year=1950)) == {6}  # unknown year is kept


def test_place_and_sentence_filters(filled: sqlite3.Connection) -> None:
    assert keys(filled, "", place="Ленинградская область") == [6]
    assert keys(filled, "Майзельс", place="Луга") == [6]
    assert keys(filled, "Флисс", place="Минская губ.") == []
    assert keys(filled, "Флисс", place="Витебская губ.") == [5]  # the stem begins Витебск
    assert keys(filled, "", place="г. Витебск") == [5]
    assert set(keys(filled, "Иванов", sentence_kind="death")) == {2}
    assert keys(filled, "Щукин", sentence_kind="death") == [8]  # executed flag
    assert keys(filled, "Заде", sentence_kind="exile") == [7]


def test_reindex_replaces_and_remove_drops(filled: sqlite3.Connection) -> None:
    index_records(filled, [(1, "r:1", person("Инфлянд", "Михаил"))])
    hit = search(filled, SearchQuery(text="Инфлянд Михаил Львович")).hits[0]
    assert hit.row_key == 1 and hit.matched == {
        "surname": MatchClass.EXACT,
        "name": MatchClass.EXACT,
    }  # the new version: no alias, no patronymic
    remove(filled, [1, 999])
    assert keys(filled, "Инфлянд") == []
    assert filled.execute("SELECT count(*) FROM search_row").fetchone()[0] == len(PEOPLE) - 1


def test_retracted_rows_leave_default_search(filled: sqlite3.Connection) -> None:
    set_retracted(filled, 8, True)
    assert keys(filled, "Щукин") == []
    assert keys(filled, "Щукин", include_retracted=True) == [8]
    set_retracted(filled, 8, False)
    assert keys(filled, "Щукин") == [8]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (SearchQuery(text="x" * (MAX_QUERY_CHARS + 1)), "search.query_too_long"),
        (SearchQuery(text="Иванов", limit=0), "search.bad_limit"),
        (SearchQuery(text="Иванов", offset=-1), "search.bad_offset"),
        (SearchQuery(text="Иванов", birth_year=3000), "search.bad_year"),
        (SearchQuery(text="Иванов", sentence_kind="fine"), "search.bad_sentence_kind"),
        (SearchQuery(text="1937 ..."), "search.empty_query"),
    ],
)
def test_bad_queries_are_refused(filled: sqlite3.Connection, query: SearchQuery, code: str) -> None:
    with pytest.raises(SearchQueryError) as caught:
        search(filled, query)
    assert caught.value.code == code


def test_work_is_capped_and_said_so(conn: sqlite3.Connection) -> None:
    many = [(key, f"r:{key}", person("Смирнов", "Иван")) for key in range(1, MAX_EXAMINED + 50)]
    index_records(conn, many)
    page = search(conn, SearchQuery(text="Смирнов", limit=10, offset=20))
    assert page.examined == MAX_EXAMINED and not page.complete and page.has_more
    assert [hit.row_key for hit in page.hits] == list(range(21, 31))  # ties by row key
    page = search(conn, SearchQuery(text="Смирнов Иван Ивано Ива Ив Ии Ию"))
    assert page.ignored_terms  # words past the term limit are reported, not searched


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_any_text_is_answered_or_refused(filled: sqlite3.Connection, text: str) -> None:
    try:
        page = search(filled, SearchQuery(text=text))
    except SearchQueryError as exc:
        assert exc.code == "search.empty_query"
    else:
        assert page.examined <= MAX_EXAMINED


def test_index_text_columns() -> None:
    text = index_text(PEOPLE[0][2])
    assert (text.s, text.n, text.p, text.year) == ("ифлянд|инфлянд", "михаил", "львович", 1901)
    text = index_text(
        person("Рабинович", "Гирш (Григорий)", fullname_variations=["Рабиннович Гирш Наумович"])
    )
    assert text.s == "рабинович|рабиннович" and text.n == "гирш|григорий"
    assert text.p == "|наумович"
    assert index_text(person("Петров")).f == "y0 n0 p0"
    assert index_text(person("Петров", "Эдуард", "Олегович", birth="1910")).f == "y1910 nе pо"


@pytest.mark.parametrize(
    ("sentence", "executed", "kinds"),
    [
        ("ВМН", None, ("death",)),
        ("ВМН, заменена 10 годами ИТЛ", None, ("death", "camp")),
        ("10 лет ИТЛ", None, ("camp",)),
        ("спецпоселение", None, ("exile",)),
        ("выслан с семьей в Казахстан (раскулачен)", None, ("exile",)),
        ("2 года тюремного заключения", None, ("camp", "prison")),
        ("1 год принудительных работ", None, ("labour",)),
        ("дело прекращено", None, ("released",)),
        ("лишение избирательных прав", None, ("other",)),
        (None, True, ("death",)),
        (None, None, ()),
    ],
)
def test_sentence_kinds(
    sentence: str | None, executed: bool | None, kinds: tuple[str, ...]
) -> None:
    body: dict[str, Any] = {}
    if sentence is not None:
        body["sentence"] = sentence
    if executed is not None:
        body["executed"] = executed
    assert sentence_kinds(body) == kinds


def test_place_stems() -> None:
    assert place_stems("Ленинградская обл.") == ["ленинградск"]
    assert place_stems("г. Москва, ул. Арбат, д. 5") == ["москв", "арбат"]
    assert place_stems("Новоград-Волынский у.") == ["новоград", "волынск"]


_TYPO_TARGETS = [(2, "Иванов"), (5, "Флисс"), (6, "Майзельс"), (8, "Щукин"), (1, "Ифлянд")]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_TYPO_TARGETS), st.data())
@example((8, "Щукин"), None)  # pinned: an edit of the first letter
def test_one_edit_of_a_surname_still_finds_it(
    filled: sqlite3.Connection, target: tuple[int, str], data: st.DataObject | None
) -> None:
    """SymSpell's law through the whole index: any single edit of an indexed form finds it."""
    row_key, surname = target
    word = surname.lower()
    if data is None:
        typo = "ш" + word[1:]
    else:
        pos = data.draw(st.integers(0, len(word) - 1), label="position")
        letter = data.draw(st.sampled_from("абвгдежзиклмнопрстуфхцчшщыэюя"), label="letter")
        typo = data.draw(
            st.sampled_from(
                [
                    word[:pos] + word[pos + 1 :],
                    word[:pos] + letter + word[pos:],
                    word[:pos] + letter + word[pos + 1 :],
                    word[:pos] + word[pos + 1 : pos + 2] + word[pos] + word[pos + 2 :],
                ]
            ),
            label="typo",
        )
    assert row_key in keys(filled, typo)
