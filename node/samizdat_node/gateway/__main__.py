"""``python -m samizdat_node.gateway``: serve the gateway alone, for trying it and for tests.

    python -m samizdat_node.gateway --data NODE_DIR --listen 127.0.0.1:8080
    python -m samizdat_node.gateway --store FILE --listen 127.0.0.1:0
    python -m samizdat_node.gateway --store /tmp/sample.sqlite --sample 1000 --listen ...

The bound URL is printed on one line (``listening on http://HOST:PORT``) once it serves, so a
test can start this with port 0 and read where to go. A node normally runs the gateway as one
of its services (``samizdat serve --gateway HOST:PORT``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path

import trio

from samizdat_node.datadir import open_node_dir, resolve_data_dir
from samizdat_node.outcomes import outcome_for
from samizdat_node.store import AsyncStore
from samizdat_protocol.errors import SamizdatError

from .sample_site import build_sample_store
from .serve import serve_gateway


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m samizdat_node.gateway",
                                     description="Serve the read-only web gateway and JSON API.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", help="a node's data directory (default: $SAMIZDAT_DATA or the "
                                      "XDG data directory)")
    where.add_argument("--store", help="a store file, without a node directory")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (port 0: any)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="with --store: first fill it with the synthetic sample (N records)")
    return parser


async def _serve(path: Path, listen: str) -> None:
    async with await AsyncStore.open(path) as store, trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_gateway, store, listen))
        print(f"listening on {url}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.store:
            path = Path(args.store)
            if args.sample is not None:
                build_sample_store(path, args.sample)
        else:
            path = open_node_dir(resolve_data_dir(args.data)).store_path
        trio.run(_serve, path, args.listen)
    except SamizdatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return outcome_for(exc).exit_code
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
