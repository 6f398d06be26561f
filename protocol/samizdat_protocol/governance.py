"""Governance entries (design §2, issue 7; spec §13): the founders' signed decisions.

A *governance entry* is one decision of the founders: a canonical body signed by at least
``threshold`` distinct founders of the founder set in force when the decision is reached. What
the entries decide, the authorisation state, is computed in :mod:`.authstate`.

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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .charter import MAX_FOUNDERS
from .encoding import DecodeLimits, decode, encode
from .entries import MAX_REASON_CHARS, MAX_RECORD_ID_CHARS
from .errors import DecodeError, LocalError, SchemaError, SignatureError
from .hashing import DIGEST_SIZE, GOVERNANCE, tagged_hash
from .heads import MAX_LOG_LENGTH, EquivocationProof
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
    "MAX_PUBLISHER_KEYS",
    "GovernanceBody",
    "GovernanceEntry",
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
        only founders in force when the entry is reached count (authstate rule 3)."""
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
