"""`samizdat charter`: create a dataset's charter, collect founders' signatures, show it.

The charter file is the signed charter of spec §4 (canonical msgpack). Founders sign one after
another, offline, each on their own machine (``charter sign`` replaces the file atomically);
the dataset id does not change as signatures are added. A node accepts the charter once the
threshold of founders' signatures is met.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.errors import LocalError
from samizdat_protocol.schema import SCHEMA_ID, SCHEMAS

from ..keystore import write_atomic
from .common import (
    add_json,
    emit_json,
    load_signing_key,
    now_ms,
    parse_pubkey,
    read_document,
    short,
)

__all__ = ["read_charter", "register"]

MAX_CHARTER_BYTES = 256 * 1024


def register(sub: Any) -> None:
    parser = sub.add_parser("charter", help="create, sign and show a dataset charter")
    charter_sub = parser.add_subparsers(dest="charter_command", metavar="ACTION", required=True)

    create = charter_sub.add_parser(
        "create", help="write a new, unsigned charter",
        description="Write a new charter. PUBKEY is 64 hex digits, an exported public key "
                    "file, or a key file. A publisher may be given as NAME=PUBKEY; the list "
                    "order is the display priority.")
    create.add_argument("--name", required=True, help="the dataset's name")
    create.add_argument("--founder", action="extend", nargs="+", required=True,
                        metavar="PUBKEY", help="founder keys (repeat or list several)")
    create.add_argument("--threshold", type=int, required=True,
                        help="founders' signatures needed for the charter and decisions")
    create.add_argument("--publisher", action="extend", nargs="+", default=[],
                        metavar="[NAME=]PUBKEY", help="initial publisher keys, in priority "
                                                     "order")
    create.add_argument("--schema", default=SCHEMA_ID, help=f"record schema (default {SCHEMA_ID})")
    create.add_argument("--description", default="")
    create.add_argument("--created", type=int, help="creation time in ms (default: now)")
    create.add_argument("--out", type=Path, required=True)
    add_json(create)
    create.set_defaults(handler=cmd_create)

    sign = charter_sub.add_parser("sign", help="add a founder's signature (file replaced "
                                               "atomically)")
    sign.add_argument("charter", type=Path)
    sign.add_argument("--key", type=Path, required=True, help="the founder's key file")
    add_json(sign)
    sign.set_defaults(handler=cmd_sign)

    show = charter_sub.add_parser("show", help="what a charter says and who signed it")
    show.add_argument("charter", type=Path)
    add_json(show)
    show.set_defaults(handler=cmd_show)


def read_charter(path: Path) -> SignedCharter:
    """A signed charter file (any number of signatures), or a clear error."""
    return read_document(path, SignedCharter.from_bytes, limit=MAX_CHARTER_BYTES,
                         what="charter file", oversize_code="charter.oversize")


def _grant(text: str, position: int) -> PublisherGrant:
    name, _, key_text = text.rpartition("=")
    if name and not Path(text).exists():
        return PublisherGrant(parse_pubkey(key_text), name.strip())
    path = Path(text)
    label = path.stem if path.is_file() else f"publisher {position + 1}"
    return PublisherGrant(parse_pubkey(text), label)


def cmd_create(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise LocalError("usage.exists", f"{args.out} already exists; refusing to overwrite it")
    if args.schema not in SCHEMAS:
        raise LocalError("usage.schema", f"unknown schema {args.schema!r}; known: "
                         f"{', '.join(sorted(SCHEMAS))}")
    charter = Charter(
        name=args.name, schema=args.schema,
        founders=tuple(parse_pubkey(text) for text in args.founder),
        threshold=args.threshold,
        publishers=tuple(_grant(text, n) for n, text in enumerate(args.publisher)),
        created=now_ms() if args.created is None else args.created,
        description=args.description)
    signed = SignedCharter(charter)
    write_atomic(args.out, signed.to_bytes(), mode=0o644)
    if args.json:
        emit_json(_describe(signed) | {"path": str(args.out)})
    else:
        print(f"wrote {args.out}: dataset {charter.dataset_id.hex()}")
        print(f"needs {charter.threshold} of {len(charter.founders)} founders' signatures; each "
              f"founder runs: samizdat charter sign {args.out} --key FOUNDER.key")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    signed = read_charter(args.charter)
    key = load_signing_key(args.key)
    signed = signed.sign(key)
    write_atomic(args.charter, signed.to_bytes(), mode=0o644)
    valid = len(signed.valid_signers())
    need = signed.charter.threshold
    if args.json:
        emit_json(_describe(signed) | {"path": str(args.charter), "signed_by": key.public.hex()})
    else:
        print(f"signed {args.charter} as founder {short(key.public)}: {valid} of {need} "
              f"signatures needed" + (" (threshold met)" if valid >= need else ""))
    return 0


def _describe(signed: SignedCharter) -> dict[str, Any]:
    charter = signed.charter
    valid = set(signed.valid_signers())
    return {
        "dataset": charter.dataset_id.hex(),
        "name": charter.name,
        "schema": charter.schema,
        "description": charter.description,
        "created": charter.created,
        "threshold": charter.threshold,
        "founders": [{"key": f.hex(), "signed": f in valid} for f in charter.founders],
        "publishers": [{"key": p.key.hex(), "name": p.name, "priority": n}
                       for n, p in enumerate(charter.publishers)],
        "signatures": [{"key": k.hex(), "valid": k in valid} for k, _ in signed.signatures],
        "threshold_met": len(valid) >= charter.threshold,
    }


def cmd_show(args: argparse.Namespace) -> int:
    info = _describe(read_charter(args.charter))
    if args.json:
        emit_json(info)
        return 0
    print(f"charter   {args.charter}")
    print(f"dataset   {info['dataset']}")
    print(f"name      {info['name']}")
    if info["description"]:
        print(f"about     {info['description']}")
    print(f"schema    {info['schema']}")
    valid = sum(1 for f in info["founders"] if f["signed"])
    state = "met" if info["threshold_met"] else "NOT met"
    print(f"founders  {valid} of {len(info['founders'])} signed, threshold "
          f"{info['threshold']}: {state}")
    for founder in info["founders"]:
        print(f"  {founder['key']}  {'signed' if founder['signed'] else 'not signed'}")
    bad = [s["key"] for s in info["signatures"] if not s["valid"]]
    for key in bad:
        print(f"  signature by {key[:16]}… does NOT verify (or is not a founder's)")
    print(f"publishers ({len(info['publishers'])}, in display priority)")
    for pub in info["publishers"]:
        print(f"  {pub['key']}  {pub['name']}")
    return 0
