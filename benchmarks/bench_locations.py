"""Copying a backup to a location: encrypted and not, to a folder and to S3 (SeaweedFS), against cp + fsync.

For each size, in the same run, best of --reps (warm cache, the machine quiet):
- cp + fsync: the backup copied into a folder and fsynced (the floor for a folder copy);
- folder, plain: FolderLocation.put_file (temp, fsync, rename, fsync dir, read back from disk, SHA-256);
- folder, encrypted: the copy's own path, crypto.encrypt_file_into (age through pyrage in a child
  process that reads and hashes the backup) into FolderLocation.put_stream (the ciphertext hashed and
  written here, read back from the disk behind the writer on a thread; the same temp, fsync and rename);
- age alone: pyrage encrypting the file into nothing (no hashing, no writing): the floor for encryption;
- peak memory: a separate process making one encrypted folder copy (its peak RSS, everything imported);
- S3, plain: S3Location.put_file to a local SeaweedFS (multipart over 16 MB, ETag check);
- S3, encrypted: the same encryption into a spool file, then the same upload;
- `backup create` wall time without a location and with an enabled encrypted one, in turns, each after the
  previous copy ended; and the time of that detached copy.
The encryption target is 1.3x the unencrypted copy to the same place.

    .venv/bin/python benchmarks/bench_locations.py                 # 100 MB
    .venv/bin/python benchmarks/bench_locations.py --sizes 100MB 1GB
Writes benchmarks/results-locations.md (--no-write: print only). The folder target is on the same disk
as the data here (a second drive would be slower, not faster).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from benchutil import wait_for_quiet  # noqa: E402
from make_db import cached, parse_size, size_label  # noqa: E402


def best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        wait_for_quiet()
        times.append(fn())
    return min(times)


def cp_fsync(src: Path, dest_dir: Path) -> float:
    dest = dest_dir / "cp.db"
    dest.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dest)], check=True)
    fd = os.open(dest, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    t = time.perf_counter() - t0
    dest.unlink()
    return t


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=parse_size, default=[parse_size("100MB")])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--no-s3", action="store_true", help="skip SeaweedFS")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)

    from pyrage import x25519
    from seaweed import Seaweed, weed_binary

    recipient = x25519.Identity.generate().to_public()
    work = Path(tempfile.mkdtemp(prefix="bench-locations-", dir=HERE / "out" if (HERE / "out").is_dir() else None))
    server = None
    rows = []
    try:
        if not args.no_s3 and weed_binary():
            server = Seaweed(work / "weed").start()
            server.make_bucket("bench")
        for size in args.sizes:
            r = measure(size, args.reps, work, server, recipient)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    report = render(rows, args.reps)
    print(report)
    if not args.no_write:
        (HERE / "results-locations.md").write_text(report)
    return 0


def measure(size: int, reps: int, work: Path, server, recipient) -> dict:
    import pyrage
    from jobmatcher.locations.crypto import encrypt_file_into
    from jobmatcher.locations.folder import FolderLocation
    from jobmatcher.locations.s3 import S3Location
    from seaweed import ACCESS_KEY, SECRET_KEY

    data = cached(size)
    src = data / "jobmatcher.db"
    digest = sha256(src)
    target = work / "usb"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    folder = FolderLocation(target)
    folder.initialize()

    def enc(w):  # what Locations._copy_one does, plaintext checksum included
        encrypt_file_into(src, w, str(recipient))

    def enc_only():
        class Null:
            def write(self, b):
                return len(b)

        with open(src, "rb") as f:
            pyrage.encrypt_io(f, Null(), [recipient])

    def timed(fn):
        def run():
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        return run

    r: dict = {"size": size_label(size), "bytes": src.stat().st_size, "load_before": os.getloadavg()[0]}
    r["cp_fsync"] = best(lambda: cp_fsync(src, target), reps)
    # plain and encrypted in turns, so each pair sees the same moment of the machine's load
    plain_copy = timed(lambda: folder.put_file("JobMatcher/x/plain.db", src, digest))
    encrypted_copy = timed(lambda: folder.put_stream("JobMatcher/x/enc.db.age", enc))
    pairs = []
    for _ in range(reps):
        wait_for_quiet()
        pairs.append((plain_copy(), encrypted_copy()))
    r["folder_plain"] = min(p for p, _ in pairs)
    r["folder_encrypted"] = min(e for _, e in pairs)
    r["folder_ratio_pairs"] = [round(e / p, 2) for p, e in pairs]
    r["encrypt_only"] = best(timed(enc_only), reps)
    r["peak_rss_mb"], r["child_peak_rss_mb"] = peak_rss_of_encrypted_copy(src, work, str(recipient))
    if server is not None:
        s3 = S3Location("bench", "p", server.endpoint, ACCESS_KEY, SECRET_KEY, spool_dir=work)
        s3.initialize()
        r["s3_plain"] = best(timed(lambda: s3.put_file("JobMatcher/x/plain.db", src, digest)), reps)
        r["s3_encrypted"] = best(timed(lambda: s3.put_stream("JobMatcher/x/enc.db.age", enc)), reps)
        # boto3 alone (its defaults, no checksum, no check after): what our checks cost on top
        r["s3_boto3"] = best(timed(lambda: s3.client.upload_file(str(src), "bench", "p/raw.db")), reps)
    r.update(backup_create_times(data, work, reps))
    r["load_after"] = os.getloadavg()[0]
    return r


_RSS_PROBE = """
import sys
from pathlib import Path
from jobmatcher.locations.crypto import encrypt_file_into
from jobmatcher.locations.folder import FolderLocation
loc = FolderLocation(Path(sys.argv[2]))
loc.initialize()
loc.put_stream("JobMatcher/x/rss.db.age", lambda w: encrypt_file_into(Path(sys.argv[1]), w, sys.argv[3]))
# VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited through exec), and
# the encrypting child's as it reported it
from jobmatcher.locations import encproc
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
print(encproc.last_child_peak_kb)
"""


def peak_rss_of_encrypted_copy(src: Path, work: Path, recipient: str) -> tuple[float, float]:
    """Peak resident memory (MB) of a fresh process that makes one encrypted folder copy of `src`, and of
    its encrypting child."""
    usb = work / "usb-rss"
    shutil.rmtree(usb, ignore_errors=True)
    usb.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "backend")}
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(src), str(usb), recipient],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    shutil.rmtree(usb, ignore_errors=True)
    parent, child = out.split()[-2:]
    return int(parent) / 1024, int(child) / 1024  # kB


def _background_copies(data: Path) -> list[int]:
    """Pids of the detached `location sync --background` processes working on the data folder `data`."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--background" in argv and str(data).encode() in argv:
            pids.append(int(d.name))
    return pids


