"""A new backup's copy hashed while it is copied (issue 13): each copied chunk is read back from the copy
and hashed on another thread while the kernel copies the next, so the checksums recorded in the manifest
must still be those of the finished backup file, byte for byte, at every chunk boundary; a copy whose
bytes change after the copy (a -wal folded in) is hashed afterwards as before; and a copy or hashing
error midway leaves nothing listed and no thread behind."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import blake3
import pytest
from conftest import digest_threads_ended
from jobmatcher import digests, snapshot
from jobmatcher import verify as verify_mod
from jobmatcher.errors import JobMatcherError
from jobmatcher.manifest import read_manifest, seal_holds


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _live_db(path: Path, rows: int, wal: bool = True) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB)")
    conn.executemany("INSERT INTO t(body) VALUES (randomblob(?))", [(900 + i % 700,) for i in range(rows)])
    if wal:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096 + 7])
@pytest.mark.parametrize("pieces", [1, 3, 4096])
@pytest.mark.parametrize("idle", [False, True])
@pytest.mark.parametrize("algorithms", [("sha256", "blake3"), ("blake3",)])
def test_following_digests_are_the_reference_ones_at_every_boundary(
    tmp_path, monkeypatch, size, pieces, idle, algorithms
):
    """Written in pieces of `pieces` bytes, read back in chunks of 4096 (monkeypatched): the digests equal
    hashlib's and blake3's of the whole file, whatever the boundaries; `idle`: handed over to a thread of
    normal priority halfway (foreground()), wherever its predecessor stood."""
    monkeypatch.setattr(digests, "CHUNK_BYTES", 4096)
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    f = tmp_path / "f.bin"
    f.write_bytes(b"")
    with digests.FollowingDigests(f, algorithms, idle=idle) as following, open(f, "r+b", buffering=0) as out:
        for at in range(0, size, pieces):
            out.write(data[at : at + pieces])
            following.ready(min(size, at + pieces))
            if at <= size // 2 < at + pieces:
                following.foreground()
        want = {"sha256": _sha(data), "blake3": _b3(data)}
        assert following.result() == {a: want[a] for a in algorithms}


@pytest.mark.skipif(not hasattr(os, "getpriority") or os.uname().sysname != "Linux", reason="Linux thread priorities")
def test_idle_hashing_yields_to_the_copy_until_foreground(tmp_path):
    """While the copy runs (it holds the write lock) the hashing thread has nice 19; after foreground() the
    hashing goes on in a thread of the caller's priority."""
    f = tmp_path / "f.bin"
    f.write_bytes(b"y" * 10_000)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with digests.FollowingDigests(f, idle=True) as following:
        for _ in range(500):  # the thread sets its priority first thing
            if os.getpriority(os.PRIO_PROCESS, following._thread.native_id) == 19:
                break
            threading.Event().wait(0.01)
        assert os.getpriority(os.PRIO_PROCESS, following._thread.native_id) == 19
        following.ready(5_000)
        following.foreground()
        assert os.getpriority(os.PRIO_PROCESS, following._thread.native_id) == mine
        following.ready(10_000)
        assert following.result() == {"sha256": _sha(b"y" * 10_000), "blake3": _b3(b"y" * 10_000)}


def test_following_digests_abandoned_or_cut_short(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 100)
    before = set(threading.enumerate())  # a thread of an earlier test may still be ending: not counted
    following = digests.FollowingDigests(f)
    following.ready(100)
    following.abandon()
    with pytest.raises(RuntimeError):
        following.result()
    # promised more bytes than the file has: an error, never the digest of fewer bytes
    with digests.FollowingDigests(f) as short:
        short.ready(200)
        with pytest.raises(OSError):
            short.result()
    with digests.FollowingDigests(tmp_path / "never-written.bin"):
        pass  # left unused: abandoned on leaving
    assert [t for t in threading.enumerate() if t not in before] == []


