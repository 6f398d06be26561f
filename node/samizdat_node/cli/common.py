"""What every command shares: the ``--data``/``--json`` conventions, opening the node, keys,
public keys given as hex or files, JSON output, progress.

Commands stay thin: they parse, call the library, and print (house style: the CLI is a thin
layer over the library, as in sqlite-utils).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from samizdat_protocol.errors import DecodeError, KeyFileError, LocalError, SamizdatError
from samizdat_protocol.signing import PUBLIC_KEY_SIZE, SigningKey

from ..datadir import NodeDir, open_node_dir, resolve_data_dir
from ..keystore import load_key, read_public
from ..progress import Progress
from ..store import Store

__all__ = [
    "add_data",
    "add_json",
    "add_quiet",
    "emit_json",
    "load_signing_key",
    "names_of",
    "node_dir",
    "now_ms",
    "open_node",
    "parse_pubkey",
    "progress",
    "short",
]


def add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR",
                        help="the node's data directory (default: $SAMIZDAT_DATA, else "
                             "$XDG_DATA_HOME/samizdat or ~/.local/share/samizdat)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on standard error")


def node_dir(args: argparse.Namespace,
             flags: Mapping[tuple[str, str], object] | None = None) -> NodeDir:
    return open_node_dir(resolve_data_dir(args.data), flags=flags)


@contextmanager
def open_node(args: argparse.Namespace,
              flags: Mapping[tuple[str, str], object] | None = None
              ) -> Iterator[tuple[NodeDir, Store]]:
    node = node_dir(args, flags)
    store = node.open_store()
    try:
        yield node, store
    finally:
        store.close()


def emit_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def now_ms() -> int:
    return int(time.time() * 1000)


def short(key: bytes) -> str:
    return key.hex()[:16]


def names_of(store: Store) -> dict[bytes, str]:
    return {p.key: p.name for p in store.dataset.publishers.values()}


T = TypeVar("T")


def read_document(path: Path, parse: Callable[[bytes], T], *, limit: int, what: str,
                  oversize_code: str) -> T:
    """Read a signed document (charter, decision file) of at most ``limit`` bytes and parse it,
    naming the file in every error."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError as exc:
        raise LocalError("usage.no_such_file", f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise LocalError("usage.unreadable", f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise DecodeError(oversize_code, f"{path} is larger than any {what}")
    try:
        return parse(data)
    except SamizdatError as exc:
        raise type(exc)(exc.code, f"{path} is not a valid {what}: {exc.message}",
                        **exc.details) from exc


def load_signing_key(path: Path) -> SigningKey:
    """A key file, opened with $SAMIZDAT_PASSPHRASE or a prompt when sealed."""
    return load_key(Path(path))


def _hex_key(text: str) -> bytes | None:
    text = text.strip()
    if len(text) != 2 * PUBLIC_KEY_SIZE:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def parse_pubkey(text: str) -> bytes:
    """A public key given as 64 hex digits, an exported public key file (hex text), or a key
    file (its public half is read without the passphrase)."""
    key = _hex_key(text)
    if key is not None:
        return key
    path = Path(text)
    if not path.is_file():
        raise LocalError("usage.pubkey", f"{text!r} is neither 64 hex digits nor a key file")
    data = path.read_bytes()[:200]
    try:
        key = _hex_key(data.decode("ascii"))
    except UnicodeDecodeError:
        key = None
    if key is not None:
        return key
    try:
        return read_public(path)
    except KeyFileError as exc:
        raise LocalError("usage.pubkey", f"{path} is not a public key or key file: "
                         f"{exc.message}") from exc


def progress(args: argparse.Namespace, label: str, total: int | None = None,
             unit: str = "") -> Progress:
    return Progress(label, total, unit=unit, stream=sys.stderr,
                    enabled=not getattr(args, "quiet", False))
