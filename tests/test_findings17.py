"""FINDINGS17 (a tester's report): D6 and D9, each fixed as a test that fails before its fix (real files, real
command-line processes, a real S3 server; no mocks)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from conftest import fill_sample_data, profile_name, run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.manager import folder_id_of
from seaweed import ACCESS_KEY, SECRET_KEY

pytestmark = pytest.mark.usefixtures("file_credentials")

S3_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def _share(engine: Engine, tmp_path: Path, add) -> tuple[str, str]:
    """`engine` (Ada's data) and another data folder (Grace's) both keep copies at one place, each through its own
    location added by `add(engine, name)`, both synced. Returns (the other's copy's id, the other's folder id)."""
    add(engine, "mine")
    engine.create_backup()
    assert not any(r.error for r in engine.locations.sync())
    engine.release_instance_lock()
    other = Engine(tmp_path / "other")
    other.migrate()
    fill_sample_data(other, "Grace Hopper", jobs=3)
    add(other, "shared")
    time.sleep(1.1)  # ids are times to the second: not the same name as this data folder's copy
    theirs = other.create_backup()
    assert not any(r.error for r in other.locations.sync())
    other.release_instance_lock()
    return theirs.id, folder_id_of(other.data)


def _refused(r, backup_id: str, fid: str, root: Path, live: bytes, listing: str) -> None:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"The copy {backup_id} at" in r.stderr and f"was made by another data folder (id {fid})" in r.stderr
    assert f"--folder-id {fid}" in r.stderr, r.stderr
    assert f"`jobmatcher --data-dir {root} backup list {listing}`" in r.stderr, r.stderr  # D6: on this data folder
    assert "Traceback" not in r.stderr and "Nothing was changed" in r.stderr
    assert (root / "jobmatcher.db").read_bytes() == live  # the live database as it was
    assert profile_name(root) == "Ada Lovelace"


# -- D9: another data folder's copy is refused the same way from a folder or S3 given inline, and by the page ------


def test_another_data_folders_copy_from_a_folder_given_inline_is_refused_unless_named(engine, usb, tmp_path):
    """D9: `backup restore ID --location L` of another data folder's copy was refused (C9), but the same copy by
    `--from-folder` pointing at the same folder replaced this data folder's data with the other's, without a word.
    Now refused the same way; `--folder-id` restores it on purpose; a new data folder (nothing of the user's in it,
    even after a launch's empty backup) still recovers from the folder without it (disaster recovery)."""
    root = engine.data.root
    theirs, fid = _share(
        engine, tmp_path, lambda e, name: e.locations.add("folder", path=str(usb), name=name, encrypt=False)
    )
    live = (root / "jobmatcher.db").read_bytes()
    for source, listing in ((["--location", "mine"], "--location mine"), (["--from-folder", str(usb)], None)):
        r = run_cli("backup", "restore", theirs, *source, "--yes", data_dir=root)
        _refused(r, theirs, fid, root, live, listing or f"--from-folder {usb}")
    # disaster recovery: a new data folder, and one launched once (an empty database and its backup: it has an id).
    # Before this data folder restores that copy itself: its own copy of it then goes to the same place (after its
    # safety backup's check, in the background), and a third data folder has two of that name to choose from
    for made in ([], [["db", "migrate"], ["backup", "create"]]):
        new = tmp_path / f"new{len(made)}"
        for command in made:
            assert run_cli(*command, data_dir=new).returncode == 0
        r = run_cli("backup", "restore", theirs, "--from-folder", str(usb), "--yes", data_dir=new)
        assert r.returncode == 0, r.stderr
        assert profile_name(new) == "Grace Hopper"
    r = run_cli("backup", "restore", theirs, "--from-folder", str(usb), "--folder-id", fid, "--yes", data_dir=root)
    assert r.returncode == 0, r.stderr
    assert profile_name(root) == "Grace Hopper"


def test_another_data_folders_copy_from_s3_given_inline_is_refused_unless_named(engine, weed, tmp_path):
    """D9 for `--from-s3`: the same rule as --location and --from-folder (a real S3 server, SeaweedFS)."""
    from jobmatcher.locations.credentials import S3Keys

    root = engine.data.root
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    prefix = "shared/place"

    def add(e: Engine, name: str) -> None:
        e.locations.add(
            "s3",
            endpoint_url=weed.endpoint,
            bucket=bucket,
            prefix=prefix,
            keys=S3Keys(ACCESS_KEY, SECRET_KEY),
            name=name,
            encrypt=False,
        )

    theirs, fid = _share(engine, tmp_path, add)
    live = (root / "jobmatcher.db").read_bytes()
    src = ["--from-s3", f"s3://{bucket}/{prefix}", "--endpoint-url", weed.endpoint]
    r = run_cli("backup", "restore", theirs, *src, "--yes", data_dir=root, env=S3_ENV)
    _refused(r, theirs, fid, root, live, " ".join(src))
    r = run_cli("backup", "restore", theirs, *src, "--folder-id", fid, "--yes", data_dir=root, env=S3_ENV)
    assert r.returncode == 0, r.stderr
    assert profile_name(root) == "Grace Hopper"


def test_the_page_asks_before_restoring_another_data_folders_copy(engine, usb, tmp_path):
    """D9 for the page: it sends the copy's folder id to pick the row (not a yes), so its restore of another data
    folder's copy from a folder ran without a question. Refused (code "another-folders-copy", the page's words,
    nothing started) until the user says yes (`another_folders`); a new data folder recovers without the question."""
    from jobmatcher.api import Api

    root = engine.data.root
    theirs, fid = _share(
        engine, tmp_path, lambda e, name: e.locations.add("folder", path=str(usb), name=name, encrypt=False)
    )
    live = (root / "jobmatcher.db").read_bytes()

    def launched(at: Path) -> Api:
        api = Api(Engine(at), mode="browser")
        api._begin_launch()
        api._wait_launched(30)
        return api

    for source in ({"kind": "folder", "path": str(usb)}, {"kind": "configured", "name": "mine"}):
        api = launched(root)
        try:
            e = api._dispatch("start_restore_from_location", [source, theirs, "", fid])
            assert not e["ok"] and e["error"]["code"] == "another-folders-copy", e
            assert "was made by another data folder" in e["error"]["message"]
            assert "jobmatcher" not in e["error"]["hint"] and "--folder-id" not in e["error"]["hint"], e
            assert (root / "jobmatcher.db").read_bytes() == live  # nothing started
        finally:
            api._close()
    api = launched(root)
    try:
        task = api.start_restore_from_location({"kind": "folder", "path": str(usb)}, theirs, "", fid, True)
        assert api._tasks.wait(task["id"], 60)["state"] == "done"
    finally:
        api._close()
    assert profile_name(root) == "Grace Hopper"
    new = tmp_path / "new"
    api = launched(new)
    try:
        task = api.start_restore_from_location({"kind": "folder", "path": str(usb)}, theirs, "", fid)
        assert api._tasks.wait(task["id"], 60)["state"] == "done"
    finally:
        api._close()
    assert profile_name(new) == "Grace Hopper"


# -- D6: the ways out a message names act on the data folder the command ran on -----------------------------------


@pytest.fixture
def default_home(tmp_path, monkeypatch) -> Path:
    """The default data folder's parent for every command here ($XDG_DATA_HOME, not made): a way out that acts on
    the default data folder instead of the one given shows up there. $JOBMATCHER_DATA_DIR is not set."""
    monkeypatch.delenv("JOBMATCHER_DATA_DIR", raising=False)
    home = tmp_path / "xdg-data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def _way_out(text: str, first: str) -> list[str]:
    """The command a message names that starts `jobmatcher FIRST…`, split as a shell would (shlex)."""
    import re
    import shlex

    commands = [shlex.split(c) for c in re.findall(r"`(jobmatcher [^`]*)`", text)]
    found = [c for c in commands if c[1:2] == ["--data-dir"] and c[3:4] == [first]]
    assert found, (first, text)  # `jobmatcher --data-dir FOLDER FIRST …`
    return found[0]


def _follow(argv: list[str], cwd: Path, env: dict | None = None):
    """Run a printed `jobmatcher …` command as written (from another folder, with only the given environment)."""
    import os
    import subprocess
    import sys

    from conftest import wait_for_background_syncs

    assert argv[0] == "jobmatcher"
    cwd.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}
    )
    wait_for_background_syncs(Path(argv[2]))
    return done


