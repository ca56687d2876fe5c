"""FINDINGS13 (trial15), the low ones: Z4 (a copy at a location whose name and record disagree), Z5 (a copy that
can never fit the location's drive), Z6 (a location's key file or folder given as a backup file), Z7 (a blank
passphrase).

Real data folders, the real command line in subprocesses, real age files, a real tmpfs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import file_tree, prime, run_cli
from jobmatcher.engine import Engine

pytestmark = pytest.mark.usefixtures("file_credentials")


def _secret_file(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return p


class _Dialogs:
    """The window's native open dialog, answered by the test."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)

    def open_file(self, directory=""):
        return self.answers.pop(0)


@pytest.fixture
def page():
    """page(engine, mode, dialogs) -> the page's API over that engine (launched), closed afterwards."""
    from jobmatcher.api import Api

    made = []

    def make(engine: Engine, mode: str = "browser", dialogs=None) -> Api:
        api = Api(engine, mode=mode, dialogs=dialogs)
        api._begin_launch()
        api._wait_launched(30)
        made.append(api)
        return api

    yield make
    for api in made:
        api._close()


# -- Z7: a passphrase only of blanks is no passphrase --------------------------------------------------------------


def test_a_new_passphrase_of_blanks_is_refused_on_the_command_line_and_the_page(engine, usb, tmp_path, page):
    root = engine.data.root
    # blanks are not counted (the third: 5 characters seen), nor invisible characters (FINDINGS14 A3: zero-width
    # spaces, a word joiner, a soft hyphen, a byte-order mark within)
    blank = {" " * 8: True, "\t" * 12: True, "   short    ": False, "\u200b" * 8: True}
    blank["abc" + "\u200b\u2060\u00ad\ufeff\u200c"] = False
    for text, only_blank in blank.items():
        before = (file_tree(root), file_tree(usb))
        pw = _secret_file(tmp_path, "pw", text)
        r = run_cli(
            "location", "add", "folder", str(usb), "--name", "u", "--passphrase-file", str(pw), "--yes", data_dir=root
        )
        assert r.returncode == 1, r.stdout + r.stderr
        words = "only blank space" if only_blank else "at least 8 characters (blanks at its start or end"
        assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (root / "location-identity.age").exists() and file_tree(usb) == before[1]
        # the page's Add folder location: the same words, nothing added
        r2 = page(engine)._dispatch("add_folder_location", [str(usb), "u", True, text])
        assert not r2["ok"] and words in r2["error"]["message"], r2
        assert not (root / "location-identity.age").exists() and file_tree(usb) == before[1]
    # words with spaces between them, and blanks around, are a passphrase (the blanks kept, as before)
    pw = _secret_file(tmp_path, "pw", "  " + PASS + " ")
    r = run_cli(
        "location", "add", "folder", str(usb), "--name", "u", "--passphrase-file", str(pw), "--yes", data_dir=root
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_new_passphrase_of_blanks_is_refused_by_location_passphrase(engine, usb, tmp_path, locked_identity, page):
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(usb), name="USB")
    key = engine.data.root / "location-identity.age"
    before = (key.read_bytes(), file_tree(usb))
    old = _secret_file(tmp_path, "old", PASS)
    new = _secret_file(tmp_path, "new", " " * 10)
    r = run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(old),
        "--new-passphrase-file",
        str(new),
        data_dir=engine.data.root,
    )
    assert r.returncode == 1 and "only blank space" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r2 = page(Engine(engine.data.root))._dispatch("change_location_passphrase", [PASS, "\t " * 6])
    assert not r2["ok"] and "only blank space" in r2["error"]["message"], r2
    assert (key.read_bytes(), file_tree(usb)) == before  # the key locked as it was, here and there
    assert not list(engine.data.root.glob("location-identity.relock*"))


