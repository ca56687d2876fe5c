"""Benchmark JobMatcher's backup engine against `cp` + fsync, in one run.

    .venv/bin/python benchmarks/bench_backup.py --quick          # 10MB, 100MB (about a minute)
    .venv/bin/python benchmarks/bench_backup.py                  # 10MB, 100MB, 1GB (a few minutes)
    .venv/bin/python benchmarks/bench_backup.py --sizes 1GB --reps 5

For each size, on a fresh copy of a generated database (see make_db.py), with
a warm page cache and a `sync` before every repetition so no write-back from
an earlier step is charged to the next one:

- `cp FILE DEST && sync DEST` (what a user would do by hand) — the yardstick;
- backup create through the engine (copy and verify split as the engine
  reports them), the `jobmatcher backup create --json` command as a whole
  process, and the backup-API method for comparison;
- verify of an existing backup; the bare `PRAGMA integrity_check`,
  `quick_check` and SHA-256 of the same file for reference;
- restore of that backup by id (with its phases);
- launch (`Engine.launch()`) of the up-to-date database, with and without an
  automatic backup due.
Then: listing and pruning (dry run) 1,000 backups, and launch with a pending
migration (a database at 0001_initial).

Every operation runs in its own process (bench_worker.py); the time reported
is the best of --reps of the engine call itself; the process wall time and the
peak RSS (from wait4) are reported beside it. Output: a Markdown report on
stdout and in benchmarks/results.md, raw data in benchmarks/out/results.json,
and benchmarks/chart.png. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import make_db  # noqa: E402
from benchutil import BYTECODE_NOTE, QUIET, cpu_busy, installed_bytecode, wait_for_quiet  # noqa: E402

OUT = make_db.OUT
WORKER = HERE / "bench_worker.py"
PY = sys.executable
JOBMATCHER = Path(PY).with_name("jobmatcher")
BASE_ENV = {**os.environ, "JOBMATCHER_LOG_DIR": str(OUT / "logs")}
BASE_ENV.pop("JOBMATCHER_DATA_DIR", None)
ENV = dict(BASE_ENV)  # the measured processes' environment: without PYTHONDONTWRITEBYTECODE (compile_package)
LIST_COUNT = 1000
PYDANTIC_FLOOR = "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\nM.model_validate_json(b'{\"x\": 1}')"
# The floor of `backup list` as it reads now (core_schemas.py): pydantic-core imported, one schema built, one
# validation and one to_json (which imports uuid): no pydantic, no model.
CORE_FLOOR = (
    "from pydantic_core import SchemaValidator, to_json\n"
    "v = SchemaValidator({'type': 'typed-dict', 'fields': {'x': {'type': 'typed-dict-field', "
    "'schema': {'type': 'int'}}}})\n"
    "to_json([v.validate_json(b'{\"x\": 1}')])"
)
LIST_VERSION = 1


# -- running one measured process -----------------------------------------------------


def run_process(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd`; return its wall time, peak RSS (MB, from wait4) and parsed JSON stdout if any.

    `others_cpu` is the share of the machine's CPU used by anything but this child while it ran
    (kernel write-back it caused included): a noise indicator.
    """
    out_path = OUT / "tmp" / f"stdout-{os.getpid()}.txt"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w+b") as out:
        busy0, total0 = cpu_busy()
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env or ENV)
        # communicate() would reap the child itself; wait4 gives us its own rusage.
        err = proc.stderr.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        busy1, total1 = cpu_busy()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err.decode()}\n{text}")
    own = usage.ru_utime + usage.ru_stime
    others = max(0.0, (busy1 - busy0) - own) / max(total1 - total0, 1e-9)
    result = {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "cpu_seconds": own, "others_cpu": others}
    text = text.strip()
    if text.startswith("{"):
        result.update(json.loads(text))
    return result


def worker(op: str, env: dict | None = None, **args) -> dict:
    return run_process([PY, str(WORKER), op, json.dumps(args, default=str)], env)


def settle() -> None:
    """Write back everything dirty, so no earlier step's I/O is charged to the next one (cache stays warm)."""
    os.sync()


def repeat(reps: int, fn, before=None, after=None) -> list[dict]:
    runs = []
    for _ in range(reps):
        if before:
            before()
        settle()
        quiet_before = wait_for_quiet()
        r = fn()
        r["quiet_before"] = quiet_before
        runs.append(r)
        if after:
            after(r)
    return runs


def best(runs: list[dict], key: str = "seconds") -> dict:
    return min(runs, key=lambda r: r[key])


def summarize(runs: list[dict], key: str = "seconds") -> dict:
    b = best(runs, key)
    hwm = [r["vm_hwm_mb"] for r in runs if r.get("vm_hwm_mb")]
    child = [r["check_memory"].get("peak_rss_mb") or 0 for r in runs if r.get("check_memory")]
    child_anon = [r["check_memory"].get("anon_mb") or 0 for r in runs if r.get("check_memory")]
    return {
        "best": b[key],
        "best_run": b,
        "runs": runs,
        "rss_mb": max(r["rss_mb"] for r in runs),
        "vm_hwm_mb": max(hwm) if hwm else None,
        "wall_best": min(r["wall"] for r in runs),
        "check_child_mb": max(child) if child else None,
        "check_child_anon_mb": max(child_anon) if child else None,
    }


