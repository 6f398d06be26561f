"""Latin input -> Cyrillic candidates (memorial-data.md: "Latin input from descendants abroad").

A romanised name is read back with the rules of :mod:`.translit_rules` (every iuliia scheme
reversed, plus German, Polish and informal spellings) by a beam search from left to right:

* at every position each rule whose Latin chunk starts there extends each kept reading;
* a step costs :data:`RULE_COST` plus ``-ln`` of the share of the schemes still consistent
  with the reading that read the chunk this way (:func:`_advance`), so a reading that one
  scheme explains whole is cheap, and one that mixes schemes pays :data:`SWITCH_COST`;
* Russian spelling rules add penalties (:func:`_penalty`: ``ь`` after a vowel, ``ы`` at the
  start or after ``к г х ж ш ч щ``, ``й`` after a consonant, ...): rules of Russian orthography
  that no scheme's output breaks, so they prune junk without losing a real name;
* a consonant may gain an unwritten ``ь`` and ``е я ю`` an unwritten ``ъ``, at a cost: many
  schemes (ICAO, Wikipedia, Telegram, Yandex) drop them, so ``Vasilev`` must reach ``Васильев``;
* each position keeps the :data:`BEAM` cheapest readings plus, for each scheme, its cheapest
  reading that scheme explains whole (:func:`_prune`); the word is cut at
  :data:`MAX_LATIN_LENGTH` letters, so the work is bounded whatever the input.

The candidates are not the answer: the index keeps only those whose spelling class
(:func:`~samizdat_node.search.phonetic.skeleton`) occurs in the data, so a plausible misreading
costs a dictionary probe, never a result. Decision record: docs/decisions/0003-search.md.
"""

from __future__ import annotations

import math
from functools import lru_cache

from .normalise import fold_chars
from .translit_rules import RuleSet, rule_set

__all__ = ["BEAM", "MAX_CANDIDATES", "MAX_LATIN_LENGTH", "latin_candidates"]

BEAM = 96
MAX_CANDIDATES = 64
MAX_LATIN_LENGTH = 32

RULE_COST = 0.4  # per rule, so one long chunk ("shch" -> щ) beats pieces ("sh" + "ch")
SWITCH_COST = 2.0  # a reading no single scheme explains (the writer mixed schemes)
SOFT_SIGN_COST = 1.2  # a ь the Latin did not write (ICAO, Wikipedia and others drop it)
SOFT_SIGN_CLUSTER_COST = 2.2  # ... between two consonants (Кузьмин), rarer than before a vowel
HARD_SIGN_COST = 2.5  # likewise ъ, rarer in names
SKIP_COST = 4.0  # a character no rule reads (a digit, an unknown letter) is dropped

_VOWELS = frozenset("аеиоуыэюя")
_CONSONANTS = frozenset("бвгджзклмнпрстфхцчшщ")
_SOFTENABLE = frozenset("бвдзлмнпрстф")
_HUSHING = frozenset("жшчщц")
_VELAR_HUSHING = frozenset("кгхжшчщ")
_AFFRICATES = frozenset("цчшщж")
_SIGNS = frozenset("ьъ")
_HARD_VOWELS = frozenset("аоуэы")  # hardly ever after ь or ъ
# A consonant then х or г read from a Latin "h" that was part of a digraph (sh, kh, ts-h).
_BEFORE_H = frozenset("бгдзкпстцчш")
_LATIN_VOWELS = frozenset("aeiouy")
# Smoothing of the scheme shares: ln((consistent + 2) / (all + 2)).
_SMOOTHING = 2
_LOG = [math.log(count + _SMOOTHING) for count in range(257)]

# (length, cyrillic, rule mask, extra cost, extra mask or 0)
_Step = tuple[int, str, int, float, int]


def _penalty(prev: str, out: str) -> float:
    """Cost of writing ``out`` after the letter ``prev`` ("" at the start of the word).

    Russian orthography that no scheme's output breaks: ``ь ъ`` only after a consonant and
    hardly ever before ``а о у э ы``; a vowel after ``ы`` rarely;
    ``ы`` never first, rare after a vowel, never after ``к г х ж ш ч щ``; ``й`` after a
    vowel; ``э`` rarely after a consonant; ``я ю`` not after ``ж ш ч щ ц``; two of
    ``ц ч ш щ ж`` side by side hardly ever (``шч`` is how ``shch`` misreads ``щ``); ``х`` or
    ``г`` after a consonant rarely (``сх`` is how ``sh`` misreads ``ш``).
    """
    total = 0.0
    for char in out:
        if char in "ьъ":
            total += 0.0 if prev in _CONSONANTS else 5.0
        elif prev in _SIGNS and char in _HARD_VOWELS:
            total += 3.0
        elif prev == "ы" and char in _VOWELS:
            total += 1.5
        elif char == "ы":
            if not prev:
                total += 5.0
            elif prev in _VOWELS:
                total += 3.0
            elif prev in _VELAR_HUSHING:
                total += 2.5
        elif char == "й":
            if prev in _CONSONANTS:
                total += 2.5
            elif not prev:
                total += 1.5
        elif char == "э":
            total += 1.5 if prev in _CONSONANTS else 0.0
        elif char in "яю" and prev in _HUSHING:
            total += 1.5
        elif char in _AFFRICATES and prev in _AFFRICATES:
            total += 2.5
        elif char in "хг" and prev in _BEFORE_H:
            total += 1.5
        prev = char
    return total


