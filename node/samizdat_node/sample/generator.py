"""Seeded generator of realistic, SYNTHETIC ``memorial.victim/1`` bodies (memorial-data.md).

Every body has ``synthetic: true``, a ``source_url`` under ``https://synthetic.invalid/`` and
``source_id`` = its person id (increasing, with gaps, like the 2007 export's ids); the record id
is ``memo2007:<source_id>``. The same seed gives the same records on every run: the only source
of randomness is one ``random.Random(seed).random``.

What the records imitate: Zipf-distributed names of many nationalities with feminine forms
for about a quarter of records (women), birth given as a year (about 98%; otherwise the age at
arrest), arrest dates full in about 94% of records that have one, sentence dates in about
74%, rehabilitation dates in about 85%; the executed with burial places, camp terms, exile
and special settlement; places with their abbreviations; name variants in parentheses and
in the variation lists; people who appear again in another Book of Memory under a slightly
different spelling; rare dates the structured fields cannot hold (``12._.1938``), kept as
``*_verbatim`` text.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from samizdat_protocol.errors import LocalError

from ..importers.memorial_tsv import SYNTHETIC_URL_PREFIX
from . import texts as T
from .events import RegionPickers, describe_event, pick
from .names import GROUPS, Group
from .picker import Picker, zipf
from .places import GUBERNIAS, REGIONS, VILLAGES, Region

__all__ = ["generate_records"]

Rng = Callable[[], float]
Body = dict[str, Any]

_REPEAT_RATE = 0.04  # share of records that repeat an earlier person from another book
_RECENT = 512  # how far back a repeat may reach
_VOLUMES = 8
_GUB_NAMES = tuple(GUBERNIAS)
_IDENTITY = ("surname", "name", "patronymic", "sex", "nation", "birth", "age", "birth_place")


class _Names:
    """Compiled pickers for one ethnic group."""

    __slots__ = ("female", "group", "male", "patronymic", "surname")

    def __init__(self, group: Group) -> None:
        self.group = group
        # Small lists get a flatter curve, or their first name would outrank Смирнов.
        self.surname = zipf(group.surnames, 0.9 if len(group.surnames) > 100 else 0.6)
        self.male = zipf(group.male, 1.0)
        self.female = zipf(group.female, 1.0)
        self.patronymic = zipf(group.patronymics, 0.9)


class _Place(RegionPickers):
    """A region's pickers plus its ethnic mix (the country-wide mix times its multipliers)."""

    __slots__ = ("ethnic",)

    def __init__(self, region: Region) -> None:
        super().__init__(region, f"{SYNTHETIC_URL_PREFIX}memory-books/", _VOLUMES)
        self.ethnic: Picker[_Names] = Picker(
            (_NAMES[group.key], weight * region.ethnic.get(group.key, 1.0))
            for group, weight in GROUPS
        )


_NAMES = {group.key: _Names(group) for group, _ in GROUPS}
_PLACES: Picker[_Place] = Picker((_Place(region), weight) for region, weight in REGIONS)

_MUTATIONS = (("нн", "н"), ("лл", "л"), ("сс", "с"), ("н", "нн"), ("с", "сс"), ("о", "а"),
              ("а", "о"), ("е", "и"), ("и", "е"), ("э", "е"), ("ф", "фф"), ("ь", ""), ("й", ""),
              ("ы", "и"), ("ц", "тс"))  # fmt: skip


def _variant(word: str, r: Rng) -> str:
    """A spelling variant as clerks wrote them: doubled or single consonants, vowels, ь."""
    start = int(r() * len(_MUTATIONS))
    for step in range(len(_MUTATIONS)):
        old, new = _MUTATIONS[(start + step) % len(_MUTATIONS)]
        at = word.find(old, 1)
        if at > 0:
            return word[:at] + new + word[at + len(old) :]
    return word[:-1] if len(word) > 3 else word + "а"


