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


@pytest.mark.parametrize("command", ["restore", "create"])
def test_ctrl_c_right_after_the_change_is_made_ends_with_its_own_code(engine, command):
    """K10: Ctrl+C just after "Restored …" (the safety backup's check runs in its own detached process) or
    "Backed up …": the change is made and said, so the command ends as it would have (0), never killed by
    the signal (the interpreter puts back the default handler as it ends) and never "Interrupted." of a
    change that happened. Tried a few times, at once and a little later: the window is milliseconds."""
    first = engine.create_backup().id
    engine.release_instance_lock()
    for delay in (0.0, 0.0, 0.02, 0.05):
        args = ["backup", "restore", first, "--yes"] if command == "restore" else ["backup", "create"]
        p = subprocess.Popen(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = p.stdout.readline()
        assert line.startswith("Restored" if command == "restore" else "Backed up"), line
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, (delay, p.returncode, err)
        assert "Traceback" not in err and "Interrupted." not in err, err
