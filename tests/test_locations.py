"""Backup locations on folders: copies, encryption with age, retention, refusals, disaster recovery, the CLI.

Real parts: real data folders and backups, real age encryption (pyrage), Debian's
`age` command decrypting a copy, the real command line in subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import exec_on_pty, fill_sample_data, fingerprint, prime, run_cli
from jobmatcher import profile
from jobmatcher.engine import Engine
from jobmatcher.errors import TamperedCopyError, WrongIdentityError, WrongPassphraseError
from jobmatcher.locations.config import load_states, save_states
from jobmatcher.locations.copier import Copier
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.recovery import restore_from_location
from jobmatcher.locations.remote import list_remote, manifest_key
from jobmatcher.manifest import manifest_path, read_manifest, write_manifest

pytestmark = pytest.mark.usefixtures("file_credentials")


@pytest.fixture
def primed(engine, locked_identity) -> Engine:
    prime(engine, locked_identity)
    return engine


def _name(engine: Engine) -> str:
    conn = engine.connect()
    try:
        return profile.get_profile(conn).full_name
    finally:
        conn.close()


def _age_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.db.age"))


def test_encrypted_round_trip_reveals_nothing_and_restores_on_a_fresh_folder(engine, usb, tmp_path):
    added = engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    assert added.recovery_key.startswith("AGE-SECRET-KEY-1")
    first = engine.create_backup(note="Ada's secret note")
    [r] = engine.locations.sync()
    assert r.copied == [first.id] and not r.error

    # What is at the location: names carry only the time; nothing readable inside.
    [copy] = _age_files(usb)
    fid = folder_id_of(engine.data)
    assert copy.name == f"{first.id}.db.age" and copy.parent.name == fid
    blob = copy.read_bytes()
    assert blob.startswith(b"age-encryption.org/v1\n")
    for secret in (b"SQLite format 3", b"Ada Lovelace", b"Analyst", b"saved_jobs"):
        assert secret not in blob
    manifest = json.loads((copy.parent / f"{first.id}.json").read_text())
    assert set(manifest) == {
        "format",
        "created_at",
        "type",
        "size_bytes",
        "sha256",
        "stored_size",
        "stored_sha256",
        "encrypted",
        "schema_revision",
        "sequence",
        "pinned",  # whether the backup is pinned: travels with the copy (FINDINGS13 Z2)
    }
    assert "secret note" not in json.dumps(manifest)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE((engine.data.root / "location-identity.age").stat().st_mode) == 0o600

    # A new machine: an empty data folder, the location and the passphrase alone.
    fresh = Engine(tmp_path / "new-machine")
    client = FolderLocation(usb)
    [remote] = list_remote(client)
    result, _ = restore_from_location(fresh, client, remote.id, PASS)
    assert result.safety_backup_id is None
    assert _name(fresh) == "Ada Lovelace"
    assert fresh.check().ok
    # the identity was recovered from the location: new copies from here use the same key
    assert fresh.locations.config().recipient == engine.locations.config().recipient
    assert not [p for p in fresh.data.root.iterdir() if p.name.endswith(".tmp")]


def test_age_cli_decrypts_a_copy_without_jobmatcher(primed, usb, tmp_path, locked_identity):
    engine = primed
    age = shutil.which("age")
    if age is None:
        pytest.skip("Debian's age is not installed (dev.sh installs it)")
    engine.locations.add("folder", path=str(usb), passphrase=PASS)
    key = locked_identity[1]
    b = engine.create_backup()
    engine.locations.sync()
    [copy] = _age_files(usb)
    keyfile = tmp_path / "recovery-key.txt"
    keyfile.write_text(key + "\n")
    out = tmp_path / "restored.db"
    subprocess.run([age, "--decrypt", "-i", str(keyfile), "-o", str(out), str(copy)], check=True, timeout=60)
    assert out.read_bytes() == Path(b.path).read_bytes()

    # The locked identity at the location opens with the passphrase (age asks on the terminal: a pty).

    ident_out = tmp_path / "identity.txt"
    # umask as the README's recipe starts: the unlocked key is for its owner's eyes only (V15b)
    pid, fd = exec_on_pty([age, "--decrypt", "-o", str(ident_out), str(copy.parent / "identity.age")], umask=0o077)
    deadline = time.monotonic() + 30
    buf = b""
    while b"passphrase" not in buf.lower() and time.monotonic() < deadline:
        buf += os.read(fd, 1024)
    os.write(fd, (PASS + "\n").encode())
    while True:
        try:
            if not os.read(fd, 1024):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, buf
    assert ident_out.read_text().strip() == key
    assert stat.S_IMODE(ident_out.stat().st_mode) == 0o600


def test_wrong_passphrase_other_identity_and_tampering_are_each_refused(primed, usb, tmp_path, locked_identity):
    engine = primed
    key = locked_identity[1]
    engine.locations.add("folder", path=str(usb), passphrase=PASS)
    engine.create_backup()
    engine.locations.sync()
    client = FolderLocation(usb)
    [remote] = list_remote(client)
    target = Engine(tmp_path / "target")
    target.migrate()
    fill_sample_data(target, name="Grace Hopper")
    before = fingerprint(target.data.db_path)
    backups_before = target.list_backups()

    with pytest.raises(WrongPassphraseError):
        restore_from_location(target, client, remote.id, "not the passphrase")

    from jobmatcher.locations.crypto import new_identity

    with pytest.raises(WrongIdentityError):  # the recovery key of another data folder
        restore_from_location(target, client, remote.id, new_identity()[0])

    [copy] = _age_files(usb)
    original = copy.read_bytes()
    mpath = copy.parent / f"{remote.id}.json"
    m0 = json.loads(mpath.read_text())

    # flipped bit: the stored checksum no longer matches
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 1
    copy.write_bytes(bytes(flipped))
    with pytest.raises(TamperedCopyError, match="its checksum does not match the one recorded"):
        restore_from_location(target, client, remote.id, key)
    copy.write_bytes(original[:-10])  # cut short: said in bytes, not the same number twice (G20)
    with pytest.raises(TamperedCopyError, match=f"has {len(original) - 10:,} bytes where {len(original):,} were"):
        restore_from_location(target, client, remote.id, key)
    copy.write_bytes(bytes(flipped))

    # tampered with the manifest made to match: age's authentication refuses it
    import hashlib

    m = dict(m0, stored_sha256=hashlib.sha256(bytes(flipped)).hexdigest())
    mpath.write_text(json.dumps(m))
    with pytest.raises(TamperedCopyError, match="authentication"):
        restore_from_location(target, client, remote.id, key)

    # truncated, manifest matching again
    cut = original[:-200]
    copy.write_bytes(cut)
    mpath.write_text(json.dumps(dict(m0, stored_size=len(cut), stored_sha256=hashlib.sha256(cut).hexdigest())))
    with pytest.raises(TamperedCopyError):
        restore_from_location(target, client, remote.id, key)

    assert fingerprint(target.data.db_path) == before
    assert [b.id for b in target.list_backups()] == [b.id for b in backups_before]  # not even a safety backup
    assert not [p for p in target.data.root.iterdir() if p.name.endswith(".tmp")]


def test_plain_location_round_trip_through_the_cli(engine, usb, tmp_path):
    r = run_cli("location", "add", "folder", str(usb), "--name", "Drive", "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "NOT encrypted" in r.stdout and "recovery key" not in r.stdout
    b = engine.create_backup()
    r = run_cli("location", "sync", "Drive", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "copied 1" in r.stdout
    [copy] = sorted(usb.rglob("*.db"))
    assert copy.read_bytes() == Path(b.path).read_bytes()

    r = run_cli("location", "list", "--json", data_dir=engine.data.root)
    [row] = json.loads(r.stdout)
    assert row["name"] == "Drive" and row["reachable"] is True and row["pending"] == 0 and row["copies"] == 1
    assert row["used_bytes"] == b.size_bytes and row["last_success_at"]

    r = run_cli("backup", "list", "--location", "Drive", "--json", data_dir=engine.data.root)
    assert r.returncode == 0 and [x["id"] for x in json.loads(r.stdout)] == [b.id], r.stderr
    r = run_cli("backup", "list", "--location", "Nope", data_dir=engine.data.root)
    assert r.returncode == 1 and "no backup location named" in r.stderr

    fresh = tmp_path / "fresh"
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=fresh)
    assert r.returncode == 0 and b.id in r.stdout, r.stderr
    r = run_cli("backup", "restore", b.id, "--from-folder", str(usb), "--yes", data_dir=fresh)
    assert r.returncode == 0, r.stderr
    assert _name(Engine(fresh)) == "Ada Lovelace"


def test_cli_refusals_say_what_to_do(engine, usb, tmp_path):
    d = engine.data.root
    # encrypted add with no terminal and no passphrase file: refused, nothing saved
    r = run_cli("location", "add", "folder", str(usb), data_dir=d)
    assert r.returncode == 1 and "--passphrase-file" in r.stderr and "Traceback" not in r.stderr
    assert not (d / "locations.json").exists()
    r = run_cli("location", "add", "folder", str(tmp_path / "nope"), "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = run_cli("location", "add", "folder", "relative/path", "--no-encrypt", data_dir=d)
    # taken from where the command runs, as every other path (L15): then it does not exist there
    assert r.returncode == 1 and f"{os.path.abspath('relative/path')} is not available" in r.stderr, r.stderr
    short = tmp_path / "pw"
    short.write_text("short\n")
    r = run_cli("location", "add", "folder", str(usb), "--passphrase-file", str(short), data_dir=d)
    assert r.returncode == 1 and "at least 8" in r.stderr
    r = run_cli("location", "sync", "Nope", data_dir=d)
    assert r.returncode == 1 and "no backup location named" in r.stderr
    r = run_cli("location", "disable", data_dir=d)
    assert r.returncode == 2
    r = run_cli("backup", "restore", "backup_2020-01-01_00-00-00", "--from-folder", str(usb), "--yes", data_dir=d)
    assert r.returncode == 1 and "There are no JobMatcher copies in" in r.stderr  # no marker: no copies there


def test_recreated_empty_folder_is_never_written(primed, locked_identity, usb):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    shutil.rmtree(usb)
    usb.mkdir()  # where the unplugged drive was: an empty folder
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-unavailable" and "marker" in r.error
    assert list(usb.iterdir()) == []
    [s] = engine.locations.status()
    assert s.reachable is False and s.pending == 1  # the first copy is there, as last seen


def test_unreachable_location_backs_off_then_catches_up_in_order(primed, locked_identity, usb, tmp_path):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    moved = tmp_path / "unplugged"
    usb.rename(moved)  # the drive is gone
    made = [engine.create_backup().id for _ in range(3)]
    [r] = engine.locations.sync(only_due=True)
    assert r.error_code == "location-unavailable"
    st = load_states(engine.data.root)[engine.locations.get("USB").id]
    assert st.failures == 1 and st.next_try_at > datetime.now(timezone.utc)
    assert engine.locations.sync(only_due=True)[0].skipped  # backing off
    assert not engine.locations.wanted_pending()  # the background copier waits too
    moved.rename(usb)  # plugged in again
    [r] = engine.locations.sync()  # asked by the user: no waiting
    assert r.copied == made[::-1]  # newest first (FINDINGS20 4)
    st = load_states(engine.data.root)[engine.locations.get("USB").id]
    assert st.failures == 0 and st.next_try_at is None and sorted(st.copied) == sorted(made)


def test_a_drive_plugged_back_in_is_copied_to_at_once_not_after_its_back_off(primed, locked_identity, usb, tmp_path):
    """X24: the background copier (only_due) looks at a folder location last found not available every round
    (one look at the folder and its marker), so a drive plugged in for an evening gets its copies even when a
    day of failed rounds set its retry hours ahead. A place that answers but fails keeps its back-off."""
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    moved = tmp_path / "unplugged"
    usb.rename(moved)
    made = [engine.create_backup().id for _ in range(2)]
    for _ in range(10):  # a day away: ten failed rounds, each doubling the back-off
        engine.locations.sync()
    st = load_states(engine.data.root)[engine.locations.get("USB").id]
    assert st.failures == 10 and st.next_try_at > datetime.now(timezone.utc) + timedelta(hours=1), st
    assert engine.locations.sync(only_due=True)[0].skipped  # still unplugged: skipped, nothing written
    assert not engine.locations.wanted_pending()
    moved.rename(usb)  # plugged in again, hours before the retry time
    assert engine.locations.wanted_pending()  # the copier wakes up for it
    [r] = engine.locations.sync(only_due=True)
    assert not r.skipped and r.copied == made[::-1], r  # newest first (FINDINGS20 4)
    # a failure other than "not there" keeps its back-off (the place answered and failed)
    states = load_states(engine.data.root)
    st = states[engine.locations.get("USB").id]
    st.failures, st.last_error_code = 5, "location-copy-failed"
    st.next_try_at = datetime.now(timezone.utc) + timedelta(hours=2)
    save_states(engine.data.root, states)
    engine.create_backup()
    assert engine.locations.sync(only_due=True)[0].skipped


def _age_backup(engine: Engine, backup_id: str, days: float) -> None:
    p = Path(engine.store.get(backup_id).path)
    m = read_manifest(p)
    m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
    write_manifest(p, m)
    from conftest_app import renumber_by_date

    renumber_by_date(p.parent)  # emulates time passing, not a clock that was behind


def test_location_retention_deletes_only_what_this_data_folder_wrote(primed, locked_identity, usb, tmp_path):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    ids = [engine.create_backup().id for _ in range(3)]
    _age_backup(engine, ids[0], 2)  # every day in use (W2: days without backups do not age backups)
    _age_backup(engine, ids[1], 1)
    # someone else's files, and another data folder's copies, in the same folder
    other = Engine(tmp_path / "other")
    other.migrate()
    prime(other, locked_identity)
    other.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    other_b = other.create_backup()
    _age_backup(other, other_b.id, 400)
    other.locations.sync()
    (usb / "holiday.jpg").write_bytes(b"not ours")
    assert engine.locations.sync()[0].copied == ids[::-1]  # newest first (FINDINGS20 4)

    engine.locations.set_retention("USB", 1, confirmed=True)  # asked: it deletes a copy there
    [r] = engine.locations.sync()
    assert r.deleted == [ids[0]]
    fid = folder_id_of(engine.data)
    assert [x.id for x in list_remote(FolderLocation(usb), fid)] == [ids[2], ids[1]]
    assert (usb / "holiday.jpg").read_bytes() == b"not ours"
    assert [x.id for x in list_remote(FolderLocation(usb), folder_id_of(other.data))] == [other_b.id]

    # retention is applied before copying: nothing is copied only to be deleted
    fresh = Engine(tmp_path / "third")
    fresh.migrate()
    prime(fresh, locked_identity)
    fresh.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    fresh.locations.set_retention("USB", 1)
    olds = [fresh.create_backup().id for _ in range(3)]
    _age_backup(fresh, olds[0], 2)
    _age_backup(fresh, olds[1], 1)
    assert fresh.locations.sync()[0].copied == olds[:0:-1]  # newest first (FINDINGS20 4)


def _redate(engine: Engine, backup_id: str, days: float) -> None:
    """Date a backup `days` ago keeping its sequence: as if the clock was wrong when it was made."""
    p = Path(engine.store.get(backup_id).path)
    m = read_manifest(p)
    m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
    write_manifest(p, m)


def test_location_retention_goes_by_sequence_not_the_clock(primed, locked_identity, usb):
    """'Newest' at a location is the highest sequence, as in local retention: a backup made while the clock
    was behind is neither copied out of order nor pruned there, even once its local file is gone."""
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.locations.set_retention("USB", 1)
    b1, bx, b2, b3 = (engine.create_backup().id for _ in range(4))
    _redate(engine, b1, 3)  # really old (bx from yesterday, so the days between are in use, W2)
    _redate(engine, bx, 1)
    _redate(engine, b3, 35)  # made last, while the clock was 35 days behind
    [r] = engine.locations.sync()
    assert r.copied == [b3, b2, bx] and not r.deleted, r  # newest first by making; b1 is past the day to keep
    fid = folder_id_of(engine.data)
    seqs = {x.id: x.sequence for x in list_remote(FolderLocation(usb), fid)}
    assert seqs == {bx: 2, b2: 3, b3: 4}
    assert json.loads((usb / manifest_key(fid, b3)).read_text())["sequence"] == 4

    engine.delete_backup(b3)  # gone here: only the copy's own manifest says it is the newest
    [r] = engine.locations.sync()
    assert r.deleted == [] and not r.error, r
    assert [x.id for x in list_remote(FolderLocation(usb), fid)] == [b3, b2, bx]  # newest first, order of making
    assert not engine.locations.wanted_pending()  # b1 is not waiting: the location would not keep it


def test_a_recovered_data_folder_continues_the_chain_and_the_found_laptop_steps_aside(
    primed, locked_identity, usb, tmp_path
):
    """Disaster recovery on a new computer continues the lost one's list of copies (same data folder id,
    numbered after them, pruned by its retention); the lost laptop, found and running again, no longer
    writes to or deletes from that list, and says why."""
    laptop = primed
    laptop.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    a1, a2 = (laptop.create_backup().id for _ in range(2))
    assert laptop.locations.sync()[0].copied == [a2, a1]  # newest first (FINDINGS20 4)
    fid = folder_id_of(laptop.data)

    # the laptop is lost: a new computer restores from the drive with the passphrase
    new = tmp_path / "new-computer"
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    r = run_cli("backup", "restore", a2, "--from-folder", str(usb), "--passphrase-file", str(pw), "--yes", data_dir=new)
    assert r.returncode == 0, r.stderr
    desk = Engine(new)
    assert _name(desk) == "Ada Lovelace"
    assert folder_id_of(desk.data) == fid  # it carries on as that data folder
    r = run_cli("location", "add", "folder", str(usb), "--name", "USB", data_dir=new)  # same key: no passphrase
    assert r.returncode == 0, r.stderr
    d1 = desk.create_backup().id
    assert desk.store.get(d1).sequence == 3  # numbered after the copies it continues
    r = run_cli("location", "sync", data_dir=new)
    assert r.returncode == 0 and "copied 1" in r.stdout, r.stdout + r.stderr
    client = FolderLocation(usb)
    assert [x.id for x in list_remote(client)] == [d1, a2, a1]  # one list, one data folder
    r = run_cli("backup", "list", "--location", "USB", data_dir=new)
    assert r.returncode == 0 and "DATA FOLDER" not in r.stdout and a1 in r.stdout, r.stdout

    # its retention covers the whole list: the laptop's oldest copy ages out there (made 2 days ago, a2
    # yesterday: every day in use, W2)
    for copy, days in ((a1, 2), (a2, 1)):
        m = usb / manifest_key(fid, copy)
        body = json.loads(m.read_text())
        body["created_at"] = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
        m.write_text(json.dumps(body))
    desk.locations.set_retention("USB", 1, confirmed=True)  # asked: it deletes a copy there
    [r] = desk.locations.sync()
    assert r.deleted == [a1] and not r.error, r

    # the lost laptop is found and runs again: its data differ now, so it leaves the desk's list alone
    before = sorted((str(p.relative_to(usb)), p.stat().st_size) for p in usb.rglob("*"))
    laptop.create_backup()
    [r] = laptop.locations.sync()
    assert r.error_code == "location-taken-over" and "Another computer" in r.error, r
    assert sorted((str(p.relative_to(usb)), p.stat().st_size) for p in usb.rglob("*")) == before
    [s] = laptop.locations.status()
    assert s.reachable is True and s.problem_code == "location-taken-over" and s.pending >= 1
    assert any("Another computer" in h.message for h in laptop.locations.health())
    d2 = desk.create_backup().id
    assert desk.locations.sync()[0].copied == [d2]  # the desk goes on


def test_an_adopted_chain_moves_with_its_data_folder(tmp_path):
    """adopted_at and sequence_after stay with the id when the data folder is moved (same id), not when it
    is copied while the original is still there (a copy gets an id, and a chain, of its own)."""
    from jobmatcher.datadir import DataDir

    home = DataDir.open(tmp_path / "recovered")
    home.adopt_folder_id("ab" * 16, sequence_after=41)
    when = home.adopted_at()
    assert home.folder_id() == "ab" * 16 and home.sequence_floor() == 41 and when is not None
    moved = tmp_path / "moved"
    home.root.rename(moved)
    there = DataDir.open(moved)
    assert there.folder_id() == "ab" * 16 and there.sequence_floor() == 41 and there.adopted_at() == when
    assert json.loads(there.folder_id_path.read_text())["path"] == str(moved)
    shutil.copytree(moved, tmp_path / "copy")
    copy = DataDir.open(tmp_path / "copy")
    assert copy.folder_id() != "ab" * 16 and copy.sequence_floor() == 0 and copy.adopted_at() is None


def test_disabled_location_is_left_alone(primed, locked_identity, usb):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.locations.set_enabled("USB", False)
    engine.create_backup()
    before = sorted(str(p) for p in usb.rglob("*"))
    [r] = engine.locations.sync()
    assert r.skipped
    assert sorted(str(p) for p in usb.rglob("*")) == before
    [s] = engine.locations.status()
    assert s.enabled is False and s.reachable is None and s.pending == 0
    engine.locations.set_enabled("USB", True)
    assert len(engine.locations.sync()[0].copied) == 1


def test_backup_create_copies_in_the_background(engine, usb):
    r = run_cli("location", "add", "folder", str(usb), "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    r = run_cli("backup", "create", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    bid = json.loads(r.stdout)["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(usb.rglob(f"{bid}.json")):
        time.sleep(0.2)
    assert list(usb.rglob(f"{bid}.json")), "the background copy did not arrive"
    assert time.monotonic() - t0 < 60


def test_app_copier_thread_copies_backups_made_elsewhere(primed, locked_identity, usb):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    copier = Copier(lambda: engine.locations, poll=0.2)
    copier.start()
    try:
        b = engine.create_backup()  # as the scheduler or another process would
        copier.kick()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(usb.rglob(f"{b.id}.json")):
            time.sleep(0.1)
    finally:
        copier.stop()
        copier.join(10)
    assert list(usb.rglob(f"{b.id}.json"))


def test_a_backup_made_in_the_app_is_copied_at_once_not_at_the_copiers_next_look(
    primed, locked_identity, usb, monkeypatch
):
    """The page's backup and the scheduler's kick the copier: with a copier that would look again only in an
    hour, both backups still reach the location within seconds (before: at the next look, 10 s in the app)."""
    import jobmatcher.locations.copier as copier_module
    from jobmatcher.api import Api

    class Slow(copier_module.Copier):
        def __init__(self, make_locations, poll: float = 3600.0) -> None:
            super().__init__(make_locations, poll=3600.0)

    monkeypatch.setattr(copier_module, "Copier", Slow)
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        deadline = time.monotonic() + 30
        while api._copier._wake.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)  # the launch's own kick taken (copies missed while the app was closed)
        time.sleep(0.5)

        def arrives(backup_id: str) -> bool:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not list(usb.rglob(f"{backup_id}.json")):
                time.sleep(0.1)
            return bool(list(usb.rglob(f"{backup_id}.json")))

        r = api._dispatch("start_backup", ["from the page"])
        assert r["ok"], r
        made = api._tasks.wait(r["value"]["id"], 60)["result"]["backup"]["id"]
        assert arrives(made), "the page's backup waited for the copier's next look"
        assert api._dispatch("add_skill", ["Changed for the scheduler"])["ok"]  # so its backup is not 'unchanged'
        auto = api._scheduled_backup(None)
        assert auto is not None and arrives(auto), "the scheduler's backup waited for the copier's next look"
    finally:
        api._close()


def test_status_line_and_health(primed, locked_identity, usb, tmp_path):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    engine.create_backup()
    engine.locations.sync()
    line = engine.locations.status_line()
    # the test's "USB" shares the temp folder's disk with the data: said, not counted as another copy (X22)
    assert line.startswith("1 copy: this disk ✓ · USB ✓ just now (same disk)"), line
    assert engine.locations.health() == []
    usb.rename(tmp_path / "gone")
    engine.locations.sync()
    assert "USB ✗" in engine.locations.status_line()
    [h] = engine.locations.health()
    assert h.level == "warn" and "not available" in h.message
    engine.create_backup()  # a copy waits now
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert any(h.code == "location-stale" for h in engine.locations.health(now=later))
    assert not any(h.code == "location-stale" for h in engine.locations.health())
    # the engine's one health rule carries them, and the copies line
    health = engine.health()
    assert health.copies.startswith("1 of 2 copies working: this disk ✓ · USB ✗") and health.level != "ok"
    assert any(w.code == "location-unavailable" for w in health.warnings)


def test_manifest_written_after_data_so_a_half_copy_is_never_listed(primed, locked_identity, usb):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    b = engine.create_backup()
    engine.locations.sync()
    fid = folder_id_of(engine.data)
    client = FolderLocation(usb)
    (usb / manifest_key(fid, b.id)).unlink()  # as if killed between the data and its manifest
    assert list_remote(client) == []
    assert engine.locations.sync()[0].copied == [b.id]  # copied again
    assert [x.id for x in list_remote(client)] == [b.id]
    assert manifest_path(Path(b.path)).exists()


def test_page_api_for_locations_validates_and_never_returns_secrets(primed, usb, tmp_path, locked_identity):
    """The page's calls through the same dispatch the window and browser mode use."""
    from jobmatcher.api import Api

    engine = primed
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:

        def call(name, *args):
            return api._dispatch(name, list(args))

        r = call("add_folder_location", str(usb), "USB", True, "")
        assert r["ok"] and r["value"]["recovery_key"] is None, r  # the identity existed: no key shown again
        r = call("add_folder_location", "relative/folder", "", True, "")
        assert not r["ok"] and "full path" in r["error"]["message"]
        r = call("add_s3_location", "ftp://x", "bucket", "AKID", "SECRET-never-shown", "", "", True, "")
        assert not r["ok"] and "SECRET-never-shown" not in json.dumps(r)
        r = call("set_location_enabled", "Nope", False)
        assert not r["ok"] and r["error"]["code"] == "location-not-found"
        engine.create_backup()
        r = call("sync_locations", "USB")
        assert r["ok"]
        deadline = time.monotonic() + 30
        while call("locations_overview")["value"]["sync"]["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        view = call("locations_overview")["value"]
        [row] = view["locations"]
        assert row["name"] == "USB" and row["pending"] == 0 and row["copies"] >= 1
        assert view["status_line"].startswith("1 copy") and "USB ✓" in view["status_line"]  # same disk (X22)
        listed = call("remote_backups", {"kind": "folder", "path": str(usb)})["value"]
        assert listed["backups"] and listed["backups"][0]["encrypted"] is True
        empty = tmp_path / "empty"  # not tmp_path: a folder above a location is refused as such (FINDINGS9 V4)
        empty.mkdir()
        r = call("remote_backups", {"kind": "folder", "path": str(empty)})
        assert r["ok"] and r["value"]["backups"] == []  # a folder only looked into: no copies there (F18)
        r = call("start_restore_from_location", {"kind": "configured", "name": "USB"}, listed["backups"][0]["id"], "")
        assert not r["ok"] and "passphrase" in r["error"]["message"]
        assert call("remove_location", "USB")["ok"]
        assert call("locations_overview")["value"]["locations"] == []
    finally:
        api._close()


@pytest.mark.parametrize(
    "where, says",
    [
        ("/", "contains the data folder"),
        ("/etc", "system folder"),
        ("DATA_PARENT", "contains the data folder"),
        ("DATA", "data folder itself"),
        ("DATA/backups", "inside the data folder"),
        ("A_FILE", "is a file, not a folder"),
    ],
)
def test_a_location_folder_follows_the_backup_folder_rules(engine, tmp_path, where, says):
    """A location is written to and pruned like the backup folder, so the same folders are refused, by path."""
    d = engine.data.root
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    path = where.replace("DATA_PARENT", str(d.parent)).replace("DATA", str(d)).replace("A_FILE", str(a_file))

    def listing(folder):  # JobMatcher's own lock files in the data folder are not writes to the location
        return sorted(n for n in os.listdir(folder) if not n.startswith(".jobmatcher."))

    before = listing(path) if os.path.isdir(path) else None
    r = run_cli("location", "add", "folder", path, "--no-encrypt", data_dir=d)
    assert r.returncode == 1 and says in r.stderr, r.stderr
    assert "location name" not in r.stderr and "Traceback" not in r.stderr
    assert not (d / "locations.json").exists()
    if before is not None:
        assert listing(path) == before  # no marker written there
    assert a_file.read_text() == "mine"


def _run_cli_capped(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """run_cli with the address space capped at 2 GiB: an unbounded read fails here instead of OOM-killing
    other processes on the machine (before the fix, `--passphrase-file /dev/zero` grew to 22 GB)."""
    import resource
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )


@pytest.mark.parametrize("secret_option", ["--passphrase-file", "--secret-access-key-file"])
def test_secret_files_are_read_only_when_small_and_regular(engine, usb, tmp_path, secret_option):
    d = engine.data.root
    if secret_option == "--passphrase-file":

        def add(f: str) -> subprocess.CompletedProcess:
            return _run_cli_capped("location", "add", "folder", str(usb), "--passphrase-file", f, data_dir=d)
    else:

        def add(f: str) -> subprocess.CompletedProcess:
            return _run_cli_capped(
                "location",
                "add",
                "s3",
                "--endpoint-url",
                "http://127.0.0.1:9",
                "--bucket",
                "jm-bucket",
                "--access-key-id",
                "AKIDEXAMPLE",
                "--secret-access-key-file",
                f,
                "--no-encrypt",
                data_dir=d,
            )

    huge = tmp_path / "huge"
    with open(huge, "wb") as fh:  # sparse: 3 GiB of zero bytes without a line end, no disk used
        fh.truncate(3 << 30)
    long_line = tmp_path / "long"
    long_line.write_text("x" * 5000 + "\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = {
        "/dev/zero": "not a regular file",
        str(fifo): "not a regular file",
        str(tmp_path): "not a regular file",
        str(huge): "too large",
        str(long_line): "too large",
    }
    for f, says in cases.items():
        r = add(f)
        assert r.returncode == 1, (f, r.returncode, r.stderr)
        assert says in r.stderr and f in r.stderr and "Traceback" not in r.stderr, (f, r.stderr)
        assert "x" * 100 not in r.stderr + r.stdout  # the secret is never shown
        assert not (d / "locations.json").exists()


def test_folder_cleanup_deletes_only_its_own_temp_names(engine, usb):
    d = engine.data.root
    r = run_cli("location", "add", "folder", str(usb), "--name", "Drive", "--no-encrypt", data_dir=d)
    assert r.returncode == 0, r.stderr
    engine.create_backup()
    assert run_cli("location", "sync", "Drive", data_dir=d).returncode == 0
    [ns] = [p for p in (usb / "JobMatcher").iterdir() if p.is_dir()]
    old = time.time() - 7 * 86400
    theirs = [
        ".tmp-foo",
        ".tmp-draft.txt",
        ".tmp-123-0123456789ab.part.keep",
        ".tmp-123-0123456789AB.part",
        ".tmp-123-0123456789a.part",
        ".tmp--0123456789ab.part",
        ".tmp-١٢٣-0123456789ab.part",
    ]
    ours = ".tmp-999999999-0123456789ab.part"  # a killed copy's temp file, a week old
    for name in [*theirs, ours]:
        (ns / name).write_text("someone's file")
        os.utime(ns / name, (old, old))
    engine.create_backup()
    r = run_cli("location", "sync", "Drive", data_dir=d)
    assert r.returncode == 0, r.stderr
    assert not (ns / ours).exists()
    assert sorted(p.name for p in ns.iterdir() if p.name.startswith(".tmp-")) == sorted(theirs)


def test_folder_cleanup_removes_a_killed_copys_temp_file_and_keeps_a_running_ones(usb):
    """A temp file of a copy whose process is gone is removed at once; one of a running process (this one, its
    parent) is kept until it is an hour old (a copy cannot take that long), then removed."""
    import subprocess

    from jobmatcher.locations.folder import FolderLocation

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    ns = usb / "JobMatcher" / ("ab" * 16)
    ns.mkdir(parents=True)
    killed, running, parents = (f".tmp-{pid}-0123456789ab.part" for pid in (gone.pid, os.getpid(), os.getppid()))
    stale = f".tmp-{os.getpid()}-ba9876543210.part"
    for name in (killed, running, parents, stale):
        (ns / name).write_text("half a copy")
    old = time.time() - 2 * 3600
    os.utime(ns / stale, (old, old))
    removed = FolderLocation(usb).remove_stale_temps(f"JobMatcher/{'ab' * 16}/")
    assert sorted(removed) == sorted([killed, stale])
    assert sorted(p.name for p in ns.iterdir()) == sorted([running, parents])


def test_a_later_encrypted_location_refuses_a_different_passphrase(engine, usb, tmp_path):
    from pyrage import x25519

    d = engine.data.root
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    r = run_cli("location", "add", "folder", str(usb), "--name", "first", "--passphrase-file", str(pw), data_dir=d)
    assert r.returncode == 0, r.stderr
    recovery = next(w for w in r.stdout.split() if w.startswith("AGE-SECRET-KEY-1"))
    config_before = (d / "locations.json").read_bytes()
    identity_before = engine.locations.identity_path().read_bytes()
    second = tmp_path / "second"
    second.mkdir()
    for wrong in ("wrong passphrase", str(x25519.Identity.generate())):  # another folder's recovery key too
        bad = tmp_path / "bad"
        bad.write_text(wrong + "\n")
        r = run_cli("location", "add", "folder", str(second), "--passphrase-file", str(bad), data_dir=d)
        assert r.returncode == 1, r.stdout
        assert "already use a passphrase" in r.stderr and "recovery key" in r.stderr and wrong not in r.stderr
        assert (d / "locations.json").read_bytes() == config_before  # nothing saved
        assert engine.locations.identity_path().read_bytes() == identity_before
        assert list(second.iterdir()) == []  # nothing written at the location
    r = run_cli("location", "add", "folder", str(second), "--passphrase-file", str(pw), data_dir=d)
    assert r.returncode == 0, r.stderr
    third = tmp_path / "third"
    third.mkdir()
    key = tmp_path / "key"
    key.write_text(recovery + "\n")
    r = run_cli("location", "add", "folder", str(third), "--passphrase-file", str(key), data_dir=d)
    assert r.returncode == 0, r.stderr
    assert [x["name"] for x in json.loads(run_cli("location", "list", "--json", data_dir=d).stdout)] == [
        "first",
        "second",
        "third",
    ]


def test_a_lost_identity_is_taken_back_from_a_location_never_replaced(engine, usb, tmp_path):
    """G14: with location-identity.age gone, adding an encrypted location recovers the key from a location with the
    passphrase; it never makes a new key nor writes one over identity.age at an existing location."""
    d = engine.data.root
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--passphrase-file", str(pw), data_dir=d)
    assert r.returncode == 0, r.stderr
    old = engine.create_backup()
    assert not engine.locations.sync()[0].error
    fid = folder_id_of(engine.data)
    at_usb = usb / "JobMatcher" / fid / "identity.age"
    locked = at_usb.read_bytes()
    recipient = engine.locations.config().recipient
    engine.locations.identity_path().unlink()  # lost: a partial copy to a new machine, a sync tool that skipped it

    # a wrong passphrase: refused, nothing saved, nothing written anywhere
    bad = tmp_path / "bad"
    bad.write_text("not the passphrase at all\n")
    l5 = tmp_path / "l5"
    l5.mkdir()
    config_before = (d / "locations.json").read_bytes()
    r = run_cli("location", "add", "folder", str(l5), "--name", "l5", "--passphrase-file", str(bad), data_dir=d)
    assert r.returncode == 1 and "missing from the data folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "AGE-SECRET-KEY" not in r.stdout
    assert (d / "locations.json").read_bytes() == config_before and not engine.locations.identity_path().exists()
    assert at_usb.read_bytes() == locked and not list(l5.rglob("identity.age"))

    # the location cannot be reached: refused too (a new key would orphan every copy)
    usb.rename(tmp_path / "unplugged")
    r = run_cli("location", "add", "folder", str(l5), "--name", "l5", "--passphrase-file", str(pw), data_dir=d)
    assert r.returncode == 1 and "could be reached" in r.stderr and "'usb'" in r.stderr, r.stderr
    assert (d / "locations.json").read_bytes() == config_before and not engine.locations.identity_path().exists()
    (tmp_path / "unplugged").rename(usb)

    # the same passphrase: the key comes back from 'usb', no new recovery key
    r = run_cli("location", "add", "folder", str(l5), "--name", "l5", "--passphrase-file", str(pw), data_dir=d)
    assert r.returncode == 0, r.stderr
    assert "AGE-SECRET-KEY" not in r.stdout
    assert engine.locations.identity_path().read_bytes() == locked
    assert engine.locations.config().recipient == recipient
    engine.create_backup()
    assert not any(x.error for x in engine.locations.sync())
    assert at_usb.read_bytes() == locked == (l5 / "JobMatcher" / fid / "identity.age").read_bytes()

    # the older copies still open with the passphrase on a new machine
    fresh = Engine(tmp_path / "new-machine")
    restore_from_location(fresh, FolderLocation(usb), old.id, PASS, fid)
    assert _name(fresh) == "Ada Lovelace"


def test_another_identity_at_a_location_is_never_overwritten(primed, usb, tmp_path):
    """G14's kind: a location whose identity.age for this data folder is not ours is refused, by add and by sync."""
    from jobmatcher.locations.crypto import lock_identity, new_identity

    engine = primed
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    at_usb = usb / "JobMatcher" / folder_id_of(engine.data) / "identity.age"
    other = lock_identity(new_identity()[0], "another passphrase")
    at_usb.write_bytes(other)  # e.g. written by an older version after the key was lost
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-identity-conflict" and not r.copied, r
    assert at_usb.read_bytes() == other
    [row] = engine.locations.status()  # reachable, yet the refusal stays shown until a copy works again
    assert row.reachable and row.problem_code == "location-identity-conflict" and "never" in row.problem

    # adding that folder again (after removing it): refused before anything is saved
    engine.locations.remove("usb")
    config_before = (engine.data.root / "locations.json").read_bytes()
    from jobmatcher.errors import JobMatcherError

    with pytest.raises(JobMatcherError) as e:
        engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    assert e.value.code in ("location-identity-conflict", "wrong-passphrase"), e.value.to_dict()
    assert at_usb.read_bytes() == other
    assert (engine.data.root / "locations.json").read_bytes() == config_before


def _plant(folder: Path, fid: str, backup_id: str, db: Path, encrypted: bool = False) -> None:
    """Put a plain database under a copy's name with a hand-written manifest matching it (what anyone who can
    write into the location can do)."""
    import hashlib

    ns = folder / "JobMatcher" / fid
    ns.mkdir(parents=True, exist_ok=True)
    data = db.read_bytes()
    (ns / f"{backup_id}.db").write_bytes(data)
    h = hashlib.sha256(data).hexdigest()
    m = {
        "format": 1,
        "created_at": "2026-11-30T18:00:00Z",
        "type": "manual",
        "size_bytes": len(data),
        "sha256": h,
        "stored_size": len(data),
        "stored_sha256": h,
        "encrypted": encrypted,
        "schema_revision": None,
    }
    (ns / f"{backup_id}.json").write_text(json.dumps(m))


def _evil_db(tmp_path: Path) -> Path:
    evil = Engine(tmp_path / "evil")
    evil.migrate()
    fill_sample_data(evil, name="EVIL")
    return Path(evil.create_backup().path)


def test_a_plain_copy_planted_at_an_encrypted_location_is_refused(primed, usb, tmp_path):
    """G1: a plain copy where copies are encrypted is refused with its own message; the success line never claims
    a decryption that did not happen."""
    from jobmatcher.errors import UnencryptedCopyError

    engine = primed
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    fid = folder_id_of(engine.data)
    planted = "backup_2026-11-30_18-00-00"
    _plant(usb, fid, planted, _evil_db(tmp_path))
    client = FolderLocation(usb)
    target = Engine(tmp_path / "target")
    target.migrate()
    fill_sample_data(target, name="Grace Hopper")
    before = fingerprint(target.data.db_path)
    for secret, configured in ((PASS, False), (None, False), (None, True)):  # the identity there tells too
        with pytest.raises(UnencryptedCopyError, match="not encrypted"):
            restore_from_location(target, client, planted, secret, fid, encrypted_location=configured)
    assert fingerprint(target.data.db_path) == before

    r = run_cli("backup", "list", "--location", "usb", data_dir=engine.data.root)
    assert r.returncode == 0 and "NO: not made by JobMatcher" in r.stdout, r.stdout
    future = "backup_2099-01-01_00-00-00"
    _plant(usb, fid, future, _evil_db(tmp_path / "2"))
    m = json.loads((usb / "JobMatcher" / fid / f"{future}.json").read_text())
    (usb / "JobMatcher" / fid / f"{future}.json").write_text(json.dumps(dict(m, created_at="2099-01-01T00:00:00Z")))
    r = run_cli("backup", "list", "--location", "usb", data_dir=engine.data.root)
    [line] = [x for x in r.stdout.splitlines() if future in x]
    assert "(in the future!)" in line and "NO: not made by JobMatcher" in line, r.stdout
    assert "(in the future!)" not in r.stdout.replace(line, "")
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    for args, d in (
        (["--from-folder", str(usb), "--passphrase-file", str(pw)], tmp_path / "new"),
        (["--location", "usb"], engine.data.root),
    ):
        live = fingerprint(d / "jobmatcher.db") if (d / "jobmatcher.db").exists() else None
        r = run_cli("backup", "restore", planted, *args, "--yes", data_dir=d)
        assert r.returncode == 1 and "is not encrypted" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "decryption" not in r.stdout
        after = fingerprint(d / "jobmatcher.db") if (d / "jobmatcher.db").exists() else None
        assert after == live
    assert _name(engine) == "Ada Lovelace"


def test_a_plain_restore_does_not_claim_a_decryption(engine, usb, tmp_path):
    engine.locations.add("folder", path=str(usb), name="plain", encrypt=False)
    b = engine.create_backup()
    assert not engine.locations.sync()[0].error
    r = run_cli("backup", "restore", b.id, "--from-folder", str(usb), "--yes", data_dir=tmp_path / "fresh")
    assert r.returncode == 0, r.stderr
    assert "checksums and integrity verified" in r.stdout and "decryption" not in r.stdout


@pytest.mark.parametrize("encrypt", [False, True])
def test_a_same_named_file_at_a_location_is_not_taken_for_the_copy(engine, usb, tmp_path, locked_identity, encrypt):
    """G22: the copier compares a copy's checksum (and that it is encrypted where copies are) with the local
    backup before counting it as there; a planted or stale file under the name is replaced by the real copy."""
    if encrypt:
        prime(engine, locked_identity)
    b = engine.create_backup()
    fid = folder_id_of(engine.data)
    _plant(usb, fid, b.id, _evil_db(tmp_path))
    engine.locations.add("folder", path=str(usb), name="l9", encrypt=encrypt, passphrase=PASS if encrypt else None)
    [row] = engine.locations.status()
    assert row.copies == 0 and row.pending == 1  # not counted as there
    [r] = engine.locations.sync()
    assert r.copied == [b.id] and not r.error, r
    [remote] = list_remote(FolderLocation(usb), fid)
    assert remote.sha256 == b.sha256 and remote.encrypted is encrypt
    if not encrypt:
        assert (usb / "JobMatcher" / fid / f"{b.id}.db").read_bytes() == Path(b.path).read_bytes()
    fresh = Engine(tmp_path / "fresh")
    restore_from_location(fresh, FolderLocation(usb), b.id, PASS if encrypt else None, fid)
    assert _name(fresh) == "Ada Lovelace"
    [row] = engine.locations.status()
    assert row.copies == 1 and row.pending == 0


def test_one_folder_cannot_be_two_locations(engine, usb, tmp_path):
    """G2: the same folder (as typed, through `..`, through a symbolic link) is refused as a second location."""
    d = engine.data.root
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=d)
    assert r.returncode == 0, r.stderr
    config_before = (d / "locations.json").read_bytes()
    (tmp_path / "loc2").mkdir()
    link = tmp_path / "link"
    link.symlink_to(usb)
    for same in (str(usb), str(tmp_path / "loc2" / ".." / "usb"), str(link), str(usb) + "/"):
        r = run_cli("location", "add", "folder", same, "--name", "other", "--no-encrypt", data_dir=d)
        assert r.returncode == 1 and "is already the location 'usb'" in r.stderr, (same, r.stderr)
        assert (d / "locations.json").read_bytes() == config_before
    status = run_cli("status", data_dir=d)
    assert "other" not in status.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="a bind mount needs root")
