"""The integrity check in a child process with memory-mapped I/O (checkproc): it refuses exactly what the
in-process check refuses, and a read error under the mapping (SIGBUS, made here for real by cutting the
file short while the child has it mapped) is a failed check with the reason "read-error", never a dead app
and never a listed backup. A child started ahead of its check (a spare, while the copy is made) checks the
same way and is never left behind."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from corpus import broken_files
from jobmatcher import checkproc
from jobmatcher.errors import BackupFailedError, InvalidBackupError
from jobmatcher.verify import verify_file


@pytest.fixture
def always_child(monkeypatch):
    monkeypatch.setattr(checkproc, "CHILD_MIN_BYTES", 0)


def test_the_child_checks_with_memory_mapping_and_reports_its_memory(engine, always_child):
    good = Path(engine.create_backup().path)
    found = checkproc.check(good)
    assert found.in_child and found.problems == [] and found.error is None
    assert "saved_jobs" in found.tables and found.revision
    mem = found.child_memory
    assert mem["peak_rss_mb"] > 0 and mem["file_mb"] is not None and mem["anon_mb"] is not None
    inproc = checkproc.check(good, in_child=False)
    assert (inproc.problems, sorted(inproc.tables), inproc.revision) == ([], sorted(found.tables), found.revision)


MODES = {  # (CHILD_MIN_BYTES, FORK_MIN_BYTES, a child can be forked)
    "in-process": (1 << 60, 1 << 60, False),
    "started child": (0, 1 << 60, False),
    "forked child": (1 << 60, 0, True),
}


def _mode(monkeypatch, name: str) -> None:
    child, fork, can_fork = MODES[name]
    monkeypatch.setattr(checkproc, "CHILD_MIN_BYTES", child)
    monkeypatch.setattr(checkproc, "FORK_MIN_BYTES", fork)
    monkeypatch.setattr(checkproc, "_can_fork", lambda: can_fork)


def test_the_child_refuses_what_the_in_process_check_refuses(engine, tmp_path, monkeypatch):
    good = Path(engine.create_backup().path)
    cases = broken_files(good, tmp_path / "corpus")
    seen = {}
    forks = []
    real_fork = checkproc._fork
    monkeypatch.setattr(checkproc, "_fork", lambda *a: forks.append(a) or real_fork(*a))
    for mode in MODES:
        _mode(monkeypatch, mode)
        found = checkproc.check(good)
        assert found.in_child == (mode != "in-process") and found.problems == [] and found.revision, mode
        for name, (path, reason) in cases.items():
            with pytest.raises(InvalidBackupError) as e:
                verify_file(path)
            assert e.value.reason == reason, (name, mode, e.value.message)
            seen.setdefault(name, set()).add(e.value.reason)
    assert all(len(r) == 1 for r in seen.values())
    assert forks  # the forked child really checked


def test_the_in_process_check_finds_through_its_small_page_cache_what_the_mapped_child_finds(engine, tmp_path):
    """The check in this process reads with pread through a page cache of checkchild._UNMAPPED_CACHE_KIB, a
    quarter of SQLite's default (fewer page faults in a fresh process: issue 13). On a file several times that
    size whose index entries no longer match their rows and with a page smashed, it reports exactly the problems
    the memory-mapped child reports: the cache changes how often a page is read, never what is checked."""
    import sqlite3

    from corpus import _smash_page
    from jobmatcher import checkchild

    live = engine.connect()
    with live:
        live.executemany(
            "INSERT INTO saved_jobs (title, company, description) VALUES (?, ?, ?)",
            [(f"Engineer {i}", f"Company {i % 97}", "Build things. " * 25) for i in range(6000)],
        )
    live.close()
    good = Path(engine.create_backup().path)
    assert good.stat().st_size > 3 * checkchild._UNMAPPED_CACHE_KIB * 1024
    bad = tmp_path / "bad.db"
    bad.write_bytes(good.read_bytes())
    conn = sqlite3.connect(bad)
    conn.execute("PRAGMA writable_schema=ON")  # the index's definition changed under its entries: every row's
    conn.execute(  # entry is then looked up in the index and not found
        "UPDATE sqlite_master SET sql = 'CREATE INDEX ix_saved_jobs_company ON saved_jobs (title)' "
        "WHERE name = 'ix_saved_jobs_company'"
    )
    conn.commit()
    conn.close()
    pages = bad.stat().st_size // 4096
    smashed = _smash_page(bad, tmp_path / "smashed.db", pages * 2 // 3)
    for path in (bad, smashed):
        here = checkproc.check(path, max_errors=200, in_child=False)
        child = checkproc.check(path, max_errors=200, in_child=True)
        assert not here.in_child and child.in_child
        assert here.problems and here.problems == child.problems, path.name
    assert any("missing from index ix_saved_jobs_company" in p for p in checkproc.check(bad, in_child=False).problems)


@pytest.mark.parametrize("mode", ["started child", "forked child"])
def test_a_check_whose_result_is_not_wanted_leaves_no_child(engine, monkeypatch, mode):
    import psutil

    good = Path(engine.create_backup().path)
    _mode(monkeypatch, mode)
    before = {p.pid for p in psutil.Process().children()}
    with checkproc.start(good) as pending:  # the caller fails before asking for the result
        assert {p.pid for p in psutil.Process().children()} - before
    assert {p.pid for p in psutil.Process().children()} == before  # killed and reaped: not even a zombie
    with pytest.raises(RuntimeError):
        pending.result()


def test_a_forked_child_is_made_only_where_it_is_safe():
    import threading

    assert checkproc._can_fork() == (sys.platform == "linux" and threading.active_count() == 1 and _threads() == 1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not checkproc._can_fork()  # another thread could hold a lock the copy would wait for
    finally:
        stop.set()
        t.join()


def _threads() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def test_a_spare_child_checks_the_same_and_is_never_left_behind(engine, always_child):
    good = Path(engine.create_backup().path)
    with checkproc.SpareChild() as spare:
        proc = spare._proc
        while not spare.ready():  # still starting, a fork would be made instead (test_verify_spare.py)
            time.sleep(0.005)
        found = checkproc.check(good, spare=spare)
    assert found.in_child and found.problems == [] and found.revision and found.child_memory["peak_rss_mb"]
    assert proc is not None and proc.returncode == 0
    with checkproc.SpareChild() as unused:  # the copy failed: nothing to check
        proc = unused._proc
    assert proc is not None and proc.returncode is not None  # killed and reaped
    # a backup made of a large database starts its check's child before the copy and uses it
    made = engine.create_backup()
    assert made.check_memory and made.check_memory["peak_rss_mb"]


def _cut_short_while_mapped(pause: Path, target, keep_bytes: int = 4096) -> threading.Thread:
    """Wait until the child is paused inside its check, cut the file it checks short, let it go on."""

    def run():
        deadline = time.monotonic() + 30
        while not (pause / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        path = target() if callable(target) else target
        os.truncate(path, keep_bytes)
        (pause / "go").write_text("1")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("mode", ["started child", "forked child"])
def test_sigbus_in_the_child_is_a_failed_check_not_a_dead_app(engine, tmp_path, monkeypatch, mode):
    _mode(monkeypatch, mode)
    victim = tmp_path / "victim.db"
    victim.write_bytes(Path(engine.create_backup().path).read_bytes())
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(checkproc.PAUSE_ENV, str(pause))
    t = _cut_short_while_mapped(pause, victim)
    with pytest.raises(checkproc.ChildCheckCrashed) as crash:
        checkproc.check(victim)
    t.join()
    assert crash.value.signal_name == "SIGBUS"
    # and through verify: the reason is a read error
    victim.write_bytes(Path(engine.list_backups()[0].path).read_bytes())
    for f in pause.iterdir():
        f.unlink()
    t = _cut_short_while_mapped(pause, victim)
    with pytest.raises(InvalidBackupError) as e:
        verify_file(victim)
    t.join()
    assert e.value.reason == "read-error" and "read error" in e.value.message


@pytest.mark.parametrize("fork", [False, True])
def test_a_spare_forked_or_started_checks_answers_sigbus_and_is_never_left_behind(engine, tmp_path, monkeypatch, fork):
    """Issue 13: a backup's spare child is a forked copy of the process where that is safe (no interpreter start
    on the second core while the copy is hashed). Either kind checks a good file, turns a SIGBUS (the file cut
    short under its mapping) into a crashed check, and is killed and reaped when unused or done."""
    import psutil

    before = {p.pid for p in psutil.Process().children()}
    good = Path(engine.create_backup().path)
    with checkproc.SpareChild(fork=fork) as spare:
        assert isinstance(spare._proc, checkproc._ForkedSpare) == fork
        while not spare.ready():
            time.sleep(0.002)
        found = checkproc.check(good, spare=spare)
    assert found.in_child and found.problems == [] and found.revision and found.child_memory["peak_rss_mb"]
    with checkproc.SpareChild(fork=fork) as unused:  # the copy failed: nothing to check
        proc = unused._proc
    assert proc.returncode is not None  # killed and reaped
    victim = tmp_path / "victim.db"
    victim.write_bytes(good.read_bytes())
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(checkproc.PAUSE_ENV, str(pause))
    with checkproc.SpareChild(fork=fork) as spare:
        while not spare.ready():
            time.sleep(0.002)
        t = _cut_short_while_mapped(pause, victim)
        with pytest.raises(checkproc.ChildCheckCrashed) as crash:
            checkproc.check(victim, spare=spare)
        t.join()
    assert crash.value.signal_name == "SIGBUS"
    assert {p.pid for p in psutil.Process().children()} == before  # not even a zombie


def test_a_spare_is_forked_only_where_it_is_safe(monkeypatch):
    for safe in (False, True):
        monkeypatch.setattr(checkproc, "_can_fork", lambda safe=safe: safe)
        with checkproc.SpareChild.start(fork_if_safe=True) as spare:
            assert isinstance(spare._proc, checkproc._ForkedSpare) == safe
        with checkproc.SpareChild.start() as spare:
            assert not isinstance(spare._proc, checkproc._ForkedSpare)


def _checked_file(pid: int) -> str:
    """The .db file the child `pid` has open (a spare child got its name on standard input)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.endswith(".db"):
            return target
    raise AssertionError(f"child {pid} has no .db file open")


