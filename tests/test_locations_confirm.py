"""A location's retention deletes copies already there only with the user's yes (finding H22).

Every change of the user's that makes a location delete copies at once asks first, as `settings` does
for local backups: adding a location at a place that holds this data folder's earlier copies (a drive
added again), enabling a location whose copies aged while it was disabled, and shortening a location's
number of days. The command line refuses without --yes when there is no terminal (exit 1, nothing
touched, byte for byte); the page gets code "confirmation-needed" and calls again with `confirmed`.

Real parts: real data folders and backups, real folder locations holding real copies, the real command
line in subprocesses.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import file_tree, run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import ConfirmationNeededError
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import list_remote
from jobmatcher.manifest import read_manifest, write_manifest

pytestmark = pytest.mark.usefixtures("file_credentials")


def _age_backup(engine: Engine, backup_id: str, days: float) -> None:
    p = Path(engine.store.get(backup_id).path)
    m = read_manifest(p)
    m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
    write_manifest(p, m)
    from conftest_app import renumber_by_date

    renumber_by_date(p.parent)  # emulates time passing, not a clock that was behind


def _age_copies(usb: Path, days: float) -> None:
    """Time passes at the location: every copy there `days` older (its manifest's date)."""
    for m in usb.rglob("backup_*.json"):
        body = json.loads(m.read_text())
        body["created_at"] = (datetime.fromisoformat(body["created_at"]) - timedelta(days=days)).isoformat()
        m.write_text(json.dumps(body))


def _utc(engine: Engine, backup_id: str) -> str:
    return f"{engine.store.get(backup_id).created_at.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


@pytest.fixture
def earlier_copies(engine, usb) -> list[str]:
    """A data folder with 3 backups (made 3, 2 and 1 days ago: every day in use, so their days with backups are
    the calendar's, FINDINGS10 W2) whose copies are at `usb`, made by a location since removed (the copies stay
    there): the drive of finding H22, about to be added again."""
    d = engine.data.root
    ids = [engine.create_backup().id for _ in range(3)]
    for backup_id, days in zip(ids, (3, 2, 1), strict=True):
        _age_backup(engine, backup_id, days)
    r = run_cli("location", "add", "folder", str(usb), "--name", "lq", "--no-encrypt", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    r = run_cli("location", "sync", data_dir=d, input="")
    assert r.returncode == 0 and "copied 3" in r.stdout, r.stdout + r.stderr
    assert run_cli("location", "remove", "lq", "--yes", data_dir=d, input="").returncode == 0
    return ids


def test_adding_a_drive_again_asks_before_its_retention_deletes_the_copies_there(engine, usb, earlier_copies):
    d, ids = engine.data.root, earlier_copies
    before = file_tree(usb)
    config_before = (d / "locations.json").read_bytes()
    add = ("location", "add", "folder", str(usb), "--name", "lq1", "--keep-days", "1", "--no-encrypt")

    r = run_cli(*add, data_dir=d, input="")  # not a terminal, no --yes: refused
    assert r.returncode == 1, r.stdout + r.stderr
    assert "holds 3 copies" in r.stderr and "deletes 2 of them" in r.stderr, r.stderr
    assert _utc(engine, ids[0]) in r.stderr and _utc(engine, ids[1]) in r.stderr
    assert _utc(engine, ids[2]) not in r.stderr
    assert "--yes" in r.stderr and "Traceback" not in r.stderr
    assert file_tree(usb) == before  # nothing deleted or written there, byte for byte
    assert (d / "locations.json").read_bytes() == config_before  # nothing added
    r = run_cli("location", "sync", data_dir=d, input="")
    assert r.returncode == 0 and file_tree(usb) == before

    r = run_cli(*add, "--json", data_dir=d, input="")
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "confirmation-needed"
    assert file_tree(usb) == before

    r = run_cli(*add, "--yes", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    r = run_cli("location", "sync", data_dir=d, input="")
    assert r.returncode == 0 and "removed 2 old" in r.stdout, r.stdout + r.stderr
    fid = folder_id_of(engine.data)
    assert [x.id for x in list_remote(FolderLocation(usb), fid)] == [ids[2]]  # deleted as said, and only those


def test_a_retention_that_keeps_every_copy_there_is_added_without_a_question(engine, usb, earlier_copies):
    r = run_cli("location", "add", "folder", str(usb), "--keep-days", "30", "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert not engine.locations.sync()[0].deleted


def test_the_library_counts_what_the_first_sync_deletes(engine, usb, earlier_copies):
    ids = earlier_copies
    before = file_tree(usb)
    with pytest.raises(ConfirmationNeededError) as e:
        engine.locations.add("folder", path=str(usb), encrypt=False, retention_days=1)
    assert e.value.action == "delete-location-copies" and e.value.code == "confirmation-needed"
    assert (e.value.deletes, e.value.total, e.value.copies) == (2, 3, ids[:2])
    assert file_tree(usb) == before and engine.locations.config().locations == []
    assert engine.locations.add("folder", path=str(usb), encrypt=False, retention_days=1, confirmed=True)
    assert sorted(engine.locations.sync()[0].deleted) == sorted(ids[:2])


def test_enabling_a_location_whose_copies_aged_meanwhile_asks_first(engine, usb, tmp_path):
    d = engine.data.root
    ids = [engine.create_backup().id for _ in range(3)]
    _age_backup(engine, ids[0], 2)
    _age_backup(engine, ids[1], 1)
    assert (
        run_cli(
            "location", "add", "folder", str(usb), "--name", "USB", "--no-encrypt", "--keep-days", "2", data_dir=d
        ).returncode
        == 0
    )
    assert engine.locations.sync()[0].copied == ids[::-1]  # newest first (FINDINGS20 4)
    assert run_cli("location", "disable", "USB", data_dir=d).returncode == 0
    # two days pass, locally and at the location, with a backup made on each (W2: days without backups do not
    # age backups, as a clock set ahead must not)
    for backup_id, days in zip(ids, (4, 3, 2), strict=True):
        _age_backup(engine, backup_id, days)
    _age_copies(usb, 2)
    _age_backup(engine, engine.create_backup().id, 1)
    engine.create_backup()
    before = file_tree(usb)

    r = run_cli("location", "enable", "USB", data_dir=d, input="")
    assert r.returncode == 1 and "deletes 2 of the 3 copies" in r.stderr and "--yes" in r.stderr, r.stderr
    assert file_tree(usb) == before
    assert engine.locations.get("USB").enabled is False
    r = run_cli("location", "enable", "USB", "--yes", data_dir=d, input="")
    assert r.returncode == 0 and engine.locations.get("USB").enabled is True, r.stderr
    assert sorted(engine.locations.sync()[0].deleted) == sorted(ids[:2])


def test_an_unreachable_location_is_enabled_only_when_confirmed(engine, usb):
    engine.create_backup()
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    engine.locations.set_enabled("USB", False)
    (usb / ".jobmatcher-location").unlink()  # unplugged: the empty folder left behind
    with pytest.raises(ConfirmationNeededError) as e:  # its copies cannot be counted: asked all the same (L17)
        engine.locations.set_enabled("USB", True)
    assert "could not look at the copies" in e.value.message and e.value.deletes is None
    assert engine.locations.set_enabled("USB", True, confirmed=True).enabled is True


def test_shortening_a_locations_days_asks_first(engine, usb):
    d = engine.data.root
    ids = [engine.create_backup().id for _ in range(3)]
    _age_backup(engine, ids[0], 2)  # every day in use (W2: days without backups do not age backups)
    _age_backup(engine, ids[1], 1)
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    assert engine.locations.sync()[0].copied == ids[::-1]  # newest first (FINDINGS20 4)
    before = file_tree(usb)
    r = run_cli("location", "set", "USB", "--keep-days", "60", data_dir=d, input="")
    assert r.returncode == 0 and "manual copies for 60 days (tiered)." in r.stdout, (
        r.stderr
    )  # keeps more: nothing to ask
    r = run_cli("location", "set", "USB", "--keep-days", "1", data_dir=d, input="")
    assert r.returncode == 1 and "deletes 1 of the 3 copies" in r.stderr and "--yes" in r.stderr, r.stderr
    assert _utc(engine, ids[0]) in r.stderr and "Traceback" not in r.stderr
    assert engine.locations.get("USB").retention_days == 60 and file_tree(usb) == before
    with pytest.raises(ConfirmationNeededError) as e:
        engine.locations.set_retention("USB", 1)
    assert (e.value.deletes, e.value.total, e.value.copies) == (1, 3, ids[:1])
    assert run_cli("location", "set", "USB", "--keep-days", "0", data_dir=d, input="").returncode == 2
    r = run_cli("location", "set", "USB", "--keep-days", "1", "--yes", data_dir=d, input="")
    assert r.returncode == 0 and engine.locations.get("USB").retention_days == 1, r.stderr
    assert engine.locations.sync()[0].deleted == ids[:1]


def test_the_page_gets_the_question_and_confirms(engine, usb, earlier_copies):
    """The page's calls through the same dispatch the window and browser mode use."""
    from jobmatcher.api import Api

    ids = earlier_copies
    before = file_tree(usb)
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:

        def call(name, *args):
            return api._dispatch(name, list(args))

        r = call("add_folder_location", str(usb), "USB", False, "", 0)
        assert not r["ok"] and r["error"]["code"] == "invalid-input", r  # 1 to 36,500 days, checked
        r = call("add_folder_location", str(usb), "USB", False, "", 1)
        assert not r["ok"] and r["error"]["code"] == "confirmation-needed", r
        err = r["error"]
        assert err["action"] == "delete-location-copies" and err["deletes"] == 2 and err["total"] == 3
        assert "--yes" not in err["hint"] and "Confirm" in err["hint"]
        assert file_tree(usb) == before and call("locations_overview")["value"]["locations"] == []
        r = call("add_folder_location", str(usb), "USB", False, "", 1, True)
        assert r["ok"], r
        [row] = call("locations_overview")["value"]["locations"]
        assert row["retention_days"] == 1
        fid = folder_id_of(engine.data)
        engine.locations.sync("USB")  # (or the app's copier, kicked by the add: the same deletion)
        assert [x.id for x in list_remote(FolderLocation(usb), fid)] == [ids[2]]
        new = engine.create_backup().id
        engine.locations.sync("USB")
        assert [x.id for x in list_remote(FolderLocation(usb), fid)] == [new, ids[2]]

        assert call("set_location_enabled", "USB", False)["ok"]
        # two days pass, here and there, with a backup made on each (W2: days without backups age nothing)
        for backup_id, days in zip([*ids, new], (5, 4, 3, 2), strict=True):
            _age_backup(engine, backup_id, days)
        _age_copies(usb, 2)
        _age_backup(engine, engine.create_backup().id, 1)
        engine.create_backup()
        r = call("set_location_enabled", "USB", True)
        assert not r["ok"] and r["error"]["code"] == "confirmation-needed" and r["error"]["deletes"] == 2, r
        assert engine.locations.get("USB").enabled is False
        assert call("set_location_enabled", "USB", True, True)["ok"]

    finally:
        api._close()


def test_the_page_changes_the_days_with_the_same_question(engine, usb):
    from jobmatcher.api import Api

    ids = [engine.create_backup().id for _ in range(3)]
    _age_backup(engine, ids[0], 2)  # every day in use (W2: days without backups do not age backups)
    _age_backup(engine, ids[1], 1)
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    assert engine.locations.sync()[0].copied == ids[::-1]  # newest first (FINDINGS20 4)
    before = file_tree(usb)
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:

        def call(name, *args):
            return api._dispatch(name, list(args))

        assert call("set_location_retention", "USB", 0)["error"]["code"] == "invalid-input"
        assert call("set_location_retention", "USB", 60)["value"]["retention_days"] == 60
        r = call("set_location_retention", "USB", 1)
        assert not r["ok"] and r["error"]["code"] == "confirmation-needed" and r["error"]["copies"] == ids[:1], r
        assert "Confirm" in r["error"]["hint"] and "--yes" not in r["error"]["hint"]
        assert engine.locations.get("USB").retention_days == 60 and file_tree(usb) == before
        assert call("set_location_retention", "USB", 1, True)["value"]["retention_days"] == 1
    finally:
        api._close()


def test_on_a_terminal_the_question_is_asked_and_no_changes_nothing(engine, usb, earlier_copies):
    from test_cli_ux import Terminal

    d, ids = engine.data.root, earlier_copies
    before = file_tree(usb)
    add = ("location", "add", "folder", str(usb), "--name", "lq1", "--keep-days", "1", "--no-encrypt")
    t = Terminal(*add, data_dir=d)
    t.read_until(r"\[y/N\]")
    assert "deletes 2 of them" in t.text and "Add it and delete those copies? [y/N]" in t.text, t.text
    t.type("n")
    assert t.wait() == 1 and "Nothing was changed" in t.text, t.text
    assert file_tree(usb) == before and engine.locations.config().locations == []

    t = Terminal(*add, data_dir=d)
    t.read_until(r"\[y/N\]")
    t.type("y")
    assert t.wait() == 0 and "Added the backup location 'lq1'" in t.text, t.text
    assert sorted(engine.locations.sync()[0].deleted) == sorted(ids[:2])


def test_encrypted_copies_made_there_earlier_are_counted_too(engine, usb, locked_identity):
    from conftest import prime

    prime(engine, locked_identity)
    ids = [engine.create_backup().id for _ in range(3)]
    _age_backup(engine, ids[0], 2)  # every day in use (W2: days without backups do not age backups)
    _age_backup(engine, ids[1], 1)
    engine.locations.add("folder", path=str(usb), name="USB")
    assert engine.locations.sync()[0].copied == ids[::-1]  # newest first (FINDINGS20 4)
    engine.locations.remove("USB")
    before = file_tree(usb)
    with pytest.raises(ConfirmationNeededError) as e:
        engine.locations.add("folder", path=str(usb), name="USB", retention_days=1)
    assert (e.value.deletes, e.value.total, e.value.copies) == (1, 3, ids[:1])
    assert file_tree(usb) == before
    # a plain location there prunes the encrypted copies too (as its sync does): it asks the same
    with pytest.raises(ConfirmationNeededError):
        engine.locations.add("folder", path=str(usb), name="USB", encrypt=False, retention_days=1)
    engine.locations.add("folder", path=str(usb), name="USB", retention_days=1, confirmed=True)
    assert engine.locations.sync()[0].deleted == ids[:1]
