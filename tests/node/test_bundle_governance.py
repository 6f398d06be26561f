"""Bundles carry governance (issue 7; spec §13, §15): the manifest's entries and proofs are
applied before the heads are checked, so a rotation's new key arrives with its log; a forged
item refuses the whole bundle; importing again changes nothing."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.bundle import (
    BundleError,
    BundleReader,
    BundleWriter,
    Manifest,
    export_bundle,
    import_bundle,
)
from samizdat_node.bundle.format import MAX_MANIFEST_ITEMS
from samizdat_node.store import Store
from samizdat_protocol.encoding import encode
from samizdat_protocol.errors import UnauthorisedError
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.heads import EquivocationProof
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.signing import SigningKey
from samizdat_protocol.wire import Chunk

from .test_store_support import CHARTER, FOUNDER, KEYS, STRANGER, bodies, body, dump, view_table

DATASET = CHARTER.dataset_id
NEW = SigningKey.from_seed(b"\x4e" * 32)
NOW = 1_700_000_000_000


def decided(seq: int, action: str, fields: dict[str, Any],
            signer: SigningKey = FOUNDER) -> GovernanceEntry:
    return propose(DATASET, seq, action, fields, NOW).sign(signer)


def a_fork(key: SigningKey, length: int) -> EquivocationProof:
    a, b = PublisherLog(DATASET, key.public), PublisherLog(DATASET, key.public)
    for n in range(length):
        a.put(f"memo:{n}", body(n), n)
        b.put(f"memo:{n}", body(n, "fork"), n)
    return EquivocationProof(a.sign(key, 1), b.sign(key, 2))


@pytest.fixture
def source(tmp_path: Path) -> Store:
    """KEYS[0] published 60 records and was rotated to NEW, which published 20 more;
    KEYS[1] equivocated."""
    store = Store.create(tmp_path / "source.sqlite", CHARTER)
    store.publish(KEYS[0], bodies(60), NOW, batch_size=30)
    head = store.head(KEYS[0].public)
    assert head is not None
    store.add_governance(decided(1, "rotate_publisher", {
        "old": KEYS[0].public, "new": NEW.public, "as_of": 60, "root": head.root}).to_bytes())
    store.publish(NEW, bodies(20, start=60, variant="new"), NOW)
    store.publish(KEYS[1], bodies(5, variant="b"), NOW)
    assert store.add_equivocation(a_fork(KEYS[1], 3))
    return store


def _state(store: Store) -> tuple[Any, ...]:
    state = store.auth_state()
    return (dict(state.publishers), state.applied, state.order)


def test_a_bundle_brings_the_governance_its_logs_need(source: Store, tmp_path: Path) -> None:
    path = tmp_path / "full.bundle"
    exported = export_bundle(source, path, chunk_entries=16)
    assert len(exported.manifest.governance) == 1 and len(exported.manifest.proofs) == 1
    assert {r.publisher for r in exported.manifest.logs} == {KEYS[0].public, NEW.public,
                                                            KEYS[1].public}
    target_path = tmp_path / "target.sqlite"
    with Store.create(target_path, CHARTER) as target:
        result = import_bundle(target, path)
        assert result.governance.entries == 1 and result.governance.proofs == 1
        assert result.stored == 85
        assert _state(target) == _state(source)
        assert target.auth_state().publishers[KEYS[1].public].state == "suspended"
        assert view_table(target) == view_table(source)
        assert target.verify().ok
    before = dump(target_path)
    with Store.open(target_path) as target:
        again = import_bundle(target, path)
    assert not again.governance.changed and again.stored == 0
    assert dump(target_path) == before


def _rewrite(data: bytes, **changes: Any) -> bytes:
    reader = BundleReader(io.BytesIO(data))
    manifest = dataclasses.replace(reader.manifest, **changes)
    out = io.BytesIO()
    writer = BundleWriter(out)
    writer.write_manifest(manifest)
    for n, chunk in enumerate(reader.chunks()):
        writer.write_chunk(Chunk(n, chunk.start, chunk.headers, chunk.payloads, chunk.head,
                                 chunk.proof))
    writer.finish()
    return out.getvalue()


def test_forged_governance_refuses_the_bundle_whole(source: Store, tmp_path: Path) -> None:
    path = tmp_path / "full.bundle"
    export_bundle(source, path)
    data = path.read_bytes()
    manifest = BundleReader(io.BytesIO(data)).manifest
    stranger = decided(2, "set_priorities", {"order": [KEYS[1].public]}, signer=STRANGER)
    proof = a_fork(KEYS[1], 2)
    for n, changes in enumerate(({"governance": (*manifest.governance, stranger)},
                                 {"proofs": (EquivocationProof(proof.shorter, proof.shorter),)})):
        forged = tmp_path / "forged.bundle"
        forged.write_bytes(_rewrite(data, **changes))
        target_path = tmp_path / f"target{n}.sqlite"
        Store.create(target_path, CHARTER).close()
        before = dump(target_path)
        with Store.open(target_path) as target, pytest.raises(BundleError) as err:
            import_bundle(target, forged)
        assert err.value.code == "bundle.governance"
        assert dump(target_path) == before  # not the rotation either, nor any entry
    # Without its governance the new key's log cannot be imported at all.
    bare = tmp_path / "bare.bundle"
    bare.write_bytes(_rewrite(data, governance=(), proofs=()))
    with Store.create(tmp_path / "bare.sqlite", CHARTER) as target, \
            pytest.raises(UnauthorisedError) as refused:
        import_bundle(target, bare)
    assert refused.value.code == "auth.not_a_publisher"


@pytest.mark.parametrize("change", [
    {"governance": None},  # field missing
    {"proofs": None},
    {"governance": [b"\x80"]},
    {"governance": ["text"]},
    {"proofs": [b"\x00" * 40]},
    {"governance": [decided(1, "add_publisher", {"key": NEW.public, "name": "n"}).to_bytes()]
     * (MAX_MANIFEST_ITEMS + 1)},
])
def test_the_manifest_is_strict_about_governance(change: dict[str, Any]) -> None:
    manifest = Manifest(DATASET, NOW, CHARTER.to_bytes(), ())
    body = manifest.to_map()
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    with pytest.raises(BundleError) as err:
        Manifest.from_map(body)
    assert err.value.code == "bundle.manifest"
    assert Manifest.from_map(manifest.to_map()) == manifest
    encode(body)  # still a canonical map: only the manifest's own rules refuse it
