"""`samizdat bundle export|import` between two data directories, through the real entry point:
full and incremental (``--since`` another node's ``status --json``), a tampered bundle, and
damage found by verify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from samizdat_node.sample import generate_records, record_id_for
from tests.support.cli import run_cli

from .test_cli_support import (
    dump,
    fails,
    flip_byte,
    make_charter,
    make_node,
    ok,
    ok_json,
    write_charter,
    write_keys,
    write_tsv,
)

COUNT = 600


def _heads(node: Path) -> dict[str, tuple[int, str]]:
    status = ok_json("status", "--data", str(node))
    return {h["publisher"]: (h["length"], h["root"]) for h in status["heads"]}


def test_full_and_incremental_round_trip(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    a, b = make_node(tmp_path / "a"), make_node(tmp_path / "b")
    ok("publish", "--data", str(a), "--key", str(keys["publisher"]), "--batch-size", "250",
       str(write_tsv(tmp_path / "r.tsv", COUNT, 21)))
    full = tmp_path / "full.bundle"
    exported = ok_json("bundle", "export", "--data", str(a), "--out", str(full))
    assert exported["entries"] == COUNT and exported["chunks"] == 3  # cut at signed heads
    assert ok_json("bundle", "show", str(full))["entries"] == COUNT

    imported = ok_json("bundle", "import", "--data", str(b), str(full))
    assert imported["stored"] == COUNT and imported["logs"][0]["held_now"] == COUNT
    assert _heads(a) == _heads(b)
    again = ok_json("bundle", "import", "--data", str(b), str(full))
    assert again["stored"] == 0 and again["already_held"] == COUNT

    # Changes on A travel in a small bundle made from B's status.
    first = record_id_for(next(iter(generate_records(1, 21))))
    ok("correct", "--data", str(a), "--key", str(keys["publisher"]), first, "--set",
       "occupation=учитель")
    ok("correct", "--data", str(a), "--key", str(keys["second"]), first, "--set",
       "occupation=врач")
    status_b = tmp_path / "b-status.json"
    status_b.write_text(ok("status", "--data", str(b), "--json").stdout, "utf-8")
    inc = tmp_path / "inc.bundle"
    made = ok_json("bundle", "export", "--data", str(a), "--since", str(status_b),
                   "--out", str(inc))
    assert made["entries"] == 2 and made["incremental"]
    assert inc.stat().st_size < 4000 < full.stat().st_size
    assert ok_json("bundle", "import", "--data", str(b), str(inc))["stored"] == 2
    assert _heads(a) == _heads(b)
    record = ok_json("get", "--data", str(b), first)
    assert record["displayed"]["fields"]["occupation"] == "учитель"
    assert [alt["fields"]["occupation"] for alt in record["alternatives"]] == ["врач"]
    assert ok_json("verify", "--data", str(b))["ok"]

    # An incremental bundle cannot go to a node that lacks the entries before it.
    c = make_node(tmp_path / "c")
    before = dump(c)
    gap = fails(4, "bundle", "import", "--data", str(c), str(inc))
    assert "bundle.gap" in gap.stderr and dump(c) == before


def test_tampered_bundle_changes_nothing(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    a, b = make_node(tmp_path / "a"), make_node(tmp_path / "b")
    ok("publish", "--data", str(a), "--key", str(keys["publisher"]), "--batch-size", "100",
       str(write_tsv(tmp_path / "r.tsv", 300, 22)))
    bundle = tmp_path / "x.bundle"
    ok("bundle", "export", "--data", str(a), "--out", str(bundle))
    before = dump(b)
    flip_byte(bundle, bundle.stat().st_size * 2 // 3)
    result = fails(5, "bundle", "import", "--data", str(b), str(bundle))
    assert "bundle.checksum" in result.stderr
    assert dump(b) == before
    # --salvage keeps the chunks that verify before the damaged one, no more.
    salvage = run_cli("bundle", "import", "--data", str(b), "--salvage", str(bundle))
    assert salvage.returncode in (4, 5) and "Traceback" not in salvage.stderr  # bad bytes/proof
    held = next(iter(_heads(b).values()))[0]
    assert held in (0, 100, 200)
    assert ok_json("verify", "--data", str(b))["ok"]
    other = make_node(tmp_path / "o", make_charter(name="another dataset"))
    fresh = tmp_path / "y.bundle"
    ok("bundle", "export", "--data", str(a), "--out", str(fresh))
    assert "bundle.other_dataset" in fails(4, "bundle", "import", "--data", str(other),
                                           str(fresh)).stderr
    not_a_bundle = write_charter(tmp_path / "c.charter", make_charter())
    assert "bundle.magic" in fails(4, "bundle", "import", "--data", str(b),
                                   str(not_a_bundle)).stderr


def _flip_payload(node: Path, index: int) -> None:
    """Damage one stored payload byte in place (as a failing disk would)."""
    conn = sqlite3.connect(node / "store.sqlite")
    try:
        payload = bytearray(conn.execute("SELECT payload FROM entries WHERE idx = ?",
                                         (index,)).fetchone()[0])
        payload[-1] ^= 0x01
        conn.execute("UPDATE entries SET payload = ? WHERE idx = ?", (bytes(payload), index))
        conn.commit()
    finally:
        conn.close()


def test_verify_names_damage_and_import_reports_it(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    a, b = make_node(tmp_path / "a"), make_node(tmp_path / "b")
    ok("publish", "--data", str(a), "--key", str(keys["publisher"]),
       str(write_tsv(tmp_path / "r.tsv", 200, 23)))
    bundle = tmp_path / "full.bundle"
    ok("bundle", "export", "--data", str(a), "--out", str(bundle))
    ok("bundle", "import", "--data", str(b), str(bundle))
    _flip_payload(b, 57)
    damaged = fails(5, "verify", "--data", str(b))
    assert "Memorial" in damaged.stdout and "payload index 57" in damaged.stdout
    assert ok_json("status", "--data", str(b))["damage"][0]["index"] == 57
    report = ok_json("bundle", "import", "--data", str(b), str(bundle))
    # Importing a bundle repairs what audit marked damaged (issue 5), checked against our head.
    assert report["repaired"] >= 1 and report["damage_not_repaired"] == []
    assert ok_json("verify", "--data", str(b))["ok"]
