"""age in a child process (locations/encproc.py) and the encrypted folder copy around it.

Real parts: real child processes killed with SIGKILL, real age encryption (pyrage) decrypted again,
real data folders and backups, the bundle's entry point run as a script.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import blake3
import pyrage
import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime
from jobmatcher.locations import encproc
from jobmatcher.locations.crypto import encrypt_file_into, new_identity
from jobmatcher.locations.encproc import CHILD_FLAG, PAUSE_ENV, EncryptingChild, EncryptionChildFailed
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import list_remote
from jobmatcher.manifest import Manifest, compute_seal, seal_holds
from pyrage import x25519

pytestmark = pytest.mark.usefixtures("file_credentials")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ident() -> tuple[str, str]:
    return new_identity()


def _source(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def _gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaped counts as ended: it runs no more code)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return True


def _wait_for(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _paused_child(folder: Path) -> int:
    """The pid of the encrypting child that paused after its first block (PAUSE_ENV), once it did."""
    found: list[int] = []

    def paused() -> bool:
        found[:] = [int(p.name.split("-")[1]) for p in folder.glob("child-*")]
        return bool(found)

    _wait_for(paused)
    return found[0]


def test_the_copy_decrypts_to_the_source_and_reports_its_sha256(tmp_path, ident):
    identity, recipient = ident
    src = _source(tmp_path / "src.db", 3 * 1024 * 1024 + 7)
    out = io.BytesIO()
    size, digest = encrypt_file_into(src, out, recipient)
    assert (size, digest) == (src.stat().st_size, hashlib.sha256(src.read_bytes()).hexdigest())
    assert pyrage.decrypt(out.getvalue(), [x25519.Identity.from_str(identity)]) == src.read_bytes()


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
@pytest.mark.parametrize("size", [0, 1, encproc.BLOCK - 1, encproc.BLOCK, encproc.BLOCK + 1, 2 * encproc.BLOCK + 7])
def test_the_child_proves_the_plaintext_with_the_checksum_asked_for(tmp_path, ident, size, algorithm):
    """At the child's block boundaries (an empty file, one byte, one block and around it), the digest is of
    every byte encrypted, in the algorithm asked for, and the age file decrypts to the source."""
    identity, recipient = ident
    src = _source(tmp_path / "src.db", size)
    out = io.BytesIO()
    want = (hashlib.sha256 if algorithm == "sha256" else blake3.blake3)(src.read_bytes()).hexdigest()
    assert encrypt_file_into(src, out, recipient, algorithm) == (size, want)
    assert pyrage.decrypt(out.getvalue(), [x25519.Identity.from_str(identity)]) == src.read_bytes()


def test_an_answer_in_another_checksum_than_asked_is_no_answer():
    """A digest is compared only with a checksum of its own kind: the child's answer names its algorithm."""
    err = b'{"size": 3, "digest": "ab", "algorithm": "blake3"}\n'
    assert encproc._outcome(0, err, "blake3") == (3, "ab")
    with pytest.raises(EncryptionChildFailed):
        encproc._outcome(0, err, "sha256")
    with pytest.raises(ValueError):
        EncryptingChild(Path("x"), "age1", "md5")


def test_a_missing_or_unreadable_backup_is_the_child_s_oserror(tmp_path, ident):
    with pytest.raises(FileNotFoundError):
        encrypt_file_into(tmp_path / "gone.db", io.BytesIO(), ident[1])
    with pytest.raises(IsADirectoryError):
        encrypt_file_into(tmp_path, io.BytesIO(), ident[1])


