"""The backup folder: creating, listing, verifying, pinning, deleting and pruning backups.

A backup is `backup_YYYY-MM-DD_HH-MM-SS[_N].db` (UTC) with its manifest
`….json` beside it; its id is the file name without `.db`. Files being
written are hidden (`.tmp-…`) and published by rename only once complete,
fsynced and verified, so a listed backup is never partial.
"""

from __future__ import annotations

import builtins  # `list` is also a method name in BackupStore
import logging
import os
import re
import sqlite3
import stat as stat_module
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from . import __version__
from .errors import (
    BackupFailedError,
    BackupNotFoundError,
    CheckInterruptedError,
    DiskError,
    InvalidBackupError,
    JobMatcherError,
    NewerSchemaError,
    ValidationError,
)
from .fsutil import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    SIDE_SUFFIXES,
    WAL,
    copy_range,
    describe_os_error,
    describe_sqlite_error,
    file_size,
    fsync_dir,
    fsync_file,
    hold_free_space,
    make_dirs,
    process_gone,
    read_failed,
    remove_dead_temp_files,
    remove_quietly,
    require_free_space,
    same_file,
    side_file,
)
from .listing import (  # the read side, without pydantic (`backup list`)
    FOLDER_MARKER as FOLDER_MARKER,
)
from .listing import (
    LINK_NOT_LISTED,
    OWN_NAME,
    VERIFIED_MARK,
    BackupFolder,
    _marker_tokens,
    is_own_backup,
    listable_name,
    live_link_hint,
    live_link_page_hint,
    live_link_sentence,
    not_listed_because,
    read_verified,
)
from .listing import (
    unavailable_error as unavailable_error,
)
from .lock import FileLock
from .manifest import (
    CHANGED_AFTER_RESTORE,
    CHECK_TIME,
    MANIFEST_LOCK_NAME,
    MAX_SEQUENCE,
    BackupRecord,
    BackupType,
    Manifest,
    ManifestNotOursError,
    check_outcome,
    file_stamp_of,
    is_jobmatcher_manifest,
    is_location_manifest,
    load_manifest_file,
    manifest_path,
    newest_order,
    read_manifest,
    remove_check_time,
    seal_holds,
    seal_of,
    update_manifest,
    write_manifest,
)
from .printable import unprintable
from .progress import Progress
from .schema import is_known

# Sequences grow by one per backup: two kept backups never lie 2**32 apart (a backup a second for 136 years)
SEQUENCE_GAP = 2**32


def in_pattern_top(sequences: Iterable[int | None]) -> int:
    """The highest of `sequences` reached from 0 in steps of at most SEQUENCE_GAP (0 for none): a sequence above
    a larger jump is out of pattern, planted or damaged (finding U9), and does not count. None is skipped.
    Never raises."""
    top = 0
    for seq in sorted(s for s in sequences if s):
        if seq - top > SEQUENCE_GAP:
            break
        top = seq
    return top


if TYPE_CHECKING:
    from . import checklock, checkproc
    from .digests import FollowingDigests
    from .fileshape import StartedCheck
    from .retention import Plan, RetentionPolicy
    from .snapshot import LockWait
    from .verify import VerifyReport

# Imported where used: the snapshot, the check (and its child process), retention. Listing needs none of
# them, and `backup list` with 1,000 backups has 150 ms for everything (tests/test_cli_ux.py keeps it so).

log = logging.getLogger(__name__)

# progress (progress.Progress): "copy" counts pages, "verify" is a step (the check in its child process)

TMP_PREFIX = ".tmp-"
# Check refusals that are no verdict on the file: it could not be read (a disk error, a file that cannot be
# opened now). The manifest keeps its earlier result for these (T8).
_NOT_A_VERDICT = ("read-error", "unreadable")
# A check's fields that alone need not survive a power cut: its time, when the verdict recorded stays the same
# (verified before, verified now). A new verdict (failed, a first check, another message) is always durable. Such
# a time goes to the check-time file beside the manifest (`<id>.verified`, manifest.write_check_time), not into it.
_REFRESH = CHECK_TIME
_OWN_MANIFEST = re.compile(r"^backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(?:_[0-9]{1,3})?\.json\Z")
_TEMP = re.compile(r"^\.tmp-(?P<token>[0-9]+-[0-9]+)(?:\.lock|\.db(?:-wal|-shm|-journal)?)\Z")
# a check's lock (checklock.lock_path), left by a killed check: removed once free and its backup is gone
_CHECK_LOCK = re.compile(r"^\.jobmatcher-check-(?P<id>backup_[0-9A-Za-z_-]+)\.lock\Z")
_LINK_PROBE = re.compile(r"^\.tmp-link-probe-(?P<pid>[0-9]+)\Z")  # restore's hard-link probe (restore._can_link)
_CHECK_TIME = re.compile(r"^(?P<id>[^.].*)\.verified\Z", re.DOTALL)  # a check's time (listing.VERIFIED_SUFFIX)
_STALE_ORPHAN_SECONDS = 3600


OTHER_FOLDER = "another data folder's backup (never deleted here)"
UNREADABLE = "its manifest is unreadable (never deleted automatically)"
NOT_OUR_NAME = "not named as JobMatcher names its backups (never deleted automatically)"


def _not_own_reason(r: BackupRecord) -> str:
    """Why retention leaves a listed backup alone (see is_own_backup)."""
    if r.manifest == "unreadable":
        return UNREADABLE
    if r.manifest == "missing" or r.added_by_hand:
        from .retention import BY_HAND

        return BY_HAND
    if not r.owned:
        return OTHER_FOLDER
    return NOT_OUR_NAME


