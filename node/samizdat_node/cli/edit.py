"""`samizdat correct`, `retract`, `erase`: one signed entry (and head) for one record.

``correct`` starts from this publisher's latest version of the record (or, when it has none,
from the version the node displays, so a second organisation corrects without overwriting the
first: design §3), applies ``--set``/``--unset`` or takes a whole ``--body``, and appends the
new version (nothing when it is unchanged; it also lifts this publisher's retraction).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from samizdat_protocol.encoding import Value
from samizdat_protocol.entries import decode_payload
from samizdat_protocol.errors import LocalError
from samizdat_protocol.merge import RecordView
from samizdat_protocol.schema import LIST_FIELDS
from samizdat_protocol.signing import SigningKey

from ..store import Store
from .common import add_data, add_json, emit_json, load_signing_key, now_ms, open_node, short

__all__ = ["register"]

_ERASE_HELP = (
    "Request that the payload (the record's data) of this publisher's versions of RECORD_ID be "
    "dropped for a person's safety: a signed erase entry is appended; the signed headers stay, "
    "so every log still verifies. Only the founders' threshold can approve an erasure (spec "
    "§13): the payload is dropped on every node once a governance `erase` decision for it is "
    "in force, so a seized publisher key alone cannot destroy content.")


def register(sub: Any) -> None:
    correct = sub.add_parser("correct", help="publish a corrected version of one record")
    _common(correct)
    correct.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                         help="set a field (lists: items separated by ';')")
    correct.add_argument("--unset", action="append", default=[], metavar="FIELD",
                         help="remove a field")
    correct.add_argument("--body", help="the whole new body as JSON (or @FILE)")
    correct.set_defaults(handler=cmd_correct)

    retract = sub.add_parser("retract", help="retract this publisher's version of a record "
                                             "(a signed tombstone with a reason)")
    _common(retract)
    retract.add_argument("--reason", required=True)
    retract.set_defaults(handler=cmd_retract)

    erase = sub.add_parser("erase", help="erase the data of a record's versions",
                           description=_ERASE_HELP)
    _common(erase)
    erase.add_argument("--reason", required=True)
    erase.add_argument("--payload", metavar="HASH",
                       help="erase only this payload hash (default: all of this publisher's)")
    erase.set_defaults(handler=cmd_erase)


def _common(parser: argparse.ArgumentParser) -> None:
    add_data(parser)
    parser.add_argument("--key", type=Path, required=True, help="the publisher's key file")
    add_json(parser)
    parser.add_argument("record_id")


def coerce(field: str, text: str) -> Value:
    """A ``--set`` value as the schema types it (validation itself is the schema's)."""
    if field in LIST_FIELDS:
        return [item.strip() for item in text.split(";") if item.strip()]
    if field == "age":
        return int(text) if text.strip().isdigit() else text
    if field in ("executed", "synthetic"):
        lowered = text.strip().lower()
        if lowered not in {"true", "false", "yes", "no", "1", "0", "да", "нет"}:
            raise LocalError("usage.value", f"{field} takes yes or no, not {text!r}")
        return lowered in {"true", "yes", "1", "да"}
    # dates stay ISO text (1938-11-12, 1939-05, 1939); the schema checks them
    return text


def _own_body(store: Store, view: RecordView, key: bytes) -> dict[str, Any] | None:
    """This publisher's latest put of the record, if its payload is held."""
    puts = [item for item in view.history if item.publisher == key and item.entry.kind == "put"]
    if not puts:
        return None
    latest = max(puts, key=lambda item: item.index)
    payload = store.payload(latest.entry.payload_hash or b"")
    return decode_payload(payload) if payload is not None else None


def _new_body(args: argparse.Namespace, store: Store, key: SigningKey) -> dict[str, Any]:
    body: dict[str, Any] | None
    if args.body is not None:
        if args.set or args.unset:
            raise LocalError("usage.conflict", "give --body, or --set/--unset, not both")
        text = Path(args.body[1:]).read_text("utf-8") if args.body.startswith("@") else args.body
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LocalError("usage.json", f"--body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise LocalError("usage.json", "--body must be a JSON object")
        return body
    if not args.set and not args.unset:
        raise LocalError("usage.nothing", "say what to change: --set FIELD=VALUE, --unset "
                         "FIELD or --body JSON")
    view = store.record(args.record_id)
    if view is None:
        raise LocalError("notfound.record", f"no record {args.record_id} here; a new record "
                         "needs its whole --body")
    body = _own_body(store, view, key.public)
    if body is None:
        body = dict(view.displayed.body) if view.displayed and view.displayed.body else None
    if body is None:
        raise LocalError("notfound.body", f"no version of {args.record_id} with data is held "
                         "(erased?); give the whole --body")
    for item in args.set:
        field, sep, value = item.partition("=")
        if not sep:
            raise LocalError("usage.set", f"--set takes FIELD=VALUE, not {item!r}")
        body[field.strip()] = coerce(field.strip(), value)
    for field in args.unset:
        body.pop(field, None)
    return body


def cmd_correct(args: argparse.Namespace) -> int:
    key = load_signing_key(args.key)
    with open_node(args) as (_node, store):
        body = _new_body(args, store, key)
        result = store.correct(key, args.record_id, body, now_ms())
    info = {"record_id": args.record_id, "appended": result.appended,
            "length": result.length, "publisher": key.public.hex()}
    if args.json:
        emit_json(info)
    elif result.appended:
        print(f"published a new version of {args.record_id} (log length {result.length:,})")
    else:
        print(f"{args.record_id}: unchanged (this version is already the current one)")
    return 0


def cmd_retract(args: argparse.Namespace) -> int:
    key = load_signing_key(args.key)
    with open_node(args) as (_node, store):
        result = store.retract(key, args.record_id, args.reason, now_ms())
    if args.json:
        emit_json({"record_id": args.record_id, "index": result.start,
                   "length": result.length, "publisher": key.public.hex()})
    else:
        print(f"retracted {args.record_id} (entry {result.start:,}, log length "
              f"{result.length:,}); it leaves default search, history keeps it")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    key = load_signing_key(args.key)
    with open_node(args) as (_node, store):
        view = store.record(args.record_id)
        if view is None:
            raise LocalError("notfound.record", f"no record {args.record_id} here")
        targets = sorted({item.entry.payload_hash for item in view.history
                          if item.publisher == key.public and item.entry.kind == "put"
                          and item.entry.payload_hash and not item.erased})
        if args.payload is not None:
            try:
                wanted = bytes.fromhex(args.payload)
            except ValueError:
                wanted = b""
            if wanted not in targets:
                raise LocalError("notfound.payload", f"{args.payload} is not a held payload "
                                 f"of this publisher's versions of {args.record_id}")
            targets = [wanted]
        if not targets:
            raise LocalError("notfound.payload", f"this publisher ({short(key.public)}) has no "
                             f"unerased version of {args.record_id}")
        for target in targets:
            result = store.erase(key, args.record_id, target, args.reason, now_ms())
        after = store.record(args.record_id)
        dropped = {item.entry.payload_hash for item in (after.history if after else ())
                   if item.erased}
    erased = [t.hex() for t in targets if t in dropped]
    pending = [t.hex() for t in targets if t not in dropped]
    if args.json:
        emit_json({"record_id": args.record_id, "erased": erased, "pending_approval": pending,
                   "length": result.length})
    else:
        print(f"erase entry signed for {len(targets)} payload(s) of {args.record_id} "
              f"(log length {result.length:,}); dropped now: {len(erased)}")
        if pending:
            print("the payload stays until the founders approve the erasure (a governance "
                  "`erase` decision signed by their threshold, spec §13)")
    return 0
