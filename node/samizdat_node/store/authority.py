"""Governance in the store (issue 7, spec §13): entries, proofs, and what a new state changes.

Governance entries and equivocation proofs are the only inputs of the authorisation state
besides the charter (dataset.py computes it). When either set grows, :func:`state_changed`
runs in the same write transaction:

1. the state is computed again and every key it knows gets a ``publishers`` row;
2. *pins*: a revocation or rotation pins the Merkle root of the key's first ``as_of``
   entries. A held log whose prefix of that length hashes to another root is a forged
   branch: all of the key's entries are dropped (which entry the fork began at cannot be told
   from the pin alone), and the key is marked in ``refetch`` for sync to fetch from 0;
3. every record of every key whose standing changed (status, freeze point, suspension,
   priority, identity), of every dropped key, and every record named by a newly approved
   erasure is merged again (view.remerge_records): the view is again ``merge_all`` of the
   store under the new policy, erased payload bytes are dropped;
4. ``meta.auth_version`` is bumped, so every open Store reloads its Dataset.

Items from a peer or a bundle (spec §11, §15) come in batches (:func:`add_batch`): entries
first, then proofs, all in one transaction, so a forged item stores nothing of its batch, and
the state is computed again at most twice per batch rather than once per item.

Nothing here is re-downloaded: a seized key's retractions past the freeze point simply stop
counting, and the view returns to what it was (the seized-key scenario, tests).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from samizdat_protocol.authstate import AuthState, Rejection
from samizdat_protocol.errors import DecodeError, UnauthorisedError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof
from samizdat_protocol.merkle import root_of

from .dataset import Dataset, bump_auth_version, load_dataset, stored_governance, sync_publishers
from .headstore import held_state, save_equivocation
from .tree import StoredTree
from .view import remerge_records

__all__ = ["GovernanceBatch", "GovernanceResult", "add_batch", "add_equivocation",
           "add_governance", "check_pin", "drop_log", "state_changed"]


@dataclass(frozen=True, slots=True)
class GovernanceResult:
    """What :func:`add_governance` did with one signed entry.

    ``stored``: the entry, or a signature of it, was new. ``applied``: the state in force
    applies it; ``rejection`` says why not (e.g. ``governance.threshold`` while founders are
    still signing). ``remerged``: records merged again; ``dropped``: keys whose forged branch
    was dropped (to be fetched again, :meth:`Store.refetch_needed`).
    """

    id: bytes
    stored: bool
    applied: bool
    rejection: Rejection | None
    remerged: int = 0
    dropped: tuple[bytes, ...] = field(default_factory=tuple)


def _founders_ever(ds: Dataset, entries: Iterable[GovernanceEntry]) -> set[bytes]:
    keys = set(ds.charter.charter.founders)
    for entry in entries:
        if entry.action == "set_founders":
            keys.update(entry.body.fields["founders"])
    return keys


def _keep(conn: sqlite3.Connection, ds: Dataset, entry: GovernanceEntry,
          known: list[GovernanceEntry], now_ms: int) -> bool:
    """Store an entry's valid signatures, merged with a stored copy; True when that changed
    the table. Refused: another dataset, or no valid signature by a key that is or was a
    founder (``known``: the entries held, for ``set_founders``)."""
    if entry.body.dataset_id != ds.dataset_id:
        raise DecodeError("governance.wrong_dataset", "the entry is for another dataset")
    signers = entry.signers()
    valid = GovernanceEntry(entry.body, tuple((k, s) for k, s in entry.signatures
                                              if k in signers))
    if not signers & _founders_ever(ds, [*known, entry]):
        raise UnauthorisedError("governance.unsigned", "no founder has signed this entry")
    row = conn.execute("SELECT entry FROM governance WHERE id = ?", (entry.id,)).fetchone()
    merged = valid if row is None else GovernanceEntry.from_bytes(row[0]).combine(valid)
    merged = GovernanceEntry(merged.body, tuple((k, s) for k, s in merged.signatures
                                                if k in merged.signers()))
    if row is not None and merged.to_bytes() == bytes(row[0]):
        return False
    conn.execute("INSERT INTO governance (id, seq, entry, added_ms) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (id) DO UPDATE SET entry = excluded.entry",
                 (entry.id, entry.seq, merged.to_bytes(), now_ms))
    known.append(merged)
    return True


def add_governance(conn: sqlite3.Connection, ds: Dataset, data: bytes, now_ms: int,
                   defer_index: bool = False) -> tuple[GovernanceResult, Dataset]:
    """Validate and keep a signed governance entry (inside a write transaction).

    Copies of one decision (same id) merge their valid signatures; invalid signatures are
    not kept. An entry for another dataset, or without one valid signature by a key that is
    or was a founder, is refused. Returns the result and the Dataset now in force.
    """
    entry = GovernanceEntry.from_bytes(data)
    stored = _keep(conn, ds, entry, stored_governance(conn), now_ms)
    if stored:
        ds, remerged, dropped = state_changed(conn, ds, now_ms, defer_index)
    else:
        remerged, dropped = 0, ()
    state = ds.auth
    rejection = next((r for r in state.rejected if r.kind == "governance" and r.id == entry.id),
                     None)
    return GovernanceResult(entry.id, stored, entry.id in state.applied, rejection, remerged,
                            dropped), ds


@dataclass(frozen=True, slots=True)
class GovernanceBatch:
    """What :func:`add_batch` did: entries new or with new signatures, new proofs, proofs
    left aside because the state knows no such publisher, records merged again, keys whose
    forged branch was dropped."""

    entries: int = 0
    proofs: int = 0
    unknown: int = 0
    remerged: int = 0
    dropped: tuple[bytes, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.entries or self.proofs)


def add_batch(conn: sqlite3.Connection, ds: Dataset, entries: Sequence[GovernanceEntry],
              proofs: Sequence[EquivocationProof], now_ms: int,
              defer_index: bool = False) -> tuple[GovernanceBatch, Dataset]:
    """Keep governance items from a peer or a bundle (inside one write transaction).

    Entries first (as :func:`add_governance`), then the state in force, then proofs: each must
    verify (raises ``equivocation.*`` otherwise); one against a key the state does not know is
    counted in ``unknown`` and not kept (spec §13 rule 5: it has no effect). Any error leaves
    the caller to roll the whole batch back.
    """
    known = stored_governance(conn)
    kept = sum(_keep(conn, ds, entry, known, now_ms) for entry in entries)
    remerged, dropped = 0, list[bytes]()
    if kept:
        ds, count, gone = state_changed(conn, ds, now_ms, defer_index)
        remerged, dropped = count, list(gone)
    new = unknown = 0
    for proof in proofs:
        proof.verify(ds.dataset_id)
        pub = ds.publishers.get(proof.publisher)
        if pub is None or proof.publisher not in ds.auth.publishers:
            unknown += 1
            continue
        new += save_equivocation(conn, pub.id, proof, now_ms)
    if new:
        ds, count, gone = state_changed(conn, ds, now_ms, defer_index)
        remerged += count
        dropped += gone
    return GovernanceBatch(kept, new, unknown, remerged, tuple(dropped)), ds


def add_equivocation(conn: sqlite3.Connection, ds: Dataset, proof: EquivocationProof,
                     now_ms: int, defer_index: bool = False) -> tuple[bool, Dataset]:
    """Keep a proof that a publisher signed two inconsistent heads (gossip, a peer); True
    when it was new. The proof must verify and name a key the state knows."""
    proof.verify(ds.dataset_id)
    pub = ds.authorised(proof.publisher)
    if not save_equivocation(conn, pub.id, proof, now_ms):
        return False, ds
    ds, _, _ = state_changed(conn, ds, now_ms, defer_index)
    return True, ds


def _standing(state: AuthState, key: bytes) -> tuple[object, ...]:
    return (state.publishers.get(key), state.priorities.get(key), state.identities.get(key))


def state_changed(conn: sqlite3.Connection, old: Dataset, now_ms: int,
                  defer_index: bool = False) -> tuple[Dataset, int, tuple[bytes, ...]]:
    """Bring the store in line with the state its tables now imply (module docstring).

    Returns the new Dataset, the number of records merged again, and the dropped keys.
    """
    bare = load_dataset(conn)
    assert bare is not None
    state = bare.auth
    sync_publishers(conn, state)
    bump_auth_version(conn)
    ds = load_dataset(conn)
    assert ds is not None
    before = old.auth
    changed = {key for key in state.publishers if _standing(before, key) != _standing(state, key)}
    records: dict[str, None] = {}
    dropped = []
    for key, pin in state.pins.items():
        if before.pins.get(key) == pin:
            continue
        pid = ds.publishers[key].id
        if not check_pin(conn, pid, pin.length, pin.root):
            records.update(_records_of(conn, [pid]))
            drop_log(conn, pid, now_ms, f"held prefix does not hash to the root pinned at "
                     f"{pin.length}")
            dropped.append(key)
    ids = [ds.publishers[key].id for key in changed if key in ds.publishers]
    records.update(_records_of(conn, ids))
    for record_id, _ in state.erasures - before.erasures:
        records[record_id] = None
    remerged = remerge_records(conn, ds, list(records), defer_index=defer_index)
    return ds, remerged, tuple(dropped)


def _records_of(conn: sqlite3.Connection, pids: list[int]) -> dict[str, None]:
    out: dict[str, None] = {}
    for pid in pids:
        for (record_id,) in conn.execute(
                "SELECT DISTINCT record_id FROM entries WHERE publisher = ?", (pid,)):
            out[record_id] = None
    return out


def check_pin(conn: sqlite3.Connection, pid: int, length: int, root: bytes) -> bool:
    """False only if the held log is at least ``length`` long and its prefix of that length
    does not hash to ``root`` (a shorter log is checked when it reaches the pin)."""
    held = held_state(conn, pid)
    if held.length < length:
        return True
    return root_of(StoredTree(conn, pid, held.length), length) == root


_DROP = tuple(f"DELETE FROM {table} WHERE publisher = ?" for table in (
    "entries", "nodes", "heads", "prefixes", "head_history", "announced"))


def drop_log(conn: sqlite3.Connection, pid: int, now_ms: int, reason: str) -> None:
    """Forget a forged branch: every entry, subtree and head of the key; fetch it again."""
    for statement in _DROP:
        conn.execute(statement, (pid,))
    conn.execute("INSERT INTO refetch (publisher, start, reason, found_ms) VALUES (?, 0, ?, ?) "
                 "ON CONFLICT (publisher) DO UPDATE SET start = 0, reason = excluded.reason, "
                 "found_ms = excluded.found_ms", (pid, reason, now_ms))
