"""A clock that jumps ahead never takes the backups at once (FINDINGS10 W2).

The mirror image of F19 (a clock behind): while the clock is a year ahead every real backup looks a year old, and
the next prune deleted all but the newest, here at the launch, `backup prune` and the automatic backup's prune,
and at a backup location at its next copy. Ages now count only the periods that hold backups (retention.py), so a
jump (or a pause) adds one day with backups, not a year of them. The clock is really wrong here: the command line
runs under Debian's `faketime` (libfaketime), as the tester ran it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher import retention as R
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import list_remote

pytestmark = pytest.mark.usefixtures("file_credentials")

FAKETIME = shutil.which("faketime")
needs_faketime = pytest.mark.skipif(FAKETIME is None, reason="Debian's faketime is not installed (dev.sh installs it)")


def run_cli_at(offset: str, *args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """The real command line with the computer's clock off by `offset` (faketime's "+400d")."""
    assert FAKETIME is not None
    cmd = [FAKETIME, "-f", offset, sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ))


def _ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    return r.stdout


def _local(engine: Engine) -> set[str]:
    return {b.id for b in engine.list_backups()}


def _copies(engine: Engine, usb: Path) -> set[str]:
    return {x.id for x in list_remote(FolderLocation(usb), folder_id_of(engine.data))}


@needs_faketime
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
def test_w2_a_clock_a_year_ahead_deletes_no_backup_here_or_at_the_location(engine, usb, tmp_path, encrypt):
    """W2 as the tester ran it: three backups and a copy of each, then under a clock 400 days ahead a backup
    (its background copy runs), `location sync`, the launch (`db migrate`) and `backup prune`: every backup and
    every copy made minutes before is still there, and the dry run says why for each."""
    d = engine.data.root
    add = ["location", "add", "folder", str(usb), "--name", "usb", "--yes"]
    if encrypt:
        pw = tmp_path / "pw"
        pw.write_text("correct horse battery staple\n")
        add += ["--passphrase-file", str(pw)]
    else:
        add += ["--no-encrypt"]
    _ok(run_cli(*add, data_dir=d))
    for _ in range(3):
        _ok(run_cli("backup", "create", data_dir=d))
    _ok(run_cli("location", "sync", data_dir=d))
    before_local, before_copies = _local(engine), _copies(engine, usb)
    assert len(before_local) >= 3 and before_copies == before_local, (before_local, before_copies)

    new = json.loads(_ok(run_cli_at("+400d", "backup", "create", "--json", data_dir=d)))["id"]
    out = _ok(run_cli_at("+400d", "location", "sync", data_dir=d))
    assert "deleted" not in out, out
    _ok(run_cli_at("+400d", "db", "migrate", data_dir=d))  # the launch's prune
    _ok(run_cli_at("+400d", "backup", "prune", data_dir=d))
    plan = json.loads(_ok(run_cli_at("+400d", "backup", "prune", "--dry-run", "--json", data_dir=d)))

    assert _local(engine) == before_local | {new}
    assert _copies(engine, usb) == before_copies | {new}
    assert plan["would_delete"] == []
    kept = {x["id"]: x["rule"] for x in plan["kept"]}
    assert all(kept[b] in (R.BY_USE, R.NEWEST_GOOD, R.PRE_MIGRATION) for b in before_local), kept
    assert R.BY_USE in kept.values()

    # the clock is right again: the year-ahead backup is flagged, nothing else changes, nothing is deleted
    _ok(run_cli("backup", "prune", data_dir=d))
    _ok(run_cli("location", "sync", data_dir=d))
    assert _local(engine) == before_local | {new} and _copies(engine, usb) == before_copies | {new}


def _change(engine: Engine, n: int) -> None:
    conn = engine.connect()
    try:
        with conn:
            conn.execute("INSERT INTO skills (name) VALUES (?)", (f"skill {n}",))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


LAUNCH = "import sys; from jobmatcher.engine import Engine; r = Engine(sys.argv[1]).launch(); print(r.auto_backup)"


@needs_faketime
def test_w2_automatic_backups_survive_a_jump_and_a_wrong_clock_that_stays(engine):
    """Automatic backups (the tiers): five of the last minutes, then the clock jumps 400 days ahead and stays
    wrong for three days of use, each day's launch making an automatic backup and pruning. Nothing made before
    the jump is deleted, and what a right clock would keep at that moment is all there."""
    from datetime import datetime, timedelta, timezone

    from jobmatcher.manifest import BackupType
    from jobmatcher.retention import RetentionPolicy, plan

    d = engine.data.root
    five = []
    for i in range(5):
        _change(engine, i)
        five.append(engine.create_backup(kind=BackupType.auto).id)
    made = []
    for day, offset in enumerate(("+400d", "+401d", "+402d")):
        _change(engine, 100 + day)
        assert FAKETIME is not None
        cmd = [FAKETIME, "-f", offset, sys.executable, "-c", LAUNCH, str(d)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0 and r.stdout.strip().startswith("backup_"), r.stdout + r.stderr
        made.append(r.stdout.strip())
    assert set(five) | set(made) <= _local(engine)

    # the same backups dated by a right clock (the three days of use after the jump are real days): what a right
    # clock keeps then, the wrong one kept too
    jump = timedelta(days=400)
    records = engine.list_backups()

    class Right:
        def __init__(self, r) -> None:
            for k in ("id", "type", "pinned", "verified", "sequence", "size_bytes"):
                setattr(self, k, getattr(r, k))
            self.created_at = r.created_at - jump if r.id in made else r.created_at

    right_now = datetime.now(timezone.utc) + timedelta(days=2)
    right = plan(right_now, RetentionPolicy.from_settings(engine.settings), [Right(r) for r in records])
    assert {x.id for x in right.decisions if x.keep} <= _local(engine)
