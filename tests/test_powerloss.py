"""Power loss: real `jobmatcher` commands on crashfs (tests/crashfs.py), the power cut at seeded instants.

tests/powerloss.py says what each round does and checks; tests/crashfs.py states
the model (what survives a power cut) and its limits. In the normal suite 20
cuts per operation on a 0.5 MB database; with JOBMATCHER_TORTURE_FULL=1, 200 on 2 MB.
Each bug the cuts found keeps its round seed here as a regression test.
Needs root, /dev/fuse, fusermount3 and mfusepy; skips cleanly without them.
"""

from __future__ import annotations

import os
import random
import shutil

import crashfs
import powerloss
import pytest

pytestmark = [
    pytest.mark.powerloss,
    pytest.mark.skipif(powerloss.unavailable() is not None, reason=f"crashfs cannot run: {powerloss.unavailable()}"),
]

FULL = os.environ.get("JOBMATCHER_TORTURE_FULL") == "1"
SEED = int(os.environ.get("JOBMATCHER_TORTURE_SEED", "20261130"))
CI_CUTS, FULL_CUTS = 20, 200  # CI: the first 20 of the same seeded rounds (CI time); full: 200
SIZE_MB = 2 if FULL else 0.5  # MB; the full run in tests/torture-results.md used 2

# Round seeds that once found a bug (see the commit that fixed each), replayed on every run.
REGRESSIONS = {
    # 1: the backup folder was created without an fsync of the data folder: a finished backup vanished with it.
    "backup": [571348988865],
    # 2: a power cut during the restore's swap brought back the spent -journal of the old live file's switch to
    #    DELETE mode (its deletion not yet durable); launch left it beside the database.
    # 3: the restore removed its journal without fsyncing the folder: after a power cut a finished restore's
    #    journal came back, and the next launch called the restore interrupted.
    # 5: the restore's hard-link probe (.link-probe-PID in the data folder) survived a power cut and no launch
    #    ever removed it (found by the full-size run).
    "restore": [900375959848, 228000394964, 747119201270, 148688718640, 570189845939, 232048670125, 938937915344],
    # 4: a copy to a folder location created its folders (JobMatcher/<id>/) without fsyncing their parents: the
    #    copy vanished with them, while the data folder recorded it as made.
    "location": [825954015282],
}


def _check(result: powerloss.Result) -> None:
    print(
        f"\n{result.op}: {result.cuts} cuts, {len(result.failures)} failures, modes {result.modes}, "
        f"outcomes {result.outcomes}, {result.ops_per_run} file-system operations per run, {result.seconds:.0f}s"
    )
    assert result.cuts > 0
    assert not result.failures, "\n".join(result.failures[:10])


def _power_cuts(op: str, tmp_path) -> None:
    """The seeded rounds, then the regressions' round seeds, in one run: every round starts from the same pristine
    copy (PowerLoss.reset) and the same counted trace, so the replays need no second preparation."""
    cuts = FULL_CUTS if FULL else CI_CUTS
    seeds = powerloss.round_seeds(op, SEED, cuts) + REGRESSIONS.get(op, [])
    result = powerloss.run(op, 0, SEED, SIZE_MB, tmp_path, log=lambda *_: None, only=seeds)
    assert result.cuts == len(seeds)
    _check(result)


@pytest.mark.timeout(3600 if FULL else 600)
def test_powerloss_backup(tmp_path):
    _power_cuts("backup", tmp_path)


@pytest.mark.timeout(3600 if FULL else 600)
def test_powerloss_restore(tmp_path):
    _power_cuts("restore", tmp_path)


@pytest.mark.timeout(3600 if FULL else 600)
def test_powerloss_migrate(tmp_path):
    _power_cuts("migrate", tmp_path)


@pytest.mark.timeout(3600 if FULL else 600)
def test_powerloss_prune(tmp_path):
    _power_cuts("prune", tmp_path)


@pytest.mark.timeout(3600 if FULL else 600)
def test_powerloss_settings(tmp_path):
    _power_cuts("settings", tmp_path)


@pytest.mark.timeout(3600 if FULL else 600)
def test_powerloss_location(tmp_path):
    """`location sync` to two folder locations on the same crash disk: one with plain copies, one with encrypted
    ones (age in a child process killed with the command, one fsync at the end; crashfs is a FUSE file system,
    so its copies are read back after the rename, not behind the writer)."""
    _power_cuts("location", tmp_path)


# -- the file system itself: the model loses exactly what it should --------------------------------


