"""The page's API object over a real engine and data folder (no window): every public call, refusals, and
what pywebview's bridge can reach."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jobmatcher.api as api_module
import pytest
from conftest_app import profile_name
from jobmatcher import desktop
from jobmatcher.api import PUBLIC_METHODS, Api, backup_status, make_js_bridge
from jobmatcher.engine import Engine
from jobmatcher.errors import RestoreFailedError
from jobmatcher.manifest import BackupRecord, BackupType


class FakeDialogs:
    """Native dialogs answered by the test: each returns the next queued answer (None = cancelled)."""

    def __init__(self) -> None:
        self.answers: list[str | None] = []
        self.asked: list[tuple] = []
        self.directories: list[str] = []

    def _next(self, *what):
        self.asked.append(what)
        return self.answers.pop(0)

    def open_file(self, directory=""):
        self.directories.append(directory)
        return self._next("open")

    def save_file(self, suggested_name, directory=""):
        self.directories.append(directory)
        return self._next("save", suggested_name)

    def choose_folder(self):
        return self._next("folder")


@pytest.fixture
def make_api(engine):
    made: list[Api] = []

    def make(mode="window", dialogs=None, on_restart=None, data_dir=None) -> Api:
        eng = Engine(data_dir) if data_dir else engine
        a = Api(eng, mode=mode, dialogs=dialogs, on_restart=on_restart)
        a._begin_launch()
        a._wait_launched(30)
        made.append(a)
        return a

    yield make
    for a in made:
        a._close()


def ok(api: Api, name: str, *args):
    r = api._dispatch(name, list(args))
    assert r["ok"], r
    json.dumps(r)  # JSON-able, as both transports need
    return r["value"]


def refused(api: Api, name: str, *args) -> dict:
    r = api._dispatch(name, list(args))
    assert not r["ok"], r
    assert set(r["error"]) >= {"code", "message", "hint"}
    assert "Traceback" not in json.dumps(r)
    return r["error"]


def wait_task(api: Api, task: dict) -> dict:
    return api._tasks.wait(task["id"], 60)


# -- profile ------------------------------------------------------------------------------------------


def test_profile_round_trip_and_skills(make_api, engine):
    api = make_api()
    assert ok(api, "get_profile")["full_name"] == "Ada Lovelace"
    p = ok(api, "save_profile", "  Grace Hopper ", "Rear admiral")
    assert (p["full_name"], p["headline"]) == ("Grace Hopper", "Rear admiral")
    assert profile_name(engine.data.root) == "Grace Hopper"
    p = ok(api, "add_skill", "COBOL")
    cobol = next(s for s in p["skills"] if s["name"] == "COBOL")
    assert refused(api, "add_skill", "cobol")["message"] == "The skill 'cobol' is already in your list."
    assert refused(api, "add_skill", "   ")["message"] == "Type the skill's name first."
    p = ok(api, "remove_skill", cobol["id"])
    assert "COBOL" not in [s["name"] for s in p["skills"]]
    assert "no skill with id" in refused(api, "remove_skill", cobol["id"])["message"]


def test_arguments_from_the_page_are_validated(make_api):
    api = make_api()
    e = refused(api, "save_profile", 42)
    assert e["code"] == "invalid-input"
    assert "full_name" in e["message"] and "headline" in e["message"]
    assert "max_length" not in e["message"]
    assert refused(api, "save_profile", "x" * 201, "")["code"] == "invalid-input"
    assert refused(api, "get_profile", "extra")["code"] == "invalid-input"
    assert refused(api, "remove_skill", "1; DROP TABLE skills")["code"] == "invalid-input"
    assert refused(api, "start_backup", "n" * 501)["code"] == "invalid-input"


def test_only_public_methods_can_be_dispatched(make_api):
    api = make_api()
    for name in ("_dispatch", "_close", "_engine", "__init__", "_receive_upload", "nonexistent"):
        assert refused(api, name)["code"] == "unknown-call"
    assert "get_profile" in PUBLIC_METHODS and not [n for n in PUBLIC_METHODS if n.startswith("_")]


def test_an_unexpected_error_is_a_message_without_a_traceback(make_api, monkeypatch, caplog):
    api = make_api()
    monkeypatch.setattr(api._engine, "list_backups", lambda: 1 / 0)
    e = refused(api, "list_backups")
    assert e == {
        "code": "internal",
        "message": "Something unexpected went wrong (ZeroDivisionError).",
        "hint": "Try again. If it keeps happening, please report it with JobMatcher's log file.",
    }
    assert "Traceback" in caplog.text  # ...which went to the log instead


# -- backups --------------------------------------------------------------------------------------------


def test_back_up_now_runs_as_a_task_and_the_new_backup_tops_the_list(make_api, engine):
    engine.update_settings({"auto_backup_hours": 0})  # no automatic backup at launch: start with none
    api = make_api()
    before = ok(api, "backup_overview")
    assert before["status"]["count"] == 0 and "no backups yet" in before["status"]["warning"]
    final = wait_task(api, ok(api, "start_backup", " before the fair "))
    assert final["state"] == "done", final
    row = final["result"]["backup"]
    assert row["note"] == "before the fair" and row["type_label"] == "Manual" and row["verified"] is True
    assert "path" not in row  # the page names backups by id only
    after = ok(api, "backup_overview")
    assert after["backups"][0]["id"] == row["id"]
    assert after["status"]["warning"] is None and after["status"]["last"]["id"] == row["id"]


def test_status_line_warnings():
    now = datetime.now(timezone.utc)

    def rec(age_days, verified=True):
        return BackupRecord(
            id="backup_2026-01-01_00-00-00",
            path="/x",
            type=BackupType.manual,
            created_at=now - timedelta(days=age_days),
            size_bytes=1,
            sha256=None,
            schema_revision=None,
            app_version="",
            note="",
            pinned=False,
            verified=verified,
            verified_at=None,
        )

    assert backup_status([])["warning"] == "You have no backups yet. Make one now."
    assert backup_status([rec(1)])["warning"] is None
    assert backup_status([rec(10)])["warning"] == "Your newest backup is 10 days old. Make a new one now."
    assert "failed its check" in backup_status([rec(0, verified=False)])["warning"]


def test_verify_pin_delete(make_api, engine):
    api = make_api()
    b = wait_task(api, ok(api, "start_backup", ""))["result"]["backup"]
    assert wait_task(api, ok(api, "start_verify", b["id"]))["state"] == "done"
    assert ok(api, "set_pinned", b["id"], True)["pinned"] is True
    assert ok(api, "set_pinned", b["id"], False)["pinned"] is False
    assert ok(api, "delete_backup", b["id"]) == {"deleted": b["id"]}
    assert refused(api, "delete_backup", b["id"])["code"] == "not-found"
    # ids only: paths and tricks are refused before touching anything
    for bad in ("../jobmatcher", "/etc/passwd", str(engine.data.db_path), "backup_*"):
        assert refused(api, "delete_backup", bad)["code"] in ("invalid-input", "not-found")
        assert refused(api, "start_restore", bad)["code"] in ("invalid-input", "not-found")
    assert engine.data.db_path.exists()


def test_a_damaged_listed_backup_fails_verify_with_its_reason(make_api, engine):
    api = make_api()
    b = wait_task(api, ok(api, "start_backup", ""))["result"]["backup"]
    path = engine.store.folder / f"{b['id']}.db"
    with open(path, "r+b") as f:
        f.seek(4096)  # the second page's header
        f.write(b"\xff" * 12)
    final = wait_task(api, ok(api, "start_verify", b["id"]))
    assert final["state"] == "failed"
    # the engine's reason, once (the page words the title and what to do; no "did not pass its check" twice)
    assert final["error"]["code"] == "invalid-backup" and final["error"]["reason"] in ("corrupt", "checksum-mismatch")
    assert "did not pass its check" not in final["error"]["message"]
    assert ok(api, "list_backups")[0]["verified"] is False


# -- restore ---------------------------------------------------------------------------------------------


def test_restore_by_id_replaces_the_data_then_asks_for_a_restart(make_api, engine):
    restarts = []
    api = make_api(on_restart=lambda: restarts.append(1) or True)
    b = wait_task(api, ok(api, "start_backup", "good"))["result"]["backup"]
    ok(api, "save_profile", "Grace Hopper", "")
    final = wait_task(api, ok(api, "start_restore", b["id"]))
    assert final["state"] == "done", final
    assert final["result"]["safety_backup_id"]
    assert profile_name(engine.data.root) == "Ada Lovelace"
    # The old connection is closed: the page is told to restart, not shown stale data.
    e = refused(api, "get_profile")
    assert e["message"] == "Your data was restored; JobMatcher needs to restart to use it."
    assert refused(api, "start_backup", "")["message"] == e["message"]
    assert ok(api, "app_info")["restore_state"] == "done"
    assert ok(api, "restart") == {"restarting": True, "message": "JobMatcher is restarting…"}
    assert restarts == [1]
    types = [r["type"] for r in ok(api, "list_backups")]
    assert types.count("safety") == 1


def test_restart_without_a_way_to_relaunch_says_to_reopen(make_api):
    api = make_api(on_restart=lambda: False)
    r = ok(api, "restart")
    assert r["restarting"] is False and "open it again" in r["message"]
    api._on_restart = None
    assert ok(api, "restart")["restarting"] is False


@pytest.mark.parametrize("recovered", [True, False])
def test_a_failed_restore_says_whether_the_data_was_put_back(make_api, monkeypatch, recovered):
    api = make_api()
    b = wait_task(api, ok(api, "start_backup", ""))["result"]["backup"]

    def failing(*a, **k):
        raise RestoreFailedError(
            "The restore failed: disk full. Your data was put back from the safety backup X; nothing was lost."
            if recovered
            else "Both failed.",
            "Free up space.",
            recovered=recovered,
        )

    monkeypatch.setattr(api._engine, "restore", failing)
    final = wait_task(api, ok(api, "start_restore", b["id"]))
    assert final["state"] == "failed"
    assert final["error"]["code"] == "restore-failed" and final["error"]["recovered"] is recovered
    if recovered:  # back to normal: the data is the old data
        assert ok(api, "get_profile")["full_name"] == "Ada Lovelace"
        assert ok(api, "app_info")["restore_state"] is None
    else:
        assert "restart" in refused(api, "start_backup", "")["message"]


def make_bad(kind: str, source: Path, where: Path) -> Path:
    if kind == "not-sqlite":
        p = where / "letter.txt"
        p.write_text("hello " * 100)
    elif kind == "corrupt":
        p = where / "damaged.db"
        shutil.copy(source, p)
        with open(p, "r+b") as f:
            for page_no in range(1, p.stat().st_size // 4096):
                f.seek(page_no * 4096)
                f.write(b"\xff" * 12)
    else:
        p = where / "newer.db"
        shutil.copy(source, p)
        c = sqlite3.connect(p)
        c.execute("UPDATE alembic_version SET version_num = '9999_future'")
        c.commit()
        c.close()
    return p


@pytest.mark.parametrize(
    "kind, text",
    [
        ("not-sqlite", "letter.txt is not a JobMatcher backup"),
        ("corrupt", "damaged.db is damaged"),
        ("newer-schema", "made by a newer version of JobMatcher"),
    ],
)
def test_restore_from_file_is_checked_first_and_refused_with_its_reason(make_api, engine, tmp_path, kind, text):
    dialogs = FakeDialogs()
    api = make_api(dialogs=dialogs)
    src = Path(engine.create_backup().path)
    bad = make_bad(kind, src, tmp_path)
    before = engine.data.db_path.read_bytes()
    dialogs.answers.append(str(bad))
    chosen = ok(api, "choose_restore_file")
    assert chosen["name"] == bad.name and "path" not in chosen
    e = refused(api, "check_restore_file", chosen["token"])
    assert e["code"] == "invalid-backup" and e["reason"] == kind
    assert text in e["message"] and str(tmp_path) not in e["message"]
    assert refused(api, "start_restore_file", chosen["token"])["message"] == "That file is no longer available."
    assert engine.data.db_path.read_bytes() == before


def test_restore_from_a_good_file(make_api, engine, tmp_path):
    dialogs = FakeDialogs()
    api = make_api(dialogs=dialogs)
    copy = tmp_path / "mine.db"
    shutil.copy(engine.create_backup().path, copy)
    ok(api, "save_profile", "Changed", "")
    dialogs.answers += [None, str(copy)]
    assert ok(api, "choose_restore_file") == {"cancelled": True}
    assert dialogs.directories[-1] == str(engine.store.folder)  # the open dialog starts among the backups
    token = ok(api, "choose_restore_file")["token"]
    info = ok(api, "check_restore_file", token)
    assert info["name"] == "mine.db" and info["needs_update"] is False
    assert wait_task(api, ok(api, "start_restore_file", token))["state"] == "done"
    assert profile_name(engine.data.root) == "Ada Lovelace"
    assert copy.exists()  # the user's own file is left alone


def test_tokens_are_opaque_and_cannot_name_files(make_api, engine):
    api = make_api(mode="browser")
    for bad in (str(engine.data.db_path), "../../etc/passwd", "short"):
        assert refused(api, "check_restore_file", bad)["code"] in ("invalid-input",)
    assert refused(api, "check_restore_file", "A" * 20)["message"] == "That file is no longer available."
    assert refused(api, "choose_restore_file")["message"] == "Choose the file with the upload button in this mode."


def test_an_upload_is_named_by_its_own_name_and_removed_after_the_check(make_api, engine):
    import io

    api = make_api(mode="browser")
    data = b"not a database at all" * 50
    up = api._receive_upload("../../evil/cv.txt", io.BytesIO(data), len(data))
    assert up["name"] == "cv.txt"
    stored = next(engine.data.root.joinpath(".uploads").rglob("cv.txt"))
    assert stored.read_bytes() == data and engine.data.root / ".uploads" in stored.parents
    e = refused(api, "check_restore_file", up["token"])
    assert e["message"].startswith("cv.txt is not a JobMatcher backup") and ".uploads" not in e["message"]
    assert not stored.exists()


# -- export, folder, settings ------------------------------------------------------------------------------


def test_export_copies_the_backup_where_the_user_chose(make_api, engine, tmp_path):
    dialogs = FakeDialogs()
    api = make_api(dialogs=dialogs)
    b = engine.create_backup()
    target = tmp_path / "out" / "copy.db"
    target.parent.mkdir()
    dialogs.answers += [str(target), None]
    assert ok(api, "export_backup", b.id) == {"saved_to": str(target)}
    assert dialogs.asked[0] == ("save", f"{b.id}.db")
    assert dialogs.directories[0] == str(api_module.export_folder())  # Documents or home, not our working folder
    assert dialogs.directories[0] != os.getcwd()
    assert target.read_bytes() == Path(b.path).read_bytes()
    assert ok(api, "export_backup", b.id) == {"cancelled": True}


def test_export_in_the_browser_is_a_one_time_download(make_api, engine):
    api = make_api(mode="browser")
    b = engine.create_backup()
    r = ok(api, "export_backup", b.id)
    token = r["download"].rsplit("/", 1)[1]
    assert api._take_download(token) == (Path(b.path), f"{b.id}.db")
    assert api._take_download(token) is None


def _fake_opener(bin_dir: Path, monkeypatch, body: str) -> Path:
    """A real `xdg-open` on PATH that records its argument and then runs `body` (a shell line)."""
    bin_dir.mkdir(exist_ok=True)
    log = bin_dir / "opened.txt"
    script = bin_dir / "xdg-open"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n{body}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(desktop.sys, "platform", "linux")
    return log


def test_open_backups_folder_reports_whether_the_file_manager_started(make_api, engine, monkeypatch, tmp_path):
    api = make_api()
    engine.create_backup()
    folder = engine.store.folder
    log = _fake_opener(tmp_path / "bin", monkeypatch, "exit 0")
    assert ok(api, "open_backups_folder") == {"path": str(folder), "opened": True}
    assert log.read_text().splitlines() == [str(folder)]

    # xdg-open's "no tool for the job" (exit 3), as on a desktop with no file manager configured
    _fake_opener(tmp_path / "bin", monkeypatch, "exit 3")
    assert ok(api, "open_backups_folder") == {"path": str(folder), "opened": False}


def test_open_in_file_manager(monkeypatch, tmp_path):
    _fake_opener(tmp_path / "bin", monkeypatch, "exit 4")
    assert api_module.open_in_file_manager(tmp_path) is False
    _fake_opener(tmp_path / "bin", monkeypatch, "exit 0")
    assert api_module.open_in_file_manager(tmp_path) is True
    # a file manager that runs in the foreground of xdg-open: still running counts as opened
    _fake_opener(tmp_path / "bin", monkeypatch, "sleep 3")
    assert api_module.open_in_file_manager(tmp_path, wait=0.3) is True
    # no xdg-open at all
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert api_module.open_in_file_manager(tmp_path) is False


def test_settings_are_validated(make_api, engine, tmp_path):
    api = make_api()
    s = ok(api, "get_settings")
    assert s["effective_backup_dir"] == str(engine.data.root / "backups")
    e = refused(api, "save_settings", 24, 30, str(tmp_path / "missing"))
    assert "does not exist" in e["message"] and e["hint"]
    e = refused(api, "save_settings", 24, 30, str(engine.data.root / "inside"))
    assert e["code"] in ("invalid-setting",)
    assert refused(api, "save_settings", -1, 30, "")["code"] == "invalid-input"
    assert refused(api, "save_settings", 24, 0, "")["code"] == "invalid-input"
    assert refused(api, "save_settings", 7 * 24 * 60 + 1, 30, "")["code"] == "invalid-input"  # at most a week
    other = tmp_path / "elsewhere"
    other.mkdir()
    s = ok(api, "save_settings", 0, 90, str(other))
    assert (s["auto_backup_minutes"], s["retention_days"], s["backup_dir"]) == (0, 90, str(other.resolve()))
    s = ok(api, "save_settings", 30, 90, str(other), {"retention_policy": "simple", "keep_daily_days": 3})
    assert s["retention"]["retention_policy"] == "simple" and s["retention"]["keep_daily_days"] == 3
    assert refused(api, "save_settings", 30, 90, "", {"keep_daily_days": -1})["code"] == "invalid-input"
    assert refused(api, "save_settings", 30, 90, "", {"unknown": 1})["code"] == "invalid-input"
    assert engine.settings.retention_days == 90
    s = ok(api, "save_settings", 24, 30, "")
    assert s["backup_dir"] == ""
    assert (
        refused(make_api(mode="browser", data_dir=tmp_path / "d2"), "choose_backup_folder")["message"]
        == "Type the folder's full path in this mode."
    )


# -- launch ------------------------------------------------------------------------------------------------


def test_a_launch_refused_is_shown_with_its_message_and_can_be_retried(make_api, engine):
    first = make_api()
    second = Api(Engine(engine.data.root), mode="window")
    try:
        second._begin_launch()
        launch = second._wait_launched(30)
        assert launch["state"] == "failed"
        assert launch["error"]["code"] == "locked"
        assert launch["error"]["message"].startswith("JobMatcher is already running with this data folder")
        assert (
            ok(second, "app_info")["launch"]["error"]["hint"]
            == "Close the other JobMatcher window first, then try again."
        )
        e = refused(second, "get_profile")
        assert e["message"].startswith("JobMatcher could not open your data: JobMatcher is already running")
        first._close()
        ok(second, "retry_launch")
        assert second._wait_launched(30)["state"] == "done"
        assert ok(second, "get_profile")["full_name"] == "Ada Lovelace"
    finally:
        second._close()


# -- the pywebview bridge -----------------------------------------------------------------------------------


class FakeWindow:
    """Just enough of a pywebview Window for webview.util.js_bridge_call."""

    def __init__(self, js_api) -> None:
        self._js_api = js_api
        self._functions: dict = {}
        self.results: list[str] = []
        self.called = threading.Event()

    def evaluate_js(self, script):
        self.results.append(script)
        self.called.set()


def bridge_call(bridge, name: str, params: list) -> str | None:
    from webview.util import js_bridge_call

    window = FakeWindow(bridge)
    js_bridge_call(window, name, params, "id1")
    window.called.wait(5 if not name.startswith("_") and "." not in name else 0.05)
    return window.results[0] if window.results else None


def test_pywebview_sees_only_the_public_methods(make_api):
    import inspect

    bridge = make_js_bridge(make_api())
    assert sorted(dir(bridge)) == sorted(PUBLIC_METHODS)
    for name in dir(bridge):
        assert inspect.isfunction(getattr(bridge, name))  # what pywebview lists for the page


def test_the_bridge_calls_public_methods_through_pywebviews_own_code(make_api):
    bridge = make_js_bridge(make_api())
    out = bridge_call(bridge, "get_profile", [])
    assert out and "Ada Lovelace" in out and '"ok": true' in out


HOSTILE_NAMES = [
    "_dispatch",
    "_engine",
    "_writer",
    "_fns",
    "__class__",
    "__init__",
    "__getattribute__",
    "get_profile.__globals__",
    "get_profile.__closure__",
    "get_profile.__self__",
    "get_profile.__globals__.clear",
    "get_profile.__builtins__.clear",
    "get_profile.__globals__.update",
    "app_info.__code__.replace",
    "__class__.__init__.__globals__.clear",
    "restart.__self__._engine.restore",
]


def test_the_bridge_reaches_nothing_else(make_api, engine):
    """pywebview resolves a called name with getattr part by part, private or not: try what a hostile page would."""
    api = make_api()
    bridge = make_js_bridge(api)
    globals_before = dict(vars(api_module))
    for name in HOSTILE_NAMES:
        bridge_call(bridge, name, [])
    time.sleep(0.2)
    # Whatever those names resolved to (or not), nothing of ours changed and the API still works.
    assert dict(vars(api_module)) == globals_before
    assert hasattr(builtins, "len") and "len" in vars(builtins)
    assert ok(api, "get_profile")["full_name"] == "Ada Lovelace"
    assert ok(api, "app_info")["restore_state"] is None
    assert engine.data.db_path.exists()
    for private in ("_dispatch", "_engine", "__class__", "__dict__"):
        with pytest.raises(AttributeError):
            getattr(bridge, private)


def test_the_launch_outcome_is_kept_however_many_tasks_run_after_it(make_api, engine):
    """Issue 8 kind 4: the runner remembers 20 finished tasks; the launch must never be one it drops."""
    api = make_api()
    b = wait_task(api, ok(api, "start_backup", ""))["result"]["backup"]
    for _ in range(api._tasks.KEEP + 2):
        assert wait_task(api, ok(api, "start_verify", b["id"]))["state"] == "done"
    assert ok(api, "app_info")["launch"]["state"] == "done"
    assert ok(api, "list_backups")[0]["id"] == b["id"]
    assert ok(api, "get_profile")["full_name"] == "Ada Lovelace"


def test_when_the_data_cannot_be_opened_the_page_can_still_list_and_restore(make_api, engine):
    """Issue 8 kind 4: the window's way out. The list and restore work; the data then opens without a restart."""
    b = engine.create_backup(note="good")
    db = engine.data.db_path
    engine.release_instance_lock()
    db.write_bytes(b"")
    api = make_api()
    info = ok(api, "app_info")
    assert info["launch"]["state"] == "failed" and info["way_out"] is True
    assert "empty (0 bytes)" in info["launch"]["error"]["message"]
    assert refused(api, "get_profile")["message"].startswith("JobMatcher could not open your data")
    assert refused(api, "start_backup", "")["message"].startswith("JobMatcher could not open your data")
    assert ok(api, "list_backups")[0]["id"] == b.id
    done = wait_task(api, ok(api, "start_restore", b.id))
    assert done["state"] == "done" and done["result"]["reopen"] is True, done
    ok(api, "retry_launch")
    assert api._wait_launched(30)["state"] == "done"
    assert ok(api, "get_profile")["full_name"] == "Ada Lovelace"