@pytest.mark.parametrize("ring", [True, False], ids=["shared-ring", "pipe"])
def test_a_killed_child_is_a_failure_never_a_short_copy(tmp_path, ident, monkeypatch, ring):
    """Through the pipe a part of the age file comes through before the child is killed; through the shared ring
    only whole windows do (none here); either way only finish() tells it is not whole, and it says so."""
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_ENV, str(pause))
    if not ring:
        monkeypatch.setenv(encproc.NO_RING_ENV, "1")
    src = _source(tmp_path / "src.db", 3 * 1024 * 1024)
    got = bytearray()
    with EncryptingChild(src, ident[1]) as child:
        threading.Thread(target=lambda: os.kill(_paused_child(pause), signal.SIGKILL), daemon=True).start()
        for chunk in child.chunks():
            got += chunk
        with pytest.raises(EncryptionChildFailed, match="its process was stopped") as e:
            child.finish()
        assert e.value.ended == "SIGKILL"  # for the log; the words name no signal (L19)
    assert child.shares_windows is ring
    # through the pipe a part came through: only finish() tells it is not whole
    assert (0 if ring else 1) <= len(got) < src.stat().st_size


@pytest.mark.parametrize("ring", [True, False], ids=["shared-ring", "pipe"])
def test_leaving_early_kills_and_reaps_the_child(tmp_path, ident, monkeypatch, ring):
    """The consumer failing (a full drive) leaves no child encrypting on (through the pipe: paused after its
    first block, whose bytes came; through the shared ring, after its first whole window)."""
    if ring:
        src = _source(tmp_path / "src.db", 3 * encproc.RING_SLOT)
    else:
        monkeypatch.setenv(encproc.NO_RING_ENV, "1")
        pause = tmp_path / "pause"
        pause.mkdir()
        monkeypatch.setenv(PAUSE_ENV, str(pause))
        src = _source(tmp_path / "src.db", 3 * 1024 * 1024)

    def full(_chunk):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        with EncryptingChild(src, ident[1]) as child:
            pid = child.pid
            for chunk in child.chunks():
                full(chunk)
    assert _gone(pid)


CHILD_OF_A_DYING_PARENT = """
import sys
from pathlib import Path
from jobmatcher.locations.encproc import EncryptingChild
child = EncryptingChild(Path(sys.argv[1]), sys.argv[2])
print(child.pid, flush=True)
sys.stdin.read()  # never reads the pipe: killed here by the test
"""


def test_the_child_dies_with_its_parent(tmp_path, ident, monkeypatch):
    """A parent killed with SIGKILL (no cleanup runs) leaves no orphan encrypting."""
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_ENV, str(pause))
    src = _source(tmp_path / "src.db", 3 * 1024 * 1024)
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_A_DYING_PARENT, str(src), ident[1]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "backend")},
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _paused_child(pause) == pid
        parent.kill()
        parent.wait()
        (pause / "go").touch()  # were it still alive, it would go on encrypting now
        _wait_for(lambda: _gone(pid), timeout=10)
    finally:
        parent.kill()
        parent.wait()


def test_the_bundle_runs_the_child_from_its_entry_point(tmp_path, ident, monkeypatch):
    """In the packaged app the child is the bundle's executable with CHILD_FLAG, dispatched by build/entry.py."""
    identity, recipient = ident
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    src = tmp_path / "src.db"
    assert encproc.child_command(src, recipient) == [sys.executable, CHILD_FLAG, str(src), recipient, "sha256"]
    monkeypatch.delattr(sys, "frozen")
    _source(src, 200_000)
    p = subprocess.run(
        [sys.executable, str(ROOT / "build" / "entry.py"), CHILD_FLAG, str(src), recipient],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "backend")},
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert pyrage.decrypt(p.stdout, [x25519.Identity.from_str(identity)]) == src.read_bytes()
    assert encproc._outcome(0, p.stderr) == (200_000, hashlib.sha256(src.read_bytes()).hexdigest())


