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
           backup is put back the same way, byte for byte, checked against its own
           checksum (never migrated: data from a newer version or damaged data goes back
           exactly as it was).
The live file is what it is: the live database itself is refused as a source; the swap is
refused while any other connection has the live file open (an exclusive lock is held from
the check through the rename); live data SQLite cannot open (damaged, empty, a folder, a
lost main file with its -wal) gets a raw byte copy as its safety backup (marked as failing
its check) and is moved into a `set-aside-…` folder at the swap, never deleted.
A journal file records the restore while it runs. On the next launch
`recover()` finishes or undoes whatever a killed process left half done: a
staged file still present means the swap never happened (discard it); absent,
the swap did (keep the result).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from . import __version__, checklock, schema
from .backups import TMP_PREFIX, BackupStore
from .database import check_integrity, connect, live_problem, open_readonly, refuse_linked_live
from .datadir import DataDir
from .digests import BLAKE3, SHA256, Algorithm, FollowingDigests, file_digests
from .errors import (
    DatabaseDamagedError,
    DatabaseInUseError,
    InvalidBackupError,
    JobMatcherError,
    RestoreFailedError,
    SafetyBackupMissingError,
)
from .fsutil import (
    PRIVATE_FILE,
    SIDE_SUFFIXES,
    WAL,
    NotOwnFileError,
    atomic_write_bytes,
    copy_range,
    describe_os_error,
    file_size,
    fsync_dir,
    fsync_file,
    not_own_file_error,
    private_opener,
    read_failed,
    read_small_file,
    remove_quietly,
    require_free_space,
    same_file,
    side_file,
)
from .lock import FileLock
from .manifest import (
    CHECKING,
    BackupRecord,
    BackupType,
    Manifest,
    ManifestNotOursError,
    file_stamp_of,
    manifest_path,
    read_manifest,
    remove_check_time,
    update_manifest,
)
from .openwatch import OpenWatch, openers_for_writing
from .printable import printable
from .progress import Progress, ignore
from .snapshot import LOCK_NOTICE_SECONDS, LOCK_WAIT_SECONDS
from .verify import check_file_shape, check_schema, checksum_refusal, sha256_file, verify_file

log = logging.getLogger(__name__)

# Tests only: do not start the background check of a linked safety backup (the test runs it itself).
NO_BACKGROUND_ENV = checklock.NO_BACKGROUND_ENV
# How long the swap waits for readers of the live file (`db check`, a backup's copy) to finish.
SWAP_WAIT_SECONDS = 60.0


class RestoreResult(BaseModel):
    source: str
    safety_backup_id: str | None
    safety_backup_verified: bool | None = None  # False: the data replaced was already damaged (kept anyway)
    # True: the safety backup is the old live file itself (hard link); its checksum and integrity check
    # run in the background after the restore, and the list shows it as "checking" until they are done.
    safety_backup_checking: bool = False
    # True: the data replaced held nothing of the user's (a new computer's empty database), so no safety
    # backup of it was kept (restore's `drop_safety_if`; W4)
    replaced_no_user_data: bool = False
    # a restore from a location into a fresh data folder (locations.recovery): a new computer's first restore,
    # and whether it now continues that data folder's copies (same id and list; the same key when encrypted)
    first_run: bool = False
    continues_copies: bool = False
    # True: that restore replaced the data folder's own encryption key, which had encrypted nothing yet, by the
    # copies' key (X9): the recovery key shown when it was made no longer applies
    key_replaced: bool = False
    # True: the restored backup was a safety backup changed after the restore that made it (Y7): what was
    # restored is its file as it was checked now, which cannot be proven to be the data from before that restore
    source_changed_after_restore: bool = False
    schema_revision: str
    migrated_from: str | None = None
    seconds: float
    phases: dict[str, float] = {}  # seconds of each step: check, safety, stage, migrate, swap, confirm
    relaunch_required: bool = True


def staged_path(data: DataDir) -> Path:
    """Where a restore stages the backup beside the live file (`jobmatcher.db.restoring`). Never raises."""
    return data.root / (data.db_path.name + ".restoring")


def replaced_path(data: DataDir) -> Path:
    """The second name the replaced live file has during a restore's swap (`jobmatcher.db.replaced`), so that
    the swap can be undone when another program opened it meanwhile (V16). Never raises."""
    return data.root / (data.db_path.name + ".replaced")


def _remove_with_sides(path: Path) -> None:
    for suffix in ("",) + SIDE_SUFFIXES:
        remove_quietly(side_file(path, suffix))


def _write_journal(
    data: DataDir, phase: str, source: str, safety: str | None, safety_path: str | None, linked: bool = False
) -> None:
    body = {
        "phase": phase,
        "source": source,
        "safety_backup_id": safety,
        "safety_path": safety_path,
        "safety_linked": linked,
        "pid": os.getpid(),
        "started": time.time(),
    }
    atomic_write_bytes(data.journal_path, json.dumps(body, indent=2).encode())


def _end_journal(data: DataDir) -> None:
    """Remove the journal durably: a removal that a power cut undoes would make the next launch treat a
    finished restore as interrupted (and a stale journal would keep its safety backup from retention)."""
    remove_quietly(data.journal_path)
    fsync_dir(data.root)


