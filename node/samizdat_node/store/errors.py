"""Errors of the replica store (design §5, §9), with stable codes like every project error.

Two kinds of failure meet here:

* :class:`StoreError` (codes ``store.*``): the local store itself cannot do what was asked: the
  disk is full, the directory is read-only, the file was written by a newer version, another
  process holds the write lock. Nothing outside is to blame, and nothing was changed.
* Bad outside data (a batch whose header, payload or head is wrong) keeps its protocol error
  class (:class:`~samizdat_protocol.errors.ProofError`, ``SchemaError``, ...); :func:`at_entry`
  re-raises it naming the publisher and log index, so a reject message says exactly where.

SQLite reports everything as ``sqlite3.Error`` with a message; :func:`translate` is the single
place that turns those into typed errors (house style §4: wrap library exceptions at the boundary).
"""

from __future__ import annotations

import sqlite3
from typing import Any, TypeVar

from samizdat_protocol.errors import SamizdatError

__all__ = ["StoreError", "at_entry", "translate"]

_E = TypeVar("_E", bound=SamizdatError)


class StoreError(SamizdatError):
    """The local store cannot complete an operation; nothing was changed (codes ``store.*``)."""

    family = "store"


# SQLite extended result codes (sqlite3.h); Python 3.11 exposes them as
# ``exc.sqlite_errorcode``. Only the primary code (low byte) matters here.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_NOMEM = 7
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

_BY_CODE = {
    _SQLITE_FULL: ("store.disk_full", "the disk (or the store's size limit) is full"),
    _SQLITE_READONLY: ("store.read_only", "the store or its directory is read-only"),
    _SQLITE_CANTOPEN: ("store.cannot_open", "cannot open the store file (missing directory, "
                       "permissions, or a read-only directory)"),
    _SQLITE_BUSY: ("store.busy", "another process holds the store's write lock"),
    _SQLITE_LOCKED: ("store.busy", "the store is locked by another connection"),
    _SQLITE_IOERR: ("store.io", "an I/O error occurred reading or writing the store"),
    _SQLITE_CORRUPT: ("store.corrupt", "the SQLite file is damaged"),
    _SQLITE_NOTADB: ("store.corrupt", "the file is not a SQLite database"),
    _SQLITE_NOMEM: ("store.no_memory", "SQLite ran out of memory"),
}


def translate(exc: sqlite3.Error, doing: str) -> StoreError:
    """A typed :class:`StoreError` for a SQLite failure while ``doing`` something."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    known = _BY_CODE.get(primary) if primary is not None else None
    if known is None:
        text = str(exc).lower()
        # Older builds do not set sqlite_errorcode on every path; fall back to the text.
        if "disk is full" in text:
            known = _BY_CODE[_SQLITE_FULL]
        elif "readonly" in text or "read-only" in text:
            known = _BY_CODE[_SQLITE_READONLY]
        elif "unable to open" in text:
            known = _BY_CODE[_SQLITE_CANTOPEN]
        elif "locked" in text:
            known = _BY_CODE[_SQLITE_BUSY]
        else:
            known = ("store.sqlite", "SQLite failed")
    return StoreError(known[0], f"{known[1]} while {doing}: {exc}",
                      sqlite=getattr(exc, "sqlite_errorname", type(exc).__name__))


def at_entry(exc: _E, publisher: bytes, index: int) -> _E:
    """A copy of ``exc`` (same class and code) that names the entry it is about."""
    details: dict[str, Any] = dict(exc.details)
    details.update(publisher=publisher, index=index)
    message = f"entry {index} of publisher {publisher.hex()[:16]}: {exc.message}"
    new = exc.__class__.__new__(exc.__class__)
    SamizdatError.__init__(new, exc.code, message, **details)
    if hasattr(exc, "field"):
        new.field = exc.field  # type: ignore[attr-defined]
    return new
