"""Each backup location has its own retention: the backup folder's policy (tiered or simple) with its own
numbers (issue 10), and it only ever deletes this data folder's copies there.

Real parts: a real data folder with real backups, a real folder location holding a simulated year of
copies (each a real copy's data, hard-linked, with its own manifest at the location), the real sync, and
the real command line in subprocesses. What a policy keeps is checked against an independent statement
of the tiers (the newest copy of each day, ISO week and month in its window, everything within the last
hours), written here from the definition rather than taken from retention.py.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import file_tree, run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import ConfirmationNeededError, SettingsError
from jobmatcher.locations.config import load_config
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import data_key, list_remote, manifest_key
from jobmatcher.manifest import BackupType

pytestmark = pytest.mark.usefixtures("file_credentials")

STEP = timedelta(hours=23)  # one copy every 23 hours: some days get two, so "the newest of the day" matters
YEAR = 381  # copies: 381 x 23 h is a little over a year


def _simulate_year(usb: Path, fid: str, real_id: str, now: datetime) -> dict[str, datetime]:
    """A year of this data folder's automatic copies at `usb`, one every 23 hours going back from an hour
    and a half ago: each the real copy's data under a new id (a hard link) with a manifest of its own date (the
    half hour keeps every copy off the tiers' whole-hour edges: at one hour, the second copy was exactly 24 h old
    when the test began and past keep_all_hours=24 when the sync ran, which decided whether it was kept whenever
    it was not also its day's newest, i.e. from 00:00 to 01:00 UTC). They carry
    no sequence (as copies made by an older version): the one real, newest backup stays the newest made.
    Returns id -> date."""
    ns = usb / data_key(fid, real_id, False)
    body = json.loads((usb / manifest_key(fid, real_id)).read_text())
    body.pop("sequence", None)
    made = {}
    for k in range(YEAR):
        when = now - timedelta(minutes=90) - k * STEP
        bid = f"backup_{when:%Y-%m-%d_%H-%M-%S}"
        os.link(ns, usb / data_key(fid, bid, False))
        (usb / manifest_key(fid, bid)).write_text(json.dumps({**body, "created_at": when.isoformat(), "type": "auto"}))
        made[bid] = when
    return made


def _expected(now: datetime, copies: dict[str, datetime], policy: dict) -> set[str]:
    """What the policy keeps of `copies` (all automatic, none pinned), from the definition: the calendar's
    rules and the same ones counted in periods that hold copies (FINDINGS10 W2), whichever keeps more. Here
    every day, week and month since the oldest copy holds one and copies are 23 hours apart, so no gap is
    longer than a rule: the last N periods with copies, N+1 for the windows (hours, days)."""
    by_use = set()
    periods = {
        "hour": lambda t: t.replace(minute=0, second=0, microsecond=0),
        "day": lambda t: t.date(),
        "week": lambda t: t.date().isocalendar()[:2],
        "month": lambda t: (t.year, t.month),
    }

    def last(kind: str, n: int, newest_only: bool) -> set[str]:
        chosen = sorted({periods[kind](t) for t in copies.values()}, reverse=True)[:n]
        if not newest_only:
            return {b for b, t in copies.items() if periods[kind](t) in chosen}
        return {max((b for b, t in copies.items() if periods[kind](t) == p), key=copies.__getitem__) for p in chosen}

    if policy["retention_policy"] == "simple":
        days = policy["retention_days"]
        return {b for b, t in copies.items() if now - t <= timedelta(days=days)} | last("day", days + 1, False)
    hours = policy["keep_all_hours"]
    by_use = last("hour", hours and hours + 1, False) | last("day", policy["keep_daily_days"], True)
    by_use |= last("week", policy["keep_weekly_weeks"], True) | last("month", policy["keep_monthly_months"], True)
    return by_use | _calendar(now, copies, policy)


def _calendar(now: datetime, copies: dict[str, datetime], policy: dict) -> set[str]:
    """Under tiered, every copy within the last hours, and the newest copy of each calendar day, ISO week and
    month (UTC) that lies within its window (the current one counts as 1)."""
    today = now.date()
    keep = {b for b, t in copies.items() if now - t <= timedelta(hours=policy["keep_all_hours"])}
    buckets: dict[tuple, tuple[datetime, str]] = {}
    for b, t in copies.items():
        d = t.date()
        iso = d.isocalendar()
        for key in (("day", d), ("week", iso[0], iso[1]), ("month", d.year, d.month)):
            if key not in buckets or buckets[key][0] < t:
                buckets[key] = (t, b)
    this_monday = today - timedelta(days=today.weekday())
    for key, (t, b) in buckets.items():
        d = t.date()
        if key[0] == "day" and (today - d).days < policy["keep_daily_days"]:
            keep.add(b)
        elif (
            key[0] == "week"
            and (this_monday - (d - timedelta(days=d.weekday()))).days // 7 < policy["keep_weekly_weeks"]
        ):
            keep.add(b)
        elif key[0] == "month" and (today.year - d.year) * 12 + today.month - d.month < policy["keep_monthly_months"]:
            keep.add(b)
    return keep


def _tiered(hours: int, days: int, weeks: int, months: int) -> dict:
    return dict(
        retention_policy="tiered",
        retention_days=90,
        keep_all_hours=hours,
        keep_daily_days=days,
        keep_weekly_weeks=weeks,
        keep_monthly_months=months,
    )


POLICIES = [
    pytest.param(_tiered(24, 14, 8, 12), id="tiered-defaults"),
    pytest.param(_tiered(0, 7, 0, 0), id="daily-only"),
    pytest.param(_tiered(0, 0, 10, 0), id="weekly-only"),
    pytest.param(_tiered(72, 0, 0, 36), id="offsite-months"),
    pytest.param(_tiered(0, 0, 0, 0), id="tiers-off"),
    pytest.param({**_tiered(24, 14, 8, 12), "retention_policy": "simple", "retention_days": 30}, id="simple-30"),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_a_location_thins_a_year_of_copies_by_its_own_policy_at_sync_only(engine, usb, tmp_path, policy):
    real = engine.create_backup(kind=BackupType.auto).id
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    assert engine.locations.sync()[0].copied == [real]
    fid = folder_id_of(engine.data)
    now = datetime.now(timezone.utc)
    copies = _simulate_year(usb, fid, real, now)
    # another data folder's copies in the same folder, years old: never this location's to delete
    other = "0" * 32
    (usb / "JobMatcher" / other).mkdir()
    for b in list(copies)[-5:]:
        for key in (data_key(fid, b, False), manifest_key(fid, b)):
            os.link(usb / key, usb / key.replace(fid, other))
    theirs = file_tree(usb / "JobMatcher" / other)

    before = file_tree(usb)
    changes = {k: v for k, v in policy.items()}
    engine.locations.set_retention("USB", confirmed=True, **changes)  # asked (it deletes copies): said yes
    assert file_tree(usb) == before  # nothing deleted yet: only a sync applies it
    cfg = engine.locations.get("USB")
    assert {k: getattr(cfg, k) for k in policy} == policy

    [r] = engine.locations.sync()
    assert not r.error, r
    kept = {x.id for x in list_remote(FolderLocation(usb), fid)}
    everything = {**copies, real: engine.store.get(real).created_at}
    want = _expected(now, everything, policy) | {real}  # the real one is the newest backup: always kept
    assert kept == want
    assert sorted(r.deleted) == sorted(set(copies) - want)
    assert file_tree(usb / "JobMatcher" / other) == theirs
    if policy["retention_policy"] == "tiered":
        # the newest of each day in the daily window is there, and nothing older than the widest window
        for k in range(1, policy["keep_daily_days"]):
            day = (now - timedelta(days=k)).date()
            same_day = [b for b, t in copies.items() if t.date() == day]
            assert max(same_day, key=copies.__getitem__) in kept
        oldest = min((copies[b] for b in kept if b in copies), default=now)
        window = max(
            timedelta(hours=policy["keep_all_hours"]),
            timedelta(days=policy["keep_daily_days"]),
            timedelta(weeks=policy["keep_weekly_weeks"] + 1),
            timedelta(days=31 * policy["keep_monthly_months"]),
        )
        assert now - oldest <= window
    else:
        # whole days: the 31 days with copies, today's included (W2), reach into the day 30 days ago
        assert all(now - copies[b] <= timedelta(days=31) for b in kept if b in copies)
        assert len(kept) >= 1 + sum(now - t <= timedelta(days=30) for t in copies.values())


def test_asking_counts_exactly_what_the_sync_deletes(engine, usb):
    real = engine.create_backup(kind=BackupType.auto).id
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    engine.locations.sync()
    fid = folder_id_of(engine.data)
    now = datetime.now(timezone.utc)
    copies = _simulate_year(usb, fid, real, now)
    # the copies simulated are older than the default tiers keep: make the current policy keep them all
    engine.locations.set_retention("USB", confirmed=True, retention_policy="simple", retention_days=36500)
    assert not engine.locations.sync()[0].deleted
    before = file_tree(usb)
    with pytest.raises(ConfirmationNeededError) as e:
        engine.locations.set_retention("USB", retention_policy="tiered", keep_monthly_months=3)
    assert e.value.action == "delete-location-copies"
    assert file_tree(usb) == before and engine.locations.get("USB").retention_policy == "simple"
    asked = set(e.value.copies)
    assert "every copy from the last 24 hours" in e.value.message and "3 months" in e.value.message
    engine.locations.set_retention("USB", confirmed=True, retention_policy="tiered", keep_monthly_months=3)
    [r] = engine.locations.sync()
    assert set(r.deleted) == asked and e.value.deletes == len(asked) > 0
    assert set(copies) - asked <= {x.id for x in list_remote(FolderLocation(usb), fid)}


def test_a_pinned_backup_is_kept_at_a_location_whatever_its_tiers(engine, usb):
    old = engine.create_backup(kind=BackupType.auto).id
    new = engine.create_backup(kind=BackupType.auto).id
    engine.set_pinned(old, True)
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    engine.locations.sync()
    fid = folder_id_of(engine.data)
    m = usb / manifest_key(fid, old)
    body = json.loads(m.read_text())
    body["created_at"] = (datetime.now(timezone.utc) - timedelta(days=900)).isoformat()
    body.pop("sequence", None)
    m.write_text(json.dumps(body))
    engine.locations.set_retention(
        "USB", keep_all_hours=0, keep_daily_days=0, keep_weekly_weeks=0, keep_monthly_months=0, retention_days=1
    )
    assert not engine.locations.sync()[0].deleted
    assert {x.id for x in list_remote(FolderLocation(usb), fid)} == {old, new}


def test_an_old_locations_file_keeps_meaning_its_days_and_new_ones_are_tiered(engine, usb, tmp_path):
    d = engine.data.root
    old_format = {
        "format": 1,
        "recipient": None,
        "locations": [
            {
                "id": "abc123abc123",
                "name": "USB",
                "kind": "folder",
                "path": str(usb),
                "encrypt": False,
                "retention_days": 45,
                "added_at": "2026-01-01T00:00:00Z",
            }
        ],
    }
    (d / "locations.json").write_text(json.dumps(old_format))
    [loc] = load_config(d).locations
    assert (loc.retention_policy, loc.retention_days) == ("simple", 45)
    # saved again (any change) it stays simple, and says so in the file
    engine.locations.set_enabled("USB", False)
    saved = json.loads((d / "locations.json").read_text())
    assert saved["format"] == 2 and saved["locations"][0]["retention_policy"] == "simple"
    assert load_config(d).locations[0].retention_policy == "simple"

    other = tmp_path / "usb2"
    other.mkdir()
    added = engine.locations.add("folder", path=str(other), name="Second", encrypt=False).location
    assert (added.retention_policy, added.retention_days) == ("tiered", 90)
    s = engine.settings
    assert (added.keep_all_hours, added.keep_daily_days, added.keep_weekly_weeks, added.keep_monthly_months) == (
        s.keep_all_hours,
        s.keep_daily_days,
        s.keep_weekly_weeks,
        s.keep_monthly_months,
    )


def test_the_library_refuses_a_number_out_of_the_settings_limits(engine, usb):
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    before = (engine.data.root / "locations.json").read_bytes()
    for bad, limits in (
        ({"keep_daily_days": -1}, "0 to 3,660"),
        ({"keep_monthly_months": 1201}, "0 to 1,200"),
        ({"retention_days": 0}, "1 to 36,500"),
    ):
        with pytest.raises(SettingsError) as e:
            engine.locations.set_retention("USB", **bad)
        assert "keep_" not in e.value.message and "retention_days" not in e.value.message
        assert limits in e.value.message, e.value.message
    with pytest.raises(SettingsError):
        engine.locations.set_retention("USB", retention_policy="weekly")
    assert (engine.data.root / "locations.json").read_bytes() == before


# -- the command line ------------------------------------------------------------------------------------


def _with_old_copies(engine: Engine, usb: Path) -> tuple[str, dict[str, datetime]]:
    real = engine.create_backup(kind=BackupType.auto).id
    d = engine.data.root
    assert run_cli("location", "add", "folder", str(usb), "--name", "USB", "--no-encrypt", "--retention-policy",
                   "simple", "--keep-days", "36500", data_dir=d).returncode == 0  # fmt: skip
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    return real, _simulate_year(usb, folder_id_of(engine.data), real, datetime.now(timezone.utc))


def test_cli_set_with_tiered_flags_asks_then_deletes_at_sync(engine, usb):
    d = engine.data.root
    real, copies = _with_old_copies(engine, usb)
    before, config = file_tree(usb), (d / "locations.json").read_bytes()
    args = ("location", "set", "USB", "--retention-policy", "tiered", "--keep-daily-days", "7")
    args += ("--keep-weekly-weeks", "4", "--keep-monthly-months", "6", "--keep-all-hours", "0")
    r = run_cli(*args, data_dir=d, input="")
    assert r.returncode == 1 and "--yes" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert file_tree(usb) == before and (d / "locations.json").read_bytes() == config  # byte for byte
    r = run_cli(*args, "--json", data_dir=d, input="")
    err = json.loads(r.stdout)
    assert r.returncode == 1 and err["error"] == "confirmation-needed"
    r = run_cli(*args, "--yes", data_dir=d)
    assert r.returncode == 0 and "(tiered)" in r.stdout and "each month for 6 months" in r.stdout, r.stdout
    assert file_tree(usb) == before  # only the sync deletes
    r = run_cli("location", "list", "--json", data_dir=d)
    [row] = json.loads(r.stdout)
    assert (row["retention_policy"], row["keep_daily_days"], row["keep_weekly_weeks"]) == ("tiered", 7, 4)
    assert (row["keep_monthly_months"], row["keep_all_hours"]) == (6, 0) and "6 months" in row["keeps"]
    r = run_cli("location", "list", data_dir=d)
    assert "keeps:" in r.stdout and "each week for 4 weeks" in r.stdout and "(tiered)" in r.stdout, r.stdout
    r = run_cli("location", "sync", "--json", data_dir=d)
    [res] = json.loads(r.stdout)
    policy = dict(retention_policy="tiered", retention_days=36500, keep_all_hours=0, keep_daily_days=7)
    everything = {**copies, real: engine.store.get(real).created_at}
    policy.update(keep_weekly_weeks=4, keep_monthly_months=6)
    want = _expected(datetime.now(timezone.utc), everything, policy) | {real}
    assert sorted(res["deleted"]) == sorted(set(copies) - want)


def test_cli_add_with_tiered_flags(engine, usb):
    d = engine.data.root
    engine.create_backup()
    r = run_cli("location", "add", "folder", str(usb), "--no-encrypt", "--keep-monthly-months", "36",
                "--retention-days", "120", "--json", data_dir=d)  # fmt: skip
    assert r.returncode == 0, r.stderr
    loc = json.loads(r.stdout)["location"]
    assert (loc["retention_policy"], loc["keep_monthly_months"], loc["retention_days"]) == ("tiered", 36, 120)
    assert loc["keep_daily_days"] == 14  # the rest: the backup folder's defaults


def test_cli_add_that_would_delete_copies_there_asks_first(engine, usb, tmp_path):
    d = engine.data.root
    real, copies = _with_old_copies(engine, usb)
    assert run_cli("location", "remove", "USB", "--yes", data_dir=d).returncode == 0
    before, config = file_tree(usb), (d / "locations.json").read_bytes()
    add = ("location", "add", "folder", str(usb), "--no-encrypt", "--keep-monthly-months", "2")
    r = run_cli(*add, data_dir=d, input="")
    assert r.returncode == 1 and "already holds" in r.stderr and "--yes" in r.stderr, r.stderr
    assert file_tree(usb) == before and (d / "locations.json").read_bytes() == config
    assert run_cli(*add, "--yes", data_dir=d).returncode == 0


@pytest.mark.parametrize(
    "option,value",
    [
        ("--keep-daily-days", "-1"),
        ("--keep-daily-days", "3661"),
        ("--keep-weekly-weeks", "521"),
        ("--keep-monthly-months", "1201"),
        ("--keep-all-hours", "9000"),
        ("--keep-days", "0"),
        ("--retention-days", "36501"),
        ("--retention-policy", "weekly"),
        ("--keep-weekly-weeks", "two"),
    ],
)
def test_cli_retention_out_of_bounds_is_a_usage_error(engine, usb, option, value):
    d = engine.data.root
    assert run_cli("location", "add", "folder", str(usb), "--name", "USB", "--no-encrypt", data_dir=d).returncode == 0
    config = (d / "locations.json").read_bytes()
    r = run_cli("location", "set", "USB", option, value, data_dir=d)
    assert r.returncode == 2 and "Traceback" not in r.stderr and option in r.stderr, r.stderr
    r = run_cli("location", "add", "folder", str(usb.parent / "x"), option, value, data_dir=d)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert (d / "locations.json").read_bytes() == config
    assert not (usb.parent / "x").exists()


def test_cli_set_without_a_change_is_a_usage_error(engine, usb):
    d = engine.data.root
    assert run_cli("location", "add", "folder", str(usb), "--name", "USB", "--no-encrypt", data_dir=d).returncode == 0
    r = run_cli("location", "set", "USB", data_dir=d)
    assert r.returncode == 2 and "--keep-days" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_the_page_api_takes_the_policy_validated_and_asks_the_same_question(engine, usb, tmp_path):
    from jobmatcher.api import Api

    real = engine.create_backup(kind=BackupType.auto).id
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:

        def call(name, *args):
            return api._dispatch(name, list(args))

        simple = {"retention_policy": "simple", "retention_days": 36500}
        r = call("add_folder_location", str(usb), "USB", False, "", 90, False, simple)
        assert r["ok"], r
        engine.locations.sync()
        copies = _simulate_year(usb, folder_id_of(engine.data), real, datetime.now(timezone.utc))
        before, config = file_tree(usb), (engine.data.root / "locations.json").read_bytes()
        for bad in ({"keep_weekly_weeks": 521}, {"retention_policy": "weekly"}, {"keep_all_hours": -1}, {"x": 1}):
            r = call("set_location_retention", "USB", None, False, bad)
            assert r["error"]["code"] == "invalid-input", r
        tiered = {"retention_policy": "tiered", "keep_monthly_months": 2}
        r = call("set_location_retention", "USB", None, False, tiered)
        assert r["error"]["code"] == "confirmation-needed" and 0 < r["error"]["deletes"] < len(copies), r
        asked = r["error"]["copies"]
        assert file_tree(usb) == before and (engine.data.root / "locations.json").read_bytes() == config
        r = call("set_location_retention", "USB", None, True, tiered)["value"]
        assert r["retention"]["retention_policy"] == "tiered" and "2 months" in r["keeps"]
        rows = call("locations_overview")["value"]["locations"]
        assert rows[0]["retention"]["keep_monthly_months"] == 2 and rows[0]["keeps"] == r["keeps"]
        assert sorted(engine.locations.sync()[0].deleted) == sorted(asked)  # what was asked, no more
    finally:
        api._close()


def test_keeping_more_needs_no_count_and_anything_else_is_counted():
    """set_retention contacts the location to count only when the change may keep less (an unreachable
    location is not waited for when it keeps more)."""
    from jobmatcher.locations.config import LocationConfig
    from jobmatcher.locations.manager import _keeps_at_least

    old = LocationConfig(id="a" * 12, name="USB", kind="folder", path="/x", added_at=datetime.now(timezone.utc))
    more = old.model_copy(update={"keep_monthly_months": 36, "retention_days": 400})
    assert _keeps_at_least(more, old) and _keeps_at_least(old, old)
    assert not _keeps_at_least(old.model_copy(update={"keep_daily_days": 13}), old)
    assert not _keeps_at_least(old.model_copy(update={"retention_policy": "simple", "retention_days": 36500}), old)
    simple = old.model_copy(update={"retention_policy": "simple"})
    assert _keeps_at_least(simple.model_copy(update={"keep_daily_days": 0, "retention_days": 91}), simple)
