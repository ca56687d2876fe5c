"""The engine: one data folder's database, backups and settings behind one object.

The command line and the window's API object are thin layers over this class;
every rule (locks, the pre-migration backup, refusals) lives here once.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import sqlite3
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from . import checklock, schema
from .backups import BackupStore, CreatedBackup, is_own_backup, unavailable_error, write_folder_marker
from .causes import explain, sqlite_cause
from .database import (
    check_integrity,
    connect,
    drop_stale_journal,
    hot_journal,
    live_problem,
    live_schema,
    read_live,
    refuse_linked_live,
    require_exists,
    require_known_revision,
    settle_hot_journal,
    unfinished_write,
)
from .datadir import DB_NAME, LOCATIONS_NAME, open_data_folder, own_data_folder_file
from .dbstate import db_state
from .errors import (
    BackupFolderUnavailableError,
    BackupNotFoundError,
    ConfirmationNeededError,
    DatabaseDamagedError,
    DatabaseMissingError,
    InvalidBackupError,
    JobMatcherError,
    LiveDatabaseLinkError,
    MigrationBlockedError,
    RestoreStateError,
    SettingsError,
    ValidationError,
)
from .fsutil import (
    SHM,
    SIDE_SUFFIXES,
    WAL,
    NotOwnFileError,
    data_folder_refused,
    file_size,
    make_private,
    not_own_file_error,
    read_small_file,
    refuse_replacing,
    remove_dead_temp_files,
    same_file,
    side_file,
    user_path,
)
from .listing import live_link_sentence, live_link_warning, previous_backups
from .lock import FileLock, InstanceLock
from .manifest import (
    CHANGED_AFTER_RESTORE,
    NEWER_VERSION,
    BackupRecord,
    BackupType,
    Manifest,
    clean_note,
    read_manifest,
    seal_holds,
)
from .printable import printable
from .progress import Progress, step
from .settings import Settings, save_settings, validate_backup_dir

if TYPE_CHECKING:
    from . import checkproc
    from .fileshape import StartedCheck
    from .health import Health
    from .preview import BackupPreview
    from .restore import RestoreResult
    from .retention import Plan, RetentionPolicy

# Imported where used: restore, preview, health, verify (the check's child process) and retention are not needed
# by the commands that only look (`backup list` with 1,000 backups has 150 ms for everything, start-up
# included; tests/test_cli_ux.py keeps `backup list`'s imports light).

log = logging.getLogger(__name__)

# Settings as the page and the command line name them (messages never show internal field names).
SETTING_LABELS = {
    "backup_dir": "the backup folder",
    "auto_backup_minutes": "the automatic backup interval in minutes",
    "retention_days": "the days to keep backups",
    "retention_policy": "the kind of cleanup (tiered or simple)",
    "keep_all_hours": "hours to keep every backup",
    "keep_daily_days": "days to keep a daily backup",
    "keep_weekly_weeks": "weeks to keep a weekly backup",
    "keep_monthly_months": "months to keep a monthly backup",
    "budget_mb": "space for backups in MiB",
}


# Held while backups are moved out of a previous backup folder: one move at a time (G17).
MOVE_LOCK_NAME = ".jobmatcher.move.lock"
MOVE_WAIT_SECONDS = 3600.0


class DbStatus(BaseModel):
    model_config = ConfigDict(defer_build=True)

    data_dir: str
    database: str
    exists: bool
    size_bytes: int
    current: str | None
    head: str
    pending: list[str]
    known: bool


class LaunchReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    created: bool = False
    migrated_from: str | None = None
    migrated_to: str | None = None
    pre_migration_backup: str | None = None
    recovered: str | None = None
    pruned: list[str] = []
    auto_backup: str | None = None
    auto_backup_unchanged: bool = False  # no automatic backup: the data is identical to the newest backup
    auto_backup_error: str | None = None  # what went wrong, in words (the message)
    # ... and as data: {"code", "message", "hint" (the command line's), "page_hint"}, so each edge words it
    auto_backup_failure: dict | None = None
    backup_folder_error: str | None = None  # the backup folder cannot be used: no backup was made or pruned
    future_backups: list[str] = []  # dated in the future (a wrong clock): kept, never the newest
    # backups that are the live database itself under a second name (a hard link, X1): what is wrong, in words
    live_links: list[str] = []
    # Triggers and views JobMatcher did not make, removed from the live data after the safety backup named
    # (in the user's words: "a trigger 'wipe'"); what the schema guard found and could not remove, and why.
    removed_foreign: list[str] = []
    removed_foreign_backup: str | None = None
    foreign_schema: str | None = None

    def fail_auto_backup(self, e: JobMatcherError) -> None:
        """Record why the launch's automatic backup was not made (for the page and `status`). Never raises."""
        from .pageerror import page_hint

        self.auto_backup_error = e.message
        self.auto_backup_failure = {"code": e.code, "message": e.message, "hint": e.hint, "page_hint": page_hint(e)}


class Resolved(NamedTuple):
    """A backup named by an id from the list or by a file path (see Engine.resolve)."""

    path: Path  # the file
    sha256: str | None  # the checksum its manifest expects (a listed backup with a manifest)
    label: str  # how to name it to the user: the id, or the file's full path
    record: BackupRecord | None  # the listed backup, None for a file
    blake3: str | None = None  # the BLAKE3 its manifest records (newer manifests), to prove it faster
    manifest: Manifest | None = None  # the manifest beside it as it was read (None: none, or not read)

    @property
    def sealed(self) -> bool:
        """Its manifest's seal holds (manifest.seal_holds): BLAKE3 proves the SHA-256 too. Computed when asked
        (it loads BLAKE3): verify asks once its check has started. Never raises."""
        return seal_holds(self.manifest)


class VerifyResult(BaseModel):
    """`Engine.verify`'s one answer, for a listed backup and for any file alike (raising means it failed)."""

    model_config = ConfigDict(defer_build=True)

    path: str
    size_bytes: int
    sha256: str | None
    schema_revision: str | None
    seconds: float  # how long the check took
    backup: BackupRecord | None = None  # a listed backup, with this check recorded; None for a file
    # The size in bytes the backup's manifest recorded when it was not the file's (a hand edit, another tool:
    # finding T3); the check has recorded the file's own size since. None when they agreed (or for a file).
    manifest_size_bytes: int | None = None


class FileCheck(BaseModel):
    """A file the user chose to restore from, checked (Engine.check_restore_file)."""

    model_config = ConfigDict(defer_build=True)

    size_bytes: int
    schema_revision: str
    needs_update: bool  # made by an older version: it is updated as it is restored


class CheckReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    ok: bool
    problems: list[str]
    revision: str | None
    # Schema objects in the live data JobMatcher did not make that act on its writes (schemaguard), each in
    # the user's words ("a trigger 'wipe'"); ok is False when there are any.
    foreign: list[str] = []


# The settings as the user knows them (the page's labels), for messages: never the field names.


def _exists(name: str) -> bool:
    """Path(name).exists(), but False for names no file can have (too long, a NUL byte)."""
    try:
        return Path(name).exists()
    except (OSError, ValueError):
        return False


def _read_only_disk(folder: Path) -> bool:
    """Is `folder` on a file system mounted read-only?"""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False


def _mount_point_at_or_above(folder: Path) -> Path | None:
    """The mount point `folder` is on, when it is not the root file system's ("/"); None otherwise (or unknown)."""
    try:
        p = folder.resolve()
        for candidate in (p, *p.parents):
            if candidate == Path(candidate.anchor):
                return None
            if os.path.ismount(candidate):
                return candidate
    except (OSError, RuntimeError):
        return None
    return None


def _writable(folder: Path) -> bool:
    """Can this user create files in `folder`? False on a disk mounted read-only, also for root (EROFS)."""
    try:
        return os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        return False


