"""`PRAGMA integrity_check` in a child process, with SQLite's memory-mapped I/O.

Why a child: memory-mapped I/O more than halves the check (SQLite reads pages
straight from the mapping instead of a `pread` and a copy per page), but a read
error or a file cut short under the mapping then arrives as SIGBUS, which kills
the process that touched the page. In a child, that death is a failed check
("read error") and the app goes on. The mapping also counts in the resident
memory of the process that maps it (file-backed pages of the page cache, up to
the file's size): in a child it stays out of the app's own process, and the
child reports it.

The child is a forked copy of this process where that is safe (Linux, and this
process has no other thread, as in a command-line run: fork and its teardown
cost about 5 ms); otherwise a fresh interpreter (about 15 ms to start), started early
where there is other work to overlap (SpareChild, during a backup's copy).

This file is also the child itself: it imports only the standard library and is
run as a script (`python -I -S checkproc.py …`), or, in the packaged app, by the
bundle's entry point when its first argument is CHILD_FLAG.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import gc
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

CHILD_FLAG = "--jobmatcher-integrity-check"
# Files below this size are checked in the calling process, without memory mapping (no SIGBUS is
# possible there): starting the child (about 15 ms) would cost more than the mapping saves.
CHILD_MIN_BYTES = 32 * 1024 * 1024
# From this size on the check runs in a forked child where one can be forked (see start()). The copy costs
# about 5 ms of CPU in all (fork, copy-on-write faults, tearing it down), against 15 ms for a fresh
# interpreter; the mapping saves about 0.4 ms per MB (measured at 10 MB: the forked child's check took
# 9.4 ms of CPU, the check in-process 7.9 ms), so it pays from about 16 MB on.
FORK_MIN_BYTES = 16 * 1024 * 1024
# SQLite caps mmap_size at SQLITE_MAX_MMAP_SIZE (2 GB by default); pages past it are read with pread.
_MMAP_BYTES = 1 << 40
# The child's argument saying that its file comes on standard input (SpareChild).
STDIN_ARG = "-"
# Tests only: the child stops in the middle of its check until this folder holds a file named "go".
PAUSE_ENV = "JOBMATCHER_TEST_CHECK_PAUSE"


# SQLite's tokens (tokenize.c), for the schema guard's reading of a definition: a keyword is found among
# tokens, never in the text, so a comment (ON/**/CONFLICT, ON--<newline>CONFLICT), other whitespace or case
# cannot hide it and a quoted identifier ("ON", [ON], `ON`) or a string ('ON CONFLICT') is never taken for it.
# Whitespace is SQLite's own (space, \t \n \v \f \r; a byte >= 0x80 is part of a word, as in SQLite).
# A word's classes are written as what they exclude (ASCII only): the same characters as
# [A-Za-z_\x80-\U0010ffff] and [A-Za-z0-9_$\x80-\U0010ffff], but re compiles a class spanning all of Unicode in
# about 10 ms (its charset optimiser walks the range), and this module is imported by every backup and every
# check child: the negated ASCII class compiles in well under a millisecond (test_schemaguard holds both equal).
WORD_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"  # A-Z a-z _ and every character from \x80 on
WORD_PART = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # those, 0-9 and $
_TOKEN = re.compile(
    r"""(?P<space>[ \t\n\v\f\r]+)"""
    r"""|(?P<comment>--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z))"""
    r"""|(?P<string>[xX]?'(?:[^']|'')*(?:'|\Z))"""
    r"""|(?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))"""
    rf"""|(?P<word>{WORD_START}{WORD_PART}*)"""
    r"""|(?P<other>.)""",
    re.DOTALL,
)


def sql_words(sql: str) -> list[str]:
    """The tokens of `sql` as SQLite reads them, comments and whitespace dropped: an unquoted word (a keyword
    or a bare name) upper-cased (ASCII), anything else (a quoted name, a string, a number, an operator) as "",
    so that no quoted text can pass for a keyword. An unterminated comment, string or quoted name runs to
    the end, as in SQLite. Never raises for a str."""
    out: list[str] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind == "word":
            out.append(m.group().upper() if m.group().isascii() else "")
        elif kind not in ("space", "comment"):
            out.append("")
    return out


