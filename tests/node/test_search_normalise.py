"""Folding, name fields and spelling classes of search (normalise.py, phonetic.py)."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from samizdat_node.search.normalise import (
    NameForms,
    expand_hyphen,
    fix_lookalikes,
    fold,
    is_latin,
    name_forms,
)
from samizdat_node.search.phonetic import deletes, masculine, skeleton

_CYR = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
cyrillic_words = st.text(alphabet=_CYR, min_size=1, max_size=12)
name_text = st.text(
    alphabet=_CYR + "ABCEHKMOPTXYaceopxyk -–—'’\"()«».,;/ёіїєґў\u0301\u0308İß0123456789",
    max_size=40,
)


# --- folding -------------------------------------------------------------------------------


@given(st.text(max_size=60))
@example("İ")  # casefold gives i + combining dot above
@example("-'a")  # a leading hyphen before a quote in a Latin word
@example("и'a")  # a quote that joins a Cyrillic and a Latin letter
@example("ǅ")
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@given(name_text)
def test_fold_of_names_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Ёлкин Пётр", "елкин петр"),
        ("ИВАНОВ", "иванов"),
        ("Ива́нов", "иванов"),  # stress mark
        ("Олексiй", "олексий"),  # Latin i inside a Ukrainian word
        ("Ковальчук, Ганна.", "ковальчук ганна"),
        ("«Ибрагим—Заде»", "ибрагим-заде"),
        ("  - Петров -  ", "петров"),
        ("Vasil'ev Ob\u201dedkov", "vasil'ev ob\"edkov"),  # Latin keeps ь/ъ marks
        ("Д'Артаньян", "дартаньян"),  # Cyrillic drops them
    ],
)
def test_fold_examples(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Hиколай", "николай"),  # Latin H
        ("ИBAHOB", "иванов"),  # Latin B, A, H, O
        ("Kузнецoв", "кузнецов"),
        ("Cмирнoвa", "смирнова"),
        ("Тихонoв", "тихонов"),
        ("Муxин", "мухин"),
        ("Рyбин", "рубин"),
    ],
)
def test_latin_lookalikes_inside_cyrillic_words(typed: str, meant: str) -> None:
    assert fold(typed) == meant


def test_pure_latin_words_stay_latin() -> None:
    assert fold("HOMA Ivanov") == "homa ivanov"
    assert is_latin("ivanov") and not is_latin("иванoв") and not is_latin("1937")
    assert fix_lookalikes("kнига") == "книга"


@given(cyrillic_words)
def test_lookalike_substitution_is_undone(word: str) -> None:
    swap = str.maketrans("аеорсху", "aeopcxy")
    typed = word.translate(swap)
    assume(not is_latin(typed))  # a word of look-alikes only is Latin: it goes to translit
    assert fold(typed) == fold(word)


# --- name fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "primary", "variants"),
    [
        ("Ифлянд (Инфлянд)", ("ифлянд",), ("инфлянд",)),
        ("Иванов, он же Петров", ("иванов",), ("петров",)),
        ("Иванов он же Петров", ("иванов",), ("петров",)),
        ("Иванова (урожд. Петрова)", ("иванова",), ("петрова",)),
        ("Гирш (Григорий)", ("гирш",), ("григорий",)),
        ("Ибрагим-Заде", ("ибрагимзаде", "ибрагим", "заде"), ()),
        ("Мамед оглы", ("мамед", "оглы", "мамедоглы"), ()),
        ("(Инфлянд)", ("инфлянд",), ()),
        ("Иванов (Иванов)", ("иванов",), ()),
        ("", (), ()),
    ],
)
def test_name_forms(field: str, primary: tuple[str, ...], variants: tuple[str, ...]) -> None:
    assert name_forms(field) == NameForms(primary, variants)


@given(name_text)
def test_name_forms_are_folded_single_tokens(field: str) -> None:
    forms = name_forms(field)
    for form in (*forms.primary, *forms.variants):
        assert form == fold(form)
        assert form and " " not in form and "-" not in form and "'" not in form
    assert not set(forms.primary) & set(forms.variants)


def test_expand_hyphen() -> None:
    assert expand_hyphen("петров-водкин") == ["петровводкин", "петров", "водкин"]
    assert expand_hyphen("петров") == ["петров"]


# --- spelling classes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("флисс", "флис"),  # double consonant
        ("майзельс", "майзальс"),  # unstressed vowel
        ("эпштейн", "епштейн"),  # э/е
        ("зайцев", "заицев"),  # й/и
        ("васильев", "василев"),  # soft sign
        ("гольдберг", "гольдберк"),  # final devoicing
        ("иванова", "иванов"),  # gender
        ("петровская", "петровский"),
        ("толстая", "толстой"),
        ("львовна", "львович"),
        ("ильинична", "ильинич"),
        ("абрамов", "обрамов"),  # an unstressed first vowel
    ],
)
def test_same_spelling_class(one: str, other: str) -> None:
    assert skeleton(one) == skeleton(other)


@pytest.mark.parametrize(
    ("one", "other"), [("иванов", "петров"), ("абрамов", "ибрамов"), ("ким", "кац")]
)
def test_different_spelling_class(one: str, other: str) -> None:
    assert skeleton(one) != skeleton(other)


_MASCULINE_FEMININE = [
    ("ов", "ова"), ("ев", "ева"), ("ин", "ина"), ("ын", "ына"),
    ("ский", "ская"), ("цкий", "цкая"), ("ович", "овна"), ("евич", "евна"),
]  # fmt: skip


@given(
    st.text(alphabet="бвгдклмнпрст", min_size=2, max_size=8), st.sampled_from(_MASCULINE_FEMININE)
)
@example("кузнец", ("ов", "ова"))
def test_feminine_and_masculine_forms_share_one_stem(stem: str, endings: tuple[str, str]) -> None:
    male, female = stem + endings[0], stem + endings[1]
    assert masculine(female) == masculine(male) == male
    assert skeleton(female) == skeleton(male)


@given(cyrillic_words)
def test_masculine_is_idempotent_and_skeleton_is_stable(word: str) -> None:
    word = fold(word)
    assert masculine(masculine(word)) == masculine(word)
    assert skeleton(word) == skeleton(masculine(word))


@given(st.text(alphabet="бвгдклмнпрстфхцчш", min_size=3, max_size=10), st.data())
def test_one_edit_apart_skeletons_share_a_delete_key(key: str, data: st.DataObject) -> None:
    # SymSpell's guarantee: after a deletion, insertion or substitution a delete key is shared.
    pos = data.draw(st.integers(0, len(key) - 1))
    deleted = key[:pos] + key[pos + 1 :]
    inserted = key[:pos] + "ж" + key[pos:]
    substituted = key[:pos] + "ж" + key[pos + 1 :]
    edited = data.draw(st.sampled_from([deleted, inserted, substituted]))
    assume(len(edited) >= 3)
    assert deletes(key) & deletes(edited)
