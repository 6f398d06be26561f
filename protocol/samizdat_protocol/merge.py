"""The merge view (design §3): a pure, deterministic function of a grow-only set of entries.

A replica is a set of verified :class:`~samizdat_protocol.entries.LogEntry` values. The record
view computed here depends only on that *set*: arrival order and duplicates never change it, so
two nodes holding the same entries show the same view (a state-based CRDT whose merge is set
union). The store keeps the view materialised per record and recomputes one record with
:func:`merge_record` when entries for it arrive; :func:`merge_all` computes every record at once.

A *publisher* below is an identity: the keys of one rotation chain (``policy.identities``, set
by governance, spec §13) count as ONE publisher whose log is the concatenation of its keys' logs
in rotation order. Without identities every key is its own publisher, with generation 0.

Rules, applied to the entries of one record (``entry.record_id``), under a :class:`MergePolicy`:

1. **Duplicates.** Entries are identified by ``(publisher key, index)``. Copies with equal
   headers collapse into one; a copy that carries the body wins over one that does not. Two
   copies with different headers (or two different bodies) for one position mean verification
   failed upstream: :class:`~samizdat_protocol.errors.LocalError` ``merge.conflicting_duplicate``.
2. **Ignored entries.** An entry of key ``k`` at ``index >= revoked_after[k]`` is
   ``ignored_revoked`` (a seized key's later entries, design §3). Otherwise an entry of a key in
   ``suspended`` is ``ignored_suspended`` (equivocation, design §2). Ignored entries have no
   effect at all (no version, no retraction, no erase, no erase authority) but stay in history.
3. **State per publisher.** A publisher's *current state* for the record is its ``put`` or
   ``retract`` entry latest in its log among its non-ignored entries: the highest
   ``(generation, index)``, where ``identities[k] = (identity, generation)`` (a rotated key's
   successor has the next generation, so its entries follow every entry of the older key). Log
   order, never the timestamp and never ``prev``, decides. Erase entries do not change the state.
4. **Multi-value register across publishers.** Every publisher whose current state is a put has
   one live :class:`Version` (naming the key that signed it); nobody's entry overwrites another
   publisher's. Live versions are ordered by the *display key* ``(rank, -timestamp,
   identity)``: ``rank`` is ``(0, n)`` when the identity key has priority ``n`` (lower wins;
   the charter's publisher list order, later governance) and ``(1, 0)`` without one, so unknown
   keys follow every known key; then the later put timestamp ``ts`` first; then the
   lexicographically smaller identity key bytes. The first is ``displayed``; the rest are
   ``alternatives`` in that order.
5. **Retraction.** A publisher whose current state is a retract contributes a
   :class:`Retraction` (ordered by the same display key, using the retract's timestamp) and no
   version; it hides only its own version. ``retracted`` is true exactly when no publisher has a
   live version and at least one has a retraction in force.
6. **Erase.** Which non-ignored erase entries *take effect* is decided, first that applies, by
   ``policy.erase_authorised(entry)``; else, when ``policy.approved_erasures`` is set (the
   governance rule, spec §13), by ``(record, target)`` being an approved pair; else (the
   default rule) by its publisher having a non-ignored put of this record (at any index) whose
   payload hash equals the ``target``. The *erased payloads* of a record are the targets of its
   erases in effect plus, under the governance rule, every payload approved for this record,
   with or without an erase entry in any log. Every put of the record whose payload hash is
   erased is erased, whichever publisher made it and whichever order the entries arrived in:
   its :class:`Version` has ``erased=True`` and ``body=None``; the header stays, and so does its
   place in the display order. Erase is scoped to the record it names; the store decides when
   payload bytes shared with other records go.
7. **History.** Every entry of the record, ignored ones included, ordered by
   ``(rank, identity, generation, index)``, each with a status: ``current`` (a put that is its
   publisher's current state), ``retracted`` (a retract that is its publisher's current state),
   ``superseded`` (a put or retract followed by a later put or retract of that publisher),
   ``erase`` (an erase in effect), ``erase_unauthorised`` (an erase not in effect),
   ``ignored_revoked`` or ``ignored_suspended``. ``erased`` marks puts whose payload was erased
   (ignored puts included, so the store knows which payload bytes to drop).

:func:`merge_record` returns ``None`` only when no entry names the record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .encoding import encode
from .entries import Entry, LogEntry
from .errors import LocalError

__all__ = [
    "STATUS_CURRENT",
    "STATUS_ERASE",
    "STATUS_ERASE_UNAUTHORISED",
    "STATUS_IGNORED_REVOKED",
    "STATUS_IGNORED_SUSPENDED",
    "STATUS_RETRACTED",
    "STATUS_SUPERSEDED",
    "HistoryItem",
    "MergePolicy",
    "RecordView",
    "Retraction",
    "Version",
    "merge_all",
    "merge_record",
]

STATUS_CURRENT = "current"
STATUS_SUPERSEDED = "superseded"
STATUS_RETRACTED = "retracted"
STATUS_ERASE = "erase"
STATUS_ERASE_UNAUTHORISED = "erase_unauthorised"
STATUS_IGNORED_REVOKED = "ignored_revoked"
STATUS_IGNORED_SUSPENDED = "ignored_suspended"


def _check_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalError("merge.policy", f"{what} must be an int, not {value!r}")


@dataclass(frozen=True)
class MergePolicy:
    """Who is shown first and whose entries count (rules 2-4 and 6 of the module docstring).

    ``identities`` maps a key to ``(identity key, generation)``: the first key of a rotation
    chain is the identity (generation 0), each successor the next generation. Keys absent from
    it are their own identity. ``approved_erasures`` (``(record id, payload hash)`` pairs) turns
    on the governance erase rule. The mappings are copied into read-only views, so a policy
    cannot change under a view.
    """

    priorities: Mapping[bytes, int]
    revoked_after: Mapping[bytes, int] = field(default_factory=dict)
    suspended: frozenset[bytes] = frozenset()
    erase_authorised: Callable[[LogEntry], bool] | None = None
    identities: Mapping[bytes, tuple[bytes, int]] = field(default_factory=dict)
    approved_erasures: frozenset[tuple[str, bytes]] | None = None
    # Derived from approved_erasures in __post_init__; not compared, not passed in.
    _approved_by_record: Mapping[str, frozenset[bytes]] = field(
        init=False, compare=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        for value in self.priorities.values():
            _check_int(value, "a priority")
        for value in self.revoked_after.values():
            _check_int(value, "a revocation point")
            if value < 0:
                raise LocalError("merge.policy", f"revocation point {value} is negative")
        _check_identities(self.identities)
        object.__setattr__(self, "priorities", MappingProxyType(dict(self.priorities)))
        object.__setattr__(self, "revoked_after", MappingProxyType(dict(self.revoked_after)))
        object.__setattr__(self, "suspended", frozenset(self.suspended))
        object.__setattr__(self, "identities", MappingProxyType(dict(self.identities)))
        by_record: dict[str, set[bytes]] = defaultdict(set)
        if self.approved_erasures is not None:
            object.__setattr__(self, "approved_erasures", frozenset(self.approved_erasures))
            for record_id, payload_hash in self.approved_erasures:
                by_record[record_id].add(payload_hash)
        object.__setattr__(self, "_approved_by_record", MappingProxyType(
            {rid: frozenset(hashes) for rid, hashes in by_record.items()}))

    def identity(self, key: bytes) -> bytes:
        """The identity (first key of its rotation chain) that ``key`` publishes for."""
        found = self.identities.get(key)
        return key if found is None else found[0]

    def position(self, key: bytes, index: int) -> tuple[int, int]:
        """Place of ``(key, index)`` in its identity's concatenated log (rule 3)."""
        found = self.identities.get(key)
        return (0 if found is None else found[1], index)

    def rank(self, publisher: bytes) -> tuple[int, int]:
        """Priority rank of a key's identity: by number; unknown ones after all of them."""
        priority = self.priorities.get(self.identity(publisher))
        return (1, 0) if priority is None else (0, priority)

    def ignored_status(self, publisher: bytes, index: int) -> str | None:
        """Why an entry is ignored (rule 2), or None when it counts."""
        limit = self.revoked_after.get(publisher)
        if limit is not None and index >= limit:
            return STATUS_IGNORED_REVOKED
        if publisher in self.suspended:
            return STATUS_IGNORED_SUSPENDED
        return None

    def approved_payloads(self, record_id: str) -> frozenset[bytes]:
        """Payload hashes of ``record_id`` whose erasure governance approved (rule 6)."""
        return self._approved_by_record.get(record_id, frozenset())


