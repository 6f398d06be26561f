"""Relevance: recall@5 of variant queries against a real index of 20,000 generated records.

Each variant class (tests/support/search_relevance.py) rewrites a target person's name the way
people search: Latin in several romanisations, ё, look-alike letters, typos, doubled
consonants, vowels, the other gender, a year one off, another word order. The figures are
printed per class (run with ``-s`` to see them); every class must reach 0.95.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.sample import generate_records
from samizdat_node.search import create_schema
from tests.support.search_relevance import (
    VARIANT_CLASSES,
    build_index,
    make_cases,
    recall_at,
)

RECORDS = 20_000
CASES_PER_CLASS = 60
THRESHOLD = 0.95


Records = list[tuple[int, str, dict[str, Any]]]
Keys = dict[int, tuple[str, str, str, int | None]]


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[sqlite3.Connection, Records, Keys]]:
    path: Path = tmp_path_factory.mktemp("relevance") / "search.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    create_schema(conn)
    records = [(key, f"memo2007:{key}", body) for key, body in
               enumerate(generate_records(RECORDS, seed=2024), start=1)]  # fmt: skip
    keys = build_index(conn, records)
    conn.commit()
    yield conn, records, keys
    conn.close()


def test_recall_at_5_per_variant_class(corpus: tuple[sqlite3.Connection, Records, Keys]) -> None:
    conn, records, keys = corpus
    cases = list(make_cases(records, CASES_PER_CLASS, seed=7))
    started = time.perf_counter()
    figures = recall_at(conn, cases, keys)
    elapsed = time.perf_counter() - started
    assert set(figures) == set(VARIANT_CLASSES)
    lines = [f"{name:22} {good / total:.3f} ({good}/{total})" for name, (good, total) in
             figures.items()]  # fmt: skip
    good = sum(g for g, _ in figures.values())
    total = sum(t for _, t in figures.values())
    lines.append(f"{'all':22} {good / total:.3f} ({good}/{total}), "
                 f"{1000 * elapsed / total:.1f} ms/query over {RECORDS} records")  # fmt: skip
    print("\nrecall@5\n" + "\n".join(lines))
    low = {name: g / t for name, (g, t) in figures.items() if g / t < THRESHOLD}
    assert not low, "\n".join(lines)
