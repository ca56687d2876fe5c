"""The manifest stored beside each backup: what it is, when it was made, its checksum and last check.

Listing backups reads these small JSON files and never opens a database.
Updates (pin, a check's result) are read-modify-write under a lock on the
manifest and change only the fields the operation owns, so a pin made while a
check runs is never undone by the check writing its result.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .core_schemas import MAX_FILE_BYTES, MAX_FORMAT, MAX_SECONDS, lower_hex
from .core_schemas import MAX_SEQUENCE as MAX_SEQUENCE
from .core_schemas import BackupType as BackupType  # the models and the core schemas share these
from .core_schemas import as_utc as as_utc
from .fsutil import atomic_write_bytes
from .listing import CHANGED_AFTER_RESTORE as CHANGED_AFTER_RESTORE
from .listing import CHECKING as CHECKING  # the list's constants and reading, shared with the model-free list
from .listing import MAX_MANIFEST_BYTES as MAX_MANIFEST_BYTES
from .listing import (
    MAX_VERIFIED_BYTES,
    read_verified,
    record_values,
    refreshed_check,
    verified_bytes,
    verified_is_ours,
    verified_path,
)
from .listing import NEWER_VERSION as NEWER_VERSION
from .listing import NOTE_MAX_CHARS as NOTE_MAX_CHARS
from .listing import READ_FLAGS as _READ_FLAGS
from .listing import VERIFIED_SUFFIX as VERIFIED_SUFFIX
from .listing import check_outcome as check_outcome
from .listing import newest_order as newest_order
from .listing import read_all as _read_all
from .listing import stamp_of as _stamp_of

# A date field of a file JobMatcher reads (manifests, a location's records): always time-zone aware, in UTC
# (core_schemas.as_utc: the same rule for the schemas of the backup list).
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]

# A hex digest field (SHA-256, BLAKE3): lower case whatever the file holds.
HexDigest = Annotated[str | None, AfterValidator(lower_hex)]

# A manifest's numbers within their bounds (core_schemas.MAX_FILE_BYTES…, shared with the backup list's schemas
# and the location manifests), counts and flags as strict JSON types.
ByteCount = Annotated[int, Field(strict=True, ge=0, le=MAX_FILE_BYTES)]
Seconds = Annotated[float, Field(strict=True, ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
Sequence = Annotated[int, Field(strict=True, ge=1, le=MAX_SEQUENCE)]
FormatNumber = Annotated[int, Field(strict=True, ge=1, le=MAX_FORMAT)]
Flag = Annotated[bool, Field(strict=True)]

# BLAKE3's own domain separation (its key-derivation mode, a context string used for nothing else): a seal
# can never equal the BLAKE3 of a file, nor a digest made for another purpose from the same text.
SEAL_CONTEXT = "JobMatcher 2026-12-01 backup manifest seal v1"
_HEX64 = frozenset("0123456789abcdef")


def _is_hex64(v: object) -> bool:
    return isinstance(v, str) and len(v) == 64 and _HEX64.issuperset(v)


def compute_seal(size_bytes: int, sha256: str, blake3: str) -> str:
    """The seal of a backup's size (bytes) and its two checksums (hex, any case): 64 lower-case hex digits.

    BLAKE3 in key-derivation mode (SEAL_CONTEXT) of a canonical text (the lines size=N, sha256=HEX and
    blake3=HEX), the hex in lower case, so a manifest rewritten with capitals keeps its seal. Written only when both
    checksums were computed from one read of the same bytes; see seal_holds. Raises ValueError when a
    checksum is not 64 hex digits or the size is negative."""
    sha256, blake3_hex = sha256.lower(), blake3.lower()
    if not (_is_hex64(sha256) and _is_hex64(blake3_hex)) or size_bytes < 0:
        raise ValueError("a seal needs a size and two 64-digit hex checksums")
    import blake3 as _blake3  # here: listing backups never hashes

    text = f"size={int(size_bytes)}\nsha256={sha256}\nblake3={blake3_hex}\n".encode()
    return _blake3.blake3(text, derive_key_context=SEAL_CONTEXT).hexdigest()


class Manifest(BaseModel):
    """Everything known about one backup file, written when it is made and after each check."""

    model_config = ConfigDict(extra="ignore")

    format: FormatNumber = 1
    type: BackupType = BackupType.manual
    created_at: UtcDatetime = Field(description="When the snapshot was taken (UTC), not when it was checked.")
    size_bytes: ByteCount
    sha256: HexDigest = None
    blake3: HexDigest = Field(
        None,
        description="BLAKE3 of the file, from the same bytes as sha256: what verify and restore compare "
        "when it is there (faster); None in manifests of older versions (sha256 is compared then).",
    )
    seal: HexDigest = Field(
        None,
        description="compute_seal(size_bytes, sha256, blake3), written when both checksums come from one read "
        "of the file: while it holds (seal_holds), a match of BLAKE3 proves the SHA-256 too. None in manifests "
        "of older versions and when a checksum is missing; older versions ignore it.",
    )
    schema_revision: str | None = None
    app_version: str = ""
    note: str = ""
    pinned: Flag = False
    verified: Flag | None = None
    verified_at: UtcDatetime | None = None
    verify_message: str = ""
    copy_seconds: Seconds | None = None
    verify_seconds: Seconds | None = None
    data_folder_id: str | None = Field(
        None,
        description="The id of the data folder this is a backup of "
        "(DataDir.folder_id); None in manifests of older versions.",
    )
    sequence: Sequence | None = Field(
        None,
        description="Order of making among this data folder's backups "
        "(1 + the highest listed when it was published): "
        "'newest' goes by it, never by a clock that may lie. "
        "None in manifests of older versions.",
    )
    added_by_hand: Flag = Field(
        False,
        description="Written for a file JobMatcher did not make (pinned or checked "
        "there): its date is the file's, and it is never deleted "
        "automatically.",
    )
    file_stamp: str | None = Field(
        None,
        description="A restore's linked safety backup as the restore left it (file_stamp_of: inode, size, "
        "modification time in ns), until its first check passes: a check that finds the file changed since "
        "refuses to seal its bytes as the data from before the restore (W6). None otherwise.",
    )
    changed_after_restore: UtcDatetime | None = Field(
        None,
        description="When a check or a restore found this restore's linked safety backup no longer as the "
        "restore left it (file_stamp) before its first check passed (Y7): for good, its bytes cannot be proven "
        "to be the data from before that restore. It is checked as it is now (checksums of the file as it is), "
        "recorded as CHANGED_AFTER_RESTORE, never as passed. None otherwise.",
    )


def file_stamp_of(path: Path) -> str:
    """What tells the file at `path` (not followed) from itself after a write or a swap, cheaply: its inode,
    size and modification time (ns), as "INO:SIZE:MTIME_NS". Not the change time: a hard link made by another
    tool (a backup of the backup folder) changes it without changing a byte. Raises OSError."""
    return _stamp_of(os.lstat(path))


def seal_of(m: Manifest) -> str | None:
    """The seal for `m`'s size and checksums as they are now, or None when it lacks either checksum (or one
    is not a hex digest). Never raises."""
    try:
        return compute_seal(m.size_bytes, m.sha256, m.blake3) if m.sha256 and m.blake3 else None
    except ValueError:
        return None


def seal_holds(m: Manifest | None) -> bool:
    """Does `m`'s seal match its size, SHA-256 and BLAKE3? Then its SHA-256 is the SHA-256 of the very bytes
    whose BLAKE3 it records (both were computed from one read when it was sealed), so a file whose BLAKE3
    matches also has the recorded SHA-256: proving BLAKE3 alone proves both.

    False for a manifest without a seal (older versions), and for one whose size, either checksum or the
    seal itself was changed since (a hand edit, another tool): compare both checksums then (finding H6).
    The seal guards against edits and tools, not against an attacker: anyone who rewrites the manifest
    can compute a new seal (as they could rewrite the file). Never raises."""
    return m is not None and bool(m.seal) and seal_of(m) == m.seal


ManifestState = Literal["ok", "missing", "unreadable"]


class BackupRecord(BaseModel):
    """One row of the backup list, as the command line and the window show it."""

    # Built at first use (as the other models the list does not need: CreatedBackup inherits this).
    model_config = ConfigDict(defer_build=True)

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
    has_manifest: bool = Field(
        True, description="False for a file copied into the folder by hand (or whose manifest is unreadable)."
    )
    manifest: ManifestState = Field(
        "ok",
        description="'missing': added by hand; 'unreadable': its manifest is "
        "damaged, so its date and checks are unknown.",
    )
    data_folder_id: str | None = Field(None, description="The data folder this backup was made of (None: unknown).")
    owned: bool = Field(
        True,
        description="A backup of this data folder; False: another data folder's, "
        "never pruned, offered or counted for this one.",
    )
    added_by_hand: bool = False
    sequence: int | None = None
    future: bool = Field(False, description="Dated after now: a wrong clock. Never the newest for scheduling.")

    @classmethod
    def from_manifest(
        cls, backup_id: str, path: str | os.PathLike, m: Manifest, has_manifest: bool = True, **extra
    ) -> "BackupRecord":
        """The list's record for the backup `backup_id` at `path` described by `m`; `extra` sets the
        list-only fields (manifest, owned, future). Never raises (nothing is validated again)."""
        # The manifest's fields were validated when it was read or made: not again for every row of a list.
        # listing.record_values: the same values the model-free list makes (`backup list`).
        return cls.trusted(record_values(backup_id, path, m.__dict__, has_manifest, **extra))

    @classmethod
    def trusted(cls, values: dict) -> Self:
        """model_construct(**values) for values already validated, in a tenth of its time (it matters for a list
        of 1,000 backups): the same instance state (__dict__ with every field, its defaults filled in,
        model_fields_set, no extra, no private), without model_construct's per-field alias lookups
        (these models have no aliases). Unknown keys are ignored, as model_construct ignores them.
        tests/test_backup.py keeps the two equal. Never raises for validated values."""
        plan = _TRUSTED_PLANS.get(cls) or _trusted_plan(cls)
        every = _EVERY_FIELD[cls]
        d: dict[str, Any]
        if values.keys() == every.keys():  # every field given (each row of a list): no default to fill in
            d = every.copy()  # the fields' order, as model_construct makes it
            d.update(values)
            fields_set = set(values)
        else:
            d = {}
            for name, plain, default in plan:
                if name in values:
                    d[name] = values[name]
                elif plain:
                    d[name] = default
                elif default is not None:  # a mutable default or a factory: a fresh one, as model_construct does
                    d[name] = default.get_default(call_default_factory=True, validated_data=d)
            fields_set = {k for k in values if k in d}
        rec = cls.__new__(cls)
        _set = object.__setattr__
        _set(rec, "__dict__", d)
        _set(rec, "__pydantic_fields_set__", fields_set)
        _set(rec, "__pydantic_extra__", None)
        _set(rec, "__pydantic_private__", None)
        return rec


_TRUSTED_PLANS: dict[type, tuple[tuple[str, bool, Any], ...]] = {}
_EVERY_FIELD: dict[type, dict[str, None]] = {}  # per model: its field names in order (made with its plan)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, Enum, datetime)


def _trusted_plan(cls: type[BaseModel]) -> tuple[tuple[str, bool, Any], ...]:
    """Per field, in order: (name, True, its default) when that default is immutable and can be shared;
    (name, False, the FieldInfo) when a fresh default must be made; (name, False, None) when required."""
    plan: list[tuple[str, bool, Any]] = []
    for name, f in cls.__pydantic_fields__.items():
        if f.is_required():
            plan.append((name, False, None))
        elif f.default_factory is None and isinstance(f.default, _IMMUTABLE):
            plan.append((name, True, f.default))
        else:
            plan.append((name, False, f))
    _EVERY_FIELD[cls] = dict.fromkeys(cls.__pydantic_fields__)
    _TRUSTED_PLANS[cls] = result = tuple(plan)
    return result


def manifest_path(db_file: Path) -> Path:
    """Where the manifest of the backup `db_file` lives: the same name with `.json`. Never raises."""
    return db_file.with_suffix(".json")


# Manifests already read and validated by this process, by path: (the file's identity and times, the manifest).
# Only for readers that never change what they get (listing, counting sequence numbers: `shared=True`).
_SEEN: dict[str, tuple[tuple[int, int, int, int, int], Manifest]] = {}
_SEEN_MAX = 20_000  # about 20 MB at most; emptied when full (the app lists the folder often, not 20,000 files)
# A file changed within this long is read again each time: a rewrite in place within the same tick of the
# file system's clock could keep its size and both times (git's "racily clean" files).
_SETTLED_NS = 2_000_000_000


def _read_regular(name: str) -> bytes:
    """The bytes of the manifest-sized regular file `name`; OSError for anything else (FileNotFoundError
    when there is none), ValueError for a NUL in the name. Never waits on a FIFO."""
    fd = os.open(name, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
            raise OSError(f"{name} is not a manifest")
        return _read_all(fd, st.st_size, name)
    finally:
        os.close(fd)


def load_manifest(db_file: Path) -> tuple[Manifest | None, ManifestState]:
    """(manifest, state) for `db_file`: state 'missing' when there is none, 'unreadable' when damaged
    (or not a manifest: a folder, a FIFO, a file over MAX_MANIFEST_BYTES). Its check's time is the newest
    recorded: the check-time file's beside it when that refreshes it (listing.refreshed_check). Never raises for
    its files."""
    return _load_with_check_time(Path(db_file))[:2]


def _load_with_check_time(db_file: Path) -> tuple[Manifest | None, ManifestState, bool]:
    """load_manifest, and whether a check-time file JobMatcher wrote (listing.verified_is_ours: also a torn or
    stale one) is beside it. Never raises."""
    m, state = load_manifest_file(manifest_path(db_file))
    raw, ours = read_verified(verified_path(db_file))
    if m is not None and raw is not None:
        fresh = refreshed_check(m.__dict__, raw)
        if fresh is not None:
            m.verified_at, m.verify_seconds = fresh
    return m, state, ours


# The fields a check-time file holds (listing.VERIFIED_SUFFIX): what update_manifest may write there.
CHECK_TIME = frozenset({"verified_at", "verify_seconds"})


def write_check_time(db_file: Path, m: Manifest) -> bool:
    """Record `m`'s check time (verified_at, verify_seconds) in the check-time file beside `db_file`, tied to
    `m`'s verdict and SHA-256 (listing.verified_bytes), written in place and not made durable: a power cut may
    leave it as it was, empty or torn, and readers then take the manifest's time. A file there that JobMatcher
    did not write (listing.verified_is_ours), a link or anything but a regular file is left alone. Returns
    whether it was written; False (nothing changed, or a torn file left for readers to ignore) when it could not
    be. Never raises."""
    if not m.sha256 or m.verified_at is None:
        return False
    data = verified_bytes(m.verified_at, m.verify_seconds, m.sha256, m.verified, m.verify_message)
    path = verified_path(db_file)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0), 0o600)
    except (OSError, ValueError):
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_VERIFIED_BYTES:
            return False
        if st.st_size and not verified_is_ours(_read_all(fd, st.st_size, path)):
            return False
        # over the last one, of the same length (listing.VERIFIED_BYTES): killed or cut off at any instant, the file
        # holds the old text, the new one or a torn one, never the new one with an old tail
        if os.pwrite(fd, data, 0) != len(data):
            return False
        if st.st_size > len(data):
            os.ftruncate(fd, len(data))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_check_time(db_file: Path) -> bool:
    """Remove the check-time file beside `db_file` when JobMatcher wrote it (listing.verified_is_ours: also a torn
    one); another program's file of that name is left. Returns whether one was removed. Never raises."""
    path = verified_path(db_file)
    if not read_verified(path)[1]:
        return False
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def load_manifest_file(path: str | os.PathLike, shared: bool = False) -> tuple[Manifest | None, ManifestState]:
    """load_manifest for the manifest file itself (`….json`).

    `shared=True`: the caller only reads the manifest it gets (never changes it), so one this process read
    before may be handed out again when the file is unchanged: same device, inode, size, modification and
    status-change times in nanoseconds (the status-change time cannot be set back by hand, and JobMatcher
    replaces manifests by rename, so a changed manifest is a new inode), and last changed over 2 s before
    it was read. Saves the read and the validation, not the check: the file is opened and fstat'ed every
    time. The descriptor is opened non-blocking: a FIFO of that name would otherwise hang the list forever;
    it is refused by the fstat (for a regular file the flag changes nothing). os.open/os.read: a third of
    what pathlib's buffered file object costs, a thousand times per list. Never raises: a file that cannot
    be read is "unreadable", a missing one "missing".
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, _READ_FLAGS)
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return None, "unreadable"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
            return None, "unreadable"
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if shared and (seen := _SEEN.get(name)) is not None and seen[0] == key:
            return seen[1], "ok"
        raw = _read_all(fd, st.st_size, name)
    except OSError:
        return None, "unreadable"
    finally:
        os.close(fd)
    try:
        m = Manifest.model_validate_json(raw)
    except (ValueError, ValidationError, OverflowError, RecursionError):
        return None, "unreadable"
    if shared and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS:
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[name] = (key, m)
    return m, "ok"


def clean_note(note: str) -> str:
    """A backup's note as it is kept: one line of at most NOTE_MAX_CHARS characters, trimmed.

    Tabs (pasted text has them) become spaces. Any other control character, or a line or paragraph
    separator, is refused: in a list, a line break or a terminal escape would forge rows or clear the
    screen. The one rule for every way a note arrives (the command line, the page, the engine).

    Raises:
        ValidationError: too long, or a line break or another control character in it.
    """
    import unicodedata

    from .errors import ValidationError as NoteError

    note = note.replace("\t", " ").strip()
    from .fsutil import is_utf8

    if not is_utf8(note):  # typed in a terminal set to another encoding: no manifest can keep it (X27)
        raise NoteError(
            "A note must be text: it contains bytes that are not valid UTF-8 (typed in another encoding).",
            "Type the note again in a terminal set to UTF-8.",
        )
    if len(note) > NOTE_MAX_CHARS:
        raise NoteError(f"A note can be at most {NOTE_MAX_CHARS} characters ({len(note)} given).", "Shorten the note.")
    if any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in note):
        raise NoteError(
            "A note must be a single line of text: it contains a line break or another control character.",
            "Type the note again as one line of plain text.",
        )
    return note


# Every manifest JobMatcher ever wrote has these keys; a file at a manifest's name without them is not ours.
_MANIFEST_KEYS = frozenset({"format", "created_at", "size_bytes"})


def is_jobmatcher_manifest(db_file: Path) -> bool:
    """Is the file at `db_file`'s manifest name one JobMatcher wrote: readable, or at least a JSON object
    with a manifest's keys (one with a value this version cannot read, e.g. a hand-edited date)? Only such
    a file is ever deleted with its backup or as a leftover; anything else there is another program's.
    Never raises (an unreadable file: False)."""
    state = load_manifest(db_file)[1]
    if state != "unreadable":
        return state == "ok"
    import json

    try:
        body = json.loads(_read_regular(str(manifest_path(db_file))))  # never a FIFO's endless wait
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(body, dict) and _MANIFEST_KEYS <= body.keys()


def is_location_manifest(path: Path) -> bool:
    """Is the JSON file at `path` the manifest of a copy at a backup location (it records the stored
    file's checksum, `stored_sha256`), not a local backup's? False when it cannot be read. Never raises."""
    import json

    try:
        body = json.loads(_read_regular(str(path)))  # never a FIFO's endless wait, nor a huge file
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(body, dict) and "stored_sha256" in body


def read_manifest(db_file: Path) -> Manifest | None:
    """The manifest beside `db_file`, or None when there is none or it is unreadable. Never raises."""
    return load_manifest(db_file)[0]


def write_manifest(db_file: Path, manifest: Manifest, rename_durable: bool = True) -> None:
    """Write the manifest atomically beside `db_file` (a new backup's; updates use update_manifest).

    Raises OSError when it cannot be written (the folder missing or read-only, a full disk); the
    manifest then is as it was before (atomic_write_bytes: a temp file renamed over it; `rename_durable`
    as there).
    """
    atomic_write_bytes(
        manifest_path(db_file), manifest.model_dump_json(indent=2).encode(), rename_durable=rename_durable
    )


class ManifestNotOursError(Exception):
    """The file where the manifest would go is not a manifest JobMatcher can read: it is left alone."""


MANIFEST_LOCK_NAME = ".jobmatcher-manifests.lock"
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(str(path.absolute()), threading.Lock())


def update_manifest(
    db_file: Path,
    change: Callable[[Manifest], None],
    default: Callable[[], Manifest] | None = None,
    refresh: frozenset[str] = frozenset(),
) -> Manifest:
    """Read the manifest, apply `change` to it and write it back, all under a lock.

    The lock is a thread lock plus an OS lock on the backup file itself (other processes), so
    concurrent updates (a pin while a check records its result) each see the other's fields.
    `change` must set only the fields its operation owns. With no manifest, `default()` makes
    one (a file added by hand); without `default` FileNotFoundError is raised. A file at the
    manifest's place that is not a readable manifest raises ManifestNotOursError and is never
    overwritten. OSError from the file system propagates. Returns the manifest written.

    `refresh`: fields whose new values alone need not survive a power cut (a check's time when its verdict
    is the one recorded already). When `change` changed only those and they are a check's time (CHECK_TIME),
    the manifest is not rewritten at all: the time goes to the check-time file beside it (write_check_time: no
    fsync; readers take it while the manifest records the same verdict of the same bytes). Otherwise, or when
    that file cannot be written, the new manifest is written whole and fsynced before it replaces the old one,
    but the rename is not made durable (no fsync of the folder, atomic_write_bytes): a power cut then leaves
    the old manifest or the new one, both whole and with the same verdict. Any other change (a verdict, a
    checksum, a size, a manifest made) is made durable. The manifest read holds the newest check time
    (load_manifest), so a rewrite keeps it, and a check-time file JobMatcher wrote is removed after one.
    """
    from .lock import FileLock  # local: keep this module's imports light

    with _thread_lock(db_file):
        # One lock file per backup folder, never deleted (deleting a lock file races with its takers).
        # Not a lock on the backup itself: closing a descriptor of a file drops the POSIX locks SQLite
        # holds on it in this process.
        guard = FileLock(db_file.parent / MANIFEST_LOCK_NAME)
        guard.acquire(timeout=30)
        try:
            m, state, aside = _load_with_check_time(db_file)
            if state == "unreadable":
                raise ManifestNotOursError(str(manifest_path(db_file)))
            # the fields' values are immutable (text, numbers, dates, enums): a shallow copy is a snapshot
            before = None if m is None or not refresh else _fields_but(m, refresh)
            if m is None:
                if default is None:
                    raise FileNotFoundError(str(manifest_path(db_file)))
                m = default()
            change(m)
            only_refreshed = before is not None and _fields_but(m, refresh) == before
            if only_refreshed and refresh <= CHECK_TIME and write_check_time(db_file, m):
                return m  # the manifest stays as it is, byte for byte
            write_manifest(db_file, m, rename_durable=not only_refreshed)
            if aside:  # its time is in the manifest now (read with it): the file beside it has served
                remove_check_time(db_file)
            return m
        finally:
            guard.release()


def _fields_but(m: Manifest, left_out: frozenset[str]) -> dict[str, Any]:
    """`m`'s fields and values but those named in `left_out` (a shallow copy). Never raises."""
    return {k: v for k, v in m.__dict__.items() if k not in left_out}


def utcnow() -> datetime:
    """The current time, aware, in UTC (manifests' times are all UTC). Never raises."""
    return datetime.now(timezone.utc)
