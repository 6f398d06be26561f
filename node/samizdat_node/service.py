"""The node process: one trio service tree (design §6), and one-shot sync for the CLI.

:func:`run_node` opens the store and the libp2p host, then starts each service with
``nursery.start`` under one nursery: the sync server, gossip, the sync scheduler, the
connector (bootstrap peers, reconnects with backoff), mDNS, the DHT, the head watcher (heads
that grew, by our own publishing or by sync, are announced on gossip), the periodic audit and
the status writer. A failure in one peer's session is contained where it happens (sessions
return reports, handlers are guarded, per-event work is wrapped); anything else that escapes
is a bug and stops the node, closing the host and the store on the way out.

Status: ``<data dir>/node-status.json`` is rewritten every ``status_interval`` seconds
(:meth:`Node.status`; write-then-rename, so a reader never sees half a file).

Entry point for tests and scripts (the CLI's ``samizdat serve`` calls :func:`serve`)::

    python -m samizdat_node.service --data DIR [--listen MADDR]... [--bootstrap MADDR]...
        [--gateway HOST:PORT] [--metrics HOST:PORT] [--no-mdns] [--no-dht]
        [--anti-entropy SECONDS]

prints one JSON line ``{"event": "ready", "peer_id": ..., "addrs": [...], "gateway": URL,
"metrics": URL}``
when it serves,
and stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID

from samizdat_protocol.errors import SamizdatError
from samizdat_protocol.heads import EquivocationProof, SignedHead

from .datadir import STATUS_FILENAME, NodeDir, open_node_dir
from .discovery import Connector, DhtDiscovery, MdnsDiscovery, PeerBook, dialable_addrs
from .gateway import serve_gateway
from .gossip import GossipConfig, GossipService
from .light import register_light_protocol
from .metrics_http import NodeMetrics, serve_metrics
from .p2p.backoff import PeerBackoff
from .p2p.host import connect, open_host
from .p2p.identity import Identity, load_or_create_identity
from .store import AsyncStore
from .sync import SchedulerConfig, SyncLimits, SyncReport, SyncScheduler, SyncServer, catch_up
from .sync.repair import RepairItem, damaged_indices, fetch_verified
from .sync.server import unwrap
from .sync.session import SyncProgress

if TYPE_CHECKING:
    # trio-typing's stubs shadow trio's annotations and do not re-export TaskStatus.
    from trio_typing import TaskStatus

__all__ = ["Node", "NodeConfig", "config_flags", "main", "run_node", "run_serving", "serve",
           "sync_once"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    store_path: Path
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/4747",)
    announce: tuple[str, ...] | None = None
    bootstrap: tuple[str, ...] = ()
    mdns: bool = True
    dht: bool = True
    target_peers: int = 8
    head_poll_interval: float = 0.1  # a heads() read: ~0.2 ms in a worker thread
    audit_interval: float = 0.0  # seconds between full audits; 0: never (run `samizdat verify`)
    status_interval: float = 2.0
    dht_interval: float = 30.0
    index_interval: float = 0.5  # the trailing search indexer's pause when idle
    repair_interval: float = 300.0  # seconds between looks at the audit's damage table
    gateway: str = ""  # HOST:PORT of the web gateway (issue 6); empty: no gateway
    metrics: str = ""  # HOST:PORT of GET /metrics (issue 5); empty: none
    limits: SyncLimits = field(default_factory=SyncLimits)
    gossip: GossipConfig = field(default_factory=GossipConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    @classmethod
    def from_node_dir(cls, node: NodeDir, **overrides: Any) -> NodeConfig:
        """Settings from a node directory's config.toml (with env and flags already applied)."""
        cfg = node.config
        base = cls(data_dir=node.path, store_path=node.store_path,
                   listen=tuple(cfg.strings("network", "listen")),
                   bootstrap=tuple(cfg.strings("network", "bootstrap")),
                   mdns=bool(cfg.get("network", "mdns")),
                   gateway=str(cfg.get("gateway", "listen") or ""),
                   metrics=str(cfg.get("metrics", "listen") or ""),
                   audit_interval=3600.0 * float(cfg.number("audit", "interval_hours")))
        return replace(base, **overrides)


