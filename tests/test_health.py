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
    assert h.summary == "Backup folder not available · next in 18 minutes"
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
    assert codes(h) == ["last-failed-check"]
    h = assess(NOW, [rec("b", 10), rec("future", -365 * 24 * 60)], **facts())
    assert codes(h) == ["future-dated"] and h.last.id == "b"  # never "just now" because of it
    assert codes(assess(NOW, ok, **facts(over_budget=True))) == ["over-budget"]
    h = assess(NOW, ok, **facts(free_bytes=15 * MB))  # the next backup needs twice the database
    assert codes(h) == ["low-space"] and h.level == "error"
    assert codes(assess(NOW, [], **facts())) == ["no-backups"]


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
