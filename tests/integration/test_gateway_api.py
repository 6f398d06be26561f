"""The JSON API against its OpenAPI description, on a real store holding the sample dataset.

Every response is validated against the schema the OpenAPI file gives for its path and status;
every proof the API serves is re-checked here from the JSON alone, as an outside reader would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from samizdat_node.gateway import GatewayApp, GatewaySettings, RateLimit
from samizdat_node.gateway.api import API_PATHS, OPENAPI
from samizdat_node.gateway.sample_site import FEATURED, FIRST, RETRACTED, build_sample_store
from samizdat_node.gateway.testing import AsgiResponse, asgi_request
from samizdat_node.store import AsyncStore
from samizdat_protocol.hashing import hash_leaf
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.merkle import verify_consistency, verify_inclusion

DOC = json.loads(OPENAPI)


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gateway") / "store.sqlite"
    build_sample_store(path, 300)
    return path


@pytest.fixture
async def app(sample_path: Path) -> AsyncIterator[GatewayApp]:
    async with await AsyncStore.open(sample_path) as store:
        yield GatewayApp(store)


def _validator(template: str, status: int) -> Draft202012Validator:
    op = DOC["paths"][template]["get"]
    assert str(status) in op["responses"], f"{template} does not document status {status}"
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": DOC["components"]})


async def call(app: GatewayApp, template: str, target: str, status: int = 200) -> Any:
    """GET ``target``, check the status and validate the body against ``template``'s schema."""
    resp = await asgi_request(app, target)
    assert resp.status == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    _validator(template, status).validate(body)
    return body


def test_the_openapi_file_is_valid_openapi_3_1() -> None:
    validate_openapi(DOC)
    assert DOC["openapi"].startswith("3.1")


async def test_openapi_is_served(app: GatewayApp) -> None:
    resp = await asgi_request(app, "/api/openapi.json")
    assert resp.status == 200 and json.loads(resp.body) == DOC


async def test_search_finds_a_latin_spelling(app: GatewayApp) -> None:
    body = await call(app, "/api/v1/search", "/api/v1/search?" + urlencode(
        {"q": "Kozhevnikov Petr", "limit": "5"}))
    assert body["hits"][0]["record_id"] == FEATURED
    assert body["hits"][0]["name"] == "Кожевников Пётр Семёнович"
    assert body["hits"][0]["publisher"]["name"] == "Мемориал (образец)"
    assert body["query"]["limit"] == 5


async def test_search_pages_and_filters(app: GatewayApp) -> None:
    first = await call(app, "/api/v1/search", "/api/v1/search?q=Ivanov&limit=3")
    assert first["has_more"] and first["next_offset"] == 3
    second = await call(app, "/api/v1/search", "/api/v1/search?q=Ivanov&limit=3&offset=3")
    assert {h["record_id"] for h in first["hits"]}.isdisjoint(h["record_id"]
                                                             for h in second["hits"])
    year = await call(app, "/api/v1/search", "/api/v1/search?q=Kozhevnikov&birth_year=1899"
                      "&tolerance=0")
    assert all(h["birth_year"] in (1899, None) for h in year["hits"])


async def test_retracted_records_only_when_asked(app: GatewayApp) -> None:
    plain = await call(app, "/api/v1/search", "/api/v1/search?q=" + quote("Кожевников"))
    assert RETRACTED not in [h["record_id"] for h in plain["hits"]]
    asked = await call(app, "/api/v1/search", "/api/v1/search?retracted=1&q="
                       + quote("Кожевников"))
    hit = next(h for h in asked["hits"] if h["record_id"] == RETRACTED)
    assert hit["retracted"] and hit["retraction_reason"].startswith("Дубликат")


@pytest.mark.parametrize(("query", "code"), [
    ("", "search.empty_query"), ("q=x&birth_year=12a", "search.bad_year"),
    ("q=x&limit=0", "search.bad_limit"), ("q=x&offset=5000", "search.bad_offset"),
    ("q=x&kind=nonsense", "search.bad_sentence_kind"),
    ("q=" + quote("я" * 201), "search.query_too_long"),
])
async def test_bad_searches_are_400_with_a_code(app: GatewayApp, query: str, code: str) -> None:
    body = await call(app, "/api/v1/search", "/api/v1/search?" + query, 400)
    assert body["error"]["code"] == code


@settings(max_examples=40, deadline=None)
@given(params=st.dictionaries(
    st.sampled_from(["q", "birth_year", "tolerance", "place", "kind", "retracted", "limit",
                     "offset", "other"]),
    st.text(max_size=30), max_size=6))
