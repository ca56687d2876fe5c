"""Backup locations of one data folder: adding them, copying to them, their retention, their health.

The engine's backups stay the source of truth; a location receives copies of
the backups that passed their check, newest missing first, each one atomic and
checked there (see client.py). Copying runs in the background (copier.py) and
never holds anything the local backup or the page needs: it takes only its own
lock, reads published backup files, and writes its own two JSON files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from ..backups import BackupStore, in_pattern_top
from ..checklock import check_is_gone, finish_interrupted_checks, interrupted, is_checking
from ..datadir import DataDir
from ..digests import BLAKE3, SHA256, Algorithm
from ..errors import (
    ConfirmationNeededError,
    InvalidBackupError,
    JobMatcherError,
    KeyFileDamagedError,
    LocationCopyFailedError,
    LocationIdentityMissingError,
    LocationNotFoundError,
    LocationTakenOverError,
    LocationUnavailableError,
    SettingsError,
    TamperedCopyError,
    ValidationError,
    WrongPassphraseError,
)
from ..folders import holds_location_copies
from ..fsutil import (
    atomic_write_bytes,
    human_size,
    odd_kind_at,
    read_failed,
    read_small_file,
    require_utf8_path,
    same_file,
    user_path,
)
from ..lock import FileLock
from ..manifest import BackupRecord, read_manifest, seal_holds
from ..printable import printable, unprintable
from ..progress import Progress
from ..retention import RetentionPolicy, describe, newest_order, obsolete
from ..settings import check_backup_folder, check_location_folder
from .client import MARKER_KEY, ByteProgress, HashingWriter, LocationClient, SourceUnreadable
from .config import (
    DEFAULT_RETENTION_DAYS,
    EARLIER_KEYS_NAME,
    IDENTITY_NAME,
    RECIPIENT_PROOF_NAME,
    RELOCK_NAME,
    RETENTION_FIELDS,
    STATE_NAME,
    LocationConfig,
    LocationsConfig,
    LocationState,
    check_new_name,
    load_config,
    load_states,
    recipient_binding,
    save_config,
    save_states,
)
from .credentials import S3Keys, forget_keys, load_keys, save_keys
from .crypto import (
    check_new_passphrase,
    encrypt_file_into,
    is_recovery_key,
    lock_identity,
    new_identity,
    recipient_of,
    unlock_identity,
)
from .encproc import EncryptionChildFailed, EncryptionStalled, SpareEncryptor
from .folder import FolderLocation
from .remote import (
    ROOT,
    LocationManifest,
    RemoteBackup,
    computer_key,
    data_key,
    identity_key,
    intent_key,
    leftovers,
    list_remote,
    manifest_key,
    namespace,
    remote_listing,
    writer_key,
)
from .s3 import S3Location

log = logging.getLogger(__name__)

# progress (progress.Progress): "backup" counts the backups a sync copies, "copy" each one's bytes
LOCK_NAME = ".jobmatcher.locations.lock"
BACKOFF_FIRST = 30.0  # seconds before the first retry
BACKOFF_MAX = 6 * 3600.0  # never wait longer than this between tries
# The app's copier looks at each enabled location at least this often (seconds since its last successful sync),
# even with nothing new to copy: a copy deleted, cut short or changed there (B5, C6) is then copied again within
# hours while the app is open, not only after the next backup. A folder's look is a listing; S3's one LIST.
CHECKUP_SECONDS = 6 * 3600.0
STALE_DAYS = 7  # health warns when a location has had no successful copy for longer
# Problems a reachability check cannot see: shown until a copy works again (the location full, read-only…).
_STICKY = (
    "location-copy-failed",
    "location-taken-over",
    "location-identity-conflict",
    "recipient-mismatch",  # T9, U4: reaching the place does not fix the key; only a copy that works clears them
    "recipient-unproven",
)


class LocationStatus(BaseModel):
    """One row of `location list`: everything the user needs to trust (or fix) a location."""

    name: str
    kind: str
    where: str
    enabled: bool
    encrypted: bool
    retention_policy: str  # "tiered" or "simple", with its numbers (LocationConfig's retention fields)
    retention_days: int
    keep_all_hours: int
    keep_daily_days: int
    keep_weekly_weeks: int
    keep_monthly_months: int
    keeps: str  # the retention in words (retention.describe)
    reachable: bool | None  # None: not checked (disabled)
    problem: str = ""
    problem_code: str = ""
    last_success_at: datetime | None
    pending: int
    copies: int
    used_bytes: int  # as last seen there: reached now when `reachable` is True
    used_known: bool = True  # False: the size of `copies` is not known (0 is not it; see used_said)
    same_disk: bool = False  # a folder on the disk of the data folder or the backup folder: not another copy (X22)
    # its key file there still opens with the passphrase as it was before a change (X13): updated at its next copy
    old_passphrase: bool = False
    damaged: list[str] = []  # ids of this data folder's copies there last seen damaged (D5, D15)
    lost: list[str] = []  # those of `damaged` whose backup is no longer here: they cannot be copied again

    def used_said(self) -> str:
        """The space its copies take, in words for its row: "1.2 MB" (reached now, or not checked), "1.2 MB when
        last reached" (cannot be reached now), "size unknown: not reachable" / "size not known yet" when no size
        was recorded with the copies (a state file of an older version). Never raises."""
        if not self.used_known:
            return "size unknown: not reachable" if self.reachable is False else "size not known yet"
        size = human_size(self.used_bytes)
        return f"{size} when last reached" if self.reachable is False else size


class SyncResult(BaseModel):
    name: str
    copied: list[str] = []
    deleted: list[str] = []
    skipped: bool = False  # not due yet (backoff) or disabled
    error: str = ""
    error_code: str = ""
    # `location sync --verify` (C16): how many of this data folder's copies there were read back, and the ids of
    # those whose bytes no longer matched their checksum (copied again where this computer still has the backup)
    verified: int = 0
    damaged: list[str] = []
    # why each of `damaged` is (by id), in the words the list of copies uses (D15: cut short, grown, changed)
    damaged_why: dict[str, str] = {}
    # D16: backups of this data folder the location's retention would hold but that failed their check: not copied
    failed_backups: list[str] = []
    # copies there known damaged (this sync's read-back, or an earlier one's, or their size) whose backup is not
    # here as a sound one: they cannot be made again (status warns of them too)
    lost: list[str] = []


class PassphraseResult(BaseModel):
    """What `location passphrase` did: the data folder's key file is locked with the new passphrase; `updated`:
    the locations whose key file now is too; `pending`: those that still hold it locked with the old one (not
    reachable now: updated at their next copy), with why in `problems` (by name); `disabled`: disabled locations,
    left alone (README: a disabled location is left alone entirely), which keep the old file until they are
    enabled again and their next copy replaces it (B3)."""

    updated: list[str] = []
    pending: list[str] = []
    problems: dict[str, str] = {}
    disabled: list[str] = []
    # B18: locations holding another key's file (no passphrase of this data folder opens it; never replaced),
    # with why in `problems`: not pending, as no copy of this data folder updates them
    other_key: list[str] = []


class PathResult(BaseModel):
    """What `location set NAME --path` did: the changed location, what its new folder holds (`found`: "same-drive",
    the location's own marker; "copies", this data folder's copies; "new", none of them yet; "marker", its own
    folder again, whose lost marker was written anew beside this data folder's copies), how many copies of
    this data folder are there, and where it was before (`previous`: left as it was)."""

    location: LocationConfig
    found: str
    copies: int = 0
    previous: str


class AddResult(BaseModel):
    location: LocationConfig
    recovery_key: str | None = None  # shown once, when this add created the identity
    # said beside "Added": the place is on the same disk as the data or the backups (X22), "" otherwise
    note: str = ""


SAME_DISK_NOTE = (
    "{where} is on the same disk as your data (or your backups): copies there protect against mistakes, not "
    "against a failed or stolen disk, so they are not counted as another copy. For that, choose a USB drive, "
    "a network share or a synced folder."
)


def _backup_mismatch(backup_id: str) -> LocationCopyFailedError:
    """The backup `backup_id` does not match the SHA-256 its manifest records: not copied (reason checksum-mismatch)."""
    return LocationCopyFailedError(
        f"The backup {backup_id} does not match the checksum its manifest records (it changed after its check, "
        "or its manifest was edited), so it was not copied. The other backups are copied as usual.",
        f"Check it: `jobmatcher backup verify {backup_id}`.",
        "Check it with Verify beside it in the list.",
        reason="checksum-mismatch",
        id=backup_id,
    )


def _plaintext_proof(src: Path, rec: BackupRecord) -> tuple[Algorithm, str]:
    """(algorithm, expected hex digest) the encrypted copy of the backup `src` (listed as `rec`) is checked with.

    The location's manifest records the backup's SHA-256 (rec.sha256) and a restore from the copy is held
    to it, so what was encrypted must be proven to have that SHA-256. BLAKE3 (about a third of SHA-256's CPU
    in the encrypting child, the copy's pace) proves it only when the backup's manifest, read now, has that
    same SHA-256, a BLAKE3 and a seal that holds (manifest.seal_holds: both checksums came from one read of
    the same bytes). Otherwise (manifests of older versions; one whose SHA-256 or BLAKE3 was edited, finding
    H6; one changed since it was listed) SHA-256 itself. Never raises (an unreadable manifest: SHA-256)."""
    m = read_manifest(src)
    if m is not None and m.blake3 and rec.sha256 and m.sha256 == rec.sha256 and seal_holds(m):
        return BLAKE3, m.blake3
    return SHA256, rec.sha256 or ""


def _sha256(path: Path) -> str:
    from ..verify import sha256_file

    return sha256_file(path)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _TakeOver:
    """One data folder's take-over of a chain of copies by a disaster recovery, as recorded in its data folder
    (DataDir.adopt_folder_id) and, by the computer writing the copies, in the location's writer.json.

    `generation`: 1 + the take-over recorded at the location it was restored from (None: recorded by an older
    version); `sequence_after`: the highest sequence among the copies it continued; `adoption`: its random id;
    `adopted_at`: when, by that computer's clock (shown, compared only between two records of older versions).
    """

    generation: int | None
    sequence_after: int
    adoption: str
    adopted_at: datetime | None

    @classmethod
    def of_data(cls, data: DataDir) -> _TakeOver | None:
        """This data folder's take-over, or None when it took over no chain (the original). Never raises."""
        at = data.adopted_at()
        gen, token = data.adoption()
        if at is None and gen is None:
            return None
        return cls(gen, data.sequence_floor(), token, at)

    @classmethod
    def of_writer(cls, body: object) -> _TakeOver:
        """The take-over a writer.json body records. Raises ValueError / TypeError for a body that is not one:
        not a record of a format this version reads (1, 2), a value out of range, or no take-over in it (only a
        take-over writes writer.json, so such a body is a damaged one; see read_writer)."""
        if not isinstance(body, dict) or body.get("format") not in (1, 2):
            raise TypeError("not a writer record")
        raw, gen, seq, token = (body.get(k) for k in ("adopted_at", "generation", "sequence_after", "adoption"))
        at = datetime.fromisoformat(raw) if raw else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        if gen is not None and (not isinstance(gen, int) or isinstance(gen, bool) or not 0 < gen < 2**31):
            raise ValueError("not a generation")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= 2**53):
            raise ValueError("not a sequence")
        if at is None and gen is None:
            raise ValueError("no take-over recorded")
        return cls(gen, seq or 0, token if isinstance(token, str) else "", at)

    def rank(self) -> tuple[int, int]:
        """(generation, sequence_after): the later take-over ranks higher (one recorded by an older version
        counts as the first). Never raises."""
        return (self.generation or 1, self.sequence_after)

    def same(self, other: _TakeOver) -> bool:
        """Whether `other` is this very take-over (its id; its date for records of older versions)."""
        if self.adoption or other.adoption:
            return self.adoption == other.adoption
        return self.adopted_at == other.adopted_at

    def body(self) -> bytes:
        """writer.json's bytes for this take-over (format 2). Never raises."""
        return json.dumps(
            {
                "format": 2,
                "adopted_at": self.adopted_at.isoformat() if self.adopted_at else None,
                "generation": self.rank()[0],
                "sequence_after": self.sequence_after,
                "adoption": self.adoption,
                "written_at": _now().isoformat(),
            }
        ).encode()


class _Unreadable:
    """A writer.json that is there but cannot be read (see read_writer); `why` in the user's words."""

    def __init__(self, why: str) -> None:
        self.why = why


def read_writer(client: LocationClient, fid: str) -> _TakeOver | _Unreadable | None:
    """The take-over recorded at `client` for data folder `fid` (its writer.json): None when there is no
    writer.json (the original data folder writes there); _Unreadable when one is there but cannot be read
    (damaged, cut short, a value out of range, a format this version does not read, not a file, refused by the
    file system). Only a take-over ever writes writer.json, so an unreadable one is a take-over of unknown
    rank, never "no record": the safe reading for every caller (finding X4). Raises what reaching the
    location raises (LocationUnavailableError, LocationCopyFailedError for a linked folder above it…), never for
    what is read there."""
    try:
        raw = client.get_bytes(writer_key(fid))
    except FileNotFoundError:
        return None
    except LocationCopyFailedError as e:  # a link, a pipe, a device, larger than any record: not read
        reason = getattr(e, "reason", "")
        if reason not in ("not-a-file", "too-large"):
            raise  # not about the record (a folder above it is a link…): said as it is
        return _Unreadable("it is not a file JobMatcher wrote" if reason == "not-a-file" else "it is too large")
    except OSError as e:  # the file system refuses it (EACCES on a shared folder, EIO)
        return _Unreadable(e.strerror or str(e))
    try:
        return _TakeOver.of_writer(json.loads(raw))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return _Unreadable("it is damaged, or of a newer JobMatcher")


def generation_at(client: LocationClient, fid: str) -> int:
    """The take-over generation recorded at `client` for data folder `fid` (writer.json): 0 when none (the
    original writes there), 1 for a record of an older version. Never raises (unreadable, or the location
    cannot be read now: 1, a take-over happened but its rank is unknown)."""
    try:
        theirs = read_writer(client, fid)
    except (JobMatcherError, OSError):
        return 1
    if theirs is None:
        return 0
    return 1 if isinstance(theirs, _Unreadable) else theirs.rank()[0]


def backing_off(st: LocationState, now: datetime) -> bool:
    """Whether the location of state `st` waits in its retry back-off at `now` (UTC).

    A retry time is believed only within the largest back-off (BACKOFF_MAX, a minute's slack) ahead of now: one
    further ahead can only come from a clock that was wrong when it was set (ahead then) or is wrong now
    (behind), and it would pause unattended copies for as long as the clock was off (V10). Such a retry is
    due now. Never raises."""
    if st.next_try_at is None:
        return False
    ahead = (st.next_try_at - now).total_seconds()
    return 0 < ahead <= BACKOFF_MAX + 60


def folder_id_of(data: DataDir) -> str:
    """This data folder's id, 32 hex digits (issue 8's DataDir.folder_id when present; made and saved if
    there is none). Raises OSError only when a new id must be saved and cannot be."""
    fn = getattr(data, "folder_id", None)
    if fn is not None:
        fid = fn()
        if fid:
            return fid
    # Before DataDir.folder_id existed: the same file, the same format.
    path = data.root / ".jobmatcher-folder-id"
    try:
        fid = json.loads(read_small_file(path))["id"]
        if isinstance(fid, str) and len(fid) == 32:
            return fid
    except (OSError, ValueError, KeyError, TypeError):
        pass
    fid = uuid.uuid4().hex
    atomic_write_bytes(path, json.dumps({"id": fid, "path": str(data.root)}).encode())
    return fid


def make_client(cfg: LocationConfig, data_root: Path | None, keys: S3Keys | None = None) -> LocationClient:
    """The client for a configured location (nothing is contacted yet); S3 keys from `keys`, else from
    where they were stored. Raises LocationCredentialsError when stored keys are gone."""
    if cfg.kind == "folder":
        return FolderLocation(cfg.path or "", cfg.marker_id, cfg.name)
    if keys is None and data_root is not None and cfg.credentials != "none":
        keys = load_keys(data_root, cfg.id, cfg.credentials)
    return S3Location(
        cfg.bucket or "",
        cfg.prefix,
        cfg.endpoint_url,
        keys.access_key_id if keys else None,
        keys.secret_access_key if keys else None,
        cfg.region,
        spool_dir=data_root,
    )


class Locations:
    """The backup locations of one data folder."""

    def __init__(self, data: DataDir, store: BackupStore) -> None:
        self.data = data
        self.store = store

    # -- configuration -------------------------------------------------------------

    def config(self) -> LocationsConfig:
        """The configuration as saved. Raises SettingsError when the file is damaged."""
        return load_config(self.data.root)

    def get(self, name: str) -> LocationConfig:
        """The location named `name`. Raises LocationNotFoundError (naming those configured) or SettingsError
        (a damaged configuration)."""
        locations = self.config().locations
        for wanted in dict.fromkeys((name, unprintable(name))):  # also as printed, escaped (L21, as K5 for ids)
            for loc in locations:
                if loc.name == wanted:
                    return loc
        names = ", ".join(x.name for x in locations) or "none yet"
        raise LocationNotFoundError(
            f"There is no backup location named '{name}'.",
            f"Run `jobmatcher location list` to see them (configured: {names}).",
            "Reload the page to see the locations as they are now.",
            name=name,
        )

    def _lock(self, wait: float) -> FileLock:
        lock = FileLock(self.data.root / LOCK_NAME)
        if not lock.acquire(timeout=wait):
            raise JobMatcherError(
                "Copies to your backup locations are being made right now by another JobMatcher process.",
                "Try again in a minute.",
                code="sync-running",
            )
        return lock

    def _new_name(self, base: str, name: str | None, cfg: LocationsConfig) -> str:
        name = check_new_name(name or base)
        if any(x.name == name for x in cfg.locations):
            raise ValidationError(
                f"There is already a backup location named '{name}'.",
                "Choose another name with --name.",
                "Choose another name.",
                code="location-name-taken",
                name=name,
            )
        return name

    def identity_path(self) -> Path:
        """Where the data folder's locked age identity is kept (whether or not it exists). Never raises."""
        return self.data.root / IDENTITY_NAME

    def _locked_identity(self) -> bytes:
        """The bytes of the data folder's locked identity, refused when they are not an age passphrase file
        (a torn write, bit rot, a sync tool's conflict copy): such a file must never be published over a
        location's good copy, nor be taken for a wrong passphrase (H21).

        Raises KeyFileDamagedError (damaged), OSError (cannot be read)."""
        locked = read_small_file(self.identity_path())
        if not locked.startswith(b"age-encryption.org/v1\n-> scrypt "):
            raise self._key_file_damaged()
        return locked

    def _key_file_damaged(self) -> KeyFileDamagedError:
        """The refusal for a data folder's locked identity that is damaged (L24): said as the key file, with the
        way back (a new encrypted location with the passphrase takes the key back); never the passphrase, never
        a location's copies."""
        return KeyFileDamagedError(
            f"The encryption key file {IDENTITY_NAME} in the data folder is damaged (JobMatcher cannot read it as an "
            "encrypted key file), so it can neither be used nor copied to a backup location.",
            f"Move {IDENTITY_NAME} out of the data folder (keep it), then add an encrypted backup location in a "
            "new place with your passphrase (`jobmatcher location add folder PATH --passphrase-file FILE`): "
            "JobMatcher takes the key back from a location that holds it.",
            f"Move {IDENTITY_NAME} out of the data folder (keep it), then add an encrypted backup location in a "
            "new place with your passphrase: JobMatcher takes the key back from a location that holds it.",
        )

    def _proof_path(self) -> Path:
        """The file beside the locked identity naming its recipient (U4). Never raises."""
        return self.data.root / RECIPIENT_PROOF_NAME

    def _record_proof(self, recipient: str, locked: bytes) -> None:
        """Write, beside the locked identity, the recipient it was just seen to open to (made, unlocked, recovered,
        adopted) with its binding to those bytes: what `_check_recipient` trusts whatever locations.json says
        (U4). Not a secret (a recipient is public). A failure to write is logged: the binding in locations.json
        still holds until the next unlock. Never raises."""
        data = json.dumps({"recipient": recipient, "binding": recipient_binding(recipient, locked)}) + "\n"
        try:
            _write_private(self._proof_path(), data.encode())
        except OSError as e:
            log.warning("could not record the key file's recipient: %s", e)

    def _proven_recipient(self, locked: bytes) -> str | None:
        """The recipient recorded beside the locked identity when it was last opened, if that record goes with
        these bytes (not another data folder's, not one from before the key file changed). Never raises."""
        try:
            rec = json.loads(read_small_file(self._proof_path()).decode("utf-8"))  # B14: a FIFO never waited on
            recipient = rec["recipient"]
            if isinstance(recipient, str) and rec.get("binding") == recipient_binding(recipient, locked):
                return recipient
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _recorded_recipient(self) -> str | None:
        """The recipient recorded beside the key file when it was last opened, whatever its binding. Never raises."""
        try:
            recipient = json.loads(read_small_file(self._proof_path()).decode("utf-8"))["recipient"]
            return recipient if isinstance(recipient, str) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _bind(self, cfg: LocationsConfig, recipient: str, locked: bytes) -> None:
        """Set the configuration's recipient from an identity just opened or made, with its binding, and record
        the proof beside the key file. Never raises (the proof's write is logged when it fails)."""
        cfg.recipient, cfg.recipient_binding = recipient, recipient_binding(recipient, locked)
        self._record_proof(recipient, locked)

    def prove_recipient(self, secret: str) -> str:
        """Open this data folder's key file with `secret` once and record its recipient beside it: the one step
        an older data folder (or one whose locations.json lost its binding) takes before encrypted copies are
        made again (U4). Returns the recipient. When locations.json names another recipient, nothing is
        changed and the mismatch is raised.

        Raises LocationIdentityMissingError-like JobMatcherError (no key file), KeyFileDamagedError,
        WrongPassphraseError (the passphrase does not open it), ValidationError (given as a recovery key that is
        not one), LocationCopyFailedError (code
        "recipient-mismatch"), OSError; odd_key_file()'s error (a pipe, device or folder at the key file's name)."""
        self.refuse_odd_key_file()  # not "no key file": something the user put there (B6's kind)
        if not self.identity_path().is_file():
            raise JobMatcherError(
                f"This data folder has no encryption key file ({IDENTITY_NAME}), so there is nothing to unlock.",
                "Add an encrypted backup location with your passphrase: the key is taken back from a location "
                "that holds it, or made.",
                code="no-key-file",
            )
        try:
            identity = self._unlock_own(secret)
        except (ValidationError, WrongPassphraseError) as e:
            _unless_not_the_passphrase(e)
            if self._keep_location_key_file(secret):  # this key under that passphrase at a location (A9)
                return self.config().recipient or ""
            raise WrongPassphraseError(
                "This passphrase (or recovery key) does not open this data folder's key file. Nothing was changed.",
                "Give the passphrase chosen when encryption was set up (or the recovery key you were shown).",
            ) from None
        recipient = recipient_of(identity)
        locked = self._locked_identity()
        self._record_proof(recipient, locked)
        cfg = self.config()
        if cfg.recipient and cfg.recipient != recipient:
            raise _recipient_mismatch()
        return recipient

    def _unlock_own(self, secret: str) -> str:
        """The data folder's identity opened with `secret`. Raises KeyFileDamagedError when the key file is
        damaged (not an age file, or age cannot read it whatever the passphrase), WrongPassphraseError when
        `secret` does not open it, ValidationError for a mangled recovery key, OSError (cannot be read)."""
        try:
            return unlock_identity(self._locked_identity(), secret)
        except WrongPassphraseError as e:
            if e.code == "key-damaged":
                raise self._key_file_damaged() from None
            raise

    def _ensure_identity(
        self, cfg: LocationsConfig, passphrase: str | None, client: LocationClient, fid: str
    ) -> str | None:
        """Make sure the data folder holds its identity before an encrypted location is added; returns the
        recovery key only when a new identity was just made (the first encrypted location).

        An identity that exists anywhere is never replaced by a new one, as every copy encrypted to it would
        no longer open with the passphrase: a data folder that lost `location-identity.age` recovers it with
        the passphrase from a location that holds it (the new one or a configured one), and a locked identity
        already in the data folder is opened rather than made anew.

        Raises ValidationError (no passphrase given), WrongPassphraseError (the passphrase does not open the
        identity that exists) or LocationIdentityMissingError (the copies' identity is missing here and no
        location holding it could be reached); nothing is written then.
        """
        if cfg.recipient and self.identity_path().is_file():
            return None
        if not passphrase:
            raise ValidationError(
                "Encrypted copies need a passphrase, chosen once for this data folder.",
                "Give it with --passphrase-file FILE or type it when asked (or use --no-encrypt).",
                "Type a passphrase in the form (or turn encryption off).",
                code="passphrase-needed",
            )
        if self.identity_path().is_file():  # the key is here, only the configuration forgot its recipient
            try:
                identity = self._unlock_own(passphrase)
            except (WrongPassphraseError, ValidationError) as e:
                _unless_not_the_passphrase(e)
                raise WrongPassphraseError(
                    "This data folder already has an encryption key for its copies, and this passphrase does not "
                    "open it. Nothing was saved.",
                    "Give the passphrase chosen when encryption was set up (or the recovery key you were shown).",
                ) from None
            self._bind(cfg, recipient_of(identity), self._locked_identity())
            return None
        # The locked identity is missing here: recover it from a location that holds it, with the passphrase.
        found, refused = self._recover_identity(cfg, passphrase, client, fid)
        if found:
            return None
        if refused:
            raise WrongPassphraseError(
                f"The encryption key of this data folder's copies is missing from the data folder, and the copy of "
                f"it at {refused} does not open with this passphrase. Nothing was saved.",
                "Give the passphrase chosen when encryption was set up: JobMatcher then takes the key back from "
                "that location, and every copy stays readable.",
            )
        encrypted = [x.name for x in cfg.locations if x.encrypt]
        if cfg.recipient and encrypted:
            raise LocationIdentityMissingError(
                "The encryption key of this data folder's copies (location-identity.age) is missing from the data "
                f"folder, and no backup location holding it could be reached ({', '.join(map(repr, encrypted))}). "
                "A new key would leave every existing copy unreadable with your passphrase, so nothing was saved.",
                f"Connect the location '{encrypted[0]}' and try again: the key is taken back from it with your "
                "passphrase. Or put location-identity.age back into the data folder from a copy of it.",
            )
        identity, recipient = new_identity()
        locked = lock_identity(identity, passphrase)
        _write_private(self.identity_path(), locked)
        self._bind(cfg, recipient, locked)
        return identity

    def _recover_identity(
        self, cfg: LocationsConfig, passphrase: str, client: LocationClient, fid: str
    ) -> tuple[bool, str]:
        """Take this data folder's locked identity back from a location: the new one (`client`) first, then
        each configured encrypted location. Returns (recovered, where a locked identity was found that the
        passphrase did not open: "" if none). Only an identity whose recipient is the configured one (any,
        when none is configured) is taken; it is written as found (locked with the same passphrase).
        Raises OSError when the recovered identity cannot be written."""
        sources: list[tuple[str, LocationClient]] = [(client.describe(), client)]
        for loc in cfg.locations:
            if loc.encrypt:
                try:
                    sources.append((f"the location '{loc.name}'", make_client(loc, self.data.root)))
                except JobMatcherError:
                    continue
        refused = ""
        for where, source in sources:
            try:
                locked = source.get_bytes(identity_key(fid))
            except (JobMatcherError, OSError):  # not there, or the location cannot be reached now
                continue
            try:
                identity = unlock_identity(locked, passphrase)
                recipient = recipient_of(identity)
            except (WrongPassphraseError, ValidationError) as e:
                _unless_not_the_passphrase(e)
                refused = refused or where
                continue
            if is_recovery_key(passphrase):
                refused = refused or where  # a recovery key opens any locked file: it proves nothing about this one
                continue
            if cfg.recipient and recipient != cfg.recipient:
                refused = refused or where
                continue
            _write_private(self.identity_path(), locked)
            self._bind(cfg, recipient, locked)
            log.warning("the data folder's encryption key was missing: recovered it from %s", where)
            return True, ""
        return False, refused

    def _check_location_identity(
        self, client: LocationClient, fid: str, passphrase: str | None, cfg: LocationsConfig
    ) -> None:
        """Refuse to add an encrypted location whose folder already holds another locked identity for this data
        folder: writing ours there would lock its copies' key away. The same bytes, or a locked identity the
        passphrase opens to our recipient, are ours. Raises LocationIdentityConflictError."""
        try:
            theirs = client.get_bytes(identity_key(fid))
        except FileNotFoundError:
            return
        if theirs == self._locked_identity() or self._earlier_key_file(theirs):
            return
        recipient = cfg.recipient
        if passphrase and not is_recovery_key(passphrase) and recipient:
            try:
                opened = recipient_of(unlock_identity(theirs, passphrase))
            except (WrongPassphraseError, ValidationError) as e:
                _unless_too_slow(e)
            else:
                if opened == recipient:
                    return
                raise _identity_conflict(client.describe())  # it opens, to another key: truly another
        raise _identity_conflict(client.describe(), unknown=True, adding=True)

    def _same_key_there(self, client: LocationClient, fid: str, secret: str, cfg: LocationsConfig) -> bytes | None:
        """The key file at the place when `secret` (a passphrase, not the recovery key: that opens any key file of
        this key and so proves nothing about which file is the user's) opens it to this data folder's recipient:
        the same key locked with another passphrase (a change that left one place with the other file, A9).
        None when there is none there, or it does not open with `secret`. Raises LocationCopyFailedError when it
        opens to another key (never taken), what age raises when it did not try."""
        if not secret or is_recovery_key(secret) or not cfg.recipient:
            return None
        try:
            theirs = client.get_bytes(identity_key(fid))
        except FileNotFoundError:
            return None
        try:
            recipient = recipient_of(unlock_identity(theirs, secret))
        except (WrongPassphraseError, ValidationError) as e:
            _unless_too_slow(e)
            return None
        if recipient != cfg.recipient:
            raise _identity_conflict(client.describe())
        return theirs

    def _remove_dead_temps(self) -> None:
        """Remove the temp files of the data folder's own files (the key file, its proof, the passphrase change's
        record, the locations' files) that a killed write left (A7): the commands that write them (location
        sync, location passphrase) need not go through a launch, which removes them too. Only names JobMatcher
        makes, of processes gone. Never raises."""
        from ..datadir import own_data_folder_file
        from ..fsutil import remove_dead_temp_files

        try:
            removed = remove_dead_temp_files(self.data.root, own_data_folder_file)
        except OSError:
            return
        if removed:
            log.info("removed temp files a killed write left in the data folder: %s", ", ".join(removed))

    def _keep_location_key_file(self, secret: str) -> bool:
        """When `secret` does not open the data folder's key file but opens an encrypted location's to this data
        folder's recipient (this key locked with another passphrase there, A9), keep that file as the data
        folder's (_keep_key_file). Returns whether one was kept. Raises LocationCopyFailedError (a location's
        key file opens to another key), JobMatcherError (the locations' lock is held), OSError."""
        lock = self._lock(wait=30)
        try:
            cfg = self.config()
            fid = folder_id_of(self.data)
            for loc in cfg.locations:
                if not loc.encrypt:
                    continue
                try:
                    client = make_client(loc, self.data.root)
                    theirs = self._same_key_there(client, fid, secret, cfg)
                except LocationCopyFailedError:
                    raise
                except (JobMatcherError, OSError):  # cannot be reached now
                    continue
                if theirs is not None and self._earlier_key_file(theirs):
                    continue  # B11: that place is behind (its next copy gets the current file), not this folder
                if theirs is not None:
                    self._keep_key_file(cfg, theirs)
                    save_config(self.data.root, cfg)
                    self._relock_done(loc.id)
                    log.warning(
                        "%s",
                        _kept_note(loc.where(), [x.name for x in cfg.locations if x.encrypt and x.id != loc.id]),
                    )
                    return True
            return False
        finally:
            lock.release()

    def _keep_key_file(self, cfg: LocationsConfig, theirs: bytes) -> None:
        """Make `theirs` (this very key, locked with the passphrase the user just gave) the data folder's key
        file. The file it replaces is recorded as an earlier one (X13), so every encrypted location holding it
        gets the kept file at its next copy, and the earlier passphrase opens the key there until then. The
        caller saves `cfg` (its binding). Raises OSError."""
        try:
            mine: bytes | None = self._locked_identity()
        except (KeyFileDamagedError, OSError):
            mine = None
        journal = self._relock_journal() or {"earlier": [], "pending": []}
        if mine is not None and mine not in journal["earlier"]:
            journal["earlier"].append(mine)
        journal["earlier"] = [x for x in journal["earlier"] if x != theirs]
        pending = [x.id for x in cfg.locations if x.encrypt]
        journal["pending"] = list(dict.fromkeys(journal["pending"] + pending))
        self._save_relock(journal)
        if mine is not None:
            self._remember_replaced(mine)
        _write_private(self.identity_path(), theirs)
        self._bind(cfg, cfg.recipient or "", theirs)
        log.warning("kept a location's key file (this key under the passphrase given) as the data folder's")

    def _check_existing_passphrase(self, cfg: LocationsConfig, secret: str) -> None:
        """A passphrase (or recovery key) given while the data folder already has an identity must open it:
        every location shares that one identity, so a different passphrase would silently not apply.

        Raises WrongPassphraseError when it does not open this data folder's identity.
        """
        refused = WrongPassphraseError(
            "This data folder's copies already use a passphrase, and this is not it: all its backup locations "
            "share one passphrase. Nothing was saved.",
            "Give that passphrase (or the recovery key you were shown when encryption was set up).",
        )
        try:
            identity = self._unlock_own(secret)
        except (WrongPassphraseError, ValidationError) as e:
            _unless_not_the_passphrase(e)
            raise refused from None
        if recipient_of(identity) != cfg.recipient:  # another data folder's recovery key
            raise refused
        self._record_proof(cfg.recipient, self._locked_identity())  # opened: an older folder's step (U4)

    def _folder_place(self, path: str | None) -> Path:
        """The full path of a new folder location, or the refusal (ValidationError / SettingsError) of the backup
        folder's rules: none needs the folder to exist, nor a secret."""
        if not path:
            raise ValidationError("Name the folder to keep copies in.", "Give its full path.")
        p = user_path(path, "The location's folder")  # "~nobody/…": refused with its own message
        require_utf8_path(p, "The location's folder")  # kept in locations.json: must come back exactly
        if not p.is_absolute():
            raise ValidationError(
                f"The folder must be a full path, not {path!r}.",
                "Choose it with the folder picker or type its full path.",
            )
        p = Path(os.path.abspath(p))
        # The backup folder's rules (never the data folder, inside it or a parent of it, the top of a
        # disk, a system folder, a file): a location is written to and pruned just the same.
        check_backup_folder(
            p,
            self.data.root,
            what="The location's folder",
            allow_default=False,
            hint="Choose a folder on another drive, a network share or a synced folder.",
            page_hint="Choose a folder on another drive, a network share or a synced folder.",
        )
        check_location_folder(p, self.store.folder)  # never sharing a place with a backup folder (H4)
        return p

    def check_new_folder(self, path: str) -> Path:
        """Every check of a new folder location that needs no secret, nothing written: its path is allowed
        (_folder_place) and the folder is there (LocationUnavailableError, reason "not-there", as add says).
        The command line runs it before asking for a new passphrase (X12). Returns the full path."""
        p = self._folder_place(path)
        client = FolderLocation(p)
        client.adding = True
        if not p.is_dir():
            raise client._unavailable("the folder does not exist (create it first)")
        return p

    def add(
        self,
        kind: str,
        *,
        path: str | None = None,
        endpoint_url: str | None = None,
        bucket: str | None = None,
        prefix: str = "",
        region: str | None = None,
        keys: S3Keys | None = None,
        name: str | None = None,
        encrypt: bool = True,
        passphrase: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        confirmed: bool = False,
        retention: dict[str, Any] | None = None,
    ) -> AddResult:
        """Add a location: check it is reachable and writable, write its marker, store its keys.

        Its retention: tiered with the backup folder's default tiers and `retention_days` for manual
        backups, changed by `retention` (any of config.RETENTION_FIELDS, e.g. {"retention_policy": "simple"}
        or {"keep_monthly_months": 36}; their limits are the settings' own: SettingsError when out of them).

        `confirmed`: the user said yes to the copies its retention deletes at its first sync. A place that
        already holds copies of this data folder (a drive added again) keeps them under the new location's
        retention; without `confirmed`, an add whose first sync would delete some of them is refused.

        Raises LocationUnavailableError / LocationCredentialsError (nothing is saved then), ValidationError,
        or ConfirmationNeededError (action "delete-location-copies": how many copies, which; nothing saved);
        for an encrypted one, odd_key_file()'s error when a pipe, a device or a folder is at the key file's name
        (D13: nothing written, nothing replaced).
        """
        lock = self._lock(wait=30)
        try:
            cfg = self.config()
            if kind == "folder":
                p = self._folder_place(path)
                loc = LocationConfig(
                    id=uuid.uuid4().hex[:12],
                    name=self._new_name(_default_name(p), name, cfg),
                    kind="folder",
                    path=str(p),
                    encrypt=encrypt,
                    retention_days=retention_days,
                    added_at=_now(),
                )
                loc = _with_retention(loc, retention or {})
            elif kind == "s3":
                if not bucket or not (3 <= len(bucket) <= 63):
                    raise ValidationError(f"{bucket!r} is not a bucket name.", "Bucket names have 3 to 63 characters.")
                from .s3 import check_endpoint_url, check_region

                check_endpoint_url(endpoint_url)  # ValidationError: not http(s), a password in it, a bad host
                check_region(region)
                if keys is None:
                    raise ValidationError(
                        "The access keys of the storage are needed.",
                        "Give --access-key-id and --secret-access-key-file, or set "
                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
                        "Type the access key id and the secret access key in the form.",
                        code="keys-needed",
                    )
                loc = LocationConfig(
                    id=uuid.uuid4().hex[:12],
                    name=self._new_name(bucket, name, cfg),
                    kind="s3",
                    endpoint_url=endpoint_url,
                    bucket=bucket,
                    prefix=prefix.strip("/"),
                    region=region,
                    encrypt=encrypt,
                    retention_days=retention_days,
                    added_at=_now(),
                )
                loc = _with_retention(loc, retention or {})
            else:
                raise ValidationError(f"{kind!r} is not a kind of location.", "Use folder or s3.")
            for other in cfg.locations:  # one place, one location: else its copies would count twice
                if _same_place(loc, other):
                    raise ValidationError(
                        f"{loc.where()} is already the location '{other.name}'.",
                        "Two locations in one place would count the same copies twice (and prune them by two "
                        f"rules). Choose another place, or change '{other.name}' (`jobmatcher location list`).",
                        "Choose another place: this one is already a backup location.",
                        code="location-duplicate",
                        name=other.name,
                    )
                if (nested := _nested(loc, other)) is not None:  # copies inside another location's (L4)
                    raise ValidationError(
                        f"{loc.where()} {nested} the location '{other.name}' ({other.where()}).",
                        "Choose a folder of its own for the copies: on another drive, a network share or a synced "
                        "folder."
                        if loc.kind == "folder"
                        else "Choose a prefix of its own (not inside or above another location's), or another bucket.",
                        code="location-nested",
                        name=other.name,
                    )
            if encrypt:  # D13: a pipe, device or folder there is the user's, never replaced by a key taken back
                self.refuse_odd_key_file()
            not_ours: WrongPassphraseError | None = None  # the passphrase does not open the data folder's key file
            if encrypt and passphrase:  # checked before anything is written at the location
                if cfg.recipient and self.identity_path().is_file():
                    try:
                        self._check_existing_passphrase(cfg, passphrase)
                    except WrongPassphraseError as e:
                        not_ours = e  # unless the place's key file is this key under that passphrase (A9)
                else:
                    check_new_passphrase(passphrase)
            client = make_client(loc, self.data.root, keys)
            client.adding = True  # its refusals' hints: nothing added, nothing retried (L15)
            fid = folder_id_of(self.data)
            # What this add writes at the place, removed again when it is refused after writing (T14): a
            # refused add leaves the user's folder or bucket as it was, not holding a marker that makes it
            # look like a location.
            client.reachable()  # the quick probe first: a place that never answers is said within seconds (C15)
            made = _AddUndo(client, fid)
            client.initialize()  # raises with nothing saved when it cannot be reached or written
            try:
                if isinstance(client, FolderLocation):
                    loc.marker_id = client.read_marker_id()
                    _not_a_moved_location(loc, cfg)
                if not confirmed:  # before anything of this data folder is written there (H22)
                    self._confirm_pruning(loc, client, fid, "add")
                self._claim(client, fid, loc.name)  # refused when another computer continues these copies
                recovery = self._ensure_identity(cfg, passphrase, client, fid) if encrypt else None
                take: bytes | None = None  # the place's key file, kept instead of the data folder's (A9)
                behind = False  # the place holds a key file this data folder replaced: it gets the current one
                if not_ours is not None:
                    take = self._same_key_there(client, fid, passphrase or "", cfg)
                    if take is None:
                        raise not_ours
                    if self._earlier_key_file(take):
                        # B11: the drive is behind, not the data folder (an earlier passphrase of yours, given):
                        # the data folder's current key file goes there, never the other way round
                        take, behind = None, True
                        client.put_bytes(identity_key(fid), self._locked_identity())
                if encrypt and take is None and not behind:
                    try:
                        self._check_location_identity(client, fid, passphrase, cfg)
                    except BaseException:
                        if recovery is not None:  # made just now and not saved: no key without its configuration
                            self.identity_path().unlink(missing_ok=True)
                        raise
                    try:
                        theirs: bytes | None = client.get_bytes(identity_key(fid))
                    except FileNotFoundError:
                        theirs = None
                    if theirs is None or self._earlier_key_file(theirs):  # an old passphrase's: replaced (X13)
                        client.put_bytes(identity_key(fid), self._locked_identity())
                if take is not None:
                    self._keep_key_file(cfg, take)
                if kind == "s3" and keys is not None:
                    loc.credentials = "keyring" if save_keys(self.data.root, loc.id, keys) == "keyring" else "file"
                cfg.locations.append(loc)
                save_config(self.data.root, cfg)
            except BaseException:
                made.undo()
                raise
            log.info("added backup location %s (%s, %s)", loc.name, loc.kind, "encrypted" if encrypt else "plain")
            note = SAME_DISK_NOTE.format(where=loc.where()) if self._same_disk(loc) else ""
            if behind:
                note = " ".join(
                    x
                    for x in (
                        f"The key file at {loc.where()} was locked with an earlier passphrase of yours (the one you "
                        "gave): it now holds the key locked with your current passphrase, as the data folder does. "
                        "Your current passphrase stays the one that opens the key.",
                        note,
                    )
                    if x
                )
            if take is not None:
                note = " ".join(
                    x
                    for x in (
                        _kept_note(loc.where(), [x.name for x in cfg.locations if x.encrypt and x.id != loc.id]),
                        note,
                    )
                    if x
                )
            return AddResult(location=loc, recovery_key=recovery, note=note)
        finally:
            lock.release()

    def remove(self, name: str) -> LocationConfig:
        """Forget a location (its copies stay where they are; its stored keys are deleted); its configuration.

        Raises LocationNotFoundError, JobMatcherError (another process holds the locations' lock for 30 s),
        SettingsError (a damaged configuration) or OSError (the configuration cannot be written)."""
        lock = self._lock(wait=30)
        try:
            cfg = self.config()
            loc = self.get(name)
            cfg.locations = [x for x in cfg.locations if x.id != loc.id]
            save_config(self.data.root, cfg)
            self._relock_done(loc.id)  # nothing left to update there for a passphrase change
            if not forget_keys(self.data.root, loc.id, loc.credentials):
                log.warning(
                    "the access keys of the removed location %s stay in the system keyring (locked or not "
                    "running): delete the entry JobMatcher / location-%s there",
                    loc.name,
                    loc.id,
                )
            states = load_states(self.data.root)
            if states.pop(loc.id, None) is not None:
                save_states(self.data.root, states)
            return loc
        finally:
            lock.release()

    def set_enabled(self, name: str, enabled: bool, confirmed: bool = False) -> LocationConfig:
        """Turn copying to a location on or off; the changed location.

        A disabled location is left alone, so its copies may have aged past its retention meanwhile: without
        `confirmed`, enabling one whose next sync would delete copies there is refused (when the location can
        be reached now to count them). Raises ConfirmationNeededError (action "delete-location-copies", nothing
        changed), otherwise as remove() does."""
        if enabled and not confirmed:
            loc = self.get(name)
            if not loc.enabled:
                self._confirm_pruning_if_reachable(loc, "enable")
        return self._update(name, enabled=enabled)

    def set_retention(
        self, name: str, days: int | None = None, confirmed: bool = False, **policy: Any
    ) -> LocationConfig:
        """Change a location's retention; the changed location. `days`: keep (manual, or with the simple
        policy all) copies that many days (1 to 36,500); `policy`: any other of config.RETENTION_FIELDS
        (retention_policy "tiered" or "simple", keep_all_hours, keep_daily_days, keep_weekly_weeks,
        keep_monthly_months), with the settings' limits.

        Without `confirmed`, a change that makes the next sync of an enabled location delete copies its
        current retention keeps is refused (when the location can be reached now to count them). Raises
        SettingsError for a value out of its limits, ConfirmationNeededError (action "delete-location-copies",
        `deletes` exactly the copies that sync would delete and the current retention keeps; nothing
        changed); otherwise as remove() does."""
        changes = dict(policy)
        if days is not None:
            changes["retention_days"] = days
        loc = self.get(name)
        new = _with_retention(loc, changes)
        if not confirmed and loc.enabled and not _keeps_at_least(new, loc):
            self._confirm_pruning_if_reachable(new, "retention", loc)
        return self._update(name, **{k: getattr(new, k) for k in RETENTION_FIELDS})

    def set_path(self, name: str, path: str) -> PathResult:
        """Point the folder location `name` at another folder `path` (its drive mounted at another place, or the
        folder moved: finding X26); the changed location and what the new folder holds. Nothing at the old
        folder is deleted or changed.

        The new folder must hold this data folder's copies (the location's own drive: its marker; or this data
        folder's copies, key file and take-over record, checked as a copy checks them) or none at all (a new
        place: the next sync copies there). Refused, with nothing written: an S3 location (no folder),
        a folder holding only other data folders' copies, another key for this data folder's copies, the
        folder of another configured location, or copies another computer continues there.

        Raises ValidationError (codes "location-not-a-folder", "location-same-path", "location-duplicate",
        "location-nested", "location-other-copies", "location-moved"), SettingsError (the folder rules of
        add), LocationUnavailableError (not there, marker unreadable), LocationCopyFailedError (code
        "location-identity-conflict"), LocationTakenOverError, JobMatcherError (the lock held), OSError."""
        loc = self.get(name)
        if loc.kind != "folder":
            shown = printable(loc.name)
            raise ValidationError(
                f"'{shown}' is S3 storage, not a folder: it has no path to change.",
                "To copy to another bucket or prefix, add it as a new location (`jobmatcher location add s3 …`), "
                f"then remove '{shown}' (`jobmatcher location remove '{shown}'`: its copies stay where they are).",
                "To copy to another bucket or prefix, add it as new S3 storage, then remove this one (its copies "
                "stay where they are).",
                code="location-not-a-folder",
                name=loc.name,
            )
        p = self._folder_place(path)
        lock = self._lock(wait=30)
        try:
            cfg = self.config()
            loc = next(x for x in cfg.locations if x.id == loc.id)
            before = loc.where()
            moved = loc.model_copy(update={"path": str(p)})
            # The same folder again is a change only when its marker is lost and copies are there (copied without
            # its hidden files, or by a sync tool that skips them: FINDINGS20 1): it is written again once the
            # checks below prove the copies are this data folder's (as for a folder the drive moved to).
            remark = _same_place(moved, loc)
            if remark and (os.path.lexists(p / MARKER_KEY) or not holds_location_copies(p)):
                raise ValidationError(
                    f"'{printable(loc.name)}' is already at {p}: nothing to change.",
                    "Give the folder where the drive is mounted now.",
                    code="location-same-path",
                    name=loc.name,
                )
            for other in cfg.locations:
                if other.id == loc.id:
                    continue
                if _same_place(moved, other):
                    raise ValidationError(
                        f"{p} is already the location '{printable(other.name)}'.",
                        "Two locations in one place would count the same copies twice. Give another folder.",
                        code="location-duplicate",
                        name=other.name,
                    )
                if (nested := _nested(moved, other)) is not None:
                    raise ValidationError(
                        f"{p} {nested} the location '{printable(other.name)}' ({other.where()}).",
                        "Give a folder of its own for the copies.",
                        code="location-nested",
                        name=other.name,
                    )
            client = FolderLocation(p)
            client.adding = True  # its refusals: nothing changed, not "caught up when it is back"
            if not p.is_dir():
                raise client._unavailable("the folder does not exist (create it first)")
            marker = client.read_marker_id()
            twin = next((o for o in cfg.locations if o.id != loc.id and o.marker_id and o.marker_id == marker), None)
            if twin is not None:
                raise ValidationError(
                    f"{p} is the folder (or drive) of your location '{printable(twin.name)}', last seen at "
                    f"{twin.where()}: not the one of '{printable(loc.name)}'.",
                    "Give the folder where the drive of this location is mounted now.",
                    code="location-moved",
                    name=twin.name,
                )
            fid = folder_id_of(self.data)
            ns = p / namespace(fid)
            same_drive = bool(marker) and marker == loc.marker_id
            mine = ns.is_dir() and any(not x.startswith(".") for x in os.listdir(ns))
            copies = _listed(client, fid) if mine else []
            if remark and not copies:  # copies there, none of this data folder's: not proven to be its folder
                raise ValidationError(
                    f"{p} holds JobMatcher copies, but none of this data folder's, and its marker is missing: "
                    f"JobMatcher cannot tell it is the folder of '{printable(loc.name)}'. Nothing was changed.",
                    "Plug in (mount) the drive that holds this data folder's copies, or give another folder for "
                    "new copies.",
                    code="location-other-copies",
                    name=loc.name,
                )
            if not mine and not same_drive:
                others = _other_data_folders(p, fid)
                if others:
                    raise ValidationError(
                        f"{p} holds the copies of another data folder ({len(others)}), none of this one's: it is not "
                        f"the drive of '{printable(loc.name)}' (another computer's or an older setup's copies).",
                        "Give the folder that holds this data folder's copies (where the drive is mounted now), or an "
                        "empty folder for new copies. Nothing was changed.",
                        code="location-other-copies",
                        name=loc.name,
                    )
            if mine and loc.encrypt:  # this data folder's key there must be this key (as a copy checks it)
                try:
                    theirs = client.get_bytes(identity_key(fid))
                except FileNotFoundError:
                    theirs = None
                if (
                    theirs is not None
                    and self.identity_path().is_file()
                    and theirs != self._locked_identity()
                    and not self._earlier_key_file(theirs)
                ):
                    raise _identity_conflict(str(p))
            made = _AddUndo(client, fid)
            client.initialize()  # a marker when there is none (a new place); an unreadable one is refused
            try:
                if mine:
                    self._claim(client, fid, loc.name)  # refused, touching nothing, when another computer writes there
                loc.path = str(p)
                loc.marker_id = client.read_marker_id()
                save_config(self.data.root, cfg)
            except BaseException:
                made.undo()
                raise
            found = "marker" if remark else "same-drive" if same_drive else "copies" if mine else "new"
            states = load_states(self.data.root)
            st = states.get(loc.id, LocationState())
            by_id = {r.id: r for r in self._candidates()} if self.store.available() else {}
            st.copied = [r.id for r in copies if _is_copy_of(r, by_id.get(r.id), loc)]
            st.used_bytes = sum(r.stored_size for r in copies)
            st.failures, st.next_try_at, st.last_error, st.last_error_code = 0, None, "", ""
            if not copies:
                st.last_success_at = None  # nothing of this data folder there yet: not "copied 2 days ago"
            states[loc.id] = st
            try:
                save_states(self.data.root, states)
            except OSError as e:  # only a cache: the next sync rebuilds it
                log.warning("location %s: could not record its state: %s", loc.name, e)
            log.info("location %s: its folder is now %s (%s)", loc.name, p, found)
            return PathResult(location=loc, found=found, copies=len(copies), previous=before)
        finally:
            lock.release()

    # -- asking before a change deletes copies (finding H22) -----------------------------

    def _confirm_pruning_if_reachable(
        self, loc: LocationConfig, change: str, before: LocationConfig | None = None
    ) -> None:
        """_confirm_pruning for a configured location, contacted now. One that cannot be reached has nothing
        countable, yet its next sync applies the change when it is back: the change is asked for all the same,
        saying the copies could not be looked at (L17). Raises ConfirmationNeededError (action
        "delete-location-copies"; `deletes` None when they could not be counted)."""
        try:
            client = make_client(loc, self.data.root)
            client.check()
            fid = folder_id_of(self.data)
        except (JobMatcherError, OSError) as e:
            log.info("location %s: not reachable to count what the change deletes there (%s)", loc.name, e)
            rule = describe(RetentionPolicy.from_settings(loc), "copy")
            if change == "enable":
                what, again, page = "enabled again", "enable it anyway", "enable it anyway, or leave it disabled"
            else:
                what, again, page = "changed", "change it anyway", "change it anyway, or keep more there"
            raise ConfirmationNeededError(
                f"JobMatcher could not look at the copies at '{loc.name}' ({loc.where()}): it cannot be reached now, "
                f"so which of them this deletes cannot be said. {what.capitalize()}, keeping {rule}, its next copy "
                "when it is back deletes the copies there that this rule does not keep.",
                f"Connect it and run the same command again to see which copies go, or run it again with --yes to "
                f"{again}.",
                f"Connect it and try again to see which copies go, or confirm to {page}.",
                action="delete-location-copies",
                name=loc.name,
                deletes=None,
                total=None,
                copies=[],
                made_at=[],
            ) from None
        self._confirm_pruning(loc, client, fid, change, before)

    def _confirm_pruning(
        self,
        loc: LocationConfig,
        client: LocationClient,
        fid: str,
        change: str,
        before: LocationConfig | None = None,
    ) -> None:
        """Raise ConfirmationNeededError when the next sync of `loc` (as it would be after the change) deletes
        copies of this data folder already at the location that `before` (the location as it is; None: no
        location governed them) keeps. `change`: "add", "enable" or "retention" (the words of the question).
        A location that cannot be listed has nothing to count: not raised (its add or sync reports why)."""
        try:
            remote, _, doomed = self._plan(loc, client, fid)
            if before is not None:
                doomed_before = {r.id for r in self._plan(before, client, fid)[2]}
                doomed = [r for r in doomed if r.id not in doomed_before]
        except (JobMatcherError, OSError):
            return
        if not doomed:
            return
        n, total = len(doomed), len(remote)
        doomed = sorted(doomed, key=lambda r: (r.created_at, r.id))
        dates = [f"{r.created_at.astimezone(timezone.utc):%Y-%m-%d %H:%M}" for r in doomed]
        if n > 6:
            shown = ", ".join(dates[:5]) + f" and {n - 5} more, the newest made {dates[-1]}"
        else:
            shown = ", ".join(dates[:-1]) + " and " + dates[-1] if n > 1 else dates[0]
        made = f"those made {shown} (UTC)"
        # a pinned copy is never among them (the pin recorded with it counts, Z2): said, so the person knows
        # which of the copies there are kept whatever the rule
        kept = sorted((r for r in remote if r.pinned), key=lambda r: (r.created_at, r.id))
        if kept:
            when = ", ".join(f"{r.created_at.astimezone(timezone.utc):%Y-%m-%d %H:%M}" for r in kept[:5])
            more = f" and {len(kept) - 5} more" if len(kept) > 5 else ""
            made += (
                f"; the pinned cop{'y' if len(kept) == 1 else 'ies'} there (made {when}{more}, UTC) "
                f"{'is' if len(kept) == 1 else 'are'} kept"
            )
        rule = describe(RetentionPolicy.from_settings(loc), "copy")
        copies = f"{total} cop{'y' if total == 1 else 'ies'} of this data folder's backups"
        if change == "add":
            message = (
                f"{loc.where()} already holds {copies}, made there earlier. Keeping {rule} there, the "
                f"first copy to it deletes {n} of them: {made}."
            )
            hint = (
                "Run the same command again with --yes to add it anyway, or keep more there to keep them "
                "(a larger --keep-days, --keep-daily-days, --keep-weekly-weeks or --keep-monthly-months)."
            )
            page_hint = "Confirm to add it anyway, or keep more copies there to keep them."
        elif change == "enable":
            message = (
                f"While '{loc.name}' was disabled, its copies aged: enabled again, keeping {rule}, its next "
                f"copy deletes {n} of the {copies} at {loc.where()}: {made}."
            )
            hint = "Run the same command again with --yes to enable it anyway, or leave it disabled to keep them."
            page_hint = "Confirm to enable it anyway, or leave it disabled to keep them."
        else:
            message = (
                f"Keeping {rule} at '{loc.name}', its next copy deletes {n} of the {copies} at {loc.where()}: {made}."
            )
            hint = "Run the same command again with --yes to change it anyway, or keep more there."
            page_hint = "Confirm to change it anyway, or keep more copies there."
        raise ConfirmationNeededError(
            message,
            hint,
            page_hint,
            action="delete-location-copies",
            name=loc.name,
            deletes=n,
            total=total,
            copies=[r.id for r in doomed],
            made_at=[r.created_at.isoformat() for r in doomed],
        )

    def _update(self, name: str, **changes: Any) -> LocationConfig:
        """Change fields of one location's configuration, under the configuration lock; the changed location."""
        lock = self._lock(wait=30)
        try:
            cfg = self.config()
            loc = next(x for x in cfg.locations if x.id == self.get(name).id)
            for field, value in changes.items():
                setattr(loc, field, value)
            save_config(self.data.root, cfg)
            return loc
        finally:
            lock.release()

    def client(self, name: str) -> LocationClient:
        """The client of the location named `name` (not contacted yet). Raises LocationNotFoundError or
        LocationCredentialsError (its stored keys are gone)."""
        return make_client(self.get(name), self.data.root)

    # -- what should be where ---------------------------------------------------------

    def _candidates(self, checking: bool = False, own: list[BackupRecord] | None = None) -> list[BackupRecord]:
        """Local backups worth copying: this data folder's own that passed their check, oldest first in the
        order of making (retention.newest_order: the manifests' sequence, then the date). With `checking`,
        also those still listed "checking" (a restore's safety backup: copied once checked, pending until).
        `own`: store.own() as the caller just read it (not listed again)."""
        own = self.store.own() if own is None else own
        return sorted(
            (r for r in own if (r.verified is True and r.sha256) or (checking and is_checking(r))),
            key=lambda r: (newest_order(r), r.id),
        )

    def _finish_interrupted_checks(self) -> None:
        """Check now the own backups still "checking" whose check is gone (checklock.py), so that they are
        copied in this sync rather than never (V7). Never raises."""
        try:
            if not self.store.available():
                return
            items = self.store.list()
        except JobMatcherError:
            return
        if interrupted(items, self.data):
            finish_interrupted_checks(self.store, self.data, items)

    def _wanted(
        self, loc: LocationConfig, local: list[BackupRecord], remote: list[RemoteBackup], now: datetime
    ) -> tuple[list[BackupRecord], list[RemoteBackup]]:
        """(local backups to copy, remote copies to delete) under the location's retention.

        The same policy function as local retention, applied to everything that is or would be there,
        so nothing is copied only to be deleted.
        """
        by_id = {r.id: r for r in local}
        merged: dict[str, RemoteBackup | BackupRecord] = {r.id: r for r in remote}
        unknown = self._pin_unknown()
        for r in remote:
            mine = by_id.get(r.id)
            # the local backup's pin when there is one; else the pin recorded with the copy (Z2), and a copy of
            # an adopted chain whose pin was never recorded counts as pinned: its pin cannot be known here
            r.pinned = mine.pinned if mine is not None else (r.pin_recorded is True or unknown(r))
            if r.sequence is None and mine is not None:  # a copy made by an older version: its local manifest
                r.sequence = mine.sequence
        for rec in local:
            merged.setdefault(rec.id, rec)
        doomed = set(obsolete(now, RetentionPolicy.from_settings(loc), merged.values()))
        # Only a copy proven to be of the local backup counts as there: a file under the same name that is not
        # (planted, stale, or plain at an encrypted location) is replaced by the real copy, atomically.
        have = {r.id for r in remote if _is_copy_of(r, by_id.get(r.id), loc)}
        return ([r for r in local if r.id not in have and r.id not in doomed], [r for r in remote if r.id in doomed])

    def _pin_unknown(self) -> Any:
        """A test: whether a copy with no local backup of its id has a pin this data folder cannot know (Z2).
        That is a copy of the chain this data folder adopted by a disaster recovery (its sequence up to the one
        the take-over continued after, or none) whose pin was never recorded there (an older version made it, or
        the lost computer never synced after it was updated). The original data folder knows its copies: a copy
        whose backup it no longer has was not pinned (a pinned backup is kept), as before. Never raises."""
        if _TakeOver.of_data(self.data) is None:
            return lambda r: False
        floor = self.data.sequence_floor()
        return lambda r: r.pin_recorded is None and (r.sequence is None or r.sequence <= floor)

    def _record_pins(self, loc: LocationConfig, client: LocationClient, fid: str, remote: list[RemoteBackup]) -> int:
        """Record at the location the pin of each copy whose recorded pin differs from what this data folder
        knows (Z2): its local backup's after a `backup pin`/`unpin`, or not pinned for a copy whose local backup
        is gone and whose pin was not recorded (the original data folder's rule, so a recovered computer can
        prune it as this one would). A copy whose pin cannot be known here (_pin_unknown) is left as it is, and
        a copy that is not proven to be of the local backup of its id is not touched (it is replaced).

        Each record is the copy's manifest as it is there with its pin changed, written in one atomic step
        (a folder: temp file, fsync, rename, folder fsync; S3: one PUT), read from the location first so a
        field of another version is kept. Returns how many were written. Raises the location's errors."""
        by_id = {r.id: r for r in self._candidates()}
        for b in self.store.own():  # a pin is known for every own backup, checked or not
            by_id.setdefault(b.id, b)
        unknown = self._pin_unknown()
        n = 0
        for r in remote:
            mine = by_id.get(r.id)
            if mine is not None:
                if not _is_copy_of(r, mine, loc):
                    continue
                want = mine.pinned
            elif r.pin_recorded is None and not unknown(r):
                want = False
            else:
                continue
            if r.pin_recorded is want:
                continue
            key = manifest_key(fid, r.id)
            try:
                body = json.loads(client.get_bytes(key))
                if not isinstance(body, dict):
                    continue
                LocationManifest.model_validate(body)
            except (FileNotFoundError, ValueError, pydantic.ValidationError, RecursionError, LocationCopyFailedError):
                continue  # gone meanwhile, or not a manifest this version reads: not rewritten
            body["pinned"] = want
            client.put_bytes(key, json.dumps(body, indent=2).encode())
            r.pin_recorded = want
            n += 1
        if n:
            log.info("location %s: recorded the pin of %d cop%s", loc.name, n, "y" if n == 1 else "ies")
        return n

    def _finish_deletes(self, client: LocationClient, fid: str) -> list[str]:
        """Finish the deletes a killed or failed prune left half done in this data folder's namespace (Z3): only
        copies whose intent marker the prune wrote before its first delete (remote.leftovers, A2: a lone half
        without one, e.g. a copy a synced folder is still downloading, is never touched); a copy found whole with
        a marker loses only the marker. The marker is removed last. Called once this data folder is
        the writer there (_claim). Returns the keys removed; one that cannot be removed is left for the next
        sync (and its bytes still count as space used). Raises the location's errors when it cannot be listed."""
        keys = client.bounded(lambda: leftovers(client, fid)) if isinstance(client, FolderLocation) else None
        if keys is None:
            keys = leftovers(client, fid)
        removed = []
        for key in keys:
            try:
                client.delete(key)
            except (JobMatcherError, OSError) as e:
                log.warning("could not remove %s, left by a delete cut short, at %s: %s", key, client.describe(), e)
                continue
            removed.append(key)
        if removed:
            log.info(
                "removed %d file(s) a delete cut short had left at %s: %s",
                len(removed),
                client.describe(),
                ", ".join(k.rsplit("/", 1)[-1] for k in removed),
            )
        return removed

    def _plan(
        self, loc: LocationConfig, client: LocationClient, fid: str, st: LocationState | None = None
    ) -> tuple[list[RemoteBackup], list[BackupRecord], list[RemoteBackup]]:
        """(this data folder's copies at the location, local backups to copy, copies to delete) as a sync of
        `loc` would do now: what a sync does and what is asked before a change are one computation. The copies
        an earlier read-back found damaged are marked so (`st`: the location's state; default: as saved). Raises
        LocationUnavailableError / LocationCredentialsError when the location cannot be listed."""
        # a plain file at an encrypted location was not made by its copier: neither counted nor pruned
        remote = [r for r in _listed(client, fid) if r.encrypted or not loc.encrypt]
        _mark_read_back(remote, fid, st or load_states(self.data.root).get(loc.id, LocationState()))
        todo, doomed = self._wanted(loc, self._candidates(), remote, _now())
        return remote, todo, doomed

    # -- copying ------------------------------------------------------------------------

    def sync(
        self,
        name: str | None = None,
        progress: Progress | None = None,
        only_due: bool = False,
        wait: float = 60,
        spare: SpareEncryptor | None = None,
        verify: bool = False,
    ) -> list[SyncResult]:
        """Copy what is missing to each enabled location (or the one named), newest first, then apply its retention.

        With `verify` (C16), every copy of this data folder there is first read back whole and its SHA-256
        compared with the one its manifest recorded when it was written (no passphrase needed: an encrypted
        copy's stored bytes are compared); one that differs is reported in the result's `damaged` and, while its
        backup is still here, replaced by a new copy (atomically, as any copy); progress counts "verify" in bytes.

        With `only_due` (the background copier), a location in its retry backoff is skipped. Errors are
        recorded per location (and returned), never raised, except for an unknown name or a held lock.
        `wait`: seconds to wait for another process's sync. `progress` counts "backup" in backups
        (which of how many) and each one's "copy" in bytes (progress.py). `spare`: an encrypting child the
        caller started ahead (encproc.SpareEncryptor, still the caller's to close), for the first encrypted
        copy; without it, one is started here for the first location synced that encrypts (none for locations
        skipped: disabled, or waiting out their back-off).

        Raises LocationNotFoundError (an unknown `name`), JobMatcherError (another process still syncs
        after `wait` seconds) or SettingsError (a damaged configuration).
        """
        cfg = self.config()
        targets = [self.get(name)] if name else cfg.locations
        own: SpareEncryptor | None = None  # a spare started here (not the caller's), closed here
        try:
            lock = self._lock(wait=wait)
            try:
                self._remove_dead_temps()
                if any(loc.enabled for loc in targets):
                    self._finish_interrupted_checks()
                states = load_states(self.data.root)
                results = []
                for loc in targets:
                    st = states.setdefault(loc.id, LocationState())
                    if not loc.enabled or (only_due and not self._due(loc, st)):
                        results.append(SyncResult(name=loc.name, skipped=True))
                        continue
                    if spare is None and loc.encrypt:
                        # started before the source is known: its start-up overlaps the location's checks
                        # and the listing of what to copy, instead of coming first in the first copy
                        spare = own = SpareEncryptor.start()
                    results.append(self._sync_one(loc, cfg, st, states, progress, spare, verify))
                return results
            finally:
                lock.release()
        finally:
            if own is not None:
                own.close()  # an unused one is killed and reaped: none is left waiting

    def _sync_one(
        self,
        loc: LocationConfig,
        cfg: LocationsConfig,
        st: LocationState,
        states: dict[str, LocationState],
        progress: Progress | None,
        spare: SpareEncryptor | None = None,
        verify: bool = False,
    ) -> SyncResult:
        """Sync one location (see sync). `spare`: an encrypting child started ahead, for its first encrypted
        copy (refilled after each copy while more are to come). `verify`: read every copy back first (sync)."""
        result = SyncResult(name=loc.name)
        st.last_attempt_at = _now()
        fid = folder_id_of(self.data)
        if spare is not None and loc.encrypt:
            spare.refill()  # the first location's copies took it: this one's start-up overlaps the checks below
        try:
            client = make_client(loc, self.data.root)
            client.check()
            # the key checked before the copies are claimed: a computer whose key cannot write there must not
            # write writer.json first, or it would lock out the computer that can (X9)
            put_key = self._ensure_remote_identity(client, fid, cfg) if loc.encrypt else None
            self._claim(client, fid, loc.name)
            self._housekeeping(client, fid)
            if put_key is not None:
                client.put_bytes(identity_key(fid), put_key)
            if loc.encrypt:
                self._relock_done(loc.id)  # it holds the current key file: no longer opens with an old passphrase
            self._finish_deletes(client, fid)
            remote, todo, doomed = self._plan(loc, client, fid, st)
            if verify and self._read_back(client, fid, remote, progress, result, st):
                todo, doomed = self._wanted(loc, self._candidates(), remote, _now())  # the damaged ones again
            # newest first: a location that fills up (or a sync cut short) then lacks the oldest copies, never the
            # newest, which is the one wanted after losing this computer (FINDINGS20 4: it was the other way)
            todo = todo[::-1]
            # a chain taken over: its copies here may go further than the ones restored (the lost computer's
            # newest, at a location the recovery did not come from): new backups are numbered above them (A5)
            top = in_pattern_top(r.sequence for r in remote if r.folder_id == fid)
            if self.data.raise_sequence_floor(top):
                log.info(
                    "location %s holds copies of this chain up to sequence %d: new backups follow them", loc.name, top
                )
            # pins changed since the last sync (or never recorded) written there before anything is copied or
            # deleted: a sync cut short later still leaves them recorded (Z2)
            self._record_pins(loc, client, fid, [r for r in remote if r.id not in {d.id for d in doomed}])
            # the space the copies take there, kept in step with `copied` as they are made and deleted: what
            # the location's row shows while it cannot be reached, even after a sync cut short (X3)
            st.used_bytes = sum(r.stored_size for r in remote)
            sizes = {r.id: r.stored_size for r in remote}
            impostors = {r.id: r for r in remote if r.id in {t.id for t in todo}}
            for i, rec in enumerate(todo):
                if rec.id in impostors:
                    there = impostors[rec.id]
                    log.warning(
                        "location %s: the file there named %s is not that backup (%s): replacing it with the real copy",
                        loc.name,
                        rec.id,
                        there.doubt if there.damaged else "another checksum, or not encrypted",
                    )
                if progress:
                    progress("backup", i, len(todo), "backups")
                try:
                    if rec.id in impostors and not loc.encrypt:
                        # a plain copy is published, then read back: a backup changed since its check would
                        # replace the file there (a damaged copy: perhaps the only other bytes of it) and then be
                        # removed. Proven first, so the file there stays (FINDINGS19 2); an encrypted copy's bytes
                        # are proven before anything is published
                        self._prove_source(rec)
                    try:
                        size = self._copy_one(client, loc, cfg, fid, rec, progress, spare if loc.encrypt else None)
                    except LocationCopyFailedError as e:
                        if getattr(e, "reason", None) != "location-full" or not doomed:
                            raise
                        # B17: the copies this location's rule condemned went only after every copy was made, so
                        # a full location never got room: no newer copy ever reached it, whatever its retention
                        # was lowered to (as the hint says). They go first now (they would go at the end of this
                        # very sync), then this copy is tried once more.
                        log.info(
                            "location %s is full: removing the %d old copies its rule lets go first",
                            loc.name,
                            len(doomed),
                        )
                        while doomed:
                            self._delete_copy(client, fid, doomed.pop(0), result, st, sizes)
                        if spare is not None and loc.encrypt:
                            spare.refill()
                        size = self._copy_one(client, loc, cfg, fid, rec, progress, spare if loc.encrypt else None)
                except LocationCopyFailedError as e:
                    if getattr(e, "reason", None) not in (
                        "checksum-mismatch",
                        "backup-unreadable",
                        "folder-at-copy-name",
                    ):
                        raise
                    # this one backup is at fault (or its drive, X7), not the location: the others are still
                    # copied (H6)
                    log.warning("location %s: %s", loc.name, e.message)
                    result.error, result.error_code = str(e), e.code
                    if getattr(e, "reason", None) == "checksum-mismatch":
                        self._check_changed_backup(rec.id)
                    continue
                if spare is not None and loc.encrypt and i + 1 < len(todo):
                    spare.refill()  # for the next copy: its start-up overlaps this one's bookkeeping
                result.copied.append(rec.id)
                # a read-back's verdict was of the copy just replaced: a plain copy made again has the same stored
                # SHA-256 as the damaged one its manifest described, so the id is the verdict's only key left
                st.read_back_damaged.pop(rec.id, None)
                st.last_success_at = _now()
                st.copied = sorted(set(st.copied) | {rec.id})
                st.used_bytes += size - sizes.pop(rec.id, 0)  # a replaced impostor's bytes are gone
                save_states(self.data.root, states)  # a crash later keeps what is already known to be there
            for r in doomed:
                self._delete_copy(client, fid, r, result, st, sizes)
            if progress:
                progress("backup", len(todo), len(todo), "backups")
            space: list[int] = []
            remote = _listed(client, fid, space)
            _seen_damage(remote, fid, st)
            own = self.store.own()  # one listing of the backup folder for what follows
            candidates = self._candidates(own=own)
            by_id = {r.id: r for r in candidates}
            st.copied = [r.id for r in remote if _is_copy_of(r, by_id.get(r.id), loc)]
            result.failed_backups = self._failed_wanted(loc, remote, own, candidates)
            result.lost = [i for i in st.damaged if i not in by_id]  # FINDINGS19 6: said by every sync, not once
            st.used_bytes = space[0]  # every copy's data there, a leftover not yet removed included (Z3)
            st.last_success_at = _now()
            st.failures, st.next_try_at, st.last_error, st.last_error_code = 0, None, "", ""
            log.info("location %s: copied %d, deleted %d", loc.name, len(result.copied), len(result.deleted))
        except JobMatcherError as e:
            st.failures += 1
            delay = min(BACKOFF_FIRST * 2 ** (st.failures - 1), BACKOFF_MAX)
            st.next_try_at = _now() + timedelta(seconds=delay)
            st.last_error, st.last_error_code = e.message, e.code
            result.error, result.error_code = str(e), e.code
            log.warning("location %s: %s (retry in %.0f s)", loc.name, e.message, delay)
        save_states(self.data.root, states)
        return result

    def _read_back(
        self,
        client: LocationClient,
        fid: str,
        remote: list[RemoteBackup],
        progress: Progress | None,
        result: SyncResult,
        st: LocationState,
    ) -> bool:
        """Read each of this data folder's copies in `remote` back whole (into a temp file in the data folder, as a
        restore downloads it: `.location-fetch-…`, removed after) and compare its SHA-256 with the one recorded when
        it was written; mark each that differs (or is not a file JobMatcher wrote) as damaged, in `remote`, in
        `result` (with why, by id) and in the location's state `st` (the verdict every later listing shows, D5).
        A copy already known damaged by its size there is not read: it is reported as damaged with that reason
        (D15); one an earlier read-back found damaged is read again (a copy put back whole is known again); one
        there at the last sync (`st.copied`) and not listed now is reported as gone (GONE_DOUBT).
        Returns whether any is damaged. Raises the location's errors, InsufficientSpaceError when the data
        folder's disk has no room for the largest copy."""
        import uuid

        from ..fsutil import require_free_space

        mine = [r for r in remote if r.folder_id == fid]
        listed = {r.id for r in mine}
        for gone in (i for i in st.copied if i not in listed):  # there at the last sync, not listed now (FINDINGS19 3)
            result.verified += 1
            result.damaged.append(gone)
            result.damaged_why[gone] = GONE_DOUBT
        for r in mine:
            if r.damaged and r.doubt != READ_BACK_DOUBT:  # its size there already says so (D15): nothing to read
                result.verified += 1
                result.damaged.append(r.id)
                result.damaged_why[r.id] = r.doubt or "damaged"
        ours = [r for r in mine if not r.damaged or r.doubt == READ_BACK_DOUBT]
        if ours:
            require_free_space(
                self.data.root, max(r.stored_size for r in ours), "a copy read back", place="data-folder"
            )
        total, done = sum(r.stored_size for r in ours), 0

        def counted(base: int) -> ByteProgress | None:
            if progress is None:
                return None
            say = progress
            return lambda d, _t: say("verify", base + d, total, "bytes")

        for r in ours:
            tmp = self.data.root / f".location-fetch-{uuid.uuid4().hex[:12]}.{os.getpid()}.tmp"
            try:
                client.get_file(data_key(fid, r.id, r.encrypted), tmp, counted(done), limit=r.stored_size)
                same = tmp.stat().st_size == r.stored_size and _sha256(tmp) == r.stored_sha256
            except FileNotFoundError:
                continue  # deleted meanwhile: the listing after the copies says what is there
            except TamperedCopyError:
                same = False  # larger than written, or not a file JobMatcher wrote
            finally:
                tmp.unlink(missing_ok=True)
            done += r.stored_size
            result.verified += 1
            if same:
                r.damaged, r.verified, r.doubt = False, True, None
                st.read_back_damaged.pop(r.id, None)
                continue
            log.warning("%s: the copy %s there no longer matches its checksum", client.describe(), r.id)
            r.damaged, r.verified, r.doubt = True, False, READ_BACK_DOUBT
            st.read_back_damaged[r.id] = r.stored_sha256
            result.damaged.append(r.id)
            result.damaged_why[r.id] = READ_BACK_DOUBT
        return bool(result.damaged)

    def _prove_source(self, rec: BackupRecord) -> None:
        """That the backup `rec` still has the checksum its check recorded (_plaintext_proof: BLAKE3 under a
        holding seal, else SHA-256), read whole. Raises the copy's checksum-mismatch refusal (_backup_mismatch)
        when it does not, or LocationCopyFailedError (backup-unreadable) when it cannot be read."""
        src = Path(rec.path)
        algorithm, expected = _plaintext_proof(src, rec)
        from ..digests import file_digest

        try:
            digest = file_digest(src, algorithm)
        except OSError as e:
            raise self._backup_unreadable(rec.id, src, e) from None
        if digest != expected:
            raise _backup_mismatch(rec.id)

    def _failed_wanted(
        self, loc: LocationConfig, remote: list[RemoteBackup], own: list[BackupRecord], candidates: list[BackupRecord]
    ) -> list[str]:
        """D16: the ids of this data folder's backups (`own`: store.own(); `candidates`: _candidates of it) that
        failed their check and that the location's retention would have it hold were they sound: never copied (a
        damaged backup is not a copy worth having), and said, so "up to date" is not claimed over them. Oldest
        first. Never raises."""
        failed = [r for r in own if r.verified is False]
        if not failed:
            return []
        todo, _ = self._wanted(loc, candidates + failed, remote, _now())
        ids = {r.id for r in failed}
        return [r.id for r in todo if r.id in ids]

    def _check_changed_backup(self, backup_id: str) -> None:
        """C14: a backup whose bytes no longer match its manifest's checksum was only left out of the copies; in a
        background sync nobody read why, and the backup stayed "passed its check" (status green, retention's
        newest good). Its check runs now, as `backup verify` runs it, and records what it finds in its manifest.
        Never raises (what the check finds is recorded; a check that cannot run is logged)."""
        try:
            self.store.verify(backup_id)
        except InvalidBackupError as e:
            log.warning("backup %s failed its check: %s", backup_id, e.message)
        except (JobMatcherError, OSError) as e:
            log.warning("backup %s could not be checked again: %s", backup_id, e)

    @staticmethod
    def _delete_copy(
        client: LocationClient, fid: str, r: RemoteBackup, result: SyncResult, st: LocationState, sizes: dict
    ) -> None:
        """Delete the copy `r` there that the location's retention let go. The intent is recorded there first (A2:
        the next sync finishes only deletes of ours), then the data, the manifest (as the backup folder deletes,
        Z3), the marker last: a delete cut short leaves a manifest alone, never listed, with its marker, which the
        next sync removes. Raises what the location's client raises."""
        client.put_bytes(intent_key(fid, r.id), b"")
        client.delete(data_key(fid, r.id, r.encrypted))
        client.delete(manifest_key(fid, r.id))
        client.delete(intent_key(fid, r.id))
        result.deleted.append(r.id)
        st.used_bytes = max(0, st.used_bytes - sizes.pop(r.id, 0))

    def _claim(self, client: LocationClient, fid: str, name: str) -> None:
        """Be the one computer writing (and pruning) this data folder's copies at the location: the take-over
        recorded there (_claim_writer), then the computer (_claim_computer). Raises LocationTakenOverError,
        having written nothing, when another computer writes there; what reaching the place raises."""
        self._claim_computer(client, fid, name, self._claim_writer(client, fid, name))

    def _claim_computer(self, client: LocationClient, fid: str, name: str, took_over: bool) -> None:
        """Be the computer recorded at the location as writing this data folder's copies (computer.json).

        A data folder copied to another computer (a home folder copied over: the same path, so the same data
        folder id, and no take-over) would otherwise write the same chain from two computers, with colliding
        sequence numbers, each pruning the other's copies as its own (finding X20). The first computer to
        copy records its id (computer.computer_id); a take-over this data folder just recorded (`took_over`)
        records it anew; any other computer is refused, touching nothing, until the person says which
        computer continues (by deleting the record there). Nothing is checked when this computer has no id."""
        from ..computer import computer_id

        me = computer_id()
        if me is None:
            return
        key = computer_key(fid)
        try:
            raw: bytes | None = client.get_bytes(key)
        except FileNotFoundError:
            raw = None
        except LocationCopyFailedError as e:
            if getattr(e, "reason", "") not in ("not-a-file", "too-large"):
                raise
            raw = b""
        except OSError:
            raw = b""
        if raw is None or took_over:
            client.put_bytes(key, json.dumps({"format": 1, "computer": me, "written_at": _now().isoformat()}).encode())
            return
        try:
            body = json.loads(raw)
            theirs = body.get("computer") if isinstance(body, dict) and body.get("format") == 1 else None
        except (ValueError, RecursionError):
            theirs = None
        if theirs == me:
            return
        read = (
            "another computer writes them"
            if isinstance(theirs, str)
            else "the note there that says which computer writes them cannot be read, so another computer probably does"
        )
        way = (
            f"If this computer replaces the other one, delete {key} at that place and copy again (the other "
            "computer then stops copying there). To keep both computers' copies, add another folder or prefix "
            "for this one"
        )
        raise LocationTakenOverError(
            f"Another computer copies this data folder's backups to {client.describe()}: {read}. This data folder "
            "was probably copied from it (or it from this one), so both carry the same data folder's id while "
            "their data differ. This computer does not copy to, or delete from, that place: neither overwrites "
            "the other's copies.",
            f"If you use the other computer now, {_step_aside(client, name, page=False)}. {way}.",
            f"If you use the other computer now, {_step_aside(client, name, page=True)}. {way}.",
        )

    def _claim_writer(self, client: LocationClient, fid: str, name: str) -> bool:
        """Be the take-over recorded as writing (and pruning) this data folder's copies at the location. Returns
        True when it recorded this data folder's take-over there just now.

        After a disaster recovery two computers can hold the same data folder id: the new one, which
        continues the chain (adopt_chain), and the lost one if it is found and runs again. Their data
        differ from then on, so they must not write into, or prune, one list. The namespace's writer.json
        records the take-over its writer made (_TakeOver: generation, the sequence it continued after, an id;
        none: the original data folder). The later take-over continues: the higher (generation,
        sequence_after), both taken from the copies themselves, never from a clock, so a recovery made while
        the new computer's clock was behind still takes the copies over from the lost one (V12). A data
        folder writes there when it ranks above the recorded writer (recording its own take-over), and
        refuses (LocationTakenOverError), touching nothing, when that writer ranks above it or is an equal
        take-over of another computer (two recoveries from the same copies: the first to copy keeps them).
        Only two records of older versions (dates alone) are still compared by date.
        """
        mine = _TakeOver.of_data(self.data)
        theirs = read_writer(client, fid)
        gone = (
            f"If that computer is gone for good and this one should continue, delete {writer_key(fid)} at that "
            "place and copy again."
        )
        if isinstance(theirs, _Unreadable):
            if mine is not None:  # a take-over claims an unreadable record anew (X4)
                log.warning("location %s: %s cannot be read (%s): written anew", name, writer_key(fid), theirs.why)
                try:
                    client.put_bytes(writer_key(fid), mine.body())
                except (OSError, LocationCopyFailedError) as e:
                    # a folder (a sync tool's conflict folder), a pipe…: it cannot be written over, and a retry
                    # never helps; name the note and the way out, as the original computer is told (Y1, X4)
                    if isinstance(e, LocationUnavailableError):
                        raise
                    raise LocationCopyFailedError(
                        f"The note {writer_key(fid)} at {client.describe()} (which says which computer writes "
                        f"these copies) cannot be read ({theirs.why}), and this computer cannot write its own in "
                        "its place. Copies there stop until it is removed.",
                        f"Remove {writer_key(fid)} at that place (it is not a file JobMatcher wrote, for example "
                        "a folder), then copy again.",
                        reason="writer-not-a-file",
                    ) from None
                return True
            # This data folder took over nothing, and only a take-over writes that note: another computer
            # continues these copies, of a rank unknown, which any take-over outranks the original by (X4).
            raise LocationTakenOverError(
                f"Another computer probably continues this data folder's copies at {client.describe()}: the note "
                f"there that says which computer writes them ({writer_key(fid)}) cannot be read ({theirs.why}), "
                "and only a computer that took the copies over writes that note. So this computer no longer copies "
                "to, or deletes from, that place: neither overwrites the other's copies.",
                f"If you use the other computer now, {_step_aside(client, name, page=False)}. To keep this "
                f"computer's copies too, add another folder or prefix for them. {gone}",
                f"If you use the other computer now, {_step_aside(client, name, page=True)}. To keep this "
                f"computer's copies too, add another folder or prefix for them. {gone}",
            )
        if theirs is None:
            if mine is not None:
                client.put_bytes(writer_key(fid), mine.body())
            return mine is not None
        if mine is not None and mine.same(theirs):
            return False
        when = theirs.adopted_at
        if mine is None or (mine.generation is None and theirs.generation is None):
            # the original data folder (any take-over outranks it), or two records of older versions: by date
            doubted = when is not None and when > _now() + timedelta(days=1)
            if mine is not None and (when is None or mine.adopted_at is None or when <= mine.adopted_at):
                client.put_bytes(writer_key(fid), mine.body())
                return True
        else:
            doubted = False
            if theirs.rank() < mine.rank():
                client.put_bytes(writer_key(fid), mine.body())
                return True
        if doubted:
            # A take-over dated in the future, only ever compared by date, is doubted, not believed (H24): a
            # wrong clock there, or a note that is not genuine. Nothing is written or deleted until the person
            # decides.
            raise LocationTakenOverError(
                f"The copies at {client.describe()} carry a note that another computer took them over on "
                f"{when:%Y-%m-%d %H:%M} UTC, a date in the future: that computer's clock was wrong, or the note "
                "is not genuine. Until you decide, this computer neither copies to nor deletes from that place.",
                f"If no other computer continues this data folder, delete {writer_key(fid)} at that place and "
                f"copy again; if one does, {_step_aside(client, name, page=False)}.",
                f"If no other computer continues this data folder, delete {writer_key(fid)} at that place and "
                f"copy again; if one does, {_step_aside(client, name, page=True)}.",
            )
        since = f" since {when:%Y-%m-%d %H:%M} UTC by its clock" if when is not None else ""
        # what decided it, from the real order (W8): this folder was never restored; the other was restored from a
        # later state of the copies; or both from the same copies, and the other copied there first
        if mine is None:
            why = "it was restored from them"
        elif mine.generation is not None and theirs.rank() == mine.rank():
            why = "it was restored from the same copies as this one and copied there first"
        else:
            why = "it was restored from them after this one was"
        raise LocationTakenOverError(
            f"Another computer continues this data folder's copies at {client.describe()}{since} ({why}), "
            "so this computer no longer copies to, or deletes from, that place: "
            "neither overwrites the other's copies.",
            f"If you use the other computer now, {_step_aside(client, name, page=False)}. To keep this "
            f"computer's copies too, add another folder or prefix for them. {gone}",
            f"If you use the other computer now, {_step_aside(client, name, page=True)}. To keep this "
            f"computer's copies too, add another folder or prefix for them. {gone}",
        )

    def _housekeeping(self, client: LocationClient, fid: str) -> None:
        if isinstance(client, FolderLocation):
            client.remove_stale_temps(namespace(fid))
        elif isinstance(client, S3Location):
            client.abort_stale_uploads(namespace(fid))

    def _ensure_remote_identity(self, client: LocationClient, fid: str, cfg: LocationsConfig) -> bytes | None:
        """Every encrypted location holds the locked identity, so a new machine needs only the passphrase.
        Checks only (writes nothing): returns the locked identity to write there when the location has none yet
        (the caller writes it once the copies are its own: _claim), None when it holds this very file.
        Raises LocationCopyFailedError (no key here, another key there, an unproven recipient),
        KeyFileDamagedError."""
        self.refuse_odd_key_file()
        if not cfg.recipient or not self.identity_path().is_file():
            raise LocationCopyFailedError(
                "The encryption key of this data folder is missing, so encrypted copies cannot be made.",
                "Remove and add the location again to set it up.",
                code="identity-missing",
            )
        locked = self._locked_identity()
        try:
            theirs: bytes | None = client.get_bytes(identity_key(fid))
        except FileNotFoundError:
            theirs = None
        if theirs is not None and theirs != locked and _stanza(theirs) and _stanza(theirs) == _stanza(locked):
            # The same age file once (its scrypt salt is random per file) yet different bytes now: one of the two
            # is damaged. The file here is whole when the recipient recorded beside it is bound to these very
            # bytes (_proven_recipient): then the copy there is the damaged one, and it is written there again
            # (FINDINGS20 2: the user was sent to move away the only good key). Otherwise the file here is the
            # damaged one (L24); its copy there is what takes the key back. Said before the recipient's binding is
            # checked: a damaged key file also breaks that binding (T9), and "the recipient is not this data
            # folder's" would send the user after the wrong file.
            if cfg.recipient and self._proven_recipient(locked) == cfg.recipient:
                log.warning(
                    "%s: its copy of the encryption key's file is damaged: written there again", client.describe()
                )
                return locked
            raise self._key_file_damaged()
        self._check_recipient(cfg, locked)  # before anything is written there
        if theirs is None:
            return locked
        if theirs != locked and self._earlier_key_file(theirs):
            return locked  # this key under the passphrase it had before a change (X13): replaced by the current file
        if theirs != locked:  # never replaced: the copies there were encrypted to the key it holds
            raise _identity_conflict(
                client.describe(), relocked=self._relocked_here(cfg, locked), fid=fid, unknown=True
            )
        return None

    def _relocked_here(self, cfg: LocationsConfig, locked: bytes) -> bool:
        """Whether this data folder's key file is a key it has opened under more than one file (X13): its
        recipient proven now (opened since its bytes last changed) and the same as locations.json's, whose binding
        was made for another file of it (none, an older version's: not said so).
        Then a location's other file is, most likely, the same key under its old passphrase. Never raises."""
        return bool(
            cfg.recipient
            and self._proven_recipient(locked) == cfg.recipient
            and cfg.recipient_binding not in (None, recipient_binding(cfg.recipient, locked))
        )

    def _check_recipient(self, cfg: LocationsConfig, locked: bytes) -> None:
        """Refuse to encrypt to a recipient that is not proven to go with this data folder's key file (findings
        T9, U4): a recipient changed by hand, or a locations.json carried over from another data folder (with or
        without its `recipient_binding` line), would make copies no passphrase or recovery key of this data
        folder opens, while every copy looked fine. The proof is the recipient recorded beside the key file when
        it was last opened (`_record_proof`), else the binding in locations.json (then recorded beside the key
        file); with neither, nothing is bound blindly: the user unlocks once (`location sync --passphrase-file`).
        Called with the locations' lock held (sync). Raises LocationCopyFailedError (code "recipient-mismatch"
        or "recipient-unproven")."""
        proven = self._proven_recipient(locked)
        if proven is not None:
            if cfg.recipient != proven:
                raise _recipient_mismatch()
            return
        if cfg.recipient and self._recorded_recipient() == cfg.recipient:
            # the key file's bytes changed since it was last opened, and both records name this very key: it was
            # locked again (another passphrase, by age: X13), or replaced. Not "another key": one unlock tells.
            raise LocationCopyFailedError(
                f"This data folder's key file ({IDENTITY_NAME}) changed since JobMatcher last opened it: it was "
                "locked again (with another passphrase?) or replaced. So no encrypted copy was made until it is "
                "opened once.",
                "Unlock it once with its passphrase: `jobmatcher location sync --passphrase-file FILE` (a file with "
                "the passphrase on its first line). Copies then go on by themselves.",
                "Type its passphrase (or the recovery key) under Backup locations and press Unlock and copy. Copies "
                "then go on by themselves.",
                code="recipient-unproven",
            )
        if cfg.recipient_binding is None:
            raise LocationCopyFailedError(
                "JobMatcher cannot tell whether the encryption key in locations.json is the key of this data "
                f"folder's key file ({IDENTITY_NAME}): it was set up by an older version, or locations.json was "
                "edited or replaced. So no encrypted copy was made: it might not open with your passphrase.",
                "Unlock the key once with your passphrase: `jobmatcher location sync --passphrase-file FILE` "
                "(a file with the passphrase on its first line). Copies then go on by themselves.",
                "Type your passphrase (or the recovery key) under Backup locations and press Unlock and copy. Copies "
                "then go on by themselves.",
                code="recipient-unproven",
            )
        if cfg.recipient_binding != recipient_binding(cfg.recipient or "", locked):
            raise _recipient_mismatch()
        self._record_proof(cfg.recipient or "", locked)  # a binding of T9's version: proven, recorded from now on

    def _copy_one(
        self,
        client: LocationClient,
        loc: LocationConfig,
        cfg: LocationsConfig,
        fid: str,
        rec: BackupRecord,
        progress: Progress | None,
        spare: SpareEncryptor | None = None,
    ) -> int:
        """Copy the backup `rec` to the location (`spare`: an encrypting child started ahead, or None); the
        bytes it takes there."""
        src = Path(rec.path)
        # An encrypted copy is a little larger than its hint (the backup's size): the total grows to what was
        # written rather than the count passing it.
        on_bytes = (lambda d, t: progress("copy", d, max(t, d), "bytes")) if progress else None
        if loc.encrypt:
            recipient = cfg.recipient or ""  # there: _ensure_remote_identity checked it
            algorithm, expected = _plaintext_proof(src, rec)

            def produce(w: HashingWriter) -> None:
                # What was encrypted must be the backup's bytes: checked before anything is published, so a
                # backup changed after its manifest leaves nothing listed at the location.
                try:
                    _, digest = encrypt_file_into(src, w, recipient, algorithm, spare)
                except OSError as e:
                    if read_failed(e, src):  # the backup's drive, not this location (X7)
                        raise SourceUnreadable(e) from None
                    raise
                except EncryptionStalled as e:
                    raise LocationCopyFailedError(
                        f"The encryption of the backup {rec.id} stopped responding ({e.why}), so it was ended; "
                        "the copy was not made.",
                        "The copy is retried later. If this keeps happening, the disk holding your backups may be "
                        "failing, or the computer is overloaded: check the disk.",
                        reason="encryption-stalled",
                        id=rec.id,
                    ) from None
                except EncryptionChildFailed as e:
                    if e.ended:
                        log.warning("the encrypting process of %s ended by %s", rec.id, e.ended)
                    raise LocationCopyFailedError(
                        f"The encryption of the backup {rec.id} stopped before it finished: {e.why}. "
                        "The copy was not made.",
                        "The copy is retried later.",
                        reason="encryption-stopped",
                        id=rec.id,
                    ) from None
                if digest != expected:
                    raise _backup_mismatch(rec.id)

            if isinstance(client, S3Location):  # spool beside the backup: its disk has room for one, the
                client.spool_dir = src.parent  # data folder's may not (L12); that folder's cleanup knows the name
            try:
                stored = client.put_stream(data_key(fid, rec.id, True), produce, on_bytes, rec.size_bytes)
            except SourceUnreadable as e:
                raise self._backup_unreadable(rec.id, src, e.error) from None
            except FileNotFoundError:
                raise LocationCopyFailedError(
                    f"The backup {rec.id} was deleted while it was copied.",
                    "It is no longer a backup, so it is not copied.",
                ) from None
        else:
            try:
                stored = client.put_file(data_key(fid, rec.id, False), src, rec.sha256 or "", on_bytes)
            except SourceUnreadable as e:
                raise self._backup_unreadable(rec.id, src, e.error) from None
            except LocationCopyFailedError:
                # The read-back is compared with the backup's recorded SHA-256. When the backup itself does not
                # match it (changed after its check, or its manifest edited), the fault is the backup's, not
                # the drive's (finding H6): say so, and let the other backups be copied.
                if rec.sha256 and _sha256(src) != rec.sha256:
                    raise _backup_mismatch(rec.id) from None
                raise
        m = LocationManifest(
            created_at=rec.created_at,
            type=rec.type,
            size_bytes=rec.size_bytes,
            sha256=rec.sha256 or "",
            stored_size=stored.size,
            stored_sha256=stored.sha256,
            encrypted=loc.encrypt,
            schema_revision=rec.schema_revision,
            sequence=rec.sequence,
            pinned=rec.pinned,  # travels with the copy (Z2); updated by a later sync after a pin or unpin
        )
        client.put_bytes(manifest_key(fid, rec.id), m.model_dump_json(indent=2).encode())
        return stored.size

    def _backup_unreadable(self, backup_id: str, src: Path, e: OSError) -> LocationCopyFailedError:
        """The backup `backup_id` could not be read from the backup folder (X7: its drive unplugged or failing):
        not copied, said as the backup folder's drive, not the location's (reason backup-unreadable: the other
        backups are still tried, as for checksum-mismatch)."""
        gone = self.store.chosen and not self.store.available()
        return LocationCopyFailedError(
            (
                f"Your backup folder {self.store.folder} is no longer available (the drive holding your backups was "
                f"unplugged, or stopped answering), so the backup {backup_id} was not copied."
            )
            if gone
            else (
                f"The backup {backup_id} could not be read from your backup folder {src.parent} "
                f"({e.strerror or e}): the drive holding your backups may have been unplugged, or be failing. It "
                "was not copied; the location is not at fault."
            ),
            "Check the drive holding your backups (plug it back in if it was unplugged); the copy is retried later.",
            reason="backup-unreadable",
            id=backup_id,
        )

    # -- status and health ----------------------------------------------------------------

    def status(self, check: bool = True) -> list[LocationStatus]:
        """Each location with its last successful copy, pending copies and space used (bytes); `check` contacts
        it (a failure is the row's `problem`, not raised). Raises SettingsError (a damaged configuration) or
        the backup folder's errors (BackupFolderUnavailableError) when the local backups cannot be listed."""
        cfg = self.config()
        states = load_states(self.data.root)
        # an unplugged backup folder: nothing to list. A backup still "checking" is pending: copied once checked.
        local = self._candidates(checking=True) if self.store.available() else []
        old_passphrase = self.old_passphrase_at()
        odd_key = self.odd_key_file()  # one lstat: said on every encrypted row from the start, not after a sync (C3)
        odd_state = self.odd_state_file()  # one lstat: a sync cannot record anything, so status must say it
        rows = []
        for loc in cfg.locations:
            st = states.get(loc.id, LocationState())
            reachable, problem, code = None, st.last_error, st.last_error_code
            copied = set(st.copied)
            if check and loc.enabled:
                try:
                    client = make_client(loc, self.data.root)
                    client.check()
                    # Only looking: the id is read, never made or renewed here (Y6; a copied folder's new
                    # id is a writing command's to make)
                    fid = self.data.folder_id(create=False) if hasattr(self.data, "folder_id") else None
                    space: list[int] = []
                    remote = _listed(client, fid, space) if fid else []
                    if fid:
                        _seen_damage(remote, fid, st)
                    by_id = {r.id: r for r in local}
                    copied = {r.id for r in remote if _is_copy_of(r, by_id.get(r.id), loc)}
                    # what is really there: a leftover of a delete cut short takes room until removed (Z3)
                    st.used_bytes = space[0] if space else 0
                    reachable = True
                    if code not in _STICKY:  # reached now; a failed copy (full, read-only…) stays until one works
                        problem, code = "", ""
                except JobMatcherError as e:
                    reachable, problem, code = False, e.message, e.code
            elif loc.enabled and loc.kind == "folder":
                # Without contacting anything, a folder location is still looked at: its marker is one stat
                # away, so status never calls an unplugged drive's copies fine until the next copy fails (H11).
                try:
                    make_client(loc, self.data.root).check()
                except JobMatcherError as e:
                    reachable, problem, code = False, e.message, e.code
            if odd_key is not None and loc.enabled and loc.encrypt:
                problem, code = odd_key.message, odd_key.code
            if odd_state is not None and loc.enabled:
                problem, code = odd_state.message, odd_state.code
            todo, _ = self._wanted(loc, local, [], _now())  # what retention lets it hold
            todo = [r for r in todo if r.id not in copied]
            have = {r.id for r in local}
            rows.append(
                LocationStatus(
                    name=loc.name,
                    kind=loc.kind,
                    where=loc.where(),
                    enabled=loc.enabled,
                    encrypted=loc.encrypt,
                    **{k: getattr(loc, k) for k in RETENTION_FIELDS},
                    keeps=describe(RetentionPolicy.from_settings(loc), "copy"),
                    reachable=reachable,
                    problem=problem,
                    problem_code=code,
                    last_success_at=st.last_success_at,
                    pending=len(todo) if loc.enabled else 0,
                    copies=len(copied),
                    used_bytes=st.used_bytes,
                    used_known=reachable is True or not copied or st.used_bytes > 0,  # no copy takes 0 bytes
                    same_disk=reachable is not False and loc.enabled and self._same_disk(loc),
                    old_passphrase=loc.encrypt and loc.id in old_passphrase,
                    damaged=list(st.damaged),
                    # a damaged copy whose backup is here is pending (copied again); one whose backup is gone
                    # cannot be made again (D5, D15)
                    lost=[i for i in st.damaged if i not in have] if self.store.available() else [],
                )
            )
        return rows

    def mark_known_damage(self, name: str, copies: list[RemoteBackup]) -> None:
        """Mark in `copies` (a listing of the configured location `name`) the copies of this data folder that
        an earlier `location sync --verify` read back damaged and that are still the copies it read, as every
        listing of them shows (D5: VERIFIED "NO", refused by a restore in any case). Raises
        LocationNotFoundError (an unknown name) or SettingsError (a damaged configuration)."""
        loc = self.get(name)
        fid = self.data.folder_id(create=False) if hasattr(self.data, "folder_id") else None
        _mark_read_back(copies, fid, load_states(self.data.root).get(loc.id, LocationState()))

    def _same_disk(self, loc: LocationConfig) -> bool:
        """Whether the folder location `loc` is on the file system (st_dev) of the data folder or of the backup
        folder: a failed or stolen disk takes its copies with the data (X22). Only a stat of each, the location's
        within the folder locations' time limit (deadline.within). False for other kinds. Never raises."""
        if loc.kind != "folder" or not loc.path:
            return False
        from .deadline import within

        try:
            path = loc.path
            dev = within(path, lambda: os.stat(path).st_dev)  # a share that stops answering is not waited on (X16)
        except Exception:  # noqa: BLE001 - not answering, not there: not known to be this disk
            return False
        for mine in (self.data.root, self.store.folder):
            try:
                if os.stat(mine).st_dev == dev:
                    return True
            except (OSError, ValueError):
                continue
        return False

    def health(self, now: datetime | None = None, interval_minutes: int = 0) -> list:
        """The health rule's warnings for the locations (health.assess_locations), from what was last seen.
        Raises as status() does."""
        from ..health import assess_locations

        return assess_locations(now or _now(), self.status(check=False), interval_minutes)

    def status_line(self, now: datetime | None = None, interval_minutes: int = 0) -> str:
        """e.g. "2 copies: this disk ✓ · Backblaze ✓ 5 min ago", or "1 of 2 copies working: this disk ✓ · USB ✗
        (last copy 2 days ago)" when not every place works (from what was last seen: no network). A location
        whose waiting copies have lapsed (health.location_stale_after of `interval_minutes`, the red
        "location-stale" warning) is ✗ too, never ✓ beside that red line (T16). Raises as status() does."""
        from ..health import last_copy_in_future, location_stale_after

        now = now or _now()
        stale_after = location_stale_after(interval_minutes)
        if not self.store.available():
            parts = ["this disk: the backup folder is not available"]
        else:
            parts = ["this disk ✓" if self.store.newest() else "this disk: no backup yet"]
        same_disk = []  # not another copy: a failed or stolen disk takes them too (X22); said, never counted
        for s in self.status(check=False):
            if not s.enabled:
                continue
            if s.problem_code:  # the time beside ✗ is the last copy that worked, said so (G20)
                last = f" (last copy {_ago(now, s.last_success_at)})" if s.last_success_at else ""
                part = f"{s.name} ✗{last}"
            elif (
                s.last_success_at
                and s.pending
                and (last_copy_in_future(now, s.last_success_at) or now - s.last_success_at > stale_after)
            ):
                part = f"{s.name} ✗ (last copy {_ago(now, s.last_success_at)}, {s.pending} pending)"
            elif s.last_success_at:
                part = f"{s.name} ✓ {_ago(now, s.last_success_at)}" + (f" ({s.pending} pending)" if s.pending else "")
                if s.lost:  # D5: working, but holding copies that cannot be restored (status's warning says which)
                    part += f" ({len(s.lost)} damaged)"
            else:
                part = f"{s.name}: not copied yet"
            if s.same_disk and "✗" not in part:
                same_disk.append(f"{part} (same disk)")
            else:
                parts.append(part)
        n = sum(1 for p in parts if "✓" in p)
        if n < len(parts):  # "2 copies" beside four places read as a miscount (L7)
            return f"{n} of {len(parts)} copies working: " + " · ".join(parts + same_disk)
        return f"{n} {'copy' if n == 1 else 'copies'}: " + " · ".join(parts + same_disk)

    def _due(self, loc: LocationConfig, st: LocationState) -> bool:
        """Whether the background copier tries `loc` (last seen as `st`) now: when its retry back-off is over,
        or, for a folder location last found not available (a drive unplugged, its marker missing), as soon as
        it is there again: one look at the folder and its marker (FolderLocation.check). The back-off spares
        places that answer but fail (a full drive, a refusal); a drive plugged in for an evening after a day
        away waited out up to BACKOFF_MAX and could get no copy at all (X24). Never raises."""
        if not backing_off(st, _now()):
            return True
        if loc.kind != "folder" or st.last_error_code not in (LocationUnavailableError.code, "location-marker-missing"):
            return False
        try:
            make_client(loc, self.data.root).check()
        except (JobMatcherError, OSError, ValueError):
            return False
        return True

    def checkup_due(self, now: datetime | None = None) -> bool:
        """True when an enabled location has had no successful sync for CHECKUP_SECONDS (or never had one) and is
        due to be tried (its retry back-off over): the app's copier then syncs it though nothing new waits, which
        finds and replaces copies gone or damaged there. From the last seen state only: cheap. Raises as
        status() does."""
        now = now or _now()
        states = load_states(self.data.root)
        for loc in self.config().locations:
            if not loc.enabled:
                continue
            st = states.get(loc.id, LocationState())
            last = st.last_success_at
            if (last is None or (now - last).total_seconds() > CHECKUP_SECONDS) and self._due(loc, st):
                return True
        return False

    def wanted_pending(self) -> bool:
        """True when some enabled location lacks a verified local backup (per the last seen state): cheap.
        Raises as status() does."""
        enabled = [loc for loc in self.config().locations if loc.enabled]
        if not enabled:  # nothing to copy to: the backup folder is not even looked at (K9)
            return False
        states = load_states(self.data.root)
        local = self._candidates(checking=True)
        # one still "checking" counts when its check is gone: the sync checks it, then copies it (V7)
        local = [r for r in local if not is_checking(r) or check_is_gone(self.store.folder, r.id)]
        for loc in enabled:
            st = states.get(loc.id, LocationState())
            copied = set(st.copied)
            if any(r.id not in copied for r in local) and self._due(loc, st):
                # what the location's retention lets it hold (by sequence, not only by date), as status() counts
                todo, _ = self._wanted(loc, local, [], _now())
                if any(r.id not in copied for r in todo):
                    return True
        return False

    # -- changing the passphrase (X13) ------------------------------------------------------

    def refuse_odd_key_file(self) -> None:
        """Raises odd_key_file()'s error when there is one. Never reads the key file."""
        odd = self.odd_key_file()
        if odd is not None:
            raise odd

    def odd_state_file(self) -> JobMatcherError | None:
        """The error (code "state-file-not-a-file") when a link, a folder, a pipe or a device is at the name of the
        locations' state file (locations-state.json): every sync then ends in an error when it records what it
        copied (the file is never replaced: D14's rule), so status said only "waiting to be copied; last copy:
        never" (FINDINGS18 7, FINDINGS19 5). Never reads it; one lstat. Never raises."""
        path = self.data.root / STATE_NAME
        kind = odd_kind_at(path)
        if kind is None:
            return None
        return JobMatcherError(
            f"{kind[0].upper()}{kind[1:]} is at {path}, where JobMatcher keeps what it last saw of each backup "
            "location, so what is copied cannot be recorded: every sync ends in an error, and what is at the "
            "locations cannot be told here.",
            "Move it out of the data folder (JobMatcher does not delete or replace what it did not make); the next "
            "copy then writes that file anew.",
            code="state-file-not-a-file",
        )

    def odd_key_file(self) -> JobMatcherError | None:
        """The error (code "key-file-not-a-file") when something other than a regular file (a pipe, a device, a
        folder) is at the key file's name, else None: B6, such a key file was said to be missing or not made yet,
        which sends the user to set up a new key. Never reads it (A6: a FIFO would hang the read). The way out it
        gives works for a location already added (C3: `location add` of the same name is refused). Never raises."""
        path = self.identity_path()
        if not (os.path.lexists(path) and not path.is_symlink() and not path.is_file()):
            return None
        return JobMatcherError(
            f"{path} is not the encryption key's file (a pipe, a device or a folder is there), so the key cannot "
            "be read and encrypted copies stop. Nothing was changed.",
            "Move that out of the data folder (JobMatcher does not delete what it did not make). Then remove an "
            "encrypted location and add the same place again with your passphrase (`jobmatcher location remove "
            "NAME`, then `jobmatcher location add …`): the key comes back from there (your copies there and your "
            "recovery key stay valid).",
            "Move that out of the data folder (JobMatcher does not delete what it did not make). Then remove an "
            "encrypted location and add the same place again with your passphrase: the key comes back from there "
            "(your copies there and your recovery key stay valid).",
            code="key-file-not-a-file",
        )

    def _relock_path(self) -> Path:
        return self.data.root / RELOCK_NAME

    def _relock_journal(self) -> dict | None:
        """The record of a passphrase change not yet at every location: {"earlier": [key files it replaced, the
        bytes], "pending": [ids of locations still holding one of them]}; None when there is none (or it cannot
        be read: then nothing is replaced by itself, and a location holding the old file is refused as before,
        saying how to go on). Never raises."""
        import base64

        try:
            raw = json.loads(read_small_file(self._relock_path()))
            earlier = [base64.b64decode(x, validate=True) for x in raw["earlier"]]
            pending = [str(x) for x in raw["pending"]]
            if raw.get("format") != 1 or not isinstance(raw["pending"], list):
                return None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("the record of a passphrase change (%s) cannot be read: %s", RELOCK_NAME, e)
            return None
        return {"earlier": earlier, "pending": pending}

    def _save_relock(self, journal: dict) -> None:
        """Write the record atomically (temp file, fsync, rename, folder fsync), or delete it when no location is
        pending any more. Raises OSError."""
        import base64

        if not journal["pending"]:
            path = self._relock_path()
            try:
                path.unlink()
            except FileNotFoundError:
                return
            from ..fsutil import fsync_dir

            fsync_dir(path.parent)
            return
        body = {
            "format": 1,
            "earlier": [base64.b64encode(x).decode() for x in journal["earlier"]],
            "pending": journal["pending"],
        }
        _write_private(self._relock_path(), json.dumps(body, indent=1).encode())

    def _earlier_key_file(self, theirs: bytes | None) -> bool:
        """Whether `theirs` (a location's identity.age) is a key file of this data folder's key that it replaced
        (a passphrase change: the record's, or any ever replaced: EARLIER_KEYS_NAME, B11): the same key under an
        earlier passphrase, so replacing it with the current one loses nothing. Never raises."""
        if theirs is None:
            return False
        journal = self._relock_journal()
        if journal is not None and theirs in journal["earlier"]:
            return True
        return hashlib.sha256(theirs).hexdigest() in self._earlier_key_digests()

    def _earlier_key_digests(self) -> set[str]:
        """The SHA-256 (hex) of every key file this data folder's replaced (EARLIER_KEYS_NAME); empty when there is
        none or it cannot be read (logged: then only the record's files are known). Never raises."""
        try:
            raw = json.loads(read_small_file(self.data.root / EARLIER_KEYS_NAME))
            if raw.get("format") == 1 and isinstance(raw.get("sha256"), list):
                return {str(x) for x in raw["sha256"]}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, AttributeError) as e:
            log.warning("the list of earlier key files (%s) cannot be read: %s", EARLIER_KEYS_NAME, e)
        return set()

    def _remember_replaced(self, locked: bytes) -> None:
        """Add the key file `locked`, about to be replaced in the data folder, to EARLIER_KEYS_NAME (atomically:
        temp file, fsync, rename, folder fsync), before it is replaced. Raises OSError."""
        digests = self._earlier_key_digests()
        digest = hashlib.sha256(locked).hexdigest()
        if digest in digests:
            return
        body = {"format": 1, "sha256": sorted(digests | {digest})}
        _write_private(self.data.root / EARLIER_KEYS_NAME, json.dumps(body, indent=1).encode())

    def _relock_done(self, location_id: str) -> None:
        """The location now holds the current key file: no longer pending (the record deleted with the last one).
        A failure to write the record is logged: the next sync finds the same file there and says so again.
        Never raises."""
        journal = self._relock_journal()
        if journal is None or location_id not in journal["pending"]:
            return
        journal["pending"] = [x for x in journal["pending"] if x != location_id]
        try:
            self._save_relock(journal)
        except OSError as e:
            log.warning("could not record that a location holds the new key file: %s", e)

    def old_passphrase_at(self) -> set[str]:
        """Ids of the locations whose key file still opens with the passphrase as it was before a change (the
        record's pending ones). Never raises."""
        journal = self._relock_journal()
        return set(journal["pending"]) if journal else set()

    def change_passphrase(self, old: str, new: str) -> PassphraseResult:
        """Lock this data folder's encryption key (the same key: the recipient, every copy and the recovery key
        stay as they are) with the passphrase `new`, in the data folder and at every encrypted location that can be
        reached now; those that cannot, and disabled ones (never written to), keep the old file until their next
        copy replaces it (recorded in RELOCK_NAME, which status shows). `old`: the current passphrase or the
        recovery key; it must open the key first, else nothing is changed.

        Every write replaces one whole file (a folder's: temp file, fsync, rename, folder fsync; S3: one PUT), so
        each place holds a key file that opens with the old or with the new passphrase at every instant. The
        record is written before the data folder's key file changes and keeps the files it replaced: killed at
        any point, the same command again (with the old passphrase) finishes the change.

        Raises ValidationError (the new passphrase too short, or the same), JobMatcherError (code "no-key-file";
        "sync-running": the locations' lock is held), KeyFileDamagedError, WrongPassphraseError (`old` does not
        open the key; nothing changed), SettingsError, OSError (the data folder cannot be written: the change is
        then as far as the record says, and the command again finishes it)."""
        check_new_passphrase(new)
        lock = self._lock(wait=30)
        try:
            cfg = self.config()
            self.refuse_odd_key_file()
            if not cfg.recipient or not self.identity_path().is_file():
                raise JobMatcherError(
                    f"This data folder has no encryption key yet ({IDENTITY_NAME}), so there is no passphrase to "
                    "change.",
                    "Add an encrypted backup location: its passphrase is chosen then.",
                    code="no-key-file",
                )
            self._remove_dead_temps()
            locked = self._locked_identity()
            journal = self._relock_journal() or {"earlier": [], "pending": []}
            # the old passphrase proven first: "the same" is said only of the passphrase that opens the key (A4)
            identity, current = self._open_for_change(old, locked, journal["earlier"], cfg.recipient)
            if current and old.rstrip("\r\n") == new:
                if not journal["pending"]:
                    raise ValidationError(
                        "The new passphrase is the same as the current one: nothing to change.",
                        "Choose another passphrase.",
                        code="passphrase-unchanged",
                    )
                # a change killed after the data folder's key file was locked with it, given again as both:
                # the change is finished (the current file put where the record says), not locked anew
                new_locked = locked
            else:
                new_locked = lock_identity(identity, new)
            # 1. the record: the file about to be replaced is kept (the old passphrase opens it, and a rerun
            #    after a kill opens it there), every encrypted location pending until it holds the new one
            if locked not in journal["earlier"]:
                journal["earlier"].append(locked)
            pending = [loc.id for loc in cfg.locations if loc.encrypt]
            journal["pending"] = list(dict.fromkeys(journal["pending"] + pending))
            self._save_relock(journal)
            # 2. the data folder's key file, then its proofs (the recipient bound to the new file's bytes)
            if new_locked != locked:
                self._remember_replaced(locked)  # B11: a location found holding it later is behind
                _write_private(self.identity_path(), new_locked)
                self._bind(cfg, cfg.recipient, new_locked)
                save_config(self.data.root, cfg)
            log.info("the encryption key's passphrase was changed in the data folder")
            # 3. every encrypted location that can be reached
            result = PassphraseResult()
            fid = folder_id_of(self.data)
            for loc in cfg.locations:
                if not loc.encrypt:
                    continue
                if not loc.enabled:  # left alone entirely (B3): pending in the record until its next copy
                    result.disabled.append(loc.name)
                    continue
                try:
                    self._relock_at(loc, fid, new_locked)
                except (JobMatcherError, OSError) as e:
                    why = e.message if isinstance(e, JobMatcherError) else str(e)
                    if isinstance(e, JobMatcherError) and e.code == "location-identity-conflict":
                        log.warning("location %s holds another key's file: not updated", loc.name)
                        result.other_key.append(loc.name)
                        result.problems[loc.name] = why
                        self._relock_done(loc.id)  # it holds no file of this key: no passphrase of ours opens it
                        continue
                    log.warning("location %s: its key file was not updated now: %s", loc.name, why)
                    result.pending.append(loc.name)
                    result.problems[loc.name] = why
                    continue
                self._relock_done(loc.id)
                result.updated.append(loc.name)
            if not result.pending and not result.disabled:  # (other_key: never pending)
                self._save_relock({"earlier": [], "pending": []})  # also ids of locations removed meanwhile
            return result
        finally:
            lock.release()

    def _open_for_change(self, old: str, locked: bytes, earlier: list[bytes], recipient: str) -> tuple[str, bool]:
        """The identity, opened with `old`, and whether it opened the data folder's key file itself: from that
        file, else (a change killed after it replaced that file) from a key file the change replaced. It must be
        this data folder's key (its
        recipient). Raises WrongPassphraseError (nothing changed), KeyFileDamagedError, ValidationError (a
        mangled recovery key)."""
        refused = WrongPassphraseError(
            "That passphrase (or recovery key) does not open this data folder's encryption key. Nothing was changed.",
            "Give the current passphrase (it is case-sensitive) or the recovery key you were shown when "
            "encryption was set up.",
        )
        tries = [locked] + [x for x in reversed(earlier) if x != locked]
        for i, candidate in enumerate(tries):
            try:
                identity = unlock_identity(candidate, old) if i else self._unlock_own(old)
            except WrongPassphraseError as e:
                _unless_too_slow(e)
                if is_recovery_key(old):
                    raise refused from None
                continue
            if recipient_of(identity) != recipient:  # another data folder's recovery key
                raise refused
            return identity, i == 0
        raise refused

    def _relock_at(self, loc: LocationConfig, fid: str, locked: bytes) -> None:
        """Put this data folder's key file `locked` at the location `loc`, replacing the file there when it is
        this key under an earlier passphrase (the record's); one there already is left. Raises what reaching
        the place raises, LocationCopyFailedError (another key there: never replaced), LocationTakenOverError
        (another computer writes there)."""
        client = make_client(loc, self.data.root)
        client.check()
        try:
            theirs: bytes | None = client.get_bytes(identity_key(fid))
        except FileNotFoundError:
            theirs = None
        if theirs == locked:
            return
        if theirs is not None and not self._earlier_key_file(theirs):
            raise _identity_conflict(client.describe())
        self._claim(client, fid, loc.name)  # as a copy does: never written where another computer writes
        client.put_bytes(identity_key(fid), locked)  # one whole file: the old one or the new one, never neither

    # -- identity ---------------------------------------------------------------------------

    def adopt_chain(
        self,
        client: LocationClient,
        remote: RemoteBackup,
        safety_backup_id: str | None = None,
        recipient: str | None = None,
    ) -> bool:
        """After a restore from a location into a fresh data folder: continue the restored data folder's chain.

        This data folder takes that one's id and numbers its backups after the highest sequence among its copies
        there (in pattern: backups.in_pattern_top, so a planted copy at the bound does not count), so the copies
        stay one list (newest by sequence), the location's retention keeps pruning them, and the next sync adds to
        them instead of starting a second chain. It becomes their writer at its next contact with each location
        (DataDir.adopted_at, see _claim). Encrypted copies are continued only when this folder now holds the same
        identity (recovered with the passphrase): a new identity written there would lock the older copies' key
        away (`recipient`: the copies' one, when known, must be this folder's). The safety backup this restore
        made (`safety_backup_id`, of the empty database a first launch creates)
        joins the chain; other backups of the empty database made before the restore are deleted (B12), unless
        pinned. Returns whether it was adopted; never raises for what only loses continuity (a new chain
        then starts, as before).
        """
        from ..manifest import update_manifest

        cfg = self.config()
        if remote.encrypted and not (cfg.recipient and self.identity_path().is_file()):
            return False
        if remote.encrypted and recipient is not None and cfg.recipient != recipient:
            # this data folder keeps another key than the copies' (it encrypted copies of its own, or the restore
            # was made with the recovery key): continuing the chain would stop every copy there (X9)
            log.info("the restored data folder keeps its own key: its copies start a list of their own")
            return False
        try:
            from .. import schema
            from .recovery import empty_database

            own = self.store.own()
            revisions = list(schema.revisions())
            # backups of its own holding user data: not a fresh data folder (a launch's automatic backups of
            # the empty database it made hold nothing: they join the chain, as the safety backup does; W4)
            if any(r.id != safety_backup_id and not empty_database(Path(r.path), revisions) for r in own):
                return False
            # B12: those backups of the empty database, made before the restore, hold nothing of the user's (as the
            # safety backup W4 drops): numbered after the chain's top they became its newest copies, above the
            # restored data ("last backup passed its check" of 0 saved jobs, copied to the locations on top, the
            # first a later recovery offers). JobMatcher's own files, proven empty by their bytes just now: deleted
            # (a pinned one is the user's choice: kept, and joins the chain as before).
            for r in own:
                if r.id != safety_backup_id and not r.pinned:
                    try:
                        self.store.delete(r.id)
                        log.info("deleted %s, a backup of the empty database made before the restore", r.id)
                    except (JobMatcherError, OSError) as e:
                        log.warning("could not delete %s, a backup of the empty database: %s", r.id, e)
            own = self.store.own()
            # the chain's highest in-pattern sequence: a planted or damaged copy's 2**53-1 would hold every new
            # backup at the bound (U9)
            seq = in_pattern_top(r.sequence for r in list_remote(client, remote.folder_id))
            # the take-over after the one recorded there: ranks above the lost computer's whatever the clocks
            self.data.adopt_folder_id(remote.folder_id, seq, generation_at(client, remote.folder_id) + 1)
            # still this data folder's, so it is listed, offered and pruned as before; numbered after the chain's
            # top (A8: a launch's automatic backups of the empty database had 1, 2…, the places of the chain's
            # oldest copies), in the order they had. A pinned backup of the empty database (kept: the user's
            # choice) gets no number (C18): it ranks below the whole chain, as an older version's backup does,
            # never the newest backup of the restored data (health's last backup, the locations' newest copy).
            numbered = sorted(
                (r for r in own if r.id == safety_backup_id or not r.pinned),
                key=lambda r: (r.sequence or 0, r.created_at, r.id),
            )
            for r in own:
                n = seq + 1 + numbered.index(r) if r in numbered else None

                def stamp(m, fid=remote.folder_id, n=n) -> None:
                    m.data_folder_id = fid
                    m.sequence = n

                update_manifest(Path(r.path), stamp)
        except (JobMatcherError, OSError, ValueError) as e:
            log.warning("the restored data folder starts a new chain of copies: %s", e)
            return False
        log.info("continuing the chain of copies of data folder %s (after sequence %d)", remote.folder_id, seq)
        return True

    def adopt_identity(self, locked: bytes, secret: str, identity: str | None = None) -> bool:
        """After a restore from a location on a fresh data folder: keep that folder's identity for new copies.
        `identity`: `locked` already opened with `secret` (the restore did), so scrypt does not run again.

        A key this data folder already has is kept when it encrypted anything (unused_key): copies made with it
        must stay readable. One that never did (made by a `location add` minutes before the restore, X9) is
        replaced by the copies' key, so the take-over can go on copying there. Returns True when the data
        folder's key was so replaced (the recovery key shown for it no longer applies).

        Raises WrongPassphraseError / ValidationError when `secret` does not open `locked`, SettingsError
        (a damaged configuration), OSError when the identity or configuration cannot be written."""
        cfg = self.config()
        if cfg.recipient and not self.unused_key():
            return False
        if identity is None:
            identity = unlock_identity(locked, secret)
        recipient = recipient_of(identity)
        if cfg.recipient == recipient:
            return False
        if is_recovery_key(secret):
            return False  # no passphrase to lock it with: the user sets one with the next encrypted location
        replaced = bool(cfg.recipient)
        if replaced:
            log.warning("replacing this data folder's unused encryption key by the restored copies' key")
        _write_private(self.identity_path(), locked)
        self._bind(cfg, recipient, locked)
        save_config(self.data.root, cfg)
        return replaced

    def unused_key(self) -> bool:
        """Whether this data folder's encryption key never encrypted a copy: no location records a copy made
        (or space used) for this data folder, and none of its backups is marked as copied. A key in doubt (a
        damaged state file) is in use (False). Never raises."""
        try:
            states = load_states(self.data.root)
        except (JobMatcherError, OSError):
            return False
        return all(not st.copied and not st.used_bytes for st in states.values())


