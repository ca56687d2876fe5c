"""OS file locks that die with their process.

A killed JobMatcher never leaves a stale lock behind: the kernel drops flock
(POSIX) and LockFileEx-style byte locks (Windows, via msvcrt) when the process
ends. Written here rather than taken from `filelock` because we need shared
locks and the holder's pid for the message, which it does not offer.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .errors import InstanceLockedError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int, shared: bool, blocking: bool) -> bool:
        # msvcrt has no shared locks; a shared request takes the lock exclusively.
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int, shared: bool, blocking: bool) -> bool:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FileLock:
    """A lock on one file; `acquire` returns False when someone else holds it."""

    def __init__(self, path: Path, shared: bool = False) -> None:
        self.path = Path(path)
        self.shared = shared
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock, waiting up to `timeout` seconds; True when held."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        deadline = time.monotonic() + timeout
        while True:
            if _lock(fd, self.shared, blocking=False):
                self._fd = fd
                return True
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(0.05)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def is_still_at_path(self) -> bool:
        """True when the held lock's file is the one at its path (not deleted or replaced since it was opened)."""
        if self._fd is None:
            return False
        try:
            here, held = os.stat(self.path), os.fstat(self._fd)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)

    def __del__(self) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def write_owner(self) -> None:
        """Record our pid in the lock file so a refused process can name the owner."""
        assert self._fd is not None
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def __enter__(self) -> "FileLock":
        if not self.acquire():
            raise RuntimeError(f"lock {self.path} is held")
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class InstanceLock(FileLock):
    """The data folder's owner: the app, a restore or a migration. One at a time."""

    def take(self) -> "InstanceLock":
        """Take the lock or raise InstanceLockedError naming the process that has it."""
        if not self.acquire():
            owner = ""
            # The owner writes its pid just after taking the lock: started at the same instant, we may read
            # the file before that (empty, or still naming the previous owner, perhaps us): look again.
            for _ in range(50):  # up to half a second, for a heavily loaded machine
                try:
                    pid = self.path.read_text().strip()
                except OSError:
                    break
                if pid.isdigit() and int(pid) != os.getpid():
                    owner = f" (process {pid})"
                    break
                time.sleep(0.01)
            raise InstanceLockedError(
                f"JobMatcher is already running with this data folder{owner}.",
                "Close the other JobMatcher window first, then try again.",
            )
        self.write_owner()
        return self
