"""Turning any exception into what the page shows: a message and a hint, never a traceback.

The engine's own errors already carry both; failures of the disk, SQLite or the
operating system get their cause named by `causes.explain`. Anything else is a bug: it is
logged here with its traceback (for the log file) and the page gets a plain
sentence naming the log file instead.
"""

from __future__ import annotations

import logging
import re

from .causes import explain
from .errors import JobMatcherError

log = logging.getLogger(__name__)


# What to do, in the window's words, when an error's own hint is a command for the terminal.
PAGE_HINTS = {
    "damaged": "Restore your newest backup that passed its check (Restore… beside it in Backup & Restore).",
    "not-found": "Reload the page to see the backups as they are now.",
    "invalid-backup": "Choose another backup. Your current data has not been changed.",
    "foreign-schema": "Choose another backup. Your current data has not been changed.",
    "restore-failed": "Restore another backup from the list, or close JobMatcher and open it again.",
}


# A sentence that is the terminal's: it names a command or an option (`jobmatcher …`, --passphrase-file).
_COMMAND = re.compile(r"`jobmatcher|(?<![\w-])--[a-z][a-z-]+")


def page_hint(e: JobMatcherError) -> str:
    """The hint the window shows: the error's page_hint, else its hint without the sentences that name a
    `jobmatcher …` command or a --option (window users press buttons), else a hint for its code."""
    return e.page_hint if e.page_hint is not None else without_commands(e.hint, e.code)


# An aside for the terminal inside a sentence: "(for the command line: AWS_ACCESS_KEY_ID and …)" (T16).
_TERMINAL_ASIDE = re.compile(r"\s*\(for the command line:[^)]*\)")


def without_commands(hint: str, code: str = "") -> str:
    """`hint` without its sentences that name a command or an option, and without its asides "(for the command
    line: …)"; PAGE_HINTS[code] (or "") if nothing is left. Never raises."""
    hint = _TERMINAL_ASIDE.sub("", hint)
    if not _COMMAND.search(hint):
        return hint
    kept = [s for s in re.split(r"(?<=[.;:])\s+", hint) if not _COMMAND.search(s)]
    text = " ".join(kept).strip()
    return text if text and text[-1] in ".!?" else PAGE_HINTS.get(code, "")


def to_page_error(e: BaseException) -> dict:
    """{"code", "message", "hint", ...extra fields of the error} for the page (the hint in the window's words)."""
    named = explain(e, "that")  # a full disk, a read-only file, a held lock...: say so, not "unexpected"
    if named is not None:
        if not isinstance(e, JobMatcherError):
            log.warning("%s: %s", named.code, e)
        d = named.to_dict()
        d["code"] = d.pop("error", named.code)
        d["hint"] = page_hint(named)
        return d
    log.error("unexpected error", exc_info=(type(e), e, e.__traceback__))
    return {
        "code": "internal",
        "message": f"Something unexpected went wrong ({type(e).__name__}).",
        "hint": "Try again. If it keeps happening, please report it with JobMatcher's log file.",
    }
