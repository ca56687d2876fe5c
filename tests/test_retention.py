"""Retention is a pure function: fixed dates, no file system."""

import os
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
    verified: bool | None = True


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def in_use(days: int = 1000, hours: int = 48, first_day: int = 1) -> list:
    """Pinned manual backups (never doomed, never in a tier) in each of the `hours` hours before the last one
    (at :30, from 1.5 hours ago) and on each of the `days` days from `first_day` days ago (at 00:30), without a
    `sequence` (so below every backup with one in the order of making, never the newest): a right clock and a
    JobMatcher in use all the time, so counting only the periods with backups counts the calendar's (W2's
    rule then changes nothing). The tables below add them to test the calendar's rules as they were."""
    hourly = [NOW - timedelta(hours=h + 0.5) for h in range(1, hours + 1)]
    daily = [NOW.replace(hour=0, minute=30) - timedelta(days=d) for d in range(first_day, first_day + days)]
    return [B(f"in-use-{i}", t, pinned=True) for i, t in enumerate(hourly + daily)]


def test_keeps_everything_younger_than_the_policy():
    backups = [B("a", days_ago(1)), B("b", days_ago(29.9))]
    assert obsolete(NOW, RetentionPolicy(30), backups) == []


def test_deletes_older_than_30_days_oldest_first():
    backups = [B("new", days_ago(1)), B("old2", days_ago(31)), B("old1", days_ago(90))]
    assert obsolete(NOW, RetentionPolicy(30), backups + in_use()) == ["old1", "old2"]
    # W2: without the backups in between (a pause, or a clock set ahead) only the days with backups count
    assert obsolete(NOW, RetentionPolicy(30), backups) == []


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
    assert obsolete(NOW, RetentionPolicy(30), backups + in_use()) == ["safety", "auto"]


def test_never_the_newest_even_when_all_are_old():
    backups = [B("a", days_ago(100)), B("b", days_ago(60)), B("c", days_ago(45))]
    # W2: 45 days without a backup is a pause (or a clock set ahead): the three days with backups are young
    assert obsolete(NOW, RetentionPolicy(30), backups) == []
    # used every day up to 45 days ago: what 30 days of use before the pause keep, and the newest
    assert obsolete(NOW, RetentionPolicy(30), backups + in_use(hours=0, first_day=46)) == ["a"]
    assert obsolete(NOW, RetentionPolicy(10), backups + in_use(hours=0, first_day=46)) == ["a", "b"]


def test_single_old_backup_is_kept():
    assert obsolete(NOW, RetentionPolicy(30), [B("only", days_ago(1000))]) == []


def test_days_is_a_setting():
    backups = [B("a", days_ago(0)), B("b", days_ago(8)), B("c", days_ago(6))] + in_use()
    assert obsolete(NOW, RetentionPolicy(7), backups) == ["b"]
    assert obsolete(NOW, RetentionPolicy(5), backups) == ["b", "c"]


def test_empty_list():
    assert obsolete(NOW, RetentionPolicy(30), []) == []


# -- tiered (GFS) policy and the disk budget --------------------------------------------------------------

from jobmatcher import retention as R  # noqa: E402
from jobmatcher.retention import plan  # noqa: E402

TIERED = RetentionPolicy(keep_days=30, tiered=True)  # 24 h, 14 days, 8 weeks, 12 months


@dataclass
class G:
    id: str
    created_at: datetime
    type: BackupType = BackupType.auto
    pinned: bool = False
    verified: bool | None = True
    size_bytes: int = 1 << 20
    has_manifest: bool = True


def rules(p) -> dict[str, tuple[bool, str]]:
    return {d.id: (d.keep, d.rule) for d in p.decisions}


def hours_ago(n: float) -> datetime:
    return NOW - timedelta(hours=n)


def test_table_of_tiered_cases():
    backups = [
        G("recent-1", hours_ago(1)),
        G("recent-23", hours_ago(23)),
        G("day2-late", days_ago(2) + timedelta(hours=6)),
        G("day2-early", days_ago(2) - timedelta(hours=6)),
        G("day20", days_ago(20)),  # beyond 14 days: the newest of its week
        G("day20-earlier", days_ago(20) - timedelta(hours=1)),
        G("day100", days_ago(100)),  # beyond 8 weeks: newest of its month
        G("day400", days_ago(400)),  # beyond 12 months
        G("safety-old", days_ago(400), BackupType.safety),
        G("manual-29", days_ago(29), BackupType.manual),
        G("manual-31", days_ago(31), BackupType.manual),
        G("premig", days_ago(900), BackupType.pre_migration),
        G("pinned", days_ago(900), pinned=True),
        G("by-hand", days_ago(900), BackupType.manual, has_manifest=False),
        G("future", NOW + timedelta(days=365)),
    ]
    got = rules(plan(NOW, TIERED, backups + in_use()))
    got = {k: v for k, v in got.items() if not k.startswith("in-use-")}
    assert got == {
        "recent-1": (True, R.NEWEST_GOOD),
        "recent-23": (True, R.RECENT),
        "day2-late": (True, R.DAILY),
        "day2-early": (False, R.EXPIRED),
        "day20": (True, R.WEEKLY),
        "day20-earlier": (False, R.EXPIRED),
        "day100": (True, R.MONTHLY),
        "day400": (False, R.EXPIRED),
        "safety-old": (False, R.EXPIRED),
        "manual-29": (True, R.WITHIN_DAYS),
        "manual-31": (False, R.EXPIRED),
        "premig": (True, R.PRE_MIGRATION),
        "pinned": (True, R.PINNED),
        "by-hand": (True, R.BY_HAND),
        "future": (True, R.FUTURE),
    }


