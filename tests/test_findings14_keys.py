"""FINDINGS14 A9, A4, A7: the encryption key's passphrase across places.

A9: a location holding this very key locked with another passphrase (a change that left one drive with the old
file, then a recovery from that drive) is this data folder's key once the passphrase given opens it to this
data folder's recipient: taken (that file kept, the passphrase given opens the key from then on), never "another
key"; without the passphrase the refusal says which passphrase to give; a truly other key is still refused.

Real data folders and folder locations; keys locked at a low scrypt work factor (tests/agefile.py) where the test
is not about scrypt's cost.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from agefile import scrypt_encrypt
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import LocationCopyFailedError, ValidationError, WrongPassphraseError
from jobmatcher.locations.crypto import new_identity, unlock_identity
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import identity_key

NEW = "a brand new passphrase"

pytestmark = pytest.mark.usefixtures("file_credentials")


def _relocked(identity: str, passphrase: str) -> bytes:
    return scrypt_encrypt((identity.strip() + "\n").encode(), passphrase)


def _place(tmp_path: Path, name: str, engine: Engine, key_file: bytes | None) -> Path:
    d = tmp_path / name
    d.mkdir()
    if key_file is not None:
        k = d / identity_key(folder_id_of(engine.data))
        k.parent.mkdir(parents=True)
        k.write_bytes(key_file)
    return d


def _secret_file(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return p


def test_a9_the_same_key_under_another_passphrase_at_an_added_place_is_taken_with_that_passphrase(
    engine, quick_identity, tmp_path
):
    prime(engine, quick_identity)  # the data folder's key file opens with PASS (the drive recovered from)
    identity = quick_identity[1]
    theirs = _relocked(identity, NEW)  # the up-to-date location: the same key, the newer passphrase
    u2 = _place(tmp_path, "u2", engine, theirs)
    root = engine.data.root
    before = (root / "location-identity.age").read_bytes()
    # without a passphrase: not "another key" as a dead end; the way on is said
    with pytest.raises(LocationCopyFailedError) as e:
        engine.locations.add("folder", path=str(u2), name="u2")
    said = e.value.message + " " + (e.value.hint or "")
    assert "another passphrase" in said and "--passphrase-file" in said
    assert "Restore from those copies" not in said
    # the data folder's own passphrase does not open the file there: the same words, not "another key"
    with pytest.raises(LocationCopyFailedError) as e:
        engine.locations.add("folder", path=str(u2), name="u2", passphrase=PASS)
    assert "another passphrase" in e.value.message
    # the passphrase that opens it: added, that file kept, and it opens the key from now on
    r = engine.locations.add("folder", path=str(u2), name="u2", passphrase=NEW)
    assert "passphrase you gave" in r.note
    assert (root / "location-identity.age").read_bytes() == theirs
    assert (u2 / identity_key(folder_id_of(engine.data))).read_bytes() == theirs
    assert unlock_identity((root / "location-identity.age").read_bytes(), NEW).strip() == identity.strip()
    assert before != theirs
    engine.create_backup()
    results = Engine(root).locations.sync()
    assert not any(x.error for x in results), [x.error for x in results]
    assert list((u2 / "JobMatcher" / folder_id_of(engine.data)).glob("*.db.age"))


def test_a9_a_truly_other_key_is_still_refused_and_a_wrong_passphrase_still_wrong(engine, quick_identity, tmp_path):
    prime(engine, quick_identity)
    other, _ = new_identity()
    u3 = _place(tmp_path, "u3", engine, _relocked(other, NEW))
    before = (engine.data.root / "location-identity.age").read_bytes()
    with pytest.raises(LocationCopyFailedError) as e:
        engine.locations.add("folder", path=str(u3), name="u3", passphrase=NEW)
    assert "another encryption key" in e.value.message
    u4 = _place(tmp_path, "u4", engine, _relocked(quick_identity[1], NEW))
    with pytest.raises(WrongPassphraseError):
        engine.locations.add("folder", path=str(u4), name="u4", passphrase="neither of the two")
    with pytest.raises(WrongPassphraseError):  # the recovery key opens any file of the key: it proves no file
        engine.locations.add("folder", path=str(u4), name="u4", passphrase=other)
    assert (engine.data.root / "location-identity.age").read_bytes() == before
    assert [x.name for x in engine.locations.config().locations] == []


def test_a9_a_configured_location_holding_the_key_under_another_passphrase_is_taken_by_sync(
    engine, quick_identity, tmp_path
):
    prime(engine, quick_identity)
    root = engine.data.root
    usb = _place(tmp_path, "usb", engine, None)
    engine.locations.add("folder", path=str(usb), name="usb")
    other = _place(tmp_path, "other", engine, None)
    engine.locations.add("folder", path=str(other), name="other")
    engine.create_backup()
    engine.locations.sync()
    theirs = _relocked(quick_identity[1], NEW)  # locked anew by hand at that place (age), or by another computer
    (usb / identity_key(folder_id_of(engine.data))).write_bytes(theirs)
    engine.create_backup()
    res = {x.name: x for x in Engine(root).locations.sync()}
    assert res["usb"].error and "location sync --passphrase-file" in res["usb"].error
    new = _secret_file(tmp_path, "new.txt", NEW)
    r = run_cli("location", "sync", "--passphrase-file", str(new), data_dir=root)
    assert r.returncode == 0, r.stderr
    kept = (root / "location-identity.age").read_bytes()
    assert kept == theirs
    # the other location now holds the kept file too (the earlier one replaced at its copy)
    assert (other / identity_key(folder_id_of(engine.data))).read_bytes() == theirs
    assert not (root / "location-identity.relock.json").exists()


def test_a4_a_wrong_passphrase_twice_is_wrong_and_new_twice_finishes_a_change_left_half_done(
    engine, quick_identity, tmp_path
):
    prime(engine, quick_identity)
    root = engine.data.root
    usb = _place(tmp_path, "usb", engine, None)
    engine.locations.add("folder", path=str(usb), name="usb")
    engine.create_backup()
    engine.locations.sync()
    with pytest.raises(WrongPassphraseError):  # never "the same as the current one": it is not the current one
        engine.locations.change_passphrase("not the passphrase", "not the passphrase")
    with pytest.raises(ValidationError) as e:  # the current one given twice: nothing to change
        engine.locations.change_passphrase(PASS, PASS)
    assert "the same" in e.value.message
    # a change that did not reach the location (the state a kill after the data folder's file leaves)
    usb.rename(tmp_path / "away")
    r = engine.locations.change_passphrase(PASS, NEW)
    assert r.pending == ["usb"]
    (tmp_path / "away").rename(usb)
    assert (root / "location-identity.relock.json").exists()
    # README: "the same command again (with the old or the new passphrase)": the new one as both finishes it
    new = _secret_file(tmp_path, "new.txt", NEW)
    p = run_cli(
        "location", "passphrase", "--passphrase-file", str(new), "--new-passphrase-file", str(new), data_dir=root
    )
    assert p.returncode == 0, p.stderr
    now = (root / "location-identity.age").read_bytes()
    assert (usb / identity_key(folder_id_of(engine.data))).read_bytes() == now
    assert unlock_identity(now, NEW).strip() == quick_identity[1].strip()
    assert not (root / "location-identity.relock.json").exists()


def test_a7_a_killed_write_s_temp_files_in_the_data_folder_go_at_the_next_sync_and_others_stay(
    engine, quick_identity, tmp_path
):
    prime(engine, quick_identity)
    root = engine.data.root
    usb = _place(tmp_path, "usb", engine, None)
    engine.locations.add("folder", path=str(usb), name="usb")
    dead = 2**22 + 7  # no such process (above Linux's default pid_max)
    left = [f".location-identity.recipient.{dead}-{dead}-3.tmp", f".location-identity.relock.json.{dead}-{dead}-1.tmp"]
    for name in left:
        (root / name).write_bytes(b"x")
    theirs = root / f".notes.txt.{dead}.tmp"  # not a name JobMatcher makes: never touched
    theirs.write_bytes(b"mine")
    engine.create_backup()
    assert not any(x.error for x in Engine(root).locations.sync())
    assert not any((root / n).exists() for n in left)
    assert theirs.read_bytes() == b"mine"
