"""Helpers shared by the CLI and bundle tests (no tests here): keys, charters, nodes, data."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from samizdat_node.datadir import init_node
from samizdat_node.keystore import write_key
from samizdat_node.sample import generate_records, write_jsonl, write_memorial_tsv
from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.signing import SigningKey
from tests.support.cli import run_cli

FOUNDERS = [SigningKey.from_seed(bytes([0x21 + n]) * 32) for n in range(3)]
PUBLISHER = SigningKey.from_seed(b"\x31" * 32)
SECOND = SigningKey.from_seed(b"\x32" * 32)
STRANGER = SigningKey.from_seed(b"\x3f" * 32)
CREATED = 1_700_000_000_000


def make_charter(signers: int = 2, name: str = "CLI test dataset") -> SignedCharter:
    charter = Charter(name=name, schema="memorial.victim/1",
                      founders=tuple(f.public for f in FOUNDERS), threshold=2,
                      publishers=(PublisherGrant(PUBLISHER.public, "Memorial"),
                                  PublisherGrant(SECOND.public, "Second org")),
                      created=CREATED)
    signed = SignedCharter(charter)
    for founder in FOUNDERS[:signers]:
        signed = signed.sign(founder)
    return signed


def write_keys(folder: Path) -> dict[str, Path]:
    """Unsealed key files for the founders, both publishers and a stranger."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = {f"founder{n}": key for n, key in enumerate(FOUNDERS)}
    keys.update(publisher=PUBLISHER, second=SECOND, stranger=STRANGER)
    paths = {}
    for name, key in keys.items():
        path = folder / f"{name}.key"
        if not path.exists():
            write_key(path, key, None)
        paths[name] = path
    return paths


def write_charter(path: Path, signed: SignedCharter) -> Path:
    path.write_bytes(signed.to_bytes())
    return path


def make_node(path: Path, signed: SignedCharter | None = None) -> Path:
    init_node(path, signed or make_charter())
    return path


def write_tsv(path: Path, count: int, seed: int = 11) -> Path:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        write_memorial_tsv(generate_records(count, seed), fh, seed=seed)
    return path


def write_records_jsonl(path: Path, count: int, seed: int = 11) -> Path:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        write_jsonl(generate_records(count, seed), fh)
    return path


def ok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, env=env)
    assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def ok_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(ok(*args, "--json", env=env).stdout)


def fails(code: int, *args: str,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command that must fail with exit ``code``, one human line, no traceback."""
    result = run_cli(*args, env=env)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "error:" in result.stderr, result.stderr
    return result


def copy_node(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def dump(node: Path) -> list[str]:
    """Every row of the node's store, as SQL text: equal dumps mean nothing changed."""
    conn = sqlite3.connect(node / "store.sqlite")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))
