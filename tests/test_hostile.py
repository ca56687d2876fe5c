"""Hostile and broken files, and ids that are not in the list: refused with their reason by the engine, the
command line and the window's API alike, never a traceback, the live database byte-identical afterwards.

test_refusals.py covers the first corpus through the engine and a few through the command line; this file
adds the cases of issue 5 that were missing (corpus.MORE_BROKEN), feeds every case to the window's
"Restore from file…" (Api.choose_restore_file / check_restore_file), and throws hostile ids at every
command and call that takes one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import fingerprint, run_cli
from corpus import MORE_BROKEN, broken_files, valid_variants
from jobmatcher import cli
from jobmatcher.api import Api
from jobmatcher.errors import BackupNotFoundError, InvalidBackupError, ValidationError


@pytest.fixture
def corpus(engine, tmp_path):
    good = Path(engine.create_backup().path)
    return broken_files(good, tmp_path / "corpus"), valid_variants(good, tmp_path / "valid")


def _files(root: Path) -> dict[str, str]:
    """Every file in the data folder (backups included) and its bytes' hash."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.mark.parametrize("case", MORE_BROKEN)
def test_more_hostile_files_are_refused_with_their_reason(engine, corpus, case):
    bad, _ = corpus
    path, reason = bad[case]
    before = _files(engine.data.root)
    for call in (engine.verify, engine.restore):
        with pytest.raises(InvalidBackupError) as e:
            call(str(path))
        assert e.value.reason == reason, (case, e.value.reason, e.value.message)
        assert e.value.message and e.value.hint
    assert _files(engine.data.root) == before  # not even a safety backup


@pytest.mark.parametrize("case", ["page-size-65536", "symlink-to-a-backup", "wal-mode-closed-cleanly"])
def test_more_valid_variants_are_accepted_and_restored(engine, corpus, case):
    _, ok = corpus
    expected = fingerprint(ok[case])[1]
    engine.verify(str(ok[case]))
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = 'Changed'")
    conn.close()
    engine.restore(str(ok[case]))
    assert fingerprint(engine.data.db_path)[1] == expected
    assert engine.check().ok


def test_the_command_line_refuses_the_new_cases_without_a_traceback(engine, corpus, capsys):
    """Every new case through the command line's own code in process, one through a real process."""
    bad, _ = corpus
    before = _files(engine.data.root)
    wrong = []
    for case in MORE_BROKEN:
        path, reason = bad[case]
        if "\x00" in str(path):
            continue  # cannot be in argv
        for cmd in (["backup", "verify"], ["backup", "restore", "--yes"]):
            code = cli.main(["--data-dir", str(engine.data.root), *cmd, "--json", "--", str(path)])
            out = capsys.readouterr()
            got = json.loads(out.out).get("reason") if out.out.strip() else None
            if code != 1 or not out.err.startswith("Error: ") or "unexpected" in out.err or got != reason:
                wrong.append((case, cmd[1], code, got, out.err[:200]))
    assert wrong == [], wrong
    r = run_cli("backup", "restore", str(bad["symlink-loop"][0]), "--yes", "--json", data_dir=engine.data.root)
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr + r.stdout
    assert json.loads(r.stdout)["reason"] == "unreadable"
    assert _files(engine.data.root) == before


# -- the window's "Restore from file…" ------------------------------------------------------------


class _Dialogs:
    def __init__(self) -> None:
        self.next: str | None = None

    def open_file(self, directory=""):
        return self.next

    def save_file(self, suggested_name, directory=""):
        return None

    def choose_folder(self):
        return None


@pytest.fixture
def window_api(engine):
    dialogs = _Dialogs()
    api = Api(engine, mode="window", dialogs=dialogs)
    api._begin_launch()
    assert api._wait_launched(30)["state"] == "done"
    yield api, dialogs
    api._close()


def _call(api: Api, name: str, *args) -> dict:
    r = api._dispatch(name, list(args))
    json.dumps(r)
    assert "Traceback" not in json.dumps(r)
    return r


def test_every_hostile_file_is_refused_by_the_windows_restore_from_file(window_api, engine, corpus):
    api, dialogs = window_api
    bad, ok = corpus
    before = _files(engine.data.root)
    wrong = []
    for case, (path, reason) in sorted(bad.items()):
        dialogs.next = str(path)
        chosen = _call(api, "choose_restore_file")
        assert chosen["ok"], (case, chosen)
        r = _call(api, "check_restore_file", chosen["value"]["token"])
        err = r.get("error") or {}
        if r["ok"] or err.get("code") != "invalid-backup" or err.get("reason") != reason:
            wrong.append((case, reason, r))
        # the token was spent on the refusal: the file can no longer be restored through it
        assert not _call(api, "start_restore_file", chosen["value"]["token"])["ok"]
    assert wrong == [], wrong
    assert _files(engine.data.root) == before
    for case, path in sorted(ok.items()):
        dialogs.next = str(path)
        token = _call(api, "choose_restore_file")["value"]["token"]
        r = _call(api, "check_restore_file", token)
        assert r["ok"], (case, r)
    # and one of them really restores
    dialogs.next = str(ok["page-size-65536"])
    token = _call(api, "choose_restore_file")["value"]["token"]
    assert _call(api, "check_restore_file", token)["ok"]
    task = _call(api, "start_restore_file", token)["value"]
    assert api._tasks.wait(task["id"], 60)["state"] == "done"
    assert fingerprint(engine.data.db_path)[1] == fingerprint(ok["page-size-65536"])[1]


# -- ids that are not in the list ------------------------------------------------------------------