# What each retention field is, in the user's words (for a value out of its limits, which are the model's).
_RETENTION_WORDS = {
    "retention_policy": "the kind of retention",
    "retention_days": "the days to keep copies",
    "keep_all_hours": "the hours of which every copy is kept",
    "keep_daily_days": "the days of which the newest copy of each day is kept",
    "keep_weekly_weeks": "the weeks of which the newest copy of each week is kept",
    "keep_monthly_months": "the months of which the newest copy of each month is kept",
}


def _limits(field: str) -> str:
    """A retention field's limits in words, from LocationConfig's own ("1 to 36,500", "tiered or simple")."""
    info = LocationConfig.model_fields[field]
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    return "tiered or simple" if low is None or high is None else f"{low:,} to {high:,}"


def _with_retention(loc: LocationConfig, changes: dict[str, Any]) -> LocationConfig:
    """`loc` with its retention changed (any of config.RETENTION_FIELDS), checked against the limits.

    Raises SettingsError naming the value out of its limits, and ValueError for a field that is not a
    retention field (a programming error)."""
    unknown = set(changes) - set(RETENTION_FIELDS)
    if unknown:
        raise ValueError(f"not retention fields: {sorted(unknown)}")
    try:
        return LocationConfig.model_validate({**loc.model_dump(), **changes})
    except pydantic.ValidationError as e:
        field = str(e.errors()[0]["loc"][0])
        what = _RETENTION_WORDS.get(field, "a retention value")
        raise SettingsError(
            f"{changes.get(field)!r} is not possible for {what} at a location ({_limits(field)}).",
            "Choose a value in that range.",
        ) from None


