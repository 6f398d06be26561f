"""Benchmark of the replica store (issue 3): `python -m samizdat_node.bench.store --records N`.

Prints, for N generated records (node/samizdat_node/sample):

* publish: records/s of ``Store.publish`` (schema validation, canonical encoding, hashing,
  signing one head per batch, storing entries and tree nodes, view and search index), with the
  time to generate the records excluded (they are generated batch by batch between calls);
* re-run: records/s of publishing the same records again (nothing appended);
* apply: entries/s of ``apply_batch`` copying the log into a second store the way a mirror
  ingests a sync (spec §11): chunks of ``--chunk`` entries, each proven against the final head
  by a consistency proof (header and payload decoding, strict schema check, storage);
* index catch-up: with ``--index defer`` (a bulk sync or import, design §8), publish and apply
  queue their search rows and the trailing indexer's time is reported separately;
* verify: entries/s of the full audit (in-process, and with two worker processes);
* peak RSS of the process and the store's bytes on disk per record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.signing import SigningKey

from ..sample import generate_records, record_id_for
from ..store import Store

__all__ = ["main", "run"]

NOW = 1_700_000_000_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _charter(publisher: SigningKey) -> SignedCharter:
    founder = SigningKey.from_seed(b"\x01" * 32)
    charter = Charter(name="bench", schema="memorial.victim/1", founders=(founder.public,),
                      threshold=1, publishers=(PublisherGrant(publisher.public, "bench"),),
                      created=NOW)
    return SignedCharter(charter).sign(founder)


class _Timed:
    """The generated records, with the time spent generating them measured (to subtract)."""

    def __init__(self, count: int, seed: int) -> None:
        self._it = generate_records(count, seed)
        self.spent = 0.0

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self

    def __next__(self) -> tuple[str, Any]:
        began = time.perf_counter()
        try:
            body = next(self._it)
            return record_id_for(body), body
        finally:
            self.spent += time.perf_counter() - began


def _store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _catch_up(store: Store) -> float:
    """Seconds the trailing indexer takes to index everything queued."""
    began = time.perf_counter()
    while store.index_pending(20_000):
        pass
    return time.perf_counter() - began


def run(count: int, batch: int, seed: int, workdir: Path, apply: bool, index: str = "inline",
        chunk: int = 4096) -> dict[str, float]:
    key = SigningKey.from_seed(b"\x02" * 32)
    charter = _charter(key)
    out: dict[str, float] = {"records": count}
    path = workdir / "publisher.sqlite"
    with Store.create(path, charter, index_mode=index) as store:
        records = _Timed(count, seed)
        began = time.perf_counter()
        store.publish(key, records, NOW, batch_size=batch)
        spent = time.perf_counter() - began - records.spent
        out["publish_per_s"] = count / spent
        out["publish_s"] = spent
        if index != "inline":
            out["publish_index_s"] = _catch_up(store)
        records = _Timed(count, seed)
        began = time.perf_counter()
        result = store.publish(key, records, NOW + 1, batch_size=batch)
        assert result.appended == 0
        out["rerun_per_s"] = count / (time.perf_counter() - began - records.spent)
        out["rss_after_publish_mb"] = peak_rss_mb()
    out["bytes_per_record"] = _store_bytes(path) / count
    for workers in (1, 2):
        with Store.open(path) as store:  # as `samizdat verify` would, in a fresh open
            began = time.perf_counter()
            report = store.verify(workers=workers)
            seconds = time.perf_counter() - began
        assert report.ok, report.damage[:5]
        out[f"verify{workers}_per_s"] = report.entries / seconds
    if apply:
        out.update(_apply(path, charter, workdir, count, index, chunk))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _apply(source: Path, charter: SignedCharter, workdir: Path, count: int, index: str,
           chunk: int) -> dict[str, float]:
    """Copy the publisher's log into a mirror as a sync does: chunks proven against the head.

    Each chunk is read from the source (untimed), then applied (timed).
    """
    key = charter.charter.publishers[0].key
    with Store.open(source) as src, \
            Store.create(workdir / "mirror.sqlite", charter, index_mode=index) as dst:
        spent = 0.0
        for start in range(0, src.length(key), chunk):
            served = src.entries(key, start, chunk, proof=True)
            began = time.perf_counter()
            dst.apply_batch(key, start, served.headers, served.payloads, served.head,
                            proof=served.proof)
            spent += time.perf_counter() - began
        out = {"apply_per_s": count / spent, "apply_s": spent}
        if index != "inline":
            out["apply_index_s"] = _catch_up(dst)
        assert dst.counts().records == count and dst.index_backlog() == 0
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="records per signed head")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (kept)")
    parser.add_argument("--apply", action="store_true", help="also measure apply_batch")
    parser.add_argument("--chunk", type=int, default=4096, help="entries per applied chunk")
    parser.add_argument("--index", choices=("inline", "defer"), default="inline",
                        help="search indexing in the batch (inline) or trailing (defer)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="samizdat-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.records, args.batch, args.seed, workdir, args.apply, args.index,
                     args.chunk)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return
    print(f"records:            {result['records']:,.0f} "
          f"(batch {args.batch:,}, {os.cpu_count()} cpus, search index {args.index})")
    print(f"publish:            {result['publish_per_s']:,.0f} records/s "
          f"({result['publish_s']:.1f} s)")
    if "publish_index_s" in result:
        print(f"  index catch-up:   {result['publish_index_s']:.1f} s")
    print(f"re-run (no change): {result['rerun_per_s']:,.0f} records/s")
    if "apply_per_s" in result:
        print(f"apply (mirror):     {result['apply_per_s']:,.0f} entries/s "
              f"({result['apply_s']:.1f} s, chunks of {args.chunk:,})")
    if "apply_index_s" in result:
        print(f"  index catch-up:   {result['apply_index_s']:.1f} s")
    print(f"verify:             {result['verify1_per_s']:,.0f} entries/s "
          f"(2 processes: {result['verify2_per_s']:,.0f})")
    print(f"store on disk:      {result['bytes_per_record']:,.0f} bytes/record")
    print(f"peak RSS:           {result['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
