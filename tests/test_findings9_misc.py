"""The fresh tester's findings FINDINGS9 V3, V8 and V15 (misc9), each as it was seen.

Real parts: real data folders, real lock files held by real other processes, the real command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from jobmatcher import datadir as datadir_mod
from jobmatcher import fsutil
from jobmatcher.datadir import DataDir
from jobmatcher.errors import InstanceLockedError
from jobmatcher.lock import FileLock, InstanceLock

# -- V3: two commands started at once into one new data folder ------------------------------------------------


def test_a_folder_another_process_made_meanwhile_is_not_counted_as_made_here(tmp_path, monkeypatch):
    """Both saw no folder; the other one's mkdir came first. This one must not take the folder for its own."""
    root = tmp_path / "fresh"
    real_mkdir = os.mkdir

    def beaten(path, mode=0o777):
        if Path(path) == root:
            real_mkdir(path, mode)  # the other process, a moment earlier
            raise FileExistsError(path)
        real_mkdir(path, mode)

    monkeypatch.setattr(fsutil.os, "mkdir", beaten)
    data = DataDir.open(root)
    assert root not in datadir_mod._MADE_HERE
    assert data.remove_if_unused() is False
    assert root.is_dir()


_HOLDER = """
import sys, time
from pathlib import Path
from jobmatcher.lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1])).take("restoring a copy from a backup location")
print("held", flush=True)
sys.stdin.read()
"""


def test_a_refused_command_never_removes_lock_files_another_process_holds(tmp_path):
    """The folder counts as made here, but another process (a restore started at the same instant) holds its
    lock: the refused command's clean-up leaves the lock file and the folder as they are (V3)."""
    root = tmp_path / "fresh"
    data = DataDir.open(root)
    assert root in datadir_mod._MADE_HERE
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data.lock_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert data.remove_if_unused() is False
        assert data.lock_path.is_file() and root.is_dir()
        with pytest.raises(InstanceLockedError, match="restoring a copy"):  # still held: nobody else gets in
            InstanceLock(data.lock_path).take("another")
    finally:
        holder.communicate("")
    # once it is gone, the folder (made here, holding only lock files) is removed as before (L2)
    assert data.remove_if_unused() is True
    assert not root.exists()


def test_a_lock_taken_after_its_file_was_removed_is_the_file_now_at_the_path(tmp_path):
    """A taker that opened the lock file before its holder deleted it must not end up holding a lock on the
    deleted file (a lock nobody else can see: two commands in one folder)."""
    path = tmp_path / ".jobmatcher.lock"
    first = FileLock(path)
    assert first.acquire()
    second = FileLock(path)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(second.acquire(timeout=10)))
    waiter.start()
    time.sleep(0.3)  # the second has opened the file and waits for the lock
    path.unlink()
    first.release()
    waiter.join()
    assert got == [True]
    assert second.is_still_at_path()
    third = FileLock(path)
    assert not third.acquire(), "a third taker got in beside the second"
    second.release()


# -- V8: a per-process or virtual folder as a location's folder or the backup folder ----------------------------


@pytest.mark.parametrize("through_link", [False, True], ids=["typed", "a-link-to-it"])
def test_a_location_folder_in_proc_is_refused_not_stored(tmp_path, through_link):
    from conftest import run_cli

    data = tmp_path / "data"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    target = "/proc/self/cwd"
    if through_link:
        link = tmp_path / "mine"
        link.symlink_to(target)
        target = str(link)
    work = tmp_path / "cwd"
    work.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data), "location", "add", "folder", target]
        + ["--name", "x", "--no-encrypt"],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "system folder /proc" in r.stderr and "Traceback" not in r.stderr
    assert not (work / ".jobmatcher-location").exists()
    assert "x" not in run_cli("location", "list", data_dir=data).stdout.split()


@pytest.mark.parametrize("folder", ["/proc/self/cwd", "/dev/shm/jm", "/sys/kernel"])
def test_the_backup_folder_in_a_virtual_folder_is_refused(tmp_path, folder):
    from jobmatcher.errors import SettingsError
    from jobmatcher.settings import check_backup_folder

    with pytest.raises(SettingsError, match="system folder /(proc|dev|sys)"):
        check_backup_folder(Path(folder), tmp_path / "data")
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(SettingsError, match=f"leads into {folder}"):
        check_backup_folder(link, tmp_path / "data")


def test_the_virtual_folder_test_by_parts_is_the_test_by_parents(tmp_path):
    # Issue 13: folders._through_virtual tells "the virtual folder itself or inside it" by comparing the leading
    # parts of each folder on the way (no Path made per parent): the same answer as `here == v or v in
    # here.parents` for every absolute folder, near misses (/procs, /dev2, /sy) and deep ones included; and the
    # refusals above still come through it (links followed one by one).
    import itertools
    import random

    from jobmatcher import folders

    names = ["proc", "procs", "pro", "sys", "sy", "dev", "dev2", "shm", "self", "cwd", "tmp", "a", "kernel"]
    rng = random.Random(13)
    heres = [Path("/")] + [Path("/", *combo) for n in (1, 2, 3) for combo in itertools.product(names[:6], repeat=n)]
    heres += [Path("/", *rng.choices(names, k=rng.randint(1, 8))) for _ in range(2000)]
    for here in heres:
        for virtual in folders._VIRTUAL_FOLDERS:
            by_parts = here.parts[: len(virtual.parts)] == virtual.parts
            assert by_parts == (here == virtual or virtual in here.parents), (here, virtual)
    assert folders._through_virtual(Path("/proc/self/cwd")) == (None, Path("/proc"))
    assert folders._through_virtual(Path("/procs/x")) is None and folders._through_virtual(tmp_path) is None
    link = tmp_path / "into-sys"
    link.symlink_to("/sys/kernel")
    assert folders._through_virtual(link / "deeper") == (Path("/sys/kernel"), Path("/sys"))


