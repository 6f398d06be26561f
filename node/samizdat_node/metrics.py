"""The node's metrics in Prometheus text exposition format 0.0.4 (issue 5).

:func:`render_metrics` is a pure function from a *snapshot* to text: the running node's status
(:meth:`samizdat_node.service.Node.status`, the same dict ``node-status.json`` holds) with
``running``, ``version`` and ``store`` (:func:`store_facts`, cheap facts read from the store)
added by :func:`snapshot`. The daemon serves it on ``GET /metrics`` (metrics_http.py) and
``samizdat status --prometheus`` prints it for node_exporter's textfile collector; both build
the snapshot the same way, so they print the same metrics.

The snapshot may come from a file written by another version, so the renderer trusts no shape:
a missing or mistyped value leaves its sample out (never a NaN, an infinity or an error), label
values are made printable and escaped (backslash, double quote, line feed), and peers are
capped at :data:`MAX_PEER_SERIES` series. Names follow Prometheus conventions: ``samizdat_``,
units in the name, ``_total`` only on counters. Counters reset when the daemon restarts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .store import Store

__all__ = ["CONTENT_TYPE", "MAX_PEER_SERIES", "render_metrics", "snapshot", "store_facts"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_PEER_SERIES = 64  # per-peer series, at most (a node keeps ~8 connections; bound churn)

COUNTER, GAUGE = "counter", "gauge"
_LARGEST = 2**63  # a sample larger than this is junk, not a count: left out

# (path in the snapshot, metric, type, help) for plain numbers; a list's sample is its length.
_SCALARS: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("peers", "connected"), "samizdat_peers_connected", GAUGE, "Peers connected now."),
    (("peers", "known"), "samizdat_peers_known", GAUGE, "Peers in the peer book."),
    (("peers", "backoff"), "samizdat_peers_backoff", GAUGE,
     "Peers waiting out a backoff after failures or invalid data."),
    (("sync", "sessions"), "samizdat_sync_sessions_total", COUNTER,
     "Outbound catch-up sessions run."),
    (("sync", "fetched"), "samizdat_sync_fetched_entries_total", COUNTER,
     "Entries fetched, verified and stored by outbound catch-up sessions."),
    (("sync", "failures"), "samizdat_sync_failures_total", COUNTER,
     "Outbound catch-up sessions that ended in an error."),
    (("sync", "active"), "samizdat_sync_active_sessions", GAUGE,
     "Outbound catch-up sessions running now."),
    (("sync", "pending"), "samizdat_sync_pending_sessions", GAUGE,
     "Peers waiting for an outbound catch-up session."),
    (("server", "sessions"), "samizdat_server_sessions_total", COUNTER,
     "Inbound catch-up sessions served."),
    (("server", "requests"), "samizdat_server_requests_total", COUNTER,
     "Range requests served."),
    (("server", "chunks"), "samizdat_server_chunks_total", COUNTER, "Chunks sent."),
    (("server", "entries"), "samizdat_server_sent_entries_total", COUNTER,
     "Entries sent to peers."),
    (("server", "bytes_out"), "samizdat_server_sent_bytes_total", COUNTER,
     "Bytes sent by the catch-up server."),
    (("server", "bytes_in"), "samizdat_server_received_bytes_total", COUNTER,
     "Bytes received by the catch-up server."),
    (("server", "active"), "samizdat_server_active_sessions", GAUGE,
     "Inbound catch-up sessions running now."),
    (("server", "rejected"), "samizdat_server_rejected_sessions_total", COUNTER,
     "Inbound catch-up sessions refused at the concurrency limit."),
    (("gossip", "published"), "samizdat_gossip_published_total", COUNTER,
     "Heads and equivocation proofs published on the dataset's gossip topic."),
    (("gossip", "news"), "samizdat_gossip_news_total", COUNTER,
     "Gossiped heads newer than ours (each may start a catch-up)."),
    (("gossip", "equivocations"), "samizdat_gossip_equivocations_total", COUNTER,
     "Equivocation proofs received on gossip."),
    (("gossip", "banned"), "samizdat_gossip_banned_peers", GAUGE,
     "Peers whose gossip is refused after invalid messages."),
    (("discovery", "mdns"), "samizdat_discovery_mdns_found_total", COUNTER,
     "mDNS announcements that added peers."),
    (("discovery", "dht_providers"), "samizdat_discovery_dht_providers", GAUGE,
     "Providers of the dataset found in the DHT by the last lookup."),
    (("audit", "ok"), "samizdat_audit_ok", GAUGE,
     "1 if the daemon's last audit found no damage, 0 if it found some."),
    (("audit", "entries"), "samizdat_audit_checked_entries", GAUGE,
     "Entries the daemon's last audit re-hashed."),
    (("audit", "damage"), "samizdat_audit_damaged_parts", GAUGE,
     "Damaged parts the daemon's last audit found."),
    (("audit", "seconds"), "samizdat_audit_duration_seconds", GAUGE,
     "How long the daemon's last audit took."),
    (("search_index", "batches"), "samizdat_search_index_batches_total", COUNTER,
     "Batches the trailing search indexer has indexed."),
    (("repaired",), "samizdat_repaired_entries_total", COUNTER,
     "Damaged entries fetched again from peers and rewritten."),
    (("store", "records"), "samizdat_view_records", GAUGE, "Records in the view."),
    (("store", "displayed"), "samizdat_view_displayed_records", GAUGE,
     "Records with a version shown."),
    (("store", "retracted"), "samizdat_view_retracted_records", GAUGE, "Records retracted."),
    (("store", "index_backlog"), "samizdat_search_index_backlog_rows", GAUGE,
     "View rows whose search text is not indexed yet."),
)

# Per publisher, from the store: (key in a store fact, metric, help).
_PUBLISHER: tuple[tuple[str, str, str], ...] = (
    ("authorised", "samizdat_publisher_authorised",
     "1 if the key may publish now (governance), else 0."),
    ("entries", "samizdat_store_entries", "Entries held and verified."),
    ("head_length", "samizdat_head_length", "Length of the newest signed head fully held."),
    ("head_seconds", "samizdat_head_timestamp_seconds",
     "When the publisher signed that head (Unix time, the publisher's clock)."),
    ("damaged", "samizdat_store_damaged_parts",
     "Damaged parts recorded by the last audit (samizdat verify or the daemon's)."),
    ("equivocations", "samizdat_store_equivocation_proofs",
     "Proofs held that the publisher signed two inconsistent histories."),
)

_GOSSIP_RESULTS = ("accepted", "ignored", "rejected")

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    kind: str
    help: str
    samples: dict[Labels, int | float] = field(default_factory=dict)


class _Exposition:
    """Families in the order first added; one sample per label set (the first wins)."""

    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def add(self, name: str, kind: str, help_text: str, value: object,
            labels: Labels = ()) -> None:
        number = _number(value)
        if number is None:
            return
        family = self.families.setdefault(name, _Family(kind, help_text))
        family.samples.setdefault(labels, number)

    def text(self) -> str:
        lines = []
        for name, family in self.families.items():
            lines.append(f"# HELP {name} {_escape_help(family.help)}")
            lines.append(f"# TYPE {name} {family.kind}")
            for labels, value in family.samples.items():
                inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{name}{{{inner}}} {value!r}" if inner else f"{name} {value!r}")
        return "\n".join(lines) + "\n" if lines else ""


def _number(value: object) -> int | float | None:
    """A finite sample value, or None (left out): bools count as 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if abs(value) < _LARGEST else None
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _printable(text: str) -> str:
    """Control characters other than line feed, and lone surrogates (possible in JSON), have
    no place in exposition text: each becomes U+FFFD."""
    return "".join("\ufffd" if (ch < " " and ch != "\n") or "\ud800" <= ch <= "\udfff"
                   else ch for ch in text)


