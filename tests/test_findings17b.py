"""FINDINGS17 D8, D13, D14 and the remnants of C12 (a tester's report): each finding fixed, as a test that fails
before its fix. Real files, pipes and device nodes; the real command line in a subprocess."""

from __future__ import annotations

import pytest
from conftest import run_cli

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
