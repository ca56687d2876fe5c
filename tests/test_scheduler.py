"""The schedule while the app runs: its clock rules on a fake clock, then real backups on real data."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from jobmatcher import scheduler as sched
from jobmatcher.engine import Engine
from jobmatcher.errors import BackupFailedError
from jobmatcher.manifest import BackupType
from jobmatcher.scheduler import BackupScheduler


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@pytest.fixture
def fast_naps(monkeypatch):
    monkeypatch.setattr(sched, "MAX_NAP", 0.02)  # the fake clock moves only when the test moves it


def test_a_long_sleep_runs_the_missed_slot_once_then_counts_from_that_run(fast_naps):
    clock, calls = FakeClock(), []
    s = BackupScheduler(lambda progress: calls.append(clock.t) or None, interval=lambda: 60, clock=clock)
    s.start()
    try:
        time.sleep(0.1)
        assert calls == []  # not before the first interval
        clock.t += 59
        time.sleep(0.1)
        assert calls == []
        clock.t += 1
        wait_for(lambda: len(calls) == 1)
        clock.t += 10 * 3600  # the machine slept ten hours: 600 slots missed
        wait_for(lambda: len(calls) == 2)
        time.sleep(0.2)
        assert len(calls) == 2  # ... and they cost one backup, not 600
        clock.t += 59
        time.sleep(0.1)
        assert len(calls) == 2  # the next slot is an interval after that run
        clock.t += 1
        wait_for(lambda: len(calls) == 3)
        assert s.state().last_outcome == "unchanged"
    finally:
        s.stop()


def test_a_failure_is_recorded_retried_at_the_next_slot_and_cleared_by_a_success(fast_naps):
    clock, results = FakeClock(), [BackupFailedError("The disk is full.", "Free up space."), "backup_x"]

    def backup(progress):
        r = results.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    s = BackupScheduler(backup, interval=lambda: 30, clock=clock)
    s.start()
    try:
        clock.t += 30
        wait_for(lambda: s.state().last_outcome == "failed")
        st = s.state()
        assert st.failures == 1 and st.last_error["message"] == "The disk is full."
        assert s._thread.is_alive()
        clock.t += 30
        wait_for(lambda: s.state().last_outcome == "made")
        st = s.state()
        assert (st.failures, st.last_error, st.last_backup_id) == (0, None, "backup_x")
    finally:
        s.stop()


def test_an_unexpected_error_does_not_stop_the_schedule(fast_naps):
    clock, calls = FakeClock(), []

    def backup(progress):
        calls.append(1)
        raise RuntimeError("boom")

    s = BackupScheduler(backup, interval=lambda: 30, clock=clock)
    s.start()
    try:
        for n in (1, 2):
            clock.t += 30
            wait_for(lambda n=n: len(calls) == n and s.state().failures == n)
        assert "boom" in s.state().last_error["message"]
    finally:
        s.stop()


def test_blocked_slots_are_skipped_and_off_means_never(fast_naps):
    clock, calls, blocked, interval = FakeClock(), [], [True], [30]
    s = BackupScheduler(
        lambda p: calls.append(1), interval=lambda: interval[0], blocked=lambda: blocked[0], clock=clock
    )
    s.start()
    try:
        clock.t += 30
        wait_for(lambda: s.state().last_outcome == "skipped")
        assert calls == []
        blocked[0] = False
        interval[0] = 0
        s.wake()
        assert s.state().next_at is None
        clock.t += 10_000
        time.sleep(0.1)
        assert calls == []
        interval[0] = 5
        s.wake()
        clock.t += 5
        wait_for(lambda: calls == [1])
    finally:
        s.stop()


def test_pause_cancels_a_running_backup_at_its_next_step_and_waits_only_for_that(fast_naps):
    clock, steps, started = FakeClock(), [], threading.Event()

    def backup(progress):  # a long backup: 1000 steps of 10 ms
        started.set()
        for i in range(1000):
            progress("copy", i, 1000, "pages")
            steps.append(i)
            time.sleep(0.01)
        return "never"

    s = BackupScheduler(backup, interval=lambda: 30, clock=clock)
    s.start()
    try:
        clock.t += 30
        assert started.wait(5)
        time.sleep(0.05)
        t0 = time.monotonic()
        s.pause()
        waited = time.monotonic() - t0
        assert not s.state().running and s.state().last_outcome == "skipped"
        assert len(steps) < 100 and waited < 2  # one step, not the whole backup (10 s)
        clock.t += 1000
        time.sleep(0.1)
        assert s.state().last_outcome == "skipped"  # nothing runs while paused
        s.resume()
    finally:
        s.stop()


def test_the_test_only_interval_override(monkeypatch):
    assert sched.interval_seconds(30) == 1800 and sched.interval_seconds(0) == 0
    monkeypatch.setenv(sched.INTERVAL_SECONDS_ENV, "0.5")
    assert sched.interval_seconds(30) == 0.5 and sched.interval_seconds(0) == 0


def test_the_clock_is_monotonic():
    a = sched.clock()
    time.sleep(0.01)
    assert sched.clock() > a


# -- real backups of real data ------------------------------------------------------------------


def _write(engine: Engine, name: str) -> None:
    conn = sqlite3.connect(engine.data.db_path, timeout=30)
    try:
        conn.execute("UPDATE user_profile SET full_name = ? WHERE id = 1", (name,))
        conn.commit()
    finally:
        conn.close()


def _name_in(path: str) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT full_name FROM user_profile WHERE id = 1").fetchone()[0]
    finally:
        conn.close()


def test_a_write_just_after_a_snapshot_is_in_the_next_scheduled_backup(engine):
    """The write lands while the first backup is being checked (after its snapshot): the next slot backs it up."""
    wrote = []

    def backup(progress):
        def hook(phase, done, total, unit):
            progress(phase, done, total, unit)
            if phase == "verify" and done == 0 and not wrote:  # the snapshot is taken; its check starts
                _write(engine, "Written after the snapshot")
                wrote.append(1)

        return engine.auto_backup(hook)

    s = BackupScheduler(backup, interval=lambda: 0.3)
    s.start()
    try:
        wait_for(lambda: s.state().last_outcome == "made" and wrote, timeout=20)
        first = s.state().last_backup_id
        assert _name_in(engine.store.get(first).path) == "Ada Lovelace"
        wait_for(lambda: s.state().last_backup_id != first, timeout=20)
        second = engine.store.get(s.state().last_backup_id)
        assert second.type == BackupType.auto
        assert _name_in(second.path) == "Written after the snapshot"
    finally:
        s.stop()


def test_data_left_alone_for_several_intervals_gets_no_identical_backup(engine):
    engine.create_backup(note="first")
    # the app's own connection stays open and reads, as the running app's does
    reader = engine.connect()
    outcomes = []
    s = BackupScheduler(lambda p: engine.auto_backup(p), interval=lambda: 0.2)
    s.start()
    try:
        deadline = time.monotonic() + 30
        while len(outcomes) < 5 and time.monotonic() < deadline:
            reader.execute("SELECT count(*) FROM saved_jobs").fetchone()
            st = s.state()
            if st.last_run_at and (not outcomes or outcomes[-1][0] != st.last_run_at):
                outcomes.append((st.last_run_at, st.last_outcome))
            time.sleep(0.02)
        assert [o for _, o in outcomes] == ["unchanged"] * len(outcomes) and len(outcomes) >= 5
        assert [b.note for b in engine.list_backups()] == ["first"]
        _write(engine, "Changed")
        wait_for(lambda: s.state().last_outcome == "made", timeout=20)
        assert len(engine.list_backups()) == 2
    finally:
        s.stop()
        reader.close()


def test_a_backup_dated_in_the_future_does_not_stop_automatic_backups(engine):
    """Its date says "newest" for a year; the launch and the schedule still back up changed data."""
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from jobmatcher.manifest import read_manifest, write_manifest

    b = engine.create_backup(note="clock was wrong")
    m = read_manifest(Path(b.path))
    m.created_at = datetime.now(timezone.utc) + timedelta(days=365)
    write_manifest(Path(b.path), m)
    _write(engine, "Changed since")
    report = Engine(engine.data.root).launch()
    assert report.auto_backup is not None
    _write(engine, "Changed again")
    assert engine.auto_backup() is not None
