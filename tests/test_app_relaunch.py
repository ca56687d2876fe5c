"""Relaunch after a restore: the command, the environment, and the launcher waiting for the old process."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jobmatcher
import pytest
from conftest_app import AppProcess, app_env, lock_owner, pid_alive, processes_using
from jobmatcher import app, launcher, relaunch


def args(**kw):
    base = {"data_dir": None, "browser": False, "port": 0, "verbose": False, "json": False}
    return argparse.Namespace(**{**base, **kw})


def test_the_program_from_source_or_console_script_is_this_python_with_dash_m(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert relaunch.program() == [sys.executable, "-m", "jobmatcher"]


def test_the_program_in_a_bundle_is_the_bundle_and_its_children_unpack_afresh(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/JobMatcher/JobMatcher")
    monkeypatch.delenv("PYINSTALLER_RESET_ENVIRONMENT", raising=False)
    assert relaunch.program() == ["/opt/JobMatcher/JobMatcher"]
    assert relaunch.child_environment()["PYINSTALLER_RESET_ENVIRONMENT"] == "1"
    monkeypatch.setattr(sys, "frozen", False)
    assert "PYINSTALLER_RESET_ENVIRONMENT" not in relaunch.child_environment()


def test_the_same_arguments_with_the_data_folder_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert relaunch.app_arguments(args(data_dir="rel/data", browser=True, port=8123, verbose=True)) == [
        "--data-dir",
        str(tmp_path / "rel" / "data"),
        "--browser",
        "--port",
        "8123",
        "--verbose",
    ]
    assert relaunch.app_arguments(args()) == []


def test_start_launcher_passes_our_pid_and_detaches(monkeypatch, tmp_path):
    seen = {}

    def fake_spawn(cmd, env, cwd=None):
        seen.update(cmd=cmd, env=env, cwd=cwd)

    monkeypatch.setattr(relaunch, "spawn_detached", fake_spawn)
    monkeypatch.setenv(relaunch.RELAUNCHED_ENV, "1")
    relaunch.start_launcher(args(data_dir=str(tmp_path)), {"EXTRA": "x"})
    assert seen["cmd"][-2:] == ["--data-dir", str(tmp_path)]
    assert seen["env"][relaunch.WAIT_PID_ENV] == str(os.getpid())
    assert seen["env"]["EXTRA"] == "x"
    assert relaunch.RELAUNCHED_ENV not in seen["env"]


def test_process_gone_sees_running_exited_and_zombie_processes():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not launcher.process_gone(p.pid)
        p.kill()
        time.sleep(0.3)  # not reaped yet: a zombie, which holds no files or ports any more
        assert launcher.process_gone(p.pid)
    finally:
        p.wait()
    assert launcher.process_gone(p.pid)
    assert not launcher.process_gone(os.getpid())


def test_the_launcher_starts_the_command_only_after_the_old_process_exited(tmp_path):
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    stamp = tmp_path / "started"
    t0 = time.time()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobmatcher.launcher",
            "--wait-pid",
            str(old.pid),
            "--",
            sys.executable,
            "-c",
            f"import time; open({str(stamp)!r}, 'w').write(str(time.time()))",
        ],
        timeout=30,
        env=app_env(),
    )
    old_exit = time.time()
    old.wait()
    assert r.returncode == 0
    deadline = time.monotonic() + 10
    while not stamp.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = float(stamp.read_text())
    assert started >= t0 + 1.4, "the command ran before the old process was gone"
    assert started <= old_exit + 10


def test_the_app_as_launcher_waits_then_restarts_itself_in_browser_mode(start_app, app_data):
    """The real path: `jobmatcher` started with the launcher variable waits for a pid, then starts the app."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    app = start_app(
        app_data,
        "--browser",
        JOBMATCHER_LAUNCHER_WAIT_PID=str(sleeper.pid),
        JOBMATCHER_SERVE_PORT="0",
        JOBMATCHER_SERVE_SECRET="the-same-secret-as-before",
    )
    assert app.proc.wait(30) == 0  # the launcher's job is done
    sleeper.wait()
    url = app.wait_line(0, timeout=30)  # printed by the app the launcher started
    assert url.endswith("#secret=the-same-secret-as-before")
    # That app (not the launcher, not us) goes on to own the data folder.
    deadline = time.monotonic() + 20
    while lock_owner(app_data) in (None, os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.1)
    owner = lock_owner(app_data)
    assert owner not in (None, os.getpid(), app.proc.pid, sleeper.pid) and pid_alive(owner)
    assert processes_using(app_data) == [owner]


# -- browser mode restarts in place: same process group, same listening socket ----------------------------


