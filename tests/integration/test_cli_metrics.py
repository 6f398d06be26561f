"""`samizdat serve --metrics`, `status --prometheus` beside a running daemon, and the bars of
`sync --once` on a terminal, all through the real entry point on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samizdat_node.metrics import CONTENT_TYPE
from samizdat_node.sample import generate_records, record_id_for
from samizdat_node.store import Store
from samizdat_protocol.governance import propose
from tests.integration.test_cli_node import _ready, _serve
from tests.integration.test_gateway_server import _fetch
from tests.node.test_cli_support import (
    FOUNDERS,
    PUBLISHER,
    SECOND,
    fails,
    make_charter,
    make_node,
    ok,
)
from tests.node.test_metrics import Samples, check_conventions, value
from tests.support.terminal import run_on_terminal

pytestmark = pytest.mark.integration

RECORDS = 700
NOW = 1_700_000_000_000


def _prometheus(data: Path) -> Samples:
    return check_conventions(ok("status", "--data", str(data), "--prometheus").stdout)[1]


def test_serve_metrics_status_prometheus_and_sync_bars(tmp_path: Path) -> None:
    signed = make_charter()
    pub = make_node(tmp_path / "publisher", signed)
    with Store.open(pub / "store.sqlite") as store:
        store.publish(PUBLISHER, [(record_id_for(b), b) for b in generate_records(RECORDS, 3)],
                      NOW)
        store.publish(SECOND, [(f"second:{n}", b) for n, b in
                               enumerate(generate_records(60, 4))], NOW)
    proc = _serve(pub, "--metrics", "127.0.0.1:0")
    try:
        info = _ready(proc)
        assert info["metrics"].startswith("http://127.0.0.1:")
        status, headers, body = _fetch(info["metrics"] + "/metrics")
        assert status == 200 and headers["content-type"] == CONTENT_TYPE
        served = check_conventions(body.decode())[1]
        assert value(served, "samizdat_node_running") == 1
        assert value(served, "samizdat_head_length", publisher=PUBLISHER.public.hex()) == RECORDS

        # The textfile-collector output of a running node: the daemon's status is in it.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            printed = _prometheus(pub)
            if value(printed, "samizdat_node_running") == 1:
                break
            time.sleep(0.2)
        assert value(printed, "samizdat_node_info", peer_id=info["peer_id"],
                     dataset=signed.dataset_id.hex(), version="0.1.0") == 1
        assert value(printed, "samizdat_store_entries", publisher=SECOND.public.hex()) == 60

        fresh = make_node(tmp_path / "fresh", signed)
        run = run_on_terminal("sync", "--data", str(fresh), "--peer", info["addrs"][0], "--once")
        assert run.returncode == 0, run.screen
        assert f"fetched {RECORDS + 60:,} entries" in run.stdout
        # One bar per publisher, by name, each ending at what was missing.
        assert "━" in run.screen
        assert "Memorial" in run.screen and f"{RECORDS}/{RECORDS}" in run.screen
        assert "Second org" in run.screen and "60/60" in run.screen
        with Store.open(pub / "store.sqlite") as store:  # beside the running daemon
            store.publish(SECOND, [(f"second:{n}", b) for n, b in
                                   enumerate(generate_records(90, 4))], NOW + 1000)
        as_json = run_on_terminal("sync", "--data", str(fresh), "--peer", info["addrs"][0],
                                  "--once", "--json")
        assert as_json.returncode == 0 and '"fetched": 30' in as_json.stdout
        assert "━" not in as_json.screen and "30/30" not in as_json.screen
        # A founders' decision and nothing else: no entry, no bar, the decision is reported.
        decision = propose(signed.dataset_id, 1, "set_priorities", {"order": [SECOND.public]},
                           NOW).sign(FOUNDERS[0]).sign(FOUNDERS[1])
        with Store.open(pub / "store.sqlite") as store:
            assert store.add_governance(decision.to_bytes()).applied
        nothing = run_on_terminal("sync", "--data", str(fresh), "--peer", info["addrs"][0],
                                  "--once")
        assert nothing.returncode == 0 and "fetched 0 entries" in nothing.stdout
        assert "━" not in nothing.screen  # nothing missing: no bar drawn at all
        assert "governance: 1 founders' decision(s)" in nothing.stdout

        synced = _prometheus(fresh)
        assert value(synced, "samizdat_node_running") == 0
        assert value(synced, "samizdat_store_entries", publisher=PUBLISHER.public.hex()) == \
            RECORDS
        assert value(synced, "samizdat_view_records") == RECORDS + 90
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert '"event": "stopped"' in out and "Traceback" not in err


def test_a_metrics_address_that_cannot_be_served_is_a_usage_error(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for address in (f"127.0.0.1:{port}", "nonsense"):
            result = fails(2, "serve", "--data", str(node), "--listen", "/ip4/127.0.0.1/tcp/0",
                           "--no-mdns", "--no-dht", "--metrics", address)
            assert "[usage.listen]" in result.stderr and "metrics" in result.stderr
            assert "Traceback" not in result.stderr
        # The service module's own entry point reports the same error, not an exception group.
        proc = subprocess.run([sys.executable, "-m", "samizdat_node.service", "--data", str(node),
                               "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht",
                               "--metrics", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and proc.stderr.startswith("error: ")
        assert "[usage.listen]" in proc.stderr and "Traceback" not in proc.stderr
