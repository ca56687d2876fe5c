"""Logging to a rotating file in the platform's log folder, so errors are never only on a console."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from .datadir import log_dir
from .errors import JobMatcherError
from .fsutil import PRIVATE_DIR, make_private

_configured = False


def setup_logging(verbose: bool = False) -> Path | None:
    """Send the package's logs to jobmatcher.log (1 MB x 5); returns the file, or None if the folder is unusable."""
    global _configured
    if _configured:
        return None
    _configured = True
    root = logging.getLogger("jobmatcher")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        path = folder / "jobmatcher.log"
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
        make_private(path)  # the log names files and folders of the user's data
        make_private(folder)
    except (OSError, JobMatcherError):  # an unusable folder, or $JOBMATCHER_LOG_DIR names no possible folder
        return None  # logging must never stop the user from reaching their data
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path
