"""Findings Y6 and Y5: a data folder copied with `cp -a` / `cp -al` while the original stays.

Y6: a command that only looks (`location list`, `backup list`, `status`, `db status`, `db check`) never writes the
copy's new id; the writing command that makes it says so once. Y5: the live file shared with another data folder
by a hard link (`cp -al`) is said by status and db check (amber), but not a restore's own brief link. Real files,
the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

from conftest import run_cli
from jobmatcher.engine import Engine


def _ok(r) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_looking_at_a_copied_folder_keeps_its_id_and_the_writing_command_says_so_once(engine: Engine, usb: Path):
    data = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    for _ in range(3):
        engine.create_backup()
    assert not engine.locations.sync()[0].error
    copy = data.parent / "copy"
    shutil.copytree(data, copy, symlinks=True)  # `cp -a`; the original stays where it was
    id_file = copy / ".jobmatcher-folder-id"
    before = id_file.read_bytes()
    for command in (("location", "list"), ("backup", "list"), ("status",), ("db", "status"), ("db", "check")):
        out = _ok(run_cli(*command, data_dir=copy))
        assert id_file.read_bytes() == before, command  # a look writes no new id
        assert "is a copy of" not in out
    assert "other data folders" not in _ok(run_cli("backup", "list", data_dir=copy))

    out = _ok(run_cli("backup", "create", data_dir=copy))  # the first writing command: the copy gets its own id
    assert json.loads(id_file.read_bytes())["id"] != json.loads(before)["id"]
    assert f"This data folder is a copy of {data} (which still exists)" in out, out
    assert "is a copy of" not in _ok(run_cli("backup", "create", data_dir=copy))  # said once


def _edit(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO skills(name) VALUES ('edit-in-copy')")
        conn.commit()
    finally:
        conn.close()


def test_a_live_file_shared_with_a_cp_al_copy_is_said(engine: Engine):
    data = engine.data.root
    engine.create_backup()
    for r in (run_cli("status", data_dir=data), run_cli("db", "check", data_dir=data)):
        assert "second name elsewhere" not in r.stdout + r.stderr  # one name: nothing to say
    copy = data.parent / "copy"
    subprocess.run(["cp", "-al", str(data), str(copy)], check=True)
    _edit(copy / "jobmatcher.db")
    for folder in (data, copy):
        r = run_cli("status", data_dir=folder)
        out = _ok(r)
        assert "jobmatcher.db has a second name elsewhere (a hard link, e.g. from `cp -al`)" in out, out
        assert "`cp -a`" in out
        j = json.loads(run_cli("status", "--json", data_dir=folder).stdout)
        (w,) = [w for w in j["warnings"] if w["code"] == "live-shared"]
        assert w["level"] == "warn" and j["level"] != "ok"
        assert "second name elsewhere" in _ok(run_cli("db", "check", data_dir=folder))
        assert "second name elsewhere" in _ok(run_cli("db", "migrate", data_dir=folder))  # the launch's step


def test_a_restores_own_brief_link_is_not_a_second_name(engine: Engine):
    data = engine.data.root
    engine.create_backup()
    other = data.parent / "elsewhere.db"
    other.hardlink_to(data / "jobmatcher.db")
    assert engine.live_other_names() is not None
    engine.data.journal_path.write_text("{}")  # a restore under way names its own link (the next launch ends it)
    assert engine.live_other_names() is None
