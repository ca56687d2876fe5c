"""The restore's shortcuts each keep the guarantee they replace:

- a listed backup is proven by its checksum, computed while it is staged (not read twice): one changed
  after its check is still refused, and nothing is touched;
- the safety backup is the old live file itself, hard-linked into the backup folder once no connection
  has it open: byte-identical to the old data, untouched by everything after the swap, listed as
  "checking" until its checksum and integrity check (in the background) are recorded;
- a restore that stops between the link and the swap leaves no second name of the live file behind;
- where no hard link can be made (another file system), the safety backup is a checked copy, as before.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import fingerprint, wait_for_check
from jobmatcher import restore as restore_mod
from jobmatcher.engine import Engine
from jobmatcher.errors import DatabaseInUseError, InvalidBackupError, RestoreFailedError
from jobmatcher.manifest import BackupType, read_manifest, seal_holds


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _dump(db: Path) -> str:
    conn = sqlite3.connect(f"{Path(db).absolute().as_uri()}?mode=ro", uri=True)
    try:
        return "\n".join(line for line in conn.iterdump() if "alembic_version" not in line or "INSERT" in line)
    finally:
        conn.close()


def _rename(engine: Engine, name: str) -> None:
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = ?", (name,))
    conn.close()


def test_a_backup_changed_after_its_check_is_refused_and_nothing_is_touched(engine):
    b = engine.create_backup()
    assert engine.store.get(b.id).verified is True
    _rename(engine, "Current")
    # change one letter inside a saved job's description: integrity_check cannot see it, the checksum can
    data = bytearray(Path(b.path).read_bytes())
    at = data.find(b"Build things.")
    data[at] = ord("b")
    Path(b.path).write_bytes(bytes(data))
    before = fingerprint(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    with pytest.raises(InvalidBackupError) as e:
        engine.restore(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert fingerprint(engine.data.db_path) == before
    assert sorted(r.id for r in engine.list_backups()) == listed  # no safety backup either
    assert not restore_mod.staged_path(engine.data).exists() and not engine.data.journal_path.exists()


def test_the_linked_safety_backup_is_the_old_data_and_survives_the_swap(engine):
    b = engine.create_backup()
    _rename(engine, "Before The Restore")
    old_dump = _dump(engine.data.db_path)
    old_inode = os.stat(engine.data.db_path).st_ino
    result = engine.restore(b.id)
    assert result.safety_backup_checking
    safety = engine.store.get(result.safety_backup_id)
    assert safety.type == BackupType.safety and safety.verify_message in ("checking", "ok")
    # it is the old live file itself (not a copy), and the live name is a new file
    assert os.stat(safety.path).st_ino == old_inode != os.stat(engine.data.db_path).st_ino
    assert os.stat(safety.path).st_nlink == 1  # its only name now
    right_after = _sha(Path(safety.path))
    assert _dump(Path(safety.path)) == old_dump
    # everything after the swap writes the new file, never the old inode
    for i in range(20):
        _rename(engine, f"After {i}")
    engine.create_backup()
    assert _sha(Path(safety.path)) == right_after
    # the background check records what it found; the checksum is that of the old bytes
    safety = wait_for_check(engine, result.safety_backup_id)
    assert safety.verified is True and safety.sha256 == right_after
    assert seal_holds(read_manifest(Path(safety.path)))  # both checksums from the check's one read: sealed
    # and it restores the old data
    engine.restore(safety.id)
    assert _dump(engine.data.db_path) == old_dump


def test_an_open_connection_refuses_the_swap_and_leaves_no_link(engine):
    """A connection still open on the old file could write through the old inode (the safety backup)."""
    b = engine.create_backup()
    _rename(engine, "Open Elsewhere")
    before = fingerprint(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    holder = sqlite3.connect(engine.data.db_path)
    holder.execute("SELECT count(*) FROM user_profile").fetchone()  # an idle reader keeps its shared lock
    try:
        with pytest.raises(DatabaseInUseError):
            engine.restore(b.id)
    finally:
        holder.close()
    assert fingerprint(engine.data.db_path) == before
    assert sorted(r.id for r in engine.list_backups()) == listed
    assert os.stat(engine.data.db_path).st_nlink == 1


def test_a_failure_between_the_link_and_the_rename_removes_the_link(engine, monkeypatch):
    b = engine.create_backup()
    _rename(engine, "Stays")
    before_dump = _dump(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    real = os.replace

    def failing(src, dst):
        if Path(dst) == engine.data.db_path:
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(restore_mod.os, "replace", failing)
    with pytest.raises(RestoreFailedError) as e:
        engine.restore(b.id)
    monkeypatch.undo()
    assert "not changed" in e.value.message
    assert _dump(engine.data.db_path) == before_dump
    assert os.stat(engine.data.db_path).st_nlink == 1
    assert sorted(r.id for r in engine.list_backups()) == listed


def test_killed_between_the_link_and_the_rename_the_next_launch_removes_the_link(engine, tmp_path):
    """A real SIGKILL right after the link: the next launch finds the journal and undoes it."""
    b = engine.create_backup()
    _rename(engine, "Survives The Kill")
    before_dump = _dump(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    code = textwrap.dedent(f"""
        import os, signal
        from jobmatcher import restore
        from jobmatcher.engine import Engine
        real = os.replace
        def kill_before_swap(src, dst):
            if str(dst).endswith("jobmatcher.db"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst)
        restore.os.replace = kill_before_swap
        Engine({str(engine.data.root)!r}).restore({b.id!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert os.stat(engine.data.db_path).st_nlink == 2  # the link was made, the swap was not
    report = Engine(engine.data.root).launch(auto_backup=False)
    assert report.recovered and "undone" in report.recovered
    assert os.stat(engine.data.db_path).st_nlink == 1
    assert _dump(engine.data.db_path) == before_dump
    assert sorted(r.id for r in engine.list_backups()) == listed


def test_killed_after_the_swap_the_next_launch_checks_the_linked_safety_backup(engine, monkeypatch):
    b = engine.create_backup()
    _rename(engine, "Old Data")
    old_dump = _dump(engine.data.db_path)
    code = textwrap.dedent(f"""
        import os, signal
        from jobmatcher import restore
        from jobmatcher.engine import Engine
        def kill_after_swap(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        restore._confirm = kill_after_swap
        Engine({str(engine.data.root)!r}).restore({b.id!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    safety = [r for r in engine.list_backups() if r.type == BackupType.safety]
    assert len(safety) == 1 and safety[0].verified is None  # killed before its check started
    report = Engine(engine.data.root).launch(auto_backup=False)
    assert report.recovered and "complete" in report.recovered
    safety = engine.store.get(safety[0].id)
    assert safety.verified is True and safety.sha256 == _sha(Path(safety.path))
    assert seal_holds(read_manifest(Path(safety.path)))
    assert _dump(Path(safety.path)) == old_dump


def test_without_a_hard_link_the_safety_backup_is_a_checked_copy(engine, monkeypatch):
    """Another file system for the backup folder (simulated: links refused): the copy path, checked first."""
    monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    b = engine.create_backup()
    _rename(engine, "Copied")
    old_dump = _dump(engine.data.db_path)
    result = engine.restore(b.id)
    assert not result.safety_backup_checking and "safety" in result.phases
    safety = engine.store.get(result.safety_backup_id)
    assert safety.verified is True and os.stat(safety.path).st_ino != os.stat(engine.data.db_path).st_ino
    assert _dump(Path(safety.path)) == old_dump


def test_restore_reports_its_phases(engine):
    b = engine.create_backup()
    result = engine.restore(b.id)
    assert {"check", "stage", "swap", "confirm"} <= set(result.phases)
    assert sum(result.phases.values()) <= result.seconds + 0.01


def test_a_pin_made_while_the_safety_backup_is_checked_is_kept(engine, monkeypatch):
    """The background check writes its result into the manifest; a pin set meanwhile survives it."""
    monkeypatch.setenv(restore_mod.NO_BACKGROUND_ENV, "1")  # this test runs the check itself
    b = engine.create_backup()
    result = engine.restore(b.id)
    assert engine.store.get(result.safety_backup_id).verified is None
    from jobmatcher import verify  # backups.py imports verify_file where it checks

    real = verify.verify_file

    def pinned_meanwhile(*a, **k):
        report = real(*a, **k)
        engine.set_pinned(result.safety_backup_id, True)  # the user pins it while the check runs
        return report

    monkeypatch.setattr(verify, "verify_file", pinned_meanwhile)
    rec = engine.store.verify(result.safety_backup_id)
    assert rec.verified is True and rec.pinned is True


def test_the_command_line_reports_the_total_and_each_phase(engine):
    import json

    from conftest import run_cli

    b = engine.create_backup()
    created = json.loads(run_cli("backup", "create", "--json", data_dir=engine.data.root).stdout)
    assert created["copy_seconds"] >= 0 and created["verify_seconds"] >= 0
    r = run_cli("backup", "restore", b.id, "--yes", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["seconds"] > 0 and {"check", "stage", "swap", "confirm"} <= set(out["phases"])
    assert out["safety_backup_checking"] is True


WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], timeout=30)  # a script, a database browser, a sync tool
    print("open", flush=True)
    ok, errors = 0, []
    for i in range(int(sys.argv[2])):
        try:
            conn.execute("INSERT INTO skills (name, level) VALUES (?, 1)", (f"late-{i}",))
            conn.commit()
            ok += 1
        except sqlite3.Error as e:
            errors.append(str(e))
            conn.rollback()
        time.sleep(0.01)
    print(ok, len(errors), errors[:1], flush=True)
""")


def _late_writer(db: Path, commits: int = 20) -> subprocess.Popen:
    """A program that opens the live database by its name and starts writing (V16): returns once it has
    the file open and waits for SQLite's lock."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(commits)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


@pytest.mark.parametrize("linked", [True, False])
def test_a_program_opening_the_database_during_the_swap_undoes_it_and_keeps_its_writes(engine, monkeypatch, linked):
    """V16: a program opens the live name after the exclusivity check (the restore holds the old file): its
    commits must land in the live data, never in the safety backup or a file nobody reads."""
    if not linked:
        monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    b = engine.create_backup()
    _rename(engine, "Before The Restore")
    before = _dump(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    real_replace, writer = os.replace, []

    def replace_once_opened(src, dst):  # the moment the tester hit: held exclusively, not yet renamed
        if Path(dst) == engine.data.db_path and not writer:
            writer.append(_late_writer(engine.data.db_path))
            import time

            time.sleep(0.2)  # in its busy wait for the restore's lock
        return real_replace(src, dst)

    monkeypatch.setattr(restore_mod.os, "replace", replace_once_opened)
    with pytest.raises(DatabaseInUseError) as e:
        engine.restore(b.id)
    monkeypatch.undo()
    assert "opened" in e.value.message and "not changed" in e.value.hint
    out, _ = writer[0].communicate(timeout=60)
    ok, failed = out.split()[:2]
    assert (ok, failed) == ("20", "0"), out
    # every commit it was told succeeded is in the live data, which is otherwise as it was
    conn = sqlite3.connect(engine.data.db_path)
    assert conn.execute("SELECT count(*) FROM skills WHERE name LIKE 'late-%'").fetchone() == (20,)
    conn.execute("DELETE FROM skills WHERE name LIKE 'late-%'")
    conn.commit()
    conn.close()
    assert _dump(engine.data.db_path) == before
    assert os.stat(engine.data.db_path).st_nlink == 1
    # W7: no safety backup is left by a restore that was refused and changed nothing (on the copy path neither)
    assert sorted(r.id for r in engine.list_backups()) == sorted(listed)
    assert not engine.data.journal_path.exists() and not restore_mod.staged_path(engine.data).exists()


def _newest_safety(engine: Engine) -> str:
    return max((r for r in engine.list_backups() if r.type == BackupType.safety), key=lambda r: r.created_at).id


def test_commits_made_between_the_safety_copy_and_the_swap_are_never_lost(engine, monkeypatch):
    """V16's copy-path variant: the safety backup is a copy made before staging; a program that commits after
    it and closes before the swap's check must not lose its commits (in neither the live data nor the copy)."""
    monkeypatch.setattr(restore_mod, "_can_link", lambda data, store: False)
    b = engine.create_backup()
    _rename(engine, "Before The Restore")
    real_stage = restore_mod._stage
    listed = sorted(r.id for r in engine.list_backups())

    def stage_while_a_program_writes(data, *a, **k):
        writer = _late_writer(data.db_path, commits=5)
        out, _ = writer.communicate(timeout=60)
        assert out.split()[:2] == ["5", "0"], out  # committed and closed: the swap's check sees nobody
        return real_stage(data, *a, **k)

    monkeypatch.setattr(restore_mod, "_stage", stage_while_a_program_writes)
    with pytest.raises(DatabaseInUseError) as e:
        engine.restore(b.id)
    monkeypatch.undo()
    assert "changed" in e.value.message and "not changed" in e.value.hint
    conn = sqlite3.connect(engine.data.db_path)
    assert conn.execute("SELECT count(*) FROM skills WHERE name LIKE 'late-%'").fetchone() == (5,)
    assert conn.execute("SELECT full_name FROM user_profile").fetchone() == ("Before The Restore",)
    conn.close()
    assert not engine.data.journal_path.exists() and not restore_mod.staged_path(engine.data).exists()
    assert not restore_mod.replaced_path(engine.data).exists()
    # W7: the safety copy made for it is gone (the live data is it, and newer); retried, none piles up
    assert sorted(r.id for r in engine.list_backups()) == listed


def test_a_live_file_with_a_second_name_elsewhere_gets_a_copied_safety_backup(engine, tmp_path):
    """V5's variant: the live file hard-linked elsewhere (`cp -al`, `ln`): that name can write the old file after
    the swap, so the safety backup is a copy, which later writes through that name never change."""
    b = engine.create_backup()
    _rename(engine, "Linked Elsewhere")
    old_dump = _dump(engine.data.db_path)
    other = tmp_path / "elsewhere.db"
    os.link(engine.data.db_path, other)
    result = engine.restore(b.id)
    assert not result.safety_backup_checking and "safety" in result.phases
    safety = engine.store.get(result.safety_backup_id)
    assert safety.verified is True and os.stat(safety.path).st_ino != os.stat(other).st_ino
    conn = sqlite3.connect(other)
    conn.execute("UPDATE user_profile SET full_name = 'Written Through The Other Name'")
    conn.commit()
    conn.close()
    assert _dump(Path(safety.path)) == old_dump and _sha(Path(safety.path)) == safety.sha256


def test_a_quiet_swap_skips_the_full_scan_for_other_openers(engine, monkeypatch):
    """The full /proc scan (tens of ms while the lock is held) runs only when the watch cannot rule out
    another opener: with nobody else about, the swap never calls it (issue 13's restore speed)."""
    b = engine.create_backup()
    calls = []
    real = restore_mod.openers_for_writing
    monkeypatch.setattr(restore_mod, "openers_for_writing", lambda st: calls.append(st) or real(st))
    result = engine.restore(b.id)
    assert result.safety_backup_checking and calls == []


def test_a_program_that_opened_the_database_before_the_restore_and_never_read_is_found(engine, monkeypatch):
    """Opened long before (holding no lock SQLite can see), its first statement comes during the swap: the
    watch saw no open, but the early scan saw its descriptor, so the swap is checked and undone."""
    b = engine.create_backup()
    _rename(engine, "Before The Restore")
    before = _dump(engine.data.db_path)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time\n"
            + WRITER.replace('print("open", flush=True)', 'print("open", flush=True); sys.stdin.readline()'),
            str(engine.data.db_path),
            "20",
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "open"
    real_replace = os.replace

    def replace_after_its_first_statement(src, dst):
        if Path(dst) == engine.data.db_path and writer.stdin is not None:
            writer.stdin.write("go\n")
            writer.stdin.close()
            writer.stdin = None
            import time

            time.sleep(0.2)  # its first statement waits for the restore's lock
        return real_replace(src, dst)

    monkeypatch.setattr(restore_mod.os, "replace", replace_after_its_first_statement)
    with pytest.raises(DatabaseInUseError):
        engine.restore(b.id)
    monkeypatch.undo()
    out, _ = writer.communicate(timeout=60)
    assert out.split()[:2] == ["20", "0"], out
    conn = sqlite3.connect(engine.data.db_path)
    assert conn.execute("SELECT count(*) FROM skills WHERE name LIKE 'late-%'").fetchone() == (20,)
    conn.execute("DELETE FROM skills WHERE name LIKE 'late-%'")
    conn.commit()
    conn.close()
    assert _dump(engine.data.db_path) == before


@pytest.mark.parametrize("when", ["before-putting-back", "after-putting-back", "copy-path"])
def test_killed_while_undoing_a_swap_the_next_launch_finishes_the_undo(engine, when):
    """SIGKILL in the middle of the undo (V16): the journal names it, and the next launch puts the old file back
    (or finds it back) and removes the safety backup's name, so the data is as before the restore."""
    b = engine.create_backup()
    _rename(engine, "Kept Through The Undo")
    before = _dump(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from jobmatcher import restore
        from jobmatcher.engine import Engine
        restore.openers_for_writing = lambda st: [1]  # as if a program had opened it meanwhile
        restore.OpenWatch.clear = lambda self: False
        if {when!r} == "copy-path":
            restore._can_link = lambda data, store: False
        live = Path({str(engine.data.db_path)!r})
        real, real_unlink = os.replace, restore._unlink_safety
        def replace(src, dst):
            if {when!r} == "copy-path" and Path(dst) == live and str(src).endswith(".replaced"):
                os.kill(os.getpid(), signal.SIGKILL)
            if {when!r} == "before-putting-back" and Path(dst) == live and "backups" in str(src):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst)
        def unlink(final):
            if {when!r} == "after-putting-back":
                os.kill(os.getpid(), signal.SIGKILL)
            return real_unlink(final)
        restore.os.replace = replace
        restore._unlink_safety = unlink
        Engine({str(engine.data.root)!r}).restore({b.id!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    report = Engine(engine.data.root).launch(auto_backup=False)
    assert report.recovered and "undone" in report.recovered
    assert _dump(engine.data.db_path) == before
    assert os.stat(engine.data.db_path).st_nlink == 1
    safety = [] if when != "copy-path" else [_newest_safety(engine)]  # a checked copy: a backup as any
    assert sorted(r.id for r in engine.list_backups()) == sorted(listed + safety)
    assert not engine.data.journal_path.exists() and not restore_mod.replaced_path(engine.data).exists()


def test_the_open_watch_is_closed_without_waiting_and_finds_libc_without_a_subprocess(tmp_path, monkeypatch):
    """The inotify watch is closed on a thread of its own (the kernel's close waits 7-15 ms for a grace period,
    which the restore's result waited for), and libc is found without `ldconfig -p` in a subprocess: the watch
    still works (an open seen), and its descriptor is closed soon after close() returns."""
    import time

    from jobmatcher import openwatch

    def no_subprocess(*a, **k):
        raise AssertionError("a subprocess was started to find libc")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    live = tmp_path / "live.db"
    live.write_bytes(b"x" * 4096)
    w = openwatch.OpenWatch(live)
    assert w.fd >= 0, "the inotify watch could not be set up"
    fd = w.fd
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
    open(live, "rb").close()  # noqa: SIM115 - an open the watch must see
    assert w.clear() is False
    w.close()
    assert w.fd == -1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                break  # the number was closed and taken by another file meanwhile
        except FileNotFoundError:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the inotify descriptor was never closed")
    w.close()  # a second close does nothing
