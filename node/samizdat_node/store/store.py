"""The durable replica store of one dataset (design §5; issue 3): the synchronous API.

``Store`` ties the pieces together: the SQLite file (db.py) and its migrations, the dataset's
charter and publishers (dataset.py), the single entry path (apply.py), heads (headstore.py),
publishing (publish.py), reads (reads.py) and the audit (audit.py, verify.py). Every method is
a plain blocking ``def``; under trio use :class:`~.aio.AsyncStore`, which runs them in worker
threads.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from samizdat_node.search.model import SearchPage, SearchQuery
from samizdat_protocol.authstate import AuthState
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.entries import Entry, encode_payload
from samizdat_protocol.errors import LocalError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merge import RecordView
from samizdat_protocol.schema import validate
from samizdat_protocol.signing import SigningKey

from . import reads
from .apply import ApplyResult, Payloads, apply_batch, apply_prepared, prepared_from
from .audit import BLOCK, AuditReport, Damage
from .authority import (
    GovernanceBatch,
    GovernanceResult,
    add_batch,
    add_equivocation,
    add_governance,
    state_changed,
)
from .dataset import Dataset, auth_version, init_dataset, load_dataset, stored_governance
from .db import Database
from .errors import StoreError
from .headstore import HeadOutcome, record_head
from .indexer import IndexMode, check_mode, defer_for, index_pending
from .migrations import KIND_PUT, applied_migrations, migrate
from .parsepool import ParsedColumns
from .publish import (
    Item,
    OnInvalid,
    PublishResult,
    State,
    append_entry,
    current_states,
    has_put,
    publish,
)
from .repair import RepairEntry, RepairResult, damaged_ranges, repair_entries
from .search_adapter import backlog, create_search_schema, run_search
from .verify import verify_store

__all__ = ["Store"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Fetched:
    publisher: bytes
    index: int
    header: bytes
    payload: bytes | None


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """One dataset's replica in one SQLite file. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, db: Database, dataset: Dataset, clock: Callable[[], int] = _wall_ms,
                 index_mode: IndexMode = "inline"):
        self._db = db
        self._ds = dataset
        self._clock = clock
        self.index_mode: IndexMode = check_mode(index_mode)

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, charter: SignedCharter, **options: Any) -> Store:
        """Create a store for ``charter``'s dataset (or open it if it already holds it)."""
        db = cls._open_db(path, **options)
        try:
            with db.atomic("recording the charter") as conn:
                ds = load_dataset(conn)
                if ds is None:
                    init_dataset(conn, charter)
                    ds = load_dataset(conn)
            assert ds is not None
            if ds.dataset_id != charter.dataset_id:
                raise StoreError("store.wrong_dataset", f"{path} holds another dataset "
                                 f"({ds.dataset_id.hex()[:16]})")
        except BaseException:
            db.close()
            raise
        return cls(db, ds, options.get("clock", _wall_ms), options.get("index_mode", "inline"))

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> Store:
        """Open an existing store; ``store.not_found`` if there is none at ``path``."""
        if not Path(path).exists():
            raise StoreError("store.not_found", f"no store at {path}")
        db = cls._open_db(path, **options)
        try:
            with db.reading("loading the charter") as conn:
                ds = load_dataset(conn)
            if ds is None:
                raise StoreError("store.no_charter", f"{path} was never given a charter")
        except BaseException:
            db.close()
            raise
        return cls(db, ds, options.get("clock", _wall_ms), options.get("index_mode", "inline"))

    @staticmethod
    def _open_db(path: str | Path, *, readers: int = 4, max_pages: int | None = None,
                 clock: Callable[[], int] | None = None,
                 index_mode: str = "inline") -> Database:
        del clock
        check_mode(index_mode)
        db = Database(path, readers=readers, max_pages=max_pages)
        try:
            migrate(db)
            with db.atomic("creating the search index") as conn:
                create_search_schema(conn)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def database(self) -> Database:
        return self._db

    @property
    def dataset(self) -> Dataset:
        return self._fresh()

    @property
    def dataset_id(self) -> bytes:
        return self._ds.dataset_id

    @property
    def charter(self) -> SignedCharter:
        return self._ds.charter

    # -- entering entries ----------------------------------------------------------------

    def apply_batch(self, publisher: bytes, start_index: int, headers: Sequence[bytes],
                    payloads: Payloads, head: SignedHead, *, proof: Sequence[bytes] = (),
                    index: bool | None = None) -> ApplyResult:
        """Verify and store a batch of a publisher's log, or change nothing (apply.py).

        A batch ending before ``head.length`` (a sync chunk) needs ``proof``: the consistency
        proof from ``start_index + len(headers)`` to ``head``. Its entries are then held and
        verified (``length``), while ``head`` stays the newest signed head fully held.
        ``index``: True indexes for search in the batch's transaction, False queues the rows
        for :meth:`index_pending`, None follows the store's ``index_mode`` (indexer.py).
        """
        try:
            return apply_batch(self._db, self._fresh(), publisher, start_index, headers,
                               payloads, head, self._clock, proof=proof,
                               defer_index=defer_for(self.index_mode, len(headers), index),
                               on_proof=self._on_proof)
        finally:
            self._fresh()

    def apply_parsed(self, publisher: bytes, start_index: int, headers: Sequence[bytes],
                     payloads: Sequence[bytes | None], head: SignedHead,
                     parsed: ParsedColumns | None, *, proof: Sequence[bytes] = (),
                     index: bool | None = None) -> ApplyResult:
        """:meth:`apply_batch` of a batch parsed elsewhere (parsepool.py); ``parsed`` must be
        what ``parse_chunk`` returned for these headers and payloads (None: parse here)."""
        ds = self._fresh()
        batch = prepared_from(ds, publisher, start_index, headers, payloads, parsed,
                              defer_index=defer_for(self.index_mode, len(headers), index))
        try:
            return apply_prepared(self._db, ds, batch, head, self._clock, proof=proof,
                                  on_proof=self._on_proof)
        finally:
            self._fresh()

    @property
    def schema_id(self) -> str:
        return self._ds.schema_id

    def record_head(self, head: SignedHead) -> HeadOutcome:
        """Note a head known without its entries (gossip): consistent, announced or a fork.

        A new equivocation proof suspends the publisher (spec §13 rule 5) at once: its
        records are merged again in the same transaction.
        """
        try:
            return record_head(self._db, self._fresh(), head, self._clock(), self._on_proof)
        finally:
            self._fresh()

    # -- governance (authority.py; spec §13, issue 7) -----------------------------------

    def _fresh(self) -> Dataset:
        """The Dataset in force: reloaded when governance or proofs changed (any process)."""
        with self._db.reading("checking the authorisation state") as conn:
            if auth_version(conn) != self._ds.version:
                ds = load_dataset(conn)
                assert ds is not None
                self._ds = ds
        return self._ds

    def _on_proof(self, conn: sqlite3.Connection) -> None:
        """A new equivocation proof was kept in this transaction: apply the new state."""
        self._ds = state_changed(conn, self._ds, self._clock(),
                                 self.index_mode != "inline")[0]

    def add_governance(self, entry: bytes) -> GovernanceResult:
        """Keep a signed governance entry (merging signatures with a stored copy); when the
        authorisation state changes, bring the view in line in the same transaction:
        re-merge affected records, drop payloads of approved erasures, drop a held log that
        contradicts a pinned root (then listed by :meth:`refetch_needed`)."""
        with self._db.atomic("adding a governance entry") as conn:
            result, ds = add_governance(conn, self._fresh(), entry, self._clock(),
                                        self.index_mode != "inline")
        self._ds = ds
        self._fresh()
        return result

    def add_equivocation(self, proof: EquivocationProof | bytes) -> bool:
        """Keep an equivocation proof from outside (gossip); True when new. The publisher is
        suspended unless frozen or forgiven (spec §13 rule 5)."""
        if isinstance(proof, bytes):
            proof = EquivocationProof.from_bytes(proof)
        with self._db.atomic("adding an equivocation proof") as conn:
            new, ds = add_equivocation(conn, self._fresh(), proof, self._clock(),
                                       self.index_mode != "inline")
        self._ds = ds
        self._fresh()
        return new

    def auth_state(self) -> AuthState:
        """Who may publish what: the state computed from charter, governance and proofs."""
        return self._fresh().auth

    def governance_entries(self) -> list[GovernanceEntry]:
        """Every governance entry held (valid signatures merged), in (seq, id) order."""
        with self._db.reading() as conn:
            return stored_governance(conn)

    def refetch_needed(self) -> list[tuple[bytes, int]]:
        """Publishers whose held log was dropped as a forged branch, with where to fetch from
        (their log must pass the pinned root again before the mark goes)."""
        ds = self._fresh()
        with self._db.reading() as conn:
            return [(ds.by_id[pid].key, start) for pid, start in conn.execute(
                "SELECT publisher, start FROM refetch ORDER BY publisher")]

    def _may_publish(self, key: SigningKey) -> None:
        status = self._fresh().auth.publishers.get(key.public)
        if status is not None and status.state != "active":
            raise LocalError(f"publish.{status.state}", f"this key is {status.state}"
                             + (f" as of {status.as_of}" if status.as_of is not None else "")
                             + "; the founders decide what it may publish (spec §13)")

    add_head_only = record_head

    def publish(self, key: SigningKey, bodies: Iterable[Item],
                now_ms: int, batch_size: int = 10_000, on_invalid: OnInvalid | None = None, *,
                index: bool | None = None) -> PublishResult:
        """Append changed records as puts, one signed head per batch (publish.py).

        ``index``: as for :meth:`apply_batch`, per batch.
        """
        self._may_publish(key)
        mode = self.index_mode
        return publish(self._db, self._ds, key, bodies, now_ms, batch_size, on_invalid,
                       defer_index=lambda entries: defer_for(mode, entries, index))

    # -- the trailing search indexer (indexer.py) ---------------------------------------

    def index_pending(self, limit: int = 10_000) -> int:
        """Index up to ``limit`` rows queued by deferred batches; 0 when up to date."""
        return index_pending(self._db, self._fresh(), limit)

    def index_backlog(self) -> int:
        """Rows whose search text is stale (queued for :meth:`index_pending`)."""
        with self._db.reading() as conn:
            return backlog(conn)

    def correct(self, key: SigningKey, record_id: str, body: Mapping[str, Any],
                now_ms: int) -> PublishResult:
        """A new version of one record (also un-retracts it); nothing if unchanged."""
        self._may_publish(key)
        clean = validate(self._ds.schema_id, body)
        payload_hash = encode_payload(clean)[1]
        state = self._state(key, record_id)
        if state is not None and state.kind == KIND_PUT and state.payload_hash == payload_hash:
            return PublishResult(0, 1, 0, 0, 0, self.length(key.public), None)
        entry = Entry.put(record_id, payload_hash, now_ms, state.leaf if state else None)
        result = append_entry(self._db, self._ds, key, entry, clean, now_ms)
        return PublishResult(1, 0, 0, 0, 1, result.length, self.head(key.public))

    def retract(self, key: SigningKey, record_id: str, reason: str,
                now_ms: int) -> ApplyResult:
        """Retract this publisher's version of a record (a signed tombstone, kept forever)."""
        self._may_publish(key)
        state = self._state(key, record_id)
        if state is None or state.kind != KIND_PUT:
            raise LocalError("publish.nothing_to_retract",
                             f"this publisher has no current version of {record_id}")
        entry = Entry.retract(record_id, reason, now_ms, prev=state.leaf)
        return append_entry(self._db, self._ds, key, entry, None, now_ms)

    def erase(self, key: SigningKey, record_id: str, payload_hash: bytes, reason: str,
              now_ms: int) -> ApplyResult:
        """Ask for the payload ``payload_hash`` of a record to be erased (a signed erase entry).

        Under governance (spec §10 rule 6, §13) a publisher key alone erases nothing, so a
        seized key cannot destroy content: the bytes go when the founders' threshold approves
        the erasure (an ``erase`` governance entry, :meth:`add_governance`). The entry is
        refused unless this publisher put that payload for that record.
        """
        self._may_publish(key)
        pub = self._ds.authorised(key.public)
        if not has_put(self._db, pub.id, record_id, payload_hash):
            raise LocalError("publish.nothing_to_erase", f"this publisher never put that "
                             f"payload for {record_id}")
        entry = Entry.erase(record_id, payload_hash, reason, now_ms)
        return append_entry(self._db, self._ds, key, entry, None, now_ms)

    def _state(self, key: SigningKey, record_id: str) -> State | None:
        pub = self._ds.authorised(key.public)
        return current_states(self._db, pub.id, [record_id]).get(record_id)

    # -- audit and repair (audit.py, verify.py, repair.py) --------------------------------

    def verify(self, workers: int | None = None,
               progress: Callable[[int], None] | None = None) -> AuditReport:
        """Re-hash and check everything; record what is damaged for repair (audit.py).

        ``workers``: processes hashing blocks in parallel; by default one per CPU (at most 4)
        for a store of more than four blocks, else the audit runs in this process.
        ``progress``: called with the entries checked so far (verify.py).
        """
        if workers is None:
            with self._db.reading() as conn:
                total = reads.counts_entries(conn)
            workers = min(os.cpu_count() or 1, 4) if total > 4 * BLOCK else 1
        return verify_store(self._db, self._fresh(), workers=workers, now_ms=self._clock(),
                            progress=progress)

    def repair_entries(self, items: Iterable[RepairEntry]) -> RepairResult:
        """Rewrite entries the audit marked damaged from copies fetched again (each with
        ``publisher``, ``index``, ``header``, ``payload``: sync/repair.RepairItem).

        Per publisher the whole tree is rebuilt with the copies in place and must give the
        root of our own verified head, or nothing of that publisher is written (``refused``);
        stored leaf and subtree hashes and derived columns are rewritten where they differ;
        the publisher is then audited again and its damage marks replaced (repair.py).
        """
        return repair_entries(self._db, self._fresh(), items, self._clock())

    def repair_range(self, publisher: bytes, start: int, headers: Sequence[bytes],
                     payloads: Sequence[bytes | None]) -> RepairResult:
        """:meth:`repair_entries` for a contiguous range (a chunk from a peer or a bundle;
        its head and proof are not needed: our own head is the authority)."""
        if len(payloads) != len(headers):
            raise LocalError("usage.range", "one payload (or None) per header")
        return self.repair_entries(
            _Fetched(publisher, start + n, header, payload)
            for n, (header, payload) in enumerate(zip(headers, payloads, strict=True)))

    def damaged_ranges(self, most: int = 4096) -> list[tuple[bytes, int, int]]:
        """``(publisher, start, end)`` ranges of entries whose bytes must be fetched again
        (the audit's ``header``, ``entry``, ``missing`` and ``payload`` damage)."""
        ds = self._fresh()
        with self._db.reading() as conn:
            return damaged_ranges(conn, ds, most)

    # -- reads ---------------------------------------------------------------------------

    def heads(self) -> dict[bytes, SignedHead]:
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.heads_vector(conn, ds)

    def head(self, publisher: bytes) -> SignedHead | None:
        """The newest signed head whose entries are all held (what to advertise and serve)."""
        return self.heads().get(publisher)

    def head_history(self, publisher: bytes) -> list[SignedHead]:
        """Past signed heads of a publisher (shortest first), for serving in chunks."""
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.head_history(conn, ds, publisher)

    def length(self, publisher: bytes) -> int:
        """Entries held and verified (>= ``head(publisher).length``: a proven prefix may be
        held past the newest signed head; sync resumes from here)."""
        pub = self._fresh().publishers.get(publisher)
        if pub is None:
            return 0
        with self._db.reading() as conn:
            return reads.held_length(conn, pub.id)

    def entries(self, publisher: bytes, start: int, limit: int = 10_000, *,
                proof: bool = False) -> reads.EntryRange:
        """Entries from ``start`` up to the verified head (``head``), at most ``limit``; with
        ``proof``, the consistency proof from the range's end to that head (a sync chunk)."""
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.entries_range(conn, ds, publisher, start, limit, proof=proof)

    def inclusion_proof(self, publisher: bytes, index: int, size: int) -> list[bytes]:
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.prove_inclusion(conn, ds, publisher, index, size)

    def consistency_proof(self, publisher: bytes, old: int, new: int) -> list[bytes]:
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.prove_consistency(conn, ds, publisher, old, new)

    def record(self, record_id: str) -> RecordView | None:
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.record_view(conn, ds, record_id)

    def view_rows(self, *, record_ids: Sequence[str] = (),
                  row_keys: Sequence[int] = ()) -> list[reads.ViewRow]:
        """Displayed versions with their bodies, by record id or search row key."""
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.view_rows(conn, ds, record_ids=record_ids, row_keys=row_keys)

    def history(self, record_id: str) -> tuple[Any, ...]:
        view = self.record(record_id)
        return view.history if view is not None else ()

    def search(self, query: SearchQuery) -> SearchPage:
        """Ranked, paged search over displayed (and, if asked, retracted) records.

        ``page.pending`` > 0: that many rows await the trailing indexer, so the index may
        miss recent records or show their previous text (the hits' view rows are current).
        """
        with self._db.reading("searching") as conn:
            page = run_search(conn, query)
            pending = backlog(conn)
        return dataclasses.replace(page, pending=pending) if pending else page

    def payload(self, payload_hash: bytes, record_id: str | None = None) -> bytes | None:
        """Payload bytes by hash (None: erased or not held). Give ``record_id`` when known:
        without it the lookup scans every entry (there is no index by hash)."""
        with self._db.reading() as conn:
            return reads.payload_by_hash(conn, payload_hash, record_id)

    def counts(self) -> reads.StoreCounts:
        with self._db.reading() as conn:
            return reads.counts(conn)

    def view_counts(self) -> reads.ViewCounts:
        """Records in the view (one pass over it; not the payload scan of :meth:`counts`)."""
        with self._db.reading() as conn:
            return reads.view_counts(conn)

    def status(self) -> list[reads.PublisherStatus]:
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.publisher_status(conn, ds)

    def equivocations(self) -> list[EquivocationProof]:
        with self._db.reading() as conn:
            return reads.equivocation_proofs(conn)

    def damage(self) -> list[Damage]:
        ds = self._fresh()
        with self._db.reading() as conn:
            return reads.damage_rows(conn, ds)

    def migrations(self) -> list[str]:
        with self._db.reading() as conn:
            return applied_migrations(conn)

    def add_governance_batch(self, entries: Sequence[GovernanceEntry],
                             proofs: Sequence[EquivocationProof] = ()) -> GovernanceBatch:
        """Keep governance entries, then equivocation proofs, from a peer or a bundle in one
        transaction: a forged item stores nothing (authority.add_batch; spec §11, §15)."""
        with self._db.atomic("adding governance from a peer") as conn:
            result, ds = add_batch(conn, self._fresh(), entries, proofs, self._clock(),
                                   self.index_mode != "inline")
        self._ds = ds
        self._fresh()
        return result
