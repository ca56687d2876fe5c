"""Copying to locations in the background, so a local backup or the page never waits for a location.

- In the app, `Copier` is a daemon thread. It looks every `poll` seconds (and at
  once when kicked after a backup) for verified local backups that an enabled
  location lacks, whoever made them (the app, the scheduler, `backup create`
  in a terminal), and copies them newest first. A location that failed is
  retried with exponential backoff (Locations.sync with only_due).
- After `jobmatcher backup create`, `spawn_background_sync` starts a detached
  `jobmatcher location sync --background` and returns at once; if the app is
  running, its copier holds the locations lock and the child simply exits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from ..datadir import LOCATIONS_NAME
from ..errors import JobMatcherError

log = logging.getLogger(__name__)


def has_enabled_locations(data_root: Path) -> bool:
    """True when the data folder has at least one enabled location. Never raises for a damaged
    configuration (False); OSError only if it exists but cannot be read."""
    if not (data_root / LOCATIONS_NAME).exists():
        return False  # none set up: the locations' models are not even imported (backup create, T10)
    from .config import load_config

    try:
        return any(loc.enabled for loc in load_config(data_root).locations)
    except JobMatcherError:
        return False


def damaged_locations_file(data_root: Path) -> str | None:
    """Why the data folder's locations file, which is there, cannot be used (damaged: load_config's refusal in
    words), or None when it is fine or not there (D7: `backup create` then says copies off this disk stopped).
    Never raises (an unreadable one is OSError's: has_enabled_locations raises that)."""
    if not (data_root / LOCATIONS_NAME).exists():
        return None
    from .config import load_config

    try:
        load_config(data_root)
    except JobMatcherError as e:
        return e.message
    except OSError:
        return None
    return None


def spare_encryptor(data_root: Path) -> Any:
    """A context manager holding an encrypting child started now (encproc.SpareEncryptor), when an enabled
    location of the data folder encrypts; else holding None. A sync given it skips the child's start-up
    (about 25 ms of CPU) in its first copy: the caller starts it before the work that precedes the copy
    (loading the engine and the locations, the copier's look for what to copy). Leaving kills an unused
    child. Never raises (a damaged configuration, or no process: None)."""
    import contextlib

    if (data_root / LOCATIONS_NAME).exists():
        from .config import load_config
        from .encproc import SpareEncryptor

        try:
            if any(loc.enabled and loc.encrypt for loc in load_config(data_root).locations):
                spare = SpareEncryptor.start()
                if spare is not None:
                    return spare
        except (JobMatcherError, OSError):
            pass
    return contextlib.nullcontext()


def spawn_background_sync(data_root: Path) -> int | None:
    """Start `jobmatcher location sync --background` detached from this process; its pid, or None (no
    enabled location, or it could not start: logged). Never raises for a failed start; OSError when the
    locations file is there but cannot be read (has_enabled_locations), for the caller to say."""
    if not has_enabled_locations(data_root):
        return None
    import subprocess  # here: a backup with no location set up (the common case) starts no process

    from ..relaunch import child_environment, program

    cmd = program() + ["--data-dir", str(data_root), "location", "sync", "--background"]
    try:  # it outlives us: from a one-file bundle it must unpack afresh (child_environment)
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=child_environment(),
        )
        return p.pid
    except OSError as e:
        log.warning("could not start copying to backup locations in the background: %s", e)
        return None


class Copier(threading.Thread):
    """The app's background copier: one thread, never holding anything the app needs."""

    def __init__(self, make_locations, poll: float = 10.0) -> None:
        super().__init__(name="location-copier", daemon=True)
        self._make = make_locations
        self.poll = poll
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.busy = False

    def kick(self) -> None:
        """Look now (after a backup, or when the user asks). Never raises."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the thread to end after its current round (not waited for). Never raises."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        """The thread's loop: sync what is due every `poll` seconds or when kicked, and each location at least
        every manager.CHECKUP_SECONDS (Locations.checkup_due: copies gone or damaged there are copied again). Never
        raises: failures are recorded per location (or logged), so a copier problem never takes the app down."""
        skipped: str | None = None  # why the last round was skipped: logged when it changes, not every round (K9)
        while not self._stopping.is_set():
            kicked = self._wake.wait(self.poll)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                locs = self._make()
                # kicked (after a backup: a copy is likely due), the encrypting child starts before the look
                # for what to copy; on a poll, only once there is something (the sync starts it then)
                with spare_encryptor(locs.data.root) if kicked else contextlib.nullcontext() as spare:
                    if locs.wanted_pending() or locs.checkup_due():
                        self.busy = True
                        locs.sync(only_due=True, wait=0, spare=spare)
                if skipped is not None:
                    log.info("background copies resumed")
                    skipped = None
            except JobMatcherError as e:  # the lock is held by a `location sync` elsewhere, a drive unplugged
                if e.message != skipped:
                    log.info("background copy skipped (said once, until it changes): %s", e.message)
                    skipped = e.message
            except Exception:  # noqa: BLE001 - a copier bug must never take the app down
                log.exception("background copy to a location failed unexpectedly")
            finally:
                self.busy = False


def run_background_sync(make_locations, data_root: Path | None = None) -> int:
    """The body of `location sync --background`: copy what is due, quietly; 0 always (errors are recorded).
    With `data_root`, the encrypting child starts before make_locations() loads the locations' code.
    Raises only what is not a JobMatcherError (a bug), for the CLI's last line of defence."""
    try:
        with spare_encryptor(data_root) if data_root is not None else contextlib.nullcontext() as spare:
            make_locations().sync(only_due=True, wait=0, spare=spare)
    except JobMatcherError as e:
        log.info("background copy skipped: %s", e.message)
    return 0
