"""Check what a peer sent, with nothing but the charter (design §4.5; spec §14.3).

Sans-IO and pure: a light client (and the gateway, on its own store) hands an answer and the
signed charter in and gets verified values out, or a :class:`LightVerifyError` naming what did
not verify and where.

First the authorisation state (spec §13) is computed from the charter and the governance entries
and equivocation proofs the answer carries, with the very function a replica's store calls
(:func:`samizdat_protocol.authstate.authorisation_state`): a forged or under-signed entry, or a
proof that does not prove, is rejected by that function and changes nothing, exactly as for a
replica, which refuses to store what the state would reject anyway. The checks, in order, for
every entry:

1. its publisher's head is in the answer, is for this dataset, is signed by that publisher, and
   the state knows that publisher (the charter's, added ones, rotated-to keys; revoked and
   suspended keys too, whose entries merge then sets aside) (``light.missing_head``,
   ``light.bad_head``, ``light.unauthorised_head``);
2. the inclusion proof leads from ``H_leaf(header)`` at ``index`` to the head's root, or,
   below the length a revocation or rotation pinned, to the pinned root
   (``light.bad_inclusion``), so the header is exactly what the publisher signed (before its
   key was frozen);
3. the header decodes and names the record asked about (``light.bad_header``,
   ``light.wrong_record``);
4. a payload, when sent, belongs to a put, hashes to the header's payload hash and follows the
   charter's schema in normalised form (``light.payload_mismatch``, ``light.bad_payload``).

Then the record view is recomputed with :func:`samizdat_protocol.merge.merge_record` under the
state's merge policy (priorities, freeze points, suspensions, identities, erasures), exactly as a
replica does (spec §10, §13).

What this cannot prove: that the peer sent *every* entry of the record (a withheld correction or
retraction is invisible to a client with no replica), every governance decision (a withheld
revocation leaves the client with an older state, in which a seized key's later entries still
count), nor that a search found everything. Heads carry timestamps, so the caller can show how
fresh an answer is; asking a second peer narrows the gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from samizdat_node.search.model import MatchClass
from samizdat_protocol.authstate import AuthState, authorisation_state
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.entries import Entry, LogEntry, decode_payload
from samizdat_protocol.errors import RemoteError, SamizdatError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.hashing import hash_leaf, hash_payload
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merge import MergePolicy, RecordView, merge_record
from samizdat_protocol.merkle import verify_inclusion
from samizdat_protocol.schema import validate

from .messages import ProvedEntry, RecordAnswer, SearchAnswer

__all__ = [
    "HeadChecker",
    "LightVerifyError",
    "VerifiedHit",
    "VerifiedRecord",
    "answer_state",
    "charter_policy",
    "check_entry",
    "verify_record_answer",
    "verify_search_answer",
]


class LightVerifyError(RemoteError):
    """Something a peer sent does not verify (codes ``light.*``; details name the entry)."""


def _where(item: ProvedEntry) -> dict[str, Any]:
    return {"publisher": item.publisher, "index": item.index}


def answer_state(charter: SignedCharter, governance: Iterable[GovernanceEntry] = (),
                 proofs: Iterable[EquivocationProof] = ()) -> AuthState:
    """The authorisation state of the charter and an answer's governance items (spec §13):
    the function a replica's store calls (store/dataset.py), so both agree on equal inputs."""
    return authorisation_state(charter.charter, governance, proofs)


def charter_policy(charter: SignedCharter) -> MergePolicy:
    """The merge policy a charter alone implies (display priority = publisher list order):
    what a replica holding no governance item uses."""
    return answer_state(charter).merge_policy()


