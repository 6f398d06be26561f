"""Catch-up state machines paired in memory, and the wire messages (spec §11)."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol.errors import ProofError, RemoteError
from samizdat_protocol.log import PublisherLog, verify_prefix
from samizdat_protocol.merkle import Frontier
from samizdat_protocol.signing import SigningKey
from samizdat_protocol.sync import (
    CatchUpClient,
    CatchUpServer,
    ClientState,
    Finished,
    SendMessage,
    ServeRange,
    SyncError,
    VerifyChunk,
)
from samizdat_protocol.wire import (
    Chunk,
    Done,
    ErrorReply,
    GetRange,
    GossipHeads,
    Hello,
    decode_gossip,
    decode_message,
    encode_message,
)

DATASET = b"\x5a" * 32
KEYS = [SigningKey.from_seed(bytes([40 + i]) * 32) for i in range(3)]


def make_log(key: SigningKey, n: int, batch: int) -> tuple[PublisherLog, list]:
    log = PublisherLog(DATASET, key.public)
    heads = []
    for i in range(n):
        log.put(f"r:{i % 5}", {"surname": f"S{i}"}, i)
        if (i + 1) % batch == 0:
            heads.append(log.sign(key, i))
    if n % batch:
        heads.append(log.sign(key, n))
    return log, heads


def serve(log: PublisherLog, head_len: int, request: GetRange, chunk_size: int) -> list:
    """A reference server: chunks proved against the head of length ``head_len``."""
    out = []
    for start in range(request.start, request.end, chunk_size):
        end = min(request.end, start + chunk_size)
        entries = log.entries[start:end]
        head = log.sign(KEYS[[k.public for k in KEYS].index(log.publisher)], 0) \
            if head_len == log.length else None
        assert head is not None
        proof = log.tree.consistency_proof(end, head_len) if end < head_len else []
        out.append(Chunk(request.request_id, start, tuple(e.to_bytes() for e in entries),
                         tuple(log.payloads.get(e.payload_hash or b"") for e in entries),
                         head, tuple(proof)))
    out.append(Done(request.request_id))
    return out


def run_session(logs: dict[bytes, PublisherLog], held: dict[bytes, int],
                chunk_size: int, rng: random.Random, tamper: bool = False,
                frontiers: dict[bytes, Frontier] | None = None,
                tampered: list[int] | None = None) -> tuple[CatchUpClient, dict[bytes, Frontier]]:
    frontiers = {} if frontiers is None else frontiers
    for pub, n in held.items():
        f = Frontier.empty()
        f.extend(logs[pub].tree.subtree_hash(0, i) for i in range(n))
        frontiers[pub] = f
    heads = tuple(log.sign(KEYS[i], 0) for i, log in enumerate(logs.values()))
    server = CatchUpServer(DATASET, heads)
    client = CatchUpClient(DATASET, dict(held), max_in_flight=2, max_range=7)
    to_server = [a.message for a in client.start() if isinstance(a, SendMessage)]
    to_client: list = []
    steps = 0
    while (to_server or to_client) and steps < 10_000:
        steps += 1
        if to_server:
            msg = decode_message(encode_message(to_server.pop(0)))
            for action in server.receive(msg):
                if isinstance(action, SendMessage):
                    to_client.append(action.message)
                elif isinstance(action, ServeRange):
                    log = logs[action.request.publisher]
                    to_client.extend(serve(log, log.length, action.request, chunk_size))
            continue
        msg = to_client.pop(0)
        if tamper and isinstance(msg, Chunk) and rng.random() < 0.5:
            headers = list(msg.headers)
            raw = bytearray(headers[0])
            raw[rng.randrange(len(raw))] ^= 1
            headers[0] = bytes(raw)
            if tampered is not None:
                tampered.append(msg.start)
            msg = Chunk(msg.request_id, msg.start, tuple(headers), msg.payloads, msg.head,
                        msg.proof)
        msg = decode_message(encode_message(msg))
        for action in client.receive(msg):
            if isinstance(action, SendMessage):
                to_server.append(action.message)
            elif isinstance(action, VerifyChunk):
                pub = action.publisher
                f = frontiers.setdefault(pub, Frontier.empty())
                result = verify_prefix(f, action.chunk.headers, action.chunk.head,
                                       action.chunk.proof, DATASET)
                frontiers[pub] = result.frontier
                client.committed(pub, result.frontier.size, len(action.chunk.headers))
            elif isinstance(action, Finished):
                assert client.state == ClientState.DONE
    return client, frontiers


@given(st.lists(st.integers(0, 30), min_size=1, max_size=3), st.data(),
       st.integers(1, 9))
def test_client_converges_to_the_server(sizes: list[int], data: st.DataObject,
                                        chunk_size: int) -> None:
    logs = {}
    held = {}
    for i, n in enumerate(sizes):
        log, _ = make_log(KEYS[i], n, 4)
        logs[KEYS[i].public] = log
        held[KEYS[i].public] = data.draw(st.integers(0, n))
    client, frontiers = run_session(logs, held, chunk_size, random.Random(0))
    assert client.state == ClientState.DONE
    for pub, log in logs.items():
        assert frontiers[pub].size == log.length
        assert frontiers[pub].root() == log.tree.root()
    assert client.fetched == sum(log.length - held[p] for p, log in logs.items())


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_tampered_chunks_never_commit(n: int, seed: int) -> None:
    log, _ = make_log(KEYS[0], n, 4)
    frontiers: dict[bytes, Frontier] = {}
    tampered: list[int] = []
    try:
        run_session({KEYS[0].public: log}, {KEYS[0].public: 0}, 3, random.Random(seed),
                    tamper=True, frontiers=frontiers, tampered=tampered)
    except RemoteError as exc:
        assert isinstance(exc, ProofError) or exc.code.startswith(("entry.", "decode."))
        assert tampered, "an honest transfer failed"
    else:
        assert not tampered, "a tampered chunk was accepted"
    # whatever was committed is exactly a prefix of the honest log, never past a tampered chunk
    held = frontiers[KEYS[0].public]
    assert held.root() == log.tree.root(held.size)
    if tampered:
        assert held.size <= tampered[0]


def _client_after_hello(end: int = 5) -> CatchUpClient:
    log, _ = make_log(KEYS[0], end, 5)
    client = CatchUpClient(DATASET, {})
    client.start()
    actions = client.receive(Hello(DATASET, (log.sign(KEYS[0], 0),)))
    assert isinstance(actions[0], SendMessage)
    return client


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (Done(99), "sync.unknown_request"),
        (Done(1), "sync.truncated"),
        (ErrorReply(1, "store.busy", "later"), "sync.peer_error"),
        (GetRange(5, KEYS[0].public, 0, 1), "sync.unexpected"),
    ],
)
def test_protocol_violations_fail_the_session(message: object, code: str) -> None:
    client = _client_after_hello()
    with pytest.raises(SyncError) as err:
        client.receive(message)
    assert err.value.code == code
    assert client.state == ClientState.FAILED


def test_out_of_order_and_foreign_chunks_rejected() -> None:
    log, _ = make_log(KEYS[0], 5, 5)
    other, _ = make_log(KEYS[1], 5, 5)
    head = log.sign(KEYS[0], 0)
    entries = tuple(e.to_bytes() for e in log.entries)
    for chunk, code in (
        (Chunk(1, 2, entries[2:3], (None,), head, ()), "sync.out_of_order"),
        (Chunk(1, 0, entries[:1], (None,), other.sign(KEYS[1], 0), ()), "sync.wrong_head"),
    ):
        client = _client_after_hello()
        with pytest.raises(SyncError) as err:
            client.receive(chunk)
        assert err.value.code == code


def test_wrong_dataset_and_missing_hello() -> None:
    client = CatchUpClient(DATASET, {})
    client.start()
    with pytest.raises(SyncError):
        client.receive(Hello(b"\x00" * 32, ()))
    server = CatchUpServer(DATASET, ())
    with pytest.raises(SyncError):
        server.receive(GetRange(1, KEYS[0].public, 0, 1))


def test_only_accepted_publishers_are_requested() -> None:
    log, _ = make_log(KEYS[0], 5, 5)
    client = CatchUpClient(DATASET, {}, accept=lambda head: False)
    client.start()
    actions = client.receive(Hello(DATASET, (log.sign(KEYS[0], 0),)))
    assert len(actions) == 1 and isinstance(actions[0], Finished)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_typed_error(data: bytes) -> None:
    for decoder in (decode_message, decode_gossip):
        with contextlib.suppress(RemoteError):
            decoder(data)


def test_gossip_round_trip_and_limits() -> None:
    log, _ = make_log(KEYS[0], 3, 3)
    head = log.sign(KEYS[0], 0)
    message = GossipHeads((head,))
    assert decode_gossip(encode_message(message)) == message
    with pytest.raises(RemoteError):
        decode_gossip(encode_message(GossipHeads((head,) * 17)))
    with pytest.raises(RemoteError):
        decode_gossip(encode_message(Hello(DATASET, ())))
