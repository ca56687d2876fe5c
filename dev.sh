#!/usr/bin/env bash
# dev.sh: one command to set up and start JobMatcher, or to run its tests,
# on a fresh Debian or Ubuntu machine.
#
#   ./dev.sh run  [ARGS...]   set up .venv and start the app (ARGS go to jobmatcher)
#   ./dev.sh cli  [ARGS...]   the command line (the same as .venv/bin/jobmatcher ARGS),
#                             e.g. ./dev.sh cli backup list; no window libraries needed
#   ./dev.sh test [ARGS...]   set up .venv with the test tools and run pytest
#                             (ARGS go to pytest; the exit code is pytest's)
#   ./dev.sh check            lint (ruff check, ruff format --check) and type checks (mypy),
#                             as CI runs them first
#   ./dev.sh format           apply ruff's layout and import order (what check enforces)
#   ./dev.sh lock             resolve requirements/app.txt and dev.txt again after changing
#                             the dependencies in pyproject.toml (commit both with it)
#   ./dev.sh bundle [ARGS...] set up .venv with PyInstaller and build the packaged app:
#                             dist/JobMatcher/ and dist/JobMatcher-<version>-<platform>-<arch>.tar.gz
#                             (ARGS go to build/build.py, e.g. --no-archive)
#
# Environment: PYTHON picks the interpreter used to create .venv (default python3);
# JOBMATCHER_CHROMIUM overrides the Chromium used by the browser tests.
set -euo pipefail

# Work from the repository root, so .venv and pyproject.toml are found however
# the script was called (./dev.sh, bash ../main/dev.sh, .ci/run, ...).
SELF=$(readlink -f "${BASH_SOURCE[0]}")
cd "$(dirname "$SELF")"

VENV=.venv
PYTHON=${PYTHON:-python3}

# System libraries Qt WebEngine (the app window) loads.
QT_PACKAGES=(
    libnss3 libnspr4 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
    libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0
    libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 libgl1 libegl1 libgbm1 libgl1-mesa-dri
    libfontconfig1 libdbus-1-3 libasound2 libxcomposite1 libxdamage1 libxrandr2
    libxtst6 libxi6 libxkbfile1 fonts-dejavu-core
)
# Extra tools for the tests: Debian's Chromium for Playwright (`playwright install`
# cannot download here), Xvfb + xauth for windows without a display, binutils for PyInstaller,
# fuse3 (fusermount3 + libfuse3) for the power-loss file system in tests/crashfs.py,
# age (the reference age CLI) to prove an encrypted location copy decrypts without JobMatcher,
# gnome-keyring (a real Secret Service, on a private dbus-daemon bus) for S3 keys in the OS keyring,
# faketime (libfaketime) for a wrong clock under a real process, strace to kill a process at a chosen system call.
TEST_PACKAGES=(chromium xvfb xauth binutils fuse3 age gnome-keyring faketime strace)

say()  { printf 'dev.sh: %s\n' "$*" >&2; }
warn() { printf 'dev.sh: warning: %s\n' "$*" >&2; }
die()  { printf 'dev.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {   # $1 = exit code
    sed -n '2,21s/^# \{0,1\}//p' "$SELF" >&2
    exit "$1"
}

# Print the packages among "$@" that are not installed. A package also counts as
# installed when an installed package provides it (Ubuntu 24.04's libasound2t64
# provides libasound2), so re-runs do not call apt again for renamed packages.
missing_packages() {
    local have pkg
    have=$(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
        awk -F'|' '$1 ~ /^ii/ {
            print $2
            n = split($3, p, /, */)
            for (i = 1; i <= n; i++) { sub(/ .*/, "", p[i]); if (p[i] != "") print p[i] }
        }')
    for pkg in "$@"; do
        grep -qxF -- "$pkg" <<<"$have" || printf '%s\n' "$pkg"
    done
}

# Install the missing packages among "$@" with apt-get: directly as root, through
# sudo otherwise. Without either, or if apt fails, say what is missing and go on:
# the app may still start, and a failing test will then point at the cause.
APT_UPDATED=
ensure_system_packages() {
    local missing=() pkg sudo=()
    if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
        warn "not a Debian/Ubuntu system; make sure these are installed: $*"
        return 0
    fi
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]})) || return 0          # everything present: no apt call at all

    if ((EUID != 0)); then
        if command -v sudo >/dev/null; then
            sudo=(sudo)
        else
            warn "missing system packages, and not root and no sudo; as root run:"
            warn "  apt-get install --no-install-recommends ${missing[*]}"
            return 0
        fi
    fi
    # noninteractive: CI has no stdin; Lock::Timeout: wait for a running apt/unattended-upgrades.
    apt_get() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"; }

    say "installing system packages: ${missing[*]}"
    if [[ -z $APT_UPDATED ]]; then          # refresh the package lists once per run
        apt_get update || warn "apt-get update failed; trying with the lists we have"
        APT_UPDATED=1
    fi
    if ! apt_get install -y --no-install-recommends "${missing[@]}"; then
        # One unknown name (Ubuntu has no plain 'chromium' deb) makes apt refuse the
        # whole list: retry one by one so that the others still get installed.
        for pkg in "${missing[@]}"; do
            apt_get install -y --no-install-recommends "$pkg" || warn "could not install $pkg"
        done
    fi
}

