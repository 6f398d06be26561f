"""The one path by which entries enter the store (design §4, §9; issue 3).

Sync, bundles, imports and the publisher's own publishing all end in :func:`commit`, which,
inside ONE write transaction:

1. checks the batch starts at most at the held length (a batch wholly held is a no-op if its
   head is consistent with ours; a partial overlap is trimmed once the overlap equals what we
   hold);
2. verifies the headers, appended to the frontier rebuilt from stored subtrees, hash to the
   signed head's root (``log.verify_range``), or, for a chunk ending before its head, to a
   root at the chunk's end that the given consistency proof extends to the signed root
   (``log.verify_prefix``, spec §11);
3. stores entries, newly completed subtree nodes and the head (or, for a prefix chunk, the
   held length with the head and proof it was proven against: headstore.Held), and updates
   the record view and the search index.

Anything wrong raises a typed error and the transaction rolls back: either the whole batch is
stored or nothing changes. A head that contradicts what we hold is not an error of the batch's
bytes but of its publisher: the equivocation proof is kept (committed) and
:class:`~samizdat_protocol.errors.EquivocationError` raised.

:func:`apply_batch` parses bytes from outside (headers, payloads) for :func:`commit`;
the publishing pipeline (publish.py) hands over columns it built itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from samizdat_protocol.errors import (
    DecodeError,
    EquivocationError,
    LocalError,
    ProofError,
    SamizdatError,
)
from samizdat_protocol.hashing import EMPTY_TREE_ROOT, hash_leaves, hash_payload
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.log import VerifiedRange, verify_prefix
from samizdat_protocol.merkle import Frontier, root_of
from samizdat_protocol.schema import validate

from .bulk import paused_gc
from .codec import decode_body, decode_header
from .dataset import Dataset
from .db import Database
from .errors import at_entry
from .headstore import (
    Held,
    Knowledge,
    OnProof,
    announced_head,
    clear_announced,
    held_state,
    ours_known,
    prove_conflict,
    prove_fork,
    remember_head,
    save_equivocation,
    save_prefix,
    save_verified,
)
from .migrations import KIND_ERASE, KIND_PUT, KIND_RETRACT
from .parsepool import ParsedColumns
from .strict import fast_strict
from .tree import OverlayTree, StoredTree, stored_nodes
from .view import Columns, update_view

__all__ = ["ApplyResult", "OwnRange", "Payloads", "Prepared", "apply_batch", "apply_prepared",
           "commit", "parse_columns", "prepare", "prepared_from"]

Payloads = Mapping[bytes, bytes] | Sequence[bytes | None]
Parser = Callable[[int, list[bytes]], Columns]
_KINDS = {"put": KIND_PUT, "retract": KIND_RETRACT, "erase": KIND_ERASE}


@dataclass(frozen=True, slots=True)
class ApplyResult:
    publisher: bytes
    start: int  # log index of the first entry newly stored
    stored: int  # entries newly stored (0 for a batch already held)
    length: int  # entries held for the publisher afterwards
    records: int  # records whose view was recomputed


@dataclass(slots=True)
class Prepared:
    """A batch from outside, parsed and checked before its write transaction (:func:`prepare`).

    Parsing (header and payload decoding, the strict schema check) needs nothing from the
    store, so it is done before the write lock is taken (the lock is then held only for
    verifying and storing). ``columns`` is None when parsing failed; the batch is then parsed
    again inside the transaction, where only the entries not yet held count, so an error is
    raised exactly as if it had never been prepared.
    """

    publisher: bytes
    start: int
    headers: list[bytes]
    aligned: list[bytes | None] | None
    by_hash: Mapping[bytes, bytes] | None
    defer_index: bool  # queue search rows for the trailing indexer (no bodies kept)
    columns: Columns | None = None


def prepare(ds: Dataset, publisher: bytes, start: int, headers: Sequence[bytes],
            payloads: Payloads, *, defer_index: bool = False) -> Prepared:
    """Parse a batch from outside (no store access; safe in any thread)."""
    headers = list(headers)
    aligned = None if isinstance(payloads, Mapping) else list(payloads)
    if aligned is not None and len(aligned) != len(headers):
        raise DecodeError("range.payloads", f"{len(aligned)} payloads for {len(headers)} "
                          "headers")
    by_hash = payloads if isinstance(payloads, Mapping) else None
    out = Prepared(publisher, start, headers, aligned, by_hash, defer_index)
    with paused_gc():
        try:
            out.columns = _parse(ds, publisher, start, headers, aligned, by_hash,
                                 want_bodies=not defer_index)
        except SamizdatError:
            out.columns = None  # decided inside the transaction (see Prepared)
    return out


def apply_prepared(db: Database, ds: Dataset, batch: Prepared, head: SignedHead,
                   clock: Callable[[], int] | None = None, *, proof: Sequence[bytes] = (),
                   on_proof: OnProof | None = None) -> ApplyResult:
    """Verify and store a prepared batch, or change nothing (:func:`commit`)."""

    def parse(offset: int, leaves: list[bytes]) -> Columns:
        del leaves  # outside bytes are parsed from the headers themselves
        if batch.columns is not None:
            return batch.columns.tail(offset)
        return _parse(ds, batch.publisher, batch.start + offset, batch.headers[offset:],
                      batch.aligned[offset:] if batch.aligned is not None else None,
                      batch.by_hash, want_bodies=not batch.defer_index)

    return commit(db, ds, batch.publisher, batch.start, batch.headers, head, parse, clock,
                  proof=proof, defer_index=batch.defer_index, on_proof=on_proof)


def apply_batch(db: Database, ds: Dataset, publisher: bytes, start: int, headers: Sequence[bytes],
                payloads: Payloads, head: SignedHead,
                clock: Callable[[], int] | None = None, *,
                proof: Sequence[bytes] = (), defer_index: bool = False,
                on_proof: OnProof | None = None) -> ApplyResult:
    """Verify a batch received from outside and store it, or change nothing.

    A batch ending before ``head``'s length needs ``proof``, the consistency proof from its
    end to the head (a sync chunk, spec §11); its entries are stored and verified, and the
    publisher's verified head stays the newest signed head fully held (headstore.Held).

    ``payloads`` is either a map from payload hash to bytes, or a list aligned with
    ``headers`` (None where a payload is not sent). A put whose payload is absent is stored
    without it (erased or not held by the sender); a payload that is present must match its
    header's hash and the charter's schema exactly (strict: peers send what was published).
    """
    batch = prepare(ds, publisher, start, headers, payloads, defer_index=defer_index)
    return apply_prepared(db, ds, batch, head, clock, proof=proof, on_proof=on_proof)


def prepared_from(ds: Dataset, publisher: bytes, start: int, headers: Sequence[bytes],
                  payloads: Sequence[bytes | None], parsed: ParsedColumns | None, *,
                  defer_index: bool) -> Prepared:
    """A batch parsed elsewhere (parsepool.py: another process) as :func:`prepare` would have
    parsed it; ``parsed`` None leaves the parsing to the transaction (see :class:`Prepared`)."""
    headers, aligned = list(headers), list(payloads)
    if len(aligned) != len(headers):
        raise DecodeError("range.payloads", f"{len(aligned)} payloads for {len(headers)} "
                          "headers")
    pid = ds.authorised(publisher).id
    out = Prepared(publisher, start, headers, aligned, None, defer_index)
    if parsed is not None:
        kinds, record_ids, keys, timestamps, bodies = parsed
        if bodies is None:
            bodies = [None] * len(headers)
        if not len(kinds) == len(record_ids) == len(keys) == len(timestamps) == len(bodies) \
                == len(headers):
            return out  # not what the parser returns: parse here instead
        out.columns = Columns(pid, start, headers, kinds, record_ids, keys, timestamps,
                              aligned, bodies)
    return out


def _parse(ds: Dataset, publisher: bytes, start: int, headers: list[bytes],
           aligned: list[bytes | None] | None, by_hash: Mapping[bytes, bytes] | None, *,
           want_bodies: bool = True) -> Columns:
    return parse_columns(ds.schema_id, ds.authorised(publisher).id, publisher, start, headers,
                         aligned, by_hash, want_bodies=want_bodies)


def parse_columns(schema_id: str, pid: int, publisher: bytes, start: int, headers: list[bytes],
                  aligned: list[bytes | None] | None, by_hash: Mapping[bytes, bytes] | None,
                  *, want_bodies: bool = True) -> Columns:
    """Decode and check every header and payload. ``want_bodies``: keep decoded bodies (for
    inline search indexing); otherwise ``bodies`` holds None and only the checks are done.
    Needs nothing but its arguments (parsepool.py runs it in another process)."""
    cols = Columns(pid, start, headers, [], [], [], [], [], [])
    for pos, header in enumerate(headers):
        index = start + pos
        try:
            kind, record_id, key, ts = decode_header(header)
            payload = None
            body = None
            if kind == "put":
                payload = aligned[pos] if aligned is not None else by_hash.get(key) \
                    if by_hash is not None and key is not None else None
                if payload is not None:
                    body = _check_payload(schema_id, payload, key, want_bodies)
            elif aligned is not None and aligned[pos] is not None:
                raise DecodeError("range.payloads", f"a {kind} entry carries no payload")
        except SamizdatError as exc:
            raise at_entry(exc, publisher, index) from exc
        cols.kinds.append(_KINDS[kind])
        cols.record_ids.append(record_id)
        cols.keys.append(key)
        cols.timestamps.append(ts)
        cols.payloads.append(payload)
        cols.bodies.append(body)
    return cols


def _check_payload(schema_id: str, payload: bytes, expected: bytes | None,
                   want_body: bool = True) -> dict[str, Any] | None:
    if type(payload) is not bytes:
        raise DecodeError("payload.type", "a payload must be bytes")
    if hash_payload(payload) != expected:
        raise DecodeError("payload.hash_mismatch", "payload bytes do not match their hash")
    fast = fast_strict(schema_id, payload, want_body)
    if fast is not False:  # certain: canonical and strictly valid (strict.py)
        return fast if isinstance(fast, dict) else None
    body = decode_body(payload)
    if not isinstance(body, dict):
        raise DecodeError("payload.not_a_map", "payload is not a map")
    validate(schema_id, body, strict=True)
    return body


def _clock() -> int:
    return int(time.time() * 1000)


def commit(db: Database, ds: Dataset, publisher: bytes, start: int, headers: list[bytes],
           head: SignedHead, parse: Parser, clock: Callable[[], int] | None = None, *,
           proof: Sequence[bytes] = (), append_only: bool = False, own: OwnRange | None = None,
           defer: list[Future[None]] | None = None, defer_index: bool = False,
           on_proof: OnProof | None = None) -> ApplyResult:
    """Place, verify and store a batch in one transaction (module docstring).

    ``proof``: for a batch ending before ``head``'s length (a prefix chunk, spec §11), the
    consistency proof from the batch's end to the head (``log.verify_prefix``).
    ``append_only`` (the publisher's own appends) refuses a batch that does not start exactly
    at the held length instead of trimming it: another writer got there first.
    ``own``: the tree extension the publisher computed while signing ``head`` (see
    :func:`_verify_own`); it saves hashing every node twice.
    ``defer``: let the COMMIT finish on a helper thread (see ``Database.atomic``); the caller
    must wait on the future appended to it before trusting the result.
    ``defer_index``: queue the search rows for the trailing indexer (indexer.py).
    ``on_proof``: runs in the transaction when a new equivocation proof is kept.
    """
    pid = ds.authorised(publisher).id
    if head.publisher != publisher:
        raise ProofError("range.publisher", "the head is signed by another publisher than the "
                         "batch's", publisher=publisher)
    head.verify(ds.dataset_id)
    if head.length == 0 and head.root != EMPTY_TREE_ROOT:
        raise ProofError("range.root", "a head of length 0 must have the empty tree's root")
    end = start + len(headers)
    proof = list(proof)
    fork: EquivocationProof | None = None
    with paused_gc(), db.atomic("storing a batch", defer=defer) as conn:
        held = held_state(conn, pid)
        tree = StoredTree(conn, pid, held.length)
        if append_only and start != held.length:
            raise LocalError("publish.concurrent", f"the log grew to {held.length} while a "
                             f"batch for {start} was prepared; another writer is publishing "
                             "with this key", start=start, held=held.length)
        if start > held.length:
            raise ProofError("range.start", f"batch starts at {start} but {held.length} entries"
                             " are held", start=start, held=held.length)
        if end > head.length or (end < head.length and not proof):
            raise ProofError("range.length", f"{start} + {len(headers)} entries != head length "
                             f"{head.length}", start=start, count=len(headers))
        if end == head.length and proof:
            raise ProofError("range.proof", "a range that reaches its head needs no proof")
        if head.length <= held.length:
            fork = _check_old_head(conn, pid, tree, held, head, start, headers)
            result = ApplyResult(publisher, held.length, 0, held.length, 0)
        else:
            if own is not None:
                verified = _verify_own(tree, start, headers, head, own)
            else:
                verified = verify_prefix(tree.frontier(start), headers, head, proof,
                                         ds.dataset_id)
            overlap = min(held.length, end) - start
            if overlap and verified.leaf_hashes[:overlap] != tree.leaves(start, start + overlap):
                other = OverlayTree(tree, start, verified.leaf_hashes)
                fork = prove_conflict(ours_known(conn, pid, held),
                                      [Knowledge(head, other, end, tuple(proof))])
                if fork is None:
                    raise EquivocationError(
                        "equivocation.unproven", f"publisher {publisher.hex()[:16]} signed a "
                        "head whose log contradicts entries held; proving it needs more of "
                        "one log", publisher=publisher, start=start)
                result = ApplyResult(publisher, held.length, 0, held.length, 0)
            elif end <= held.length:  # a prefix chunk wholly held: nothing new
                result = ApplyResult(publisher, held.length, 0, held.length, 0)
            else:
                _check_pin(ds, publisher, held.length, end,
                           OverlayTree(tree, start, verified.leaf_hashes))
                cols = parse(overlap, verified.leaf_hashes[overlap:])
                nodes = [(pid, level, index, h) for level, index, h
                         in stored_nodes(verified.nodes) if (index + 1) << level > held.length]
                touched = _store(conn, ds, cols, verified.leaf_hashes[overlap:], nodes,
                                 defer_index)
                if ds.auth.pins.get(publisher) is not None:
                    _settle_refetch(conn, pid, ds.auth.pins[publisher].length, end)
                if end == head.length:
                    save_verified(conn, pid, head)
                    fork = _check_announced(conn, pid, StoredTree(conn, pid, end), head)
                else:
                    save_prefix(conn, pid, end, head, proof)
                result = ApplyResult(publisher, held.length, len(cols.headers), end, touched)
        if fork is not None and save_equivocation(conn, pid, fork, (clock or _clock)()) \
                and on_proof is not None:
            on_proof(conn)
    if fork is not None and result.stored == 0:
        raise EquivocationError("equivocation.detected",
                                f"publisher {publisher.hex()[:16]} signed two inconsistent heads"
                                f" (lengths {fork.shorter.length} and {fork.longer.length})",
                                publisher=publisher)
    return result


def _check_pin(ds: Dataset, publisher: bytes, held: int, end: int,
               tree: OverlayTree) -> None:
    """Refuse a batch that reaches a pinned length (a revocation or rotation, spec §13) with
    a prefix of another root: it is the forged branch the founders did not keep."""
    pin = ds.auth.pins.get(publisher)
    if pin is not None and held < pin.length <= end and root_of(tree, pin.length) != pin.root:
        raise ProofError("governance.pin", f"the log of {publisher.hex()[:16]} does not hash "
                         f"to the root the founders pinned at {pin.length}: a forged branch",
                         publisher=publisher, length=pin.length)


def _settle_refetch(conn: Any, pid: int, pinned: int, end: int) -> None:
    """A dropped forged branch is fetched again once the log passes its pin (checked)."""
    if end >= pinned:
        conn.execute("DELETE FROM refetch WHERE publisher = ?", (pid,))


@dataclass(frozen=True, slots=True)
class OwnRange:
    """A publisher's own batch: the frontier it started from and the range it computed."""

    before: Frontier
    range: VerifiedRange


def _verify_own(tree: StoredTree, start: int, headers: list[bytes], head: SignedHead,
                own: OwnRange) -> VerifiedRange:
    """verify_range for a batch this process built and signed a moment ago.

    The same checks with the node hashing done once: the batch must start from the frontier
    held in the store, its headers must hash to the leaves the tree was extended with, and that
    tree's root must be the signed root. (The head's signature was checked by the caller.)
    """
    if own.before.size != start or own.before != tree.frontier(start):
        raise ProofError("range.root", "the batch was prepared against another frontier")
    if hash_leaves(headers) != own.range.leaf_hashes:
        raise ProofError("range.root", "received entries do not hash to the signed root")
    if own.range.frontier.size != head.length or own.range.frontier.root() != head.root:
        raise ProofError("range.root", "received entries do not hash to the signed root")
    return own.range


def _check_old_head(conn: Any, pid: int, tree: StoredTree, held: Held, head: SignedHead,
                    start: int, headers: list[bytes]) -> EquivocationProof | None:
    """A head no longer than what we hold: consistent (remember it; it becomes the verified
    head if it is longer than ours) or a fork (prove it)."""
    if root_of(tree, head.length) != head.root:
        fork = prove_conflict(ours_known(conn, pid, held), [Knowledge(head, tree, 0)])
        if fork is None:
            raise EquivocationError(
                "equivocation.unproven", "a head contradicts entries held as a proven prefix; "
                "proving it needs more of one log", publisher=head.publisher)
        return fork
    end = start + len(headers)
    if hash_leaves(headers) != tree.leaves(start, end):
        raise ProofError("range.root", "received entries do not hash to the signed root")
    remember_head(conn, pid, head)
    if head.length > held.signed_length:
        save_verified(conn, pid, head)
    return None


def _check_announced(conn: Any, pid: int, tree: StoredTree,
                     ours: SignedHead) -> EquivocationProof | None:
    """Once we hold an announced head's length, it is either consistent or a fork."""
    announced = announced_head(conn, pid)
    if announced is None or announced.length > tree.size:
        return None
    clear_announced(conn, pid)
    if root_of(tree, announced.length) == announced.root:
        remember_head(conn, pid, announced)
        return None
    return prove_fork(ours, announced, tree)


def _store(conn: Any, ds: Dataset, cols: Columns, leaves: list[bytes],
           nodes: list[tuple[int, int, int, bytes]], defer_index: bool) -> int:
    pid, start = cols.publisher_id, cols.start
    conn.executemany(
        "INSERT INTO entries (publisher, idx, header, leaf, kind, record_id, payload_hash, ts, "
        "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        zip([pid] * len(leaves), range(start, start + len(leaves)), cols.headers, leaves,
            cols.kinds, cols.record_ids, cols.keys, cols.timestamps, cols.payloads,
            strict=True))
    conn.executemany("INSERT INTO nodes (publisher, level, idx, hash) VALUES (?, ?, ?, ?)", nodes)
    return update_view(conn, ds, cols, defer_index=defer_index)
