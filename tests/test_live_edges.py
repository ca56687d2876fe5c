"""Issue 8, kinds 2 and 4: the live database and the files beside it are what they are, and no failure
leaves the user without a way back. Real files, real SQLite, real second processes."""

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher import restore as restore_mod
from jobmatcher.engine import Engine
from jobmatcher.errors import (
    DatabaseDamagedError,
    DatabaseInUseError,
    InvalidBackupError,
    NewerSchemaError,
    RestoreFailedError,
    SafetyBackupMissingError,
)
from jobmatcher.manifest import BackupType, read_manifest


def _sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _name(db: Path) -> str:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT full_name FROM user_profile").fetchone()[0]
    finally:
        conn.close()


def _rename(engine, name: str) -> None:
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = ?", (name,))
    conn.close()


def _holder(db: Path, how: str) -> subprocess.Popen:
    """A real second process keeping the live database open: idle after a read, or inside a read transaction."""
    code = textwrap.dedent(f"""
        import sqlite3, sys, time
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        if {how!r} == "read-transaction":
            c.execute("BEGIN")
        c.execute("SELECT full_name FROM user_profile").fetchone()
        print("ready", flush=True)
        sys.stdin.readline()
        if c.in_transaction:
            c.execute("COMMIT")
        c.execute("INSERT INTO skills (name, level) VALUES ('Written by the other program', 1)")
        print("inserted", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


# -- kind 2: another process has the live database open ------------------------------------------------


@pytest.mark.parametrize("linked", [True, False], ids=["hard-linked-safety", "copied-safety"])
@pytest.mark.parametrize("how", ["idle", "read-transaction"])
def test_restore_is_refused_while_another_process_has_the_database_open(engine, monkeypatch, how, linked):
    if not linked:
        monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    b = engine.create_backup()
    _rename(engine, "Current Data")
    db = engine.data.db_path
    before = fingerprint(db)[1]
    other = _holder(db, how)
    try:
        with pytest.raises(DatabaseInUseError) as e:
            engine.restore(b.id)
        assert "Another program has JobMatcher's database open" in e.value.message
        assert "not changed" in e.value.hint
        # the other program still writes into the live file, which is still the live file
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "inserted"
    finally:
        other.kill()
        other.wait()
    assert _name(db) == "Current Data"
    assert fingerprint(db)[1] != before  # the other program's row landed in the real file
    assert not engine.data.journal_path.exists() and not restore_mod.staged_path(engine.data).exists()
    # with the other program gone, the restore goes ahead
    engine.restore(b.id)
    assert _name(db) == "Ada Lovelace"


def test_the_command_line_names_the_other_program_as_the_reason(engine):
    b = engine.create_backup()
    other = _holder(engine.data.db_path, "idle")
    try:
        r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    finally:
        other.kill()
        other.wait()
    assert r.returncode == 1
    assert "Another program has JobMatcher's database open" in r.stderr and "Traceback" not in r.stderr


def test_restoring_the_live_database_itself_is_refused(engine, tmp_path):
    db = engine.data.db_path
    before = fingerprint(db)
    link = tmp_path / "hard-link-to-live.db"
    os.link(db, link)
    for target in (db, link):
        with pytest.raises(InvalidBackupError) as e:
            engine.restore(str(target))
        assert e.value.reason == "is-live-database"
        for command in (("backup", "restore", str(target), "--yes"), ("backup", "verify", str(target))):
            r = run_cli(*command, data_dir=engine.data.root)
            assert r.returncode == 1 and "live database itself" in r.stderr, command
    assert fingerprint(db) == before
    assert [x for x in engine.list_backups() if x.type == BackupType.safety] == []


# -- kind 4: putting the safety copy back ------------------------------------------------------------------


def _fail_first_confirm(monkeypatch):
    real = restore_mod._confirm
    calls = {"n": 0}

    def fail_first(data, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        return real(data, **kw)

    monkeypatch.setattr(restore_mod, "_confirm", fail_first)


def test_failure_after_the_swap_puts_newer_version_data_back_byte_for_byte(engine, monkeypatch):
    b = engine.create_backup()
    conn = engine.connect()
    conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    conn.close()
    _fail_first_confirm(monkeypatch)
    with pytest.raises(RestoreFailedError) as e:
        engine.restore(b.id)
    assert e.value.recovered is True, e.value.message
    safety = next(x for x in engine.list_backups() if x.type == BackupType.safety)
    assert _sha(engine.data.db_path) == _sha(Path(safety.path))
    recorded = read_manifest(Path(safety.path)).sha256  # None while a linked safety copy is "checking"
    assert recorded in (None, _sha(engine.data.db_path))
    assert not engine.data.journal_path.exists()
    # later launches say what is true (a newer version's data), never "Can't locate revision"
    for _ in range(2):
        with pytest.raises(NewerSchemaError):
            Engine(engine.data.root).launch(auto_backup=False)


@pytest.mark.parametrize("linked", [True, False], ids=["hard-linked", "copied"])
def test_failure_after_the_swap_puts_damaged_data_back_byte_for_byte(engine, monkeypatch, linked):
    if not linked:  # the safety copy is a checked copy where no hard link can be made (another disk)
        monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    b = engine.create_backup()
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 3 : page * 4] = os.urandom(page)
    db.write_bytes(bytes(data))
    _fail_first_confirm(monkeypatch)
    with pytest.raises(RestoreFailedError) as e:
        engine.restore(b.id)
    assert e.value.recovered is True, e.value.message
    safety = next(x for x in engine.list_backups() if x.type == BackupType.safety)
    assert safety.verified is not True  # False once checked; None while a linked copy is "checking"
    assert _sha(db) == _sha(Path(safety.path))
    assert safety.sha256 in (None, _sha(db))
    assert not engine.data.journal_path.exists()
    # the user's way back still works: restore the good backup
    engine.restore(b.id)
    assert engine.check().ok


@pytest.mark.parametrize("linked", [True, False], ids=["hard-linked", "copied"])
def test_the_hint_after_a_double_failure_never_suggests_a_copy_that_would_be_refused(engine, monkeypatch, linked):
    if not linked:
        monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    b = engine.create_backup()
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 3 : page * 4] = os.urandom(page)
    db.write_bytes(bytes(data))
    monkeypatch.setattr(restore_mod, "_confirm", lambda data, **kw: (_ for _ in ()).throw(OSError(5, "I/O error")))
    real_stage = restore_mod._stage

    def stage(data, source, sha, say, seal=True, **kw):
        if not seal:
            raise OSError(5, "Input/output error")
        return real_stage(data, source, sha, say, seal, **kw)

    monkeypatch.setattr(restore_mod, "_stage", stage)
    with pytest.raises(RestoreFailedError) as e:
        engine.restore(b.id)
    assert e.value.recovered is False
    assert "backup restore" not in e.value.hint and "did not pass its check" in e.value.hint


# -- kind 4: an interrupted restore whose safety backup is gone --------------------------------------------


def _interrupted_restore_needing(engine, safety) -> None:
    """What a restore killed after the swap (before its check) leaves: the journal, no staged file, and
    live data that does not pass its check."""
    restore_mod._write_journal(engine.data, "staged", "a backup", safety.id, safety.path)
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 2 : page * 3] = os.urandom(page)
    db.write_bytes(bytes(data))


def test_backup_delete_refuses_the_safety_backup_a_pending_recovery_needs(engine):
    safety = engine.store.create(engine.data.db_path, BackupType.safety, note="Before restoring x")
    _interrupted_restore_needing(engine, safety)
    r = run_cli("backup", "delete", safety.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 1 and "still needed" in r.stderr and "Traceback" not in r.stderr
    assert Path(safety.path).exists()
    assert safety.id not in [x.id for x in engine.prune(now=None)]
    assert Path(safety.path).exists()


def test_prune_keeps_an_old_safety_backup_a_pending_recovery_needs(engine):
    """Retention reads the restore journal once per plan (not once per backup) and still keeps, for that
    reason, the safety backup an interrupted restore needs, however old; without the journal it would go."""
    from datetime import datetime, timedelta, timezone

    from jobmatcher.manifest import write_manifest
    from jobmatcher.retention import NEEDED_FOR_RECOVERY

    safety = engine.store.create(engine.data.db_path, BackupType.safety, note="Before restoring x")
    yesterday = engine.create_backup(note="yesterday")
    engine.create_backup(note="newer")
    # past the one day kept, every day in use (FINDINGS10 W2: days without backups age nothing)
    for made, days in ((safety, 2), (yesterday, 1)):
        m = read_manifest(Path(made.path))
        m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
        write_manifest(Path(made.path), m)
    engine.update_settings({"retention_days": 1, "retention_policy": "simple"}, confirmed=True)
    assert safety.id in [r.id for r in engine.prune_plan()[1]]  # old enough to go
    _interrupted_restore_needing(engine, safety)
    plan, doomed = engine.prune_plan()
    assert safety.id not in [r.id for r in doomed]
    assert {d.id: d.rule for d in plan.decisions}[safety.id] == NEEDED_FOR_RECOVERY
    assert safety.id not in [r.id for r in engine.prune()] and Path(safety.path).exists()


def test_a_missing_safety_backup_is_named_with_what_to_do(engine):
    good = engine.create_backup()
    safety = engine.store.create(engine.data.db_path, BackupType.safety, note="Before restoring x")
    _interrupted_restore_needing(engine, safety)
    os.unlink(safety.path)  # the drive was unplugged, or it was deleted
    os.unlink(Path(safety.path).with_suffix(".json"))
    with pytest.raises(SafetyBackupMissingError) as e:
        Engine(engine.data.root).launch(auto_backup=False)
    assert safety.id in e.value.message and "does not exist" in e.value.message
    assert "connect it" in e.value.hint and "backup restore" in e.value.hint
    r = run_cli("db", "migrate", data_dir=engine.data.root)
    assert r.returncode == 1 and "FileNotFoundError" not in r.stderr and safety.id in r.stderr
    # the way out the message gives works
    r = run_cli("backup", "restore", good.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    Engine(engine.data.root).launch(auto_backup=False)
    assert engine.check().ok


# -- kind 4: restore over live data that cannot be opened --------------------------------------------------


def test_restore_over_a_damaged_first_page_keeps_a_raw_copy(engine):
    b = engine.create_backup()
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    data[0:100] = os.urandom(100)
    db.write_bytes(bytes(data))
    damaged = _sha(db)
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert engine.check().ok and _name(db) == "Ada Lovelace"
    safety = [x for x in engine.list_backups() if x.type == BackupType.safety]
    assert len(safety) == 1 and safety[0].verified is False and "first page" in safety[0].verify_message
    assert _sha(Path(safety[0].path)) == damaged


def test_restore_over_a_folder_at_the_live_path_moves_it_aside(engine):
    b = engine.create_backup()
    db = engine.data.db_path
    os.unlink(db)
    db.mkdir()
    (db / "user-notes.txt").write_text("mine")
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert db.is_file() and _name(db) == "Ada Lovelace"
    aside = [p for p in engine.data.root.iterdir() if p.name.startswith("set-aside-")]
    assert len(aside) == 1 and (aside[0] / "jobmatcher.db" / "user-notes.txt").read_text() == "mine"


def test_an_empty_live_database_with_commits_in_its_wal(engine):
    """0 bytes plus a -wal: the message names the real cause, and restoring keeps the -wal aside."""
    b = engine.create_backup()
    db = engine.data.db_path
    code = textwrap.dedent(f"""
        import sqlite3, os, signal
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("UPDATE user_profile SET full_name = 'Only In WAL'")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code])
    wal = Path(str(db) + "-wal")
    wal_bytes = wal.read_bytes()
    assert wal_bytes
    os.truncate(db, 0)
    with pytest.raises(DatabaseDamagedError) as e:
        Engine(engine.data.root).launch(auto_backup=False)
    assert "is empty (0 bytes)" in e.value.message and "jobmatcher.db-wal" in e.value.message
    assert ".tmp-" not in e.value.message
    assert wal.read_bytes() == wal_bytes
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert _name(db) == "Ada Lovelace"
    aside = [p for p in engine.data.root.iterdir() if p.name.startswith("set-aside-")]
    assert len(aside) == 1 and (aside[0] / "jobmatcher.db-wal").read_bytes() == wal_bytes


