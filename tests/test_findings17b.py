"""FINDINGS17 D8, D13, D14 and the remnants of C12 (a tester's report): each finding fixed, as a test that fails
before its fix. Real files, pipes and device nodes; the real command line in a subprocess."""

from __future__ import annotations

import os
import stat

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime, run_cli

pytestmark = pytest.mark.usefixtures("file_credentials")


# -- D8: a folder at jobmatcher.db is no hard link ------------------------------------------------------------------


def test_a_folder_at_the_database_name_is_not_called_a_hard_link(engine):
    """D8: `db check` with a folder at jobmatcher.db first warned that the database "has a second name elsewhere (a
    hard link)": a folder's link count is 2 or more, and no hard link. Only the folder is named."""
    root = engine.data.root
    engine.release_instance_lock()
    for side in ("jobmatcher.db-wal", "jobmatcher.db-shm"):
        (root / side).unlink(missing_ok=True)
    (root / "jobmatcher.db").unlink()
    (root / "jobmatcher.db").mkdir()
    (root / "jobmatcher.db" / "sub").mkdir()  # st_nlink 3
    for command in (["db", "check"], ["status"], ["backup", "list"]):
        r = run_cli(*command, data_dir=root, timeout=60)
        assert "Traceback" not in r.stderr, r.stderr
        assert "hard link" not in r.stdout + r.stderr and "second name" not in r.stdout + r.stderr, (command, r)
    r = run_cli("db", "check", data_dir=root, timeout=60)
    assert r.returncode == 1 and "is a folder" in r.stdout + r.stderr, r
    assert (root / "jobmatcher.db" / "sub").is_dir()


# -- D13: `location add` never replaces what the user put at the key file's name ---------------------------------


def _pipe_or_device(path, kind: str) -> None:
    """Put a pipe, a character device (as /dev/null: 1, 3) or a folder at `path` (tests run as root)."""
    if kind == "pipe":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        os.mkdir(path)


@pytest.mark.parametrize("kind", ["pipe", "device", "folder"])
def test_location_add_refuses_a_pipe_device_or_folder_at_the_key_files_name(engine, tmp_path, quick_identity, kind):
    """D13: with a pipe at location-identity.age, `location sync` refused it ("not the encryption key's file ... Move
    that out"), but `location add` of an encrypted location ended 0 and replaced the pipe by the key taken back from
    another location. It refuses as sync does, and the pipe (device, folder) is left where it is."""
    root = engine.data.root
    prime(engine, quick_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="L1")
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    key = root / "location-identity.age"
    key.unlink()
    _pipe_or_device(key, kind)
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    pw.chmod(0o600)
    loc3 = tmp_path / "loc3"
    loc3.mkdir()
    before = (root / "locations.json").read_bytes()
    r = run_cli(
        "location", "add", "folder", str(loc3), "--name", "L3", "--passphrase-file", str(pw), "--yes", data_dir=root
    )
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "is not the encryption key's file" in r.stderr and "Move that out" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    mode = os.lstat(key).st_mode
    assert {"pipe": stat.S_ISFIFO, "device": stat.S_ISCHR, "folder": stat.S_ISDIR}[kind](mode)
    assert (root / "locations.json").read_bytes() == before


# -- D14: choosing a backup folder never replaces what the user put at its marker's name -----------------------------


def _kind_of(path) -> str:
    mode = os.lstat(path).st_mode
    return (
        "pipe" if stat.S_ISFIFO(mode) else "device" if stat.S_ISCHR(mode) else "folder" if stat.S_ISDIR(mode) else "?"
    )


