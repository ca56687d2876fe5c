"""Errors carry data; each edge words them (issue 12, findings F3, F9, F17, F18, F22).

Every refusal has a code of its own and its facts as fields (path, sizes in bytes, a reason); the
command line's hint names a command, the page's a button or a place. The static checks read every
error the backend raises (its source), so a new one that words a hint for the wrong edge fails here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, fill_sample_data, fingerprint, run_cli
from jobmatcher import errors
from jobmatcher.engine import Engine
from jobmatcher.fsutil import SPACE_HINTS
from jobmatcher.pageerror import PAGE_HINTS, page_hint, to_page_error, without_commands

BACKEND = ROOT / "backend" / "jobmatcher"
COMMAND = re.compile(r"`jobmatcher|(?<![\w-])--[a-z][a-z-]+")
PAGE_WORDS = re.compile(r"in Settings|Back up now|Sync now|button|[Cc]lick|Restore…|Export…|→|in the window")
PAGE_ONLY = {"api.py", "api_locations.py", "server.py", "tasks.py", "bridge.py", "chosen.py"}  # the page's own calls
CLI_ONLY = {"cli.py", "app.py", "launcher.py"}  # the terminal's own refusals (app.py: before any page exists)


def _text(node) -> str | None:
    """A string literal (f-strings with {} for their values, concatenations joined), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def raised() -> list[dict]:
    """Every construction of an error from errors.py (and of a health warning) in the backend's source."""
    names = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.JobMatcherError)}
    names |= {"InputError", "HealthWarning"}  # locations/remote.py's alias of ValidationError; health.py
    out = []
    for f in sorted(BACKEND.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in names:
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            pos = [a for a in node.args if not isinstance(a, ast.Starred)]
            starred = any(isinstance(a, ast.Starred) for a in node.args)
            if name == "HealthWarning":
                hint, page = kw.get("hint"), kw.get("page_hint")
            else:
                hint = kw.get("hint", pos[1] if len(pos) > 1 else None)
                page = kw.get("page_hint", pos[2] if len(pos) > 2 else None)
            cls = "ValidationError" if name == "InputError" else name
            if "code" in kw:
                code = _text(kw["code"]) or "<computed>"  # e.g. one of two named codes
            else:
                code = getattr(getattr(errors, cls, None), "code", None)
            out.append(
                {
                    "where": f"{f.relative_to(BACKEND)}:{node.lineno}",
                    "file": f.name,
                    "class": cls,
                    "code": code,
                    "hint": _text(hint) if hint is not None else ("<computed>" if starred else ""),
                    "page_hint": None if page is None or starred else (_text(page) or "<computed>"),
                    "has_page_hint": page is not None or starred,
                }
            )
    return out


def test_the_scan_sees_the_errors_it_checks():
    found = raised()
    assert len(found) > 150  # every raise site, not a sample
    assert any(e["class"] == "InsufficientSpaceError" and e["file"] == "fsutil.py" for e in found)


def test_every_refusal_has_a_code_of_its_own():
    """No generic "error" where the condition has a name: the page branches on codes, never on words."""
    generic = [e["where"] for e in raised() if e["code"] in (None, "error")]
    assert generic == [], f"refusals with the generic code: {generic}"
    for name, cls in vars(errors).items():
        if isinstance(cls, type) and issubclass(cls, errors.JobMatcherError) and cls is not errors.JobMatcherError:
            assert cls.code != "error", name


def test_command_line_hints_never_name_the_pages_buttons():
    wrong = [
        (e["where"], e["hint"])
        for e in raised()
        if e["file"] not in PAGE_ONLY and e["hint"] and PAGE_WORDS.search(e["hint"])
    ]
    assert wrong == [], f"the command line would be told to press a button: {wrong}"
    for place, (cli, page) in SPACE_HINTS.items():
        assert not PAGE_WORDS.search(cli) and not COMMAND.search(page), place


def test_page_hints_never_name_a_command():
    wrong = []
    for e in raised():
        if e["file"] in CLI_ONLY:
            continue
        if e["page_hint"] is not None and e["page_hint"] != "<computed>":
            if COMMAND.search(e["page_hint"]):
                wrong.append((e["where"], "page_hint", e["page_hint"]))
        elif not e["has_page_hint"] and e["hint"] and COMMAND.search(e["hint"]):
            # no page hint of its own: the page shows the hint without its command sentences: something must remain
            if not without_commands(e["hint"], e["code"] or ""):
                wrong.append((e["where"], "nothing left for the page", e["hint"]))
    assert wrong == [], wrong


def test_fields_travel_with_the_code():
    e = errors.InsufficientSpaceError("m", "h", "p", path="/x", needed_bytes=10, free_bytes=3, place="export")
    assert e.to_dict() == {
        "error": "no-space",
        "message": "m",
        "hint": "h",
        "path": "/x",
        "needed_bytes": 10,
        "free_bytes": 3,
        "place": "export",
    }
    d = to_page_error(e)
    assert d["code"] == "no-space" and d["hint"] == "p" and d["needed_bytes"] == 10
    assert errors.InvalidBackupError("m", reason="truncated").reason == "truncated"  # fields read as attributes
    assert errors.JobMatcherError("m", "h", code="sync-running").to_dict()["error"] == "sync-running"
    # a hint naming an option is the terminal's: the page gets what is left, or its code's own hint
    assert page_hint(errors.ValidationError("m", "Give it with --passphrase-file FILE.")) == ""
    assert page_hint(errors.JobMatcherError("m", "Run `jobmatcher db migrate`. Then wait.")) == "Then wait."
    assert page_hint(errors.DatabaseDamagedError("m", "Run `jobmatcher backup list`.")) == PAGE_HINTS["damaged"]


# -- F22: a restore refused for space in the DATA folder --------------------------------------------------


def test_restore_refused_for_space_in_the_data_folder_says_where_to_make_room(tmpfs, tmp_path):
    small = tmpfs(3000)
    data = small / "data"
    e = Engine(data)
    e.migrate()
    fill_sample_data(e, jobs=300)
    elsewhere = tmp_path / "backups-elsewhere"
    elsewhere.mkdir()
    e.update_settings({"backup_dir": str(elsewhere)})
    b = e.create_backup()
    e.release_instance_lock()
    # leave less than twice the backup free beside the live database
    free = shutil.disk_usage(small).free
    (small / "filler").write_bytes(b"\0" * max(0, free - int(1.5 * b.size_bytes)))
    before = fingerprint(e.data.db_path)
    r = run_cli("backup", "restore", b.id, "--yes", data_dir=data)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"Not enough free space in {data}" in r.stderr and "twice the backup's size" in r.stderr, r.stderr
    assert "backup folder" not in r.stderr and "Settings" not in r.stderr, r.stderr
    assert "holds your JobMatcher data" in r.stderr
    body = json.loads(run_cli("backup", "restore", b.id, "--yes", "--json", data_dir=data).stdout)
    assert body["error"] == "no-space" and body["place"] == "data-folder" and body["path"] == str(data)
    assert body["free_bytes"] < body["needed_bytes"] == 2 * b.size_bytes
    assert fingerprint(e.data.db_path) == before


def test_a_full_backup_folder_names_the_command_and_the_page_names_the_setting(tmpfs, engine):
    folder = tmpfs(64)  # far less than twice the database
    engine.update_settings({"backup_dir": str(folder)})
    with pytest.raises(errors.InsufficientSpaceError) as err:
        engine.create_backup()
    e = err.value
    assert e.place == "backup-folder" and e.path == str(folder) and e.needed_bytes > e.free_bytes
    assert "`jobmatcher settings --backup-dir FOLDER`" in e.hint and "Settings" not in e.hint
    assert "Backup settings → Backup folder" in page_hint(e) and "jobmatcher" not in page_hint(e)


# -- F3: status and backup create on a data folder without data --------------------------------------------


def test_status_of_a_folder_without_data_is_not_healthy(tmp_path):
    typo = tmp_path / "nonexistent"
    r = run_cli("status", data_dir=typo)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"There is no JobMatcher data in {typo}: that folder does not exist." in r.stderr
    assert "available" not in r.stdout  # not reported as a backup folder in good order
    assert json.loads(run_cli("status", "--json", data_dir=typo).stdout)["error"] == "no-data-folder"
    r = run_cli("backup", "create", data_dir=typo)
    assert r.returncode == 1 and "no JobMatcher data" in r.stderr
    assert not typo.exists()  # a refused backup leaves no folder behind
    typo.mkdir()
    r = run_cli("status", data_dir=typo)
    assert r.returncode == 1 and "There is no JobMatcher database in" in r.stderr


def test_status_after_the_database_was_deleted_is_not_healthy(engine):
    engine.release_instance_lock()
    engine.data.db_path.unlink()
    r = run_cli("status", data_dir=engine.data.root)
    assert r.returncode == 1 and "There is no JobMatcher database" in r.stderr, r.stdout + r.stderr


def test_status_hints_name_commands_on_the_command_line(engine):
    engine.release_instance_lock()
    r = run_cli("status", data_dir=engine.data.root)
    assert "Traceback" not in r.stderr
    made = f"`jobmatcher --data-dir {engine.data.root} backup create`"  # D6: on this data folder
    assert "You have no backups yet." in r.stderr and made in r.stderr
    assert "Back up now" not in r.stderr + r.stdout


# -- F17: S3 addresses checked before anything is sent -------------------------------------------------


S3_ENV = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}