def test_one_folder_through_a_bind_mount_cannot_be_two_locations(engine, usb, tmp_path):
    from jobmatcher.errors import ValidationError

    other = tmp_path / "bind"
    other.mkdir()
    subprocess.run(["mount", "--bind", str(usb), str(other)], check=True)
    try:
        engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
        with pytest.raises(ValidationError, match="already the location 'usb'"):
            engine.locations.add("folder", path=str(other), name="bind", encrypt=False)
    finally:
        subprocess.run(["umount", str(other)], check=True)


def test_folder_ids_and_unknown_users_are_usage_errors(engine, usb, tmp_path):
    """G6, G19: a --folder-id that is not one, `~nouser/…` and two sources at once are the user's to fix (exit 2),
    never 'something unexpected'; the library refuses a bad folder id with its own message too."""
    from jobmatcher.errors import ValidationError

    d = engine.data.root
    assert run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=d).returncode == 0
    b = engine.create_backup()
    engine.locations.sync()
    before = fingerprint(engine.data.db_path)
    for bad in ("../x", "*", "a/b", "x" * 300):
        for cmd in (("backup", "list"), ("backup", "restore", b.id, "--yes")):
            r = run_cli(*cmd, "--location", "usb", "--folder-id", bad, data_dir=d)
            assert r.returncode == 2 and "is not a data folder id" in r.stderr, (bad, r.stderr)
            assert "unexpected" not in r.stderr
    with pytest.raises(ValidationError, match="not a data folder id"):
        list_remote(FolderLocation(usb), "../x")
    fid = folder_id_of(engine.data)
    r = run_cli("backup", "list", "--location", "usb", "--folder-id", fid.upper(), "--json", data_dir=d)
    assert r.returncode == 0 and [x["id"] for x in json.loads(r.stdout)] == [b.id], r.stderr

    r = run_cli("backup", "restore", b.id, "--location", "usb", "--from-folder", str(tmp_path), "--yes", data_dir=d)
    assert r.returncode == 2 and "only one of" in r.stderr, r.stderr

    for cmd in (
        ("location", "add", "folder", "~nouser/x", "--no-encrypt"),
        ("backup", "list", "--from-folder", "~nouser/x"),
        ("backup", "restore", b.id, "--from-folder", "~nouser/x", "--yes"),
    ):
        r = run_cli(*cmd, data_dir=d)
        assert r.returncode == 2 and "no user 'nouser'" in r.stderr and "unexpected" not in r.stderr, (cmd, r.stderr)
    for cmd in (("backup", "verify", "~nouser/x.db"), ("backup", "restore", "~nouser/x.db", "--yes")):
        r = run_cli(*cmd, data_dir=d)
        assert r.returncode == 1 and "no user 'nouser'" in r.stderr and "unexpected" not in r.stderr, (cmd, r.stderr)
    assert fingerprint(engine.data.db_path) == before
    assert [x.name for x in engine.locations.config().locations] == ["usb"]


