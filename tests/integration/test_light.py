"""Light clients (spec §14): messages, verification with only the charter, and real peers over
libp2p on 127.0.0.1 — an honest one, and one that tampers with payloads, proofs or heads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from samizdat_node.gateway.ratelimit import RateLimit
from samizdat_node.gateway.sample_site import (
    FEATURED,
    FIRST,
    RETRACTED,
    RETRACTION_REASON,
    build_sample_store,
    sample_charter,
)
from samizdat_node.light import (
    LIGHT_PROTOCOL,
    LightMessageError,
    LightNotFound,
    LightPeerError,
    LightVerifyError,
    fetch_record,
    register_light_protocol,
    remote_search,
)
from samizdat_node.light.evidence import collect_hits, collect_record, prove_hits
from samizdat_node.light.messages import (
    GetRecord,
    LightError,
    ProvedEntry,
    RecordAnswer,
    SearchAnswer,
    SearchRequest,
    decode_request,
    decode_response,
    encode_message,
)
from samizdat_node.light.server import DEFAULT_LIGHT_RATE, answer_request
from samizdat_node.light.verify import verify_record_answer, verify_search_answer
from samizdat_node.p2p.framing import read_frame, write_frame
from samizdat_node.p2p.host import open_host
from samizdat_node.p2p.identity import Identity
from samizdat_node.p2p.serve import serve_protocol
from samizdat_node.search.model import SearchQuery
from samizdat_node.store import AsyncStore, Store
from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.encoding import encode
from samizdat_protocol.errors import RemoteError
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.merge import RecordView
from samizdat_protocol.signing import SigningKey

CHARTER = sample_charter()
STRANGER = SigningKey.from_seed(b"\x5a" * 32)
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("light") / "store.sqlite"
    build_sample_store(path, 150)
    return path


@pytest.fixture(scope="module")
def answers(sample_path: Path) -> dict[str, Any]:
    """Honest answers built from the store, and the store's own views to compare with."""
    with Store.open(sample_path) as store:
        featured = collect_record(store, FEATURED)
        retracted = collect_record(store, RETRACTED)
        page, hits = collect_hits(store, SearchQuery(text="Кожевников",
                                                     include_retracted=True))
        assert featured is not None and retracted is not None
        return {"featured": featured.answer(), "retracted": retracted.answer(),
                "featured_view": store.record(FEATURED),
                "search": prove_hits(store, page, hits)}


def same_view(a: RecordView, b: RecordView) -> bool:
    def shape(v: RecordView) -> Any:
        versions = [(x.publisher, x.index, x.body, x.erased)
                    for x in (v.displayed, *v.alternatives) if x]
        return (versions, v.retracted, [(r.publisher, r.index, r.reason) for r in v.retractions],
                [(h.publisher, h.index, h.status, h.erased) for h in v.history])
    return bool(shape(a) == shape(b))


# ------------------------------------------------------------------------------ messages


@given(text=st.text(max_size=50), year=st.one_of(st.none(), st.integers(1700, 2100)),
       tolerance=st.integers(0, 10), place=st.one_of(st.none(), st.text(max_size=30)),
       retracted=st.booleans(), limit=st.integers(1, 100), offset=st.integers(0, 1000))
def test_search_requests_round_trip(text: str, year: int | None, tolerance: int,
                                    place: str | None, retracted: bool, limit: int,
                                    offset: int) -> None:
    query = SearchQuery(text=text, birth_year=year, year_tolerance=tolerance, place=place,
                        include_retracted=retracted, limit=limit, offset=offset)
    request = SearchRequest(CHARTER.dataset_id, query)
    assert decode_request(encode_message(request)) == request


def test_answers_round_trip(answers: dict[str, Any]) -> None:
    for key in ("featured", "retracted", "search"):
        assert decode_response(encode_message(answers[key])) == answers[key]
    error = LightError("notfound.record", "none")
    assert decode_response(encode_message(error)) == error
    get = GetRecord(CHARTER.dataset_id, FEATURED)
    assert decode_request(encode_message(get)) == get


