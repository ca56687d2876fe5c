"""Every failure names its real cause (issue 8, kind 6): real full disks, read-only files, held write locks,
impossible folder names, huge ids and absurd request bodies, through the real app, the page's API and the CLI.

Each answer says what went wrong and what to do; never "something unexpected", never a traceback, never
damage for sound data; an answer is always sent; the data stays as it was.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import fill_sample_data, fingerprint, run_cli
from conftest_app import profile_name
from jobmatcher import profile
from jobmatcher.api import Api
from jobmatcher.engine import Engine
from jobmatcher.errors import JobMatcherError

MB = 1 << 20


def _fill(folder: Path, leave: int = 0) -> Path:
    """Another program takes every free byte of the disk (but `leave` bytes)."""
    filler = folder / "someone-elses-file"
    with open(filler, "ab", buffering=0) as f:  # unbuffered: nothing left to fail again at close
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def _no_unexpected(text: str) -> None:
    assert "unexpected" not in text.lower() and "Traceback" not in text and "sqlalche.me" not in text, text


# -- a full disk during the schema update -----------------------------------------------------------------


def _old_data_on_small_disk(tmpfs, tmp_path) -> Engine:
    """Data at revision 0001 on a small disk; backups on another disk, so the pre-migration backup succeeds."""
    disk = tmpfs(16 * 1024)
    e = Engine(disk / "data")
    e.migrate(target="0001_initial")
    conn = e.connect()
    profile.update_profile(conn, profile.Profile(full_name="Ada Lovelace"))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    backups = tmp_path / "backups"
    backups.mkdir()
    e.update_settings({"backup_dir": str(backups)})
    return e


def test_a_full_disk_during_the_schema_update_says_so_not_damage_or_unexpected(tmpfs, tmp_path):
    e = _old_data_on_small_disk(tmpfs, tmp_path)
    before = fingerprint(e.data.db_path)
    filled = []

    def progress(phase, done, total, unit):  # the disk fills up once the pre-migration backup is made
        if phase == "verify" and done == total and not filled:
            filled.append(_fill(e.data.root.parent))

    with pytest.raises(JobMatcherError) as err:
        e.migrate(progress=progress)
    assert filled, "the disk never filled: the test tested nothing"
    assert err.value.code == "no-space", err.value  # what the page shows, and the CLI
    assert "disk is full" in err.value.message and "Free up space" in err.value.hint, err.value
    _no_unexpected(str(err.value))
    # the next start, on the still completely full disk, says full, not damaged
    r = run_cli("db", "migrate", data_dir=e.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    _no_unexpected(r.stdout + r.stderr)
    assert "full" in r.stderr and "damaged" not in r.stderr and "cannot be read" not in r.stderr, r.stderr
    r = run_cli("db", "status", data_dir=e.data.root)
    _no_unexpected(r.stdout + r.stderr)
    assert "damaged" not in r.stderr and "cannot be read" not in r.stderr, r.stderr
    filled[0].unlink()
    assert Engine(e.data.root).status().current == "0001_initial"
    assert fingerprint(e.data.db_path) == before


# -- saving the profile: a read-only file, a held write lock, a full disk ------------------------------------


def _data(folder: Path) -> Path:
    d = folder / "data"
    e = Engine(d)
    e.migrate()
    fill_sample_data(e, jobs=5)
    e.create_backup(note="first")
    return d


def _save(app, name: str) -> dict:
    answer = app.call("save_profile", name, "Analyst", timeout=60)
    assert "error" in answer or answer["ok"], answer
    return answer


def _assert_named(answer: dict, code: str, *words: str) -> None:
    assert not answer["ok"], answer
    err = answer["error"]
    assert err["code"] == code, err
    _no_unexpected(err["message"] + err["hint"])
    for w in words:
        assert w in err["message"] + " " + err["hint"], (w, err)
    assert err["hint"]


def test_saving_the_profile_while_another_program_holds_the_write_lock(start_app, tmp_path):
    data = _data(tmp_path)
    app = start_app(data, "--browser")
    app.wait_opened()
    assert app.call("get_profile")["ok"]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(data / 'jobmatcher.db')!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\ntime.sleep(120)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        _assert_named(_save(app, "Grace Hopper"), "busy", "another program", "lock", "Close")
    finally:
        holder.kill()
        holder.wait()
    assert profile_name(data) == "Ada Lovelace"
    assert _save(app, "Grace Hopper")["ok"]  # once the other program let go


def test_saving_the_profile_on_a_full_disk(start_app, tmpfs):
    data = _data(tmpfs(24 * 1024))
    app = start_app(data, "--browser")
    app.wait_opened()
    assert app.call("get_profile")["ok"]  # the page reads the profile first: the connection is open
    filler = _fill(data.parent)
    _assert_named(_save(app, "Grace Hopper " * 10), "no-space", "disk is full", "Free up space")
    filler.unlink()
    assert profile_name(data) == "Ada Lovelace"
    assert _save(app, "Grace Hopper")["ok"]  # the failed save left no transaction open


def test_saving_the_profile_when_the_database_file_is_read_only(start_app, tmp_path):
    data = _data(tmp_path)
    db = data / "jobmatcher.db"
    # a read-only file even for root: the file bind-mounted read-only over itself
    if subprocess.run(["mount", "--bind", str(db), str(db)], capture_output=True).returncode != 0:
        pytest.skip("needs root (mount --bind)")
    try:
        assert subprocess.run(["mount", "-o", "remount,bind,ro", str(db)], capture_output=True).returncode == 0
        app = start_app(data, "--browser")
        app.wait_opened()
        assert app.call("get_profile")["ok"]
        _assert_named(_save(app, "Grace Hopper"), "read-only", "read-only", "writable")
        app.stop()
    finally:
        subprocess.run(["umount", "-l", str(db)], capture_output=True)
    assert profile_name(data) == "Ada Lovelace"


# -- folder settings no folder can have ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "folder, words",
    [
        ("/tmp/backups\x00evil", ["NUL"]),
        ("~nouser-jobmatcher/backups", ["no user", "nouser-jobmatcher"]),
    ],
)
def test_impossible_backup_folder_settings_are_refused_by_name(engine, folder, words):
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        answer = api._dispatch("save_settings", [24, 30, folder])
    finally:
        api._close()
    assert not answer["ok"] and answer["error"]["code"] == "invalid-setting", answer
    for w in words:
        assert w in answer["error"]["message"]
    _no_unexpected(answer["error"]["message"])


def test_impossible_folders_on_the_command_line_and_in_the_environment(engine, tmp_path):
    r = run_cli("settings", "--backup-dir", "~nouser-jobmatcher/b", data_dir=engine.data.root)
    assert r.returncode == 1 and "no user 'nouser-jobmatcher'" in r.stderr, r.stderr
    _no_unexpected(r.stderr)
    r = run_cli("backup", "list", data_dir=Path("~nouser-jobmatcher/data"))
    assert r.returncode == 1 and "no user" in r.stderr, r.stderr
    _no_unexpected(r.stderr)
    r = run_cli("backup", "list", env={"JOBMATCHER_DATA_DIR": "~nouser-jobmatcher/data"})
    assert r.returncode == 1 and "JOBMATCHER_DATA_DIR" in r.stderr and "no user" in r.stderr, r.stderr
    # an impossible log folder never keeps anyone from their data
    r = run_cli("backup", "list", data_dir=engine.data.root, env={"JOBMATCHER_LOG_DIR": "~nouser-jobmatcher/log"})
    assert r.returncode == 0, r.stderr
    _no_unexpected(r.stderr)


# -- a huge skill id; a 100,000-deep JSON body ---------------------------------------------------------------


def test_a_huge_skill_id_is_no_such_skill(engine):
    api = Api(engine, mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:
        for skill_id in (10**30, 2**63, 2**63 - 1):
            answer = api._dispatch("remove_skill", [skill_id])
            assert not answer["ok"] and answer["error"]["code"] == "invalid-input", answer
            assert "no skill" in answer["error"]["message"]
            _no_unexpected(answer["error"]["message"])
        assert len(api._dispatch("get_profile", [])["value"]["skills"]) == 3
    finally:
        api._close()


def test_a_100000_deep_json_body_gets_an_answer_and_no_traceback(start_app, app_data):
    app = start_app(app_data, "--browser")
    app.wait_opened()
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(app.url)
    secret = unquote(parts.fragment.split("secret=", 1)[1])
    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"args": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"args": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}",
    ):
        conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=30)
        conn.request(
            "POST", "/api/save_profile", body, {"X-JobMatcher-Secret": secret, "Content-Type": "application/json"}
        )
        r = conn.getresponse()
        answer = json.loads(r.read())
        conn.close()
        assert r.status == 400 and not answer["ok"], answer
        assert "nested too deeply" in answer["error"]["message"]
    assert app.call("app_info")["ok"]  # still serving
    time.sleep(0.3)
    assert not [line for line in app.stderr if "Traceback" in line or "RecursionError" in line], app.stderr


# -- the mapping itself --------------------------------------------------------------------------------------


def test_every_sqlite_and_os_cause_gets_its_own_code(tmp_path):
    import errno

    from jobmatcher import causes

    cases = {
        sqlite3.SQLITE_FULL: "no-space",
        sqlite3.SQLITE_READONLY: "read-only",
        sqlite3.SQLITE_BUSY: "busy",
        sqlite3.SQLITE_LOCKED: "busy",
        sqlite3.SQLITE_CORRUPT: "damaged",
        sqlite3.SQLITE_NOTADB: "damaged",
        sqlite3.SQLITE_IOERR: "disk-error",
        sqlite3.SQLITE_CANTOPEN: "cannot-open",
        sqlite3.SQLITE_PERM: "read-only",
    }
    for code, expected in cases.items():
        e = sqlite3.OperationalError("x")
        e.sqlite_errorcode = code | (3 << 8)  # an extended code carries the primary one in its low byte
        assert causes.explain(e, "testing", tmp_path).code == expected, (code, expected)
    for number, expected in (
        (errno.ENOSPC, "no-space"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "read-only"),
        (errno.EIO, "disk-error"),
        (errno.ENAMETOOLONG, "invalid-input"),
    ):
        assert causes.explain(OSError(number, os.strerror(number)), "testing", tmp_path).code == expected
    assert causes.explain(RecursionError(), "testing").code == "invalid-input"
    assert causes.explain(KeyError("x"), "testing") is None  # a bug stays a bug
    # SQLAlchemy's wrapper (as Alembic raises it) is looked through
    from sqlalchemy.exc import OperationalError as SAOperationalError

    inner = sqlite3.OperationalError("database or disk is full")
    inner.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert causes.explain(SAOperationalError("INSERT", {}, inner), "testing").code == "no-space"


def test_saving_the_settings_on_a_full_disk_names_the_disk_and_the_file(tmpfs):
    disk = tmpfs(8 * 1024)
    e = Engine(disk / "data")
    e.migrate()
    api = Api(e, mode="browser")
    api._begin_launch()
    assert api._wait_launched(30)["state"] == "done"
    try:
        filler = _fill(disk)
        answer = api._dispatch("save_settings", [60, 45, ""])
        filler.unlink()
    finally:
        api._close()
    assert not answer["ok"] and answer["error"]["code"] == "no-space", answer
    assert "disk is full" in answer["error"]["message"] and "settings.json" in answer["error"]["message"]
    assert ".tmp" not in answer["error"]["message"]
    _no_unexpected(answer["error"]["message"])
    assert Engine(disk / "data").settings.retention_days != 45


# -- writes at the same time share the free space (issue 8, kind 5: other instances) ---------------------------


def test_two_backups_at_once_cannot_each_pass_the_space_check_alone(tmpfs, tmp_path):
    """A scheduled and a manual backup at the same instant: the second counts what the first has reserved."""
    import threading

    e = Engine(tmp_path / "data")
    e.migrate()
    conn = e.connect()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO saved_jobs (title, description) VALUES (?, ?)",
        [(f"job {i}", os.urandom(500).hex()) for i in range(3000)],
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = e.data.db_path.stat().st_size
    disk = tmpfs((3 * size) // 1024 + 256)  # room for one backup's 2x rule, not for two
    e.update_settings({"backup_dir": str(disk)})
    first_copying, second_done = threading.Event(), threading.Event()
    results: dict = {}

    def progress(phase, done, total, unit):
        if phase == "copy" and not first_copying.is_set():
            first_copying.set()
            second_done.wait(30)

    def first():
        try:
            results["first"] = e.create_backup(note="first", progress=progress)
        except Exception as ex:  # noqa: BLE001
            results["first"] = ex

    t = threading.Thread(target=first)
    t.start()
    assert first_copying.wait(30)
    try:
        with pytest.raises(JobMatcherError) as err:
            e.create_backup(note="second")
    finally:
        second_done.set()
        t.join(60)
    assert err.value.code == "no-space" and "being saved right now" in err.value.message, err.value
    assert not isinstance(results["first"], Exception), results["first"]
    assert [r.note for r in e.list_backups()] == ["first"]
    assert not [p for p in disk.iterdir() if p.name.startswith(".tmp-")]  # no temp file left
    e.create_backup(note="after")  # the reservation ended with the first backup


def test_a_failing_background_thread_goes_to_the_log_not_the_terminal(engine, tmp_path):
    """A bug in a thread (the scheduler, a server thread) must not print a traceback where the user looks."""
    logs = tmp_path / "logs"
    script = (
        "import sys, threading\n"
        "from jobmatcher import cli\n"
        "def boom(args):\n"
        "    t = threading.Thread(target=lambda: 1 / 0, name='scheduler-test')\n"
        "    t.start(); t.join()\n"
        "    return 0\n"
        "cli.cmd_db_status = boom\n"
        f"sys.exit(cli.main(['db', 'status', '--data-dir', {str(engine.data.root)!r}]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JOBMATCHER_LOG_DIR": str(logs)},
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "ZeroDivisionError" not in r.stderr, r.stderr
    log = (logs / "jobmatcher.log").read_text()
    assert "uncaught exception in thread scheduler-test" in log and "ZeroDivisionError" in log
