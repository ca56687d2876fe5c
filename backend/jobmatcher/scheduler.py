"""Automatic backups while the app runs: every N minutes, when the data changed since the last backup.

One thread per running app (window or browser mode). Why it is built this way:
- **Intervals on a clock that never jumps.** Wall-clock time can be changed by
  the user or NTP; intervals are measured on `CLOCK_BOOTTIME` where the system
  has it (Linux: monotonic, and it keeps counting while the machine sleeps), else
  `time.monotonic()`. After a long sleep the slot that was missed runs once, and
  the next one is an interval after that run: never one backup per missed slot.
- **Short waits.** `Event.wait` counts on `CLOCK_MONOTONIC`, which stops during
  suspend, so the thread never waits longer than `MAX_NAP` seconds at a time and
  looks at the clock again: a slot missed in sleep runs within `MAX_NAP` of waking.
- **Never in a restore's way.** `blocked()` (the app: a restore is running or
  done) is asked before each backup; a slot that finds the app blocked is
  skipped. A restore that starts while a scheduled backup runs calls `pause()`,
  which cancels that backup at its next progress step (the copy is cut short,
  its temp file removed) and waits for it to stop: the restore waits at most for
  one step of the copy, never for a whole backup and its check.
- **Failures are for the status, not for dialogs.** A failed backup (disk full,
  folder unavailable, locked) is logged and kept as `last_error` for the health
  rule; the next slot tries again. Nothing raised here reaches the user.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from .errors import JobMatcherError
from .pageerror import page_hint
from .progress import Progress, Unit

log = logging.getLogger(__name__)

# Test-only: an interval in seconds instead of the setting's minutes (keeps CI fast). Never set it otherwise.
INTERVAL_SECONDS_ENV = "JOBMATCHER_AUTO_BACKUP_SECONDS"
MAX_NAP = 5.0


def clock() -> float:
    """Seconds on a clock that is monotonic and (on Linux) keeps counting through suspend."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        try:
            return time.clock_gettime(boottime)
        except OSError:
            pass
    return time.monotonic()


class BackupCancelled(BaseException):
    """Raised from a scheduled backup's progress callback when a restore needs the data folder.

    A BaseException on purpose: the snapshot code falls back to SQLite's backup API
    on any `Exception` from its fast path, and a cancel must stop the backup, not retry it.
    """


@dataclass
class ScheduleState:
    """What the health rule and the page need to know about the schedule (a copy, safe to read)."""

    interval_seconds: float = 0.0
    running: bool = False  # a scheduled backup is being made right now
    next_at: datetime | None = None  # wall-clock estimate of the next slot (None: off or stopped)
    last_run_at: datetime | None = None  # when the last slot ran
    last_outcome: str | None = None  # "made", "unchanged", "failed", "skipped" (a restore was running)
    last_backup_id: str | None = None
    last_error: dict | None = None  # {"code", "message", "hint"} of the last failure, until a success
    failures: int = 0  # consecutive failed slots
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        def iso(d: datetime | None) -> str | None:
            return d.astimezone(timezone.utc).isoformat() if d else None

        return {
            "interval_seconds": self.interval_seconds,
            "running": self.running,
            "next_at": iso(self.next_at),
            "last_run_at": iso(self.last_run_at),
            "last_outcome": self.last_outcome,
            "last_backup_id": self.last_backup_id,
            "last_error": self.last_error,
            "failures": self.failures,
        }