@pytest.mark.parametrize("body", [
    {"t": "get_record", "v": 1, "dataset": b"\x00" * 32, "record": "x", "extra": 1},
    {"t": "get_record", "v": 2, "dataset": b"\x00" * 32, "record": "x"},
    {"t": "get_record", "v": 1, "dataset": b"\x00" * 31, "record": "x"},
    {"t": "get_record", "v": 1, "dataset": b"\x00" * 32, "record": ""},
    {"t": "get_record", "v": 1, "dataset": b"\x00" * 32, "record": "x" * 201},
    {"t": "search", "v": 1, "dataset": b"\x00" * 32},
    {"t": "drop_tables", "v": 1},
    [1, 2, 3],
])
def test_malformed_requests_are_refused(body: Any) -> None:
    with pytest.raises(LightMessageError) as caught:
        decode_request(encode(body))
    assert caught.value.code in ("light.malformed", "light.version")


def test_non_canonical_and_oversized_requests_are_refused() -> None:
    good = encode_message(GetRecord(CHARTER.dataset_id, FEATURED))
    with pytest.raises(LightMessageError):
        decode_request(good + b"\x00")
    with pytest.raises(LightMessageError):
        decode_request(b"\x00" * 5000)


# -------------------------------------------------------------------------- verification


def test_an_honest_answer_verifies_to_the_replica_view(answers: dict[str, Any]) -> None:
    verified = verify_record_answer(CHARTER, FEATURED, answers["featured"])
    assert same_view(verified.view, answers["featured_view"])
    assert verified.view.displayed is not None
    assert verified.view.displayed.body is not None
    assert verified.view.displayed.body["arrest_date"] == "1939-05"
    assert len(verified.view.alternatives) == 1 and verified.withheld == ()
    assert len(verified.bodies) == 3  # both versions of the first publisher, one of the second
    first_put = verified.view.history[0]
    assert "rehabilitation_date" not in verified.bodies[(first_put.publisher, first_put.index)]
    retracted = verify_record_answer(CHARTER, RETRACTED, answers["retracted"])
    assert retracted.view.retracted
    assert retracted.view.retractions[0].reason == RETRACTION_REASON


def test_honest_search_hits_verify(answers: dict[str, Any]) -> None:
    hits = verify_search_answer(CHARTER, answers["search"])
    by_id = {h.record_id: h for h in hits}
    assert by_id[FEATURED].body is not None and not by_id[FEATURED].retracted
    assert by_id[FEATURED].publisher_name == "Мемориал (образец)"
    assert by_id[RETRACTED].retracted
    assert by_id[RETRACTED].retraction_reason == RETRACTION_REASON


def _first_with_payload(answer: RecordAnswer) -> int:
    return next(i for i, e in enumerate(answer.entries) if e.payload is not None)


def _swap_entry(answer: RecordAnswer, n: int, entry: ProvedEntry) -> RecordAnswer:
    entries = list(answer.entries)
    entries[n] = entry
    return replace(answer, entries=tuple(entries))


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def tamper_payload(answer: RecordAnswer, _: Any) -> RecordAnswer:
    n = _first_with_payload(answer)
    entry = answer.entries[n]
    assert entry.payload is not None
    return _swap_entry(answer, n, replace(entry, payload=_flip(entry.payload, 20)))


def tamper_proof(answer: RecordAnswer, _: Any) -> RecordAnswer:
    entry = answer.entries[0]
    return _swap_entry(answer, 0, replace(entry, proof=(_flip(entry.proof[0], 0),
                                                        *entry.proof[1:])))


def tamper_head(answer: RecordAnswer, _: Any) -> RecordAnswer:
    head = answer.heads[0]
    forged = SignedHead(head.dataset_id, head.publisher, head.length, head.root,
                        head.timestamp + 1, head.signature)
    return replace(answer, heads=(forged, *answer.heads[1:]))


def tamper_signer(answer: RecordAnswer, _: Any) -> RecordAnswer:
    """Re-sign a head with a key the charter does not know, claiming the entries are its."""
    old = answer.heads[0]
    forged = sign_head(STRANGER, old.dataset_id, old.length, old.root, old.timestamp)
    entries = tuple(replace(e, publisher=STRANGER.public) if e.publisher == old.publisher
                    else e for e in answer.entries)
    return replace(answer, heads=(forged, *answer.heads[1:]), entries=entries)


