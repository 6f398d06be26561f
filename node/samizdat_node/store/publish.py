"""The publishing pipeline of a publisher's own node (design §2, §8; issue 3).

Record bodies keyed by their source id become ``put`` entries, one signed head per batch:

* a record is appended only when its normalised body differs from this publisher's current
  version (so re-running the same import appends nothing, and a run resumes after a crash:
  every batch committed before the crash is already "current");
* a record this publisher has retracted is left alone by a re-run (un-retracting is a
  deliberate :meth:`correct`);
* each batch is validated against the charter's schema, encoded, hashed, signed and then
  stored through :func:`.apply.commit` like any batch from outside: verified against the signed
  head and committed in one transaction with the view and search index;
* a caller that has already validated and encoded its records (the importers, in a helper
  process: importers/blocks.py, pipeline.py) hands them over as :class:`Encoded` items, made
  only by :func:`encode_record` or by code proven to give the same bytes; the store then does
  only its own part (current versions, headers, tree, signature, SQLite).

Per-record work is kept to a few C calls (codec.py); figures: ``python -m
samizdat_node.bench.store``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

import msgspec

from samizdat_protocol.entries import Entry, encode_payload
from samizdat_protocol.errors import LocalError, SchemaError
from samizdat_protocol.hashing import hash_leaves, hash_payload
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.log import VerifiedRange
from samizdat_protocol.schema import validate
from samizdat_protocol.signing import SigningKey

from .apply import ApplyResult, OwnRange, commit
from .bulk import paused_gc
from .codec import encode_body, put_header
from .dataset import Dataset
from .db import Database
from .headstore import held_state
from .migrations import KIND_ERASE, KIND_PUT, KIND_RETRACT
from .tree import StoredTree
from .view import Columns

__all__ = [
    "Encoded",
    "Item",
    "OnInvalid",
    "PublishResult",
    "State",
    "append_entry",
    "current_states",
    "encode_record",
    "has_put",
    "publish",
]

OnInvalid = Callable[[str, SchemaError], None]
_TS_LIMIT = 2**53


class Encoded(NamedTuple):
    """A record already validated against the charter's schema and canonically encoded.

    ``payload`` is the canonical encoding of the *normalised* body (what :func:`encode_record`
    returns) and ``payload_hash`` its ``hash_payload``. The store signs these bytes as they
    are, so only code that gives exactly encode_record's bytes may build one (the importers
    encode bodies that validation leaves unchanged: tests/node/test_import_pipeline.py). A
    tuple, not a dataclass: a million are made per import.
    """

    record_id: str
    payload: bytes
    payload_hash: bytes


# A record for publish(): (record id, body to validate) or an Encoded one.
Item = tuple[str, Mapping[str, Any]] | Encoded
_decode_stored = msgspec.msgpack.Decoder().decode


def encode_record(schema_id: str, record_id: str, body: Mapping[str, Any]) -> Encoded:
    """Validate ``body`` against ``schema_id`` (normalising it) and encode it for publishing.

    Raises ``SchemaError`` (also ``payload.oversize``) as :func:`publish` would for the body.
    """
    payload = encode_body(validate(schema_id, body))
    return Encoded(record_id, payload, hash_payload(payload))


@dataclass(frozen=True, slots=True)
class PublishResult:
    appended: int  # put entries appended
    unchanged: int  # records whose current version already had this body
    retracted: int  # records skipped because this publisher retracted them
    rejected: int  # bodies refused by the schema (reported through on_invalid)
    batches: int  # heads signed
    length: int  # the publisher's log length afterwards
    head: SignedHead | None  # the last head signed (None if nothing was appended)


@dataclass(frozen=True, slots=True)
class State:
    """This publisher's latest word on a record: its index, kind, payload hash and leaf."""

    index: int
    kind: int
    payload_hash: bytes | None
    leaf: bytes  # of the latest entry of any kind: the next entry's ``prev``


def current_states(db: Database, publisher_id: int,
                   record_ids: list[str]) -> dict[str, State]:
    """The publisher's latest put/retract (and latest leaf) for each of ``record_ids``."""
    out: dict[str, State] = {}
    if not record_ids:
        return out
    with db.reading("looking up current versions") as conn:
        # INDEXED BY: left to itself the planner prefers scanning the publisher's whole log
        # in key order (to skip a sort), which made every batch read the whole log.
        rows = conn.execute(
            "SELECT record_id, idx, kind, payload_hash, leaf FROM entries "
            "INDEXED BY entries_by_record WHERE record_id IN (SELECT value FROM json_each(?)) "
            "AND publisher = ?",
            (json.dumps(record_ids, ensure_ascii=False), publisher_id)).fetchall()
        rows.sort(key=lambda row: row[1])
        for record_id, index, kind, payload_hash, leaf in rows:
            old = out.get(record_id)
            if kind == KIND_ERASE and old is not None:
                out[record_id] = State(old.index, old.kind, old.payload_hash, leaf)
            else:
                out[record_id] = State(index, kind, payload_hash, leaf)
    return out


