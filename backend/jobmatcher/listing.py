"""The backup folder's read side, without pydantic: which files in it are backups, whether a chosen folder is
there, whose each backup is, and each one's row in the list.

backups.BackupStore builds on BackupFolder and makes its rows as models (BackupRecord, from manifests read
through manifest.Manifest); `backup list` uses BackupFolder itself, which reads the manifests with the
pydantic-core schemas of core_schemas.py and makes plain rows (ListedBackup), so that the command never imports
pydantic (issue 13: 1,000 backups in under 150 ms, the interpreter's start included). Both go through the same
list() and _record() here, so they list the same files with the same values (tests/test_core_schemas.py runs
both on the same folders).
"""

from __future__ import annotations

import builtins  # `list` is also a method name in BackupFolder
import os
import re
import shlex
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .core_schemas import MAX_SECONDS, BackupType, manifest_values, manifest_values_of
from .datadir import DB_NAME
from .errors import BackupFolderUnavailableError, JobMatcherError
from .folders import BACKUP_FOLDER_MARKER
from .fsutil import OPEN_SUFFIXES, SIDE_SUFFIXES, other_kind, read_small_file, same_file

if TYPE_CHECKING:
    from .datadir import DataDir

# The names JobMatcher gives what it makes; automatic deletion touches nothing else.
OWN_NAME = re.compile(r"^backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(?:_[0-9]{1,3})?\Z")
_MAX_NAME_BYTES = 255


def listable_name(name: str) -> bool:
    """True for a file name the backup list shows: `*.db`, not hidden, one plain name.

    list() shows exactly these and get() accepts exactly their ids (the name without `.db`),
    so every id the list shows works with every command: `Résumé before move`, `2026 März`, `_old`.
    At most 255 bytes in UTF-8 (a file name's limit). Never raises (a non-string is False).
    """
    return (
        isinstance(name, str)
        and name.endswith(".db")
        and len(name) > 3
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and len(name.encode("utf-8", "surrogateescape")) <= _MAX_NAME_BYTES
    )


# A backup dated this far ahead of the clock is flagged (`future`): made or read with a wrong clock.
FUTURE_SLACK = timedelta(minutes=10)


def is_own_backup(r: Any) -> bool:
    """A backup JobMatcher made of this data folder: its name pattern, a readable manifest that says so.
    Never raises."""
    return r.owned and r.manifest == "ok" and not r.added_by_hand and bool(OWN_NAME.match(r.id))


FOLDER_MARKER = BACKUP_FOLDER_MARKER
DATA_DB_NAME = DB_NAME  # a data folder's live file: never a backup


ADOPT_HINT = (
    "If the drive there now is a new one meant for your backups, run `jobmatcher settings --backup-dir {folder} "
    "--yes` to use it."
)
ADOPT_PAGE_HINT = (
    "If the drive there now is a new one meant for your backups, choose the same folder again in Settings, "
    "save and confirm."
)


def unavailable_error(folder: Path) -> BackupFolderUnavailableError:
    """The error (returned, not raised) for a chosen backup folder that is not there or lacks its marker.

    When the folder is there but unmarked (a new drive mounted at the same place, G8) the hint names the
    way to adopt it: choosing the same folder again, confirmed."""
    there = False
    try:
        there = Path(folder).is_dir()
        marker = os.lstat(Path(folder) / FOLDER_MARKER).st_mode
    except OSError:
        marker = None
    if there and marker is not None and not stat.S_ISREG(marker) and not stat.S_ISLNK(marker):
        # C10: the drive is there and writable; what is at the marker's name is not the marker JobMatcher wrote
        what = "a folder" if stat.S_ISDIR(marker) else "a pipe or a device"
        return BackupFolderUnavailableError(
            f"Your backup folder {folder} is there, but {FOLDER_MARKER} in it is {what}, not the marker file "
            "JobMatcher wrote, so JobMatcher cannot tell it is your backup folder.",
            f"Move {Path(folder) / FOLDER_MARKER} out of that folder (JobMatcher does not delete what it did not "
            f"make), then run `jobmatcher settings --backup-dir {shlex.quote(str(folder))} --yes` to use the folder "
            "again.",
            f"Move {Path(folder) / FOLDER_MARKER} out of that folder (JobMatcher does not delete what it did not "
            "make), then choose the same folder again in Settings, save and confirm.",
        )
    hint = (
        "JobMatcher does not create it again, so backups never land on the wrong disk. "
        "Backups resume by themselves once it is back."
    )
    return BackupFolderUnavailableError(
        f"Your backup folder {folder} is not available — connect the drive or choose another folder.",
        hint
        + (
            " " + ADOPT_HINT.format(folder=shlex.quote(str(folder)))  # the command runs as written
            if there
            else " To use another folder: `jobmatcher settings --backup-dir FOLDER`."
        ),
        hint + (" " + ADOPT_PAGE_HINT if there else " To use another folder, choose it in Settings."),
    )


def _marker_tokens(folder: Path) -> list[str]:
    try:
        # read_small_file: a FIFO at the marker's name never waited on (B13's kind)
        lines = read_small_file(Path(folder) / FOLDER_MARKER).decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [t.strip() for t in lines[1:] if t.strip()]


