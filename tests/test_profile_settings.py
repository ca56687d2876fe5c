"""The app's own data layer and the backup settings."""

import json

import pytest
from conftest import run_cli
from jobmatcher import profile
from jobmatcher.errors import SettingsError, ValidationError


def test_profile_round_trip(engine):
    conn = engine.connect()
    saved = profile.update_profile(conn, profile.Profile(full_name="  Grace  ", headline="Admiral"))
    assert saved.full_name == "Grace" and profile.get_profile(conn).headline == "Admiral"
    conn.close()


def test_skills_add_remove_and_duplicates(engine):
    conn = engine.connect()
    before = {s.name for s in profile.list_skills(conn)}
    s = profile.add_skill(conn, profile.NewSkill(name="Rust", level=3, years_experience=2))
    assert "Rust" in {x.name for x in profile.list_skills(conn)}
    with pytest.raises(ValidationError, match="already"):
        profile.add_skill(conn, profile.NewSkill(name="rust"))
    profile.remove_skill(conn, s.id)
    assert {x.name for x in profile.list_skills(conn)} == before
    with pytest.raises(ValidationError):
        profile.remove_skill(conn, s.id)
    conn.close()


def test_preferences(engine):
    conn = engine.connect()
    profile.set_preference(conn, "locations", ["Berlin", "Remote"])
    assert profile.get_preferences(conn)["locations"] == ["Berlin", "Remote"]
    conn.close()


def test_settings_are_validated(engine, tmp_path):
    with pytest.raises(SettingsError):
        engine.update_settings({"retention_days": 0})
    with pytest.raises(SettingsError, match="does not exist"):
        engine.update_settings({"backup_dir": str(tmp_path / "nope")})
    with pytest.raises(SettingsError, match="inside the data folder"):
        (engine.data.root / "sub").mkdir()
        engine.update_settings({"backup_dir": str(engine.data.root / "sub")})
    with pytest.raises(SettingsError, match="full path"):
        engine.update_settings({"backup_dir": "relative/dir"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    s = engine.update_settings({"backup_dir": str(elsewhere), "retention_days": 7})
    assert s.retention_days == 7
    assert engine.create_backup().path.startswith(str(elsewhere))


def test_settings_from_the_command_line(engine, tmp_path):
    r = run_cli("settings", "--retention-days", "10", "--auto-backup-hours", "0", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["retention_days"] == 10
    assert "off" in run_cli("settings", data_dir=engine.data.root).stdout
    r = run_cli("settings", "--retention-days", "-1", data_dir=engine.data.root)
    assert r.returncode == 2 and "--retention-days" in r.stderr and "retention_days" not in r.stderr


def test_the_interval_in_minutes_and_the_old_hours_option(engine):
    d = engine.data.root
    r = run_cli("settings", "--auto-backup-minutes", "45", "--json", data_dir=d)
    assert r.returncode == 0 and json.loads(r.stdout)["auto_backup_minutes"] == 45
    assert "every 45 minutes while JobMatcher runs" in run_cli("settings", data_dir=d).stdout
    r = run_cli("settings", "--auto-backup-hours", "6", "--json", data_dir=d)
    assert r.returncode == 0 and json.loads(r.stdout)["auto_backup_minutes"] == 360
    r = run_cli("settings", "--auto-backup-minutes", "5", "--auto-backup-hours", "1", data_dir=d)
    assert r.returncode == 2 and "not both" in r.stderr  # a usage error
    assert engine.settings.auto_backup_minutes == 360  # a refused change changes nothing


@pytest.mark.parametrize("stored, minutes", [(24, 1440), (0, 0), (0.25, 15), (0.001, 1), (24 * 365, 10080)])
def test_a_stored_hours_setting_is_carried_over_in_minutes(engine, stored, minutes):
    engine.data.settings_path.write_text(json.dumps({"auto_backup_hours": stored, "retention_days": 12}))
    s = engine.settings
    assert (s.auto_backup_minutes, s.retention_days) == (minutes, 12)
    engine.update_settings({"retention_days": 13})
    saved = json.loads(engine.data.settings_path.read_text())
    assert saved["auto_backup_minutes"] == minutes and "auto_backup_hours" not in saved


@pytest.mark.parametrize("stored", ["1e308", "1e400", "1" + "0" * 400])
def test_a_huge_stored_hours_setting_is_seven_days_for_every_command(engine, stored):
    """Finding U7: `auto_backup_hours` of 1e308 (or a 400-digit integer) crashed every command with
    OverflowError, the app's launch (`db migrate`) and the `settings` command that could repair it included."""
    d = engine.data.root
    engine.data.settings_path.write_text('{"auto_backup_hours": %s}' % stored)
    for cmd in (("backup", "create"), ("backup", "list"), ("status",), ("db", "migrate"), ("settings",)):
        r = run_cli(*cmd, data_dir=d)
        assert r.returncode == 0 and "unexpected" not in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
    r = run_cli("settings", "--auto-backup-minutes", "30", "--json", data_dir=d)
    assert r.returncode == 0 and json.loads(r.stdout)["auto_backup_minutes"] == 30, r.stderr
    engine.data.settings_path.write_text('{"auto_backup_hours": %s}' % stored)
    engine._settings_cache = None
    assert engine.settings.auto_backup_minutes == 7 * 24 * 60


@pytest.mark.parametrize("stored", ['"nope"', "null", "[1]", "-1e400"])
def test_a_stored_hours_setting_that_is_no_number_is_a_damaged_file_in_plain_words(engine, stored):
    """Finding U7: null or a list crashed (a TypeError); a word was refused in pydantic's internals."""
    engine.data.settings_path.write_text('{"auto_backup_hours": %s}' % stored)
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 1 and "settings file" in r.stderr and "damaged" in r.stderr, r.stderr
    assert "auto_backup_hours" in r.stderr
    for internal in ("Traceback", "unexpected", "pydantic", "validation error for", "input_value", "type=", "None"):
        assert internal not in r.stderr, (internal, r.stderr)


def test_a_damaged_settings_file_is_a_clear_error(engine):
    engine.data.settings_path.write_text("{not json")
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 1 and "settings file" in r.stderr and "Traceback" not in r.stderr


def test_settings_are_read_once_and_again_only_when_the_file_changed(engine, monkeypatch):
    """Engine.settings does not re-read settings.json on every access, yet sees another process's change."""
    import os

    from jobmatcher import settings

    reads = []
    real = settings.load_settings  # DataDir.settings() imports it at each call (`backup list` reads without it)
    monkeypatch.setattr(settings, "load_settings", lambda path: (reads.append(path), real(path))[1])
    engine.update_settings({"retention_days": 11})
    first = len(reads)
    for _ in range(20):
        assert engine.settings.retention_days == 11
        assert engine.store.folder == engine.data.root / "backups"  # follows the settings, not re-reading them
    assert len(reads) - first <= 1
    copy = engine.settings
    copy.retention_days = 99  # a copy: changing it changes nothing
    assert engine.settings.retention_days == 11
    # another process replaces the file (as `jobmatcher settings` does while the app runs)
    r = run_cli("settings", "--retention-days", "12", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert engine.settings.retention_days == 12
    os.utime(engine.data.settings_path)  # touched, same content: read again, same answer
    assert engine.settings.retention_days == 12
