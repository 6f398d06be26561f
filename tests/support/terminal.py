"""Run the real `samizdat` entry point with standard error on a pseudo-terminal, as a person at
a terminal would, to see what it draws there (progress bars)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from dataclasses import dataclass

from tests.support.cli import SAMIZDAT

# CSI sequences (cursor moves, colours) and the odd OSC: what a terminal would act on, not show.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@dataclass
class TerminalRun:
    returncode: int
    stdout: str
    screen: str  # what was written to the terminal (standard error), control sequences removed


def run_on_terminal(*args: str, timeout: float = 60.0, columns: int = 120) -> TerminalRun:
    """``samizdat ARGS`` with standard error on a pty (standard output stays a pipe)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"}
    env.pop("SAMIZDAT_PASSPHRASE", None)
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([str(SAMIZDAT), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    screen = _CONTROL.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return TerminalRun(proc.returncode, out.decode("utf-8", "replace"), screen)
