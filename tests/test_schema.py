"""Real Alembic migrations on real files."""

import sqlite3

import pytest
from jobmatcher import schema


def test_at_least_two_revisions_in_order():
    revs = schema.revisions()
    assert len(revs) >= 2
    assert revs[0] == "0001_initial" and schema.head() == revs[-1]
    assert schema.pending(None) == list(revs)
    assert schema.pending(revs[0]) == list(revs[1:])
    assert schema.pending(schema.head()) == []


def test_required_tables_are_derived_from_the_migrations():
    first = schema.tables_at("0001_initial")
    assert {"user_profile", "user_preferences", "skills", "alembic_version"} <= first
    later = schema.tables_at(schema.head())
    assert first < later  # the later revision adds a table


def test_hand_kept_revisions_match_the_migration_scripts():
    """schema.REVISIONS (read at start-up without Alembic) says what the migration scripts say."""
    derived = tuple((r, schema.derived_tables_at(r)) for r in schema.derived_revisions())
    expected = "REVISIONS = (\n" + "".join(f"    ({r!r}, frozenset({sorted(t)!r})),\n" for r, t in derived) + ")"
    assert schema.REVISIONS == derived, (
        f"backend/jobmatcher/schema.py's REVISIONS is out of step with the migration scripts; it should read:\n"
        f"{expected}"
    )


def test_answering_schema_questions_does_not_import_alembic():
    """Start-up cost: every command asks for the head and the required tables; none may import Alembic."""
    import subprocess
    import sys

    code = (
        "import sys; from jobmatcher import schema, verify, backups, engine, cli; "
        "schema.head(); schema.tables_at(schema.head()); schema.pending(None); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'sqlalchemy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_upgrade_step_by_step_keeps_data(tmp_path):
    db = tmp_path / "x.db"
    schema.upgrade(db, "0001_initial")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO skills (name, level) VALUES ('Python', 5)")
    conn.commit()
    assert schema.revision_of(conn) == "0001_initial"
    conn.close()
    schema.upgrade(db)
    conn = sqlite3.connect(db)
    assert schema.revision_of(conn) == schema.head()
    assert conn.execute("SELECT name, level, years_experience FROM skills").fetchall() == [("Python", 5, None)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_failing_upgrade_is_rolled_back_whole(tmp_path, monkeypatch):
    """Migrations run in one transaction: an error midway leaves the old revision and no half-made tables."""
    db = tmp_path / "x.db"
    schema.upgrade(db, "0001_initial")
    import alembic.operations

    real = alembic.operations.Operations.create_index

    def create_index_then_fail(self, *a, **k):
        real(self, *a, **k)
        raise RuntimeError("boom")

    monkeypatch.setattr(alembic.operations.Operations, "create_index", create_index_then_fail)
    with pytest.raises(RuntimeError):
        schema.upgrade(db)
    conn = sqlite3.connect(db)
    assert schema.revision_of(conn) == "0001_initial"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "saved_jobs" not in tables
    assert "years_experience" not in {r[1] for r in conn.execute("PRAGMA table_info(skills)")}
    conn.close()
