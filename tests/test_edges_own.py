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
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobmatcher.backups import BackupStore
from jobmatcher.datadir import DataDir
from jobmatcher.engine import Engine
from jobmatcher.errors import SettingsError
from jobmatcher.manifest import read_manifest, write_manifest
from jobmatcher.settings import check_backup_folder

from conftest import fingerprint, run_cli

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
    ours = [f".tmp-{dead}-123.db", f".tmp-{dead}-123.db-wal", f".backup_2026-01-01_00-00-00.json.{dead}-7-1.tmp",
            "backup_2026-01-01_00-00-02.json"]  # the last: a reserved name (created empty), never published
    theirs = [".tmp-draft", f".tmp-{dead}-123.docx", f".report.docx.{dead}.tmp", f".notes.json.{dead}-1-1.tmp",
              "backup_contacts.json"]
    for n in ours + theirs:
        (folder / n).write_bytes(b"" if n.startswith("backup_") else b"x")
    removed = BackupStore(folder).cleanup()
    assert sorted(removed) == sorted(ours)
    assert sorted(os.listdir(folder)) == sorted(theirs)


def test_data_folder_cleanup_touches_only_its_own_files(data_dir):
    dead = _dead_pid()
    names = [f".settings.json.{dead}-1-1.tmp", f".restore-journal.json.{dead}.tmp",
             f".thesis.odt.{dead}.tmp", f".settings.json.bak.{dead}.tmp"]
    for n in names:
        (data_dir / n).write_text("x")
    e = Engine(data_dir)
    e.launch()
    e.release_instance_lock()
    assert sorted(p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")) == sorted(names[2:])


@pytest.mark.parametrize("how", ["settings-names-data-folder", "default-is-symlink-to-data", "parent",
                                 "symlink-to-parent"])
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
        for args in (("backup", "verify", "--", name), ("backup", "pin", "--", name),
                     ("backup", "unpin", "--", name)):
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
