"""Facets of a record that search filters on: birth year, kind of sentence, place words.

* **Birth year** comes from the partial date ``birth`` (``"1915"``, ``"1939-05"``,
  ``"1938-11-12"``; memorial-data.md: about 98% are year-only). No year means "unknown",
  which a year filter keeps (ranked below a match) rather than drops.
* **Sentence kind** is read from the free-text ``sentence`` and the ``executed`` flag into a few
  kinds people filter by (:data:`SENTENCE_KINDS`): ``ВМН`` and ``расстрел`` are ``death``;
  ``ИТЛ``, ``концлагерь``, ``лишение свободы`` are ``camp``; ``тюремное заключение`` is
  ``prison``; ``ссылка``, ``высылка``, ``спецпоселение`` are ``exile``; ``принудительные
  работы`` are ``labour``; ``освобожден``, ``дело прекращено``, ``оправдан`` are ``released``;
  anything else is ``other``. A sentence can have several kinds (``ВМН, заменена 10 годами
  ИТЛ``).
* **Place words** are the words of the birth, residence and death places (:func:`place_text`);
  a place query drops the abbreviations of administrative units (``г.``, ``с.``, ``д.``,
  ``обл.``, ``губ.``, ``у.``, ``р-н``) and matches a record when each of its other words, cut
  to a stem (:func:`place_stems`), begins one of the record's place words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .normalise import fold_chars, is_latin, words
from .translit import latin_candidates

__all__ = [
    "MAX_PLACE_CHARS",
    "SENTENCE_KINDS",
    "birth_year",
    "place_stems",
    "place_text",
    "sentence_kinds",
]

SENTENCE_KINDS = ("death", "camp", "prison", "exile", "labour", "released", "other")

# Folded-text patterns, checked in order; every kind whose pattern matches applies.
_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("death", re.compile(r"\bвмн\b|\bвмсз\b|расстрел|высш\w* мер|смертн\w* казн")),
    ("camp", re.compile(r"\bитл\b|\bитк\b|лагер|лишени\w* свобод|заключени|каторг")),
    ("prison", re.compile(r"тюрьм|тюремн|политизолятор")),
    (
        "exile",
        re.compile(r"ссылк|высылк|выслан|выселен|поселени|поселен|депортир|\bвысыл"),
    ),
    ("labour", re.compile(r"принудительн\w* работ|исправительно-трудов\w* работ")),
    ("released", re.compile(r"освобожд|прекращ|оправдан|\bпрекр")),
)

# Abbreviations and names of administrative units, folded (memorial-data.md: г., с., д.,
# обл., губ., у.); they are dropped from both the index and place queries.
_PLACE_NOISE = frozenset(
    "г гор город с село д дер деревня обл область губ губерния у уезд р-н р н район рн "
    "пос поселок посёлок п пгт рп ст станица станция х хут хутор аул кишлак м мест местечко "
    "вол волость окр округ край респ республика асср ссср рсфср усср бсср ул улица пер "
    "переулок пр просп проспект б-р бульвар наб пл площадь кв д-во дом корп ш шоссе "
    "нп ао автономная а о в на по под при из".split()
)
MAX_PLACE_CHARS = 1000
_FOLD_NEEDED = re.compile(r"[ёіїєґў\u0300-\u036f]")
_NON_ASCII_BREAK = re.compile(r"[^\x00-\x7f\w]+")
_VOWEL_TAIL = "аеиоуыэюяйь"


def birth_year(body: Mapping[str, Any]) -> int | None:
    """The year of ``birth`` (a partial ISO date), or ``None`` when it is absent or odd."""
    birth = body.get("birth")
    if birth.__class__ is str and (head := birth[:4]).isdigit() and len(head) == 4:
        return int(head)
    return None


@lru_cache(maxsize=1 << 12)
def _kinds_of(sentence: str) -> tuple[str, ...]:
    text = " ".join(words(sentence))
    found = tuple(kind for kind, pattern in _KIND_PATTERNS if pattern.search(text))
    return found or ("other",)


def sentence_kinds(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of ``body``'s sentence (module docstring); ``()`` when nothing is known."""
    sentence = body.get("sentence")
    kinds: tuple[str, ...] = ()
    if isinstance(sentence, str) and sentence.strip():
        kinds = _kinds_of(sentence)
    if body.get("executed") is True and "death" not in kinds:
        kinds = ("death", *(kind for kind in kinds if kind != "other"))
    return kinds


def place_text(body: Mapping[str, Any]) -> str:
    """The birth, residence and death places of a record as one string for FTS5.

    FTS5's ``ascii`` tokenizer already breaks words at ASCII punctuation (``г.``, ``р-н``,
    commas) and folds ASCII case, so only what it cannot see is folded here: Cyrillic case,
    ``ё``, and non-ASCII punctuation. This is much cheaper than :func:`.normalise.fold`, and
    places are too varied to cache. At most :data:`MAX_PLACE_CHARS` characters are kept.
    """
    get = body.get
    birth, live, death = get("birth_place"), get("live_place"), get("death_place")
    if birth.__class__ is str and live is None and death is None:
        text = birth.lower()  # a third of the records have one place only
    else:
        parts = [value for value in (birth, live, death) if value.__class__ is str]
        if not parts:
            return ""
        text = " ".join(parts).lower()
    if _FOLD_NEEDED.search(text):
        text = fold_chars(text)
    if _NON_ASCII_BREAK.search(text):
        text = _NON_ASCII_BREAK.sub(" ", text)
    return text[:MAX_PLACE_CHARS]


def place_stems(place: str) -> list[str]:
    """Prefixes to look a place query up by: its words minus abbreviations, endings cut.

    ``"Ленинградская обл."`` -> ``["ленинградск"]``, which begins ``ленинградской`` and
    ``ленинградская``. A stem keeps at least four letters, so a short name stays whole.
    """
    stems: list[str] = []
    for word in words(place.replace("-", " ")):
        if word in _PLACE_NOISE or word.isdigit():
            continue
        if is_latin(word):
            readings = latin_candidates(word, 1)
            if not readings:
                continue
            word = readings[0][0]  # "Leningrad" -> ленинград: the best reading only
        stem = word.replace("'", "").replace('"', "")
        while len(stem) > 4 and stem[-1] in _VOWEL_TAIL:
            stem = stem[:-1]
        if stem and stem not in stems:
            stems.append(stem)
    return stems
