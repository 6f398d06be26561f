"""Bundles in the library: byte layout, verification chunk by chunk, tampering, resumption.

Laws: any byte flipped anywhere changes nothing (the checksum pass); with that pass skipped,
or with the checksum recomputed by a forger, what is stored is always the source log up to the
end of a whole verified chunk, and the store still verifies.
"""

from __future__ import annotations

import io
import itertools
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from samizdat_node.bundle import (
    BundleError,
    BundleReader,
    BundleWriter,
    Manifest,
    export_bundle,
    import_bundle,
    parse_since,
    plan_export,
)
from samizdat_node.bundle.format import MAX_BODY
from samizdat_node.cli.records import verify_version
from samizdat_node.store import Store
from samizdat_protocol.entries import Entry
from samizdat_protocol.errors import SamizdatError, SignatureError
from samizdat_protocol.heads import sign_head
from samizdat_protocol.log import verify_prefix
from samizdat_protocol.merkle import Frontier
from samizdat_protocol.wire import Chunk

from .test_store_support import CHARTER, KEYS, STRANGER, bodies, dump, new_store

A, B = KEYS[0], KEYS[1]
N = 90  # A's entries: puts in batches of 30 (signed heads at 30, 60, 90)
CHUNK = 16
_SERIAL = itertools.count()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = new_store(tmp_path_factory.mktemp("src") / "s.sqlite")
    store.publish(A, bodies(N), 1_700_000_000_000, batch_size=30)
    store.publish(B, bodies(5, variant="Б"), 1_700_000_000_000, batch_size=5)
    yield store
    store.close()


@pytest.fixture(scope="module")
def bundle(source: Store, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("b") / "full.bundle"
    export_bundle(source, path, chunk_entries=CHUNK)
    return path.read_bytes()


def _chunks(data: bytes) -> tuple[Manifest, list[Chunk]]:
    reader = BundleReader(io.BytesIO(data))
    return reader.manifest, list(reader.chunks())


def _rewrite(manifest: Manifest, chunks: list[Chunk], codec: str = "zstd") -> bytes:
    out = io.BytesIO()
    writer = BundleWriter(out, codec)
    writer.write_manifest(manifest)
    for n, chunk in enumerate(chunks):
        writer.write_chunk(Chunk(n, chunk.start, chunk.headers, chunk.payloads, chunk.head,
                                 chunk.proof))
    writer.finish()
    return out.getvalue()


def _held(store: Store) -> dict[bytes, int]:
    """Entries held per publisher (a proven prefix past the newest signed head included)."""
    return {pub.key: pub.length for pub in store.status() if pub.length}


def _import(tmp: Path, data: bytes, name: str, **options: object) -> tuple[Store, object]:
    name = f"{name}-{next(_SERIAL)}"  # hypothesis runs many examples in one tmp_path
    path = tmp / f"{name}.bundle"
    path.write_bytes(data)
    store = new_store(tmp / f"{name}.sqlite")
    try:
        return store, import_bundle(store, path, **options)  # type: ignore[arg-type]
    except SamizdatError as exc:
        return store, exc


def test_chunks_end_at_signed_heads_and_verify_alone(source: Store, bundle: bytes) -> None:
    manifest, chunks = _chunks(bundle)
    assert [(r.publisher, r.start, r.end) for r in manifest.logs] == [(A.public, 0, N),
                                                                      (B.public, 0, 5)]
    frontier = Frontier.empty()
    ends = []
    for chunk in chunks[:-1]:
        assert len(chunk.headers) <= CHUNK and chunk.head.publisher == A.public
        frontier = verify_prefix(frontier, chunk.headers, chunk.head, chunk.proof,
                                 CHARTER.dataset_id).frontier
        ends.append(chunk.end)
    assert {30, 60, 90} <= set(ends) and all(c.head.length in (30, 60, 90) for c in chunks[:-1])
    assert frontier.root() == source.head(A.public).root  # type: ignore[union-attr]


@pytest.mark.parametrize("codec", ["none", "zlib", "zstd"])
def test_every_codec_round_trips(bundle: bytes, codec: str, tmp_path: Path,
                                 source: Store) -> None:
    manifest, chunks = _chunks(bundle)
    data = _rewrite(manifest, chunks, codec)
    assert _chunks(data)[1] == chunks
    store, result = _import(tmp_path, data, codec)
    assert not isinstance(result, Exception), result
    assert _held(store) == _held(source) and store.verify().ok
    store.close()


def test_import_is_idempotent_and_resumes_after_an_interruption(bundle: bytes, tmp_path: Path,
                                                               source: Store) -> None:
    path = tmp_path / "b.bundle"
    path.write_bytes(bundle)
    store = new_store(tmp_path / "s.sqlite")
    seen = []

    def crash(count: int) -> None:
        seen.append(count)
        if len(seen) == 3:
            raise KeyboardInterrupt  # as if the process died after the third chunk

    with pytest.raises(KeyboardInterrupt):
        import_bundle(store, path, on_chunk=crash)
    # Chunks [0,16) [16,30) [30,46) are stored; 46 is a prefix proven against the head at 60.
    assert _held(store) == {A.public: 46}
    assert store.head(A.public).length == 30  # type: ignore[union-attr]
    in_prefix = store.record(record_id_at(source, A.public, 40))
    in_head = store.record(record_id_at(source, A.public, 10))
    assert in_prefix is not None and in_prefix.displayed is not None
    assert in_head is not None and in_head.displayed is not None
    assert verify_version(store, in_prefix.displayed)["covered_by"] == "prefix"
    assert verify_version(store, in_head.displayed)["covered_by"] == "signed_head"
    finished = import_bundle(store, path)
    assert finished.stored == N - 46 + 5 and _held(store) == _held(source)
    assert store.heads() == source.heads()
    assert import_bundle(store, path).stored == 0
    assert store.verify().ok
    store.close()


def record_id_at(store: Store, publisher: bytes, index: int) -> str:
    header = store.entries(publisher, index, 1).headers[0]
    return Entry.from_bytes(header).record_id


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0))
@example(position=0)
@example(position=9)  # the version field
@example(position=-1)  # the last byte of the checksum
def test_any_flipped_byte_changes_nothing(bundle: bytes, tmp_path: Path, position: int) -> None:
    data = bytearray(bundle)
    data[position % len(data)] ^= 0x40
    store, result = _import(tmp_path, bytes(data), f"f{position}")
    assert isinstance(result, SamizdatError)
    assert _held(store) == {}
    store.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=12))
