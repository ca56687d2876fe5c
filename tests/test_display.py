"""A DISPLAY nobody serves (left over from ssh, a closed remote desktop): a clear sentence and the page in
the browser, not Qt's abort (finding G12). Real Xvfb for the display that answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest_app import AppProcess, app_env
from jobmatcher.app import unreachable_display


def _free_display() -> int:
    for n in range(140, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise AssertionError("no free X display number")


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_a_display_is_asked_before_qt_is_started():
    n = _free_display()
    assert unreachable_display({"DISPLAY": f":{n}"}, "linux") == f":{n}"
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while unreachable_display({"DISPLAY": f":{n}"}, "linux") is not None:
            assert time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.1)
    finally:
        xvfb.kill()
        xvfb.wait()
    # Wayland is asked by its socket (H16): a stale name answers nothing; a listening socket does
    assert unreachable_display({"WAYLAND_DISPLAY": "wayland-9", "XDG_RUNTIME_DIR": "/nonexistent"}, "linux")
    assert unreachable_display({"WAYLAND_DISPLAY": "wayland-9"}, "linux") == "wayland-9"  # no runtime folder
    import socket
    import tempfile

    with tempfile.TemporaryDirectory() as runtime, socket.socket(socket.AF_UNIX) as server:
        server.bind(os.path.join(runtime, "wayland-1"))
        server.listen()
        env = {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": runtime, "DISPLAY": f":{n}"}
        assert unreachable_display(env, "linux") is None  # Qt uses Wayland
        env["WAYLAND_DISPLAY"] = "wayland-2"
        assert unreachable_display(env, "linux") == f"wayland-2 and :{n}"  # neither answers
    # not asked where Qt's platform is chosen, or on another system
    assert unreachable_display({"DISPLAY": f":{n}", "QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert unreachable_display({"DISPLAY": f":{n}"}, "darwin") is None


def test_the_app_on_a_dead_display_serves_the_page_instead_of_aborting(tmp_path):
    pytest.importorskip("webview")  # without the window toolkit the app goes to the browser anyway
    dead = f":{_free_display()}"
    app = AppProcess(tmp_path / "data", [], app_env(DISPLAY=dead))
    try:
        assert app.url.startswith("http://127.0.0.1:")
        assert app.call("app_info")["ok"] is True
        assert any(f"the display {dead} does not answer" in line for line in app.stderr), app.stderr
    finally:
        app.stop()
    assert app.proc.returncode != 134


def test_the_app_on_a_dead_wayland_display_serves_the_page_instead_of_aborting(tmp_path):
    """Finding H16: the same for a WAYLAND_DISPLAY nobody serves (and no DISPLAY)."""
    pytest.importorskip("webview")
    app = AppProcess(tmp_path / "data", [], app_env(WAYLAND_DISPLAY="wayland-9", XDG_RUNTIME_DIR=str(tmp_path)))
    try:
        assert app.url.startswith("http://127.0.0.1:")
        assert any("the display wayland-9 does not answer" in line for line in app.stderr), app.stderr
    finally:
        app.stop()