def _restore_first_backup(app: AppProcess) -> None:
    app.wait_opened()
    first = app.call("list_backups")["value"][-1]["id"]
    task = app.call("start_restore", first)["value"]
    assert app.wait_task(task["id"])["state"] == "done"


def _signal_sets(pid: int) -> dict[str, set[int]]:
    """The signals process `pid` ignores, blocks (in any thread) and catches, from /proc/PID/status."""
    sets: dict[str, set[int]] = {"SigIgn": set(), "SigBlk": set(), "SigCgt": set()}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in sets:
                bits = int(value, 16)
                sets[key] |= {n for n in range(1, 65) if bits >> (n - 1) & 1}
    return sets


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT are POSIX")
def test_after_a_restore_in_browser_mode_ctrl_c_still_stops_the_restarted_app(app_data, ctrl_c_reaches_children):
    """Issue 8, kind 4: the restarted app stays in the terminal's process group; Ctrl+C there stops it."""
    # Its own process group, as a shell gives a foreground job; Ctrl+C sends SIGINT to that whole group.
    app = AppProcess(app_data, ["--browser"], app_env(), start_new_session=True)
    try:
        _restore_first_backup(app)
        old = app.call("app_info")["value"]["instance"]
        assert app.call("restart")["value"]["restarting"] is True
        info = app.wait_opened(other_than=old)
        assert info["relaunched"] is True
        # The restarted program takes Ctrl+C: neither ignored nor blocked (both would survive the execve), caught.
        sig = _signal_sets(app.proc.pid)
        assert signal.SIGINT not in sig["SigIgn"] | sig["SigBlk"] and signal.SIGINT in sig["SigCgt"], sig
        os.killpg(app.proc.pid, signal.SIGINT)
        assert app.proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while processes_using(app_data) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_using(app_data) == []
        # and the data folder is free for the next `./dev.sh run`
        from jobmatcher.lock import InstanceLock

        lock = InstanceLock(app_data / ".jobmatcher.lock")
        lock.take()
        lock.release()
    finally:
        app.stop()


