"""The packaged app: build the PyInstaller bundle from a clean copy of the tree, then use it as a user would.

One build per test run (module fixture, shared between xdist workers): a copy of
the tree without .venv, dist/, build/work/ or caches is built by build/build.py
with an empty PyInstaller cache, the archive it makes is unpacked to a fresh
"install" folder, and every check runs that unpacked copy. Alongside, an "older
release" is built the same way from a copy without the newest migration (and
an older version number), to make data the way a user's previous version did.
The copies and work folders are deleted before any check runs. The checks run
the apps:

- with a minimal environment (`env -i`, HOME in a temp folder, PATH=/usr/bin:/bin),
- and, as root, in a private mount namespace where the source tree, .venv and
  every Python installation on the machine are hidden under empty tmpfs mounts
  (the bundle has to carry its own interpreter, standard library and
  packages), and where the installed app folder is mounted read-only (as in
  /opt or Program Files: the app must never need to write there).

Covered: what is inside (and what is kept out), the command line's backup ->
verify -> restore round trip, the upgrade of the older release's data
(pre-migration backup, then migrated; from the command line and by opening the
app; the older release's own backup restored into the new one), the refusal of
data from a newer version (by the older release after the upgrade, and of an
unknown revision by the new one), the window
smoke run (Qt offscreen), the relaunch after a restore (the bundle's own
executable, the same data folder), and browser mode.

Marked slow; not skipped by default: CI runs it (2-3 minutes on 2 cores,
most of it the two PyInstaller builds). The window tests skip only when the
window itself (backend/jobmatcher/app.py) is not in the tree.
"""

from __future__ import annotations

import ast
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_SOURCE = ROOT / "backend" / "jobmatcher" / "app.py"
NEWER_REVISION = "0099_from_a_newer_version"

pytest.importorskip("PyInstaller", reason="needs the bundle extra (PyInstaller)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bundle checks here are Linux's"),
]

needs_window = pytest.mark.skipif(
    not APP_SOURCE.exists(),
    reason="the desktop window (backend/jobmatcher/app.py) is not in the tree yet: nothing to bundle for it",
)


# =====================================================================================================
# Building
# =====================================================================================================


def _tree_files(root: Path) -> list[Path]:
    """The files of the source tree as a fresh clone plus local edits has them (no ignored files)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout
        return [Path(p) for p in sorted(set(out.decode().split("\0"))) if p and (root / p).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: copy all but the usual leftovers
        skip = {".git", ".venv", "dist", "work", "__pycache__", ".pytest_cache", "test-artifacts"}
        return [
            p.relative_to(root)
            for p in root.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(root).parts)
        ]


OLDER_VERSION = "0.0.1"
OLDER_HEAD = "0001_initial"


@dataclass
class Bundle:
    base: Path  # the build's temp folder
    dist: Path  # build.py --dist
    archive: Path  # the .tar.gz build.py made
    install: Path  # the archive unpacked: install/JobMatcher/...
    older_exe: Path  # an "older release": the same tree without the newest migration, built alongside
    sources: dict  # relative path -> SHA-256 of every file of the copy it was built from (since deleted)
    output: str  # build.py's stdout
    seconds: float

    @property
    def folder(self) -> Path:
        return self.install / "JobMatcher"

    @property
    def exe(self) -> Path:
        return self.folder / "JobMatcher"

    @property
    def internal(self) -> Path:
        return self.folder / "_internal"


def _copy_tree(dest: Path) -> dict[str, str]:
    """Copy the tree; returns each file's SHA-256 as copied (others may be editing the tree meanwhile)."""
    sums = {}
    for rel in _tree_files(ROOT):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
        sums[rel.as_posix()] = sha(dest / rel)
    return sums


def _make_older(src: Path) -> None:
    """Turn a copy of the tree into the previous release: schema 0001_initial is its newest, version 0.0.1."""
    versions = src / "backend" / "jobmatcher" / "migrations" / "versions"
    for p in versions.glob("*.py"):
        if not p.name.startswith(OLDER_HEAD):
            p.unlink()
    init = src / "backend" / "jobmatcher" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{OLDER_VERSION}"', init.read_text()))
    # schema.REVISIONS lists the revisions without importing Alembic: the older release knows only its own.
    schema_py = src / "backend" / "jobmatcher" / "schema.py"
    text = schema_py.read_text()
    start = text.index("REVISIONS:")
    end = text.index("\n)\n", start) + 3
    ns: dict = {}
    exec(text[start:end], ns)
    kept = [(rev, tables) for rev, tables in ns["REVISIONS"] if rev <= OLDER_HEAD]
    assert kept and kept[-1][0] == OLDER_HEAD, kept
    block = (
        "REVISIONS: tuple[tuple[str, frozenset[str]], ...] = (\n"
        + "".join(f"    ({rev!r}, frozenset({sorted(tables)!r})),\n" for rev, tables in kept)
        + ")\n"
    )
    schema_py.write_text(text[:start] + block + text[end:])