def _virtual(words: list[str]) -> bool:
    """A virtual table's definition (its module's code runs on every read and write of it): see schema_facts."""
    return words[:3] == ["CREATE", "VIRTUAL", "TABLE"]


def _conflict(words: list[str]) -> bool:
    """A conflict clause (ON CONFLICT REPLACE deletes a row on a plain INSERT; IGNORE drops one): the keywords
    ON CONFLICT anywhere in a table's definition (nowhere else in CREATE TABLE can they follow each other)."""
    return any(a == "ON" and b == "CONFLICT" for a, b in zip(words, words[1:], strict=False))


# SQLite's own tables (never a table JobMatcher's schema guard asks about: see schemaguard).
INTERNAL_TABLE = re.compile(r"sqlite_(sequence|stat[1-4])", re.ASCII)


class ChildCheckCrashed(Exception):
    """The child died while reading the file (SIGBUS: a read error or a file cut short under it)."""

    def __init__(self, signal_name: str, detail: str) -> None:
        super().__init__(f"the check stopped with {signal_name}: {detail}")
        self.signal_name = signal_name
        self.detail = detail


@dataclass
class CheckResult:
    """What the check found. `error` is SQLite's refusal to read the file at all (problems then empty)."""

    problems: list[str]
    tables: list[str]
    revision: str | None
    error: str | None = None
    # The schema facts of the file for the schema guard (schema_facts' shape; empty when it could not be read).
    schema: dict = field(default_factory=dict)
    seconds: float = 0.0
    in_child: bool = False
    # The child's memory as /proc reported it at its end (MB): peak resident, of which file-backed
    # (the mapped database, page cache shared with the kernel) and anonymous (its own heap).
    child_memory: dict = field(default_factory=dict)


def check(
    path: Path,
    max_errors: int = 20,
    in_child: bool | None = None,
    integrity: bool = True,
    spare: SpareChild | None = None,
) -> CheckResult:
    """Integrity check (unless `integrity` is False), table names and schema revision of the SQLite
    file `path`, opened read-only and immutable: start() and wait for its result.

    Raises ChildCheckCrashed when the child is killed by a signal while it reads the file.
    """
    with start(path, max_errors, in_child, integrity, spare) as pending:
        return pending.result()


def start(
    path: Path,
    max_errors: int = 20,
    in_child: bool | None = None,
    integrity: bool = True,
    spare: SpareChild | None = None,
) -> PendingCheck:
    """Start the check of `path` (see check()); its result() waits for it. Start it before this process
    starts threads: a forked child is only made while this process has no other thread.

    `in_child`: None chooses by size: a child from CHILD_MIN_BYTES on, and from FORK_MIN_BYTES on
    when it can be forked (Linux, no other thread: a forked copy costs about 5 ms where starting an
    interpreter costs about 15 ms); without `integrity` always in-process (reading the schema touches
    a few pages). A child is `spare` (a SpareChild started earlier) if it is unused and ready (or, when no
    fork is possible, still starting), else forked when that is possible, else started. A ready spare also
    checks a file below those sizes. If no child can be started (OSError), the check runs in this
    process without memory mapping. Never raises for the check itself (result() does).
    """
    path = Path(path)
    t0 = time.perf_counter()
    can_fork = _can_fork()  # reads /proc/self/status: once per check
    spare_ready = spare is not None and spare.ready()
    if in_child is None:
        size = path.stat().st_size if integrity else 0
        # A spare child that is ready (its start already paid) checks a file of any size: mapped, it is faster
        # than the check here, and a read error kills only the child.
        in_child = integrity and (size >= CHILD_MIN_BYTES or (size >= FORK_MIN_BYTES and can_fork) or spare_ready)
    if in_child:
        # A spare still starting is waited for only where no fork can be made: a forked copy (5 ms) beats the
        # rest of an interpreter's start (up to a packaged app's whole start-up).
        ready = spare.take() if spare is not None and (spare_ready or not can_fork) else None
        if ready is not None:
            _hand_over(ready, path, max_errors)  # it starts now, while the caller goes on (its checksums)
            return PendingCheck(partial(_finish_started, ready, t0), partial(_kill, ready), in_child=True)
        try:
            if can_fork:
                return _fork(path, max_errors, t0)
            proc = subprocess.Popen(
                _child_command(path, max_errors),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=_child_env(),
            )
            return PendingCheck(partial(_finish_started, proc, t0), partial(_kill, proc), in_child=True)
        except OSError:
            pass  # cannot start a process (out of processes or memory): the slower, unmapped check

    def here() -> CheckResult:
        result = _run_check(str(path), max_errors, mmap=False, integrity=integrity)
        result.pop("memory", None)
        return CheckResult(**result, seconds=time.perf_counter() - t0)

    return PendingCheck(here)