def test_without_a_child_process_age_runs_here(tmp_path, ident, monkeypatch):
    """Where no process can be started, the copy is still made (in this process)."""
    identity, recipient = ident

    def no_process(*a, **k):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    src = _source(tmp_path / "src.db", 300_000)
    out = io.BytesIO()
    assert encrypt_file_into(src, out, recipient) == (300_000, hashlib.sha256(src.read_bytes()).hexdigest())
    assert pyrage.decrypt(out.getvalue(), [x25519.Identity.from_str(identity)]) == src.read_bytes()
    out = io.BytesIO()
    assert encrypt_file_into(src, out, recipient, "blake3") == (300_000, blake3.blake3(src.read_bytes()).hexdigest())
    assert pyrage.decrypt(out.getvalue(), [x25519.Identity.from_str(identity)]) == src.read_bytes()


def _temps(usb: Path) -> list[Path]:
    return [p for p in usb.rglob(".tmp-*")]


def test_a_child_killed_mid_copy_lists_nothing_and_the_copy_is_retried(engine, locked_identity, tmp_path, monkeypatch):
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    b = engine.create_backup()
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_ENV, str(pause))
    results = []
    t = threading.Thread(target=lambda: results.append(engine.locations.sync()))
    t.start()
    os.kill(_paused_child(pause), signal.SIGKILL)
    t.join(60)
    [r] = results[0]
    assert r.error_code == "location-copy-failed" and "stopped before it finished" in r.error, r.error
    assert b.id in r.error and "its process was stopped" in r.error
    # in the user's words: no signal name, no "(… (…))", no "Nothing to do" (L19)
    assert "SIGKILL" not in r.error and "((" not in r.error and "))" not in r.error
    assert "Nothing to do" not in r.error
    fid = folder_id_of(engine.data)
    from jobmatcher.locations.folder import FolderLocation

    assert list_remote(FolderLocation(usb), fid) == [] and list(usb.rglob("*.age*")) == [
        usb / "JobMatcher" / fid / "identity.age"
    ]
    assert _temps(usb) == []
    monkeypatch.delenv(PAUSE_ENV)
    [r] = engine.locations.sync()  # asked again (the background copier retries after its back-off)
    assert not r.error and r.copied == [b.id]
    [copy] = list_remote(FolderLocation(usb), fid)
    blob = (usb / "JobMatcher" / fid / f"{b.id}.db.age").read_bytes()
    assert pyrage.decrypt(blob, [x25519.Identity.from_str(locked_identity[1])]) == Path(b.path).read_bytes()
    assert _temps(usb) == []


def _edit_manifest(backup_path: str, **changes) -> None:
    """Rewrite fields of a backup's manifest as a hand edit or another tool would (None: remove the field)."""
    mpath = Path(backup_path).with_suffix(".json")
    m = json.loads(mpath.read_text())
    for k, v in changes.items():
        m.pop(k, None) if v is None else m.__setitem__(k, v)
    mpath.write_text(json.dumps(m))


@pytest.mark.parametrize("sealed", [True, False], ids=["sealed-blake3", "unsealed-sha256"])
def test_a_backup_changed_after_its_manifest_is_never_listed_encrypted(engine, locked_identity, tmp_path, sealed):
    """The child's digest of what it encrypted is checked before the rename: a backup whose bytes changed
    after its manifest leaves nothing listed (not even for a moment), and the other backups are copied.
    Both proofs: BLAKE3 for a sealed manifest, SHA-256 for one without a seal (older versions)."""
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    bad = engine.create_backup(note="changed later")
    good = engine.create_backup(note="fine")
    if not sealed:
        for b in (bad, good):
            _edit_manifest(b.path, seal=None)
    with open(bad.path, "r+b") as f:  # same size, one byte changed
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([byte[0] ^ 0xFF]))
    [r] = engine.locations.sync()
    assert r.error_code == "location-copy-failed" and f"The backup {bad.id} does not match" in r.error, r.error
    fid = folder_id_of(engine.data)
    from jobmatcher.locations.folder import FolderLocation

    assert [c.id for c in list_remote(FolderLocation(usb), fid)] == [good.id]
    assert not (usb / "JobMatcher" / fid / f"{bad.id}.db.age").exists() and _temps(usb) == []


