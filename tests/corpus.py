"""Broken and hostile backup files, made from a real backup (shared by the refusal tests)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import zipfile
from pathlib import Path


def _copy(good: Path, dest: Path) -> Path:
    shutil.copy(good, dest)
    return dest


def _edit(good: Path, dest: Path, sql: str) -> Path:
    _copy(good, dest)
    conn = sqlite3.connect(dest)
    conn.executescript(sql)
    conn.close()
    return dest


def _truncate(good: Path, dest: Path, keep: int) -> Path:
    dest.write_bytes(good.read_bytes()[:keep])
    return dest


def _smash_page(good: Path, dest: Path, page_no: int) -> Path:
    data = bytearray(good.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    start = (page_no - 1) * page
    data[start : start + page] = os.urandom(page)
    dest.write_bytes(bytes(data))
    return dest


def _flip_bits(good: Path, dest: Path, page_no: int) -> Path:
    data = bytearray(good.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    start = (page_no - 1) * page
    for off in (0, 3, 5, 8):  # the b-tree page header: type, cell count, content start
        data[start + off] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def broken_files(good: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, expected refusal reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = good.stat().st_size
    out: dict[str, tuple[Path, str]] = {}

    def add(name, path, reason):
        out[name] = (path, reason)

    (folder / "empty.db").write_bytes(b"")
    add("empty", folder / "empty.db", "empty")
    (folder / "random.db").write_bytes(os.urandom(8192))
    add("random-bytes", folder / "random.db", "not-sqlite")
    (folder / "notes.txt").write_text("my job notes\n" * 100)
    add("text-file", folder / "notes.txt", "not-sqlite")
    with zipfile.ZipFile(folder / "archive.zip", "w") as z:
        z.writestr("a.txt", "hello")
    add("zip", folder / "archive.zip", "not-sqlite")
    other = folder / "other-app.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    c.execute("INSERT INTO notes (body) VALUES ('hi')")
    c.commit()
    c.close()
    add("other-app", other, "not-jobmatcher")
    for frac in (0.1, 0.5, 0.9):
        keep = int(size * frac)
        add(f"truncated-{frac}", _truncate(good, folder / f"trunc-{frac}.db", keep), "truncated")
    add("truncated-header", _truncate(good, folder / "trunc-50.db", 50), "truncated")
    add("smashed-page", _smash_page(good, folder / "smashed.db", 3), "corrupt")
    add("flipped-bits", _flip_bits(good, folder / "flipped.db", 2), "corrupt")
    hdr = bytearray(good.read_bytes())
    hdr[0:16] = b"SQLite format 2\x00"
    (folder / "bad-header.db").write_bytes(bytes(hdr))
    add("damaged-header", folder / "bad-header.db", "damaged-header")
    add("missing-table", _edit(good, folder / "no-skills.db", "DROP TABLE skills;"), "missing-tables")
    add(
        "newer-schema",
        _edit(good, folder / "future.db", "UPDATE alembic_version SET version_num='9999_from_the_future';"),
        "newer-schema",
    )
    d = folder / "a-folder.db"
    d.mkdir()
    add("directory", d, "not-a-file")
    fifo = folder / "pipe.db"
    os.mkfifo(fifo)
    add("fifo", fifo, "not-a-file")
    link = folder / "link.db"
    link.symlink_to(folder / "notes.txt")
    add("symlink-elsewhere", link, "not-sqlite")
    add("missing", folder / "nope.db", "missing")
    sparse = folder / "sparse.db"
    with open(sparse, "wb") as f:
        f.truncate(2 * 1024**3)  # 2 GB of holes, no header
    add("large-sparse", sparse, "not-sqlite")
    add_more_broken(good, folder, add)
    return out


# The cases added for issue 5 (hostile files), kept apart so their tests can name them.
MORE_BROKEN = [
    "gzip",
    "truncated-one-page",
    "truncated-last-byte",
    "truncated-100",
    "dangling-symlink",
    "symlink-loop",
    "char-device",
    "socket",
    "name-too-long",
    "nul-in-name",
    "unsaved-wal",
    "empty-sqlite",
    "no-revision",
    "non-utf8-schema",
]


def add_more_broken(good: Path, folder: Path, add) -> None:
    import gzip
    import socket

    data = good.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    (folder / "backup.db.gz").write_bytes(gzip.compress(data))
    add("gzip", folder / "backup.db.gz", "not-sqlite")
    add("truncated-one-page", _truncate(good, folder / "one-page.db", page), "truncated")
    add("truncated-last-byte", _truncate(good, folder / "minus-one.db", len(data) - 1), "truncated")
    add("truncated-100", _truncate(good, folder / "header-only.db", 100), "truncated")
    dangling = folder / "dangling.db"
    dangling.symlink_to(folder / "was-deleted.db")
    add("dangling-symlink", dangling, "missing")
    loop_a, loop_b = folder / "loop-a.db", folder / "loop-b.db"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    add("symlink-loop", loop_a, "unreadable")
    add("char-device", Path("/dev/null"), "not-a-file")
    sock_path = folder / "s.db"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()  # the socket file stays in the folder
    add("socket", sock_path, "not-a-file")
    add("name-too-long", folder / ("x" * 300 + ".db"), "unreadable")
    add("nul-in-name", Path(str(folder / "a") + "\x00b.db"), "missing")
    # a database still in use: its newest changes only in the -wal copied beside it
    live = folder / "in-use" / "live.db"
    live.parent.mkdir()
    _copy(good, live)
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("UPDATE user_profile SET full_name = 'Only In The WAL'")
    copied = folder / "copied-while-in-use.db"
    shutil.copy(live, copied)
    shutil.copy(str(live) + "-wal", str(copied) + "-wal")
    conn.close()
    add("unsaved-wal", copied, "unsaved-wal")
    empty_db = folder / "empty-sqlite.db"
    c = sqlite3.connect(empty_db)
    c.execute("PRAGMA user_version = 7")  # writes the header: a valid SQLite file with no tables
    c.commit()
    c.close()
    add("empty-sqlite", empty_db, "not-jobmatcher")
    add("no-revision", _edit(good, folder / "no-revision.db", "DELETE FROM alembic_version;"), "not-jobmatcher")
    # one bit flipped in a table's CREATE statement: SQLite's error message then quotes bytes that are not UTF-8
    raw = bytearray(data)
    at = raw.index(b"PRIMARY KEY", 0, page)
    raw[at + 8] ^= 0x80
    (folder / "non-utf8-schema.db").write_bytes(bytes(raw))
    add("non-utf8-schema", folder / "non-utf8-schema.db", "corrupt")


def valid_variants(good: Path, folder: Path) -> dict[str, Path]:
    """Files that must be accepted."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    odd = folder / "my backups ünïcødé" / "Sicherung vom März.db"
    odd.parent.mkdir()
    out["spaces-and-non-ascii"] = _copy(good, odd)
    small_pages = folder / "page-1024.db"
    src = sqlite3.connect(good)
    dst = sqlite3.connect(small_pages)
    dst.execute("PRAGMA page_size=1024")
    src.backup(dst)  # the backup API keeps the destination's... page size of the source; VACUUM fixes it
    dst.execute("PRAGMA journal_mode=DELETE")
    dst.execute("PRAGMA page_size=1024")
    dst.execute("VACUUM")
    dst.close()
    src.close()
    out["different-page-size"] = small_pages
    big_pages = folder / "page-65536.db"
    src = sqlite3.connect(good)
    dst = sqlite3.connect(big_pages)
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=DELETE")
    dst.execute("PRAGMA page_size=65536")
    dst.execute("VACUUM")
    dst.close()
    src.close()
    out["page-size-65536"] = big_pages
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    link = folder / "link-to-a-backup.db"
    link.symlink_to(_copy(good, elsewhere / "real.db"))
    out["symlink-to-a-backup"] = link
    wal_mode = folder / "wal-mode.db"  # closed cleanly in WAL mode: no -wal beside it
    c = sqlite3.connect(_copy(good, wal_mode))
    c.execute("PRAGMA journal_mode=WAL")
    c.close()
    out["wal-mode-closed-cleanly"] = wal_mode
    return out


