"""Helpers for the sync, gossip, discovery, partition and hostile-peer tests (no tests here).

Nodes are real: each has a data directory with a SQLite store and a persisted libp2p identity,
and runs the node's own service tree (:func:`samizdat_node.service.run_node`) on 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio

from samizdat_node.datadir import init_node
from samizdat_node.service import Node, NodeConfig, run_node
from samizdat_node.store import AsyncStore, Store
from samizdat_node.sync import SchedulerConfig
from tests.node.test_store_support import CHARTER, KEYS, bodies, view_table

__all__ = [
    "CHARTER",
    "KEYS",
    "LOOPBACK",
    "NOW",
    "bodies",
    "eventually",
    "make_node_dir",
    "node_config",
    "publish",
    "running_nodes",
    "store_view",
    "views_of",
]

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)
NOW = 1_700_000_000_000


def make_node_dir(root: Path, name: str, *, records: int = 0, key: int = 0,
                  variant: str = "") -> Path:
    """A node directory (config.toml, identity, store) holding ``records`` of ``KEYS[key]``."""
    path = root / name
    init_node(path, CHARTER)
    if records:
        with Store.open(path / "store.sqlite") as store:
            store.publish(KEYS[key], bodies(records, variant=variant), NOW)
    return path


def node_config(path: Path, *, bootstrap: Sequence[str] = (), anti_entropy: float = 30.0,
                listen: Sequence[str] = LOOPBACK, **overrides: Any) -> NodeConfig:
    config = NodeConfig(path, path / "store.sqlite", listen=tuple(listen),
                        bootstrap=tuple(bootstrap), mdns=False, dht=False,
                        head_poll_interval=0.1, status_interval=0.5,
                        scheduler=SchedulerConfig(anti_entropy_interval=anti_entropy))
    return replace(config, **overrides)


@asynccontextmanager
async def running_nodes(configs: Sequence[NodeConfig], *, chain: bool = False,
                        ) -> AsyncIterator[list[Node]]:
    """Start nodes in order; each later one bootstraps to the first (or, with ``chain``, to
    the one before it). Cancelled (cleanly shut down) on exit."""
    nodes: list[Node] = []
    async with trio.open_nursery() as nursery:
        for n, config in enumerate(configs):
            if nodes and not config.bootstrap:
                target = nodes[-1] if chain else nodes[0]
                config = replace(config, bootstrap=(target.addrs()[0],))
            nodes.append(await nursery.start(run_node, config))
            del n
        yield nodes
        nursery.cancel_scope.cancel()


async def eventually(predicate: Callable[[], Awaitable[bool]], within: float = 20.0,
                     step: float = 0.05) -> bool:
    """Poll an async condition until it holds (True) or ``within`` seconds pass (False)."""
    with trio.move_on_after(within):
        while not await predicate():  # noqa: ASYNC110 - another node changes it
            await trio.sleep(step)
        return True
    return False


def store_view(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(heads by publisher, the records view) of a store file: equal views, equal stores."""
    with Store.open(path) as store:
        heads = {k.hex(): (h.length, h.root.hex()) for k, h in store.heads().items()}
        return heads, view_table(store)


async def views_of(nodes: Sequence[Node]) -> list[Any]:
    return [await node.store.run_sync(_view) for node in nodes]


def _view(store: Store) -> tuple[dict[str, Any], dict[str, Any]]:
    heads = {k.hex(): (h.length, h.root.hex()) for k, h in store.heads().items()}
    return heads, view_table(store)


async def publish(node_or_store: Node | AsyncStore, key: int, count: int, *, start: int = 0,
                  variant: str = "", now: int = NOW) -> None:
    store = node_or_store.store if isinstance(node_or_store, Node) else node_or_store
    await store.publish(KEYS[key], bodies(count, start=start, variant=variant), now)


