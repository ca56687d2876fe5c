"""How fast, and how thorough, are the ways to check a backup file? (verification-speed study)

    .venv/bin/python benchmarks/bench_verify.py                # timings on 1 GB + detection matrix
    .venv/bin/python benchmarks/bench_verify.py --size 100MB --reps 5
    .venv/bin/python benchmarks/bench_verify.py --no-timing    # detection matrix only (seconds)

Part 1 times, on a backup-like copy (rollback-journal mode, opened read-only and
immutable as verify.py does) of a generated database:
  full integrity_check; quick_check; `integrity_check(TABLE)` for every table,
  serially and spread over threads on separate read-only connections (the
  sqlite3 module releases the GIL while SQLite works); that plus quick_check
  in parallel (to cover what per-table checks skip); the per-table split of
  the time; a larger page cache; and SHA-256 beside each, as verify_file runs it.
Part 2 damages copies of a small database in specific ways (free pages, the
freelist, an orphaned page, a page referenced twice, an index entry, table
text, a b-tree page) and reports which checks notice.

Writes benchmarks/out/verify.json and prints Markdown. Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_db  # noqa: E402
from benchutil import wait_for_quiet  # noqa: E402
from jobmatcher import checkproc  # noqa: E402
from jobmatcher.digests import BLAKE3, file_digest  # noqa: E402
from jobmatcher.errors import InvalidBackupError  # noqa: E402
from jobmatcher.verify import sha256_file as sha256  # noqa: E402
from jobmatcher.verify import verify_file  # noqa: E402

OUT = make_db.OUT / "verify"
PY = sys.executable


def ro(path: Path, cache_kib: int | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path.absolute().as_uri() + "?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
    )
    if cache_kib:
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    return conn


def pragma_rows(path: Path, pragma: str, cache_kib: int | None = None) -> list[str]:
    conn = ro(path, cache_kib)
    try:
        return [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
    except sqlite3.DatabaseError as e:
        return [f"error: {e}"]
    finally:
        conn.close()


def tables(path: Path) -> list[str]:
    conn = ro(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        conn.close()
    return ["sqlite_schema"] + names


# -- strategies: each returns the list of problems (empty = passed) -------------------------


def full(path: Path) -> list[str]:
    rows = pragma_rows(path, "integrity_check")
    return [] if rows == ["ok"] else rows


def quick(path: Path) -> list[str]:
    rows = pragma_rows(path, "quick_check")
    return [] if rows == ["ok"] else rows


def _per_table(path: Path, workers: int) -> list[str]:
    names = tables(path)
    if workers <= 1:
        results = [pragma_rows(path, f'integrity_check("{t}")') for t in names]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda t: pragma_rows(path, f'integrity_check("{t}")'), names))
    return [p for rows in results if rows != ["ok"] for p in rows]


def per_table_serial(path: Path) -> list[str]:
    return _per_table(path, 1)


def per_table_parallel(path: Path) -> list[str]:
    return _per_table(path, os.cpu_count() or 2)


def quick_plus_per_table(path: Path) -> list[str]:
    """quick_check (page accounting, freelist) in one thread, the per-table checks beside it."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        q = pool.submit(quick, path)
        t = pool.submit(per_table_serial, path)
        return q.result() + t.result()


STRATEGIES = {
    "integrity_check (full)": full,
    "quick_check": quick,
    "integrity_check(TABLE) each, serial": per_table_serial,
    "integrity_check(TABLE) each, threads": per_table_parallel,
    "quick_check ∥ integrity_check(TABLE) each": quick_plus_per_table,
}


def with_sha(fn):
    def run(path: Path):
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(sha256, path)
            problems = fn(path)
            digest.result()
        return problems

    return run


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, path: Path, reps: int, cpu: list | None = None) -> tuple[float, list[str]]:
    """Best wall time of `reps` runs; appends the CPU seconds (all threads) of the best run to `cpu`."""
    best, best_cpu, problems = float("inf"), 0.0, []
    for _ in range(reps):
        wait_for_quiet()
        c = cpu_seconds()
        t = time.perf_counter()
        problems = fn(path)
        w = time.perf_counter() - t
        if w < best:
            best, best_cpu = w, cpu_seconds() - c
    if cpu is not None:
        cpu.append(best_cpu)
    return best, problems