# -- per size ---------------------------------------------------------------------------


def wait_for_check(data_dir: Path, backup_id: str | None, limit: float = 120.0) -> None:
    """Wait until the backup's manifest records a check's verdict (a restore's safety backup, checked by a
    detached process after the command ended), at most `limit` seconds."""
    if not backup_id:
        return
    manifest = data_dir / "backups" / f"{backup_id}.json"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if json.loads(manifest.read_text()).get("verified") is not None:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


def delete_backups(data_dir: Path, keep: set[str] = frozenset()) -> None:
    folder = data_dir / "backups"
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.stem not in keep:
            p.unlink(missing_ok=True)  # a background check's lock file goes by itself when the check ends


def generated(size: int, revision: str | None = None, shape: str = "postings") -> tuple[Path, dict]:
    """The cached generated data folder (made by make_db.py in a subprocess: this process stays small)."""
    cmd = [PY, str(HERE / "make_db.py"), "--size", str(size), "--shape", shape] + (
        ["--revision", revision] if revision else []
    )
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, env=ENV, text=True, check=True)
    meta = json.loads(proc.stdout)
    return Path(meta["data_dir"]), meta


def bench_size(
    size: int, reps: int, keep: bool, shape: str = "postings", env: dict | None = None, full: bool = True
) -> dict:
    """cp + fsync and every operation at one size. `env`: run the engine from elsewhere (the baseline);
    `full=False`: only cp + fsync, create, verify, the references and restore."""
    label = make_db.size_label(size)
    source, meta = generated(size, shape=shape)
    work = OUT / "run" / (label if shape == "postings" and env is None else f"{label}-{shape}{'-base' if env else ''}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "jobmatcher.db"
    shutil.copyfile(source / "jobmatcher.db", db)
    db_bytes = db.stat().st_size
    print(f"[{label}] {db_bytes / 1e6:,.1f} MB, {meta['jobs']:,} saved jobs", file=sys.stderr)
    res: dict = {"label": label, "size_bytes": db_bytes, "db": meta}

    def step(name: str, runs: list[dict], key: str = "seconds") -> None:
        res[name] = summarize(runs, key)
        print(f"  {name:<22} best {res[name]['best']:.3f} s  (rss {res[name]['rss_mb']:.0f} MB)", file=sys.stderr)

    # 1. cp + fsync, as a user would type it.
    dest = work / "cp-copy.db"
    cp = ["sh", "-c", 'cp -- "$1" "$2" && sync -- "$2"', "sh", str(db), str(dest)]
    step(
        "cp_fsync",
        repeat(
            reps, lambda: {**(r := run_process(cp)), "seconds": r["wall"]}, before=lambda: dest.unlink(missing_ok=True)
        ),
        "seconds",
    )
    dest.unlink(missing_ok=True)

    # 2. backup create (engine call), keeping the first backup for verify and restore.
    kept: list[str] = []

    def keep_first(r):
        if not kept:
            kept.append(r["id"])
        delete_backups(work, keep=set(kept))

    step("create", repeat(reps, lambda: worker("create", env, data_dir=work), after=keep_first))
    backup_id = kept[0]
    backup_file = work / "backups" / f"{backup_id}.db"
    if not full:
        step("verify", repeat(reps, lambda: worker("verify", env, data_dir=work, id=backup_id)))
        step("reference", repeat(reps, lambda: worker("reference", data_dir=work, path=backup_file)))
        ref = res["reference"]
        for k in ("integrity_check", "integrity_check_mmap", "quick_check", "sha256"):
            ref[k] = min(r[k] for r in ref["runs"])
        step(
            "restore",
            repeat(
                reps,
                lambda: worker("restore", env, data_dir=work, id=backup_id),
                after=lambda r: delete_backups(work, keep={backup_id}),
            ),
        )
        shutil.rmtree(work, ignore_errors=True)
        return res

    def cli_create():
        r = run_process(
            [str(JOBMATCHER), "--data-dir", str(work), "backup", "create", "--json", "--note", "benchmark (cli)"]
        )
        return {**r, "seconds": r["wall"]}

    step("create_cli", repeat(reps, cli_create, after=lambda r: delete_backups(work, keep={backup_id})))
    step(
        "create_backup_api",
        repeat(
            reps,
            lambda: worker("create", data_dir=work, method="backup-api"),
            after=lambda r: delete_backups(work, keep={backup_id}),
        ),
    )

    # 3. verify of an existing backup, and what SQLite / hashlib alone take on the same file: paired, each verify
    # followed at once by the bare check it is held to, so that both see the machine as it was (its speed drifts
    # by half between minutes here); the median of the pairs' ratios is reported beside best against best.
    verify_runs: list[dict] = []
    reference_runs: list[dict] = []
    for _ in range(reps):
        verify_runs += repeat(1, lambda: worker("verify", data_dir=work, id=backup_id))
        reference_runs += repeat(1, lambda: worker("reference", data_dir=work, path=backup_file))
    step("verify", verify_runs)
    step("reference", reference_runs)
    res["verify"]["paired_ratios"] = [
        v["seconds"] / r["integrity_check"] for v, r in zip(verify_runs, reference_runs, strict=True)
    ]
    ref = res["reference"]
    for k in ("integrity_check", "integrity_check_mmap", "quick_check", "sha256"):
        ref[k] = min(r[k] for r in ref["runs"])
    b3 = [r["blake3"] for r in ref["runs"] if r.get("blake3")]
    ref["blake3"] = min(b3) if b3 else None
    # 3b. the page-size study (once): the same data VACUUMed into 16 KB pages.
    res["page_size"] = worker("page-size", data_dir=work, path=backup_file, work=work)

    # 3c. the whole `backup verify` command (interpreter, imports, the check's child, the manifest's rewrite).
    def cli_verify():
        r = run_process([str(JOBMATCHER), "--data-dir", str(work), "backup", "verify", backup_id, "--json"])
        return {**r, "seconds": r["wall"]}

    step("verify_cli", repeat(reps, cli_verify))

    # 4. restore by id (each makes a safety backup first; dropped afterwards).
    step(
        "restore",
        repeat(
            reps,
            lambda: worker("restore", data_dir=work, id=backup_id),
            after=lambda r: delete_backups(work, keep={backup_id}),
        ),
    )

    # 4b. the whole `backup restore ID --yes` command: what a user at the command line waits for (the safety
    # backup's checksum and check run after it, in a detached process: waited for here before the next run, so it
    # never runs beside one, and not counted).
    def cli_restore():
        r = run_process([str(JOBMATCHER), "--data-dir", str(work), "backup", "restore", backup_id, "--yes", "--json"])
        return {**r, "seconds_reported": r["seconds"], "seconds": r["wall"]}

    step(
        "restore_cli",
        repeat(
            reps,
            cli_restore,
            after=lambda r: (wait_for_check(work, r.get("safety_backup_id")), delete_backups(work, keep={backup_id})),
        ),
    )
    step(
        "restore_copy_safety",
        repeat(
            reps,
            lambda: worker("restore", data_dir=work, id=backup_id, no_link=True),
            after=lambda r: delete_backups(work, keep={backup_id}),
        ),
    )

    # 5. launch: nothing due (a fresh backup exists), then with the automatic backup due (no backups).
    step("launch", repeat(reps, lambda: worker("launch", data_dir=work)))
    step(
        "launch_auto_backup", repeat(reps, lambda: worker("launch", data_dir=work), before=lambda: delete_backups(work))
    )
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return res


# -- listing 1,000 backups --------------------------------------------------------------


def list_folder() -> Path:
    """A data folder with 1,000 backups (one small real backup, copied, with manifests at spread dates)."""
    folder = OUT / f"list{LIST_COUNT}-v{LIST_VERSION}"
    if not (folder / "ready").exists():
        shutil.rmtree(folder, ignore_errors=True)
        small, _meta = generated(make_db.parse_size("100KB"))
        folder.mkdir(parents=True)
        shutil.copyfile(small / "jobmatcher.db", folder / "jobmatcher.db")
        worker("make-list", data_dir=folder, count=LIST_COUNT)
        (folder / "ready").write_text("1")
    return folder


def compile_package() -> bool:
    """Write the package's bytecode (__pycache__, ignored by git), as pip and the bundle install it, and run the
    measured processes without PYTHONDONTWRITEBYTECODE (benchutil.installed_bytecode), so no figure includes
    compiling a module from source (which happens in every process of an editable checkout under that
    variable). Returns whether that variable was set in this shell."""
    ENV.clear()
    ENV.update(installed_bytecode(BASE_ENV))
    return bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))


