"""Finding X1: the live jobmatcher.db hard-linked to a backup (a hand "restore" by `ln`).

That backup is the live data under a second name: every edit changes it. It is never listed nor counted (as
before), but now it is named wherever the user looks: `status` (amber), the launch (`db migrate`), `backup list`
(a line on stderr), verify/delete/restore of its id (why, instead of "There is no backup"), and the page
(backup_overview's health and skipped). `backup delete ID` removes only that second name and its manifest; prune
never touches it; `backup create` makes a real new copy. Real files, the real CLI in a subprocess, the real Api.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher.api import Api
from jobmatcher.engine import Engine


def _linked(engine: Engine) -> tuple[Path, str, str]:
    """Two backups; then the live file replaced by a hard link to the older one, as `rm` + `ln` by hand.
    Returns (the data folder, the linked backup's id, the other backup's id)."""
    older = engine.create_backup(note="first").id
    newer = engine.create_backup(note="second").id
    db = engine.data.db_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.link(engine.store.folder / f"{older}.db", db)
    return engine.data.root, older, newer


def _edit(db: Path) -> None:
    """An edit as the app makes one (the file changes in place)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO skills(name) VALUES ('edited-after-link')")
        conn.commit()
    finally:
        conn.close()


def test_status_names_the_backup_that_is_the_live_file(engine):
    d, older, newer = _linked(engine)
    _edit(engine.data.db_path)
    r = run_cli("status", data_dir=d)
    assert r.returncode == 0, r.stderr  # amber: the real backups still protect the data
    out = r.stdout + r.stderr
    assert f"is the same file as the backup {older}" in out
    assert "changes whenever you edit your data" in out
    jm = f"jobmatcher --data-dir {d}"  # D6: the commands act on this data folder
    assert f"{jm} backup create" in out and f"{jm} backup delete {older} --yes" in out
    assert "1 backup," in out  # still counted as what it is: one real backup
    j = json.loads(run_cli("status", "--json", data_dir=d).stdout)
    assert j["level"] == "warn"
    (w,) = [w for w in j["warnings"] if w["code"] == "live-is-backup"]
    assert w["level"] == "warn" and older in w["message"]


def test_backup_list_says_on_stderr_why_the_linked_backup_is_not_listed(engine):
    d, older, newer = _linked(engine)
    r = run_cli("backup", "list", data_dir=d)
    assert r.returncode == 0, r.stderr
    assert older not in r.stdout.split() and newer in r.stdout.split()
    assert f"{older}.db is not listed: it is your live database" in r.stderr
    assert "hard link" in r.stderr


@pytest.mark.parametrize(
    "command, by_path",
    [
        (["backup", "verify"], False),
        (["backup", "restore"], False),
        (["backup", "delete"], False),
        (["backup", "verify"], True),
        (["backup", "restore"], True),
    ],
)
def test_commands_naming_its_id_say_why_not_that_it_does_not_exist(engine, command, by_path):
    d, older, newer = _linked(engine)
    before = fingerprint(engine.data.db_path)
    folder = sorted(p.name for p in engine.store.folder.iterdir())
    named = str(engine.store.folder / f"{older}.db") if by_path else older
    r = run_cli(*command, named, data_dir=d, input="")  # delete: no --yes and no terminal: refused after saying why
    assert r.returncode == 1, r.stdout + r.stderr
    assert "There is no backup" not in r.stderr
    assert f"{older}.db is your live database" in r.stderr
    assert "Traceback" not in r.stderr
    assert fingerprint(engine.data.db_path) == before
    assert sorted(p.name for p in engine.store.folder.iterdir()) == folder


def test_backup_delete_removes_only_the_second_name_and_the_data_stays(engine):
    d, older, newer = _linked(engine)
    _edit(engine.data.db_path)
    before = fingerprint(engine.data.db_path)
    r = run_cli("backup", "delete", older, "--yes", data_dir=d)
    assert r.returncode == 0, r.stderr
    assert "a second name of your live database" in r.stdout
    assert not (engine.store.folder / f"{older}.db").exists()
    assert not (engine.store.folder / f"{older}.json").exists()
    assert (engine.store.folder / f"{newer}.db").exists()
    assert fingerprint(engine.data.db_path) == before
    assert os.stat(engine.data.db_path).st_nlink == 1
    r = run_cli("status", "--json", data_dir=d)
    assert not [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "live-is-backup"]