# -- V15c: a restore from a configured location that cannot be reached gets restore's hint ----------------------


def test_a_restore_from_an_unreachable_configured_location_is_not_told_copies_catch_up(tmp_path):
    from conftest import run_cli

    data, usb = tmp_path / "data", tmp_path / "usb"
    usb.mkdir()
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert run_cli("backup", "create", data_dir=data).returncode == 0
    assert run_cli("location", "sync", data_dir=data).returncode == 0
    backup_id = next(p.stem for p in (data / "backups").glob("backup_*.db"))
    usb.rename(tmp_path / "unplugged")
    for command in (
        ("backup", "restore", backup_id, "--location", "usb", "--yes"),
        ("backup", "list", "--location", "usb"),
    ):
        r = run_cli(*command, data_dir=data)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "not available" in r.stderr and "Traceback" not in r.stderr
        assert "caught up" not in r.stderr, r.stderr
        assert "then try again" in r.stderr, r.stderr
    # the copier keeps its own hint: the copies are caught up when the drive is back
    r = run_cli("location", "sync", data_dir=data)
    assert "caught up when it is back" in r.stdout + r.stderr


# -- V15b: the README's age recipe keeps the unlocked key private and says to delete it --------------------------


def test_the_readme_recipe_unlocks_the_key_under_umask_077_and_deletes_it():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Your backups without JobMatcher") :]
    recipe = section[section.index("```sh") : section.index("```", section.index("```sh") + 5)]
    lines = [line.split("#", 1)[0].strip() for line in recipe.splitlines()]
    first_key = next(i for i, line in enumerate(lines) if "key.txt" in line)
    assert "umask 077" in lines[:first_key], "the key is written before the umask is set"
    assert any(line.startswith("rm ") and "key.txt" in line for line in lines[first_key:])


# -- V15e: a copy whose location manifest is refused is said, not silently left out ------------------------------


def test_a_copy_with_an_unreadable_manifest_at_a_location_is_said_not_hidden(tmp_path):
    import json

    from conftest import run_cli

    data, usb = tmp_path / "data", tmp_path / "usb"
    usb.mkdir()
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=data)
    assert r.returncode == 0, r.stderr
    for note in ("one", "two"):
        assert run_cli("backup", "create", "--note", note, data_dir=data).returncode == 0
    assert run_cli("location", "sync", data_dir=data).returncode == 0
    manifests = sorted(usb.glob("JobMatcher/*/backup_*.json"))
    assert len(manifests) == 2
    bad, good = manifests
    m = json.loads(bad.read_text())
    bad.write_text(json.dumps({**m, "size_bytes": 1e308}))
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "fresh")
    assert r.returncode == 0, r.stderr
    listed = [line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()]
    assert listed == [good.stem], r.stdout  # (ids may be prefixes of each other: _2 in the same second)
    assert f"{bad.stem} at {usb} is not listed: its manifest there is unreadable" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# -- V15a: status's headline and its "Last backup" line speak of one backup under a wrong clock -----------------


@pytest.mark.skipif(shutil.which("faketime") is None, reason="Debian's faketime is not installed (dev.sh installs it)")
def test_status_says_why_its_headline_goes_by_an_earlier_backups_later_date(tmp_path):
    faketime = shutil.which("faketime")
    data = tmp_path / "data"

    def at(offset: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [faketime, "-f", offset, sys.executable, "-m", "jobmatcher", "--data-dir", str(data), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180)

    assert at("+0d", "db", "migrate").returncode == 0
    assert at("+2d", "backup", "create", "--note", "clock ahead").returncode == 0  # dated two days ahead
    assert at("+0d", "backup", "create", "--note", "right clock").returncode == 0  # made after it, dated earlier
    r = at("+8d", "status")
    out = r.stdout
    assert "Last backup 6 days ago" in out, out  # the latest date among them
    last_line = next(line for line in out.splitlines() if "Last backup:" in line)
    assert "(Manual)" in last_line
    assert "made after a backup dated" in out and "a clock was wrong" in out, out


# -- V15d: opening the key with a passphrase needs age's scrypt memory; without it, a clear refusal ----------------

_UNLOCK_UNDER_LIMIT = """
import resource, sys
from pathlib import Path
from jobmatcher.errors import JobMatcherError
from jobmatcher.locations.crypto import unlock_identity
locked = Path(sys.argv[1]).read_bytes()
with open("/proc/self/statm") as f:
    mapped = int(f.read().split()[0]) * resource.getpagesize()
limit = mapped + int(sys.argv[3]) // 2  # half what this key's scrypt needs
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    unlock_identity(locked, sys.argv[2])
    print("opened")
except JobMatcherError as e:
    print(e.code, e.message, e.hint)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/statm: Linux")
def test_unlocking_the_key_under_a_memory_limit_is_refused_in_words_not_aborted(tmp_path):
    from jobmatcher.locations.crypto import lock_identity, scrypt_memory

    passphrase = "correct horse battery staple 42"
    locked = lock_identity("AGE-SECRET-KEY-1" + "Q" * 58, passphrase)
    needs = scrypt_memory(locked)  # age picks the work factor by timing: smaller on a loaded machine
    assert needs >= 16 << 20
    path = tmp_path / "identity.age"
    path.write_bytes(locked)
    r = subprocess.run(
        [sys.executable, "-c", _UNLOCK_UNDER_LIMIT, str(path), passphrase, str(needs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])  # before: age's refused allocation aborted (-6)
    assert r.stdout.startswith("memory-low Opening the encryption key with the passphrase needs about"), r.stdout
    assert "recovery key" in r.stdout
