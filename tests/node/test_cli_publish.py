"""Publishing and reading through the real entry point: publish -> verify -> search -> get,
history, correct/retract/erase, status, and the ways input goes wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.importers.memorial_tsv import COLUMNS
from samizdat_node.keystore import write_key
from samizdat_node.sample import generate_records, record_id_for
from tests.support.cli import run_cli

from .test_cli_support import (
    PUBLISHER,
    copy_node,
    dump,
    fails,
    make_node,
    ok,
    ok_json,
    write_keys,
    write_tsv,
)

COUNT = 1000
SEED = 11


def _spoil(line: str, column: str, value: str) -> str:
    fields = line.split("\t")
    fields[COLUMNS.index(column)] = value
    return "\t".join(fields)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A node with COUNT generated records published from TSV (two bad lines rejected)."""
    root = tmp_path_factory.mktemp("published")
    keys = write_keys(root / "keys")
    node = make_node(root / "node")
    source = write_tsv(root / "records.tsv", COUNT, SEED)
    lines = source.read_text("utf-8").splitlines()
    lines.insert(101, _spoil(lines[5], "person_id", "abc"))  # becomes line 102
    lines.append(lines[10])  # the same record twice in one file
    lines.append(_spoil(lines[7], "sex", "x"))  # the last line
    source.write_text("\n".join(lines) + "\n", "utf-8")
    result = run_cli("publish", "--data", str(node), "--key", str(keys["publisher"]),
                     "--batch-size", "300", "--json", str(source))
    return {"root": root, "keys": keys, "node": node, "source": source, "result": result,
            "lines": len(lines)}


def test_publish_reports_what_changed_and_rejects_bad_lines(published: dict[str, Any]) -> None:
    result = published["result"]
    assert result.returncode == 10, result.stderr
    info = json.loads(result.stdout)
    assert info["appended"] == info["new_records"] == COUNT and info["changed"] == 0
    assert info["rejected"] == 3 and info["heads_signed"] == 4 and info["length"] == COUNT
    rejects = Path(info["rejects_file"])
    assert rejects == published["source"].with_name("records.tsv.rejects.tsv")
    rows = [row.split("\t") for row in rejects.read_text("utf-8").splitlines()[2:]]
    last = published["lines"]
    assert sorted((int(r[0]), r[1], r[2]) for r in rows) == [
        (102, "person_id", "schema.person_id"), (last - 1, "", "publish.duplicate"),
        (last, "sex", "schema.enum")]


def test_rerun_appends_nothing(published: dict[str, Any]) -> None:
    node, keys = published["node"], published["keys"]
    before = dump(node)
    again = run_cli("publish", "--data", str(node), "--key", str(keys["publisher"]), "--json",
                    str(published["source"]))
    assert again.returncode == 10
    info = json.loads(again.stdout)
    assert info["appended"] == 0 and info["unchanged"] == COUNT and info["heads_signed"] == 0
    assert dump(node) == before


def test_verify_search_get_history(published: dict[str, Any]) -> None:
    node = str(published["node"])
    report = ok_json("verify", "--data", node)
    assert report["ok"] and report["entries"] == COUNT and report["damage"] == []
    body = next(b for n, b in enumerate(generate_records(COUNT, SEED)) if n == 417)
    record_id = record_id_for(body)
    year = int(body["birth"][:4])
    found = ok_json("search", "--data", node, "--limit", "50", "--birth-year", str(year),
                    body["surname"], body.get("name", ""))
    assert record_id in [hit["record_id"] for hit in found]
    hit = next(h for h in found if h["record_id"] == record_id)
    assert hit["name"].startswith(body["surname"]) and hit["years"].startswith(str(year))
    assert {"record_id", "name", "years", "place", "source", "score"} <= set(hit)

    got = ok_json("get", "--data", node, record_id)
    shown = got["displayed"]
    assert shown["fields"] == body and not got["retracted"] and got["alternatives"] == []
    assert shown["publisher"] == PUBLISHER.public.hex() and shown["publisher_name"] == "Memorial"
    check = shown["verification"]
    assert check["verified"] and check["head_length"] == COUNT and check["proof_hashes"] >= 9
    text = ok("get", "--data", node, "--lang", "en", record_id).stdout
    assert "Surname" in text and "inclusion proof of" in text
    assert " г." in ok("get", "--data", node, record_id).stdout  # Russian partial dates
    history = ok_json("history", "--data", node, record_id)
    assert [(h["kind"], h["status"]) for h in history] == [("put", "current")]


def test_status_shows_heads_counts_and_config(published: dict[str, Any]) -> None:
    node = str(published["node"])
    status = ok_json("status", "--data", node)
    assert status["peers"] == [] and status["listen"] == ["/ip4/0.0.0.0/tcp/4747"]
    assert status["counts"]["entries"] == COUNT and status["counts"]["displayed"] == COUNT
    memorial = next(h for h in status["heads"] if h["name"] == "Memorial")
    assert memorial["length"] == COUNT and memorial["publisher"] == PUBLISHER.public.hex()
    assert status["peer_id"].startswith("12D3KooW")
    moved = ok_json("status", "--data", node,
                    env={"SAMIZDAT_NETWORK_LISTEN": "/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2"})
    assert moved["listen"] == ["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"]
    assert moved["config_sources"]["listen"] == "env:SAMIZDAT_NETWORK_LISTEN"
    assert "4747" in ok("status", "--data", node).stdout


