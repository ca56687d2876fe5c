"""One measured operation, run in its own process by bench_backup.py (so its peak memory is its own).

    python benchmarks/bench_worker.py OP '{"data_dir": ..., ...}'

Prints one JSON object on stdout: `seconds` is the time of the engine call
itself (imports and interpreter start-up excluded; the parent adds the process
wall time and the peak RSS it reads from wait4).
"""

from __future__ import annotations

import json
import sys
import time

T_START = time.perf_counter()


def main() -> int:
    op, args = sys.argv[1], json.loads(sys.argv[2])
    from jobmatcher.engine import Engine  # noqa: E402  (timed separately as import_seconds)
    from jobmatcher import schema  # noqa: E402

    # Alembic is imported lazily, on the first schema question; in the app that is paid once at
    # launch, so it belongs to start-up (import_seconds), not to the operation measured.
    schema.tables_at(schema.head())

    t_import = time.perf_counter()
    engine = Engine(args["data_dir"])
    out: dict = {"import_seconds": t_import - T_START}

    if op == "create":
        t = time.perf_counter()
        b = engine.create_backup(note="benchmark", method=args.get("method", "auto"))
        out.update(seconds=time.perf_counter() - t, copy_seconds=b.copy_seconds, verify_seconds=b.verify_seconds,
                   method=b.method, id=b.id, size_bytes=b.size_bytes)
    elif op == "verify":
        t = time.perf_counter()
        rec = engine.verify(args["id"])
        out.update(seconds=time.perf_counter() - t, verified=rec.verified)
    elif op == "restore":
        marks: list[tuple[str, float]] = []

        def progress(phase: str, done: int, total: int) -> None:
            if not marks or marks[-1][0] != phase:
                marks.append((phase, time.perf_counter()))

        # Finer phases than the progress callback gives, by wrapping (not changing) restore's steps.
        from jobmatcher import restore as restore_module

        def marking(name: str, fn):
            def wrapped(*a, **k):
                progress(name, 0, 1)
                return fn(*a, **k)
            return wrapped

        restore_module.sha256_file = marking("stage: SHA-256 of the copy", restore_module.sha256_file)
        restore_module._seal = marking("stage: seal (WAL mode)", restore_module._seal)
        restore_module._confirm = marking("confirm (quick_check)", restore_module._confirm)

        t = time.perf_counter()
        r = engine.restore(args["id"], progress=progress)
        end = time.perf_counter()
        phases: dict[str, float] = {}
        for i, (phase, start) in enumerate(marks):
            stop = marks[i + 1][1] if i + 1 < len(marks) else end
            phases[phase] = phases.get(phase, 0.0) + stop - start
        out.update(seconds=end - t, safety_backup_id=r.safety_backup_id, phases=phases)
    elif op == "launch":
        t = time.perf_counter()
        report = engine.launch()
        out.update(seconds=time.perf_counter() - t, ready_since_start=time.perf_counter() - T_START,
                   report=report.model_dump(mode="json"))
        engine.release_instance_lock()
    elif op == "list":
        reps = int(args.get("reps", 5))
        t = time.perf_counter()
        items = engine.list_backups()
        first = time.perf_counter() - t
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            items = engine.list_backups()
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        doomed = engine.prune(dry_run=True)
        prune_first = time.perf_counter() - t
        prune_times = []
        for _ in range(reps):
            t = time.perf_counter()
            doomed = engine.prune(dry_run=True)
            prune_times.append(time.perf_counter() - t)
        out.update(count=len(items), list_first=first, list_times=times, seconds=min(times),
                   prune_first=prune_first, prune_times=prune_times, would_prune=len(doomed))
    elif op == "reference":
        # What SQLite and hashlib alone take on the backup file: the floor for verify.
        import sqlite3
        from pathlib import Path

        from jobmatcher.verify import sha256_file
        path = Path(args["path"])
        for pragma in ("integrity_check", "quick_check"):
            conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro&immutable=1", uri=True,
                                   isolation_level=None)
            t = time.perf_counter()
            rows = conn.execute(f"PRAGMA {pragma}").fetchall()
            out[pragma] = time.perf_counter() - t
            conn.close()
            assert rows == [("ok",)], rows
        t = time.perf_counter()
        sha256_file(path)
        out["sha256"] = time.perf_counter() - t
        out["seconds"] = out["integrity_check"]
    elif op == "make-list":
        # Set-up, not measured: one small real backup, copied count-1 times with manifests whose dates
        # go back about two years (types and pins mixed as in real use).
        import shutil
        from datetime import datetime, timedelta, timezone
        from pathlib import Path

        from jobmatcher.backups import backup_name
        from jobmatcher.manifest import BackupType, manifest_path, read_manifest

        real = engine.create_backup(note="the original")
        real_path = Path(real.path)
        base = read_manifest(real_path)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        for i in range(1, int(args["count"])):
            when = now - timedelta(hours=17 * i, minutes=i % 60)
            kind = (BackupType.pre_migration if i % 50 == 0 else BackupType.manual if i % 7 == 0
                    else BackupType.safety if i % 31 == 0 else BackupType.auto)
            m = base.model_copy(update={"type": kind, "created_at": when, "verified_at": when,
                                        "pinned": i % 97 == 0, "note": f"benchmark copy {i}"})
            path = real_path.with_name(f"{backup_name(when)}.db")
            shutil.copyfile(real_path, path)
            manifest_path(path).write_text(m.model_dump_json(indent=2))
        out["seconds"] = 0.0
    else:
        raise SystemExit(f"unknown op {op!r}")
    out["vm_hwm_mb"] = vm_hwm_mb()
    print(json.dumps(out))
    return 0


def vm_hwm_mb() -> float | None:
    """This process's own peak RSS (VmHWM starts afresh at exec, unlike ru_maxrss, which a child
    inherits from the parent it was forked from)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
