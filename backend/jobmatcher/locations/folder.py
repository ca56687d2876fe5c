"""A backup location that is a folder: a USB drive, a network share, a folder a cloud client syncs.

Publishing follows the same protocol as local backups: write a hidden temp file
in the destination folder, fsync it, rename it into place, fsync the folder,
then read the file back *by its path* (from the disk, not the page cache) and
compare its SHA-256. Reading back by path also catches a drive that vanished
under us: a file still open on a detached mount looks fine through its
descriptor, but its path then leads to the empty mount point.

A streamed copy (an encrypted one, coming from age's child process) on a local
disk is read back while it is written instead: every 4 MB is written to the disk with O_DIRECT
(where the file system takes it; else the disk's writeback of those bytes is started without
waiting), and another thread, through its own descriptor opened by the temp file's path, waits
until they are on the disk, drops those pages from the page cache, reads them again from the disk
(O_DIRECT too) and compares them byte for byte with what was written (the rest after the one final
fsync). It must all be identical
before the rename, and after it the published name must lead to that same file
(device, inode, size): a vanished drive fails the rename or that check. On a
network or FUSE file system it is read back after the rename, as a plain copy.

A folder location counts as present only while its marker file is there.
An unplugged drive leaves an empty folder (the mount point), and a folder
recreated empty by anyone must never receive copies as if it were the drive.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import re
import shlex
import stat
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, List, TypeVar

from ..errors import InvalidBackupError, JobMatcherError, LocationCopyFailedError, LocationUnavailableError
from ..folders import holds_location_copies
from ..fsutil import (
    NotOwnFileError,
    copy_range,
    fsync_dir,
    human_size,
    make_dirs,
    process_gone,
    read_failed,
    refuse_replacing,
    remove_quietly,
)
from .client import (
    MARKER_KEY,
    ByteProgress,
    HashingWriter,
    LocationClient,
    ObjectInfo,
    Producer,
    SourceUnreadable,
    Stored,
    check_key,
    copy_not_a_file,
    copy_too_large,
    small_limit,
)
from .deadline import NotAnswering, within
from .pipeline import ReadBehind, Window

T = TypeVar("T")

_CHUNK = 4 * 1024 * 1024
TMP_PREFIX = ".tmp-"
# The exact shape of the temp names written here (_temp_name): cleanup deletes only these, never another
# `.tmp-…` someone else put in the folder (JobMatcher only deletes what it made).
TMP_NAME = re.compile(r"\.tmp-([0-9]+)-[0-9a-f]{12}\.part")
_STALE_TMP_SECONDS = 3600
# A copy is opened as manifests are (manifest.READ_FLAGS): a symbolic link is not followed, a FIFO not waited on.
_COPY_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
# A streamed copy's writeback to the disk is started (not waited for) every this many bytes, and read back
# behind the writer in batches of this size (kept until then for the comparison: at most about three
# times this in memory).
_WINDOW = 4 * 1024 * 1024
# The drive went away under us: the path is gone, the device is gone, the handle is stale.
_GONE = (errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ESTALE, errno.EIO, errno.ENOTDIR)

# A failed write whose cause we can name: ((message, hint) while the folder is being added as a location,
# (message, hint) for a copy to it), by errno. {root} the folder, {free} its free space, {why} the error's words.
_FULL = (
    (
        "The folder {root} is full ({free} free): it was not added as a backup location.",
        "Free up space there, or choose a folder on another drive.",
    ),
    (
        "The backup location {root} is full ({free} free); the copy was not made.",
        "Free up space there (or lower how long that location keeps copies); the copy is retried later.",
    ),
)
_REFUSED = (
    (
        "The folder {root} refuses writes ({why}): it was not added as a backup location.",
        "Make the folder writable for your user (or mount the drive read-write), then add it again.",
    ),
    (
        "The backup location {root} refuses writes ({why}); the copy was not made.",
        "Make the folder writable for your user (or mount the drive read-write); the copy is retried later.",
    ),
)
_WRITE_REFUSALS = {
    errno.ENOSPC: _FULL,
    getattr(errno, "EDQUOT", errno.ENOSPC): _FULL,  # a disk quota (not every platform names it)
    errno.EROFS: _REFUSED,
    errno.EACCES: _REFUSED,
    errno.EPERM: _REFUSED,
}


class _MarkerUnreadable(Exception):
    """A location's marker is there but cannot be read; `why` in the user's words, `not_a_file` when a link, a
    pipe, a device or a folder is at its name."""

    def __init__(self, why: str, not_a_file: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.not_a_file = not_a_file


class FolderLocation(LocationClient):
    """Copies kept in a folder at `root` (which must exist: it is never created)."""

    kind = "folder"

    def __init__(self, root: str | os.PathLike, marker_id: str = "", name: str = "") -> None:
        self.root = Path(root)
        # The id its marker must hold (LocationConfig.marker_id): another drive mounted at the same place, with
        # another JobMatcher location's marker, is then not taken for this one (L16). "": any marker.
        self.marker_id = marker_id
        # The configured location's name, for the commands its hints give ("": not known, or not configured).
        self.name = name

    def describe(self) -> str:
        """The folder's path. Never raises."""
        return str(self.root)

    # -- availability ------------------------------------------------------------

    def _unavailable(self, why: str) -> LocationUnavailableError:
        return LocationUnavailableError(
            f"The backup location {self.root} is not available: {why}.",
            (
                "If it is on a drive, plug the drive in (and mount it), then try again."
                if self.reading
                else "If it is on a drive, plug the drive in (and mount it); copies are caught up when it is back."
            )
            if self.configured and not self.adding
            else "Check the folder's path; if it is on a drive, plug the drive in (and mount it), then try again.",
            reason="not-there",
            path=str(self.root),
        )

    def bounded(self, fn: Callable[[], T]) -> T:
        """fn()'s result (or what it raises), given deadline.folder_seconds() to end: a share whose server stopped
        answering blocks every look at its files, with no limit (X16). Raises LocationUnavailableError (reason
        "not-answering") when fn has not ended by then, or at once while an earlier look here is still stuck."""
        try:
            return within(str(self.root), fn)
        except NotAnswering as e:
            raise LocationUnavailableError(
                f"The backup location {self.root} is not answering (the share or drive does not respond within "
                f"{e.seconds:g} s). Nothing is written there.",
                (
                    "Check that the share's server (or the drive) is on and reachable, then try again."
                    if self.reading
                    else "Check that the share's server (or the drive) is on and reachable; copies are caught up "
                    "when it answers again."
                )
                if self.configured and not self.adding
                else "Check that the share's server (or the drive) is on and reachable, then try again.",
                reason="not-answering",
                path=str(self.root),
            ) from None

    def check(self) -> None:
        """As LocationClient.check: LocationUnavailableError when the folder or its marker is missing, when the
        marker cannot be read (reason "marker-unreadable": JobMatcher cannot tell whose drive it is), when it
        is another location's (reason "other-marker"), or when the folder does not answer within the deadline
        (reason "not-answering": a hung network share, see bounded)."""
        self.bounded(self._check)

    def _check(self) -> None:
        if not self.root.is_dir():
            # a file or a device at that path is there: not "not there" (V4), but not a folder either
            there = os.path.lexists(self.root)
            raise self._unavailable("what is at that path is not a folder" if there else "the folder is not there")
        try:
            theirs = self._marker_id()
        except FileNotFoundError:
            if holds_location_copies(
                self.root
            ):  # copies there, the marker lost: not an empty mount point (FINDINGS20 1)
                raise self._marker_missing() from None
            raise LocationUnavailableError(
                f"The backup location {self.root} is not available: the folder is there but JobMatcher's marker "
                f"file ({MARKER_KEY}) is missing, so it may be the empty folder an unplugged drive leaves behind. "
                "Nothing is written there.",
                "Plug in (mount) the drive that holds your copies. If you emptied that folder on purpose, "
                "remove the location and add it again.",
                reason="no-marker",
                path=str(self.root),
            ) from None
        except _MarkerUnreadable as e:
            # A folder only looked into for copies (a disaster recovery) is read from, each copy checked by its
            # checksum: a damaged marker there does not keep them from being restored. A configured location's
            # marker is what tells its drive from another mounted at the same place (L16): not "any" (X5).
            if self.configured or e.not_a_file:
                raise self._marker_unreadable(e) from None
            return
        if self.marker_id and theirs and theirs != self.marker_id:
            raise LocationUnavailableError(
                f"The backup location {self.root} is not available: the folder holds another JobMatcher location's "
                f"marker ({MARKER_KEY}), not this location's, so another drive is probably mounted there. Nothing "
                "is written there.",
                "Plug in (mount) the drive that holds your copies. If this is the drive you want the copies on now, "
                "remove the location and add it again.",
                reason="other-marker",
                path=str(self.root),
            )

    def _marker_missing(self) -> LocationUnavailableError:
        """The refusal (returned, for the caller to raise) of a folder that holds copies (their manifests say so:
        folders.holds_location_copies) but not the marker (copied without its hidden files, or by a sync tool that
        skips them): code "location-marker-missing", reason "marker-missing". Nothing is written or deleted there
        (the marker is what proves the folder is this location's); the hint is the one step that writes it again
        after checking the copies are this data folder's (Locations.set_path at the same path). A folder only looked
        into for copies (a disaster recovery) is still read (remote.check_source). Never raises."""
        name = shlex.quote(self.name) if self.name else "NAME"
        where = shlex.quote(str(self.root))
        return LocationUnavailableError(
            f"The backup location {self.root} holds JobMatcher copies, but JobMatcher's marker file ({MARKER_KEY}) "
            "is missing there (left out when the folder was copied without its hidden files, or by a sync tool "
            "that skips them), so JobMatcher cannot be sure it is this location's folder. Nothing is written or "
            "deleted there; the copies stay and can still be restored.",
            f"If this is the folder of your copies, run `jobmatcher location set {name} --path {where}`: it checks "
            "that the copies there are this data folder's and writes the marker again, and copies are then caught "
            "up. If it is not, plug in (mount) the drive that holds your copies."
            if self.configured
            else f"To restore from it, list its copies with `jobmatcher backup list --from-folder {where}`.",
            "If this is the folder of your copies, press Change folder… in its row and give the same folder: "
            "JobMatcher checks that the copies there are this data folder's and writes the marker again. If it is "
            "not, plug in (mount) the drive that holds your copies."
            if self.configured
            else None,
            code="location-marker-missing",
            reason="marker-missing",
            path=str(self.root),
        )

    def _marker_id(self) -> str:
        """The id in this folder's marker file: "" for a readable marker without one (written before markers had
        ids: any marker is this location's). Raises FileNotFoundError when there is none, _MarkerUnreadable when
        what is there cannot be read: not a regular file (a link is not followed, a pipe not waited on), larger
        than any marker, refused by the file system, or not a marker's JSON."""
        try:
            st = os.lstat(self.root / MARKER_KEY)
        except FileNotFoundError:
            raise
        except OSError as e:
            raise _MarkerUnreadable(e.strerror or str(e)) from None
        if not stat.S_ISREG(st.st_mode):
            raise _MarkerUnreadable("a link, a pipe, a device or a folder", not_a_file=True)
        try:
            raw = json.loads(self.get_bytes(MARKER_KEY))  # bounded: a huge file there is not read (T13)
        except FileNotFoundError:
            raise
        except LocationCopyFailedError as e:  # replaced since the lstat, or too large
            not_a_file = getattr(e, "reason", "") == "not-a-file"
            raise _MarkerUnreadable(
                "a link, a pipe, a device or a folder" if not_a_file else "it is too large", not_a_file=not_a_file
            ) from None
        except OSError as e:
            raise _MarkerUnreadable(e.strerror or str(e)) from None
        except (ValueError, RecursionError, JobMatcherError):
            raise _MarkerUnreadable("it is damaged") from None
        mid = raw.get("id", "") if isinstance(raw, dict) else None
        if not isinstance(mid, str):
            raise _MarkerUnreadable("it is damaged")
        # every marker JobMatcher ever wrote says "app": "JobMatcher"; `{}` or `{"format": 1}` (damaged, or made
        # by hand) is not taken for "any marker" of an older version, or another drive there is written to (Y9a)
        if raw.get("app") != "JobMatcher":
            raise _MarkerUnreadable("it is not a marker JobMatcher wrote")
        return mid

    def _marker_unreadable(self, e: _MarkerUnreadable) -> LocationUnavailableError:
        """The refusal (returned, for the caller to raise) of a folder whose marker cannot be read. Never raises."""
        what = (
            f"what is at its marker's name ({MARKER_KEY}) is not a file JobMatcher wrote ({e.why})"
            if e.not_a_file
            else f"its marker ({MARKER_KEY}) cannot be read ({e.why})"
        )
        delete = f"delete {MARKER_KEY} there (the copies stay)"
        return LocationUnavailableError(
            f"The backup location {self.root} is not available: {what}, so JobMatcher cannot tell whether it is "
            "the drive your copies are on. Nothing is written there.",
            f"Plug in (mount) the drive that holds your copies. If this is the drive you want the copies on, "
            f"{delete}, then remove the location and add it again."
            if self.configured and not self.adding
            else f"If this folder is meant for your copies, {delete}, then try again.",
            reason="marker-unreadable",
            path=str(self.root),
        )

    def read_marker_id(self) -> str:
        """The id in this folder's marker file; "" when it has none (written before markers had ids) or cannot
        be read (check and initialize refuse such a marker first). Never raises."""
        try:
            return self._marker_id()
        except (OSError, _MarkerUnreadable):
            return ""

    def initialize(self) -> None:
        """As LocationClient.initialize (the folder must exist: it is never created). A marker already there is
        kept (another data folder or machine uses the place too); one that cannot be read is refused
        (LocationUnavailableError, reason "marker-unreadable"), never replaced nor taken for any marker."""
        if not self.root.is_absolute():
            raise LocationUnavailableError(
                f"A backup location must be a full path, not {str(self.root)!r}.",
                "Choose the folder with the folder picker or type its full path.",
            )
        if not self.root.is_dir():
            raise self._unavailable("the folder does not exist (create it first)")
        try:
            self._marker_id()
            return  # already a location (another data folder or machine uses it too)
        except FileNotFoundError:
            pass
        except _MarkerUnreadable as e:
            raise self._marker_unreadable(e) from None
        body = json.dumps(
            {
                "format": 1,
                "app": "JobMatcher",
                "created_at": datetime.now(timezone.utc).isoformat(),
                "id": uuid.uuid4().hex,  # which location's folder this is (LocationConfig.marker_id)
            }
        ).encode()
        self.put_bytes(MARKER_KEY, body)

    # -- writing -------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file for `key` under the location's folder; LocationCopyFailedError when a folder between
        the two is a symbolic link. The location's own folder may be a link (the user chose it), but below
        it JobMatcher makes only real folders: a link there was put by someone else with access to the
        location (a shared or synced folder) to redirect copies, and deletions by retention, into a
        folder of their choosing (finding G20). Nothing is written, read or deleted through it."""
        parts = check_key(key).split("/")
        self._no_link_below_root(parts[:-1])
        return self.root.joinpath(*parts)

    def _no_link_below_root(self, folders: list[str]) -> None:
        here = self.root
        for name in folders:
            here = here / name
            try:
                is_link = stat.S_ISLNK(os.lstat(here).st_mode)
            except FileNotFoundError:
                return  # made by the copy, as a real folder
            except OSError:
                return  # unreadable: the operation itself reports why
            if is_link:
                raise LocationCopyFailedError(
                    f"The folder {here} at the backup location is a symbolic link: JobMatcher never writes, "
                    "reads or deletes copies through a link there (it may have been put there to redirect them).",
                    "Remove that link at the location (the folder it points to is left as it is); the copies "
                    "are made again there.",
                )

    def _no_room(self, key: str, needed: int) -> LocationCopyFailedError:
        """The refusal of a copy of about `needed` bytes (the backup's size: an encrypted copy is a little larger)
        that does not fit the location's drive, said by why (Z5): larger than the whole drive (no clean-up can
        make room: a larger drive), larger than the free space and this data folder's copies there together
        (other files fill it: keeping fewer copies cannot help), else full now (free up space, keep fewer).
        "N needed, M free" as a restore says it. Never raises."""
        free, total = _free(self.root), _capacity(self.root)
        sizes = f"{human_size(needed)} needed, {human_size(free)} free"
        if total and needed > total:
            return LocationCopyFailedError(
                f"The backup location {self.root} is too small for this copy: {sizes} ({human_size(total)} in "
                "all on that drive); the copy was not made.",
                "Choose a larger drive: add it as a backup location (then remove this one). Freeing space or "
                "keeping fewer copies there cannot make room for it.",
                reason="location-too-small",
            )
        try:  # the most JobMatcher could ever free there: every copy of this data folder (key: <ns>/<copy>)
            ns = key.rsplit("/", 1)[0] + "/"
            ours = sum(o.size for o in self.list(ns) if o.key[len(ns) :].startswith("backup_")) if "/" in key else 0
        except OSError:
            ours = 0
        if needed > free + ours:
            taken = (
                f"this data folder's copies there take only {human_size(ours)}"
                if ours
                else "none of it holds this data folder's copies"
            )
            return LocationCopyFailedError(
                f"The backup location {self.root} is full: {sizes} ({human_size(total)} in all), and {taken}; "
                "the copy was not made.",
                "Other files fill that drive: free up space there (keeping fewer copies cannot make room enough), "
                "or choose a larger drive; the copy is retried later.",
                reason="location-full",
            )
        return LocationCopyFailedError(
            f"The backup location {self.root} is full: {sizes}; the copy was not made.",
            "Free up space there (or lower how long that location keeps copies); the copy is retried later.",
            reason="location-full",
        )

    def _folder_at(self, key: str) -> bool:
        """Whether a folder (not a link to one) is at `key`'s name in this location. Never raises."""
        try:
            return stat.S_ISDIR(os.lstat(self.root.joinpath(*key.split("/"))).st_mode)
        except (OSError, ValueError):
            return False

    def _write_error(self, e: OSError, key: str, needed: int = 0) -> JobMatcherError:
        """What a failed write of `key` (`needed`: the size it was to take, when known) says. Never raises."""
        refusal = _WRITE_REFUSALS.get(e.errno or 0)
        if isinstance(e, NotOwnFileError) and e.kind:  # refuse_replacing: what is there is the user's (D14)
            noun = e.kind.split(" ", 1)[-1]  # "a pipe" -> "pipe"
            return LocationCopyFailedError(
                f"{e.kind[0].upper()}{e.kind[1:]} is at the name of {key} at the backup location {self.root}, so "
                "that copy cannot be made there.",
                f"Move or remove that {noun} there (JobMatcher does not delete or replace what it did not make); "
                "the copy is made at the next sync.",
                reason="folder-at-copy-name",  # this one copy, not the location: the others are still made
            )
        if e.errno == errno.ENOSPC and needed and not self.adding:  # (a quota's room is not the drive's)
            return self._no_room(key, needed)  # with the sizes, and whether any clean-up can help (Z5)
        if refusal is not None:
            # adding the folder: nothing added, so no copy to retry and no retention to lower (L15)
            message, hint = refusal[0] if self.adding else refusal[1]
            free = human_size(_free(self.root)) if refusal is _FULL else ""
            return LocationCopyFailedError(message.format(root=self.root, free=free, why=e.strerror), hint)
        if e.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST) and self._folder_at(key):
            # C5: renaming the copy over a folder of that name fails for good, whatever the drive: said, for this
            # one copy (the others are still made), never "retried later" as if the drive were at fault
            return LocationCopyFailedError(
                f"A folder is at the name of {key} at the backup location {self.root}, so that copy cannot be "
                "made there.",
                "Move or remove that folder there (JobMatcher does not delete what it did not make); the copy is "
                "made at the next sync.",
                reason="folder-at-copy-name",
            )
        if e.errno in _GONE or not self.root.is_dir() or not (self.root / MARKER_KEY).is_file():
            return self._unavailable(f"it went away during the copy ({e.strerror or e})")
        return LocationCopyFailedError(
            f"Could not copy to the backup location {self.root}: {e.strerror or e}.",
            "Check the drive; the copy is retried later.",
        )

    def put_stream(
        self, key: str, produce: Producer, progress: ByteProgress | None = None, size_hint: int = 0
    ) -> Stored:
        """What `produce` writes (an encrypted copy: big chunks from age's child process, see encproc.py) is
        written in the caller's thread (an encrypted copy: the child's shared windows written as they are with
        O_DIRECT, _WritebackWriter.fill_from_windows; or its pipe read into reused window buffers, each full one
        written with O_DIRECT where the file system takes it: _WritebackWriter.fill_from).
        Every _WINDOW bytes the disk's writeback of that range is started
        without waiting (sync_file_range), and a thread (ReadBehind) waits for that range to reach the disk,
        drops its pages from the page cache, reads it back, compares it byte for byte with what was written
        and hashes it (SHA-256, the copy's checksum in its manifest: of the bytes the disk gave back, which
        are the bytes written). So the disk writes, the read-back and the hashing overlap the encryption,
        the caller's thread is free to take the child's next bytes (it hashed them too before: it was the
        busiest of the three), and there is one fsync at the end instead of one per block. The copy must
        read back identical before the rename;
        after it the published name must lead to that same file (device, inode, size). Where that cannot
        be trusted to read the disk (_reads_back_behind: not Linux, or a network or FUSE file system) the
        caller's thread hashes what it writes and the copy is read back by its path after the rename, as
        put_file's copies are. Raises as LocationClient.put_stream."""

        def write(raw: BinaryIO, tmp: Path) -> tuple[Stored, bool]:
            behind = ReadBehind(tmp, settle=_wait_written) if _reads_back_behind(raw.fileno()) else None
            direct = _open_direct(tmp) if behind is not None else -1
            try:
                w = _WritebackWriter(raw, (lambda n: progress(n, size_hint)) if progress else None, behind, direct)
                if behind is not None:
                    behind.release = w.release
                w.produce_with(produce)
                raw.flush()
                os.fsync(raw.fileno())
                if behind is None:
                    return Stored(w.size, w.sha256.hexdigest()), False
                behind.check(w.take_unchecked())
                read, identical = behind.finish()
                if not identical or read.size != w.size:
                    raise self._not_identical(self._path(key), read.size, w.size)
                return read, True  # its SHA-256: of what was read back, identical to what was written
            finally:
                if direct >= 0:
                    os.close(direct)
                if behind is not None:
                    behind.close()

        return self._publish(key, write, size_hint)

    def _publish(self, key: str, write: Callable[[BinaryIO, Path], tuple[Stored, bool]], needed: int = 0) -> Stored:
        """Temp file, `write` into it, fsync, rename, fsync the folder, and check what was published. `needed`:
        about the size it takes (0: not known); a copy larger than the whole drive is refused before anything
        is written (it can never fit: Z5), and a full drive is said with the sizes.

        `write(raw, tmp)` returns what it wrote (size and SHA-256) and whether it already read the temp file
        back from the disk identical (put_stream): then the published name must lead to that same file
        (same device, inode and size: _same_file). Otherwise the published file is read back by its path
        after the rename and its SHA-256 compared (_read_back).
        """
        self.check()
        if needed and needed > _capacity(self.root) > 0:
            raise self._no_room(key, needed)
        final = self._path(key)
        tmp = final.parent / _temp_name()
        try:
            make_dirs(final.parent, 0o700)  # new folders (JobMatcher/<id>/) must survive a power cut with the copy
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            with os.fdopen(fd, "wb") as raw:
                stored, checked = write(raw, tmp)
                raw.flush()
                os.fsync(raw.fileno())
                written = os.fstat(raw.fileno())
            refuse_replacing(final)  # a pipe, device, folder or link put there is never replaced (D14's kind)
            os.replace(tmp, final)
            fsync_dir(final.parent)
            if checked:
                self._same_file(final, written)
            else:
                self._read_back(final, stored)
            return stored
        except OSError as e:
            remove_quietly_safe(tmp)
            raise self._write_error(e, key, needed) from None
        except BaseException:
            remove_quietly_safe(tmp)
            raise

    def _same_file(self, final: Path, written: os.stat_result) -> None:
        """The published name leads to the file that was written and read back (a drive that vanished
        under us leaves the name leading nowhere: FileNotFoundError, reported as unavailable)."""
        st = os.stat(final)
        if (st.st_dev, st.st_ino, st.st_size) != (written.st_dev, written.st_ino, written.st_size):
            raise LocationCopyFailedError(
                f"The copy at {final} was replaced by another file right after it was written.",
                "Check that nothing else writes into JobMatcher's folder there; the copy is retried later.",
            )

    def _not_identical(self, where: Path, size: int, expected: int) -> LocationCopyFailedError:
        return LocationCopyFailedError(
            f"The copy at {where} did not read back identical ({human_size(size)} of "
            f"{human_size(expected)}); it was removed.",
            "The drive may be failing. The copy is retried later; consider another drive.",
        )

    def _read_back(self, final: Path, stored: Stored) -> None:
        """Re-read the published file by its path, from the disk, and compare it with what was written."""
        import hashlib

        h = hashlib.sha256()
        size = 0
        fd = os.open(final, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            if hasattr(os, "posix_fadvise"):  # drop our cached pages: compare what the disk holds
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while chunk := os.read(fd, _CHUNK):
                h.update(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        if size != stored.size or h.hexdigest() != stored.sha256:
            remove_quietly_safe(final)
            raise self._not_identical(final, size, stored.size)

    def put_file(self, key: str, src: Path, sha256: str, progress: ByteProgress | None = None) -> Stored:
        """The kernel copies (copy_file_range, no data through Python); the read-back compares with `sha256`,
        the backup's own checksum, so a source changed since it was checked is not kept either.
        Raises as LocationClient.put_file."""

        def write(raw: BinaryIO, tmp: Path) -> tuple[Stored, bool]:
            try:
                fd = os.open(src, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                try:
                    total = os.fstat(fd).st_size
                    n = copy_range(
                        fd, 0, raw, total, (lambda d: progress(d, total)) if progress else None, src_name=src
                    )
                finally:
                    os.close(fd)
            except OSError as e:
                if read_failed(e, src):  # the backup's drive, not this location (X7)
                    raise SourceUnreadable(e) from None
                raise
            return Stored(n, sha256), False

        try:
            needed = os.stat(src).st_size
        except OSError:
            needed = 0  # the copy itself says why it cannot be read
        return self._publish(key, write, needed)

    def put_bytes(self, key: str, data: bytes) -> None:
        """As LocationClient.put_bytes."""
        self.put_stream(key, lambda w: w.write(data)) if key != MARKER_KEY else self._put_marker(data)

    def _put_marker(self, data: bytes) -> None:
        """The marker is written before the location counts as present, so put_stream's check cannot apply."""
        final = self._path(MARKER_KEY)
        tmp = self.root / _temp_name()
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            refuse_replacing(final)
            os.replace(tmp, final)
            fsync_dir(self.root)
        except OSError as e:
            remove_quietly_safe(tmp)
            raise self._write_error(e, MARKER_KEY) from None

    # -- reading -------------------------------------------------------------------

    def get_file(self, key: str, dest: Path, progress: ByteProgress | None = None, limit: int | None = None) -> int:
        """As LocationClient.get_file: FileNotFoundError when it is not there; TamperedCopyError when it is not
        a regular file (opened without following a link, without waiting on a pipe, as manifests are) or has
        more than `limit` bytes (read no further); InvalidBackupError (reason "read-error") when the copy
        cannot be read to the end (a failing drive: the location's disk named, not the data folder's); another
        OSError (writing `dest`) as the file system says."""
        src = self._path(key)
        try:
            fd = os.open(src, _COPY_READ_FLAGS)
        except OSError as e:
            if e.errno == errno.ELOOP:  # O_NOFOLLOW: a symbolic link at the copy's name
                raise copy_not_a_file(src.name, str(self.root)) from None
            raise
        fi = os.fdopen(fd, "rb")  # owns the descriptor from here: closed on every way out
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise copy_not_a_file(src.name, str(self.root))
            if limit is not None and st.st_size > limit:
                raise copy_too_large(src.name, str(self.root), limit)
        except BaseException:
            fi.close()
            raise
        total = st.st_size
        done = 0
        with fi, open(dest, "xb") as fo:
            while True:
                if limit is not None and done > limit:  # grown while read: never read on to its end
                    raise copy_too_large(src.name, str(self.root), limit)
                try:
                    chunk = fi.read(_CHUNK if limit is None else min(_CHUNK, limit + 1 - done))
                except OSError as e:  # the location's disk, not the data folder's (L11)
                    raise InvalidBackupError(
                        f"The copy {src.name} at {self.root} could not be read to the end "
                        f"({_read_error_words(e)}). Nothing was changed.",
                        "Choose another copy, or copy the location's folder to another disk and restore from there.",
                        "Choose another copy; the drive that holds this one may be failing.",
                        reason="read-error",
                        path=str(src),
                    ) from None
                if not chunk:
                    break
                fo.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            fo.flush()
            os.fsync(fo.fileno())
        return done

    def get_bytes(self, key: str, limit: int | None = None) -> bytes:
        """As LocationClient.get_bytes (FileNotFoundError or another OSError as the file system says);
        LocationCopyFailedError for what is not a small regular file (reason "not-a-file": a symbolic link,
        never followed, a pipe, a device, a folder; reason "too-large").

        Only a regular file of at most `limit` bytes is read (manifests, the identity, writer.json, the
        marker): a FIFO put there would block every sync for ever, a device would never end (H8)."""
        limit = small_limit(key) if limit is None else limit
        path = self._path(key)
        try:  # opened as copies are: a symbolic link there is not followed (V2), a FIFO not waited on
            fd = os.open(path, _COPY_READ_FLAGS)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise LocationCopyFailedError(
                f"{path} at the backup location is a symbolic link, not a file JobMatcher wrote there: "
                "it is not followed.",
                "Remove the link from the location; the copies are made again there.",
                reason="not-a-file",
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise LocationCopyFailedError(
                    f"{path} at the backup location is not a file JobMatcher wrote there (a pipe, a device or a "
                    "folder): it is not read.",
                    "Remove it from the location; the copies are made again there.",
                    reason="not-a-file",
                )
            if st.st_size > limit:
                raise LocationCopyFailedError(
                    f"{path} at the backup location is larger than any file JobMatcher writes there: it is not read.",
                    "Remove it from the location; the copies are made again there.",
                    reason="too-large",
                )
            chunks, total = [], 0
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:  # grown since the fstat: not read on to its end
                    raise LocationCopyFailedError(
                        f"{path} at the backup location is larger than any file JobMatcher writes there: "
                        "it is not read.",
                        "Remove it from the location; the copies are made again there.",
                        reason="too-large",
                    )
            return b"".join(chunks)
        finally:
            os.close(fd)

    def list(self, prefix: str) -> list[ObjectInfo]:
        """As LocationClient.list; never raises for a folder that is not there (empty list)."""
        out: List[ObjectInfo] = []
        base = self.root
        if not base.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = os.path.relpath(dirpath, base)
            for name in filenames:
                if name.startswith("."):
                    continue  # temp files of copies under way (or killed), the marker
                key = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
                if key.startswith(prefix):
                    try:
                        out.append(ObjectInfo(key, os.lstat(os.path.join(dirpath, name)).st_size))
                    except FileNotFoundError:
                        pass
        return sorted(out, key=lambda o: o.key)

    def folders_among(self, prefix: str) -> set[str]:
        """As LocationClient.folders_among: the folders (not hidden, not links) directly in each data folder's
        folder of copies (`JobMatcher/<id>/`), whose keys start with `prefix`. Never raises (what cannot be
        read is left out)."""
        out: set[str] = set()
        top = self.root / "JobMatcher"
        try:
            spaces = [e.name for e in os.scandir(top) if e.is_dir(follow_symlinks=False) and e.name[:1] != "."]
        except OSError:
            return out
        for space in spaces:
            try:
                with os.scandir(top / space) as entries:
                    for e in entries:
                        key = f"JobMatcher/{space}/{e.name}"
                        if e.name[:1] != "." and key.startswith(prefix) and e.is_dir(follow_symlinks=False):
                            out.add(key)
            except OSError:
                continue
        return out

    def delete(self, key: str) -> None:
        """As LocationClient.delete (a write error is named: LocationCopyFailedError / LocationUnavailableError)."""
        p = self._path(key)
        try:
            os.unlink(p)
        except FileNotFoundError:
            return
        except OSError as e:
            raise self._write_error(e, key) from None
        fsync_dir(p.parent)

    def remove_stale_temps(self, prefix: str) -> List[str]:
        """Delete temp files of killed copies under `prefix` (ours only: that namespace is this data folder's).
        Returns the names removed. Never raises (what cannot be read or removed is left)."""
        removed: List[str] = []
        try:
            self._no_link_below_root(prefix.strip("/").split("/"))
        except LocationCopyFailedError:
            return removed
        folder = self.root.joinpath(*prefix.strip("/").split("/"))
        try:
            names = os.listdir(folder)
        except OSError:
            return removed
        for name in names:
            m = TMP_NAME.fullmatch(name)
            if m is None:
                continue
            p = folder / name
            try:
                if time.time() - p.stat().st_mtime > _STALE_TMP_SECONDS or process_gone(int(m.group(1))):
                    remove_quietly_safe(p)
                    removed.append(name)
            except OSError:
                pass
        return removed


class _WritebackWriter(HashingWriter):
    """A HashingWriter into a file that, every _WINDOW bytes, starts the disk's writeback of them without
    waiting (start_writeback) and hands them to `behind` (a ReadBehind, which waits for them to reach the
    disk, compares them and hashes them: then this writer does not hash, its `sha256` stays empty).
    Without `behind` nothing is kept and this writer hashes. take_unchecked() returns the last bytes
    not yet handed over (for after the final fsync).

    fill_from() takes the bytes by reading them straight into window buffers of _WINDOW bytes (the encrypting
    child's pipe: encproc.EncryptingChild.readinto) instead of write(): each full window goes to `behind` as
    it is, and comes back to this writer's pool once compared (ReadBehind's `release`), so the same few
    buffers serve the whole copy. A fresh bytes object per read from the pipe cost page faults and zeroing
    for every page of it: about 35 ms of CPU per 100 MB here, a fifth of the copying process's."""

    def __init__(
        self,
        raw: BinaryIO,
        progress: Callable[[int], None] | None = None,
        behind: ReadBehind | None = None,
        direct: int = -1,
    ) -> None:
        super().__init__(raw, progress=progress)
        self._behind = behind
        self._direct = direct  # the file opened with O_DIRECT (fill_from's full windows), or -1
        self._unchecked: list[bytes | bytearray | Window] = []
        self._started = 0  # bytes whose writeback was started (and that were handed to `behind`)
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()  # window buffers compared, to reuse
        # fill_from_windows: the ring's windows out (id of the window's view: its sequence) and how to give one back
        self._ring_seqs: dict[int, int] = {}
        self._give_back: Callable[[int], object] | None = None

    @property
    def takes_windows(self) -> bool:
        """Whether fill_from_windows can write the ring's windows as they are (O_DIRECT and a read-back behind the
        writer). Never raises."""
        return self._direct >= 0 and self._behind is not None

    def release(self, block: bytes | bytearray | memoryview) -> None:
        """Take back a window buffer `behind` compared (ReadBehind's `release`; other blocks are dropped), or give
        a window of the encrypting child's ring back to it (fill_from_windows). Called on the read-back's thread
        (or the direct writer's, after a failure). Never raises."""
        if isinstance(block, bytearray) and len(block) == _WINDOW + _ALIGN:
            self._free.put(block)
        elif isinstance(block, memoryview) and self._give_back is not None:
            seq = self._ring_seqs.pop(id(block), None)
            if seq is not None:
                self._give_back(seq)

    def write(self, data) -> int:
        """As HashingWriter.write (without hashing when `behind` hashes); then starts the writeback of what
        accumulated. Raises its OSError."""
        if self._behind is None:
            n = super().write(data)
        else:
            self._write_raw(data)
            n = len(data)
            self._unchecked.append(data if isinstance(data, bytes) else bytes(data))
        if self.size - self._started >= _WINDOW:
            self._hand_over()
        return n

    def _write_raw(self, data) -> None:
        """Write `data` to the file and count it (not hashed). Raises the OSError (kept in `error`)."""
        try:
            self.raw.write(data)  # a buffered file: all of it, or an OSError
        except OSError as e:
            self.error = e
            raise
        self.size += len(data)
        if self._progress:
            self._progress(self.size)

    def _write_window(self, window: memoryview, offset: int) -> None:
        """Write a full window at `offset` through the O_DIRECT descriptor (from this buffer to the disk: no copy
        into the page cache, no writeback to start). Where the file system refuses it after all (EINVAL), through
        the page cache from there on. On _DirectWriter's thread. Raises the OSError of the write."""
        done = 0
        if self._direct >= 0:
            try:
                while done < len(window):
                    done += os.pwrite(self._direct, window[done:], offset + done)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self._direct = -1  # put_stream closes the descriptor
        if done < len(window):
            self.raw.seek(offset + done)
            self.raw.write(window[done:])
            self.raw.flush()
            start_writeback(self.raw.fileno(), offset + done, len(window) - done)

    def _hand_over(self) -> None:
        """Start the writeback of what was written since the last hand-over and give it to `behind`."""
        try:
            self.raw.flush()
        except OSError as e:
            self.error = e
            raise
        start_writeback(self.raw.fileno(), self._started, self.size - self._started)
        self._started = self.size
        if self._behind is not None:
            self._behind.check(self.take_unchecked())

    def fill_from(self, readinto: Callable[[memoryview], int]) -> None:
        """Write everything `readinto(view)` reads (the bytes read into `view`, 0 at the end), read straight into
        window buffers; as write() otherwise (the last window's bytes stay for take_unchecked()). With an
        O_DIRECT descriptor and `behind`, each full window is written from its buffer to the disk in one write
        by a thread (_DirectWriter: the disk writes one window while this thread reads the next from the pipe),
        then handed to `behind`; the last part window goes through the page cache. Raises the OSError of a
        write (kept in `error`), or what `readinto` raises."""
        writer = _DirectWriter(self) if self._direct >= 0 and self._behind is not None else None
        direct = writer is not None
        buf = self._window()
        view = _aligned(buf)
        filled = 0
        try:
            while n := readinto(view[filled:]):
                if writer is None:
                    part = view[filled : filled + n]
                    if self._behind is None:
                        super().write(part)
                    else:
                        self._write_raw(part)
                filled += n
                if filled == _WINDOW:
                    if writer is not None:
                        view.release()
                        writer.put(buf)  # waits while the window before is still being written
                        self.size += _WINDOW
                        if self._progress:
                            self._progress(self.size)
                        buf = self._window()
                        view = _aligned(buf)
                    elif self._behind is not None:
                        start = _align_offset(buf)
                        self._unchecked.append(Window(buf, start, start + _WINDOW))  # compared in place
                        view.release()
                        buf = self._window()
                        view = _aligned(buf)
                    filled = 0
                    if writer is None and self.size - self._started >= _WINDOW:
                        self._hand_over()
            if writer is not None:
                writer.finish()  # every window written and handed to `behind`
                writer = None
                self._started = self.size
            if filled:
                if direct:  # O_DIRECT writes whole disk blocks: the last part through the page cache
                    try:
                        self.raw.seek(self.size)
                    except OSError as e:
                        self.error = e
                        raise
                    self._write_raw(view[:filled])
                if self._behind is not None:
                    self._unchecked.append(bytes(view[:filled]))  # the tail, for after the final fsync
        finally:
            if writer is not None:
                writer.stop()
            view.release()

    def fill_from_windows(
        self, windows: Callable[[], Iterator[tuple[int, memoryview]]], give_back: Callable[[int], object]
    ) -> None:
        """Write the windows `windows()` yields ((sequence, bytes): the encrypting child's shared ring,
        encproc.EncryptingChild.windows) as fill_from writes its own buffers, without copying a byte: each full
        window from the ring to the disk with O_DIRECT (_DirectWriter) and compared there by `behind`, then given
        back to the child (`give_back(sequence)`, from release); the last, shorter one copied, given back at once
        and written through the page cache, for after the final fsync. Only where takes_windows. Raises as
        fill_from."""
        assert self.takes_windows
        self._give_back = give_back
        writer: _DirectWriter | None = _DirectWriter(self)
        try:
            for seq, view in windows():
                if len(view) == _WINDOW:
                    assert writer is not None
                    self._ring_seqs[id(view)] = seq
                    writer.put(view)  # waits while the window before is still being written
                    self.size += _WINDOW
                    if self._progress:
                        self._progress(self.size)
                    continue
                tail = bytes(view)  # the last window
                give_back(seq)
                if writer is not None:
                    writer.finish()
                    writer = None
                self._started = self.size
                if tail:
                    try:
                        self.raw.seek(self.size)
                    except OSError as e:
                        self.error = e
                        raise
                    self._write_raw(tail)
                    self._unchecked.append(tail)
            if writer is not None:  # the child stopped before its last window: finish() says why
                writer.finish()
                writer = None
                self._started = self.size
        finally:
            if writer is not None:
                writer.stop()

    def _window(self) -> bytearray:
        """A window buffer (_WINDOW bytes from _align_offset on): one `behind` gave back, else a new one. Never
        raises (but MemoryError)."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return bytearray(_WINDOW + _ALIGN)

    def take_unchecked(self) -> list[bytes | bytearray | Window]:
        """The bytes written since the last hand-over to `behind` (emptied). Never raises."""
        out, self._unchecked = self._unchecked, []
        return out


# O_DIRECT writes and reads: from and into buffers aligned on this many bytes (pipeline._ALIGN).
_ALIGN = 4096


def _align_offset(buf: bytearray) -> int:
    """Where in `buf` its first byte aligned on _ALIGN bytes is (its memory never moves: never resized)."""
    import ctypes

    c = ctypes.c_char.from_buffer(buf)
    try:
        return -ctypes.addressof(c) % _ALIGN
    finally:
        del c


def _aligned(buf: bytearray) -> memoryview:
    """The window of `buf`: _WINDOW bytes from _align_offset(buf)."""
    start = _align_offset(buf)
    return memoryview(buf)[start : start + _WINDOW]


class _DirectWriter:
    """The thread writing a _WritebackWriter's full windows with O_DIRECT (_write_window), in order, then handing
    each to its ReadBehind. At most one window waits (put() blocks until the thread takes it), so memory stays
    bounded. An error stops the writes; put() and finish() raise it (kept in the writer's `error` too)."""

    def __init__(self, w: _WritebackWriter) -> None:
        self._w = w
        self._offset = w.size
        self._q: queue.Queue[bytearray | memoryview | None] = queue.Queue(maxsize=1)
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="location-write-direct", daemon=True)
        self._thread.start()

    def put(self, buf: bytearray | memoryview) -> None:
        """Write the full window in `buf` (a window buffer, or a window of the encrypting child's ring: a
        memoryview of _WINDOW bytes, aligned) next. Raises the OSError an earlier write met."""
        self._raise()
        self._q.put(buf)

    def _run(self) -> None:
        behind = self._w._behind
        assert behind is not None
        while (buf := self._q.get()) is not None:
            if self.error is not None:
                self._w.release(buf)  # drained: put() or finish() raises it; a ring's window goes back
                continue
            if isinstance(buf, memoryview):  # a window of the ring: aligned (the ring is mapped memory)
                view, start = buf, 0
            else:
                view, start = _aligned(buf), _align_offset(buf)
            try:
                self._w._write_window(view, self._offset)
            except Exception as e:  # noqa: BLE001 - raised on the caller's thread (put, finish)
                self.error = e
                self._w.release(buf)
                continue
            finally:
                if view is not buf:
                    view.release()
            self._offset += _WINDOW
            behind.check([Window(buf, start, start + _WINDOW)])

    def _raise(self) -> None:
        if self.error is not None:
            if isinstance(self.error, OSError):
                self._w.error = self.error
            raise self.error

    def finish(self) -> None:
        """Wait until every window was written and handed over. Raises the OSError a write met."""
        self.stop()
        self._raise()

    def stop(self) -> None:
        """Stop the thread after the windows given (waiting for it). Never raises."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()


def _reads_back_behind(fd: int) -> bool:
    """Whether the read-back can follow the writer for the open file `fd`: Linux's sync_file_range is there
    and the file is on a block device (a local disk, a USB drive), where pages written out are clean, so
    posix_fadvise drops them and the next read comes from the disk. Network and FUSE file systems (NFS,
    SMB, sshfs: anonymous devices, major 0) may keep written pages until an fsync commits them, so a read
    could come from memory: their copies are read back after the fsync at the end. Never raises."""
    try:
        return _sync_file_range() is not None and os.major(os.fstat(fd).st_dev) != 0
    except (OSError, AttributeError):
        return False


def _open_direct(path: Path) -> int:
    """`path` opened for writing with O_DIRECT (Linux), or -1 where it cannot be (the file system refuses
    it: the writes then go through the page cache). Never raises."""
    flag = getattr(os, "O_DIRECT", 0) if sys.platform == "linux" else 0
    if not flag:
        return -1
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:
        return -1


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing the file's dirty pages in [offset, offset + length) to the disk, without waiting
    (Linux sync_file_range with SYNC_FILE_RANGE_WRITE). Only a hint: it makes no promise of durability
    (an fsync still must follow), so where it is missing or refused nothing happens. Never raises."""
    f = _sync_file_range()
    if f is not None:
        f(fd, offset, length, _SFR_WRITE)  # an error here is the fsync's (or _wait_written's) to report


def _wait_written(fd: int, offset: int, length: int) -> None:
    """Wait until the file's pages in [offset, offset + length) have been written to the disk (clean, so
    posix_fadvise can drop them and a read then comes from the disk). sync_file_range where the file system
    supports it, else fdatasync. Raises OSError for a write error (EIO, ENOSPC)."""
    f = _sync_file_range()
    if f is not None and f(fd, offset, length, _SFR_WAIT_BEFORE | _SFR_WRITE | _SFR_WAIT_AFTER) == 0:
        return
    err = _ctypes_errno() if f is not None else 0
    if err and err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE):
        raise OSError(err, os.strerror(err))
    _fdatasync(fd)


_SFR_WAIT_BEFORE, _SFR_WRITE, _SFR_WAIT_AFTER = 1, 2, 4
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have only fsync


def _ctypes_errno() -> int:
    """The errno of the last foreign call made through ctypes in this thread. Never raises."""
    import ctypes

    return ctypes.get_errno()


_SFR: list = []


def _sync_file_range():
    """libc's sync_file_range (ctypes releases the GIL around it), or None where there is none."""
    if not _SFR:
        f = None
        if sys.platform == "linux":
            try:
                import ctypes

                f = ctypes.CDLL(None, use_errno=True).sync_file_range
                f.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
                f.restype = ctypes.c_int
            except (OSError, AttributeError):
                f = None
        _SFR.append(f)
    return _SFR[0]


def _temp_name() -> str:
    """A fresh temp file name `.tmp-<pid>-<12 hex>.part`, the shape TMP_NAME matches."""
    return f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}.part"


def _free(path: Path) -> int:
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        return 0


def _capacity(path: Path) -> int:
    """The size of the whole drive holding `path` in bytes (0: not known). Never raises."""
    try:
        st = os.statvfs(path)
        return st.f_blocks * st.f_frsize
    except (OSError, AttributeError):
        return 0


def remove_quietly_safe(path: Path) -> None:
    """remove_quietly that also swallows errors of a drive that is gone or read-only. Never raises."""
    try:
        remove_quietly(path)
    except OSError:
        pass


def _read_error_words(e: OSError) -> str:
    """A read failure in the user's words. Never raises."""
    if e.errno == errno.EIO:
        return "a disk read error: the drive may be failing"
    return f"the drive refused the read: {e.strerror or 'error ' + str(e.errno)}"
