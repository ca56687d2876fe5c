"""Restore: the backup's data comes back, the current data is kept as a safety backup, and
failures midway are recovered automatically."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli, wait_for_check
from jobmatcher import restore as restore_mod
from jobmatcher import schema
from jobmatcher.engine import Engine
from jobmatcher.errors import InstanceLockedError, InsufficientSpaceError, RestoreFailedError
from jobmatcher.manifest import BackupType


def _name(engine) -> str:
    conn = engine.connect()
    try:
        return conn.execute("SELECT full_name FROM user_profile").fetchone()[0]
    finally:
        conn.close()


def _rename(engine, name: str) -> None:
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = ?", (name,))
    conn.close()


def _dump(db: Path) -> str:
    return fingerprint(db)[1]


def test_restore_by_id_brings_the_data_back_and_keeps_a_safety_backup(engine):
    b = engine.create_backup()
    _rename(engine, "Changed Later")
    result = engine.restore(b.id)
    assert _name(engine) == "Ada Lovelace"
    assert result.relaunch_required and result.safety_backup_id
    safety = engine.store.get(result.safety_backup_id)
    # the old live file itself, linked: listed as checking until its background check is done
    assert result.safety_backup_checking and safety.verified is None and safety.verify_message == "checking"
    safety = wait_for_check(engine, result.safety_backup_id)
    assert safety.type == BackupType.safety and safety.verified is True and safety.sha256
    conn = sqlite3.connect(f"{Path(safety.path).as_uri()}?mode=ro", uri=True)
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Changed Later"
    conn.close()
    # nothing half-done is left in the data folder
    leftovers = {p.name for p in engine.data.root.iterdir()} - {
        "jobmatcher.db",
        "backups",
        "settings.json",
        ".jobmatcher.lock",
        ".jobmatcher.swap.lock",
        ".jobmatcher-folder-id",
    }
    assert leftovers == set()
    assert engine.check().ok


def test_restore_equals_the_backup_exactly(engine):
    b = engine.create_backup()
    _rename(engine, "Someone Else")
    engine.restore(b.id)
    assert _dump(engine.data.db_path) == _dump(Path(b.path))


def test_stale_wal_of_a_killed_writer_never_mixes_in(engine, tmp_path):
    """A writer killed with committed pages only in the -wal: they belong to the old data, not the restored."""
    b = engine.create_backup()
    code = textwrap.dedent(f"""
        import sqlite3, os, signal
        c = sqlite3.connect({str(engine.data.db_path)!r}, isolation_level=None)
        c.execute("PRAGMA wal_autocheckpoint=0")
        for i in range(300):
            c.execute("INSERT INTO saved_jobs (title) VALUES ('stale wal row')")
        c.execute("UPDATE user_profile SET full_name = 'Only In WAL'")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code])
    wal = Path(str(engine.data.db_path) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    result = engine.restore(b.id)
    assert _dump(engine.data.db_path) == _dump(Path(b.path))
    # and the killed writer's data was saved in the safety backup, not lost
    conn = sqlite3.connect(f"{Path(engine.store.get(result.safety_backup_id).path).as_uri()}?mode=ro", uri=True)
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Only In WAL"
    conn.close()


def test_restore_from_an_older_schema_migrates_it(data_dir, tmp_path):
    old = Engine(tmp_path / "old")
    old.migrate(target="0001_initial")
    conn = old.connect()
    conn.execute("INSERT INTO user_profile (id, full_name) VALUES (1, 'From Version One')")
    conn.execute("INSERT INTO skills (name) VALUES ('COBOL')")
    conn.close()
    old_backup = old.create_backup()
    assert old_backup.schema_revision == "0001_initial"

    new = Engine(data_dir)
    new.migrate()
    result = new.restore(old_backup.path)
    assert result.migrated_from == "0001_initial" and result.schema_revision == schema.head()
    assert new.status().current == schema.head()
    conn = new.connect()
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "From Version One"
    assert conn.execute("SELECT name, years_experience FROM skills").fetchall() == [("COBOL", None)]
    conn.close()


def test_restore_into_an_empty_data_folder(engine, tmp_path):
    b = engine.create_backup()
    fresh = Engine(tmp_path / "fresh")
    result = fresh.restore(b.path)
    assert result.safety_backup_id is None
    assert _name(fresh) == "Ada Lovelace"


def test_failure_after_the_swap_is_recovered_from_the_safety_backup(engine, monkeypatch):
    b = engine.create_backup()
    _rename(engine, "Current Data")
    before = _dump(engine.data.db_path)
    calls = {"n": 0}
    real = restore_mod._confirm

    def fail_first(data):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        return real(data)

    monkeypatch.setattr(restore_mod, "_confirm", fail_first)
    with pytest.raises(RestoreFailedError) as e:
        engine.restore(b.id)
    assert e.value.recovered is True
    assert "put back from the safety backup" in e.value.message
    assert _dump(engine.data.db_path) == before
    assert not engine.data.journal_path.exists()


def test_failure_before_the_swap_leaves_the_live_data_untouched(engine, monkeypatch):
    b = engine.create_backup()
    _rename(engine, "Current Data")
    before = fingerprint(engine.data.db_path)

    def broken_stage(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(restore_mod, "_stage", broken_stage)
    with pytest.raises(RestoreFailedError) as e:
        engine.restore(b.id)
    assert e.value.recovered and "full" in e.value.message
    assert fingerprint(engine.data.db_path) == before
    assert not restore_mod.staged_path(engine.data).exists()


@pytest.mark.parametrize("linked", [True, False])
def test_a_restore_waits_for_a_reader_of_the_live_file_and_then_refuses_changing_nothing(engine, monkeypatch, linked):
    """Both swaps (the live file linked as the safety backup, or a safety copy made first) take the swap lock
    that readers of the live file hold shared (`db check`, a backup's copy); while one still holds it, the
    restore is refused in the user's words and the live data, the backup list and the data folder are as
    they were."""
    from jobmatcher.errors import JobMatcherError
    from jobmatcher.lock import FileLock

    b = engine.create_backup()
    _rename(engine, "Current Data")
    if not linked:
        monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    monkeypatch.setattr(restore_mod, "SWAP_WAIT_SECONDS", 0.2)
    reader = FileLock(engine.data.swap_lock_path, shared=True)
    assert reader.acquire()
    try:
        before = fingerprint(engine.data.db_path)
        listed = sorted(r.id for r in engine.list_backups())
        files = sorted(os.listdir(engine.data.root))
        with pytest.raises(JobMatcherError) as e:
            engine.restore(b.id)
        assert "still reading the database" in e.value.message, e.value.message
        assert fingerprint(engine.data.db_path) == before
        kept = sorted(r.id for r in engine.list_backups())
        assert kept == listed, (listed, kept)  # W7: no safety copy is left by a refusal that changed nothing
        assert sorted(os.listdir(engine.data.root)) == files
    finally:
        reader.release()
    engine.restore(b.id)  # the reader gone, it restores


def _engine_on_tmpfs(tmpfs, tmp_path, size_kb) -> Engine:
    e = Engine(tmpfs(size_kb))
    e.migrate()
    conn = e.connect()
    conn.execute("INSERT INTO user_profile (id, full_name) VALUES (1, 'On Tmpfs')")
    conn.close()
    os.makedirs(tmp_path / "backups-elsewhere")
    e.update_settings({"backup_dir": str(tmp_path / "backups-elsewhere")})
    return e


def _bigger_copy(src: str, dest: Path) -> Path:
    import shutil

    shutil.copy(src, dest)
    c = sqlite3.connect(dest)
    c.executemany(
        "INSERT INTO saved_jobs (title, description) VALUES ('x', ?)", [(os.urandom(400).hex(),) for _ in range(600)]
    )
    c.commit()
    c.close()
    return dest


def test_restore_refused_before_writing_when_the_data_disk_is_too_small(tmpfs, tmp_path):
    e = _engine_on_tmpfs(tmpfs, tmp_path, 1200)
    big = _bigger_copy(e.create_backup().path, tmp_path / "big.db")
    before = fingerprint(e.data.db_path)
    with pytest.raises(InsufficientSpaceError, match="needed"):
        e.restore(str(big))
    assert fingerprint(e.data.db_path) == before
    assert not restore_mod.staged_path(e.data).exists()


def test_disk_filling_up_while_staging_leaves_the_live_data_untouched(tmpfs, tmp_path, monkeypatch):
    """The 2x check passes; then another program fills the disk before the copy is written."""
    e = _engine_on_tmpfs(tmpfs, tmp_path, 4000)
    big = _bigger_copy(e.create_backup().path, tmp_path / "big.db")
    real = restore_mod.require_free_space

    def check_then_fill(folder, needed, what, **why):
        real(folder, needed, what, **why)
        with open(Path(folder) / "hog", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass

    monkeypatch.setattr(restore_mod, "require_free_space", check_then_fill)
    before = fingerprint(e.data.db_path)
    with pytest.raises(RestoreFailedError) as err:
        e.restore(str(big))
    assert "full" in err.value.message and err.value.recovered
    assert "not changed" in err.value.message
    assert fingerprint(e.data.db_path) == before
    assert not restore_mod.staged_path(e.data).exists()


LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    from jobmatcher.engine import Engine
    e = Engine(sys.argv[1])
    e.take_instance_lock()
    print("locked", flush=True)
    time.sleep(120)
""")


def test_restore_is_refused_while_the_app_runs_and_works_after_it_is_killed(engine):
    b = engine.create_backup()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(engine.data.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = fingerprint(engine.data.db_path)
        with pytest.raises(InstanceLockedError) as e:
            engine.restore(b.id)
        assert f"process {holder.pid}" in e.value.message
        r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
        assert r.returncode == 1 and "already running" in r.stderr
        # read-only commands and backup create still work while the app runs
        assert run_cli("backup", "list", data_dir=engine.data.root).returncode == 0
        assert run_cli("db", "status", data_dir=engine.data.root).returncode == 0
        assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0
        assert fingerprint(engine.data.db_path)[1] == before[1]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # a killed app leaves no stale lock
    engine.restore(b.id)


RESTORER = textwrap.dedent("""
    import sys
    from jobmatcher.engine import Engine
    Engine(sys.argv[1]).restore(sys.argv[2])
    print("done", flush=True)
""")


def _big_engine(tmp_path, name) -> Engine:
    e = Engine(tmp_path / name)
    e.migrate()
    conn = e.connect()
    conn.execute("INSERT INTO user_profile (id, full_name) VALUES (1, ?)", (name,))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO saved_jobs (title, description) VALUES (?, ?)",
        [(f"{name} {i}", os.urandom(1500).hex()) for i in range(3000)],
    )
    conn.execute("COMMIT")
    conn.close()
    return e


def test_sigkill_at_random_moments_during_restore_never_loses_data(tmp_path):
    """Kill a real restore process at seeded random instants; every time the next launch finds
    the old data or the restored data, whole and sound."""
    import random

    source = _big_engine(tmp_path, "Restored Person")
    backup = source.create_backup()
    target = _big_engine(tmp_path, "Current Person")
    old_dump, new_dump = _dump(target.data.db_path), _dump(Path(backup.path))

    # How long does a whole restore take here, process start included?
    probe = _big_engine(tmp_path, "Probe")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", RESTORER, str(probe.data.root), backup.path], check=True)
    whole = time.perf_counter() - t0

    rng = random.Random(20261125)
    outcomes = {"before": 0, "after": 0}
    for _ in range(12):
        p = subprocess.Popen(
            [sys.executable, "-c", RESTORER, str(target.data.root), backup.path], stdout=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3 * whole, 1.05 * whole))
        p.send_signal(signal.SIGKILL)
        p.wait()
        # the next launch finishes or undoes whatever was half done
        _launch_after_kill(target.data.root)
        check = Engine(target.data.root).check()
        assert check.ok, check.problems
        dump = _dump(target.data.db_path)
        assert dump in (old_dump, new_dump), "the live database mixes states"
        outcomes["after" if dump == new_dump else "before"] += 1
        listed = {r.id for r in target.list_backups()}
        assert all(not i.startswith(".") for i in listed)
        if dump == new_dump:  # put the old data back for the next round
            _restore_old(target, old_dump)
    print("OUTCOMES", outcomes, "whole", whole)
    assert sum(outcomes.values()) == 12


def _launch_after_kill(root: Path) -> None:
    """Engine.migrate() as the next launch, once the killed restore's lock is free.

    A restore killed while it was starting its background check (fork done, exec not yet) leaves
    that child holding a copy of the instance lock until its exec closes it: on a loaded machine
    that can take a moment. Anything else holding the lock for long is a failure.
    """
    deadline = time.monotonic() + 10
    while True:
        try:
            Engine(root).migrate()
            return
        except InstanceLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _restore_old(target: Engine, old_dump: str) -> None:
    for r in target.list_backups():
        if r.type == BackupType.safety and _dump(Path(r.path)) == old_dump:
            target.restore(r.id)
            assert _dump(target.data.db_path) == old_dump
            return
    raise AssertionError("no safety backup holds the old data")


def test_restore_over_data_from_a_newer_version_keeps_that_data_as_a_safety_backup(engine):
    """After going back to an older JobMatcher, a user can still restore; the newer data is saved first."""
    b = engine.create_backup()
    conn = engine.connect()
    conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    conn.close()
    result = engine.restore(b.id)
    assert engine.status().current == schema.head()
    safety = engine.store.get(result.safety_backup_id)
    assert safety.schema_revision == "0099_future"


def test_a_database_copied_with_unsaved_wal_changes_is_refused(engine, tmp_path):
    """Restoring only the main file of a database still in use would silently drop its newest changes."""
    code = textwrap.dedent(f"""
        import sqlite3, os, signal
        c = sqlite3.connect({str(engine.data.db_path)!r}, isolation_level=None)
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("UPDATE user_profile SET full_name = 'Only In WAL'")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code])
    import shutil

    other = tmp_path / "copied-live"
    other.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(str(engine.data.db_path) + suffix, str(other / "jobmatcher.db") + suffix)
    from jobmatcher.errors import InvalidBackupError

    with pytest.raises(InvalidBackupError) as e:
        engine.restore(str(other / "jobmatcher.db"))
    assert e.value.reason == "unsaved-wal" and "jobmatcher.db-wal" in e.value.message


def test_a_damaged_live_database_can_be_restored_over(engine):
    """Restore exists for this case: the safety copy of damaged data is kept (marked failed), not a blocker."""
    b = engine.create_backup()
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 3 : page * 4] = os.urandom(page)  # smash page 4
    db.write_bytes(bytes(data))
    assert not engine.check().ok
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "damaged" in r.stdout or "check runs in the background" in r.stdout
    assert engine.check().ok
    assert _dump(engine.data.db_path) == _dump(Path(b.path))
    safety = [x for x in engine.list_backups() if x.type == BackupType.safety]
    assert len(safety) == 1
    safety = [wait_for_check(engine, safety[0].id)]
    assert safety[0].verified is False and safety[0].verify_message
