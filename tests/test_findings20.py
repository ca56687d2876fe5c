"""FINDINGS20 (a tester's report): 1 and 8, each fixed as a test that fails before its fix (real files, real
command-line processes, a real S3 server; no mocks)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from conftest import file_tree, profile_name, run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.credentials import S3Keys
from seaweed import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.usefixtures("file_credentials")

S3_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
MARKER = ".jobmatcher-location"


def _copied(engine: Engine, usb: Path) -> str:
    """A folder location 'usb' at `usb` holding one copy of a backup of `engine`'s data; the copy's id."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    made = engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    assert (usb / MARKER).is_file()
    return made.id


def _clean(r) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out and r.returncode in (0, 1), out
    return out


# -- 1: a location's folder whose marker is lost (copied without hidden files, a sync tool skipping dotfiles) ------


def test_a_folder_whose_marker_is_lost_still_lists_and_restores_its_copies(engine, usb, tmp_path):
    """FINDINGS20 1: `backup list --from-folder` of a location's folder whose marker was left out said "No copies"
    and a restore said there were none, "is the drive plugged in?": a circle, the copies there all the while. Now
    the copies are listed and restored (their manifests say what they are, each proven by its checksums), and the
    folder inside it or above it is answered with the place to give."""
    copy_id = _copied(engine, usb)
    drive = tmp_path / "drive"
    drive.mkdir()
    shutil.copytree(usb, drive / "JobMatcherCopies", ignore=shutil.ignore_patterns(".*"))  # what a sync tool leaves
    place = drive / "JobMatcherCopies"
    assert not (place / MARKER).exists() and (place / "JobMatcher").is_dir()
    before = file_tree(place)

    new = tmp_path / "new"
    r = run_cli("backup", "list", "--from-folder", str(place), data_dir=new)
    assert r.returncode == 0 and copy_id in r.stdout and "No copies" not in r.stdout, _clean(r)
    r = run_cli("backup", "list", "--from-folder", str(place), "--json", data_dir=new)
    assert [c["id"] for c in json.loads(r.stdout)] == [copy_id], _clean(r)
    # the folder inside it, or the drive above it: the place to give instead, not "No copies"
    r = run_cli("backup", "list", "--from-folder", str(place / "JobMatcher"), data_dir=new)
    assert r.returncode == 1 and f"Give {place} instead" in r.stderr, _clean(r)
    r = run_cli("backup", "list", "--from-folder", str(drive), data_dir=new)
    assert r.returncode == 1 and f"Give {place} instead" in r.stderr, _clean(r)

    r = run_cli("backup", "restore", copy_id, "--from-folder", str(place), "--yes", data_dir=new)
    assert r.returncode == 0, _clean(r)
    assert profile_name(new) == "Ada Lovelace"
    assert file_tree(place) == before and not (place / MARKER).exists()  # only read there

    # a folder with neither marker nor copies still has none (and says so, as before)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("backup", "list", "--from-folder", str(empty), data_dir=tmp_path / "new2")
    assert r.returncode == 0 and "No copies at" in r.stdout, _clean(r)


def test_a_configured_location_whose_marker_is_lost_says_what_to_do_and_writes_nothing(engine, usb):
    """FINDINGS20 1: a configured location whose folder holds its copies but lost its marker was "may be the empty
    folder an unplugged drive leaves behind … plug in the drive", "retried … when it is back" (it never comes back
    by itself), and the recovery said "No copies". Now every command says the copies are there and the marker
    missing, and the one step that writes it again (`location set NAME --path` the same folder, after checking the
    copies are this data folder's); until then nothing is written or deleted there, and its copies still list."""
    root = engine.data.root
    copy_id = _copied(engine, usb)
    (usb / MARKER).unlink()
    Engine(root).create_backup()  # one copy waiting: a sync that passed the check would write it
    before = file_tree(usb)
    fix = f"location set usb --path {usb}"

    r = run_cli("location", "sync", data_dir=root)
    out = _clean(r)
    assert r.returncode == 1 and "holds JobMatcher copies" in out and MARKER in out and fix in out, out
    assert "empty folder an unplugged drive" not in out
    r = run_cli("location", "list", data_dir=root)
    out = _clean(r)
    assert "holds JobMatcher copies" in out and "to fix:" in out and fix in out, out
    r = run_cli("status", data_dir=root)
    out = _clean(r)
    assert r.returncode == 1 and fix in out and "retried" not in out, out  # red: it does not pass by itself
    r = run_cli("status", "--json", data_dir=root)
    codes = [w["code"] for w in json.loads(r.stdout)["warnings"]]
    assert "location-marker-missing" in codes, r.stdout
    r = run_cli("backup", "list", "--location", "usb", data_dir=root)
    assert r.returncode == 0 and copy_id in r.stdout, _clean(r)
    assert file_tree(usb) == before  # nothing written, nothing deleted there

    # the way out it names: the marker written again, then the copies caught up
    r = run_cli("location", "set", "usb", "--path", str(usb), data_dir=root)
    assert r.returncode == 0 and "marker" in r.stdout, _clean(r)
    marker = json.loads((usb / MARKER).read_bytes())
    assert json.loads((root / "locations.json").read_text())["locations"][0]["marker_id"] == marker["id"]
    r = run_cli("location", "sync", data_dir=root)
    assert r.returncode == 0 and "copied 1" in r.stdout, _clean(r)
    r = run_cli("location", "set", "usb", "--path", str(usb), data_dir=root)  # with its marker: nothing to change
    assert r.returncode == 1 and "nothing to change" in r.stderr, _clean(r)


