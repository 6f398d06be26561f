"""The gateway served for real: hypercorn's trio worker on 127.0.0.1, plain HTTP clients."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import trio

from samizdat_node.datadir import init_node
from samizdat_node.gateway import parse_listen, serve_gateway
from samizdat_node.gateway.sample_site import FEATURED, FIRST, build_sample_store, sample_charter
from samizdat_node.store import AsyncStore, Store
from samizdat_protocol.errors import LocalError

pytestmark = pytest.mark.integration

# No proxy from the environment may stand between a test and 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _fetch(url: str, method: str = "GET",
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


async def fetch(url: str, method: str = "GET",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return await trio.to_thread.run_sync(partial(_fetch, url, method, headers))


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("server") / "store.sqlite"
    build_sample_store(path, 100)
    return path


@pytest.fixture
async def served(sample_path: Path) -> AsyncIterator[str]:
    async with await AsyncStore.open(sample_path) as store, trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_gateway, store, "127.0.0.1:0"))
        yield url
        nursery.cancel_scope.cancel()


async def test_pages_and_api_over_http(served: str) -> None:
    with trio.fail_after(30):
        status, headers, body = await fetch(served + "/?q=Kozhevnikov&lang=en")
        assert status == 200 and "Кожевников" in body.decode()
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert "server" not in headers
        status, _, body = await fetch(f"{served}/records/{FEATURED}")
        assert status == 200 and "в мае 1939 г." in body.decode()
        status, _, body = await fetch(served + "/api/v1/status")
        assert status == 200 and b'"records":102' in body
        status, headers, body = await fetch(served + "/api/v1/status", method="HEAD")
        assert status == 200 and body == b""
        status, _, _ = await fetch(served + "/api/v1/status", method="POST")
        assert status == 405


async def test_concurrent_readers(served: str) -> None:
    results: list[int] = []

    async def one(n: int) -> None:
        status, _, _ = await fetch(f"{served}/api/v1/search?q=Ivanov&offset={n}")
        results.append(status)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for n in range(12):
                nursery.start_soon(one, n)
    assert results == [200] * 12


async def test_oversized_request_headers_are_refused(served: str) -> None:
    host, port = parse_listen(served.removeprefix("http://"))
    with trio.fail_after(15):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000
                                  + b"\r\n\r\n")
            reply = b""
            try:
                while len(reply) < 12:
                    chunk = await stream.receive_some(1024)
                    if not chunk:
                        break
                    reply += chunk
            except trio.BrokenResourceError:
                pass
    assert reply == b"" or reply.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), reply[:40]


async def test_stopping_the_service_closes_the_port(sample_path: Path) -> None:
    async with await AsyncStore.open(sample_path) as store:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                url = await nursery.start(partial(serve_gateway, store, "127.0.0.1:0"))
                assert (await fetch(url + "/api/v1/heads"))[0] == 200
                nursery.cancel_scope.cancel()
            host, port = parse_listen(url.removeprefix("http://"))
            with pytest.raises(OSError):
                await trio.open_tcp_stream(host, port)


@pytest.mark.parametrize("bad", ["", "8080", "host:", "host:99999", ":80", "[nothing]:80"])
def test_bad_listen_addresses(bad: str) -> None:
    with pytest.raises(LocalError) as caught:
        parse_listen(bad)
    assert caught.value.code == "usage.listen"


def test_good_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert parse_listen("localhost:80") == ("localhost", 80)


async def test_a_taken_port_is_a_usage_error(sample_path: Path, served: str) -> None:
    taken = served.removeprefix("http://")
    async with await AsyncStore.open(sample_path) as store:
        with trio.fail_after(15):
            async with trio.open_nursery() as nursery:
                with pytest.raises(LocalError) as caught:
                    await nursery.start(partial(serve_gateway, store, taken))
    assert caught.value.code == "usage.listen"


def test_the_entry_point_serves_a_node_directory(tmp_path: Path) -> None:
    node = init_node(tmp_path / "node", sample_charter()).node
    with Store.open(node.store_path) as store:
        store.publish(FIRST, [("x:1", {"surname": "Петров", "arrest_date": "1938-02"})],
                      1_700_000_000_000)
    proc = subprocess.Popen([sys.executable, "-m", "samizdat_node.gateway", "--data",
                             str(node.path), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        status, _, body = _fetch(line.split()[-1] + "/records/x:1?lang=en")
        assert status == 200 and "Arrested in February 1938." in body.decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    missing = subprocess.run([sys.executable, "-m", "samizdat_node.gateway", "--data",
                              str(tmp_path / "nothing")], capture_output=True, text=True,
                             timeout=60, check=False)
    assert missing.returncode == 2 and "no node at" in missing.stderr