def test_no_way_out_is_offered_when_another_instance_holds_the_data(make_api, engine):
    first = make_api()
    second = Api(Engine(engine.data.root), mode="window")
    try:
        second._begin_launch()
        assert second._wait_launched(30)["state"] == "failed"
        assert ok(second, "app_info")["way_out"] is False
        assert refused(second, "list_backups")["message"].startswith("JobMatcher could not open your data")
    finally:
        second._close()
        first._close()


def test_a_missing_safety_backup_at_launch_is_named_and_the_page_offers_a_restore(make_api, engine):
    from jobmatcher import restore as restore_mod

    good = engine.create_backup(note="good")
    safety = engine.store.create(engine.data.db_path, BackupType.safety, note="Before restoring x")
    engine.release_instance_lock()
    restore_mod._write_journal(engine.data, "recover", safety.id, safety.id, safety.path)
    Path(safety.path).unlink()
    Path(safety.path).with_suffix(".json").unlink()
    api = make_api()
    info = ok(api, "app_info")
    assert info["way_out"] is True and info["launch"]["error"]["code"] == "safety-missing"
    assert safety.id in info["launch"]["error"]["message"]
    assert "FileNotFoundError" not in json.dumps(info)
    assert wait_task(api, ok(api, "start_restore", good.id))["state"] == "done"
    ok(api, "retry_launch")
    assert api._wait_launched(30)["state"] == "done"
    assert not engine.data.journal_path.exists()


