"""Leftovers of trial11/trial12's findings (FINDINGS9 V15d, V15e, V7; the empty --backup-dir; status
read-only), each through the real command line or the real API object."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

PASS = "correct horse battery staple 42"


def _capped(cap_mb: int, *args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """The real command line with its address space capped at `cap_mb` MB (ulimit -v)."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb << 20, cap_mb << 20))

    return subprocess.run(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/statm: Linux")
def test_the_first_encrypted_location_under_a_memory_limit_is_refused_in_words_not_aborted(tmp_path):
    """V15d: the first `location add` of an encrypted location locks a new key with the passphrase (age's
    scrypt, 1 KiB x 2^N, N chosen by age: 128 MiB and up); under `ulimit -v` 150 MB age's refused allocation
    aborted the process (SIGABRT, 'memory allocation of … bytes failed'). Now the same check as opening a key."""
    data, usb = tmp_path / "d", tmp_path / "usb"
    usb.mkdir()
    (tmp_path / "pw").write_text(PASS + "\n")
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = _capped(
        150, "location", "add", "folder", str(usb), "--passphrase-file", str(tmp_path / "pw"), "--yes", data_dir=data
    )
    assert r.returncode == 1, (r.returncode, r.stderr[-800:])
    assert "Locking the new encryption key with the passphrase may need up to about" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "memory allocation" not in r.stderr
    assert os.listdir(usb) == []  # nothing written at the location
    assert not {"location-identity.age", "locations.json"} & set(os.listdir(data))  # no key, no location


def test_the_page_says_which_copies_at_a_location_are_not_listed_in_the_command_lines_words(tmp_path):
    """V15e (the page): a copy whose manifest at the location is refused (here size_bytes 1e308) is left out of
    the page's list, as of `backup list --from-folder`, and both say so in the same words (the library's)."""
    import json

    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    data, usb = tmp_path / "data", tmp_path / "usb"
    usb.mkdir()
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data)
    assert r.returncode == 0, r.stderr
    for note in ("one", "two"):
        assert run_cli("backup", "create", "--note", note, data_dir=data).returncode == 0
    assert run_cli("location", "sync", data_dir=data).returncode == 0
    bad, good = sorted(usb.glob("JobMatcher/*/backup_*.json"))
    bad.write_text(json.dumps({**json.loads(bad.read_text()), "size_bytes": 1e308}))

    cli = run_cli("backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "fresh")
    assert cli.returncode == 0, cli.stderr
    said = [line for line in cli.stderr.splitlines() if "is not listed" in line]
    assert len(said) == 1 and bad.stem in said[0], cli.stderr
    api = Api(Engine(tmp_path / "new-computer"), mode="browser")
    try:
        listed = api._dispatch("remote_backups", [{"kind": "folder", "path": str(usb)}])
    finally:
        api._close()
    assert listed["ok"], listed
    answer = listed["value"]
    assert [b["id"] for b in answer["backups"]] == [good.stem]
    assert answer["unlisted"] == said  # the same sentence, from the library


def test_backup_list_tells_a_running_check_from_one_whose_process_is_gone(tmp_path):
    """V7 (the list): a restore's safety backup whose check was killed stayed "checking" in `backup list` until
    a launch noticed. The list now tells, by the check lock and without taking it or writing anything, a check
    that runs ("checking") from one that is gone ("check stopped", and how it runs again)."""
    import json

    from jobmatcher import checklock

    data = tmp_path / "d"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    bid = json.loads(run_cli("--json", "backup", "create", data_dir=data).stdout)["id"]
    # the restore starts no check of its safety backup: as if that check had been killed at once
    r = run_cli("--json", "backup", "restore", bid, "--yes", data_dir=data, env={checklock.NO_BACKGROUND_ENV: "1"})
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["safety_backup_id"]
    folder = data / "backups"

    def listed() -> tuple[str, str, str]:
        text = run_cli("backup", "list", data_dir=data)
        line = next(line for line in text.stdout.splitlines() if line.startswith(sid))
        return line, text.stderr, run_cli("--json", "backup", "list", data_dir=data).stderr

    held = checklock.take(folder, sid)  # a check that runs (this process holds its lock)
    assert held is not None
    try:
        line, err, json_err = listed()
        assert "checking" in line and "stopped" not in line, line
        assert "stopped" not in err and "stopped" not in json_err
    finally:
        held.release()

    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".json"}
    names = sorted(p.name for p in folder.iterdir())
    line, err, json_err = listed()
    assert "check stopped" in line, line
    assert f"The check of {sid} stopped before it finished" in err, err
    assert f"jobmatcher --data-dir {data} backup verify {sid}" in err, err
    assert f"The check of {sid} stopped before it finished" in json_err, json_err
    assert sorted(p.name for p in folder.iterdir()) == names  # read-only: no lock file made, no check started
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".json"} == before