# Create .venv unless a working one is there. A venv whose Python is gone, or a
# half-made one (Debian without python3-venv leaves one with no pip), is rebuilt.
ensure_venv() {
    if [[ -x $VENV/bin/pip ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
        return 0
    fi
    command -v "$PYTHON" >/dev/null || ensure_system_packages python3 python3-venv
    command -v "$PYTHON" >/dev/null || die "no $PYTHON found; install Python 3.11 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$("$PYTHON" -V 2>&1) is too old: JobMatcher needs Python 3.11 or newer (set PYTHON=...)"
    # Debian and Ubuntu ship the venv module without ensurepip; python3-venv adds it.
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || ensure_system_packages python3-venv
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
        die "$PYTHON cannot create virtual environments; install python3-venv (or python3.X-venv for your version)"
    say "creating $VENV with $("$PYTHON" -V 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
}

# -- the lock files ---------------------------------------------------------------------
# Every package is installed at the exact version and hash in requirements/, so a
# fresh clone (or the bundle rebuilt next month) gets the same packages:
#   requirements/app.txt  jobmatcher[gui]             (run, cli)
#   requirements/dev.txt  jobmatcher[gui,test,bundle] (test, check, bundle), held to app.txt's versions
# Both are made by `./dev.sh lock` (uv pip compile --universal: one file for Linux, macOS
# and Windows) and carry the checksum of pyproject.toml's dependency lists, so a change
# there without a new lock is noticed: CI fails, a developer's dev.sh makes the lock again.
LOCK_DIR=requirements
UV_VERSION=0.13.9

# The checksum of what the lock is made from: requires-python, dependencies, the extras.
deps_checksum() {
    "$VENV/bin/python" - <<'PY'
import hashlib, json, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
proj = p["project"]
extras = proj.get("optional-dependencies", {})
key = [proj.get("requires-python"), proj.get("dependencies", []),
       {k: extras.get(k, []) for k in ("gui", "test", "bundle")}]
print(hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest())
PY
}

lock_is_current() {
    local sum f
    sum=$(deps_checksum)
    for f in "$LOCK_DIR/app.txt" "$LOCK_DIR/dev.txt"; do
        [[ -f $f ]] && grep -qxF "# pyproject-deps-sha256: $sum" "$f" || return 1
    done
}

make_lock() {
    local sum compile
    say "resolving requirements/app.txt and requirements/dev.txt with uv $UV_VERSION"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "uv==$UV_VERSION"
    sum=$(deps_checksum)
    mkdir -p "$LOCK_DIR"
    compile=("$VENV/bin/uv" pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes
             --quiet --no-progress --custom-compile-command "./dev.sh lock")
    "${compile[@]}" --extra gui -o "$LOCK_DIR/app.txt.new"
    # dev.txt is held to app.txt's versions, so tests and the bundle use exactly what `run` uses.
    "${compile[@]}" --extra gui --extra test --extra bundle -c "$LOCK_DIR/app.txt.new" -o "$LOCK_DIR/dev.txt.new"
    for f in app dev; do
        { printf '# pyproject-deps-sha256: %s\n' "$sum"; cat "$LOCK_DIR/$f.txt.new"; } >"$LOCK_DIR/$f.txt"
        rm -f "$LOCK_DIR/$f.txt.new"
    done
    say "wrote $LOCK_DIR/app.txt and $LOCK_DIR/dev.txt; commit them with pyproject.toml"
}

ensure_lock() {
    lock_is_current && return 0
    if [[ -n ${CI:-} ]]; then
        die "requirements/*.txt do not match pyproject.toml's dependencies: run ./dev.sh lock and commit the result"
    fi
    say "pyproject.toml's dependencies changed since requirements/ was made: making the lock again"
    make_lock
}

# Install the packages of lock $1 ("app" or "dev"), then the project itself (editable),
# but only when the lock or pyproject.toml changed since: a stamp file in .venv holds
# their checksum, so re-runs take no time. The dev lock also serves what needs app.
ensure_installed() {
    local lock=$1
    ensure_lock
    installed "$lock" && return 0
    [[ $lock == app ]] && installed dev && return 0   # dev.txt has all of app.txt, at the same versions
    say "installing $LOCK_DIR/$lock.txt and jobmatcher into $VENV (first run or the lock changed; the first time takes a few minutes)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --require-hashes -r "$LOCK_DIR/$lock.txt"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps -e .
    stamp_sum "$lock" >"$VENV/.dev-installed-$lock"
}

stamp_sum() { cat "$LOCK_DIR/$1.txt" pyproject.toml | sha256sum | cut -d' ' -f1; }
installed() { [[ -f $VENV/.dev-installed-$1 && $(<"$VENV/.dev-installed-$1") == "$(stamp_sum "$1")" ]]; }

# Qt WebEngine refuses to start as root unless its Chromium sandbox is off.
root_sandbox_off() {
    if ((EUID == 0)); then export QTWEBENGINE_DISABLE_SANDBOX=1; fi
}

cmd_run() {
    ensure_system_packages "${QT_PACKAGES[@]}"
    ensure_venv
    ensure_installed app
    root_sandbox_off
    # With no display a Qt window cannot open: serve the page on 127.0.0.1 instead
    # (the app prints the URL), unless the user asked for something specific.
    if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} && $# -eq 0 ]]; then
        say "no DISPLAY or WAYLAND_DISPLAY: starting in browser mode (jobmatcher --browser)"
        set -- --browser
    fi
    [[ -x $VENV/bin/jobmatcher ]] || die "$VENV/bin/jobmatcher is missing; is [project.scripts] in pyproject.toml?"
    exec 9<&-                               # let go of the set-up lock (see below)
    exec "$VENV/bin/jobmatcher" "$@"
}

# The command line needs no display and no Qt libraries: just the installed package.
cmd_cli() {
    ensure_venv
    ensure_installed app
    exec 9<&-
    exec "$VENV/bin/jobmatcher" "$@"
}

cmd_test() {
    ensure_system_packages "${QT_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    ensure_venv
    ensure_installed dev
    root_sandbox_off
    # The browser tests launch this Chromium through Playwright.
    export JOBMATCHER_CHROMIUM=${JOBMATCHER_CHROMIUM:-/usr/bin/chromium}
    [[ -x $JOBMATCHER_CHROMIUM ]] || warn "no Chromium at $JOBMATCHER_CHROMIUM: browser tests will fail (set JOBMATCHER_CHROMIUM)"
    exec 9<&-
    # exec: pytest's exit code is ours (5 = no tests collected is passed on as is).
    exec "$VENV/bin/python" -m pytest -ra "$@"
}

cmd_lock() {
    ensure_venv
    make_lock
}

cmd_check() {
    ensure_venv
    ensure_installed dev
    exec 9<&-
    local failed=0
    say "ruff check"
    "$VENV/bin/ruff" check --no-cache . || failed=1
    say "ruff format --check (run ./dev.sh format to apply it)"
    "$VENV/bin/ruff" format --check --no-cache . || failed=1
    say "mypy (backend/jobmatcher, with the pydantic plugin)"
    "$VENV/bin/mypy" --no-incremental || failed=1
    ((failed == 0)) || die "lint or type checks failed (see above)"
    say "lint and type checks passed"
}

cmd_format() {
    ensure_venv
    ensure_installed dev
    exec 9<&-
    "$VENV/bin/ruff" check --no-cache --select I --fix .
    "$VENV/bin/ruff" format --no-cache .
}

# PyInstaller copies the Qt libraries and the system libraries they link against
# (libnss3, libxcb-*, ...) into the bundle, so they must be on the build machine;
# it reads them with objdump/objcopy and strips them with strip (binutils).
cmd_bundle() {
    ensure_system_packages "${QT_PACKAGES[@]}" binutils
    ensure_venv
    ensure_installed dev
    exec 9<&-
    exec "$VENV/bin/python" build/build.py "$@"
}

(($#)) || usage 2
command=$1
shift

# Two dev.sh started at once (two terminals, an editor and a shell) must not build
# .venv or run apt side by side: hold a lock on this very file while setting up.
exec 9<"$SELF"
if command -v flock >/dev/null; then flock 9; fi

case $command in
    run) cmd_run "$@" ;;
    cli) cmd_cli "$@" ;;
    test) cmd_test "$@" ;;
    check) cmd_check ;;
    format) cmd_format ;;
    lock) cmd_lock ;;
    bundle) cmd_bundle "$@" ;;
    -h | --help | help) usage 0 ;;
    *) say "unknown command: $command"; usage 2 ;;
esac
