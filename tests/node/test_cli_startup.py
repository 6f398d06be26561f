"""Every `samizdat` command pays for what the CLI imports at start: commands that need no
network (status, search, get, verify, publish, bundle...) must not import libp2p (most of a
second); the commands that talk to peers import it when they run (cli/node.py)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import samizdat_node.sync as sync

_LOADED = """
import json, sys
from samizdat_node.cli.app import build_parser
build_parser()
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] == "libp2p")))
"""


def test_building_the_cli_imports_no_libp2p() -> None:
    out = subprocess.run([sys.executable, "-c", _LOADED], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out) == []


def test_the_sync_package_names_resolve_to_their_modules() -> None:
    assert sorted(sync.__all__) == sorted(sync._SOURCES)
    for name, source in sync._SOURCES.items():
        module = importlib.import_module(f"samizdat_node.sync.{source}")
        assert getattr(sync, name) is getattr(module, name)
