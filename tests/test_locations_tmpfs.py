"""Folder locations on real mounts: a drive unplugged in the middle of a copy, full, read-only, and the
empty folder an unplugged drive leaves behind.

The "drive" is a tmpfs the test mounts; the folder the user chose is a bind mount of it, so
unplugging (unmounting the folder) keeps the drive's content for when it is plugged in again.
Root only (mount); skipped cleanly otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.remote import list_remote

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


class Drive:
    def __init__(self, root: Path, size: str) -> None:
        self.device = root / "drive"  # the drive's own file system
        self.folder = root / "usb"  # where the user sees it (the location's path)
        self.device.mkdir()
        self.folder.mkdir()
        _sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.device))
        self.plug()

    def plug(self) -> None:
        _sh("mount", "--bind", str(self.device), str(self.folder))

    def unplug(self, lazy: bool = False) -> None:
        _sh("umount", *(["-l"] if lazy else []), str(self.folder))

    def read_only(self) -> None:
        _sh("mount", "-o", "remount,bind,ro", str(self.folder))

    def close(self) -> None:
        for p in (self.folder, self.device):
            subprocess.run(["umount", "-l", str(p)], capture_output=True, timeout=30)
            subprocess.run(["umount", "-l", str(p)], capture_output=True, timeout=30)


@pytest.fixture
def drive(tmp_path):
    d = Drive(tmp_path, "8m")
    yield d
    d.close()


@pytest.fixture
def small_drive(tmp_path):
    d = Drive(tmp_path, "1m")
    yield d
    d.close()


def _ballast(engine: Engine, mb: int) -> None:
    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")
        conn.executemany("INSERT INTO ballast VALUES (?)", [(os.urandom(1 << 20),) for _ in range(mb)])
    conn.close()


def _visible(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_unplugged_mid_copy_lists_nothing_and_is_caught_up_after(engine, drive, quick_identity):
    _ballast(engine, 3)
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(drive.folder), name="USB", passphrase=PASS)
    b = engine.create_backup()
    pulled = []

    def progress(phase, done, total, unit):
        if phase == "copy" and done > 512 * 1024 and not pulled:
            drive.unplug(lazy=True)  # the cable pulled while the copy is being written
            pulled.append(done)

    [r] = engine.locations.sync(progress=progress)
    assert pulled and r.error_code == "location-unavailable", r
    assert list_remote(FolderLocation(drive.device)) == []
    # no copy nor its manifest: the key and the record of the computer that copies there (X20) are not copies
    assert not [
        n
        for n in _visible(drive.device)
        if n.endswith((".age", ".json")) and "identity" not in n and "computer" not in n
    ]
    assert os.listdir(drive.folder) == []  # nothing was written to the empty mount point

    drive.plug()
    [r] = engine.locations.sync()
    assert r.copied == [b.id], r.error
    assert [x.id for x in list_remote(FolderLocation(drive.folder))] == [b.id]


def test_full_drive_refuses_the_copy_cleanly(engine, small_drive, quick_identity):
    _ballast(engine, 3)
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(small_drive.folder), name="USB", passphrase=PASS)
    before = set(os.listdir(small_drive.device))
    engine.create_backup()
    [r] = engine.locations.sync()
    # a 3 MB copy on a 1 MB drive: it can never fit, so the drive is said to be too small (Z5), before writing
    assert r.error_code == "location-copy-failed" and "too small for this copy" in r.error, r
    assert list_remote(FolderLocation(small_drive.folder)) == []
    leftovers = {str(p.relative_to(small_drive.device)) for p in small_drive.device.rglob("*") if p.is_file()}
    assert not [x for x in leftovers if ".tmp-" in x]  # the temp file was removed, the space given back
    assert before <= set(os.listdir(small_drive.device))
    [s] = engine.locations.status()
    assert s.reachable is True and s.pending == 1 and "too small" in engine.locations.health()[0].message


def test_drive_filling_up_mid_copy_says_full_and_is_caught_up_once_space_is_freed(engine, drive, quick_identity):
    """The drive has room for the start of the copy, not all of it: nothing partial is listed, the temp file
    is gone, `location list` and health say "full", and freeing space there lets the copy through."""
    _ballast(engine, 3)
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(drive.folder), name="USB", passphrase=PASS)
    holiday = drive.folder / "holiday.mov"  # the user's own file: 6 of the drive's 8 MB
    holiday.write_bytes(os.urandom(6 << 20))
    b = engine.create_backup()
    assert b.size_bytes > shutil.disk_usage(drive.folder).free  # bigger than the room left
    written = []
    [r] = engine.locations.sync(
        progress=lambda phase, done, total, unit: written.append(done) if phase == "copy" else None
    )
    assert r.error_code == "location-copy-failed" and "is full" in r.error, r
    assert written and max(written) > 0  # it failed in the middle, not before starting
    assert list_remote(FolderLocation(drive.folder)) == []
    assert not [p for p in drive.device.rglob("*") if ".tmp-" in p.name]  # the temp file is gone
    assert shutil.disk_usage(drive.folder).free > 1 << 20  # and its space given back
    r = run_cli("location", "list", "--json", data_dir=engine.data.root)
    [row] = json.loads(r.stdout)
    assert row["reachable"] is True and row["pending"] == 1 and "is full" in row["problem"], row
    r = run_cli("location", "list", data_dir=engine.data.root)
    assert "is full" in r.stdout and "1 pending" in r.stdout, r.stdout
    assert any("is full" in h.message for h in engine.locations.health())

    holiday.unlink()  # space freed
    [r] = engine.locations.sync()
    assert r.copied == [b.id] and not r.error, r
    assert [x.id for x in list_remote(FolderLocation(drive.folder))] == [b.id]
    [row] = json.loads(run_cli("location", "list", "--json", data_dir=engine.data.root).stdout)
    assert row["pending"] == 0 and not row["problem"], row
    assert engine.locations.health() == []


def test_read_only_drive_refuses_writes_and_nothing_changes(engine, drive, quick_identity):
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(drive.folder), name="USB", passphrase=PASS)
    engine.create_backup()
    drive.read_only()
    before = _visible(drive.device)
    [r] = engine.locations.sync()
    assert r.error_code == "location-copy-failed" and "refuses writes" in r.error, r
    assert _visible(drive.device) == before


def test_unplugged_drive_leaves_an_empty_folder_that_is_never_written(engine, drive, quick_identity):
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(drive.folder), name="USB", passphrase=PASS)
    first = engine.create_backup()
    assert engine.locations.sync()[0].copied == [first.id]
    drive.unplug()
    second = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-unavailable" and "marker" in r.error
    assert os.listdir(drive.folder) == []
    drive.plug()
    assert engine.locations.sync()[0].copied == [second.id]


def test_status_sees_an_unplugged_drive_before_any_copy_fails(engine, drive, quick_identity):
    """Finding H11: status said "usb ✓ 5 min ago" (green) for an unplugged drive until the next copy failed;
    a folder location's marker is looked at every time, without contacting anything else."""
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(drive.folder), name="USB", passphrase=PASS)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 0 and "USB ✓" in r.stdout, (r.stdout, r.stderr)
    drive.unplug()
    r = run_cli("status", data_dir=engine.data.root)
    assert "USB ✗ (last copy just now)" in r.stdout, (r.stdout, r.stderr)
    assert "1 of 2 copies working: this disk ✓" in r.stdout
    assert os.listdir(drive.folder) == []  # looking wrote nothing there
    drive.plug()
    assert "USB ✓" in run_cli("status", data_dir=engine.data.root).stdout
