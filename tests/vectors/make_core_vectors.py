"""Build the golden vectors of the core encodings (run to regenerate core.json).

`python -m tests.vectors.make_core_vectors` rewrites tests/vectors/core.json. Regenerating is a
wire change: bump the protocol version and update docs/protocol-spec.md in the same commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samizdat_protocol import hashing
from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.encoding import encode
from samizdat_protocol.entries import Entry, encode_payload
from samizdat_protocol.heads import sign_head
from samizdat_protocol.signing import DOMAIN_HEAD, SigningKey, seal_key

PATH = Path(__file__).with_name("core.json")

FOUNDER = SigningKey.from_seed(bytes(range(32)))
PUBLISHER = SigningKey.from_seed(bytes(range(32, 64)))


def to_json(value: Any) -> Any:
    """Tagged JSON for msgpack values: bytes become {"bin": hex}."""
    if isinstance(value, bytes):
        return {"bin": value.hex()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {"map": [[k, to_json(v)] for k, v in value.items()]}
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict) and "bin" in value:
        return bytes.fromhex(value["bin"])
    if isinstance(value, dict) and "map" in value:
        return {k: from_json(v) for k, v in value["map"]}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


ENCODING_CASES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    127,
    128,
    255,
    256,
    65535,
    65536,
    2**32,
    2**64 - 1,
    -1,
    -32,
    -33,
    -129,
    -(2**63),
    "",
    "a",
    "Иванов",
    "ё" * 20,
    b"",
    b"\x00\xff",
    list(range(16)),
    {"b": 1, "a": 2, "aa": 3},
    {"surname": "Иванов", "birth": "1915", "executed": True},
]


def charter() -> Charter:
    return Charter(
        name="Жертвы политического террора в СССР (test vector)",
        schema="memorial.victim/1",
        founders=(FOUNDER.public,),
        threshold=1,
        publishers=(PublisherGrant(PUBLISHER.public, "Memorial"),),
        created=1_700_000_000_000,
    )


def build() -> dict[str, Any]:
    payload, payload_hash = encode_payload({"surname": "Иванов", "name": "Иван", "birth": "1915"})
    put = Entry.put("memo2007:1", payload_hash, 1_700_000_000_000)
    entries = {
        "put": put,
        "put_prev": Entry.put("memo2007:1", payload_hash, 1_700_000_000_001, prev=put.leaf_hash),
        "retract": Entry.retract("memo2007:1", "duplicate record", 1_700_000_000_002),
        "erase": Entry.erase("memo2007:1", payload_hash, "safety", 1_700_000_000_003),
    }
    ch = charter()
    signed = SignedCharter(ch).sign(FOUNDER)
    head = sign_head(PUBLISHER, ch.dataset_id, 1, hashing.hash_leaf(put.to_bytes()), 1_700_000_000)
    return {
        "encoding": [{"value": to_json(v), "hex": encode(v).hex()} for v in ENCODING_CASES],
        "hashing": [
            {
                "tag": tag.decode(),
                "input": data.hex(),
                "digest": hashing.tagged_hash(tag, data).hex(),
            }
            for tag in (hashing.LEAF, hashing.NODE, hashing.PAYLOAD, hashing.CHARTER, hashing.HEAD)
            for data in (b"", b"samizdat")
        ]
        + [{"tag": "empty-tree", "input": "", "digest": hashing.EMPTY_TREE_ROOT.hex()}],
        "signature": {
            "seed": PUBLISHER.seed.hex(),
            "public": PUBLISHER.public.hex(),
            "domain": DOMAIN_HEAD.hex(),
            "message": b"samizdat".hex(),
            "signature": PUBLISHER.sign(DOMAIN_HEAD, b"samizdat").hex(),
        },
        "payload": {"hex": payload.hex(), "hash": payload_hash.hex()},
        "entries": {
            name: {"hex": e.to_bytes().hex(), "leaf": e.leaf_hash.hex()}
            for name, e in entries.items()
        },
        "charter": {
            "body": ch.body_bytes().hex(),
            "dataset_id": ch.dataset_id.hex(),
            "signed": signed.to_bytes().hex(),
        },
        "head": {"hex": head.to_bytes().hex(), "head_id": head.head_id.hex()},
        "keyfile": {
            "plain": seal_key(PUBLISHER, None).hex(),
            "sealed": seal_key(
                PUBLISHER, b"passphrase", salt=b"\x01" * 16, nonce=b"\x02" * 24, ops=1, mem=8192
            ).hex(),
            "passphrase": "passphrase",
        },
    }


if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PATH}")