LINK_NOT_LISTED = "{name} is not listed: it is a link to another file, not a backup file."
# B10: a folder, a pipe or a device at a backup's name (never opened: a pipe would hang the read)
ODD_NOT_LISTED = "{name} is not listed: {what} is there, not a backup file."
# A pinned backup's manifest whose file is gone (moved away, a drive's folder emptied by hand): pins are set only on
# a listed backup, so the backup was published; its manifest is kept (BackupStore.cleanup) and the list says so.
PINNED_FILE_MISSING = (
    "The pinned backup {id} is missing its file ({id}.db is not in the backup folder): it cannot be restored until "
    "that file is put back. Its manifest (pin, note, checksums) is kept for it."
)
# C12: a folder, a pipe or a device at a backup's manifest name (`ID.json`): said, never opened, moved or replaced
ODD_MANIFEST = (
    "{name} is {what}, not the manifest JobMatcher writes beside a backup: it is left as it is (move it out of the "
    "backup folder)."
)


def live_link_sentence(name: str | os.PathLike, live: str | os.PathLike, listed: bool = True) -> str:
    """Why the backup file `name` is not listed (`listed`; otherwise: why it is not a backup, for a command naming
    it) when it is the live file `live` under a second name (a hard link, finding X1): in the user's words.
    Never raises."""
    return (
        f"{name} is {'not listed: it is ' if listed else ''}your live database {live} itself under a second name "
        "(a hard link), not a backup: it changes whenever you edit your data."
    )


def live_link_hint(backup_id: str, path: str | os.PathLike, live: str | os.PathLike, deletable: bool = True) -> str:
    """What to do about the backup `backup_id` at `path` that is the live file `live` (finding X1), in the
    command line's words: make a real backup, then remove the second name (`deletable`: `backup delete` can,
    as it is in the current backup folder; otherwise by hand). Never raises."""
    how = (
        f"`jobmatcher backup delete {backup_id} --yes`"
        if deletable
        else f"delete the file {path} (and {os.fspath(path)[:-3]}.json beside it) yourself"
    )
    return (
        f"Make a real backup of your data now: `jobmatcher backup create`. Then remove the second name: {how}; only "
        f"that name and its manifest go, your data stays in {live}."
    )


def live_link_warning(link: dict) -> tuple[str, str, str]:
    """(what is wrong, what to do, the page's words for it) for the backup `link` (Engine.live_links' row: "id",
    "path", "folder", "deletable", "live", and "location": a location's name for a copy there) that is the live
    database "live" itself under a second name (X1).
    Never raises."""
    live = link["live"]
    if link.get("location"):  # a plain copy at a folder location without encryption
        what = f"the copy {link['id']} at the backup location {link['location']} ({link['folder']})"
    else:
        what = f"the backup {link['id']} in {link['folder']}"
    return (
        f"Your database {live} is the same file as {what} (a second name, a hard link): that "
        f"{'copy' if link.get('location') else 'backup'} changes whenever you edit your data, so it is not a "
        "backup any more, and it is neither listed nor counted.",
        live_link_hint(link["id"], link["path"], live, link["deletable"]),
        live_link_page_hint(link["path"], live),
    )


def live_link_page_hint(path: str | os.PathLike, live: str | os.PathLike) -> str:
    """live_link_hint in the page's words (a button; the file to remove by hand). Never raises."""
    return (
        "Make a real backup of your data now with “Back up now”. Then remove the second name: delete the file "
        f"{path} (and {os.fspath(path)[:-3]}.json beside it); only that name goes, your data stays in {live}."
    )


def not_listed_because(name: str, exists: Callable[[str], bool]) -> str | None:
    """Why the `*.db` file `name` is not a backup (live_database_file), in the user's words, or None.

    `exists(other_name)`: whether a file of that name is beside it (the list's one reading of the folder
    answers it; a lookup answers it for one file). The side files are fsutil's OPEN_SUFFIXES, named once.
    Never raises (but for what `exists` raises)."""
    if name == DATA_DB_NAME:
        return f"{name} is not listed: that name is a data folder's live database, never a backup."
    for suffix in OPEN_SUFFIXES:
        if exists(name + suffix):
            return (
                f"{name} is not listed: {name}{suffix} beside it shows some program has it open as its "
                "database, so it is not a backup JobMatcher can use as it is."
            )
    return None


def folder_marker_matches(folder: Path, token: str) -> bool:
    """True when `folder`'s marker file lists `token`. Never raises (an unreadable marker: False)."""
    return token in _marker_tokens(folder)


# verify_message of a backup whose check is still running (a restore's linked safety backup)
CHECKING = "checking"
# verify_message of a sound backup made of data a newer JobMatcher had updated (its schema revision is unknown
# here): kept, restorable with that version, never "passed its check" here (verified None; finding G7). It
# never counts as the newest checked backup for retention, health or the window's way out.
NEWER_VERSION = "newer-version"
# verify_message of a restore's linked safety backup whose file was no longer as the restore left it (its manifest's
# file_stamp) before its first check passed (W6, Y7): a `touch`, an editor, a tool restoring times, or a rewrite of
# the same length; they cannot be told apart. Its bytes cannot be proven to be the data from before the restore,
# for good (manifest.changed_after_restore); it is checked as it is now, as a file from outside, and restorable as
# it is with these words, never "passed its check" (verified None): retention, health and the window's way out
# never count it as the newest checked backup, and it is not copied to backup locations.
CHANGED_AFTER_RESTORE = "changed-after-restore"


