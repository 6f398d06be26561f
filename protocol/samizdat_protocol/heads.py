"""Signed heads and equivocation proofs (design §2).

A publisher signs only heads: ``(dataset_id, publisher, length, root, timestamp)``. One
signature covers a whole batch of entries, so verifying a replica costs hashing plus one
signature per publisher, not one per entry.

Signed message: ``DOMAIN_HEAD || encode([dataset_id, publisher, length, root, timestamp])``.
Head on the wire (canonical map)::

    {"v": 1, "dataset": bin32, "publisher": bin32, "length": int, "root": bin32,
     "ts": int (ms), "sig": bin64}

Two validly signed heads of one publisher that cannot both be prefixes of one log are an
equivocation. The proof is transferable: anyone can check it with no other data.
* equal lengths, different roots; or
* lengths m < n, plus ``prefix_root`` (the root of the longer log's first m leaves) with a
  consistency proof from (m, prefix_root) to the longer head, where prefix_root differs from the
  shorter head's root. By collision resistance a valid consistency proof pins the true prefix,
  so the shorter head must be a different history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .encoding import DecodeLimits, decode, encode
from .errors import DecodeError, LocalError, ProofError, RemoteError, SchemaError
from .hashing import DIGEST_SIZE, hash_head
from .merkle import verify_consistency
from .signing import DOMAIN_HEAD, PUBLIC_KEY_SIZE, SIGNATURE_SIZE, SigningKey, verify

__all__ = [
    "HEAD_LIMITS",
    "EquivocationProof",
    "SignedHead",
    "check_extends",
    "find_equivocation",
    "sign_head",
]

HEAD_VERSION = 1
MAX_LOG_LENGTH = 2**48
HEAD_LIMITS = DecodeLimits(max_bytes=1024, max_str=64, max_bin=128, max_items=16, max_depth=1)
PROOF_LIMITS = DecodeLimits(max_bytes=16 * 1024, max_str=64, max_bin=1024, max_items=128,
                            max_depth=3)
_HEAD_KEYS = frozenset({"v", "dataset", "publisher", "length", "root", "ts", "sig"})


def _bytes_of(value: object, size: int, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise SchemaError("head.field", f"head field {name} must be {size} bytes", field=name)
    return value


def _int_of(value: object, limit: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise SchemaError("head.field", f"head field {name} out of range", field=name)
    return value


def _message(dataset_id: bytes, publisher: bytes, length: int, root: bytes, ts: int) -> bytes:
    return encode([dataset_id, publisher, length, root, ts])


@dataclass(frozen=True, slots=True)
class SignedHead:
    dataset_id: bytes
    publisher: bytes
    length: int
    root: bytes
    timestamp: int
    signature: bytes
    _bytes: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        _bytes_of(self.dataset_id, DIGEST_SIZE, "dataset")
        _bytes_of(self.publisher, PUBLIC_KEY_SIZE, "publisher")
        _bytes_of(self.root, DIGEST_SIZE, "root")
        _bytes_of(self.signature, SIGNATURE_SIZE, "sig")
        _int_of(self.length, MAX_LOG_LENGTH, "length")
        _int_of(self.timestamp, 2**53, "ts")
        object.__setattr__(self, "_bytes", encode(self._as_map()))

    def _as_map(self) -> dict[str, Any]:
        return {"v": HEAD_VERSION, "dataset": self.dataset_id, "publisher": self.publisher,
                "length": self.length, "root": self.root, "ts": self.timestamp,
                "sig": self.signature}

    def signed_message(self) -> bytes:
        return _message(self.dataset_id, self.publisher, self.length, self.root, self.timestamp)

    def verify(self, dataset_id: bytes | None = None) -> None:
        """Check the signature (and, if given, that the head belongs to ``dataset_id``)."""
        if dataset_id is not None and dataset_id != self.dataset_id:
            raise ProofError("head.wrong_dataset", "head is for another dataset")
        verify(self.publisher, DOMAIN_HEAD, self.signed_message(), self.signature)

    def to_bytes(self) -> bytes:
        return self._bytes

    @property
    def head_id(self) -> bytes:
        return hash_head(self._bytes)

    def to_map(self) -> dict[str, Any]:
        return self._as_map()

    @classmethod
    def from_map(cls, value: object) -> SignedHead:
        if not isinstance(value, dict) or frozenset(value) != _HEAD_KEYS:
            raise DecodeError("head.malformed", "not a signed head")
        if value["v"] != HEAD_VERSION:
            raise SchemaError("head.version", f"unsupported head version {value['v']!r}",
                              field="v")
        return cls(value["dataset"], value["publisher"], value["length"], value["root"],
                   value["ts"], value["sig"])

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedHead:
        return cls.from_map(decode(data, HEAD_LIMITS))


def sign_head(key: SigningKey, dataset_id: bytes, length: int, root: bytes,
              timestamp: int) -> SignedHead:
    sig = key.sign(DOMAIN_HEAD, _message(dataset_id, key.public, length, root, timestamp))
    return SignedHead(dataset_id, key.public, length, root, timestamp, sig)


def check_extends(old: SignedHead, new: SignedHead, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless ``new`` extends ``old`` (same log, consistency proof checks)."""
    if (old.dataset_id, old.publisher) != (new.dataset_id, new.publisher):
        raise LocalError("head.mismatch", "heads of different logs cannot extend each other")
    if new.length < old.length:
        raise ProofError("head.stale", f"head of length {new.length} is older than {old.length}")
    verify_consistency(old.length, old.root, new.length, new.root, proof)


