"""`samizdat demo` (what `make demo` runs), shortened, through the real entry point."""

from __future__ import annotations

from tests.support.cli import run_cli


def test_demo_proves_what_it_says() -> None:
    result = run_cli("demo", "--records", "1500", "--seed", "7")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "2 of 3 founders signed" in out
    assert "1,500 records validated and appended" in out
    assert "verified all 1,500 entries against one signed head" in out
    assert "inclusion proof of" in out and "checks against the signed head" in out
    assert "1 alternative version(s) kept" in out and "retracted: True" in out
    for code in ("range.root", "auth.not_a_publisher", "range.length"):
        assert f"rejected ({code})" in out
    assert "equivocation proof built and verified" in out
    assert "4 of 4 attacks caught" in out
    assert "Traceback" not in result.stderr
