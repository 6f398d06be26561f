"""What another node already holds: the ``--since`` input of ``bundle export``.

Accepted JSON (UTF-8), so that the output of ``samizdat status --json`` on the other node can be
carried over as it is:

* ``{"heads": [{"publisher": HEX, "length": N, "head_length": M?, "root": HEX?,
  "signed": HEX?}, ...], ...}`` (``status --json``: ``length`` entries are held; ``signed``
  is the canonical bytes of the newest signed head fully held, of length ``head_length`` <= N,
  and ``root`` its Merkle root);
* ``{"heads": {HEX: N, ...}}`` or just ``{HEX: N, ...}`` (a hand-written heads vector);
* ``[{"publisher": HEX, "length": N}, ...]``.

A signed head is checked (signature and dataset) before it is trusted; a root lets the exporter
check that the other node's log is a prefix of its own (design §2: a fork is refused, not
papered over by an incremental bundle that could never verify there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samizdat_protocol.errors import SamizdatError
from samizdat_protocol.hashing import DIGEST_SIZE
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.signing import PUBLIC_KEY_SIZE

from .format import BundleError

__all__ = ["PeerHead", "parse_since", "read_since"]

MAX_SINCE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PeerHead:
    """The other node holds ``length`` entries; ``root`` (when known) is the Merkle root of
    its first ``root_length`` entries, signed in ``head`` (when given)."""

    publisher: bytes
    length: int
    root: bytes | None = None
    root_length: int = 0
    head: SignedHead | None = None


def _bad(message: str) -> BundleError:
    return BundleError("bundle.since", f"--since: {message}")


def _hex(value: Any, size: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != size:
        raise _bad(f"{what} must be {size * 2} hex digits")
    return raw


def _length(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad("a length must be a non-negative integer")
    return value


def _item(item: Any) -> PeerHead:
    if not isinstance(item, dict) or "publisher" not in item or "length" not in item:
        raise _bad("each head needs 'publisher' and 'length'")
    publisher = _hex(item["publisher"], PUBLIC_KEY_SIZE, "publisher")
    length = _length(item["length"])
    root = _hex(item["root"], DIGEST_SIZE, "root") if item.get("root") else None
    root_length = _length(item.get("head_length", length)) if root is not None else 0
    head = None
    if item.get("signed"):
        try:
            head = SignedHead.from_bytes(_hex_any(item["signed"]))
        except SamizdatError as exc:
            raise _bad(f"a signed head does not decode: {exc.message}") from exc
        if head.publisher != publisher or head.length > length or (
                root is not None and (head.root, head.length) != (root, root_length)):
            raise _bad("a signed head disagrees with its publisher, length or root")
        root, root_length = head.root, head.length
    if root_length > length:
        raise _bad("head_length exceeds length")
    return PeerHead(publisher, length, root, root_length, head)


def _hex_any(value: Any) -> bytes:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError as exc:
        raise _bad("'signed' must be hex") from exc


def parse_since(data: Any) -> dict[bytes, PeerHead]:
    """The other node's head per publisher, from any accepted shape (module docstring)."""
    heads = data.get("heads", data) if isinstance(data, dict) else data
    items: list[PeerHead]
    if isinstance(heads, dict):
        items = [PeerHead(_hex(key, PUBLIC_KEY_SIZE, "publisher"), _length(value))
                 for key, value in heads.items()]
    elif isinstance(heads, list):
        items = [_item(item) for item in heads]
    else:
        raise _bad("expected status --json output or a heads vector")
    out: dict[bytes, PeerHead] = {}
    for item in items:
        if item.publisher in out:
            raise _bad(f"publisher {item.publisher.hex()[:16]} is listed twice")
        out[item.publisher] = item
    return out


def read_since(path: Path) -> dict[bytes, PeerHead]:
    try:
        raw = path.read_bytes()[: MAX_SINCE_BYTES + 1]
    except OSError as exc:
        raise BundleError("bundle.since", f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_SINCE_BYTES:
        raise _bad(f"{path} is larger than {MAX_SINCE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"{path} is not JSON: {exc}") from exc
    return parse_since(data)
