"""Light clients see governance (spec §13, §14): answers carry the governance entries and
equivocation proofs the server holds, and the client merges under the state they imply.

The store is built with the library, as tests/node/test_store_governance.py does: publisher A's
key is seized and signs retractions of everything and a forged put; two founders revoke A and
rotate it to B, who publishes a correction; OTHER is caught equivocating (suspended)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat_node.light import LightMessageError, LightVerifyError, fetch_record
from samizdat_node.light.evidence import collect_hits, collect_record, held_items, prove_hits
from samizdat_node.light.messages import (
    MAX_GOVERNANCE_ITEMS,
    ProvedEntry,
    ProvedHit,
    RecordAnswer,
    SearchAnswer,
    decode_response,
    encode_message,
)
from samizdat_node.light.verify import verify_record_answer, verify_search_answer
from samizdat_node.search.model import SearchQuery
from samizdat_node.store import AsyncStore, Store
from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.signing import SigningKey
from tests.integration.test_light import peers, same_view
from tests.node.test_store_governance import (
    CHARTER,
    F1,
    F2,
    F3,
    NOW,
    OTHER,
    A,
    B,
    C,
    a_log,
    decision,
    feed,
)
from tests.node.test_store_support import body

N = 10  # A's honest puts memo:0..9; the seized key's entries start at N


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("light-gov") / "store.sqlite"
    with Store.create(path, CHARTER, clock=lambda: NOW) as store:
        log = a_log(N)
        feed(store, log, A)
        for i in range(N):  # the seized key vandalises every record...
            log.retract(f"memo:{i}", "vandalism", 9000)
        log.put("memo:0", body(0, "-forged"), 9001)  # ...and forges one
        feed(store, log, A, N)
        other = PublisherLog(CHARTER.dataset_id, OTHER.public)
        other.put("memo:5", body(5, "-other"), 5)
        feed(store, other, OTHER)
        fork = PublisherLog(CHARTER.dataset_id, OTHER.public)
        fork.put("memo:5", body(5, "-fork"), 6)
        assert store.record_head(fork.sign(OTHER, 3)).status == "equivocation"
        root = log.tree.root(N)
        for entry in (decision(1, "revoke_publisher", {"key": A.public, "as_of": N,
                                                       "root": root}, F1, F2),
                      decision(2, "rotate_publisher", {"old": A.public, "new": B.public,
                                                       "as_of": N, "root": root}, F2, F3)):
            assert store.add_governance(entry.to_bytes()).applied
        store.publish(B, [("memo:3", body(3, "-by-B"))], NOW)
    return path


def record_answer(path: Path, record_id: str) -> tuple[RecordAnswer, Any]:
    with Store.open(path) as store:
        evidence = collect_record(store, record_id)
        assert evidence is not None
        return evidence.answer(held_items(store)), store.record(record_id)


def search_answer(path: Path, text: str) -> SearchAnswer:
    with Store.open(path) as store:
        page, hits = collect_hits(store, SearchQuery(text=text, include_retracted=True,
                                                     limit=50))
        return prove_hits(store, page, hits)


def test_the_rotated_key_counts_and_the_revoked_keys_vandalism_does_not(governed: Path) -> None:
    answer, replica = record_answer(governed, "memo:3")
    assert len(answer.governance) == 2 and len(answer.proofs) == 1
    verified = verify_record_answer(CHARTER, "memo:3", answer)
    assert same_view(verified.view, replica)  # the replica's own view, recomputed
    shown = verified.view.displayed
    assert shown is not None and shown.publisher == B.public
    assert shown.body == body(3, "-by-B") and not verified.view.retracted
    assert "ignored_revoked" in [h.status for h in verified.view.history]
    assert verified.publishers[B.public] == "A"  # B continues A's identity
    assert verified.state is not None and verified.state.publishers[A.public].state == "rotated"
    # memo:0: the seized key's retraction and forged put are both set aside.
    answer, replica = record_answer(governed, "memo:0")
    verified = verify_record_answer(CHARTER, "memo:0", answer)
    assert same_view(verified.view, replica) and not verified.view.retracted
    assert verified.view.displayed is not None
    assert verified.view.displayed.body == body(0)
    # memo:5: the suspended key's version no longer counts (A's, frozen at N, stands).
    answer, replica = record_answer(governed, "memo:5")
    verified = verify_record_answer(CHARTER, "memo:5", answer)
    assert same_view(verified.view, replica) and verified.view.alternatives == ()
    assert verified.state is not None and OTHER.public in verified.state.suspended


def against_heads(path: Path, items: tuple[ProvedEntry, ...]) -> tuple[ProvedEntry, ...]:
    """The entries proven against their publishers' heads, as a server withholding the
    governance (and so the pins, spec §14) would send them."""
    with Store.open(path) as store:
        out = []
        for item in items:
            head = store.head(item.publisher)
            assert head is not None
            out.append(replace(item, proof=tuple(store.inclusion_proof(
                item.publisher, item.index, head.length))))
        return tuple(out)


def test_withheld_governance_leaves_the_charters_state(governed: Path) -> None:
    """The completeness limit of §14: without the decisions the client sees what a replica
    holding none sees — the rotated-to key is unknown, the vandalism counts."""
    answer, _ = record_answer(governed, "memo:3")
    with pytest.raises(LightVerifyError) as caught:
        verify_record_answer(CHARTER, "memo:3", replace(
            answer, governance=(), entries=against_heads(governed, answer.entries)))
    assert caught.value.code == "light.unauthorised_head"
    answer, _ = record_answer(governed, "memo:4")
    withheld = replace(answer, governance=(), proofs=(),
                       entries=against_heads(governed, answer.entries))
    stale = verify_record_answer(CHARTER, "memo:4", withheld)
    assert stale.view.retracted


def test_entries_below_a_pin_are_proven_against_the_pinned_root(governed: Path) -> None:
    """A's honest entries below the revocation are proven to the root the founders pinned,
    not to a head the seized key signed later: a proof to A's head is refused."""
    answer, _ = record_answer(governed, "memo:4")
    assert any(item.publisher == A.public and item.index < N for item in answer.entries)
    verify_record_answer(CHARTER, "memo:4", answer)
    with pytest.raises(LightVerifyError) as caught:
        verify_record_answer(CHARTER, "memo:4",
                             replace(answer, entries=against_heads(governed, answer.entries)))
    assert caught.value.code == "light.bad_inclusion" and "pinned" in caught.value.message


