"""Argument parsing, dispatch, and the one place where errors become exit codes.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function ``(args) -> int``. Errors of the library (:class:`SamizdatError`) are
printed as one human line (``error: ... [code]``) and mapped to an exit code by
:mod:`samizdat_node.outcomes`; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence

from samizdat_protocol.errors import SamizdatError

from .. import __version__
from ..outcomes import outcome_for
from . import demo, keys

__all__ = ["build_parser", "main"]

COMMANDS = (keys, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samizdat",
        description="Keep a signed, verifiable replica of a historical dataset alive.",
    )
    parser.add_argument("--version", action="version", version=f"samizdat {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except SamizdatError as exc:
        if args.debug:
            traceback.print_exc()
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.to_dict()}, ensure_ascii=False))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return outcome_for(exc).exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
