"""Argument parsing, dispatch, and the one place where errors become exit codes.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` to a function ``(args) -> int``. Errors of the library (:class:`SamizdatError`) are
printed as one human line (``error: ... [code]``) and mapped to an exit code by
:mod:`samizdat_node.outcomes`; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence

from samizdat_protocol.errors import LocalError, SamizdatError

from .. import __version__
from ..outcomes import outcome_for
from . import bundle, charter, demo, edit, governance, init, keys, node, publish, records, status

__all__ = ["build_parser", "main"]

COMMANDS = (keys, charter, init, publish, edit, status, records, node, bundle, demo, governance)

EXIT_CODES = """exit codes (docs/operators.md):
  0 done                      5 verification failed or damage found
  1 internal error            6 not authorised (key, founders' threshold)
  2 usage (arguments, data    7 key file or passphrase problem
    directory, config)        8 storage problem
  3 not found                 9 network problem
  4 bad input data           10 done, but some input lines were rejected"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samizdat",
        description="Keep a signed, verifiable replica of a historical dataset alive.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"samizdat {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (before a `--`), not only before the command.
    end = words.index("--") if "--" in words else len(words)
    debug = "--debug" in words[:end]
    args = parser.parse_args([w for w in words[:end] if w != "--debug"] + words[end:])
    args.debug = debug
    try:
        code: int = args.handler(args)
    except SamizdatError as exc:
        return _fail(args, exc)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): exit quietly, as a shell tool would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        # A file the user named, or the disk: one line, no traceback (codes io.*).
        missing = isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError)
        where = f": {exc.filename}" if exc.filename else ""
        error = LocalError("io.not_found" if missing else "io.error",
                           f"{exc.strerror or exc}{where}")
        return _fail(args, error, exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if args.debug:
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
              "traceback, and please report it)", file=sys.stderr)
        return 1
    return code


def _fail(args: argparse.Namespace, error: SamizdatError,
          cause: BaseException | None = None) -> int:
    if args.debug:
        traceback.print_exception(cause or error)
    if getattr(args, "json", False):
        print(json.dumps({"error": error.to_dict()}, ensure_ascii=False))
    else:
        print(f"error: {error}", file=sys.stderr)
    return outcome_for(error).exit_code


if __name__ == "__main__":
    sys.exit(main())
