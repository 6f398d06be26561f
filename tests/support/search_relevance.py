"""A relevance test set for search: variant queries of generated people, and recall@k.

Targets are records from the seeded sample generator; each variant class rewrites a target's
name the way people actually get it wrong or write it differently (memorial-data.md, "What
search must handle"): Latin in several romanisations (iuliia's schemes plus German and Polish
written here, since iuliia has neither), ``ё`` for ``е``, Latin look-alike letters, one-edit
typos, doubled or single consonants, an unstressed vowel changed, the other gender's surname,
a birth year one off, and names in another order.

A hit counts as relevant when its record is indistinguishable from the target by what the
query says: the same surname, given name and patronymic as written, and, when the query
gives a year, a birth year within its tolerance. (Namesakes are common; ranking one namesake
above another that the query cannot tell apart is not an error.)
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import iuliia

from samizdat_node.search import SearchQuery, index_records, search
from samizdat_node.search.normalise import fold, name_forms

__all__ = [
    "VARIANT_CLASSES",
    "Case",
    "german",
    "make_cases",
    "person_key",
    "polish",
    "recall_at",
]

_VOWELS = "аеиоуыэюя"
_CONSONANTS = "бвгджзклмнпрстфхцчшщ"
_LOOKALIKE = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X",
}  # fmt: skip

_GERMAN = {
    "а": "a", "б": "b", "в": "w", "г": "g", "д": "d", "е": "e", "ё": "jo", "ж": "sch",
    "з": "s", "и": "i", "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "ch", "ц": "z", "ч": "tsch",
    "ш": "sch", "щ": "schtsch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "ju", "я": "ja",
}  # fmt: skip
_POLISH = {
    "а": "a", "б": "b", "в": "w", "г": "g", "д": "d", "е": "e", "ё": "io", "ж": "ż",
    "з": "z", "и": "i", "й": "j", "к": "k", "л": "ł", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "ch", "ц": "c", "ч": "cz",
    "ш": "sz", "щ": "szcz", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip


def _romanise(word: str, table: dict[str, str], endings: dict[str, str]) -> str:
    lower = word.lower()
    for ending, latin in endings.items():
        if lower.endswith(ending) and len(lower) > len(ending) + 1:
            head = _romanise(word[: -len(ending)], table, {})
            return head + latin
    out = []
    for index, char in enumerate(lower):
        latin = table.get(char, char)
        if char == "е" and (index == 0 or lower[index - 1] in _VOWELS + "ьъ"):
            latin = "je"
        if (
            char == "с"
            and table is _GERMAN
            and 0 < index < len(lower) - 1
            and lower[index - 1] in _VOWELS
            and lower[index + 1] in _VOWELS
        ):
            latin = "ss"
        out.append(latin)
    text = "".join(out)
    return text[:1].upper() + text[1:] if word[:1].isupper() else text


def german(text: str) -> str:
    """Duden-style German transliteration (``Щукин`` -> ``Schtschukin``)."""
    endings = {"ий": "i", "ый": "y", "ой": "oi"}
    return " ".join(_romanise(word, _GERMAN, endings) for word in text.split())


def polish(text: str) -> str:
    """Polish-orthography transliteration (``Щукин`` -> ``Szczukin``)."""
    endings = {"ович": "owicz", "евич": "ewicz", "ий": "ij", "ый": "yj"}
    return " ".join(_romanise(word, _POLISH, endings) for word in text.split())


def _scheme(name: str) -> Callable[[str], str]:
    schema = iuliia.schemas.get(name)

    def convert(text: str) -> str:
        return str(schema.translate(text))

    return convert


def _plain(value: object) -> str:
    """A name as a person would type it: the text before any parenthesised variant."""
    if not isinstance(value, str):
        return ""
    return value.split("(")[0].split(",")[0].strip()


def _edit(word: str, rng: random.Random) -> str:
    lower = word.lower()
    pos = rng.randrange(len(lower))
    kind = rng.choice(("sub", "del", "ins", "swap"))
    letters = _VOWELS + _CONSONANTS
    if kind == "sub":
        new = lower[:pos] + rng.choice(letters.replace(lower[pos], "")) + lower[pos + 1 :]
    elif kind == "del" and len(lower) > 3:
        new = lower[:pos] + lower[pos + 1 :]
    elif kind == "swap" and pos < len(lower) - 1 and lower[pos] != lower[pos + 1]:
        new = lower[:pos] + lower[pos + 1] + lower[pos] + lower[pos + 2 :]
    else:
        new = lower[:pos] + rng.choice(letters) + lower[pos:]
    return new.capitalize()


def _double(word: str, rng: random.Random) -> str | None:
    lower = word.lower()
    for index in range(1, len(lower)):
        if lower[index] == lower[index - 1] and lower[index] in _CONSONANTS:
            return (lower[:index] + lower[index + 1 :]).capitalize()
    spots = [i for i in range(1, len(lower)) if lower[i] in _CONSONANTS]
    if not spots:
        return None
    index = rng.choice(spots)
    return (lower[: index + 1] + lower[index] + lower[index + 1 :]).capitalize()


def _vowel(word: str, rng: random.Random) -> str | None:
    swap = {"о": "а", "а": "о", "е": "и", "и": "е", "э": "е"}
    lower = word.lower()
    spots = [i for i in range(1, len(lower)) if lower[i] in swap]
    if not spots:
        return None
    index = rng.choice(spots)
    return (lower[:index] + swap[lower[index]] + lower[index + 1 :]).capitalize()


def _other_gender(word: str) -> str | None:
    pairs = (("ская", "ский"), ("цкая", "цкий"), ("ова", "ов"), ("ева", "ев"), ("ина", "ин"))
    for feminine, masculine in pairs:
        if word.endswith(feminine):
            return word[: -len(feminine)] + masculine
    for feminine, masculine in pairs:
        if word.endswith(masculine):
            return word[: -len(masculine)] + feminine
    return None


def _lookalike(word: str, rng: random.Random) -> str | None:
    spots = [i for i, char in enumerate(word) if char in _LOOKALIKE]
    if not spots:
        return None
    chosen = set(rng.sample(spots, min(len(spots), rng.choice((1, 2)))))
    return "".join(_LOOKALIKE[c] if i in chosen else c for i, c in enumerate(word))


def _yo(word: str, rng: random.Random) -> str | None:
    spots = [i for i, char in enumerate(word) if char == "е"]
    if not spots:
        return None
    index = rng.choice(spots)
    return word[:index] + "ё" + word[index + 1 :]


@dataclass(frozen=True, slots=True)
class Case:
    """One relevance case: a variant class, the query, and the target's person key.

    ``key`` has ``None`` for the patronymic when the query does not give one.
    """

    variant: str
    query: SearchQuery
    row_key: int
    key: tuple[str, str, str | None, int | None]


def person_key(body: dict[str, Any]) -> tuple[str, str, str, int | None]:
    """(surname, name, patronymic, birth year) folded as written: what tells people apart."""
    parts = []
    for field in ("surname", "name", "patronymic"):
        value = body.get(field)
        parts.append(name_forms(value).primary[0] if isinstance(value, str) and value else "")
    birth = body.get("birth")
    year = int(birth[:4]) if isinstance(birth, str) and birth[:4].isdigit() else None
    return parts[0], parts[1], parts[2], year


# (surname, name, patronymic, rng) -> (query text, birth year shift, patronymic used) or None
Variant = Callable[[str, str, str, random.Random], tuple[str, int, bool] | None]


def _surname_variant(
    change: Callable[[str, random.Random], str | None], folds_same: bool = False
) -> Variant:
    """A variant that rewrites the surname; unless ``folds_same``, it must change the fold."""

    def make(
        surname: str, name: str, patronymic: str, rng: random.Random
    ) -> tuple[str, int, bool] | None:
        changed = change(surname, rng)
        if changed is None or (fold(changed) == fold(surname)) != folds_same:
            return None
        return " ".join(filter(None, (changed, name, patronymic))), 0, True

    return make


def _latin(convert: Callable[[str], str]) -> Variant:
    def make(
        surname: str, name: str, patronymic: str, rng: random.Random
    ) -> tuple[str, int, bool] | None:
        if rng.random() < 0.5:
            return f"{convert(name)} {convert(surname)}", 0, False
        return convert(" ".join(filter(None, (surname, name, patronymic)))), 0, True

    return make


def _exact(surname: str, name: str, patronymic: str, rng: random.Random) -> tuple[str, int, bool]:
    return " ".join(filter(None, (surname, name, patronymic))), 0, True


def _order(surname: str, name: str, patronymic: str, rng: random.Random) -> tuple[str, int, bool]:
    return " ".join(filter(None, (name, patronymic, surname))), 0, True


def _year(surname: str, name: str, patronymic: str, rng: random.Random) -> tuple[str, int, bool]:
    return f"{surname} {name}", rng.choice((-1, 1)), False


VARIANT_CLASSES: dict[str, Variant] = {
    "exact": _exact,
    "order": _order,
    "year±1": _year,
    "ё/е": _surname_variant(_yo, folds_same=True),
    "look-alike": _surname_variant(_lookalike, folds_same=True),
    "typo": _surname_variant(_edit),
    "double": _surname_variant(_double),
    "vowel": _surname_variant(_vowel),
    "gender": _surname_variant(lambda word, rng: _other_gender(word)),
    "latin:bgn_pcgn": _latin(_scheme("bgn_pcgn")),
    "latin:ala_lc_alt": _latin(_scheme("ala_lc_alt")),
    "latin:gost_779": _latin(_scheme("gost_779")),
    "latin:icao_doc_9303": _latin(_scheme("icao_doc_9303")),
    "latin:wikipedia": _latin(_scheme("wikipedia")),
    "latin:mvd_310": _latin(_scheme("mvd_310")),
    "latin:german": _latin(german),
    "latin:polish": _latin(polish),
}


def make_cases(
    records: list[tuple[int, str, dict[str, Any]]], per_class: int, seed: int
) -> Iterator[Case]:
    """``per_class`` cases of every variant class, targets drawn from ``records``."""
    rng = random.Random(seed)
    for variant, make in VARIANT_CLASSES.items():
        made = 0
        attempts = 0
        while made < per_class and attempts < per_class * 20:
            attempts += 1
            row_key, _, body = rng.choice(records)
            surname, name = _plain(body.get("surname")), _plain(body.get("name"))
            patronymic = _plain(body.get("patronymic"))
            if not surname or not name:
                continue
            result = make(surname, name, patronymic, rng)
            if result is None:
                continue
            text, shift, with_patronymic = result
            key = person_key(body)
            year = None
            if shift and key[3] is not None:
                year = key[3] + shift
            elif shift:
                continue
            query = SearchQuery(text=text, birth_year=year, year_tolerance=1, limit=5)
            asked = (key[0], key[1], key[2] if with_patronymic and patronymic else None, key[3])
            yield Case(variant, query, row_key, asked)
            made += 1


def build_index(
    conn: sqlite3.Connection, records: list[tuple[int, str, dict[str, Any]]]
) -> dict[int, tuple[str, str, str, int | None]]:
    """Index ``records`` into ``conn`` (schema already created); their person keys by row."""
    index_records(conn, records)
    return {row_key: person_key(body) for row_key, _, body in records}


def recall_at(
    conn: sqlite3.Connection,
    cases: list[Case],
    keys: dict[int, tuple[str, str, str, int | None]],
) -> dict[str, tuple[int, int]]:
    """Per variant class: (relevant hits in the top ``limit``, cases)."""
    out: dict[str, tuple[int, int]] = {}
    for case in cases:
        page = search(conn, case.query)
        ok = any(_relevant(case, keys[hit.row_key], hit.row_key) for hit in page.hits)
        good, total = out.get(case.variant, (0, 0))
        out[case.variant] = (good + int(ok), total + 1)
    return out


def _relevant(case: Case, key: tuple[str, str, str, int | None], row_key: int) -> bool:
    if row_key == case.row_key:
        return True
    if key[:2] != case.key[:2] or case.key[2] not in (None, key[2]):
        return False
    if case.query.birth_year is None:
        return True
    return key[3] is not None and abs(key[3] - case.query.birth_year) <= case.query.year_tolerance
