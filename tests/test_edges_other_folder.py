"""FINDINGS F11, F13, F14: another person's data folder is never a backup folder and its live database is never
a backup; every manifest JobMatcher writes names this data folder; an empty --data-dir is a usage error.
Real data folders, real CLI subprocesses."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.backups import BackupStore
from jobmatcher.datadir import DataDir


def _ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _person(tmp_path: Path, name: str, backup: bool = False) -> Path:
    d = tmp_path / name
    _ok(run_cli("db", "migrate", data_dir=d))
    if backup:
        _ok(run_cli("backup", "create", data_dir=d))
    return d


def test_another_data_folder_is_refused_as_backup_folder(tmp_path):
    a = _person(tmp_path, "a", backup=True)
    b = _person(tmp_path, "b")
    before = (a / "jobmatcher.db").read_bytes()
    for folder in (a, tmp_path / "holder"):
        if folder.name == "holder":  # a folder that contains another data folder (one level down)
            folder.mkdir()
            shutil.copytree(a, folder / "old-profile")
        r = run_cli("settings", "--backup-dir", str(folder), data_dir=b)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "another JobMatcher data folder" in r.stderr and "Traceback" not in r.stderr
    assert not (a / ".jobmatcher-backup-folder").exists()
    assert (a / "jobmatcher.db").read_bytes() == before
    assert json.loads(_ok(run_cli("--json", "settings", data_dir=b)).stdout).get("backup_dir") in (None, "")


def test_settings_json_pointing_at_another_data_folder_lists_and_deletes_nothing(tmp_path):
    """settings.json can be edited or copied by hand: the folder is checked at every use."""
    a = _person(tmp_path, "a", backup=True)
    b = _person(tmp_path, "b")
    s = b / "settings.json"
    body = json.loads(s.read_text()) if s.exists() else {}
    body["backup_dir"] = str(a)
    s.write_text(json.dumps(body))
    before = (a / "jobmatcher.db").read_bytes()
    r = run_cli("backup", "delete", "jobmatcher", "--yes", data_dir=b)
    assert r.returncode == 1 and "another JobMatcher data folder" in r.stderr, r.stdout + r.stderr
    assert (a / "jobmatcher.db").read_bytes() == before
    _ok(run_cli("db", "check", data_dir=a))


def test_store_never_offers_a_live_database(tmp_path):
    """Whatever folder it reads: a `jobmatcher.db`, or any file with a -wal/-shm beside it, is not a backup."""
    folder = tmp_path / "bk"
    folder.mkdir()
    live = folder / "jobmatcher.db"
    sqlite3.connect(live).execute("create table t(x)").connection.close()
    other = folder / "notes.db"
    conn = sqlite3.connect(other)
    conn.execute("pragma journal_mode=wal")
    conn.execute("create table t(x)")
    conn.execute("insert into t values (1)")  # holds notes.db-wal and -shm while open
    try:
        assert (folder / "notes.db-wal").exists()
        plain = folder / "copied.db"
        shutil.copyfile(live, plain)
        store = BackupStore(folder, data=DataDir.open(tmp_path / "me"))
        assert [r.id for r in store.list()] == ["copied"]
        for backup_id in ("jobmatcher", "notes"):
            try:
                store.delete(backup_id)
            except Exception as e:  # noqa: BLE001
                assert type(e).__name__ == "BackupNotFoundError"
            else:
                raise AssertionError(f"{backup_id} was deleted")
        assert live.exists() and other.exists()
    finally:
        conn.close()


def test_safety_backup_of_a_restore_names_this_data_folder(tmp_path):
    """F13: the restore's safety copy (the hard-linked one too) is this folder's, also in a chosen backup folder."""
    d = _person(tmp_path, "d", backup=True)
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    _ok(run_cli("settings", "--backup-dir", str(chosen), data_dir=d))
    _ok(run_cli("settings", "--move-backups", data_dir=d))
    first = json.loads(_ok(run_cli("--json", "backup", "list", data_dir=d)).stdout)
    assert len(first) == 1
    _ok(run_cli("backup", "restore", first[0]["id"], "--yes", data_dir=d))
    fid = json.loads((d / ".jobmatcher-folder-id").read_text())["id"]
    manifests = sorted(chosen.glob("backup_*.json"))
    assert len(manifests) == 2
    for m in manifests:
        assert json.loads(m.read_text())["data_folder_id"] == fid, m.name
    items = json.loads(_ok(run_cli("--json", "backup", "list", data_dir=d)).stdout)
    assert [r["type"] for r in items if r["owned"]].count("safety") == 1, items
    r = _ok(run_cli("backup", "list", data_dir=d))
    assert "other data folders" not in r.stdout


def test_empty_data_dir_is_a_usage_error_not_the_default(tmp_path):
    """F14: `--data-dir "$DIR"` with $DIR unset never means the user's real (default) data folder."""
    real = _person(tmp_path, "real", backup=True)
    before = sorted(p.name for p in (real / "backups").iterdir())
    for value in ("", "  "):
        for args in (("backup", "list"), ("status",), ("backup", "create")):
            r = run_cli("--data-dir", value, *args, env={"JOBMATCHER_DATA_DIR": str(real)})
            assert r.returncode == 2, (value, args, r.stdout + r.stderr)
            assert "--data-dir is empty" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in (real / "backups").iterdir()) == before


