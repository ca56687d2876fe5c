"""Opening SQLite files the way JobMatcher needs them: the live database read-write
in WAL mode, and any other file strictly read-only."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from . import schema
from .errors import DatabaseDamagedError, DatabaseMissingError, NewerSchemaError
from .fsutil import data_folder_refused

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    """Open the live database read-write (WAL, full fsync on commit, foreign keys on)."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_readonly(path: Path, immutable: bool = False) -> sqlite3.Connection:
    """Open any SQLite file without any chance of writing to it.

    `immutable` also skips locking and any -wal beside the file: for backup
    files, which nothing else writes.
    """
    uri = Path(path).absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    # A damaged file can hold text that is not UTF-8 (integrity_check quotes names from its schema):
    # decoding it must not raise, or a broken backup would end in a traceback instead of a refusal.
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only=1")
    return conn


def current_revision(path: Path) -> str | None:
    """The schema revision of the live database, None if it is new (read-only)."""
    if not path.exists():
        return None
    try:
        conn = open_readonly(path)
        try:
            return schema.revision_of(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        if not os.access(path.parent, os.W_OK):  # not damaged: a WAL database on a read-only disk cannot be opened
            raise data_folder_refused(path.parent) from None
        raise damaged(path, e) from None


def damaged(path: Path, e: Exception) -> DatabaseDamagedError:
    """The error for a live database SQLite cannot read."""
    return DatabaseDamagedError(
        f"Your database {path} cannot be read: {e}.",
        "Restore your newest verified backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.",
    )


def require_known_revision(revision: str | None, what: str = "The database") -> None:
    """Refuse a database written by a newer JobMatcher."""
    if not schema.is_known(revision):
        raise NewerSchemaError(
            f"{what} was made by a newer version of JobMatcher (schema {revision}); "
            f"this version understands up to {schema.head()}.",
            "Install the newer JobMatcher to open it. Your data has not been changed.",
        )


def require_exists(path: Path) -> None:
    if not path.exists():
        raise DatabaseMissingError(
            f"There is no JobMatcher database in {path.parent} yet.",
            "Start JobMatcher once (or run `jobmatcher db migrate`) to create it.",
        )


def check_integrity(conn: sqlite3.Connection, max_errors: int = 20) -> list[str]:
    """Run `PRAGMA integrity_check`; an empty list means the file is sound (read-only)."""
    try:
        rows = [r[0] for r in conn.execute(f"PRAGMA integrity_check({int(max_errors)})")]
    except UnicodeDecodeError as e:  # SQLite's error message quotes damaged schema text that is not UTF-8
        raise sqlite3.DatabaseError(e.object.decode("utf-8", "replace")) from None
    return [] if rows == ["ok"] else rows
