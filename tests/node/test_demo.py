"""`samizdat demo` (what `make demo` runs), shortened, through the real entry point.

Three real daemons on loopback; the demo's own output says what it proved, and each claim is
checked here (the demo itself fails with exit 1 when a step does not happen in time).
"""

from __future__ import annotations

import re

from tests.support.cli import run_cli


def test_demo_runs_a_live_cluster_and_proves_what_it_says() -> None:
    result = run_cli("demo", "--records", "1500", "--seed", "7", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "2 of 3 founders signed" in out
    assert "1,500 records signed and stored on the publisher" in out
    assert "converged: 2 mirrors hold all 1,500 entries" in out
    # Heads shown converging live: at least one line per mirror reaching the target.
    for mirror in ("mirror-1", "mirror-2"):
        assert re.search(rf"\[sync\] {mirror} +head +1,500 / 1,500", out), out
        assert f"correction arrived on {mirror}" in out
        assert f"retraction arrived on {mirror}" in out
    assert "shows RETRACTED (duplicate of another record)" in out
    assert "mirror-2 killed with SIGKILL" in out
    assert "mirror-2 restarted and caught up to 1,902 entries" in out
    assert "light client fetched" in out and "verified against signed heads" in out
    assert re.search(r"web gateway of mirror-1: http://127\.0\.0\.1:\d+/", out)
    assert "publisher exit 0, mirror-1 exit 0, mirror-2 exit 0" in out
    assert len(re.findall(r"1,902 entries, head 1,902 .* verify ok", out)) == 3
    assert "same head on every node; verify ok on every node" in out
    assert "Traceback" not in result.stderr
