"""Checking that a file is a sound JobMatcher backup, and saying exactly why when it is not.

The checks, cheapest first: it is a regular readable file; its header is
SQLite's and its length matches the page count in the header; its checksum
matches the manifest (BLAKE3 when the manifest has it, else SHA-256: see
digests.py); `PRAGMA integrity_check` passes; it carries a schema revision this
app knows; it has every table that revision defines; and it holds no schema object
JobMatcher did not make (no trigger, view, virtual table, foreign key, unknown table,
index or column: schemaguard), which runs whether or not the integrity check does. The file is only ever
opened read-only. The checksums are computed in threads beside the check (a
child process's memory-mapped check for a large file, see checkproc).
"""

from __future__ import annotations

import os
import stat
import struct
import time
from pathlib import Path
from typing import Callable

from . import checkproc, schema
from .database import hot_journal, require_known_revision
from .digests import BLAKE3, SHA256, Algorithm, file_digest, file_digests
from .errors import CheckInterruptedError, ForeignSchemaError, InvalidBackupError, NewerSchemaError
from .fsutil import WAL, side_file

SQLITE_MAGIC = b"SQLite format 3\x00"


class VerifyReport:
    """A file that passed every check. (A plain class: made once per check and never serialized; a model's
    class and validator, or a dataclass's generated functions, would be built in each process that checks a
    file, on the check's clock.)"""

    __slots__ = (
        "path",
        "size_bytes",
        "sha256",
        "blake3",
        "sealable",
        "schema_revision",
        "page_size",
        "seconds",
        "check_memory",
    )

    def __init__(
        self,
        *,
        path: str,
        size_bytes: int,
        sha256: str,
        schema_revision: str,
        page_size: int,
        seconds: float,
        blake3: str | None = None,
        sealable: bool = False,
        check_memory: dict[str, float | None] | None = None,
    ) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self.sha256 = sha256
        # The BLAKE3 of the file, when it was computed (see verify_file's `with_blake3`) or proven.
        self.blake3 = blake3
        # sha256 and blake3 are known to be of the same bytes (both computed from one read of this file, or
        # BLAKE3 computed and the SHA-256 proven by a holding seal): a manifest may be sealed with them.
        self.sealable = sealable
        self.schema_revision = schema_revision
        self.page_size = page_size
        self.seconds = seconds
        # The integrity check's child process, when it ran in one (see checkproc): peak resident memory
        # in MB, of which file-backed (the memory-mapped file) and anonymous.
        self.check_memory: dict[str, float | None] = check_memory if check_memory is not None else {}

    def __repr__(self) -> str:
        return f"VerifyReport({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


class StartedCheck:
    """A file whose shape passed (check_file_shape: `size` and `page_size` in bytes) and whose check has
    started (`check`: checkproc.start; in a spare child it runs from then on); `t0` is time.perf_counter() when
    the shape's check began (the report's seconds count from it). verify_file(started=...) goes on with it.
    As a context manager it ends a check whose result was never asked for (see checkproc.PendingCheck)."""

    __slots__ = ("size", "page_size", "check", "t0")

    def __init__(self, size: int, page_size: int, check: checkproc.PendingCheck, t0: float) -> None:
        self.size, self.page_size, self.check, self.t0 = size, page_size, check, t0

    def __enter__(self) -> StartedCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.check.close()


def start_check(path: Path, spare: checkproc.SpareChild | None = None) -> StartedCheck:
    """Refuse a file that is not a complete SQLite file (check_file_shape), then start its check (in `spare`
    when it is ready): the caller reads the manifest and the like while the check runs, then calls
    verify_file(started=...). Raises InvalidBackupError as check_file_shape does."""
    t0 = time.perf_counter()
    path = Path(path)
    size, page_size = check_file_shape(path)
    return StartedCheck(size, page_size, checkproc.start(path, spare=spare), t0)


AGE_MAGIC = b"age-encryption.org/v1\n"  # the first line of every age file (a location's encrypted copy)


def _refuse(reason: str, message: str, hint: str = "") -> InvalidBackupError:
    return InvalidBackupError(
        message, hint or "Choose another backup. Your current data has not been changed.", reason=reason
    )


def sha256_file(path: Path) -> str:
    """SHA-256 of a file as 64 lowercase hex digits, read in chunks (hashlib releases the GIL, so this runs
    beside SQLite's checks).

    Raises OSError when the file cannot be opened or read (missing, no permission, an I/O error).
    """
    return file_digest(path, SHA256)


