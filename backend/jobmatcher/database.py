"""Opening SQLite files the way JobMatcher needs them: the live database read-write
in WAL mode, and any other file strictly read-only."""

from __future__ import annotations

import os
import sqlite3
import stat as stat_module
from pathlib import Path
from typing import Callable, TypeVar

from . import schema
from .causes import explain, sqlite_cause
from .errors import (
    DatabaseDamagedError,
    DatabaseMissingError,
    LiveDatabaseLinkError,
    LiveSideFileError,
    NewerSchemaError,
)
from .fsutil import (
    JOURNAL,
    PRIVATE_FILE,
    SHM,
    WAL,
    data_folder_refused,
    file_size,
    fsync_dir,
    read_database_bytes,
    side_file,
)

BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")


def connect(path: Path) -> sqlite3.Connection:
    """Open the live database read-write (WAL, full fsync on commit, foreign keys on); a new file is made 0600."""
    if not os.path.exists(path):  # SQLite would create it 0644; its -wal and -shm then copy the file's mode
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        except FileExistsError:
            pass
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # Defence in depth beside the schema guard (schemaguard): SQL in the file's own schema (a trigger, a view,
    # an index expression) may call only functions and virtual tables SQLite marks innocuous. It does not stop
    # a trigger's plain DELETE: refusing files with triggers does (verify, restore, the launch).
    conn.execute("PRAGMA trusted_schema=OFF")
    return conn


def open_readonly(path: Path, immutable: bool = False) -> sqlite3.Connection:
    """Open any SQLite file without any chance of writing to it.

    `immutable` also skips locking and any -wal beside the file: for backup
    files, which nothing else writes.
    """
    uri = Path(path).absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    # A damaged file can hold text that is not UTF-8 (integrity_check quotes names from its schema):
    # decoding it must not raise, or a broken backup would end in a traceback instead of a refusal.
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only=1")
    conn.execute("PRAGMA trusted_schema=OFF")  # as connect(): the file's schema calls only innocuous functions
    return conn


JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # the first bytes of a rollback journal that still counts
SQLITE_MAGIC = b"SQLite format 3\x00"