def _steps(word: str, rules: RuleSet) -> list[list[_Step]]:
    """For every position, the readings of the Latin chunks that start there."""
    size = len(word)
    out: list[list[_Step]] = []
    for pos in range(size):
        here: list[_Step] = []
        for length in range(1, min(rules.longest, size - pos) + 1):
            for cyrillic, where, mask in rules.rules.get(word[pos : pos + length], ()):
                if (where == "start" and pos != 0) or (where == "end" and pos + length != size):
                    continue
                here.append((length, cyrillic, mask, 0.0, 0))
                if cyrillic[-1] in _SOFTENABLE:
                    after = pos + length
                    soft = (
                        SOFT_SIGN_COST
                        if after == size or word[after] in _LATIN_VOWELS
                        else SOFT_SIGN_CLUSTER_COST
                    )
                    here.append((length, cyrillic + "ь", mask, soft, rules.soft_mask))
                if pos and cyrillic[0] in "еяю":
                    here.append((length, "ъ" + cyrillic, mask, HARD_SIGN_COST, rules.hard_mask))
        if not here:
            here.append((1, "", rules.all_mask, SKIP_COST, 0))
        out.append(here)
    return out


def _advance(mask: int, rule_mask: int, all_mask: int) -> tuple[float, int, bool]:
    """Cost, new scheme mask and "switched" flag of applying a rule in a reading.

    With schemes equally likely a priori, the chance that the next chunk reads this way is
    the share of the still-consistent schemes that read it so (smoothed by :data:`_SMOOTHING`
    so a rare scheme is not ruled out by its first distinctive chunk); a reading no
    consistent scheme gives restarts from the rule's own schemes at :data:`SWITCH_COST`.
    """
    both = mask & rule_mask
    if both:
        return RULE_COST + _LOG[mask.bit_count()] - _LOG[both.bit_count()], both, False
    cost = RULE_COST + SWITCH_COST + _LOG[all_mask.bit_count()] - _LOG[rule_mask.bit_count()]
    return cost, rule_mask, True


# A reading: its cost, the schemes that explain it whole (or, once mixed, the last rule's),
# and whether it is still explained by one scheme from the start ("pure").
_State = tuple[float, int, bool]


@lru_cache(maxsize=4096)
def latin_candidates(word: str, limit: int = MAX_CANDIDATES) -> tuple[tuple[str, float], ...]:
    """Cyrillic readings of one Latin word, cheapest first, as ``(reading, cost)`` pairs.

    ``word`` is folded here (case, apostrophes, primes, tie bars); hyphens are dropped so
    ``Ibragim-Zade`` reads as one word. At most ``limit`` readings come back, plus for each
    scheme its cheapest reading that the scheme explains whole (:func:`_prune`).
    """
    word = fold_chars(word).replace("-", "").replace(" ", "")[:MAX_LATIN_LENGTH]
    if not word:
        return ()
    rules = rule_set()
    steps = _steps(word, rules)
    size = len(word)
    layers: list[dict[str, _State]] = [{} for _ in range(size + 1)]
    layers[0][""] = (0.0, rules.all_mask, True)
    for pos in range(size):
        for text, (cost, mask, pure) in _prune(layers[pos]):
            prev = text[-1] if text else ""
            for length, cyrillic, rule_mask, extra, extra_mask in steps[pos]:
                step_cost, new_mask, switched = _advance(mask, rule_mask, rules.all_mask)
                new_cost = cost + step_cost + extra
                if extra_mask:
                    both = new_mask & extra_mask
                    if both:
                        new_cost += _LOG[new_mask.bit_count()] - _LOG[both.bit_count()]
                        new_mask = both
                    else:
                        new_cost += SWITCH_COST
                        switched = True
                if cyrillic:
                    new_cost += _penalty(prev, cyrillic)
                target = layers[pos + length]
                new_text = text + cyrillic
                state = (new_cost, new_mask, pure and not switched)
                old = target.get(new_text)
                if old is None or new_cost < old[0]:
                    target[new_text] = state
                elif new_cost == old[0]:
                    target[new_text] = (new_cost, old[1] | new_mask, old[2] or state[2])
    final = _prune(layers[size], limit)
    final.sort(key=lambda item: (item[1][0], item[0]))
    return tuple((text, round(state[0], 3)) for text, state in final if text)


def _prune(layer: dict[str, _State], width: int = BEAM) -> list[tuple[str, _State]]:
    """The ``width`` cheapest readings, plus for every scheme its cheapest pure reading.

    Keeping each scheme's best reading alive means a word written wholly in one rare scheme
    (ISO 9:1968 ``y`` for ``и``, the French ``ch`` for ``ш``) is not crowded out by cheap
    readings that mix the common ones; there are at most as many extra readings as schemes.
    """
    ranked = sorted(layer.items(), key=lambda item: item[1][0])
    kept = ranked[:width]
    covered = 0
    for _, (_, mask, pure) in kept:
        if pure:
            covered |= mask
    uncovered = ~covered
    for item in ranked[width:]:
        _, mask, pure = item[1]
        if pure and mask & uncovered:
            kept.append(item)
            uncovered &= ~mask
            if not uncovered & mask:
                continue
    return kept