def test_the_newest_good_backup_is_kept_when_newer_ones_failed_their_check():
    backups = [
        S("good-old", days_ago(500), 1, BackupType.auto),
        S("failed", days_ago(400), 2, BackupType.auto, verified=False),
        S("unchecked", days_ago(300), 3, BackupType.auto, verified=None),
    ]
    got = rules(plan(NOW, TIERED, backups + in_use()))
    assert got["good-old"] == (True, R.NEWEST_GOOD)
    assert got["unchecked"] == (True, R.NEWEST)  # the newest backup is kept too
    assert got["failed"] == (False, R.EXPIRED)
    # W2: under the default tiers each of the three is in one of the last 12 months with backups (a pause of
    # 300 days, or a clock set ahead, ages nothing)
    assert rules(plan(NOW, TIERED, backups))["failed"] == (True, R.BY_USE)


def test_a_future_dated_backup_is_never_the_newest():
    backups = [G("real", days_ago(40), verified=None), G("future", NOW + timedelta(days=300), verified=True)]
    got = rules(plan(NOW, RetentionPolicy(30), backups))
    assert got == {"real": (True, R.NEWEST), "future": (True, R.FUTURE)}


def test_the_simple_policy_is_still_there():
    backups = [G("a", days_ago(0)), G("b", days_ago(31)), G("c", days_ago(31), BackupType.manual)] + in_use()
    assert plan(NOW, RetentionPolicy(30), backups).doomed == ["b", "c"]
    assert plan(NOW, RetentionPolicy(30, tiered=True), backups).doomed == ["c"]  # b: newest of its week


def test_every_number_is_a_setting():
    backups = [G(f"h{i}", hours_ago(i * 6)) for i in range(40)]  # every 6 hours for 10 days
    none_recent = RetentionPolicy(
        30, tiered=True, keep_all_hours=0, keep_daily_days=3, keep_weekly_weeks=0, keep_monthly_months=0
    )
    kept = [d.id for d in plan(NOW, none_recent, backups).decisions if d.keep]
    # NOW is 12:00: today's newest (h0), and the newest of the two days before (18:00 each)
    assert sorted(kept) == sorted(["h0", "h3", "h7"])


def test_the_budget_thins_the_oldest_automatic_backups_first_and_never_the_always_kept():
    backups = [
        G("auto-old", hours_ago(20)),
        G("manual-old", hours_ago(21), BackupType.manual),
        G("auto-mid", hours_ago(10)),
        G("pinned", days_ago(1), pinned=True),
        G("premig", days_ago(2), BackupType.pre_migration),
        G("newest", hours_ago(1)),
    ]
    policy = RetentionPolicy(30, tiered=True, budget_bytes=4 << 20)
    p = plan(NOW, policy, backups)
    assert rules(p)["auto-old"] == (False, R.OVER_BUDGET) and rules(p)["auto-mid"] == (False, R.OVER_BUDGET)
    assert rules(p)["manual-old"][0] and p.kept_bytes == 4 << 20 and not p.over_budget
    # a budget the always-kept backups alone exceed: everything else goes, and it says so
    p = plan(NOW, RetentionPolicy(30, tiered=True, budget_bytes=2 << 20), backups)
    assert sorted(p.doomed) == ["auto-mid", "auto-old", "manual-old"] and p.over_budget
    assert {d.id for d in p.decisions if d.keep} == {"pinned", "premig", "newest"}


