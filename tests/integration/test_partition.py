"""A network partition heals into identical views (design §9).

Four node processes, each in its own network namespace on one bridge (created by the test,
as root, and always deleted). The bridge is split into {0, 1} and {2, 3}; each side publishes
(node 0 for publisher 0, node 2 for publisher 1) and converges on its own while the other
side cannot see it; then the bridge is healed and all four stores must end identical.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from samizdat_node.store import Store
from tests.integration.test_sync_support import (
    KEYS,
    NOW,
    NetnsLan,
    bodies,
    make_node_dir,
    netns_available,
    start_node_process,
    status_heads,
    stop_processes,
    store_view,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not netns_available(), reason="needs root and iproute2 (ip netns)"),
]

PORT = 4747


def _wait(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_a_partition_heals_into_identical_views(tmp_path: Path) -> None:
    dirs = [make_node_dir(tmp_path, f"n{n}", records=300 if n == 0 else 0) for n in range(4)]
    lan = NetnsLan(4, "p")
    procs: list[subprocess.Popen[str]] = []
    try:
        addrs: list[str] = []
        for n, path in enumerate(dirs):
            # Everyone dials node 0 and node 2, across what will become the partition.
            boot = [a for i, a in enumerate(addrs) if i in (0, 2)]
            proc, ready = start_node_process(
                path, bootstrap=boot, listen=f"/ip4/{lan.ip(n)}/tcp/{PORT}",
                prefix=lan.exec_prefix(n), anti_entropy=1.0)
            procs.append(proc)
            addrs.append(next(a for a in ready["addrs"] if lan.ip(n) in a))
        first = {KEYS[0].public.hex(): 300}
        assert _wait(lambda: all(status_heads(d) == first for d in dirs), 40), \
            [status_heads(d) for d in dirs]

        lan.split([2, 3])
        with Store.open(dirs[0] / "store.sqlite") as store:
            store.publish(KEYS[0], bodies(200, start=300), NOW + 1)
        with Store.open(dirs[2] / "store.sqlite") as store:
            store.publish(KEYS[1], bodies(150, variant="b"), NOW + 2)
        left = {KEYS[0].public.hex(): 500}
        right = {KEYS[0].public.hex(): 300, KEYS[1].public.hex(): 150}
        assert _wait(lambda: [status_heads(d) for d in dirs] == [left, left, right, right], 30), \
            [status_heads(d) for d in dirs]
        time.sleep(2)  # still apart: nothing crosses the split
        assert [status_heads(d) for d in dirs] == [left, left, right, right]

        lan.heal()
        both = {KEYS[0].public.hex(): 500, KEYS[1].public.hex(): 150}
        assert _wait(lambda: all(status_heads(d) == both for d in dirs), 60), \
            [status_heads(d) for d in dirs]
    finally:
        codes = stop_processes(procs)
        lan.close()
    assert codes == [0] * 4, [p.stderr.read()[-2000:] if p.stderr else "" for p in procs]
    views = [store_view(d / "store.sqlite") for d in dirs]
    assert all(v == views[0] for v in views)
    assert len(views[0][1]) == 500
