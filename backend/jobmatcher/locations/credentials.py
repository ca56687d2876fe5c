"""Where a location's access keys are kept: the OS keyring (through `keyring`) when one is available,
else a file readable only by the user (0600) in the data folder.

Keys are written once, read when a copy needs them, and never logged,
printed or sent to the page.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import KeyringLockedError, LocationCredentialsError
from ..fsutil import atomic_write_bytes, read_small_file

log = logging.getLogger(__name__)

SERVICE = "JobMatcher"
FILE_NAME = "location-credentials.json"
# "file" forces the 0600 file (tests; machines whose keyring asks for a password at every access).
BACKEND_ENV = "JOBMATCHER_CREDENTIALS"


@dataclass(frozen=True)
class S3Keys:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never show the secret, not even in a traceback's locals
        return f"S3Keys(access_key_id={self.access_key_id[:4]}…, secret_access_key=***)"


def _keyring():
    """The OS keyring backend, or None when there is none usable (headless Linux without a secret service)."""
    if os.environ.get(BACKEND_ENV) == "file":
        return None
    try:
        import keyring

        kr = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring configuration: fall back to the file
        return None
    if getattr(kr, "priority", 0) <= 0:  # keyring's fail/null backends, or a chainer with nothing in it
        return None
    return kr


def _file(data_root: Path) -> Path:
    return data_root / FILE_NAME


def _read_file(data_root: Path) -> dict:
    try:
        body = json.loads(read_small_file(_file(data_root)))
        return body if isinstance(body, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_file(data_root: Path, body: dict) -> None:
    atomic_write_bytes(_file(data_root), json.dumps(body, indent=2).encode())  # 0600, whole or not at all


def save_keys(data_root: Path, location_id: str, keys: S3Keys) -> str:
    """Store the keys; returns where ("keyring" or "file": a 0600 file in the data folder when the OS
    keyring refuses). Raises OSError when the file is needed and cannot be written."""
    value = json.dumps({"access_key_id": keys.access_key_id, "secret_access_key": keys.secret_access_key})
    kr = _keyring()
    if kr is not None:
        try:
            kr.set_password(SERVICE, f"location-{location_id}", value)
            return "keyring"
        except Exception as e:  # noqa: BLE001 - locked or refusing keyring: the file still works
            log.warning(
                "the OS keyring refused the location's keys (%s); keeping them in a 0600 file", type(e).__name__
            )
    body = _read_file(data_root)
    body[location_id] = json.loads(value)
    _write_file(data_root, body)
    return "file"


def _keyring_locked(why: str) -> KeyringLockedError:
    return KeyringLockedError(
        f"The system keyring that holds this location's access keys {why}, so no copy can be made now.",
        "Unlock it (log in to your desktop session, or unlock the keyring named 'login'); "
        "the copies waiting are made then.",
    )


def load_keys(data_root: Path, location_id: str, where: str) -> S3Keys:
    """The stored keys (`where`: "keyring" or "file", as save_keys returned).

    Raises KeyringLockedError when they are in the OS keyring and it is locked or not running (they may well
    be there: the copy waits), LocationCredentialsError when they are gone.
    """
    raw = None
    if where == "keyring":
        kr = _keyring()
        if kr is None:
            raise _keyring_locked("is not running (or cannot be reached)")
        try:
            value = kr.get_password(SERVICE, f"location-{location_id}")
        except Exception as e:  # noqa: BLE001 - keyring's KeyringLocked, InitError, a D-Bus error…
            log.warning("the OS keyring did not give the location's keys (%s)", type(e).__name__)
            raise _keyring_locked("is locked or did not answer") from None
        try:
            raw = json.loads(value) if value else None
        except ValueError:
            raw = None
    else:
        raw = _read_file(data_root).get(location_id)
    if not isinstance(raw, dict) or not raw.get("access_key_id") or not raw.get("secret_access_key"):
        raise LocationCredentialsError(
            "The access keys of this backup location are missing "
            + ("from the system keyring." if where == "keyring" else f"({_file(data_root)} lost them)."),
            "Remove the location and add it again with its access keys.",
        )
    return S3Keys(raw["access_key_id"], raw["secret_access_key"])


def forget_keys(data_root: Path, location_id: str, where: str) -> bool:
    """Delete the stored keys of a removed location (gone already is fine); False when the keyring that holds
    them could not be reached (locked or not running: they stay there, under JobMatcher / location-<id>).
    Never raises for the keyring; OSError when the keys file cannot be rewritten."""
    if where == "keyring":
        kr = _keyring()
        if kr is None:
            return False
        try:
            if kr.get_password(SERVICE, f"location-{location_id}") is None:
                return True
            kr.delete_password(SERVICE, f"location-{location_id}")
        except Exception as e:  # noqa: BLE001
            log.warning("the OS keyring did not delete the location's keys (%s)", type(e).__name__)
            return False
        return True
    body = _read_file(data_root)
    if body.pop(location_id, None) is not None:
        _write_file(data_root, body)
    return True
