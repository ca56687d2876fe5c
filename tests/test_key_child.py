"""X17: age's scrypt (opening the key with the passphrase, locking a new one) runs in a child process, so the
app's other threads keep running meanwhile, and the secrets never show in the child's command line or
environment.

Real parts: real age (pyrage) in a real child process, real threads of this process. Nothing is timed against
a fixed figure: the other thread's longest pause is compared with the unlock's own duration.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from jobmatcher.errors import JobMatcherError, WrongPassphraseError
from jobmatcher.locations import keyproc
from jobmatcher.locations.crypto import lock_identity, unlock_identity


def _children() -> list[int]:
    """This process's child processes (Linux /proc)."""
    me = str(os.getpid())
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                kids.append(int(d.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_other_threads_run_while_the_key_opens_and_the_secret_is_not_in_proc(locked_identity):
    locked, identity, _ = locked_identity
    result: dict = {}

    def unlock() -> None:
        t0 = time.perf_counter()
        result["identity"] = unlock_identity(locked, PASS)
        result["took"] = time.perf_counter() - t0

    worker = threading.Thread(target=unlock)
    ticks: list[float] = []
    seen: dict[int, tuple[bytes, bytes]] = {}
    worker.start()
    while worker.is_alive():  # this thread keeps counting while the other opens the key
        ticks.append(time.perf_counter())
        for pid in _children():
            # read again until it shows the key child's command: a child seen between its fork and its exec
            # still has this process's command line (seen under load: the key child was then missed)
            if pid not in seen or (keyproc.CHILD_FLAG.encode() not in seen[pid][0] and b"keyproc" not in seen[pid][0]):
                try:
                    seen[pid] = (Path(f"/proc/{pid}/cmdline").read_bytes(), Path(f"/proc/{pid}/environ").read_bytes())
                except OSError:
                    pass
        time.sleep(0.002)
    worker.join()
    assert result["identity"] == identity
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    # before: the GIL was held by scrypt, and this thread stood still for the whole unlock
    assert len(ticks) > 20 and max(gaps) < result["took"] / 3, (len(ticks), max(gaps, default=0), result["took"])
    key_children = {pid: v for pid, v in seen.items() if keyproc.CHILD_FLAG.encode() in v[0] or b"keyproc" in v[0]}
    assert key_children, seen  # the unlock ran in a child, which was seen
    for cmdline, environ in key_children.values():
        for secret in (PASS.encode(), identity.encode(), locked[:40]):
            assert secret not in cmdline and secret not in environ
    assert not [p for p in _children() if p in key_children]  # none left running


def test_locking_runs_in_the_child_and_its_errors_keep_their_words(monkeypatch):
    calls: list[str] = []
    real = keyproc.run
    monkeypatch.setattr(keyproc, "run", lambda op, data, pw: calls.append(op) or real(op, data, pw))
    ident = "AGE-SECRET-KEY-1" + "Q" * 58  # not checked by locking: any text
    locked = lock_identity(ident, PASS)
    assert calls == ["encrypt"] and locked.startswith(b"age-encryption.org/v1\n-> scrypt ")
    assert unlock_identity(locked, PASS) == ident and calls == ["encrypt", "decrypt"]
    with pytest.raises(WrongPassphraseError) as e:
        unlock_identity(locked, "not the passphrase")
    assert e.value.code == "wrong-passphrase" and "does not open" in e.value.message
    with pytest.raises(WrongPassphraseError) as e:
        unlock_identity(locked[:60], PASS)  # cut short: the file, not the passphrase
    assert e.value.code == "key-damaged"


def test_a_child_killed_mid_scrypt_is_said_as_memory_and_none_is_left(monkeypatch, locked_identity):
    """The child killed (as the kernel's out-of-memory killer would, or age aborting a refused allocation):
    the memory words, code memory-low, nothing left running."""
    import subprocess

    real_popen = subprocess.Popen

    class KilledPopen(real_popen):  # type: ignore[misc,valid-type]
        def communicate(self, *a, **k):
            self.stdin.write(a[0])
            self.stdin.close()
            self.stdin = None
            self.kill()
            return super().communicate()

    monkeypatch.setattr(subprocess, "Popen", KilledPopen)
    with pytest.raises(JobMatcherError) as e:
        unlock_identity(locked_identity[0], PASS)
    assert e.value.code == "memory-low" and "memory" in e.value.message and "recovery key" in e.value.hint


def test_a_child_that_cannot_run_falls_back_to_age_here(monkeypatch, locked_identity):
    """A child that exits with an error without answering (a broken install: its module not found) is not
    said as memory: the key opens here, as before the child existed."""
    monkeypatch.setattr(keyproc, "__name__", "jobmatcher.locations.no_such_module")
    assert unlock_identity(locked_identity[0], PASS) == locked_identity[1]


def test_the_page_is_answered_while_it_unlocks_the_key(engine, tmp_path, locked_identity, file_credentials):
    """The finding's case: the page's Unlock and copy runs, and its other calls (app_info, as its polls) are
    answered meanwhile, each in a fraction of the unlock's time (before: each waited for the whole scrypt)."""
    from conftest import prime
    from jobmatcher.api import Api

    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    api = Api(engine, mode="window")
    api._begin_launch()
    api._wait_launched(30)
    try:
        result: dict = {}

        def unlock() -> None:
            t0 = time.perf_counter()
            result["answer"] = api._dispatch("unlock_location_key", [PASS])
            result["took"] = time.perf_counter() - t0

        worker = threading.Thread(target=unlock)
        worker.start()
        waits = []
        while worker.is_alive():
            t0 = time.perf_counter()
            assert api._dispatch("app_info", [])["ok"]
            waits.append(time.perf_counter() - t0)
        worker.join()
        assert result["answer"]["ok"], result
        assert len(waits) > 5 and max(waits) < result["took"] / 3, (len(waits), max(waits), result["took"])
    finally:
        api._close()


def test_the_bundle_runs_the_key_child_from_its_entry_point(locked_identity):
    """In the packaged app the child is the bundle's executable with CHILD_FLAG, dispatched by build/entry.py;
    the request on standard input, the answer on standard output."""
    import base64
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    request = {"op": "decrypt", "data": base64.b64encode(locked_identity[0]).decode(), "passphrase": PASS}
    p = subprocess.run(
        [sys.executable, str(root / "build" / "entry.py"), keyproc.CHILD_FLAG],
        input=json.dumps(request).encode(),
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(root / "backend")},
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert base64.b64decode(json.loads(p.stdout)["data"]).decode().strip() == locked_identity[1]


def _proc_state(pid: int) -> str | None:
    """A process's state letter (R, S, T, Z...), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_the_key_child_dies_with_a_killed_parent_even_before_it_asked_the_kernel(tmp_path, locked_identity):
    """Y9d: a restore or recovery killed (SIGKILL) while its key child starts: the child ends with it, instead of
    running scrypt to its end first (seconds, up to 1 GiB of memory) for a parent that is gone. The child is
    stopped as soon as it appears, before it could ask the kernel to kill it with its parent (PR_SET_PDEATHSIG):
    the parent is killed then, and the child let go. Not timed against a figure: against this machine's own
    unlock, measured here first."""
    import signal
    import subprocess
    import sys

    locked, _, _ = locked_identity
    (tmp_path / "locked").write_bytes(locked)
    script = (
        "import sys\nfrom pathlib import Path\nfrom jobmatcher.locations import keyproc\n"
        "keyproc.run('decrypt', Path(sys.argv[1]).read_bytes(), sys.argv[2])\n"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "locked"), PASS], check=True, timeout=120)
    unlock = time.perf_counter() - t0  # a whole unlock here: start, imports, scrypt

    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "locked"), PASS])
    child = None
    while child is None and parent.poll() is None:
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if (d / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(parent.pid):
                        child = int(d.name)
                        os.kill(child, signal.SIGSTOP)
                        break
                except (OSError, IndexError):
                    continue
    assert child is not None, "the parent ended without a key child"
    parent.kill()
    parent.wait()
    t_killed = time.perf_counter()
    os.kill(child, signal.SIGCONT)
    while _proc_state(child) not in (None, "Z"):
        time.sleep(0.005)
    lived = time.perf_counter() - t_killed
    # before: the orphan ran its whole scrypt (most of an unlock) before its answer found no reader
    assert lived < unlock / 3, (lived, unlock)
