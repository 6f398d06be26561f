"""`samizdat init`: make a directory the data directory of a node following one dataset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from samizdat_protocol.errors import UnauthorisedError

from ..datadir import init_node, resolve_data_dir
from .charter import read_charter
from .common import add_data, add_json, emit_json

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "init", help="create a node's data directory for a dataset",
        description="Create the data directory (config.toml, libp2p identity, store) of a "
                    "node following the dataset of CHARTER. Refuses a charter whose founders' "
                    "threshold is not met, a non-empty directory that is not a node, and a "
                    "node of another dataset; running it again with the same charter is "
                    "harmless (and completes an interrupted init).")
    add_data(parser)
    parser.add_argument("--charter", type=Path, required=True, help="the signed charter file")
    add_json(parser)
    parser.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    signed = read_charter(args.charter)
    path = resolve_data_dir(args.data)
    try:
        result = init_node(path, signed)
    except UnauthorisedError as exc:
        if exc.code != "auth.charter_threshold":
            raise
        raise UnauthorisedError(exc.code, f"{exc.message}; founders add theirs with `samizdat "
                                f"charter sign {args.charter} --key FOUNDER.key`") from exc
    node = result.node
    info = {
        "data": str(node.path),
        "created": result.created,
        "dataset": signed.dataset_id.hex(),
        "name": signed.charter.name,
        "peer_id": result.peer_id,
        "config": str(node.path / "config.toml"),
        "store": str(node.store_path),
    }
    if args.json:
        emit_json(info)
        return 0
    verb = "initialised" if result.created else "already a node of this dataset; checked"
    print(f"{verb} {node.path}")
    print(f"dataset  {info['dataset']}  ({info['name']})")
    print(f"peer id  {info['peer_id']}")
    print(f"next: samizdat publish --data {node.path} --key KEYFILE FILE   (a publisher), or")
    print(f"      samizdat bundle import --data {node.path} BUNDLE       (a mirror, offline)")
    return 0
