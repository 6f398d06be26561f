"""The node's configuration: ``config.toml`` in the data directory, overridden by the environment
and by command-line flags (design §7; issue 5).

Precedence, highest first: a flag given on the command line, an environment variable
``SAMIZDAT_<SECTION>_<KEY>`` (e.g. ``SAMIZDAT_NETWORK_LISTEN``; a few short aliases such as
``SAMIZDAT_LISTEN`` are accepted too), the file, the built-in default. Every value has a known
type (:data:`DEFAULTS`): a list in the environment is separated by commas or whitespace, a bool
is ``1/0``, ``true/false``, ``yes/no``. Unknown sections or keys in the file are an error (a
typo must not silently fall back to a default).

The file is read with :mod:`tomllib` and written by :func:`render_toml`, a small writer for the
flat shape used here (tables of str, int, bool and lists of str), so no extra dependency is
needed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from samizdat_protocol.errors import LocalError

__all__ = [
    "CONFIG_FILENAME",
    "CONFIG_FORMAT",
    "DEFAULTS",
    "DEFAULT_LISTEN",
    "ENV_ALIASES",
    "Config",
    "ConfigError",
    "Value",
    "env_name",
    "load_config",
    "read_config_file",
    "render_toml",
]

CONFIG_FILENAME = "config.toml"
CONFIG_FORMAT = 1
DEFAULT_LISTEN = "/ip4/0.0.0.0/tcp/4747"

Value = str | int | bool | list[str]

# section -> key -> default (the default also fixes the type).
DEFAULTS: dict[str, dict[str, Value]] = {
    "node": {"format": CONFIG_FORMAT, "dataset": "", "store": "store.sqlite"},
    "network": {"listen": [DEFAULT_LISTEN], "bootstrap": [], "mdns": True},
    "gateway": {"listen": ""},
    "metrics": {"listen": ""},
    "publish": {"batch_size": 10_000},
    "audit": {"interval_hours": 24},
}

# Short environment names people will reach for first.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "SAMIZDAT_LISTEN": ("network", "listen"),
    "SAMIZDAT_BOOTSTRAP": ("network", "bootstrap"),
    "SAMIZDAT_GATEWAY": ("gateway", "listen"),
    "SAMIZDAT_METRICS": ("metrics", "listen"),
}

_COMMENTS: dict[str, str] = {
    "node": "What this node holds. `dataset` is set by `samizdat init`; do not edit it.",
    "network": "libp2p: where to listen, whom to dial first, mDNS on the local network.",
    "gateway": "The web gateway (HOST:PORT); empty means off.",
    "metrics": "GET /metrics in Prometheus text (HOST:PORT, e.g. 127.0.0.1:9474); empty means "
               "off.",
    "publish": "Entries per signed head when publishing from a file.",
    "audit": "How often the running node re-hashes its whole store (0: never; damage found is "
             "fetched again from peers).",
}


class ConfigError(LocalError):
    """The configuration file or an override is malformed (codes ``config.*``)."""


def env_name(section: str, key: str) -> str:
    return f"SAMIZDAT_{section.upper()}_{key.upper()}"


@dataclass(frozen=True)
class Config:
    """Effective settings and where each came from (``default``, ``file``, ``env:NAME``,
    ``flag``), so ``status`` can explain a surprising value."""

    values: dict[str, dict[str, Value]]
    sources: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def get(self, section: str, key: str) -> Value:
        return self.values[section][key]

    def text(self, section: str, key: str) -> str:
        value = self.get(section, key)
        assert isinstance(value, str)
        return value

    def number(self, section: str, key: str) -> int:
        value = self.get(section, key)
        assert isinstance(value, int) and not isinstance(value, bool)
        return value

    def strings(self, section: str, key: str) -> list[str]:
        value = self.get(section, key)
        assert isinstance(value, list)
        return list(value)

    def source(self, section: str, key: str) -> str:
        return self.sources.get(f"{section}.{key}", "default")


def _coerce(section: str, key: str, raw: object, origin: str) -> Value:
    """Check ``raw`` against the default's type; strings from the environment are parsed."""
    default = DEFAULTS[section][key]
    where = f"{section}.{key} (from {origin})"
    if isinstance(raw, str) and not isinstance(default, str):
        text = raw.strip()
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ConfigError("config.type", f"{where}: {raw!r} is not a yes/no value")
            return lowered in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            try:
                raw = int(text)
            except ValueError as exc:
                raise ConfigError("config.type", f"{where}: {raw!r} is not a number") from exc
        else:
            return [item for item in text.replace(",", " ").split() if item]
    if isinstance(default, bool):
        ok = isinstance(raw, bool)
    elif isinstance(default, int):
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    elif isinstance(default, str):
        ok = isinstance(raw, str)
    else:
        ok = isinstance(raw, list) and all(isinstance(item, str) for item in raw)
    if not ok:
        raise ConfigError("config.type", f"{where}: expected a value like {default!r}, "
                          f"got {raw!r}")
    if key == "batch_size" and isinstance(raw, int) and not 1 <= raw <= 1_000_000:
        raise ConfigError("config.range", f"{where}: must be 1..1000000")
    if isinstance(raw, list):
        return [str(item) for item in raw]
    assert isinstance(raw, str | int)
    return raw


