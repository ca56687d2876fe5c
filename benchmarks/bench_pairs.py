"""Paired create/verify timings of this engine against another checkout's, in turns, on a shared machine.

    .venv/bin/python benchmarks/bench_pairs.py --base /tmp/base --size 100MB --reps 8
    .venv/bin/python benchmarks/bench_pairs.py --base /tmp/base --size 10MB --reps 10 --op verify

`--base DIR` holds an earlier engine (`git archive COMMIT backend | tar -x -C DIR`). Each round runs
cp + fsync, then the operation with one engine and then the other (the order alternates every round),
each in its own process (bench_worker.py) at `nice -n NICE` (default -20: ahead of other people's work;
needs root, else 0). Reported per engine: the engine call's median and best time, their ratio to cp +
fsync (create) or to a bare `integrity_check` of the same backup in the same round (verify), and the CPU
time of the whole worker process with its check child (from getrusage), which other processes on the
machine disturb far less than the wall time. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_db  # noqa: E402
from benchutil import installed_bytecode  # noqa: E402

WORKER = HERE / "bench_worker.py"


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, type=Path, help="a folder holding an earlier engine's backend/")
    p.add_argument("--size", default="100MB")
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--op", choices=("create", "verify"), default="create")
    p.add_argument("--nice", default="-20")
    args = p.parse_args(argv)
    # Both engines' bytecode written first and the workers run without PYTHONDONTWRITEBYTECODE (as an installed
    # package runs): an engine call would otherwise include compiling the modules it imports lazily from source.
    environ = installed_bytecode(dict(os.environ), args.base / "backend" / "jobmatcher")
    size = make_db.parse_size(args.size)
    meta = json.loads(
        subprocess.run(
            [sys.executable, str(HERE / "make_db.py"), "--size", str(size)], stdout=subprocess.PIPE, check=True
        ).stdout
    )
    work = make_db.OUT / "run" / f"pairs-{make_db.size_label(size)}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copyfile(Path(meta["data_dir"]) / "jobmatcher.db", work / "jobmatcher.db")
    logs = {"JOBMATCHER_LOG_DIR": str(make_db.OUT / "logs")}
    envs = {
        "base": {**environ, **logs, "PYTHONPATH": str(args.base.resolve() / "backend")},
        "new": {**environ, **logs},
    }
    nice = ["nice", "-n", args.nice]

    def worker(op: str, env: dict, **extra) -> dict:
        os.sync()
        cpu = children_cpu()
        out = subprocess.run(
            [*nice, sys.executable, str(WORKER), op, json.dumps({"data_dir": str(work), **extra})],
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        return {**json.loads(out.stdout), "cpu": children_cpu() - cpu}

    def cp_fsync() -> float:
        dest = work / "cp.db"
        dest.unlink(missing_ok=True)
        os.sync()
        t = time.perf_counter()
        subprocess.run(
            [*nice, "sh", "-c", 'cp -- "$1" "$2" && sync -- "$2"', "sh", str(work / "jobmatcher.db"), str(dest)]
        )
        seconds = time.perf_counter() - t
        dest.unlink()
        return seconds

    def drop_backups(keep: str | None) -> None:
        for f in (work / "backups").iterdir():
            if keep is None or f.stem != keep:
                f.unlink()

    kept = worker("create", envs["new"])["id"] if args.op == "verify" else None
    backup = work / "backups" / f"{kept}.db"
    # Each verify starts from the manifest as the backup's create wrote it: an older engine recording its result
    # drops the fields it does not know (the seal), which would make the other engine's turn a different case.
    as_made = backup.with_suffix(".json").read_bytes() if kept else b""
    runs: dict[str, list[dict]] = {"base": [], "new": []}
    order = ["base", "new"]
    for _ in range(args.reps):
        yardstick = cp_fsync()
        line = [f"cp+fsync {yardstick * 1000:.0f} ms"]
        if args.op == "verify":
            yardstick = worker("reference", envs["new"], path=str(backup))["integrity_check"]
            line = [f"integrity_check {yardstick * 1000:.1f} ms"]
        for name in order:
            if kept:
                backup.with_suffix(".json").write_bytes(as_made)
            r = worker(args.op, envs[name], **({"id": kept} if kept else {}))
            if args.op == "create":
                drop_backups(kept)
            r["ratio"] = r["seconds"] / yardstick
            runs[name].append(r)
            line.append(f"{name} {r['seconds'] * 1000:.1f} ms ({r['ratio']:.2f}x, cpu {r['cpu'] * 1000:.0f} ms)")
        order.reverse()
        print(" | ".join(line), f"| load {os.getloadavg()[0]:.1f}", flush=True)
    for name, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        print(
            f"{name}: median {statistics.median(secs) * 1000:.1f} ms, best {min(secs) * 1000:.1f} ms; "
            f"ratio median {statistics.median(r['ratio'] for r in rs):.2f}x; "
            f"CPU of the process median {statistics.median(r['cpu'] for r in rs) * 1000:.0f} ms"
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
