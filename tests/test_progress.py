"""The one progress contract (progress.py), held by every real producer: each report names its unit."""

from __future__ import annotations

from pathlib import Path

from conftest import LOCATION_PASSPHRASE as PASS
from jobmatcher import progress as progress_module
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.recovery import restore_from_location
from jobmatcher.locations.remote import list_remote
from jobmatcher.progress import UNITS


class Recorder:
    """A Progress that checks every report against the contract and keeps them."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, int, int | None, str]] = []

    def __call__(self, phase: str, done: int, total: int | None, unit: str) -> None:
        assert unit in UNITS, (phase, unit)
        assert isinstance(done, int) and done >= 0, (phase, done)
        if total is None:
            assert unit == "steps" and done == 0, (phase, done, unit)  # only a step starts without a measure
        else:
            assert isinstance(total, int) and 0 <= done <= max(total, 1), (phase, done, total)
        self.reports.append((phase, done, total, unit))

    def units(self) -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for phase, _d, _t, unit in self.reports:
            seen.setdefault(phase, set()).add(unit)
        return seen


def test_the_contract_is_defined_once_with_no_table_on_the_side():
    assert not hasattr(progress_module, "unit_of")
    assert set(UNITS) >= {"bytes", "pages", "backups", "steps"}
    text = "\n".join(p.read_text() for p in Path(progress_module.__file__).parent.rglob("*.py"))
    assert text.count("class Progress(") == 1 and "Callable[[str, int, int]" not in text


def test_backup_restore_and_migrate_name_their_units(engine):
    rec = Recorder()
    made = engine.create_backup(progress=rec)
    assert rec.units() == {"copy": {"pages"}, "verify": {"steps"}}
    assert rec.reports[-2:] == [("verify", 0, None, "steps"), ("verify", 1, 1, "steps")]

    rec = Recorder()
    engine.restore(made.id, progress=rec)
    units = rec.units()
    assert units["copy"] == {"bytes"} and units["check"] == {"steps"} and units["swap"] == {"steps"}, units
    copies = [r for r in rec.reports if r[0] == "copy"]
    assert copies[-1][1] == copies[-1][2] == Path(made.path).stat().st_size  # all of the file's bytes


def test_a_restore_with_a_copied_safety_backup_reports_it_in_pages(engine, tmpfs):
    engine.update_settings({"backup_dir": str(tmpfs(20_000))})  # another file system: no hard link, a copy
    made = engine.create_backup()
    rec = Recorder()
    engine.restore(made.id, progress=rec)
    units = rec.units()
    assert units["safety"] == {"pages"} and units["safety-verify"] == {"steps"} and units["copy"] == {"bytes"}


def test_location_sync_and_restore_name_their_units(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("JOBMATCHER_CREDENTIALS", "file")
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.create_backup()
    engine.create_backup(note="second")
    rec = Recorder()
    [r] = engine.locations.sync(progress=rec)
    assert len(r.copied) == 2 and not r.error
    assert rec.units() == {"backup": {"backups"}, "copy": {"bytes"}}
    assert [(d, t) for p, d, t, _u in rec.reports if p == "backup"] == [(0, 2), (1, 2), (2, 2)]

    fresh = Engine(tmp_path / "new-machine")
    client = FolderLocation(usb)
    remote = list_remote(client)[0]
    rec = Recorder()
    restore_from_location(fresh, client, remote.id, PASS, progress=rec)
    units = rec.units()
    assert units["download"] == {"bytes"} and units["decrypt"] == {"bytes"} and units["copy"] == {"bytes"}, units


def test_moving_backups_counts_backups(engine, tmp_path):
    engine.create_backup()
    engine.create_backup()
    (tmp_path / "elsewhere").mkdir()
    engine.update_settings({"backup_dir": str(tmp_path / "elsewhere")})
    [old] = engine.settings.previous_backup_dirs
    rec = Recorder()
    out = engine.move_previous_backups(old, progress=rec)
    assert len(out["moved"]) == 2
    assert rec.units() == {"move": {"backups"}} and rec.reports[-1] == ("move", 2, 2, "backups")


def test_a_schema_update_at_launch_is_a_step(tmp_path):
    rec = Recorder()
    Engine(tmp_path / "data").migrate(progress=rec)  # a new folder: no backup to make, the update only
    assert rec.reports == [("migrate", 0, None, "steps"), ("migrate", 1, 1, "steps")]
