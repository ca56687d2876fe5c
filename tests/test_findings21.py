"""Findings of session 17's fresh tester (FINDINGS21)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import run_cli


def test_a_pinned_backup_whose_file_is_gone_keeps_its_manifest_and_is_named(tmp_path):
    """FINDINGS21 1: a pinned backup's file moved away lost its manifest (pin, note, checksums) at the next backup,
    cleaned up as the name a killed backup had reserved, and nothing said it was gone. A pin is set only on a listed
    backup, so its manifest is kept, `backup list` names it, and the file put back is that backup again."""
    root = tmp_path / "data"
    assert run_cli("--data-dir", str(root), "db", "migrate").returncode == 0
    first = json.loads(run_cli("--data-dir", str(root), "backup", "create", "--note", "keep me", "--json").stdout)
    assert run_cli("--data-dir", str(root), "backup", "pin", first["id"]).returncode == 0
    db = Path(first["path"])
    manifest = db.with_suffix(".json")
    before = manifest.read_bytes()
    away = tmp_path / "away.db"
    shutil.move(db, away)

    listed = run_cli("--data-dir", str(root), "backup", "list")
    assert listed.returncode == 0
    assert f"The pinned backup {first['id']} is missing its file" in listed.stderr
    # the next backup cleans up leftovers of killed ones: never this manifest
    assert run_cli("--data-dir", str(root), "backup", "create").returncode == 0
    assert manifest.read_bytes() == before

    shutil.move(away, db)
    rows = json.loads(run_cli("--data-dir", str(root), "backup", "list", "--json").stdout)
    back = next(r for r in rows if r["id"] == first["id"])
    assert back["pinned"] is True and back["note"] == "keep me" and back["added_by_hand"] is False


def test_an_unpinned_name_a_killed_backup_reserved_is_still_cleaned_up(tmp_path):
    """The other side of FINDINGS21 1: a manifest without its file and without a pin is what a backup killed before
    it published leaves; the cleanup still removes it (nothing else is kept for ever)."""
    root = tmp_path / "data"
    assert run_cli("--data-dir", str(root), "db", "migrate").returncode == 0
    first = json.loads(run_cli("--data-dir", str(root), "backup", "create", "--json").stdout)
    Path(first["path"]).unlink()  # as if killed between the manifest and the file's rename
    manifest = Path(first["path"]).with_suffix(".json")
    assert manifest.exists()
    assert run_cli("--data-dir", str(root), "backup", "create").returncode == 0
    assert not manifest.exists()