class Node:
    """The running services of one node (what :func:`run_node` hands to ``task_status``)."""

    def __init__(self, config: NodeConfig, store: AsyncStore, host: Any) -> None:
        self.config = config
        self.store = store
        self.host = host
        self.peer_id = str(host.get_id())
        self.backoff = PeerBackoff()
        self.book = PeerBook(self.peer_id)
        for addr in config.bootstrap:
            if self.book.add(addr, "bootstrap", bootstrap=True) is None:
                log.warning("ignoring bootstrap address %s (needs /ip4|ip6/../tcp/../p2p/<id>)",
                            addr)
        self.scheduler = SyncScheduler(
            host, store, self.book, self.backoff, limits=config.limits,
            config=config.scheduler, addrs=self.addrs, on_proof=self._on_proof,
            on_addrs=self._wake_connector)
        self.server = SyncServer(store, limits=config.limits, addrs=self.addrs,
                                 on_hello=self.scheduler.on_hello)
        self.gossip = GossipService(host, store, backoff=self.backoff,
                                    on_news=self.scheduler.on_news, on_proof=self._on_proof,
                                    on_governance=self.scheduler.on_governance,
                                    config=config.gossip)
        self.connector = Connector(host, self.book, self.backoff, target=config.target_peers,
                                   on_connected=self.scheduler.on_connected)
        self.mdns: MdnsDiscovery | None = None
        self.dht: DhtDiscovery | None = None
        self.heads: dict[bytes, SignedHead] = {}
        self.audit: dict[str, Any] | None = None
        self.indexed_batches = 0
        self.repaired = 0
        self.gateway_url: str | None = None
        self.metrics_url: str | None = None
        self._repair_wake = trio.Event()

    def addrs(self) -> list[str]:
        return dialable_addrs(self.host)

    def _wake_connector(self) -> None:
        self.connector.wake()

    async def _on_proof(self, proof: EquivocationProof) -> None:
        log.warning("publisher %s equivocated (heads of length %d and %d)",
                    proof.publisher.hex()[:16], proof.shorter.length, proof.longer.length)
        await self.gossip.announce_equivocation(proof)

    async def start(self, nursery: trio.Nursery) -> None:
        cfg = self.config
        self.server.register(self.host)
        # Any node answers light clients (spec §14); the handler is bounded and rate-limited.
        self.light = register_light_protocol(self.host, self.store)
        if cfg.gateway:
            url = await nursery.start(serve_gateway, self.store, cfg.gateway)
            self.gateway_url = url if "://" in url else f"http://{url}"
        if cfg.metrics:
            source = NodeMetrics(self.status, self.store)
            self.metrics_url = await nursery.start(serve_metrics, cfg.metrics, source.text)
        await nursery.start(self.gossip.run)
        await nursery.start(self.scheduler.run)
        await nursery.start(self.connector.run)
        if cfg.mdns:
            self.mdns = MdnsDiscovery(self.host, self.book, self.store.dataset_id,
                                      on_found=self._wake_connector)
            await nursery.start(self.mdns.run)
        if cfg.dht:
            self.dht = DhtDiscovery(self.host, self.book, self.store.dataset_id,
                                    interval=cfg.dht_interval, on_found=self._wake_connector)
            await nursery.start(self.dht.run)
        nursery.start_soon(self._watch_heads)
        nursery.start_soon(self._index_loop)
        if cfg.audit_interval > 0:
            nursery.start_soon(self._audit_loop)
        if cfg.repair_interval > 0:
            nursery.start_soon(self._repair_loop)
            nursery.start_soon(self._repair_timer)
        if cfg.status_interval > 0:
            nursery.start_soon(self._status_loop)

    async def _watch_heads(self) -> None:
        """Announce heads that grew (our publishing, another process's, or a sync)."""
        while True:
            heads = await self.store.heads()
            grown = [h for k, h in heads.items() if self.heads.get(k) != h]
            self.heads = heads
            for head in grown:
                self.gossip.validator.note(head)
            if grown:
                await self.gossip.announce(grown)
            await trio.sleep(self.config.head_poll_interval)

    async def _index_loop(self) -> None:
        """The trailing search indexer (design §8: search may trail a bulk sync). Sync chunks
        queue their search rows (the store's "auto" index mode); this indexes them when no
        outbound session is committing, so that it never competes with a sync for the
        store's one writer."""
        while True:
            await trio.sleep(self.config.index_interval)
            if self.scheduler.busy():
                continue
            await self.store.close_idle_pool()  # the parsing process, after a quiet while
            while not self.scheduler.busy() and await self.store.index_pending(5_000):
                self.indexed_batches += 1

    async def _repair_loop(self) -> None:
        while True:
            await self._repair_wake.wait()
            self._repair_wake = trio.Event()
            try:
                self.repaired += await self.repair_once()
            except Exception:  # repair is best effort; the next round tries again
                log.exception("repair failed")

    async def _repair_timer(self) -> None:
        while True:
            await trio.sleep(self.config.repair_interval)
            self._repair_wake.set()

    async def repair_once(self) -> int:
        """Fetch what the audit marked damaged from a connected peer, verified against our
        own signed heads (sync/repair.py), and give it to the store to rewrite."""
        wanted = damaged_indices(await self.store.damage())
        if not wanted:
            return 0
        if not hasattr(self.store.store, "repair_entries"):
            log.warning("%d damaged entries need repair, but this store cannot rewrite held "
                        "entries yet (Store.repair_entries)", sum(map(len, wanted.values())))
            return 0
        peers = self.connector.connected_peers()
        random.shuffle(peers)
        for peer in peers[:4]:
            report = await fetch_verified(self.host, self.store, ID.from_base58(peer), wanted,
                                          limits=self.config.limits)
            if report.verified:
                await self.store.run_sync(partial(_repair, items=report.verified), write=True)
                return len(report.verified)
        return 0

    async def _audit_loop(self) -> None:
        while True:
            await trio.sleep(self.config.audit_interval)
            report = await self.store.verify()
            self.audit = {"ok": report.ok, "entries": report.entries,
                          "damage": len(report.damage), "seconds": round(report.seconds, 3),
                          "at": int(trio.current_time())}
            if not report.ok:
                log.error("audit found %d damaged parts; they are marked for repair",
                          len(report.damage))
                self._repair_wake.set()

    async def _status_loop(self) -> None:
        path = self.config.data_dir / STATUS_FILENAME
        while True:
            data = json.dumps(self.status(), indent=1, sort_keys=True).encode()
            await trio.to_thread.run_sync(_write_file, path, data)
            await trio.sleep(self.config.status_interval)

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot: heads, peers, sync progress, gossip, audit."""
        connected = self.connector.connected_peers()
        return {
            "pid": os.getpid(), "peer_id": self.peer_id, "addrs": self.addrs(),
            "dataset": self.store.dataset_id.hex(),
            "heads": {k.hex(): {"length": h.length, "root": h.root.hex(), "ts": h.timestamp}
                      for k, h in self.heads.items()},
            "peers": {"connected": sorted(connected), "known": len(self.book),
                      "backoff": len(self.backoff),
                      "sources": {k.peer: sorted(k.sources) for k in self.book.peers()[:64]}},
            "sync": self.scheduler.status(),
            "server": vars(self.server.counters) | (
                {"active": self.server.stats.active, "rejected": self.server.stats.rejected}
                if self.server.stats else {}),
            "gossip": vars(self.gossip.stats) | {"topic": self.gossip.topic},
            "discovery": {"mdns": self.mdns.found if self.mdns else None,
                          "dht_providers": self.dht.providers if self.dht else None},
            "audit": self.audit,
            "search_index": {"batches": self.indexed_batches},
            "repaired": self.repaired,
            "gateway": self.gateway_url,
            "metrics": self.metrics_url,
        }


def _repair(store: Any, *, items: list[RepairItem]) -> None:
    # Store.repair_entries is the store's to add (docs/decisions/0004); checked before use.
    store.repair_entries(items)


def _write_file(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def run_node(config: NodeConfig, *,
                   task_status: TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
    """Run a node until cancelled; ``task_status.started(node)`` once it serves."""
    identity = await trio.to_thread.run_sync(load_or_create_identity, config.data_dir)
    store = await AsyncStore.open(config.store_path, index_mode="auto")
    try:
        async with open_host(identity, config.listen, announce_addrs=config.announce) as host:
            node = Node(config, store, host)
            async with trio.open_nursery() as nursery:
                await node.start(nursery)
                task_status.started(node)
    finally:
        with trio.CancelScope(shield=True):
            await store.aclose()


async def serve(config: NodeConfig, *, on_ready: Any = None) -> None:
    """Run a node until SIGINT or SIGTERM (for ``samizdat serve`` and ``__main__``)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            node = await nursery.start(run_node, config)
            if on_ready is not None:
                on_ready(node)
            async for signum in signals:
                log.info("signal %s: shutting down", signum)
                nursery.cancel_scope.cancel()
                break


