"""Text folding for search (design §5; memorial-data.md, "What search must handle").

Everything the index stores and everything a query asks for passes through :func:`fold`, so
both sides agree on one spelling of a word:

* case is folded (``str.casefold``); ``ё`` becomes ``е`` (the data almost never has ``ё``, the
  people who search often type it), and the Ukrainian and Belarusian letters ``і ї є ґ ў``
  become their Russian neighbours, because regional Books of Memory mix them in;
* stress marks and other combining accents on Cyrillic letters are dropped;
* Latin look-alike letters typed inside a Cyrillic word (``Hикoлaй`` with a Latin ``H``,
  ``o``, ``a``) become the Cyrillic letters they imitate; a word with no Cyrillic letter is left
  Latin, for :mod:`.translit` to read;
* punctuation becomes a word break, except a hyphen inside a word (``ибрагим-заде``) and, in a
  Latin word only, the apostrophes and quotes that romanisations use for ``ь`` and ``ъ``
  (``Vasil'ev``, ``ob"ezd``), normalised to ``'`` and ``"``.

:func:`fold` is idempotent (tested as a law). :func:`name_forms` reads a name field with
variants and aliases: ``Ифлянд (Инфлянд)``, ``Иванов, он же Петров``, ``Иванова (урожд.
Петрова)``, ``Ибрагим-Заде``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "CYRILLIC",
    "NameForms",
    "expand_hyphen",
    "fix_lookalikes",
    "fold",
    "fold_chars",
    "is_cyrillic",
    "is_latin",
    "name_forms",
    "words",
]

CYRILLIC = "абвгдежзийклмнопрстуфхцчшщъыьэюя"

# Latin letters that look like Cyrillic ones, as typed or OCR'd inside Cyrillic words. Folding
# runs after casefold, so the table is lower-case: an upper-case Latin B, H, M, T typed for
# В, Н, М, Т arrives here as b, h, m, t.
_LOOKALIKE = str.maketrans(
    {
        "a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "i": "и", "k": "к", "m": "м",
        "o": "о", "p": "р", "t": "т", "x": "х", "y": "у",
    }
)  # fmt: skip
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_CYR_LETTER = re.compile(r"[\u0400-\u04ff]")
_LAT_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")

# Letter folding after casefold; combining stress marks and diaeresis are deleted (the text
# is NFC-composed first, so й keeps its breve as part of one code point).
_FOLD = str.maketrans(
    {
        "ё": "е", "і": "и", "ї": "и", "є": "е", "ґ": "г", "ў": "у",
        "\u0300": None, "\u0301": None, "\u0308": None, "\u0306": None,
        # dashes -> hyphen; apostrophe and prime look-alikes -> ' ; double primes -> "
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2212": "-", "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u02b9": "'",
        "`": "'", "\u00b4": "'", "\u02ca": "'", "\u201d": '"', "\u201c": '"', "\u02ba": '"',
        "\u00ab": " ", "\u00bb": " ", "\u00b7": None, "\u0361": None,
    }
)  # fmt: skip
# str.translate with a dict is slow on non-ASCII text; most text needs none of it.
_FOLD_NEEDED = re.compile("[" + "".join(re.escape(chr(code)) for code in _FOLD) + "]")
_NOT_WORD = re.compile(r"[^\w\-'\"]+|_+")
_COMBINING = re.compile(r"[\u0300-\u036f]")
_HYPHENS = re.compile(r"-{2,}")
# What _clean_word can change: Latin letters (look-alikes), quotes, hyphens.
_NEEDS_CLEANING = re.compile(r"[a-z'\"\-]")


def is_cyrillic(word: str) -> bool:
    """True when ``word`` contains a Cyrillic letter."""
    return _CYR_LETTER.search(word) is not None


def is_latin(word: str) -> bool:
    """True when ``word`` has a Latin letter and no Cyrillic one (a romanised word)."""
    return _LAT_LETTER.search(word) is not None and _CYR_LETTER.search(word) is None


def fix_lookalikes(word: str) -> str:
    """Replace Latin look-alikes in a folded word that also has Cyrillic letters."""
    if _LATIN_LETTER.search(word) and _CYR_LETTER.search(word):
        return word.translate(_LOOKALIKE)
    return word


def _clean_word(word: str) -> str:
    """Fix look-alikes; keep quotes only inside Latin words; trim hyphens at the edges."""
    word = fix_lookalikes(word)
    if is_latin(word):
        word = word.lstrip("'\"-").rstrip("-")
    else:
        if "'" in word or '"' in word:
            word = word.replace("'", "").replace('"', "")
        word = word.strip("-")
    if "--" in word:
        word = _HYPHENS.sub("-", word)
    return word


def fold_chars(text: str) -> str:
    """Casefold and fold letters and marks, but keep every character class (no word split)."""
    text = text.casefold()
    if _COMBINING.search(text):
        text = unicodedata.normalize("NFC", text)
    if _FOLD_NEEDED.search(text):
        text = text.translate(_FOLD)
    return text


def fold(text: str) -> str:
    """Fold ``text`` into space-separated search words (module docstring). Idempotent."""
    text = _NOT_WORD.sub(" ", fold_chars(text))
    if _NEEDS_CLEANING.search(text) is None:
        # The common case (Cyrillic names and places): nothing to fix word by word.
        return " ".join(text.split())
    out = []
    for raw in text.split():
        word = _clean_word(raw) if _NEEDS_CLEANING.search(raw) else raw
        if word:
            out.append(word)
    return " ".join(out)


def words(text: str) -> list[str]:
    """The folded words of ``text``."""
    return fold(text).split()


def expand_hyphen(word: str) -> list[str]:
    """``ибрагим-заде`` -> ``["ибрагимзаде", "ибрагим", "заде"]``; other words unchanged."""
    if "-" not in word:
        return [word]
    parts = [part for part in word.split("-") if part]
    return [fix_lookalikes("".join(parts)), *parts]


@dataclass(frozen=True, slots=True)
class NameForms:
    """The folded forms of one name field: ``primary`` as written, ``variants`` from aliases."""

    primary: tuple[str, ...]
    variants: tuple[str, ...]


# Words that introduce an alias or a maiden name; they separate forms and are not names.
_ALIAS_MARKERS = frozenset(
    "он она оно они же тж также вар варианты урожд урожденная урожденный в девичестве "
    "замужестве дев псевд псевдоним прозвище".split()
)
_PAREN = re.compile(r"[(\[{]([^)\]}]*)[)\]}]?")
_SEPARATORS = re.compile(r"[,;/|]")


def _forms_of(segment: str) -> list[str]:
    """Folded forms of one alias segment: each word hyphen-expanded, plus the joined words."""
    # Quotes are dropped even from Latin words: an indexed form is one FTS5 token.
    found = [
        word.replace("'", "").replace('"', "")
        for word in words(segment)
        if word not in _ALIAS_MARKERS
    ]
    found = [word for word in found if word.strip("-")]
    forms: list[str] = []
    for word in found:
        forms.extend(expand_hyphen(word))
    if 1 < len(found) <= 3:
        forms.append(fix_lookalikes("".join(word.replace("-", "") for word in found)))
    return forms


def _segments(value: str) -> tuple[str, list[str]]:
    """Split a field into its primary text and its alias texts."""
    aliases = [match.group(1) for match in _PAREN.finditer(value)]
    main = _PAREN.sub(" ", value)
    parts = _SEPARATORS.split(main)
    head = parts[0]
    aliases.extend(parts[1:])
    # "Иванов он же Петров" without a comma: the marker itself separates.
    folded = fold(head).split()
    for index, word in enumerate(folded):
        if word in _ALIAS_MARKERS and index > 0:
            aliases.append(" ".join(folded[index:]))
            head = " ".join(folded[:index])
            break
    return head, aliases


@lru_cache(maxsize=1 << 16)
def name_forms(value: str) -> NameForms:
    """Read one name field (surname, name or patronymic) into primary and variant forms.

    The first text outside parentheses is the name as written; parenthesised texts and texts
    after ``,``, ``;``, ``/`` or an alias marker ("он же", "урожд.") are variants. A primary
    form never repeats as a variant. Cached: names repeat heavily across records.
    """
    head, aliases = _segments(value)
    primary = tuple(dict.fromkeys(_forms_of(head)))
    seen = set(primary)
    variants: list[str] = []
    for alias in aliases:
        for form in _forms_of(alias):
            if form not in seen:
                seen.add(form)
                variants.append(form)
    if not primary and variants:
        # "(Инфлянд)" alone: the only name given is the primary one.
        primary, variants = (variants[0],), variants[1:]
    return NameForms(primary, tuple(variants))