def hot_journal(path: Path) -> bool:
    """True when a rollback `-journal` beside `path` still holds a write to undo (a "hot" journal).

    SQLite rolls such a journal back the next time the file is opened read-write; a read-only
    or immutable open instead reads the half-written pages as if they were committed.
    """
    try:
        # opened without waiting and refused unless a regular file: a FIFO at the -journal's name never hangs
        fd = os.open(side_file(path, JOURNAL), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat_module.S_ISREG(os.fstat(fd).st_mode):
                return False
            return os.pread(fd, 8, 0) == JOURNAL_MAGIC
        finally:
            os.close(fd)
    except OSError:
        return False


def refuse_odd_side_files(path: Path) -> None:
    """W5: a -wal, -shm or -journal beside the live file that is a symbolic link (a sync tool's doing, or the
    leftover of a linked setup). SQLite refuses to open the database then, and JobMatcher must never write
    through such a link into the file it points to: named as such, with what to do (lstat and readlink only).
    C1: a folder, pipe or device there (LiveSideFileError): SQLite's open of the database waits for ever on a
    pipe at -journal's name (its hot-journal check reads it) and fails as a "disk I/O error" on a folder."""
    for suffix in (WAL, SHM, JOURNAL):
        side = side_file(path, suffix)
        try:
            mode = os.lstat(side).st_mode
            if stat_module.S_ISREG(mode):
                continue
            if not stat_module.S_ISLNK(mode):
                what = "a folder" if stat_module.S_ISDIR(mode) else "a pipe or a device"
                raise LiveSideFileError(
                    f"{side.name} beside your database {path} is {what}, not a file SQLite made, so the database "
                    "cannot be opened (SQLite keeps its unfinished writes under that name).",
                    f"Move {side} out of the data folder (JobMatcher does not delete it), then try again. "
                    "Nothing was changed.",
                    "Move that out of the data folder (JobMatcher does not delete it), then try again. Nothing was "
                    "changed.",
                    path=str(side),
                )
            target = os.readlink(side)
        except OSError:
            continue
        raise LiveDatabaseLinkError(
            f"{side.name} beside your database {path} is a symbolic link (to {target}), so JobMatcher cannot "
            f"open or keep the database safe: SQLite keeps the database's newest changes in {side.name}, and "
            "it refuses to use a linked one.",
            f"Remove the link {side} (after making sure nothing in {target} is needed: the link only, never "
            "the file it points to), then start JobMatcher again. Nothing was changed.",
            path=str(side),
        )


def refuse_linked_live(path: Path) -> None:
    """Raise LiveDatabaseLinkError when the live database `path` or one of its side files is a symbolic link, and
    LiveSideFileError when a side file is a folder, pipe or device (refuse_odd_side_files); otherwise nothing.

    SQLite follows the link and keeps the -wal, -shm and -journal beside the file it points to, while every
    check, copy and swap of JobMatcher looks beside `path`: a backup then missed changes still in that -wal
    (verified all the same), and a restore replaced the link with a file, the linked place keeping the old
    data unknown to JobMatcher (finding V5). A linked data *folder* has none of this: everything is beside
    the file there. Read-only (lstat and readlink only).
    """
    try:
        if not stat_module.S_ISLNK(os.lstat(path).st_mode):
            refuse_odd_side_files(path)
            return
        target = os.readlink(path)
    except OSError:
        return
    if not os.path.exists(path):  # W1: a link to nothing is not "no database yet": the data may be on that disk
        raise LiveDatabaseLinkError(
            f"Your database {path} is a symbolic link to {target}, which does not exist: the disk or folder it "
            "points to is not there (not plugged in or mounted, moved, or renamed). JobMatcher cannot keep a "
            "linked database safe, and it does not start over with an empty one.",
            f"If your data is on that disk or in that folder, plug it in or put it back, then move {target} (with "
            f"any file beside it whose name continues it, such as -wal) into a folder of its own as {path.name} "
            "and start JobMatcher with --data-dir set to that folder. If it is gone for good, remove the link "
            f"{path} and restore your newest backup. Nothing was changed.",
            path=str(path),
        )
    raise LiveDatabaseLinkError(
        f"Your database {path} is a symbolic link (to {target}), so JobMatcher cannot keep it safe: SQLite "
        "keeps its newest changes beside the linked file, where backups and restores do not look, and a "
        "restore would replace the link with a file.",
        f"Keep the whole data folder in the place you want instead: move {target} (with any file beside it "
        f"whose name continues it, such as -wal) into a folder of its own as {path.name}, and start JobMatcher "
        "with --data-dir set to that folder (or link the data folder itself, not the file). Nothing was changed.",
    )


def live_problem(path: Path) -> str | None:
    """Why the live database cannot be opened as it is, found without SQLite touching it; None if it looks sound.

    The answer completes "Your database PATH …". Nothing is created or changed (SQLite itself would
    delete the -wal of an empty file when opening it, even read-only).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        held = file_size(side_file(path, "-wal"))
        if held:  # the main file is gone, its newest changes are not: never start over with an empty one
            return (
                f"is missing, but {path.name}-wal beside it holds {held:,} bytes of its most recent changes: "
                "the main file was deleted or moved, and SQLite cannot use those changes without it"
            )
        return None
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if stat_module.S_ISDIR(st.st_mode):
        return "is a folder, not a database file"
    if not stat_module.S_ISREG(st.st_mode):
        return "is not a regular file"
    wal = side_file(path, WAL)
    if st.st_size == 0:
        held = file_size(wal)
        if held:
            return (
                f"is empty (0 bytes), but {wal.name} beside it holds {held:,} bytes of its most recent "
                f"changes: the main file was lost or cut off, and SQLite cannot use those changes without it"
            )
        return "is empty (0 bytes): its contents were lost (the file was cut off or overwritten)"
    try:
        header = read_database_bytes(path, 100)  # never a descriptor of the live file opened and closed
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not header.startswith(SQLITE_MAGIC):
        return "is damaged: its first page is not a SQLite database header"
    return None


def settle_hot_journal(path: Path) -> bool:
    """Let SQLite roll back an interrupted write's hot `-journal` beside the live file; True if there was one.

    Only under the instance lock: opening read-write and reading is all it takes, SQLite does the rest.
    """
    if not hot_journal(path) or live_problem(path) is not None:
        return False
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        raise damaged(path, e) from None
    finally:
        conn.close()
    return True


def drop_stale_journal(path: Path) -> bool:
    """Delete a `-journal` beside the live file that holds nothing to undo; True if there was one.

    SQLite deletes its journal when a write commits, but a deletion is durable only once the
    folder is fsynced: after a power cut the journal of a finished write (for example the
    restore's switch of the old file to DELETE mode) can come back, its header zeroed. SQLite
    ignores it; it is still a file JobMatcher left behind. Deleted under an exclusive
    transaction, so no other connection is writing with it. Only under the instance lock.
    """
    journal = side_file(path, JOURNAL)
    if not journal.exists() or hot_journal(path) or live_problem(path) is not None:
        return False
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if hot_journal(path):
                return False
            os.unlink(journal)
        finally:
            conn.execute("ROLLBACK")
    except FileNotFoundError:
        return False
    except sqlite3.DatabaseError as e:
        raise damaged(path, e) from None
    finally:
        conn.close()
    fsync_dir(path.parent)
    return True


def require_openable(path: Path) -> None:
    """Refuse a live database that cannot be opened as it is, saying why (read-only)."""
    problem = live_problem(path)
    if problem is not None:
        raise DatabaseDamagedError(
            f"Your database {path} {problem}.",
            "Restore your newest backup that passed its check: `jobmatcher backup list`, then "
            "`jobmatcher backup restore ID`. The unreadable files are moved aside into the data folder, "
            "never deleted.",
            "Restore your newest backup that passed its check (Restore… beside it). The unreadable files are "
            "moved aside into the data folder, never deleted.",
            path=str(path),
        )


def _stamp(path: Path) -> tuple:
    st = os.stat(path)
    counter = read_database_bytes(path, 4, 24)  # the file change counter: every write transaction bumps it
    return st.st_ino, st.st_size, st.st_mtime_ns, counter


def read_live(path: Path, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` on a read-only connection to the live database without creating, deleting or changing any file.

    Even a read-only SQLite connection creates the -wal and -shm of a WAL database when they are
    missing. So when they are absent (no connection has the file open in WAL mode), the file is
    read as immutable, and the read counts only if the file was not written meanwhile and no -wal
    appeared; otherwise it is read again the ordinary way (the side files then exist already).
    Raises DatabaseDamagedError for a file that cannot be opened as it is or has a hot journal,
    LiveDatabaseLinkError / LiveSideFileError for a link, folder, pipe or device at a side file's name,
    sqlite3.DatabaseError for damage SQLite finds.
    """
    refuse_odd_side_files(path)  # D1-D4: named, and never opened (SQLite chmods an empty one it opens)
    require_openable(path)
    if hot_journal(path):
        raise unfinished_write(path)
    wal, shm = side_file(path, WAL), side_file(path, SHM)
    if not os.path.lexists(wal) and not os.path.lexists(shm):
        before = _stamp(path)
        conn = open_readonly(path, immutable=True)
        try:
            result = fn(conn)
        finally:
            conn.close()
        if not os.path.lexists(wal) and _stamp(path) == before:
            return result
    conn = open_readonly(path)
    try:
        return fn(conn)
    finally:
        conn.close()


def unfinished_write(path: Path) -> DatabaseDamagedError:
    journal = side_file(path, JOURNAL)
    return DatabaseDamagedError(
        f"Your database {path} has an unfinished write: {journal.name} beside it holds changes that were never "
        "committed (a program was stopped in the middle of saving).",
        "Start JobMatcher (or run `jobmatcher db migrate`): it lets SQLite undo the unfinished write, and your data "
        f"is then as it was last saved. Do not delete {journal.name}.",
        "Close JobMatcher and open it again: it lets SQLite undo the unfinished write, and your data is then as "
        f"it was last saved. Do not delete {journal.name}.",
        code="unfinished-write",
        path=str(path),
    )


def current_revision(path: Path) -> str | None:
    """The schema revision of the live database, None if it is new (read-only: creates and changes nothing)."""
    return live_schema(path, facts=False)[0]


def live_schema(path: Path, facts: bool = True) -> tuple[str | None, dict]:
    """The live database's schema revision (None if it is new) and, for a revision this app ships, its schema
    facts (checkproc.schema_facts' shape, what schemaguard.foreign_objects compares; {} otherwise or when
    `facts` is False), from one read-only connection: the launch and the health check need both, and a second
    open of the file would cost as much as the reads. Creates and changes nothing. Raises
    DatabaseDamagedError when SQLite cannot read the file, JobMatcherError naming another cause (a held lock,
    an I/O error, a read-only disk)."""

    def read(conn: sqlite3.Connection) -> tuple[str | None, dict]:
        revision = schema.revision_of(conn)
        if not facts or revision is None or not schema.is_known(revision):
            return revision, {}
        from .checkproc import schema_facts  # here: commands that only read the revision do not load it

        return revision, schema_facts(conn)

    require_openable(path)  # also a missing file whose -wal still holds changes
    if not path.exists():
        return None, {}
    try:
        return read_live(path, read)
    except sqlite3.DatabaseError as e:
        if not os.access(path.parent, os.W_OK):  # not damaged: a WAL database on a read-only disk cannot be opened
            raise data_folder_refused(path.parent) from None
        named = explain(e, "reading the database's version", path)
        if named is not None and sqlite_cause(e) not in (None, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise named from None  # a full disk, a held lock, an I/O error: never call sound data damaged
        raise damaged(path, e) from None


def damaged(path: Path, e: Exception) -> DatabaseDamagedError:
    """The error for a live database SQLite cannot read."""
    return DatabaseDamagedError(
        f"Your database {path} cannot be read: {e}.",
        "Restore your newest verified backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.",
        "Restore your newest backup that passed its check (Restore… beside it).",
        path=str(path),
    )


def require_known_revision(revision: str | None, what: str = "The database") -> None:
    """Refuse a database written by a newer JobMatcher."""
    if not schema.is_known(revision):
        raise NewerSchemaError(
            f"{what} was made by a newer version of JobMatcher (schema {revision}); "
            f"this version understands up to {schema.head()}.",
            "Install the newer JobMatcher to open it. Your data has not been changed.",
        )


def require_exists(path: Path) -> None:
    """Refuse when there is no live database yet (or it was lost while its -wal still holds changes)."""
    if not path.exists():
        refuse_linked_live(path)  # W1: a link to nothing is named as such, not "no database yet"
        require_openable(path)
        raise DatabaseMissingError(
            f"There is no JobMatcher database in {path.parent} yet.",
            "Start JobMatcher once (or run `jobmatcher db migrate`) to create it.",
            "Close JobMatcher and open it again: it creates a new one.",
            path=str(path.parent),
        )


def check_integrity(conn: sqlite3.Connection, max_errors: int = 20) -> list[str]:
    """Run `PRAGMA integrity_check`; an empty list means the file is sound (read-only)."""
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA integrity_check({int(max_errors)})")]
    except UnicodeDecodeError as e:  # SQLite's error message quotes damaged schema text that is not UTF-8
        raise sqlite3.DatabaseError(e.object.decode("utf-8", "replace")) from None
    return [] if rows == ["ok"] else rows
