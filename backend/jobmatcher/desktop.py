"""The user's desktop: showing a folder in the file manager, and where file dialogs start."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def open_in_file_manager(path: Path, wait: float = 3.0) -> bool:
    """Show folder `path` in the system's file manager; False when that failed.

    `xdg-open` (Linux) and `open` (macOS) exit 0 once the file manager started and
    non-zero when they could not start one (xdg-open: 3 = no tool for the job, 4 = it
    failed). Some file managers run in the foreground of xdg-open: still running after
    `wait` seconds counts as opened (it is reaped on a thread).
    """
    if sys.platform == "win32":
        try:
            os.startfile(str(path))  # noqa: S606
        except OSError:
            return False
        return True
    from .relaunch import external_environment

    cmd = ["open", str(path)] if sys.platform == "darwin" else ["xdg-open", str(path)]
    try:
        # The user's environment, not the bundle's: a PyInstaller bundle's LD_LIBRARY_PATH would make the
        # file manager load the bundle's libraries.
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=external_environment(),
        )
    except OSError:  # no xdg-open at all
        return False
    try:
        code = proc.wait(wait)
    except subprocess.TimeoutExpired:
        threading.Thread(target=proc.wait, daemon=True).start()
        return True
    if code != 0:
        log.info("%s exited with %s", cmd[0], code)
    return code == 0


def export_folder() -> Path:
    """Where the export dialog starts: the user's Documents folder, else their home (never our working folder)."""
    import platformdirs

    documents = Path(platformdirs.user_documents_dir())
    return documents if documents.is_dir() else Path.home()