@pytest.mark.parametrize(
    "url, says",
    [
        ("s3://jmb/../../etc", "'../../etc' is not a valid prefix"),
        ("s3://jmb/a//b", "'a//b' is not a valid prefix"),
        ("s3:///x", "'' is not a valid bucket name"),
        ("s3://a/x", "'a' is not a valid bucket name"),
    ],
)
def test_a_bad_s3_address_is_named_not_blamed_on_the_service(data_dir, url, says):
    # port 9 (discard): nothing answers there, so any request would fail with another message
    r = run_cli(
        "backup", "list", "--from-s3", url, "--endpoint-url", "http://127.0.0.1:9", data_dir=data_dir, env=S3_ENV
    )
    out = r.stdout + r.stderr
    # a usage error (exit 2) like `s3://` alone and a bad --endpoint-url (T16: it was 1 for these, 2 for those)
    assert r.returncode == 2 and says in r.stderr, out
    for leak in ("retried later", "Parameter validation", "regex", "Invalid Request", "Traceback"):
        assert leak not in out, out


def test_location_add_s3_refuses_a_bad_prefix_up_front(engine):
    engine.release_instance_lock()
    r = run_cli(
        "location", "add", "s3", "--bucket", "jmb", "--prefix", "p/../x", "--endpoint-url", "http://127.0.0.1:9",
        "--no-encrypt", data_dir=engine.data.root, env=S3_ENV,
    )  # fmt: skip
    assert r.returncode == 1 and "'p/../x' is not a valid prefix" in r.stderr, r.stdout + r.stderr
    assert "retried later" not in r.stderr
    assert "jmb" not in run_cli("location", "list", data_dir=engine.data.root).stdout  # nothing was added


