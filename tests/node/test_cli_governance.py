"""Founders' decisions through the real entry point (issue 7, spec §13): a seized key's
vandalism undone by a revocation and a rotation, signed offline one founder at a time, and a
safety erasure that only the founders' threshold can make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samizdat_node.gateway.present import standing, standings
from samizdat_node.keystore import write_key
from samizdat_node.sample import generate_records, record_id_for
from samizdat_node.search.model import SearchQuery
from samizdat_node.store import Store
from samizdat_protocol.authstate import authorisation_state
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.signing import SigningKey

from .test_cli_support import (
    FOUNDERS,
    PUBLISHER,
    SECOND,
    fails,
    make_charter,
    make_node,
    ok,
    ok_json,
    write_keys,
    write_records_jsonl,
)

COUNT = 6
SEED = 13
SUCCESSOR = SigningKey.from_seed(b"\x33" * 32)
EXIT_USAGE, EXIT_BAD_INPUT, EXIT_UNAUTHORISED = 2, 4, 6


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    keys = write_keys(tmp_path / "keys")
    keys["successor"] = tmp_path / "keys" / "successor.key"
    write_key(keys["successor"], SUCCESSOR, None)
    node = make_node(tmp_path / "node")
    source = write_records_jsonl(tmp_path / "records.jsonl", COUNT, SEED)
    ok("publish", "--data", str(node), "--key", str(keys["publisher"]), str(source))
    ids = [record_id_for(b) for b in generate_records(COUNT, SEED)]
    return {"keys": keys, "node": str(node), "ids": ids, "dir": tmp_path}


def _view(node: str, ids: list[str]) -> dict[str, Any]:
    """What a reader sees: each record's shown version and retraction, and a search (read
    in-process from the node's real store, to keep the test fast; `get` is run through the
    CLI where it matters)."""
    out: dict[str, Any] = {}
    body = next(iter(generate_records(1, SEED)))
    with Store.open(Path(node) / "store.sqlite") as store:
        for record_id in ids:
            view = store.record(record_id)
            assert view is not None
            shown = view.displayed
            out[record_id] = (view.retracted, shown and (shown.publisher, shown.body))
        hits = store.search(SearchQuery(text=body["surname"])).hits
    out["search"] = sorted(h.record_id for h in hits)
    return out


def _standings(node: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``status --json``'s authorisation section, and its publishers by hex key."""
    auth = ok_json("status", "--data", node)["authorisation"]
    return auth, {p["key"]: p for p in auth["publishers"]}


def _decide(setup: dict[str, Any], name: str, *args: str, signers: int = 2) -> str:
    """Propose against the node, then each founder signs the file separately."""
    path = str(setup["dir"] / f"{name}.gov")
    ok("governance", "propose", *args, "--data", setup["node"], "--out", path)
    for n in range(signers):
        ok("governance", "sign", path, "--key", str(setup["keys"][f"founder{n}"]),
           "--data", setup["node"])
    return path


