"""Repair: bytes flipped in the SQLite file are found by verify, rewritten from another store's
copy (checked against our own signed head, never trusted), and verify passes again."""

from __future__ import annotations

from pathlib import Path

from samizdat_node.store import Store
from samizdat_protocol.governance import propose

from .test_store_audit import flip, node_hash, published
from .test_store_support import FOUNDER, KEYS, dump, view_table

A = KEYS[0]


def mirror_of(store: Store, path: Path) -> Store:
    other = Store.create(path, store.charter, clock=lambda: 1_700_000_000_000)
    served = store.entries(A.public, 0, 1000)
    other.apply_batch(A.public, 0, served.headers, served.payloads, served.head)
    return other


def fetch(store: Store, source: Store) -> None:
    """What the replication helper does: fetch the damaged ranges from a peer, repair."""
    for publisher, start, end in store.damaged_ranges():
        got = source.entries(publisher, start, end - start)
        result = store.repair_range(publisher, start, got.headers, got.payloads)
        assert not result.refused, result.refused


def test_flipped_bytes_repaired_from_a_peer(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with published(path) as store, mirror_of(store, tmp_path / "b.sqlite") as peer:
        good = view_table(store)
        served = store.entries(A.public, 0, 1000)
        # Damage in different 16-entry blocks: a subtree below level 4 is folded from stored
        # leaves (tree.py), so a second damaged leaf in the block of entry 7 would leave the
        # audit unable to tell which of entry 7's header and leaf is right ("entry").
        with store.database.reading() as conn:
            leaf27 = bytes(conn.execute("SELECT leaf FROM entries WHERE idx = 27").fetchone()[0])
        damaged = [served.headers[7], served.payloads[21] or b"", node_hash(store, 5, 0),
                   leaf27]
    for needle in damaged:
        flip(path, needle)
    with Store.open(path) as store, Store.open(tmp_path / "b.sqlite") as peer:
        report = store.verify()
        assert sorted((d.part, d.index, d.level) for d in report.damage) == [
            ("header", 7, 0), ("leaf", 27, 0), ("node", 0, 5), ("payload", 21, 0)]
        assert store.damaged_ranges() == [(A.public, 7, 8), (A.public, 21, 22)]
        # A copy that is not what our head signed is refused and changes nothing.
        wrong = peer.entries(A.public, 7, 1)
        forged = [wrong.headers[0].replace(b"memo:", b"memo-")]
        before = dump(path)
        result = store.repair_range(A.public, 7, forged, wrong.payloads)
        assert list(result.refused) == [A.public] and "repair.root" in result.refused[A.public]
        assert dump(path) == before
        fetch(store, peer)
        assert store.damage() == [] and store.verify().ok
        assert view_table(store) == good
        assert store.entries(A.public, 0, 1000) == peer.entries(A.public, 0, 1000)


def test_local_damage_needs_no_copy(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with published(path) as store:
        with store.database.reading() as conn:
            leaf11 = bytes(conn.execute("SELECT leaf FROM entries WHERE idx = 11").fetchone()[0])
        level5 = node_hash(store, 5, 0)  # not on the proof path of entry 11
        with store.database.atomic() as conn:
            conn.execute("UPDATE entries SET record_id = 'memo:999' WHERE idx = 4")
    flip(path, leaf11)
    flip(path, level5)
    with Store.open(path) as store:
        found = sorted((d.part, d.index, d.level) for d in store.verify().damage)
        assert found == [("index", 4, 0), ("leaf", 11, 0), ("node", 0, 5)]
        assert store.damaged_ranges() == []
        result = store.repair_entries([])
        assert (result.leaves, result.nodes, result.columns) == (1, 1, 1)
        assert result.damage == [] and store.verify().ok


def test_missing_row_and_erased_payload(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with published(path) as store, mirror_of(store, tmp_path / "b.sqlite") as peer:
        secret = store.entries(A.public, 9, 1).payloads[0]
        view = store.record("memo:9")
        assert view is not None and view.displayed is not None and secret is not None
        approval = propose(store.dataset_id, 1, "erase", {
            "record": "memo:9", "payload": view.displayed.entry.payload_hash,
            "reason": "safety"}, 1).sign(FOUNDER)
        store.add_governance(approval.to_bytes())
        with store.database.atomic() as conn:
            conn.execute("DELETE FROM entries WHERE idx IN (9, 10)")
        assert [(d.part, d.index) for d in store.verify().damage] == [
            ("missing", 9), ("missing", 10)]
        assert store.damaged_ranges() == [(A.public, 9, 11)]
        fetch(store, peer)  # the peer still has memo:9's payload: it is not written back
        assert store.verify().ok
        assert store.entries(A.public, 9, 1).payloads[0] is None
        assert store.entries(A.public, 10, 1) == peer.entries(A.public, 10, 1)
