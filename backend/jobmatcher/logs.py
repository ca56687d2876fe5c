"""Logging to a rotating file in the platform's log folder, so errors are never only on a console.

The file is opened when the first record arrives, not when the command starts: a command that logs
nothing (`backup list`, `--help`) neither imports logging.handlers nor touches the log folder, and its
start-up is part of its time (issue 13).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging.handlers

_configured = False
_handler: _FirstRecordOpens | None = None


class _FirstRecordOpens(logging.Handler):
    """Hands records to a RotatingFileHandler on jobmatcher.log (1 MB x 5) made at the first record.

    The folder and the file are made private then (the log names files and folders of the user's data).
    A folder that cannot be used ($JOBMATCHER_LOG_DIR naming no possible folder, no permission) drops the
    records without a word: logging must never stop the user from reaching their data. logging.Handler.handle
    holds this handler's lock around emit, so two threads logging at once open the file once."""

    def __init__(self) -> None:
        super().__init__()
        self.path: Path | None = None
        self._file: logging.Handler | None = None
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is None:
            if self._failed:
                return
            self._file = self._open()
            if self._file is None:
                self._failed = True
                return
        self._file.handle(record)

    def _open(self) -> logging.Handler | None:
        from .datadir import log_dir
        from .errors import JobMatcherError
        from .fsutil import PRIVATE_DIR, make_private

        try:
            folder = log_dir()
            folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            path = folder / "jobmatcher.log"
            handler = _file_handler(self)(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
            make_private(path)
            make_private(folder)
        except (OSError, JobMatcherError):  # an unusable folder, or $JOBMATCHER_LOG_DIR names no possible folder
            return None
        handler.setFormatter(_Escaping("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        self.path = path
        return handler

    def failed(self, error: BaseException | None) -> None:
        """The log file cannot be written (a full disk, a removed folder, an I/O error): said once on stderr,
        then this handler drops every record (U3: Python's handler printed a traceback for each record)."""
        file, self._file, self._failed = self._file, None, True
        from .streams import describe

        reason = describe(error) if isinstance(error, OSError) else str(error)
        where = f" ({self.path})" if self.path else ""
        self.path = None
        try:
            if sys.stderr is not None:
                sys.stderr.write(
                    f"Warning: the log file{where} cannot be written ({reason}): nothing more is logged.\n"
                )
        except (OSError, ValueError):
            pass
        if file is not None:
            try:
                file.close()
            except (OSError, ValueError):
                pass

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except (OSError, ValueError) as e:
                self.failed(e)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except (OSError, ValueError):  # its last flush, on a disk that filled up: nothing more to do
                pass
        super().close()


def _file_handler(owner: _FirstRecordOpens) -> type[logging.handlers.RotatingFileHandler]:
    """RotatingFileHandler whose OS errors (writing, rotating) turn `owner` off with one line on stderr
    (_FirstRecordOpens.failed) instead of logging's "--- Logging error ---" traceback for every record. Any other
    error (a record's arguments not matching its format: a bug of ours) is logging's usual report."""
    import logging.handlers

    class _File(logging.handlers.RotatingFileHandler):
        def handleError(self, record: logging.LogRecord) -> None:
            error = sys.exc_info()[1]
            if isinstance(error, OSError):
                owner.failed(error)
            else:
                super().handleError(record)

    return _File


class _Escaping(logging.Formatter):
    """Each record's message shown as the terminal shows outside text (printable.printable): a location's or a
    file's name with a bidirectional control or a line break neither reorders nor forges a line of the log
    (T16: `added backup location a‮b` was written raw). A traceback keeps its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        from .printable import printable

        record.message = printable(record.message)
        return super().formatMessage(record)


def setup_logging(verbose: bool = False) -> None:
    """Send the package's logs to jobmatcher.log (1 MB x 5) in the log folder (datadir.log_dir), opened at the
    first record (see log_file). Once per process; never raises."""
    global _configured, _handler
    if _configured:
        return
    _configured = True
    root = logging.getLogger("jobmatcher")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    _handler = _FirstRecordOpens()
    root.addHandler(_handler)


def log_file() -> Path | None:
    """The log file records went to, or None: nothing was logged yet, or its folder cannot be used."""
    return _handler.path if _handler is not None else None