def _keeps_at_least(new: LocationConfig, old: LocationConfig) -> bool:
    """True when `new`'s retention keeps every copy `old`'s does (the same policy, no number smaller): then
    nothing needs counting, and an unreachable location is not waited for. Never raises."""
    numbers = RETENTION_FIELDS[1:] if new.retention_policy == "tiered" else ("retention_days",)
    return new.retention_policy == old.retention_policy and all(getattr(new, k) >= getattr(old, k) for k in numbers)


class _AddUndo:
    """What `Locations.add` writes at a place before it is saved (the marker, writer.json, identity.age, their
    folders), noted before it writes: undo() removes what was not there before, so a refused add leaves the
    place as it was (T14). Whatever cannot be told (an error asking) counts as there before: never removed."""

    def __init__(self, client: LocationClient, fid: str) -> None:
        self.client = client
        keys = (MARKER_KEY, writer_key(fid), computer_key(fid), identity_key(fid))
        self.keys = [k for k in keys if not self._there(k)]
        self.dirs: list[Path] = []
        if isinstance(client, FolderLocation):
            ns = client.root / namespace(fid)
            self.dirs = [d for d in (ns, ns.parent) if not d.exists()]  # the namespace first, then JobMatcher/

    def _there(self, key: str) -> bool:
        try:
            self.client.get_bytes(key)
            return True
        except FileNotFoundError:
            return False
        except Exception:  # noqa: BLE001 - cannot tell: treated as there, so never removed
            return True

    def undo(self) -> None:
        """Remove what the add wrote; never raises (the refusal that called it is what the user must see)."""
        for key in self.keys:
            try:
                if self._there(key):
                    self.client.delete(key)
            except Exception as e:  # noqa: BLE001
                log.warning("a refused add could not remove %s it wrote at %s: %s", key, self.client.describe(), e)
        for d in self.dirs:
            try:
                d.rmdir()  # only when empty: nothing else was put there meanwhile
            except OSError:
                pass