def dump_tables(path: Path) -> list[str]:
    """Every row of every table as SQL text (two equal dumps: nothing changed)."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# -- network namespaces (root only): a LAN of node namespaces on one bridge -------------------


class NetnsLan:
    """``count`` network namespaces, each with one veth into a bridge in a hub namespace.

    Node ``n`` has address ``10.<net>.0.<n + 1>/24`` on its interface ``eth0``. ``split``
    moves some nodes' bridge ports to a second bridge (a partition); ``heal`` moves them back.
    Everything is deleted by :meth:`close` (namespaces take their veths with them).
    """

    def __init__(self, count: int, tag: str) -> None:
        import os

        self.tag = f"sz{os.getpid() % 10000}{tag}"
        self.net = 100 + os.getpid() % 100
        self.hub = f"{self.tag}h"
        self.names = [f"{self.tag}n{n}" for n in range(count)]
        self._created: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ip(self, n: int) -> str:
        return f"10.{self.net}.0.{n + 1}"

    def _run(self, *args: str) -> None:
        import subprocess

        subprocess.run(args, check=True, capture_output=True, timeout=10)

    def _build(self) -> None:
        self._run("ip", "netns", "add", self.hub)
        self._created.append(self.hub)
        for bridge in ("br0", "br1"):
            self._run("ip", "-n", self.hub, "link", "add", bridge, "type", "bridge")
            self._run("ip", "-n", self.hub, "link", "set", bridge, "up")
        for n, name in enumerate(self.names):
            self._run("ip", "netns", "add", name)
            self._created.append(name)
            self._run("ip", "-n", name, "link", "set", "lo", "up")
            self._run("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name",
                      f"p{n}", "netns", self.hub)
            self._run("ip", "-n", name, "addr", "add", f"{self.ip(n)}/24", "dev", "eth0")
            self._run("ip", "-n", name, "link", "set", "eth0", "up")
            self._run("ip", "-n", name, "route", "add", "default", "dev", "eth0")
            self._run("ip", "-n", self.hub, "link", "set", f"p{n}", "master", "br0")
            self._run("ip", "-n", self.hub, "link", "set", f"p{n}", "up")

    def split(self, nodes: Sequence[int]) -> None:
        for n in nodes:
            self._run("ip", "-n", self.hub, "link", "set", f"p{n}", "master", "br1")

    def heal(self) -> None:
        for n in range(len(self.names)):
            self._run("ip", "-n", self.hub, "link", "set", f"p{n}", "master", "br0")

    def exec_prefix(self, n: int) -> list[str]:
        return ["ip", "netns", "exec", self.names[n]]

    def close(self) -> None:
        import subprocess

        for name in reversed(self._created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self._created.clear()


def netns_available() -> bool:
    import os
    import shutil

    return os.geteuid() == 0 and shutil.which("ip") is not None


# -- node processes (`python -m samizdat_node.service`) ----------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def start_node_process(path: Path, *, bootstrap: Sequence[str] = (),
                       listen: str = "/ip4/127.0.0.1/tcp/0", prefix: Sequence[str] = (),
                       extra: Sequence[str] = ("--no-mdns", "--no-dht"),
                       anti_entropy: float = 2.0) -> tuple[Any, dict[str, Any]]:
    """Start a node process; returns it and its ready line (peer id, addresses)."""
    import json
    import os
    import subprocess
    import sys

    args = [*prefix, sys.executable, "-m", "samizdat_node.service", "--data", str(path),
            "--listen", listen, "--anti-entropy", str(anti_entropy),
            "--status-interval", "0.2", *extra]
    for addr in bootstrap:
        args += ["--bootstrap", addr]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        raise AssertionError(f"node failed to start: {proc.stderr.read() if proc.stderr else ''}")
    ready = json.loads(line)
    assert ready["event"] == "ready"
    return proc, ready


def status_heads(path: Path) -> dict[str, int] | None:
    """Head lengths from a running node's status file (None until it has written one)."""
    import json

    try:
        status = json.loads((path / "node-status.json").read_text())
    except (OSError, ValueError):
        return None
    return {k: v["length"] for k, v in status["heads"].items()}


def stop_processes(procs: Sequence[Any], timeout: float = 20) -> list[int]:
    import signal

    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout))
        except Exception:
            proc.kill()
            codes.append(proc.wait())
    return codes
