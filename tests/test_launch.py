"""The launch sequence: lock, recovery, pre-migration backup, upgrade, retention, automatic backup."""

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher import restore as restore_mod
from jobmatcher import schema
from jobmatcher.backups import FOLDER_MARKER
from jobmatcher.engine import Engine
from jobmatcher.errors import InstanceLockedError, MigrationBlockedError, NewerSchemaError
from jobmatcher.manifest import BackupType, read_manifest, write_manifest


@pytest.fixture
def old_engine(data_dir) -> Engine:
    """A data folder made by the previous version: schema 0001 with data in it."""
    e = Engine(data_dir)
    e.migrate(target="0001_initial")
    conn = e.connect()
    conn.execute("INSERT INTO user_profile (id, full_name) VALUES (1, 'Grace Hopper')")
    conn.execute("INSERT INTO skills (name, level) VALUES ('COBOL', 5)")
    conn.close()
    return e


def test_a_new_data_folder_gets_a_database_without_a_backup(data_dir):
    report = Engine(data_dir).launch()
    assert report.created and report.migrated_to == schema.head()
    assert report.pre_migration_backup is None and report.auto_backup is None
    assert Engine(data_dir).status().pending == []


def test_pending_migrations_get_a_verified_pre_migration_backup_first(old_engine):
    before_dump = fingerprint(old_engine.data.db_path)[1]
    report = old_engine.launch()
    assert report.migrated_from == "0001_initial" and report.migrated_to == schema.head()
    b = old_engine.store.get(report.pre_migration_backup)
    assert b.type == BackupType.pre_migration and b.verified is True
    assert b.schema_revision == "0001_initial"
    assert fingerprint(Path(b.path))[1] == before_dump  # the backup is the data as it was before
    assert old_engine.status().current == schema.head()


def test_a_failed_pre_migration_backup_blocks_the_upgrade(old_engine, tmpfs):
    small = tmpfs(16)
    old_engine.update_settings({"backup_dir": str(small)})
    before = fingerprint(old_engine.data.db_path)
    with pytest.raises(MigrationBlockedError) as e:
        old_engine.launch()
    assert "did not run" in e.value.message and "Not enough free space" in e.value.message
    assert e.value.hint
    assert fingerprint(old_engine.data.db_path) == before
    assert old_engine.status().current == "0001_initial"
    assert [n for n in os.listdir(small) if n != FOLDER_MARKER] == []