def test_a_simulated_year_of_half_hourly_backups_tier_by_tier():
    """365 days of an `auto` backup every 30 minutes (17,520), then the default policy, tier by tier."""
    backups = [G(f"b{i:05d}", NOW - timedelta(minutes=30 * i)) for i in range(365 * 48)]
    p = plan(NOW, TIERED, backups)
    kept = {d.id for d in p.decisions if d.keep}
    by_rule: dict[str, int] = {}
    for d in p.decisions:
        if d.keep:
            by_rule[d.rule] = by_rule.get(d.rule, 0) + 1

    def newest(pred) -> str:
        return max((b for b in backups if pred(b)), key=lambda b: b.created_at).id

    today = NOW.date()
    expected = {b.id for b in backups if NOW - b.created_at <= timedelta(hours=24)}
    assert len(expected) == 49  # 0 h, 0.5 h, ... 24 h
    expected |= {newest(lambda b, d=d: b.created_at.date() == today - timedelta(days=d)) for d in range(14)}
    monday = today - timedelta(days=today.weekday())
    expected |= {
        newest(lambda b, w=w: 0 <= (b.created_at.date() - (monday - timedelta(weeks=w))).days < 7) for w in range(8)
    }
    months = [
        ((today.year * 12 + today.month - 1 - m) // 12, (today.year * 12 + today.month - 1 - m) % 12 + 1)
        for m in range(12)
    ]
    expected |= {newest(lambda b, ym=ym: (b.created_at.year, b.created_at.month) == ym) for ym in months}
    assert kept == expected
    # per tier: each backup is counted under its first rule, so the counts add up to what is kept
    assert by_rule[R.NEWEST_GOOD] == 1 and by_rule[R.RECENT] == 48
    # today and yesterday (from 12:00) are in the last 24 hours: 12 more days of the 14 are daily ones
    assert by_rule[R.DAILY] == 12
    # 8 weeks: this one and the last are recent, the one before daily; 12 months: June recent, May weekly
    assert by_rule[R.WEEKLY] == 5 and by_rule[R.MONTHLY] == 10
    assert sum(by_rule.values()) == len(kept) < 100

    # with a budget of 60 backups' worth: never more, the newest and the most recent ones stay
    budget = plan(NOW, RetentionPolicy(30, tiered=True, budget_bytes=60 << 20), backups)
    left = [d for d in budget.decisions if d.keep]
    assert budget.kept_bytes <= 60 << 20 and len(left) == 60 and not budget.over_budget
    assert "b00000" in {d.id for d in left}
    thinned = [d for d in budget.decisions if d.rule == R.OVER_BUDGET]
    # the oldest go first: everything thinned is older than everything kept (bar the always-kept newest)
    oldest_left = min(backups[int(d.id[1:])].created_at for d in left)
    assert all(backups[int(d.id[1:])].created_at < oldest_left for d in thinned)


def test_prune_dry_run_json_names_what_would_go_and_by_which_rule(engine):
    import json as _json

    from conftest import run_cli
    from conftest_app import age_backup

    ids = {}
    for name, days in (("old-auto", 400), ("yesterday-auto", 1), ("old-manual", 40)):
        b = engine.store.create(
            engine.data.db_path, BackupType.manual if "manual" in name else BackupType.auto, note=name
        )
        age_backup(engine.data.root, b.id, days)
        ids[name] = b.id
    newest = engine.create_backup(note="newest").id
    before = sorted(p.name for p in engine.store.folder.iterdir())
    # W2: four days with backups across 400 days: a pause (or a clock set ahead) ages nothing by the defaults,
    # and the dry run says so for each backup a calendar alone would delete
    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    out = _json.loads(r.stdout)
    assert out["would_delete"] == []
    kept = {x["id"]: x["rule"] for x in out["kept"]}
    assert kept[ids["old-auto"]] == kept[ids["old-manual"]] == R.BY_USE and kept[ids["yesterday-auto"]] == R.DAILY
    # used every day (the two made 3 and 2 days ago), one day to keep (simple): the calendar decides again
    age_backup(engine.data.root, ids["old-auto"], 3)
    age_backup(engine.data.root, ids["old-manual"], 2)
    before = sorted(p.name for p in engine.store.folder.iterdir())
    engine.update_settings({"retention_policy": "simple", "retention_days": 1}, confirmed=True)
    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    out = _json.loads(r.stdout)
    gone = {x["id"]: x["rule"] for x in out["would_delete"]}
    assert gone == {ids["old-auto"]: R.EXPIRED, ids["old-manual"]: R.EXPIRED}
    kept = {x["id"]: x["rule"] for x in out["kept"]}
    # yesterday's is a day and some seconds old: beyond the day's window, within yesterday (a whole day)
    assert kept[ids["yesterday-auto"]] == R.BY_USE and kept[newest] == R.NEWEST_GOOD
    assert out["budget_bytes"] == 2 << 30 and out["over_budget"] is False
    assert sorted(p.name for p in engine.store.folder.iterdir()) == before  # a dry run changes nothing
    r = run_cli("backup", "prune", data_dir=engine.data.root)
    assert r.returncode == 0 and "Deleted" in r.stdout and "older than the policy keeps" in r.stdout
    assert {b.id for b in engine.list_backups()} == {ids["yesterday-auto"], newest}
    engine.update_settings({"budget_mb": 1})
    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=engine.data.root)
    assert _json.loads(r.stdout)["budget_bytes"] == 1 << 20


# -- clocks lie (issue 8, kind 3) ----------------------------------------------------------------


def test_a_backup_dated_in_the_future_never_spares_the_real_newest():
    # one backup made with the clock a year ahead; the real ones are all past the limit
    backups = [
        S("older", days_ago(50), 1),
        S("real-newest", days_ago(40), 2),
        S("future", NOW + timedelta(days=365), 3),
    ]
    assert obsolete(NOW, RetentionPolicy(30), backups + in_use()) == ["older"]


def test_the_newest_backup_that_passed_its_check_is_kept_even_when_a_newer_one_failed():
    backups = [S("failed", days_ago(31), 3, verified=False), S("passed", days_ago(35), 2), S("old", days_ago(40), 1)]
    doomed = obsolete(NOW, RetentionPolicy(30), backups + in_use())
    assert "passed" not in doomed and "failed" not in doomed and doomed == ["old"]


def test_a_future_backup_is_never_deleted_by_age():
    assert obsolete(NOW, RetentionPolicy(1), [B("future", NOW + timedelta(days=3)), B("a", days_ago(2))]) == []


# -- clocks lie: "newest" goes by the order of making (F19, issue 8) ----------------------------------------


