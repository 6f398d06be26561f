"""Benchmark of replication (issue 4; design §8): node processes on loopback.

    python -m samizdat_node.bench.sync --records 100000 [--runs 3] [--fanout 20] [--netns]

Phases (each a fresh replica; the source store is generated once and cached in ``--work``):

* **full sync**: a node process serves the source (``python -m samizdat_node.service``); a
  second process runs ``sync_once`` into an empty replica (what ``samizdat sync --once``
  does): wall time of the session (verified and durable: every chunk is committed), bytes
  on the wire, peak RSS of both processes;
* **catch-up**: 1,000 new records are published on the source, and the replica catches up
  again: time, round trips, bytes, against the new records' size (JSON, as in design §8);
* **live catch-up** (``--live``): both sides run as full nodes; the time from the publish
  until the replica holds the new head (gossip announces it, the scheduler fetches it);
* **fanout** (``--fanout N``): N node processes; one publishes a batch, the time until all
  N hold the new head.

Bytes on the wire are counted twice: at the stream layer (frames, length prefixes included,
reported by the session) and, with ``--netns`` (root), by the ``lo`` counter of a private
network namespace the benchmark re-executes itself in (IP and TCP headers, Noise and Yamux
framing included, nothing else on the machine counted), as ../shared/peerbench does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.signing import SigningKey

from ..datadir import init_node
from ..sample import generate_records, record_id_for
from ..store import Store

__all__ = ["main"]

NOW = 1_700_000_000_000
KEY = SigningKey.from_seed(b"\x02" * 32)
FOUNDER = SigningKey.from_seed(b"\x01" * 32)


def _charter() -> SignedCharter:
    charter = Charter(name="bench", schema="memorial.victim/1", founders=(FOUNDER.public,),
                      threshold=1, publishers=(PublisherGrant(KEY.public, "bench"),),
                      created=NOW)
    return SignedCharter(charter).sign(FOUNDER)


def _records(count: int, seed: int) -> list[tuple[str, Any]]:
    return [(record_id_for(b), b) for b in generate_records(count, seed)]


def _lo_bytes() -> int | None:
    """Bytes sent on ``lo`` in this process's network namespace (/proc/self/net/dev is per
    namespace, /sys/class/net is the namespace that mounted sysfs)."""
    try:
        for line in Path("/proc/self/net/dev").read_text().splitlines():
            name, _, fields = line.partition(":")
            if name.strip() == "lo":
                return int(fields.split()[8])  # transmit bytes
    except (OSError, ValueError, IndexError):
        return None
    return None


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class _ChildPeaks(threading.Thread):
    """Samples the peak RSS (VmHWM) of this process's children (the parsing process)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.2):
            for pid in _children(os.getpid()):
                self.peak_mb = max(self.peak_mb, _vm_hwm_mb(pid) or 0.0)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        pass
    return out


def source_dir(work: Path, count: int) -> Path:
    """A node directory holding ``count`` generated records (cached between runs)."""
    path = work / f"source-{count}"
    done = path / ".complete"
    if done.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    init_node(path, _charter())
    began = time.perf_counter()
    with Store.open(path / "store.sqlite") as store:
        store.publish(KEY, iter(_records(count, 1)), NOW, batch_size=10_000)
    print(f"# generated the source: {count:,} records in {time.perf_counter() - began:.0f} s",
          file=sys.stderr)
    done.write_text("ok")
    return path


def _replica(work: Path, name: str) -> Path:
    path = work / name
    shutil.rmtree(path, ignore_errors=True)
    init_node(path, _charter())
    return path