# -- kind 2: a hot rollback journal beside a file ----------------------------------------------------------


def _half_done_write(db: Path, switch_to_rollback: bool = False) -> None:
    """A real program killed in the middle of a write in rollback-journal mode: its changes spilled into the
    file, the -journal beside it holds the pages to undo them ("hot")."""
    code = textwrap.dedent(f"""
        import os, signal, sqlite3
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        if {switch_to_rollback!r}:
            c.execute("PRAGMA journal_mode=DELETE")
        c.execute("PRAGMA cache_size=10")  # a small cache spills the uncommitted pages into the file
        c.execute("BEGIN")
        c.execute("UPDATE user_profile SET full_name = 'HALF-DONE'")
        c.executemany("INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
                      [("Never committed", "X", "x" * 2000) for _ in range(400)])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code])
    assert Path(str(db) + "-journal").stat().st_size > 0


def _what_sqlite_reads(db: Path, tmp: Path) -> str:
    """Open a private copy (file and journal) the ordinary way: SQLite rolls the journal back."""
    tmp.mkdir()
    for suffix in ("", "-journal"):
        shutil.copy(str(db) + suffix, str(tmp / "copy.db") + suffix)
    conn = sqlite3.connect(tmp / "copy.db")
    try:
        return conn.execute("SELECT full_name FROM user_profile").fetchone()[0]
    finally:
        conn.close()


def test_a_backup_copied_with_a_hot_journal_is_refused_by_verify_and_restore(engine, tmp_path):
    b = engine.create_backup()
    src = tmp_path / "copied" / "mid-write.db"
    src.parent.mkdir()
    shutil.copy(b.path, src)
    _half_done_write(src)
    assert _what_sqlite_reads(src, tmp_path / "private") == "Ada Lovelace"
    immutable = sqlite3.connect(f"{src.as_uri()}?mode=ro&immutable=1", uri=True)
    assert immutable.execute("SELECT full_name FROM user_profile").fetchone()[0] == "HALF-DONE"  # the trap
    immutable.close()
    _rename(engine, "Current Data")
    before = fingerprint(engine.data.db_path)
    for command in (("backup", "verify", str(src)), ("backup", "restore", str(src), "--yes")):
        r = run_cli(*command, data_dir=engine.data.root)
        assert r.returncode == 1, r.stdout
        assert "unfinished write" in r.stderr and "mid-write.db-journal" in r.stderr
    with pytest.raises(InvalidBackupError) as e:
        engine.restore(str(src))
    assert e.value.reason == "hot-journal"
    assert fingerprint(engine.data.db_path) == before
    assert _name(engine.data.db_path) == "Current Data"


def test_a_hot_journal_beside_the_live_database_is_rolled_back_at_launch(engine):
    db = engine.data.db_path
    engine.release_instance_lock()
    _half_done_write(db, switch_to_rollback=True)
    # read-only commands do not touch it, and say what it is
    r = run_cli("db", "check", data_dir=engine.data.root)
    assert r.returncode == 1 and "unfinished write" in r.stderr + r.stdout
    assert Path(str(db) + "-journal").stat().st_size > 0
    fresh = Engine(engine.data.root)
    fresh.launch(auto_backup=False)
    fresh.release_instance_lock()
    assert _name(db) == "Ada Lovelace"
    conn = fresh.connect()
    assert conn.execute("SELECT count(*) FROM saved_jobs WHERE title = 'Never committed'").fetchone()[0] == 0
    conn.close()
    assert fresh.check().ok


# -- kind 2: read-only commands change nothing -------------------------------------------------------------


def _tree(root: Path) -> dict:
    """Every name under `root` with its bytes and mtime: what 'nothing changed' means."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mtime_ns, p.read_bytes() if p.is_file() else None)
    return out


READ_ONLY = [
    ("db", "status"),
    ("db", "check"),
    ("backup", "list"),
    ("backup", "verify", "{path}"),
    ("status",),
    ("settings",),
    ("backup", "prune", "--dry-run"),
]


@pytest.mark.parametrize("state", ["closed", "empty", "empty-with-wal"])
def test_read_only_commands_change_nothing(engine, tmp_path, state):
    b = engine.create_backup()
    outside = tmp_path / "outside.db"
    shutil.copy(b.path, outside)
    db = engine.data.db_path
    engine.release_instance_lock()
    if state == "empty-with-wal":
        code = textwrap.dedent(f"""
            import sqlite3, os, signal
            c = sqlite3.connect({str(db)!r}, isolation_level=None)
            c.execute("PRAGMA wal_autocheckpoint=0")
            c.execute("UPDATE user_profile SET full_name = 'Only In WAL'")
            os.kill(os.getpid(), signal.SIGKILL)
        """)
        subprocess.run([sys.executable, "-c", code])
        os.unlink(str(db) + "-shm")
    if state.startswith("empty"):
        os.truncate(db, 0)
    before = _tree(tmp_path)
    for command in READ_ONLY:
        r = run_cli(*[c.format(path=outside) for c in command], data_dir=engine.data.root)
        assert "Traceback" not in r.stderr
        if state != "closed" and command[0] in ("db", "status"):  # status: no backup can be made of lost data
            assert r.returncode == 1 and "empty (0 bytes)" in r.stderr + r.stdout, (command, r.stdout, r.stderr)
            assert "OK" not in r.stdout
        else:
            assert r.returncode == 0, (command, r.stderr)
        assert _tree(tmp_path) == before, command


def test_a_mistyped_data_folder_is_not_created_by_looking(tmp_path):
    typo = tmp_path / "typo" / "deep" / "folder"
    for command in (
        ("backup", "list"),
        ("db", "status"),
        ("db", "check"),
        ("status",),
        ("settings",),
        ("backup", "prune", "--dry-run"),
        ("location", "list"),
    ):
        r = run_cli(*command, data_dir=typo)
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "typo").exists(), command


