"""Progress of long operations on standard error: a rich bar on a terminal, plain lines elsewhere.

On a terminal (``stream.isatty()``) a :mod:`rich` progress bar shows done/total, rate and time
left. Anywhere else (a log file, a pipe, a test) a plain line is written at most every
``interval`` seconds, and never for work that ends sooner, so scripts and logs stay quiet.
Standard output is left alone: it carries the command's result (and ``--json``).

The caller reports absolute or relative progress with :meth:`Progress.update`; the total may be
unknown (a spinner then, and lines without a percentage).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "format_count"]


def format_count(value: float, unit: str) -> str:
    if unit == "bytes":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:.1f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


class Progress:
    """One operation's progress; use as a context manager."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "",
                 stream: TextIO | None = None, enabled: bool = True, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.completed = 0
        self.note = ""
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self._interval = interval
        self._enabled = enabled
        self._rich: Any = None
        self._task: Any = None
        if enabled and _is_tty(self._stream):
            self._start_rich()

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        counter = (TextColumn("{task.fields[done]}") if self.unit == "bytes"
                   else MofNCompleteColumn())
        self._rich = RichProgress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), counter,
            TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(file=self._stream), transient=False)
        self._rich.start()
        self._task = self._rich.add_task(self.label, total=self.total, note="", done="")

    def update(self, completed: int | None = None, *, advance: int = 0, note: str | None = None,
               total: int | None = None) -> None:
        if completed is not None:
            self.completed = completed
        self.completed += advance
        if note is not None:
            self.note = note
        if total is not None:
            self.total = total
        if not self._enabled:
            return
        if self._rich is not None:
            done = format_count(self.completed, self.unit) if self.unit == "bytes" else ""
            self._rich.update(self._task, completed=self.completed, total=self.total,
                              note=self.note, done=done)
            return
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._write_line(now)

    def _write_line(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        done = f"{self.label}: {format_count(self.completed, self.unit)}"
        if self.total:
            done += (f" of {format_count(self.total, self.unit)} "
                     f"({100 * self.completed / self.total:.0f}%)")
        parts = [done]
        rate = self.completed / elapsed
        parts.append(f"{format_count(rate, self.unit)}/s" if self.unit == "bytes"
                     else f"{rate:,.0f}/s")
        if self.note:
            parts.append(self.note)
        print(", ".join(parts), file=self._stream, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
