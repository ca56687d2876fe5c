"""OS file locks that die with their process.

A killed JobMatcher never leaves a stale lock behind: the kernel drops flock
(POSIX) and LockFileEx-style byte locks (Windows, via msvcrt) when the process
ends. Written here rather than taken from `filelock` because we need shared
locks and the holder's pid for the message, which it does not offer.

One catch: a flock belongs to the open file, which a forked child shares. A
forked copy that outlives a killed parent (checkproc's integrity check) would
keep the parent's locks, and the data folder would be "already running" for as
long as it runs. Every held lock's descriptor is therefore listed here, and a
forked child closes them first (close_inherited_locks).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from .errors import InstanceLockedError

_PID = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() and int() also take '٣' or '３' (T15)

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


def _open_lock_file(path: Path) -> int:
    """A descriptor of the lock file `path`, made if missing (0600). Raises fsutil.NotOwnFileError when something
    other than a regular file is at its name (C12: a pipe there was "Illegal seek", a folder "Is a directory";
    never waited on: O_NONBLOCK; D11: a link is never followed), OSError as opening does."""
    import errno
    import stat

    from .fsutil import NotOwnFileError

    refused = NotOwnFileError(
        errno.EINVAL, "not a regular file (a link, a pipe, a device or a folder is never used)", str(path)
    )
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        # O_NOFOLLOW (D11): the holder's pid and activity are written into the lock file; through a link at its
        # name they overwrote whatever file it points to
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except IsADirectoryError:
        raise refused from None
    except OSError as e:
        if e.errno == errno.ELOOP or os.path.islink(path):
            raise refused from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise refused
    return fd


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is still the file at `path` (POSIX; always True elsewhere, where an open
    file cannot be deleted)."""
    if os.name != "posix":
        return True
    try:
        here, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


# The descriptors of the locks this process holds (FileLock.acquire adds, release removes).
_HELD_FDS: set[int] = set()


def close_inherited_locks() -> None:
    """In a forked child: close its copies of the parent's lock descriptors, so the locks stay the parent's
    only and end with it (a flock is shared by every copy of its descriptor). Never raises."""
    for fd in list(_HELD_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_FDS.clear()


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
        fd = _open_lock_file(self.path)
        deadline = time.monotonic() + timeout
        while True:
            if _lock(fd, self.shared, blocking=False):
                if not _same_file(fd, self.path):
                    # its holder removed the file while we waited (a refused command taking the folder it made
                    # away, V3): a lock on a deleted file locks nothing, so take the file now at the path
                    _unlock(fd)
                    os.close(fd)
                    fd = _open_lock_file(self.path)
                    continue
                self._fd = fd
                _HELD_FDS.add(fd)
                return True
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(0.05)

    def release(self) -> None:
        if self._fd is None:
            return
        _HELD_FDS.discard(self._fd)
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

    def write_owner(self, activity: str = "") -> None:
        """Record our pid (and, for a command, what it is doing, in the user's words) in the lock file so a
        refused process can name the owner: "PID\nACTIVITY\n"."""
        assert self._fd is not None
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n{activity}\n".encode())

    def __enter__(self) -> "FileLock":
        if not self.acquire():
            raise RuntimeError(f"lock {self.path} is held")
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class InstanceLock(FileLock):
    """The data folder's owner: the app, a restore or a migration. One at a time."""

    def take(self, activity: str = "") -> "InstanceLock":
        """Take the lock or raise InstanceLockedError naming the process that has it and what it is doing.

        `activity`: what a command holds the folder for, in the user's words ("restoring a backup"); empty
        for the app. A holder recorded as ended (the lock outlived it for a moment) is waited for, up to
        GONE_WAIT_SECONDS, rather than called running."""
        if not self.acquire():
            pid, doing = self._owner()
            if pid is not None and _gone(pid) and self.acquire(timeout=GONE_WAIT_SECONDS):
                self.write_owner(activity)
                return self
            raise _locked(pid, doing)
        self.write_owner(activity)
        return self

    def _owner(self) -> tuple[int | None, str]:
        """(pid, activity) recorded by the holder; (None, "") when it cannot be read."""
        # The owner writes its pid just after taking the lock: started at the same instant, we may read
        # the file before that (empty, or still naming the previous owner, perhaps us): look again.
        for _ in range(50):  # up to half a second, for a heavily loaded machine
            try:
                lines = self.path.read_text().splitlines()
            except (OSError, UnicodeDecodeError):
                break
            if lines and _PID.fullmatch(lines[0].strip()) and int(lines[0]) != os.getpid():
                return int(lines[0]), (lines[1].strip() if len(lines) > 1 else "")[:200]
            time.sleep(0.01)
        return None, ""


# How long a refused taker waits when the recorded holder has ended (its lock is about to go, or a process it
# left behind still has it).
GONE_WAIT_SECONDS = 5.0


def _gone(pid: int) -> bool:
    from .fsutil import process_gone  # psutil: imported only when a lock is refused

    return process_gone(pid)


def _locked(pid: int | None, doing: str) -> InstanceLockedError:
    """The refusal, true to who holds the folder: the app, a command (and what it does), or what an ended
    process left behind."""
    if pid is not None and doing:
        return InstanceLockedError(
            f"Another JobMatcher command is working with this data folder right now ({doing}, process {pid}).",
            "Wait for it to finish, then try again.",
        )
    if pid is not None and _gone(pid):
        return InstanceLockedError(
            f"This data folder is still held by what JobMatcher process {pid} left running when it ended.",
            "Wait a minute and try again; it lets go when it finishes.",
        )
    owner = f" (process {pid})" if pid is not None else ""
    return InstanceLockedError(
        f"JobMatcher is already running with this data folder{owner}.",
        "Close the other JobMatcher window first, then try again.",
    )