def restore(
    data: DataDir,
    store: BackupStore,
    source: Path,
    expected_sha256: str | None = None,
    label: str | None = None,
    progress: Progress | None = None,
    source_verified: bool = False,
    expected_blake3: str | None = None,
    sealed: bool = False,
    take_source: bool = False,
    drop_safety_if: Callable[[Path], bool] | None = None,
) -> RestoreResult:
    """Replace the live database with the backup file `source`. The caller holds the instance lock.

    `source_verified`: `source` is a listed backup whose manifest records a passed integrity check
    and `expected_sha256` (64 hex digits; and `expected_blake3` when its manifest has it); its checksum,
    computed while it is staged, then proves it is that file and the check is not repeated: BLAKE3 alone
    only when `sealed` (the manifest's seal holds: manifest.seal_holds, so the recorded SHA-256 is of the
    bytes whose BLAKE3 is recorded); without a holding seal, both recorded checksums must match, as
    `backup verify` requires (finding T1: an edited BLAKE3 beside the SHA-256 of other bytes proves
    nothing); SHA-256 alone for an older manifest without BLAKE3. Any other file is checked in full first,
    held to every checksum its manifest records in the same way. `progress` gets
    "check", "migrate" and "swap" as steps, "safety" in pages (a copied safety backup, then its check
    as "safety-verify"), "copy" in bytes (progress.py). The result's times are in seconds.

    `take_source`: `source` is the caller's own temp file in the data folder (a copy fetched from a backup
    location and decrypted there, a page's upload): once checked it is renamed into the staged name, not
    copied, and read back for its checksums, so the data folder's disk needs room for it and once more its
    size, not twice more (T16). A restore that stops before staging leaves it for the caller to remove.

    `drop_safety_if(path)`: asked of the safety backup's file once the restore has succeeded (read only); when
    True the safety backup is deleted rather than kept, and the result says `replaced_no_user_data` (W4: a
    disaster recovery over the empty database a new computer's launch made, proven empty by the safety file's
    own bytes). It is made all the same, first, as the way back if the restore fails; a kill before its
    deletion keeps it (as any restore's). Never asked about a safety backup that failed its check.

    Raises:
        LiveDatabaseLinkError: the live database is a symbolic link; nothing was touched.
        InvalidBackupError: `source` is not a sound backup this version can restore (or is the live
            database itself); nothing was touched.
        InsufficientSpaceError: less free space in the data folder than twice the backup's size (once its
            size with `take_source`: the file is there already).
        DatabaseInUseError: another program holds the live database; nothing was replaced.
        RestoreFailedError: a later step failed; `recovered` says whether the data was put back (from
            the safety backup, or as it was) or, when False, where the safety backup is.
        JobMatcherError: the safety backup could not be made (named: space, folder, permissions).
    """
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    mark = _PhaseClock(phases)
    label = label or str(source)
    say: Progress = progress or ignore

    refuse_linked_live(data.db_path)  # V5: before anything changes
    refuse_the_live_file(data, Path(source))
    say("check", 0, None, "steps")
    # raises InvalidBackupError: nothing touched. The backup's drive gone meanwhile is said as such (X7).
    try:
        size, revision, digest, proven_by_checksum = _check_source(
            source, expected_sha256, source_verified, expected_blake3, sealed
        )
    except (JobMatcherError, OSError) as e:
        trouble = source_trouble(e, source, store, "Your data was not changed.")
        if trouble is not None:
            raise trouble from e
        raise
    say("check", 1, 1, "steps")
    mark("check")
    # The staged copy and room beside it (a safety copy, an update of an older copy); a taken source already
    # occupies the staged copy's room
    if take_source:
        why = "the backup's size again, beside the copy already in the data folder"
        require_free_space(data.root, size, "restoring this backup", why=why, place="data-folder")
    else:
        require_free_space(
            data.root, 2 * size, "restoring this backup", why="twice the backup's size", place="data-folder"
        )

    live_exists = os.path.lexists(data.db_path)
    # The safety copy is the old live file itself, linked into the backup folder at the swap, when the
    # folder is on the same file system and the live file opens; otherwise a copy, made and checked first.
    sound = live_exists and live_problem(data.db_path) is None
    linked = sound and _can_link(data, store)
    safety = None
    watch = None  # reads the live data's version before the safety copy, to find commits made after it
    opens: OpenWatch | None = None
    opened: sqlite3.Connection | None = None
    if live_exists and not linked:
        # only a file SQLite reads as a database: an empty one would have its -wal deleted by SQLite on opening
        watch = _watch(data.db_path) if sound else None
        safety = _safety_backup(data, store, label, say)
        mark("safety")
    swap_lock = FileLock(data.swap_lock_path)
    staged_ok = swapped = False
    made: list = []  # the linked safety backup, once it exists
    migrated_from = None
    aside: list[Path] = []  # the folder the swap moved unreadable live files into, if it did
    try:
        journal = (label, safety.id if safety else None, safety.path if safety else None)
        _write_journal(data, "staging", *journal)
        if linked:  # who opens the live file from now until the swap (V16), found beside the staging copy
            opened = _open_live(data.db_path)  # ours, before the watch: every open it sees is another's
            opens = OpenWatch(data.db_path)
        staged = _stage(data, source, digest, say, take=take_source)
        if proven_by_checksum:
            # The schema guard on the bytes to be swapped in (a millisecond: the schema's pages only), not only
            # on the source read before staging, which a program writing the backup folder could swap meanwhile
            check_schema(staged)
        mark("stage")
        if revision != schema.head():
            say("migrate", 0, None, "steps")
            schema.upgrade(staged)
            migrated_from = revision
            _seal(staged)
            say("migrate", 1, 1, "steps")
            mark("migrate")
        staged_ok = True
        if linked:
            swapped = _swap_keeping_old(data, store, staged, swap_lock, say, label, made, opens, opened)
            safety = made[0]
        else:
            _write_journal(data, "staged", *journal)  # from here, a missing staged file means it was swapped in
            swapped = _swap(data, staged, swap_lock, say, aside, guard=True, watch=watch)
        mark("swap")
        # A file proven by its checksum to be one that passed integrity_check, copied and proven again,
        # needs no second full read; a migrated one was rewritten by SQLite and is checked.
        _confirm(data, full=migrated_from is not None or not proven_by_checksum)
        mark("confirm")
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        safety = safety or (made[0] if made else None)
        if not isinstance(e, DatabaseInUseError):  # refused before the swap, or the swap was undone (V16)
            swapped = swapped or (staged_ok and not staged_path(data).exists())
        if not swapped or safety is None:
            if swapped:  # nothing to go back to but what was there: take the restored file away again
                _undo_swap_without_safety(data, aside)
            _remove_with_sides(staged_path(data))
            _end_journal(data)
            if not swapped and safety is not None and watch is not None:
                # W7: the copy made for this restore of sound live data, which stays as it was (or newer, by the
                # program that refused it): a full-size copy per retry otherwise. After the journal's end, so a
                # kill in between keeps it, never leaves a journal naming a safety backup that is gone.
                _drop_unused_safety(store, safety.id)
            raise _as_failure(e, recovered=True, how="Your data was not changed.", source=source, store=store) from e
        try:
            _recover_from(data, Path(safety.path), safety.id, swap_lock, say)
        except BaseException as again:
            log.exception("recovery from the safety backup failed")
            raise RestoreFailedError(
                f"The restore failed ({_describe(e)}) and putting your data back from the safety backup "
                f"{safety.id} failed too ({_describe(again)}).",
                *_safety_hint(safety.id, safety.path, _restorable(safety.path, safety.verified)),
                recovered=False,
            ) from e
        raise _as_failure(
            e,
            recovered=True,
            how=f"Your data was put back from the safety backup {safety.id}; nothing was lost.",
            source=source,
            store=store,
        ) from e
    finally:
        if opens is not None:
            opens.close()
        if opened is not None:
            opened.close()  # closed by the swap already when it got that far
        if watch is not None:
            watch[0].close()  # closed by the swap already when it got that far
        swap_lock.release()
    # Its check lock is taken while the journal still names it: from the journal's end, a free lock on a
    # backup listed "checking" means its check is gone and may be taken over (checklock.py).
    check = _check_lock(store, safety.id) if linked and safety is not None else None
    drop = safety is not None and _holds_nothing(safety, drop_safety_if)
    _end_journal(data)
    if drop and safety is not None:
        # after the journal's end (a kill in between keeps it, as any restore's), under its check lock on the
        # linked path (no other process's check starts on it meanwhile)
        drop = _drop_unused_safety(store, safety.id)
        if drop:
            if check is not None:
                check.release()
                check = None
            safety = None
    if check is not None and safety is not None:
        _check_in_background(data, safety.id, check)
    log.info(
        "restored %s (safety backup %s) in %.2fs: %s",
        label,
        safety.id if safety else None,
        time.perf_counter() - t0,
        ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()),
    )
    say("done", 1, 1, "steps")
    return RestoreResult(
        source=label,
        safety_backup_id=safety.id if safety else None,
        safety_backup_verified=safety.verified if safety else None,
        safety_backup_checking=linked and safety is not None,
        replaced_no_user_data=drop,
        schema_revision=schema.head(),
        migrated_from=migrated_from,
        seconds=time.perf_counter() - t0,
        phases={k: round(v, 4) for k, v in phases.items()},
    )


