"""store/parsepool.py: big chunks parsed in a second process store exactly what in-process
parsing stores; a malformed chunk fails with the same error; a killed child changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trio

from samizdat_node.store import AsyncStore
from samizdat_node.store.parsepool import MIN_ENTRIES, ParsePool, parse_chunk
from samizdat_protocol.errors import SamizdatError
from samizdat_protocol.log import PublisherLog

from .test_store_support import CHARTER, KEYS, SCHEMA, body, dump, log_batch

A = KEYS[0]
N = 3 * MIN_ENTRIES


def make_log(n: int) -> PublisherLog:
    log = PublisherLog(CHARTER.dataset_id, A.public)
    for i in range(n):
        log.put(f"memo:{i}", body(i), 1000 + i)
    return log


LOG = make_log(N)


async def warmed(store: AsyncStore) -> AsyncStore:
    """Wait until the store's parsing process is up (a cold pool parses in process)."""
    pool = store.parse_pool
    if pool is not None:
        with trio.fail_after(60):
            for _ in range(1200):  # polled: the child answers in a pool thread
                if pool.warm():
                    break
                await trio.sleep(0.05)
    return store


async def apply_all(path: Path, processes: int, chunk: int = MIN_ENTRIES) -> AsyncStore:
    store = await warmed(await AsyncStore.create(path, CHARTER, index_mode="auto",
                                                 parse_processes=processes))
    for start in range(0, N, chunk):
        end = min(N, start + chunk)
        headers, payloads = log_batch(LOG, start, end)
        proof = LOG.tree.consistency_proof(end, N) if end < N else []
        await store.apply_batch(A.public, start, headers, payloads, LOG.sign(A, 1), proof=proof)
    return store


def content(path: Path) -> list[str]:
    """The SQL dump without the migrations' timestamps."""
    return [line for line in dump(path) if not line.startswith('INSERT INTO "migrations"')]


async def test_the_pool_stores_what_in_process_parsing_stores(tmp_path: Path) -> None:
    pooled = await apply_all(tmp_path / "pooled.sqlite", 1)
    assert pooled.parse_pool is not None and pooled.parse_pool.started == 1
    assert pooled.parsed_elsewhere == N // MIN_ENTRIES
    await pooled.aclose()
    plain = await apply_all(tmp_path / "plain.sqlite", 0)
    await plain.aclose()
    assert content(tmp_path / "pooled.sqlite") == content(tmp_path / "plain.sqlite")


def test_parse_chunk_returns_columns_or_none() -> None:
    headers, payloads = log_batch(LOG, 0, 8)
    parsed = parse_chunk(SCHEMA, 0, headers, payloads, True)
    assert parsed is not None
    kinds, record_ids, keys, timestamps, bodies = parsed
    assert record_ids == [f"memo:{i}" for i in range(8)] and bodies is not None
    assert bodies[3] == body(3) and timestamps[3] == 1003 and len(kinds) == len(keys) == 8
    bad = list(payloads)
    bad[5] = (bad[5] or b"") + b"\x00"
    assert parse_chunk(SCHEMA, 0, headers, bad, False) is None


async def _first_error(path: Path, processes: int) -> tuple[str, list[str]]:
    store = await warmed(await AsyncStore.create(path, CHARTER, parse_processes=processes))
    headers, payloads = log_batch(LOG, 0, MIN_ENTRIES)
    payloads[77] = (payloads[77] or b"")[:-1]  # a truncated payload: its hash differs
    try:
        with pytest.raises(SamizdatError) as caught:
            await store.apply_batch(A.public, 0, headers, payloads, LOG.sign(A, 1),
                                    proof=LOG.tree.consistency_proof(MIN_ENTRIES, N))
    finally:
        await store.aclose()
    return f"{caught.value.code} {caught.value.details}", content(path)


async def test_a_bad_chunk_fails_the_same_way_with_or_without_the_pool(tmp_path: Path) -> None:
    pooled = await _first_error(tmp_path / "a.sqlite", 1)
    plain = await _first_error(tmp_path / "b.sqlite", 0)
    assert pooled == plain and "payload.hash_mismatch" in pooled[0]


