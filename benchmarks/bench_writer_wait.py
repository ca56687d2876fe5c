"""How long does the app's writer wait while a scheduled backup runs?

    .venv/bin/python benchmarks/bench_writer_wait.py               # 100 MB database, 5 scheduled backups
    .venv/bin/python benchmarks/bench_writer_wait.py --size 10MB --rounds 3

A copy of a generated data folder (make_db.py) gets a writer thread committing
one small row every 5 ms through its own connection, as the app's writer does
when the user edits their profile, while the scheduler (BackupScheduler, with a
short interval) makes `auto` backups of it. Every commit's latency is recorded,
and each backup's copy phase (the time the snapshot holds SQLite's write lock).
The writer should wait at most for the copy: its worst commit is compared with
the longest copy. Results are printed as a table (and --json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_db import cached, parse_size  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="100MB")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from jobmatcher.engine import Engine
    from jobmatcher.scheduler import BackupScheduler

    source = cached(parse_size(args.size), quiet=args.json)
    with tempfile.TemporaryDirectory(prefix="jm-writer-wait-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(source, data)
        engine = Engine(data)
        db = engine.data.db_path
        conn = sqlite3.connect(db, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (id INTEGER PRIMARY KEY, at REAL)")
        latencies: list[tuple[float, float]] = []  # (start, seconds)
        stop = threading.Event()

        def writer() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                conn.execute("INSERT INTO bench_writes (at) VALUES (?)", (t0,))
                latencies.append((t0, time.perf_counter() - t0))
                time.sleep(0.005)

        made: list[str] = []

        def backup(progress):
            bid = engine.auto_backup(progress)
            if bid:
                made.append(bid)
            return bid

        w = threading.Thread(target=writer, daemon=True)
        w.start()
        time.sleep(0.5)
        baseline = [s for _, s in latencies]
        s = BackupScheduler(backup, interval=lambda: 1.0)
        s.start()
        deadline = time.monotonic() + 60 * args.rounds
        while len(made) < args.rounds and time.monotonic() < deadline:
            time.sleep(0.05)
        s.stop()
        stop.set()
        w.join()
        conn.close()
        from jobmatcher.manifest import read_manifest

        copy_seconds = [read_manifest(Path(engine.store.get(b).path)).copy_seconds or 0.0 for b in made]
        during = [sec for _, sec in latencies]
        result = {
            "database_bytes": (source / "jobmatcher.db").stat().st_size,
            "backups": len(made),
            "commits": len(during),
            "commit_median_ms": round(statistics.median(baseline) * 1000, 2),
            "commit_max_ms": round(max(during) * 1000, 1),
            "copy_max_ms": round(max(copy_seconds) * 1000, 1) if copy_seconds else None,
            "copy_median_ms": round(statistics.median(copy_seconds) * 1000, 1) if copy_seconds else None,
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"database {result['database_bytes'] / 1e6:.0f} MB, {result['backups']} scheduled backups, "
            f"{result['commits']} commits"
        )
        print(
            f"commit: median {result['commit_median_ms']} ms without a backup; "
            f"longest {result['commit_max_ms']} ms with backups running"
        )
        print(
            f"snapshot copy (the write lock): median {result['copy_median_ms']} ms, longest {result['copy_max_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
