"""Looks at a folder that may never answer, run with a deadline (X16).

A network share whose server stopped answering (a hard NFS mount, SMB, sshfs, a FUSE daemon stopped) blocks
every look at its files in the kernel, with no time limit. The look runs on a daemon thread; the caller waits
for it at most `seconds` and then goes on as if the folder were not there. A thread stuck in the kernel cannot
be killed, so it is never joined: it ends by itself when the share answers again, or with the process. While a
look at one folder is still stuck, the next look at it fails at once (no new thread), and no more than
MAX_STUCK stuck looks are ever left behind in all: they cannot pile up.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

# A look that takes longer is "not answering": a drive spinning up or a share waking takes a few seconds.
DEFAULT_SECONDS = 10.0
MAX_STUCK = 8

_lock = threading.Lock()
_stuck: dict[str, threading.Thread] = {}


class NotAnswering(Exception):
    """The look did not end within its deadline (or an earlier one at the same place is still stuck)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


def folder_seconds() -> float:
    """The deadline in seconds: DEFAULT_SECONDS, or JOBMATCHER_FOLDER_DEADLINE_SECONDS when set to a positive
    number below an hour (the tests' stopped shares). Never raises."""
    try:
        value = float(os.environ.get("JOBMATCHER_FOLDER_DEADLINE_SECONDS", ""))
    except ValueError:
        return DEFAULT_SECONDS
    return value if 0 < value < 3600 else DEFAULT_SECONDS


def within(place: str, fn: Callable[[], T], seconds: float | None = None) -> T:
    """fn()'s result (or what it raises), run on a daemon thread given `seconds` (None: folder_seconds()).

    Raises NotAnswering when it has not ended by then (the thread is left to end by itself), or at once while
    an earlier look at `place` (a folder's path) is still stuck, or when MAX_STUCK looks are stuck."""
    limit = folder_seconds() if seconds is None else seconds
    with _lock:
        for key in [k for k, t in _stuck.items() if not t.is_alive()]:
            del _stuck[key]
        if place in _stuck or len(_stuck) >= MAX_STUCK:
            raise NotAnswering(limit)
    box: dict[str, object] = {}
    done = threading.Event()

    def look() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller as it was
            box["error"] = e
        finally:
            done.set()

    thread = threading.Thread(target=look, name="folder-look", daemon=True)
    thread.start()
    if not done.wait(limit):
        with _lock:
            _stuck[place] = thread
        raise NotAnswering(limit)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
