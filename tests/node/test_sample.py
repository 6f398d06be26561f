"""The synthetic record generator: deterministic, valid, and shaped like Memorial's lists."""

from __future__ import annotations

import collections
import io
import json
import re
import runpy
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.importers.memorial_tsv import COLUMNS, SYNTHETIC_URL_PREFIX, split_line
from samizdat_node.sample import generate_records, record_id_for, write_jsonl, write_memorial_tsv
from samizdat_protocol.errors import LocalError
from samizdat_protocol.schema import validate_victim

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "generate_records.py"
N = 20_000


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return list(generate_records(N, seed=2024))


def _share(records: list[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> float:
    return sum(1 for body in records if test(body)) / len(records)


def test_the_same_seed_gives_the_same_records() -> None:
    first = list(generate_records(500, seed=7))
    assert list(generate_records(500, seed=7)) == first
    assert list(generate_records(100, seed=7)) == first[:100]  # streaming: a prefix is a prefix
    assert list(islice(generate_records(10**9, seed=7), 50)) == first[:50]
    assert list(generate_records(500, seed=8)) != first
    assert list(generate_records(0, seed=7)) == []
    with pytest.raises(LocalError):
        list(generate_records(-1, seed=7))


def test_every_record_is_a_valid_normalised_synthetic_body(records: list[dict[str, Any]]) -> None:
    ids = []
    for body in records:
        assert validate_victim(body, strict=True) == body
        assert body["synthetic"] is True
        assert body["source_url"].startswith(SYNTHETIC_URL_PREFIX)
        assert record_id_for(body) == f"memo2007:{body['source_id']}"
        ids.append(int(body["source_id"]))
    assert ids == sorted(set(ids))  # unique and increasing, like the export's person ids


def test_date_precision_follows_the_real_data(records: list[dict[str, Any]]) -> None:
    def full(field: str) -> float:
        dates = [body[field] for body in records if field in body]
        return sum(len(date) == 10 for date in dates) / len(dates)

    assert _share(records, lambda b: len(b.get("birth", "")) == 4) == pytest.approx(0.98, abs=0.01)
    assert not any(len(body.get("birth", "")) > 4 for body in records)
    assert full("arrest_date") == pytest.approx(0.94, abs=0.015)
    assert full("process_date") == pytest.approx(0.74, abs=0.03)
    assert full("rehabilitation_date") == pytest.approx(0.85, abs=0.03)
    assert _share(records, lambda b: "age" in b) == pytest.approx(0.018, abs=0.006)
    assert 0 < _share(records, lambda b: any(k.endswith("_verbatim") for k in b)) < 0.01


def test_outcomes_follow_the_real_data(records: list[dict[str, Any]]) -> None:
    def sentence(*words: str) -> Callable[[dict[str, Any]], bool]:
        return lambda body: any(word in body.get("sentence", "") for word in words)

    assert _share(records, lambda b: b["executed"]) == pytest.approx(0.16, abs=0.02)
    assert _share(records, sentence("ИТЛ", "концлагер")) == pytest.approx(0.22, abs=0.04)
    assert _share(records, sentence("ссылк", "спецпосел", "выслан", "выселен", "высылк")) == (
        pytest.approx(0.26, abs=0.03)
    )
    shot = [body for body in records if body["executed"]]
    assert _share(shot, sentence("ВМН", "расстрел")) > 0.95  # a second book may omit it
    assert all(sentence("ВМН", "расстрел")(body) for body in shot if "sentence" in body)
    burials = collections.Counter(body.get("death_place", "") for body in shot)
    for place in ("Бутово", "Коммунарка", "Сандармох", "Левашов"):
        assert any(place in name for name in burials), place
    sentences = {body.get("sentence") for body in records}
    assert {"ВМН", "10 лет ИТЛ", "спецпоселение"} <= sentences
    organs = {body.get("judicial_organ") for body in records}
    assert {"тройка при УНКВД по Ленинградской обл.", "ОСО при НКВД СССР", "ВК ВС СССР"} <= organs
    parties = collections.Counter(str(body["party"]) for body in records if "party" in body)
    assert parties.most_common(1)[0][0] == "б/п"
    assert any(re.fullmatch(r"член ВКП\(б\) с \d{4}", party) for party in parties)


def test_names_look_like_the_real_lists(records: list[dict[str, Any]]) -> None:
    women = [body for body in records if body["sex"] == "f"]
    assert len(women) / len(records) == pytest.approx(0.25, abs=0.02)
    top = [name for name, _ in collections.Counter(b["surname"] for b in records).most_common(3)]
    assert top[0] == "Иванов" and {"Смирнов", "Кузнецов"} & set(top)
    for body in women:
        assert not body["surname"].endswith(("ов", "ев", "ский", "цкий")), body["surname"]
        if body.get("nation") == "русская":
            assert not body["surname"].endswith(("ин", "ын", "ой", "ый")), body["surname"]
        assert body.get("patronymic", "на").endswith("на"), body
        assert body.get("nation", "ка").endswith(("ка", "ая", "янка")), body
    russian_women = [body["surname"] for body in women if body.get("nation") == "русская"]
    assert any(s.endswith("ова") for s in russian_women)
    assert any(s.endswith("ская") for s in russian_women)
    men = [body for body in records if body["sex"] == "m"]
    assert all(body.get("patronymic", "ич").endswith("ич") for body in men)
    nations = {body.get("nation") for body in records}
    assert {"украинец", "полька", "немка", "еврей", "татарин", "латыш", "финн"} <= nations
    surnames = [body["surname"] for body in records]
    assert any(re.fullmatch(r"\w+-Заде", s) for s in surnames)
    assert any(re.fullmatch(r"\w+ \(\w+\)", s) for s in surnames)  # "Ифлянд (Инфлянд)"
    assert any(re.fullmatch(r"\w+ \(\w+\)", body["name"]) for body in records)  # "Мовша (Моисей)"
    assert 0.02 < _share(records, lambda b: "patronymic" not in b) < 0.15
    assert 0.01 < _share(records, lambda b: "surname_variations" in b) < 0.06


def test_places_and_sources(records: list[dict[str, Any]]) -> None:
    places = " ".join(body.get("birth_place", "") + body.get("live_place", "") for body in records)
    for abbreviation in ("г. ", "с. ", "д. ", " обл.", " губ.", " у.,", " р-н"):
        assert abbreviation in places, abbreviation
    sources = collections.Counter(body["source"] for body in records)
    assert len(sources) >= 30
    assert any("Т. 3" in title or "т. 3" in title for title in sources)
    lengths = sorted(
        sum(len(v) for k, v in body.items() if isinstance(v, str) and k != "source_url")
        for body in records
    )
    assert 200 <= sum(lengths) / len(lengths) <= 400
    assert lengths[len(lengths) // 2] < 400 and lengths[-1] < 1500


def test_some_people_appear_in_several_books(records: list[dict[str, Any]]) -> None:
    people: dict[tuple[Any, ...], set[str]] = collections.defaultdict(set)
    for body in records:
        if "birth_place" in body and "birth" in body:
            people[(body["name"], body["birth"], body["birth_place"])].add(body["source"])
    repeated = sum(1 for books in people.values() if len(books) > 1)
    assert repeated > 0.01 * len(records)


def test_write_jsonl(records: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    assert write_jsonl(records[:2500], out) == 2500
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 2501
    assert [json.loads(line) for line in lines[:-1]] == records[:2500]
    assert "\\u" not in out.getvalue()  # UTF-8 text, not escapes


def test_write_memorial_tsv(records: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    assert write_memorial_tsv(records[:2000], out) == 2000
    lines = out.getvalue().split("\n")[:-1]
    assert split_line(lines[0]) == list(COLUMNS)
    rows = [split_line(line) for line in lines[1:]]
    assert all(len(row) == len(COLUMNS) for row in rows)
    assert [row[0] for row in rows] == [body["source_id"] for body in records[:2000]]
    dates = [row[COLUMNS.index("arest_date")] for row in rows]
    assert any(re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}", d) for d in dates)
    assert any(re.fullmatch(r"_\.\d{1,2}\.\d{4}", d) for d in dates)
    executed = {row[COLUMNS.index("was_executed")] for row in rows}
    assert executed == {"T", "F"}
    assert all(re.fullmatch(r"None|\d{4}", row[COLUMNS.index("birth_year")]) for row in rows)
    stray = io.StringIO()
    write_memorial_tsv(records[:2000], stray, stray_quote_rate=0.5, header=False)
    assert 800 < stray.getvalue().count('\t"') - out.getvalue().count('\t"') < 1200


def test_example_script_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(EXAMPLE))["main"]
    target = tmp_path / "sample.tsv"
    assert (
        main(["--count", "300", "--seed", "3", "--format", "memorial-tsv", "--out", str(target)])
        == 0
    )
    assert (
        f"wrote 300 synthetic records (memorial-tsv, seed 3) to {target}" in capsys.readouterr().out
    )
    assert len(target.read_text(encoding="utf-8").splitlines()) == 301
    target = tmp_path / "sample.jsonl"
    assert main(["--count", "5", "--seed", "3", "--format", "jsonl", "--out", str(target)]) == 0
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(generate_records(5, seed=3))
