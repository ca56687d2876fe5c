"""Where a user's data lives: the data folder, its database, backups and logs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SettingsError
from .folders import check_backup_folder, check_data_folder, data_folder_is_ours
from .fsutil import PRIVATE_DIR, data_folder_refused, make_dirs, read_small_file, user_path

if TYPE_CHECKING:  # the model is imported where the settings are read: `backup list` reads them without it
    from .settings import Settings

APP_NAME = "JobMatcher"
DATA_DIR_ENV = "JOBMATCHER_DATA_DIR"
LOG_DIR_ENV = "JOBMATCHER_LOG_DIR"
DB_NAME = "jobmatcher.db"
SCHEDULE_NAME = ".jobmatcher-schedule.json"
FOLDER_ID_NAME = ".jobmatcher-folder-id"
# Where an id file that cannot be read is kept aside when its id is taken back (DataDir.folder_id, finding X11).
DAMAGED_ID_NAME = FOLDER_ID_NAME + ".damaged"
JOURNAL_NAME = "restore-journal.json"
SETTINGS_NAME = "settings.json"
# The backup locations' configuration (locations/config.py): named here so that a command can see there is none
# without importing the locations' models (status, backup create: T10).
LOCATIONS_NAME = "locations.json"

# The files JobMatcher itself writes atomically in the data folder: only their temp files are cleaned up
# (with the backup locations' files, and their upload/download spool files, named by these prefixes).
OWN_ATOMIC_FILES = frozenset(
    {
        FOLDER_ID_NAME,
        JOURNAL_NAME,
        SETTINGS_NAME,
        SCHEDULE_NAME,
        "link-probe",
        LOCATIONS_NAME,
        "locations-state.json",
        "location-credentials.json",
        "location-identity.age",
        "location-identity.recipient",
        "location-identity.relock.json",
        "location-identity.earlier.json",
    }
)
_OWN_SPOOL_PREFIXES = ("location-upload-", "location-fetch-", "location-plain-")


def own_data_folder_file(name: str) -> bool:
    """True for NAME in `.NAME.PID[-THREAD-N].tmp` when NAME is a file JobMatcher writes in the data folder."""
    return name in OWN_ATOMIC_FILES or name.startswith(_OWN_SPOOL_PREFIXES)


log = logging.getLogger(__name__)

# Data folders this process created (their mode is JobMatcher's to set; see DataDir.made_by_us).
_MADE_HERE: set[Path] = set()
_RENEWED: list[str] = []  # DataDir.take_id_notices: copies given their own id in this process


def default_data_dir() -> Path:
    """--data-dir wins over $JOBMATCHER_DATA_DIR, which wins over the platform's user data folder."""
    env = os.environ.get(DATA_DIR_ENV)
    if env is not None and not env.strip():
        # set but empty (`JOBMATCHER_DATA_DIR=$DIR` with $DIR unset): never silently the user's real data
        raise SettingsError(
            f"${DATA_DIR_ENV} is set but empty.",
            "Set it to the data folder's path, or unset it for the default data folder.",
        )
    if env:
        return user_path(env, f"The data folder in ${DATA_DIR_ENV}")
    import platformdirs  # here: a command given --data-dir (and logging nothing) does without it

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """The platform's user log folder ($JOBMATCHER_LOG_DIR overrides it)."""
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return user_path(env, f"The log folder in ${LOG_DIR_ENV}")
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def open_data_folder(path: str | os.PathLike | None, read_only: bool) -> "DataDir":
    """DataDir.open for the engine and the commands that read without it: `read_only` creates nothing; an
    OSError while opening (a folder that refuses access) becomes fsutil.data_folder_refused's error."""
    try:
        return DataDir.open(path, create=not read_only)
    except OSError as e:
        raise data_folder_refused(DataDir.open(path, create=False).root, e) from None


