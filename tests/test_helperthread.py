"""helperthread.HelperThread: a one-thread pool (issue 13: what concurrent.futures did for the backup's hashing and
its fsync, without importing it)."""

from __future__ import annotations

import threading

import pytest
from jobmatcher.helperthread import HelperThread


def test_calls_run_in_order_on_one_other_thread_and_their_errors_come_back():
    seen: list[tuple[int, str]] = []
    with HelperThread("t") as helper:
        pending = [helper.submit(lambda i=i: seen.append((i, threading.current_thread().name)) or i) for i in range(50)]
        failing = helper.submit(lambda: 1 / 0)
        assert [p.result() for p in pending] == list(range(50))
        with pytest.raises(ZeroDivisionError):
            failing.result()
        assert failing.done()
    assert [i for i, _ in seen] == list(range(50)) and {name for _, name in seen} == {"t"}
    with pytest.raises(RuntimeError):
        helper.submit(print)


def test_leaving_waits_for_the_calls_handed_over():
    gate = threading.Event()
    with HelperThread() as helper:
        slow = helper.submit(lambda: gate.wait(5) and "done")
        after = helper.submit(lambda: "after")
        assert not slow.done()
        gate.set()
    assert slow.done() and slow.result() == "done" and after.result() == "after"
    assert helper._thread.is_alive() is False
