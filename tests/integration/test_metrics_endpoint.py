"""GET /metrics on real nodes on 127.0.0.1 (metrics_http.py), and catch-up progress per log.

The metrics are parsed with prometheus_client's parser and checked against the node's own
status; the endpoint's bounds (one path, two methods, request size, connections, time) are
tried with plain sockets."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import trio

from samizdat_node import metrics_http
from samizdat_node.metrics import CONTENT_TYPE
from samizdat_node.p2p.host import connect, open_host
from samizdat_node.p2p.identity import Identity
from samizdat_node.service import Node
from samizdat_node.store import AsyncStore, Store
from samizdat_node.sync import SyncLimits, SyncServer, catch_up
from tests.integration.test_gateway_server import fetch
from tests.integration.test_sync_support import (
    CHARTER,
    KEYS,
    LOOPBACK,
    eventually,
    make_node_dir,
    node_config,
    publish,
    running_nodes,
)
from tests.node.test_metrics import Samples, check_conventions, series, value

pytestmark = pytest.mark.integration

RECORDS = 400


async def scrape(node: Node) -> Samples:
    assert node.metrics_url is not None
    status, headers, body = await fetch(node.metrics_url + "/metrics")
    assert status == 200 and headers["content-type"] == CONTENT_TYPE
    return check_conventions(body.decode("utf-8"))[1]


async def test_metrics_agree_with_the_nodes_status(tmp_path: Path) -> None:
    configs = [node_config(make_node_dir(tmp_path, "pub", records=RECORDS)),
               node_config(make_node_dir(tmp_path, "mirror"), metrics="127.0.0.1:0")]
    publisher = KEYS[0].public.hex()
    with trio.fail_after(60):
        async with running_nodes(configs) as (pub, mirror):
            assert configs[0].metrics == "" and pub.metrics_url is None
            assert mirror.metrics_url is not None
            assert mirror.metrics_url.startswith("http://127.0.0.1:")
            assert mirror.status()["metrics"] == mirror.metrics_url

            async def caught_up() -> bool:
                samples = await scrape(mirror)
                return value(samples, "samizdat_head_length", publisher=publisher) == RECORDS

            assert await eventually(caught_up, within=30, step=0.2)
            samples, status = await scrape(mirror), mirror.status()
            assert status["heads"][publisher]["length"] == RECORDS
            for key, head in status["heads"].items():
                assert value(samples, "samizdat_head_length", publisher=key) == head["length"]
                assert value(samples, "samizdat_head_timestamp_seconds",
                             publisher=key) == head["ts"] / 1000
            assert value(samples, "samizdat_store_entries", publisher=publisher) == RECORDS
            assert value(samples, "samizdat_view_records") == RECORDS
            connected = status["peers"]["connected"]
            assert connected == [pub.peer_id]
            assert value(samples, "samizdat_peers_connected") == len(connected)
            assert {dict(k)["peer"] for k in series(samples, "samizdat_peer_connected")} == \
                set(connected)
            assert value(samples, "samizdat_node_running") == 1
            assert value(samples, "samizdat_node_info", peer_id=mirror.peer_id,
                         dataset=CHARTER.dataset_id.hex(), version="0.1.0") == 1
            fetched = value(samples, "samizdat_sync_fetched_entries_total")
            assert fetched == status["sync"]["fetched"] == RECORDS


async def _raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
        return data


async def test_the_endpoint_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_http, "REQUEST_TIMEOUT", 1.0)
    config = node_config(make_node_dir(tmp_path, "node", records=10), metrics="127.0.0.1:0")
    with trio.fail_after(60):
        async with running_nodes([config]) as (node,):
            url = node.metrics_url
            assert url is not None
            assert (await fetch(url + "/metrics?x=1"))[0] == 200
            status, headers, body = await fetch(url + "/metrics", method="HEAD")
            assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
            assert (await fetch(url + "/"))[0] == 404
            assert (await fetch(url + "/api/v1/status"))[0] == 404
            status, headers, _ = await fetch(url + "/metrics", method="POST")
            assert status == 405 and headers["allow"] == "GET, HEAD"
            huge = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * metrics_http.MAX_REQUEST_BYTES
            assert (await _raw(url, huge)).startswith(b"HTTP/1.1 431 ")
            assert (await _raw(url, b"HELLO\r\n\r\n")).startswith(b"HTTP/1.1 400 ")

            # Connections beyond the cap wait unaccepted until one ends.
            host, port = url.removeprefix("http://").rsplit(":", 1)
            idle = [await trio.open_tcp_stream(host, int(port))
                    for _ in range(metrics_http.MAX_CONNECTIONS)]
            late = await trio.open_tcp_stream(host, int(port))
            await late.send_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.move_on_after(0.5) as waited:
                await late.receive_some(100)
            assert waited.cancelled_caught, "a connection beyond the cap was served"
            await idle[0].aclose()
            assert (await late.receive_some(100)).startswith(b"HTTP/1.1 200 ")
            await late.aclose()
            # An idle connection is closed after REQUEST_TIMEOUT (here 1 s).
            began = trio.current_time()
            assert await idle[1].receive_some(100) == b""
            assert trio.current_time() - began < 3
            for stream in idle[1:]:
                await stream.aclose()
            assert (await fetch(url + "/metrics"))[0] == 200


async def test_catch_up_reports_each_logs_progress_up_to_what_was_missing(
        tmp_path: Path) -> None:
    source = make_node_dir(tmp_path, "src", records=1300)
    server_store = await AsyncStore.open(source / "store.sqlite")
    await publish(server_store, 1, 500)
    client_store = AsyncStore(Store.create(tmp_path / "client.sqlite", CHARTER))
    limits = SyncLimits(chunk_entries=200, max_range=600)
    calls: dict[bytes, list[tuple[int, int]]] = defaultdict(list)

    def progress(publisher: bytes, stored: int, missing: int) -> None:
        calls[publisher].append((stored, missing))

    def check(expected: dict[bytes, int]) -> None:
        assert set(calls) == set(expected)
        for publisher, missing in expected.items():
            got = calls[publisher]
            assert got[0] == (0, missing) and got[-1] == (missing, missing), got
            assert all(total == missing for _, total in got)
            stored = [n for n, _ in got]
            assert all(a < b for a, b in itertools.pairwise(stored)), stored
            assert len(got) == 1 + -(-missing // 200)  # the plan, then one call per chunk
        calls.clear()

    try:
        with trio.fail_after(60):
            async with (open_host(Identity.generate(), LOOPBACK) as server,
                        open_host(Identity.generate(), []) as client):
                SyncServer(server_store, limits=limits).register(server)
                peer = await connect(client, str(server.get_addrs()[0]))
                report: Any = await catch_up(client, client_store, peer, limits=limits,
                                             progress=progress)
                assert report.ok and report.fetched == 1800
                check({KEYS[0].public: 1300, KEYS[1].public: 500})
                await publish(server_store, 0, 250, start=1300)
                report = await catch_up(client, client_store, peer, limits=limits,
                                        progress=progress)
                assert report.ok and report.fetched == 250
                check({KEYS[0].public: 250})  # only what was missing, counted from 0
                report = await catch_up(client, client_store, peer, limits=limits,
                                        progress=progress)
                assert report.ok and report.fetched == 0 and not calls
    finally:
        await server_store.aclose()
        await client_store.aclose()