@pytest.mark.skipif(os.name != "posix", reason="signal masks and execve are POSIX")
def test_a_ctrl_c_held_across_the_restart_in_place_stops_the_restarted_app(app_data, ctrl_c_reaches_children):
    """A Ctrl+C in the moment between the old program's last look and its execve is held (blocked) across the
    execve: the restarted program must take it first thing and stop, not serve on with it blocked forever."""
    code = (
        "import os, signal, sys\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})\n"
        "os.kill(os.getpid(), signal.SIGINT)  # pressed during the restart: pending\n"
        "cmd = [sys.executable, '-m', 'jobmatcher', '--data-dir', sys.argv[1], '--browser']\n"
        "os.execve(cmd[0], cmd, os.environ)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(app_data)],
        env=app_env(JOBMATCHER_RELAUNCHED="1"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 130, p.stderr
    assert p.stderr.strip().endswith("Interrupted."), p.stderr
    assert "Traceback" not in p.stderr


def test_replace_self_holds_ctrl_c_and_sigterm_until_the_execve(monkeypatch, tmp_path):
    seen: dict = {}

    def fake_execve(path, cmd, env):
        seen["blocked"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        seen["env"] = env
        raise OSError(8, "Exec format error")

    monkeypatch.setattr(os, "execve", fake_execve)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(OSError):
        relaunch.replace_self(args(data_dir=str(tmp_path), browser=True))
    assert {signal.SIGINT, signal.SIGTERM} <= seen["blocked"]
    assert seen["env"][relaunch.RELAUNCHED_ENV] == "1"  # the new program knows to take them
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before  # a failed execve gives them back
    # A Ctrl+C or SIGTERM during the restart (its handler said so): no restart at all.
    seen.clear()
    assert relaunch.replace_self(args(data_dir=str(tmp_path)), still_wanted=lambda: False) is False
    assert seen == {} and signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM and the restart in place are POSIX")
def test_sigterm_during_a_restart_in_browser_mode_ends_the_app_instead(app_data):
    """A service manager (or `kill`) stopping the app while it restarts: it ends, and does not come back."""
    app = AppProcess(app_data, ["--browser"], app_env(), start_new_session=True)
    try:
        _restore_first_backup(app)
        assert app.call("restart")["value"]["restarting"] is True  # the loop ends 0.3 s after this answer
        os.kill(app.proc.pid, signal.SIGTERM)
        assert app.proc.wait(30) == 0
        log = (Path(os.environ["JOBMATCHER_LOG_DIR"]) / "jobmatcher.log").read_text()
        assert f"{app.proc.pid} INFO jobmatcher.relaunch: restarting in place" not in log
        deadline = time.monotonic() + 10
        while processes_using(app_data) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_using(app_data) == [], [
            Path(f"/proc/{p}/cmdline").read_bytes() for p in processes_using(app_data)
        ]
    finally:
        app.stop()


@pytest.mark.skipif(os.name != "posix", reason="the socket is handed over on POSIX")
def test_no_other_program_can_take_the_port_while_browser_mode_restarts(app_data):
    """Issue 8, kind 7: a local program squatting the port during the restart never gets the page's secret."""
    app = AppProcess(app_data, ["--browser", "--verbose"], app_env())
    try:
        _restore_first_backup(app)
        port = int(app.url.split(":")[2].split("/")[0])
        secret = app.url.split("#secret=")[1]
        old = app.call("app_info")["value"]["instance"]
        got = {"bound": False, "heard": b""}
        stop = threading.Event()

        def squat():  # try to take the port as fast as possible until the restarted app answers
            while not stop.is_set():
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                    s.listen(8)
                except OSError:
                    s.close()
                    time.sleep(0.002)
                    continue
                got["bound"] = True
                s.settimeout(5)
                try:
                    conn, _ = s.accept()
                    conn.settimeout(5)
                    got["heard"] += conn.recv(65536)
                    conn.close()
                except OSError:
                    pass
                s.close()
                return

        squatter = threading.Thread(target=squat, daemon=True)
        squatter.start()
        assert app.call("restart")["value"]["restarting"] is True
        # Meanwhile the page keeps asking whether the app is back, with its secret.
        app.wait_opened(other_than=old, timeout=60)
        stop.set()
        squatter.join(10)
        assert not got["bound"], "another program could take the port during the restart"
        assert secret.encode() not in got["heard"]
        # and the secret is never written to the log (run with --verbose: every request is logged)
        log = (Path(os.environ["JOBMATCHER_LOG_DIR"]) / "jobmatcher.log").read_text()
        assert "restarting in place" in log
        assert secret not in log
    finally:
        app.stop()


# -- mode and page folder ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, browser_flag, platform, expected",
    [
        ({}, False, "linux", True),  # no display at all
        ({"DISPLAY": ":0"}, False, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False, "linux", False),
        ({"QT_QPA_PLATFORM": "offscreen"}, False, "linux", False),  # an explicit Qt platform
        ({"DISPLAY": ":0"}, True, "linux", True),  # --browser wins
        ({}, False, "win32", False),
        ({}, False, "darwin", False),
    ],
)
def test_browser_mode_when_asked_or_when_there_is_no_display(env, browser_flag, platform, expected):
    assert app.use_browser_mode(args(browser=browser_flag), environ=env, platform=platform) is expected


def test_the_page_folder_in_the_source_tree_and_in_a_bundle(monkeypatch, tmp_path):
    monkeypatch.delattr(sys, "frozen", raising=False)
    source = app.frontend_dir()
    assert source == Path(jobmatcher.__file__).resolve().parents[2] / "frontend"
    assert (source / "index.html").is_file()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert app.frontend_dir() == tmp_path / "frontend"


def test_window_dialogs_ask_pywebview_with_valid_file_types():
    webview = pytest.importorskip("webview", reason="needs the gui extra (pywebview)")
    from webview.util import parse_file_type

    class FakeWindow:
        def __init__(self, answer):
            self.answer, self.asked = answer, []

        def create_file_dialog(self, kind, **kw):
            self.asked.append((kind, kw))
            return self.answer

    for file_type in app.WindowDialogs.FILE_TYPES:
        parse_file_type(file_type)  # raises for a filter pywebview would refuse at run time
    w = FakeWindow(("/home/ada/backup.db",))
    d = app.WindowDialogs({"window": w})
    assert d.open_file(directory="/home/ada/backups") == "/home/ada/backup.db"
    assert w.asked[0][0] == webview.FileDialog.OPEN and w.asked[0][1]["directory"] == "/home/ada/backups"
    w.answer = "/home/ada/out.db"  # some platforms answer a save dialog with a plain string
    assert d.save_file("backup_x.db", directory="/home/ada/Documents") == "/home/ada/out.db"
    assert w.asked[1] == (
        webview.FileDialog.SAVE,
        {
            "directory": "/home/ada/Documents",
            "save_filename": "backup_x.db",
            "file_types": app.WindowDialogs.FILE_TYPES,
        },
    )
    w.answer = None
    assert d.choose_folder() is None and w.asked[2][0] == webview.FileDialog.FOLDER