def _not_a_moved_location(loc: LocationConfig, cfg: LocationsConfig) -> None:
    """Refuse adding the folder `loc` whose marker (its id, read at add) is that of a location already configured:
    the same drive mounted elsewhere (relabelled, `/media/me/USB` -> `/media/me/USB1`) or the folder moved. A second
    entry would count its copies twice and prune them by two rules should both paths ever answer (X26). Raises
    ValidationError (code location-moved)."""
    twin = next((o for o in cfg.locations if o.kind == "folder" and o.marker_id and o.marker_id == loc.marker_id), None)
    if twin is None or not loc.marker_id:
        return
    import shlex

    shown = printable(twin.name)
    raise ValidationError(
        f"{loc.where()} is the drive (or folder) of your location '{shown}', last seen at {twin.where()}: it is "
        "mounted at another place now, or was moved.",
        f"To use it at its new place: `jobmatcher location set '{shown}' --path {shlex.quote(loc.where())}` (its "
        f"copies there stay with it). If it comes back at {twin.where()}, nothing is needed.",
        f"To use it at its new place, remove '{shown}' (Remove in its row: its copies there stay) and add this "
        "folder again; its copies there join it.",
        code="location-moved",
        name=twin.name,
    )


def _other_data_folders(root: Path, fid: str) -> list[str]:
    """The ids of other data folders with something in their namespace under the folder `root`. Never raises."""
    import re

    base = root / namespace(fid).split("/")[0]
    try:
        names = os.listdir(base)
    except OSError:
        return []
    out = []
    for n in names:
        if n != fid and re.fullmatch(r"[0-9a-f]{32}", n):
            try:
                if any(not x.startswith(".") for x in os.listdir(base / n)):
                    out.append(n)
            except OSError:
                continue
    return out


