"""One interface for every kind of backup location (after Litestream's ReplicaClient).

A client knows only keys (`/`-separated names under the location's root) and
bytes; what the keys mean (namespaces per data folder, manifests, the
identity) is the replicator's business. Every write is atomic and checked at
the destination: when `put_*` returns, the object is there in full and read
back (or checksum-compared) identical; when it raises, nothing new is listed.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from ..errors import TamperedCopyError
from ..manifest import MAX_MANIFEST_BYTES
from ..progress import Count as ByteProgress  # (bytes done, bytes total)
from ..settings import LOCATION_MARKER

MARKER_KEY = LOCATION_MARKER
# The most bytes get_bytes reads of each kind of small file, one limit per kind, the same for folders and S3:
# far above what JobMatcher writes (a marker or writer.json ~150 bytes, a locked identity ~400, a manifest ~1 KB)
# so nothing genuine is refused, and an object planted or grown there is never held in memory (T13).
MAX_MARKER = 64 << 10
MAX_IDENTITY = 64 << 10
MAX_WRITER = 64 << 10
MAX_MANIFEST = MAX_MANIFEST_BYTES  # as the backup folder's manifests (1 MiB)


def small_limit(key: str) -> int:
    """The most bytes get_bytes reads of `key`, by its kind (the marker, a locked identity, writer.json, a
    manifest); the marker's for any other small file. Never raises."""
    name = key.rsplit("/", 1)[-1]
    if name == "identity.age":
        return MAX_IDENTITY
    if name == "writer.json":
        return MAX_WRITER
    if name.endswith(".json"):
        return MAX_MANIFEST
    return MAX_MARKER


_KEY_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*\Z")


def check_key(key: str) -> str:
    """Refuse keys that could leave the location (`..`, absolute, empty parts); return the key.

    Raises ValueError for such a key (a programming error: keys are built by remote.py, never typed)."""
    if not isinstance(key, str) or not (_KEY_SHAPE.match(key) or key == MARKER_KEY) or ".." in key:
        raise ValueError(f"not a location key: {key!r}")
    return key


class SourceUnreadable(Exception):
    """The backup being copied could not be read (`error`: the OSError, naming it): its own drive was unplugged or
    is failing, not the location (X7). Raised by put_file instead of the location's errors, which would blame the
    location ("went away during the copy")."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key (relative to the location root) and size in bytes."""

    key: str
    size: int


class HashingWriter:
    """A write-only file object that passes bytes on and keeps their SHA-256 (and MD5 for S3 ETags)."""

    def __init__(self, raw: BinaryIO, md5: bool = False, progress: Callable[[int], None] | None = None) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0
        self._progress = progress
        self.error: OSError | None = None  # kept: pyrage wraps it in an EncryptError and drops its errno

    def produce_with(self, produce: "Producer") -> None:
        """Run `produce` into this writer; a write error comes out as the OSError it was (ENOSPC, EROFS…).

        Raises that OSError, or whatever else `produce` raises (e.g. pyrage's EncryptError)."""
        try:
            produce(self)
        except Exception:
            if self.error is not None:
                raise self.error from None
            raise

    def write(self, data) -> int:
        """Hash `data` and pass it on; returns its length in bytes. Raises the OSError of the write below
        (kept in `error`)."""
        self.sha256.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        try:
            n = self.raw.write(data)
        except OSError as e:
            self.error = e
            raise
        self.size += len(data)
        if self._progress:
            self._progress(self.size)
        return n if n is not None else len(data)

    def flush(self) -> None:
        """Flush the file below. Raises its OSError."""
        self.raw.flush()

    def writable(self) -> bool:
        """Always True (a write-only file object). Never raises."""
        return True


def copy_too_large(name: str, where: str, limit: int) -> TamperedCopyError:
    """The refusal (returned, for the caller to raise) of a copy with more bytes than its manifest says were
    written. Never raises."""
    return TamperedCopyError(
        f"The copy {name} at {where} has more bytes than the {limit:,} that were written: it was changed since. "
        "It was not read on, and nothing was changed.",
        "Choose another copy; this one cannot be trusted.",
        reason="too-large",
    )


def copy_not_a_file(name: str, where: str) -> TamperedCopyError:
    """The refusal (returned, for the caller to raise) of a copy that is not a regular file: a symbolic link, a
    pipe, a device or a folder is in its place (never followed, read or waited on). Never raises."""
    return TamperedCopyError(
        f"The copy {name} at {where} is not a file JobMatcher wrote: a link, a pipe or a device is in its "
        "place. It was not read, and nothing was changed.",
        "Choose another copy; this one cannot be trusted.",
        reason="not-a-file",
    )


# Writes the object's content into the writer it is given (its return value is ignored).
Producer = Callable[[HashingWriter], object]


@dataclass(frozen=True)
class Stored:
    """What a put wrote: size in bytes and the SHA-256 of the stored bytes (hex), checked at the destination."""

    size: int
    sha256: str


