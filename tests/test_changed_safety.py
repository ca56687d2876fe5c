"""Y7: a restore's safety backup (the old live file, hard-linked) whose file changed before its first check (a
`touch`, a tool restoring times, a rewrite of the same length) was refused for ever by verify, restore and the
page. Now it is marked for good as changed after its restore: listed as such at once (the list, the page, status),
checked as the file it is now (its checksums recorded from it), restorable in place by id as it is, and every door
says it may not be the data from before that restore (W6: never presented as that data). Real files, the real
command line in subprocesses, the page's API object over a real engine."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from conftest import fingerprint, run_cli
from jobmatcher import checklock
from jobmatcher.api import Api
from jobmatcher.engine import Engine
from jobmatcher.manifest import read_manifest
from jobmatcher.verify import sha256_file

NOT_PROVEN = "cannot be proven to be your data from before that restore"


def _restored_unchecked(tmp_path: Path) -> tuple[Path, Path, str]:
    """A data folder with saved jobs restored from its backup by the command line, the safety backup's check
    never started (as if killed at once): (data folder, safety backup's file, its id)."""
    data = tmp_path / "d"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    con = sqlite3.connect(data / "jobmatcher.db")
    with con:
        con.executemany(
            "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
            [(f"Job {i:02d}", "Co", "the job of a lifetime " * 50) for i in range(50)],
        )
    con.close()
    bid = json.loads(run_cli("--json", "backup", "create", data_dir=data).stdout)["id"]
    con = sqlite3.connect(data / "jobmatcher.db")
    with con:  # the data the restore replaces (what the safety backup holds): told apart from the backup's
        con.execute("UPDATE saved_jobs SET company = 'Before the restore'")
    con.close()
    r = run_cli("--json", "backup", "restore", bid, "--yes", data_dir=data, env={checklock.NO_BACKGROUND_ENV: "1"})
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["safety_backup_id"]
    return data, data / "backups" / f"{sid}.db", sid


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def _companies(db: Path) -> set[str]:
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT company FROM saved_jobs")}
    finally:
        con.close()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _listed(data: Path, sid: str) -> tuple[str, str]:
    r = run_cli("backup", "list", data_dir=data)
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith(sid))
    return line, _one_line(r.stderr)


def test_a_touched_safety_backup_is_listed_changed_checked_as_it_is_and_restorable_by_id(tmp_path):
    data, safety, sid = _restored_unchecked(tmp_path)
    before = fingerprint(safety)[1]
    assert _companies(safety) == {"Before the restore"}
    _touch(safety)

    # the list (read-only: it records nothing) says so at once, not "checking" the data from before the restore
    manifest = safety.with_suffix(".json")
    written = manifest.read_bytes()
    line, err = _listed(data, sid)
    assert "CHANGED after restore" in line, line
    assert f"The safety backup {sid} was changed after the restore that made it" in err, err
    assert manifest.read_bytes() == written

    # verify: checked as the file it is now, its checksums recorded from it; said, never "OK"
    r = run_cli("backup", "verify", sid, data_dir=data)
    assert r.returncode == 1, (r.stdout, r.stderr)
    err = _one_line(r.stderr)
    assert NOT_PROVEN in err and "modification time changed" in err and "sound JobMatcher database" in err, err
    assert f"jobmatcher --data-dir {data} backup restore {sid}" in err and "OK" not in r.stdout, err
    m = read_manifest(safety)
    assert m is not None and m.changed_after_restore is not None and m.file_stamp is None
    assert (m.verified, m.verify_message) == (None, "changed-after-restore")
    assert m.sha256 == sha256_file(safety) and m.blake3 and m.seal
    # a later verify works the same (not refused for ever, not passed)
    r = run_cli("backup", "verify", sid, data_dir=data)
    assert r.returncode == 1 and NOT_PROVEN in _one_line(r.stderr), r.stderr
    assert "changed again" not in r.stderr
    assert read_manifest(safety).sha256 == m.sha256

    r = run_cli("backup", "show", sid, data_dir=data)
    assert r.returncode == 0, r.stderr
    assert "CHANGED after the restore that made it: it may not be your data from before that restore" in r.stdout

    # restored in place by its id, as it is, with the words
    r = run_cli("backup", "restore", sid, "--yes", data_dir=data)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "may not be your data from before that restore" in _one_line(r.stdout), r.stdout
    assert fingerprint(data / "jobmatcher.db")[1] == before