def test_s3_refusals_of_a_one_shot_look_are_not_retried_later():
    from botocore.exceptions import ClientError, ParamValidationError
    from jobmatcher.locations.s3 import S3Location

    loc = S3Location("jmb", "p", "http://127.0.0.1:9", "AK", "SK")
    refused = ClientError({"Error": {"Code": "InvalidRequest", "Message": "Invalid Request"}}, "HeadBucket")
    look = loc._error(refused, "checking the bucket")
    assert look.code == "location-refused" and "retried" not in look.hint and look.service_code == "InvalidRequest"
    assert "retried later" in loc._error(refused, "uploading the copy").hint  # a copy is retried
    bad = loc._error(ParamValidationError(report='Invalid bucket name "": must match the regex "^x$"'), "reading")
    assert "regex" not in str(bad) and bad.code == "invalid-address"


# -- F18: the page gets the page's words ------------------------------------------------------------------


@pytest.fixture
def api(engine):
    from jobmatcher.api import Api

    a = Api(engine, mode="browser")
    a._begin_launch()
    a._wait_launched(30)
    yield a
    a._close()


def _refused(api, name, *args) -> dict:
    r = api._dispatch(name, list(args))
    assert not r["ok"], r
    return r["error"]


def test_the_page_never_gets_a_command_or_an_option(api, tmp_path):
    folder = tmp_path / "usb"
    folder.mkdir()
    e = _refused(api, "add_folder_location", str(folder))  # encrypted, and no passphrase typed
    assert e["code"] == "passphrase-needed" and "--" not in e["hint"] and "passphrase" in e["hint"].lower(), e
    for bad in ("/etc/passwd", "../x", "backup_2099-01-01_00-00-00"):
        e = _refused(api, "preview_backup", bad)
        assert e["hint"] and not COMMAND.search(e["hint"]), e
    e = _refused(api, "delete_backup", "backup_2099-01-01_00-00-00")
    assert e["code"] == "not-found" and e["hint"] == "Reload the page to see the backups as they are now.", e


