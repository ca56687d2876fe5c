"""The user's backup settings: a pydantic model stored as settings.json in the data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import SettingsError
from .fsutil import atomic_write_bytes


class Settings(BaseModel):
    """What the user can change on the Backup & Restore page."""

    model_config = ConfigDict(extra="ignore")

    backup_dir: str | None = Field(None, description="Folder for backups; None means <data>/backups.")
    auto_backup_hours: float = Field(24.0, ge=0, le=24 * 365,
                                     description="Make an automatic backup on launch when the newest is older; 0 turns it off.")
    retention_days: int = Field(30, ge=1, le=36500, description="Backups older than this are cleaned up.")


def load_settings(path: Path) -> Settings:
    """Read settings.json; a missing file means the defaults, a damaged one is an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    try:
        return Settings.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as e:
        raise SettingsError(f"The settings file {path} is damaged: {e}",
                            "Fix or delete that file; JobMatcher then uses its defaults.") from e


def save_settings(path: Path, settings: Settings) -> None:
    """Write settings.json atomically."""
    atomic_write_bytes(path, settings.model_dump_json(indent=2).encode())


def validate_backup_dir(folder: str, data_dir: Path) -> Path:
    """Check a folder the user wants backups in: it exists, is writable, and is not inside the data folder's live files."""
    p = Path(folder).expanduser()
    if not p.is_absolute():
        raise SettingsError(f"The backup folder must be a full path, not {folder!r}.",
                            "Choose the folder with the folder picker or type its full path.")
    p = p.resolve()
    if not p.is_dir():
        raise SettingsError(f"The backup folder {p} does not exist.", "Create it first, or choose another folder.")
    if not os.access(p, os.W_OK | os.X_OK):
        raise SettingsError(f"The backup folder {p} is not writable.", "Choose a folder your user can write to.")
    data = data_dir.resolve()
    if p == data:
        raise SettingsError("The backup folder cannot be the data folder itself.",
                            "Choose a separate folder, ideally on another disk.")
    if data in p.parents and p != data / "backups":
        raise SettingsError(f"The backup folder {p} is inside the data folder {data}.",
                            "Choose a folder outside the data folder, ideally on another disk.")
    return p
