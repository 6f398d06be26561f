"""`samizdat publish` with a helper process reading the file (issue 3): the same entries,
rejects and messages as reading in one process; a killed helper or a killed import leaves
nothing behind and loses nothing; the search index phase and `--index later`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.importers.memorial_tsv import COLUMNS
from samizdat_node.sample import generate_records, record_id_for
from tests.support.cli import SAMIZDAT, run_cli

from .test_cli_support import fails, make_node, ok, ok_json, write_keys, write_tsv

COUNT = 30_000  # ~20 MB: a few dozen blocks
BATCH = "2000"


def _entries(node: Path) -> list[tuple[Any, ...]]:
    """The log as (index, record id, payload hash, payload): equal across runs of one file
    (headers and roots differ only by the signing time)."""
    conn = sqlite3.connect(node / "store.sqlite")
    try:
        return conn.execute("SELECT idx, record_id, payload_hash, payload FROM entries "
                            "ORDER BY publisher, idx").fetchall()
    finally:
        conn.close()


def _pending(node: Path) -> int:
    conn = sqlite3.connect(node / "store.sqlite")
    try:
        return int(conn.execute("SELECT count(*) FROM search_pending").fetchone()[0])
    finally:
        conn.close()


def _spoil(line: str, column: str, value: str) -> str:
    fields = line.split("\t")
    fields[COLUMNS.index(column)] = value
    return "\t".join(fields)


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.append((int(entry.name), cmdline))
    return out


def _running(proc: subprocess.Popen[str], deadline: float) -> None:
    if proc.poll() is not None:
        out, err = proc.communicate()
        raise AssertionError(f"the import ended early ({proc.returncode}): {out} {err}")
    assert time.monotonic() < deadline, "timed out"


def _cpu_and_state(pid: int) -> tuple[int, str]:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12]), fields[0]


def _helper_started(proc: subprocess.Popen[str], deadline: float) -> int:
    """The pid of the import's helper, once it has started.

    The import is paused (SIGSTOP) from when its helper appears until the helper has started
    (asleep, its CPU time still), then resumed: a helper that had to be spawned takes a second
    or two to start, in which a small test file would be imported without it.
    """
    helper = None
    while helper is None:  # a forked copy of the command, or a spawned pool worker
        _running(proc, deadline)
        own = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        helper = next((pid for pid, cmd in _children(proc.pid)
                       if cmd == own or "spawn_main" in cmd), None)
        time.sleep(0.01)
    proc.send_signal(signal.SIGSTOP)
    try:
        last = (-1, "")
        while (now := _cpu_and_state(helper)) != last or now[1] != "S":
            assert time.monotonic() < deadline
            last = now
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGCONT)
    return helper


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A TSV of COUNT records with bad lines and a repeated record, published once the
    serial way (the reference)."""
    root = tmp_path_factory.mktemp("pipeline")
    keys = write_keys(root / "keys")
    source = write_tsv(root / "records.tsv", COUNT, 23)
    lines = source.read_text("utf-8").splitlines()
    lines[300] = _spoil(lines[300], "person_id", "12x")
    lines[15_000] = _spoil(lines[15_000], "sex", "?")
    lines.append(lines[21_000])  # the same record twice: refused by the store
    lines.append("\t".join(["None"] * 5))
    source.write_text("\n".join(lines) + "\n", "utf-8")
    node = make_node(root / "serial")
    run = run_cli("publish", "--data", str(node), "--key", str(keys["publisher"]), "--json",
                  "--batch-size", BATCH, "--parse-processes", "0", str(source))
    assert run.returncode == 10, run.stderr
    rejects = source.with_name("records.tsv.rejects.tsv")
    return {"root": root, "keys": keys, "source": source, "serial": node,
            "info": json.loads(run.stdout), "rejects": rejects.read_text("utf-8"),
            "entries": _entries(node), "lines": len(lines)}


def _publish(export: dict[str, Any], node: Path, *extra: str,
             env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SAMIZDAT), "publish", "--data", str(node), "--key", str(export["keys"]["publisher"]),
         "--json", "--batch-size", BATCH, *extra, str(export["source"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})


def test_a_helper_imports_exactly_what_one_process_imports(export: dict[str, Any],
                                                          tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    proc = _publish(export, node, "--parse-processes", "1")
    _helper_started(proc, time.monotonic() + 60)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 10, err
    info, serial = json.loads(out), export["info"]
    assert info["parse_processes"] == 1 and info["helper_failures"] == 0
    assert info["helper_blocks"] > 0, "the helper read no block: the test proves nothing"
    timing = {"seconds", "records_per_second", "index_seconds", "parse_processes",
              "helper_blocks"}
    assert {k: v for k, v in info.items() if k not in timing} == \
        {k: v for k, v in serial.items() if k not in timing}
    assert info["rejected"] == 4 and info["appended"] == COUNT - 2
    assert _entries(node) == export["entries"]
    assert export["source"].with_name("records.tsv.rejects.tsv").read_text("utf-8") == \
        export["rejects"]
    rows = [row.split("\t")[:3] for row in export["rejects"].splitlines()[2:]]
    last = export["lines"]
    # in the order they were found: the last line while the last batch was read, the
    # repeated record when the store saw that batch
    assert rows == [["301", "person_id", "schema.person_id"],
                    ["15001", "sex", "schema.enum"],
                    [str(last), "", "schema.column_count"],
                    [str(last - 1), "", "publish.duplicate"]]
    body = next(b for n, b in enumerate(generate_records(COUNT, 23)) if n == 4321)
    found = ok_json("search", "--data", str(node), "--limit", "50", body["surname"],
                    body.get("name", ""))
    assert record_id_for(body) in [hit["record_id"] for hit in found]


def _repeated(export: dict[str, Any]) -> str:
    """The record id the export gives twice."""
    line = export["source"].read_text("utf-8").splitlines()[-2]
    return "memo2007:" + line.split("\t")[0]


def _stopped_while_helped(proc: subprocess.Popen[str], spool: Path, deadline: float) -> None:
    """Stop the import (SIGSTOP) at a moment its helper has a block done (in TMPDIR) or in
    hand: it finishes what it holds while the import stands still, so a block file stays."""
    while True:
        _running(proc, deadline)
        proc.send_signal(signal.SIGSTOP)
        until = time.monotonic() + 0.2
        while time.monotonic() < until:
            if list(spool.glob("*/*.block")):
                return
            time.sleep(0.005)
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.01)


