"""The durable replica store of one dataset (design §5; issue 3): the synchronous API.

``Store`` ties the pieces together: the SQLite file (db.py) and its migrations, the dataset's
charter and publishers (dataset.py), the single entry path (apply.py), heads (headstore.py),
publishing (publish.py), reads (reads.py) and the audit (audit.py, verify.py). Every method is
a plain blocking ``def``; under trio use :class:`~.aio.AsyncStore`, which runs them in worker
threads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from samizdat_node.search.model import SearchPage, SearchQuery
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.entries import Entry, encode_payload
from samizdat_protocol.errors import LocalError
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merge import RecordView
from samizdat_protocol.schema import validate
from samizdat_protocol.signing import SigningKey

from . import reads
from .apply import ApplyResult, Payloads, apply_batch
from .audit import BLOCK, AuditReport, Damage
from .dataset import Dataset, init_dataset, load_dataset
from .db import Database
from .errors import StoreError
from .headstore import HeadOutcome, record_head
from .migrations import KIND_PUT, applied_migrations, migrate
from .publish import (
    OnInvalid,
    PublishResult,
    State,
    append_entry,
    current_states,
    has_put,
    publish,
)
from .search_adapter import create_search_schema, run_search
from .verify import verify_store

__all__ = ["Store"]


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """One dataset's replica in one SQLite file. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, db: Database, dataset: Dataset, clock: Callable[[], int] = _wall_ms):
        self._db = db
        self._ds = dataset
        self._clock = clock

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
        return cls(db, ds, options.get("clock", _wall_ms))

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
        return cls(db, ds, options.get("clock", _wall_ms))

    @staticmethod
    def _open_db(path: str | Path, *, readers: int = 4, max_pages: int | None = None,
                 clock: Callable[[], int] | None = None) -> Database:
        del clock
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
        return self._ds

    @property
    def dataset_id(self) -> bytes:
        return self._ds.dataset_id

    @property
    def charter(self) -> SignedCharter:
        return self._ds.charter

    # -- entering entries ----------------------------------------------------------------

    def apply_batch(self, publisher: bytes, start_index: int, headers: list[bytes],
                    payloads: Payloads, head: SignedHead) -> ApplyResult:
        """Verify and store a batch of a publisher's log, or change nothing (apply.py)."""
        return apply_batch(self._db, self._ds, publisher, start_index, headers, payloads, head,
                           self._clock)

    def record_head(self, head: SignedHead) -> HeadOutcome:
        """Note a head known without its entries (gossip): consistent, announced or a fork."""
        return record_head(self._db, self._ds, head, self._clock())

    add_head_only = record_head

    def publish(self, key: SigningKey, bodies: Iterable[tuple[str, Mapping[str, Any]]],
                now_ms: int, batch_size: int = 10_000,
                on_invalid: OnInvalid | None = None) -> PublishResult:
        """Append changed records as puts, one signed head per batch (publish.py)."""
        return publish(self._db, self._ds, key, bodies, now_ms, batch_size, on_invalid)

    def correct(self, key: SigningKey, record_id: str, body: Mapping[str, Any],
                now_ms: int) -> PublishResult:
        """A new version of one record (also un-retracts it); nothing if unchanged."""
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
        state = self._state(key, record_id)
        if state is None or state.kind != KIND_PUT:
            raise LocalError("publish.nothing_to_retract",
                             f"this publisher has no current version of {record_id}")
        entry = Entry.retract(record_id, reason, now_ms, prev=state.leaf)
        return append_entry(self._db, self._ds, key, entry, None, now_ms)

    def erase(self, key: SigningKey, record_id: str, payload_hash: bytes, reason: str,
              now_ms: int) -> ApplyResult:
        """Drop the payload ``payload_hash`` of a record for a person's safety (header stays).

        Under the charter's default rule (merge.py rule 6) a publisher erases what it put
        itself; anything else would be stored but have no effect, so it is refused here.
        """
        pub = self._ds.authorised(key.public)
        if not has_put(self._db, pub.id, record_id, payload_hash):
            raise LocalError("publish.nothing_to_erase", f"this publisher never put that "
                             f"payload for {record_id}")
        entry = Entry.erase(record_id, payload_hash, reason, now_ms)
        return append_entry(self._db, self._ds, key, entry, None, now_ms)

    def _state(self, key: SigningKey, record_id: str) -> State | None:
        pub = self._ds.authorised(key.public)
        return current_states(self._db, pub.id, [record_id]).get(record_id)

    # -- audit ---------------------------------------------------------------------------

    def verify(self, workers: int | None = None) -> AuditReport:
        """Re-hash and check everything; record what is damaged for repair (audit.py).

        ``workers``: processes hashing blocks in parallel; by default one per CPU (at most 4)
        for a store of more than four blocks, else the audit runs in this process.
        """
        if workers is None:
            with self._db.reading() as conn:
                total = reads.counts_entries(conn)
            workers = min(os.cpu_count() or 1, 4) if total > 4 * BLOCK else 1
        return verify_store(self._db, self._ds, workers=workers, now_ms=self._clock())

    # -- reads ---------------------------------------------------------------------------

    def heads(self) -> dict[bytes, SignedHead]:
        with self._db.reading() as conn:
            return reads.heads_vector(conn, self._ds)

    def head(self, publisher: bytes) -> SignedHead | None:
        return self.heads().get(publisher)

    def head_history(self, publisher: bytes) -> list[SignedHead]:
        """Past signed heads of a publisher (shortest first), for serving in chunks."""
        with self._db.reading() as conn:
            return reads.head_history(conn, self._ds, publisher)

    def length(self, publisher: bytes) -> int:
        head = self.head(publisher)
        return head.length if head is not None else 0

    def entries(self, publisher: bytes, start: int, limit: int = 10_000) -> reads.EntryRange:
        with self._db.reading() as conn:
            return reads.entries_range(conn, self._ds, publisher, start, limit)

    def inclusion_proof(self, publisher: bytes, index: int, size: int) -> list[bytes]:
        with self._db.reading() as conn:
            return reads.prove_inclusion(conn, self._ds, publisher, index, size)

    def consistency_proof(self, publisher: bytes, old: int, new: int) -> list[bytes]:
        with self._db.reading() as conn:
            return reads.prove_consistency(conn, self._ds, publisher, old, new)

    def record(self, record_id: str) -> RecordView | None:
        with self._db.reading() as conn:
            return reads.record_view(conn, self._ds, record_id)

    def view_rows(self, *, record_ids: Sequence[str] = (),
                  row_keys: Sequence[int] = ()) -> list[reads.ViewRow]:
        """Displayed versions with their bodies, by record id or search row key."""
        with self._db.reading() as conn:
            return reads.view_rows(conn, self._ds, record_ids=record_ids, row_keys=row_keys)

    def history(self, record_id: str) -> tuple[Any, ...]:
        view = self.record(record_id)
        return view.history if view is not None else ()

    def search(self, query: SearchQuery) -> SearchPage:
        """Ranked, paged search over displayed (and, if asked, retracted) records."""
        with self._db.reading("searching") as conn:
            return run_search(conn, query)

    def payload(self, payload_hash: bytes) -> bytes | None:
        with self._db.reading() as conn:
            return reads.payload_by_hash(conn, payload_hash)

    def counts(self) -> reads.StoreCounts:
        with self._db.reading() as conn:
            return reads.counts(conn)

    def status(self) -> list[reads.PublisherStatus]:
        with self._db.reading() as conn:
            return reads.publisher_status(conn, self._ds)

    def equivocations(self) -> list[EquivocationProof]:
        with self._db.reading() as conn:
            return reads.equivocation_proofs(conn)

    def damage(self) -> list[Damage]:
        with self._db.reading() as conn:
            return reads.damage_rows(conn, self._ds)

    def migrations(self) -> list[str]:
        with self._db.reading() as conn:
            return applied_migrations(conn)

