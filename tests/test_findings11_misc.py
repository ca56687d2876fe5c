"""FINDINGS11 lows and X27 through the real command line (and the page's server): names that are not UTF-8."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli


def _bad_dir(tmp_path: Path, name: bytes = b"caf\xe9") -> Path:
    """A real folder whose name is not UTF-8 (Latin-1 "café", as an old drive label carries)."""
    raw = os.fsencode(tmp_path) + b"/" + name
    os.mkdir(raw)
    return Path(os.fsdecode(raw))


def _nothing_unexpected(r) -> None:
    assert "unexpected" not in r.stdout + r.stderr and "Traceback" not in r.stdout + r.stderr


def test_x27_a_folder_name_not_in_utf8_is_refused_in_words_and_nothing_is_written(tmp_path, data_dir):
    assert run_cli("db", "migrate", data_dir=data_dir).returncode == 0
    bad = _bad_dir(tmp_path)
    (bad / "bk").mkdir()
    before = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.suffix == ".json"}
    live = fingerprint(data_dir / "jobmatcher.db")

    r = run_cli("location", "add", "folder", str(bad), "--name", "n", "--no-encrypt", "--yes", data_dir=data_dir)
    assert r.returncode == 2, r.stderr
    _nothing_unexpected(r)
    assert "caf\\xe9" in r.stderr and "not valid UTF-8" in r.stderr and "Rename the folder" in r.stderr
    assert not any(bad.iterdir()) or [p.name for p in bad.iterdir()] == ["bk"]  # no marker, no copies folder

    r = run_cli("settings", "--backup-dir", str(bad / "bk"), "--yes", data_dir=data_dir)
    assert r.returncode == 2, r.stderr
    _nothing_unexpected(r)
    assert "argument --backup-dir" in r.stderr and "not valid UTF-8" in r.stderr

    r = run_cli(
        "location", "add", "folder", str(tmp_path / "ok"), "--name", os.fsdecode(b"n\xff"), "--no-encrypt", "--yes",
        data_dir=data_dir,
    )  # fmt: skip
    assert r.returncode == 2 and "argument --name" in r.stderr and "not valid UTF-8" in r.stderr, r.stderr
    _nothing_unexpected(r)

    r = run_cli("backup", "create", "--note", os.fsdecode(b"note\xff"), data_dir=data_dir)
    assert r.returncode == 2 and "argument --note" in r.stderr and "not valid UTF-8" in r.stderr, r.stderr
    _nothing_unexpected(r)
    assert not (data_dir / "backups").exists() or not any((data_dir / "backups").glob("*.db"))

    after = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.suffix == ".json"}
    assert after == before and fingerprint(data_dir / "jobmatcher.db") == live


def test_x27_the_library_refuses_them_too_for_the_page(tmp_path, engine):
    """The page's ways in (settings, add a location) reach the engine with the same words."""
    import pytest
    from jobmatcher.errors import JobMatcherError

    bad = _bad_dir(tmp_path)
    with pytest.raises(JobMatcherError) as e:
        engine.locations.add("folder", name="n", path=str(bad), encrypt=False)
    assert "not valid UTF-8" in e.value.message and e.value.code == "path-not-utf8"
    with pytest.raises(JobMatcherError) as e:
        engine.update_settings({"backup_dir": str(bad)})
    assert "not valid UTF-8" in e.value.message


def test_x27_a_data_folder_named_not_in_utf8_shows_its_json_with_escapes_that_give_the_bytes_back(tmp_path):
    data = _bad_dir(tmp_path, b"d\xff\xfe")
    os.chmod(data, 0o700)
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    made = subprocess.run([sys.executable, "-m", "jobmatcher", "--data-dir", str(data), "backup", "create"])
    assert made.returncode == 0  # its text names the folder as its bytes are: not read here as UTF-8
    for args in (("--json", "status"), ("--json", "backup", "list"), ("--json", "location", "list")):
        r = run_cli(*args, data_dir=data)
        assert r.returncode == 0, r.stderr
        _nothing_unexpected(r)
        json.loads(r.stdout)
    rows = json.loads(run_cli("--json", "backup", "list", data_dir=data).stdout)
    assert os.fsencode(rows[0]["path"]).startswith(os.fsencode(data) + b"/")  # the exact bytes, \udcff escapes
    assert "\\udcff\\udcfe" in run_cli("--json", "backup", "list", data_dir=data).stdout


