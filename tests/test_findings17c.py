"""FINDINGS17 D5, D10, D15, D16, D17 (a fresh tester's report on session 15's work): each finding fixed, as a
test that fails before its fix. The copies are real files at a real folder location, changed as a failing
drive or a person would change them; every command is the real command line."""

from __future__ import annotations

import json
import os

import pytest
from conftest import prime, run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")


def _two_copies(engine, tmp_path, locked_identity):
    """A data folder with an encrypted folder location "usb" holding copies of two backups (older, newer);
    the engine's lock released for the command line. Returns (root, copies' folder, older, newer)."""
    root = engine.data.root
    prime(engine, locked_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb")
    older = engine.create_backup(note="older")
    newer = engine.create_backup(note="newer")
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    (there,) = (usb / "JobMatcher").iterdir()
    assert (there / f"{older.id}.db.age").is_file()
    return root, there, older, newer


def _lose_backup(root, backup_id: str) -> None:
    """The local backup gone (deleted by hand, its disk failed): its copy cannot be made again."""
    for p in (root / "backups").glob(f"{backup_id}.*"):
        p.unlink()


def _row(listing: str, backup_id: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(backup_id + " "))


def test_a_copy_read_back_damaged_stays_marked_in_every_list_and_status_until_it_is_whole_again(
    engine, tmp_path, locked_identity
):
    """D5: `location sync --verify` found a copy changed in place (same size) whose backup is gone, said so
    and ended 1; but the verdict was kept nowhere: `backup list --location` still said VERIFIED "yes",
    `location list` counted it, and status said "L1 ✓". Now the verdict is kept with the location's state:
    the copy is "NO" in the list (and on the page), not counted, and status warns that it cannot be restored,
    until a read-back finds it whole again (a person putting the good file back)."""
    root, there, older, _newer = _two_copies(engine, tmp_path, locked_identity)
    copy = there / f"{older.id}.db.age"
    good = copy.read_bytes()
    with open(copy, "r+b") as f:  # same size, changed in place: only reading it back tells
        f.seek(len(good) // 2)
        f.write(bytes(b ^ 0xFF for b in good[len(good) // 2 : len(good) // 2 + 4]))
    _lose_backup(root, older.id)

    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{older.id}: its bytes there no longer match" in r.stderr and "no longer has that backup" in r.stderr

    listed = run_cli("backup", "list", "--location", "usb", data_dir=root)
    assert listed.returncode == 0, listed.stderr
    row = _row(listed.stdout, older.id)
    assert "NO: its bytes there no longer match" in row and " yes " not in row.split("NO:")[1], row
    as_json = json.loads(run_cli("--json", "backup", "list", "--location", "usb", data_dir=root).stdout)
    mine = next(c for c in as_json if c["id"] == older.id)
    assert mine["damaged"] is True and mine["verified"] is False

    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    page = Api(Engine(root, read_only=True)).remote_backups({"kind": "configured", "name": "usb"})
    on_page = next(b for b in page["backups"] if b["id"] == older.id)
    assert on_page["verified"] is False and "no longer match" in on_page["doubt"]

    rows = run_cli("location", "list", data_dir=root)
    assert "1 good, 1 damaged, 0 pending" in rows.stdout, rows.stdout
    status = run_cli("status", data_dir=root)
    assert "usb ✓" in status.stdout and "(1 damaged)" in status.stdout, status.stdout
    assert f"usb: 1 copy there is damaged ({older.id})" in status.stderr, status.stderr
    assert "cannot be restored" in status.stderr
    # nothing of it was deleted: the damaged copy is the user's until retention lets it go
    assert copy.read_bytes() != good and copy.stat().st_size == len(good)

    copy.write_bytes(good)  # put back whole: the next read-back knows it again
    again = run_cli("location", "sync", "--verify", data_dir=root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "checked 2 copies there: 2 as written" in again.stdout, again.stdout
    row = _row(run_cli("backup", "list", "--location", "usb", data_dir=root).stdout, older.id)
    assert "NO" not in row, row
    status = run_cli("status", data_dir=root)
    assert "(1 damaged)" not in status.stdout and "cannot be restored" not in status.stderr, status.stdout


@pytest.mark.parametrize("change", ["cut short", "grown"])
def test_a_copy_cut_short_whose_backup_is_gone_is_named_by_the_read_back_and_by_status(
    engine, tmp_path, locked_identity, change
):
    """D15: a copy cut short (or grown) at the location, its backup gone: `location sync --verify` skipped it
    without a word ("read back 1 copy: 1 as written", exit 0) and status said "usb ✓". Now it is named with why,
    the command ends 1, status warns; D10: `location list` no longer reads "copies: 0 (90.6 KB)"."""
    root, there, older, newer = _two_copies(engine, tmp_path, locked_identity)
    copy = there / f"{older.id}.db.age"
    size = copy.stat().st_size
    if change == "cut short":
        os.truncate(copy, size - 100)
    else:
        with open(copy, "ab") as f:
            f.write(os.urandom(50))
    _lose_backup(root, older.id)

    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "checked 2 copies there: 1 as written" in r.stdout, r.stdout
    said = next(line for line in r.stderr.splitlines() if older.id in line)
    assert f"bytes there where {size:,} were written" in said and "no longer has that backup" in said, said

    rows = run_cli("location", "list", data_dir=root)
    assert "1 good, 1 damaged, 0 pending" in rows.stdout and "there)" in rows.stdout, rows.stdout
    status = run_cli("status", data_dir=root)
    assert "(1 damaged)" in status.stdout and f"usb: 1 copy there is damaged ({older.id})" in status.stderr
    as_json = json.loads(run_cli("--json", "location", "list", data_dir=root).stdout)
    assert as_json[0]["damaged"] == [older.id] and as_json[0]["lost"] == [older.id]
    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    api = Api(Engine(root, read_only=True))
    api._require_opened = lambda *a, **k: None  # the page's row as it is built, without launching the window
    (row,) = api.check_locations()["locations"]
    assert row["damaged"] == 1 and row["lost"] == 1 and row["copies"] == 1
    assert copy.exists()  # never deleted for being damaged


def test_copies_cut_short_whose_backups_are_here_are_pending_not_lost(engine, tmp_path, locked_identity):
    """D10: two copies cut short, their backups still here: "copies: 0 (90.6 KB), 2 pending" read as a
    miscount. The row says the copies are damaged and pending (the next sync copies them again); status gives
    no "cannot be restored" warning for copies this computer can make again."""
    root, there, older, newer = _two_copies(engine, tmp_path, locked_identity)
    for b in (older, newer):
        copy = there / f"{b.id}.db.age"
        os.truncate(copy, copy.stat().st_size - 100)
    rows = run_cli("location", "list", data_dir=root)
    assert "copies:       0 good, 2 damaged, 2 pending (" in rows.stdout and "there)" in rows.stdout, rows.stdout
    status = run_cli("status", data_dir=root)
    assert "cannot be restored" not in status.stderr, status.stderr
    assert run_cli("location", "sync", data_dir=root).returncode == 0
    rows = run_cli("location", "list", data_dir=root)
    assert "copies:       2 (" in rows.stdout and "damaged" not in rows.stdout, rows.stdout


def test_sync_does_not_say_up_to_date_over_a_backup_that_failed_its_check(engine, tmp_path, locked_identity):
    """D16: the newest backup damaged before its copy was made: rightly not copied, but `location sync` said
    "usb: copied 0; up to date." Now it names the backup that was not copied and why."""
    root, there, _older, _newer = _two_copies(engine, tmp_path, locked_identity)
    assert run_cli("location", "disable", "usb", data_dir=root).returncode == 0
    made = run_cli("--json", "backup", "create", data_dir=root)
    assert made.returncode == 0, made.stderr
    damaged = json.loads(made.stdout)["id"]
    path = root / "backups" / f"{damaged}.db"
    os.truncate(path, path.stat().st_size - 4096)
    assert run_cli("location", "enable", "usb", "--yes", data_dir=root).returncode == 0
    r = run_cli("location", "sync", data_dir=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "up to date" not in r.stdout, r.stdout
    assert f"usb: copied 0; 1 backup not copied: {damaged} failed its check" in r.stdout, r.stdout
    assert not (there / f"{damaged}.db.age").exists()


def test_backup_create_json_carries_the_warning_that_copies_stopped(engine, tmp_path, locked_identity):
    """D17: with the locations file unreadable (a pipe there), `--json backup create` ended 0 with the warning
    only on standard error: a script reading the JSON never learned that copies off this disk had stopped."""
    root, _there, _older, _newer = _two_copies(engine, tmp_path, locked_identity)
    (root / "locations.json").unlink()
    os.mkfifo(root / "locations.json")
    r = run_cli("--json", "backup", "create", data_dir=root, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["id"].startswith("backup_")
    (w,) = out["warnings"]
    assert w["code"] == "copies-stopped" and w["message"].startswith("The backup is made, but copies off this disk")
    (root / "locations.json").unlink()  # and without a problem, the field is there and empty
    r = run_cli("--json", "backup", "create", data_dir=root)
    assert r.returncode == 0 and json.loads(r.stdout)["warnings"] == [], r.stdout + r.stderr


def test_db_check_json_carries_its_warnings(engine, tmp_path):
    """D17's kind in `db check`: the warning that the live database has a second name elsewhere (a hard link)
    was printed on standard error only; the JSON said nothing of it."""
    root = engine.data.root
    engine.release_instance_lock()
    os.link(root / "jobmatcher.db", tmp_path / "elsewhere.db")
    r = run_cli("--json", "db", "check", data_dir=root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is True
    (w,) = out["warnings"]
    assert w["code"] == "live-file-has-other-names" and "hard link" in w["message"] and w["hint"]
    text = run_cli("db", "check", data_dir=root)
    assert "Warning:" in text.stderr and "hard link" in text.stderr


def test_a_plain_copy_made_again_after_a_read_back_is_not_called_damaged(engine, tmp_path):
    """FINDINGS18 1: at a location without encryption, `location sync --verify` copied a damaged copy again, but
    the new copy has the stored SHA-256 the verdict was kept by (a plain copy's checksum is the backup's), so it
    stayed "damaged": VERIFIED "NO", "0 good, 1 damaged", and every later sync copied it once more."""
    root = engine.data.root
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    b = engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    (there,) = (usb / "JobMatcher").iterdir()
    copy = there / f"{b.id}.db"
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))

    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 0 and "(copied again)" in r.stderr and "usb: copied 1; up to date." in r.stdout, r
    assert copy.read_bytes() == (root / "backups" / f"{b.id}.db").read_bytes()
    row = _row(run_cli("backup", "list", "--location", "usb", data_dir=root).stdout, b.id)
    assert "NO" not in row, row
    rows = run_cli("location", "list", data_dir=root).stdout
    assert "copies:       1 (" in rows and "damaged" not in rows, rows
    again = run_cli("location", "sync", data_dir=root)
    assert "usb: copied 0; up to date." in again.stdout, again.stdout


def test_a_read_back_that_finds_a_copy_it_cannot_make_again_does_not_say_up_to_date(engine, tmp_path, locked_identity):
    """FINDINGS18 3: with a damaged copy whose backup is gone, `location sync --verify` ended 1 but its last
    line still said "usb: copied 0; up to date."."""
    root, there, older, _newer = _two_copies(engine, tmp_path, locked_identity)
    copy = there / f"{older.id}.db.age"
    os.truncate(copy, copy.stat().st_size - 10)
    _lose_backup(root, older.id)
    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 1
    assert "up to date" not in r.stdout and "usb: copied 0; 1 damaged copy there cannot be copied again" in r.stdout


def test_db_check_refuses_a_linked_live_database_as_every_other_command(engine, tmp_path):
    """FINDINGS18 5: with jobmatcher.db a symbolic link, `backup create` and `db migrate` refuse it (its -wal is
    beside the file it points to), but `db check` said "OK: the database passed its integrity check.", exit 0."""
    engine.release_instance_lock()
    real = tmp_path / "elsewhere"
    real.mkdir()
    (engine.data.root / "jobmatcher.db").rename(real / "jobmatcher.db")
    linked = tmp_path / "linked"
    linked.mkdir(mode=0o700)
    (linked / "jobmatcher.db").symlink_to(real / "jobmatcher.db")
    before = (real / "jobmatcher.db").read_bytes()
    for command in (["db", "check"], ["backup", "create"]):
        r = run_cli(*command, data_dir=linked)
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert "is a symbolic link" in r.stderr and "OK" not in r.stdout, (command, r.stdout, r.stderr)
    assert (real / "jobmatcher.db").read_bytes() == before and (linked / "jobmatcher.db").is_symlink()
    # FINDINGS19 7: status does not send the user to a backup that would only be refused
    status = run_cli("status", data_dir=linked)
    assert status.returncode == 1 and "is a symbolic link" in status.stderr
    assert "Make one now" not in status.stderr and "Make one once that is fixed" in status.stderr, status.stderr


@pytest.mark.parametrize("kind", ["pipe", "link", "folder"])
def test_status_names_what_is_at_the_state_files_name_when_copies_stop_for_it(engine, tmp_path, kind):
    """FINDINGS18 7: with a pipe (or a link, a folder) at locations-state.json, every sync stops before it records
    anything (the file is never replaced), and `status` said only "1 backup waiting to be copied; the last
    successful copy: never", exit 0. It now names the file and what to do, red (exit 1), and leaves it there."""
    root = engine.data.root
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    engine.release_instance_lock()
    state = root / "locations-state.json"
    state.unlink(missing_ok=True)
    if kind == "pipe":
        os.mkfifo(state)
    elif kind == "link":
        state.symlink_to(tmp_path / "elsewhere.json")
    else:
        state.mkdir()
    r = run_cli("status", data_dir=root, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"is at {state}, where JobMatcher keeps what it last saw" in r.stderr and "Move it out" in r.stderr
    assert "usb ✗" in r.stdout, r.stdout
    assert os.path.lexists(state) and not state.is_file() or kind == "link" and state.is_symlink()


def test_a_copy_name_two_data_folders_share_restores_this_ones_own_and_names_both_ids_otherwise(engine, tmp_path):
    """FINDINGS18 8: two data folders made a backup in the same second and copy to one folder: `backup restore ID
    --from-folder` was refused ("Two data folders have a copy named …", add --folder-id) even in the data folder
    whose own copy that id names, and the refusal gave neither id. Now this data folder's own copy is restored;
    from a third data folder the refusal names both ids."""
    from conftest import fill_sample_data
    from conftest_app import profile_name
    from jobmatcher.engine import Engine

    _root, my_ns, (mine,) = _plain_location(engine, tmp_path)
    usb = tmp_path / "usb"
    other = Engine(tmp_path / "other")
    other.migrate()
    fill_sample_data(other, name="Grace Hopper")
    other.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    theirs = other.create_backup()
    assert not any(r.error for r in other.locations.sync())
    other.release_instance_lock()
    # their copy renamed as made in the same second as mine (its record says that time too, as a real one would)
    their_ns = next(p.parent for p in usb.rglob(f"{theirs.id}.json") if p.parent != my_ns)
    if theirs.id != mine.id:  # (made in the same second already: nothing to rename)
        record = json.loads((their_ns / f"{theirs.id}.json").read_text())
        record["created_at"] = json.loads((my_ns / f"{mine.id}.json").read_text())["created_at"]
        (their_ns / f"{mine.id}.json").write_text(json.dumps(record))
        (their_ns / f"{theirs.id}.json").unlink()
        (their_ns / f"{theirs.id}.db").rename(their_ns / f"{mine.id}.db")

    r = run_cli("backup", "restore", mine.id, "--from-folder", str(usb), "--yes", data_dir=engine.data.root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert profile_name(engine.data.root) == "Ada Lovelace"  # its own copy, not the other data folder's

    fresh = run_cli("backup", "restore", mine.id, "--from-folder", str(usb), "--yes", data_dir=tmp_path / "third")
    assert fresh.returncode == 1, fresh.stdout + fresh.stderr
    assert my_ns.name in fresh.stderr and their_ns.name in fresh.stderr and "--folder-id" in fresh.stderr
    # FINDINGS19 7: the hint's command lists that very place, as it was given
    assert f"backup list --from-folder {usb}`" in fresh.stderr, fresh.stderr
    unknown = run_cli(
        "backup",
        "restore",
        mine.id,
        "--from-folder",
        str(usb),
        "--folder-id",
        "0" * 32,
        "--yes",
        data_dir=tmp_path / "t",
    )
    assert unknown.returncode == 1
    assert f"There is no copy '{mine.id}' of the data folder {'0' * 32} at" in unknown.stderr, unknown.stderr
    assert f"backup list --from-folder {usb}`" in unknown.stderr


def _plain_location(engine, tmp_path, backups: int = 1):
    """A data folder with a plain (unencrypted) folder location "usb" holding copies of `backups` backups; the
    engine's lock released. Returns (root, copies' folder, the backups oldest first)."""
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    made = [engine.create_backup(note=f"n{i}") for i in range(backups)]
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    (there,) = (usb / "JobMatcher").iterdir()
    return engine.data.root, there, made


def _flip(path, at_fraction: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at_fraction)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_copy_is_not_replaced_by_a_backup_damaged_too(engine, tmp_path):
    """FINDINGS19 2: the backup here and its plain copy there both changed in place. `location sync --verify`
    copied the damaged backup over the damaged copy, found the new copy wrong when it read it back, and removed
    it: the copy's data was gone (a lone manifest left), the copy forgotten, status green, and the message said
    this computer no longer had the backup. The backup is now proven before it replaces a file there: the copy
    stays as it was, named, and status warns that nothing sound can make it again."""
    root, there, (b,) = _plain_location(engine, tmp_path)
    _flip(root / "backups" / f"{b.id}.db")
    copy = there / f"{b.id}.db"
    _flip(copy, 0.25)
    damaged_copy = copy.read_bytes()
    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 1, r.stdout + r.stderr
    said = next(line for line in r.stderr.splitlines() if line.startswith(f"  {b.id}:"))
    assert "its backup here failed its check too" in said, r.stderr
    assert copy.read_bytes() == damaged_copy and (there / f"{b.id}.json").is_file()
    status = run_cli("status", data_dir=root)
    assert f"usb: 1 copy there is damaged ({b.id})" in status.stderr and "no sound backup" in status.stderr
    plain = run_cli("location", "sync", data_dir=root)  # FINDINGS19 6: every sync says it, not "up to date"
    assert plain.returncode == 0 and "up to date" not in plain.stdout, plain.stdout + plain.stderr
    assert f"1 damaged copy there cannot be copied again ({b.id})" in plain.stdout, plain.stdout
    assert copy.read_bytes() == damaged_copy


@pytest.mark.parametrize("gone", ["data file", "record"])
def test_a_read_back_names_a_copy_that_is_gone_since_the_last_sync(engine, tmp_path, gone):
    """FINDINGS19 3: a copy whose data file was removed (or whose record there became unreadable) since the last
    sync was left out of the listing, so `location sync --verify` said "2 as written … up to date", exit 0. It is
    now named as no longer there whole: copied again when its backup is here, else the command ends 1."""
    root, there, (older, newer) = _plain_location(engine, tmp_path, backups=2)
    for b in (older, newer):
        if gone == "data file":
            (there / f"{b.id}.db").unlink()
        else:
            (there / f"{b.id}.json").write_text("{not json")
    _lose_backup(root, older.id)
    r = run_cli("location", "sync", "--verify", data_dir=root)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = {b.id: next(x for x in r.stderr.splitlines() if x.startswith(f"  {b.id}:")) for b in (older, newer)}
    assert all("no longer there whole" in x for x in lines.values()), r.stderr
    assert "no longer has that backup" in lines[older.id] and "copied again" in lines[newer.id]
    assert "up to date" not in r.stdout


def test_a_damaged_key_file_at_the_location_is_written_again_not_blamed_on_the_good_one_here(
    engine, tmp_path, locked_identity
):
    """FINDINGS20 2: the location's copy of the encryption key's file cut short (a failing drive): `location sync`
    and status said the key file *in the data folder* was damaged and told the user to move it out, their only
    good one. The file here is proven whole by the recipient recorded beside it, bound to its bytes: the
    location's copy is the damaged one, and the sync writes it there again; the file here is untouched."""
    root, there, _older, _newer = _two_copies(engine, tmp_path, locked_identity)
    key_here = (root / "location-identity.age").read_bytes()
    key_there = there / "identity.age"
    assert key_there.read_bytes() == key_here
    os.truncate(key_there, 100)
    r = run_cli("location", "sync", data_dir=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in the data folder is damaged" not in r.stderr
    assert key_there.read_bytes() == key_here and (root / "location-identity.age").read_bytes() == key_here
    status = run_cli("status", data_dir=root)
    assert status.returncode == 0 and "damaged" not in status.stderr, status.stderr
