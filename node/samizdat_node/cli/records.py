"""`samizdat search`, `get`, `history`: find a person and read a record with its provenance.

``get`` checks what it shows, locally: the displayed version (and each alternative) is an entry
of its publisher's log whose inclusion proof leads to the stored signed head's root, the head's
signature verifies for this dataset, and the body hashes to the entry's payload hash.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from samizdat_protocol.entries import encode_payload
from samizdat_protocol.errors import LocalError, ProofError
from samizdat_protocol.merge import RecordView, Version
from samizdat_protocol.merkle import verify_inclusion

from ..search.model import SearchQuery
from ..store import Store
from .common import add_data, add_json, emit_json, names_of, open_node, short
from .node import search_remote
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

__all__ = ["register", "verify_version"]


def register(sub: Any) -> None:
    search = sub.add_parser("search", help="find people by name, year and place")
    add_data(search)
    add_json(search)
    search.add_argument("--limit", type=int, default=20, help="results per page (1..100)")
    search.add_argument("--offset", type=int, default=0)
    search.add_argument("--birth-year", type=int, help="birth year (with --tolerance)")
    search.add_argument("--tolerance", type=int, default=1, help="years either side (default 1)")
    search.add_argument("--place", help="a place of birth, residence or death")
    search.add_argument("--kind", help="sentence kind (death, camp, prison, exile, ...)")
    search.add_argument("--include-retracted", action="store_true")
    search.add_argument("--peer", metavar="MULTIADDR",
                        help="search on this peer instead (light client: no replica needed, "
                             "every hit is verified with --charter)")
    search.add_argument("--charter", type=Path, help="the signed charter (with --peer)")
    search.add_argument("query", nargs="*", help="names in any order and script, optionally "
                                                 "a year")
    search.set_defaults(handler=cmd_search)

    get = sub.add_parser("get", help="show one record, its versions and its verification")
    add_data(get)
    add_json(get)
    get.add_argument("--lang", choices=("ru", "en"), default="ru", help="labels and dates")
    get.add_argument("record_id")
    get.set_defaults(handler=cmd_get)

    history = sub.add_parser("history", help="every entry that touched a record")
    add_data(history)
    add_json(history)
    history.add_argument("record_id")
    history.set_defaults(handler=cmd_history)


def cmd_search(args: argparse.Namespace) -> int:
    query = SearchQuery(text=" ".join(args.query), birth_year=args.birth_year,
                        year_tolerance=args.tolerance, place=args.place,
                        sentence_kind=args.kind, include_retracted=args.include_retracted,
                        limit=args.limit, offset=args.offset)
    query.validate()
    if args.peer:
        return search_remote(args, query)
    with open_node(args) as (_node, store):
        page = store.search(query)
        names = names_of(store)
        results = []
        for hit in page.hits:
            view = store.record(hit.record_id)
            shown = view.displayed if view is not None else None
            body = shown.body if shown is not None else None
            results.append({
                "record_id": hit.record_id, "name": full_name(body), "years": years(body),
                "birth_year": hit.birth_year, "place": place(body),
                "source": (body or {}).get("source", ""), "score": round(hit.score, 4),
                "retracted": bool(view and view.retracted),
                "publisher": names.get(shown.publisher, "") if shown is not None else "",
                "matched": {k: v.name.lower() for k, v in hit.matched.items()}})
    if args.json:
        emit_json(results)
        return 0
    print_hits(results, args.offset, lambda item: f"score {item['score']}  {item['source']}")
    if page.has_more:
        print(f"more: --offset {args.offset + len(results)}")
    return 0


def verify_version(store: Store, version: Version) -> dict[str, Any]:
    """Check a shown version against the stored signed head (module docstring)."""
    head = store.head(version.publisher)
    if head is None or version.index >= head.length:
        held = store.length(version.publisher)
        if version.index >= held:
            raise ProofError("verify.not_covered", f"entry {version.index} of "
                             f"{short(version.publisher)} is not held as verified")
        # Held in a prefix proven against a longer signed head (a transfer that stopped
        # between heads): the store verified it; no signed head covers it fully yet.
        return {"verified": True, "covered_by": "prefix", "held_length": held,
                "head_length": head.length if head else 0, "proof_hashes": None}
    head.verify(store.dataset_id)
    proof = store.inclusion_proof(version.publisher, version.index, head.length)
    verify_inclusion(version.entry.leaf_hash, version.index, head.length, proof, head.root)
    if version.body is not None and encode_payload(version.body)[1] != version.entry.payload_hash:
        raise ProofError("verify.payload", f"the body of entry {version.index} does not hash "
                         "to its payload hash")
    return {"verified": True, "covered_by": "signed_head", "head_length": head.length,
            "head_root": head.root.hex(), "head_signed": head.timestamp,
            "proof_hashes": len(proof)}


def _version(store: Store, version: Version, names: dict[bytes, str],
             lang: str) -> dict[str, Any]:
    body = version.body or {}
    return {
        "publisher": version.publisher.hex(), "publisher_name": names.get(version.publisher, ""),
        "index": version.index, "timestamp": version.entry.timestamp,
        "erased": version.erased, "payload_hash": (version.entry.payload_hash or b"").hex(),
        "fields": body,
        "rendered": {field: render_value(field, body[field], lang) for field in field_order(body)},
        "verification": verify_version(store, version),
    }


def _record(store: Store, view: RecordView, lang: str) -> dict[str, Any]:
    names = names_of(store)
    return {
        "record_id": view.record_id, "retracted": view.retracted,
        "displayed": _version(store, view.displayed, names, lang) if view.displayed else None,
        "alternatives": [_version(store, v, names, lang) for v in view.alternatives],
        "retractions": [{"publisher": r.publisher.hex(), "publisher_name": names.get(
            r.publisher, ""), "index": r.index, "reason": r.reason, "timestamp": r.timestamp}
            for r in view.retractions],
        "history_entries": len(view.history),
    }


def _print_version(item: dict[str, Any], lang: str, title: str) -> None:
    check = item["verification"]
    print(f"{title}: {item['publisher_name']} ({item['publisher'][:16]}), entry "
          f"{item['index']:,}, published {when(item['timestamp'])}")
    if item["erased"]:
        print("  (the data of this version was erased for a person's safety)")
    width = max((len(label(f, lang)) for f in item["rendered"]), default=0)
    for field, text in item["rendered"].items():
        print(f"  {label(field, lang):<{width}}  {text}")
    if check["covered_by"] == "prefix":
        print(f"  verified on arrival: held in a proven prefix of {check['held_length']:,} "
              "entries; no fully held signed head covers it yet")
    else:
        print(f"  verified: inclusion proof of {check['proof_hashes']} hashes checks against "
              f"the signed head of {check['head_length']:,} entries "
              f"({when(check['head_signed'])})")


def cmd_get(args: argparse.Namespace) -> int:
    with open_node(args) as (_node, store):
        view = store.record(args.record_id)
        if view is None:
            raise LocalError("notfound.record", f"no record {args.record_id} here")
        info = _record(store, view, args.lang)
    if args.json:
        emit_json(info)
        return 0
    shown = info["displayed"]
    print(f"{args.record_id}: {full_name(shown['fields']) if shown else ''}".rstrip(": "))
    for r in info["retractions"]:
        print(f"RETRACTED by {r['publisher_name']} ({when(r['timestamp'])}): {r['reason']}")
    if shown:
        _print_version(shown, args.lang, "shown version")
    for n, alt in enumerate(info["alternatives"], start=1):
        _print_version(alt, args.lang, f"alternative {n}")
    print(f"history: {info['history_entries']} entr{'y' if info['history_entries'] == 1 else 'ies'}"
          f" (samizdat history {args.record_id})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with open_node(args) as (_node, store):
        view = store.record(args.record_id)
        if view is None:
            raise LocalError("notfound.record", f"no record {args.record_id} here")
        names = names_of(store)
    items: list[dict[str, Any]] = [
        {"publisher": h.publisher.hex(), "publisher_name": names.get(h.publisher, ""),
         "index": h.index, "kind": h.entry.kind, "status": h.status,
         "timestamp": h.entry.timestamp, "reason": h.entry.reason, "erased": h.erased,
         "payload_hash": (h.entry.payload_hash or h.entry.target or b"").hex()}
        for h in view.history]
    if args.json:
        emit_json(items)
        return 0
    for item in items:
        extra = f"  reason: {item['reason']}" if item["reason"] else ""
        erased = "  [data erased]" if item["erased"] else ""
        print(f"{when(item['timestamp'])}  {item['publisher_name']:<20} #{item['index']:<8,} "
              f"{item['kind']:<8} {item['status']}{erased}{extra}")
    return 0
