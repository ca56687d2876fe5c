"""Crash-consistency torture: SIGKILL real `jobmatcher` commands at random moments, then check the data.

For each operation (`backup` = `jobmatcher backup create`, `backup-writer` = the same while another
connection, as the app's window keeps one, is open with committed pages in the live -wal, `restore` =
`jobmatcher backup restore FILE --yes`, `migrate` = `jobmatcher db migrate`
from revision 0001 with its pre-migration backup), on a database of known
content:

1. the operation's duration is measured on a real subprocess, from the moment
   it first holds a file of the data folder open (its imports done: seen in
   /proc/PID/fd) until it exits;
2. N times, the command is started and killed with SIGKILL at a seeded random
   instant spread uniformly over [0, 1.05 x that duration] after that moment,
   so the kills land all over the operation and a few after it (the duration
   is measured again every 25 kills, as the machine's load changes);
3. after each kill the data folder is opened the way the app opens it
   (`Engine(d).launch(auto_backup=False)`, then the lock is released) and it is
   checked that
   - the live database passes `PRAGMA integrity_check`;
   - its content (a hash over schema and every row) equals the state before
     the operation or the state it intends, never anything else;
   - no partial backup is listed: no listed id starts with '.', every listed
     backup verifies (integrity, tables, checksum) and holds exactly the
     state it should (the data before the operation);
   - no leftover of the killed process remains (temp files of a backup,
     the staged copy or journal of a restore, temp files of atomic writes).
   A manifest without its backup (a name reserved by a backup killed just
   before publishing) counts as a leftover too.
4. the folder is reset to the state before, and the next round starts.

Everything random comes from the seed, so a failing round can be replayed:

    python tests/torture.py --op restore --kills 100 --seed 7 --size-mb 30

Exit status 0 when there were no failures. `--results-md FILE` writes a
Markdown table of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jobmatcher.engine import Engine
from jobmatcher.errors import JobMatcherError

# backup-writer: `backup create` while another connection (as the app's window keeps one) is open with
# committed pages in the live -wal, which the backup first checkpoints into the live file (issue 13)
OPS = ("backup", "backup-writer", "restore", "migrate")
OLD_REVISION = "0001_initial"
REMEASURE_EVERY = 25
# What may be in a data folder after a launch (the backups folder is checked on its own).
DATA_FOLDER_NAMES = {
    "jobmatcher.db",
    "jobmatcher.db-wal",
    "jobmatcher.db-shm",
    "backups",
    "settings.json",
    ".jobmatcher.lock",
    ".jobmatcher.swap.lock",
    ".jobmatcher-folder-id",
}


# -- known content ---------------------------------------------------------------------


def content_hash(db: Path) -> str:
    """A hash of the logical content: every table's definition and every row in rowid order."""
    conn = sqlite3.connect(f"{Path(db).absolute().as_uri()}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        objects = conn.execute(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        for obj in objects:
            h.update(repr(obj).encode())
        for _type, name, _tbl, _sql in objects:
            if _type != "table" or name.startswith("sqlite_"):
                continue
            for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        conn.close()


def make_data_folder(folder: Path, size_mb: float, seed: int, who: str, revision: str | None = None) -> Engine:
    """A data folder whose database holds `size_mb` MB of deterministic content (at `revision`, default head)."""
    e = Engine(folder)
    e.migrate(target=revision)
    rng = random.Random(f"{seed}-{who}")
    rows = max(50, int(size_mb * 1_000_000 / 1400))
    conn = e.connect()
    try:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO user_profile (id, full_name, headline) VALUES (1, ?, 'Tortured')", (who,))
        conn.executemany(
            "INSERT INTO skills (name, level) VALUES (?, ?)",
            [(f"{who} skill {i}", rng.randint(1, 5)) for i in range(200)],
        )
        blob = lambda: rng.getrandbits(8 * 600).to_bytes(600, "big").hex()  # noqa: E731
        if revision == OLD_REVISION:  # no saved_jobs yet: the bulk goes into skills (which 0002 alters)
            conn.executemany(
                "INSERT INTO skills (name, level) VALUES (?, ?)",
                [(f"{who} skill {i} {blob()[:600]}", 1) for i in range(rows * 3 // 4)],
            )
            conn.executemany(
                "INSERT INTO user_preferences (key, value) VALUES (?, ?)",
                [(f"pref {i}", json.dumps(blob()[:400])) for i in range(rows // 4)],
            )
        else:
            conn.executemany(
                "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
                [(f"{who} job {i}", f"Company {i % 13}", blob()) for i in range(rows)],
            )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return e


# -- one operation under fire ----------------------------------------------------------


def _wait_for_live_writers(folder: Path, timeout: float = 30) -> None:
    """Wait until no process that is still running has a manifest write under way in `folder`.

    A restore starts the check of its safety backup in a detached process (restore._check_in_background);
    killing the restore does not stop it, and its manifest write (`.NAME.PID-THREAD-N.tmp`) may be seen
    in the middle: that is work under way, not a leftover. What a dead process left is still reported.
    """
    import re
    import time

    from jobmatcher.fsutil import process_gone

    pattern = re.compile(r"^\..+\.(?P<pid>\d+)-\d+-\d+\.tmp$")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [n for n in os.listdir(folder) if (m := pattern.match(n)) and not process_gone(int(m.group("pid")))]
        if not live:
            return
        time.sleep(0.05)


def _detached_checks(data: Path) -> list[int]:
    """Pids of the running processes started with `--data-dir DATA` (a restore's detached check of its
    safety backup, `backup verify ID`): they outlive the killed command that started them."""
    import psutil

    pids = []
    for p in psutil.process_iter(["cmdline"]):
        args = p.info["cmdline"] or []
        if p.pid != os.getpid() and "--data-dir" in args and str(data) in args:
            pids.append(p.pid)
    return pids


def _end_detached_checks(data: Path, timeout: float = 30) -> None:
    """Let the detached checks of `data` finish (SIGKILL after `timeout` seconds) before the folder is reset,
    so none of them writes into a folder being removed under it."""
    from jobmatcher.fsutil import process_gone

    deadline = time.monotonic() + timeout
    while (pids := _detached_checks(data)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    while any(not process_gone(pid) for pid in pids):
        time.sleep(0.01)


@dataclass
class OpResult:
    op: str
    kills: int = 0
    failures: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    mid_operation: int = 0  # kills that left evidence of a half-done operation behind
    seconds: float = 0.0
    op_seconds: float = 0.0
    startup_seconds: float = 0.0
    db_mb: float = 0.0

    def count(self, key: str) -> None:
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


class Torture:
    def __init__(self, op: str, work: Path, size_mb: float, seed: int, log=print) -> None:
        assert op in OPS, op
        self.op, self.work, self.size_mb, self.seed, self.log = op, Path(work), size_mb, seed, log
        self.writer: sqlite3.Connection | None = None  # backup-writer: the open connection, as the window's
        self.work.mkdir(parents=True, exist_ok=True)
        self.data = self.work / f"{op}-data"
        self.env = {**os.environ, "JOBMATCHER_LOG_DIR": os.environ.get("JOBMATCHER_LOG_DIR", str(self.work / "logs"))}
        self.env.pop("JOBMATCHER_DATA_DIR", None)
        self._prepare()

    # set-up: the state before, the state intended, and a pristine copy to reset to
    def _prepare(self) -> None:
        if self.data.exists():
            shutil.rmtree(self.data)
        if self.op == "migrate":
            make_data_folder(self.data, self.size_mb, self.seed, "Before Migration", OLD_REVISION)
        else:
            make_data_folder(self.data, self.size_mb, self.seed, "Current Person")
        self.pristine = self.work / f"{self.op}-pristine.db"
        if self.op == "backup-writer":  # committed rows only in the -wal, a connection open on them
            self._open_writer()
            assert self.writer is not None
            self.writer.execute("BEGIN")
            self.writer.execute("UPDATE user_profile SET headline = 'only in the -wal' WHERE id = 1")
            self.writer.executemany(
                "INSERT INTO skills (name, level) VALUES (?, ?)", [(f"wal skill {i}", i % 5 + 1) for i in range(300)]
            )
            self.writer.execute("COMMIT")
            assert Path(f"{self.db}-wal").stat().st_size > 0
            # The writer idle, main + -wal are consistent. Copied by another process: closing a descriptor of the
            # file here would drop the writer's locks (POSIX), as no app may (fsutil.database_fd).
            for suffix in ("", "-wal"):
                subprocess.run(["cp", f"{self.db}{suffix}", f"{self.pristine}{suffix}"], check=True)
        else:
            shutil.copyfile(self.db, self.pristine)
        self.before = content_hash(self.db)
        self.intended = self.before
        self.command = ["backup", "create", "--note", "torture"]
        if self.op == "restore":
            other = self.work / "restore-source"
            if other.exists():
                shutil.rmtree(other)
            self.source = Path(make_data_folder(other, self.size_mb, self.seed, "Restored Person").create_backup().path)
            self.intended = content_hash(self.source)
            self.command = ["backup", "restore", str(self.source), "--yes"]
        elif self.op == "migrate":
            ref = self.work / "migrate-reference"
            if ref.exists():
                shutil.rmtree(ref)
            ref.mkdir()
            shutil.copyfile(self.pristine, ref / "jobmatcher.db")
            Engine(ref).migrate()
            self.intended = content_hash(ref / "jobmatcher.db")
            shutil.rmtree(ref)
            self.command = ["db", "migrate"]
        assert self.op.startswith("backup") or self.intended != self.before

    def _open_writer(self) -> None:
        from jobmatcher import database

        self.writer = database.connect(self.db)  # as the app's writer opens it
        self.writer.execute("PRAGMA wal_autocheckpoint=0")  # its pages stay in the -wal until a backup's checkpoint
        self.writer.execute("SELECT count(*) FROM skills").fetchone()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    @property
    def db(self) -> Path:
        return self.data / "jobmatcher.db"

    @property
    def backups(self) -> Path:
        return self.data / "backups"

    def _argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "jobmatcher", "--data-dir", str(self.data), *args]

    def reset(self) -> None:
        """Put the state before back: the pristine database, no backups, nothing else."""
        _end_detached_checks(self.data)
        reopen = self.writer is not None
        self.close()  # never a connection open on a file being replaced
        for p in self.data.iterdir():
            if p.name in ("settings.json", ".jobmatcher.lock", ".jobmatcher.swap.lock"):
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        shutil.copyfile(self.pristine, self.db)
        if reopen:
            shutil.copyfile(f"{self.pristine}-wal", f"{self.db}-wal")
            self._open_writer()

    def measure(self, runs: int = 3) -> tuple[float, float]:
        """(start-up: launch until the command first opens a file of the data folder, the operation: from
        then until it exits), as real subprocesses, the median of `runs` after one to warm the caches."""
        startups, whole = [], []
        for i in range(runs + 1):  # the first run only warms the caches
            t0 = time.perf_counter()
            p = subprocess.Popen(
                self._argv(*self.command), env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            started = self._wait_for_start(p)
            _, err = p.communicate(timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(self.command)} failed: {err.decode(errors='replace')}")
            end = time.perf_counter()
            if i:
                startups.append(started - t0)
                whole.append(end - started)
            self.reset()
        return statistics.median(startups), statistics.median(whole)

    def _wait_for_start(self, p: subprocess.Popen) -> float:
        """The instant the process first holds a file of the data folder open (its imports are done and the
        operation begins), seen in /proc/PID/fd; where there is no /proc, the instant it started."""
        fd_dir = f"/proc/{p.pid}/fd"
        if not os.path.isdir("/proc/self/fd"):
            return time.perf_counter()
        prefix = str(self.data) + os.sep
        while p.poll() is None:
            try:
                for fd in os.listdir(fd_dir):
                    try:
                        if os.readlink(f"{fd_dir}/{fd}").startswith(prefix):
                            return time.perf_counter()
                    except OSError:
                        pass
            except OSError:
                pass
            time.sleep(0.0005)
        return time.perf_counter()

    # one round: start, kill, open as the app does, check
    def round(self, n: int, delay: float, result: OpResult) -> None:
        """Start the command, kill it `delay` seconds after its operation began, check what is left."""
        p = subprocess.Popen(self._argv(*self.command), env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = self._wait_for_start(p)
        time.sleep(max(0.0, started + delay - time.perf_counter()))
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        result.kills += 1
        finished = p.returncode == 0
        if p.returncode not in (0, -signal.SIGKILL):
            result.failures.append(
                f"round {n} ({delay:.3f}s): the command failed by itself "
                f"(exit {p.returncode}): {err.decode(errors='replace')[-500:]}"
            )
        evidence = self._evidence()
        if evidence and not finished:
            result.mid_operation += 1
        problems = self._check(result, evidence)
        for problem in problems:
            result.failures.append(f"round {n} (killed after {delay:.3f}s, evidence {sorted(evidence)}): {problem}")
        self.reset()

    def _evidence(self) -> set[str]:
        """What a half-done operation left behind, before anything cleans it up."""
        found = {p.name for p in self.data.iterdir()} - DATA_FOLDER_NAMES
        if self.backups.is_dir():
            found |= {f"backups/{n}" for n in os.listdir(self.backups) if n.startswith(".")}
        if self.op == "migrate":  # the upgrade transaction in flight shows as a non-empty -wal
            wal = Path(str(self.db) + "-wal")
            if wal.exists() and wal.stat().st_size:
                found.add("jobmatcher.db-wal")
        return found

    def _check(self, result: OpResult, evidence: set[str]) -> list[str]:
        problems: list[str] = []
        raw_state = None
        if self.op == "migrate":  # before the app opens it: the old revision or the new, whole
            try:
                raw_state = self._state_of(self.db, writable=True)
                if raw_state not in (self.before, self.intended):
                    problems.append(
                        "right after the kill the database is neither at 0001 with the data before "
                        "nor at head with the data migrated (a mix)"
                    )
            except Exception as e:  # noqa: BLE001
                problems.append(f"the database cannot be read after the kill: {type(e).__name__}: {e}")
        # a killed restore's detached check of its safety backup holds the folder while it runs: let it end first
        _end_detached_checks(self.data)
        engine = Engine(self.data)
        try:
            report = engine.launch(auto_backup=False)
        except Exception as e:  # noqa: BLE001 - any failure to open is what we are looking for
            return problems + [f"the app could not open the folder: {type(e).__name__}: {e}"]
        finally:
            engine.release_instance_lock()
        try:
            live = self._state_of(self.db)
        except Exception as e:  # noqa: BLE001
            return problems + [f"the live database cannot be read: {type(e).__name__}: {e}"]
        expected = {
            "backup": {self.before},
            "backup-writer": {self.before},
            "restore": {self.before, self.intended},
            "migrate": {self.intended},
        }[self.op]
        if live not in expected:
            problems.append("the live database is neither the state before nor the state intended (a mix)")
        # outcome, for the report
        if self.op == "restore":
            said = (report.recovered or "").lower()
            how = (
                "rolled back by the next launch"
                if "rolled back" in said
                else "undone by the next launch"
                if "undone" in said
                else "completed by the next launch"
                if "complete" in said
                else ""
            )
            state = "restored" if live == self.intended else "kept the data before"
            result.count(f"{state} ({how})" if how else state)
        elif self.op == "migrate":
            result.count(
                "migrated by the killed process"
                if raw_state == self.intended
                else "still at 0001, migrated by the next launch"
            )
            if report.migrated_to is None and raw_state != self.intended:
                problems.append("the launch did not finish the migration")
        # the backup folder: only whole, verified backups holding the state before
        listed = engine.list_backups()
        if self.op.startswith("backup"):
            result.count("backup published" if listed else "no backup")
        for rec in listed:
            if rec.id.startswith("."):
                problems.append(f"a hidden (partial) file is listed: {rec.id}")
                continue
            try:
                engine.verify(rec.id)
            except JobMatcherError as e:
                problems.append(f"the listed backup {rec.id} does not verify: {e.message}")
                continue
            if not rec.has_manifest:
                problems.append(f"the listed backup {rec.id} has no manifest (published before its manifest)")
            held = content_hash(Path(rec.path))
            if held != self.before:
                problems.append(f"the listed backup {rec.id} ({rec.type.value}) does not hold the state before")
        kept = {"restore": "safety", "migrate": "pre-migration"}.get(self.op)
        if (
            kept
            and live != self.before
            and not any(r.type.value == kept and content_hash(Path(r.path)) == self.before for r in listed)
        ):
            problems.append(f"the data before is gone: no {kept} backup holds it")
        if self.writer is not None and not Path(f"{self.db}-wal").exists():
            problems.append("the -wal of the open writer was deleted (its next commits would be seen by no one)")
        # leftovers: nothing but published pairs in the backups folder, nothing extra in the data folder
        extra = {p.name for p in self.data.iterdir()} - DATA_FOLDER_NAMES
        if extra:
            problems.append(f"leftovers in the data folder after launch: {sorted(extra)}")
        if self.backups.is_dir():
            _wait_for_live_writers(self.backups)
            names = set(os.listdir(self.backups))
            hidden = sorted(n for n in names if n.startswith(".") and n != ".jobmatcher-manifests.lock")
            if hidden:
                problems.append(f"leftovers in the backup folder after launch: {hidden}")
            orphans = sorted(n for n in names if n.endswith(".json") and n[:-5] + ".db" not in names)
            if orphans:
                problems.append(f"manifests without their backup left after launch: {orphans}")
        return problems

    @staticmethod
    def _state_of(db: Path, writable: bool = False) -> str:
        """Integrity check, then the content hash."""
        conn = sqlite3.connect(
            db if writable else f"{db.absolute().as_uri()}?mode=ro", uri=not writable, isolation_level=None
        )
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
        if rows != ["ok"]:
            raise AssertionError(f"integrity_check: {rows[:3]}")
        return content_hash(db)


def _quiet_logs() -> None:
    import logging

    logging.getLogger("jobmatcher").addHandler(logging.NullHandler())  # the engine's warnings: not on stderr


def run(op: str, kills: int, seed: int, size_mb: float, work: Path, log=print) -> OpResult:
    """Set up, measure, kill `kills` times, check after each; the result says what happened."""
    _quiet_logs()
    t0 = time.perf_counter()
    t = Torture(op, work / op, size_mb, seed, log)
    result = OpResult(op=op, db_mb=round(t.db.stat().st_size / 1e6, 1))
    rng = random.Random(f"{seed}-{op}-kills")
    durations = []
    for n in range(1, kills + 1):
        if (n - 1) % REMEASURE_EVERY == 0:  # the machine's load changes: measure again now and then
            result.startup_seconds, op_seconds = t.measure()
            durations.append(op_seconds)
            log(
                f"[{op}] {result.db_mb} MB; start-up {result.startup_seconds:.2f}s, then the operation "
                f"{op_seconds:.2f}s; killing between 0 and {1.05 * op_seconds:.2f}s into it"
            )
        before = len(result.failures)
        t.round(n, rng.uniform(0, 1.05) * op_seconds, result)
        for f in result.failures[before:]:
            log(f"[{op}] FAILURE {f}")
    result.op_seconds = statistics.median(durations) if durations else 0.0
    result.seconds = time.perf_counter() - t0
    log(
        f"[{op}] {result.kills} kills, {len(result.failures)} failures, {result.mid_operation} mid-operation, "
        f"outcomes {result.outcomes}, {result.seconds:.0f}s"
    )
    t.close()
    shutil.rmtree(work / op, ignore_errors=True)
    return result


def _machine() -> str:
    import platform

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except OSError:
        commit = ""
    return (
        f"{time.strftime('%Y-%m-%d')}, commit {commit or '?'}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.system()}"
    )


def markdown(results: list[OpResult], seed: int, size_mb: float, total_seconds: float) -> str:
    lines = [
        "| Operation | Database | Operation took (median) | SIGKILLs | Mid-operation | Outcomes | Failures |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {
        "backup": "`backup create`",
        "backup-writer": "`backup create`, another connection open with pages in the live -wal (as the window's)",
        "restore": "`backup restore`",
        "migrate": "`db migrate` (0001 → head, pre-migration backup)",
    }
    for r in results:
        outcomes = ", ".join(f"{v} {k}" for k, v in sorted(r.outcomes.items()))
        lines.append(
            f"| {labels[r.op]} | {r.db_mb} MB | {r.op_seconds:.2f} s (+ {r.startup_seconds:.2f} s start-up) "
            f"| {r.kills} | {r.mid_operation} | {outcomes} | **{len(r.failures)}** |"
        )
    kills = sum(r.kills for r in results)
    failures = sum(len(r.failures) for r in results)
    lines += [
        "",
        f"{kills} kills, {failures} failures; seed {seed}, database {size_mb:g} MB requested, "
        f"{total_seconds / 60:.1f} minutes in all ({_machine()}).",
        "",
        "*Mid-operation* counts the kills that left a half-done operation behind (temp files, a staged copy, "
        "a journal, an uncommitted upgrade) for the next launch to clean up. After every kill the folder was "
        "opened as the app opens it and checked: integrity, content equal to the state before or the state "
        "intended (a hash over every table and row), every listed backup verified and holding the state "
        "before, no leftovers. Reproduce with "
        f"`python tests/torture.py --op all --kills {results[0].kills if results else 0} --seed {seed} "
        f"--size-mb {size_mb:g}`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--op", choices=OPS + ("all",), default="all")
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--size-mb", type=float, default=30)
    p.add_argument("--workdir", type=Path, default=None, help="where to work (default: a temp folder)")
    p.add_argument("--results-md", type=Path, default=None, help="write the figures as a Markdown snippet")
    args = p.parse_args(argv)
    import tempfile

    ops = OPS if args.op == "all" else (args.op,)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jobmatcher-torture-", dir=args.workdir) as tmp:
        os.environ.setdefault("JOBMATCHER_LOG_DIR", str(Path(tmp) / "logs"))
        results = [run(op, args.kills, args.seed, args.size_mb, Path(tmp)) for op in ops]
    total = time.perf_counter() - t0
    text = markdown(results, args.seed, args.size_mb, total)
    print(text)
    if args.results_md:
        args.results_md.write_text(text)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
