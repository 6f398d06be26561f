"""Progress of verify (the store's callback, the bar on a terminal) and the plain lines of
several bars at once (``sync --once``, progress.py)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from samizdat_node.progress import ProgressBars
from samizdat_node.store import Store
from samizdat_node.store.verify import verify_store
from tests.node.test_cli_support import PUBLISHER, SECOND, make_node
from tests.node.test_store_support import KEYS, bodies, new_store
from tests.support.terminal import run_on_terminal

NOW = 1_700_000_000_000


def _store(path: Path) -> Store:
    store = new_store(path)
    store.publish(KEYS[0], bodies(300), NOW)
    store.publish(KEYS[1], bodies(45, start=1000), NOW)
    return store


def _check(calls: list[int], total: int) -> None:
    assert calls, "no progress reported"
    assert all(a < b for a, b in itertools.pairwise(calls)), calls
    assert calls[-1] == total


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_reports_entries_checked_up_to_the_entries_held(tmp_path: Path,
                                                               workers: int) -> None:
    store = _store(tmp_path / "s.sqlite")
    try:
        total = store.counts().entries
        assert total == 345
        calls: list[int] = []
        # Blocks of 32 leaves: many calls; with two workers, blocks come from a process pool.
        report = verify_store(store.database, store.dataset, block_level=5, workers=workers,
                              progress=calls.append)
        assert report.ok and report.entries == total
        _check(calls, total)
        assert len(calls) == -(-300 // 32) + -(-45 // 32)
        once: list[int] = []
        assert store.verify(progress=once.append).ok
        _check(once, total)
    finally:
        store.close()


def test_plain_lines_name_every_part_and_come_rarely() -> None:
    now = [0.0]
    out = io.StringIO()
    with ProgressBars("sync", unit="entries", stream=out, interval=5.0,
                      clock=lambda: now[0]) as bars:
        bars.update("a", 0, 1000, label="Memorial")
        bars.update("b", 0, 10, label="Second org")
        now[0] = 2.0
        bars.update("a", 400)
        assert out.getvalue() == ""  # work that ends sooner than the interval says nothing
        now[0] = 10.0
        bars.update("b", 10)
    assert out.getvalue() == ("sync: Memorial: 400 of 1,000 entries (40%), 40/s; "
                              "Second org: 10 of 10 entries (100%), 1/s\n")
    assert bars.parts["a"].completed == 400 and bars.parts["b"].total == 10
    quiet = io.StringIO()
    with ProgressBars("sync", stream=quiet, enabled=False, clock=lambda: now[0]) as bars:
        now[0] = 100.0
        bars.update("a", 5, 10)
    assert quiet.getvalue() == ""


def test_verify_draws_a_bar_on_a_terminal_and_nothing_with_json(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node")
    with Store.open(node / "store.sqlite") as store:
        store.publish(PUBLISHER, bodies(200), NOW)
        store.publish(SECOND, bodies(20, start=500), NOW)
    run = run_on_terminal("verify", "--data", str(node))
    assert run.returncode == 0, run.screen
    assert "no damage" in run.stdout
    assert "verify" in run.screen and "220/220" in run.screen and "━" in run.screen
    run = run_on_terminal("verify", "--data", str(node), "--json")
    assert run.returncode == 0 and '"entries": 220' in run.stdout
    assert "━" not in run.screen and "220/220" not in run.screen