def run_serving(config: NodeConfig, *, on_ready: Any = None) -> None:
    """:func:`serve` in a new trio run. A service that could not start (a listen, gateway or
    metrics address taken or malformed) fails inside the node's nurseries: its own
    :class:`SamizdatError` is raised, not the exception group around it."""
    try:
        trio.run(partial(serve, config, on_ready=on_ready))
    except BaseExceptionGroup as group:
        inner = unwrap(group)
        if isinstance(inner, SamizdatError):
            raise inner from None
        raise


async def sync_once(target: Path | str | AsyncStore, peer: str, *,
                    limits: SyncLimits | None = None, index: bool = True,
                    progress: SyncProgress | None = None,
                    timeout: float = 3600.0) -> SyncReport:  # noqa: ASYNC109
    """Catch up once from ``peer`` (a multiaddr ending in ``/p2p/<id>``), then return.

    ``target`` is a node's data directory or an open store. Uses a throwaway libp2p identity
    and no listener, so it can run beside a running node of the same directory. With
    ``index`` the search index is brought up to date afterwards (``report.index_seconds``).
    ``progress(publisher, stored, missing)`` follows each log's catch-up (sync/session.py).
    """
    own = not isinstance(target, AsyncStore)
    if isinstance(target, AsyncStore):
        store = target
    else:
        node_dir = await trio.to_thread.run_sync(open_node_dir, Path(target))
        store = await AsyncStore.open(node_dir.store_path, index_mode="auto")
    try:
        async with open_host(Identity.generate(), []) as host:
            with trio.fail_after(timeout):
                try:
                    peer_id = await connect(host, peer, timeout=limits.hello_timeout
                                            if limits else 10.0)
                except SamizdatError as exc:
                    return SyncReport(peer=peer, error=exc)
                report = await catch_up(host, store, peer_id, limits=limits,
                                        progress=progress)
        if index:
            # Bring the search index up to date before returning (the sync itself is
            # complete and durable already; this is reported apart, design §8).
            began = trio.current_time()
            while await store.index_pending(10_000):
                pass
            report.index_seconds = trio.current_time() - began
        return report
    finally:
        if own:
            with trio.CancelScope(shield=True):
                await store.aclose()