def _same_place(a: LocationConfig, b: LocationConfig) -> bool:
    """Whether two locations are one place: the same folder (after `..` and symbolic links, or the same
    device and inode: a bind mount, a second mount of one disk), or the same endpoint, bucket and prefix.
    Never raises (a folder that cannot be looked at now is compared by its path)."""
    if a.kind != b.kind:
        return False
    if a.kind == "s3":
        return _s3_place(a) == _s3_place(b)
    pa, pb = a.path or "", b.path or ""
    if os.path.realpath(pa) == os.path.realpath(pb):
        return True
    return same_file(pa, pb)


def _s3_place(loc: LocationConfig) -> tuple[str, str, tuple[str, ...]]:
    """(endpoint URL as compared: no trailing slash, lower case; bucket; the prefix's parts as the client makes
    keys of them: slashes at its ends dropped, an empty part inside kept, "a//b" is not "a/b") of an S3 location.
    Never raises."""
    url = (loc.endpoint_url or "").strip().rstrip("/").lower()
    prefix = (loc.prefix or "").strip("/")
    return url, loc.bucket or "", tuple(prefix.split("/")) if prefix else ()


def _nested(a: LocationConfig, b: LocationConfig) -> str | None:
    """How location `a` lies in location `b`: "is inside" or "contains", or None (other kinds, or apart). Folders
    are compared after `..` and symbolic links. S3 locations (same endpoint and bucket) are nested when one's prefix
    lies in the other's own namespace, `<prefix>/JobMatcher/` (C7: its marker, key file and copies then sit among
    the other's, whose space used counts them); "p1/other" beside "p1/JobMatcher" is apart, as are "p10" and "p1"
    (parts, not text). Never raises."""
    if a.kind == "s3" and b.kind == "s3":
        if _s3_place(a)[:2] != _s3_place(b)[:2]:
            return None
        ka, kb = _s3_place(a)[2], _s3_place(b)[2]
        if ka[: len(kb) + 1] == (*kb, ROOT):
            return "is inside"
        if kb[: len(ka) + 1] == (*ka, ROOT):
            return "contains"
        return None
    if a.kind != "folder" or b.kind != "folder":
        return None
    pa, pb = Path(os.path.realpath(a.path or "")), Path(os.path.realpath(b.path or ""))
    if pb in pa.parents:
        return "is inside"
    if pa in pb.parents:
        return "contains"
    return None


