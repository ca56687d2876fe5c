"""The encrypted copy's pipeline (pipeline.py): read and hash, encrypt, hash and write on three threads.

Real parts: real files, real age encryption (pyrage) decrypted again, a real tmpfs that fills up
in the middle of a copy (root only; skipped otherwise), peak memory measured in a real process.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyrage
import pytest
from jobmatcher.errors import LocationCopyFailedError
from jobmatcher.locations import encproc
from jobmatcher.locations.client import MARKER_KEY, Stored
from jobmatcher.locations.crypto import encrypt_file_into, new_identity
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.pipeline import PipelinedWriter, PlaintextReader, ReadBehind, Window
from pyrage import x25519

KEY = "JobMatcher/abc/backup_x.db.age"


@pytest.fixture(scope="module")
def ident() -> tuple[str, str]:
    return new_identity()


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("location-") and t.name != "location-copier"]


def _source(path: Path, size: int) -> Path:
    """A file of `size` bytes that does not repeat (a shifted block would hide a misplaced one)."""
    with open(path, "wb") as f:
        i = 0
        while f.tell() < size:
            f.write(hashlib.sha256(i.to_bytes(8, "big")).digest() * 256)  # 8 KiB per i
            i += 1
        f.truncate(size)
    return path


@pytest.mark.parametrize("size", [0, 1, 65536 - 1, 65536, 65536 + 1, 3 * 65536 + 17, 1_000_003])
def test_blocks_of_any_size_round_trip(tmp_path, ident, size):
    """Small blocks, so every edge (empty, one byte, a block and a byte either side) crosses the hand-overs."""
    identity, recipient = ident
    src = _source(tmp_path / "src.db", size)
    out = tmp_path / "out.age"
    with open(out, "wb") as raw:
        w = PipelinedWriter(raw, md5=True, block=65536, depth=2)

        def produce(w):
            with PlaintextReader(src, block=65536, depth=2) as r:
                pyrage.encrypt_io(r, w, [x25519.Recipient.from_str(recipient)])
                assert (r.size, r.digest.hexdigest()) == (size, hashlib.sha256(src.read_bytes()).hexdigest())

        w.produce_with(produce)
    blob = out.read_bytes()
    assert (w.size, w.sha256.hexdigest(), w.md5.hexdigest()) == (
        len(blob),
        hashlib.sha256(blob).hexdigest(),
        hashlib.md5(blob).hexdigest(),
    )
    assert pyrage.decrypt(blob, [x25519.Identity.from_str(identity)]) == src.read_bytes()
    assert _pipeline_threads() == []


def test_folder_copy_reports_the_plaintext_and_reads_back_the_ciphertext(tmp_path, ident):
    identity, recipient = ident
    src = _source(tmp_path / "src.db", 9 * 1024 * 1024 + 5)  # more than two default blocks
    usb = tmp_path / "usb"
    usb.mkdir()
    loc = FolderLocation(usb)
    loc.initialize()
    plain = []
    seen = []
    stored = loc.put_stream(
        KEY, lambda w: plain.append(encrypt_file_into(src, w, recipient)), lambda d, t: seen.append(d), 0
    )
    copy = usb / KEY
    assert plain == [(src.stat().st_size, hashlib.sha256(src.read_bytes()).hexdigest())]
    assert (stored.size, stored.sha256) == (copy.stat().st_size, hashlib.sha256(copy.read_bytes()).hexdigest())
    assert seen == sorted(seen) and seen[-1] == stored.size  # progress only goes up, to the end
    assert pyrage.decrypt(copy.read_bytes(), [x25519.Identity.from_str(identity)]) == src.read_bytes()
    assert [o.key for o in loc.list("JobMatcher/")] == [KEY]


def test_read_behind_tells_what_the_disk_holds_from_what_was_written(tmp_path):
    """The read-back compares byte for byte: a changed byte, a missing tail or an extra one is not identical."""
    on_disk = _source(tmp_path / "f", 300_000)
    data = on_disk.read_bytes()
    blocks = [data[:100_000], data[100_000:250_000], data[250_000:]]
    changed = bytearray(blocks[1])
    changed[12_345] ^= 1

    def read_back(*batches):
        with ReadBehind(on_disk) as behind:
            for b in batches:
                behind.check(b)
            return behind.finish()

    assert read_back(blocks[:2], blocks[2:]) == (Stored(len(data), hashlib.sha256(data).hexdigest()), True)
    assert read_back([blocks[0], bytes(changed)], blocks[2:])[1] is False
    assert read_back(blocks[:2])[1] is False  # the disk holds more than was written
    with open(on_disk, "ab") as f:
        f.truncate(299_999)
    assert read_back(blocks[:2], blocks[2:])[1] is False  # the disk holds less
    assert _pipeline_threads() == []


def test_a_source_read_error_midway_stops_the_copy_with_its_own_error(tmp_path, ident):
    """A read error on the reader thread comes out as that OSError (not pyrage's wrapper) and nothing is kept."""
    usb = tmp_path / "usb"
    usb.mkdir()
    loc = FolderLocation(usb)
    loc.initialize()
    src = tmp_path / "a-folder"  # opens, but every read fails (EISDIR) on the reader thread
    src.mkdir()
    with pytest.raises(OSError) as e, open(tmp_path / "out", "wb") as raw:
        PipelinedWriter(raw).produce_with(lambda w: encrypt_file_into(src, w, ident[1]))
    assert e.value.errno == 21  # EISDIR
    with pytest.raises(LocationCopyFailedError):
        loc.put_stream(KEY, lambda w: encrypt_file_into(src, w, ident[1]))
    assert sorted(os.listdir(usb)) == [MARKER_KEY, "JobMatcher"]
    assert loc.list("") == [] and [p for p in usb.rglob(".tmp-*")] == []
    assert _pipeline_threads() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_drive_filling_up_midway_leaves_no_temp_file_and_nothing_listed(tmp_path, tmpfs, ident):
    """The writer thread hits ENOSPC while age is still encrypting: the copy stops, says the drive is full,
    the temp file is removed (the space given back) and nothing is listed."""
    drive = tmpfs(3 * 1024)
    loc = FolderLocation(drive)
    loc.initialize()
    free_before = os.statvfs(drive).f_bavail
    src = _source(tmp_path / "src.db", 12 * 1024 * 1024)  # four times the drive: it fills up midway
    plain = []
    with pytest.raises(LocationCopyFailedError) as e:
        loc.put_stream(KEY, lambda w: plain.append(encrypt_file_into(src, w, ident[1])))
    assert "is full" in e.value.message
    assert plain == []  # age was stopped before the end of the backup
    assert loc.list("") == []
    assert [p.name for p in drive.rglob("*") if p.is_file()] == [MARKER_KEY]
    assert os.statvfs(drive).f_bavail == free_before
    assert _pipeline_threads() == []
    # and the location still works for a copy that fits
    small = _source(tmp_path / "small.db", 512 * 1024)
    loc.put_stream(KEY, lambda w: encrypt_file_into(small, w, ident[1]))
    assert [o.key for o in loc.list("")] == [KEY]


_RSS_PROBE = r"""
import sys
from pathlib import Path
from jobmatcher.locations.crypto import encrypt_file_into, new_identity
from jobmatcher.locations.folder import FolderLocation

def kb(field):  # this process's own figures (ru_maxrss would include the parent's, inherited through exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))

_, recipient = new_identity()
usb = Path(sys.argv[2]); loc = FolderLocation(usb); loc.initialize()
loc.put_stream("a.age", lambda w: encrypt_file_into(Path(sys.argv[3]), w, recipient))  # all imported and warm
before = kb("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current size
loc.put_stream("b.age", lambda w: encrypt_file_into(Path(sys.argv[1]), w, recipient))
print(before, kb("VmHWM"))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures memory through Linux's /proc")
def test_memory_stays_bounded_whatever_the_size(tmp_path):
    """Peak memory of a real process copying 96 MB: no whole-file buffer (it would add 96 MB at least)."""
    size = 96 * 1024 * 1024
    big = tmp_path / "big.db"
    with open(big, "wb") as f:  # sparse: no disk needed, but every byte goes through age and the checks
        f.truncate(size)
    small = _source(tmp_path / "small.db", 1024 * 1024)
    usb = tmp_path / "usb"
    usb.mkdir()
    r = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(big), str(usb), str(small)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    before, peak = (int(x) for x in r.stdout.split())
    grew_mb = (peak - before) / 1024
    assert 0 < grew_mb < 40, f"peak memory grew by {grew_mb:.0f} MB while copying 96 MB"


@pytest.fixture
def ext4_disk(tmp_path):
    """A real ext4 file system on a loop device (root only; skipped otherwise): (its mount point, the device).
    Unmounted and detached afterwards."""
    import shutil

    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("mkfs.ext4", "losetup", "filefrag")):
        pytest.skip("a loop device with ext4 needs root, mkfs.ext4, losetup and filefrag")
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", str(img)], check=True, capture_output=True)
    r = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop device here: {r.stderr.strip()}")
    dev = r.stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", dev, str(mnt)], capture_output=True, text=True)
    try:
        if r.returncode != 0:
            pytest.skip(f"cannot mount the loop device: {r.stderr.strip()}")
        yield mnt, dev
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def _flip_on_the_device(dev: str, path: Path, offset: int) -> None:
    """Change the byte at `offset` of the file `path` on the disk itself, by writing its block on the device:
    the file system's page cache still holds the byte as it was (as a drive that lost or garbled a write)."""
    import mmap

    out = subprocess.run(["filefrag", "-v", str(path)], capture_output=True, text=True, check=True).stdout
    block = offset // 4096  # the file system's blocks (-b 4096 above)
    for line in out.splitlines():
        parts = line.split(":")
        if len(parts) > 3 and parts[0].strip().isdigit():
            first, last = (int(x) for x in parts[1].split(".."))
            if first <= block <= last:
                physical = int(parts[2].split("..")[0]) + block - first
                break
    else:
        raise AssertionError(f"block {block} of {path} is not on the disk yet:\n{out}")
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 4096)
        assert os.preadv(fd, [buf], physical * 4096) == 4096
        buf[offset % 4096] ^= 0x01
        assert os.pwritev(fd, [buf], physical * 4096) == 4096
        os.fsync(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("direct", [True, False], ids=["o-direct", "through-the-page-cache"])
def test_read_behind_compares_the_disk_not_the_page_cache(ext4_disk, monkeypatch, direct):
    """A byte changed on the disk under the page cache (the cache still holds what was written) is caught, when
    the read-back goes past the page cache (O_DIRECT) and when it reads through it (a file system refusing
    O_DIRECT: its pages dropped first), with blocks that do not end on a disk block."""
    from jobmatcher.locations import pipeline

    if not direct:
        monkeypatch.setattr(pipeline, "_O_DIRECT", 0)
    mnt, dev = ext4_disk
    f = mnt / "copy.age"
    data = _source(f, 3 * 1024 * 1024 + 5).read_bytes()
    with open(f, "rb+") as fo:
        os.fsync(fo.fileno())
    batches = [[data[:1_000_001]], [data[1_000_001:2_500_000], data[2_500_000:]]]

    def read_back() -> bool:
        with ReadBehind(f) as behind:
            assert (behind._direct >= 0) is direct
            for b in batches:
                behind.check(b)
            return behind.finish() == (Stored(len(data), hashlib.sha256(data).hexdigest()), True)

    assert read_back()
    for offset in (2 * 1024 * 1024 + 77, len(data) - 1):  # a whole disk block, and the file's last byte
        with open(f, "rb") as fi:
            fi.read()  # the file's pages in the page cache, as they were written
        _flip_on_the_device(dev, f, offset)
        assert f.read_bytes() == data  # the page cache still has it as written: only the disk changed
        assert not read_back()
        _flip_on_the_device(dev, f, offset)  # back as it was, and the page cache emptied of what was read
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    assert _pipeline_threads() == []


@pytest.mark.parametrize("windows", [2, 9])
def test_a_copy_changed_on_the_disk_while_it_is_written_is_caught_and_not_kept(
    ext4_disk, ident, monkeypatch, tmp_path, windows
):
    """The encrypted folder copy on a real disk: a byte of its first 4 MB changed on the disk right after it was
    written there (the page cache holding it as written) fails the copy before the rename; nothing is listed,
    no temp file is left, and the next copy is made. With more windows than the encrypting child's shared ring
    holds, the windows never compared go back to the child, so the copy fails at once for what it is (not
    after the stall bound, as a child waiting for its windows would)."""
    from jobmatcher.locations import folder

    monkeypatch.setattr(encproc, "STALL_SECONDS", 10.0)
    mnt, dev = ext4_disk
    usb = mnt / "usb"
    usb.mkdir()
    loc = FolderLocation(usb)
    loc.initialize()
    src = _source(tmp_path / "src.db", windows * folder._WINDOW + 1024 * 1024 + 3)
    settle = folder._wait_written
    changed: list[int] = []

    def settle_then_change(fd: int, offset: int, length: int) -> None:
        settle(fd, offset, length)
        if not changed:
            _flip_on_the_device(dev, Path(os.readlink(f"/proc/self/fd/{fd}")), offset + 4321)
            changed.append(offset)

    monkeypatch.setattr(folder, "_wait_written", settle_then_change)
    with pytest.raises(LocationCopyFailedError, match="did not read back identical"):
        loc.put_stream(KEY, lambda w: encrypt_file_into(src, w, ident[1]))
    assert changed == [0]
    assert loc.list("") == [] and [p.name for p in usb.rglob("*") if p.is_file()] == [MARKER_KEY]
    monkeypatch.setattr(folder, "_wait_written", settle)
    loc.put_stream(KEY, lambda w: encrypt_file_into(src, w, ident[1]))
    assert pyrage.decrypt((usb / KEY).read_bytes(), [x25519.Identity.from_str(ident[0])]) == src.read_bytes()
    assert _pipeline_threads() == []


def test_the_encrypted_copy_reads_the_pipe_into_a_few_reused_buffers(tmp_path, ident, monkeypatch):
    """On a disk (read back behind the writer), the age file is read from the child's pipe straight into window
    buffers that come back once compared: a 40 MB copy goes through at most five of them, every byte is read back
    identical and decrypts to the backup, and a buffer is never handed over again before it was compared (a
    buffer refilled too early would not read back identical, and the copy would fail)."""
    from jobmatcher.locations import folder

    usb = tmp_path / "usb"
    usb.mkdir()
    if os.major(os.stat(usb).st_dev) == 0 or folder._sync_file_range() is None:
        pytest.skip("tmp_path is not on a block device here (or no sync_file_range)")
    loc = FolderLocation(usb)
    loc.initialize()
    src = _source(tmp_path / "src.db", 40 * 1024 * 1024 + 11)
    handed: list[int] = []
    check = ReadBehind.check

    def spy(self, blocks):
        handed.extend(id(b.buffer) for b in blocks if isinstance(b, Window))
        return check(self, blocks)

    monkeypatch.setattr(ReadBehind, "check", spy)
    stored = loc.put_stream(KEY, lambda w: encrypt_file_into(src, w, ident[1]))
    copy = (usb / KEY).read_bytes()
    assert stored == Stored(len(copy), hashlib.sha256(copy).hexdigest())
    assert len(handed) == len(copy) // folder._WINDOW >= 9  # every full window went over as a reused buffer
    # the encrypting child's shared ring (its RING_SLOTS windows); through a pipe, at most five buffers
    assert len(set(handed)) <= (encproc.RING_SLOTS if encproc._Ring.make() is not None else 5)
    assert pyrage.decrypt(copy, [x25519.Identity.from_str(ident[0])]) == src.read_bytes()


def test_a_disk_refusing_o_direct_writes_gets_the_copy_through_the_page_cache(tmp_path, ident, monkeypatch):
    """Each full 4 MB window of an encrypted copy on a disk is written with O_DIRECT from its buffer. Where the
    kernel refuses that write (EINVAL: here a buffer one byte off its alignment, as a file system wanting other
    sizes would), the copy goes on through the page cache from that byte on: it is made, reads back identical
    and decrypts to the backup; and with O_DIRECT it is the same file."""
    from jobmatcher.locations import folder

    usb = tmp_path / "usb"
    usb.mkdir()
    if os.major(os.stat(usb).st_dev) == 0 or folder._sync_file_range() is None:
        pytest.skip("tmp_path is not on a block device here (or no sync_file_range)")
    loc = FolderLocation(usb)
    loc.initialize()
    src = _source(tmp_path / "src.db", 13 * 1024 * 1024 + 7)
    writes: list[int] = []
    pwrite = os.pwrite

    refuse: list[bool] = []

    def counted(fd, data, offset):
        writes.append(offset)
        if refuse:  # as the kernel refuses a buffer off its alignment, or a file system wanting other sizes
            raise OSError(errno.EINVAL, "Invalid argument")
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", counted)
    for misaligned in (False, True):
        if misaligned:
            refuse.append(True)
        writes.clear()
        key = f"JobMatcher/x/{misaligned}.db.age"
        stored = loc.put_stream(key, lambda w: encrypt_file_into(src, w, ident[1]))
        copy = (usb / key).read_bytes()
        assert stored == Stored(len(copy), hashlib.sha256(copy).hexdigest())
        assert pyrage.decrypt(copy, [x25519.Identity.from_str(ident[0])]) == src.read_bytes()
        # O_DIRECT: one write per full window; refused: the first one tried, then the page cache
        assert writes == ([0] if misaligned else [i * folder._WINDOW for i in range(len(copy) // folder._WINDOW)])
    assert _pipeline_threads() == []


def test_a_disk_filling_up_under_o_direct_writes_fails_the_copy_and_leaves_nothing(ext4_disk, tmp_path, ident):
    """A real ext4 disk fills up while the full windows are written with O_DIRECT on their own thread: the copy
    stops with the drive's own words (full), the temp file is removed, nothing is listed, no thread is left,
    and a copy that fits is made after."""
    mnt, _ = ext4_disk
    usb = mnt / "usb"
    usb.mkdir()
    loc = FolderLocation(usb)
    loc.initialize()
    with open(mnt / "filler", "wb") as f:  # leaves about 12 MB of the disk free
        f.write(b"\0" * (os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize - 12 * 1024 * 1024))
        os.fsync(f.fileno())
    (usb / KEY).parent.mkdir(parents=True, mode=0o700)  # as the copy makes them (they stay): not its space
    free_before = os.statvfs(mnt).f_bavail
    src = _source(tmp_path / "src.db", 24 * 1024 * 1024)
    with pytest.raises(LocationCopyFailedError) as e:
        loc.put_stream(KEY, lambda w: encrypt_file_into(src, w, ident[1]))
    assert "is full" in e.value.message
    assert loc.list("") == [] and [p.name for p in usb.rglob("*") if p.is_file()] == [MARKER_KEY]
    assert os.statvfs(mnt).f_bavail == free_before
    assert _pipeline_threads() == []
    small = _source(tmp_path / "small.db", 5 * 1024 * 1024)
    loc.put_stream(KEY, lambda w: encrypt_file_into(small, w, ident[1]))
    assert pyrage.decrypt((usb / KEY).read_bytes(), [x25519.Identity.from_str(ident[0])]) == small.read_bytes()