def bench_listing(reps: int) -> dict:
    folder = list_folder()
    no_write = compile_package()
    settle()
    runs = [worker("list", data_dir=folder, reps=5) for _ in range(reps)]
    # Whole commands, in turn (A B C D A B C D ...) so that a change of load hits all alike; the bare
    # interpreter's start is the floor every command pays.
    commands = {
        "json": [str(JOBMATCHER), "--data-dir", str(folder), "backup", "list", "--json"],
        "table": [str(JOBMATCHER), "--data-dir", str(folder), "backup", "list"],
        "version": [str(JOBMATCHER), "--version"],
        "python": [PY, "-c", "pass"],
        # The floor of any command that reads a manifest through pydantic: its import, its first model built
        # (schema generation, its plugin lookup through importlib.metadata) and one validation.
        "pydantic": [PY, "-c", PYDANTIC_FLOOR],
        "core": [PY, "-c", CORE_FLOOR],
    }
    whole: dict[str, list[dict]] = {k: [] for k in commands}
    for _ in range(max(reps, 5)):
        for k, cmd in commands.items():
            whole[k].append(run_process(cmd))
    cli_prune = [
        run_process([str(JOBMATCHER), "--data-dir", str(folder), "backup", "prune", "--dry-run", "--json"])
        for _ in range(reps)
    ]

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2]

    res = {
        "count": runs[0]["count"],
        "list_best": min(min(r["list_times"]) for r in runs),
        "list_first": min(r["list_first"] for r in runs),
        "prune_best": min(min(r["prune_times"]) for r in runs),
        "prune_first": min(r["prune_first"] for r in runs),
        "would_prune": runs[0]["would_prune"],
        "rss_mb": max(r["rss_mb"] for r in runs),
        "cli_list_wall": min(r["wall"] for r in whole["json"]),
        "cli_list_rss_mb": max(r["rss_mb"] for r in whole["json"]),
        "cli_prune_wall": min(r["wall"] for r in cli_prune),
        "whole": {
            k: {
                "best": min(r["wall"] for r in v),
                "median": med([r["wall"] for r in v]),
                "cpu_median": med([r["cpu_seconds"] for r in v]),
                "others_cpu_median": med([r["others_cpu"] for r in v]),
            }
            for k, v in whole.items()
        },
        "bytecode_compiled": True,
        "pythondontwritebytecode": no_write,
        "runs": runs,
    }
    w = res["whole"]
    print(
        f"[list] {res['count']} backups: list {res['list_best'] * 1000:.1f} ms "
        f"(first call {res['list_first'] * 1000:.1f} ms), prune dry-run {res['prune_best'] * 1000:.1f} ms; "
        f"whole command --json {w['json']['best'] * 1000:.0f} ms (median {w['json']['median'] * 1000:.0f}), "
        f"table {w['table']['best'] * 1000:.0f} ms, --version {w['version']['best'] * 1000:.0f} ms, "
        f"python -c pass {w['python']['best'] * 1000:.0f} ms, pydantic's floor {w['pydantic']['best'] * 1000:.0f} ms",
        file=sys.stderr,
    )
    return res


