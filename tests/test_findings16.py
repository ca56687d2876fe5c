"""FINDINGS16 (a fresh tester's report on the work of session 15): each finding fixed, as a test that fails
before its fix."""

from __future__ import annotations

import os
import time

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")


# -- C1, C2: a pipe or folder at the name of a side file of the live database hangs nothing, and is named -------


@pytest.mark.parametrize("suffix", ["-journal", "-wal", "-shm"])
@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_pipe_or_folder_beside_the_live_database_is_named_and_hangs_no_command(
    engine, tmp_path, locked_identity, suffix, kind
):
    """C1: a pipe at jobmatcher.db-journal hung `backup create`, `backup restore` and `backup restore --location`
    for ever (SQLite's hot-journal check opened it and waited for a writer); C2: a folder there was blamed on the
    disk ("the disk reported a read or write error", "OperationalError: disk I/O error"). Each is refused at once,
    naming the file and what to do; the live database is as it was."""
    root = engine.data.root
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb")
    b = engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    side = root / f"jobmatcher.db{suffix}"
    side.unlink(missing_ok=True)
    if kind == "pipe":
        os.mkfifo(side)
    else:
        side.mkdir()
    live = (root / "jobmatcher.db").read_bytes()
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    pw.chmod(0o600)
    what = "a pipe or a device" if kind == "pipe" else "a folder"
    for command in (
        ["backup", "create"],
        ["backup", "restore", b.id, "--yes"],
        ["backup", "restore", b.id, "--location", "usb", "--passphrase-file", str(pw), "--yes"],
        ["db", "migrate"],
        ["db", "check"],  # C11: a pipe at -shm was "the database FAILED its integrity check: restore a backup"
    ):
        r = run_cli(*command, data_dir=root, timeout=60)  # subprocess.TimeoutExpired: it hung
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert f"jobmatcher.db{suffix} beside your database" in r.stderr and f"is {what}" in r.stderr, (
            command,
            r.stderr,
        )
        assert "Move " in r.stderr and "Traceback" not in r.stderr and "disk" not in r.stderr.split("Move")[0]
    r = run_cli("status", data_dir=root, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    assert (root / "jobmatcher.db").read_bytes() == live
    assert side.exists() and (side.is_dir() or kind == "pipe")  # left where it was: not JobMatcher's to delete


def test_describe_of_a_sqlite_error_in_a_restore_names_no_python_class():
    """C2: "The restore failed: OperationalError: disk I/O error" showed a Python class name."""
    import sqlite3

    from jobmatcher.restore import _describe

    said = _describe(sqlite3.OperationalError("disk I/O error"))
    assert "OperationalError" not in said and "disk I/O error" in said


# -- C3: a pipe or folder at the key file's name is said from the start, everywhere, with a way out that works --


@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_pipe_or_folder_at_the_key_file_is_said_by_status_and_list_and_its_way_out_works(
    engine, usb, tmp_path, locked_identity, kind
):
    """C3: status stayed green (a pipe) or said "missing" (a folder) until a sync failed, `location list` never
    showed it, and the way out it gave (`location add` with the passphrase) was refused for the location already
    added. Now both say it from the start, and the way out they give works as written."""
    import json

    root = engine.data.root
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(usb), name="usb")
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    key = root / "location-identity.age"
    key.unlink()
    os.mkfifo(key) if kind == "pipe" else key.mkdir()
    r = run_cli("status", data_dir=root, timeout=60)
    assert "is not the encryption key's file" in r.stdout + r.stderr and "usb ✓" not in r.stdout, r.stdout
    assert "location remove usb" in r.stdout + r.stderr
    rows = json.loads(run_cli("location", "list", "--json", data_dir=root, timeout=60).stdout)
    assert rows[0]["problem_code"] == "key-file-not-a-file", rows
    # the way out, as written
    moved = tmp_path / "moved-away"
    key.rename(moved)
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    pw.chmod(0o600)
    assert run_cli("location", "remove", "usb", "--yes", data_dir=root).returncode == 0
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--passphrase-file", str(pw), data_dir=root)
    assert r.returncode == 0, r.stderr
    assert key.is_file() and key.read_bytes() == locked_identity[0]
    r = run_cli("location", "sync", "--json", data_dir=root)
    assert r.returncode == 0 and not json.loads(r.stdout)[0]["error"], r.stdout


