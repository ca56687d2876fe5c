"""What a backup holds, against the current data: shown before a restore and by `backup show`.

Reading never changes the backup (or the live database): both are read with
`database.read_live`, which opens a file read-only and, when no side files
exist, as immutable, so not even a `-wal` or `-shm` is created.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from . import schema
from .database import read_live

# The tables a person knows, in their words (table -> label), in the order shown.
TABLES = (("skills", "Skills"), ("saved_jobs", "Saved jobs"), ("user_preferences", "Preferences"))


class DataSummary(BaseModel):
    full_name: str
    headline: str
    counts: dict[str, int]  # table -> rows; a table the data does not have yet is missing
    schema_revision: str | None


class TableRow(BaseModel):
    table: str
    label: str
    then: int | None  # in the backup (None: that schema has no such table)
    now: int | None  # in the current data


class BackupPreview(BaseModel):
    id: str | None  # the backup's id, or None for a file
    label: str  # the user's words: "the backup from 30 Nov 2026, 11:56" or the file name
    created_at: datetime | None
    type: str | None
    note: str
    size_bytes: int
    verified: bool | None
    newer_version: bool = False  # made of a newer JobMatcher's data: kept, restorable with that version (G7)
    # a restore's safety backup whose file was changed after that restore (Y7): what it holds is shown, but it
    # may not be the data from before that restore
    changed_after_restore: bool = False
    backup: DataSummary
    current: DataSummary | None  # None when the current data cannot be read
    tables: list[TableRow]


def _summarize(conn: sqlite3.Connection) -> DataSummary:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    full_name = headline = ""
    if "user_profile" in names:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(user_profile)")}
        if {"full_name", "headline"} <= cols:
            row = conn.execute("SELECT full_name, headline FROM user_profile ORDER BY id LIMIT 1").fetchone()
            if row:
                full_name, headline = row[0] or "", row[1] or ""
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t, _ in TABLES if t in names}
    return DataSummary(full_name=full_name, headline=headline, counts=counts, schema_revision=schema.revision_of(conn))


def summarize(path: Path) -> DataSummary:
    """Profile name and headline, rows per table and schema revision of a database file (read-only).

    Raises DatabaseDamagedError / sqlite3.DatabaseError for a file that cannot be read.
    """
    return read_live(Path(path), _summarize)


def compare(backup: DataSummary, current: DataSummary | None) -> list[TableRow]:
    return [
        TableRow(table=t, label=label, then=backup.counts.get(t), now=current.counts.get(t) if current else None)
        for t, label in TABLES
    ]


def backup_label(created_at: datetime, noun: str = "backup") -> str:
    """A backup as a person names it: "the backup from 30 Nov 2026, 11:56" (local time; `noun` "copy" for a
    location's copy). Never raises."""
    local = created_at.astimezone()
    return f"the {noun} from {local.day} {local:%b %Y, %H:%M}"