def _build(base: Path) -> Bundle:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.fail(
            "PyInstaller is not installed: run the tests through ./dev.sh test (it installs the "
            "`bundle` extra), or pip install -e '.[gui,test,bundle]'"
        )
    src, older = base / "src", base / "older-src"
    sources = _copy_tree(src)
    _copy_tree(older)
    _make_older(older)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    def start(tree: Path, name: str, *extra: str) -> subprocess.Popen:
        # An empty PyInstaller cache each: nothing is reused from earlier builds (or from each other).
        e = {**env, "PYINSTALLER_CONFIG_DIR": str(base / f"{name}-pyinstaller-cache")}
        log = open(base / f"{name}-build.log", "w+")
        return subprocess.Popen(
            [
                sys.executable,
                str(tree / "build" / "build.py"),
                "--dist",
                str(base / f"{name}-dist"),
                "--work",
                str(base / f"{name}-work"),
                *extra,
            ],
            cwd=tree,
            env=e,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    started = time.monotonic()
    # The two builds run side by side: PyInstaller mostly keeps one core busy.
    new, old = start(src, "new"), start(older, "older", "--no-archive")
    out, _ = new.communicate(timeout=600)
    seconds = time.monotonic() - started
    old_out, _ = old.communicate(timeout=600)
    for proc, name, text in ((new, "new", out), (old, "older", old_out)):
        (base / f"{name}-build.log").open("a").write("\n--- stdout ---\n" + text)
        assert proc.returncode == 0, (
            f"the {name} build failed ({proc.returncode}):\n{(base / f'{name}-build.log').read_text()[-6000:]}"
        )
    dist = base / "new-dist"
    archives = list(dist.glob("JobMatcher-*.tar.gz"))
    assert len(archives) == 1, f"expected one archive in {dist}: {archives}"
    install = base / "install"  # unpacked where nothing else of the build is: the user's copy
    with tarfile.open(archives[0]) as t:
        t.extractall(install, filter="tar")
    for leftover in (src, older, base / "new-work", base / "older-work"):
        shutil.rmtree(leftover)  # nothing of the builds is left for the apps to lean on
    return Bundle(
        base=base,
        dist=dist,
        archive=archives[0],
        install=install,
        older_exe=base / "older-dist" / "JobMatcher" / "JobMatcher",
        sources=sources,
        output=out,
        seconds=seconds,
    )


@pytest.fixture(scope="module")
def bundle(request, tmp_path_factory) -> Bundle:
    if not hasattr(request.config, "workerinput"):
        return _build(tmp_path_factory.mktemp("bundle"))
    # Under xdist every worker would build its own: the first builds, the others wait and reuse it.
    shared = tmp_path_factory.getbasetemp().parent / "jobmatcher-bundle"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done.json"
        if done.exists():
            return Bundle(
                **{
                    k: (Path(v) if k not in ("output", "seconds", "sources") else v)
                    for k, v in json.loads(done.read_text()).items()
                }
            )
        b = _build(shared / "build")
        done.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in vars(b).items()}))
        return b


# =====================================================================================================
# Running it like a user, without any Python of ours
# =====================================================================================================


def _hidden_dirs(keep: Path) -> list[Path]:
    """Where a Python could come from: the tree (.venv inside), this interpreter's prefixes, the system's."""
    found = {ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    for pattern in ("/usr/lib/python3*", "/usr/local/lib/python3*", "/usr/lib64/python3*", "/opt/python*"):
        found.update(Path(p) for p in glob.glob(pattern))
    real = sorted({p.resolve() for p in found if p.is_dir()}, key=lambda p: len(p.parts))
    keep = keep.resolve()
    chosen: list[Path] = []
    for p in real:
        if keep == p or p in keep.parents:
            continue  # never hide the bundle itself
        if not any(q == p or q in p.parents for q in chosen):  # a hidden parent already covers it
            chosen.append(p)
    return chosen


_UNSHARE: bool | None = None


def _can_hide() -> bool:
    """True where a private mount namespace works (root with util-linux's unshare)."""
    global _UNSHARE
    if _UNSHARE is None:
        _UNSHARE = False
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare"):
            r = subprocess.run(["unshare", "-m", "--propagation", "private", "--", "/bin/true"], capture_output=True)
            _UNSHARE = r.returncode == 0
    return _UNSHARE


# Hide each folder in $JM_HIDE under an empty tmpfs, and make the installed app ($JM_READONLY) read-only,
# as an install in /opt or Program Files is for its user: the app must never need to write there.
_HIDE_SCRIPT = (
    'IFS=:; for d in $JM_HIDE; do mount -t tmpfs -o size=64k,mode=0555 jobmatcher-hidden "$d" '
    '|| exit 97; done; mount --bind "$JM_READONLY" "$JM_READONLY" '
    '&& mount -o remount,bind,ro "$JM_READONLY" || exit 97; exec "$@"'
)


def user_command(bundle: Bundle, argv: list[str], home: Path, extra_env: dict | None = None) -> tuple[list, dict]:
    """(command, environment) that runs `argv` as a user would: env -i with only HOME and a plain PATH,
    and, where possible, with every Python installation and the source tree hidden."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", **(extra_env or {})}
    cmd = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
    outer = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    if _can_hide():
        hide = _hidden_dirs(keep=bundle.base)
        outer["JM_HIDE"] = ":".join(str(p) for p in hide)
        outer["JM_READONLY"] = str(bundle.install)
        cmd = ["unshare", "-m", "--propagation", "private", "--", "/bin/sh", "-c", _HIDE_SCRIPT, "sh", *cmd]
    return cmd, outer


def run_bundle(
    bundle: Bundle,
    *args: str,
    home: Path,
    data_dir: Path | None = None,
    env: dict | None = None,
    timeout: float = 120,
    exe: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run the bundled app (or `exe`, e.g. the older build) as a user would; returns the finished process."""
    argv = [str(exe or bundle.exe)] + (["--data-dir", str(data_dir)] if data_dir else []) + list(args)
    cmd, outer = user_command(bundle, argv, home, env)
    r = subprocess.run(cmd, env=outer, capture_output=True, text=True, timeout=timeout, cwd=home)
    assert r.returncode != 97, f"could not hide the Python installations: {r.stderr}"
    return r


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-4000:]}"
    return r


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def sql(db: Path, *statements: str, params: tuple = ()) -> list:
    conn = sqlite3.connect(db)
    try:
        rows: list = []
        for s in statements:
            rows = conn.execute(s, params if s.count("?") else ()).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def read_only(db: Path, query: str) -> list:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.lstat().st_size for p in folder.rglob("*")}