def listing_rows(li: dict) -> list[str]:
    """The report's rows for listing (also printed by --only-listing)."""
    L = ["| Operation | Time | Notes |", "|---|---:|---|"]
    L.append(
        f"| `Engine.list_backups()` | {li['list_best'] * 1000:.1f} ms | "
        f"first call in a fresh process {li['list_first'] * 1000:.1f} ms |"
    )
    L.append(
        f"| `Engine.prune(dry_run=True)` | {li['prune_best'] * 1000:.1f} ms | "
        f"first call {li['prune_first'] * 1000:.1f} ms; would delete {li['would_prune']} |"
    )
    w = li.get("whole")
    if w:
        labels = {
            "json": "`jobmatcher backup list --json`",
            "table": "`jobmatcher backup list` (the table)",
            "version": "`jobmatcher --version`",
            "python": "`python -c pass` (the interpreter's start alone: the floor)",
            "pydantic": "`python -c` importing pydantic, defining one model and validating with it (the floor of "
            "a command that reads a manifest through pydantic)",
            "core": "`python -c` importing pydantic-core, building one core schema, validating and writing JSON "
            "with it (the floor of `backup list`, which reads manifests with core_schemas.py)",
        }
        for k, label in labels.items():
            if k not in w:
                continue  # a run from before this command was measured
            x = w[k]
            L.append(
                f"| {label} | {x['best'] * 1000:.0f} ms | whole process, best of the runs; median "
                f"{x['median'] * 1000:.0f} ms, CPU {x['cpu_median'] * 1000:.0f} ms; other processes used "
                f"{x['others_cpu_median']:.0%} of the machine meanwhile |"
            )
        L.append(
            f"| … peak RSS of `backup list --json` | {li['cli_list_rss_mb']:.0f} MB | with the package's bytecode "
            "compiled, as an installation has it"
            + (
                " (this checkout runs with PYTHONDONTWRITEBYTECODE=1, which otherwise compiles every module "
                "on every run)"
                if li.get("pythondontwritebytecode")
                else ""
            )
            + " |"
        )
    else:  # results of a run before whole commands were measured side by side
        L.append(
            f"| `jobmatcher backup list --json` | {fmt_s(li['cli_list_wall'])} | whole process, "
            f"peak RSS {li['cli_list_rss_mb']:.0f} MB |"
        )
    L.append(f"| `jobmatcher backup prune --dry-run --json` | {fmt_s(li['cli_prune_wall'])} | whole process |")
    return L


# -- launch with a pending migration ------------------------------------------------------


def bench_pending_launch(reps: int) -> dict:
    source, meta = generated(0, revision="0001_initial")
    work = OUT / "run" / "pending"

    def fresh():
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work)

    runs = repeat(reps, lambda: worker("launch", data_dir=work), before=fresh)
    shutil.rmtree(work, ignore_errors=True)
    for r in runs:
        assert r["report"]["migrated_to"] and r["report"]["pre_migration_backup"], r["report"]
    res = {"db": meta, **summarize(runs)}
    print(f"[launch, pending migration] best {res['best']:.3f} s (rss {res['rss_mb']:.0f} MB)", file=sys.stderr)
    return res


# -- report ---------------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    if x < 0.1:
        return f"{x * 1000:.1f} ms"
    if x < 10:
        return f"{x:.2f} s"
    return f"{x:.1f} s"