READ_BACK_DOUBT = "its bytes there no longer match the checksum recorded when it was written: damaged or changed"
# a copy there at the last sync that is not listed now: its data file gone, or its record gone or unreadable
GONE_DOUBT = "it is no longer there whole (its data file, or its record, is missing or cannot be read)"


def _mark_read_back(remote: list[RemoteBackup], fid: str | None, st: LocationState) -> None:
    """Mark damaged in `remote` (a listing of a configured location) each copy of data folder `fid` that an
    earlier `location sync --verify` read back damaged and that is still that copy (its manifest records the
    stored SHA-256 that was read: a copy made since has another), with READ_BACK_DOUBT (D5). Never raises."""
    for r in remote:
        if r.folder_id == fid and not r.damaged and st.read_back_damaged.get(r.id) == r.stored_sha256:
            r.damaged, r.verified, r.doubt = True, False, READ_BACK_DOUBT


def _seen_damage(remote: list[RemoteBackup], fid: str, st: LocationState) -> None:
    """Record in `st` what a whole listing of data folder `fid`'s copies at its location (`remote`) shows:
    read-back verdicts of copies no longer there, or replaced, are forgotten, and `st.damaged` is every copy
    of `fid` known damaged there now (D5, D15: what status says without contacting the location). Marks
    `remote` as _mark_read_back. Never raises."""
    _mark_read_back(remote, fid, st)
    ours = [r for r in remote if r.folder_id == fid]
    st.read_back_damaged = {r.id: r.stored_sha256 for r in ours if r.doubt == READ_BACK_DOUBT}
    st.damaged = sorted(r.id for r in ours if r.damaged)


