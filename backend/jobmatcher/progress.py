"""One progress contract for every long operation, and what its numbers count.

An operation reports `progress(phase, done, total)` as it goes: `done` of `total`
units of the phase's kind. What a phase counts depends on the operation (a backup
copies database pages; a restore stages the file byte by byte), so `UNITS` names
it once per operation and phase; a phase not listed is a step that reports only
its start (0/1) and end (1/1), and gets a spinner with the elapsed time rather
than a bar stuck at 0%. The page's tasks (tasks.py) and the command line's bars
(cli.py) both read it from here.
"""

from __future__ import annotations

from typing import Literal, Protocol

Unit = Literal["pages", "bytes", "backups"]


class Progress(Protocol):
    """`progress(phase, done, total)`: `done` of `total` in the unit UNITS gives the operation's phase."""

    def __call__(self, phase: str, done: int, total: int) -> None: ...


UNITS: dict[str, dict[str, Unit]] = {
    "backup": {"copy": "pages"},  # and "verify": a step
    "migrate": {"copy": "pages"},  # the pre-migration backup, then the steps
    "restore": {"safety": "pages", "copy": "bytes"},  # check, safety, copy (staging), migrate, swap
    "move": {"move": "backups"},  # backups moved to the new folder
    "location-sync": {"backup": "backups", "copy": "bytes"},  # each backup, its bytes uploaded
    "location-restore": {"download": "bytes", "safety": "pages", "copy": "bytes"},
}


def unit_of(operation: str, phase: str) -> Unit | None:
    """What `phase` of `operation` counts, or None for a step (see UNITS)."""
    return UNITS.get(operation, {}).get(phase)