class _Generator:
    def __init__(self, seed: int) -> None:
        self.r: Rng = random.Random(seed).random
        self.person_id = 1_000 + int(self.r() * 9_000)
        self.recent: list[tuple[Body, Body]] = []

    def next(self) -> Body:
        r = self.r
        self.person_id += 1 + int(r() * r() * 4)
        place = _PLACES(r)
        if self.recent and r() < _REPEAT_RATE:
            identity, event = self._repeat(place)
        else:
            sex = "f" if r() < 0.25 else "m"
            category = T.CATEGORY[sex](r)
            arrest_year = T.YEARS[category](r)
            identity = self._identity(place, sex, arrest_year)
            event = describe_event(place, sex, category, arrest_year, r)
            if len(self.recent) < _RECENT:
                self.recent.append((identity, event))
            else:
                self.recent[int(r() * _RECENT)] = (identity, event)
        title, url = pick(place.books, r)
        body = {**identity, **event, "source": title, "source_url": url}
        body["source_id"] = str(self.person_id)
        body["synthetic"] = True
        return body

    def _identity(self, place: _Place, sex: str, arrest_year: int) -> Body:
        r = self.r
        names = place.ethnic(r)
        group = names.group
        f = sex == "f"
        body: Body = {"surname": names.surname(r)[f], "sex": sex}
        if f:
            body["name"] = names.female(r)
        elif group.aliases and r() < 0.2:
            alias, official = pick(group.aliases, r)
            body["name"] = f"{alias} ({official})"
        else:
            body["name"] = names.male(r)
        if r() >= group.no_patronymic:
            body["patronymic"] = names.patronymic(r)[f]
        if r() < 0.8:
            body["nation"] = group.nation[f]
        age = 17 + int((r() + r()) * 26)
        if r() < 0.98:
            body["birth"] = str(arrest_year - age)
            if r() < 0.005:
                body["birth_comment"] = f"по другим данным {arrest_year - age - 1} г.р."
        elif r() < 0.9:
            body["age"] = age
        else:
            body["age_verbatim"] = f"около {age - age % 5} лет"
        if r() < 0.8:
            body["birth_place"] = self._birth_place(place, group)
        x = r()
        if x < 0.012:
            variant = _variant(body["surname"], r)
            body["surname_variations"] = [variant]
            body["surname"] = f"{body['surname']} ({variant})"
        elif x < 0.035:
            self._variations(body)
        return body

    def _variations(self, body: Body) -> None:
        r = self.r
        surnames = [_variant(body["surname"], r)]
        if r() < 0.3:
            second = _variant(surnames[0], r)
            if second not in surnames:
                surnames.append(second)
        body["surname_variations"] = surnames
        everything = list(surnames)
        if r() < 0.3 and "(" not in body["name"]:
            body["name_variations"] = [_variant(body["name"], r)]
            everything += body["name_variations"]
        if "patronymic" in body and r() < 0.2:
            body["patronymic_variations"] = [_variant(body["patronymic"], r)]
            everything += body["patronymic_variations"]
        rest = f" {body['name']} {body.get('patronymic', '')}".rstrip()
        body["fullname_variations"] = [s + rest for s in surnames]
        body["all_name_variations"] = list(dict.fromkeys(everything))

    def _birth_place(self, place: _Place, group: Group) -> str:
        r = self.r
        x = r()
        village = f"{'с.' if r() < 0.45 else 'д.'} {pick(VILLAGES, r)}"
        if x < 0.2:
            return f"г. {place.city(r)}"
        if x < 0.3:
            return f"{place.region.oblast}, {pick(place.region.districts, r)} р-н, {village}"
        gubernia = pick(group.birth_regions, r) or pick(_GUB_NAMES, r)
        if gubernia not in GUBERNIAS:
            gubernia = pick(_GUB_NAMES, r)
        if x < 0.45:
            return f"{gubernia} губ., {village}"
        return f"{gubernia} губ., {pick(GUBERNIAS[gubernia], r)} у., {village}"

    def _repeat(self, place: _Place) -> tuple[Body, Body]:
        """The same person in another Book of Memory: same or later event, variant spelling."""
        r = self.r
        identity, event = pick(self.recent, r)
        identity = {key: identity[key] for key in _IDENTITY if key in identity}
        x = r()
        if x < 0.2 and "(" not in identity["surname"]:
            identity["surname"] = _variant(identity["surname"], r)
        elif x < 0.3:
            identity.pop("patronymic", None)
        # The same event as another book tells it, with some fields missing (always so for
        # the executed), or else a later repression.
        if r() < 0.6 or event["executed"]:
            kept = {k: v for k, v in event.items() if k == "executed" or r() < 0.85}
            for key in ("process_date", "death_date"):
                if key in event and key not in kept:  # a date and its verbatim text go together
                    kept.pop(f"{key}_verbatim", None)
                elif f"{key}_verbatim" in event and key in kept:
                    kept[f"{key}_verbatim"] = event[f"{key}_verbatim"]
            return identity, kept
        # A later repression of the same person (the "повторники" of 1948-1952 and others).
        first = int(str(event.get("arrest_date", "1937"))[:4])
        year = min(1953, first + 2 + int(r() * 10))
        event = describe_event(place, identity["sex"], "camp" if r() < 0.6 else "exile", year, r)
        event["previous_repression"] = "ранее репрессирован" if identity["sex"] == "m" else (
            "ранее репрессирована")  # fmt: skip
        return identity, event


def generate_records(count: int, seed: int) -> Iterator[Body]:
    """Yield ``count`` synthetic ``memorial.victim/1`` bodies, the same ones for the same seed."""
    if count < 0:
        raise LocalError("sample.count", f"count must be >= 0, got {count}")
    generator = _Generator(seed)
    step = generator.next
    for _ in range(count):
        yield step()
