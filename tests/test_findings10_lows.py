"""FINDINGS10 W1, W3, W5, W7, W8: words that say what is so, and no copies left behind by a refused restore."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")


def _recover(src: Path, backup_id: str, into: Path) -> None:
    r = run_cli("backup", "restore", backup_id, "--from-folder", str(src), "--yes", data_dir=into)
    assert r.returncode == 0, r.stdout + r.stderr


def _add(src: Path, into: Path) -> None:
    r = run_cli("location", "add", "folder", str(src), "--name", "usb", "--no-encrypt", "--yes", data_dir=into)
    assert r.returncode == 0, r.stdout + r.stderr


def test_w8_two_recoveries_from_the_same_copies_are_told_the_real_order(engine, usb, tmp_path):
    """W8: A and B restored from the same copies (A first); A copied there first. B was told A "was restored
    from them after this one was": the reverse of what happened. What decided it is who copied there first."""
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    newest = list_remote(FolderLocation(usb))[0].id
    a, b = tmp_path / "a", tmp_path / "b"
    _recover(usb, newest, a)
    _recover(usb, newest, b)  # both from the same copies, A first
    _add(usb, a)
    assert run_cli("backup", "create", data_dir=a).returncode == 0  # copied by the sync it starts, or this one
    r = run_cli("location", "sync", data_dir=a)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=b)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "Another computer continues" in out, out
    assert "after this one was" not in out, out
    assert "restored from the same copies as this one and copied there first" in " ".join(out.split()), out
    # the original data folder was never restored: it is not told it was restored "after" anything
    engine.create_backup()
    [res] = engine.locations.sync()
    assert res.error_code == "location-taken-over" and "after this one was" not in res.error, res.error


def test_w1_a_link_to_nothing_as_the_database_is_named_by_every_command(tmp_path):
    """W1: jobmatcher.db a symbolic link to a file that is not there (an unplugged disk): status and backup
    create said "no database yet … run db migrate", db status "not created yet", and db migrate told the user
    to move a file that does not exist. Every command names the link, and nothing is changed."""
    folder = tmp_path / "s"
    folder.mkdir(mode=0o700)
    target = tmp_path / "other" / "nothere.db"
    (folder / "jobmatcher.db").symlink_to(target)
    for args in (("status",), ("backup", "create"), ("db", "status"), ("db", "migrate")):
        r = run_cli(*args, data_dir=folder)
        out = " ".join((r.stdout + r.stderr).split())
        assert r.returncode == 1, (args, out)
        assert f"is a symbolic link to {target}, which does not exist" in out, (args, out)
        assert "no JobMatcher database" not in out and "not created yet" not in out, (args, out)
        assert "Traceback" not in out, (args, out)
    assert {p.name for p in folder.iterdir()} <= {"jobmatcher.db", ".jobmatcher.lock"}  # the lock: its own, empty
    assert (folder / "jobmatcher.db").is_symlink() and not target.exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_w5_a_linked_side_file_is_named_with_what_to_do(engine, tmp_path, suffix):
    """W5: a symbolic link at jobmatcher.db-wal: backup create named the backups folder as the file that cannot
    be opened, restore showed "OperationalError: unable to open database file", status said nothing. The same
    kind with -shm and -journal. Every command names the link and says to remove it; nothing is changed."""
    b = engine.create_backup()
    root = engine.data.root
    live = engine.data.db_path.read_bytes()
    victim = tmp_path / "victim"
    victim.write_text("precious user text\n")
    link = root / f"jobmatcher.db{suffix}"
    assert not link.exists()
    link.symlink_to(victim)
    commands = [("status",), ("backup", "create"), ("db", "check"), ("db", "status")]  # D1-D3 (FINDINGS17): db too
    commands += [("backup", "restore", b.id, "--yes"), ("db", "migrate")]
    for args in commands if suffix == "-wal" else commands[:4]:
        r = run_cli(*args, data_dir=root)
        out = " ".join((r.stdout + r.stderr).split())
        assert r.returncode == 1, (args, out)
        assert f"jobmatcher.db{suffix} beside your database" in out and f"Remove the link {link}" in out, (args, out)
        assert "OperationalError" not in out and "Traceback" not in out, (args, out)
    assert victim.read_text() == "precious user text\n" and link.is_symlink()
    assert engine.data.db_path.read_bytes() == live


@pytest.mark.skipif(shutil.which("faketime") is None, reason="Debian's faketime is not installed (dev.sh installs it)")
def test_w3_a_sound_backup_dated_in_the_future_is_said_as_such(engine):
    """W3: the one backup was made while the clock was 400 days ahead; with the clock right, status said "No
    backups yet" beside "1 backup", "No backup passed its check at all" (it passed), and "check the warnings
    above" for a warning printed below."""
    root = engine.data.root
    cmd = [shutil.which("faketime"), "-f", "+400d", sys.executable, "-m", "jobmatcher", "--data-dir", str(root)]
    r = subprocess.run([*cmd, "backup", "create"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    [b] = engine.list_backups()
    assert b.verified is True
    r = run_cli("status", data_dir=root)
    out = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 1, out  # red: its age is unknown
    assert "No backups yet" not in out and "passed its check at all" not in out and "warnings above" not in out, out
    # the last backup made is dated ahead: the clock was ahead then, or is behind now (X15 words it so)
    assert f"Only backups dated in the future (from {b.created_at:%Y-%m-%d}: " in out, out
    assert f"Your only backup that passed its check is dated in the future ({b.created_at:%Y-%m-%d}: " in out, out
    assert "so its age is unknown." in out and "or was ahead then" in out, out
