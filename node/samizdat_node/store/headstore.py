"""Signed heads in the store: verified, seen, announced, and the equivocations they reveal.

* ``heads``: per publisher the latest head whose entries are all stored and verified against
  it. Its length is the number of entries held; nothing beyond it is ever stored (design §4).
* ``head_history``: every verified head, and every older head found consistent with ours.
* ``announced``: the longest head learnt without entries (gossip). Never shown as verified; it
  tells sync what to fetch, and is checked against our log once we hold that length.
* ``equivocations``: two validly signed heads of one publisher that cannot both be prefixes of
  one log (design §2), as transferable proofs (heads.EquivocationProof).

Proofs for a fork are computed from our stored subtrees (tree.py); when the other branch
continues past our length, from an :class:`~.tree.OverlayTree` of its received leaves.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

from samizdat_protocol.errors import ProofError
from samizdat_protocol.hashing import EMPTY_TREE_ROOT
from samizdat_protocol.heads import EquivocationProof, SignedHead, find_equivocation
from samizdat_protocol.merkle import SubtreeSource, consistency_proof, root_of

from .dataset import Dataset
from .db import Database
from .tree import StoredTree

__all__ = [
    "HeadOutcome",
    "announced_head",
    "clear_announced",
    "held_head",
    "prove_fork",
    "record_head",
    "remember_head",
    "save_announced",
    "save_equivocation",
    "save_verified",
]


def held_head(conn: sqlite3.Connection, publisher_id: int) -> SignedHead | None:
    row = conn.execute("SELECT head FROM heads WHERE publisher = ?", (publisher_id,)).fetchone()
    return None if row is None else SignedHead.from_bytes(row[0])


def remember_head(conn: sqlite3.Connection, publisher_id: int, head: SignedHead) -> None:
    """Add a verified or consistent head to the history (idempotent)."""
    conn.execute("INSERT OR IGNORE INTO head_history (publisher, length, head_id, ts, head) "
                 "VALUES (?, ?, ?, ?, ?)",
                 (publisher_id, head.length, head.head_id, head.timestamp, head.to_bytes()))


def save_verified(conn: sqlite3.Connection, publisher_id: int, head: SignedHead) -> None:
    """Make ``head`` the publisher's verified head (its entries are stored in this txn)."""
    conn.execute("INSERT INTO heads (publisher, length, root, ts, head) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (publisher) DO UPDATE SET length = excluded.length, "
                 "root = excluded.root, ts = excluded.ts, head = excluded.head",
                 (publisher_id, head.length, head.root, head.timestamp, head.to_bytes()))
    remember_head(conn, publisher_id, head)


def announced_head(conn: sqlite3.Connection, publisher_id: int) -> SignedHead | None:
    row = conn.execute("SELECT head FROM announced WHERE publisher = ?",
                       (publisher_id,)).fetchone()
    return None if row is None else SignedHead.from_bytes(row[0])


def save_announced(conn: sqlite3.Connection, publisher_id: int, head: SignedHead) -> None:
    conn.execute("INSERT INTO announced (publisher, length, root, ts, head) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT (publisher) DO UPDATE SET length = excluded.length, "
                 "root = excluded.root, ts = excluded.ts, head = excluded.head",
                 (publisher_id, head.length, head.root, head.timestamp, head.to_bytes()))


def clear_announced(conn: sqlite3.Connection, publisher_id: int) -> None:
    conn.execute("DELETE FROM announced WHERE publisher = ?", (publisher_id,))


def prove_fork(ours: SignedHead, other: SignedHead, longer: SubtreeSource) -> EquivocationProof:
    """The equivocation proof for two heads known to disagree.

    ``longer`` is the tree of whichever head is longer (ours from the store, or the other
    branch as an overlay); it gives the prefix root at the shorter length and the consistency
    proof from there, as heads.find_equivocation expects.
    """
    shorter_len = min(ours.length, other.length)
    longer_len = max(ours.length, other.length)
    if shorter_len == longer_len:
        proof = find_equivocation(ours, other)
    else:
        proof = find_equivocation(ours, other, root_of(longer, shorter_len),
                                  consistency_proof(longer, shorter_len, longer_len))
    if proof is None:  # pragma: no cover - the callers compared roots first
        raise AssertionError("heads disagree but no equivocation proof verifies")
    return proof


def save_equivocation(conn: sqlite3.Connection, publisher_id: int, proof: EquivocationProof,
                      now_ms: int) -> bool:
    """Keep a proof (idempotent); True when it was new."""
    data = proof.to_bytes()
    # A table key only, not a protocol hash: any collision-resistant digest will do.
    proof_id = hashlib.blake2b(data, digest_size=32).digest()
    cursor = conn.execute("INSERT OR IGNORE INTO equivocations (publisher, proof_id, proof, "
                          "found_ms) VALUES (?, ?, ?, ?)", (publisher_id, proof_id, data, now_ms))
    return cursor.rowcount > 0


@dataclass(frozen=True, slots=True)
class HeadOutcome:
    """What :func:`record_head` made of a head.

    ``status``: ``"consistent"`` (no longer than what we hold, and a prefix of it),
    ``"announced"`` (longer than what we hold: kept as announced, not verified),
    ``"stale"`` (longer than held but shorter than an announced head; not kept), or
    ``"equivocation"`` (contradicts a head we hold; ``proof`` is kept and returned).
    """

    status: str
    proof: EquivocationProof | None = None


def record_head(db: Database, ds: Dataset, head: SignedHead, now_ms: int) -> HeadOutcome:
    """Take note of a head learnt without entries (gossip, a peer's head vector)."""
    pub = ds.authorised(head.publisher)
    head.verify(ds.dataset_id)
    if head.length == 0 and head.root != EMPTY_TREE_ROOT:
        raise ProofError("range.root", "a head of length 0 must have the empty tree's root")
    with db.atomic("recording a head") as conn:
        ours = held_head(conn, pub.id)
        held = ours.length if ours is not None else 0
        fork = None
        if head.length <= held:
            assert ours is not None or head.length == 0
            tree = StoredTree(conn, pub.id, held)
            if root_of(tree, head.length) == head.root:
                remember_head(conn, pub.id, head)
                return HeadOutcome("consistent")
            assert ours is not None
            fork = prove_fork(ours, head, tree)
        else:
            known = announced_head(conn, pub.id)
            if known is not None and known.length == head.length and known.root != head.root:
                fork = find_equivocation(known, head)
            elif known is not None and known.length > head.length:
                return HeadOutcome("stale")
            else:
                save_announced(conn, pub.id, head)
                return HeadOutcome("announced")
        if fork is not None:
            save_equivocation(conn, pub.id, fork, now_ms)
        return HeadOutcome("equivocation", fork)
