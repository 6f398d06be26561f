"""Latin -> Cyrillic rewrite rules, derived by reversing iuliia's romanisation schemes.

iuliia (https://iuliia.ru) ships each Cyrillic -> Latin scheme as data: a letter ``mapping``,
``prev_mapping``/``next_mapping`` for a letter after or before another, and an
``ending_mapping`` for word endings. Reading that data backwards gives, for every Latin chunk,
the Cyrillic letters it stands for and *which schemes* say so. That covers ALA-LC, BGN/PCGN,
BS 2979, ISO 9 (1954, 1968), GOST 7.79 (ISO 9:1995) and GOST 16876, the passport schemes
(ICAO Doc 9303, MVD 310 and 782, the French MVD 310), UNGEGN, Wikipedia, scientific and the
informal ones (Telegram, Yandex, Moscow metro).

iuliia has no German or Polish scheme, and no name for the habits of English, Yiddish and
French spellings that descendants abroad use (``Schtschukin``, ``Jakowlew``, ``Szczukin``,
``Rabinowitz``, ``Smirnoff``); :data:`_EXTRA_SCHEMES` adds them as three more schemes, written
as letter -> spellings tables (German from the Duden transliteration, Polish from Polish
orthography).

A rule is ``(latin, cyrillic, where, mask)``: ``where`` is ``"any"``, ``"start"`` (first letters
of a word only) or ``"end"`` (last letters only), and ``mask`` has one bit per scheme that
produces it, so the reader (:mod:`.translit`) can prefer readings that one scheme explains
whole. ``ё`` in an output is folded to ``е`` like everything the index stores.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .normalise import CYRILLIC, fold_chars

__all__ = ["RuleSet", "rule_set", "scheme_names", "scheme_rules"]

_ALPHABET = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"

# Schemes iuliia lacks: letter -> the spellings in use; "-ий" keys an ending, "^х" a start.
_EXTRA_SCHEMES: dict[str, dict[str, tuple[str, ...]]] = {
    "german": {
        "а": ("a",), "б": ("b",), "в": ("w", "v"), "г": ("g", "h"), "д": ("d",),
        "е": ("e", "je"), "ё": ("jo",), "ж": ("sch", "sh"), "з": ("s",), "и": ("i", "ie"),
        "й": ("j", "i"), "к": ("k", "ck"), "л": ("l",), "м": ("m",), "н": ("n",), "о": ("o",),
        "п": ("p",), "р": ("r",), "с": ("s", "ss"), "т": ("t",), "у": ("u",), "ф": ("f",),
        "х": ("ch",), "ц": ("z", "tz"), "ч": ("tsch",), "ш": ("sch",),
        "щ": ("schtsch",), "ъ": ("",), "ы": ("y",), "ь": ("", "j"), "э": ("e",), "ю": ("ju",),
        "я": ("ja",), "-ий": ("ij", "i"), "-ый": ("yj", "y"), "-ой": ("oj", "oi"),
        "-ьев": ("jew",), "-ьева": ("jewa",), "^х": ("h",),
        # ё is "o" after the hushing letters: Gorbatschow, Chruschtschow
        "жё": ("scho",), "шё": ("scho",), "чё": ("tscho",), "щё": ("schtscho",),
    },
    "polish": {
        "а": ("a",), "б": ("b",), "в": ("w",), "г": ("g", "h"), "д": ("d",),
        "е": ("e", "ie", "je"),
        "ё": ("io", "jo"), "ж": ("ż", "rz", "z"), "з": ("z",), "и": ("i", "y"), "й": ("j",),
        "к": ("k",), "л": ("ł", "l"), "м": ("m",), "н": ("n",), "о": ("o",), "п": ("p",),
        "р": ("r",), "с": ("s",), "т": ("t",), "у": ("u",), "ф": ("f",), "х": ("ch",),
        "ц": ("c",), "ч": ("cz",), "ш": ("sz",), "щ": ("szcz",), "ъ": ("",), "ы": ("y",),
        "ь": ("",), "э": ("e",), "ю": ("iu", "ju"), "я": ("ia", "ja"),
        "-ий": ("ij", "i"), "-ый": ("yj", "y"), "-ович": ("owicz",), "-евич": ("ewicz",),
        "-ич": ("icz",), "-ов": ("ow",), "-ев": ("ew",),
    },
    "informal": {
        "а": ("a",), "б": ("b",), "в": ("v", "w"), "г": ("g", "h"), "д": ("d",),
        "е": ("e", "ye"), "ё": ("yo", "io", "e"), "ж": ("zh", "j"), "з": ("z",),
        "и": ("i", "ee"), "й": ("y", "i", "j"), "к": ("k", "c", "ck"), "л": ("l",),
        "м": ("m",), "н": ("n",), "о": ("o",), "п": ("p",), "р": ("r",), "с": ("s", "ss"),
        "т": ("t", "th"), "у": ("u", "ou", "oo"), "ф": ("f", "ph", "ff"), "х": ("kh", "h", "ch"),
        "ц": ("ts", "tz", "c"), "ч": ("ch", "tch"), "ш": ("sh",), "щ": ("shch", "sch"),
        "ъ": ("",), "ы": ("y", "i"), "ь": ("", "'"), "э": ("e",), "ю": ("yu", "iu", "ju"),
        "я": ("ya", "ia", "ja"), "кс": ("x", "ks"),
        "-ий": ("y", "ii", "iy", "i", "yi"), "-ый": ("y", "yi", "iy"), "-ов": ("off", "ow"),
        "-ев": ("eff", "ew"), "-вич": ("vitch", "witz", "vitz", "vich"), "-ич": ("itz", "itch"),
    },
}  # fmt: skip


# Prior weight of a scheme, as a number of equally likely "voters" (the reader counts the
# schemes consistent with a reading, so a weight of 6 counts as six schemes). Each iuliia
# scheme has weight 1; German and informal English/Yiddish spellings are what descendants
# abroad type most, so together they weigh about as much as the official schemes.
_WEIGHTS = {"german": 6, "polish": 3, "informal": 6}


def scheme_names() -> list[str]:
    """Names of the iuliia schemes the rules are read from."""
    folder = resources.files("iuliia").joinpath("schemas")
    return sorted(
        entry.name[: -len(".json")] for entry in folder.iterdir() if entry.name.endswith(".json")
    )


def _load(name: str) -> dict[str, dict[str, str]]:
    text = resources.files("iuliia").joinpath("schemas", f"{name}.json").read_text("utf-8")
    data = json.loads(text)
    return {
        key: {k.lower(): v.lower() for k, v in (data.get(key) or {}).items()}
        for key in ("mapping", "prev_mapping", "next_mapping", "ending_mapping")
    }


def _iuliia_rules(scheme: dict[str, dict[str, str]]) -> set[tuple[str, str, str]]:
    """Reverse one iuliia scheme into raw (latin, cyrillic, where) triples."""
    mapping, prev, nxt = scheme["mapping"], scheme["prev_mapping"], scheme["next_mapping"]
    out: set[tuple[str, str, str]] = set()
    for letter in _ALPHABET:
        if letter in mapping:
            out.add((mapping[letter], letter, "any"))
    for key, latin in prev.items():
        if len(key) == 1:  # iuliia keys a word-initial letter by the letter alone
            out.add((latin, key, "start"))
        else:
            out.add((nxt.get(key, mapping.get(key[0], key[0])) + latin, key, "any"))
    for key, latin in nxt.items():
        out.add((latin + prev.get(key, mapping.get(key[1], key[1])), key, "any"))
    for ending, latin in scheme["ending_mapping"].items():
        out.add((latin, ending, "end"))
    return out


def _extra_rules(table: dict[str, tuple[str, ...]]) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for key, spellings in table.items():
        where, cyrillic = {"-": ("end", key[1:]), "^": ("start", key[1:])}.get(key[0], ("any", key))
        for latin in spellings:
            out.add((latin, cyrillic, where))
    return out


def _clean(rules: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Fold both sides; drop rules whose Latin side is empty (the letter is dropped).

    A Latin side may keep a Cyrillic letter: some schemes leave ``ё`` as it is (BGN/PCGN
    writes ``ьё`` as ``yё``), and the reader passes Cyrillic letters through.
    """
    out: set[tuple[str, str, str]] = set()
    for latin, cyrillic, where in rules:
        latin = fold_chars(latin).replace("-", "")
        if latin:
            out.add((latin, cyrillic.replace("ё", "е"), where))
    return out