def has_put(db: Database, publisher_id: int, record_id: str, payload_hash: bytes) -> bool:
    """Whether the publisher ever put ``payload_hash`` as a version of ``record_id``."""
    with db.reading("looking up a version") as conn:
        row = conn.execute("SELECT 1 FROM entries WHERE record_id = ? AND publisher = ? "
                           "AND kind = ? AND payload_hash = ? LIMIT 1",
                           (record_id, publisher_id, KIND_PUT, payload_hash)).fetchone()
    return row is not None


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while True:
        with paused_gc():  # the items pulled are kept until the batch is stored (bulk.py)
            chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk


def _check_time(now_ms: int) -> None:
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or not 0 <= now_ms < _TS_LIMIT:
        raise LocalError("publish.time", "now_ms must be milliseconds since the epoch")


class _Run:
    """One publishing run: counters, the frontier, and the record ids of the batch in flight."""

    def __init__(self, db: Database, ds: Dataset, key: SigningKey, now_ms: int,
                 on_invalid: OnInvalid | None) -> None:
        self.db, self.ds, self.key, self.now_ms = db, ds, key, now_ms
        self.on_invalid = on_invalid
        self.pid = ds.authorised(key.public).id
        with db.reading("reading the log's frontier") as conn:
            self.length = held_state(conn, self.pid).length
            self.frontier = StoredTree(conn, self.pid, self.length).frontier()
        self.run_start = self.length
        self.appended = self.unchanged = self.retracted = self.rejected = self.batches = 0
        self.head: SignedHead | None = None
        self.own: OwnRange | None = None
        self.in_flight: frozenset[str] = frozenset()

    def refuse(self, record_id: str, exc: SchemaError) -> None:
        self.rejected += 1
        if self.on_invalid is None:
            raise exc
        self.on_invalid(record_id, exc)

    def prepare(self, chunk: list[Item]) -> Columns | None:
        """Validate, encode and sign one batch; None when nothing in it changed.

        ``cols.bodies`` holds the normalised body of a record given as a body, None for an
        :class:`Encoded` one (see :meth:`bodies_for_index`).
        """
        schema_id = self.ds.schema_id
        fresh: dict[str, tuple[bytes, bytes, dict[str, Any] | None]] = {}
        in_flight = self.in_flight
        for item in chunk:
            if isinstance(item, Encoded):
                record_id, payload, payload_hash = item
                clean = None
            else:
                record_id, body = item
                try:
                    clean = validate(schema_id, body)
                    payload = encode_body(clean)
                except SchemaError as exc:
                    self.refuse(record_id, SchemaError(exc.code, f"record {record_id}: "
                                                       f"{exc.message}", field=exc.field,
                                                       record=record_id))
                    continue
                payload_hash = hash_payload(payload)
            if record_id in fresh or record_id in in_flight:
                self.refuse(record_id, _duplicate(record_id))
                continue
            fresh[record_id] = (payload, payload_hash, clean)
        states = current_states(self.db, self.pid, list(fresh))
        cols = Columns(self.pid, self.length, [], [], [], [], [], [], [])
        now_ms = self.now_ms
        for record_id, (payload, payload_hash, clean) in fresh.items():
            state = states.get(record_id)
            prev = None
            if state is not None:
                if state.index >= self.run_start:
                    self.refuse(record_id, _duplicate(record_id))
                    continue
                if state.kind == KIND_RETRACT:
                    self.retracted += 1
                    continue
                if state.payload_hash == payload_hash:
                    self.unchanged += 1
                    continue
                prev = state.leaf
            cols.headers.append(put_header(record_id, payload_hash, now_ms, prev))
            cols.kinds.append(KIND_PUT)
            cols.record_ids.append(record_id)
            cols.keys.append(payload_hash)
            cols.timestamps.append(now_ms)
            cols.payloads.append(payload)
            cols.bodies.append(clean)
        if not cols.headers:
            return None
        before = self.frontier.copy()
        leaves = hash_leaves(cols.headers)
        nodes = self.frontier.extend(leaves)
        self.own = OwnRange(before, VerifiedRange(self.frontier.copy(), nodes, leaves))
        self.head = sign_head(self.key, self.ds.dataset_id, self.frontier.size,
                              self.frontier.root(), now_ms)
        self.length = self.frontier.size
        self.appended += len(cols.headers)
        self.batches += 1
        return cols

    @staticmethod
    def bodies_for_index(cols: Columns) -> None:
        """Decode the bodies an inline-indexed batch needs (Encoded items bring none). The
        bytes were encoded from a valid body a moment ago, so a plain decode suffices."""
        bodies, payloads = cols.bodies, cols.payloads
        for pos, body in enumerate(bodies):
            payload = payloads[pos]
            if body is None and payload is not None:
                bodies[pos] = _decode_stored(payload)

    def result(self) -> PublishResult:
        return PublishResult(self.appended, self.unchanged, self.retracted, self.rejected,
                             self.batches, self.length, self.head)


