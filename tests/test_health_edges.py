"""Findings on health, manifests and retention, each on real parts: read-only tmpfs mounts, real manifests
edited as another tool would, a second process holding SQLite's write lock, the real command line.

F12: `status` green while the backup or data folder is read-only; `--move-backups` that moved nothing exit 0.
F21: after a move blocked by a name clash, `status` said "You have no backups yet".
F4: a manifest with a zone-less date was "unreadable"; `backup delete` left its manifest behind.
FINDINGS2 F1: a backup made after a future-dated one, dated before it, was pruned.
FINDINGS2 F3: `backup create` waited silently behind another writer, then reported the copy's time only.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher import retention as R
from jobmatcher import snapshot
from jobmatcher.engine import Engine


def _remount(where: Path, mode: str) -> None:
    r = subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if mode == "ro":
        with pytest.raises(OSError):
            (where / "probe").write_bytes(b"x")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- F12: read-only folders ---------------------------------------------------------------------------


def test_status_is_red_while_the_backup_folder_is_read_only(engine, tmpfs):
    usb = tmpfs(4096)
    engine.update_settings({"backup_dir": str(usb)})
    engine.create_backup()
    _remount(usb, "ro")  # a write-protected stick, a share mounted read-only
    try:
        r = run_cli("status", data_dir=engine.data.root)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"Your backup folder {usb} is read-only, so no backup can be made there." in r.stderr
        assert "READ-ONLY" in r.stdout and "Traceback" not in r.stderr
        r = run_cli("status", "--json", data_dir=engine.data.root)
        body = json.loads(r.stdout)
        assert r.returncode == 1 and body["level"] == "error" and body["folder"]["writable"] is False
        assert "folder-read-only" in [w["code"] for w in body["warnings"]]
        # what status promises is what backup create does
        assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 1
    finally:
        _remount(usb, "rw")
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 0 and "read-only" not in r.stderr, r.stderr


def test_status_is_red_while_the_data_folder_is_read_only(tmpfs, tmp_path):
    root = tmpfs(8192)
    e = Engine(root)
    e.migrate()
    backups = tmp_path / "backups"
    backups.mkdir()
    e.update_settings({"backup_dir": str(backups)})
    e.create_backup()
    e.release_instance_lock()
    _remount(root, "ro")
    try:
        before = _files(root)
        r = run_cli("status", data_dir=root)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"Your data folder {root} is read-only, so no backup can be made" in r.stderr
        assert "Traceback" not in r.stderr
        assert run_cli("backup", "create", data_dir=root).returncode == 1
        assert _files(root) == before
    finally:
        _remount(root, "rw")


def test_move_backups_that_moved_nothing_exits_1(engine, tmpfs):
    ids = [engine.create_backup().id for _ in range(2)]
    old = engine.store.folder
    usb = tmpfs(4096)
    engine.update_settings({"backup_dir": str(usb)})
    _remount(usb, "ro")
    try:
        r = run_cli("settings", "--move-backups", data_dir=engine.data.root)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "Moved 0 backups" in r.stdout and r.stderr.count("Not moved:") == 2
        assert "could not be moved" in r.stderr
        r = run_cli("settings", "--move-backups", "--json", data_dir=engine.data.root)
        assert r.returncode == 1 and len(json.loads(r.stdout)["moves"][0]["failed"]) == 2
    finally:
        _remount(usb, "rw")
    assert sorted(p.stem for p in old.glob("backup_*.db")) == sorted(ids)  # left where they were
    # with nothing left to move, it says so and succeeds
    assert run_cli("settings", "--move-backups", data_dir=engine.data.root).returncode == 0
    r = run_cli("settings", "--move-backups", data_dir=engine.data.root)
    assert r.returncode == 0 and "No backups to move" in r.stdout


# -- F21: backups left in the previous folder ---------------------------------------------------------


def test_a_name_clash_no_longer_blocks_a_move_and_status_never_says_no_backups(engine, tmp_path):
    made = engine.create_backup(note="mine")
    other = tmp_path / "shared"
    other.mkdir()
    # another data folder's backup of the same name is already in the folder chosen next
    theirs = Engine(tmp_path / "theirs")
    theirs.migrate()
    theirs_backup = theirs.create_backup()
    (other / f"{made.id}.db").write_bytes(Path(theirs_backup.path).read_bytes())
    (other / f"{made.id}.json").write_bytes(Path(theirs_backup.path).with_suffix(".json").read_bytes())
    clash = fingerprint(other / f"{made.id}.db")
    engine.update_settings({"backup_dir": str(other)})

    # before the move: the backup still protects the data from the previous folder
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "You have no backups yet" not in r.stderr and "still in the previous backup folder" in r.stderr
    assert "1 in the previous folder" in r.stdout

    r = run_cli("settings", "--move-backups", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["moves"][0]["moved"] == [f"{made.id}_2"]
    assert fingerprint(other / f"{made.id}.db") == clash  # the other one is never overwritten
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 0 and "1 backup," in r.stdout and "You have no backups" not in r.stderr, r.stdout


# -- F4: a zone-less date, and delete removes its manifest ---------------------------------------------


def _edit_manifest(path: Path, **changes) -> None:
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


def test_a_manifest_with_a_zone_less_date_is_read_as_utc(engine):
    a = engine.create_backup(note="first")
    engine.create_backup(note="second")
    manifest = Path(a.path).with_suffix(".json")
    _edit_manifest(manifest, created_at="2026-11-30T10:00:00")  # written by another tool: no zone
    rows = {r["id"]: r for r in json.loads(run_cli("backup", "list", "--json", data_dir=engine.data.root).stdout)}
    row = rows[a.id]
    assert row["manifest"] == "ok" and row["verified"] is True and row["note"] == "first", row
    assert row["created_at"] == "2026-11-30T10:00:00Z"
    r = run_cli("backup", "verify", a.id, data_dir=engine.data.root)
    assert r.returncode == 0 and "None" not in r.stdout and f"schema {a.schema_revision}" in r.stdout, r.stdout
    assert run_cli("backup", "pin", a.id, data_dir=engine.data.root).returncode == 0
    assert json.loads(manifest.read_text())["pinned"] is True


def test_delete_removes_the_backup_and_its_manifest_and_nothing_else(engine):
    a, b, c = (engine.create_backup(note=n) for n in ("a", "b", "c"))
    folder = engine.store.folder
    # a manifest JobMatcher wrote but this version cannot read (a date out of range)
    _edit_manifest(Path(b.path).with_suffix(".json"), created_at="0001-01-01T00:00:00Z")
    # a file added by hand, with another program's file at its manifest's name
    (folder / "backup_2020-01-01_00-00-00.db").write_bytes(Path(c.path).read_bytes())
    (folder / "backup_2020-01-01_00-00-00.json").write_text("not a manifest")
    for backup_id in (a.id, b.id, "backup_2020-01-01_00-00-00"):
        r = run_cli("backup", "delete", backup_id, "--yes", data_dir=engine.data.root)
        assert r.returncode == 0, r.stderr
        assert not (folder / f"{backup_id}.db").exists()
    assert not (folder / f"{a.id}.json").exists() and not (folder / f"{b.id}.json").exists()
    assert (folder / "backup_2020-01-01_00-00-00.json").read_text() == "not a manifest"  # not ours
    assert (folder / f"{c.id}.db").exists() and (folder / f"{c.id}.json").exists()


def test_cleanup_removes_an_orphaned_manifest_of_ours_even_unreadable_but_never_another_programs(engine):
    made = engine.create_backup()
    folder = engine.store.folder
    ours = folder / "backup_2020-01-01_00-00-00.json"
    ours.write_text(json.dumps({"format": 1, "created_at": "0001-01-01T00:00:00Z", "size_bytes": 1}))
    foreign = folder / "backup_2020-01-02_00-00-00.json"
    foreign.write_text(json.dumps({"something": "else"}))
    removed = engine.store.cleanup()
    assert ours.name in removed and not ours.exists()
    assert foreign.exists() and (folder / f"{made.id}.json").exists()


# -- FINDINGS2 F1: the backup made after a future-dated one ----------------------------------------------


def test_a_backup_made_after_a_future_dated_one_and_dated_before_it_is_kept(engine):
    made = []
    for i in range(3):
        with sqlite3.connect(engine.data.db_path) as c:
            c.execute("insert into skills(name) values (?)", (f"s{i}",))
        made.append(engine.create_backup(note=f"n{i}"))
    _edit_manifest(Path(made[0].path).with_suffix(".json"), created_at="2099-01-01T00:00:00Z")  # clock ahead
    _edit_manifest(Path(made[1].path).with_suffix(".json"), created_at="2020-01-01T00:00:00Z")  # made after it
    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=engine.data.root)
    out = json.loads(r.stdout)
    assert out["would_delete"] == [], out
    kept = {x["id"]: x["rule"] for x in out["kept"]}
    assert kept[made[0].id] == R.FUTURE and kept[made[1].id] == R.CLOCK_BEHIND
    assert run_cli("backup", "prune", data_dir=engine.data.root).returncode == 0
    assert Path(made[1].path).exists()


# -- FINDINGS2 F3: waiting behind another program's write transaction ------------------------------------

HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("begin immediate")
    c.execute("insert into skills(name) values ('uncommitted')")
    print("holding", flush=True)
    sys.stdin.readline()  # until the test lets go
    c.execute("rollback")
    print("released", flush=True)
    """
)


