"""Who else has the live database open during a restore's swap: a cheap answer for the common case.

Finding every other process with a file open means one stat per open descriptor on the machine
(/proc/*/fd: 20-30 ms for 1,500-2,000 descriptors here, more on a busy desktop), too slow to run at
every swap while its lock is held (issue 13: a restore within 1.5x a plain copy). So the scan runs
early, on another thread beside the staging copy, after an inotify watch for opens of the file is in
place (Linux): at the swap, no writer found by that scan and no open of the file since means nobody
else can have it open, and the full scan is skipped. The connection that will hold the file opens it
before the watch starts (inotify merges an open into an identical unread one, so a foreign open could
hide behind our own). Anything else (a writer found, any open, the watch unavailable or overflowed,
another platform) answers "maybe", and the caller runs the full scan.
"""

from __future__ import annotations

import ctypes
import logging
import os
import struct
import threading
from pathlib import Path

log = logging.getLogger(__name__)

IN_OPEN = 0x20
IN_Q_OVERFLOW = 0x4000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


def _libc():
    """The C library's inotify calls (Linux), or None. CDLL(None) is the process's own symbols, libc's among them:
    ctypes.util.find_library("c") runs `ldconfig -p` in a subprocess (2 ms and more, on the restore's clock)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 (present, or AttributeError)
        return libc
    except (OSError, AttributeError):
        return None


def openers_for_writing(st: os.stat_result, pid: str | None = None) -> list[int]:
    """Pids of processes (all but this one; or only `pid`, "self" allowed) with the file `st` (an os.stat
    result) open for writing, read from /proc/*/fd and /proc/*/fdinfo (Linux; empty elsewhere, and for
    processes of other users without privileges). Never raises."""
    me = os.getpid()
    try:
        pids = [pid] if pid else os.listdir("/proc")
    except OSError:
        return []
    found = []
    for p in pids:
        if not pid and (not p.isdigit() or int(p) == me):
            continue
        folder = f"/proc/{p}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:
            continue  # gone meanwhile, or another user's
        for fd in fds:
            try:
                at = os.stat(f"{folder}/{fd}")
            except OSError:
                continue
            if at.st_ino == st.st_ino and at.st_dev == st.st_dev and _writable(f"/proc/{p}/fdinfo/{fd}"):
                found.append(me if p == "self" else int(p))
                break
    return found


def _writable(fdinfo: str) -> bool:
    """Whether the descriptor /proc/PID/fdinfo/N names was opened for writing (True when that cannot be read).

    A read-only descriptor is left out: it cannot write the old file, and JobMatcher's own processes keep
    one of the live file open for reading its header without ever closing it (fsutil.database_fd)."""
    try:
        with open(fdinfo) as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except (OSError, ValueError, IndexError):
        pass
    return True


class OpenWatch:
    """Watches the live file from now until the swap; `clear()` says whether nobody else can have it open.

    Use: open the connection that will hold the file first, then `w = OpenWatch(live)` before staging;
    `w.clear()` after the rename, while the file is still held; `w.close()` always. Never raises.
    """

    def __init__(self, live: Path) -> None:
        self.fd = -1
        self.early: list[int] | None = None
        self.st: os.stat_result | None
        try:
            self.st = os.stat(live)
        except OSError:
            self.st = None
            return
        libc = _libc()
        if libc is not None:
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0:
                if libc.inotify_add_watch(fd, os.fsencode(live), IN_OPEN) >= 0:
                    self.fd = fd
                else:
                    os.close(fd)
        self._thread = threading.Thread(target=self._scan, name="openwatch", daemon=True)
        self._thread.start()

    def _scan(self) -> None:
        assert self.st is not None
        self.early = openers_for_writing(self.st)

    def _opens_seen(self) -> int | None:
        """IN_OPEN events read so far; None when the queue overflowed or cannot be read."""
        n = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return n
            except OSError:
                return None
            at = 0
            while at + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, at)
                if mask & IN_Q_OVERFLOW:
                    return None
                n += bool(mask & IN_OPEN)
                at += _EVENT.size + length

    def clear(self) -> bool:
        """True when nobody else can have the file open for writing: the early scan found no writer and
        nothing opened it since the watch began. False means "maybe"."""
        if self.st is None or self.fd < 0:
            return False
        self._thread.join()
        seen = self._opens_seen()
        return seen == 0 and not self.early

    def close(self) -> None:
        """Stop watching. Never raises, never waits: closing an inotify instance waits in the kernel for the
        end of an SRCU grace period (fsnotify's group teardown: 7-15 ms measured here, at every restore, while
        the restore's result waits), so the descriptor is closed on a daemon thread of its own. It is
        O_CLOEXEC: no child started meanwhile inherits it."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            from .fsutil import close_later

            close_later(fd)