def tamper_record(answer: RecordAnswer, other: RecordAnswer) -> RecordAnswer:
    """Slip in a genuine, proved entry of another record."""
    return _swap_entry(answer, 0, other.entries[0])


def tamper_header(answer: RecordAnswer, _: Any) -> RecordAnswer:
    entry = answer.entries[0]
    return _swap_entry(answer, 0, replace(entry, header=_flip(entry.header, 10)))


def tamper_duplicate(answer: RecordAnswer, _: Any) -> RecordAnswer:
    return replace(answer, entries=(*answer.entries, answer.entries[0]))


def tamper_dataset(answer: RecordAnswer, _: Any) -> RecordAnswer:
    """A head validly signed by an authorised key, but for another dataset."""
    old = next(h for h in answer.heads if h.publisher == FIRST.public)
    forged = sign_head(FIRST, b"\x01" * 32, old.length, old.root, old.timestamp)
    return replace(answer, heads=tuple(forged if h is old else h for h in answer.heads))


TAMPERS: dict[str, tuple[Callable[[RecordAnswer, Any], RecordAnswer], str]] = {
    "payload": (tamper_payload, "light.payload_mismatch"),
    "proof": (tamper_proof, "light.bad_inclusion"),
    "head": (tamper_head, "light.bad_head"),
    "signer": (tamper_signer, "light.unauthorised_head"),
    "record": (tamper_record, "light.wrong_record"),
    "header": (tamper_header, "light.bad_inclusion"),
    "duplicate": (tamper_duplicate, "light.duplicate"),
    "dataset": (tamper_dataset, "light.bad_head"),
}


@pytest.mark.parametrize("mode", sorted(TAMPERS))
def test_each_kind_of_tampering_is_named(answers: dict[str, Any], mode: str) -> None:
    tamper, code = TAMPERS[mode]
    forged = tamper(answers["featured"], answers["retracted"])
    with pytest.raises(LightVerifyError) as caught:
        verify_record_answer(CHARTER, FEATURED, forged)
    assert caught.value.code == code


def test_a_withheld_payload_is_reported(answers: dict[str, Any]) -> None:
    answer: RecordAnswer = answers["featured"]
    n = _first_with_payload(answer)
    stripped = _swap_entry(answer, n, replace(answer.entries[n], payload=None))
    verified = verify_record_answer(CHARTER, FEATURED, stripped)
    entry = answer.entries[n]
    assert verified.withheld == ((entry.publisher, entry.index),)


def test_a_hit_must_start_with_a_put_and_its_payload(answers: dict[str, Any]) -> None:
    search: SearchAnswer = answers["search"]
    hit = next(h for h in search.hits if len(h.entries) == 2)
    bad = replace(search, hits=(replace(hit, entries=hit.entries[::-1]),))
    with pytest.raises(LightVerifyError) as caught:
        verify_search_answer(CHARTER, bad)
    assert caught.value.code == "light.bad_hit"
    put = hit.entries[0]
    flipped = replace(search, hits=(replace(hit, entries=(
        replace(put, payload=_flip(put.payload or b"", 30)),)),))
    with pytest.raises(LightVerifyError) as caught:
        verify_search_answer(CHARTER, flipped)
    assert caught.value.code == "light.payload_mismatch"


@settings(max_examples=150, deadline=None)
@given(data=st.data())
@example(data=None)
def test_any_flipped_byte_is_caught_or_changes_nothing(answers: dict[str, Any],
                                                       data: Any) -> None:
    encoded = encode_message(answers["featured"])
    at = data.draw(st.integers(0, len(encoded) - 1)) if data is not None else len(encoded) // 2
    bit = data.draw(st.integers(0, 7)) if data is not None else 0
    flipped = encoded[:at] + bytes([encoded[at] ^ (1 << bit)]) + encoded[at + 1:]
    try:
        answer = decode_response(flipped)
        assert isinstance(answer, RecordAnswer)
        verified = verify_record_answer(CHARTER, FEATURED, answer)
    except RemoteError:
        return
    assert same_view(verified.view, answers["featured_view"])


# --------------------------------------------------------------------- over libp2p


