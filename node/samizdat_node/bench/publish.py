"""Benchmark of publishing from TSV (issue 3; design §8: ≥ 50,000 records/s), end to end.

    python -m samizdat_node.bench.publish --records 100000 --records 1000000 --runs 3

For each size, the generated records are written once as the 2007 Memorial TSV (the sample
generator, ``--seed``), and each run imports that file into a fresh node with the real
command, ``samizdat publish --json`` in its own process (the installed console script, as a
publisher runs it): read, parse, validate, encode, sign, store, then the search index phase.
Printed per run:

* import and signing: records/s and seconds as the command reports them (from opening the
  store until the last batch is committed; interpreter start-up excluded, ~1 s);
* the search index catch-up that follows, reported apart (design §8: the index may trail);
* the command's wall time;
* the peak RSS (VmHWM) of every process involved: the command and its helper that reads the
  file on the second core (and multiprocessing's resource tracker, when the helper was
  spawned), read from /proc five times a second (a peak is held until exit, so sampling
  only has to see the process alive). A forked helper's RSS counts the pages it still shares
  with the command (copy on write), so its private (dirty) memory is given too, sampled once
  a second;
* how many blocks the helper read, and the load average before the run (the machine may be
  shared: repeat runs and report the spread).

``--parse-processes 0`` measures the single-process path for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.signing import SigningKey

from ..datadir import init_node
from ..keystore import write_key
from ..sample import generate_records, write_memorial_tsv

__all__ = ["main", "run_once"]

_SAMPLE_SECONDS = 0.2
_TREE_EVERY = 5


def _samizdat() -> list[str]:
    script = Path(sys.executable).with_name("samizdat")
    if not script.exists():
        raise SystemExit(f"no `samizdat` console script beside {sys.executable}")
    return [str(script)]


def _charter(publisher: SigningKey) -> SignedCharter:
    founder = SigningKey.from_seed(b"\x01" * 32)
    charter = Charter(name="bench", schema="memorial.victim/1", founders=(founder.public,),
                      threshold=1, publishers=(PublisherGrant(publisher.public, "bench"),),
                      created=1_700_000_000_000)
    return SignedCharter(charter).sign(founder)


def _tsv(workdir: Path, count: int, seed: int) -> Path:
    path = workdir / f"records-{count}-{seed}.tsv"
    if not path.exists():
        began = time.perf_counter()
        with open(path.with_suffix(".part"), "w", encoding="utf-8", newline="\n") as fh:
            write_memorial_tsv(generate_records(count, seed), fh, seed=seed)
        path.with_suffix(".part").rename(path)
        print(f"wrote {count:,} records ({path.stat().st_size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    return path


def _process_tree(root: int) -> dict[int, str]:
    """``root`` and its descendants: pid -> role (``samizdat``, ``helper``, ``tracker``)."""
    parents: dict[int, list[int]] = {}
    tracker: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
        if b"resource_tracker" in cmdline:
            tracker.add(int(entry.name))
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        tree[pid] = "samizdat" if pid == root else "tracker" if pid in tracker else "helper"
        todo.extend(parents.get(pid, []))
    return tree


def _memory_mb(pid: int, field: str) -> float | None:
    """A figure in kB from /proc/PID/status (VmHWM: the peak RSS) or smaps_rollup."""
    source = "smaps_rollup" if field.startswith("Private") else "status"
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_once(tsv: Path, workdir: Path, *, parse_processes: int | None = None,
             batch: int | None = None) -> dict[str, Any]:
    """Import ``tsv`` into a fresh node with `samizdat publish`; figures of the run."""
    node, key = workdir / "node", workdir / "publisher.key"
    shutil.rmtree(node, ignore_errors=True)
    publisher = SigningKey.from_seed(b"\x02" * 32)
    if not key.exists():
        write_key(key, publisher, None)
    init_node(node, _charter(publisher))
    args = [*_samizdat(), "publish", "--data", str(node), "--key", str(key), "--json"]
    if parse_processes is not None:
        args += ["--parse-processes", str(parse_processes)]
    if batch is not None:
        args += ["--batch-size", str(batch)]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    proc = subprocess.Popen([*args, str(tsv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peaks: dict[int, tuple[str, float]] = {}
    private: dict[int, float] = {}
    tree: dict[int, str] = {}
    ticks = 0
    while proc.poll() is None:
        # Sampling costs the measured processes CPU: the tree (a scan of /proc) and the
        # private memory (a walk of page tables) once a second, peaks five times a second.
        if ticks % _TREE_EVERY == 0:
            tree = _process_tree(proc.pid)
            for pid in tree:
                mb = _memory_mb(pid, "Private_Dirty")
                private[pid] = max(private.get(pid, 0.0), mb or 0.0)
        for pid, role in tree.items():
            peak = _memory_mb(pid, "VmHWM")
            if peak is not None:
                peaks[pid] = (role, max(peak, peaks.get(pid, (role, 0.0))[1]))
        ticks += 1
        time.sleep(_SAMPLE_SECONDS)
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"samizdat publish failed ({proc.returncode}): {err.strip()}")
    info = json.loads(out)
    rss: dict[str, float] = {}
    for pid, (role, peak) in peaks.items():
        rss[role] = max(rss.get(role, 0.0), peak)
        if role == "helper":
            rss["helper_private"] = max(rss.get("helper_private", 0.0), private.get(pid, 0.0))
    return {"records": info["records_read"], "import_s": info["seconds"],
            "records_per_s": info["records_per_second"], "index_s": info["index_seconds"],
            "wall_s": round(wall, 2), "helper_blocks": info["helper_blocks"],
            "helper_failures": info["helper_failures"], "load_before": round(load, 2),
            "rss_mb": {role: round(mb) for role, mb in sorted(rss.items())}}


def _summary(runs: list[dict[str, Any]]) -> str:
    rates = [r["records_per_s"] for r in runs]
    index = [r["index_s"] for r in runs if r["index_s"] is not None]
    rss = {role: max(r["rss_mb"].get(role, 0) for r in runs) for r in runs
           for role in r["rss_mb"]}
    return (f"{runs[0]['records']:,} records: import and signing "
            f"{statistics.median(rates):,.0f} records/s median ({min(rates):,}-{max(rates):,}); "
            + (f"index catch-up {statistics.median(index):.1f} s median "
               f"({min(index):.1f}-{max(index):.1f}); " if index else "")
            + "peak RSS " + ", ".join(f"{role} {mb:,} MB" for role, mb in rss.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, action="append",
                        help="records per file (repeat; default 100,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=None, help="entries per signed head")
    parser.add_argument("--parse-processes", type=int, choices=(0, 1), default=None,
                        help="as for `samizdat publish` (default: its own choice)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (kept)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="samizdat-bench-publish-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[int, list[dict[str, Any]]] = {}
    try:
        for count in args.records or [100_000]:
            tsv = _tsv(workdir, count, args.seed)
            for _ in range(args.runs):
                run = run_once(tsv, workdir, parse_processes=args.parse_processes,
                               batch=args.batch)
                results.setdefault(count, []).append(run)
                if not args.json:
                    print(json.dumps(run), flush=True)
            if not args.json:
                print(_summary(results[count]), flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps({str(count): runs for count, runs in results.items()}))


if __name__ == "__main__":
    main()
