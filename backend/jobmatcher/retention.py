"""Which backups to clean up: a pure function of (now, policy, backups), no file system.

Two policies:
- **tiered** (the default in Settings), after Anki and the grandfather-father-son
  scheme, for `auto` and `safety` backups: every backup from the last
  `keep_all_hours`; then the newest of each day for `keep_daily_days` days, of
  each ISO week for `keep_weekly_weeks` weeks, of each month for
  `keep_monthly_months` months. `manual` backups are kept for `keep_days` days.
- **simple**: every backup is kept for `keep_days` days.
Under both: pinned and pre-migration backups, the newest backup, the newest one
that passed its check, every restore's safety backup for `keep_days` days
(each is the only copy of the data its restore replaced: later backups hold the
restored data, and after two restores the first one's safety backup is the only
copy of the work from before them, so neither a tier nor the budget may take
any of them; when they exceed the budget, `over_budget` warns), files added by
hand (no manifest: JobMatcher did not make them), backups dated in the future (their age is unknown) and backups
dated before a backup made earlier than them (`clock_behind`: the clock was
wrong then, or when that one was made; their age is unknown too) are always
kept. The backup made last (the highest sequence) is never deleted, whatever
its date. Days, weeks and months are calendar ones in
`now`'s time zone.

A clock that jumps ahead (a year here: a dead clock battery, a VM restored with a wrong clock, a mistyped
year) must not age every backup at once (FINDINGS10 W2): nothing in the data tells such a jump from a real
pause (JobMatcher not used for a year), and after either every backup looks old. So every age rule is also
counted in periods that hold backups, as restic's `forget --keep-daily n` keeps "the last n days which have
one or more snapshots" (restic docs, "Removing snapshots according to a policy"), and a backup stays when
either count keeps it: the newest automatic backup of each of the last `keep_daily_days` days on which
JobMatcher made a backup (of any kind), of the last `keep_weekly_weeks` such weeks and `keep_monthly_months`
such months, every backup from the last `keep_all_hours` such hours, and manual backups (all under
`simple`) and restores' safety backups from the last `keep_days` such days (the windows, hours and days to
keep, one period more: a window from now reaches into it). A gap in the dates longer than a rule counts as
no time under it (the period after it counts as one with the period before: in truth it may be the same),
so a jump ahead, or a pause, longer than the rule ages nothing, and backups age again only as backups are
made on later periods, never faster than on a right clock. A shorter jump is taken as time that passed: it
can age backups by one period of the rule at most. On a right clock with a backup in every period nothing
changes; with periods without backups (weekends, holidays) more is kept (rule `BY_USE`: at most the same
numbers of periods), and the disk budget still bounds it. (restic measures `--keep-within` from the latest
snapshot instead, which one snapshot dated a year ahead defeats; hence periods for the windows as well.)

Clocks lie, so "newest" goes by the order of making, not by the date: each
manifest records a `sequence` (1 + the highest among the data folder's backups
when it was published); manifests of older versions have none and rank below
every sequenced backup, among themselves by date (`newest_order`).

Then the disk budget: while the kept backups take more than `budget_bytes`, the
oldest automatic (`auto`, `safety`) backups go first, then the oldest manual
ones, never one of the always-kept; `Plan.over_budget` says when that was not
enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Protocol

from .manifest import BackupType, newest_order

AUTOMATIC = (BackupType.auto, BackupType.safety)

# Why a backup is kept or deleted (the values `backup prune --dry-run --json` shows).
PINNED = "pinned"
PRE_MIGRATION = "pre-migration"
NEWEST = "newest"
NEWEST_GOOD = "newest that passed its check"
RESTORE_SAFETY = "a restore's safety backup (the data it replaced), within the days to keep"
BY_HAND = "added by hand (never deleted automatically)"
FUTURE = "dated in the future (age unknown)"
CLOCK_BEHIND = "dated before an older backup: the clock was behind (age unknown)"
RECENT = "recent"  # tiered: within keep_all_hours
DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
WITHIN_DAYS = "within the days to keep"
EXPIRED = "older than the policy keeps"
OVER_BUDGET = "over the disk budget"
NEEDED_FOR_RECOVERY = "needed to finish an interrupted restore"
# kept only when the hours, days, weeks and months count those with backups (W2: a clock set ahead, or a pause)
BY_USE = (
    "young enough when only the hours, days, weeks and months with backups count "
    "(the dates jump: the clock may have been set ahead, or JobMatcher was not used)"
)


class RetainedBackup(Protocol):
    id: str
    type: BackupType
    created_at: datetime
    pinned: bool


@dataclass(frozen=True)
class RetentionPolicy:
    """The numbers of a retention policy. `RetentionPolicy(30)` is the simple 30-day policy."""

    keep_days: int = 30
    tiered: bool = False
    keep_all_hours: int = 24
    keep_daily_days: int = 14
    keep_weekly_weeks: int = 8
    keep_monthly_months: int = 12
    budget_bytes: int | None = None  # None: no budget

    @classmethod
    def from_settings(cls, s, budget_bytes: int | None = None) -> "RetentionPolicy":
        """From a Settings object (`budget_bytes`: the budget the caller worked out, in bytes; None: none).

        Raises AttributeError only for an object that lacks a Settings field (a programming error)."""
        return cls(
            keep_days=s.retention_days,
            tiered=s.retention_policy == "tiered",
            keep_all_hours=s.keep_all_hours,
            keep_daily_days=s.keep_daily_days,
            keep_weekly_weeks=s.keep_weekly_weeks,
            keep_monthly_months=s.keep_monthly_months,
            budget_bytes=budget_bytes,
        )


@dataclass(frozen=True)
class Decision:
    id: str
    keep: bool
    rule: str  # one of the rule names above: the first reason that applies
    size_bytes: int = 0


@dataclass(frozen=True)
class Plan:
    decisions: list[Decision]  # one per backup, oldest first
    kept_bytes: int  # what the kept backups take
    budget_bytes: int | None
    over_budget: bool  # the budget could not be met without an always-kept backup

    @property
    def doomed(self) -> list[str]:
        """Ids of the backups the plan deletes, oldest first. Never raises."""
        return [d.id for d in self.decisions if not d.keep]


def _size(b) -> int:
    return int(getattr(b, "size_bytes", 0) or 0)


def _seq(b) -> int | None:
    return getattr(b, "sequence", None)


def clock_behind(now: datetime, backups: Iterable[RetainedBackup]) -> set[str]:
    """Ids of the backups whose date the order of making contradicts (made while the clock was wrong).

    A backup is dated wrong when its `sequence` is higher than another backup's that is dated later: either
    the latest date among all lower sequences that is not after `now`, or the date of the backup made just
    before it (the next lower sequence), whatever that date, also one in the future. The second comparison
    is what keeps a backup made right after a future-dated one and dated before it (F1: its age cannot be
    known, as nothing tells whether its clock or the earlier one's was wrong), without letting one backup
    dated in 2099 make every later backup "behind" for ever (only the first one after it is compared with
    it). Backups without a sequence are never compared; equal sequences are not compared with each other.
    `now` must be time-zone aware.

    Raises TypeError when `now` or a backup's `created_at` is naive (Python refuses to compare them)."""
    seqd: list[tuple[int, RetainedBackup]] = sorted(
        ((n, b) for b in backups if (n := _seq(b)) is not None), key=lambda x: x[0]
    )
    behind: set[str] = set()
    latest: datetime | None = None  # the latest trustworthy date among the backups with a lower sequence
    before: datetime | None = None  # the latest date, trustworthy or not, of those made just before
    i = 0
    while i < len(seqd):
        j = i
        while j < len(seqd) and seqd[j][0] == seqd[i][0]:
            j += 1
        group = [b for _, b in seqd[i:j]]
        known = [d for d in (latest, before) if d is not None]
        if known:
            bound = max(known)
            behind.update(b.id for b in group if b.created_at < bound)
        dates = [b.created_at for b in group if b.created_at <= now]
        if dates:
            latest = max([latest, *dates]) if latest is not None else max(dates)
        before = max(b.created_at for b in group)
        i = j
    return behind


def plan(now: datetime, policy: RetentionPolicy, backups: Iterable[RetainedBackup]) -> Plan:
    """Decide for every backup whether it stays, and by which rule. `now` must be time-zone aware.

    Backups may carry `sequence` (int or None), `verified` (bool or None), `has_manifest` and `size_bytes`
    (bytes, for the policy's `budget_bytes`). Returns one Decision per backup, oldest first.

    Raises TypeError when `now` or a backup's `created_at` is naive (Python refuses to compare them).
    """
    items = sorted(backups, key=lambda b: b.created_at)  # stable: equal times keep their order
    dated = sorted((b for b in items if b.created_at <= now), key=newest_order)  # stable too
    newest = dated[-1] if dated else None
    good = [b for b in dated if getattr(b, "verified", None) is True]
    newest_good = good[-1] if good else None
    behind = clock_behind(now, items)
    # the periods that hold backups: only dates the order of making does not contradict, of JobMatcher's own
    used = _Use(now, policy, [b for b in dated if b.id not in behind and getattr(b, "has_manifest", True)])

    protected: dict[str, str] = {}
    for b in items:
        if b.pinned:
            protected[b.id] = PINNED
        elif b.type == BackupType.pre_migration:
            protected[b.id] = PRE_MIGRATION
        elif not getattr(b, "has_manifest", True):
            protected[b.id] = BY_HAND
        elif b.created_at > now:
            protected[b.id] = FUTURE
        elif b is newest_good:
            protected[b.id] = NEWEST_GOOD
        elif b is newest:
            protected[b.id] = NEWEST
        elif b.type == BackupType.safety and (
            now - b.created_at <= timedelta(days=policy.keep_days) or (b.id not in behind and used.within_days(b))
        ):
            # Every restore's, not only the latest's (U5): after restoring twice, the first restore's safety
            # backup is the only copy of the work from before both, the second's holds restored data. Whatever
            # its check said (a raw copy of unreadable data is marked failed and is still the only copy of it).
            # Only restores make them, so they bound themselves; past the budget, over_budget warns.
            protected[b.id] = RESTORE_SAFETY
        elif b.id in behind:
            protected[b.id] = CLOCK_BEHIND

    # A date the clock got wrong must not take the place of a real backup in a day, week or month.
    autos = [b for b in items if b.created_at <= now and b.type in AUTOMATIC and b.id not in behind]
    tiers = _tiers(now, policy, autos, used) if policy.tiered else {}
    rule: dict[str, tuple[bool, str]] = {}
    for b in items:
        if b.id in protected:
            rule[b.id] = (True, protected[b.id])
        elif policy.tiered and b.type in AUTOMATIC:
            rule[b.id] = (True, tiers[b.id]) if b.id in tiers else (False, EXPIRED)
        else:
            if now - b.created_at <= timedelta(days=policy.keep_days):
                rule[b.id] = (True, WITHIN_DAYS)
            else:
                rule[b.id] = (True, BY_USE) if used.within_days(b) else (False, EXPIRED)

    kept = sum(_size(b) for b in items if rule[b.id][0])
    over = False
    if policy.budget_bytes is not None and kept > policy.budget_bytes:
        # Thin: the oldest automatic backups first, then the oldest manual ones; never an always-kept one.
        order = [b for b in items if b.type in AUTOMATIC] + [b for b in items if b.type not in AUTOMATIC]
        for b in order:
            if kept <= policy.budget_bytes:
                break
            if rule[b.id][0] and b.id not in protected:
                rule[b.id] = (False, OVER_BUDGET)
                kept -= _size(b)
        over = kept > policy.budget_bytes
    return Plan([Decision(b.id, *rule[b.id], size_bytes=_size(b)) for b in items], kept, policy.budget_bytes, over)


class _Use:
    """For each age rule, the oldest period (hour, day, ISO week, month in `now`'s time zone) it keeps when only
    the periods that hold backups count (None: it keeps every one there is; _NEVER: a rule set to 0 keeps none).

    Two details keep this from keeping less than the calendar on a right clock, and from thinning more after
    a long jump than a right clock would: `now`'s period counts when it follows the newest period with backups
    directly (as on the calendar, which counts today also before today's first backup), and a period after a
    gap longer than the rule (a pause, or the clock jumped ahead and then it is in truth the period before)
    does not take a place of its own in the count. `counted`: the backups whose dates count (dated, not
    behind, JobMatcher's own). Never raises for aware dates."""

    def __init__(self, now: datetime, policy: RetentionPolicy, counted: list) -> None:
        self.tz = now.tzinfo
        local_now = now.astimezone(self.tz)
        locals_ = [b.created_at.astimezone(self.tz) for b in counted]

        def cut(periods: set, current, n: int, dist: Callable[[Any, Any], int]):
            if n <= 0:
                return _NEVER
            if periods and current > max(periods) and dist(max(periods), current) == 1:
                periods = periods | {current}
            newest_first = sorted(periods, reverse=True)
            count = 0
            for i, p in enumerate(newest_first):
                older = newest_first[i + 1] if i + 1 < len(newest_first) else None
                # A period after a gap longer than the rule itself (a gap that alone would age everything past
                # it) may in truth be the period before it (the clock jumped ahead): it counts as one with that
                # one. Shorter gaps are taken as real (a weekend, a holiday).
                if older is None or dist(older, p) <= n:
                    count += 1
                if count >= n:
                    return p
            return None

        def hour(t: datetime) -> datetime:
            return t.replace(minute=0, second=0, microsecond=0)

        def hours_apart(a: datetime, b: datetime) -> int:
            return int((b - a) // _HOUR)

        def days_apart(a, b) -> int:
            return (b - a).days

        def month(d) -> tuple[int, int]:
            return (d.year, d.month)

        days = {t.date() for t in locals_}
        today = local_now.date()
        # "the last 24 hours" and "30 days" are windows from now, which reach into one period more
        hours_n = policy.keep_all_hours and policy.keep_all_hours + 1
        days_n = policy.keep_days and policy.keep_days + 1
        self.hour_cut = cut({hour(t) for t in locals_}, hour(local_now), hours_n, hours_apart)
        self.day_cut = cut(days, today, days_n, days_apart)
        self.daily_cut = cut(days, today, policy.keep_daily_days, days_apart)
        weeks = {_week(d) for d in days}
        self.weekly_cut = cut(weeks, _week(today), policy.keep_weekly_weeks, lambda a, b: (b - a).days // 7)
        months = {month(d) for d in days}
        self.monthly_cut = cut(
            months, month(today), policy.keep_monthly_months, lambda a, b: b[0] * 12 + b[1] - a[0] * 12 - a[1]
        )

    def _local(self, b) -> datetime:
        return b.created_at.astimezone(self.tz)

    @staticmethod
    def _keeps(cut, period) -> bool:
        return cut is not _NEVER and (cut is None or period >= cut)

    def within_hours(self, b) -> bool:
        return self._keeps(self.hour_cut, self._local(b).replace(minute=0, second=0, microsecond=0))

    def within_days(self, b) -> bool:
        return self._keeps(self.day_cut, self._local(b).date())

    def daily(self, day) -> bool:
        return self._keeps(self.daily_cut, day)

    def weekly(self, week) -> bool:
        return self._keeps(self.weekly_cut, week)

    def monthly(self, month) -> bool:
        return self._keeps(self.monthly_cut, month)


_HOUR = timedelta(hours=1)
_NEVER = object()  # a rule set to 0 periods keeps nothing by them


def _week(day):
    return day - timedelta(days=day.weekday())


def _tiers(now: datetime, policy: RetentionPolicy, autos: list, used: _Use) -> dict[str, str]:
    """id -> tier for the automatic backups a tier keeps (`autos` oldest first, none in the future): the
    calendar's tier first, else BY_USE when a tier keeps it counting only the periods that hold backups."""
    tz = now.tzinfo
    today = now.astimezone(tz).date()
    this_week = today - timedelta(days=today.weekday())
    keep: dict[str, str] = {}
    seen_day: set = set()
    seen_week: set = set()
    seen_month: set = set()
    for b in reversed(autos):  # newest first: the first of each bucket is its newest
        day = b.created_at.astimezone(tz).date()
        week = day - timedelta(days=day.weekday())
        month = (day.year, day.month)
        tier = None
        newest_of_day = newest_of_week = newest_of_month = False
        if now - b.created_at <= timedelta(hours=policy.keep_all_hours):
            tier = RECENT
        if day not in seen_day:
            seen_day.add(day)
            newest_of_day = True
            if tier is None and (today - day).days < policy.keep_daily_days:
                tier = DAILY
        if week not in seen_week:
            seen_week.add(week)
            newest_of_week = True
            if tier is None and (this_week - week).days // 7 < policy.keep_weekly_weeks:
                tier = WEEKLY
        if month not in seen_month:
            seen_month.add(month)
            newest_of_month = True
            if tier is None and (today.year - month[0]) * 12 + today.month - month[1] < policy.keep_monthly_months:
                tier = MONTHLY
        if tier is None and (
            used.within_hours(b)
            or (newest_of_day and used.daily(day))
            or (newest_of_week and used.weekly(week))
            or (newest_of_month and used.monthly(month))
        ):
            tier = BY_USE
        if tier is not None:
            keep[b.id] = tier
    return keep


def obsolete(now: datetime, policy: RetentionPolicy, backups: Iterable[RetainedBackup]) -> list[str]:
    """Ids of the backups the policy deletes, oldest first (see `plan` for the rules; raises as it does)."""
    return plan(now, policy, backups).doomed


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit}{'' if n == 1 else 's'}"


def describe(policy: RetentionPolicy, noun: str = "backup") -> str:
    """What the policy keeps, in words, to follow "keeps" or "keeping": e.g. "every backup for 30 days"
    (simple) or "every backup from the last 24 hours, the newest of each day for 14 days, of each week for
    8 weeks and of each month for 12 months, manual backups for 30 days" (tiered). `noun`: what is kept
    ("backup", "copy"). The always-kept backups (pinned, the newest…) are not repeated. Never raises."""
    nouns = "copies" if noun == "copy" else f"{noun}s"
    if not policy.tiered:
        return f"every {noun} for {_count(policy.keep_days, 'day')}"
    return (
        f"every {noun} from the last {_count(policy.keep_all_hours, 'hour')}, the newest of each day for "
        f"{_count(policy.keep_daily_days, 'day')}, of each week for {_count(policy.keep_weekly_weeks, 'week')} "
        f"and of each month for {_count(policy.keep_monthly_months, 'month')}, manual {nouns} for "
        f"{_count(policy.keep_days, 'day')}"
    )