@pytest.mark.parametrize("chunk", [4096, 3 * 4096, 1 << 20, None])
@pytest.mark.parametrize("wal", [True, False])
def test_a_copy_hashed_while_copied_has_the_digests_of_the_finished_file(tmp_path, monkeypatch, chunk, wal):
    """The live file in WAL mode (its -wal empty) or rollback mode, copied in chunks of `chunk` bytes (a
    small chunk: many boundaries; None: the engine's own choice): the copy is in rollback-journal mode,
    sound, holds every row, and the digests handed over are those of the finished file."""
    if chunk is not None:
        monkeypatch.setattr(snapshot, "_hashed_chunk", lambda size: chunk)
    monkeypatch.setattr(digests, "CHUNK_BYTES", 5000)  # reads that straddle the copy's chunks
    live, dest = tmp_path / "live.db", tmp_path / "copy.db"
    _live_db(live, 1500 if chunk is None else 300, wal=wal)  # None: over 1 MiB, two chunks or more
    with digests.FollowingDigests(dest) as following:
        snap = snapshot.copy_snapshot(live, dest, digests=following)
        assert snap.hashed
        got = following.result()
    data = dest.read_bytes()
    assert got == {"sha256": _sha(data), "blake3": _b3(data)}
    assert chunk is not None or len(data) > snapshot._hashed_chunk(len(data))
    assert data[18:20] == b"\x01\x01"  # rollback-journal mode, as SQLite's own switch leaves it
    assert not Path(f"{dest}-wal").exists() and not Path(f"{dest}-journal").exists()
    conn = sqlite3.connect(f"{dest.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    assert _rows(dest) == _rows(live)
    assert dest.read_bytes() == data  # opening it read-only changed nothing


def test_a_wal_with_pages_is_folded_in_and_hashed_afterwards(tmp_path):
    """Committed rows still only in the live -wal: the copy is changed after it is copied (the -wal folded
    in), so it is not hashed while copied; the backup has the rows all the same."""
    live, dest = tmp_path / "live.db", tmp_path / "copy.db"
    _live_db(live, 50)
    writer = sqlite3.connect(live, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO t(body) VALUES (x'01020304')")
        assert Path(f"{live}-wal").stat().st_size > 0
        with digests.FollowingDigests(dest) as following:
            snap = snapshot.copy_snapshot(live, dest, digests=following)
            assert not snap.hashed
            with pytest.raises(RuntimeError):
                following.result()  # abandoned: never a digest of bytes that changed afterwards
        assert _rows(dest)[-1][1] == b"\x01\x02\x03\x04"
        assert dest.read_bytes()[18:20] == b"\x01\x01"
    finally:
        writer.close()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(snapshot, "_hashed_chunk", lambda size: 3 * 4096)
    monkeypatch.setattr(digests, "CHUNK_BYTES", 5000)


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, ...]]:
    """verify's own reads of the file for checksums (none when the copy was hashed as it was copied)."""
    used: list[tuple[str, ...]] = []
    real = verify_mod.file_digests

    def spy(src, algorithms=("sha256", "blake3")):
        used.append(tuple(algorithms))
        return real(src, algorithms)

    monkeypatch.setattr(verify_mod, "file_digests", spy)
    return used


def test_a_new_backup_records_the_digests_of_its_file(engine, small_chunks, reads):
    b = engine.create_backup()
    data = Path(b.path).read_bytes()
    m = read_manifest(Path(b.path))
    assert m is not None and m.verified is True
    assert (m.sha256, m.blake3) == (_sha(data), _b3(data))
    assert reads == []  # hashed while copied: not read again for its checksums
    assert seal_holds(m)  # both from one read of the same bytes: sealed
    assert data[18:20] == b"\x01\x01"
    assert engine.verify(b.id).backup.verified is True
    restored = engine.restore(b.id)
    assert restored is not None


