"""The integrity check's child process: the check itself and the schema facts, with the standard library only.

checkproc starts this file as a script in a fresh interpreter (`python -I -S checkchild.py ...`, or through
the packaged app's entry point), forks a copy that calls _run_check, or calls it in-process for a small file;
the schema guard reads a definition's tokens with sql_words and a database's facts with schema_facts. Kept apart
from checkproc so that a fresh child imports only what the check needs (issue 13: the child's start-up runs
beside a backup's copy and its hashing on a 2-core machine): os, sys, json, re, errno, time and sqlite3, no
dataclasses, typing, pathlib or subprocess (their imports took about half of its start-up).
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import sys
import time

# SQLite caps mmap_size at SQLITE_MAX_MMAP_SIZE (2 GB by default); pages past it are read with pread.
_MMAP_BYTES = 1 << 40
# The page cache of a check that reads with pread (in-process: a small file, or no child could start), in KiB
# (PRAGMA cache_size=-N). SQLite's default, 2 MB, is filled once in a fresh process: every one of its pages is a
# page fault of fresh memory (about 3 us each on the 2-core test machine), and integrity_check gains little from
# keeping more pages (a miss is a pread from the system's page cache, the file's pages being warm). Measured in
# fresh processes, 25 alternating runs each (issue 13): CPU of integrity_check at 10 MB median 12.2 ms with 2 MB
# (520 faults), 10.5 ms with 500 KiB (131 faults), 10.8 ms with 1 MB, 17.2 ms with 8 MB; at 100 MB not slower.
_UNMAPPED_CACHE_KIB = 512
# The child's argument saying that its file comes on standard input (SpareChild).
STDIN_ARG = "-"
# Tests only: the child stops in the middle of its check until this folder holds a file named "go".
PAUSE_ENV = "JOBMATCHER_TEST_CHECK_PAUSE"
# A check in a child process ends when the process that wanted it is gone (a restore or verify killed): the
# parent's id is compared with the present one every this many SQLite steps (a few milliseconds of a check; a
# getppid per call costs nothing measurable). Without it the orphan read the whole file on (Y9d's kind: a
# 1 GB check is seconds of a disk's reads for no one).
_PARENT_STEPS = 200_000
# The started child's parent, from the process that starts it: one gone before the child's check starts is seen.
PARENT_ENV = "JOBMATCHER_CHECK_PARENT"
_parent: list[int] = []  # the process whose check this one runs (watch_parent); empty: this is not a child


def watch_parent(pid: int) -> None:
    """This process is a check child of `pid`: its check stops (the process ends) once `pid` is no longer its
    parent. Called in the child before the check. Never raises."""
    _parent[:] = [pid]


def _end_if_orphaned() -> int:
    if _parent and os.getppid() != _parent[0]:
        os._exit(71)  # the parent is gone: nothing to answer, nothing of its to finalize (a forked copy)
    return 0


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
_TOKEN_GRAMMAR = (
    r"""(?P<space>[ \t\n\v\f\r]+)"""
    r"""|(?P<comment>--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z))"""
    r"""|(?P<string>[xX]?'(?:[^']|'')*(?:'|\Z))"""
    r"""|(?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))"""
    rf"""|(?P<word>{WORD_START}{WORD_PART}*)"""
    r"""|(?P<other>.)"""
)
_token: re.Pattern[str] | None = None


def token_pattern() -> re.Pattern[str]:
    """SQLite's tokens as one pattern (its groups: space, comment, string, quoted, word, other), compiled at its
    first use: about 0.5 ms that a check whose definitions name neither keyword the guard looks for never pays
    (definition_flags). Never raises."""
    global _token
    if _token is None:
        _token = re.compile(_TOKEN_GRAMMAR, re.DOTALL)
    return _token


def sql_words(sql: str) -> list[str]:
    """The tokens of `sql` as SQLite reads them, comments and whitespace dropped: an unquoted word (a keyword
    or a bare name) upper-cased (ASCII), anything else (a quoted name, a string, a number, an operator) as "",
    so that no quoted text can pass for a keyword. An unterminated comment, string or quoted name runs to
    the end, as in SQLite. Never raises for a str."""
    out: list[str] = []
    for m in token_pattern().finditer(sql):
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


def definition_flags(sql: object) -> tuple[int, int]:
    """(1 if `sql` defines a virtual table else 0, 1 if it holds a conflict clause else 0), read from its tokens
    (sql_words, _virtual, _conflict); (0, 0) for no text. A definition in which neither VIRTUAL nor CONFLICT
    appears in any case is not tokenized: neither keyword can be one of its tokens, as a word token is the
    text's own ASCII letters upper-cased (str.upper keeps ASCII letters ASCII; a non-ASCII letter it turns into
    one only adds a text that is then tokenized, never hides one). JobMatcher's own definitions name neither,
    so an ordinary check compiles no token pattern. Never raises."""
    if not isinstance(sql, str):
        return 0, 0
    upper = sql.upper()
    if "VIRTUAL" not in upper and "CONFLICT" not in upper:
        return 0, 0
    words = sql_words(sql)
    return (1 if _virtual(words) else 0), (1 if _conflict(words) else 0)


# SQLite's own tables (never a table JobMatcher's schema guard asks about: see schemaguard).
INTERNAL_TABLE = re.compile(r"sqlite_(sequence|stat[1-4])", re.ASCII)


# Path.as_uri's encoding (RFC 3986 unreserved characters and "/" kept, every other byte %-escaped) without
# importing pathlib (and, through it, urllib.parse and ipaddress) into the child.
_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")


