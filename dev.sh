#!/usr/bin/env bash
# dev.sh: one command to set up and start JobMatcher, or to run its tests,
# on a fresh Debian or Ubuntu machine.
#
#   ./dev.sh run  [ARGS...]   set up .venv and start the app (ARGS go to jobmatcher)
#   ./dev.sh cli  [ARGS...]   the command line (the same as .venv/bin/jobmatcher ARGS),
#                             e.g. ./dev.sh cli backup list; no window libraries needed
#   ./dev.sh test [ARGS...]   set up .venv with the test tools and run pytest
#                             (ARGS go to pytest; the exit code is pytest's)
#   ./dev.sh check            lint (ruff) and type checks (mypy), as CI runs them first
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
# cannot download here), Xvfb + xauth for windows without a display, binutils for PyInstaller.
TEST_PACKAGES=(chromium xvfb xauth binutils)

say()  { printf 'dev.sh: %s\n' "$*" >&2; }
warn() { printf 'dev.sh: warning: %s\n' "$*" >&2; }
die()  { printf 'dev.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {   # $1 = exit code
    sed -n '2,16s/^# \{0,1\}//p' "$SELF" >&2
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

# Install the project (editable) with the extras $1, e.g. "gui" or "gui,test,bundle",
# but only when pyproject.toml changed since the last install: a stamp file in .venv
# holds its checksum, so re-runs take no time. Further arguments name extras sets
# that include $1 (a test install also serves `run`).
ensure_installed() {
    local extras=$1 sum set stamp
    sum=$(sha256sum pyproject.toml | cut -d' ' -f1)
    for set in "$@"; do
        stamp=$VENV/.dev-installed-${set//,/-}
        [[ -f $stamp && $(<"$stamp") == "$sum" ]] && return 0
    done
    say "installing jobmatcher[$extras] into $VENV (first run or pyproject.toml changed; the first time takes a few minutes)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".[$extras]"
    printf '%s\n' "$sum" >"$VENV/.dev-installed-${extras//,/-}"
}

# Qt WebEngine refuses to start as root unless its Chromium sandbox is off.
root_sandbox_off() {
    if ((EUID == 0)); then export QTWEBENGINE_DISABLE_SANDBOX=1; fi
}

cmd_run() {
    ensure_system_packages "${QT_PACKAGES[@]}"
    ensure_venv
    ensure_installed gui gui,test,bundle
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
    ensure_installed gui gui,test,bundle
    exec 9<&-
    exec "$VENV/bin/jobmatcher" "$@"
}

cmd_test() {
    ensure_system_packages "${QT_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    ensure_venv
    ensure_installed gui,test,bundle
    root_sandbox_off
    # The browser tests launch this Chromium through Playwright.
    export JOBMATCHER_CHROMIUM=${JOBMATCHER_CHROMIUM:-/usr/bin/chromium}
    [[ -x $JOBMATCHER_CHROMIUM ]] || warn "no Chromium at $JOBMATCHER_CHROMIUM: browser tests will fail (set JOBMATCHER_CHROMIUM)"
    exec 9<&-
    # exec: pytest's exit code is ours (5 = no tests collected is passed on as is).
    exec "$VENV/bin/python" -m pytest -ra "$@"
}

cmd_check() {
    ensure_venv
    ensure_installed gui,test,bundle
    exec 9<&-
    local failed=0
    say "ruff check"
    "$VENV/bin/ruff" check --no-cache . || failed=1
    say "mypy (backend/jobmatcher, with the pydantic plugin)"
    "$VENV/bin/mypy" --no-incremental || failed=1
    ((failed == 0)) || die "lint or type checks failed (see above)"
    say "lint and type checks passed"
}

# PyInstaller copies the Qt libraries and the system libraries they link against
# (libnss3, libxcb-*, ...) into the bundle, so they must be on the build machine;
# it reads them with objdump/objcopy and strips them with strip (binutils).
cmd_bundle() {
    ensure_system_packages "${QT_PACKAGES[@]}" binutils
    ensure_venv
    ensure_installed gui,bundle gui,test,bundle
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
    bundle) cmd_bundle "$@" ;;
    -h | --help | help) usage 0 ;;
    *) say "unknown command: $command"; usage 2 ;;
esac
