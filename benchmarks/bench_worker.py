"""One measured operation, run in its own process by bench_backup.py (so its peak memory is its own).

    python benchmarks/bench_worker.py OP '{"data_dir": ..., ...}'

Prints one JSON object on stdout: `seconds` is the time of the engine call
itself (imports and interpreter start-up excluded; the parent adds the process
wall time and the peak RSS it reads from wait4).
"""

from __future__ import annotations

import inspect
import json
import sys
import time

T_START = time.perf_counter()


def main() -> int:
    op, args = sys.argv[1], json.loads(sys.argv[2])
    spare = None
    if op == "verify" and args.get("spare", True):
        from jobmatcher.checkproc import SpareChild

        if hasattr(SpareChild, "ready"):  # an engine whose verify takes one: started here as `backup verify` does
            spare = SpareChild.start()
    from jobmatcher import schema  # noqa: E402
    from jobmatcher.engine import Engine  # noqa: E402  (timed separately as import_seconds)

    # The schema's revisions and tables are known without Alembic (schema.REVISIONS): nothing to warm up.
    schema.tables_at(schema.head())

    if spare is not None and "spare" not in inspect.signature(Engine.verify).parameters:
        spare.close()  # an older engine (the baseline) whose create has spares but whose verify takes none
        spare = None
    t_import = time.perf_counter()
    engine = Engine(args["data_dir"])
    out: dict = {"import_seconds": t_import - T_START}

    if op == "create":
        t = time.perf_counter()
        b = engine.create_backup(note="benchmark", method=args.get("method", "auto"))
        out.update(
            seconds=time.perf_counter() - t,
            copy_seconds=b.copy_seconds,
            verify_seconds=b.verify_seconds,
            method=b.method,
            id=b.id,
            size_bytes=b.size_bytes,
            check_memory=getattr(b, "check_memory", {}),
        )
    elif op == "verify":
        t = time.perf_counter()
        rec = engine.verify(args["id"], spare=spare) if spare is not None else engine.verify(args["id"])
        seconds = time.perf_counter() - t
        if spare is not None:
            spare.close()  # unused (a check in this process): as the command closes it, after the call
        backup = getattr(rec, "backup", rec)  # Engine.verify returns a VerifyResult (a BackupRecord before)
        out.update(seconds=seconds, verified=getattr(backup, "verified", None))
    elif op == "restore":
        if args.get("no_link"):
            # As when the backup folder is on another file system (no hard link possible): the safety
            # backup is a full, checked copy made before staging.
            from jobmatcher import restore as restore_module

            restore_module._can_link = lambda data, store: False
        t = time.perf_counter()
        r = engine.restore(args["id"])
        end = time.perf_counter()
        # The engine's own phase times (check, safety, stage, migrate, swap, confirm).
        out.update(
            seconds=end - t,
            engine_seconds=r.seconds,
            safety_backup_id=r.safety_backup_id,
            phases=getattr(r, "phases", {}),
            safety_checking=getattr(r, "safety_backup_checking", False),
        )
        if out["safety_checking"]:
            # The safety backup's checksum and check run after the restore, in the background: wait for them
            # (so they are not charged to the next measurement) and report how long they took.
            while engine.store.get(r.safety_backup_id).verified is None and time.perf_counter() - end < 120:
                time.sleep(0.01)
            out["background_check_seconds"] = time.perf_counter() - end
            out["background_check_ok"] = engine.store.get(r.safety_backup_id).verified
    elif op == "launch":
        t = time.perf_counter()
        report = engine.launch()
        out.update(
            seconds=time.perf_counter() - t,
            ready_since_start=time.perf_counter() - T_START,
            report=report.model_dump(mode="json"),
        )
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
        out.update(
            count=len(items),
            list_first=first,
            list_times=times,
            seconds=min(times),
            prune_first=prune_first,
            prune_times=prune_times,
            would_prune=len(doomed),
        )
    elif op == "reference":
        # What SQLite and hashlib alone take on the backup file: the floor for verify.
        import sqlite3
        from pathlib import Path

        from jobmatcher.verify import sha256_file

        path = Path(args["path"])
        for pragma in ("integrity_check", "quick_check"):
            conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro&immutable=1", uri=True, isolation_level=None)
            t = time.perf_counter()
            rows = conn.execute(f"PRAGMA {pragma}").fetchall()
            out[pragma] = time.perf_counter() - t
            conn.close()
            assert rows == [("ok",)], rows
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro&immutable=1", uri=True, isolation_level=None)
        conn.execute("PRAGMA mmap_size=2147418112")
        t = time.perf_counter()
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        out["integrity_check_mmap"] = time.perf_counter() - t
        conn.close()
        t = time.perf_counter()
        sha256_file(path)
        out["sha256"] = time.perf_counter() - t
        try:  # BLAKE3 (the `blake3` package), when installed: what a faster digest would save
            import blake3

            t = time.perf_counter()
            h = blake3.blake3(max_threads=1)
            with open(path, "rb") as f:
                while chunk := f.read(4 << 20):
                    h.update(chunk)
            h.hexdigest()
            out["blake3"] = time.perf_counter() - t
        except ImportError:
            out["blake3"] = None
        out["seconds"] = out["integrity_check"]
    elif op == "page-size":
        # The same data with 16 KB pages (VACUUM of a copy): what a larger page size would do to the checks.
        import shutil
        import sqlite3
        from pathlib import Path

        src, work = Path(args["path"]), Path(args["work"])
        big = work / "pages16k.db"
        shutil.copyfile(src, big)
        conn = sqlite3.connect(big, isolation_level=None)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA page_size=16384")
        t = time.perf_counter()
        conn.execute("VACUUM")
        out["vacuum_seconds"] = time.perf_counter() - t
        conn.close()
        for name, p in (("4k", src), ("16k", big)):
            for pragma in ("integrity_check", "quick_check"):
                for mm in (0, 2147418112):
                    c = sqlite3.connect(p.absolute().as_uri() + "?mode=ro&immutable=1", uri=True, isolation_level=None)
                    c.execute(f"PRAGMA mmap_size={mm}")
                    t = time.perf_counter()
                    c.execute(f"PRAGMA {pragma}").fetchall()
                    out[f"{pragma}_{name}{'_mmap' if mm else ''}"] = time.perf_counter() - t
                    c.close()
        out["size_16k"] = big.stat().st_size
        big.unlink()
        out["seconds"] = 0.0
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
            kind = (
                BackupType.pre_migration
                if i % 50 == 0
                else BackupType.manual
                if i % 7 == 0
                else BackupType.safety
                if i % 31 == 0
                else BackupType.auto
            )
            m = base.model_copy(
                update={
                    "type": kind,
                    "created_at": when,
                    "verified_at": when,
                    "pinned": i % 97 == 0,
                    "note": f"benchmark copy {i}",
                }
            )
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
