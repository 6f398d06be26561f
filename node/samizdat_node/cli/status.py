"""`samizdat status` and `samizdat verify`: what the node holds, and a full audit of it.

``status --prometheus`` prints the node's metrics (metrics.py: the running daemon's status,
if any, and the store's facts) for node_exporter's textfile collector.

``status --json`` is also what another node's ``bundle export --since`` reads. Per publisher:
``length`` entries are held and verified; ``head_length``, ``root``, ``ts`` and ``signed`` (its
canonical bytes, so the exporter can check it before trusting it) describe the newest signed
head fully held. ``length`` exceeds ``head_length`` when the node holds a proven prefix of a
longer signed head (a sync or bundle import that stopped between signed heads).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from samizdat_protocol.authstate import AuthState
from samizdat_protocol.errors import LocalError

from ..metrics import render_metrics, snapshot, store_facts
from ..outcomes import OUTCOMES
from ..progress import Progress
from ..store import Damage, Store
from .common import (
    add_data,
    add_json,
    add_quiet,
    emit_json,
    names_of,
    node_dir,
    open_node,
    short,
)
from .node import read_node_status
from .render import when

__all__ = ["EXIT_DAMAGED", "authorisation_json", "damage_json", "prometheus_text", "register",
           "standing_text", "status_json"]

EXIT_DAMAGED = OUTCOMES["verify"].exit_code


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="heads, counts, damage and addresses of the node")
    add_data(status)
    add_json(status)
    status.add_argument("--prometheus", action="store_true",
                        help="print metrics in Prometheus text format (for node_exporter's "
                             "textfile collector)")
    status.set_defaults(handler=cmd_status)

    verify = sub.add_parser(
        "verify", help="re-hash and check everything the node holds",
        description="Audit the whole store: every entry, payload, subtree and signed head. "
                    f"Exit code {EXIT_DAMAGED} when anything is damaged (each damaged part is "
                    "named by publisher and log index and marked for repair).")
    add_data(verify)
    add_json(verify)
    add_quiet(verify)
    verify.set_defaults(handler=cmd_verify)


def damage_json(store: Store, damage: list[Damage]) -> list[dict[str, Any]]:
    names = names_of(store)
    return [{"publisher": d.publisher.hex(), "publisher_name": names.get(d.publisher, ""),
             "part": d.part, "index": d.index, "level": d.level, "detail": d.detail}
            for d in damage]


def authorisation_json(state: AuthState) -> dict[str, Any]:
    """The authorisation state in force (spec §13): founders, each key's standing, decisions
    applied and rejected. ``suspended`` keys carry their proof's two head lengths."""
    publishers = []
    priorities = state.priorities
    for key, status in state.publishers.items():
        identity, generation = state.identities[key]
        item: dict[str, Any] = {
            "key": key.hex(), "name": state.names.get(key, ""), "state": status.state,
            "identity": identity.hex(), "generation": generation,
            "priority": priorities.get(key), "as_of": status.as_of,
            "root": status.root.hex() if status.root else None,
            "to": status.to.hex() if status.to else None, "proof": None}
        proof = state.proofs.get(key)
        if proof is not None and status.state == "suspended":
            item["proof"] = {"id": (status.proof_id or b"").hex(),
                             "head_lengths": sorted((proof.shorter.length, proof.longer.length))}
        publishers.append(item)
    publishers.sort(key=lambda p: (p["priority"] is None, p["priority"] or 0, p["generation"]))
    return {
        "founders": [f.hex() for f in state.founders], "threshold": state.threshold,
        "last_seq": state.last_seq, "next_seq": state.next_seq,
        "publishers": publishers,
        "erasures": [{"record": r, "payload": p.hex()} for r, p in sorted(state.erasures)],
        "applied": [i.hex() for i in state.applied],
        "rejected": [{"kind": r.kind, "id": r.id.hex(), "seq": r.seq, "code": r.code,
                      "reason": r.reason} for r in state.rejected],
    }


def standing_text(item: dict[str, Any]) -> str:
    """One key's standing as a person reads it (an item of ``authorisation_json``)."""
    state = item["state"]
    if state == "rotated":
        return f"rotated to {item['to'][:16]} as of {item['as_of']:,}"
    if state == "revoked":
        return f"revoked as of {item['as_of']:,}"
    if state == "suspended":
        lengths = item["proof"]["head_lengths"] if item["proof"] else []
        return ("suspended: signed two inconsistent heads (lengths "
                f"{' and '.join(f'{n:,}' for n in lengths)}); awaiting the founders")
    return "active"


def status_json(args: argparse.Namespace) -> dict[str, Any]:
    node = node_dir(args)
    with node.open_store() as store:
        heads = []
        for pub in store.status():
            head = pub.head
            heads.append({
                "publisher": pub.key.hex(), "name": pub.name, "priority": pub.priority,
                "authorised": pub.authorised, "length": pub.length,
                "head_length": head.length if head else 0,
                "root": head.root.hex() if head else None,
                "ts": head.timestamp if head else None,
                "signed": head.to_bytes().hex() if head else None,
                "announced": pub.announced.length if pub.announced else None,
                "equivocations": pub.equivocations, "damaged": pub.damaged})
        counts = asdict(store.counts())
        damage = damage_json(store, store.damage())
        charter = store.charter.charter
        authorisation = authorisation_json(store.auth_state())
    daemon = read_node_status(node.path)
    return {
        "data": str(node.path), "dataset": charter.dataset_id.hex(), "name": charter.name,
        "running": daemon is not None,
        "addrs": daemon.get("addrs", []) if daemon else [],
        "peer_id": node.peer_id(),
        "listen": node.config.strings("network", "listen"),
        "bootstrap": node.config.strings("network", "bootstrap"),
        "config_sources": {"listen": node.config.source("network", "listen")},
        "peers": daemon.get("peers", {}).get("connected", []) if daemon else [],
        "heads": heads, "counts": counts, "damage": damage,
        "authorisation": authorisation,
    }


