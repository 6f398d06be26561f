"""Golden vectors of the core, checked both ways: we produce them, and we accept them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from samizdat_protocol import hashing, signing
from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.entries import Entry, decode_payload
from samizdat_protocol.heads import SignedHead
from tests.vectors.make_core_vectors import PATH, PUBLISHER, build, charter, from_json

STORED: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("section", sorted(STORED))
def test_we_still_produce_the_stored_vectors(section: str) -> None:
    assert build()[section] == STORED[section]


def test_stored_encodings_decode_to_their_values() -> None:
    for case in STORED["encoding"]:
        raw = bytes.fromhex(case["hex"])
        assert decode(raw) == from_json(case["value"])
        assert encode(decode(raw)) == raw


def test_stored_hashes() -> None:
    for case in STORED["hashing"]:
        if case["tag"] == "empty-tree":
            assert hashing.EMPTY_TREE_ROOT.hex() == case["digest"]
            continue
        digest = hashing.tagged_hash(case["tag"].encode(), bytes.fromhex(case["input"]))
        assert digest.hex() == case["digest"]


def test_stored_signature_verifies() -> None:
    sig = STORED["signature"]
    signing.verify(bytes.fromhex(sig["public"]), bytes.fromhex(sig["domain"]),
                   bytes.fromhex(sig["message"]), bytes.fromhex(sig["signature"]))


def test_stored_entries_payload_head_and_charter_parse() -> None:
    payload = bytes.fromhex(STORED["payload"]["hex"])
    assert decode_payload(payload, bytes.fromhex(STORED["payload"]["hash"]))["surname"] == "Иванов"
    for case in STORED["entries"].values():
        entry = Entry.from_bytes(bytes.fromhex(case["hex"]))
        assert entry.leaf_hash.hex() == case["leaf"]
    signed = SignedCharter.from_bytes(bytes.fromhex(STORED["charter"]["signed"]))
    signed.verify()
    assert signed.dataset_id.hex() == STORED["charter"]["dataset_id"] == charter().dataset_id.hex()
    head = SignedHead.from_bytes(bytes.fromhex(STORED["head"]["hex"]))
    head.verify(signed.dataset_id)
    assert head.head_id.hex() == STORED["head"]["head_id"]


def test_stored_key_files_open() -> None:
    files = STORED["keyfile"]
    assert signing.open_key(bytes.fromhex(files["plain"]), None) == PUBLISHER
    sealed = bytes.fromhex(files["sealed"])
    assert signing.open_key(sealed, files["passphrase"].encode()) == PUBLISHER
