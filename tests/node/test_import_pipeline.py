"""The import pipeline (issue 3): blocks read in a helper process give exactly the records,
order and rejects of blocks read in the importing process; a killed helper costs time, never
records; Encoded records are published exactly as the bodies they encode."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from samizdat_node.importers.blocks import (
    Block,
    RecordStream,
    _encode_line,
    encode_accepted,
    encode_block,
)
from samizdat_node.importers.memorial_tsv import COLUMNS, HEADER
from samizdat_node.importers.pipeline import BlockReader
from samizdat_node.importers.readers import Accepted, Rejected, read_export
from samizdat_node.sample import generate_records, write_jsonl, write_memorial_tsv
from samizdat_node.search.model import SearchQuery
from samizdat_node.store.parsepool import ParsePool
from samizdat_node.store.publish import Encoded, encode_record
from samizdat_protocol.errors import SchemaError
from samizdat_protocol.schema import SCHEMA_ID

from .test_store_support import KEYS, dump, new_store

A = KEYS[0]
NOW = 1_700_000_000_000
TSV, JSONL = "memorial-tsv", "jsonl"


def _tsv_lines(count: int, seed: int = 7) -> list[bytes]:
    out = io.StringIO()
    write_memorial_tsv(generate_records(count, seed), out, stray_quote_rate=0.05, seed=seed)
    return out.getvalue().encode().splitlines(keepends=True)


def _spoil(line: bytes, column: str, value: str) -> bytes:
    fields = line.decode().rstrip("\n").split("\t")
    fields[COLUMNS.index(column)] = value
    return ("\t".join(fields) + "\n").encode()


def _awkward_tsv(count: int) -> bytes:
    """Generated rows with every kind of line the readers treat apart."""
    lines = _tsv_lines(count)
    lines[5] = b"\xff\xfe not UTF-8\n"
    lines[9] = b"123\tthree\tcolumns\n"
    lines[12] = _spoil(lines[12], "sex", "x")
    lines[20] = b"\n"
    lines[21] = b"  \r\n"
    lines[30] = lines[30].replace(b"\n", b"\r\n")
    lines[40] = _spoil(lines[40], "surname", "И" * 300)  # over the limit
    for column in COLUMNS[32:37]:  # five full variant lists: a payload over 64 KiB
        lines[45] = _spoil(lines[45], column, ",".join("в" * 250 + str(n) for n in range(32)))
    lines[50] = b"x" * (1 << 20) + b"\n"  # longer than a line may be (and than a block)
    lines.append(lines[60])  # the same record twice
    return b"".join(lines).removesuffix(b"\n")  # the last line without its line end


def _blocks(data: bytes, fmt: str, *, pool: ParsePool | None = None, source: Path | None = None,
            block_bytes: int = 8192) -> tuple[list[Block], BlockReader]:
    reader = BlockReader(io.BytesIO(data), fmt, SCHEMA_ID, "j:", pool=pool, source=source,
                         block_bytes=block_bytes, patience=5.0)
    with reader:
        return list(reader), reader


def _flat(blocks: list[Block]) -> tuple[list[Any], list[Rejected]]:
    """Records (line, id, payload, hash) and rejects, each with its place in file order."""
    records, rejects = [], []
    for block in blocks:
        records += zip(block.lines, block.record_ids, block.payloads, block.hashes, strict=True)
        rejects += block.rejected
    return records, rejects


def _serial(data: bytes, fmt: str) -> tuple[list[Any], list[Rejected]]:
    """The same file through readers.read_export and encode_record, one item at a time."""
    records, rejects = [], []
    for item in read_export(io.BytesIO(data), fmt, id_prefix="j:"):
        if isinstance(item, Rejected):
            rejects.append(item)
            continue
        try:
            enc = encode_record(SCHEMA_ID, item.record_id, item.body)
        except SchemaError as exc:  # payload.oversize, named as Store.publish names it
            rejects.append(Rejected(item.line, exc.field, exc.code,
                                    f"record {item.record_id}: {exc.message}"))
            continue
        records.append((item.line, *enc))
    return records, rejects


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    """One started helper for the module's tests (starting one takes a second or two)."""
    started = ParsePool(1)
    assert started.submit(os.getpid).result() != os.getpid()
    yield started
    started.close()


# -- the inlined TSV path is the general path --------------------------------------------------

_CELL = st.sampled_from(["None", "", '"', '"Иванов', "1", "12.11.1938", "_.5.1939", "12._.1938",
                         "T", "м", "Ж", "а, б", " x ", "35 лет", "около 40", "ё\u0301"]) | \
    st.text(st.sampled_from('Иваноё"(),._-1 \t\x01\u00a0'), max_size=6)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_CELL, min_size=len(COLUMNS) - 1, max_size=len(COLUMNS) + 1)
                .map(lambda cells: "\t".join(cells)), max_size=6),
       st.sampled_from(["\n", "\r\n"]), st.integers(1, 3))
