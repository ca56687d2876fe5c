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
