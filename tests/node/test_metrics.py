"""Metrics in Prometheus text (metrics.py): the renderer against a real parser, the store's
facts from a real store, and ``samizdat status --prometheus`` through the real entry point.

prometheus_client is used only here, as the independent parser the text must satisfy."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from samizdat_node.config import load_config
from samizdat_node.datadir import open_node_dir
from samizdat_node.metrics import MAX_PEER_SERIES, render_metrics, snapshot, store_facts
from samizdat_node.service import NodeConfig
from samizdat_node.store import Store
from tests.node.test_cli_support import PUBLISHER, SECOND, make_node, ok
from tests.node.test_store_support import KEYS, bodies, new_store
from tests.support.cli import run_cli

NOW = 1_700_000_000_000

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """(family name -> type, (sample name, labels) -> value), checking what Prometheus
    itself would refuse: a family declared twice, a series given twice, a non-finite value."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in types, f"family {family.name} declared twice"
        types[family.name] = family.type
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"series {key} given twice"
            assert math.isfinite(sample.value)
            samples[key] = sample.value
    return types, samples


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def series(samples: Samples, metric: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == metric}


def check_conventions(text: str) -> tuple[dict[str, str], Samples]:
    types, samples = parse(text)
    assert text == "" or text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name.startswith("samizdat_")
            assert kind in ("counter", "gauge")
            assert name.endswith("_total") == (kind == "counter"), line
    return types, samples


# -- the renderer: any snapshot, and the values it carries ----------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)

_SECTIONS = ("peers", "sync", "server", "gossip", "discovery", "audit", "search_index", "store")
_KEYS = ("connected", "known", "backoff", "sessions", "fetched", "failures", "active",
         "pending", "wants", "requests", "chunks", "entries", "bytes_out", "bytes_in",
         "rejected", "published", "accepted", "ignored", "news", "equivocations", "banned",
         "mdns", "dht_providers", "ok", "damage", "seconds", "batches", "records", "displayed",
         "retracted", "index_backlog", "file_bytes", "publishers")
# Shaped like a status but with anything at any place: junk, wrong types, NaN, huge numbers.
_junk_snapshot = st.dictionaries(
    st.sampled_from((*_SECTIONS, "running", "peer_id", "dataset", "version", "repaired")),
    st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8) | _json, max_size=12)


@given(_junk_snapshot)
@example({"peers": {"connected": [1, None, "x", "x"]}, "audit": {"seconds": math.nan},
          "sync": {"fetched": 10**30, "wants": {"ab": math.inf}}, "repaired": True})
def test_any_snapshot_renders_to_text_a_real_parser_accepts(snap: dict[str, Any]) -> None:
    _, samples = check_conventions(render_metrics(snap))
    assert value(samples, "samizdat_node_running") == (1 if snap.get("running") else 0)


_label_text = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(
    ['"', "\\", "\n", "{", "}", ",", "="]), max_size=16)
_count = st.integers(0, 2**62)
_hex = st.binary(min_size=32, max_size=32).map(bytes.hex)
_publisher = st.fixed_dictionaries({
    "publisher": _hex, "name": _label_text, "authorised": st.booleans(), "entries": _count,
    "head_length": _count, "head_seconds": st.none() | st.floats(0, 4e9),
    "damaged": _count, "equivocations": _count})


@st.composite
def _status(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "pid": draw(_count), "peer_id": draw(_label_text), "dataset": draw(_hex),
        "peers": {"connected": draw(st.lists(_label_text, max_size=80, unique=True)),
                  "known": draw(_count), "backoff": draw(_count), "sources": {}},
        "sync": {"sessions": draw(_count), "fetched": draw(_count), "failures": draw(_count),
                 "active": draw(st.lists(_label_text, max_size=3)), "pending": [],
                 "wants": draw(st.dictionaries(_hex, _count, max_size=3)), "recent": []},
        "server": {"sessions": draw(_count), "bytes_out": draw(_count)},
        "gossip": {"accepted": draw(_count), "ignored": draw(_count), "rejected": draw(_count),
                   "banned": [], "topic": "t"},
        "audit": draw(st.none() | st.fixed_dictionaries({
            "ok": st.booleans(), "entries": _count, "damage": _count,
            "seconds": st.floats(0, 1e6), "at": _count})),
        "repaired": draw(_count),
    }


