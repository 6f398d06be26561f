"""Governance on the catch-up wire and in gossip (spec §11-§13): the hello's digest, the
``gov_get``/``gov`` messages, the gossip ``governance`` message, and the client's governance
phase, paired in memory with a reference server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol.encoding import encode
from samizdat_protocol.errors import LocalError, RemoteError
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.heads import EquivocationProof, find_equivocation
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.signing import SigningKey
from samizdat_protocol.sync import (
    ApplyGovernance,
    CatchUpClient,
    CatchUpServer,
    ClientState,
    Finished,
    SendMessage,
    ServeGovernance,
    ServeRange,
    SyncError,
)
from samizdat_protocol.wire import (
    EMPTY_GOVERNANCE,
    MAX_GOV_ITEMS,
    Chunk,
    ErrorReply,
    GetRange,
    GossipGovernance,
    GovGet,
    GovReply,
    Hello,
    decode_gossip,
    decode_message,
    encode_message,
    governance_digest,
)

DATASET = b"\x5b" * 32
FOUNDERS = [SigningKey.from_seed(bytes([60 + i]) * 32) for i in range(3)]
PUBLISHER = SigningKey.from_seed(b"\x46" * 32)
NEW_KEYS = [SigningKey.from_seed(bytes([70 + i]) * 32) for i in range(8)]


def decision(seq: int, signers: tuple[int, ...] = (0, 1)) -> GovernanceEntry:
    entry = propose(DATASET, seq, "add_publisher",
                    {"key": NEW_KEYS[seq % len(NEW_KEYS)].public, "name": f"org {seq}"}, seq)
    for n in signers:
        entry = entry.sign(FOUNDERS[n])
    return entry


def fork(length: int, variant: int = 0) -> EquivocationProof:
    """A proof that PUBLISHER signed two logs of ``length`` entries (``variant`` varies them)."""
    a, b = PublisherLog(DATASET, PUBLISHER.public), PublisherLog(DATASET, PUBLISHER.public)
    for n in range(length):
        a.put(f"r:{n}", {"surname": "A"}, n)
        b.put(f"r:{n}", {"surname": f"B{variant}"}, n)
    proof = find_equivocation(a.sign(PUBLISHER, 1), b.sign(PUBLISHER, 2))
    assert proof is not None
    return proof


ENTRIES = [decision(seq, signers) for seq, signers in
           ((1, (0,)), (1, (1,)), (2, (0, 1)), (3, (2,)), (4, (0, 2)))]
PROOFS = [fork(1), fork(2), fork(2, 1)]


# -- the digest -----------------------------------------------------------------------------


@given(st.lists(st.sampled_from(range(len(ENTRIES))), max_size=8),
       st.lists(st.sampled_from(range(len(PROOFS))), max_size=5), st.randoms())
def test_digest_ignores_order_and_duplicates(picked: list[int], proofs: list[int],
                                             rng: object) -> None:
    entries = [ENTRIES[n] for n in picked]
    chosen = [PROOFS[n] for n in proofs]
    shuffled_entries, shuffled_proofs = list(entries) * 2, list(chosen) * 2
    rng.shuffle(shuffled_entries)  # type: ignore[attr-defined]
    rng.shuffle(shuffled_proofs)  # type: ignore[attr-defined]
    assert governance_digest(entries, chosen) == \
        governance_digest(shuffled_entries, shuffled_proofs)


def test_digest_counts_signers_not_copies() -> None:
    one, two = decision(7, (0,)), decision(7, (1,))
    both = decision(7, (0, 1))
    # Copies of one decision merge their signers (spec §13): the digest says so.
    assert governance_digest([one, two], []) == governance_digest([both], [])
    assert governance_digest([one], []) != governance_digest([both], [])
    assert governance_digest([], []) == EMPTY_GOVERNANCE
    assert governance_digest([], [PROOFS[0]]) != EMPTY_GOVERNANCE
    # Two proofs over the same pair of heads are one proof.
    flipped = EquivocationProof(PROOFS[0].longer, PROOFS[0].shorter)
    assert governance_digest([], [flipped]) == governance_digest([], [PROOFS[0]])


# -- messages -------------------------------------------------------------------------------


@given(st.lists(st.sampled_from(ENTRIES), max_size=5),
       st.lists(st.sampled_from(PROOFS), max_size=3), st.booleans(),
       st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_messages_round_trip(entries: list[GovernanceEntry], proofs: list[EquivocationProof],
                             more: bool, request_id: int, offset: int) -> None:
    more = more and bool(entries or proofs)
    reply = GovReply(request_id, tuple(entries), tuple(proofs), more)
    got = decode_message(encode_message(reply))
    assert isinstance(got, GovReply) and encode_message(got) == encode_message(reply)
    assert got.entries == reply.entries and got.more == more
    assert [p.to_bytes() for p in got.proofs] == [p.to_bytes() for p in proofs]
    assert decode_message(encode_message(GovGet(request_id, offset))) == \
        GovGet(request_id, offset)
    hello = Hello(DATASET, (), ("/ip4/127.0.0.1/tcp/1",), governance_digest(entries, proofs))
    assert decode_message(encode_message(hello)) == hello
    for entry in entries:
        assert decode_gossip(encode_message(GossipGovernance(entry))) == \
            GossipGovernance(entry)


def _hello_map() -> dict[str, object]:
    return Hello(DATASET, (), (), EMPTY_GOVERNANCE).to_map()


def _gov_map() -> dict[str, object]:
    return GovReply(3, (ENTRIES[0],), (PROOFS[0],), True).to_map()


def _without(body: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize("body", [
    _without(_hello_map(), "gov"),  # a hello is strictly checked: gov is required
    _hello_map() | {"gov": b"\x00" * 31},
    _hello_map() | {"extra": 1},
    {"t": "gov_get", "id": 1},
    {"t": "gov_get", "id": 1, "offset": -1},
    {"t": "gov_get", "id": 1, "offset": 2**32},
    {"t": "gov_get", "id": "1", "offset": 0},
    _gov_map() | {"more": 1},
    _gov_map() | {"entries": [b"\x80"]},  # not a signed entry
    _gov_map() | {"entries": ["text"]},
    _gov_map() | {"entries": b""},
    _gov_map() | {"proofs": [ENTRIES[0].to_bytes()]},  # an entry where a proof belongs
    _gov_map() | {"entries": [], "proofs": [], "more": True},  # an empty page promising more
    _gov_map() | {"entries": [ENTRIES[0].to_bytes()] * (MAX_GOV_ITEMS + 1)},
    _without(_gov_map(), "proofs"),
    _gov_map() | {"id": None},
])
def test_malformed_stream_messages_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(RemoteError) as err:
        decode_message(encode(body))
    assert err.value.code.startswith(("wire.", "decode."))


def test_malformed_gossip_governance_is_refused() -> None:
    good = GossipGovernance(ENTRIES[2]).to_map()
    bad = bytearray(ENTRIES[2].to_bytes())
    bad[-1] ^= 1  # the last signature byte: still well-formed, so it decodes
    assert decode_gossip(encode(good | {"entry": bytes(bad)}))
    for body in (good | {"entry": b"\x81"}, good | {"entry": "x"}, _without(good, "entry"),
                 good | {"entry": ENTRIES[2].to_bytes(), "more": True}):
        with pytest.raises(RemoteError):
            decode_gossip(encode(body))
    # Bigger than gossip carries (16 KiB): such an entry travels by catch-up only.
    big = propose(DATASET, 9, "set_priorities",
                  {"order": [bytes([n % 256, n // 256]) * 16 for n in range(600)]}, 0)
    assert len(big.to_bytes()) > 16 * 1024
    with pytest.raises(RemoteError):
        decode_gossip(encode_message(GossipGovernance(big)))
    assert decode_message(encode_message(GovReply(1, (big,), ()))).entries == (big,)


# -- the client's governance phase ----------------------------------------------------------


def _client(gov: bytes = EMPTY_GOVERNANCE) -> CatchUpClient:
    client = CatchUpClient(DATASET, {}, accept=lambda head: False, gov=gov)
    (hello,) = client.start()
    assert isinstance(hello, SendMessage) and isinstance(hello.message, Hello)
    assert hello.message.gov == gov
    return client


def _heads_of(length: int) -> tuple[PublisherLog, Hello]:
    log = PublisherLog(DATASET, NEW_KEYS[2].public)
    for n in range(length):
        log.put(f"r:{n}", {"surname": "N"}, n)
    return log, Hello(DATASET, (log.sign(NEW_KEYS[2], 5),), (), governance_digest(ENTRIES, []))


def test_equal_digests_skip_governance() -> None:
    client = _client(governance_digest(ENTRIES, []))
    _, hello = _heads_of(3)
    actions = client.receive(hello)
    assert [type(a) for a in actions] == [Finished] and client.gov_items == 0


def test_governance_pages_come_before_ranges_and_decide_them() -> None:
    client = _client()
    log, hello = _heads_of(3)
    (ask,) = client.receive(hello)
    assert client.state == ClientState.GOVERNANCE
    assert isinstance(ask, SendMessage) and ask.message == GovGet(1, 0)
    (page,) = client.receive(GovReply(1, tuple(ENTRIES[:2]), (), True))
    assert isinstance(page, ApplyGovernance) and page.more and page.entries == tuple(ENTRIES[:2])
    (ask,) = client.governance_applied()
    assert isinstance(ask, SendMessage) and ask.message == GovGet(2, 2)  # ids shared, offset
    (page,) = client.receive(GovReply(2, tuple(ENTRIES[2:]), tuple(PROOFS), False))
    assert isinstance(page, ApplyGovernance) and not page.more
    # The last page applied: the key it added is now accepted, so its log is asked for.
    actions = client.governance_applied({}, lambda head: head.publisher == log.publisher)
    assert client.state == ClientState.SYNCING and client.gov_items == len(ENTRIES) + 3
    assert [a.message for a in actions if isinstance(a, SendMessage)] == \
        [GetRange(3, log.publisher, 0, 3)]


@pytest.mark.parametrize(("message", "code"), [
    (GovReply(9, (ENTRIES[0],), ()), "sync.unknown_request"),
    (Chunk(1, 0, (b"\x80",), (None,), _heads_of(1)[1].heads[0], ()), "sync.unexpected"),
    (ErrorReply(1, "sync.busy", "later"), "sync.peer_error"),
    (Hello(DATASET, ()), "sync.unexpected"),
])
def test_violations_while_reading_governance(message: object, code: str) -> None:
    client = _client()
    client.receive(_heads_of(2)[1])
    with pytest.raises(SyncError) as err:
        client.receive(message)
    assert err.value.code == code and client.state == ClientState.FAILED


def test_a_page_must_be_applied_before_the_next_and_the_total_is_bounded() -> None:
    client = _client()
    client.receive(_heads_of(2)[1])
    with pytest.raises(LocalError):
        client.governance_applied()
    client.receive(GovReply(1, (ENTRIES[0],), (), True))
    with pytest.raises(SyncError) as err:  # a second page before the first was applied
        client.receive(GovReply(1, (ENTRIES[1],), (), False))
    assert err.value.code == "sync.unknown_request"

    small = CatchUpClient(DATASET, {}, gov=EMPTY_GOVERNANCE, max_gov_items=3)
    small.start()
    small.receive(_heads_of(2)[1])
    small.receive(GovReply(1, tuple(ENTRIES[:2]), (), True))
    small.governance_applied()
    with pytest.raises(SyncError) as err:
        small.receive(GovReply(2, tuple(ENTRIES[2:4]), (), True))
    assert err.value.code == "sync.too_much_governance"


def test_server_answers_gov_get_and_counts_it_as_a_request() -> None:
    digest = governance_digest(ENTRIES, PROOFS)
    server = CatchUpServer(DATASET, (), gov=digest, max_requests=2)
    (hello,) = server.receive(Hello(DATASET, ()))
    assert isinstance(hello, SendMessage) and isinstance(hello.message, Hello)
    assert hello.message.gov == digest
    assert server.receive(GovGet(1, 0)) == [ServeGovernance(GovGet(1, 0))]
    assert isinstance(server.receive(GetRange(2, PUBLISHER.public, 0, 1))[0], ServeRange)
    with pytest.raises(SyncError) as err:
        server.receive(GovGet(3, 5))
    assert err.value.code == "sync.too_many_requests"
    with pytest.raises(SyncError):
        CatchUpServer(DATASET, ()).receive(GovGet(1, 0))  # before the hello


@given(st.integers(0, len(ENTRIES) + len(PROOFS)), st.integers(1, 4))
def test_paired_with_a_reference_server_every_item_arrives_once(skip: int,
                                                                 page: int) -> None:
    """A server paging ``page`` items at a time: the client sees every item once, in order."""
    items: list[GovernanceEntry | EquivocationProof] = [*ENTRIES, *PROOFS]
    server = CatchUpServer(DATASET, (), gov=governance_digest(ENTRIES, PROOFS))
    client = CatchUpClient(DATASET, {}, gov=governance_digest(ENTRIES[:skip], []))
    to_server = [a.message for a in client.start() if isinstance(a, SendMessage)]
    received: list[GovernanceEntry | EquivocationProof] = []
    for _ in range(100):
        if not to_server:
            break
        for action in server.receive(decode_message(encode_message(to_server.pop(0)))):
            if isinstance(action, SendMessage):
                reply: object = action.message
            else:
                assert isinstance(action, ServeGovernance)
                start = action.request.offset
                chunk = items[start:start + page]
                reply = GovReply(action.request.request_id,
                                 tuple(i for i in chunk if isinstance(i, GovernanceEntry)),
                                 tuple(i for i in chunk if isinstance(i, EquivocationProof)),
                                 start + page < len(items))
            for out in client.receive(decode_message(encode_message(reply))):
                if isinstance(out, ApplyGovernance):
                    received += [*out.entries, *out.proofs]
                    out = client.governance_applied()[0]
                if isinstance(out, SendMessage):
                    to_server.append(out.message)
    assert client.state == ClientState.DONE
    assert [encode_message(GossipGovernance(i)) if isinstance(i, GovernanceEntry)
            else i.to_bytes() for i in received] == \
        [encode_message(GossipGovernance(i)) if isinstance(i, GovernanceEntry)
         else i.to_bytes() for i in items]
