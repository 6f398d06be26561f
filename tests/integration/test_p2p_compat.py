"""Regression tests for the pinned py-libp2p 0.8.1 patches (docs/decisions/0002-libp2p-compat.md).

Each defect is shown twice: fixed in this process (where ``open_host`` applied the patches) and
still present in a subprocess that runs the same probe with ``compat.apply`` disabled, so the
tests prove the patch is what makes the difference. Run this module directly to print a
probe's figures::

    python -m tests.integration.test_p2p_compat [--unpatched] leak N [--max-connections M]
    python -m tests.integration.test_p2p_compat [--unpatched] leak N --trace-memory
    python -m tests.integration.test_p2p_compat [--unpatched] crash
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.network.swarm import Swarm

from samizdat_node.p2p import compat
from samizdat_node.p2p.framing import FrameError, read_frame, write_frame
from samizdat_node.p2p.host import PeerUnavailable, connect, disconnect, open_host, open_stream
from samizdat_node.p2p.identity import Identity
from samizdat_node.p2p.serve import closing_stream, serve_protocol

ROOT = Path(__file__).resolve().parents[2]
PING = "/samizdat-test/ping/1"
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


# ----------------------------------------------------------------------------- the probes


async def _echo_once(stream: Any) -> None:
    await write_frame(stream, await read_frame(stream, 64, 5), timeout=5)


async def _run_client(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    async with open_host(Identity.generate(), []) as host:
        task_status.started(host)
        await trio.sleep_forever()


async def _ping(client: Any, addr: Any) -> Any:
    peer = await connect(client, addr, timeout=5)
    async with closing_stream(await open_stream(client, peer, [PING], timeout=5)) as stream:
        await write_frame(stream, b"ping", timeout=5)
        assert await read_frame(stream, 64, 5) == b"ping"
    return peer


async def _release(client: Any, peer: Any, idle: trio.Event) -> None:
    await disconnect(client, peer)
    idle.set()


def _rss() -> int:
    """Resident set size in bytes (Linux /proc; noisy: allocator arenas grow and stay)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _settle(server: Any) -> dict[str, int]:
    """Wait until the server holds no connection, then count what is still alive."""
    with trio.move_on_after(10):
        while server.get_network().connections:  # noqa: ASYNC110 - closed by the peers
            await trio.sleep(0.05)
    await trio.sleep(0.3)  # let close paths (two 100 ms sleeps in libp2p) finish
    gc.collect()
    counts = {
        "tasks": trio.lowlevel.current_statistics().tasks_living,
        "objects": len(gc.get_objects()),
        "rss": _rss(),
    }
    if tracemalloc.is_tracing():
        counts["traced_bytes"] = tracemalloc.get_traced_memory()[0]
    return counts


async def inbound_probe(
    n: int,
    *,
    max_connections: int = 300,
    clients: int = 24,
    warmup: int = 50,
    trace_memory: bool = False,
) -> dict[str, Any]:
    """``n`` sequential inbound connections (connect, one stream, close) to one server.

    The dialling side rotates over ``clients`` hosts only because libp2p spends 200 ms of
    sleeps closing a connection; each client waits for its previous close before dialling
    again, and every connection is opened after the previous one finished its stream.
    """
    out: dict[str, Any] = {"n": n, "warmup": warmup, "first_failure": None, "failure": None}
    async with open_host(Identity.generate(), LOOPBACK, max_connections=max_connections) as server:
        serve_protocol(server, PING, _echo_once)
        addr = server.get_addrs()[0]
        async with trio.open_nursery() as nursery:
            hosts = [await nursery.start(_run_client) for _ in range(clients)]
            idle = [trio.Event() for _ in hosts]
            for event in idle:
                event.set()
            start = start_after_warmup = time.perf_counter()
            for i in range(n):
                k = i % clients
                await idle[k].wait()
                try:
                    peer = await _ping(hosts[k], addr)
                except (PeerUnavailable, FrameError) as exc:
                    out["first_failure"], out["failure"] = i, exc.code
                    break
                idle[k] = trio.Event()
                nursery.start_soon(_release, hosts[k], peer, idle[k])
                if i + 1 == warmup:
                    for event in idle:
                        await event.wait()
                    if trace_memory:  # exact, but makes every allocation ~3x slower
                        tracemalloc.start()
                    out["before"] = await _settle(server)
                    start_after_warmup = time.perf_counter()
            for event in idle:
                await event.wait()
            out["seconds"] = round(time.perf_counter() - start, 2)
            out["ms_per_connection"] = round(
                1000 * (time.perf_counter() - start_after_warmup) / max(1, i + 1 - warmup), 2
            )
            out["after"] = await _settle(server)
            swarm = server.get_network()
            assert isinstance(swarm, Swarm)
            out["inbound_slots_held"] = swarm._inbound_limiter.borrowed_tokens
            async with open_host(Identity.generate(), []) as late:  # a peer never seen before
                try:
                    await _ping(late, addr)
                    out["reachable_at_end"] = True
                except (PeerUnavailable, FrameError):
                    out["reachable_at_end"] = False
            nursery.cancel_scope.cancel()
    return out


CRASH = "/samizdat-test/crash/1"


async def crash_probe() -> dict[str, Any]:
    """A raw libp2p handler (not ``serve_protocol``) raises; does the host survive?"""

    async def crash(stream: Any) -> None:
        await stream.read(1)
        raise StreamEOF()  # what an unguarded read at end of stream lets escape

    try:
        async with open_host(Identity.generate(), LOOPBACK) as server:
            server.set_stream_handler(TProtocol(CRASH), crash)
            serve_protocol(server, PING, _echo_once)
            addr = server.get_addrs()[0]
            async with open_host(Identity.generate(), []) as client:
                peer = await connect(client, addr, timeout=5)
                stream = await open_stream(client, peer, [CRASH], timeout=5)
                await stream.write(b"x")
                await trio.sleep(0.5)
                await _ping(client, addr)
                await _ping(client, addr)  # on the same connection, and again after it
        return {"host_survived": True}
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"host_survived": False, "error": type(exc).__name__}


