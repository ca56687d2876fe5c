"""Putting a backup back as the live database, so that a crash at any instant loses nothing.

The sequence, strictly in order:
1. check   the source passes every verification (refusals leave everything untouched);
2. safety  a verified `safety` backup of the current data is made;
3. stage   the source is copied next to the live file, its checksum compared with what
           was verified, migrated to the current schema if older, fsynced;
4. swap    (the journal now says "staged") under the exclusive swap lock, the live database is checkpointed and closed,
           its -wal/-shm removed (so nothing stale can mix in), and the staged file
           renamed over it (atomic; nothing holds the file open, as Windows requires);
5. confirm the new live database is opened and checked; on any failure the safety
           backup is put back the same way.
A journal file records the restore while it runs. On the next launch
`recover()` finishes or undoes whatever a killed process left half done: a
staged file still present means the swap never happened (discard it); absent,
the swap did (keep the result).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from . import schema
from .backups import BackupStore
from .database import check_integrity, connect, live_problem, open_readonly
from .datadir import DataDir
from .errors import (DatabaseDamagedError, DatabaseInUseError, InvalidBackupError, JobMatcherError,
                     RestoreFailedError, SafetyBackupMissingError)
from .fsutil import (atomic_write_bytes, copy_range, describe_os_error, file_size, fsync_dir, fsync_file,
                     private_opener, remove_quietly, require_free_space)
from .lock import FileLock
from .manifest import BackupType, read_manifest
from .verify import sha256_file, verify_file

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
SIDE_FILES = ("-wal", "-shm", "-journal")


class RestoreResult(BaseModel):
    source: str
    safety_backup_id: str | None
    safety_backup_verified: bool | None = None  # False: the data replaced was already damaged (kept anyway)
    schema_revision: str
    migrated_from: str | None = None
    seconds: float
    relaunch_required: bool = True


def staged_path(data: DataDir) -> Path:
    return data.root / (data.db_path.name + ".restoring")


def _remove_with_sides(path: Path) -> None:
    for suffix in ("",) + SIDE_FILES:
        remove_quietly(Path(str(path) + suffix))


def _write_journal(data: DataDir, phase: str, source: str, safety: str | None, safety_path: str | None) -> None:
    body = {"phase": phase, "source": source, "safety_backup_id": safety, "safety_path": safety_path,
            "pid": os.getpid(), "started": time.time()}
    atomic_write_bytes(data.journal_path, json.dumps(body, indent=2).encode())


def _end_journal(data: DataDir) -> None:
    """Remove the journal durably: a removal that a power cut undoes would make the next launch treat a
    finished restore as interrupted (and a stale journal would keep its safety backup from retention)."""
    remove_quietly(data.journal_path)
    fsync_dir(data.root)


def restore(data: DataDir, store: BackupStore, source: Path, expected_sha256: str | None = None,
            label: str | None = None, progress: Progress | None = None,
            source_verified: bool = False) -> RestoreResult:
    """Replace the live database with the backup file `source`. The caller holds the instance lock."""
    t0 = time.perf_counter()
    label = label or str(source)
    say = progress or (lambda phase, done, total: None)

    _refuse_the_live_file(data, Path(source))
    say("check", 0, 1)
    # raises InvalidBackupError: nothing touched. A listed backup whose manifest recorded a passed
    # check needs only its checksum to match (see verify_file).
    report = verify_file(source, expected_sha256, checksum_proves_integrity=source_verified)
    say("check", 1, 1)
    require_free_space(data.root, 2 * report.size_bytes, "restoring this backup")

    safety = None
    if os.path.lexists(data.db_path):
        safety = _safety_backup(data, store, label, say)
    swap_lock = FileLock(data.swap_lock_path)
    staged_ok = swapped = False
    try:
        journal = (label, safety.id if safety else None, safety.path if safety else None)
        _write_journal(data, "staging", *journal)
        staged = _stage(data, source, report.sha256, say)
        migrated_from = None
        if report.schema_revision != schema.head():
            say("migrate", 0, 1)
            schema.upgrade(staged)
            migrated_from = report.schema_revision
            _seal(staged)
            say("migrate", 1, 1)
        staged_ok = True
        _write_journal(data, "staged", *journal)  # from here, a missing staged file means it was swapped in
        swapped = _swap(data, staged, swap_lock, say)
        _confirm(data)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        swapped = swapped or (staged_ok and not staged_path(data).exists())
        if not swapped or safety is None:
            _remove_with_sides(staged_path(data))
            _end_journal(data)
            raise _as_failure(e, recovered=True, how="Your data was not changed.") from e
        try:
            _recover_from(data, Path(safety.path), safety.id, swap_lock, say)
        except BaseException as again:
            log.exception("recovery from the safety backup failed")
            raise RestoreFailedError(
                f"The restore failed ({_describe(e)}) and putting your data back from the safety backup "
                f"{safety.id} failed too ({_describe(again)}).",
                _safety_hint(safety.id, safety.path, safety.verified is True),
                recovered=False) from e
        raise _as_failure(e, recovered=True,
                          how=f"Your data was put back from the safety backup {safety.id}; nothing was lost.") from e
    finally:
        swap_lock.release()
    _end_journal(data)
    log.info("restored %s (safety backup %s)", label, safety.id if safety else None)
    say("done", 1, 1)
    return RestoreResult(source=label, safety_backup_id=safety.id if safety else None,
                         safety_backup_verified=safety.verified if safety else None,
                         schema_revision=schema.head(), migrated_from=migrated_from,
                         seconds=time.perf_counter() - t0)


def _safety_backup(data: DataDir, store: BackupStore, label: str, say: Progress):
    """The verified safety backup of the live data; a raw byte copy, marked as failing its check, when SQLite
    cannot open the live file; None for something that is not a file at all (it is moved aside at the swap)."""
    db = data.db_path
    note = f"Before restoring {label}"
    try:
        problem = live_problem(db)
        if problem is None:
            try:
                return store.create(db, BackupType.safety, note=note,
                                    progress=lambda phase, d, t: say("safety", d, t) if phase == "copy" else None)
            except JobMatcherError:
                problem = _unopenable(db)
                if problem is None:
                    raise
        if not db.is_file():
            return None
        log.warning("the live database cannot be opened (%s): keeping a raw copy as the safety backup", problem)
        return store.create_raw_copy(db, BackupType.safety, note=note,
                                     reason=f"Your data could not be read when it was saved: it {problem}.")
    except JobMatcherError as e:
        raise RestoreFailedError(
            f"The restore did not run, because the safety backup of your current data could not be made: "
            f"{e.message} Your data was not changed.",
            e.hint or "Free up space or fix permissions in the backup folder, then try again.",
            recovered=True) from None


def _unopenable(db: Path) -> str | None:
    """Why SQLite cannot read the live file at all (its schema), or None when it can."""
    try:
        conn = open_readonly(db)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as e:
        return None if "locked" in str(e) or "busy" in str(e) else f"cannot be opened ({e})"
    except sqlite3.DatabaseError as e:
        return f"is damaged ({e})"
    return None


def _describe(e: BaseException) -> str:
    if isinstance(e, JobMatcherError):
        return e.message
    if isinstance(e, OSError):
        return describe_os_error(e, "restoring", Path(e.filename or "")).message
    return f"{type(e).__name__}: {e}"


def _as_failure(e: BaseException, recovered: bool, how: str) -> JobMatcherError:
    if isinstance(e, (InvalidBackupError, DatabaseInUseError)):
        return e
    hint = e.hint if isinstance(e, JobMatcherError) and e.hint else \
        "Check free space and permissions in the data folder, then try again."
    return RestoreFailedError(f"The restore failed: {_describe(e).rstrip('.')}. {how}", hint, recovered=recovered)


def _safety_hint(safety_id: str, safety_path: str, verified: bool) -> str:
    """What to do when the safety backup could not be put back; never advice that would be refused."""
    if verified:
        return (f"Your data is safe in the backup {safety_id}: restore it with "
                f"`jobmatcher backup restore {safety_id}` once the problem is fixed.")
    return (f"Your previous data is kept, exactly as it was, in {safety_path} (it did not pass its check, so "
            "it cannot be restored as it is). Restore your newest backup that passed its check, and keep that "
            "file for a data-recovery tool.")


def _refuse_the_live_file(data: DataDir, source: Path) -> None:
    """A restore of the live database (or a hard link to it) over itself would destroy what it restores."""
    try:
        src, live = os.stat(source), os.stat(data.db_path)
    except (OSError, ValueError):
        return  # no live file, or the source is refused with its own reason by the checks
    if (src.st_dev, src.st_ino) == (live.st_dev, live.st_ino):
        raise InvalidBackupError(
            f"{source} is your live database itself (the same file), not a backup of it.",
            "Choose a backup file, or a backup from the list. Your current data has not been changed.",
            reason="is-live-database")


def _stage(data: DataDir, source: Path, sha256: str, say: Progress, seal: bool = True) -> Path:
    """Copy `source` next to the live file and prove it is the file that was verified.

    `seal` switches the copy to WAL mode with nothing beside it (a restore); without it the
    copy stays byte for byte the source (putting a safety backup back).
    """
    staged = staged_path(data)
    _remove_with_sides(staged)
    size = os.path.getsize(source)
    with open(source, "rb") as src, open(staged, "wb", opener=private_opener) as out:
        copy_range(src.fileno(), 0, out, size, lambda done: say("copy", done, size))
        out.flush()
        os.fsync(out.fileno())
    if sha256_file(staged) != sha256:
        raise JobMatcherError("The backup file changed while it was being restored.",
                              "Make sure nothing else is writing to it and try again.")
    if seal:
        _seal(staged)
    return staged


def _seal(staged: Path) -> None:
    """Switch the staged copy to WAL mode with no -wal left beside it, and fsync it."""
    conn = sqlite3.connect(staged, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # the last connection folds the -wal in and deletes it
    for suffix in SIDE_FILES:
        if file_size(Path(str(staged) + suffix)):
            raise JobMatcherError("The restored copy could not be sealed.", "Try again.")
        remove_quietly(Path(str(staged) + suffix))
    fsync_file(staged)


def _swap(data: DataDir, staged: Path, swap_lock: FileLock, say: Progress) -> bool:
    """Rename `staged` over the live database, with no stale -wal/-shm surviving; True once renamed.

    Raises DatabaseInUseError (nothing changed) when another connection has the live file open.
    """
    say("swap", 0, 1)
    if not swap_lock.acquire(timeout=60):
        raise JobMatcherError("Another JobMatcher command is still reading the database.",
                              "Wait for it to finish (for example a backup), then try again.")
    live = data.db_path
    holder = None
    if os.path.lexists(live):
        if live_problem(live) is None:
            try:
                holder = _take_live_exclusively(live)
            except sqlite3.DatabaseError as e:  # damaged beyond what SQLite can open: nothing can be using it
                log.warning("the live database cannot be opened (%s); setting it aside", e)
        if holder is None:
            aside = _set_aside(data, [live] + [Path(str(live) + x) for x in SIDE_FILES])
            log.warning("set the unreadable live database aside in %s", aside)
    try:
        for suffix in SIDE_FILES:
            remove_quietly(Path(str(live) + suffix))
        os.replace(staged, live)
        fsync_dir(data.root)
    finally:
        if holder is not None:
            holder.close()  # releases the lock on the file just replaced; touches no file by name
    say("swap", 1, 1)
    return True


def _set_aside(data: DataDir, paths: list[Path]) -> Path | None:
    """Move files JobMatcher cannot read (but the user may need) into a new `set-aside-…` folder; never delete them."""
    present = [p for p in paths if os.path.lexists(p)]
    if not present:
        return None
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime())
    for n in range(1, 1000):
        folder = data.root / (f"set-aside-{stamp}" + (f"_{n}" if n > 1 else ""))
        try:
            folder.mkdir(mode=0o700)
            break
        except FileExistsError:
            continue
    for p in present:
        os.rename(p, folder / p.name)
    fsync_dir(folder)
    fsync_dir(data.root)
    return folder


IN_USE_WAIT_MS = 2000  # how long another program's read may take before the swap is refused


def _in_use() -> DatabaseInUseError:
    return DatabaseInUseError(
        "Another program has JobMatcher's database open, so it cannot be replaced safely: that program "
        "would go on using the old data, and its next changes would be lost.",
        "Close every other program using JobMatcher's data (a database browser, a sync tool, a script), "
        "then try again. Your data was not changed.")


def _take_live_exclusively(live: Path) -> sqlite3.Connection:
    """Fold the live -wal in and hold the live file exclusively; refuse while any other connection has it open.

    In WAL mode every connection that has read the database keeps a shared lock on it, even
    when idle, so an exclusive lock (locking_mode=EXCLUSIVE) is granted only when no other
    connection, in this process or another, has the file open. The returned connection
    keeps that lock until it is closed, after the rename: nobody can start reading the old
    file in between. Switching it to DELETE mode folds the -wal in and removes it.
    """
    conn = sqlite3.connect(live, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise _in_use()
        conn.execute(f"PRAGMA busy_timeout={IN_USE_WAIT_MS}")
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise _in_use() from None
            raise
        if file_size(Path(str(live) + "-wal")):
            raise _in_use()
        return conn
    except BaseException:
        conn.close()
        raise


def _confirm(data: DataDir) -> None:
    """Open the new live database as the app will and check it."""
    conn = connect(data.db_path)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        revision = schema.revision_of(conn)
    finally:
        conn.close()
    if problems != ["ok"] or revision != schema.head():
        raise JobMatcherError(f"The restored database did not pass its check ({'; '.join(problems[:2])}).",
                              "Try another backup.")


def _recover_from(data: DataDir, safety: Path, safety_id: str, swap_lock: FileLock, say: Progress) -> None:
    """Put the safety backup back as the live database, byte for byte (used when a restore fails midway).

    It is checked against its own manifest (its checksum), never against this version's schema:
    a safety copy of data from a newer version, or of damaged data, goes back exactly as it was.
    Raises SafetyBackupMissingError when the file is gone.
    """
    log.warning("restore failed; putting back the safety backup %s", safety_id)
    if not safety.is_file():
        raise _missing_safety(data, safety, safety_id)
    _write_journal(data, "recover", safety_id, safety_id, str(safety))
    m = read_manifest(safety)
    expected = m.sha256 if m and m.sha256 else sha256_file(safety)
    staged = _stage(data, safety, expected, say, seal=False)
    _swap(data, staged, swap_lock, say)
    if sha256_file(data.db_path) != expected:
        raise JobMatcherError("The safety backup put back is not identical to the one that was made.",
                              f"Restore the safety backup {safety_id} again.")
    _end_journal(data)


def _missing_safety(data: DataDir, safety: Path, safety_id: str) -> SafetyBackupMissingError:
    return SafetyBackupMissingError(
        f"An interrupted restore needs the safety backup {safety_id or safety.name} to put your data back, "
        f"but that file is gone: {safety} does not exist.",
        "If it is on a drive that is not connected, connect it and start JobMatcher again. Otherwise restore "
        "another backup (`jobmatcher backup list`, then `jobmatcher backup restore ID`); the data in place now "
        "is what the interrupted restore left.")


def pending_recovery_backup(data: DataDir) -> Path | None:
    """The safety backup an interrupted restore still needs to finish or undo, if any (read-only)."""
    try:
        journal = json.loads(data.journal_path.read_bytes())
    except (OSError, ValueError):
        return None
    path = journal.get("safety_path") if isinstance(journal, dict) else None
    return Path(path) if isinstance(path, str) and path else None


def _live_fails_its_check(db: Path) -> list[str]:
    """The problems of the live database (empty when it is sound), never an exception for damage."""
    problem = live_problem(db)
    if problem is not None or not db.exists():
        return [problem or "the database file is missing"]
    try:
        conn = connect(db)
        try:
            return check_integrity(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return [str(e)]


def recover(data: DataDir) -> str | None:
    """Finish or undo a restore that a killed process left half done; say what was done (instance lock held)."""
    try:
        journal = json.loads(data.journal_path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        journal = {"phase": "staged"}  # unreadable: decide by the staged file alone
    staged = staged_path(data)
    swap_lock = FileLock(data.swap_lock_path)
    try:
        if journal.get("phase") == "recover" and journal.get("safety_path"):
            _remove_with_sides(staged)
            _recover_from(data, Path(journal["safety_path"]), journal.get("safety_backup_id") or "",
                          swap_lock, lambda *a: None)
            message = "An interrupted restore was rolled back to the safety backup made before it."
        elif journal.get("phase") != "staged" or staged.exists():
            _remove_with_sides(staged)
            message = "An interrupted restore was undone; your data is as it was before it."
        else:
            message = "An interrupted restore had already put the backup in place; it is complete."
            bad = _live_fails_its_check(data.db_path)
            if bad and not journal.get("safety_path"):
                raise DatabaseDamagedError(
                    "An interrupted restore put a backup in place that does not pass its check, and there is "
                    "no safety backup to go back to.",
                    "Restore another backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.")
            if bad:
                _recover_from(data, Path(journal["safety_path"]), journal.get("safety_backup_id") or "",
                              swap_lock, lambda *a: None)
                message = "An interrupted restore was rolled back to the safety backup made before it."
    finally:
        swap_lock.release()
    _end_journal(data)
    log.warning(message)
    return message