# -- the page cache and memory-mapped I/O, each configuration in a fresh process ------------

CACHE_CONFIGS = [
    ("default page cache (2 MB)", 2000, 0),
    ("8 MB page cache", 8192, 0),
    ("16 MB page cache", 16384, 0),
    ("32 MB page cache", 32768, 0),
    ("64 MB page cache", 65536, 0),
    ("mmap_size 2 GB (file mapped)", 2000, 2**31 - 2**16),
]


def one_config(path: str, cache_kib: int, mmap: int) -> None:
    """Child process: one integrity_check with these settings; prints wall, CPU and memory as JSON."""
    conn = ro(Path(path), cache_kib)
    conn.execute(f"PRAGMA mmap_size={mmap}")
    c, t = cpu_seconds(), time.perf_counter()
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    assert rows == [("ok",)], rows
    mem = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmHWM:", "RssAnon:", "RssFile:")):
            mem[line.split(":")[0]] = int(line.split()[1]) / 1024
    print(json.dumps({"wall": wall, "cpu": cpu, **mem}))


def cache_study(path: Path, reps: int) -> dict:
    out: dict = {}
    for _ in range(reps):  # interleaved, so a busy moment does not land on one configuration only
        for name, cache, mmap in CACHE_CONFIGS:
            wait_for_quiet()
            proc = subprocess.run(
                [PY, __file__, "--one", str(path), str(cache), str(mmap)], stdout=subprocess.PIPE, text=True, check=True
            )
            r = json.loads(proc.stdout)
            best = out.get(name)
            if best is None or r["wall"] < best["wall"]:
                out[name] = r
    for name, r in out.items():
        print(
            f"  {name:<32} {r['wall']:6.2f} s (CPU {r['cpu']:.2f} s), peak RSS {r['VmHWM']:.0f} MB "
            f"(anonymous {r['RssAnon']:.0f} MB, file-backed {r['RssFile']:.0f} MB)",
            file=sys.stderr,
        )
    return out