def prometheus_text(args: argparse.Namespace) -> str:
    """What the daemon's ``GET /metrics`` would answer, from node-status.json and the store
    (only the store's part, and ``samizdat_node_running 0``, when no daemon runs)."""
    node = node_dir(args)
    with node.open_store() as store:
        facts = store_facts(store)
    return render_metrics(snapshot(read_node_status(node.path), facts))


def cmd_status(args: argparse.Namespace) -> int:
    if args.prometheus:
        if args.json:
            raise LocalError("usage.format", "--json and --prometheus are two output "
                             "formats: choose one")
        sys.stdout.write(prometheus_text(args))
        return 0
    info = status_json(args)
    if args.json:
        emit_json(info)
        return 0
    counts = info["counts"]
    print(f"node      {info['data']}")
    print(f"peer id   {info['peer_id']}")
    print(f"dataset   {info['dataset']}  ({info['name']})")
    print(f"listen    {', '.join(info['listen']) or 'nowhere'}  "
          f"(from {info['config_sources']['listen']})")
    if info["running"]:
        print(f"running   yes, reachable at {', '.join(info['addrs']) or 'no address'}")
        print(f"peers     {len(info['peers'])} connected" + "".join(
            f"\n  {peer}" for peer in info["peers"]))
    else:
        print("running   no (start it with `samizdat serve`); peers: none connected")
    print(f"records   {counts['displayed']:,} shown, {counts['retracted']:,} retracted; "
          f"{counts['entries']:,} entries, {counts['payloads']:,} payloads")
    auth = info["authorisation"]
    standing = {p["key"]: standing_text(p) for p in auth["publishers"]}
    print(f"founders  {auth['threshold']} of {len(auth['founders'])} must sign a decision; "
          f"{len(auth['applied'])} decision(s) applied, next seq {auth['next_seq']}")
    print("publishers")
    for head in info["heads"]:
        signed = f"head signed {when(head['ts'])}" if head["ts"] else "no entries held"
        extra = "" if head["authorised"] else "  [not authorised]"
        extra += f"  [{standing.get(head['publisher'], 'not a publisher')}]"
        if head["equivocations"]:
            extra += f"  [{head['equivocations']} equivocation proof(s) held]"
        if head["announced"]:
            extra += f"  [announced length {head['announced']:,}]"
        print(f"  {head['name']:<24} {head['publisher'][:16]}  length {head['length']:>10,}  "
              f"{signed}{extra}")
    for r in auth["rejected"]:
        seq = f" seq {r['seq']}" if r["seq"] is not None else ""
        print(f"REJECTED  {r['kind']}{seq} {r['id'][:16]}: {r['reason']} [{r['code']}]")
    if info["damage"]:
        print(f"DAMAGE    {len(info['damage'])} damaged part(s) found by the last verify; "
              "import a bundle or sync to repair")
    else:
        print("damage    none recorded (run samizdat verify for a full audit)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with open_node(args) as (_node, store):
        counts = store.counts()
        if not args.quiet and not args.json:
            print(f"verifying {counts.entries:,} entries of {counts.publishers} publisher(s)…",
                  file=sys.stderr, flush=True)
        with Progress("verify", counts.entries, unit="entries", stream=sys.stderr,
                      enabled=not (args.quiet or args.json)) as meter:
            report = store.verify(progress=meter.update)
        damage = damage_json(store, report.damage)
        equivocations = len(store.equivocations())
    rate = report.entries / report.seconds if report.seconds else 0.0
    info = {"ok": report.ok, "entries": report.entries, "payloads": report.payloads,
            "nodes": report.nodes, "publishers": report.publishers,
            "seconds": round(report.seconds, 3), "entries_per_second": round(rate),
            "damage": damage, "equivocations": equivocations}
    if args.json:
        emit_json(info)
    else:
        print(f"checked {report.entries:,} entries, {report.payloads:,} payloads, "
              f"{report.nodes:,} subtrees of {report.publishers} publisher(s) in "
              f"{report.seconds:.2f} s ({rate:,.0f} entries/s)")
        for d in damage:
            where = f"index {d['index']:,}" + (f" level {d['level']}" if d["level"] else "")
            print(f"DAMAGED  {d['publisher_name'] or short(bytes.fromhex(d['publisher']))} "
                  f"({d['publisher'][:16]}) {d['part']} {where}: {d['detail']}")
        if equivocations:
            print(f"{equivocations} equivocation proof(s) held: a publisher signed two "
                  "inconsistent histories")
        if report.ok:
            print("no damage")
        else:
            print(f"error: {len(damage)} damaged part(s), marked for repair: import a bundle "
                  "from a healthy node (or sync) [verify.damaged]", file=sys.stderr)
    return 0 if report.ok else EXIT_DAMAGED