def test_x27_the_pages_answers_carry_such_a_name(tmp_path):
    from jobmatcher.api import Api
    from jobmatcher.app import frontend_dir
    from jobmatcher.engine import Engine
    from jobmatcher.server import AppServer
    from test_server import SECRET, api_call

    data = _bad_dir(tmp_path, b"d\xe9")
    os.chmod(data, 0o700)
    eng = Engine(data)
    eng.migrate()
    eng.create_backup()
    api = Api(eng, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    srv = AppServer(api, frontend_dir(), SECRET, 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        status, _, body = api_call(srv, "app_info")
        listed = api_call(srv, "list_backups")
    finally:
        srv.shutdown()
        srv.server_close()
        api._close()
    assert status == 200 and listed[0] == 200, body
    assert os.fsencode(json.loads(body)["value"]["data_dir"]) == os.fsencode(data)  # the exact bytes come back


@pytest.mark.skipif(shutil.which("faketime") is None, reason="Debian's faketime is not installed (dev.sh installs it)")
def test_x8_a_backup_made_while_the_clock_was_behind_is_listed_first_in_the_cli_and_the_page(data_dir):
    """The newest data (sequence 3, dated 2001) heads the local list, as status's "Last backup" says."""
    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    assert run_cli("db", "migrate", data_dir=data_dir).returncode == 0
    assert run_cli("backup", "create", data_dir=data_dir).returncode == 0
    assert run_cli("backup", "create", data_dir=data_dir).returncode == 0
    cmd = [shutil.which("faketime"), "2001-05-05 10:00:00", sys.executable, "-m", "jobmatcher"]
    behind = subprocess.run([*cmd, "--data-dir", str(data_dir), "backup", "create"], capture_output=True, text=True)
    assert behind.returncode == 0, behind.stderr
    r = run_cli("--json", "backup", "list", data_dir=data_dir)
    ids = [b["id"] for b in json.loads(r.stdout)]
    assert ids[0].startswith("backup_2001-05-05") and len(ids) == 3
    text = run_cli("backup", "list", data_dir=data_dir).stdout
    assert text.index("2001-05-05") < min(text.index(i.removeprefix("backup_")[:10]) for i in ids[1:])
    api = Api(Engine(data_dir), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        rows = api.list_backups()
    finally:
        api._close()
    assert [b["id"] for b in rows] == ids  # the page: the same order


@pytest.mark.parametrize("where", ["missing", "proc"])
def test_x12_the_first_encrypted_folder_location_checks_the_folder_before_asking_a_passphrase(
    tmp_path, data_dir, where
):
    """No terminal, no passphrase file: before the fix the refusal was "needs a passphrase"; now the folder's."""
    assert run_cli("db", "migrate", data_dir=data_dir).returncode == 0
    path = str(tmp_path / "not-plugged-in") if where == "missing" else "/proc/self"
    r = run_cli("location", "add", "folder", path, "--name", "usb", "--yes", data_dir=data_dir, input="")
    assert r.returncode == 1, r.stderr
    assert "passphrase" not in r.stderr.lower(), r.stderr
    assert ("does not exist" in r.stderr) if where == "missing" else ("system" in r.stderr), r.stderr
    assert not (data_dir / "locations.json").exists() or "usb" not in (data_dir / "locations.json").read_text()


def test_x21_status_warns_while_a_recovered_data_folder_has_no_location_until_it_is_added_again(
    engine, tmp_path, locked_identity
):
    from test_dr_fresh import _recover, _source

    usb, bid, pw, _ = _source(engine, tmp_path, locked_identity)
    new = tmp_path / "new"
    _recover(new, usb, bid, pw)
    r = run_cli("--json", "status", data_dir=new)
    warned = [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "recovered-no-location"]
    assert warned and "location add folder" in warned[0]["hint"], r.stdout
    text = run_cli("status", data_dir=new)
    assert "no copy off this computer" in text.stdout + text.stderr
    r = run_cli("location", "add", "folder", str(usb), "--passphrase-file", str(pw), "--yes", data_dir=new)
    assert r.returncode == 0, r.stderr
    after = json.loads(run_cli("--json", "status", data_dir=new).stdout)
    assert not [w for w in after["warnings"] if w["code"] == "recovered-no-location"]
    # a data folder that never came from a location is not warned
    assert not [w for w in json.loads(run_cli("--json", "status", data_dir=engine.data.root).stdout)["warnings"]
                if w["code"] == "recovered-no-location"]  # fmt: skip


def test_x18c_status_gives_the_step_when_the_data_folders_key_file_is_gone(engine, tmp_path, locked_identity):
    """The key file deleted: status said only "caught up afterwards"; it now says remove and add again, which works."""
    from conftest import LOCATION_PASSPHRASE as PASS

    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="ur", passphrase=PASS)
    engine.create_backup()
    (engine.data.root / "location-identity.age").unlink()
    run_cli("location", "sync", data_dir=engine.data.root)
    r = run_cli("--json", "status", data_dir=engine.data.root)
    hints = [w["hint"] for w in json.loads(r.stdout)["warnings"] if w["message"].startswith("ur: ")]
    assert any("location remove ur" in h and "location add" in h for h in hints), r.stdout


def _run(data: Path, *args: str) -> subprocess.CompletedProcess:
    """The command in `data`; its output read with the folder's bytes kept (surrogateescape), not as UTF-8."""
    r = subprocess.run([sys.executable, "-m", "jobmatcher", "--data-dir", str(data), *args], capture_output=True)
    out, err = (b.decode("utf-8", "surrogateescape") for b in (r.stdout, r.stderr))
    return subprocess.CompletedProcess(r.args, r.returncode, out, err)


def test_y3_a_data_folder_named_not_in_utf8_can_choose_another_backup_folder(tmp_path):
    """Y3: the previous backup folder (the default `<data>/backups` of a data folder so named) is recorded in
    settings.json with \\uDCxx escapes and read back as the same path; choosing a folder was "something unexpected
    went wrong: PydanticSerializationError". Its backups stay listed from there, and --move-backups moves them."""
    data = _bad_dir(tmp_path, b"d\xe9")
    os.chmod(data, 0o700)
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    made = subprocess.run([sys.executable, "-m", "jobmatcher", "--data-dir", str(data), "backup", "create"])
    assert made.returncode == 0  # its text names the folder as its bytes are: not read here as UTF-8
    before = fingerprint(data / "jobmatcher.db")
    for name in ("bk1", "bk2"):
        (tmp_path / name).mkdir(mode=0o700)
    r = _run(data, "settings", "--backup-dir", str(tmp_path / "bk1"), "--yes")
    _nothing_unexpected(r)
    assert r.returncode == 0, r.stdout + r.stderr
    saved = json.loads((data / "settings.json").read_bytes())
    assert [os.fsencode(d) for d in saved["previous_backup_dirs"]] == [os.fsencode(data) + b"/backups"]
    listed = _run(data, "backup", "list")
    assert listed.returncode == 0 and "previous backup folder" in listed.stdout + listed.stderr, listed
    assert "1 backup" in listed.stdout + listed.stderr, listed
    r = _run(data, "settings", "--backup-dir", str(tmp_path / "bk2"), "--move-backups", "--yes")
    _nothing_unexpected(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list((tmp_path / "bk2").glob("backup_*.db"))) == 1
    assert fingerprint(data / "jobmatcher.db") == before