def ratio(x: float, base: float) -> str:
    return f"{x / base:.1f}×"


def environment() -> dict:
    fs = "?"
    try:
        best_mount = ""
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, kind = line.split()[:3]
            if str(OUT).startswith(mnt) and len(mnt) > len(best_mount):
                best_mount, fs = mnt, f"{kind} on {dev}"
    except OSError:
        pass
    mem = ""
    try:
        mem = next(
            line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
        )
        mem = f"{int(mem) / 1024 / 1024:.0f} GB"
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version

    __version__ = version("jobmatcher")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "memory": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "filesystem": fs,
        "jobmatcher": __version__,
        "commit": commit,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "bench_parent_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def markdown(results: dict) -> str:
    env = results["env"]
    sizes = results["sizes"]
    L = []
    L.append("# Backup engine benchmark\n")
    L.append(
        f"Generated by `benchmarks/bench_backup.py` on {env['date']} (commit {env['commit']}): "
        f"{env['cpus']} CPUs, {env['memory']} RAM, {env['filesystem']}, Python {env['python']}, "
        f"SQLite {env['sqlite']}. Best of {results['reps']} runs each, warm page cache, `sync` before "
        "every run; each operation in its own process. Databases from `benchmarks/make_db.py` "
        "(saved job postings with 2–6 KB descriptions, two indexes, about 1% deleted rows). "
        "Peak RSS is the child's `ru_maxrss` from `wait4` (the benchmark's own process, whose size a "
        f"child inherits in that figure, stayed at {env['bench_parent_rss_mb']:.0f} MB). "
        f"Other processes on the machine used {env['others_cpu_mean'] * 100:.0f}% of its CPU on average "
        f"while the measured runs ran (worst run {env['others_cpu_max'] * 100:.0f}%); the benchmark waited "
        f"{env['quiet_waited']:.0f} s in all for quieter moments. "
        f"{BYTECODE_NOTE + ' ' if env.get('installed_bytecode') else ''}What the figures mean, why targets are "
        "missed and the verification study: [benchmarks/README.md](README.md).\n"
    )

    L.append("## Summary\n")
    L.append(
        "Engine: the library call alone. Whole command: `jobmatcher backup create --json`, `backup verify ID --json`"
        " and `backup restore ID --yes --json` timed from outside, start to exit, as a user at the command line "
        "waits for them (the interpreter's start and the imports included; a restore's background check not).\n"
    )
    L.append(
        "| Database | cp + fsync | create: engine / whole command | verify: engine / whole command "
        "| restore: engine / whole command | create ÷ copy (engine / whole) | restore ÷ copy (engine / whole) |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|")

    def whole(s: dict, key: str) -> str:
        return fmt_s(s[key]["best"]) if key in s else "–"

    def whole_ratio(s: dict, key: str, c: float) -> str:
        return ratio(s[key]["best"], c) if key in s else "–"

    for s in sizes:
        c = s["cp_fsync"]["best"]
        L.append(
            f"| {s['size_bytes'] / 1e6:,.0f} MB | {fmt_s(c)} | "
            f"{fmt_s(s['create']['best'])} / {whole(s, 'create_cli')} | "
            f"{fmt_s(s['verify']['best'])} / {whole(s, 'verify_cli')} | "
            f"{fmt_s(s['restore']['best'])} / {whole(s, 'restore_cli')} | "
            f"{ratio(s['create']['best'], c)} / {whole_ratio(s, 'create_cli', c)} | "
            f"{ratio(s['restore']['best'], c)} / {whole_ratio(s, 'restore_cli', c)} |"
        )
    L.append("")
    L.append("![time against database size](chart.png)\n")

    L.append("## Targets (issue 13)\n")
    L.append("| Target | Measured | Met? |")
    L.append("|---|---|---|")

    def verdict(r: float, limit: float) -> str:
        return "yes" if r <= limit else f"no: {r / limit:.2f}× the target"

    for s in sizes:
        c = s["cp_fsync"]["best"]
        for key, what, limit in (
            ("create", "backup create including its check", 2.0),
            ("restore", "restore (listed, verified backup)", 1.5),
        ):
            r = s[key]["best"] / c
            L.append(
                f"| {what} ≤ {limit}× cp + fsync ({s['label']}) | {r:.2f}× "
                f"({fmt_s(s[key]['best'])} vs {fmt_s(c)}) | {verdict(r, limit)} |"
            )
    for s in sizes:
        ref = s["reference"]
        v = s["verify"]["best"]
        pairs = s["verify"].get("paired_ratios") or []
        paired = f"; median of {len(pairs)} paired runs {statistics.median(pairs):.2f}×" if pairs else ""
        L.append(
            f"| verify ≤ 1.0× a bare `integrity_check` ({s['label']}) | {fmt_s(v)} vs "
            f"{fmt_s(ref['integrity_check'])} ({v / ref['integrity_check']:.2f}× best against best{paired}) | "
            f"{verdict(v / ref['integrity_check'], 1.0)} |"
        )
    keys = ("create", "create_cli", "create_backup_api", "verify", "restore", "launch", "launch_auto_backup")
    peak = max(
        [s[k]["vm_hwm_mb"] or 0 for s in sizes for k in keys] + [results["launch_pending"].get("vm_hwm_mb") or 0]
    )
    child = max([s[k]["check_child_mb"] or 0 for s in sizes for k in ("create", "verify")])
    child_anon = max([s[k]["check_child_anon_mb"] or 0 for s in sizes for k in ("create", "verify")])
    L.append(
        f"| peak memory of the app's process < 100 MB | {peak:.0f} MB (largest `VmHWM` of all operations) | "
        f"{'yes' if peak < 100 else 'no'} |"
    )
    L.append(
        f"| … and the integrity check's child (memory-mapped file) | peak resident {child:.0f} MB, of "
        f"which {child_anon:.0f} MB its own memory and the rest the mapped file's pages (page cache "
        "shared with the kernel, dropped when the child exits) | reported |"
    )
    li = results["listing"]
    L.append(
        f"| `jobmatcher backup list` with {li['count']:,} backups < 150 ms, whole command | "
        f"{li['cli_list_wall'] * 1000:.0f} ms (`--json`; engine call {li['list_best'] * 1000:.0f} ms"
        + (
            f"; the table {li['whole']['table']['best'] * 1000:.0f} ms; the interpreter's start alone "
            f"{li['whole']['python']['best'] * 1000:.0f} ms"
            if "whole" in li
            else ""
        )
        + (
            f"; the interpreter with pydantic and one model validating {li['whole']['pydantic']['best'] * 1000:.0f} ms"
            if "pydantic" in li.get("whole", {})
            else ""
        )
        + ") | "
        f"{'yes' if li['cli_list_wall'] < 0.15 else 'no'} |"
    )
    L.append("")

    for s in sizes:
        c = s["cp_fsync"]["best"]
        L.append(f"## {s['size_bytes'] / 1e6:,.0f} MB ({s['db']['jobs']:,} saved jobs)\n")
        L.append("| Operation | Best | × cp + fsync | Process wall | Peak RSS (app process; check child) | Notes |")
        L.append("|---|---:|---:|---:|---:|---|")

        def row(name, key, note="", s=s, c=c):
            d = s[key]
            mem = f"{d['vm_hwm_mb']:.0f} MB" if d.get("vm_hwm_mb") else f"{d['rss_mb']:.0f} MB"
            if d.get("check_child_mb"):
                mem += f"; child {d['check_child_mb']:.0f} MB ({d['check_child_anon_mb']:.0f} MB own)"
            L.append(
                f"| {name} | {fmt_s(d['best'])} | {ratio(d['best'], c)} | {fmt_s(d['wall_best'])} | {mem} | {note} |"
            )

        row("`cp` + `sync` of the file", "cp_fsync", "the yardstick")
        b = s["create"]["best_run"]
        row(
            "backup create (engine)",
            "create",
            f"copy {fmt_s(b['copy_seconds'])} + verify {fmt_s(b['verify_seconds'])} ({b['method']})",
        )
        b = s["create_cli"]["best_run"]
        row(
            "`jobmatcher backup create --json`",
            "create_cli",
            f"whole process; reports copy {fmt_s(b['copy_seconds'])}, verify {fmt_s(b['verify_seconds'])}",
        )
        b = s["create_backup_api"]["best_run"]
        row(
            'backup create, `method="backup-api"`',
            "create_backup_api",
            f"copy {fmt_s(b['copy_seconds'])} + verify {fmt_s(b['verify_seconds'])}",
        )
        ref = s["reference"]
        row(
            "verify an existing backup",
            "verify",
            f"bare `integrity_check` {fmt_s(ref['integrity_check'])} (memory-mapped "
            f"{fmt_s(ref['integrity_check_mmap'])}), `quick_check` {fmt_s(ref['quick_check'])}, SHA-256 "
            f"{fmt_s(ref['sha256'])}" + (f", BLAKE3 {fmt_s(ref['blake3'])}" if ref.get("blake3") else ""),
        )
        b = s["verify_cli"]["best_run"] if "verify_cli" in s else None
        if b is not None:
            row(
                "`jobmatcher backup verify ID --json`",
                "verify_cli",
                f"whole process (interpreter, imports, the check's child, the manifest rewritten); CPU "
                f"{fmt_s(b['cpu_seconds'])} in its best run",
            )
        ph = s["restore"]["best_run"]["phases"]
        names = {
            "check": "check source",
            "safety": "safety backup (copy + check)",
            "stage": "stage (copy ∥ its checksum: BLAKE3, fsync)",
            "migrate": "migrate",
            "swap": "swap",
            "confirm": "confirm",
        }
        bg = s["restore"]["best_run"].get("background_check_seconds")
        row(
            "restore (by id)",
            "restore",
            ", ".join(f"{names.get(k, k)} {fmt_s(v)}" for k, v in ph.items())
            + (f"; then the safety backup's checksum + check in the background: {fmt_s(bg)}" if bg else ""),
        )
        b = s["restore_cli"]["best_run"] if "restore_cli" in s else None
        if b is not None:
            row(
                "`jobmatcher backup restore ID --yes --json`",
                "restore_cli",
                f"whole process; reports {fmt_s(b['seconds_reported'])}; the safety backup's check runs after it "
                "in a detached process (not counted)",
            )
        ph2 = s["restore_copy_safety"]["best_run"]["phases"]
        row(
            "restore, no hard link possible (backup folder on another file system)",
            "restore_copy_safety",
            ", ".join(f"{names.get(k, k)} {fmt_s(v)}" for k, v in ph2.items()),
        )
        row("launch, up to date", "launch", "nothing due")
        row("launch, automatic backup due", "launch_auto_backup", "includes one backup create")
        L.append("")

    L.append(f"## Listing and pruning {li['count']:,} backups\n")
    L.extend(listing_rows(li))
    L.append("")

    L.append("## Launch (`Engine.launch()`)\n")
    L.append("| Case | Engine call | Process wall (start to ready) | Peak RSS |")
    L.append("|---|---:|---:|---:|")
    for s in sizes:
        for key, what in (("launch", "up to date"), ("launch_auto_backup", "up to date, automatic backup due")):
            d = s[key]
            ready = min(r["ready_since_start"] for r in d["runs"])
            L.append(
                f"| {s['label']}, {what} | {fmt_s(d['best'])} | {fmt_s(d['wall_best'])} "
                f"(Python start + imports + launch; launch done {fmt_s(ready)} after the script began) "
                f"| {d['rss_mb']:.0f} MB |"
            )
    p = results["launch_pending"]
    L.append(
        f"| pending migration 0001_initial → head ({p['db']['size_bytes'] / 1e3:,.0f} KB, "
        f"{p['db']['skills']} skills; pre-migration backup + upgrade) | {fmt_s(p['best'])} | "
        f"{fmt_s(p['wall_best'])} | {p['rss_mb']:.0f} MB |"
    )
    L.append("")

    L.append("## Page size (the same data VACUUMed into 16 KB pages; not adopted, see README)\n")
    L.append(
        "| Database | VACUUM | integrity_check 4 KB / 16 KB | memory-mapped 4 KB / 16 KB | quick_check 4 KB / 16 KB |"
    )
    L.append("|---|---:|---:|---:|---:|")
    for s in sizes:
        ps = s.get("page_size")
        if ps:
            L.append(
                f"| {s['label']} | {fmt_s(ps['vacuum_seconds'])} | {fmt_s(ps['integrity_check_4k'])} / "
                f"{fmt_s(ps['integrity_check_16k'])} | {fmt_s(ps['integrity_check_4k_mmap'])} / "
                f"{fmt_s(ps['integrity_check_16k_mmap'])} | {fmt_s(ps['quick_check_4k'])} / "
                f"{fmt_s(ps['quick_check_16k'])} |"
            )
    L.append("")
    idx = results.get("indexed")
    if idx:
        n, b = idx["new"], idx.get("baseline")
        c = n["cp_fsync"]["best"]
        L.append(
            f"## Index-heavy shape ({n['size_bytes'] / 1e6:,.0f} MB: a table of random text with an index on it)\n"
        )
        L.append("| Operation | this engine | × cp + fsync | engine before issue 13 | × cp + fsync |")
        L.append("|---|---:|---:|---:|---:|")
        for key, what in (
            ("create", "backup create incl. check"),
            ("verify", "verify"),
            ("restore", "restore (listed backup)"),
        ):
            old = f"{fmt_s(b[key]['best'])} | {b[key]['best'] / b['cp_fsync']['best']:.1f}×" if b else "– | –"
            L.append(f"| {what} | {fmt_s(n[key]['best'])} | {n[key]['best'] / c:.1f}× | {old} |")
        ref = n["reference"]
        L.append(
            f"| (bare `integrity_check` / memory-mapped / SHA-256) | {fmt_s(ref['integrity_check'])} / "
            f"{fmt_s(ref['integrity_check_mmap'])} / {fmt_s(ref['sha256'])} | | | |"
        )
        L.append(f"| cp + fsync | {fmt_s(c)} | 1.0× | {fmt_s(b['cp_fsync']['best']) if b else '–'} | |")
        L.append("")
    L.append("## Where the time goes\n")
    for s in sizes:
        c = s["cp_fsync"]["best"]
        b = s["create"]["best_run"]
        ref = s["reference"]
        ph = s["restore"]["best_run"]["phases"]
        L.append(
            f"- **{s['label']}**: create = copy {fmt_s(b['copy_seconds'])} "
            f"({b['copy_seconds'] / c:.1f}× cp + fsync) + verify {fmt_s(b['verify_seconds'])} "
            f"(bare `integrity_check` {fmt_s(ref['integrity_check'])}, SHA-256 {fmt_s(ref['sha256'])} "
            f"beside it). Restore = " + " + ".join(f"{names.get(k, k)} {fmt_s(v)}" for k, v in ph.items()) + "."
        )
    L.append("")
    return "\n".join(L)


