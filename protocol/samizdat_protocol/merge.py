"""The merge view (design §3): a pure, deterministic function of a grow-only set of entries.

A replica is a set of verified :class:`~samizdat_protocol.entries.LogEntry` values. The record
view computed here depends only on that *set*: arrival order and duplicates never change it, so
two nodes holding the same entries show the same view (a state-based CRDT whose merge is set
union). The store keeps the view materialised per record and recomputes one record with
:func:`merge_record` when entries for it arrive; :func:`merge_all` computes every record at once.

Rules, applied to the entries of one record (``entry.record_id``), under a :class:`MergePolicy`:

1. **Duplicates.** Entries are identified by ``(publisher, index)``. Copies with equal headers
   collapse into one; a copy that carries the body wins over one that does not. Two copies with
   different headers (or two different bodies) for one position mean verification failed
   upstream: :class:`~samizdat_protocol.errors.LocalError` ``merge.conflicting_duplicate``.
2. **Ignored entries.** An entry of publisher ``p`` at ``index >= revoked_after[p]`` is
   ``ignored_revoked`` (a seized key's later entries, design §3). Otherwise an entry of a publisher
   in ``suspended`` is ``ignored_suspended`` (equivocation, design §2). Ignored entries have no
   effect at all (no version, no retraction, no erase, no erase authority) but stay in history.
3. **State per publisher.** A publisher's *current state* for the record is its ``put`` or
   ``retract`` entry with the highest log index among its non-ignored entries. Log order, never
   the timestamp and never ``prev``, decides. Erase entries do not change the state.
4. **Multi-value register across publishers.** Every publisher whose current state is a put has
   one live :class:`Version`; nobody's entry overwrites another publisher's. Live versions are
   ordered by the *display key* ``(rank, -timestamp, publisher)``: ``rank`` is ``(0, n)`` for a
   publisher with priority ``n`` (lower wins; the charter's publisher list order) and ``(1, 0)``
   for a publisher without one, so unknown keys follow every known key; then the later put
   timestamp ``ts`` first; then the lexicographically smaller publisher key bytes. The first is
   ``displayed``; the rest are ``alternatives`` in that order.
5. **Retraction.** A publisher whose current state is a retract contributes a
   :class:`Retraction` (ordered by the same display key, using the retract's timestamp) and no
   version; it hides only its own version. ``retracted`` is true exactly when no publisher has a
   live version and at least one has a retraction in force.
6. **Erase.** A non-ignored erase entry *takes effect* when ``policy.erase_authorised(entry)``
   is true; without that callback, when its publisher has a non-ignored put of this record (at
   any index) whose payload hash equals the erase's ``target``. Every put of the record whose
   payload hash is the target of an erase in effect is erased, whichever publisher made it and
   whichever order the entries arrived in: its :class:`Version` has ``erased=True`` and
   ``body=None``; the header stays, and so does its place in the display order. Erase is scoped
   to the record it names; the store decides when payload bytes shared with other records go.
   Under the default rule a publisher can erase a payload another publisher also holds only by
   putting that same payload itself; the founders' threshold rule replaces this default later.
7. **History.** Every entry of the record, ignored ones included, ordered by
   ``(rank, publisher, index)``, each with a status: ``current`` (a put that is its publisher's
   current state), ``retracted`` (a retract that is its publisher's current state),
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
    """Who is shown first and whose entries count (rules 2, 4 and 6 of the module docstring).

    The mappings are copied into read-only views, so a policy cannot change under a view.
    """

    priorities: Mapping[bytes, int]
    revoked_after: Mapping[bytes, int] = field(default_factory=dict)
    suspended: frozenset[bytes] = frozenset()
    erase_authorised: Callable[[LogEntry], bool] | None = None

    def __post_init__(self) -> None:
        for value in self.priorities.values():
            _check_int(value, "a priority")
        for value in self.revoked_after.values():
            _check_int(value, "a revocation point")
            if value < 0:
                raise LocalError("merge.policy", f"revocation point {value} is negative")
        object.__setattr__(self, "priorities", MappingProxyType(dict(self.priorities)))
        object.__setattr__(self, "revoked_after", MappingProxyType(dict(self.revoked_after)))
        object.__setattr__(self, "suspended", frozenset(self.suspended))

    def rank(self, publisher: bytes) -> tuple[int, int]:
        """Priority rank: known publishers by their number, unknown ones after all of them."""
        priority = self.priorities.get(publisher)
        return (1, 0) if priority is None else (0, priority)

    def ignored_status(self, publisher: bytes, index: int) -> str | None:
        """Why an entry is ignored (rule 2), or None when it counts."""
        limit = self.revoked_after.get(publisher)
        if limit is not None and index >= limit:
            return STATUS_IGNORED_REVOKED
        if publisher in self.suspended:
            return STATUS_IGNORED_SUSPENDED
        return None


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


def _default_erase_rule(erase: LogEntry, puts: list[LogEntry]) -> bool:
    return any(p.publisher == erase.publisher and p.entry.payload_hash == erase.entry.target
               for p in puts)


def _classify(entries: list[LogEntry], policy: MergePolicy) -> tuple[
        dict[tuple[bytes, int], str], dict[bytes, LogEntry], list[LogEntry], list[LogEntry]]:
    """Rules 2 and 3: ignored entries, each publisher's current state, counted puts and erases."""
    ignored: dict[tuple[bytes, int], str] = {}
    current: dict[bytes, LogEntry] = {}
    puts: list[LogEntry] = []
    erases: list[LogEntry] = []
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
        best = current.get(item.publisher)
        # Log order, not the timestamp, decides within a publisher (design §3).
        if best is None or item.index > best.index:
            current[item.publisher] = item
    return ignored, current, puts, erases


