"""The command line as a newcomer meets it: documented commands, usage errors, questions on a real terminal."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import ROOT, exec_on_pty, fingerprint, run_cli
from jobmatcher import __version__
from jobmatcher.cli import build_parser

# -- every command is documented ---------------------------------------------------------------


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, option strings) for every command the parser knows, sub-commands included."""
    options = [
        s
        for a in parser._actions
        for s in a.option_strings
        if s.startswith("--")
        and s not in ("--help", "--data-dir", "--json", "--verbose")
        and a.help != argparse.SUPPRESS
    ]  # hidden options are internal
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield path, options
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, path + (name,))


def _command_line_section() -> str:
    """The README's Command line section, an entry's indented continuation lines joined to it."""
    text = (ROOT / "README.md").read_text()
    start = text.index("## Command line")
    section = text[start : text.index("\n## ", start + 1)]
    return re.sub(r"\n[ \t]+(?=\S)", " ", section)


def test_every_command_and_option_is_in_the_readme():
    """Like sqlite-utils' documentation test: a new command or option fails here until the README has it."""
    section = _command_line_section()
    missing = []
    for words, options in _commands(build_parser()):
        lines = [
            line
            for line in section.splitlines()
            if re.search(r"\bjobmatcher " + r"\s+".join(map(re.escape, words)) + r"(\s|$)", line)
            or (not words and re.search(r"^jobmatcher(\s|$)", line))
        ]
        # "backup pin ID / unpin ID" documents both on one line
        if not lines and words:
            lines = [
                line
                for line in section.splitlines()
                if line.startswith(f"jobmatcher {' '.join(words[:-1])}") and f" {words[-1]} " in line
            ]
        if not lines:
            missing.append("jobmatcher " + " ".join(words))
            continue
        for option in options:
            if not any(option in line for line in lines):
                missing.append(f"jobmatcher {' '.join(words)} {option}".replace("  ", " "))
    assert not missing, f"not in the README's Command line section: {missing}"


def test_the_readme_check_notices_an_undocumented_command(monkeypatch):
    """The test above can fail: a command added to the parser and not the README is reported."""
    real = build_parser

    def with_extra():
        p = real()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        sub.add_parser("frobnicate")
        return p

    monkeypatch.setattr(sys.modules[__name__], "build_parser", with_extra)
    with pytest.raises(AssertionError, match="jobmatcher frobnicate"):
        test_every_command_and_option_is_in_the_readme()


def test_dev_sh_documents_and_runs_the_command_line():
    text = (ROOT / "dev.sh").read_text()
    assert "./dev.sh cli" in text and "cli) cmd_cli" in text
    assert "/work/" not in text, "dev.sh must not point outside the repository"


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"jobmatcher {__version__}"


# -- start-up: a command imports what it needs, nothing more (its time is counted whole) ---------------

# Never needed to list backups: the backup locations' libraries, Alembic, the window, progress bars, and
# the modules of restoring, previewing and the health rule.
_NOT_FOR_LOOKING = (
    "boto3",
    "botocore",
    "pyrage",
    "keyring",
    "alembic",
    "sqlalchemy",
    "webview",
    "PyQt6",
    "qtpy",
    "bottle",
    "tqdm",
    "jobmatcher.locations",
    "jobmatcher.restore",
    "jobmatcher.preview",
    "jobmatcher.health",
    "jobmatcher.api",
    "jobmatcher.app",
    "jobmatcher.server",
    "jobmatcher.scheduler",
)


# Not needed to list backups of a folder given by --data-dir either (issue 13: every import counts): the log file's
# handler (opened at the first record; listing logs nothing), the platform's folder names (only for the default
# data and log folders), making and checking a backup (the snapshot, the check and its child process), retention.
_NOT_FOR_LISTING = (
    "logging.handlers",
    "platformdirs",
    "subprocess",
    "concurrent.futures",
    "jobmatcher.checkproc",
    "jobmatcher.snapshot",
    "jobmatcher.verify",
    "jobmatcher.digests",
    "jobmatcher.retention",
)

# The pydantic models a list may build: none. It validates the settings and manifests with pydantic-core schemas
# (core_schemas.py) and never imports pydantic (issue 13). Any model of another command is defined with
# defer_build, so a command pays only for those it uses.
_LIST_MODELS: set[str] = set()

# The modules behind the models: `backup list` imports none of them.
_MODELS_FOR_LISTING = (
    "pydantic",
    "jobmatcher.manifest",
    "jobmatcher.settings",
    "jobmatcher.backups",
    "jobmatcher.engine",
)


