"""Weighted choice driven by one uniform float, for the deterministic sample generator.

``random.Random.choices`` rebuilds cumulative weights on every call; a :class:`Picker` builds
them once, so one pick is a ``random()`` call and a bisection. Only ``Random.random()`` is used
anywhere in the generator, whose output sequence Python keeps stable across versions, so a
seed names the same records on every Python this project supports.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

__all__ = ["Picker", "zipf"]

T = TypeVar("T")


class Picker(Generic[T]):
    """Pick items with fixed relative weights: ``picker(rng)`` with ``rng`` returning [0, 1)."""

    __slots__ = ("_cum", "_items", "_last", "_total")

    def __init__(self, weighted: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in weighted:
            if weight < 0:
                raise ValueError(f"negative weight for {item!r}")
            if weight == 0:
                continue
            total += weight
            items.append(item)
            cum.append(total)
        if not items:
            raise ValueError("a Picker needs at least one item with a positive weight")
        self._items = items
        self._cum = cum
        self._total = total
        self._last = len(items) - 1

    def __call__(self, rng: Callable[[], float]) -> T:
        index = bisect_right(self._cum, rng() * self._total)
        return self._items[index if index <= self._last else self._last]

    @property
    def items(self) -> Sequence[T]:
        return self._items


def zipf(items: Sequence[T], exponent: float = 1.0, offset: float = 1.5) -> Picker[T]:
    """A picker where the item at rank r (0-based) has weight 1 / (r + offset) ** exponent.

    Surname and given-name frequencies follow this shape closely (a few very common names,
    a long tail), which is what makes search recall on common names hard.
    """
    return Picker((item, 1.0 / (rank + offset) ** exponent) for rank, item in enumerate(items))