def test_an_empty_backup_dir_is_a_usage_error_and_the_default_has_its_own_option(tmp_path):
    """`settings --backup-dir "$DIR"` with $DIR unset silently moved the backups' home back to the default;
    now it is a usage error (exit 2, as `--data-dir ""`) that says how to go back to the default, which
    `--default-backup-dir` does. Nothing is changed by the refused command."""
    import json

    data, chosen = tmp_path / "d", tmp_path / "chosen"
    chosen.mkdir(mode=0o700)
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = run_cli("settings", "--backup-dir", str(chosen), "--yes", data_dir=data)
    assert r.returncode == 0, r.stderr
    settings = (data / "settings.json").read_bytes()
    for empty in ("", "  "):
        r = run_cli("settings", "--backup-dir", empty, data_dir=data)
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        assert "argument --backup-dir is empty" in r.stderr and "--default-backup-dir" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert (data / "settings.json").read_bytes() == settings  # nothing changed
    r = run_cli("settings", "--backup-dir", str(chosen), "--default-backup-dir", data_dir=data)
    assert r.returncode == 2 and "not both" in r.stderr, r.stderr
    r = run_cli("--json", "settings", "--default-backup-dir", "--yes", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["backup_dir"] is None
    r = run_cli("settings", data_dir=data)
    assert "(default)" in r.stdout and str(data / "backups") in r.stdout, r.stdout


def _restored_unchecked(tmp_path):
    """A data folder with some saved jobs, restored from its backup by the command line with the safety backup's
    check never started (as if killed at once): (data folder, safety backup's file, its id)."""
    import json
    import sqlite3

    from jobmatcher import checklock

    data = tmp_path / "d"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    con = sqlite3.connect(data / "jobmatcher.db")
    with con:
        con.executemany(
            "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
            [(f"Job {i}", "Co", "the job of a lifetime " * 50) for i in range(50)],
        )
    con.close()
    bid = json.loads(run_cli("--json", "backup", "create", data_dir=data).stdout)["id"]
    r = run_cli("--json", "backup", "restore", bid, "--yes", data_dir=data, env={checklock.NO_BACKGROUND_ENV: "1"})
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["safety_backup_id"]
    return data, data / "backups" / f"{sid}.db", sid


def test_a_safety_backup_changed_before_its_late_check_is_not_sealed_as_the_data_from_before(tmp_path):
    """W6: a safety backup whose check was killed, then 4 bytes of a job's text changed in its file (the database
    stays well-formed, so integrity_check cannot see it): the later check sealed the changed bytes as passed.
    Now the restore records the file as the swap left it, and the late check marks it changed after its restore
    for good (Y7): its checksums are of the file as it is now, never recorded as passed."""
    import json

    from jobmatcher.verify import sha256_file

    data, safety, sid = _restored_unchecked(tmp_path)
    b = bytearray(safety.read_bytes())
    i = b.find(b"the job", 4096)
    assert i > 0
    b[i : i + 3] = b"THE"
    with open(safety, "r+b") as f:  # in place, as another program writing it would
        f.write(b)
    r = run_cli("backup", "verify", sid, data_dir=data)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"The safety backup {sid} was changed after the restore that made it" in r.stderr, r.stderr
    m = json.loads(safety.with_suffix(".json").read_text())
    assert m["verified"] is None and m["verify_message"] == "changed-after-restore", m
    assert m["changed_after_restore"] and m["file_stamp"] is None and m["sha256"] == sha256_file(safety), m


def test_a_safety_backup_left_as_the_restore_left_it_passes_its_late_check(tmp_path):
    import json

    data, safety, sid = _restored_unchecked(tmp_path)
    assert json.loads(safety.with_suffix(".json").read_text())["file_stamp"]
    r = run_cli("backup", "verify", sid, data_dir=data)
    assert r.returncode == 0, r.stderr
    m = json.loads(safety.with_suffix(".json").read_text())
    assert m["verified"] is True and m["sha256"] and m["file_stamp"] is None, m


def test_a_safety_backup_changed_before_its_check_is_not_restored_as_the_data_from_before(tmp_path):
    """W6's other door: restoring such a backup while it is still "checking" (its check killed) checked it in
    full, which a well-formed change passes, and restored it as the data from before the restore. It was then
    refused for ever (Y7's dead end); now it is restored as the file it is, and said so by every door."""
    data, safety, sid = _restored_unchecked(tmp_path)
    b = bytearray(safety.read_bytes())
    i = b.find(b"the job", 4096)
    b[i : i + 3] = b"THE"
    with open(safety, "r+b") as f:
        f.write(b)
    from jobmatcher.engine import Engine

    engine = Engine(data)  # the engine's own door (the page's restore), which runs no launch's checks first
    try:
        result = engine.restore(sid)
    finally:
        engine.release_instance_lock()
    assert result.source_changed_after_restore is True
    assert b"THE job" in (data / "jobmatcher.db").read_bytes()  # the file as it is, told so
    r = run_cli("backup", "restore", sid, "--yes", data_dir=data)  # the command line's, after its launch's checks
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"{sid} was changed after the restore that made it" in r.stderr, r.stderr
    assert "may not be your data from before that restore" in " ".join(r.stdout.split()), r.stdout


def test_a_touched_safety_backup_says_so_and_is_restored_in_place_by_its_id(tmp_path):
    """Y7: a `touch` (its time changed, not a byte) of the safety backup before its check: refused for ever, the
    way out a copy of its file restored by path. Now its check says only its time changed (not "written"), and
    it is restored in place by its id as it is, with the words; `backup show` says what it holds."""
    from conftest import fingerprint

    data, safety, sid = _restored_unchecked(tmp_path)
    before = fingerprint(safety)[1]  # its data (the restore may lay the pages out anew)
    st = safety.stat()
    os.utime(safety, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    r = run_cli("backup", "verify", sid, data_dir=data)
    assert r.returncode == 1, (r.stdout, r.stderr)
    err = " ".join(r.stderr.split())
    assert "modification time changed" in err and "was written or replaced" not in err, err
    jm = f"jobmatcher --data-dir {data}"  # D6: the commands act on this data folder
    assert f"{jm} backup show {sid}" in err and f"{jm} backup restore {sid}" in err, err
    r = run_cli("backup", "show", sid, data_dir=data)
    assert r.returncode == 0 and "CHANGED after the restore that made it" in r.stdout, r.stdout
    r = run_cli("backup", "restore", sid, "--yes", data_dir=data)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert fingerprint(data / "jobmatcher.db")[1] == before
