"""W4: a data folder that holds nothing of the user's yet (an empty database a launch made, its automatic
backups of that) is a first run for disaster recovery, however it got there: the restore continues the old
computer's copies. A folder with any user data keeps the ordinary restore (its own id, a safety backup)."""

from __future__ import annotations

import json
import sqlite3

from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli


def _source(engine, tmp_path, locked_identity):
    """The engine's data (some saved jobs) copied encrypted to a folder location: (usb, backup id, pw, folder id)."""
    from jobmatcher import profile

    prime(engine, locked_identity)
    conn = engine.connect()
    try:
        with profile.transaction(conn):
            conn.executemany(
                "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
                [(f"Job {i}", "Co", "x") for i in range(5)],
            )
    finally:
        conn.close()
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    bid = engine.create_backup().id
    assert engine.locations.sync()[0].copied == [bid]
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    fid = json.loads((engine.data.root / ".jobmatcher-folder-id").read_text())["id"]
    return usb, bid, pw, fid


def _folder_id(root) -> str:
    return json.loads((root / ".jobmatcher-folder-id").read_text())["id"]


def _recover(root, usb, bid, pw):
    r = run_cli(
        "--json",
        "backup",
        "restore",
        bid,
        "--from-folder",
        str(usb),
        "--passphrase-file",
        str(pw),
        "--yes",
        data_dir=root,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_recovery_after_the_app_was_opened_once_continues_the_copies(engine, tmp_path, locked_identity):
    usb, bid, pw, fid = _source(engine, tmp_path, locked_identity)

    new = tmp_path / "new"
    assert run_cli("db", "migrate", data_dir=new).returncode == 0  # the app opened once: an empty database
    r = run_cli("backup", "create", data_dir=new)  # and its automatic backup of that empty database
    assert r.returncode == 0, r.stderr
    _recover(new, usb, bid, pw)
    assert _folder_id(new) == fid  # the chain is continued
    assert (new / "location-identity.age").exists()
    assert json.loads((new / ".jobmatcher-folder-id").read_text()).get("generation")  # a take-over, recorded
    r = run_cli("location", "add", "folder", str(usb), "--passphrase-file", str(pw), "--yes", data_dir=new)
    assert r.returncode == 0, r.stderr
    assert "recovery key" not in (r.stdout + r.stderr).lower()  # the same identity, no new key


def test_recovery_over_a_folder_holding_one_saved_job_keeps_the_ordinary_restore(engine, tmp_path, locked_identity):
    usb, bid, pw, fid = _source(engine, tmp_path, locked_identity)

    kept = tmp_path / "kept"
    assert run_cli("db", "migrate", data_dir=kept).returncode == 0
    con = sqlite3.connect(kept / "jobmatcher.db")
    with con:
        con.execute("INSERT INTO saved_jobs (title, company, description) VALUES ('Mine', 'Me', 'y')")
    con.close()
    _recover(kept, usb, bid, pw)
    assert _folder_id(kept) != fid  # not taken over: this folder held the user's data
    backups = json.loads(run_cli("--json", "backup", "list", data_dir=kept).stdout)
    listed = backups["backups"] if isinstance(backups, dict) else backups
    assert [b for b in listed if b.get("type") == "safety"], listed  # the saved job kept in a safety backup


def test_the_page_after_a_second_launch_still_calls_it_a_first_run_and_continues_the_copies(
    engine, tmp_path, locked_identity
):
    """The page's rule is the CLI's: two launches (an empty database and its automatic backup) later, the
    overview still says first run and the restore takes the copies over."""
    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    usb, bid, pw, fid = _source(engine, tmp_path, locked_identity)
    new = tmp_path / "page"
    assert run_cli("db", "migrate", data_dir=new).returncode == 0  # an earlier launch
    assert run_cli("backup", "create", data_dir=new).returncode == 0  # and its automatic backup
    api = Api(Engine(new), mode="browser")
    try:
        api._begin_launch()
        api._wait_launched(30)
        assert api.locations_overview()["first_run"] is True
        task = api.start_restore_from_location({"kind": "folder", "path": str(usb)}, bid, PASS)
        final = api._tasks.wait(task["id"], 60)
        assert final["state"] == "done", final
        assert final["result"]["first_run"] is True, final
    finally:
        api._close()
    assert _folder_id(new) == fid
    assert (new / "location-identity.age").exists()