def _mounted(tmp_path, mode, cut_after=None):
    fs = powerloss.CrashMount(tmp_path)
    fs.backing.mkdir()
    (fs.backing / "old.txt").write_bytes(b"durable since mount\n")
    fs.start(cut_after, seed=1, mode=mode)
    return fs


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path, data, sync=False):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def test_crashfs_keeps_only_what_was_made_durable(tmp_path):
    fs = _mounted(tmp_path, "lose-all")
    m = fs.mount
    try:
        _write(m / "synced-entry-synced.txt", b"a" * 10000, sync=True)
        _write(m / "unsynced-data.txt", b"b" * 10000)
        _fsync_dir(m)  # both entries durable; only the first one's data
        _write(m / "no-dir-fsync.txt", b"c", sync=True)  # data durable, entry not (strict POSIX)
        _write(m / "tmp", b"new", sync=True)
        os.replace(m / "tmp", m / "old.txt")  # rename without a directory fsync: reverted
        os.mkdir(m / "sub")
        _write(m / "sub" / "in-new-dir.txt", b"d", sync=True)
        _fsync_dir(m / "sub")  # the folder's own entry was never made durable
        assert (m / "old.txt").read_bytes() == b"new"  # the running system sees everything
    finally:
        report = fs.stop()
    assert report["mode"] == "lose-all" and not report["frozen"]
    d = fs.backing
    assert sorted(p.name for p in d.iterdir()) == ["old.txt", "synced-entry-synced.txt", "unsynced-data.txt"]
    assert (d / "synced-entry-synced.txt").read_bytes() == b"a" * 10000
    assert (d / "unsynced-data.txt").read_bytes() == b""
    assert (d / "old.txt").read_bytes() == b"durable since mount\n"


def test_crashfs_renames_reverted_keeps_data_and_other_changes(tmp_path):
    fs = _mounted(tmp_path, "renames-reverted")
    m = fs.mount
    try:
        _write(m / "tmp", b"new")
        os.replace(m / "tmp", m / "old.txt")
        _write(m / "other.txt", b"kept")
    finally:
        fs.stop()
    d = fs.backing
    assert (d / "old.txt").read_bytes() == b"durable since mount\n"
    assert (d / "tmp").read_bytes() == b"new"
    assert (d / "other.txt").read_bytes() == b"kept"


def test_crashfs_torn_writes_mix_pages_of_old_and_new(tmp_path):
    size = 64 * crashfs.PAGE
    fs = _mounted(tmp_path, "lose-all")
    try:
        _write(fs.mount / "f", b"\x00" * size, sync=True)
        _fsync_dir(fs.mount)
    finally:
        fs.stop()
    for seed in range(3):
        fs.start(None, seed=seed, mode="torn")
        try:
            with open(fs.mount / "f", "r+b") as f:
                f.write(b"\xff" * size)
        finally:
            fs.stop()
        data = (fs.backing / "f").read_bytes()
        pages = {data[i : i + crashfs.PAGE] for i in range(0, len(data), crashfs.PAGE)}
        # whole pages, old and new mixed (all 64 the same by chance: 2 in 2**64)
        assert pages == {b"\x00" * crashfs.PAGE, b"\xff" * crashfs.PAGE}
        _restore_zero(fs, size)


def _restore_zero(fs, size):
    with open(fs.backing / "f", "wb") as f:
        f.write(b"\x00" * size)


def test_crashfs_freezes_after_the_cut(tmp_path):
    fs = _mounted(tmp_path, "lose-all", cut_after=2)
    try:
        _write(fs.mount / "a", b"1")  # create + write: the two operations allowed
        with pytest.raises(OSError) as e:
            _write(fs.mount / "b", b"2")
        assert e.value.errno == 5  # EIO
        assert fs.frozen()
        with pytest.raises(OSError):
            (fs.mount / "a").read_bytes()  # reads fail too once frozen
    finally:
        report = fs.stop()
    assert report["frozen"] and report["ops"] == 3
    assert sorted(p.name for p in fs.backing.iterdir()) == ["old.txt"]


def test_sqlite_wal_works_on_crashfs(tmp_path):
    """WAL needs the -shm shared memory (mmap): it works through the kernel page cache, two connections agree."""
    import sqlite3

    fs = _mounted(tmp_path, "lose-all")
    try:
        a = sqlite3.connect(fs.mount / "t.db", isolation_level=None)
        assert a.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        a.execute("PRAGMA synchronous=FULL")
        a.execute("CREATE TABLE t (x)")
        a.executemany("INSERT INTO t VALUES (?)", [(random.randbytes(500),) for _ in range(100)])
        b = sqlite3.connect(fs.mount / "t.db", isolation_level=None)
        assert b.execute("SELECT count(*) FROM t").fetchone()[0] == 100
        b.close()
        a.close()
    finally:
        fs.stop()
    conn = sqlite3.connect(fs.backing / "t.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 100  # every commit was fsynced
    conn.close()
    shutil.rmtree(fs.backing)


def test_the_harness_sees_lost_results_torn_files_and_linked_backups(tmp_path):
    """The checks can fail: a torn settings file, a finished command's result gone, a backup that is the live file."""
    pl = powerloss.PowerLoss("settings", tmp_path / "pl", 0.2, SEED, log=lambda *_: None)
    pl.reset()
    (pl.data / "settings.json").write_bytes(b'{"retention_days": 7, "auto_')  # a torn write
    problems = pl.check(True, powerloss.Result("settings"))
    assert any("settings.json is damaged" in p for p in problems), problems
    pl.reset()  # the old settings: what a lost rename leaves
    problems = pl.check(True, powerloss.Result("settings"))
    assert any("old ones came back" in p for p in problems), problems
    assert pl.check(False, powerloss.Result("settings")) == []  # cut mid-operation: the old ones are right
    pl.reset()
    (pl.data / "backups").mkdir(exist_ok=True)
    os.link(pl.data / "jobmatcher.db", pl.data / "backups" / "backup_2026-01-01_00-00-00.db")
    problems = pl.check(False, powerloss.Result("settings"))
    assert any("is the live database itself" in p for p in problems), problems