@example(["1\tИванов" + "\tNone" * 37], "\n", 1).via("a good row as the first line")
@example([HEADER, "2\tПетров" + "\tNone" * 37], "\n", 1).via("the header, then a row")
def test_tsv_blocks_equal_the_general_path(rows: list[str], ending: str, first: int) -> None:
    data = "".join(row + ending for row in rows).encode()
    fast = encode_block(TSV, SCHEMA_ID, "", first, data)
    general = Block(first, fast.end, len(data))
    for number, raw in enumerate(io.BytesIO(data).readlines(), start=first):
        _encode_line(general, TSV, SCHEMA_ID, "", number, raw)
    assert fast == general


def test_generated_rows_take_the_inlined_path_and_match_read_export() -> None:
    data = b"".join(_tsv_lines(3000))
    block = encode_block(TSV, SCHEMA_ID, "", 1, data)
    assert len(block.record_ids) == 3000 and not block.rejected
    assert _flat([block]) == _serial(data, TSV)


# -- blocks with a helper equal blocks read here ------------------------------------------------


@pytest.mark.parametrize("fmt", [TSV, JSONL])
def test_helper_blocks_equal_blocks_read_here(tmp_path: Path, pool: ParsePool, fmt: str) -> None:
    if fmt == TSV:
        data = _awkward_tsv(1500)
    else:
        out = io.StringIO()
        write_jsonl(generate_records(1500, 3), out)
        lines = out.getvalue().encode().splitlines(keepends=True)
        lines[7] = b"{not json\n"
        lines[8] = b'{"surname": "x", "colour": "red", "record_id": "c:1"}\n'
        lines.append(lines[100])
        data = b"".join(lines)
    source = tmp_path / "export"
    source.write_bytes(data)
    here, _ = _blocks(data, fmt)
    with open(source, "rb") as fh:
        reader = BlockReader(fh, fmt, SCHEMA_ID, "j:", pool=pool, source=source,
                             block_bytes=8192, patience=5.0)
        with reader:
            assert reader.wait_started(60)
            helped = list(reader)
    assert reader.helped > len(helped) // 2 and reader.failures == 0
    assert helped == here
    records, rejects = _flat(here)
    assert (records, rejects) == _serial(data, fmt)
    assert len({line for line, *_ in records}) == len(records) > 1000
    if fmt == TSV:
        assert {r.code for r in rejects} == {"import.encoding", "schema.column_count",
                                             "schema.enum", "schema.too_long", "payload.oversize",
                                             "import.line_too_long"}


def test_a_helper_gives_the_same_signed_store(tmp_path: Path, pool: ParsePool) -> None:
    """The whole import path (blocks, stream, Store.publish) with and without a helper: the
    same heads (roots), log, view and rejects, when signed at the same time."""
    data = _awkward_tsv(1200)
    source = tmp_path / "export.tsv"
    source.write_bytes(data)
    outcomes = []
    for name, helper in (("here", None), ("helped", pool)):
        rejects: list[Rejected] = []
        with open(source, "rb") as fh, new_store(tmp_path / f"{name}.sqlite") as store:
            reader = BlockReader(fh, TSV, SCHEMA_ID, "", pool=helper, source=source,
                                 block_bytes=8192, patience=5.0)
            with reader:
                assert helper is None or reader.wait_started(60)
                stream = RecordStream(reader, rejects.append, keep=300)
                refused: list[tuple[str, int | None]] = []
                result = store.publish(A, stream, NOW, batch_size=100, index=False,
                                       on_invalid=lambda rid, exc, s=stream, r=refused:
                                       r.append((exc.code, s.line_of(rid))))
            assert (reader.helped > 0) == (helper is not None)
            rows = [row for row in dump(store.path)  # all but when migrations ran
                    if not row.startswith('INSERT INTO "migrations"')]
            outcomes.append((result, store.heads(), rows, rejects, refused))
    assert outcomes[0] == outcomes[1]
    result, _, _, rejects, refused = outcomes[0]
    assert result.appended == 1200 - 8 and len(rejects) == 6  # 2 blank lines, 1 repeated
    assert refused == [("publish.duplicate", data.count(b"\n") + 1)]


