"""Run the real `samizdat` entry point in a subprocess, as a user or a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

SAMIZDAT = Path(sys.executable).with_name("samizdat")


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("SAMIZDAT_PASSPHRASE", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [str(SAMIZDAT), *args], capture_output=True, text=True, timeout=timeout,
        env=full_env, input=input_text, check=False,
    )
