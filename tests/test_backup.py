"""Creating and listing backups: consistent, atomic, verified, named by time."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import fingerprint
from jobmatcher import schema
from jobmatcher.backups import FOLDER_MARKER
from jobmatcher.engine import Engine
from jobmatcher.errors import BackupNotFoundError, DatabaseMissingError, InsufficientSpaceError, ValidationError
from jobmatcher.manifest import MANIFEST_LOCK_NAME

NAME = re.compile(r"^backup_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(_\d+)?$")


def test_create_writes_a_verified_backup_with_its_manifest(engine):
    phases = []
    b = engine.create_backup(note="before trip", progress=lambda p, d, t, u: phases.append((p, d, t, u)))
    assert NAME.match(b.id)
    path = Path(b.path)
    assert path.exists() and path.with_suffix(".json").exists()
    m = json.loads(path.with_suffix(".json").read_text())
    assert m["type"] == "manual" and m["note"] == "before trip"
    assert m["verified"] is True and m["verified_at"]
    assert m["schema_revision"] == schema.head()
    assert m["size_bytes"] == path.stat().st_size
    import hashlib

    assert m["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # copy progress reached its total, then verification ran
    copies = [x for x in phases if x[0] == "copy"]
    assert copies and copies[-1][1] == copies[-1][2] and {x[3] for x in copies} == {"pages"}
    assert phases[-2:] == [("verify", 0, None, "steps"), ("verify", 1, 1, "steps")]  # the check: a step
    # the backup is one self-contained file in rollback-journal mode, with the data
    assert not Path(str(path) + "-wal").exists()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Ada Lovelace"
    conn.close()


def test_only_published_files_in_the_folder(engine):
    engine.create_backup()
    names = os.listdir(engine.store.folder)
    # and the backup folder's manifest lock, taken to number the backup (never deleted: see manifest.py)
    assert all(n.startswith("backup_") for n in names if n != MANIFEST_LOCK_NAME), names


def test_two_backups_in_the_same_second_get_unique_names(engine):
    ids = {engine.create_backup().id for _ in range(4)}
    assert len(ids) == 4
    listed = [r.id for r in engine.list_backups()]
    assert sorted(listed) == sorted(ids)


def test_list_is_newest_first_and_reads_manifests(engine):
    a = engine.create_backup(note="a")
    b = engine.create_backup(note="b")
    listed = engine.list_backups()
    assert [r.id for r in listed] == [b.id, a.id]
    rec = listed[0]
    for field in (
        "id",
        "path",
        "type",
        "created_at",
        "size_bytes",
        "sha256",
        "schema_revision",
        "app_version",
        "note",
        "pinned",
        "verified",
        "verified_at",
    ):
        assert hasattr(rec, field)


def test_the_live_database_is_not_changed_by_a_backup(engine):
    before = fingerprint(engine.data.db_path)
    engine.create_backup()
    assert fingerprint(engine.data.db_path) == before


def test_no_database_yet_is_a_clear_error(data_dir):
    with pytest.raises(DatabaseMissingError, match="no JobMatcher database"):
        Engine(data_dir).create_backup()


def test_a_backup_copied_in_by_hand_is_listed_and_can_be_verified(engine):
    made = engine.create_backup()
    copied = engine.store.folder / "from-my-usb-stick.db"
    shutil.copy(made.path, copied)
    rec = engine.store.get("from-my-usb-stick")
    assert rec.has_manifest is False and rec.verified is None
    assert "from-my-usb-stick" in [r.id for r in engine.list_backups()]
    verified = engine.verify("from-my-usb-stick")
    assert verified.backup is not None and verified.backup.verified is True
    assert verified.schema_revision == schema.head()


@pytest.mark.parametrize(
    "bad",
    [
        "..",
        "../data",
        "/etc/passwd",
        "backup_*",
        "*",
        "",
        "x" * 500,
        "backup_2026-01-01_00-00-00.db",
        ".tmp-1-2",
        "a/b",
        "a\\b",
    ],
)
def test_ids_are_matched_exactly(engine, bad):
    engine.create_backup()
    with pytest.raises((ValidationError, BackupNotFoundError)):
        engine.store.get(bad)
    with pytest.raises((ValidationError, BackupNotFoundError)):
        engine.delete_backup(bad)
    assert len(engine.list_backups()) == 1


def test_leftovers_of_a_killed_backup_are_cleaned_and_never_listed(engine):
    folder = engine.store.folder
    folder.mkdir(exist_ok=True)
    # what a process killed mid-copy leaves: a temp db, its -wal and its (unlocked) guard
    for name in (".tmp-999-1.db", ".tmp-999-1.db-wal", ".tmp-999-1.lock", ".tmp-998-5.db"):
        (folder / name).write_bytes(b"partial")
    assert engine.list_backups() == []
    engine.create_backup()
    assert sorted(n for n in os.listdir(folder) if n.startswith(".")) == [MANIFEST_LOCK_NAME]


def test_backup_folder_full_is_refused_before_writing(engine, tmpfs):
    small = tmpfs(64)  # far less than twice the database
    engine.update_settings({"backup_dir": str(small)})
    before = fingerprint(engine.data.db_path)
    with pytest.raises(InsufficientSpaceError) as e:
        engine.create_backup()
    assert "needed" in e.value.message and "free" in e.value.message
    assert [n for n in os.listdir(small) if n != FOLDER_MARKER] == []
    assert fingerprint(engine.data.db_path) == before


def test_disk_filling_up_during_the_copy_leaves_nothing(engine, tmpfs):
    """Passes the 2x check, then another writer fills the disk while the copy runs."""
    conn = engine.connect()
    with conn:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO saved_jobs (title, description) VALUES (?, ?)",
            [("t", os.urandom(2000).hex()) for _ in range(800)],
        )
        conn.execute("COMMIT")
    conn.close()
    size = engine.data.db_path.stat().st_size + 4096
    disk = tmpfs((2 * size) // 1024 + 64)
    engine.update_settings({"backup_dir": str(disk)})
    hog = disk / "someone-elses-file"
    stop = threading.Event()

    def fill():
        with open(hog, "wb") as f:
            while not stop.is_set():
                try:
                    f.write(b"\0" * 65536)
                    f.flush()
                except OSError:
                    return

    from jobmatcher import fsutil

    real = fsutil.hold_free_space

    def check_then_fill(*a, **k):
        held = real(*a, **k)
        t = threading.Thread(target=fill)
        t.start()
        t.join(10)
        return held

    import jobmatcher.backups as backups_mod

    old = backups_mod.hold_free_space
    backups_mod.hold_free_space = check_then_fill
    try:
        before = fingerprint(engine.data.db_path)
        with pytest.raises(InsufficientSpaceError, match="full"):
            engine.create_backup()
    finally:
        backups_mod.hold_free_space = old
        stop.set()
    assert sorted(n for n in os.listdir(disk) if n != FOLDER_MARKER) == ["someone-elses-file"]
    assert fingerprint(engine.data.db_path) == before


WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    db, stop_file = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db, isolation_level=None, timeout=60)
    conn.execute("PRAGMA busy_timeout=60000")
    n = 0
    worst = 0.0
    import os
    while not os.path.exists(stop_file):
        n += 1
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO saved_jobs (title, description) VALUES (?, ?)", (f"job {n}", "x" * 3000))
        conn.execute("INSERT OR REPLACE INTO user_preferences (key, value) VALUES ('counter', ?)", (str(n),))
        conn.execute("COMMIT")
        worst = max(worst, time.perf_counter() - t)
    print(n, worst, flush=True)
""")


