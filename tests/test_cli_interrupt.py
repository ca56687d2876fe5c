"""Ctrl+C at any moment of a command, including while its modules are still being imported (finding G3)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest_app import ROOT


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5, 0.8])
def test_ctrl_c_during_start_up_says_interrupted_not_a_traceback(tmp_path, delay):
    p = subprocess.Popen(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(tmp_path / "data"), "backup", "list"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    if "Fatal Python error: init_" in err:
        # The signal came while the interpreter itself was starting (its `site` module, before any of
        # JobMatcher's code exists): Python's own fatal error, out of our reach. On a busy machine that
        # phase lasts longer; the other delays still cover our imports.
        pytest.skip("SIGINT landed in the interpreter's own start-up")
    assert "Traceback" not in err, err
    # Interrupted (130), finished before the signal (0), or stopped by it before Python set up its
    # handler (-SIGINT, silent): never anything else.
    assert p.returncode in (0, 130, -signal.SIGINT), (p.returncode, err)
    if p.returncode == 130:
        assert err.strip().endswith("Interrupted."), err
