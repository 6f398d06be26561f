"""Progress of long operations on standard error: rich bars on a terminal, plain lines elsewhere.

On a terminal (``stream.isatty()``) a :mod:`rich` progress bar shows done/total, rate and time
left. Anywhere else (a log file, a pipe, a test) a plain line is written at most every
``interval`` seconds, and never for work that ends sooner, so scripts and logs stay quiet.
Standard output is left alone: it carries the command's result (and ``--json``).

:class:`Progress` is one operation (import, export, verify): the caller reports absolute or
relative progress with :meth:`Progress.update`; the total may be unknown (a spinner then, and
lines without a percentage). :class:`ProgressBars` is one operation made of several parts that
advance side by side (``sync --once``: one bar per publisher, each with its own total), keyed
by the caller. Only the CLI uses this module: the library reports progress through plain
callbacks and never imports rich.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "ProgressBars", "format_count"]

Clock = Callable[[], float]


def format_count(value: float, unit: str) -> str:
    if unit == "bytes":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:.1f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


def _describe(label: str, completed: int, total: int | None, unit: str, elapsed: float) -> str:
    """``label: 600 of 1,000 entries (60%), 60/s``: one part's progress as a plain line."""
    if not total:
        done = f"{label}: {format_count(completed, unit)}"
    else:
        # A count's unit is said once, after the total; sizes each carry theirs (MiB, GiB).
        done = (f"{label}: {format_count(completed, unit if unit == 'bytes' else '')} of "
                f"{format_count(total, unit)} ({100 * completed / total:.0f}%)")
    rate = completed / max(elapsed, 1e-9)
    speed = f"{format_count(rate, unit)}/s" if unit == "bytes" else f"{rate:,.0f}/s"
    return f"{done}, {speed}"


def _rich_bars(stream: TextIO, unit: str) -> Any:
    """A started rich progress display on ``stream``: spinner, label, bar, done of total,
    percentage, rate, elapsed and remaining time, and a note."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if not speed:
                return Text("")
            return Text(f"{format_count(speed, unit)}/s" if unit == "bytes"
                        else f"{speed:,.0f}/s", style="progress.data.speed")

    counter = (TextColumn("{task.fields[done]}") if unit == "bytes" else MofNCompleteColumn())
    bars = RichProgress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), counter,
        TaskProgressColumn(), RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(file=stream), transient=False)
    bars.start()
    return bars


class Progress:
    """One operation's progress; use as a context manager."""

    def __init__(self, label: str, total: int | None = None, *, unit: str = "",
                 stream: TextIO | None = None, enabled: bool = True, interval: float = 5.0,
                 clock: Clock = time.monotonic) -> None:
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
            self._rich = _rich_bars(self._stream, unit)
            self._task = self._rich.add_task(label, total=total, note="", done="")

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
        line = _describe(self.label, self.completed, self.total, self.unit, now - self._started)
        print(line + (f", {self.note}" if self.note else ""), file=self._stream, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass
class _Part:
    label: str
    total: int | None
    started: float
    completed: int = 0
    task: Any = None


class ProgressBars:
    """Several parts of one operation, each with its own bar (on a terminal) and total.

    ``update(key, completed, total, label=...)`` creates the part on first sight. Plain lines
    (not on a terminal) come at most every ``interval`` seconds and name every part:
    ``sync: Memorial: 600 of 1,000 (60%), 60/s; Second org: 10 of 10 (100%), 5/s``.
    """

    def __init__(self, label: str, *, unit: str = "", stream: TextIO | None = None,
                 enabled: bool = True, interval: float = 5.0,
                 clock: Clock = time.monotonic) -> None:
        self.label = label
        self.unit = unit
        self.parts: dict[str, _Part] = {}
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._last = clock()
        self._interval = interval
        self._enabled = enabled
        self._tty = enabled and _is_tty(self._stream)
        self._rich: Any = None  # started with the first part: no parts, nothing drawn

    def update(self, key: str, completed: int, total: int | None = None, *,
               label: str | None = None) -> None:
        part = self.parts.get(key)
        if part is None:
            part = self.parts[key] = _Part(label or key, total, self._clock())
            if self._tty:
                if self._rich is None:
                    self._rich = _rich_bars(self._stream, self.unit)
                part.task = self._rich.add_task(part.label, total=total, note="", done="")
        part.completed = completed
        if total is not None:
            part.total = total
        if self._rich is not None:
            done = format_count(completed, self.unit) if self.unit == "bytes" else ""
            self._rich.update(part.task, completed=completed, total=part.total, done=done)
            return
        now = self._clock()
        if self._enabled and now - self._last >= self._interval:
            self._last = now
            parts = "; ".join(_describe(p.label, p.completed, p.total, self.unit,
                                        now - p.started) for p in self.parts.values())
            print(f"{self.label}: {parts}", file=self._stream, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        self._tty = False

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
