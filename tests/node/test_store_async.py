"""AsyncStore: the store under trio, blocking calls in worker threads, one writer at a time."""

from __future__ import annotations

from pathlib import Path

import trio

from samizdat_node.search.model import SearchQuery
from samizdat_node.store import AsyncStore

from .test_store_support import CHARTER, KEYS, bodies

A, B = KEYS[0], KEYS[1]
NOW = 1_700_000_000_000


async def test_publish_apply_and_read_concurrently(tmp_path: Path) -> None:
    with trio.fail_after(60):
        a = await AsyncStore.create(tmp_path / "a.sqlite", CHARTER)
        b = await AsyncStore.create(tmp_path / "b.sqlite", CHARTER)
        async with a, b:
            ticks = 0

            async def ticker() -> None:  # the event loop stays responsive during writes
                nonlocal ticks
                while True:
                    ticks += 1
                    await trio.sleep(0.001)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ticker)
                publishing = [a.publish(A, bodies(400, start=n), NOW, batch_size=50)
                              for n in (0, 400)]
                results = []

                async def run(job: object) -> None:
                    results.append(await job)  # type: ignore[misc]

                async with trio.open_nursery() as writers:
                    for job in publishing:
                        writers.start_soon(run, job)
                    for _ in range(20):
                        writers.start_soon(a.counts)
                nursery.cancel_scope.cancel()
            assert sum(r.appended for r in results) == 800
            assert ticks > 0
            served = await a.entries(A.public, 0, 1000)
            res = await b.apply_batch(A.public, 0, served.headers, served.payloads, served.head)
            assert res.stored == 800
            assert (await b.counts()).records == 800
            assert (await b.verify()).ok
            page = await b.search(SearchQuery(text="Иванов"))
            assert page.hits
            view = await b.record("memo:5")
            assert view is not None and view.displayed is not None


async def test_cancelled_write_is_whole_or_absent(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with await AsyncStore.create(tmp_path / "a.sqlite", CHARTER) as a:
            with trio.move_on_after(0.05):
                await a.publish(A, bodies(3000), NOW, batch_size=3000)
            counts = await a.counts()
            assert counts.entries in (0, 3000)  # the thread finishes its transaction
            assert (await a.verify()).ok
