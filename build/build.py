"""Build the JobMatcher one-folder bundle and its archive (run through `./dev.sh bundle`).

    python build/build.py [--dist DIR] [--work DIR] [--no-archive]

Runs PyInstaller on build/jobmatcher.spec with the interpreter running this
script (the project's .venv), so the bundle holds exactly what that environment
has installed and the spec keeps. Results:

    DIST/JobMatcher/                                        the app folder (run DIST/JobMatcher/JobMatcher)
    DIST/JobMatcher-<version>-<platform>-<arch>.tar.gz     the same folder, compressed (.zip on Windows)

The work folder is emptied first, so every build starts from the source tree.
PyInstaller's own cache of stripped libraries (in ~/.cache/pyinstaller, or
$PYINSTALLER_CONFIG_DIR) is kept between builds; point PYINSTALLER_CONFIG_DIR
at an empty folder for a build that reuses nothing. Exit code 0 on success.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build" / "jobmatcher.spec"
APP_NAME = "JobMatcher"


def say(msg: str) -> None:
    print(f"build.py: {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> "None":
    say(f"error: {msg}")
    sys.exit(1)


def version() -> str:
    """The version the app reports (`jobmatcher --version`): jobmatcher.__version__, read without importing."""
    tree = ast.parse((ROOT / "backend" / "jobmatcher" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    die("backend/jobmatcher/__init__.py has no __version__")
    raise AssertionError


def platform_tag() -> str:
    """<platform>-<arch> for the archive name: linux-x86_64, windows-x86_64, macos-arm64, ..."""
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform.rstrip("0123456789"))
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine or "unknown")
    return f"{system}-{arch}"


def executable_name() -> str:
    return APP_NAME + (".exe" if sys.platform == "win32" else "")


def folder_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1_000_000:.0f} MB"


def preflight() -> None:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        die(f"PyInstaller is not installed in {sys.prefix}; run ./dev.sh bundle (it installs the `bundle` extra)")
    if sys.platform.startswith("linux"):
        missing = [tool for tool in ("objdump", "objcopy", "strip") if shutil.which(tool) is None]
        if missing:
            die(f"PyInstaller needs {', '.join(missing)} from binutils: apt-get install binutils")
    if not (ROOT / "frontend").is_dir():
        say("warning: there is no frontend/ folder: the bundle will have no window page")


def run_pyinstaller(dist: Path, work: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    say("running " + " ".join(cmd))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # keep __pycache__ out of the tree PyInstaller reads
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0:
        die(f"PyInstaller failed (exit code {result.returncode}); its messages are above")


def check_bundle(app: Path) -> None:
    """The few things a bundle must have; a quick run proves the executable starts."""
    internal = app / "_internal"
    need = [app / executable_name(), internal / "jobmatcher" / "migrations" / "env.py"]
    need += [
        internal / "jobmatcher" / "migrations" / "versions" / p.name
        for p in (ROOT / "backend" / "jobmatcher" / "migrations" / "versions").glob("*.py")
    ]
    if (ROOT / "frontend").is_dir():
        need += [
            internal / "frontend" / p.relative_to(ROOT / "frontend")
            for p in (ROOT / "frontend").rglob("*")
            if p.is_file()
        ]
    missing = [str(p.relative_to(app)) for p in need if not p.exists()]
    if missing:
        die("the bundle lacks: " + ", ".join(missing))
    for banned in ("pytest", "_pytest", "hypothesis", "playwright", "PyInstaller", "tkinter", "numpy", "matplotlib"):
        if (internal / banned).exists():
            die(f"the bundle contains {banned}, which must be excluded (see the spec's excludes)")
    out = subprocess.run([str(app / executable_name()), "--version"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or version() not in out.stdout:
        die(f"the bundled app did not start: exit {out.returncode}\n{out.stdout}{out.stderr}")


def make_archive(app: Path, dist: Path) -> Path:
    """The app folder, compressed, with JobMatcher/ at the top (symlinks kept: macOS frameworks need them)."""
    base = dist / f"{APP_NAME}-{version()}-{platform_tag()}"
    if sys.platform == "win32":
        path = base.with_name(base.name + ".zip")
        tmp = path.with_name(path.name + ".part")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for p in sorted(app.rglob("*")):
                z.write(p, p.relative_to(dist))
    else:
        path = base.with_name(base.name + ".tar.gz")
        tmp = path.with_name(path.name + ".part")
        with tarfile.open(tmp, "w:gz", compresslevel=6) as t:
            t.add(app, arcname=APP_NAME)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build/build.py", description="Build the JobMatcher bundle.")
    p.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    p.add_argument(
        "--work",
        type=Path,
        default=ROOT / "build" / "work",
        help="PyInstaller's work folder (default: build/work/; emptied first)",
    )
    p.add_argument("--no-archive", action="store_true", help="only the folder, no .tar.gz/.zip")
    args = p.parse_args(argv)
    dist, work = args.dist.absolute(), args.work.absolute()

    preflight()
    started = time.monotonic()
    shutil.rmtree(work, ignore_errors=True)
    app = dist / APP_NAME
    run_pyinstaller(dist, work)
    built = time.monotonic()
    check_bundle(app)
    archive = None
    if not args.no_archive:
        say("compressing")
        archive = make_archive(app, dist)
    done = time.monotonic()

    print(f"Bundle:  {app}  ({mb(folder_size(app))})")
    print(f"Run it:  {app / executable_name()}")
    if archive:
        print(f"Archive: {archive}  ({mb(archive.stat().st_size)})")
    print(f"Time:    {built - started:.0f} s PyInstaller, {done - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