def _check_identities(identities: Mapping[bytes, tuple[bytes, int]]) -> None:
    seen: set[tuple[bytes, int]] = set()
    for key, value in identities.items():
        if (not isinstance(value, tuple) or len(value) != 2
                or not isinstance(value[0], bytes)):
            raise LocalError("merge.policy", f"identity of a key must be (key, generation), "
                             f"not {value!r}")
        identity, generation = value
        _check_int(generation, "a generation")
        if (generation == 0) != (key == identity) or generation < 0:
            raise LocalError("merge.policy", "generation 0 is the identity key itself, and "
                             "only it")
        if value in seen:
            raise LocalError("merge.policy", "two keys share one place in a rotation chain")
        seen.add(value)


@dataclass(frozen=True, slots=True)
class Version:
    """One publisher's live put of the record. ``body`` is None when erased or not held."""

    publisher: bytes
    index: int
    entry: Entry
    body: dict[str, Any] | None
    erased: bool


@dataclass(frozen=True, slots=True)
class Retraction:
    """A publisher's retraction in force: its latest word on the record is a retract."""

    publisher: bytes
    index: int
    reason: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One entry touching the record, with its status (rule 7)."""

    publisher: bytes
    index: int
    entry: Entry
    status: str
    erased: bool = False


@dataclass(frozen=True, slots=True)
class RecordView:
    """What a node shows for one record (rules 4-7)."""

    record_id: str
    displayed: Version | None
    alternatives: tuple[Version, ...]
    retractions: tuple[Retraction, ...]
    retracted: bool
    history: tuple[HistoryItem, ...]


def _conflict(old: LogEntry, new: LogEntry, what: str) -> LocalError:
    return LocalError("merge.conflicting_duplicate",
                      f"two different {what} claim publisher {old.publisher.hex()} "
                      f"index {old.index}", publisher=old.publisher, index=old.index)


def _dedupe(entries: Iterable[LogEntry]) -> dict[tuple[bytes, int], LogEntry]:
    """Collapse copies of one log position (rule 1), keeping a copy that carries its body."""
    seen: dict[tuple[bytes, int], LogEntry] = {}
    for item in entries:
        key = (item.publisher, item.index)
        old = seen.get(key)
        if old is None:
            seen[key] = item
            continue
        if old.entry != item.entry:
            raise _conflict(old, item, "entries")
        if old.body is None:
            if item.body is not None:
                seen[key] = item
        elif (item.body is not None and item.body is not old.body
              and encode(item.body) != encode(old.body)):
            # Compare canonical bytes, not dicts: 1 == True in Python but not on the wire.
            raise _conflict(old, item, "bodies")
    return seen


def _default_erase_rule(erase: LogEntry, puts: list[LogEntry], policy: MergePolicy) -> bool:
    me = policy.identity(erase.publisher)
    return any(policy.identity(p.publisher) == me and p.entry.payload_hash == erase.entry.target
               for p in puts)


def _classify(entries: list[LogEntry], policy: MergePolicy) -> tuple[
        dict[tuple[bytes, int], str], dict[bytes, LogEntry], list[LogEntry], list[LogEntry]]:
    """Rules 2 and 3: ignored entries, each identity's current state, counted puts and erases."""
    ignored: dict[tuple[bytes, int], str] = {}
    current: dict[bytes, LogEntry] = {}
    puts: list[LogEntry] = []
    erases: list[LogEntry] = []
    position = policy.position
    for item in entries:
        why = policy.ignored_status(item.publisher, item.index)
        if why is not None:
            ignored[(item.publisher, item.index)] = why
            continue
        kind = item.entry.kind
        if kind == "erase":
            erases.append(item)
            continue
        if kind == "put":
            puts.append(item)
        identity = policy.identity(item.publisher)
        best = current.get(identity)
        # Log order, not the timestamp, decides within a publisher (design §3); a rotated
        # identity's log is its keys' logs concatenated in generation order.
        if best is None or position(item.publisher, item.index) > position(best.publisher,
                                                                           best.index):
            current[identity] = item
    return ignored, current, puts, erases