def test_salvage_keeps_only_whole_verified_chunks(bundle: bytes, source: Store, tmp_path: Path,
                                                  position: int) -> None:
    data = bytearray(bundle)
    data[position % len(data)] ^= 0x01
    store, result = _import(tmp_path, bytes(data), f"s{position}", check_first=False)
    assert isinstance(result, SamizdatError)
    held = _held(store)
    assert held.get(A.public, 0) in (0, 16, 30, 46, 60, 76, 90)  # chunk ends only
    assert held.get(B.public, 0) in (0, 5)
    for key in held:
        if store.head(key) is not None:  # entries are served up to the newest signed head held
            mine = store.entries(key, 0, N).headers
            assert mine == source.entries(key, 0, len(mine)).headers
    assert store.verify().ok
    store.close()


def test_forged_chunks_are_refused_from_the_damaged_one_on(bundle: bytes,
                                                              tmp_path: Path) -> None:
    manifest, chunks = _chunks(bundle)
    victim = next(n for n, c in enumerate(chunks) if c.start == 46)
    payloads = list(chunks[victim].payloads)
    payloads[1] = (payloads[1] or b"")[:-1] + b"\x00"
    bad_payload = list(chunks)
    bad_payload[victim] = Chunk(0, chunks[victim].start, chunks[victim].headers,
                                tuple(payloads), chunks[victim].head, chunks[victim].proof)
    headers = list(chunks[victim].headers)
    headers[0] = headers[0][:-1] + bytes([headers[0][-1] ^ 1])
    bad_header = list(chunks)
    bad_header[victim] = Chunk(0, chunks[victim].start, tuple(headers), chunks[victim].payloads,
                               chunks[victim].head, chunks[victim].proof)
    dropped = chunks[:victim] + chunks[victim + 1:]
    for name, forged, code in (("payload", bad_payload, "payload.hash_mismatch"),
                               ("header", bad_header, "range.root"),
                               ("dropped", dropped, "bundle.order")):
        store, result = _import(tmp_path, _rewrite(manifest, forged), name)
        assert isinstance(result, SamizdatError) and result.code.startswith(code), result
        assert _held(store) == {A.public: 46}, name  # every chunk before the forged one
        store.close()


