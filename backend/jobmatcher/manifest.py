"""The manifest stored beside each backup: what it is, when it was made, its checksum and last check.

Listing backups reads these small JSON files and never opens a database.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .fsutil import atomic_write_bytes


# verify_message of a backup whose check is still running (a restore's linked safety backup)
CHECKING = "checking"


class BackupType(str, Enum):
    manual = "manual"
    pre_migration = "pre-migration"
    safety = "safety"
    auto = "auto"


class Manifest(BaseModel):
    """Everything known about one backup file, written when it is made and after each check."""

    model_config = ConfigDict(extra="ignore")

    format: int = 1
    type: BackupType = BackupType.manual
    created_at: datetime
    size_bytes: int
    sha256: str | None = None
    schema_revision: str | None = None
    app_version: str = ""
    note: str = ""
    pinned: bool = False
    verified: bool | None = None
    verified_at: datetime | None = None
    verify_message: str = ""
    copy_seconds: float | None = None
    verify_seconds: float | None = None


class BackupRecord(BaseModel):
    """One row of the backup list, as the command line and the window show it."""

    id: str
    path: str
    type: BackupType
    created_at: datetime
    size_bytes: int
    sha256: str | None
    schema_revision: str | None
    app_version: str
    note: str
    pinned: bool
    verified: bool | None
    verified_at: datetime | None
    verify_message: str = ""
    has_manifest: bool = Field(True, description="False for a file copied into the folder by hand.")

    @classmethod
    def from_manifest(cls, backup_id: str, path: Path, m: Manifest, has_manifest: bool = True) -> "BackupRecord":
        # The manifest's fields were validated when it was read or made: not again for every row of a list.
        fields = {k: getattr(m, k) for k in _RECORD_FIELDS}
        return cls.model_construct(id=backup_id, path=str(path), has_manifest=has_manifest, **fields)


_RECORD_FIELDS = tuple(k for k in BackupRecord.model_fields if k in Manifest.model_fields)


def manifest_path(db_file: Path) -> Path:
    return db_file.with_suffix(".json")


def read_manifest(db_file: Path) -> Manifest | None:
    """The manifest beside `db_file`, or None when there is none or it is unreadable."""
    try:
        return Manifest.model_validate_json(manifest_path(db_file).read_bytes())
    except (OSError, ValueError, ValidationError):
        return None


def write_manifest(db_file: Path, manifest: Manifest) -> None:
    """Write the manifest atomically beside `db_file`."""
    atomic_write_bytes(manifest_path(db_file), manifest.model_dump_json(indent=2).encode())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
