"""The backup folder: creating, listing, verifying, pinning, deleting and pruning backups.

A backup is `backup_YYYY-MM-DD_HH-MM-SS[_N].db` (UTC) with its manifest
`….json` beside it; its id is the file name without `.db`. Files being
written are hidden (`.tmp-…`) and published by rename only once complete,
fsynced and verified, so a listed backup is never partial.
"""

from __future__ import annotations

import builtins  # `list` is also a method name in BackupStore
import concurrent.futures
import logging
import os
import re
import sqlite3
import stat as stat_module
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import (BackupFailedError, BackupFolderUnavailableError, BackupNotFoundError, InvalidBackupError, JobMatcherError,
                     ValidationError)
from .fsutil import (PRIVATE_DIR, PRIVATE_FILE, SIDE_SUFFIXES, WAL, copy_range, describe_os_error,
                     describe_sqlite_error, file_size, fsync_dir, fsync_file, hold_free_space, make_dirs,
                     remove_dead_temp_files, remove_quietly, require_free_space, side_file)
from .lock import FileLock
from .manifest import BackupRecord, BackupType, Manifest, manifest_path, read_manifest, write_manifest
from .retention import NEEDED_FOR_RECOVERY, Decision, Plan, RetentionPolicy, plan
from .snapshot import backup_api_snapshot, copy_snapshot
from .verify import VerifyReport, sha256_file, verify_file

log = logging.getLogger(__name__)

# (phase, done, total): phase is "copy" (pages) or "verify" (0..1)
Progress = Callable[[str, int, int], None]

TMP_PREFIX = ".tmp-"
_ID_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$")
_STALE_ORPHAN_SECONDS = 3600


def backup_name(when: datetime) -> str:
    """The id for a backup made at `when`: backup_YYYY-MM-DD_HH-MM-SS in UTC."""
    return "backup_" + when.astimezone(timezone.utc).strftime("%Y-%m-%d_%H-%M-%S")


class CreatedBackup(BackupRecord):
    copy_seconds: float  # the consistent copy (not its flush to disk, which runs beside the check)
    verify_seconds: float  # the check, the SHA-256 and the flush to disk, side by side
    method: str
    # The check's child process (large files only): its peak resident memory in MB, of which file-backed
    # (the memory-mapped backup: page cache shared with the kernel) and anonymous. Empty when in-process.
    check_memory: dict[str, float | None] = {}


@dataclass
class _Checked:
    """The outcome of checking a new backup: passed, or (safety copies only) kept although it failed."""

    ok: bool
    size_bytes: int
    sha256: str
    schema_revision: str | None
    seconds: float
    message: str
    memory: dict = field(default_factory=dict)

    @classmethod
    def passed(cls, r: VerifyReport) -> "_Checked":
        return cls(True, r.size_bytes, r.sha256, r.schema_revision, r.seconds, "ok", r.check_memory)

    @classmethod
    def failed(cls, path: Path, message: str, seconds: float) -> "_Checked":
        return cls(False, path.stat().st_size, sha256_file(path), None, seconds, message)


FOLDER_MARKER = ".jobmatcher-backup-folder"


def unavailable_error(folder: Path) -> BackupFolderUnavailableError:
    return BackupFolderUnavailableError(
        f"Your backup folder {folder} is not available — connect the drive or choose another folder.",
        "JobMatcher does not create it again, so backups never land on the wrong disk. "
        "Backups resume by themselves once it is back.")


def write_folder_marker(folder: Path, token: str) -> None:
    """Mark a chosen backup folder as the one chosen: an unmounted drive's empty mount point lacks it."""
    from .fsutil import atomic_write_bytes
    atomic_write_bytes(Path(folder) / FOLDER_MARKER,
                       (f"JobMatcher keeps backups in this folder. Do not delete this file.\n{token}\n").encode())


def folder_marker_matches(folder: Path, token: str) -> bool:
    try:
        return (Path(folder) / FOLDER_MARKER).read_text(errors="replace").splitlines()[-1:] == [token]
    except OSError:
        return False


