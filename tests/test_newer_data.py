"""Data from a newer JobMatcher (finding G7): its safety backup is kept, but never "passed its check" here,
never the newest checked backup, and every status line says what it is. The real CLI on a real data folder."""

from __future__ import annotations

import json
import sqlite3
import time

from conftest import fingerprint, run_cli


def _go_newer(engine) -> None:
    conn = sqlite3.connect(engine.data.db_path)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0003_future'")
    conn.close()


def test_a_newer_versions_safety_backup_is_kept_but_never_counts_as_passed(engine, data_dir):
    old = engine.create_backup()
    _go_newer(engine)
    r = run_cli("db", "status", data_dir=data_dir)
    assert r.returncode == 0 and "newer than this version" in r.stdout and "up to date" not in r.stdout, r.stdout
    r = run_cli("status", data_dir=data_dir)
    assert "newer version of JobMatcher" in r.stderr and "no backup of it" in r.stderr, (r.stdout, r.stderr)
    h = json.loads(run_cli("status", "--json", data_dir=data_dir).stdout)
    assert h["level"] != "ok", h

    r = run_cli("backup", "restore", old.id, "--yes", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    listed = json.loads(run_cli("backup", "list", "--json", data_dir=data_dir).stdout)
    safety = next(b for b in listed if b["type"] == "safety")
    deadline = time.monotonic() + 60
    while engine.store.get(safety["id"]).verify_message == "checking" and time.monotonic() < deadline:
        time.sleep(0.05)  # the restore's linked safety backup is checked in the background
    rec = engine.store.get(safety["id"])
    assert rec.verified is None and rec.verify_message == "newer-version", rec
    listed = {b["id"]: b for b in json.loads(run_cli("backup", "list", "--json", data_dir=data_dir).stdout)}
    assert listed[safety["id"]]["verified"] is None, listed[safety["id"]]
    text = run_cli("backup", "list", data_dir=data_dir).stdout
    assert "newer version" in text
    # the manifest itself says so, not "verified": true
    manifest = json.loads((engine.store.folder / f"{safety['id']}.json").read_text())
    assert manifest["verified"] is not True and manifest["verify_message"] == "newer-version"

    r = run_cli("backup", "show", safety["id"], data_dir=data_dir)
    assert "made by a newer JobMatcher" in r.stdout and "not checked yet" not in r.stdout, r.stdout
    r = run_cli("backup", "verify", safety["id"], data_dir=data_dir)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "newer version of JobMatcher" in r.stderr and "kept" in r.stderr and "OK" not in r.stdout

    # the newest backup that passed its check is the older one: retention keeps it, health names it
    plan = json.loads(run_cli("backup", "prune", "--dry-run", "--json", data_dir=data_dir).stdout)
    rules = {d["id"]: d["rule"] for d in plan["kept"]}
    assert rules[old.id] == "newest that passed its check", rules
    before = fingerprint(engine.data.db_path)
    r = run_cli("backup", "restore", safety["id"], "--yes", data_dir=data_dir)
    assert r.returncode == 1 and "newer" in r.stderr
    assert fingerprint(engine.data.db_path) == before


def test_a_manifest_that_says_passed_for_newer_data_is_not_believed(engine, data_dir):
    """Manifests written before the fix said "verified": true for such a backup: read as newer-version."""
    b = engine.create_backup()
    path = engine.store.folder / f"{b.id}.json"
    m = json.loads(path.read_text())
    m["schema_revision"] = "0003_future"
    m["verified"] = True
    path.write_text(json.dumps(m))
    rec = engine.store.get(b.id)
    assert rec.verified is None and rec.verify_message == "newer-version"