def test_a_killed_helper_costs_time_not_records(tmp_path: Path) -> None:
    data = b"".join(_tsv_lines(2500))
    source = tmp_path / "export.tsv"
    source.write_bytes(data)
    expected, _ = _blocks(data, TSV)
    for kills in (1, 2):  # after the second failure the reader stops using a helper
        pool = ParsePool(1)
        with open(source, "rb") as fh:
            reader = BlockReader(fh, TSV, SCHEMA_ID, "", pool=pool, source=source,
                                 block_bytes=8192, patience=5.0)
            with reader:
                assert reader.wait_started(60)
                got, killed, helped_then = [], 0, 0
                for block in reader:
                    got.append(block)
                    if killed == kills or reader.failures < killed:
                        continue  # done, or the last kill is not noticed yet
                    if reader.helped > helped_then:  # a helper is at work: kill it
                        helper = pool.submit(os.getpid).result(60)
                        assert helper is not None and helper != os.getpid()
                        os.kill(helper, signal.SIGKILL)
                        killed, helped_then = killed + 1, reader.helped
                    else:  # let the new helper start (the pool starts one) first
                        assert reader.wait_started(60)
                assert (reader.pool is None) == (kills == 2)
        assert got == expected
        assert killed == reader.failures == kills
        pool.close()


# -- the stream of records ---------------------------------------------------------------------

@given(st.lists(st.lists(st.tuples(st.booleans(), st.sampled_from("abcd")), max_size=6),
                max_size=5), st.integers(1, 4), st.integers(1, 8))
def test_record_stream_keeps_file_order_and_names_lines(spec: list[list[tuple[bool, str]]],
                                                        take: int, keep: int) -> None:
    """Against a model: items in file order, a reject reported when the next item is asked
    for after the records before it; line_of is the last line an id was taken from."""
    blocks, model, line = [], [], 1
    for items in spec:
        block = Block(line, line + len(items), 0)
        for is_record, rid in items:
            if is_record:  # the payload says the line, to check what comes out
                block.add(line, Encoded(rid, str(line).encode(), b"h" * 32))
            else:
                block.reject(Rejected(line, None, "x", rid))
            model.append(("record" if is_record else "reject", line))
            line += 1
        blocks.append(block)
    events: list[tuple[str, int]] = []
    stream = RecordStream(blocks, lambda r: events.append(("reject", r.line)), keep=keep)
    taken: list[tuple[str, int]] = []

    def pulled() -> Iterator[Encoded]:
        for item in stream:
            taken.append((item.record_id, int(item.payload)))
            events.append(("record", taken[-1][1]))
            yield item

    it = pulled()
    while [item for _, item in zip(range(take), it, strict=False)]:
        assert stream.read == len(taken)
        for rid in "abcd":
            lines = [ln for r, ln in taken if r == rid]
            found = stream.line_of(rid)
            assert found is None or found == lines[-1]
            if lines and (rid, lines[-1]) in taken[-keep:]:
                assert found == lines[-1]
    assert events == model


# -- Encoded records are published exactly like bodies -----------------------------------------


@pytest.mark.parametrize("index", [True, False])
def test_encoded_records_publish_exactly_like_bodies(tmp_path: Path, index: bool) -> None:
    items = [(f"memo2007:{b['source_id']}", b) for b in generate_records(700, 5)]
    encoded = [encode_record(SCHEMA_ID, rid, body) for rid, body in items]
    with new_store(tmp_path / "a.sqlite") as plain, new_store(tmp_path / "b.sqlite") as fast:
        one = plain.publish(A, items, NOW, batch_size=256, index=index)
        two = fast.publish(A, encoded, NOW, batch_size=256, index=index)
        assert one == two and two.appended == 700
        assert plain.heads() == fast.heads()
        for store in (plain, fast):
            while store.index_pending():
                pass
        query = SearchQuery(text=items[123][1]["surname"], limit=50)
        assert [h.record_id for h in plain.search(query).hits] == \
            [h.record_id for h in fast.search(query).hits]
        assert items[123][0] in {h.record_id for h in fast.search(query).hits}
        again = fast.publish(A, encoded, NOW + 1, batch_size=256)
        assert (again.appended, again.unchanged) == (0, 700)
        seen: list[str] = []
        dup = fast.publish(A, [encoded[0], encoded[0]], NOW + 2,
                           on_invalid=lambda rid, exc: seen.append(exc.code))
        assert seen == ["publish.duplicate"] and dup.unchanged == 1


def test_readers_accept_only_what_the_store_would_sign() -> None:
    """The pipeline encodes accepted bodies without validating them again (blocks.py): for
    every format an accepted body must already be what validation makes of it."""
    out = io.StringIO()
    write_jsonl(generate_records(300, 9), out)
    text = out.getvalue() + '{"surname": "  Иванов ", "name": "", "record_id": "x:1"}\n'
    for fmt, data in ((TSV, b"".join(_tsv_lines(300))), (JSONL, text.encode())):
        items = list(read_export(io.BytesIO(data), fmt))
        assert len(items) == 301 - (fmt == TSV)  # the TSV header is not an item
        for item in items:
            assert isinstance(item, Accepted)
            assert encode_accepted(SCHEMA_ID, item) == \
                encode_record(SCHEMA_ID, item.record_id, item.body)