def test_the_same_folder_is_not_marked_again_without_this_data_folders_copies(engine, usb, tmp_path):
    """FINDINGS20 1, the safety kept: `location set NAME --path` its own folder writes the marker again only beside
    this data folder's copies. An empty folder (an unplugged drive's mount point) keeps its words and is refused;
    so is a folder holding only another data folder's copies. Nothing is written there."""
    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.release_instance_lock()
    other = Engine(tmp_path / "other")
    other.migrate()
    other.locations.add("folder", path=str(usb), name="shared", encrypt=False)
    other.create_backup()
    assert not any(r.error for r in other.locations.sync())
    other.release_instance_lock()
    (usb / MARKER).unlink()
    before = file_tree(usb)
    r = run_cli("location", "set", "usb", "--path", str(usb), data_dir=root)
    out = _clean(r)
    assert r.returncode == 1 and "none of this data folder's" in out and "Nothing was changed" in out, out
    assert file_tree(usb) == before and not (usb / MARKER).exists()

    empty = tmp_path / "mnt"
    empty.mkdir()
    cfg = root / "locations.json"
    cfg.write_text(cfg.read_text().replace(json.dumps(str(usb)), json.dumps(str(empty))))
    r = run_cli("location", "sync", data_dir=root)
    out = _clean(r)
    assert r.returncode == 1 and "empty folder an unplugged drive leaves behind" in out, out
    r = run_cli("location", "set", "usb", "--path", str(empty), data_dir=root)
    assert r.returncode == 1 and "nothing to change" in r.stderr, _clean(r)
    assert os.listdir(empty) == []


def test_s3_storage_whose_marker_is_lost_lists_its_copies_and_says_so(engine, weed, tmp_path):
    """FINDINGS20 1 at S3 storage: its marker gone, `backup list --from-s3` said "No copies" and a configured one
    "is not the place the copies were written to". Now its copies are listed, and the location says the marker
    is missing beside them, with the way out (remove and add the same place again); nothing is written there."""
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    engine.locations.add(
        "s3",
        name="cloud",
        bucket=bucket,
        prefix="p",
        endpoint_url=weed.endpoint,
        keys=S3Keys(ACCESS_KEY, SECRET_KEY),
        encrypt=False,
    )
    made = engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    s3 = weed.client()
    s3.delete_object(Bucket=bucket, Key=f"p/{MARKER}")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])

    src = ["--from-s3", f"s3://{bucket}/p", "--endpoint-url", weed.endpoint]
    r = run_cli("backup", "list", *src, data_dir=tmp_path / "new", env=S3_ENV)
    assert r.returncode == 0 and made.id in r.stdout, _clean(r)
    r = run_cli("location", "sync", data_dir=engine.data.root)
    out = _clean(r)
    assert r.returncode == 1 and "holds JobMatcher copies" in out and "add the same bucket and prefix" in out, out
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == keys  # nothing written


# -- 8: a folder at a copy's file name; `location remove` confirms as the other commands do ------------------------


def test_a_folder_at_a_copys_file_name_is_said_as_a_pipe_there_is(engine, usb):
    """FINDINGS20 8: a pipe or a link at a copy's manifest name is said ("is not listed: its manifest there is not
    a file JobMatcher wrote"), a folder there was left out without a word, and so was a copy whose data file's name
    holds a folder. Now both are said."""
    copy_id = _copied(engine, usb)
    (space,) = (usb / "JobMatcher").iterdir()
    manifest, data = space / f"{copy_id}.json", space / f"{copy_id}.db"
    kept = manifest.read_bytes()
    manifest.unlink()
    manifest.mkdir()
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=engine.data.root)
    assert f"{copy_id} at {usb} is not listed: its manifest there is a folder" in r.stderr, _clean(r)
    manifest.rmdir()
    manifest.write_bytes(kept)
    data.unlink()
    data.mkdir()
    for source in (["--from-folder", str(usb)], ["--location", "usb"]):
        r = run_cli("backup", "list", *source, data_dir=engine.data.root)
        assert f"{copy_id} at {usb} is not listed: a folder is at its data file's name" in r.stderr, _clean(r)


def test_location_remove_asks_as_other_commands_do_and_takes_yes(engine, usb):
    """FINDINGS20 8: `location remove` took no --yes while other confirming commands do (and the page asks before
    it removes). Now it asks on a terminal; a script without --yes is refused with nothing changed."""
    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.release_instance_lock()
    cfg = (root / "locations.json").read_bytes()
    r = run_cli("location", "remove", "usb", data_dir=root, input="")
    out = _clean(r)
    assert r.returncode == 1 and "--yes" in out, out
    assert (root / "locations.json").read_bytes() == cfg
    r = run_cli("location", "remove", "usb", "--yes", data_dir=root)
    assert r.returncode == 0 and "Removed the location 'usb'" in r.stdout, _clean(r)
    assert json.loads((root / "locations.json").read_text())["locations"] == []