# -- C4: a pipe or folder at the name of a file JobMatcher keeps is named as such, never as a disk to check -------


@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_pipe_or_folder_at_the_locations_or_settings_file_is_named_and_a_made_backup_is_a_success(
    engine, usb, tmp_path, kind
):
    """C4: with a pipe or folder at locations.json, `backup create` made the backup, then ended 1 with "Could not
    finish the command: not a regular file … Check the disk (is it still connected?) … Your data is as it was
    before"; `location list` and every other locations command said the same. At settings.json every command did."""
    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.release_instance_lock()

    def put(name: str) -> None:
        (root / name).unlink(missing_ok=True)
        os.mkfifo(root / name) if kind == "pipe" else (root / name).mkdir()

    put("locations.json")
    before = len(list((root / "backups").glob("backup_*.db")))
    r = run_cli("backup", "create", data_dir=root, timeout=60)
    assert r.returncode == 0, r.stderr  # the backup is made: said, and a success
    assert len(list((root / "backups").glob("backup_*.db"))) == before + 1
    assert "Warning: the backup is made, but copies off this disk have stopped" in r.stderr, r.stderr
    for command in (["location", "list"], ["location", "sync"], ["backup", "list", "--location", "usb"]):
        r = run_cli(*command, data_dir=root, timeout=60)
        assert r.returncode == 1, (command, r.stderr)
        assert "a folder, a pipe or a device is at the name of a file JobMatcher keeps there" in r.stderr, r.stderr
        assert "locations.json" in r.stderr and "Check the disk" not in r.stderr and "Traceback" not in r.stderr
    r = run_cli("status", data_dir=root, timeout=60)
    assert "is not a file JobMatcher wrote (a folder, a pipe or a device is at its name)" in r.stdout + r.stderr
    assert "Move what is at" in r.stdout + r.stderr
    put("settings.json")
    for command in (["backup", "list"], ["status"], ["backup", "create"]):
        r = run_cli(*command, data_dir=root, timeout=60)
        assert r.returncode == 1, (command, r.stderr)
        assert "settings.json" in r.stderr and "Check the disk" not in r.stderr and "Traceback" not in r.stderr
        assert "a folder, a pipe or a device is at the name of a file JobMatcher keeps there" in r.stderr, r.stderr


# -- C7: an S3 location inside (or above) another's prefix in the same bucket is refused, as for folders ----------


def _s3(prefix: str, bucket: str = "jobm", url: str = "http://127.0.0.1:18333"):
    from datetime import datetime, timezone

    from jobmatcher.locations.config import LocationConfig

    return LocationConfig(
        id=prefix or "root", name=prefix or "root", kind="s3", endpoint_url=url, bucket=bucket, prefix=prefix,
        added_at=datetime.now(timezone.utc),
    )  # fmt: skip


@pytest.mark.parametrize(
    "a,b,said",
    [
        ("p1/JobMatcher/0123", "p1", "is inside"),  # in p1's own namespace, p1/JobMatcher/
        ("p1/JobMatcher", "p1/", "is inside"),
        ("JobMatcher/x", "", "is inside"),  # the bucket's root keeps its copies under JobMatcher/
        ("p1", "p1/JobMatcher", "contains"),
        ("", "p1", None),  # p1/JobMatcher/… is not the root's JobMatcher/…
        ("p1/other", "p1", None),  # beside p1's namespace: keys of its own
        ("p10", "p1", None),  # a prefix of the text, not of the parts
        ("p1", "p2", None),
        ("a/b", "a//b", None),  # other keys: "a//b/…" is not "a/b/…"
    ],
)
def test_s3_prefixes_inside_or_above_one_another_are_nested(a, b, said):
    from jobmatcher.locations.manager import _nested, _same_place

    assert _nested(_s3(a), _s3(b)) == said
    assert _nested(_s3(a, bucket="other"), _s3(b)) is None
    assert _nested(_s3(a, url="http://127.0.0.1:9"), _s3(b)) is None
    assert not _same_place(_s3(a), _s3(b))
    assert _same_place(_s3(a), _s3(a + "/")) and _nested(_s3(a), _s3(a)) is None