def _consistent(path: Path) -> int:
    """A backup must equal a committed state: the counter equals the rows the writer added."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        row = conn.execute("SELECT value FROM user_preferences WHERE key='counter'").fetchone()
        counter = int(row[0]) if row else 0
        rows = conn.execute("SELECT count(*) FROM saved_jobs WHERE title LIKE 'job %'").fetchone()[0]
        assert rows == counter, f"backup mixes states: {rows} rows, counter {counter}"
        return counter
    finally:
        conn.close()


@pytest.mark.parametrize("method", ["file-copy", "backup-api"])
def test_backups_while_another_process_writes_continuously(engine, tmp_path, method):
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(engine.data.db_path), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.3)
        counters = []
        for _ in range(6):
            b = engine.create_backup(method=method)
            counters.append(_consistent(Path(b.path)))
            time.sleep(0.05)
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    total = int(out.split()[0])
    assert counters == sorted(counters) and counters[-1] > 0 and total >= counters[-1]


def test_backups_while_a_thread_of_this_process_writes(engine):
    """The app writes from its own thread while a backup runs in the same process."""
    stop = threading.Event()
    errors = []

    def write():
        conn = engine.connect()
        n = 0
        try:
            while not stop.is_set():
                n += 1
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO saved_jobs (title) VALUES (?)", (f"job {n}",))
                conn.execute("INSERT OR REPLACE INTO user_preferences (key, value) VALUES ('counter', ?)", (str(n),))
                conn.execute("COMMIT")
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            conn.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        time.sleep(0.2)
        counters = [_consistent(Path(engine.create_backup().path)) for _ in range(5)]
    finally:
        stop.set()
        t.join(30)
    assert not errors
    assert counters[-1] > 0
    # the writer's connection still works after the backups (its locks were not dropped)
    assert engine.check().ok


def test_trusted_records_are_what_model_construct_makes(engine):
    """BackupRecord.trusted (the list's fast constructor) makes exactly what pydantic's model_construct makes:
    the same fields in the same order, defaults filled in, fields_set, no extra, no private; a fresh copy of a
    mutable default. A pydantic upgrade that changes model_construct's instance state fails here."""
    from jobmatcher.backups import CreatedBackup
    from jobmatcher.manifest import BackupRecord, read_manifest

    b = engine.create_backup(note="a note")
    m = read_manifest(Path(b.path))
    full = {k: getattr(m, k) for k in type(m).model_fields if k in BackupRecord.model_fields}
    full.update(id=b.id, path=b.path, manifest="ok", owned=True, future=False, has_manifest=True)
    assert full.keys() == BackupRecord.model_fields.keys()  # a list's row: every field given (the fast path)
    few = {"id": b.id, "path": b.path, "type": m.type, "created_at": m.created_at, "size_bytes": 1}
    created = {**full, "copy_seconds": 0.5, "verify_seconds": 0.25, "method": "file-copy", "not_a_field": 1}
    for cls, values in ((BackupRecord, full), (BackupRecord, few), (CreatedBackup, created)):
        expected, got = cls.model_construct(**dict(values)), cls.trusted(dict(values))
        assert type(got) is type(expected)
        assert list(got.__dict__.items()) == list(expected.__dict__.items())
        assert got.model_fields_set == expected.model_fields_set
        assert got.__pydantic_extra__ == expected.__pydantic_extra__
        assert got.__pydantic_private__ == expected.__pydantic_private__
        assert got.model_dump_json() == expected.model_dump_json()
    one, two = CreatedBackup.trusted(dict(created)), CreatedBackup.trusted(dict(created))
    assert one.check_memory == {} and one.check_memory is not two.check_memory  # never a shared mutable default
    assert BackupRecord.from_manifest(b.id, Path(b.path), m, owned=True) == engine.list_backups()[0]


def test_create_answers_what_validating_its_values_makes(engine):
    """Issue 13: create makes its CreatedBackup with trusted() (no validator built in a fresh process): the answer
    must be what validating the same values makes, typed alike, and its record the list's row of that backup."""
    from jobmatcher.backups import CreatedBackup
    from jobmatcher.manifest import BackupRecord, BackupType

    for b in (engine.create_backup(note="a note"), engine.create_backup(kind=BackupType.auto)):
        validated = CreatedBackup.model_validate(b.model_dump())
        assert validated == b and list(validated.__dict__.items()) == list(b.__dict__.items())
        assert validated.model_dump_json() == b.model_dump_json()
        row = {k: v for k, v in b.__dict__.items() if k in BackupRecord.model_fields}
        assert row == engine.store.get(b.id).model_dump()
    assert b.unchanged and b.method == "unchanged"  # the automatic one: the data had not changed


def test_concurrent_writers_never_share_or_lower_a_sequence_number(engine):
    """A backup's sequence number decides which is newest, whatever the clocks say. Four processes reserving
    backup names as fast as they can (as a restore's safety backup does; publishing takes its number the
    same way, under the backup folder's manifest lock) get every number once, each above all numbers taken
    before it: 2..101 after the first backup's 1, rising within each process."""
    first = engine.create_backup()
    assert first.sequence == 1
    go = engine.data.root / "go"
    code = textwrap.dedent("""
        import json, os, sys, time
        from datetime import datetime, timezone
        from jobmatcher.engine import Engine
        from jobmatcher.manifest import BackupType, Manifest
        store = Engine(sys.argv[1]).store
        fid = store.data.folder_id()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.001)
        taken = []
        for _ in range(25):
            m = Manifest(type=BackupType.auto, created_at=datetime.now(timezone.utc), size_bytes=0, data_folder_id=fid)
            store.reserve_name(m)
            taken.append(m.sequence)
        print(json.dumps(taken))
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(engine.data.root), str(go)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    time.sleep(0.5)
    go.touch()
    taken = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(seq == sorted(seq) and len(set(seq)) == len(seq) for seq in taken)
    assert sorted(n for seq in taken for n in seq) == list(range(2, 102))
    assert engine.store.next_sequence() == 102  # reserved names count, listed (their .db there) or not yet


def test_a_manifest_changed_in_place_is_read_again_whatever_its_times_say(engine):
    """The list reuses manifests it read before only while the file is unchanged: a manifest rewritten in
    place (same inode, same size, its modification time set back) is read again (its status-change time
    moved), and one changed in the last 2 s is never reused (file system clocks are coarse)."""
    from jobmatcher import manifest as manifest_module

    b = engine.create_backup(note="before")
    path = Path(b.path).with_suffix(".json")
    engine.list_backups()
    assert str(path) not in manifest_module._SEEN  # just written: not reused yet
    time.sleep(2.2)
    assert engine.list_backups()[0].note == "before"
    assert str(path) in manifest_module._SEEN  # settled: reused from now on while unchanged
    st = path.stat()
    body = path.read_bytes()
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(body.replace(b'"before"', b'"after!"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ino == st.st_ino and path.stat().st_size == st.st_size
    assert path.stat().st_mtime_ns == st.st_mtime_ns
    assert engine.list_backups()[0].note == "after!"
    assert engine.store.get(b.id).note == "after!"


def test_a_manifest_that_grew_after_its_fstat_is_read_to_its_end_or_refused_past_the_cap(tmp_path):
    """manifest._read_all trusts the fstat's size only when one read returns exactly that many bytes: a file
    longer than its fstat said (it grew in between) is read on to its end, and past MAX_MANIFEST_BYTES refused."""
    from jobmatcher import manifest

    grown = tmp_path / "grown.json"
    grown.write_bytes(b"y" * 10_000)
    fd = os.open(grown, os.O_RDONLY)
    try:
        assert manifest._read_all(fd, 100, str(grown)) == b"y" * 10_000  # fstat said 100 bytes
    finally:
        os.close(fd)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b"z" * (manifest.MAX_MANIFEST_BYTES + 2))
    fd = os.open(huge, os.O_RDONLY)
    try:
        with pytest.raises(OSError):
            manifest._read_all(fd, 100, str(huge))
    finally:
        os.close(fd)


def test_a_reserved_name_skips_taken_names_and_files_added_by_hand(engine):
    """reserve_name writes the manifest under the first name whose manifest and file are both free: a name with
    a manifest is taken, a file there without one (added by hand) is never overwritten; with every name of that
    second taken it refuses and leaves nothing of its own."""
    from datetime import datetime, timezone

    from jobmatcher.backups import backup_name
    from jobmatcher.errors import BackupFailedError
    from jobmatcher.manifest import BackupType, Manifest, manifest_path, read_manifest

    engine.create_backup()  # the folder and a first number
    store = engine.store
    when = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
    base = backup_name(when)
    manifest_path(store.folder / f"{base}.db").write_text("{}")  # taken (its .db still to come)
    (store.folder / f"{base}_2.db").write_bytes(b"added by hand")  # a file without a manifest: never overwritten

    def manifest() -> Manifest:
        return Manifest(type=BackupType.auto, created_at=when, size_bytes=0, data_folder_id=store.data.folder_id())

    m = manifest()
    final = store.reserve_name(m)
    assert final == store.folder / f"{base}_3.db" and not final.exists()
    assert read_manifest(final) == m and m.sequence == 2
    assert (store.folder / f"{base}_2.db").read_bytes() == b"added by hand"
    assert not manifest_path(store.folder / f"{base}_2.db").exists()
    for n in range(4, 1000):
        manifest_path(store.folder / f"{base}_{n}.db").write_text("{}")
    before = sorted(os.listdir(store.folder))
    with pytest.raises(BackupFailedError, match="free name"):
        store.reserve_name(manifest())
    assert sorted(os.listdir(store.folder)) == before