def _run_and_list_modules(*args: str, env: dict | None = None) -> tuple[int, str, set[str], set[str]]:
    """(exit code, stdout, the modules loaded, the package's pydantic models built) of the command line's
    main(args), run in a fresh interpreter (with `env`: in that environment)."""
    code = (
        "import contextlib, io, json, sys\n"
        "from jobmatcher.cli import main\n"
        "out = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        rc = main(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "built = []\n"
        "if 'pydantic' in sys.modules:\n"
        "    todo = list(sys.modules['pydantic'].BaseModel.__subclasses__())\n"
        "    while todo:\n"
        "        m = todo.pop()\n"
        "        todo.extend(m.__subclasses__())\n"
        "        if m.__module__.startswith('jobmatcher') and m.__pydantic_complete__:\n"
        "            built.append(f'{m.__module__}.{m.__qualname__}')\n"
        "print(json.dumps([rc, out.getvalue(), sorted(sys.modules), built]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    rc, out, modules, built = json.loads(r.stdout.splitlines()[-1])
    return rc, out, set(modules), set(built)


def _heavy(modules: set[str], heavy: tuple[str, ...] = _NOT_FOR_LOOKING) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in heavy)}


def test_backup_list_imports_only_what_listing_needs(engine):
    """`backup list` (table and --json) loads no location library, no Alembic, no window, no restore code, no
    log file handler, and neither imports pydantic nor builds a model (it validates with pydantic-core schemas,
    core_schemas.py): with 1,000 backups it has 150 ms for everything, interpreter start included. An import
    moved back to the top of a module fails here, rather than silently costing the list its milliseconds."""
    made = engine.create_backup(note="listed")
    shutil.copyfile(made.path, engine.store.folder / "by hand.db")  # a row without a manifest too
    for extra in ((), ("--json",)):
        rc, out, modules, built = _run_and_list_modules("--data-dir", str(engine.data.root), "backup", "list", *extra)
        assert rc == 0 and made.id in out and "by hand" in out
        assert {"jobmatcher.listing", "jobmatcher.core_schemas", "pydantic_core"} <= modules  # it really listed
        heavy = _heavy(modules, _NOT_FOR_LOOKING + _NOT_FOR_LISTING + _MODELS_FOR_LISTING)
        assert heavy == set(), f"backup list {' '.join(extra)} imported {sorted(heavy)}"
        assert built == set(), f"backup list {' '.join(extra)} built {sorted(built)}"


def test_the_list_test_sees_an_import_and_a_model_built_at_a_modules_top(engine, tmp_path):
    """The test above can fail: the same run with a module that imports logging.handlers, pydantic and the engine,
    and builds a model when it is imported (as an import moved to a module's top would) is caught."""
    engine.create_backup()
    (tmp_path / "sitecustomize.py").write_text(
        "import logging.handlers\nimport jobmatcher.engine\njobmatcher.engine.DbStatus.model_rebuild()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    rc, out, modules, built = _run_and_list_modules("--data-dir", str(engine.data.root), "backup", "list", env=env)
    assert rc == 0 and "Manual" in out, out
    assert _heavy(modules, _NOT_FOR_LISTING) == {"logging.handlers"}
    assert {"pydantic", "jobmatcher.engine"} <= _heavy(modules, _MODELS_FOR_LISTING)
    assert "jobmatcher.engine.DbStatus" in built and built != _LIST_MODELS


def test_db_status_imports_no_engine(engine):
    """`db status` reads one revision from the live database: it imports neither the engine nor pydantic (their
    start-up was nearly all of its time, T10), and says what Engine.status says, in the text and --json."""
    status = engine.status()
    for extra in ((), ("--json",)):
        rc, out, modules, built = _run_and_list_modules("--data-dir", str(engine.data.root), "db", "status", *extra)
        assert rc == 0 and status.head in out and status.database in out, out
        heavy = _heavy(modules, _NOT_FOR_LOOKING + _MODELS_FOR_LISTING + ("jobmatcher.checkproc", "subprocess"))
        assert heavy == set() and built == set(), f"db status {' '.join(extra)} imported {sorted(heavy)}"
    rc, out, _modules, _built = _run_and_list_modules("--data-dir", str(engine.data.root), "db", "status", "--json")
    shown = json.loads(out)
    assert shown == {k: v for k, v in status.model_dump().items() if k != "data_dir"}


# Never needed where no backup location is set up and no database is upgraded: the locations' libraries,
# Alembic, the window's.
_NOT_WITHOUT_LOCATIONS = (
    "boto3",
    "botocore",
    "pyrage",
    "keyring",
    "alembic",
    "sqlalchemy",
    "webview",
    "PyQt6",
    "bottle",
    "jobmatcher.locations.config",  # the locations' models: imported and built only where a locations file exists
)


def test_the_engines_commands_import_no_location_library_when_none_is_set_up(engine):
    """create, verify, a listed restore and status, with no backup location: no S3, encryption, keyring, Alembic
    or window library is imported, nor the locations' configuration and its models (each costs start-up the user
    waits for, T10); the command really ran."""
    made = engine.create_backup(note="kept")
    root = str(engine.data.root)
    for args in (
        ("backup", "create", "--json"),
        ("backup", "verify", made.id),
        ("backup", "restore", made.id, "--yes"),
        ("status",),
    ):
        rc, out, modules, _built = _run_and_list_modules("--data-dir", root, *args)
        assert rc == 0 and out, args
        assert "jobmatcher.engine" in modules  # it ran the engine's path
        heavy = _heavy(modules, _NOT_WITHOUT_LOCATIONS)
        assert heavy == set(), f"{' '.join(args)} imported {sorted(heavy)}"


def _exit_marks(tmp_path: Path, keep_a_file_open: bool = False) -> tuple[dict, Path]:
    """(an environment whose interpreter notes each normal exit's command in a file, that file): a command
    that ended without the interpreter's shutdown (entry._end_now) leaves no line. With `keep_a_file_open`, the
    interpreter also holds a file open from its start (as an unclosed connection or lock would)."""
    site, mark = tmp_path / "site", tmp_path / "exits.txt"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(
        "import atexit, sys\n"
        + (f"held = open({str(tmp_path / 'held.txt')!r}, 'w')\n" if keep_a_file_open else "")
        + f"atexit.register(lambda: open({str(mark)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n'))\n"
    )
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}, mark


