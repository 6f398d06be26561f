"""The SQLite layer: migrations, the atomic helper, and clear errors for a full disk or a
read-only directory that leave the store intact."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from samizdat_node.store import Store, StoreError
from samizdat_node.store.migrations import MIGRATIONS

from .test_store_support import KEYS, bodies, dump, make_charter, new_store

A = KEYS[0]
ROOT = Path(__file__).resolve().parents[2]


def test_migrations_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with new_store(path) as store:
        assert store.migrations() == [name for name, _ in MIGRATIONS]
    with Store.open(path) as store:
        assert store.migrations() == [name for name, _ in MIGRATIONS]
        with store.database.reading() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_store_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    new_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO migrations (seq, name, applied_ms) VALUES (99, '9999_future', 0)")
    conn.commit()
    conn.close()
    before = dump(path)
    with pytest.raises(StoreError) as err:
        Store.open(path)
    assert err.value.code == "store.too_new" and "9999_future" in str(err.value)
    assert dump(path) == before


def test_open_missing_and_wrong_dataset(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        Store.open(tmp_path / "nothing.sqlite")
    assert err.value.code == "store.not_found"
    path = tmp_path / "s.sqlite"
    new_store(path).close()
    with pytest.raises(StoreError) as err:
        Store.create(path, make_charter([KEYS[2]]))
    assert err.value.code == "store.wrong_dataset"


def test_atomic_rolls_back_everything(tmp_path: Path) -> None:
    with new_store(tmp_path / "s.sqlite") as store:
        before = dump(store.path)
        with pytest.raises(RuntimeError), store.database.atomic() as conn:
            conn.execute("INSERT INTO damage VALUES (1, 'x', 0, 0, 'y', 0)")
            with store.database.atomic() as inner:  # nested: joins the outer transaction
                inner.execute("INSERT INTO damage VALUES (1, 'x', 0, 1, 'y', 0)")
            raise RuntimeError("boom")
        assert dump(store.path) == before


def test_size_limit_full_is_clear_and_harmless(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    new_store(path).close()
    pages = os.path.getsize(path) // 8192
    with Store.open(path, max_pages=pages + 40) as store:
        with pytest.raises(StoreError) as err:
            for n in range(0, 5000, 100):
                before = dump(path)
                store.publish(A, bodies(100, start=n), 1_700_000_000_000, batch_size=100)
        assert err.value.code == "store.disk_full"
        assert dump(path) == before  # the failing batch left no trace
        held = store.length(A.public)
        assert held % 100 == 0 and held > 0
        assert store.verify().ok
    with Store.open(path) as store:  # room again: the re-run completes, nothing twice
        result = store.publish(A, bodies(800), 1_700_000_000_001, batch_size=100)
        assert result.unchanged == held and result.appended == 800 - held
        assert store.counts().entries == 800 and store.verify().ok


def _in_namespace(script: str, tmp_path: Path) -> dict[str, object]:
    """Run ``script`` as root in a private mount namespace (mounts vanish when it exits)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    code = textwrap.dedent(script)
    (tmp_path / "scenario.py").write_text(code)
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, str(tmp_path / "scenario.py"),
         str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"cannot create a mount namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


_PRELUDE = """
import json, os, subprocess, sys
from pathlib import Path
from samizdat_node.store import Store, StoreError
from tests.node.test_store_support import KEYS, bodies, dump, new_store
base = Path(sys.argv[1]) / "mnt"
base.mkdir()
def mount(*args):
    subprocess.run(["mount", *args], check=True)
"""


def test_disk_full_is_clear_and_harmless(tmp_path: Path) -> None:
    out = _in_namespace(_PRELUDE + """
mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(base))
filler = base / "filler"
filler.write_bytes(b"x" * 512 * 1024)
path = base / "s.sqlite"
store = new_store(path)
code = None
try:
    for n in range(0, 50000, 200):
        before = dump(path)
        store.publish(KEYS[0], bodies(200, start=n), 1_700_000_000_000, batch_size=200)
except StoreError as exc:
    code = exc.code
same = dump(path) == before
held = store.length(KEYS[0].public)
ok = store.verify().ok
filler.unlink()
again = store.publish(KEYS[0], bodies(held + 200), 1_700_000_000_001, batch_size=200)
print(json.dumps({"code": code, "same": same, "held": held, "ok": ok,
                  "unchanged": again.unchanged, "appended": again.appended,
                  "entries": store.counts().entries, "ok2": store.verify().ok}))
store.close()
""", tmp_path)
    assert out["code"] == "store.disk_full" and out["same"] and out["ok"] and out["ok2"]
    held = out["held"]
    assert isinstance(held, int) and held > 0 and held % 200 == 0
    assert out["unchanged"] == held and out["appended"] == 200 and out["entries"] == held + 200


def test_read_only_directory_is_clear_and_harmless(tmp_path: Path) -> None:
    out = _in_namespace(_PRELUDE + """
path = base / "s.sqlite"
store = new_store(path)
store.publish(KEYS[0], bodies(50), 1_700_000_000_000, batch_size=20)
store.close()
before = path.read_bytes()
mount("--bind", str(base), str(base))
mount("-o", "remount,bind,ro", str(base))
codes = []
for opener in (lambda: Store.open(path), lambda: new_store(path)):
    try:
        opener().close()
        codes.append(None)
    except StoreError as exc:
        codes.append(exc.code)
intact = path.read_bytes() == before
subprocess.run(["umount", str(base)], check=True)
with Store.open(path) as store:
    ok = store.verify().ok and store.counts().entries == 50
print(json.dumps({"codes": codes, "intact": intact, "ok": ok}))
""", tmp_path)
    assert out == {"codes": ["store.read_only", "store.read_only"], "intact": True, "ok": True}