def chart(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart", file=sys.stderr)
        return False
    sizes = results["sizes"]
    xs = [s["size_bytes"] / 1e6 for s in sizes]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    series = [
        ("cp_fsync", "cp + fsync", "black", "-", "o"),
        ("create", "backup create", "tab:blue", "-", "s"),
        ("create_backup_api", "backup create (backup API)", "tab:blue", ":", "s"),
        ("create_copy", "backup create: copy phase only", "tab:cyan", "--", "s"),
        ("verify", "verify", "tab:green", "-", "^"),
        ("restore", "restore", "tab:red", "-", "D"),
        ("restore_copy_safety", "restore, backup folder on another file system", "tab:red", ":", "D"),
    ]
    for key, label, color, style, marker in series:
        if key == "create_copy":
            ys = [min(r["copy_seconds"] for r in s["create"]["runs"]) for s in sizes]
        else:
            ys = [s[key]["best"] for s in sizes]
        ax.plot(xs, ys, style, color=color, marker=marker, label=label)
    ax.plot(
        xs,
        [1.5 * s["cp_fsync"]["best"] for s in sizes],
        "--",
        color="grey",
        linewidth=1,
        label="target for restore: 1.5 × cp + fsync",
    )
    ax.plot(
        xs,
        [2.0 * s["cp_fsync"]["best"] for s in sizes],
        "-.",
        color="grey",
        linewidth=1,
        label="target for backup incl. check: 2 × cp + fsync",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("database size (MB)")
    ax.set_ylabel("seconds (best of %d, log scale)" % results["reps"])
    ax.set_title(f"JobMatcher backup engine vs cp + fsync ({results['env']['cpus']} CPUs, warm cache)")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:,.0f}" for x in xs])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10MB,100MB,1GB", help="comma-separated sizes (default 10MB,100MB,1GB)")
    p.add_argument("--quick", action="store_true", help="10MB and 100MB only")
    p.add_argument("--reps", type=int, default=3, help="repetitions per operation; the best is reported")
    p.add_argument(
        "--indexed",
        default="100MB",
        metavar="SIZE",
        help="also measure the index-heavy shape at this size (default 100MB; '' to skip)",
    )
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="a checkout of an earlier engine (DIR/backend): the index-heavy shape is measured with it "
        "too, e.g. `git archive 083ea62 backend | tar -x -C /tmp/base`",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folders under benchmarks/out/run/")
    p.add_argument("--no-write", action="store_true", help="print only; do not write results.md/chart.png")
    p.add_argument(
        "--max-wait",
        type=float,
        default=15.0,
        help="seconds to wait before each run for other processes to go quiet (default 15)",
    )
    p.add_argument(
        "--from-json",
        action="store_true",
        help="measure nothing: redraw the report and chart from benchmarks/out/results.json",
    )
    p.add_argument(
        "--only-listing",
        action="store_true",
        help="measure only listing 1,000 backups (engine call and whole commands); print its rows, write nothing",
    )
    args = p.parse_args(argv)
    QUIET["max_wait"] = args.max_wait
    if args.only_listing:
        OUT.mkdir(parents=True, exist_ok=True)
        li = bench_listing(args.reps)
        print("\n".join(listing_rows(li)))
        return 0
    if args.from_json:
        results = json.loads((OUT / "results.json").read_text())
        text = markdown(results)
        print(text)
        if not args.no_write:
            (HERE / "results.md").write_text(text)
            chart(results, HERE / "chart.png")
        return 0
    sizes = [make_db.parse_size(x) for x in ("10MB,100MB" if args.quick else args.sizes).split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    # Before any engine call: with PYTHONDONTWRITEBYTECODE=1 a module imported inside a call (verify.py in
    # verify) would otherwise be compiled from source there, whenever it changed since the last listing run.
    compile_package()
    results = {"env": {**environment(), "installed_bytecode": True}, "reps": args.reps, "sizes": []}
    for size in sizes:
        results["sizes"].append(bench_size(size, args.reps, args.keep))
    if args.indexed:
        size = make_db.parse_size(args.indexed)
        results["indexed"] = {"new": bench_size(size, args.reps, False, shape="indexed", full=False)}
        if args.baseline:
            base_env = {
                **installed_bytecode(ENV, Path(args.baseline) / "backend" / "jobmatcher"),
                "PYTHONPATH": str(Path(args.baseline) / "backend"),
            }
            results["indexed"]["baseline"] = bench_size(
                size, args.reps, False, shape="indexed", env=base_env, full=False
            )
    results["listing"] = bench_listing(args.reps)
    results["launch_pending"] = bench_pending_launch(args.reps)
    results["env"]["bench_parent_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    others = [
        r["others_cpu"]
        for s in results["sizes"]
        for v in s.values()
        if isinstance(v, dict) and "runs" in v
        for r in v["runs"]
    ]
    results["env"].update(
        others_cpu_mean=sum(others) / len(others),
        others_cpu_max=max(others),
        quiet_waited=QUIET["waited"],
        loadavg_end=Path("/proc/loadavg").read_text().split()[:3],
    )
    text = markdown(results)
    print(text)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if not args.no_write:
        (HERE / "results.md").write_text(text)
        chart(results, HERE / "chart.png")
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
