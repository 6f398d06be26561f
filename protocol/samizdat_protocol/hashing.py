"""BLAKE2b-256 with one personalisation (domain tag) per purpose (design §2).

A hash computed for one purpose can never be confused with a hash for another: a Merkle leaf
is not a node, a payload is not a charter. Tags are at most 16 bytes (BLAKE2b's limit) and are
part of the protocol: changing one is a wire change (see docs/protocol-spec.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = [
    "CHARTER",
    "DIGEST_SIZE",
    "EMPTY_TREE_ROOT",
    "GOVERNANCE",
    "GOVSET",
    "HEAD",
    "LEAF",
    "NODE",
    "PAYLOAD",
    "hash_charter",
    "hash_head",
    "hash_leaf",
    "hash_leaves",
    "hash_node",
    "hash_payload",
    "tagged_hash",
]

DIGEST_SIZE = 32

LEAF = b"samizdat/leaf"
NODE = b"samizdat/node"
PAYLOAD = b"samizdat/payload"
CHARTER = b"samizdat/charter"
HEAD = b"samizdat/head"
GOVERNANCE = b"samizdat/gov"
GOVSET = b"samizdat/govset"

# Pre-keyed states: copying one is about twice as fast as building a new hasher per call,
# which matters when verifying millions of leaves (design §8 target).
_TEMPLATES = {
    tag: hashlib.blake2b(digest_size=DIGEST_SIZE, person=tag)
    for tag in (LEAF, NODE, PAYLOAD, CHARTER, HEAD, GOVERNANCE, GOVSET)
}


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    """BLAKE2b-256 of ``data`` personalised with ``tag`` (one of this module's constants)."""
    h = _TEMPLATES[tag].copy()
    h.update(data)
    return h.digest()


_LEAF_T = _TEMPLATES[LEAF]
_NODE_T = _TEMPLATES[NODE]


def hash_leaf(entry_bytes: bytes) -> bytes:
    """Merkle leaf hash of one canonical entry header."""
    h = _LEAF_T.copy()
    h.update(entry_bytes)
    return h.digest()


def hash_leaves(entries: Iterable[bytes]) -> list[bytes]:
    """Leaf hashes of many entry headers (a tight loop for bulk verification)."""
    copy = _LEAF_T.copy
    out = []
    for data in entries:
        h = copy()
        h.update(data)
        out.append(h.digest())
    return out


def hash_node(left: bytes, right: bytes) -> bytes:
    """Merkle interior node hash: H_node(left || right), as RFC 9162 §2.1.1 with 0x01 as a tag."""
    h = _NODE_T.copy()
    h.update(left)
    h.update(right)
    return h.digest()


def hash_payload(payload: bytes) -> bytes:
    return tagged_hash(PAYLOAD, payload)


def hash_charter(charter_body: bytes) -> bytes:
    return tagged_hash(CHARTER, charter_body)


def hash_head(head_bytes: bytes) -> bytes:
    return tagged_hash(HEAD, head_bytes)


# RFC 9162 defines the empty tree's hash as HASH(""); we personalise it as a node.
EMPTY_TREE_ROOT = tagged_hash(NODE, b"")
