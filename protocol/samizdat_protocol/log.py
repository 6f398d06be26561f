"""A publisher's log in memory, and verification of a received log range (design §2, §4.2).

:class:`PublisherLog` is what a publisher appends to before signing a head; the node's store
keeps the same state on disk. :func:`verify_range` is the one check every received batch goes
through, whatever carried it (catch-up sync, bundle file, import): the new headers, appended to
the frontier of what we already hold, must give exactly the root of a validly signed head.
Nothing is stored, shown or served before this passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .entries import Entry, LogEntry, decode_payload, encode_payload
from .errors import LocalError, ProofError
from .hashing import hash_leaves
from .heads import SignedHead, sign_head
from .merkle import Frontier, MerkleTree, verify_consistency
from .signing import SigningKey

__all__ = ["PublisherLog", "VerifiedRange", "verify_prefix", "verify_range"]


class PublisherLog:
    """Append-only log of one publisher: headers, payloads by hash, and the Merkle tree."""

    def __init__(self, dataset_id: bytes, publisher: bytes) -> None:
        self.dataset_id = dataset_id
        self.publisher = publisher
        self.entries: list[Entry] = []
        self.payloads: dict[bytes, bytes] = {}
        self.tree = MerkleTree()
        self._latest: dict[str, bytes] = {}

    @property
    def length(self) -> int:
        return len(self.entries)

    def append(self, entry: Entry, payload: bytes | None = None) -> int:
        if entry.kind == "put":
            if payload is None:
                raise LocalError("log.payload_missing", "a put entry needs its payload")
            self.payloads[entry.payload_hash or b""] = payload
        self.entries.append(entry)
        self._latest[entry.record_id] = entry.leaf_hash
        return self.tree.append(entry.leaf_hash)

    def put(self, record_id: str, body: dict[str, Any], timestamp: int) -> Entry:
        """Append a new version of ``record_id`` (links ``prev`` to our previous entry for it)."""
        payload, payload_hash = encode_payload(body)
        entry = Entry.put(record_id, payload_hash, timestamp, prev=self._latest.get(record_id))
        self.append(entry, payload)
        return entry

    def retract(self, record_id: str, reason: str, timestamp: int) -> Entry:
        entry = Entry.retract(record_id, reason, timestamp, prev=self._latest.get(record_id))
        self.append(entry)
        return entry

    def sign(self, key: SigningKey, timestamp: int) -> SignedHead:
        if key.public != self.publisher:
            raise LocalError("log.wrong_key", "key does not own this log")
        return sign_head(key, self.dataset_id, self.length, self.tree.root(), timestamp)

    def log_entries(self, start: int = 0, end: int | None = None) -> list[LogEntry]:
        end = self.length if end is None else end
        out = []
        for index in range(start, end):
            entry = self.entries[index]
            payload = self.payloads.get(entry.payload_hash or b"")
            body = decode_payload(payload) if payload is not None else None
            out.append(LogEntry(self.publisher, index, entry, body))
        return out


@dataclass(frozen=True, slots=True)
class VerifiedRange:
    """Result of :func:`verify_range`: the new frontier and the completed subtree nodes."""

    frontier: Frontier
    nodes: list[tuple[int, int, bytes]]
    leaf_hashes: list[bytes]


def verify_range(frontier: Frontier, headers: Sequence[bytes], head: SignedHead,
                 dataset_id: bytes) -> VerifiedRange:
    """Verify that ``headers`` extend the log held up to ``frontier`` to exactly ``head``.

    Checks the head's signature and dataset, the length, and the recomputed root. Decoding and
    schema checks of each header are the caller's concern (they happen as headers are parsed).
    Raises :class:`ProofError` (codes ``range.*``) or the signature error; never mutates
    ``frontier``.
    """
    head.verify(dataset_id)
    if frontier.size + len(headers) != head.length:
        raise ProofError("range.length", f"{frontier.size} held + {len(headers)} received != "
                         f"head length {head.length}")
    leaves = hash_leaves(headers)
    extended = frontier.copy()
    nodes = extended.extend(leaves)
    if extended.root() != head.root:
        raise ProofError("range.root", "received entries do not hash to the signed root")
    return VerifiedRange(extended, nodes, leaves)


def verify_prefix(frontier: Frontier, headers: Sequence[bytes], head: SignedHead,
                  proof: Sequence[bytes], dataset_id: bytes) -> VerifiedRange:
    """Verify ``headers`` extend our log to a *prefix* of the log that ``head`` signs.

    With k = held + received, the root at k is computed from the frontier and the received
    leaves; ``proof`` must be a consistency proof from (k, that root) to the signed head. When
    k equals the head's length this is :func:`verify_range` (and ``proof`` must be empty). This
    is what lets a sync commit a long transfer chunk by chunk, each chunk verified on its own
    (spec §11). Raises :class:`ProofError` or the signature error; never mutates ``frontier``.
    """
    head.verify(dataset_id)
    size = frontier.size + len(headers)
    if size > head.length:
        raise ProofError("range.length", f"{size} entries exceed head length {head.length}")
    if size == head.length:
        if proof:
            raise ProofError("range.proof", "a range that reaches its head needs no proof")
        return verify_range(frontier, headers, head, dataset_id)
    leaves = hash_leaves(headers)
    extended = frontier.copy()
    nodes = extended.extend(leaves)
    try:
        verify_consistency(size, extended.root(), head.length, head.root, proof)
    except ProofError as exc:
        raise ProofError("range.root", "received entries are not a prefix of the signed "
                         f"log: {exc.message}") from exc
    return VerifiedRange(extended, nodes, leaves)
