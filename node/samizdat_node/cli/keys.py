"""`samizdat keys`: create and show publisher and founder keys."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from typing import Any

from samizdat_protocol.errors import LocalError

from ..keystore import PASSPHRASE_ENV, new_key, read_public, write_atomic, write_key


def register(sub: Any) -> None:
    parser = sub.add_parser("keys", help="create and inspect signing keys")
    keys_sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    new = keys_sub.add_parser("new", help="create a new Ed25519 key file (mode 0600)")
    new.add_argument("--out", type=Path, required=True, help="key file to write")
    new.add_argument("--no-passphrase", action="store_true",
                     help="store the key unsealed (for automation and tests only)")
    new.add_argument("--json", action="store_true")
    new.set_defaults(handler=cmd_new)

    show = keys_sub.add_parser("show", help="print the public key of a key file")
    show.add_argument("keyfile", type=Path)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    export = keys_sub.add_parser(
        "export-public", help="write the public key of a key file (for charters and peers)")
    export.add_argument("keyfile", type=Path)
    export.add_argument("--out", type=Path,
                        help="file to write (64 hex digits and a newline); default stdout")
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=cmd_export_public)


def _ask_passphrase() -> bytes:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env.encode()
    first = getpass.getpass("New passphrase: ")
    if first != getpass.getpass("Repeat passphrase: "):
        raise LocalError("usage.passphrase_mismatch", "the two passphrases differ")
    if len(first) < 8:
        raise LocalError("usage.passphrase_short", "use a passphrase of at least 8 characters")
    return first.encode()


def cmd_new(args: argparse.Namespace) -> int:
    key = new_key()
    passphrase = None if args.no_passphrase else _ask_passphrase()
    write_key(args.out, key, passphrase)
    if args.json:
        print(json.dumps({"public": key.public.hex(), "path": str(args.out),
                          "sealed": passphrase is not None}))
    else:
        print(f"wrote {args.out} ({'sealed' if passphrase else 'NOT sealed'})")
        print(f"public key: {key.public.hex()}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    public = read_public(args.keyfile)
    print(json.dumps({"public": public.hex()}) if args.json else public.hex())
    return 0


def cmd_export_public(args: argparse.Namespace) -> int:
    public = read_public(args.keyfile)
    if args.out is not None:
        if args.out.exists():
            raise LocalError("usage.exists", f"{args.out} already exists; refusing to "
                             "overwrite it")
        write_atomic(args.out, (public.hex() + "\n").encode(), mode=0o644)
    if args.json:
        print(json.dumps({"public": public.hex(),
                          "path": str(args.out) if args.out is not None else None}))
    elif args.out is not None:
        print(f"wrote the public key {public.hex()} to {args.out}")
    else:
        print(public.hex())
    return 0