# -- C5: a folder at a copy's name at a folder location is said for that copy; the others are still made -----------


@pytest.mark.parametrize("which", ["data", "manifest"])
def test_a_folder_at_a_copys_name_at_a_location_is_named_and_the_other_copies_are_made(engine, usb, which):
    """C5: "Could not copy to the backup location …: Is a directory. Check the drive; the copy is retried later."
    (no name, a drive blamed, retried for ever) and no copy after it was made."""
    import json

    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    first, second = engine.create_backup(), engine.create_backup()
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    blocked = ns / (f"{first.id}.db" if which == "data" else f"{first.id}.json")
    blocked.mkdir(parents=True)
    engine.release_instance_lock()
    r = run_cli("location", "sync", "--json", data_dir=root)
    out = json.loads(r.stdout)[0]
    assert r.returncode == 1 and out["copied"] == [second.id], (r.stdout, r.stderr)
    assert f"A folder is at the name of JobMatcher/{folder_id_of(engine.data)}/{blocked.name}" in out["error"]
    assert "retried later" not in out["error"] and "Move or remove that folder" in out["error"]
    assert blocked.is_dir() and not any(blocked.iterdir())  # left as it was
    blocked.rmdir()
    r = run_cli("location", "sync", "--json", data_dir=root)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["copied"] == [first.id], r.stdout


# -- C6: the app's copier looks at each location every few hours, so a copy damaged there is copied again ---------


def test_the_apps_copier_copies_again_a_copy_damaged_there_at_its_check_up(engine, usb):
    """C6: with nothing new to copy, the copier never looked again (its check is the last seen state): a copy cut
    short there stayed, and the status line counted it as good, until the next backup's sync. A location not
    synced for manager.CHECKUP_SECONDS is now synced though nothing waits, which replaces the damaged copy."""
    import json
    import time
    from datetime import timedelta

    from jobmatcher.locations.config import load_states, save_states
    from jobmatcher.locations.copier import Copier
    from jobmatcher.locations.manager import CHECKUP_SECONDS, _now

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    b = engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    (data,) = usb.rglob(f"{b.id}.db")
    written = json.loads(data.with_name(f"{b.id}.json").read_text())["stored_size"]
    data.write_bytes(data.read_bytes()[:1000])

    def synced(ago: float) -> None:
        states = load_states(engine.data.root)
        (st,) = states.values()
        st.last_success_at = _now() - timedelta(seconds=ago)
        save_states(engine.data.root, states)

    def run_copier(seconds: float) -> None:
        copier = Copier(lambda: engine.locations, poll=0.05)
        copier.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and data.stat().st_size != written:
            time.sleep(0.05)
        copier.stop()
        copier.join(30)

    synced(CHECKUP_SECONDS / 2)  # looked at lately: nothing waits, so nothing is done
    assert not engine.locations.checkup_due()
    run_copier(2)
    assert data.stat().st_size == 1000
    synced(CHECKUP_SECONDS + 60)  # not for longer than the check-up's interval: looked at, and put right
    assert engine.locations.checkup_due()
    run_copier(30)
    assert data.stat().st_size == written
    assert not engine.locations.checkup_due()  # the sync's success starts the interval again


# -- C9: another data folder's copy at a location of this one is not restored by its id alone --------------------


