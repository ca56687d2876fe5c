"""The health rule: a pure function of facts, then `jobmatcher status` on real folders."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import run_cli
from jobmatcher.health import assess
from jobmatcher.manifest import BackupRecord, BackupType

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
MB = 1 << 20


def rec(
    id: str, minutes_ago: float, verified: bool | None = True, size: int = 10 * MB, type: BackupType = BackupType.auto
) -> BackupRecord:
    return BackupRecord(
        id=id,
        path=f"/b/{id}.db",
        type=type,
        created_at=NOW - timedelta(minutes=minutes_ago),
        size_bytes=size,
        sha256=None,
        schema_revision=None,
        app_version="",
        note="",
        pinned=False,
        verified=verified,
        verified_at=None,
    )


def facts(**kw):
    base = dict(
        interval_minutes=30,
        app_running=True,
        schedule={"next_at": (NOW + timedelta(minutes=18)).isoformat(), "failures": 0, "last_error": None},
        folder="/media/usb/JobMatcher",
        folder_available=True,
        free_bytes=10 << 30,
        db_bytes=10 * MB,
        budget_bytes=2 << 30,
        over_budget=False,
    )
    base.update(kw)
    return base


def codes(h) -> list[str]:
    return [w.code for w in h.warnings]


def test_all_is_well_in_one_line():
    backups = [rec(f"b{i}", 12 + 30 * i, size=340_000_000 // 24) for i in range(24)]
    h = assess(NOW, backups, **facts())
    assert h.level == "ok" and h.warnings == []
    assert h.summary == "Last backup 12 minutes ago · next in 18 minutes · 24 backups, 340.0 MB"
    assert h.last.id == "b0" and h.count == 24 and h.folder.used_bytes == 24 * (340_000_000 // 24)


def test_each_warning_and_its_level():
    ok = [rec("b", 10)]
    h = assess(NOW, [], **facts(folder_available=False))
    assert codes(h) == ["folder-unavailable"] and h.level == "error"
    assert h.summary == "Backup folder not available · backups resume when it is back"  # no countdown (K8)
    assert "/media/usb/JobMatcher is not available — connect the drive" in h.warnings[0].message
    failed = {
        "next_at": None,
        "failures": 1,
        "last_error": {"code": "no-space", "message": "The disk is full.", "hint": "Free up space."},
    }
    h = assess(NOW, ok, **facts(schedule=failed))
    assert codes(h) == ["scheduled-failed"] and h.level == "warn" and "The disk is full." in h.warnings[0].message
    assert assess(NOW, ok, **facts(schedule={**failed, "failures": 3})).level == "error"
    # no passed backup in 7 days (the data may simply not have changed: not a warning before that)
    assert codes(assess(NOW, [rec("b", 6 * 24 * 60)], **facts())) == []
    h = assess(NOW, [rec("b", 8 * 24 * 60)], **facts())
    assert codes(h) == ["stale"] and "8 days" in h.warnings[0].message
    # ... or in 2 intervals, when scheduled backups keep failing
    h = assess(NOW, [rec("b", 61)], **facts(schedule={**failed, "failures": 2}))
    assert codes(h) == ["stale", "scheduled-failed"]
    h = assess(NOW, [rec("good", 60), rec("bad", 5, verified=False)], **facts())
    # amber (issue 12): the newest state has no sound backup, but an older one passed its check ...
    assert codes(h) == ["last-failed-check"] and h.level == "warn"
    h = assess(NOW, [rec("bad", 5, verified=False)], **facts())
    assert "last-failed-check" in codes(h) and h.level == "error"  # ... red when none ever passed
    h = assess(NOW, [rec("b", 10), rec("future", -365 * 24 * 60)], **facts())
    assert codes(h) == ["future-dated"] and h.last.id == "b"  # never "just now" because of it
    assert codes(assess(NOW, ok, **facts(over_budget=True))) == ["over-budget"]
    h = assess(NOW, ok, **facts(free_bytes=15 * MB))  # the next backup needs twice the database
    assert codes(h) == ["low-space"] and h.level == "error"
    h = assess(NOW, [], **facts())
    assert codes(h) == ["no-backups"] and h.level == "error"  # nothing protects the data


def test_next_backup_depends_on_the_app_and_the_setting():
    assert "next while JobMatcher is open" in assess(NOW, [], **facts(app_running=False, schedule=None)).summary
    assert "automatic backups off" in assess(NOW, [], **facts(interval_minutes=0)).summary


def test_status_on_the_command_line(engine, tmp_path):
    engine.create_backup()
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Last backup less than a minute ago · next while JobMatcher is open · 1 backup")
    body = json.loads(run_cli("status", "--json", data_dir=engine.data.root).stdout)
    assert body["level"] == "ok" and body["count"] == 1 and body["folder"]["available"] is True
    folder = tmp_path / "usb"
    folder.mkdir()
    engine.update_settings({"backup_dir": str(folder)})
    import shutil

    shutil.rmtree(folder)
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 1 and "is not available — connect the drive or choose another folder" in r.stderr
    assert not folder.exists()


def test_status_reads_the_running_apps_schedule(engine):
    import os

    engine.create_backup()
    state = {
        "pid": os.getpid(),
        "interval_seconds": 1800,
        "running": False,
        "next_at": (datetime.now(timezone.utc) + timedelta(minutes=17, seconds=30)).isoformat(),
        "last_run_at": None,
        "last_outcome": "failed",
        "last_backup_id": None,
        "failures": 1,
        "last_error": {"code": "no-space", "message": "The disk is full.", "hint": "Free up space."},
    }
    Path(engine.data.schedule_path).write_text(json.dumps(state))
    r = run_cli("status", data_dir=engine.data.root)
    assert "next in 17 minutes" in r.stdout and "The last automatic backup failed: The disk is full." in r.stderr
    state["pid"] = 999_999_999  # the app is gone: its file says nothing any more
    Path(engine.data.schedule_path).write_text(json.dumps(state))
    assert "next while JobMatcher is open" in run_cli("status", data_dir=engine.data.root).stdout


# -- one meaning for the levels, for every kind of warning (F12, F16, F21) --------------------------------------


def seq(id: str, minutes_ago: float, sequence: int, verified: bool | None = True) -> BackupRecord:
    r = rec(id, minutes_ago, verified)
    r.sequence = sequence
    return r


def test_red_exactly_when_the_protection_is_degraded():
    """Every kind of warning, with its level: "error" (red, `status` exits 1) when the next backup cannot be
    made or the newest data has no sound backup; "warn" (amber) when the protection is there."""
    ok = [rec("b", 10)]
    failed_once = {
        "next_at": None,
        "failures": 1,
        "last_error": {"code": "busy", "message": "Another program was writing.", "hint": ""},
    }
    cases = [
        # (backups, facts, the code, its level)
        ([], facts(folder_available=False), "folder-unavailable", "error"),
        (ok, facts(folder_writable=False), "folder-read-only", "error"),
        (ok, facts(data_writable=False, data_folder="/home/ada/JobMatcher"), "data-read-only", "error"),
        ([], facts(), "no-backups", "error"),
        ([rec("good", 60), rec("bad", 5, verified=False)], facts(), "last-failed-check", "warn"),
        ([rec("bad", 5, verified=False)], facts(), "last-failed-check", "error"),
        ([rec("b", 8 * 24 * 60)], facts(), "stale", "error"),
        (ok, facts(free_bytes=1 * MB), "low-space", "error"),
        (ok, facts(schedule=failed_once), "scheduled-failed", "warn"),  # retried at the next slot
        (ok, facts(schedule={**failed_once, "failures": 3}), "scheduled-failed", "error"),
        ([rec("b", 10), rec("f", -60 * 24 * 365)], facts(), "future-dated", "warn"),  # kept, never the newest
        ([seq("a", 60, 1), seq("b", 60 * 24 * 400, 2)], facts(), "clock-behind", "warn"),  # kept
        (ok, facts(over_budget=True), "over-budget", "warn"),  # the kept ones are all there
        ([], facts(previous=[rec("p", 30)], previous_folders=["/old"]), "previous-folder", "warn"),
    ]
    for backups, f, code, level in cases:
        h = assess(NOW, backups, **f)
        got = {w.code: w.level for w in h.warnings}
        assert got.get(code) == level, (code, got)
        assert h.level == ("error" if "error" in got.values() else "warn"), (code, h.level)


def test_a_read_only_backup_or_data_folder_is_red_and_says_why():
    h = assess(NOW, [rec("b", 10)], **facts(folder_writable=False))
    assert h.level == "error" and h.folder.writable is False
    assert "/media/usb/JobMatcher is read-only, so no backup can be made there" in h.warnings[0].message
    h = assess(NOW, [rec("b", 10)], **facts(data_writable=False, data_folder="/d"))
    assert h.level == "error" and h.data_writable is False and "data folder /d is read-only" in h.warnings[0].message
    # an unavailable folder is said as such, not also as read-only
    h = assess(NOW, [], **facts(folder_available=False, folder_writable=False))
    assert codes(h) == ["folder-unavailable"]


def test_backups_left_in_the_previous_folder_are_not_no_backups():
    """F21: after a move that could not move a backup, `status` said "You have no backups yet"."""
    prev = [rec("p1", 90), rec("p2", 30)]
    h = assess(NOW, [], **facts(previous=prev, previous_folders=["/old/backups"]))
    assert codes(h) == ["previous-folder"] and h.level == "warn"
    assert "Your 2 backups are still in the previous backup folder /old/backups" in h.warnings[0].message
    assert h.last.id == "p2" and h.previous_count == 2 and h.count == 0
    assert h.summary.startswith("Last backup 30 minutes ago") and "2 in the previous folder" in h.summary
    # they count for "has a backup passed its check lately" too
    old = [rec("p", 8 * 24 * 60)]
    assert "stale" in codes(assess(NOW, [], **facts(previous=old, previous_folders=["/old"])))


def test_the_last_backup_is_the_last_made_not_the_latest_date():
    """The status's "last backup" goes by the order of making, as retention does (FINDINGS2 F1)."""
    backups = [seq("old1", 120, 1), seq("old2", 60, 2), seq("y2001", 60 * 24 * 365 * 25, 3)]
    h = assess(NOW, backups, **facts())
    assert h.last.id == "y2001"
    assert h.summary.startswith("Last backup 1 hour ago")  # no later than the latest trustworthy date
    assert h.last_at == backups[1].created_at  # what the page's status line words the same way
    assert "stale" not in codes(h) and "clock-behind" in codes(h)


