"""Backup locations: the fresh tester's findings L3, L4, L16, L17, L23, L24 (FINDINGS6), each as it was seen.

Real parts: real data folders and backups, the real command line in subprocesses, real files damaged
as a torn write or a hand edit leaves them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import file_tree, run_cli
from jobmatcher.engine import Engine

pytestmark = pytest.mark.usefixtures("file_credentials")


# -- L23: a damaged locations.json stops every off-disk copy: health says so, red ------------------------------


def test_damaged_locations_file_makes_status_red(engine, usb):
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied and not r.error
    d = engine.data.root
    (d / "locations.json").write_text('{"garbage": 1')  # a torn write, a hand edit
    before = (d / "locations.json").read_bytes()

    r = run_cli("status", "--json", data_dir=d)
    assert r.returncode == 1, r.stdout + r.stderr
    h = json.loads(r.stdout)
    assert h["level"] == "error"
    [w] = [w for w in h["warnings"] if w["code"] == "locations-unreadable"]
    assert "copies off this disk have stopped" in w["message"] and "locations.json" in w["message"]
    assert "location list" in w["hint"] and "delete" in w["hint"]
    assert "stopped" in h["copies"]

    r = run_cli("status", data_dir=d)
    assert r.returncode == 1 and "copies off this disk have stopped" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    # the page's status (the same engine rule)
    h2 = Engine(d).health()
    assert h2.level == "error" and any(w.code == "locations-unreadable" for w in h2.warnings)
    assert (d / "locations.json").read_bytes() == before  # nothing rewritten


# -- L17: lowering retention (or enabling) a location that cannot be reached now still asks --------------------


def test_lowering_retention_of_an_unreachable_location_asks(engine, usb, tmp_path):
    from jobmatcher.errors import ConfirmationNeededError

    d = engine.data.root
    engine.create_backup()
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False, retention_days=60)
    assert engine.locations.sync()[0].copied
    marker = usb / ".jobmatcher-location"
    marker.rename(tmp_path / "marker")  # unplugged: the empty mount point left behind
    cfg_before = (d / "locations.json").read_bytes()
    copies_before = file_tree(usb)

    r = run_cli("location", "set", "USB", "--keep-days", "7", data_dir=d, input="")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "could not look at the copies" in r.stderr and "--yes" in r.stderr, r.stderr
    assert "7 days" in r.stderr and "Traceback" not in r.stderr
    assert (d / "locations.json").read_bytes() == cfg_before and file_tree(usb) == copies_before
    r = run_cli("location", "set", "USB", "--keep-days", "7", "--json", data_dir=d, input="")
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "confirmation-needed"
    # keeping more needs no question, reachable or not
    assert run_cli("location", "set", "USB", "--keep-days", "90", data_dir=d, input="").returncode == 0
    r = run_cli("location", "set", "USB", "--keep-days", "7", "--yes", data_dir=d, input="")
    assert r.returncode == 0 and engine.locations.get("USB").retention_days == 7, r.stderr

    # enabling one that cannot be counted asks too
    engine.locations.set_enabled("USB", False)
    with pytest.raises(ConfirmationNeededError) as e:
        engine.locations.set_enabled("USB", True)
    assert e.value.action == "delete-location-copies" and e.value.deletes is None
    assert engine.locations.get("USB").enabled is False
    assert engine.locations.set_enabled("USB", True, confirmed=True).enabled is True


# -- L24: a damaged key file in the data folder is said as such, never as the passphrase or the location --------


@pytest.mark.parametrize("damage", ["garbage", "cut short"])
def test_damaged_key_file_is_named_not_the_passphrase_nor_the_location(engine, usb, tmp_path, locked_identity, damage):
    from conftest import LOCATION_PASSPHRASE as PASS
    from conftest import prime

    prime(engine, locked_identity)
    d = engine.data.root
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.create_backup()
    assert engine.locations.sync()[0].copied
    key = d / "location-identity.age"
    good = key.read_bytes()
    key.write_bytes(b"garbage\n" if damage == "garbage" else good[:-10])  # bit rot, a torn write
    damaged = key.read_bytes()
    pw = tmp_path / "pw"
    pw.write_text(PASS)
    other = tmp_path / "usb8"
    other.mkdir()
    cfg_before = (d / "locations.json").read_bytes()

    r = run_cli("location", "add", "folder", str(other), "--passphrase-file", str(pw), data_dir=d, input="")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "location-identity.age in the data folder is damaged" in out, out
    assert "not it" not in out and "does not open" not in out and "Traceback" not in out
    assert (d / "locations.json").read_bytes() == cfg_before and list(other.iterdir()) == []

    engine.create_backup()
    copies = file_tree(usb)
    r = run_cli("location", "sync", data_dir=d, input="")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "location-identity.age in the data folder is damaged" in out, out
    assert "already holds another" not in out and "Restore from those copies" not in out
    assert file_tree(usb) == copies and key.read_bytes() == damaged  # nothing written there, nothing here

    key.write_bytes(good)  # put back: copies go on
    assert run_cli("location", "sync", data_dir=d, input="").returncode == 0


# -- L3, L4: a location never shares a place with backups or another location's copies ------------------------


def test_a_location_is_refused_at_inside_or_above_backups_and_inside_another_location(engine, usb, tmp_path):
    from jobmatcher.locations.manager import folder_id_of

    big = Engine(tmp_path / "big")  # another data folder, its default backup folder holding backups
    big.migrate()
    big.create_backup()
    big_backups = big.data.root / "backups"
    d = engine.data.root
    engine.locations.add("folder", path=str(usb), name="USB", encrypt=False)
    engine.create_backup()
    assert engine.locations.sync()[0].copied
    copies = usb / "JobMatcher" / folder_id_of(engine.data)
    assert copies.is_dir()
    holder = tmp_path / "holder"  # directly above a folder of backups
    holder.mkdir()
    shutil.copytree(big_backups, holder / "old-backups")

    def state(p: Path) -> dict[str, bytes]:
        return file_tree(p) if p.is_dir() else {}

    for place in (big_backups, big_backups / "sub", copies, usb / "JobMatcher", holder):
        if place.name == "sub":
            place.mkdir()
        before = (state(place), (d / "locations.json").read_bytes(), state(usb), state(big_backups))
        r = run_cli("location", "add", "folder", str(place), "--no-encrypt", data_dir=d, input="")
        out = r.stdout + r.stderr
        assert r.returncode == 1, (place, out)
        assert any(w in out for w in ("JobMatcher backup", "backup location", "the location 'USB'")), out
        assert "Traceback" not in out
        assert (state(place), (d / "locations.json").read_bytes(), state(usb), state(big_backups)) == before
    # the other data folder's backups go on as before
    r = run_cli("backup", "list", data_dir=big.data.root)
    assert r.returncode == 0, r.stderr


# -- L16: a folder location takes only its own marker, not any JobMatcher location's ---------------------------


def test_another_drive_at_the_same_place_is_not_taken_for_the_location(engine, tmp_path):
    d = engine.data.root
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    engine.locations.add("folder", path=str(mnt), name="tmpfs", encrypt=False)
    engine.create_backup()
    assert engine.locations.sync()[0].copied
    mnt.rename(tmp_path / "drive1")  # drive #1 unplugged; drive #2 mounted at the same place...
    mnt.mkdir()
    other = Engine(tmp_path / "big")  # ...and made a location by another data folder (its own marker)
    other.migrate()
    other.locations.add("folder", path=str(mnt), name="theirs", encrypt=False)
    before = file_tree(mnt)

    r = run_cli("location", "sync", "tmpfs", data_dir=d, input="")
    out = r.stdout + r.stderr
    assert "another JobMatcher location's marker" in out, out
    assert file_tree(mnt) == before  # nothing copied onto the other drive
    r = run_cli("location", "list", "--json", data_dir=d, input="")
    rows = json.loads(r.stdout)
    rows = rows.get("locations", rows) if isinstance(rows, dict) else rows
    [row] = [x for x in rows if x["name"] == "tmpfs"]
    assert row["reachable"] is False and "another JobMatcher location's marker" in row["problem"]

    mnt.rename(tmp_path / "drive2")  # drive #1 back: its copies go on
    (tmp_path / "drive1").rename(mnt)
    engine.create_backup()
    [res] = engine.locations.sync()
    assert res.copied and not res.error


def test_a_backup_folder_made_a_location_elsewhere_says_why(engine, tmp_path):
    """As an older JobMatcher let happen (L3): the victim's refusal names the cause, not only 'choose another'."""
    from jobmatcher.locations.folder import FolderLocation

    engine.create_backup()
    backups = engine.data.root / "backups"
    FolderLocation(backups).initialize()  # what another data folder's `location add` wrote there
    before = file_tree(backups)
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 1 and "another JobMatcher data folder" in r.stderr, r.stderr
    assert "remove that location there" in r.stderr and "Traceback" not in r.stderr
    assert file_tree(backups) == before
