"""Where a user's data lives: the data folder, its database, backups and logs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .fsutil import PRIVATE_DIR, make_dirs, user_path
from .settings import Settings, load_settings

APP_NAME = "JobMatcher"
DATA_DIR_ENV = "JOBMATCHER_DATA_DIR"
LOG_DIR_ENV = "JOBMATCHER_LOG_DIR"
DB_NAME = "jobmatcher.db"
SCHEDULE_NAME = ".jobmatcher-schedule.json"


def default_data_dir() -> Path:
    """--data-dir wins over $JOBMATCHER_DATA_DIR, which wins over the platform's user data folder."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return user_path(env, f"The data folder in ${DATA_DIR_ENV}")
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """The platform's user log folder ($JOBMATCHER_LOG_DIR overrides it)."""
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return user_path(env, f"The log folder in ${LOG_DIR_ENV}")
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class DataDir:
    """One user's data folder and the fixed names inside it."""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, create: bool = True) -> "DataDir":
        root = user_path(path, "The data folder") if path else default_data_dir()
        root = root.absolute()
        if create:
            make_dirs(root, PRIVATE_DIR)
        return cls(root)

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def settings_path(self) -> Path:
        return self.root / "settings.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".jobmatcher.lock"

    @property
    def swap_lock_path(self) -> Path:
        """Held shared by anything reading the live file, exclusively while a restore swaps it."""
        return self.root / ".jobmatcher.swap.lock"

    @property
    def schedule_path(self) -> Path:
        """The running app's schedule (next slot, last outcome) for `jobmatcher status`; gone when it exits."""
        return self.root / SCHEDULE_NAME

    @property
    def journal_path(self) -> Path:
        """Present only while a restore is under way; the next launch finishes or undoes it."""
        return self.root / "restore-journal.json"

    def settings(self) -> Settings:
        return load_settings(self.settings_path)

    def backup_dir(self, settings: Settings | None = None) -> Path:
        s = settings or self.settings()
        return Path(s.backup_dir) if s.backup_dir else self.root / "backups"
