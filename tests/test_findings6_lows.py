"""The fresh tester's low findings on backup locations (FINDINGS6: L1, L7, L15, L20, L21, L25, L26...), each as
it was seen, through the real command line in subprocesses.

Real parts: real data folders, backups and folder locations, copies planted or edited as anyone who can
write into a location can.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE, fill_sample_data, fingerprint, prime, run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.manager import folder_id_of

pytestmark = pytest.mark.usefixtures("file_credentials")


def _pw(tmp_path: Path) -> Path:
    pw = tmp_path / "pw"
    pw.write_text(LOCATION_PASSPHRASE + "\n")
    return pw


def _plant_plain(ns: Path, backup_id: str, db: Path, sequence: int) -> None:
    """A plain database under a copy's name with a manifest that matches it (what a writer to the location can do)."""
    data = db.read_bytes()
    (ns / f"{backup_id}.db").write_bytes(data)
    h = hashlib.sha256(data).hexdigest()
    m = {
        "format": 1,
        "created_at": "2026-12-01T00:00:00Z",
        "type": "manual",
        "size_bytes": len(data),
        "sha256": h,
        "stored_size": len(data),
        "stored_sha256": h,
        "encrypted": False,
        "schema_revision": None,
        "sequence": sequence,
    }
    (ns / f"{backup_id}.json").write_text(json.dumps(m))


def _mallory(tmp_path: Path) -> Path:
    e = Engine(tmp_path / "mallory")
    e.migrate()
    fill_sample_data(e, name="Mallory")
    return Path(e.create_backup().path)


# -- L1: a plain copy beside this data folder's encrypted copies is refused, also without identity.age -------


def test_a_planted_plain_copy_is_refused_beside_encrypted_copies_without_the_key_file(
    engine, usb, tmp_path, quick_identity
):
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=LOCATION_PASSPHRASE)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied and not r.error
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    planted = "backup_2026-12-01_00-00-00"
    _plant_plain(ns, planted, _mallory(tmp_path), sequence=99)
    (ns / "identity.age").rename(tmp_path / "identity.age.moved")  # the key file taken away too
    assert list(ns.glob("*.db.age"))  # its encrypted neighbours are still there

    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "look")
    assert r.returncode == 0, r.stderr
    [line] = [x for x in r.stdout.splitlines() if planted in x]
    assert "NO: not made by JobMatcher" in line, r.stdout
    pw = _pw(tmp_path)
    for extra in ([], ["--passphrase-file", str(pw)]):
        fresh = tmp_path / f"fresh{len(extra)}"
        r = run_cli("backup", "restore", planted, "--from-folder", str(usb), *extra, "--yes", data_dir=fresh)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "is not encrypted, although this data folder's copies there are" in r.stderr
        assert "Traceback" not in r.stderr
        assert not (fresh / "jobmatcher.db").exists()


def test_one_listing_says_whose_copies_are_encrypted_for_the_page_and_the_list(engine, usb, tmp_path, quick_identity):
    """remote_listing answers from its one listing what encrypted_there answers for each data folder with a
    listing of its own: the page's list (Restore from a backup location) and `backup list --from-folder` mark the
    plain copy planted beside encrypted copies, and nothing of another data folder whose copies are all plain."""
    from jobmatcher.api import Api
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import encrypted_there, remote_listing

    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=LOCATION_PASSPHRASE)
    real = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied and not r.error
    fid = folder_id_of(engine.data)
    planted, plain = "backup_2026-12-01_00-00-00", "backup_2026-11-30_00-00-00"
    other = "0123456789abcdef0123456789abcdef"  # another data folder, whose copies there are plain
    (usb / "JobMatcher" / other).mkdir()
    mallory = _mallory(tmp_path)
    _plant_plain(usb / "JobMatcher" / fid, planted, mallory, sequence=99)
    _plant_plain(usb / "JobMatcher" / other, plain, mallory, sequence=1)

    client = FolderLocation(usb)
    items, encrypted = remote_listing(client)
    assert {r.id: r.folder_id for r in items} == {real.id: fid, planted: fid, plain: other}
    assert encrypted == {f for f in (fid, other) if encrypted_there(client, f)} == {fid}
    assert remote_listing(client, other) == ([r for r in items if r.folder_id == other], set())

    api = Api(Engine(tmp_path / "look"), mode="browser")
    try:
        r = api._dispatch("remote_backups", [{"kind": "folder", "path": str(usb)}])
    finally:
        api._close()
    assert r["ok"], r
    assert {b["id"]: b["not_ours"] for b in r["value"]["backups"]} == {real.id: False, planted: True, plain: False}
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "look2")
    assert r.returncode == 0, r.stderr
    marks = {x.split()[0]: "NO: not made by JobMatcher" in x for x in r.stdout.splitlines()[1:]}
    assert marks == {real.id: False, planted: True, plain: False}, r.stdout


