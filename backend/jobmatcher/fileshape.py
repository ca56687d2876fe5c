"""The first check of a backup file, before anything opens it as a database: is it a complete SQLite file
(check_file_shape), and starting its integrity check right after (start_check), so that the check runs in its
child while the caller reads the manifest and loads the rest of the verification (verify.py).

Kept apart from verify.py so that starting a check needs nothing more than this module: `backup verify`'s
check starts in its spare child before verify.py is even loaded (issue 13: at 10 MB every millisecond before
the check starts is on the check's clock).
"""

from __future__ import annotations

import os
import re
import stat
import struct
import time
from pathlib import Path

from . import checkproc
from .database import hot_journal
from .errors import InvalidBackupError
from .fsutil import WAL, side_file

SQLITE_MAGIC = b"SQLite format 3\x00"
AGE_MAGIC = b"age-encryption.org/v1\n"  # the first line of every age file (a location's encrypted copy)


def refusal(reason: str, message: str, hint: str = "") -> InvalidBackupError:
    """The refusal (InvalidBackupError with `reason`) of a backup file; the hint says to choose another."""
    return InvalidBackupError(
        message, hint or "Choose another backup. Your current data has not been changed.", reason=reason
    )


def check_file_shape(path: Path) -> tuple[int, int]:
    """Refuse anything that is not a complete SQLite file; return (size in bytes, page size in bytes).

    Raises InvalidBackupError with `reason` one of: missing, unreadable, not-a-file, empty,
    damaged-header, not-sqlite, truncated, unsaved-wal (a WAL-mode file with a non-empty -wal
    beside it), hot-journal (an unfinished write's -journal beside it).
    """
    try:
        st = os.stat(path)  # follows symlinks: what matters is what the link points at
    except FileNotFoundError:
        raise refusal("missing", f"The file {path} does not exist.", "Check the name and try again.") from None
    except ValueError:  # a NUL byte: no file can have that name
        raise refusal(
            "missing",
            f"There is no file named {str(path)!r}: a file name cannot contain a NUL character.",
            "Check the name and try again.",
        ) from None
    except OSError as e:
        raise refusal(
            "unreadable", f"The file {path} cannot be read: {e.strerror}.", "Check its permissions and try again."
        ) from None
    if stat.S_ISDIR(st.st_mode):
        if (root := location_root(path)) is not None:  # a backup location's folder: its copies restore by id (Z6)
            raise _location_refusal(
                f"{path} is {'a backup location' if root == path else f'a folder of the backup location {root}'}"
                ", not a backup file: its copies are restored from the location, by their id.",
                root,
            )
        raise refusal("not-a-file", f"{path} is a folder, not a backup file.", "Choose a backup file (.db) inside it.")
    if not stat.S_ISREG(st.st_mode):
        raise refusal(
            "not-a-file",
            f"{path} is not a regular file (it is a device, pipe or socket).",
            "Choose a backup file (.db).",
        )
    size = st.st_size
    if size == 0:
        try:
            with open(path, "rb") as f:
                has_bytes = bool(f.read(1))
        except OSError:
            has_bytes = True  # /proc/self/mem and the like: unreadable as a stream
        if has_bytes:  # a size of 0 with bytes behind it: a file of the system (/proc, /sys), not a backup
            raise refusal(
                "not-a-file",
                f"{path} is a special file of the system, not a backup file.",
                "Choose a backup file (.db).",
            )
        raise refusal("empty", f"The file {path} is empty.")
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise refusal(
            "unreadable", f"The file {path} cannot be read: {e.strerror}.", "Check its permissions and try again."
        ) from None
    if not header.startswith(SQLITE_MAGIC):
        if header[:6] == SQLITE_MAGIC[:6] or header[:15].lower().startswith(b"sqlite"):
            raise refusal("damaged-header", f"The header of {path} is damaged: it is not a readable SQLite database.")
        if header.startswith(AGE_MAGIC) and header[len(AGE_MAGIC) :].startswith(AGE_SCRYPT):
            raise _key_refusal(path)  # a key locked with the passphrase (identity.age): no data in it (Z6)
        if header.startswith(AGE_MAGIC) and (root := location_root(path)) is not None:
            name = path.name.removesuffix(".db.age")  # the copy in its place at a location: its id and where
            raise _location_refusal(
                f"{path} is an encrypted copy at the backup location {root}, not a backup file: it must be "
                "decrypted first, which restoring it from the location does.",
                root,
                name if name != path.name and _COPY_ID.match(name) else "ID",
                encrypted_copy=True,
            )
        if header.startswith(AGE_MAGIC):  # a location's encrypted copy (backup_….db.age), e.g. downloaded
            raise InvalidBackupError(
                f"{path} is an encrypted copy from a backup location, not a backup file: it must be decrypted "
                "first. Nothing was changed.",
                "Restore it from the backup location it came from: `jobmatcher backup restore ID --from-folder "
                "FOLDER` (or --location NAME, --from-s3 s3://BUCKET/PREFIX) with your passphrase; or decrypt it "
                'with age (README: "Your backups without JobMatcher") and restore the .db file.',
                "Use Restore from a backup location with your passphrase: this is an encrypted copy.",
                reason="not-sqlite",
                encrypted_copy=True,
            )
        if (root := location_root(path)) is not None:  # a copy's record, the location's marker or notes (Z6)
            raise _location_refusal(f"{path} is a file of the backup location {root}, not a backup file.", root)
        raise refusal(
            "not-sqlite",
            f"{path} is not a JobMatcher backup: it is not a SQLite database at all.",
            "Choose a file that JobMatcher made (backup_….db).",
        )
    if len(header) < 100:
        raise refusal("truncated", f"The file {path} is cut short: only {size} bytes of a SQLite database.")
    (raw_page,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if raw_page == 1 else raw_page
    if page_size < 512 or page_size & (page_size - 1):
        raise refusal("damaged-header", f"The header of {path} is damaged (page size {raw_page}).")
    change_counter, page_count = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    if valid_for == change_counter and page_count and size < page_count * page_size:
        raise refusal(
            "truncated",
            f"The file {path} is cut short: {size:,} bytes where its header says "
            f"{page_count * page_size:,}. It was probably copied incompletely.",
            "Use a complete copy of the backup. Your current data has not been changed.",
        )
    wal = side_file(path, WAL)
    if header[18] == 2 and wal.exists() and wal.stat().st_size > 0:
        # A live WAL-mode database copied with its -wal: the newest changes are only in the -wal,
        # which a backup file cannot carry. Checking or restoring the main file alone would lose them.
        raise refusal(
            "unsaved-wal",
            f"{path.name} is a database still in use (or copied while in use): some of its changes are "
            f"only in {wal.name}.",
            "Close the program using it (or open it once in JobMatcher), then try again.",
        )
    if hot_journal(path):
        # A write was half done when the file was copied (or the program writing it stopped): SQLite itself
        # undoes it before reading, so the file alone, read as it is, would hold changes never committed.
        raise refusal(
            "hot-journal",
            f"{path.name} has an unfinished write: {path.name}-journal beside it holds changes that were "
            "never committed (it was copied, or its program stopped, in the middle of saving).",
            "Open it once with the program that made it (or the sqlite3 tool) so SQLite undoes the "
            "unfinished write, then try again; or choose another backup. Your current data has not "
            "been changed.",
        )
    if size % page_size:
        raise refusal(
            "truncated",
            f"The file {path} is cut short: {size:,} bytes is not a whole number of {page_size}-byte pages.",
        )
    return size, page_size


# The first stanza of an age file locked with a passphrase (age's scrypt mode): a location's identity.age, a data
# folder's location-identity.age. A copy is encrypted to a key instead ("-> X25519 …").
AGE_SCRYPT = b"-> scrypt "
_COPY_ID = re.compile(r"^backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(_[0-9]{1,3})?\Z")


def location_root(path: Path) -> Path | None:
    """The backup location `path` is in or is (the folder holding the location's marker: `path` itself, or up to
    three folders above it: JobMatcher/<data folder id>/<file>), else None. Only asked for a file or folder that
    is no backup (a refusal's words). Never raises."""
    from .folders import LOCATION_MARKER

    try:
        here = Path(os.path.abspath(path))
        for folder in [here, *here.parents][:4]:
            if os.path.isfile(folder / LOCATION_MARKER):
                return folder
    except (OSError, ValueError):
        pass
    return None


def _location_refusal(message: str, root: Path, backup_id: str = "ID", **fields: object) -> InvalidBackupError:
    """The refusal of a file or folder of the backup location `root` given as a backup file: `message` says what it
    is; the hint names the commands that list and restore that location's copies (`backup_id`: the copy's, when
    known). Nothing was changed."""
    import shlex

    at = shlex.quote(str(root))  # the commands run as written, whatever the folder's name
    listing = f"`jobmatcher backup list --from-folder {at}`"
    return InvalidBackupError(
        f"{message} Nothing was changed.",
        f"See its copies with {listing}, then restore one with `jobmatcher backup restore ID --from-folder {at}` "
        "(with your passphrase when they are encrypted)."
        if backup_id == "ID"
        else f"Restore it from there with `jobmatcher backup restore {backup_id} --from-folder {at}` and your "
        f"passphrase ({listing} shows the other copies).",
        f"Use Restore from a backup location, choose the folder {root}, then the copy (with your passphrase when "
        "they are encrypted).",
        reason="not-sqlite",
        location=str(root),
        **fields,
    )


def _key_refusal(path: Path) -> InvalidBackupError:
    """The refusal of an age file locked with a passphrase: an encryption key, never a backup (decrypting it
    gives the key, not data). Said as the key of the location it is in, when it is in one (Z6)."""
    root = location_root(path)
    what = (
        f"the encryption key of the copies at the backup location {root}"
        if root is not None
        else "an encryption key (a backup location's identity.age, or a data folder's location-identity.age)"
    )
    message = (
        f"{path} is {what}, locked with your passphrase: it is not a backup and holds none of your data (opening "
        "it gives the key, not a database)."
    )
    if root is not None:
        return _location_refusal(message, root)
    return InvalidBackupError(
        f"{message} Nothing was changed.",
        "Restore from the backup location it belongs to: `jobmatcher backup list --from-folder FOLDER` (or "
        "--location NAME, --from-s3 s3://BUCKET/PREFIX) shows its copies, and `jobmatcher backup restore ID "
        "--from-folder FOLDER` restores one with your passphrase (JobMatcher opens this key with it).",
        "Use Restore from a backup location with your passphrase: the copies are beside this key, at the location.",
        reason="not-sqlite",
    )


class StartedCheck:
    """A file whose shape passed (check_file_shape: `size` and `page_size` in bytes) and whose check has
    started (`check`: checkproc.start; in a spare child it runs from then on); `t0` is time.perf_counter() when
    the shape's check began (the report's seconds count from it). verify_file(started=...) goes on with it.
    As a context manager it ends a check whose result was never asked for (see checkproc.PendingCheck)."""

    __slots__ = ("path", "size", "page_size", "check", "t0")

    def __init__(self, path: Path, size: int, page_size: int, check: checkproc.PendingCheck, t0: float) -> None:
        self.path, self.size, self.page_size, self.check, self.t0 = path, size, page_size, check, t0

    def __enter__(self) -> StartedCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.check.close()


def start_check(path: Path, spare: checkproc.SpareChild | None = None) -> StartedCheck:
    """Refuse a file that is not a complete SQLite file (check_file_shape), then start its check (in `spare`
    when it is ready): the caller reads the manifest and the like while the check runs, then calls
    verify_file(started=...). Raises InvalidBackupError as check_file_shape does."""
    t0 = time.perf_counter()
    path = Path(path)
    size, page_size = check_file_shape(path)
    return StartedCheck(path, size, page_size, checkproc.start(path, spare=spare), t0)