def backup_name(when: datetime) -> str:
    """The id for a backup made at `when` (aware; a naive one is taken as local time): backup_YYYY-MM-DD_HH-MM-SS
    in UTC. Never raises."""
    return "backup_" + when.astimezone(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S")


class CreatedBackup(BackupRecord):
    copy_seconds: float  # the consistent copy (not its flush to disk, which runs beside the check)
    verify_seconds: float  # the check, the SHA-256 and the flush to disk, side by side
    wait_seconds: float = 0.0  # waiting first for another program's write transaction to end (not in copy_seconds)
    wait_gave_up: bool = False  # True: that program was still writing when the wait ended (LockWait.gave_up)
    method: str
    # The check's child process (large files only): its peak resident memory in MB, of which file-backed
    # (the memory-mapped backup: page cache shared with the kernel) and anonymous. Empty when in-process.
    check_memory: dict[str, float | None] = {}
    unchanged: bool = False  # True: no new file; the snapshot was identical to this existing backup


class _Checked:
    """The outcome of checking a new backup: passed, or (safety copies only) kept although it failed. (A plain
    class: a dataclass's generated functions would be compiled in every process that imports this module.)"""

    __slots__ = ("ok", "size_bytes", "sha256", "schema_revision", "seconds", "message", "memory", "blake3", "sealable")

    def __init__(
        self,
        ok: bool,
        size_bytes: int,
        sha256: str,
        schema_revision: str | None,
        seconds: float,
        message: str,
        memory: dict | None = None,
        blake3: str | None = None,
        sealable: bool = False,  # sha256 and blake3 are of the same bytes (VerifyReport.sealable)
    ) -> None:
        self.ok = ok
        self.size_bytes = size_bytes
        self.sha256 = sha256
        self.schema_revision = schema_revision
        self.seconds = seconds
        self.message = message
        self.memory: dict = memory if memory is not None else {}
        self.blake3 = blake3
        self.sealable = sealable

    @classmethod
    def passed(cls, r: VerifyReport) -> "_Checked":
        return cls(
            True, r.size_bytes, r.sha256, r.schema_revision, r.seconds, "ok", r.check_memory, r.blake3, r.sealable
        )

    @classmethod
    def failed(cls, path: Path, message: str, seconds: float) -> "_Checked":
        from .digests import BLAKE3, SHA256, file_digests

        found = file_digests(path, (SHA256, BLAKE3))  # one read: both of the same bytes, so it is sealed too
        return cls(False, path.stat().st_size, found[SHA256], None, seconds, message, {}, found[BLAKE3], True)


def write_folder_marker(folder: Path, token: str) -> None:
    """Mark a chosen backup folder as the one chosen: an unmounted drive's empty mount point lacks it.

    One token per line after the first: several data folders may share one backup folder, and
    choosing it for one must not make it "unavailable" for the others. Written atomically.

    Raises:
        OSError: the marker cannot be written (no such folder, no permission, a full disk); the old
            marker, if any, is left as it was.
    """
    from .fsutil import atomic_write_bytes

    tokens = [t for t in _marker_tokens(folder) if t != token] + [token]
    atomic_write_bytes(
        Path(folder) / FOLDER_MARKER,
        (
            "JobMatcher keeps backups in this folder. Do not delete this file.\n" + "".join(f"{t}\n" for t in tokens)
        ).encode(),
    )


def live_database_file(path: Path) -> bool:
    """True for a file that is (or may be) somebody's live database, never a backup: one named `jobmatcher.db`
    (a data folder's live file), or one with a -wal or -shm beside it (a database some program has open
    in WAL mode). The backup store never lists, restores, deletes or prunes it, whatever folder it is in.
    Never raises (an unreadable folder counts as no side files).
    """
    return not_listed_because(path.name, lambda n: os.path.lexists(path.parent / n)) is not None


class BackupStore(BackupFolder):
    """One backup folder, seen from one data folder: listing (listing.BackupFolder, with rows as BackupRecord
    models), creating, verifying, pinning, deleting and pruning.

    `chosen=True` for a folder the user chose (not the default inside the data folder): it is
    never created, and with `token` it must hold the marker file written when it was chosen;
    otherwise it is "unavailable" (BackupFolderUnavailableError) for listing and for writing.
    With `data` (the data folder being backed up) every record says whether it is this data
    folder's (`owned`); backups are stamped with its id; the live database is never listed.
    Without it (tests, tools) every backup with a manifest counts as owned.
    """

    # the same list, its rows typed as the models they are here
    def list(
        self, now: datetime | None = None, skipped: builtins.list[str] | None = None
    ) -> builtins.list[BackupRecord]:
        """listing.BackupFolder.list: every published backup, newest first (read-only), as BackupRecord.
        Raises as that does."""
        return super().list(now, skipped)

    def _manifest(self, path: str) -> tuple[dict | None, str]:
        m, state = load_manifest_file(path, shared=True)  # only read: copied into the record
        return (None if m is None else m.__dict__), state

    def _unlisted(self, fields: dict) -> dict:
        return Manifest(**fields).__dict__

    def _row(self, values: dict) -> BackupRecord:
        return BackupRecord.trusted(values)

    def get(self, backup_id: str) -> BackupRecord:
        """The backup with exactly this id (as list() shows it); anything else (a path, `..`, a glob) is refused.

        Raises:
            ValidationError: `backup_id` is not shaped like an id (a path, `..`, a glob, too long).
            BackupFolderUnavailableError: a chosen folder that is not there (an unplugged drive): said as
                such, not as "no backup with the id" (K7), as list() does.
            BackupNotFoundError: no regular file of that id here (or it is the live database).
            JobMatcherError: the folder cannot be read (named by describe_os_error: permission, I/O error).
        """
        if not isinstance(backup_id, str) or not (
            listable_name(f"{backup_id}.db") or listable_name(f"{unprintable(backup_id)}.db")
        ):
            raise ValidationError(
                f"{backup_id!r} is not a backup id.",
                "Use an id exactly as `jobmatcher backup list` shows it.",
                "Reload the page, then choose the backup from the list.",
            )
        self.require_available()
        if "\\" in backup_id and not (
            listable_name(f"{backup_id}.db") and os.path.lexists(self.folder / f"{backup_id}.db")
        ):
            raw = unprintable(backup_id)  # the id as `backup list` printed it, its control characters escaped (K5)
            if raw != backup_id and listable_name(f"{raw}.db"):
                backup_id = raw
        path = self.folder / f"{backup_id}.db"
        try:
            st = path.lstat()  # lstat: a symlink is not a regular file here, so it is refused too
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError as e:
            raise describe_os_error(e, "reading the backup folder", self.folder) from None
        why = None
        live = self._live_inodes()
        if st is not None and (st.st_dev, st.st_ino) in live and not self._restoring(st):
            # the live file under a second name (a hand "restore" by `ln`, X1): said as it is, with the way out
            name = live[(st.st_dev, st.st_ino)]
            own = self.live_link_is_own(backup_id, str(path), st)
            raise BackupNotFoundError(
                live_link_sentence(path.name, name, listed=False),
                live_link_hint(backup_id, path, name, own),
                live_link_page_hint(path, name),
                id=backup_id,
                path=str(self.folder),
                reason="live-linked",
                removable=own,  # `backup delete ID` removes the name (remove_live_link): JobMatcher made it
            )
        if st is not None and (st.st_dev, st.st_ino) not in live:
            why = (
                not_listed_because(path.name, lambda n: os.path.lexists(self.folder / n))
                if stat_module.S_ISREG(st.st_mode)
                else LINK_NOT_LISTED.format(name=path.name)
                if stat_module.S_ISLNK(st.st_mode)
                else None
            )
        if st is None or not stat_module.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in live or why is not None:
            raise BackupNotFoundError(
                why or f"There is no backup with the id '{backup_id}' in {self.folder}.",
                "Run `jobmatcher backup list` to see the ids.",
                "Reload the page to see the backups as they are now.",
                id=backup_id,
                path=str(self.folder),
                **({} if why is None else {"reason": "not-a-backup"}),  # a file is there, not one to use (K11)
            )
        return self._record(
            backup_id, str(path), st, self._owner_id(), self._claims_unmarked(), datetime.now(timezone.utc)
        )

    def own(self, now: datetime | None = None) -> builtins.list[BackupRecord]:
        """This data folder's backups that JobMatcher made: its name, a readable manifest, this folder's id.

        Only these are ever deleted automatically, and only these decide scheduling. Newest first.
        Raises as list() does.
        """
        return [r for r in self.list(now) if is_own_backup(r)]

    def newest_trusted(
        self, now: datetime | None = None, items: builtins.list[BackupRecord] | None = None
    ) -> BackupRecord | None:
        """The newest own backup (is_own_backup) not dated in the future: what scheduling and the status line
        go by. `items`: the list as list() just returned it, when the caller has read it already.
        None when there is none. Raises as list() does (only when `items` is not given)."""
        items = self.list(now) if items is None else items
        return next((r for r in items if is_own_backup(r) and not r.future), None)

    def newest(self) -> BackupRecord | None:
        """The newest own backup by its time; one dated in the future (a wrong clock) never counts
        (newest_trusted). Raises as list() does."""
        return self.newest_trusted()

    # -- writing ---------------------------------------------------------------

    def ensure_folder(self) -> None:
        """Create the default folder if needed; a chosen folder must be there already (never recreated).

        Raises:
            BackupFolderUnavailableError: a chosen folder that is missing or lacks its marker.
            BackupFailedError: the folder cannot be created, or is not writable.
        """
        self.require_available()
        try:
            make_dirs(
                self.folder, PRIVATE_DIR
            )  # its entry in the data folder must survive a power cut with the backups
        except OSError as e:
            raise BackupFailedError(
                f"Cannot create the backup folder {self.folder}: {e.strerror}.",
                "Choose a backup folder you can write to: `jobmatcher settings --backup-dir FOLDER`.",
                "Choose a backup folder you can write to (Backup settings → Backup folder).",
                code="folder-not-writable",
                path=str(self.folder),
            ) from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise BackupFailedError(
                f"The backup folder {self.folder} is not writable.",
                "Fix its permissions, or choose another backup folder: `jobmatcher settings --backup-dir FOLDER`.",
                "Fix its permissions, or choose another backup folder (Backup settings → Backup folder).",
                code="folder-not-writable",
                path=str(self.folder),
            )

    def create(
        self,
        db_path: Path,
        kind: BackupType = BackupType.manual,
        note: str = "",
        progress: Progress | None = None,
        revision: str | None = None,
        method: str = "auto",
        reuse_identical: bool = False,
        listed: builtins.list[BackupRecord] | None = None,
    ) -> CreatedBackup:
        """Snapshot the live database into a new, verified backup; no file is left if anything fails.

        The backup is dated when its snapshot was taken (UTC), not when its check ended. With
        `reuse_identical`, a snapshot byte-for-byte identical (same SHA-256) to an existing backup
        (automatic: the newest own backup that passed its check; pre-migration: any own pre-migration
        backup that passed) is discarded before its check and that backup is returned with
        `unchanged=True`: the data did not change, so no new file is made. `listed`: the list as
        list() just returned it, when the caller has read it already. `progress` gets "copy" in
        pages, then "verify" as a step (progress.py). Sizes in the result in bytes, times in seconds.

        Raises:
            DatabaseMissingError / DatabaseDamagedError: the live file is missing, empty or unreadable.
            BackupFolderUnavailableError: a chosen backup folder that is not there.
            InsufficientSpaceError: less free space than twice the database (with its -wal).
            BackupFailedError: the folder cannot be written, the copy cannot be read back, or it did
                not pass its check (then the live database itself may be damaged).
            NewerSchemaError: the data was updated by a newer JobMatcher (not for a safety backup).
            JobMatcherError: another cause of a failed write, named (describe_os_error/_sqlite_error).
            In every case no new file is left in the backup folder.
        """
        from .database import require_exists, require_openable  # local: keep CLI start light
        from .snapshot import LockWait

        require_openable(db_path)  # an empty, unreadable or lost live file is named as such, not blamed on the copy
        require_exists(db_path)
        self.ensure_folder()
        self.cleanup()
        db_bytes = file_size(db_path) + file_size(side_file(db_path, WAL))
        folder_id = self.data.folder_id() if self.data is not None else None
        same_as = self._reuse_candidates(kind, listed) if reuse_identical else []
        space = hold_free_space(
            self.folder, 2 * db_bytes, "a backup", why="twice the database"
        )  # counted by other writes until done
        try:
            tmp, guard = self._reserve_temp()
        except BaseException:
            space.release()
            raise
        try:
            # A safety copy must be possible even of data this version cannot open (a newer schema) or
            # that is damaged: restoring a good backup over damaged data is what restore is for.
            waited = LockWait()
            outcome = self._snapshot(
                db_path, tmp, progress, method, lenient=kind == BackupType.safety, same_as=same_as, waited=waited
            )
            if isinstance(outcome, BackupRecord):  # identical to an existing backup: nothing to keep
                log.info("snapshot identical to backup %s: no new %s backup", outcome.id, kind.value)
                return CreatedBackup.trusted(  # the list's record and the engine's own values: not validated again
                    {
                        **outcome.__dict__,
                        "copy_seconds": 0.0,
                        "verify_seconds": 0.0,
                        "wait_seconds": round(waited.seconds, 3),
                        "wait_gave_up": waited.gave_up,
                        "method": "unchanged",
                        "unchanged": True,
                    }
                )
            snap, report, taken_at = outcome
            m = Manifest(
                type=kind,
                created_at=taken_at,
                size_bytes=report.size_bytes,
                sha256=report.sha256,
                blake3=report.blake3,
                schema_revision=report.schema_revision,
                app_version=__version__,
                note=note,
                verified=check_outcome(report.ok, report.schema_revision, report.message)[0],
                verified_at=datetime.now(timezone.utc),
                verify_message=check_outcome(report.ok, report.schema_revision, report.message)[1],
                copy_seconds=round(snap.seconds, 3),
                verify_seconds=round(report.seconds, 3),
                data_folder_id=folder_id,
            )
            m.seal = seal_of(m) if report.sealable else None
            if not report.ok:
                log.warning("safety backup kept although it failed its check: %s", report.message)
            final = self._publish(tmp, m)
        except OSError as e:
            raise describe_os_error(e, "writing the backup", self.folder) from None
        except sqlite3.Error as e:  # SQLite writing the copy: a full disk shows up as SQLITE_FULL or an I/O error
            raise describe_sqlite_error(e, "writing the backup", self.folder) from None
        finally:
            for suffix in ("", *SIDE_SUFFIXES):
                remove_quietly(side_file(tmp, suffix))
            guard.release()
            remove_quietly(guard.path)
            space.release()
        log.info(
            "backup %s (%s) made in %.2fs by %s, verified in %.2fs",
            final.stem,
            kind.value,
            snap.seconds,
            snap.method,
            report.seconds,
        )
        rec = BackupRecord.from_manifest(final.stem, final, m, owned=True)
        # The record of a manifest validated when it was made, and the engine's own values: not validated again
        # (CreatedBackup.trusted), so a fresh process (`backup create`) builds no validator nor serializer for its
        # one answer (about 1 ms: BackupRecord's and CreatedBackup's schemas); `--json` builds the serializer.
        return CreatedBackup.trusted(
            {
                **rec.__dict__,
                "copy_seconds": snap.seconds,
                "verify_seconds": report.seconds,
                "wait_seconds": round(snap.wait_seconds, 3),
                "wait_gave_up": waited.gave_up,
                "method": snap.method,
                "check_memory": report.memory,
            }
        )

    def create_raw_copy(self, db_path: Path, kind: BackupType, note: str, reason: str) -> CreatedBackup:
        """Keep a byte-for-byte copy of a file SQLite cannot open (damaged live data), marked as failing its check.

        `reason` is recorded as the failed check's message. Raises BackupFailedError or
        InsufficientSpaceError; no file is left if anything fails.
        """
        from .digests import BLAKE3, SHA256, file_digests

        self.ensure_folder()
        self.cleanup()
        size = file_size(db_path)
        require_free_space(self.folder, size + (1 << 20), "a copy of your current data", why="the size of your data")
        tmp, guard = self._reserve_temp()
        t0 = time.perf_counter()
        try:
            with open(db_path, "rb") as src, open(tmp, "wb") as out:
                copy_range(src.fileno(), 0, out, size)
                out.flush()
                os.fsync(out.fileno())
            now = datetime.now(timezone.utc)
            found = file_digests(tmp, (SHA256, BLAKE3))  # one read: both of the same bytes, so it is sealed
            m = Manifest(
                type=kind,
                created_at=now,
                size_bytes=file_size(tmp),
                sha256=found[SHA256],
                blake3=found[BLAKE3],
                app_version=__version__,
                note=note,
                verified=False,
                verified_at=now,
                verify_message=reason,
                copy_seconds=round(time.perf_counter() - t0, 3),
                data_folder_id=self.data.folder_id() if self.data is not None else None,
            )
            m.seal = seal_of(m)
            final = self._publish(tmp, m)
        except OSError as e:
            raise describe_os_error(e, "copying your current data", self.folder) from None
        finally:
            remove_quietly(tmp)
            guard.release()
            remove_quietly(guard.path)
        log.warning("kept a raw copy of unreadable data as %s: %s", final.stem, reason)
        rec = BackupRecord.from_manifest(final.stem, final, m, owned=True)
        return CreatedBackup(
            **rec.model_dump(), copy_seconds=m.copy_seconds or 0.0, verify_seconds=0.0, method="raw-copy"
        )

    def _reuse_candidates(
        self, kind: BackupType, listed: builtins.list[BackupRecord] | None
    ) -> builtins.list[BackupRecord]:
        """The backups an identical snapshot of `kind` would duplicate (see create's reuse_identical)."""
        items = self.list() if listed is None else listed
        passed = [r for r in items if is_own_backup(r) and r.verified is True and r.sha256]
        if kind == BackupType.pre_migration:
            return [r for r in passed if r.type == BackupType.pre_migration]
        # the one made last (by sequence, as retention and health decide it), not the one with the latest date
        newest = max((r for r in passed if not r.future), key=newest_order, default=None)
        return [newest] if newest is not None else []

    def move_in(self, rec: BackupRecord) -> BackupRecord:
        """Move one backup (made by JobMatcher: it has a manifest) from another folder into this one.

        Copied to a hidden temp file, fsynced, its SHA-256 compared with the manifest's, published
        under the same name, or the first free `NAME_N` when a different file has it (never over an
        existing file), and only then removed from the old place: killed at any instant, the backup
        is in one place or both, never in neither.
        Raises JobMatcherError naming the reason; the old copy is then untouched.
        """
        from .verify import sha256_file

        src = Path(rec.path)
        m = read_manifest(src)
        if m is None:
            raise ValidationError(
                f"{src.name} was added by hand, so JobMatcher leaves it where it is.",
                "Move it yourself if you want it in the new folder.",
            )
        self.ensure_folder()
        if same_file(src.parent, self.folder):
            # The old folder is this one under another path (a bind mount, a drive mounted twice): "moving" it
            # would find the backup "already here" and remove it, i.e. the only copy (finding U8).
            raise ValidationError(
                f"{src.name} is already in this backup folder ({src.parent} is {self.folder} under another path).",
                "Nothing to move: it stays where it is.",
            )
        expected = m.sha256 or sha256_file(src)
        names = [src.stem] + [f"{src.stem}_{n}" for n in range(2, 1000)]
        for name in names:  # already here (a move killed before it removed the old copy), maybe under _N
            there = self.folder / f"{name}.db"
            if not there.exists():
                break
            if same_file(there, src):
                # The very file under a second name (a hard link): already here, and removing the old name would
                # gain nothing and risk everything. Left as it is.
                log.info("backup %s is already in %s as the same file: left as it is", src.stem, self.folder)
                return self.get(there.stem)
            if sha256_file(there) == expected and read_manifest(there) is not None:
                self._remove_moved(src, there, expected)
                return self.get(there.stem)
        require_free_space(self.folder, rec.size_bytes, "moving a backup", why="the backup's size")
        tmp, guard = self._reserve_temp()
        final: Path | None = None
        try:
            try:
                fin = open(src, "rb")
            except FileNotFoundError:
                # Gone meanwhile: another process moved it (G17). Here under its name (or NAME_N): moved.
                for name in names:
                    there = self.folder / f"{name}.db"
                    if there.exists() and sha256_file(there) == expected and read_manifest(there) is not None:
                        return self.get(there.stem)
                raise
            with fin, open(tmp, "wb") as fout:
                while True:
                    try:
                        chunk = fin.read(1 << 20)
                    except OSError as e:  # the old folder's drive, named as such (X7)
                        e.filename = e.filename if e.filename is not None else str(src)
                        raise
                    if not chunk:
                        break
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            if sha256_file(tmp) != expected:
                raise BackupFailedError(
                    f"The copy of {src.name} did not match the original.",
                    "It was left in the old folder. Check the disks and try again.",
                )
            # The same name if it is free, else the first free NAME_N: a different backup of that name (another
            # data folder's, or one made at the same second) never blocks the move, and is never overwritten.
            final = self._reserve_name(src.stem)
            if final is None:
                raise BackupFailedError(
                    f"Could not find a free name for {src.name} in {self.folder}.",
                    "It was left in the old folder; move it by hand if you want it there.",
                )
            write_manifest(final, m)
            os.link(tmp, final)  # never over an existing file
            fsync_dir(self.folder)
        except OSError as e:
            if final is not None and not final.exists():
                remove_quietly(manifest_path(final))
            if read_failed(e, src):  # the previous folder's drive unplugged or failing, not this folder (X7)
                raise DiskError(
                    f"Could not move {src.name}: it could not be read from the previous backup folder {src.parent} "
                    f"({e.strerror or e}): the drive holding it may have been unplugged, or be failing.",
                    "Check that drive (plug it back in if it was unplugged), then move the backups again. The "
                    "backup stays where it is.",
                    path=str(src),
                ) from None
            raise describe_os_error(e, "moving the backup", self.folder) from None
        except BaseException:
            if final is not None and not final.exists():
                remove_quietly(manifest_path(final))
            raise
        finally:
            remove_quietly(tmp)
            guard.release()
            remove_quietly(guard.path)
        self._remove_moved(src, final, expected)
        log.info("moved backup %s from %s to %s as %s", src.stem, src.parent, self.folder, final.stem)
        return self.get(final.stem)

    @staticmethod
    def _remove_moved(src: Path, dest: Path, expected: str) -> None:
        """Remove the moved backup's old copy, only once `dest` is verified to be a *different* file (not the
        same one under another path: a bind mount, a hard link) holding the same bytes (`expected` SHA-256).

        Raises BackupFailedError, removing nothing, when it is not: the backup then stays in the old folder."""
        from .verify import sha256_file

        if same_file(src, dest) or not dest.is_file() or sha256_file(dest) != expected:
            raise BackupFailedError(
                f"Could not confirm the moved copy of {src.name} in {dest.parent}.",
                "It was left in the old folder, untouched. Check the folders and try again.",
            )
        os.unlink(src)
        old_manifest, new_manifest = manifest_path(src), manifest_path(dest)
        if not same_file(old_manifest, new_manifest) and new_manifest.is_file():
            remove_quietly(old_manifest)
            # its last check's time went into the moved manifest (read_manifest holds the newest)
            remove_check_time(src)
        fsync_dir(src.parent)

    def _reserve_temp(self) -> tuple[Path, FileLock]:
        """A hidden temp name plus a held lock that tells cleanup() in other processes it is alive."""
        while True:
            token = f"{TMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
            guard = FileLock(self.folder / f"{token}.lock")
            if guard.acquire():
                # A cleanup() elsewhere may have deleted the file between our open and our lock:
                # only a lock on the file that is still at that name protects the temp file.
                if guard.is_still_at_path():
                    return self.folder / f"{token}.db", guard
                guard.release()

    def _snapshot(
        self,
        db_path: Path,
        tmp: Path,
        progress: Progress | None,
        method: str,
        lenient: bool = False,
        same_as: builtins.list[BackupRecord] | None = None,
        waited: LockWait | None = None,
    ):
        """Copy and verify: the fast file copy first, the backup API if that is unusable or does not verify.

        Returns (snapshot, check, time the snapshot was taken), or the backup in `same_as` whose
        SHA-256 the snapshot has (then it is not checked: that backup already passed).
        """
        from . import checkproc

        # A large copy is checked in a child process: started now, its start-up runs beside the copy.
        # Forked where that is safe (a command-line run: no other thread yet): no interpreter start then, which took
        # the second core from the copy's hashing (issue 13).
        spare = (
            checkproc.SpareChild.start(fork_if_safe=True) if file_size(db_path) >= checkproc.CHILD_MIN_BYTES else None
        )
        try:
            return self._copy_and_check(db_path, tmp, progress, method, lenient, same_as, waited, spare)
        finally:
            if spare is not None:
                spare.close()

    def _copy_and_check(
        self,
        db_path: Path,
        tmp: Path,
        progress: Progress | None,
        method: str,
        lenient: bool,
        same_as: builtins.list[BackupRecord] | None,
        waited: LockWait | None,
        spare: checkproc.SpareChild | None,
    ):
        from .digests import BLAKE3, SHA256, FollowingDigests, file_digests
        from .helperthread import HelperThread
        from .snapshot import LockWait, backup_api_snapshot, copy_snapshot
        from .verify import verify_file

        copy_progress = (lambda done, total: progress("copy", done, total, "pages")) if progress else None
        taken_at = datetime.now(timezone.utc)

        def checked(snap, digests: FollowingDigests | None = None):
            known = {}  # the copy's checksums when they were computed before its check
            # The copy hashed as it was written (snap.hashed): its digests are collected beside its check.
            hashing = digests.result if digests is not None and snap.hashed else None
            if same_as:
                # One read for both checksums: when no backup matches, the check below takes them as found
                # (nothing but this process writes the temp file) instead of reading the copy twice more.
                known = hashing() if hashing is not None else file_digests(tmp, (SHA256, BLAKE3))
                hashing = None
                match = next((r for r in same_as if r.sha256 == known[SHA256]), None)
                if match is not None:
                    return match
            if progress:
                progress("verify", 0, None, "steps")  # the check runs in a child process: no measure of it
            t0 = time.perf_counter()
            # The copy's flush to disk runs beside its check (which reads it from the page cache, on
            # the other core); the backup is published only after both have succeeded.
            with HelperThread("fsync") as pool:
                synced = pool.submit(fsync_file, tmp)
                try:
                    report = _Checked.passed(
                        verify_file(
                            tmp,
                            allow_unknown_revision=lenient,
                            with_blake3=True,
                            spare=spare,
                            known=known,
                            hashing=hashing,
                        )
                    )
                except CheckInterruptedError as e:
                    raise CheckInterruptedError(
                        "The new backup's check was stopped before it finished "
                        f"({e.fields.get('signal')}: the system may have run short of memory, or the check's "
                        "process was ended), so nothing was saved. Your data is unchanged.",
                        "Try again (close other programs first if memory is short).",
                        signal=e.fields.get("signal"),
                    ) from None
                except InvalidBackupError as e:
                    # The temp file's name means nothing to the user: it is a copy of their database.
                    # (whole phrases first: "The file <tmp> could not be read" is "The copy could not be read",
                    # not "The file the copy …", T8)
                    e.message = (
                        e.message.replace(f"The backup {tmp.name}", "The copy")
                        .replace(f"The file {tmp}", "The copy")
                        .replace(f"The check of {tmp}", "The check of the copy")
                        .replace(str(tmp), "the copy")
                        .replace(tmp.name, "the copy")
                    )
                    if e.message.startswith("the copy"):
                        e.message = "T" + e.message[1:]
                    if lenient and e.reason in ("corrupt", "missing-tables", "not-jobmatcher", "foreign-schema"):
                        synced.result()
                        return snap, _Checked.failed(tmp, e.message, time.perf_counter() - t0), taken_at
                    if e.reason == "read-error":
                        raise BackupFailedError(
                            f"The new backup could not be read back from the backup folder: {e.message}",
                            "Nothing was saved. The disk holding the backup folder may be failing: try again, "
                            "or choose a backup folder on another disk: `jobmatcher settings --backup-dir FOLDER`.",
                            "Nothing was saved. The disk holding the backup folder may be failing: try again, "
                            "or choose a backup folder on another disk (Backup settings → Backup folder).",
                            code="read-back-failed",
                            path=str(self.folder),
                        ) from None
                    if e.reason == "foreign-schema":  # not damage: objects in the live data JobMatcher did not make
                        raise BackupFailedError(
                            e.message.replace("The copy holds", "Your data holds").replace(
                                " Nothing was changed.", " No backup was made: it could not be restored."
                            ),
                            "Nothing was saved and your data was not changed. Start JobMatcher (or run `jobmatcher db "
                            "migrate`): it removes triggers and views it did not make, after a safety backup. For "
                            "anything else named, restore a backup made before it appeared (`jobmatcher backup list`).",
                            "Nothing was saved and your data was not changed. Close JobMatcher and open it again: it "
                            "removes triggers and views it did not make, after a safety backup.",
                            code="foreign-schema",
                            objects=e.fields.get("objects", []),
                        ) from None
                    if e.reason == "newer-schema":  # not damage: data a newer JobMatcher has updated
                        raise NewerSchemaError(
                            "Your data was updated by a newer version of JobMatcher, so this version cannot back "
                            f"it up: {e.message}",
                            "Nothing was saved and your data is unchanged. Use the newer version of JobMatcher "
                            "(it makes its own backups).",
                        ) from None
                    raise BackupFailedError(
                        f"The new backup did not pass its check, so your database itself may be damaged: {e.message}",
                        "Nothing was saved. Run `jobmatcher db check` to check your data.",
                        "Nothing was saved and your data was not changed. Try again; if it fails again, restore your "
                        "newest backup that passed its check (Restore… beside it).",
                        code="check-failed",
                        reason=e.reason,
                    ) from None
                finally:
                    synced.wait()
                synced.result()  # an fsync error (EIO, a full disk) fails the backup
            if progress:
                progress("verify", 1, 1, "steps")
            return snap, report, taken_at

        # Another program's write transaction makes the fast path wait: shown as the phase "wait", and its
        # length reported apart from the copy's (CreatedBackup.wait_seconds), never hidden in either.
        waited = waited or LockWait()
        if progress:
            waited.started = lambda: progress("wait", 0, None, "steps")  # a step: how long is unknown
        if method in ("auto", "file-copy"):
            try:
                start = datetime.now(timezone.utc)
                # Each copied chunk is hashed from the copy on another thread while the kernel copies the next
                # (when the copy is final as copied: see copy_snapshot), with CPU time the copy leaves idle
                # until the copy is done (it holds the write lock); abandoned on leaving if unused.
                with FollowingDigests(tmp, (SHA256, BLAKE3), idle=True) as digests:
                    # The live -wal emptied first (wal_checkpoint(TRUNCATE), when another connection such as the
                    # window's left pages in it), so that the copy is final as copied; never for a safety copy of
                    # data that may be damaged or of a newer version (nothing is written to it then).
                    snap = copy_snapshot(
                        db_path, tmp, copy_progress, sync=False, wait=waited, digests=digests, checkpoint=not lenient
                    )
                    taken_at = start + timedelta(seconds=waited.seconds)  # the copy starts once the lock is ours
                    snap.wait_seconds = waited.seconds
                    return checked(snap, digests)
            except OSError:
                raise
            except Exception as e:  # noqa: BLE001 - any surprise in the fast path: take the safe one
                if method == "file-copy":
                    raise
                log.warning("fast snapshot unusable (%s); falling back to the backup API", e)
            for suffix in ("", *SIDE_SUFFIXES):
                remove_quietly(side_file(tmp, suffix))
        taken_at = datetime.now(timezone.utc)
        snap = backup_api_snapshot(db_path, tmp, copy_progress)
        snap.wait_seconds = waited.seconds  # a fast path that gave up waiting for the write lock
        return checked(snap)

    @contextmanager
    def _numbering(self) -> Iterator[None]:
        """Held while a new backup takes its sequence number and writes its manifest: the folder's manifest
        lock (manifest.MANIFEST_LOCK_NAME, the one manifest updates take; an OS lock, so other processes and
        other threads alike wait). The next writer then sees this one's manifest when it counts: no two
        backups get the same number, and none a number below one published before it.

        Raises BackupFailedError when another process holds the lock for a minute (a stopped process).
        """
        guard = FileLock(self.folder / MANIFEST_LOCK_NAME)
        if not guard.acquire(timeout=60):
            raise BackupFailedError(
                f"Another JobMatcher process has kept the backup folder {self.folder} locked for a minute, "
                "so the new backup could not be given its place in the order of backups.",
                "Nothing was saved. Close other JobMatcher windows or commands, then try again.",
            )
        try:
            yield
        finally:
            guard.release()

    def reserve_name(self, m: Manifest) -> Path:
        """A new, unique backup file name for `m` with `m` written as its manifest; the .db is not there
        yet (the caller creates it without overwriting, e.g. by a hard link). Sets `m.sequence`.

        Raises:
            BackupFailedError: no free name among 999 tries for that second, or the folder's manifest
                lock held elsewhere for a minute (_numbering).
            OSError: the manifest cannot be written (the reserved name is removed again).
        """
        with self._numbering():
            m.sequence = self.next_sequence()
            final = self._reserve_name(backup_name(m.created_at))
            if final is None:
                raise BackupFailedError("Could not find a free name for the backup.", "Try again in a second.")
            try:
                write_manifest(final, m)
            except BaseException:
                remove_quietly(manifest_path(final))
                raise
            return final

    def next_sequence(self) -> int:
        """1 + the highest `sequence` among this data folder's manifests in the folder (1 for the first), and
        above the chain it continues after a disaster recovery (DataDir.sequence_floor): what makes 'newest'
        independent of the clock (retention.newest_order). Counted from the manifests themselves, also those
        of backups not listed yet (a name reserved, its .db still to come), so call it inside `_numbering`
        (publishing does). Manifests of other data folders and unreadable ones do not count; any other
        manifest of this data folder does, whatever its name: a higher number than own() alone would give is
        never wrong, a lower one would be. Raises OSError when the folder cannot be read.
        """
        floor = self.data.sequence_floor() if self.data is not None else 0  # a chain adopted after recovery
        if floor > SEQUENCE_GAP:
            # out of pattern (U9): copies number from 1, one per backup, so the chain a disaster recovery took
            # over cannot have reached this; it was taken from a planted or damaged manifest at the location.
            # Ignored: it would hold every new backup at the bound, numbering by the clock again
            floor = 0
        owner, claims = self._owner_id(), self._claims_unmarked()
        counted: builtins.list[tuple[int, str, Manifest]] = []
        with os.scandir(self.folder) as it:
            names = [e.name for e in it if e.name.endswith(".json") and not e.name.startswith(".")]
        for name in names:
            m = load_manifest_file(self.folder / name, shared=True)[0]  # after a list(): no file read again
            if m is not None and m.sequence and ((m.data_folder_id == owner) if m.data_folder_id else claims):
                counted.append((m.sequence, name, m))
        highest = max((c[0] for c in counted), default=0)
        if max(highest, floor) >= MAX_SEQUENCE:
            highest = self._renumber_out_of_pattern(counted, floor)
        # never past the bound a manifest may hold (a planted MAX_SEQUENCE would make every new backup unreadable)
        return min(max(highest, floor) + 1, MAX_SEQUENCE)

    def _renumber_out_of_pattern(self, counted: builtins.list[tuple[int, str, Manifest]], floor: int) -> int:
        """The order saturated (finding U9: a planted or damaged manifest with a sequence at the bound gave every
        later backup that same number, so 'newest' fell back to the clock). Sequences grow by one per backup, so
        a jump of more than SEQUENCE_GAP above the one before (or the floor) is out of pattern: from there up,
        the manifests are renumbered just above the last in-pattern one, keeping their order among themselves
        (the planted one first, the backups made after it above it). Called inside `_numbering` (the manifest
        lock is held). Returns the new highest sequence; the old one when there is no such jump. Raises OSError
        when a manifest cannot be rewritten."""
        # equal sequences (saturated ones) in their order of making, by date then name
        ordered = sorted(counted, key=lambda c: (c[0], c[2].created_at, c[1]))
        prev = floor
        start = len(ordered)
        for i, (seq, _, _) in enumerate(ordered):
            if seq - prev > SEQUENCE_GAP:
                start = i
                break
            prev = max(prev, seq)
        if start == len(ordered):
            return prev
        for seq, name, m in ordered[start:]:
            prev += 1
            log.warning("manifest %s had sequence %d, out of pattern: renumbered %d", name, seq, prev)
            write_manifest(self.folder / f"{name[: -len('.json')]}.db", m.model_copy(update={"sequence": prev}))
        fsync_dir(self.folder)
        return prev

    def _publish(self, tmp: Path, m: Manifest) -> Path:
        """Give the verified temp file its final name (unique, never overwriting) with its manifest."""
        final = self.reserve_name(m)  # numbered, its manifest written: counted by the next writer already
        try:
            os.chmod(tmp, PRIVATE_FILE)  # a copy of personal data: its user's only, as the live file
            os.replace(tmp, final)
        except BaseException:
            remove_quietly(manifest_path(final))
            raise
        fsync_dir(self.folder)
        return final

    def _reserve_name(self, base: str) -> Path | None:
        """The backup file for `base`, or the first of `base_2` … `base_999` that is free, reserved by creating
        its manifest exclusively (empty until written); None when all are taken.

        A name is free when neither its manifest nor its file exists: a file of that name with no manifest
        (added by hand) is never overwritten. Raises OSError from creating the manifest (other than its
        existing)."""
        for n in range(1, 1000):
            candidate = self.folder / f"{base if n == 1 else f'{base}_{n}'}.db"
            try:
                fd = os.open(manifest_path(candidate), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            except FileExistsError:
                continue
            os.close(fd)
            if os.path.lexists(candidate):
                remove_quietly(manifest_path(candidate))
                continue
            return candidate
        return None

    def verify(
        self,
        backup_id: str,
        listed: BackupRecord | None = None,
        spare: checkproc.SpareChild | None = None,
        held: checklock.CheckLock | None = None,
        started: StartedCheck | None = None,
    ) -> BackupRecord:
        """Check a listed backup and record the result in its manifest; returns the record as it now is.

        One check of a backup at a time (checklock.py): it runs holding the backup's check lock (`held`
        when the caller took it), waiting up to checklock.WAIT_SECONDS for another process's check of it.
        `started`: start_check_of(backup_id), begun before the lookups (used when it is of this backup's file).
        Raises as _verify does, and JobMatcherError (code "check-running") when that one is still running.
        """
        from . import checklock

        if held is not None:
            return self._verify(backup_id, listed, spare, started)
        try:
            held = checklock.take(self.folder, backup_id, timeout=checklock.WAIT_SECONDS)
        except OSError as e:  # a read-only folder: the check runs, its result cannot be recorded (logged)
            log.warning("could not take the check lock of %s: %s", backup_id, e)
            return self._verify(backup_id, listed, spare, started)
        if held is None:
            raise JobMatcherError(
                f"The backup {backup_id} is being checked by another JobMatcher process right now.",
                "Wait for that check to finish: `jobmatcher backup list` then shows its result.",
                "Wait for that check to finish; the list then shows its result.",
                code="check-running",
            )
        with held:
            return self._verify(backup_id, listed, spare, started)

    def start_check_of(self, backup_id: str, spare: checkproc.SpareChild | None = None) -> StartedCheck | None:
        """The check of the file of the backup `backup_id` started now (fileshape.start_check, in `spare` when it
        is ready), before get(), the check lock and the manifest are read, which then take place while it runs
        (issue 13: about 2 ms of a 10 MB backup's verify, on the check's clock before). Only for an id shaped
        as one (get()'s rule) whose file is a regular file in this folder; the file is only read. None
        otherwise, or when its shape fails: verify() then says why, as ever. Never raises. Close what it
        returns (a context manager) when verify() does not take it."""
        if not isinstance(backup_id, str) or not listable_name(f"{backup_id}.db"):
            return None
        from .fileshape import start_check  # here: what only a check needs is loaded by the first check

        path = self.folder / f"{backup_id}.db"
        try:
            if not stat_module.S_ISREG(os.lstat(path).st_mode):
                return None
            return start_check(path, spare)
        except (OSError, ValueError, InvalidBackupError):
            return None

    def _verify(
        self,
        backup_id: str,
        listed: BackupRecord | None = None,
        spare: checkproc.SpareChild | None = None,
        started: StartedCheck | None = None,
    ) -> BackupRecord:
        """Check a listed backup and record the result in its manifest; returns the record as it now is.
        `listed`: its record as get() just returned it, when the caller has it (not looked up again).
        `spare`: a check child started ahead (see verify_file). `started`: start_check_of's, taken when it is
        of this backup's file (else closed, and the check started here).

        Raises:
            ValidationError / BackupNotFoundError: as get() (not an id, or no such backup).
            InvalidBackupError: the backup failed its check (the failure is recorded in its manifest,
                when it has one); `reason` says why (corrupt, checksum, newer-schema, read-error, ...).

        Only the check's own fields (verified, verified_at, verify_message, verify_seconds, and the
        size, checksum and revision it measured for a file added by hand) are written, under the
        manifest lock, so a pin made meanwhile stays.
        """
        from .fileshape import start_check  # the check starts before the rest of the verification is loaded

        rec = listed if listed is not None and listed.id == backup_id else self.get(backup_id)
        path = Path(rec.path)
        if started is not None and started.path != path:
            started.check.close()  # not this backup's file after all: the check starts below, of the right one
            started = None
        m = read_manifest(path)
        now = datetime.now(timezone.utc)
        m, found_now = self.note_changed_since_restore(rec, m)
        # A safety backup changed after its restore (Y7) is checked as the file it is now, as a file from outside:
        # the checksums recorded at its last check prove nothing about the data from before the restore, and one
        # that no longer matches (written again since) must not make it a dead end. They are recorded anew.
        changed = m is not None and m.changed_after_restore is not None
        expected = None if changed or m is None else m
        try:
            # The check starts first (in a spare child it runs from here on); the seal, the checksums and
            # what follows are worked out on this core meanwhile.
            with started if started is not None else start_check(path, spare) as started:
                from .verify import verify_file

                # Data of a newer version (a safety backup keeps whatever the live data was): checked for
                # soundness, then recorded as made by a newer JobMatcher, not as passed (G7), below.
                report = verify_file(
                    path,
                    expected_sha256=expected.sha256 if expected else None,
                    allow_unknown_revision=True,
                    expected_blake3=expected.blake3 if expected else None,
                    with_blake3=True,  # an older manifest without it gets it: later checks and restores are faster
                    every_checksum=True,  # both recorded checksums must hold (H6) ...
                    sha256_sealed=seal_holds(expected),  # ... proven by BLAKE3 alone when the seal ties them together
                    started=started,
                )
        except InvalidBackupError as e:
            # a listed backup is named by its id, as in the list and every other line (K4), not by its file name
            e.message = message = e.message.replace(path.name, rec.id)
            if changed:
                e.message = message = (
                    f"The safety backup {rec.id} was changed after the restore that made it, and as it is now it "
                    f"does not pass its check either: {message}"
                )
            elif e.reason == "checksum-mismatch":
                add_checksum_way_out(e, rec.id, path)
            e.args = (message,)
            # A file that could not be read says nothing about the backup (the disk may answer the next time):
            # its earlier verdict stays, never "failed" as a damaged backup is, nor counted so by retention (T8).
            if m is not None and e.reason not in _NOT_A_VERDICT:  # nothing trustworthy for a file copied in by hand
                self._update(path, rec, lambda x: _set_check(x, False, now, message), create=False)
            raise

        previous = m.sha256 if changed and m is not None else None

        def passed(x: Manifest) -> None:
            x.file_stamp = None  # proven by its checksums from now on
            if x.changed_after_restore is not None:
                # the file as it is now (Y7): its checksums are recorded from it, never as the data from before
                x.sha256, x.blake3, x.seal = report.sha256, None, None
            x.sha256 = x.sha256 or report.sha256
            if x.sha256 == report.sha256:  # the BLAKE3 of the bytes this SHA-256 describes
                x.blake3 = x.blake3 or report.blake3
            x.schema_revision = report.schema_revision
            x.size_bytes = report.size_bytes
            if report.sealable and (x.sha256, x.blake3) == (report.sha256, report.blake3):
                # Both checksums are now proven of these bytes (one read, or BLAKE3 and a holding seal): an
                # older manifest gets its seal, one whose seal was damaged gets it again; the next check is faster.
                x.seal = seal_of(x)
            verified, message = check_outcome(True, report.schema_revision, "ok")
            if x.changed_after_restore is not None:
                verified, message = None, CHANGED_AFTER_RESTORE  # sound as it is now; never "passed" (Y7)
            _set_check(x, verified, now, message, report.seconds)

        # A check that leaves everything but its time as it was (passed before, passes now) need not make the
        # new time survive a power cut: the manifest is replaced whole, the old one stays as good (_REFRESH).
        written = self._update(path, rec, passed, create=True, refresh=_REFRESH)
        if changed:
            raise changed_after_restore_error(
                rec.id, path, found_now, report.sha256 != previous and previous is not None, report.schema_revision
            )
        if not is_known(report.schema_revision):
            raise InvalidBackupError(
                f"The backup {backup_id} is sound, but it was made of data a newer version of JobMatcher had "
                f"updated (schema {report.schema_revision}): it is kept, and can be restored with that version, "
                "not with this one.",
                "Install the newer JobMatcher to restore it; to restore with this version, choose an older backup "
                "(`jobmatcher backup list`).",
                "Install the newer JobMatcher to restore it; to restore with this version, choose an older backup.",
                reason="newer-schema",
            )
        if written is None or rec.manifest != "ok":
            return self.get(backup_id)  # not recorded, or a manifest made now: the record as the list makes it
        # The record as get() would read it back: the manifest just written, the file's size, and what the
        # check does not change (whose backup it is, whether it is dated in the future) as the list had it.
        return BackupRecord.from_manifest(
            rec.id, rec.path, written, manifest="ok", owned=rec.owned, future=rec.future, size_bytes=report.size_bytes
        )

    def note_changed_since_restore(self, rec: BackupRecord, m: Manifest | None = None) -> tuple[Manifest | None, str]:
        """A restore's linked safety backup not proven yet (its manifest's file_stamp: "checking", a check killed,
        or refused by an older version) whose file is no longer as the restore left it: a `touch`, an editor, a
        tool restoring times, a rewrite of the same length, another file put at its name; they cannot be told
        apart. Its bytes cannot be proven to be the data from before the restore (W6), so it is marked so for good
        (changed_after_restore, CHANGED_AFTER_RESTORE; the stamp, which can never match again, dropped) rather than
        refused for ever (Y7): it stays listed, is checked as the file it is now and restorable as it is, with
        these words. Returns (its manifest as it now is, how it changed when it was marked just now: "time" when
        only its modification time did (same file, same size), "written" otherwise; "" when not now). `m`: its manifest,
        when the caller read it. Never raises (a manifest that cannot be written: logged, and the caller's
        check says what it finds; the mark is made at the next one)."""
        path = Path(rec.path)
        m = m if m is not None else read_manifest(path)
        if m is None or not m.file_stamp or m.verified is True or m.changed_after_restore is not None:
            return m, ""
        stamp, now = m.file_stamp, datetime.now(timezone.utc)
        try:
            now_stamp = file_stamp_of(path)
        except OSError:
            return m, ""  # the check itself says what is wrong with the file
        if now_stamp == stamp:
            return m, ""
        how = "time" if now_stamp.split(":")[:2] == stamp.split(":")[:2] else "written"

        def mark(x: Manifest) -> None:
            if x.file_stamp != stamp or x.changed_after_restore is not None:
                return  # marked meanwhile (never by two: under the check lock or the instance lock)
            x.file_stamp = None
            x.changed_after_restore = now
            x.sha256 = x.blake3 = x.seal = None  # nothing recorded is a proof of these bytes
            _set_check(x, None, now, CHANGED_AFTER_RESTORE)

        written = self._update(path, rec, mark, create=False)
        if written is None:  # not recorded: the caller still treats it as changed, as the list shows it
            m = m.model_copy()
            mark(m)
            return m, how
        return written, how

    def _update(
        self,
        path: Path,
        rec: BackupRecord,
        change,
        create: bool,
        action: str = "",
        refresh: frozenset[str] = frozenset(),
    ) -> Manifest | None:
        """update_manifest for `path` (`refresh` as there); a file added by hand gets a manifest marked so
        (if `create`). Returns the manifest written, None when none was.

        With `action` a failure raises (naming it); without, it is logged (a check's result must not hide
        the check itself). The place of a manifest JobMatcher cannot read is never overwritten.
        """

        def default() -> Manifest:
            return Manifest(
                type=rec.type, created_at=rec.created_at, size_bytes=rec.size_bytes, note=rec.note, added_by_hand=True
            )

        try:
            return update_manifest(path, change, default if create else None, refresh)
        except FileNotFoundError:
            pass
        except ManifestNotOursError:
            if action:
                raise JobMatcherError(
                    f"Cannot save the {action}: the file {manifest_path(path).name} beside this "
                    "backup is not a manifest JobMatcher can read, and it is not overwritten.",
                    "Move that file away if it is not needed, then try again.",
                    code="manifest-not-ours",
                    path=str(manifest_path(path)),
                ) from None
            log.warning("not recording the check of %s: its manifest is unreadable", path)
        except OSError as e:
            if action:
                raise describe_os_error(e, f"saving the {action}", path) from None
            log.warning("could not record verification of %s: %s", path, e)
        return None

    def set_pinned(self, backup_id: str, pinned: bool) -> BackupRecord:
        """Pin (keep forever) or unpin a backup; only the pin is written (under the manifest lock).

        Raises:
            ValidationError / BackupNotFoundError: as get().
            JobMatcherError: the manifest cannot be saved (an unreadable file of its name is never
                overwritten; a write error is named).
        """
        rec = self.get(backup_id)

        def pin(x: Manifest) -> None:
            x.pinned = pinned

        self._update(Path(rec.path), rec, pin, create=True, action="pin")
        return self.get(backup_id)

    def delete(self, backup_id: str) -> BackupRecord:
        """Delete a backup and its manifest: the manifest when JobMatcher wrote it (is_jobmatcher_manifest:
        also one whose values this version cannot read), never another program's file of that name.

        The backup goes first: killed in between, the manifest left without its backup is a leftover the
        next cleanup() removes; the other order would leave a backup that looks added by hand, never pruned.

        Raises:
            ValidationError / BackupNotFoundError: as get().
            JobMatcherError: the file cannot be deleted (named: permission, read-only disk, I/O error);
                then nothing was deleted.
        """
        rec = self.get(backup_id)
        path = Path(rec.path)
        ours = rec.manifest == "ok" or (rec.manifest == "unreadable" and is_jobmatcher_manifest(path))
        try:
            os.unlink(path)
        except OSError as e:
            raise describe_os_error(e, "deleting the backup", path) from None
        if ours:
            try:
                os.unlink(manifest_path(path))
            except FileNotFoundError:
                pass
            except OSError as e:
                raise describe_os_error(e, "deleting the backup's manifest", manifest_path(path)) from None
        remove_check_time(path)  # its last check's time, when JobMatcher wrote it (a killed delete: cleanup())
        fsync_dir(self.folder)
        log.info("deleted backup %s", backup_id)
        return rec

    def remove_live_link(self, backup_id: str) -> BackupRecord:
        """Remove the name `backup_id` in this folder that is the live database itself under a second name (a hard
        link, finding X1: get() refuses it with reason "live-linked") and its manifest, when that name is a backup
        JobMatcher made of this data folder (is_own_backup: its name and manifest); a name the user chose is theirs.
        No data goes: the live file keeps its own name (the file is removed only while it has another name and is
        the live file). Returns the record the name had (its manifest's values).

        Raises:
            ValidationError / BackupNotFoundError: as get(), for an id that is not such a name (nothing removed).
            JobMatcherError: the name cannot be removed (named: permission, read-only disk).
        """
        try:
            self.get(backup_id)
        except BackupNotFoundError as e:
            if getattr(e, "reason", None) != "live-linked" or self.data is None:
                raise
            refused = e
        else:
            raise BackupNotFoundError(
                f"The backup {backup_id} is not a second name of your live database.",
                f"To delete it as a backup: `jobmatcher backup delete {backup_id}`.",
                id=backup_id,
            )
        backup_id = refused.fields["id"]  # as get() read it (an id printed with its control characters escaped)
        path = self.folder / f"{backup_id}.db"
        try:
            st, live = path.lstat(), os.lstat(self.data.db_path)
        except OSError as e:
            raise describe_os_error(e, "removing the second name of your database", path) from None
        if (
            (st.st_dev, st.st_ino) != (live.st_dev, live.st_ino)
            or st.st_nlink < 2
            or os.path.normcase(os.path.abspath(path)) == os.path.normcase(os.path.abspath(self.data.db_path))
        ):
            raise refused  # changed since (a restore swapped the live file in): nothing removed
        rec = self._record(
            backup_id, str(path), st, self._owner_id(), self._claims_unmarked(), datetime.now(timezone.utc)
        )
        if not is_own_backup(rec):
            raise refused  # a name the user made: theirs to remove (the hint says how); JobMatcher removes its own
        ours = is_jobmatcher_manifest(path) and not is_location_manifest(manifest_path(path))
        try:
            os.unlink(path)
        except OSError as e:
            raise describe_os_error(e, "removing the second name of your database", path) from None
        if ours:
            remove_quietly(manifest_path(path))
            remove_check_time(path)
        fsync_dir(self.folder)
        log.info("removed %s, a second name of the live database", path.name)
        return rec

    def prune_plan(
        self,
        policy: RetentionPolicy,
        now: datetime | None = None,
        items: builtins.list[BackupRecord] | None = None,
        keep: Callable[[BackupRecord], bool] | None = None,
    ) -> tuple[Plan, builtins.list[BackupRecord]]:
        """(the retention plan with a rule per backup, the records it would delete), oldest first; no change.

        Only own backups (is_own_backup) are candidates: files added by hand, backups of other data
        folders and backups with unreadable manifests are never deleted here.
        `items`: the list as `list()` just returned it, when the caller has read it already.
        `keep`: never delete a backup it says True for (one a pending recovery needs).
        Sizes in bytes. Raises as list() does (only when `items` is not given).
        """
        from .retention import NEEDED_FOR_RECOVERY, Decision, Plan, plan

        now = now or datetime.now(timezone.utc)
        items = self.list(now) if items is None else items
        # Only own backups are ever candidates (is_own_backup): the others are listed as kept, with the reason.
        own = [r for r in items if is_own_backup(r)]
        p = plan(now, policy, own)
        by_id = {r.id: r for r in items}
        decisions = p.decisions
        if keep is not None:
            decisions = [
                Decision(d.id, True, NEEDED_FOR_RECOVERY, d.size_bytes) if not d.keep and keep(by_id[d.id]) else d
                for d in decisions
            ]
        others = [Decision(r.id, True, _not_own_reason(r), r.size_bytes) for r in items if not is_own_backup(r)]
        p = Plan(decisions + others, p.kept_bytes, p.budget_bytes, p.over_budget)
        return p, [by_id[i] for i in p.doomed]

    def prune(
        self,
        policy: RetentionPolicy,
        now: datetime | None = None,
        dry_run: bool = False,
        items: builtins.list[BackupRecord] | None = None,
        keep: Callable[[BackupRecord], bool] | None = None,
    ) -> builtins.list[BackupRecord]:
        """Delete (or with dry_run only name) the backups the retention policy makes obsolete (see prune_plan).

        Returns the backups actually deleted (with dry_run: those that would be); one that could not
        be deleted is logged, never reported as deleted (so deleting raises nothing). Raises as list()
        does (only when `items` is not given).
        """
        p, chosen = self.prune_plan(policy, now, items, keep)
        if p.over_budget:
            log.warning(
                "backups take %d bytes, over the budget of %d, even after cleaning up all that may go",
                p.kept_bytes,
                p.budget_bytes or 0,
            )
        if dry_run:
            return chosen
        deleted = []
        for r in chosen:
            try:
                deleted.append(self.delete(r.id))
            except JobMatcherError as e:
                log.warning("could not prune %s: %s", r.id, e.message)
        return deleted

    def cleanup(self) -> builtins.list[str]:
        """Remove leftovers of interrupted backups: only names of JobMatcher's exact patterns are touched.

        Temp files `.tmp-PID-NS.db[-wal|-shm|-journal]` whose writer's `.tmp-PID-NS.lock` is free (or
        absent), reserved manifests `backup_….json` with no backup that are empty or JobMatcher
        manifests (never one that records a pin: that backup was listed, its file is missing), check-time
        files `ID.verified` with no backup that JobMatcher wrote (manifest.remove_check_time),
        and killed manifest writes `.backup_….json.PID-THREAD-N.tmp`. Returns the names removed.
        Never raises: an unreadable folder or a file that cannot be removed is left as it is.
        """
        removed: list[str] = []
        try:
            names = set(os.listdir(self.folder))
        except OSError:
            return removed
        orphans = []
        writing = False  # is any process writing a backup into this folder right now?
        for name in names:
            t = _TEMP.match(name)
            if t and name.endswith(".lock"):
                token = TMP_PREFIX + t.group("token")
                guard = FileLock(self.folder / name)
                if guard.acquire():  # its writer is gone (locks die with their process)
                    try:
                        for leftover in names:
                            lt = _TEMP.match(leftover)
                            if lt and leftover != name and TMP_PREFIX + lt.group("token") == token:
                                remove_quietly(self.folder / leftover)
                                removed.append(leftover)
                    finally:
                        guard.release()
                        remove_quietly(guard.path)
                else:
                    writing = True
            elif t and TMP_PREFIX + t.group("token") + ".lock" not in names:
                remove_quietly(self.folder / name)  # no lock file at all: certainly dead
                removed.append(name)
            elif _OWN_MANIFEST.match(name) and name[:-5] + ".db" not in names:
                orphans.append(name)
            elif (ct := _CHECK_TIME.match(name)) and ct.group("id") + ".db" not in names:
                # a check's time left without its backup (a delete killed before it went, or a check that ended
                # as its backup was deleted): one with JobMatcher's mark, or empty (or zeros: a power cut) under
                # the name of a backup JobMatcher names; anything else is another program's
                raw, ours = read_verified(os.path.join(self.folder, name))
                if ours and raw is not None and (raw.startswith(VERIFIED_MARK) or OWN_NAME.match(ct.group("id"))):
                    remove_quietly(self.folder / name)
                    removed.append(name)
            elif (probe := _LINK_PROBE.match(name)) and process_gone(int(probe.group("pid"))):
                remove_quietly(self.folder / name)
                removed.append(name)
            elif (check := _CHECK_LOCK.match(name)) and check.group("id") + ".db" not in names:
                from . import checklock

                try:
                    held = checklock.take(self.folder, check.group("id"))
                except OSError:
                    held = None
                if held is not None:  # no check holds it: its release removes the file
                    held.release()
                    removed.append(name)
        # A manifest without its backup is a name reserved by a backup killed before it published. A writer
        # holds its temp lock from before it reserves a name until after it published, so with no writer
        # alive the orphans are certainly dead; otherwise wait until they are old.
        for name in orphans:
            p = self.folder / name
            try:
                st = p.lstat()
                if not stat_module.S_ISREG(st.st_mode):
                    continue
                if st.st_size and not is_jobmatcher_manifest(p.with_suffix(".db")):
                    continue  # not a manifest of ours (another program's file of that name): leave it
                if st.st_size and is_location_manifest(p):
                    continue  # a location's copy is described here, its data beside it under another name (G5)
                if st.st_size and self.pinned_orphan(str(p)):
                    continue  # a pinned backup whose file is gone, not a name reserved: kept (the list says so)
                if not writing or time.time() - st.st_mtime > _STALE_ORPHAN_SECONDS:
                    remove_quietly(p)
                    removed.append(name)
            except FileNotFoundError:
                pass
        # a manifest's temp file, killed mid-write
        removed += remove_dead_temp_files(
            self.folder,
            lambda n: (
                n == FOLDER_MARKER
                or n.startswith("location-upload-")  # an S3 copy's spool (locations/s3.py), killed mid-upload
                or (n.endswith(".json") and (n[:-5] + ".db" in names or bool(_OWN_MANIFEST.match(n))))
            ),
        )
        if removed:
            log.info("cleaned up leftovers of interrupted backups: %s", ", ".join(sorted(removed)))
        return removed


def add_checksum_way_out(e: InvalidBackupError, backup_id: str, path: Path) -> None:
    """A listed backup whose file no longer matches its recorded checksum (damaged, or written since) stays
    refused as that backup, every time: its proof says these are not the bytes that were checked. But it may be
    the only copy of its data, so the refusal names the way to what it holds now, as a file from outside (checked
    in full then; it may hold damaged data), not only "use another backup" (Y7: no permanent dead end).
    Changes `e`'s hints in place. Never raises."""
    e.hint = (
        f"{e.hint} If no other backup holds this data: `jobmatcher backup show {backup_id}` shows what it holds "
        f"now; to restore it anyway, copy its file {path} to another folder and restore that copy "
        f"(`jobmatcher backup restore /that/folder/{path.name}`): it is checked in full then, and may hold "
        "damaged data."
    ).strip()
    e.page_hint = (
        f"{e.page_hint or ''} If no other backup holds this data: copy {path} to another folder, then choose that "
        "copy with Restore from file… (it is checked in full then, and may hold damaged data)."
    ).strip()


def changed_after_restore_error(
    backup_id: str, path: Path, found_now: str, again: bool, revision: str | None
) -> InvalidBackupError:
    """What a check of a safety backup changed after its restore (Y7) says, in every door (verify, the restore's
    check, the page): what is known (sound as it is now), what is not (whether it is the data from before the
    restore), and what can be done. reason "changed-after-restore": it is not a failed check; a restore of it
    goes on (the file as it is, checked in full). Returns the error (the caller raises it); never raises itself."""
    how = {
        # a touch, a sync tool: said so, not "written"; a write of the same length changes no more (Y7)
        "time": "Only its file's modification time changed after that restore, before its first check (a touch, "
        "a sync tool), so it may have been written: a write of the same length changes no more.",
        "written": "Its file was written or replaced after that restore, before its first check.",
    }.get(found_now, "Its file was found changed after that restore, before its first check.")
    if again:
        how += " Its file changed again since its last check."
    sound = (
        "As it is now, it is a sound JobMatcher database (integrity, schema and tables checked), made of data a "
        "newer version of JobMatcher had updated."
        if not is_known(revision)
        else "As it is now, it is a sound JobMatcher database (integrity, schema and tables checked)."
    )
    message = (
        f"The safety backup {backup_id} was changed after the restore that made it: it cannot be proven to be your "
        f"data from before that restore. {how} {sound}"
    )
    return InvalidBackupError(
        message,
        "It is kept and listed as changed after its restore; it is deleted only by the usual rules for safety "
        f"backups. See what it holds with `jobmatcher backup show {backup_id}`; if it is the data you want, "
        f"restore it as it is with `jobmatcher backup restore {backup_id}` (checked in full again first).",
        "It is kept and listed as changed after its restore. If it holds the data you want (Restore… shows what "
        "it holds), it can be restored as it is; it is checked in full again first.",
        reason="changed-after-restore",
    )


def _set_check(m: Manifest, ok: bool | None, when: datetime, message: str, seconds: float | None = None) -> None:
    """The fields a check owns."""
    m.verified, m.verified_at, m.verify_message = ok, when, message
    if seconds is not None:
        m.verify_seconds = round(seconds, 3)