def app_processes(bundle: Bundle, home: Path) -> list[int]:
    """Pids of processes running this bundle's executable for this test (its HOME is the test's own)."""
    pids = []
    mine = f"HOME={home}".encode()
    for exe in glob.glob("/proc/[0-9]*/exe"):
        try:
            if os.readlink(exe) == str(bundle.exe) and mine in Path(exe).with_name("environ").read_bytes().split(b"\0"):
                pids.append(int(exe.split("/")[2]))
        except OSError:
            pass
    return pids


def wait_until_gone(bundle: Bundle, home: Path, timeout: float = 30) -> list[int]:
    """Wait for this test's app processes to exit; kill (and return) any still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := app_processes(bundle, home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


# =====================================================================================================
# The window, scripted (see jobmatcher/testhook.py: the script runs in the page)
# =====================================================================================================

WINDOW_SCRIPT = r"""
(async () => {
  const t = window.__jobmatcherTest = {};
  const call = async (name, ...args) => {
    const env = await window.pywebview.api[name](...args);
    if (!env || !env.ok) throw new Error(name + ": " + JSON.stringify(env && env.error));
    return env.value;
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  try {
    const info = await call("app_info");
    t.relaunched = info.relaunched;
    t.data_dir = info.data_dir;
    t.version = info.version;
    t.launch = info.launch;
    t.title = document.title;
    t.app_shown = !document.querySelector("#app").hidden;
    t.error_shown = !document.querySelector("#launch-error").hidden;
    t.error_text = document.querySelector("#launch-error-message").textContent;
    if (info.launch.state === "done") {
      t.profile = (await call("get_profile")).full_name;
      t.field = document.querySelector("#full-name").value;
      t.backups = (await call("list_backups")).map((b) => ({ id: b.id, type: b.type, note: b.note }));
      t.rows = document.querySelectorAll("#backup-rows tr").length;
    }
    if (__RESTORE__ && !info.relaunched) {
      const target = t.backups.find((b) => b.note === "before-edit");
      let task = await call("start_restore", target.id);
      while (task.state === "running") { await sleep(100); task = await call("task_status", task.id); }
      t.restore = task.state;
      t.restore_error = task.error;
      await sleep(400);  // the test hook copies this state out before the window goes
      if (task.state === "done") {
        t.restart = await call("restart");
        return;  // the app closes itself; its launcher starts it again
      }
    }
  } catch (e) {
    t.error = String((e && e.message) || e);
  }
  t.close = true;
})();
"""


def run_window(
    bundle: Bundle, home: Path, tmp: Path, *, restore: bool = False, data_dir: Path | None = None, timeout: float = 90
) -> tuple[subprocess.CompletedProcess, dict[int, dict]]:
    """Open the bundled app's window offscreen with the script above; returns (process, results by pid)."""
    script, results = tmp / "window-test.js", tmp / "window-results"
    script.write_text(WINDOW_SCRIPT.replace("__RESTORE__", "true" if restore else "false"))
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "QTWEBENGINE_DISABLE_SANDBOX": "1",
        "JOBMATCHER_TEST_SCRIPT": str(script),
        "JOBMATCHER_TEST_RESULTS": str(results),
    }
    r = run_bundle(bundle, home=home, data_dir=data_dir, env=env, timeout=timeout)
    return r, _results(results)


