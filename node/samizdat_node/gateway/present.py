"""How a record body reads on a page: field order, values, partial dates, a short biography.

Pure functions of a body and a language. Partial dates keep their own precision (spec §9):
``"1939-05"`` is "май 1939 г." beside a label and "в мае 1939 г." in a sentence, never an
invented day (:func:`samizdat_protocol.partial_dates.render_ru`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from samizdat_protocol.authstate import AuthState, PublisherStatus
from samizdat_protocol.errors import SamizdatError
from samizdat_protocol.partial_dates import PartialDate, render_en, render_ru
from samizdat_protocol.schema import DATE_FIELDS

from .i18n import FIELD_LABELS, text

__all__ = [
    "biography",
    "changes",
    "field_order",
    "full_name",
    "place",
    "render_date",
    "render_value",
    "standing",
    "standings",
    "timestamp",
    "years",
]

Body = Mapping[str, Any]


def _date(value: object) -> PartialDate | None:
    if not isinstance(value, str):
        return None
    try:
        return PartialDate.from_iso(value)
    except SamizdatError:
        return None


def render_date(value: object, lang: str, *, event: bool = False) -> str:
    """A stored partial date as people write it; anything else as it is."""
    date = _date(value)
    if date is None:
        return str(value)
    if lang == "ru":
        return render_ru(date, kind="event" if event else "field")
    english = render_en(date)
    if not event:
        return english
    return f"on {english}" if date.precision == "day" else f"in {english}"


def render_value(field: str, value: Any, lang: str) -> str:
    """One field's value as a person reads it."""
    if field in DATE_FIELDS:
        return render_date(value, lang)
    if isinstance(value, bool):
        return text("yes" if value else "no", lang)
    if field == "sex" and value in ("m", "f"):
        return text(f"sex.{value}", lang)
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return str(value)


def field_order(body: Body) -> list[str]:
    """Known fields in page order, then any others alphabetically."""
    return [f for f in FIELD_LABELS if f in body] + sorted(set(body) - set(FIELD_LABELS))


def full_name(body: Body | None) -> str:
    if not body:
        return ""
    return " ".join(str(body[k]) for k in ("surname", "name", "patronymic") if body.get(k))


def _year(value: object) -> str:
    return value[:4] if isinstance(value, str) and value[:4].isdigit() else ""


def years(body: Body | None) -> str:
    """``1890–1938``, ``1890–``, ``–1938`` or empty."""
    if not body:
        return ""
    born, died = _year(body.get("birth")), _year(body.get("death_date"))
    return f"{born}–{died}" if born or died else ""


def place(body: Body | None) -> str:
    if not body:
        return ""
    return str(body.get("birth_place") or body.get("live_place") or "")


def timestamp(ms: int) -> str:
    """A publisher's timestamp (informative only, spec §5) as UTC text."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return str(ms)


# (date field, Russian masculine, Russian feminine, English) for the short biography.
_EVENTS = (
    ("birth", "Родился", "Родилась", "Born"),
    ("arrest_date", "Арестован", "Арестована", "Arrested"),
    ("process_date", "Осуждён", "Осуждена", "Sentenced"),
    ("death_date", "Умер", "Умерла", "Died"),
    ("rehabilitation_date", "Реабилитирован", "Реабилитирована", "Rehabilitated"),
)
_PLACES = {"birth": "birth_place", "death_date": "death_place"}


def biography(body: Body | None, lang: str) -> list[str]:
    """Short sentences in the style of a Book of Memory: "Арестован в мае 1939 г."."""
    if not body:
        return []
    female = body.get("sex") == "f"
    out = []
    for field, masc, fem, english in _EVENTS:
        if field not in body:
            continue
        verb = english if lang != "ru" else (fem if female else masc)
        if field == "death_date" and body.get("executed") is True:
            verb = "Executed" if lang != "ru" else ("Расстреляна" if female else "Расстрелян")
        sentence = f"{verb} {render_date(body[field], lang, event=True)}"
        where = body.get(_PLACES.get(field, ""))
        if isinstance(where, str) and where:
            sentence += f", {where}"
        out.append(sentence + ("" if sentence.endswith(".") else "."))
    return out


def changes(old: Body | None, new: Body | None, lang: str) -> list[tuple[str, str, str]]:
    """``(field, old text, new text)`` for every field that differs (empty text: absent)."""
    old, new = old or {}, new or {}
    out = []
    for field in field_order({**old, **new}):
        if old.get(field) != new.get(field):
            out.append((field,
                        render_value(field, old[field], lang) if field in old else "",
                        render_value(field, new[field], lang) if field in new else ""))
    return out


# A publisher key's standing under the founders' decisions (spec §13 rule 6), (ru, en).
_STANDING = {
    "active": ("ключ действует", "key active"),
    "rotated": ("ключ заменён на {to}; записи с № {as_of} не учитываются",
                "key rotated to {to} as of entry {as_of}"),
    "revoked": ("ключ отозван; записи с № {as_of} не учитываются",
                "key revoked as of entry {as_of}"),
    "suspended": ("ключ приостановлен: подписал две несовместимые истории",
                  "key suspended: it signed two inconsistent histories"),
    "unknown": ("не публикатор этого набора", "not a publisher of this dataset"),
}


def standing(status: PublisherStatus | None, lang: str) -> str:
    """One key's standing as a reader reads it: active, rotated, revoked as of N, suspended.
    The successor of a rotated key is named by its key (it usually keeps the same name)."""
    state = "unknown" if status is None else status.state
    pair = _STANDING.get(state, _STANDING["unknown"])
    to = status.to if status is not None else None
    return pair[0 if lang == "ru" else 1].format(
        to=to.hex()[:16] if to else "", as_of=status.as_of if status is not None else "")


def standings(state: AuthState, names: Mapping[bytes, str], lang: str) -> dict[str, str]:
    """Every key's standing, found by its hex key and by the label pages show for it (the
    name, else the first 16 hex digits), so a template can look it up beside any version."""
    out: dict[str, str] = {}
    for key, status in state.publishers.items():
        said = standing(status, lang)
        out[key.hex()] = said
        out.setdefault(names.get(key, key.hex()[:16]), said)
    return out
