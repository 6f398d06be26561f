"""Crash safety (design §9): SIGKILL a publishing process at random points; every time the store
opens, verifies, and a re-run completes with nothing duplicated or lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samizdat_node.store import Store

from .test_store_support import KEYS, bodies

ROOT = Path(__file__).resolve().parents[2]
A = KEYS[0]
NOW = 1_700_000_000_000


def child() -> None:
    """Publish ``count`` records in batches of ``batch`` into the store at argv[1]."""
    from .test_store_support import new_store

    path, count, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = new_store(path)
    print("go", flush=True)
    began = time.perf_counter()
    store.publish(A, bodies(count), NOW, batch_size=batch)
    print(f"done {time.perf_counter() - began:.3f}", flush=True)
    store.close()


def _spawn(path: Path, count: int, batch: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tests.node.test_store_crash import child; child()",
         str(path), str(count), str(batch)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "go"
    return proc


def _check(path: Path, count: int, batch: int) -> int:
    """The store opens and verifies; whole batches only; no record twice. Returns its length."""
    with Store.open(path) as store:
        assert store.verify().ok
        held = store.length(A.public)
        assert held % batch == 0 or held == count
        counts = store.counts()
        assert counts.entries == counts.records == held
        with store.database.reading() as conn:
            twice = conn.execute("SELECT record_id FROM entries GROUP BY record_id "
                                 "HAVING count(*) > 1").fetchall()
        assert twice == []
    return held


def _kill_at(path: Path, count: int, batch: int, delay: float) -> int:
    proc = _spawn(path, count, batch)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return _check(path, count, batch)


def _kill_runs(tmp_path: Path, points: int, count: int, batch: int, seed: int) -> None:
    """Each point: a fresh import killed at a random moment, sometimes its re-run killed too,
    then a re-run that must complete exactly."""
    rng = random.Random(seed)
    proc = _spawn(tmp_path / "calibrate.sqlite", count, batch)
    out, _ = proc.communicate(timeout=300)
    duration = float(out.split()[-1])
    seen = set()
    for point in range(points):
        path = tmp_path / f"s{point}.sqlite"
        held = _kill_at(path, count, batch, rng.uniform(0, duration))
        if point % 3 == 2:  # kill the resumed run as well
            again = _kill_at(path, count, batch, rng.uniform(0, duration))
            assert again >= held  # committed batches are never lost
            held = again
        seen.add(held)
        with Store.open(path) as store:  # a final run completes the import
            result = store.publish(A, bodies(count), NOW, batch_size=batch)
            assert result.unchanged == held and result.appended == count - held
        assert _check(path, count, batch) == count
    assert len(seen) > 2  # the kills did land at different points of the import


def test_sigkill_during_publish(tmp_path: Path) -> None:
    _kill_runs(tmp_path, points=12, count=4000, batch=200, seed=3)


@pytest.mark.soak
def test_sigkill_during_publish_soak(tmp_path: Path) -> None:
    _kill_runs(tmp_path, points=200, count=20000, batch=500, seed=11)
