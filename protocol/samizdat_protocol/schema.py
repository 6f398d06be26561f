"""Record schemas: ``memorial.victim/1``, one act of persecution of one person from one source.

A charter names the schema of its dataset (design §2); :data:`SCHEMAS` maps that name to a
validator. A validator takes a decoded record body (a map the canonical encoder can encode; it
becomes the entry payload) and returns the *normalised* body, or raises
:class:`~samizdat_protocol.errors.SchemaError` with code ``schema.<reason>`` and the field name.

``memorial.victim/1`` follows the 2007 export of Memorial's database (memorial-data.md):

* text fields: str, stripped of surrounding whitespace, NFC-normalised, no control characters
  (so a value fits in one TSV cell), with the original database's length limits (names 255;
  places, occupation, article, case and rehabilitation basis 1000; sentence 2000; source
  title 400; the rest chosen in :data:`TEXT_LIMITS`); ``surname`` is required;
* partial dates (``birth``, ``arrest_date``, ``process_date``, ``death_date``,
  ``rehabilitation_date``): ISO 8601 reduced precision, see :mod:`.partial_dates`;
* ``<date>_verbatim`` and ``age_verbatim``: the source's own text where the structured field
  cannot hold it exactly (``12._.1938``, ``около 40``); the structured field then holds only
  the part that is certain, or is absent;
* ``age`` int 0..130 (at arrest, when the birth date is unknown); ``sex`` ``"m"`` or ``"f"``;
  ``executed`` bool; ``synthetic`` present only as ``true`` (generated data);
* name variants: lists of at most 32 distinct strings of at most 255 characters.

Normalisation: strings are stripped and NFC-composed; an empty string or list, and
``synthetic: false``, mean "absent" and are dropped; duplicate list items are dropped (first
kept); tuples become lists. ``None`` values and unknown fields are errors, never dropped:
absence is a missing key. Validation is idempotent, and with ``strict=True`` a body that
normalisation would change is refused (``schema.not_normalised``): use that for payloads
from peers, whose hash covers the bytes as published.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

from .encoding import Value
from .errors import SchemaError
from .partial_dates import check_iso

__all__ = [
    "DATE_FIELDS",
    "FIELDS",
    "LIST_FIELDS",
    "LIST_ITEM_LIMIT",
    "LIST_LIMIT",
    "SCHEMAS",
    "SCHEMA_ID",
    "TEXT_LIMITS",
    "Validator",
    "clean_list",
    "clean_text",
    "validate",
    "validate_victim",
]

SCHEMA_ID = "memorial.victim/1"

# Field -> maximum length in characters (after normalisation).
TEXT_LIMITS: dict[str, int] = {
    # names: 255 in the original database
    "surname": 255, "name": 255, "patronymic": 255,
    "birth_comment": 1000,
    # places, occupation, article, case, rehabilitation basis: 1000
    "birth_place": 1000, "live_place": 1000, "death_place": 1000, "occupation": 1000,
    "criminal_article": 1000, "criminal_case": 1000, "rehabilitation_reason": 1000,
    # short classifiers in the original (dictionary tables): 255 is ample
    "nation": 255, "citizenship": 255, "education": 255, "party": 255, "arrest_type": 255,
    # organs and free text: 1000, like the other long fields
    "family": 1000, "arrest_organ": 1000, "judicial_organ": 1000, "rehabilitation_organ": 1000,
    # sentence: 2000; the repression notes are sentence-like texts
    "sentence": 2000, "previous_repression": 2000, "next_repression": 2000,
    # source: Book of Memory title 400
    "source": 400, "source_url": 1000, "source_id": 64,
    # the source's own text for a value the structured field cannot hold exactly
    "age_verbatim": 255, "birth_verbatim": 255, "arrest_date_verbatim": 255,
    "process_date_verbatim": 255, "death_date_verbatim": 255,
    "rehabilitation_date_verbatim": 255,
}  # fmt: skip
DATE_FIELDS = ("birth", "arrest_date", "process_date", "death_date", "rehabilitation_date")
LIST_FIELDS = (
    "all_name_variations", "name_variations", "surname_variations", "patronymic_variations",
    "fullname_variations",
)  # fmt: skip
LIST_LIMIT = 32
LIST_ITEM_LIMIT = 255
_BOOL_FIELDS = ("executed", "synthetic")
_AGE_MAX = 130

FIELDS: frozenset[str] = frozenset(
    (*TEXT_LIMITS, *DATE_FIELDS, *LIST_FIELDS, *_BOOL_FIELDS, "age", "sex")
)

# C0 and C1 controls (tab and newline included: a value fits one TSV cell) and lone
# surrogates (which UTF-8 cannot encode).
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_is_normalized = unicodedata.is_normalized


def clean_text(field: str, value: object, limit: int) -> str:
    """The text rule: a str, stripped, NFC, no control characters, at most ``limit`` long.

    Returns the normalised text ("" means absent) or raises ``SchemaError`` naming ``field``.
    Shared by :func:`validate_victim` and importers that build bodies field by field.
    """
    if type(value) is not str:
        raise SchemaError("schema.type", f"{field}: expected a string", field=field)
    text = value.strip()
    # Fast path for nearly every value: printable (so no control character), short enough,
    # already NFC. isprintable() also refuses no-break and other spaces, which are allowed,
    # so a False sends the value to the exact checks below rather than rejecting it.
    if text.isprintable() and len(text) <= limit and _is_normalized("NFC", text):
        return text
    if _FORBIDDEN.search(text):
        raise SchemaError(
            "schema.control_char", f"{field}: contains a control character", field=field
        )
    if not _is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if len(text) > limit:
        raise SchemaError(
            "schema.too_long",
            f"{field}: {len(text)} characters exceed the limit of {limit}",
            field=field,
        )
    return text


def clean_list(field: str, value: object) -> list[str]:
    """The variant-list rule: at most 32 distinct clean texts; empties and repeats dropped."""
    if not isinstance(value, (list, tuple)):
        raise SchemaError("schema.type", f"{field}: expected a list of strings", field=field)
    out: list[str] = []
    for item in value:
        text = clean_text(field, item, LIST_ITEM_LIMIT)
        if text and text not in out:
            out.append(text)
    if len(out) > LIST_LIMIT:
        raise SchemaError(
            "schema.too_many", f"{field}: more than {LIST_LIMIT} variants", field=field
        )
    return out


def _date(field: str, value: object) -> str:
    if type(value) is not str:
        raise SchemaError("schema.type", f"{field}: expected an ISO 8601 date", field=field)
    text = value.strip()
    if not text:
        return text  # empty means absent, as for text fields
    try:
        check_iso(text)
    except SchemaError as exc:
        raise SchemaError("schema.date", f"{field}: {exc.message}", field=field) from exc
    return text


def _other(field: str, value: object) -> Value:
    if field == "age":
        if type(value) is not int:
            raise SchemaError("schema.type", "age: expected an integer", field=field)
        if not 0 <= value <= _AGE_MAX:
            raise SchemaError("schema.range", f"age: {value} is outside 0..130", field=field)
        return value
    if field == "sex":
        if value not in ("m", "f") or type(value) is not str:
            raise SchemaError("schema.enum", 'sex: expected "m" or "f"', field=field)
        return value
    if type(value) is not bool:  # executed, synthetic
        raise SchemaError("schema.type", f"{field}: expected true or false", field=field)
    return value


# Field -> how to check it: a text limit (> 0) or one of the negative kinds.
_K_DATE, _K_LIST, _K_OTHER = -1, -2, -3
_KIND: dict[str, int] = {
    **TEXT_LIMITS,
    **dict.fromkeys(DATE_FIELDS, _K_DATE),
    **dict.fromkeys(LIST_FIELDS, _K_LIST),
    **dict.fromkeys((*_BOOL_FIELDS, "age", "sex"), _K_OTHER),
}


def validate_victim(body: Mapping[str, object], *, strict: bool = False) -> dict[str, Value]:
    """Validate a ``memorial.victim/1`` body; return its normalised form (module docstring)."""
    if not isinstance(body, Mapping):
        raise SchemaError("schema.not_a_map", "a record body must be a map")
    out: dict[str, Value] = {}
    for field, value in body.items():
        kind = _KIND.get(field)
        if kind is None:
            raise SchemaError("schema.unknown_field", f"unknown field {field!r}", field=str(field))
        if value is None:
            raise SchemaError(
                "schema.null", f"{field}: null is not allowed; omit the field", field=field
            )
        clean: Value
        if kind > 0:  # text with this limit: most fields, so tested first
            clean = clean_text(field, value, kind)
            if clean:
                out[field] = clean
        elif kind == _K_DATE:
            clean = _date(field, value)
            if clean:
                out[field] = clean
        elif kind == _K_LIST:
            clean = clean_list(field, value)
            if clean:
                out[field] = clean
        else:
            clean = _other(field, value)
            if not (field == "synthetic" and clean is False):
                out[field] = clean
    if "surname" not in out:
        raise SchemaError("schema.required", "surname: required and non-empty", field="surname")
    if strict:
        _require_normalised(body, out)
    return out


def _require_normalised(body: Mapping[str, object], out: dict[str, Value]) -> None:
    # Normalisation only strips, composes, drops and turns tuples into lists, and the checks
    # above admit no value that equals another type's (True == 1), so equality suffices;
    # the loop only finds the field to name.
    if len(out) == len(body) and out == dict(body):
        return
    for field in body:
        if (
            field not in out
            or out[field] != body[field]
            or type(body[field]) is not type(out[field])
        ):
            raise SchemaError(
                "schema.not_normalised",
                f"{field}: value is not in normalised form (stripped, NFC, no empties)",
                field=field,
            )


class Validator(Protocol):
    """The signature every schema validator has."""

    def __call__(self, body: Mapping[str, object], *, strict: bool = False) -> dict[str, Any]: ...


SCHEMAS: dict[str, Validator] = {SCHEMA_ID: validate_victim}


def validate(
    schema_id: str, body: Mapping[str, object], *, strict: bool = False
) -> dict[str, Value]:
    """Validate ``body`` against the schema a charter names; unknown ids are refused."""
    validator = SCHEMAS.get(schema_id)
    if validator is None:
        raise SchemaError(
            "schema.unknown_schema", f"unknown record schema {schema_id!r}", schema=schema_id
        )
    return validator(body, strict=strict)
