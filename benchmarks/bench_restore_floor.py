"""What could a restore cost at best? Times the file-level steps a restore is made of, and cheaper variants.

    .venv/bin/python benchmarks/bench_restore_floor.py            # on the 1 GB generated database
    .venv/bin/python benchmarks/bench_restore_floor.py --size 100MB

Steps timed (best of --reps, warm cache, `sync` before each, other processes waited out):
- stage as restore.py does it: copy_file_range + fsync, then SHA-256 of the copy read back;
- stage in one pass: read, hash and write each chunk (hashing in a second thread), then fsync;
- the safety backup as a copy (copy_file_range + fsync) versus as a rename of the live
  file into the backup folder (same file system), with both folders fsynced;
- the checks: SHA-256 alone, quick_check, integrity_check.
This measures ideas for the engine (see the report in benchmarks/README.md); it does not change it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Queue

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_db  # noqa: E402
from benchutil import wait_for_quiet  # noqa: E402
from jobmatcher.fsutil import copy_range, fsync_dir  # noqa: E402
from jobmatcher.verify import sha256_file as sha256  # noqa: E402

WORK = make_db.OUT / "restore-floor"


def copy_range_fsync(src: Path, dst: Path) -> None:
    """What staging does today: the engine's copy_file_range loop, then fsync."""
    with open(src, "rb") as s, open(dst, "wb") as d:
        copy_range(s.fileno(), 0, d, src.stat().st_size)
        os.fsync(d.fileno())


def stage_as_today(src: Path, dst: Path) -> str:
    copy_range_fsync(src, dst)
    return sha256(dst)


def stage_one_pass(src: Path, dst: Path) -> str:
    """Read each chunk once: write it, and hash it in another thread (hashlib releases the GIL)."""
    h = hashlib.sha256()
    q: Queue = Queue(maxsize=4)

    def hasher():
        while (b := q.get()) is not None:
            h.update(b)

    t = threading.Thread(target=hasher)
    t.start()
    try:
        with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
            while chunk := s.read(4 * 1024 * 1024):
                q.put(chunk)
                d.write(chunk)
            q.put(None)
            t.join()
            os.fsync(d.fileno())
    finally:
        if t.is_alive():
            q.put(None)
            t.join()
    return h.hexdigest()


def safety_by_copy(live: Path, backups: Path) -> None:
    copy_range_fsync(live, backups / "safety.db")


def safety_by_rename(live: Path, backups: Path) -> None:
    os.rename(live, backups / "safety.db")
    fsync_dir(live.parent)
    fsync_dir(backups)


def check(p: Path, pragma: str) -> None:
    conn = sqlite3.connect(p.absolute().as_uri() + "?mode=ro&immutable=1", uri=True)
    try:
        assert conn.execute(f"PRAGMA {pragma}").fetchall() == [("ok",)]
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=make_db.parse_size, default=make_db.parse_size("1GB"))
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    proc = subprocess.run(
        [sys.executable, str(HERE / "make_db.py"), "--size", str(args.size)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    source = Path(json.loads(proc.stdout)["data_dir"]) / "jobmatcher.db"
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "data" / "backups").mkdir(parents=True)
    backup = WORK / "backup.db"
    shutil.copyfile(source, backup)
    live = WORK / "data" / "jobmatcher.db"
    staged = WORK / "data" / "jobmatcher.db.restoring"
    backups = WORK / "data" / "backups"

    def measure(name, fn, before=None):
        best = float("inf")
        for _ in range(args.reps):
            if before:
                before()
            os.sync()
            wait_for_quiet()
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        results[name] = best
        print(f"  {name:<55} {best:.3f} s", file=sys.stderr)

    def fresh_live():
        (backups / "safety.db").unlink(missing_ok=True)
        if not live.exists():
            shutil.copyfile(backup, live)

    results: dict = {"size_bytes": backup.stat().st_size}
    sha256(backup)
    measure(
        "cp + fsync (copy_file_range + fsync)",
        lambda: copy_range_fsync(backup, staged),
        before=lambda: staged.unlink(missing_ok=True),
    )
    measure(
        "stage as today: copy_file_range + fsync, then SHA-256 re-read",
        lambda: stage_as_today(backup, staged),
        before=lambda: staged.unlink(missing_ok=True),
    )
    measure(
        "stage in one pass: read, hash (thread) and write, fsync",
        lambda: stage_one_pass(backup, staged),
        before=lambda: staged.unlink(missing_ok=True),
    )
    assert stage_one_pass(backup, staged) == sha256(backup)
    measure(
        "safety backup as a copy (copy_file_range + fsync)", lambda: safety_by_copy(live, backups), before=fresh_live
    )
    measure(
        "safety backup as a rename into backups/ (+ 2 dir fsyncs)",
        lambda: safety_by_rename(live, backups),
        before=fresh_live,
    )
    measure("SHA-256 of the backup", lambda: sha256(backup))
    measure("quick_check of the backup", lambda: check(backup, "quick_check"))
    measure("integrity_check of the backup", lambda: check(backup, "integrity_check"))
    (make_db.OUT / "restore-floor.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
