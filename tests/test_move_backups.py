"""Changing the backup folder: the backups made so far are listed as such until moved (checked copies) or left."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from conftest import run_cli
from jobmatcher.errors import JobMatcherError
from jobmatcher.manifest import read_manifest, write_manifest


def sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def moved_away(engine, tmp_path):
    """Three backups in the default folder, a hand-added file beside them, then the folder setting changed."""
    ids = [engine.create_backup(note=f"n{i}").id for i in range(3)]
    old = engine.store.folder
    shutil.copy(old / f"{ids[0]}.db", old / "my own copy.db")  # added by hand: not JobMatcher's to move
    new = tmp_path / "usb"
    new.mkdir()
    engine.update_settings({"backup_dir": str(new)})
    return engine, old, new, ids


def test_the_old_backups_stay_listed_as_such_until_the_user_decides(moved_away):
    engine, old, new, ids = moved_away
    assert engine.settings.previous_backup_dirs == [str(old)]
    assert engine.list_backups() == []
    prev = engine.previous_backups()
    assert prev[0]["folder"] == str(old) and sorted(r.id for r in prev[0]["backups"]) == sorted(ids)
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 0 and "No backups yet." not in r.stdout
    assert f"In the previous backup folder {old}: 3 backups" in r.stderr and "--move-backups" in r.stderr
    # leaving them: no longer listed, nothing deleted
    engine.forget_previous_folder(str(old))
    assert engine.previous_backups() == [] and len(list(old.glob("backup_*.db"))) == 3


def test_moving_copies_checks_then_removes_each_and_leaves_hand_added_files(moved_away):
    engine, old, new, ids = moved_away
    before = {i: sha(old / f"{i}.db") for i in ids}
    r = run_cli("settings", "--move-backups", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert sorted(out["moves"][0]["moved"]) == sorted(ids) and out["previous_backup_dirs"] == []
    assert {b.id: sha(new / f"{b.id}.db") for b in engine.list_backups()} == before
    assert all(b.note.startswith("n") and b.verified for b in engine.list_backups())
    assert sorted(p.name for p in old.iterdir() if not p.name.startswith(".")) == ["my own copy.db"]
    assert not [p for p in new.iterdir() if p.name.startswith(".tmp-")]
    listed = run_cli("backup", "list", data_dir=engine.data.root)
    assert ": 0 backups" not in listed.stderr, listed.stderr  # G20: nothing left to move, nothing said


def test_a_copy_that_does_not_match_leaves_both_places_as_they_were(moved_away):
    engine, old, new, ids = moved_away
    m = read_manifest(old / f"{ids[1]}.db")
    m.sha256 = "0" * 64  # what the copy will be compared with: it cannot match
    write_manifest(old / f"{ids[1]}.db", m)
    result = engine.move_previous_backups(str(old))
    assert [f["id"] for f in result["failed"]] == [ids[1]] and "did not match" in result["failed"][0]["message"]
    assert (old / f"{ids[1]}.db").exists() and (old / f"{ids[1]}.json").exists()
    assert not (new / f"{ids[1]}.db").exists() and not (new / f"{ids[1]}.json").exists()
    assert sorted(b.id for b in engine.list_backups()) == sorted([ids[0], ids[2]])
    assert engine.settings.previous_backup_dirs == [str(old)]  # still listed: one is left
    assert not [p for p in new.iterdir() if p.name.startswith(".tmp-")]


def test_a_move_killed_after_the_copy_is_finished_on_the_next_try(moved_away):
    engine, old, new, ids = moved_away
    # what a move killed between publishing the copy and removing the original leaves: both
    shutil.copy(old / f"{ids[0]}.db", new / f"{ids[0]}.db")
    shutil.copy(old / f"{ids[0]}.json", new / f"{ids[0]}.json")
    result = engine.move_previous_backups(str(old))
    assert result["failed"] == [] and not (old / f"{ids[0]}.db").exists()
    # a *different* file of the same name is never overwritten: the backup moves under the next free name
    other = engine.create_backup(note="other")
    engine.update_settings({"backup_dir": ""})
    clash = engine.store.folder / f"{other.id}.db"
    shutil.copy(engine.data.root / "jobmatcher.db", clash)
    (engine.store.folder / f"{other.id}.json").write_text("{}")
    theirs = sha(clash)
    original = sha(new / f"{other.id}.db")
    result = engine.move_previous_backups(str(new))
    assert result["failed"] == [] and f"{other.id}_2" in result["moved"] and other.id not in result["moved"]
    assert sha(clash) == theirs and (engine.store.folder / f"{other.id}.json").read_text() == "{}"
    assert sha(engine.store.folder / f"{other.id}_2.db") == original
    assert not (new / f"{other.id}.db").exists()


def test_only_listed_previous_folders_can_be_moved_from(engine, tmp_path):
    with pytest.raises(JobMatcherError):
        engine.move_previous_backups(str(tmp_path))
    with pytest.raises(JobMatcherError):
        engine.forget_previous_folder("/")
    assert os.path.isdir(tmp_path)


def test_moves_started_at_once_take_turns_and_none_blames_the_disk(moved_away):
    """G17: three `settings --move-backups` at once (the page's Move them here and terminals): one moves,
    the others wait and find the backups moved; none exits 1 with "missing … is the disk connected?"."""
    import subprocess
    import sys

    engine, old, new, ids = moved_away
    engine.update_settings({"backup_dir": ""})  # back to the default, then away again: more to move
    more = [engine.create_backup(note=f"m{i}").id for i in range(5)]
    engine.update_settings({"backup_dir": str(new)})
    cmd = [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "settings", "--move-backups"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [(p.wait(120), *p.communicate()) for p in procs]
    for rc, out, err in outs:
        assert rc == 0, (rc, out, err)
        assert "missing" not in err and "File exists" not in err and "Not moved" not in err, err
    # one run moves them; each other one waited and found them moved, or started after and found none left
    assert sum("Moved 8 backups" in out for _, out, _ in outs) == 1, outs
    assert all(
        "Moved 8 backups" in out or "were moved already" in out or "No backups to move" in out for _, out, _ in outs
    ), outs
    assert {r.id for r in engine.list_backups()} >= set(ids) | set(more)
    assert not any(p.suffix == ".db" and p.name != "my own copy.db" for p in old.iterdir())
    assert engine.settings.previous_backup_dirs == []


def test_a_move_takes_only_this_data_folders_backups_from_a_shared_folder(tmp_path):
    """Finding H17: two data folders share one backup folder; moving the first one's backups took the
    second one's too (its restore, retention and health then saw none)."""
    from jobmatcher.engine import Engine

    shared = tmp_path / "shared"
    shared.mkdir()
    p1, p2 = Engine(tmp_path / "p1"), Engine(tmp_path / "p2")
    for e in (p1, p2):
        e.migrate()
        e.update_settings({"backup_dir": str(shared)})
    mine = p1.create_backup(note="p1").id
    theirs = p2.create_backup(note="p2").id
    theirs_bytes = (shared / f"{theirs}.db").read_bytes()
    assert len(p1.list_backups()) == 2  # both listed there, one of them owned
    new = tmp_path / "p1-new"
    new.mkdir()
    p1.update_settings({"backup_dir": str(new)})
    assert [r.id for r in p1.previous_backups()[0]["backups"]] == [mine]
    r = run_cli("settings", "--move-backups", "--json", data_dir=p1.data.root)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["moves"][0]["moved"] == [mine]
    assert (shared / f"{theirs}.db").read_bytes() == theirs_bytes
    assert not (new / f"{theirs}.db").exists()
    assert [b.id for b in p2.list_backups() if b.owned] == [theirs]


def _all_bytes(folder) -> dict:
    return {p.name: sha(p) for p in folder.iterdir() if p.name.startswith("backup_")}


@pytest.mark.skipif(os.geteuid() != 0, reason="a bind mount needs root")
def test_a_previous_folder_that_is_the_current_one_by_a_bind_mount_loses_nothing(tmp_path):
    """Finding U8: A -> B -> A under a bind-mounted path; the move took each backup onto itself, then removed it."""
    import subprocess

    data, a, b, bind_a = (tmp_path / n for n in ("data", "bkA", "bkB", "bindA"))
    for f in (a, b, bind_a):
        f.mkdir()
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    assert run_cli("settings", "--backup-dir", str(a), "--yes", data_dir=data).returncode == 0
    assert run_cli("backup", "create", "--note", "inA", data_dir=data).returncode == 0
    subprocess.run(["mount", "--bind", str(a), str(bind_a)], check=True)
    try:
        assert run_cli("settings", "--backup-dir", str(b), "--yes", data_dir=data).returncode == 0
        r = run_cli("settings", "--backup-dir", str(bind_a), "--yes", data_dir=data)
        assert r.returncode == 0, r.stderr
        assert "still in the previous folder" not in r.stdout  # it is not: it is the current folder
        before = _all_bytes(a)
        assert len(before) == 2  # the .db and its .json
        listed = run_cli("backup", "list", data_dir=data)
        assert "inA" in listed.stdout and "previous backup folder" not in listed.stderr
        settings = json.loads((data / "settings.json").read_text())
        assert settings["previous_backup_dirs"] == []  # A is the folder now in use: not a previous one
        r = run_cli("settings", "--move-backups", "--yes", data_dir=data)
        assert r.returncode == 0, r.stderr
        assert "No backups to move" in r.stdout and _all_bytes(a) == before
        # as an older version left it (listed as previous): the move drops it and takes nothing
        settings["previous_backup_dirs"] = [str(a)]
        (data / "settings.json").write_text(json.dumps(settings))
        assert "previous backup folder" not in run_cli("backup", "list", data_dir=data).stderr
        r = run_cli("settings", "--move-backups", "--yes", data_dir=data)
        assert r.returncode == 0, r.stderr
        assert "under another path" in r.stdout and "Not moved" not in r.stderr
        assert _all_bytes(a) == before
        assert json.loads((data / "settings.json").read_text())["previous_backup_dirs"] == []
        assert "inA" in run_cli("backup", "list", data_dir=data).stdout
    finally:
        subprocess.run(["umount", str(bind_a)], check=True)


def test_a_hand_edited_previous_folder_naming_the_current_one_loses_nothing(engine):
    """Finding U8, second way: settings.json lists the current (default) folder as a previous one."""
    made = engine.create_backup(note="keep").id
    folder = engine.store.folder
    before = _all_bytes(folder)
    settings_path = engine.data.settings_path
    s = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    s["previous_backup_dirs"] = [str(folder) + "/./"]  # another spelling of the same folder
    settings_path.write_text(json.dumps(s))
    engine._settings_cache = None
    assert engine.previous_backups() == []
    listed = run_cli("backup", "list", data_dir=engine.data.root)
    assert "previous backup folder" not in listed.stderr and made in listed.stdout
    r = run_cli("settings", "--move-backups", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["moves"][0]["same_folder"] is True and out["moves"][0]["moved"] == []
    assert out["previous_backup_dirs"] == []
    assert _all_bytes(folder) == before
    # the move itself refuses too, should anything else ask it to move a backup onto its own folder
    from jobmatcher.backups import BackupStore

    with pytest.raises(JobMatcherError, match="already in this backup folder"):
        engine.store.move_in(BackupStore(folder / ".", chosen=True, data=engine.data).get(made))
    assert _all_bytes(folder) == before


def test_a_hard_linked_backup_in_a_previous_folder_is_never_removed_as_its_own_copy(moved_away):
    """Finding U8, kind: a source and a destination that are one file (a hard link) are never 'a copy and its
    original': the source is removed only once a *different* file with the same bytes is verified there."""
    engine, old, new, ids = moved_away
    for name in (f"{ids[0]}.db", f"{ids[0]}.json"):
        os.link(old / name, new / name)  # the same inode in both folders
    before_old, before_new = _all_bytes(old), _all_bytes(new)
    result = engine.move_previous_backups(str(old))
    assert result["failed"] == []
    assert (new / f"{ids[0]}.db").exists() and sha(new / f"{ids[0]}.db") == before_new[f"{ids[0]}.db"]
    assert (new / f"{ids[0]}.json").exists() and engine.get_backup(ids[0]).verified is not False
    assert len(list(new.glob("backup_*.db"))) == len(ids)  # no second copy of the same file
    for i in ids[1:]:
        assert sha(new / f"{i}.db") == before_old[f"{i}.db"]
    # and the guard itself: a 'copy' that is the source is refused, nothing removed
    src = new / f"{ids[1]}.db"
    with pytest.raises(JobMatcherError, match="Could not confirm"):
        engine.store._remove_moved(src, src, sha(src))
    assert src.exists() and (new / f"{ids[1]}.json").exists()
