"""Parsing big batches from outside in a second process (design §8: 1M records in 23 s).

Applying a sync chunk is two kinds of work: *parsing* (decode every header, hash every
payload, check it strictly against the schema: about half of the CPU time) and *storing*
(verify against the signed head, SQLite inserts, the view). Parsing needs nothing from the
store, but in one process it cannot overlap the storing of the previous chunk: both hold the
GIL for most of their time (measured: no gain from a second thread, store/aio.py). A second
*process* can, so a mirror's first sync uses both cores of a cheap machine: while chunk k
commits in the node's process, chunk k + 1 is parsed here.

What crosses the process boundary: headers and payloads go out (pickled ``bytes``, about the
chunk's size); back come only the small columns (kinds, record ids, payload hashes,
timestamps; decoded bodies only when the batch is indexed inline), never the payloads again.

The child only ever *helps*: it returns the columns or None, never an error. None (any
malformation, any failure of the child itself) makes the store parse the batch again inside
its transaction (apply.Prepared), which names exactly what is wrong, so a hostile chunk is
judged by the same code with or without the pool. Nothing the child says is trusted beyond
what the in-process parser would have computed from the same bytes: verification against the
signed head and the store's checks still run in the node's process.

The pool is started on first use (a spawned interpreter, ~0.3 s and ~30 MB) and stopped again
after ``idle_seconds`` without work (:meth:`ParsePool.close_if_idle`), so an idle mirror keeps
one process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from functools import partial
from multiprocessing import get_context
from typing import Any, TypeVar

from samizdat_protocol.errors import SamizdatError

from .bulk import paused_gc

__all__ = ["MIN_ENTRIES", "ParsePool", "ParsedColumns", "on_parent_gone", "parse_chunk",
           "result_or_none", "usable_cpus"]

T = TypeVar("T")

# Below this a chunk is parsed in process: sending it costs more than it saves.
MIN_ENTRIES = 512

# kinds, record ids, payload hashes / erase targets, timestamps, bodies (or None)
ParsedColumns = tuple[list[int], list[str], list[bytes | None], list[int],
                      list[dict[str, Any] | None] | None]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_chunk(schema_id: str, start: int, headers: list[bytes],
                payloads: list[bytes | None], want_bodies: bool) -> ParsedColumns | None:
    """Runs in the child: apply.parse_columns on one chunk, or None when it is not clean."""
    from .apply import parse_columns  # the child imports the store lazily, once

    try:
        with paused_gc():
            cols = parse_columns(schema_id, 0, b"", start, headers, payloads, None,
                                 want_bodies=want_bodies)
    except SamizdatError:
        return None
    return (cols.kinds, cols.record_ids, cols.keys, cols.timestamps,
            cols.bodies if want_bodies else None)


_ON_PARENT_GONE: list[Callable[[], object]] = []  # in the child: what to undo before ending


def on_parent_gone(cleanup: Callable[[], object]) -> None:
    """In a pool's child: run ``cleanup`` (e.g. remove a spool directory) before the child
    ends because the process that started it is gone (:func:`_watch_parent`)."""
    _ON_PARENT_GONE.append(cleanup)


def _watch_parent(parent: int) -> None:
    """Pool initializer, in the child: end it once the process that started it is gone. A
    pool worker holds both ends of its task pipe, so after a SIGKILL of the node it would wait
    for work forever (and keep the spawn resource tracker alive with it)."""

    def watch() -> None:
        while os.getppid() == parent:  # re-parented once the parent has died
            time.sleep(0.5)
        for cleanup in _ON_PARENT_GONE:
            with suppress(Exception):  # ending regardless is the point
                cleanup()
        os._exit(0)

    threading.Thread(target=watch, name="samizdat-parent-watch", daemon=True).start()


def _warm() -> bool:
    """Runs in the child: import what parse_chunk needs, so the first chunk does not wait."""
    from . import apply  # noqa: F401

    return True


class ParsePool:
    """A lazily started process pool for helping work such as :func:`parse_chunk`
    (thread-safe; one worker by default)."""

    def __init__(self, workers: int = 1, idle_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, *,
                 start_method: str = "spawn") -> None:
        self.workers = max(1, workers)
        # "fork" starts a helper in milliseconds instead of re-importing the program (1-2 s),
        # but is safe only while the process has no other thread: for a caller that submits
        # its first task before starting any (the CLI's import). A pool started again after
        # a failure always spawns: by then the caller may have threads.
        self.start_method = start_method
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._busy = 0
        self._warming: Future[bool | None] | None = None
        self._last_used = clock()
        self.started = 0  # pools started over this object's life (for tests and status)

    @property
    def running(self) -> bool:
        return self._executor is not None

    def warm(self) -> bool:
        """Whether a started child is ready to take work now. If not, start it (without
        waiting): a short catch-up parses in process rather than wait ~0.3 s for a spawn,
        and a long one moves its later chunks here once the child is up."""
        warming = self._warming
        if warming is not None and warming.done() and self._executor is not None:
            return result_or_none(warming) is True
        if warming is None or warming.done():
            self._warming = self.submit(_warm)
        return False

    def submit_chunk(self, schema_id: str, start: int, headers: Sequence[bytes],
                     payloads: Sequence[bytes | None],
                     want_bodies: bool) -> Future[ParsedColumns | None]:
        """:func:`parse_chunk` in the child; the result is the columns or None (see module)."""
        return self.submit(parse_chunk, schema_id, start, list(headers), list(payloads),
                           want_bodies)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T | None]:
        """Run ``fn(*args)`` in the child (``fn`` a module-level function, arguments
        picklable). A child that cannot run it (killed, failed to start) gives None."""
        with self._lock:
            if self._executor is None:
                # spawn unless asked for fork: the node runs trio and worker threads, which
                # fork copies in an undefined state.
                method = self.start_method if self.started == 0 else "spawn"
                self._executor = ProcessPoolExecutor(self.workers,
                                                     mp_context=get_context(method),
                                                     initializer=_watch_parent,
                                                     initargs=(os.getpid(),))
                self.started += 1
            executor = self._executor
            self._busy += 1
        try:
            future: Future[T | None] = executor.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):
            self._done(executor, None)
            self._discard(executor)
            failed: Future[T | None] = Future()
            failed.set_result(None)
            return failed
        future.add_done_callback(partial(self._done, executor))
        return future

    def _done(self, executor: ProcessPoolExecutor, future: Future[Any] | None) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = self._clock()
        if future is not None and not future.cancelled() \
                and isinstance(future.exception(), BrokenProcessPool):
            self._discard(executor)

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """Forget a broken pool (a killed child); the next submit starts a new one. Only
        that pool: its tasks fail one by one, and a later failure must not stop the pool
        started after the first."""
        with self._lock:
            if self._executor is not executor:
                return
            self._executor = None
        executor.shutdown(wait=False)

    def close_if_idle(self) -> bool:
        """Stop the child after ``idle_seconds`` without work; True if it was stopped."""
        with self._lock:
            if self._executor is None or self._busy \
                    or self._clock() - self._last_used < self.idle_seconds:
                return False
            executor, self._executor = self._executor, None
        executor.shutdown(wait=True)
        return True

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            # No cancel_futures: see aio._parsed (a cancelled future pending when the pool
            # breaks kills CPython 3.11's manager thread); pending work is a few chunks.
            executor.shutdown(wait=True)


def result_or_none(future: Future[T | None]) -> T | None:
    """A finished future's result; None for any failure of the child (a crash included)."""
    try:
        return future.result(timeout=0)
    except Exception:  # the child only helps: the store parses again (module docstring)
        return None