def file_uri(path: str | os.PathLike[str]) -> str:
    """A file: URI naming `path` (made absolute against the working folder, not resolved), as
    pathlib.Path(path).absolute().as_uri() makes it. Raises ValueError for a NUL byte, as SQLite would."""
    if os.name == "nt":  # drive letters and backslashes: pathlib's rules there
        from pathlib import Path

        return Path(path).absolute().as_uri()
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("embedded null byte")
    if not raw.startswith(b"/"):
        raw = os.getcwdb() + b"/" + raw
    raw = b"/" + b"/".join(part for part in raw.split(b"/") if part not in (b"", b"."))  # as pathlib reads it
    return "file://" + "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in raw)


def _run_check(path: str, max_errors: int, mmap: bool, integrity: bool = True, exiting: bool = False) -> dict:
    """The check itself (in the child, or in-process for small files), telling a read error from damage.

    `exiting`: this process ends right after it answers (a check's child): the connection is left open (_LEFT_OPEN)
    and the kernel drops it with the process, after the answer. Closing it unmaps the file and frees SQLite's
    page cache: 0.8 ms of a 10 MB check's 6-7 ms, measured on the 2-core test machine (issue 13).

    SQLite reports a read that fails with EIO as SQLITE_CORRUPT ("database disk image is malformed"),
    the words for a damaged file: so when the check does not pass, the file is read once more, plainly
    (no mapping: an error is an OSError here, never a SIGBUS), and a file that cannot be read is
    reported as SQLite reports other read errors, "disk I/O error" (verify: reason read-error).
    """
    result = _check_once(path, max_errors, mmap, integrity, exiting)
    if result["error"] is not None or result["problems"]:
        unreadable = read_error(path)
        if unreadable is not None:
            return {"problems": [], "tables": [], "revision": None, "error": unreadable}
    return result


def read_error(path: str | os.PathLike[str]) -> str | None:
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


# The connections of a check whose process ends right after it answers (_run_check's `exiting`), kept referenced so
# that nothing closes them before the process ends.
_LEFT_OPEN: list[sqlite3.Connection] = []


def _check_once(path: str, max_errors: int, mmap: bool, integrity: bool = True, exiting: bool = False) -> dict:
    uri = file_uri(path) + "?mode=ro&immutable=1"
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
        else:
            conn.execute(f"PRAGMA cache_size=-{_UNMAPPED_CACHE_KIB}")
        if _parent:  # a child: ends with the process that asked for the check (_end_if_orphaned)
            conn.set_progress_handler(_end_if_orphaned, _PARENT_STEPS)
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
        if exiting:
            _LEFT_OPEN.append(conn)
        else:
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
        objects.append([t, n, tb, *definition_flags(sql)])
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
            ready = os.path.join(folder, f".ready-{os.getpid()}")
            with open(ready, "w") as f:
                f.write(str(os.getpid()))
            os.replace(ready, os.path.join(folder, "ready"))
            deadline = time.monotonic() + 30
            while not os.path.exists(os.path.join(folder, "go")) and time.monotonic() < deadline:
                # this handler replaces _end_if_orphaned: a paused child still ends with its parent, as an
                # unpaused one does (else it held the check's lock 30 s after its parent was killed: a status
                # read meanwhile started no new check, a flaky test_interrupted_check). A test that shows what
                # an orphan outliving its parent (stuck in a slow read) holds asks for it with 'outlive'.
                if not os.path.exists(os.path.join(folder, "outlive")):
                    _end_if_orphaned()
                time.sleep(0.01)
        return 0

    conn.set_progress_handler(hold, 1000)


def _memory() -> dict:
    """This process's peak resident memory and its file-backed and anonymous parts, in MB (None where /proc
    does not say). One unbuffered read of /proc/self/status, parsed as bytes (a text file object and its
    line loop cost several times more: this runs on the check's clock). Never raises."""
    out = {}
    try:
        fd = os.open("/proc/self/status", os.O_RDONLY)
        try:
            text = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        for line in text.split(b"\n"):
            key, _, value = line.partition(b":")
            if key in (b"VmHWM", b"RssAnon", b"RssFile"):
                out[key.decode()] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"peak_rss_mb": out.get("VmHWM"), "anon_mb": out.get("RssAnon"), "file_mb": out.get("RssFile")}


def child_main(argv: list[str]) -> int:
    """The child: check argv[0] (at most argv[1] problems), print the result as JSON. With the single
    argument STDIN_ARG, the file and the number come as JSON [path, max_errors] on standard input
    (a SpareChild; EOF without them: nothing to do)."""
    try:  # the process that started this one (gone already: the check stops at its first steps)
        watch_parent(int(os.environ.get(PARENT_ENV) or os.getppid()))
    except ValueError:
        watch_parent(os.getppid())
    if argv == [STDIN_ARG]:
        sys.stdout.write("\n")  # ready (SpareChild.ready); JSON allows the blank line before the result
        sys.stdout.flush()
        text = sys.stdin.read()
        if not text:
            return 0
        path, max_errors = json.loads(text)
        argv = [path, str(max_errors)]
    result = _run_check(argv[0], int(argv[1]), mmap=True, exiting=True)
    if "memory" not in result:  # measured while the file was still mapped, when it was checked mapped
        result["memory"] = _memory()
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    # Done: nothing of this process needs tearing down, and the interpreter's own shutdown (several ms) would
    # be waited for by the caller, on the check's clock. The output is closed first: the answer is complete,
    # and a caller reading to its end need not wait for this process's teardown either
    # (checkproc._finish_started).
    os.close(sys.stdout.fileno())
    os.close(sys.stderr.fileno())
    os._exit(0)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
