"""The authorisation state (design §2, issue 7; spec §13): what the founders' decisions decide.

Who may publish, up to where, shown in which order, as which identity, and which payloads are
erased is a pure function :func:`authorisation_state` of the charter, the set of governance
entries (:mod:`.governance`) and the set of equivocation proofs: input order and duplicates
never change it (a law in tests/protocol/test_governance.py).

State rules (applied by :func:`authorisation_state`):

1. Start from the charter: its founders and threshold, its publishers (active, display priority
   = list order, each its own identity).
2. Entries are grouped by id and applied in ``(seq, id)`` order. Entries with the same ``seq``
   all apply, in id order: ``seq`` is the founders' order of decisions and the id only breaks a
   tie deterministically. (Rejecting all but one would silently drop one of two urgent decisions
   prepared at once; tools propose ``next_seq`` to avoid ties.)
3. An entry applies only when it names this dataset, at least ``threshold`` distinct keys of
   the founder set in force *when it is reached* signed it validly (non-founders' and invalid
   signatures do not count), and its action's precondition holds. Otherwise it is reported in
   ``rejected`` with a code and a reason and changes nothing.
4. Actions. ``add_publisher``: a key never seen before becomes active, last in display order.
   ``revoke_publisher``: the key's entries at ``index >= as_of`` are ignored everywhere; ``root``
   pins the Merkle root of the key's first ``as_of`` entries, the prefix the founders keep.
   ``rotate_publisher``: freezes ``old`` likewise and makes ``new`` (a key never seen before)
   continue the same identity: its log follows ``old``'s first ``as_of`` entries, so its
   entries supersede ``old``'s for the same record (merge rule 3). A key has at most one
   successor; a revoked key may still be rotated (revoke first, rotate when a new key is
   ready), and revoking a rotated key moves its freeze point. ``set_founders`` replaces the
   founder set for later decisions. ``set_priorities`` puts the named identities first, in that
   order, the others after them in their previous order. ``erase`` approves the safety erasure
   of one payload of one record (merge rule 6, governance rule): only the founders' threshold
   can erase, never a publisher key alone. ``reinstate_publisher`` forgives every equivocation
   proof against ``key`` whose shorter head has length ``<= through`` (set it to the longest
   head of the abandoned branch: every proof of that fork has a head on it, and a new fork
   later gives proofs whose heads are all longer).
5. A publisher key against which a valid equivocation proof (spec §8) exists is *suspended*
   (its entries are ignored for display, kept in history) unless the proof is forgiven by a
   reinstatement, or the key is frozen (revoked or rotated): the founders then decided which
   prefix stands, ``root`` pins it, and everything after it is ignored anyway. Proofs against
   keys that are not publishers, or that do not verify, are reported and have no effect.
6. Status of a key, first that holds: ``rotated`` (to, as_of), ``revoked`` (as_of),
   ``suspended`` (proof id), ``active``.

A limit no pure rule can lift: a threshold of founder keys that were ever in force can sign an
entry with an old ``seq``, which is then evaluated under the founder set of that time. Retired
founder keys must be destroyed, not merely removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .charter import Charter
from .errors import LocalError, RemoteError
from .governance import MAX_PUBLISHER_KEYS, GovernanceBody, GovernanceEntry, equivocation_id
from .heads import EquivocationProof
from .merge import MergePolicy

__all__ = ["AuthState", "Pin", "PublisherStatus", "Rejection", "authorisation_state"]


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    """``state`` is ``active``, ``rotated`` (``to``, ``as_of``, ``root``), ``revoked``
    (``as_of``, ``root``) or ``suspended`` (``proof_id``)."""

    state: str
    as_of: int | None = None
    root: bytes | None = None
    to: bytes | None = None
    proof_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class Pin:
    """The founders fixed the Merkle root of a key's first ``length`` entries."""

    length: int
    root: bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that changed nothing: a governance entry or an equivocation proof (rule 3, 5)."""

    kind: str  # "governance" | "equivocation"
    id: bytes
    code: str
    reason: str
    seq: int | None = None


@dataclass(frozen=True)
class AuthState:
    """Who may publish what, as computed by :func:`authorisation_state` (rules 1-6)."""

    dataset_id: bytes
    founders: tuple[bytes, ...]
    threshold: int
    publishers: Mapping[bytes, PublisherStatus]
    names: Mapping[bytes, str]
    order: tuple[bytes, ...]  # identity keys, display priority order (first = 0)
    identities: Mapping[bytes, tuple[bytes, int]]  # key -> (identity key, generation)
    pins: Mapping[bytes, Pin]
    erasures: frozenset[tuple[str, bytes]]  # approved (record id, payload hash) pairs
    proofs: Mapping[bytes, EquivocationProof]  # suspended key -> the proof (smallest id)
    applied: tuple[bytes, ...]  # entry ids in the order they were applied
    rejected: tuple[Rejection, ...]
    last_seq: int

    @property
    def next_seq(self) -> int:
        """The seq a new proposal should take."""
        return self.last_seq + 1

    @property
    def priorities(self) -> Mapping[bytes, int]:
        """Display priority of every key: its identity's place in :attr:`order`."""
        place = {identity: n for n, identity in enumerate(self.order)}
        return {key: place[identity] for key, (identity, _) in self.identities.items()}

    @property
    def revoked_after(self) -> Mapping[bytes, int]:
        return {k: s.as_of for k, s in self.publishers.items() if s.as_of is not None}

    @property
    def suspended(self) -> frozenset[bytes]:
        return frozenset(k for k, s in self.publishers.items() if s.state == "suspended")

    def identity(self, key: bytes) -> bytes:
        found = self.identities.get(key)
        return key if found is None else found[0]

    def may_publish(self, key: bytes, index: int) -> bool:
        """Whether entry ``index`` of ``key``'s log counts for the view (merge rule 2)."""
        status = self.publishers.get(key)
        if status is None or status.state == "suspended":
            return False
        return status.as_of is None or index < status.as_of

    def merge_policy(self) -> MergePolicy:
        """The merge policy in force: priorities, freezes, suspensions, identities, erasures."""
        return MergePolicy(priorities=self.priorities, revoked_after=self.revoked_after,
                           suspended=self.suspended, identities=self.identities,
                           approved_erasures=self.erasures)


