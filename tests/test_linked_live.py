"""V5: a live database that is a symbolic link (data kept on another disk, a synced folder).

SQLite follows the link and keeps the -wal beside the linked file, where JobMatcher's copies and swaps do
not look: a backup missed changes still in that -wal (and passed its check), and a restore replaced the
link with a file (its safety backup a link, never listed). Every command that would copy, replace or
upgrade it refuses before anything changes, and says what to do; a linked data *folder* works as any.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import LiveDatabaseLinkError


def _state(root: Path) -> dict:
    """Every file under `root` (links as their target), with its bytes' checksum: what "nothing changed" means."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            if f == ".jobmatcher.lock":  # the instance lock: who holds the folder, written by every command
                continue
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = (
                ("link", os.readlink(p)) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
            )
    return out


@pytest.fixture
def linked(engine, tmp_path):
    """The engine's data folder, its jobmatcher.db moved to another folder and a symbolic link left in its place,
    a backup made before, and a change still only in the -wal beside the linked file (the app's window open)."""
    b = engine.create_backup()
    target = tmp_path / "elsewhere" / "real.db"
    target.parent.mkdir()
    os.replace(engine.data.db_path, target)
    os.symlink(target, engine.data.db_path)
    app = sqlite3.connect(engine.data.db_path, isolation_level=None)
    app.execute("PRAGMA wal_autocheckpoint=0")
    app.execute("UPDATE user_profile SET full_name = 'Only In The WAL'")
    assert os.path.getsize(str(target) + "-wal") > 0 and not os.path.exists(str(engine.data.db_path) + "-wal")
    yield engine, b, target
    app.close()


def test_restore_refuses_a_symlinked_live_database_and_changes_nothing(linked, tmp_path):
    engine, b, target = linked
    before = _state(tmp_path)
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "is a symbolic link" in r.stderr and "--data-dir" in r.stderr and "Traceback" not in r.stderr
    assert _state(tmp_path) == before  # the link, its target and -wal, the backups: all as they were
    assert engine.data.db_path.is_symlink()


def test_a_backup_of_a_symlinked_live_database_is_refused_not_made_without_its_wal(linked, tmp_path):
    engine, _b, _target = linked
    before = _state(tmp_path)
    with pytest.raises(LiveDatabaseLinkError):
        Engine(engine.data.root).create_backup()
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 1 and "is a symbolic link" in r.stderr, r.stdout + r.stderr
    assert _state(tmp_path) == before
    r = run_cli("status", data_dir=engine.data.root)  # red, with the words
    assert r.returncode == 1 and "is a symbolic link" in r.stdout + r.stderr


def test_the_app_launch_and_db_migrate_refuse_it_before_changing_anything(linked, tmp_path):
    engine, _b, _target = linked
    before = _state(tmp_path)
    with pytest.raises(LiveDatabaseLinkError):
        Engine(engine.data.root).launch(auto_backup=False)
    r = run_cli("db", "migrate", data_dir=engine.data.root)
    assert r.returncode == 1 and "is a symbolic link" in r.stderr, r.stdout + r.stderr
    assert _state(tmp_path) == before


def test_a_linked_data_folder_works_as_any(engine, tmp_path):
    """What the refusal tells the user to do: link the folder, not the file."""
    b = engine.create_backup()
    link = tmp_path / "linked-folder"
    os.symlink(engine.data.root, link)
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=link)
    assert r.returncode == 0, r.stderr
    r = run_cli("backup", "create", data_dir=link)
    assert r.returncode == 0, r.stderr
