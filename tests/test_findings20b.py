"""FINDINGS20, the low ones (4, 6, 7 of a fresh tester's report): each fixed, as a test with real parts (real
command-line subprocesses, real small tmpfs mounts, a real SIGKILL of a real restore) that fails before its fix."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from conftest import run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.remote import list_remote

pytestmark = pytest.mark.usefixtures("file_credentials")

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _made_in_turn(engine: Engine, n: int, kb: int = 300) -> list[str]:
    """`n` backups of a database of about `kb` KB of random bytes, each after a change (so none is the same as the
    one before); their ids, oldest first."""
    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (n INTEGER PRIMARY KEY, b BLOB)")
        conn.executemany("INSERT INTO ballast VALUES (?, ?)", [(i, os.urandom(100 << 10)) for i in range(kb // 100)])
    ids = []
    for i in range(n):
        with conn:
            conn.execute("UPDATE ballast SET b = ? WHERE n = 0", (os.urandom(100 << 10),))
            conn.execute("UPDATE user_profile SET headline = ?", (f"version {i}",))
        ids.append(engine.create_backup().id)
    conn.close()
    return ids


# -- 4: a location too small for every copy holds the newest ones, not the oldest ---------------------------------


@root_only
def test_a_location_too_small_for_every_copy_gets_the_newest_first(engine, tmpfs):
    """FINDINGS20 4: `location sync` to a drive with room for some of the copies only copied the oldest first, so
    when the drive was full the newest backups (the one wanted after losing the laptop) were the ones missing
    there. A real 1 MB tmpfs, five backups of about 300 KB, the real command line."""
    ids = _made_in_turn(engine, 5)  # made before the location: no background copy makes them one by one
    drive = tmpfs(1024)
    root = engine.data.root
    engine.release_instance_lock()
    r = run_cli("location", "add", "folder", str(drive), "--name", "usb", "--no-encrypt", "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    r = run_cli("location", "sync", "usb", data_dir=root)
    there = [c.id for c in list_remote(FolderLocation(drive))]
    assert r.returncode == 1 and "is full" in r.stderr and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    assert 0 < len(there) < len(ids), there  # the drive held some, not all
    assert sorted(there) == sorted(ids[-len(there) :]), f"the newest should be there: {there} of {ids}"
    assert ids[-1] in there


@root_only
def test_moving_backups_into_a_folder_too_small_for_them_all_moves_the_newest_first(engine, tmpfs):
    """FINDINGS20 4's kind in the other "copy what is missing" loop, `settings --move-backups`: into a new backup
    folder on a drive with room for some only, the oldest were moved first and the newest stayed behind, out of
    the folder that new backups join and that the backup locations are copied from."""
    ids = _made_in_turn(engine, 5)
    folder = tmpfs(1024) / "backups"
    folder.mkdir()
    root = engine.data.root
    engine.release_instance_lock()
    r = run_cli("settings", "--backup-dir", str(folder), "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    r = run_cli("settings", "--move-backups", "--json", data_dir=root)
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    moved = out["moves"][0]["moved"]
    assert 0 < len(moved) < len(ids), out
    assert sorted(moved) == sorted(ids[-len(moved) :]), f"the newest should have moved: {moved} of {ids}"
    assert sorted(p.stem for p in folder.glob("backup_*.db")) == sorted(moved)


def test_an_s3_location_gets_the_missing_copies_newest_first(engine, weed):
    """FINDINGS20 4 on the S3 path (the same sync loop): the copies a real S3 service (SeaweedFS) lacks are made
    newest first, as `location sync --json` reports them in the order made, so a quota reached part way, or a sync
    cut short, leaves the oldest missing, not the newest."""
    import uuid

    from jobmatcher.locations.credentials import S3Keys
    from seaweed import ACCESS_KEY, SECRET_KEY

    ids = _made_in_turn(engine, 4, kb=100)
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    engine.locations.add(
        "s3", endpoint_url=weed.endpoint, bucket=bucket, prefix="laptop", keys=S3Keys(ACCESS_KEY, SECRET_KEY),
        name="cloud", encrypt=False,
    )  # fmt: skip
    engine.release_instance_lock()
    r = run_cli("location", "sync", "cloud", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    [result] = json.loads(r.stdout)
    assert result["copied"] == ids[::-1], result
