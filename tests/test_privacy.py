"""Privacy and the packaged app (issue 8, kind 7), with real processes and files.

- Everything JobMatcher writes is its user's only: the data folder (and the default backup folder) 0700,
  the database with its -wal/-shm, backups, manifests, settings, the restore's files, the log 0600 (POSIX),
  whatever the umask it was started with; a data folder an older version left open is closed at launch.
- Programs that are not JobMatcher (the file manager) get the user's environment, not a PyInstaller
  bundle's LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest
from conftest import fill_sample_data, run_cli
from jobmatcher import relaunch
from jobmatcher.api import open_in_file_manager
from jobmatcher.engine import Engine

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def lax_umask():
    """Started from a shell with the usual umask 022 (files 0644, folders 0755 unless we say otherwise)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _assert_private(data: Path, logs: Path | None = None) -> None:
    bad = {}
    for p in [data, *data.rglob("*")] + ([logs, *logs.rglob("*")] if logs else []):
        if p.is_symlink():
            continue
        want = 0o700 if p.is_dir() else 0o600
        if mode(p) & 0o077:
            bad[str(p)] = oct(mode(p))
        elif mode(p) & 0o700 != want & 0o700 and p.is_dir():
            bad[str(p)] = oct(mode(p))
    assert not bad, f"open to other users: {bad}"


def test_everything_the_command_line_writes_is_private(lax_umask, tmp_path):
    data, logs = tmp_path / "data", tmp_path / "logs"
    env = {"JOBMATCHER_LOG_DIR": str(logs)}
    assert run_cli("db", "migrate", data_dir=data, env=env).returncode == 0
    assert run_cli("settings", "--retention-days", "40", data_dir=data, env=env).returncode == 0
    assert run_cli("backup", "create", "--note", "one", data_dir=data, env=env).returncode == 0
    backup_id = Engine(data).list_backups()[0].id
    r = run_cli("backup", "restore", backup_id, "--yes", data_dir=data, env=env)
    assert r.returncode == 0, r.stderr
    names = {p.name for p in data.rglob("*")}
    assert {"jobmatcher.db", "settings.json", "backups"} <= names
    assert len(list((data / "backups").glob("*.db"))) == 2 and len(list((data / "backups").glob("*.json"))) == 2
    assert (logs / "jobmatcher.log").exists()
    _assert_private(data, logs)
    assert mode(data) == 0o700 and mode(data / "jobmatcher.db") == 0o600


def test_the_library_writes_private_files_whatever_the_umask(lax_umask, tmp_path):
    """Also without the command line's umask (the engine used as a library, as the tests and the window do)."""
    e = Engine(tmp_path / "data")
    e.migrate()
    fill_sample_data(e, jobs=3)
    e.update_settings({"retention_days": 50})
    b = e.create_backup(note="x")
    e.restore(b.id)
    _assert_private(tmp_path / "data")


def test_a_data_folder_left_open_by_an_older_version_is_closed_at_launch(lax_umask, tmp_path):
    data = tmp_path / "data"
    Engine(data).migrate()
    for p in (data, data / "backups"):
        p.mkdir(exist_ok=True)
        os.chmod(p, 0o755)
    for p in (data / "jobmatcher.db",):
        os.chmod(p, 0o644)
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    assert mode(data) == 0o700 and mode(data / "backups") == 0o700 and mode(data / "jobmatcher.db") == 0o600


def test_a_chosen_backup_folder_keeps_its_mode_but_its_backups_are_private(lax_umask, tmp_path):
    data, chosen = tmp_path / "data", tmp_path / "Backups"
    chosen.mkdir(mode=0o755)
    Engine(data).migrate()
    assert run_cli("settings", "--backup-dir", str(chosen), data_dir=data).returncode == 0
    assert run_cli("backup", "create", data_dir=data).returncode == 0
    assert mode(chosen) == 0o755  # the user's own folder: not ours to change
    files = list(chosen.iterdir())
    assert files and all(mode(f) == 0o600 for f in files), {f.name: oct(mode(f)) for f in files}


# -- the data folder's own mode: only ever tightened when it is JobMatcher's (F24) -----------------------------


