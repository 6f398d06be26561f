"""Reading export files: every bad line is named, good lines still come through."""

from __future__ import annotations

import io
import json

import pytest

from samizdat_node.importers.readers import Accepted, Rejected, read_export
from samizdat_node.sample import generate_records, write_jsonl, write_memorial_tsv
from samizdat_protocol.errors import LocalError


def _tsv(count: int) -> bytes:
    out = io.StringIO()
    write_memorial_tsv(generate_records(count, seed=5), out)
    return out.getvalue().encode()


def test_tsv_good_and_bad_lines() -> None:
    lines = _tsv(20).splitlines(keepends=True)
    lines[3] = b"123\tonly three\tcolumns\n"
    lines[5] = b"\xff\xfe broken bytes\n"
    items = list(read_export(io.BytesIO(b"".join(lines)), "memorial-tsv"))
    rejected = [i for i in items if isinstance(i, Rejected)]
    accepted = [i for i in items if isinstance(i, Accepted)]
    assert {r.line for r in rejected} == {4, 6}
    assert {r.code for r in rejected} == {"schema.column_count", "import.encoding"}
    assert len(accepted) == 18
    assert all(a.record_id.startswith("memo2007:") for a in accepted)
    assert rejected[0].describe("x.tsv").startswith("x.tsv:4")


def test_jsonl_round_trip_and_rejects() -> None:
    out = io.StringIO()
    bodies = list(generate_records(10, seed=6))
    write_jsonl(bodies, out)
    text = out.getvalue() + "{not json\n" + json.dumps({"name": "Иван"}) + "\n[1, 2]\n"
    text += json.dumps({"record_id": "x:1", "surname": "Петров", "colour": "red"}) + "\n"
    items = list(read_export(io.BytesIO(text.encode()), "jsonl"))
    accepted = [i for i in items if isinstance(i, Accepted)]
    assert [a.body for a in accepted] == bodies
    rejected = {i.line: i for i in items if isinstance(i, Rejected)}
    assert rejected[11].code == "import.json"
    assert rejected[12].code == "import.record_id"
    assert rejected[13].code == "import.json"
    assert rejected[14].code == "schema.unknown_field" and rejected[14].field == "colour"


def test_csv_with_mapping() -> None:
    data = (
        "id,Фамилия,Имя,Год,Арест,Расстрелян\n"
        "7,Иванов,Иван,1901,_.5.1938,да\n"
        "8,Петрова,Анна,1905-03,12._.1937,нет\n"
        "9,,Без,1900,,нет\n"
    ).encode()
    mapping = {"source_id": "id", "surname": "Фамилия", "name": "Имя", "birth": "Год",
               "arrest_date": "Арест", "executed": "Расстрелян"}
    items = list(read_export(io.BytesIO(data), "csv", mapping=mapping, id_prefix="csv:"))
    first, second, third = items
    assert isinstance(first, Accepted) and first.record_id == "csv:7"
    assert first.body["arrest_date"] == "1938-05" and first.body["executed"] is True
    assert isinstance(second, Accepted) and second.body["birth"] == "1905-03"
    assert second.body["arrest_date"] == "1937"
    assert second.body["arrest_date_verbatim"] == "12._.1937"
    assert isinstance(third, Rejected) and third.field == "surname" and third.line == 4


def test_csv_mapping_errors_are_usage_errors() -> None:
    with pytest.raises(LocalError):
        list(read_export(io.BytesIO(b"a,b\n1,2\n"), "csv", mapping={"surname": "c"}))
    with pytest.raises(LocalError):
        list(read_export(io.BytesIO(b"a\n"), "csv", mapping={"colour": "a"}))
    with pytest.raises(LocalError):
        list(read_export(io.BytesIO(b""), "xml"))


def test_csv_bad_bytes_and_ragged_rows_reject_only_their_line() -> None:
    data = b"id,surname\n1,\xd0\x98\xd0\xb2\n2,\xff\xfe\n3,a,b\n4,\"multi\nline\"\n5,\xd0\x9f\n"
    fh = io.BytesIO(data)
    items = list(read_export(fh, "csv", mapping={"source_id": "id", "surname": "surname"},
                             id_prefix="c:"))
    assert not fh.closed
    accepted = {i.record_id: i.line for i in items if isinstance(i, Accepted)}
    rejected = {i.line: i.code for i in items if isinstance(i, Rejected)}
    assert accepted == {"c:1": 2, "c:5": 7}
    # the quoted two-line value is one row (the schema refuses its newline)
    assert rejected == {3: "import.encoding", 4: "import.column_count", 6: "schema.control_char"}