def backup_create_times(data: Path, work: Path, reps: int) -> dict:
    """`backup create` wall time on two copies of the data, one without a location and one with an enabled
    encrypted folder location, in turns; and the time of the detached copy each run with the location started
    (from the command's end to that process's end: its start-up, the encrypted copy and its checks). Each run
    starts only after the previous run's copy has ended, so a copy still encrypting never lands in the next
    backup's time."""
    env = {**os.environ, "JOBMATCHER_LOG_DIR": str(work / "log")}
    folders = {}
    for name in ("without", "with"):
        d = folders[name] = work / f"data-{name}"
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(data, d)

    def jm(name: str) -> list[str]:
        return [sys.executable, "-m", "jobmatcher", "--data-dir", str(folders[name])]

    cpu: dict[str, list[float]] = {"without": [], "with": []}

    def once(name: str) -> float:
        wait_for_quiet()
        c0 = _children_cpu()
        t0 = time.perf_counter()
        subprocess.run([*jm(name), "backup", "create", "--json"], check=True, capture_output=True, env=env)
        t = time.perf_counter() - t0
        cpu[name].append(_children_cpu() - c0)  # the command and the children it waited for (not the copy)
        return t

    def copy_ended(started_by: float) -> float:
        """Seconds from `started_by` (the command's end) until no background copy is left."""
        deadline = time.monotonic() + 600
        seen = False
        while time.monotonic() < deadline:
            if _background_copies(folders["with"]):
                seen = True
            elif seen or time.perf_counter() - started_by > 5:
                break  # it ran and ended (or never showed up in 5 s: it exited at once)
            time.sleep(0.01)
        return time.perf_counter() - started_by

    usb = work / "usb-create"
    usb.mkdir(exist_ok=True)
    secret = work / "passphrase.txt"
    secret.write_text("bench passphrase, long enough\n")
    add = [*jm("with"), "location", "add", "folder", str(usb), "--passphrase-file", str(secret), "--yes"]
    subprocess.run(add, check=True, capture_output=True, env=env)
    copy_ended(time.perf_counter())  # adding it may copy what is there already
    without, with_, copies = [], [], []
    for _ in range(reps):
        without.append(once("without"))
        with_.append(once("with"))
        copies.append(copy_ended(time.perf_counter()))
    return {
        "create_without": min(without),
        "create_with": min(with_),
        "create_pairs": [round(w / o, 2) for o, w in zip(without, with_, strict=True)],
        "background_copy": min(copies),
        "create_cpu_without": min(cpu["without"]),
        "create_cpu_with": min(cpu["with"]),
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's children that ended and were waited for."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def render(rows: list[dict], reps: int = 3) -> str:
    def s(x):
        return "-" if x is None else (f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s")

    def ratio(a, b):
        return "-" if a is None or b is None else f"{a / b:.2f}×"

    out = [
        "# Backup locations: copy and encrypt, measured",
        "",
        f"`benchmarks/bench_locations.py`, best of {reps}, warm cache, the folder on the same disk, SeaweedFS on",
        "127.0.0.1 (no network in between: the figures are the client's and the disk's cost). Ratios:",
        "against cp + fsync for the folder, against the unencrypted upload for S3; encryption against the",
        "unencrypted copy to the same place (target 1.3×).",
        "",
        "| Backup | cp + fsync | folder, plain | folder, encrypted | age alone | boto3 upload_file | S3, plain "
        "| S3, encrypted | encryption cost folder / S3 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['size']} | {s(r['cp_fsync'])} | {s(r['folder_plain'])} ({ratio(r['folder_plain'], r['cp_fsync'])}) "
            f"| {s(r['folder_encrypted'])} ({ratio(r['folder_encrypted'], r['cp_fsync'])}) "
            f"| {s(r['encrypt_only'])} | {s(r.get('s3_boto3'))} | {s(r.get('s3_plain'))} | {s(r.get('s3_encrypted'))} "
            f"| {ratio(r['folder_encrypted'], r['folder_plain'])} / {ratio(r.get('s3_encrypted'), r.get('s3_plain'))} |"
        )
    out += [
        "",
        "Folder copies, plain and encrypted measured in turns (pairs in the same moment of the machine's load);",
        "the machine's load average (1 min) when each size started and ended, and the peak memory of a",
        "process making one encrypted copy:",
        "",
        "| Backup | encrypted / plain, each pair | load average | peak memory, encrypted copy |",
        "|---|---|---|---:|",
    ]
    for r in rows:
        pairs = ", ".join(f"{x:.2f}×" for x in r.get("folder_ratio_pairs", []))
        out.append(
            f"| {r['size']} | {pairs} | {r.get('load_before', 0):.1f} → {r.get('load_after', 0):.1f} "
            f"| {r.get('peak_rss_mb', 0):.0f} MB + {r.get('child_peak_rss_mb', 0):.0f} MB (its age child) |"
        )
    out += [
        "",
        f"`backup create` (wall time of the command, best of {reps}) on a data folder without a location and on",
        "one with an enabled encrypted folder location, in turns; each run starts after the previous run's copy",
        "ended. The copy runs after the command returns, in a detached process: its time (from the command's",
        "end to that process's end: start-up, encryption, checks) is the last column. CPU: the command's",
        "own CPU time (user + system, with the children it waits for; not the detached copy), best of.",
        "",
        "| Backup | without a location | with a location | with / without, each pair | CPU without / with "
        "| the copy after it |",
        "|---|---:|---:|---|---|---:|",
    ]
    for r in rows:
        pairs = ", ".join(f"{x:.2f}×" for x in r.get("create_pairs", []))
        out.append(
            f"| {r['size']} | {s(r['create_without'])} | {s(r['create_with'])} "
            f"({ratio(r['create_with'], r['create_without'])}) | {pairs} "
            f"| {s(r.get('create_cpu_without'))} / {s(r.get('create_cpu_with'))} | {s(r.get('background_copy'))} |"
        )
    out += [
        "",
        "How the two folder copies work (what the ratio compares):",
        "",
        "- **plain**: the kernel copies (copy_file_range), fsync, rename, fsync the folder, then the copy is",
        "  read back by its path with its pages dropped from the page cache, and its SHA-256 compared.",
        "- **encrypted**: age (pyrage) runs in a child process (it holds Python's GIL while it encrypts, so not",
        "  in the app's), which reads the backup once and hashes it (SHA-256, checked against the manifest",
        "  before the rename) and writes the age file into a 1 MiB pipe; the parent hashes the ciphertext",
        "  (SHA-256) and writes it, starting the disk's writeback every 4 MB without waiting; a thread waits",
        "  for each 4 MB to reach the disk (sync_file_range), drops its pages, reads it back and compares it",
        "  byte for byte; one fsync at the end, all read back identical before the rename. Two cores work",
        "  (the child on age, the parent on SHA-256, writing and the read-back): on an idle machine the copy",
        "  follows age's speed; with every core busy it tends to the ratio of CPU time (about 2.5×).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
