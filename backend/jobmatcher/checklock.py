"""One check at a time per backup, and taking over a check whose process ended before it recorded anything.

A restore's linked safety backup is listed "checking" until a detached `backup verify` records its
checksums and integrity check (restore._check_in_background). That process can be killed after the
restore finished (a power cut, the out-of-memory killer, a logout), and then nothing would ever record
them. So every check of a listed backup holds the backup's check lock, `.jobmatcher-check-ID.lock` in
the backup folder (an flock: the kernel drops it when its holder ends, however it ends), for as long
as it runs. The restore takes that lock before its journal ends (until then the journal names the
safety backup) and hands it to the detached check it starts: the lock's descriptor is inherited and
JOBMATCHER_CHECK_LOCK_FD names it. So at any moment a "checking" backup is named by a restore's
journal, or a live check holds its lock, or its check is gone: the last kind alone is checked again
(`finish_interrupted_checks`), by whoever finds its lock free first, and never by two at once.

The lock file is removed by its holder before it lets go, and a taker checks that the file it locked
is still the one at the name (else it takes the new one): a waiter never holds a lock on a removed file.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .fsutil import remove_quietly
from .listing import CHANGED_AFTER_RESTORE, CHECKING, is_own_backup
from .lock import _HELD_FDS, FileLock

if TYPE_CHECKING:
    from .backups import BackupStore
    from .datadir import DataDir
    from .manifest import BackupRecord

log = logging.getLogger(__name__)

# The descriptor of the check lock a detached `backup verify` is handed by the process that started it.
LOCK_FD_ENV = "JOBMATCHER_CHECK_LOCK_FD"
# Tests only: start no check in the background (the test runs it itself); restore.NO_BACKGROUND_ENV too.
NO_BACKGROUND_ENV = "JOBMATCHER_TEST_NO_BACKGROUND_CHECK"
# How long `backup verify` waits for another process's check of the same backup before saying so.
WAIT_SECONDS = 120.0


def lock_path(folder: Path, backup_id: str) -> Path:
    """The check lock's file of the backup `backup_id` in the backup folder `folder`."""
    return Path(folder) / f".jobmatcher-check-{backup_id}.lock"


class CheckLock:
    """A held check lock (see the module's docstring). `release` removes its file, then lets go."""

    def __init__(self, lock: FileLock) -> None:
        self._lock = lock

    @property
    def fd(self) -> int:
        fd = self._lock._fd
        assert fd is not None
        return fd

    def release(self) -> None:
        if not self._lock.held:
            return
        if self._lock.is_still_at_path():
            remove_quietly(self._lock.path)
        self._lock.release()

    def handed_over(self) -> None:
        """The detached process it was passed to holds it now: close this process's descriptor without
        unlocking (an unlock would end the lock for the other holder too: a flock belongs to the open
        file, which both share)."""
        fd = self._lock._fd
        if fd is None:
            return
        _HELD_FDS.discard(fd)
        self._lock._fd = None
        os.close(fd)

    def __enter__(self) -> "CheckLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _inherited(path: Path) -> CheckLock | None:
    """The lock handed to this process for `path` by its starter (LOCK_FD_ENV), if that is the one."""
    raw = os.environ.get(LOCK_FD_ENV)
    if raw is None:
        return None
    try:
        fd = int(raw)
        held, here = os.fstat(fd), os.stat(path)
    except (ValueError, OSError):
        return None
    if (held.st_dev, held.st_ino) != (here.st_dev, here.st_ino):
        return None  # another backup's lock is asked for: the handed one stays for its own
    del os.environ[LOCK_FD_ENV]  # taken once; nor passed on to a process this one starts
    lock = FileLock(path)
    lock._fd = fd
    _HELD_FDS.add(fd)  # a forked check child closes it (lock.close_inherited_locks)
    return CheckLock(lock)


