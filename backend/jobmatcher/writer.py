"""One thread that owns the app's read-write SQLite connection.

Why a thread of its own: pywebview runs every JS API call on a new worker
thread, and the browser-mode server runs each request on its own thread, but a
sqlite3 connection belongs to the thread that made it (and sharing one across
threads would interleave transactions). So the connection lives on this single
thread; callers hand it a function `fn(conn)` and wait on a Future for the
result (the pattern Datasette uses for its write connection). All profile reads
and writes go through it, which also serialises writes without "database is
locked" retries.

Before a restore swaps the database file the connection must be closed (a
connection left open would keep reading and writing the replaced file), so the
writer can be suspended: the connection is closed on its own thread and every
later call is refused with a readable message until `resume()`.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from concurrent.futures import Future
from typing import Any, Callable

from .errors import JobMatcherError

Job = Callable[[sqlite3.Connection], Any]


class WriterUnavailableError(JobMatcherError):
    """The connection is closed (a restore is running or finished, or the app is closing)."""

    code = "unavailable"


_STOP = object()
_CLOSE = object()  # a queued "close the connection now", so jobs queued before a suspend still finish


class Writer:
    """Runs `fn(conn)` jobs one at a time on a dedicated thread that owns the connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str = "jobmatcher-writer") -> None:
        self._connect = connect
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None  # touched only on the writer thread
        self._lock = threading.Lock()  # guards _refusal and _closed against concurrent submit()
        self._refusal: JobMatcherError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- caller side ---------------------------------------------------------------

    def submit(self, fn: Job) -> Future:
        """Queue `fn(conn)`; the Future holds its result or exception."""
        fut: Future = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(WriterUnavailableError("JobMatcher is closing.", "Start it again."))
                return fut
            if self._refusal is not None:
                fut.set_exception(self._refusal)
                return fut
            self._jobs.put((fn, fut))
        return fut

    def call(self, fn: Job, timeout: float | None = 60) -> Any:
        """Run `fn(conn)` on the writer thread and return its result (its exception is re-raised here)."""
        if threading.current_thread() is self._thread:  # a job calling back in would wait on itself forever
            return fn(self._connection())
        return self.submit(fn).result(timeout)

    def suspend(self, message: str, hint: str = "") -> None:
        """Close the connection (after the jobs already queued) and refuse new jobs with `message`."""
        with self._lock:
            self._refusal = WriterUnavailableError(message, hint)
            if self._closed:  # the thread is stopping and closes the connection itself
                return
        if threading.current_thread() is self._thread:
            self._close_connection()
            return
        done: Future = Future()
        self._jobs.put((_CLOSE, done))
        done.result(60)

    def resume(self) -> None:
        """Accept jobs again; the connection is reopened by the next one."""
        with self._lock:
            self._refusal = None

    @property
    def suspended(self) -> bool:
        return self._refusal is not None

    def close(self, timeout: float = 10) -> None:
        """Finish the queued jobs, close the connection and stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- writer thread ---------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is _STOP:
                self._close_connection()
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                if fn is _CLOSE:
                    self._close_connection()
                    result = None
                else:
                    result = fn(self._connection())
            except BaseException as e:  # handed to the caller, never lost on this thread
                fut.set_exception(e)
            else:
                fut.set_result(result)
