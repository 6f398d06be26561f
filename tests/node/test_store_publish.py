"""The publishing pipeline: only changed records are appended, one signed head per batch, and
retract / correct / erase go through the same verified path; search follows the view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from samizdat_node.search.model import SearchQuery
from samizdat_node.store import Store
from samizdat_protocol.errors import LocalError, SchemaError
from samizdat_protocol.heads import SignedHead

from .test_store_support import KEYS, approve_erase, bodies, body, new_store, view_table

A, B = KEYS[0], KEYS[1]
NOW = 1_700_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with new_store(tmp_path / "s.sqlite") as s:
        yield s


def test_rerun_appends_nothing_and_changes_append_once(store: Store) -> None:
    first = store.publish(A, bodies(25), NOW, batch_size=10)
    assert (first.appended, first.batches, first.length) == (25, 3, 25)
    assert [h.length for h in store.head_history(A.public)] == [10, 20, 25]
    again = store.publish(A, bodies(25), NOW + 1, batch_size=10)
    assert (again.appended, again.unchanged, again.batches) == (0, 25, 0)
    changed = list(bodies(25))
    changed[4] = ("memo:4", body(4, "-corrected"))
    third = store.publish(A, changed, NOW + 2, batch_size=10)
    assert (third.appended, third.unchanged) == (1, 24)
    view = store.record("memo:4")
    assert view is not None and view.displayed is not None
    assert view.displayed.body == body(4, "-corrected") and view.displayed.index == 25
    # The new version links to the one it replaces.
    old = next(h for h in view.history if h.index == 4)
    assert view.displayed.entry.prev == old.entry.leaf_hash
    assert store.verify().ok


def test_schema_rejects_and_duplicates(store: Store) -> None:
    bad = [("memo:1", body(1)), ("memo:2", {"name": "no surname"}), ("memo:1", body(1, "x")),
           ("memo:3", body(3))]
    with pytest.raises(SchemaError) as err:
        store.publish(A, bad, NOW)
    assert err.value.code == "schema.required" and err.value.details["record"] == "memo:2"
    assert store.length(A.public) == 0  # the batch with the bad record was not stored
    seen: list[tuple[str, str]] = []
    result = store.publish(A, bad, NOW, on_invalid=lambda rid, exc: seen.append((rid, exc.code)))
    assert seen == [("memo:2", "schema.required"), ("memo:1", "publish.duplicate")]
    assert (result.appended, result.rejected) == (2, 2)


def test_duplicates_across_batches_refused(store: Store) -> None:
    seen: list[str] = []
    records = [*bodies(5), ("memo:1", body(1, "again"))]
    result = store.publish(A, records, NOW, batch_size=5,
                           on_invalid=lambda rid, exc: seen.append(exc.code))
    assert seen == ["publish.duplicate"] and result.appended == 5


def test_normalised_bodies_are_what_is_signed(store: Store) -> None:
    store.publish(A, [("memo:1", {"surname": "  Иванов ", "name": ""})], NOW)
    view = store.record("memo:1")
    assert view is not None and view.displayed is not None
    assert view.displayed.body == {"surname": "Иванов"}


def test_retract_survives_reruns_and_correct_restores(store: Store) -> None:
    store.publish(A, bodies(5), NOW)
    assert store.search(SearchQuery(text="Иванов", limit=20)).hits
    store.retract(A, "memo:2", "duplicate of memo:1", NOW + 1)
    assert view_table(store)["memo:2"] == (None, None, 1, 0)
    hidden = {h.record_id for h in store.search(SearchQuery(text="Иванов", limit=20)).hits}
    shown = {h.record_id for h in store.search(
        SearchQuery(text="Иванов", limit=20, include_retracted=True)).hits}
    assert "memo:2" not in hidden and "memo:2" in shown
    rerun = store.publish(A, bodies(5), NOW + 2)
    assert (rerun.appended, rerun.retracted, rerun.unchanged) == (0, 1, 4)
    with pytest.raises(LocalError):
        store.retract(A, "memo:2", "again", NOW + 3)
    store.correct(A, "memo:2", body(2), NOW + 4)
    assert view_table(store)["memo:2"] == (A.public, 6, 0, 1)
    assert store.verify().ok


def test_erase_drops_payload_and_search_text(store: Store) -> None:
    store.publish(A, [("memo:1", {"surname": "Секретов"}), ("memo:2", {"surname": "Открытов"})],
                  NOW)
    target = store.entries(A.public, 0).headers[0]
    view = store.record("memo:1")
    assert view is not None and view.displayed is not None
    payload_hash = view.displayed.entry.payload_hash
    assert payload_hash is not None and store.payload(payload_hash) is not None
    store.erase(A, "memo:1", payload_hash, "the family asked", NOW + 1)
    assert store.payload(payload_hash) is not None  # a publisher key alone erases nothing
    approve_erase(store, "memo:1", payload_hash)
    assert store.payload(payload_hash) is None
    assert store.entries(A.public, 0).headers[0] == target  # the header stays
    assert not store.search(SearchQuery(text="Секретов")).hits
    assert store.search(SearchQuery(text="Открытов")).hits
    assert store.verify().ok


def test_second_writer_with_same_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with new_store(path) as one, Store.open(path) as two:
        one.publish(A, bodies(3), NOW)
        # ``two`` prepares against its own reading; the commit sees the log has moved on only
        # if the frontier it read is stale, so force that by appending between read and commit.
        records = iter(bodies(3, start=10))

        def interleaved() -> Iterator[tuple[str, dict[str, object]]]:
            yield next(records)
            one.publish(A, bodies(2, start=50), NOW)
            yield from records

        with pytest.raises(LocalError) as err:
            two.publish(A, interleaved(), NOW, batch_size=10)
        assert err.value.code == "publish.concurrent"
        assert one.verify().ok and one.length(A.public) == 5
        assert not one.equivocations()


def test_heads_signed_per_batch_verify(store: Store) -> None:
    store.publish(A, bodies(30), NOW, batch_size=7)
    for head in store.head_history(A.public):
        assert isinstance(head, SignedHead)
        head.verify(store.dataset_id)
    assert [h.length for h in store.head_history(A.public)] == [7, 14, 21, 28, 30]


def test_view_rows_for_search_hits(store: Store) -> None:
    store.publish(A, bodies(4), NOW)
    store.retract(A, "memo:3", "duplicate", NOW + 1)
    hits = store.search(SearchQuery(text="Иванов", include_retracted=True)).hits
    rows = store.view_rows(row_keys=[h.row_key for h in hits])
    assert {r.record_id for r in rows} == {"memo:0", "memo:1", "memo:2", "memo:3"}
    by_id = {r.record_id: r for r in rows}
    assert by_id["memo:1"].body == body(1) and by_id["memo:1"].publisher == A.public
    assert by_id["memo:3"].retracted and by_id["memo:3"].body is None
    assert store.view_rows(record_ids=["memo:2", "nope"])[0].index == 2


def test_erase_of_someone_elses_payload_refused(store: Store) -> None:
    store.publish(A, [("memo:1", {"surname": "Секретов"})], NOW)
    view = store.record("memo:1")
    assert view is not None and view.displayed is not None
    target = view.displayed.entry.payload_hash
    assert target is not None
    with pytest.raises(LocalError) as err:
        store.erase(B, "memo:1", target, "not mine", NOW + 1)
    assert err.value.code == "publish.nothing_to_erase"
    assert store.length(B.public) == 0