@dataclass
class S:
    id: str
    created_at: datetime
    sequence: int | None
    type: BackupType = BackupType.manual
    pinned: bool = False
    verified: bool | None = True
    size_bytes: int = 1 << 20
    has_manifest: bool = True


def test_a_backup_made_with_the_clock_behind_is_the_newest_not_expired():
    # old1, old2 with the right clock; then the clock fell back to 2001 and the newest data went into "y2001".
    y2001 = datetime(2001, 1, 1, tzinfo=timezone.utc)
    backups = [S("old1", hours_ago(2), 1), S("old2", hours_ago(1), 2), S("y2001", y2001, 3)]
    got = rules(plan(NOW, RetentionPolicy(30), backups))
    assert got["y2001"] == (True, R.NEWEST_GOOD)
    assert got["old2"] == (True, R.WITHIN_DAYS)


def test_table_of_wrong_clock_cases():
    y2001 = datetime(2001, 1, 1, tzinfo=timezone.utc)
    backups = [
        S("real-old", days_ago(400), 1, BackupType.auto),  # a real old one: expires as before
        S("real", days_ago(40), 2, BackupType.auto),
        S("behind-1", y2001, 3, BackupType.auto),  # made while the clock was behind
        S("behind-2", y2001 + timedelta(hours=1), 4, BackupType.safety),
        S("behind-bad", y2001 + timedelta(hours=2), 5, verified=False),
        S("ahead", NOW + timedelta(days=30), 6),  # the clock ran ahead
        S("after-ahead", hours_ago(3), 7, BackupType.auto),  # made after "ahead", dated before it: age unknown
        S("newest", hours_ago(1), 8, BackupType.auto, verified=False),  # dated after "after-ahead": not behind
        S("legacy", days_ago(1), None),  # an older version's manifest: no sequence
    ]
    for policy in (RetentionPolicy(30), TIERED):
        # in use all along (manifests without a sequence: never the newest, never behind): the calendar's rules
        got = rules(plan(NOW, policy, backups + in_use()))
        assert got["behind-1"] == got["behind-2"] == got["behind-bad"] == (True, R.CLOCK_BEHIND), policy
        assert got["ahead"] == (True, R.FUTURE)
        assert got["newest"] == (True, R.NEWEST)
        assert got["after-ahead"] == (True, R.NEWEST_GOOD)  # the newest that passed its check, by sequence
        assert got["real-old"] == (False, R.EXPIRED)
        assert got["legacy"][0] is True
    assert R.clock_behind(NOW, backups) == {"behind-1", "behind-2", "behind-bad", "after-ahead"}


def test_a_wrong_date_never_takes_a_real_backups_place_in_a_tier():
    # "behind" was made after "real2" but dated on "real1"'s day, later than it: by dates it would be the
    # newest of that day (and week) and "real1", the real backup of that day, would expire.
    real1 = S("real1", days_ago(3), 1, BackupType.auto)
    real2 = S("real2", days_ago(1), 2, BackupType.auto)
    behind = S("behind", days_ago(3) + timedelta(hours=1), 3, BackupType.auto)
    later = S("later", hours_ago(1), 4, BackupType.auto)
    got = rules(plan(NOW, TIERED, [real1, real2, behind, later]))
    assert got["real1"] == (True, R.DAILY)
    assert got["behind"] == (True, R.CLOCK_BEHIND)


def test_without_sequences_the_dates_decide_as_before():
    backups = [S("a", days_ago(40), None), S("b", days_ago(35), None)]
    used = in_use(hours=0, first_day=36)  # every day before b's: b is the newest
    got = rules(plan(NOW, RetentionPolicy(1), backups + used))
    assert {k: got[k] for k in "ab"} == {"a": (False, R.EXPIRED), "b": (True, R.NEWEST_GOOD)}
    assert R.clock_behind(NOW, backups) == set()


def test_equal_sequences_are_not_behind_each_other():
    backups = [S("a", hours_ago(2), 1), S("b", hours_ago(1), 1), S("c", hours_ago(3), 1)]
    assert R.clock_behind(NOW, backups) == set()


