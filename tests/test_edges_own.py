"""Issue 8, kinds 1, 3 and 5 (part): JobMatcher deletes and rewrites only what it made, for this data folder;
clocks lie, the data does not; manifest updates do not undo each other. Real files, real engine, real CLI."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher.backups import BackupStore
from jobmatcher.datadir import DataDir
from jobmatcher.engine import Engine
from jobmatcher.errors import JobMatcherError, SettingsError
from jobmatcher.fsutil import atomic_write_bytes, remove_dead_temp_files
from jobmatcher.manifest import BackupType, read_manifest, write_manifest
from jobmatcher.settings import check_backup_folder

SIXTY_DAYS = 60 * 86400


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _age_file(p: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(p, (t, t), follow_symlinks=False)


def _redate(engine_or_store, backup_id: str, when: datetime) -> None:
    store = engine_or_store.store if isinstance(engine_or_store, Engine) else engine_or_store
    path = Path(store.get(backup_id).path)
    m = read_manifest(path)
    m.created_at = when
    write_manifest(path, m)


def _change(engine: Engine, title: str = "New") -> None:
    conn = engine.connect()
    try:
        with conn:
            conn.execute("INSERT INTO saved_jobs (title, company, description) VALUES (?, 'Co', 'x')", (title,))
    finally:
        conn.close()


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- 1. only what JobMatcher made is ever deleted -----------------------------------------------------------


def _foreign_files(folder: Path) -> dict[str, bytes]:
    """Another program's files in a folder the user chose for backups, all 60 days old."""
    other = sqlite3.connect(folder / "places.db")
    other.execute("CREATE TABLE moz_places (url TEXT)")
    other.execute("INSERT INTO moz_places VALUES ('https://example.org')")
    other.commit()
    other.close()
    (folder / "notes.db").write_text("my notes, not a database")
    (folder / "backup_contacts.json").write_text('{"contacts": []}')
    (folder / ".tmp-draft").write_text("draft")
    (folder / f".report.docx.{_dead_pid()}.tmp").write_text("half a report")
    (folder / "backup_2020-01-01_00-00-00.json").write_text('{"not": "ours"}')  # shaped like ours, not ours
    for p in folder.iterdir():
        _age_file(p, SIXTY_DAYS)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_backup_create_and_launch_never_delete_another_programs_files(engine, tmp_path):
    folder = tmp_path / "Backups"
    folder.mkdir()
    before = _foreign_files(folder)
    engine.update_settings({"backup_dir": str(folder)})
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    engine.launch()
    engine.release_instance_lock()
    r = run_cli("backup", "prune", data_dir=engine.data.root)
    assert r.returncode == 0 and "Deleted" not in r.stdout, r.stdout
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before}
    assert after == before
    listed = {r.id: r for r in engine.list_backups()}
    assert listed["places"].manifest == "missing" and listed["notes"].manifest == "missing"


