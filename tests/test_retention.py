"""Retention is a pure function: fixed dates, no file system."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from jobmatcher.manifest import BackupType
from jobmatcher.retention import RetentionPolicy, obsolete

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


@dataclass
class B:
    id: str
    created_at: datetime
    type: BackupType = BackupType.manual
    pinned: bool = False


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def test_keeps_everything_younger_than_the_policy():
    backups = [B("a", days_ago(1)), B("b", days_ago(29.9))]
    assert obsolete(NOW, RetentionPolicy(30), backups) == []


def test_deletes_older_than_30_days_oldest_first():
    backups = [B("new", days_ago(1)), B("old2", days_ago(31)), B("old1", days_ago(90))]
    assert obsolete(NOW, RetentionPolicy(30), backups) == ["old1", "old2"]


def test_exactly_at_the_limit_is_kept():
    assert obsolete(NOW, RetentionPolicy(30), [B("n", days_ago(0)), B("edge", days_ago(30))]) == []


def test_never_pre_migration_never_pinned():
    backups = [
        B("new", days_ago(0)),
        B("premig", days_ago(400), BackupType.pre_migration),
        B("pinned", days_ago(400), pinned=True),
        B("safety", days_ago(400), BackupType.safety),
        B("auto", days_ago(400), BackupType.auto),
    ]
    assert obsolete(NOW, RetentionPolicy(30), backups) == ["safety", "auto"]


def test_never_the_newest_even_when_all_are_old():
    backups = [B("a", days_ago(100)), B("b", days_ago(60)), B("c", days_ago(45))]
    assert obsolete(NOW, RetentionPolicy(30), backups) == ["a", "b"]


def test_single_old_backup_is_kept():
    assert obsolete(NOW, RetentionPolicy(30), [B("only", days_ago(1000))]) == []


def test_days_is_a_setting():
    backups = [B("a", days_ago(0)), B("b", days_ago(8)), B("c", days_ago(6))]
    assert obsolete(NOW, RetentionPolicy(7), backups) == ["b"]
    assert obsolete(NOW, RetentionPolicy(5), backups) == ["b", "c"]


def test_empty_list():
    assert obsolete(NOW, RetentionPolicy(30), []) == []
