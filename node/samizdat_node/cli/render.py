"""How a record reads on a terminal: field labels in Russian and English, partial dates at their
own precision (``в мае 1939 г.``, never an invented ``01.05.1939``), names and years."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from samizdat_protocol.errors import SamizdatError
from samizdat_protocol.partial_dates import PartialDate, render_en, render_ru
from samizdat_protocol.schema import DATE_FIELDS

from ..field_labels import FIELD_LABELS

__all__ = ["LABELS", "field_order", "full_name", "label", "place", "print_hits", "render_value",
           "when", "years"]

LABELS = FIELD_LABELS  # one table with the gateway (field_labels.py)

_YES_NO = {"ru": ("да", "нет"), "en": ("yes", "no")}
_SEX = {"ru": {"m": "мужской", "f": "женский"}, "en": {"m": "male", "f": "female"}}


def label(field: str, lang: str) -> str:
    pair = LABELS.get(field)
    return field if pair is None else pair[0 if lang == "ru" else 1]


def field_order(body: Mapping[str, Any]) -> list[str]:
    known = [field for field in LABELS if field in body]
    return known + sorted(set(body) - set(LABELS))


def render_value(field: str, value: Any, lang: str) -> str:
    """One field's value as a person reads it."""
    if field in DATE_FIELDS and isinstance(value, str):
        try:
            date = PartialDate.from_iso(value)
        except SamizdatError:
            return value
        return render_ru(date, kind="field") if lang == "ru" else render_en(date)
    if isinstance(value, bool):
        yes, no = _YES_NO[lang]
        return yes if value else no
    if field == "sex" and isinstance(value, str):
        return _SEX[lang].get(value, value)
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return str(value)


def full_name(body: Mapping[str, Any] | None) -> str:
    if not body:
        return ""
    return " ".join(str(body[k]) for k in ("surname", "name", "patronymic") if body.get(k))


def _year(value: Any) -> str:
    return value[:4] if isinstance(value, str) and value[:4].isdigit() else ""


def years(body: Mapping[str, Any] | None) -> str:
    """``1890–1938``, ``1890–``, ``–1938`` or empty."""
    if not body:
        return ""
    born, died = _year(body.get("birth")), _year(body.get("death_date"))
    return f"{born}–{died}" if born or died else ""


def place(body: Mapping[str, Any] | None) -> str:
    if not body:
        return ""
    return str(body.get("birth_place") or body.get("live_place") or "")


def when(ms: int) -> str:
    """A publisher timestamp (informative only) as UTC text."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def print_hits(results: list[dict[str, Any]], offset: int,
               detail: Callable[[dict[str, Any]], str]) -> None:
    """Numbered search results, two lines each: who, then ``detail`` (where it comes from)."""
    if not results:
        print("nothing found")
    for n, item in enumerate(results, start=offset + 1):
        flag = "  [retracted]" if item["retracted"] else ""
        print(f"{n:3}. {item['name']}  {item['years']}  {item['place']}{flag}")
        print(f"     {item['record_id']}  {detail(item)}")
