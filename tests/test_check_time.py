"""A check that only refreshes the time of the verdict recorded (issue 13: verify <= 1.0x a bare integrity_check at
10 MB) writes that time to `ID.verified` beside the backup, not into its manifest (no fsync on verify's clock).

Every reader sees the newest time (the list with and without models, get, read_manifest, status); a torn, empty,
stale or foreign file there is ignored, never an error, and a foreign one is never overwritten or deleted; the file
goes with its backup (delete, prune, a move, cleanup of one left behind); a rewrite of the manifest (a pin) takes the
time into it. Real files, real commands.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher import listing
from jobmatcher.manifest import Manifest, manifest_path, read_manifest
from jobmatcher.retention import RetentionPolicy


def _side(path: str | Path) -> Path:
    return Path(path).with_suffix(".verified")


def _raw(path: str | Path) -> Manifest:
    """The manifest file itself, as it is on the disk."""
    return Manifest.model_validate_json(manifest_path(Path(path)).read_bytes())


def _listed(engine, backup_id: str) -> dict:
    """The backup's row in `backup list --json` (a fresh process, the list without models)."""
    r = run_cli("backup", "list", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    rows = body["backups"] if isinstance(body, dict) else body
    return next(row for row in rows if row["id"] == backup_id)


def _when(row: dict) -> datetime:
    return datetime.fromisoformat(row["verified_at"].replace("Z", "+00:00"))


def _write_side(path: str | Path, m: Manifest, at: datetime, **over) -> None:
    """A check-time file as JobMatcher writes it for `m` at `at` (fields in `over` replaced): its format spelled
    out here, so a change of it is a change of these tests too."""
    body = {
        "app": "JobMatcher",
        "kind": "check-time",
        "format": 1,
        "verified_at": at.isoformat(),
        "verify_seconds": 0.01,
        "sha256": m.sha256,
        "verified": m.verified,
        "verify_message": m.verify_message,
        **over,
    }
    _side(path).write_text(json.dumps(body, separators=(",", ":")) + "\n")


def test_the_format_spelled_out_here_is_the_one_written():
    at = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=timezone.utc)
    made = listing.verified_bytes(at, 0.01, "a" * 64, True, "ok")
    assert json.loads(made) == {
        "app": "JobMatcher",
        "kind": "check-time",
        "format": 1,
        "verified_at": at.isoformat(),
        "verify_seconds": 0.01,
        "sha256": "a" * 64,
        "verified": True,
        "verify_message": "ok",
    }
    assert made.startswith(listing.VERIFIED_MARK) and listing.parse_verified(made) == (at, 0.01, "a" * 64, True, "ok")
    assert len(made) == listing.VERIFIED_BYTES  # always one length: rewritten in place, no old tail left behind


def test_a_rewrite_in_place_leaves_no_tail_of_a_longer_file(engine):
    b = engine.create_backup()
    _side(b.path).write_bytes(listing.VERIFIED_MARK + b" " * 900 + b"\n")  # ours (its mark), torn, longer
    checked = engine.verify(b.id).backup.verified_at
    assert len(_side(b.path).read_bytes()) == listing.VERIFIED_BYTES
    assert read_manifest(Path(b.path)).verified_at == checked == engine.store.get(b.id).verified_at