def test_backup_create_makes_a_real_copy_and_prune_never_takes_the_linked_name(engine):
    d, older, newer = _linked(engine)
    _edit(engine.data.db_path)
    r = run_cli("backup", "create", "--note", "real", data_dir=d)
    assert r.returncode == 0, r.stderr
    made = [p for p in engine.store.folder.glob("*.db") if p.stem not in (older, newer)]
    assert len(made) == 1 and os.stat(made[0]).st_nlink == 1
    assert not os.path.samefile(made[0], engine.data.db_path)
    assert run_cli("backup", "verify", made[0].stem, data_dir=d).returncode == 0
    # a simple retention of one day, the real backups made 2 days and 1 day ago (every day in use: days without
    # backups age nothing, FINDINGS10 W2): every real backup but the newest goes; never the live file's second
    # name (not a backup, never a candidate: deleting it loses no data, but would look like one)
    r = run_cli("settings", "--retention-policy", "simple", "--retention-days", "1", "--yes", data_dir=d)
    assert r.returncode == 0, r.stderr
    for backup_id, days in ((newer, 2), (made[0].stem, 1)):
        manifest = engine.store.folder / f"{backup_id}.json"
        body = json.loads(manifest.read_text())
        body["created_at"] = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
        manifest.write_text(json.dumps(body))
    gone = Engine(d).prune()
    assert [g.id for g in gone] == [newer]
    assert os.path.samefile(engine.store.folder / f"{older}.db", engine.data.db_path)
    assert (engine.store.folder / f"{older}.json").exists() and made[0].exists()


def test_the_launch_and_db_check_say_it(engine):
    d, older, newer = _linked(engine)
    r = run_cli("db", "migrate", data_dir=d)
    assert r.returncode == 0, r.stderr
    assert f"is the same file as the backup {older}" in r.stderr
    r = run_cli("db", "check", data_dir=d)
    assert r.returncode == 0, r.stderr  # the data itself is sound
    assert f"is the same file as the backup {older}" in r.stderr
    assert f"jobmatcher --data-dir {d} backup create" in r.stderr


def test_the_page_shows_it_in_the_status_and_beside_the_list(engine):
    d, older, newer = _linked(engine)
    api = Api(Engine(d), mode="window")
    try:
        api._begin_launch()
        api._wait_launched(30)
        r = api._dispatch("backup_overview", [])
        assert r["ok"], r
        v = r["value"]
        assert [b["id"] for b in v["backups"]] == [newer]
        assert any(f"{older}.db is not listed: it is your live database" in s for s in v["skipped"])
        (w,) = [w for w in v["health"]["warnings"] if w["code"] == "live-is-backup"]
        assert older in w["message"] and "Back up now" in w["hint"] and "jobmatcher " not in w["hint"]
        assert v["health"]["level"] == "warn"
        r = api._dispatch("start_restore", [older])
        assert not r["ok"] and "is your live database" in r["error"]["message"]
    finally:
        api._close()


def test_a_second_name_outside_the_backup_folder_is_not_a_backup(engine, tmp_path):
    """A `cp -al` snapshot of the data folder: the live file has a second name elsewhere. Not a backup (no
    live-is-backup warning), but said as what it is since Y5: edits here change that file too (amber)."""
    engine.create_backup()
    snap = tmp_path / "snapshot"
    snap.mkdir()
    os.link(engine.data.db_path, snap / "jobmatcher.db")
    r = run_cli("status", "--json", data_dir=engine.data.root)
    j = json.loads(r.stdout)
    assert r.returncode == 0 and j["level"] == "warn", r.stdout
    assert [w["code"] for w in j["warnings"]] == ["live-shared"]
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 0 and r.stderr == ""