async def test_a_killed_child_changes_nothing(tmp_path: Path) -> None:
    store = await warmed(await AsyncStore.create(tmp_path / "a.sqlite", CHARTER,
                                                 parse_processes=1))
    pool = store.parse_pool
    assert pool is not None
    try:
        headers, payloads = log_batch(LOG, 0, MIN_ENTRIES)
        proof = LOG.tree.consistency_proof(MIN_ENTRIES, N)
        await store.apply_batch(A.public, 0, headers, payloads, LOG.sign(A, 1), proof=proof)
        assert pool._executor is not None
        for pid in list(pool._executor._processes):  # the child dies between chunks
            os.kill(pid, signal.SIGKILL)
        with trio.fail_after(30):
            for start in (MIN_ENTRIES, 2 * MIN_ENTRIES):
                end = start + MIN_ENTRIES
                headers, payloads = log_batch(LOG, start, end)
                await store.apply_batch(A.public, start, headers, payloads, LOG.sign(A, 1),
                                        proof=LOG.tree.consistency_proof(end, N)
                                        if end < N else [])
        assert (await store.run_sync(lambda s: s.length(A.public))) == N
        assert (await store.verify()).ok
    finally:
        await store.aclose()


def test_idle_pool_is_stopped_and_restarted() -> None:
    now = [0.0]
    pool = ParsePool(idle_seconds=30, clock=lambda: now[0])
    try:
        headers, payloads = log_batch(LOG, 0, 4)
        assert pool.submit_chunk(SCHEMA, 0, headers, payloads, False).result(60) is not None
        assert pool.running and not pool.close_if_idle()
        for _ in range(1200):  # a warm-up call, answered once the child has imported
            if pool.warm():
                break
            time.sleep(0.05)
        assert pool.warm() and pool.started == 1
        now[0] = 31.0
        assert pool.close_if_idle() and not pool.running
        assert pool.submit_chunk(SCHEMA, 0, headers, payloads, False).result(60) is not None
        assert pool.started == 2
    finally:
        pool.close()


def test_a_broken_pools_late_failures_leave_the_next_pool_alone() -> None:
    """Tasks of a killed child fail one after another; once the first has made the pool start
    a new child, the later failures must not stop that healthy one (they once did: a killed
    import helper then went unnoticed and its replacement was replaced again)."""
    pool = ParsePool()
    try:
        first = pool.submit(os.getpid).result(60)
        assert first is not None and pool.started == 1
        running, queued = pool.submit(time.sleep, 30), pool.submit(time.sleep, 30)
        first_failed, go_on, second_failed = (threading.Event() for _ in range(3))
        # Callbacks run in the order added, in the broken pool's thread: ours after the pool's.
        running.add_done_callback(lambda _: (first_failed.set(), go_on.wait(30)))
        queued.add_done_callback(lambda _: second_failed.set())
        os.kill(first, signal.SIGKILL)
        assert first_failed.wait(30)
        second = pool.submit(os.getpid).result(60)  # the new child, while failures go on
        go_on.set()
        assert second_failed.wait(30)
        assert second is not None and second != first and pool.started == 2
        assert pool.submit(os.getpid).result(60) == second and pool.started == 2
    finally:
        pool.close()


_ORPHAN_SCRIPT = """
import sys, time
from samizdat_node.store.parsepool import ParsePool
pool = ParsePool()
for _ in range(1200):
    if pool.warm():
        break
    time.sleep(0.05)
print(*pool._executor._processes, flush=True)
time.sleep(600)
"""


def test_the_child_ends_when_its_node_is_killed() -> None:
    """A SIGKILLed node must not leave its parsing process waiting forever."""
    node = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert node.stdout is not None
        child = int(node.stdout.readline().split()[0])
        os.kill(node.pid, signal.SIGKILL)
        node.wait(10)
        for _ in range(100):  # the child checks its parent twice a second
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the parsing process outlived its node")
    finally:
        node.kill()


async def test_applies_commit_in_the_order_they_were_called(tmp_path: Path) -> None:
    """A big chunk parsed by the pool is not overtaken by a small one parsed in process (a
    sync session starts the next apply while the previous one is still being parsed)."""
    store = await warmed(await AsyncStore.create(tmp_path / "a.sqlite", CHARTER,
                                                 parse_processes=1))
    try:
        first = log_batch(LOG, 0, MIN_ENTRIES)
        second = log_batch(LOG, MIN_ENTRIES, MIN_ENTRIES + 10)
        results = []

        async def apply(start: int, batch: tuple[list[bytes], list[bytes | None]]) -> None:
            end = start + len(batch[0])
            results.append(await store.apply_batch(
                A.public, start, batch[0], batch[1], LOG.sign(A, 1),
                proof=LOG.tree.consistency_proof(end, N)))

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(apply, 0, first)
                await trio.lowlevel.checkpoint()  # the first call went to the pool
                nursery.start_soon(apply, MIN_ENTRIES, second)
        assert [r.start for r in results] == [0, MIN_ENTRIES]
        assert store.parsed_elsewhere == 1
    finally:
        await store.aclose()
