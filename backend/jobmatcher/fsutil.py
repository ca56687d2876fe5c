"""Small file-system primitives that the safety guarantees rest on.

Everything that publishes a file does it the same way: write a temporary file
in the destination folder, fsync it, rename it into place, fsync the folder.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import shutil
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import DiskError, InsufficientSpaceError, JobMatcherError, ReadOnlyError, SettingsError

CHUNK = 16 * 1024 * 1024  # copy granularity: small enough for smooth progress


# SQLite's files beside a database: the write-ahead log, its shared-memory index, and the
# rollback journal. Named once here; build their paths with side_file().
WAL, SHM, JOURNAL = "-wal", "-shm", "-journal"
SIDE_SUFFIXES = (WAL, SHM, JOURNAL)
# A -wal or -shm beside a database means a program has it open (or had it, in WAL mode): a live database.
OPEN_SUFFIXES = (WAL, SHM)


def side_file(path: Path, suffix: str) -> Path:
    """The file SQLite keeps beside database `path`: suffix is WAL, SHM or JOURNAL."""
    return Path(str(path) + suffix)


def fsync_file(path: Path) -> None:
    """Flush a file's data to stable storage."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames and deletions inside `path` durable (a no-op on Windows)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = 0o777) -> list[Path]:
    """Create the folder `path` and any missing parents so that they survive a power cut; the folders this
    call's own mkdir created, outermost first (one another process created meanwhile is not among them:
    only these are "ours" to remove again, finding V3).

    A new folder is an entry in its parent: like a renamed file, it is only
    durable once the parent is fsynced, so each parent of a folder made here
    is fsynced (mkdir -p alone can lose the folder, and all written inside it,
    on a power cut). Raises OSError as os.mkdir does.
    """
    path = Path(path)
    made: list[Path] = []
    missing = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
            made.append(d)
        except FileExistsError:
            if not d.is_dir():
                raise
        fsync_dir(d.parent)
    return made


# Job-search data is personal and machines are shared: every file JobMatcher writes is readable by its user
# only, and its folders are closed to others (POSIX modes; Windows keeps the folder's inherited ACL).
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_opener(path: str, flags: int) -> int:
    """`open(path, mode, opener=private_opener)`: a new file is created 0600, whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE)


def make_private(path: Path) -> None:
    """Take group and other users' access away from a file or folder of ours; one we do not own is left alone, and
    so is anything but a regular file or a folder (D4: a pipe or device a user put at one of our names is theirs,
    and a refusal that says "nothing was changed" must not change its mode). Never raises."""
    if os.name != "posix":
        return
    try:
        st = os.lstat(path)
        if st.st_uid != os.geteuid() or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return
        if stat.S_IMODE(st.st_mode) & 0o077:
            # the owner's own bits stay as they are, and so do sticky/setgid bits (never ours to drop)
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError:
        pass  # a read-only disk, a file that is gone: privacy is tightened where it can be


_temp_counter = itertools.count(1)


def atomic_temp_name(path: Path) -> Path:
    """A temp name beside `path` that no other writer uses: `.NAME.PID-THREAD-N.tmp`.

    Unique per process (pid), thread (native thread id) and call (a counter), so two threads
    writing the same file at once never share, truncate or rename each other's temp file.
    """
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_native_id()}-{next(_temp_counter)}.tmp")


def atomic_write_bytes(path: Path, data: bytes, mode: int = PRIVATE_FILE, rename_durable: bool = True) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix.

    The new file gets `mode` (0600: what JobMatcher writes is personal). Its data is fsynced before the
    rename, so after a power cut the name holds the old file or the new one, each whole. The rename itself
    is made durable (the folder fsynced) unless `rename_durable` is False: for a rewrite where the old file
    is as good an answer as the new one (a manifest whose check only refreshed its time), the new one may
    then be lost to a power cut, never damaged. Only a regular file at `path` (or none) is replaced: a link, a
    folder, a pipe or a device there is the user's, refused with NotOwnFileError (refuse_replacing) and left as
    it is (D13, D14). Raises OSError as the file system reports it; the temp file is gone then.
    """
    refuse_replacing(path)
    tmp = atomic_temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        refuse_replacing(path)  # again just before the rename: one put there meanwhile is not replaced either
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    if rename_durable:
        fsync_dir(path.parent)


