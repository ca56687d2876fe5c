"""The test suite's own plumbing: a test whose report carries a name that is not UTF-8 (a folder named with the
byte 0xE9, as test_findings11_misc's x27 tests make) must not stop a `-n 2` run.

pytest-xdist sends every report from its worker over execnet, which refuses a str that is not UTF-8 encodable
(a lone surrogate such as '\\udce9', os.fsdecode's stand-in for that byte). A captured log line, print or assertion
message naming such a path made the worker fail while sending the report; the controller then saw the worker
finish with tests still pending and stopped the whole stage with INTERNALERROR
(`assert not crashitem`), after about 300 tests. conftest.pytest_runtest_makereport escapes such text."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

NAME = os.fsdecode(b"d\xe9")  # '\udce9' in it: not encodable as UTF-8
INNER = "JOBMATCHER_SUITE_INNER"


@pytest.mark.skipif(os.environ.get(INNER) != "1", reason="run by test_a_name_not_in_utf8_in_a_report_..._stop_xdist")
@pytest.mark.parametrize("fails", [False, True])
def test_inner_a_report_naming_a_path_not_in_utf8(fails):
    logging.getLogger("jobmatcher").warning("opened %s", NAME)  # "Captured log call", also when it passes
    print("stdout", NAME)
    print("stderr", NAME, file=sys.stderr)
    assert not fails, f"the folder {NAME}"  # a message that is not UTF-8 either


def test_a_name_not_in_utf8_in_a_report_does_not_stop_xdist():
    """Two reports (a pass and a failure) naming a non-UTF-8 path, through a real xdist worker: both reported
    (1 passed, 1 failed, the name shown escaped), no INTERNALERROR."""
    here = Path(__file__)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "1", "-p", "no:cacheprovider", "-q", "-rA",
         f"{here}::test_inner_a_report_naming_a_path_not_in_utf8"],
        cwd=here.parent.parent,
        env={**os.environ, INNER: "1"},
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=240,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert "INTERNALERROR" not in out, out[-3000:]
    assert r.returncode == 1 and "1 failed, 1 passed" in out, out[-3000:]
    assert "the folder d\\udce9" in out, out[-3000:]  # the failure's own message, escaped
