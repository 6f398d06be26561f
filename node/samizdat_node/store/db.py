"""SQLite connections of the store: one writer, readers beside it (design §5, house style §6).

* WAL journal: readers never block the writer and see a consistent snapshot per transaction.
* One writer connection. Every multi-statement write goes through :meth:`Database.atomic`,
  which opens ``BEGIN IMMEDIATE`` (take the write lock up front, so a transaction never fails
  half-way on a lock upgrade) and commits or rolls back as a whole.
* ``synchronous=FULL``: a committed transaction survives power loss. A publisher must never
  lose a head it signed and may have gossiped, or it would later sign a different log of the
  same length (an equivocation by accident). Commits are per batch, so the fsync is cheap.
* Read connections come from a small pool; each read runs in its own ``BEGIN`` .. ``COMMIT``
  so several queries see one snapshot.

Connections are opened with ``check_same_thread=False`` because the trio facade
(:mod:`.aio`) runs calls in worker threads; the locks here make each connection used by one
thread at a time. Every SQLite failure leaves through :func:`.errors.translate`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from samizdat_protocol.errors import LocalError

from .errors import StoreError, translate

__all__ = ["PAGE_SIZE", "Database"]

# 8 KiB pages keep a ~700-byte entry row (header + payload) well inside one b-tree cell of a
# WITHOUT ROWID table (max local payload is about a quarter page); 4 KiB would overflow the
# longest Memorial records (~3 KB of UTF-8) to separate pages.
PAGE_SIZE = 8192
_CACHE_KIB = 64 * 1024  # the writer: index pages of bulk inserts stay hot
_READ_CACHE_KIB = 8 * 1024  # readers: WAL changes invalidate it anyway; scans stream
_BUSY_MS = 5000


def _pragmas(conn: sqlite3.Connection, *, writer: bool, max_pages: int | None) -> None:
    cache = _CACHE_KIB if writer else _READ_CACHE_KIB
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
    conn.execute(f"PRAGMA cache_size = -{cache}")
    conn.execute("PRAGMA temp_store = MEMORY")
    if writer:
        conn.execute("PRAGMA synchronous = FULL")
        # Truncate the WAL file back after a checkpoint instead of leaving it at its peak.
        conn.execute("PRAGMA journal_size_limit = 67108864")
        if max_pages is not None:
            conn.execute(f"PRAGMA max_page_count = {int(max_pages)}")
    else:
        conn.execute("PRAGMA query_only = 1")


class Database:
    """The store's SQLite file: a writer connection and a pool of read connections."""

    def __init__(self, path: str | Path, *, readers: int = 4, max_pages: int | None = None):
        self.path = Path(path)
        self._max_readers = max(1, readers)
        self._max_pages = max_pages
        # A plain Lock (not RLock): a deferred COMMIT releases it from the helper thread.
        self._write_lock = threading.Lock()
        self._owner: int | None = None
        self._commit_thread: ThreadPoolExecutor | None = None
        self._pool: list[sqlite3.Connection] = []
        self._open_readers = 0
        self._pool_cv = threading.Condition()
        self._closed = False
        try:
            self.writer = self._connect(writer=True)
        except StoreError as exc:
            directory = self.path.parent
            if exc.code != "store.read_only" and directory.is_dir() \
                    and not os.access(directory, os.W_OK):
                raise StoreError("store.read_only",
                                 f"the store's directory {directory} is read-only; a store "
                                 "writes its journal (WAL) files beside it") from exc
            raise

    def _connect(self, *, writer: bool) -> sqlite3.Connection:
        doing = f"opening {self.path}"
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   cached_statements=256)
        except sqlite3.Error as exc:
            raise translate(exc, doing) from exc
        try:
            if writer:
                # page_size only takes effect before the first table exists (new file).
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError("store.read_only",
                                     f"cannot switch {self.path} to WAL mode (got {mode!r}); "
                                     "is the directory writable?")
            _pragmas(conn, writer=writer, max_pages=self._max_pages)
        except sqlite3.Error as exc:
            conn.close()
            raise translate(exc, doing) from exc
        except StoreError:
            conn.close()
            raise
        return conn

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def atomic(self, doing: str = "writing", *,
               defer: list[Future[None]] | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all.

        Nested use (same thread) joins the outer transaction; only the outermost commits.
        With ``defer``, the final COMMIT (the transaction's disk writes and fsync, during which
        SQLite releases the GIL) runs on a helper thread and its future is appended to
        ``defer``: the caller prepares its next batch meanwhile, and must call ``result()``
        on the future to learn whether the commit succeeded. The write lock stays held until
        the commit ends, so the next transaction starts after it, in order.
        """
        self._check_open()
        me = threading.get_ident()
        if self._owner == me:
            yield self.writer
            return
        self._write_lock.acquire()
        self._owner = me
        conn = self.writer
        handed_off = False
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc, doing) from exc
            try:
                yield conn
                if defer is not None:
                    self._owner = None
                    defer.append(self._committer().submit(self._finish, conn, doing))
                    handed_off = True
                else:
                    conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise translate(exc, doing) from exc
                raise
        finally:
            if not handed_off:
                self._owner = None
                self._write_lock.release()

    def _committer(self) -> ThreadPoolExecutor:
        if self._commit_thread is None:
            self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="samizdat-commit")
        return self._commit_thread

    def _finish(self, conn: sqlite3.Connection, doing: str) -> None:
        """COMMIT on the helper thread; then release the write lock taken by atomic()."""
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise translate(exc, doing) from exc
        finally:
            self._write_lock.release()

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # SQLite rolls back by itself after some errors (e.g. SQLITE_FULL during COMMIT); a
        # failed ROLLBACK then means there is nothing left to undo.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self._owner == threading.get_ident()

    # -- reading -------------------------------------------------------------------------

    @contextmanager
    def reading(self, doing: str = "reading") -> Iterator[sqlite3.Connection]:
        """A read connection holding one snapshot for the duration of the block."""
        self._check_open()
        conn = self._take_reader()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate(exc, doing) from exc
        finally:
            self._return_reader(conn)

    def _take_reader(self) -> sqlite3.Connection:
        with self._pool_cv:
            while not self._pool and self._open_readers >= self._max_readers:
                self._pool_cv.wait()
            if self._pool:
                return self._pool.pop()
            self._open_readers += 1
        try:
            return self._connect(writer=False)
        except BaseException:
            with self._pool_cv:
                self._open_readers -= 1
                self._pool_cv.notify()
            raise

    def _return_reader(self, conn: sqlite3.Connection) -> None:
        with self._pool_cv:
            if self._closed:
                conn.close()
                self._open_readers -= 1
            else:
                self._pool.append(conn)
            self._pool_cv.notify()

    # -- lifecycle -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LocalError("store.closed", "the store is closed")

    def close(self) -> None:
        """Close every connection (a WAL checkpoint runs as the last one closes)."""
        if self._closed:
            return
        with self._write_lock, self._pool_cv:  # waits for a deferred commit to end
            self._closed = True
            for conn in self._pool:
                conn.close()
            self._open_readers -= len(self._pool)
            self._pool.clear()
            if self._commit_thread is not None:
                self._commit_thread.shutdown(wait=False)  # idle: we hold the write lock
            try:
                self.writer.close()
            except sqlite3.Error as exc:
                raise translate(exc, "closing the store") from exc