def _is_copy_of(remote: RemoteBackup, local: BackupRecord | None, loc: LocationConfig) -> bool:
    """Whether a copy at a location stands for the local backup of its id: the same database checksum (its
    manifest's, which the restore checks the decrypted bytes against), and encrypted when the location is.
    A copy whose local backup is gone cannot be compared: it counts (retention prunes it as before), unless
    its data there is not the size written (damaged). Never raises."""
    if loc.encrypt and not remote.encrypted:
        return False  # not made by this location's encrypting copier
    if remote.damaged:
        return False  # its data there is not the size written (B5): replaced while the backup is here
    return local is None or (bool(local.sha256) and remote.sha256 == local.sha256)


def _listed(client: LocationClient, fid: str, space: list[int] | None = None) -> list[RemoteBackup]:
    """list_remote(client, fid), given a folder location's deadline (FolderLocation.bounded: a share that stops
    answering after its check is not waited on for ever, X16); `space` as remote_listing's. Raises as
    list_remote, and LocationUnavailableError (reason "not-answering")."""
    if isinstance(client, FolderLocation):
        return client.bounded(lambda: remote_listing(client, fid, space=space)[0])
    return remote_listing(client, fid, space=space)[0]


def _unless_too_slow(e: JobMatcherError) -> None:
    """Raise `e` again when age did not try the passphrase at all (code "key-unlock-too-slow"): a refusal
    that is not a verdict on the passphrase is never reported as a wrong one, nor as another key."""
    if e.code == "key-unlock-too-slow":
        raise e