@given(st.none() | _status(), st.lists(_publisher, max_size=4, unique_by=lambda p: p["publisher"]),
       _count)
@example(None, [], 0)
@example(  # escapes that a parser would misread if backslashes were not escaped first
    {"peer_id": "p", "dataset": "d", "repaired": 0, "audit": None,
     "peers": {"connected": ["\\n", 'x\\"', "y\\", "\\\\"], "known": 4, "backoff": 0},
     "sync": {"sessions": 0, "fetched": 0, "failures": 0, "active": [], "wants": {}},
     "gossip": {"accepted": 1, "ignored": 2, "rejected": 3}},
    [{"publisher": "ab", "name": 'a\\"b\\n', "authorised": True, "entries": 1,
      "head_length": 1, "head_seconds": 1.5, "damaged": 0, "equivocations": 0}], 1)
def test_values_and_label_text_survive_the_round_trip(status: dict[str, Any] | None,
                                                       publishers: list[dict[str, Any]],
                                                       records: int) -> None:
    facts = {"publishers": publishers, "records": records, "displayed": records,
             "retracted": 0, "index_backlog": 0, "file_bytes": {"main": 4096, "wal": 0}}
    _, samples = check_conventions(render_metrics(snapshot(status, facts)))
    assert value(samples, "samizdat_node_running") == (status is not None)
    assert value(samples, "samizdat_view_records") == records
    for pub in publishers:
        key = pub["publisher"]
        assert value(samples, "samizdat_publisher_info", publisher=key, name=pub["name"]) == 1
        assert value(samples, "samizdat_store_entries", publisher=key) == pub["entries"]
        assert value(samples, "samizdat_head_length", publisher=key) == pub["head_length"]
        assert value(samples, "samizdat_publisher_authorised", publisher=key) == \
            pub["authorised"]
        seconds = value(samples, "samizdat_head_timestamp_seconds", publisher=key)
        assert seconds == pub["head_seconds"]
    if status is None:
        assert series(samples, "samizdat_peer_connected") == {}
        assert value(samples, "samizdat_peers_connected") is None
        return
    connected = status["peers"]["connected"]
    assert value(samples, "samizdat_peers_connected") == len(connected)
    shown = {dict(labels)["peer"] for labels in series(samples, "samizdat_peer_connected")}
    assert shown == set(sorted(connected)[:MAX_PEER_SERIES])
    assert value(samples, "samizdat_node_info", peer_id=status["peer_id"],
                 dataset=status["dataset"], version=snapshot(None, {})["version"]) == 1
    for result in ("accepted", "ignored", "rejected"):
        assert value(samples, "samizdat_gossip_received_total", result=result) == \
            status["gossip"][result]
    for publisher, length in status["sync"]["wants"].items():
        assert value(samples, "samizdat_sync_wanted_length", publisher=publisher) == length
    audit = status["audit"]
    assert value(samples, "samizdat_audit_ok") == (None if audit is None else audit["ok"])
    assert value(samples, "samizdat_sync_fetched_entries_total") == status["sync"]["fetched"]


def test_control_characters_and_surrogates_become_replacement_characters() -> None:
    text = render_metrics({"peers": {"connected": ["a\tb\x00c", "d\ud800e"]}})
    _, samples = parse(text)
    shown = {dict(labels)["peer"] for labels in series(samples, "samizdat_peer_connected")}
    assert shown == {"a\ufffdb\ufffdc", "d\ufffde"}
    text.encode("utf-8")  # what the endpoint sends


# -- the store's facts, from a real store ------------------------------------------------------