def _results(folder: Path) -> dict[int, dict]:
    out = {}
    for f in folder.glob("*.json"):
        data = json.loads(f.read_text())
        out[data["pid"]] = data
    return out


def app_log(home: Path) -> str:
    """The app's log, where platformdirs puts it for this HOME (~/.local/state/JobMatcher/log on Linux)."""
    logs = list(home.rglob("jobmatcher.log"))
    assert logs, f"no jobmatcher.log under {home}"
    return "\n".join(p.read_text() for p in logs)


# =====================================================================================================
# The tests
# =====================================================================================================


def test_build_output_and_contents(bundle):
    """One folder, one archive named for version/platform/arch, sizes printed; lean; data files in place."""
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "backend/jobmatcher/__init__.py").read_text()).group(1)
    assert re.fullmatch(
        rf"JobMatcher-{re.escape(version)}-linux-(x86_64|arm64|[a-z0-9_]+)\.tar\.gz", bundle.archive.name
    )
    assert re.search(r"Bundle: .*JobMatcher +\(\d+ MB\)", bundle.output), bundle.output
    assert re.search(r"Archive: .*\.tar\.gz +\(\d+ MB\)", bundle.output), bundle.output
    assert (bundle.dist / "JobMatcher" / "JobMatcher").is_file()
    assert os.access(bundle.exe, os.X_OK)
    assert bundle.older_exe.is_file()

    # The migrations ship as .py files where schema.py looks for them (jobmatcher/migrations), and the
    # page file for file: compared with the copy of the tree the bundle was built from.
    migrations = [r for r in bundle.sources if r.startswith("backend/jobmatcher/migrations/") and r.endswith(".py")]
    assert "backend/jobmatcher/migrations/env.py" in migrations and len(migrations) >= 3, migrations
    for rel in migrations:
        shipped = bundle.internal / rel.removeprefix("backend/")
        assert shipped.exists() and sha(shipped) == bundle.sources[rel], f"{shipped} missing or stale"
    page = [r for r in bundle.sources if r.startswith("frontend/")]
    assert "frontend/index.html" in page or not APP_SOURCE.exists()
    for rel in page:
        shipped = bundle.internal / rel
        assert shipped.exists() and sha(shipped) == bundle.sources[rel], f"{shipped} missing or stale"

    # What Python code is inside: the package from the copy that was built, and no test or build tools.
    from PyInstaller.archive.readers import CArchiveReader

    pyz = CArchiveReader(str(bundle.exe)).open_embedded_archive("PYZ.pyz")
    modules = set(pyz.toc)
    top = {m.split(".")[0] for m in modules}
    expected = {
        "jobmatcher." + Path(r).stem
        for r in bundle.sources
        if re.fullmatch(r"backend/jobmatcher/[a-z_]+\.py", r) and not r.endswith("__init__.py")
    }
    assert expected <= modules, f"package modules missing: {sorted(expected - modules)}"
    for m in ("logging.config", "sqlalchemy.dialects.sqlite", "alembic.op", "alembic.context", "alembic.ddl.sqlite"):
        assert m in modules, f"{m} (needed by the migrations) is not in the bundle"
    banned = {
        "pytest",
        "_pytest",
        "hypothesis",
        "playwright",
        "pytest_playwright",
        "PyInstaller",
        "tkinter",
        "numpy",
        "matplotlib",
        "PIL",
        "setuptools",
        "pip",
        "xdist",
        "PyQt5",
        "PySide6",
        "PySide2",
    }
    assert not (top & banned), f"test/build tools or unused toolkits inside: {sorted(top & banned)}"
    shipped_dirs = {p.name for p in bundle.internal.iterdir()}
    assert not (shipped_dirs & banned), sorted(shipped_dirs & banned)
    if APP_SOURCE.exists():
        assert {"webview", "qtpy", "PyQt6", "bottle"} <= top
        qt = bundle.internal / "PyQt6" / "Qt6"
        assert list(qt.rglob("QtWebEngineProcess*")), "Qt WebEngine's helper process is missing"
        assert not (qt / "qml").exists(), "the QML tree is not used by the window and should not be shipped"
        locales = [p.name for p in qt.rglob("qtwebengine_locales/*")]
        assert locales == ["en-US.pak"], locales

    size = sum(p.lstat().st_size for p in bundle.folder.rglob("*") if p.is_file())
    print(
        f"\nbundle: {size / 1e6:.0f} MB, archive {bundle.archive.stat().st_size / 1e6:.0f} MB, "
        f"built in {bundle.seconds:.0f} s"
    )
    assert size < 600e6, f"the bundle grew to {size / 1e6:.0f} MB"


