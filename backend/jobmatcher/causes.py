"""Naming the real cause of a failure that came from below us: the disk, SQLite, the operating system.

Any `OSError`, `sqlite3.Error` (also wrapped by SQLAlchemy, as Alembic raises
it), `RecursionError` or `MemoryError` that reaches the user goes through
`explain`, which maps its cause to an error from errors.py with a message that
says what failed and a hint that says what to do:

| cause                                             | error                     | code        |
|---------------------------------------------------|---------------------------|-------------|
| SQLITE_FULL, ENOSPC, EDQUOT                       | InsufficientSpaceError    | no-space    |
| SQLITE_READONLY, SQLITE_PERM, EROFS, EACCES, EPERM| ReadOnlyError             | read-only   |
| SQLITE_BUSY, SQLITE_LOCKED                        | DatabaseBusyError         | busy        |
| SQLITE_CORRUPT, SQLITE_NOTADB                     | DatabaseDamagedError      | damaged     |
| SQLITE_CANTOPEN, ENOENT, ENOTDIR                  | JobMatcherError           | cannot-open |
| SQLITE_IOERR, EIO and other OS errors             | DiskError                 | disk-error  |
| RecursionError                                    | ValidationError           | invalid-input |
| MemoryError, SQLITE_NOMEM                         | JobMatcherError           | no-memory   |

Wording stays plain here; the page and the command line show message + hint.
"""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from pathlib import Path

from .errors import (
    DatabaseBusyError,
    DatabaseDamagedError,
    DiskError,
    InsufficientSpaceError,
    JobMatcherError,
    ReadOnlyError,
    ValidationError,
)
from .fsutil import NotOwnFileError, not_own_file_error  # fsutil imports this module lazily: no cycle

_AS_BEFORE = "Your data is as it was before."
_NEARLY_FULL = 1 << 20  # bytes free under which an I/O error is taken to be a full disk

# SQLite's primary result codes (extended codes carry them in the low byte).
_FULL, _READONLY, _PERM = sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM
_BUSY, _LOCKED = sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED
_CORRUPT, _NOTADB = sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB
_CANTOPEN, _IOERR, _NOMEM = sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOMEM

# The messages SQLite gives when an error carries no code (older Pythons, or an error re-raised as text).
_SQLITE_TEXT = (
    ("database or disk is full", _FULL),
    ("readonly database", _READONLY),
    ("database is locked", _BUSY),
    ("database table is locked", _LOCKED),
    ("disk i/o error", _IOERR),
    ("malformed", _CORRUPT),
    ("file is not a database", _NOTADB),
    ("unable to open database file", _CANTOPEN),
)


def _unwrap(e: BaseException) -> BaseException:
    """The DBAPI error inside a SQLAlchemy error (Alembic runs migrations through SQLAlchemy)."""
    orig = getattr(e, "orig", None)
    if isinstance(orig, BaseException) and type(e).__module__.startswith("sqlalchemy"):
        return orig
    return e


def sqlite_cause(e: BaseException) -> int | None:
    """SQLite's primary result code of `e` (a sqlite3.Error, possibly wrapped by SQLAlchemy), or None."""
    e = _unwrap(e)
    if not isinstance(e, sqlite3.Error):
        return None
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(e).lower()
    for needle, primary in _SQLITE_TEXT:
        if needle in text:
            return primary
    return None


def explain(e: BaseException, action: str, path: Path | str | None = None) -> JobMatcherError | None:
    """The error to show for `e`, raised while `action` ("saving your profile") on `path`; None if not ours to name.

    JobMatcherErrors are returned as they are. Anything else that is not a
    disk, SQLite, operating-system, nesting or memory failure gives None: a bug,
    which the caller reports as one.
    """
    if isinstance(e, JobMatcherError):
        return e
    where = f" ({path})" if path else ""
    e = _unwrap(e)
    if isinstance(e, RecursionError):
        # The page's request body is refused as "nested too deeply" where it is parsed (server.py); a
        # RecursionError reaching here came from something else JobMatcher read: say so, not the page's words.
        return ValidationError(
            f"Could not finish {action}: something it read was nested too deeply to follow.",
            "Check what the command was given (a file, an address, a setting), then try again. " + _AS_BEFORE,
        )
    if isinstance(e, MemoryError):
        return JobMatcherError(
            f"Could not finish {action}: the computer ran out of memory.",
            "Close other programs, then try again. " + _AS_BEFORE,
            code="no-memory",
        )
    if isinstance(e, sqlite3.Error):
        return _sqlite(e, action, path, where)
    if isinstance(e, OSError):
        return _os(e, action, path, where)
    return None


def _nearly_full(path) -> bool:
    """True when the disk holding `path` has (almost) no space left: SQLite reports some writes that failed
    for lack of space (growing its -shm index, opening a new -wal) as I/O errors, not as a full disk."""
    p = Path(path)
    for folder in (p, *p.parents):
        try:
            return shutil.disk_usage(folder).free < _NEARLY_FULL
        except OSError:
            continue
    return False


