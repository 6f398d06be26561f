"""`samizdat serve`, `sync --once`, `peers`, `fetch --peer`, `search --peer` through the real
entry point: three daemons on 127.0.0.1 converge, a fresh directory syncs once from a running
node, a light client reads a verified record, and an unreachable peer is a clear exit 9."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.sample import generate_records, record_id_for
from samizdat_node.store import Store
from tests.node.test_cli_support import (
    PUBLISHER,
    fails,
    make_charter,
    make_node,
    ok,
    ok_json,
    write_charter,
)
from tests.support.cli import SAMIZDAT

pytestmark = pytest.mark.integration

RECORDS = 800
DEADLINE = 30.0


def _serve(data: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SAMIZDAT), "serve", "--data", str(data), "--json", "--listen",
         "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht", "--status-interval", "0.2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _ready(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the daemon prints one JSON line once it serves
    assert line, proc.stderr.read() if proc.stderr else ""
    info: dict[str, Any] = json.loads(line)
    assert info["event"] == "ready" and info["addrs"][0].startswith("/ip4/127.0.0.1/tcp/")
    return info


def _status(data: Path) -> dict[str, Any]:
    try:
        status: dict[str, Any] = json.loads((data / "node-status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return status


def _wait_length(data: Path, publisher: str, length: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        head = _status(data).get("heads", {}).get(publisher)
        if head and head["length"] == length:
            return
        time.sleep(0.1)
    raise AssertionError(f"{data.name} did not reach {length}: {_status(data).get('heads')}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    signed = make_charter()
    charter = write_charter(tmp_path / "charter.samizdat", signed)
    pub = make_node(tmp_path / "publisher", signed)
    records = [(record_id_for(b), b) for b in generate_records(RECORDS, 5)]
    with Store.open(pub / "store.sqlite") as store:
        store.publish(PUBLISHER, records, 1_700_000_000_000)
    procs: list[subprocess.Popen[str]] = []
    try:
        procs.append(_serve(pub, "--gateway", "127.0.0.1:0"))
        info = _ready(procs[0])
        mirrors = [make_node(tmp_path / f"mirror{n}", signed) for n in (1, 2)]
        for mirror in mirrors:
            procs.append(_serve(mirror, "--bootstrap", info["addrs"][0]))
        for proc in procs[1:]:
            _ready(proc)
        yield {"charter": charter, "pub": pub, "mirrors": mirrors, "info": info,
               "records": records, "procs": procs, "signed": signed}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def test_serve_converges_syncs_once_and_serves_light_clients(cluster: dict[str, Any],
                                                            tmp_path: Path) -> None:
    publisher = PUBLISHER.public.hex()
    info, records = cluster["info"], cluster["records"]
    assert info["gateway"].startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{info['gateway']}/api/v1/heads", timeout=10) as response:
        assert response.status == 200 and publisher in response.read().decode()
    for mirror in cluster["mirrors"]:
        _wait_length(mirror, publisher, RECORDS)

    peers = ok_json("peers", "--data", str(cluster["mirrors"][0]))
    assert peers["running"] and info["peer_id"] in peers["connected"]
    status = ok_json("status", "--data", str(cluster["mirrors"][0]))
    assert status["running"] and info["peer_id"] in status["peers"]

    fresh = make_node(tmp_path / "fresh", cluster["signed"])
    report = ok_json("sync", "--data", str(fresh), "--peer", info["addrs"][0], "--once")
    assert report["ok"] and report["fetched"] == RECORDS and report["bytes_in"] > 0
    again = ok_json("sync", "--data", str(fresh), "--peer", info["addrs"][0], "--once")
    assert again["fetched"] == 0
    assert ok_json("verify", "--data", str(fresh))["entries"] == RECORDS
    assert "not running" in ok("peers", "--data", str(fresh)).stdout
    assert ok_json("status", "--data", str(fresh))["running"] is False

    record_id, body = records[3]
    mirror_addr = _status(cluster["mirrors"][1])["addrs"][0]
    got = ok_json("fetch", "--charter", str(cluster["charter"]), "--peer", mirror_addr,
                  record_id)
    assert got["verified"] and got["record_id"] == record_id
    assert got["displayed"]["fields"] == body
    text = ok("fetch", "--charter", str(cluster["charter"]), "--peer", mirror_addr,
              "--lang", "en", record_id).stdout
    assert "verified:" in text and body["surname"] in text

    hits = ok_json("search", "--charter", str(cluster["charter"]), "--peer", mirror_addr,
                   body["surname"])
    assert record_id in {h["record_id"] for h in hits} and all(h["verified"] for h in hits)

    for proc in cluster["procs"]:
        proc.send_signal(signal.SIGTERM)
    for proc in cluster["procs"]:
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert '"event": "stopped"' in out and "Traceback" not in err


def test_unreachable_peer_is_a_clear_network_error(tmp_path: Path) -> None:
    signed = make_charter()
    charter = write_charter(tmp_path / "charter.samizdat", signed)
    node = make_node(tmp_path / "node", signed)
    peer_id = "12D3KooWAk8f7MJyZZ7CqsFCHgmEe4qs7SzjiwJN9Y8rSL5LwuNH"
    addr = f"/ip4/127.0.0.1/tcp/{_closed_port()}/p2p/{peer_id}"
    result = fails(9, "sync", "--data", str(node), "--peer", addr, "--once")
    assert peer_id in result.stderr or "unreachable" in result.stderr.lower()
    fails(9, "fetch", "--charter", str(charter), "--peer", addr, "memo:1")
    fails(2, "sync", "--data", str(node), "--peer", "/ip4/127.0.0.1/tcp/1", "--once")
