"""`samizdat serve`, `sync`, `peers`, `fetch`: the node daemon and talking to peers.

- ``serve`` runs the node's service tree (:func:`samizdat_node.service.serve`) until SIGINT or
  SIGTERM, logging structured ``key=value`` lines on standard error.
- ``sync --once`` catches up from one peer with a throwaway identity, then exits; on a
  terminal a bar per publisher shows the entries stored of those missing, and the rate.
- ``peers`` reads the running daemon's ``node-status.json`` (the daemon rewrites it every few
  seconds; a file whose writer is gone or that is stale is reported as "not running").
- ``fetch`` (and ``search --peer``, :func:`search_remote`) are light clients (spec §14): no
  replica, only the charter; every answer is verified locally before anything is printed.

The network side (service, light client, libp2p) is imported by the handlers that use it:
importing libp2p costs most of a second, which every other command (status, search, get...)
would otherwise pay at start (tests/node/test_cli_startup.py holds them to it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.errors import LocalError, RemoteError

from ..datadir import STATUS_FILENAME
from ..progress import ProgressBars
from ..search.model import SearchQuery
from .charter import read_charter
from .common import add_data, add_json, add_quiet, emit_json, names_of, node_dir, short
from .render import (
    field_order,
    full_name,
    label,
    place,
    print_hits,
    render_value,
    when,
    years,
)

if TYPE_CHECKING:
    from ..light import RemoteSearch, VerifiedRecord
    from ..service import Node

__all__ = ["STALE_AFTER", "fetch_verified", "quiet_libp2p", "read_node_status", "register",
           "search_remote"]

STALE_AFTER = 60.0  # seconds without a rewrite of node-status.json: the daemon is not running

LOG_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)r"


def register(sub: Any) -> None:
    srv = sub.add_parser("serve", help="run the node daemon (sync, gossip, discovery, gateway)")
    add_data(srv)
    add_json(srv)
    srv.add_argument("--listen", action="append", metavar="MULTIADDR",
                     help="libp2p listen address (repeatable; default from config.toml)")
    srv.add_argument("--bootstrap", action="append", metavar="MULTIADDR",
                     help="peer to dial first, ending in /p2p/<id> (repeatable)")
    srv.add_argument("--gateway", metavar="HOST:PORT",
                     help="serve the web gateway and JSON API (port 0: any free port)")
    srv.add_argument("--metrics", metavar="HOST:PORT",
                     help="serve GET /metrics in Prometheus text, e.g. 127.0.0.1:9474")
    srv.add_argument("--no-mdns", action="store_true", help="no mDNS discovery")
    srv.add_argument("--no-dht", action="store_true", help="no Kademlia DHT discovery")
    srv.add_argument("--status-interval", type=float, default=2.0, metavar="SECONDS",
                     help="how often node-status.json is rewritten (default 2)")
    srv.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    srv.set_defaults(handler=cmd_serve)

    syn = sub.add_parser("sync", help="catch up from one peer, then exit")
    add_data(syn)
    add_json(syn)
    add_quiet(syn)
    syn.add_argument("--peer", required=True, metavar="MULTIADDR",
                     help="the peer, ending in /p2p/<id>")
    syn.add_argument("--once", action="store_true", required=True,
                     help="one catch-up session (the only mode; `serve` keeps syncing)")
    syn.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS")
    syn.set_defaults(handler=cmd_sync)

    prs = sub.add_parser("peers", help="the running daemon's peers (from node-status.json)")
    add_data(prs)
    add_json(prs)
    prs.set_defaults(handler=cmd_peers)

    fet = sub.add_parser("fetch", help="read one record from a peer, verified, without a replica")
    add_json(fet)
    fet.add_argument("--charter", type=Path, required=True, help="the signed charter file")
    fet.add_argument("--peer", required=True, metavar="MULTIADDR")
    fet.add_argument("--lang", choices=("ru", "en"), default="ru", help="labels and dates")
    fet.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    fet.add_argument("record_id")
    fet.set_defaults(handler=cmd_fetch)


# --- serve -------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from ..service import NodeConfig, config_flags, run_serving

    config = NodeConfig.from_node_dir(node_dir(args, config_flags(args)),
                                      status_interval=args.status_interval)
    if args.no_dht:
        config = replace(config, dht=False)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format=LOG_FORMAT)

    def ready(node: Node) -> None:
        info = {"event": "ready", "peer_id": node.peer_id, "addrs": node.addrs(),
                "gateway": node.gateway_url, "metrics": node.metrics_url,
                "data": str(config.data_dir)}
        if args.json:
            print(json.dumps(info), flush=True)
            return
        print(f"peer id   {node.peer_id}")
        for addr in node.addrs():
            print(f"listening {addr}")
        if node.gateway_url:
            print(f"gateway   {node.gateway_url}")
        if node.metrics_url:
            print(f"metrics   {node.metrics_url}/metrics")
        print("serving; Ctrl-C or SIGTERM stops", flush=True)

    run_serving(config, on_ready=ready)
    if args.json:
        print(json.dumps({"event": "stopped"}), flush=True)
    else:
        print("stopped", flush=True)
    return 0


# --- sync --------------------------------------------------------------------------------

def cmd_sync(args: argparse.Namespace) -> int:
    from ..service import sync_once

    quiet_libp2p(args)
    node = node_dir(args)
    with node.open_store() as store:
        names = names_of(store)
    with ProgressBars("sync", unit="entries", stream=sys.stderr,
                      enabled=not (args.quiet or args.json)) as bars:

        def progress(publisher: bytes, stored: int, missing: int) -> None:
            bars.update(publisher.hex(), stored, missing,
                        label=names.get(publisher) or short(publisher))

        report = trio.run(partial(sync_once, node.path, args.peer, timeout=args.timeout,
                                  progress=progress))
    if report.error is not None:
        # The CLI's one error table maps p2p.* / frame.* to 9 and bad data to 4 or 5.
        if report.penalised:
            raise type(report.error)(report.error.code, f"peer misbehaved: "
                                     f"{report.error.message}; nothing unverified was stored")
        raise report.error
    if args.json:
        emit_json(report.to_dict())
        return 0
    rate = report.bytes_in / report.seconds / 1e6 if report.seconds else 0.0
    print(f"fetched {report.fetched:,} entries from {report.peer} in {report.seconds:.2f} s "
          f"({report.bytes_in:,} bytes in, {report.bytes_out:,} out, {rate:.1f} MB/s, "
          f"{report.round_trips} round trips); search index {report.index_seconds:.2f} s")
    if report.governance:
        print(f"governance: {report.governance:,} founders' decision(s), signature(s) or "
              "equivocation proof(s) new")
    return 0


# --- peers -------------------------------------------------------------------------------

def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_node_status(data: Path) -> dict[str, Any] | None:
    """The daemon's status, or None when no daemon of this directory is running."""
    path = data / STATUS_FILENAME
    try:
        age = time.time() - path.stat().st_mtime
        status: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if age > STALE_AFTER or not _alive(status.get("pid")):
        return None
    return status