def test_commands_end_without_the_interpreters_shutdown_only_when_nothing_is_open(engine, tmp_path):
    """verify, a listed restore, status and db status end at once after their output (T10: freeing every object
    of the engine cost about 20 ms of CPU), with everything they did done: the backup checked, the restore's
    journal gone and its safety backup listed. Where a file is still open, the normal exit follows: create keeps
    a descriptor of the live database to its end (snapshot.py), so it is noted."""
    from jobmatcher.manifest import read_manifest

    env, mark = _exit_marks(tmp_path)
    root = engine.data.root
    made = run_cli("backup", "create", "--json", data_dir=root, env=env)
    assert made.returncode == 0, made.stderr
    made_id = json.loads(made.stdout)["id"]
    assert read_manifest(engine.store.folder / f"{made_id}.db").verified is True
    for args in (("backup", "verify", made_id), ("backup", "restore", made_id, "--yes"), ("status",), ("db", "status")):
        r = run_cli(*args, data_dir=root, env=env)
        assert r.returncode == 0 and r.stdout, (args, r.stderr)
    assert mark.read_text().splitlines() == [f"--data-dir {root} backup create --json"]  # the others: quick
    assert not (root / "restore-journal.json").exists()
    assert run_cli("backup", "list", data_dir=root).stdout.count("backup_") >= 2  # the safety backup listed too
    env, mark = _exit_marks(tmp_path / "held", keep_a_file_open=True)
    r = run_cli("db", "status", data_dir=root, env=env)
    assert r.returncode == 0 and "Revision" in r.stdout
    assert "db status" in mark.read_text()  # a file open: the normal exit ran


