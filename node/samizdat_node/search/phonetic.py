"""Spelling classes: a skeleton key per folded Cyrillic word (memorial-data.md, search list).

Books of Memory spell one name several ways, and people searching them spell it a few more.
Two words share a :func:`skeleton` when they differ only in what these rules erase:

* vowels after the first letter, and ``й ь ъ`` (unstressed vowels ``Майзельс``/``Майзальс``,
  ``э``/``е``, ``й``/``и``, soft and hard signs); a first vowel is kept as its class
  (``а о``, ``е э``, ``и ы й``), so ``Абрамов`` and ``Обрамов`` meet but ``Абрамов`` and
  ``Ибрамов`` do not;
* voicing of consonants (``б п``, ``в ф``, ``г к``, ``д т``, ``ж ш щ``, ``з с``), which Russian
  neutralises at the end of a word and before voiceless consonants (``Гольдберг``/``Гольдберк``);
* doubled consonants (``Флисс``/``Флис``), after the steps above;
* gender: feminine surnames and patronymics are read as masculine first (:func:`masculine`;
  ``-овна``/``-ович``; ``-ова``/``-ов`` and ``-ская``/``-ский`` differ only in vowels anyway).

A skeleton is a recall key, not an identity: ranking (:mod:`.rank`) still prefers the exact
spelling. Plain typos are found through :func:`deletes`, the symmetric-delete neighbourhood of
a word (Garbe's SymSpell: two strings within one edit share a member of their delete sets).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["MIN_DELETE_LENGTH", "deletes", "masculine", "skeleton"]

# Feminine -> masculine endings, longest first; applied when at least two letters remain.
_GENDER_ENDINGS: tuple[tuple[str, str], ...] = (
    ("инична", "инич"),
    ("овна", "ович"),
    ("евна", "евич"),
    ("ична", "ич"),
    ("ская", "ский"),
    ("цкая", "цкий"),
    ("зкая", "зкий"),
    ("ова", "ов"),
    ("ева", "ев"),
    ("ина", "ин"),
    ("ына", "ын"),
)

_FIRST_VOWEL = {"а": "а", "о": "а", "е": "е", "э": "е", "и": "и", "ы": "и", "й": "и"}
_KEY = str.maketrans(
    {
        "а": None, "е": None, "и": None, "й": None, "о": None, "у": None, "ы": None,
        "э": None, "ю": None, "я": None, "ь": None, "ъ": None, "-": None, "'": None, '"': None,
        "б": "п", "в": "ф", "г": "к", "д": "т", "ж": "ш", "щ": "ш", "з": "с",
    }
)  # fmt: skip

# Strings shorter than this get no delete keys: deleting from two letters leaves one,
# which would tie a short name to every name that shares any letter.
MIN_DELETE_LENGTH = 3


def masculine(word: str) -> str:
    """Map a feminine surname or patronymic form to the masculine one.

    ``иванова`` -> ``иванов``, ``петровская`` -> ``петровский``, ``львовна`` -> ``львович``.
    Masculine forms and words with no gendered ending come back unchanged.
    """
    for ending, replacement in _GENDER_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 2:
            return word[: -len(ending)] + replacement
    return word


def _collapse(key: str) -> str:
    out: list[str] = []
    last = ""
    for char in key:
        if char != last:
            out.append(char)
            last = char
    return "".join(out)


@lru_cache(maxsize=1 << 17)
def skeleton(word: str) -> str:
    """The spelling-class key of a folded word (module docstring); ``""`` for ``""``."""
    if not word:
        return ""
    word = masculine(word)
    first = word[0]
    head = _FIRST_VOWEL.get(first)
    if head is None:
        head = first.translate(_KEY) or first
    return _collapse(head + word[1:].translate(_KEY))


def deletes(key: str) -> set[str]:
    """``key`` and every string one deletion away from it (SymSpell keys of distance 1)."""
    out = {key}
    if len(key) >= MIN_DELETE_LENGTH:
        out.update(key[:index] + key[index + 1 :] for index in range(len(key)))
    return out
