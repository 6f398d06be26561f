"""Search benchmark: `python -m samizdat_node.bench.search --records 100000`.

Indexes generated records in one transaction on a WAL file (records/s), then times queries
(p50/p95 in ms) of three kinds, each with the person's surname and given name: as written,
romanised in BGN/PCGN, ICAO and Wikipedia (iuliia), and misspelt (one letter dropped or
doubled). Prints figures for docs/benchmarks.md; it asserts nothing (design §8 targets:
p95 ≤ 50 ms, aim ≤ 10 ms).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import iuliia

from ..sample import generate_records
from ..search import SearchQuery, create_schema, index_records, search

SCHEMES = (iuliia.BGN_PCGN, iuliia.ICAO_DOC_9303, iuliia.WIKIPEDIA)


def misspell(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :] if rng.random() < 0.5 else word[:i] + word[i] + word[i:]


def queries(bodies: list[dict[str, Any]], count: int, rng: random.Random) -> dict[str, list[str]]:
    picked = [b for b in rng.sample(bodies, min(count, len(bodies))) if b.get("name")]
    return {
        "surname": [f"{b['surname']} {b['name']}" for b in picked],
        "latin": [rng.choice(SCHEMES).translate(f"{b['surname']} {b['name']}") for b in picked],
        "misspelt": [f"{misspell(b['surname'], rng)} {b['name']}" for b in picked],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    bodies = list(generate_records(args.records, seed=99))
    rows = [(key, f"memo2007:{key}", body) for key, body in enumerate(bodies, start=1)]
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "search.db")
        conn.execute("PRAGMA journal_mode=WAL")
        create_schema(conn)
        conn.commit()
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        index_records(conn, rows)
        conn.commit()
        elapsed = time.perf_counter() - started
        print(f"index_records: {args.records / elapsed:,.0f} records/s "
              f"({args.records:,} records in {elapsed:.1f} s, one transaction)")
        for label, texts in queries(bodies, args.queries, random.Random(3)).items():
            samples = []
            for text in texts:
                begun = time.perf_counter()
                search(conn, SearchQuery(text=text, limit=20))
                samples.append(1000 * (time.perf_counter() - begun))
            p95 = statistics.quantiles(samples, n=20)[18]
            print(f"{label:9} p50 {statistics.median(samples):6.1f} ms   p95 {p95:6.1f} ms   "
                  f"({len(samples)} queries)")
        conn.close()


if __name__ == "__main__":
    main()