def test_looking_into_a_folder_without_copies_says_there_are_none(api, tmp_path):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    r = api._dispatch("remote_backups", [{"kind": "folder", "path": str(empty)}])
    assert r["ok"] and r["value"]["backups"] == [], r  # the page says "no JobMatcher copies at …"
    assert "remove the location" not in json.dumps(r)
    r = run_cli("backup", "list", "--from-folder", str(empty), data_dir=api._engine.data.root)
    assert r.returncode == 0 and f"No copies at {empty}." in r.stdout and "remove the location" not in r.stderr


def test_the_status_line_of_the_page_has_the_pages_words(api):
    for r in api._engine.list_backups():  # the launch's automatic backup
        api._engine.delete_backup(r.id)
    health = api._dispatch("backup_overview", [])["value"]["health"]
    hints = {w["code"]: w["hint"] for w in health["warnings"]}
    assert hints.get("no-backups") == "Make one now with “Back up now”.", health
    assert not any(COMMAND.search(h) for h in hints.values()) and all("page_hint" not in w for w in health["warnings"])


# -- F9: files added by hand -------------------------------------------------------------------------------


def test_files_added_by_hand_are_known_by_their_name(engine):
    from jobmatcher.presentation import backup_row

    b = engine.create_backup()
    shutil.copy(b.path, Path(b.path).parent / "Résumé before move.db")
    rows = {r.id: backup_row(r) for r in engine.list_backups()}
    hand = rows["Résumé before move"]
    assert hand["file_name"] == "Résumé before move.db" and hand["type_label"] == "Added by hand"
    assert rows[b.id]["type_label"] == "Manual"
    engine.release_instance_lock()
    out = run_cli("backup", "list", data_dir=engine.data.root).stdout
    line = next(x for x in out.splitlines() if x.startswith("Résumé before move"))
    assert "Added by hand" in line and "Manual" not in line, out
    # status counts this data folder's backups, and says what else the list shows
    r = run_cli("status", data_dir=engine.data.root)
    assert "· 1 backup, " in r.stdout and "Also listed:  1 file added by hand or from another data folder" in r.stdout


def test_the_uploads_hint_is_not_about_the_backup_folder(tmp_path):
    from jobmatcher.chosen import ChosenFiles

    root = tmp_path / "d"
    root.mkdir()
    files = ChosenFiles(root / ".uploads")

    class Endless:
        def read(self, n):
            return b"x" * n

    with pytest.raises(errors.InsufficientSpaceError) as err:
        files.receive_upload("big.db", Endless(), 1 << 62)  # more than any disk: refused before writing
    e = err.value
    assert e.place == "uploads" and "backup folder" not in e.hint and "twice" not in e.message
    assert not any((root / ".uploads").iterdir()) if (root / ".uploads").exists() else True
    assert os.path.isdir(root)


def test_a_refusal_wrapping_another_keeps_the_causes_words_for_each_edge(tmpfs, data_dir):
    """A schema update blocked by a full backup folder: the command line's hint names the command, the page's
    the setting, and the cause's code travels with it."""
    first = Engine.known_revisions()[0]
    e = Engine(data_dir)
    e.migrate(target=first)
    folder = tmpfs(16)  # less than twice even the first revision's empty database
    e.update_settings({"backup_dir": str(folder)})
    with pytest.raises(errors.MigrationBlockedError) as err:
        e.migrate()
    blocked = err.value
    assert blocked.cause == "no-space" and "`jobmatcher settings --backup-dir FOLDER`" in blocked.hint
    assert "Backup settings → Backup folder" in page_hint(blocked) and "jobmatcher" not in page_hint(blocked)
