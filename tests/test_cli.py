"""The command line as a user runs it: real subprocesses, exit codes, JSON, progress on a terminal."""

import fcntl
import json
import os
import select
import struct
import sys
import termios
import time

import pytest
from conftest import exec_on_pty, fingerprint, run_cli
from jobmatcher import schema


def test_status_of_a_new_folder_lists_every_revision_in_order(data_dir):
    r = run_cli("db", "status", "--json", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["current"] is None and s["head"] == schema.head() and s["pending"] == list(schema.revisions())


def test_data_dir_from_the_environment(data_dir):
    r = run_cli("db", "migrate", env={"JOBMATCHER_DATA_DIR": str(data_dir)})
    assert r.returncode == 0, r.stderr
    assert (data_dir / "jobmatcher.db").exists()


def test_create_list_verify_pin_prune_delete_round_trip(engine):
    d = engine.data.root
    r = run_cli("backup", "create", "--note", "first job hunt", "--json", data_dir=d)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["copy_seconds"] >= 0 and made["verify_seconds"] >= 0 and made["verified"] is True

    r = run_cli("backup", "list", "--json", data_dir=d)
    rows = json.loads(r.stdout)
    assert set(rows[0]) == {
        "id",
        "path",
        "type",
        "created_at",
        "size_bytes",
        "sha256",
        "schema_revision",
        "app_version",
        "note",
        "pinned",
        "verified",
        "verified_at",
        "manifest",
        "data_folder_id",
        "owned",
        "future",
        "added_by_hand",
        "sequence",
    }
    assert rows[0]["id"] == made["id"] and rows[0]["note"] == "first job hunt"

    text = run_cli("backup", "list", data_dir=d).stdout
    assert made["id"] in text and "Manual" in text and "first job hunt" in text

    r = run_cli("backup", "verify", made["id"], data_dir=d)
    assert r.returncode == 0 and "OK" in r.stdout

    assert run_cli("backup", "pin", made["id"], data_dir=d).returncode == 0
    assert json.loads(run_cli("backup", "list", "--json", data_dir=d).stdout)[0]["pinned"] is True
    assert run_cli("backup", "unpin", made["id"], data_dir=d).returncode == 0

    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=d)
    assert r.returncode == 0 and json.loads(r.stdout)["would_delete"] == []

    r = run_cli("backup", "delete", made["id"], data_dir=d)  # no terminal, no --yes: refused
    assert r.returncode == 1 and "--yes" in r.stderr
    r = run_cli("backup", "delete", made["id"], "--yes", data_dir=d)
    assert r.returncode == 0
    assert json.loads(run_cli("backup", "list", "--json", data_dir=d).stdout) == []


def test_restore_from_the_command_line(engine):
    d = engine.data.root
    made = json.loads(run_cli("backup", "create", "--json", data_dir=d).stdout)
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = 'Changed'")
    conn.close()
    r = run_cli("backup", "restore", made["id"], "--yes", "--json", data_dir=d)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["safety_backup_id"] and out["relaunch_required"] is False
    conn = engine.connect()
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Ada Lovelace"
    conn.close()


@pytest.mark.parametrize("bad", ["..", "../../etc/passwd", "/etc/passwd", "backup_*", "x" * 300, "*.db"])
def test_delete_and_pin_take_only_ids_from_the_list(engine, bad):
    engine.create_backup()
    before = fingerprint(engine.data.db_path)
    for cmd in (["backup", "delete", bad, "--yes"], ["backup", "pin", bad]):
        r = run_cli(*cmd, data_dir=engine.data.root)
        assert r.returncode == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr
    assert len(engine.list_backups()) == 1
    assert fingerprint(engine.data.db_path) == before


def test_usage_errors_exit_2(data_dir):
    assert run_cli("backup", data_dir=data_dir).returncode == 2
    assert run_cli("backup", "restore", data_dir=data_dir).returncode == 2
    assert run_cli("frobnicate", data_dir=data_dir).returncode == 2


def test_errors_as_json(data_dir):
    r = run_cli("backup", "create", "--json", data_dir=data_dir)
    assert r.returncode == 1
    err = json.loads(r.stdout)
    assert err["error"] == "no-database" and err["message"] and err["hint"]


def test_check_reports_a_damaged_live_database(engine):
    assert run_cli("db", "check", data_dir=engine.data.root).returncode == 0
    db = engine.data.db_path
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 3 : page * 4] = os.urandom(page)  # smash page 4
    db.write_bytes(bytes(data))
    r = run_cli("db", "check", data_dir=engine.data.root)
    assert r.returncode == 1 and "FAILED" in r.stderr and "Traceback" not in r.stderr


def test_a_progress_bar_is_shown_on_a_terminal(engine):
    """Run the CLI on a real pseudo-terminal and read what it draws."""
    pid, fd = exec_on_pty([sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "backup", "create"])
    # a terminal has a size (tqdm draws nothing on a pty with 0 rows)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    out = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "Copying" in text and "Backed up" in text


def test_no_progress_noise_when_not_a_terminal(engine):
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 0 and r.stderr == ""
