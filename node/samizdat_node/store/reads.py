"""Read side of the store: what peers, light clients, the CLI and the gateway ask for.

Everything served is covered by a verified head: entry ranges stop at the held length, proofs
are built for sizes we hold (design §4: nothing unverified is served). Each function takes a
read connection (one snapshot, see db.py) and returns protocol types or plain dataclasses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from samizdat_protocol.encoding import decode
from samizdat_protocol.entries import PAYLOAD_LIMITS, Entry, LogEntry
from samizdat_protocol.errors import LocalError
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merge import RecordView, merge_record
from samizdat_protocol.merkle import consistency_proof, inclusion_proof

from .audit import Damage
from .dataset import Dataset
from .tree import StoredTree

__all__ = [
    "EntryRange",
    "PublisherStatus",
    "StoreCounts",
    "ViewCounts",
    "ViewRow",
    "counts",
    "counts_entries",
    "damage_rows",
    "entries_range",
    "equivocation_proofs",
    "head_history",
    "heads_vector",
    "held_length",
    "payload_by_hash",
    "prove_consistency",
    "prove_inclusion",
    "publisher_status",
    "record_view",
    "view_counts",
    "view_rows",
]


@dataclass(frozen=True, slots=True)
class EntryRange:
    """Entries ``start .. start + len(headers) - 1`` of a publisher, with the head covering
    them. ``payloads`` is aligned with ``headers`` (None: not a put, erased, or not held)."""

    head: SignedHead
    start: int
    headers: list[bytes]
    payloads: list[bytes | None]
    # With ``entries(..., proof=True)``: the consistency proof from ``start + len(headers)``
    # to ``head`` (empty when the range reaches it): a sync chunk as spec §11 sends it.
    proof: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ViewRow:
    """One row of the materialised view with its displayed body (None: retracted, erased or
    not held). The body bytes are read through the displayed entry, not copied into the view:
    one copy per version on disk, and an erased payload is gone from the view at once."""

    row_key: int
    record_id: str
    publisher: bytes | None
    index: int | None
    retracted: bool
    versions: int
    body: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class StoreCounts:
    entries: int
    payloads: int
    records: int
    displayed: int
    retracted: int
    publishers: int
    equivocations: int
    damaged: int


@dataclass(frozen=True, slots=True)
class ViewCounts:
    records: int
    displayed: int  # with a version shown
    retracted: int


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    key: bytes
    name: str
    priority: int | None
    authorised: bool
    length: int
    head: SignedHead | None
    announced: SignedHead | None
    equivocations: int
    damaged: int
    # The key's standing (spec §13): {"state": active | suspended | revoked | rotated,
    # "as_of": int, "to": key, "proof_id": bytes}, the keys that apply.
    extra: dict[str, Any] = field(default_factory=dict)


def _head(conn: sqlite3.Connection, table: str, pid: int) -> SignedHead | None:
    sql = ("SELECT head FROM heads WHERE publisher = ?" if table == "heads"
           else "SELECT head FROM announced WHERE publisher = ?")
    row = conn.execute(sql, (pid,)).fetchone()
    return None if row is None else SignedHead.from_bytes(row[0])


def held_length(conn: sqlite3.Connection, pid: int) -> int:
    """Entries held and verified: the verified head's length, or more (a proven prefix)."""
    row = conn.execute(
        "SELECT max(coalesce((SELECT length FROM heads WHERE publisher = ?1), 0), "
        "coalesce((SELECT length FROM prefixes WHERE publisher = ?1), 0))", (pid,)).fetchone()
    return int(row[0])


_HELD_SUM = ("SELECT coalesce(sum(max(coalesce(h.length, 0), coalesce(x.length, 0))), 0) "
             "FROM publishers AS p LEFT JOIN heads AS h ON h.publisher = p.id "
             "LEFT JOIN prefixes AS x ON x.publisher = p.id")


def heads_vector(conn: sqlite3.Connection, ds: Dataset) -> dict[bytes, SignedHead]:
    """The verified head of every publisher we hold entries of."""
    return {ds.by_id[pid].key: SignedHead.from_bytes(data)
            for pid, data in conn.execute("SELECT publisher, head FROM heads ORDER BY publisher")}


