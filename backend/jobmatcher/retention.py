"""Which backups to clean up: a pure function of (now, policy, backups), no file system."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Protocol

from .manifest import BackupType


class RetainedBackup(Protocol):
    id: str
    type: BackupType
    created_at: datetime
    pinned: bool


@dataclass(frozen=True)
class RetentionPolicy:
    keep_days: int = 30


def obsolete(now: datetime, policy: RetentionPolicy, backups: Iterable[RetainedBackup]) -> list[str]:
    """Ids of the backups older than the policy allows, sparing pre-migration, pinned and the newest one."""
    items = list(backups)
    if not items:
        return []
    newest = max(items, key=lambda b: b.created_at)
    cutoff = now - timedelta(days=policy.keep_days)
    return [
        b.id
        for b in sorted(items, key=lambda b: b.created_at)
        if b.created_at < cutoff
        and b is not newest
        and not b.pinned
        and b.type != BackupType.pre_migration
    ]