def _unless_not_the_passphrase(e: JobMatcherError) -> None:
    """Raise `e` again when it is no verdict on a passphrase: age did not try it (_unless_too_slow), or the
    secret was given as a recovery key that is not one (a ValidationError: "check it was copied whole", X25),
    which passphrase advice would send the wrong way."""
    _unless_too_slow(e)
    if isinstance(e, ValidationError):
        raise e


def _stanza(locked: bytes) -> bytes:
    """The scrypt stanza line of a locked identity (its random salt and work factor): two files with the same
    one were written as one file. b"" when there is none. Never raises."""
    lines = locked.split(b"\n", 3)
    return lines[1] if len(lines) > 2 and lines[1].startswith(b"-> scrypt ") else b""


def _identity_conflict(
    where: str, relocked: bool = False, fid: str = "", unknown: bool = False, adding: bool = False
) -> LocationCopyFailedError:
    """The refusal to write this data folder's identity over another one already at a location. `unknown`: no
    passphrase given opened the file there, so it may be this very key under another passphrase of the user's
    (A9): said so, with the step that tells (its passphrase given; `adding`: to `location add`, else to
    `location sync`). `relocked`: this
    data folder's key file was locked again (X13), so the file there is probably the same key under the old
    passphrase: said so, with the step that works (its file copied there)."""
    if relocked:
        return LocationCopyFailedError(
            f"This data folder's key file ({IDENTITY_NAME}) was locked again (with another passphrase), and {where} "
            "still holds its key file as it was before: probably the same key locked with the old passphrase. "
            "JobMatcher does not replace it by itself. Nothing was written there.",
            f"If you changed the passphrase, copy {IDENTITY_NAME} from the data folder over "
            f"JobMatcher/{fid}/identity.age at that place (every location that holds it), then copy again; "
            "until then the old passphrase still opens the key there.",
            code="location-identity-conflict",
        )
    if unknown:
        step = (
            "the same `jobmatcher location add` command with --passphrase-file FILE"
            if adding
            else "`jobmatcher location sync --passphrase-file FILE`"
        )
        return LocationCopyFailedError(
            f"{where} holds a key file for this data folder's copies that this data folder's passphrase does not "
            "open: the same key locked with another passphrase of yours (an earlier or a later one), or another "
            "encryption key. JobMatcher never replaces it by itself. Nothing was written there.",
            f"Give the passphrase that opens the key file there: {step} (a file with that passphrase on its first "
            "line). If it is this data folder's key, JobMatcher keeps that file and that passphrase opens the key "
            "from then on; if none of your passphrases opens it, choose another folder or prefix.",
            "Type the passphrase that opens the key file there (if it is this data folder's key, that file is "
            "kept), or choose another folder for the copies.",
            code="location-identity-conflict",
        )
    return LocationCopyFailedError(
        f"{where} already holds another encryption key for this data folder's copies. JobMatcher never "
        "replaces it: the copies there would no longer open with their passphrase. Nothing was written there.",
        "Restore from those copies with their passphrase first (`jobmatcher backup restore ID --from-folder …`), "
        "or choose another folder or prefix for this data folder's copies.",
        "Choose another folder for the copies, or restore from the copies there with their passphrase.",
        code="location-identity-conflict",
    )


def _kept_note(where: str, others: list[str]) -> str:
    """Said after a location's key file (this key under the passphrase given) was kept as the data folder's:
    which passphrase now opens what (A9). Never raises."""
    said = (
        f"The key file at {where} is this data folder's key locked with the passphrase you gave, not with the one "
        "of the data folder's key file: the data folder now keeps that file, so the passphrase you gave opens the "
        "key from now on."
    )
    if len(others) == 1:  # B4: one location is "it", several "they"
        said += (
            f" {others[0]!r} gets that file at its next copy; until then the earlier passphrase still opens the key "
            "there."
        )
    elif others:
        said += (
            f" {', '.join(repr(x) for x in others)} get that file at their next copy; until then the earlier "
            "passphrase still opens the key there."
        )
    return said


def _ago(now: datetime, when: datetime | None) -> str:
    if when is None:
        return ""
    s = (now - when).total_seconds()
    if s < -300:  # written while the clock was ahead (or it is behind now): not "just now" for days (V10)
        return f"dated {when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC, in the future"
    if s < 90:
        return "just now"
    if s < 5400:
        return f"{round(s / 60)} min ago"
    # whole hours and days passed, as health.ago counts them: "11 days ago" beside "not for 10 days" was one
    # instant said two ways (T16)
    if s < 36 * 3600:
        return f"{int(s // 3600)} h ago"
    return f"{int(s // 86400)} days ago"


def _recipient_mismatch() -> LocationCopyFailedError:
    """The refusal for a recipient in locations.json that is not the key file's (T9). Never raises."""
    return LocationCopyFailedError(
        "The encryption key in locations.json (its recipient) is not the key of this data folder's key "
        f"file ({IDENTITY_NAME}): copies encrypted to it could not be opened with your passphrase or "
        "recovery key, so none was made.",
        "Put back this data folder's own locations.json if it was replaced. Otherwise remove the "
        '"recipient" line from locations.json, then remove this location and add it again with your '
        "passphrase (its copies stay): the key is then taken from the key file.",
        code="recipient-mismatch",
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically (the locked identity)."""
    from ..fsutil import atomic_write_bytes  # new files are 0600

    atomic_write_bytes(path, data)


def _step_aside(client: LocationClient, name: str, page: bool) -> str:
    """What this computer does to leave a taken-over location to the other one, with its real name (L7): remove
    it here, or (while adding it) not add it. Never raises."""
    if client.adding:
        return "do not add that place here"
    shown = printable(name)
    return (
        f"remove the location '{shown}' here (Remove in its row)"
        if page
        else (f"remove the location '{shown}' here (`jobmatcher location remove '{shown}'`)")
    )


def _default_name(folder: Path) -> str:
    """A location name from a folder's last part, without what a name cannot hold (control characters,
    text-direction marks: what printable() would escape)."""
    base = "".join(c for c in folder.name if c not in "/\\" and printable(c) == c).strip()[:60]
    return base or "folder"
