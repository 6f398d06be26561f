"""`samizdat keys` through the real entry point, and the error-to-exit-code table."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from samizdat_node.keystore import load_key
from samizdat_node.outcomes import outcome_for
from samizdat_protocol.errors import DecodeError, KeyFileError, LocalError, ProofError
from tests.support.cli import run_cli


def test_new_sealed_key_is_private_and_opens_with_its_passphrase(tmp_path: Path) -> None:
    out = tmp_path / "publisher.key"
    result = run_cli("keys", "new", "--out", str(out), "--json",
                     env={"SAMIZDAT_PASSPHRASE": "correct horse battery"})
    assert result.returncode == 0, result.stderr
    public = json.loads(result.stdout)["public"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert load_key(out, b"correct horse battery").public.hex() == public
    shown = run_cli("keys", "show", str(out))
    assert shown.stdout.strip() == public


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    run_cli("keys", "new", "--out", str(out), env={"SAMIZDAT_PASSPHRASE": "first phrase"})
    try:
        load_key(out, b"another phrase")
    except KeyFileError as exc:
        assert exc.code == "keyfile.bad_passphrase"
    else:
        raise AssertionError("wrong passphrase accepted")


def test_refuses_to_overwrite_and_to_read_loose_files(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    assert run_cli("keys", "new", "--out", str(out), "--no-passphrase").returncode == 0
    again = run_cli("keys", "new", "--out", str(out), "--no-passphrase")
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    os.chmod(out, 0o644)
    loose = run_cli("keys", "show", str(out))
    assert loose.returncode == 7
    assert "chmod 600" in loose.stderr and "Traceback" not in loose.stderr


def test_malformed_and_missing_key_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    os.chmod(bad, 0o600)
    result = run_cli("keys", "show", str(bad))
    assert result.returncode == 7 and "keyfile.malformed" in result.stderr
    missing = run_cli("keys", "show", str(tmp_path / "nope.key"))
    assert missing.returncode == 7 and "does not exist" in missing.stderr


def test_outcome_table_uses_longest_prefix() -> None:
    assert outcome_for(DecodeError("decode.non_canonical", "x")).exit_code == 4
    assert outcome_for(ProofError("proof.inclusion", "x")).http_status == 422
    assert outcome_for(KeyFileError("keyfile.bad_passphrase", "x")).exit_code == 7
    assert outcome_for(LocalError("merkle.range", "x")).exit_code == 1
    assert outcome_for(LocalError("usage.exists", "x")).exit_code == 2


def test_export_public_writes_what_charters_accept(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    public = json.loads(run_cli("keys", "new", "--out", str(key), "--no-passphrase",
                                "--json").stdout)["public"]
    out = tmp_path / "k.pub"
    result = run_cli("keys", "export-public", str(key), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == public + "\n"
    assert run_cli("keys", "export-public", str(key)).stdout.strip() == public
    again = run_cli("keys", "export-public", str(key), "--out", str(out))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
