"""Files the page may name, by opaque tokens only: chosen files, uploads and one-time downloads.

The page never sends a path. A file the user chose in a native dialog, or uploaded
in browser mode, is registered here and the page gets a random token for it; an
export in browser mode gets a one-time download token. Uploads live in their own
folder (`<data>/.uploads/TOKEN/NAME`), which is ours to delete.
"""

from __future__ import annotations

import errno
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import InsufficientSpaceError, ValidationError
from .fsutil import SPACE_HINTS, describe_os_error, private_opener, reserve_space

UPLOAD_KEEP_FREE = 64 << 20  # an upload never takes the space the database needs to keep saving
DOWNLOAD_SECONDS = 300  # how long a download link works


@dataclass
class ChosenFile:
    path: Path
    name: str  # what the user knows it as (shown in messages instead of temp paths)
    uploaded: bool  # an upload we own and delete afterwards

    def clean(self, text: str) -> str:
        """Name the file as the user knows it in `text`, not by the temp path of an upload."""
        return text.replace(str(self.path), self.name) if text else text


class ChosenFiles:
    """The token registry of one app run; thread-safe (page calls arrive on many threads)."""

    def __init__(self, uploads: Path) -> None:
        self.uploads = uploads
        self._lock = threading.Lock()
        self._files: dict[str, ChosenFile] = {}
        self._downloads: dict[str, tuple[Path, str, float]] = {}

    def register(self, f: ChosenFile) -> dict:
        """Hand out a token for `f`: {"token", "name"} for the page."""
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._files[token] = f
        return {"token": token, "name": f.name}

    def get(self, token: str) -> ChosenFile:
        """The file behind `token`; ValidationError when it was never handed out or is gone."""
        with self._lock:
            f = self._files.get(token)
        if f is None:
            raise ValidationError("That file is no longer available.", "Choose the file again.")
        return f

    def forget(self, token: str) -> None:
        """Drop `token`; an upload's file is deleted."""
        with self._lock:
            f = self._files.pop(token, None)
        if f is not None and f.uploaded:
            shutil.rmtree(f.path.parent, ignore_errors=True)

    def offer_download(self, path: Path, name: str) -> str:
        """A one-time token for downloading `path` as `name` (valid DOWNLOAD_SECONDS)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._downloads[token] = (path, name, time.monotonic() + DOWNLOAD_SECONDS)
        return token

    def take_download(self, token: str) -> tuple[Path, str] | None:
        """The (path, name) behind a download token, once; None when unknown, used or expired."""
        with self._lock:
            item = self._downloads.pop(token, None)
        if item is None or item[2] < time.monotonic():
            return None
        return item[0], item[1]

    def clear_uploads(self) -> None:
        """Delete every upload (at launch: a crashed run's leftovers; at exit)."""
        shutil.rmtree(self.uploads, ignore_errors=True)

    def receive_upload(self, filename: str, stream: BinaryIO, length: int) -> dict:
        """Store an uploaded file of `length` bytes read from `stream`; {"token", "name"} for it.

        The space is reserved before the first byte is written, counting uploads
        (and other writes) under way at the same time, with UPLOAD_KEEP_FREE left
        for the database. A failed upload's partial file is deleted at once.
        Raises InsufficientSpaceError (the disk is full) or ValidationError (cut short).
        """
        name = safe_name(filename)
        token = secrets.token_urlsafe(18)
        self.uploads.mkdir(exist_ok=True)
        folder = self.uploads / token
        path = folder / name
        with reserve_space(self.uploads, length, UPLOAD_KEEP_FREE, "the uploaded file", "uploads") as reservation:
            folder.mkdir()
            try:
                left = length
                with open(path, "wb", opener=private_opener) as out:  # someone's data: 0600
                    while left > 0:
                        chunk = stream.read(min(1 << 20, left))
                        if not chunk:
                            break
                        out.write(chunk)
                        reservation.wrote(len(chunk))
                        left -= len(chunk)
                    out.flush()
                if left:
                    raise ValidationError("The upload was cut short.", "Try again.")
            except BaseException as e:
                shutil.rmtree(folder, ignore_errors=True)  # a partial file must not keep taking space
                if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                    raise InsufficientSpaceError(
                        "The disk became full while receiving the file, so the upload stopped; "
                        "the part received was deleted.",
                        *SPACE_HINTS["uploads"],
                        path=str(self.uploads),
                        place="uploads",
                    ) from None
                if isinstance(e, OSError):
                    raise describe_os_error(e, "receiving the uploaded file", self.uploads) from None
                raise
        return self.register(ChosenFile(path, name, uploaded=True))


def safe_name(filename: str) -> str:
    """A file name safe to create in our upload folder (no folders, no control characters)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*').strip(" .")
    return name[:120] or "upload.db"
