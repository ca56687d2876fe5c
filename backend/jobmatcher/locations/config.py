"""The configured locations (`locations.json`) and what the copier last saw of each (`locations-state.json`).

Both live in the data folder. The configuration holds no secret: access keys
are in the keyring or the 0600 credentials file, the identity only encrypted.
The public recipient that copies are encrypted to is kept here with the
locations it serves.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..datadir import LOCATIONS_NAME
from ..errors import SettingsError
from ..fsutil import atomic_write_bytes, read_small_file
from ..settings import (
    KEEP_ALL_HOURS,
    KEEP_DAILY_DAYS,
    KEEP_MONTHLY_MONTHS,
    KEEP_WEEKLY_WEEKS,
    KeepAllHours,
    KeepDailyDays,
    KeepMonthlyMonths,
    KeepWeeklyWeeks,
    RetentionDays,
    RetentionPolicyName,
)

CONFIG_NAME = LOCATIONS_NAME
STATE_NAME = "locations-state.json"
IDENTITY_NAME = "location-identity.age"
# Beside it: the recipient it opened to when last unlocked, bound to its bytes (never a secret; finding U4).
RECIPIENT_PROOF_NAME = "location-identity.recipient"
# While a passphrase change is not yet at every location (X13): the key files it replaced (each locked with an
# earlier passphrase: what an unreached location still holds) and the locations still to update. Deleted once
# every location holds the new key file.
RELOCK_NAME = "location-identity.relock.json"
# The SHA-256 of every key file this data folder's key file replaced (a passphrase change, a location's file
# kept: B11), kept for good: a location found holding one of them is behind, and gets the current file; its
# passphrase (an earlier one) never makes the data folder take it back.
EARLIER_KEYS_NAME = "location-identity.earlier.json"
NAME_SHAPE = re.compile(r"^[^\x00-\x1f/\\]{1,60}\Z")


def check_new_name(name: str) -> str:
    """A new location's name, stripped; refused when a list would have to show it escaped (control, text-direction
    or separator characters: it could not be typed back as seen, L21), has a slash or is not 1 to 60 characters.

    Raises ValidationError, code "invalid-location-name"."""
    from ..errors import ValidationError as NameError_
    from ..printable import printable

    name = name.strip()
    from ..fsutil import is_utf8, shown_bytes

    if not is_utf8(name):  # typed in a terminal set to another encoding: locations.json cannot keep it (X27)
        raise NameError_(
            f"The location name '{shown_bytes(name)}' is not valid UTF-8 text (typed in another encoding).",
            "Type the name again in a terminal set to UTF-8, or use plain letters and digits.",
            code="invalid-location-name",
        )
    if not NAME_SHAPE.match(name) or printable(name) != name:
        raise NameError_(
            f"'{printable(name)}' cannot be a location name.",
            "Use up to 60 characters, without slashes, control characters or text-direction marks.",
            code="invalid-location-name",
        )
    return name


DEFAULT_RETENTION_DAYS = 90
# The configuration's format: 2 added each location's retention policy (format 1 had only its days).
FORMAT = 2
# A location's retention: the fields it shares with the backup folder's settings (same names, same limits).
RETENTION_FIELDS = (
    "retention_policy",
    "retention_days",
    "keep_all_hours",
    "keep_daily_days",
    "keep_weekly_weeks",
    "keep_monthly_months",
)


class LocationConfig(BaseModel):
    """One backup location as the user added it (no secrets)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    kind: Literal["folder", "s3"]
    path: str | None = None
    marker_id: str = ""  # folder: the id in its marker file when added ("" before markers had ids); see folder.py
    endpoint_url: str | None = None
    bucket: str | None = None
    prefix: str = ""
    region: str | None = None
    credentials: Literal["keyring", "file", "none"] = "none"
    encrypt: bool = True
    enabled: bool = True
    # Its retention, the backup folder's policy with its own numbers (retention.RetentionPolicy.from_settings
    # reads them). A new location is tiered with the backup folder's default tiers; manual backups are kept
    # longer there (90 days: an off-site copy is the one kept longest).
    retention_policy: RetentionPolicyName = "tiered"
    retention_days: RetentionDays = DEFAULT_RETENTION_DAYS
    keep_all_hours: KeepAllHours = KEEP_ALL_HOURS
    keep_daily_days: KeepDailyDays = KEEP_DAILY_DAYS
    keep_weekly_weeks: KeepWeeklyWeeks = KEEP_WEEKLY_WEEKS
    keep_monthly_months: KeepMonthlyMonths = KEEP_MONTHLY_MONTHS
    added_at: datetime

    def where(self) -> str:
        """Where the location is, for people: its folder, or s3://bucket/prefix (at the endpoint). Never raises."""
        if self.kind == "folder":
            return str(self.path)
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        if not self.endpoint_url:
            return where
        from .s3 import without_userinfo

        return f"{where} at {without_userinfo(self.endpoint_url)}"


class LocationsConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: int = FORMAT
    recipient: str | None = Field(None, description="age recipient (public key) copies are encrypted to.")
    recipient_binding: str | None = Field(
        None,
        description="recipient_binding(recipient, the locked identity's bytes): ties the recipient to this data "
        "folder's key file, so that a recipient changed by hand or a configuration carried over from another data "
        "folder is refused before a copy is encrypted to it (finding T9). None in configurations of older versions "
        "(set at their next encrypted copy).",
    )
    locations: list[LocationConfig] = []

    @model_validator(mode="before")
    @classmethod
    def _simple_before_format_2(cls, data):
        """A configuration written before locations had a policy (format 1) kept every copy its number of
        days: its locations keep meaning exactly that (the simple policy), so an upgrade deletes nothing."""
        if isinstance(data, dict) and int(data.get("format") or 1) < FORMAT:
            data = dict(data)
            data["locations"] = [
                {"retention_policy": "simple", **x} if isinstance(x, dict) else x for x in data.get("locations") or []
            ]
            data["format"] = FORMAT
        return data


class LocationState(BaseModel):
    """What the copier last saw of one location."""

    model_config = ConfigDict(extra="ignore")

    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str = ""
    last_error_code: str = ""
    failures: int = 0
    next_try_at: datetime | None = None
    copied: list[str] = Field(default_factory=list, description="Ids of this data folder's copies there.")
    used_bytes: int = 0
    # D5: the copies `location sync --verify` read back damaged, by id, each with the SHA-256 of the stored bytes
    # its manifest there records: the verdict holds while that copy is there (a new copy has another manifest),
    # and is shown by every later listing, not only by the read-back that found it
    read_back_damaged: dict[str, str] = Field(default_factory=dict)
    # D5, D15: this data folder's copies there last seen damaged (read back so, or not the size written), by id:
    # what status says without contacting the location
    damaged: list[str] = Field(default_factory=list)


# the settings' names as the person knows them (Y9c: pydantic's own text named fields and linked its site)
_SETTING_WORDS = {
    "endpoint_url": "endpoint URL",
    "region": "region",
    "bucket": "bucket",
    "prefix": "prefix",
    "path": "folder",
    "name": "name",
    "kind": "kind (folder or s3)",
    "id": "id",
    "encrypt": "encryption setting",
    "recipient": "encryption key",
    "added_at": "date it was added",
}


def _why_damaged(e: Exception, data: object) -> str:
    """What is wrong in a damaged settings file, in its user's words: which location and which setting, never
    pydantic's text (field names, escapes, a link to its site). Never raises."""
    if not isinstance(e, ValidationError):
        return "it is not readable JSON text"
    try:
        first = e.errors()[0]
        loc = list(first.get("loc", ()))
        where = ""
        if len(loc) >= 2 and isinstance(loc[1], int):
            entry = data.get(loc[0], [])[loc[1]] if isinstance(data, dict) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f" of the location {name!r}" if isinstance(name, str) else f" of location number {loc[1] + 1}"
            loc = loc[2:]
        setting = _SETTING_WORDS.get(str(loc[0]), str(loc[0]).replace("_", " ")) if loc else "content"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        return f"the {setting}{where} is not valid{more}"
    except Exception:  # noqa: BLE001 - only the wording is at stake
        return "a setting in it is not valid"


def _load(path: Path, model, what: str):
    try:
        raw = read_small_file(path)
    except FileNotFoundError:
        return model()
    data = None
    try:
        data = json.loads(raw)
        return model.model_validate(data)
    except (ValueError, ValidationError, RecursionError) as e:  # RecursionError: nested past the parser's depth
        raise SettingsError(
            f"The {what} file {path} is damaged: {_why_damaged(e, data)}.",
            "Fix or delete that file (deleting it forgets the locations, not the copies).",
        ) from e


def recipient_binding(recipient: str, locked: bytes) -> str:
    """SHA-256 (hex) of a recipient (`age1…`) and the bytes of the locked identity it belongs to. Not a secret
    and no proof against a program that rewrites both files (it needs no passphrase): it catches a recipient
    that no longer goes with the key file beside it. Never raises."""
    import hashlib

    h = hashlib.sha256(b"JobMatcher recipient binding v1\n")
    h.update(recipient.encode() + b"\n")
    h.update(locked)
    return h.hexdigest()


def load_config(root: Path) -> LocationsConfig:
    """The locations configured for the data folder `root` (none when the file is missing).

    Raises SettingsError when the file is damaged (not JSON, or not a valid configuration);
    OSError when it exists but cannot be read."""
    return _load(root / CONFIG_NAME, LocationsConfig, "backup locations")


def save_config(root: Path, config: LocationsConfig) -> None:
    """Write the locations' configuration atomically. Raises OSError when it cannot be written (it is then
    as it was)."""
    atomic_write_bytes(root / CONFIG_NAME, config.model_dump_json(indent=2).encode())


def load_states(root: Path) -> dict[str, LocationState]:
    """What the copier last saw of each location, by location id. Never raises: a missing or damaged file
    (only a cache) reads as empty."""
    try:
        raw = json.loads(read_small_file(root / STATE_NAME))
        return {k: LocationState.model_validate(v) for k, v in raw.items()}
    except (OSError, ValueError, ValidationError, AttributeError):
        return {}  # only a cache of what was seen: rebuilt by the next sync


def save_states(root: Path, states: dict[str, LocationState]) -> None:
    """Write the copier's states atomically. Raises OSError when they cannot be written."""
    body = {k: v.model_dump(mode="json") for k, v in states.items()}
    atomic_write_bytes(root / STATE_NAME, json.dumps(body, indent=2).encode())
