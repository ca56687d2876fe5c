"""`PRAGMA integrity_check` in a child process, with SQLite's memory-mapped I/O.

Why a child: memory-mapped I/O more than halves the check (SQLite reads pages
straight from the mapping instead of a `pread` and a copy per page), but a read
error or a file cut short under the mapping then arrives as SIGBUS, which kills
the process that touched the page. In a child, that death is a failed check
("read error") and the app goes on. The mapping also counts in the resident
memory of the process that maps it (file-backed pages of the page cache, up to
the file's size): in a child it stays out of the app's own process, and the
child reports it.

The child is a forked copy of this process where that is safe (Linux, and this
process has no other thread, as in a command-line run: fork and its teardown
cost about 5 ms); otherwise a fresh interpreter (about 15 ms to start), started early
where there is other work to overlap (SpareChild, during a backup's copy).

The child itself is checkchild.py (the standard library only, and only the part of it the check needs): a
fresh child runs it as a script (`python -I -S checkchild.py …`), or, in the packaged app, the bundle's entry
point does when its first argument is CHILD_FLAG. Its names are re-exported here.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .checkchild import (  # the child's code; re-exported: the schema guard and the engine read them here
    INTERNAL_TABLE,  # noqa: F401
    PARENT_ENV,
    PAUSE_ENV,  # noqa: F401
    STDIN_ARG,
    WORD_PART,  # noqa: F401
    WORD_START,  # noqa: F401
    _memory,
    _run_check,
    affinity,  # noqa: F401
    child_main,  # noqa: F401
    read_error,  # noqa: F401
    schema_facts,  # noqa: F401
    sql_words,  # noqa: F401
    token_pattern,  # noqa: F401
    watch_parent,
)

if TYPE_CHECKING:  # subprocess is imported where a child is started: a small file's check in-process needs none
    import subprocess

CHILD_FLAG = "--jobmatcher-integrity-check"
# Files below this size are checked in the calling process, without memory mapping (no SIGBUS is
# possible there): starting the child (about 15 ms) would cost more than the mapping saves.
CHILD_MIN_BYTES = 32 * 1024 * 1024
# From this size on the check runs in a forked child where one can be forked (see start()). The copy costs
# about 5 ms of CPU in all (fork, copy-on-write faults, tearing it down), against 15 ms for a fresh
# interpreter; the mapping saves about 0.4 ms per MB (measured at 10 MB: the forked child's check took
# 9.4 ms of CPU, the check in-process 7.9 ms), so it pays from about 16 MB on.
FORK_MIN_BYTES = 16 * 1024 * 1024


class ChildCheckCrashed(Exception):
    """The child died while reading the file (SIGBUS: a read error or a file cut short under it)."""

    def __init__(self, signal_name: str, detail: str) -> None:
        super().__init__(f"the check stopped with {signal_name}: {detail}")
        self.signal_name = signal_name
        self.detail = detail


class CheckResult:
    """What the check found. `error` is SQLite's refusal to read the file at all (problems then empty).

    `schema`: the schema facts of the file for the schema guard (schema_facts' shape; empty when it could not be
    read). `child_memory`: the child's memory as /proc reported it at its end (MB): peak resident, of which
    file-backed (the mapped database, page cache shared with the kernel) and anonymous (its own heap).
    (A plain class: made once per check; a dataclass's generated functions would be compiled in every process
    that loads this module, on a backup's clock.)"""

    __slots__ = ("problems", "tables", "revision", "error", "schema", "seconds", "in_child", "child_memory")

    def __init__(
        self,
        problems: list[str],
        tables: list[str],
        revision: str | None,
        error: str | None = None,
        schema: dict | None = None,
        seconds: float = 0.0,
        in_child: bool = False,
        child_memory: dict | None = None,
    ) -> None:
        self.problems = problems
        self.tables = tables
        self.revision = revision
        self.error = error
        self.schema: dict = schema if schema is not None else {}
        self.seconds = seconds
        self.in_child = in_child
        self.child_memory: dict = child_memory if child_memory is not None else {}

    def __repr__(self) -> str:
        return f"CheckResult({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


def check(
    path: Path,
    max_errors: int = 20,
    in_child: bool | None = None,
    integrity: bool = True,
    spare: SpareChild | None = None,
) -> CheckResult:
    """Integrity check (unless `integrity` is False), table names and schema revision of the SQLite
    file `path`, opened read-only and immutable: start() and wait for its result.

    Raises ChildCheckCrashed when the child is killed by a signal while it reads the file.
    """
    with start(path, max_errors, in_child, integrity, spare) as pending:
        return pending.result()


def start(
    path: Path,
    max_errors: int = 20,
    in_child: bool | None = None,
    integrity: bool = True,
    spare: SpareChild | None = None,
) -> PendingCheck:
    """Start the check of `path` (see check()); its result() waits for it. Start it before this process
    starts threads: a forked child is only made while this process has no other thread.

    `in_child`: None chooses by size: a child from CHILD_MIN_BYTES on, and from FORK_MIN_BYTES on
    when it can be forked (Linux, no other thread: a forked copy costs about 5 ms where starting an
    interpreter costs about 15 ms); without `integrity` always in-process (reading the schema touches
    a few pages). A child is `spare` (a SpareChild started earlier) if it is unused and ready (or, when no
    fork is possible, still starting), else forked when that is possible, else started. A ready spare also
    checks a file below those sizes. If no child can be started (OSError), the check runs in this
    process without memory mapping. Never raises for the check itself (result() does).
    """
    path = Path(path)
    t0 = time.perf_counter()
    can_fork = _can_fork()  # reads /proc/self/status: once per check
    spare_ready = spare is not None and spare.ready()
    if in_child is None:
        size = path.stat().st_size if integrity else 0
        # A spare child that is ready (its start already paid) checks a file of any size: mapped, it is faster
        # than the check here, and a read error kills only the child.
        in_child = integrity and (size >= CHILD_MIN_BYTES or (size >= FORK_MIN_BYTES and can_fork) or spare_ready)
    if in_child:
        # A spare still starting is waited for only where no fork can be made: a forked copy (5 ms) beats the
        # rest of an interpreter's start (up to a packaged app's whole start-up).
        ready = spare.take() if spare is not None and (spare_ready or not can_fork) else None
        if ready is not None:
            _hand_over(ready, path, max_errors)  # it starts now, while the caller goes on (its checksums)
            # its answer is taken as soon as it is complete; the spare's owner reaps it (SpareChild.close)
            return PendingCheck(partial(_finish_started, ready, t0, True), partial(_kill, ready), in_child=True)
        try:
            if can_fork:
                return _fork(path, max_errors, t0)
            import subprocess

            proc = subprocess.Popen(
                _child_command(path, max_errors),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=_child_env(),
            )
            return PendingCheck(partial(_finish_started, proc, t0), partial(_kill, proc), in_child=True)
        except OSError:
            pass  # cannot start a process (out of processes or memory): the slower, unmapped check

    def here() -> CheckResult:
        result = _run_check(str(path), max_errors, mmap=False, integrity=integrity)
        result.pop("memory", None)
        return CheckResult(**result, seconds=time.perf_counter() - t0)

    return PendingCheck(here)


class PendingCheck:
    """A check start() began: result() waits for it (once). As a context manager, a child whose result
    was never asked for (the caller failed meanwhile) is killed and reaped on leaving. `in_child`: it runs in
    a child process already (True), or runs in this process when result() is called (False)."""

    def __init__(
        self, finish: Callable[[], CheckResult], cancel: Callable[[], None] | None = None, in_child: bool = False
    ) -> None:
        self._finish: Callable[[], CheckResult] | None = finish
        self._cancel = cancel
        self.in_child = in_child

    def result(self) -> CheckResult:
        """The check's result. Raises ChildCheckCrashed (see check()); RuntimeError if asked twice."""
        finish, self._finish = self._finish, None
        if finish is None:
            raise RuntimeError("the check's result was taken already")
        return finish()

    def close(self) -> None:
        """Kill and reap a child whose result was not asked for. Never raises."""
        if self._finish is not None:
            self._finish = None
            if self._cancel is not None:
                with contextlib.suppress(OSError, ChildProcessError):
                    self._cancel()

    def __enter__(self) -> PendingCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _can_fork() -> bool:
    """Whether a forked child can check here: Linux (elsewhere system libraries may not survive a fork
    without exec) and this process has exactly one thread, its own: another thread could hold a lock
    (SQLite's, the allocator's) that the child would then wait for forever."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1]) == 1
    except (OSError, ValueError):
        pass
    return False


def _fork(path: Path, max_errors: int, t0: float) -> PendingCheck:
    """The check in a forked copy of this process (SQLite and the code already loaded): it maps the file,
    checks it and writes the result as JSON to a pipe. A SIGBUS kills the copy, not this process."""
    from .lock import close_inherited_locks  # here, not at the top: run as a script, this file imports no package

    r, w = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # the child: never returns into the caller's code
        code = 70
        try:
            watch_parent(parent)  # a killed restore or verify does not leave this copy reading the file on
            # No garbage collection here: finalizing one of the parent's objects (a connection whose
            # close checkpoints its database) in this copy would act on the parent's files.
            gc.disable()
            # a SIGBUS here is the answer, not a crash to report on the parent's stderr (faulthandler is on only
            # where it was loaded: never imported here)
            handler = sys.modules.get("faulthandler")
            if handler is not None:
                handler.disable()
            os.close(r)
            # the parent's locks (the data folder's instance lock, the swap lock...) stay the parent's: if it is
            # killed, this copy must not keep its data folder "already running" until the check ends
            close_inherited_locks()
            result = _run_check(str(path), max_errors, mmap=True, exiting=True)
            if "memory" not in result:  # measured while the file was still mapped
                result["memory"] = _memory()
            out = memoryview(json.dumps(result).encode())
            while out:
                out = out[os.write(w, out) :]
            code = 0
        finally:
            os._exit(code)
    os.close(w)

    def finish() -> CheckResult:
        try:
            with open(r, "rb", closefd=False) as f:
                out = f.read()
        finally:
            os.close(r)
            _, status = os.waitpid(pid, 0)
        return _outcome(out, b"", os.waitstatus_to_exitcode(status), t0)

    def cancel() -> None:
        os.close(r)
        os.kill(pid, _sigkill())
        os.waitpid(pid, 0)

    return PendingCheck(finish, cancel, in_child=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.communicate()


def _finish_started(proc: subprocess.Popen[bytes], t0: float, early: bool = False) -> CheckResult:
    """The started child's answer. `early`: taken once the child has closed its output (child_main does so
    right after writing a complete answer), without waiting for the process to end (tearing down an
    interpreter takes about a millisecond, on the check's clock): its caller reaps it later (SpareChild.close).
    An answer that is not complete (the child died) is judged by how the child ended, as always."""
    if not early or os.name != "posix" or proc.stdout is None or proc.stderr is None:
        out, err = proc.communicate()
        return _outcome(out, err, proc.returncode, t0)
    import selectors

    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
    out, err = b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])
    try:
        json.loads(out)
        complete = True
    except ValueError:
        complete = False
    if not complete or proc.poll() is not None:  # no answer: how it ended says why (a signal: SIGBUS, ...)
        proc.communicate()
        return _outcome(out, err, proc.returncode, t0)
    return _outcome(out, err, 0, t0)


def _hand_over(proc: subprocess.Popen[bytes], path: Path, max_errors: int) -> None:
    """Give a spare child its file (a few hundred bytes: the pipe takes them without waiting) and close its
    standard input; result() then only collects the answer. A child that died meanwhile: its answer says so."""
    stdin, proc.stdin = proc.stdin, None  # communicate() must not flush or close it again
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError):
        stdin.write(json.dumps([str(path), max_errors]).encode())
    with contextlib.suppress(BrokenPipeError):
        stdin.close()


class SpareChild:
    """A check child started before its file exists (a backup's copy is still being made, `backup verify` is
    still importing the engine): its interpreter start-up (about 15 ms, on the other core) then overlaps that
    work. It says it is ready with one line on its standard output, then waits for the file's name on its
    standard input; check(spare=...) hands it over. It holds nothing until then (no file, about 10 MB of
    memory) and ends by itself when its standard input closes: when this process ends, however it ends
    (even by SIGKILL), the child reads end-of-file and exits. Use it as a context manager: one left unused
    is killed and reaped on leaving."""

    def __init__(self, fork: bool = False) -> None:
        self._lock = threading.Lock()
        self._taken: Any = None
        self._proc: Any  # a subprocess.Popen, or a _ForkedSpare with the part of its interface used here
        if fork:
            self._proc = _ForkedSpare()  # OSError when no process can be made
            return
        import subprocess

        self._proc = subprocess.Popen(  # OSError when no process can start
            _child_command_stdin(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
        )

    @classmethod
    def start(cls, fork_if_safe: bool = False) -> SpareChild | None:
        """A spare child, or None when no process can be started now (the check then starts its own or
        runs in this process). `fork_if_safe`: a forked copy of this process where one can be made (_can_fork:
        Linux, no other thread), which is ready at once and costs no interpreter start (about 20 ms of CPU on
        the other core, during a backup's copy: its hashing's); otherwise a fresh interpreter."""
        try:
            return cls(fork=fork_if_safe and _can_fork())
        except OSError:
            return None

    def ready(self) -> bool:
        """Has the child started (its interpreter loaded, waiting for a file)? Never waits; never raises.
        False where pipes cannot be polled (Windows: there it is used only for files a child checks anyway)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdout is None or os.name != "posix":
                return False
            import select

            try:
                return bool(select.select([proc.stdout], [], [], 0)[0]) and proc.poll() is None
            except (OSError, ValueError):
                return False

    def take(self) -> subprocess.Popen[bytes] | None:
        """The child, once (None after it was taken or closed, or when it has ended: killed while it waited).
        A child taken is reaped by close(): its answer is taken before it has ended (_finish_started)."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                self._taken = proc
        if proc is not None and proc.poll() is not None:
            proc.communicate()  # reaped, its pipes closed: a check then starts its own child
            return None
        return proc

    def close(self) -> None:
        """Kill an unused child; reap (wait for) the one that was taken, which has answered by then (or is
        killed by its check's close). Never raises."""
        proc = self.take()
        if proc is not None:
            proc.kill()
            proc.communicate()  # reaps it and closes its pipes
        with self._lock:
            taken, self._taken = self._taken, None
        if taken is not None and taken.returncode is None:
            with contextlib.suppress(OSError, ValueError):
                taken.communicate()  # reaped (it has answered and ends by itself), its pipes closed

    def __enter__(self) -> SpareChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ForkedSpare:
    """A forked copy of this process waiting for a file to check (SpareChild's, made where _can_fork allows it):
    it says it is ready with one line on its output, reads [path, max_errors] as JSON from its input until
    end-of-file and checks the file as a started child does (memory-mapped, its answer as JSON), then ends
    without returning into the caller's code. End-of-file without a file (this process ended or closed it):
    it ends. It offers what SpareChild and the check use of subprocess.Popen: stdin, stdout, stderr (None),
    returncode, poll(), kill(), communicate(). Raises OSError when no process can be made."""

    def __init__(self) -> None:
        from .lock import close_inherited_locks  # here: a file run as a script imports nothing of the package

        into_r, into_w = os.pipe()
        out_r, out_w = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            for fd in (into_r, into_w, out_r, out_w):
                os.close(fd)
            raise
        if pid == 0:  # the child: never returns into the caller's code
            code = 70
            try:
                watch_parent(parent)  # its check ends with this process (a killed restore, verify or app)
                gc.disable()  # never a parent's object finalized here (a connection would checkpoint its file)
                handler = sys.modules.get("faulthandler")
                if handler is not None:
                    handler.disable()  # a SIGBUS here is the answer
                os.close(into_w)
                os.close(out_r)
                close_inherited_locks()
                os.write(out_w, b"\n")  # ready
                chunks = []
                while data := os.read(into_r, 1 << 16):
                    chunks.append(data)
                code = 0
                if chunks:
                    path, max_errors = json.loads(b"".join(chunks))
                    result = _run_check(str(path), int(max_errors), mmap=True, exiting=True)
                    result.setdefault("memory", _memory())
                    answer = memoryview(json.dumps(result).encode())
                    while answer:
                        answer = answer[os.write(out_w, answer) :]
            finally:
                os._exit(code)
        os.close(into_r)
        os.close(out_w)
        self.pid = pid
        self.stdin: Any = open(into_w, "wb", buffering=0)  # noqa: SIM115 - closed by _hand_over or communicate
        self.stdout: Any = open(out_r, "rb")  # noqa: SIM115 - closed by communicate
        self.stderr = None
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, _sigkill())

    def communicate(self) -> tuple[bytes, bytes]:
        if self.stdin is not None:
            with contextlib.suppress(OSError):
                self.stdin.close()
            self.stdin = None
        out = b""
        if self.stdout is not None:
            try:
                out = self.stdout.read()
            finally:
                self.stdout.close()
                self.stdout = None
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return out, b""


def _sigkill() -> int:
    """SIGKILL's number (9 on Linux and macOS), from the signal module loaded only when a child is killed."""
    import signal

    return signal.SIGKILL


def signal_name(returncode: int) -> str:
    """The name of the signal that ended a child (a negative return code, as subprocess gives it): "SIGKILL",
    or "signal 40" for one Python has no name for (a real-time signal). The one lookup for every child
    (this check's, encproc's and keyproc's)."""
    import signal  # here: only a child killed by a signal needs its name (the module takes about 0.5 ms to load)

    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _outcome(out: bytes, err: bytes, returncode: int, t0: float) -> CheckResult:
    """A child's answer: its result, or ChildCheckCrashed when it was killed or did not answer."""
    if returncode < 0:
        import signal  # here: only a child killed by a signal needs its name (the module takes about 0.5 ms to load)

        name = signal_name(returncode)
        why = (
            "a read error, or the file was cut short while it was read"
            if -returncode == signal.SIGBUS
            else "the check process was killed"
        )
        raise ChildCheckCrashed(name, why)
    try:
        result = json.loads(out)
    except ValueError:
        raise ChildCheckCrashed(
            f"exit code {returncode}", err.decode("utf-8", "replace").strip()[-300:] or "no answer"
        ) from None
    memory = result.pop("memory", {})
    return CheckResult(**result, seconds=time.perf_counter() - t0, in_child=True, child_memory=memory)


def _child_command_stdin() -> list[str]:
    """A child that reads [path, max_errors] as JSON from its standard input (SpareChild)."""
    return _child_command_args([STDIN_ARG])


def _child_command(path: Path, max_errors: int) -> list[str]:
    return _child_command_args([str(path), str(max_errors)])


def _child_command_args(args: list[str]) -> list[str]:
    # -I: no user site or PYTHON* variables; -S: no site-packages (the child needs only the standard library).
    # checkchild is imported, not run as a script: a script is compiled from source on every start, an
    # imported module is read from its bytecode (__pycache__, written at installation). Its folder goes last
    # on the path, so no module of the package can stand in for one of the standard library's.
    folder = str(Path(__file__).resolve().parent)
    run = f"import sys; sys.path.append({folder!r}); import checkchild; sys.exit(checkchild.child_main(sys.argv[1:]))"
    return child_command(CHILD_FLAG, ["-I", "-S", "-c", run], args)


def child_command(flag: str, run: list[str], args: list[str]) -> list[str]:
    """The command that starts one of JobMatcher's helper processes with `args`: in the packaged app
    (sys.frozen) the bundle's executable with `flag` first (build/entry.py dispatches on it), otherwise
    this interpreter with `run` (its options and a script, or `-m` and a module). Never raises."""
    if getattr(sys, "frozen", False):
        return [sys.executable, flag, *args]
    return [sys.executable, *run, *args]


def _child_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env[PARENT_ENV] = str(os.getpid())  # the child's check ends if this process is gone (watch_parent)
    return env