def test_f19_a_backup_made_with_the_clock_in_2001_holding_the_newest_data_survives_prune(engine):
    """F19: the only backup with the newest data, dated 2001 by a clock that was behind, is kept by `backup
    prune` (dry run names its rule), and keeps being kept once newer backups are made with the right clock."""
    import json as _json
    import sqlite3

    from conftest import run_cli

    engine.create_backup(note="old1")
    engine.create_backup(note="old2")
    with sqlite3.connect(engine.data.db_path) as c:
        c.execute("insert into skills(name) values ('NEWEST DATA')")
    made = engine.create_backup(note="made with clock in 2001")
    folder = engine.store.folder
    # exactly what a clock set to 2001 produces: the name and created_at come from the clock
    body = _json.loads((folder / f"{made.id}.json").read_text())
    body["created_at"] = "2001-01-01T00:00:00Z"
    (folder / "backup_2001-01-01_00-00-00.json").write_text(_json.dumps(body))
    (folder / f"{made.id}.json").unlink()
    os.replace(folder / f"{made.id}.db", folder / "backup_2001-01-01_00-00-00.db")
    wrong = "backup_2001-01-01_00-00-00"

    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    out = _json.loads(r.stdout)
    assert wrong not in {x["id"] for x in out["would_delete"]}
    assert {x["id"]: x["rule"] for x in out["kept"]}[wrong] == R.NEWEST_GOOD
    assert run_cli("backup", "prune", data_dir=engine.data.root).returncode == 0
    assert (folder / f"{wrong}.db").exists()

    # the clock is right again: a newer backup is the newest now; the 2001 one is kept as "clock was behind"
    engine.create_backup(note="after")
    r = run_cli("backup", "prune", "--dry-run", "--json", data_dir=engine.data.root)
    kept = {x["id"]: x["rule"] for x in _json.loads(r.stdout)["kept"]}
    assert kept[wrong] == R.CLOCK_BEHIND
    assert run_cli("backup", "prune", data_dir=engine.data.root).returncode == 0
    with sqlite3.connect(folder / f"{wrong}.db") as c:
        assert c.execute("select count(*) from skills where name = 'NEWEST DATA'").fetchone()[0] == 1
    r = run_cli("status", data_dir=engine.data.root)
    assert "clock was behind" in r.stdout + r.stderr


# -- the order of making, used the same way everywhere (FINDINGS2 F1) -------------------------------------


def test_f1_a_backup_made_after_a_future_dated_one_and_dated_before_it_is_kept():
    """FINDINGS2 F1: sequence 1 dated 2099 (the clock ran ahead), sequence 2 dated 2020: which clock was
    wrong cannot be known, so the age of 2 is unknown and it is kept; 3, dated after 2, is an ordinary backup."""
    backups = [
        S("s1-2099", datetime(2099, 1, 1, tzinfo=timezone.utc), 1),
        S("s2-2020", datetime(2020, 1, 1, tzinfo=timezone.utc), 2),
        S("s3-now", hours_ago(1), 3),
    ]
    for policy in (RetentionPolicy(30), TIERED, RetentionPolicy(30, budget_bytes=1)):
        got = rules(plan(NOW, policy, backups))
        assert got == {
            "s1-2099": (True, R.FUTURE),
            "s2-2020": (True, R.CLOCK_BEHIND),
            "s3-now": (True, R.NEWEST_GOOD),
        }, policy


def test_one_future_date_does_not_keep_every_later_backup_for_ever():
    """Only the backup made right after a future-dated one is compared with it: the ones after that are
    dated in order and expire as usual (one date of 2099 must not stop retention until 2099)."""
    backups = [S("ahead", datetime(2099, 1, 1, tzinfo=timezone.utc), 1, BackupType.auto)]
    backups += [S(f"d{n}", days_ago(100 - n), 1 + n, BackupType.auto) for n in range(1, 100)]
    got = rules(plan(NOW, RetentionPolicy(30), backups))
    assert R.clock_behind(NOW, backups) == {"d1"}
    assert got["d1"] == (True, R.CLOCK_BEHIND) and got["ahead"] == (True, R.FUTURE)
    assert got["d2"] == got["d69"] == (False, R.EXPIRED) and got["d71"] == (True, R.WITHIN_DAYS)


def test_the_backup_made_last_is_never_deleted_whatever_its_date():
    """Table: the highest sequence survives every policy and the budget, dated far in the past, in the
    future, failing its check, automatic or manual; and so does the newest one that passed its check."""
    y2001 = datetime(2001, 1, 1, tzinfo=timezone.utc)
    shapes = {
        "dated 2001": dict(created_at=y2001),
        "dated 2099": dict(created_at=datetime(2099, 1, 1, tzinfo=timezone.utc)),
        "failed its check": dict(created_at=days_ago(400), verified=False),
        "not checked yet": dict(created_at=days_ago(400), verified=None),
        "an hour ago": dict(created_at=hours_ago(1)),
    }
    for name, shape in shapes.items():
        for kind in (BackupType.auto, BackupType.manual, BackupType.safety):
            older = [S(f"o{n}", days_ago(300 - n), n, BackupType.auto) for n in range(1, 40)]
            last = S("last", sequence=99, type=kind, **{"verified": True, **shape})
            for policy in (RetentionPolicy(30), TIERED, RetentionPolicy(1, budget_bytes=1), RetentionPolicy(1)):
                got = rules(plan(NOW, policy, [*older, last]))
                assert got["last"][0] is True, (name, kind, policy, got["last"])
                if shape.get("verified", True) is not True:  # the newest that passed is kept beside it
                    assert got["o39"] == (True, R.NEWEST_GOOD), (name, kind, policy)


# -- a restore's safety backup is the only copy of the data it replaced (FINDINGS7 T17) ---------------------


