"""W4: a data folder that holds nothing of the user's yet (an empty database a launch made, its automatic
backups of that) is a first run for disaster recovery, however it got there: the restore continues the old
computer's copies. A folder with any user data keeps the ordinary restore (its own id, a safety backup).

The key is the test's own, locked at a low scrypt work factor (conftest.quick_identity): these tests are about
which folder a recovery takes over and what it says, not about what unlocking costs."""

from __future__ import annotations

import json
import sqlite3

from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli


def _source(engine, tmp_path, quick_identity):
    """The engine's data (some saved jobs) copied encrypted to a folder location: (usb, backup id, pw, folder id)."""
    from jobmatcher import profile

    prime(engine, quick_identity)
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


def test_recovery_after_the_app_was_opened_once_continues_the_copies(engine, tmp_path, quick_identity):
    usb, bid, pw, fid = _source(engine, tmp_path, quick_identity)

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


def test_recovery_over_a_folder_holding_one_saved_job_keeps_the_ordinary_restore(engine, tmp_path, quick_identity):
    usb, bid, pw, fid = _source(engine, tmp_path, quick_identity)

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
    engine, tmp_path, quick_identity
):
    """The page's rule is the CLI's: two launches (an empty database and its automatic backup) later, the
    overview still says first run and the restore takes the copies over."""
    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    usb, bid, pw, fid = _source(engine, tmp_path, quick_identity)
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
        assert final["result"]["safety_backup_id"] is None, final  # no safety backup of the empty database
    finally:
        api._close()
    assert _folder_id(new) == fid
    assert (new / "location-identity.age").exists()


def _types(root) -> list[str]:
    listed = json.loads(run_cli("--json", "backup", "list", data_dir=root).stdout)
    listed = listed["backups"] if isinstance(listed, dict) else listed
    return [b.get("type") for b in listed]


def _recover_words(root, usb, bid, pw) -> str:
    r = run_cli(
        "backup", "restore", bid, "--from-folder", str(usb), "--passphrase-file", str(pw), "--yes", data_dir=root
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_recovery_over_the_empty_database_keeps_no_safety_backup_of_it_and_says_so(engine, tmp_path, quick_identity):
    """W4 (rest): the empty database a launch made holds nothing to keep; the recovery keeps no "Safety — Before
    restoring" backup of it (linked path: the backup folder beside the data), and the command line says, in a
    new user's words, that there was nothing here before and that this computer continues the copies."""
    usb, bid, pw, fid = _source(engine, tmp_path, quick_identity)
    new = tmp_path / "new"
    assert run_cli("db", "migrate", data_dir=new).returncode == 0  # the app opened once: an empty database
    assert run_cli("backup", "create", data_dir=new).returncode == 0  # its automatic backup of it
    out = _recover_words(new, usb, bid, pw)
    assert _folder_id(new) == fid
    assert "safety" not in _types(new), _types(new)  # the automatic backup stays, no safety backup of nothing
    assert not list((new / "backups").glob(".jobmatcher-check-*"))  # no check of it started or left
    assert "previous data was kept" not in out
    assert "none of your data yet" in out, out
    assert "continues the backups" in out and str(usb) in out, out


def test_a_recovery_over_the_empty_database_on_the_copy_path_keeps_no_safety_backup(
    engine, tmp_path, quick_identity, tmpfs
):
    """The same with the backup folder on another disk: the safety backup is a copy made (and checked) before
    the swap; it is deleted once the restore succeeded and its file proved to hold nothing of the user's."""
    usb, bid, pw, fid = _source(engine, tmp_path, quick_identity)
    new = tmp_path / "new"
    assert run_cli("db", "migrate", data_dir=new).returncode == 0
    other = tmpfs(20_000) / "b"
    other.mkdir(mode=0o700)
    r = run_cli("settings", "--backup-dir", str(other), data_dir=new)
    assert r.returncode == 0, r.stderr
    out = _recover_words(new, usb, bid, pw)
    assert _folder_id(new) == fid
    assert "safety" not in _types(new), _types(new)
    assert not [p for p in other.iterdir() if p.name.endswith(".db")], list(other.iterdir())
    assert "none of your data yet" in out, out


def test_a_recovery_with_no_database_says_what_happened_in_a_new_users_words(engine, tmp_path, quick_identity):
    usb, bid, pw, fid = _source(engine, tmp_path, quick_identity)
    new = tmp_path / "blank"
    out = _recover_words(new, usb, bid, pw)
    assert _folder_id(new) == fid
    assert "none of your data yet" in out, out
    assert "continues the backups" in out, out
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
        data_dir=tmp_path / "blank2",
    )
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["first_run"] is True and answer["continues_copies"] is True, answer
