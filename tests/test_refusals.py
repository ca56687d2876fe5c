"""Every way a backup file can be bad: refused with its reason, the live database untouched."""

import os
import sqlite3

import pytest
from conftest import fingerprint, run_cli
from corpus import broken_files, valid_variants
from jobmatcher.errors import InvalidBackupError


@pytest.fixture
def corpus(engine, tmp_path):
    good = engine.create_backup().path
    from pathlib import Path

    return broken_files(Path(good), tmp_path / "corpus"), valid_variants(Path(good), tmp_path / "valid")


CASES = [
    "empty",
    "random-bytes",
    "text-file",
    "zip",
    "other-app",
    "truncated-0.1",
    "truncated-0.5",
    "truncated-0.9",
    "truncated-header",
    "smashed-page",
    "flipped-bits",
    "damaged-header",
    "missing-table",
    "newer-schema",
    "directory",
    "fifo",
    "symlink-elsewhere",
    "missing",
    "large-sparse",
]


@pytest.mark.parametrize("case", CASES)
def test_verify_and_restore_refuse_with_the_specific_reason(engine, corpus, case):
    bad, _ = corpus
    path, reason = bad[case]
    before = fingerprint(engine.data.db_path)
    backups_before = [r.id for r in engine.list_backups()]
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(str(path))
    assert e.value.reason == reason, e.value.message
    assert e.value.message and e.value.hint
    with pytest.raises(InvalidBackupError) as e2:
        engine.restore(str(path))
    assert e2.value.reason == reason
    assert fingerprint(engine.data.db_path) == before
    assert [r.id for r in engine.list_backups()] == backups_before  # not even a safety backup


def test_messages_say_what_is_wrong(engine, corpus):
    bad, _ = corpus
    expect = {
        "newer-schema": "newer version",
        "truncated-0.5": "cut short",
        "missing-table": "skills",
        "other-app": "not one of JobMatcher",
        "smashed-page": "damaged",
        "empty": "empty",
        "directory": "folder",
        "missing": "does not exist",
    }
    for case, words in expect.items():
        with pytest.raises(InvalidBackupError) as e:
            engine.verify(str(bad[case][0]))
        assert words in e.value.message, (case, e.value.message)


@pytest.mark.parametrize("case", ["spaces-and-non-ascii", "different-page-size"])
def test_valid_variants_are_accepted_and_restored(engine, corpus, case):
    _, ok = corpus
    path = ok[case]
    engine.verify(str(path))
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = 'Changed'")
    conn.close()
    engine.restore(str(path))
    conn = engine.connect()
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Ada Lovelace"
    conn.close()


@pytest.mark.parametrize("case", ["text-file", "truncated-0.5", "newer-schema", "smashed-page", "fifo"])
def test_command_line_refuses_with_exit_1_and_no_traceback(engine, corpus, case):
    bad, _ = corpus
    before = fingerprint(engine.data.db_path)
    for cmd in (["backup", "verify", str(bad[case][0])], ["backup", "restore", str(bad[case][0]), "--yes"]):
        r = run_cli(*cmd, data_dir=engine.data.root)
        assert r.returncode == 1, r
        assert r.stderr.startswith("Error: ") and "Traceback" not in r.stderr + r.stdout
    assert fingerprint(engine.data.db_path) == before


def test_a_changed_backup_fails_its_checksum(engine):
    b = engine.create_backup()
    conn = sqlite3.connect(b.path)  # a valid edit, but not the file that was made
    conn.execute("UPDATE user_profile SET full_name = 'Tampered'")
    conn.commit()
    conn.close()
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert engine.store.get(b.id).verified is False  # the failed check is recorded
    with pytest.raises(InvalidBackupError):
        engine.restore(b.id)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(engine, tmp_path):
    p = tmp_path / "locked.db"
    p.write_bytes(b"x" * 100)
    p.chmod(0)
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(str(p))
    assert e.value.reason == "unreadable"