# What atomic_write_bytes leaves if killed: .NAME.PID-THREAD-N.tmp (and .NAME.PID.tmp from older versions).
_ATOMIC_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)(?:-[0-9]+-[0-9]+)?\.tmp\Z")
_STALE_TEMP_SECONDS = 3600


def process_gone(pid: int) -> bool:
    """True when process `pid` has exited; a zombie waiting to be reaped counts as gone (it holds no files,
    locks or ports). An existing process we may not inspect counts as alive. psutil does this on every OS."""
    import psutil  # imported here: most commands never need it

    if pid <= 0:
        return True
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # AccessDenied and the like: it is there
        return False


def remove_dead_temp_files(folder: Path, ours: Callable[[str], bool]) -> list[str]:
    """Delete the temp files of atomic writes whose process is gone (or that are over an hour old).

    Only temp files of files JobMatcher writes are touched: `ours(NAME)` must be True for the
    NAME in `.NAME.PID-THREAD-N.tmp`; another program's `.report.docx.99999.tmp` stays. Returns
    the names removed.
    """
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _ATOMIC_TEMP.match(name)
        if not m or not ours(m.group("name")):
            continue
        p = Path(folder) / name
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if time.time() - st.st_mtime > _STALE_TEMP_SECONDS or process_gone(int(m.group("pid"))):
            remove_quietly(p)
            removed.append(name)
    return removed


def user_path(text: str | os.PathLike, what: str) -> Path:
    """A folder the user typed (a setting, --data-dir, an environment variable) as a Path, `~` expanded.

    SettingsError, naming `what` ("The backup folder"), for what no folder can be
    called: a NUL character, or `~name` for a user this computer does not have.
    """
    text = os.fspath(text)
    if "\x00" in text:
        raise SettingsError(
            f"{what} contains a NUL character, which no folder name can have.",
            "Type the folder's full path again, without it.",
        )
    try:
        return Path(text).expanduser()
    except (RuntimeError, KeyError):  # "~nobody/…": no such user; "~" with no home directory known
        user = text[1:].replace("\\", "/").split("/", 1)[0]
        cause = f"there is no user {user!r} on this computer" if user else "your home folder is not known ($HOME)"
        raise SettingsError(
            f"{what} {text!r} starts with ~{user}, but {cause}.", "Type the full path (starting with /)."
        ) from None


def is_utf8(text: str) -> bool:
    """False for text holding bytes that are not UTF-8: Python hands such file names and command-line words over
    with each byte as a lone surrogate (surrogateescape), which no JSON file or page answer can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_bytes(text: str) -> str:
    """`text` for a message, its bytes that are not UTF-8 written as \\xNN (a name in another encoding: b"caf\\xe9"
    shows as "caf\\xe9"). Never raises."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte stands for (from an escape in a file)
        return text.encode("utf-8", "backslashreplace").decode()
    return raw.decode("utf-8", "backslashreplace")


def require_utf8_path(path: str | os.PathLike, what: str) -> None:
    """SettingsError, naming `what` ("The backup folder"), when the path of a folder JobMatcher must keep in its
    settings (and open again later) is not valid UTF-8 text: a folder or drive named in an older encoding. It
    cannot be stored in settings.json / locations.json so that it comes back exactly, so it is refused up front."""
    text = os.fspath(path)
    if not is_utf8(text):
        raise SettingsError(
            f"{what} {shown_bytes(text)} has a name that is not valid UTF-8 text (a name in an older encoding, "
            "as some drives and archives carry), which JobMatcher cannot keep in its settings.",
            "Rename the folder (or mount the drive with UTF-8 names), or choose another folder.",
            code="path-not-utf8",
        )


