"""One helper thread that runs the calls handed to it, one at a time, in order: a one-thread pool.

concurrent.futures' ThreadPoolExecutor does the same, but importing it (with queue, heapq and its futures) took
several milliseconds of every backup's first call in a fresh process (issue 13: a 10 MB backup takes about 20 ms
in all); this needs only threading, which the package has loaded already.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable


class Pending:
    """The outcome of one call handed to a HelperThread: result() waits for it."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        """Whether the call has ended (returned or raised). Never waits; never raises."""
        return self._done.is_set()

    def wait(self) -> None:
        """Wait until the call has ended. Never raises."""
        self._done.wait()

    def result(self) -> Any:
        """The call's return value, once it has ended; re-raises what it raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class HelperThread:
    """A thread of its own running the calls submit() hands it, one at a time, in the order given. It has the
    priority of the thread that made it (Linux: a thread's nice value is its own). Use it as a context
    manager: leaving lets the calls handed over end, then ends the thread (as ThreadPoolExecutor's does)."""

    def __init__(self, name: str = "helper") -> None:
        self._wake = threading.Condition()
        self._calls: deque[tuple[Pending, Callable[..., Any], tuple]] = deque()
        self._closed = False
        # started with the first call (as ThreadPoolExecutor's): one never handed a call costs no thread
        self._thread = threading.Thread(target=self._run, name=name, daemon=False)
        self._started = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending:
        """Run fn(*args) on the thread after the calls handed over before it. RuntimeError after shutdown()."""
        pending = Pending()
        with self._wake:
            if self._closed:
                raise RuntimeError("the helper thread has ended")
            self._calls.append((pending, fn, args))
            self._wake.notify()
            start, self._started = not self._started, True
        if start:
            self._thread.start()
        return pending

    def shutdown(self) -> None:
        """Let the calls handed over end, then end the thread and wait for it. Never raises."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            started = self._started
        if started and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> HelperThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._calls and not self._closed:
                    self._wake.wait()
                if not self._calls:
                    return
                pending, fn, args = self._calls.popleft()
            try:
                pending._value = fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to result()
                pending._error = e
            finally:
                pending._done.set()
