"""The command's standard streams made safe to write to, whatever they are: closed, a full disk, a gone reader.

A program started with a closed stream (`>&-`, a service or cron wrapper, a detached launcher) has
`sys.stdout`/`sys.stderr` None in Python, and the next file it opens takes that descriptor: a child process
(the integrity check) would then write its output into one of our files. A stdout on a full disk (`> /dev/full`)
or a pipe whose reader went away (`| head -1`) raises OSError from any print, in the middle of a backup or in the
error handler that tries to report it (findings U2, U6): a traceback, or "Could not finish the command" about
work that was done.

`install` (the `jobmatcher` program only, entry.main) puts /dev/null on any closed descriptor 0-2 and wraps
stdout and stderr: a write error on stdout is remembered and the rest of the output dropped, so the command's
work carries on and ends as it would have; `finish` then says it once on stderr and makes the exit code 1 (as
standard tools do: the user did not get the result). A write error on stderr has nowhere to be told: it is
dropped. A reader that went away (EPIPE) is not reported (`jobmatcher backup list | head`: as before, exit 1).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

_STREAMS = (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w"))


class _Guarded:
    """A text stream whose write and flush never raise OSError (nor ValueError: a stream closed under us).

    The first error is kept in `error`; from then on, writes are dropped and the descriptor points at
    /dev/null, so the interpreter's final flush of what stays buffered cannot fail again. Everything else
    (isatty, fileno, encoding: what tqdm and argparse ask) is the wrapped stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self._stream.write(text)
            except (OSError, ValueError) as e:
                self._failed(e)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except (OSError, ValueError) as e:
                self._failed(e)

    def _failed(self, e: Exception) -> None:
        self.error = e if isinstance(e, OSError) else OSError(errno.EBADF, str(e))
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
            self._stream.flush()  # what stayed buffered goes to /dev/null now
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install() -> None:
    """Make descriptors 0-2 usable (/dev/null on any closed one) and guard sys.stdout and sys.stderr. Once per
    process, for the program itself (a caller importing cli keeps its own streams); never raises."""
    for name, fd, mode in _STREAMS:
        try:
            os.fstat(fd)
        except OSError:  # closed: /dev/null takes its place before any file of ours can
            try:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            except OSError:
                continue
            setattr(sys, name, None)
        if getattr(sys, name) is None:
            try:
                setattr(sys, name, open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False))  # noqa: SIM115 - the process's stream
            except OSError:
                continue
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Guarded):
            setattr(sys, name, _Guarded(stream))


def output_error() -> OSError | None:
    """The error writing stdout met, or None (also when stdout is not guarded)."""
    out = sys.stdout
    return out.error if isinstance(out, _Guarded) else None


def finish(code: int) -> int:
    """Flush stdout and return the exit code to end with: `code`, or 1 when `code` is 0 but the output could not
    be written (said once on stderr, unless the reader went away: EPIPE, as `| head` is answered)."""
    out = sys.stdout
    if out is None:
        return code
    out.flush()
    error = output_error()
    if error is None:
        return code
    if error.errno != errno.EPIPE:
        done = (
            " The command itself was done; run it again with its output going elsewhere to see it." if code == 0 else ""
        )
        message = f"Error: the result could not be written: {describe(error)}.{done}\n"
        err = sys.stderr
        if err is not None:
            err.write(message)
            err.flush()
    return code or 1


def describe(e: OSError) -> str:
    """What went wrong writing the output, in the user's words ("the disk is full")."""
    words = {
        errno.ENOSPC: "the disk is full",
        getattr(errno, "EDQUOT", -1): "your disk quota is used up",
        errno.EPIPE: "the program reading it stopped",
        errno.EBADF: "the output is closed",
        errno.EIO: "the disk reported an input/output error",
        errno.EROFS: "the disk is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }
    if e.errno in words:
        return words[e.errno]
    return (e.strerror or str(e) or type(e).__name__).lower()