def test_an_unexpected_error_names_the_log_file_holding_its_traceback(engine, tmp_path, monkeypatch, capsys):
    """The log file is opened at its first record (logs.py): the message for an unexpected error still names
    it, and it holds the traceback."""
    import logging

    from jobmatcher import cli, logs

    monkeypatch.setenv("JOBMATCHER_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(logs, "_configured", False)
    monkeypatch.setattr(logs, "_handler", None)

    def broken(args):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(cli, "cmd_backup_list", broken)
    root = logging.getLogger("jobmatcher")
    before = list(root.handlers)
    try:
        assert cli.main(["--data-dir", str(engine.data.root), "backup", "list"]) == 1
    finally:
        for h in root.handlers[len(before) :]:
            root.removeHandler(h)
            h.close()
    err = capsys.readouterr().err
    log_file = tmp_path / "logs" / "jobmatcher.log"
    assert f"Details are in {log_file}." in err and "Traceback" not in err, err
    assert "ZeroDivisionError: planted" in log_file.read_text() and "Traceback" in log_file.read_text()
    assert oct(log_file.stat().st_mode & 0o777) == oct(0o600)


def test_backup_list_ends_at_once_with_all_its_output(engine):
    """`backup list` ends the process without the interpreter's shutdown (entry.py): every row still reaches
    the reader, through a pipe with Python's own buffering (no PYTHONUNBUFFERED), as JSON and as the table."""
    made = engine.create_backup(note="copied")
    folder = engine.store.folder
    manifest = Path(made.path).with_suffix(".json").read_bytes()
    for n in range(300):  # far more than one buffer of output
        shutil.copyfile(made.path, folder / f"copy {n:03}.db")
        (folder / f"copy {n:03}.json").write_bytes(manifest)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    base = [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "backup", "list"]
    r = subprocess.run([*base, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 301
    r = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\ncopy ") == 300 and made.id in r.stdout and r.stdout.endswith("\n")


def _plant_pydantic_plugin(tmp_path: Path) -> tuple[dict, Path]:
    """An installed pydantic plugin (a package whose entry point is in pydantic's group) that leaves a mark when
    pydantic loads it: (the environment that has it installed, the mark's path)."""
    site = tmp_path / "site"
    dist = site / "planted_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: planted-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\nplanted = planted_plugin:plugin\n")
    mark = tmp_path / "loaded"
    (site / "planted_plugin.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path(os.environ['PLANTED_MARK']).write_text('loaded')\n"
        "class _Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = _Plugin()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    env["PLANTED_MARK"] = str(mark)
    return env, mark


def test_the_program_looks_for_no_pydantic_plugin(engine, tmp_path):
    """Run as the program, JobMatcher turns pydantic's plugins off (PYDANTIC_DISABLE_PLUGINS: it uses none, and
    the look-up scans every installed package): a plugin installed beside it is never loaded. The same plugin
    is loaded by pydantic in an interpreter without that switch (this test can fail), and a switch the user set
    is left as it is."""
    engine.create_backup()
    env, mark = _plant_pydantic_plugin(tmp_path)
    listing = [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "backup", "list", "--json"]
    r = subprocess.run(listing, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 1, r.stderr
    assert not mark.exists()
    model = "import pydantic\nclass M(pydantic.BaseModel):\n    x: int = 0\nM()\n"
    r = subprocess.run([sys.executable, "-c", model], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and mark.read_text() == "loaded", r.stderr
    mark.unlink()
    for given, seen in ((None, "__all__"), ("other", "other")):
        run_env = env if given is None else {**env, "PYDANTIC_DISABLE_PLUGINS": given}
        code = (
            "import os, sys\nfrom jobmatcher import entry\nsys.argv = ['jobmatcher', '--version']\n"
            "try:\n    entry.main()\nfinally:\n    print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=run_env, timeout=120)
        assert r.stdout.splitlines()[-1] == seen, (r.stdout, r.stderr)


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("backup", "--help")])
def test_help_and_version_import_no_models(args):
    """Asking how to use the command imports neither pydantic nor any engine module."""
    rc, out, modules, _built = _run_and_list_modules(*args)
    assert rc == 0 and "jobmatcher" in out
    assert not {m for m in modules if m.split(".")[0] == "pydantic" or m.startswith("jobmatcher.")} - {
        "jobmatcher.cli",
        "jobmatcher.errors",
    }


# -- usage errors: exit 2, in the user's words ----------------------------------------------------


@pytest.mark.parametrize(
    "args, option",
    [
        (["settings", "--retention-days", "0"], "--retention-days"),
        (["settings", "--retention-days", "36501"], "--retention-days"),
        (["settings", "--retention-days", "ten"], "--retention-days"),
        (["settings", "--auto-backup-hours", "-1"], "--auto-backup-hours"),
        (["settings", "--auto-backup-hours", "nan"], "--auto-backup-hours"),
        (["settings", "--auto-backup-hours", "9000"], "--auto-backup-hours"),
        (["settings", "--auto-backup-minutes", "10081"], "--auto-backup-minutes"),
        (["settings", "--auto-backup-minutes", "1.5"], "--auto-backup-minutes"),
        (["settings", "--keep-daily-days", "-1"], "--keep-daily-days"),
        (["settings", "--budget-mb", "-5"], "--budget-mb"),
        (["settings", "--retention-policy", "forever"], "--retention-policy"),
        (["--browser", "--port", "70000"], "--port"),
        (["backup", "create", "--note", "x" * 501], "--note"),
        (["db", "migrate", "--to", "9999_nonsense"], "--to"),
        (["location", "add", "folder", "/tmp", "--no-encrypt", "--keep-days", "0"], "--keep-days"),
    ],
)
def test_a_value_out_of_range_is_a_usage_error_naming_the_option(engine, args, option):
    before = fingerprint(engine.data.db_path)
    settings_before = engine.data.settings_path.read_bytes() if engine.data.settings_path.exists() else None
    r = run_cli(*args, data_dir=engine.data.root)
    assert r.returncode == 2, r.stderr
    assert option in r.stderr and "Traceback" not in r.stderr
    assert not re.search(r"\de[+-]\d", r.stderr)  # limits as people write them, not 3.65e+04
    for internal in ("retention_days", "auto_backup_hours", "backup_dir", "pydantic", "validation error"):
        assert internal not in r.stderr
    assert fingerprint(engine.data.db_path) == before
    after = engine.data.settings_path.read_bytes() if engine.data.settings_path.exists() else None
    assert after == settings_before
    assert engine.list_backups() == []


def test_settings_in_range_are_saved(engine):
    r = run_cli("settings", "--retention-days", "1", "--auto-backup-hours", "0", "--json", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["retention_days"] == 1 and engine.settings.auto_backup_minutes == 0


def test_the_engine_names_settings_in_the_users_words(engine):
    from jobmatcher.errors import SettingsError

    with pytest.raises(SettingsError) as e:
        engine.update_settings({"retention_days": 0})
    assert "days to keep" in e.value.message and "retention_days" not in e.value.message


# -- questions on a real terminal --------------------------------------------------------------------


class Terminal:
    """The real command line on a pseudo-terminal: what it prints, what we type, how it exits."""

    def __init__(self, *args: str, data_dir: Path) -> None:
        self.pid, self.fd = exec_on_pty([sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.out = b""

    def read_until(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.text):
                return self.text
            if not self._read(0.2):
                break
        return self.text

    def _read(self, wait: float) -> bool:
        r, _, _ = select.select([self.fd], [], [], wait)
        if r:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            self.out += chunk
        return True

    @property
    def text(self) -> str:
        return self.out.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def wait(self, timeout: float = 60) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05):
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._read(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"still running after {timeout} s: {self.text}")


def test_restore_refuses_a_bad_file_before_asking(engine, tmp_path):
    bad = tmp_path / "not-a-backup.db"
    bad.write_bytes(b"this is not SQLite at all" * 100)
    before = fingerprint(engine.data.db_path)
    t = Terminal("backup", "restore", str(bad), data_dir=engine.data.root)
    code = t.wait()
    assert code == 1, t.text
    assert "[y/N]" not in t.text and "Replace your current data" not in t.text
    assert "Error:" in t.text and "Traceback" not in t.text
    assert fingerprint(engine.data.db_path) == before
    assert engine.list_backups() == []  # not even a safety backup


def test_restore_of_a_good_file_asks_and_no_leaves_everything(engine, tmp_path):
    made = engine.create_backup()
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(made.path).read_bytes())
    before = fingerprint(engine.data.db_path)
    t = Terminal("backup", "restore", str(copy), data_dir=engine.data.root)
    t.read_until(r"\[y/N\]")
    assert "Replace your current data" in t.text, t.text
    t.type("n")
    assert t.wait() == 1
    assert "Nothing was restored." in t.text
    assert fingerprint(engine.data.db_path) == before
    assert [b.id for b in engine.list_backups()] == [made.id]


def test_restore_of_a_good_file_asks_and_yes_restores(engine, tmp_path):
    made = engine.create_backup()
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = 'Changed'")
    conn.close()
    t = Terminal("backup", "restore", made.path, data_dir=engine.data.root)
    t.read_until(r"\[y/N\]")
    t.type("y")
    assert t.wait() == 0, t.text
    assert "Restored" in t.text
    copying = _drawn(t.text, "Copying")
    assert copying and not any("pages" in s for s in copying), copying  # the restore's copy counts bytes
    assert all(re.search(BYTES, s) for s in copying) and any(re.search(r"[kMG]?B/s", s) for s in copying), copying
    assert _drawn(t.text, "Checking…") and not re.search(r"(?<!\d)0/1(?!\d)", t.text)  # a spinner, not 0%
    conn = engine.connect()
    assert conn.execute("SELECT full_name FROM user_profile").fetchone()[0] == "Ada Lovelace"
    conn.close()


def test_delete_of_a_pinned_backup_says_it_is_pinned(engine):
    made = engine.create_backup()
    engine.set_pinned(made.id, True)
    t = Terminal("backup", "delete", made.id, data_dir=engine.data.root)
    t.read_until(r"\[y/N\]")
    assert "pinned" in t.text, t.text
    t.type("n")
    assert t.wait() == 1
    assert [b.id for b in engine.list_backups()] == [made.id]


def test_delete_of_an_unpinned_backup_does_not_say_pinned(engine):
    made = engine.create_backup()
    t = Terminal("backup", "delete", made.id, data_dir=engine.data.root)
    t.read_until(r"\[y/N\]")
    assert "pinned" not in t.text and f"Delete the backup {made.id}?" in t.text
    t.type("y")
    assert t.wait() == 0
    assert engine.list_backups() == []


# -- progress in honest units on a real terminal ---------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _drawn(text: str, label: str) -> list[str]:
    """Every state of the line(s) starting with `label` that the terminal was drawn, escapes removed."""
    return [s.strip() for s in re.split(r"[\r\n]", _ANSI.sub("", text)) if s.strip().startswith(label)]


BYTES = r"\d+(\.\d+)?[kMG]?B/\d+(\.\d+)?[kMG]?B"  # "1.2MB/3.4MB": a count of bytes, scaled


def test_backup_create_on_a_terminal_counts_pages_then_shows_the_check_as_a_spinner(engine):
    t = Terminal("backup", "create", data_dir=engine.data.root)
    assert t.wait() == 0, t.text
    copying = _drawn(t.text, "Copying")
    assert copying and all(re.search(r"\d+/\d+ pages", s) for s in copying), copying  # a snapshot copies pages
    assert not any(re.search(BYTES, s) for s in copying), copying
    verifying = _drawn(t.text, "Verifying")
    assert verifying and all(re.fullmatch(r"Verifying… [|/\\-] \d+ s", s) for s in verifying), verifying
    assert not re.search(r"(?<!\d)0/1(?!\d)", t.text) and "Backed up" in t.text  # no step drawn as a bar


def test_location_sync_on_a_terminal_counts_bytes_and_which_backup(engine, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    r = run_cli("location", "add", "folder", str(usb), "--name", "Drive", "--no-encrypt", data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    engine.create_backup()
    engine.create_backup(note="second")
    t = Terminal("location", "sync", data_dir=engine.data.root)
    assert t.wait() == 0, t.text
    copying = _drawn(t.text, "Copying")
    assert copying and all(re.search(BYTES, s) for s in copying), copying  # an upload counts bytes
    assert not any("pages" in s for s in copying), copying
    assert {m for s in copying for m in re.findall(r"Copying \((\d/\d)\)", s)} == {"1/2", "2/2"}, copying
    assert "Drive: copied 2" in t.text


def test_verify_on_a_terminal_shows_elapsed_time_not_a_stuck_bar(engine):
    made = engine.create_backup()
    t = Terminal("backup", "verify", made.id, data_dir=engine.data.root)
    assert t.wait() == 0, t.text
    assert "OK:" in t.text and "0/1" not in t.text


def test_backup_list_warns_as_the_page_does_when_the_newest_backup_is_old(engine):
    from conftest_app import age_backup
    from jobmatcher.api import backup_status

    made = engine.create_backup()
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 0 and r.stderr == ""  # a fresh backup: nothing to worry about
    age_backup(engine.data.root, made.id, days=10)
    r = run_cli("backup", "list", data_dir=engine.data.root)
    assert r.returncode == 0 and made.id in r.stdout
    made_one = f"Make one with `jobmatcher --data-dir {engine.data.root} backup create`."  # D6: this data folder
    assert f"Your newest backup is 10 days old. {made_one}" in r.stderr
    page = backup_status(engine.list_backups())["warning"]
    assert page.startswith("Your newest backup is 10 days old.")  # one rule, worded for each edge


def test_the_page_api_and_the_command_line_use_only_the_engine_facade():
    """api.py, api_locations.py and cli.py reach the data through Engine's methods only: never its store or
    data folder object, the verifier or the schema directly (one door, so every rule is applied once)."""
    backend = ROOT / "backend" / "jobmatcher"
    forbidden = re.compile(
        r"engine\.store\b|engine\.data\b|\)\.(data|store)\.|\bverify_file\b|\bschema\.(head|revisions)\b|"
        r"from \.(backups|datadir|verify|restore|database|schema) import|from \. import schema"
    )
    found = []
    for name in ("api.py", "api_locations.py", "cli.py"):
        for n, line in enumerate((backend / name).read_text().splitlines(), 1):
            if forbidden.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{name}:{n}: {line.strip()}")
    assert not found, "reaching past the engine:\n" + "\n".join(found)


def test_dev_sh_run_help_and_cli_reach_the_command_line():
    """`./dev.sh run --help` still shows jobmatcher's help, and `./dev.sh cli ARGS` runs the command line."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run(
        ["bash", str(ROOT / "dev.sh"), "run", "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0 and r.stdout.startswith("usage: jobmatcher"), r.stderr[-2000:]
    r = subprocess.run(
        ["bash", str(ROOT / "dev.sh"), "cli", "--version"], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0 and r.stdout.strip() == f"jobmatcher {__version__}", r.stderr[-2000:]


def test_a_reader_that_goes_away_is_not_a_disk_fault(engine):
    """`jobmatcher backup list | head -1`: the pipe closing early is no error worth a word (EPIPE is not the disk)."""
    engine.create_backup()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        r = subprocess.run(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "backup", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert r.returncode == 1
    assert r.stderr == "", r.stderr  # no "Check the disk", no traceback


# -- control characters never reach the terminal raw (F25) --------------------------------------------------


def test_a_note_with_a_line_break_or_escape_is_refused_by_cli_and_engine(tmp_path):
    from jobmatcher.engine import Engine
    from jobmatcher.errors import ValidationError

    data = tmp_path / "data"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    for note in ("line1\nFAKE  backup_2099  Manual", "red \x1b[31m", "title \x1b]0;T\x07", "cr\rx", "del\x7f"):
        r = run_cli("backup", "create", "--note", note, data_dir=data)
        # a usage error (exit 2, like the too-long note), named for the option (G4)
        assert r.returncode == 2 and "single line" in r.stderr and "--note" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert list((data / "backups").glob("*.db")) == []
    with pytest.raises(ValidationError):
        Engine(data).create_backup(note="a\x1b[2Jb")
    assert run_cli("backup", "create", "--note", "plain — ünïcode ok", data_dir=data).returncode == 0


def test_a_pasted_tab_in_a_note_is_a_space_everywhere(tmp_path):
    """Finding G4: pasted text often holds a tab; it was refused, and on the page the refusal turned the
    status into "Your last backup failed" (the note was checked inside the backup's task)."""
    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    data = tmp_path / "data"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = run_cli("backup", "create", "--note", "Before\tcleanup", data_dir=data)
    assert r.returncode == 0, r.stderr
    engine = Engine(data)
    assert [b.note for b in engine.list_backups()] == ["Before cleanup"]
    api = Api(Engine(data), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    refusal = api._dispatch("start_backup", ["red \x1b[31m"])
    assert refusal["ok"] is False and refusal["error"]["code"] == "invalid-input"  # refused: no task started
    assert "single line" in refusal["error"]["message"]
    task = api._dispatch("start_backup", ["\tpasted\tnote "])["value"]
    deadline = time.monotonic() + 60
    while (status := api._dispatch("task_status", [task["id"]])["value"])["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["state"] == "done", status
    api._close()
    assert sorted(b.note for b in engine.list_backups()) == ["Before cleanup", "pasted note"]


def test_backup_list_escapes_control_characters_in_hand_added_names_and_old_notes(tmp_path):
    data = tmp_path / "data"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    assert run_cli("backup", "create", "--note", "mine", data_dir=data).returncode == 0
    made = next((data / "backups").glob("*.db"))
    # a file someone dropped into the backup folder, and a note written by an older version (no check then)
    (data / "backups" / "esc\x1b[2J\x1b[31mX\nFAKE.db").write_bytes(made.read_bytes())
    manifest = made.with_suffix(".json")
    import json

    body = json.loads(manifest.read_text())
    body["note"] = "line1\nFAKE  backup_2099  Manual\x1b]0;TITLE\x07"
    manifest.write_text(json.dumps(body))
    r = run_cli("backup", "list", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\x1b" not in r.stderr
    assert not any(line.startswith("FAKE") for line in r.stdout.splitlines()), r.stdout
    assert "esc\\x1b[2J\\x1b[31mX\\x0aFAKE" in r.stdout
    # rows: header + two backups (the forged newline stays inside its row)
    assert len([line for line in r.stdout.splitlines() if line.strip()]) == 3, r.stdout


def test_backing_up_data_from_a_newer_version_says_so_not_damage(engine):
    """Data a newer JobMatcher updated is not damaged: `backup create` says which version to use (F20)."""
    conn = engine.connect()
    conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    conn.close()
    before = fingerprint(engine.data.db_path)
    r = run_cli("backup", "create", data_dir=engine.data.root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "newer version" in r.stderr and "damaged" not in r.stderr, r.stderr
    assert fingerprint(engine.data.db_path) == before


# -- shell completion ------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_prints_a_script_naming_every_command(shell):
    r = run_cli("completion", shell)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    words = {w for path, _options in _commands(build_parser()) for w in path}
    assert {"backup", "restore", "location", "sync", "completion"} <= words
    missing = [w for w in words if not re.search(rf"\b{re.escape(w)}\b", r.stdout)]
    assert not missing, missing
    assert "--data-dir" in r.stdout and "--retention-policy" in r.stdout


def test_completion_rejects_an_unknown_shell_as_a_usage_error():
    r = run_cli("completion", "fish-and-chips")
    assert r.returncode == 2 and "invalid choice" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [("completion", "bash", "--json"), ("--json", "completion", "bash")])
def test_completion_refuses_options_it_would_ignore(args, tmp_path):
    """H24: `--json` and `--data-dir` were accepted and ignored (the script printed as is): a usage error."""
    for extra in ([], ["--data-dir", str(tmp_path)]):
        r = run_cli(*args, *extra) if extra == [] else run_cli("completion", "bash", *extra)
        assert r.returncode == 2 and "do not apply" in r.stderr and not r.stdout, (args, extra, r.stderr)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_the_bash_script_registers_and_completes_in_a_real_bash(tmp_path):
    script = f"""
    jobmatcher() {{ "{sys.executable}" -m jobmatcher "$@"; }}
    source <(jobmatcher completion bash) || exit 3
    complete -p jobmatcher || exit 4
    COMP_WORDS=(jobmatcher backup re); COMP_CWORD=2; COMP_LINE="jobmatcher backup re"; COMP_POINT=${{#COMP_LINE}}
    _shtab_jobmatcher jobmatcher re backup
    printf 'reply:%s\\n' "${{COMPREPLY[@]}}"
    COMP_WORDS=(jobmatcher settings --retention-p); COMP_CWORD=2
    COMP_LINE="jobmatcher settings --retention-p"; COMP_POINT=${{#COMP_LINE}}
    _shtab_jobmatcher jobmatcher --retention-p settings
    printf 'reply:%s\\n' "${{COMPREPLY[@]}}"
    """
    r = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^complete .*-F _shtab_jobmatcher jobmatcher$", r.stdout, re.M), r.stdout  # registered
    replies = [line.removeprefix("reply:").strip() for line in r.stdout.splitlines() if line.startswith("reply:")]
    assert "restore" in replies and "--retention-policy" in replies, r.stdout


def test_a_port_in_use_is_said_at_once_and_port_with_a_command_is_a_usage_error(tmp_path):
    """Finding G23: `--browser --port N` with N taken was 15 s of silence; `--port` with a command was ignored."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cli("--browser", "--port", str(port), data_dir=tmp_path / "data", timeout=60)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == f"Port {port} is in use; waiting up to 2 s for it…", lines
    assert f"Cannot serve on 127.0.0.1 port {port}: Address already in use." in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("--port", "5000", "status", data_dir=tmp_path / "data")
    assert r.returncode == 2 and "--browser and --port start the app" in r.stderr, r.stderr


def test_a_relative_backup_dir_is_taken_from_the_working_folder(tmp_path):
    """K8: `settings --backup-dir usb/jm` was refused with the page's words ("the folder picker")."""
    data = tmp_path / "data"
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    (tmp_path / "usb" / "jm").mkdir(parents=True)
    r = subprocess.run(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data), "settings", "--backup-dir", "usb/jm", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["backup_dir"] == str(tmp_path / "usb" / "jm")
    assert "folder picker" not in r.stderr


def test_an_unknown_option_is_refused_with_the_commands_own_usage(tmp_path):
    """K7 (minor): `backup create --yes` printed the top-level usage; the command's own is the useful one."""
    r = run_cli("backup", "create", "--yes", data_dir=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("usage: jobmatcher backup create"), r.stderr
    assert "jobmatcher backup create: error: unrecognized arguments: --yes" in r.stderr, r.stderr
    assert not (tmp_path / "backups").exists()


def test_backup_create_of_a_small_database_loads_no_thread_pool_and_no_process_machinery(engine):
    """Issue 13: a small database's backup is checked in this process, so its create imports neither subprocess
    (a check child) nor concurrent.futures (its hashing and fsync threads are helperthread's), each a few ms of a
    10 MB backup's 20. A larger one (from checkproc.CHILD_MIN_BYTES) starts its child and loads subprocess."""
    rc, out, modules, _built = _run_and_list_modules("--data-dir", str(engine.data.root), "backup", "create", "--json")
    assert rc == 0 and '"verified": true' in out.replace(" ", "").replace('"verified":true', '"verified": true')
    assert {"jobmatcher.checkproc", "jobmatcher.digests", "jobmatcher.helperthread"} <= modules  # it really checked
    assert _heavy(modules, ("subprocess", "concurrent.futures")) == set()
