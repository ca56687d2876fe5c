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
from .database import check_integrity, connect
from .datadir import DataDir
from .errors import InvalidBackupError, JobMatcherError, RestoreFailedError
from .fsutil import (atomic_write_bytes, copy_range, describe_os_error, file_size, fsync_dir, fsync_file,
                     remove_quietly, require_free_space)
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


def restore(data: DataDir, store: BackupStore, source: Path, expected_sha256: str | None = None,
            label: str | None = None, progress: Progress | None = None,
            source_verified: bool = False) -> RestoreResult:
    """Replace the live database with the backup file `source`. The caller holds the instance lock."""
    t0 = time.perf_counter()
    label = label or str(source)
    say = progress or (lambda phase, done, total: None)

    say("check", 0, 1)
    # raises InvalidBackupError: nothing touched. A listed backup whose manifest recorded a passed
    # check needs only its checksum to match (see verify_file).
    report = verify_file(source, expected_sha256, checksum_proves_integrity=source_verified)
    say("check", 1, 1)
    require_free_space(data.root, 2 * report.size_bytes, "restoring this backup")

    safety = None
    if data.db_path.exists():
        try:
            safety = store.create(data.db_path, BackupType.safety, note=f"Before restoring {label}",
                                  progress=lambda phase, d, t: say("safety", d, t) if phase == "copy" else None)
        except JobMatcherError as e:
            raise RestoreFailedError(
                f"The restore did not run, because the safety backup of your current data could not be made: "
                f"{e.message} Your data was not changed.",
                e.hint or "Free up space or fix permissions in the backup folder, then try again.",
                recovered=True) from None

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
            remove_quietly(data.journal_path)
            raise _as_failure(e, recovered=True, how="Your data was not changed.") from e
        try:
            _recover_from(data, Path(safety.path), safety.id, swap_lock, say)
        except BaseException as again:
            log.exception("recovery from the safety backup failed")
            raise RestoreFailedError(
                f"The restore failed ({_describe(e)}) and putting your data back from the safety backup "
                f"{safety.id} failed too ({_describe(again)}).",
                f"Your data is safe in the backup {safety.id}: restore it with "
                f"`jobmatcher backup restore {safety.id}` once the problem is fixed.",
                recovered=False) from e
        raise _as_failure(e, recovered=True,
                          how=f"Your data was put back from the safety backup {safety.id}; nothing was lost.") from e
    finally:
        swap_lock.release()
    remove_quietly(data.journal_path)
    log.info("restored %s (safety backup %s)", label, safety.id if safety else None)
    say("done", 1, 1)
    return RestoreResult(source=label, safety_backup_id=safety.id if safety else None,
                         safety_backup_verified=safety.verified if safety else None,
                         schema_revision=schema.head(), migrated_from=migrated_from,
                         seconds=time.perf_counter() - t0)


def _describe(e: BaseException) -> str:
    if isinstance(e, JobMatcherError):
        return e.message
    if isinstance(e, OSError):
        return describe_os_error(e, "restoring", Path(e.filename or "")).message
    return f"{type(e).__name__}: {e}"


def _as_failure(e: BaseException, recovered: bool, how: str) -> JobMatcherError:
    if isinstance(e, InvalidBackupError):
        return e
    return RestoreFailedError(f"The restore failed: {_describe(e)}. {how}",
                              "Check free space and permissions in the data folder, then try again.",
                              recovered=recovered)


def _stage(data: DataDir, source: Path, sha256: str, say: Progress) -> Path:
    """Copy `source` next to the live file and prove it is the file that was verified."""
    staged = staged_path(data)
    _remove_with_sides(staged)
    size = os.path.getsize(source)
    with open(source, "rb") as src, open(staged, "wb") as out:
        copy_range(src.fileno(), 0, out, size, lambda done: say("copy", done, size))
        out.flush()
        os.fsync(out.fileno())
    if sha256_file(staged) != sha256:
        raise JobMatcherError("The backup file changed while it was being restored.",
                              "Make sure nothing else is writing to it and try again.")
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
    """Rename `staged` over the live database, with no stale -wal/-shm surviving; True once renamed."""
    say("swap", 0, 1)
    if not swap_lock.acquire(timeout=60):
        raise JobMatcherError("Another JobMatcher command is still reading the database.",
                              "Wait for it to finish (for example a backup), then try again.")
    live = data.db_path
    if live.exists():
        conn = sqlite3.connect(live, isolation_level=None, timeout=30)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
        if busy or file_size(Path(str(live) + "-wal")):
            raise JobMatcherError("The database is still in use, so it cannot be replaced safely.",
                                  "Close other programs using JobMatcher's data, then try again.")
    for suffix in SIDE_FILES:
        remove_quietly(Path(str(live) + suffix))
    os.replace(staged, live)
    fsync_dir(data.root)
    say("swap", 1, 1)
    return True


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
    """Put the safety backup back as the live database (used when a restore fails midway)."""
    log.warning("restore failed; putting back the safety backup %s", safety_id)
    _write_journal(data, "recover", safety_id, safety_id, str(safety))
    m = read_manifest(safety)
    staged = _stage(data, safety, m.sha256 if m and m.sha256 else sha256_file(safety), say)
    if m and m.schema_revision != schema.head():
        schema.upgrade(staged)
        _seal(staged)
    _swap(data, staged, swap_lock, say)
    _confirm(data)
    remove_quietly(data.journal_path)


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
            conn = connect(data.db_path)
            try:
                bad = check_integrity(conn)
            finally:
                conn.close()
            if bad and journal.get("safety_path"):
                _recover_from(data, Path(journal["safety_path"]), journal.get("safety_backup_id") or "",
                              swap_lock, lambda *a: None)
                message = "An interrupted restore was rolled back to the safety backup made before it."
    finally:
        swap_lock.release()
    remove_quietly(data.journal_path)
    log.warning(message)
    return message