class _PhaseClock:
    """Adds the seconds since the previous mark to `phases[name]`."""

    def __init__(self, phases: dict[str, float]) -> None:
        self.phases = phases
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now


def _can_link(data: DataDir, store: BackupStore) -> bool:
    """True when the live file can be hard-linked into the backup folder (same file system, links supported)
    and has no other name (a second name could write the safety backup later).

    Tried with a hidden temp name in the backup folder, removed at once (a name left by a kill
    is a dead temp file that the next cleanup removes; it is only a name, the data stays).
    """
    try:
        if os.lstat(data.db_path).st_nlink != 1:
            # another name of the live file elsewhere (a `cp -al` snapshot, a link made by hand) could write
            # the old file after the swap: the safety backup must be bytes nothing else writes, so a copy
            return False
    except OSError:
        return False
    try:
        store.ensure_folder()
    except JobMatcherError:
        return False
    probe = store.folder / f"{TMP_PREFIX}link-probe-{os.getpid()}"  # backups._LINK_PROBE: cleanup removes it
    try:
        remove_quietly(probe)
        os.link(data.db_path, probe)
        return True
    except OSError:
        return False
    finally:
        remove_quietly(probe)


def _swap_keeping_old(
    data: DataDir,
    store: BackupStore,
    staged: Path,
    swap_lock: FileLock,
    say: Progress,
    label: str,
    made: list,
    watch: OpenWatch | None = None,
    opened: sqlite3.Connection | None = None,
) -> bool:
    """The swap, with the old live file kept as the safety backup by a hard link into the backup folder.

    Under the swap lock and with the live file held exclusively (no other connection has it open,
    its -wal folded in, DELETE mode), the old file gets a second name, `backup_….db` with a manifest
    saying "checking", and the journal records it; only then is the staged file renamed over the
    live name. The link keeps the old inode: it *is* the old data, and nothing writes it again
    (the holding connection is closed after the rename without writing). Its checksum and
    integrity check follow in the background. If anything fails before the rename, the link and
    its manifest are removed again (they would otherwise be a second name of the live file).
    Appends the new safety backup's record to `made`; True once renamed.
    """
    say("swap", 0, None, "steps")
    _take_swap_lock(swap_lock)
    live = data.db_path
    holder = _take_live_exclusively(live, say, conn=opened)
    final = None
    replaced = False
    # A held temp lock tells cleanup() in other processes that a backup is being written here, so the
    # manifest reserved below (for a moment without its .db) is not taken for a leftover.
    _tmp, guard = store._reserve_temp()
    try:
        m = Manifest(
            type=BackupType.safety,
            created_at=datetime.now(timezone.utc),
            size_bytes=file_size(live),
            schema_revision=schema.revision_of(holder),
            app_version=__version__,
            note=f"Before restoring {printable(label)}",
            verified=None,
            verify_message=CHECKING,
            data_folder_id=data.folder_id(),
        )
        final = store.reserve_name(m)
        _write_journal(data, "staged", label, final.stem, str(final), linked=True)
        os.link(live, final)
        fsync_dir(store.folder)
        made.append(BackupRecord.from_manifest(final.stem, final, m))
        for suffix in SIDE_SUFFIXES:
            remove_quietly(side_file(live, suffix))
        old = os.stat(final)
        os.replace(staged, live)
        replaced = True
        fsync_dir(data.root)
        # the full scan only when the watch cannot rule it out (see openwatch.py: it costs 20-30 ms)
        if not (watch is not None and watch.clear()) and openers_for_writing(old):
            # A program opened the live name after the check and waits for our lock on the old file (V16).
            # Let go now, and its SQLite would read the old file but take the new file's -wal (found by name)
            # as its own; writing there, it would mix old pages into the new data. Put the old file back
            # under the live name instead (atomic), so that what it opened is the live data again.
            _note_in_journal(data, "undo", str(final))  # a kill from here on: recover() puts it back too
            os.replace(final, live)
            replaced = False
            fsync_dir(data.root)
            _unlink_safety(final)
            made.clear()
            raise _opened_meanwhile()
    except BaseException:
        if not replaced and final is not None:
            _unlink_safety(final)
            made.clear()
        raise
    finally:
        holder.close()  # releases the lock on the old file (now only the safety backup); writes nothing
        guard.release()
        remove_quietly(guard.path)
    _stamp_safety(final)
    say("swap", 1, 1, "steps")
    return True


