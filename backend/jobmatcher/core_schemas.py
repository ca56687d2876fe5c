"""The manifest's and the settings' validation as pydantic-core schemas: pydantic v2's own validator, without
pydantic's model layer, for the command that must start fast (`backup list`, issue 13).

Importing pydantic and building the first models' validators costs a `backup list` of 1,000 backups more than
everything else it does. The same checks run here at the boundary, in pydantic's own core (the Rust validator
every model uses), from schemas written out once: no `import pydantic`, no model class built. They produce plain
dicts of the same values the models would hold.

The models stay the single source of truth (manifest.Manifest, settings.Settings): every other path reads with
them, and tests/test_core_schemas.py holds these schemas equal to them on every manifest and settings case of
tests/corpus.py and on manifests the engine writes (hostile ones too): both accept the same inputs, with the same
values, and refuse the same ones. A field added to a model fails that test until it is added here.

The field types both share (BackupType, the UTC date rule, lower-case digests) are defined here, so that the
models and these schemas call the very same functions.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from enum import Enum
from functools import lru_cache
from typing import Any

# Dates outside these years are a broken clock or a hand-edited file, never a real backup's time.
FIRST_YEAR, LAST_YEAR = 1971, 9000
# The bounds of a manifest's numbers (in the backup folder and at locations): no file is larger than the largest
# size an OS can report (off_t); no copy or check takes a year; no data folder makes 2**53 backups (the largest
# integer every JSON reader keeps exact, the page's included); no format JobMatcher writes is numbered past 1000.
# A number beyond them is a damaged or hostile manifest: "unreadable" like any other invalid value, never a size
# that takes the whole list down when it is shown (finding T2). Counts and flags are strict JSON types: "yes",
# "12" or 3.0 are not what JobMatcher writes (finding T3).
MAX_FILE_BYTES = 2**63 - 1
MAX_SECONDS = 366 * 24 * 3600
MAX_SEQUENCE = 2**53 - 1
MAX_FORMAT = 1000
MAX_AUTO_BACKUP_MINUTES = 7 * 24 * 60


class BackupType(str, Enum):
    manual = "manual"
    pre_migration = "pre-migration"
    safety = "safety"
    auto = "auto"


def as_utc(v: datetime | None) -> datetime | None:
    """A date read from a file, in UTC. One without a time zone is taken as UTC: JobMatcher writes every
    date in UTC and names backups by their UTC time, so a zone-less date (another tool, a hand edit, an
    older writer) is read as the UTC it almost certainly is, never as the machine's local time (that would
    shift it by the time zone, and differently on each machine). Absurd years (a broken clock, a hand-edited
    file) are refused: raises ValueError (pydantic turns it into the manifest's validation error)."""
    if v is None:
        return v
    if v.tzinfo is None or v.utcoffset() is None:
        v = v.replace(tzinfo=timezone.utc)
    if not FIRST_YEAR <= v.year <= LAST_YEAR:
        raise ValueError("a date out of range")
    return v.astimezone(timezone.utc)


def lower_hex(v: str | None) -> str | None:
    """A checksum as lower-case hex: the same digest written in capitals (a tool that rewrote the manifest)
    is the same digest, compared alike everywhere (finding H6's addendum)."""
    return v.lower() if isinstance(v, str) else v


def hours_to_minutes(hours) -> int:
    """An interval in hours (the old setting) as whole minutes: at least 1 unless 0, at most 7 days.

    Any number of hours beyond 7 days (1e308, infinity, a 400-digit integer) is 7 days: compared before it is
    multiplied or rounded, which overflowed for those (finding U7).

    Raises ValueError for something that is not a number, NaN, or a negative number.
    """
    try:
        h = float(hours)
    except OverflowError:  # an integer too large for a float: its sign is all that matters here
        h = math.inf if hours > 0 else -math.inf
    if math.isnan(h):
        raise ValueError("the interval is not a number")
    if h < 0:
        raise ValueError("the interval cannot be negative")
    if h == 0:
        return 0
    if h >= MAX_AUTO_BACKUP_MINUTES / 60:
        return MAX_AUTO_BACKUP_MINUTES
    return max(1, min(MAX_AUTO_BACKUP_MINUTES, round(h * 60)))


def carry_hours(data: Any) -> Any:
    """Settings saved before the schedule was in minutes had `auto_backup_hours`: carried over (a copy of
    `data`; anything else is returned as it is). Raises ValueError when that value is not a number of hours
    (not a number, null, NaN, negative)."""
    if isinstance(data, dict) and "auto_backup_minutes" not in data and "auto_backup_hours" in data:
        data = dict(data)
        hours = data.pop("auto_backup_hours")
        try:
            data["auto_backup_minutes"] = hours_to_minutes(hours)
        except (TypeError, ValueError) as e:  # TypeError (null, a list) escaped pydantic as a crash (U7)
            if isinstance(hours, (int, float)) and not isinstance(hours, bool):
                raise ValueError(f"auto_backup_hours: {e}") from None  # NaN or negative
            try:
                shown = json.dumps(hours)  # as the file has it: null, not None
            except (TypeError, ValueError):
                shown = repr(hours)
            shown = shown if len(shown) <= 40 else shown[:40] + "…"
            raise ValueError(
                f"auto_backup_hours should be a number of hours (0 turns automatic backups off), not {shown}"
            ) from None
    return data


def _field(schema: dict, default: Any = ..., factory: Any = None) -> dict:
    if factory is not None:
        schema = {"type": "default", "schema": schema, "default_factory": factory}
    elif default is not ...:
        schema = {"type": "default", "schema": schema, "default": default}
    return {"type": "typed-dict-field", "schema": schema, "required": default is ... and factory is None}


def _after(function: Any, schema: dict) -> dict:
    return {"type": "function-after", "function": {"type": "no-info", "function": function}, "schema": schema}


def _nullable(schema: dict) -> dict:
    return {"type": "nullable", "schema": schema}


def _int(**limits: Any) -> dict:
    return {"type": "int", **limits}


_STR = {"type": "str"}
_FLAG = {"type": "bool", "strict": True}  # manifest.Flag
_SECONDS = {"type": "float", "strict": True, "ge": 0, "le": MAX_SECONDS, "allow_inf_nan": False}  # manifest.Seconds
_UTC = _after(as_utc, {"type": "datetime"})
_HEX = _after(lower_hex, _nullable(_STR))


def _typed_dict(fields: dict[str, dict], title: str) -> dict:
    # extra="ignore", as both models: a newer JobMatcher's keys are not an error
    return {"type": "typed-dict", "fields": fields, "extra_behavior": "ignore", "config": {"title": title}}


# manifest.Manifest, field by field (same order, same defaults, same limits).
MANIFEST_SCHEMA = _typed_dict(
    {
        "format": _field(_int(strict=True, ge=1, le=MAX_FORMAT), 1),
        "type": _field(
            {"type": "enum", "cls": BackupType, "members": list(BackupType.__members__.values()), "sub_type": "str"},
            BackupType.manual,
        ),
        "created_at": _field(_UTC),
        "size_bytes": _field(_int(strict=True, ge=0, le=MAX_FILE_BYTES)),
        "sha256": _field(_HEX, None),
        "blake3": _field(_HEX, None),
        "seal": _field(_HEX, None),
        "schema_revision": _field(_nullable(_STR), None),
        "app_version": _field(_STR, ""),
        "note": _field(_STR, ""),
        "pinned": _field(_FLAG, False),
        "verified": _field(_nullable(_FLAG), None),
        "verified_at": _field(_nullable(_UTC), None),
        "verify_message": _field(_STR, ""),
        "copy_seconds": _field(_nullable(_SECONDS), None),
        "verify_seconds": _field(_nullable(_SECONDS), None),
        "data_folder_id": _field(_nullable(_STR), None),
        "sequence": _field(_nullable(_int(strict=True, ge=1, le=MAX_SEQUENCE)), None),
        "added_by_hand": _field(_FLAG, False),
        "file_stamp": _field(_nullable(_STR), None),
        "changed_after_restore": _field(_nullable(_UTC), None),
    },
    "Manifest",
)

# settings.Settings, field by field; its "before" validator (carry_hours) around it.
SETTINGS_SCHEMA = {
    "type": "function-before",
    "function": {"type": "no-info", "function": carry_hours},
    "schema": _typed_dict(
        {
            "backup_dir": _field(_nullable(_STR), None),
            "backup_dir_token": _field(_nullable(_STR), None),
            "previous_backup_dirs": _field({"type": "list", "items_schema": _STR}, factory=list),
            "auto_backup_minutes": _field(_int(ge=0, le=MAX_AUTO_BACKUP_MINUTES), 30),
            "retention_days": _field(_int(ge=1, le=36500), 30),
            "retention_policy": _field({"type": "literal", "expected": ["tiered", "simple"]}, "tiered"),
            "keep_all_hours": _field(_int(ge=0, le=24 * 366), 24),
            "keep_daily_days": _field(_int(ge=0, le=3660), 14),
            "keep_weekly_weeks": _field(_int(ge=0, le=520), 8),
            "keep_monthly_months": _field(_int(ge=0, le=1200), 12),
            "budget_mb": _field(_nullable(_int(ge=1, le=100 * 1024 * 1024)), None),
        },
        "Settings",
    ),
}


@lru_cache(maxsize=None)
def _validator(which: str) -> Any:
    from pydantic_core import SchemaValidator

    return SchemaValidator(MANIFEST_SCHEMA if which == "manifest" else SETTINGS_SCHEMA)


def manifest_values(raw: bytes | str) -> dict[str, Any]:
    """The fields of the manifest whose JSON text is `raw`, validated as manifest.Manifest.model_validate_json
    validates them: {field: value} for every field of the model (defaults filled in, unknown keys dropped).

    Raises:
        ValueError: not a manifest (pydantic_core.ValidationError is one); OverflowError, RecursionError as the
            model's validation raises them.
    """
    return _validator("manifest").validate_json(raw)


def settings_values(data: Any) -> dict[str, Any]:
    """The settings `data` (parsed JSON) stands for, validated as settings.Settings.model_validate validates
    them: {field: value} for every field (defaults filled in, unknown keys dropped, the old hours carried over).

    Raises:
        ValueError: not valid settings (pydantic_core.ValidationError is one). Its text is not the model's:
            callers that show the error ask the model for it (see listing.read_settings).
    """
    return _validator("settings").validate_python(data)


def manifest_values_of(fields: dict[str, Any]) -> dict[str, Any]:
    """manifest_values for Python values (`fields`: a manifest's fields as Manifest(**fields) takes them).
    Raises ValueError as manifest_values does."""
    return _validator("manifest").validate_python(fields)
