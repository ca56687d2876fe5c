"""X7: the backup folder on a drive of its own (a USB disk) unplugged or failing while an operation reads it: the
words name the backup folder and the drive holding the backups, and what to do (plug it back in, check the
drive), never the data folder; the live data is untouched.

Real mounts: the drive is a tmpfs bind-mounted at the folder the user chose, unplugged by a lazy unmount in the
middle of the restore (as pulling the cable: the files already open stay readable, the folder is gone); a
failing drive is badreadfs (tests/badreadfs.py, FUSE: reads of the backup files fail with EIO from an offset).
Root only; skipped cleanly otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import JobMatcherError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def _ballast(engine: Engine, mb: int) -> None:
    conn = engine.connect()
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (x BLOB)")
        conn.execute("INSERT INTO ballast VALUES (randomblob(?))", (mb * 1024 * 1024,))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def usb(tmp_path, tmpfs):
    """The backup folder on a drive of its own: a tmpfs bind-mounted at `usb`; yields `usb`."""
    drive = tmpfs(100_000)
    media = tmp_path / "usb"
    media.mkdir()
    subprocess.run(["mount", "--bind", str(drive), str(media)], check=True)
    yield media
    subprocess.run(["umount", "-l", str(media)], capture_output=True)


def _assert_backup_folder_words(e: JobMatcherError, folder: Path) -> None:
    said = f"{e.message} {e.hint} {e.page_hint or ''}"
    assert str(folder) in e.message and "backup" in e.message, said
    assert "data folder" not in said and "free space" not in said, said
    assert "Plug the drive back in" in e.hint or "plug it back in" in e.hint, said
    assert "Your data was not changed" in e.message, said


@pytest.mark.parametrize("phase", ["check", "safety", "copy"])
def test_a_restore_whose_backup_drive_is_unplugged_names_the_backup_folder(engine, usb, phase):
    """The drive unplugged while the backup is checked, while the safety backup is made (the source is read only
    after) or while it is copied: either it goes on from the files already open (a lazy unmount keeps them) and
    succeeds, or it fails naming the backup folder's drive. Before: 'The file … does not exist. Check the name',
    or '… No such file or directory … Check free space and permissions in the data folder'."""
    engine.update_settings({"backup_dir": str(usb)})
    _ballast(engine, 20)
    b = engine.create_backup()
    _ballast(engine, 1)  # the live data differs from the backup
    before = fingerprint(engine.data.db_path)
    done = []

    def progress(name, n, total, unit):
        if name == phase and not done:
            done.append(name)
            subprocess.run(["umount", "-l", str(usb)], check=True)

    try:
        engine.restore(b.id, progress=progress)
    except JobMatcherError as e:
        assert done
        _assert_backup_folder_words(e, usb)
        assert fingerprint(engine.data.db_path) == before
    else:
        assert phase == "copy"  # the file was open already: read to its end, proven by its checksum


@pytest.fixture
def failing_usb(tmp_path):
    """A backup folder on a drive whose backup files become unreadable (EIO) 1 MB in; yields (folder, fail), where
    fail() makes them so (the folder is served again by badreadfs with the bad stretch)."""
    from powerloss import unavailable
    from test_check_child import FailingDisk

    why = unavailable()
    if why:
        pytest.skip(why)
    disk = FailingDisk(tmp_path)
    folder = disk.folder("no such name", 0)

    def fail() -> None:
        disk.stop()
        disk.folder("backup_*.db", 1024 * 1024)

    yield folder, fail
    disk.stop()


def test_a_restore_whose_backup_drive_fails_mid_copy_names_the_backup_drive(engine, failing_usb):
    """A read error (EIO) while the backup is copied next to the live file: before, 'Could not finish restoring
    (.): Input/output error … Check free space and permissions in the data folder'."""
    folder, fail = failing_usb
    engine.update_settings({"backup_dir": str(folder)})
    _ballast(engine, 3)
    b = engine.create_backup()
    _ballast(engine, 1)
    before = fingerprint(engine.data.db_path)
    fail()
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    err = r.stderr
    assert f"your backup folder {folder}" in err and "could not be read" in err, err
    assert "Input/output error" in err and "data folder" not in err and "(.)" not in err, err
    assert "Check that drive (plug it back in if it was unplugged)" in err, err
    assert fingerprint(engine.data.db_path) == before
    r = run_cli("backup", "restore", b.id, "--yes", "--json", data_dir=engine.data.root)
    answer = json.loads(r.stdout)
    assert r.returncode == 1 and answer["cause"] == "backup-unreadable" and answer["recovered"] is True, r.stdout


def test_moving_backups_off_a_failing_drive_names_that_drive_not_the_new_folder(engine, failing_usb, tmp_path):
    """X7's kind in `settings --move-backups`: a backup of the previous folder unreadable (its drive failing)
    was said as 'Could not finish moving the backup (NEW FOLDER): Input/output error', blaming the new folder.
    It names the previous folder's drive; the backups stay where they are."""
    folder, fail = failing_usb
    engine.update_settings({"backup_dir": str(folder)})
    _ballast(engine, 3)
    b = engine.create_backup()
    fail()
    new = tmp_path / "new-folder"
    new.mkdir()
    engine.update_settings({"backup_dir": str(new)})
    r = run_cli("settings", "--move-backups", "--yes", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert f"could not be read from the previous backup folder {folder} (Input/output error)" in out, out
    assert "drive holding it may have been unplugged, or be failing" in out and f"({new})" not in out, out
    assert (folder / f"{b.id}.db").exists()  # left where it was


@pytest.mark.parametrize("encrypt", [False, True])
def test_a_copy_to_a_location_from_a_failing_backup_drive_names_that_drive_not_the_location(
    engine, failing_usb, tmp_path, locked_identity, file_credentials, encrypt
):
    """X7's kind in copies to a backup location: a backup unreadable on the backup folder's drive was said as
    'The backup location … is not available: it went away during the copy (Input/output error)', sending the
    user to the location's drive. It names the backup folder's drive; the location is left clean."""
    from conftest import LOCATION_PASSPHRASE, prime
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    folder, fail = failing_usb
    engine.update_settings({"backup_dir": str(folder)})
    place = tmp_path / "location"
    place.mkdir()
    if encrypt:
        prime(engine, locked_identity)
        engine.locations.add("folder", path=str(place), name="usb2", passphrase=LOCATION_PASSPHRASE)
    else:
        engine.locations.add("folder", path=str(place), name="usb2", encrypt=False)
    _ballast(engine, 3)
    b = engine.create_backup()
    fail()
    [r] = engine.locations.sync()
    assert r.error_code != "location-unavailable" and b.id not in r.copied, r
    assert f"could not be read from your backup folder {folder}" in r.error, r.error
    assert "drive holding your backups" in r.error and "went away" not in r.error, r.error
    assert list_remote(FolderLocation(place)) == []
    # nothing of the copy there (the key file of an encrypted location is not a copy)
    left = [p.name for p in place.rglob("*") if p.is_file() and p.name != "identity.age"]
    assert not [n for n in left if n.endswith((".db", ".age")) or n.endswith(".part")], left
