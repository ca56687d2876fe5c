"""A chosen backup folder that is not there (an unplugged drive) is never recreated; backups wait for it."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import fingerprint, run_cli, unplug
from jobmatcher.engine import Engine
from jobmatcher.errors import BackupFolderUnavailableError
from jobmatcher.scheduler import BackupScheduler

MESSAGE = "is not available — connect the drive or choose another folder"


def _rename(engine: Engine, name: str) -> None:
    conn = engine.connect()
    try:
        conn.execute("UPDATE user_profile SET full_name = ? WHERE id = 1", (name,))
    finally:
        conn.close()


def _assert_refused_everywhere(engine: Engine, folder, backup_id: str) -> None:
    before = fingerprint(engine.data.db_path)
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 1 and f"Your backup folder {folder} {MESSAGE}" in r.stderr, r.stderr
    if not folder.is_dir():  # not there at all (not a new drive at the place): the way to another folder
        assert f"`jobmatcher --data-dir {engine.data.root} settings --backup-dir FOLDER`" in r.stderr, r.stderr
    # Every command naming a backup by its id says the folder is not there, not "no such backup" (K7)
    for cmd in (
        ["restore", backup_id, "--yes"],
        ["verify", backup_id],
        ["show", backup_id],
        ["delete", backup_id, "--yes"],
        ["pin", backup_id],
        ["unpin", backup_id],
    ):
        r = run_cli("backup", *cmd, data_dir=engine.data.root)
        assert r.returncode == 1 and MESSAGE in r.stderr and "no backup with" not in r.stderr, (cmd, r.stderr)
    r = run_cli("backup", "verify", "--json", backup_id, data_dir=engine.data.root)
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "folder-unavailable", r.stdout
    # ... and the page's calls the same (a list loaded before the drive was unplugged)
    from jobmatcher.api import Api

    api = Api(Engine(engine.data.root), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        for name, args in (
            ("start_restore", [backup_id]),
            ("start_verify", [backup_id]),
            ("preview_backup", [backup_id]),
            ("export_backup", [backup_id]),
            ("set_pinned", [backup_id, True]),
            ("delete_backup", [backup_id]),
        ):
            out = api._dispatch(name, args)
            assert not out["ok"] and out["error"]["code"] == "folder-unavailable", (name, out)
            assert "JobMatcher" in out["error"]["hint"] and "`" not in out["error"]["hint"], (name, out)
    finally:
        api._close()
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 1 and MESSAGE in r.stderr and "No backups yet" not in r.stdout
    r = run_cli("status", data_dir=engine.data.root)  # the backups are on the drive: not said as none (K7)
    assert r.returncode == 1 and "Last backup:  not known while the backup folder is not available" in r.stdout
    assert "(NOT AVAILABLE)" in r.stdout and "backups use 0 bytes" not in r.stdout, r.stdout
    r = run_cli("backup", "list", "--json", data_dir=engine.data.root)
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "folder-unavailable"
    with pytest.raises(BackupFolderUnavailableError):
        engine.create_backup()
    assert fingerprint(engine.data.db_path) == before


def test_a_deleted_backup_folder_is_not_recreated(engine, tmp_path):
    folder = tmp_path / "usb" / "JobMatcher"
    folder.mkdir(parents=True)
    engine.update_settings({"backup_dir": str(folder)})
    made = engine.create_backup().id
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    _assert_refused_everywhere(engine, folder, made)
    assert not folder.exists()
    # the app still opens the data, and says why there was no automatic backup
    report = Engine(engine.data.root).launch()
    assert MESSAGE in (report.auto_backup_error or "") and not folder.exists()


def test_the_default_folder_is_still_created(engine):
    folder = engine.data.root / "backups"
    assert engine.create_backup().path.startswith(str(folder))


def test_an_unmounted_drive_is_unavailable_and_backups_resume_when_it_is_back(engine, tmpfs, tmp_path):
    """A real tmpfs is the drive; plugging it in is bind-mounting it at the mount point (so its
    contents survive being unplugged, as a USB drive's do), unplugging is unmounting that."""
    drive = tmpfs(20_000)
    media = tmp_path / "media"
    media.mkdir()

    def plug() -> None:
        subprocess.run(["mount", "--bind", str(drive), str(media)], check=True)

    def unplug() -> None:
        subprocess.run(["umount", str(media)], check=True)

    plug()
    try:
        folder = media / "JobMatcher"
        folder.mkdir()
        engine.update_settings({"backup_dir": str(folder)})
        first = engine.create_backup(note="on the drive").id
        unplug()
        _assert_refused_everywhere(engine, folder, first)
        assert not folder.exists()  # nothing made on the disk underneath
        # the schedule waits: failed slots name the reason ...
        _rename(engine, "Changed while unplugged")
        s = BackupScheduler(lambda p: engine.auto_backup(p), interval=lambda: 0.2)
        s.start()
        try:
            deadline = time.monotonic() + 20
            while s.state().failures < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert s.state().failures >= 2 and MESSAGE in s.state().last_error["message"]
            assert not folder.exists()
            # ... and resume once the drive is back
            plug()
            deadline = time.monotonic() + 20
            while s.state().last_outcome != "made" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert s.state().last_outcome == "made" and s.state().last_error is None
        finally:
            s.stop()
        ids = [b.id for b in engine.list_backups()]
        assert first in ids and s.state().last_backup_id in ids
        assert run_cli("backup", "list", data_dir=engine.data.root).returncode == 0
    finally:
        subprocess.run(["umount", str(media)], capture_output=True)


def test_the_mount_point_itself_is_unavailable_when_the_drive_is_gone(engine, tmpfs):
    mount = tmpfs(20_000)
    engine.update_settings({"backup_dir": str(mount)})
    made = engine.create_backup().id
    unplug(mount)  # once the idle digest thread, reading the backup until its next chunk, let it go
    try:
        assert mount.is_dir() and not any(mount.iterdir())  # the empty folder underneath
        _assert_refused_everywhere(engine, mount, made)
        assert not any(mount.iterdir())  # nothing written to the wrong disk
    finally:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20000k", "tmpfs", str(mount)], check=True)


def test_an_unplugged_backup_folder_is_logged_once_not_every_round(engine, tmpfs, tmp_path, caplog):
    """K9: with the backup folder's drive unplugged, the background copier does no work at all when there
    is no location (nothing to copy to), and with one it logs the reason once, not every 10 s."""
    import logging

    from jobmatcher.locations.copier import Copier

    mount = tmpfs(20_000)
    engine.update_settings({"backup_dir": str(mount)})
    engine.create_backup()
    unplug(mount)
    try:

        def rounds(seconds: float) -> list[str]:
            caplog.clear()
            copier = Copier(lambda: Engine(engine.data.root).locations, poll=0.05)
            with caplog.at_level(logging.INFO, logger="jobmatcher.locations.copier"):
                copier.start()
                time.sleep(seconds)
                copier.stop()
                copier.join(10)
            return [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]

        assert rounds(1.0) == []  # no location: not even looked at
        (tmp_path / "usb2").mkdir()
        engine.locations.add("folder", path=str(tmp_path / "usb2"), name="USB", encrypt=False)
        said = rounds(1.5)  # some 30 rounds
        assert len(said) == 1 and MESSAGE in said[0], said
    finally:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20000k", "tmpfs", str(mount)], check=True)