class PendingCheck:
    """A check start() began: result() waits for it (once). As a context manager, a child whose result
    was never asked for (the caller failed meanwhile) is killed and reaped on leaving. `in_child`: it runs in
    a child process already (True), or runs in this process when result() is called (False)."""

    def __init__(
        self, finish: Callable[[], CheckResult], cancel: Callable[[], None] | None = None, in_child: bool = False
    ) -> None:
        self._finish: Callable[[], CheckResult] | None = finish
        self._cancel = cancel
        self.in_child = in_child

    def result(self) -> CheckResult:
        """The check's result. Raises ChildCheckCrashed (see check()); RuntimeError if asked twice."""
        finish, self._finish = self._finish, None
        if finish is None:
            raise RuntimeError("the check's result was taken already")
        return finish()

    def close(self) -> None:
        """Kill and reap a child whose result was not asked for. Never raises."""
        if self._finish is not None:
            self._finish = None
            if self._cancel is not None:
                with contextlib.suppress(OSError, ChildProcessError):
                    self._cancel()

    def __enter__(self) -> PendingCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _can_fork() -> bool:
    """Whether a forked child can check here: Linux (elsewhere system libraries may not survive a fork
    without exec) and this process has exactly one thread, its own: another thread could hold a lock
    (SQLite's, the allocator's) that the child would then wait for forever."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1]) == 1
    except (OSError, ValueError):
        pass
    return False


def _fork(path: Path, max_errors: int, t0: float) -> PendingCheck:
    """The check in a forked copy of this process (SQLite and the code already loaded): it maps the file,
    checks it and writes the result as JSON to a pipe. A SIGBUS kills the copy, not this process."""
    from .lock import close_inherited_locks  # here, not at the top: run as a script, this file imports no package

    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # the child: never returns into the caller's code
        code = 70
        try:
            # No garbage collection here: finalizing one of the parent's objects (a connection whose
            # close checkpoints its database) in this copy would act on the parent's files.
            gc.disable()
            faulthandler.disable()  # a SIGBUS here is the answer, not a crash to report on the parent's stderr
            os.close(r)
            # the parent's locks (the data folder's instance lock, the swap lock...) stay the parent's: if it is
            # killed, this copy must not keep its data folder "already running" until the check ends
            close_inherited_locks()
            result = _run_check(str(path), max_errors, mmap=True)
            result.setdefault("memory", _memory())
            out = memoryview(json.dumps(result).encode())
            while out:
                out = out[os.write(w, out) :]
            code = 0
        finally:
            os._exit(code)
    os.close(w)

    def finish() -> CheckResult:
        try:
            with open(r, "rb", closefd=False) as f:
                out = f.read()
        finally:
            os.close(r)
            _, status = os.waitpid(pid, 0)
        return _outcome(out, b"", os.waitstatus_to_exitcode(status), t0)

    def cancel() -> None:
        os.close(r)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    return PendingCheck(finish, cancel, in_child=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.communicate()


def _finish_started(proc: subprocess.Popen[bytes], t0: float) -> CheckResult:
    out, err = proc.communicate()
    return _outcome(out, err, proc.returncode, t0)


def _hand_over(proc: subprocess.Popen[bytes], path: Path, max_errors: int) -> None:
    """Give a spare child its file (a few hundred bytes: the pipe takes them without waiting) and close its
    standard input; result() then only collects the answer. A child that died meanwhile: its answer says so."""
    stdin, proc.stdin = proc.stdin, None  # communicate() must not flush or close it again
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError):
        stdin.write(json.dumps([str(path), max_errors]).encode())
    with contextlib.suppress(BrokenPipeError):
        stdin.close()


class SpareChild:
    """A check child started before its file exists (a backup's copy is still being made, `backup verify` is
    still importing the engine): its interpreter start-up (about 15 ms, on the other core) then overlaps that
    work. It says it is ready with one line on its standard output, then waits for the file's name on its
    standard input; check(spare=...) hands it over. It holds nothing until then (no file, about 10 MB of
    memory) and ends by itself when its standard input closes: when this process ends, however it ends
    (even by SIGKILL), the child reads end-of-file and exits. Use it as a context manager: one left unused
    is killed and reaped on leaving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(  # OSError when no process can start
            _child_command_stdin(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
        )

    @classmethod
    def start(cls) -> SpareChild | None:
        """A spare child, or None when no process can be started now (the check then starts its own or
        runs in this process)."""
        try:
            return cls()
        except OSError:
            return None

    def ready(self) -> bool:
        """Has the child started (its interpreter loaded, waiting for a file)? Never waits; never raises.
        False where pipes cannot be polled (Windows: there it is used only for files a child checks anyway)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdout is None or os.name != "posix":
                return False
            import select

            try:
                return bool(select.select([proc.stdout], [], [], 0)[0]) and proc.poll() is None
            except (OSError, ValueError):
                return False

    def take(self) -> subprocess.Popen[bytes] | None:
        """The child, once (None after it was taken or closed, or when it has ended: killed while it waited)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is not None:
            proc.communicate()  # reaped, its pipes closed: a check then starts its own child
            return None
        return proc

    def close(self) -> None:
        proc = self.take()
        if proc is not None:
            proc.kill()
            proc.communicate()  # reaps it and closes its pipes

    def __enter__(self) -> SpareChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _outcome(out: bytes, err: bytes, returncode: int, t0: float) -> CheckResult:
    """A child's answer: its result, or ChildCheckCrashed when it was killed or did not answer."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = (
            "a read error, or the file was cut short while it was read"
            if -returncode == signal.SIGBUS
            else "the check process was killed"
        )
        raise ChildCheckCrashed(name, why)
    try:
        result = json.loads(out)
    except ValueError:
        raise ChildCheckCrashed(
            f"exit code {returncode}", err.decode("utf-8", "replace").strip()[-300:] or "no answer"
        ) from None
    memory = result.pop("memory", {})
    return CheckResult(**result, seconds=time.perf_counter() - t0, in_child=True, child_memory=memory)


def _child_command_stdin() -> list[str]:
    """A child that reads [path, max_errors] as JSON from its standard input (SpareChild)."""
    return _child_command_args([STDIN_ARG])


def _child_command(path: Path, max_errors: int) -> list[str]:
    return _child_command_args([str(path), str(max_errors)])


def _child_command_args(args: list[str]) -> list[str]:
    # -I: no user site or PYTHON* variables; -S: no site-packages (the child needs only the standard library)
    return child_command(CHILD_FLAG, ["-I", "-S", str(Path(__file__).resolve())], args)


def child_command(flag: str, run: list[str], args: list[str]) -> list[str]:
    """The command that starts one of JobMatcher's helper processes with `args`: in the packaged app
    (sys.frozen) the bundle's executable with `flag` first (build/entry.py dispatches on it), otherwise
    this interpreter with `run` (its options and a script, or `-m` and a module). Never raises."""
    if getattr(sys, "frozen", False):
        return [sys.executable, flag, *args]
    return [sys.executable, *run, *args]


def _child_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _run_check(path: str, max_errors: int, mmap: bool, integrity: bool = True) -> dict:
    """The check itself (in the child, or in-process for small files), telling a read error from damage.

    SQLite reports a read that fails with EIO as SQLITE_CORRUPT ("database disk image is malformed"),
    the words for a damaged file: so when the check does not pass, the file is read once more, plainly
    (no mapping: an error is an OSError here, never a SIGBUS), and a file that cannot be read is
    reported as SQLite reports other read errors, "disk I/O error" (verify: reason read-error).
    """
    result = _check_once(path, max_errors, mmap, integrity)
    if result["error"] is not None or result["problems"]:
        unreadable = read_error(path)
        if unreadable is not None:
            return {"problems": [], "tables": [], "revision": None, "error": unreadable}
    return result


def read_error(path: str | Path) -> str | None:
    """Why `path` cannot be read to its end ("disk I/O error: ..."), or None when it can (or fails otherwise).
    Reads it plainly, never mapped: an unreadable stretch is an OSError here, not a SIGBUS. Never raises."""
    try:
        with open(path, "rb", buffering=0) as f:
            buffer = bytearray(1 << 20)
            while f.readinto(buffer):
                pass
    except OSError as e:
        # Only the errors SQLite turns into "malformed" (its unix VFS: EIO, ENXIO, ERANGE); any other (the file
        # gone, no permission) keeps SQLite's own words, which name it.
        if e.errno in (errno.EIO, errno.ENXIO, errno.ERANGE):
            return f"disk I/O error: {e.strerror or e}"
    return None


def _check_once(path: str, max_errors: int, mmap: bool, integrity: bool = True) -> dict:
    uri = Path(path).absolute().as_uri() + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        return {"problems": [], "tables": [], "revision": None, "error": str(e)}
    # A damaged file can hold text that is not UTF-8 (integrity_check quotes names from its schema).
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        conn.execute("PRAGMA query_only=1")
        # SQL functions in the file's schema (an index expression, a view) may only be the innocuous ones
        conn.execute("PRAGMA trusted_schema=OFF")
        if mmap:
            conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        _pause_if_asked(conn)
        rows = [r[0] for r in conn.execute(f"PRAGMA integrity_check({int(max_errors)})")] if integrity else ["ok"]
        conn.set_progress_handler(None, 0)
        facts = schema_facts(conn)  # the one read of the schema: the tables and the schema guard's facts
        tables = [o[1] for o in facts["objects"] if o[0] == "table"]
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        memory = _memory() if mmap else None  # while the mapping is still counted
    except sqlite3.Error as e:
        return {"problems": [], "tables": [], "revision": None, "error": str(e)}
    except UnicodeDecodeError as e:  # SQLite's error message quotes damaged schema text that is not UTF-8
        return {"problems": [], "tables": [], "revision": None, "error": e.object.decode("utf-8", "replace")}
    finally:
        conn.close()
    result = {
        "problems": [] if rows == ["ok"] else rows,
        "tables": tables,
        "revision": revision,
        "error": None,
        "schema": facts,
    }
    if memory is not None:
        result["memory"] = memory
    return result


def schema_facts(conn: sqlite3.Connection) -> dict:
    """What the schema guard (schemaguard.foreign_objects) compares, from one read of sqlite_master and, for
    each ordinary table, its columns (pragma table_xinfo) and foreign keys (pragma foreign_key_list): well
    under a millisecond for JobMatcher's schema. Shape (JSON-ready): {"objects": [[type, name, tbl_name,
    virtual 0/1, conflict clause 0/1], ...], "columns": {table: [name, ...]}, "foreign_keys": {table:
    [referenced table, ...]}, "shapes": {table: [row id column or "", {column: [affinity, hidden 0-3]}]}}.
    Raises sqlite3.Error as SQLite does.
    """
    objects = []
    for t, n, tb, sql in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"):
        words = sql_words(sql) if isinstance(sql, str) else []
        objects.append([t, n, tb, 1 if _virtual(words) else 0, 1 if _conflict(words) else 0])
    columns: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {}
    shapes: dict[str, list] = {}
    for t, n, _, virtual, _ in objects:
        if t == "table" and not virtual and not INTERNAL_TABLE.fullmatch(n):
            # never a virtual table's: asking for its columns would run its module
            info = list(conn.execute("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)", (n,)))
            columns[n] = [r[0] for r in info]
            refs = [r[0] for r in conn.execute('SELECT "table" FROM pragma_foreign_key_list(?)', (n,))]
            if refs:
                keys[n] = refs
            # A primary key of one column without an index of its own ('pk') is the row id itself (INTEGER
            # PRIMARY KEY): the id an INSERT reports (lastrowid) is then the row's id. SQLite's rule, asked
            # of SQLite instead of read from the text (INT, DESC, WITHOUT ROWID: each makes a 'pk' index).
            pk = [str(r[0]) for r in sorted((r for r in info if r[2]), key=lambda r: r[2])]
            own_index = any(r[0] == "pk" for r in conn.execute("SELECT origin FROM pragma_index_list(?)", (n,)))
            alias = pk[0] if len(pk) == 1 and not own_index else ""
            shapes[n] = [alias, {str(r[0]): [affinity(r[1]), r[3]] for r in info}]
    return {"objects": objects, "columns": columns, "foreign_keys": keys, "shapes": shapes}


def affinity(declared: object) -> str:
    """SQLite's type affinity of a column declared with type `declared` (its rules, in order): "INTEGER",
    "TEXT", "BLOB", "REAL" or "NUMERIC". The kind of value SQLite turns a written value into ('007' into 7
    in an INTEGER or NUMERIC column), so the same for a column whichever spelling made it. Never raises."""
    t = str(declared or "").upper()
    if "INT" in t:
        return "INTEGER"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "REAL"
    return "NUMERIC"


def _pause_if_asked(conn: sqlite3.Connection) -> None:
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        return
    state = {"paused": False}

    def hold() -> int:
        if not state["paused"]:
            state["paused"] = True
            Path(folder, f".ready-{os.getpid()}").write_text(str(os.getpid()))
            os.replace(Path(folder, f".ready-{os.getpid()}"), Path(folder, "ready"))
            deadline = time.monotonic() + 30
            while not Path(folder, "go").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return 0

    conn.set_progress_handler(hold, 1000)


def _memory() -> dict:
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "RssAnon", "RssFile"):
                    out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return {"peak_rss_mb": out.get("VmHWM"), "anon_mb": out.get("RssAnon"), "file_mb": out.get("RssFile")}


def child_main(argv: list[str]) -> int:
    """The child: check argv[0] (at most argv[1] problems), print the result as JSON. With the single
    argument STDIN_ARG, the file and the number come as JSON [path, max_errors] on standard input
    (a SpareChild; EOF without them: nothing to do)."""
    if argv == [STDIN_ARG]:
        sys.stdout.write("\n")  # ready (SpareChild.ready); JSON allows the blank line before the result
        sys.stdout.flush()
        text = sys.stdin.read()
        if not text:
            return 0
        path, max_errors = json.loads(text)
        argv = [path, str(max_errors)]
    result = _run_check(argv[0], int(argv[1]), mmap=True)
    result.setdefault("memory", _memory())
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    # Done: nothing of this process needs tearing down, and the interpreter's own shutdown (several ms) would
    # be waited for by the caller, on the check's clock.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