@asynccontextmanager
async def peers(store: AsyncStore, *, tamper: Callable[[bytes], bytes] | None = None,
                rate: RateLimit | None = None) -> AsyncIterator[tuple[Any, str]]:
    """A serving host (honest, or rewriting every answer with ``tamper``) and a client."""
    async with (open_host(Identity.generate(), LOOPBACK) as server,
                open_host(Identity.generate(), []) as client):
        if tamper is None:
            register_light_protocol(server, store, rate=rate or DEFAULT_LIGHT_RATE)
        else:
            async def handle(stream: Any) -> None:
                request = decode_request(await read_frame(stream, 4096, 10))
                reply = tamper(await answer_request(store, request))
                await write_frame(stream, reply, max_size=4 * 1024 * 1024, timeout=10)

            serve_protocol(server, LIGHT_PROTOCOL, handle)
        yield client, str(server.get_addrs()[0])


@pytest.mark.integration
async def test_an_honest_peer(sample_path: Path, answers: dict[str, Any]) -> None:
    async with await AsyncStore.open(sample_path) as store, peers(store) as (client, addr):
        with trio.fail_after(30):
            record = await fetch_record(client, addr, FEATURED, CHARTER)
            assert same_view(record.view, answers["featured_view"])
            assert record.peer and addr.endswith(record.peer)
            hits = await remote_search(client, addr, SearchQuery(text="Kozhevnikov Petr"),
                                       CHARTER)
            assert hits[0].record_id == FEATURED and hits[0].body is not None
            assert hits[0].body["arrest_date"] == "1939-05"
            with_retracted = await remote_search(client, addr, SearchQuery(
                text="Кожевников", include_retracted=True), CHARTER)
            assert any(h.retracted and h.record_id == RETRACTED for h in with_retracted)
            with pytest.raises(LightNotFound) as missing:
                await fetch_record(client, addr, "nobody:1", CHARTER)
            assert missing.value.code == "notfound.record"


def _other_charter() -> SignedCharter:
    founder = SigningKey.from_seed(b"\x33" * 32)
    charter = Charter(name="another", schema=CHARTER.charter.schema,
                      founders=(founder.public,), threshold=1,
                      publishers=(PublisherGrant(FIRST.public, "x"),), created=1)
    return SignedCharter(charter).sign(founder)


@pytest.mark.integration
async def test_a_peer_of_another_dataset_or_over_its_rate(sample_path: Path) -> None:
    async with (await AsyncStore.open(sample_path) as store,
                peers(store, rate=RateLimit(rate=0.01, burst=1.0)) as (client, addr)):
        with trio.fail_after(30):
            with pytest.raises(LightPeerError) as other:
                await fetch_record(client, addr, FEATURED, _other_charter())
            assert other.value.details["peer_code"] == "light.wrong_dataset"
            with pytest.raises(LightPeerError) as limited:
                await fetch_record(client, addr, FEATURED, CHARTER)
            assert limited.value.details["peer_code"] == "light.rate_limited"


def _rewrite(mode: str, other: RecordAnswer, data: bytes) -> bytes:
    if mode == "garbage":
        return b"\xc1" + data[1:]
    answer = decode_response(data)
    assert isinstance(answer, RecordAnswer)
    return encode_message(TAMPERS[mode][0](answer, other))


@pytest.mark.integration
@pytest.mark.parametrize(("mode", "code"), [
    ("payload", "light.payload_mismatch"), ("proof", "light.bad_inclusion"),
    ("head", "light.bad_head"), ("signer", "light.unauthorised_head"),
    ("garbage", "light.malformed"),
])
async def test_a_tampering_peer_is_caught(sample_path: Path, answers: dict[str, Any],
                                          mode: str, code: str) -> None:
    rewrite = partial(_rewrite, mode, answers["retracted"])
    async with (await AsyncStore.open(sample_path) as store,
                peers(store, tamper=rewrite) as (client, addr)):
        with trio.fail_after(30), pytest.raises(RemoteError) as caught:
            await fetch_record(client, addr, FEATURED, CHARTER)
    assert caught.value.code == code
    assert "publisher" in caught.value.details or mode == "garbage"