class BackupScheduler:
    """Runs `backup(progress)` every interval on its own thread.

    `backup(progress)` makes an automatic backup if the data changed and returns its
    id, or None when nothing changed; it raises JobMatcherError when it fails.
    `interval()` is asked before every wait (so a changed setting applies at once
    after `wake()`), in seconds; 0 means off. `blocked()` True skips a slot.
    """

    def __init__(
        self,
        backup: Callable[[Progress], str | None],
        interval: Callable[[], float],
        blocked: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = clock,
        name: str = "jobmatcher-scheduler",
        on_change: Callable[[ScheduleState], None] | None = None,
    ) -> None:
        self._backup = backup
        self._on_change = on_change
        self._interval = interval
        self._blocked = blocked
        self._clock = clock
        self._name = name
        self._cond = threading.Condition()
        self._stop = False
        self._paused = 0
        self._cancel = threading.Event()
        self._due: float | None = None
        self._state = ScheduleState()
        self._thread: threading.Thread | None = None

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; the first slot is one interval from now (the launch made its own backup)."""
        with self._cond:
            if self._thread is not None:
                return
            self._reschedule_locked(self._clock())
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._changed()

    def stop(self, timeout: float = 30) -> None:
        """Stop the thread; a backup in progress is cancelled (its temp file removed)."""
        with self._cond:
            self._stop = True
            self._cancel.set()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wake(self) -> None:
        """The interval setting changed: count the next slot from now with the new interval."""
        with self._cond:
            self._reschedule_locked(self._clock())
            self._cond.notify_all()
        self._changed()

    def pause(self, timeout: float = 30) -> None:
        """No scheduled backup from now until `resume()`; one in progress is cancelled and waited for."""
        with self._cond:
            self._paused += 1
            self._cancel.set()
            deadline = time.monotonic() + timeout
            while self._state.running and time.monotonic() < deadline:
                self._cond.wait(0.05)

    def resume(self) -> None:
        with self._cond:
            self._paused = max(0, self._paused - 1)
            if not self._paused:
                self._cancel.clear()
            self._cond.notify_all()

    def state(self) -> ScheduleState:
        with self._cond:
            s = ScheduleState(**{k: getattr(self._state, k) for k in ScheduleState.__dataclass_fields__})
            if self._due is not None and not self._stop:
                s.next_at = datetime.now(timezone.utc) + timedelta(seconds=max(0.0, self._due - self._clock()))
            return s

    # -- the thread --------------------------------------------------------------------------

    def _reschedule_locked(self, now: float) -> None:
        try:
            seconds = float(self._interval())
        except Exception:  # noqa: BLE001 - a settings file that cannot be read: try again soon
            log.warning("could not read the backup interval; trying again in a minute", exc_info=True)
            seconds = 60.0
        self._state.interval_seconds = seconds
        self._due = now + seconds if seconds > 0 else None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    now = self._clock()
                    if self._due is not None and now >= self._due and not self._paused:
                        break
                    # Never a long wait: Event/Condition waits stop counting while the machine sleeps.
                    nap = MAX_NAP if self._due is None else min(MAX_NAP, max(0.01, self._due - now))
                    self._cond.wait(nap)
                if self._stop:
                    return
                blocked = self._safely(self._blocked)
                self._state.running = not blocked
            if blocked:
                self._finish("skipped")
                continue
            self._run_once()

    def _run_once(self) -> None:
        def progress(phase: str, done: int, total: int | None, unit: Unit) -> None:
            if self._cancel.is_set():
                raise BackupCancelled()

        try:
            made = self._backup(progress)
        except BackupCancelled:
            log.info("scheduled backup cancelled (a restore or shutdown needed the data)")
            self._finish("skipped")
        except JobMatcherError as e:
            log.warning("scheduled backup failed: %s %s", e.message, e.hint)
            self._finish(
                "failed", error={"code": e.code, "message": e.message, "hint": e.hint, "page_hint": page_hint(e)}
            )
        except Exception as e:  # noqa: BLE001 - the schedule must outlive any surprise
            log.exception("scheduled backup failed unexpectedly")
            self._finish(
                "failed",
                error={
                    "code": "unexpected",
                    "message": f"The automatic backup failed ({type(e).__name__}: {e}).",
                    "hint": "It is tried again at the next slot; the log file has the details.",
                },
            )
        else:
            self._finish("made" if made else "unchanged", backup_id=made)

    def _finish(self, outcome: str, error: dict | None = None, backup_id: str | None = None) -> None:
        with self._cond:
            s = self._state
            s.running = False
            s.last_run_at = datetime.now(timezone.utc)
            s.last_outcome = outcome
            if outcome == "failed":
                s.failures += 1
                s.last_error = error
            elif outcome in ("made", "unchanged"):
                s.failures, s.last_error = 0, None
                if backup_id:
                    s.last_backup_id = backup_id
            # The next slot is an interval after this one ran: a long sleep costs one backup, not many.
            self._reschedule_locked(self._clock())
            self._cond.notify_all()
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change(self.state())
            except Exception:  # noqa: BLE001 - telling others is a courtesy; the schedule goes on
                log.warning("could not record the schedule's state", exc_info=True)

    @staticmethod
    def _safely(fn: Callable[[], bool]) -> bool:
        try:
            return bool(fn())
        except Exception:  # noqa: BLE001
            log.exception("could not tell whether the app is busy; skipping this slot")
            return True


def interval_seconds(minutes: int) -> float:
    """The schedule's interval: the setting in minutes, or the test-only override in seconds."""
    override = os.environ.get(INTERVAL_SECONDS_ENV)
    if override and minutes:
        try:
            return max(0.05, float(override))
        except ValueError:
            log.warning("ignoring %s=%r (not a number)", INTERVAL_SECONDS_ENV, override)
    return minutes * 60.0
