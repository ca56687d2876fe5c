"""Findings of FINDINGS12 about backup locations taken by fixylows (Y1, Y4, Y9), each as the tester reproduced
it: real folders, real data folders, the real command line."""

from __future__ import annotations

import pytest
from conftest import file_tree, run_cli
from test_locations_findings11 import _taken_over

pytestmark = pytest.mark.usefixtures("file_credentials")


def test_a_folder_at_writer_json_tells_the_computer_that_took_over_which_file_and_what_to_do(engine, usb, tmp_path):
    """Y1: a folder at writer.json (a sync tool's conflict folder) made the computer that took the copies over say
    only "Could not copy …: Is a directory … the copy is retried later": it names the note and its removal now."""
    new, writer = _taken_over(engine, usb, tmp_path)
    writer.unlink()
    writer.mkdir()
    (writer / "x").touch()
    assert run_cli("backup", "create", data_dir=new).returncode == 0
    r = run_cli("location", "sync", data_dir=new)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "writer.json" in out and "Remove" in out and "retried later" not in out, out
    assert "Is a directory" not in out and "Traceback" not in out, out
    st = run_cli("status", data_dir=new)
    assert "writer.json" in st.stdout + st.stderr, st.stdout + st.stderr
    assert (writer / "x").exists()  # nothing of it deleted: JobMatcher only deletes what it made


def test_a_recovery_from_a_folder_whose_name_is_not_utf8_says_to_rename_it_before_adding_it_back(engine, tmp_path):
    """Y4: the recovery advised `location add folder '<name>'`, which X27 refuses for a name not in UTF-8; it
    says the rename (or UTF-8 mount) first, and the advice it gives is one `location add` accepts after it."""
    import os
    import shutil

    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.remote import list_remote

    plain = tmp_path / "usbn"
    plain.mkdir()
    engine.locations.add("folder", path=str(plain), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    first = list_remote(FolderLocation(plain))[0].id
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/usb\xe9")
    shutil.copytree(plain, odd, symlinks=True)
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "jobmatcher", "--data-dir", str(tmp_path / "rec1"), "backup", "restore", first]
    # the name is printed as the bytes it is (a terminal of that encoding shows it): read with errors="replace"
    r = subprocess.run(
        [*cmd, "--from-folder", odd, "--yes"], capture_output=True, text=True, errors="replace", timeout=120
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "rename the folder" in out and "UTF-8" in out, out
    assert "location add folder '" not in out, out  # not the command X27 refuses
    renamed = tmp_path / "usb-renamed"
    os.rename(odd, renamed)
    r = run_cli("location", "add", "folder", str(renamed), "--no-encrypt", "--yes", data_dir=tmp_path / "rec1")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_locations_file_with_a_wrong_type_is_said_in_the_users_words(engine, usb, tmp_path):
    """Y9 (c): endpoint_url 12 or region ["x"] in locations.json gave pydantic's own text (field names, \\x0a
    escapes, a link to errors.pydantic.dev) in `location list` and `status`: it says which location and setting."""
    import json

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    cfg = engine.data.root / "locations.json"
    data = json.loads(cfg.read_text())
    data["locations"][0]["path"] = 12
    cfg.write_text(json.dumps(data))
    for args in (("location", "list"), ("status",)):
        r = run_cli(*args, data_dir=engine.data.root)
        out = r.stdout + r.stderr
        if args[0] == "location":  # status points there for what is wrong
            assert r.returncode == 1 and "the folder of the location 'usb' is not valid" in out, out
        assert "pydantic" not in out and "string_type" not in out and "Traceback" not in out, out


@pytest.mark.parametrize("body", [b"{}", b'{"format": 1}'])
def test_a_marker_without_jobmatchers_mark_is_not_taken_for_any_marker(engine, usb, body):
    """Y9 (a): X5's "readable marker without an id = any marker (older versions)" also took `{}` and
    `{"format": 1}`: a damaged or hand-made marker on another drive mounted there was written to. Every marker
    JobMatcher wrote says "app": "JobMatcher"; one without it is refused as unreadable."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    (usb / ".jobmatcher-location").write_bytes(body)
    before = file_tree(usb)
    r = run_cli("location", "list", data_dir=engine.data.root)
    out = r.stdout + r.stderr
    assert "NOT reachable" in out, out
    assert "not a marker JobMatcher wrote" in out, out
    engine.create_backup()
    [res] = engine.locations.sync()
    assert res.error and "not a marker JobMatcher wrote" in res.error, res
    assert file_tree(usb) == before  # nothing written to that drive


def test_location_list_marks_a_last_copy_dated_in_the_future(engine, usb):
    """Y9 (b): after a clock set ahead then back, `location list` showed "last copy: 2028-…" with no mark while
    status said "in the future"; the date is marked there too. (The state file is written as a sync made then
    would write it: the copier's own record.)"""
    import json
    from datetime import datetime, timedelta, timezone

    loc = engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    r = run_cli("location", "list", data_dir=engine.data.root)
    assert "in the future" not in r.stdout, r.stdout
    state = engine.data.root / "locations-state.json"
    data = json.loads(state.read_text())
    ahead = datetime.now(timezone.utc) + timedelta(days=401)
    data[loc.location.id]["last_success_at"] = ahead.isoformat()
    state.write_text(json.dumps(data))
    r = run_cli("location", "list", data_dir=engine.data.root)
    assert r.returncode == 0 and "in the future" in r.stdout, r.stdout + r.stderr