def _run_probe_subprocess(*args: str, timeout: float = 120) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_p2p_compat", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------------ the tests


def test_apply_is_idempotent_and_marks_every_patch() -> None:
    compat.apply()
    compat.apply()
    assert compat.is_applied()
    assert compat.patch_names() == ["inbound-connection-leak", "stream-handler-exception"]
    assert compat.installed_version() == compat.PINNED_VERSION == "0.8.1"


_REFUSAL = """
import importlib.metadata, json, sys
from samizdat_node.p2p import compat
from libp2p.network.swarm import Swarm
case = sys.argv[1]
if case == "version":
    real = importlib.metadata.version
    importlib.metadata.version = lambda name: "0.9.0" if name == "libp2p" else real(name)
else:
    async def _do_handle_inbound_connection(self, *args):  # a "newer" upstream body
        return None
    Swarm._do_handle_inbound_connection = _do_handle_inbound_connection
try:
    compat.apply()
    print(json.dumps({"refused": False}))
except compat.CompatError as exc:
    print(json.dumps({"refused": True, "code": exc.code, "message": exc.message,
                      "untouched": not compat.is_applied()}))
"""


@pytest.mark.parametrize(
    ("case", "code"), [("version", "p2p.compat.version"), ("source", "p2p.compat.source")]
)
def test_apply_refuses_another_libp2p_and_patches_nothing(
    case: str, code: str, tmp_path: Path
) -> None:
    script = tmp_path / "refusal.py"  # a file, so the stand-in function has readable source
    script.write_text(_REFUSAL)
    proc = subprocess.run(
        [sys.executable, str(script), case], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["refused"] and result["code"] == code and result["untouched"]
    assert "0.8.1" in result["message"]


@pytest.mark.integration
async def test_handler_exception_does_not_kill_the_host() -> None:
    with trio.fail_after(30):
        assert await crash_probe() == {"host_survived": True}


@pytest.mark.integration
def test_handler_exception_kills_the_unpatched_host() -> None:
    result = _run_probe_subprocess("--unpatched", "crash", timeout=60)
    assert result["host_survived"] is False


def _check_flat(result: dict[str, Any]) -> None:
    grown = result["n"] - result["warmup"]
    before, after = result["before"], result["after"]
    assert result["first_failure"] is None, result
    assert result["reachable_at_end"] is True
    assert result["inbound_slots_held"] == 0
    # Without the patch every connection leaves one task and ~37 objects behind (see below).
    assert after["tasks"] - before["tasks"] <= 3, result
    assert (after["objects"] - before["objects"]) / grown < 2, result
    if "traced_bytes" in after:  # exact Python heap growth (soak runs trace allocations)
        assert (after["traced_bytes"] - before["traced_bytes"]) / grown < 512, result


@pytest.mark.integration
async def test_inbound_connections_do_not_leak() -> None:
    # 300 crosses the 250 lifetime limit of the unpatched host (about 8 s here).
    with trio.fail_after(60):
        result = await inbound_probe(300)
    print(json.dumps(result))
    _check_flat(result)


@pytest.mark.integration
@pytest.mark.soak
async def test_two_thousand_inbound_connections_do_not_leak() -> None:
    # About 55 s, or 200 s with allocation tracing (which measures the heap exactly).
    with trio.fail_after(900):
        result = await inbound_probe(2000, trace_memory=True)
    print(json.dumps(result))
    _check_flat(result)


def _check_deaf(result: dict[str, Any], max_connections: int) -> None:
    # libp2p admits max_connections - min_connections inbound connections, for life.
    limit = max_connections - max_connections // 6
    assert result["first_failure"] == limit, result
    assert result["failure"] == "p2p.dial_failed"
    assert result["reachable_at_end"] is False
    assert result["inbound_slots_held"] == limit
    leaked = limit - result["warmup"]
    assert result["after"]["tasks"] - result["before"]["tasks"] >= 0.9 * leaked, result


@pytest.mark.integration
def test_unpatched_host_goes_deaf_after_its_inbound_limit() -> None:
    # A small host (60 connections: 50 inbound slots) shows the defect in a few seconds.
    result = _run_probe_subprocess("--unpatched", "leak", "80", "--max-connections", "60")
    print(json.dumps(result))
    _check_deaf(result, 60)


@pytest.mark.integration
@pytest.mark.soak
def test_unpatched_default_host_goes_deaf_after_250_inbound_connections() -> None:
    result = _run_probe_subprocess("--unpatched", "leak", "300", timeout=300)
    print(json.dumps(result))
    _check_deaf(result, 300)


def _main(argv: list[str]) -> None:
    if argv and argv[0] == "--unpatched":
        setattr(compat, "apply", lambda: None)  # noqa: B010 - open_host calls compat.apply()
        argv = argv[1:]
    if argv[0] == "leak":
        n, options = int(argv[1]), argv[2:]
        most = (
            int(options[options.index("--max-connections") + 1])
            if "--max-connections" in options
            else 300
        )
        probe = partial(
            inbound_probe,
            n,
            max_connections=most,
            warmup=min(50, most // 6),
            trace_memory="--trace-memory" in options,
        )
        result = trio.run(probe)
    else:
        result = trio.run(crash_probe)
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