def _erases_in_effect(record_id: str, erases: list[LogEntry], puts: list[LogEntry],
                      policy: MergePolicy) -> tuple[set[bytes], set[tuple[bytes, int]]]:
    """Rule 6: the payload hashes erased, and the positions of the erases in effect."""
    approved = policy.approved_payloads(record_id)
    targets: set[bytes] = set(approved)
    in_effect: set[tuple[bytes, int]] = set()
    for item in erases:
        if policy.erase_authorised is not None:
            ok = policy.erase_authorised(item)
        elif policy.approved_erasures is not None:
            ok = item.entry.target in approved
        else:
            ok = _default_erase_rule(item, puts, policy)
        if ok and item.entry.target is not None:
            targets.add(item.entry.target)
            in_effect.add((item.publisher, item.index))
    return targets, in_effect


def _status(item: LogEntry, ignored: dict[tuple[bytes, int], str],
            current: dict[bytes, LogEntry], in_effect: set[tuple[bytes, int]],
            policy: MergePolicy) -> str:
    """Rule 7: why an entry appears in history the way it does."""
    key = (item.publisher, item.index)
    if key in ignored:
        return ignored[key]
    kind = item.entry.kind
    if kind == "erase":
        return STATUS_ERASE if key in in_effect else STATUS_ERASE_UNAUTHORISED
    if current[policy.identity(item.publisher)] is not item:
        return STATUS_SUPERSEDED
    return STATUS_CURRENT if kind == "put" else STATUS_RETRACTED


