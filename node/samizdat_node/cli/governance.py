"""`samizdat governance`: founders' decisions (spec §13, issue 7), prepared, signed, submitted.

A decision is a file holding one signed governance entry (``GovernanceEntry.to_bytes``: the
canonical body and the founders' signatures). Any founder proposes it against a node
(``propose`` fills in the dataset, the next ``seq`` and, for a revocation or rotation, the
Merkle root of the key's first ``as_of`` entries as this node holds them); each founder adds a
signature offline (``sign`` replaces the file atomically; the entry id does not change);
``submit`` hands it to a node, which applies it once the threshold of founders in force has
signed. Copies with different signatures are the same decision: a node merges them. A node
passes what it holds on to its peers (gossip, catch-up, bundles; spec §11-§15), so one
submission reaches the network: a running ``samizdat serve`` of that data directory announces
it within a fraction of a second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from samizdat_protocol.authstate import AuthState, authorisation_state
from samizdat_protocol.errors import (
    LocalError,
    SchemaError,
    UnauthorisedError,
)
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.hashing import hash_leaf
from samizdat_protocol.merkle import Frontier

from ..keystore import write_atomic
from ..store import Store
from .charter import read_charter
from .common import (
    add_data,
    add_json,
    emit_json,
    load_signing_key,
    now_ms,
    open_node,
    parse_pubkey,
    read_document,
    short,
)

__all__ = ["describe_entry", "read_entry", "register", "root_at"]

MAX_ENTRY_BYTES = 64 * 1024
PAGE = 10_000

# CLI action name -> (protocol action, required options)
_ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "add-publisher": ("add_publisher", ("key", "name")),
    "revoke": ("revoke_publisher", ("key", "as_of")),
    "rotate": ("rotate_publisher", ("old", "new", "as_of")),
    "set-founders": ("set_founders", ("founder", "threshold")),
    "set-priorities": ("set_priorities", ("order",)),
    "erase": ("erase", ("record", "payload", "reason")),
    "reinstate": ("reinstate_publisher", ("key", "through")),
}


def register(sub: Any) -> None:
    parser = sub.add_parser("governance", help="founders' decisions: propose, sign, show, "
                                               "submit (revoke, rotate, erase, ...)")
    gov = parser.add_subparsers(dest="governance_command", metavar="STEP", required=True)

    prop = gov.add_parser(
        "propose", help="write a new, unsigned decision",
        description="Write an unsigned decision to --out. PUB is 64 hex digits, an exported "
                    "public key file or a key file. revoke/rotate pin the Merkle root of the "
                    "key's first --as-of entries as held by the --data node.")
    prop.add_argument("action", choices=sorted(_ACTIONS))
    prop.add_argument("--key", metavar="PUB", help="the publisher (add-publisher, revoke, "
                                                   "reinstate)")
    prop.add_argument("--name", help="display name (add-publisher; rotate: optional)")
    prop.add_argument("--as-of", type=int, help="log length kept; entries from here on are "
                                                "ignored (revoke, rotate)")
    prop.add_argument("--old", metavar="PUB", help="rotate: the key being replaced")
    prop.add_argument("--new", metavar="PUB", help="rotate: the key that continues")
    prop.add_argument("--founder", action="extend", nargs="+", metavar="PUB",
                      help="set-founders: the new founder set")
    prop.add_argument("--threshold", type=int, help="set-founders: signatures needed")
    prop.add_argument("--order", action="extend", nargs="+", metavar="PUB",
                      help="set-priorities: publishers first, in this order")
    prop.add_argument("--record", help="erase: the record id")
    prop.add_argument("--payload", metavar="HASH", help="erase: the payload hash (hex)")
    prop.add_argument("--reason", help="erase: why (kept in the decision)")
    prop.add_argument("--through", type=int, help="reinstate: forgive forks whose shorter "
                                                  "head is at most this long")
    prop.add_argument("--seq", type=int, help="decision number (default: the node's next)")
    prop.add_argument("--ts", type=int, help="time in ms (default: now)")
    prop.add_argument("--out", type=Path, required=True)
    add_data(prop)
    add_json(prop)
    prop.set_defaults(handler=cmd_propose)

    sign = gov.add_parser("sign", help="add a founder's signature (file replaced atomically)")
    sign.add_argument("file", type=Path)
    sign.add_argument("--key", type=Path, required=True, help="the founder's key file")
    _add_context(sign)
    sign.set_defaults(handler=cmd_sign)

    show = gov.add_parser("show", help="what a decision says and who signed it")
    show.add_argument("file", type=Path)
    _add_context(show)
    show.set_defaults(handler=cmd_show)

    submit = gov.add_parser("submit", help="hand a decision to a node (applied once the "
                                           "founders' threshold has signed)")
    submit.add_argument("file", type=Path)
    add_data(submit)
    add_json(submit)
    submit.set_defaults(handler=cmd_submit)


def _add_context(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    parser.add_argument("--charter", type=Path, help="count signatures against this charter's "
                                                     "founders instead of a node's state")
    add_json(parser)


def read_entry(path: Path) -> GovernanceEntry:
    """A decision file, or a clear error."""
    return read_document(path, GovernanceEntry.from_bytes, limit=MAX_ENTRY_BYTES,
                         what="decision file", oversize_code="governance.oversize")


def root_at(store: Store, key: bytes, size: int) -> bytes:
    """The Merkle root of ``key``'s first ``size`` entries as this node holds them (the pin of
    a revocation or rotation, spec §13 rule 4); refused if fewer are held."""
    held = store.length(key)
    if held < size:
        raise LocalError("usage.as_of", f"this node holds {held:,} entries of {short(key)}, "
                         f"fewer than --as-of {size:,}; sync it first")
    head = store.head(key)
    if head is not None and head.length == size:
        return head.root
    frontier = Frontier.empty()
    start = 0
    while start < size:
        chunk = store.entries(key, start, min(PAGE, size - start))
        if not chunk.headers:
            raise LocalError("usage.as_of", f"entries from {start:,} of {short(key)} are not "
                             "covered by a signed head held here; sync it first")
        frontier.extend(hash_leaf(h) for h in chunk.headers)
        start += len(chunk.headers)
    return frontier.root()


def _fields(args: argparse.Namespace, store: Store, action: str) -> dict[str, Any]:
    missing = [f"--{o.replace('_', '-')}" for o in _ACTIONS[action][1]
               if getattr(args, o) is None]
    if missing:
        raise LocalError("usage.missing", f"{action} needs {', '.join(missing)}")
    if action == "add-publisher":
        return {"key": parse_pubkey(args.key), "name": args.name}
    if action == "revoke":
        key = parse_pubkey(args.key)
        return {"key": key, "as_of": args.as_of, "root": root_at(store, key, args.as_of)}
    if action == "rotate":
        old = parse_pubkey(args.old)
        out = {"old": old, "new": parse_pubkey(args.new), "as_of": args.as_of,
               "root": root_at(store, old, args.as_of)}
        return out | ({"name": args.name} if args.name else {})
    if action == "set-founders":
        return {"founders": [parse_pubkey(f) for f in args.founder],
                "threshold": args.threshold}
    if action == "set-priorities":
        return {"order": [parse_pubkey(k) for k in args.order]}
    if action == "erase":
        try:
            payload = bytes.fromhex(args.payload)
        except ValueError as exc:
            raise LocalError("usage.payload", "--payload must be a hash in hex") from exc
        return {"record": args.record, "payload": payload, "reason": args.reason}
    return {"key": parse_pubkey(args.key), "through": args.through}


def cmd_propose(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise LocalError("usage.exists", f"{args.out} already exists; refusing to overwrite it")
    with open_node(args) as (_node, store):
        fields = _fields(args, store, args.action)
        state = store.auth_state()
        seq = state.next_seq if args.seq is None else args.seq
        entry = propose(store.dataset_id, seq, _ACTIONS[args.action][0], fields,
                        now_ms() if args.ts is None else args.ts)
    write_atomic(args.out, entry.to_bytes(), mode=0o644)
    if args.json:
        emit_json(describe_entry(entry, state) | {"path": str(args.out)})
    else:
        print(f"wrote {args.out}: decision {entry.id.hex()[:16]} (seq {seq}, "
              f"{entry.action})")
        print(f"needs {state.threshold} of {len(state.founders)} founders' signatures; each "
              f"founder runs: samizdat governance sign {args.out} --key FOUNDER.key")
    return 0


def _context(args: argparse.Namespace) -> AuthState | None:
    """The founder set to count against: a charter's, a node's state, or none given."""
    if args.charter is not None:
        return authorisation_state(read_charter(args.charter).charter, ())
    if args.data is None:
        return None
    with open_node(args) as (_node, store):
        return store.auth_state()


def describe_entry(entry: GovernanceEntry, state: AuthState | None) -> dict[str, Any]:
    """A decision as JSON; with a state, whose signatures count toward its threshold."""
    body = entry.body
    valid = entry.signers()
    info: dict[str, Any] = {
        "id": entry.id.hex(), "dataset": body.dataset_id.hex(), "seq": body.seq,
        "action": body.action, "ts": body.timestamp,
        "fields": {k: _jsonable(v) for k, v in body.fields.items()},
        "signatures": [{"key": k.hex(), "valid": k in valid} for k, _ in entry.signatures],
    }
    if state is not None:
        founders = set(state.founders)
        counted = sorted(valid & founders)
        info |= {"threshold": state.threshold, "founders": len(state.founders),
                 "founder_signatures": [k.hex() for k in counted],
                 "threshold_met": len(counted) >= state.threshold,
                 "applied": entry.id in state.applied,
                 "same_dataset": body.dataset_id == state.dataset_id}
    return info


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _count_line(info: dict[str, Any]) -> str:
    if "threshold" not in info:
        valid = sum(1 for s in info["signatures"] if s["valid"])
        return (f"{valid} valid signature(s); give --data or --charter to count them against "
                "the founders' threshold")
    met = " (threshold met)" if info["threshold_met"] else " needed"
    return f"{len(info['founder_signatures'])} of {info['threshold']} founders' signatures{met}"


def cmd_sign(args: argparse.Namespace) -> int:
    entry = read_entry(args.file)
    key = load_signing_key(args.key)
    state = _context(args)
    if state is not None and entry.body.dataset_id != state.dataset_id:
        raise UnauthorisedError("auth.wrong_dataset", f"{args.file} is a decision for another "
                                "dataset; not signed")
    entry = entry.sign(key)
    write_atomic(args.file, entry.to_bytes(), mode=0o644)
    info = describe_entry(entry, state)
    if args.json:
        emit_json(info | {"path": str(args.file), "signed_by": key.public.hex()})
        return 0
    print(f"signed {args.file} as {short(key.public)}: {_count_line(info)}")
    if state is not None and key.public not in state.founders:
        print(f"warning: {short(key.public)} is not a founder in force; this signature will "
              "not count")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    entry = read_entry(args.file)
    info = describe_entry(entry, _context(args))
    if args.json:
        emit_json(info)
        return 0
    print(f"decision  {args.file}")
    print(f"id        {info['id']}")
    print(f"dataset   {info['dataset']}")
    print(f"seq       {info['seq']}")
    print(f"action    {info['action']}")
    for name, value in info["fields"].items():
        text = ", ".join(value) if isinstance(value, list) else value
        print(f"  {name:<10} {text}")
    print(f"signed by {len(info['signatures'])}: {_count_line(info)}")
    for sig in info["signatures"]:
        print(f"  {sig['key']}  {'valid' if sig['valid'] else 'does NOT verify'}")
    if info.get("applied"):
        print("applied on this node")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    data = read_entry(args.file).to_bytes()
    with open_node(args) as (_node, store):
        result = store.add_governance(data)
        state = store.auth_state()
    info: dict[str, Any] = {
        "id": result.id.hex(), "stored": result.stored, "applied": result.applied,
        "remerged": result.remerged, "dropped": [k.hex() for k in result.dropped],
        "next_seq": state.next_seq}
    rejection = result.rejection
    if rejection is not None:
        message = f"not applied: {rejection.reason} (the signatures given are kept)"
        if rejection.code == "governance.threshold":
            raise UnauthorisedError("auth.threshold", message, id=info["id"],
                                    stored=result.stored)
        raise SchemaError(rejection.code, message, id=info["id"], stored=result.stored)
    if args.json:
        emit_json(info)
    elif not result.stored:
        print(f"decision {info['id'][:16]} was already held with these signatures; applied")
    else:
        print(f"applied decision {info['id'][:16]}: {result.remerged:,} record(s) merged again")
        for key in result.dropped:
            print(f"  dropped the held log of {short(key)}: it contradicts the pinned root; "
                  "it will be fetched again")
        print("the node passes it on to its peers (gossip and catch-up) while it serves")
    return 0
