"""A real Secret Service for the tests: a private D-Bus session bus and gnome-keyring-daemon on it.

The bus is this test's own (its own socket, its own configuration with no service folders, so nothing is
started on demand: a stopped keyring stays stopped, and no unlock prompt can be launched to wait for a
user). gnome-keyring-daemon runs on it with a home of its own and unlocks (creating it the first time) its
"login" keyring with a password given on stdin, as a desktop login does. Both are stopped by their pids.
The app under test gets `env` (DBUS_SESSION_BUS_ADDRESS) and finds the keyring as on a desktop.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PASSWORD = "login-keyring-password"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Run in the environment the app gets: what `keyring` (the app's library) sees there.
_PROBE = """
import sys, keyring
kr = keyring.get_keyring()
if sys.argv[1] == "backend":
    print(type(kr).__module__ + "." + type(kr).__name__)
elif sys.argv[1] == "get":
    v = kr.get_password("JobMatcher", sys.argv[2])
    print("" if v is None else v)
elif sys.argv[1] == "lock":
    import secretstorage
    from contextlib import closing
    with closing(secretstorage.dbus_init()) as bus:
        secretstorage.get_default_collection(bus).lock()
"""


class SecretServiceUnavailable(RuntimeError):
    """gnome-keyring or dbus-daemon is missing or does not start here: the tests skip."""


class SecretService:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bus: subprocess.Popen | None = None
        self.daemon: subprocess.Popen | None = None
        self.address = ""

    @property
    def env(self) -> dict[str, str]:
        """What the app's processes need to find this keyring (and nothing of the user's own session)."""
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def _daemon_env(self) -> dict[str, str]:
        home = self.folder / "home"
        runtime = self.folder / "run"
        for d in (home, runtime):
            d.mkdir(mode=0o700, exist_ok=True)
        return {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),  # the keyrings live in …/keyrings
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(runtime),
            "DBUS_SESSION_BUS_ADDRESS": self.address,
        }

    def start(self, timeout: float = 20) -> "SecretService":
        for tool in ("dbus-daemon", "gnome-keyring-daemon"):
            if shutil.which(tool) is None:
                raise SecretServiceUnavailable(f"{tool} is not installed (dev.sh installs gnome-keyring)")
        self.folder.mkdir(parents=True, exist_ok=True)
        socket = self.folder / "bus.sock"
        config = self.folder / "bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=socket))
        self.bus = subprocess.Popen(
            ["dbus-daemon", "--nofork", f"--config-file={config}", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.bus.stdout is not None
        self.address = self.bus.stdout.readline().strip()
        if not self.address:
            self.stop()
            raise SecretServiceUnavailable("dbus-daemon did not start a session bus")
        try:
            self.start_keyring(timeout)
        except SecretServiceUnavailable:
            self.stop()
            raise
        return self

    def start_keyring(self, timeout: float = 20) -> None:
        """Start gnome-keyring-daemon on the bus, its login keyring unlocked with PASSWORD (as at a desktop login)."""
        self.daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "gnome-keyring.log", "ab"),
            env=self._daemon_env(),
            start_new_session=True,
        )
        assert self.daemon.stdin is not None
        self.daemon.stdin.write(PASSWORD.encode())
        self.daemon.stdin.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                break
            if self.probe("backend").endswith("SecretService.Keyring"):
                return
            time.sleep(0.2)
        log = (self.folder / "gnome-keyring.log").read_text(errors="replace")[-2000:]
        self.stop_keyring()
        raise SecretServiceUnavailable(f"gnome-keyring-daemon did not serve the Secret Service: {log}")

    def probe(self, *args: str) -> str:
        """Run `keyring` in a fresh process on this bus: 'backend', 'get NAME' (the stored value or '') or 'lock'."""
        r = subprocess.run(
            [sys.executable, "-c", _PROBE, *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **self.env},
        )
        if r.returncode != 0 and args[0] != "backend":
            raise RuntimeError(r.stderr)
        return r.stdout.strip()

    def stop_keyring(self) -> None:
        _end(self.daemon)
        self.daemon = None

    def stop(self) -> None:
        self.stop_keyring()
        _end(self.bus)
        self.bus = None


def _end(p: subprocess.Popen | None) -> None:
    if p is None or p.poll() is not None:
        return
    os.killpg(p.pid, signal.SIGTERM)  # its own session: that process and what it started, nothing else
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
