"""Fixtures for the app's tests: real app processes (browser mode and window), Chromium for Playwright.

Loaded from conftest.py through `pytest_plugins`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from jobmatcher import profile
from jobmatcher.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# -- Playwright with Debian's Chromium (Playwright cannot download its own browser here) ----------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    chromium = os.environ.get("JOBMATCHER_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(
            f"no Chromium at {chromium}: install Debian's chromium (./dev.sh test does) or set JOBMATCHER_CHROMIUM"
        )
    return {
        **browser_type_launch_args,
        "executable_path": chromium,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "viewport": {"width": 1280, "height": 900},
        "accept_downloads": True,
        "locale": "en-US",
    }


def screenshot(page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot of the page's current state to test-artifacts/ (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:  # from the top, or the sticky header lands mid-page
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    return path


# -- data folders ------------------------------------------------------------------------------------


def set_profile_name(data_dir: Path, name: str) -> None:
    conn = Engine(data_dir).connect()
    try:
        p = profile.get_profile(conn)
        profile.update_profile(conn, p.model_copy(update={"full_name": name}))
    finally:
        conn.close()


def profile_name(data_dir: Path) -> str:
    conn = sqlite3.connect(f"{(data_dir / 'jobmatcher.db').as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT full_name FROM user_profile WHERE id = 1").fetchone()
        return row[0] if row else ""
    finally:
        conn.close()


def age_backup(data_dir: Path, backup_id: str, days: float) -> None:
    """Pretend a backup was made `days` ago (its manifest says when it was made)."""
    from datetime import datetime, timedelta, timezone

    manifest = data_dir / "backups" / f"{backup_id}.json"
    body = json.loads(manifest.read_text())
    body["created_at"] = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    manifest.write_text(json.dumps(body))
    renumber_by_date(manifest.parent)


def renumber_by_date(folder: Path) -> None:
    """Give the manifests in `folder` that have a `sequence` the order of their dates: what backups really
    made at those dates would have (a test that re-dates one emulates time passing, not a wrong clock)."""
    bodies = {}
    for m in folder.glob("*.json"):
        try:
            body = json.loads(m.read_text())
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("sequence") is not None and "created_at" in body:
            bodies[m] = body
    from datetime import datetime

    for n, (m, body) in enumerate(
        sorted(bodies.items(), key=lambda x: datetime.fromisoformat(x[1]["created_at"].replace("Z", "+00:00"))), start=1
    ):
        if body["sequence"] != n:
            body["sequence"] = n
            m.write_text(json.dumps(body))


@pytest.fixture
def app_data(tmp_path) -> Path:
    """A data folder with a current database, Ada's profile and one manual backup ("first")."""
    from conftest import fill_sample_data

    d = tmp_path / "data"
    d.mkdir()
    e = Engine(d)
    e.migrate()
    fill_sample_data(e, jobs=20)
    e.create_backup(note="first")
    return d


# -- app processes ----------------------------------------------------------------------------------------


def app_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "QTWEBENGINE_DISABLE_SANDBOX": "1", "PYTHONUNBUFFERED": "1"}
    for k in (
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "QT_QPA_PLATFORM",
        "JOBMATCHER_LAUNCHER_WAIT_PID",
        "JOBMATCHER_RELAUNCHED",
        "JOBMATCHER_SERVE_PORT",
        "JOBMATCHER_SERVE_SECRET",
    ):
        env.pop(k, None)
    env.update(extra)
    return env


def lock_owner(data_dir: Path) -> int | None:
    """The pid recorded in the data folder's instance lock (the app that owns it, or owned it last)."""
    try:
        text = (data_dir / ".jobmatcher.lock").read_text().split("\n")[0].strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def pid_alive(pid: int) -> bool:
    from jobmatcher.launcher import process_gone

    return not process_gone(pid)


class AppProcess:
    """`python -m jobmatcher ...` as a real subprocess; stdout lines collected on a thread."""

    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str], **popen) -> None:
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
            **popen,
        )
        self.lines: list[str] = []
        self.stderr: list[str] = []
        self._got_line = threading.Condition()
        # Relaunched apps inherit these pipes, so keep draining them until everything closed them.
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True).start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self._got_line:
                into.append(line.rstrip("\n"))
                self._got_line.notify_all()

    def wait_line(self, index: int = 0, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        with self._got_line:
            while len(self.lines) <= index:
                left = deadline - time.monotonic()
                failed = self.proc.poll() not in (None, 0)  # 0: a launcher, whose child prints later
                if left <= 0 or failed:
                    raise AssertionError(
                        f"no stdout line {index} from the app (exit code {self.proc.poll()}); "
                        "stderr:\n" + "\n".join(self.stderr)
                    )
                self._got_line.wait(min(left, 0.5))
            return self.lines[index]

    @property
    def url(self) -> str:
        line = self.wait_line(0)
        assert line.startswith("http://127.0.0.1:"), line
        return line

    def call(self, name: str, *args, timeout: float = 30) -> dict:
        """Browser mode: one API call as the page makes it; the {"ok", "value" | "error"} envelope."""
        import http.client
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(self.url)
        secret = unquote(parts.fragment.split("secret=", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=timeout)
        try:
            conn.request(
                "POST",
                f"/api/{name}",
                json.dumps({"args": list(args)}),
                {"Content-Type": "application/json", "X-JobMatcher-Secret": secret},
            )
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def wait_task(self, task_id: str, timeout: float = 60) -> dict:
        """Poll a task until it is no longer running; its last status."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.call("task_status", task_id)["value"]
            if t["state"] != "running" or time.monotonic() > deadline:
                return t
            time.sleep(0.1)

    def wait_opened(self, timeout: float = 60, other_than: str | None = None) -> dict:
        """Wait until the app (a new instance, when `other_than` names the old one) has opened the data; app_info."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = self.call("app_info", timeout=5).get("value") or {}
            except (OSError, ValueError):
                info = {}
            launch = info.get("launch") or {}
            if info and info.get("instance") != other_than and launch.get("state") not in (None, "running"):
                return info
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the app did not open the data in time: {info}; stderr:\n" + "\n".join(self.stderr)
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """End the app we started and every app it relaunched for this (unique, temporary) data folder."""
        for _round in range(3):  # a launcher caught mid-wait may still start one more
            pids = {self.proc.pid} | set(processes_using(self.data_dir))
            pids.discard(os.getpid())
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            for pid in pids:
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            if not [p for p in processes_using(self.data_dir) if p != os.getpid()]:
                break
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def processes_using(data_dir: Path) -> list[int]:
    """Live JobMatcher processes started with `--data-dir data_dir` (our tests' folders are unique)."""
    needle = f"--data-dir\0{data_dir}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline + b"\0" and b"jobmatcher" in cmdline and pid_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.fixture
def ctrl_c_reaches_children():
    """Programs started in the test get Ctrl+C as from a terminal's foreground job: not ignored. A test run
    started in the background by a script (`pytest ... &`) ignores SIGINT, and children inherit that through
    exec; this process catching it instead gives them the default (the interpreter then installs its own)."""
    before = signal.getsignal(signal.SIGINT)
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, before)


@pytest.fixture
def start_app():
    """start_app(data_dir, *args, **env) -> AppProcess; every app is stopped after the test."""
    started: list[AppProcess] = []

    def start(data_dir: Path, *args: str, **env: str) -> AppProcess:
        p = AppProcess(data_dir, list(args), app_env(**env))
        started.append(p)
        return p

    yield start
    for p in reversed(started):
        p.stop()