def stamp_of(st: os.stat_result) -> str:
    """manifest.file_stamp_of's text for the lstat `st`: "INO:SIZE:MTIME_NS". Never raises."""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def changed_since_restore(m: dict, st: os.stat_result) -> bool:
    """Is the backup described by the manifest fields `m`, whose file's lstat is `st`, a restore's linked safety
    backup not proven yet whose file is no longer as the restore left it (its file_stamp)? Read-only (the list,
    `backup show`); the check records it (backups.BackupStore.note_changed_since_restore). Never raises."""
    stamp = m.get("file_stamp")
    return bool(stamp) and m.get("verified") is not True and stamp != stamp_of(st)


def check_outcome(ok: bool, revision: str | None, message: str) -> tuple[bool | None, str]:
    """(verified, verify_message) to record for a check that passed (`ok`) or not, of a file at `revision`:
    a sound file of a newer JobMatcher's schema is (None, NEWER_VERSION), not passed. Never raises."""
    if ok and not _is_known(revision):
        return None, NEWER_VERSION
    return ok, message


def _is_known(revision: str | None) -> bool:
    global _is_known
    from .schema import is_known  # at the first use: a list of 1,000 rows asks 1,000 times

    _is_known = is_known
    return is_known(revision)


# A note is at most this many characters (manifest.clean_note, for every way one is written); a longer one in a
# manifest (another tool, a hand edit) is shown cut to it, never printed whole (finding T3).
NOTE_MAX_CHARS = 500


def size_changed(found: int, checked: int) -> str:
    """The failed check's words for a backup file of `found` bytes whose check measured `checked` (C17). Never
    raises."""
    return (
        f"its file has {found:,} bytes where its check measured {checked:,}: it was cut short or changed since "
        "its check"
    )


def _sealed(m: dict) -> bool:
    """Whether the manifest fields `m` carry a seal that holds (manifest.seal_holds, on the fields): their size is
    then the size the check measured. Only asked when a file's size differs (rare): the seal's module is loaded
    then. Never raises."""
    seal, sha256, blake3 = m.get("seal"), m.get("sha256"), m.get("blake3")
    if not (seal and sha256 and blake3):
        return False
    from .manifest import compute_seal

    try:
        return compute_seal(m["size_bytes"], sha256, blake3) == seal
    except ValueError:
        return False


def record_values(backup_id: str, path: str | os.PathLike, m: dict, has_manifest: bool = True, **extra) -> dict:
    """The list's record for the backup `backup_id` at `path` described by the manifest's fields `m` (validated:
    manifest.Manifest's __dict__ or core_schemas.manifest_values), as {field: value} in the record's field order
    (RECORD_FIELDS); `extra` sets the list-only fields (manifest, owned, future, and size_bytes:
    the file's own size, which the list takes from its lstat over the manifest's claim). A note longer than
    NOTE_MAX_CHARS is cut to it (ending in "…"). Never raises."""
    verified, message, note = m["verified"], m["verify_message"], m["note"]
    if len(note) > NOTE_MAX_CHARS:
        note = note[: NOTE_MAX_CHARS - 1] + "…"
    if verified is True:
        # a manifest written before G7's fix (or by a newer JobMatcher) may say "passed" for such a backup
        verified, message = check_outcome(True, m["schema_revision"], message)
        size = extra.get("size_bytes")
        if isinstance(size, int) and isinstance(m["size_bytes"], int) and size != m["size_bytes"] and _sealed(m):
            # C17: the file is not the size its check measured (cut short, grown): not the file that passed, seen
            # from the lstat every list makes anyway; never "passed" in the list, health or retention (the
            # manifest is left as it is: `backup verify` records the verdict). Only while the manifest's seal holds:
            # then the size is the one its check measured, not a claim edited in (T3: that counts for nothing)
            verified, message = False, size_changed(size, m["size_bytes"])
    values = {  # one literal, in RECORD_FIELDS' order (a thousand rows per list)
        "id": backup_id,
        "path": os.fspath(path),
        "type": m["type"],
        "created_at": m["created_at"],
        "size_bytes": m["size_bytes"],
        "sha256": m["sha256"],
        "schema_revision": m["schema_revision"],
        "app_version": m["app_version"],
        "note": note,
        "pinned": m["pinned"],
        "verified": verified,
        "verified_at": m["verified_at"],
        "verify_message": message,
        "has_manifest": has_manifest,
        "manifest": "ok",
        "data_folder_id": m["data_folder_id"],
        "owned": True,
        "added_by_hand": m["added_by_hand"],
        "sequence": m["sequence"],
        "future": False,
    }
    if extra:
        values.update(extra)
    return values


# -- a check's refreshed time, beside its manifest (issue 13) ------------------------------------------------------