@dataclass
class _KeyState:
    name: str
    identity: bytes
    generation: int
    as_of: int | None = None
    root: bytes | None = None
    successor: bytes | None = None
    forgiven_through: int = -1


class _Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Builder:
    """Mutable state while entries are applied in (seq, id) order; never escapes this module."""

    founders: tuple[bytes, ...]
    threshold: int
    keys: dict[bytes, _KeyState] = field(default_factory=dict)
    order: list[bytes] = field(default_factory=list)
    erasures: set[tuple[str, bytes]] = field(default_factory=set)

    def known(self, key: bytes) -> _KeyState:
        if key not in self.keys:
            raise _Refused("governance.unknown_publisher", f"{key.hex()} is not a publisher")
        return self.keys[key]

    def new_key(self, key: bytes, name: str, identity: bytes, generation: int) -> None:
        if key in self.keys:
            raise _Refused("governance.publisher_exists", f"{key.hex()} is already known; a "
                           "key is never reused")
        if len(self.keys) >= MAX_PUBLISHER_KEYS:
            raise _Refused("governance.too_many_publishers",
                           f"at most {MAX_PUBLISHER_KEYS} publisher keys")
        self.keys[key] = _KeyState(name, identity, generation)
        if generation == 0:
            self.order.append(key)

    def apply(self, action: str, f: Mapping[str, Any]) -> None:
        if action == "add_publisher":
            self.new_key(f["key"], f["name"], f["key"], 0)
        elif action == "revoke_publisher":
            state = self.known(f["key"])
            state.as_of, state.root = f["as_of"], f["root"]
        elif action == "rotate_publisher":
            old = self.known(f["old"])
            if old.successor is not None:
                raise _Refused("governance.already_rotated", "this key was already rotated to "
                               f"{old.successor.hex()}")
            self.new_key(f["new"], f.get("name", old.name), old.identity, old.generation + 1)
            old.as_of, old.root, old.successor = f["as_of"], f["root"], f["new"]
        elif action == "set_founders":
            self.founders, self.threshold = f["founders"], f["threshold"]
        elif action == "set_priorities":
            named = [self.known(k).identity for k in f["order"]]
            if len(set(named)) != len(named):
                raise _Refused("governance.priorities", "two listed keys are one identity")
            listed = set(named)
            self.order = named + [i for i in self.order if i not in listed]
        elif action == "erase":
            self.erasures.add((f["record"], f["payload"]))
        elif action == "reinstate_publisher":
            state = self.known(f["key"])
            if state.as_of is not None:
                raise _Refused("governance.frozen", "a revoked or rotated key cannot be "
                               "reinstated; rotate its identity to a new key instead")
            state.forgiven_through = max(state.forgiven_through, f["through"])
        else:  # pragma: no cover - GovernanceBody refuses unknown actions
            raise LocalError("governance.action", action)