def test_a_restore_killed_at_its_swap_is_the_restores_not_a_warning(engine):
    """Killed after the old live file was linked into the backup folder as the safety backup, before the swap:
    the journal names that link; the next launch's recovery removes it. Not the user's link, so not warned."""
    d, older, newer = _linked(engine)
    link = engine.store.folder / f"{older}.db"
    engine.data.journal_path.write_text(
        json.dumps(
            {
                "phase": "staged",
                "label": "x",
                "safety_backup_id": older,
                "safety_path": str(link),
                "safety_linked": True,
            }
        )
    )
    r = run_cli("status", "--json", data_dir=d)
    assert not [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "live-is-backup"], r.stdout
    r = run_cli("backup", "list", data_dir=d)
    assert "live database" not in r.stderr


def test_a_second_name_the_user_chose_is_named_and_left_to_them(engine):
    """`ln jobmatcher.db backups/live-link.db`: no manifest, a name JobMatcher did not make. Named the same way,
    but `backup delete` leaves it (JobMatcher removes only names it made): the hint says to delete it by hand."""
    engine.create_backup()
    folder = engine.store.folder
    os.link(engine.data.db_path, folder / "live-link.db")
    d = engine.data.root
    r = run_cli("status", data_dir=d)
    assert r.returncode == 0 and "is the same file as the backup live-link" in r.stdout + r.stderr
    assert f"delete the file {folder / 'live-link.db'}" in r.stdout + r.stderr
    assert "backup delete live-link" not in r.stdout + r.stderr
    r = run_cli("backup", "delete", "live-link", "--yes", data_dir=d)
    assert r.returncode == 1 and "live-link.db is your live database" in r.stderr
    assert "Confirmation" not in r.stderr and "There is no backup" not in r.stderr
    assert os.path.samefile(folder / "live-link.db", engine.data.db_path)


def test_a_backup_left_in_the_previous_folder_is_named_too(engine, tmp_path):
    """The live file linked to a backup still in the previous backup folder (left there after a change of
    folder): named by status, and the way out is by hand (`backup delete` works in the current folder)."""
    older = engine.create_backup().id
    new = tmp_path / "new-backups"
    new.mkdir(mode=0o700)
    old_folder = engine.store.folder
    engine.update_settings({"backup_dir": str(new)}, confirmed=True)
    db = engine.data.db_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.link(old_folder / f"{older}.db", db)
    r = run_cli("status", "--json", data_dir=engine.data.root)
    (w,) = [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "live-is-backup"]
    assert older in w["message"] and str(old_folder) in w["message"]
    assert f"delete the file {old_folder / (older + '.db')}" in w["hint"]
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert f"{old_folder / (older + '.db')} is not listed: it is your live database" in r.stderr
    # moving the backups out of that folder leaves that name (not a backup) and says so; the folder stays listed
    r = run_cli("settings", "--move-backups", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"Not moved: {older}: {older}.db is your live database" in r.stderr
    assert (
        str(old_folder)
        in json.loads(run_cli("settings", "--json", data_dir=engine.data.root).stdout)["previous_backup_dirs"]
    )
    assert os.path.samefile(old_folder / f"{older}.db", db)


def test_a_plain_copy_at_a_folder_location_linked_as_the_live_file_is_named(engine, tmp_path):
    """A "restore by hand" from an unencrypted folder location on the same disk: `ln usb/JobMatcher/<id>/X.db`."""
    d = engine.data.root
    usb = tmp_path / "usb"
    usb.mkdir(mode=0o700)
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    made = engine.create_backup().id
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    (copy,) = [p for p in usb.rglob(f"{made}.db")]
    db = engine.data.db_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.link(copy, db)
    r = run_cli("status", "--json", data_dir=d)
    (w,) = [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "live-is-backup"]
    assert f"the copy {made} at the backup location usb" in w["message"]
    assert f"delete the file {copy}" in w["hint"]


def test_after_a_restore_the_once_linked_backup_is_listed_as_failing_its_check(engine):
    """Restoring another backup replaces the live file: the linked name keeps the replaced (edited) data, which
    its manifest does not describe. It is checked again at once: listed as failed, never as it was."""
    d, older, newer = _linked(engine)
    _edit(engine.data.db_path)
    r = run_cli("backup", "restore", newer, "--yes", data_dir=d)
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(run_cli("backup", "list", "--json", data_dir=d).stdout)}
    assert rows[older]["verified"] is False, rows[older]
    assert rows[newer]["verified"] is True
    r = run_cli("status", "--json", data_dir=d)
    assert not [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "live-is-backup"]