def _erases_in_effect(erases: list[LogEntry], puts: list[LogEntry],
                      policy: MergePolicy) -> tuple[set[bytes], set[tuple[bytes, int]]]:
    """Rule 6: the payload hashes erased, and the positions of the erases in effect."""
    targets: set[bytes] = set()
    in_effect: set[tuple[bytes, int]] = set()
    for item in erases:
        ok = (policy.erase_authorised(item) if policy.erase_authorised is not None
              else _default_erase_rule(item, puts))
        if ok and item.entry.target is not None:
            targets.add(item.entry.target)
            in_effect.add((item.publisher, item.index))
    return targets, in_effect


def _status(item: LogEntry, ignored: dict[tuple[bytes, int], str],
            current: dict[bytes, LogEntry], in_effect: set[tuple[bytes, int]]) -> str:
    """Rule 7: why an entry appears in history the way it does."""
    key = (item.publisher, item.index)
    if key in ignored:
        return ignored[key]
    kind = item.entry.kind
    if kind == "erase":
        return STATUS_ERASE if key in in_effect else STATUS_ERASE_UNAUTHORISED
    if current[item.publisher] is not item:
        return STATUS_SUPERSEDED
    return STATUS_CURRENT if kind == "put" else STATUS_RETRACTED


def _merge_one(record_id: str, entries: list[LogEntry], policy: MergePolicy) -> RecordView:
    """Rules 2-7 for the deduplicated entries of one record."""
    ignored, current, puts, erases = _classify(entries, policy)
    targets, in_effect = _erases_in_effect(erases, puts, policy) if erases else (set(), set())

    # Rules 4 and 5: the multi-value register and the retractions, in display order.
    rank = policy.rank
    in_order = sorted(current.values(), key=lambda c: (
        rank(c.publisher), -c.entry.timestamp, c.publisher))
    versions = tuple(_version(c, targets) for c in in_order if c.entry.kind == "put")
    retractions = tuple(Retraction(c.publisher, c.index, c.entry.reason or "", c.entry.timestamp)
                        for c in in_order if c.entry.kind == "retract")
    history = tuple(
        HistoryItem(item.publisher, item.index, item.entry,
                    _status(item, ignored, current, in_effect),
                    erased=item.entry.kind == "put" and item.entry.payload_hash in targets)
        for item in sorted(entries, key=lambda i: (rank(i.publisher), i.publisher, i.index)))
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