def head_history(conn: sqlite3.Connection, ds: Dataset, publisher: bytes) -> list[SignedHead]:
    """Every verified (or consistent) head seen for a publisher, shortest first.

    Past heads let a peer serve a long log in chunks, each chunk ending at a signed length.
    """
    pid = _pid(ds, publisher)
    return [SignedHead.from_bytes(data) for (data,) in conn.execute(
        "SELECT head FROM head_history WHERE publisher = ? ORDER BY length, ts", (pid,))]


def _pid(ds: Dataset, publisher: bytes) -> int:
    pub = ds.publishers.get(publisher)
    if pub is None:
        raise LocalError("notfound.publisher", f"no publisher {publisher.hex()[:16]} here")
    return pub.id


def entries_range(conn: sqlite3.Connection, ds: Dataset, publisher: bytes, start: int,
                  limit: int, *, proof: bool = False) -> EntryRange:
    """Up to ``limit`` verified entries from ``start`` (fewer at the end of the log).

    The range stops at the verified head (the newest signed head fully held), which it
    carries; with ``proof`` it also carries the consistency proof from its end to that head,
    so any sub-range of what the head covers can be served as a chunk (spec §11).
    """
    pid = _pid(ds, publisher)
    head = _head(conn, "heads", pid)
    if head is None:
        raise LocalError("notfound.log", "no entries held for this publisher")
    if not 0 <= start <= head.length or limit < 0:
        raise LocalError("usage.range", f"start {start} is outside 0..{head.length}")
    end = min(head.length, start + limit)
    headers: list[bytes] = []
    payloads: list[bytes | None] = []
    for header, payload in conn.execute(
            "SELECT header, payload FROM entries WHERE publisher = ? AND idx >= ? AND idx < ? "
            "ORDER BY idx", (pid, start, end)):
        headers.append(header)
        payloads.append(payload)
    chunk_proof: list[bytes] = []
    if proof and end < head.length:
        chunk_proof = consistency_proof(StoredTree(conn, pid, head.length), end, head.length)
    return EntryRange(head, start, headers, payloads, chunk_proof)


def prove_inclusion(conn: sqlite3.Connection, ds: Dataset, publisher: bytes, index: int,
                    size: int) -> list[bytes]:
    """Inclusion proof of entry ``index`` in the publisher's tree of ``size`` (<= held)."""
    return inclusion_proof(_tree_holding(conn, ds, publisher, size), index, size)


def prove_consistency(conn: sqlite3.Connection, ds: Dataset, publisher: bytes, old: int,
                      new: int) -> list[bytes]:
    return consistency_proof(_tree_holding(conn, ds, publisher, new), old, new)


def _tree_holding(conn: sqlite3.Connection, ds: Dataset, publisher: bytes,
                  size: int) -> StoredTree:
    """The publisher's held tree, which must reach ``size`` entries."""
    pid = _pid(ds, publisher)
    held = held_length(conn, pid)
    if size > held:
        raise LocalError("usage.range", f"size {size} exceeds the {held} entries held")
    return StoredTree(conn, pid, held)


def record_view(conn: sqlite3.Connection, ds: Dataset, record_id: str) -> RecordView | None:
    """The merged view of a record with the bodies held (None if no entry names it)."""
    items = []
    for pid, idx, header, payload in conn.execute(
            "SELECT publisher, idx, header, payload FROM entries WHERE record_id = ?",
            (record_id,)):
        body = decode(payload, PAYLOAD_LIMITS) if payload is not None else None
        items.append(LogEntry(ds.by_id[pid].key, idx, Entry.from_bytes(header), body))
    return merge_record(record_id, items, ds.policy)


_VIEW_SQL = ("SELECT r.id, r.record_id, r.publisher, r.idx, r.retracted, r.versions, e.payload "
             "FROM records AS r LEFT JOIN entries AS e ON e.publisher = r.publisher "
             "AND e.idx = r.idx WHERE ")


