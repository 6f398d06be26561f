"""Governance (design §2, issue 7; spec §13): founders' decisions and the authorisation state.

A *governance entry* is one decision of the founders: a canonical body signed by at least
``threshold`` distinct founders of the founder set in force when the decision is reached. The
authorisation state (who may publish, up to where, shown in which order, as which identity,
which payloads are erased) is a pure function :func:`authorisation_state` of the charter, the
set of governance entries and the set of equivocation proofs: input order and duplicates never
change it (a law in tests/protocol/test_governance.py).

Body (canonical map; ``v`` is the format version)::

    {"v": 1, "dataset": bin32, "seq": int (1..2^53-1), "action": str, "ts": int (ms),
     ...the action's fields}

    add_publisher       key: bin32, name: str
    revoke_publisher    key: bin32, as_of: int, root: bin32
    rotate_publisher    old: bin32, new: bin32, as_of: int, root: bin32, [name: str]
    set_founders        founders: [bin32, ...], threshold: int
    set_priorities      order: [bin32, ...]
    erase               record: str, payload: bin32, reason: str
    reinstate_publisher key: bin32, through: int

Signed entry (as a file or on the wire), like a signed charter (spec §4)::

    {"body": bin (the body bytes), "signatures": [{"key": bin32, "sig": bin64}, ...]}

``signatures`` are sorted by key, one per key. Each signs ``DOMAIN_GOVERNANCE || body``. The
entry id is ``H_gov(body)``: it does not depend on the signatures, so founders sign one after
another, offline, and copies of one entry with different signatures are the same decision (the
state counts the union of their valid signatures).

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

from .charter import MAX_FOUNDERS, Charter
from .encoding import DecodeLimits, decode, encode
from .entries import MAX_REASON_CHARS, MAX_RECORD_ID_CHARS
from .errors import DecodeError, LocalError, RemoteError, SchemaError, SignatureError
from .hashing import DIGEST_SIZE, GOVERNANCE, tagged_hash
from .heads import MAX_LOG_LENGTH, EquivocationProof
from .merge import MergePolicy
from .signing import (
    DOMAIN_GOVERNANCE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    SigningKey,
    parse_signed,
    verify,
)

__all__ = [
    "ACTIONS",
    "GOVERNANCE_VERSION",
    "AuthState",
    "GovernanceBody",
    "GovernanceEntry",
    "Pin",
    "PublisherStatus",
    "Rejection",
    "authorisation_state",
    "equivocation_id",
    "propose",
]

GOVERNANCE_VERSION = 1
MAX_SEQ = 2**53 - 1
MAX_PUBLISHER_KEYS = 1024
MAX_NAME_CHARS = 200
BODY_LIMITS = DecodeLimits(max_bytes=48 * 1024, max_str=8 * 1024, max_bin=DIGEST_SIZE,
                           max_items=MAX_PUBLISHER_KEYS, max_depth=2)
ENTRY_LIMITS = DecodeLimits(max_bytes=64 * 1024, max_str=16, max_bin=48 * 1024,
                            max_items=MAX_FOUNDERS, max_depth=3)

_COMMON = frozenset({"v", "dataset", "seq", "action", "ts"})
# action -> (required fields, optional fields), besides the common ones.
ACTIONS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = MappingProxyType({
    "add_publisher": (frozenset({"key", "name"}), frozenset()),
    "revoke_publisher": (frozenset({"key", "as_of", "root"}), frozenset()),
    "rotate_publisher": (frozenset({"old", "new", "as_of", "root"}), frozenset({"name"})),
    "set_founders": (frozenset({"founders", "threshold"}), frozenset()),
    "set_priorities": (frozenset({"order"}), frozenset()),
    "erase": (frozenset({"record", "payload", "reason"}), frozenset()),
    "reinstate_publisher": (frozenset({"key", "through"}), frozenset()),
})


def _bad(code: str, message: str, name: str | None = None) -> SchemaError:
    return SchemaError(f"governance.{code}", message, field=name)


def _key(value: object, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != PUBLIC_KEY_SIZE:
        raise _bad("field", f"{name} must be a {PUBLIC_KEY_SIZE}-byte public key", name)
    return value


def _int(value: object, low: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad("field", f"{name} must be an integer in {low}..{high}", name)
    return value


def _keys(value: object, name: str, most: int) -> tuple[bytes, ...]:
    if not isinstance(value, (list, tuple)) or not 0 < len(value) <= most:
        raise _bad("field", f"{name} must list 1..{most} keys", name)
    keys = tuple(_key(k, name) for k in value)
    if len(set(keys)) != len(keys):
        raise _bad("field", f"{name} lists a key twice", name)
    return keys


def _text(value: object, most: int, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= len(value) <= most:
        raise _bad("field", f"{name} must be 1..{most} characters, not blank", name)
    return value


def _record(value: object) -> str:
    # The same rule as entries' record ids (spec §5): erase names a record as a put does.
    text = _text(value, MAX_RECORD_ID_CHARS, "record")
    if text != text.strip() or any(ord(ch) < 0x20 or ch == "\x7f" for ch in text):
        raise _bad("field", "record id has control characters or surrounding space", "record")
    return text


def _check_field(name: str, value: Any) -> Any:
    """Validate one action field; lists come back as tuples."""
    if name in ("key", "old", "new"):
        return _key(value, name)
    if name in ("as_of", "through"):
        return _int(value, 0, MAX_LOG_LENGTH, name)
    if name in ("root", "payload"):
        if not isinstance(value, bytes) or len(value) != DIGEST_SIZE:
            raise _bad("field", f"{name} must be a {DIGEST_SIZE}-byte hash", name)
        return value
    if name == "name":
        return _text(value, MAX_NAME_CHARS, name)
    if name == "reason":
        return _text(value, MAX_REASON_CHARS, name)
    if name == "record":
        return _record(value)
    if name == "founders":
        return _keys(value, name, MAX_FOUNDERS)
    if name == "order":
        return _keys(value, name, MAX_PUBLISHER_KEYS)
    if name == "threshold":
        return _int(value, 1, MAX_FOUNDERS, name)
    raise _bad("unknown_field", f"unknown field {name!r}", name)


def _check_fields(action: object, fields: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(action, str) or action not in ACTIONS:
        raise _bad("action", f"unknown governance action {action!r}", "action")
    required, optional = ACTIONS[action]
    missing = required - set(fields)
    if missing:
        raise _bad("missing", f"{action} lacks {sorted(missing)}", sorted(missing)[0])
    extra = set(fields) - required - optional
    if extra:
        raise _bad("unknown_field", f"{action} has unknown fields {sorted(extra)}",
                   sorted(extra)[0])
    out = {name: _check_field(name, value) for name, value in fields.items()}
    if action == "set_founders" and out["threshold"] > len(out["founders"]):
        raise _bad("field", "threshold exceeds the number of founders", "threshold")
    if action == "rotate_publisher" and out["old"] == out["new"]:
        raise _bad("field", "a key cannot be rotated to itself", "new")
    return out


@dataclass(frozen=True, eq=False)
class GovernanceBody:
    """The signed part of a governance entry. Equal when the canonical bytes are equal."""

    dataset_id: bytes
    seq: int
    action: str
    fields: Mapping[str, Any]
    timestamp: int
    _bytes: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.dataset_id, bytes) or len(self.dataset_id) != DIGEST_SIZE:
            raise _bad("field", f"dataset must be a {DIGEST_SIZE}-byte id", "dataset")
        _int(self.seq, 1, MAX_SEQ, "seq")
        _int(self.timestamp, 0, 2**53 - 1, "ts")
        if not isinstance(self.fields, Mapping) or set(self.fields) & _COMMON:
            raise _bad("unknown_field", "action fields repeat a common field", "fields")
        fields = _check_fields(self.action, self.fields)
        object.__setattr__(self, "fields", MappingProxyType(fields))
        object.__setattr__(self, "_bytes", encode({
            **fields, "v": GOVERNANCE_VERSION, "dataset": self.dataset_id, "seq": self.seq,
            "action": self.action, "ts": self.timestamp}))

    def body_bytes(self) -> bytes:
        return self._bytes

    @property
    def id(self) -> bytes:
        return tagged_hash(GOVERNANCE, self._bytes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GovernanceBody) and other._bytes == self._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)

    @classmethod
    def from_body(cls, data: bytes) -> GovernanceBody:
        value = decode(data, BODY_LIMITS)
        if not isinstance(value, dict):
            raise DecodeError("governance.malformed", "governance body is not a map")
        if value.get("v") != GOVERNANCE_VERSION:
            raise _bad("version", f"unsupported governance version {value.get('v')!r}", "v")
        missing = _COMMON - set(value)
        if missing:
            raise _bad("missing", f"governance body lacks {sorted(missing)}", sorted(missing)[0])
        fields = {k: v for k, v in value.items() if k not in _COMMON}
        return cls(value["dataset"], value["seq"], value["action"], fields, value["ts"])


def propose(dataset_id: bytes, seq: int, action: str, fields: Mapping[str, Any],
            ts: int) -> GovernanceEntry:
    """A new, unsigned governance entry (raises SchemaError ``governance.*`` if malformed)."""
    return GovernanceEntry(GovernanceBody(dataset_id, seq, action, dict(fields), ts))


@dataclass(frozen=True, eq=False)
class GovernanceEntry:
    """A governance body with founders' signatures, sorted by key, at most one per key."""

    body: GovernanceBody
    signatures: tuple[tuple[bytes, bytes], ...] = ()

    def __post_init__(self) -> None:
        sigs = tuple(self.signatures)
        if any(len(k) != PUBLIC_KEY_SIZE or len(s) != SIGNATURE_SIZE for k, s in sigs):
            raise LocalError("governance.signatures", "malformed signature pair")
        keys = [k for k, _ in sigs]
        if keys != sorted(set(keys)) or len(keys) > MAX_FOUNDERS:
            raise LocalError("governance.signatures", f"signatures must be sorted by key, one "
                             f"per key, at most {MAX_FOUNDERS}")
        object.__setattr__(self, "signatures", sigs)

    @property
    def id(self) -> bytes:
        return self.body.id

    @property
    def seq(self) -> int:
        return self.body.seq

    @property
    def action(self) -> str:
        return self.body.action

    def sign(self, key: SigningKey) -> GovernanceEntry:
        """Add ``key``'s signature (replacing an earlier one by the same key). Any key may sign;
        only founders in force when the entry is reached count (rule 3)."""
        sig = key.sign(DOMAIN_GOVERNANCE, self.body.body_bytes())
        kept = {k: s for k, s in self.signatures if k != key.public}
        return GovernanceEntry(self.body, tuple(sorted({**kept, key.public: sig}.items())))

    def combine(self, other: GovernanceEntry) -> GovernanceEntry:
        """The same decision with the signatures of both copies (per key, a valid one wins)."""
        if other.body != self.body:
            raise LocalError("governance.combine", "copies of different decisions")
        candidates: dict[bytes, set[bytes]] = {}
        for key, sig in (*self.signatures, *other.signatures):
            candidates.setdefault(key, set()).add(sig)
        chosen = {key: min(self._rank(key, sig) for sig in sigs)[1]
                  for key, sigs in candidates.items()}
        return GovernanceEntry(self.body, tuple(sorted(chosen.items())))

    def _rank(self, key: bytes, sig: bytes) -> tuple[bool, bytes]:
        return (not self._verifies(key, sig), sig)

    def _verifies(self, key: bytes, sig: bytes) -> bool:
        try:
            verify(key, DOMAIN_GOVERNANCE, self.body.body_bytes(), sig)
        except SignatureError:
            return False
        return True

    def signers(self) -> frozenset[bytes]:
        """Keys whose signature verifies (whether they are founders is the state's concern)."""
        return frozenset(k for k, s in self.signatures if self._verifies(k, s))

    def to_bytes(self) -> bytes:
        return encode({"body": self.body.body_bytes(),
                       "signatures": [{"key": k, "sig": s} for k, s in self.signatures]})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GovernanceEntry) and other.to_bytes() == self.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> GovernanceEntry:
        """Strictly decode a signed entry from outside (codes ``decode.*``, ``governance.*``)."""
        body, sigs = parse_signed(decode(data, ENTRY_LIMITS), "governance.malformed",
                                  "governance entry")
        keys = [k for k, _ in sigs]
        if keys != sorted(set(keys)):
            raise DecodeError("governance.signatures", "signatures are not sorted by key, one "
                              "per key")
        return cls(GovernanceBody.from_body(body), tuple(sigs))


def equivocation_id(proof: EquivocationProof) -> bytes:
    """64 bytes naming the evidence: the two head ids, ordered by (length, head id).

    Two proofs over the same pair of heads (different consistency paths) share the id.
    """
    heads = sorted((proof.shorter, proof.longer), key=lambda h: (h.length, h.head_id))
    return heads[0].head_id + heads[1].head_id


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
