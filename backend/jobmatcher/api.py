"""The page's API: the one object the window (pywebview `js_api`) and the browser-mode server expose.

A thin layer over the engine. Every public method
- validates its arguments with pydantic (`validate_call`), because they come
  from JavaScript;
- returns plain JSON-able data (dicts, lists, strings, numbers);
- raises `JobMatcherError`s, which `dispatch` turns into {"ok": false,
  "error": {code, message, hint}} so the page shows a sentence and what to do,
  never a traceback.
Backups are named only by their id from the list, files chosen by the user only
by an opaque token the API handed out (after a native dialog or an upload), so
nothing on the page can name an arbitrary file. The one path the page may send
is the backup folder setting, which the engine validates.

Helpers are private (leading underscore). pywebview would still let JavaScript
call them (its bridge resolves any dotted name with getattr, private or not),
so the window does not get this object: it gets a sealed `JsBridge` (bridge.py)
holding one function per public method (see `make_js_bridge`). Chosen files,
uploads and downloads are tokens in chosen.py; how a backup is shown is
presentation.py (shared with the command line); the desktop is desktop.py.
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Protocol

import pydantic
from pydantic import Field, StringConstraints, validate_call

from . import __version__, profile
from .api_locations import LocationsApi
from .bridge import JsBridge, seal
from .causes import explain
from .chosen import ChosenFile, ChosenFiles
from .desktop import export_folder, open_in_file_manager
from .engine import Engine
from .errors import (
    BackupFolderUnavailableError,
    ExportFailedError,
    InstanceLockedError,
    InvalidBackupError,
    JobMatcherError,
    NotOpenError,
    RestoreFailedError,
    RestoreStateError,
    TaskRunningError,
    ValidationError,
    WrongModeError,
)
from .fsutil import atomic_write_bytes, fsync_dir, fsync_file, human_size, remove_quietly, require_free_space
from .manifest import clean_note
from .pageerror import page_hint, to_page_error, without_commands
from .presentation import backup_row, backup_status
from .preview import backup_label
from .scheduler import BackupScheduler
from .settings import (
    KEEP_ALL_HOURS,
    KEEP_DAILY_DAYS,
    KEEP_MONTHLY_MONTHS,
    KEEP_WEEKLY_WEEKS,
    MAX_AUTO_BACKUP_MINUTES,
    KeepAllHours,
    KeepDailyDays,
    KeepMonthlyMonths,
    KeepWeeklyWeeks,
    RetentionPolicyName,
)
from .tasks import TaskRunner
from .writer import Writer

log = logging.getLogger(__name__)

# Launch failures whose way out is restoring a backup (the window then offers it).
WAY_OUT_CODES = ("damaged", "safety-missing")
# A page call waits this long for another program's write lock, then says so (not 30 s of a frozen page).
PAGE_BUSY_TIMEOUT_MS = 5000

BackupId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Token = Annotated[str, StringConstraints(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
Note = Annotated[str, StringConstraints(max_length=500)]

RETENTION_FIELDS = (
    "retention_policy",
    "keep_all_hours",
    "keep_daily_days",
    "keep_weekly_weeks",
    "keep_monthly_months",
    "budget_mb",
)


class RetentionForm(pydantic.BaseModel):
    """The retention part of the settings form (the limits are the Settings model's own)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    retention_policy: RetentionPolicyName = "tiered"
    keep_all_hours: KeepAllHours = KEEP_ALL_HOURS
    keep_daily_days: KeepDailyDays = KEEP_DAILY_DAYS
    keep_weekly_weeks: KeepWeeklyWeeks = KEEP_WEEKLY_WEEKS
    keep_monthly_months: KeepMonthlyMonths = KEEP_MONTHLY_MONTHS
    budget_mb: Annotated[int, Field(ge=1, le=100 * 1024 * 1024)] | None = None


class Dialogs(Protocol):
    """Native file dialogs (window mode only); each returns None when the user cancels."""

    def open_file(self, directory: str = "") -> str | None: ...
    def save_file(self, suggested_name: str, directory: str = "") -> str | None: ...
    def choose_folder(self) -> str | None: ...


class Api(LocationsApi):
    """The page's API over one data folder. Construct, then `_begin_launch()`; `_close()` at exit."""

    def __init__(
        self,
        engine: Engine,
        mode: str = "window",
        dialogs: Dialogs | None = None,
        on_restart: Callable[[], bool] | None = None,
        relaunched: bool = False,
    ) -> None:
        self._engine = engine
        self._mode = mode
        self._dialogs = dialogs
        self._on_restart = on_restart
        self._relaunched = relaunched
        self._instance = secrets.token_hex(8)  # lets the page notice that the app restarted
        self._tasks = TaskRunner()
        self._writer: Writer | None = None
        self._launch_task: str | None = None
        self._lock = threading.Lock()
        self._restore_state: str | None = None  # None, "running", "done" (restart pending), "broken"
        self._chosen = ChosenFiles(engine.data_dir / ".uploads")
        self._scheduler: BackupScheduler | None = None  # started once the data is open

    # =====================================================================================
    # Public: the page's calls
    # =====================================================================================

    @validate_call
    def app_info(self) -> dict:
        """Version, mode, whether this run is a relaunch, and the state of opening the data."""
        launch = self._tasks.get(self._launch_task) if self._launch_task else None
        return {
            "version": __version__,
            "mode": self._mode,
            "instance": self._instance,
            "relaunched": self._relaunched,
            "data_dir": str(self._engine.data_dir),
            "launch": launch,
            "restore_state": self._restore_state,
            # the data cannot be opened as it is: the page offers restoring a backup (or a file)
            "way_out": self._way_out_open(launch),
        }

    @validate_call
    def retry_launch(self) -> dict:
        """Try opening the data again after it failed (for example once the other window is closed)."""
        launch = self._tasks.get(self._launch_task) if self._launch_task else None
        if launch and launch["state"] != "failed":
            return launch
        return self._begin_launch()

    # -- profile ---------------------------------------------------------------------------

    @validate_call
    def get_profile(self) -> dict:
        return self._db(lambda conn: self._profile_dict(conn), "reading your profile")

    @validate_call
    def save_profile(
        self,
        full_name: Annotated[str, StringConstraints(max_length=200)],
        headline: Annotated[str, StringConstraints(max_length=300)],
    ) -> dict:
        def work(conn):
            current = profile.get_profile(conn)
            updated = current.model_copy(update={"full_name": full_name.strip(), "headline": headline.strip()})
            profile.update_profile(conn, profile.Profile.model_validate(updated.model_dump()))
            return self._profile_dict(conn)

        return self._db(work, "saving your profile")

    @validate_call
    def add_skill(self, name: Annotated[str, StringConstraints(max_length=100)]) -> dict:
        if not name.strip():
            raise ValidationError("Type the skill's name first.", "")
        skill = self._model(profile.NewSkill, name=name)
        return self._db(lambda conn: (profile.add_skill(conn, skill), self._profile_dict(conn))[1], "adding the skill")

    @validate_call
    def remove_skill(self, skill_id: Annotated[int, Field(ge=1)]) -> dict:
        def work(conn):
            profile.remove_skill(conn, skill_id)
            return self._profile_dict(conn)

        return self._db(work, "removing the skill")

    # -- backups -----------------------------------------------------------------------------

    @validate_call
    def backup_overview(self) -> dict:
        """Everything the Backup & Restore section shows: status line, list, settings, running task."""
        self._require_opened(way_out=True)
        skipped: list[str] = []
        try:
            rows = self._engine.list_backups(skipped)
            unavailable = None
        except BackupFolderUnavailableError as e:
            rows, unavailable = [], e
        running = self._tasks.running()
        status = backup_status(rows)
        if unavailable is not None:
            status["warning"], status["hint"], status["level"] = unavailable.message, page_hint(unavailable), "error"
        status["folder_available"] = unavailable is None
        schedule = self._scheduler.state().to_dict() if self._scheduler else None
        try:
            health = self._engine.health(schedule=schedule).model_dump(mode="json")
            for w in health["warnings"]:  # the page's words: a button or a place, never a command
                w["hint"] = w.pop("page_hint") or without_commands(w["hint"], w["code"])
        except JobMatcherError as e:  # the status line must not take the list down with it
            health = {
                "level": "error",
                "summary": "",
                "warnings": [{"code": e.code, "level": "error", "message": e.message, "hint": page_hint(e)}],
            }
        previous = [
            {
                "index": i,
                "folder": prev["folder"],
                "available": prev["available"],
                "count": len(prev["backups"]),
                "size": human_size(sum(r.size_bytes for r in prev["backups"])),
                "backups": [backup_row(r) for r in prev["backups"]],
            }
            for i, prev in enumerate(self._engine.previous_backups(skipped))
        ]
        return {
            "status": status,
            "health": health,
            "backups": [backup_row(r) for r in rows],
            "previous": previous,
            "skipped": skipped,  # sentences: files in the backup folder that are not listed, and why
            "settings": self.get_settings(),
            "task": running.model_dump() if running else None,
            "schedule": schedule,
            "signature": self.backup_signature(),
            "can_choose_files": self._dialogs is not None,
        }

    @validate_call
    def start_move_backups(self, index: Annotated[int, Field(ge=0, le=100)]) -> dict:
        """Move the backups left in a previous backup folder (by its index in `previous`) into the current one."""
        self._require_opened(changing=True)
        folder = self._previous_folder(index)
        return self._tasks.start("move", lambda progress: self._engine.move_previous_backups(folder, progress))

    @validate_call
    def forget_previous_folder(self, index: Annotated[int, Field(ge=0, le=100)]) -> dict:
        """Stop listing a previous backup folder's backups (the files stay where they are)."""
        self._require_opened(changing=True)
        self._engine.forget_previous_folder(self._previous_folder(index))
        return {"forgotten": True}

    def _previous_folder(self, index: int) -> str:
        folders = self._engine.previous_folders()  # as `previous` lists them (U8: not the current one)
        if index >= len(folders):
            raise ValidationError("That folder is no longer listed.", "Reload the page.")
        return folders[index]

    @validate_call
    def backup_signature(self) -> str:
        """Changes whenever the backups change (from here or from outside, e.g. `backup create` in a
        terminal) or the schedule ran: the page polls this cheaply and reloads the overview on a change."""
        folder = self._engine.backups_folder
        try:
            st = folder.stat()
            stamp = f"{st.st_mtime_ns}:{st.st_ino}"
        except OSError:
            stamp = "missing"
        run = self._scheduler.state().last_run_at if self._scheduler else None
        return f"{stamp}:{run.isoformat() if run else ''}"

    @validate_call
    def list_backups(self) -> list[dict]:
        self._require_opened(way_out=True)
        return [backup_row(r) for r in self._engine.list_backups()]

    @validate_call
    def start_backup(self, note: Note = "") -> dict:
        """Start a manual backup; poll `task_status` for progress."""
        self._require_opened(changing=True)
        note = clean_note(note)  # refused now, before any task: a refused note is not a failed backup (G4)

        def work(progress) -> dict:
            made = self._engine.create_backup(note=note, progress=progress)
            self._kick_copier()  # to the backup locations now, not at the copier's next look
            # another program still writing when the wait ended: the page says what the backup holds (K3)
            return {
                "backup": backup_row(made),
                "gave_up_waiting": made.wait_gave_up,
                "waited_seconds": round(made.wait_seconds),
            }

        return self._tasks.start("backup", work)

    @validate_call
    def start_verify(self, backup_id: BackupId) -> dict:
        """Start checking a backup again; the result is recorded in its manifest."""
        self._require_opened()
        self._engine.get_backup(backup_id)  # an unknown id is refused now, not in the task

        def work(progress):
            progress("check", 0, None, "steps")  # the check runs in a child process: no measure of it
            # A failure is recorded and shown in the list; the task "fails" with the engine's
            # InvalidBackupError as it is (its reason code lets the page word it).
            result = self._engine.verify(backup_id)
            progress("check", 1, 1, "steps")
            assert result.backup is not None  # an id from the list
            return {"backup": backup_row(result.backup)}

        return self._tasks.start("verify", work)

    @validate_call
    def task_status(self, task_id: Annotated[str, StringConstraints(max_length=100)]) -> dict:
        return self._tasks.get(task_id)

    @validate_call
    def set_pinned(self, backup_id: BackupId, pinned: bool) -> dict:
        self._require_opened(changing=True)
        return backup_row(self._engine.set_pinned(backup_id, pinned))

    @validate_call
    def delete_backup(self, backup_id: BackupId) -> dict:
        self._require_opened(changing=True)
        running = self._tasks.running()
        if running is not None:
            raise TaskRunningError("A backup task is still running.", "Wait for it to finish, then delete.")
        rec = self._engine.delete_backup(backup_id)
        return {"deleted": rec.id}

    @validate_call
    def start_restore(self, backup_id: BackupId) -> dict:
        """Replace the current data with a listed backup (a safety backup is made first)."""
        self._require_opened(changing=True, way_out=True)
        rec = self._engine.get_backup(backup_id)
        return self._start_restore(rec.id, backup_label(rec.created_at), None)

    @validate_call
    def preview_backup(self, backup_id: BackupId) -> dict:
        """What a listed backup holds against the current data (read-only), for the restore dialog."""
        self._require_opened(way_out=True)
        rec = self._engine.get_backup(backup_id)
        return self._engine.preview(rec.id).model_dump(mode="json")

    @validate_call
    def preview_restore_file(self, token: Token) -> dict:
        """The same for a file chosen or uploaded for Restore from file (after `check_restore_file`)."""
        self._require_opened(way_out=True)
        f = self._chosen.get(token)
        try:
            p = self._engine.preview(str(f.path))
        except InvalidBackupError as e:
            raise InvalidBackupError(
                f.clean(e.message), f.clean(e.hint), f.clean(page_hint(e)), reason=e.reason
            ) from None
        body = p.model_dump(mode="json")
        body["label"] = f"the file {f.name}"  # never the upload's internal path
        return body

    @validate_call
    def choose_restore_file(self) -> dict:
        """Window mode: pick a backup file with the native open dialog; returns a token for it."""
        self._require_opened(way_out=True)
        if self._dialogs is None:
            raise WrongModeError("Choose the file with the upload button in this mode.", "")
        folder = self._engine.backups_folder  # where backups are: the likeliest place to restore from
        path = self._dialogs.open_file(directory=str(folder) if folder.is_dir() else str(Path.home()))
        if not path:
            return {"cancelled": True}
        p = Path(path)
        return self._chosen.register(ChosenFile(p, p.name, uploaded=False))

    @validate_call
    def check_restore_file(self, token: Token) -> dict:
        """Verify a chosen or uploaded file; refused with its specific reason if it cannot be restored."""
        self._require_opened(way_out=True)
        f = self._chosen.get(token)
        try:
            check = self._engine.check_restore_file(f.path)
        except InvalidBackupError as e:
            self._chosen.forget(token)
            raise InvalidBackupError(
                f.clean(e.message), f.clean(e.hint), f.clean(page_hint(e)), reason=e.reason
            ) from None
        return {
            "token": token,
            "name": f.name,
            "size_bytes": check.size_bytes,
            "size": human_size(check.size_bytes),
            "schema_revision": check.schema_revision,
            "needs_update": check.needs_update,
        }

    @validate_call
    def start_restore_file(self, token: Token) -> dict:
        """Restore a file that `check_restore_file` accepted."""
        self._require_opened(changing=True, way_out=True)
        f = self._chosen.get(token)
        return self._start_restore(str(f.path), f"the file {f.name}", token)

    @validate_call
    def export_backup(self, backup_id: BackupId) -> dict:
        """Copy a backup out: a native save dialog in the window, a download in the browser."""
        self._require_opened()
        rec = self._engine.get_backup(backup_id)
        if self._dialogs is None:
            token = self._chosen.offer_download(Path(rec.path), f"{rec.id}.db")
            return {"download": f"/download/{token}", "name": f"{rec.id}.db"}
        target = self._dialogs.save_file(f"{rec.id}.db", directory=str(export_folder()))
        if not target:
            return {"cancelled": True}
        target_path = self._engine.check_write_target(target)  # never into our folders, never the live file
        if target_path.resolve() == Path(rec.path).resolve():
            raise ValidationError("That is the backup file itself.", "Choose another place to save the copy.")
        try:
            require_free_space(
                target_path.parent, rec.size_bytes, "the exported copy", why="the backup's size", place="export"
            )
            tmp = target_path.with_name(f".{target_path.name}.part")
            shutil.copyfile(rec.path, tmp)
            fsync_file(tmp)
            os.replace(tmp, target_path)
            fsync_dir(target_path.parent)  # the rename itself must survive a power cut
        except OSError as e:
            remove_quietly(target_path.with_name(f".{target_path.name}.part"))
            raise ExportFailedError(
                f"Could not save the copy to {target_path}: {e.strerror or e}.",
                "Choose a folder you can write to, with enough free space.",
                path=str(target_path),
            ) from None
        return {"saved_to": str(target_path)}

    @validate_call
    def open_backups_folder(self) -> dict:
        """Show the backups folder in the file manager: {"path", "opened"}; when `opened` is false the
        page shows the path to copy (no file manager, or it failed to start)."""
        self._require_opened()
        folder = self._engine.require_backups_folder()  # a chosen folder that is not there is never created
        try:
            folder.mkdir(parents=True, exist_ok=True)  # the default folder, before the first backup
        except OSError:
            return {"path": str(folder), "opened": False}
        return {"path": str(folder), "opened": open_in_file_manager(folder)}

    # -- settings ------------------------------------------------------------------------------

    @validate_call
    def get_settings(self) -> dict:
        s = self._engine.settings
        return {
            "auto_backup_minutes": s.auto_backup_minutes,
            "retention_days": s.retention_days,
            "retention": {k: getattr(s, k) for k in RETENTION_FIELDS},
            "backup_dir": s.backup_dir or "",
            "default_backup_dir": str(self._engine.default_backups_folder),
            "effective_backup_dir": str(self._engine.backups_folder),
        }

    @validate_call
    def save_settings(
        self,
        auto_backup_minutes: Annotated[int, Field(ge=0, le=MAX_AUTO_BACKUP_MINUTES)],
        retention_days: Annotated[int, Field(ge=1, le=36500)],
        backup_dir: Annotated[str, StringConstraints(max_length=4000)] = "",
        retention: RetentionForm | None = None,
        confirmed: bool = False,
    ) -> dict:
        """Save the backup settings; the backup folder must exist, be writable and lie outside the data.

        `retention` (optional) holds the tiered policy's numbers and the disk budget. `confirmed`: the user
        said yes to what the change does beyond saving; without it such a change is refused with code
        "confirmation-needed" (the page asks, then calls again with it). Raises SettingsError (code
        "budget-too-small" for a space for backups below one backup of the data) as update_settings does.
        """
        self._require_opened(changing=True)
        changes = {
            "auto_backup_minutes": auto_backup_minutes,
            "retention_days": retention_days,
            "backup_dir": backup_dir.strip() or None,
        }
        if retention is not None:
            changes.update(retention.model_dump())
        try:
            self._engine.update_settings(changes, confirmed=confirmed)
        except OSError as e:  # settings.json could not be written: a full disk, a read-only data folder
            raise (explain(e, "saving the settings", self._engine.settings_path) or e) from None
        if self._scheduler is not None:
            self._scheduler.wake()  # a new interval counts from now
        return self.get_settings()

    @validate_call
    def choose_backup_folder(self) -> dict:
        """Window mode: pick the backup folder with the native folder dialog (not saved until Save)."""
        if self._dialogs is None:
            raise WrongModeError("Type the folder's full path in this mode.", "")
        path = self._dialogs.choose_folder()
        return {"path": path} if path else {"cancelled": True}

    # -- restart --------------------------------------------------------------------------------

    @validate_call
    def restart(self) -> dict:
        """Relaunch JobMatcher (after a restore). Says so when that is not possible."""
        if self._tasks.running() is not None:
            raise TaskRunningError("A task is still running.", "Wait for it to finish.")
        started = False
        if self._on_restart is not None:
            try:
                started = bool(self._on_restart())
            except Exception:  # noqa: BLE001 - a failed relaunch must still leave the user a way on
                log.exception("relaunch failed")
        if started:
            return {"restarting": True, "message": "JobMatcher is restarting…"}
        return {
            "restarting": False,
            "message": "JobMatcher could not restart by itself. Close it and open it again; "
            "your restored data is already in place.",
        }

    # =====================================================================================
    # Private: for app.py, server.py and tests. Never reachable from the page.
    # =====================================================================================

    def _dispatch(self, name: str, args: Any) -> dict:
        """Call the public method `name` with positional `args`: {"ok": true, "value"} or {"ok": false, "error"}."""
        if name not in PUBLIC_METHODS:
            return {
                "ok": False,
                "error": {
                    "code": "unknown-call",
                    "message": f"There is no call named {name!r}.",
                    "hint": "Reload the page.",
                },
            }
        if not isinstance(args, (list, tuple)):
            args = []
        try:
            value = getattr(self, name)(*args)
        except pydantic.ValidationError as e:
            # validate_call reports positional arguments by index, counting `self` as 0: name them
            params = list(inspect.signature(getattr(Api, name)).parameters)

            def where(loc) -> str:
                parts = [params[x] if isinstance(x, int) and x < len(params) else str(x) for x in loc]
                return ".".join(parts) or "value"

            problems = "; ".join(f"{where(err['loc'])}: {err['msg']}" for err in e.errors(include_url=False)[:3])
            return {
                "ok": False,
                "error": {
                    "code": "invalid-input",
                    "message": f"That request was not valid ({problems}).",
                    "hint": "Check the values and try again.",
                },
            }
        except BaseException as e:  # noqa: BLE001
            return {"ok": False, "error": to_page_error(e)}
        return {"ok": True, "value": value}

    def _begin_launch(self) -> dict:
        """Run the engine's launch sequence as a task; the page shows its progress, then the app or the error."""

        def work(progress):
            deadline = time.monotonic() + (15 if self._relaunched else 0)
            while True:
                try:
                    report = self._engine.launch(progress=progress)
                    break
                except InstanceLockedError:
                    # Relaunched: the old process can take a moment to let go of the lock.
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.2)
                except (OSError, sqlite3.Error) as e:  # a full disk, a read-only folder, a held lock...
                    named = explain(e, "opening your data", self._engine.database_path)
                    if named is None:
                        raise
                    raise named from None
            self._chosen.clear_uploads()  # leftovers of a run that crashed (we own the folder now)
            self._writer = Writer(self._connect_for_page)
            self._start_scheduler()
            self._start_copier()  # copies to backup locations, in the background
            return report.model_dump(mode="json")

        # Kept for as long as the app runs: every call checks the launch's outcome.
        task = self._tasks.start("launch", work, label="Opening your data…", keep=True)
        if self._launch_task:
            self._tasks.forget(self._launch_task)
        self._launch_task = task["id"]
        return task

    def _start_scheduler(self) -> None:
        from .scheduler import interval_seconds

        if self._scheduler is not None:
            return
        self._scheduler = BackupScheduler(
            backup=self._scheduled_backup,
            interval=lambda: interval_seconds(self._engine.settings.auto_backup_minutes),
            # never while a restore runs or after one (the data is about to be replaced or was)
            blocked=lambda: self._restore_state is not None or (self._writer is not None and self._writer.suspended),
            on_change=self._record_schedule,
        )
        self._scheduler.start()

    def _scheduled_backup(self, progress):
        """The scheduler's backup (Engine.auto_backup's result); a backup made goes to the backup locations
        at once (the copier is kicked), not at the copier's next look."""
        made = self._engine.auto_backup(progress)
        if made is not None:
            self._kick_copier()
        return made

    def _record_schedule(self, state) -> None:
        """Keep the schedule's state where `jobmatcher status` (another process) can read it."""
        import json

        body = json.dumps({"pid": os.getpid(), **state.to_dict()}).encode()
        with self._lock:
            atomic_write_bytes(self._engine.schedule_path, body)

    def _connect_for_page(self):
        """The writer's connection: waits at most PAGE_BUSY_TIMEOUT_MS for another program's write lock."""
        conn = self._engine.connect()
        conn.execute(f"PRAGMA busy_timeout={PAGE_BUSY_TIMEOUT_MS}")
        return conn

    def _wait_launched(self, timeout: float = 60) -> dict:
        return self._tasks.wait(self._launch_task, timeout) if self._launch_task else {}

    def _close(self) -> None:
        """At exit: stop the schedule, let running tasks finish, close the connection, remove uploads."""
        if self._scheduler is not None:
            self._scheduler.stop()
            remove_quietly(self._engine.schedule_path)
        self._stop_copier()
        self._tasks.wait_all(timeout=600)
        if self._writer is not None:
            self._writer.close()
        self._chosen.clear_uploads()
        self._engine.release_instance_lock()

    def _running_task(self):
        return self._tasks.running()

    def _receive_upload(self, filename: str, stream, length: int) -> dict:
        """Browser mode: store an uploaded file and hand out a token for it (see ChosenFiles.receive_upload)."""
        self._require_opened(way_out=True)
        return self._chosen.receive_upload(filename, stream, length)

    def _take_download(self, token: str) -> tuple[Path, str] | None:
        """Browser mode: the file behind a one-time download link, or None."""
        return self._chosen.take_download(token)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _way_out_open(launch: dict | None) -> bool:
        """The launch failed because the data itself cannot be opened (damaged, empty, unreadable, or an
        interrupted restore's safety backup is gone): restoring a backup is the way out."""
        return bool(launch and launch["state"] == "failed" and (launch["error"] or {}).get("code") in WAY_OUT_CODES)

    def _require_opened(self, changing: bool = False, way_out: bool = False) -> None:
        """Refuse a call until the data is open; `way_out`: also allowed when it cannot be opened (list, restore)."""
        launch = self._tasks.get(self._launch_task) if self._launch_task else None
        if launch is None or launch["state"] == "running":
            raise NotOpenError("JobMatcher is still opening your data.", "Wait a moment.", reason="opening")
        if launch["state"] == "failed" and not (way_out and self._way_out_open(launch)):
            err = launch["error"] or {}
            raise NotOpenError(
                f"JobMatcher could not open your data: {err.get('message', '')}", err.get("hint", ""), reason="failed"
            )
        if changing and self._restore_state == "running":
            raise RestoreStateError(
                "A restore is replacing your data right now.", "Wait for it to finish.", state="running"
            )
        if changing and self._restore_state == "done":
            raise RestoreStateError(
                "Your data was restored; JobMatcher needs to restart to use it.",
                "Close JobMatcher and open it again.",
                state="done",
            )
        if changing and self._restore_state == "broken":
            raise RestoreStateError(
                "A restore went wrong and JobMatcher needs to restart to check your data.",
                "Close JobMatcher and open it again; it finishes or undoes the restore.",
                state="broken",
            )

    def _db(self, fn: Callable, action: str) -> Any:
        """Run `fn(conn)` on the writer thread; a failure of the disk or SQLite is named (causes.explain)."""
        self._require_opened()
        assert self._writer is not None
        try:
            return self._writer.call(fn)
        except Exception as e:
            named = explain(e, action, self._engine.database_path)
            if named is None or named is e:
                raise
            log.warning("%s while %s: %s", named.code, action, e)
            raise named from None

    @staticmethod
    def _model(model, **values):
        try:
            return model(**values)
        except pydantic.ValidationError as e:
            err = e.errors(include_url=False)[0]
            field = str(err["loc"][0]).replace("_", " ") if err["loc"] else "value"
            raise ValidationError(
                f"{field[:1].upper()}{field[1:]}: {err['msg']}.", "Check the value and try again."
            ) from None

    @staticmethod
    def _profile_dict(conn) -> dict:
        p = profile.get_profile(conn)
        return {
            "full_name": p.full_name,
            "headline": p.headline,
            "skills": [{"id": s.id, "name": s.name} for s in profile.list_skills(conn)],
        }

    def _start_restore(
        self,
        source: str,
        label: str,
        token: str | None,
        run: Callable[[Any], Any] | None = None,
        first_run: bool = False,
    ) -> dict:
        """Restore `source` (an id or a file) as a task; `run(progress)` replaces the engine's restore (locations).
        `first_run`: a new computer's first restore, over the empty database its first launch made: its answer
        says so (`first_run`), and the page speaks of no data kept from before (there was none: T16)."""
        chosen = self._chosen.get(token) if token else None

        writer = self._writer  # None: the data could not be opened, so nothing holds it open

        def suspend(message: str, hint: str) -> None:
            if writer is not None:
                writer.suspend(message, hint)

        def resume() -> None:
            if writer is not None:
                writer.resume()

        def work(progress):
            if self._scheduler is not None:  # a scheduled backup in progress stops at its next step
                self._scheduler.pause()
            # The app's own connection must be closed before the file under it is replaced.
            suspend("A restore is replacing your data right now.", "Wait for it to finish.")
            try:
                # an upload is the app's own file in the data folder: renamed into place, not copied beside itself
                take = bool(chosen and chosen.uploaded)
                result = (
                    run(progress)
                    if run
                    else self._engine.restore(source, progress=progress, label=label, take_file=take)
                )
            except RestoreFailedError as e:
                if e.recovered:
                    resume()
                    self._restore_state = None
                else:
                    self._restore_state = "broken"
                    suspend(e.message, page_hint(e))
                raise
            except InvalidBackupError as e:  # refused before anything was touched
                resume()
                self._restore_state = None
                if chosen:
                    raise InvalidBackupError(
                        chosen.clean(e.message), e.hint, chosen.clean(page_hint(e)), reason=e.reason
                    ) from None
                raise
            except BaseException:
                if self._engine.restore_unfinished():  # unknown state: the next launch sorts it out
                    self._restore_state = "broken"
                else:
                    resume()
                    self._restore_state = None
                raise
            finally:
                if token:
                    self._chosen.forget(token)
                if self._scheduler is not None:
                    self._scheduler.resume()  # blocked() still keeps it idle while the data awaits a restart
            reopen = writer is None  # nothing was open: opening the data again is enough, no restart
            self._restore_state = None if reopen else "done"
            suspend(
                "Your data was restored; JobMatcher needs to restart to use it.", "Close JobMatcher and open it again."
            )
            return {
                "source": label,
                "safety_backup_id": result.safety_backup_id,
                "safety_backup_verified": result.safety_backup_verified,
                "migrated_from": result.migrated_from,
                # a safety backup changed after its restore, restored as it is (Y7): the page says so
                "source_changed_after_restore": bool(getattr(result, "source_changed_after_restore", False)),
                "seconds": round(result.seconds, 2),
                "reopen": reopen,
                "first_run": first_run,
            }

        with self._lock:
            if self._restore_state is not None:
                raise RestoreStateError("A restore was already started.", "Wait for it to finish.", state="running")
            self._restore_state = "running"  # from now on, no other change may start
        try:
            return self._tasks.start("restore", work, plan="location-restore" if run else None)
        except BaseException:
            self._restore_state = None
            raise


PUBLIC_METHODS: tuple[str, ...] = tuple(
    n for cls in (LocationsApi, Api) for n, v in vars(cls).items() if not n.startswith("_") and callable(v)
)


def make_js_bridge(api: Api) -> JsBridge:
    """What the window's pywebview gets as `js_api`: the public methods, sealed (see bridge.py)."""
    return seal(api._dispatch, PUBLIC_METHODS)