def test_a_seized_key_is_revoked_rotated_and_the_view_restored(setup: dict[str, Any]) -> None:
    node, keys, ids = setup["node"], setup["keys"], setup["ids"]
    before = _view(node, ids)
    assert before["search"] and all(not retracted for retracted, _ in
                                    (before[i] for i in ids))
    status = ok_json("status", "--data", node)
    pre_attack = status["heads"][0]["length"]
    assert pre_attack == COUNT and status["authorisation"]["threshold"] == 2
    assert status["authorisation"]["publishers"][0]["state"] == "active"

    ok("retract", "--data", node, "--key", str(keys["publisher"]), "--reason", "fake", ids[0])
    with Store.open(Path(node) / "store.sqlite") as store:  # the attacker, with the seized key
        for record_id in ids[1:]:
            store.retract(PUBLISHER, record_id, "fake", 1_800_000_000_000)
    attacked = _view(node, ids)
    assert all(attacked[i][0] for i in ids) and attacked["search"] == []

    # One founder alone cannot act, whatever the file claims.
    revoke = str(setup["dir"] / "revoke.gov")
    ok("governance", "propose", "revoke", "--key", PUBLISHER.public.hex(), "--as-of",
       str(pre_attack), "--data", node, "--out", revoke)
    signed = ok("governance", "sign", revoke, "--key", str(keys["founder0"]), "--data", node)
    assert "1 of 2" in signed.stdout and "threshold met" not in signed.stdout
    refused = fails(EXIT_UNAUTHORISED, "governance", "submit", revoke, "--data", node)
    assert "1 valid founder signatures, 2 needed" in refused.stderr
    assert "[auth.threshold]" in refused.stderr
    assert _view(node, ids) == attacked
    assert "REJECTED  governance seq 1" in ok("status", "--data", node).stdout

    signed = ok("governance", "sign", revoke, "--key", str(keys["founder1"]), "--data", node)
    assert "2 of 2" in signed.stdout and "threshold met" in signed.stdout
    applied = ok_json("governance", "submit", revoke, "--data", node)
    assert applied["applied"] and applied["remerged"] == COUNT
    assert _view(node, ids) == before  # nothing lost, nothing re-downloaded
    got = ok_json("get", "--data", node, ids[1])
    assert not got["retracted"] and got["displayed"]["publisher"] == PUBLISHER.public.hex()
    auth, by_key = _standings(node)
    assert by_key[PUBLISHER.public.hex()]["state"] == "revoked" and auth["rejected"] == []

    # Routine continuation: the identity moves to a new key, which publishes a correction.
    rotate = _decide(setup, "rotate", "rotate", "--old", str(keys["publisher"]), "--new",
                     SUCCESSOR.public.hex(), "--as-of", str(pre_attack))
    assert GovernanceEntry.from_bytes(Path(rotate).read_bytes()).seq == 2
    ok("governance", "submit", rotate, "--data", node)
    fails(EXIT_BAD_INPUT, "correct", "--data", node, "--key", str(keys["publisher"]),
          "--set", "surname=Forged", ids[0])
    ok("correct", "--data", node, "--key", str(keys["successor"]), "--set",
       "surname=Исправленная", ids[0])
    got = ok_json("get", "--data", node, ids[0])
    assert got["displayed"]["publisher"] == SUCCESSOR.public.hex()
    assert got["displayed"]["fields"]["surname"] == "Исправленная"
    assert got["alternatives"] == [] and not got["retracted"]
    after = _view(node, ids[1:])
    assert all(after[i] == before[i] for i in ids[1:])
    assert ok_json("verify", "--data", node)["ok"]
    auth, by_key = _standings(node)
    old = by_key[PUBLISHER.public.hex()]
    assert old["state"] == "rotated" and old["to"] == SUCCESSOR.public.hex()
    assert old["as_of"] == pre_attack and by_key[SUCCESSOR.public.hex()]["state"] == "active"
    assert len(auth["applied"]) == 2 and auth["next_seq"] == 3
    text = ok("status", "--data", node).stdout
    assert f"rotated to {SUCCESSOR.public.hex()[:16]} as of {pre_attack}" in text

    # Resubmitting changes nothing.
    again = ok_json("governance", "submit", rotate, "--data", node)
    assert again["applied"] and not again["stored"]

    # A mirror that only receives a bundle (a USB stick) gets the decisions with the logs,
    # and says so.
    bundle, mirror = setup["dir"] / "incident.bundle", make_node(setup["dir"] / "mirror")
    exported = ok_json("bundle", "export", "--data", node, "--out", str(bundle))
    assert (exported["governance"], exported["proofs"]) == (2, 0)
    assert "governance: 2 founders' decision(s), 0 equivocation proof(s)" in ok(
        "bundle", "show", str(bundle)).stdout
    imported = ok("bundle", "import", "--data", str(mirror), str(bundle)).stdout
    assert "governance: 2 decision(s) or signature(s) new, 0 equivocation proof(s) new" \
        in imported
    assert _standings(str(mirror)) == _standings(node)
    assert _view(str(mirror), ids) == _view(node, ids)
    again_json = ok_json("bundle", "import", "--data", str(mirror), str(bundle))
    assert again_json["governance"]["entries"] == 0 and again_json["stored"] == 0


