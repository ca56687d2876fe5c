"""The user's backup settings: a pydantic model stored as settings.json in the data folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .core_schemas import MAX_AUTO_BACKUP_MINUTES as MAX_AUTO_BACKUP_MINUTES
from .core_schemas import carry_hours
from .core_schemas import hours_to_minutes as hours_to_minutes  # the rules the core schemas share (core_schemas.py)
from .errors import SettingsError

# The folder rules live in folders.py (no pydantic: the backup list uses them); named here too, where they
# were first, for the modules that import them with the settings.
from .folders import (  # noqa: F401 - re-exported
    BACKUP_FOLDER_MARKER as BACKUP_FOLDER_MARKER,
)
from .folders import (
    DATA_FOLDER_FILES as DATA_FOLDER_FILES,
)
from .folders import (
    LOCATION_MARKER as LOCATION_MARKER,
)
from .folders import (
    check_backup_folder as check_backup_folder,
)
from .folders import (
    check_data_folder as check_data_folder,
)
from .folders import (
    check_location_folder as check_location_folder,
)
from .folders import (
    data_folder_is_ours as data_folder_is_ours,
)
from .folders import (
    is_backup_folder as is_backup_folder,
)
from .folders import (
    validate_backup_dir as validate_backup_dir,
)
from .fsutil import atomic_write_bytes, read_small_file

# A retention policy's numbers with their limits, defined once: the backup folder's settings, each backup
# location's (locations/config.py), the page's forms and the command line's options all use these.
RetentionDays = Annotated[int, Field(ge=1, le=36500)]
RetentionPolicyName = Literal["tiered", "simple"]
KeepAllHours = Annotated[int, Field(ge=0, le=24 * 366)]
KeepDailyDays = Annotated[int, Field(ge=0, le=3660)]
KeepWeeklyWeeks = Annotated[int, Field(ge=0, le=520)]
KeepMonthlyMonths = Annotated[int, Field(ge=0, le=1200)]
# The tiered policy's defaults (the backup folder's; a new location's too).
KEEP_ALL_HOURS = 24
KEEP_DAILY_DAYS = 14
KEEP_WEEKLY_WEEKS = 8
KEEP_MONTHLY_MONTHS = 12


class Settings(BaseModel):
    """What the user can change on the Backup & Restore page."""

    model_config = ConfigDict(extra="ignore")

    backup_dir: str | None = Field(None, description="Folder for backups; None means <data>/backups.")
    backup_dir_token: str | None = Field(
        None,
        description="Written into a chosen backup folder's marker file "
        "when it is chosen: a folder without it is not the one chosen "
        "(an unmounted drive's empty mount point).",
    )
    previous_backup_dirs: list[str] = Field(
        default_factory=list,
        description="Backup folders left behind by a change of folder whose "
        "backups are still listed until moved or dismissed.",
    )
    auto_backup_minutes: int = Field(
        30,
        ge=0,
        le=MAX_AUTO_BACKUP_MINUTES,
        description="While the app runs (and at launch): an automatic backup every "
        "N minutes when the data changed; 0 turns it off.",
    )
    retention_days: RetentionDays = Field(
        30,
        description="Manual backups (and, with the simple policy, all backups) older "
        "than this many days are cleaned up.",
    )
    retention_policy: RetentionPolicyName = Field(
        "tiered", description="tiered: GFS tiers for automatic and safety backups; simple: one age limit."
    )
    keep_all_hours: KeepAllHours = Field(KEEP_ALL_HOURS, description="Tiered: every backup from the last N hours.")
    keep_daily_days: KeepDailyDays = Field(KEEP_DAILY_DAYS, description="Tiered: the newest backup of each of N days.")
    keep_weekly_weeks: KeepWeeklyWeeks = Field(
        KEEP_WEEKLY_WEEKS, description="Tiered: the newest backup of each of N weeks."
    )
    keep_monthly_months: KeepMonthlyMonths = Field(
        KEEP_MONTHLY_MONTHS, description="Tiered: the newest backup of each of N months."
    )
    budget_mb: int | None = Field(
        None,
        ge=1,
        le=100 * 1024 * 1024,
        description="Most space backups may use, in MiB; None means 2 GiB or 20x the database, whichever is larger.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_hours(cls, data):
        """Settings saved before the schedule was in minutes had `auto_backup_hours`: carry it over."""
        return carry_hours(data)


def load_settings(path: Path) -> Settings:
    """Read settings.json; a missing file means the defaults. Raises SettingsError (damaged_settings_error) for a
    damaged one, saying what is wrong in words (never the JSON parser's own text: FINDINGS20 6); OSError as
    read_small_file raises it."""
    try:
        raw = read_small_file(path)
    except FileNotFoundError:
        return Settings()
    try:
        return Settings.model_validate(json.loads(raw))
    except ValidationError as e:
        raise damaged_settings_error(path, _what_is_wrong(e)) from e
    except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, or nested past the parser's depth
        raise damaged_settings_error(path, _not_json(raw, e)) from e


def damaged_settings_error(path: Path, what: str) -> SettingsError:
    """The refusal for the damaged settings file `path` (`what`: what is wrong with it, in words), with what to do.

    Until it is fixed no backup is made and none deleted (the launch skips both, `backup create` and `backup prune`
    refuse): its defaults could delete backups the person's own settings keep, or write them to another folder.
    So the way out is to fix it, or to move it away and choose the settings again before JobMatcher opens next
    (only a launch or `backup prune` cleans up). Never raises."""
    import shlex

    q = shlex.quote(str(path))
    return SettingsError(
        f"The settings file {path} is damaged: {what}. Until it is fixed, JobMatcher makes no backup and deletes none.",
        f"Fix it in a text editor, or move it away (`mv {q} {q}.damaged`) and set your backup settings again with "
        "`jobmatcher settings` before JobMatcher opens next (its defaults apply until then; `jobmatcher backup "
        "prune --dry-run` shows what they would clean up).",
        "Fix it in a text editor, or move it out of the data folder and set your backup settings again here before "
        "you restart JobMatcher (its defaults apply until then).",
        code="settings-damaged",
        path=str(path),
    )


def _not_json(raw: bytes, e: Exception) -> str:
    """What is wrong with settings text that could not be read as JSON, in words: where, never the parser's
    message ("Expecting value: line 1 column 16 (char 15)"). Never raises."""
    if not raw.strip():
        return "it is empty"
    if isinstance(e, RecursionError):
        return "its text is nested too deeply to be settings"
    if isinstance(e, UnicodeDecodeError):
        return "it holds bytes that are not text"
    if isinstance(e, json.JSONDecodeError):
        if e.pos >= len(e.doc.rstrip()) or e.msg.startswith("Unterminated"):  # a string that never ends: cut too
            return f"its text stops part way, at line {e.lineno} (cut short, or not all of it was written)"
        return f"its text is not valid JSON from line {e.lineno}, column {e.colno} on"
    return "its text is not valid JSON"


def _what_is_wrong(e: ValidationError) -> str:
    """pydantic's errors as the settings file's keys and what is wrong with each, without its internals (the
    model's name, input values, documentation links: finding U7's addendum)."""
    parts = []
    for err in e.errors(include_url=False, include_input=False):
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        where = ".".join(str(x) for x in err.get("loc", ()))
        if not where and err.get("type") == "model_type":  # null, a list, a number: not "instance of Settings"
            msg = "it should hold the settings as one JSON object ({...})"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts[:3]) + ("; …" if len(parts) > 3 else "")


def save_settings(path: Path, settings: Settings) -> None:
    """Write settings.json atomically. A folder JobMatcher records without the user choosing it (the previous
    backup folder: the default `<data>/backups` of a data folder whose own path is not UTF-8) is written with
    \\uDCxx escapes (jsontext), which load_settings' json.loads reads back as the same path (Y3: it was
    "something unexpected went wrong: PydanticSerializationError"). Raises OSError; JobMatcherError (code
    "not-own-file") when a link, a folder, a pipe or a device is at the name: the user's, never replaced."""
    from .fsutil import NotOwnFileError, not_own_file_error
    from .jsontext import json_text

    try:
        atomic_write_bytes(path, json_text(settings, indent=2).encode())
    except NotOwnFileError as e:
        raise not_own_file_error(e, "saving the settings", path) from None
