"""age's "excessive work" refusal: a passphrase age would not even try is never called a wrong one.

age (rage, through pyrage) measures how much scrypt work this computer does in about a second and refuses a
passphrase-locked file whose work factor is far above it, before doing any work. On a busy computer that
measurement comes out low; JobMatcher then tries again (crypto.UNLOCK_TRIES, a pause apart) and, if age
still refuses, says the computer is too busy (code "key-unlock-too-slow"), not "wrong passphrase".

pyrage cannot set the work factor, so the input is made as age would find it: a real locked identity
(crypto.lock_identity) whose header's scrypt stanza (`-> scrypt SALT N`) names a huge N. Real parts: real
age through pyrage, a real folder location, the real command line in a subprocess.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import fingerprint, prime, run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import WrongPassphraseError
from jobmatcher.locations import crypto
from jobmatcher.locations.config import IDENTITY_NAME
from jobmatcher.locations.crypto import lock_identity, new_identity, unlock_identity
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import identity_key

pytestmark = pytest.mark.usefixtures("file_credentials")

STANZA = re.compile(rb"^-> scrypt (\S+) (\d+)$", re.MULTILINE)


def _excessive(locked: bytes, work_factor: int = 40) -> bytes:
    """`locked` with its scrypt work factor (log2 N) set to `work_factor`: 2^40 would take age days here."""
    m = STANZA.search(locked)
    assert m, locked[:120]
    return locked[: m.start()] + b"-> scrypt " + m.group(1) + b" %d" % work_factor + locked[m.end() :]


def test_pyrage_refuses_the_work_before_doing_it():
    locked = _excessive(lock_identity(new_identity()[0], PASS))
    from pyrage import DecryptError
    from pyrage import passphrase as pp

    with pytest.raises(DecryptError, match="(?i)excessive work"):  # what unlock_identity looks for
        pp.decrypt(locked, PASS)


def test_excessive_work_is_named_too_busy_not_a_wrong_passphrase(monkeypatch):
    monkeypatch.setattr(crypto, "UNLOCK_RETRY_PAUSE", 0.0)  # the tries, without the waits between them
    identity = new_identity()[0]
    locked = lock_identity(identity, PASS)
    assert unlock_identity(locked, PASS) == identity  # the real file opens
    for secret in (PASS, "not the passphrase"):  # age does not try either: no verdict on the passphrase
        with pytest.raises(WrongPassphraseError) as e:
            unlock_identity(_excessive(locked), secret)
        assert e.value.code == "key-unlock-too-slow"
        assert "too busy" in e.value.message and "was not refused" in e.value.message
        assert re.search(r"about \d+ days here", e.value.message), e.value.message
        assert "does not open" not in str(e.value)
    # the recovery key opens the copies whatever the locked file asks
    assert unlock_identity(_excessive(locked), identity) == identity


def test_a_wrong_passphrase_is_still_wrong_and_not_tried_again(monkeypatch):
    """Once age has tried the passphrase and it failed ("Decryption failed"), it is not tried again. (A busy
    machine may make age refuse the work first, legitimately retried: so the tries are counted, not timed.)"""
    from jobmatcher.locations import keyproc

    monkeypatch.setattr(crypto, "UNLOCK_RETRY_PAUSE", 0.0)
    outcomes: list[str] = []
    real_run = keyproc.run

    tried_with: list[str] = []

    def recording_run(op, data, secret):  # the real age in its child, its outcomes written down
        if op == "decrypt":
            tried_with.append(secret)
        try:
            return real_run(op, data, secret)
        except Exception as e:
            outcomes.append(str(e))
            raise

    monkeypatch.setattr(keyproc, "run", recording_run)
    locked = lock_identity(new_identity()[0], PASS)
    with pytest.raises(WrongPassphraseError) as e:
        unlock_identity(locked, "not the passphrase")
    assert e.value.code == "wrong-passphrase" and "does not open" in e.value.message
    tried = [o for o in outcomes if "excessive work" not in o.lower()]
    # each passphrase tried once, the last try a verdict: the one typed, then (Z1) as an earlier version locked
    # it from a file beginning with a byte-order mark
    assert len(tried) == 2 and outcomes[-1] == tried[-1], outcomes
    assert list(dict.fromkeys(tried_with)) == ["not the passphrase", "\ufeffnot the passphrase"], tried_with


def test_adding_a_location_says_too_busy_not_another_passphrase(engine, tmp_path, locked_identity, monkeypatch):
    """Each place the engine turns a refusal into "not the passphrase" or "another key" (a second encrypted
    location, the key taken back from a location) lets the too-busy refusal through as it is."""
    monkeypatch.setattr(crypto, "UNLOCK_RETRY_PAUSE", 0.0)
    prime(engine, locked_identity)
    usb, usb2 = tmp_path / "usb", tmp_path / "usb2"
    usb.mkdir()
    usb2.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    key_file = engine.data.root / IDENTITY_NAME
    real = key_file.read_bytes()

    key_file.write_bytes(_excessive(real))  # the data folder's own key file: a second location checks it
    with pytest.raises(WrongPassphraseError) as e:
        engine.locations.add("folder", path=str(usb2), name="USB2", passphrase=PASS)
    assert e.value.code == "key-unlock-too-slow", e.value
    assert [x.name for x in engine.locations.config().locations] == ["USB"] and not list(usb2.iterdir())

    key_file.unlink()  # lost here: taken back from USB with the passphrase, where age refuses the work
    at_usb = usb / identity_key(folder_id_of(engine.data))
    at_usb.write_bytes(_excessive(at_usb.read_bytes()))
    with pytest.raises(WrongPassphraseError) as e:
        engine.locations.add("folder", path=str(usb2), name="USB2", passphrase=PASS)
    assert e.value.code == "key-unlock-too-slow", e.value
    assert [x.name for x in engine.locations.config().locations] == ["USB"] and not key_file.exists()


def test_restore_through_the_cli_says_too_busy_and_changes_nothing(engine, tmp_path, locked_identity):
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    b = engine.create_backup()
    assert engine.locations.sync()[0].copied == [b.id]
    at_location = usb / identity_key(folder_id_of(engine.data))
    at_location.write_bytes(_excessive(at_location.read_bytes()))
    secret = tmp_path / "pass"
    secret.write_text(PASS + "\n")
    d = engine.data.root
    live, backups = fingerprint(engine.data.db_path), [x.id for x in engine.list_backups()]

    r = run_cli("backup", "list", "--location", "USB", data_dir=d, input="")
    assert r.returncode == 0 and b.id in r.stdout, r.stderr  # listing needs no key
    r = run_cli(
        "backup", "restore", b.id, "--location", "USB", "--passphrase-file", str(secret), "--yes", data_dir=d, input=""
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "too busy" in r.stderr and "was not refused" in r.stderr and "does not open" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert fingerprint(engine.data.db_path) == live
    assert [x.id for x in Engine(d).list_backups()] == backups  # not even a safety backup
    assert not [p for p in Path(d).iterdir() if p.name.endswith(".tmp")]

    # a new computer, recovering from the drive with the passphrase: the same words
    fresh = tmp_path / "fresh"
    r = run_cli(
        "backup",
        "restore",
        b.id,
        "--from-folder",
        str(usb),
        "--passphrase-file",
        str(secret),
        "--yes",
        data_dir=fresh,
        input="",
    )
    assert r.returncode == 1 and "too busy" in r.stderr and "does not open" not in r.stderr, r.stderr
    assert not fresh.exists() or not list(fresh.glob("*.db"))