def backup_like_copy(size: int, shape: str = "postings") -> Path:
    """A rollback-journal copy of the generated database (what a backup file is)."""
    proc = subprocess.run(
        [PY, str(HERE / "make_db.py"), "--size", str(size), "--shape", shape],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    source = Path(json.loads(proc.stdout)["data_dir"]) / "jobmatcher.db"
    OUT.mkdir(parents=True, exist_ok=True)
    dest = OUT / f"backup-{make_db.size_label(size)}-{shape}.db"
    if not dest.exists():
        tmp = dest.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        conn = sqlite3.connect(tmp, isolation_level=None)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        os.replace(tmp, dest)
    return dest


def timing(size: int, reps: int, shape: str) -> dict:
    path = backup_like_copy(size, shape)
    os.sync()
    sha256(path)  # warm the cache
    conn = ro(path)
    rows = conn.execute("SELECT count(*) FROM saved_jobs").fetchone()[0]
    conn.close()
    res: dict = {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "shape": shape,
        "rows": rows,
        "strategies": {},
        "with_sha256": {},
        "per_table": {},
    }
    t, _ = timed(lambda p: sha256(p), path, reps)
    res["sha256"] = t
    res["cpu"] = {}
    for name, fn in STRATEGIES.items():
        cpu: list = []
        t, problems = timed(fn, path, reps, cpu)
        assert not problems, (name, problems[:3])
        res["strategies"][name] = t
        res["cpu"][name] = cpu[0]
        t2, _ = timed(with_sha(fn), path, reps)
        res["with_sha256"][name] = t2
        print(f"  {name:<45} {t:7.3f} s (CPU {cpu[0]:.2f} s)  with SHA-256 beside it {t2:7.3f} s", file=sys.stderr)
    res["cache"] = cache_study(path, reps)
    for table in tables(path):
        t, _ = timed(lambda p, table=table: pragma_rows(p, f'integrity_check("{table}")'), path, 1)
        res["per_table"][table] = t
    return res


# -- part 2: damage and detection -------------------------------------------------------------


class Db:
    """Just enough of the SQLite file format to damage a file in a chosen way."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray(path.read_bytes())
        self.page_size = struct.unpack(">H", self.data[16:18])[0]

    def page(self, n: int) -> memoryview:
        return memoryview(self.data)[(n - 1) * self.page_size : n * self.page_size]

    def u32(self, off: int) -> int:
        return struct.unpack(">I", self.data[off : off + 4])[0]

    def set_u32(self, off: int, v: int) -> None:
        self.data[off : off + 4] = struct.pack(">I", v)

    def save(self) -> None:
        self.path.write_bytes(bytes(self.data))

    # the freelist: header bytes 32 (first trunk) and 36 (count); trunk = next, count, leaves...
    def trunk(self) -> int:
        return self.u32(32)

    def trunk_leaves(self) -> list[int]:
        base = (self.trunk() - 1) * self.page_size
        n = self.u32(base + 4)
        return [self.u32(base + 8 + 4 * i) for i in range(n)]


def pages_of(path: Path, name: str, kind: str = "leaf") -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [
            r[0]
            for r in conn.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype=? ORDER BY pageno", (name, kind))
        ]
    finally:
        conn.close()


def damage_free_leaf_bytes(db: Db) -> str:
    leaf = db.trunk_leaves()[0]
    p = db.page(leaf)
    for i in range(100, 200):
        p[i] ^= 0xFF
    return f"flipped 100 bytes inside free page {leaf} (a freelist leaf: holds no data)"


def damage_free_trunk(db: Db) -> str:
    base = (db.trunk() - 1) * db.page_size
    db.set_u32(base + 8, db.u32(28) + 50)  # first leaf entry points past the end of the file
    return f"freelist trunk page {db.trunk()}: a leaf entry points past the end of the file"


def damage_orphan(db: Db) -> str:
    base = (db.trunk() - 1) * db.page_size
    leaves = db.trunk_leaves()
    db.set_u32(base + 4, len(leaves) - 1)  # drop the last leaf from the trunk...
    db.set_u32(36, db.u32(36) - 1)  # ...and from the header's count: page is now referenced by nothing
    return f"page {leaves[-1]} orphaned (removed from the freelist, counts kept consistent)"


def damage_freelist_count(db: Db) -> str:
    db.set_u32(36, db.u32(36) + 3)
    return "header's freelist page count too high by 3"


def damage_double_reference(db: Db, path: Path) -> str:
    victim = pages_of(path, "saved_jobs")[5]
    base = (db.trunk() - 1) * db.page_size
    n = db.u32(base + 4)
    db.set_u32(base + 8 + 4 * n, victim)  # also list a live table page as free
    db.set_u32(base + 4, n + 1)
    db.set_u32(36, db.u32(36) + 1)
    return (
        f"live saved_jobs page {victim} also put on the freelist (the next write would reuse it and "
        "overwrite saved jobs)"
    )


def _replace_in_page(db: Db, pages: list[int], needle: bytes, repl: bytes) -> int:
    for n in pages:
        p = db.page(n)
        i = bytes(p).find(needle)
        if i >= 0:
            p[i : i + len(repl)] = repl
            return n
    raise RuntimeError(f"{needle!r} not found")


def damage_index_entry(db: Db, path: Path) -> str:
    conn = sqlite3.connect(path)
    company = conn.execute("SELECT company FROM saved_jobs ORDER BY id LIMIT 1 OFFSET 100").fetchone()[0]
    conn.close()
    enc = company.encode()
    n = _replace_in_page(db, pages_of(path, "ix_saved_jobs_company"), enc, enc[:-1] + b"~")
    return f"one index entry's key changed in ix_saved_jobs_company page {n} (index no longer matches its row)"


def damage_table_text(db: Db, path: Path) -> str:
    n = _replace_in_page(db, pages_of(path, "saved_jobs"), b"We are looking for", b"We are lookinG for")
    return f"one letter of a job description changed in saved_jobs page {n}"


def damage_btree_page(db: Db, path: Path) -> str:
    victim = pages_of(path, "saved_jobs")[7]
    p = db.page(victim)
    p[8:10] = struct.pack(">H", db.page_size - 2)  # first cell pointer points at the last 2 bytes
    return f"saved_jobs leaf page {victim}: a cell pointer points outside the cell area"


def damage_skills_index(db: Db, path: Path) -> str:
    conn = sqlite3.connect(path)
    name = conn.execute("SELECT name FROM skills ORDER BY id LIMIT 1 OFFSET 10").fetchone()[0]
    conn.close()
    enc = name.encode()
    n = _replace_in_page(db, pages_of(path, "ix_skills_name"), enc, enc[:-1] + b"~")
    return f"one entry of the small ix_skills_name index changed (page {n})"


DAMAGES = {
    "free page content": damage_free_leaf_bytes,
    "freelist trunk entry": damage_free_trunk,
    "orphaned page": damage_orphan,
    "freelist count in header": damage_freelist_count,
    "page both in use and free": damage_double_reference,
    "index entry (big table)": damage_index_entry,
    "index entry (small table)": damage_skills_index,
    "b-tree page structure": damage_btree_page,
    "table text (a description)": damage_table_text,
}


def app_verify(path: Path, sha: str | None, b3: str | None, fork: bool) -> list[str]:
    """verify_file as Engine.verify runs it on a backup whose manifest has both checksums; [] when it passes,
    else [the refusal's reason: message]. `fork`: the check in a forked, memory-mapping child (else in this
    process, unmapped)."""
    saved = checkproc.FORK_MIN_BYTES, checkproc.CHILD_MIN_BYTES, checkproc._can_fork
    checkproc.FORK_MIN_BYTES, checkproc.CHILD_MIN_BYTES = (0 if fork else 1 << 60), 1 << 60
    checkproc._can_fork = lambda: fork  # type: ignore[assignment]
    try:
        verify_file(path, expected_sha256=sha, expected_blake3=b3)
        return []
    except InvalidBackupError as e:
        return [f"{e.reason}: {e.message}"]
    finally:
        checkproc.FORK_MIN_BYTES, checkproc.CHILD_MIN_BYTES, checkproc._can_fork = saved


def detection(size: int) -> dict:
    source = backup_like_copy(size)
    base = OUT / "damage-base.db"
    shutil.copyfile(source, base)
    conn = sqlite3.connect(base, isolation_level=None)
    conn.execute("DELETE FROM saved_jobs WHERE id % 5 = 0")  # a real freelist with several pages
    conn.close()
    conn = ro(base)
    freelist = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    assert freelist > 20, freelist
    original_sha = sha256(base)
    original_b3 = file_digest(base, BLAKE3)
    checks = {
        "integrity_check": full,
        "quick_check": quick,
        "integrity_check(TABLE) each": per_table_serial,
        "quick_check + integrity_check(TABLE) each": quick_plus_per_table,
        "SHA-256 vs manifest": lambda p: [] if sha256(p) == original_sha else ["checksum differs"],
        # What the app's verify runs (verify_file with the manifest's checksums: BLAKE3 compared), the check
        # in a forked child (memory-mapped; this process has one thread here) and in this process.
        "app verify, forked child": lambda p: app_verify(p, original_sha, original_b3, fork=True),
        "app verify, in-process": lambda p: app_verify(p, original_sha, original_b3, fork=False),
        # Its check alone (no manifest to compare with): the forked child finds what integrity_check finds.
        "app check alone, forked child": lambda p: app_verify(p, None, None, fork=True),
    }
    for name, fn in checks.items():
        assert not fn(base), name
    out: dict = {"freelist_pages": freelist, "cases": {}}
    for name, damage in DAMAGES.items():
        victim = OUT / "damaged.db"
        shutil.copyfile(base, victim)
        db = Db(victim)
        try:
            what = damage(db) if damage.__code__.co_argcount == 1 else damage(db, victim)
        except Exception as e:  # noqa: BLE001
            out["cases"][name] = {"what": f"could not apply: {e}", "found": {}}
            continue
        db.save()
        found = {}
        for cname, fn in checks.items():
            problems = fn(victim)
            found[cname] = problems[:2]
        out["cases"][name] = {"what": what, "found": found}
        print(f"  {name:<28} " + "  ".join(f"{c}={'Y' if v else '-'}" for c, v in found.items()), file=sys.stderr)
    for p in (base, OUT / "damaged.db"):
        p.unlink(missing_ok=True)
    return out


def markdown(res: dict) -> str:
    L = ["# Verification: speed and coverage of the ways to check a backup\n"]
    if "timing" in res:
        t = res["timing"]
        L.append(
            f"Timings on a {t['size_bytes'] / 1e6:,.0f} MB backup-like file ({t['rows']:,} saved jobs, "
            f"shape '{t['shape']}'), warm cache, best of {res['reps']}, "
            f"{os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}. SHA-256 alone: {t['sha256']:.2f} s.\n"
        )
        L.append("| Strategy | Check alone | CPU (all threads) | With SHA-256 in a thread beside it |")
        L.append("|---|---:|---:|---:|")
        for name in t["strategies"]:
            L.append(
                f"| {name} | {t['strategies'][name]:.2f} s | {t['cpu'][name]:.2f} s | {t['with_sha256'][name]:.2f} s |"
            )
        L.append("")
        L.append("`PRAGMA integrity_check` with other page-cache and mmap settings (each in a fresh process):\n")
        L.append("| Setting | Wall | CPU | Peak RSS | of which anonymous | file-backed (mapped page cache) |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for name, r in t["cache"].items():
            L.append(
                f"| {name} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['VmHWM']:.0f} MB | "
                f"{r['RssAnon']:.0f} MB | {r['RssFile']:.0f} MB |"
            )
        L.append("")
        L.append(
            "Time of `integrity_check(TABLE)` per table: "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(t["per_table"].items(), key=lambda kv: -kv[1]))
            + ".\n"
        )
    d = res["detection"]
    checks = list(next(iter(d["cases"].values()))["found"].keys())
    L.append(
        f"Damage found (Y) or missed (–), on a {res['detection_size']} database with "
        f"{d['freelist_pages']} free pages:\n"
    )
    L.append("| Damage | " + " | ".join(checks) + " |")
    L.append("|---|" + "---|" * len(checks))
    for name, case in d["cases"].items():
        L.append(
            f"| {name}: {case['what']} | " + " | ".join("Y" if case["found"].get(c) else "–" for c in checks) + " |"
        )
    L.append("")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:
        one_config(argv[1], int(argv[2]), int(argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=make_db.parse_size, default=make_db.parse_size("1GB"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--detection-size", type=make_db.parse_size, default=make_db.parse_size("10MB"))
    p.add_argument("--no-timing", action="store_true")
    p.add_argument(
        "--shape",
        choices=("postings", "short"),
        default="postings",
        help="database shape for the timings (see make_db.py --shape)",
    )
    p.add_argument("--keep", action="store_true", help="keep the backup-like copies under benchmarks/out/verify/")
    args = p.parse_args(argv)
    res: dict = {"reps": args.reps, "detection_size": make_db.size_label(args.detection_size)}
    if not args.no_timing:
        res["timing"] = timing(args.size, args.reps, args.shape)
    res["detection"] = detection(args.detection_size)
    OUT.mkdir(parents=True, exist_ok=True)
    name = "verify.json" if args.shape == "postings" else f"verify-{args.shape}.json"
    (make_db.OUT / name).write_text(json.dumps(res, indent=2))
    print(markdown(res))
    if not args.keep:
        for f in OUT.glob("backup-*.db"):
            f.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