def test_location_warnings_are_red_when_copies_stop_until_the_user_acts():
    """F16: a full location was only amber (exit 0)."""
    from types import SimpleNamespace

    from jobmatcher.health import assess_locations

    def loc(name, code="", problem="", pending=0, last=None):
        return SimpleNamespace(
            name=name, enabled=True, problem_code=code, problem=problem, pending=pending, last_success_at=last
        )

    recent = NOW - timedelta(minutes=5)
    cases = [
        (loc("keys", "location-credentials", "refused the keys", last=recent), "location-credentials", "error"),
        (loc("full", "location-copy-failed", "is full (0 bytes free)", 1, recent), "location-copy-failed", "error"),
        (loc("unplugged", "location-unavailable", "not available", last=recent), "location-unavailable", "warn"),
        (loc("locked", "keyring-locked", "the keyring is locked", last=recent), "location-unavailable", "warn"),
        (loc("taken", "location-taken-over", "used by another computer", 1, recent), "location-taken-over", "error"),
        (loc("lapsed", pending=3, last=NOW - timedelta(days=8)), "location-stale", "error"),
        (loc("new", pending=2), "location-stale", "warn"),  # its first copies are still to come
        (loc("new-failing", "location-unavailable", "not available", 2), "location-stale", "error"),
    ]
    for s, code, level in cases:
        got = {w.code: w.level for w in assess_locations(NOW, [s], 30)}
        assert got.get(code) == level, (s.name, got)


def test_one_wrong_clock_gives_one_warning_and_the_clock_behind_one_names_its_backups():
    """K6: a backup dated in the future, and the good one made after it (dated now): one warning, "dated
    in the future"; the later one is not also called "dated before a backup made earlier". A backup that
    is really behind is named, so the person can find it."""
    backups = [seq("a", 120, 1), seq("b", 60, 2), seq("wrong", -60 * 24 * 365 * 4, 3), seq("after", 1, 4)]
    h = assess(NOW, backups, **facts())
    assert "future-dated" in codes(h) and "clock-behind" not in codes(h), codes(h)
    assert h.last.id == "after"
    h = assess(NOW, [seq("a", 60, 1), seq("b", 60 * 24 * 400, 2)], **facts())
    behind = next(w for w in h.warnings if w.code == "clock-behind")
    assert behind.message.endswith(": b."), behind.message
