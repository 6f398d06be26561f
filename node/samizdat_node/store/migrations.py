"""Named, recorded schema migrations (design §5; as in sqlite-utils / datasette).

Each migration is a named function applied once, in order, inside its own write transaction,
and recorded in the ``migrations`` table. Opening a store applies the ones it lacks. A store
that records a migration this code does not know was written by a newer version: it is refused
with ``store.too_new`` rather than half-understood. Never edit or reorder a released migration;
append a new one.

Layout of the tables (0001_initial), and why:

``charter``       the signed charter bytes and ``dataset_id`` (one row).
``publishers``    small integer id <-> 32-byte key, display priority, authorised flag. Every
                  bulk table refers to a publisher by this id (4 bytes, not 32).
``heads``         the latest *verified* head per publisher whose length is at most the number of
                  entries held: exactly that number unless a ``prefixes`` row (0002) says more
                  entries are held, each proven against a longer signed head.
``head_history``  every verified or consistent head seen, by (publisher, length, head hash).
``announced``     the longest head learnt from gossip without its entries; never "verified".
``entries``       keyed by log position (publisher, idx) WITHOUT ROWID: bulk inserts append to
                  the b-tree in key order (design §5 measured random-hash keys 3x slower).
                  Holds header bytes, leaf hash, kind, record id, payload hash (for an erase:
                  its target) and the payload bytes (NULL when erased or not held).
``nodes``         hash of every complete Merkle subtree of level >= 1, by (publisher, level,
                  idx): roots and proofs for every past size come from O(log n) rows.
                  Since 0006, levels >= 4 only (tree.NODE_MIN_LEVEL).
``records``       the materialised view: integer row key (the search index's key), record id,
                  the displayed version (publisher, idx), the retracted flag, version count.
                  The displayed body is read through (publisher, idx) from ``entries``, not
                  copied: a copy would add ~40% to the store, and an erased payload could
                  linger in it.
``equivocations`` transferable proofs that a publisher signed two inconsistent heads.
``damage``        what ``verify`` found damaged, for repair: (publisher, part, level, idx).

0002_prefixes adds:

``prefixes``      entries held beyond the verified head, proven by a consistency proof to a
                  longer signed head (a sync chunk that ends between signed heads, spec §11):
                  the held length, that head, and the proof (32-byte hashes back to back).
                  At most one row per publisher; it goes once a signed head of the held
                  length is known (``heads`` then equals what is held again).

0003_search_pending adds:

``search_pending`` row keys of ``records`` whose search rows are stale: the trailing indexer
                  (indexer.py) brings them up to date after a bulk sync or import that
                  deferred indexing (design §8: the index may trail a bulk sync).

0004_no_payload_index drops ``entries_by_payload``: keyed by a random hash, each batch of a
bulk sync dirtied nearly every page of it (at 1M entries ~3,000 pages, 23 MB of WAL per
4,096-entry batch; design §5 measured the same effect). Payloads are read by log position,
or by hash within one record (``entries_by_record``); a hash alone means a scan.

0005_governance adds (issue 7, spec §13):

``governance``    signed governance entries by id (``H_gov(body)``), with the union of the
                  valid signatures of every copy received; the authorisation state is computed
                  from these, the charter and ``equivocations`` (samizdat_protocol.authstate).
``refetch``       publishers whose held log was dropped as a forged branch (its prefix did not
                  hash to the root a revocation or rotation pins): sync fetches it again from
                  ``start``.
``meta``          ``auth_version``: bumped whenever governance entries or equivocation proofs
                  change, so every open Store knows to recompute the authorisation state.

0006_sparse_nodes drops the ``nodes`` rows of levels 1-3: a row per ~1.1 entries, a tenth of
the cost of applying a sync chunk; such subtrees are folded from their 2-8 leaves on demand.

The search index owns its ``search_*`` tables and creates them idempotently at every open
(:mod:`.search_adapter`); it is not part of these migrations.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from .db import Database
from .errors import StoreError

__all__ = ["MIGRATIONS", "applied_migrations", "migrate"]

Migration = tuple[str, Callable[[sqlite3.Connection], None]]

KIND_PUT = 0
KIND_RETRACT = 1
KIND_ERASE = 2

_INITIAL = """
CREATE TABLE charter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    dataset_id BLOB NOT NULL,
    schema_id TEXT NOT NULL,
    signed BLOB NOT NULL
);
CREATE TABLE publishers (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    priority INTEGER,
    authorised INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE heads (
    publisher INTEGER PRIMARY KEY,
    length INTEGER NOT NULL,
    root BLOB NOT NULL,
    ts INTEGER NOT NULL,
    head BLOB NOT NULL
);
CREATE TABLE head_history (
    publisher INTEGER NOT NULL,
    length INTEGER NOT NULL,
    head_id BLOB NOT NULL,
    ts INTEGER NOT NULL,
    head BLOB NOT NULL,
    PRIMARY KEY (publisher, length, head_id)
) WITHOUT ROWID;
CREATE TABLE announced (
    publisher INTEGER PRIMARY KEY,
    length INTEGER NOT NULL,
    root BLOB NOT NULL,
    ts INTEGER NOT NULL,
    head BLOB NOT NULL
);
CREATE TABLE entries (
    publisher INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    header BLOB NOT NULL,
    leaf BLOB NOT NULL,
    kind INTEGER NOT NULL,
    record_id TEXT NOT NULL,
    payload_hash BLOB,
    ts INTEGER NOT NULL,
    payload BLOB,
    PRIMARY KEY (publisher, idx)
) WITHOUT ROWID;
CREATE INDEX entries_by_payload ON entries (payload_hash) WHERE payload_hash IS NOT NULL;
CREATE INDEX entries_by_record ON entries (record_id);
CREATE TABLE nodes (
    publisher INTEGER NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (publisher, level, idx)
) WITHOUT ROWID;
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE,
    publisher INTEGER,
    idx INTEGER,
    retracted INTEGER NOT NULL DEFAULT 0,
    versions INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE equivocations (
    publisher INTEGER NOT NULL,
    proof_id BLOB NOT NULL,
    proof BLOB NOT NULL,
    found_ms INTEGER NOT NULL,
    PRIMARY KEY (publisher, proof_id)
) WITHOUT ROWID;
CREATE TABLE damage (
    publisher INTEGER NOT NULL,
    part TEXT NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    detail TEXT NOT NULL,
    found_ms INTEGER NOT NULL,
    PRIMARY KEY (publisher, part, level, idx)
) WITHOUT ROWID;
"""


def _initial(conn: sqlite3.Connection) -> None:
    for statement in _INITIAL.split(";"):
        if statement.strip():
            conn.execute(statement)


_PREFIXES = """
CREATE TABLE prefixes (
    publisher INTEGER PRIMARY KEY,
    length INTEGER NOT NULL,
    head BLOB NOT NULL,
    proof BLOB NOT NULL
)
"""


def _prefixes(conn: sqlite3.Connection) -> None:
    conn.execute(_PREFIXES)


def _search_pending(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE search_pending (row_key INTEGER PRIMARY KEY)")


def _sparse_nodes(conn: sqlite3.Connection) -> None:
    # Levels 1-3 are folded from leaves when needed (tree.NODE_MIN_LEVEL); literal here, as a
    # migration must keep doing what it did when it was written.
    conn.execute("DELETE FROM nodes WHERE level < 4")


def _no_payload_index(conn: sqlite3.Connection) -> None:
    conn.execute("DROP INDEX IF EXISTS entries_by_payload")


_GOVERNANCE = """
CREATE TABLE governance (
    id BLOB PRIMARY KEY,
    seq INTEGER NOT NULL,
    entry BLOB NOT NULL,
    added_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE refetch (
    publisher INTEGER PRIMARY KEY,
    start INTEGER NOT NULL,
    reason TEXT NOT NULL,
    found_ms INTEGER NOT NULL
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('auth_version', 0)
"""


def _governance(conn: sqlite3.Connection) -> None:
    for statement in _GOVERNANCE.split(";"):
        if statement.strip():
            conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    ("0001_initial", _initial),
    ("0002_prefixes", _prefixes),
    ("0003_search_pending", _search_pending),
    ("0004_no_payload_index", _no_payload_index),
    ("0005_governance", _governance),
    ("0006_sparse_nodes", _sparse_nodes),
)


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone()
    if exists is None:
        return []
    return [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY seq")]


def migrate(db: Database) -> list[str]:
    """Apply the migrations the store lacks; return their names. Refuses a newer store."""
    done: list[str] = []
    known = [name for name, _ in MIGRATIONS]
    for position, (name, step) in enumerate(MIGRATIONS):
        with db.atomic("migrating the store") as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS migrations (seq INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL UNIQUE, applied_ms INTEGER NOT NULL)")
            applied = applied_migrations(conn)
            unknown = [n for n in applied if n not in known]
            if unknown:
                raise StoreError("store.too_new",
                                 f"{db.path} was written by a newer Samizdat (migrations "
                                 f"{unknown} are unknown here); upgrade to open it",
                                 unknown=unknown)
            if applied != known[: len(applied)]:
                raise StoreError("store.migrations", f"{db.path} records migrations {applied}"
                                 f" out of the known order {known}")
            if position < len(applied):
                continue
            step(conn)
            conn.execute("INSERT INTO migrations (seq, name, applied_ms) VALUES (?, ?, ?)",
                         (position, name, int(time.time() * 1000)))
            done.append(name)
    return done
