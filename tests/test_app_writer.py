"""The writer thread: one thread owns the sqlite3 connection; callers on any thread get results and errors."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from jobmatcher.writer import Writer, WriterUnavailableError


@pytest.fixture
def writer(tmp_path):
    opened: list[int] = []

    def connect():
        opened.append(threading.get_ident())
        # check_same_thread=True (the default): any use from another thread would raise.
        conn = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        return conn

    w = Writer(connect)
    w.opened = opened
    yield w
    w.close()


def test_jobs_from_many_threads_run_on_the_one_writer_thread(writer):
    def insert(n):
        return writer.call(lambda conn: (conn.execute("INSERT INTO t VALUES (?)", (n,)), threading.get_ident())[1])

    with ThreadPoolExecutor(8) as pool:  # like pywebview: every JS call on its own thread
        idents = list(pool.map(insert, range(200)))
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
    assert writer.call(lambda conn: conn.execute("SELECT count(*), sum(n) FROM t").fetchone()) == (200, 199 * 100)
    assert writer.opened == [idents[0]]  # one connection, made on that thread


def test_an_exception_in_a_job_reaches_the_caller_and_the_writer_goes_on(writer):
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        writer.call(lambda conn: conn.execute("SELECT * FROM missing"))
    assert writer.call(lambda conn: 41 + 1) == 42


def test_suspend_closes_the_connection_and_refuses_until_resumed(writer):
    conn_seen = writer.call(lambda conn: conn)
    writer.suspend("A restore is replacing your data right now.", "Wait for it to finish.")
    assert writer.suspended
    with pytest.raises(sqlite3.ProgrammingError):  # closed on its own thread
        conn_seen.execute("SELECT 1")
    with pytest.raises(WriterUnavailableError) as e:
        writer.call(lambda conn: 1)
    assert e.value.message == "A restore is replacing your data right now."
    assert e.value.hint == "Wait for it to finish."
    writer.resume()
    assert writer.call(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    assert len(writer.opened) == 2  # reopened by the first job after resume


def test_jobs_queued_before_a_suspend_still_run(writer):
    gate = threading.Event()
    first = writer.submit(lambda conn: gate.wait(5))
    second = writer.submit(lambda conn: conn.execute("INSERT INTO t VALUES (1)").rowcount)
    t = threading.Thread(target=writer.suspend, args=("restoring",))
    t.start()
    gate.set()
    t.join(5)
    assert first.result(5) is True and second.result(5) == 1


def test_after_close_calls_are_refused(writer):
    writer.close()
    with pytest.raises(WriterUnavailableError):
        writer.call(lambda conn: 1)
    writer.suspend("x")  # harmless after close
