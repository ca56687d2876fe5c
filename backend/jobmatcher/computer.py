"""Which computer this is: the id a computer records at a backup location when it writes a data folder's copies
there, so that a data folder copied to another computer (a home folder copied over: same path, same data folder
id) is not a second, silent writer of one chain (finding X20; locations.manager._claim)."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path

from .fsutil import read_small_file

log = logging.getLogger(__name__)

COMPUTER_ID_NAME = "computer-id"
CONFIG_DIR_ENV = "JOBMATCHER_CONFIG_DIR"  # overrides the platform's user configuration folder (tests, portable use)
# The operating system's id of this installation (systemd, D-Bus): a copied home folder does not carry it along.
_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
# Tests only: this text in place of the system's machine id (a second "computer" in one test).
MACHINE_ID_ENV = "JOBMATCHER_TEST_MACHINE_ID"
# The key of the keyed hash that turns the machine id into this app's id for it: machine-id(5) asks applications
# not to show or send the machine id itself but an app-specific hash of it (as sd_id128_get_machine_app_specific).
_APP_KEY = b"JobMatcher computer id v1"


def _machine_id() -> str:
    override = os.environ.get(MACHINE_ID_ENV)
    if override:
        return override
    for name in _MACHINE_ID_FILES:
        try:
            text = read_small_file(Path(name), 4096).decode("utf-8", "replace").strip()
        except OSError:
            continue
        if text:
            return text[:128]
    return ""


def config_dir() -> Path:
    """The user's JobMatcher configuration folder: $JOBMATCHER_CONFIG_DIR, else platformdirs' user_config_dir."""
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("JobMatcher", appauthor=False))


def _config_id() -> str:
    """A random id kept in the user's configuration folder (made 0600 on first use); "" when it cannot be kept."""
    from .fsutil import atomic_write_bytes

    path = config_dir() / COMPUTER_ID_NAME
    try:
        text = read_small_file(path, 4096).decode("utf-8", "replace").strip()
        if len(text) == 32 and all(c in "0123456789abcdef" for c in text):
            return text
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_bytes(path, uuid.uuid4().hex.encode())
        text = read_small_file(path, 4096).decode("utf-8", "replace").strip()
    except OSError as e:
        log.warning("could not keep this computer's id in %s: %s", path, e)
        return ""
    return text


def computer_id() -> str | None:
    """This computer's id, 32 hex digits. Where the system has a machine id (Linux: /etc/machine-id), a keyed hash
    of it alone: the same computer keeps its id whoever runs JobMatcher and whatever happens to the user's
    configuration folder (a fresh HOME, a cleared ~/.config), and a data folder or home folder copied to another
    computer does not bring it along (Y8: a random id kept in the configuration folder, hashed in, made the same
    computer "another computer" once that folder was gone, and its copies stopped). Elsewhere (macOS, Windows)
    a random id kept in the user's configuration folder (config_dir: `computer-id`). None when neither can be
    had (then no computer is recorded). Never raises."""
    import hmac

    try:
        machine = _machine_id()
        if machine:
            return hmac.new(_APP_KEY, machine.encode(), hashlib.sha256).hexdigest()[:32]
        kept = _config_id()
    except Exception as e:  # noqa: BLE001 - an id that cannot be had records nothing; copies go on
        log.warning("this computer's id cannot be had: %s", e)
        return None
    return hashlib.sha256(kept.encode()).hexdigest()[:32] if kept else None