def test_cleanup_removes_only_its_own_exact_temp_patterns(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    dead = _dead_pid()
    ours = [
        f".tmp-{dead}-123.db",
        f".tmp-{dead}-123.db-wal",
        f".backup_2026-01-01_00-00-00.json.{dead}-7-1.tmp",
        "backup_2026-01-01_00-00-02.json",
    ]  # the last: a reserved name (created empty), never published
    theirs = [
        ".tmp-draft",
        f".tmp-{dead}-123.docx",
        f".report.docx.{dead}.tmp",
        f".notes.json.{dead}-1-1.tmp",
        "backup_contacts.json",
    ]
    for n in ours + theirs:
        (folder / n).write_bytes(b"" if n.startswith("backup_") else b"x")
    removed = BackupStore(folder).cleanup()
    assert sorted(removed) == sorted(ours)
    assert sorted(os.listdir(folder)) == sorted(theirs)


def test_data_folder_cleanup_touches_only_its_own_files(data_dir):
    dead = _dead_pid()
    names = [
        f".settings.json.{dead}-1-1.tmp",
        f".restore-journal.json.{dead}.tmp",
        f".thesis.odt.{dead}.tmp",
        f".settings.json.bak.{dead}.tmp",
    ]
    for n in names:
        (data_dir / n).write_text("x")
    e = Engine(data_dir)
    e.launch()
    e.release_instance_lock()
    assert sorted(p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")) == sorted(names[2:])


@pytest.mark.parametrize(
    "how", ["settings-names-data-folder", "default-is-symlink-to-data", "parent", "symlink-to-parent"]
)
def test_a_backup_folder_that_is_the_data_folder_is_refused_when_loaded(engine, how):
    root = engine.data.root
    engine.create_backup()
    shutil.rmtree(root / "backups")
    if how == "settings-names-data-folder":
        engine.data.settings_path.write_text(json.dumps({"backup_dir": str(root), "retention_days": 1}))
    elif how == "default-is-symlink-to-data":
        (root / "backups").symlink_to(".")
        engine.data.settings_path.write_text(json.dumps({"retention_days": 1}))
    elif how == "parent":
        engine.data.settings_path.write_text(json.dumps({"backup_dir": str(root.parent), "retention_days": 1}))
    else:
        link = root.parent / "link"
        link.symlink_to(root.parent)
        engine.data.settings_path.write_text(json.dumps({"backup_dir": str(link), "retention_days": 1}))
    old = time.time() - 400 * 86400
    os.utime(engine.data.db_path, (old, old))  # an old-looking live file, as in the report
    before = fingerprint(engine.data.db_path)
    report = Engine(root).launch()
    assert report.backup_folder_error and report.pruned == [] and report.auto_backup is None
    assert fingerprint(engine.data.db_path) == before
    for args in (("backup", "list"), ("backup", "create"), ("backup", "prune")):
        r = run_cli(*args, data_dir=root)
        assert r.returncode == 1 and "backup folder" in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert fingerprint(engine.data.db_path) == before
    assert sorted(p.name for p in root.iterdir() if p.suffix == ".db") == ["jobmatcher.db"]


def test_backup_folder_rules(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "a-file").write_text("x")
    for bad in (data, data / "inner", tmp_path, Path("/"), Path("/etc"), Path("/usr/share"), tmp_path / "a-file"):
        with pytest.raises(SettingsError):
            check_backup_folder(bad, data)
    assert check_backup_folder(data / "backups", data) == (data / "backups").resolve()
    assert check_backup_folder(tmp_path / "elsewhere", data) == (tmp_path / "elsewhere").resolve()


HAND_NAMES = ["Résumé before move", "2026 März", "_old", "copy.db", "-dash", "#1 (final)"]


def test_every_id_the_list_shows_works_with_every_command(engine):
    made = engine.create_backup()
    folder = engine.store.folder
    for name in HAND_NAMES:
        shutil.copyfile(made.path, folder / f"{name}.db")
        _age_file(folder / f"{name}.db", SIXTY_DAYS)
    (folder / "weird\nname.db").write_bytes(b"x")  # listed too, so usable too
    engine.update_settings({"retention_days": 1})
    listed = {r.id for r in engine.list_backups()}
    assert set(HAND_NAMES) <= listed
    root = engine.data.root
    for bid in sorted(listed - {made.id}):
        assert engine.store.get(bid).id == bid
    for name in HAND_NAMES:
        # `--`: an id may start with "-", as any file name may
        for args in (("backup", "verify", "--", name), ("backup", "pin", "--", name), ("backup", "unpin", "--", name)):
            r = run_cli(*args, data_dir=root)
            assert r.returncode == 0, (args, r.stdout, r.stderr)
    r = run_cli("backup", "prune", data_dir=root)
    assert r.returncode == 0 and "Deleted" not in r.stdout
    assert all((folder / f"{n}.db").exists() for n in HAND_NAMES)
    # a hand-added file checked or pinned is still "added by hand": never pruned, whatever its date
    for name in HAND_NAMES:
        rec = engine.store.get(name)
        assert rec.added_by_hand and rec.verified is True
    r = run_cli("backup", "restore", "--yes", HAND_NAMES[0], data_dir=root)
    assert r.returncode == 0, r.stderr
    r = run_cli("backup", "delete", "--yes", HAND_NAMES[1], data_dir=root)
    assert r.returncode == 0 and not (folder / f"{HAND_NAMES[1]}.db").exists(), r.stderr


def test_a_hand_added_files_own_json_is_never_overwritten(engine):
    made = engine.create_backup()
    folder = engine.store.folder
    shutil.copyfile(made.path, folder / "places.db")
    (folder / "places.json").write_text('{"bookmarks": 3}')
    r = run_cli("backup", "pin", "places", data_dir=engine.data.root)
    assert r.returncode == 1 and "not a manifest" in r.stderr
    r = run_cli("backup", "verify", "places", data_dir=engine.data.root)
    assert r.returncode == 0
    assert (folder / "places.json").read_text() == '{"bookmarks": 3}'


def test_the_live_database_is_never_listed_or_pruned(engine):
    engine.create_backup()
    folder = engine.store.folder
    os.link(engine.data.db_path, folder / "live-link.db")  # the live file under a backup's name
    _age_file(folder / "live-link.db", SIXTY_DAYS)
    assert "live-link" not in {r.id for r in engine.list_backups()}
    r = run_cli("backup", "delete", "live-link", "--yes", data_dir=engine.data.root)
    assert r.returncode == 1
    engine.update_settings({"retention_days": 1})
    engine.prune()
    assert (folder / "live-link.db").exists()


# -- 1. the data folder's id: each backup belongs to one data folder ----------------------------------------


def test_the_data_folder_id_is_made_once_0600_and_recorded_in_every_backup(data_dir):
    d = DataDir.open(data_dir)
    assert d.folder_id(create=False) is None
    run_cli("backup", "list", data_dir=data_dir)
    assert not d.folder_id_path.exists()  # read-only commands write nothing
    e = Engine(data_dir)
    e.migrate()
    b = e.create_backup()
    fid = d.folder_id()
    assert fid and len(fid) == 32 and d.folder_id() == fid
    assert stat.S_IMODE(d.folder_id_path.stat().st_mode) == 0o600
    assert read_manifest(Path(b.path)).data_folder_id == fid and b.owned
    assert e.store.get(b.id).data_folder_id == fid


def test_the_folder_id_survives_a_move_but_not_a_copy(engine, tmp_path):
    fid = engine.data.folder_id()
    copy = tmp_path / "copy"
    shutil.copytree(engine.data.root, copy)
    assert DataDir.open(copy).folder_id() not in (None, fid)
    assert engine.data.folder_id() == fid
    moved = tmp_path / "moved"
    engine.data.root.rename(moved)
    assert DataDir.open(moved).folder_id() == fid


def test_two_data_folders_sharing_a_backup_folder_never_take_each_others_backups(tmp_path):
    from conftest import fill_sample_data

    shared = tmp_path / "shared"
    shared.mkdir()
    people = {}
    for name in ("ada", "grace"):
        e = Engine(tmp_path / name)
        e.migrate()
        fill_sample_data(e, name=name.title())
        e.update_settings({"backup_dir": str(shared), "retention_days": 30})
        people[name] = e
    ada, grace = people["ada"], people["grace"]
    ada_only = ada.create_backup()
    _redate(ada, ada_only.id, _now() - timedelta(days=90))
    grace_b = grace.create_backup()
    _change(grace)
    report = grace.launch()
    grace.release_instance_lock()
    assert ada_only.id not in report.pruned and Path(ada_only.path).exists()
    seen_by_grace = {r.id: r for r in grace.list_backups()}
    assert seen_by_grace[ada_only.id].owned is False and seen_by_grace[grace_b.id].owned is True
    # Ada's data changed: Grace's newer backups do not stand in for Ada's automatic backup
    _change(ada)
    report = ada.launch()
    ada.release_instance_lock()
    assert report.auto_backup and ada.store.get(report.auto_backup).owned
    assert Path(grace_b.path).exists() and grace_b.id not in report.pruned  # Ada's retention: Ada's only
    r = run_cli("backup", "list", data_dir=ada.data.root)
    assert "other data folders" in r.stdout


def test_old_manifests_without_an_id_belong_to_the_default_folder_only(engine, tmp_path):
    b = engine.create_backup()
    m = read_manifest(Path(b.path))
    m.data_folder_id = None  # as an older version wrote it
    write_manifest(Path(b.path), m)
    assert engine.store.get(b.id).owned
    custom = tmp_path / "custom"
    custom.mkdir()
    engine.update_settings({"backup_dir": str(custom)})
    shutil.copyfile(b.path, custom / f"{b.id}.db")
    shutil.copyfile(Path(b.path).with_suffix(".json"), custom / f"{b.id}.json")
    _redate(engine, b.id, _now() - timedelta(days=400))
    assert engine.store.get(b.id).owned is False
    engine.prune()
    assert (custom / f"{b.id}.db").exists()


# -- 1. Export… and other writes to a user-chosen path -------------------------------------------------------


def test_export_refuses_the_data_folder_the_backup_folder_and_the_live_file(engine, tmp_path):
    from jobmatcher.api import Api

    class Dialogs:
        answers: list = []

        def save_file(self, suggested_name, directory=""):
            return self.answers.pop(0)

    b = engine.create_backup()
    os.link(engine.data.db_path, tmp_path / "another-name.db")  # the live file by another name
    dialogs = Dialogs()
    api = Api(engine, mode="window", dialogs=dialogs)
    api._begin_launch()
    api._wait_launched(30)
    try:
        before = fingerprint(engine.data.db_path)
        for target in (
            engine.data.db_path,
            engine.data.root / "copy.db",
            engine.store.folder / "copy.db",
            tmp_path / "another-name.db",
        ):
            dialogs.answers = [str(target)]
            r = api._dispatch("export_backup", [b.id])
            assert not r["ok"] and "Traceback" not in json.dumps(r), (target, r)
            assert fingerprint(engine.data.db_path) == before
        assert not (engine.data.root / "copy.db").exists() and not (engine.store.folder / "copy.db").exists()
        dialogs.answers = [str(tmp_path / "exported.db")]
        r = api._dispatch("export_backup", [b.id])
        assert r["ok"] and (tmp_path / "exported.db").read_bytes() == Path(b.path).read_bytes()
    finally:
        api._close()


# -- 3. clocks lie; the data does not --------------------------------------------------------------------------


def test_a_backup_dated_in_the_future_is_flagged_and_stops_nothing(engine):
    from jobmatcher.presentation import backup_status

    real = engine.create_backup()
    _redate(engine, real.id, _now() - timedelta(days=40))
    future = engine.create_backup()
    _redate(engine, future.id, _now() + timedelta(days=365))
    engine.update_settings({"retention_days": 30, "retention_policy": "simple"})
    _change(engine)
    report = Engine(engine.data.root).launch()
    assert report.auto_backup and report.future_backups == [future.id]
    listed = {r.id: r for r in engine.list_backups()}
    assert listed[future.id].future and future.id not in report.pruned
    status = backup_status(engine.list_backups())
    assert status["last"]["id"] == report.auto_backup
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert "FUTURE" in r.stdout


# (a date without a time zone is read as UTC: test_health_edges.py, F4)
@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "not a date", None])
def test_an_unreadable_manifest_is_that_backups_problem_only(engine, created_at):
    good = engine.create_backup()
    bad = engine.create_backup()
    body = json.loads(Path(bad.path).with_suffix(".json").read_text())
    body["created_at"] = created_at
    Path(bad.path).with_suffix(".json").write_text(json.dumps(body))
    listed = {r.id: r for r in engine.list_backups()}
    assert listed[bad.id].manifest == "unreadable" and listed[good.id].manifest == "ok"
    report = Engine(engine.data.root).launch()  # today a naive date: TypeError, the app cannot open
    assert bad.id not in report.pruned
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 0 and "manifest unreadable" in r.stdout, r.stderr
    assert Path(bad.path).exists() and Path(bad.path).with_suffix(".json").exists()


