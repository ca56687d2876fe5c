"""V7 (FINDINGS9): a restore's safety backup whose detached check is killed after the restore finished is
checked again by the next launch, never by two checks at once (checklock.py). Real processes throughout:
the restore, its detached `backup verify` (paused in its check, then killed with SIGKILL), the launch."""

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from conftest import run_cli, wait_for_check
from jobmatcher import checkproc
from jobmatcher.engine import Engine
from jobmatcher.fsutil import process_gone
from jobmatcher.manifest import read_manifest
from jobmatcher.verify import sha256_file


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _rename(engine, name: str) -> None:
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = ?", (name,))
    conn.close()


class _Restored:
    """A restore run by the command line whose safety backup's detached check is paused in its check."""

    def __init__(self, engine, tmp_path: Path) -> None:
        b = engine.create_backup()
        _rename(engine, "Changed Later")
        self.pause = tmp_path / "pause"
        self.pause.mkdir()
        r = run_cli(
            "backup", "restore", b.id, "--yes", "--json", data_dir=engine.data.root,
            env={checkproc.PAUSE_ENV: str(self.pause)},
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["safety_backup_checking"] is True
        self.safety = out["safety_backup_id"]
        _wait_for(self.pause / "ready")
        self.child = int((self.pause / "ready").read_text())
        self.verify = psutil.Process(self.child).parent()
        assert self.verify is not None and "verify" in self.verify.cmdline() and self.safety in self.verify.cmdline()

    def kill_the_check(self) -> None:
        """SIGKILL the detached `backup verify` (as the out-of-memory killer would), its check child left paused."""
        os.kill(self.verify.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not process_gone(self.verify.pid):
            assert time.monotonic() < deadline
            time.sleep(0.01)

    def release(self) -> None:
        (self.pause / "go").write_text("1")
        deadline = time.monotonic() + 30
        while not process_gone(self.child) and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def restored(engine, tmp_path):
    r = _Restored(engine, tmp_path)
    yield r
    r.release()
    if not process_gone(r.verify.pid):
        wait_for_check(engine, r.safety)


def _checking(engine, backup_id: str) -> bool:
    m = read_manifest(Path(engine.store.get(backup_id).path))
    return m is not None and m.verified is None and m.verify_message == "checking" and m.sha256 is None


def _checked(engine, backup_id: str) -> None:
    rec = engine.store.get(backup_id)
    assert rec.verified is True and rec.verify_message == "ok", rec.verify_message
    assert rec.sha256 == sha256_file(Path(rec.path)) and read_manifest(Path(rec.path)).blake3


def test_db_migrate_checks_a_safety_backup_whose_check_was_killed(engine, restored):
    restored.kill_the_check()
    assert _checking(engine, restored.safety)
    r = run_cli("db", "migrate", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    _checked(engine, restored.safety)
    assert not list(engine.store.folder.glob(".jobmatcher-check-*"))  # the lock's file is removed by its holder


def test_the_apps_launch_checks_a_safety_backup_whose_check_was_killed(engine, restored):
    restored.kill_the_check()
    assert _checking(engine, restored.safety)
    e = Engine(engine.data.root)
    try:
        e.launch(auto_backup=False)
    finally:
        e.release_instance_lock()
    _checked(engine, restored.safety)


def test_a_launch_leaves_a_check_that_still_runs_to_it(engine, restored):
    """Never two checks writing one manifest: the running check holds the lock; the launch does not wait."""
    r = run_cli("db", "migrate", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert _checking(engine, restored.safety) and not process_gone(restored.verify.pid)
    restored.release()
    rec = wait_for_check(engine, restored.safety)
    assert rec.verified is True
    _checked(engine, restored.safety)


def test_status_says_the_check_stopped_and_starts_nothing(engine, restored):
    """`status` only looks (README: it creates, deletes and changes nothing): a check whose process is gone is
    said, with how it runs again, not started again in the background as it was (lows13)."""
    restored.kill_the_check()
    manifest = Path(engine.store.get(restored.safety).path).with_suffix(".json")
    before = manifest.read_bytes()
    names = sorted(p.name for p in engine.store.folder.iterdir())
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr
    assert "(Safety), its check stopped before it finished: it runs when JobMatcher opens next" in r.stdout, r.stdout
    assert f"`jobmatcher --data-dir {engine.data.root} backup verify {restored.safety}`" in r.stdout
    time.sleep(1)  # a check started in the background would have taken the lock and begun by now
    assert manifest.read_bytes() == before and _checking(engine, restored.safety)
    assert sorted(p.name for p in engine.store.folder.iterdir()) == names
    assert not [p for p in psutil.process_iter(["cmdline"]) if restored.safety in " ".join(p.info["cmdline"] or [])
                and p.pid != restored.child]  # fmt: skip
    r = run_cli("backup", "verify", restored.safety, data_dir=engine.data.root)  # the way it names
    assert r.returncode == 0, r.stderr
    _checked(engine, restored.safety)


def test_the_pages_status_starts_the_check_again_in_the_background(engine, restored):
    """The app (an engine that is not read-only) still repairs: its status starts the killed check again."""
    restored.kill_the_check()
    Engine(engine.data.root).health()
    rec = wait_for_check(engine, restored.safety, timeout=30)
    assert rec.verified is True
    _checked(engine, restored.safety)


def _location(engine, tmp_path: Path) -> Path:
    usb = tmp_path / "usb"
    usb.mkdir()
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    return usb


def test_a_safety_backup_still_checking_is_pending_at_the_locations_and_copied_once_checked(engine, restored, tmp_path):
    _location(engine, tmp_path)
    r = run_cli("location", "sync", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert restored.safety not in json.loads(r.stdout)[0]["copied"]  # its check still runs: not copied yet ...
    rows = json.loads(run_cli("location", "list", "--json", data_dir=engine.data.root).stdout)
    assert rows[0]["pending"] == 1, rows  # ... and said to be waiting
    restored.kill_the_check()
    r = run_cli("location", "sync", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert restored.safety in json.loads(r.stdout)[0]["copied"]  # checked by the sync, then copied
    _checked(engine, restored.safety)
    rows = json.loads(run_cli("location", "list", "--json", data_dir=engine.data.root).stdout)
    assert rows[0]["pending"] == 0, rows


def test_retention_never_counts_a_backup_still_checking_as_the_newest_that_passed(engine, monkeypatch):
    """The newest backup that passed its check is always kept: a safety backup still "checking" (its check
    never ran) must not stand in for it, or the one that really passed would go at the clean-up."""
    from jobmatcher import restore as restore_mod
    from jobmatcher.manifest import BackupType
    from jobmatcher.retention import NEWEST_GOOD

    monkeypatch.setenv(restore_mod.NO_BACKGROUND_ENV, "1")  # the safety backup's check never runs
    engine.update_settings(
        {"keep_all_hours": 0, "keep_daily_days": 0, "keep_weekly_weeks": 0, "keep_monthly_months": 0},
        confirmed=True,
    )
    auto = engine.create_backup(kind=BackupType.auto)
    safety = engine.restore(auto.id).safety_backup_id
    assert engine.store.get(safety).verify_message == "checking"
    plan, gone = engine.prune_plan()
    rules = {d.id: d.rule for d in plan.decisions}
    assert rules[auto.id] == NEWEST_GOOD and auto.id not in {r.id for r in gone}
    assert rules[safety] != NEWEST_GOOD


def test_a_safety_backup_goes_to_the_locations_once_its_background_check_passed(engine, tmp_path):
    """Without the app open and without another backup, the detached check's pass starts the copy."""
    usb = _location(engine, tmp_path)
    b = engine.create_backup()
    assert run_cli("location", "sync", data_dir=engine.data.root).returncode == 0
    r = run_cli("backup", "restore", b.id, "--yes", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    safety = json.loads(r.stdout)["safety_backup_id"]
    assert wait_for_check(engine, safety, timeout=30).verified is True
    deadline = time.monotonic() + 30
    while not list(usb.rglob(f"{safety}.db*")):
        assert time.monotonic() < deadline, "the safety backup was never copied"
        time.sleep(0.1)


def test_backup_verify_waits_for_the_check_that_runs_never_two_at_once(engine, restored, monkeypatch):
    import subprocess
    import sys

    from jobmatcher import checklock
    from jobmatcher.errors import JobMatcherError

    cmd = [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "backup", "verify", restored.safety]
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        assert second.poll() is None and _checking(engine, restored.safety)  # waiting, nothing written
        # in the app (or with the wait over) it says so, in words
        monkeypatch.setattr(checklock, "WAIT_SECONDS", 0.2)
        with pytest.raises(JobMatcherError) as e:
            engine.verify(restored.safety)
        assert e.value.code == "check-running" and "being checked by another JobMatcher process" in e.value.message
        restored.release()
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
    finally:
        if second.poll() is None:
            second.kill()
    _checked(engine, restored.safety)


def test_cleanup_removes_a_killed_checks_lock_file_only_when_free_and_its_backup_gone(engine):
    from jobmatcher import checklock

    folder = engine.store.folder
    b = engine.create_backup()
    gone, running = "backup_2026-01-01_00-00-00", "backup_2026-01-01_00-00-01"
    for i in (gone, running, b.id):
        checklock.lock_path(folder, i).write_bytes(b"")  # as a killed check leaves it
    held = checklock.take(folder, running)  # a check still running (its backup deleted meanwhile)
    try:
        removed = engine.store.cleanup()
        assert checklock.lock_path(folder, gone).name in removed
        assert not checklock.lock_path(folder, gone).exists()
        assert checklock.lock_path(folder, running).exists()  # held: never removed under its holder
        assert checklock.lock_path(folder, b.id).exists()  # its backup is there: the next check takes it
    finally:
        held.release()
    assert not checklock.lock_path(folder, running).exists()  # its holder removes it as it lets go


def test_a_handed_lock_is_adopted_only_for_its_own_backup(tmp_path, monkeypatch):
    """The detached check is handed its backup's lock by descriptor; asking for another backup's lock first
    must not use it up (that check would then wait for its own lock)."""
    from jobmatcher import checklock

    handed = checklock.take(tmp_path, "backup_2026-01-01_00-00-00")
    fd = os.dup(handed.fd)  # as the child inherits it: the same open file, so the same lock
    monkeypatch.setenv(checklock.LOCK_FD_ENV, str(fd))
    other = checklock.take(tmp_path, "backup_2026-01-01_00-00-01")
    assert other is not None and os.environ[checklock.LOCK_FD_ENV] == str(fd)
    other.release()
    handed.handed_over()  # the parent lets go of its descriptor, not of the lock
    mine = checklock.take(tmp_path, "backup_2026-01-01_00-00-00")
    assert mine is not None and mine.fd == fd and checklock.LOCK_FD_ENV not in os.environ
    assert checklock.take(tmp_path, "backup_2026-01-01_00-00-00") is None  # held: by this check, once
    mine.release()
    assert not checklock.lock_path(tmp_path, "backup_2026-01-01_00-00-00").exists()


def test_a_restores_detached_check_is_not_left_a_zombie_of_the_process_that_restored(engine):
    """X10: the safety backup's background check is not our child (the app, restarting in place by execve, forgot
    the children it had, and each restore's ended check stayed a zombie for as long as the app ran)."""
    b = engine.create_backup()
    safety = engine.restore(b.id).safety_backup_id
    assert wait_for_check(engine, safety, timeout=30).verified is True
    ours = [p for p in psutil.Process().children() if "verify" in " ".join(_cmdline(p))]
    assert ours == [], [(p.pid, p.status()) for p in ours]


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:  # a zombie's command line cannot be read: name it by its status
        return ["verify"] if p.status() == psutil.STATUS_ZOMBIE else []


def test_a_safety_backup_touched_after_its_check_was_killed_is_marked_changed_not_refused_for_ever(engine, restored):
    """Y7: the check killed (SIGKILL), then the file touched (its time only: a touch cannot be told from a write of
    the same length). The launch that takes the check over marks it changed after its restore for good, checks it
    as it is and records its checksums; the list, status and the page say so; it is restorable in place by id."""
    restored.kill_the_check()
    path = Path(engine.store.get(restored.safety).path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    r = run_cli("backup", "list", data_dir=engine.data.root)  # only looks: said at once, nothing written
    assert r.returncode == 0 and "changed after the restore that made it" in r.stderr, r.stderr
    assert _checking(engine, restored.safety)
    r = run_cli("db", "migrate", data_dir=engine.data.root)  # the launch takes the killed check over
    assert r.returncode == 0, r.stderr
    rec = engine.store.get(restored.safety)
    assert (rec.verified, rec.verify_message) == (None, "changed-after-restore"), rec.verify_message
    m = read_manifest(path)
    assert m.changed_after_restore is not None and m.file_stamp is None and m.sha256 == sha256_file(path)
    r = run_cli("status", data_dir=engine.data.root)
    assert "changed after the restore that made it" in r.stdout, r.stdout
    health = Engine(engine.data.root).health()
    assert health.last is not None and health.last.verify_message == "changed-after-restore"
    r = run_cli("backup", "verify", restored.safety, data_dir=engine.data.root)  # works again, says the same
    assert r.returncode == 1 and "cannot be proven to be your data from before that restore" in " ".join(
        r.stderr.split()
    ), r.stderr
    r = run_cli("backup", "restore", restored.safety, "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "may not be your data from before that restore" in " ".join(r.stdout.split()), r.stdout
    conn = engine.connect()
    try:  # the data the safety backup held (the name before the restore), as its file is
        assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Changed Later"
    finally:
        conn.close()