async def test_any_search_parameters_answer_per_the_document(sample_path: Path,
                                                             params: dict[str, str]) -> None:
    async with await AsyncStore.open(sample_path) as store:
        app = GatewayApp(store)
        resp = await asgi_request(app, "/api/v1/search?" + urlencode(params))
    assert resp.status in (200, 400), resp.text
    _validator("/api/v1/search", resp.status).validate(resp.json())


def _check_evidence(verification: dict[str, Any], head: dict[str, Any]) -> None:
    """What a reader can do with the JSON alone: the head's signature, then the proof."""
    signed = SignedHead.from_bytes(bytes.fromhex(head["encoded"]))
    signed.verify()
    assert signed.root.hex() == head["root"] and signed.length == head["length"]
    header = bytes.fromhex(verification["header"])
    assert hash_leaf(header).hex() == verification["leaf_hash"]
    verify_inclusion(hash_leaf(header), verification["index"], signed.length,
                     [bytes.fromhex(h) for h in verification["path"]], signed.root)


async def test_a_record_carries_evidence_a_reader_can_check(app: GatewayApp) -> None:
    target = "/api/v1/records/" + quote(FEATURED, safe="")
    body = await call(app, "/api/v1/records/{record_id}", target)
    assert body["verified"] and not body["retracted"]
    shown = body["displayed"]
    assert shown["publisher"]["key"] == FIRST.public.hex()
    assert shown["body"]["arrest_date"] == "1939-05"
    assert len(body["alternatives"]) == 1
    heads = {h["publisher"]["key"]: h for h in body["heads"]}
    for version in (shown, *body["alternatives"]):
        assert version["verification"]["checked"]
        _check_evidence(version["verification"], heads[version["publisher"]["key"]])


async def test_history_lists_every_entry_with_bodies(app: GatewayApp) -> None:
    body = await call(app, "/api/v1/records/{record_id}/history",
                      f"/api/v1/records/{quote(FEATURED)}/history")
    statuses = [(h["publisher"]["name"], h["status"]) for h in body["history"]]
    assert statuses == [("Мемориал (образец)", "superseded"), ("Мемориал (образец)", "current"),
                        ("Региональный архив (образец)", "current")]
    assert "rehabilitation_date" not in body["history"][0]["body"]
    assert body["history"][1]["body"]["rehabilitation_date"] == "1957-04"
    retracted = await call(app, "/api/v1/records/{record_id}/history",
                           f"/api/v1/records/{quote(RETRACTED)}/history")
    assert [h["kind"] for h in retracted["history"]] == ["put", "retract"]
    assert retracted["history"][1]["reason"].startswith("Дубликат")


async def test_a_retracted_record_shows_its_retraction(app: GatewayApp) -> None:
    body = await call(app, "/api/v1/records/{record_id}", f"/api/v1/records/{RETRACTED}")
    assert body["retracted"] and body["displayed"] is None
    assert body["retractions"][0]["verification"]["checked"]


async def test_unknown_record_is_404(app: GatewayApp) -> None:
    body = await call(app, "/api/v1/records/{record_id}", "/api/v1/records/nobody:1", 404)
    assert body["error"]["code"] == "notfound.record"
    await call(app, "/api/v1/records/{record_id}/history", "/api/v1/records/nobody:1/history",
               404)


async def test_heads_and_status(app: GatewayApp) -> None:
    heads = await call(app, "/api/v1/heads", "/api/v1/heads")
    for head in heads["heads"]:
        SignedHead.from_bytes(bytes.fromhex(head["encoded"])).verify(
            bytes.fromhex(heads["dataset"]))
    status = await call(app, "/api/v1/status", "/api/v1/status")
    assert status["counts"]["records"] == 302
    assert [p["name"] for p in status["publishers"]] == ["Мемориал (образец)",
                                                          "Региональный архив (образец)"]


async def test_inclusion_and_consistency_proofs_verify(app: GatewayApp) -> None:
    key = FIRST.public.hex()
    heads = await call(app, "/api/v1/heads", "/api/v1/heads")
    head = next(h for h in heads["heads"] if h["publisher"]["key"] == key)
    proof = await call(app, "/api/v1/proofs/inclusion",
                       f"/api/v1/proofs/inclusion?publisher={key}&index=7")
    assert proof["size"] == head["length"] and proof["head"] == head
    verify_inclusion(bytes.fromhex(proof["leaf_hash"]), 7, proof["size"],
                     [bytes.fromhex(h) for h in proof["path"]], bytes.fromhex(head["root"]))
    # The publish of 302 bodies signed a head at 302; the correction and retraction came later.
    old = await call(app, "/api/v1/proofs/consistency",
                     f"/api/v1/proofs/consistency?publisher={key}&old=302")
    assert old["old_head"] is not None and old["new"] == head["length"]
    verify_consistency(302, bytes.fromhex(old["old_head"]["root"]), old["new"],
                       bytes.fromhex(head["root"]), [bytes.fromhex(h) for h in old["path"]])