def test_an_encrypted_copy_given_as_a_file_is_named_with_the_way_to_restore_it(primed, usb, tmp_path):
    """G24: JobMatcher's own encrypted copy restored (or verified) as a file says what it is and how to restore it."""
    engine = primed
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    [copy] = _age_files(usb)
    downloaded = tmp_path / "copy.db.age"
    shutil.copyfile(copy, downloaded)
    before = fingerprint(engine.data.db_path)
    for cmd in (("backup", "restore", str(downloaded), "--yes"), ("backup", "verify", str(downloaded))):
        r = run_cli(*cmd, data_dir=engine.data.root)
        assert r.returncode == 1 and "encrypted copy from a backup location" in r.stderr, r.stderr
        assert "--from-folder" in r.stderr and "not a JobMatcher backup" not in r.stderr
    assert fingerprint(engine.data.db_path) == before


def test_a_refused_restore_into_a_data_folder_not_there_yet_leaves_none_behind(primed, locked_identity, usb, tmp_path):
    """L2: a wrong passphrase (or an unknown copy) refuses the restore "Nothing was changed": the data folder
    that did not exist before is not left behind (a mistyped --data-dir stays absent)."""
    primed.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    b = primed.create_backup()
    assert primed.locations.sync()[0].copied == [b.id]
    wrong = tmp_path / "wrong-pw"
    wrong.write_text("not the passphrase\n")
    new = tmp_path / "new-computer"
    for target, secret in ((b.id, wrong), ("backup_2020-01-01_00-00-00", wrong)):
        r = run_cli(
            "backup",
            "restore",
            target,
            "--from-folder",
            str(usb),
            "--passphrase-file",
            str(secret),
            "--yes",
            data_dir=new,
        )
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert not new.exists(), sorted(p.name for p in new.rglob("*"))
    # one that existed stays as it was (empty here): only what the command made goes
    new.mkdir(mode=0o700)
    r = run_cli(
        "backup", "restore", b.id, "--from-folder", str(usb), "--passphrase-file", str(wrong), "--yes", data_dir=new
    )
    assert r.returncode == 1 and new.is_dir()
    # the same for a local restore refused (a file that is not a backup)
    other = tmp_path / "mistyped"
    not_a_backup = tmp_path / "notes.db"
    not_a_backup.write_bytes(b"not a database" * 100)
    r = run_cli("backup", "restore", str(not_a_backup), "--yes", data_dir=other)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert not other.exists()