def _encrypted_location(engine, locked_identity, tmp_path) -> Path:
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    return usb


def test_a_sealed_backup_is_proven_by_blake3_and_an_unsealed_one_by_sha256(engine, locked_identity, tmp_path):
    """Which checksum proves the plaintext: a manifest whose BLAKE3 is wrong but sealed again with it (the seal
    made to hold) refuses the copy, so BLAKE3 was what was compared; without the seal, the same manifest's
    (right) SHA-256 is compared and the copy is made, recording that SHA-256."""
    usb = _encrypted_location(engine, locked_identity, tmp_path)
    b = engine.create_backup()
    m = json.loads(Path(b.path).with_suffix(".json").read_text())
    assert seal_holds(Manifest.model_validate(m)), "new backups are sealed"
    wrong = "1" * 64
    _edit_manifest(b.path, blake3=wrong, seal=compute_seal(m["size_bytes"], m["sha256"], wrong))
    [r] = engine.locations.sync()
    assert r.error_code == "location-copy-failed" and f"The backup {b.id} does not match" in r.error, r.error
    fid = folder_id_of(engine.data)
    assert list_remote(FolderLocation(usb), fid) == [] and _temps(usb) == []
    # (that sync had the backup checked, which recorded it failed: C14) — the same edit on another backup, unsealed
    other = engine.create_backup()
    m = json.loads(Path(other.path).with_suffix(".json").read_text())
    _edit_manifest(other.path, blake3=wrong, seal=None)
    [r] = engine.locations.sync()
    assert r.copied == [other.id], r.error
    [copy] = list_remote(FolderLocation(usb), fid)
    assert copy.sha256 == m["sha256"] == hashlib.sha256(Path(other.path).read_bytes()).hexdigest()


def test_a_manifest_whose_sha256_was_edited_is_not_copied_on_its_blake3(engine, locked_identity, tmp_path):
    """Finding H6 for encrypted copies: a manifest whose SHA-256 was edited keeps a right BLAKE3, but its seal
    no longer holds, so the child proves SHA-256 and the copy is refused; the location's manifest never
    records a SHA-256 that is not the backup's."""
    usb = _encrypted_location(engine, locked_identity, tmp_path)
    edited = engine.create_backup(note="edited manifest")
    good = engine.create_backup(note="fine")
    _edit_manifest(edited.path, sha256="0" * 64)
    [r] = engine.locations.sync()
    assert r.error_code == "location-copy-failed" and f"The backup {edited.id} does not match" in r.error, r.error
    fid = folder_id_of(engine.data)
    assert [c.id for c in list_remote(FolderLocation(usb), fid)] == [good.id]
    assert not (usb / "JobMatcher" / fid / f"{edited.id}.db.age").exists() and _temps(usb) == []