def test_a_key_locked_with_blanks_around_its_passphrase_opens_exactly_as_before(locked_identity):
    """Only a new passphrase is checked: the blanks of one that locks a key are part of it, as they always were."""
    from jobmatcher.errors import WrongPassphraseError
    from jobmatcher.locations.crypto import _scrypt, unlock_identity

    identity = locked_identity[1]
    spaced = "  " + PASS + "\t"
    locked = _scrypt("encrypt", (identity + "\n").encode(), spaced, locking=True)
    assert unlock_identity(locked, spaced) == identity
    with pytest.raises(WrongPassphraseError):
        unlock_identity(locked, PASS)
    # an old key locked with blanks only (before Z7) still opens with them
    blank = _scrypt("encrypt", (identity + "\n").encode(), " " * 8, locking=True)
    assert unlock_identity(blank, " " * 8) == identity


# -- Z6: a location's key file, or its folder, given as a backup file ------------------------------------------------


@pytest.fixture
def location_with_copy(engine, usb, locked_identity):
    """(engine, the location's folder, the data folder's folder there, the copy's id): one encrypted copy."""
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(usb), name="USB")
    bid = engine.create_backup().id
    assert not any(r.error for r in engine.locations.sync())
    ns = next((usb / "JobMatcher").iterdir())
    return engine, usb, ns, bid


@pytest.mark.parametrize("command", ["verify", "restore"])
def test_a_locations_key_file_is_said_to_be_the_key_not_a_copy(location_with_copy, tmp_path, command):
    engine, usb, ns, bid = location_with_copy
    fresh = tmp_path / "new"
    yes = ("--yes",) if command == "restore" else ()
    listing = f"jobmatcher --data-dir {fresh} backup list --from-folder {usb}"
    for path in (ns / "identity.age", engine.data.root / "location-identity.age"):
        r = run_cli("backup", command, str(path), *yes, data_dir=fresh)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "encrypted copy" not in r.stderr and "restore the .db" not in r.stderr, r.stderr
        assert "locked with your passphrase: it is not a backup and holds none of your data" in r.stderr, r.stderr
        if path.name == "identity.age":  # in its place: that location's commands
            assert f"the encryption key of the copies at the backup location {usb}" in r.stderr
            assert listing in r.stderr and f"restore ID --from-folder {usb}" in r.stderr
        else:
            assert "backup list --from-folder FOLDER" in r.stderr
    # the location's folder, and the folders in it: its copies, by id, from the location
    for folder in (usb, usb / "JobMatcher", ns):
        r = run_cli("backup", command, str(folder), *yes, data_dir=fresh)
        assert r.returncode == 1 and "inside it" not in r.stderr, r.stderr
        assert listing in r.stderr and f"restore ID --from-folder {usb}" in r.stderr, r.stderr
    # a copy in its place: restored by its own id from there
    r = run_cli("backup", command, str(ns / f"{bid}.db.age"), *yes, data_dir=fresh)
    assert r.returncode == 1, r.stderr
    assert f"jobmatcher --data-dir {fresh} backup restore {bid} --from-folder {usb}" in r.stderr, r.stderr
    # a copy's record at the location
    r = run_cli("backup", command, str(ns / f"{bid}.json"), *yes, data_dir=fresh)
    assert r.returncode == 1 and f"a file of the backup location {usb}" in r.stderr and listing in r.stderr


def test_the_pages_restore_from_file_says_the_same_of_the_key(location_with_copy, tmp_path, page):
    import io

    engine, usb, ns, bid = location_with_copy
    before = engine.data.db_path.read_bytes()
    # the window: the file chosen in its place
    api = page(engine, mode="window", dialogs=_Dialogs(str(ns / "identity.age")))
    r = api._dispatch("choose_restore_file", [])
    assert r["ok"], r
    e = api._dispatch("check_restore_file", [r["value"]["token"]])["error"]
    assert "is the encryption key of the copies at the backup location" in e["message"], e
    assert "not a backup and holds none of your data" in e["message"] and "encrypted copy" not in e["message"]
    assert "Restore from a backup location" in e["hint"] and f"folder {usb}" in e["hint"], e
    # the browser: the file uploaded (its place unknown)
    api = page(engine)
    data = (ns / "identity.age").read_bytes()
    up = api._receive_upload("identity.age", io.BytesIO(data), len(data))
    e = api._dispatch("check_restore_file", [up["token"]])["error"]
    assert e["message"].startswith("identity.age is an encryption key"), e
    assert "holds none of your data" in e["message"] and "Restore from a backup location" in e["hint"], e
    assert engine.data.db_path.read_bytes() == before