def test_backups_dated_by_a_slow_clock_keep_the_newest_data(engine):
    older = engine.create_backup()
    _change(engine)
    newest = engine.create_backup()  # holds the current data
    _redate(engine, older.id, datetime(2000, 1, 1, tzinfo=timezone.utc))
    _redate(engine, newest.id, datetime(2000, 1, 2, tzinfo=timezone.utc))
    engine.update_settings({"retention_days": 30, "retention_policy": "simple"})
    report = Engine(engine.data.root).launch()
    assert newest.id not in report.pruned and Path(newest.path).exists()
    assert report.auto_backup is None and report.auto_backup_unchanged  # the data is that backup's


def test_a_hand_copied_old_backup_with_todays_date_never_pushes_out_the_real_newest(engine):
    old = engine.create_backup()
    _change(engine)
    real = engine.create_backup()
    folder = engine.store.folder
    shutil.copyfile(old.path, folder / "old copy.db")  # today's mtime, no manifest
    _redate(engine, real.id, _now() - timedelta(days=1))  # every day in use (W2: days without backups
    _redate(engine, old.id, _now() - timedelta(days=2))  # do not age backups, as a clock set ahead must not)
    engine.update_settings({"retention_days": 1, "retention_policy": "simple"}, confirmed=True)
    _change(engine, "newer still")
    report = Engine(engine.data.root).launch()
    assert report.auto_backup  # the hand-copied file is not "the newest backup"
    assert (folder / "old copy.db").exists() and "old copy" not in report.pruned
    # the newest backup of the current data is never deleted for a file of unknown age
    assert engine.store.get(report.auto_backup).verified is True and old.id in report.pruned