def _stamp_safety(final: Path) -> None:
    """Record in the linked safety backup's manifest what tells its file from a changed one (file_stamp_of),
    as the swap left it: its check may run hours later (a killed one, taken over), and bytes another program
    wrote meanwhile must not be sealed as the data from before the restore (W6). Never raises: without it, the
    check goes by the bytes alone, as before."""
    try:
        stamp = file_stamp_of(final)

        def record(m: Manifest) -> None:
            m.file_stamp = stamp

        # its rename not made durable (a millisecond or more on the restore's path): a power cut that loses it
        # leaves the manifest as it was, the check then going by the bytes alone
        update_manifest(final, record, refresh=frozenset({"file_stamp"}))
    except Exception:  # noqa: BLE001 - the restore is done; only this extra proof is missing
        log.warning("could not record the file stamp of the safety backup %s", final.name, exc_info=True)


def _unlink_safety(final: Path) -> None:
    """Remove a linked safety backup that never became one (the swap did not happen): its name only."""
    remove_quietly(final)
    remove_quietly(manifest_path(final))
    remove_check_time(final)
    with contextlib.suppress(OSError):
        fsync_dir(final.parent)


def _check_lock(store: BackupStore, backup_id: str) -> checklock.CheckLock | None:
    """The new safety backup's check lock; None when it cannot be made (the check is then taken over by the
    next launch). No other check can hold it (the journal names the backup): at most a moment's probe
    (checklock.check_is_gone), waited for."""
    try:
        return checklock.take(store.folder, backup_id, timeout=5)
    except OSError as e:
        log.warning("could not take the check lock of the safety backup %s: %s", backup_id, e)
        return None


def _check_in_background(data: DataDir, backup_id: str, held: checklock.CheckLock) -> None:
    """Start `jobmatcher backup verify ID` on its own, handing it `held` (the backup's check lock): it computes
    the linked safety backup's checksum and integrity check and records them in its manifest (listed as
    "checking" until then). If it never finishes, the next launch (or `status`, or a copy to a backup
    location) finds its lock free and checks it (checklock.finish_interrupted_checks); restoring it
    meanwhile checks it in full first."""
    if os.environ.get(NO_BACKGROUND_ENV):
        held.release()
        return
    try:
        checklock.start_detached(data.root, backup_id, held)
    except OSError as e:
        log.warning("could not start the check of the safety backup %s: %s", backup_id, e)
    finally:
        held.release()  # nothing when handed over


def _holds_nothing(safety, drop_safety_if: Callable[[Path], bool] | None) -> bool:
    """Whether the caller's `drop_safety_if` holds of `safety`'s file (one whose check did not fail). Never
    raises: in doubt it is kept."""
    if drop_safety_if is None or safety.verified is False:
        return False
    try:
        return bool(drop_safety_if(Path(safety.path)))
    except Exception:  # noqa: BLE001 - in doubt, the safety backup is kept
        log.warning("could not tell whether the safety backup %s holds data; it is kept", safety.id, exc_info=True)
        return False


def _drop_unused_safety(store: BackupStore, backup_id: str) -> bool:
    """Delete the safety backup a restore made but need not keep: a refused restore's, of the live data it
    left as it was (W7), or one of data that held nothing of the user's (W4: drop_safety_if). JobMatcher's own
    file. Best effort: one that cannot be deleted is kept (logged). Returns whether it was deleted."""
    try:
        store.delete(backup_id)
        return True
    except Exception:
        log.warning("could not delete the unused safety backup %s; it is kept", backup_id, exc_info=True)
        return False


def _safety_backup(data: DataDir, store: BackupStore, label: str, say: Progress):
    """The verified safety backup of the live data; a raw byte copy, marked as failing its check, when SQLite
    cannot open the live file; None for something that is not a file at all (it is moved aside at the swap)."""
    db = data.db_path
    note = f"Before restoring {printable(label)}"
    try:
        problem = live_problem(db)
        if problem is None:
            try:
                return store.create(
                    db,
                    BackupType.safety,
                    note=note,
                    # its copy is the restore's "safety" phase, its check "safety-check"; a wait for another
                    # program's write is the "wait" every door shows as such (K3), not a "safety-wait" none knows
                    progress=lambda phase, d, t, unit: say(
                        "safety" if phase == "copy" else phase if phase == "wait" else f"safety-{phase}", d, t, unit
                    ),
                )
            except JobMatcherError:
                problem = _unopenable(db)
                if problem is None:
                    raise
        if not db.is_file():
            return None
        log.warning("the live database cannot be opened (%s): keeping a raw copy as the safety backup", problem)
        return store.create_raw_copy(
            db, BackupType.safety, note=note, reason=f"Your data could not be read when it was saved: it {problem}."
        )
    except JobMatcherError as e:
        raise RestoreFailedError(
            f"The restore did not run, because the safety backup of your current data could not be made: "
            f"{e.message} Your data was not changed.",
            e.hint or "Free up space or fix permissions in the backup folder, then try again.",
            e.page_hint,
            recovered=True,
            cause=e.code,
        ) from None


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


def source_trouble(
    e: BaseException, source: Path, store: BackupStore, how: str, recovered: bool = True
) -> JobMatcherError | None:
    """The words for a restore (or the check before it) that stopped because the backup being restored could no
    longer be read: its backup folder's drive unplugged, unmounted or failing (X7), not the data folder's fault,
    which the default words blamed ("check free space and permissions in the data folder"). None when the error
    is not about reading `source` (the caller's words stand). Never raises."""
    try:
        folder = Path(store.folder)
        in_folder = _inside(source, folder)
        if in_folder and store.chosen and not store.available():
            return RestoreFailedError(
                f"The restore stopped: your backup folder {folder} is no longer available (the drive holding "
                f"your backups was unplugged, or stopped answering). {how}",
                "Plug the drive back in (or check that it is mounted), then restore again.",
                recovered=recovered,
                cause="folder-unavailable",
            )
        if not isinstance(e, OSError) or not read_failed(e, source):
            return None
        what = e.strerror or str(e)
        where = f"your backup folder {folder}" if in_folder else f"{source.parent}"
        return RestoreFailedError(
            f"The restore stopped: the backup {source.name} could not be read from {where} ({what}): the drive "
            f"holding it may have been unplugged, or be failing. {how}",
            "Check that drive (plug it back in if it was unplugged), then restore again; if it keeps failing, "
            "restore another backup.",
            recovered=recovered,
            cause="backup-unreadable",
        )
    except Exception:  # noqa: BLE001 - in doubt, the caller's words
        return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)
    except ValueError:
        return False