# `<id>.verified` beside a backup: the time of its last check when that check only confirmed the verdict its
# manifest records (passed before, passed now). Written in place without an fsync (manifest.update_manifest): the
# manifest, which holds the checksums, the seal and the verdict, is not rewritten for a time that need not survive a
# power cut. It is named for its backup, so it goes wherever its backup goes (delete, prune, move: there its time is
# written into the moved manifest). Readers take its time only while the manifest still records the same verdict of
# the same bytes and the time is later than the manifest's; anything else there (torn by a power cut, empty, stale,
# another program's file) is ignored, never an error.
VERIFIED_SUFFIX = ".verified"
# How every such file JobMatcher writes begins (compact JSON, keys in this order): what tells it from another
# program's file of that name, which is never overwritten nor deleted.
VERIFIED_MARK = b'{"app":"JobMatcher","kind":"check-time"'
MAX_VERIFIED_BYTES = 4096
# Every such file JobMatcher writes has this length (its JSON padded with spaces): one is rewritten in place over the
# last, never leaving a longer tail behind it, and fits one disk sector.
VERIFIED_BYTES = 512


def verified_path(db_path: str | os.PathLike) -> str:
    """The check-time file of the backup file `db_path` (`….db`): the same name with VERIFIED_SUFFIX. Never
    raises."""
    name = os.fspath(db_path)
    return (name[:-3] if name.endswith(".db") else name) + VERIFIED_SUFFIX


def verified_is_ours(raw: bytes) -> bool:
    """Is `raw`, the bytes of a file at a check-time file's name, one JobMatcher wrote: its mark, or nothing but
    what a power cut leaves of a file being written (empty, or zeros)? Only such a file is overwritten or deleted.
    Never raises."""
    return raw.startswith(VERIFIED_MARK) or not raw.strip(b"\0")


def read_verified(path: str) -> tuple[bytes | None, bool]:
    """(its bytes, whether JobMatcher wrote it: verified_is_ours) for the check-time file `path`; (None, False)
    when there is none or it is not a small regular file (a link is not followed, a FIFO never waited on). Never
    raises."""
    try:
        fd = os.open(path, READ_FLAGS | getattr(os, "O_NOFOLLOW", 0))
    except (OSError, ValueError):
        return None, False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_VERIFIED_BYTES:
            return None, False
        raw = read_all(fd, st.st_size, path)
    except OSError:
        return None, False
    finally:
        os.close(fd)
    return raw, verified_is_ours(raw)


