"""How backups are shown to people, once for the page and the command line.

The page gets `backup_row` / `backup_status` dicts; the command line prints the same
labels (`TYPE_LABELS`) and the same "your newest backup is old" warning
(`newest_backup_warning`), so the two never disagree about what a backup is called
or when to worry.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Sequence, TypeVar

from .fsutil import human_size
from .listing import CHANGED_AFTER_RESTORE, CHECKING, NEWER_VERSION, is_own_backup, newest_order

if TYPE_CHECKING:  # rows are BackupRecord models, or `backup list`'s listing.ListedBackup (no pydantic there)
    from .listing import ListedBackup
    from .manifest import BackupRecord

    Row = BackupRecord | ListedBackup

_R = TypeVar("_R", "BackupRecord", "ListedBackup")  # a list of either kind, kept as that kind

TYPE_LABELS = {"manual": "Manual", "pre-migration": "Before update", "safety": "Safety", "auto": "Automatic"}
OLD_BACKUP_DAYS = 7  # the status line warns when the newest backup is older than this


def type_label(kind: object) -> str:
    """A backup type (BackupType or its value) as people call it: "Manual", "Before update", "Safety",
    "Automatic"; the raw value for one we do not know."""
    value = str(getattr(kind, "value", kind))
    return TYPE_LABELS.get(value, value)


def row_type_label(r: Row) -> str:
    """A listed file's type as the list shows it: "Added by hand" for a file JobMatcher did not make (no
    manifest of its own: its type is not known), else type_label of its type."""
    return "Added by hand" if r.added_by_hand or r.manifest == "missing" else type_label(r.type)


def iso(dt: datetime | None) -> str | None:
    """A timestamp for the page: ISO 8601 in UTC, or None."""
    return dt.astimezone(timezone.utc).isoformat() if dt else None


def newest_backup_warning(
    rows: Sequence[_R],
    now: datetime | None = None,
    remedy: tuple[str, str] = ("Make one now.", "Make a new one now."),
) -> str | None:
    """The warning about the newest backup (`rows` newest first), or None when there is no reason to worry:
    none yet, its check failed, or it is older than OLD_BACKUP_DAYS days.

    `remedy`: what to do, as (when there is none, when a new one is needed) in the words of the
    edge that shows it (a button on the page, a command in the terminal).
    """
    rows = own_rows(rows)
    if not rows:
        return f"You have no backups yet. {remedy[0]}"
    newest = max(rows, key=newest_order)  # the one made last, as health.py and retention decide it
    # its age: no more than the latest date among them (made last but dated earlier: the clock was behind)
    age = (now or datetime.now(timezone.utc)) - max(r.created_at for r in rows)
    if newest.verified is False:
        return f"Your newest backup failed its check. {remedy[1]}"
    if age > timedelta(days=OLD_BACKUP_DAYS):
        return f"Your newest backup is {age.days} days old. {remedy[1]}"
    return None


def own_rows(rows: Sequence[_R]) -> list[_R]:
    """The rows that speak for this data folder: its own backups (backups.is_own_backup), none dated in the
    future. Files added by hand (age unknown) and other data folders' backups are listed, never counted."""
    return [r for r in rows if is_own_backup(r) and not r.future]


def backup_row(r: BackupRecord) -> dict:
    """One backup as the page shows it (no file path: the page names backups by id)."""
    return {
        "id": r.id,
        "type": r.type.value,
        "type_label": row_type_label(r),
        "file_name": f"{r.id}.db",  # how a file added by hand is known (its time is only the file's)
        "created_at": iso(r.created_at),
        "size_bytes": r.size_bytes,
        "size": human_size(r.size_bytes),
        "note": r.note,
        "verified": r.verified,
        "verified_at": iso(r.verified_at),
        "verify_message": r.verify_message
        if r.verified is False or r.verify_message in (CHECKING, NEWER_VERSION, CHANGED_AFTER_RESTORE)
        else "",
        "pinned": r.pinned,
        "schema_revision": r.schema_revision,
        # owned False: another data folder's backup; added_by_hand / manifest_unreadable: age unknown;
        # future: dated ahead of the clock. None of these is ever deleted automatically.
        "owned": r.owned,
        "added_by_hand": r.added_by_hand or r.manifest == "missing",
        "manifest_unreadable": r.manifest == "unreadable",
        "future": r.future,
    }


def backup_status(rows: list[BackupRecord], now: datetime | None = None) -> dict:
    """The page's status line: {"last": the newest backup's row or None, "count", "warning": text or None}."""
    own = own_rows(rows)
    return {"last": backup_row(own[0]) if own else None, "count": len(own), "warning": newest_backup_warning(own, now)}