def test_a_new_backup_with_a_busy_wal_is_hashed_after_its_fold(engine, reads):
    """The live -wal holds committed pages (another connection, no checkpoint) and a reader still reads them, so
    the checkpoint before the copy cannot empty it: the backup's checksums are computed after the -wal is folded
    into it, and still are those of its file."""
    other = sqlite3.connect(engine.data.db_path, isolation_level=None)
    reader = sqlite3.connect(engine.data.db_path, isolation_level=None)
    try:
        other.execute("PRAGMA wal_autocheckpoint=0")
        other.execute("CREATE TABLE extra(x)")
        other.execute("INSERT INTO extra VALUES ('only in the wal')")
        reader.execute("BEGIN")
        assert reader.execute("SELECT x FROM extra").fetchall()  # a read transaction on the -wal's pages
        b = engine.create_backup()
        assert Path(f"{engine.data.db_path}-wal").stat().st_size > 0  # the checkpoint could not empty it
    finally:
        reader.close()
        other.close()
    data = Path(b.path).read_bytes()
    m = read_manifest(Path(b.path))
    assert m is not None and (m.sha256, m.blake3) == (_sha(data), _b3(data))
    assert reads == [("sha256", "blake3")]
    conn = sqlite3.connect(f"{Path(b.path).as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT x FROM extra").fetchall() == [("only in the wal",)]
    finally:
        conn.close()


def test_an_open_writer_with_pages_in_the_wal_still_gets_a_backup_hashed_while_copied(engine, reads, monkeypatch):
    """The app's window keeps its write connection open, so the live -wal usually holds pages: the live -wal is
    emptied into the database first (wal_checkpoint(TRUNCATE)), and the copy is hashed while it is copied (the
    fast path: nothing folded in afterwards, no second read). The backup is byte for byte the live file (but
    for the journal mode in its header) and holds every committed row; the writer goes on writing."""
    from jobmatcher import database

    folds: list[Path] = []
    real_fold = snapshot._make_self_contained
    monkeypatch.setattr(
        snapshot, "_make_self_contained", lambda dest, sync=True: folds.append(dest) or real_fold(dest, sync)
    )
    writer = database.connect(engine.data.db_path)  # as the app's writer opens it
    try:
        writer.execute("INSERT INTO skills (name, level) VALUES ('only in the wal', 3)")
        writer.execute("UPDATE user_profile SET headline = 'also only in the wal' WHERE id = 1")
        wal = Path(f"{engine.data.db_path}-wal")
        assert wal.stat().st_size > 0
        b = engine.create_backup()
        assert wal.stat().st_size == 0  # emptied into the live file by the checkpoint
        assert folds == [] and reads == []  # hashed while copied: not folded in, not read again
        data, live = Path(b.path).read_bytes(), engine.data.db_path.read_bytes()
        assert data[18:20] == b"\x01\x01" and live[18:20] == b"\x02\x02"
        assert data[:18] + data[20:] == live[:18] + live[20:]  # byte for byte the live data
        m = read_manifest(Path(b.path))
        assert m is not None and (m.sha256, m.blake3) == (_sha(data), _b3(data)) and seal_holds(m)
        conn = sqlite3.connect(f"{Path(b.path).as_uri()}?mode=ro", uri=True)
        try:
            assert conn.execute("SELECT level FROM skills WHERE name = 'only in the wal'").fetchall() == [(3,)]
        finally:
            conn.close()
        writer.execute("INSERT INTO skills (name, level) VALUES ('after the backup', 1)")  # the writer goes on
        assert engine.verify(b.id).backup.verified is True
    finally:
        writer.close()
    conn = sqlite3.connect(engine.data.db_path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM skills")}
    finally:
        conn.close()
    assert {"only in the wal", "after the backup"} <= names


def test_the_apps_writer_keeps_its_locks_through_a_backup_in_its_process(engine):
    """A backup made in the app's process reads the live file's header (is it a database at all?) while the app's
    writer connection is open: opening and closing a descriptor of the file for it dropped every lock the
    writer held (POSIX drops a process's locks on a file at any close of it). Another program's connection then
    took itself for the last one when it closed and deleted the -wal and -shm the writer was still using, so the
    writer's next commits went to a deleted file, invisible to every other program (and lost if the app was
    killed). The writer's locks, its -wal and what it commits afterwards stay as they are."""
    import subprocess
    import sys

    from jobmatcher import database

    writer = database.connect(engine.data.db_path)  # as the app's writer opens it
    wal = Path(f"{engine.data.db_path}-wal")
    read_by_another_program = [
        sys.executable,
        "-c",
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('SELECT count(*) FROM skills WHERE name = ?', (sys.argv[2],)).fetchone()[0]); c.close()",
        str(engine.data.db_path),
    ]
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO skills (name, level) VALUES ('before the backup', 1)")
        engine.create_backup()
        database.live_problem(engine.data.db_path)  # the header read on its own too
        out = subprocess.run([*read_by_another_program, "before the backup"], capture_output=True, text=True)
        assert out.stdout.strip() == "1", out.stderr
        assert wal.exists()  # not deleted by the other program's close
        writer.execute("INSERT INTO skills (name, level) VALUES ('after the backup', 1)")
        out = subprocess.run([*read_by_another_program, "after the backup"], capture_output=True, text=True)
        assert out.stdout.strip() == "1", out.stderr  # the writer's commit is in the -wal everyone reads
    finally:
        writer.close()