def _escape_label(text: str) -> str:
    # Exposition format 0.0.4: in label values backslash, double quote and line feed are
    # escaped as \\, \" and \n.
    return _printable(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return _printable(text).replace("\\", "\\\\").replace("\n", "\\n")


def _at(data: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def render_metrics(snap: Mapping[str, Any]) -> str:
    """The snapshot as Prometheus text (format 0.0.4), ending in a line feed."""
    out = _Exposition()
    out.add("samizdat_node_running", GAUGE,
            "1 if the node daemon is running (its status is fresh), else 0.",
            bool(snap.get("running")))
    info = tuple((k, v) for k, v in (("peer_id", snap.get("peer_id")),
                                     ("dataset", snap.get("dataset")),
                                     ("version", snap.get("version"))) if isinstance(v, str))
    if info:
        out.add("samizdat_node_info", GAUGE, "The node's peer id, dataset and version.", 1, info)
    for path, name, kind, help_text in _SCALARS:
        value = _at(snap, path)
        out.add(name, kind, help_text, len(value) if isinstance(value, list) else value)
    _peers(out, _at(snap, ("peers", "connected")))
    _gossip(out, snap.get("gossip"))
    wants = _at(snap, ("sync", "wants"))
    if isinstance(wants, Mapping):
        for publisher, length in wants.items():
            out.add("samizdat_sync_wanted_length", GAUGE,
                    "Length of a newer head heard of and not yet reached.", length,
                    (("publisher", str(publisher)),))
    _store(out, snap.get("store"))
    return out.text()


def _peers(out: _Exposition, connected: object) -> None:
    if not isinstance(connected, list):
        return
    peers = sorted({p for p in connected if isinstance(p, str)})[:MAX_PEER_SERIES]
    for peer in peers:
        out.add("samizdat_peer_connected", GAUGE,
                f"1 for each connected peer (at most {MAX_PEER_SERIES}).", 1, (("peer", peer),))


def _gossip(out: _Exposition, gossip: object) -> None:
    if not isinstance(gossip, Mapping):
        return
    for result in _GOSSIP_RESULTS:
        out.add("samizdat_gossip_received_total", COUNTER,
                "Gossip messages received, by the validator's result.", gossip.get(result),
                (("result", result),))


def _store(out: _Exposition, store: object) -> None:
    if not isinstance(store, Mapping):
        return
    files = store.get("file_bytes")
    if isinstance(files, Mapping):
        for name, size in files.items():
            out.add("samizdat_store_file_bytes", GAUGE,
                    "Size of the store's SQLite files (main database, write-ahead log).",
                    size, (("file", str(name)),))
    publishers = store.get("publishers")
    if not isinstance(publishers, list):
        return
    for pub in publishers:
        if not isinstance(pub, Mapping) or not isinstance(pub.get("publisher"), str):
            continue
        key: Labels = (("publisher", pub["publisher"]),)
        name = pub.get("name")
        out.add("samizdat_publisher_info", GAUGE, "A publisher's name (join on publisher).", 1,
                (*key, ("name", name if isinstance(name, str) else "")))
        for fact, metric, help_text in _PUBLISHER:
            out.add(metric, GAUGE, help_text, pub.get(fact), key)


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def store_facts(store: Store) -> dict[str, Any]:
    """What the store says cheaply (a few small queries and one pass over the view; no scan
    of the entries). Blocking: run it in a worker thread under trio."""
    view = store.view_counts()
    publishers = []
    for pub in store.status():
        head = pub.head
        publishers.append({
            "publisher": pub.key.hex(), "name": pub.name, "authorised": pub.authorised,
            "entries": pub.length, "head_length": head.length if head else 0,
            "head_seconds": head.timestamp / 1000 if head else None,
            "damaged": pub.damaged, "equivocations": pub.equivocations})
    path = store.path
    return {"publishers": publishers, "records": view.records, "displayed": view.displayed,
            "retracted": view.retracted, "index_backlog": store.index_backlog(),
            "file_bytes": {"main": _file_size(path),
                           "wal": _file_size(path.with_name(path.name + "-wal"))}}


def snapshot(status: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> dict[str, Any]:
    """The renderer's input: the daemon's status (None: not running) and the store's facts."""
    return {**(status or {}), "running": status is not None, "version": __version__,
            "store": dict(facts)}
