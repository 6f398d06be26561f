"""A query's text -> terms with their Cyrillic readings and spelling keys (pure).

People type names in any order and any script, sometimes with a year: ``Ифлянд Михаил 1901``,
``Mikhail Iflyand``, ``ИBAHOB``. :func:`parse_text` folds the text (:mod:`.normalise`), takes a
four-digit year between 1800 and 1999 out as the birth year, drops words that are not names
(``г.р.``, ``год``), and turns each remaining word into a :class:`Term`:

* a Cyrillic word reads as itself; a Latin word reads as its transliteration candidates
  (:func:`~samizdat_node.search.translit.latin_candidates`, bounded);
* ``skeletons``: the spelling classes of the readings, the keys for phonetic matches;
* ``form_keys``: the one-deletion neighbourhoods of the best readings, the keys for matches
  within one edit (:mod:`.vocab`).

At most :data:`~samizdat_node.search.model.MAX_TERMS` words become terms; the rest are
reported back as ignored, never searched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import MAX_TERMS
from .normalise import expand_hyphen, fold, is_cyrillic, is_latin
from .phonetic import masculine, skeleton
from .translit import latin_candidates
from .vocab import form_deletes

__all__ = [
    "FUZZY_READINGS",
    "MAX_INITIALS",
    "ParsedText",
    "Term",
    "initial_class",
    "initial_letter",
    "parse_text",
]

FUZZY_READINGS = 3  # readings of a Latin word that get deletion keys
MAX_INITIALS = 2  # given name and patronymic
_YEAR = re.compile(r"^(1[89]\d\d)$")
_NOISE = frozenset("гр год года рождения рожд родился родилась born он она же".split())
_YEAR_MARKS = frozenset("г р".split())  # "1915 г.р.": год рождения, not initials
_MAX_WORD = 40


@dataclass(frozen=True, slots=True)
class Term:
    """One query word and what it may stand for (module docstring)."""

    text: str
    position: int
    latin: bool
    readings: tuple[tuple[str, float], ...]
    skeletons: frozenset[str]
    form_keys: frozenset[str]
    masculine: frozenset[str]

    @property
    def best(self) -> str:
        """The cheapest reading (the word itself when it is Cyrillic)."""
        return self.readings[0][0]


@dataclass(frozen=True, slots=True)
class ParsedText:
    """The terms of a query's text, initials, a year found in it, and words left out.

    ``initials`` are single letters (``Иванов И. П.``, ``Ivanov I.``), read as the first
    letters of the given name and then the patronymic.
    """

    terms: tuple[Term, ...]
    year: int | None
    ignored: tuple[str, ...]
    initials: tuple[str, ...] = ()


def _readings(word: str) -> tuple[tuple[str, float], ...]:
    if is_latin(word):
        return latin_candidates(word)
    # "ибрагим-заде" reads as the joined form, which the index stores for hyphenated names.
    return ((expand_hyphen(word)[0], 0.0),)


def _term(word: str, position: int) -> Term | None:
    readings = _readings(word)
    if not readings:
        return None
    skeletons = frozenset(skeleton(text) for text, _ in readings)
    form_keys: set[str] = set()
    for text, _ in readings[:FUZZY_READINGS]:
        form_keys |= form_deletes(text)
    return Term(
        text=word,
        position=position,
        latin=is_latin(word),
        readings=readings,
        skeletons=skeletons,
        form_keys=frozenset(form_keys),
        masculine=frozenset(masculine(text) for text, _ in readings[:FUZZY_READINGS]),
    )


def parse_text(text: str) -> ParsedText:
    """Split a query's text into terms, a birth year and ignored words (module docstring)."""
    year: int | None = None
    terms: list[Term] = []
    ignored: list[str] = []
    initials: list[str] = []
    after_year = False
    for word in fold(text).split():
        if _YEAR.match(word):
            year = int(word) if year is None else year
            after_year = True
            continue
        if after_year and word in _YEAR_MARKS:
            continue
        after_year = False
        if len(word) == 1 and (is_cyrillic(word) or is_latin(word)):
            letter = initial_letter(word)
            if letter and len(initials) < MAX_INITIALS:
                initials.append(letter)
            continue
        if word in _NOISE or word.isdigit():
            continue
        if not (is_cyrillic(word) or is_latin(word)):
            continue
        if len(terms) >= MAX_TERMS:
            ignored.append(word)
            continue
        term = _term(word[:_MAX_WORD], len(terms))
        if term is not None:
            terms.append(term)
    return ParsedText(tuple(terms), year, tuple(ignored), tuple(initials))


def initial_letter(word: str) -> str:
    """The Cyrillic letter a one-letter word stands for (``"i"`` -> ``"и"``), or ``""``."""
    if is_cyrillic(word):
        return initial_class(word)
    readings = latin_candidates(word)
    return initial_class(readings[0][0]) if readings else ""


_INITIAL_CLASS = {"э": "е", "й": "и", "ы": "и"}


def initial_class(word: str) -> str:
    """The initial of a folded word as compared: ``Э`` is ``Е``, ``Й`` and ``Ы`` are ``И``.

    Consonants and the other vowels stay exact: a person who types an initial types the
    letter they see, unlike a spelling they half remember.
    """
    return _INITIAL_CLASS.get(word[0], word[0]) if word else ""
