"""Charter: dataset id, founder threshold, strict format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.errors import RemoteError, SchemaError, UnauthorisedError
from samizdat_protocol.signing import SigningKey

FOUNDERS = [SigningKey.from_seed(bytes([i]) * 32) for i in range(1, 4)]
PUBLISHER = SigningKey.from_seed(b"\x09" * 32)


def make_charter(threshold: int = 2) -> Charter:
    return Charter(
        name="Жертвы политического террора в СССР",
        schema="memorial.victim/1",
        founders=tuple(f.public for f in FOUNDERS),
        threshold=threshold,
        publishers=(PublisherGrant(PUBLISHER.public, "Memorial"),),
        created=1_700_000_000_000,
    )


def test_dataset_id_is_stable_and_independent_of_signatures() -> None:
    charter = make_charter()
    signed = SignedCharter(charter).sign(FOUNDERS[0]).sign(FOUNDERS[1])
    reparsed = Charter.from_body(charter.body_bytes())
    assert signed.dataset_id == charter.dataset_id == reparsed.dataset_id
    round_trip = SignedCharter.from_bytes(signed.to_bytes())
    assert round_trip.dataset_id == charter.dataset_id
    round_trip.verify()


def test_threshold_needs_distinct_valid_founders() -> None:
    signed = SignedCharter(make_charter(threshold=2)).sign(FOUNDERS[0])
    with pytest.raises(UnauthorisedError):
        signed.verify()
    # the same founder twice does not count twice
    twice = SignedCharter(signed.charter, signed.signatures * 2)
    with pytest.raises(UnauthorisedError):
        twice.verify()
    # a publisher cannot sign as a founder
    with pytest.raises(UnauthorisedError):
        signed.sign(PUBLISHER)
    forged = SignedCharter(signed.charter, (*signed.signatures, (FOUNDERS[1].public, b"\x00" * 64)))
    with pytest.raises(UnauthorisedError):
        forged.verify()
    signed.sign(FOUNDERS[2]).verify()


@given(st.data())
def test_any_change_to_signed_charter_detected(data: st.DataObject) -> None:
    signed = SignedCharter(make_charter(threshold=1)).sign(FOUNDERS[0])
    raw = bytearray(signed.to_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        other = SignedCharter.from_bytes(bytes(raw))
        other.verify()
    except RemoteError:
        return
    raise AssertionError("a changed charter still verified")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold", 0),
        ("threshold", 4),
        ("founders", []),
        ("name", ""),
        ("publishers", [{"key": b"x", "name": "a"}]),
        ("v", 2),
    ],
)
def test_malformed_bodies_name_the_field(field: str, value: object) -> None:
    body = decode(make_charter().body_bytes())
    body[field] = value
    with pytest.raises(SchemaError) as err:
        Charter.from_body(encode(body))
    assert err.value.field == field


def test_priority_follows_publisher_order() -> None:
    other = SigningKey.from_seed(b"\x0a" * 32)
    charter = Charter("d", "memorial.victim/1", (FOUNDERS[0].public,), 1,
                      (PublisherGrant(other.public, "B"), PublisherGrant(PUBLISHER.public, "A")), 0)
    assert charter.priority(other.public) == 0
    assert charter.priority(PUBLISHER.public) == 1
    assert charter.priority(b"\x00" * 32) == 2