class LocationClient(ABC):
    """A place to keep copies of backups. Implementations: FolderLocation, S3Location."""

    kind: str = ""
    # False for a place only looked into (disaster recovery: --from-folder, --from-s3, the page's "Restore from
    # a backup location"): its errors' hints then say what to check, not how to fix a configured location.
    configured: bool = True
    # True while the location is being added: nothing is saved if it fails, so nothing is "retried later" or
    # "caught up" either; the hints say what to fix before adding it again (L15).
    adding: bool = False
    # True when a configured location is only read from (a restore from it, the list of its copies): copies are
    # not being made, so its hints say what to check before trying again, not that copies catch up (V15c).
    reading: bool = False

    @abstractmethod
    def describe(self) -> str:
        """Where it is, for people: a folder path or s3://bucket/prefix at an endpoint. Never raises."""

    @abstractmethod
    def check(self) -> None:
        """Raise LocationUnavailableError / LocationCredentialsError when it cannot be used now (marker included).

        Raises:
            LocationUnavailableError: not reachable (an unplugged drive, no network, no bucket), or
                reachable without JobMatcher's marker (so not the place the copies were written to).
            LocationCredentialsError: the keys are refused.
        """

    def reachable(self) -> None:  # noqa: B027 - a default that asks nothing, on purpose (a folder)
        """Raise as check() does when the place cannot be reached at all (its marker not asked for); nothing is
        written. A quick first question before any other (C15: an add noted what was there with the retrying
        client first, 4 minutes against a server that never answers). Default: nothing to ask (a folder)."""

    @abstractmethod
    def initialize(self) -> None:
        """Make a new location usable: check it is reachable and writable, write the marker if missing.

        Raises LocationUnavailableError (not reachable; a folder that is not a full path or does not
        exist), LocationCredentialsError, or LocationCopyFailedError (the marker cannot be written)."""

    @abstractmethod
    def put_stream(
        self, key: str, produce: Producer, progress: ByteProgress | None = None, size_hint: int = 0
    ) -> Stored:
        """Store what `produce` writes under `key`, atomically and checked; returns its size (bytes) and SHA-256.

        `progress(done, total)` counts the bytes stored, `total` being `size_hint` (the expected size).

        Raises:
            LocationUnavailableError: the location is not there, or went away during the copy.
            LocationCopyFailedError: it is full, refuses writes, or the copy did not read back identical.
            LocationCredentialsError: the keys are refused (S3).
            Whatever `produce` raises. In every case nothing new is listed under `key`.
        """

    @abstractmethod
    def put_file(self, key: str, src: Path, sha256: str, progress: ByteProgress | None = None) -> Stored:
        """Store the file `src` (whose SHA-256 is `sha256`, hex) under `key`, atomically and checked; returns
        its size in bytes and that SHA-256. `progress(done, total)` counts bytes.

        Raises as put_stream (a source changed since its checksum was taken fails the check too), or
        OSError when `src` cannot be read.
        """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object (a manifest, the identity), atomically and checked. Raises as put_stream."""

    @abstractmethod
    def get_file(self, key: str, dest: Path, progress: ByteProgress | None = None, limit: int | None = None) -> int:
        """Download `key` into the new file `dest`; returns the bytes written. `progress(done, total)` in bytes.

        `limit`: the most bytes the object may have (the location manifest's stored size). No more than
        limit + 1 bytes are ever read: a larger object is refused at once, without filling the data folder's
        disk with whatever it holds (finding T4).

        Raises FileNotFoundError when `key` is not there; TamperedCopyError when it is larger than `limit`
        or (a folder) not a regular file (a link, a pipe, a device: never followed, never waited on);
        LocationUnavailableError / LocationCredentialsError when the location cannot be read; OSError when
        `dest` exists or cannot be written (a folder location).
        """

    @abstractmethod
    def get_bytes(self, key: str, limit: int | None = None) -> bytes:
        """A small object's content, of at most `limit` bytes (None: `small_limit(key)`, its kind's limit);
        never read whole when larger.

        Raises FileNotFoundError when it is not there; LocationCopyFailedError when it is larger than `limit`
        (reason "too-large") or, in a folder, not a regular file (reason "not-a-file": a symbolic link is never
        followed); LocationUnavailableError / LocationCredentialsError (S3) or
        OSError (a folder) when it cannot be read."""

    @abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every complete object whose key starts with `prefix` (never a partial upload or a temp file),
        sorted by key, sizes in bytes; an empty list for a folder that is not there.

        Raises LocationUnavailableError / LocationCredentialsError (S3) when it cannot be listed;
        ValueError for a prefix with `..` (a programming error)."""

    def folders_among(self, prefix: str) -> set[str]:
        """The keys starting with `prefix` at which a folder stands where a file of a copy would be (a folder
        location's `JobMatcher/<id>/<name>`): `list` leaves them out, as they are no objects. Empty for storage
        without folders (S3). Never raises."""
        return set()

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete one object (gone already is fine).

        Raises LocationCopyFailedError / LocationUnavailableError (it refuses or went away) or
        LocationCredentialsError (S3)."""