# -- manifests and settings files, sound and hostile (tests/test_core_schemas.py: the models and the core schemas
# of the backup list must accept and refuse the same ones, with the same values) --------------------------------


def manifest_cases(real: dict) -> dict[str, bytes]:
    """name -> the bytes of a manifest file: `real` (a manifest the engine wrote, as a dict) changed in every way
    a tool, a hand edit, a broken clock or an attacker may change it, plus texts that are no manifest at all."""
    import json

    def edit(**changes) -> bytes:
        body = {**real, **changes}
        for k, v in changes.items():
            if v is _DROP:
                del body[k]
        return json.dumps(body).encode()

    cases: dict[str, bytes] = {"as-written": json.dumps(real).encode(), "indented": json.dumps(real, indent=2).encode()}
    for field in real:
        cases[f"without-{field}"] = edit(**{field: _DROP})
        for name, value in _HOSTILE_VALUES.items():
            cases[f"{field}={name}"] = edit(**{field: value})
    dates = {
        "naive": "2025-03-01T12:00:00",
        "offset": "2025-03-01T12:00:00+05:30",
        "negative-offset": "2025-03-01T00:30:00-11:00",
        "date-only": "2025-03-01",
        "year-1970": "1970-12-31T23:59:59Z",
        "year-1971": "1971-01-01T00:00:00Z",
        "year-9000": "9000-12-31T23:59:59Z",
        "year-9001": "9001-01-01T00:00:00Z",
        "year-9999": "9999-12-31T23:59:59+00:00",
        "year-0001": "0001-01-01T00:00:00Z",
        "edge-offset": "9000-12-31T23:00:00-14:00",
        "unix-seconds": 1700000000,
        "unix-milliseconds": 1700000000000,
        "float-seconds": 1700000000.5,
        "numeric-string": "1700000000",
        "z-lower": "2025-03-01t12:00:00z",
        "space": "2025-03-01 12:00:00",
        "leap-second": "2016-12-31T23:59:60Z",
        "feb-30": "2025-02-30T00:00:00Z",
        "microseconds": "2025-03-01T12:00:00.123456Z",
        "nanoseconds": "2025-03-01T12:00:00.123456789Z",
    }
    for name, value in dates.items():
        cases[f"created_at-{name}"] = edit(created_at=value)
        cases[f"verified_at-{name}"] = edit(verified_at=value)
    for name, value in {
        "upper-hex": "ABCDEF0123456789" * 4,
        "mixed-hex": "AbCdEf0123456789" * 4,
        "not-hex": "not a checksum",
        "empty": "",
        "unicode-upper": "ÀÉÎ",
    }.items():
        cases[f"sha256-{name}"] = edit(sha256=value)
        cases[f"blake3-{name}"] = edit(blake3=value)
    for value in ("manual", "pre-migration", "safety", "auto", "MANUAL", "pre_migration", "other", ""):
        cases[f"type-{value or 'empty'}"] = edit(type=value)
    for name, value in {"zero": 0, "one": 1, "negative": -1, "huge": 10**40, "float-whole": 3.0, "float": 2.5}.items():
        cases[f"sequence-{name}"] = edit(sequence=value)
        cases[f"size_bytes-{name}"] = edit(size_bytes=value)
        cases[f"format-{name}"] = edit(format=value)
    cases["extra-keys"] = edit(seal="x", future_field={"a": [1, 2]}, stored_sha256="ab")
    cases["duplicate-key"] = b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1, "size_bytes": -1}'
    cases["only-required"] = b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1}'
    cases["huge-number-text"] = b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1' + b"0" * 5000 + b"}"
    cases["exponent"] = b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1e3}'
    cases["infinity"] = b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1, "copy_seconds": Infinity}'
    cases["nan"] = b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1, "verify_seconds": NaN}'
    cases["deep-nesting"] = (
        b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    )
    for name, raw in {
        "empty-file": b"",
        "null": b"null",
        "list": b"[]",
        "number": b"1",
        "string": b'"manifest"',
        "truncated": json.dumps(real).encode()[:-7],
        "utf-8-bom": b"\xef\xbb\xbf" + json.dumps(real).encode(),
        "not-utf-8": json.dumps(real).encode().replace(b'"note": "', b'"note": "\xff'),
        "nul": json.dumps(real).encode() + b"\x00",
        "trailing-garbage": json.dumps(real).encode() + b"x",
        "two-objects": json.dumps(real).encode() * 2,
        "utf-16": json.dumps(real).encode("utf-16"),
        "escaped-surrogate": json.dumps({**real, "note": "\ud800"}).encode(),
        "control-in-note": json.dumps({**real, "note": "a\x1b[2Jb\nc"}).encode(),
    }.items():
        cases[name] = raw
    return cases