def test_a_refreshing_verify_leaves_the_manifest_and_every_reader_sees_its_time(engine):
    b = engine.create_backup()
    as_made = manifest_path(Path(b.path)).read_bytes()
    r = run_cli("backup", "verify", b.id, data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert manifest_path(Path(b.path)).read_bytes() == as_made  # not rewritten (fails before: it was)
    assert _side(b.path).is_file() and _side(b.path).stat().st_mode & 0o077 == 0  # private, as the manifest
    newest = read_manifest(Path(b.path))
    assert newest is not None and newest.verified is True and newest.verified_at > _raw(b.path).verified_at
    assert engine.store.get(b.id).verified_at == newest.verified_at
    assert next(x for x in engine.list_backups() if x.id == b.id).verified_at == newest.verified_at
    assert _when(_listed(engine, b.id)) == newest.verified_at  # `backup list --json`: no models
    # and again: the file is rewritten in place, the time moves on
    again = engine.verify(b.id).backup
    assert again.verified_at > newest.verified_at and engine.store.get(b.id).verified_at == again.verified_at
    assert manifest_path(Path(b.path)).read_bytes() == as_made


def test_every_reader_takes_a_check_time_file_written_as_jobmatcher_writes_it(engine):
    """Fails before (nothing read it): the list, get, read_manifest and `backup list --json` show its time."""
    b = engine.create_backup()
    m = _raw(b.path)
    later = m.verified_at + timedelta(hours=3)
    _write_side(b.path, m, later)
    assert read_manifest(Path(b.path)).verified_at == later
    assert engine.store.get(b.id).verified_at == later
    assert engine.list_backups()[0].verified_at == later
    assert _when(_listed(engine, b.id)) == later


@pytest.mark.parametrize(
    "content",
    [
        b"",  # created, never written (a power cut)
        b"\0" * 240,  # its length kept, its data lost (a power cut on some file systems)
        None,  # cut in the middle of its text
        b"not JobMatcher's at all\n",
        b'{"app":"JobMatcher","kind":"check-time","format":1,"verified_at":"yesterday"}\n',
    ],
    ids=["empty", "zeros", "torn", "foreign", "bad-date"],
)
def test_a_torn_or_foreign_check_time_file_is_ignored(engine, content):
    b = engine.create_backup()
    m = _raw(b.path)
    if content is None:
        _write_side(b.path, m, m.verified_at + timedelta(hours=1))
        content = _side(b.path).read_bytes()[:70]
    _side(b.path).write_bytes(content)
    assert read_manifest(Path(b.path)).verified_at == m.verified_at
    assert engine.store.get(b.id).verified_at == m.verified_at
    assert _when(_listed(engine, b.id)) == m.verified_at
    # a verify goes on: a file JobMatcher wrote (torn) is written again; another program's is never overwritten,
    # the time then goes into the manifest (as before the check-time file)
    after = engine.verify(b.id).backup
    assert after.verified is True and after.verified_at > m.verified_at
    assert engine.store.get(b.id).verified_at == after.verified_at
    if listing.verified_is_ours(content):
        assert _raw(b.path).verified_at == m.verified_at and _side(b.path).read_bytes() != content
    else:
        assert _side(b.path).read_bytes() == content and _raw(b.path).verified_at == after.verified_at


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_anything_but_a_file_at_its_name_is_ignored_and_left(engine, tmp_path, kind):
    b = engine.create_backup()
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"keep me")
    side = _side(b.path)
    if kind == "symlink":
        side.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(side)
    else:
        side.mkdir()
    after = engine.verify(b.id).backup  # no hang on a FIFO, no write through a link
    assert after.verified is True and engine.store.get(b.id).verified_at == after.verified_at
    assert _raw(b.path).verified_at == after.verified_at  # recorded in the manifest instead
    assert target.read_bytes() == b"keep me" and os.path.lexists(side)
    assert _listed(engine, b.id)["verified"] is True


