"""Signed heads in the store: verified, seen, announced, and the equivocations they reveal.

* ``heads``: per publisher the latest head whose entries are all stored and verified against
  it. Its length is the number of entries held; nothing beyond it is ever stored (design §4).
* ``head_history``: every verified head, and every older head found consistent with ours.
* ``announced``: the longest head learnt without entries (gossip). Never shown as verified; it
  tells sync what to fetch, and is checked against our log once we hold that length.
* ``prefixes``: entries held beyond the verified head, proven to be a prefix of a longer
  signed head by a consistency proof (a sync chunk ending between signed heads, spec §11). The
  row keeps that head and the proof, so the audit can re-check the held prefix and a fork
  against it can still be proven (:func:`prove_conflict`).
* ``equivocations``: two validly signed heads of one publisher that cannot both be prefixes of
  one log (design §2), as transferable proofs (heads.EquivocationProof).

Proofs for a fork are computed from our stored subtrees (tree.py); when the other branch
continues past our length, from an :class:`~.tree.OverlayTree` of its received leaves.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
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
    "Held",
    "Knowledge",
    "OnProof",
    "announced_head",
    "clear_announced",
    "clear_prefix",
    "held_head",
    "held_state",
    "ours_known",
    "prove_conflict",
    "prove_fork",
    "record_head",
    "remember_head",
    "save_announced",
    "save_equivocation",
    "save_prefix",
    "save_verified",
]


def held_head(conn: sqlite3.Connection, publisher_id: int) -> SignedHead | None:
    row = conn.execute("SELECT head FROM heads WHERE publisher = ?", (publisher_id,)).fetchone()
    return None if row is None else SignedHead.from_bytes(row[0])


@dataclass(frozen=True, slots=True)
class Held:
    """What is held of one publisher's log.

    ``length`` entries are held and verified. ``head`` is the newest signed head fully held
    (length <= ``length``; the one advertised and served against). When ``length`` is past
    ``head``, ``target`` is the longer signed head the entries were proven against and
    ``proof`` the consistency proof from ``length`` to it.
    """

    length: int
    head: SignedHead | None
    target: SignedHead | None = None
    proof: tuple[bytes, ...] = ()

    @property
    def signed_length(self) -> int:
        return self.head.length if self.head is not None else 0


def held_state(conn: sqlite3.Connection, publisher_id: int) -> Held:
    head = held_head(conn, publisher_id)
    row = conn.execute("SELECT length, head, proof FROM prefixes WHERE publisher = ?",
                       (publisher_id,)).fetchone()
    signed = head.length if head is not None else 0
    if row is None or row[0] <= signed:
        return Held(signed, head)
    proof = bytes(row[2])
    return Held(int(row[0]), head, SignedHead.from_bytes(row[1]),
                tuple(proof[i:i + 32] for i in range(0, len(proof), 32)))


def save_prefix(conn: sqlite3.Connection, publisher_id: int, length: int, target: SignedHead,
                proof: Sequence[bytes]) -> None:
    """Record that ``length`` entries are held, proven against ``target`` by ``proof``."""
    conn.execute("INSERT INTO prefixes (publisher, length, head, proof) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (publisher) DO UPDATE SET length = excluded.length, "
                 "head = excluded.head, proof = excluded.proof",
                 (publisher_id, length, target.to_bytes(), b"".join(proof)))


def clear_prefix(conn: sqlite3.Connection, publisher_id: int) -> None:
    conn.execute("DELETE FROM prefixes WHERE publisher = ?", (publisher_id,))


def remember_head(conn: sqlite3.Connection, publisher_id: int, head: SignedHead) -> None:
    """Add a verified or consistent head to the history (idempotent)."""
    conn.execute("INSERT OR IGNORE INTO head_history (publisher, length, head_id, ts, head) "
                 "VALUES (?, ?, ?, ?, ?)",
                 (publisher_id, head.length, head.head_id, head.timestamp, head.to_bytes()))


def save_verified(conn: sqlite3.Connection, publisher_id: int, head: SignedHead) -> None:
    """Make ``head`` the publisher's verified head (its entries are stored in this txn).

    A prefix row that ``head`` reaches is dropped: the held length is signed again.
    """
    conn.execute("DELETE FROM prefixes WHERE publisher = ? AND length <= ?",
                 (publisher_id, head.length))
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


@dataclass(frozen=True, slots=True)
class Knowledge:
    """What we know of the log a signed head commits to: its first ``tree.size`` leaves (as a
    subtree source) and, when that is less than the head's length, a consistency proof from
    ``tree.size`` to the head."""

    head: SignedHead
    tree: SubtreeSource
    size: int
    proof: tuple[bytes, ...] = ()


def _try_proof(a: Knowledge, b: Knowledge) -> EquivocationProof | None:
    short, long_ = (a, b) if a.head.length <= b.head.length else (b, a)
    s, n = short.head.length, long_.head.length
    if s == n:
        return find_equivocation(short.head, long_.head)
    if long_.size >= n:
        return find_equivocation(short.head, long_.head, root_of(long_.tree, s),
                                 consistency_proof(long_.tree, s, n))
    if long_.size == s:
        return find_equivocation(short.head, long_.head, root_of(long_.tree, s), long_.proof)
    return None


def prove_conflict(known: Sequence[Knowledge],
                   other: Sequence[Knowledge]) -> EquivocationProof | None:
    """A transferable proof that a head of ``other`` contradicts one of ``known``, if the
    trees and proofs at hand suffice (None otherwise).

    An equivocation proof needs the longer log's root at the shorter length and the
    consistency proof from there (heads.py); a log held only as a proven prefix gives them
    only when the shorter head's length is exactly the length held, where the received
    proof starts.
    """
    for mine in known:
        for theirs in other:
            proof = _try_proof(mine, theirs)
            if proof is not None:
                return proof
    return None


def ours_known(conn: sqlite3.Connection, publisher_id: int, held: Held) -> list[Knowledge]:
    """Knowledge of our own heads: the verified head and a prefix's target head."""
    tree = StoredTree(conn, publisher_id, held.length)
    out = []
    if held.head is not None:
        out.append(Knowledge(held.head, tree, held.length))
    if held.target is not None:
        out.append(Knowledge(held.target, tree, held.length, held.proof))
    return out


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
    ``"equivocation"`` (contradicts a head we hold; ``proof`` is kept and returned), or
    ``"unproven"`` (contradicts entries we hold only as a proven prefix, and no transferable
    proof can be built without more of one log; not kept).
    """

    status: str
    proof: EquivocationProof | None = None


OnProof = Callable[[sqlite3.Connection], None]


def record_head(db: Database, ds: Dataset, head: SignedHead, now_ms: int,
                on_proof: OnProof | None = None) -> HeadOutcome:
    """Take note of a head learnt without entries (gossip, a peer's head vector).

    A consistent head at most as long as what is held, and longer than the verified head,
    becomes the verified head: it signs entries we hold (proven earlier as a prefix).
    ``on_proof`` runs in the same transaction when a new equivocation proof is kept (the
    authorisation state changes: authority.state_changed).
    """
    pub = ds.authorised(head.publisher)
    head.verify(ds.dataset_id)
    if head.length == 0 and head.root != EMPTY_TREE_ROOT:
        raise ProofError("range.root", "a head of length 0 must have the empty tree's root")
    with db.atomic("recording a head") as conn:
        held = held_state(conn, pub.id)
        fork = None
        if head.length <= held.length:
            tree = StoredTree(conn, pub.id, held.length)
            if root_of(tree, head.length) == head.root:
                remember_head(conn, pub.id, head)
                if head.length > held.signed_length:
                    save_verified(conn, pub.id, head)
                return HeadOutcome("consistent")
            fork = prove_conflict(ours_known(conn, pub.id, held),
                                  [Knowledge(head, tree, 0)])
            if fork is None:
                return HeadOutcome("unproven")
        else:
            known = announced_head(conn, pub.id)
            if known is not None and known.length == head.length and known.root != head.root:
                fork = find_equivocation(known, head)
            elif known is not None and known.length > head.length:
                return HeadOutcome("stale")
            else:
                save_announced(conn, pub.id, head)
                return HeadOutcome("announced")
        if fork is not None and save_equivocation(conn, pub.id, fork, now_ms) \
                and on_proof is not None:
            on_proof(conn)
        return HeadOutcome("equivocation", fork)