@pytest.mark.parametrize("damage", ["empty", "first-page"])
def test_backup_create_names_the_live_file_not_a_temp_file(engine, damage):
    db = engine.data.db_path
    if damage == "empty":
        os.truncate(db, 0)
    else:
        data = bytearray(db.read_bytes())
        data[0:100] = os.urandom(100)
        db.write_bytes(bytes(data))
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert ".tmp-" not in r.stderr and "jobmatcher.db" in r.stderr
    assert ("empty (0 bytes)" if damage == "empty" else "first page") in r.stderr


def test_a_safety_copy_of_damaged_data_does_not_name_a_temp_file(engine, monkeypatch):
    monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)  # the copied (not linked) safety
    b = engine.create_backup()
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 3 : page * 4] = os.urandom(page)
    db.write_bytes(bytes(data))
    engine.restore(b.id)
    safety = next(x for x in engine.list_backups() if x.type == BackupType.safety)
    assert safety.verified is False and ".tmp-" not in safety.verify_message


@pytest.mark.parametrize("before", ["no-database", "a-folder"])
def test_a_failure_after_the_swap_with_nothing_to_put_back_leaves_the_folder_as_it_was(
    engine, tmp_path, monkeypatch, before
):
    b = engine.create_backup()
    target = Engine(tmp_path / "other")
    db = target.data.db_path
    if before == "a-folder":
        db.mkdir()
        (db / "user-notes.txt").write_text("mine")
    names = sorted(p.name for p in target.data.root.iterdir())
    monkeypatch.setattr(restore_mod, "_confirm", lambda data, **kw: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(RestoreFailedError) as e:
        target.restore(b.path)
    assert e.value.recovered and "not changed" in e.value.message
    ours = {"backups", ".jobmatcher.lock", ".jobmatcher.swap.lock"}  # its own locks and backup folder
    assert sorted(p.name for p in target.data.root.iterdir() if p.name not in ours) == [
        n for n in names if n not in ours
    ]
    if before == "a-folder":
        assert (db / "user-notes.txt").read_text() == "mine"
    else:
        assert not os.path.lexists(db)


def test_a_restore_killed_after_setting_the_damaged_file_aside_puts_it_back(engine):
    """Killed between moving the unreadable live file aside and the rename: the next launch must not
    start with a new, empty database as if there had never been data."""
    b = engine.create_backup()
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    data[0:100] = os.urandom(100)
    db.write_bytes(bytes(data))
    damaged = bytes(data)
    engine.release_instance_lock()
    code = textwrap.dedent(f"""
        import os, signal
        from jobmatcher.engine import Engine
        real = os.replace
        def replace(a, b):
            if str(a).endswith(".restoring") and str(b).endswith("jobmatcher.db"):
                os.kill(os.getpid(), signal.SIGKILL)  # the instant before the swap
            return real(a, b)
        os.replace = replace
        Engine({str(engine.data.root)!r}).restore({b.id!r})
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not db.exists()  # it was set aside
    with pytest.raises(DatabaseDamagedError):
        Engine(engine.data.root).launch(auto_backup=False)
    assert db.read_bytes() == damaged
    assert not [p for p in engine.data.root.iterdir() if p.name.startswith("set-aside-")]
    # and the way out still works
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert _name(db) == "Ada Lovelace"


def test_a_missing_live_database_whose_wal_holds_changes_is_not_replaced_by_an_empty_one(engine):
    b = engine.create_backup()
    db = engine.data.db_path
    engine.release_instance_lock()
    code = textwrap.dedent(f"""
        import sqlite3, os, signal
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("UPDATE user_profile SET full_name = 'Only In WAL'")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", code])
    wal = Path(str(db) + "-wal")
    wal_bytes = wal.read_bytes()
    os.unlink(db)  # deleted by hand, or by a sync tool
    for command in (("db", "status"), ("db", "migrate"), ("db", "check"), ("backup", "create")):
        r = run_cli(*command, data_dir=engine.data.root)
        assert r.returncode == 1 and "is missing, but jobmatcher.db-wal" in r.stderr + r.stdout, (command, r.stderr)
    assert not db.exists() and wal.read_bytes() == wal_bytes
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert _name(db) == "Ada Lovelace"
    aside = [p for p in engine.data.root.iterdir() if p.name.startswith("set-aside-")]
    assert len(aside) == 1 and (aside[0] / "jobmatcher.db-wal").read_bytes() == wal_bytes
