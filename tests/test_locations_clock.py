"""Backup locations and a wrong computer clock (FINDINGS9 V6, V10, V11, V12).

The rule: a wrong clock never loses data, and "newest" or "which computer continues" comes from the data's own
order (sequence numbers, take-over generations), not from clocks. The clock is really wrong here: the command
line runs under Debian's `faketime` (libfaketime, LD_PRELOAD), as a dead CMOS battery or a VM resumed would make
it; SeaweedFS (tests/seaweed.py) is started as the S3 tests start it, with the right clock.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.config import load_states

pytestmark = pytest.mark.usefixtures("file_credentials")

FAKETIME = shutil.which("faketime")
needs_faketime = pytest.mark.skipif(FAKETIME is None, reason="Debian's faketime is not installed (dev.sh installs it)")


def run_cli_at(offset: str, *args: str, data_dir: Path, env: dict | None = None):
    """The real command line with the computer's clock off by `offset` (faketime's "+2d", "-3h"…) or at an
    absolute time ("@2001-01-01 00:00:00": starts there and runs on)."""
    import os
    import subprocess
    import sys

    cmd = [FAKETIME, "-f", offset, sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})


def _state(engine: Engine, name: str):
    loc = engine.locations.get(name)
    return load_states(engine.data.root)[loc.id]


# -- V10: retry times and last copies dated by a wrong clock ---------------------------------------------------


@needs_faketime
def test_a_retry_time_set_while_the_clock_was_ahead_does_not_pause_copies(engine, usb, tmp_path):
    """V10: one failed copy while the clock was 2 days ahead stored a retry time 2 days on; once the clock is
    right the unattended copier skipped the location for those 2 days (the back-off is at most 6 hours)."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    usb.rename(tmp_path / "unplugged")
    r = run_cli_at("+2d", "location", "sync", "usb", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    st = _state(engine, "usb")
    assert st.failures == 1 and st.next_try_at > datetime.now(timezone.utc) + timedelta(days=1)

    # the clock is right again and the drive back: the next unattended copy is made
    (tmp_path / "unplugged").rename(usb)
    b = engine.create_backup()
    assert engine.locations.wanted_pending()  # the copier sees copies to make
    [res] = engine.locations.sync(only_due=True)
    assert not res.skipped and not res.error, res
    assert b.id in res.copied
    # a retry time within the back-off is still honoured
    usb.rename(tmp_path / "unplugged")
    [res] = engine.locations.sync(only_due=True)
    assert res.error
    engine.create_backup()
    [res] = engine.locations.sync(only_due=True)
    assert res.skipped


@needs_faketime
def test_a_last_copy_dated_in_the_future_is_not_just_now_and_does_not_hide_staleness(engine, usb):
    """V10's variant: a last successful copy recorded while the clock was ahead read "✓ just now" once the
    clock was right, and held back the warning about copies waiting for as long as the clock was off."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    r = run_cli_at("+30d", "location", "sync", "usb", data_dir=engine.data.root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _state(engine, "usb").last_success_at > datetime.now(timezone.utc) + timedelta(days=29)
    line = engine.locations.status_line()
    assert "just now" not in line and "in the future" in line, line
    engine.create_backup()  # waits to be copied: its last copy's age is unknown
    [w] = [w for w in engine.locations.health() if w.code == "location-stale"]
    assert "in the future" in w.message, w.message
    assert "usb ✗" in engine.locations.status_line()
    engine.locations.sync()  # a copy made with the right clock: all is well again
    assert engine.locations.health() == []
    assert "usb ✓ just now" in engine.locations.status_line()


# -- V11: disaster recovery lists copies in the order of making ------------------------------------------------


@needs_faketime
def test_recovery_lists_copies_in_the_order_of_making_and_marks_the_future_one(engine, usb, tmp_path):
    """V11: a copy made while the clock was 2 days ahead was listed on top (by date) and pre-selected on the
    page, although the copies made after it hold newer data."""
    from jobmatcher.api import Api
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    r = run_cli_at("+2d", "backup", "create", "--note", "clock ahead", data_dir=engine.data.root)
    assert r.returncode == 0, r.stdout + r.stderr
    [ahead] = [b for b in engine.store.list() if b.created_at > datetime.now(timezone.utc) + timedelta(days=1)]
    later = [engine.create_backup(), engine.create_backup()]
    engine.locations.sync()
    copies = list_remote(FolderLocation(usb))
    assert len(copies) == 4
    assert [c.id for c in copies[:2]] == [later[1].id, later[0].id], [(c.id, c.sequence) for c in copies]
    assert copies[2].id == ahead.id
    assert [c.sequence for c in copies] == sorted((c.sequence for c in copies), reverse=True)

    api = Api(Engine(tmp_path / "new-computer"), mode="browser")
    try:
        listed = api._dispatch("remote_backups", [{"kind": "folder", "path": str(usb)}])
    finally:
        api._close()
    assert listed["ok"], listed
    rows = listed["value"]["backups"]
    assert rows[0]["id"] == later[1].id and not rows[0]["future"]
    assert [b["id"] for b in rows if b["future"]] == [ahead.id]
    assert rows[0]["sequence"] > rows[2]["sequence"] and rows[0]["type_label"] == "Manual"

    # the command line lists them in the same order, the future one still marked
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "look")
    assert r.returncode == 0, r.stderr
    ids = [x.split()[0] for x in r.stdout.splitlines()[1:]]
    assert ids == [c.id for c in copies], r.stdout
    [line] = [x for x in r.stdout.splitlines() if ahead.id in x]
    assert "(in the future!)" in line


# -- V12: the take-over of a chain of copies does not depend on clocks -----------------------------------------


def _files(root: Path) -> list[tuple[str, bytes]]:
    return sorted((str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*") if p.is_file())


@needs_faketime
def test_a_recovery_made_while_the_clock_was_behind_still_takes_the_copies_over(engine, usb, tmp_path):
    """V12: a laptop L restored once (writer.json: its take-over) is lost; a new computer N restores from the
    same copies before its clock is set (2001). N's take-over was dated before L's, so N was refused its own
    location for good, and L, if found, would have gone on writing and pruning the list."""
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    first = list_remote(FolderLocation(usb))[0].id

    laptop = tmp_path / "laptop"
    r = run_cli("backup", "restore", first, "--from-folder", str(usb), "--yes", data_dir=laptop)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=laptop)
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_cli("backup", "create", data_dir=laptop).returncode == 0
    r = run_cli("location", "sync", data_dir=laptop)
    assert r.returncode == 0 and "copied" in r.stdout, r.stdout + r.stderr
    newest = list_remote(FolderLocation(usb))[0].id

    # the laptop is lost; the new computer's clock says 2001 while it restores
    new = tmp_path / "new"
    r = run_cli_at(
        "@2001-01-01 00:00:00", "backup", "restore", newest, "--from-folder", str(usb), "--yes", data_dir=new
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert Engine(new).data.adopted_at().year == 2001
    # the clock set right: the new computer adds its location and copies there
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=new)
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_cli("backup", "create", data_dir=new).returncode == 0  # copied by the sync it starts, or this one
    r = run_cli("location", "sync", data_dir=new)
    assert r.returncode == 0, r.stdout + r.stderr
    assert Engine(new).store.newest().id in {c.id for c in list_remote(FolderLocation(usb))}

    # the laptop turns up: it steps aside, touching nothing there
    assert run_cli("backup", "create", data_dir=laptop).returncode == 0
    before = _files(usb)
    r = run_cli("location", "sync", data_dir=laptop)
    assert r.returncode == 1 and "Another computer continues" in r.stdout + r.stderr, r.stdout + r.stderr
    assert _files(usb) == before
    # so does the original
    engine.create_backup()
    [res] = engine.locations.sync()
    assert res.error_code == "location-taken-over" and _files(usb) == before

    # a recovery made again later (another new computer, its clock behind too) takes over from the first one
    again = tmp_path / "again"
    newest = list_remote(FolderLocation(usb))[0].id
    r = run_cli_at("-3d", "backup", "restore", newest, "--from-folder", str(usb), "--yes", data_dir=again)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=again)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("location", "sync", data_dir=new)
    assert r.returncode == 1 and "Another computer continues" in r.stdout + r.stderr, r.stdout + r.stderr


# -- V6: an S3 refusal caused by the clock is said as such, not as wrong keys ----------------------------------


@needs_faketime
def test_an_s3_refusal_for_a_wrong_clock_names_the_clock_not_the_keys(engine, weed, tmp_path, monkeypatch):
    """V6: with the computer's clock 2 days ahead, SeaweedFS refuses the signed requests (403, no body to a
    HEAD); it was said as "refused the access keys … remove the location and add it again" (red), whose advice
    deletes the right keys and changes nothing. It is the clock, by how far, amber, and retried by itself."""
    import uuid

    from jobmatcher.locations.credentials import S3Keys
    from seaweed import ACCESS_KEY, SECRET_KEY

    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    engine.locations.add(
        "s3",
        endpoint_url=weed.endpoint,
        bucket=bucket,
        prefix="jm",
        keys=S3Keys(ACCESS_KEY, SECRET_KEY),
        name="cloud",
        encrypt=False,
    )
    engine.create_backup()
    assert not engine.locations.sync()[0].error

    engine.create_backup()
    r = run_cli_at("+2d", "location", "sync", "cloud", data_dir=engine.data.root)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "clock is 2 days ahead of the storage service's (it says" in out and "refused the access keys" not in out, (
        out
    )
    assert "remove the location" not in out.lower() and "date and time" in out, out
    st = _state(engine, "cloud")
    assert st.last_error_code == "location-clock"
    r = run_cli_at("+2d", "status", data_dir=engine.data.root)
    assert "clock is 2 days ahead of" in r.stdout + r.stderr and "right keys" not in r.stdout + r.stderr, r.stdout
    [w] = [w for w in engine.locations.health() if w.code.startswith("location-") and w.code != "location-stale"]
    assert w.code == "location-clock" and w.level == "warn", w

    # disaster recovery on a new computer whose clock is 3 hours behind
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    args = ("backup", "list", "--from-s3", f"s3://{bucket}/jm", "--endpoint-url", weed.endpoint)
    r = run_cli_at("-3h", *args, data_dir=tmp_path / "new", env=env)
    out = r.stdout + r.stderr
    assert (
        r.returncode == 1
        and "clock is 3 hours behind the storage service's (it says" in out
        and "of of" not in out
        and "access keys were not" in out
    ), out
    assert "then try again" in out, out
    # wrong keys with the right clock are still wrong keys
    r = run_cli(*args, data_dir=tmp_path / "new", env={**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert r.returncode == 1 and "refused the access keys" in r.stdout + r.stderr, r.stdout + r.stderr
    # the clock right again: copied without touching the keys
    [res] = engine.locations.sync()
    assert not res.error and len(res.copied) == 1, res
    assert _state(engine, "cloud").last_error_code == ""


def test_a_clock_offset_reads_as_english_both_ways():
    """X6: "ahead of the storage service's", "behind the storage service's" (never "of of", "behind of")."""
    from jobmatcher.locations.s3 import clock_offset

    other = "the storage service's"
    assert clock_offset(20 * 60, other) == "20 minutes ahead of the storage service's"
    assert clock_offset(-3600, other) == "1 hour behind the storage service's"
    assert clock_offset(-2 * 86400 - 5, other) == "2 days behind the storage service's"
    assert clock_offset(30, other) == "30 seconds ahead of the storage service's"


# -- X15: a recovery on a computer whose clock is behind -------------------------------------------------------


@needs_faketime
def test_a_recovery_on_a_computer_whose_clock_is_behind_offers_every_copy_and_says_the_clock(engine, usb, tmp_path):
    """X15: a new computer whose clock is 30 days behind (not set yet) marked every copy at the location as
    "in the future" (a wrong clock), as if each copy were wrong. The copies are listed unmarked, the words say
    this computer's clock may be behind with both times, and the newest copy restores."""
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import clock_check, list_remote

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    made = [engine.create_backup(), engine.create_backup()]
    engine.locations.sync()

    r = run_cli_at("-30d", "backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "new-computer")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in the future" not in r.stdout, r.stdout
    assert [x.split()[0] for x in r.stdout.splitlines()[1:]] == [made[1].id, made[0].id]
    assert "this computer's clock may be behind" in r.stderr, r.stderr
    newest = max(b.created_at for b in made)
    assert f"{newest:%Y-%m-%d %H:%M} UTC" in r.stderr  # the newest copy's time, and this clock's
    assert f"{datetime.now(timezone.utc) - timedelta(days=30):%Y-%m-%d}" in r.stderr

    # the page's list (the same rule): nothing marked, the sentence given; a copy made while a clock was ahead
    # is still marked when it is dated after the newest copy too (V11)
    copies = list_remote(FolderLocation(usb))
    marked, words = clock_check(copies, now=datetime.now(timezone.utc) - timedelta(days=30))
    assert marked == set() and words and "may be behind" in words
    assert clock_check(copies) == (set(), None)  # the right clock: nothing said

    r = run_cli_at(
        "-30d", "backup", "restore", made[1].id, "--from-folder", str(usb), "--yes", data_dir=tmp_path / "new-computer"
    )
    assert r.returncode == 0, r.stdout + r.stderr


@needs_faketime
def test_status_says_the_clock_may_be_behind_when_even_the_last_backup_is_in_the_future(engine):
    """X15's kind at home: this computer's clock set back 30 days made status say of every backup "the clock was
    wrong when they were made"; the last one made is dated in the future too, so the clock is more likely
    behind now: both times said."""
    engine.create_backup()
    last = engine.create_backup()
    r = run_cli_at("-30d", "status", data_dir=engine.data.root)
    out = r.stdout + r.stderr
    assert "dated in the future" in out and "the clock may be behind now" in out, out
    assert f"{last.created_at:%Y-%m-%d %H:%M} UTC" in out and "the clock was wrong when" not in out, out