def check_file_shape(path: Path) -> tuple[int, int]:
    """Refuse anything that is not a complete SQLite file; return (size in bytes, page size in bytes).

    Raises InvalidBackupError with `reason` one of: missing, unreadable, not-a-file, empty,
    damaged-header, not-sqlite, truncated, unsaved-wal (a WAL-mode file with a non-empty -wal
    beside it), hot-journal (an unfinished write's -journal beside it).
    """
    try:
        st = os.stat(path)  # follows symlinks: what matters is what the link points at
    except FileNotFoundError:
        raise _refuse("missing", f"The file {path} does not exist.", "Check the name and try again.") from None
    except ValueError:  # a NUL byte: no file can have that name
        raise _refuse(
            "missing",
            f"There is no file named {str(path)!r}: a file name cannot contain a NUL character.",
            "Check the name and try again.",
        ) from None
    except OSError as e:
        raise _refuse(
            "unreadable", f"The file {path} cannot be read: {e.strerror}.", "Check its permissions and try again."
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise _refuse("not-a-file", f"{path} is a folder, not a backup file.", "Choose a backup file (.db) inside it.")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(
            "not-a-file",
            f"{path} is not a regular file (it is a device, pipe or socket).",
            "Choose a backup file (.db).",
        )
    size = st.st_size
    if size == 0:
        try:
            with open(path, "rb") as f:
                has_bytes = bool(f.read(1))
        except OSError:
            has_bytes = True  # /proc/self/mem and the like: unreadable as a stream
        if has_bytes:  # a size of 0 with bytes behind it: a file of the system (/proc, /sys), not a backup
            raise _refuse(
                "not-a-file",
                f"{path} is a special file of the system, not a backup file.",
                "Choose a backup file (.db).",
            )
        raise _refuse("empty", f"The file {path} is empty.")
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        raise _refuse(
            "unreadable", f"The file {path} cannot be read: {e.strerror}.", "Check its permissions and try again."
        ) from None
    if not header.startswith(SQLITE_MAGIC):
        if header[:6] == SQLITE_MAGIC[:6] or header[:15].lower().startswith(b"sqlite"):
            raise _refuse("damaged-header", f"The header of {path} is damaged: it is not a readable SQLite database.")
        if header.startswith(AGE_MAGIC):  # a location's encrypted copy (backup_….db.age), e.g. downloaded
            raise InvalidBackupError(
                f"{path} is an encrypted copy from a backup location, not a backup file: it must be decrypted "
                "first. Nothing was changed.",
                "Restore it from the backup location it came from: `jobmatcher backup restore ID --from-folder "
                "FOLDER` (or --location NAME, --from-s3 s3://BUCKET/PREFIX) with your passphrase; or decrypt it "
                'with age (README: "Your backups without JobMatcher") and restore the .db file.',
                "Use Restore from a backup location with your passphrase: this is an encrypted copy.",
                reason="not-sqlite",
                encrypted_copy=True,
            )
        raise _refuse(
            "not-sqlite",
            f"{path} is not a JobMatcher backup: it is not a SQLite database at all.",
            "Choose a file that JobMatcher made (backup_….db).",
        )
    if len(header) < 100:
        raise _refuse("truncated", f"The file {path} is cut short: only {size} bytes of a SQLite database.")
    (raw_page,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if raw_page == 1 else raw_page
    if page_size < 512 or page_size & (page_size - 1):
        raise _refuse("damaged-header", f"The header of {path} is damaged (page size {raw_page}).")
    change_counter, page_count = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    if valid_for == change_counter and page_count and size < page_count * page_size:
        raise _refuse(
            "truncated",
            f"The file {path} is cut short: {size:,} bytes where its header says "
            f"{page_count * page_size:,}. It was probably copied incompletely.",
            "Use a complete copy of the backup. Your current data has not been changed.",
        )
    wal = side_file(path, WAL)
    if header[18] == 2 and wal.exists() and wal.stat().st_size > 0:
        # A live WAL-mode database copied with its -wal: the newest changes are only in the -wal,
        # which a backup file cannot carry. Checking or restoring the main file alone would lose them.
        raise _refuse(
            "unsaved-wal",
            f"{path.name} is a database still in use (or copied while in use): some of its changes are "
            f"only in {wal.name}.",
            "Close the program using it (or open it once in JobMatcher), then try again.",
        )
    if hot_journal(path):
        # A write was half done when the file was copied (or the program writing it stopped): SQLite itself
        # undoes it before reading, so the file alone, read as it is, would hold changes never committed.
        raise _refuse(
            "hot-journal",
            f"{path.name} has an unfinished write: {path.name}-journal beside it holds changes that were "
            "never committed (it was copied, or its program stopped, in the middle of saving).",
            "Open it once with the program that made it (or the sqlite3 tool) so SQLite undoes the "
            "unfinished write, then try again; or choose another backup. Your current data has not "
            "been changed.",
        )
    if size % page_size:
        raise _refuse(
            "truncated",
            f"The file {path} is cut short: {size:,} bytes is not a whole number of {page_size}-byte pages.",
        )
    return size, page_size


def verify_file(
    path: Path,
    expected_sha256: str | None = None,
    allow_unknown_revision: bool = False,
    checksum_proves_integrity: bool = False,
    expected_blake3: str | None = None,
    with_blake3: bool = False,
    spare: checkproc.SpareChild | None = None,
    every_checksum: bool = False,
    known: dict[Algorithm, str] | None = None,
    sha256_sealed: bool = False,
    hashing: Callable[[], dict[Algorithm, str]] | None = None,
    started: StartedCheck | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> VerifyReport:
    """Check that `path` is a sound backup this app can restore; raise InvalidBackupError saying why not.

    Returns a VerifyReport (size and page size in bytes, SHA-256 hex, revision, seconds taken).
    Raises InvalidBackupError, its `reason` naming the failed check: those of check_file_shape,
    then not-sqlite, unreadable, corrupt, read-error (the check's child died reading it),
    not-jobmatcher, missing-tables, foreign-schema (ForeignSchemaError: objects JobMatcher did not make, such as
    a trigger), newer-schema, checksum-mismatch. OSError only for a read error
    while hashing a file whose shape was already read.

    `allow_unknown_revision` accepts a sound file from a newer JobMatcher (its tables
    cannot be checked): for the safety copy of live data that this version cannot open.
    `checksum_proves_integrity`: the manifest recorded a passed integrity check for the
    file with `expected_sha256`; a matching checksum proves this is that same file, byte
    for byte, so the (slow) integrity check is not repeated. Revision and tables still are.
    `expected_blake3`: the manifest's BLAKE3 of the file. With `expected_sha256` too, only
    BLAKE3 is computed: a match proves the file is the one both were computed from, so the
    report's `sha256` is the expected one. `with_blake3`: compute BLAKE3 also when none is
    expected (a new backup's, or one to add to an older manifest); the report then has it.
    `spare`: a check child started ahead (checkproc.SpareChild), for a file checked in a child.
    `every_checksum`: compare every checksum the manifest records (both, when it has both), not only
    the fastest: what `backup verify` does, so a manifest whose SHA-256 disagrees with the file (edited,
    or damaged) fails there, and not later at a location, as "the drive is failing" (finding H6).
    Restore's staging keeps to BLAKE3 alone while the seal holds (a match proves the bytes, and it is on the
    clock), both checksums otherwise (T1).
    `sha256_sealed`: the manifest's seal holds for `expected_sha256` and `expected_blake3`
    (manifest.seal_holds): the recorded SHA-256 is that of the bytes whose BLAKE3 is recorded, so with
    `every_checksum` too only BLAKE3 is computed; its match proves both. Without a holding seal (older
    manifests, an edited one) `every_checksum` computes and compares both.
    `known`: digests the caller has just computed from this same file, which nothing else writes (a new
    backup's temp file, hashed to find an identical backup): they are taken as found, not computed again.
    `hashing`: the digests the caller is computing meanwhile from this same file, which nothing else
    writes (a new backup's copy, hashed as it was written: digests.FollowingDigests.result); called once
    the check has started (it may wait for them) and taken as found; any other algorithm needed is computed.
    `started`: this file's shape checked and its check started already (start_check): not again. Not with
    `checksum_proves_integrity` or `hashing` (ValueError).
    `meanwhile`: the caller's work that does not depend on the check's result (loading what follows it),
    called once while the check runs in its child, after the hashing: on this core while the other checks
    (not called when the check runs in this process).
    """
    t0 = started.t0 if started is not None else time.perf_counter()
    path = Path(path)
    if started is not None and (checksum_proves_integrity or hashing is not None):
        raise ValueError("a started check is for a full check whose checksums are computed here")
    size, page_size = (started.size, started.page_size) if started is not None else check_file_shape(path)
    both_expected = bool(expected_blake3 and expected_sha256)
    # SHA-256 is computed unless BLAKE3 proves it: always when restore stages (only the bytes matter there),
    # and for `every_checksum` only when a seal ties the recorded SHA-256 to the recorded BLAKE3 (H6).
    proven_by_blake3 = both_expected and (sha256_sealed or not every_checksum)
    algorithms: list[Algorithm] = [] if proven_by_blake3 else [SHA256]
    if expected_blake3 or with_blake3:
        algorithms.append(BLAKE3)
    given = {a: d for a, d in (known or {}).items() if a in algorithms}
    algorithms = [a for a in algorithms if a not in given]
    memory: dict = {}
    if checksum_proves_integrity and (expected_sha256 or expected_blake3):
        found = {**given, **file_digests(path, algorithms)}
        if _matches(found, expected_sha256, expected_blake3):
            revision, memory = _check_database(path, allow_unknown_revision, integrity=False)
    elif not algorithms or hashing is not None:
        with started.check if started is not None else checkproc.start(path, spare=spare) as check:
            revision, memory = _check_database(path, allow_unknown_revision, started=check)
        found = {**given, **hashing()} if hashing is not None else given  # hashed beside the check
        missing = [a for a in algorithms if a not in found]
        if missing:
            found.update(file_digests(path, missing))
    else:
        # The check starts first: a forked child can only be made before the hashing threads exist. One read
        # of the file feeds every checksum (file_digests), on the core the check leaves.
        with started.check if started is not None else checkproc.start(path, spare=spare) as check:
            if check.in_child:  # this thread is free while the child checks: it hashes, no helper thread
                try:
                    hashed, unread = file_digests(path, algorithms), None
                except OSError as e:  # the check's verdict first (a read error there is "read-error")
                    hashed, unread = {}, e
                # What follows the child's answer, loaded while it checks: the schema guard and the caller's.
                from . import schemaguard  # noqa: F401

                if meanwhile is not None:
                    meanwhile()
                revision, memory = _check_database(path, allow_unknown_revision, started=check)
                if unread is not None:
                    raise unread
                found = {**given, **hashed}
            else:
                from .helperthread import HelperThread  # here: a check in a child needs no thread

                with HelperThread("file-digests") as pool:
                    pending = pool.submit(file_digests, path, algorithms)
                    revision, memory = _check_database(path, allow_unknown_revision, started=check)
                    found = {**given, **pending.result()}
    if not _matches(found, expected_sha256, expected_blake3):
        raise checksum_refusal(path, found, expected_sha256, expected_blake3)
    return VerifyReport(
        path=str(path),
        size_bytes=size,
        sha256=found.get(SHA256) or str(expected_sha256),
        blake3=found.get(BLAKE3),
        sealable=BLAKE3 in found and (SHA256 in found or (both_expected and sha256_sealed)),
        schema_revision=revision,
        page_size=page_size,
        seconds=time.perf_counter() - t0,
        check_memory=memory,
    )


def checksum_refusal(
    path: Path, found: dict[Algorithm, str], expected_sha256: str | None, expected_blake3: str | None
) -> InvalidBackupError:
    """The refusal (reason checksum-mismatch) of a file whose checksums do not match its manifest. When the file
    matches one recorded checksum and not the other, it is the manifest that was changed (a hand edit, another
    tool), and the words say so (L14): which one is right cannot be proven. Never raises."""
    agree = [found.get(a) == e for a, e in ((SHA256, expected_sha256), (BLAKE3, expected_blake3)) if e and found.get(a)]
    if len(agree) == 2 and any(agree):
        return _refuse(
            "checksum-mismatch",
            f"The manifest of the backup {path.name} was changed since the backup was made: the file matches one "
            "of the two checksums it records and not the other, so JobMatcher cannot prove the file is the backup "
            "that was made.",
            "Use another backup. Your current data has not been changed.",
        )
    return _refuse(
        "checksum-mismatch",
        f"The backup {path.name} has changed since it was made (its checksum does not match "
        f"its manifest): it may be damaged.",
        "Use another backup. Your current data has not been changed.",
    )


def _matches(found: dict[Algorithm, str], expected_sha256: str | None, expected_blake3: str | None) -> bool:
    """Every digest computed that has an expected value equals it (None expected: nothing to compare)."""
    return all(
        expected is None or found.get(a) in (None, expected)
        for a, expected in ((SHA256, expected_sha256), (BLAKE3, expected_blake3))
    )


def check_schema(path: Path, allow_unknown_revision: bool = False) -> str:
    """The revision of a SQLite file, refused (InvalidBackupError) unless it is a JobMatcher database this
    version can restore with every table its revision needs. Reads the schema only, no integrity check.

    Raises InvalidBackupError (reason not-sqlite, unreadable, corrupt, read-error, not-jobmatcher,
    missing-tables, foreign-schema or newer-schema).
    """
    return _check_database(Path(path), allow_unknown_revision, integrity=False)[0]


def _check_database(
    path: Path,
    allow_unknown_revision: bool = False,
    integrity: bool = True,
    started: checkproc.PendingCheck | None = None,
) -> tuple[str, dict]:
    """Integrity, revision and tables of a SQLite file; returns its revision and the check's child memory.

    The integrity check of a large file runs in a child process with memory-mapped I/O (see
    checkproc; `started`: the check, started already): a read error there kills the child, not
    this process, and is refused with the reason "read-error".
    """
    try:
        found = started.result() if started is not None else checkproc.check(path, integrity=integrity)
    except checkproc.ChildCheckCrashed as e:
        if e.signal_name.startswith("SIG") and e.signal_name != "SIGBUS":
            # Only SIGBUS is the file's fault (a read error under the mapping). SIGKILL is what the kernel's
            # out-of-memory killer sends, or a user's `kill`: the check was stopped, the file is unknown (H18).
            # the signal's name stays in the fields (and the log), not in the words: the user cannot act on it (L19)
            raise CheckInterruptedError(
                f"The check of {path} was stopped before it finished: the system may have run short of memory, "
                "or the check's process was ended. Nothing is known about the file; its earlier result is kept.",
                "Try again (close other programs first if memory is short).",
                signal=e.signal_name,
                path=str(path),
            ) from None
        raise _refuse(
            "read-error",
            f"The file {path} could not be read to the end (a disk read error). The disk or the file may be "
            "failing, or the file changed while it was checked.",
            "Copy the file to another disk and try again, or choose another backup. "
            "Your current data has not been changed.",
        ) from None
    if found.error is not None:
        text = found.error
        if "not a database" in text:
            raise _refuse("not-sqlite", f"{path} is not a SQLite database ({text}).")
        if "disk I/O error" in text:
            raise _refuse(
                "read-error",
                # the same words as a read error under the mapped check, not SQLite's or errno's (L19)
                f"The file {path} could not be read to the end (a disk read error). The disk or the file may be "
                "failing.",
                "Copy the file to another disk and try again, or choose another backup. "
                "Your current data has not been changed.",
            )
        if "unable to open" in text:
            raise _refuse("unreadable", f"The file {path} cannot be opened: {text}.")
        raise _refuse("corrupt", f"The backup {path.name} is damaged: {text}.")
    problems = found.problems
    if problems:
        shown = "; ".join(problems[:3])
        raise _refuse(
            "corrupt",
            f"The backup {path.name} is damaged: integrity check found "
            f"{len(problems)}{'+' if len(problems) >= 20 else ''} problem(s): {shown}",
        )
    tables, revision = set(found.tables), found.revision
    if revision is None:
        raise _refuse(
            "not-jobmatcher",
            f"{path.name} is a SQLite database, but not one of JobMatcher's (it has no schema revision).",
            "Choose a file that JobMatcher made (backup_….db).",
        )
    if allow_unknown_revision and not schema.is_known(revision):
        return revision, found.child_memory
    try:
        require_known_revision(revision, f"The backup {path.name}")
    except NewerSchemaError as e:
        raise InvalidBackupError(e.message, e.hint, e.page_hint, reason="newer-schema") from None
    missing = sorted(schema.tables_at(revision) - tables)
    if missing:
        raise _refuse(
            "missing-tables", f"The backup {path.name} is incomplete: it lacks the table(s) {', '.join(missing)}."
        )
    refuse_foreign_schema(path, revision, found.schema)
    return revision, found.child_memory


def refuse_foreign_schema(path: Path, revision: str, facts: dict) -> None:
    """Raise ForeignSchemaError (reason foreign-schema) when the file's schema holds objects the migrations of
    `revision` did not make: a trigger, a view, a virtual table, a foreign key, an unknown table, index or
    column (schemaguard). SQLite runs a file's triggers on every program's writes, so restoring such a file
    would let it change the user's data on their next edit (T12). Returns None when the schema is JobMatcher's.
    """
    from .schemaguard import describe, foreign_objects

    found = foreign_objects(revision, facts)
    if found:
        dangerous = found[0].kind in ("trigger", "view", "virtual-table", "foreign-key")
        raise ForeignSchemaError(
            f"The backup {path.name} holds {describe(found)} that JobMatcher did not make"
            + ("; it could change or delete your data when you edit it" if dangerous else "")
            + ". Nothing was changed.",
            "Choose another backup. Your current data has not been changed.",
            reason="foreign-schema",
            objects=[f"{f.kind} {f.name}" for f in found],
        )