def test_the_window_refuses_the_live_database_chosen_as_a_file_to_restore(make_api, engine):
    dialogs = FakeDialogs()
    api = make_api(dialogs=dialogs)
    dialogs.answers.append(str(engine.data.db_path))
    chosen = ok(api, "choose_restore_file")
    e = refused(api, "check_restore_file", chosen["token"])
    assert e["reason"] == "is-live-database" and "live database itself" in e["message"]
    assert ok(api, "get_profile")["full_name"] == "Ada Lovelace"


def test_the_page_never_gets_a_command_as_what_to_do():
    """Errors carry the command line's hint (a command) and, where it differs, the window's (a button):
    the page gets the window's words, never `jobmatcher …`."""
    from jobmatcher.errors import DatabaseDamagedError, JobMatcherError, SettingsError
    from jobmatcher.pageerror import to_page_error

    only_command = DatabaseDamagedError(
        "Your data is damaged.",
        "Restore your newest verified backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.",
    )
    d = to_page_error(only_command)
    assert d["code"] == "damaged" and "`jobmatcher" not in d["hint"] and "Restore…" in d["hint"]
    mixed = JobMatcherError("It failed.", "Free up some space. Then run `jobmatcher db check`.")
    assert to_page_error(mixed)["hint"] == "Free up some space."
    own = SettingsError("No.", 'Run `jobmatcher settings --backup-dir ""`.', page_hint="Leave the field empty.")
    assert to_page_error(own)["hint"] == "Leave the field empty."
    assert "`jobmatcher settings" in str(own)  # the command line still gets its command