def test_an_erasure_needs_the_founders_threshold(setup: dict[str, Any]) -> None:
    node, ids = setup["node"], setup["ids"]
    target = ok_json("get", "--data", node, ids[1])["displayed"]
    assert not target["erased"] and target["fields"]
    erase = _decide(setup, "erase", "erase", "--record", ids[1], "--payload",
                    target["payload_hash"], "--reason", "the family asked", signers=1)
    fails(EXIT_UNAUTHORISED, "governance", "submit", erase, "--data", node)
    shown = ok_json("governance", "show", erase, "--data", node)
    assert shown["action"] == "erase" and not shown["threshold_met"] and not shown["applied"]
    auth, _ = _standings(node)
    assert [r["code"] for r in auth["rejected"]] == ["governance.threshold"]
    ok("governance", "sign", erase, "--key", str(setup["keys"]["founder2"]))
    result = ok_json("governance", "submit", erase, "--data", node)
    assert result["applied"]
    after = ok_json("get", "--data", node, ids[1])
    assert after["displayed"]["erased"] and not after["displayed"]["fields"]
    assert "erased" in ok("get", "--data", node, "--lang", "en", ids[1]).stdout
    auth, _ = _standings(node)
    assert auth["erasures"] == [{"record": ids[1], "payload": target["payload_hash"]}]
    assert ok_json("verify", "--data", node)["ok"]


def test_propose_refuses_what_the_node_cannot_pin(setup: dict[str, Any]) -> None:
    node, out = setup["node"], str(setup["dir"] / "x.gov")
    failed = fails(EXIT_USAGE, "governance", "propose", "revoke", "--key",
                   PUBLISHER.public.hex(), "--as-of", str(COUNT + 1), "--data", node,
                   "--out", out)
    assert "fewer than --as-of" in failed.stderr and not Path(out).exists()
    fails(EXIT_USAGE, "governance", "propose", "rotate", "--old", PUBLISHER.public.hex(),
          "--data", node, "--out", out)
    shown = ok("governance", "show", _decide(setup, "early", "revoke", "--key",
                                             PUBLISHER.public.hex(), "--as-of", "3",
                                             signers=0)).stdout
    assert "revoke_publisher" in shown and "0 valid signature" in shown
    # A stranger's signature is kept in the file but counts for nothing.
    path = str(setup["dir"] / "early.gov")
    warned = ok("governance", "sign", path, "--key", str(setup["keys"]["stranger"]),
                "--data", node).stdout
    assert "not a founder" in warned and "0 of 2" in warned


def test_the_gateway_names_each_key_standing_in_both_languages() -> None:
    charter = make_charter()
    dataset = charter.charter.dataset_id
    root = b"\x07" * 32

    def decided(seq: int, action: str, fields: dict[str, Any]) -> GovernanceEntry:
        return propose(dataset, seq, action, fields, 0).sign(FOUNDERS[0]).sign(FOUNDERS[1])

    state = authorisation_state(charter.charter, [
        decided(1, "rotate_publisher", {"old": PUBLISHER.public, "new": SUCCESSOR.public,
                                        "as_of": 5, "root": root}),
        decided(2, "revoke_publisher", {"key": SECOND.public, "as_of": 7, "root": root})])
    names = {PUBLISHER.public: "Memorial"}
    en = standings(state, names, "en")
    assert en["Memorial"] == en[PUBLISHER.public.hex()] == (
        f"key rotated to {SUCCESSOR.public.hex()[:16]} as of entry 5")
    assert en[SECOND.public.hex()] == "key revoked as of entry 7"
    assert en[SUCCESSOR.public.hex()[:16]] == "key active"
    ru = standings(state, names, "ru")
    assert ru[SECOND.public.hex()[:16]] == "ключ отозван; записи с № 7 не учитываются"
    assert ru["Memorial"].startswith("ключ заменён")
    assert standing(None, "en") == "not a publisher of this dataset"
    unsigned = authorisation_state(charter.charter, [
        propose(dataset, 1, "revoke_publisher", {"key": SECOND.public, "as_of": 7,
                                                 "root": root}, 0).sign(FOUNDERS[2])])
    assert standings(unsigned, names, "en")[SECOND.public.hex()] == "key active"