def _hold_write_lock(db: Path) -> subprocess.Popen:
    """A second process holding SQLite's write lock (BEGIN IMMEDIATE) until `_release` is called."""
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "holding"
    return p


def _release(holder: subprocess.Popen) -> None:
    try:
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
    finally:
        holder.kill()
        holder.wait()


def _cli(*args: str, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_backup_create_says_it_waits_and_reports_the_wait(engine):
    holder = _hold_write_lock(engine.data.db_path)
    try:
        cli = _cli("backup", "create", data_dir=engine.data.root)
        line = cli.stderr.readline()  # said while it waits, not after
        assert "Waiting for another program to finish writing to the database" in line, line
        assert cli.poll() is None  # still waiting
        time.sleep(0.5)
    finally:
        _release(holder)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert "after waiting" in out and "for another program to finish writing" in out, out

    holder = _hold_write_lock(engine.data.db_path)
    try:
        cli = _cli("backup", "create", "--json", data_dir=engine.data.root)
        time.sleep(4)
    finally:
        _release(holder)
    out, err = cli.communicate(timeout=60)
    body = json.loads(out)
    assert cli.returncode == 0 and body["wait_seconds"] > 0.5, body
    assert body["copy_seconds"] < body["wait_seconds"]  # the wait is reported apart, not hidden in the copy's time
    with sqlite3.connect(f"file:{body['path']}?mode=ro", uri=True) as c:
        assert c.execute("select count(*) from skills where name = 'uncommitted'").fetchone()[0] == 0


def test_a_backup_that_gives_up_waiting_copies_the_committed_data_and_says_how_long_it_waited(engine, monkeypatch):
    monkeypatch.setattr(snapshot, "LOCK_WAIT_SECONDS", 2.0)
    phases = []
    holder = _hold_write_lock(engine.data.db_path)
    try:
        made = engine.create_backup(progress=lambda phase, done, total, unit: phases.append(phase))
    finally:
        _release(holder)
    assert made.method == "backup-api" and 1.5 <= made.wait_seconds < 10, made
    assert made.wait_gave_up  # the other program had not finished: never said as if it had (K3)
    assert phases[0] == "wait" and "copy" in phases
    with sqlite3.connect(f"file:{made.path}?mode=ro", uri=True) as c:
        assert c.execute("select count(*) from skills where name = 'uncommitted'").fetchone()[0] == 0
    assert made.verified is True


# -- F26: the small ones: one of a unit, one way of writing a size -------------------------------------


def test_settings_say_one_day_and_the_budget_as_prune_and_status_do(engine):
    r = run_cli("settings", "--retention-days", "1", "--keep-all-hours", "1", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "Keep manual backups for: 1 day\n" in r.stdout and "from the last 1 hour;" in r.stdout, r.stdout
    assert "1 days" not in r.stdout and "1 hours" not in r.stdout
    r = run_cli("settings", "--retention-policy", "simple", data_dir=engine.data.root)
    assert "Keep backups for:   1 day\n" in r.stdout, r.stdout
    r = run_cli("settings", "--budget-mb", "1", data_dir=engine.data.root)
    assert "Space for backups:  at most 1.0 MB (1 MiB)" in r.stdout, r.stdout
    r = run_cli("backup", "prune", "--dry-run", data_dir=engine.data.root)
    assert "of at most 1.0 MB." in r.stdout, r.stdout


def test_unchanged_data_is_compared_with_the_backup_made_last_not_the_latest_date(engine):
    """The automatic backup's "did the data change?" goes by the order of making, like retention and status:
    the backup made last holds the newest data even when a clock that was behind dated it 2001."""
    engine.create_backup(note="old")
    with sqlite3.connect(engine.data.db_path) as c:
        c.execute("insert into skills(name) values ('NEWEST DATA')")
    last = engine.create_backup(note="made with the clock in 2001")
    _edit_manifest(Path(last.path).with_suffix(".json"), created_at="2001-01-01T00:00:00Z")
    assert engine.auto_backup() is None  # identical to the backup made last: no new file
    h = engine.health()
    assert h.last.id == last.id and h.summary.startswith("Last backup less than a minute ago"), h.summary


# -- the live database itself: status is red when no backup of it can be made (F3 addendum, F20, G7) ------------


@pytest.mark.parametrize("damage", ["empty", "lost-with-wal", "newer-schema", "not-sqlite"])
def test_status_is_red_when_the_live_database_cannot_be_backed_up(engine, damage):
    engine.create_backup()
    db = engine.data.db_path
    if damage == "empty":
        db.write_bytes(b"")
    elif damage == "lost-with-wal":
        engine.release_instance_lock()
        code = textwrap.dedent(f"""
            import sqlite3, os, signal
            c = sqlite3.connect({str(db)!r}, isolation_level=None)
            c.execute("PRAGMA wal_autocheckpoint=0")
            c.execute("UPDATE user_profile SET full_name = 'Only In WAL'")
            os.kill(os.getpid(), signal.SIGKILL)
        """)
        subprocess.run([sys.executable, "-c", code])
        db.unlink()
    elif damage == "newer-schema":
        c = sqlite3.connect(db)
        c.execute("update alembic_version set version_num = '0099_future'")
        c.commit()
        c.close()
    else:
        db.write_bytes(b"this is not a database" * 100)
    before = _files(engine.data.root)
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    expected = {
        "empty": "is empty (0 bytes)",
        "lost-with-wal": "is missing, but jobmatcher.db-wal beside it holds",
        "newer-schema": "updated by a newer version of JobMatcher (schema 0099_future)",
        "not-sqlite": "is damaged",
    }[damage]
    assert expected in r.stderr, r.stderr
    if damage != "lost-with-wal":  # that one status refuses outright, before the health rule (no data to assess)
        assert "no backup of it can be made" in r.stderr, r.stderr
    assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 1  # what status says, create does
    assert _files(engine.data.root) == before  # looking changed nothing


def test_the_pages_backup_task_shows_the_wait_while_it_waits(engine):
    """The page follows a backup through its task (tasks.py): while another program holds the write lock,
    the task's phase and message say so (the page shows the message with the seconds elapsed)."""
    from jobmatcher.tasks import TaskRunner

    runner = TaskRunner(min_interval=0)
    holder = _hold_write_lock(engine.data.db_path)
    try:
        task = runner.start("backup", lambda progress: {"id": engine.create_backup(progress=progress).id})
        deadline = time.monotonic() + 20
        while (t := runner.get(task["id"]))["phase"] != "wait" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert t["phase"] == "wait" and t["message"] == "Waiting for another program to finish writing…", t
        assert t["state"] == "running"
    finally:
        _release(holder)
    final = runner.wait(task["id"], 60)
    assert final["state"] == "done", final


def test_the_command_line_says_when_it_gave_up_waiting_not_that_the_writer_finished(engine):
    """K3: after the wait's limit the other program was still writing: the sentence says that and what the
    backup holds, not "after waiting … for another program to finish writing". (The CLI in a real process,
    its limit set to 2 s instead of 30 so the test is quick.)"""
    code = (
        "import sys; import jobmatcher.snapshot as s; s.LOCK_WAIT_SECONDS = 2.0\n"
        "from jobmatcher.cli import main\n"
        f"sys.exit(main(['--data-dir', {str(engine.data.root)!r}, 'backup', 'create']))\n"
    )
    holder = _hold_write_lock(engine.data.db_path)
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    finally:
        _release(holder)
    assert r.returncode == 0, r.stderr
    assert "to finish writing" not in r.stdout, r.stdout
    assert "for another program that was writing" in r.stdout, r.stdout
    assert "the backup holds everything saved before then" in r.stdout, r.stdout


def test_restore_says_it_waits_for_another_programs_write(engine):
    """K3: the swap waits for another program's write transaction (as a backup does) and says so while it
    waits, instead of a silent pause; the restore then goes through."""
    first = engine.create_backup().id
    holder = _hold_write_lock(engine.data.db_path)
    try:
        cli = _cli("backup", "restore", first, "--yes", data_dir=engine.data.root)
        line = cli.stderr.readline()  # said while it waits, not after
        assert "Waiting for another program to finish writing to the database" in line, line
        assert cli.poll() is None  # still waiting
        time.sleep(0.5)
    finally:
        _release(holder)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0 and "Restored" in out, out + err


def test_the_pages_backup_says_when_it_gave_up_waiting(engine, monkeypatch):
    """K3 (the page): the task's result says the other program was still writing, for the page's words."""
    from jobmatcher.api import Api

    monkeypatch.setattr(snapshot, "LOCK_WAIT_SECONDS", 2.0)
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    holder = _hold_write_lock(engine.data.db_path)
    try:
        task = api._dispatch("start_backup", [""])["value"]
        final = api._tasks.wait(task["id"], 60)
    finally:
        _release(holder)
        api._close()
    assert final["state"] == "done" and final["result"]["gave_up_waiting"] is True, final
    assert final["result"]["waited_seconds"] >= 2


def test_the_pages_restore_shows_the_wait_while_it_waits(engine):
    """K3 (the page): a restore waiting for another program's write says so in its task, as a backup does."""
    from jobmatcher.api import Api

    first = engine.create_backup().id
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    holder = _hold_write_lock(engine.data.db_path)
    try:
        task = api._dispatch("start_restore", [first])["value"]
        deadline = time.monotonic() + 20
        while (t := api._tasks.get(task["id"]))["phase"] != "wait" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert t["phase"] == "wait" and t["message"] == "Waiting for another program to finish writing…", t
    finally:
        _release(holder)
    final = api._tasks.wait(task["id"], 60)
    api._close()
    assert final["state"] == "done", final