def config_flags(args: argparse.Namespace) -> dict[tuple[str, str], object]:
    """The config.toml settings a serving command's flags override (``--listen``,
    ``--bootstrap``, ``--no-mdns``, ``--gateway``, ``--metrics``): for ``samizdat serve`` and
    ``python -m samizdat_node.service`` alike."""
    flags: dict[tuple[str, str], object] = {}
    if args.listen:
        flags[("network", "listen")] = args.listen
    if args.bootstrap:
        flags[("network", "bootstrap")] = args.bootstrap
    if args.no_mdns:
        flags[("network", "mdns")] = False
    if args.gateway is not None:
        flags[("gateway", "listen")] = args.gateway
    if args.metrics is not None:
        flags[("metrics", "listen")] = args.metrics
    return flags


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m samizdat_node.service",
                                     description="Run a samizdat node (sync, gossip, discovery).")
    parser.add_argument("--data", required=True, type=Path, help="the node's data directory")
    parser.add_argument("--listen", action="append", help="listen multiaddr (repeatable)")
    parser.add_argument("--bootstrap", action="append", default=None,
                        help="bootstrap peer multiaddr with /p2p/<id> (repeatable)")
    parser.add_argument("--gateway", metavar="HOST:PORT", default=None,
                        help="serve the web gateway and JSON API here (port 0: any free port)")
    parser.add_argument("--metrics", metavar="HOST:PORT", default=None,
                        help="serve GET /metrics (Prometheus text) here")
    parser.add_argument("--no-mdns", action="store_true")
    parser.add_argument("--no-dht", action="store_true")
    parser.add_argument("--anti-entropy", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--status-interval", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = NodeConfig.from_node_dir(open_node_dir(args.data, flags=config_flags(args)))
    if args.no_dht:
        config = replace(config, dht=False)
    if args.anti_entropy is not None:
        config = replace(config, scheduler=replace(config.scheduler,
                                                   anti_entropy_interval=args.anti_entropy))
    if args.status_interval is not None:
        config = replace(config, status_interval=args.status_interval)

    def ready(node: Node) -> None:
        print(json.dumps({"event": "ready", "peer_id": node.peer_id, "addrs": node.addrs(),
                          "gateway": node.gateway_url, "metrics": node.metrics_url}),
              flush=True)

    try:
        run_serving(config, on_ready=ready)
    except SamizdatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
