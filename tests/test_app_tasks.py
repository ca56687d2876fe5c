"""Background tasks: one at a time, throttled progress, failures as messages."""

from __future__ import annotations

import threading

import pytest
from jobmatcher.errors import JobMatcherError
from jobmatcher.tasks import BusyError, TaskRunner


def test_a_task_runs_off_the_calling_thread_and_returns_its_result():
    runner = TaskRunner()
    caller = threading.get_ident()
    task = runner.start("backup", lambda progress: {"thread": threading.get_ident()})
    final = runner.wait(task["id"], 5)
    assert final["state"] == "done" and final["fraction"] == 1.0
    assert final["result"]["thread"] != caller


def test_only_one_long_task_at_a_time():
    runner = TaskRunner()
    gate = threading.Event()
    first = runner.start("restore", lambda progress: gate.wait(5) and {})
    with pytest.raises(BusyError) as e:
        runner.start("backup", lambda progress: {})
    assert e.value.message == "A restore is still running."
    assert runner.running().id == first["id"]
    gate.set()
    runner.wait(first["id"], 5)
    assert runner.running() is None
    runner.wait(runner.start("backup", lambda progress: {})["id"], 5)


def test_progress_is_throttled_but_phase_changes_and_ends_always_show():
    runner = TaskRunner(min_interval=10)  # nothing in between would pass
    seen: list[tuple] = []
    go = threading.Event()
    ids: list[str] = []

    def snapshot():
        t = runner.get(ids[0])
        return t["phase"], t["done"], t["total"], round(t["fraction"], 3), t["message"]

    def work(progress):
        go.wait(5)
        for done in range(1000):
            progress("copy", done, 1000, "pages")
        seen.append(snapshot())
        progress("copy", 1000, 1000, "pages")
        seen.append(snapshot())
        progress("verify", 0, None, "steps")
        seen.append(snapshot())
        return {}

    ids.append(runner.start("backup", work)["id"])
    go.set()
    runner.wait(ids[0], 5)
    assert seen[0] == ("copy", 0, 1000, 0.0, "Copying…")  # the first event of the phase, then nothing
    assert seen[1] == ("copy", 1000, 1000, 0.8, "Copying…")  # the end of the phase
    assert seen[2] == ("verify", 0, None, 0.8, "Checking the copy…")  # a step: no measure, no total
    assert runner.get(ids[0])["unit"] == "steps"


def test_a_task_says_what_its_numbers_count():
    runner = TaskRunner(min_interval=0)
    units = []

    def work(progress):
        progress("copy", 10, 100, "bytes")
        units.append(runner.get(task[0])["unit"])
        progress("swap", 0, None, "steps")
        units.append((runner.get(task[0])["unit"], runner.get(task[0])["total"]))
        return {}

    task = []
    gate = threading.Event()
    task.append(runner.start("restore", lambda p: (gate.wait(5), work(p))[1])["id"])
    gate.set()
    runner.wait(task[0], 5)
    assert units == ["bytes", ("steps", None)]  # the unit as the producer said it; the swap is a step


def test_the_bar_never_moves_backwards():
    runner = TaskRunner(min_interval=0)
    fractions: list[float] = []

    def work(progress):
        for phase, done, total, unit in [
            ("check", 1, 1, "steps"),
            ("safety", 5, 10, "pages"),
            ("copy", 10, 10, "bytes"),
            ("copy", 2, 10, "bytes"),
        ]:
            progress(phase, done, total, unit)
            fractions.append(runner.get(task_id[0])["fraction"])
        return {}

    task_id = [None]
    gate = threading.Event()

    def gated(progress):
        gate.wait(5)
        return work(progress)

    task_id[0] = runner.start("restore", gated)["id"]
    gate.set()
    runner.wait(task_id[0], 5)
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(0.8)


def test_a_failure_is_a_message_and_a_hint_never_a_traceback():
    runner = TaskRunner()

    def full(progress):
        raise JobMatcherError("The disk is full.", "Free up space.")

    refused = runner.wait(runner.start("backup", full)["id"], 5)
    assert refused["state"] == "failed"
    assert refused["error"] == {"code": "error", "message": "The disk is full.", "hint": "Free up space."}

    def bug(progress):
        raise KeyError("oops")

    crashed = runner.wait(runner.start("backup", bug)["id"], 5)
    assert crashed["error"]["code"] == "internal"
    assert crashed["error"]["message"] == "Something unexpected went wrong (KeyError)."
    assert "Traceback" not in str(crashed)


def test_an_unknown_task_id_is_a_readable_error():
    with pytest.raises(JobMatcherError, match="not known"):
        TaskRunner().get("backup-99")


def test_a_restore_from_a_location_moves_the_bar_while_it_downloads():
    """The download is most of such a restore: its plan gives it a share of the bar, a local restore's does not."""
    runner = TaskRunner(min_interval=0)
    fractions: dict[str | None, list[float]] = {}

    def work(plan, task):
        def run(progress):
            gate.wait(5)
            for done in (0, 50, 100):
                progress("download", done, 100, "bytes")
                fractions.setdefault(plan, []).append(runner.get(task[0])["fraction"])
            return {}

        return run

    for plan in ("location-restore", None):
        gate, task = threading.Event(), []
        task.append(runner.start("restore", work(plan, task), plan=plan)["id"])
        assert runner.get(task[0])["kind"] == "restore"  # still a restore for everything that asks
        gate.set()
        runner.wait(task[0], 5)
    assert fractions["location-restore"] == [0.05, 0.25, 0.45]  # after the unlock step (its 0.05)
    assert fractions[None] == [0.0, 0.0, 0.0]  # a phase a local restore does not have moves nothing