@dataclass(frozen=True)
class DataDir:
    """One user's data folder and the fixed names inside it."""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, create: bool = True) -> "DataDir":
        if path is not None and not os.fspath(path).strip():
            raise SettingsError(
                "The data folder's path is empty.", "Give the data folder's path, or none for the default data folder."
            )
        root = user_path(path, "The data folder") if path is not None else default_data_dir()
        root = root.absolute()
        check_data_folder(root)  # never /, /tmp, a system folder or the home folder: it is made private
        if create:
            # made here only when this process's mkdir created it: two commands started at once into a new
            # folder both see it missing, and the one refused must not take the other's folder away (V3)
            if root in make_dirs(root, PRIVATE_DIR):
                _MADE_HERE.add(root)
        return cls(root)

    def made_by_us(self) -> bool:
        """True when JobMatcher may tighten this folder's mode: it created the folder (in this process), or
        the folder plainly is a data folder already (it holds jobmatcher.db or .jobmatcher-folder-id).
        A folder the user pointed at that holds neither (a shared folder) keeps its mode."""
        return self.root in _MADE_HERE or data_folder_is_ours(self.root)

    def remove_if_unused(self) -> bool:
        """Remove the data folder when this process created it and it holds nothing but its lock files (a
        refused command that made it: a mistyped --data-dir stays absent, finding L2). Only what JobMatcher
        made goes: a folder that existed before, or holding anything else, is left as it is; so is one whose
        lock files another process holds (a command that started in it meanwhile, V3): each is taken
        exclusively first, and unlinked only while held. Returns whether it was removed. Never raises (a
        folder that cannot be removed stays)."""
        if self.root not in _MADE_HERE:
            return False
        from .lock import FileLock

        names = (self.lock_path.name, self.swap_lock_path.name)
        held: list[FileLock] = []

        def only_locks() -> bool:
            return all(p.name in names and p.is_file() for p in self.root.iterdir())

        try:
            if not only_locks():
                return False
            for name in names:
                if not (self.root / name).exists():
                    continue
                lock = FileLock(self.root / name)
                if not lock.acquire():
                    return False  # another process works in the folder now: it is not ours to remove
                held.append(lock)
            if not only_locks():
                return False
            for lock in held:  # while held: whoever opened it meanwhile finds it gone when it gets the lock
                lock.path.unlink(missing_ok=True)
            self.root.rmdir()
        except OSError:
            return False
        finally:
            for lock in held:
                lock.release()
        _MADE_HERE.discard(self.root)
        return True

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_NAME

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
        return self.root / JOURNAL_NAME

    @property
    def folder_id_path(self) -> Path:
        return self.root / FOLDER_ID_NAME

    def folder_id(self, create: bool = True) -> str | None:
        """This data folder's stable id (32 hex digits), recorded in every backup made of it.

        Kept in `.jobmatcher-folder-id` (JSON: id and the folder's path, 0600). Made once, atomically
        (written to a temp file, then hard-linked into place, so two processes starting at once agree
        on one id). A folder copied elsewhere while the original still exists gets a new id, so
        the copy and the original never take each other's backups for their own; a folder that
        was moved keeps its id. With `create=False` (read-only commands) nothing is written and
        None means the folder has no id yet. None also when the id cannot be written (a read-only
        folder): backups made then carry no id.

        An id file that is there but cannot be read (damaged, cut short) is not "no id": the id is
        taken back from the newest of this data folder's backups in its backup folder (every manifest records
        it) and the damaged file kept aside as `.jobmatcher-folder-id.damaged` (not with `create=False`: then
        the id is only read from there); a new id only when no backup names one (finding X11). A pipe, a
        device, a folder or a link at the name is the user's: never moved aside nor replaced, the id only read
        from the backups (None when none names one) until it is moved out (C12). `id_file_note` says so for
        status.
        """
        current = self._read_folder_id()
        if current is None and self._id_file_there():
            return self._recover_folder_id(create)  # damaged is not "no id" (X11)
        if current is not None:
            fid, recorded = current
            if recorded == str(self.root) or not create:
                return fid
            if not self._is_copy_of(Path(recorded), fid):
                self._write_folder_id(fid, replace=True)  # moved: same data, same id
                return fid
            log.info("data folder %s is a copy of %s: giving it its own id", self.root, recorded)
            import uuid  # here: reading the id (every list) never makes one

            made = self._write_folder_id(uuid.uuid4().hex, replace=True)
            if made:  # said once, by the writing command that made it (Y6): whose backups are whose changed
                _RENEWED.append(
                    f"This data folder is a copy of {recorded} (which still exists): it now has its own id, so its "
                    "new backups and copies are its own. The backups that came with the copy are kept, listed as "
                    "that folder's (never cleaned up here)."
                )
            return made or fid
        if not create:
            return None
        import uuid

        return self._write_folder_id(uuid.uuid4().hex, replace=False)

    @staticmethod
    def take_id_notices() -> list[str]:
        """The sentences, in the user's words, for each data folder taken for a copy and given its own id in this
        process since the last call (finding Y6: the one time it happens is said, by the command that did it).
        Clears them. Never raises."""
        out = list(_RENEWED)
        _RENEWED.clear()
        return out

    def adopt_folder_id(self, fid: str, sequence_after: int = 0, generation: int = 1) -> None:
        """Continue another data folder's chain of backups: take its id `fid` (32 hex digits), number new
        backups after `sequence_after` (the highest sequence among its backups) and record when (adopted_at),
        which take-over of that chain this is (`generation`: 1 + the one recorded at the location it came
        from, 1 when none was) and a random id of this adoption (`adoption`, 32 hex digits). Which computer
        continues the chain's copies is decided by (generation, sequence_after), never by adopted_at: a new
        computer's clock may be wrong (V12; manager._claim).
        For disaster recovery only: a fresh data folder restored from a location's copies carries on as that
        data folder, so the copies there stay one list and its retention keeps working.
        Raises ValueError for a malformed id, OSError when the file cannot be written."""
        if len(fid) != 32 or any(c not in "0123456789abcdef" for c in fid):
            raise ValueError(f"not a data folder id: {fid!r}")
        import uuid

        from .fsutil import atomic_write_bytes

        body: dict = {
            "id": fid,
            "path": str(self.root),
            "adopted_at": datetime.now(timezone.utc).isoformat(),
            "generation": max(1, int(generation)),
            "adoption": uuid.uuid4().hex,
        }
        if sequence_after > 0:
            body["sequence_after"] = int(sequence_after)
        atomic_write_bytes(self.folder_id_path, json.dumps(body).encode())

    def _chain_fields(self) -> dict:
        """What adopt_folder_id recorded beside the id (kept when the folder moves)."""
        try:
            body = json.loads(read_small_file(self.folder_id_path))
        except (OSError, ValueError):
            return {}
        keys = ("sequence_after", "adopted_at", "generation", "adoption")
        return {k: body[k] for k in keys if isinstance(body, dict) and k in body}

    def adoption(self) -> tuple[int | None, str]:
        """(generation, adoption id) of this data folder's take-over of a chain (adopt_folder_id): (None, "")
        when it recorded none (an original data folder, or one adopted by an older version). Never raises."""
        f = self._chain_fields()
        gen, token = f.get("generation"), f.get("adoption")
        ok = isinstance(gen, int) and not isinstance(gen, bool) and 0 < gen < 2**31
        return (gen if ok else None), (token if isinstance(token, str) and len(token) <= 64 else "")

    def sequence_floor(self) -> int:
        """The sequence an adopted chain had reached (adopt_folder_id); new backups are numbered above it. 0 if none."""
        n = self._chain_fields().get("sequence_after", 0)
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0

    def raise_sequence_floor(self, top: int) -> bool:
        """Number new backups above `top` too: a chain this data folder took over (adopt_folder_id) has copies up
        to `top` at a location it copies to, newer than the ones it restored (A5: made by the lost computer at a
        location the recovery did not come from). Only for a data folder that took over a chain; the take-over's
        other fields are kept. Returns whether the floor was raised. Raises OSError when the file cannot be
        written."""
        if top <= self.sequence_floor() or self.adopted_at() is None and self.adoption()[0] is None:
            return False
        from .fsutil import atomic_write_bytes

        try:
            body = json.loads(read_small_file(self.folder_id_path))
        except (OSError, ValueError):
            return False
        if not isinstance(body, dict):
            return False
        body["sequence_after"] = int(top)
        atomic_write_bytes(self.folder_id_path, json.dumps(body).encode())
        return True

    def adopted_at(self) -> datetime | None:
        """When this data folder took over another's chain by a disaster recovery (aware datetime), or None."""
        raw = self._chain_fields().get("adopted_at")
        try:
            when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            return None
        return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when

    def _read_folder_id(self) -> tuple[str, str] | None:
        try:
            body = json.loads(read_small_file(self.folder_id_path))
            fid, recorded = body["id"], body.get("path", "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if not isinstance(fid, str) or len(fid) != 32 or any(c not in "0123456789abcdef" for c in fid):
            return None
        return fid, recorded if isinstance(recorded, str) else ""

    @property
    def damaged_id_path(self) -> Path:
        return self.root / DAMAGED_ID_NAME

    def _odd_id_file(self) -> str | None:
        """What is at the id file's name when it is not a regular file ("a pipe", "a folder", "a device", "a link":
        fsutil.other_kind), else None (a file, or nothing). Such a thing is the user's: named, never moved aside or
        replaced (C12). lstat only; never raises."""
        from .fsutil import odd_kind_at

        return odd_kind_at(self.folder_id_path)

    def _id_file_there(self) -> bool:
        try:
            os.lstat(self.folder_id_path)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def id_from_backups(self) -> tuple[str, str] | None:
        """(data folder id, backup id) of the newest backup JobMatcher made in this data folder's backup folder (by
        sequence, then date) that records an id: what a damaged id file is taken back from. None when no backup
        records one, or when the backups there name several data folders and the folder is not this data
        folder's own <data>/backups (a shared chosen folder: whose they are is not known). Never raises."""
        from .listing import OWN_NAME
        from .manifest import load_manifest_file

        default = self.root / "backups"
        try:
            folder = self.backup_dir(check=False)
        except Exception:  # a damaged settings.json: the default folder is still worth a look
            folder = default
        found: list[tuple[int, datetime, str, str]] = []
        try:
            names = [e.name for e in os.scandir(folder) if e.name.endswith(".json")]
        except OSError:
            return None
        for name in names:
            stem = name[: -len(".json")]
            if not OWN_NAME.match(stem):
                continue
            try:
                m, _state = load_manifest_file(folder / name)
            except Exception:
                continue
            fid = m.data_folder_id if m is not None and not m.added_by_hand else None
            if not isinstance(fid, str) or len(fid) != 32 or any(c not in "0123456789abcdef" for c in fid):
                continue
            found.append((m.sequence or 0, m.created_at, fid, stem))  # type: ignore[union-attr]
        if not found:
            return None
        if len({f[2] for f in found}) > 1:
            try:
                if Path(folder).resolve() != default.resolve() or os.path.islink(default):
                    return None
            except OSError:
                return None
        # one data folder's backups go by their order of making; several folders' sequences do not compare
        several = len({f[2] for f in found}) > 1
        newest = max(found, key=lambda f: (f[1], f[0]) if several else (f[0], f[1]))
        return newest[2], newest[3]

    def _salvage_chain_fields(self, raw: bytes) -> dict:
        """The take-over fields (adopt_folder_id) still legible in a damaged id file's bytes, each only when
        whole and valid (a damaged one is left out: the location then refuses rather than trusts it)."""
        import re

        text = raw.decode("utf-8", "replace")
        out: dict = {}
        for key in ("generation", "sequence_after"):
            m = re.search(rf'"{key}"\s*:\s*([0-9]{{1,15}})\s*[,}}]', text)
            if m and int(m.group(1)) > 0:
                out[key] = int(m.group(1))
        m = re.search(r'"adoption"\s*:\s*"([0-9a-f]{32})"', text)
        if m:
            out["adoption"] = m.group(1)
        m = re.search(r'"adopted_at"\s*:\s*"([0-9T:.+\-]{19,40})"', text)
        if m:
            try:
                datetime.fromisoformat(m.group(1))
                out["adopted_at"] = m.group(1)
            except ValueError:
                pass
        return out

    def _recover_folder_id(self, create: bool) -> str | None:
        """folder_id for an id file that is there but cannot be read (finding X11)."""
        back = self.id_from_backups()
        if not create:
            return back[0] if back else None
        from .fsutil import fsync_dir, read_small_file

        if (odd := self._odd_id_file()) is not None:  # the user's pipe, folder, device or link: left where it is
            log.warning(
                "%s is at the name of the data folder's id file %s: left alone, the id read from %s",
                odd,
                self.folder_id_path,
                back[1] if back else "no backup",
            )
            return back[0] if back else None
        try:  # B13: never a plain open (a FIFO there blocked every writing command for ever)
            raw = read_small_file(self.folder_id_path, 1 << 16)
        except OSError:
            raw = b""  # not a regular file, larger than any id file, or unreadable: kept aside all the same
        aside = self.damaged_id_path
        n = 1
        while os.path.lexists(aside):  # an earlier damaged file stays too
            n += 1
            aside = self.root / f"{DAMAGED_ID_NAME}-{n}"
        try:
            os.rename(self.folder_id_path, aside)
            fsync_dir(self.root)
        except FileNotFoundError:
            pass  # another process kept it aside first: it writes the same id back
        except OSError as e:
            log.warning("the data folder's id file %s cannot be read nor kept aside: %s", self.folder_id_path, e)
            return back[0] if back else None
        import uuid

        if back is not None:
            fid = back[0]
            fields: dict = {"id": fid, "path": str(self.root), **self._salvage_chain_fields(raw)}
            fields["recovered_from"] = back[1]
            log.warning(
                "the data folder's id file %s could not be read (kept as %s): took the id %s back from the backup %s",
                self.folder_id_path,
                aside.name,
                fid,
                back[1],
            )
        else:
            fid = uuid.uuid4().hex
            fields = {"id": fid, "path": str(self.root), "recovered_from": ""}
            log.warning(
                "the data folder's id file %s could not be read (kept as %s) and no backup names this data "
                "folder's id: it gets a new one",
                self.folder_id_path,
                aside.name,
            )
        self._link_id_file(json.dumps(fields).encode())
        current = self._read_folder_id()  # the first writer's, when another process recovered it at once
        return current[0] if current else (back[0] if back else None)

    def id_file_note(self) -> tuple[str, str] | None:
        """(what happened, what to do) when this data folder's id file could not be read: it is damaged now (the
        next backup takes the id back), or a damaged one was kept aside (`.jobmatcher-folder-id.damaged`) and
        the id taken back from a backup or, when none named it, made new. None otherwise. Never raises."""
        if self._read_folder_id() is None and self._id_file_there():
            back = self.id_from_backups()
            where = f"the backup {back[1]}" if back else None
            if (odd := self._odd_id_file()) is not None:  # C12: what is there, not "damaged"
                return (
                    f"This data folder's id file {self.folder_id_path} is {odd}, not the id file JobMatcher writes, "
                    "so the data folder's id cannot be kept there.",
                    "Move it out of the data folder (JobMatcher does not delete or move what it did not make): "
                    + (
                        f"the next backup then takes the id back from {where}."
                        if where
                        else "the next backup then gives the data folder an id."
                    ),
                )
            return (
                f"This data folder's id file {self.folder_id_path} cannot be read (damaged).",
                f"The next backup takes the id back from {where} and keeps the damaged file aside."
                if where
                else "No backup here names this data folder's id: the next backup gives it a new one, and the "
                "backups made before are then listed as another data folder's.",
            )
        if not os.path.lexists(self.damaged_id_path):
            return None
        try:
            body = json.loads(read_small_file(self.folder_id_path))
            source = body.get("recovered_from") if isinstance(body, dict) else None
        except (OSError, ValueError):
            source = None
        if source is None:
            return None  # the id file was put right by hand since: the damaged one is only a leftover
        if source:
            return (
                f"This data folder's id file could not be read: JobMatcher took the id back from the backup "
                f"{source}, so your backups and copies stay this data folder's.",
                f"Nothing else to do; the damaged file is kept as {self.damaged_id_path}: delete it to stop this note.",
            )
        return (
            "This data folder's id file could not be read and no backup named its id: it got a new one, so "
            "backups made before are listed as another data folder's (kept, never cleaned up here).",
            f"The damaged file is kept as {self.damaged_id_path}: delete it to stop this note.",
        )

    def _link_id_file(self, body: bytes) -> str | None:
        """Write the id file `body` unless one is there (the first writer wins). Returns None, or the OSError's
        words when it could not be written."""
        from .fsutil import atomic_temp_name, fsync_dir, remove_quietly

        try:
            tmp = atomic_temp_name(self.folder_id_path)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, body)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                try:
                    os.link(tmp, self.folder_id_path)  # never replaces: the first writer's id wins
                except FileExistsError:
                    pass
                fsync_dir(self.root)
            finally:
                remove_quietly(tmp)
        except OSError as e:
            log.warning("could not record the data folder's id in %s: %s", self.root, e)
            return str(e)
        return None

    def _is_copy_of(self, original: Path, fid: str) -> bool:
        """True when `original` still exists and holds the same id: this folder is a copy of it."""
        try:
            if original.resolve() == self.root.resolve():
                return False
        except OSError:
            return False
        other = DataDir(original)._read_folder_id()
        return other is not None and other[0] == fid

    def _write_folder_id(self, fid: str, replace: bool) -> str | None:
        from .fsutil import atomic_write_bytes

        fields: dict = {"id": fid, "path": str(self.root)}
        current = self._read_folder_id()
        if current is not None and current[0] == fid:  # moved: an adopted chain's numbering moves along
            fields.update(self._chain_fields())
        body = json.dumps(fields).encode()
        if replace:
            try:
                atomic_write_bytes(self.folder_id_path, body)
            except OSError as e:
                log.warning("could not record the data folder's id in %s: %s", self.root, e)
                return None
            return fid
        if self._link_id_file(body) is not None:
            return None
        current = self._read_folder_id()
        return current[0] if current else None

    def settings(self) -> Settings:
        """settings.load_settings of this folder's settings.json (SettingsError when it is damaged)."""
        from .settings import load_settings

        return load_settings(self.settings_path)

    def backup_dir(self, settings: Settings | None = None, check: bool = True) -> Path:
        """The backup folder: the setting, or <data>/backups. With `check` (every use that reads or
        writes backups) it is validated each time (settings.check_backup_folder), raising SettingsError;
        `check=False` only to show the setting."""
        s = settings or self.settings()
        return self.backup_dir_named(s.backup_dir, check)

    def backup_dir_named(self, setting: str | None, check: bool = True) -> Path:
        """backup_dir for the backup folder setting `setting` (None or empty: <data>/backups). Raises as it does."""
        folder = Path(setting) if setting else self.root / "backups"
        if check:
            check_backup_folder(folder, self.root)
        return folder
