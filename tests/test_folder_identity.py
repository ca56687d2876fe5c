"""Findings of FINDINGS11 about which data folder is which, taken by fixid11 (X11, X20, X26, X22): real files, the
real command line in a subprocess; a second "computer" is a second data folder with the same id and a home (and
so a configuration folder) of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.engine import Engine

pytestmark = pytest.mark.usefixtures("file_credentials")


def _ok(r) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


# -- X11: an id file that cannot be read is not "no id" ------------------------------------------------------------


def test_a_damaged_id_file_takes_the_id_back_from_the_backups(engine: Engine, usb: Path):
    data = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    for _ in range(3):
        engine.create_backup()
    assert not engine.locations.sync()[0].error
    fid = engine.data.folder_id(create=False)
    assert fid and [p.name for p in (usb / "JobMatcher").iterdir()] == [fid]
    damaged = json.dumps({"id": "not-hex", "path": str(data)}).encode()  # a sync tool, a disk error, an edit
    (data / ".jobmatcher-folder-id").write_bytes(damaged)

    out = _ok(run_cli("status", data_dir=data))
    assert "cannot be read" in out and "takes the id back" in out, out  # said before anything is written
    assert (data / ".jobmatcher-folder-id").read_bytes() == damaged  # status changes nothing

    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    assert json.loads((data / ".jobmatcher-folder-id").read_bytes())["id"] == fid
    assert (data / ".jobmatcher-folder-id.damaged").read_bytes() == damaged  # kept aside, not overwritten
    assert [p.name for p in (usb / "JobMatcher").iterdir()] == [fid]  # no second chain at the location
    listing = _ok(run_cli("backup", "list", data_dir=data))
    assert "other data folders" not in listing, listing
    assert len(engine.store.list()) == 4 and all(r.data_folder_id == fid for r in engine.store.list())
    out = _ok(run_cli("status", data_dir=data))
    assert "took the id back from the backup" in out and ".jobmatcher-folder-id.damaged" in out, out


def test_a_damaged_id_file_keeps_the_take_over_that_is_still_legible(engine: Engine):
    engine.create_backup()
    fid = engine.data.folder_id(create=False)
    assert fid
    engine.data.adopt_folder_id(fid, sequence_after=7, generation=3)
    path = engine.data.folder_id_path
    body = json.loads(path.read_bytes())
    path.write_bytes(path.read_bytes().replace(b'"id"', b'"i\xffd"'))  # one damaged character
    assert engine.data.folder_id() == fid
    assert engine.data.adoption() == (3, body["adoption"])
    assert engine.data.sequence_floor() == 7
    assert engine.data.adopted_at() is not None


def test_a_damaged_id_file_with_no_backup_to_tell_gets_a_new_id_and_says_so(engine: Engine, data_dir: Path):
    (data_dir / ".jobmatcher-folder-id").write_bytes(b'{"id": "0123')  # cut short
    out = _ok(run_cli("backup", "create", data_dir=data_dir))
    fid = json.loads((data_dir / ".jobmatcher-folder-id").read_bytes())["id"]
    assert len(fid) == 32
    assert (data_dir / ".jobmatcher-folder-id.damaged").read_bytes() == b'{"id": "0123'
    out = _ok(run_cli("status", data_dir=data_dir))
    assert "no backup named its id" in out and "got a new one" in out, out


def test_a_backup_folder_shared_by_several_data_folders_gives_no_id_back(engine: Engine, tmp_path: Path):
    """A chosen backup folder holding two data folders' backups: whose they are is not known, so no id is taken
    from there (taking another's would make two data folders one chain)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    _ok(run_cli("settings", "--backup-dir", str(shared), "--yes", data_dir=engine.data.root))
    other = tmp_path / "other"
    _ok(run_cli("backup", "create", data_dir=engine.data.root))
    _ok(run_cli("db", "migrate", data_dir=other))
    _ok(run_cli("settings", "--backup-dir", str(shared), "--yes", data_dir=other))
    _ok(run_cli("backup", "create", data_dir=other))
    mine = json.loads(engine.data.folder_id_path.read_bytes())["id"]
    engine.data.folder_id_path.write_bytes(b"garbage")
    new = Engine(engine.data.root).data.folder_id()
    assert new and new != mine and new != json.loads((other / ".jobmatcher-folder-id").read_bytes())["id"]


# -- X20: a data folder copied to another computer does not write the same chain silently --------------------------


def _edit(data: Path, text: str) -> None:
    import sqlite3

    conn = sqlite3.connect(data / "jobmatcher.db")
    with conn:
        conn.execute("insert into skills(name) values (?)", (text,))
    conn.close()


def test_a_data_folder_copied_to_another_computer_is_refused_at_the_location(engine: Engine, usb: Path, tmp_path):
    """The tester's case: the data folder copied to a new computer at the same path (here: moved aside and the
    copy put in its place while the "new computer" runs, with a configuration folder of its own)."""
    import shutil

    data = engine.data.root
    _ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    fid = engine.data.folder_id(create=False)
    ns = usb / "JobMatcher" / str(fid)
    assert (ns / "computer.json").is_file()  # the first computer to copy records itself

    laptop = tmp_path / "laptop-data"
    shutil.copytree(data, laptop, symlinks=True)  # the old laptop keeps its data folder; the new gets a copy
    _edit(data, "old-laptop-edit")
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    there = sorted(p.name for p in ns.iterdir())

    data.rename(tmp_path / "old-aside")  # the new computer: the copy at the same path
    laptop.rename(data)
    new_computer = {"JOBMATCHER_CONFIG_DIR": str(tmp_path / "new-computer-config"), "JOBMATCHER_TEST_MACHINE_ID": "new"}
    _edit(data, "new-laptop-edit")
    _ok(run_cli("backup", "create", data_dir=data, env=new_computer))
    r = run_cli("location", "sync", data_dir=data, env=new_computer)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Another computer copies this data folder's backups to" in r.stderr, r.stderr
    assert "computer.json" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in ns.iterdir()) == there  # nothing written or deleted there
    status = run_cli("status", data_dir=data, env=new_computer)
    assert "Another computer copies" in status.stdout + status.stderr

    # the way out the words give: this computer replaces the other; the other is then refused in turn
    (ns / "computer.json").unlink()
    _ok(run_cli("location", "sync", data_dir=data, env=new_computer))
    data.rename(tmp_path / "new-aside")
    (tmp_path / "old-aside").rename(data)
    _ok(run_cli("backup", "create", data_dir=data))
    r = run_cli("location", "sync", data_dir=data)
    assert r.returncode == 1 and "Another computer copies" in r.stderr, r.stdout + r.stderr


