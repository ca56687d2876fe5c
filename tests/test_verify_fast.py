"""Verify's shortcuts (issue 13, verify <= 1.0x a bare integrity_check at 10 MB) keep the guarantees they replace.

- The spare child's answer is taken once it is complete, without waiting for the process to end: an answer cut
  short (the child died) is still judged by how it ended (SIGBUS: a read error), and the child is reaped.
- The check starts before the manifest is read and the seal worked out: a backup changed after its check is
  still refused, and the check's seconds count from its start.
- A check that only refreshes the time of the verdict already recorded (verified before, verified now) does not
  rewrite its manifest at all: the time goes to the check-time file beside it (`ID.verified`, no fsync), which
  every reader of the manifest and the list takes; a power cut leaves the manifest as it was, whole and verified
  (real power cuts on crashfs). A new verdict (failed, a first check, a checksum added) is durable.
- A verify killed at any instant leaves a whole manifest with the verdict it had or the new one.
- The record verify returns is the one the list reads back.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import crashfs
import powerloss
import pytest
from conftest import run_cli
from jobmatcher import checkproc, fsutil
from jobmatcher.errors import InvalidBackupError
from jobmatcher.manifest import Manifest, manifest_path, read_manifest, update_manifest


def _ready(spare: checkproc.SpareChild) -> checkproc.SpareChild:
    deadline = time.monotonic() + 30
    while not spare.ready():
        assert time.monotonic() < deadline, "the spare child never said it was ready"
        time.sleep(0.005)
    return spare


def _manifest(path: str | Path) -> Manifest:
    """The manifest file itself, as it is on the disk."""
    return Manifest.model_validate_json(manifest_path(Path(path)).read_bytes())


def _read(path: str | Path) -> Manifest:
    """The manifest as JobMatcher reads it: with the newest check time (the check-time file beside it)."""
    m = read_manifest(Path(path))
    assert m is not None
    return m


def _answering(code: str) -> subprocess.Popen[bytes]:
    """A child process running `code`, its output piped as a check child's is."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


# -- the spare's answer ----------------------------------------------------------------------------


def test_a_complete_answer_is_taken_before_the_child_ends():
    """A child that answered and closed its output is not waited for (its teardown is not the check's)."""
    answer = {"problems": [], "tables": ["t"], "revision": "r", "error": None, "schema": {}}
    proc = _answering(
        f"""
        import os, sys, time
        sys.stdout.write({json.dumps(json.dumps(answer))}); sys.stdout.flush()
        os.close(1); os.close(2)
        time.sleep(30)
        """
    )
    try:
        result = checkproc._finish_started(proc, time.perf_counter(), True)
        assert result.tables == ["t"] and result.revision == "r" and result.in_child
        assert proc.poll() is None  # still there: the answer did not wait for its end
    finally:
        proc.kill()
        proc.communicate()


def test_an_answer_cut_short_is_judged_by_how_the_child_ended():
    """A child killed by SIGBUS halfway through its answer is a read error, as before (never a result)."""
    proc = _answering(
        """
        import os, signal, sys
        sys.stdout.write('{"problems": [], "tables": '); sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGBUS)
        """
    )
    with pytest.raises(checkproc.ChildCheckCrashed) as e:
        checkproc._finish_started(proc, time.perf_counter(), True)
    assert e.value.signal_name == "SIGBUS"
    assert proc.returncode == -signal.SIGBUS  # reaped


def test_the_spare_child_is_reaped_when_its_owner_closes_it(engine):
    b = engine.create_backup()
    with _ready(checkproc.SpareChild()) as spare:
        proc = spare._proc
        result = engine.verify(b.id, spare=spare)
        assert result.backup is not None and result.backup.verified is True
    assert proc is not None and proc.returncode == 0  # answered, ended and reaped by close()
    assert proc.stdout is not None and proc.stdout.closed


def test_a_read_error_in_the_spare_is_still_a_failed_check(tmp_path, engine, monkeypatch):
    """The spare stops mid-check (paused), the file is cut short under its mapping: SIGBUS, reason read-error."""
    b = engine.create_backup()
    victim = tmp_path / "victim.db"
    shutil.copyfile(b.path, victim)
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(checkproc.PAUSE_ENV, str(pause))
    from jobmatcher.verify import start_check, verify_file

    with _ready(checkproc.SpareChild()) as spare:
        with start_check(victim, spare) as started:
            deadline = time.monotonic() + 30
            while not (pause / "ready").exists():
                assert time.monotonic() < deadline
                time.sleep(0.01)
            os.truncate(victim, 4096)
            (pause / "go").touch()
            with pytest.raises(InvalidBackupError) as e:
                verify_file(victim, with_blake3=True, started=started)
    assert e.value.reason == "read-error"