# -- Z5: a copy that can never fit the location's drive ------------------------------------------------------------


def _ballast(engine: Engine, mb: int) -> None:
    import os
    import sqlite3

    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")
        conn.executemany("INSERT INTO ballast VALUES (?)", [(os.urandom(1 << 20),) for _ in range(mb)])
    conn.close()


def test_a_copy_larger_than_the_whole_drive_says_choose_a_larger_drive(engine, tmpfs, locked_identity):
    """An empty 2 MB drive and a 3 MB backup: not "full … free up space (or keep fewer copies) … retried later"
    (no clean-up can ever make room) but the sizes and a larger drive; refused before anything is written."""
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    drive = tmpfs(2048)
    _ballast(engine, 3)
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(drive), name="small", passphrase=PASS)
    before = file_tree(drive)
    engine.create_backup()
    r = run_cli("location", "sync", "small", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    said = r.stdout + r.stderr
    assert f"The backup location {drive} is too small for this copy: 3." in said, said
    assert "MB needed, 2." in said and "MB free (2.1 MB in all on that drive)" in said, said
    assert "Choose a larger drive" in said and "cannot make room" in said, said
    assert "retried later" not in said and "lower how long" not in said, said
    assert file_tree(drive) == before and list_remote(FolderLocation(drive)) == []  # nothing written there
    [s] = engine.locations.status()
    assert s.pending == 1 and "too small for this copy" in engine.locations.health()[0].message


def test_a_drive_filled_by_other_files_says_keeping_fewer_copies_cannot_help(engine, tmpfs, locked_identity):
    """The copy needs more than the free space and every copy of this data folder there together: the user's
    own files fill the drive, so "lower how long that location keeps copies" would not help."""
    import os

    drive = tmpfs(8192)
    _ballast(engine, 3)
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(drive), name="usb", passphrase=PASS)
    (drive / "holiday.mov").write_bytes(os.urandom(6 << 20))
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-copy-failed" and f"The backup location {drive} is full: 3." in r.error, r
    assert (
        "MB needed" in r.error
        and "(8.4 MB in all)" in r.error
        and "none of it holds this data folder's copies" in r.error
    )
    assert "Other files fill that drive" in r.error and "lower how long" not in r.error, r.error
    assert not [p for p in drive.rglob("*") if ".tmp-" in p.name]


def test_a_drive_full_of_this_data_folders_copies_still_says_keep_fewer(engine, tmpfs, locked_identity):
    """Where the copies JobMatcher keeps there take the room, keeping fewer does help: said with the sizes."""
    import sqlite3

    drive = tmpfs(8192)
    _ballast(engine, 3)
    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(drive), name="usb", passphrase=PASS)
    for n in range(3):  # two copies fit (6.4 of 8.4 MB), the third does not: 2 MB free
        conn = sqlite3.connect(engine.data.db_path)
        with conn:
            conn.execute("INSERT INTO ballast VALUES (?)", (b"change %d" % n,))
        conn.close()
        engine.create_backup()
        [r] = engine.locations.sync()
    [r] = engine.locations.sync()
    assert r.error_code == "location-copy-failed" and f"The backup location {drive} is full: 3." in r.error, r
    assert "MB needed" in r.error and "MB free;" in r.error and "lower how long" in r.error, r.error


# -- Z4: a copy whose name and own record disagree, or two copies with one place in the order of making ------------


