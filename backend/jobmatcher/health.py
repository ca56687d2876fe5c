"""Is the user's data protected? One rule, shown by the page's status line and by `jobmatcher status`.

`assess` is a pure function of facts the engine gathers (`Engine.health`): the
backups of this data folder, the schedule's state (from the running app), the
backup folder's availability, writability and free space, whether the data
folder can be written (a backup takes SQLite's write lock there), the backups
still in a previous backup folder, the database's size and the disk budget. It
returns the last backup, the next scheduled one, the folder, the count and the
warnings, each with a level, a sentence saying what is wrong and one saying
what to do.

The levels mean one thing for every kind of warning: "error" (red; `jobmatcher
status` exits 1) when the user's protection is degraded: the next backup cannot
be made (folder unavailable or read-only, data folder read-only, disk too
full, the live database lost, damaged or from a newer JobMatcher), the newest
data has no sound backup (no backups, the newest failed its check and none before
it passed, none passed for too long), or copies off this disk have stopped until
the user acts (keys refused, the location full or refusing writes, no copy for
too long). "warn" (amber, exit 0) when the protection is there but something
deserves a look: the newest backup failed its check but an older one passed,
a single failed automatic slot (retried at the next; the stale
rule turns red after two intervals), wrong dates (kept), the disk budget, a
location that cannot be reached right now (retried by itself), copies not made
yet to a new location, backups still in the previous folder.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .fsutil import human_size
from .manifest import CHANGED_AFTER_RESTORE, CHECKING, NEWER_VERSION, BackupRecord
from .retention import clock_behind, newest_order

STALE_DAYS = 7

Level = Literal["ok", "warn", "error"]


class HealthWarning(BaseModel):
    # database, folder-unavailable, folder-read-only, data-read-only, scheduled-failed, stale, future-dated,
    # clock-behind, over-budget, low-space, last-failed-check, no-backups, previous-folder, location-credentials,
    # location-copy-failed, location-taken-over, location-unavailable, location-marker-missing, location-clock,
    # location-stale, locations-unreadable, live-is-backup, folder-id, recovered-no-location, location-old-passphrase,
    # restore-interrupted
    code: str
    level: Level
    message: str
    hint: str  # what to do, in the command line's words (a command)
    page_hint: str | None = None  # the page's words (a button, a place), where they differ; the API sends it as hint


class LastBackup(BaseModel):
    id: str
    created_at: datetime
    type: str
    verified: bool | None
    # "newer-version": made of a newer JobMatcher's data (manifest.NEWER_VERSION); "checking": a restore's safety
    # backup whose check runs in the background (manifest.CHECKING); "changed-after-restore": one whose file was
    # changed after that restore (manifest.CHANGED_AFTER_RESTORE, Y7)
    verify_message: str = ""


class FolderHealth(BaseModel):
    path: str
    available: bool
    free_bytes: int | None
    used_bytes: int
    writable: bool = True  # False: read-only (or not available), so the next backup cannot be made there


class Health(BaseModel):
    level: Level
    last: LastBackup | None  # the backup made last (by sequence), whatever its date
    # When the last backup was made at the latest: the latest date among the backups not in the future (one made
    # last but dated earlier had the clock behind). "Last backup 12 minutes ago" goes by this.
    last_at: datetime | None = None
    next_at: datetime | None  # None: the schedule is off, or JobMatcher is not open
    interval_minutes: int
    app_running: bool
    folder: FolderHealth
    count: int
    warnings: list[HealthWarning]
    summary: str  # "Last backup 12 minutes ago · next in 18 minutes · 24 backups, 340 MB"
    copies: str = ""  # with backup locations: "2 copies: this disk ✓ · Backblaze ✓ 5 min ago"
    data_writable: bool = True  # False: the data folder is read-only, so no backup can be made
    previous_count: int = 0  # this data folder's backups still in a previous backup folder
    # files in the backup folder that are listed but not counted above: added by hand, other data folders'
    uncounted: int = 0


# Location problems that pass by themselves (unplugged, network down, the keyring not unlocked yet): amber, retried.
# Every other problem stops the copies there until the user acts: red.
_PASSING_PROBLEMS = ("location-unavailable", "keyring-locked")


def location_stale_after(interval_minutes: int) -> timedelta:
    """How long a location may go without a successful copy while copies wait before its copies have lapsed:
    7 days or 3 scheduled intervals (`interval_minutes`; 0: none), whichever is shorter. Never raises."""
    stale_after = timedelta(days=STALE_DAYS)
    if interval_minutes:
        stale_after = min(stale_after, timedelta(minutes=3 * interval_minutes))
    return stale_after


def assess_locations(now: datetime, locations: list, interval_minutes: int) -> list[HealthWarning]:
    """Warnings for the backup locations (manager.LocationStatus rows, as last seen: no network).

    Keys refused, the location reached but refusing the copy (full, read-only, over its quota) or taken
    over by another computer: red, as copies stop until the user acts. Unreachable (unplugged, network
    down) or the keyring locked: amber, retried by itself.
    Copies waiting while the last successful copy is older than 7 days or 3 scheduled intervals (whichever
    is shorter): red once it had copied before or has a problem (its copies have lapsed), amber for a
    location that has not copied yet and has not failed (its first copies are still to come).
    """
    out: list[HealthWarning] = []
    stale_after = location_stale_after(interval_minutes)
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
        elif s.problem_code == "location-clock":  # V6: the computer's clock, not the keys; retried by itself
            out.append(
                HealthWarning(
                    code="location-clock",
                    level="warn",
                    message=f"{s.name}: {s.problem}",
                    hint="Set this computer's date and time right (turn on setting the time automatically); "
                    "copies are then caught up in order by themselves.",
                )
            )
        elif s.problem_code == "location-marker-missing" and s.kind != "folder":  # S3: no path to set again
            out.append(
                HealthWarning(
                    code="location-marker-missing",
                    level="error",
                    message=f"{s.name}: {s.problem}",
                    hint="If that is the place of your copies, remove the location and add the same bucket and prefix "
                    f"again (`jobmatcher location remove {shlex.quote(s.name)}`, then `jobmatcher location add s3 …` "
                    "with the same passphrase): the marker is written again and the copies there join it.",
                    page_hint="If that is the place of your copies, remove the location and add the same bucket and "
                    "prefix again with the same passphrase: the marker is written again and the copies there join it.",
                )
            )
        elif s.problem_code == "location-marker-missing":  # FINDINGS20 1: copies there, its marker lost; not passing
            out.append(
                HealthWarning(
                    code="location-marker-missing",
                    level="error",
                    message=f"{s.name}: {s.problem}",
                    hint=f"If {s.where} is the folder of your copies, run `jobmatcher location set "
                    f"{shlex.quote(s.name)} --path {shlex.quote(s.where)}`: it checks that the copies there are "
                    "this data folder's and writes the marker again, and copies are then caught up. If it is not, "
                    "plug in (mount) the drive that holds your copies.",
                    page_hint="If it is the folder of your copies, press Change folder… in its row (Backup & Restore "
                    "→ Backup locations) and give the same folder: JobMatcher checks that the copies there are this "
                    "data folder's and writes the marker again. If it is not, plug in (mount) the drive that holds "
                    "your copies.",
                )
            )
        elif s.problem_code in _PASSING_PROBLEMS:
            out.append(
                HealthWarning(
                    code="location-unavailable",
                    level="warn",
                    message=f"{s.name}: {s.problem}",
                    hint="Copies are retried and caught up in order when it is back.",
                )
            )
        elif s.problem_code == "recipient-unproven":  # U4: an older data folder's one step, said where it is seen
            out.append(
                HealthWarning(
                    code="recipient-unproven",
                    level="error",
                    message=f"{s.name}: {s.problem}",
                    hint="Unlock the key once with your passphrase: `jobmatcher location sync --passphrase-file FILE` "
                    "(a file with the passphrase on its first line). Copies are then caught up in order.",
                    # the page's own step (Locations: a passphrase field and "Unlock and copy", api.unlock_location_key)
                    page_hint="Type your passphrase (or the recovery key) under Backup & Restore → Backup locations "
                    "and press Unlock and copy: the key is opened once, and copies are then caught up in order.",
                )
            )
        elif s.problem_code:  # reached, but refusing the copy (full, read-only, a quota), or taken over
            out.append(
                HealthWarning(
                    code=s.problem_code if s.problem_code == "location-taken-over" else "location-copy-failed",
                    level="error",
                    message=f"{s.name}: {s.problem}",
                    hint=(
                        # the key comes back from the location with the passphrase (X18c): the step, not a wait
                        f"Remove and add the location again (`jobmatcher location remove {shlex.quote(s.name)}`, then "
                        "`jobmatcher location add …` with the same place and passphrase): the key comes back from "
                        "there, and copies are caught up in order."
                        if s.problem_code == "identity-missing"
                        # C3: a pipe or folder at the key file's name is moved away first (never deleted by us)
                        else "Move that out of the data folder, then remove and add the location again "
                        f"(`jobmatcher location remove {shlex.quote(s.name)}`, then `jobmatcher location add …` with "
                        "the same place and passphrase): the key comes back from there, and copies are caught up in "
                        "order."
                        if s.problem_code == "key-file-not-a-file"
                        # FINDINGS18 7: the state file is only a record, written anew by the next copy
                        else "Move it out of the data folder (JobMatcher does not delete or replace what it did not "
                        "make): the next copy writes that file anew, and copies are caught up in order."
                        if s.problem_code == "state-file-not-a-file"
                        else "Copies there stop until this is fixed; they are caught up in order afterwards."
                    ),
                    page_hint=(
                        "Remove the location and add the same place again with the same passphrase: the key comes "
                        "back from there, and copies are caught up in order."
                        if s.problem_code == "identity-missing"
                        else "Move that out of the data folder, then remove the location and add the same place "
                        "again with the same passphrase: the key comes back from there."
                        if s.problem_code == "key-file-not-a-file"
                        else None
                    ),
                )
            )
        if getattr(s, "old_passphrase", False):  # X13: a passphrase change not yet there
            out.append(
                HealthWarning(
                    code="location-old-passphrase",
                    level="warn",
                    message=f"{s.name}: it still holds the encryption key's file locked with your old passphrase "
                    "(the passphrase change has not updated it there yet).",
                    hint="It is updated at its next sync: connect it if it is a drive, or run "
                    f"`jobmatcher location sync {shlex.quote(s.name)}`.",
                    page_hint="It is updated at its next sync: connect it if it is a drive, or press Sync now in its "
                    "row.",
                )
            )
        lost = getattr(s, "lost", [])
        if lost:  # D5, D15: known damaged there, and their backups are no longer here to copy again
            n = len(lost)
            out.append(
                HealthWarning(
                    code="location-copies-damaged",
                    level="warn",
                    message=f"{s.name}: {n} cop{'y' if n == 1 else 'ies'} there {'is' if n == 1 else 'are'} "
                    f"damaged ({', '.join(lost[:3])}{', …' if n > 3 else ''}), and this computer has no sound "
                    f"backup to make {'it' if n == 1 else 'them'} again from (gone, or failed its check): "
                    f"{'it' if n == 1 else 'they'} cannot be restored.",
                    hint="Your other copies and backups are not affected; a damaged copy is removed when the "
                    "location's retention lets it go. A drive that damages files may be failing: check it, and read "
                    f"every copy there back with `jobmatcher location sync --verify {shlex.quote(s.name)}`.",
                    page_hint="Your other copies and backups are not affected; a damaged copy is removed when the "
                    "location's retention lets it go. A drive that damages files may be failing: check it.",
                )
            )
        last = s.last_success_at
        # a last copy dated in the future was recorded by a clock that was wrong (ahead then, or behind now): its
        # age is unknown, so it never holds back the warning for as long as the clock was off (V10)
        future = last_copy_in_future(now, last)
        if s.pending and (last is None or future or now - last > stale_after):
            if last is None:
                since = "never"
            elif future:
                since = f"dated {last:%Y-%m-%d %H:%M} UTC, in the future (a wrong clock), so its age is unknown"
            else:
                since = f"not for {ago(now - last)}"
            lapsed = s.last_success_at is not None or bool(s.problem_code)
            out.append(
                HealthWarning(
                    code="location-stale",
                    level="error" if lapsed else "warn",
                    message=f"{s.name}: {s.pending} backup{'s' if s.pending != 1 else ''} waiting "
                    f"to be copied; the last successful copy: {since}.",
                    hint="Check the location (`jobmatcher location list`), then copy now: `jobmatcher location sync`.",
                    page_hint="Check the location, then press Sync now.",
                )
            )
    return out


def last_copy_in_future(now: datetime, when: datetime | None) -> bool:
    """Whether a location's last successful copy `when` is dated after `now` (beyond 5 minutes of clocks
    drifting): written while the clock was ahead, or the clock is behind now. Never raises."""
    return when is not None and when > now + timedelta(minutes=5)


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
    folder_writable: bool = True,
    data_folder: str = "",
    data_writable: bool = True,
    previous: list[BackupRecord] | None = None,
    previous_folders: list[str] | None = None,
    database_problem: tuple[str, str] | None = None,
    live_links: list[dict] | None = None,
) -> Health:
    """The health of the backups at `now` (time-zone aware). `schedule`: ScheduleState.to_dict() or None.

    `backups`: this data folder's own backups in the backup folder; `previous`: its own backups still in
    the previous backup folders (`previous_folders`), which protect the data too until they are moved.
    Sizes in bytes. "Newest" goes by the order of making (retention.newest_order), never by a clock.
    `database_problem`: (what is wrong, what to do) when the live database cannot be backed up as it is
    (lost, empty, damaged, or data of a newer JobMatcher). `live_links`: backups that are the live database
    itself under a second name (Engine.live_links; a hard link made by hand, X1): amber, as they were never
    counted (the rules above judge the real backups), but the user believes them backups.
    """
    warnings: list[HealthWarning] = []
    previous = previous or []
    every = backups + previous
    dated = [b for b in every if b.created_at <= now]
    future = [b for b in every if b.created_at > now]
    newest = max(dated, key=newest_order) if dated else None
    # the backup made last is dated in the future too: this clock is more likely behind now than every backup
    # made while it was ahead (X15): the words say so with both times, not "the clock was wrong when made"
    last_made = max(every, key=newest_order) if future else None
    clock_behind_now = last_made is not None and last_made.created_at > now
    good = [b for b in dated if b.verified is True]
    # How long ago the newest sound backup was made: at most as long ago as the latest date among the sound
    # ones (one made later by the sequence but dated earlier had the clock behind; its real time is later).
    latest_good_at = max((b.created_at for b in good), default=None)
    latest_at = max((b.created_at for b in dated), default=None)
    used = sum(b.size_bytes for b in backups)

    if not folder_available:
        from .backups import unavailable_error

        e = unavailable_error(Path(folder))  # the same words as every refusal of it (K7)
        warnings.append(
            HealthWarning(
                code="folder-unavailable", level="error", message=e.message, hint=e.hint, page_hint=e.page_hint
            )
        )
    elif not folder_writable:
        warnings.append(
            HealthWarning(
                code="folder-read-only",
                level="error",
                message=f"Your backup folder {folder} is read-only, so no backup can be made there.",
                hint="If it is on a disk mounted read-only (or a write-protected drive), make it writable; "
                "or choose another backup folder: `jobmatcher settings --backup-dir FOLDER`.",
                page_hint="If it is on a disk mounted read-only (or a write-protected drive), make it writable; "
                "or choose another backup folder (Backup settings → Backup folder).",
            )
        )
    if database_problem is not None:
        warnings.append(
            HealthWarning(code="database", level="error", message=database_problem[0], hint=database_problem[1])
        )
    for link in live_links or []:
        from .listing import live_link_warning

        message, hint, page = live_link_warning(link)
        warnings.append(HealthWarning(code="live-is-backup", level="warn", message=message, hint=hint, page_hint=page))
    if not data_writable:
        warnings.append(
            HealthWarning(
                code="data-read-only",
                level="error",
                message=f"Your data folder {data_folder} is read-only, so no backup can be made: "
                "a backup needs to take the database's write lock there.",
                hint="If it is on a disk mounted read-only, mount it read-write; or copy the data folder "
                "somewhere writable and use that copy.",
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
                    page_hint=err.get("page_hint") or None,
                )
            )
    if folder_available and not backups and previous:
        n = len(previous)
        where = ", ".join(previous_folders or []) or "your previous backup folder"
        warnings.append(
            HealthWarning(
                code="previous-folder",
                level="warn",
                message=f"Your {n} backup{'s are' if n != 1 else ' is'} still in the previous backup folder "
                f"{where}; the current backup folder has none yet.",
                hint="Move them into the current folder (they were left there when they could not be moved): "
                "`jobmatcher settings --move-backups`; or make a new backup now: `jobmatcher backup create`.",
                page_hint="Move them into the current folder with “Move them here” (they were left there when they "
                "could not be moved), or make a new backup now with “Back up now”.",
            )
        )
    elif folder_available and not every:
        warnings.append(
            HealthWarning(
                code="no-backups",
                level="error",
                message="You have no backups yet.",
                # FINDINGS19 7: beside a database no backup can be made of, "make one now" would only be refused
                hint="Make one once that is fixed: `jobmatcher backup create`."
                if database_problem is not None
                else "Make one now: `jobmatcher backup create`.",
                page_hint="Make one with “Back up now” once that is fixed."
                if database_problem is not None
                else "Make one now with “Back up now”.",
            )
        )
    elif newest is not None and newest.verified is False:
        warnings.append(
            HealthWarning(
                code="last-failed-check",
                # Amber while an older backup still passed its check (issue 12: the data is protected, by
                # an older state); red when none did (covered by the "none passed" rule below as well).
                level="warn" if latest_good_at is not None else "error",
                message="Your newest backup failed its check.",
                hint="Make a new backup now (`jobmatcher backup create`); if that fails too, check your data "
                "(`jobmatcher db check`).",
                page_hint="Make a new backup now with “Back up now”.",
            )
        )
    if every:
        stale_after = timedelta(days=STALE_DAYS)
        if app_running and interval_minutes and failures >= 2:
            stale_after = min(stale_after, timedelta(minutes=2 * interval_minutes))
        since = now - latest_good_at if latest_good_at is not None else None
        if since is None or since > stale_after:
            what = f"in {ago(since)}" if since is not None else "at all"
            message = f"No backup passed its check {what}."
            sound_future = sorted(b.created_at for b in future if b.verified is True)
            if since is None and sound_future:
                # W3: they passed; it is their date that is wrong (a clock set right since), not their check
                n = len(sound_future)
                message = (
                    (
                        "Your only backup that passed its check is"
                        if n == 1
                        else f"The {n} backups that passed their check are"
                    )
                    + f" dated in the future ({sound_future[0]:%Y-%m-%d}: "
                    + (
                        "this computer's clock may be behind now"
                        if clock_behind_now
                        else "the clock was wrong when " + ("it was made" if n == 1 else "they were made")
                    )
                    + ("), so its age is unknown." if n == 1 else "), so their age is unknown.")
                )
            warnings.append(
                HealthWarning(
                    code="stale",
                    level="error",
                    message=message,
                    # errors are listed first: the other warnings, if any, come after this one (W3)
                    hint="Make a backup now (`jobmatcher backup create`), and check the other warnings.",
                    page_hint="Make a backup now with “Back up now”, and check the other warnings.",
                )
            )
    if future:
        why = (
            f"this computer's clock says {now:%Y-%m-%d %H:%M} UTC, but the last backup made is dated "
            f"{last_made.created_at:%Y-%m-%d %H:%M} UTC: the clock may be behind now, or was ahead then"
            if last_made is not None and clock_behind_now
            else f"the clock was wrong when {'they were' if len(future) != 1 else 'it was'} made"
        )
        warnings.append(
            HealthWarning(
                code="future-dated",
                level="warn",
                message=f"{len(future)} backup{'s are' if len(future) != 1 else ' is'} dated in the future ({why}).",
                hint="They are kept and never count as the newest; delete them when you no longer need them "
                "(backups made after them and dated before them are kept too, as their age is unknown).",
            )
        )
    # One wrong clock, one warning (K6): a backup dated before a future-dated one (made after it) is not
    # flagged again here; the "dated in the future" warning names that cause, and retention keeps both anyway.
    behind = sorted(clock_behind(now, [b for b in every if b not in future]))
    if behind:
        n = len(behind)
        which = ", ".join(behind[:3]) + (f" and {n - 3} more" if n > 3 else "")
        warnings.append(
            HealthWarning(
                code="clock-behind",
                level="warn",
                message=f"{n} backup{'s are' if n != 1 else ' is'} dated before a backup made earlier (the clock "
                f"was behind when {'they were' if n != 1 else 'it was'} made, or ahead when the earlier one was): "
                f"{which}.",
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
                "and the ones left must be kept (pinned, before an update, the newest good one, the safety "
                "backups of the last days' restores).",
                hint="Unpin or delete old backups (`jobmatcher backup delete ID`), or allow more space for backups: "
                "`jobmatcher settings --budget-mb N`.",
                page_hint="Unpin or delete old backups, or allow more space for backups (Backup settings → Space "
                "for backups).",
            )
        )
    if folder_available and free_bytes is not None and free_bytes < 2 * db_bytes:
        warnings.append(
            HealthWarning(
                code="low-space",
                level="error",
                message=f"The backup folder's disk has {human_size(free_bytes)} free; the next backup needs "
                f"{human_size(2 * db_bytes)}.",
                hint="Free up space on that disk, or choose a backup folder on another disk: "
                "`jobmatcher settings --backup-dir FOLDER`.",
                page_hint="Free up space on that disk, or choose a backup folder on another disk (Backup settings → "
                "Backup folder).",
            )
        )

    next_at = None
    if app_running and interval_minutes and schedule and schedule.get("next_at"):
        next_at = datetime.fromisoformat(schedule["next_at"])
    if not folder_available:
        parts = ["Backup folder not available"]
    elif latest_at is not None:
        parts = [f"Last backup {ago(now - latest_at)} ago"]
    elif future:  # W3: there are backups, dated in the future by a wrong clock
        parts = [
            f"Only backups dated in the future (from {min(b.created_at for b in future):%Y-%m-%d}: "
            + ("this computer's clock may be behind)" if clock_behind_now else "a wrong clock)")
        ]
    else:
        parts = ["No backups yet"]
    if not folder_available:  # no countdown to a backup that cannot be made
        parts.append("backups resume when it is back")
    elif not interval_minutes:
        parts.append("automatic backups off")
    elif next_at is not None:
        parts.append(f"next in {ago(max(timedelta(0), next_at - now))}" if next_at > now else "next now")
    elif not app_running:
        parts.append("next while JobMatcher is open")
    if folder_available:
        parts.append(f"{len(backups)} backup{'s' if len(backups) != 1 else ''}, {human_size(used)}")
        if previous:
            parts.append(f"{len(previous)} in the previous folder")
    level: Level = "ok"
    if warnings:
        level = "error" if any(w.level == "error" for w in warnings) else "warn"
    warnings.sort(key=lambda w: w.level != "error")  # the worst first
    last = (
        LastBackup(
            id=newest.id,
            created_at=newest.created_at,
            type=newest.type.value,
            verified=newest.verified,
            verify_message=newest.verify_message
            if newest.verify_message in (NEWER_VERSION, CHECKING, CHANGED_AFTER_RESTORE)
            else "",
        )
        if newest
        else None
    )
    return Health(
        level=level,
        last=last,
        last_at=latest_at,
        next_at=next_at,
        interval_minutes=interval_minutes,
        app_running=app_running,
        folder=FolderHealth(
            path=folder,
            available=folder_available,
            free_bytes=free_bytes,
            used_bytes=used,
            writable=folder_available and folder_writable,
        ),
        count=len(backups),
        warnings=warnings,
        summary=" · ".join(parts),
        data_writable=data_writable,
        previous_count=len(previous),
    )
