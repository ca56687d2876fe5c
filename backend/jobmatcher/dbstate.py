"""The live database's schema state (`jobmatcher db status`), without the engine.

The engine's modules (pydantic and its models) were nearly all of `db status`'s time (T10): the command line
reads the state here, and Engine.status reports the same through db_state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from . import schema
from .database import current_revision, refuse_linked_live
from .datadir import open_data_folder
from .fsutil import WAL, file_size, side_file


class DbState(NamedTuple):
    """The live database's schema state, as `jobmatcher db status` shows it (read-only; sizes in bytes).

    `current` is None for a database without a revision or no file yet (`exists` False); `known` False for a
    revision of a newer JobMatcher (then `pending` is empty); `size_bytes` counts the file and its -wal."""

    database: str
    exists: bool
    size_bytes: int
    current: str | None
    head: str
    pending: list[str]
    known: bool


def db_state(path: Path) -> DbState:
    """The schema state of the live database at `path` (Engine.status reports it). Creates and changes nothing.
    Raises as current_revision: DatabaseDamagedError when SQLite cannot read the file, JobMatcherError naming
    another cause (a held lock, an I/O error, a refusal)."""
    if not path.exists():
        refuse_linked_live(path)  # W1: a link to nothing is not "not created yet"
    current = current_revision(path)
    known = schema.is_known(current)
    return DbState(
        database=str(path),
        exists=path.exists(),
        size_bytes=file_size(path) + file_size(side_file(path, WAL)),
        current=current,
        head=schema.head(),
        pending=schema.pending(current) if known else [],
        known=known,
    )


def read_db_state(data_dir: str | os.PathLike | None) -> DbState:
    """db_state of the data folder `data_dir` (None: the default one), opened as a read-only Engine opens it:
    nothing created, the same refusals (SettingsError for a forbidden folder, JobMatcherError for one that
    refuses access)."""
    return db_state(open_data_folder(data_dir, read_only=True).db_path)