def test_a_same_length_rewrite_of_a_safety_backup_is_never_presented_as_the_data_from_before(tmp_path):
    """Another program rewrites the safety backup in place with other data, the length unchanged: it is sound, so
    only its stamp tells; every door says it may not be the data from before the restore."""
    data, safety, sid = _restored_unchecked(tmp_path)
    size = safety.stat().st_size
    con = sqlite3.connect(safety)
    with con:
        con.execute("UPDATE saved_jobs SET company = 'Written by another program'")
    con.close()
    assert safety.stat().st_size == size and not Path(f"{safety}-journal").exists()

    r = run_cli("backup", "verify", sid, data_dir=data)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert NOT_PROVEN in _one_line(r.stderr) and "OK" not in r.stdout, r.stderr
    assert "CHANGED after restore" in _listed(data, sid)[0]
    r = run_cli("status", data_dir=data)
    assert "changed after the restore that made it" in r.stdout, r.stdout

    # the page: the list, the status line, its verify and its restore
    api = Api(Engine(data), mode="browser")
    try:
        api._begin_launch()
        assert api._wait_launched(60)["state"] == "done"
        rows = api._dispatch("list_backups", [])
        assert rows["ok"], rows
        row = next(b for b in rows["value"] if b["id"] == sid)
        assert (row["verified"], row["verify_message"]) == (None, "changed-after-restore"), row
        overview = api._dispatch("backup_overview", [])["value"]
        assert overview["health"]["last"]["verify_message"] == "changed-after-restore", overview["health"]
        task = api._dispatch("start_verify", [sid])["value"]
        done = api._tasks.wait(task["id"], 60)
        assert done["state"] == "failed", done
        assert NOT_PROVEN in done["error"]["message"] and "restored as it is" in done["error"]["hint"], done
        preview = api._dispatch("preview_backup", [sid])
        assert preview["ok"] and preview["value"]["changed_after_restore"] is True, preview
        task = api._dispatch("start_restore", [sid])["value"]
        done = api._tasks.wait(task["id"], 120)
        assert done["state"] == "done", done
        assert done["result"]["source_changed_after_restore"] is True, done["result"]
    finally:
        api._close()
    # what was restored is the file as it is (told so), never taken for the data from before the restore
    assert _companies(data / "jobmatcher.db") == {"Written by another program"}


def test_a_safety_backup_refused_by_the_previous_version_is_marked_changed_not_refused_for_ever(tmp_path):
    """A safety backup the previous version refused (verified False, its stamp kept: refused at every later
    verify, restore and on the page) gets out of that state at its next check."""
    data, safety, sid = _restored_unchecked(tmp_path)
    _touch(safety)
    m = json.loads(safety.with_suffix(".json").read_text())
    m.update(verified=False, verify_message=f"The safety backup {sid} was changed after the restore that made it")
    safety.with_suffix(".json").write_text(json.dumps(m))
    r = run_cli("backup", "restore", sid, "--yes", data_dir=data)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "may not be your data from before that restore" in _one_line(r.stdout + r.stderr)
    assert _companies(data / "jobmatcher.db") == {"Before the restore"}


def test_retention_treats_a_changed_safety_backup_as_its_own_by_the_usual_rules(tmp_path):
    """Kept as a restore's safety backup within its days (never as the newest that passed its check, never as a
    file added by hand, kept for ever); deleted by the usual rules once they let it go."""
    from datetime import datetime, timedelta, timezone

    from jobmatcher.manifest import write_manifest
    from jobmatcher.retention import BY_HAND, NEWEST_GOOD, RESTORE_SAFETY

    data, safety, sid = _restored_unchecked(tmp_path)
    _touch(safety)
    assert run_cli("backup", "verify", sid, data_dir=data).returncode == 1
    engine = Engine(data)
    yesterday = engine.create_backup(note="yesterday")
    engine.create_backup(note="newer")
    rules = {d.id: d.rule for d in engine.prune_plan()[0].decisions}
    assert rules[sid] not in (NEWEST_GOOD, BY_HAND), rules
    engine.update_settings({"retention_days": 1, "retention_policy": "simple"}, confirmed=True)
    assert {d.id: d.rule for d in engine.prune_plan()[0].decisions}[sid] == RESTORE_SAFETY
    # past the one day kept, every day in use (the backup restored first made before it, as by a right clock)
    first = min(engine.store.own(), key=lambda r: r.sequence or 0)
    for path, days in ((Path(first.path), 3), (safety, 2), (Path(yesterday.path), 1)):
        m = read_manifest(path)
        m.created_at = datetime.now(timezone.utc) - timedelta(days=days)
        write_manifest(path, m)
    rules = {d.id: d.rule for d in engine.prune_plan()[0].decisions}
    assert sid in [r.id for r in engine.prune()] and not safety.exists(), rules


def test_a_backup_that_no_longer_matches_its_checksum_names_the_way_to_what_it_holds(tmp_path):
    """The same kind (a recorded proof that no longer holds) for any listed backup: 3 bytes of a job's text
    changed in its file (still a sound database). Refused as that backup, every time (its checksum says these
    are not the bytes checked), but no longer a dead end: verify and restore name `backup show` and restoring a
    copy of its file by path (checked in full then), and that way works."""
    import shutil

    data = tmp_path / "d"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    con = sqlite3.connect(data / "jobmatcher.db")
    with con:
        con.executemany(
            "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
            [(f"Job {i:02d}", "Co", "the job of a lifetime " * 50) for i in range(50)],
        )
    con.close()
    bid = json.loads(run_cli("--json", "backup", "create", data_dir=data).stdout)["id"]
    path = data / "backups" / f"{bid}.db"
    b = bytearray(path.read_bytes())
    i = b.find(b"the job", 4096)
    b[i : i + 3] = b"THE"
    with open(path, "r+b") as f:
        f.write(b)
    for args in (("backup", "verify", bid), ("backup", "restore", bid, "--yes")):
        r = run_cli(*args, data_dir=data)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        err = _one_line(r.stderr)
        assert "checksum does not match" in err and f"jobmatcher --data-dir {data} backup show {bid}" in err, err
        assert f"/that/folder/{path.name}" in err and "may hold damaged data" in err, err
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    shutil.copy2(path, copy / path.name)
    r = run_cli("backup", "restore", str(copy / path.name), "--yes", data_dir=data)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert b"THE job" in (data / "jobmatcher.db").read_bytes()
