"""Turning any exception into what the page shows: a message and a hint, never a traceback.

The engine's own errors already carry both; failures of the disk, SQLite or the
operating system get their cause named by `causes.explain`. Anything else is a bug: it is
logged here with its traceback (for the log file) and the page gets a plain
sentence naming the log file instead.
"""

from __future__ import annotations

import logging

from .causes import explain
from .errors import JobMatcherError

log = logging.getLogger(__name__)


def to_page_error(e: BaseException) -> dict:
    """{"code", "message", "hint", ...extra fields of the error} for the page."""
    named = explain(e, "that")  # a full disk, a read-only file, a held lock...: say so, not "unexpected"
    if named is not None:
        if not isinstance(e, JobMatcherError):
            log.warning("%s: %s", named.code, e)
        d = named.to_dict()
        d["code"] = d.pop("error", named.code)
        return d
    log.error("unexpected error", exc_info=(type(e), e, e.__traceback__))
    return {
        "code": "internal",
        "message": f"Something unexpected went wrong ({type(e).__name__}).",
        "hint": "Try again. If it keeps happening, please report it with JobMatcher's log file.",
    }
