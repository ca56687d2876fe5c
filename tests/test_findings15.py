"""FINDINGS15 (a fresh tester's report on the work of sessions 13-14): each finding fixed, as a test that fails
before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import file_tree, prime, run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")

NEW = "a brand new passphrase"


def _secret(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return p


def _processes_naming(text: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def _encrypted_folders(engine, tmp_path, locked_identity, *names: str) -> list:
    """The data folder given the session's key and one encrypted folder location per name (folders tmp_path/<name
    in lower case>), a backup copied to each; the instance lock let go for the commands run next. Returns the
    folders, in order."""
    prime(engine, locked_identity)
    places = []
    for name in names:
        place = tmp_path / name.lower()
        place.mkdir()
        engine.locations.add("folder", path=str(place), name=name)
        places.append(place)
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    return places


# -- B13, B14: a FIFO at the name of one of JobMatcher's own files hangs no command (A6's kind, every reader) -------


@pytest.mark.parametrize(
    "name", [".jobmatcher-folder-id", "location-identity.recipient", "backups/.jobmatcher-backup-folder"]
)
def test_a_fifo_at_an_own_files_name_hangs_no_writing_command(engine, usb, tmp_path, name, locked_identity):
    """B13: a FIFO at .jobmatcher-folder-id hung `backup create`, `location sync`, `location passphrase` (the id
    file's recovery opened it plainly); B14: one at location-identity.recipient hung `location sync` and the
    background copy `backup create` starts, which then held the locations' lock for ever. The backup folder's
    marker was read the same way. Each command ends (subprocess.TimeoutExpired: it hung), and no background copy
    is left waiting."""
    prime(engine, locked_identity)
    root = engine.data.root
    engine.create_backup()
    assert run_cli("location", "add", "folder", str(usb), "--name", "u", data_dir=root).returncode == 0
    engine.release_instance_lock()
    (root / name).unlink(missing_ok=True)
    os.mkfifo(root / name)
    pw, new = _secret(tmp_path, "pw", PASS), _secret(tmp_path, "new", NEW)
    for command in (
        ["backup", "create"],
        ["location", "sync"],
        ["status"],
        ["backup", "list"],
        ["location", "passphrase", "--passphrase-file", str(pw), "--new-passphrase-file", str(new)],
    ):
        r = run_cli(*command, data_dir=root, timeout=60)
        assert r.returncode in (0, 1, 2) and "Traceback" not in r.stderr, (command, r.stdout, r.stderr)
    deadline = time.monotonic() + 60
    while _processes_naming(str(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_naming(str(root)), "a background copy is still waiting"


def test_a_fifo_at_the_computers_id_or_the_journal_hangs_nothing(engine, tmp_path):
    """The same kind outside the data folder's own names: this computer's id in the configuration folder, and the
    live database's -journal, which the launch looks into for a write to undo."""
    from jobmatcher.computer import COMPUTER_ID_NAME
    from jobmatcher.database import hot_journal

    config = tmp_path / "config"
    config.mkdir()
    os.mkfifo(config / COMPUTER_ID_NAME)
    engine.create_backup()
    engine.release_instance_lock()
    r = run_cli("backup", "create", data_dir=engine.data.root, env={"JOBMATCHER_CONFIG_DIR": str(config)}, timeout=60)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr

    live = engine.data.db_path
    os.mkfifo(live.with_name(live.name + "-journal"))
    assert hot_journal(live) is False  # answered at once (it waited for a writer before)


# -- B9: a passphrase that reads as a recovery key ---------------------------------------------------------------


@pytest.mark.parametrize("shape", ["as printed", "lower case in groups"])
def test_a_new_passphrase_that_is_an_age_key_is_refused_and_changes_nothing(
    engine, usb, tmp_path, locked_identity, shape
):
    """B9: a new passphrase such as AGE-SECRET-KEY-1... was accepted and the key file locked with it; every reader
    then took it as a recovery key and never as a passphrase, so nothing opened the key with it (disaster recovery
    included). Now refused as a passphrase, at `location passphrase` and at the first encrypted location."""
    from jobmatcher.locations.crypto import new_identity

    key = new_identity()[0]
    text = key if shape == "as printed" else " ".join(key.lower()[i : i + 8] for i in range(0, len(key), 8))
    keyfile = _secret(tmp_path, "key.txt", text)

    # the first encrypted location: nothing set up
    fresh_root = engine.data.root
    engine.create_backup()
    engine.release_instance_lock()
    before = file_tree(fresh_root)
    r = run_cli(
        "location", "add", "folder", str(usb), "--name", "u", "--passphrase-file", str(keyfile), data_dir=fresh_root
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "is an encryption key" in r.stderr and "not a passphrase" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (fresh_root / "location-identity.age").exists()
    assert not list(usb.rglob("identity.age"))
    kept = lambda tree: {k: v for k, v in tree.items() if not k.startswith("logs") and not k.endswith(".lock")}  # noqa: E731
    assert kept(file_tree(fresh_root)) == kept(before)

    # a change of passphrase: nothing changed
    prime(engine, locked_identity)
    locked = (fresh_root / "location-identity.age").read_bytes()
    r = run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(_secret(tmp_path, "pw", PASS)),
        "--new-passphrase-file",
        str(keyfile),
        data_dir=fresh_root,
    )
    assert r.returncode == 1 and "is an encryption key" in r.stderr, (r.stdout, r.stderr)
    assert (fresh_root / "location-identity.age").read_bytes() == locked
    assert not (fresh_root / "location-identity.relock.json").exists()


# -- B12: the empty database's backups from before a recovery are not the chain's newest ---------------------------


def test_backups_of_the_empty_database_from_before_a_recovery_do_not_become_the_newest(engine, usb, tmp_path):
    """B12: on a new computer, the backups a first launch made of its empty database were renumbered after the
    restored chain's top: `status` said the last backup (0 saved jobs) passed its check, and the next sync put that
    empty copy at the location as the newest, the first a later recovery offers. Now they are deleted at the
    recovery (JobMatcher's files, proven empty); the restored data's own backups come after the restored copy."""
    import json

    real = engine.create_backup()  # the engine fixture's data folder holds sample data
    root = engine.data.root
    engine.release_instance_lock()
    assert run_cli("location", "add", "folder", str(usb), "--name", "u", "--no-encrypt", data_dir=root).returncode == 0
    assert run_cli("location", "sync", data_dir=root).returncode == 0

    new = tmp_path / "new-computer"
    assert run_cli("db", "migrate", data_dir=new).returncode == 0
    empty = json.loads(run_cli("backup", "create", "--json", data_dir=new).stdout)["id"]
    r = run_cli("backup", "restore", real.id, "--from-folder", str(usb), "--yes", data_dir=new)
    assert r.returncode == 0, r.stderr

    listed = json.loads(run_cli("backup", "list", "--json", data_dir=new).stdout)
    ids = [b["id"] for b in (listed["backups"] if isinstance(listed, dict) else listed)]
    assert empty not in ids, ids
    assert not (new / "backups" / f"{empty}.db").exists()
    status = run_cli("status", data_dir=new)
    assert empty.replace("backup_", "") not in status.stdout + status.stderr

    # the restored data's next backup is the chain's newest at the location, above the restored copy (a second
    # later: ids are times to the second, and the deleted empty backup's name is free again)
    time.sleep(1.1)
    after = json.loads(run_cli("backup", "create", "--json", data_dir=new).stdout)["id"]
    assert after != empty
    assert run_cli("location", "add", "folder", str(usb), "--name", "u", "--no-encrypt", data_dir=new).returncode == 0
    assert run_cli("location", "sync", data_dir=new).returncode == 0
    there = json.loads(run_cli("backup", "list", "--from-folder", str(usb), "--json", data_dir=new).stdout)
    there_ids = [b["id"] for b in (there["backups"] if isinstance(there, dict) else there)]
    assert empty not in there_ids and there_ids[0] == after, there_ids


# -- B17: a full location lets go of the copies its rule condemned before it gives up ------------------------------


def test_a_full_location_removes_the_copies_its_rule_let_go_and_takes_the_new_one(tmp_path, tmpfs):
    """B17: the copies a location's retention condemned were deleted only after every new copy was made, so a full
    location stayed full for ever: no newer copy reached it, however its retention was lowered (what its hint
    advises). Now, when a copy does not fit, those copies go first and the copy is tried again. A user's own file
    there is never touched."""
    import shutil

    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("Debian's faketime is not installed (dev.sh installs it)")
    import sys

    data = tmp_path / "data"
    place = tmpfs(400)

    def at(offset: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [faketime, "-f", offset, sys.executable, "-m", "jobmatcher", "--data-dir", str(data), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)

    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    for offset in ("-3d", "-2d", "-1d"):
        assert at(offset, "backup", "create").returncode == 0
    r = run_cli(
        "location", "add", "folder", str(place), "--name", "t", "--no-encrypt",
        "--retention-policy", "simple", "--keep-days", "30", data_dir=data,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert run_cli("location", "sync", data_dir=data).returncode == 0
    ns = next((place / "JobMatcher").iterdir())
    old = sorted(p.name for p in ns.glob("backup_*.db"))
    assert len(old) == 3
    fd = os.open(place / "userfill", os.O_WRONLY | os.O_CREAT, 0o600)  # the user's own file takes the rest
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    mine = (place / "userfill").read_bytes()
    r = run_cli("location", "set", "t", "--keep-days", "1", "--yes", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert run_cli("backup", "create", data_dir=data).returncode == 0
    r = run_cli("location", "sync", data_dir=data)
    assert r.returncode == 0, (r.stdout, r.stderr)  # it was "full" for ever before
    now = sorted(p.name for p in ns.glob("backup_*.db"))
    assert len(now) == 2 and old[-1] in now and not set(old[:2]) & set(now), now
    assert (place / "userfill").read_bytes() == mine


# -- B16: a passphrase nobody can type; B18: a location holding another key's file -------------------------------


@pytest.mark.parametrize("text", ["abc\0defghijk", "esc\x1b[31m passphrase", "bell\x07 passphrase"])
def test_a_new_passphrase_with_control_characters_is_refused(text):
    """B16: a passphrase holding a NUL or an escape sequence was accepted; it could only ever be given from that
    file (no prompt, page or `age` types it). A tab, which a keyboard types, stays allowed."""
    from jobmatcher.errors import ValidationError
    from jobmatcher.locations.crypto import check_new_passphrase

    with pytest.raises(ValidationError, match="control characters"):
        check_new_passphrase(text)
    check_new_passphrase("tab\tin a passphrase")


def test_a_location_holding_another_keys_file_is_said_so_by_a_change_not_old_passphrase(
    engine, tmp_path, locked_identity
):
    """B18: a location whose key file is another key's (never replaced) was said by `location passphrase` to
    'still hold the key locked with the old passphrase ... updated at its next copy', and `location list` that the
    old passphrase opens it: no passphrase of this data folder does, and no copy updates it."""
    from agefile import scrypt_encrypt
    from jobmatcher.locations.crypto import new_identity
    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    _usb, other = _encrypted_folders(engine, tmp_path, locked_identity, "USB", "Other")
    theirs = other / "JobMatcher" / folder_id_of(engine.data) / "identity.age"
    foreign = scrypt_encrypt(new_identity()[0].encode(), "someone else's passphrase")
    theirs.write_bytes(foreign)

    r = run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(_secret(tmp_path, "pw", PASS)),
        "--new-passphrase-file",
        str(_secret(tmp_path, "new", NEW)),
        data_dir=root,
    )
    assert r.returncode == 0, r.stderr
    assert "'Other' holds another encryption key's file" in r.stderr, r.stderr
    assert "old passphrase" not in r.stderr, r.stderr
    assert theirs.read_bytes() == foreign  # never replaced
    listed = run_cli("location", "list", data_dir=root).stdout
    assert "still opens with your old passphrase" not in listed, listed


# -- B11: a drive that is behind never takes the passphrase back -------------------------------------------------


def _change(root, tmp_path, old: str, new: str) -> subprocess.CompletedProcess:
    return run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(_secret(tmp_path, f"o{abs(hash(old))}", old)),
        "--new-passphrase-file",
        str(_secret(tmp_path, f"n{abs(hash(new))}", new)),
        data_dir=root,
    )


def test_a_drive_back_with_the_earlier_key_file_gets_the_current_one_and_the_passphrase_stays(
    engine, tmp_path, locked_identity
):
    """B11: a drive unplugged during a passphrase change, removed and added again with the old passphrase, made the
    data folder take its earlier key file back (A9's rule, meant for the other way round): the change was undone
    everywhere at the next sync. The same through `location sync` after a drive was put back from an older image.
    Now a key file the data folder itself replaced is known as behind (location-identity.earlier.json, kept for
    good): the drive gets the current file, and the current passphrase stays the one that opens the key."""
    from jobmatcher.locations.crypto import unlock_identity
    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    usb, drive = _encrypted_folders(engine, tmp_path, locked_identity, "USB", "Drive")
    key_there = drive / "JobMatcher" / folder_id_of(engine.data) / "identity.age"
    old_file = key_there.read_bytes()

    drive.rename(tmp_path / "away")  # unplugged during the change
    r = _change(root, tmp_path, PASS, NEW)
    assert r.returncode == 0 and "1 of 2" in r.stdout, (r.stdout, r.stderr)
    current = (root / "location-identity.age").read_bytes()
    assert run_cli("location", "remove", "Drive", "--yes", data_dir=root).returncode == 0
    (tmp_path / "away").rename(drive)
    r = run_cli(
        "location", "add", "folder", str(drive), "--name", "Drive",
        "--passphrase-file", str(_secret(tmp_path, "oldpw", PASS)), data_dir=root,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "earlier passphrase" in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert (root / "location-identity.age").read_bytes() == current  # not taken back
    assert key_there.read_bytes() == current
    assert run_cli("location", "sync", data_dir=root).returncode == 0
    assert (usb / "JobMatcher" / folder_id_of(engine.data) / "identity.age").read_bytes() == current
    assert unlock_identity(current, NEW) == locked_identity[1]

    # the drive put back from an image made before the change: the next sync gives it the current file, unasked
    key_there.write_bytes(old_file)
    r = run_cli("location", "sync", "Drive", data_dir=root)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert key_there.read_bytes() == current and (root / "location-identity.age").read_bytes() == current
    # and the current passphrase still changes it
    assert _change(root, tmp_path, NEW, "yet another passphrase").returncode == 0


def test_moving_a_location_to_its_drive_from_before_a_passphrase_change_is_allowed(engine, tmp_path, locked_identity):
    """B8: `location set --path` to the location's own drive as it was before a passphrase change (its key file the
    earlier one) was refused as 'another encryption key', with advice to restore from those copies (which would
    replace the live data). The data folder knows that file as one it replaced: the move is made, and the drive
    gets the current key file at its next copy."""
    import shutil

    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    (usb,) = _encrypted_folders(engine, tmp_path, locked_identity, "USB")
    shutil.copytree(usb, tmp_path / "image")  # the drive as it was then
    assert _change(root, tmp_path, PASS, NEW).returncode == 0
    r = run_cli("location", "set", "USB", "--path", str(tmp_path / "image"), data_dir=root)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert run_cli("location", "sync", data_dir=root).returncode == 0
    there = tmp_path / "image" / "JobMatcher" / folder_id_of(engine.data) / "identity.age"
    assert there.read_bytes() == (root / "location-identity.age").read_bytes()


def test_the_note_of_a_kept_key_file_agrees_with_how_many_locations_it_names():
    """B4: "'l2' get that file at their next copy" for one location."""
    from jobmatcher.locations.manager import _kept_note

    one = _kept_note("/media/usb", ["l2"])
    assert "'l2' gets that file at its next copy" in one
    two = _kept_note("/media/usb", ["l2", "cloud"])
    assert "'l2', 'cloud' get that file at their next copy" in two
    assert "next copy" not in _kept_note("/media/usb", [])


def test_a_folder_at_the_name_of_a_file_jobmatcher_writes_is_named_not_its_temp_file(engine, tmp_path, locked_identity):
    """B7: a folder at location-identity.relock.json made `location passphrase` fail naming JobMatcher's temp file
    ('Is a directory (.location-identity.relock.json.5640-5640-1.tmp)') and sending the user to check the disk.
    Now the file's own name, what is there, and what to do; nothing changed."""
    root = engine.data.root
    _encrypted_folders(engine, tmp_path, locked_identity, "USB")
    (root / "location-identity.relock.json").mkdir()
    locked = (root / "location-identity.age").read_bytes()
    r = _change(root, tmp_path, PASS, NEW)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "a folder is at the name of a file JobMatcher writes" in r.stderr, r.stderr
    assert "location-identity.relock.json)" in r.stderr and ".tmp" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and (root / "location-identity.age").read_bytes() == locked
    assert (root / "location-identity.relock.json").is_dir()  # the user's folder is left where it is


def test_a_fifo_at_the_key_files_name_is_said_as_such_not_as_no_key_yet(engine, tmp_path, locked_identity):
    """B6: a FIFO at location-identity.age was 'no encryption key yet ... its passphrase is chosen then' (location
    passphrase) and 'missing ... remove and add the location again' (location sync), which send the user to a new
    key. Now what is there and the way out; `location add` with the passphrase still takes the key back."""
    root = engine.data.root
    (usb,) = _encrypted_folders(engine, tmp_path, locked_identity, "USB")
    key = root / "location-identity.age"
    key.unlink()
    os.mkfifo(key)
    r = _change(root, tmp_path, PASS, NEW)
    assert r.returncode == 1 and "is not the encryption key's file" in r.stderr, (r.stdout, r.stderr)
    assert "no encryption key yet" not in r.stderr
    r = run_cli("location", "sync", data_dir=root, timeout=60)
    assert r.returncode == 1 and "is not the encryption key's file" in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


# -- B5: a copy cut short or grown at a location is known as such by every listing, and copied again --------------


@pytest.mark.parametrize("encrypt,damage", [(True, "cut"), (False, "grown")])
def test_a_copy_whose_size_changed_there_is_marked_refused_and_copied_again(
    engine, tmp_path, locked_identity, encrypt, damage
):
    """B5: a truncated (or grown) copy at a location counted as good until a restore downloaded it: `location
    list` said nothing was pending, `location sync` copied nothing, the list offered it for a restore. Its data's
    size, which every listing already has, is now compared with the size its manifest says was written."""
    root = engine.data.root
    if encrypt:
        (place,) = _encrypted_folders(engine, tmp_path, locked_identity, "Usb")
    else:
        place = tmp_path / "usb"
        place.mkdir()
        engine.locations.add("folder", path=str(place), name="Usb", encrypt=False)
        engine.create_backup()
        assert not any(r.error for r in engine.locations.sync())
        engine.release_instance_lock()
    (data,) = [p for p in place.rglob("backup_*") if p.suffix != ".json"]
    whole = data.read_bytes()
    bid = data.name.split(".")[0]
    if damage == "cut":
        data.write_bytes(whole[: len(whole) // 2])
    else:
        data.write_bytes(whole + b"\0" * 4096)
    r = run_cli("backup", "list", "--location", "Usb", "--json", data_dir=root)
    assert r.returncode == 0, r.stderr
    (row,) = [b for b in json.loads(r.stdout) if b["id"] == bid]
    assert row["doubt"] and "bytes there where" in row["doubt"] and "were written" in row["doubt"], row
    assert row["verified"] is False
    r = run_cli("backup", "list", "--location", "Usb", data_dir=root)
    assert "(NO: it has" in r.stdout, r.stdout
    header, line = r.stdout.splitlines()[:2]
    assert line[header.index("VERIFIED") :].startswith("NO "), r.stdout
    rows = json.loads(run_cli("location", "list", "--json", data_dir=root).stdout)
    assert rows[0]["pending"] == 1, rows  # not counted as there
    # a restore refuses it (the download's check says the two sizes) and changes nothing
    live = (root / "jobmatcher.db").read_bytes()
    pw = _secret(tmp_path, "pw", PASS)
    r = run_cli("backup", "restore", bid, "--location", "Usb", "--passphrase-file", str(pw), "--yes", data_dir=root)
    assert r.returncode == 1, (r.stdout, r.stderr)
    said = "was changed since it was written: it has" if damage == "cut" else "has more bytes than the"
    assert said in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (root / "jobmatcher.db").read_bytes() == live
    # the next sync copies it again, whole
    r = run_cli("location", "sync", "--json", data_dir=root)
    assert r.returncode == 0, r.stderr
    assert bid in json.loads(r.stdout)[0]["copied"]
    written = json.loads(data.with_name(f"{bid}.json").read_text())["stored_size"]
    assert data.stat().st_size == written and (encrypt or data.read_bytes() == whole)
    rows = json.loads(run_cli("location", "list", "--json", data_dir=root).stdout)
    assert rows[0]["pending"] == 0, rows
    r = run_cli("backup", "list", "--location", "Usb", "--json", data_dir=root)
    assert not any(b["doubt"] for b in json.loads(r.stdout)) and all(b["verified"] for b in json.loads(r.stdout))
    r = run_cli("backup", "list", "--location", "Usb", data_dir=root)
    header, line = r.stdout.splitlines()[:2]
    assert line[header.index("VERIFIED") :].startswith("yes "), r.stdout


# -- B16: a passphrase typed in another Unicode form opens the key --------------------------------------------------


def test_a_passphrase_in_another_unicode_form_still_opens_the_key():
    """B16: age compares a passphrase's bytes; "é" typed as one character on one computer and as "e" with a
    combining accent on another (macOS's tools, a file saved by another editor) is the same passphrase to its
    owner. A disaster recovery failed on that as "does not open"; a wrong passphrase is still refused."""
    import unicodedata

    from jobmatcher.errors import WrongPassphraseError
    from jobmatcher.locations.crypto import lock_identity, new_identity, unlock_identity

    identity, _ = new_identity()
    text = "Café crème brûlée, s'il vous plaît"
    typed = {form: unicodedata.normalize(form, text) for form in ("NFC", "NFD")}
    assert typed["NFC"] != typed["NFD"]
    # each scrypt takes about a second by design: one key, locked as decomposed, opened as composed (a lock and an
    # opening of the other way round run the same code: other_forms holds both)
    locked = lock_identity(identity, typed["NFD"])
    assert unlock_identity(locked, typed["NFC"]) == identity
    with pytest.raises(WrongPassphraseError) as e:
        unlock_identity(locked, "Cafe creme brulee, s'il vous plait")
    assert e.value.code != "key-damaged"


def test_the_other_forms_of_a_passphrase_are_both_ways_and_none_for_ascii():
    import unicodedata

    from jobmatcher.locations.crypto import other_forms

    nfc = "Café"
    nfd = unicodedata.normalize("NFD", nfc)
    assert other_forms(nfc) == [nfd] and other_forms(nfd) == [nfc]
    assert other_forms("plain ascii passphrase") == []
    mixed = "Cafe\u0301 and Café"  # neither form: both others are tried
    assert other_forms(mixed) == [unicodedata.normalize("NFC", mixed), unicodedata.normalize("NFD", mixed)]


# -- B10: a pipe, device or folder at a backup's name is said, not silently left out ----------------------------


def test_a_pipe_or_folder_at_a_backups_name_is_said_by_the_list_and_hangs_nothing(engine):
    """B10: a backup whose file was replaced by a pipe (or a folder) vanished from `backup list` and `status`
    without a word, as a link is not. The list now says what is there; nothing is opened (a pipe would hang)."""
    root = engine.data.root
    first, second = engine.create_backup(), engine.create_backup()
    engine.release_instance_lock()
    folder = root / "backups"
    (folder / f"{first.id}.db").unlink()
    os.mkfifo(folder / f"{first.id}.db")
    (folder / f"{second.id}.db").unlink()
    (folder / f"{second.id}.db").mkdir()
    r = run_cli("backup", "list", data_dir=root, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"{first.id}.db is not listed: a pipe or a device is there, not a backup file." in r.stderr
    assert f"{second.id}.db is not listed: a folder is there, not a backup file." in r.stderr
    r = run_cli("status", data_dir=root, timeout=60)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
