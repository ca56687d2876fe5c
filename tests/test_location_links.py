"""A folder location never writes, reads or deletes through a symbolic link below its own folder.

Finding G20: someone with write access to a shared location replaced `JobMatcher/<id>` by a link to a
folder of their choosing; the next sync wrote the copies (and retention would delete files) there.
Real folder locations, real backups, real links.
"""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from jobmatcher.locations.manager import folder_id_of

pytestmark = pytest.mark.usefixtures("file_credentials")


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_linked_namespace_at_a_folder_location_is_refused_and_the_target_untouched(engine, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    first = engine.create_backup(note="first")
    [r] = engine.locations.sync()
    assert r.copied == [first.id] and not r.error
    namespace = usb / "JobMatcher" / folder_id_of(engine.data)

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("the victim's own file")
    shutil.copyfile(namespace / f"{first.id}.json", victim / f"{first.id}.json")  # looks like ours
    shutil.copyfile(namespace / f"{first.id}.db", victim / f"{first.id}.db")
    shutil.rmtree(namespace)
    os.symlink(victim, namespace)
    before = _files(victim)

    engine.create_backup(note="second")
    [r] = engine.locations.sync()
    assert "symbolic link" in r.error, r
    assert r.copied == [] and r.deleted == []
    assert _files(victim) == before  # nothing written, nothing deleted through the link
    assert os.path.islink(namespace)  # and the link itself is left for the user to remove


def test_a_pipe_planted_at_a_folder_location_never_hangs_a_sync(engine, tmp_path):
    """Finding H8: a FIFO named writer.json at the location blocked every sync (and the copy after each backup).
    It is never opened for a blocking read. Since X4 an unreadable writer.json (a pipe, a device, a huge file, one
    that is not JSON) is a take-over of unknown rank: this data folder, which took over nothing, is refused as
    taken over (said at once, with the way out), instead of copying into another computer's list."""
    import subprocess
    import sys

    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert not r.error
    writer = usb / "JobMatcher" / folder_id_of(engine.data) / "writer.json"
    if writer.exists():
        writer.unlink()
    os.mkfifo(writer)
    engine.create_backup()
    code = (
        "import sys; from jobmatcher.engine import Engine; "
        f"[r] = Engine({str(engine.data.root)!r}).locations.sync(); print(repr(r.error), len(r.copied))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "cannot be read" in done.stdout and done.stdout.split()[-1] == "0", (done.stdout, done.stderr)  # no hang
    assert stat.S_ISFIFO(os.lstat(writer).st_mode)  # and the pipe is left as it was: not JobMatcher's


def test_a_take_over_dated_in_the_future_is_doubted_not_believed(engine, tmp_path):
    """H24: writer.json saying another computer took the copies over in 2099 was believed ("… continues this
    data folder's copies … since 2099-01-01", remove the location). A future date is said to be doubtful,
    with both ways out; nothing is copied or deleted meanwhile."""
    import json

    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert not r.error
    namespace = usb / "JobMatcher" / folder_id_of(engine.data)
    (namespace / "writer.json").write_text(
        json.dumps({"format": 1, "adopted_at": "2099-01-01T00:00:00+00:00", "written_at": "2099-01-01T00:00:00+00:00"})
    )
    before = _files(namespace)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied == [] and r.deleted == [], r
    assert "a date in the future" in r.error and "continues this data folder's copies" not in r.error, r.error
    assert _files(namespace) == before


def test_a_damaged_key_file_in_the_data_folder_is_said_as_such_and_never_published(engine, tmp_path):
    """H21: a damaged location-identity.age (a torn write, bit rot) was taken for a wrong passphrase ("this is
    not it") and could be published to a new location. It is said as damaged; no location's good key copy is
    replaced and no new location gets it."""
    from jobmatcher.errors import KeyFileDamagedError

    pw = "correct horse battery staple 42"
    usb = [tmp_path / f"usb{i}" for i in range(3)]
    for u in usb:
        u.mkdir()
    engine.locations.add("folder", path=str(usb[0]), name="li1", passphrase=pw)
    engine.create_backup()
    [r] = engine.locations.sync()
    assert not r.error, r
    good = (usb[0] / "JobMatcher" / folder_id_of(engine.data) / "identity.age").read_bytes()
    (engine.data.root / "location-identity.age").write_bytes(b"garbage\n")
    h = engine.health()  # red at once, not only after the next copy fails
    assert h.level == "error" and "key-file-damaged" in [w.code for w in h.warnings], h.warnings
    for kwargs in ({"passphrase": pw}, {}):
        with pytest.raises(KeyFileDamagedError) as e:
            engine.locations.add("folder", path=str(usb[1]), name="li2", **kwargs)
        assert "is damaged" in e.value.message and "not it" not in e.value.message, e.value.message
    assert [x.name for x in engine.locations.config().locations] == ["li1"]
    assert not list(usb[1].rglob("identity.age"))
    engine.create_backup()
    [r] = engine.locations.sync()
    assert r.error and "is damaged" in r.error, r
    assert (usb[0] / "JobMatcher" / folder_id_of(engine.data) / "identity.age").read_bytes() == good