def test_table_of_a_restores_safety_backup_cases():
    """Every restore's safety backup is kept for `keep_days` days by tiers and budget alike (T17, U5); past
    those days they follow the tiers as before."""
    one_mb = RetentionPolicy(30, tiered=True, budget_bytes=2 << 20)
    cases = [
        # (policy, backups, expected {id: (keep, rule)} for the ones named)
        (  # T17: manual A, the restore's safety S, then B; room for two: A goes (its data is live), not S
            one_mb,
            [G("A", hours_ago(3), BackupType.manual), G("S", hours_ago(2), BackupType.safety), G("B", hours_ago(1))],
            {"A": (False, R.OVER_BUDGET), "S": (True, R.RESTORE_SAFETY), "B": (True, R.NEWEST_GOOD)},
        ),
        (  # a day's newest is an auto backup made after the restore: the tier alone would drop S
            TIERED,
            [G("S", days_ago(3) - timedelta(hours=1), BackupType.safety), G("auto", days_ago(3)), G("new", NOW)],
            {"S": (True, R.RESTORE_SAFETY), "auto": (True, R.DAILY)},
        ),
        (  # U5: every restore's, not only the latest's: after two restores S1 is the only pre-restore work
            TIERED,
            [
                G("S1", days_ago(3) - timedelta(hours=2), BackupType.safety),
                G("S2", days_ago(3) - timedelta(hours=1), BackupType.safety),
                G("new", NOW),
            ],
            {"S1": (True, R.RESTORE_SAFETY), "S2": (True, R.RESTORE_SAFETY)},
        ),
        (  # FINDINGS8 U5: A, restore (S1 = the work), restore again (S2 = A's data), B; room for three:
            # the budget takes A (the oldest not kept by a rule), never S1; over_budget says what it could not
            RetentionPolicy(30, tiered=True, budget_bytes=3 << 20),
            [G("A", hours_ago(4), BackupType.manual), G("S1", hours_ago(3), BackupType.safety)]
            + [G("S2", hours_ago(2), BackupType.safety), G("B", hours_ago(1), BackupType.manual)],
            {
                "A": (False, R.OVER_BUDGET),
                "S1": (True, R.RESTORE_SAFETY),
                "S2": (True, R.RESTORE_SAFETY),
                "B": (True, R.NEWEST_GOOD),
            },
        ),
        (  # past keep_days it is an ordinary backup again (here: not the newest of its week)
            TIERED,
            [G("S", days_ago(31) - timedelta(hours=1), BackupType.safety), G("auto", days_ago(31)), G("new", NOW)]
            + in_use(),
            {"S": (False, R.EXPIRED), "auto": (True, R.WEEKLY)},
        ),
        (  # a raw copy of unreadable data is marked failed and still the only copy of it
            one_mb,
            [G("A", hours_ago(3), BackupType.manual), G("S", hours_ago(2), BackupType.safety, verified=False)]
            + [G("B", hours_ago(1))],
            {"A": (False, R.OVER_BUDGET), "S": (True, R.RESTORE_SAFETY)},
        ),
        (  # the simple policy too, and a budget the always-kept alone exceed says so
            RetentionPolicy(30, budget_bytes=1 << 20),
            [G("S", hours_ago(2), BackupType.safety), G("B", hours_ago(1))],
            {"S": (True, R.RESTORE_SAFETY), "B": (True, R.NEWEST_GOOD)},
        ),
    ]
    for policy, backups, expected in cases:
        got = rules(plan(NOW, policy, backups))
        assert {k: got[k] for k in expected} == expected, (backups, got)
    assert plan(NOW, RetentionPolicy(30, budget_bytes=1 << 20), cases[-1][1]).over_budget
    # when the safety backups alone exceed the budget they stay (the only copies of replaced data) and it warns
    three = [G(f"S{i}", hours_ago(5 - i), BackupType.safety) for i in range(3)] + [G("B", hours_ago(1))]
    p = plan(NOW, RetentionPolicy(30, tiered=True, budget_bytes=2 << 20), three)
    assert p.doomed == [] and p.over_budget


def test_a_simulated_year_with_a_restore_every_month_keeps_the_recent_restores_safety_backups():
    """The simulated year (an auto backup every 30 minutes) with a restore on the 10th of every month at
    03:10 (a safety backup 10 minutes after that half-hour's backup): under the default policy and under a
    budget of 60 backups, and a second restore 5 minutes after the last one: both of the last month's safety
    backups stay by their own rule; the older ones only where a tier keeps them (never, here: the auto backup
    of 03:30 is always newer in its day)."""
    backups = [G(f"b{i:05d}", NOW - timedelta(minutes=30 * i)) for i in range(365 * 48)]
    restores = []
    for m in range(12):
        y, mo = divmod(NOW.year * 12 + NOW.month - 1 - m, 12)
        when = datetime(y, mo + 1, 10, 3, 10, tzinfo=timezone.utc)
        if NOW - when < timedelta(days=365):
            restores.append(G(f"s{m:02d}", when, BackupType.safety))
    latest = max(restores, key=lambda b: b.created_at)
    # U5: that last month the user restored twice by mistake (5 minutes apart): the first one's safety backup
    # holds the work from before both restores
    again = G("again", latest.created_at + timedelta(minutes=5), BackupType.safety)
    backups += [*restores, again]
    assert NOW - latest.created_at <= timedelta(days=30)
    for policy in (TIERED, RetentionPolicy(30, tiered=True, budget_bytes=60 << 20)):
        p = plan(NOW, policy, backups)
        got = rules(p)
        assert got[latest.id] == got[again.id] == (True, R.RESTORE_SAFETY)
        assert all(not got[s.id][0] for s in restores if s is not latest), got
        assert sum(d.rule == R.RESTORE_SAFETY for d in p.decisions) == 2
    # the budget still holds: the safety backups took the places of the oldest kept auto backups
    p = plan(NOW, RetentionPolicy(30, tiered=True, budget_bytes=60 << 20), backups)
    assert p.kept_bytes <= 60 << 20 and not p.over_budget and len([d for d in p.decisions if d.keep]) == 60