def test_a_bad_backup_folder_is_refused_in_the_windows_words(make_api, tmp_path):
    api = make_api()
    e = refused(api, "save_settings", 0, 30, "relative/folder")
    assert "must be a full path" in e["message"] and "`jobmatcher" not in e["hint"] and e["hint"]


def test_the_windows_refusals_have_their_own_codes(make_api, engine):
    """The page branches on codes, not on sentences: still opening, a restore pending, a task running, wrong mode."""
    opening = Api(engine, mode="window")  # never launched: the data is not open
    e = refused(opening, "start_backup", "")
    assert (e["code"], e["reason"]) == ("not-open", "opening")
    api = make_api(mode="browser")
    assert refused(api, "choose_restore_file")["code"] == "wrong-mode"
    assert refused(api, "choose_backup_folder")["code"] == "wrong-mode"
    b = engine.create_backup()
    wait_task(api, ok(api, "start_restore", b.id))
    e = refused(api, "start_backup", "")
    assert (e["code"], e["state"]) == ("restore-state", "done")


def test_a_free_space_refusal_gives_the_reason_it_was_reckoned_by_and_no_other(tmp_path):
    from jobmatcher.errors import InsufficientSpaceError
    from jobmatcher.fsutil import require_free_space

    with pytest.raises(InsufficientSpaceError) as e:
        require_free_space(tmp_path, 1 << 60, "the exported copy", why="the backup's size")
    assert "(the backup's size)" in e.value.message and "twice" not in e.value.message
    with pytest.raises(InsufficientSpaceError) as e:
        require_free_space(tmp_path, 1 << 60, "something")
    assert "twice" not in e.value.message and "needed," in e.value.message