def test_runs_without_any_python(bundle, home):
    """The checks here run the bundle with no venv, no PYTHONPATH and (as root) no Python installation at all."""
    if _can_hide():
        hidden = _hidden_dirs(keep=bundle.base)
        for must in (ROOT, Path(sys.prefix), Path(sys.base_prefix)):
            must = must.resolve()
            assert any(h == must or h in must.parents for h in hidden), (must, hidden)
        cmd, outer = user_command(bundle, ["/bin/sh", "-c", f"ls -A {ROOT} {sys.base_prefix}; env"], home)
        r = subprocess.run(cmd, env=outer, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        names = [line for line in r.stdout.splitlines() if line and ":" not in line and "=" not in line]
        assert not names, f"the tree or Python is still visible inside the isolation: {names}"
        assert not re.search(r"^(PYTHONPATH|PYTHONHOME|VIRTUAL_ENV)=", r.stdout, re.M), r.stdout
        cmd, outer = user_command(bundle, ["/bin/sh", "-c", "python3 -c pass"], home)
        r = subprocess.run(cmd, env=outer, capture_output=True, timeout=30)
        assert r.returncode not in (0, 97), "a working python3 is still reachable inside the isolation"
        cmd, outer = user_command(bundle, ["/bin/sh", "-c", f"touch {bundle.folder}/written"], home)
        r = subprocess.run(cmd, env=outer, capture_output=True, text=True, timeout=30)
        assert r.returncode not in (0, 97) and "Read-only" in r.stderr, "the installed app is not read-only"
    else:
        print("\nnot root (or no unshare): the bundle runs with env -i only, Python installations stay visible")
    r = ok(run_bundle(bundle, "--version", home=home))
    assert r.stdout.startswith("jobmatcher ")


def test_cli_backup_verify_restore_round_trip(bundle, home, tmp_path):
    before = tree_listing(bundle.folder)
    # No --data-dir: the platform's user data folder under this HOME.
    data = home / ".local" / "share" / "JobMatcher"
    r = ok(run_bundle(bundle, "db", "migrate", home=home))
    assert "Created a new database" in r.stdout
    db = data / "jobmatcher.db"
    assert db.exists(), list(home.rglob("*"))
    sql(
        db,
        "INSERT INTO user_profile (id, full_name, headline) VALUES (1, 'Ada Lovelace', 'Analyst')",
        "INSERT INTO skills (name, level) VALUES ('Python', 5), ('SQL', 4)",
        "INSERT INTO saved_jobs (title, company) VALUES ('Engineer', 'Acme')",
    )

    created = json.loads(ok(run_bundle(bundle, "backup", "create", "--note", "round trip", "--json", home=home)).stdout)
    listed = json.loads(ok(run_bundle(bundle, "backup", "list", "--json", home=home)).stdout)
    assert [b["id"] for b in listed] == [created["id"]] and listed[0]["verified"] is True
    r = ok(run_bundle(bundle, "backup", "verify", created["id"], home=home))
    assert r.stdout.startswith("OK:")
    ok(run_bundle(bundle, "backup", "verify", created["path"], home=home))  # by file, too

    sql(db, "UPDATE user_profile SET full_name = 'Changed'", "DELETE FROM skills")
    r = ok(run_bundle(bundle, "backup", "restore", created["id"], "--yes", home=home))
    assert "Restored" in r.stdout and "Your previous data was kept as" in r.stdout
    assert read_only(db, "SELECT full_name FROM user_profile") == [("Ada Lovelace",)]
    assert read_only(db, "SELECT name FROM skills ORDER BY name") == [("Python",), ("SQL",)]
    types = [b["type"] for b in json.loads(ok(run_bundle(bundle, "backup", "list", "--json", home=home)).stdout)]
    assert sorted(types) == ["manual", "safety"]
    ok(run_bundle(bundle, "db", "check", home=home))

    # Errors are messages with exit code 1, never tracebacks.
    r = run_bundle(bundle, "backup", "verify", "no-such-backup", home=home)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "no backup" in r.stderr.lower()
    # Logs went to the platform's log folder under this HOME.
    assert app_log(home)
    # The app wrote nothing into its own folder (no __pycache__, no logs): it may be read-only.
    assert tree_listing(bundle.folder) == before


def _data_from_older_build(bundle, home, data: Path) -> Path:
    """A data folder made and filled by the older release, with a backup it made."""
    older = bundle.older_exe
    assert ok(run_bundle(bundle, "--version", home=home, exe=older)).stdout.strip() == f"jobmatcher {OLDER_VERSION}"
    r = ok(run_bundle(bundle, "db", "migrate", home=home, data_dir=data, exe=older))
    assert f"Created a new database at {OLDER_HEAD}" in r.stdout, r.stdout
    assert (
        f"Newest:   {OLDER_HEAD}" in ok(run_bundle(bundle, "db", "status", home=home, data_dir=data, exe=older)).stdout
    )
    db = data / "jobmatcher.db"
    sql(
        db,
        "INSERT INTO user_profile (id, full_name, headline) VALUES (1, 'Grace Hopper', 'Admiral')",
        "INSERT INTO skills (name, level) VALUES ('COBOL', 5), ('Compilers', 5)",
        "INSERT INTO user_preferences (key, value) VALUES ('remote', 'true')",
    )
    ok(run_bundle(bundle, "backup", "create", "--note", "made by the older build", home=home, data_dir=data, exe=older))
    assert read_only(db, "SELECT version_num FROM alembic_version") == [(OLDER_HEAD,)]
    assert "saved_jobs" not in {n for (n,) in read_only(db, "SELECT name FROM sqlite_master")}
    return db


def _check_upgraded(db: Path, backups: list[dict], data: Path) -> None:
    assert read_only(db, "SELECT version_num FROM alembic_version") == [("0002_saved_jobs",)]
    assert read_only(db, "SELECT full_name, headline FROM user_profile") == [("Grace Hopper", "Admiral")]
    assert read_only(db, "SELECT name, years_experience FROM skills ORDER BY name") == [
        ("COBOL", None),
        ("Compilers", None),
    ]
    assert read_only(db, "SELECT value FROM user_preferences WHERE key = 'remote'") == [("true",)]
    assert read_only(db, "SELECT count(*) FROM saved_jobs") == [(0,)]
    assert sorted(b["type"] for b in backups) == ["manual", "pre-migration"], backups
    pre = next(b for b in backups if b["type"] == "pre-migration")
    # The way back: the backup holds the old data at the old revision.
    old = data / "backups" / f"{pre['id']}.db"
    assert read_only(old, "SELECT version_num FROM alembic_version") == [(OLDER_HEAD,)]
    assert read_only(old, "SELECT full_name FROM user_profile") == [("Grace Hopper",)]


def _older_build_refuses(bundle, home, data: Path) -> None:
    """Going back to the older release after the upgrade: it refuses the newer data and says why."""
    db = data / "jobmatcher.db"
    before = sha(db)
    r = run_bundle(bundle, "db", "migrate", home=home, data_dir=data, exe=bundle.older_exe)
    assert r.returncode == 1, r
    assert "made by a newer version of JobMatcher (schema 0002_saved_jobs)" in r.stderr, r.stderr
    assert f"this version understands up to {OLDER_HEAD}" in r.stderr and "Traceback" not in r.stderr
    assert sha(db) == before


def test_older_build_data_upgraded_by_the_command_line(bundle, home, tmp_path):
    data = tmp_path / "data"
    db = _data_from_older_build(bundle, home, data)
    r = ok(run_bundle(bundle, "db", "status", home=home, data_dir=data))
    assert f"Revision: {OLDER_HEAD}" in r.stdout and "Pending:  0002_saved_jobs" in r.stdout
    r = ok(run_bundle(bundle, "db", "migrate", home=home, data_dir=data))
    assert re.search(rf"Backed up first as \S+, then updated from {OLDER_HEAD} to 0002_saved_jobs", r.stdout), r.stdout
    backups = json.loads(ok(run_bundle(bundle, "backup", "list", "--json", home=home, data_dir=data)).stdout)
    _check_upgraded(db, backups, data)
    for b in backups:  # the older build's backup and the pre-migration one both verify
        ok(run_bundle(bundle, "backup", "verify", b["id"], home=home, data_dir=data))
    _older_build_refuses(bundle, home, data)

    # A backup the older build made restores into the new version (and is migrated on the way).
    sql(db, "UPDATE user_profile SET full_name = 'Changed later'")
    made_by_older = next(b for b in backups if b["type"] == "manual")
    r = ok(run_bundle(bundle, "backup", "restore", made_by_older["id"], "--yes", home=home, data_dir=data))
    assert f"updated from schema {OLDER_HEAD} to 0002_saved_jobs" in r.stdout, r.stdout
    assert read_only(db, "SELECT full_name FROM user_profile") == [("Grace Hopper",)]
    assert read_only(db, "SELECT version_num FROM alembic_version") == [("0002_saved_jobs",)]


@needs_window
def test_older_build_data_upgraded_by_opening_the_app(bundle, home, tmp_path):
    """What a user meets: the new version installed, opened on the data the old one left."""
    data = tmp_path / "data"
    db = _data_from_older_build(bundle, home, data)
    r, results = run_window(bundle, home, tmp_path, data_dir=data)
    assert r.returncode == 0, r.stderr[-4000:]
    (res,) = results.values()
    assert "error" not in res, res
    launch = res["launch"]
    assert launch["state"] == "done", launch
    assert launch["result"]["migrated_from"] == OLDER_HEAD
    assert launch["result"]["migrated_to"] == "0002_saved_jobs"
    assert launch["result"]["pre_migration_backup"]
    assert res["app_shown"] and res["profile"] == "Grace Hopper" and res["field"] == "Grace Hopper"
    assert sorted(b["type"] for b in res["backups"]) == ["manual", "pre-migration"] and res["rows"] == 2
    backups = json.loads(ok(run_bundle(bundle, "backup", "list", "--json", home=home, data_dir=data)).stdout)
    _check_upgraded(db, backups, data)
    _older_build_refuses(bundle, home, data)


def _data_from_newer_version(bundle, home, data: Path) -> Path:
    ok(run_bundle(bundle, "db", "migrate", home=home, data_dir=data))
    db = data / "jobmatcher.db"
    sql(
        db,
        "INSERT INTO user_profile (id, full_name) VALUES (1, 'From the future')",
        f"UPDATE alembic_version SET version_num = '{NEWER_REVISION}'",
    )
    return db


def test_newer_data_is_refused_from_the_command_line(bundle, home, tmp_path):
    data = tmp_path / "data"
    db = _data_from_newer_version(bundle, home, data)
    before = sha(db)
    r = run_bundle(bundle, "db", "migrate", home=home, data_dir=data)
    assert r.returncode == 1, r
    assert "made by a newer version of JobMatcher" in r.stderr and NEWER_REVISION in r.stderr, r.stderr
    assert "Install the newer JobMatcher" in r.stderr and "Traceback" not in r.stderr
    r = ok(run_bundle(bundle, "db", "status", home=home, data_dir=data))
    assert "made by a newer JobMatcher" in r.stdout
    assert sha(db) == before
    assert not (data / "backups").exists() or not list((data / "backups").glob("*.db"))


@needs_window
def test_newer_data_is_refused_by_the_app(bundle, home, tmp_path):
    data = tmp_path / "data"
    db = _data_from_newer_version(bundle, home, data)
    before = sha(db)
    r, results = run_window(bundle, home, tmp_path, data_dir=data)
    assert r.returncode == 0, r.stderr[-4000:]
    (res,) = results.values()
    assert res["launch"]["state"] == "failed", res
    assert res["error_shown"] and not res["app_shown"]
    assert "made by a newer version of JobMatcher" in res["error_text"], res["error_text"]
    assert sha(db) == before


@needs_window
def test_window_smoke_offscreen(bundle, home, tmp_path):
    data = tmp_path / "data"
    ok(run_bundle(bundle, "db", "migrate", home=home, data_dir=data))
    ok(run_bundle(bundle, "backup", "create", "--note", "one", home=home, data_dir=data))
    started = time.monotonic()
    r, results = run_window(bundle, home, tmp_path, data_dir=data)
    seconds = time.monotonic() - started
    assert r.returncode == 0, r.stderr[-4000:]
    (res,) = results.values()
    assert "error" not in res, res
    assert res["title"] == "JobMatcher" and res["app_shown"] and not res["error_shown"]
    assert res["launch"]["state"] == "done" and res["data_dir"] == str(data)
    assert [b["note"] for b in res["backups"]] == ["one"] and res["rows"] == 1
    assert seconds < 60
    assert not wait_until_gone(bundle, home, timeout=10), "the window's process outlived its window"


@needs_window
def test_restore_relaunches_the_bundled_app(bundle, home, tmp_path):
    """Restore in the window: the app starts its launcher (the bundle's executable), exits, and comes back
    on the same data folder with the restored data."""
    data = home / ".local" / "share" / "JobMatcher"  # the default folder: no --data-dir to carry over
    ok(run_bundle(bundle, "db", "migrate", home=home))
    db = data / "jobmatcher.db"
    sql(db, "INSERT INTO user_profile (id, full_name) VALUES (1, 'Before edit')")
    ok(run_bundle(bundle, "backup", "create", "--note", "before-edit", home=home))
    sql(db, "UPDATE user_profile SET full_name = 'After edit'")

    r, _ = run_window(bundle, home, tmp_path, restore=True)
    assert r.returncode == 0, r.stderr[-4000:]
    # The relaunched app runs detached; wait for it to report and close.
    deadline = time.monotonic() + 60
    results: dict[int, dict] = {}
    while time.monotonic() < deadline:
        results = _results(tmp_path / "window-results")
        if any(v.get("relaunched") and v.get("close") for v in results.values()):
            break
        time.sleep(0.2)
    left = wait_until_gone(bundle, home, timeout=30)
    first = [v for v in results.values() if not v.get("relaunched")]
    second = [v for v in results.values() if v.get("relaunched")]
    assert len(first) == 1 and len(second) == 1, results
    assert first[0]["profile"] == "After edit" and first[0]["restore"] == "done", first[0]
    assert "error" not in second[0], second[0]
    assert second[0]["launch"]["state"] == "done"
    assert second[0]["data_dir"] == first[0]["data_dir"] == str(data)
    assert second[0]["profile"] == "Before edit" and second[0]["field"] == "Before edit"
    assert read_only(db, "SELECT full_name FROM user_profile") == [("Before edit",)]
    assert not left, f"JobMatcher processes still running after the relaunched window closed: {left}"

    # The launcher and the app it started were the bundle's executable, not a Python interpreter.
    log = app_log(home)
    launched = re.findall(r"starting the launcher: (\[.*\])", log)
    relaunched = re.findall(r"launcher: waiting for \d+, then starting (\[.*\])", log)
    assert launched and relaunched, log[-3000:]
    for line in launched + relaunched:
        cmd = ast.literal_eval(line)
        assert cmd[0] == str(bundle.exe), cmd
        assert "-m" not in cmd and "--data-dir" not in cmd, cmd


@needs_window
def test_browser_mode_serves_the_bundled_page(bundle, home, tmp_path):
    """--browser: the page from the bundle over 127.0.0.1; and a look at the process: frozen, its own libpython."""
    data = tmp_path / "data"
    cmd, outer = user_command(bundle, [str(bundle.exe), "--data-dir", str(data), "--browser"], home)
    proc = subprocess.Popen(cmd, env=outer, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        base, secret = url.split("/#secret=")
        secret = urllib.parse.unquote(secret)
        page = urllib.request.urlopen(base + "/", timeout=10).read()
        assert b"<title>JobMatcher</title>" in page
        js = urllib.request.urlopen(base + "/js/app.js", timeout=10).read()
        assert hashlib.sha256(js).hexdigest() == bundle.sources["frontend/js/app.js"]
        req = urllib.request.Request(
            base + "/api/app_info",
            data=b'{"args": []}',
            method="POST",
            headers={"Content-Type": "application/json", "X-JobMatcher-Secret": secret},
        )
        answer = json.loads(urllib.request.urlopen(req, timeout=10).read())
        assert answer["ok"] and answer["value"]["mode"] == "browser"

        # The process is the bundle's executable running the bundle's own Python.
        (pid,) = app_processes(bundle, home)
        assert pid == proc.pid  # unshare and env exec into it
        maps = Path(f"/proc/{pid}/maps").read_text()
        libs = {line.split()[-1] for line in maps.splitlines() if "libpython" in line}
        assert libs and all(lib.startswith(str(bundle.internal)) for lib in libs), libs
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not [e for e in environ if e.startswith((b"PYTHONPATH=", b"VIRTUAL_ENV=", b"PYTHONHOME="))]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()[-3000:]


@needs_window
def test_browser_mode_restarts_in_place_and_starts_the_file_manager_with_the_users_environment(bundle, home, tmp_path):
    """Issue 8 kinds 4 and 7 in the bundle: after a restore the bundled app restarts in the same process (its
    listening socket kept, so no other program can take the port); the file manager gets the user's
    LD_LIBRARY_PATH, not the bundle's."""
    data = tmp_path / "data"
    ok(run_bundle(bundle, "db", "migrate", home=home, data_dir=data))
    ok(run_bundle(bundle, "backup", "create", home=home, data_dir=data))
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    seen = tmp_path / "xdg-open-env"
    (fake_bin / "xdg-open").write_text(f"#!/bin/sh\nenv > {seen}.part && mv {seen}.part {seen}\n")
    (fake_bin / "xdg-open").chmod(0o755)
    cmd, outer = user_command(
        bundle,
        [str(bundle.exe), "--data-dir", str(data), "--browser"],
        home,
        {"PATH": f"{fake_bin}:/usr/bin:/bin", "LD_LIBRARY_PATH": "/usr/local/lib/users-own"},
    )
    proc = subprocess.Popen(cmd, env=outer, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        base, secret = url.split("/#secret=")
        secret = urllib.parse.unquote(secret)

        def call(name, *args):
            req = urllib.request.Request(
                base + f"/api/{name}",
                data=json.dumps({"args": list(args)}).encode(),
                method="POST",
                headers={"Content-Type": "application/json", "X-JobMatcher-Secret": secret},
            )
            return json.loads(urllib.request.urlopen(req, timeout=30).read())

        def opened(other_than=None):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    info = call("app_info")["value"]
                    if info["instance"] != other_than and (info["launch"] or {}).get("state") == "done":
                        return info
                except OSError:
                    pass
                time.sleep(0.2)
            raise AssertionError("the bundled app did not open the data")

        first = opened()
        # the file manager: the user's library path, not the bundle's
        assert call("open_backups_folder")["ok"]
        deadline = time.monotonic() + 20
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
        assert env.get("LD_LIBRARY_PATH") == "/usr/local/lib/users-own", env
        assert str(bundle.install) not in "".join(f"{k}={v}" for k, v in env.items() if k.startswith("LD_"))
        # restore, then restart in place
        backup_id = call("list_backups")["value"][0]["id"]
        task = call("start_restore", backup_id)["value"]
        deadline = time.monotonic() + 60
        while call("task_status", task["id"])["value"]["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert call("task_status", task["id"])["value"]["state"] == "done"
        assert call("restart")["value"]["restarting"] is True
        second = opened(other_than=first["instance"])
        assert second["relaunched"] is True
        assert app_processes(bundle, home) == [proc.pid]  # the same process, where the user started it
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    assert wait_until_gone(bundle, home) == []
