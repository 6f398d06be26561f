"""The persecution part of a synthetic record: arrest, court, sentence, death, rehabilitation.

Date precision follows memorial-data.md: arrest dates full in about 94% of records that have
one, sentence dates in about 74%, rehabilitation dates in about 85%, the rest month or year
only. About one record in 500 has a sentence date known to the day but not the month
(``12._.1938``), and one executed person in 1000 a death date without a year: the structured
field keeps only what ISO 8601 can say and the text goes to ``*_verbatim``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from . import texts as T
from .picker import Picker, zipf
from .places import CAMPS, EXILE_PLACES, VILLAGES, Region

__all__ = ["RegionPickers", "describe_event", "partial", "pick"]

Rng = Callable[[], float]
Body = dict[str, Any]

_LAST_DAY = date(1953, 12, 31).toordinal()
_P_ARREST = {"shot": 0.97, "camp": 0.96, "exile": 0.7, "other": 0.85}
_P_PROCESS = {"shot": 0.9, "camp": 0.88, "exile": 0.5, "other": 0.6}
_P_ORGAN = {"shot": 0.92, "camp": 0.9, "exile": 0.45, "other": 0.6}
_P_ARTICLE = {"shot": 0.6, "camp": 0.6, "exile": 0.15, "other": 0.4}
_P_REHAB = {"shot": 0.9, "camp": 0.8, "exile": 0.6, "other": 0.5}
_REHAB_YEARS = {
    "early": T.years([(1955, 1962, 35), (1963, 1987, 5), (1988, 2005, 60)]),
    "late": T.years([(1956, 1962, 10), (1988, 1990, 20), (1991, 2005, 70)]),
}
_CITIZENSHIP = Picker([("СССР", 90.0), ("без гражданства", 5.0), ("Польша", 3.0), ("Латвия", 2.0)])


class RegionPickers:
    """A region with its Books of Memory (title, URL) and weighted towns and burial places."""

    __slots__ = ("books", "burial", "city", "region")

    def __init__(self, region: Region, url_prefix: str, volumes: int) -> None:
        self.region = region
        self.books: list[tuple[str, str]] = []
        for index, title in enumerate(region.books):
            slug = f"{url_prefix}{region.key}-{index + 1}"
            if "{vol}" in title:
                self.books += [
                    (title.replace("{vol}", str(v)), f"{slug}-{v}") for v in range(1, volumes + 1)
                ]
            else:
                self.books.append((title, slug))
        self.city = zipf(region.cities, 1.6, 1.0)
        self.burial = zipf(region.burials, 1.2, 1.0)


def pick(items: tuple[Any, ...] | list[Any], r: Rng) -> Any:
    return items[int(r() * len(items))]


def partial(ordinal: int, r: Rng, full: float, month: float) -> str:
    """ISO text of the day ``ordinal`` at full (p=full), month (p=month) or year precision."""
    day = date.fromordinal(ordinal)
    x = r()
    if x < full:
        return day.isoformat()
    if x < full + month:
        return f"{day.year:04d}-{day.month:02d}"
    return f"{day.year:04d}"


def _party(year: int, r: Rng) -> str:
    x = r()
    if x < 0.8:
        return "б/п"
    party = "ВКП(б)" if year >= 1926 else "РКП(б)"
    if x < 0.9:
        return f"член {party} с {1917 + int(r() * max(1, min(year, 1937) - 1917))}"
    if x < 0.94:
        return f"бывший член {party}"
    if x < 0.96:
        return f"исключен из {party} в {year - 1}"
    return f"кандидат в члены {party}" if x < 0.98 else "член ВЛКСМ"


def _judge(region: Region, category: str, year: int, r: Rng) -> str:
    x = r()
    if year <= 1922:
        return "коллегия ВЧК" if x < 0.5 else "ревтрибунал"
    if year <= 1933:
        if x < 0.6:
            return f"тройка при ПП ОГПУ по {region.dative}"
        return "Коллегия ОГПУ" if x < 0.8 else "ОСО при Коллегии ОГПУ"
    if year <= 1936:
        return "ОСО при НКВД СССР" if x < 0.5 else region.court
    if year <= 1938:
        if category == "shot":
            vk = 0.25 if region.key == "moscow" else 0.08
            if x < vk:
                return "ВК ВС СССР"
            return region.troika if x < 0.78 else "Комиссия НКВД и Прокурора СССР"
        if x < 0.5:
            return region.troika
        return "ОСО при НКВД СССР" if x < 0.85 else region.court
    if year <= 1945:
        if x < 0.45:
            return "Военный трибунал войск НКВД"
        return "ОСО при НКВД СССР" if x < 0.8 else region.court
    return "ОСО при МГБ СССР" if x < 0.5 else ("Военный трибунал войск МВД" if x < 0.7 else
                                                 region.court)  # fmt: skip


def _sentence(category: str, year: int, r: Rng) -> str:
    if category == "shot":
        return T.SHOT_SENTENCES(r)
    if category == "camp":
        if year <= 1933:
            return T.CAMP_TERMS_EARLY(r)
        return T.CAMP_TERMS_LATE(r) if year >= 1947 and r() < 0.4 else T.CAMP_TERMS(r)
    if category == "exile":
        table = T.KULAK_EXILE if year <= 1933 else T.WAR_EXILE if year >= 1941 else T.LATER_EXILE
        return table(r).replace("{place}", pick(EXILE_PLACES, r))
    text = T.OTHER_SENTENCES(r)
    return "" if text == "лишение избирательных прав" and year > 1936 else text


def _circumstances(body: Body, place: RegionPickers, f: bool, year: int, r: Rng) -> None:
    if r() < 0.85:
        body["occupation"] = T.OCCUPATIONS(r)[f] or "домохозяйка"
    if r() < 0.8:
        body["live_place"] = _live_place(place, r)
    if r() < 0.45:
        body["party"] = _party(year, r)
    if r() < 0.25:
        body["education"] = T.EDUCATION(r)[f]
    if r() < 0.08:
        body["family"] = T.FAMILY(r)[f]
    if r() < 0.12:
        body["citizenship"] = _CITIZENSHIP(r)


def _live_place(place: RegionPickers, r: Rng) -> str:
    region = place.region
    x = r()
    if x < 0.45:
        city = place.city(r)
        if city == region.cities[0] and r() < 0.3:
            street = pick(T.STREETS, r)
            return f"г. {city}, {street}, д. {1 + int(r() * 60)}, кв. {1 + int(r() * 40)}"
        return f"г. {city}"
    village = f"{'с.' if r() < 0.45 else 'д.'} {pick(VILLAGES, r)}"
    if x < 0.85:
        return f"{region.oblast}, {pick(region.districts, r)} р-н, {village}"
    return f"{region.oblast}, г. {pick(region.cities, r)}"


def _arrest(body: Body, region: Region, category: str, year: int, r: Rng) -> None:
    if r() < 0.35:
        if year <= 1933:
            body["arrest_organ"] = f"ПП ОГПУ по {region.dative}"
        elif year <= 1945:
            district = pick(region.districts, r)
            body["arrest_organ"] = (
                f"УНКВД по {region.dative}" if r() < 0.6 else f"{district} РО НКВД"
            )
        else:
            body["arrest_organ"] = f"УМГБ по {region.dative}"
    if r() < 0.04:
        if category != "exile":
            body["arrest_type"] = "арест"
        else:
            body["arrest_type"] = "раскулачивание" if year <= 1933 else "депортация"
    if r() < 0.12:
        number = 1000 + int(r() * 99000)
        body["criminal_case"] = f"П-{number}" if r() < 0.6 else f"дело № {number}"


def _process(body: Body, ordinal: int, r: Rng) -> None:
    """The sentence date; rarely a day without a month, kept verbatim (module docstring)."""
    if r() < 0.002:
        day = date.fromordinal(ordinal)
        body["process_date"] = f"{day.year:04d}"
        body["process_date_verbatim"] = f"{day.day}._.{day.year}"
    else:
        body["process_date"] = partial(ordinal, r, 0.74, 0.16)


def _death(body: Body, region_burial: Picker[str], category: str, ordinal: int, r: Rng) -> None:
    if category == "shot":
        if r() < 0.93:
            if r() < 0.001:
                day = date.fromordinal(ordinal)
                body["death_date_verbatim"] = f"{day.day}.{day.month}._"
            else:
                body["death_date"] = partial(ordinal, r, 0.9, 0.06)
        if r() < 0.85:
            body["death_place"] = region_burial(r)
    elif category == "camp" and r() < 0.18:
        died = min(ordinal + 365 + int(r() * 5 * 365), _LAST_DAY)
        body["death_date"] = partial(died, r, 0.6, 0.2)
        if r() < 0.7:
            body["death_place"] = pick(CAMPS, r)


def _rehabilitation(body: Body, region: Region, category: str, r: Rng) -> None:
    if r() >= _P_REHAB[category]:
        return
    years = _REHAB_YEARS["late" if category in ("exile", "other") else "early"]
    year = years(r)
    body["rehabilitation_date"] = partial(
        date(year, 1, 1).toordinal() + int(r() * 365), r, 0.85, 0.10
    )
    if r() < 0.85:
        x = r()
        if year < 1988:
            organ = "ВК ВС СССР" if x < 0.5 else region.court
        elif category in ("exile", "other") and x < 0.5:
            organ = f"УВД {region.of()}" if x < 0.3 else f"ИЦ УВД {region.of()}"
        else:
            organ = f"прокуратура {region.of()}" if x < 0.85 else "военная прокуратура"
        body["rehabilitation_organ"] = organ
    if r() < 0.7:
        reason = T.REHAB_REASONS(r)
        if region.key == "kiev" and "РФ" in reason:
            reason = "Закон УССР от 17.04.1991"
        body["rehabilitation_reason"] = reason


def describe_event(place: RegionPickers, sex: str, category: str, year: int, r: Rng) -> Body:
    """Circumstances and persecution of one record; ``category`` from :data:`texts.CATEGORY`."""
    region = place.region
    body: Body = {}
    _circumstances(body, place, sex == "f", year, r)
    arrest = date(year, 1, 1).toordinal() + int(r() * 365)
    if r() < _P_ARREST[category]:
        body["arrest_date"] = partial(arrest, r, 0.94, 0.04)
    _arrest(body, region, category, year, r)
    process = min(arrest + 5 + int(r() * r() * 300), _LAST_DAY)
    if r() < _P_PROCESS[category]:
        _process(body, process, r)
    if r() < _P_ORGAN[category]:
        body["judicial_organ"] = _judge(region, category, year, r)
    if r() < _P_ARTICLE[category]:
        article = T.ARTICLES(r)
        if article[0].isdigit() and r() < 0.6:  # "КРД", "АСА": ОСО's labels, not code articles
            article = f"{article} {region.article_code}"
        body["criminal_article"] = article
    sentence = _sentence(category, year, r)
    if sentence:
        body["sentence"] = sentence
    body["executed"] = category == "shot"
    _death(body, place.burial, category, process + int(r() * r() * 20), r)
    _rehabilitation(body, region, category, r)
    if r() < 0.03:
        body["previous_repression"] = (
            f"в {year - 2 - int(r() * 6)} г. раскулачен, выслан" if r() < 0.5
            else f"в {year - 3} г. осужден к 3 годам ИТЛ"
        )  # fmt: skip
    if category != "shot" and r() < 0.03:
        body["next_repression"] = (
            f"в {year + 10} г. повторно арестован, ссылка на поселение в {pick(EXILE_PLACES, r)}"
        )
    return body