class HeadChecker:
    """Checks heads against an authorisation state (by default the charter's alone),
    remembering those that passed (by their bytes)."""

    def __init__(self, charter: SignedCharter, state: AuthState | None = None) -> None:
        self.charter = charter
        self.dataset_id = charter.dataset_id
        self.state = answer_state(charter) if state is None else state
        self.names = dict(self.state.names)
        self._good: set[bytes] = set()

    def check(self, head: SignedHead) -> None:
        key = head.to_bytes()
        if key in self._good:
            return
        who = head.publisher.hex()[:16]
        if head.publisher not in self.state.publishers:
            raise LightVerifyError("light.unauthorised_head", f"a head is signed by key {who}, "
                                   "which neither the charter nor a governance decision "
                                   "authorises", publisher=head.publisher)
        try:
            head.verify(self.dataset_id)
        except SamizdatError as exc:
            raise LightVerifyError("light.bad_head", f"the head of publisher {who} does not "
                                   f"verify: {exc.message}", publisher=head.publisher,
                                   cause=exc.code) from exc
        if len(self._good) > 4096:
            self._good.clear()
        self._good.add(key)


def check_entry(item: ProvedEntry, heads: Mapping[bytes, SignedHead], checker: HeadChecker,
                record_id: str | None) -> LogEntry:
    """Checks 1-4 of the module docstring for one entry; the verified entry with its body."""
    head = heads.get(item.publisher)
    if head is None:
        raise LightVerifyError("light.missing_head", f"entry {item.index} of publisher "
                               f"{item.publisher.hex()[:16]} comes without its head",
                               **_where(item))
    checker.check(head)
    # Below a revocation's or rotation's pin the founders fixed the log's root (spec §13
    # rule 4): the entry must be in that prefix, whatever head the key signs later.
    pin = checker.state.pins.get(item.publisher)
    size, root = (pin.length, pin.root) if pin is not None and item.index < pin.length \
        else (head.length, head.root)
    try:
        verify_inclusion(hash_leaf(item.header), item.index, size, list(item.proof), root)
    except SamizdatError as exc:
        raise LightVerifyError("light.bad_inclusion", f"entry {item.index} of publisher "
                               f"{item.publisher.hex()[:16]} is not in its signed log"
                               f"{' as the founders pinned it' if size != head.length else ''}"
                               f": {exc.message}", **_where(item), cause=exc.code) from exc
    try:
        entry = Entry.from_bytes(item.header)
    except SamizdatError as exc:  # signed by the publisher, yet malformed: still refuse it
        raise LightVerifyError("light.bad_header", f"entry {item.index}: {exc.message}",
                               **_where(item), cause=exc.code) from exc
    if record_id is not None and entry.record_id != record_id:
        raise LightVerifyError("light.wrong_record", f"entry {item.index} is about "
                               f"{entry.record_id!r}, not {record_id!r}", **_where(item))
    body = None
    if item.payload is not None:
        if entry.kind != "put" or hash_payload(item.payload) != entry.payload_hash:
            raise LightVerifyError("light.payload_mismatch", f"the payload sent with entry "
                                   f"{item.index} does not hash to the signed payload hash",
                                   **_where(item))
        try:
            body = validate(checker.charter.charter.schema, decode_payload(item.payload),
                            strict=True)
        except SamizdatError as exc:
            raise LightVerifyError("light.bad_payload", f"entry {item.index}: {exc.message}",
                                   **_where(item), cause=exc.code) from exc
    return LogEntry(item.publisher, item.index, entry, body)


@dataclass(frozen=True)
class VerifiedRecord:
    """A record whose every entry verified; ``view`` is recomputed from them (spec §10).

    ``bodies``: the verified body of every put sent with its payload, by (publisher, index),
    superseded versions included (``view.history`` carries headers only), erased ones not.
    ``withheld``: puts sent without their payload although no erase in effect explains it.
    ``state``: the authorisation state the view was merged under (its ``rejected`` lists the
    governance items of the answer that changed nothing).
    """

    record_id: str
    view: RecordView
    heads: Mapping[bytes, SignedHead]
    publishers: Mapping[bytes, str]
    entries: int
    bodies: Mapping[tuple[bytes, int], dict[str, Any]] = field(default_factory=dict)
    withheld: tuple[tuple[bytes, int], ...] = ()
    peer: str = ""
    state: AuthState | None = None


