"""One progress contract for every long operation: each report says what its numbers count.

An operation calls `progress(phase, done, total, unit)` as it goes: `done` of `total`
`unit`s of the phase named `phase` ("copy", "verify", "safety", ...), never more than
`total` (an estimate that turns out low grows). The producer knows what it counts, so
it says so in every call; nobody keeps a table on the side.

- `unit` is one of UNITS: "bytes" (a file copied, uploaded or downloaded), "pages"
  (SQLite pages copied into a snapshot), "backups" (backups moved or copied to a
  location, one by one), "files", or "steps" for a phase that measures nothing.
- `total` is None while a phase cannot honestly say how far it is (the integrity check
  running in its child process, a decryption, a schema update): such a phase reports
  `(phase, 0, None, "steps")` when it starts and `(phase, 1, 1, "steps")` when it ends,
  and is shown as a spinner with the elapsed time, never as a bar stuck at 0%.

The command line's bars (cli.py) and the page's tasks (tasks.py, shown by frontend/)
read the unit from the report itself. `Count` is the plain `(done, total)` callback the
copy primitives (snapshot.py, fsutil.copy_range's callers, the location clients) use
inside one phase, whose unit their caller names when it forwards the count.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Literal, Protocol, get_args

Unit = Literal["bytes", "pages", "backups", "files", "steps"]
UNITS: tuple[str, ...] = get_args(Unit)

Count = Callable[[int, int], None]
"""`count(done, total)` inside one phase, in the unit the phase's producer names."""


class Progress(Protocol):
    """`progress(phase, done, total, unit)`: `done` of `total` `unit`s (one of UNITS) of `phase`;
    `total` None while the phase has no measurable progress (see the module's docstring)."""

    def __call__(self, phase: str, done: int, total: int | None, unit: Unit) -> None: ...


def ignore(phase: str, done: int, total: int | None, unit: Unit) -> None:
    """A Progress that reports nowhere, for callers that passed none."""


@contextmanager
def step(progress: Progress | None, phase: str) -> Iterator[None]:
    """Report `phase` as a step with no measurable progress: started (total None), then ended (1 of 1).

    The end is reported only when the body succeeded; an exception propagates unchanged.
    """
    if progress is not None:
        progress(phase, 0, None, "steps")
    yield
    if progress is not None:
        progress(phase, 1, 1, "steps")
