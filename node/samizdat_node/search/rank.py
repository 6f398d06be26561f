"""Ranking (pure): which indexed forms a term may match, and how well a row matches a query.

1. :func:`classify` takes the forms the vocabulary offers for a term (found by skeleton or by
   a one-deletion key) and gives each a :class:`~samizdat_node.search.model.MatchClass` and a
   penalty inside its class: a Latin reading's cost, the dissimilarity of a phonetic match
   (rapidfuzz ``ratio``), the edit distance of a fuzzy one (rapidfuzz ``Levenshtein``, at most
   :data:`MAX_EDITS`). The best :data:`MAX_FORMS_PER_TERM` forms are kept.
2. :func:`score_row` assigns each query term to at most one name field of a row, greedily by
   match quality, so ``Иван Иванов`` cannot match the surname twice. A row's score adds, per
   term, its class score (:data:`CLASS_SCORE`) minus its penalty; an unmatched term costs
   :data:`UNMATCHED`, less when the row has no value in a field the term could have filled
   (a record without a patronymic is not evidence against one); a known birth year earns up
   to :data:`YEAR_BONUS` by proximity.

Class scores are spaced wider than any penalty or bonus, so an exact match beats a variant,
which beats a phonetic match, which beats a fuzzy one; more matched fields beat fewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import ratio

from .document import split_field
from .model import MatchClass
from .phonetic import masculine
from .query import FUZZY_READINGS, Term

__all__ = [
    "CLASS_SCORE",
    "FIELDS",
    "FIELD_NAMES",
    "MAX_EDITS",
    "MAX_FORMS_PER_TERM",
    "UNMATCHED",
    "YEAR_BONUS",
    "TermForms",
    "classify",
    "score_row",
]

FIELDS = ("s", "n", "p")
FIELD_NAMES = {"s": "surname", "n": "name", "p": "patronymic"}
CLASS_SCORE = {
    MatchClass.EXACT: 100.0,
    MatchClass.VARIANT: 88.0,
    MatchClass.FORM: 76.0,
    MatchClass.PHONETIC: 64.0,
    MatchClass.FUZZY: 50.0,
}
MAX_EDITS = 2
MAX_FORMS_PER_TERM = 40
UNMATCHED = -60.0
EMPTY_FIELD_RELIEF = 45.0
YEAR_BONUS = (6.0, 3.0, 1.0)  # |year difference| 0, 1, 2
_MAX_PENALTY = 10.0

Match = tuple[MatchClass, float]


# form -> (score, class) when the form is a row's name as written, and when it is a variant
Scores = tuple[dict[str, tuple[float, MatchClass]], dict[str, tuple[float, MatchClass]]]


@dataclass(frozen=True, slots=True)
class TermForms:
    """For one term, per field: indexed form -> (class, penalty), and the scores derived."""

    term: Term
    by_field: dict[str, dict[str, Match]]
    scores: dict[str, Scores]

    def forms(self, field: str, best_only: bool = False) -> list[str]:
        """The forms to ask the index for (only exact ones when ``best_only``)."""
        table = self.by_field.get(field, {})
        if best_only:
            return [form for form, (cls, _) in table.items() if cls == MatchClass.EXACT]
        return list(table)


def _match(term: Term, form: str, skel: str, readings: dict[str, float]) -> Match | None:
    cost = readings.get(form)
    if cost is not None:
        return MatchClass.EXACT, min(cost, _MAX_PENALTY)
    latin_cost = min(term.readings[0][1], _MAX_PENALTY)
    if masculine(form) in term.masculine:
        return MatchClass.FORM, latin_cost
    nearest = max((ratio(form, text) for text, _ in term.readings[:FUZZY_READINGS]), default=0.0)
    if skel in term.skeletons:
        return MatchClass.PHONETIC, min(_MAX_PENALTY, (100.0 - nearest) / 5.0 + latin_cost)
    edits = min(
        Levenshtein.distance(form, text, score_cutoff=MAX_EDITS)
        for text, _ in term.readings[:FUZZY_READINGS]
    )
    if edits > MAX_EDITS:
        return None
    return MatchClass.FUZZY, min(_MAX_PENALTY, 4.0 * edits + latin_cost)


def classify(term: Term, offered: Iterable[tuple[str, str, str]]) -> TermForms:
    """Classify the vocabulary's ``(skeleton, field, form)`` offers for ``term``."""
    readings = dict(term.readings)
    found: list[tuple[int, float, str, str]] = []
    for skel, field, form in offered:
        match = _match(term, form, skel, readings)
        if match is not None:
            found.append((-int(match[0]), match[1], field, form))
    found.sort()
    by_field: dict[str, dict[str, Match]] = {}
    scores: dict[str, Scores] = {}
    for negative_class, penalty, field, form in found[:MAX_FORMS_PER_TERM]:
        cls = MatchClass(-negative_class)
        by_field.setdefault(field, {})[form] = (cls, penalty)
        as_written, as_variant = scores.setdefault(field, ({}, {}))
        as_written[form] = (CLASS_SCORE[cls] - penalty, cls)
        # A listed variant of the record: an exact match counts as VARIANT, others a bit less.
        if cls == MatchClass.EXACT:
            as_variant[form] = (CLASS_SCORE[MatchClass.VARIANT] - penalty, MatchClass.VARIANT)
        else:
            as_variant[form] = (CLASS_SCORE[cls] - penalty - 2.0, cls)
    return TermForms(term, by_field, scores)


