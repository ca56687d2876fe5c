"""Every error the engine raises on purpose, in one place.

Each carries a `code` (what kind of refusal: the page branches on it, never on
the words), structured `fields` (the facts: a path, sizes in bytes, a reason;
sent to the page and in `--json` beside the code), a `message` (what went
wrong, the same for every edge), a `hint` (what to do, in the command line's
words: a command to run) and, where the window's words differ, a `page_hint`
(a button to press, a place in the page). The command line prints message and
hint and exits 1; the page shows message and page hint (pageerror.py never lets
a command reach the window). Anything else that escapes is a bug, and is logged
with its traceback.
"""

from __future__ import annotations

from typing import Any


class JobMatcherError(Exception):
    """An operation was refused or failed; nothing the user owns was lost.

    `code` overrides the class's code for a condition that has a name but no class of its own;
    `fields` (keyword arguments) are the structured facts, also readable as attributes (`e.path`).
    """

    code = "error"

    def __init__(
        self, message: str, hint: str = "", page_hint: str | None = None, *, code: str | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.page_hint = page_hint  # None: the page shows `hint`, minus any command in it
        if code is not None:
            self.code = code
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message

    def to_dict(self) -> dict:
        """{"error": code, "message", "hint", **fields} (the command line's hint; pageerror swaps in the page's)."""
        return {"error": self.code, "message": self.message, "hint": self.hint, **self.fields}


class InstanceLockedError(JobMatcherError):
    """Another JobMatcher process owns the data folder."""

    code = "locked"


class DatabaseMissingError(JobMatcherError):
    """There is no live database yet."""

    code = "no-database"


class LiveDatabaseLinkError(JobMatcherError):
    """The live database is a symbolic link: SQLite keeps its -wal beside the target, where JobMatcher does not
    look, and a restore would replace the link; refused before anything changes."""

    code = "live-is-link"


class LiveSideFileError(LiveDatabaseLinkError):
    """A folder, pipe or device at the name of one of the live database's side files (-journal, -wal, -shm):
    SQLite cannot open the database (it would wait for ever on a pipe at -journal's name); refused before
    anything changes, as a linked one is (C1)."""

    code = "side-file-not-a-file"


class DatabaseDamagedError(JobMatcherError):
    """The live database cannot be read: it is damaged."""

    code = "damaged"


class NewerSchemaError(JobMatcherError):
    """A database or backup was written by a newer JobMatcher."""

    code = "newer-schema"


class CheckInterruptedError(JobMatcherError):
    """A backup's integrity check was stopped from outside (its process killed by a signal other than
    SIGBUS: the kernel's out-of-memory killer, a `kill`): nothing is known about the file, so it is
    neither passed nor failed (finding H18)."""

    code = "check-interrupted"


class InvalidBackupError(JobMatcherError):
    """A backup file cannot be trusted; `reason` names why in one word."""

    code = "invalid-backup"
    reason: str

    def __init__(
        self, message: str, hint: str = "", page_hint: str | None = None, *, reason: str = "corrupt", **fields: Any
    ) -> None:
        super().__init__(message, hint, page_hint, reason=reason, **fields)


class ForeignSchemaError(InvalidBackupError):
    """A database holds schema objects JobMatcher did not make (a trigger, a view, a virtual table, a foreign
    key, an unknown table, index or column: schemaguard); `objects` lists them ("trigger wipe")."""

    code = "foreign-schema"


class BackupNotFoundError(JobMatcherError):
    """An id that is not in the list of backups."""

    code = "not-found"


class InsufficientSpaceError(JobMatcherError):
    """Not enough free space to write safely. Fields, when the need was reckoned before writing: `path` (the
    folder), `needed_bytes`, `free_bytes` and `place` (whose disk: "backup-folder", "data-folder",
    "export" or "uploads"), so each edge can say where to make room."""

    code = "no-space"


class BackupFailedError(JobMatcherError):
    """A backup could not be written or did not verify; no file was left."""

    code = "backup-failed"


class MigrationBlockedError(JobMatcherError):
    """The pre-migration backup failed, so the schema upgrade did not run."""

    code = "migration-blocked"


class RestoreFailedError(JobMatcherError):
    """A restore failed midway; `recovered` says whether the data was put back."""

    code = "restore-failed"
    recovered: bool

    def __init__(
        self, message: str, hint: str = "", page_hint: str | None = None, *, recovered: bool = True, **fields: Any
    ) -> None:
        super().__init__(message, hint, page_hint, recovered=recovered, **fields)


class DatabaseInUseError(JobMatcherError):
    """Another connection has the live database open, so it cannot be replaced safely."""

    code = "in-use"


class SafetyBackupMissingError(JobMatcherError):
    """An interrupted restore needs a safety backup that is gone."""

    code = "safety-missing"


class BackupFolderUnavailableError(JobMatcherError):
    """The chosen backup folder is not there (an unplugged drive, an unmounted share): never recreated."""

    code = "folder-unavailable"


class SettingsError(JobMatcherError):
    """A setting that cannot be used as given."""

    code = "invalid-setting"


class ConfirmationNeededError(JobMatcherError):
    """A change that does something the user may not expect (deletes backups at the next clean-up, adopts a
    folder): done only when asked again with the user's yes (`--yes`, the page's confirm). `action` names it."""

    code = "confirmation-needed"


class ValidationError(JobMatcherError):
    """Input from the user or the page that does not fit."""

    code = "invalid-input"


class ReadOnlyError(JobMatcherError):
    """A write was refused: a read-only file or disk, or no permission (see causes.py)."""

    code = "read-only"


class DatabaseBusyError(JobMatcherError):
    """Another program holds the database's write lock (SQLITE_BUSY / SQLITE_LOCKED)."""

    code = "busy"


class DiskError(JobMatcherError):
    """The disk or the operating system failed a read or write (I/O error and the like)."""

    code = "disk-error"


class LocationUnavailableError(JobMatcherError):
    """A backup location cannot be reached now (drive unplugged, marker missing, network down, bucket missing)."""

    code = "location-unavailable"


class LocationCredentialsError(JobMatcherError):
    """The storage service refused the location's access keys."""

    code = "location-credentials"


class LocationTakenOverError(JobMatcherError):
    """Another computer continues this data folder's copies at a location (it was restored from them)."""

    code = "location-taken-over"


class KeyringLockedError(LocationUnavailableError):
    """The OS keyring holding a location's access keys is locked or not running."""

    code = "keyring-locked"


class LocationClockError(LocationUnavailableError):
    """A storage service refused a request because this computer's clock is off (S3 signs requests with the
    time): not the keys. `skew_seconds` (this computer's clock minus the service's; None when not told)."""

    code = "location-clock"


class LocationNotFoundError(JobMatcherError):
    """No configured location has that name."""

    code = "location-not-found"


class LocationCopyFailedError(JobMatcherError):
    """A copy to a location failed or did not read back identical; nothing was listed there."""

    code = "location-copy-failed"


class UnencryptedCopyError(JobMatcherError):
    """A plain copy where a data folder's copies are encrypted: not made by JobMatcher's encrypting copier."""

    code = "unencrypted-copy"


class LocationIdentityMissingError(JobMatcherError):
    """The data folder lost the encryption key of its copies and no location holding it could be reached."""

    code = "location-identity-missing"


class WrongPassphraseError(JobMatcherError):
    """The passphrase does not open the encrypted identity."""

    code = "wrong-passphrase"


class KeyFileDamagedError(JobMatcherError):
    """The data folder's locked identity file (location-identity.age) is not an age file: damaged."""

    code = "key-file-damaged"


class WrongIdentityError(JobMatcherError):
    """An encrypted copy was made for another identity (another data folder's key)."""

    code = "wrong-identity"


class AnotherFoldersCopyError(JobMatcherError):
    """A restore of a copy another data folder made (`folder_id`, its id; `backup_id`) into this data folder, which
    holds data of its own: refused unless the user named that data folder on purpose (locations.recovery's
    refuse_another_folders_copy, the one rule of every way to restore a copy)."""

    code = "another-folders-copy"


class TamperedCopyError(JobMatcherError):
    """An encrypted or plain copy at a location was changed or cut short since it was written."""

    code = "tampered-copy"


# -- the window's refusals: each its own code, so the page can branch on it -------------------


class NotOpenError(JobMatcherError):
    """The app has not opened the data (yet, or it could not): `reason` is "opening" or "failed"."""

    code = "not-open"
    reason: str

    def __init__(
        self, message: str, hint: str = "", page_hint: str | None = None, *, reason: str = "opening", **fields: Any
    ) -> None:
        super().__init__(message, hint, page_hint, reason=reason, **fields)


class RestoreStateError(JobMatcherError):
    """A change refused because of a restore: `state` is "running", "done" (a restart is needed) or "broken"."""

    code = "restore-state"
    state: str

    def __init__(
        self, message: str, hint: str = "", page_hint: str | None = None, *, state: str = "running", **fields: Any
    ) -> None:
        super().__init__(message, hint, page_hint, state=state, **fields)


class TaskRunningError(JobMatcherError):
    """Refused while a backup, check or restore task runs (they would compete for the disk)."""

    code = "task-running"


class WrongModeError(JobMatcherError):
    """A call that only the other mode offers (native dialogs in the window, uploads in the browser)."""

    code = "wrong-mode"


class ExportFailedError(JobMatcherError):
    """The exported copy could not be written where the user chose; `path` is that place."""

    code = "export-failed"
    path: str

    def __init__(
        self, message: str, hint: str = "", page_hint: str | None = None, *, path: str = "", **fields: Any
    ) -> None:
        super().__init__(message, hint, page_hint, path=path, **fields)
