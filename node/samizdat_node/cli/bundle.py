"""`samizdat bundle export|import|show`: carry a dataset (or an update) as one file."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..bundle import export_bundle, import_bundle, plan_export, read_manifest, read_since
from ..bundle.format import CODECS, Manifest
from .common import add_data, add_json, add_quiet, emit_json, names_of, open_node, progress

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("bundle", help="export and import offline bundles")
    bundle_sub = parser.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)

    export = bundle_sub.add_parser(
        "export", help="write the dataset (or what another node lacks) to one file",
        description="Write a bundle: the charter, signed heads, headers, payloads and proofs. "
                    "With --since, only what the other node lacks (give its `samizdat status "
                    "--json` output, or a JSON heads vector {PUBLISHER_HEX: LENGTH}).")
    add_data(export)
    export.add_argument("--since", type=Path, metavar="STATUS_JSON",
                        help="the other node's status --json (incremental bundle)")
    export.add_argument("--out", required=True, help="bundle file to write ('-': stdout)")
    export.add_argument("--compression", choices=tuple(CODECS), default="zstd")
    export.add_argument("--level", type=int, help="compression level")
    add_json(export)
    add_quiet(export)
    export.set_defaults(handler=cmd_export)

    imp = bundle_sub.add_parser(
        "import", help="verify a bundle and store what is new",
        description="Verify every chunk of a bundle against the signed heads and store what "
                    "the node lacks. A file damaged anywhere (its checksum) changes nothing; "
                    "importing again is harmless and resumes an interrupted import.")
    add_data(imp)
    imp.add_argument("file", type=Path)
    imp.add_argument("--salvage", action="store_true",
                     help="skip the whole-file checksum pass: keep every chunk that verifies "
                          "before a damaged one")
    add_json(imp)
    add_quiet(imp)
    imp.set_defaults(handler=cmd_import)

    show = bundle_sub.add_parser("show", help="what a bundle carries (its manifest)")
    show.add_argument("file", type=Path)
    add_json(show)
    show.set_defaults(handler=cmd_show)


def cmd_export(args: argparse.Namespace) -> int:
    since = read_since(args.since) if args.since is not None else None
    out = None if args.out == "-" else Path(args.out)
    with open_node(args) as (_node, store):
        manifest, notes = plan_export(store, since)
        names = names_of(store)
        with progress(args, "export", manifest.entries, "entries") as meter:
            result = export_bundle(store, out, codec=args.compression, level=args.level,
                                   manifest=manifest,
                                   on_chunk=lambda n: meter.update(advance=n))
    info = {
        "path": args.out, "bytes": result.bytes, "chunks": result.chunks,
        "entries": result.entries, "seconds": round(result.seconds, 3),
        "incremental": since is not None,
        "logs": [{"publisher": log.publisher.hex(), "name": names.get(log.publisher, ""),
                  "start": log.start, "end": log.end} for log in manifest.logs],
        **_carried(manifest),
        "notes": notes,
    }
    if out is None:
        return 0  # standard output carries the bundle itself
    if args.json:
        emit_json(info)
    else:
        print(f"wrote {args.out}: {result.entries:,} entries in {result.chunks} chunks, "
              f"{result.bytes:,} bytes, {result.seconds:.1f} s")
        for log in info["logs"]:
            print(f"  {log['name']:<24} entries {log['start']:,} .. {log['end']:,}")
        _print_carried(info)
        for note in notes:
            print(f"  {note}")
    return 0


def _carried(manifest: Manifest) -> dict[str, int]:
    """What a bundle carries besides logs: founders' decisions and equivocation proofs."""
    return {"governance": len(manifest.governance), "proofs": len(manifest.proofs)}


def _print_carried(info: dict[str, Any]) -> None:
    if info["governance"] or info["proofs"]:
        print(f"  governance: {info['governance']:,} founders' decision(s), "
              f"{info['proofs']:,} equivocation proof(s)")


def cmd_import(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.file)
    with open_node(args) as (_node, store):
        with progress(args, "import", manifest.entries, "entries") as meter:
            result = import_bundle(store, args.file, check_first=not args.salvage,
                                   on_chunk=lambda n: meter.update(advance=n))
        heads = {key: head.length for key, head in store.heads().items()}
    logs = [{"publisher": log.publisher.hex(), "name": log.name, "start": log.start,
             "end": log.end, "held_before": log.held_before, "stored": log.stored,
             "records_updated": log.records, "held_now": heads.get(log.publisher, 0)}
            for log in result.logs]
    uncovered = [{"publisher": d.publisher.hex(), "part": d.part, "index": d.index}
                 for d in result.damage_covered]
    info = {"path": str(args.file), "chunks": result.chunks, "entries": result.entries,
            "stored": result.stored, "already_held": result.entries - result.stored,
            "seconds": round(result.seconds, 3), "logs": logs,
            "governance": asdict(result.governance) | {
                "dropped": [key.hex() for key in result.governance.dropped]},
            "repaired": result.repaired, "damage_not_repaired": uncovered}
    if args.json:
        emit_json(info)
        return 0
    print(f"verified {result.entries:,} entries in {result.chunks} chunks in "
          f"{result.seconds:.1f} s; new: {result.stored:,}, already held: "
          f"{result.entries - result.stored:,}")
    for log in logs:
        print(f"  {log['name']:<24} held {log['held_before']:,} -> {log['held_now']:,} "
              f"(+{log['stored']:,}, {log['records_updated']:,} records updated)")
    gov = result.governance
    if gov.changed or gov.unknown:
        print(f"  governance: {gov.entries:,} decision(s) or signature(s) new, {gov.proofs:,} "
              f"equivocation proof(s) new, {gov.remerged:,} records merged again"
              + (f", {gov.unknown:,} proof(s) of keys that are not publishers kept aside"
                 if gov.unknown else ""))
    if uncovered:
        print(f"warning: {len(uncovered)} damaged part(s) recorded by verify lie in this "
              "bundle's range, but this store cannot rewrite held entries yet: they are NOT "
              "repaired")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.file)
    logs: list[dict[str, Any]] = [
        {"publisher": log.publisher.hex(), "start": log.start, "end": log.end,
         "root": log.head.root.hex(), "ts": log.head.timestamp} for log in manifest.logs]
    info = {"dataset": manifest.dataset_id.hex(), "created": manifest.created,
            "entries": manifest.entries, "logs": logs, **_carried(manifest)}
    if args.json:
        emit_json(info)
        return 0
    print(f"bundle of dataset {manifest.dataset_id.hex()}: {manifest.entries:,} entries")
    for log in logs:
        print(f"  {log['publisher'][:16]}  entries {log['start']:,} .. {log['end']:,}")
    _print_carried(info)
    return 0