# -- L26: a plain location restores with a passphrase given by habit; nobody is accused of tampering --------


def test_a_plain_location_restores_with_a_passphrase_given_by_habit(engine, usb, tmp_path):
    engine.locations.add("folder", path=str(usb), name="plain", encrypt=False)
    b = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied and not r.error
    fresh = tmp_path / "fresh"
    r = run_cli(
        "backup", "restore", b.id, "--from-folder", str(usb), "--passphrase-file", str(_pw(tmp_path)), "--yes",
        data_dir=fresh,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "not encrypted" in r.stderr and "passphrase is not needed" in r.stderr
    assert "someone or something else" not in r.stderr and "Traceback" not in r.stderr
    assert "checksums and integrity verified" in r.stdout
    assert fingerprint(fresh / "jobmatcher.db")[1] == fingerprint(Path(b.path))[1]


# -- L25: an old backup folder given as --from-folder: said what it is, and how its backups are restored --------


def test_a_backup_folder_given_as_a_location_says_how_to_restore_from_it(engine, tmp_path):
    older = engine.create_backup()
    newest = engine.create_backup()
    folder = Path(newest.path).parent
    fresh = tmp_path / "fresh"
    r = run_cli("backup", "list", "--from-folder", str(folder), data_dir=fresh)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{folder} is a JobMatcher backup folder, not a backup location" in r.stderr
    assert f"jobmatcher --data-dir {fresh} backup restore {newest.path}" in r.stderr and "No copies" not in r.stdout
    r = run_cli("backup", "restore", older.id, "--from-folder", str(folder), "--yes", data_dir=fresh)
    assert r.returncode == 1 and f"jobmatcher --data-dir {fresh} backup restore {older.path}`" in r.stderr, r.stderr
    assert "There are no JobMatcher copies" not in r.stderr and "Traceback" not in r.stderr
    assert not fresh.exists()
    r = run_cli("backup", "list", "--from-folder", str(folder), "--json", data_dir=fresh)
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "backup-folder-not-location"
    # what it says works
    r = run_cli("backup", "restore", older.path, "--yes", data_dir=fresh)
    assert r.returncode == 0, r.stderr


# -- L21: names with text-direction marks: refused for new locations, an old one typed back as printed ----------


def test_location_names_are_typed_back_as_printed_and_new_ones_have_no_direction_marks(engine, usb, tmp_path):
    evil = "usb\u202eevil"
    r = run_cli("location", "add", "folder", str(usb), "--no-encrypt", "--name", evil, data_dir=engine.data_dir)
    assert r.returncode == 2, r.stdout + r.stderr  # a bad argument value: a usage error, as --keep-days 0 (L15)
    assert "usb\\u202eevil' cannot be a location name" in r.stderr and "text-direction" in r.stderr
    assert "\u202e" not in r.stderr and "\\\\u202e" not in r.stderr
    assert (
        not (engine.data_dir / "locations.json").exists()
        or "usb" not in (engine.data_dir / "locations.json").read_text()
    )
    # one named so by an earlier version: listed escaped, and that escaped name is accepted back
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    cfg = engine.data_dir / "locations.json"
    cfg.write_text(cfg.read_text().replace('"name": "usb"', '"name": "usb\\u202eevil"'))
    r = run_cli("location", "list", data_dir=engine.data_dir)
    assert "usb\\u202eevil" in r.stdout and "\u202e" not in r.stdout
    r = run_cli("location", "disable", "usb\\u202eevil", data_dir=engine.data_dir)
    assert r.returncode == 0, r.stderr
    r = run_cli("location", "remove", "nosuch\\u202e", data_dir=engine.data_dir)
    assert r.returncode == 1 and "There is no backup location named 'nosuch\\u202e'." in r.stderr, r.stderr
    assert "(configured: usb\\u202eevil)" in r.stderr
    r = run_cli("location", "remove", "usb\\u202eevil", "--yes", data_dir=engine.data_dir)
    assert r.returncode == 0, r.stderr
    assert "Removed the location 'usb\\u202eevil'" in r.stdout and "\u202e" not in r.stdout
    assert json.loads(cfg.read_text())["locations"] == []


# -- L15: the words of refusals fit what happened (nothing added: nothing retried) and the command line ---------


def test_add_refusals_say_nothing_was_added_and_fit_the_command_line(engine, tmp_path, tmpfs):
    d = engine.data_dir
    r = run_cli("location", "add", "folder", str(tmp_path / "nonexist"), "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
    assert "caught up" not in r.stderr and "retried" not in r.stderr
    r = run_cli("location", "add", "folder", "/etc/passwd", "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and "/etc/passwd is a file, not a folder" in r.stderr, r.stderr
    r = run_cli("location", "add", "folder", "/etc/jm-copies", "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and "/etc/jm-copies is inside the system folder /etc" in r.stderr, r.stderr
    full = tmpfs(64)
    try:
        while True:  # fill it to the last block
            with open(full / f"f{len(list(full.iterdir()))}", "wb") as f:
                f.write(b"x" * 4096)
    except OSError:
        pass
    r = run_cli("location", "add", "folder", str(full), "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and "is full" in r.stderr and "it was not added" in r.stderr, r.stderr
    assert "retried" not in r.stderr and "keeps copies" not in r.stderr and "Traceback" not in r.stderr
    ro = tmpfs(64)
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    r = run_cli("location", "add", "folder", str(ro), "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and "refuses writes" in r.stderr and "it was not added" in r.stderr, r.stderr
    assert "retried" not in r.stderr
    assert engine.locations.config().locations == []
    # a relative path is taken from where the command runs, as every other path
    (tmp_path / "usbrel").mkdir()
    r = run_cli_in(tmp_path, "location", "add", "folder", "usbrel", "--no-encrypt", data_dir=d)
    assert r.returncode == 0, r.stderr
    assert engine.locations.get("usbrel").path == str(tmp_path / "usbrel")
    assert "folder picker" not in r.stderr


@pytest.mark.parametrize("adding", [True, False])
@pytest.mark.parametrize("err", ["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "EFBIG"])
def test_each_write_refusal_of_a_folder_location_has_its_words(tmp_path, err, adding):
    """The words of a folder location's failed write, for each cause, adding the folder or copying to it (the
    real full and read-only disks above and in test_locations_tmpfs.py show some of them; this holds all)."""
    import errno

    from jobmatcher.locations.folder import MARKER_KEY, FolderLocation

    root = tmp_path / "usb"
    root.mkdir()
    (root / MARKER_KEY).write_text("{}")
    client = FolderLocation(root)
    client.adding = adding
    code = getattr(errno, err)
    e = client._write_error(OSError(code, os.strerror(code)), "JobMatcher/x.db")
    why = os.strerror(code)
    words = {
        ("ENOSPC", True): (
            f"The folder {root} is full (FREE free): it was not added as a backup location.",
            "Free up space there, or choose a folder on another drive.",
        ),
        ("ENOSPC", False): (
            f"The backup location {root} is full (FREE free); the copy was not made.",
            "Free up space there (or lower how long that location keeps copies); the copy is retried later.",
        ),
        ("EROFS", True): (
            f"The folder {root} refuses writes ({why}): it was not added as a backup location.",
            "Make the folder writable for your user (or mount the drive read-write), then add it again.",
        ),
        ("EROFS", False): (
            f"The backup location {root} refuses writes ({why}); the copy was not made.",
            "Make the folder writable for your user (or mount the drive read-write); the copy is retried later.",
        ),
    }
    kind = {"EDQUOT": "ENOSPC", "EACCES": "EROFS", "EPERM": "EROFS"}.get(err, err)
    from jobmatcher.errors import LocationCopyFailedError, LocationUnavailableError

    if kind == "EIO":  # the drive going away during the copy
        assert isinstance(e, LocationUnavailableError), e
        assert f"it went away during the copy ({why})" in e.message, e.message
        return
    assert type(e) is LocationCopyFailedError, e
    message, hint = words.get(
        (kind, adding),
        (f"Could not copy to the backup location {root}: {why}.", "Check the drive; the copy is retried later."),
    )
    free = e.message.split("is full (")[1].split(" free")[0] if "is full (" in e.message else ""
    assert (e.message, e.hint) == (message.replace("FREE", free), hint)
    assert not free or free[0].isdigit()


def run_cli_in(cwd: Path, *args: str, data_dir: Path):
    return subprocess.run(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=dict(os.environ),
    )


def test_id_hints_fit_the_source_and_usage_errors_are_the_commands(engine, usb, tmp_path):
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    r = run_cli("backup", "restore", "nosuch", "--from-folder", str(usb), "--yes", data_dir=tmp_path / "fresh")
    assert r.returncode == 1 and "is not a backup id" in r.stderr, r.stderr
    # the hint lists the very place given (FINDINGS19 7), never a configured --location
    assert "--location" not in r.stderr and f"backup list --from-folder {usb}`" in r.stderr, r.stderr
    r = run_cli("backup", "list", "--from-s3", "jobs-bucket/jm", data_dir=tmp_path / "fresh")
    assert r.returncode == 2 and r.stderr.startswith("usage: jobmatcher backup list"), r.stderr
    assert "not an s3:// address" in r.stderr


# -- L7: hints name the location; the status line does not count four places as "2 copies" --------------------


def test_the_taken_over_hint_names_the_location_and_the_line_counts_places(engine, usb, tmp_path):
    from datetime import datetime, timedelta, timezone

    engine.locations.add("folder", path=str(usb), name="trial-usb", encrypt=False)
    other = tmp_path / "other"
    other.mkdir()
    engine.locations.add("folder", path=str(other), name="second", encrypt=False)
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    # another computer restored from these copies and continues them (what its recovery writes)
    when = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    (usb / "JobMatcher" / folder_id_of(engine.data) / "writer.json").write_text(
        json.dumps({"format": 1, "adopted_at": when, "written_at": when})
    )
    r = run_cli("location", "sync", "trial-usb", data_dir=engine.data_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert f"`jobmatcher --data-dir {engine.data_dir} location remove 'trial-usb'`" in out, out
    assert "remove NAME" not in out, out
    r = run_cli("status", data_dir=engine.data_dir)
    [line] = [x for x in r.stdout.splitlines() if "this disk" in x]
    # "second" shares the temp folder's disk with the data: shown, not counted as another copy (X22)
    assert "1 of 2 copies working: this disk ✓" in line and "trial-usb ✗" in line, line
    assert "second ✓ just now (same disk)" in line, line


# -- L20: the safety backup of a restore from a location is noted in the user's words ---------------------------


def test_the_safety_note_of_a_location_restore_is_in_the_users_words(engine, usb):
    import re

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    b = engine.create_backup()
    assert not engine.locations.sync()[0].error
    r = run_cli("backup", "restore", b.id, "--from-folder", str(usb), "--yes", data_dir=engine.data_dir)
    assert r.returncode == 0, r.stderr
    r = run_cli("backup", "list", "--json", data_dir=engine.data_dir)
    [safety] = [x for x in json.loads(r.stdout) if x["type"] == "safety"]
    assert re.fullmatch(
        rf"Before restoring the copy from \d{{1,2}} [A-Z][a-z]{{2}} \d{{4}}, \d\d:\d\d at {usb}", safety["note"]
    )
    assert b.id not in safety["note"]


# -- L14: verify and restore agree on a manifest whose SHA-256 was edited; the words blame the manifest ---------


def test_verify_and_restore_agree_on_an_edited_manifest_checksum(engine):
    b = engine.create_backup()
    engine.create_backup()  # the live data moves on: the restore would change it
    manifest = Path(b.path).with_suffix(".json")
    m = json.loads(manifest.read_text())
    m["sha256"] = ("0" if m["sha256"][0] != "0" else "1") + m["sha256"][1:]  # only the SHA-256, by hand
    manifest.write_text(json.dumps(m))
    before = fingerprint(engine.data.db_path)
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"The manifest of the backup {b.id}" in r.stderr and "was changed since the backup was made" in r.stderr
    assert "Traceback" not in r.stderr
    assert fingerprint(engine.data.db_path) == before
    manifest.write_text(json.dumps(m))  # as the user left it
    r = run_cli("backup", "verify", b.id, data_dir=engine.data_dir)
    assert r.returncode == 1 and f"The manifest of the backup {b.id}" in r.stderr and "was changed" in r.stderr