class _Drop:
    pass


_DROP = _Drop()

# Values put into every field in turn: each of the JSON types, and the edges of each.
_HOSTILE_VALUES = {
    "null": None,
    "true": True,
    "false": False,
    "zero": 0,
    "one": 1,
    "negative": -5,
    "huge-int": 10**30,
    "huge-negative": -(10**30),
    "float": 1.5,
    "whole-float": 2.0,
    "string": "text",
    "empty-string": "",
    "numeric-string": "42",
    "true-string": "true",
    "yes-string": "yes",
    "list": [1, 2],
    "object": {"a": 1},
    "long-string": "x" * 100_000,
}


def settings_cases() -> dict[str, object]:
    """name -> the JSON value of a settings file (what json.loads gives), sound and hostile."""
    fields = {
        "backup_dir": "/media/usb/backups",
        "backup_dir_token": "0123abcd",
        "previous_backup_dirs": ["/old/one", "/old/two"],
        "auto_backup_minutes": 45,
        "retention_days": 60,
        "retention_policy": "simple",
        "keep_all_hours": 12,
        "keep_daily_days": 7,
        "keep_weekly_weeks": 4,
        "keep_monthly_months": 6,
        "budget_mb": 4096,
    }
    cases: dict[str, object] = {"empty": {}, "full": dict(fields), "null": None, "list": [], "string": "x", "one": 1}
    for field in fields:
        for name, value in _HOSTILE_VALUES.items():
            cases[f"{field}={name}"] = {**fields, field: value}
    limits = {
        "auto_backup_minutes": (0, 7 * 24 * 60),
        "retention_days": (1, 36500),
        "keep_all_hours": (0, 24 * 366),
        "keep_daily_days": (0, 3660),
        "keep_weekly_weeks": (0, 520),
        "keep_monthly_months": (0, 1200),
        "budget_mb": (1, 100 * 1024 * 1024),
    }
    for field, (low, high) in limits.items():
        for value in (low - 1, low, high, high + 1):
            cases[f"{field}-{value}"] = {field: value}
    for name, hours in {
        "hours": 2,
        "half-hour": 0.5,
        "tiny": 0.001,
        "zero": 0,
        "negative": -1,
        "nan": float("nan"),
        "inf": float("inf"),
        "huge": 10**6,
        "beyond-float-times-60": 1e308,  # U7: 1e308 * 60 is inf, round(inf) raised OverflowError
        "just-above-the-overflow": 5e306,
        "400-digit-int": 10**400,  # U7: too large for float()
        "negative-400-digit-int": -(10**400),
        "exponent-string": "1e400",
        "string": "3",
        "word": "three",
        "null": None,
        "list": [1],
    }.items():
        cases[f"auto_backup_hours-{name}"] = {"auto_backup_hours": hours}
        cases[f"auto_backup_hours-{name}-with-minutes"] = {"auto_backup_hours": hours, "auto_backup_minutes": 10}
    cases["previous_backup_dirs-mixed"] = {"previous_backup_dirs": ["/a", 1]}
    cases["previous_backup_dirs-string"] = {"previous_backup_dirs": "/a"}
    cases["retention_policy-upper"] = {"retention_policy": "TIERED"}
    cases["extra-keys"] = {**fields, "theme": "dark", "auto_backup_hours": 1}
    return cases
