"""A record body -> the searchable text of one index row.

The index row has three name columns, a facet column and a place column. A name column is
``"<primary forms>|<variant forms>"``: the folded forms of the name as written, then a bar, then
the forms from aliases and variation lists (``"ифлянд|инфлянд"``; no bar when there are no
variants). FTS5's ``ascii`` tokenizer splits on the bar and spaces, so every form is a token;
ranking splits on the bar to tell the name as written from its variants.

The facet column holds ``y<year>`` (``y0`` when the birth year is unknown), ``k<kind>`` for
every sentence kind (:mod:`.facets`), and ``n<letter>``/``p<letter>``, the initials of the given
name and patronymic by spelling class (``n0``/``p0`` when there is none); a facet token
starts with an ASCII letter, so it cannot collide with a folded Cyrillic name.

Per-record work is kept small: field readings are cached (names repeat across records), and
a body without variation lists takes a short path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from .facets import birth_year, place_text, sentence_kinds
from .normalise import name_forms
from .query import initial_class

__all__ = ["NAME_FIELDS", "IndexText", "index_text", "split_field"]

NAME_FIELDS = ("surname", "name", "patronymic")
_VARIATION_FIELDS = frozenset(
    ("surname_variations", "name_variations", "patronymic_variations", "fullname_variations",
     "all_name_variations")
)  # fmt: skip
_FULLNAME_PART = re.compile(r"[^\s(]+(?:\s*\([^)]*\))?|\([^)]*\)")


class IndexText(NamedTuple):
    """The column texts of one index row (module docstring)."""

    s: str
    n: str
    p: str
    f: str
    pl: str
    year: int | None


@lru_cache(maxsize=1 << 16)
def _plain_column(value: str) -> str:
    forms = name_forms(value)
    if forms.variants:
        return " ".join(forms.primary) + "|" + " ".join(forms.variants)
    return " ".join(forms.primary)


def _column(value: object, extra: Iterable[str]) -> str:
    if not extra:
        return _plain_column(value) if isinstance(value, str) and value else ""
    primary: tuple[str, ...] = ()
    variants: list[str] = []
    if isinstance(value, str) and value:
        forms = name_forms(value)
        primary = forms.primary
        variants.extend(forms.variants)
    for item in extra:
        forms = name_forms(item)
        variants.extend(forms.primary)
        variants.extend(forms.variants)
    if not variants:
        return " ".join(primary)
    seen = set(primary)
    unique = [form for form in dict.fromkeys(variants) if form not in seen]
    if not unique:
        return " ".join(primary)
    return " ".join(primary) + "|" + " ".join(unique)


def _strings(value: object) -> list[str]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _variations(body: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Variants per name field from the five variation lists."""
    surnames = _strings(body.get("surname_variations"))
    names = _strings(body.get("name_variations"))
    patronymics = _strings(body.get("patronymic_variations"))
    for full in _strings(body.get("fullname_variations")) + _strings(
        body.get("all_name_variations")
    ):
        parts = _FULLNAME_PART.findall(full)
        if len(parts) == 1:
            surnames.append(parts[0])
            continue
        for target, part in zip((surnames, names, patronymics), parts, strict=False):
            target.append(part)
    return surnames, names, patronymics


@lru_cache(maxsize=1 << 16)
def _facets(year: int | None, sentence: object, executed: object) -> str:
    kinds = sentence_kinds({"sentence": sentence, "executed": executed})
    text = f"y{year or 0}"
    if kinds:
        text += " k" + " k".join(kinds)
    return text


def index_text(body: Mapping[str, Any]) -> IndexText:
    """The index row text of a ``memorial.victim/1`` body (module docstring).

    Written flat, with cached helpers, because it runs once per record of a bulk import.
    """
    get = body.get
    if _VARIATION_FIELDS.isdisjoint(body):
        value = get("surname")
        s = _plain_column(value) if value.__class__ is str and value else ""
        value = get("name")
        n = _plain_column(value) if value.__class__ is str and value else ""
        value = get("patronymic")
        p = _plain_column(value) if value.__class__ is str and value else ""
    else:
        surnames, names, patronymics = _variations(body)
        s = _column(get("surname"), surnames)
        n = _column(get("name"), names)
        p = _column(get("patronymic"), patronymics)
    year = birth_year(body)
    sentence = get("sentence")
    facets = _facets(year, sentence if sentence.__class__ is str else None, get("executed"))
    facets += _initials(n, p)
    return IndexText(s, n, p, facets, place_text(body), year)


@lru_cache(maxsize=1 << 16)
def _initials(name: str, patronymic: str) -> str:
    """`` n<initial> p<initial>`` facet tokens (``n0``/``p0`` for an empty field)."""
    first_name = name.partition("|")[0].split()
    first_patronymic = patronymic.partition("|")[0].split()
    n = initial_class(first_name[0]) if first_name else "0"
    p = initial_class(first_patronymic[0]) if first_patronymic else "0"
    return f" n{n} p{p}"


def split_field(column: str) -> tuple[list[str], list[str]]:
    """A name column back into (primary forms, variant forms)."""
    primary, _, variants = column.partition("|")
    return primary.split(), variants.split()