_NO_MATCH = (-1.0, MatchClass.NONE)


def _best_in_field(
    scores: Scores, forms: tuple[tuple[str, ...], tuple[str, ...]]
) -> tuple[float, MatchClass]:
    best = _NO_MATCH
    as_written, as_variant = scores
    for form in forms[0]:
        match = as_written.get(form)
        if match is not None and match[0] > best[0]:
            best = match
    for form in forms[1]:
        match = as_variant.get(form)
        if match is not None and match[0] > best[0]:
            best = match
    return best


@lru_cache(maxsize=1 << 14)
def _split(column: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """A row's name column as (forms as written, variant forms); cached, names repeat."""
    if not column:
        return None
    primary, variants = split_field(column)
    return tuple(primary), tuple(variants)


def score_row(
    terms: Sequence[TermForms],
    columns: Sequence[str],
    year: int | None,
    query_year: int | None,
) -> tuple[float, dict[str, MatchClass]]:
    """Score one row (``columns`` are its s, n, p texts) against the query's terms."""
    options: list[tuple[float, int, int, MatchClass]] = []
    split = [_split(column) for column in columns]
    for index, term in enumerate(terms):
        for slot, field in enumerate(FIELDS):
            forms = split[slot]
            scores = term.scores.get(field)
            if forms is None or scores is None:
                continue
            value, cls = _best_in_field(scores, forms)
            if cls:
                options.append((value, index, slot, cls))
    options.sort(reverse=True)
    used_terms: set[int] = set()
    used_slots: set[int] = set()
    matched: dict[str, MatchClass] = {}
    score = 0.0
    for value, index, slot, cls in options:
        if index in used_terms or slot in used_slots:
            continue
        used_terms.add(index)
        used_slots.add(slot)
        matched[FIELD_NAMES[FIELDS[slot]]] = cls
        score += value
    empty_slots = sum(1 for slot in range(3) if slot not in used_slots and not columns[slot])
    for _ in range(len(terms) - len(used_terms)):
        score += UNMATCHED
        if empty_slots:
            empty_slots -= 1
            score += EMPTY_FIELD_RELIEF
    if query_year is not None and year is not None:
        distance = abs(year - query_year)
        if distance < len(YEAR_BONUS):
            score += YEAR_BONUS[distance]
    return score, matched