@pytest.mark.parametrize(("target", "status", "code"), [
    ("/api/v1/proofs/inclusion?publisher=zz&index=1", 400, "usage.publisher"),
    ("/api/v1/proofs/inclusion?publisher=" + "ab" * 32 + "&index=1", 404, "notfound.log"),
    ("/api/v1/proofs/inclusion?publisher={key}&index=999999", 400, "usage.range"),
    ("/api/v1/proofs/inclusion?publisher={key}", 400, "usage.missing"),
    ("/api/v1/proofs/consistency?publisher={key}&old=5&new=3", 400, "usage.range"),
    ("/api/v1/proofs/consistency?publisher={key}&old=-1", 400, "usage.range"),
])
async def test_bad_proof_requests(app: GatewayApp, target: str, status: int, code: str) -> None:
    template = target.split("?")[0]
    body = await call(app, template, target.format(key=FIRST.public.hex()), status)
    assert body["error"]["code"] == code


async def _raw(app: GatewayApp, target: str, **kw: Any) -> AsgiResponse:
    return await asgi_request(app, target, **kw)


async def test_limits_and_refusals(app: GatewayApp) -> None:
    post = await _raw(app, "/api/v1/status", method="POST")
    assert post.status == 405 and post.headers["allow"] == "GET, HEAD"
    body = await _raw(app, "/api/v1/status", headers=[("content-length", "10")])
    assert body.status == 413 and body.json()["error"]["code"] == "gateway.body"
    long = await _raw(app, "/api/v1/search?q=" + "a" * 3000)
    assert long.status == 414
    nowhere = await _raw(app, "/api/v2/anything")
    assert nowhere.status == 404 and nowhere.json()["error"]["code"] == "notfound.route"
    bad_utf8 = await _raw(app, "/api/v1/search?q=%ff%fe")
    assert bad_utf8.status == 400 and bad_utf8.json()["error"]["code"] == "gateway.bad_request"
    many = await _raw(app, "/api/v1/search?" + "&".join(f"k{n}=1" for n in range(40)))
    assert many.status == 400
    head = await _raw(app, "/api/v1/status", method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0


async def test_every_answer_carries_the_security_headers(app: GatewayApp) -> None:
    for target in ("/", "/api/v1/status", "/static/style.css", "/api/v1/records/x:1",
                   "/nowhere"):
        resp = await _raw(app, target)
        assert resp.headers["content-security-policy"].startswith("default-src 'self'")
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "no-referrer"


async def test_rate_limit_per_client_address(sample_path: Path) -> None:
    now = [0.0]
    async with await AsyncStore.open(sample_path) as store:
        app = GatewayApp(store, GatewaySettings(rate=RateLimit(rate=1.0, burst=3.0)),
                         clock=lambda: now[0])
        codes = [(await _raw(app, "/api/v1/heads")).status for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = await _raw(app, "/api/v1/heads")
        assert refused.json()["error"]["code"] == "gateway.rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        _validator("/api/v1/heads", 429).validate(refused.json())
        assert (await _raw(app, "/api/v1/heads", client="10.0.0.2")).status == 200
        assert (await _raw(app, "/static/style.css")).status == 200  # static files are free
        now[0] += 1.0
        assert (await _raw(app, "/api/v1/heads")).status == 200


async def test_a_damaged_store_is_reported_not_shown_as_verified(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    build_sample_store(path, 20)
    conn = sqlite3.connect(path)
    with conn:  # one flipped byte in the stored payload of the displayed version
        pid, idx, payload = conn.execute(
            "SELECT e.publisher, e.idx, e.payload FROM records r JOIN entries e "
            "ON e.publisher = r.publisher AND e.idx = r.idx WHERE r.record_id = ?",
            (FEATURED,)).fetchone()
        damaged = payload.replace("Калинин".encode(), "Калинен".encode(), 1)
        conn.execute("UPDATE entries SET payload = ? WHERE publisher = ? AND idx = ?",
                     (damaged, pid, idx))
    conn.close()
    async with await AsyncStore.open(path) as store:
        app = GatewayApp(store)
        body = await call(app, "/api/v1/records/{record_id}", f"/api/v1/records/{FEATURED}")
        page = await _raw(app, f"/records/{FEATURED}?lang=en")
    assert not body["verified"]
    assert body["displayed"]["verification"]["error"]["code"] == "light.payload_mismatch"
    assert "Verification FAILED" in page.text and "✓" not in page.text


def test_the_document_describes_exactly_the_api_served() -> None:
    assert set(DOC["paths"]) == API_PATHS
