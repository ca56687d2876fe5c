"""`backup verify` checks in a spare child started ahead (issue 13, verify <= 1.0x a bare integrity_check): the
command starts the check's child before it imports the engine, so the memory-mapped check of even a small file
runs at once, in that child, never in the command's own process. The spare holds nothing until it gets a file,
ends by itself when its parent ends (even by SIGKILL), is never left behind, and a spare that died while it
waited costs nothing but its speed: the check starts its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from jobmatcher import checkproc
from jobmatcher.errors import InvalidBackupError
from jobmatcher.verify import verify_file


def _ready(spare: checkproc.SpareChild) -> checkproc.SpareChild:
    deadline = time.monotonic() + 30
    while not spare.ready():
        assert time.monotonic() < deadline, "the spare child never said it was ready"
        time.sleep(0.005)
    return spare


@pytest.fixture
def checks_here(monkeypatch) -> list[str]:
    """The files this process checked itself (in-process, not in a child)."""
    seen: list[str] = []
    real = checkproc._run_check

    def spy(path, max_errors, mmap, integrity=True, exiting=False):
        if integrity and not exiting:  # `exiting`: a forked child's check
            seen.append(path)
        return real(path, max_errors, mmap, integrity, exiting)

    monkeypatch.setattr(checkproc, "_run_check", spy)
    return seen


def test_a_ready_spare_checks_a_small_file_mapped_in_the_child(engine, checks_here):
    b = engine.create_backup()
    assert Path(b.path).stat().st_size < checkproc.FORK_MIN_BYTES  # checked in this process without a spare
    checks_here.clear()
    with _ready(checkproc.SpareChild()) as spare:
        proc = spare._proc
        result = engine.verify(b.id, spare=spare)
    assert result.backup is not None and result.backup.verified is True
    assert checks_here == []  # not here: in the spare child
    assert proc is not None and proc.returncode == 0  # it answered and ended
    # without a spare (or one not ready yet) a small file is checked here, unmapped, as before
    engine.verify(b.id)
    assert checks_here == [b.path]


def test_a_spare_not_ready_yet_is_not_waited_for_a_small_file(engine, checks_here, monkeypatch):
    b = engine.create_backup()
    checks_here.clear()
    with checkproc.SpareChild() as spare:
        monkeypatch.setattr(spare, "ready", lambda: False)
        engine.verify(b.id, spare=spare)
        assert spare._proc is not None  # not taken: closed (killed and reaped) on leaving
    assert checks_here == [b.path]


@pytest.mark.parametrize("can_fork", [True, False])
def test_a_spare_still_starting_is_waited_for_only_where_nothing_can_be_forked(engine, monkeypatch, can_fork):
    """A large file: where a fork can be made it is (5 ms) rather than waiting for the rest of the spare's start
    (a packaged app's whole start-up); where none can (the app's threads), the spare is still the quickest."""
    b = engine.create_backup()
    monkeypatch.setattr(checkproc, "FORK_MIN_BYTES", 0)
    monkeypatch.setattr(checkproc, "CHILD_MIN_BYTES", 0)
    monkeypatch.setattr(checkproc, "_can_fork", lambda: can_fork)
    forks = []
    real_fork = checkproc._fork
    monkeypatch.setattr(checkproc, "_fork", lambda *a: forks.append(a) or real_fork(*a))
    with checkproc.SpareChild() as spare:
        monkeypatch.setattr(spare, "ready", lambda: False)
        result = engine.verify(b.id, spare=spare)
        taken = spare._proc is None
    assert result.backup is not None and result.backup.verified is True
    assert (bool(forks), taken) == (can_fork, not can_fork)


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_spare_killed_while_it_waited_is_replaced_by_the_usual_check(engine, checks_here, monkeypatch, size):
    b = engine.create_backup()
    checks_here.clear()
    if size == "large":  # a file a child checks anyway: the dead spare must not be handed the file
        monkeypatch.setattr(checkproc, "CHILD_MIN_BYTES", 0)
    with _ready(checkproc.SpareChild()) as spare:
        assert spare._proc is not None
        spare._proc.kill()
        spare._proc.wait()
        result = engine.verify(b.id, spare=spare)  # no "the check was stopped": the spare was never given the file
    assert result.backup is not None and result.backup.verified is True
    assert checks_here == ([b.path] if size == "small" else [])


def test_sigbus_in_the_spare_is_a_read_error_not_a_dead_app(engine, tmp_path, monkeypatch):
    victim = tmp_path / "victim.db"
    victim.write_bytes(Path(engine.create_backup().path).read_bytes())
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(checkproc.PAUSE_ENV, str(pause))  # the spare's environment is copied when it starts
    with _ready(checkproc.SpareChild()) as spare:

        def cut() -> None:
            deadline = time.monotonic() + 30
            while not (pause / "ready").exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            os.truncate(victim, 4096)
            (pause / "go").write_text("1")

        import threading

        t = threading.Thread(target=cut, daemon=True)
        t.start()
        with pytest.raises(InvalidBackupError) as e:
            verify_file(victim, spare=spare)
        t.join()
    assert e.value.reason == "read-error" and "a disk read error" in e.value.message  # L19: no signal names


def test_the_spare_ends_when_its_parent_is_killed(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(checkproc.__file__).parents[1])!r})
        from jobmatcher.checkproc import SpareChild
        spare = SpareChild()
        while not spare.ready():
            time.sleep(0.005)
        print(spare._proc.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        child = psutil.Process(pid)
        assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        # what it holds while it waits: an interpreter with SQLite loaded, no file, a few MB
        assert child.memory_info().rss < 40 * 1024 * 1024
        assert not [f for f in child.open_files() if f.path.endswith(".db")]
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
        else:
            child.kill()
            pytest.fail("the spare child outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_backup_verify_on_the_command_line_checks_in_its_spare_and_leaves_no_child(engine, monkeypatch, capsys):
    from jobmatcher import cli

    b = engine.create_backup()
    given = []
    real_verify = type(engine).verify

    def spy(self, id_or_path, spare=None):
        given.append(spare)
        if spare is not None:
            _ready(spare)  # as it is, in a real run, by the time the engine is imported
        return real_verify(self, id_or_path, spare=spare)

    monkeypatch.setattr(type(engine), "verify", spy)
    before = {p.pid for p in psutil.Process().children()}
    assert cli.main(["--data-dir", str(engine.data.root), "backup", "verify", b.id]) == 0
    assert "is a sound backup" in capsys.readouterr().out
    assert len(given) == 1 and isinstance(given[0], checkproc.SpareChild)
    assert given[0].take() is None  # used for the check
    assert {p.pid for p in psutil.Process().children()} == before  # nothing left, not even a zombie
    # a target that is no backup at all: the unused spare is closed all the same
    assert cli.main(["--data-dir", str(engine.data.root), "backup", "verify", "no-such-backup"]) == 1
    assert {p.pid for p in psutil.Process().children()} == before


def test_a_read_error_under_the_spare_is_a_read_error_whichever_fails_first(engine, tmp_path):
    """A real read error (badreadfs: EIO from pread, SIGBUS under the mapping) in a small file checked in a
    ready spare: the checksums (read in this process meanwhile) fail too, but the verdict is the check's,
    "read-error", never an OSError or "damaged"."""
    from powerloss import unavailable
    from test_check_child import FailingDisk

    why = unavailable()
    if why:
        pytest.skip(why)
    good = Path(engine.create_backup().path)
    disk = FailingDisk(tmp_path)
    try:
        failing = disk.serve(good, bad_from=good.stat().st_size - 3 * 4096)
        with _ready(checkproc.SpareChild()) as spare:
            with pytest.raises(InvalidBackupError) as e:
                verify_file(failing, with_blake3=True, spare=spare)
        assert e.value.reason == "read-error" and "could not be read" in e.value.message
    finally:
        disk.stop()


def test_a_listed_backups_check_starts_before_its_lookups_and_is_the_one_used(engine, monkeypatch):
    """Engine.verify starts the check of a listed backup's file first (BackupStore.start_check_of, in the spare),
    and the lookups (the record, the check lock, the manifest) run beside it: one check, of that file, whose
    verdict is recorded."""
    from jobmatcher import backups, fileshape

    b = engine.create_backup()
    order: list[str] = []
    real_start, real_get = fileshape.start_check, backups.BackupStore.get
    monkeypatch.setattr(
        fileshape,
        "start_check",
        lambda path, spare=None: order.append(f"check {Path(path).name}") or real_start(path, spare),
    )
    monkeypatch.setattr(backups.BackupStore, "get", lambda self, i: order.append("get") or real_get(self, i))
    with _ready(checkproc.SpareChild()) as spare:
        result = engine.verify(b.id, spare=spare)
    assert result.backup is not None and result.backup.verified is True
    assert order[0] == f"check {Path(b.path).name}" and order.count(order[0]) == 1 and "get" in order


@pytest.mark.parametrize("kind", ["pipe", "link", "not-sqlite", "missing", "path-like"])
def test_an_early_check_is_only_of_a_regular_file_named_by_an_id_and_verify_still_says_why(engine, tmp_path, kind):
    """start_check_of starts nothing for a pipe (which would wait for a writer), a link, a file that is not SQLite,
    a missing file or a name that is not an id; verify then refuses as it always did, and no child is left."""
    b = engine.create_backup()
    path = Path(b.path)
    name = b.id
    if kind == "pipe":
        path.unlink()
        os.mkfifo(path)
    elif kind == "link":
        target = tmp_path / "elsewhere.db"
        target.write_bytes(path.read_bytes())
        path.unlink()
        path.symlink_to(target)
    elif kind == "not-sqlite":
        path.write_bytes(b"not a database" * 1000)
    elif kind == "missing":
        name = "backup_2001-01-01_00-00-00"
    else:
        name = f"../{path.parent.name}/{b.id}"
    assert engine.store.start_check_of(name) is None
    with _ready(checkproc.SpareChild()) as spare:
        with pytest.raises(Exception) as e:
            engine.verify(name, spare=spare)
        assert "Traceback" not in str(e.value)
    assert psutil.Process().children(recursive=True) == []


def test_an_early_check_whose_verify_fails_before_it_is_used_leaves_no_child(engine, monkeypatch):
    """The check started before the lookups is ended when they fail (here: another process holds the backup's
    check lock past the wait): no child checks on for no one."""
    from jobmatcher import checklock

    b = engine.create_backup()
    monkeypatch.setattr(checklock, "take", lambda *a, **k: None)  # "being checked by another process"
    with _ready(checkproc.SpareChild()) as spare:
        with pytest.raises(Exception, match="being checked by another JobMatcher process"):
            engine.verify(b.id, spare=spare)
    assert psutil.Process().children(recursive=True) == []