def _node(path: Path, extra: tuple[str, ...] = (),
          status: float = 0.1) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    args = [sys.executable, "-m", "samizdat_node.service", "--data", str(path), "--listen",
            "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht", "--status-interval", str(status),
            *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"node at {path} did not start")
    return proc, json.loads(line)


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _fetch(replica: Path, peer: str) -> dict[str, Any]:
    """Run one ``sync_once`` in a fresh process; its report, wall time and peak RSS."""
    out = subprocess.run([sys.executable, "-m", "samizdat_node.bench.sync", "--fetch",
                          str(replica), peer], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"fetch failed: {out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fetch_role(replica: str, peer: str) -> None:
    import trio

    from ..service import sync_once

    began = time.perf_counter()
    helpers = _ChildPeaks()
    helpers.start()
    report = trio.run(sync_once, replica, peer)
    helpers.stop()
    # VmHWM, not ru_maxrss: after fork + exec Linux carries the forking parent's peak into
    # ru_maxrss, so a fetch started by a big benchmark process reported that process's size.
    out = report.to_dict() | {"process_s": round(time.perf_counter() - began, 3),
                              "rss_mb": _vm_hwm_mb(os.getpid()),
                              "helper_rss_mb": helpers.peak_mb}
    print(json.dumps(out))
    if not report.ok:
        sys.exit(1)


def full_and_catch_up(work: Path, count: int, run: int) -> dict[str, Any]:
    source = source_dir(work, count)
    pristine = source / "store.sqlite"
    # Each run publishes into a copy of the source, so runs start from the same data.
    serve = work / "serving"
    shutil.rmtree(serve, ignore_errors=True)
    shutil.copytree(source, serve)
    replica = _replica(work, "replica")
    server, ready = _node(serve)
    try:
        lo0 = _lo_bytes()
        full = _fetch(replica, ready["addrs"][0])
        lo1 = _lo_bytes()
        new = _records(1000, 1000 + run)
        json_bytes = sum(len(json.dumps(b, ensure_ascii=False).encode()) for _, b in new)
        with Store.open(serve / "store.sqlite") as store:
            store.publish(KEY, iter(new), NOW + 1 + run, batch_size=10_000)
        lo2 = _lo_bytes()
        catch = _fetch(replica, ready["addrs"][0])
        lo3 = _lo_bytes()
        server_rss = _vm_hwm_mb(server.pid)
    finally:
        _stop([server])
    del pristine
    with Store.open(replica / "store.sqlite") as a, Store.open(serve / "store.sqlite") as b:
        assert a.heads() == b.heads(), "replica differs from the source"
    return {
        "records": count, "full_s": full["seconds"], "full_process_s": full["process_s"],
        "full_bytes_stream": full["bytes_in"] + full["bytes_out"],
        "full_bytes_lo": (lo1 - lo0) if lo0 is not None and lo1 is not None else None,
        "reader_rss_mb": round(full["rss_mb"], 1),
        "reader_helper_rss_mb": round(full["helper_rss_mb"], 1),
        "index_after_s": full["index_seconds"],
        "server_rss_mb": round(server_rss, 1) if server_rss else None,
        "catchup_s": catch["seconds"], "catchup_round_trips": catch["round_trips"],
        "catchup_bytes_stream": catch["bytes_in"] + catch["bytes_out"],
        "catchup_bytes_lo": (lo3 - lo2) if lo2 is not None and lo3 is not None else None,
        "new_records_json_bytes": json_bytes,
    }


def live_catch_up(work: Path, count: int) -> dict[str, Any]:
    """Both sides are nodes; publish 1,000 on the source; time until the replica has them."""
    source = work / "serving"
    replica = work / "replica"  # synced by the full phase
    server, ready = _node(source)
    mirror, _ = _node(replica, ("--bootstrap", ready["addrs"][0]))
    try:
        with Store.open(replica / "store.sqlite") as store:
            target = store.length(KEY.public)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not _connected(replica):
                time.sleep(0.05)
            new = _records(1000, 5000)
            began = time.perf_counter()
            with Store.open(source / "store.sqlite") as src:
                src.publish(KEY, iter(new), NOW + 99, batch_size=10_000)
                target = src.length(KEY.public)
            published = time.perf_counter()
            while store.length(KEY.public) < target and time.perf_counter() - began < 60:
                time.sleep(0.005)
            done = time.perf_counter()
    finally:
        _stop([server, mirror])
    return {"live_publish_s": round(published - began, 3),
            "live_catchup_after_publish_s": round(done - published, 3), "records": count}


def _connected(path: Path) -> bool:
    try:
        status = json.loads((path / "node-status.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(status["peers"]["connected"])


def fanout(work: Path, nodes: int) -> dict[str, Any]:
    """``nodes`` node processes; one publishes 100 records; time until all hold them."""
    dirs = [source_dir(work, 1000)] + [_replica(work, f"fan{n}") for n in range(1, nodes)]
    first = work / "fan0"
    shutil.rmtree(first, ignore_errors=True)
    shutil.copytree(dirs[0], first)
    dirs[0] = first
    procs: list[subprocess.Popen[str]] = []
    try:
        proc, ready = _node(first, status=2.0)
        procs.append(proc)
        addrs = [ready["addrs"][0]]
        for path in dirs[1:]:
            # Each node knows the publisher and the node started before it (a sparse mesh).
            proc, ready = _node(path, ("--bootstrap", addrs[0], "--bootstrap", addrs[-1]),
                                status=2.0)
            procs.append(proc)
            addrs.append(ready["addrs"][0])
        stores = [Store.open(d / "store.sqlite") for d in dirs]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and any(s.length(KEY.public) < 1000
                                                      for s in stores):
                time.sleep(0.1)
            time.sleep(2)  # let gossip meshes form
            began = time.perf_counter()
            stores[0].publish(KEY, iter(_records(100, 7)), NOW + 7, batch_size=10_000)
            target = stores[0].length(KEY.public)
            published = time.perf_counter()
            reached: dict[int, float] = {}
            while len(reached) < nodes and time.perf_counter() - began < 60:
                for n, store in enumerate(stores):
                    if n not in reached and store.length(KEY.public) >= target:
                        reached[n] = time.perf_counter() - published
                time.sleep(0.005)
        finally:
            for store in stores:
                store.close()
    finally:
        _stop(procs)
    times = sorted(reached.values())
    return {"nodes": nodes, "reached": len(reached), "publish_s": round(published - began, 3),
            "all_s": round(times[-1], 3) if len(times) == nodes else None,
            "median_s": round(statistics.median(times), 3) if times else None}


def _reexec_in_netns() -> None:
    """Run this benchmark again inside a fresh network namespace with only ``lo`` up."""
    args = ["unshare", "-n", sys.executable, "-m", "samizdat_node.bench.sync",
            *[a for a in sys.argv[1:] if a != "--netns"], "--in-netns"]
    os.execvp("unshare", args)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--fetch":
        fetch_role(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, action="append",
                        help="full sync of this many records (repeatable; default 100000)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--live", action="store_true", help="also the live catch-up")
    parser.add_argument("--fanout", type=int, default=0, help="nodes for the fanout phase")
    parser.add_argument("--work", type=Path, default=Path("/tmp/samizdat-bench-sync"))
    parser.add_argument("--netns", action="store_true", help="count bytes in a private netns")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.netns and not args.in_netns:
        _reexec_in_netns()
    if args.in_netns:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    args.work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for count in args.records or ([] if args.fanout else [100_000]):
        for run in range(args.runs):
            result = full_and_catch_up(args.work, count, run)
            if args.live and run == 0:
                result |= live_catch_up(args.work, count)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.fanout:
        result = fanout(args.work, args.fanout)
        print(json.dumps(result), flush=True)
        results.append(result)


if __name__ == "__main__":
    main()
