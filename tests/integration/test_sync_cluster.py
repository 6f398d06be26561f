"""Several nodes converge: five in one process, three as separate processes (design §4)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import trio

from tests.integration.test_sync_support import (
    KEYS,
    bodies,
    eventually,
    make_node_dir,
    node_config,
    publish,
    running_nodes,
    start_node_process,
    status_heads,
    stop_processes,
    store_view,
    views_of,
)

pytestmark = pytest.mark.integration

async def test_five_nodes_converge_with_publishes_on_two_publishers(tmp_path: Path) -> None:
    dirs = [make_node_dir(tmp_path, "n0", records=1500)]
    dirs += [make_node_dir(tmp_path, f"n{n}") for n in range(1, 4)]
    dirs.append(make_node_dir(tmp_path, "n4", records=800, key=1, variant="b"))
    with trio.fail_after(90):
        # A chain (each bootstraps to the one before): heads must travel over several hops.
        async with running_nodes([node_config(d, anti_entropy=2.0) for d in dirs],
                                 chain=True) as nodes:

            async def converged() -> bool:
                views = await views_of(nodes)
                return all(v == views[0] for v in views) and len(views[0][0]) == 2

            assert await eventually(converged, 40)
            # Both publishers publish again, on opposite ends of the chain.
            await publish(nodes[0], 0, 200, start=1500)
            await publish(nodes[4], 1, 300, start=800, variant="c")
            assert await eventually(converged, 30)
            heads, view = (await views_of(nodes[:1]))[0]
            assert sorted(length for length, _ in heads.values()) == [1100, 1700]
            assert len(view) == 1700
    views = [store_view(d / "store.sqlite") for d in dirs]
    assert all(v == views[0] for v in views)


def test_three_node_processes_converge_and_stop_cleanly(tmp_path: Path) -> None:
    dirs = [make_node_dir(tmp_path, "p0", records=2000), make_node_dir(tmp_path, "p1"),
            make_node_dir(tmp_path, "p2", records=500, key=2, variant="z")]
    procs: list[subprocess.Popen[str]] = []
    try:
        first, ready = start_node_process(dirs[0])
        procs.append(first)
        for path in dirs[1:]:
            procs.append(start_node_process(path, bootstrap=[ready["addrs"][0]])[0])
        want = {KEYS[0].public.hex(): 2000, KEYS[2].public.hex(): 500}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(status_heads(d) != want for d in dirs):
            time.sleep(0.2)
        assert [status_heads(d) for d in dirs] == [want] * 3
        # A publish in one process (through the store file, as `samizdat publish` would do
        # beside a running node) reaches the others.
        from samizdat_node.store import Store

        with Store.open(dirs[1] / "store.sqlite") as store:
            store.publish(KEYS[1], bodies(100, variant="q"), 1_700_000_000_000)
        want[KEYS[1].public.hex()] = 100
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(status_heads(d) != want for d in dirs):
            time.sleep(0.2)
        assert [status_heads(d) for d in dirs] == [want] * 3
    finally:
        codes = stop_processes(procs)
    assert codes == [0, 0, 0], [p.stderr.read() if p.stderr else "" for p in procs]
    views = [store_view(d / "store.sqlite") for d in dirs]
    assert all(v == views[0] for v in views)