def cmd_peers(args: argparse.Namespace) -> int:
    path = node_dir(args).path
    status = read_node_status(path)
    if status is None:
        message = (f"the node of {path} is not running (no fresh {STATUS_FILENAME}); "
                   "start it with `samizdat serve`")
        if args.json:
            emit_json({"running": False, "message": message})
        else:
            print(message)
        return 0
    peers = status.get("peers", {})
    info = {"running": True, "peer_id": status.get("peer_id"), "addrs": status.get("addrs", []),
            "connected": peers.get("connected", []), "known": peers.get("known", 0),
            "backoff": peers.get("backoff", 0), "sources": peers.get("sources", {})}
    if args.json:
        emit_json(info)
        return 0
    print(f"peer id   {info['peer_id']}")
    print(f"listening {', '.join(info['addrs']) or 'nowhere'}")
    print(f"peers     {len(info['connected'])} connected, {info['known']} known, "
          f"{info['backoff']} backed off")
    for peer in info["connected"]:
        sources = ", ".join(info["sources"].get(peer, []))
        print(f"  {peer}" + (f"  (found by {sources})" if sources else ""))
    return 0


# --- light client ------------------------------------------------------------------------

def quiet_libp2p(args: argparse.Namespace) -> None:
    """A one-shot command reports failures as one error line; py-libp2p would also log them
    on standard error through logging's last-resort handler (``--debug`` keeps them)."""
    if not getattr(args, "debug", False):
        logging.getLogger("libp2p").setLevel(logging.CRITICAL)


async def _light(call: Any) -> Any:
    from ..p2p.host import open_host
    from ..p2p.identity import Identity

    async with open_host(Identity.generate(), []) as host:
        return await call(host)


def _unverified(exc: RemoteError) -> RemoteError:
    """Say plainly that the peer, not the reader, is at fault."""
    if exc.code.startswith(("light.", "proof", "signature", "head", "range", "decode")) \
            and not exc.code.startswith(("light.peer_error", "light.too_large")):
        return type(exc)(exc.code, f"the peer sent something that does not verify: "
                         f"{exc.message}; nothing from it is shown")
    return exc