def view_rows(conn: sqlite3.Connection, ds: Dataset, *, record_ids: Sequence[str] = (),
              row_keys: Sequence[int] = ()) -> list[ViewRow]:
    """View rows by record id or by row key (e.g. a page of search hits), in the order asked."""
    rows = []
    for where, keys in (("r.record_id = ?", record_ids), ("r.id = ?", row_keys)):
        for key in keys:
            row = conn.execute(_VIEW_SQL + where, (key,)).fetchone()
            if row is not None:
                rows.append(row)
    out = []
    for row_key, record_id, pid, idx, retracted, versions, payload in rows:
        body = decode(payload, PAYLOAD_LIMITS) if payload is not None else None
        out.append(ViewRow(row_key, record_id, ds.by_id[pid].key if pid is not None else None,
                           idx, bool(retracted), versions,
                           body if isinstance(body, dict) else None))
    return out


def payload_by_hash(conn: sqlite3.Connection, payload_hash: bytes,
                    record_id: str | None = None) -> bytes | None:
    """Payload bytes by hash: through the record's entries when ``record_id`` is given (an
    index lookup), else by a scan of every entry (no index by hash: migration 0004)."""
    if record_id is not None:
        row = conn.execute("SELECT payload FROM entries INDEXED BY entries_by_record "
                           "WHERE record_id = ? AND payload_hash = ? AND kind = 0 "
                           "AND payload IS NOT NULL LIMIT 1",
                           (record_id, payload_hash)).fetchone()
    else:
        row = conn.execute("SELECT payload FROM entries WHERE payload_hash = ? AND kind = 0 "
                           "AND payload IS NOT NULL LIMIT 1", (payload_hash,)).fetchone()
    return None if row is None else bytes(row[0])


def counts_entries(conn: sqlite3.Connection) -> int:
    """Entries held over all publishers (verified heads' lengths, or proven prefixes')."""
    return int(conn.execute(_HELD_SUM).fetchone()[0])


def counts(conn: sqlite3.Connection) -> StoreCounts:
    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    view = view_counts(conn)
    return StoreCounts(
        entries=one(_HELD_SUM),
        payloads=one("SELECT count(*) FROM entries WHERE payload IS NOT NULL"),
        records=view.records, displayed=view.displayed, retracted=view.retracted,
        publishers=one("SELECT count(*) FROM publishers"),
        equivocations=one("SELECT count(*) FROM equivocations"),
        damaged=one("SELECT count(*) FROM damage"),
    )


def view_counts(conn: sqlite3.Connection) -> ViewCounts:
    """One pass over the view table (cheap enough for a metrics scrape)."""
    row = conn.execute("SELECT count(*), count(publisher), coalesce(sum(retracted != 0), 0) "
                       "FROM records").fetchone()
    return ViewCounts(int(row[0]), int(row[1]), int(row[2]))


def publisher_status(conn: sqlite3.Connection, ds: Dataset) -> list[PublisherStatus]:
    out = []
    for pub in ds.by_id.values():
        head = _head(conn, "heads", pub.id)
        out.append(PublisherStatus(
            pub.key, pub.name, pub.priority, pub.authorised,
            held_length(conn, pub.id), head, _head(conn, "announced", pub.id),
            int(conn.execute("SELECT count(*) FROM equivocations WHERE publisher = ?",
                             (pub.id,)).fetchone()[0]),
            int(conn.execute("SELECT count(*) FROM damage WHERE publisher = ?",
                             (pub.id,)).fetchone()[0]),
            _standing(ds, pub.key)))
    return out


def _standing(ds: Dataset, key: bytes) -> dict[str, Any]:
    """The key's standing in the authorisation state (spec §13 rule 6), for status output."""
    status = ds.auth.publishers.get(key)
    if status is None:
        return {}
    out: dict[str, Any] = {"state": status.state}
    if status.as_of is not None:
        out["as_of"] = status.as_of
    if status.to is not None:
        out["to"] = status.to
    if status.proof_id is not None:
        out["proof_id"] = status.proof_id
    return out


def equivocation_proofs(conn: sqlite3.Connection) -> list[EquivocationProof]:
    return [EquivocationProof.from_bytes(data)
            for (data,) in conn.execute("SELECT proof FROM equivocations ORDER BY found_ms")]


def damage_rows(conn: sqlite3.Connection, ds: Dataset) -> list[Damage]:
    return [Damage(ds.by_id[pid].key if pid in ds.by_id else b"", part, idx, level, detail)
            for pid, part, level, idx, detail in conn.execute(
                "SELECT publisher, part, level, idx, detail FROM damage "
                "ORDER BY publisher, part, level, idx")]