def test_on_a_disk_the_copy_is_read_back_behind_the_writer_elsewhere_after_the_rename(tmp_path, ident, tmpfs):
    """On a block device the read-back follows the writer (every byte compared before the rename); on a file
    system without one (tmpfs here; NFS, SMB and FUSE alike: major 0) written pages may stay in memory until
    an fsync, so the copy is read back by its path after the one fsync, as a plain copy is."""
    from jobmatcher.locations import folder
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.pipeline import ReadBehind, Window

    src = _source(tmp_path / "src.db", 9 * 1024 * 1024 + 3)
    after: list[str] = []
    behind: list[int] = []
    read_back, check = FolderLocation._read_back, ReadBehind.check

    def spy_after(self, final, stored):
        after.append(final.name)
        return read_back(self, final, stored)

    def spy_behind(self, blocks):  # bytes, or a Window (a part of a reused buffer)
        behind.append(sum(b.end - b.start if isinstance(b, Window) else len(b) for b in blocks))
        return check(self, blocks)

    mp = pytest.MonkeyPatch()  # the spies call the real methods
    try:
        mp.setattr(FolderLocation, "_read_back", spy_after)
        mp.setattr(ReadBehind, "check", spy_behind)
        disk = tmp_path / "usb"
        disk.mkdir()
        if os.major(os.stat(disk).st_dev) == 0 or folder._sync_file_range() is None:
            pytest.skip("tmp_path is not on a block device here (or no sync_file_range)")
        loc = FolderLocation(disk)
        loc.initialize()
        stored = loc.put_stream("JobMatcher/x/a.db.age", lambda w: encrypt_file_into(src, w, ident[1]))
        assert after == [] and sum(behind) == stored.size and len(behind) >= 2  # in several batches, all of it
        behind.clear()
        memory = tmpfs(40 * 1024)
        assert os.major(os.stat(memory).st_dev) == 0
        loc = FolderLocation(memory)
        loc.initialize()
        stored = loc.put_stream("JobMatcher/x/a.db.age", lambda w: encrypt_file_into(src, w, ident[1]))
        assert after == ["a.db.age"] and behind == []
        assert pyrage.decrypt(
            (memory / "JobMatcher/x/a.db.age").read_bytes(), [x25519.Identity.from_str(ident[0])]
        ) == (src.read_bytes())
    finally:
        mp.undo()


def test_a_stopped_child_is_ended_after_the_stall_bound(tmp_path, ident, monkeypatch):
    """A child that sends nothing (SIGSTOP stands in for I/O stuck on a dying disk) is killed after STALL_SECONDS
    (finding L28): the parent never waits for it for ever."""
    monkeypatch.setattr(encproc, "STALL_SECONDS", 1.0)
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_ENV, str(pause))
    src = _source(tmp_path / "src.db", 3 * 1024 * 1024)
    with EncryptingChild(src, ident[1]) as child:
        pid = _paused_child(pause)
        os.kill(pid, signal.SIGSTOP)
        (pause / "go").touch()
        with pytest.raises(encproc.EncryptionStalled, match="sent nothing for 1 seconds"):
            for _ in child.chunks():
                pass
        assert _gone(pid)


def test_a_stalled_child_fails_that_copy_and_the_lock_is_freed(engine, locked_identity, tmp_path, monkeypatch):
    """The copy with a stopped encrypting child fails with its own reason, leaves no temp at the location, and
    the next sync (the copier's retry) makes the copy: the location lock is not held for ever (finding L28)."""
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    b = engine.create_backup()
    monkeypatch.setattr(encproc, "STALL_SECONDS", 1.0)
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_ENV, str(pause))
    results = []
    t = threading.Thread(target=lambda: results.append(engine.locations.sync()))
    t.start()
    pid = _paused_child(pause)
    os.kill(pid, signal.SIGSTOP)
    (pause / "go").touch()
    t.join(60)
    assert not t.is_alive()
    [r] = results[0]
    assert r.error_code == "location-copy-failed" and "stopped responding" in r.error and b.id in r.error, r.error
    assert _gone(pid) and _temps(usb) == []
    fid = folder_id_of(engine.data)
    from jobmatcher.locations.folder import FolderLocation

    assert list_remote(FolderLocation(usb), fid) == []
    monkeypatch.delenv(PAUSE_ENV)
    [r] = engine.locations.sync()
    assert not r.error and r.copied == [b.id]


# -- the spare: an encrypting child started before its backup is known ---------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_a_spare_child_makes_the_same_copy_as_a_fresh_one(tmp_path, ident, algorithm):
    """Handed its work through its standard input, a spare encrypts, proves the plaintext and ends like a child
    started for the file; once taken it is not handed out again."""
    identity, recipient = ident
    src = _source(tmp_path / "src.db", 2 * encproc.BLOCK + 11)
    want = (hashlib.sha256 if algorithm == "sha256" else blake3.blake3)(src.read_bytes()).hexdigest()
    with encproc.SpareEncryptor() as spare:
        pid = spare.pid
        out = io.BytesIO()
        assert encrypt_file_into(src, out, recipient, algorithm, spare) == (src.stat().st_size, want)
        assert spare.pid == 0 and spare.take() is None  # used once
    assert _gone(pid)
    assert pyrage.decrypt(out.getvalue(), [x25519.Identity.from_str(identity)]) == src.read_bytes()