def _describe(e: BaseException) -> str:
    if isinstance(e, JobMatcherError):
        return e.message
    if isinstance(e, OSError):
        return describe_os_error(e, "restoring", Path(e.filename or "")).message
    if isinstance(e, sqlite3.Error):  # SQLite's own words, not the name of a Python class (C2)
        return f"SQLite reported “{e}”"
    return f"{type(e).__name__}: {e}"


def _check_source(
    source: Path, expected_sha256: str | None, source_verified: bool, expected_blake3: str | None, sealed: bool
) -> tuple[int, str | None, dict[Algorithm, str], bool]:
    """The check of a restore's source (see restore()): its size, schema revision, the digests its staged copy
    must have, and whether the recorded checksum proves it (no full check). Raises InvalidBackupError."""
    proven_by_checksum = source_verified and bool(expected_sha256)
    if proven_by_checksum:
        size, _page_size = check_file_shape(source)
        revision = check_schema(source)
        digest: dict[Algorithm, str] = {SHA256: str(expected_sha256)}
        if expected_blake3:  # BLAKE3 alone only while the seal ties the recorded SHA-256 to it (T1)
            digest = {BLAKE3: expected_blake3} if sealed else {BLAKE3: expected_blake3, **digest}
    else:
        # BLAKE3 computed beside the check too: the staged copy is then proven by it (faster than SHA-256).
        report = verify_file(
            source,
            expected_sha256,
            expected_blake3=expected_blake3,
            with_blake3=True,
            every_checksum=True,  # both recorded checksums must hold, as for verify (H6, T1) ...
            sha256_sealed=sealed,  # ... proven by BLAKE3 alone while the seal ties them together
        )
        size, revision = report.size_bytes, report.schema_revision
        digest = {BLAKE3: report.blake3} if report.blake3 else {SHA256: report.sha256}
    return size, revision, digest, proven_by_checksum


def _as_failure(
    e: BaseException, recovered: bool, how: str, source: Path | None = None, store: BackupStore | None = None
) -> JobMatcherError:
    if source is not None and store is not None:
        trouble = source_trouble(e, source, store, how, recovered)
        if trouble is not None:
            return trouble
    if isinstance(e, (InvalidBackupError, DatabaseInUseError)):
        return e
    if isinstance(e, JobMatcherError) and e.hint:
        hint, page_hint = e.hint, e.page_hint
    else:
        hint, page_hint = "Check free space and permissions in the data folder, then try again.", None
    return RestoreFailedError(
        f"The restore failed: {_describe(e).rstrip('.')}. {how}",
        hint,
        page_hint,
        recovered=recovered,
        cause=e.code if isinstance(e, JobMatcherError) else "failed",
    )


def _restorable(path: str, verified: bool | None) -> bool:
    """Would a restore of this safety backup be accepted? Its recorded check, or (a linked copy still
    "checking") the check itself, run now: a hint must never send the user to a copy that is refused."""
    if verified is not None:
        return verified
    try:
        verify_file(Path(path))
    except (JobMatcherError, OSError):
        return False
    return True


def _safety_hint(safety_id: str, safety_path: str, verified: bool) -> tuple[str, str]:
    """What to do when the safety backup could not be put back, as (the command line's words, the page's);
    never advice that would be refused."""
    if verified:
        return (
            f"Your data is safe in the backup {safety_id}: restore it with "
            f"`jobmatcher backup restore {safety_id}` once the problem is fixed.",
            f"Your data is safe in the backup {safety_id} (a Safety backup in the list): restore it once the "
            "problem is fixed.",
        )
    kept = (
        f"Your previous data is kept, exactly as it was, in {safety_path} (it did not pass its check, so "
        "it cannot be restored as it is). Restore your newest backup that passed its check, and keep that "
        "file for a data-recovery tool."
    )
    return kept, kept


def refuse_the_live_file(data: DataDir, source: Path) -> None:
    """Refuse the live database itself (or a hard link to it) as a backup file.

    Raises InvalidBackupError (reason "is-live-database") for the live file or a hard link to it;
    nothing else (a missing or unreadable `source` is left to the checks that name it).

    Restoring it over itself would destroy what it restores, and checking it as a backup would read
    a file that is being written (use `db check` for the live data).
    """
    try:
        src, live = os.stat(source), os.stat(data.db_path)
    except (OSError, ValueError):
        return  # no live file, or the source is refused with its own reason by the checks
    if (src.st_dev, src.st_ino) == (live.st_dev, live.st_ino):
        raise InvalidBackupError(
            f"{source} is your live database itself (the same file), not a backup of it.",
            "Choose a backup file, or a backup from the list (to check your live data, run `jobmatcher db check`). "
            "Your current data has not been changed.",
            "Choose a backup file, or a backup from the list. Your current data has not been changed.",
            reason="is-live-database",
        )


def _stage(
    data: DataDir, source: Path, expected: dict[Algorithm, str], say: Progress, seal: bool = True, take: bool = False
) -> Path:
    """Copy `source` next to the live file and prove it is the file that was verified: the copy's digest in
    each algorithm of `expected` (digests.py: {algorithm: hex}) must be the one given there. With `take`,
    `source` (a temp file of the caller's in the data folder) is renamed to the staged name instead and
    read back for its digests: no second copy on the data folder's disk.

    The copy is hashed as it is written: the kernel copies (copy_file_range) in this thread while
    another reads back and hashes each chunk of the copy just written (from the page cache,
    on the other core: _copy_hashed), so the checksum proves the staged bytes themselves. The copy's fsync
    runs beside the end of the hashing. `seal` switches the copy to WAL mode with nothing
    beside it (a restore); without it the copy stays byte for byte the source (putting a
    safety backup back).
    """
    staged = staged_path(data)
    _remove_with_sides(staged)
    moved = False
    if take:
        size = os.path.getsize(source)
        try:
            os.replace(source, staged)  # the data folder's own disk: a rename, never a copy
            moved = True
        except OSError as e:
            if e.errno != errno.EXDEV:  # another file system (a mount inside the data folder): copied after all
                raise
    if moved:
        os.chmod(staged, PRIVATE_FILE)
        fsync_dir(data.root)
        found = file_digests(staged, tuple(expected))
        say("copy", size, size, "bytes")
    else:
        found = _copy_hashed(source, staged, say, tuple(expected))
    want = {a: v.lower() for a, v in expected.items()}
    if found != want:
        if len(want) == 2 and any(found.get(a) == v for a, v in want.items()):
            # one recorded checksum matches, the other not: the manifest was edited, as verify says it (L14)
            raise checksum_refusal(source, found, want.get(SHA256), want.get(BLAKE3))
        # Either the file changed since its check (its manifest's checksum, when that is what proves it)
        # or while it was copied: refused the same way, nothing live was touched.
        raise InvalidBackupError(
            f"The backup {source.name} has changed since it was checked (its checksum does not match): it may "
            "be damaged, or something is writing to it.",
            "Use another backup, or make sure nothing else is writing to it and try again. Your current data "
            "has not been changed.",
            reason="checksum-mismatch",
        )
    if seal:
        _seal(staged)
    return staged


