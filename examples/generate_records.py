#!/usr/bin/env python3
"""Write SYNTHETIC Memorial-style victim records, for demos, tests and benchmarks.

    python examples/generate_records.py --count 100000 --seed 1 --format jsonl --out sample.jsonl
    python examples/generate_records.py --count 1000 --format memorial-tsv --out sample.tsv

Every record is marked ``synthetic: true`` (in TSV: its memory_book_url is under
https://synthetic.invalid/). The same --seed always gives the same records.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from samizdat_node.sample import generate_records, write_jsonl, write_memorial_tsv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="how many records")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--format", choices=("jsonl", "memorial-tsv"), default="jsonl")
    parser.add_argument("--out", required=True, help="output file, or - for standard output")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must be >= 0")

    started = time.perf_counter()
    records = generate_records(args.count, args.seed)
    out: TextIO
    if args.out == "-":
        out = sys.stdout
        written = _write(records, out, args.format)
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as out:
            written = _write(records, out, args.format)
    elapsed = time.perf_counter() - started
    print(
        f"wrote {written} synthetic records ({args.format}, seed {args.seed}) to {args.out} "
        f"in {elapsed:.1f} s",
        file=sys.stderr if args.out == "-" else sys.stdout,
    )
    return 0


def _write(records: Iterable[Mapping[str, Any]], out: TextIO, fmt: str) -> int:
    if fmt == "jsonl":
        return write_jsonl(records, out)
    return write_memorial_tsv(records, out)


if __name__ == "__main__":
    sys.exit(main())