HOSTILE_IDS = [
    "..",
    "../..",
    "../data",
    "/etc/passwd",
    "/",
    "backup_*",
    "*",
    "*.db",
    "backup_?",
    "[a-z]*",
    "x" * 300,
    "y" * 5000,
    "a/" + "z" * 5000,
    "~",
    "~root",
    "~0/",
    "~nobody-here/x.db",
    "~\x00/",
    "$HOME",
    "%APPDATA%",
    "C:\\Windows",
    "\\\\server\\share",
    "backup_2026-01-01_00-00-00.db",
    ".tmp-1-2",
    ".hidden",
    "a/b",
    "a\\b",
    "-rf",
    "--yes",
    " ",
    "\t",
    "\n",
    # unicode tricks: look-alikes of '/', '.', '-', a right-to-left override, a combining mark
    "\uff0fetc\uff0fpasswd",
    "\u2215etc\u2215passwd",
    "\u2024\u2024",
    "backup\u20102026",
    "\u202ebd.pukcab",
    "backup_\u0301",
    "\u0430\u0431",
    "\ufeffbackup",
]
NUL_IDS = ["a\x00b", "backup\x00", "/etc/passwd\x00.db", "a/\x00b", "\x00"]


def _ids_with_the_real_one(engine) -> tuple[str, list[str]]:
    real = engine.create_backup().id
    tricks = [
        real + "\x00",
        real + " ",
        " " + real,
        real.upper(),
        real + ".db",
        real + "/",
        "./" + real,
        real.replace("-", "\u2010"),
        real.replace("_", "\uff3f"),
        real + "\u200b",
        "backups/" + real,
    ]
    return real, tricks


def test_hostile_ids_are_refused_by_the_engine(engine):
    real, tricks = _ids_with_the_real_one(engine)
    before = _files(engine.data.root)
    unexpected = []
    for bad in HOSTILE_IDS + NUL_IDS + tricks:
        for name, call in (
            ("verify", engine.verify),
            ("restore", engine.restore),
            ("delete", engine.delete_backup),
            ("pin", lambda i: engine.set_pinned(i, True)),
            ("get", engine.store.get),
        ):
            try:
                call(bad)
                unexpected.append((name, bad, "accepted"))
            except (ValidationError, BackupNotFoundError, InvalidBackupError):
                pass
            except Exception as e:  # noqa: BLE001
                unexpected.append((name, bad, f"{type(e).__name__}: {e}"))
    assert unexpected == [], unexpected
    assert _files(engine.data.root) == before
    assert [r.id for r in engine.list_backups()] == [real]


def test_hostile_ids_are_refused_by_the_command_line(engine, capsys):
    """The command line's own code, in process (a subprocess per id would take minutes); NUL cannot be in argv."""
    real, tricks = _ids_with_the_real_one(engine)
    before = _files(engine.data.root)
    d = str(engine.data.root)
    wrong = []
    for bad in HOSTILE_IDS + [t for t in tricks if "\x00" not in t]:
        for cmd in (
            ["backup", "verify", bad],
            ["backup", "restore", bad, "--yes"],
            ["backup", "delete", bad, "--yes"],
            ["backup", "pin", bad],
            ["backup", "unpin", bad],
        ):
            opts = [c for c in cmd[3:]]
            try:
                code = cli.main(["--data-dir", d, *cmd[:2], *opts, "--", bad])
            except SystemExit as e:  # argparse's usage error
                code = e.code
            out = capsys.readouterr()
            if not bad.strip():
                # a blank id (a script's unset variable) is a usage error, exit 2 (FINDINGS9 V9)
                if code != 2 or "is empty" not in out.err or "Traceback" in out.err:
                    wrong.append((cmd, code, out.err[:200]))
            elif code != 1 or not out.err.startswith("Error: ") or "unexpected" in out.err or "Traceback" in out.err:
                wrong.append((cmd, code, out.err[:200]))
    assert wrong == [], wrong
    assert _files(engine.data.root) == before
    # and through a real process, the longest one
    r = run_cli("backup", "restore", "y" * 5000, "--yes", data_dir=engine.data.root)
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "unexpected" not in r.stderr, r.stderr


def test_hostile_ids_are_refused_by_the_windows_api(window_api, engine):
    api, _ = window_api
    real, tricks = _ids_with_the_real_one(engine)
    before, listed = _files(engine.data.root), _call(api, "list_backups")["value"]
    wrong = []
    for bad in HOSTILE_IDS + NUL_IDS + tricks + [None, 42, ["a"], {"id": real}]:
        for name, args in (
            ("start_verify", [bad]),
            ("start_restore", [bad]),
            ("set_pinned", [bad, True]),
            ("delete_backup", [bad]),
            ("export_backup", [bad]),
        ):
            r = _call(api, name, *args)
            if r["ok"] or r["error"]["code"] not in ("invalid-input", "not-found"):
                wrong.append((name, bad, r))
    assert wrong == [], wrong
    assert _files(engine.data.root) == before
    assert _call(api, "list_backups")["value"] == listed and real in [r["id"] for r in listed]


def test_a_symlink_in_the_backup_folder_is_neither_listed_nor_usable(engine, tmp_path):
    real = engine.create_backup()
    outside = tmp_path / "outside.db"
    outside.write_bytes(Path(real.path).read_bytes())
    (engine.store.folder / "backup_2030-01-01_00-00-00.db").symlink_to(outside)
    (engine.store.folder / "backup_2031-01-01_00-00-00.db").symlink_to("/etc/passwd")
    assert [r.id for r in engine.list_backups()] == [real.id]
    for i in ("backup_2030-01-01_00-00-00", "backup_2031-01-01_00-00-00"):
        with pytest.raises(BackupNotFoundError):
            engine.store.get(i)
