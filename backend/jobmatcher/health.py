"""Is the user's data protected? One rule, shown by the page's status line and by `jobmatcher status`.

`assess` is a pure function of facts the engine gathers (`Engine.health`): the
backups of this data folder, the schedule's state (from the running app), the
backup folder's availability and free space, the database's size and the disk
budget. It returns the last backup, the next scheduled one, the folder, the
count and the warnings, each with a level ("warn": amber, "error": red), a
sentence saying what is wrong and one saying what to do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from .fsutil import human_size
from .manifest import BackupRecord
from .retention import clock_behind

STALE_DAYS = 7

Level = Literal["ok", "warn", "error"]


class HealthWarning(BaseModel):
    code: str  # folder-unavailable, scheduled-failed, stale, future-dated, clock-behind, over-budget, low-space,
    level: Level  # last-failed-check, no-backups
    message: str
    hint: str


class LastBackup(BaseModel):
    id: str
    created_at: datetime
    type: str
    verified: bool | None


class FolderHealth(BaseModel):
    path: str
    available: bool
    free_bytes: int | None
    used_bytes: int


class Health(BaseModel):
    level: Level
    last: LastBackup | None
    next_at: datetime | None  # None: the schedule is off, or JobMatcher is not open
    interval_minutes: int
    app_running: bool
    folder: FolderHealth
    count: int
    warnings: list[HealthWarning]
    summary: str  # "Last backup 12 minutes ago · next in 18 minutes · 24 backups, 340 MB"
    copies: str = ""  # with backup locations: "2 copies: this disk ✓ · Backblaze ✓ 5 min ago"


def assess_locations(now: datetime, locations: list, interval_minutes: int) -> list[HealthWarning]:
    """Warnings for the backup locations (manager.LocationStatus rows, as last seen: no network).

    Keys refused: red. Unreachable or a failed copy: amber. Copies waiting while the last successful
    copy is older than 7 days or 3 scheduled intervals (whichever is shorter): amber.
    """
    out: list[HealthWarning] = []
    stale_after = timedelta(days=STALE_DAYS)
    if interval_minutes:
        stale_after = min(stale_after, timedelta(minutes=3 * interval_minutes))
    for s in locations:
        if not s.enabled:
            continue
        if s.problem_code == "location-credentials":
            out.append(
                HealthWarning(
                    code="location-credentials",
                    level="error",
                    message=f"{s.name}: {s.problem}",
                    hint="Remove the location and add it again with the right keys.",
                )
            )
        elif s.problem_code:
            out.append(
                HealthWarning(
                    code="location-unavailable",
                    level="warn",
                    message=f"{s.name}: {s.problem}",
                    hint="Copies are retried and caught up in order when it is back.",
                )
            )
        if s.pending and (s.last_success_at is None or now - s.last_success_at > stale_after):
            since = "never" if s.last_success_at is None else f"not for {ago(now - s.last_success_at)}"
            out.append(
                HealthWarning(
                    code="location-stale",
                    level="warn",
                    message=f"{s.name}: {s.pending} backup{'s' if s.pending != 1 else ''} waiting "
                    f"to be copied; the last successful copy: {since}.",
                    hint="Check the location (`jobmatcher location list`), then Sync now.",
                )
            )
    return out


def ago(delta: timedelta) -> str:
    """'just now', '12 minutes', '3 hours', '2 days' (for 'ago' / 'in')."""
    s = int(delta.total_seconds())
    if s < 60:
        return "less than a minute"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size:
            n = s // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "less than a minute"  # pragma: no cover


def assess(
    now: datetime,
    backups: list[BackupRecord],
    *,
    interval_minutes: int,
    app_running: bool,
    schedule: dict | None,
    folder: str,
    folder_available: bool,
    free_bytes: int | None,
    db_bytes: int,
    budget_bytes: int,
    over_budget: bool,
) -> Health:
    """The health of the backups at `now` (time-zone aware). `schedule`: ScheduleState.to_dict() or None."""
    warnings: list[HealthWarning] = []
    dated = [b for b in backups if b.created_at <= now]
    future = [b for b in backups if b.created_at > now]
    newest = max(dated, key=lambda b: b.created_at) if dated else None
    good = [b for b in dated if b.verified is True]
    newest_good = max(good, key=lambda b: b.created_at) if good else None
    used = sum(b.size_bytes for b in backups)

    if not folder_available:
        warnings.append(
            HealthWarning(
                code="folder-unavailable",
                level="error",
                message=f"Your backup folder {folder} is not available — connect the drive or choose another folder.",
                hint="Backups resume by themselves once it is back.",
            )
        )
    failures = int((schedule or {}).get("failures") or 0)
    if failures and schedule and schedule.get("last_error"):
        err = schedule["last_error"]
        if err.get("code") != "folder-unavailable" or folder_available:
            warnings.append(
                HealthWarning(
                    code="scheduled-failed",
                    level="error" if failures >= 3 else "warn",
                    message=f"The last automatic backup failed: {err.get('message', '')}".rstrip(),
                    hint=err.get("hint") or "It is tried again at the next slot.",
                )
            )
    if folder_available and not backups:
        warnings.append(
            HealthWarning(
                code="no-backups",
                level="warn",
                message="You have no backups yet.",
                hint="Make one now with “Back up now”.",
            )
        )
    elif newest is not None and newest.verified is False:
        warnings.append(
            HealthWarning(
                code="last-failed-check",
                level="warn",
                message="Your newest backup failed its check.",
                hint="Make a new backup now; if that fails too, check your data.",
            )
        )
    if backups:
        stale_after = timedelta(days=STALE_DAYS)
        if app_running and interval_minutes and failures >= 2:
            stale_after = min(stale_after, timedelta(minutes=2 * interval_minutes))
        since = now - newest_good.created_at if newest_good else None
        if since is None or since > stale_after:
            what = f"in {ago(since)}" if since is not None else "at all"
            warnings.append(
                HealthWarning(
                    code="stale",
                    level="error",
                    message=f"No backup passed its check {what}.",
                    hint="Make a backup now with “Back up now”, and check the warnings above.",
                )
            )
    if future:
        warnings.append(
            HealthWarning(
                code="future-dated",
                level="warn",
                message=f"{len(future)} backup{'s are' if len(future) != 1 else ' is'} dated in the future "
                f"(the clock was wrong when {'they were' if len(future) != 1 else 'it was'} made).",
                hint="They are kept and never count as the newest; delete them when you no longer need them.",
            )
        )
    behind = clock_behind(now, backups)
    if behind:
        n = len(behind)
        warnings.append(
            HealthWarning(
                code="clock-behind",
                level="warn",
                message=f"{n} backup{'s are' if n != 1 else ' is'} dated before older backups (the clock was behind "
                f"when {'they were' if n != 1 else 'it was'} made).",
                hint="They are kept, as their age is unknown; check the computer's date and time, and delete them "
                "when you no longer need them.",
            )
        )
    if over_budget:
        warnings.append(
            HealthWarning(
                code="over-budget",
                level="warn",
                message=f"Backups take {human_size(used)}, more than the {human_size(budget_bytes)} allowed, "
                "and the ones left must be kept (pinned, before an update, the newest good one).",
                hint="Unpin or delete old backups, or allow more space for backups in the settings.",
            )
        )
    if folder_available and free_bytes is not None and free_bytes < 2 * db_bytes:
        warnings.append(
            HealthWarning(
                code="low-space",
                level="error",
                message=f"The backup folder's disk has {human_size(free_bytes)} free; the next backup needs "
                f"{human_size(2 * db_bytes)}.",
                hint="Free up space on that disk, or choose a backup folder on another disk.",
            )
        )

    next_at = None
    if app_running and interval_minutes and schedule and schedule.get("next_at"):
        next_at = datetime.fromisoformat(schedule["next_at"])
    if not folder_available:
        parts = ["Backup folder not available"]
    else:
        parts = [f"Last backup {ago(now - newest.created_at)} ago" if newest else "No backups yet"]
    if not interval_minutes:
        parts.append("automatic backups off")
    elif next_at is not None:
        parts.append(f"next in {ago(max(timedelta(0), next_at - now))}" if next_at > now else "next now")
    elif not app_running:
        parts.append("next while JobMatcher is open")
    if folder_available:
        parts.append(f"{len(backups)} backup{'s' if len(backups) != 1 else ''}, {human_size(used)}")
    level: Level = "ok"
    if warnings:
        level = "error" if any(w.level == "error" for w in warnings) else "warn"
    warnings.sort(key=lambda w: w.level != "error")  # the worst first
    last = (
        LastBackup(id=newest.id, created_at=newest.created_at, type=newest.type.value, verified=newest.verified)
        if newest
        else None
    )
    return Health(
        level=level,
        last=last,
        next_at=next_at,
        interval_minutes=interval_minutes,
        app_running=app_running,
        folder=FolderHealth(path=folder, available=folder_available, free_bytes=free_bytes, used_bytes=used),
        count=len(backups),
        warnings=warnings,
        summary=" · ".join(parts),
    )