def publish(db: Database, ds: Dataset, key: SigningKey, bodies: Iterable[Item], now_ms: int,
            batch_size: int = 10_000, on_invalid: OnInvalid | None = None, *,
            defer_index: Callable[[int], bool] | None = None) -> PublishResult:
    """Append a put for every record whose body changed; sign and store one head per batch.

    ``bodies`` yields ``(record_id, body)`` pairs, validated and encoded here, or
    :class:`Encoded` records, whose bytes are signed as given (see there).

    A body the schema refuses raises its :class:`SchemaError` (naming the record) unless
    ``on_invalid`` is given, which then receives it and the rest is published. A record id
    given twice in one run is refused the same way (``publish.duplicate``): the second
    occurrence would make a re-run append again.

    Every batch commits atomically and in order, so a crash loses at most the batches not yet
    committed, and a re-run appends exactly what is missing. While batch k's COMMIT writes to
    disk on a helper thread (SQLite releases the GIL), batch k + 1 is validated and encoded;
    its record ids are checked against batch k's (``in_flight``), which the lookup of current
    versions cannot see yet.

    ``defer_index(entries)``: whether a batch of that many entries queues its search rows
    for the trailing indexer (indexer.py) instead of indexing them in its transaction.
    """
    _check_time(now_ms)
    if batch_size < 1:
        raise LocalError("publish.batch_size", "batch_size must be positive")
    run = _Run(db, ds, key, now_ms, on_invalid)
    pending: list[Future[None]] = []
    try:
        for chunk in _chunks(bodies, batch_size):
            with paused_gc():
                cols = run.prepare(chunk)  # meanwhile the previous batch commits
            _settle(pending)
            if cols is not None:
                assert run.head is not None and run.own is not None
                run.in_flight = frozenset(cols.record_ids)
                later = defer_index is not None and defer_index(len(cols.headers))
                if not later:
                    run.bodies_for_index(cols)
                _commit_own(db, ds, key, cols, run.head, run.own, pending, later)
        _settle(pending)
    except BaseException:
        _settle(pending, quiet=True)
        raise
    return run.result()


def _settle(pending: list[Future[None]], quiet: bool = False) -> None:
    """Wait for the batch committing on the helper thread; raise its error (unless quiet)."""
    while pending:
        future = pending.pop()
        if quiet:
            future.exception()
        else:
            future.result()


def _duplicate(record_id: str) -> SchemaError:
    return SchemaError("publish.duplicate", f"record {record_id} is given twice in one run",
                       field=None, record=record_id)


def _commit_own(db: Database, ds: Dataset, key: SigningKey, cols: Columns,
                head: SignedHead, own: OwnRange | None = None,
                defer: list[Future[None]] | None = None,
                defer_index: bool = False) -> ApplyResult:
    return commit(db, ds, key.public, cols.start, cols.headers, head,
                  lambda offset, leaves: cols, append_only=True, own=own, defer=defer,
                  defer_index=defer_index)


def append_entry(db: Database, ds: Dataset, key: SigningKey, entry: Entry,
                 body: dict[str, Any] | None, now_ms: int) -> ApplyResult:
    """Append one entry (a retract, an erase, or a corrected put) under a new signed head."""
    _check_time(now_ms)
    pub = ds.authorised(key.public)
    payload = None
    if entry.kind == "put":
        if body is None:
            raise LocalError("publish.payload_missing", "a put needs its body")
        payload, payload_hash = encode_payload(body)
        if payload_hash != entry.payload_hash:
            raise LocalError("publish.payload_mismatch", "body does not match the entry")
    with db.reading("reading the log's frontier") as conn:
        length = held_state(conn, pub.id).length
        frontier = StoredTree(conn, pub.id, length).frontier()
    kinds = {"put": KIND_PUT, "retract": KIND_RETRACT, "erase": KIND_ERASE}
    key_col = entry.payload_hash if entry.kind == "put" else entry.target
    cols = Columns(pub.id, length, [entry.to_bytes()], [kinds[entry.kind]], [entry.record_id],
                   [key_col], [entry.timestamp], [payload], [body])
    frontier.extend(hash_leaves(cols.headers))
    head = sign_head(key, ds.dataset_id, frontier.size, frontier.root(), now_ms)
    return _commit_own(db, ds, key, cols, head)