def test_a_spare_s_errors_are_a_fresh_child_s(tmp_path, ident):
    """A missing backup and a refused recipient come out of a spare as out of a child started for them."""
    with encproc.SpareEncryptor() as spare, pytest.raises(FileNotFoundError):
        encrypt_file_into(tmp_path / "gone.db", io.BytesIO(), ident[1], "sha256", spare)
    src = _source(tmp_path / "src.db", 1000)
    with encproc.SpareEncryptor() as spare, pytest.raises(ValueError, match="not an age recipient"):
        encrypt_file_into(src, io.BytesIO(), "age1nope", "sha256", spare)


def test_a_spare_killed_while_it_waited_is_replaced_by_a_fresh_child(tmp_path, ident):
    """A spare that died before its work came (killed, out of memory) costs nothing but its start: the copy
    starts its own child and is made whole."""
    identity, recipient = ident
    src = _source(tmp_path / "src.db", 300_000)
    with encproc.SpareEncryptor() as spare:
        os.kill(spare.pid, signal.SIGKILL)
        _wait_for(lambda: _gone(spare.pid))
        out = io.BytesIO()
        assert encrypt_file_into(src, out, recipient, "sha256", spare)[0] == 300_000
    assert pyrage.decrypt(out.getvalue(), [x25519.Identity.from_str(identity)]) == src.read_bytes()


def test_an_unused_spare_is_killed_and_reaped(tmp_path):
    with encproc.SpareEncryptor() as spare:
        pid = spare.pid
        assert not _gone(pid)
    assert _gone(pid)
    spare.close()  # again: nothing
    spare.refill()
    assert not _gone(spare.pid)
    spare.close()


SPARE_OF_A_DYING_PARENT = """
import sys
from jobmatcher.locations.encproc import SpareEncryptor
spare = SpareEncryptor()
print(spare.pid, flush=True)
sys.stdin.read()  # killed here by the test
"""


@pytest.mark.parametrize("deathsig", [True, False], ids=["pdeathsig", "stdin-closed"])
def test_a_spare_dies_with_its_parent(deathsig):
    """A parent killed with SIGKILL (no cleanup runs) leaves no spare waiting: the kernel kills it
    (PR_SET_PDEATHSIG), and where that is missing its standard input closes and it ends by itself."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "backend")}
    if not deathsig:  # as where PR_SET_PDEATHSIG is missing (not Linux) or reaches only a bootloader
        env[encproc.NO_DEATHSIG_ENV] = "1"
    parent = subprocess.Popen(
        [sys.executable, "-c", SPARE_OF_A_DYING_PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not _gone(pid)
        parent.kill()
        parent.wait()
        _wait_for(lambda: _gone(pid), timeout=10)
    finally:
        parent.kill()
        parent.wait()


def test_a_sync_hands_its_spare_to_the_first_encrypted_copy_and_leaves_none(engine, locked_identity, tmp_path):
    """The sync starts the encrypting child when it begins; after it, with two backups copied (the second with a
    spare started after the first copy), no encrypting child of this process is left."""
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.create_backup()
    engine.create_backup()
    taken: list[int] = []
    real = encproc.SpareEncryptor.take

    def take(self):
        proc = real(self)
        if proc is not None:
            taken.append(proc.pid)
        return proc

    try:
        encproc.SpareEncryptor.take = take
        results = engine.locations.sync()
    finally:
        encproc.SpareEncryptor.take = real
    assert not results[0].error and len(results[0].copied) >= 1
    assert len(taken) == len(results[0].copied)  # every copy took a spare
    assert all(_gone(pid) for pid in taken)
    assert not _children_encrypting()


def _children_encrypting() -> list[int]:
    """This process's child processes running the encrypting child (none must be left after a sync)."""
    me = os.getpid()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            argv = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"jobmatcher.locations.encproc" in argv and not _gone(int(d.name)):
            found.append(int(d.name))
    return found