def _sqlite(e: sqlite3.Error, action: str, path, where: str) -> JobMatcherError | None:
    code = sqlite_cause(e)
    if code in (_IOERR, _CANTOPEN) and path and _nearly_full(path):
        code = _FULL
    if code == _FULL:
        return InsufficientSpaceError(
            f"Could not finish {action}: the disk is full{where}.",
            "Free up space on that disk, then try again. " + _AS_BEFORE,
        )
    if code in (_READONLY, _PERM):
        return ReadOnlyError(
            f"Could not finish {action}: the database file is read-only, or on a disk mounted read-only{where}.",
            "Make the file and its folder writable for your user (or mount the disk read-write), then try "
            "again. " + _AS_BEFORE,
        )
    if code in (_BUSY, _LOCKED):
        return DatabaseBusyError(
            f"Could not finish {action}: another program is writing to the database and holds its lock{where}.",
            "Close other programs that have the database open (a database browser, a JobMatcher command "
            "in another terminal), then try again. " + _AS_BEFORE,
        )
    if code in (_CORRUPT, _NOTADB):
        return DatabaseDamagedError(
            f"Could not finish {action}: the database file is damaged ({e}){where}.",
            "Restore your newest verified backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.",
            "Restore your newest backup that passed its check (Restore… beside it in Backup & Restore).",
        )
    if code == _CANTOPEN:
        return JobMatcherError(
            f"Could not finish {action}: the database file cannot be opened{where}.",
            "Check that the data folder exists and your user can write to it, then try again.",
            code="cannot-open",
        )
    if code == _NOMEM:
        return explain(MemoryError(), action)
    if code == _IOERR:
        return DiskError(
            f"Could not finish {action}: the disk reported a read or write error{where}.",
            "Check the disk (is it still connected? does it report errors?), then try again. " + _AS_BEFORE,
        )
    if isinstance(e, sqlite3.OperationalError):
        return DiskError(
            f"Could not finish {action}: SQLite refused it ({e}){where}.",
            "Try again; if it keeps happening, check the disk and the log file.",
        )
    return None


# fsutil.atomic_write_bytes's temp file (.NAME.PID-THREAD-N.tmp; .NAME.PID.tmp of older versions): name the real one.
# B7: the thread and counter parts were not matched, so a refusal named JobMatcher's temp file instead of NAME.
_ATOMIC_TEMP = re.compile(r"^\.(.+?)\.[0-9]+(?:-[0-9]+-[0-9]+)?\.tmp\Z")


def _os(e: OSError, action: str, path, where: str) -> JobMatcherError:
    name = e.filename or path
    if name and (m := _ATOMIC_TEMP.match(Path(name).name)):
        name = Path(name).with_name(m.group(1))
    if isinstance(e, NotOwnFileError):
        return not_own_file_error(e, action, name)
    where = f" ({name})" if name else where
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        what = "your disk quota is used up" if e.errno != errno.ENOSPC else "the disk is full"
        return InsufficientSpaceError(
            f"Could not finish {action}: {what}{where}.", "Free up space on that disk, then try again. " + _AS_BEFORE
        )
    if e.errno == errno.EROFS:
        return ReadOnlyError(
            f"Could not finish {action}: the disk is mounted read-only{where}.",
            "Mount it read-write, or choose a folder on another disk. " + _AS_BEFORE,
        )
    if e.errno in (errno.EACCES, errno.EPERM):
        return ReadOnlyError(
            f"Could not finish {action}: permission denied{where}.",
            "Make the folder writable for your user, or choose another one. " + _AS_BEFORE,
        )
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return JobMatcherError(
            f"Could not finish {action}: a file or folder it needs is missing{where}.",
            "Check that the folder still exists (is the disk connected?), then try again.",
            code="cannot-open",
        )
    if e.errno == errno.EISDIR and name:
        # B7: a folder made (by hand, by a sync tool) at the name of a file JobMatcher writes: replacing it with
        # the file fails for good, whatever the disk
        return JobMatcherError(
            f"Could not finish {action}: a folder is at the name of a file JobMatcher writes there{where}.",
            "Move or remove that folder (JobMatcher never deletes a folder it did not make), then try again. "
            + _AS_BEFORE,
            code="folder-at-file-name",
        )
    if e.errno == errno.ENAMETOOLONG:
        return ValidationError(
            f"Could not finish {action}: a file or folder name is too long{where}.", "Choose a shorter path."
        )
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return DiskError(
            f"Could not finish {action}: too many files are open on this computer.",
            "Close some programs, then try again. " + _AS_BEFORE,
        )
    return DiskError(
        f"Could not finish {action}: {e.strerror or e}{where}.",
        "Check the disk (is it still connected? does it report errors?), then try again. " + _AS_BEFORE,
    )