# -- the check starts first ------------------------------------------------------------------------


def test_a_backup_changed_after_its_check_is_still_refused(engine):
    b = engine.create_backup()
    with open(b.path, "r+b") as f:  # a byte in the middle of the file, where no check of the shape looks
        f.seek(os.path.getsize(b.path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with _ready(checkproc.SpareChild()) as spare, pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id, spare=spare)
    assert e.value.reason in ("checksum-mismatch", "corrupt")
    assert _manifest(b.path).verified is False  # recorded
    with pytest.raises(InvalidBackupError):
        engine.restore(b.id)


def test_the_record_returned_is_the_one_the_list_reads_back(engine):
    b = engine.create_backup()
    with _ready(checkproc.SpareChild()) as spare:
        result = engine.verify(b.id, spare=spare)
    assert result.backup == engine.store.get(b.id)
    again = engine.verify(b.id)  # in this process, no spare
    assert again.backup == engine.store.get(b.id)
    assert again.backup.verified_at > result.backup.verified_at


def test_the_checks_seconds_count_from_its_start(engine, monkeypatch):
    """The check starts before verify_file is called: the seconds recorded include what ran meanwhile."""
    b = engine.create_backup()
    from jobmatcher import manifest

    real = manifest.seal_holds

    def slow(m):
        time.sleep(0.2)  # worked out after the check started (backups.verify)
        return real(m)

    monkeypatch.setattr("jobmatcher.backups.seal_holds", slow)
    engine.verify(b.id)
    seconds = _read(b.path).verify_seconds
    assert seconds is not None and seconds >= 0.2


# -- the verdict's write -----------------------------------------------------------------------------


@pytest.fixture
def folder_fsyncs(monkeypatch) -> list[str]:
    """The folders fsynced (atomic_write_bytes' rename made durable)."""
    seen: list[str] = []
    real = fsutil.fsync_dir

    def spy(path):
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(fsutil, "fsync_dir", spy)
    return seen


def test_only_a_refreshed_time_skips_the_folders_fsync(engine, folder_fsyncs):
    b = engine.create_backup()
    folder = str(Path(b.path).parent)
    first = _manifest(b.path)
    assert first.verified is True  # its create checked it

    folder_fsyncs.clear()
    as_made = manifest_path(Path(b.path)).read_bytes()
    engine.verify(b.id)  # verified before, verified now: only the time changes
    assert folder not in folder_fsyncs
    assert manifest_path(Path(b.path)).read_bytes() == as_made  # not rewritten: the time is beside it
    second = _read(b.path)
    assert second.verified is True and second.verified_at > first.verified_at
    assert second.model_dump(exclude={"verified_at", "verify_seconds"}) == first.model_dump(
        exclude={"verified_at", "verify_seconds"}
    )
    assert engine.store.get(b.id).verified_at == second.verified_at

    # A first verdict (never checked, e.g. a manifest of a backup whose check was interrupted): durable.
    def never_checked(x: Manifest) -> None:
        x.verified, x.verified_at, x.verify_message = None, None, ""

    update_manifest(Path(b.path), never_checked)
    folder_fsyncs.clear()
    engine.verify(b.id)
    assert folder in folder_fsyncs and _manifest(b.path).verified is True

    # A checksum added (a manifest of an older version, without BLAKE3 and its seal): durable.
    def older(x: Manifest) -> None:
        x.blake3, x.seal = None, None

    update_manifest(Path(b.path), older)
    folder_fsyncs.clear()
    engine.verify(b.id)
    assert folder in folder_fsyncs and _manifest(b.path).blake3 and _manifest(b.path).seal

    # A failed verdict after a pass: durable.
    with open(b.path, "r+b") as f:
        f.seek(os.path.getsize(b.path) // 2)
        f.write(b"\xde\xad\xbe\xef")
    folder_fsyncs.clear()
    with pytest.raises(InvalidBackupError):
        engine.verify(b.id)
    assert folder in folder_fsyncs and _manifest(b.path).verified is False
    # and failed again, same verdict: still durable (a failure's record never takes the shortcut)
    folder_fsyncs.clear()
    with pytest.raises(InvalidBackupError):
        engine.verify(b.id)
    assert folder in folder_fsyncs


def test_a_killed_verify_leaves_a_whole_manifest(engine):
    """SIGKILL of `backup verify` at seeded instants: the manifest is always whole, and verified."""
    b = engine.create_backup()
    rng = random.Random(20261201)
    before = _manifest(b.path)
    for _ in range(8):
        p = subprocess.Popen(
            [sys.executable, "-m", "jobmatcher", "--data-dir", str(engine.data.root), "backup", "verify", b.id],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 0.4))
        p.kill()
        p.wait()
        m = _manifest(b.path)  # whole: it parses
        assert m.verified is True and m.verified_at >= before.verified_at
        assert m.model_dump(exclude={"verified_at", "verify_seconds"}) == before.model_dump(
            exclude={"verified_at", "verify_seconds"}
        )
        seen = _read(b.path)  # with whatever the check-time file holds (killed while writing it: ignored)
        assert seen.verified is True and seen.verified_at >= m.verified_at
        listed = run_cli("backup", "list", "--json", data_dir=engine.data.root)
        assert listed.returncode == 0 and b.id in listed.stdout
        leftovers = [n for n in os.listdir(Path(b.path).parent) if n.endswith(".tmp")]
        if leftovers:  # killed between the temp file and its rename: the next command's cleanup removes it
            assert run_cli("backup", "list", data_dir=engine.data.root).returncode == 0


# -- power cuts (crashfs: needs root and FUSE) ---------------------------------------------------


def _cut_rounds(tmp_path: Path, pristine: Path, backup_id: str, check) -> int:
    """Run `backup verify ID` on crashfs once per cut point (each mutating operation, and after it finished) and
    each loss mode; call check(manifest file after the cut, manifest as read with its check-time file, finished,
    where) for each. Returns the number of cuts."""
    fs = powerloss.CrashMount(tmp_path / "crash")

    def reset() -> None:
        if fs.backing.exists():
            shutil.rmtree(fs.backing)
        fs.backing.mkdir()
        shutil.copytree(pristine, fs.backing / "data")
        id_file = fs.backing / "data" / ".jobmatcher-folder-id"
        body = json.loads(id_file.read_bytes())
        body["path"] = str(fs.mount / "data")
        id_file.write_text(json.dumps(body))

    argv = [sys.executable, "-m", "jobmatcher", "--data-dir", str(fs.mount / "data"), "backup", "verify", backup_id]
    reset()
    fs.start(None, 0, no_loss=True, trace=True)
    try:
        subprocess.run(argv, capture_output=True, timeout=300)
    finally:
        trace = fs.stop()["trace"]
    cuts = 0
    # the result's record: the manifest's rename (a new verdict), or the check-time file's write (a refreshed time,
    # the command's last write): torn states after it get several seeds
    recorded = trace.find("n") + 1 or trace.rfind("w") + 1
    assert recorded > 0, f"no rename nor write among the command's operations: {trace}"
    points: list[int | None] = [*range(len(trace) + 1), None]
    for cut in points:
        torn = 4 if cut is None or cut >= recorded else 1
        for mode in [m for m in crashfs.MODES if m != "torn"] + ["torn"] * torn:
            reset()
            fs.start(cut, seed=cuts, mode=mode)
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while p.poll() is None and not fs.frozen() and time.monotonic() < deadline:
                time.sleep(0.005)
            if p.poll() is None:
                p.kill()  # the power is out: the program stops too
            p.wait()
            report = fs.stop()
            finished = not report.get("frozen")
            manifest = fs.backing / "data" / "backups" / f"{backup_id}.json"
            where = f"cut after op {cut} of {len(trace)}, mode {mode}, {'finished' if finished else 'mid-command'}"
            try:
                m = Manifest.model_validate_json(manifest.read_bytes())
            except (OSError, ValueError) as e:
                raise AssertionError(f"{where}: the manifest is not whole: {e}") from None
            check(m, _read(manifest.with_suffix(".db")), finished, where)
            cuts += 1
    return cuts


@pytest.mark.powerloss
@pytest.mark.timeout(900)
def test_power_cuts_during_a_refreshing_verify_keep_a_whole_verified_manifest(tmp_path, engine):
    if powerloss.unavailable() is not None:
        pytest.skip(f"crashfs cannot run: {powerloss.unavailable()}")
    b = engine.create_backup()
    pristine = tmp_path / "pristine"
    shutil.copytree(engine.data.root, pristine)
    before = _manifest(pristine / "backups" / f"{b.id}.db")
    assert before.verified is True

    def check(m: Manifest, seen: Manifest, finished: bool, where: str) -> None:
        assert m.verified is True, f"{where}: the verdict was lost"
        assert m == before, f"{where}: the manifest changed"  # a refreshed time is never written into it
        # read with the check-time file as the cut left it (torn, empty, lost: ignored): the old time or the new
        assert seen.verified is True and seen.verified_at >= before.verified_at, where
        assert seen.model_dump(exclude={"verified_at", "verify_seconds"}) == before.model_dump(
            exclude={"verified_at", "verify_seconds"}
        ), f"{where}: more than the time changed"

    assert _cut_rounds(tmp_path, pristine, b.id, check) > 0


@pytest.mark.powerloss
@pytest.mark.timeout(900)
def test_power_cuts_keep_a_failed_verdict_once_the_command_reported_it(tmp_path, engine):
    if powerloss.unavailable() is not None:
        pytest.skip(f"crashfs cannot run: {powerloss.unavailable()}")
    b = engine.create_backup()
    pristine = tmp_path / "pristine"
    shutil.copytree(engine.data.root, pristine)
    damaged = pristine / "backups" / f"{b.id}.db"
    with open(damaged, "r+b") as f:
        f.seek(damaged.stat().st_size // 2)
        f.write(b"\xde\xad\xbe\xef")

    def check(m: Manifest, seen: Manifest, finished: bool, where: str) -> None:
        if finished:  # the command reported the failure: its record survives the power cut
            assert m.verified is False, f"{where}: the failed verdict was lost"
        else:
            assert m.verified in (True, False), where

    assert _cut_rounds(tmp_path, pristine, b.id, check) > 0


# -- first-use costs taken off the check's clock keep their meaning ---------------------------------


def test_the_autoindex_rule_is_the_pattern_it_replaces():
    """schemaguard.autoindex_table (string operations) gives what the pattern it replaces gave, for names
    built from the pieces that matter (underscores, ASCII and other digits, newlines, the prefix twice)."""
    import re

    from jobmatcher.schemaguard import autoindex_table

    pattern = re.compile(r"sqlite_autoindex_(.+)_[0-9]+", re.ASCII | re.DOTALL)
    pieces = ["_", "1", "23", "a", "skills", "\n", "é", "\u0663", "\u00b2", "sqlite_autoindex_", " ", "x_"]
    rng = random.Random(13)
    names = [
        "sqlite_autoindex_skills_1",
        "sqlite_autoindex__1",
        "sqlite_autoindex___1",
        "sqlite_autoindex_a_1_2",
        "sqlite_autoindex_a_12x",
        "sqlite_autoindex_a_",
        "sqlite_autoindex_",
        "sqlite_autoindex_a_\u0663",
        "sqlite_autoindex_a_\u00b2",
        "Sqlite_autoindex_a_1",
        "sqlite_autoindex_a\n_1",
        "sqlite_autoindex_a_1\n",
    ]
    names += ["sqlite_autoindex_" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    names += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(500)]
    for name in names:
        m = pattern.fullmatch(name)
        assert autoindex_table(name) == (m.group(1) if m else None), repr(name)


def test_a_fresh_verify_loads_the_guard_while_the_child_checks(engine):
    """In a fresh process (as `backup verify`), the schema guard's module is loaded during verify, VerifyResult's
    validator is never built (the engine's own values: model_construct) and its answer still serializes; a
    foreign trigger is still refused there."""
    import sqlite3

    b = engine.create_backup()
    code = textwrap.dedent(
        f"""
        import sys
        from jobmatcher.checkproc import SpareChild
        spare = SpareChild.start()
        from jobmatcher.engine import Engine, VerifyResult
        assert "jobmatcher.schemaguard" not in sys.modules
        assert not VerifyResult.__pydantic_complete__
        import time
        while not spare.ready():
            time.sleep(0.005)
        r = Engine({str(engine.data.root)!r}).verify({b.id!r}, spare=spare)
        spare.close()
        assert r.backup.verified is True
        assert "jobmatcher.schemaguard" in sys.modules and not VerifyResult.__pydantic_complete__
        dumped = r.model_dump(mode="json")
        assert dumped["backup"]["verified"] is True and dumped["size_bytes"] == r.size_bytes
        assert VerifyResult.model_validate(dumped) == r  # the values are what validation makes of them
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    conn = sqlite3.connect(b.path)
    conn.execute("CREATE TRIGGER wipe AFTER INSERT ON skills BEGIN DELETE FROM saved_jobs; END")
    conn.commit()
    conn.close()
    with _ready(checkproc.SpareChild()) as spare, pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id, spare=spare)
    assert e.value.reason in ("foreign-schema", "checksum-mismatch")
