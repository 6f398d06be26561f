"""`samizdat demo` (what `make demo` runs): a publisher and two mirrors on loopback, live.

Everything is real: three node daemons (``samizdat serve``, each its own process with its own
data directory, SQLite store and libp2p identity) in a temporary folder. The demo process plays
the publisher's operator: it creates keys (unsealed: demo only) and a charter signed by two of
three founders, publishes a generated sample into the publisher's store while its node runs
(the node notices the new signed heads and announces them), then watches the mirrors'
``node-status.json`` files. It shows heads converging, an update, a correction and a retraction
arriving, a mirror killed with SIGKILL catching up after a restart, the gateway URL and a light
client fetch, and finally stops every node (SIGTERM) and verifies every store.

Every wait is bounded (:data:`STEP_TIMEOUT`); every child is killed on the way out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.schema import SCHEMA_ID
from samizdat_protocol.signing import SigningKey

from ..datadir import STATUS_FILENAME, init_node
from ..keystore import new_key, write_key
from ..sample import generate_records, record_id_for
from ..store import Store
from .node import fetch_verified
from .render import full_name

__all__ = ["STEP_TIMEOUT", "register"]

STEP_TIMEOUT = 60.0  # seconds any one step may take before the demo gives up
POLL = 0.1
STATUS_INTERVAL = "0.2"
UPDATE, AFTER_KILL = 100, 300
CORRECTION = ("birth_comment", "уточнено по архивной справке")


class DemoFailed(Exception):
    """A step did not happen in time (the demo exits 1 with the reason)."""


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="a publisher and two mirrors on loopback, live")
    parser.add_argument("--records", type=int, default=10_000, help="sample size (default 10000)")
    parser.add_argument("--seed", type=int, default=1937)
    parser.add_argument("--mirrors", type=int, default=2, help="mirror nodes (default 2)")
    parser.add_argument("--dir", type=Path, help="work here instead of a temporary folder "
                                                 "(kept afterwards)")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the nodes up until Ctrl-C")
    parser.set_defaults(handler=cmd_demo)


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


@dataclass
class DemoNode:
    """One daemon: its data directory, process and log."""

    name: str
    path: Path
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.path.parent / f"{self.name}.log"

    def start(self) -> None:
        (self.path / STATUS_FILENAME).unlink(missing_ok=True)
        argv = [sys.executable, "-m", "samizdat_node.cli.app", "serve", "--data", str(self.path),
                "--json", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht",
                "--status-interval", STATUS_INTERVAL, "--log-level", "WARNING", *self.extra]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def read_status(self) -> dict[str, Any]:
        """The daemon's latest status (empty until this process has written one)."""
        try:
            data: dict[str, Any] = json.loads((self.path / STATUS_FILENAME).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if self.proc is None or data.get("pid") != self.proc.pid:
            return {}
        self.status = data
        return data

    def length(self, publisher: str) -> int:
        head = self.read_status().get("heads", {}).get(publisher)
        return int(head["length"]) if head else 0

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text("utf-8", "replace")[-2000:]
            raise DemoFailed(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            status = self.read_status()
            if status.get("addrs"):
                return status
            time.sleep(POLL)
        raise DemoFailed(f"{self.name} did not start within {STEP_TIMEOUT:.0f} s")

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> int | None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(wait)


def _until(what: str, check: Callable[[], bool], nodes: list[DemoNode]) -> float:
    began = time.monotonic()
    while time.monotonic() - began < STEP_TIMEOUT:
        for node in nodes:
            node.check_alive()
        if check():
            return time.monotonic() - began
        time.sleep(POLL)
    raise DemoFailed(f"{what}: not within {STEP_TIMEOUT:.0f} s")


def _converge(label: str, mirrors: list[DemoNode], publisher: str, target: int) -> float:
    """Poll the mirrors' status files; one line per head change; until all reach target."""
    began = time.monotonic()
    seen = {m.name: -1 for m in mirrors}

    def done() -> bool:
        for m in mirrors:
            length = m.length(publisher)
            if length != seen[m.name]:
                seen[m.name] = length
                _say(label, f"{m.name:<9} head {length:>7,} / {target:,}  "
                     f"(+{time.monotonic() - began:.2f} s)")
        return all(v == target for v in seen.values())

    return _until(f"{label}: mirrors reaching {target:,} entries", done, mirrors)


def _setup(root: Path, mirrors: int) -> tuple[SigningKey, SignedCharter, list[DemoNode]]:
    keys = root / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    founders = [new_key() for _ in range(3)]
    publisher = new_key()
    for n, key in enumerate(founders):
        write_key(keys / f"founder{n}.key", key, None)
    write_key(keys / "publisher.key", publisher, None)
    charter = Charter(name="Жертвы политического террора в СССР (synthetic sample)",
                      schema=SCHEMA_ID, founders=tuple(f.public for f in founders), threshold=2,
                      publishers=(PublisherGrant(publisher.public, "Memorial (sample)"),),
                      created=int(time.time() * 1000))
    signed = SignedCharter(charter).sign(founders[0]).sign(founders[2])
    (root / "charter.samizdat").write_bytes(signed.to_bytes())
    nodes = [DemoNode("publisher", root / "publisher")]
    nodes += [DemoNode(f"mirror-{n}", root / f"mirror-{n}") for n in range(1, mirrors + 1)]
    for node in nodes:
        init_node(node.path, signed)
    return publisher, signed, nodes


def cmd_demo(args: argparse.Namespace) -> int:
    root = args.dir or Path(tempfile.mkdtemp(prefix="samizdat-demo-"))
    nodes: list[DemoNode] = []
    try:
        return _run(args, root, nodes)
    except DemoFailed as exc:
        print(f"error: demo failed: {exc} (logs in {root})", file=sys.stderr)
        return 1
    finally:
        for node in nodes:
            node.stop(signal.SIGKILL, 5.0)
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _run(args: argparse.Namespace, root: Path, nodes: list[DemoNode]) -> int:
    began = time.monotonic()
    total = args.records + UPDATE + AFTER_KILL
    bodies = [(record_id_for(b), b) for b in generate_records(total, args.seed)]
    key, charter, created = _setup(root, args.mirrors)
    nodes.extend(created)
    pub_node, mirrors = nodes[0], nodes[1:]
    pub = key.public.hex()
    _say("setup", f"3 founder keys and a publisher key (unsealed: demo only) in {root / 'keys'}; "
         f"charter {charter.charter.dataset_id.hex()[:16]}…, 2 of 3 founders signed")
    store = Store.open(pub_node.path / "store.sqlite")
    try:
        t0 = time.monotonic()
        store.publish(key, bodies[:args.records], int(time.time() * 1000))
        _say("publish", f"{args.records:,} records signed and stored on the publisher in "
             f"{time.monotonic() - t0:.2f} s")

        pub_node.start()
        addr = pub_node.wait_ready()["addrs"][0]
        _say("start", f"publisher  {addr}")
        mirrors[0].extra = ["--gateway", "127.0.0.1:0"]
        for m in mirrors:
            m.extra += ["--bootstrap", addr]
            m.start()
        for m in mirrors:
            _say("start", f"{m.name:<10} {m.wait_ready()['addrs'][0]}  (bootstrap: publisher)")
        length = store.length(key.public)
        took = _converge("sync", mirrors, pub, length)
        _say("sync", f"converged: {len(mirrors)} mirrors hold all {length:,} entries, "
             f"{took:.2f} s after start")

        now = int(time.time() * 1000)
        store.publish(key, bodies[args.records:args.records + UPDATE], now)
        fixed_id, fixed = bodies[7]
        store.publish(key, [(fixed_id, dict(fixed, **{CORRECTION[0]: CORRECTION[1]}))], now + 1)
        gone_id = bodies[11][0]
        store.retract(key, gone_id, "duplicate of another record", now + 2)
        length = store.length(key.public)
        _say("update", f"published {UPDATE} new records, a correction of {fixed_id} and a "
             f"retraction of {gone_id}: publisher log now {length:,} entries")
        took = _converge("update", mirrors, pub, length)
        for m in mirrors:
            with Store.open(m.path / "store.sqlite") as ms:
                view, gone = ms.record(fixed_id), ms.record(gone_id)
            shown = view.displayed.body if view and view.displayed else {}
            if (shown or {}).get(CORRECTION[0]) != CORRECTION[1]:
                raise DemoFailed(f"the correction of {fixed_id} is not shown on {m.name}")
            if gone is None or not gone.retracted:
                raise DemoFailed(f"the retraction of {gone_id} is not shown on {m.name}")
            _say("update", f"correction arrived on {m.name}: get {fixed_id} shows "
                 f"{CORRECTION[0]} = {CORRECTION[1]!r}")
            _say("update", f"retraction arrived on {m.name}: get {gone_id} shows RETRACTED "
                 f"({gone.retractions[0].reason})")
        _say("update", f"all arrived in {took:.2f} s")

        victim = mirrors[-1]
        victim.stop(signal.SIGKILL)
        held = victim.status["heads"][pub]["length"]
        _say("kill", f"{victim.name} killed with SIGKILL at {held:,} entries")
        store.publish(key, bodies[args.records + UPDATE:], int(time.time() * 1000))
        length = store.length(key.public)
        _say("kill", f"published {AFTER_KILL} more records: publisher log now {length:,} entries")
        if mirrors[:-1]:
            _converge("kill", mirrors[:-1], pub, length)
        with Store.open(victim.path / "store.sqlite") as vs:
            held = vs.length(key.public)
        _say("restart", f"restarting {victim.name}: {held:,} entries on disk")
        victim.start()
        victim.wait_ready()
        took = _converge("restart", [victim], pub, length)
        _say("restart", f"{victim.name} restarted and caught up to {length:,} entries in "
             f"{took:.2f} s")

        _until("gateway URL", lambda: bool(mirrors[0].read_status().get("gateway")), mirrors)
        url = mirrors[0].status["gateway"]
        peer = mirrors[0].status["addrs"][0]
        rec = fetch_verified(peer, fixed_id, charter, timeout=10.0)
        shown_body = rec.view.displayed.body if rec.view.displayed else None
        _say("light", f"light client fetched {fixed_id} ({full_name(shown_body)}) from "
             f"{mirrors[0].name}: {rec.entries} entries verified against signed heads")
        _say("read", f"web gateway of {mirrors[0].name}: {url}/")
        _say("read", f"search a mirror:  samizdat search --data {mirrors[0].path} "
             f"{full_name(bodies[3][1]).split(' ')[0]}")
        _say("read", f"without a replica: samizdat search --charter {root / 'charter.samizdat'} "
             f"--peer {peer} {full_name(bodies[3][1]).split(' ')[0]}")
    finally:
        store.close()

    if args.keep_running:
        _keep_running(nodes)
    return _finish(nodes, key.public, began)


def _keep_running(nodes: list[DemoNode]) -> None:
    _say("running", "the nodes keep running; Ctrl-C stops them")
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while all(n.proc is not None and n.proc.poll() is None for n in nodes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finish(nodes: list[DemoNode], key: bytes, began: float) -> int:
    codes = {n.name: n.stop() for n in nodes}
    _say("stop", "all nodes stopped: " + ", ".join(f"{k} exit {v}" for k, v in codes.items()))
    ok = True
    roots = set()
    for node in nodes:
        with Store.open(node.path / "store.sqlite") as store:
            report = store.verify(workers=1)
            head = store.head(key)
            counts = store.counts()
        ok = ok and report.ok
        roots.add(head.root if head else None)
        _say("summary", f"{node.name:<9} {counts.displayed:,} records shown, "
             f"{counts.retracted:,} retracted, {report.entries:,} entries, head "
             f"{head.length if head else 0:,} root {head.root.hex()[:16] if head else '-'}…, "
             f"verify {'ok' if report.ok else 'FAILED'} ({report.seconds:.2f} s)")
    _say("summary", f"{'same head on every node' if len(roots) == 1 else 'heads differ'}; "
         f"verify {'ok on every node' if ok else 'FAILED'}; demo took "
         f"{time.monotonic() - began:.1f} s")
    return 0 if ok and len(roots) == 1 else 5