def test_a_stale_check_time_file_never_stands_for_another_verdict_or_file(engine):
    b = engine.create_backup()
    m = _raw(b.path)
    later = m.verified_at + timedelta(hours=1)
    for over in ({"sha256": "0" * 64}, {"verified": False}, {"verify_message": "newer-version"}):
        _write_side(b.path, m, later, **over)
        assert engine.store.get(b.id).verified_at == m.verified_at, over
        assert read_manifest(Path(b.path)).verified_at == m.verified_at, over
    _write_side(b.path, m, m.verified_at - timedelta(hours=1))  # older than the manifest's (a clock set back)
    assert engine.store.get(b.id).verified_at == m.verified_at
    # a failed check after a refreshed one: the failure is recorded durably and shown, the time file goes
    engine.verify(b.id)
    assert _side(b.path).exists()
    with open(b.path, "r+b") as f:
        f.seek(os.path.getsize(b.path) // 2)
        f.write(b"\xde\xad\xbe\xef")
    with pytest.raises(Exception):  # noqa: B017 - InvalidBackupError, whatever its reason
        engine.verify(b.id)
    assert _raw(b.path).verified is False and engine.store.get(b.id).verified is False
    assert not _side(b.path).exists()
    assert _listed(engine, b.id)["verified"] is False


def test_a_pin_takes_the_newest_time_into_the_manifest(engine):
    b = engine.create_backup()
    checked = engine.verify(b.id).backup.verified_at
    assert _raw(b.path).verified_at < checked
    engine.set_pinned(b.id, True)
    assert _raw(b.path).verified_at == checked and _raw(b.path).pinned  # durable with the manifest now
    assert not _side(b.path).exists()
    assert engine.store.get(b.id).verified_at == checked


def test_delete_and_prune_remove_it_with_its_backup_but_never_a_file_jobmatcher_did_not_write(engine):
    old, kept, newest = (engine.create_backup(note=f"n{i}") for i in range(3))
    for b in (old, kept, newest):
        engine.verify(b.id)
        assert _side(b.path).is_file()
    _side(kept.path).write_bytes(b"my notes about this backup\n")  # another program's file of that name
    engine.delete_backup(old.id)
    assert not _side(old.path).exists() and not Path(old.path).exists()
    # a budget of one byte: everything but the newest goes (the newest is always kept)
    deleted = engine.store.prune(RetentionPolicy(keep_days=30, budget_bytes=1))
    assert [r.id for r in deleted] == [kept.id]
    assert not Path(kept.path).exists() and _side(kept.path).read_bytes() == b"my notes about this backup\n"
    assert _side(newest.path).is_file()
    # a check-time file left without its backup (a delete killed in between): JobMatcher's goes at the next
    # cleanup, another program's stays
    orphan = Path(newest.path).with_name("backup_2020-01-01_00-00-00.db")
    _write_side(orphan, _raw(newest.path), datetime.now(timezone.utc))
    empty_orphan = Path(newest.path).with_name("backup_2020-01-02_00-00-00.db")
    _side(empty_orphan).write_bytes(b"")  # created, never written, and its backup gone since
    _side(Path(newest.path).with_name("notes.db")).write_bytes(b"")  # an empty file of the user's: not ours
    removed = engine.store.cleanup()
    assert _side(orphan).name in removed and not _side(orphan).exists()
    assert _side(empty_orphan).name in removed and not _side(empty_orphan).exists()
    assert (engine.store.folder / "notes.verified").exists()
    assert _side(kept.path).exists() and _side(kept.path).name not in removed and _side(newest.path).exists()


def test_moving_backups_carries_their_newest_check_time(engine, tmp_path):
    b = engine.create_backup(note="moved")
    checked = engine.verify(b.id).backup.verified_at
    old = engine.store.folder
    assert _side(b.path).is_file() and _raw(b.path).verified_at < checked
    new = tmp_path / "usb"
    new.mkdir()
    engine.update_settings({"backup_dir": str(new)})
    r = run_cli("settings", "--move-backups", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    moved = new / f"{b.id}.db"
    assert moved.is_file() and _raw(moved).verified_at == checked  # in the moved manifest, durable
    assert not [p.name for p in old.iterdir() if p.name.startswith("backup_")]  # nothing left behind
    assert _when(_listed(engine, b.id)) == checked


def test_a_list_of_many_backups_reads_only_the_check_time_files_there_are(engine, monkeypatch):
    """The list knows which backups have one from its one reading of the folder: no lookup for the others."""
    b = engine.create_backup()
    for i in range(30):
        shutil.copyfile(b.path, engine.store.folder / f"backup_2026-01-01_00-00-{i:02d}.db")
        shutil.copyfile(manifest_path(Path(b.path)), engine.store.folder / f"backup_2026-01-01_00-00-{i:02d}.json")
    engine.verify(b.id)
    looked: list[str] = []
    real = listing.read_verified

    def spy(path: str):
        looked.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(listing, "read_verified", spy)
    rows = engine.list_backups()
    assert len(rows) == 31 and looked == [_side(b.path).name]