class BackupStore:
    """One backup folder.

    `chosen=True` for a folder the user chose (not the default inside the data folder): it is
    never created, and with `token` it must hold the marker file written when it was chosen;
    otherwise it is "unavailable" (BackupFolderUnavailableError) for listing and for writing.
    """

    def __init__(self, folder: Path, chosen: bool = False, token: str | None = None) -> None:
        self.folder = Path(folder)
        self.chosen = chosen
        self.token = token

    def available(self) -> bool:
        """False for a chosen folder that is missing, or (with a token) lacks its marker. Never writes."""
        if not self.chosen:
            return True
        try:
            if not self.folder.is_dir():
                return False
        except OSError:
            return False
        return self.token is None or folder_marker_matches(self.folder, self.token)

    def require_available(self) -> None:
        if not self.available():
            raise unavailable_error(self.folder)

    # -- reading (never writes, never opens a database) ----------------------

    def list(self) -> list[BackupRecord]:
        """Every published backup, newest first (read-only).

        Raises BackupFolderUnavailableError for a chosen folder that is not there.
        """
        self.require_available()
        if not self.folder.is_dir():
            return []
        records = []
        with os.scandir(self.folder) as entries:
            for e in entries:
                # not a symlink: get() refuses those, so listing one would offer what cannot be used
                if e.name.endswith(".db") and not e.name.startswith(".") and e.is_file(follow_symlinks=False):
                    records.append(self._record(e.name[:-3], Path(e.path), e.stat))
        records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return records

    def _record(self, backup_id: str, path: Path, stat: Callable[[], os.stat_result]) -> BackupRecord:
        m = read_manifest(path)
        if m is not None:
            return BackupRecord.from_manifest(backup_id, path, m)
        # Copied in by hand: listed from what the file system says (only then is it asked);
        # verify fills in the rest.
        st = stat()
        when = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        m = Manifest(type=BackupType.manual, created_at=when, size_bytes=st.st_size,
                     note="Added to the folder by hand")
        return BackupRecord.from_manifest(backup_id, path, m, has_manifest=False)

    def get(self, backup_id: str) -> BackupRecord:
        """The backup with exactly this id; anything else (a path, `..`, a glob) is refused."""
        if not isinstance(backup_id, str) or not _ID_SHAPE.match(backup_id) or backup_id.endswith(".db"):
            raise ValidationError(f"{backup_id!r} is not a backup id.",
                                  "Use an id exactly as `jobmatcher backup list` shows it.")
        path = self.folder / f"{backup_id}.db"
        try:
            st = path.lstat()  # lstat: a symlink is not a regular file here, so it is refused too
        except FileNotFoundError:
            st = None
        if st is None or not stat_module.S_ISREG(st.st_mode):
            raise BackupNotFoundError(f"There is no backup with the id {backup_id!r} in {self.folder}.",
                                      "Run `jobmatcher backup list` to see the ids.")
        return self._record(backup_id, path, lambda: st)

    def newest(self) -> BackupRecord | None:
        """The newest backup by its time; one dated in the future (a wrong clock) never counts."""
        now = datetime.now(timezone.utc)
        return next((r for r in self.list() if r.created_at <= now), None)

    # -- writing ---------------------------------------------------------------

    def ensure_folder(self) -> None:
        """Create the default folder if needed; a chosen folder must be there already (never recreated)."""
        self.require_available()
        try:
            make_dirs(self.folder, PRIVATE_DIR)  # its entry in the data folder must survive a power cut with the backups
        except OSError as e:
            raise BackupFailedError(f"Cannot create the backup folder {self.folder}: {e.strerror}.",
                                    "Choose a backup folder you can write to in Settings.") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise BackupFailedError(f"The backup folder {self.folder} is not writable.",
                                    "Fix its permissions, or choose another backup folder in Settings.")

    def create(self, db_path: Path, kind: BackupType = BackupType.manual, note: str = "",
               progress: Progress | None = None, revision: str | None = None,
               method: str = "auto") -> CreatedBackup:
        """Snapshot the live database into a new, verified backup; no file is left if anything fails."""
        made = self._create(db_path, kind, note, progress, method, None)
        assert made is not None
        return made

    def create_if_changed(self, db_path: Path, same_as_sha256: str | None, kind: BackupType = BackupType.auto,
                          note: str = "", progress: Progress | None = None) -> CreatedBackup | None:
        """Like create(), but None (and no file) when the snapshot's bytes are exactly `same_as_sha256`'s.

        That is how "the data did not change since the newest backup" is decided: from the data
        itself (file times are not evidence). Two snapshots of the same data are byte-identical.
        """
        return self._create(db_path, kind, note, progress, "auto", same_as_sha256)

    def _create(self, db_path: Path, kind: BackupType, note: str, progress: Progress | None, method: str,
                unless_sha256: str | None) -> CreatedBackup | None:
        from .database import require_exists, require_openable  # local: keep CLI start light
        require_openable(db_path)  # an empty, unreadable or lost live file is named as such, not blamed on the copy
        require_exists(db_path)
        self.ensure_folder()
        self.cleanup()
        db_bytes = file_size(db_path) + file_size(side_file(db_path, WAL))
        space = hold_free_space(self.folder, 2 * db_bytes, "a backup")  # counted by other writes until done
        try:
            tmp, guard = self._reserve_temp()
        except BaseException:
            space.release()
            raise
        try:
            # A safety copy must be possible even of data this version cannot open (a newer schema) or
            # that is damaged: restoring a good backup over damaged data is what restore is for.
            taken_at = datetime.now(timezone.utc)  # the backup's time is its snapshot's, not its check's
            snap, report = self._snapshot(db_path, tmp, progress, method, lenient=kind == BackupType.safety,
                                          unless_sha256=unless_sha256)
            if report is None:
                log.info("no %s backup: the data is the same as in the newest backup", kind.value)
                return None
            now = datetime.now(timezone.utc)
            m = Manifest(type=kind, created_at=taken_at, size_bytes=report.size_bytes, sha256=report.sha256,
                         schema_revision=report.schema_revision, app_version=__version__, note=note,
                         verified=report.ok, verified_at=now, verify_message=report.message,
                         copy_seconds=round(snap.seconds, 3), verify_seconds=round(report.seconds, 3))
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
        log.info("backup %s (%s) made in %.2fs by %s, verified in %.2fs", final.stem, kind.value,
                 snap.seconds, snap.method, report.seconds)
        rec = BackupRecord.from_manifest(final.stem, final, m)
        return CreatedBackup(**rec.model_dump(), copy_seconds=snap.seconds, verify_seconds=report.seconds,
                             method=snap.method, check_memory=report.memory)

    def create_raw_copy(self, db_path: Path, kind: BackupType, note: str, reason: str) -> CreatedBackup:
        """Keep a byte-for-byte copy of a file SQLite cannot open (damaged live data), marked as failing its check.

        `reason` is recorded as the failed check's message. Raises BackupFailedError or
        InsufficientSpaceError; no file is left if anything fails.
        """
        self.ensure_folder()
        self.cleanup()
        size = file_size(db_path)
        require_free_space(self.folder, size + (1 << 20), "a copy of your current data")
        tmp, guard = self._reserve_temp()
        t0 = time.perf_counter()
        try:
            with open(db_path, "rb") as src, open(tmp, "wb") as out:
                copy_range(src.fileno(), 0, out, size)
                out.flush()
                os.fsync(out.fileno())
            now = datetime.now(timezone.utc)
            m = Manifest(type=kind, created_at=now, size_bytes=file_size(tmp), sha256=sha256_file(tmp),
                         app_version=__version__, note=note, verified=False, verified_at=now,
                         verify_message=reason, copy_seconds=round(time.perf_counter() - t0, 3))
            final = self._publish(tmp, m)
        except OSError as e:
            raise describe_os_error(e, "copying your current data", self.folder) from None
        finally:
            remove_quietly(tmp)
            guard.release()
            remove_quietly(guard.path)
        log.warning("kept a raw copy of unreadable data as %s: %s", final.stem, reason)
        rec = BackupRecord.from_manifest(final.stem, final, m)
        return CreatedBackup(**rec.model_dump(), copy_seconds=m.copy_seconds or 0.0, verify_seconds=0.0,
                             method="raw-copy")

    def move_in(self, rec: BackupRecord) -> BackupRecord:
        """Move one backup (made by JobMatcher: it has a manifest) from another folder into this one.

        Copied to a hidden temp file, fsynced, its SHA-256 compared with the manifest's, published
        under the same name (never over an existing file), and only then removed from the old
        place: killed at any instant, the backup is in one place or both, never in neither.
        Raises JobMatcherError naming the reason; the old copy is then untouched.
        """
        src = Path(rec.path)
        m = read_manifest(src)
        if m is None:
            raise ValidationError(f"{src.name} was added by hand, so JobMatcher leaves it where it is.",
                                  "Move it yourself if you want it in the new folder.")
        self.ensure_folder()
        final = self.folder / src.name
        expected = m.sha256 or sha256_file(src)
        if final.exists() or manifest_path(final).exists():
            if final.exists() and sha256_file(final) == expected:  # already here (a move killed before removing)
                self._remove_moved(src)
                return self.get(final.stem)
            raise BackupFailedError(f"A different backup named {src.name} is already in {self.folder}.",
                                    "It was left in the old folder; move it by hand if you want both.")
        require_free_space(self.folder, rec.size_bytes, "moving a backup")
        tmp, guard = self._reserve_temp()
        reserved = False
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            if sha256_file(tmp) != expected:
                raise BackupFailedError(f"The copy of {src.name} did not match the original.",
                                        "It was left in the old folder. Check the disks and try again.")
            fd = os.open(manifest_path(final), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # reserve the name
            os.close(fd)
            reserved = True
            write_manifest(final, m)
            os.link(tmp, final)  # never over an existing file
            fsync_dir(self.folder)
        except OSError as e:
            if reserved and not final.exists():
                remove_quietly(manifest_path(final))
            raise describe_os_error(e, "moving the backup", self.folder) from None
        except BaseException:
            if reserved and not final.exists():
                remove_quietly(manifest_path(final))
            raise
        finally:
            remove_quietly(tmp)
            guard.release()
            remove_quietly(guard.path)
        self._remove_moved(src)
        log.info("moved backup %s from %s to %s", src.stem, src.parent, self.folder)
        return self.get(final.stem)

    @staticmethod
    def _remove_moved(src: Path) -> None:
        os.unlink(src)
        remove_quietly(manifest_path(src))
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

    def _snapshot(self, db_path: Path, tmp: Path, progress: Progress | None, method: str, lenient: bool = False,
                  unless_sha256: str | None = None):
        """Copy and verify: the fast file copy first, the backup API if that is unusable or does not verify.

        Returns (snapshot, check), or (snapshot, None) when the copy's SHA-256 is `unless_sha256`.
        """
        copy_progress = (lambda done, total: progress("copy", done, total)) if progress else None

        def checked(snap):
            if unless_sha256 is not None and sha256_file(tmp) == unless_sha256:
                return snap, None
            if progress:
                progress("verify", 0, 1)
            t0 = time.perf_counter()
            # The copy's flush to disk runs beside its check (which reads it from the page cache, on
            # the other core); the backup is published only after both have succeeded.
            with ThreadPoolExecutor(max_workers=1) as pool:
                synced = pool.submit(fsync_file, tmp)
                try:
                    report = _Checked.passed(verify_file(tmp, allow_unknown_revision=lenient))
                except InvalidBackupError as e:
                    # The temp file's name means nothing to the user: it is a copy of their database.
                    e.message = e.message.replace(f"The backup {tmp.name}", "The copy").replace(str(tmp), "the copy") \
                        .replace(tmp.name, "the copy")
                    if lenient and e.reason in ("corrupt", "missing-tables", "not-jobmatcher"):
                        synced.result()
                        return snap, _Checked.failed(tmp, e.message, time.perf_counter() - t0)
                    if e.reason == "read-error":
                        raise BackupFailedError(
                            f"The new backup could not be read back from the backup folder: {e.message}",
                            "Nothing was saved. The disk holding the backup folder may be failing: try again, "
                            "or choose another backup folder in Settings.") from None
                    raise BackupFailedError(
                        f"The new backup did not pass its check, so your database itself may be damaged: "
                        f"{e.message}", "Nothing was saved. Run `jobmatcher db check` to check your data.") from None
                finally:
                    if not synced.done():
                        concurrent.futures.wait([synced])
                synced.result()  # an fsync error (EIO, a full disk) fails the backup
            if progress:
                progress("verify", 1, 1)
            return snap, report

        if method in ("auto", "file-copy"):
            try:
                return checked(copy_snapshot(db_path, tmp, copy_progress, sync=False))
            except OSError:
                raise
            except Exception as e:  # noqa: BLE001 - any surprise in the fast path: take the safe one
                if method == "file-copy":
                    raise
                log.warning("fast snapshot unusable (%s); falling back to the backup API", e)
            for suffix in ("", *SIDE_SUFFIXES):
                remove_quietly(side_file(tmp, suffix))
        return checked(backup_api_snapshot(db_path, tmp, copy_progress))

    def reserve_name(self, m: Manifest) -> Path:
        """A new, unique backup file name for `m` with `m` written as its manifest; the .db is not there
        yet (the caller creates it without overwriting, e.g. by a hard link)."""
        base = backup_name(m.created_at)
        for n in range(1, 1000):
            final = self.folder / f"{base if n == 1 else f'{base}_{n}'}.db"
            try:
                fd = os.open(manifest_path(final), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            os.close(fd)
            if os.path.lexists(final):
                remove_quietly(manifest_path(final))
                continue
            try:
                write_manifest(final, m)
            except BaseException:
                remove_quietly(manifest_path(final))
                raise
            return final
        raise BackupFailedError("Could not find a free name for the backup.", "Try again in a second.")

    def _publish(self, tmp: Path, m: Manifest) -> Path:
        """Give the verified temp file its final name (unique, never overwriting) with its manifest."""
        base = backup_name(m.created_at)
        for n in range(1, 1000):
            name = base if n == 1 else f"{base}_{n}"
            final = self.folder / f"{name}.db"
            try:
                # Reserve the name: the manifest is created exclusively first.
                fd = os.open(manifest_path(final), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            except FileExistsError:
                continue
            os.close(fd)
            if final.exists():
                remove_quietly(manifest_path(final))
                continue
            try:
                write_manifest(final, m)
                os.chmod(tmp, PRIVATE_FILE)  # a copy of personal data: its user's only, as the live file
                os.replace(tmp, final)
            except BaseException:
                remove_quietly(manifest_path(final))
                raise
            fsync_dir(self.folder)
            return final
        raise BackupFailedError("Could not find a free name for the backup.", "Try again in a second.")

    def verify(self, backup_id: str) -> BackupRecord:
        """Check a listed backup and record the result in its manifest; raises InvalidBackupError if it fails."""
        rec = self.get(backup_id)
        path = Path(rec.path)
        m = read_manifest(path)
        now = datetime.now(timezone.utc)
        try:
            # A safety backup keeps whatever the live data was, also data of a newer version: sound is enough.
            report = verify_file(path, expected_sha256=m.sha256 if m else None,
                                 allow_unknown_revision=rec.type == BackupType.safety)
        except InvalidBackupError as e:
            self._record_verification(path, m, rec, False, now, e.message)
            raise
        if m is None:
            m = Manifest(type=rec.type, created_at=rec.created_at, size_bytes=report.size_bytes,
                         note=rec.note)
        m.sha256 = m.sha256 or report.sha256
        m.schema_revision = report.schema_revision
        m.size_bytes = report.size_bytes
        self._record_verification(path, m, rec, True, now, "ok", report.seconds)
        return self.get(backup_id)

    def _record_verification(self, path, m, rec, ok, when, message, seconds=None) -> None:
        if m is None:
            if not ok:
                return  # nothing trustworthy to write for a file copied in by hand
            m = Manifest(type=rec.type, created_at=rec.created_at, size_bytes=rec.size_bytes, note=rec.note)
        m.verified, m.verified_at, m.verify_message = ok, when, message
        if seconds is not None:
            m.verify_seconds = round(seconds, 3)
        # A check takes a while (a restore's safety backup is checked in the background): what the user
        # changed meanwhile (pin, note) is kept, not overwritten by the manifest read before the check.
        fresh = read_manifest(path)
        if fresh is not None:
            m.pinned, m.note = fresh.pinned, fresh.note
        try:
            write_manifest(path, m)
        except OSError as e:  # a read-only folder must not hide the verification result itself
            log.warning("could not record verification of %s: %s", path, e)

    def set_pinned(self, backup_id: str, pinned: bool) -> BackupRecord:
        """Pin (keep forever) or unpin a backup."""
        rec = self.get(backup_id)
        path = Path(rec.path)
        m = read_manifest(path) or Manifest(type=rec.type, created_at=rec.created_at,
                                            size_bytes=rec.size_bytes, note=rec.note)
        m.pinned = pinned
        try:
            write_manifest(path, m)
        except OSError as e:
            raise describe_os_error(e, "saving the pin", path) from None
        return self.get(backup_id)

    def delete(self, backup_id: str) -> BackupRecord:
        """Delete a backup and its manifest."""
        rec = self.get(backup_id)
        path = Path(rec.path)
        try:
            os.unlink(path)
        except OSError as e:
            raise describe_os_error(e, "deleting the backup", path) from None
        remove_quietly(manifest_path(path))
        fsync_dir(self.folder)
        log.info("deleted backup %s", backup_id)
        return rec

    def prune_plan(self, policy: RetentionPolicy, now: datetime | None = None,
                   items: builtins.list[BackupRecord] | None = None,
                   keep: Callable[[BackupRecord], bool] | None = None) -> tuple[Plan, builtins.list[BackupRecord]]:
        """(the retention plan with a rule per backup, the records it would delete), oldest first; no change.

        `items`: the list as `list()` just returned it, when the caller has read it already.
        `keep`: never delete a backup it says True for (one a pending recovery needs).
        """
        items = self.list() if items is None else items
        p = plan(now or datetime.now(timezone.utc), policy, items)
        by_id = {r.id: r for r in items}
        if keep is not None:
            p = Plan([Decision(d.id, True, NEEDED_FOR_RECOVERY, d.size_bytes)
                      if not d.keep and keep(by_id[d.id]) else d for d in p.decisions],
                     p.kept_bytes, p.budget_bytes, p.over_budget)
        return p, [by_id[i] for i in p.doomed]

    def prune(self, policy: RetentionPolicy, now: datetime | None = None, dry_run: bool = False,
              items: builtins.list[BackupRecord] | None = None,
              keep: Callable[[BackupRecord], bool] | None = None) -> builtins.list[BackupRecord]:
        """Delete (or with dry_run only name) the backups the retention policy makes obsolete (see prune_plan)."""
        p, chosen = self.prune_plan(policy, now, items, keep)
        if p.over_budget:
            log.warning("backups take %d bytes, over the budget of %d, even after cleaning up all that may go",
                        p.kept_bytes, p.budget_bytes or 0)
        if not dry_run:
            for r in chosen:
                try:
                    self.delete(r.id)
                except JobMatcherError as e:
                    log.warning("could not prune %s: %s", r.id, e.message)
        return chosen

    def cleanup(self) -> builtins.list[str]:
        """Remove leftovers of interrupted backups (temp files whose writer is gone, orphan manifests)."""
        removed: list[str] = []
        if not self.folder.is_dir():
            return removed
        names = set(os.listdir(self.folder))
        orphans = []
        writing = False  # is any process writing a backup into this folder right now?
        for name in names:
            if name.startswith(TMP_PREFIX) and name.endswith(".lock"):
                token = name[:-5]
                guard = FileLock(self.folder / name)
                if guard.acquire():  # its writer is gone (locks die with their process)
                    try:
                        for leftover in names:
                            if leftover.startswith(token + "."):
                                remove_quietly(self.folder / leftover)
                                removed.append(leftover)
                    finally:
                        guard.release()
                        remove_quietly(guard.path)
                else:
                    writing = True
            elif name.startswith(TMP_PREFIX) and name[:name.find(".", 1)] + ".lock" not in names:
                remove_quietly(self.folder / name)  # no lock file at all: certainly dead
                removed.append(name)
            elif name.endswith(".json") and name[:-5] + ".db" not in names and name.startswith("backup_"):
                orphans.append(name)
        # A manifest without its backup is a name reserved by a backup killed before it published. A writer
        # holds its temp lock from before it reserves a name until after it published, so with no writer
        # alive the orphans are certainly dead; otherwise wait until they are old.
        for name in orphans:
            p = self.folder / name
            try:
                if not writing or time.time() - p.stat().st_mtime > _STALE_ORPHAN_SECONDS:
                    remove_quietly(p)
                    removed.append(name)
            except FileNotFoundError:
                pass
        removed += remove_dead_temp_files(self.folder)  # a manifest's temp file, killed mid-write
        if removed:
            log.info("cleaned up leftovers of interrupted backups: %s", ", ".join(sorted(removed)))
        return removed