def test_correct_retract_erase(published: dict[str, Any], tmp_path: Path) -> None:
    node = str(copy_node(published["node"], tmp_path / "node"))
    keys = published["keys"]
    bodies = list(generate_records(3, SEED))
    first, second, third = (record_id_for(b) for b in bodies)
    common = ("--data", node)
    ok("correct", *common, "--key", str(keys["publisher"]), first, "--set",
       "birth_place=г. Тверь", "--set", "birth=1901-05")
    got = ok_json("get", *common, first)
    assert got["displayed"]["fields"]["birth_place"] == "г. Тверь"
    assert got["displayed"]["rendered"]["birth"] == "май 1901 г."
    assert [h["status"] for h in ok_json("history", *common, first)] == ["superseded", "current"]
    unchanged = ok_json("correct", *common, "--key", str(keys["publisher"]), first, "--set",
                        "birth_place=г. Тверь")
    assert unchanged["appended"] == 0

    # A second organisation's correction is kept beside the first publisher's version.
    ok("correct", *common, "--key", str(keys["second"]), second, "--set", "occupation=учитель")
    two = ok_json("get", *common, second)
    assert two["displayed"]["publisher_name"] == "Memorial"
    assert [a["fields"]["occupation"] for a in two["alternatives"]] == ["учитель"]

    ok("retract", *common, "--key", str(keys["publisher"]), third, "--reason", "duplicate")
    gone = ok_json("get", *common, third)
    assert gone["retracted"] and gone["retractions"][0]["reason"] == "duplicate"
    query = (bodies[2]["surname"], "--limit", "100")
    assert third not in [h["record_id"] for h in ok_json("search", *common, *query)]
    assert third in [h["record_id"] for h in ok_json("search", *common, "--include-retracted",
                                                     *query)]
    assert "RETRACTED" in ok("get", *common, third).stdout

    request = ok_json("erase", *common, "--key", str(keys["publisher"]), first,
                      "--reason", "safety")
    # a publisher key alone cannot destroy content: the erasure waits for the founders (§13)
    assert request["erased"] == [] and len(request["pending_approval"]) >= 1
    still = ok_json("get", *common, first)
    assert not still["displayed"]["erased"] and still["displayed"]["fields"]
    assert ok_json("verify", *common)["ok"]

    for command in (("get", "nope:1"), ("history", "nope:1"),
                    ("retract", "--key", str(keys["publisher"]), "nope:1", "--reason", "x"),
                    ("correct", "--key", str(keys["publisher"]), "nope:1", "--set", "name=x")):
        fails(3, *command, *common)
    bad = fails(4, "correct", *common, "--key", str(keys["publisher"]), second, "--set",
                "sex=unknown")
    assert "sex" in bad.stderr


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    node = str(make_node(tmp_path / "node"))
    source = write_tsv(tmp_path / "r.tsv", 500, 3)
    lines = source.read_text("utf-8").splitlines()
    good = list(lines)
    lines[351] = _spoil(lines[351], "was_executed", "maybe")  # line 352: record 351
    source.write_text("\n".join(lines) + "\n", "utf-8")
    result = fails(4, "publish", "--data", node, "--key", str(keys["publisher"]), "--strict",
                   "--batch-size", "100", str(source))
    assert f"{source}:352" in result.stderr and "was_executed" in result.stderr
    assert "300 entries of earlier batches were stored" in result.stderr
    assert ok_json("status", "--data", node)["counts"]["entries"] == 300
    assert not source.with_name("r.tsv.rejects.tsv").exists()
    source.write_text("\n".join(good) + "\n", "utf-8")
    fixed = ok_json("publish", "--data", node, "--key", str(keys["publisher"]), str(source))
    assert fixed["appended"] == 200 and fixed["unchanged"] == 300


def test_publish_refuses_bad_keys_and_unreadable_input(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    node = str(make_node(tmp_path / "node"))
    source = write_tsv(tmp_path / "r.tsv", 20, 5)
    sealed = tmp_path / "sealed.key"
    write_key(sealed, PUBLISHER, b"correct passphrase")
    wrong = fails(7, "publish", "--data", node, "--key", str(sealed), str(source),
                  env={"SAMIZDAT_PASSPHRASE": "wrong passphrase"})
    assert "keyfile.bad_passphrase" in wrong.stderr
    stranger = fails(6, "publish", "--data", node, "--key", str(keys["stranger"]), str(source))
    assert "auth.not_a_publisher" in stranger.stderr
    fails(2, "publish", "--data", node, "--key", str(keys["publisher"]), str(tmp_path / "no"))
    csv = tmp_path / "r.csv"
    csv.write_text("id,Фамилия\n1,Иванов\n", "utf-8")
    fails(2, "publish", "--data", node, "--key", str(keys["publisher"]), str(csv))
    assert ok_json("status", "--data", node)["counts"]["entries"] == 0
    mapped = ok_json("publish", "--data", node, "--key", str(keys["publisher"]), "--map",
                     "surname=Фамилия", "--id-column", "id", "--id-prefix", "csv:", str(csv))
    assert mapped["appended"] == 1
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"record_id": "j:1", "surname": "Петров"}\nnot json\n', "utf-8")
    partial = run_cli("publish", "--data", node, "--key", str(keys["publisher"]), "--json",
                      str(jsonl))
    assert partial.returncode == 10 and json.loads(partial.stdout)["appended"] == 1
    assert "import.json" in jsonl.with_name("r.jsonl.rejects.tsv").read_text("utf-8")
