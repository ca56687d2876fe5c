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

import time
from pathlib import Path
from typing import Callable

from . import checkproc, schema
from .database import require_known_revision
from .digests import BLAKE3, SHA256, Algorithm, file_digest, file_digests
from .errors import CheckInterruptedError, ForeignSchemaError, InvalidBackupError, NewerSchemaError
from .fileshape import AGE_MAGIC as AGE_MAGIC  # the file's shape, checked first (re-exported for its callers)
from .fileshape import SQLITE_MAGIC as SQLITE_MAGIC
from .fileshape import StartedCheck as StartedCheck
from .fileshape import check_file_shape as check_file_shape
from .fileshape import refusal as _refuse
from .fileshape import start_check as start_check


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


def sha256_file(path: Path) -> str:
    """SHA-256 of a file as 64 lowercase hex digits, read in chunks (hashlib releases the GIL, so this runs
    beside SQLite's checks).

    Raises OSError when the file cannot be opened or read (missing, no permission, an I/O error).
    """
    return file_digest(path, SHA256)


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
                from . import schemaguard  # noqa: F401  (the guard follows the child's answer: loaded meanwhile)

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