def test_the_way_out_of_a_refusal_acts_on_the_data_folder_given(tmp_path, default_home):
    """D6: with `--data-dir D` and a pipe at the backup folder's marker, the hint said `jobmatcher settings
    --backup-dir FOLDER --yes`: run as written, that pointed the *default* data folder at the backup folder.
    The command now names D (shell-quoted: its name has a space), in the text and in --json's hint; followed as
    written, from another folder, it acts on D, and the default data folder is never made."""
    data = tmp_path / "my data"
    chosen = tmp_path / "backups here"
    chosen.mkdir()
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    assert run_cli("settings", "--backup-dir", str(chosen), "--yes", data_dir=data).returncode == 0
    assert run_cli("backup", "create", data_dir=data).returncode == 0
    marker = chosen / ".jobmatcher-backup-folder"
    marker.unlink()
    import os

    os.mkfifo(marker)
    r = run_cli("backup", "list", data_dir=data, timeout=60)
    assert r.returncode == 1, r.stderr
    command = _way_out(r.stderr, "settings")
    assert command[2] == str(data) and command[3:] == ["settings", "--backup-dir", str(chosen), "--yes"], command
    r = run_cli("status", "--json", data_dir=data, timeout=60)
    import json

    [warning] = [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "folder-unavailable"]
    assert _way_out(warning["hint"], "settings") == command
    assert "--data-dir" not in (warning["page_hint"] or "")  # the page's words name no command
    marker.unlink()  # the first step of the way out, as said
    done = _follow(command, tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    r = run_cli("backup", "list", data_dir=data)
    assert r.returncode == 0 and "Backup folder:" not in r.stderr, r.stderr
    assert not default_home.exists()  # the default data folder was not touched


def test_the_ways_out_of_status_backup_create_and_a_json_error_act_on_the_data_folder_given(tmp_path, default_home):
    """D6, more ways out, each followed as written: status's "Make one now: `jobmatcher backup create`" (given
    the folder by $JOBMATCHER_DATA_DIR, then run without it), backup create's warning "Run `jobmatcher status`",
    and an error's hint in --json ("Run `jobmatcher backup list` to see the ids")."""
    import json

    data = tmp_path / "env data"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    env = {"JOBMATCHER_DATA_DIR": str(data)}
    r = run_cli("status", env=env)
    assert r.returncode == 1 and "You have no backups yet." in r.stderr, r.stderr
    done = _follow(_way_out(r.stderr, "backup"), tmp_path / "elsewhere")  # without $JOBMATCHER_DATA_DIR now
    assert done.returncode == 0, done.stderr
    made = json.loads(run_cli("backup", "list", "--json", data_dir=data).stdout)
    assert len(made) == 1, made
    assert not default_home.exists()

    (data / "locations.json").write_text("{ not json")  # copies off this disk stop: backup create says so
    r = run_cli("backup", "create", data_dir=data)
    assert r.returncode == 0 and "copies off this disk have stopped" in r.stderr, r.stderr
    done = _follow(_way_out(r.stderr, "status"), tmp_path / "elsewhere")
    assert str(data / "backups") in done.stdout, done.stdout  # this data folder's status, not the default's

    r = run_cli("backup", "restore", "backup_2001-01-01_00-00-00", "--yes", "--json", data_dir=data)
    assert r.returncode == 1, r.stderr
    error = json.loads(r.stdout)
    done = _follow(_way_out(error["hint"], "backup"), tmp_path / "elsewhere")
    assert done.returncode == 0 and made[0]["id"] in done.stdout, (error, done.stdout)
    assert not default_home.exists()


def test_a_command_that_names_its_data_folder_already_is_left_as_it_is():
    """D6's one place of rewriting: a command naming --data-dir already is not given a second one; `completion`
    (which takes none) is left alone; every command of a sentence is given it; the folder is shell-quoted."""
    import argparse

    from jobmatcher import cli

    args = argparse.Namespace(data_dir="/tmp/a b")
    saved = cli._GIVEN_DATA_DIR
    try:
        cli._GIVEN_DATA_DIR = cli._given_data_dir(args)
        said = cli._for_this_folder(
            "Run `jobmatcher backup list`, then `jobmatcher backup restore ID`; or `jobmatcher --data-dir /x status`,"
            " `jobmatcher backup list --data-dir /y` or `jobmatcher completion bash`."
        )
    finally:
        cli._GIVEN_DATA_DIR = saved
    assert said == (
        "Run `jobmatcher --data-dir '/tmp/a b' backup list`, then `jobmatcher --data-dir '/tmp/a b' backup restore "
        "ID`; or `jobmatcher --data-dir /x status`, `jobmatcher backup list --data-dir /y` or `jobmatcher "
        "completion bash`."
    )
