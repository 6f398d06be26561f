"""`samizdat charter` and `samizdat init` through the real entry point, good and bad input."""

from __future__ import annotations

import stat
from pathlib import Path

from samizdat_node.keystore import write_key
from samizdat_protocol.charter import SignedCharter
from tests.support.cli import run_cli

from .test_cli_support import (
    FOUNDERS,
    PUBLISHER,
    fails,
    make_charter,
    ok,
    ok_json,
    write_charter,
    write_keys,
)


def test_create_sign_show_and_init(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    charter = tmp_path / "dataset.charter"
    ok("charter", "create", "--name", "Жертвы террора", "--founder", str(keys["founder0"]),
       str(keys["founder1"]), "--founder", FOUNDERS[2].public.hex(), "--threshold", "2",
       "--publisher", f"Memorial={PUBLISHER.public.hex()}", str(keys["second"]),
       "--description", "test", "--out", str(charter))
    shown = ok_json("charter", "show", str(charter))
    assert shown["threshold"] == 2 and not shown["threshold_met"]
    assert [p["name"] for p in shown["publishers"]] == ["Memorial", "second"]
    assert shown["dataset"] == SignedCharter.from_bytes(charter.read_bytes()).dataset_id.hex()
    below = fails(6, "init", "--data", str(tmp_path / "node"), "--charter", str(charter))
    assert "auth.charter_threshold" in below.stderr
    assert not (tmp_path / "node").exists()

    first = ok("charter", "sign", str(charter), "--key", str(keys["founder0"]))
    assert "1 of 2" in first.stdout
    assert "NOT met" in ok("charter", "show", str(charter)).stdout
    ok("charter", "sign", str(charter), "--key", str(keys["founder2"]))
    shown = ok_json("charter", "show", str(charter))
    assert shown["threshold_met"]
    assert [f["signed"] for f in shown["founders"]] == [True, False, True]

    node = tmp_path / "node"
    made = ok_json("init", "--data", str(node), "--charter", str(charter))
    assert made["created"] and made["dataset"] == shown["dataset"]
    assert made["peer_id"].startswith("12D3KooW")
    assert stat.S_IMODE(node.stat().st_mode) == 0o700
    assert stat.S_IMODE((node / "p2p-identity.key").stat().st_mode) == 0o600
    again = ok_json("init", "--data", str(node), "--charter", str(charter))
    assert not again["created"] and again["peer_id"] == made["peer_id"]


def test_sign_refuses_a_stranger_and_a_wrong_passphrase(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    charter = write_charter(tmp_path / "c.charter", make_charter(signers=0))
    before = charter.read_bytes()
    result = fails(6, "charter", "sign", str(charter), "--key", str(keys["stranger"]))
    assert "auth.not_a_founder" in result.stderr
    sealed = tmp_path / "sealed.key"
    write_key(sealed, FOUNDERS[0], b"the right passphrase")
    wrong = fails(7, "charter", "sign", str(charter), "--key", str(sealed),
                  env={"SAMIZDAT_PASSPHRASE": "a wrong passphrase"})
    assert "keyfile.bad_passphrase" in wrong.stderr
    assert charter.read_bytes() == before
    ok("charter", "sign", str(charter), "--key", str(sealed),
       env={"SAMIZDAT_PASSPHRASE": "the right passphrase"})
    assert len(SignedCharter.from_bytes(charter.read_bytes()).valid_signers()) == 1


def test_malformed_and_missing_charter_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.charter"
    bad.write_bytes(b"\x81\xa4body\xc0")
    assert "not a valid charter file" in fails(4, "charter", "show", str(bad)).stderr
    fails(2, "charter", "show", str(tmp_path / "missing.charter"))
    fails(2, "init", "--data", str(tmp_path / "n"), "--charter", str(tmp_path / "none"))
    keys = write_keys(tmp_path / "keys")
    out = tmp_path / "c.charter"
    fails(4, "charter", "create", "--name", "x", "--founder", str(keys["founder0"]),
          "--threshold", "3", "--out", str(out))  # threshold above the founders
    fails(2, "charter", "create", "--name", "x", "--founder", "not-a-key", "--threshold", "1",
          "--out", str(out))
    assert not out.exists()


def test_init_refuses_foreign_directories_and_other_datasets(tmp_path: Path) -> None:
    charter = write_charter(tmp_path / "c.charter", make_charter())
    other = write_charter(tmp_path / "o.charter", make_charter(name="another dataset"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.odt").write_text("not ours")
    result = fails(2, "init", "--data", str(busy), "--charter", str(charter))
    assert "datadir.not_empty" in result.stderr and (busy / "thesis.odt").exists()
    node = tmp_path / "node"
    ok("init", "--data", str(node), "--charter", str(charter))
    assert "datadir.other_dataset" in fails(2, "init", "--data", str(node), "--charter",
                                            str(other)).stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    fails(2, "init", "--data", str(afile), "--charter", str(charter))


def test_interrupted_init_is_completed_by_running_it_again(tmp_path: Path) -> None:
    charter = write_charter(tmp_path / "c.charter", make_charter())
    node = tmp_path / "node"
    ok("init", "--data", str(node), "--charter", str(charter))
    for name in ("store.sqlite", "p2p-identity.key"):
        (node / name).unlink()
    assert "datadir.no_store" in fails(2, "status", "--data", str(node)).stderr
    assert not ok_json("init", "--data", str(node), "--charter", str(charter))["created"]
    assert ok_json("status", "--data", str(node))["counts"]["entries"] == 0


def test_reading_commands_refuse_a_directory_that_is_not_a_node(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("x")
    for command in (("status",), ("search", "Иванов"), ("get", "memo2007:1"), ("verify",),
                    ("bundle", "export", "--out", str(tmp_path / "b"))):
        result = fails(2, *command, "--data", str(plain))
        assert "not a samizdat node directory" in result.stderr
    missing = fails(2, "status", "--data", str(tmp_path / "nowhere"))
    assert "samizdat init" in missing.stderr
    # --data defaults to $SAMIZDAT_DATA; --debug (anywhere on the line) adds the traceback.
    assert "not a samizdat node" in fails(2, "status", env={"SAMIZDAT_DATA": str(plain)}).stderr
    debug = run_cli("status", "--debug", env={"SAMIZDAT_DATA": str(plain)})
    assert debug.returncode == 2 and "Traceback" in debug.stderr
