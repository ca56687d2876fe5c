"""The page's calls for backup locations (Backup & Restore → Locations) and disaster recovery.

A mixin of `api.Api` (same rules: pydantic-validated arguments, JSON answers,
errors as message + hint). Locations are named by their name from the list; the
only paths the page may send are a folder for a new location (validated by the
engine: absolute, existing, outside the data) and a folder to restore from.
Passphrases and secret keys pass through to the engine and are never logged,
stored by the page API, or sent back.

Copying never blocks the page or a backup: it runs on the Copier thread (after
every backup, every 10 s at most when something is missing) or, when the user
clicks Sync now, on a thread of its own whose progress `locations_overview` reports.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field, StringConstraints, validate_call

from .errors import JobMatcherError, ValidationError, WrongModeError
from .fsutil import human_size
from .settings import (
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

log = logging.getLogger(__name__)


Name = Annotated[str, StringConstraints(min_length=1, max_length=60)]
Secret = Annotated[str, StringConstraints(max_length=1000)]
ShortText = Annotated[str, StringConstraints(max_length=1000)]


class LocationSource(pydantic.BaseModel):
    """Where to restore from: a configured location by name, or (a fresh data folder) a folder or S3 given inline."""

    model_config = pydantic.ConfigDict(extra="forbid")
    kind: Literal["configured", "folder", "s3"]
    name: Annotated[str, StringConstraints(max_length=60)] = ""
    path: Annotated[str, StringConstraints(max_length=4000)] = ""
    endpoint_url: ShortText = ""
    bucket: Annotated[str, StringConstraints(max_length=63)] = ""
    prefix: ShortText = ""
    access_key_id: ShortText = ""
    secret_access_key: Secret = ""

    def __repr__(self) -> str:  # never the secret key, not even in a log line
        return f"LocationSource(kind={self.kind!r}, name={self.name!r}, bucket={self.bucket!r})"


class LocationRetention(pydantic.BaseModel):
    """A location's retention as the page's forms send it (the limits are the settings' own)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    retention_policy: RetentionPolicyName = "tiered"
    retention_days: RetentionDays = 90
    keep_all_hours: KeepAllHours = KEEP_ALL_HOURS
    keep_daily_days: KeepDailyDays = KEEP_DAILY_DAYS
    keep_weekly_weeks: KeepWeeklyWeeks = KEEP_WEEKLY_WEEKS
    keep_monthly_months: KeepMonthlyMonths = KEEP_MONTHLY_MONTHS


RETENTION_KEYS = tuple(LocationRetention.model_fields)


def _iso(dt) -> str | None:
    return dt.isoformat() if dt else None


class LocationsApi:
    """Mixed into Api; uses its _engine, _tasks, _dialogs, _require_opened and _start_restore."""

    _engine: Any
    _dialogs: Any
    _copier: Any = None
    _manual_sync: dict | None = None

    # -- the list ---------------------------------------------------------------------

    @validate_call
    def locations_overview(self) -> dict:
        """The locations as last seen (no network): status line, rows, a Sync now under way, first run."""
        self._require_opened(way_out=True)  # type: ignore[attr-defined]
        locs = self._engine.locations
        rows = [self._location_row(s) for s in locs.status(check=False)]
        return {
            "status_line": locs.status_line(interval_minutes=self._engine.settings.auto_backup_minutes),
            "locations": rows,
            "sync": self._manual_sync,
            "can_choose_folder": self._dialogs is not None,
            "first_run": self._first_run(rows),
        }

    def _first_run(self, rows: list) -> bool:
        """A new machine: the data folder holds nothing of the user's yet (locations.recovery.holds_no_user_data,
        the CLI's rule too), however many launches ago it was made (W4)."""
        from .locations.recovery import holds_no_user_data

        return not rows and holds_no_user_data(self._engine)

    @validate_call
    def check_locations(self) -> dict:
        """Contact every enabled location now (reachable? copies, space used); the same rows, checked."""
        self._require_opened()  # type: ignore[attr-defined]
        return {"locations": [self._location_row(s) for s in self._engine.locations.status(check=True)]}

    @staticmethod
    def _location_row(s) -> dict:
        return {
            "name": s.name,
            "kind": s.kind,
            "where": s.where,
            "enabled": s.enabled,
            "encrypted": s.encrypted,
            "retention_days": s.retention_days,
            "retention": {k: getattr(s, k) for k in RETENTION_KEYS},
            "keeps": s.keeps,
            "reachable": s.reachable,
            "problem": s.problem,
            "problem_code": s.problem_code,
            "last_success_at": _iso(s.last_success_at),
            "pending": s.pending,
            "copies": s.copies,
            "used_bytes": s.used_bytes,
            "used_known": s.used_known,
            "used": s.used_said(),  # not "0 bytes" for copies whose size is not known (X3)
            "old_passphrase": s.old_passphrase,  # its key file still opens with the passphrase before a change (X13)
            "damaged": len(s.damaged),  # copies there last seen damaged (D5, D15; the pending ones are made again)
            "lost": len(s.lost),  # of those, the ones whose backup is no longer here: cannot be restored
        }

    # -- adding ------------------------------------------------------------------------

    @validate_call
    def choose_location_folder(self) -> dict:
        """Window mode: pick the folder with the native dialog."""
        if self._dialogs is None:
            raise WrongModeError("Type the folder's full path in this mode.", "")
        path = self._dialogs.choose_folder()
        return {"path": path} if path else {"cancelled": True}

    @validate_call
    def add_folder_location(
        self,
        path: Annotated[str, StringConstraints(min_length=1, max_length=4000)],
        name: Annotated[str, StringConstraints(max_length=60)] = "",
        encrypt: bool = True,
        passphrase: Secret = "",
        keep_days: Annotated[int, Field(ge=1, le=36500)] = 90,
        confirmed: bool = False,
        retention: LocationRetention | None = None,
    ) -> dict:
        """Add a folder location; `recovery_key` is in the answer once, when this created the encryption key.

        `keep_days`: how many days the location keeps (manual) copies; `retention`: its whole retention
        (policy and numbers; its retention_days replaces `keep_days`). `confirmed`: the user said yes to the copies
        already there that this retention deletes at the first copy; without it such an add is refused with
        code "confirmation-needed" (action "delete-location-copies", `deletes`, `total`, `made_at`: the page
        asks, then calls again with it)."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        r = self._engine.locations.add(
            "folder",
            path=path.strip(),
            name=name.strip() or None,
            encrypt=encrypt,
            passphrase=passphrase or None,
            retention_days=keep_days,
            retention=retention.model_dump() if retention else None,
            confirmed=confirmed,
        )
        self._kick_copier()
        return {"name": r.location.name, "where": r.location.where(), "recovery_key": r.recovery_key, "note": r.note}

    @validate_call
    def add_s3_location(
        self,
        endpoint_url: ShortText,
        bucket: Annotated[str, StringConstraints(max_length=63)],
        access_key_id: ShortText,
        secret_access_key: Secret,
        prefix: ShortText = "",
        name: Annotated[str, StringConstraints(max_length=60)] = "",
        encrypt: bool = True,
        passphrase: Secret = "",
        keep_days: Annotated[int, Field(ge=1, le=36500)] = 90,
        confirmed: bool = False,
        retention: LocationRetention | None = None,
    ) -> dict:
        """Add an S3-compatible location (the keys go to the keyring or the 0600 file, never back to the page);
        `keep_days`, `retention` and `confirmed` as add_folder_location."""
        from .locations.credentials import S3Keys

        self._require_opened(changing=True)  # type: ignore[attr-defined]
        keys = S3Keys(access_key_id.strip(), secret_access_key.strip()) if access_key_id and secret_access_key else None
        r = self._engine.locations.add(
            "s3",
            endpoint_url=endpoint_url.strip() or None,
            bucket=bucket.strip(),
            prefix=prefix.strip(),
            keys=keys,
            name=name.strip() or None,
            encrypt=encrypt,
            passphrase=passphrase or None,
            retention_days=keep_days,
            retention=retention.model_dump() if retention else None,
            confirmed=confirmed,
        )
        self._kick_copier()
        return {"name": r.location.name, "where": r.location.where(), "recovery_key": r.recovery_key, "note": r.note}

    @validate_call
    def needs_passphrase(self) -> dict:
        """Whether adding an encrypted location now asks for a new passphrase (the first one does)."""
        locs = self._engine.locations
        cfg = locs.config()
        return {"needs_passphrase": not (cfg.recipient and locs.identity_path().is_file())}

    # -- changing ------------------------------------------------------------------------

    @validate_call
    def set_location_enabled(self, name: Name, enabled: bool, confirmed: bool = False) -> dict:
        """Enable or disable a location. Enabling one whose copies aged past its retention while it was
        disabled is refused without `confirmed` (code "confirmation-needed", as add_folder_location)."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        loc = self._engine.locations.set_enabled(name, enabled, confirmed=confirmed)
        if enabled:
            self._kick_copier()
        return {"name": loc.name, "enabled": loc.enabled}

    @validate_call
    def set_location_retention(
        self,
        name: Name,
        keep_days: Annotated[int, Field(ge=1, le=36500)] | None = None,
        confirmed: bool = False,
        retention: LocationRetention | None = None,
    ) -> dict:
        """Change a location's retention: `keep_days` alone (its days), or `retention` (policy and numbers;
        its retention_days replaces `keep_days`). A change that makes its next copy delete copies there is
        refused without `confirmed` (code "confirmation-needed", as add_folder_location). Answers the name,
        retention_days, retention (the fields) and keeps (in words)."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        changes = retention.model_dump() if retention else {}
        if keep_days is not None and retention is None:
            changes["retention_days"] = keep_days
        if not changes:
            raise ValidationError("Say how long the location keeps copies.", "", code="retention-needed")
        loc = self._engine.locations.set_retention(name, confirmed=confirmed, **changes)
        from .retention import RetentionPolicy, describe

        return {
            "name": loc.name,
            "retention_days": loc.retention_days,
            "retention": {k: getattr(loc, k) for k in RETENTION_KEYS},
            "keeps": describe(RetentionPolicy.from_settings(loc), "copy"),
        }

    @validate_call
    def set_location_path(
        self, name: Name, path: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    ) -> dict:
        """Point a folder location at another folder (its drive mounted at another place: finding X26; the command
        line's `location set NAME --path`). The folder must hold this data folder's copies or none; refused
        otherwise (and for S3 storage), with nothing changed. Nothing at the old folder is touched. Answers the
        name, the new `where`, what was `found` there ("same-drive", "copies", "new"), the `copies` there and
        the `previous` place."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        r = self._engine.locations.set_path(name, path)
        self._kick_copier()
        return {
            "name": r.location.name,
            "where": r.location.where(),
            "found": r.found,
            "copies": r.copies,
            "previous": r.previous,
        }

    @validate_call
    def remove_location(self, name: Name) -> dict:
        """Forget a location; the copies there are left in place."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        loc = self._engine.locations.remove(name)
        return {"name": loc.name, "where": loc.where()}

    @validate_call
    def sync_locations(self, name: Annotated[str, StringConstraints(max_length=60)] = "", verify: bool = False) -> dict:
        """Copy what is missing now (all enabled locations, or the one named); progress in locations_overview.
        `verify`: first read every copy of this data folder there back and compare its checksum (the page's
        Check copies, `location sync --verify`): each result's `verified` and `damaged` (ids) with `damaged_why`
        (by id); progress `phase` "verify" in bytes while reading back, "copy" while copying."""
        self._require_opened()  # type: ignore[attr-defined]
        if name:
            self._engine.locations.get(name)  # unknown: refused now
        if self._manual_sync and self._manual_sync.get("state") == "running":
            return self._manual_sync
        state: dict = {
            "state": "running",
            "name": name or None,
            "verify": verify,
            "phase": "verify" if verify else "copy",
            "done": 0,
            "total": 0,
            "unit": "bytes",  # what done/total count (progress.UNITS)
            "backup": 0,
            "backups": 0,
            "results": None,
            "error": None,
        }
        self._manual_sync = state

        def progress(phase: str, done: int, total: int | None, unit: str) -> None:
            if phase == "backup":  # the outer count: which backup of how many
                state["backup"], state["backups"] = done, total or 0
            else:
                state["phase"], state["done"], state["total"], state["unit"] = phase, done, total, unit

        def run() -> None:
            try:
                results = self._engine.locations.sync(name or None, progress=progress, wait=600, verify=verify)
                state["results"] = [r.model_dump() for r in results]
            except JobMatcherError as e:
                state["error"] = e.to_dict()
            except Exception:  # noqa: BLE001 - the thread must say it ended
                log.exception("location sync failed unexpectedly")
                state["error"] = {"message": "The copy failed unexpectedly.", "hint": "Details are in the log."}
            finally:
                state["state"] = "done"

        threading.Thread(target=run, name="location-sync", daemon=True).start()
        return state

    # -- disaster recovery --------------------------------------------------------------------

    def _source_client(self, source: LocationSource):
        if source.kind == "configured":
            client = self._engine.locations.client(source.name)
            client.reading = True  # restored from or listed, not copied to: its hints fit that (V15c)
            return client, source.name
        if source.kind == "folder":
            from .fsutil import user_path

            p = user_path(source.path.strip(), "The folder")
            if not p.is_absolute():
                raise ValidationError("Give the folder's full path.", "Choose it with the folder picker or type it.")
            from .locations.folder import FolderLocation

            place = FolderLocation(p)
            place.configured = False  # only looked into: its errors' hints fit that
            return place, str(p)
        from .locations.s3 import S3Location, check_endpoint_url

        if not source.bucket.strip():
            raise ValidationError("Give the bucket's name.", "")
        if not (source.access_key_id and source.secret_access_key):
            raise ValidationError(
                "The access keys of the storage are needed.", "Give the access key id and secret key."
            )
        client = S3Location(
            source.bucket.strip(),
            source.prefix.strip(),
            check_endpoint_url(source.endpoint_url.strip()),
            source.access_key_id.strip(),
            source.secret_access_key.strip(),
            spool_dir=self._engine.data_dir,
        )
        client.configured = False  # only looked into: its errors' hints fit that
        return client, client.describe()

    @validate_call
    def remote_backups(self, source: LocationSource) -> dict:
        """The copies at a location, newest first in the order of making (remote.newest_first: by sequence, not
        by a clock), for restoring one: time, kind, size, revision, encrypted, `sequence`; `future`: dated more
        than an hour after now and after the newest copy of its data folder (made while a clock was ahead, V11;
        never pre-selected); `clock_behind`: a sentence when even the newest copy is dated after this computer's
        clock (it may be behind: X15), else None; `not_ours`: a plain copy
        where this data folder's copies are encrypted (a restore refuses it: L1, as `backup list`); `doubt`: why a
        copy is not what its name says (remote.RENAMED: a restore refuses it, Z4), else None. `unlisted`: a
        sentence for each copy left out because its manifest there cannot be read (remote_listing's, the words
        `backup list --from-folder` prints; V15e)."""
        from .locations.remote import check_source, clock_check, remote_listing
        from .presentation import type_label

        client, label = self._source_client(source)
        found = check_source(client, source.kind == "configured")
        unlisted: list[str] = []  # copies whose manifest there cannot be read: said, as the command line does
        items, encrypted_there = remote_listing(client, None, unlisted) if found else ([], set())
        if source.kind == "configured":  # copies a read-back found damaged stay marked (D5), as on the command line
            self._engine.locations.mark_known_damage(source.name, items)
        configured = source.kind == "configured" and self._engine.locations.get(source.name).encrypt
        encrypted = {r.folder_id for r in items} if configured else encrypted_there
        # a copy dated after this clock is still offered; when even the newest one is, this clock may be behind (X15)
        future, clock_words = clock_check(items)
        return {
            "where": label,
            "backups": [
                {
                    "id": r.id,
                    "folder_id": r.folder_id,
                    "created_at": _iso(r.created_at),
                    "type": r.type.value,
                    "type_label": type_label(r.type),
                    "sequence": r.sequence,
                    "future": r.id in future,
                    "size_bytes": r.size_bytes,
                    "size": human_size(r.size_bytes),
                    "schema_revision": r.schema_revision,
                    "encrypted": r.encrypted,
                    "not_ours": not r.encrypted and r.folder_id in encrypted,
                    "pinned": r.pin_recorded is True,  # the pin recorded with the copy (FINDINGS13 Z2)
                    "doubt": r.doubt,  # renamed (Z4) or damaged there (B5): marked, refused by a restore
                    # checked before it was copied, read back when written, its size there still the size written
                    "verified": r.verified and not r.doubt,
                }
                for r in items
            ],
            "several_folders": len({r.folder_id for r in items}) > 1,
            "unlisted": unlisted,
            "clock_behind": clock_words,
        }

    @validate_call
    def start_restore_from_location(
        self,
        source: LocationSource,
        backup_id: Annotated[str, StringConstraints(min_length=1, max_length=200)],
        passphrase: Secret = "",
        folder_id: Annotated[str, StringConstraints(max_length=32)] = "",
        another_folders: bool = False,
    ) -> dict:
        """Restore a copy from a location (verified end to end, then the normal restore); poll task_status.

        `folder_id` picks the copy of that data folder where two share an id (the list's row: not a yes). Another
        data folder's copy over this data folder's own data is refused now, before the task (AnotherFoldersCopyError,
        code "another-folders-copy": the command line's rule, locations.recovery.refuse_another_folders_copy)
        unless `another_folders` (the user's yes to that question)."""
        from .locations.recovery import refuse_another_folders_copy, restore_from_location
        from .locations.remote import expect_encrypted, find_remote

        client, label = self._source_client(source)
        own = self._engine.folder_id()  # its own copy, where another data folder has that name too
        remote = find_remote(client, backup_id, folder_id or None, prefer=own)  # refused now, not in the task
        encrypted_location = source.kind == "configured" and self._engine.locations.get(source.name).encrypt
        expect_encrypted(client, remote, encrypted_location)
        if remote.encrypted and not passphrase:
            raise ValidationError("These copies are encrypted: type the passphrase (or the recovery key).", "")
        fresh = self._first_run(self._engine.locations.config().locations)  # decided before anything changes
        if not another_folders:
            refuse_another_folders_copy(self._engine, remote, label)

        def run(progress):
            result, _ = restore_from_location(
                self._engine,
                client,
                remote.id,
                passphrase or None,
                remote.folder_id,
                progress,
                label,
                fresh,
                encrypted_location=encrypted_location,
                another_folders=another_folders,
            )
            return result

        start = self._start_restore  # type: ignore[attr-defined]  # provided by Api, which mixes this in
        return start(f"{remote.id} from {label}", f"{remote.id} from {label}", None, run=run, first_run=fresh)

    @validate_call
    def unlock_location_key(self, passphrase: Annotated[str, StringConstraints(min_length=1, max_length=1000)]) -> dict:
        """The page's one step for encrypted copies stopped as "recipient-unproven" (finding U4; the command
        line's `location sync --passphrase-file`): open this data folder's key file once with the passphrase
        (or the recovery key), record its recipient beside it, then copy what is missing, as Sync now does
        (the answer and the progress are sync_locations'). The passphrase is neither logged, kept nor sent back.

        Raises WrongPassphraseError (it does not open the key file; nothing changed), LocationCopyFailedError
        (code "recipient-mismatch": locations.json names another key; nothing encrypted), JobMatcherError
        (code "no-key-file")."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        self._engine.locations.prove_recipient(passphrase)
        log.info("the encryption key was unlocked from the page; its recipient is recorded")
        return self.sync_locations()

    @validate_call
    def change_location_passphrase(
        self,
        passphrase: Annotated[str, StringConstraints(min_length=1, max_length=1000)],
        new_passphrase: Annotated[str, StringConstraints(min_length=1, max_length=1000)],
    ) -> dict:
        """Lock this data folder's encryption key with a new passphrase (finding X13; the command line's `location
        passphrase`): the same key, so every copy and the recovery key stay valid. `passphrase`: the current one
        (or the recovery key), which must open the key first. Answers the names of the locations `updated` and
        those still `pending` (not reachable now: they still open with the old passphrase until their next copy),
        with `problems` (by name). Neither passphrase is logged, kept nor sent back.

        Raises ValidationError (the new one too short, or the same), WrongPassphraseError (nothing changed),
        JobMatcherError (code "no-key-file")."""
        self._require_opened(changing=True)  # type: ignore[attr-defined]
        r = self._engine.locations.change_passphrase(passphrase, new_passphrase)
        log.info("the encryption key's passphrase was changed from the page")
        self._kick_copier()  # an unreached location is updated at its next copy
        return {
            "updated": r.updated,
            "pending": r.pending,
            "problems": r.problems,
            "disabled": r.disabled,
            "other_key": r.other_key,
        }

    # -- the background copier ----------------------------------------------------------------

    def _start_copier(self) -> None:
        if self._copier is not None:
            return
        from .locations.copier import Copier

        self._copier = Copier(lambda: self._engine.locations)
        self._copier.start()
        self._copier.kick()  # copies missed while the app was closed: caught up now

    def _kick_copier(self) -> None:
        if self._copier is not None:
            self._copier.kick()

    def _stop_copier(self) -> None:
        if self._copier is not None:
            self._copier.stop()