def test_a_safety_backup_never_checkpoints_the_live_data(engine):
    """A safety copy is of data that may be damaged or of a newer version: nothing is written to the live file
    for it (its -wal is copied and folded into the copy, as before)."""
    from jobmatcher.manifest import BackupType

    writer = sqlite3.connect(engine.data.db_path, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("INSERT INTO skills (name, level) VALUES ('only in the wal', 3)")
        wal = Path(f"{engine.data.db_path}-wal")
        before = (engine.data.db_path.read_bytes(), wal.read_bytes())
        b = engine.store.create(engine.data.db_path, kind=BackupType.safety)
        assert (engine.data.db_path.read_bytes(), wal.read_bytes()) == before
    finally:
        writer.close()
    conn = sqlite3.connect(f"{Path(b.path).as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT level FROM skills WHERE name = 'only in the wal'").fetchall() == [(3,)]
    finally:
        conn.close()


def _folder_files(engine) -> list[str]:
    return sorted(n for n in os.listdir(engine.store.folder) if not n.startswith("."))


def test_a_copy_error_midway_leaves_nothing_listed(engine, small_chunks, monkeypatch):
    engine.create_backup()
    digest_threads_ended()  # from the backup just made: not counted in "before" (a flake under load)
    before = (engine.list_backups(), _folder_files(engine), threading.active_count())
    real = os.copy_file_range
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the third chunk: two are copied (and being hashed) already
            raise OSError(errno.EIO, "Input/output error")
        return real(*args, **kwargs)

    real_pread = os.pread

    def failing_read(*args, **kwargs):  # the chunk read again after the kernel's copy failed (X7): the disk fails
        if calls["n"] >= 3:
            raise OSError(errno.EIO, "Input/output error")
        return real_pread(*args, **kwargs)

    monkeypatch.setattr(os, "copy_file_range", failing)
    monkeypatch.setattr(os, "pread", failing_read)
    with pytest.raises(JobMatcherError):
        engine.create_backup()
    assert calls["n"] == 3
    digest_threads_ended()
    assert (engine.list_backups(), _folder_files(engine), threading.active_count()) == before
    assert not [n for n in os.listdir(engine.store.folder) if n.startswith(".") and n.endswith(".db")]


def test_a_read_error_while_hashing_the_copy_leaves_nothing_listed(engine, small_chunks, monkeypatch):
    """Reading the copy back for its checksums fails (a failing disk): the backup fails, nothing is listed."""
    engine.create_backup()
    digest_threads_ended()
    before = (engine.list_backups(), _folder_files(engine), threading.active_count())
    real_new = digests.new_hash

    class Failing:
        def __init__(self, algorithm, h=None, n=0):
            self._algorithm, self._h, self._n = algorithm, h or real_new(algorithm), n

        def update(self, data):
            self._n += 1
            if self._n == 2:
                raise OSError(errno.EIO, "Input/output error")
            self._h.update(data)

        def copy(self):
            return Failing(self._algorithm, self._h.copy(), self._n)

        def hexdigest(self):
            return self._h.hexdigest()

    monkeypatch.setattr(digests, "new_hash", Failing)
    with pytest.raises(JobMatcherError):
        engine.create_backup()
    # The idle-priority thread the normal one took over from is not waited for (foreground() never waits on
    # it); it ends at its next chunk. On a loaded machine that can be a moment after create_backup returns.
    deadline = time.monotonic() + 30
    while threading.active_count() > before[2] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (engine.list_backups(), _folder_files(engine), threading.active_count()) == before


def test_the_hashed_chunk_is_an_eighth_of_the_file_in_whole_mib():
    mib = 1 << 20
    assert snapshot._hashed_chunk(0) == mib
    assert snapshot._hashed_chunk(10 * 10**6) == mib
    assert snapshot._hashed_chunk(100 * 10**6) == 11 * mib
    assert snapshot._hashed_chunk(10**9) == 16 * mib


@pytest.mark.skipif(not hasattr(os, "getpriority") or os.uname().sysname != "Linux", reason="Linux thread priorities")
def test_foreground_never_waits_for_the_idle_thread(tmp_path, monkeypatch):
    """A busy machine may not run the idle thread for a while (here: it is stuck in its first chunk): the
    copy's foreground() returns at once, a thread of normal priority hashes the file from the last finished
    chunk, and the stuck thread's work never counts, even when it ends afterwards."""
    data = bytes(range(256)) * 4096 * 3  # 3 MiB: three chunks
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    entered, release = threading.Event(), threading.Event()
    real_new = digests.new_hash

    class StuckWhenIdle:
        def __init__(self, algorithm, h=None):
            self._algorithm, self._h = algorithm, h or real_new(algorithm)

        def update(self, chunk):
            if os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 19:
                entered.set()
                release.wait(10)
                chunk = b"not the file"  # whatever it does now must not count
            self._h.update(chunk)

        def copy(self):
            return StuckWhenIdle(self._algorithm, self._h.copy())

        def hexdigest(self):
            return self._h.hexdigest()

    monkeypatch.setattr(digests, "new_hash", StuckWhenIdle)
    with digests.FollowingDigests(f, idle=True) as following:
        following.ready(len(data))
        assert entered.wait(10)
        stuck = following._thread
        following.foreground()
        assert stuck.is_alive()  # foreground() did not wait for it: it is still stuck
        assert following._thread is not stuck
        assert following.result() == {"sha256": _sha(data), "blake3": _b3(data)}
        release.set()
        stuck.join(10)
        assert not stuck.is_alive()
        done, _ = following._state
        assert done == len(data)


def test_each_chunk_is_handed_over_as_soon_as_it_is_copied_and_switched_first(tmp_path):
    """Chunk by chunk while copying (not once at the end), and the header already in rollback mode when the
    first chunk is handed over: no byte is hashed before it is final."""
    live, dest = tmp_path / "live.db", tmp_path / "copy.db"
    _live_db(live, 3000)  # about 4 MB: 1 MiB chunks
    seen: list[tuple[int, bytes, int]] = []

    class Recording(digests.FollowingDigests):
        def ready(self, final_bytes: int) -> None:
            with open(dest, "rb") as f:
                seen.append((final_bytes, f.read(20)[18:20], os.path.getsize(dest)))
            super().ready(final_bytes)

    with Recording(dest) as following:
        snap = snapshot.copy_snapshot(live, dest, digests=following)
        got = following.result()
    size = dest.stat().st_size
    assert snap.hashed and len(seen) >= 3
    assert [s[0] for s in seen] == sorted({s[0] for s in seen}) and seen[-1][0] == size
    assert all(mode == b"\x01\x01" for _, mode, _ in seen)
    assert all(offset <= on_disk for offset, _, on_disk in seen)
    assert any(on_disk < size for _, _, on_disk in seen)  # handed over while the copy was still going on
    assert got["sha256"] == _sha(dest.read_bytes())