def test_another_data_folders_copy_is_not_restored_by_its_id_alone(engine, usb, tmp_path):
    """C9: two data folders share one folder location; `backup restore ID --location L` of the other's copy
    replaced this data folder's data with the other's, without a word. It is refused, naming the other data
    folder and the way (--folder-id) to do it on purpose; with it, the restore runs."""
    from jobmatcher.engine import Engine
    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    other = Engine(tmp_path / "other")
    other.migrate()
    other.locations.add("folder", path=str(usb), name="shared", encrypt=False)
    time.sleep(1.1)  # ids are times to the second: not the same name as this data folder's copy
    theirs = other.create_backup()
    assert not any(r.error for r in other.locations.sync())
    other.release_instance_lock()
    fid = folder_id_of(other.data)
    live = (root / "jobmatcher.db").read_bytes()
    r = run_cli("backup", "restore", theirs.id, "--location", "usb", "--yes", data_dir=root)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"was made by another data folder (id {fid})" in r.stderr and f"--folder-id {fid}" in r.stderr
    assert (root / "jobmatcher.db").read_bytes() == live
    r = run_cli("backup", "restore", theirs.id, "--location", "usb", "--folder-id", fid, "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr


# -- C10: a pipe or folder at the backup folder's marker is named, not "connect the drive" -------------------------


@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_pipe_or_folder_at_the_backup_folders_marker_is_named(engine, tmp_path, kind):
    root = engine.data.root
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    engine.release_instance_lock()
    r = run_cli("settings", "--backup-dir", str(chosen), "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    assert run_cli("backup", "create", data_dir=root).returncode == 0
    marker = chosen / ".jobmatcher-backup-folder"
    marker.unlink()
    os.mkfifo(marker) if kind == "pipe" else marker.mkdir()
    what = "a pipe or a device" if kind == "pipe" else "a folder"
    for command in (["backup", "list"], ["backup", "create"], ["status"]):
        r = run_cli(*command, data_dir=root, timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and f".jobmatcher-backup-folder in it is {what}" in out, (command, out)
        assert "connect the drive" not in out and "Traceback" not in out
    marker.rmdir() if kind == "folder" else marker.unlink()  # the way out, as said
    r = run_cli("settings", "--backup-dir", str(chosen), "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    assert run_cli("backup", "list", data_dir=root).returncode == 0


# -- C14: a sync that finds a backup changed after its check has it checked, and the failure recorded -------------


def test_a_sync_finding_a_backup_changed_after_its_check_records_its_failed_check(engine, usb):
    """C14: the sync left such a backup out of its copies and said so only on its own output (unread in the
    background): the backup stayed "passed its check", status green, retention's newest good."""
    import json

    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    b = engine.create_backup()
    engine.release_instance_lock()
    path = root / "backups" / f"{b.id}.db"
    with open(path, "r+b") as f:  # bit rot, or another program's write: one byte in the middle
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = run_cli("location", "sync", "--json", data_dir=root)
    assert r.returncode == 1 and b.id not in json.loads(r.stdout)[0]["copied"], r.stdout
    rows = json.loads(run_cli("backup", "list", "--json", data_dir=root).stdout)
    (row,) = [x for x in rows if x["id"] == b.id]
    assert row["verified"] is False, row  # recorded: status and retention no longer count it as good
    r = run_cli("status", data_dir=root)
    assert "FAILED" in r.stdout + r.stderr, r.stdout


# -- C8: a restore killed part way is said by `status` until the next launch finishes or undoes it -----------------


def test_status_says_a_restore_was_stopped_before_it_finished(engine, tmp_path):
    """C8: a `backup restore` killed mid-swap (its terminal closed) left its journal; `status` said all was well and
    nothing told the user to open the app, which finishes or undoes it. Killed for real at its journal's write."""
    import shutil
    import sqlite3
    import subprocess
    import sys

    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is missing: dev.sh installs it")
    root = engine.data.root
    b = engine.create_backup()
    conn = sqlite3.connect(root / "jobmatcher.db")
    with conn:
        conn.execute("UPDATE user_profile SET full_name = 'Changed Later'")
    conn.close()
    engine.release_instance_lock()
    journal = root / "restore-journal.json"
    r = subprocess.run(
        [strace, "-f", "-qq", "-o", str(tmp_path / "strace.out"), "-e", "trace=rename,renameat,renameat2",
         "-e", "inject=rename,renameat,renameat2:signal=SIGKILL:when=2",
         sys.executable, "-m", "jobmatcher", "--data-dir", str(root), "backup", "restore", b.id, "--yes"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert r.returncode != 0 and journal.exists(), (r.returncode, r.stdout, r.stderr)
    r = run_cli("status", data_dir=root)
    assert "A restore was stopped before it finished" in r.stdout + r.stderr, r.stdout + r.stderr
    assert f"jobmatcher --data-dir {root} db migrate" in r.stdout + r.stderr
    assert run_cli("db", "migrate", data_dir=root).returncode == 0  # as said: the launch finishes or undoes it
    assert not journal.exists()
    r = run_cli("status", data_dir=root)
    assert "A restore was stopped" not in r.stdout + r.stderr


# -- C12: a pipe or folder at a lock file's name is named, not "Illegal seek" ---------------------------------------


@pytest.mark.parametrize("kind", ["pipe", "folder", "link"])
def test_a_pipe_or_folder_at_the_data_folders_lock_file_is_named(engine, tmp_path, kind):
    """C12, and D11 (FINDINGS17, high): a link at .jobmatcher.lock was followed, and the holder's pid and activity
    overwrote the file it points to."""
    root = engine.data.root
    b = engine.create_backup()
    engine.release_instance_lock()
    lock = root / ".jobmatcher.lock"
    lock.unlink(missing_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    if kind == "pipe":
        os.mkfifo(lock)
    elif kind == "folder":
        lock.mkdir()
    else:
        lock.symlink_to(victim)
    live = (root / "jobmatcher.db").read_bytes()
    for command in (["backup", "restore", b.id, "--yes"], ["db", "migrate"]):
        r = run_cli(*command, data_dir=root, timeout=60)
        assert r.returncode == 1, (command, r.stderr)
        assert "a folder, a pipe or a device is at the name of a file JobMatcher keeps there" in r.stderr, r.stderr
        assert ".jobmatcher.lock" in r.stderr and "Illegal seek" not in r.stderr and "Traceback" not in r.stderr
    assert (root / "jobmatcher.db").read_bytes() == live
    assert victim.read_text() == "precious\n"


# -- C15: `location add s3` against a server that never answers asks once, quickly -------------------------------


def test_adding_an_s3_location_that_never_answers_asks_once_and_writes_nothing(engine, silent_server):
    """C15: `location add s3` noted what was at the place (four objects, each with the retrying client: 3
    attempts of 20 s) before the quick one-attempt probe, so a server that accepts connections and never answers
    kept the command (and the page's dialog) silent for over 4 minutes. The probe now comes first: one connection,
    then the refusal in words; nothing saved. Counted as connections, not timed."""
    port, accepted = silent_server
    root = engine.data.root
    engine.release_instance_lock()
    r = run_cli(
        "location", "add", "s3", "--endpoint-url", f"http://127.0.0.1:{port}", "--bucket", "jobm",
        "--no-encrypt", "--name", "hang", data_dir=root, timeout=120,
        env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
    )  # fmt: skip
    assert r.returncode == 1 and "accepted the connection but sent no answer" in r.stderr, r.stderr
    assert len(accepted) == 1, len(accepted)
    assert "hang" not in (root / "locations.json").read_text() if (root / "locations.json").exists() else True


# -- C17: a local backup whose file is not the size its check measured is not listed as passed -------------------


@pytest.mark.parametrize("change", ["cut", "grown"])
def test_a_backup_file_not_the_size_its_check_measured_is_not_listed_as_passed(engine, change):
    """C17: a backup cut short stayed "passed its check" (list, status, retention's newest good) until someone
    ran `backup verify`, though every list stats its file. The list now compares that size with the size the
    check measured, as B5 does for copies at a location; `backup verify` then records the verdict."""
    import json

    root = engine.data.root
    good, newest = engine.create_backup(), engine.create_backup()
    engine.release_instance_lock()
    path = root / "backups" / f"{newest.id}.db"
    whole = path.read_bytes()
    path.write_bytes(whole[:20000] if change == "cut" else whole + b"\0" * 4096)
    rows = {x["id"]: x for x in json.loads(run_cli("backup", "list", "--json", data_dir=root).stdout)}
    assert rows[newest.id]["verified"] is False
    assert rows[good.id]["verified"] is True
    r = run_cli("status", data_dir=root)
    assert "FAILED its check" in r.stdout, r.stdout
    r = run_cli("backup", "verify", newest.id, data_dir=root)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    path.write_bytes(whole)  # put back as it was: the same bytes that passed, so passed again
    r = run_cli("backup", "verify", newest.id, data_dir=root)
    assert r.returncode == 0, r.stderr


# -- C16: `location sync --verify` reads every copy back; a changed one is copied again -----------------------------


@pytest.mark.parametrize("encrypt", [True, False])
def test_sync_verify_finds_a_copy_changed_in_place_and_copies_it_again(engine, usb, tmp_path, locked_identity, encrypt):
    """C16: a copy changed in place at a location (the same size: bit rot, a sync tool, tampering) counted as good
    for ever; only a restore found it, typically in a disaster. `location sync --verify` reads each copy back and
    compares the SHA-256 recorded when it was written: a changed one is said and copied again while its backup is
    here; one whose backup is gone is said, and the command ends 1."""
    import hashlib
    import json

    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    if encrypt:
        prime(engine, locked_identity)
        engine.locations.add("folder", path=str(usb), name="usb")
    else:
        engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    kept, gone = engine.create_backup(), engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    suffix = ".db.age" if encrypt else ".db"

    def flip(bid: str) -> None:
        p = ns / f"{bid}{suffix}"
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x01
        p.write_bytes(bytes(data))

    flip(kept.id)
    r = run_cli("location", "sync", "--json", data_dir=root)  # without --verify: the same size passes for good
    assert r.returncode == 0 and json.loads(r.stdout)[0]["damaged"] == [] and json.loads(r.stdout)[0]["copied"] == []
    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "checked 2 copies there: 1 as written" in r.stdout
    assert f"{kept.id}: its bytes there no longer match" in r.stderr
    assert "copied again" in r.stderr
    written = json.loads((ns / f"{kept.id}.json").read_text())["stored_sha256"]
    assert hashlib.sha256((ns / f"{kept.id}{suffix}").read_bytes()).hexdigest() == written
    # a changed copy whose backup is no longer here: said, and the command ends 1
    (root / "backups" / f"{gone.id}.db").unlink()
    (root / "backups" / f"{gone.id}.json").unlink()
    flip(gone.id)
    r = run_cli("location", "sync", "--verify", "--json", data_dir=root)
    out = json.loads(r.stdout)[0]
    assert r.returncode == 1 and out["damaged"] == [gone.id] and out["verified"] == 2, r.stdout
    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert "this computer no longer has that backup to copy again" in r.stderr, r.stderr
    assert not list(root.glob(".location-fetch-*"))  # the read-back files are gone


# -- C18: a pinned backup of the empty database is kept at a recovery, below the restored chain ---------------------


def test_a_pinned_backup_of_the_empty_database_is_kept_below_the_restored_chain(engine, usb, tmp_path):
    """C18: after a disaster recovery, a pinned backup of the new computer's empty database (kept: the user's
    choice) was numbered after the restored chain: the newest backup, health's "last backup", the locations'
    newest copy. It is kept, ranked below the chain."""
    import json

    real = engine.create_backup()
    root = engine.data.root
    engine.release_instance_lock()
    assert run_cli("location", "add", "folder", str(usb), "--name", "u", "--no-encrypt", data_dir=root).returncode == 0
    assert run_cli("location", "sync", data_dir=root).returncode == 0
    new = tmp_path / "new-computer"
    assert run_cli("db", "migrate", data_dir=new).returncode == 0
    empty = json.loads(run_cli("backup", "create", "--json", data_dir=new).stdout)["id"]
    assert run_cli("backup", "pin", empty, data_dir=new).returncode == 0
    r = run_cli("backup", "restore", real.id, "--from-folder", str(usb), "--yes", data_dir=new)
    assert r.returncode == 0, r.stderr
    assert empty in [b["id"] for b in json.loads(run_cli("backup", "list", "--json", data_dir=new).stdout)]
    after = json.loads(run_cli("backup", "create", "--json", data_dir=new).stdout)["id"]
    # kept (pinned), below the restored data's backups in the order of making, which health's "last backup" follows
    ids = [b["id"] for b in json.loads(run_cli("backup", "list", "--json", data_dir=new).stdout)]
    assert ids == [after, empty], ids
    assert run_cli("location", "add", "folder", str(usb), "--name", "u", "--no-encrypt", data_dir=new).returncode == 0
    assert run_cli("location", "sync", data_dir=new).returncode == 0
    there = [
        b["id"] for b in json.loads(run_cli("backup", "list", "--from-folder", str(usb), "--json", data_dir=new).stdout)
    ]
    assert there[0] == after and (empty not in there or there.index(empty) > there.index(real.id)), there


# -- D4 (FINDINGS17): a refusal that says "nothing was changed" leaves a user's pipe or device at our names alone ---


@pytest.mark.parametrize("name", ["jobmatcher.db-wal", "jobmatcher.db-shm", "settings.json"])
def test_a_refused_command_leaves_the_mode_of_a_pipe_at_one_of_our_names_alone(engine, name):
    """D4: `db migrate` and `db status` refused a pipe at -wal, -shm or settings.json ("Nothing was changed") and had
    meanwhile taken its group and other users' access away (make_private): a file JobMatcher did not make."""
    import stat

    root = engine.data.root
    engine.release_instance_lock()
    (root / name).unlink(missing_ok=True)
    os.mkfifo(root / name)
    os.chmod(root / name, 0o644)
    for command in (["db", "migrate"], ["db", "status"], ["status"]):
        r = run_cli(*command, data_dir=root, timeout=60)
        assert "Traceback" not in r.stderr, r.stderr
        assert stat.S_IMODE(os.lstat(root / name).st_mode) == 0o644, command


# -- D12 (FINDINGS17): a pipe at the restore journal's name is no interrupted restore, and is not deleted ----------


def test_a_pipe_at_the_restore_journals_name_is_named_not_taken_for_a_restore_nor_deleted(engine):
    root = engine.data.root
    engine.create_backup()
    engine.release_instance_lock()
    journal = root / "restore-journal.json"
    os.mkfifo(journal)
    live = (root / "jobmatcher.db").read_bytes()
    r = run_cli("status", data_dir=root, timeout=60)
    assert "A restore was stopped" not in r.stdout + r.stderr, r.stdout
    r = run_cli("db", "migrate", data_dir=root, timeout=60)
    assert r.returncode == 1 and "restore-journal.json" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "interrupted restore" not in r.stdout + r.stderr
    assert journal.exists() and (root / "jobmatcher.db").read_bytes() == live


def test_a_made_backup_with_a_damaged_locations_file_warns_that_copies_stopped(engine, usb):
    """D7 (FINDINGS17): with a damaged locations.json (not JSON), `backup create` ended 0 without a word, so copies
    off this disk stopped silently for a user who only runs it (from cron)."""
    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.release_instance_lock()
    (root / "locations.json").write_text('{"format": 2, "locations": [')
    r = run_cli("backup", "create", data_dir=root, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Warning: the backup is made, but copies off this disk have stopped" in r.stderr, r.stderr
