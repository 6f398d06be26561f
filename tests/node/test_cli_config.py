"""Configuration layers, the TOML writer, data directory defaults, peer ids and progress lines."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_node.config import (
    DEFAULTS,
    ConfigError,
    Value,
    load_config,
    read_config_file,
    render_toml,
)
from samizdat_node.datadir import IDENTITY_FILENAME, default_data_dir, peer_id_of
from samizdat_node.p2p import identity
from samizdat_node.progress import Progress, format_count

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(name=_TEXT, items=st.lists(_TEXT, max_size=4), number=st.integers(0, 2**40),
       flag=st.booleans())
def test_toml_writer_round_trips(name: str, items: list[str], number: int, flag: bool) -> None:
    values: dict[str, dict[str, Value]] = {
        "node": {"dataset": name, "format": number},
        "network": {"listen": items, "mdns": flag}}
    assert tomllib.loads(render_toml(values, header="a\nb")) == values


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[network]\nlisten = ["/ip4/1.1.1.1/tcp/1"]\nbootstrap = ["/dns/x"]\n'
                    "[publish]\nbatch_size = 500\n")
    env = {"SAMIZDAT_LISTEN": "/ip4/2.2.2.2/tcp/2", "SAMIZDAT_NETWORK_MDNS": "no",
           "SAMIZDAT_PUBLISH_BATCH_SIZE": "700"}
    config = load_config(path, env, {("publish", "batch_size"): 900,
                                     ("network", "bootstrap"): None})
    assert config.strings("network", "listen") == ["/ip4/2.2.2.2/tcp/2"]
    assert config.get("network", "mdns") is False
    assert config.number("publish", "batch_size") == 900
    assert config.strings("network", "bootstrap") == ["/dns/x"]
    assert config.text("gateway", "listen") == DEFAULTS["gateway"]["listen"]
    assert [config.source("network", k) for k in ("listen", "bootstrap", "mdns")] == [
        "env:SAMIZDAT_LISTEN", "file", "env:SAMIZDAT_NETWORK_MDNS"]
    assert config.source("publish", "batch_size") == "flag"
    assert config.source("gateway", "listen") == "default"


@pytest.mark.parametrize("text, code", [
    ("[netwrk]\nlisten = []\n", "config.unknown"),
    ("[network]\nlissen = []\n", "config.unknown"),
    ("[network]\nlisten = 4\n", "config.type"),
    ("[publish]\nbatch_size = 0\n", "config.range"),
    ("[network\n", "config.malformed"),
])
def test_bad_config_files_are_named(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    assert caught.value.code == code and str(path) in caught.value.message


def test_bad_environment_values_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"SAMIZDAT_NETWORK_MDNS": "perhaps"})
    assert "SAMIZDAT_NETWORK_MDNS" in caught.value.message
    with pytest.raises(ConfigError):
        load_config(None, {"SAMIZDAT_PUBLISH_BATCH_SIZE": "many"})


def test_data_directory_defaults_follow_xdg() -> None:
    assert default_data_dir({"SAMIZDAT_DATA": "/srv/sz"}) == Path("/srv/sz")
    assert default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/samizdat")
    assert default_data_dir({"HOME": "/h"}) == Path("/h/.local/share/samizdat")


def test_peer_id_without_libp2p_matches_libp2p() -> None:
    assert IDENTITY_FILENAME == identity.IDENTITY_FILENAME
    for seed in (b"\x00" * 32, b"\x01" * 32, bytes(range(32))):
        ident = identity.Identity.from_seed(seed)
        assert peer_id_of(ident.public) == str(ident.peer_id)


def test_plain_progress_writes_rarely_and_only_when_slow() -> None:
    now = [0.0]
    out = io.StringIO()
    with Progress("publish", 1000, unit="", stream=out, interval=5.0,
                  clock=lambda: now[0]) as meter:
        meter.update(10)
        now[0] = 4.9
        meter.update(500)
        assert out.getvalue() == ""
        now[0] = 10.0
        meter.update(advance=100, note="600 records")
    assert out.getvalue() == "publish: 600 of 1,000 (60%), 60/s, 600 records\n"
    assert format_count(3 * 1024 * 1024, "bytes") == "3.0 MiB"
    quiet = io.StringIO()
    with Progress("x", None, stream=quiet, enabled=False, clock=lambda: 99.0) as meter:
        meter.update(5)
    assert quiet.getvalue() == ""
