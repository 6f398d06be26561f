"""The dataset a store holds: its charter, its publishers, and the authorisation state.

A store holds exactly one dataset (design §2: ``dataset_id = H(charter)``). The charter is
stored as signed bytes and checked (founders' threshold) when the store is created. Who may
publish, up to where, in which display order and as which identity is the *authorisation
state* (spec §13): a pure function of the charter, the governance entries and the equivocation
proofs the store holds (``samizdat_protocol.authstate.authorisation_state``). The merge
policy of the view is the state's (``state.merge_policy()``, spec §10).

Every key the state knows (charter publishers, added publishers, rotated-to keys; revoked and
suspended ones too, whose earlier entries still count) has a row in ``publishers``: a small
integer id for the bulk tables, its name and display priority. A key the state does not know
is refused (``auth.not_a_publisher``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from samizdat_protocol.authstate import AuthState, authorisation_state
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.errors import UnauthorisedError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof
from samizdat_protocol.merge import MergePolicy

from .errors import StoreError

__all__ = [
    "Dataset",
    "Publisher",
    "auth_version",
    "bump_auth_version",
    "init_dataset",
    "load_dataset",
    "stored_governance",
    "sync_publishers",
]


@dataclass(frozen=True, slots=True)
class Publisher:
    id: int
    key: bytes
    name: str
    priority: int | None
    authorised: bool


@dataclass
class Dataset:
    charter: SignedCharter
    publishers: dict[bytes, Publisher]
    state: AuthState | None = None
    version: int = 0  # meta.auth_version this was loaded at
    by_id: dict[int, Publisher] = field(init=False)
    policy: MergePolicy = field(init=False)

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = authorisation_state(self.charter.charter, ())
        self.by_id = {p.id: p for p in self.publishers.values()}
        self.policy = self.state.merge_policy()

    @property
    def auth(self) -> AuthState:
        assert self.state is not None  # set in __post_init__
        return self.state

    @property
    def dataset_id(self) -> bytes:
        return self.charter.dataset_id

    @property
    def schema_id(self) -> str:
        return self.charter.charter.schema

    def authorised(self, key: bytes) -> Publisher:
        """The publisher ``key`` names, if the state knows it; else ``auth.not_a_publisher``."""
        pub = self.publishers.get(key)
        if pub is None or not pub.authorised or key not in self.auth.publishers:
            raise UnauthorisedError("auth.not_a_publisher",
                                    f"key {key.hex()[:16]} is not a publisher of this dataset",
                                    publisher=key)
        return pub


def init_dataset(conn: sqlite3.Connection, signed: SignedCharter) -> None:
    """Record the charter and its publishers in a new store (inside a write transaction)."""
    signed.verify()
    charter = signed.charter
    conn.execute("INSERT INTO charter (id, dataset_id, schema_id, signed) VALUES (1, ?, ?, ?)",
                 (signed.dataset_id, charter.schema, signed.to_bytes()))
    conn.executemany(
        "INSERT INTO publishers (id, key, name, priority, authorised) VALUES (?, ?, ?, ?, 1)",
        [(n + 1, grant.key, grant.name, n) for n, grant in enumerate(charter.publishers)])


def auth_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'auth_version'").fetchone()
    return 0 if row is None else int(row[0])


def bump_auth_version(conn: sqlite3.Connection) -> None:
    """Tell every open store that the authorisation state must be computed again."""
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'auth_version'")


def stored_governance(conn: sqlite3.Connection) -> list[GovernanceEntry]:
    return [GovernanceEntry.from_bytes(data) for (data,) in conn.execute(
        "SELECT entry FROM governance ORDER BY seq, id")]


def _stored_proofs(conn: sqlite3.Connection) -> Iterable[EquivocationProof]:
    for (data,) in conn.execute("SELECT proof FROM equivocations ORDER BY proof_id"):
        yield EquivocationProof.from_bytes(data)


def sync_publishers(conn: sqlite3.Connection, state: AuthState) -> None:
    """Give every key the state knows a ``publishers`` row with its name and priority."""
    priorities = state.priorities
    known = {key: pid for pid, key in conn.execute("SELECT id, key FROM publishers")}
    top = max(known.values(), default=0)
    for key in sorted(state.publishers):
        name = state.names.get(key, "")
        priority = priorities.get(key)
        if key in known:
            conn.execute("UPDATE publishers SET name = ?, priority = ?, authorised = 1 "
                         "WHERE id = ? AND (name != ? OR priority IS NOT ? OR authorised != 1)",
                         (name, priority, known[key], name, priority))
        else:
            top += 1
            conn.execute("INSERT INTO publishers (id, key, name, priority, authorised) "
                         "VALUES (?, ?, ?, ?, 1)", (top, key, name, priority))


def load_dataset(conn: sqlite3.Connection) -> Dataset | None:
    """The dataset recorded in the store, or None for a store not yet given a charter."""
    row = conn.execute("SELECT dataset_id, signed FROM charter WHERE id = 1").fetchone()
    if row is None:
        return None
    signed = SignedCharter.from_bytes(row[1])
    if signed.dataset_id != row[0]:
        raise StoreError("store.corrupt", "the stored charter does not hash to its dataset id")
    version = auth_version(conn)
    state = authorisation_state(signed.charter, stored_governance(conn), _stored_proofs(conn))
    publishers = {
        key: Publisher(pid, key, name, priority, bool(authorised))
        for pid, key, name, priority, authorised in conn.execute(
            "SELECT id, key, name, priority, authorised FROM publishers ORDER BY id")
    }
    return Dataset(signed, publishers, state, version)