def test_manifest_heads_must_be_signed_by_publishers(bundle: bytes, tmp_path: Path) -> None:
    manifest, chunks = _chunks(bundle)
    log = manifest.logs[0]
    forged_head = sign_head(STRANGER, CHARTER.dataset_id, log.head.length, log.head.root, 1)
    stranger = Manifest(manifest.dataset_id, manifest.created, manifest.charter,
                        (type(log)(STRANGER.public, 0, forged_head),))
    store, result = _import(tmp_path, _rewrite(stranger, []), "stranger")
    assert isinstance(result, SamizdatError) and result.code == "auth.not_a_publisher"
    before = dump(store.path)
    bad_sig = type(log.head)(log.head.dataset_id, log.head.publisher, log.head.length,
                             log.head.root, log.head.timestamp + 1, log.head.signature)
    forged = Manifest(manifest.dataset_id, manifest.created, manifest.charter,
                      (type(log)(A.public, 0, bad_sig),))
    store2, result = _import(tmp_path, _rewrite(forged, chunks[:1]), "badsig")
    assert isinstance(result, SignatureError) and _held(store2) == {}
    assert dump(store.path) == before
    store.close()
    store2.close()


def test_frames_are_bounded(bundle: bytes) -> None:
    manifest, _ = _chunks(bundle)
    out = io.BytesIO()
    BundleWriter(out, "none").write_manifest(manifest)
    bomb = zlib.compress(b"\0" * (MAX_BODY + 10), 9)
    out.write(len(bomb).to_bytes(4, "big") + b"\x01" + bomb)
    reader = BundleReader(io.BytesIO(out.getvalue()))
    with pytest.raises(BundleError) as caught:
        list(reader.chunks())
    assert caught.value.code == "bundle.decompress"
    with pytest.raises(BundleError) as caught:
        BundleReader(io.BytesIO(bundle[:40]))
    assert caught.value.code == "bundle.truncated"
    with pytest.raises(BundleError) as caught:
        list(BundleReader(io.BytesIO(bundle + b"x")).chunks())
    assert caught.value.code == "bundle.trailing"


def test_since_exports_only_what_the_other_node_lacks(source: Store, tmp_path: Path) -> None:
    older = source.head_history(A.public)[0]  # the head at 30
    since = parse_since({"heads": [{"publisher": A.public.hex(), "length": older.length,
                                    "root": older.root.hex(), "signed": older.to_bytes().hex()},
                                   {"publisher": B.public.hex(), "length": 5}]})
    manifest, notes = plan_export(source, since)
    assert [(r.publisher, r.start, r.end) for r in manifest.logs] == [(A.public, 30, N)]
    assert any("already holds 5" in note for note in notes)
    path = tmp_path / "inc.bundle"
    assert export_bundle(source, path, since=since).entries == N - 30
    # A node holding a proven prefix (46) past its newest signed head (30), as status says it.
    prefix = parse_since([{"publisher": A.public.hex(), "length": 46, "head_length": 30,
                           "root": older.root.hex(), "signed": older.to_bytes().hex()}])
    assert [(r.start, r.end) for r in plan_export(source, prefix)[0].logs[:1]] == [(46, N)]
    fork = parse_since([{"publisher": A.public.hex(), "length": 30, "root": "00" * 32}])
    with pytest.raises(BundleError) as caught:
        plan_export(source, fork)
    assert caught.value.code == "bundle.since_fork"
    for bad in ({"heads": 3}, [{"publisher": "zz", "length": 1}],
                [{"publisher": A.public.hex(), "length": -1}]):
        with pytest.raises(BundleError):
            parse_since(bad)


def test_an_empty_store_exports_an_empty_bundle(tmp_path: Path) -> None:
    empty = new_store(tmp_path / "e.sqlite")
    result = export_bundle(empty, tmp_path / "e.bundle")
    assert result.entries == 0 and result.manifest.logs == ()
    other = Store.create(tmp_path / "o.sqlite", CHARTER)
    assert import_bundle(other, tmp_path / "e.bundle").stored == 0
    empty.close()
    other.close()