def test_a_backup_whose_check_dies_of_sigbus_is_not_listed(engine, tmp_path, monkeypatch, always_child):
    """Both ways of making the copy (file copy, then the backup API) are cut short under their check."""
    before = [r.id for r in engine.list_backups()]
    folder = engine.store.folder
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(checkproc.PAUSE_ENV, str(pause))
    cut = []

    def cutter():
        for _ in range(2):
            deadline = time.monotonic() + 30
            while not (pause / "ready").exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            pid = int((pause / "ready").read_text())
            victim = Path(_checked_file(pid))  # the file this child has mapped
            os.truncate(victim, 4096)
            cut.append(victim.name)
            (pause / "ready").unlink()
            (pause / "go").write_text("1")
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:  # it died
                time.sleep(0.005)
            (pause / "go").unlink()

    t = threading.Thread(target=cutter, daemon=True)
    t.start()
    with pytest.raises(BackupFailedError) as e:
        engine.create_backup(note="doomed")
    t.join()
    assert len(cut) == 2 and "read error" in e.value.message
    assert [r.id for r in engine.list_backups()] == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-") and not p.name.endswith(".lock")]
    assert engine.check().ok  # the live data was never touched


def test_the_bundle_entry_point_runs_the_child(engine, tmp_path):
    """The packaged app has no checkproc.py to run: its entry point answers CHILD_FLAG itself."""
    import json
    import subprocess
    import sys

    entry = Path(__file__).resolve().parents[1] / "build" / "entry.py"
    good = Path(engine.create_backup().path)
    out = subprocess.run(
        [sys.executable, str(entry), checkproc.CHILD_FLAG, str(good), "20"], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    assert result["problems"] == [] and result["revision"] and result["memory"]["peak_rss_mb"] > 0


def test_a_check_killed_from_outside_is_not_a_read_error_and_keeps_the_earlier_result(
    engine, tmp_path, monkeypatch, always_child
):
    """Finding H18: SIGKILL (the out-of-memory killer, a `kill`) of the check's child was reported as a disk
    read error and a sound backup was recorded FAILED. Only SIGBUS is the file's fault."""
    import signal

    from jobmatcher.errors import CheckInterruptedError
    from jobmatcher.manifest import read_manifest

    b = engine.create_backup(note="sound")
    assert read_manifest(Path(b.path)).verified is True
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(checkproc.PAUSE_ENV, str(pause))

    def killer():
        deadline = time.monotonic() + 30
        while not (pause / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(int((pause / "ready").read_text()), signal.SIGKILL)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    with pytest.raises(CheckInterruptedError) as e:
        engine.verify(b.id)
    t.join()
    # said in the user's words; the signal is a field for the log and --json (L19)
    assert "stopped before it finished" in e.value.message and e.value.signal == "SIGKILL"
    assert "SIGKILL" not in e.value.message and "read error" not in e.value.message
    m = read_manifest(Path(b.path))
    assert m.verified is True  # the earlier result is kept: nothing is known from a stopped check
    assert [r.verified for r in engine.list_backups() if r.id == b.id] == [True]


class FailingDisk:
    """badreadfs (tests/badreadfs.py) mounted at `mount`: a real read error (EIO from `pread`, SIGBUS under a
    memory mapping) in the stretch of the named files from an offset on."""

    def __init__(self, tmp_path: Path) -> None:
        self.backing, self.mount, self.status = tmp_path / "disk", tmp_path / "mnt", tmp_path / "badreadfs.json"
        self.backing.mkdir()
        self.mount.mkdir()
        self.procs: list = []

    def serve(self, source: Path, bad_from: int, name: str = "failing.db") -> Path:
        """A read-only copy of `source` named `name`, unreadable from `bad_from` on."""
        (self.backing / name).write_bytes(source.read_bytes())
        self._start(name, bad_from)
        return self.mount / name

    def folder(self, bad_name: str, bad_from: int) -> Path:
        """A writable folder where files named like `bad_name` (a glob) cannot be read from `bad_from` on (once
        opened again after they were written: FUSE drops a file's cached pages at each open)."""
        self._start(bad_name, bad_from, "--writable")
        return self.mount

    def _start(self, bad_name: str, bad_from: int, *extra: str) -> None:
        import subprocess

        script = Path(__file__).with_name("badreadfs.py")
        argv = [sys.executable, str(script), str(self.backing), str(self.mount), "--bad-name", bad_name]
        argv += ["--bad-from", str(bad_from), "--status", str(self.status), *extra]
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        deadline = time.monotonic() + 30
        while not (self.status.exists() and os.path.ismount(self.mount)):
            assert self.procs[-1].poll() is None, self.procs[-1].stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "badreadfs did not mount"
            time.sleep(0.01)

    def stop(self) -> None:
        import subprocess

        for proc in self.procs:
            for _ in range(200):
                if not os.path.ismount(self.mount):
                    break
                if subprocess.run(["fusermount3", "-u", str(self.mount)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.05)
            else:
                subprocess.run(["fusermount3", "-uz", str(self.mount)], capture_output=True)
            proc.wait(timeout=30)


@pytest.fixture
def failing_disk(tmp_path):
    from powerloss import unavailable

    why = unavailable()
    if why:
        pytest.skip(why)
    disk = FailingDisk(tmp_path)
    yield disk
    disk.stop()


@pytest.mark.parametrize("route", ["by size", "started child", "forked child"])
def test_a_read_error_in_a_small_file_fails_its_check_on_every_route(engine, failing_disk, monkeypatch, route):
    """A small file is checked in the process itself, without memory mapping (checkproc.FORK_MIN_BYTES): there
    a read error is SQLite's 'disk I/O error', refused as reason read-error. The same file through either child
    (memory-mapped: SIGBUS) gets the same verdict, so the route never changes the answer."""
    good = Path(engine.create_backup().path)
    size = good.stat().st_size
    assert size < checkproc.FORK_MIN_BYTES <= checkproc.CHILD_MIN_BYTES  # a small file: in-process by size
    if route != "by size":
        _mode(monkeypatch, route)
    failing = failing_disk.serve(good, bad_from=size - 3 * 4096)  # its last pages are unreadable
    with open(failing, "rb") as f:
        assert f.read(100).startswith(b"SQLite format 3")  # the start reads fine
    if route == "by size":
        found = checkproc.check(failing)
        assert not found.in_child and found.error is not None and "disk I/O error" in found.error
    else:
        with pytest.raises(checkproc.ChildCheckCrashed) as crash:
            checkproc.check(failing)
        assert crash.value.signal_name == "SIGBUS"
    with pytest.raises(InvalidBackupError) as e:
        verify_file(failing, with_blake3=True)
    assert e.value.reason == "read-error" and "could not be read" in e.value.message
    # the same words on every route, none of them a signal's or SQLite's (L19)
    assert "(a disk read error)" in e.value.message
    assert "SIGBUS" not in e.value.message and "I/O" not in e.value.message


def test_the_live_database_on_a_failing_disk_is_a_read_error_not_damage(engine, failing_disk):
    """`db check` of live data whose disk cannot read part of it: SQLite calls that 'malformed' (damage); the
    check says it is a read error of the disk, and to copy the data folder elsewhere first."""
    from jobmatcher.engine import Engine

    db = engine.data.db_path
    size = db.stat().st_size
    failing = failing_disk.serve(db, bad_from=size - 3 * 4096, name=db.name)
    report = Engine(failing.parent, read_only=True).check()
    assert not report.ok and len(report.problems) == 1
    assert "could not be read" in report.problems[0] and "malformed" not in report.problems[0]
    assert "another disk" in report.problems[0]


def test_a_small_backup_whose_copy_cannot_be_read_back_is_not_listed(engine, failing_disk):
    """A new backup under 16 MB is checked in the process itself: when its copy cannot be read back from the
    backup folder's disk (EIO), the backup fails as 'could not be read back' (the disk), never as 'your
    database itself may be damaged', nothing is listed or left, and the live data is untouched."""
    from conftest import fingerprint
    from jobmatcher.errors import BackupFailedError

    before = fingerprint(engine.data.db_path)
    size = engine.data.db_path.stat().st_size
    assert size < checkproc.FORK_MIN_BYTES
    folder = failing_disk.folder(".tmp-*.db", bad_from=size - 2 * 4096)  # a new copy's last pages: unreadable
    engine.update_settings({"backup_dir": str(folder)})
    with pytest.raises(BackupFailedError) as e:
        engine.create_backup(note="doomed")
    assert e.value.code == "read-back-failed", e.value.message
    assert "could not be read back" in e.value.message and "damaged" not in e.value.message
    assert engine.list_backups() == []
    assert not [p for p in folder.iterdir() if p.suffix == ".db"]
    assert fingerprint(engine.data.db_path) == before


def test_a_fresh_child_imports_only_what_the_check_needs(engine):
    """Issue 13: the child's start-up runs beside a backup's copy on a 2-core machine. Started as checkproc starts it,
    it checks a real backup with no dataclasses, typing, pathlib, subprocess or threading loaded (about half of
    its start-up when it was checkproc.py run as a script), and imports checkchild rather than running it as a
    script (so its bytecode is used)."""
    import json
    import subprocess

    good = Path(engine.create_backup().path)
    command = checkproc._child_command(good, 20)
    assert "-c" in command and not any(part.endswith(".py") for part in command)
    probe = [*command[:-2], *command[-2:]]
    probe[probe.index("-c") + 1] = probe[probe.index("-c") + 1].replace(
        "sys.exit(checkchild.child_main(sys.argv[1:]))",
        "checkchild._run_check(sys.argv[1], 20, mmap=True); print(__import__('json').dumps(sorted(sys.modules)))",
    )
    loaded = set(json.loads(subprocess.run(probe, capture_output=True, text=True, check=True).stdout))
    assert "checkchild" in loaded and "sqlite3" in loaded
    assert not loaded & {"dataclasses", "typing", "pathlib", "subprocess", "threading", "inspect", "jobmatcher"}
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert result["problems"] == [] and result["revision"] and result["error"] is None


@pytest.mark.parametrize(
    "name", ["plain.db", "with space.db", "per%cent.db", "q?mark.db", "hash#.db", "naïve-日本.db", "a//b/./c.db"]
)
def test_file_uri_is_pathlibs(tmp_path, monkeypatch, name):
    from jobmatcher.checkchild import file_uri

    monkeypatch.chdir(tmp_path)
    for path in (str(tmp_path / name), name):
        assert file_uri(path) == Path(path).absolute().as_uri(), path


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("route", ["forked child", "started child"])
def test_a_check_child_ends_with_the_killed_process_that_asked_for_it(tmp_path, route):
    """Y9d's kind: a restore or verify killed (SIGKILL) while its check child reads a large backup left the child
    reading the whole file on, for no one. It ends at its next steps. Not timed against a figure: against this
    machine's own check of the same file, measured here first."""
    import signal
    import sqlite3
    import subprocess

    db = tmp_path / "big.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c BLOB)")
    conn.execute("CREATE INDEX i ON t(b)")
    conn.executemany("INSERT INTO t(b, c) VALUES (hex(randomblob(16)), randomblob(200))", ([] for _ in range(600_000)))
    conn.commit()
    conn.close()
    script = (
        "import sys\nfrom pathlib import Path\nfrom jobmatcher import checkproc\n"
        "if sys.argv[2] == 'started child':\n    checkproc._can_fork = lambda: False\n"
        "print(checkproc.check(Path(sys.argv[1]), in_child=True).problems == [])\n"
    )
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, str(db), route], capture_output=True, text=True, timeout=300)
    whole = time.perf_counter() - t0  # a whole check here: start, read, answer
    assert done.returncode == 0 and "True" in done.stdout, done.stdout + done.stderr

    parent = subprocess.Popen([sys.executable, "-c", script, str(db), route])
    child = None
    while child is None and parent.poll() is None:
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if (d / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(parent.pid):
                        child = int(d.name)
                        break
                except (OSError, IndexError):
                    continue
    assert child is not None, "the check ended without a child"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    t_killed = time.perf_counter()

    def state() -> str | None:
        try:
            return Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None

    while state() not in (None, "Z"):
        time.sleep(0.005)
    lived = time.perf_counter() - t_killed
    # before: the orphan read and checked the whole file (most of a check) before it found no one to answer
    assert lived < whole / 3, (lived, whole)


def test_a_child_that_leaves_its_connection_open_answers_the_same(engine, tmp_path):
    """A check's child answers before closing its connection (the process ends right after, issue 13): the answer
    is the same, for a sound file and for every damaged one, and the connection is kept until the process ends."""
    from jobmatcher import checkchild

    good = Path(engine.create_backup().path)
    cases = broken_files(good, tmp_path / "corpus")
    # the regular files among them (a pipe would wait for a writer; the shape check refuses the rest first)
    files = [p for p, _ in cases.values() if len(p.name) < 255 and p.is_file() and not p.is_symlink()]
    assert len(files) > 5
    for path in [good, *files]:
        kept = len(checkchild._LEFT_OPEN)
        closed = checkchild._run_check(str(path), 20, mmap=True)
        assert len(checkchild._LEFT_OPEN) == kept
        left = checkchild._run_check(str(path), 20, mmap=True, exiting=True)
        closed.pop("memory", None), left.pop("memory", None)
        assert left == closed, path
    assert checkchild._LEFT_OPEN
    for conn in checkchild._LEFT_OPEN:
        conn.close()
    checkchild._LEFT_OPEN.clear()
