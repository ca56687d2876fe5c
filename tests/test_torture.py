"""Crash consistency: SIGKILL `backup create`, `backup restore` and `db migrate` at random moments (tests/torture.py).

In the normal suite a reduced run (a few MB, 10 kills per operation); with
JOBMATCHER_TORTURE_FULL=1 the full size (30 MB, 100 kills per operation).
The figures of a full run are in tests/torture-results.md.
"""

from __future__ import annotations

import os

import pytest
import torture

FULL = os.environ.get("JOBMATCHER_TORTURE_FULL") == "1"
SEED = int(os.environ.get("JOBMATCHER_TORTURE_SEED", "20261125"))


def _report(result: torture.OpResult) -> None:
    print(
        f"\n{result.op}: {result.kills} kills, {len(result.failures)} failures, "
        f"{result.mid_operation} mid-operation, outcomes {result.outcomes}, "
        f"operation {result.op_seconds:.2f}s, round trip {result.seconds:.0f}s"
    )
    assert result.kills > 0
    assert not result.failures, "\n".join(result.failures[:10])


@pytest.mark.parametrize("op", torture.OPS)
def test_sigkill_at_random_moments_never_loses_or_mixes_data(op, tmp_path):
    result = torture.run(op, kills=10, seed=SEED, size_mb=3, work=tmp_path, log=lambda *_: None)
    _report(result)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="full size: set JOBMATCHER_TORTURE_FULL=1")
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("op", torture.OPS)
def test_sigkill_full_size(op, tmp_path):
    result = torture.run(op, kills=100, seed=SEED, size_mb=30, work=tmp_path)
    _report(result)


def test_the_harness_sees_a_mixed_state(tmp_path, monkeypatch):
    """The checks can fail: a restore that swaps in a file mixing both states is caught."""
    t = torture.Torture("restore", tmp_path / "t", 1, SEED)
    result = torture.OpResult("restore")
    import shutil
    import sqlite3

    # What a broken restore might leave: the backup's rows with the old profile.
    mixed = tmp_path / "mixed.db"
    shutil.copyfile(t.source, mixed)
    conn = sqlite3.connect(mixed)
    conn.execute("UPDATE user_profile SET full_name = 'Current Person'")
    conn.commit()
    conn.close()
    monkeypatch.setattr(t, "reset", lambda: None)
    shutil.copyfile(mixed, t.db)
    problems = t._check(result, set())
    assert any("a mix" in p for p in problems), problems


def test_the_harness_sees_leftovers_and_partial_backups(tmp_path):
    t = torture.Torture("backup", tmp_path / "t", 1, SEED)
    t.backups.mkdir(exist_ok=True)
    (t.data / "jobmatcher.db.restoring-leftover").write_bytes(b"x")
    (t.backups / "backup_2026-01-01_00-00-00.db").write_bytes(b"SQLite format 3\x00" + b"\0" * 100)
    problems = t._check(torture.OpResult("backup"), set())
    assert any("leftovers in the data folder" in p for p in problems), problems
    assert any("does not verify" in p for p in problems), problems


# -- what a kill in the middle of an atomic write leaves, cleaned deterministically -------------------


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_temp_files_of_killed_writes_are_removed_by_the_next_launch(engine):
    from jobmatcher.engine import Engine

    engine.create_backup()
    folder, root = engine.store.folder, engine.data.root
    dead, alive = _dead_pid(), os.getppid()
    leftovers = [
        folder / f".backup_2026-01-01_00-00-00.json.{dead}.tmp",  # a manifest killed mid-write
        folder / "backup_2026-01-01_00-00-00.json",  # a name reserved, never published
        root / f".restore-journal.json.{dead}.tmp",  # a journal killed mid-write
        root / f".settings.json.{dead}.tmp",
    ]
    in_use = [folder / f".backup_2026-01-01_00-00-01.json.{alive}.tmp", root / f".settings.json.{alive}.tmp"]
    for p in leftovers + in_use:
        # a reserved name is created empty (O_EXCL) and filled only when the backup publishes
        p.write_bytes(b"" if p.name.startswith("backup_") else b"{}")
    Engine(root).launch(auto_backup=False)
    Engine(root).release_instance_lock()
    assert [p.name for p in leftovers if p.exists()] == []
    assert all(p.exists() for p in in_use)  # their writers are alive: not ours to remove
    assert len(engine.list_backups()) == 1


def test_an_orphan_manifest_is_kept_while_a_backup_is_being_written(engine):
    folder = engine.store.folder
    engine.create_backup()
    orphan = folder / "backup_2026-01-01_00-00-00.json"
    orphan.write_bytes(b"")
    from jobmatcher.lock import FileLock

    writer = FileLock(folder / ".tmp-1-1.lock")  # another process's backup in progress (its guard is held)
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(writer.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        engine.store.cleanup()
        assert orphan.exists()  # it may be that writer's reservation
    finally:
        holder.kill()
        holder.wait()
    engine.store.cleanup()
    assert not orphan.exists()