@dataclass(frozen=True)
class VerifiedHit:
    """One search hit whose entries verified. ``retracted``: the answer carried a verified
    retraction by the same publisher after this put (its ``retraction_reason`` is given)."""

    rank: int
    record_id: str
    publisher: bytes
    publisher_name: str
    index: int
    body: dict[str, Any] | None
    head: SignedHead
    retracted: bool = False
    retraction_reason: str | None = None
    matched: Mapping[str, MatchClass] = field(default_factory=dict)


def _head_map(heads: Iterable[SignedHead]) -> dict[bytes, SignedHead]:
    return {h.publisher: h for h in heads}


def verify_record_answer(charter: SignedCharter, record_id: str,
                         answer: RecordAnswer) -> VerifiedRecord:
    """Verify every entry of a record answer and recompute its view."""
    if answer.record_id != record_id:
        raise LightVerifyError("light.wrong_record", f"asked for {record_id!r}, the peer "
                               f"answered about {answer.record_id!r}")
    state = answer_state(charter, answer.governance, answer.proofs)
    checker = HeadChecker(charter, state)
    heads = _head_map(answer.heads)
    items: list[LogEntry] = []
    seen: set[tuple[bytes, int]] = set()
    for proved in answer.entries:
        if (proved.publisher, proved.index) in seen:
            raise LightVerifyError("light.duplicate", f"entry {proved.index} is sent twice",
                                   **_where(proved))
        seen.add((proved.publisher, proved.index))
        items.append(check_entry(proved, heads, checker, record_id))
    view = merge_record(record_id, items, state.merge_policy())
    if view is None:
        raise LightVerifyError("light.empty", f"the peer sent no entry of {record_id!r}")
    erased = {(h.publisher, h.index) for h in view.history if h.erased}
    withheld = tuple((i.publisher, i.index) for i in items
                     if i.entry.kind == "put" and i.body is None
                     and (i.publisher, i.index) not in erased)
    bodies = {(i.publisher, i.index): i.body for i in items
              if i.body is not None and (i.publisher, i.index) not in erased}
    return VerifiedRecord(record_id, view, heads, checker.names, len(items), bodies, withheld,
                          state=state)


def verify_search_answer(charter: SignedCharter, answer: SearchAnswer) -> list[VerifiedHit]:
    """Verify every hit: its first entry is a put with its payload that counts under the
    answer's authorisation state and is not erased by it; any others are later retractions of
    that record by the same publisher (one that does not count is set aside, as merge does)."""
    state = answer_state(charter, answer.governance, answer.proofs)
    checker = HeadChecker(charter, state)
    heads = _head_map(answer.heads)
    out = []
    for rank, hit in enumerate(answer.hits):
        first, *rest = [check_entry(p, heads, checker, hit.record_id) for p in hit.entries]
        if first.entry.kind != "put" or first.body is None:
            raise LightVerifyError("light.bad_hit", f"hit {rank} ({hit.record_id!r}) does not "
                                   "start with a put and its payload", publisher=first.publisher,
                                   index=first.index)
        if not state.may_publish(first.publisher, first.index) \
                or (hit.record_id, first.entry.payload_hash) in state.erasures:
            raise LightVerifyError("light.bad_hit", f"hit {rank} ({hit.record_id!r}) shows a "
                                   "put that governance sets aside (a revoked or suspended key, "
                                   "or an approved erasure)", publisher=first.publisher,
                                   index=first.index)
        reason = None
        for later in rest:
            if (later.entry.kind != "retract" or later.publisher != first.publisher
                    or later.index <= first.index):
                raise LightVerifyError("light.bad_hit", f"hit {rank} carries an entry that "
                                       "is not a later retraction of its put",
                                       publisher=later.publisher, index=later.index)
            if state.may_publish(later.publisher, later.index):
                reason = later.entry.reason
        matched = {k: MatchClass(v) for k, v in hit.matched.items()}
        out.append(VerifiedHit(rank, hit.record_id, first.publisher,
                               checker.names[first.publisher], first.index, first.body,
                               heads[first.publisher], reason is not None, reason, matched))
    return out