STRANGER = SigningKey.from_seed(b"\x5b" * 32)


def test_forged_governance_is_ignored(governed: Path) -> None:
    """A decision not signed by the founders' threshold changes nothing: the state function
    rejects it, as for a replica (which refuses to store it). Ignored rather than refused,
    so an honest server holding a decision founders are still signing stays usable."""
    answer, replica = record_answer(governed, "memo:4")
    forged = [decision(3, "rotate_publisher", {"old": B.public, "new": C.public, "as_of": 0,
                                               "root": b"\x00" * 32}, STRANGER, OTHER),
              decision(3, "add_publisher", {"key": STRANGER.public, "name": "x"}, F1)]
    # Forged signatures: F1's and F2's signature bytes under F3's and A's keys, on the real
    # revocation's body (same id: the copies merge their *valid* signatures only).
    real = answer.governance[0]
    sigs = dict(real.signatures)
    bad_sig = GovernanceEntry(real.body, tuple(sorted({F3.public: sigs[F1.public],
                                                       A.public: sigs[F2.public]}.items())))
    noisy = replace(answer, governance=(*answer.governance, *forged, bad_sig))
    verified = verify_record_answer(CHARTER, "memo:4", decode_record(encode_message(noisy)))
    assert same_view(verified.view, replica) and not verified.view.retracted
    assert verified.state is not None
    assert {r.code for r in verified.state.rejected} >= {"governance.threshold"}
    assert C.public not in verified.state.publishers
    assert STRANGER.public not in verified.state.publishers
    # A head of the key only the forged entry names stays unauthorised.
    head = sign_head(C, CHARTER.dataset_id, 1, b"\x00" * 32, 1)
    entry = replace(answer.entries[0], publisher=C.public)
    with pytest.raises(LightVerifyError) as caught:
        verify_record_answer(CHARTER, "memo:4", replace(
            noisy, heads=(*answer.heads, head), entries=(*answer.entries, entry)))
    assert caught.value.code == "light.unauthorised_head"


def decode_record(data: bytes) -> RecordAnswer:
    answer = decode_response(data)
    assert isinstance(answer, RecordAnswer)
    return answer


