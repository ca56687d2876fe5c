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
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

WAIT_PID_ENV = "JOBMATCHER_LAUNCHER_WAIT_PID"  # set: act as the launcher, waiting for this pid
RELAUNCHED_ENV = "JOBMATCHER_RELAUNCHED"      # set in the app the launcher starts: "you were restarted"
SERVE_PORT_ENV = "JOBMATCHER_SERVE_PORT"      # browser mode: come back on the same port ...
SERVE_SECRET_ENV = "JOBMATCHER_SERVE_SECRET"  # ... with the same secret, so the open page reconnects
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


def spawn_detached(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> subprocess.Popen:
    """Start `cmd` so that it outlives us: its own session (POSIX) or process group (Windows)."""
    kwargs: dict = {"env": env, "cwd": cwd, "stdin": subprocess.DEVNULL, "close_fds": True}
    if os.name == "nt":  # pragma: no cover - Windows only
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