def test_a_spare_says_when_it_is_ready_and_its_blank_line_is_no_answer(tmp_path, ident):
    src = _source(tmp_path / "src.db", 1000)
    with encproc.SpareEncryptor() as spare:
        _wait_for(spare.ready)
        assert encrypt_file_into(src, io.BytesIO(), ident[1], "sha256", spare) == (
            1000,
            hashlib.sha256(src.read_bytes()).hexdigest(),
        )
        assert not spare.ready()  # taken


def _recording_syncs(monkeypatch) -> list:
    """Record the `spare` each Locations.sync is given (and whether it was a live child then)."""
    from jobmatcher.locations.manager import Locations

    given: list = []
    real = Locations.sync

    def sync(self, *a, **k):
        spare = k.get("spare")
        given.append(spare is not None and spare.pid != 0)
        return real(self, *a, **k)

    monkeypatch.setattr(Locations, "sync", sync)
    return given


def test_location_sync_and_the_background_sync_start_the_child_before_the_locations_load(
    engine, locked_identity, tmp_path, monkeypatch
):
    """`location sync` (and its --background form, after `backup create`) start the encrypting child before the
    locations' code is loaded and hand it to the sync; a data folder without an encrypted location starts none."""
    from jobmatcher import cli

    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    given = _recording_syncs(monkeypatch)
    first = engine.create_backup()
    assert cli.main(["--data-dir", str(engine.data.root), "location", "sync"]) == 0
    second = engine.create_backup()
    assert cli.main(["--data-dir", str(engine.data.root), "location", "sync", "--background"]) == 0
    assert given == [True, True]
    assert {first.id, second.id} <= {r.id for r in list_remote(FolderLocation(usb), folder_id_of(engine.data))}
    assert not _children_encrypting()
    engine.locations.set_enabled("USB", False)
    assert cli.main(["--data-dir", str(engine.data.root), "location", "sync"]) == 0
    assert given[-1] is False


def test_the_app_s_copier_when_kicked_starts_the_child_before_it_looks_for_work(
    engine, locked_identity, tmp_path, monkeypatch
):
    from jobmatcher.locations.copier import Copier

    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    given = _recording_syncs(monkeypatch)
    copier = Copier(lambda: engine.locations, poll=3600)
    copier.start()
    try:
        b = engine.create_backup()
        copier.kick()
        _wait_for(lambda: bool(list(usb.rglob(f"{b.id}.json"))))
        _wait_for(lambda: not copier.busy)
    finally:
        copier.stop()
        copier.join(10)
    assert given == [True]
    assert not _children_encrypting()


def test_a_sync_starts_no_child_for_a_location_it_skips(engine, locked_identity, tmp_path, monkeypatch):
    """An encrypted location waiting out its back-off (or disabled) gets no encrypting child: the copier's
    rounds while a drive is unplugged start no process."""
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.create_backup()
    usb.rename(tmp_path / "unplugged")
    assert engine.locations.sync()[0].error  # unavailable: retried later, with back-off
    started: list[int] = []
    real = encproc.SpareEncryptor.start.__func__

    def start(cls):
        spare = real(cls)
        started.append(spare.pid if spare else 0)
        return spare

    monkeypatch.setattr(encproc.SpareEncryptor, "start", classmethod(start))
    assert engine.locations.sync(only_due=True)[0].skipped
    engine.locations.set_enabled("USB", False)
    assert engine.locations.sync()[0].skipped
    assert started == []
    (tmp_path / "unplugged").rename(usb)
    engine.locations.set_enabled("USB", True)
    assert not engine.locations.sync()[0].error
    assert len(started) == 1 and _gone(started[0])