def test_snapshots_of_unchanged_data_are_byte_identical_even_after_a_checkpoint(engine):
    a = engine.create_backup()
    b = engine.create_backup()
    assert a.sha256 == b.sha256
    conn = sqlite3.connect(engine.data.db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    same = engine.create_backup(kind=BackupType.auto)
    assert same.unchanged and same.id == b.id
    assert [r.id for r in engine.list_backups()] == [b.id, a.id]
    _change(engine)
    assert not engine.create_backup(kind=BackupType.auto).unchanged


def test_a_backup_is_dated_when_its_snapshot_was_taken(engine):
    marks = []

    def progress(phase, done, total, unit):
        if phase == "verify" and done == 0:
            marks.append(_now())

    b = engine.create_backup(progress=progress)
    assert marks and b.created_at <= marks[0]


# -- 5. operations on the same things do not undo each other ---------------------------------------------------


def test_a_pin_made_while_a_check_runs_is_kept(engine, monkeypatch):
    b = engine.create_backup()
    from jobmatcher import verify as verify_module  # backups.py imports verify_file where it checks

    real_verify = verify_module.verify_file

    def verify_and_pin_meanwhile(*args, **kwargs):
        report = real_verify(*args, **kwargs)
        t = threading.Thread(target=engine.set_pinned, args=(b.id, True))  # the page's Pin, during the check
        t.start()
        t.join()
        return report

    monkeypatch.setattr(verify_module, "verify_file", verify_and_pin_meanwhile)
    engine.verify(b.id)
    rec = engine.store.get(b.id)
    assert rec.pinned is True and rec.verified is True


def test_atomic_writes_from_many_threads_never_share_a_temp_file(tmp_path):
    target = tmp_path / "backup_2026-01-01_00-00-00.json"
    errors = []

    def writer(n):
        try:
            for i in range(40):
                atomic_write_bytes(target, f"{n}-{i}".encode() * 100)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    body = target.read_bytes().decode()
    n, i = body[: body.index("-")], body[body.index("-") + 1 :].split(body[: body.index("-")] + "-")[0]
    assert body == f"{n}-{i}" * 100
    assert sorted(os.listdir(tmp_path)) == [target.name]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    dead = _dead_pid()
    (tmp_path / f".{target.name}.{dead}-5-9.tmp").write_text("x")
    (tmp_path / f".other.txt.{dead}-5-9.tmp").write_text("x")
    assert remove_dead_temp_files(tmp_path, lambda name: name.endswith(".json")) == [f".{target.name}.{dead}-5-9.tmp"]


def test_a_migration_failing_at_every_launch_reuses_one_pre_migration_backup(data_dir, monkeypatch):
    from jobmatcher import schema

    e = Engine(data_dir)
    e.migrate(target="0001_initial")

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(schema, "upgrade", locked)
    for _ in range(4):
        with pytest.raises(JobMatcherError):
            Engine(data_dir).launch()
    premig = [r for r in Engine(data_dir).list_backups() if r.type == BackupType.pre_migration]
    assert len(premig) == 1


def test_a_manifest_that_is_no_file_or_far_too_big_is_that_backups_problem_only(engine):
    """A FIFO (opening it would wait forever for a writer), a device, a folder, or a file of gigabytes at a
    manifest's place: that backup is listed with an unreadable manifest, without the list hanging or reading
    gigabytes, and the other backups are listed as ever. Nothing is deleted."""
    good = engine.create_backup()
    folder = engine.store.folder
    made = {}
    for how in ("fifo", "device", "folder", "huge"):
        bad = folder / f"{how}.db"
        shutil.copyfile(good.path, bad)
        manifest = bad.with_suffix(".json")
        if how == "fifo":
            os.mkfifo(manifest)
        elif how == "device":
            manifest.symlink_to("/dev/zero")  # endless bytes
        elif how == "folder":
            manifest.mkdir()
        else:
            with open(manifest, "wb") as f:  # sparse: 8 GiB on paper, nothing on the disk
                f.truncate(8 << 30)
        made[how] = bad
    r = run_cli("backup", "list", "--json", data_dir=engine.data.root, timeout=60)  # first: a hang fails here
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    assert rows[good.id]["manifest"] == "ok" and all(rows[how]["manifest"] == "unreadable" for how in made)
    listed = {r.id: r for r in engine.list_backups()}
    assert listed[good.id].manifest == "ok"
    assert {how: listed[how].manifest for how in made} == dict.fromkeys(made, "unreadable")
    report = Engine(engine.data.root).launch()
    assert not set(report.pruned) & set(made)
    assert all(p.exists() for p in made.values())
    r = run_cli("backup", "delete", "fifo", "--yes", data_dir=engine.data.root, timeout=60)  # asked by the user
    assert r.returncode == 0, r.stderr
    assert not made["fifo"].exists() and made["fifo"].with_suffix(".json").exists()  # not ours: left alone