def test_t17_prune_after_a_restore_keeps_its_safety_backup_over_an_older_manual_one(engine, data_dir):
    """FINDINGS7 T17 through the real CLI: backup A, a budget for two backups, a restore of A (its safety
    backup holds the data the restore replaced), new work and backup B: prune deletes A (its data is in B
    and live), never the safety backup; the data it holds can still be restored."""
    import json as _json

    from conftest import fingerprint, run_cli

    conn = engine.connect()
    try:
        with conn:
            conn.executemany(
                "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
                [(f"Engineer {i}", f"Company {i % 7}", "Build things. " * 20) for i in range(6000)],
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()

    def cli(*args: str) -> str:
        r = run_cli(*args, data_dir=data_dir)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
        return r.stdout

    def sql(q: str) -> None:
        c = engine.connect()
        try:
            with c:
                c.execute(q)
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            c.close()

    a = _json.loads(cli("backup", "create", "--note", "A", "--json"))["id"]
    size_mb = engine.data.db_path.stat().st_size / (1 << 20)
    cli("settings", "--budget-mb", str(int(size_mb * 2.5) + 1), "--yes")  # room for two backups, not three
    sql("INSERT INTO skills (name) VALUES ('PRE-RESTORE DATA')")
    before = fingerprint(engine.data.db_path)
    cli("backup", "restore", a, "--yes")
    safety = [b for b in _json.loads(cli("backup", "list", "--json")) if b["type"] == "safety"]
    assert len(safety) == 1
    s = safety[0]["id"]
    sql("INSERT INTO skills (name) VALUES ('new work')")
    cli("backup", "create", "--note", "B")
    out = _json.loads(cli("backup", "prune", "--dry-run", "--json"))
    assert [x["id"] for x in out["would_delete"]] == [a], out
    assert {x["id"]: x["rule"] for x in out["kept"]}[s] == R.RESTORE_SAFETY
    assert f"Deleted {a} " in cli("backup", "prune")
    left = {b["id"] for b in _json.loads(cli("backup", "list", "--json"))}
    assert a not in left and s in left
    cli("backup", "restore", s, "--yes")  # the undo still works: the data from before the restore is back
    assert fingerprint(engine.data.db_path)[1] == before[1]


def test_u5_prune_after_two_restores_keeps_the_first_restores_safety_backup(engine, data_dir):
    """FINDINGS8 U5 through the real CLI: backup A, the user's work, a restore of A (safety S1 = the work), the
    same restore again (S2 = A's data), new work and B, a budget for three: prune deletes A, never S1, and S1
    still brings the work back."""
    import json as _json

    from conftest import fingerprint, run_cli

    def cli(*args: str) -> str:
        r = run_cli(*args, data_dir=data_dir)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
        return r.stdout

    def sql(q: str, rows: list | None = None) -> None:
        c = engine.connect()
        try:
            with c:
                c.executemany(q, rows) if rows else c.execute(q)
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            c.close()

    sql(
        "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
        [(f"Engineer {i}", f"Company {i % 7}", "Build things. " * 20) for i in range(6000)],
    )
    a = _json.loads(cli("backup", "create", "--note", "A", "--json"))["id"]
    sql("INSERT INTO skills (name) VALUES ('ORIGINAL WORK')")
    work = fingerprint(engine.data.db_path)
    cli("backup", "restore", a, "--yes")
    cli("backup", "restore", a, "--yes")
    s1, s2 = sorted(b["id"] for b in _json.loads(cli("backup", "list", "--json")) if b["type"] == "safety")
    sql("INSERT INTO skills (name) VALUES ('new')")
    cli("backup", "create", "--note", "B")
    size_mb = engine.data.db_path.stat().st_size / (1 << 20)
    cli("settings", "--budget-mb", str(int(size_mb * 3.5) + 1), "--yes")  # room for three backups, not four
    out = _json.loads(cli("backup", "prune", "--dry-run", "--json"))
    assert [x["id"] for x in out["would_delete"]] == [a], out
    kept = {x["id"]: x["rule"] for x in out["kept"]}
    assert kept[s1] == kept[s2] == R.RESTORE_SAFETY
    cli("backup", "prune")
    cli("backup", "restore", s1, "--yes")
    assert fingerprint(engine.data.db_path)[1] == work[1]


# -- a clock that jumps ahead (FINDINGS10 W2) ---------------------------------------------------------------

ALL_POLICIES = [
    RetentionPolicy(30),
    RetentionPolicy(1),
    TIERED,
    RetentionPolicy(90, tiered=True),  # a location's defaults
    RetentionPolicy(1, tiered=True, keep_all_hours=0, keep_daily_days=1, keep_weekly_weeks=0, keep_monthly_months=0),
    RetentionPolicy(3, tiered=True, keep_all_hours=2, keep_daily_days=3, keep_weekly_weeks=2, keep_monthly_months=2),
]


def _kept(now, policy, backups) -> set[str]:
    return {d.id for d in plan(now, policy, backups).decisions if d.keep}


def test_w2_backups_of_minutes_ago_survive_a_clock_a_year_ahead_under_every_policy():
    """W2's shape: five backups (manual, automatic) made minutes apart, then one made with the clock 400 days
    ahead, and the prune under that clock (and the launch's, before a new backup): nothing is deleted, as a
    right clock minutes later would delete nothing; the dry run's reason is BY_USE."""
    kinds = [BackupType.manual, BackupType.auto, BackupType.auto, BackupType.safety, BackupType.manual]
    five = [S(f"m{i}", NOW - timedelta(minutes=10 * (5 - i)), i + 1, kinds[i]) for i in range(5)]
    later = NOW + timedelta(days=400)
    for policy in ALL_POLICIES:
        right = plan(NOW + timedelta(minutes=1), policy, five + [S("ahead", NOW, 6, BackupType.auto)]).doomed
        for extra in ([S("ahead", later - timedelta(minutes=1), 6, BackupType.auto)], []):
            p = plan(later, policy, five + extra)
            assert set(p.doomed) <= set(right), (policy, rules(p))
    # under the defaults nothing at all, and the dry run's reason says why
    got = rules(plan(later, TIERED, five + [S("ahead", later - timedelta(minutes=1), 6, BackupType.auto)]))
    assert all(keep for keep, _ in got.values()) and got["m1"] == got["m2"] == got["m0"] == (True, R.BY_USE)


def test_w2_a_jump_after_a_year_of_half_hourly_backups_keeps_all_a_right_clock_keeps():
    """The simulated year, then one automatic backup 5 minutes later made with the clock 400 days ahead: the
    plan under the wrong clock keeps every backup the right clock keeps (and no fewer under any policy)."""
    backups = [S(f"b{i:05d}", NOW - timedelta(minutes=30 * i), 365 * 48 - i, BackupType.auto) for i in range(365 * 48)]
    seq = 365 * 48 + 1
    for policy in (TIERED, RetentionPolicy(30), RetentionPolicy(90, tiered=True)):
        right_now = NOW + timedelta(minutes=5)
        right = _kept(right_now, policy, backups + [S("new", right_now, seq, BackupType.auto)])
        wrong_now = right_now + timedelta(days=400)
        wrong = _kept(wrong_now, policy, backups + [S("new", wrong_now, seq, BackupType.auto)])
        assert right <= wrong, (policy, sorted(right - wrong))
        assert len(wrong) <= len(right) + 2  # and no more than a right clock: still the year's tiers


def test_w2_random_histories_never_lose_more_to_a_long_jump_than_to_a_right_clock():
    """Seeded histories of irregular use (sessions of 1-6 backups on 60% of the days, for 5-200 days, mixed
    kinds), then one backup made 20 minutes after the last with the clock 400 or 1,000 days ahead: under every
    policy the wrong clock keeps at least what a right clock keeps (a jump longer than every rule's span)."""
    import random

    runs = int(os.environ.get("JOBMATCHER_W2_RUNS", "12"))
    for seed in range(runs):
        rng = random.Random(seed)
        days = rng.randint(5, 200)
        start = NOW - timedelta(days=days + 3)
        made = []
        for d in range(days):
            if rng.random() < 0.6:
                t = start + timedelta(days=d, hours=rng.randint(7, 20), minutes=rng.randint(0, 59))
                kinds = [BackupType.auto, BackupType.auto, BackupType.manual, BackupType.safety]
                made += [(t + timedelta(minutes=30 * k), rng.choice(kinds)) for k in range(rng.randint(1, 6))]
        if not made:
            continue
        last = made[-1][0] + timedelta(minutes=20)
        for jump in (timedelta(days=400), timedelta(days=1000)):

            def history(shift: timedelta, made=made, last=last) -> list:
                past = [S(f"p{i}", t, i + 1, kind) for i, (t, kind) in enumerate(made)]
                return past + [S("new", last + shift, len(made) + 1, BackupType.auto)]

            for policy in ALL_POLICIES:
                right = _kept(last + timedelta(minutes=5), policy, history(timedelta(0)))
                wrong = _kept(last + jump + timedelta(minutes=5), policy, history(jump))
                assert right <= wrong, (seed, jump, policy, sorted(right - wrong))


def test_w2_a_real_pause_is_not_a_loss_either_and_use_afterwards_ages_backups_again():
    """The same rule for a real pause (JobMatcher unused for a year): the backups of before are not all old at
    once; as days with backups follow, they age again, and the calendar's thinning resumes."""
    before = [S(f"old{d}", days_ago(400 + d), 100 - d, BackupType.manual) for d in range(10)]
    one = [S("back", NOW, 101, BackupType.manual)]
    assert plan(NOW, RetentionPolicy(30), before + one).doomed == []
    # 40 more days of use after the pause: the days to keep are the 31 days with backups before now
    after = [S(f"new{d}", days_ago(d), 200 - d, BackupType.manual) for d in range(40)]
    doomed = plan(NOW, RetentionPolicy(30), before + after).doomed
    assert set(doomed) == {b.id for b in before} | {f"new{d}" for d in range(31, 40)}