@pytest.fixture
def two_copies(engine, usb, locked_identity):
    """(engine, usb, the data folder's folder there, [older id, newer id]): two encrypted copies of other data."""
    import sqlite3
    import time

    prime(engine, locked_identity)
    engine.locations.add("folder", path=str(usb), name="USB")
    ids = []
    for name in ("Ada", "Grace"):
        conn = sqlite3.connect(engine.data.db_path)
        with conn:
            conn.execute("INSERT OR REPLACE INTO user_profile (id, full_name) VALUES (1, ?)", (name,))
        conn.close()
        ids.append(engine.create_backup().id)
        time.sleep(1.1)  # their names a second apart at least
    assert not any(r.error for r in engine.locations.sync())
    return engine, usb, next((usb / "JobMatcher").iterdir()), ids


def _swap(ns: Path, source: str, target: str) -> None:
    """What a sync tool's conflict handling (or a hand-made restore of the folder) can leave: one copy's files
    under another copy's name."""
    for ext in (".db.age", ".json"):
        (ns / f"{target}{ext}").write_bytes((ns / f"{source}{ext}").read_bytes())


def test_a_copy_under_another_name_is_marked_and_refused(two_copies, tmp_path, page):
    import json

    engine, usb, ns, (older, newer) = two_copies
    _swap(ns, older, newer)  # the newer name now holds the older data
    fresh = tmp_path / "new"
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=fresh)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert "(NO: its own record names another time: renamed or copied there)" in rows[newer], r.stdout
    assert "NO:" not in rows[older], r.stdout
    r = run_cli("backup", "list", "--from-folder", str(usb), "--json", data_dir=fresh)
    listed = {c["id"]: c for c in json.loads(r.stdout)}
    assert listed[newer]["doubt"].startswith("its own record names another time") and listed[older]["doubt"] is None
    pw = _secret_file(tmp_path, "pw", PASS)
    r = run_cli(
        "backup", "restore", newer, "--from-folder", str(usb), "--passphrase-file", str(pw), "--yes", data_dir=fresh
    )
    assert r.returncode == 1 and f"The copy {newer} at" in r.stderr and "is not restored: its name says" in r.stderr
    assert "but its own record says" in r.stderr and "Nothing was changed" in r.stderr and "Traceback" not in r.stderr
    assert not (fresh / "jobmatcher.db").exists()
    # the page: marked in the list, refused before anything starts
    api = page(Engine(tmp_path / "page"))
    found = api._dispatch("remote_backups", [{"kind": "folder", "path": str(usb)}])
    assert found["ok"], found
    doubts = {b["id"]: b["doubt"] for b in found["value"]["backups"]}
    assert doubts[newer] == listed[newer]["doubt"] and doubts[older] is None
    e = api._dispatch("start_restore_from_location", [{"kind": "folder", "path": str(usb)}, newer, PASS])
    assert not e["ok"] and "is not restored: its name says" in e["error"]["message"], e
    # the copy of the name it has is still restored
    r = run_cli(
        "backup", "restore", older, "--from-folder", str(usb), "--passphrase-file", str(pw), "--yes", data_dir=fresh
    )
    assert r.returncode == 0, r.stderr


def test_two_copies_with_one_place_in_the_order_are_both_restorable(two_copies, tmp_path):
    """A5: two copies sharing a sequence (a take-over numbering its copies into places the lost computer's newer
    copies hold at another location) were both refused, and the hint said to delete one of the user's own copies.
    A copy whose name agrees with its own record is what it says: listed without a doubt and restored."""
    import json

    engine, usb, ns, (older, newer) = two_copies
    twin = f"{older}_2"  # the same second: its name agrees with its record, its place is the other's
    _swap(ns, older, twin)
    r = run_cli("backup", "list", "--from-folder", str(usb), "--json", data_dir=tmp_path / "new")
    listed = {c["id"]: c for c in json.loads(r.stdout)}
    assert listed[older]["doubt"] is None and listed[twin]["doubt"] is None and listed[newer]["doubt"] is None
    pw = _secret_file(tmp_path, "pw", PASS)
    for i, bid in enumerate((older, twin)):
        r = run_cli(
            "backup",
            "restore",
            bid,
            "--from-folder",
            str(usb),
            "--passphrase-file",
            str(pw),
            "--yes",
            data_dir=tmp_path / f"new{i}",
        )
        assert r.returncode == 0, r.stderr