class Engine:
    """One data folder. Cheap to create; locks are taken only by the operations that need them."""

    def __init__(self, data_dir: str | os.PathLike | None = None, read_only: bool = False) -> None:
        """`read_only`: for commands that only look (status, check, list, verify): the data folder is
        never created, and nothing in it is created, deleted or changed."""
        self.read_only = read_only
        self.data = open_data_folder(data_dir, read_only)
        self._instance = InstanceLock(self.data.lock_path)
        self._settings_cache: tuple[tuple | None, Settings] | None = None
        self._store_cache: tuple[tuple, BackupStore] | None = None

    def require_database(self) -> None:
        """Raise when there is no live database to look at or back up (read-only: creates nothing).

        DatabaseMissingError, code "no-data-folder" when the data folder itself does not exist (a
        mistyped --data-dir), "no-database" when it holds no jobmatcher.db; DatabaseDamagedError when
        the file is gone but its -wal still holds changes.
        """
        root = self.data.root
        if not root.is_dir():
            raise DatabaseMissingError(
                f"There is no JobMatcher data in {root}: that folder does not exist.",
                "Check the data folder's path (--data-dir or $JOBMATCHER_DATA_DIR). JobMatcher makes the folder "
                "when it first starts, or with `jobmatcher db migrate`.",
                "Check the data folder's path JobMatcher was started with.",
                code="no-data-folder",
                path=str(root),
            )
        require_exists(self.data.db_path)

    # -- settings and folders ------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings (a copy: changing it changes nothing; use update_settings).

        settings.json is read once and again only when the file itself changed (its inode, size
        or time: another process, e.g. `jobmatcher settings` while the app runs, replaced it),
        not on every access. Raises SettingsError when the file is damaged.
        """
        path = self.data.settings_path
        try:
            st = path.stat()
            key: tuple | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            key = None
        cached = self._settings_cache
        if cached is None or cached[0] != key:
            cached = self._settings_cache = (key, self.data.settings())
        return cached[1].model_copy()

    @property
    def store(self) -> BackupStore:
        """The backup folder the settings name (the same object while they name the same folder).

        Raises SettingsError: settings.json is damaged, or it names a folder JobMatcher refuses (inside
        the data folder, a system folder, another data folder)."""
        s = self.settings
        folder = self.data.backup_dir(s)  # checked once per use (it reads the folder): not again below
        where = (folder, bool(s.backup_dir), s.backup_dir_token)
        if self._store_cache is None or self._store_cache[0] != where:
            self._store_cache = (where, BackupStore(folder, chosen=where[1], token=where[2], data=self.data))
        return self._store_cache[1]

    @property
    def locations(self):
        """The backup locations off this disk (locations.Locations). Raises SettingsError as `store` does."""
        from .locations.manager import Locations  # boto3/pyrage load only when locations are used

        return Locations(self.data, self.store)

    def update_settings(self, changes: dict, confirmed: bool = False) -> Settings:
        """Validate and save changed settings (field name -> value); the backup folder must exist, be writable
        and lie outside the data. Returns the saved settings.

        `confirmed`: the user said yes to what the change does beyond saving (see ConfirmationNeededError).

        Raises:
            SettingsError: a value that cannot be used (in the user's words); code "budget-too-small" for a
                space for backups smaller than one backup of the database (it could never be met: every
                clean-up would delete all but the newest backup).
            ConfirmationNeededError: without `confirmed`, when the change makes the next clean-up delete
                backups the current settings keep (action "delete-backups", `deletes`, `total`: counts), or
                re-adopts the current backup folder whose marker is missing, e.g. a new drive at the same
                place (action "adopt-backup-folder"). Nothing is saved then.
        """
        current = self.settings.model_dump()
        changes = dict(changes)
        if "auto_backup_hours" in changes:  # the setting before it was in minutes
            from .settings import hours_to_minutes

            try:
                changes["auto_backup_minutes"] = hours_to_minutes(changes.pop("auto_backup_hours"))
            except (TypeError, ValueError):
                raise SettingsError(
                    "The automatic backup interval must be 0 (off) or a positive number of hours.",
                    "Check the value and try again.",
                ) from None
        current.update(changes)
        try:
            new = Settings.model_validate(current)
        except PydanticValidationError as e:
            problems = "; ".join(
                f"{SETTING_LABELS.get(str(x['loc'][0]) if x['loc'] else '', 'a value')}: {x['msg'].lower()}"
                for x in e.errors(include_url=False)
            )
            raise SettingsError(
                f"Those settings are not valid: {problems}.", "Check the values and try again."
            ) from None
        old = self.settings
        adopt = self._adopting(changes, new, old)
        if adopt and not confirmed:
            mounted = _mount_point_at_or_above(Path(str(old.backup_dir)))
            where = (
                f" It is on the drive mounted at {mounted}."
                if mounted is not None
                else " No drive is mounted there: backups would go on the disk that holds it."
            )
            raise ConfirmationNeededError(
                f"{old.backup_dir} is already your backup folder, but the mark JobMatcher left there when you chose "
                "it is missing: it may be a new, empty drive at the same place (or the old one's empty mount point)."
                + where,
                "If it is the drive you want your backups on, run the same command again with --yes: JobMatcher "
                "marks it and makes its backups there again.",
                "If it is the drive you want your backups on, confirm: JobMatcher marks it and makes its backups "
                "there again.",
                action="adopt-backup-folder",
                folder=old.backup_dir,
            )
        if new.backup_dir and (new.backup_dir != old.backup_dir or adopt):
            new.backup_dir = str(validate_backup_dir(new.backup_dir, self.data.root))
        if "budget_mb" in changes and new.budget_mb:
            self._check_budget(new.budget_mb)
        if not confirmed:
            self._confirm_cleanup(old, new)
        try:  # a link or pipe at settings.json: refused before a marker is written for settings never saved
            refuse_replacing(self.data.settings_path)
        except NotOwnFileError as e:
            raise not_own_file_error(e, "saving the settings", self.data.settings_path) from None
        if new.backup_dir and (new.backup_dir != old.backup_dir or adopt):  # chosen before markers: as they are
            token = secrets.token_hex(16)
            try:
                write_folder_marker(Path(new.backup_dir), token)
            except NotOwnFileError as e:  # put there since it was checked: still the user's (D14)
                from .folders import odd_marker_error

                raise odd_marker_error(Path(new.backup_dir), e.kind or "not a file") from None
            except OSError as e:
                raise SettingsError(
                    f"Cannot write to the backup folder {new.backup_dir}: {e.strerror or e}.",
                    "Choose a folder your user can write to.",
                ) from None
            new.backup_dir_token = token
        elif not new.backup_dir:
            new.backup_dir_token = None
        old_dir, new_dir = self.data.backup_dir(old), self.data.backup_dir(new)
        if old_dir != new_dir:
            # The backups stay where they are until the user moves them; meanwhile they are listed as such.
            # by path and by identity: the new folder under another path (a bind mount) is no previous folder (U8)
            left = [d for d in new.previous_backup_dirs if Path(d) != new_dir and not same_file(d, new_dir)]
            try:
                had = any(r.has_manifest for r in self._store_for(old).list())
            except JobMatcherError:
                had = False
            if had and str(old_dir) not in left and not same_file(old_dir, new_dir):
                left.append(str(old_dir))
            new.previous_backup_dirs = left
        self._settings_cache = None  # read again next time, whatever the file's times say
        save_settings(self.data.settings_path, new)
        return new

    def _adopting(self, changes: dict, new: Settings, old: Settings) -> bool:
        """True when `changes` choose the current backup folder again while it is there but lacks its marker
        (a replaced drive mounted at the same place): choosing it again is how the user adopts it (G8)."""
        if "backup_dir" not in changes or not new.backup_dir or not old.backup_dir or not old.backup_dir_token:
            return False
        try:
            same = Path(new.backup_dir).expanduser().resolve() == Path(old.backup_dir).resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        store = self._store_for(old)
        return same and store.folder.is_dir() and not store.available()

    def _check_budget(self, budget_mb: int) -> None:
        """Refuse a space for backups that cannot hold one backup of the database (SettingsError)."""
        one = file_size(self.data.db_path)
        if budget_mb * (1 << 20) >= one:
            return
        need = -(-one // (1 << 20))  # MiB, rounded up
        raise SettingsError(
            f"A space for backups of {budget_mb} MiB cannot hold even one backup of your data (the database "
            f"takes {one / (1 << 20):.1f} MiB): every clean-up would delete all your backups but the newest.",
            f"Give at least {need} MiB (`jobmatcher settings --budget-mb {need}`; several times that keeps a "
            "history), or 0 for the automatic budget.",
            f"Give at least {need} MiB (several times that keeps a history), or leave the field empty for the "
            "automatic budget.",
            code="budget-too-small",
            budget_mb=budget_mb,
            needed_mb=need,
        )

    def _confirm_cleanup(self, old: Settings, new: Settings) -> None:
        """Raise ConfirmationNeededError when `new`'s retention deletes, at the next clean-up, backups `old`'s
        keeps. Only for the same backup folder, when it can be read (otherwise there is nothing to count)."""
        from .retention import RetentionPolicy

        if self.data.backup_dir(old, check=False) != self.data.backup_dir(new, check=False):
            return
        if RetentionPolicy.from_settings(old, self.budget_bytes(old)) == RetentionPolicy.from_settings(
            new, self.budget_bytes(new)
        ):
            return
        try:
            store = self._store_for(old)
            if not store.available():
                return
            items = store.list()
            now = datetime.now(timezone.utc)

            keep = self._recovery_keeper()
            # A safety backup still being checked (in the background, after a restore) is counted both as it
            # is and as it will most likely be (passed): once it passes, it is the newest good backup and an
            # older one may lose that protection, so the clean-up deletes it without anyone asked (H24).
            from .manifest import CHECKING

            checked = [
                r.model_copy(update={"verified": True}) if r.verified is None and r.verify_message == CHECKING else r
                for r in items
            ]
            extra: set[str] = set()
            after: list[BackupRecord] = []
            for view in (items, checked) if checked != items else (items,):
                _, before_now = store.prune_plan(
                    RetentionPolicy.from_settings(old, self.budget_bytes(old)), now, items=view, keep=keep
                )
                _, after_now = store.prune_plan(
                    RetentionPolicy.from_settings(new, self.budget_bytes(new)), now, items=view, keep=keep
                )
                more = {r.id for r in after_now} - {r.id for r in before_now}
                if len(more) > len(extra):
                    extra, after = more, after_now
        except JobMatcherError:
            return
        if not extra:
            return
        total = sum(1 for r in items if is_own_backup(r))
        n = len(after)
        raise ConfirmationNeededError(
            f"With these settings the next clean-up (at the next launch or backup) deletes {n} of your {total} "
            f"backup{'s' if total != 1 else ''}; {len(extra)} of them the current settings keep.",
            "Run the same command again with --yes to save them anyway (`jobmatcher backup prune --dry-run` "
            "shows which backups the clean-up deletes).",
            "Confirm to save them anyway.",
            action="delete-backups",
            deletes=n,
            total=total,
            newly_deleted=len(extra),
        )

    def _store_for(self, s: Settings) -> BackupStore:
        """The backup folder `s` names, validated on every use (SettingsError when it is a forbidden one)."""
        return BackupStore(self.data.backup_dir(s), chosen=bool(s.backup_dir), token=s.backup_dir_token, data=self.data)

    def previous_backups(self, skipped: list[str] | None = None) -> list[dict]:
        """Backups left in earlier backup folders: [{"folder", "available", "backups": [BackupRecord]}] (read-only).

        A folder that cannot be listed is reported with available=False, never raised. `skipped`: when given, gets
        a sentence for each file there that is the live database under a second name (X1). Raises
        SettingsError only when settings.json is damaged."""
        return previous_backups(self.previous_folders(), BackupStore, self.data, skipped)

    def previous_folders(self) -> list[str]:
        """The settings' previous backup folders, less any that is the current one under another path (U8): the
        folders previous_backups lists, in its order (the page's indexes). Raises SettingsError as settings does."""
        return [d for d in self.settings.previous_backup_dirs if not self.is_current_folder(d)]

    def is_current_folder(self, folder: str) -> bool:
        """True when the previous backup folder `folder` is the current backup folder under another path (same
        st_dev/st_ino: a bind mount, a drive mounted twice, a hand-edited settings.json): never a move's source.
        Never raises: False when the current backup folder cannot be named (settings refused) or either folder
        cannot be looked at."""
        try:
            current = self.data.backup_dir(self.settings)
        except JobMatcherError:
            return False
        return same_file(folder, current)

    def _previous(self, folder: str) -> Path:
        if folder not in self.settings.previous_backup_dirs:
            raise ValidationError(
                f"{folder} is not a previous backup folder.",
                "Only backups left in an earlier backup folder can be moved.",
            )
        return Path(folder)

    def move_previous_backups(self, folder: str, progress: Progress | None = None) -> dict:
        """Move every backup JobMatcher made for this data folder from a previous backup folder into the current one.

        One at a time (see BackupStore.move_in): each is in the old folder, the new one, or
        (after a failure) both. One move at a time per data folder: a second one waits for the first, and
        then moves what is left ("already_moved": True when the folder no longer holds any).
        Returns {"moved": [ids], "failed": [{"id", "message"}]}; once
        nothing is left, the folder is no longer listed. `progress` counts backups ("move").

        Raises:
            ValidationError: `folder` is not one of the settings' previous backup folders.
            BackupFolderUnavailableError / SettingsError: the old or the current folder cannot be used.
            A backup that cannot be moved is reported in "failed", not raised.
        """
        self._previous(folder)
        # One move at a time per data folder (the page's "Move them here" and a terminal, G17): the second
        # waits for the first, then finds what is left (nothing, or the folder no longer listed).
        guard = FileLock(self.data.root / MOVE_LOCK_NAME)
        try:
            if not guard.acquire():
                log.info("another JobMatcher is moving the backups from %s: waiting for it", folder)
                if not guard.acquire(timeout=MOVE_WAIT_SECONDS):
                    raise JobMatcherError(
                        f"Another JobMatcher is still moving the backups from {folder}.",
                        "Wait for it to finish, then run `jobmatcher settings --move-backups` again if any are left.",
                        "Wait for it to finish, then press Move them here again if any are left.",
                        code="move-running",
                    )
        except OSError as e:
            raise data_folder_refused(self.data.root, e) from None
        try:
            self._settings_cache = None  # the other move may have changed them meanwhile
            if folder not in self.settings.previous_backup_dirs:
                return {"moved": [], "failed": [], "already_moved": True}
            if self.is_current_folder(folder):
                # Its backups are already here: moving each onto itself would remove it (finding U8). Dropped.
                log.warning("previous backup folder %s is the current one under another path: dropped", folder)
                self.forget_previous_folder(folder)
                return {"moved": [], "failed": [], "same_folder": True}
            old = BackupStore(Path(folder), chosen=True, data=self.data)
            # Only this data folder's own backups: another data folder sharing that backup folder keeps its
            # history where it is (finding H17: a move used to take every backup with a manifest).
            items = [r for r in old.list() if r.has_manifest and r.owned]
            target = self.store
            moved, failed = [], []
            # newest first (as listed): a new folder too small for them all then holds the newest, which the
            # backup locations are copied from, and the oldest wait in the old folder (FINDINGS20 4's kind)
            for n, rec in enumerate(items):
                if progress:
                    progress("move", n, len(items), "backups")
                try:
                    moved.append(target.move_in(rec).id)
                except JobMatcherError as e:
                    log.warning("could not move %s: %s", rec.id, e.message)
                    failed.append({"id": rec.id, "message": e.message})
            if progress:
                progress("move", len(items), len(items), "backups")
            for backup_id, _own in old.live_links():
                # the live file under a second name there (X1): not a backup, never moved, and the folder stays
                # listed so that status keeps naming it until the user removes that name
                path = old.folder / f"{backup_id}.db"
                failed.append(
                    {
                        "id": backup_id,
                        "message": live_link_sentence(path.name, self.data.db_path, listed=False)
                        + f" Delete {path} (and its .json) yourself; your data stays in {self.data.db_path}.",
                    }
                )
            if not failed:
                self.forget_previous_folder(folder)
            return {"moved": moved, "failed": failed}
        finally:
            guard.release()

    def forget_previous_folder(self, folder: str) -> Settings:
        """Stop listing a previous backup folder (its files are left as they are); the saved settings.

        Raises ValidationError when `folder` is not listed; OSError when settings.json cannot be written."""
        self._previous(folder)
        s = self.settings
        s.previous_backup_dirs = [d for d in s.previous_backup_dirs if d != folder]
        save_settings(self.data.settings_path, s)
        return s

    # -- locks -----------------------------------------------------------------

    def take_instance_lock(self, activity: str = "") -> None:
        """Own the data folder (the app, a restore, a migration); refused while another process owns it.

        `activity`: what a command holds it for, in the user's words ("restoring a backup"), shown to a
        process refused meanwhile; empty for the app.

        Raises:
            InstanceLockedError: another process (named) owns the data folder.
            JobMatcherError: the lock file cannot be opened for writing (a read-only data folder), named.
        """
        if not self._instance.held:
            try:
                self._instance.take(activity)
            except OSError as e:  # the lock file cannot be opened for writing: a read-only folder
                raise data_folder_refused(self.data.root, e) from None
            self._make_private()

    def _make_private(self) -> None:
        """Close the data folder (0700) and its files (0600) to other users, also when an older version or
        another tool made them open: everything else in it is then out of their reach too."""
        root = self.data.root
        if not self.data.made_by_us():
            return  # a folder the user chose that holds none of ours yet: its mode is not ours to change
        for p in (
            root,
            root / "backups",
            self.data.db_path,
            side_file(self.data.db_path, WAL),
            side_file(self.data.db_path, SHM),
            self.data.settings_path,
        ):
            if p.exists():
                make_private(p)

    def release_instance_lock(self) -> None:
        """Give the data folder back (no-op when not held). Never raises."""
        self._instance.release()

    def remove_data_folder_if_unused(self) -> bool:
        """After a refused or failed command: give the data folder back and remove it when this process created
        it and it holds nothing but its lock files (DataDir.remove_if_unused; a mistyped --data-dir stays
        absent, finding L2). Returns whether it was removed. Never raises."""
        self.release_instance_lock()
        return self.data.remove_if_unused()

    def _reading_live(self) -> FileLock:
        """A shared hold that keeps a restore from swapping the file while we read it."""
        lock = FileLock(self.data.swap_lock_path, shared=True)
        try:
            acquired = lock.acquire(timeout=60)
        except OSError as e:
            raise data_folder_refused(self.data.root, e) from None
        if not acquired:
            raise RestoreStateError(
                "A restore is replacing the database right now.", "Try again in a minute.", state="running"
            )
        return lock

    # -- read-only queries -----------------------------------------------------

    def status(self) -> DbStatus:
        """Current revision, head and pending revisions (read-only; sizes in bytes). A revision from a newer
        version is reported (`known=False`), not raised.

        Raises DatabaseDamagedError when SQLite cannot read the database, or JobMatcherError naming another
        cause (a held lock, an I/O error, a data folder that refuses access)."""
        return DbStatus(data_dir=str(self.data.root), **db_state(self.data.db_path)._asdict())

    def list_backups(self, skipped: list[str] | None = None) -> list[BackupRecord]:
        """Every backup, newest first (read-only: reads manifests only; sizes in bytes).

        `skipped`: when given, gets one sentence per file in the folder not listed and why (BackupStore.list).
        Raises BackupFolderUnavailableError (a chosen folder not there) or SettingsError (as `store`)."""
        return self.store.list(skipped=skipped)

    def check(self) -> CheckReport:
        """`PRAGMA integrity_check` of the live database (read-only: creates and changes nothing).

        Damage is reported in the CheckReport (ok=False, problems), not raised. Raises DatabaseMissingError
        when there is no database yet; JobMatcherError when a restore holds the file for over 60 s."""
        db = self.data.db_path
        # C11, D1, D2: a pipe or a link at -shm is not a failed integrity check; a linked live database is refused
        # as every other command refuses it (FINDINGS18 5), not checked and called "OK" where the file it
        # points to may not be all of the data (its -wal is beside that file)
        refuse_linked_live(db)
        problem = live_problem(db)  # before "no database yet": a lost main file with its -wal is a problem
        if problem is None:
            require_exists(db)
        if problem is not None:
            return CheckReport(ok=False, problems=[f"The database file {problem}."], revision=None)
        if hot_journal(db):
            return CheckReport(ok=False, problems=[unfinished_write(db).message], revision=None)
        # A read-only command must not create the lock file: without it, no restore has ever run here; nor can
        # one run on a disk mounted read-only (it must write there), where the lock file cannot be opened to hold.
        lock = (
            None
            if self.read_only and (not self.data.swap_lock_path.exists() or _read_only_disk(self.data.root))
            else self._reading_live()
        )
        from .checkproc import schema_facts  # here: commands that never check do not load it

        try:
            try:
                problems, revision, facts = read_live(
                    db, lambda conn: (check_integrity(conn), schema.revision_of(conn), schema_facts(conn))
                )
            except sqlite3.DatabaseError as e:
                if not os.access(self.data.root, os.W_OK) and sqlite_cause(e) in (
                    sqlite3.SQLITE_CANTOPEN,
                    sqlite3.SQLITE_READONLY,
                ):  # not damage: a WAL database with its side files on a read-only disk cannot be opened
                    raise data_folder_refused(self.data.root) from None
                problems, revision, facts = [str(e)], None, {}
            if problems:  # SQLite reports a read that fails (EIO) as damage: say which it is
                from .checkproc import read_error  # here: commands that never check do not load it

                for f in (db, side_file(db, WAL)):
                    unreadable = read_error(f) if f.exists() else None
                    if unreadable:
                        problems = [
                            f"The file {f.name} could not be read to its end ({unreadable}): the disk holding "
                            "it may be failing. Copy the whole data folder to another disk before anything else."
                        ]
                        break
            from .schemaguard import foreign_objects

            foreign = [f.words() for f in foreign_objects(revision, facts)] if revision else []
            return CheckReport(ok=not problems and not foreign, problems=problems, revision=revision, foreign=foreign)
        finally:
            if lock is not None:
                lock.release()

    def resolve(self, id_or_path: str, store: BackupStore | None = None) -> Resolved:
        """The file, expected checksum, label and record for a backup id from the list or a file path.

        `store`: self.store, when the caller has it already (finding it validates the folder again).
        Raises ValidationError (empty), BackupNotFoundError (an unknown id that does not look like a path),
        BackupFolderUnavailableError (an id, not a path, while a chosen backup folder is not there).
        """
        if not isinstance(id_or_path, str) or not id_or_path.strip():
            raise ValidationError(
                "Name a backup id or a backup file.",
                "Run `jobmatcher backup list` to see the ids.",
                "Choose a backup from the list.",
            )
        try:
            rec = (store or self.store).get(id_or_path)
            m = read_manifest(Path(rec.path))
            return Resolved(Path(rec.path), m.sha256 if m else None, rec.id, rec, m.blake3 if m else None, m)
        except (BackupNotFoundError, ValidationError, BackupFolderUnavailableError) as e:
            looks_like_path = (
                os.sep in id_or_path or "/" in id_or_path or id_or_path.endswith(".db") or _exists(id_or_path)
            )
            if not looks_like_path and (
                isinstance(e, BackupFolderUnavailableError)
                or getattr(e, "reason", None) in ("not-a-backup", "live-linked")
            ):
                # an id while the drive is unplugged (K7), a file there that is not a backup (K11), the live file
                # under a second name (X1): say that
                raise
            if not looks_like_path:
                raise BackupNotFoundError(
                    f"There is no backup with the id '{id_or_path}'.",
                    "Run `jobmatcher backup list` to see the ids, or give a file path.",
                    "Reload the page to see the backups as they are now.",
                    id=id_or_path,
                ) from None
        if "\x00" in id_or_path:  # no file has that name: check_file_shape says so (reason "missing")
            nul = Path(id_or_path).absolute()
            return Resolved(nul, None, str(nul), None)
        try:
            path = user_path(id_or_path, "The file").absolute()
        except SettingsError as e:  # "~nobody/…": no such user; refused with its own message
            raise ValidationError(e.message, e.hint) from None
        # A file with a manifest beside it (a listed backup named by its path, one in a previous backup
        # folder, or one copied with its manifest) is held to that manifest's checksums, as by its id:
        # naming the file must not skip the check that catches a changed byte (finding H7).
        m = read_manifest(path) if path.suffix == ".db" else None
        if m is not None and (m.sha256 or m.blake3):
            try:
                store = store or self.store
                if path.parent.samefile(store.folder):
                    rec = store.get(path.stem)
                    return Resolved(Path(rec.path), m.sha256, rec.id, rec, m.blake3, m)
            except BackupNotFoundError as e:
                if getattr(e, "reason", None) == "live-linked":
                    raise  # the live file under a backup's name (X1), named by its path: said as by its id
            except (OSError, ValidationError, JobMatcherError):
                pass  # not this folder's listed backup: held to its manifest all the same
            return Resolved(path, m.sha256, str(path), None, m.blake3, m)
        return Resolved(path, None, str(path), None)

    def preview(self, id_or_path: str) -> BackupPreview:
        """What a backup (an id from the list, or a file) holds against the current data (read-only).

        Raises BackupNotFoundError / ValidationError for an unknown id, InvalidBackupError for a
        file that cannot be read as a database.
        """
        from .preview import BackupPreview, backup_label, compare, summarize

        path, rec = (r := self.resolve(id_or_path)).path, r.record
        try:
            # The checks verify makes before opening anything: a folder, an empty or non-SQLite file, unsaved
            # changes in a -wal or a hot -journal beside it are refused with their own reason, and the file
            # is opened only when no side file would have to be created or rolled back (looking changes nothing).
            from .verify import check_file_shape

            check_file_shape(path)
            size = path.stat().st_size
            backup = summarize(path)
        except InvalidBackupError:
            raise
        except FileNotFoundError:
            raise InvalidBackupError(f"There is no file {path}.", "Check the path.", reason="missing") from None
        except (sqlite3.DatabaseError, JobMatcherError, OSError) as e:
            log.info("preview of %s refused: %s", path, e)
            if _read_fails(path):  # a failing disk (SQLite may call it "malformed"): not the file's damage
                raise InvalidBackupError(
                    f"The file {path} could not be read to the end (a disk read error: the drive may be failing).",
                    "Copy the file to another disk and try again, or choose another backup.",
                    reason="read-error",
                ) from None
            raise InvalidBackupError(
                f"{path.name} cannot be read as a JobMatcher backup: it is damaged, unfinished or not a database.",
                "Check it with `jobmatcher backup verify` to see exactly why.",
                "Check it with Verify to see exactly why.",
                reason="unreadable",
            ) from None
        try:
            current = summarize(self.data.db_path) if self.data.db_path.exists() else None
        except (sqlite3.DatabaseError, JobMatcherError, OSError):
            current = None
        return BackupPreview(
            id=rec.id if rec else None,
            label=backup_label(rec.created_at) if rec else f"the file {printable(path.name)}",
            created_at=rec.created_at if rec else None,
            type=rec.type.value if rec else None,
            note=rec.note if rec else "",
            size_bytes=size,
            verified=rec.verified if rec else None,
            newer_version=bool(rec and rec.verify_message == NEWER_VERSION),
            changed_after_restore=bool(
                rec
                and (
                    rec.verify_message == CHANGED_AFTER_RESTORE
                    or (r.manifest is not None and r.manifest.changed_after_restore is not None)
                )
            ),
            backup=backup,
            current=current,
            tables=compare(backup, current),
        )

    def verify(self, id_or_path: str, spare: checkproc.SpareChild | None = None) -> VerifyResult:
        """Verify a listed backup (recording the result in its manifest) or any file.

        `spare`: a check child the caller started ahead (checkproc.SpareChild): the integrity check runs in
        it, memory-mapped, whatever the file's size, once it is ready. Left to the caller to close.
        Raises InvalidBackupError (with its `reason`) when it fails, BackupNotFoundError for an unknown id.
        """
        store = self.store  # once: finding it validates the backup folder
        # A listed backup's check starts first, in `spare` when it is ready: the lookups below run beside it.
        with store.start_check_of(id_or_path, spare) or contextlib.nullcontext() as early:
            return self._verify_resolved(store, self.resolve(id_or_path, store), spare, early)

    def _verify_resolved(
        self, store: BackupStore, r: Resolved, spare: checkproc.SpareChild | None, early: StartedCheck | None
    ) -> VerifyResult:
        """verify() of what resolve() found: `early` is the check store.start_check_of began, or None."""
        if r.record is not None:
            started = time.monotonic()
            before = r.manifest  # its size as claimed (the record has the file's)
            rec = store.verify(r.record.id, r.record, spare=spare, started=early)
            # Values of the engine's own, typed already: not validated again (model_construct), so a fresh
            # process builds no validator for its one answer (about 0.7 ms, BackupRecord's schema inside it).
            # Its serializer is built where it is written out (`--json`, the page), not for the plain command.
            return VerifyResult.model_construct(
                path=rec.path,
                size_bytes=rec.size_bytes,
                sha256=rec.sha256,
                schema_revision=rec.schema_revision,
                seconds=time.monotonic() - started,
                backup=rec,
                manifest_size_bytes=before.size_bytes
                if before is not None and before.size_bytes != rec.size_bytes
                else None,
            )
        self.refuse_the_live_file(r.path)
        from .verify import verify_file

        report = verify_file(
            r.path,
            expected_sha256=r.sha256,
            expected_blake3=r.blake3,
            every_checksum=True,
            sha256_sealed=r.sealed,
            spare=spare,
        )
        return VerifyResult.model_construct(  # as above
            path=report.path,
            size_bytes=report.size_bytes,
            sha256=report.sha256,
            schema_revision=report.schema_revision,
            seconds=report.seconds,
        )

    def check_restore_file(self, path: Path) -> FileCheck:
        """Check a file the user chose to restore from, as the restore will (never the live file itself).

        Raises InvalidBackupError with its `reason` when it cannot be restored.
        """
        self.refuse_the_live_file(path)
        from .verify import verify_file

        report = verify_file(path)
        return FileCheck(
            size_bytes=report.size_bytes,
            schema_revision=report.schema_revision,
            needs_update=report.schema_revision != schema.head(),
        )

    # -- what the edges may know about the folders (the facade: nothing reaches past it) ----

    @property
    def data_dir(self) -> Path:
        """The data folder (an absolute path). Never raises."""
        return self.data.root

    def folder_id(self) -> str | None:
        """This data folder's id (32 hexadecimal digits) as recorded in its backups and copies, or None when it
        has none yet (no backup made). Only looked at: never made here (datadir.DataDir.folder_id with
        create=False). Never raises."""
        return self.data.folder_id(create=False)

    def check_write_target(self, target: str | os.PathLike) -> Path:
        """`target` as an absolute path, when a user-chosen file may be written there (Export…), else
        ValidationError: never inside the data folder or the backup folder (nor either folder itself),
        and never the live database or one of its side files, by inode (a hard link or another name for
        it counts). Symlinks are resolved first. Writes nothing.

        Raises ValidationError naming why the place is refused (it cannot be resolved, or it is one of the
        places above)."""
        try:
            path = user_path(target, "The place to save").absolute()
        except SettingsError as e:  # "~nobody/…": no such user
            raise ValidationError(e.message, e.hint) from None
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError):
            raise ValidationError(
                f"{path} cannot be used as a place to save.", "Choose another place to save the copy."
            ) from None
        hint = "Choose a place outside JobMatcher's folders, such as your Documents folder."
        for what, folder in (("data folder", self.data.root), ("backup folder", self.data.backup_dir(check=False))):
            try:
                f = folder.resolve()
            except (OSError, RuntimeError, ValueError):
                continue
            if resolved == f or f in resolved.parents:
                raise ValidationError(
                    f"{path} is inside JobMatcher's {what} ({f}); saving there could replace your data or a backup.",
                    hint,
                )
        try:
            st = os.stat(resolved)
        except OSError:
            return path
        db = self.data.db_path
        for suffix in ("", *SIDE_SUFFIXES):
            try:
                live = os.stat(side_file(db, suffix) if suffix else db)
            except OSError:
                continue
            if (live.st_dev, live.st_ino) == (st.st_dev, st.st_ino):
                raise ValidationError(
                    f"{path} is your live database (another name for the same file); saving "
                    "there would replace your data.",
                    hint,
                )
        return path

    @property
    def backups_folder(self) -> Path:
        """Where backups are kept now (the chosen folder, or <data>/backups), to show it: not validated
        (every use of the folder is, see `store`), so a refused setting can still be seen and changed.
        Raises SettingsError only when settings.json is damaged."""
        return self.data.backup_dir(check=False)

    def backups_folder_problem(self) -> JobMatcherError | None:
        """Why the backup folder cannot be used now (returned, not raised: to show beside the settings), with
        the way out (connect the drive, or adopt a new one at the same place); None when it can. Never raises
        for an unavailable folder; SettingsError only for a damaged settings.json."""
        try:
            store = self.store
        except JobMatcherError as e:
            return e
        return None if store.available() else unavailable_error(store.folder)

    @property
    def default_backups_folder(self) -> Path:
        """<data>/backups, the folder used when none is chosen (whether or not it exists). Never raises."""
        return self.data.root / "backups"

    @property
    def database_path(self) -> Path:
        """The live database (for naming it in messages; open it with `connect`). Never raises."""
        return self.data.db_path

    @property
    def settings_path(self) -> Path:
        """settings.json in the data folder (whether or not it exists). Never raises."""
        return self.data.settings_path

    @property
    def schedule_path(self) -> Path:
        """Where the running app records its backup schedule for `jobmatcher status`. Never raises."""
        return self.data.schedule_path

    @staticmethod
    def known_revisions() -> list[str]:
        """The schema revisions this version knows, oldest first (the last is the newest). Never raises."""
        return list(schema.revisions())

    def restore_unfinished(self) -> bool:
        """True while a restore's journal says one is under way or was interrupted (the next launch finishes it).
        Never raises."""
        return self.data.journal_path.exists()

    def get_backup(self, backup_id: str) -> BackupRecord:
        """A listed backup by id.

        Raises BackupNotFoundError (no such backup), ValidationError (not shaped like an id),
        SettingsError (as `store`)."""
        return self.store.get(backup_id)

    def require_backups_folder(self) -> Path:
        """The backups folder, refused (BackupFolderUnavailableError) when a chosen one is not there (never made).
        Raises SettingsError as `store` does."""
        store = self.store
        store.require_available()
        return store.folder

    def refuse_the_live_file(self, path: Path) -> None:
        """Raises InvalidBackupError (reason "is-live-database") when `path` is this data folder's live
        database (the same file, by inode), not a backup; otherwise nothing."""
        from .restore import refuse_the_live_file

        refuse_the_live_file(self.data, path)

    # -- writes ------------------------------------------------------------------

    def create_backup(
        self,
        note: str = "",
        kind: BackupType = BackupType.manual,
        progress: Progress | None = None,
        method: str = "auto",
        listed: list[BackupRecord] | None = None,
    ) -> CreatedBackup:
        """Make a verified backup of the live database (allowed while the app runs).

        An automatic backup (kind=auto) is made only when the data changed since this data folder's
        newest backup that passed its check: that is decided from the data, not file times. The
        snapshot is taken as always (a copy at file speed under SQLite's write lock) and its SHA-256
        compared with that backup's; snapshots of unchanged data are byte-identical (also after a
        checkpoint: tests/test_edges_own.py proves it), so an equal checksum means unchanged. Then
        no file is kept and the existing backup is returned with `unchanged=True`. A checksum costs
        one read of the copy (and skips the integrity check); a change counter kept by triggers would
        need a schema revision and would miss changes made by other programs or by SQL outside the app.
        `note`: one line, at most 500 characters (manifest.clean_note: tabs become spaces).
        `progress`: "copy" in pages, "verify" a step.

        Raises:
            ValidationError: the note is too long or holds a line break or control character.
            DatabaseMissingError: there is no database yet.
            LiveDatabaseLinkError: the live database is a symbolic link (database.refuse_linked_live).
            JobMatcherError: a restore holds the file for over 60 s.
            Otherwise as BackupStore.create (BackupFailedError, InsufficientSpaceError,
            BackupFolderUnavailableError, NewerSchemaError, ...); no file is left when it fails.
        """
        note = clean_note(note)  # one line; tabs become spaces
        refuse_linked_live(self.data.db_path)  # its -wal is elsewhere: a backup would miss changes (V5)
        require_exists(self.data.db_path)
        lock = self._reading_live()
        try:
            return self.store.create(
                self.data.db_path,
                kind,
                note,
                progress,
                method=method,
                reuse_identical=kind == BackupType.auto,
                listed=listed,
            )
        finally:
            lock.release()

    def set_pinned(self, backup_id: str, pinned: bool) -> BackupRecord:
        """Pin (kept by every retention rule) or unpin a listed backup; its updated record.
        Raises BackupNotFoundError / ValidationError for an id not in the list."""
        return self.store.set_pinned(backup_id, pinned)

    def delete_backup(self, backup_id: str) -> BackupRecord:
        """Delete a listed backup and its manifest; the deleted record. An id that names the live database itself
        under a second name (a hard link into the backup folder, X1) has that name and its manifest removed
        (BackupStore.remove_live_link): the data stays in the live file.

        Raises JobMatcherError for the safety backup an interrupted restore still needs (or a file that
        cannot be deleted, named); BackupNotFoundError / ValidationError for an unknown id."""
        try:
            rec = self.store.get(backup_id)
        except BackupNotFoundError as e:
            if getattr(e, "reason", None) != "live-linked":
                raise
            # the live file under a second name (X1): only that name goes, never data
            return self.store.remove_live_link(backup_id)
        if self._needed_for_recovery(rec):
            raise JobMatcherError(
                f"The backup {rec.id} is still needed: a restore was interrupted, and this safety backup is what "
                "JobMatcher puts back (or checks against) when it next starts.",
                "Start JobMatcher once (or run `jobmatcher db migrate`) so it finishes the restore, then delete it.",
                "Close JobMatcher and open it again so it finishes the restore, then delete it.",
                code="needed-for-recovery",
                id=rec.id,
            )
        return self.store.delete(backup_id)

    def _needed_for_recovery(self, rec: BackupRecord) -> bool:
        return self._recovery_keeper()(rec)

    def _recovery_keeper(self) -> Callable[[BackupRecord], bool]:
        """`keep` for a retention plan: True for the safety backup an interrupted restore still needs. The
        restore journal is read once here, not once per backup (935 readings in a plan for 1,000 backups)."""
        from .restore import pending_recovery_backup

        needed = pending_recovery_backup(self.data)
        if needed is None:
            return lambda rec: False

        def keep(rec: BackupRecord) -> bool:
            try:
                return os.path.samefile(needed, rec.path)
            except OSError:
                return Path(needed).name == Path(rec.path).name

        return keep

    def schedule_state(self) -> dict | None:
        """The running app's schedule (ScheduleState.to_dict()), or None when no app has this data folder open.
        Never raises (an unreadable file: None)."""
        import json

        try:
            body = json.loads(read_small_file(self.data.schedule_path))
            pid = int(body["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        from .fsutil import process_gone

        return None if process_gone(pid) else body

    def health(self, schedule: dict | None = None, now: datetime | None = None) -> Health:
        """The health rule (health.py) on this data folder's facts; read-only, but for one repair in the app (an
        engine not opened `read_only`): a backup still "checking" whose check is gone gets it started again in
        the background (checklock.py). A `read_only` engine (the command line's `status`, which promises to
        change nothing) starts nothing: its caller says the check is pending (listing.stopped_checks).

        `schedule`: the running app's ScheduleState.to_dict() when the caller is that app; otherwise
        it is read from the file the app keeps. `now`: UTC, default the clock. Sizes in bytes.

        Raises SettingsError (damaged settings.json, a refused backup folder); an unavailable folder is
        a warning in the result, not an error.
        """
        from .fsutil import free_space
        from .health import assess

        s = self.settings
        store = self.store
        schedule = schedule if schedule is not None else self.schedule_state()
        available = store.available()
        backups = store.list() if available else []
        # a restore's safety backup whose check was killed (V7): the app starts it again; `status` only reports
        if not self.read_only and checklock.interrupted(backups, self.data):
            checklock.finish_interrupted_checks(store, self.data, backups, detached=True)
        free = None
        if available and store.folder.is_dir():
            try:
                free = free_space(store.folder)
            except OSError:
                free = None
        db = self.data.db_path
        db_bytes = file_size(db) + file_size(side_file(db, WAL))
        budget = self.budget_bytes(s)
        over = False
        if backups:
            from .retention import RetentionPolicy

            p, _gone = self.store.prune_plan(RetentionPolicy.from_settings(s, budget), now, items=backups)
            over = p.over_budget
        when = now or datetime.now(timezone.utc)
        previous, previous_folders = self._previous_own()
        # This data folder's own backups decide its health: not files added by hand (age unknown) or others'.
        own = [b for b in backups if is_own_backup(b)]
        health = assess(
            when,
            own,
            interval_minutes=s.auto_backup_minutes,
            app_running=schedule is not None,
            schedule=schedule,
            folder=str(store.folder),
            folder_available=available,
            free_bytes=free,
            db_bytes=db_bytes,
            budget_bytes=budget,
            over_budget=over,
            # what the next backup writes: the backup folder (the default one not made yet goes in the data
            # folder, checked next) and the data folder, where a backup takes the database's write lock
            folder_writable=_writable(store.folder) if store.folder.is_dir() else True,
            data_folder=str(self.data.root),
            data_writable=not self.data.root.is_dir()
            or (_writable(self.data.root) and (not db.exists() or os.access(db, os.W_OK))),
            previous=previous,
            previous_folders=previous_folders,
            database_problem=self._backup_blocker(),
            live_links=(links := self.live_links()),
        )
        health.uncounted = len(backups) - len(own)  # listed by `backup list` and the page, never counted
        if (other := self.live_other_names(links)) is not None:  # a `cp -al` copy shares this file (Y5)
            from .health import HealthWarning

            health.warnings.append(HealthWarning(code="live-shared", level="warn", message=other[0], hint=other[1]))
            if health.level == "ok":
                health.level = "warn"
        from .restore import interrupted_restore

        if interrupted_restore(self.data):  # C8: the launch finishes or undoes it; until then, said
            from .health import HealthWarning

            health.warnings.insert(
                0,
                HealthWarning(
                    code="restore-interrupted",
                    level="warn",
                    message="A restore was stopped before it finished (its process ended): your data is either as "
                    "it was before it or already restored, and JobMatcher finishes or undoes it when it next opens.",
                    hint="Open JobMatcher, or run `jobmatcher db migrate`: it finishes or undoes the restore and "
                    "says which.",
                    page_hint="Close JobMatcher and open it again: it finishes or undoes the restore and says which.",
                ),
            )
            if health.level == "ok":
                health.level = "warn"
        note = self.data.id_file_note()
        if note is not None:  # a damaged id file is never silent: whose backups are whose hangs on it (X11)
            from .health import HealthWarning

            health.warnings.append(HealthWarning(code="folder-id", level="warn", message=note[0], hint=note[1]))
            if health.level == "ok":
                health.level = "warn"
        return self._with_locations(health, when, s.auto_backup_minutes)

    def live_other_names(self, links: list[dict] | None = None) -> tuple[str, str] | None:
        """(what is wrong, what to do) when the live database has more names than the backups `links`
        (live_links' rows; asked when None) explain: another data folder's live file or any other path shares
        it (a `cp -al` copy of the data folder, finding Y5), so every edit here also changes that file. None
        while a restore is under way (its journal names its own brief link) or when every name is explained.
        One lstat when the live file has one name. Only a regular file has hard links: a folder's link count is
        its subfolders plus two (D8), so a folder at the name is never "a second name". Read-only; never raises."""
        try:
            st = os.lstat(self.data.db_path)
        except OSError:
            return None
        names = st.st_nlink if stat.S_ISREG(st.st_mode) else 1
        if names < 2 or os.path.lexists(self.data.journal_path):
            return None
        if links is None:
            links = self.live_links()
        if names - 1 <= len({link["path"] for link in links}):
            return None
        return (
            f"{DB_NAME} has a second name elsewhere (a hard link, e.g. from `cp -al`): edits here also change "
            "that file.",
            "Copy the data folder with `cp -a` to separate them (or make a backup and restore it in the copy).",
        )

    def live_links(self) -> list[dict]:
        """The backups that are the live database itself under a second name (a hard link made by hand, e.g. a
        "restore" by `ln`: finding X1), in the backup folder and the previous ones, as [{"id", "path", "folder",
        "deletable", "live"}]; `deletable`: a backup JobMatcher made, in the current folder, so `backup delete
        ID` removes the name. Not backups: every edit changes them. One lstat when the live file has no other
        name (or is not a regular file: a folder's link count is no hard link, D8). Read-only; never raises (a folder
        that cannot be read or is refused: nothing found there)."""
        try:
            live = os.lstat(self.data.db_path)
            if live.st_nlink < 2 or not stat.S_ISREG(live.st_mode):
                return []
        except OSError:
            return []
        found = []
        folders: list[tuple[BackupStore, bool]] = []
        try:
            folders.append((self.store, True))
            folders += [
                (BackupStore(Path(f), chosen=True, data=self.data), False)
                for f in self.settings.previous_backup_dirs
                if not self.is_current_folder(f)
            ]
        except (JobMatcherError, OSError):
            pass
        for store, current in folders:
            for backup_id, own in store.live_links():
                path = store.folder / f"{backup_id}.db"
                found.append(
                    {
                        "id": backup_id,
                        "path": str(path),
                        "folder": str(store.folder),
                        "deletable": current and own,
                        "live": str(self.data.db_path),
                    }
                )
        for name, folder in self._location_copy_folders():
            for backup_id, _own in BackupStore(folder, data=self.data).live_links():
                found.append(
                    {
                        "id": backup_id,
                        "path": str(folder / f"{backup_id}.db"),
                        "folder": str(folder),
                        "deletable": False,  # a location's copies are its sync's and prune's to manage
                        "live": str(self.data.db_path),
                        "location": name,
                    }
                )
        return found

    def _location_copy_folders(self) -> list[tuple[str, Path]]:
        """(name, folder) of this data folder's copies at each folder location without encryption (where a copy is
        a plain `.db` a hand "restore" could link as the live file), on the live file's disk (a hard link cannot
        cross disks). Only asked when the live file has a second name. Never raises (unreadable: none)."""
        if not (self.data.root / LOCATIONS_NAME).exists():
            return []
        try:
            from .locations.config import load_config
            from .locations.remote import namespace

            dev = os.lstat(self.data.db_path).st_dev
            fid = self.data.folder_id(create=False)
            out = []
            for loc in load_config(self.data.root).locations:
                if loc.kind != "folder" or loc.encrypt or not loc.path or not fid:
                    continue
                folder = Path(loc.path) / namespace(fid)
                try:
                    if os.stat(folder).st_dev == dev:
                        out.append((loc.name, folder))
                except OSError:
                    continue
            return out
        except (JobMatcherError, OSError, ValueError):
            return []

    def _backup_blocker(self) -> tuple[str, str] | None:
        """(what is wrong, what to do) when the live database cannot be backed up as it is: lost (also with its
        -wal holding changes), empty, damaged, or data of a newer JobMatcher; None when it can (or there is none
        yet: that is for the caller to say). Read-only: creates and changes nothing."""
        db = self.data.db_path
        try:
            refuse_linked_live(db)
        except LiveDatabaseLinkError as e:
            return e.message, e.hint or ""
        problem = live_problem(db)
        if problem is not None:
            return (
                f"Your database {db} {problem}, so no backup of it can be made.",
                "Restore your newest backup that passed its check; the unreadable files are moved aside, "
                "never deleted.",
            )
        if not db.exists():
            return None
        try:  # the revision and the schema facts in one read (about a millisecond)
            revision, facts = live_schema(db)
        except DatabaseDamagedError as e:  # SQLite cannot read it: said as it is
            return e.message, e.hint
        except JobMatcherError:  # a passing cause (a restore holding the file, a busy lock): not for status to judge
            return None
        if not schema.is_known(revision):
            return (
                f"Your data was updated by a newer version of JobMatcher (schema {revision}), so no backup of it "
                "can be made with this version.",
                "Use the newer version of JobMatcher: it makes its own backups.",
            )
        if revision is not None:
            from .schemaguard import describe, foreign_objects

            found = foreign_objects(revision, facts)  # objects that would fail every backup's check
            if found:
                return (
                    f"Your data holds {describe(found)} that JobMatcher did not make; it could change or delete "
                    "your data when you edit it, and no backup of it can be made.",
                    "Close JobMatcher and open it again: it removes triggers and views it did not make, after a "
                    "safety backup. For anything else named, restore a backup made before it appeared.",
                )
        return None

    def _previous_own(self) -> tuple[list[BackupRecord], list[str]]:
        """This data folder's own backups still in previous backup folders (those available), and those
        folders (read-only)."""
        found: list[BackupRecord] = []
        folders: list[str] = []
        for folder in self.settings.previous_backup_dirs:
            if self.is_current_folder(folder):
                continue
            try:
                items = [r for r in BackupStore(Path(folder), chosen=True, data=self.data).list() if is_own_backup(r)]
            except (JobMatcherError, OSError):
                continue
            if items:
                found += items
                folders.append(folder)
        return found, folders

    def _with_locations(self, health: Health, now: datetime, interval_minutes: int) -> Health:
        """The health rule's part for backup locations (as last seen: no network), when there are any."""
        if not (self.data.root / LOCATIONS_NAME).exists():
            # no locations: their models, boto3 and pyrage stay unloaded; a recovered data folder is told (X21)
            return self._recovered_without_location(health)
        from .health import assess_locations

        try:
            locs = self.locations
            locs.config()
        except (JobMatcherError, OSError) as e:
            # The locations file cannot be read: no location copies anything until it is fixed (L23). Red, as
            # for any copy that stopped, never silence (which would read as "no locations set up").
            return self._locations_unreadable(health, e)
        try:
            rows = locs.status(check=False)
            line = locs.status_line(now, interval_minutes)
        except JobMatcherError as e:
            log.warning("backup locations not assessed: %s", e.message)
            return health
        if not rows:
            return self._recovered_without_location(health)
        extra = assess_locations(now, rows, interval_minutes)
        if any(r.enabled and r.encrypted for r in rows) and locs.identity_path().is_file():
            from .errors import KeyFileDamagedError
            from .health import HealthWarning

            try:  # a damaged key file stops every encrypted copy: red now, not at the next failed copy (H21)
                locs._locked_identity()
            except KeyFileDamagedError as e:
                extra.append(
                    HealthWarning(code=e.code, level="error", message=e.message, hint=e.hint, page_hint=e.page_hint)
                )
            except OSError:
                pass  # unreadable for another reason: the copies say so when they try
        warnings = sorted(health.warnings + extra, key=lambda w: w.level != "error")
        level = health.level
        if extra:
            level = "error" if any(w.level == "error" for w in warnings) else "warn"
        return health.model_copy(update={"warnings": warnings, "level": level, "copies": line})

    def _recovered_without_location(self, health: Health) -> Health:
        """`health`, with a warning when this data folder was restored from a backup location (a disaster
        recovery: adopted_at) and has no backup location now: its data has no copy off this computer (X21)."""
        when = self.data.adopted_at()
        if when is None:
            return health
        from .health import HealthWarning

        warning = HealthWarning(
            code="recovered-no-location",
            level="warn",
            message=f"This data folder was restored from a backup location ({when.astimezone():%d %b %Y}), and "
            "no backup location is set up here now: your data has no copy off this computer.",
            hint="Add the same place again (`jobmatcher location add folder PATH`, or `jobmatcher location add s3 …` "
            "with the same bucket and prefix): its new copies join the ones there.",
            page_hint="Add the same place again under Backup & Restore → Backup locations: its new copies join the "
            "ones there.",
        )
        level = health.level if health.level == "error" else "warn"
        return health.model_copy(update={"warnings": [*health.warnings, warning], "level": level})

    def _locations_unreadable(self, health: Health, error: JobMatcherError | OSError) -> Health:
        """`health` with the red warning that the backup locations file cannot be read (damaged or unreadable):
        copies off this disk have stopped until the user fixes or deletes it."""
        from .health import HealthWarning
        from .locations.config import CONFIG_NAME

        path = self.data.root / CONFIG_NAME
        if isinstance(error, NotOwnFileError):  # C4: what is there, not a read error to look into
            there = (
                "a folder, a pipe or a device" if error.errno == errno.EINVAL else "a file far larger than JobMatcher's"
            )
            cause = f"is not a file JobMatcher wrote ({there} is at its name)"
        elif isinstance(error, JobMatcherError):
            cause = "is damaged"
        else:
            cause = f"cannot be read ({error.strerror or error})"
        hint = (
            "Run `jobmatcher location list` to see what is wrong with it, then fix or delete that file "
            "(deleting it forgets the locations, not the copies; add them again afterwards)."
        )
        page_hint = (
            f"Fix or delete {path} (deleting it forgets the locations, not the copies; add them again afterwards)."
        )
        if isinstance(error, NotOwnFileError):
            page_hint = hint = (
                f"Move what is at {path} out of the data folder (JobMatcher does not delete what it did not make), "
                "then add your locations again: their copies are still there."
            )
        warning = HealthWarning(
            code="locations-unreadable",
            level="error",
            message=f"The backup locations file {path} {cause}, so copies off this disk have stopped.",
            hint=hint,
            page_hint=page_hint,
        )
        return health.model_copy(
            update={
                "warnings": [warning, *health.warnings],
                "level": "error",
                "copies": "copies off this disk: stopped (the backup locations file cannot be read)",
            }
        )

    def budget_bytes(self, settings: Settings | None = None) -> int:
        """The most space backups may take, in bytes: the setting (MiB), else 2 GiB or 20x the database,
        whichever is larger. Raises SettingsError (damaged settings.json) when `settings` is not given."""
        s = settings or self.settings
        if s.budget_mb:
            return s.budget_mb * (1 << 20)
        db = self.data.db_path
        return max(2 << 30, 20 * (file_size(db) + file_size(side_file(db, WAL))))

    def retention_policy(self) -> RetentionPolicy:
        """The retention policy the settings describe, with its budget in bytes. Raises SettingsError
        when settings.json is damaged."""
        from .retention import RetentionPolicy

        s = self.settings
        return RetentionPolicy.from_settings(s, self.budget_bytes(s))

    def prune_plan(self, now: datetime | None = None) -> tuple[Plan, list[BackupRecord]]:
        """What `prune` would do and why: a rule for every backup (read-only).

        Raises BackupFolderUnavailableError / SettingsError as `list_backups` does."""
        return self.store.prune_plan(self.retention_policy(), now, keep=self._recovery_keeper())

    def prune(self, dry_run: bool = False, now: datetime | None = None) -> list[BackupRecord]:
        """Delete the backups the retention settings make obsolete (see retention.py for the rules; the
        safety backup an interrupted restore still needs is kept too). Returns those deleted (with
        `dry_run`: those that would be).

        Raises BackupFolderUnavailableError / SettingsError as `list_backups` does; a backup that
        cannot be deleted is logged and left, not raised."""
        return self.store.prune(self.retention_policy(), now, dry_run, keep=self._recovery_keeper())

    def restore(
        self, id_or_path: str, progress: Progress | None = None, label: str | None = None, take_file: bool = False
    ) -> RestoreResult:
        """Replace the live data with a backup (safety backup first). Needs the data folder to itself.

        `label`: what was restored in the user's words, for the safety backup's note ("Before restoring
        the file Résumé.db"); by default "the backup from 30 Nov 2026, 11:56" or "the file NAME".
        `progress`: see restore.restore for its phases and units. `take_file`: the path is a temp file of
        the app's own in the data folder (a page's upload), renamed into place rather than copied
        (restore.restore's take_source); never for a listed backup or a user's file.

        Raises:
            ValidationError / BackupNotFoundError: as `resolve` (empty, or an unknown id).
            InstanceLockedError: another process owns the data folder.
            Otherwise as restore.restore (InvalidBackupError, InsufficientSpaceError, DatabaseInUseError,
            RestoreFailedError with `recovered`); the data is as before unless the restore succeeded.
        """
        from .preview import backup_label

        path, rec = (r := self.resolve(id_or_path)).path, r.record
        if label is None:
            label = backup_label(rec.created_at) if rec is not None else f"the file {printable(path.name)}"
        owned_before = self._instance.held
        self.take_instance_lock("restoring a backup")
        try:
            # Backups that are the live file under a second name (X1): after the swap they keep the replaced
            # data, which their manifests do not describe; checked again then, so none passes as it was.
            linked = [backup_id for backup_id, own in self.store.live_links() if own]
            changed = False
            if rec is not None and rec.verified is not True:  # a safety backup written since the restore (W6)
                m, _ = self.store.note_changed_since_restore(rec, r.manifest)
                changed = m is not None and m.changed_after_restore is not None
            # One changed after its restore (Y7) is restored as the file it is now, checked in full as a file from
            # outside (its recorded checksums prove nothing about the data from before), and said so in the result.
            try:
                result = self._restore_checked(r, changed, label, progress, take_file)
            except InvalidBackupError as e:
                if rec is not None and e.reason == "checksum-mismatch" and not changed:
                    from .backups import add_checksum_way_out

                    e.message = e.message.replace(path.name, rec.id)
                    add_checksum_way_out(e, rec.id, path)
                raise
            result.source_changed_after_restore = changed
            for backup_id in linked:
                try:
                    self.store.verify(backup_id)
                except (JobMatcherError, OSError) as e:  # the expected outcome: recorded as failed in its manifest
                    log.info("%s, once the live file, checked after the restore: %s", backup_id, e)
            return result
        finally:
            if not owned_before:
                self.release_instance_lock()

    def _restore_checked(
        self, r: Resolved, changed: bool, label: str, progress: Progress | None, take_file: bool
    ) -> RestoreResult:
        """restore.restore of the resolved `r` (see restore()): `changed`, a safety backup changed after its
        restore, is checked in full as the file it is now."""
        from .restore import restore

        path, sha, rec = r.path, r.sha256, r.record
        return restore(
            self.data,
            self.store,
            path,
            None if changed else sha,
            label,
            progress,
            source_verified=rec is not None and rec.verified is True,
            expected_blake3=None if changed else r.blake3,
            sealed=r.sealed and not changed,
            take_source=take_file and rec is None,
        )

    def migrate(self, target: str | None = None, progress: Progress | None = None) -> LaunchReport:
        """The launch sequence without the automatic backup: lock, recover, pre-migration backup, upgrade, prune.

        Raises InstanceLockedError (another JobMatcher owns the folder), MigrationBlockedError (the backup
        before the update failed: nothing was changed), NewerSchemaError, ValidationError (an unknown `target`).
        """
        owned_before = self._instance.held
        self.take_instance_lock("updating its database")
        try:
            return self.launch(target=target, auto_backup=False, progress=progress)
        finally:
            if not owned_before:
                self.release_instance_lock()

    def launch(
        self, target: str | None = None, auto_backup: bool = True, progress: Progress | None = None
    ) -> LaunchReport:
        """Open the data folder as the app does: every step of the launch sequence, in order.

        Keeps the instance lock on success (the app owns the folder from then on);
        gives it back if the launch fails. `progress` gets the automatic or pre-migration backup's
        phases ("copy" in pages, "verify") and the schema update ("migrate", a step).

        Raises:
            InstanceLockedError: another process owns the data folder.
            NewerSchemaError: the database was updated by a newer JobMatcher.
            ValidationError: `target` is unknown, or older than the database.
            MigrationBlockedError: the backup before a schema update failed (nothing was changed).
            DatabaseDamagedError / JobMatcherError: the database or an interrupted restore cannot be
                settled, or the update failed (named: a full disk, a read-only folder...).
            A failed automatic backup is reported in the LaunchReport, not raised.
        """
        took = not self._instance.held
        self.take_instance_lock()
        try:
            return self._launch(target, auto_backup, progress)
        except BaseException:
            if took:
                self.release_instance_lock()
            raise

    def _launch(self, target: str | None, auto_backup: bool, progress: Progress | None) -> LaunchReport:
        from .restore import recover

        refuse_linked_live(self.data.db_path)  # V5: before a recovery, a migration's backup or an upgrade
        report = LaunchReport()
        report.recovered = recover(self.data)
        remove_dead_temp_files(self.data.root, own_data_folder_file)  # a journal/settings file killed mid-write
        try:
            store: BackupStore | None = self.store
        except SettingsError as e:  # never open the data with backups going somewhere they must not
            store, report.backup_folder_error = None, str(e)
            log.warning("backup folder refused: %s", e)
        folder_ok = store is not None and store.available()  # a chosen folder on an unplugged drive: data opens
        if store is not None and folder_ok:
            store.cleanup()
        db = self.data.db_path
        if settle_hot_journal(db):  # an interrupted write of another program: SQLite undoes it (we own the folder)
            log.warning("rolled back an unfinished write left in %s-journal", db.name)
        elif drop_stale_journal(db):  # a finished write's journal that a power cut brought back
            log.info("removed a spent %s-journal", db.name)
        # None for a new data folder; refuses a lost main file with its -wal. The schema guard's facts come
        # from the same read.
        current, facts = live_schema(db)
        require_known_revision(current)
        if current is not None:
            self._remove_foreign_schema(report, current, facts, store if folder_ok else None, progress)
        if target is not None and target not in schema.revisions():
            raise ValidationError(
                f"{target!r} is not a revision this version knows.",
                f"Known revisions: {', '.join(schema.revisions())}.",
            )
        if (
            target is not None
            and current is not None
            and schema.revisions().index(target) < schema.revisions().index(current)
        ):
            raise ValidationError(
                f"The database is already at {current}, newer than {target}; "
                "going back is done by restoring the pre-migration backup.",
                "Run `jobmatcher backup list` and restore the backup marked pre-migration.",
                "Restore the backup marked “Before update”.",
            )
        todo = schema.pending(current, target)
        if todo:
            if current is not None or db.exists():
                report.pre_migration_backup = self._pre_migration_backup(current, todo, progress).id
            else:
                report.created = True
            log.info("migrating %s from %s through %s", db, current, todo)
            try:
                with step(progress, "migrate"):  # Alembic's steps say nothing of how far they are
                    schema.upgrade(db, target)
            except Exception as e:  # one transaction: a failure leaves the old revision
                named = explain(e, f"updating the database to the new version ({current or 'new'} to {todo[-1]})", db)
                if named is None or named is e:
                    raise
                log.warning("schema update failed: %s", e)
                raise named from None
            report.migrated_from, report.migrated_to = current, todo[-1]
        if store is None:
            return report
        if not folder_ok:
            report.fail_auto_backup(unavailable_error(store.folder))
            return report
        # The automatic backup first: pruning then sees it, and always keeps the newest that passed.
        # The backup list is read once: the automatic-backup check and prune work on it.
        items = store.list()
        # A restore's safety backup whose check was killed after the restore (no journal left): checked now
        if checklock.interrupted(items, self.data) and checklock.finish_interrupted_checks(store, self.data, items):
            items = store.list()
        if auto_backup and not report.created:
            made = self._auto_backup(report, progress, items)
            if made is not None and not made.unchanged:
                items = [made, *items]
        report.pruned = [r.id for r in store.prune(self.retention_policy(), items=items, keep=self._recovery_keeper())]
        report.future_backups = [r.id for r in items if r.future and is_own_backup(r)]
        links = self.live_links()
        report.live_links = [live_link_warning(link)[0] for link in links]
        if (other := self.live_other_names(links)) is not None:  # another folder's live file shares it (Y5)
            report.live_links.append(other[0])
        for message in report.live_links:
            log.warning("%s", message)
        return report

    def _remove_foreign_schema(
        self, report: LaunchReport, revision: str, facts: dict, store: BackupStore | None, progress: Progress | None
    ) -> None:
        """Triggers and views JobMatcher did not make are removed from the live data, after a safety backup that
        keeps them (their exact bytes), in one transaction; what the guard finds and cannot remove is reported.

        Why remove rather than only report: SQLite runs a trigger on the app's own writes, so a trigger that a
        restore made before the schema guard existed brought in (T12) deletes data at the user's next edit,
        before anyone reads a report. No migration makes a trigger or a view, the safety backup keeps them, and
        a view holds no data. Virtual tables, foreign keys and conflict clauses are part of a table's data or
        definition: removing them means rebuilding a table, which is not done behind the user's back; they are
        reported (LaunchReport.foreign_schema, `db check`). Without a usable backup folder nothing is removed
        (no safety backup can be made) and that is reported. Raises what the safety backup or the write raises
        (named JobMatcherError); the data is then unchanged. `facts`: the live database's schema facts
        (database.live_schema, read with the revision).
        """
        from .schemaguard import describe, foreign_objects

        db = self.data.db_path
        found = foreign_objects(revision, facts)
        if not found:
            return
        removable = [f for f in found if f.kind in ("trigger", "view")]
        kept = [f for f in found if f not in removable]
        if removable and store is None:
            report.foreign_schema = (
                f"Your data holds {describe(found)} that JobMatcher did not make; it could change or delete your data "
                "when you edit it. JobMatcher removes triggers and views after a safety backup, but the backup "
                "folder cannot be used now: connect it (or choose another), then start JobMatcher again."
            )
            log.warning("foreign schema objects kept (no backup folder): %s", describe(found, 20))
            return
        if removable:
            assert store is not None
            safety = store.create(
                db,
                BackupType.safety,
                note="Before removing triggers and views JobMatcher did not make",
                progress=progress,
            )
            conn = connect(db)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for f in removable:
                        quoted = '"' + f.name.replace('"', '""') + '"'
                        conn.execute(f"DROP {f.kind.upper()} IF EXISTS {quoted}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
            report.removed_foreign = [f.words() for f in removable]
            report.removed_foreign_backup = safety.id
            log.warning("removed %s (safety backup %s)", describe(removable, 20), safety.id)
        if kept:
            report.foreign_schema = (
                f"Your data holds {describe(kept)} that JobMatcher did not make; it could change or delete your data "
                "when you edit it, and no backup of it can be made. Restore a backup made before it appeared."
            )
            log.warning("foreign schema objects kept: %s", describe(kept, 20))

    def _pre_migration_backup(self, current: str | None, todo: list[str], progress) -> CreatedBackup:
        """The backup made before a schema update; an identical one from an earlier, failed attempt is reused,
        so an update failing at every launch does not add a copy each time."""
        try:
            return self.store.create(
                self.data.db_path,
                BackupType.pre_migration,
                note=f"Before updating from {current} to {todo[-1]}",
                progress=progress,
                reuse_identical=True,
            )
        except JobMatcherError as e:
            raise MigrationBlockedError(
                f"JobMatcher needs to update your database, but the backup it makes first failed: {e.message} "
                "The update did not run; your data is unchanged.",
                e.hint or "Free up space or fix permissions in the backup folder, then start JobMatcher again.",
                e.page_hint,  # the cause's own words for the page (a full backup folder: where to choose another)
                cause=e.code,
            ) from None

    def backup_due(self, now: datetime | None = None) -> bool:
        """True when an automatic backup is due by the clock: automatic backups are on and this data folder's
        newest backup (not counting any dated in the future, or added by hand) is older than the setting.
        Whether the data changed is decided by auto_backup(), from the data itself.

        Raises BackupFolderUnavailableError / SettingsError as `list_backups` does."""
        minutes = self.settings.auto_backup_minutes
        if not minutes:
            return False
        now = now or datetime.now(timezone.utc)
        newest = self.store.newest_trusted(now)
        return newest is None or now - newest.created_at >= timedelta(minutes=minutes)

    def _auto_backup(self, report: LaunchReport, progress, items: list[BackupRecord]) -> CreatedBackup | None:
        minutes = self.settings.auto_backup_minutes
        if not minutes:
            return None
        newest = self.store.newest_trusted(items=items)
        if newest is not None and datetime.now(timezone.utc) - newest.created_at < timedelta(minutes=minutes):
            return None
        try:
            made = self.create_backup(note="Automatic backup", kind=BackupType.auto, progress=progress, listed=items)
        except JobMatcherError as e:  # an automatic backup must never keep the user from their data
            log.warning("automatic backup failed: %s", e.message)
            report.fail_auto_backup(e)
            return None
        if made.unchanged:
            report.auto_backup_unchanged = True
        else:
            report.auto_backup = made.id
        return made

    def auto_backup(
        self, progress: Progress | None = None, newest: BackupRecord | None = None, listed: bool = False
    ) -> str | None:
        """An `auto` backup if the data changed since this data folder's newest backup that passed its check;
        its id, or None when unchanged (no file is made then).

        Used at launch and by the scheduler while the app runs. Raises JobMatcherError
        (folder unavailable, disk full, ...) when the backup is due but fails. `newest` and
        `listed` are accepted for callers of the earlier signature; the comparison is always with
        the newest own backup that passed (see create_backup).
        """
        made = self.create_backup(note="Automatic backup", kind=BackupType.auto, progress=progress)
        return None if made.unchanged else made.id

    def connect(self):
        """A read-write connection to the live database, for the app's own data layer (the caller closes it).

        Raises DatabaseMissingError when there is no database yet; sqlite3.Error when it cannot be opened."""
        require_exists(self.data.db_path)
        return connect(self.data.db_path)


def _read_fails(path: Path) -> bool:
    """True when reading `path` to its end fails with an I/O error (a failing disk, not a damaged file).
    Only on a refusal's path: it reads the whole file once. Never raises."""
    try:
        with open(path, "rb") as f:
            while f.read(4 * 1024 * 1024):
                pass
    except OSError as e:
        return e.errno == errno.EIO
    return False