def _signers(entries: Iterable[GovernanceEntry]) -> dict[bytes, tuple[GovernanceBody,
                                                                     frozenset[bytes]]]:
    """Entries by id, with the union of the valid signers of every copy (rule 2)."""
    out: dict[bytes, tuple[GovernanceBody, frozenset[bytes]]] = {}
    for entry in entries:
        body, before = out.get(entry.id, (entry.body, frozenset()))
        out[entry.id] = (body, before | entry.signers())
    return out


def authorisation_state(charter: Charter, entries: Iterable[GovernanceEntry],
                        equivocations: Iterable[EquivocationProof] = ()) -> AuthState:
    """The authorisation state in force (module docstring, rules 1-6). Pure and order-free."""
    dataset_id = charter.dataset_id
    state = _Builder(charter.founders, charter.threshold)
    for grant in charter.publishers:
        state.new_key(grant.key, grant.name, grant.key, 0)
    applied: list[bytes] = []
    rejected: list[Rejection] = []
    last_seq = 0
    grouped = _signers(entries)
    for entry_id in sorted(grouped, key=lambda i: (grouped[i][0].seq, i)):
        body, signers = grouped[entry_id]
        try:
            if body.dataset_id != dataset_id:
                raise _Refused("governance.wrong_dataset", "entry is for another dataset")
            count = len(signers & set(state.founders))
            if count < state.threshold:
                raise _Refused("governance.threshold", f"{count} valid founder signatures, "
                               f"{state.threshold} needed")
            state.apply(body.action, body.fields)
        except _Refused as refused:
            rejected.append(Rejection("governance", entry_id, refused.code, refused.reason,
                                      body.seq))
            continue
        applied.append(entry_id)
        last_seq = body.seq
    proofs = _suspensions(dataset_id, state.keys, equivocations, rejected)
    return AuthState(
        dataset_id=dataset_id,
        founders=tuple(state.founders),
        threshold=state.threshold,
        publishers=MappingProxyType({k: _status(s, proofs.get(k)) for k, s in state.keys.items()}),
        names=MappingProxyType({k: s.name for k, s in state.keys.items()}),
        order=tuple(state.order),
        identities=MappingProxyType({k: (s.identity, s.generation)
                                     for k, s in state.keys.items()}),
        pins=MappingProxyType({k: Pin(s.as_of, s.root) for k, s in state.keys.items()
                               if s.as_of is not None and s.root is not None}),
        erasures=frozenset(state.erasures),
        proofs=MappingProxyType(proofs),
        applied=tuple(applied),
        rejected=tuple(rejected),
        last_seq=last_seq,
    )


def _suspensions(dataset_id: bytes, keys: Mapping[bytes, _KeyState],
                 equivocations: Iterable[EquivocationProof],
                 rejected: list[Rejection]) -> dict[bytes, EquivocationProof]:
    """Rule 5: for each suspended key, its unforgiven proof with the smallest id."""
    unique = {equivocation_id(p): p for p in equivocations}
    out: dict[bytes, EquivocationProof] = {}
    for proof_id in sorted(unique):
        proof = unique[proof_id]
        try:
            proof.verify(dataset_id)
        except RemoteError as exc:
            rejected.append(Rejection("equivocation", proof_id, exc.code, exc.message))
            continue
        state = keys.get(proof.publisher)
        if state is None:
            rejected.append(Rejection("equivocation", proof_id, "governance.not_a_publisher",
                                      "the proof is against a key that is not a publisher"))
            continue
        shorter = min(proof.shorter.length, proof.longer.length)
        if state.as_of is None and shorter > state.forgiven_through:
            out.setdefault(proof.publisher, proof)
    return out


def _status(state: _KeyState, proof: EquivocationProof | None) -> PublisherStatus:
    if state.successor is not None:
        return PublisherStatus("rotated", state.as_of, state.root, to=state.successor)
    if state.as_of is not None:
        return PublisherStatus("revoked", state.as_of, state.root)
    if proof is not None:
        return PublisherStatus("suspended", proof_id=equivocation_id(proof))
    return PublisherStatus("active")