def test_empty_data_dir_environment_variable_is_refused(tmp_path):
    home = tmp_path / "home"  # where the default data folder would be: must stay untouched
    home.mkdir()
    env = {"JOBMATCHER_DATA_DIR": "", "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    for args in (("status",), ("backup", "create")):
        r = run_cli(*args, env=env)
        assert r.returncode in (1, 2), r.stdout + r.stderr
        assert "JOBMATCHER_DATA_DIR is set but empty" in r.stderr and "Traceback" not in r.stderr
    assert not (home / "data").exists() and not (home / ".local").exists()


def test_a_file_that_is_not_listed_is_said_with_the_reason(tmp_path):
    """K11: a database from another program with a leftover -wal beside it (as copying a program's folder
    gives), or a link, is not a backup and is not listed; the list says so, in words, instead of hiding it;
    naming it says the same. The side-file names come from one definition (fsutil.OPEN_SUFFIXES)."""
    from jobmatcher.fsutil import OPEN_SUFFIXES

    d = _person(tmp_path, "d", backup=True)
    folder = d / "backups"
    for suffix in OPEN_SUFFIXES:
        name = f"fromapp{suffix[1:]}.db"
        sqlite3.connect(folder / name).execute("create table t(x)").connection.close()
        (folder / f"{name}{suffix}").write_bytes(b"")  # an empty leftover
    (folder / "link.db").symlink_to(next(folder.glob("backup_*.db")))
    r = _ok(run_cli("backup", "list", data_dir=d))
    for suffix in OPEN_SUFFIXES:
        name = f"fromapp{suffix[1:]}.db"
        assert name not in r.stdout
        assert f"{name} is not listed: {name}{suffix} beside it shows some program has it open" in r.stderr, r.stderr
        v = run_cli("backup", "verify", name[:-3], data_dir=d)
        assert v.returncode == 1 and f"{name} is not listed: {name}{suffix} beside it" in v.stderr, v.stderr
    assert "link.db is not listed: it is a link to another file" in r.stderr
    items = json.loads(_ok(run_cli("--json", "backup", "list", data_dir=d)).stdout)  # the JSON list: backups only
    assert [i["id"] for i in items if not i["id"].startswith("backup_")] == []


@pytest.mark.browser
def test_the_page_says_which_files_are_not_listed(tmp_path, page, start_app, app_data):
    from playwright.sync_api import expect

    folder = app_data / "backups"
    sqlite3.connect(folder / "fromapp.db").execute("create table t(x)").connection.close()
    (folder / "fromapp.db-wal").write_bytes(b"")
    app = start_app(app_data, "--browser")
    page.goto(app.url)
    expect(page.locator("html[data-ready='true']")).to_have_count(1, timeout=20000)
    expect(page.locator("#skipped-files")).to_contain_text(
        "fromapp.db is not listed: fromapp.db-wal beside it shows some program has it open as its database"
    )
    expect(page.locator("#backup-rows tr")).to_have_count(1)
