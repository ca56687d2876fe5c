"""The database schema: Alembic revisions shipped in the package, run without alembic.ini.

Migrations run in one SQLite transaction (BEGIN IMMEDIATE ... COMMIT), so a
process killed mid-upgrade leaves the database at the old revision: SQLite
rolls the unfinished transaction back on the next open.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a database is opened: `backup list` asks only is_known
    import sqlite3

# Alembic and SQLAlchemy are imported only to upgrade a database (and by the tests that keep REVISIONS
# true): they cost about 0.3 s of start-up, which no other command should pay.

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


def _config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@lru_cache(maxsize=1)
def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


# Every revision this app ships, oldest first, with the tables a database at it has. Kept by hand so
# that start-up never imports Alembic (about 0.27 s) to answer "which revisions exist?";
# tests/test_schema.py derives both from the migration scripts and fails, saying what to write here,
# as soon as a migration is added or changed without this list.
REVISIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("0001_initial", frozenset({"alembic_version", "skills", "user_preferences", "user_profile"})),
    ("0002_saved_jobs", frozenset({"alembic_version", "saved_jobs", "skills", "user_preferences", "user_profile"})),
)
_TABLES = dict(REVISIONS)


def revisions() -> tuple[str, ...]:
    """Every revision this app knows, oldest first (no Alembic import)."""
    return tuple(r for r, _ in REVISIONS)


def derived_revisions() -> tuple[str, ...]:
    """The revisions as Alembic reads them from the migration scripts, oldest first (imports Alembic)."""
    return tuple(reversed([r.revision for r in _script().walk_revisions()]))


def head() -> str:
    """The newest revision this app knows."""
    return revisions()[-1]


def is_known(revision: str | None) -> bool:
    """True for None (an empty database) and for every revision this app ships."""
    return revision is None or revision in _TABLES


def pending(current: str | None, target: str | None = None) -> list[str]:
    """The revisions an upgrade from `current` to `target` (default: head) applies, in order (read-only)."""
    revs = list(revisions())
    start = 0 if current is None else revs.index(current) + 1
    end = len(revs) if target is None else revs.index(target) + 1
    return revs[start:end]


def revision_of(conn: sqlite3.Connection) -> str | None:
    """The revision stamped in an open database; None when it has none (read-only)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (VERSION_TABLE,)).fetchone()
    if not row:
        return None
    row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return row[0] if row else None


def _engine(creator, poolclass=None):
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    engine = create_engine("sqlite://", creator=creator, poolclass=poolclass or NullPool)

    # pysqlite's own transaction handling would run DDL outside any transaction;
    # take it over so that the whole upgrade is one atomic transaction.
    @event.listens_for(engine, "connect")
    def _no_autobegin(dbapi_conn, _record):
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(db_path: Path, target: str | None = None) -> None:
    """Upgrade the database file to `target` (default: head) in one transaction."""

    def creator():
        import sqlite3

        conn = sqlite3.connect(db_path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    from alembic import command

    engine = _engine(creator)
    try:
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target or "head")
    finally:
        engine.dispose()


def tables_at(revision: str) -> frozenset[str]:
    """The tables a database at `revision` has (from REVISIONS; KeyError for an unknown revision)."""
    return _TABLES[revision]


@lru_cache(maxsize=None)
def derived_tables_at(revision: str) -> frozenset[str]:
    """The tables a database at `revision` has, derived by running the migrations on an empty database."""
    if revision not in derived_revisions():
        raise KeyError(revision)
    import sqlite3

    from alembic import command
    from sqlalchemy.pool import StaticPool

    memory = sqlite3.connect(":memory:", check_same_thread=False)
    engine = _engine(lambda: memory, poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        names = memory.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return frozenset(n for (n,) in names)
    finally:
        engine.dispose()
        memory.close()
