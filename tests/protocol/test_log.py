"""Publisher log and verification of received ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol.errors import ProofError, SignatureError
from samizdat_protocol.log import PublisherLog, verify_range
from samizdat_protocol.merkle import Frontier
from samizdat_protocol.signing import SigningKey

KEY = SigningKey.from_seed(b"\x21" * 32)
DATASET = b"\xaa" * 32


def build(n: int) -> PublisherLog:
    log = PublisherLog(DATASET, KEY.public)
    for i in range(n):
        log.put(f"memo2007:{i % 7}", {"surname": f"Иванов{i}"}, 1000 + i)
    return log


@given(st.integers(0, 30), st.integers(0, 30))
def test_ranges_verify_in_pieces(first: int, second: int) -> None:
    log = build(first + second)
    head_a = log.sign(KEY, 1)
    headers = [e.to_bytes() for e in log.entries]
    frontier = Frontier.empty()
    if first:
        head_first = PublisherLog(DATASET, KEY.public)
        for e in log.entries[:first]:
            head_first.append(e, log.payloads.get(e.payload_hash or b""))
        first_head = head_first.sign(KEY, 1)
        frontier = verify_range(frontier, headers[:first], first_head, DATASET).frontier
    result = verify_range(frontier, headers[first:], head_a, DATASET)
    assert result.frontier.root() == head_a.root
    assert result.frontier.size == first + second


def test_prev_links_versions_of_a_record() -> None:
    log = build(8)
    assert log.entries[7].prev == log.entries[0].leaf_hash
    assert log.entries[0].prev is None


@given(st.integers(1, 20), st.data())
def test_tampered_or_reordered_range_rejected(n: int, data: st.DataObject) -> None:
    log = build(n)
    head = log.sign(KEY, 1)
    headers = [e.to_bytes() for e in log.entries]
    choice = data.draw(st.sampled_from(["drop", "swap", "flip", "extra"]))
    if choice == "drop":
        headers.pop(data.draw(st.integers(0, n - 1)))
    elif choice == "swap" and n > 1:
        i = data.draw(st.integers(0, n - 2))
        if headers[i] == headers[i + 1]:
            return
        headers[i], headers[i + 1] = headers[i + 1], headers[i]
    elif choice == "flip":
        i = data.draw(st.integers(0, n - 1))
        raw = bytearray(headers[i])
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1
        headers[i] = bytes(raw)
    else:
        headers.append(headers[0])
    if choice == "swap" and n == 1:
        return
    with pytest.raises(ProofError):
        verify_range(Frontier.empty(), headers, head, DATASET)


def test_head_signed_by_another_key_rejected() -> None:
    log = build(3)
    head = log.sign(KEY, 1)
    forged = type(head)(head.dataset_id, SigningKey.from_seed(b"\x22" * 32).public, head.length,
                        head.root, head.timestamp, head.signature)
    with pytest.raises(SignatureError):
        verify_range(Frontier.empty(), [e.to_bytes() for e in log.entries], forged, DATASET)


@given(st.integers(0, 25), st.integers(1, 25), st.integers(0, 25))
def test_chunks_verify_as_prefixes_of_a_later_head(held: int, chunk: int, rest: int) -> None:
    from samizdat_protocol.log import verify_prefix

    log = build(held + chunk + rest)
    head = log.sign(KEY, 1)
    headers = [e.to_bytes() for e in log.entries]
    frontier = Frontier.empty()
    frontier.extend(log.tree.subtree_hash(0, i) for i in range(held))
    end = held + chunk
    proof = log.tree.consistency_proof(end, head.length) if rest else []
    result = verify_prefix(frontier, headers[held:end], head, proof, DATASET)
    assert result.frontier.size == end and result.frontier.root() == log.tree.root(end)
    if rest:
        # a forged chunk (one header swapped for another entry) fails against the same proof
        forged = list(headers[held:end])
        forged[-1] = headers[end]
        with pytest.raises(ProofError):
            verify_prefix(frontier, forged, head, proof, DATASET)
        with pytest.raises(ProofError):
            verify_prefix(frontier, headers[held:end], head, [], DATASET)
