"""The `jobmatcher` program with a full, closed or gone stdout/stderr and an unwritable log folder (U2, U3, U6).

Real subprocesses of the program: stdout on /dev/full, descriptors closed by the shell (`>&-`, `2>&-`), a
pipe to `head -1`, a log folder on a real full tmpfs. The command's work and exit code stay what they were,
never a traceback; an output that could not be written is said once on stderr and ends 1.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from conftest import fingerprint

FULL = "the result could not be written: the disk is full"


def _program(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args]


def _shell(redirect: str, cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` with the shell's `redirect` applied (`>&-`, `> /dev/full`, `2>&-`, `| head -1`)."""
    script = f'"$@" {redirect}' if redirect.startswith("|") else f'exec "$@" {redirect}'
    return subprocess.run(
        ["sh", "-c", script, "sh", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _ids(data_dir: Path) -> list[str]:
    r = subprocess.run(_program(data_dir, "backup", "list", "--json"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [b["id"] for b in json.loads(r.stdout)]


@pytest.fixture
def folder(engine) -> tuple[Path, str]:
    """A data folder with one backup: (its path, the backup's id)."""
    return engine.data.root, engine.create_backup().id


def _no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr and "Logging error" not in r.stderr, r.stderr
    assert "something unexpected" not in r.stderr, r.stderr


def test_output_to_a_full_disk_is_said_once_and_ends_1_after_the_work(folder) -> None:
    root, backup = folder
    for args in (
        ("backup", "list"),
        ("backup", "list", "--json"),
        ("status",),
        ("db", "status"),
        ("backup", "verify", backup),
        ("backup", "verify", backup, "--json"),
    ):
        r = _shell("> /dev/full", _program(root, *args))
        _no_traceback(r)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.count(FULL) == 1 and "Your data is as it was" not in r.stderr, (args, r.stderr)
    before = set(_ids(root))
    r = _shell("> /dev/full", _program(root, "backup", "create", "--json"))
    _no_traceback(r)
    assert r.returncode == 1 and FULL in r.stderr
    made = set(_ids(root)) - before
    assert len(made) == 1  # the backup was made: only its report was lost
    r = _shell("> /dev/full", _program(root, "backup", "restore", backup, "--yes", "--json"))
    _no_traceback(r)
    assert r.returncode == 1 and FULL in r.stderr
    assert len(set(_ids(root)) - before - made) == 1  # the restore was made (its safety backup is listed)


def test_a_refusal_with_a_full_output_keeps_its_message_and_the_database(folder) -> None:
    root, _ = folder
    db = root / "jobmatcher.db"
    before = fingerprint(db)
    for args in (("backup", "verify", "no-such-backup", "--json"), ("backup", "restore", "no-such-backup", "--yes")):
        r = _shell("> /dev/full", _program(root, *args))
        _no_traceback(r)
        assert r.returncode == 1 and "There is no backup" in r.stderr, r.stderr
    assert fingerprint(db) == before


def test_closed_stdout_and_stderr_are_like_dev_null(folder) -> None:
    root, backup = folder
    for args in (("backup", "list"), ("status",), ("db", "status"), ("backup", "verify", backup)):
        r = _shell(">&-", _program(root, *args))
        _no_traceback(r)
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
        assert _shell(">&- 2>&-", _program(root, *args)).returncode == 0, args
    before = set(_ids(root))
    r = _shell("2>&-", _program(root, "backup", "create"))
    assert r.returncode == 0 and "Backed up" in r.stdout, r.stdout
    assert _shell(">&- 2>&-", _program(root, "backup", "create")).returncode == 0
    made = set(_ids(root)) - before
    assert len(made) == 2
    db = root / "jobmatcher.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("INSERT INTO skills (name) VALUES ('after the backup')")
    r = _shell(">&-", _program(root, "backup", "restore", backup, "--yes"))
    _no_traceback(r)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert len(set(_ids(root)) - before - made) == 1  # its safety backup
    with closing(sqlite3.connect(db)) as conn:  # restored: the skill added after the backup is gone
        assert conn.execute("SELECT count(*) FROM skills WHERE name = 'after the backup'").fetchone() == (0,)
    before_refusal = fingerprint(db)
    r = _shell(">&- 2>&-", _program(root, "backup", "restore", "no-such-backup", "--yes"))
    assert r.returncode == 1  # the command's own refusal, said nowhere
    assert fingerprint(db) == before_refusal


def test_a_full_stderr_or_a_closed_stdin_change_nothing(folder) -> None:
    root, backup = folder
    before = set(_ids(root))
    r = _shell("2> /dev/full", _program(root, "backup", "create"))
    assert r.returncode == 0 and "Backed up" in r.stdout
    assert _shell("> /dev/full 2> /dev/full", _program(root, "backup", "create")).returncode == 1  # said nowhere
    assert len(set(_ids(root)) - before) == 2
    db = root / "jobmatcher.db"
    unchanged = fingerprint(db)
    r = _shell("<&-", _program(root, "backup", "restore", backup))  # no terminal to confirm on: refused
    _no_traceback(r)
    assert r.returncode == 1 and "Confirmation needed" in r.stderr, r.stderr
    assert fingerprint(db) == unchanged
    for args, code in ((("--help",), 1), (("backup", "no-such-command"), 2)):  # argparse's own output
        r = _shell("> /dev/full", _program(root, *args))
        _no_traceback(r)
        assert r.returncode == code, (args, r.stderr)


def test_a_reader_that_goes_away_is_not_an_error_message(folder) -> None:
    root, backup = folder
    for args in (("backup", "list"), ("status",), ("db", "status"), ("backup", "verify", backup)):
        r = _shell("| head -1", _program(root, *args))
        _no_traceback(r)
        assert r.stdout.count("\n") == 1 and "could not be written" not in r.stderr, (args, r.stderr)


def test_a_full_log_folder_is_said_once_and_the_work_is_done(folder, tmpfs) -> None:
    root, backup = folder
    logs = tmpfs(64)
    fd = os.open(logs / "fill", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # full: the log file can be made (an inode), never written
        pass
    finally:
        os.close(fd)
    env = {"JOBMATCHER_LOG_DIR": str(logs)}
    before = set(_ids(root))
    for args in (("backup", "create", "--note", "logfull"), ("backup", "restore", backup, "--yes")):
        r = _shell("", _program(root, *args), env=env)
        _no_traceback(r)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stderr.count("Warning: the log file") == 1 and "the disk is full" in r.stderr, r.stderr
    assert len(set(_ids(root)) - before) == 2  # the backup and the restore's safety backup
