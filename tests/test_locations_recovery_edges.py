"""Disaster-recovery edges found by a tester (issue 10, FINDINGS6): a wrong S3 endpoint, a small data disk,
a killed restore's leftovers. Real servers (a plain `python -m http.server`, SeaweedFS), real tmpfs mounts."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_server(tmp_path):
    """A plain web server (not S3) answering 200 with HTML for /my-bucket/, as a console URL pasted by mistake."""
    root = tmp_path / "www"
    (root / "my-bucket").mkdir(parents=True)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_a_web_server_as_s3_endpoint_is_named_as_not_s3_not_a_nested_request(web_server, tmp_path):
    """L27: botocore recurses on a plain web page's answer; that is 'did not answer as S3', on every command."""
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "JOBMATCHER_CREDENTIALS": "file"}
    data = tmp_path / "fresh"
    for args in (
        ("backup", "list", "--from-s3", "s3://my-bucket/x", "--endpoint-url", web_server),
        (
            "backup",
            "restore",
            "backup_2026-01-01_00-00-00",
            "--from-s3",
            "s3://my-bucket/x",
            "--endpoint-url",
            web_server,
            "--yes",
        ),
        ("--json", "backup", "list", "--from-s3", "s3://my-bucket/x", "--endpoint-url", web_server),
    ):
        r = run_cli(*args, data_dir=data, env=env)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert "did not answer as S3 storage" in out and web_server in out, out
        assert "endpoint URL" in out, out
        assert "nested" not in out and "Traceback" not in out and "RecursionError" not in out, out


def test_a_recursion_error_outside_the_page_does_not_speak_of_the_page():
    from jobmatcher import causes

    e = causes.explain(RecursionError(), "testing")
    assert e.code == "invalid-input"
    assert "page" not in (e.message + e.hint) and "Send plain values" not in e.hint
