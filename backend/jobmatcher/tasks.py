"""Long work (opening the data, backup, verify, restore) on a background thread, with progress the page polls.

Why polling and not pushing: the same page runs in the pywebview window and in
a browser over plain HTTP, and "ask for the task's state every ~150 ms" works
identically in both. The engine calls `progress(phase, done, total, unit)` (the
contract in progress.py) as often as it likes (once per copied chunk); the state the page sees is updated at
most every `min_interval` seconds, except that a change of phase and the end of
a phase always show.

One long task at a time: two backups, or a backup during a restore, would only
compete for the disk and make the progress meaningless, so a second start is
refused with a message saying what is running.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Literal

from pydantic import BaseModel

from .errors import JobMatcherError
from .pageerror import to_page_error
from .progress import Progress

PHASE_LABELS = {
    "move": "Moving your backups to the new folder…",
    "open": "Opening your data…",
    "copy": "Copying…",
    "verify": "Checking the copy…",
    "check": "Checking the backup…",
    "safety": "Making a safety backup of your current data…",
    "safety-verify": "Checking the safety backup…",
    "unlock": "Opening the encryption key…",
    "download": "Downloading the copy…",
    "decrypt": "Decrypting the copy…",
    "migrate": "Updating the data to this version…",
    "swap": "Putting the backup in place…",
    "wait": "Waiting for another program to finish writing…",
    "done": "Done",
}

# Share of the whole bar each phase gets, per kind of task, in the order they run.
PLANS: dict[str, list[tuple[str, float]]] = {
    "backup": [("copy", 0.8), ("verify", 0.2)],
    "verify": [("check", 1.0)],
    "restore": [("check", 0.15), ("safety", 0.35), ("copy", 0.3), ("migrate", 0.1), ("swap", 0.1)],
    # a restore from a backup location: the download is most of it (a task of kind "restore" with this plan)
    "location-restore": [
        ("unlock", 0.05),
        ("download", 0.4),
        ("decrypt", 0.1),
        ("check", 0.1),
        ("safety", 0.15),
        ("copy", 0.1),
        ("migrate", 0.05),
        ("swap", 0.05),
    ],
    "launch": [("copy", 0.6), ("verify", 0.2), ("migrate", 0.2)],
    "move": [("move", 1.0)],
}

KIND_NAMES = {
    "backup": "A backup",
    "verify": "A check of a backup",
    "restore": "A restore",
    "launch": "Opening your data",
    "export": "An export",
    "move": "Moving backups",
}


class BusyError(JobMatcherError):
    code = "busy"


class TaskInfo(BaseModel):
    id: str
    kind: str
    state: Literal["running", "done", "failed"] = "running"
    phase: str = ""
    message: str = ""
    done: int = 0
    total: int | None = 0  # None while the phase has no measurable progress (a step: see progress.py)
    unit: str | None = None  # what done/total count, as the phase reported it: one of progress.UNITS
    phase_started_at: float | None = None  # when the current phase began (the page shows a step's elapsed time)
    fraction: float = 0.0  # 0..1 over the whole task
    result: dict | None = None
    error: dict | None = None
    started_at: float
    finished_at: float | None = None


class TaskRunner:
    """Starts tasks on threads and keeps their (throttled) state for polling."""

    KEEP = 20  # finished tasks remembered, so a late poll still gets the outcome (kept ones come on top)

    def __init__(self, min_interval: float = 0.1) -> None:
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskInfo] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._ids = itertools.count(1)
        self._kept: set[str] = set()  # never forgotten (the launch: every call asks for its outcome)
        self._plans: dict[str, str] = {}  # task id -> its PLANS key

    def start(
        self,
        kind: str,
        work: Callable[[Progress], dict | None],
        label: str = "",
        keep: bool = False,
        plan: str | None = None,
    ) -> dict:
        """Run `work(progress)` on a new thread; its return value becomes the task's `result`.

        `keep`: remember this task's outcome for as long as the runner lives (until `forget`),
        not only among the last KEEP finished tasks. `plan`: the PLANS entry that shares out the
        bar among the phases, when not the kind's own (a restore from a location downloads first).
        Raises BusyError while another task runs.
        """
        phases = PLANS.get(plan or kind, [("open", 1)])
        with self._lock:
            busy = self._running_locked()
            if busy is not None:
                raise BusyError(
                    f"{KIND_NAMES.get(busy.kind, 'Another task')} is still running.",
                    "Wait for it to finish, then try again.",
                )
            task = TaskInfo(
                id=f"{kind}-{next(self._ids)}",
                kind=kind,
                started_at=time.time(),
                message=label or PHASE_LABELS.get(phases[0][0], "Working…"),
            )
            self._tasks[task.id] = task
            self._plans[task.id] = plan or kind
            if keep:
                self._kept.add(task.id)
            self._forget_old_locked()
        # Not a daemon: if the window closes mid-backup or mid-restore, the process
        # finishes the work before it exits instead of being cut off halfway.
        t = threading.Thread(target=self._run, args=(task.id, work), name=f"task-{task.id}", daemon=False)
        with self._lock:
            self._threads[task.id] = t
        t.start()
        return self.get(task.id)

    def get(self, task_id: str) -> dict:
        with self._lock:
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if task is None:
                raise JobMatcherError(
                    "That task is not known (it may have finished long ago).", "Reload the page.", code="unknown-task"
                )
            return task.model_dump()

    def running(self) -> TaskInfo | None:
        with self._lock:
            t = self._running_locked()
            return t.model_copy() if t else None

    def wait(self, task_id: str, timeout: float | None = None) -> dict:
        with self._lock:
            t = self._threads.get(task_id)
        if t is not None:
            t.join(timeout)
        return self.get(task_id)

    def wait_all(self, timeout: float | None = None) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            t.join(timeout)

    # -- on the task's thread ------------------------------------------------------------

    def _run(self, task_id: str, work: Callable[[Progress], dict | None]) -> None:
        progress = self._progress_for(task_id)
        try:
            result = work(progress)
        except BaseException as e:  # noqa: BLE001 - every failure reaches the page as a message
            error = to_page_error(e)
            with self._lock:
                task = self._tasks[task_id]
                task.state, task.error, task.finished_at = "failed", error, time.time()
                task.message = error["message"]
            return
        with self._lock:
            task = self._tasks[task_id]
            task.state, task.result, task.finished_at = "done", result or {}, time.time()
            task.fraction, task.phase, task.message = 1.0, "done", PHASE_LABELS["done"]

    def _progress_for(self, task_id: str) -> Progress:
        last = [0.0]
        with self._lock:
            plan = PLANS.get(self._plans.get(task_id, self._tasks[task_id].kind), [])
        order = [p for p, _ in plan]
        weights = dict(plan)

        def progress(phase: str, done: int, total: int | None, unit: str) -> None:
            now = time.monotonic()
            with self._lock:
                task = self._tasks[task_id]
                boundary = phase != task.phase or total is None or done >= total
                if not boundary and now - last[0] < self.min_interval:
                    return  # throttled: the page polls a few times a second at most
                last[0] = now
                if phase != task.phase:
                    task.phase_started_at = time.time()
                task.phase, task.done, task.total, task.unit = phase, int(done), total, unit
                task.message = PHASE_LABELS.get(phase, "Working…")
                if phase in weights:
                    before = sum(weights[p] for p in order[: order.index(phase)])
                    part = weights[phase] * (min(done, total) / total if total else 0.0)
                    # never move backwards (a phase can repeat, e.g. copy during a recovery)
                    task.fraction = max(task.fraction, min(1.0, before + part))

        return progress

    def _running_locked(self) -> TaskInfo | None:
        for t in self._tasks.values():
            if t.state == "running":
                return t
        return None

    def forget(self, task_id: str) -> None:
        """Let a kept task be forgotten like any other (it was replaced, e.g. by a retried launch)."""
        with self._lock:
            self._kept.discard(task_id)

    def _forget_old_locked(self) -> None:
        finished = [t for t in self._tasks.values() if t.state != "running" and t.id not in self._kept]
        for t in sorted(finished, key=lambda t: t.started_at)[: -self.KEEP or None]:
            del self._tasks[t.id]
            self._threads.pop(t.id, None)
            self._plans.pop(t.id, None)