def test_a_new_data_folder_is_created_private(lax_umask, tmp_path):
    data = tmp_path / "new" / "data"
    r = run_cli("db", "migrate", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert mode(data) == 0o700 and mode(data / "jobmatcher.db") == 0o600


def test_a_shared_folder_holding_none_of_ours_keeps_its_mode(lax_umask, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    (shared / "colleagues-file.txt").write_text("theirs")
    r = run_cli("db", "migrate", data_dir=shared)
    assert r.returncode == 0, r.stderr
    assert mode(shared) == 0o755  # not ours: its mode is left as the user made it
    assert mode(shared / "jobmatcher.db") == 0o600  # what we write in it is still private


def test_a_world_writable_sticky_folder_is_refused_and_left_as_it_was(lax_umask, tmp_path):
    """A stand-in for /tmp: 1777, holding another user's file. Refused (exit 1, clear words), never chmod'ed."""
    fake_tmp = tmp_path / "fake_tmp"
    fake_tmp.mkdir()
    os.chmod(fake_tmp, 0o1777)
    (fake_tmp / "other_users_file").write_text("x")
    for args in (("db", "migrate"), ("backup", "create"), ("status",)):
        r = run_cli(*args, data_dir=fake_tmp)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "shared by every user" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert stat.S_IMODE(os.stat(fake_tmp).st_mode) == 0o1777
    assert sorted(p.name for p in fake_tmp.iterdir()) == ["other_users_file"]


def test_a_world_writable_folder_of_others_is_refused(lax_umask, tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    r = run_cli("db", "migrate", data_dir=open_dir)
    assert r.returncode == 1 and "shared by every user" in r.stderr, r.stderr
    assert mode(open_dir) == 0o777 and list(open_dir.iterdir()) == []


@pytest.mark.parametrize("folder", ["/", "/etc", "/usr/lib/jobmatcher", "/proc"])
def test_the_top_of_the_disk_and_system_folders_are_refused_as_data_folder(folder):
    before = os.stat("/").st_mode
    r = run_cli("db", "migrate", data_dir=Path(folder))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "data folder" in r.stderr and "Traceback" not in r.stderr
    assert ("top of a disk" in r.stderr) if folder == "/" else ("system folder" in r.stderr)
    assert os.stat("/").st_mode == before and not Path("/usr/lib/jobmatcher").exists()


def test_the_home_folder_itself_is_refused_as_data_folder(lax_umask, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o751)
    r = run_cli("db", "migrate", data_dir=home, env={"HOME": str(home)})
    assert r.returncode == 1 and "home folder" in r.stderr, r.stderr
    assert mode(home) == 0o751 and list(home.iterdir()) == []
    # a folder of its own inside the home folder is fine
    r = run_cli("db", "migrate", data_dir=home / "JobMatcher", env={"HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert mode(home) == 0o751 and mode(home / "JobMatcher") == 0o700


def test_make_private_never_drops_a_sticky_bit(tmp_path):
    from jobmatcher.fsutil import make_private

    d = tmp_path / "sticky"
    d.mkdir()
    os.chmod(d, 0o1777)
    make_private(d)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o1700


# -- the environment of programs that are not JobMatcher ----------------------------------------------------


def _fake_xdg_open(tmp_path: Path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    out = tmp_path / "env-seen"
    script = bin_dir / "xdg-open"
    script.write_text(f"#!/bin/sh\nenv > {out}.part && mv {out}.part {out}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return out


def _seen(out: Path) -> dict[str, str]:
    deadline = time.monotonic() + 20
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-open is the Linux file manager opener")
@pytest.mark.parametrize("original", ["/usr/local/lib/mine", None])
def test_the_file_manager_gets_the_users_library_path_not_the_bundles(tmp_path, monkeypatch, original):
    out = _fake_xdg_open(tmp_path, monkeypatch)
    bundle = "/opt/JobMatcher/_internal"
    # what PyInstaller's bootloader leaves in the app's environment
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", bundle + (f":{original}" if original else ""))
    if original:
        monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", original)
    else:
        monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    open_in_file_manager(tmp_path)
    env = _seen(out)
    assert env.get("LD_LIBRARY_PATH") == original if original else "LD_LIBRARY_PATH" not in env, env
    assert "LD_LIBRARY_PATH_ORIG" not in env
    assert env["PATH"] == os.environ["PATH"]  # the rest is the user's environment as it was


def test_outside_a_bundle_external_programs_get_our_environment_unchanged(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/lib/mine")
    assert relaunch.external_environment() == dict(os.environ)


def test_programs_the_bundle_starts_that_outlive_it_unpack_afresh(tmp_path, monkeypatch):
    """The background check after a restore is JobMatcher itself, detached: from a one-file bundle it must get
    PYINSTALLER_RESET_ENVIRONMENT=1 (else it uses the parent's unpack folder, deleted when the parent exits)."""
    from jobmatcher import restore as restore_mod
    from jobmatcher.datadir import DataDir

    seen = tmp_path / "env-seen"
    fake_bundle = tmp_path / "JobMatcher"
    fake_bundle.write_text(f"#!/bin/sh\nenv > {seen}.part && mv {seen}.part {seen}\n")
    fake_bundle.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(fake_bundle))
    monkeypatch.delenv(restore_mod.NO_BACKGROUND_ENV, raising=False)
    monkeypatch.delenv("PYINSTALLER_RESET_ENVIRONMENT", raising=False)
    from jobmatcher import checklock

    (tmp_path / "backups").mkdir()
    held = checklock.take(tmp_path / "backups", "backup_2026-01-01_00-00-00")
    restore_mod._check_in_background(DataDir(tmp_path / "data"), "backup_2026-01-01_00-00-00", held)
    assert _seen(seen).get("PYINSTALLER_RESET_ENVIRONMENT") == "1"