def test_the_pages_previous_folders_skip_the_current_one_and_its_indexes_match(make_api, engine, tmp_path):
    """Finding U8: a previous folder that is the current one under another path is not offered to the page; the
    indexes the page sends name the folders it shows (leaving one leaves that one, not the hidden alias)."""
    engine.create_backup(note="here")
    current = engine.store.folder
    old = tmp_path / "old"
    old.mkdir()
    s = json.loads(engine.data.settings_path.read_text()) if engine.data.settings_path.exists() else {}
    s["previous_backup_dirs"] = [str(current) + "/.", str(old)]
    engine.data.settings_path.write_text(json.dumps(s))
    engine._settings_cache = None
    api = make_api()
    shown = ok(api, "backup_overview")["previous"]
    assert [p["folder"] for p in shown] == [str(old)]
    ok(api, "forget_previous_folder", shown[0]["index"])
    assert engine.settings.previous_backup_dirs == [str(current) + "/."]  # the alias stays for a move to drop
    assert len(list(current.glob("backup_*.db"))) == 1


def test_an_uploaded_backup_is_restored_with_room_for_about_twice_its_size(make_api, tmpfs, tmp_path, monkeypatch):
    """T16's kind (a second copy of the app's own temp file, beside itself): a page's upload lies in the data
    folder already, and restoring it copied it again to the staged name, so the data disk needed the upload and
    twice more. It is now renamed into place: a disk with room for the upload and once more its size (not twice)
    restores it, and the upload is gone afterwards."""
    from conftest import fill_sample_data, fingerprint
    from jobmatcher import chosen, profile

    # the upload's own 64 MB to spare would hide the restore's rule below 64 MB backups: 1 MB here (CI-size)
    monkeypatch.setattr(chosen, "UPLOAD_KEEP_FREE", 1 << 20)

    source = Engine(tmp_path / "source")
    source.migrate()
    fill_sample_data(source, name="Uploaded Ada")
    conn = source.connect()
    try:
        with profile.transaction(conn):
            conn.executemany(
                "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
                [(f"Big {i}", "Co", os.urandom(2000).hex()) for i in range(2500)],
            )
    finally:
        conn.close()
    backup = Path(source.create_backup().path)
    size = backup.stat().st_size
    room = 5 * size // 2  # 2.5 times the backup: not 3 times
    data = tmpfs((room + (1 << 20)) // 1024) / "data"  # 1 MB: the live data and its settings
    target = Engine(data)
    target.migrate()
    fill_sample_data(target)
    api = make_api(mode="browser", data_dir=data)
    with backup.open("rb") as f:
        up = api._receive_upload("cv-backup.db", f, size)
    ok(api, "check_restore_file", up["token"])
    final = wait_task(api, ok(api, "start_restore_file", up["token"]))
    assert final["state"] == "done", final
    assert fingerprint(data / "jobmatcher.db")[1] == fingerprint(source.data.db_path)[1]
    assert not [p for p in (data / ".uploads").rglob("*") if p.is_file()]