def read_config_file(path: Path) -> dict[str, dict[str, Value]]:
    """The values a config file sets (checked against :data:`DEFAULTS`)."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError("config.missing", f"no configuration file at {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config.malformed", f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError("config.unreadable", f"cannot read {path}: {exc.strerror}") from exc
    out: dict[str, dict[str, Value]] = {}
    for section, table in data.items():
        if section not in DEFAULTS or not isinstance(table, dict):
            raise ConfigError("config.unknown", f"{path}: unknown section [{section}]; known: "
                              f"{', '.join(DEFAULTS)}")
        for key, raw in table.items():
            if key not in DEFAULTS[section]:
                raise ConfigError("config.unknown", f"{path}: unknown key {section}.{key}; "
                                  f"known: {', '.join(DEFAULTS[section])}")
            out.setdefault(section, {})[key] = _coerce(section, key, raw, str(path))
    return out


def load_config(path: Path | None, env: Mapping[str, str] | None = None,
                flags: Mapping[tuple[str, str], object] | None = None) -> Config:
    """Defaults, then the file (if ``path`` is given), then ``env``, then ``flags``.

    ``flags`` maps (section, key) to a value given on the command line; None means "not
    given" and leaves the lower layers in force.
    """
    env = os.environ if env is None else env
    values: dict[str, dict[str, Value]] = {
        section: {key: list(v) if isinstance(v, list) else v for key, v in table.items()}
        for section, table in DEFAULTS.items()}
    sources: dict[str, str] = {}
    if path is not None:
        for section, table in read_config_file(path).items():
            for key, value in table.items():
                values[section][key] = value
                sources[f"{section}.{key}"] = "file"
    names = {env_name(s, k): (s, k) for s, table in DEFAULTS.items() for k in table}
    names.update(ENV_ALIASES)
    for name, (section, key) in sorted(names.items()):
        if name in env and (section, key) != ("node", "dataset"):
            values[section][key] = _coerce(section, key, env[name], f"${name}")
            sources[f"{section}.{key}"] = f"env:{name}"
    for (section, key), raw in (flags or {}).items():
        if raw is not None:
            values[section][key] = _coerce(section, key, raw, "the command line")
            sources[f"{section}.{key}"] = "flag"
    return Config(values, sources, path)


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    return "[" + ", ".join(_toml_string(item) for item in value) + "]"


def _toml_string(text: str) -> str:
    # A TOML basic string: escape backslash, quote and control characters (TOML 1.0 §String).
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_toml(values: Mapping[str, Mapping[str, Value]], header: str = "") -> str:
    """A TOML document for ``values`` (one table per section, with a comment above each)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for section, table in values.items():
        if lines:
            lines.append("")
        if section in _COMMENTS:
            lines.append(f"# {_COMMENTS[section]}")
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"

