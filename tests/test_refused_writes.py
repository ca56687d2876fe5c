"""Full disks and refused writes on real file systems (tmpfs mounted by the test, some remounted read-only).

The cases not covered elsewhere (the 2x rule, a disk filled by another writer
during a backup, a full disk while staging a restore: test_backup.py and
test_restore.py):
- the disk of the backup folder fills up in the middle of the safety backup of
  a restore, and in the middle of the pre-migration backup;
- the backup folder is on a read-only file system;
- the data folder (and so its database file) is on a read-only file system.
Each must give its specific message (never "something unexpected", never a
traceback), leave no partial file, and leave the live database unchanged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from jobmatcher import restore as restore_mod
from jobmatcher import schema
from jobmatcher.backups import FOLDER_MARKER
from jobmatcher.engine import Engine
from jobmatcher.errors import JobMatcherError, MigrationBlockedError


def _remount_ro(where: Path) -> None:
    r = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with pytest.raises(OSError):
        (where / "probe").write_bytes(b"x")


def _tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the hash of its bytes: 'nothing changed' down to the byte."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _grow(engine: Engine, rows: int = 700) -> None:
    conn = engine.connect()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO saved_jobs (title, description) VALUES (?, ?)",
        [(f"job {i}", os.urandom(1000).hex()) for i in range(rows)],
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _fill(folder: Path) -> None:
    """Another program takes every free byte of the disk."""
    with open(folder / "someone-elses-file", "ab") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def _assert_clean_cli_refusal(r: subprocess.CompletedProcess, *words: str) -> None:
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert r.stderr.startswith("Error: "), out
    assert "Traceback" not in out and "unexpected" not in out, out
    for w in words:
        assert w in r.stderr, (w, r.stderr)


# -- the disk fills up in the middle of a backup that another operation needs ----------------


def _backup_disk_that_fills_mid_copy(engine: Engine, tmpfs) -> tuple[Path, callable]:
    """A backup folder with room for the 2x rule, and a progress callback that fills it once the copy began."""
    size = engine.data.db_path.stat().st_size
    disk = tmpfs((2 * size) // 1024 + 256)
    engine.update_settings({"backup_dir": str(disk)})
    filled = []

    def progress(phase, done, total, unit):
        if phase in ("safety", "copy") and not filled:
            filled.append((phase, done, total))
            _fill(disk)

    return disk, progress, filled


def test_disk_full_during_the_safety_backup_refuses_the_restore(engine, tmpfs, tmp_path):
    source = Path(engine.create_backup().path)
    outside = tmp_path / "to-restore.db"
    outside.write_bytes(source.read_bytes())
    _grow(engine)
    disk, progress, filled = _backup_disk_that_fills_mid_copy(engine, tmpfs)
    before = fingerprint(engine.data.db_path)
    with pytest.raises(JobMatcherError) as e:
        engine.restore(str(outside), progress=progress)
    assert filled, "the disk was never filled: the test did not test anything"
    assert "full" in e.value.message, e.value.message
    assert "restore" in e.value.message.lower() and "not changed" in e.value.message, e.value.message
    assert e.value.hint
    assert sorted(n for n in os.listdir(disk) if n != FOLDER_MARKER) == [
        "someone-elses-file"
    ]  # no partial backup, no temp file
    assert fingerprint(engine.data.db_path) == before
    assert not engine.data.journal_path.exists() and not restore_mod.staged_path(engine.data).exists()


def test_disk_full_during_the_pre_migration_backup_blocks_the_upgrade(data_dir, tmpfs):
    e = Engine(data_dir)
    e.migrate(target="0001_initial")
    conn = e.connect()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO user_preferences (key, value) VALUES (?, ?)",
        [(f"k{i}", os.urandom(1000).hex()) for i in range(700)],
    )
    conn.execute("COMMIT")
    conn.close()
    disk, progress, filled = _backup_disk_that_fills_mid_copy(e, tmpfs)
    before = fingerprint(e.data.db_path)
    with pytest.raises(MigrationBlockedError) as err:
        e.migrate(progress=progress)
    assert filled
    assert "full" in err.value.message and "did not run" in err.value.message, err.value.message
    assert sorted(n for n in os.listdir(disk) if n != FOLDER_MARKER) == ["someone-elses-file"]
    assert fingerprint(e.data.db_path) == before
    assert e.status().current == "0001_initial"


# -- a read-only backup folder ----------------------------------------------------------------


@pytest.fixture
def ro_backups(tmpfs, data_dir):
    """A data folder at revision 0001 (so a migration is pending) whose backup folder became read-only."""
    e = Engine(data_dir)
    e.migrate(target="0001_initial")
    conn = e.connect()
    conn.execute("INSERT INTO user_profile (id, full_name) VALUES (1, 'Read Only')")
    conn.close()
    disk = tmpfs(4096)
    e.update_settings({"backup_dir": str(disk)})
    made = e.create_backup()
    _remount_ro(disk)
    return e, disk, made


def test_read_only_backup_folder(ro_backups):
    e, disk, made = ro_backups
    d = e.data.root
    live, folder = fingerprint(e.data.db_path), _tree(disk)
    r = run_cli("backup", "create", data_dir=d)
    _assert_clean_cli_refusal(r, "not writable", str(disk))
    r = run_cli("db", "migrate", data_dir=d)  # its pre-migration backup cannot be written
    _assert_clean_cli_refusal(r, "did not run", "not writable")
    r = run_cli("backup", "restore", made.id, "--yes", data_dir=d)  # its safety backup cannot be written
    _assert_clean_cli_refusal(r, "not writable")
    assert "restore" in r.stderr.lower() and "not changed" in r.stderr, r.stderr
    # reading still works: list, verify (its result cannot be recorded, which must not fail it), status
    assert run_cli("backup", "list", data_dir=d).returncode == 0
    r = run_cli("backup", "verify", made.id, data_dir=d)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    assert run_cli("db", "status", data_dir=d).returncode == 0
    assert fingerprint(e.data.db_path) == live
    assert _tree(disk) == folder
    assert e.status().current == "0001_initial"


# -- a read-only data folder (its database file cannot be written) ------------------------------


@pytest.fixture
def ro_data(tmpfs, tmp_path):
    """A data folder on a file system remounted read-only, at revision 0001, with a writable backup folder."""
    root = tmpfs(8192)
    e = Engine(root)
    e.migrate(target="0001_initial")
    conn = e.connect()
    conn.execute("INSERT INTO user_profile (id, full_name) VALUES (1, 'Read Only Data')")
    conn.close()
    backups = tmp_path / "backups"
    backups.mkdir()
    e.update_settings({"backup_dir": str(backups)})
    made = e.create_backup()
    source = tmp_path / "another backup.db"
    source.write_bytes(Path(made.path).read_bytes())
    _remount_ro(root)
    return e, backups, source


@pytest.mark.parametrize("command", [["db", "migrate"], ["backup", "create"], ["backup", "restore", "SOURCE", "--yes"]])
def test_read_only_data_folder(ro_data, command):
    e, backups, source = ro_data
    root = e.data.root
    data_before, backups_before = _tree(root), _tree(backups)
    r = run_cli(*[str(source) if c == "SOURCE" else c for c in command], data_dir=root)
    _assert_clean_cli_refusal(r, "read-only", str(root))
    assert "damaged" not in r.stderr and "Restore your" not in r.stderr  # it is not a broken database
    assert _tree(root) == data_before
    assert _tree(backups) == backups_before  # not even a pre-migration or safety backup


def test_db_status_reads_a_read_only_data_folder_and_changes_nothing(ro_data):
    """`db status` is read-only: it answers from a read-only disk (no lock, no side file needed)."""
    e, backups, source = ro_data
    before = _tree(e.data.root)
    r = run_cli("db", "status", data_dir=e.data.root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0001_initial" in r.stdout and "Traceback" not in r.stderr
    assert _tree(e.data.root) == before


def test_db_check_checks_a_read_only_data_folder_and_changes_nothing(ro_data):
    """F12 addendum: `db check` only looks, so a readable database on a read-only disk is checked, not refused
    (the restore it holds off with a shared lock cannot run there either)."""
    e, backups, source = ro_data
    before = _tree(e.data.root)
    r = run_cli("db", "check", data_dir=e.data.root)
    assert r.returncode == 0 and "OK: the database passed its integrity check." in r.stdout, r.stdout + r.stderr
    assert Engine(e.data.root, read_only=True).check().ok
    assert _tree(e.data.root) == before


def test_read_only_data_folder_through_the_engine(ro_data):
    e, backups, source = ro_data
    before = _tree(e.data.root)
    for call in (
        lambda: Engine(e.data.root).launch(),
        lambda: Engine(e.data.root).restore(str(source)),
        lambda: Engine(e.data.root).create_backup(),
        lambda: Engine(e.data.root).check(),  # not a look-only engine: it would hold off restores it cannot
    ):
        with pytest.raises(JobMatcherError, match="read-only"):
            call()
    assert _tree(e.data.root) == before
    assert schema.head() != "0001_initial"
