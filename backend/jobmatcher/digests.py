"""The checksums of backup files: SHA-256, and BLAKE3 beside it.

SHA-256 is the checksum everything else compares and outside tools can recompute
(`sha256sum`): the manifest's `sha256`, the backup locations (their remote
manifests, S3's own SHA-256 checksums), reuse of an identical snapshot, moving a
backup, recovery from a safety backup. BLAKE3 (the `blake3` package, bindings for
the reference Rust implementation) proves the same thing - these are the very bytes
that passed the check - at about a quarter of SHA-256's CPU time here (issue 13).
A new backup's manifest records both, computed from the same bytes; verify and
restore compare BLAKE3 when a manifest has it and SHA-256 otherwise (manifests of
older versions), so nothing old loses its proof.

Both hash functions release the GIL on large buffers, so a digest computed in a
thread runs beside SQLite's check on the other core.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

Algorithm = Literal["sha256", "blake3"]
SHA256: Algorithm = "sha256"
BLAKE3: Algorithm = "blake3"


def new_hash(algorithm: Algorithm):
    """A fresh hash object (`update(bytes)`, `hexdigest()`) for `algorithm`; ValueError for another name."""
    if algorithm == SHA256:
        return hashlib.sha256()
    if algorithm == BLAKE3:
        import blake3  # here: commands that never hash (backup list) do not load it

        return blake3.blake3()
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def file_digest(path: Path, algorithm: Algorithm = SHA256) -> str:
    """The hex digest of the whole file `path`. Raises OSError as reading reports it.

    hashlib.file_digest reads into one reused buffer (no fresh memory, so no page faults, per chunk).
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: new_hash(algorithm)).hexdigest()


def buffer_digest(data: bytes | bytearray | memoryview, algorithm: Algorithm = SHA256) -> str:
    """The hex digest of bytes already in memory. Raises ValueError for an unknown `algorithm`."""
    h = new_hash(algorithm)
    h.update(data)
    return h.hexdigest()