def test_a_killed_helper_loses_nothing(export: dict[str, Any], tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    spool = tmp_path / "tmp"
    spool.mkdir()
    proc = _publish(export, node, "--parse-processes", "1", "--index", "later",
                    env={"TMPDIR": str(spool)})
    deadline = time.monotonic() + 60
    helper = _helper_started(proc, deadline)
    _stopped_while_helped(proc, spool, deadline)
    os.kill(helper, signal.SIGKILL)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 10, err
    info = json.loads(out)
    assert info["helper_failures"] == 1
    assert _entries(node) == export["entries"]
    assert info["index_pending"] == COUNT - 2 and info["index_seconds"] is None
    assert not list(spool.iterdir())


def test_a_killed_import_leaves_no_helper_and_resumes(export: dict[str, Any],
                                                      tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    spool = tmp_path / "tmp"
    spool.mkdir()
    proc = _publish(export, node, "--parse-processes", "1", env={"TMPDIR": str(spool)})
    deadline = time.monotonic() + 60
    helper = _helper_started(proc, deadline)
    _stopped_while_helped(proc, spool, deadline)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # Its own deadline: catching the helper mid-block may take most of the first one on a
    # loaded machine (it once left 0.04 s for this wait in CI).
    gone_by = time.monotonic() + 20
    while _alive(helper) or list(spool.iterdir()):  # it notices within half a second
        assert time.monotonic() < gone_by, "the helper outlived the import"
        time.sleep(0.05)
    report = ok_json("verify", "--data", str(node))
    held = report["entries"]
    assert report["ok"] and held % int(BATCH) == 0 and held < COUNT - 2
    again = run_cli("publish", "--data", str(node), "--key", str(export["keys"]["publisher"]),
                    "--json", "--batch-size", BATCH, "--parse-processes", "1",
                    str(export["source"]))
    assert again.returncode == 10, again.stderr
    info = json.loads(again.stdout)
    # the repeated record's second line finds it unchanged when the first run stored it
    repeated = _repeated(export)
    stored = {entry[1] for entry in export["entries"][:held]}
    assert (info["unchanged"], info["appended"]) == (held + (repeated in stored),
                                                     COUNT - 2 - held)
    assert _entries(node) == export["entries"]
    assert ok_json("status", "--data", str(node))["counts"]["entries"] == COUNT - 2


def test_index_later_leaves_search_to_the_daemon(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys")
    node = str(make_node(tmp_path / "node"))
    source = write_tsv(tmp_path / "r.tsv", 300, 4)
    body = next(iter(generate_records(300, 4)))
    later = ok_json("publish", "--data", node, "--key", str(keys["publisher"]), "--index",
                    "later", str(source))
    assert later["index_seconds"] is None and later["index_pending"] == 300
    text = ok("publish", "--data", node, "--key", str(keys["publisher"]), "--index", "later",
              str(source)).stdout
    assert "300 record(s) wait for the search index" in text
    assert record_id_for(body) not in [h["record_id"] for h in ok_json(
        "search", "--data", node, "--limit", "50", body["surname"])]
    now = ok_json("publish", "--data", node, "--key", str(keys["publisher"]), str(source))
    assert now["appended"] == 0 and now["index_pending"] == 0
    assert now["index_seconds"] is not None and now["index_seconds"] >= 0
    assert record_id_for(body) in [h["record_id"] for h in ok_json(
        "search", "--data", node, "--limit", "50", body["surname"])]


@pytest.mark.parametrize("helpers", ["0", "1"])
def test_strict_stops_alike_with_or_without_a_helper(tmp_path: Path, helpers: str) -> None:
    keys = write_keys(tmp_path / "keys")
    node = str(make_node(tmp_path / "node"))
    source = write_tsv(tmp_path / "r.tsv", 500, 3)
    lines = source.read_text("utf-8").splitlines()
    lines[351] = _spoil(lines[351], "was_executed", "maybe")
    source.write_text("\n".join(lines) + "\n", "utf-8")
    result = fails(4, "publish", "--data", node, "--key", str(keys["publisher"]), "--strict",
                   "--batch-size", "100", "--parse-processes", helpers, str(source))
    assert f"{source}:352 field was_executed: line 352, column was_executed: 'maybe' is not " \
           "T/F [schema.enum]" in result.stderr
    assert "300 entries of earlier batches were stored" in result.stderr
    assert ok_json("status", "--data", node)["counts"]["entries"] == 300
    # the stored batches are indexed for search too (the index phase ran before the error)
    assert _pending(Path(node)) == 0