@lru_cache(maxsize=1)
def scheme_rules() -> dict[str, frozenset[tuple[str, str, str]]]:
    """Per scheme (iuliia's and the three extra ones), its cleaned reverse rules."""
    tables = {name: frozenset(_clean(_iuliia_rules(_load(name)))) for name in scheme_names()}
    for name, table in _EXTRA_SCHEMES.items():
        tables[name] = frozenset(_clean(_extra_rules(table)))
    return tables


def _drops(name: str, letter: str) -> bool:
    """Does scheme ``name`` write ``letter`` (ь or ъ) as nothing, at least sometimes?"""
    if name in _EXTRA_SCHEMES:
        return "" in _EXTRA_SCHEMES[name].get(letter, ())
    scheme = _load(name)
    return scheme["mapping"].get(letter, "") == "" or any(
        key[0] == letter and latin == "" for key, latin in scheme["next_mapping"].items()
    )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule keyed by Latin chunk, with scheme masks (module docstring).

    ``names`` has one entry per mask bit; a scheme with prior weight *w* owns *w* bits.

    ``soft_mask``/``hard_mask``: schemes that may drop ``ь``/``ъ`` entirely, so a reading may
    insert one; ``all_mask``: every scheme; ``longest``: the longest Latin chunk.
    """

    rules: dict[str, tuple[tuple[str, str, int], ...]]
    names: tuple[str, ...]
    all_mask: int
    soft_mask: int
    hard_mask: int
    longest: int


@lru_cache(maxsize=1)
def rule_set() -> RuleSet:
    """Build the rule set once per process (a few milliseconds)."""
    tables = scheme_rules()
    names = tuple(name for name in tables for _ in range(_WEIGHTS.get(name, 1)))
    masks: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for bit, name in enumerate(names):
        for latin, cyrillic, where in tables[name]:
            masks[latin][(cyrillic, where)] |= 1 << bit
    all_mask = (1 << len(names)) - 1
    # A Cyrillic letter in a mostly Latin word (iuliia leaves ё and some letters as they are)
    # reads as itself in every scheme.
    for letter in CYRILLIC + "ё":
        masks[letter][(letter.replace("ё", "е"), "any")] |= all_mask
    rules = {
        latin: tuple(sorted((cyr, where, mask) for (cyr, where), mask in readings.items()))
        for latin, readings in masks.items()
    }
    soft = sum(1 << bit for bit, name in enumerate(names) if _drops(name, "ь"))
    hard = sum(1 << bit for bit, name in enumerate(names) if _drops(name, "ъ"))
    return RuleSet(rules, names, all_mask, soft, hard, max(map(len, rules)))
