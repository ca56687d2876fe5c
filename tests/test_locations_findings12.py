"""Findings of FINDINGS12 about backup locations taken by fixylows (Y1, Y4, Y9), each as the tester reproduced
it: real folders, real data folders, the real command line."""

from __future__ import annotations

import pytest
from conftest import run_cli
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
