"""Each folder has one role: a data folder, a backup folder or a backup location never lies inside another.

Findings G5 (a location's folder chosen as the backup folder: the local clean-up deleted the location's
manifests as leftovers, and the copier overwrote a new backup's manifest) and G13 (`--data-dir
<data>/backups` made a database in the backup folder, after which every backup and restore of the real
data was refused, with a hint pointing at the very folder at fault). Real data folders, the real command
line in subprocesses, real copies to a folder location.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import file_tree, fingerprint, run_cli
from jobmatcher.locations.manager import folder_id_of

pytestmark = pytest.mark.usefixtures("file_credentials")


@pytest.fixture
def located(engine, tmp_path):
    """A data folder with one backup copied to an unencrypted folder location; (engine, location folder, copies)."""
    usb = tmp_path / "usb"
    usb.mkdir()
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    engine.create_backup(note="first")
    r = run_cli("location", "sync", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    copies = usb / "JobMatcher" / folder_id_of(engine.data)
    assert list(copies.glob("backup_*.json")), sorted(p.name for p in usb.rglob("*"))
    return engine, usb, copies


@pytest.mark.parametrize("which", ["copies", "top", "inside"])
def test_a_locations_folder_is_refused_as_the_backup_folder(located, which):
    engine, usb, copies = located
    target = {"copies": copies, "top": usb, "inside": usb / "JobMatcher"}[which]
    before = file_tree(usb)
    live = fingerprint(engine.data.db_path)
    r = run_cli("settings", "--backup-dir", str(target), data_dir=engine.data.root)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "backup location" in r.stderr and "Traceback" not in r.stderr
    assert file_tree(usb) == before
    assert fingerprint(engine.data.db_path) == live
    # and the backups still go where they went: the backup folder, and the location only as its copy (made by
    # the background copy `backup create` starts; run_cli waits for it)
    made = run_cli("--json", "backup", "create", data_dir=engine.data.root)
    assert made.returncode == 0, made.stderr
    new_id = json.loads(made.stdout)["id"]
    assert (engine.store.folder / f"{new_id}.db").is_file()
    after = file_tree(usb)
    rel = copies.relative_to(usb)
    assert {k for k in after if k not in before} == {f"{rel}/{new_id}.db", f"{rel}/{new_id}.json"}
    assert all(after[k] == v for k, v in before.items() if k.endswith(".db"))


def test_the_local_clean_up_never_deletes_a_locations_manifest(located):
    """A location's manifest that ends up in the backup folder (copied there by hand, or by a sync tool)
    describes a copy whose data is elsewhere: it is not a leftover of an interrupted local backup."""
    engine, _usb, copies = located
    [manifest] = sorted(copies.glob("backup_*.json"))
    stray = engine.store.folder / "backup_2001-01-01_00-00-00.json"
    shutil.copyfile(manifest, stray)
    assert "stored_sha256" in json.loads(stray.read_text())
    engine.create_backup(note="second")  # runs the clean-up of leftovers
    assert stray.exists()


@pytest.mark.parametrize(
    "where",
    ["default backups", "inside the data folder", "the location", "inside the location", "a backup folder"],
)
def test_a_data_folder_inside_another_role_is_refused(located, tmp_path, where):
    engine, usb, _copies = located
    chosen = tmp_path / "chosen-backups"
    chosen.mkdir()
    if where == "a backup folder":
        assert run_cli("settings", "--backup-dir", str(chosen), data_dir=engine.data.root).returncode == 0
        assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0
        assert run_cli("location", "sync", data_dir=engine.data.root).returncode == 0  # the copy done, not under way
    target = {
        "default backups": engine.data.root / "backups",
        "inside the data folder": engine.data.root / "sub",
        "the location": usb,
        "inside the location": usb / "JobMatcher" / "mine",
        "a backup folder": chosen,
    }[where]
    before = fingerprint(engine.data.db_path), file_tree(engine.store.folder), file_tree(usb)
    r = run_cli("db", "migrate", data_dir=target)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "The data folder" in r.stderr and "Traceback" not in r.stderr
    assert not (target / "jobmatcher.db").exists()
    assert (fingerprint(engine.data.db_path), file_tree(engine.store.folder), file_tree(usb)) == before
    assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0


def test_a_stray_database_in_the_default_backup_folder_is_named_with_the_way_out(engine):
    """Made by an older version (which let `--data-dir <data>/backups` create it): the refusal names the
    stray file and says to move it, not "choose the default folder", which is where it is."""
    engine.create_backup()
    stray = engine.data.root / "backups" / "jobmatcher.db"
    shutil.copyfile(engine.data.db_path, stray)
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 1
    assert f"Move {stray}" in r.stderr, r.stderr
    assert '--backup-dir ""' not in r.stderr
    stray.unlink()
    assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0


def test_a_special_file_of_the_system_is_not_called_empty(engine):
    """G20: /proc files report a size of 0 but are not empty files."""
    r = run_cli("backup", "show", "/proc/self/status", data_dir=engine.data.root)
    assert r.returncode == 1 and "special file of the system" in r.stderr, r.stderr


def test_a_default_backups_link_into_another_folders_backup_folder_adopts_nothing(engine, tmp_path):
    """G21: <K>/backups is a symlink to data folder A's chosen backup folder; A's backups without a data-folder
    id (older versions' manifests) are not K's: listed as another data folder's, never counted or pruned."""
    import json

    from conftest import run_cli

    chosen = tmp_path / "chosen"
    chosen.mkdir()
    engine.update_settings({"backup_dir": str(chosen)})
    b = engine.create_backup()
    m = json.loads((chosen / f"{b.id}.json").read_text())
    m.pop("data_folder_id", None)  # as an older version wrote it
    (chosen / f"{b.id}.json").write_text(json.dumps(m))
    k = tmp_path / "k"
    k.mkdir(mode=0o700)
    (k / "backups").symlink_to(chosen)
    assert run_cli("db", "migrate", data_dir=k).returncode == 0
    listed = json.loads(run_cli("backup", "list", "--json", data_dir=k).stdout)
    assert [r["owned"] for r in listed if r["id"] == b.id] == [False], listed
    health = json.loads(run_cli("status", "--json", data_dir=k).stdout)
    assert health["last"] is None, health  # a brand-new data folder: no backup of its own
    plan = json.loads(run_cli("backup", "prune", "--dry-run", "--json", data_dir=k).stdout)
    assert b.id not in [d["id"] for d in plan.get("deleted", plan.get("would_delete", []))]


@pytest.mark.parametrize("case", ["contains my backup folder", "is another's backup folder", "inside my backup folder"])
def test_a_location_never_shares_its_place_with_a_backup_folder(engine, tmp_path, case):
    """Finding H4 (the reverse of G5): a location added around, on or inside a backup folder wrote its
    marker there, and from then on every backup and restore of that backup folder's data was refused."""
    usb = tmp_path / "usb"
    mine = usb / "inner"
    mine.mkdir(parents=True)
    assert run_cli("settings", "--backup-dir", str(mine), data_dir=engine.data.root).returncode == 0
    assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0
    other = tmp_path / "other-data"
    theirs = tmp_path / "their-backups"
    theirs.mkdir()
    if case == "is another's backup folder":
        assert run_cli("settings", "--backup-dir", str(theirs), data_dir=other).returncode == 0
        assert run_cli("db", "migrate", data_dir=other).returncode == 0
        assert run_cli("backup", "create", data_dir=other).returncode == 0
    target = {
        "contains my backup folder": usb,
        "is another's backup folder": theirs,
        "inside my backup folder": mine / "sub",
    }[case]
    target.mkdir(exist_ok=True)
    r = run_cli("location", "add", "folder", str(target), "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "backup folder" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.rglob(".jobmatcher-location"))
    assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0
    if case == "is another's backup folder":
        assert run_cli("backup", "create", data_dir=other).returncode == 0


def test_a_listed_backup_named_by_its_path_is_held_to_its_manifest(engine):
    """Finding H7: by its id a changed backup is refused; by its path it was called sound and restored."""
    b = engine.create_backup(note="changed later")
    path = Path(b.path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x20  # one byte inside the last page: the file still opens
    path.write_bytes(bytes(data))
    live = fingerprint(engine.data.db_path)
    for cmd in (["backup", "verify", str(path)], ["backup", "restore", str(path), "--yes"]):
        r = run_cli(*cmd, data_dir=engine.data.root)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert "changed since it was made" in r.stderr, r.stderr
    assert fingerprint(engine.data.db_path) == live
    # a copy elsewhere with its manifest beside it is held to that manifest too
    elsewhere = engine.data.root.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(path, elsewhere / path.name)
    shutil.copyfile(path.with_suffix(".json"), elsewhere / path.with_suffix(".json").name)
    r = run_cli("backup", "verify", str(elsewhere / path.name), data_dir=engine.data.root)
    assert r.returncode == 1 and "changed since it was made" in r.stderr, r.stderr


def test_a_manifest_whose_sha256_disagrees_fails_verify_and_stops_no_location(engine, tmp_path):
    """Finding H6: with a wrong SHA-256 but the right BLAKE3 in its manifest, verify called the backup sound
    (it compared BLAKE3 only), and the location's read-back blamed the drive and stopped every copy."""
    first = engine.create_backup(note="edited manifest")
    second = engine.create_backup(note="fine")
    mpath = Path(first.path).with_suffix(".json")
    m = json.loads(mpath.read_text())
    assert m.get("blake3"), "new manifests record BLAKE3 beside SHA-256"
    m["sha256"] = "0" * 64
    mpath.write_text(json.dumps(m))
    usb = tmp_path / "usb"
    usb.mkdir()
    assert run_cli("location", "add", "folder", str(usb), "--no-encrypt", data_dir=engine.data.root).returncode == 0
    r = run_cli("location", "sync", data_dir=engine.data.root)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"The backup {first.id} does not match the checksum its manifest records" in r.stderr + r.stdout
    assert "drive may be failing" not in r.stderr + r.stdout
    copies = usb / "JobMatcher" / folder_id_of(engine.data)
    assert (copies / f"{second.id}.db").exists() and not (copies / f"{first.id}.db").exists()
    r = run_cli("backup", "verify", first.id, data_dir=engine.data.root)
    assert r.returncode == 1 and "was changed since the backup was made" in r.stderr, (r.stdout, r.stderr)


@pytest.mark.parametrize("field", ["sha256", "blake3"])
def test_a_checksum_in_capitals_is_the_same_checksum(engine, tmp_path, field):
    """H6's addendum: a tool that rewrote a manifest with its hex in capitals made verify call a sound backup
    damaged (BLAKE3) or the location blame the drive (SHA-256)."""
    b = engine.create_backup()
    mpath = Path(b.path).with_suffix(".json")
    m = json.loads(mpath.read_text())
    m[field] = m[field].upper()
    mpath.write_text(json.dumps(m))
    r = run_cli("backup", "verify", b.id, data_dir=engine.data.root)
    assert r.returncode == 0, (r.stdout, r.stderr)
    usb = tmp_path / "usb"
    usb.mkdir()
    assert run_cli("location", "add", "folder", str(usb), "--no-encrypt", data_dir=engine.data.root).returncode == 0
    r = run_cli("location", "sync", data_dir=engine.data.root)
    assert r.returncode == 0, (r.stdout, r.stderr)