def test_search_hits_follow_the_state(governed: Path) -> None:
    search = search_answer(governed, "Иванов")
    assert search.governance and search.proofs
    hits = {h.record_id: h for h in verify_search_answer(CHARTER, search)}
    assert hits["memo:3"].publisher == B.public and not hits["memo:3"].retracted
    assert not hits["memo:4"].retracted
    # A peer pairing A's put with the seized key's retraction: the retraction is set aside.
    put = next(h for h in search.hits if h.record_id == "memo:4").entries[0]
    with Store.open(governed) as store:
        head = store.head(A.public)
        assert head is not None
        got = store.entries(A.public, N + 4, 1)
        retraction = replace(put, index=N + 4, header=got.headers[0], payload=None,
                             proof=tuple(store.inclusion_proof(A.public, N + 4, head.length)))
        forged_index = 2 * N
        got = store.entries(A.public, forged_index, 1)
        forged_put = replace(put, index=forged_index, header=got.headers[0],
                             payload=got.payloads[0],
                             proof=tuple(store.inclusion_proof(A.public, forged_index,
                                                               head.length)))
    paired = replace(search, hits=(ProvedHit("memo:4", (put, retraction)),))
    assert not verify_search_answer(CHARTER, paired)[0].retracted
    withheld = ProvedHit("memo:4", against_heads(governed, (put, retraction)))
    stale = verify_search_answer(CHARTER, replace(paired, hits=(withheld,), governance=(),
                                                  proofs=()))
    assert stale[0].retracted  # what the charter alone would show
    # A peer showing the seized key's forged put as a hit: refused.
    shown = replace(search, hits=(ProvedHit("memo:0", (forged_put,)),))
    with pytest.raises(LightVerifyError) as caught:
        verify_search_answer(CHARTER, shown)
    assert caught.value.code == "light.bad_hit"


@pytest.fixture(scope="module")
def memo3(governed: Path) -> tuple[RecordAnswer, Any]:
    return record_answer(governed, "memo:3")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_governance_order_and_duplicates_change_nothing(memo3: tuple[RecordAnswer, Any],
                                                        data: Any) -> None:
    """Law: any ordering of the items, with duplicates, round-trips and verifies to the same
    view (the state is a function of the set, spec §13)."""
    answer, replica = memo3
    entries = data.draw(st.permutations([*answer.governance, *answer.governance[:1]]))
    proofs = data.draw(st.permutations([*answer.proofs] * data.draw(st.integers(1, 3))))
    shuffled = replace(answer, governance=tuple(entries), proofs=tuple(proofs))
    decoded = decode_record(encode_message(shuffled))
    assert decoded == shuffled
    assert same_view(verify_record_answer(CHARTER, "memo:3", decoded).view, replica)


@pytest.mark.parametrize(("name", "value"), [
    ("governance", [1]),
    ("governance", [b"\x93\x01"]),
    ("governance", b"not a list"),
    ("governance", [b""] * (MAX_GOVERNANCE_ITEMS + 1)),
    ("proofs", [b"\x00" * 40]),
    ("proofs", ["text"]),
    ("proofs", None),
])
def test_malformed_governance_fields_are_refused(memo3: tuple[RecordAnswer, Any], name: str,
                                                 value: Any) -> None:
    for answer in (memo3[0], SearchAnswer((), (), False, True)):
        body = decode(encode_message(answer))
        assert isinstance(body, dict)
        with pytest.raises(LightMessageError) as caught:
            decode_response(encode({**body, name: value}))
        assert caught.value.code == "light.malformed"
        missing = {k: v for k, v in body.items() if k != name}
        with pytest.raises(LightMessageError):
            decode_response(encode(missing))


@pytest.mark.integration
async def test_a_light_client_over_libp2p_sees_the_rotation(governed: Path) -> None:
    _, replica = record_answer(governed, "memo:3")
    async with await AsyncStore.open(governed) as store, peers(store) as (client, addr):
        with trio.fail_after(30):
            record = await fetch_record(client, addr, "memo:3", CHARTER)
    assert same_view(record.view, replica)
    assert record.view.displayed is not None and record.view.displayed.publisher == B.public


async def test_the_gateway_checks_heads_against_the_state_in_force(governed: Path) -> None:
    """The gateway's own evidence check follows governance: B (A's rotated-in key) is a
    publisher, so B's version of memo:3 is checked and passes (not light.unauthorised_head)."""
    from samizdat_node.gateway.site import GatewaySettings, Site

    async with await AsyncStore.open(governed) as store:
        site = Site(store, GatewaySettings())
        found = await site.record("memo:3")
        assert found is not None
        evidence, checked = found
        from_b = [(item.publisher, item.index) for item in evidence.entries
                  if item.publisher == B.public]
        assert from_b and all(checked.errors[key] is None for key in from_b)