def take(folder: Path, backup_id: str, timeout: float = 0.0) -> CheckLock | None:
    """The check lock of `backup_id`, waiting up to `timeout` seconds; None when another check holds it.

    Raises OSError when the lock file cannot be made (a read-only backup folder: nothing can be recorded
    there either)."""
    path = lock_path(folder, backup_id)
    handed = _inherited(path)
    if handed is not None:
        return handed
    deadline = time.monotonic() + timeout
    while True:
        lock = FileLock(path)
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return None
        if lock.is_still_at_path():
            return CheckLock(lock)
        lock.release()  # its holder removed it as it finished: take the file at the name now


def check_is_gone(folder: Path, backup_id: str) -> bool:
    """True when no check of `backup_id` holds its lock (a moment's probe; never raises: False when the
    lock cannot be taken at all)."""
    try:
        held = take(folder, backup_id)
    except OSError:
        return False
    if held is None:
        return False
    held.release()
    return True


def check_running(folder: Path, backup_id: str) -> bool | None:
    """Whether a check of `backup_id` (in the backup folder `folder`) holds its lock now, found without taking
    it or writing anything (a list stays read-only): no lock file, none (a holder keeps the file at its name
    until it lets go); a shared lock had on it for a moment, none either (a check holds it exclusively); one
    refused, a check is running. None when it cannot be told (the file cannot be opened). Never raises."""
    import fcntl

    try:
        fd = os.open(lock_path(folder, backup_id), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # lets go of the shared lock, if it was had
    return False


def stopped(items: list, data: DataDir) -> set[str]:
    """The ids of the backups among `items` listed "checking" whose check is gone: no restore's journal names
    them (interrupted) and no check holds their lock (check_running False). Read-only; never raises. They are
    checked by the next launch (finish_interrupted_checks) or `backup verify`."""
    try:
        return {
            r.id
            for r in interrupted(items, data)
            if check_running(Path(r.path).parent, r.id) is False and _unrecorded(r)
        }
    except Exception:  # noqa: BLE001 - a list says "checking" rather than fail
        log.warning("could not tell whether the checks of the backups listed as checking still run", exc_info=True)
        return set()


def held_by_restore(items: list, data: DataDir) -> tuple[set[str], bool]:
    """(the ids of this data folder's backups among `items` listed "checking" that a restore's journal names,
    whether that restore's process is gone). Such a backup is that restore's safety backup: its check starts only
    once the restore ends, so while the journal is there no check runs, and when the restore was killed (FINDINGS20
    7) none will until the next launch (the app, `db migrate`) finishes that restore. Read-only; never raises
    (nothing found: (set(), False))."""
    try:
        found = [r for r in items if is_own_backup(r) and (is_checking(r) or _changed_unrecorded(r))]
        if not found:
            return set(), False
        from .restore import interrupted_restore, pending_recovery_backup

        pending = pending_recovery_backup(data)
        if pending is None:
            return set(), False
        held = {r.id for r in found if Path(r.path) == pending}
        return held, bool(held) and interrupted_restore(data)
    except Exception:  # noqa: BLE001 - a status says "checking" rather than fail
        log.warning("could not tell whether a restore holds the check of a backup", exc_info=True)
        return set(), False


def _unrecorded(r: BackupRecord) -> bool:
    """Whether the manifest of `r`, read again now, still records no verdict of its check. A check records its
    verdict and then lets go of its lock: a list that read "checking" just before and finds the lock free just
    after saw a check that ended normally (A1), not one that stopped. Reads one manifest; True when it cannot be
    read (said as stopped: `backup verify` then tells), False when it is gone. Never raises."""
    from .manifest import read_manifest

    try:
        m = read_manifest(Path(r.path))
    except Exception:  # noqa: BLE001 - see above
        return True
    return m is not None and m.verified is None and m.verify_message == CHECKING


def is_checking(r: BackupRecord) -> bool:
    """Listed as "checking": its check has not recorded anything yet (a restore's linked safety backup)."""
    return r.verified is None and r.verify_message == CHECKING


def _changed_unrecorded(r: BackupRecord) -> bool:
    """Listed as changed after its restore (listing.changed_since_restore: its file no longer as the restore left
    it) while its manifest still says "checking": its check has not run since (Y7), so it is taken over as one
    "checking" is, and marks it. Reads its manifest (only such rows: one or two). Never raises."""
    if r.verified is not None or r.verify_message != CHANGED_AFTER_RESTORE:
        return False
    from .manifest import read_manifest

    try:
        m = read_manifest(Path(r.path))
    except Exception:  # noqa: BLE001 - not taken over; `backup verify` still checks it
        return False
    return m is not None and bool(m.file_stamp) and m.verified is None and m.verify_message == CHECKING


def interrupted(items: list[BackupRecord], data: DataDir) -> list[BackupRecord]:
    """This data folder's own backups listed "checking" that no restore's journal names (read-only; whether
    their check still runs is known only by trying its lock)."""
    found = [r for r in items if is_own_backup(r) and (is_checking(r) or _changed_unrecorded(r))]
    if not found:
        return found
    from .restore import pending_recovery_backup

    pending = pending_recovery_backup(data)
    return [r for r in found if pending is None or Path(r.path) != pending]


def finish_interrupted_checks(
    store: BackupStore, data: DataDir, items: list[BackupRecord], detached: bool = False
) -> list[str]:
    """Check again each own backup still "checking" whose check is gone (its lock free), then or in the
    background (`detached`: a `backup verify` started on its own, handed the lock). A check that is still
    running is left to finish. Returns the ids taken over. Never raises: a failed check is recorded in
    its manifest by verify, and the rest is logged."""
    from .errors import JobMatcherError
    from .manifest import read_manifest

    if detached and os.environ.get(NO_BACKGROUND_ENV):
        return []
    done = []
    for r in interrupted(items, data):
        try:
            held = take(store.folder, r.id)
        except OSError as e:
            log.warning("could not take the check lock of %s: %s", r.id, e)
            continue
        if held is None:
            continue  # its check is running
        try:
            m = read_manifest(Path(r.path))  # under the lock: a check that just ended may have recorded it
            if m is None or m.verified is not None or m.verify_message != CHECKING:
                continue
            log.warning("the check of %s was interrupted (its process ended): checking it again", r.id)
            done.append(r.id)
            if detached:
                start_detached(data.root, r.id, held)
            else:
                store.verify(r.id, held=held)
        except JobMatcherError as e:  # recorded in its manifest by verify
            log.warning("the backup %s did not pass its check: %s", r.id, e.message)
        except OSError as e:
            log.warning("could not check %s: %s", r.id, e)
        finally:
            held.release()
    return done


def start_detached(data_root: Path, backup_id: str, held: CheckLock) -> None:
    """Start `jobmatcher backup verify ID` on its own (it outlives this process), handing it `held`.
    Raises OSError when it cannot start (the lock stays this process's)."""
    import subprocess  # here: every command imports this module, few start a check (issue 13: a backup's first call)

    from .relaunch import child_environment, program

    cmd = [*program(), "--data-dir", str(data_root), "backup", "verify", backup_id]
    if sys.platform == "win32":  # pragma: no cover - no descriptors to hand over there: the child takes it
        held.release()
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.Popen(cmd, env=child_environment(), **quiet)
        return
    # It outlives us: from a one-file bundle it must unpack afresh (child_environment). Started through a shell
    # that puts it in the background and ends at once (reaped here): the check is then not our child but the
    # init process's, which reaps it when it ends. As our own child it stayed a zombie for as long as the app
    # ran, one per restore, since the app's restart in place (execve) forgets the children it had (X10).
    starter = subprocess.Popen(
        ["/bin/sh", "-c", 'exec "$@" &', "sh", *cmd],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        pass_fds=(held.fd,),
        env=child_environment({LOCK_FD_ENV: str(held.fd)}),
    )
    if starter.wait() != 0:
        raise OSError(f"the shell that starts the check ended with {starter.returncode}")
    held.handed_over()