def test_the_child_hands_the_age_file_over_in_batches_and_all_of_it(monkeypatch):
    """The child's standard output (encproc._Pipe) gathers age's 64 KiB chunks and writes them to the pipe in
    batches of about BATCH bytes, in order, with no byte lost: the tail is held until close(), which writes it.
    A real pipe, drained by a thread as the parent drains it."""
    r, w = os.pipe()
    got = bytearray()
    reader = threading.Thread(target=lambda: [got.extend(c) for c in iter(lambda: os.read(r, 1 << 20), b"")])
    reader.start()
    calls: list[int] = []
    writev = os.writev

    def counted(fd, buffers):
        calls.append(fd)
        return writev(fd, buffers)

    monkeypatch.setattr(os, "writev", counted)
    chunks = [hashlib.sha256(bytes([i])).digest() * 2048 + b"tag-%03d" % i for i in range(43)]  # 65,543 bytes each
    try:
        pipe = encproc._Pipe(w)
        for c in chunks:
            assert pipe.write(c) == len(c)
        before_close = len(calls)
        pipe.close()
    finally:
        os.close(w)
        reader.join()
        os.close(r)
    assert bytes(got) == b"".join(chunks)
    assert encproc.BATCH == 8 * 65536
    assert before_close == 5  # a write per 8 chunks (a batch), none per chunk; 3 chunks left
    assert len(calls) == before_close + 1  # close() wrote the tail


def test_on_linux_the_age_file_comes_through_shared_memory_not_the_pipe(tmp_path, ident, monkeypatch):
    """The child writes the age file into the shared ring; its pipe carries only each window's length (4 bytes),
    and a folder copy on a disk writes the ring's windows as they are (fill_from_windows: no copy through the
    pipe, which cost about as much CPU as age itself per GB). The copy decrypts to the source, and both
    checksums are right."""
    from jobmatcher.locations import folder
    from jobmatcher.locations.folder import FolderLocation

    if encproc._Ring.make() is None:
        pytest.skip("no memfd here")
    src = _source(tmp_path / "src.db", 3 * encproc.RING_SLOT + 12345)
    read = os.read
    piped: list[int] = []
    with EncryptingChild(src, ident[1], "blake3") as child:
        assert child.shares_windows

        def counted(fd, n):
            got = read(fd, n)
            if fd == child._out:
                piped.append(len(got))
            return got

        monkeypatch.setattr(os, "read", counted)
        out = bytearray()
        for seq, window in child.windows():
            out += window
            child.give_back(seq)
        monkeypatch.setattr(os, "read", read)
        assert child.finish() == (src.stat().st_size, blake3.blake3(src.read_bytes()).hexdigest())
    assert sum(piped) == 4 * 4  # three full windows and the last one's length, nothing else
    assert pyrage.decrypt(bytes(out), [x25519.Identity.from_str(ident[0])]) == src.read_bytes()
    usb = tmp_path / "usb"
    usb.mkdir()
    if os.major(os.stat(usb).st_dev) == 0 or folder._sync_file_range() is None:
        return  # not on a block device here: the windows are copied into the writer (readinto)
    used: list[int] = []
    real = folder._WritebackWriter.fill_from_windows

    def spy(self, windows, give_back):
        used.append(1)
        return real(self, windows, give_back)

    monkeypatch.setattr(folder._WritebackWriter, "fill_from_windows", spy)
    loc = FolderLocation(usb)
    loc.initialize()
    stored = loc.put_stream("JobMatcher/x/a.db.age", lambda w: encrypt_file_into(src, w, ident[1]))
    copy = (usb / "JobMatcher/x/a.db.age").read_bytes()
    assert used == [1] and stored.sha256 == hashlib.sha256(copy).hexdigest()
    assert pyrage.decrypt(copy, [x25519.Identity.from_str(ident[0])]) == src.read_bytes()