def test_store_facts_count_what_the_store_holds(tmp_path: Path) -> None:
    store = new_store(tmp_path / "s.sqlite")
    try:
        store.publish(KEYS[0], bodies(300), NOW)
        store.publish(KEYS[1], bodies(50, start=1000), NOW + 5000)
        store.retract(KEYS[0], "memo:7", "duplicate of memo:8", NOW + 9000)
        facts = store_facts(store)
        sizes = [(tmp_path / name).stat().st_size for name in ("s.sqlite", "s.sqlite-wal")]
        counts = store.counts()
        heads = store.heads()
    finally:
        store.close()
    _, samples = check_conventions(render_metrics(snapshot(None, facts)))
    assert value(samples, "samizdat_node_running") == 0
    assert value(samples, "samizdat_view_records") == counts.records == 350
    assert value(samples, "samizdat_view_retracted_records") == counts.retracted == 1
    assert value(samples, "samizdat_view_displayed_records") == counts.displayed
    for key in (KEYS[0].public, KEYS[1].public):
        head = heads[key]
        assert value(samples, "samizdat_store_entries", publisher=key.hex()) == head.length
        assert value(samples, "samizdat_head_length", publisher=key.hex()) == head.length
        assert value(samples, "samizdat_head_timestamp_seconds",
                     publisher=key.hex()) == head.timestamp / 1000
        assert value(samples, "samizdat_store_damaged_parts", publisher=key.hex()) == 0
    assert heads[KEYS[0].public].length == 301  # 300 puts and the retraction
    absent = KEYS[2].public.hex()
    assert value(samples, "samizdat_store_entries", publisher=absent) == 0
    assert value(samples, "samizdat_head_timestamp_seconds", publisher=absent) is None
    assert [value(samples, "samizdat_store_file_bytes", file=f) for f in ("main", "wal")] == sizes
    assert sizes[1] > 0  # the write-ahead log is part of the store's size while it is open


def test_metrics_listen_comes_from_file_env_or_flag(tmp_path: Path) -> None:
    assert load_config(None, env={}).text("metrics", "listen") == ""
    env = {"SAMIZDAT_METRICS": "127.0.0.1:9474"}
    assert load_config(None, env=env).source("metrics", "listen") == "env:SAMIZDAT_METRICS"
    env = {"SAMIZDAT_METRICS_LISTEN": "127.0.0.1:1"}
    config = load_config(None, env=env, flags={("metrics", "listen"): "127.0.0.1:2"})
    assert config.text("metrics", "listen") == "127.0.0.1:2"
    node = make_node(tmp_path / "node")
    config_file = node / "config.toml"
    assert "[metrics]" in config_file.read_text()
    config_file.write_text(config_file.read_text().replace(
        '[metrics]\nlisten = ""', '[metrics]\nlisten = "127.0.0.1:9474"'))
    assert NodeConfig.from_node_dir(open_node_dir(node, env={})).metrics == "127.0.0.1:9474"


# -- samizdat status --prometheus ------------------------------------------------------------


@pytest.fixture
def published_node(tmp_path: Path) -> Path:
    node = make_node(tmp_path / "node")
    with Store.open(node / "store.sqlite") as store:
        store.publish(PUBLISHER, bodies(120), NOW)
    return node


def test_status_prometheus_prints_the_stores_metrics(published_node: Path) -> None:
    text = ok("status", "--data", str(published_node), "--prometheus").stdout
    _, samples = check_conventions(text)
    assert value(samples, "samizdat_node_running") == 0  # no daemon: store facts only
    assert value(samples, "samizdat_store_entries", publisher=PUBLISHER.public.hex()) == 120
    assert value(samples, "samizdat_store_entries", publisher=SECOND.public.hex()) == 0
    assert value(samples, "samizdat_publisher_info", publisher=PUBLISHER.public.hex(),
                 name="Memorial") == 1
    assert value(samples, "samizdat_view_records") == 120
    assert value(samples, "samizdat_peers_connected") is None
    both = run_cli("status", "--data", str(published_node), "--prometheus", "--json")
    assert both.returncode == 2 and "usage.format" in both.stdout  # --json: the error as JSON