def same_file(a: Path | str, b: Path | str) -> bool:
    """True when `a` and `b` are one file or folder (same st_dev and st_ino), whatever their paths say: a bind
    mount, a drive mounted twice, a hard link, a case-insensitive name. False when either cannot be stat'ed."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


SMALL_FILE_MAX = 16 * 1024 * 1024  # bytes; JobMatcher's own settings, records and journals are a few KB


class NotOwnFileError(OSError):
    """read_small_file's refusal of what is at the name of one of JobMatcher's own files: not a regular file (errno
    EINVAL: a pipe, a device or a folder) or far larger than any it writes (EFBIG). Its own class, so every edge
    words it as what it is (not_own_file_error), never as a disk to check (C4). `kind` (refuse_replacing's) names
    what is there when it is known: "a pipe", "a folder", ... (other_kind); None otherwise."""

    kind: str | None = None


def other_kind(mode: int) -> str | None:
    """What the file of st_mode `mode` is, in the user's words, when it is not a regular file: "a folder", "a
    link", "a pipe", "a device", "a socket"; None for a regular file. Never raises."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "something other than a file"


def odd_kind_at(path: Path) -> str | None:
    """What is at `path` when it is not a regular file, in the user's words (other_kind: "a link", "a pipe"...,
    the name itself looked at: lstat); None for a regular file, for nothing there, or for a name that cannot be
    looked at. Never raises."""
    try:
        return other_kind(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return None


def refuse_replacing(path: Path) -> None:
    """Before one of JobMatcher's own files is written at `path` by replacing what is there (a rename onto it, an
    open that truncates it): NotOwnFileError (EINVAL, its `kind` set) when what is there is not a regular file: a
    link, a folder, a pipe, a device or a socket the user put at the name is theirs, never replaced or deleted
    (D13, D14). Nothing there, or a name that cannot be looked at (the write then says why): nothing. lstat only."""
    kind = odd_kind_at(path)
    if kind is not None:
        e = NotOwnFileError(errno.EINVAL, f"{kind} is there, not a file JobMatcher wrote (never replaced)", str(path))
        e.kind = kind
        raise e


def not_own_file_error(e: OSError, action: str, name: object) -> JobMatcherError:
    """The error for NotOwnFileError `e` raised while `action` ("reading the settings") on the file `name`: what is
    there and what to do; the file is never deleted (JobMatcher deletes only what it made). Never raises."""
    what = "a folder, a pipe or a device" if e.errno == errno.EINVAL else "a file far larger than any JobMatcher writes"
    if e.errno == errno.EINVAL and "link" in (e.strerror or ""):  # a lock file, never followed (D11)
        what = "a link, a folder, a pipe or a device"
    kind = getattr(e, "kind", None)
    if kind:  # refuse_replacing looked, before a write: what is there, said as it is
        return JobMatcherError(
            f"Could not finish {action}: {kind} is at the name of a file JobMatcher writes there ({name}).",
            "Move it out of that folder (JobMatcher does not delete or replace what it did not make), then try "
            "again. Nothing was changed.",
            code="not-own-file",
            path=str(name),
        )
    return JobMatcherError(
        f"Could not finish {action}: {what} is at the name of a file JobMatcher keeps there ({name}).",
        "Move it out of that folder (JobMatcher does not delete what it did not make), then try again. Nothing was "
        "changed.",
        code="not-own-file",
        path=str(name),
    )


def read_small_file(path: Path, limit: int = SMALL_FILE_MAX) -> bytes:
    """The whole of one of JobMatcher's own small files (settings, records, journals, key files), read without
    ever waiting: a FIFO, a device or a folder at its name is refused, never opened for a read that blocks for
    ever (FINDINGS14 A6: a FIFO at settings.json hung every command). Links are followed, as a plain read does.

    Raises FileNotFoundError when there is none; NotOwnFileError (an OSError: EINVAL) when it is not a regular
    file, (EFBIG) when it is larger than `limit` bytes; OSError as reading reports it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotOwnFileError(
                errno.EINVAL, "not a regular file (a pipe, a device or a folder is never read)", str(path)
            )
        if st.st_size > limit:
            raise NotOwnFileError(errno.EFBIG, f"larger than {limit:,} bytes: not a file JobMatcher wrote", str(path))
        parts = []
        total = 0
        while True:
            chunk = os.read(fd, max(65536, st.st_size + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise NotOwnFileError(
                    errno.EFBIG, f"larger than {limit:,} bytes: not a file JobMatcher wrote", str(path)
                )
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> None:
    """Delete a file if it is there; never raise for a file that is already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def file_size(path: Path) -> int:
    """Size in bytes, 0 for a file that does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def human_size(n: float) -> str:
    """1536 -> '1.5 KB' (decimal units, as file managers show them); bytes in, text out.

    Never raises: a size no file can have (beyond a float, infinite, not a number, not numeric at all: a
    damaged manifest's, finding T2) is 'an unknown size' instead of taking a whole list down with it."""
    try:
        x = float(n)
    except (OverflowError, TypeError, ValueError):
        return "an unknown size"
    if x != x or x in (float("inf"), float("-inf")):
        return "an unknown size"
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(x) < 1000 or unit == "TB":
            return f"{int(x)} bytes" if unit == "bytes" else f"{x:.1f} {unit}"
        x /= 1000
    raise AssertionError("unreachable")


# Bytes promised to writes under way in this process, per device: each write checks free space minus these,
# so writes running at once cannot each pass their own check and together fill the disk.
_reserved: dict[int, int] = {}
_reserved_lock = threading.Lock()


def _device(folder: Path) -> int:
    return os.stat(folder).st_dev


def free_space(folder: Path) -> int:
    """Bytes free on `folder`'s disk, minus what writes under way in this process have reserved there."""
    free = shutil.disk_usage(folder).free
    with _reserved_lock:
        return free - _reserved.get(_device(folder), 0)


# What to do when a disk is too full, by whose disk it is: (the command line's words, the page's words).
# The space needed beside the live database cannot be found on another backup folder, and an export's
# or an upload's disk is not the backup folder's either: each place names its own way out.
SPACE_HINTS: dict[str, tuple[str, str]] = {
    "backup-folder": (
        "Free up space on that disk, or choose a backup folder on another disk: "
        "`jobmatcher settings --backup-dir FOLDER`.",
        "Free up space on that disk, or choose a backup folder on another disk (Backup settings → Backup folder).",
    ),
    "data-folder": (
        "Free up space on the disk that holds your JobMatcher data, then try again. Your data is as it was before.",
        "Free up space on the disk that holds your JobMatcher data, then try again. Your data is as it was before.",
    ),
    "export": (
        "Free up space there, or save the copy on another disk.",
        "Free up space there, or choose another place to save the copy.",
    ),
    "uploads": (
        "Free up space on the disk that holds your JobMatcher data, then try again.",
        "Free up space on the disk that holds your JobMatcher data, then try again.",
    ),
}


def space_error(folder: Path, needed: int, free: int, what: str, why: str, place: str, busy: bool = False):
    """The InsufficientSpaceError for `what` in `folder` on `place`'s disk (a SPACE_HINTS key); sizes in bytes."""
    hint, page_hint = SPACE_HINTS[place]
    return InsufficientSpaceError(
        f"Not enough free space in {folder} for {what}: "
        f"{human_size(needed)} needed{f' ({why})' if why else ''}, {human_size(max(free, 0))} free"
        + (" (counting other files being saved right now)." if busy else "."),
        hint,
        page_hint,
        path=str(folder),
        needed_bytes=needed,
        free_bytes=max(free, 0),
        place=place,
    )


def require_free_space(folder: Path, needed: int, what: str, why: str = "", place: str = "backup-folder") -> None:
    """Refuse (InsufficientSpaceError), before writing anything, when `folder` has less than `needed` bytes free
    (reservations counted). `what` is being written; `why` says how `needed` was reckoned ("twice the
    database", "the backup's size"), in the message only when given: never a reason that is not the one.
    `place` says whose disk it is (a SPACE_HINTS key), which decides what the hint tells the user to do."""
    free = free_space(folder)
    if free < needed:
        raise space_error(folder, needed, free, what, why, place)


class SpaceReservation:
    """Space promised to one write; `wrote(n)` as bytes land on disk (they then count as used, not reserved)."""

    def __init__(self, device: int, size: int) -> None:
        self.device = device
        self.outstanding = size

    def wrote(self, n: int) -> None:
        n = min(n, self.outstanding)
        with _reserved_lock:
            self.outstanding -= n
            _reserved[self.device] -= n

    def release(self) -> None:
        """End the reservation (the write finished or failed); calling it again does nothing."""
        self.wrote(self.outstanding)


def hold_free_space(
    folder: Path, needed: int, what: str, why: str = "", place: str = "backup-folder"
) -> SpaceReservation:
    """`require_free_space`, and keep `needed` bytes reserved until `.release()`: writes running at the
    same time (a scheduled and a manual backup, an upload) cannot each pass the check and together
    fill the disk."""
    dev = _device(folder)
    with _reserved_lock:
        free = shutil.disk_usage(folder).free - _reserved.get(dev, 0)
        if free < needed:
            raise space_error(folder, needed, free, what, why, place, busy=bool(_reserved.get(dev)))
        _reserved[dev] = _reserved.get(dev, 0) + needed
    return SpaceReservation(dev, needed)


@contextmanager
def reserve_space(
    folder: Path, size: int, keep_free: int, what: str, place: str = "uploads"
) -> Iterator[SpaceReservation]:
    """Reserve `size` bytes on `folder`'s disk for one write, leaving `keep_free` bytes for everything else.

    Checked and reserved under one lock, so concurrent writes cannot each see the
    same free space. Raises InsufficientSpaceError (nothing reserved) when the disk
    cannot hold it; the reservation ends when the block does.
    """
    dev = _device(folder)
    with _reserved_lock:
        free = shutil.disk_usage(folder).free - _reserved.get(dev, 0)
        if free < size + keep_free:
            raise InsufficientSpaceError(
                f"The disk is too full for {what}: {human_size(size)} plus {human_size(keep_free)} kept free "
                f"for your data are needed, {human_size(max(free, 0))} is free"
                + (" (counting other files being saved right now)." if _reserved.get(dev) else "."),
                *SPACE_HINTS[place],
                path=str(folder),
                needed_bytes=size + keep_free,
                free_bytes=max(free, 0),
                place=place,
            )
        _reserved[dev] = _reserved.get(dev, 0) + size
    r = SpaceReservation(dev, size)
    try:
        yield r
    finally:
        with _reserved_lock:
            _reserved[dev] -= r.outstanding
            r.outstanding = 0


def copy_range(
    sfd: int,
    src_offset: int,
    dst,
    length: int,
    progress: Callable[[int], None] | None = None,
    chunk: int | None = None,
    src_name: str | os.PathLike | None = None,
) -> int:
    """Copy `length` bytes from fd `sfd` at `src_offset` to the open file `dst` at its position.

    Reads at explicit offsets, so `sfd` can be shared. Uses the kernel's
    copy_file_range where it exists (no data passes through Python), plain
    reads and writes elsewhere. Returns the bytes copied (fewer if the source
    is shorter); `progress` gets the running total after each chunk of at most
    `chunk` bytes (default CHUNK).

    An error of the kernel's copy does not say which side failed (an I/O error may be the source's drive,
    unplugged or failing, or the destination's): that chunk is copied again by a read and a write, so a read
    error is raised by the read, with `src_name` as its filename (X7: the words then name the source's drive,
    not the destination's folder).
    """
    copied = 0
    fast = hasattr(os, "copy_file_range")
    dfd = dst.fileno()
    chunk = chunk or CHUNK
    while copied < length:
        want = min(chunk, length - copied)
        n = -1
        if fast:
            try:
                n = os.copy_file_range(sfd, dfd, want, src_offset + copied)
            except OSError:
                fast = False  # not supported here, or a real error: the read and write below say whose
        if n < 0:
            try:
                if hasattr(os, "pread"):
                    buf = os.pread(sfd, want, src_offset + copied)
                else:  # Windows: the fd is private to this call there
                    os.lseek(sfd, src_offset + copied, os.SEEK_SET)
                    buf = os.read(sfd, want)
            except OSError as e:
                if e.filename is None and src_name is not None:
                    e.filename = os.fspath(src_name)
                raise
            n = len(buf)
            dst.write(buf)
        if n == 0:
            break
        copied += n
        if progress:
            progress(copied)
    return copied


# Errors reading a file that say the disk it is on went away or fails: unplugged (ENOENT, ENODEV, ENXIO, ESTALE
# for a share, ENOTCONN for a FUSE or network mount whose server ended, ENOMEDIUM) or unreadable (EIO).
GONE_OR_FAILING = frozenset(
    getattr(errno, name)
    for name in ("EIO", "ENOENT", "ENODEV", "ENXIO", "ESTALE", "ENOTCONN", "ENOMEDIUM", "EHOSTDOWN", "ENOTDIR")
    if hasattr(errno, name)
)


def read_failed(e: BaseException, path: Path) -> bool:
    """Whether `e` is an error reading `path` itself (its filename) that says its drive went away or fails (X7):
    such an error is the source drive's, not the folder being written. Never raises."""
    try:
        return (
            isinstance(e, OSError)
            and e.filename is not None
            and e.errno in GONE_OR_FAILING
            and os.path.abspath(os.fsdecode(e.filename)) == os.path.abspath(path)
        )
    except (TypeError, ValueError):
        return False


def describe_os_error(e: OSError, action: str, path: Path) -> JobMatcherError:
    """Turn an OSError into a message that says what failed and what to do."""
    if isinstance(e, NotOwnFileError):
        return not_own_file_error(e, action, e.filename or path)
    if e.errno == errno.ENOSPC:
        return InsufficientSpaceError(
            f"The disk became full while {action} ({path}).",
            "Free up space on that disk and try again. Nothing was changed.",
            path=str(path),
        )
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ReadOnlyError(
            f"Permission denied while {action} ({path}).",
            "Check that the folder is writable by your user (and not on a read-only disk).",
            path=str(path),
        )
    return DiskError(
        f"Could not finish {action} ({path}): {e.strerror or e}.", "Check the disk and try again.", path=str(path)
    )


# SQLite's primary result codes that say the disk refused a write (extended codes carry them in the low byte).
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_FULL = 3, 8, 13


def describe_sqlite_error(e: Exception, action: str, path: Path) -> JobMatcherError:
    """Turn a sqlite3.Error raised while writing a file into a message that says what failed and what to do."""
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_FULL:
        return describe_os_error(OSError(errno.ENOSPC, str(e)), action, path)
    if primary in (_SQLITE_PERM, _SQLITE_READONLY):
        return describe_os_error(OSError(errno.EROFS, str(e)), action, path)
    from .causes import explain  # another program's lock, an I/O error, damage: each named for what it is

    return explain(e, action, path) or DiskError(
        f"Could not finish {action} ({path}): {e}.", "Check the disk and try again.", path=str(path)
    )


def data_folder_refused(root: Path, e: OSError | None = None) -> JobMatcherError:
    """The error for a data folder that refuses writes (a read-only disk, permissions) or otherwise fails."""
    if e is None or e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ReadOnlyError(
            f"The data folder {root} is read-only (or not writable by your user), and JobMatcher needs to write "
            "there to open your data safely. Nothing was changed.",
            "If it is on a disk mounted read-only, mount it read-write; or copy the folder somewhere writable "
            "and use that copy (--data-dir).",
            "If it is on a disk mounted read-only, mount it read-write, then open JobMatcher again.",
            path=str(root),
        )
    return describe_os_error(e, "opening the data folder", root)


# POSIX drops *all* of a process's fcntl locks on a file when *any* descriptor
# of it is closed, which would silently release the locks SQLite's own
# connections in this process hold (see "How To Corrupt An SQLite Database",
# section 2.2). So, like SQLite itself, we never close a descriptor of a
# database file while the process lives: one per file, reused.
_pinned_fds: dict[tuple[int, int], int] = {}
_pinned_lock = threading.Lock()


def database_fd(path: Path) -> tuple[int, bool]:
    """A read-only descriptor of the database file `path`, and whether the caller must close it (Windows only:
    elsewhere it is this process's one descriptor of that file, kept open). Raises OSError as opening does."""
    if os.name == "nt":  # Windows locks are per handle: closing is safe, keeping it would block renames
        return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)), True
    with _pinned_lock:
        st = os.stat(path)  # look before opening: a second descriptor could never be closed
        fd = _pinned_fds.get((st.st_dev, st.st_ino))
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
            st = os.fstat(fd)
            _pinned_fds.setdefault((st.st_dev, st.st_ino), fd)
        return fd, False


def read_database_bytes(path: Path, size: int, offset: int = 0) -> bytes:
    """Up to `size` bytes at `offset` of the database file `path`, never by closing a descriptor of it while this
    process has the file open otherwise: that close would drop the locks of every SQLite connection this process
    has on it (the app's writer: another program's connection could then take itself for the last one and delete
    the -wal and -shm the writer still uses). So the descriptor database_fd pinned is used when there is one, and
    a descriptor opened here is kept open (pinned) when another descriptor of the file is open in this process;
    otherwise it is closed (nothing holds a lock that could be lost, and a file on a removable disk is not held
    open for nothing). Raises OSError as opening or reading does."""
    if os.name == "nt":  # Windows locks are per handle: closing one is safe
        fd, _ = database_fd(path)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.read(fd, size)
        finally:
            os.close(fd)
    with _pinned_lock:
        st = os.stat(path)
        pinned = _pinned_fds.get((st.st_dev, st.st_ino))
    if pinned is not None:
        return os.pread(pinned, size, offset)
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        st = os.fstat(fd)
        if _open_elsewhere(fd, st):
            with _pinned_lock:
                _pinned_fds.setdefault((st.st_dev, st.st_ino), fd)  # never closed (another pinned one: left open)
        else:
            os.close(fd)


def _open_elsewhere(fd: int, st: os.stat_result) -> bool:
    """Whether this process has another descriptor than `fd` of the file `st` describes (SQLite's connections
    have theirs). True where the process's descriptors cannot be listed: then it is kept open, the safe side."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.isdigit() or int(name) == fd:
                continue
            try:
                other = os.fstat(int(name))
            except OSError:
                continue  # the listing's own descriptor, closed by now
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                return True
        return False
    return True


_CLOSING: list = []  # close_later's threads not yet joined


def close_later(fd: int) -> None:
    """Close the descriptor `fd` on a daemon thread of its own, for a close that waits in the kernel (an inotify
    instance's waits for an SRCU grace period: 7-15 ms measured, openwatch.py) while nothing needs it done now.
    finish_closes() waits for every one. Never raises."""
    import threading

    def close() -> None:
        try:
            os.close(fd)
        except OSError:
            pass

    t = threading.Thread(target=close, name="close-later", daemon=True)
    _CLOSING.append(t)
    t.start()


def finish_closes(timeout: float = 5.0) -> None:
    """Wait (at most `timeout` seconds in all) for the closes close_later started: before a process ends at once
    (entry._end_now), which it may do only with no other thread and no descriptor left. Never raises."""
    deadline = time.monotonic() + timeout
    while _CLOSING:
        _CLOSING.pop().join(max(0.0, deadline - time.monotonic()))
