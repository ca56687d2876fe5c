"""FINDINGS11 X9, X13, X25: the encryption key across a new computer, a new passphrase, a recovery key in groups.

Real data folders, the real command line in subprocesses, real age files. The lost computer's key is the test's
own, locked at a low scrypt work factor (conftest.quick_identity): unlocking it is not what these tests are about;
the keys the command line makes (location add) are locked by age at its own work factor, as always."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")


def _folder_id(root: Path) -> str:
    return json.loads((root / ".jobmatcher-folder-id").read_text())["id"]


def _source(engine, usb: Path, tmp_path: Path, quick_identity) -> tuple[str, Path, str]:
    """The lost computer: its data copied encrypted to `usb`. Returns (backup id, passphrase file, folder id)."""
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    bid = engine.create_backup().id
    assert engine.locations.sync()[0].copied == [bid]
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    return bid, pw, _folder_id(engine.data.root)


def _cli(root: Path, *args: str):
    return run_cli(*args, data_dir=root)


# -- X9 -------------------------------------------------------------------------------------------------------


def test_add_the_location_then_restore_from_it_takes_the_copies_key_and_copies_go_on(
    engine, usb, tmp_path, quick_identity
):
    bid, pw, fid = _source(engine, usb, tmp_path, quick_identity)
    new = tmp_path / "new"
    # the natural order on a new computer: add the place first (a new key is made: nothing encrypted with it yet)
    r = _cli(new, "location", "add", "folder", str(usb), "--name", "usb", "--passphrase-file", str(pw), "--yes")
    assert r.returncode == 0, r.stderr
    r = _cli(
        new, "backup", "restore", bid, "--location", "usb", "--folder-id", fid, "--passphrase-file", str(pw), "--yes"
    )
    assert r.returncode == 0, r.stderr
    assert _folder_id(new) == fid  # the chain is taken over
    chain_key = (usb / "JobMatcher" / fid / "identity.age").read_bytes()
    assert (new / "location-identity.age").read_bytes() == chain_key  # and its key with it
    assert json.loads((new / "locations.json").read_text())["recipient"] == quick_identity[2]
    assert "recovery key" in r.stdout  # the one shown at `location add` no longer applies: said
    con = sqlite3.connect(new / "jobmatcher.db")
    con.execute("INSERT INTO skills (name) VALUES ('written on the new computer')")
    con.commit()
    con.close()
    r = _cli(new, "--json", "backup", "create")
    assert r.returncode == 0, r.stderr
    r2 = _cli(new, "--json", "location", "sync")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    new_bid = json.loads(r.stdout)["id"]  # copied in the background after `backup create`, or by the sync
    assert (usb / "JobMatcher" / fid / f"{new_bid}.db.age").is_file(), r2.stdout


def test_a_restore_does_not_take_a_chain_over_with_a_key_that_already_made_copies(
    engine, usb, tmp_path, quick_identity
):
    """The data folder's own key encrypted copies already (elsewhere): it is never replaced, and the chain is then
    not continued with another key (copies would stop): a list of its own starts."""
    bid, pw, fid = _source(engine, usb, tmp_path, quick_identity)
    new, other = tmp_path / "new", tmp_path / "other"
    other.mkdir()
    r = _cli(new, "location", "add", "folder", str(other), "--name", "other", "--passphrase-file", str(pw), "--yes")
    assert r.returncode == 0, r.stderr
    own_key = (new / "location-identity.age").read_bytes()
    # a copy made with that key (of an empty database: the folder stays "fresh", but the key is in use)
    assert _cli(new, "db", "migrate").returncode == 0
    assert _cli(new, "backup", "create").returncode == 0
    r = _cli(new, "--json", "location", "sync")
    assert r.returncode == 0, r.stdout + r.stderr
    assert list((other / "JobMatcher" / _folder_id(new)).glob("*.db.age"))  # (or by the background copy)
    r = _cli(new, "backup", "restore", bid, "--from-folder", str(usb), "--passphrase-file", str(pw), "--yes")
    assert r.returncode == 0, r.stderr
    assert (new / "location-identity.age").read_bytes() == own_key
    assert _folder_id(new) != fid  # no take-over with a key that cannot write there
    r = _cli(new, "location", "add", "folder", str(usb), "--name", "usb", "--passphrase-file", str(pw), "--yes")
    assert r.returncode == 0, r.stderr
    r = _cli(new, "--json", "location", "sync")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_sync_refused_for_another_key_there_writes_no_writer_json(engine, usb, tmp_path, quick_identity):
    """X9 (b): a computer whose key is not the one at the location never claims the copies (writer.json) first."""
    bid, pw, fid = _source(engine, usb, tmp_path, quick_identity)
    writer = usb / "JobMatcher" / fid / "writer.json"
    before = writer.read_bytes() if writer.exists() else None
    new, other = tmp_path / "new", tmp_path / "other"
    other.mkdir()
    r = _cli(new, "location", "add", "folder", str(other), "--name", "other", "--passphrase-file", str(pw), "--yes")
    assert r.returncode == 0, r.stderr
    from jobmatcher.engine import Engine

    e = Engine(new)
    e.migrate()
    e.data.adopt_folder_id(fid, 5, 2)  # a take-over of that chain, recorded here, with another key
    cfg = json.loads((new / "locations.json").read_text())
    loc = dict(cfg["locations"][0])
    loc.update(name="usb", path=str(usb), id="b" * 32, marker_id="")  # the place, as the lost laptop knew it
    cfg["locations"].append(loc)
    (new / "locations.json").write_text(json.dumps(cfg))
    assert e.create_backup().id
    r = _cli(new, "--json", "location", "sync", "usb")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "another encryption key" in r.stdout + r.stderr
    assert (writer.read_bytes() if writer.exists() else None) == before
    # and the original computer still copies there
    assert engine.create_backup().id
    res = engine.locations.sync()[0]
    assert res.error == "" and res.copied, res.error


# -- X25 ------------------------------------------------------------------------------------------------------


def _in_groups(key: str, between: str = " ") -> str:
    """A recovery key as copied from paper: groups of 6 characters with spaces between, the first half in lower
    case, `between` the halves (a secret file's key is on its first line: a space; typed in a field: a line break)."""
    groups = [key[i : i + 6] for i in range(0, len(key), 6)]
    return " ".join(groups[:8]).lower() + between + "\t" + " ".join(groups[8:]) + "\n"


def test_a_recovery_key_in_groups_is_the_key_everywhere(quick_identity):
    from jobmatcher.locations.crypto import is_recovery_key, recipient_of, unlock_identity

    spaced = _in_groups(quick_identity[1], "\n")
    assert is_recovery_key(spaced) and is_recovery_key("  age-secret - key-1 qq")
    assert recipient_of(spaced) == quick_identity[2]
    assert unlock_identity(quick_identity[0], spaced) == quick_identity[1]


def test_a_recovery_key_in_groups_unlocks_copies_and_restores(engine, usb, tmp_path, quick_identity):
    bid, pw, fid = _source(engine, usb, tmp_path, quick_identity)
    root = engine.data.root
    rk = tmp_path / "rk"
    rk.write_text(_in_groups(quick_identity[1]))
    # the recipient unproven (an older version's data folder): the one unlock step, with the key in groups
    (root / "location-identity.recipient").unlink()
    cfg = json.loads((root / "locations.json").read_text())
    cfg.pop("recipient_binding", None)
    (root / "locations.json").write_text(json.dumps(cfg))
    engine.create_backup()
    r = _cli(root, "location", "sync", "--passphrase-file", str(rk))
    assert r.returncode == 0, r.stdout + r.stderr
    # disaster recovery with it
    r = _cli(
        tmp_path / "new", "backup", "restore", bid, "--from-folder", str(usb), "--passphrase-file", str(rk), "--yes"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # a key cut short is "not a recovery key", never passphrase advice
    cut = tmp_path / "cut"
    cut.write_text(_in_groups(quick_identity[1][:-5]))
    (root / "location-identity.recipient").unlink()
    r = _cli(root, "location", "sync", "--passphrase-file", str(cut))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not a JobMatcher recovery key" in r.stderr and "passphrase" not in r.stderr.split("\n")[0], r.stderr


# -- X13 ------------------------------------------------------------------------------------------------------


def test_a_key_file_locked_again_with_another_passphrase_is_said_so_with_the_step_that_works(
    engine, usb, tmp_path, quick_identity
):
    from jobmatcher.locations.config import recipient_binding
    from pyrage import passphrase as pp

    bid, pw, fid = _source(engine, usb, tmp_path, quick_identity)
    root = engine.data.root
    cfg = json.loads((root / "locations.json").read_text())  # bound to its key file, as the first `add` binds it
    cfg["recipient_binding"] = recipient_binding(quick_identity[2], quick_identity[0])
    (root / "locations.json").write_text(json.dumps(cfg))
    # what an age-savvy user does (README "Your backups without JobMatcher"): the same key, a new passphrase
    new_pass = "a much better passphrase"
    (root / "location-identity.age").write_bytes(pp.encrypt((quick_identity[1] + "\n").encode(), new_pass))
    pw2 = tmp_path / "pw2"
    pw2.write_text(new_pass + "\n")
    engine.create_backup()
    r = _cli(root, "location", "sync")
    assert r.returncode == 1
    assert "locked again" in r.stderr and "is not the key" not in r.stderr, r.stderr
    r = _cli(root, "location", "sync", "--passphrase-file", str(pw2))
    assert r.returncode == 1
    assert "locked again" in r.stderr and f"JobMatcher/{fid}/identity.age" in r.stderr, r.stderr
    # the step it gives works
    (usb / "JobMatcher" / fid / "identity.age").write_bytes((root / "location-identity.age").read_bytes())
    r = _cli(root, "--json", "location", "sync")
    assert r.returncode == 0, r.stdout + r.stderr