def test_backup_folder_that_cannot_be_created_blocks_the_upgrade_with_a_reason(old_engine, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    settings = old_engine.data.settings_path
    settings.write_text(json.dumps({"backup_dir": str(blocker / "backups")}))
    before = fingerprint(old_engine.data.db_path)
    r = run_cli("db", "migrate", data_dir=old_engine.data.root)
    assert r.returncode == 1
    assert "did not run" in r.stderr and "backup folder" in r.stderr
    assert "Traceback" not in r.stderr
    assert fingerprint(old_engine.data.db_path) == before


def test_a_database_from_a_newer_version_is_refused(engine):
    conn = engine.connect()
    conn.execute("UPDATE alembic_version SET version_num = '0042_future'")
    conn.close()
    before = fingerprint(engine.data.db_path)
    with pytest.raises(NewerSchemaError, match="newer version"):
        Engine(engine.data.root).launch()
    assert fingerprint(engine.data.db_path) == before
    r = run_cli("db", "migrate", data_dir=engine.data.root)
    assert r.returncode == 1 and "newer version of JobMatcher" in r.stderr


def test_a_second_instance_is_refused_and_a_killed_one_leaves_no_lock(engine):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from jobmatcher.engine import Engine; e=Engine(sys.argv[1]); e.launch(); "
            "print('up', flush=True); time.sleep(60)",
            str(engine.data.root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "up"
        with pytest.raises(InstanceLockedError, match="already running"):
            Engine(engine.data.root).launch()
    finally:
        holder.kill()
        holder.wait()
    Engine(engine.data.root).launch()  # the kernel dropped the dead process's lock


def _age(engine, backup_id, days, kind=None):
    path = Path(engine.store.get(backup_id).path)
    m = read_manifest(path)
    m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
    if kind:
        m.type = kind
    write_manifest(path, m)


def test_launch_applies_retention(engine):
    old_manual = engine.create_backup().id
    old_premig = engine.create_backup().id
    yesterday = engine.create_backup().id
    newest = engine.create_backup().id
    # one day to keep, every day in use (FINDINGS10 W2: days without backups age nothing)
    _age(engine, old_manual, 2)
    _age(engine, old_premig, 2, BackupType.pre_migration)
    _age(engine, yesterday, 1)
    engine.update_settings({"retention_days": 1, "retention_policy": "simple"}, confirmed=True)
    report = engine.launch(auto_backup=False)
    assert report.pruned == [old_manual]
    assert {r.id for r in engine.list_backups()} == {old_premig, yesterday, newest}


def _rename(engine: Engine, name: str) -> None:
    conn = engine.connect()
    try:
        conn.execute("UPDATE user_profile SET full_name = ? WHERE id = 1", (name,))
    finally:
        conn.close()


def test_automatic_backup_when_the_newest_is_old_and_the_data_changed(engine):
    b = engine.create_backup().id
    _age(engine, b, 2)
    _rename(engine, "Changed since")  # the data changed after that backup
    old = datetime.now(timezone.utc) - timedelta(days=3)
    for p in (engine.data.db_path, Path(f"{engine.data.db_path}-wal")):
        if p.exists():
            os.utime(p, (old.timestamp(), old.timestamp()))  # though the file times say it did not
    report = engine.launch()
    assert report.auto_backup and engine.store.get(report.auto_backup).type == BackupType.auto


def test_no_automatic_backup_when_nothing_changed_or_turned_off(engine):
    b = engine.create_backup().id
    _age(engine, b, 2)
    os.utime(engine.data.db_path)  # a fresh file time is no change: the data decides
    report = Engine(engine.data.root).launch()
    assert report.auto_backup is None and report.auto_backup_unchanged
    assert [r.id for r in engine.list_backups()] == [b]
    engine.release_instance_lock()
    engine.update_settings({"auto_backup_minutes": 0})
    _rename(engine, "Changed since")
    assert Engine(engine.data.root).launch().auto_backup is None


def test_a_touched_file_is_not_a_change(engine):
    """File times are no evidence: a live file touched (or copied) after the backup gets no new backup."""
    b = engine.create_backup().id
    _age(engine, b, 2)
    os.utime(engine.data.db_path)
    assert Engine(engine.data.root).launch().auto_backup is None


def test_launch_undoes_a_restore_killed_before_the_swap(engine):
    before = fingerprint(engine.data.db_path)[1]
    staged = restore_mod.staged_path(engine.data)
    staged.write_bytes(b"half a copy")
    engine.data.journal_path.write_text(json.dumps({"phase": "staged", "source": "x"}))
    report = Engine(engine.data.root).launch(auto_backup=False)
    assert "undone" in report.recovered
    assert not staged.exists() and not engine.data.journal_path.exists()
    assert fingerprint(engine.data.db_path)[1] == before


@pytest.mark.parametrize(
    "phase, outcome",
    [
        ("staging", "undone"),  # killed before its staged copy existed: nothing was swapped
        ("staged", "complete"),  # no staged file left after "staged": the swap happened
    ],
)
def test_launch_settles_a_restore_killed_with_no_staged_file(engine, phase, outcome):
    before = fingerprint(engine.data.db_path)[1]
    engine.data.journal_path.write_text(json.dumps({"phase": phase, "source": "x"}))
    report = Engine(engine.data.root).launch(auto_backup=False)
    assert outcome in report.recovered
    assert fingerprint(engine.data.db_path)[1] == before and not engine.data.journal_path.exists()


def test_migrate_to_a_revision_and_refuse_going_back(data_dir):
    e = Engine(data_dir)
    e.migrate(target="0001_initial")
    assert e.status().current == "0001_initial"
    r = run_cli("db", "migrate", "--to", "nonsense", data_dir=data_dir)
    assert r.returncode == 2 and "not a revision" in r.stderr
    e.migrate()
    r = run_cli("db", "migrate", "--to", "0001_initial", data_dir=data_dir)
    assert r.returncode == 1 and "pre-migration backup" in r.stderr


def test_sigkill_during_migration_leaves_the_old_revision(old_engine):
    """The upgrade is one transaction: killed at any point, the database is at 0001 or at head."""
    import random
    import time

    conn = old_engine.connect()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO skills (name) VALUES (?)", [(f"skill {i}",) for i in range(20000)])
    conn.execute("COMMIT")
    conn.close()
    root = old_engine.data.root
    rng = random.Random(7)
    seen = set()
    for _ in range(6):
        p = subprocess.Popen(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(root), "db", "migrate"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 1.2))
        p.kill()
        p.wait()
        conn = sqlite3.connect(root / "jobmatcher.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rev = schema.revision_of(conn)
        n = conn.execute("SELECT count(*) FROM skills").fetchone()[0]
        conn.close()
        assert rev in ("0001_initial", schema.head()) and n == 20001
        seen.add(rev)
        if rev == schema.head():
            break
    Engine(root).migrate()
    assert Engine(root).status().current == schema.head()


@pytest.mark.parametrize("due", [False, True])
def test_the_launch_reads_the_backup_list_once(engine, monkeypatch, due):
    """Prune and the automatic-backup check share one reading of the folder (1,000 backups: 35 ms each)."""
    from jobmatcher.backups import BackupStore

    engine.create_backup(note="earlier")
    if due:  # the only backup is old and the data changed since: the automatic backup is due
        rec = engine.list_backups()[0]
        m = read_manifest(Path(rec.path))
        m.created_at = datetime.now(timezone.utc) - timedelta(days=3)
        write_manifest(Path(rec.path), m)
        _rename(engine, "Changed since")
    calls = []
    real = BackupStore.list
    monkeypatch.setattr(BackupStore, "list", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    report = Engine(engine.data.root).launch()
    # One reading decides both prune and the automatic backup. Publishing a new backup does not list the
    # folder again: its sequence number is counted from the manifests under the manifest lock (next_sequence).
    assert len(calls) == 1
    assert (report.auto_backup is not None) is due
