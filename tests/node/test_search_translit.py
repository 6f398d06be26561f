"""Latin -> Cyrillic readings (translit.py): every romanisation of a name leads back to it."""

from __future__ import annotations

import time
from functools import cache

import iuliia
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_node.sample.names import GROUPS
from samizdat_node.search.normalise import fold
from samizdat_node.search.phonetic import skeleton
from samizdat_node.search.translit import MAX_CANDIDATES, latin_candidates
from samizdat_node.search.translit_rules import rule_set, scheme_names, scheme_rules
from tests.support.search_relevance import german, polish


@cache
def _names() -> tuple[str, ...]:
    """Every surname (both genders), given name and patronymic of the sample generator."""
    names: set[str] = set()
    for group, _ in GROUPS:
        for pair in (*group.surnames, *group.patronymics):
            for name in pair:
                names.update(part for part in name.split("-") if part)
        names.update(group.male)
        names.update(group.female)
    return tuple(sorted(names))


def _drops_soft_sign(scheme: str) -> bool:
    """Schemes that write ь as nothing (ICAO, Wikipedia, Yandex...): ь cannot be read back."""
    return "ь" not in {cyrillic for _, cyrillic, _ in scheme_rules()[scheme]}


def _readings(latin: str) -> list[str]:
    return [text for text, _ in latin_candidates(latin)]


def test_every_iuliia_scheme_is_read() -> None:
    names = scheme_names()
    assert len(names) >= 28
    assert {"ala_lc", "bgn_pcgn", "gost_779", "icao_doc_9303", "iso_9_1968", "mvd_310",
            "wikipedia"} <= set(names)  # fmt: skip
    assert {"german", "polish", "informal"} <= set(scheme_rules())


@pytest.mark.parametrize("scheme", scheme_names())
def test_scheme_romanisation_reads_back_to_the_name(scheme: str) -> None:
    """The law: for every iuliia scheme and every generator name, the name's spelling class
    is among the readings of its romanisation, and so is the name itself unless the scheme
    drops ь. A scheme that drops ь (ICAO, Wikipedia, Yandex, the French MVD) loses
    information, so for at most 2% of names only the spelling class comes back."""
    schema = iuliia.schemas.get(scheme)
    lossy = _drops_soft_sign(scheme)
    exact_misses = []
    for name in _names():
        latin = schema.translate(name)
        readings = _readings(latin)
        assert skeleton(fold(name)) in {skeleton(text) for text in readings}, (name, latin)
        if fold(name) not in readings:
            exact_misses.append((name, latin))
    if lossy:
        assert len(exact_misses) <= 0.02 * len(_names()), exact_misses
    else:
        assert not exact_misses


@pytest.mark.parametrize("romanise", [german, polish], ids=["german", "polish"])
def test_german_and_polish_spellings_read_back(romanise: object) -> None:
    assert callable(romanise)
    misses = []
    for name in _names():
        latin = romanise(name)
        readings = _readings(latin)
        assert skeleton(fold(name)) in {skeleton(text) for text in readings}, (name, latin)
        if fold(name) not in readings:
            misses.append((name, latin))
    assert len(misses) <= 0.02 * len(_names()), misses[:20]


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("Schtschukin", "щукин"),
        ("Shchukin", "щукин"),
        ("Szczukin", "щукин"),
        ("Jakowlew", "яковлев"),
        ("Yakovlev", "яковлев"),
        ("Iflyand", "ифлянд"),
        ("Rabinowitz", "рабинович"),
        ("Chruschtschow", "хрущев"),
        ("Kheyfets", "хейфец"),
        ("Dostoevskiy", "достоевский"),
        ("Smirnoff", "смирнов"),
        ("Vasilev", "васильев"),
        ("Jelzin", "ельцин"),
    ],
)
def test_common_spellings_reach_the_name(latin: str, cyrillic: str) -> None:
    assert cyrillic in _readings(latin)


def test_readings_are_ranked_and_bounded() -> None:
    readings = latin_candidates("Shchukin")
    assert readings[0][0] == "щукин"
    costs = [cost for _, cost in readings]
    assert costs == sorted(costs)
    assert len(readings) <= MAX_CANDIDATES + len(rule_set().names)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz'-čšžéëûâ", max_size=60))
@example("shchshchshchshchshchshchshchshchshchshchshch")
@example("'")
def test_any_latin_input_gives_bounded_cyrillic_readings(word: str) -> None:
    readings = latin_candidates(word)
    assert len(readings) <= MAX_CANDIDATES + len(rule_set().names)
    for text, cost in readings:
        assert text and cost >= 0
        assert all("а" <= char <= "я" for char in text), text


def test_worst_case_input_is_fast() -> None:
    latin_candidates.cache_clear()
    started = time.perf_counter()
    latin_candidates("schtschschtschschtschschtschschtschschtsch" * 3)
    assert time.perf_counter() - started < 0.5
