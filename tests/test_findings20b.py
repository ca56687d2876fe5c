"""FINDINGS20, the low ones (4, 6, 7 of a fresh tester's report): each fixed, as a test with real parts (real
command-line subprocesses, real small tmpfs mounts, a real SIGKILL of a real restore) that fails before its fix."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.remote import list_remote

pytestmark = pytest.mark.usefixtures("file_credentials")

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _made_in_turn(engine: Engine, n: int, kb: int = 300) -> list[str]:
    """`n` backups of a database of about `kb` KB of random bytes, each after a change (so none is the same as the
    one before); their ids, oldest first."""
    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (n INTEGER PRIMARY KEY, b BLOB)")
        conn.executemany("INSERT INTO ballast VALUES (?, ?)", [(i, os.urandom(100 << 10)) for i in range(kb // 100)])
    ids = []
    for i in range(n):
        with conn:
            conn.execute("UPDATE ballast SET b = ? WHERE n = 0", (os.urandom(100 << 10),))
            conn.execute("UPDATE user_profile SET headline = ?", (f"version {i}",))
        ids.append(engine.create_backup().id)
    conn.close()
    return ids


# -- 4: a location too small for every copy holds the newest ones, not the oldest ---------------------------------


@root_only
def test_a_location_too_small_for_every_copy_gets_the_newest_first(engine, tmpfs):
    """FINDINGS20 4: `location sync` to a drive with room for some of the copies only copied the oldest first, so
    when the drive was full the newest backups (the one wanted after losing the laptop) were the ones missing
    there. A real 1 MB tmpfs, five backups of about 300 KB, the real command line."""
    ids = _made_in_turn(engine, 5)  # made before the location: no background copy makes them one by one
    drive = tmpfs(1024)
    root = engine.data.root
    engine.release_instance_lock()
    r = run_cli("location", "add", "folder", str(drive), "--name", "usb", "--no-encrypt", "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    r = run_cli("location", "sync", "usb", data_dir=root)
    there = [c.id for c in list_remote(FolderLocation(drive))]
    assert r.returncode == 1 and "is full" in r.stderr and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    assert 0 < len(there) < len(ids), there  # the drive held some, not all
    assert sorted(there) == sorted(ids[-len(there) :]), f"the newest should be there: {there} of {ids}"
    assert ids[-1] in there


@root_only
def test_moving_backups_into_a_folder_too_small_for_them_all_moves_the_newest_first(engine, tmpfs):
    """FINDINGS20 4's kind in the other "copy what is missing" loop, `settings --move-backups`: into a new backup
    folder on a drive with room for some only, the oldest were moved first and the newest stayed behind, out of
    the folder that new backups join and that the backup locations are copied from."""
    ids = _made_in_turn(engine, 5)
    folder = tmpfs(1024) / "backups"
    folder.mkdir()
    root = engine.data.root
    engine.release_instance_lock()
    r = run_cli("settings", "--backup-dir", str(folder), "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    r = run_cli("settings", "--move-backups", "--json", data_dir=root)
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    moved = out["moves"][0]["moved"]
    assert 0 < len(moved) < len(ids), out
    assert sorted(moved) == sorted(ids[-len(moved) :]), f"the newest should have moved: {moved} of {ids}"
    assert sorted(p.stem for p in folder.glob("backup_*.db")) == sorted(moved)


def test_an_s3_location_gets_the_missing_copies_newest_first(engine, weed):
    """FINDINGS20 4 on the S3 path (the same sync loop): the copies a real S3 service (SeaweedFS) lacks are made
    newest first, as `location sync --json` reports them in the order made, so a quota reached part way, or a sync
    cut short, leaves the oldest missing, not the newest."""
    import uuid

    from jobmatcher.locations.credentials import S3Keys
    from seaweed import ACCESS_KEY, SECRET_KEY

    ids = _made_in_turn(engine, 4, kb=100)
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    engine.locations.add(
        "s3", endpoint_url=weed.endpoint, bucket=bucket, prefix="laptop", keys=S3Keys(ACCESS_KEY, SECRET_KEY),
        name="cloud", encrypt=False,
    )  # fmt: skip
    engine.release_instance_lock()
    r = run_cli("location", "sync", "cloud", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    [result] = json.loads(r.stdout)
    assert result["copied"] == ids[::-1], result


# -- 6: a damaged settings.json is said in words, with a safe way out, by every reader ------------------------------

DAMAGED_SETTINGS = {
    "garbage": b"\x00\x17garbage, not settings at all",
    "cut-short": b'{\n  "backup_dir": null,\n  "retention_days": 365,\n  "auto_backup_min',
    "empty": b"",
    "not-text": b"\xff\xfe\x00{\x00}",
    "nested": b"[" * 100_000,
}
PARSER_WORDS = ("Expecting", "char ", "column 1 (", "Unterminated", "delimiter", "JSONDecode", "codec", "Traceback")


@pytest.mark.parametrize("kind", sorted(DAMAGED_SETTINGS))
def test_a_damaged_settings_file_is_said_in_words_and_nothing_is_made_or_deleted(engine, kind):
    """FINDINGS20 6: garbage or a cut-short settings.json stopped backups with the JSON parser's own text ("Expecting
    value: line 1 column 16 (char 15)"), and a file nested deeply was not even named ("something it read was nested
    too deeply"). Every command names the file, says what is wrong and that no backup is made or deleted until it is
    fixed, and how to get out safely (fix it, or move it away and set the settings again before the next clean-up);
    exit 1, no traceback; the live database and the backups stay as they were."""
    from conftest import fingerprint

    root = engine.data.root
    engine.create_backup()
    engine.release_instance_lock()
    settings = root / "settings.json"
    settings.write_bytes(DAMAGED_SETTINGS[kind])
    before = fingerprint(engine.data.db_path)
    backups = sorted(p.name for p in (root / "backups").iterdir())
    for command in (
        ["backup", "create"],
        ["status"],
        ["backup", "list"],
        ["backup", "prune"],
        ["settings"],
        ["location", "list"],
        ["status", "--json"],
    ):
        r = run_cli(*command, data_dir=root)
        said = r.stdout + r.stderr
        assert r.returncode == 1, (command, said)
        assert f"The settings file {settings} is damaged: " in said, (command, said)
        assert "makes no backup and deletes none" in said, (command, said)
        assert f"mv {settings} {settings}.damaged" in said and "settings` before JobMatcher opens next" in said, said
        for word in PARSER_WORDS:
            assert word not in said, (command, word, said)
    assert fingerprint(engine.data.db_path) == before
    assert sorted(p.name for p in (root / "backups").iterdir()) == backups
    # `db migrate` (the launch) opens the data without a backup or a clean-up, and says so instead of "all is well"
    r = run_cli("db", "migrate", data_dir=root)
    assert r.returncode == 0 and "Warning: The settings file" in r.stderr, (r.stdout, r.stderr)
    assert "makes no backup and deletes none" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in (root / "backups").iterdir()) == backups
    # the way out, as said: moved away, the settings set again, then backups run
    os.rename(settings, f"{settings}.damaged")
    assert run_cli("settings", "--retention-days", "365", data_dir=root).returncode == 0
    r = run_cli("backup", "create", data_dir=root)
    assert r.returncode == 0, r.stderr


def test_the_page_says_a_damaged_settings_file_with_its_own_way_out(engine):
    """FINDINGS20 6 on the page (the API the window calls): the backup section's answer names the file and what
    is wrong, in words, with a hint for the window (no command), and the launch still opened the data."""
    from jobmatcher.api import Api

    settings = engine.data.root / "settings.json"
    settings.write_bytes(DAMAGED_SETTINGS["cut-short"])
    engine.release_instance_lock()
    api = Api(Engine(engine.data.root), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        answer = api._dispatch("backup_overview", [])
    finally:
        api._close()
    assert not answer["ok"], answer
    e = answer["error"]
    assert e["code"] == "settings-damaged", e
    assert f"The settings file {settings} is damaged: its text stops" in e["message"], e
    assert "jobmatcher" not in e["hint"] and "text editor" in e["hint"], e
    for word in PARSER_WORDS:
        assert word not in e["message"] + e["hint"], e


# -- 7: after a restore killed mid-way, status says what happened to its safety backup's check ---------------------


def _checks_running(root: Path) -> list[str]:
    """The command lines of processes at work on the data folder `root` other than this test (a detached `backup
    verify`, a check child), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(os.fsencode(root) in a for a in argv) and b"verify" in argv:
            found.append(" ".join(os.fsdecode(a) for a in argv))
    return found


