"""FINDINGS14 A5 and A8: a computer that took over a chain of copies (disaster recovery) must number its backups
above every copy of that chain already at the locations it copies to, never into their places.

A5: restored from a drive that is behind the cloud, then adding the cloud: the new computer's backups took the
sequence numbers of the lost computer's newest copies there. A8: a first launch's automatic backup of the empty
database (sequence 1) joined the adopted chain with its own number, the place of the chain's oldest copy.

Real parts: the real command line in subprocesses, real data folders, real folder locations.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.remote import list_remote

pytestmark = pytest.mark.usefixtures("file_credentials")


def ok(*args: str, data_dir: Path) -> str:
    r = run_cli(*args, data_dir=data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def backup(data_dir: Path) -> None:
    time.sleep(1.1)  # a copy's name carries its second
    ok("backup", "create", data_dir=data_dir)


def copies(place: Path) -> list:
    [fid] = [p.name for p in (place / "JobMatcher").iterdir() if p.is_dir()]
    return list_remote(FolderLocation(place), fid)


def add(data_dir: Path, place: Path, name: str) -> None:
    ok("location", "add", "folder", str(place), "--name", name, "--no-encrypt", "--yes", data_dir=data_dir)


def newest(place: Path, tmp_path: Path) -> str:
    out = ok("backup", "list", "--from-folder", str(place), "--json", data_dir=tmp_path / "lister")
    return max(c["id"] for c in json.loads(out))


def test_a_recovery_from_a_drive_behind_the_cloud_numbers_after_the_clouds_copies(tmp_path):
    old, new, a, b = tmp_path / "old", tmp_path / "new", tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    ok("db", "migrate", data_dir=old)
    add(old, a, "A"), add(old, b, "B")
    for _ in range(3):
        backup(old)
    ok("location", "sync", data_dir=old)  # 1-3 at A and B
    shutil.move(a, tmp_path / "A.away")  # the drive in a drawer
    for _ in range(3):
        backup(old)
    run_cli("location", "sync", data_dir=old)  # 4-6 only at B (A not there: exit 1)
    shutil.move(tmp_path / "A.away", a)
    lost = {r.id: r.sequence for r in copies(b)}
    assert sorted(lost.values()) == [1, 2, 3, 4, 5, 6]
    # the computer is lost; the new one restores from the drive at hand, then continues at A, then adds B
    ok("backup", "restore", newest(a, tmp_path), "--from-folder", str(a), "--yes", data_dir=new)
    add(new, a, "A")
    backup(new)
    ok("location", "sync", data_dir=new)
    add(new, b, "B")
    ok("location", "sync", data_dir=new)
    # every copy at B is restorable, the lost computer's last ones included (no refusal for a shared place)
    listed = json.loads(ok("backup", "list", "--from-folder", str(b), "--json", data_dir=tmp_path / "lister"))
    assert all(c["doubt"] is None for c in listed), listed
    # the backups made from now on follow the lost computer's newest copies at B
    backup(new)
    ok("location", "sync", data_dir=new)
    made = {r.id: r.sequence for r in copies(b) if r.id not in lost}
    newest_made = max(made)
    assert made[newest_made] > 6, made
    assert list(made.values()).count(made[newest_made]) == 1 and made[newest_made] not in lost.values()


def test_a_launchs_empty_backup_joins_an_adopted_chain_after_its_copies(tmp_path):
    old, new, a = tmp_path / "old", tmp_path / "new", tmp_path / "A"
    a.mkdir()
    ok("db", "migrate", data_dir=old)
    add(old, a, "A")
    for _ in range(3):
        backup(old)
    ok("location", "sync", data_dir=old)
    lost = {r.id: r.sequence for r in copies(a)}
    # the new computer's first launch: the empty database and its automatic backup (sequence 1)
    ok("db", "migrate", data_dir=new)
    backup(new)
    launched = {p.stem for p in (new / "backups").glob("backup_*.db")}
    ok("backup", "restore", newest(a, tmp_path), "--from-folder", str(a), "--yes", data_dir=new)
    # FINDINGS15 B12: that backup of the empty database, from before the restore, is deleted, not the chain's newest
    assert not any((new / "backups" / f"{i}.db").exists() for i in launched)
    backup(new)  # the restored data's first backup
    add(new, a, "A")
    ok("location", "sync", data_dir=new)
    there = {r.id: r.sequence for r in copies(a)}
    assert not launched & set(there), there
    joined = {i: s for i, s in there.items() if i not in lost}
    assert joined, there
    assert all(s > max(lost.values()) for s in joined.values()), there
    assert len(set(there.values())) == len(there), there