def _fetch_json(rec: VerifiedRecord, lang: str) -> dict[str, Any]:
    view = rec.view

    def version(v: Any) -> dict[str, Any]:
        body = v.body or {}
        head = rec.heads.get(v.publisher)
        return {"publisher": v.publisher.hex(), "publisher_name": rec.publishers.get(
                v.publisher, ""), "index": v.index, "timestamp": v.entry.timestamp,
                "erased": v.erased, "fields": body,
                "rendered": {f: render_value(f, body[f], lang) for f in field_order(body)},
                "verification": {"verified": True, "head_length": head.length if head else None,
                                 "head_root": head.root.hex() if head else None}}

    return {"record_id": rec.record_id, "peer": rec.peer, "verified": True,
            "entries": rec.entries, "retracted": view.retracted,
            "displayed": version(view.displayed) if view.displayed else None,
            "alternatives": [version(v) for v in view.alternatives],
            "retractions": [{"publisher": r.publisher.hex(),
                             "publisher_name": rec.publishers.get(r.publisher, ""),
                             "reason": r.reason, "timestamp": r.timestamp}
                            for r in view.retractions],
            "withheld": len(rec.withheld)}


def cmd_fetch(args: argparse.Namespace) -> int:
    quiet_libp2p(args)
    charter = read_charter(args.charter)
    try:
        rec = fetch_verified(args.peer, args.record_id, charter, args.timeout)
    except RemoteError as exc:
        raise _unverified(exc) from exc
    info = _fetch_json(rec, args.lang)
    if args.json:
        emit_json(info)
        return 0
    shown = info["displayed"]
    print(f"{rec.record_id}: {full_name(shown['fields']) if shown else ''}".rstrip(": "))
    for r in info["retractions"]:
        print(f"RETRACTED by {r['publisher_name']} ({when(r['timestamp'])}): {r['reason']}")
    for n, item in enumerate([shown] + info["alternatives"] if shown else info["alternatives"]):
        title = "shown version" if n == 0 and shown else f"alternative {n}"
        print(f"{title}: {item['publisher_name']} ({item['publisher'][:16]}), entry "
              f"{item['index']:,}, published {when(item['timestamp'])}")
        width = max((len(label(f, args.lang)) for f in item["rendered"]), default=0)
        for field, text in item["rendered"].items():
            print(f"  {label(field, args.lang):<{width}}  {text}")
    print(f"verified: {rec.entries} entr{'y' if rec.entries == 1 else 'ies'} from peer "
          f"{rec.peer}, each with an inclusion proof against a signed head of the charter's "
          "publishers")
    return 0


def fetch_verified(peer: str, record_id: str, charter: SignedCharter,
                   timeout: float) -> VerifiedRecord:
    """One record from ``peer``, every entry verified with the charter alone, through a
    throwaway identity (``fetch`` and the demo's light-client step)."""
    record: VerifiedRecord = trio.run(_light, partial(
        _fetch_one, peer=peer, record_id=record_id, charter=charter, timeout=timeout))
    return record


async def _fetch_one(host: Any, *, peer: str, record_id: str, charter: SignedCharter,
                     timeout: float) -> VerifiedRecord:  # noqa: ASYNC109
    from ..light import fetch_record

    return await fetch_record(host, peer, record_id, charter, timeout=timeout)


async def _search_one(host: Any, *, peer: str, query: SearchQuery,
                      charter: SignedCharter) -> RemoteSearch:
    from ..light import remote_search_page

    return await remote_search_page(host, peer, query, charter)


def search_remote(args: argparse.Namespace, query: SearchQuery) -> int:
    """``samizdat search --peer``: search on a peer; print only hits that verify."""
    if args.charter is None:
        raise LocalError("usage.charter", "search --peer needs --charter CHARTER (the light "
                         "client verifies answers with the charter alone)")
    charter = read_charter(args.charter)
    quiet_libp2p(args)
    try:
        page: RemoteSearch = trio.run(_light, partial(_search_one, peer=args.peer, query=query,
                                                      charter=charter))
    except RemoteError as exc:
        raise _unverified(exc) from exc
    results = [{"record_id": h.record_id, "name": full_name(h.body), "years": years(h.body),
                "place": place(h.body), "source": (h.body or {}).get("source", ""),
                "rank": h.rank, "retracted": h.retracted,
                "retraction_reason": h.retraction_reason, "publisher": h.publisher.hex(),
                "publisher_name": h.publisher_name, "index": h.index,
                "head_length": h.head.length, "verified": True} for h in page.hits]
    if args.json:
        emit_json(results)
        return 0
    print_hits(results, args.offset,
               lambda item: f"{item['publisher_name']} entry {item['index']:,}  verified "
                            f"against head of {item['head_length']:,}")
    print(f"{len(results)} result(s) from {page.peer}, each verified"
          + ("" if page.complete else "; the peer's search index is still catching up"))
    if page.more:
        print(f"more: --offset {args.offset + len(results)}")
    return 0