@pytest.mark.parametrize("kind", ["pipe", "device", "folder"])
def test_choosing_a_backup_folder_with_a_pipe_device_or_folder_at_its_marker_is_refused(engine, tmp_path, kind):
    """D14: `settings --backup-dir NB --yes` with a pipe or a device node at NB/.jobmatcher-backup-folder ended 0 and
    replaced it by the marker file; a folder there was "Cannot write to the backup folder NB: Is a directory. Choose a
    folder your user can write to." Each is named as what it is, left where it is, and nothing is saved; the page's
    Save (Api.save_settings) says the same."""
    from jobmatcher.api import Api

    root = engine.data.root
    engine.release_instance_lock()
    nb = tmp_path / "nb"
    nb.mkdir()
    marker = nb / ".jobmatcher-backup-folder"
    _pipe_or_device(marker, kind)
    settings = (root / "settings.json").read_bytes() if (root / "settings.json").exists() else None
    r = run_cli("settings", "--backup-dir", str(nb), "--yes", data_dir=root, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    said = {"pipe": "is a pipe", "device": "is a device", "folder": "is a folder"}[kind]
    assert f".jobmatcher-backup-folder in it {said}, not the marker file JobMatcher writes" in r.stderr, r.stderr
    assert f"Move {marker} out of that folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "Is a directory" not in r.stderr and "can write to" not in r.stderr
    assert _kind_of(marker) == kind
    now = (root / "settings.json").read_bytes() if (root / "settings.json").exists() else None
    assert now == settings

    api = Api(engine, mode="window")
    api._begin_launch()
    api._wait_launched(30)
    try:
        answer = api._dispatch("save_settings", [60, 30, str(nb), None, True])
    finally:
        api._close()
    assert not answer["ok"], answer
    assert answer["error"]["code"] == "backup-marker-not-a-file", answer
    assert f"{said}, not the marker file" in answer["error"]["message"]
    assert _kind_of(marker) == kind


# -- D14's kind: every write of one of JobMatcher's own files that replaces what is at its name ---------------------


def test_a_link_at_settings_json_is_named_and_neither_replaced_nor_written_through(engine, tmp_path):
    """D14's kind (fsutil.atomic_write_bytes: a temp file renamed over the name): `settings --retention-days N` with
    a link at settings.json ended 0 and replaced the link by a regular file. It is refused, naming the link; the link
    and the file it leads to are as they were, and no marker is written anywhere."""
    root = engine.data.root
    engine.release_instance_lock()
    assert run_cli("settings", "--retention-days", "40", data_dir=root).returncode == 0
    real = tmp_path / "real-settings.json"
    (root / "settings.json").rename(real)
    (root / "settings.json").symlink_to(real)
    before = real.read_bytes()
    nb = tmp_path / "nb"
    nb.mkdir()
    for command in (["--retention-days", "41"], ["--backup-dir", str(nb), "--yes"]):
        r = run_cli("settings", *command, data_dir=root, timeout=60)
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert "Could not finish saving the settings: a link is at the name of a file JobMatcher writes" in r.stderr
        assert "settings.json" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert (root / "settings.json").is_symlink() and real.read_bytes() == before
    assert not (nb / ".jobmatcher-backup-folder").exists()


def test_a_pipe_at_the_kept_computer_id_is_left_where_it_is(tmp_path, monkeypatch):
    """D14's kind: where the system has no machine id (macOS, Windows), this computer's id is kept in the
    configuration folder; a pipe at that file's name was replaced by a new id file. It is left alone (no id is kept
    then: the copies go on without one)."""
    from jobmatcher.computer import COMPUTER_ID_NAME, CONFIG_DIR_ENV, _config_id

    config = tmp_path / "config"
    config.mkdir()
    os.mkfifo(config / COMPUTER_ID_NAME)
    monkeypatch.setenv(CONFIG_DIR_ENV, str(config))
    assert _config_id() == ""
    assert stat.S_ISFIFO(os.lstat(config / COMPUTER_ID_NAME).st_mode)


def test_a_pipe_at_a_copys_name_at_a_folder_location_is_named_and_left_there(engine, usb):
    """D14's kind at a folder location (FolderLocation._publish renames a temp file over the copy's name): a pipe at
    a copy's name was replaced by the copy without a word (a folder there was named: C5). Named for that copy, left
    there; the other copies are made."""
    import json

    from jobmatcher.locations.manager import folder_id_of

    root = engine.data.root
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    first, second = engine.create_backup(), engine.create_backup()
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    ns.mkdir(parents=True, exist_ok=True)
    blocked = ns / f"{first.id}.db"
    os.mkfifo(blocked)
    engine.release_instance_lock()
    r = run_cli("location", "sync", "--json", data_dir=root, timeout=60)
    out = json.loads(r.stdout)[0]
    assert r.returncode == 1 and out["copied"] == [second.id], (r.stdout, r.stderr)
    assert f"A pipe is at the name of JobMatcher/{folder_id_of(engine.data)}/{blocked.name}" in out["error"], out
    assert "Move or remove that pipe there" in out["error"] and "retried later" not in out["error"]
    assert stat.S_ISFIFO(os.lstat(blocked).st_mode)


# -- C12 remnants: a folder at a manifest's name, a pipe at the id file's name: said as what they are -----------------


def test_a_folder_or_pipe_at_a_manifests_name_is_named_by_backup_list(engine):
    """C12: a folder at backup_<id>.json in the backup folder left `backup list` saying only "No backups yet", as if
    nothing were there (a pipe or folder at a backup's .db name is named). The name and what is there are said, and
    it is left where it is; a pipe at a real backup's manifest is named too (never opened: it would hang)."""
    root = engine.data.root
    b = engine.create_backup()
    engine.release_instance_lock()
    folder = root / "backups"
    (folder / "backup_2026-01-01_00-00-00.json").mkdir()
    (folder / f"{b.id}.json").unlink()
    os.mkfifo(folder / f"{b.id}.json")
    r = run_cli("backup", "list", data_dir=root, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "backup_2026-01-01_00-00-00.json is a folder, not the manifest JobMatcher writes" in r.stderr, r.stderr
    assert f"{b.id}.json is a pipe, not the manifest JobMatcher writes" in r.stderr, r.stderr
    assert (folder / "backup_2026-01-01_00-00-00.json").is_dir() and stat.S_ISFIFO(
        os.lstat(folder / f"{b.id}.json").st_mode
    )


@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_pipe_or_folder_at_the_id_files_name_is_named_and_left_where_it_is(engine, kind):
    """C12: a pipe at .jobmatcher-folder-id was "cannot be read (damaged)", and the next backup moved it aside as
    .jobmatcher-folder-id.damaged (then "the damaged file is kept ...: delete it"). It is named as what it is, and
    left where it is; the backup is still made, with the data folder's id taken from its backups."""
    root = engine.data.root
    first = engine.create_backup()
    engine.release_instance_lock()
    path = root / ".jobmatcher-folder-id"
    path.unlink()
    _pipe_or_device(path, kind)
    r = run_cli("status", data_dir=root, timeout=60)
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "damaged" not in out, out
    assert f"id file {path} is a {kind}, not the id file JobMatcher writes" in out, out
    assert "Move it out of the data folder" in out and first.id in out, out
    r = run_cli("backup", "create", data_dir=root, timeout=60)
    assert r.returncode == 0, r.stderr
    assert _kind_of(path) == kind and not (root / ".jobmatcher-folder-id.damaged").exists()
    r = run_cli("backup", "list", "--json", data_dir=root, timeout=60)
    import json

    rows = json.loads(r.stdout)
    assert len(rows) == 2 and all(row["owned"] for row in rows), rows  # the new one is this data folder's too
