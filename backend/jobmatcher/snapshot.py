"""A consistent snapshot of the live database at file-copy speed.

How the copy is made consistent, under SQLite's own locks:
1. `BEGIN IMMEDIATE` takes the database's write lock. Readers go on; writers
   wait (busy timeout) for the length of the copy, never longer.
2. With the write lock held nothing can append to the -wal or reset it, so the
   main file plus the whole -wal file is a closed set. A checkpoint running in
   another connection may still copy -wal pages into the main file while we
   read it, but every page it writes is also in the -wal we copy, and SQLite
   replays that -wal over the main file when the copy is opened. The result is
   exactly the last committed state.
3. The copy is opened on its own, its -wal folded in, and switched to
   rollback-journal mode, so a backup is one self-contained file. When the
   -wal is empty there is nothing to fold in: the header's two journal-mode
   bytes are switched in place instead and SQLite never opens the copy, so
   its bytes are final as they are copied and can be hashed meanwhile
   (copy_snapshot's `digests`).
Every snapshot is then verified (integrity_check) before it is published; the
online backup API is the fallback when this fast path cannot be used.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Callable

from .digests import FollowingDigests
from .fsutil import CHUNK, SIDE_SUFFIXES, WAL, copy_range, database_fd, fsync_file, remove_quietly, side_file
from .progress import Count as PageProgress  # (pages done, pages total)

_BACKUP_API_STEP = 4096  # pages per backup-API step (16 MB at 4 KB pages)


class SnapshotResult:
    """A snapshot made. `method`: "file-copy" or "backup-api"; `seconds`: the copy itself, without any wait for
    another program's write transaction; `pages`: its pages; `wait_seconds`: how long it waited for that write
    transaction first (set by the caller); `hashed`: True when the copy was handed to copy_snapshot's `digests`
    as it was written, all of it. (A plain class, as LockWait: a dataclass's generated functions would be compiled
    in every process that loads this module, on a backup's clock.)"""

    __slots__ = ("method", "seconds", "pages", "wait_seconds", "hashed")

    def __init__(
        self, method: str, seconds: float, pages: int, wait_seconds: float = 0.0, hashed: bool = False
    ) -> None:
        self.method = method
        self.seconds = seconds
        self.pages = pages
        self.wait_seconds = wait_seconds
        self.hashed = hashed

    def __repr__(self) -> str:
        return f"SnapshotResult({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


# SQLite's write lock is normally free within milliseconds (the app's own commits are short). After this
# long the wait is shown ("Waiting for another program to finish writing…"); after LOCK_WAIT_SECONDS in all
# the fast path gives up and the backup API copies the committed data without the write lock.
LOCK_NOTICE_SECONDS = 1.0
LOCK_WAIT_SECONDS = 30.0
# How long the checkpoint before a hashed copy (copy_snapshot's `checkpoint`) may wait for another connection's
# write, or for a reader still reading pages of the -wal (the app's own reads and writes take milliseconds).
# Past it the copy goes on without it: the -wal is folded into the copy afterwards, as without a checkpoint.
CHECKPOINT_WAIT_SECONDS = 0.1


class LockWait:
    """How long a snapshot waited for another connection's write transaction to end.

    `started` is called once when the lock was not free within LOCK_NOTICE_SECONDS (to show the
    wait); `seconds` is the whole wait, also when it ended by giving up (then the caller's fallback
    starts after it); `gave_up`: the other program was still writing after LOCK_WAIT_SECONDS (so a copy
    made then holds what was saved before its write, not after it: said so, never "after it finished")."""

    __slots__ = ("started", "seconds", "gave_up")

    def __init__(self, started: Callable[[], None] | None = None, seconds: float = 0.0, gave_up: bool = False) -> None:
        self.started = started
        self.seconds = seconds
        self.gave_up = gave_up

    def __repr__(self) -> str:
        return f"LockWait(started={self.started!r}, seconds={self.seconds!r}, gave_up={self.gave_up!r})"


def _busy(e: sqlite3.OperationalError) -> bool:
    return getattr(e, "sqlite_errorcode", None) in (5, 6) or "locked" in str(e) or "busy" in str(e)


def _begin_immediate(conn: sqlite3.Connection, wait: LockWait | None) -> None:
    """BEGIN IMMEDIATE, waiting at most LOCK_WAIT_SECONDS for another writer; the wait is reported to `wait`."""
    t0 = time.perf_counter()
    conn.execute(f"PRAGMA busy_timeout={int(LOCK_NOTICE_SECONDS * 1000)}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as e:
        if not _busy(e):
            raise
    try:
        if wait is not None and wait.started is not None:
            wait.started()
        left = max(0.0, LOCK_WAIT_SECONDS - (time.perf_counter() - t0))
        conn.execute(f"PRAGMA busy_timeout={int(left * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if wait is not None and _busy(e):
                wait.gave_up = True
            raise
    finally:
        if wait is not None:
            wait.seconds = time.perf_counter() - t0
        conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_SECONDS * 1000)}")


def _page_size(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA page_size").fetchone()[0]


# Bytes 18 and 19 of a SQLite file's header: 2, 2 in WAL mode, 1, 1 in rollback-journal mode (SQLite's
# documented file format, section 1.3.4).
_MODE_OFFSET = 18
_WAL_MODE = b"\x02\x02"
_ROLLBACK_MODE = b"\x01\x01"


def copy_snapshot(
    src: Path,
    dest: Path,
    progress: PageProgress | None = None,
    sync: bool = True,
    wait: LockWait | None = None,
    digests: FollowingDigests | None = None,
    checkpoint: bool = False,
) -> SnapshotResult:
    """Write a consistent, self-contained copy of the live database `src` to `dest` (fast path).

    `sync=False` leaves the fsync of `dest` to the caller (who runs it beside the copy's check
    and must finish it before the copy is used). While another connection holds a write transaction
    the copy waits (at most LOCK_WAIT_SECONDS, then sqlite3.OperationalError "database is locked");
    `wait` learns that it waits and for how long. The result's `seconds` do not include the wait.

    `digests`: hashes `dest` as it is written, when the copied bytes are final as soon as they are
    copied: the live file's -wal is empty (or absent) under the write lock, so nothing is folded into
    the copy afterwards, and the header's journal mode is switched in place (WAL's 2, 2 to rollback's
    1, 1) before the first chunk is handed over, instead of by SQLite after the copy (which would also
    bump the change counter: the only other bytes it changes). Each copied chunk is then handed to
    `digests.ready()` while the kernel copies the next (an `idle` FollowingDigests takes only CPU time the
    copy leaves: it holds the write lock), then digests.foreground(), and the result's `hashed` is True. Otherwise
    (a -wal with pages, another header, no os.pwrite: Windows) `digests` is abandoned before the copy.

    `checkpoint` (with `digests`): when the live -wal has pages (another connection, such as the app's window,
    wrote since the last checkpoint and is still open), first fold them into the live file and empty the -wal
    (`PRAGMA wal_checkpoint(TRUNCATE)`, SQLite's own crash-safe operation: the database's content is unchanged,
    only where its pages are kept), so that the copy is final as copied and hashed while copied. It waits at
    most CHECKPOINT_WAIT_SECONDS for another connection's write or read; when it cannot finish, or fails, the
    copy goes on as without it (the -wal copied and folded in afterwards).
    """
    t0 = time.perf_counter()
    dest_wal = side_file(dest, WAL)
    conn = sqlite3.connect(src, timeout=30, isolation_level=None, check_same_thread=False)
    waited = LockWait() if wait is None else wait
    try:
        if checkpoint and digests is not None:
            _checkpoint(conn, side_file(src, WAL))
        conn.execute("PRAGMA busy_timeout=30000")
        page = _page_size(conn)
        _begin_immediate(conn, waited)
        try:
            # Read the schema so the read snapshot (and SHARED lock) is really taken.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            fd, must_close = database_fd(src)
            try:
                main_len = os.fstat(fd).st_size
                wal_path = side_file(src, WAL)
                wal_len = wal_path.stat().st_size if wal_path.exists() else 0
                total = max(1, (main_len + wal_len) // page)
                mode = _journal_mode_bytes(fd) if digests is not None and wal_len == 0 else None
                hashed = mode in (_WAL_MODE, _ROLLBACK_MODE)
                if digests is not None and not hashed:
                    digests.abandon()
                switch = mode == _WAL_MODE
                with open(dest, "wb") as out:

                    def report(done: int) -> None:
                        nonlocal switch
                        if hashed and digests is not None:
                            out.flush()  # the buffered fallback's bytes: in the file before they are read back
                            if switch and done >= _MODE_OFFSET + len(_ROLLBACK_MODE):  # before any byte is hashed
                                os.pwrite(out.fileno(), _ROLLBACK_MODE, _MODE_OFFSET)
                                switch = False
                            if not switch:
                                digests.ready(done)
                        if progress:
                            progress(done // page, total)

                    piece = _hashed_chunk(main_len) if hashed else CHUNK
                    copy_range(fd, 0, out, main_len, report, piece)  # fsynced after the lock is released
                if hashed and switch and digests is not None:  # never switched (under 20 bytes): SQLite will
                    hashed = False
                    digests.abandon()
                if wal_len:
                    wfd = os.open(wal_path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    try:  # SQLite takes no locks on the -wal file: closing it is harmless
                        with open(dest_wal, "wb") as out:
                            copy_range(
                                wfd,
                                0,
                                out,
                                wal_len,
                                (lambda done: progress((main_len + done) // page, total)) if progress else None,
                            )
                    finally:
                        os.close(wfd)
            finally:
                if must_close:
                    os.close(fd)
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    if hashed and digests is not None:
        digests.foreground()  # the lock is released: the rest of the hashing at normal priority
    if hashed:  # nothing to fold in, the header switched already: opening it with SQLite would change it
        if sync:
            fsync_file(dest)
    else:
        _make_self_contained(dest, sync)
    if progress:
        progress(total, total)
    return SnapshotResult("file-copy", time.perf_counter() - t0 - waited.seconds, total, hashed=hashed)


def _checkpoint(conn: sqlite3.Connection, wal_path: Path) -> bool:
    """Empty the live -wal at `wal_path` into its database (`conn`'s) with `PRAGMA wal_checkpoint(TRUNCATE)` when
    it has pages; whether it is empty now. Waits at most CHECKPOINT_WAIT_SECONDS for other connections (then
    SQLite checkpoints what it can without waiting and leaves the -wal as it is). Never raises: a checkpoint
    that fails (busy, a read-only file) only means the copy folds the -wal in afterwards."""
    try:
        if os.stat(wal_path).st_size == 0:
            return True
    except OSError:
        return True  # no -wal: nothing to fold in
    try:
        conn.execute(f"PRAGMA busy_timeout={int(CHECKPOINT_WAIT_SECONDS * 1000)}")
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0
    except sqlite3.Error:
        return False


def _hashed_chunk(size: int) -> int:
    """The copy's chunk (bytes) when it is hashed as it is copied: an eighth of the file in whole MiB, from
    1 to 16 MiB (CHUNK). The hashing trails the copy by one chunk, so a small file needs small chunks too: in
    one 16 MiB chunk a 10 MB file would leave the hashing nothing to overlap."""
    return min(CHUNK, max(1 << 20, size // 8 >> 20 << 20))


def _journal_mode_bytes(fd: int) -> bytes | None:
    """Header bytes 18-19 of the database open at `fd` (see _WAL_MODE), or None where the copy cannot switch
    them in place (no os.pread/os.pwrite: Windows)."""
    if not (hasattr(os, "pread") and hasattr(os, "pwrite")):
        return None
    return os.pread(fd, 2, _MODE_OFFSET)


def _make_self_contained(dest: Path, sync: bool = True) -> None:
    """Fold the copied -wal into `dest` and switch it to rollback-journal mode, then (with `sync`) fsync."""
    conn = sqlite3.connect(dest, isolation_level=None)
    try:
        # SQLite's own fsyncs here would flush the whole new copy to disk before the check could start;
        # the copy is a temp file that is discarded unless it is fsynced, checked and then published.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=DELETE")  # checkpoints the -wal and removes it
    finally:
        conn.close()
    for suffix in SIDE_SUFFIXES:
        remove_quietly(side_file(dest, suffix))
    if sync:
        fsync_file(dest)


def backup_api_snapshot(src: Path, dest: Path, progress: PageProgress | None = None) -> SnapshotResult:
    """Write a consistent copy with SQLite's online backup API (the fallback path).

    A read transaction is held on the source for the whole copy, so the copy
    works from one pinned snapshot and never restarts under a busy writer.
    """
    t0 = time.perf_counter()
    source = sqlite3.connect(src, timeout=30, isolation_level=None, check_same_thread=False)
    target = sqlite3.connect(dest, isolation_level=None)
    pages_total = 0
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()

        def step(status, remaining, total):
            nonlocal pages_total
            pages_total = total
            if progress:
                progress(total - remaining, total)

        source.backup(target, pages=_BACKUP_API_STEP, progress=step)
        source.execute("COMMIT")
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    fsync_file(dest)
    return SnapshotResult("backup-api", time.perf_counter() - t0, pages_total)