def test_status_after_a_restore_killed_mid_way_says_no_check_runs_and_what_comes_next(engine, tmp_path):
    """FINDINGS20 7: a `backup restore` killed (SIGKILL) after its swap, before it started the check of its safety
    backup: `status` said that check was "running in the background" though no process ran it, and `backup list`
    said "checking". Both now say it has not started, why, and what finishes it; `db migrate` does, as said."""
    root = engine.data.root
    b = engine.create_backup()
    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("UPDATE user_profile SET full_name = 'Changed Later'")
    conn.close()
    engine.release_instance_lock()
    # the real command line, SIGKILLed by itself at its first rename after the swap put the backup in place
    code = textwrap.dedent(f"""
        import os, runpy, signal, sys
        swapped = []
        def killing(real):
            def rename(src, dst, *a, **kw):
                if swapped:
                    os.kill(os.getpid(), signal.SIGKILL)
                out = real(src, dst, *a, **kw)
                if os.fspath(dst).endswith("jobmatcher.db") and os.fspath(src).endswith(".restoring"):
                    swapped.append(dst)
                return out
            return rename
        os.replace, os.rename = killing(os.replace), killing(os.rename)
        sys.argv = ["jobmatcher", "--data-dir", {str(root)!r}, "backup", "restore", {b.id!r}, "--yes"]
        runpy.run_module("jobmatcher", run_name="__main__")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr)
    assert (root / "restore-journal.json").exists()
    safety = [x for x in engine.list_backups() if x.type == "safety"]
    assert len(safety) == 1 and safety[0].verify_message == "checking", safety
    sid = safety[0].id
    assert _checks_running(root) == []  # no process checks it: "running in the background" would be untrue

    r = run_cli("status", data_dir=root)
    said = r.stdout + r.stderr
    assert "running in the background" not in said, said
    assert "its check has not started: the restore that made this safety backup was stopped" in said, said
    assert f"`jobmatcher --data-dir {root} db migrate` now, finishes or undoes that restore" in said, said
    r = run_cli("backup", "list", data_dir=root)
    row = next(line for line in r.stdout.splitlines() if line.startswith(sid))
    assert "not started" in row and "checking" not in row, r.stdout
    assert f"The check of {sid} has not started" in r.stderr, r.stderr

    # as said: `db migrate` finishes the restore, then checks the safety backup
    r = run_cli("db", "migrate", data_dir=root)
    assert r.returncode == 0, r.stderr
    assert not (root / "restore-journal.json").exists()
    r = run_cli("status", data_dir=root)
    assert "passed its check" in r.stdout and "not started" not in r.stdout + r.stderr, (r.stdout, r.stderr)