def test_the_same_computer_moving_its_data_folder_copies_on(engine: Engine, usb: Path, tmp_path):
    data = engine.data.root
    _ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    moved = tmp_path / "moved"
    data.rename(moved)
    _ok(run_cli("backup", "create", data_dir=moved))
    _ok(run_cli("location", "sync", data_dir=moved))


def test_the_same_computer_with_a_fresh_configuration_folder_is_still_the_same_computer(
    engine: Engine, usb: Path, tmp_path
):
    """Y8: a cleared ~/.config/JobMatcher (or another HOME) on the same machine is not "another computer"."""
    data = engine.data.root
    _ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    fresh = {"JOBMATCHER_CONFIG_DIR": str(tmp_path / "fresh-config"), "HOME": str(tmp_path / "fresh-home")}
    _ok(run_cli("backup", "create", data_dir=data, env=fresh))
    _ok(run_cli("location", "sync", data_dir=data, env=fresh))


def test_a_disaster_recovery_on_another_computer_takes_the_record_over(engine: Engine, usb: Path, tmp_path):
    """The new computer of a disaster recovery is another computer too: its take-over records it, and the lost
    laptop is refused (by the take-over) as before."""
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    data = engine.data.root
    _ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    first = list_remote(FolderLocation(usb))[0].id
    new = tmp_path / "new"
    env = {"JOBMATCHER_CONFIG_DIR": str(tmp_path / "new-computer-config"), "JOBMATCHER_TEST_MACHINE_ID": "new"}
    _ok(run_cli("backup", "restore", first, "--from-folder", str(usb), "--yes", data_dir=new, env=env))
    _ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=new, env=env))
    _ok(run_cli("backup", "create", data_dir=new, env=env))
    _ok(run_cli("location", "sync", data_dir=new, env=env))
    _ok(run_cli("backup", "create", data_dir=data))
    r = run_cli("location", "sync", data_dir=data)
    assert r.returncode == 1 and "Another computer continues this data folder's copies" in r.stderr, r.stderr


# -- X22: a folder location on the data's own disk is said so, and not counted as another copy ---------------------


def test_a_folder_location_on_the_same_disk_is_said_and_not_counted(engine: Engine, usb: Path):
    import os

    data = engine.data.root
    assert os.stat(usb).st_dev == os.stat(data).st_dev  # both in the test's temp folder: the tester's case
    r = _ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    assert "is on the same disk as your data" in r and "not against a failed or stolen disk" in r, r
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    out = _ok(run_cli("status", data_dir=data))
    assert "1 copy: this disk ✓ · usb ✓ just now (same disk)" in out, out
    assert "2 copies" not in out
    assert "same disk as your data" in _ok(run_cli("location", "list", data_dir=data))


def test_a_folder_location_on_another_disk_is_counted(engine: Engine, tmpfs):
    drive = tmpfs(4096)
    data = engine.data.root
    r = _ok(run_cli("location", "add", "folder", str(drive), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    assert "same disk" not in r
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    out = _ok(run_cli("status", data_dir=data))
    assert "2 copies: this disk ✓ · usb ✓" in out, out


# -- X26: a drive back under another mount point is not added as a second location ---------------------------------


def test_a_drive_back_under_another_mount_point_is_not_a_second_location(engine: Engine, tmp_path: Path):
    data = engine.data.root
    lab1, lab2 = tmp_path / "lab1", tmp_path / "lab2"
    lab1.mkdir()
    _ok(run_cli("location", "add", "folder", str(lab1), "--name", "usb", "--no-encrypt", "--yes", data_dir=data))
    _ok(run_cli("backup", "create", data_dir=data))
    _ok(run_cli("location", "sync", data_dir=data))
    lab1.rename(lab2)  # the same drive mounted elsewhere
    before = {str(p.relative_to(lab2)): p.read_bytes() for p in lab2.rglob("*") if p.is_file()}
    config = (data / "locations.json").read_bytes()
    r = run_cli("location", "add", "folder", str(lab2), "--name", "usb2", "--no-encrypt", "--yes", data_dir=data)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"is the drive (or folder) of your location 'usb', last seen at {lab1}" in r.stderr, r.stderr
    assert f"jobmatcher --data-dir {data} location set 'usb' --path {lab2}" in r.stderr and "Traceback" not in r.stderr
    assert (data / "locations.json").read_bytes() == config
    assert {str(p.relative_to(lab2)): p.read_bytes() for p in lab2.rglob("*") if p.is_file()} == before
    # the way the words give (X26: before, remove it and add it again): point the location at its new place
    out = _ok(run_cli("location", "set", "usb", "--path", str(lab2), data_dir=data))
    assert "the same drive (or folder) as before, holding 1 copy" in out, out
    out = _ok(run_cli("location", "list", data_dir=data))
    assert "copies:       1" in out and "0 pending" in out and str(lab2) in out, out
