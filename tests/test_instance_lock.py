"""The data folder's instance lock ends with the process that took it, also when a forked check outlives it.

A restore killed in the middle of its integrity check left the forked check child holding the flock it
shared with its parent: until the check ended, opening the app or running a command said "JobMatcher is
already running with this data folder (process N)", naming a process that no longer existed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher import checkproc


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def test_a_killed_restores_forked_check_does_not_keep_the_folder(engine, tmp_path):
    # a file big enough for the forked check (checkproc.FORK_MIN_BYTES), restored by the real command line
    big = tmp_path / "big.db"
    big.write_bytes(Path(engine.create_backup().path).read_bytes())
    conn = sqlite3.connect(big)
    conn.executemany(
        "INSERT INTO saved_jobs (title, description) VALUES (?, ?)",
        [(f"job {i}", os.urandom(2000).hex()) for i in range(checkproc.FORK_MIN_BYTES // 4000 + 500)],
    )
    conn.commit()
    conn.close()
    assert big.stat().st_size >= checkproc.FORK_MIN_BYTES
    pause = tmp_path / "pause"
    pause.mkdir()
    # the paused check outlives the killed command, as a check stuck in a slow read of a big file would
    (pause / "outlive").write_text("1")
    env = {**os.environ, checkproc.PAUSE_ENV: str(pause)}
    # --json: no spinner thread, so the checks are forked copies of the command's process
    cmd = [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data_dir), "backup", "restore", str(big)]
    proc = subprocess.Popen([*cmd, "--yes", "--json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    child = None
    try:
        # the check before the question (no lock held yet): let it go
        _wait_for(pause / "ready")
        first = int((pause / "ready").read_text())
        (pause / "ready").unlink()
        (pause / "go").write_text("1")
        deadline = time.monotonic() + 60
        while _alive(first) and time.monotonic() < deadline:
            time.sleep(0.01)
        (pause / "go").unlink()
        # the restore's own check, with the data folder's lock taken: kill the command there
        _wait_for(pause / "ready")
        child = int((pause / "ready").read_text())
        # while the restore runs, another command is told what holds the folder: not "the app is running"
        r = run_cli("db", "migrate", data_dir=engine.data_dir)
        assert r.returncode == 1, r.stderr
        assert (
            "Another JobMatcher command is working with this data folder right now "
            f"(restoring a backup, process {proc.pid})" in r.stderr
        )
        assert "Wait for it to finish" in r.stderr and "already running" not in r.stderr and "Traceback" not in r.stderr
        # and the app opening meanwhile (its launch, what the page shows) is told the same
        from jobmatcher.engine import Engine
        from jobmatcher.errors import InstanceLockedError

        with pytest.raises(InstanceLockedError, match="Another JobMatcher command is working") as refused:
            Engine(engine.data_dir).launch(auto_backup=False)
        assert "restoring a backup" in refused.value.message
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _alive(child)  # the forked check lives on (paused), as a slow check of a big file does
        r = run_cli("db", "migrate", data_dir=engine.data_dir)
        assert r.returncode == 0, r.stderr
        assert "already running" not in r.stderr
        assert _alive(child)  # it was there all along: the lock was not its to keep
    finally:
        (pause / "go").write_text("1")
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 30
        while child is not None and _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)


HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, f"{os.getpid()}\\n\\n".encode())
if os.fork() == 0:  # what an older version's forked check did: keep the parent's lock after it ended
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    time.sleep(float(sys.argv[2]))
    os._exit(0)
print("locked", flush=True)
"""


def test_a_holder_that_ended_is_waited_for_then_named_as_such(engine):
    """The lock file names a process that has ended while something it left still holds the lock: a short
    hold is waited for (the command then works); a long one is said as what it is, not a running app."""
    lock = engine.data_dir / ".jobmatcher.lock"
    for hold, ok in ((2, True), (60, False)):
        holder = subprocess.run(
            [sys.executable, "-c", HOLDER, str(lock), str(hold)], capture_output=True, text=True, timeout=30
        )
        assert holder.stdout.strip() == "locked"
        pid = int(lock.read_text().split()[0])
        r = run_cli("db", "migrate", data_dir=engine.data_dir)
        if ok:
            assert r.returncode == 0, r.stderr
        else:
            assert r.returncode == 1
            assert f"still held by what JobMatcher process {pid} left running when it ended" in r.stderr
            assert "already running" not in r.stderr and "Traceback" not in r.stderr
            for p in Path("/proc").iterdir():  # end the leftover (its command line names the lock file)
                if p.name.isdigit():
                    try:
                        if str(lock) in (p / "cmdline").read_text():
                            os.kill(int(p.name), signal.SIGKILL)
                    except OSError:
                        pass