@dataclass(frozen=True)
class EquivocationProof:
    shorter: SignedHead
    longer: SignedHead
    prefix_root: bytes | None = None
    consistency: tuple[bytes, ...] = ()

    def verify(self, dataset_id: bytes | None = None) -> None:
        """Raise unless this proves that one publisher signed two inconsistent heads."""
        a, b = self.shorter, self.longer
        if (a.dataset_id, a.publisher) != (b.dataset_id, b.publisher):
            raise ProofError("equivocation.not_same_log", "heads belong to different logs")
        a.verify(dataset_id)
        b.verify(dataset_id)
        if a.length > b.length:
            raise ProofError("equivocation.order", "shorter head is longer than longer head")
        if a.length == b.length:
            if a.root == b.root:
                raise ProofError("equivocation.consistent", "heads have the same root")
            return
        if a.length == 0:
            raise ProofError("equivocation.consistent", "the empty log is a prefix of any log")
        if self.prefix_root is None or self.prefix_root == a.root:
            raise ProofError("equivocation.consistent", "no differing prefix root is given")
        verify_consistency(a.length, self.prefix_root, b.length, b.root, self.consistency)

    @property
    def publisher(self) -> bytes:
        return self.shorter.publisher

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {"v": 1, "a": self.shorter.to_map(), "b": self.longer.to_map(),
                                "proof": list(self.consistency)}
        if self.prefix_root is not None:
            body["prefix"] = self.prefix_root
        return encode(body)

    @classmethod
    def from_bytes(cls, data: bytes) -> EquivocationProof:
        value = decode(data, PROOF_LIMITS)
        if (not isinstance(value, dict) or value.get("v") != 1
                or not {"v", "a", "b", "proof"} <= set(value) <= {"v", "a", "b", "proof", "prefix"}
                or not isinstance(value["proof"], list)
                or any(not isinstance(h, bytes) or len(h) != DIGEST_SIZE
                       for h in value["proof"])):
            raise DecodeError("equivocation.malformed", "not an equivocation proof")
        prefix = value.get("prefix")
        if prefix is not None:
            prefix = _bytes_of(prefix, DIGEST_SIZE, "prefix")
        return cls(SignedHead.from_map(value["a"]), SignedHead.from_map(value["b"]), prefix,
                   tuple(value["proof"]))


def find_equivocation(known: SignedHead, other: SignedHead,
                      prefix_root: bytes | None = None,
                      consistency: Sequence[bytes] = ()) -> EquivocationProof | None:
    """An equivocation proof if ``known`` and ``other`` are provably inconsistent, else None.

    For heads of different lengths the caller supplies the longer log's root at the shorter
    length and the consistency proof from it (computed from the longer log's entries).
    """
    shorter, longer = (known, other) if known.length <= other.length else (other, known)
    proof = EquivocationProof(shorter, longer, prefix_root, tuple(consistency))
    try:
        proof.verify()
    except RemoteError:
        return None
    return proof