def _merge_one(record_id: str, entries: list[LogEntry], policy: MergePolicy) -> RecordView:
    """Rules 2-7 for the deduplicated entries of one record."""
    ignored, current, puts, erases = _classify(entries, policy)
    targets, in_effect = _erases_in_effect(record_id, erases, puts, policy)

    # Rules 4 and 5: the multi-value register and the retractions, in display order.
    rank, identity = policy.rank, policy.identity
    in_order = sorted(current.items(), key=lambda c: (
        rank(c[0]), -c[1].entry.timestamp, c[0]))
    versions = tuple(_version(c, targets) for _, c in in_order if c.entry.kind == "put")
    retractions = tuple(Retraction(c.publisher, c.index, c.entry.reason or "", c.entry.timestamp)
                        for _, c in in_order if c.entry.kind == "retract")
    history = tuple(
        HistoryItem(item.publisher, item.index, item.entry,
                    _status(item, ignored, current, in_effect, policy),
                    erased=item.entry.kind == "put" and item.entry.payload_hash in targets)
        for item in sorted(entries, key=lambda i: (
            rank(i.publisher), identity(i.publisher), policy.position(i.publisher, i.index))))
    return RecordView(
        record_id=record_id,
        displayed=versions[0] if versions else None,
        alternatives=versions[1:],
        retractions=retractions,
        retracted=not versions and bool(retractions),
        history=history,
    )


def _version(item: LogEntry, targets: set[bytes]) -> Version:
    erased = item.entry.payload_hash in targets
    return Version(item.publisher, item.index, item.entry,
                   body=None if erased else item.body, erased=erased)


def merge_record(record_id: str, entries: Iterable[LogEntry],
                 policy: MergePolicy) -> RecordView | None:
    """The view of one record from the entries given (others' records are skipped).

    Duplicates are checked across every entry given, not only this record's.
    """
    mine = [e for e in _dedupe(entries).values() if e.entry.record_id == record_id]
    return _merge_one(record_id, mine, policy) if mine else None


def merge_all(entries: Iterable[LogEntry], policy: MergePolicy) -> dict[str, RecordView]:
    """The view of every record named by the entries, keyed (and ordered) by record id."""
    groups: dict[str, list[LogEntry]] = defaultdict(list)
    for item in _dedupe(entries).values():
        groups[item.entry.record_id].append(item)
    return {rid: _merge_one(rid, groups[rid], policy) for rid in sorted(groups)}