def verified_bytes(
    verified_at: datetime, seconds: float | None, sha256: str, verified: bool | None, message: str
) -> bytes:
    """The content of a check-time file: the check's time (aware) and seconds, and the verdict and SHA-256 of the
    manifest it refreshes (what makes it apply only to that manifest), as JSON padded with spaces to VERIFIED_BYTES
    (longer only for a message far longer than JobMatcher's). Never raises for a manifest's values."""
    import json

    text = json.dumps(
        {
            "app": "JobMatcher",
            "kind": "check-time",
            "format": 1,
            "verified_at": verified_at.isoformat(),
            "verify_seconds": seconds,
            "sha256": sha256,
            "verified": verified,
            "verify_message": message,
        },
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return text.ljust(VERIFIED_BYTES - 1).encode() + b"\n"


def parse_verified(raw: bytes | None) -> tuple[datetime, float | None, str, bool | None, str] | None:
    """(verified_at in UTC, verify_seconds, sha256, verified, verify_message) from a check-time file's bytes;
    None for anything JobMatcher did not write whole (torn, empty, another format). Never raises."""
    if not raw or not raw.startswith(VERIFIED_MARK):
        return None
    import json

    try:
        body = json.loads(raw)
        at = datetime.fromisoformat(body["verified_at"])
        seconds, sha, verified, message = (
            body["verify_seconds"],
            body["sha256"],
            body["verified"],
            body["verify_message"],
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if (
        body.get("format") != 1
        or at.tzinfo is None
        or not (seconds is None or (type(seconds) in (int, float) and 0 <= seconds <= MAX_SECONDS))
        or not (isinstance(sha, str) and len(sha) == 64)
        or verified not in (True, False, None)
        or not isinstance(message, str)
    ):
        return None
    return at.astimezone(timezone.utc), (None if seconds is None else float(seconds)), sha.lower(), verified, message


def refreshed_check(m: dict, raw: bytes | None) -> tuple[datetime, float | None] | None:
    """(verified_at, verify_seconds) of the check-time file's bytes `raw` when they refresh the manifest's fields
    `m` (a dict as manifest_values or Manifest.__dict__): the same verdict and message of the same SHA-256, at a
    later time. None otherwise (no file, a torn or stale one, another manifest now at that name). Never raises."""
    side = parse_verified(raw)
    if side is None:
        return None
    at, seconds, sha, verified, message = side
    if (
        sha != (m["sha256"] or "").lower()
        or verified is not m["verified"]
        or message != m["verify_message"]
        or (m["verified_at"] is not None and at <= m["verified_at"])
    ):
        return None
    return at, seconds


def newest_order(b) -> tuple:
    """Sort key, oldest first, by the order of making: the manifest's `sequence` (int, optional; None for
    manifests of older versions, which rank below every sequenced backup), then `created_at`.
    Never raises for a backup with a `created_at`. (Also retention.newest_order: here, beside the field it
    reads, so that the list's warning does not import the retention rules.)"""
    seq = getattr(b, "sequence", None)
    return (seq is not None, seq or 0, b.created_at)


class ListedBackup:
    """One row of `backup list` read without models: the fields of manifest.BackupRecord as attributes (its
    `__dict__` is record_values' dict, in the record's field order). Never validated again: made from values the
    core schemas validated."""

    # manifest.BackupRecord's fields (tests/test_core_schemas.py keeps them the same)
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
    verify_message: str
    has_manifest: bool
    manifest: str
    data_folder_id: str | None
    owned: bool
    added_by_hand: bool
    sequence: int | None
    future: bool

    def __init__(self, values: dict) -> None:
        self.__dict__ = values

    def __repr__(self) -> str:
        return f"ListedBackup({self.__dict__!r})"


# The fields of a listed backup's record (manifest.BackupRecord), in its order, as ListedBackup spells them.
RECORD_FIELDS = tuple(ListedBackup.__annotations__)


class BackupFolder:
    """One backup folder, seen from one data folder: its read side (see backups.BackupStore for the rest).

    `chosen=True` for a folder the user chose (not the default inside the data folder): it is
    never created, and with `token` it must hold the marker file written when it was chosen;
    otherwise it is "unavailable" (BackupFolderUnavailableError) for listing and for writing.
    With `data` (the data folder being backed up) every record says whether it is this data
    folder's (`owned`); the live database is never listed.
    Without it (tests, tools) every backup with a manifest counts as owned.

    Rows are ListedBackup here, read with the core schemas; BackupStore overrides _manifest, _unlisted and _row
    to read and make them as models.
    """

    def __init__(
        self, folder: Path, chosen: bool = False, token: str | None = None, data: "DataDir | None" = None
    ) -> None:
        self.folder = Path(folder)
        self.chosen = chosen
        self.token = token
        self.data = data

    def available(self) -> bool:
        """False for a chosen folder that is missing, or (with a token) lacks its marker. Never writes, never raises."""
        if not self.chosen:
            return True
        try:
            if not self.folder.is_dir():
                return False
        except OSError:
            return False
        return self.token is None or folder_marker_matches(self.folder, self.token)

    def require_available(self) -> None:
        """Raises BackupFolderUnavailableError when `available()` is False (a chosen folder missing or unmarked)."""
        if not self.available():
            raise unavailable_error(self.folder)

    # -- ownership ---------------------------------------------------------------

    def _owner_id(self) -> str | None:
        return self.data.folder_id(create=False) if self.data is not None else None

    def _claims_unmarked(self) -> bool:
        """Backups without a data-folder id (older versions, added by hand) belong to this data folder only in
        its default folder <data>/backups; in a folder chosen in Settings they may be anyone's. The default
        counts only as itself: not when `<data>/backups` is a link to somewhere else, nor when the folder
        holds another data folder's chosen-folder marker (without this one's token; finding G21)."""
        if self.data is None:
            return True
        try:
            default = self.data.root.resolve() / "backups"
            if os.path.islink(default) or os.path.islink(self.data.root / "backups"):
                return False
            if self.folder.resolve() != default:
                return False
            if os.path.lexists(default / FOLDER_MARKER):  # chosen: by this data folder (its token) or another
                return self.token is not None and folder_marker_matches(default, self.token)
            return True
        except (OSError, RuntimeError):
            return False

    def _live_inodes(self) -> dict[tuple[int, int], str]:
        """The live database and its side files: never listed, never pruned, whatever their names. As
        {(st_dev, st_ino): the live file's path}."""
        if self.data is None:
            return {}
        found: dict[tuple[int, int], str] = {}
        for suffix in ("", *SIDE_SUFFIXES):
            name = str(self.data.db_path) + suffix
            try:
                st = os.stat(name)
            except OSError:
                continue
            found.setdefault((st.st_dev, st.st_ino), name)
        return found

    def _restoring(self, st: os.stat_result) -> bool:
        """True when the file `st` is the safety backup a restore is making right now (or a killed one left): the
        old live file is linked into the backup folder at the swap, named in the restore journal first; that
        second name is the restore's, settled by it or by the next launch's recovery. Never raises."""
        if self.data is None:
            return False
        try:
            import json

            path = json.loads(read_small_file(self.data.journal_path)).get("safety_path")
            there = os.stat(path)
        except (OSError, ValueError, TypeError, AttributeError):
            return False
        return (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino)

    def live_links(self) -> builtins.list[tuple[str, bool]]:
        """The `*.db` files in this folder that are the live database itself under a second name (a hard link made
        by hand, e.g. a "restore" by `ln`: finding X1), but for a restore's own safety backup at its swap, as
        [(id, own)], `own` when the name is one JobMatcher made (live_link_is_own). Never listed (list() says why),
        never pruned. Costs one lstat when the live file has no other name (st_nlink 1), the usual case. Never
        raises (a folder that cannot be read: [])."""
        if self.data is None:
            return []
        try:
            live = os.lstat(self.data.db_path)
            if live.st_nlink < 2 or not stat.S_ISREG(live.st_mode):
                return []
            with os.scandir(self.folder) as it:
                entries = builtins.list(it)
        except OSError:
            return []
        found = []
        for e in entries:
            if not listable_name(e.name):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (live.st_dev, live.st_ino) and not self._restoring(st):
                found.append((e.name[:-3], self.live_link_is_own(e.name[:-3], e.path, st)))
        return sorted(found)

    def live_link_is_own(self, backup_id: str, path: str, st: os.stat_result) -> bool:
        """True when the live file's second name `backup_id` at `path` (lstat `st`) is a name JobMatcher made: a
        backup of this data folder with its manifest (is_own_backup), which `backup delete ID` may remove; any
        other name (a link the user made under a name of their own) is theirs to remove. Never raises."""
        try:
            rec = self._record(
                backup_id, path, st, self._owner_id(), self._claims_unmarked(), datetime.now(timezone.utc)
            )
        except (OSError, ValueError, JobMatcherError):
            return False
        return is_own_backup(rec)

    # -- reading (never writes, never opens a database) ----------------------

    def list(self, now: datetime | None = None, skipped: builtins.list[str] | None = None) -> builtins.list[Any]:
        """Every published backup, newest first (read-only): this data folder's own in the order of making (their
        sequence, whatever the clock said), others' (owned=False) by date, each in the places of their kind.

        `now` (UTC; default: the clock) decides which are dated in the future (`future`). Sizes in bytes.
        `skipped`: when given, a sentence is appended to it for each `*.db` file not listed because it is
        a live database (a -wal or -shm beside it, or named `jobmatcher.db`), a link, a folder, pipe or device
        (B10), or this data folder's live file itself under a second name (a hard link, X1): the user sees why a
        file in the folder is not in the list (K11), but for a restore's own safety backup at its swap.

        Raises:
            BackupFolderUnavailableError: a chosen folder that is not there (or lacks its marker).
            OSError: the folder exists but cannot be read (e.g. PermissionError).
        """
        self.require_available()
        if not self.folder.is_dir():
            return []
        now = now or datetime.now(timezone.utc)
        owner, claims, live = self._owner_id(), self._claims_unmarked(), self._live_inodes()
        # One reading of the folder serves every row: which names exist (a -wal or -shm beside a file marks a
        # live database) and the file type (from the directory entry). Then one lstat per backup, for its
        # device and inode (the directory entry's own inode number is not st_ino on every file system:
        # overlayfs, FUSE). Nothing here builds a Path per file: 1,000 backups, 2,000 files.
        with os.scandir(self.folder) as it:
            entries = builtins.list(it)
        names = {e.name for e in entries}
        records = []
        for e in entries:
            name = e.name
            # not a symlink: get() refuses those, so listing one would offer what cannot be used
            if not listable_name(name):
                if (
                    skipped is not None
                    and name.endswith(".json")
                    and name[:-5] + ".db" not in names
                    and listable_name(name[:-5] + ".db")
                    and self.pinned_orphan(e.path)
                ):
                    skipped.append(PINNED_FILE_MISSING.format(id=name[:-5]))
                    continue
                if skipped is not None and name.endswith(".json") and listable_name(name[:-5] + ".db"):
                    try:
                        odd = (
                            None
                            if e.is_file(follow_symlinks=False)
                            else other_kind(e.stat(follow_symlinks=False).st_mode)
                        )
                    except OSError:
                        odd = None
                    if odd is not None and odd != "a link":  # a link is read as the manifest it leads to
                        skipped.append(ODD_MANIFEST.format(name=name, what=odd))
                continue
            if not e.is_file(follow_symlinks=False):
                if skipped is not None and e.is_symlink():
                    skipped.append(LINK_NOT_LISTED.format(name=name))
                elif skipped is not None:
                    what = "a folder" if e.is_dir(follow_symlinks=False) else "a pipe or a device"
                    skipped.append(ODD_NOT_LISTED.format(name=name, what=what))
                continue
            why = not_listed_because(name, names.__contains__)  # a live database, never a backup
            try:
                st = e.stat(follow_symlinks=False)
                if (st.st_dev, st.st_ino) in live:
                    # the live file (or its -wal) under a second name: said, never listed as a backup (X1)
                    if skipped is not None and not self._restoring(st):
                        skipped.append(live_link_sentence(name, live[(st.st_dev, st.st_ino)]))
                    continue
                if why is not None:
                    if skipped is not None:
                        skipped.append(why)
                    continue
                # its check-time file beside it: known from the same reading of the folder (no lookup per backup)
                records.append(
                    self._record(name[:-3], e.path, st, owner, claims, now, name[:-3] + VERIFIED_SUFFIX in names)
                )
            except FileNotFoundError:  # deleted since the folder was read (a prune elsewhere): not listed
                continue
        records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        # This data folder's own backups in the order of making (newest_order: the manifests' sequence), in the
        # places its rows hold: one made while the clock was behind holds the newest data and is listed first, as
        # status's "Last backup" and the location lists say (X8, V11). Others' rows stay by date (their
        # sequences count another folder's backups).
        own = [i for i, r in enumerate(records) if r.owned]
        by_making = sorted((records[i] for i in own), key=lambda r: (newest_order(r), r.id), reverse=True)
        for i, r in zip(own, by_making, strict=True):
            records[i] = r
        return records

    def _record(
        self,
        backup_id: str,
        path: str,
        st: os.stat_result,
        owner: str | None,
        claims: bool,
        now: datetime,
        verified: bool | None = None,
    ) -> Any:
        """The row for the backup file at `path` whose lstat is `st` (its size and time date a file without
        a readable manifest). `verified`: whether a check-time file is beside it (VERIFIED_SUFFIX), when the
        caller knows; None: looked for."""
        m, state = self._manifest(f"{path[:-3]}.json")
        if m is not None and verified is not False:
            # the time of its last check, when that check only confirmed the verdict recorded (refreshed_check)
            fresh = refreshed_check(m, read_verified(verified_path(path))[0])
            if fresh is not None:
                m = {**m, "verified_at": fresh[0], "verify_seconds": fresh[1]}
        if m is not None:
            owned = (m["data_folder_id"] == owner) if m["data_folder_id"] else claims
            # A safety backup whose file changed before its check (Y7) is listed as such at once, before a check
            # records it: never as "checking" the data from before the restore
            changed: dict[str, Any] = (
                {"verified": None, "verify_message": CHANGED_AFTER_RESTORE} if changed_since_restore(m, st) else {}
            )
            return self._row(
                record_values(
                    backup_id,
                    path,
                    m,
                    manifest=state,
                    owned=owned,
                    future=m["created_at"] > now + FUTURE_SLACK,
                    # the file's size, not the manifest's claim: the list, the disk budget, pruning and health
                    # count what is on the disk (a manifest saying 1000 TB changes none of them; T3)
                    size_bytes=st.st_size,
                    **changed,
                )
            )
        # Copied in by hand, or its manifest is damaged: dated by the file system (its age is unknown,
        # so it is never the newest and never pruned); verify fills in the rest.
        when = datetime.fromtimestamp(st.st_mtime, timezone.utc)
        note = "Added to the folder by hand" if state == "missing" else "Its manifest is unreadable"
        m = self._unlisted(
            {
                "type": BackupType.manual,
                "created_at": max(when, datetime(1971, 1, 1, tzinfo=timezone.utc)),
                "size_bytes": st.st_size,
                "note": note,
                "added_by_hand": state == "missing",
            }
        )
        return self._row(
            record_values(
                backup_id, path, m, has_manifest=False, manifest=state, owned=claims, future=when > now + FUTURE_SLACK
            )
        )

    # -- how rows are read and made (BackupStore: as models) ----------------------

    def pinned_orphan(self, manifest: str) -> bool:
        """Whether the manifest file `manifest` (`ID.json`, its `ID.db` gone) records a pin: the manifest of a
        backup that was listed once (a pin is set only on one), never a name a killed backup reserved. Read-only;
        never raises (False when it cannot be read)."""
        fields, state = self._manifest(manifest)
        return state == "ok" and fields is not None and fields.get("pinned") is True

    def _manifest(self, path: str) -> tuple[dict | None, str]:
        """(the manifest's fields, "ok") for the manifest file `path`; (None, "missing" or "unreadable") when
        there is none or it is not a readable manifest. Never raises."""
        raw, state = read_manifest_bytes(path)
        if raw is None:
            return None, state
        try:
            return manifest_values(raw), "ok"
        except (ValueError, OverflowError, RecursionError):  # pydantic_core.ValidationError is a ValueError
            return None, "unreadable"

    def _unlisted(self, fields: dict) -> dict:
        """The manifest's fields for a file without a readable one, from `fields` (valid by construction)."""
        return manifest_values_of(fields)

    def _row(self, values: dict) -> Any:
        """The row for record_values' `values`."""
        return ListedBackup(values)


# JobMatcher's manifests are under 2 KB; anything far larger is not one of them, and reading it whole
# (a multi-gigabyte file dropped into the folder) would take the whole list down with it.
MAX_MANIFEST_BYTES = 1 << 20

READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)


def read_all(fd: int, size: int, path: str) -> bytes:
    """The bytes of the regular file open at `fd` whose fstat said `size` bytes; OSError past MAX_MANIFEST_BYTES.

    One read call when the file is as fstat saw it: asked for one byte more than its size, a regular file
    answering with exactly `size` bytes has ended (a read of a regular file returns less than asked only at
    its end). Otherwise (it grew, or a file system answered short) it reads on until a read returns nothing."""
    want = max(size + 1, 4096)
    chunk = os.read(fd, want)
    if len(chunk) == size and size < want:
        return chunk
    chunks = [chunk]
    total = len(chunk)
    while chunk:
        if total > MAX_MANIFEST_BYTES:
            raise OSError(f"{path} is not a manifest")
        chunk = os.read(fd, want)
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_manifest_bytes(name: str) -> tuple[bytes | None, str]:
    """(the bytes, "ok") of the manifest file `name`; (None, "missing") when there is none, (None,
    "unreadable") for anything that is not a manifest-sized regular file or cannot be read. Opened
    non-blocking: a FIFO of that name is refused by its fstat, never waited on. Never raises.
    (manifest.load_manifest_file reads the same way, with its cache of manifests already read.)"""
    try:
        fd = os.open(name, READ_FLAGS)
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return None, "unreadable"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
            return None, "unreadable"
        return read_all(fd, st.st_size, name), "ok"
    except OSError:
        return None, "unreadable"
    finally:
        os.close(fd)


# -- `backup list` without models ---------------------------------------------------------


def read_settings(path: Path) -> dict[str, Any]:
    """The settings in the settings file `path` as {field: value} (core_schemas.settings_values; every field,
    defaults for a missing file), as settings.load_settings reads them.

    Raises as load_settings raises, with its words: SettingsError for a damaged file (anything the core schema
    refuses, or that is not JSON, is read again by load_settings, which says what is wrong, as always); an
    OSError reading it propagates."""
    from .core_schemas import settings_values

    try:
        raw = read_small_file(path)
    except FileNotFoundError:
        return settings_values({})
    try:
        import json

        return settings_values(json.loads(raw))
    except Exception:  # noqa: BLE001 - the model says what is wrong (or, never, accepts it: its values then)
        from .settings import load_settings

        return load_settings(path).model_dump()


def list_backups(
    data_dir: str | os.PathLike | None, skipped: builtins.list[str] | None = None
) -> tuple[builtins.list[ListedBackup], builtins.list[dict]]:
    """(Engine(data_dir, read_only=True).list_backups(skipped), its previous_backups()) read without pydantic's
    models: the rows as ListedBackup (the same values, in the same order), the previous folders as
    [{"folder", "available", "backups": [ListedBackup]}]. Read-only: creates and changes nothing.

    Raises as those do: SettingsError (damaged settings, a refused folder), BackupFolderUnavailableError (a
    chosen folder not there), ReadOnlyError or another JobMatcherError for a data folder that cannot be opened,
    OSError for a folder that cannot be read."""
    from .datadir import open_data_folder

    data = open_data_folder(data_dir, read_only=True)  # as Engine.__init__ opens it, and says a refusal
    s = read_settings(data.settings_path)
    chosen = s["backup_dir"]
    folder = BackupFolder(data.backup_dir_named(chosen), chosen=bool(chosen), token=s["backup_dir_token"], data=data)
    items = folder.list(skipped=skipped)
    # less the current folder under another path (U8), as Engine.previous_folders
    names = [name for name in s["previous_backup_dirs"] if not same_file(name, folder.folder)]
    return items, previous_backups(names, BackupFolder, data, skipped)


def stopped_checks(data_dir: str | os.PathLike | None, items: builtins.list) -> set[str]:
    """The ids of the backups among `items` (list_backups') still "checking" whose check process is gone (V7: a
    killed check), told from one that runs by its check lock, read-only (checklock.stopped): nothing taken,
    written or started. Empty, with nothing more imported, when none is listed "checking". Never raises."""
    if not any(r.verified is None and r.verify_message == CHECKING for r in items):
        return set()
    from . import checklock
    from .datadir import open_data_folder

    try:
        return checklock.stopped(items, open_data_folder(data_dir, read_only=True))
    except Exception:  # noqa: BLE001 - the list says "checking" rather than fail
        return set()


def restore_held_checks(data_dir: str | os.PathLike | None, items: builtins.list) -> tuple[set[str], bool]:
    """checklock.held_by_restore of `items` (list_backups'): the ids of the backups still "checking" whose check
    waits for the restore that made them (its journal names them), and whether that restore's process is gone (it
    was killed: the next launch finishes it, then checks them). Read-only. Never raises ((set(), False))."""
    if not any(r.verified is None and r.verify_message == CHECKING for r in items):
        return set(), False
    from . import checklock
    from .datadir import open_data_folder

    try:
        return checklock.held_by_restore(items, open_data_folder(data_dir, read_only=True))
    except Exception:  # noqa: BLE001 - the list says "checking" rather than fail
        return set(), False


def previous_backups(
    folders: Iterable[str], kind: type[BackupFolder], data: DataDir, skipped: builtins.list[str] | None = None
) -> builtins.list[dict]:
    """The backups of the data folder `data` left in each earlier backup folder of `folders` (paths, in order), as
    [{"folder", "available", "backups": [row]}]: Engine.previous_backups (`kind` BackupStore, rows BackupRecord)
    and `backup list` (`kind` BackupFolder, rows ListedBackup). Only this data folder's own backups with a manifest:
    another data folder sharing that folder keeps its backups (H17). A folder that cannot be listed is reported
    with available=False, never raised. Read-only. `skipped`: when given, gets a sentence for each
    file there that is the live database under a second name (X1; by its full path), as list() says it for the
    current folder."""
    out = []
    for name in folders:
        try:
            folder = kind(Path(name), chosen=True, data=data)
            rows = [r for r in folder.list() if r.has_manifest and r.owned]
            if skipped is not None:
                for backup_id, _own in folder.live_links():
                    skipped.append(live_link_sentence(Path(name) / f"{backup_id}.db", data.db_path))
            out.append({"folder": name, "available": True, "backups": rows})
        except JobMatcherError:
            out.append({"folder": name, "available": False, "backups": []})
    return out
