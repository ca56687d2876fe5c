"""FINDINGS13 (trial15): secrets read from files written on Windows, and the other Z findings fixed by the lead.

Real data folders, the real command line in subprocesses, real age files (pyrage's scrypt)."""

from __future__ import annotations

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")

BOM = b"\xef\xbb\xbf"  # what Windows Notepad writes first in a file saved as "UTF-8"


# -- Z1: a byte-order mark is no part of a secret ------------------------------------------------------------------


def test_a_passphrase_file_with_a_byte_order_mark_locks_the_passphrase_as_typed(engine, usb, tmp_path):
    from jobmatcher.locations.crypto import unlock_identity

    root = engine.data.root
    bom_file = tmp_path / "pw-notepad"
    bom_file.write_bytes(BOM + PASS.encode() + b"\r\n")
    r = run_cli(
        "location",
        "add",
        "folder",
        str(usb),
        "--name",
        "usb",
        "--passphrase-file",
        str(bom_file),
        "--yes",
        data_dir=root,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    bid = engine.create_backup().id
    r = run_cli("location", "sync", data_dir=root)
    assert r.returncode == 0, r.stdout + r.stderr
    # the key at the location opens with the passphrase as the user types it (a terminal, the page, age)
    fid = next((usb / "JobMatcher").iterdir()).name
    locked = (usb / "JobMatcher" / fid / "identity.age").read_bytes()
    assert unlock_identity(locked, PASS).startswith("AGE-SECRET-KEY-1")
    # and a new computer restores with a plain passphrase file
    plain = tmp_path / "pw"
    plain.write_text(PASS + "\n")
    r = run_cli(
        "backup",
        "restore",
        bid,
        "--from-folder",
        str(usb),
        "--passphrase-file",
        str(plain),
        "--yes",
        data_dir=tmp_path / "new",
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_key_locked_with_the_mark_by_an_earlier_version_still_opens(locked_identity):
    """Before Z1's fix the mark was locked in front of the passphrase: the passphrase as typed, and that same
    file, open such a key; a wrong passphrase is still refused as wrong."""
    from jobmatcher.errors import WrongPassphraseError
    from jobmatcher.locations.crypto import _scrypt, unlock_identity

    identity = locked_identity[1]
    legacy = _scrypt("encrypt", (identity + "\n").encode(), "\ufeff" + PASS, locking=True)
    assert unlock_identity(legacy, PASS) == identity
    assert unlock_identity(legacy, "\ufeff" + PASS + "\r\n") == identity
    with pytest.raises(WrongPassphraseError, match="does not open"):
        unlock_identity(legacy, "not the passphrase")


def test_a_recovery_key_file_with_the_mark_is_the_recovery_key(engine, usb, tmp_path, locked_identity):
    from jobmatcher.locations.crypto import is_recovery_key, unlock_identity

    rk = "\ufeff" + locked_identity[1] + "\r\n"
    assert is_recovery_key(rk) and unlock_identity(locked_identity[0], rk) == locked_identity[1]
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    bid = engine.create_backup().id
    assert engine.locations.sync()[0].copied == [bid]
    f = tmp_path / "rk-notepad"
    f.write_bytes(BOM + locked_identity[1].encode() + b"\r\n")
    r = run_cli(
        "backup",
        "restore",
        bid,
        "--from-folder",
        str(usb),
        "--passphrase-file",
        str(f),
        "--yes",
        data_dir=tmp_path / "new",
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_secret_file_is_read_without_the_mark(tmp_path):
    """The one reader of secret files (passphrases, recovery keys, S3 secret keys) drops the mark; a file that
    holds only the mark is empty."""
    from jobmatcher import cli
    from jobmatcher.errors import JobMatcherError

    f = tmp_path / "secret"
    f.write_bytes(BOM + b"wJalrXUtnFEMI/K7MDENG\r\n")
    assert cli._read_secret_file(str(f), "secret key file") == "wJalrXUtnFEMI/K7MDENG"
    f.write_bytes(BOM + b"\r\n")
    with pytest.raises(JobMatcherError, match="is empty"):
        cli._secret_from(str(f), "passphrase file", "Passphrase", twice=False)


# -- FINDINGS14 A1: a check that ends between the list's read and its look at the lock is not "stopped" -----------


def test_a_check_that_ended_as_the_list_looked_is_not_said_stopped(tmp_path):
    """A1: `backup list` read a restore's safety backup as "checking", then its check recorded its verdict and let
    go of its lock, then the list found the lock free and said "stopped before it finished" of a check that had
    passed. The manifest is read again before a free lock is taken for a stopped check."""
    import json

    from jobmatcher import checklock
    from jobmatcher.engine import Engine
    from jobmatcher.listing import list_backups, stopped_checks

    data = tmp_path / "d"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    bid = json.loads(run_cli("--json", "backup", "create", data_dir=data).stdout)["id"]
    r = run_cli("--json", "backup", "restore", bid, "--yes", data_dir=data, env={checklock.NO_BACKGROUND_ENV: "1"})
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["safety_backup_id"]
    read_before, _ = list_backups(data)  # the list's read: "checking"
    assert next(x for x in read_before if x.id == sid).verify_message == "checking"
    assert stopped_checks(data, read_before) == {sid}  # no check ran: stopped, as it is
    e = Engine(data)
    e.verify(sid)  # the check runs and records its verdict, its lock let go
    e.release_instance_lock()
    assert stopped_checks(data, read_before) == set()  # the same stale read: not a stopped check


# -- FINDINGS14 A6: a FIFO at the name of one of the data folder's own files never hangs a command -----------------


@pytest.mark.parametrize(
    "name",
    [
        "settings.json",
        "locations.json",
        "locations-state.json",
        "location-identity.relock.json",
        ".jobmatcher-folder-id",
    ],
)
def test_a_fifo_at_a_data_folder_files_name_hangs_no_command(engine, usb, tmp_path, name):
    """A FIFO put where the data folder keeps a small file of its own (a sync tool, a mistake) hung `status`,
    `location list` and `backup list` for ever: every such file is read without waiting (fsutil.read_small_file)."""
    import os

    root = engine.data.root
    engine.create_backup()
    assert run_cli("location", "add", "folder", str(usb), "--name", "u", "--no-encrypt", data_dir=root).returncode == 0
    engine.release_instance_lock()
    (root / name).unlink(missing_ok=True)
    os.mkfifo(root / name)
    for command in (["status"], ["location", "list"], ["backup", "list"]):
        r = run_cli(*command, data_dir=root, timeout=60)  # subprocess.TimeoutExpired: it hung
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (command, r.stdout, r.stderr)
