"""X26: a folder location's drive mounted at another place is pointed there (`jobmatcher location set NAME --path
NEWPATH`, the page's Change folder…). The new folder must be the location's own drive, hold this data folder's
copies, or hold none (said which); refused, with nothing changed anywhere: another data folder's copies, another
key for this data folder, another location's folder, an S3 location. Nothing at the old path is touched.

Real parts: real data folders, real folder locations, the real command line in subprocesses.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import file_tree, prime, run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.config import LocationConfig, load_config, save_config
from jobmatcher.locations.manager import folder_id_of

pytestmark = pytest.mark.usefixtures("file_credentials")


@pytest.fixture
def primed(engine, locked_identity) -> Engine:
    prime(engine, locked_identity)
    return engine


def _ok(r) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _copied(engine: Engine, where: Path, name: str = "USB") -> Engine:
    engine.locations.add("folder", path=str(where), name=name)
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    return engine


def test_the_drive_mounted_elsewhere_is_pointed_at_and_nothing_at_the_old_path_changes(primed, tmp_path):
    engine = primed
    old, new = tmp_path / "media-USB", tmp_path / "media-USB1"
    old.mkdir()
    _copied(engine, old)
    old.rename(new)  # the same drive, mounted elsewhere
    old.mkdir()  # what an unplugged drive leaves: an empty folder at the old mount point, with a file of someone's
    (old / "theirs.txt").write_text("not ours")
    before_old, before_new = file_tree(old), file_tree(new)
    out = _ok(run_cli("location", "set", "USB", "--path", str(new), data_dir=engine.data.root))
    assert f"'USB' now copies to {new}, the same drive (or folder) as before, holding 1 copy" in out, out
    assert f"Nothing was deleted or changed at {old}" in out
    assert file_tree(old) == before_old
    [loc] = load_config(engine.data.root).locations
    assert loc.path == str(new)
    listed = _ok(run_cli("location", "list", data_dir=engine.data.root))
    assert "copies:       1" in listed and "0 pending" in listed and "NOT reachable" not in listed, listed
    # copies go on there: one list, the old copy joined by the new
    engine.create_backup()
    assert not any(r.error for r in Engine(engine.data.root).locations.sync())
    assert len(list(new.rglob("*.db.age"))) == 2
    assert {k: v for k, v in file_tree(new).items() if k in before_new} == before_new  # only added to
    assert file_tree(old) == before_old


def test_an_empty_folder_is_a_new_place_and_a_folder_with_this_data_folders_copies_joins(primed, tmp_path):
    engine = primed
    first, empty, copied = tmp_path / "first", tmp_path / "empty", tmp_path / "copied"
    first.mkdir()
    empty.mkdir()
    _copied(engine, first)
    before = file_tree(first)
    out = _ok(run_cli("location", "set", "USB", "--path", str(empty), data_dir=engine.data.root))
    assert "a folder with no copies of this data folder yet: the next sync copies your backups there" in out, out
    assert not any(r.error for r in Engine(engine.data.root).locations.sync())
    assert len(list(empty.rglob("*.db.age"))) == 1
    assert file_tree(first) == before
    # this data folder's copies carried to another folder by hand (without the drive's marker): they join it
    shutil.copytree(first / "JobMatcher", copied / "JobMatcher")
    out = _ok(run_cli("location", "set", "USB", "--path", str(copied), data_dir=engine.data.root))
    assert "a folder holding 1 copy of this data folder's backups: they join it" in out, out
    assert file_tree(first) == before


def test_refused_with_nothing_changed_anywhere(primed, tmp_path, locked_identity):
    engine = primed
    usb, other, second = tmp_path / "usb", tmp_path / "other", tmp_path / "second"
    for d in (usb, other, second):
        d.mkdir()
    _copied(engine, usb)
    engine.locations.add("folder", path=str(second), name="Second")
    # another data folder's copies (plain: no key needed)
    stranger = Engine(tmp_path / "stranger")
    stranger.migrate()
    stranger.locations.add("folder", path=str(other), name="theirs", encrypt=False)
    stranger.create_backup()
    stranger.locations.sync()
    # an S3 location, as configured (no server needed: refused before anything is contacted)
    cfg = load_config(engine.data.root)
    cfg.locations.append(
        LocationConfig(
            id="s3loc",
            name="Cloud",
            kind="s3",
            bucket="b-jm",
            endpoint_url="https://s3.example.com",
            added_at=datetime.now(timezone.utc),
        )
    )
    save_config(engine.data.root, cfg)
    # this data folder's namespace with another key in it
    fid = folder_id_of(engine.data)
    forged = tmp_path / "forged"
    (forged / "JobMatcher" / fid).mkdir(parents=True)
    (forged / "JobMatcher" / fid / "identity.age").write_bytes(
        (engine.data.root / "location-identity.age").read_bytes().replace(b"scrypt", b"scrypt", 1)[:-3] + b"xyz"
    )
    config = (engine.data.root / "locations.json").read_bytes()
    trees = {p: file_tree(p) for p in (usb, other, second, forged)}
    cases = [
        (["USB", "--path", str(other)], "holds the copies of another data folder"),
        (["Cloud", "--path", str(tmp_path / "x")], "is S3 storage, not a folder"),
        (["USB", "--path", str(second)], "is already the location 'Second'"),
        (["USB", "--path", str(tmp_path / "nowhere")], "does not exist"),
        (["USB", "--path", str(usb)], "already at"),
        (["USB", "--path", str(forged)], "already holds another encryption key"),
    ]
    for args, said in cases:
        r = run_cli("location", "set", *args, data_dir=engine.data.root)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert said in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert (engine.data.root / "locations.json").read_bytes() == config
        assert {p: file_tree(p) for p in trees} == trees, args
    # the folder of another location, seen by its marker (Second's drive mounted elsewhere)
    moved = tmp_path / "second-moved"
    second.rename(moved)
    r = run_cli("location", "set", "USB", "--path", str(moved), data_dir=engine.data.root)
    assert r.returncode == 1 and "is the folder (or drive) of your location 'Second'" in r.stderr, r.stderr
    # nothing to change is a usage error
    r = run_cli("location", "set", "USB", data_dir=engine.data.root)
    assert r.returncode == 2 and "--path" in r.stderr


def test_the_page_changes_a_locations_folder(primed, tmp_path):
    from jobmatcher.api import Api

    engine = primed
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    _copied(engine, old)
    old.rename(new)
    api = Api(Engine(engine.data.root), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        r = api._dispatch("set_location_path", ["USB", str(new)])
        assert r["ok"], r
        assert r["value"]["found"] == "same-drive" and r["value"]["copies"] == 1 and r["value"]["where"] == str(new)
        [row] = api._dispatch("locations_overview", [])["value"]["locations"]
        assert row["where"] == str(new) and not row["problem"]
    finally:
        api._close()