def _copy_hashed(
    source: Path, dest: Path, say: Progress, algorithms: tuple[Algorithm, ...] = (SHA256,)
) -> dict[Algorithm, str]:
    """Copy `source` to `dest`, fsync it, and return the digests ({algorithm: hex}) of what was written to
    `dest`, in each of `algorithms`: each chunk the kernel copies is read back and hashed on another thread
    (digests.FollowingDigests, as a new backup's copy) while the next is copied; the fsync runs beside the
    end of the hashing. Raises OSError as copying, syncing or reading back reports it."""
    size = os.path.getsize(source)
    with FollowingDigests(dest, algorithms) as digests:
        with open(source, "rb") as src, open(dest, "wb", opener=private_opener) as out:

            def progress(done: int) -> None:
                out.flush()  # the buffered fallback's bytes: in the file before they are read back
                digests.ready(done)
                say("copy", done, size, "bytes")

            copy_range(src.fileno(), 0, out, size, progress, src_name=source)
            out.flush()
            os.fsync(out.fileno())
        return digests.result()


def _seal(staged: Path) -> None:
    """Switch the staged copy to WAL mode with no -wal left beside it, and fsync it."""
    conn = sqlite3.connect(staged, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # the last connection folds the -wal in and deletes it
    for suffix in SIDE_SUFFIXES:
        if file_size(side_file(staged, suffix)):
            raise JobMatcherError("The restored copy could not be sealed.", "Try again.", code="seal-failed")
        remove_quietly(side_file(staged, suffix))
    fsync_file(staged)


def _undo_swap_without_safety(data: DataDir, aside: list[Path]) -> None:
    """After a failed restore with no safety backup (no data before, or only files set aside): remove the
    restored file (ours) and move what was set aside back, so the folder is exactly as before."""
    _remove_with_sides(data.db_path)
    for folder in aside:
        for entry in os.listdir(folder):
            os.rename(folder / entry, data.root / entry)
        os.rmdir(folder)
    fsync_dir(data.root)


def _take_swap_lock(swap_lock: FileLock) -> None:
    """Hold the swap lock (readers of the live file hold it shared: `db check`, a backup's copy), waiting up to
    SWAP_WAIT_SECONDS. Raises JobMatcherError (code "reader-active") when another command still holds it."""
    if not swap_lock.acquire(timeout=SWAP_WAIT_SECONDS):
        raise JobMatcherError(
            "Another JobMatcher command is still reading the database.",
            "Wait for it to finish (for example a backup), then try again.",
            code="reader-active",
        )


def _swap(
    data: DataDir,
    staged: Path,
    swap_lock: FileLock,
    say: Progress,
    aside: list[Path] | None = None,
    guard: bool = False,
    watch: tuple[sqlite3.Connection, int] | None = None,
) -> bool:
    """Rename `staged` over the live database, with no stale -wal/-shm surviving; True once renamed.

    With `guard` (a restore), a program that opened the live name while it was held is looked for after the
    rename, and the old file put back if one did (as _swap_keeping_old does; it keeps a second name of the
    old file in the data folder until then, where the file system has hard links). `watch` (from _watch,
    opened before the safety copy): the connection that holds the live file, refused when the data changed
    since (DatabaseInUseError, nothing changed).

    Raises DatabaseInUseError (nothing changed) when another connection has the live file open.
    """
    say("swap", 0, None, "steps")
    _take_swap_lock(swap_lock)
    live = data.db_path
    holder = None
    if os.path.lexists(live):
        if live_problem(live) is None:
            try:
                holder = _take_live_exclusively(live, say, watch)
            except sqlite3.DatabaseError as e:  # damaged beyond what SQLite can open: nothing can be using it
                log.warning("the live database cannot be opened (%s); setting it aside", e)
    if holder is None:  # unreadable, or missing with side files left: keep them all, delete none
        folder = _set_aside(data, [live] + [side_file(live, x) for x in SIDE_SUFFIXES])
        if folder is not None:
            log.warning("set the unreadable live database (or its leftover files) aside in %s", folder)
            if aside is not None:
                aside.append(folder)
    keep = replaced_path(data)
    kept = False
    try:
        if guard and holder is not None:
            remove_quietly(keep)
            # a kill from here on (the journal says "staged"): recover() removes it
            try:
                os.link(live, keep)
                kept = True
            except OSError as e:  # no hard links here (FAT): the opener can be found, not undone
                log.warning("could not keep a second name of the replaced database: %s", e)
        old = os.stat(live) if guard and holder is not None else None
        for suffix in SIDE_SUFFIXES:
            remove_quietly(side_file(live, suffix))
        os.replace(staged, live)
        fsync_dir(data.root)
        if old is not None and (openers := openers_for_writing(old)):
            # V16, as in _swap_keeping_old: the program's SQLite would take the new file's -wal as its own
            if not kept:
                log.error("programs %s opened the database during the restore; it could not be undone", openers)
            else:
                _note_in_journal(data, "undo", str(keep))
                os.replace(keep, live)
                kept = False
                fsync_dir(data.root)
                raise _opened_meanwhile()
    finally:
        if kept:
            remove_quietly(keep)  # made durable by the journal's end (the data folder's fsync)
        if holder is not None:
            holder.close()  # releases the lock on the file just replaced; touches no file by name
    say("swap", 1, 1, "steps")
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
    _note_in_journal(data, "set_aside", str(folder))  # a restore killed now puts the files back (recover)
    for p in present:
        os.rename(p, folder / p.name)
    fsync_dir(folder)
    fsync_dir(data.root)
    return folder


def _note_in_journal(data: DataDir, key: str, value: str) -> None:
    try:
        body = json.loads(read_small_file(data.journal_path))
    except (OSError, ValueError):
        return
    body[key] = value
    atomic_write_bytes(data.journal_path, json.dumps(body, indent=2).encode())


def _put_set_aside_back(data: DataDir, folder: Path) -> None:
    """Undo `_set_aside` for a restore that never swapped: its files go back to their names (never over a file)."""
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return
    for entry in entries:
        if not os.path.lexists(data.root / entry):
            os.rename(folder / entry, data.root / entry)
    try:
        os.rmdir(folder)
    except OSError:
        pass  # something could not go back: it stays where it is, never deleted
    fsync_dir(data.root)


IN_USE_WAIT_MS = 2000  # how long another program's read may take before the swap is refused


def _in_use() -> DatabaseInUseError:
    return DatabaseInUseError(
        "Another program has JobMatcher's database open, so it cannot be replaced safely: that program "
        "would go on using the old data, and its next changes would be lost.",
        "Close every other program using JobMatcher's data (a database browser, a sync tool, a script), "
        "then try again. Your data was not changed.",
    )


def _opened_meanwhile() -> DatabaseInUseError:
    return DatabaseInUseError(
        "Another program opened JobMatcher's database during the restore, so the restore was undone: that "
        "program would have gone on using the old data, and its changes would have been lost or mixed into "
        "the restored data.",
        "Close every other program using JobMatcher's data (a database browser, a sync tool, a script), "
        "then try again. Your data was not changed.",
    )


def _watch(live: Path) -> tuple[sqlite3.Connection, int] | None:
    """A connection to the live file and its `PRAGMA data_version` now (None when SQLite cannot read it).

    Opened before a safety copy: at the swap, holding the file exclusively, the same connection reads the
    version again, and a difference means another program committed after the copy (V16: such commits were
    in neither the copy nor the restored data). It holds no lock between its statements in rollback mode and
    a shared one in WAL mode, which blocks no other program's reads or writes."""
    try:
        conn = sqlite3.connect(live, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        return conn, conn.execute("PRAGMA data_version").fetchone()[0]
    except sqlite3.Error:
        conn.close()
        return None


def _changed_meanwhile() -> DatabaseInUseError:
    return DatabaseInUseError(
        "Another program changed JobMatcher's data during the restore, after its safety backup was made, so the "
        "restore was stopped: those changes would have been lost.",
        "Close every other program using JobMatcher's data (a database browser, a sync tool, a script), "
        "then try again. Your data was not changed.",
    )


def _open_live(live: Path) -> sqlite3.Connection:
    """A connection to the live file, opened (its descriptor) but not yet used: no lock, nothing read."""
    return sqlite3.connect(live, isolation_level=None, timeout=LOCK_NOTICE_SECONDS, check_same_thread=False)


def _take_live_exclusively(
    live: Path,
    say: Progress = ignore,
    watch: tuple[sqlite3.Connection, int] | None = None,
    conn: sqlite3.Connection | None = None,
) -> sqlite3.Connection:
    """Fold the live -wal in and hold the live file exclusively; refuse while any other connection has it open.

    Another program's write transaction is waited for (at most LOCK_WAIT_SECONDS, as a backup waits);
    a wait longer than LOCK_NOTICE_SECONDS is said (`say`: phase "wait", then "swap" again), never silent (K3).

    In WAL mode every connection that has read the database keeps a shared lock on it, even
    when idle, so an exclusive lock (locking_mode=EXCLUSIVE) is granted only when no other
    connection, in this process or another, has the file open. The returned connection
    keeps that lock until it is closed, after the rename: nobody can start reading the old
    file in between. Switching it to DELETE mode folds the -wal in and removes it.

    `watch` (from _watch): that connection is the one used, and DatabaseInUseError is raised when the data
    changed since its version was read. `conn` (from _open_live): that connection is the one used.
    """
    if watch is not None:
        conn, version = watch
        conn.execute(f"PRAGMA busy_timeout={int(LOCK_NOTICE_SECONDS * 1000)}")
    elif conn is None:
        conn = _open_live(live)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:  # another program is writing (or reading an old snapshot): wait for it, saying so
            say("wait", 0, None, "steps")
            conn.execute(f"PRAGMA busy_timeout={int((LOCK_WAIT_SECONDS - LOCK_NOTICE_SECONDS) * 1000)}")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            say("swap", 0, None, "steps")
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
        if file_size(side_file(live, WAL)):
            raise _in_use()
        if watch is not None and conn.execute("PRAGMA data_version").fetchone()[0] != version:
            raise _changed_meanwhile()
        return conn
    except BaseException:
        conn.close()
        raise


def _confirm(data: DataDir, full: bool = True) -> None:
    """Open the new live database as the app will and check it (`full`: with quick_check; without, its
    schema and revision only, for a file whose checksum proved it is one that passed integrity_check)."""
    conn = connect(data.db_path)
    try:
        problems = (
            [r[0] for r in conn.execute("PRAGMA quick_check")]
            if full
            else (conn.execute("SELECT count(*) FROM sqlite_master").fetchone() and ["ok"])
        )
        revision = schema.revision_of(conn)
    finally:
        conn.close()
    if problems != ["ok"] or revision != schema.head():
        raise JobMatcherError(
            f"The restored database did not pass its check ({'; '.join(problems[:2])}).",
            "Try another backup.",
            code="restored-check-failed",
        )


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
    staged = _stage(data, safety, {SHA256: expected}, say, seal=False)
    _swap(data, staged, swap_lock, say)
    if sha256_file(data.db_path) != expected:
        raise JobMatcherError(
            "The safety backup put back is not identical to the one that was made.",
            f"Restore the safety backup {safety_id} again.",
            code="recovery-mismatch",
            id=safety_id,
        )
    _end_journal(data)


def _missing_safety(data: DataDir, safety: Path, safety_id: str) -> SafetyBackupMissingError:
    return SafetyBackupMissingError(
        f"An interrupted restore needs the safety backup {safety_id or safety.name} to put your data back, "
        f"but that file is gone: {safety} does not exist.",
        "If it is on a drive that is not connected, connect it and start JobMatcher again. Otherwise restore "
        "another backup (`jobmatcher backup list`, then `jobmatcher backup restore ID`); the data in place now "
        "is what the interrupted restore left.",
        "If it is on a drive that is not connected, connect it and open JobMatcher again. Otherwise restore "
        "another backup from the list below; the data in place now is what the interrupted restore left.",
        path=str(safety),
    )


def pending_recovery_backup(data: DataDir) -> Path | None:
    """The safety backup an interrupted restore still needs to finish or undo, if any (read-only).
    Never raises (an unreadable journal: None)."""
    try:
        journal = json.loads(read_small_file(data.journal_path))
    except (OSError, ValueError):
        return None
    path = journal.get("safety_path") if isinstance(journal, dict) else None
    return Path(path) if isinstance(path, str) and path else None


def interrupted_restore(data: DataDir) -> bool:
    """Whether a restore's journal is there while the process that wrote it is gone: a restore stopped before it
    finished (killed, a power cut), which the next launch finishes or undoes (C8: `status` said nothing of it).
    A journal without a readable pid counts as interrupted. Read-only; never raises."""
    try:
        journal = json.loads(read_small_file(data.journal_path))
    except FileNotFoundError:
        return False
    except NotOwnFileError:
        return False  # D12: a pipe or folder at its name is no journal (the launch names it)
    except (OSError, ValueError):
        return True
    pid = journal.get("pid") if isinstance(journal, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True
    from .fsutil import process_gone

    return process_gone(pid)


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
    """Finish or undo a restore that a killed process left half done; say what was done (instance lock held).

    Returns None when no restore was interrupted.

    Raises:
        DatabaseDamagedError: the restored file is in place but fails its check, and there is no safety
            backup to go back to.
        SafetyBackupMissingError: the safety backup the journal names is gone.
        JobMatcherError / OSError: the safety backup cannot be put back (named when known); the journal
            stays, so the next launch tries again.
    """
    try:
        journal = json.loads(read_small_file(data.journal_path))
    except FileNotFoundError:
        return None
    except NotOwnFileError as e:
        # D12: a pipe, device or folder at the journal's name is no journal a restore wrote: never taken for an
        # interrupted restore, never deleted (JobMatcher deletes only what it made); named, with what to do
        raise not_own_file_error(e, "opening the data folder", data.journal_path) from None
    except (OSError, ValueError):
        journal = {"phase": "staged"}  # unreadable: decide by the staged file alone
    staged = staged_path(data)
    swap_lock = FileLock(data.swap_lock_path)
    linked = journal.get("safety_linked") is True and isinstance(journal.get("safety_path"), str)
    undo = journal.get("undo")
    if isinstance(undo, str) and os.path.lexists(undo) and not same_file(undo, data.db_path):
        # Killed while undoing a swap another program's opener made unsafe (V16): the old file goes back.
        os.replace(undo, data.db_path)
        fsync_dir(data.root)
    if isinstance(undo, str) and Path(undo) == replaced_path(data):
        remove_quietly(Path(undo))
        journal = {**journal, "phase": "undone"}
    elif isinstance(undo, str):
        _unlink_safety(Path(undo))
        journal = {**journal, "phase": "undone", "safety_path": None, "safety_backup_id": None}
        linked = False
    remove_quietly(replaced_path(data))  # the old file's second name during a swap: the data is elsewhere too
    if linked and same_file(journal["safety_path"], data.db_path):
        # Killed after the old live file was linked into the backup folder but before the swap: that
        # name is the live file itself, not a safety backup. Remove the name (the data stays).
        _unlink_safety(Path(journal["safety_path"]))
        journal = {**journal, "safety_path": None, "safety_backup_id": None}
    try:
        if journal.get("phase") == "recover" and journal.get("safety_path"):
            _remove_with_sides(staged)
            _recover_from(
                data, Path(journal["safety_path"]), journal.get("safety_backup_id") or "", swap_lock, lambda *a: None
            )
            message = "An interrupted restore was rolled back to the safety backup made before it."
        elif journal.get("phase") != "staged" or staged.exists():
            _remove_with_sides(staged)
            if isinstance(journal.get("set_aside"), str):  # killed after setting unreadable files aside
                _put_set_aside_back(data, Path(journal["set_aside"]))
            message = "An interrupted restore was undone; your data is as it was before it."
        else:
            message = "An interrupted restore had already put the backup in place; it is complete."
            bad = _live_fails_its_check(data.db_path)
            if bad and not journal.get("safety_path"):
                raise DatabaseDamagedError(
                    "An interrupted restore put a backup in place that does not pass its check, and there is "
                    "no safety backup to go back to.",
                    "Restore another backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.",
                    "Restore another backup from the list below.",
                )
            if bad:
                _recover_from(
                    data,
                    Path(journal["safety_path"]),
                    journal.get("safety_backup_id") or "",
                    swap_lock,
                    lambda *a: None,
                )
                message = "An interrupted restore was rolled back to the safety backup made before it."
    finally:
        swap_lock.release()
    _end_journal(data)
    if linked and journal.get("safety_path") and Path(journal["safety_path"]).exists():
        _finish_linked_check(Path(journal["safety_path"]), data)
    log.warning(message)
    return message


def _finish_linked_check(safety: Path, data: DataDir) -> None:
    """The check a killed restore left undone on its linked safety backup (still "checking"): run it now.

    Its manifest also gets this data folder's id if it has none (one made by a version that left it out):
    the journal of this data folder names it, so it is this folder's copy, listed and cleaned up as such.
    """
    m = read_manifest(safety)
    if m is None:
        return
    if not m.data_folder_id and (fid := data.folder_id()):

        def stamp(x: Manifest) -> None:
            x.data_folder_id = x.data_folder_id or fid

        try:
            update_manifest(safety, stamp)
        except (OSError, ManifestNotOursError) as e:
            log.warning("could not record the data folder's id in %s: %s", safety, e)
    if m.verified is not None:
        return
    try:
        BackupStore(safety.parent).verify(safety.stem)
    except JobMatcherError as e:  # recorded in its manifest by verify; the launch goes on
        log.warning("the safety backup %s did not pass its check: %s", safety.stem, e.message)
