"""verify(): a byte flipped in the SQLite file is found and named by (publisher, index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat_node.store import Damage, Store
from samizdat_node.store.verify import verify_store

from .test_store_support import KEYS, bodies, new_store

A = KEYS[0]
N = 40


def published(path: Path) -> Store:
    store = new_store(path)
    store.publish(A, bodies(N), 1_700_000_000_000, batch_size=16)
    store.retract(A, "memo:3", "duplicate", 1_700_000_000_001)
    return store


def flip(path: Path, needle: bytes, offset: int = 5) -> None:
    """Flip one byte of ``needle`` everywhere it occurs in the (checkpointed) SQLite file."""
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    data = bytearray(path.read_bytes())
    pos = data.find(needle)
    assert pos >= 0, "needle not in the file"
    while pos >= 0:
        data[pos + offset] ^= 0x01
        pos = data.find(needle, pos + 1)
    path.write_bytes(bytes(data))


def node_hash(store: Store, level: int, index: int) -> bytes:
    with store.database.reading() as conn:
        row = conn.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?",
                           (level, index)).fetchone()
    return bytes(row[0])


def test_clean_store_verifies(tmp_path: Path) -> None:
    with published(tmp_path / "s.sqlite") as store:
        report = store.verify()
        assert report.ok and report.entries == N + 1 and report.payloads == N
        assert verify_store(store.database, store.dataset, block_level=2).ok


@pytest.mark.parametrize("part", ["header", "payload", "node", "leaf", "head"])
def test_flipped_byte_is_named(tmp_path: Path, part: str) -> None:
    path = tmp_path / "s.sqlite"
    with published(path) as store:
        served = store.entries(A.public, 0, N + 1)
        head = served.head
        with store.database.reading() as conn:
            leaf11 = bytes(conn.execute("SELECT leaf FROM entries WHERE idx = 11").fetchone()[0])
        level4 = node_hash(store, 4, 1)  # levels 1-3 are not stored (tree.py)
    needle, want = {
        "header": (served.headers[7], Damage(A.public, "header", 7, 0)),
        "payload": (served.payloads[21] or b"", Damage(A.public, "payload", 21, 0)),
        "node": (level4, Damage(A.public, "node", 1, 4)),
        "leaf": (leaf11, Damage(A.public, "leaf", 11, 0)),
        "head": (head.signature, Damage(A.public, "head", N + 1, 0)),
    }[part]
    flip(path, needle)
    with Store.open(path) as store:
        report = store.verify()
        found = [(d.publisher, d.part, d.index, d.level) for d in report.damage]
        assert found == [(want.publisher, want.part, want.index, want.level)], report.damage
        assert [(d.part, d.index) for d in store.damage()] == [(want.part, want.index)]
        # The same answer when blocks are audited separately and folded (and in processes).
        workers = 2 if part in ("header", "node") else 1
        small = verify_store(store.database, store.dataset, block_level=3, workers=workers)
        assert [(d.part, d.index, d.level) for d in small.damage] == [
            (want.part, want.index, want.level)]


def test_missing_row_is_named(tmp_path: Path) -> None:
    with published(tmp_path / "s.sqlite") as store:
        with store.database.atomic() as conn:
            conn.execute("DELETE FROM entries WHERE idx = 9")
        report = store.verify()
        assert [(d.part, d.index) for d in report.damage] == [("missing", 9)]


def test_derived_column_damage_is_named(tmp_path: Path) -> None:
    with published(tmp_path / "s.sqlite") as store:
        with store.database.atomic() as conn:
            conn.execute("UPDATE entries SET record_id = 'memo:999' WHERE idx = 4")
        report = store.verify()
        assert [(d.part, d.index) for d in report.damage] == [("index", 4)]
        with store.database.atomic() as conn:
            conn.execute("UPDATE entries SET record_id = 'memo:4' WHERE idx = 4")
        assert store.verify().ok and store.damage() == []
