"""Page latency on 100,000 records over real HTTP (opt-in soak: ``SAMIZDAT_SOAK=1``).

Prints p50/p95 of the search page, the record page and their JSON counterparts, measured by
one sequential client on loopback against ``serve_gateway``. Figures, not timed assertions:
the test fails only if a page is not served correctly.
"""

from __future__ import annotations

import random
import statistics
import time
import urllib.request
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import trio

from samizdat_node.gateway import GatewaySettings, RateLimit, serve_gateway
from samizdat_node.gateway.sample_site import build_sample_store
from samizdat_node.sample import generate_records, record_id_for
from samizdat_node.store import AsyncStore

pytestmark = [pytest.mark.soak, pytest.mark.integration]

RECORDS = 100_000
SAMPLES = 300
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LATIN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya"})


def _get(url: str) -> float:
    start = time.perf_counter()
    with _OPENER.open(url, timeout=30) as resp:
        resp.read()
        assert resp.status == 200
    return time.perf_counter() - start


def _figures(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{name:<16} p50 {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   (n={len(ms)})"


async def test_page_latency_on_100k_records(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    started = time.perf_counter()
    build_sample_store(path, RECORDS, seed=1937)
    print(f"\nbuilt a store of {RECORDS:,} records in {time.perf_counter() - started:.1f} s")
    rng = random.Random(5)
    people = [b for b in generate_records(RECORDS, 1937)]
    picks = [rng.choice(people) for _ in range(SAMPLES)]
    queries = []
    for body in picks:
        words = [body["surname"], body.get("name", "")]
        text = " ".join(w for w in words if w).lower()
        queries.append(text.translate(_LATIN) if rng.random() < 0.5 else text)
    settings = GatewaySettings(rate=RateLimit(rate=1e6, burst=1e6))
    async with await AsyncStore.open(path) as store, trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_gateway, store, "127.0.0.1:0",
                                          settings=settings))
        timings: dict[str, list[float]] = {"search page": [], "record page": [],
                                           "search API": [], "record API": []}
        for query, body in zip(queries, picks, strict=True):
            rid = quote(record_id_for(body), safe=":")
            for name, target in (("search page", "/?" + urlencode({"q": query})),
                                 ("search API", "/api/v1/search?" + urlencode({"q": query})),
                                 ("record page", f"/records/{rid}"),
                                 ("record API", f"/api/v1/records/{rid}")):
                timings[name].append(await trio.to_thread.run_sync(_get, url + target))
        nursery.cancel_scope.cancel()
    for name, seconds in timings.items():
        print(_figures(name, seconds))
