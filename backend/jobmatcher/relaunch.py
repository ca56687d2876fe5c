"""Starting JobMatcher again after a restore, without two copies ever holding the data folder.

The running app cannot simply start a new copy of itself: the new one would
find the data folder (and in browser mode the port) still taken. So it starts
a small *launcher* and exits. The launcher waits until the old process is gone,
then starts the app again with the same arguments and data folder, and exits.

The launcher is this same program started with `JOBMATCHER_LAUNCHER_WAIT_PID`
in its environment (see `launcher.py`), which works the same way from the
source tree (`python -m jobmatcher`), the installed console script (whose
interpreter can import the package the same way) and a PyInstaller bundle
(`sys.frozen`: the bundle's executable is the program). A one-file bundle
unpacks itself into a temporary folder that is deleted when it exits; a child
started from it would inherit that folder's path and break once the parent is
gone, so children get `PYINSTALLER_RESET_ENVIRONMENT=1`, which makes them
unpack afresh.

Browser mode on POSIX does not use the launcher: the app replaces itself
(`replace_self`, an `execve` of the same program) after closing its data, and
hands the listening socket to its new self as an inherited descriptor. So the
port is never free for another program to take (it would receive the page's
secret), and the restarted app keeps the pid, process group and terminal of
the one the user started: Ctrl+C still stops it.

Programs that are not JobMatcher (the file manager) get `external_environment()`:
a PyInstaller bundle points `LD_LIBRARY_PATH` at its own libraries, which system
tools must not load; PyInstaller keeps the user's value in `LD_LIBRARY_PATH_ORIG`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

WAIT_PID_ENV = "JOBMATCHER_LAUNCHER_WAIT_PID"  # set: act as the launcher, waiting for this pid
RELAUNCHED_ENV = "JOBMATCHER_RELAUNCHED"  # set in the app the launcher starts: "you were restarted"
SERVE_PORT_ENV = "JOBMATCHER_SERVE_PORT"  # browser mode: come back on the same port ...
SERVE_SECRET_ENV = "JOBMATCHER_SERVE_SECRET"  # ... with the same secret, so the open page reconnects
SERVE_FD_ENV = "JOBMATCHER_SERVE_FD"  # POSIX browser mode: the listening socket, inherited
PYINSTALLER_RESET = "PYINSTALLER_RESET_ENVIRONMENT"


def program() -> list[str]:
    """The command that runs JobMatcher: the bundle's executable, or this interpreter with `-m jobmatcher`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "jobmatcher"]


def app_arguments(args) -> list[str]:
    """The app's command-line arguments from the parsed `args` (data folder made absolute)."""
    out: list[str] = []
    if getattr(args, "data_dir", None):
        out += ["--data-dir", str(Path(args.data_dir).expanduser().absolute())]
    if getattr(args, "browser", False):
        out.append("--browser")
    if getattr(args, "port", 0):
        out += ["--port", str(args.port)]
    if getattr(args, "verbose", False):
        out.append("--verbose")
    return out


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    if getattr(sys, "frozen", False):
        env[PYINSTALLER_RESET] = "1"
    return env


# Variables a PyInstaller bootloader changes for the bundle's own use, saved as NAME_ORIG (PyInstaller's
# "LD_LIBRARY_PATH / LIBPATH considerations"): LD_LIBRARY_PATH on Linux and the BSDs, LIBPATH on AIX.
_LOADER_PATH_VARS = ("LD_LIBRARY_PATH", "LIBPATH")


def external_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for programs that are not JobMatcher (the file manager): the one the user started us with.

    Outside a bundle that is our environment as it is. In a PyInstaller bundle the
    loader path variables are put back to the user's values (or removed when the
    user had none), so system tools load the system's libraries, not the bundle's.
    """
    env = dict(os.environ if environ is None else environ)
    if not getattr(sys, "frozen", False):
        return env
    for key in _LOADER_PATH_VARS:
        original = env.pop(f"{key}_ORIG", None)
        if original is not None:
            env[key] = original
        else:
            env.pop(key, None)
    env.pop(PYINSTALLER_RESET, None)
    return env


def spawn_detached(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> subprocess.Popen:
    """Start `cmd` so that it outlives us: its own session (POSIX) or process group (Windows)."""
    kwargs: dict = {"env": env, "cwd": cwd, "stdin": subprocess.DEVNULL, "close_fds": True}
    if sys.platform == "win32":  # pragma: no cover - Windows only
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(cmd, **kwargs)


def start_launcher(args, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the launcher for this process; the caller then exits. Raises OSError if it cannot start."""
    env = child_environment({**(extra_env or {}), WAIT_PID_ENV: str(os.getpid())})
    env.pop(RELAUNCHED_ENV, None)
    cmd = program() + app_arguments(args)
    log.info("starting the launcher: %s", cmd)
    return spawn_detached(cmd, env, cwd=os.getcwd())


# Tests only: restart through the launcher, as on Windows, to prove the page's check of who answers.
LAUNCHER_ONLY_ENV = "JOBMATCHER_TEST_RESTART_WITH_LAUNCHER"


def can_replace_self() -> bool:
    """True where the app can restart by replacing itself in place (POSIX `execve`)."""
    if os.environ.get(LAUNCHER_ONLY_ENV):
        return False
    return os.name == "posix" and hasattr(os, "execve") and os.access(program()[0], os.X_OK)


def _stop_signals() -> set[signal.Signals]:
    return {signal.SIGINT, signal.SIGTERM}


def release_held_signals() -> None:
    """In the program `replace_self` started (main thread, first thing): take the stop signals (SIGINT,
    SIGTERM) it held across the execve. One that came in between is delivered now: a Ctrl+C raises
    KeyboardInterrupt here, a SIGTERM ends the process. Nothing where signal masks do not exist."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _stop_signals())


def replace_self(
    args,
    keep_fds: tuple[int, ...] = (),
    extra_env: dict[str, str] | None = None,
    still_wanted: Callable[[], bool] = lambda: True,
) -> bool:
    """POSIX: become a fresh JobMatcher in this same process; returns False, or raises OSError.

    The caller has closed its data (and given up the data folder's lock) first.
    `keep_fds` stay open in the new program (the listening socket); everything
    else JobMatcher opened is close-on-exec. Same pid, process group and terminal:
    the user's Ctrl+C and a service manager's signals reach the restarted app.

    Ctrl+C and SIGTERM are held (blocked) from the last look at `still_wanted()` to the execve: one arriving
    in that moment would otherwise be lost with this program's handlers; held, it stays pending and reaches
    the new program, which takes it first thing (`release_held_signals`, entry.main) and stops. Blocking them
    runs the handlers of any that came before, so `still_wanted()` (False: a Ctrl+C or SIGTERM during the
    restart, said by the caller's handler) then returns False here without restarting.
    """
    env = child_environment({**(extra_env or {}), RELAUNCHED_ENV: "1"})
    env.pop(WAIT_PID_ENV, None)
    cmd = program() + app_arguments(args)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _stop_signals())
    try:
        if not still_wanted():
            return False
        for fd in keep_fds:
            os.set_inheritable(fd, True)
        log.info("restarting in place: %s", cmd)
        for handler in logging.getLogger("jobmatcher").handlers:
            handler.flush()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.execve(cmd[0], cmd, env)
        raise OSError("execve returned")  # pragma: no cover - it either replaces us or raises
    finally:  # only reached if we did not restart
        for fd in keep_fds:
            os.set_inheritable(fd, False)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
