"""Encrypting a backup with age in a child process, the ciphertext coming back through memory shared with the
parent (Linux: a ring of windows in a memfd, RING_SLOTS) or, elsewhere, through a pipe.

Why a child: pyrage holds Python's GIL for the whole time it encrypts (it never releases it),
so in the app's own process every other thread (the page's server, the window, the copier's
own hashing and writing) barely runs while a copy is encrypted. In a child, age has a core
to itself and the parent only hashes and writes big blocks read from the pipe, which release
the GIL.

The child (`child_main`, run as `python -m jobmatcher.locations.encproc`, or in the packaged
app by the bundle's entry point when its first argument is CHILD_FLAG: the same mechanism as
the integrity check's child, checkproc.child_command) reads the backup once, in blocks, hashes
those very bytes (the proof that what was encrypted is the backup its manifest describes) and
hands them to age, which writes the age file to its standard output. At the end it writes one
line of JSON to its standard error: the plaintext's size and digest, or the error that stopped it.

The digest is SHA-256, or BLAKE3 when the caller asks for it (a backup whose manifest's seal
holds: its BLAKE3 then proves its SHA-256 too, see manifest.seal_holds). The child does age and
the hashing on one core, so its hash is the copy's pace: BLAKE3 costs about 0.2 s of CPU per GB
here, SHA-256 about 0.57 s, beside age's 0.85 s (issue 10).

It dies with its parent: on Linux the kernel kills it when the parent goes (PR_SET_PDEATHSIG),
and everywhere its next write to a pipe nobody reads fails (EPIPE) and it exits. Memory stays
bounded on both sides: one block in the child, the pipe's buffer, one chunk in the parent.

This file imports only the standard library, pyrage and (when asked for) blake3: the child starts in tens of ms.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # the child imports as little as it can: it starts for every copy
    import subprocess
    from pathlib import Path

CHILD_FLAG = "--jobmatcher-encrypt"
# The child's argument saying that its work (backup, recipient, algorithm) comes on standard input (SpareEncryptor).
STDIN_ARG = "-"
# The plaintext digests the child can compute (digests.Algorithm's names).
ALGORITHMS = ("sha256", "blake3")
# The child reads the backup in blocks of this size and hashes each block once (age asks for 8 KiB at a time).
BLOCK = 1024 * 1024
# The pipe's buffer (Linux: F_SETPIPE_SZ; 1 MiB is the default maximum for an unprivileged process), and the
# most the parent reads at once: big reads keep the parent's per-chunk work (hash, write) cheap.
PIPE_BYTES = 1024 * 1024
_F_SETPIPE_SZ = 1031
# The child writes the age file to the pipe in batches of about this many bytes (_Pipe). Half the pipe: the
# parent reads one while the next is gathered, and a child paused by a test after its first block (PAUSE_ENV)
# has handed over some ciphertext already.
BATCH = PIPE_BYTES // 2
# The most buffers one writev takes (IOV_MAX; 1024 on Linux and macOS, POSIX's least is 16).
_IOV_MAX = 16 if os.name != "posix" else max(16, min(os.sysconf("SC_IOV_MAX"), 1024))
# The peak resident memory (kB) the last child that finished reported (benchmarks/bench_locations.py).
last_child_peak_kb = 0
# The longest the parent waits for the child's next bytes, in seconds, before it calls the child stalled, kills
# it and fails that copy (EncryptionStalled; the copy is retried later). Why 60: the parent waits only while it
# is ready for more (a slow location makes the child wait, not the parent), and the child reads the backup in
# 1 MiB blocks and encrypts them at tens of MB/s or more even on a busy machine: its longest honest silences are
# its start (a one-file bundle unpacking on a slow machine: seconds) and a backup drive spinning up (under 30 s).
# A minute with no byte at all is a child stopped (SIGSTOP, a debugger) or stuck in I/O on a dying disk or a
# hung network file system, which would otherwise hold every location's copies (their lock) for ever (L28).
STALL_SECONDS = 60.0
# Linux: the child hands the age file over in a ring of RING_SLOTS windows of RING_SLOT bytes in memory shared
# with the parent (a memfd), not through its pipe: the pipe then carries only each window's length (4 bytes) from
# the child and, back on its standard input, one byte per window the parent is done with. A pipe copies every
# byte twice (into the kernel's pipe pages and out again): measured here, 0.6-0.7 s of CPU on each side per GB,
# about as much as age itself, on the child's core (the copy's pace). RING_SLOT is the folder copy's window
# (folder._WINDOW), so a full window goes from the ring to the disk with O_DIRECT and is compared there, never
# copied. Six: the parent holds at most four (one being written, one waiting for that, one being read back,
# one waiting for that), so the child always has one to fill.
RING_SLOT = 4 * 1024 * 1024
RING_SLOTS = 6
# The child's arguments saying that its standard output is the ring's (RING_ARG, then the memfd's descriptor).
RING_ARG = "--ring"
_TOKEN = 4  # bytes of a window's length on the pipe (little-endian); a length under RING_SLOT is the last window
# Tests only: the child stops after its first block until this folder holds a file named "go" (or is killed).
PAUSE_ENV = "JOBMATCHER_TEST_ENCRYPT_PAUSE"
# Tests only: the child does not ask the kernel to kill it with its parent (as where PR_SET_PDEATHSIG is missing).
NO_DEATHSIG_ENV = "JOBMATCHER_TEST_NO_DEATHSIG"
# Tests only: no shared ring; the age file comes through the child's pipe (as where there is no memfd).
NO_RING_ENV = "JOBMATCHER_TEST_NO_RING"


class EncryptionChildFailed(Exception):
    """The encrypting child stopped without finishing: killed, crashed or refused to start."""

    def __init__(self, why: str, ended: str = "") -> None:
        super().__init__(why)
        self.why = why  # in the user's words
        self.ended = ended  # how it ended (a signal, or an exit and its error output): the log's (L19)


class EncryptionStalled(EncryptionChildFailed):
    """The encrypting child sent nothing for STALL_SECONDS while the parent waited for it: it was killed."""


def child_command(src: Path, recipient: str, algorithm: str = "sha256") -> list[str]:
    """The command that runs the child on `src`, hashing it with `algorithm` (see the module's docstring).
    Never raises.

    From source, the interpreter runs with -S (no site module: about 20 ms less CPU per copy); the
    folders holding this package and pyrage come in PYTHONPATH instead (child_path)."""
    return _command([str(src), recipient, algorithm])


def _command(args: list[str]) -> list[str]:
    from ..checkproc import child_command as command

    return command(CHILD_FLAG, ["-S", "-m", __name__], args)


def _start_child(args: list[str], stdin: int) -> subprocess.Popen[bytes]:
    """Start the child with `args` (its standard output a pipe of PIPE_BYTES where Linux allows). With args
    [STDIN_ARG] on Linux, the child writes the age file into a shared ring (_Ring, kept on the returned process:
    _ring_of); where no memfd can be made, through its pipe. Raises OSError when no process can be started."""
    import subprocess

    from ..relaunch import child_environment

    env = child_environment() if getattr(sys, "frozen", False) else child_environment({"PYTHONPATH": child_path()})
    ring = _Ring.make() if args == [STDIN_ARG] else None
    try:
        proc = subprocess.Popen(
            _command(args + ([RING_ARG, str(ring.fd)] if ring is not None else [])),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=(ring.fd,) if ring is not None else (),
            env=env,
        )
    except BaseException:
        if ring is not None:
            ring.close()
        raise
    if ring is not None:
        ring.child_started()
        proc._jobmatcher_ring = ring  # type: ignore[attr-defined]
    assert proc.stdout is not None
    if sys.platform == "linux":
        try:
            import fcntl

            fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # a smaller pipe only means more, smaller reads
    return proc


def child_path() -> str:
    """PYTHONPATH for the child started from source: the folders this package and pyrage are imported from,
    then the caller's PYTHONPATH. Never raises (a pyrage that cannot be found: the child says so)."""
    import importlib.util
    from pathlib import Path

    folders = [str(Path(__file__).resolve().parents[2])]  # the folder holding the jobmatcher package
    spec = importlib.util.find_spec("pyrage")
    if spec is not None and spec.origin:
        folders.append(str(Path(spec.origin).resolve().parents[1]))
    if os.environ.get("PYTHONPATH"):
        folders.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(dict.fromkeys(folders))


class _Ring:
    """The parent's side of the shared ring (Linux): a memfd of RING_SLOTS windows of RING_SLOT bytes, mapped
    here; its descriptor goes to the child (pass_fds) and is closed here once the child has it."""

    def __init__(self, fd: int) -> None:
        import mmap

        self.fd = fd
        try:
            os.ftruncate(fd, RING_SLOTS * RING_SLOT)
            self.map = mmap.mmap(fd, RING_SLOTS * RING_SLOT)
        except BaseException:
            os.close(fd)
            raise
        whole = memoryview(self.map)
        self.slots = [whole[i * RING_SLOT : (i + 1) * RING_SLOT] for i in range(RING_SLOTS)]
        whole.release()

    @classmethod
    def make(cls) -> _Ring | None:
        """A ring, or None where there is none (not Linux, no memfd, no memory): the pipe then. Never raises."""
        if sys.platform != "linux" or not hasattr(os, "memfd_create") or os.environ.get(NO_RING_ENV):
            return None
        try:
            return cls(os.memfd_create("jobmatcher-age", os.MFD_CLOEXEC))
        except (OSError, ValueError):
            return None

    def child_started(self) -> None:
        """The child holds the memfd now: close this process's descriptor (the mapping stays). Never raises."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        """Close the memfd's descriptor here. The mapping stays while anything holds one of its windows (a
        read-back still comparing the last ones after the child ended) and is unmapped with the last of them.
        Never raises."""
        self.child_started()


def _ring_of(proc: subprocess.Popen[bytes] | None) -> _Ring | None:
    return getattr(proc, "_jobmatcher_ring", None)


def _close_ring(proc: subprocess.Popen[bytes]) -> None:
    ring = _ring_of(proc)
    if ring is not None:
        ring.close()


class SpareEncryptor:
    """An encrypting child started before its backup is known: a sync starts one when it begins (before it
    checks the location and lists what to copy), so the child's interpreter start-up and imports (pyrage,
    the hashes: about 25 ms of CPU) overlap that work instead of coming first in the copy. It holds nothing
    until it is given its work (no file; about 15 MB of memory) and waits for it on its standard input:
    EncryptingChild(spare=...) hands it over. Like every encrypting child it dies with the thread that
    started it (PR_SET_PDEATHSIG) and, everywhere, ends by itself when its standard input closes: when this
    process ends, however it ends (even by SIGKILL), it reads end-of-file and exits. Use it as a context
    manager: one left unused is killed and reaped on leaving."""

    def __init__(self) -> None:
        import subprocess

        self._proc: subprocess.Popen[bytes] | None = _start_child([STDIN_ARG], subprocess.PIPE)

    @classmethod
    def start(cls) -> SpareEncryptor | None:
        """A spare child, or None when no process can be started now (the copy then starts its own, or
        encrypts in this process). Never raises."""
        try:
            return cls()
        except OSError:
            return None

    @property
    def pid(self) -> int:
        """The child's process id (0 once taken or closed). Never raises."""
        return self._proc.pid if self._proc is not None else 0

    def ready(self) -> bool:
        """Has the child started (interpreter and imports done, waiting for its work)? Never waits; never
        raises. False where pipes cannot be polled (Windows)."""
        proc = self._proc
        if proc is None or proc.stderr is None or os.name != "posix":
            return False
        import select

        try:
            return bool(select.select([proc.stderr], [], [], 0)[0]) and proc.poll() is None
        except (OSError, ValueError):
            return False

    def refill(self) -> None:
        """Start another spare child when the last was taken (the next copy of a sync then gets one too); none
        when no process can be started. Never raises."""
        if self._proc is None:
            import subprocess

            try:
                self._proc = _start_child([STDIN_ARG], subprocess.PIPE)
            except OSError:
                pass

    def take(self) -> subprocess.Popen[bytes] | None:
        """The child, once: None after it was taken or closed, or when it has ended (killed while it waited;
        then reaped here). Never raises."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is not None:
            _kill_and_reap(proc)
            return None
        return proc

    def close(self) -> None:
        """Kill the child if it was not taken and reap it; again is a no-op. Never raises."""
        proc = self.take()
        if proc is not None:
            _kill_and_reap(proc)

    def __enter__(self) -> SpareEncryptor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hand_over(proc: subprocess.Popen[bytes], work: list[str]) -> tuple[bool, Any]:
    """Give a child started with [STDIN_ARG] its work (a few hundred bytes and a newline: the pipe takes them
    without waiting). Its standard input is closed then, or with a ring kept open and returned: the parent
    gives the ring's windows back through it. (False, None) (the child killed and reaped) when it ended before
    it could take its work. Never raises."""
    stdin, proc.stdin = proc.stdin, None  # communicate() must not flush or close it again
    keep = _ring_of(proc) is not None
    try:
        if stdin is None:
            raise BrokenPipeError
        stdin.write(json.dumps(work).encode() + b"\n")
        stdin.flush()
        if not keep:
            stdin.close()
    except OSError:  # BrokenPipeError: it was killed while it waited
        if stdin is not None:
            try:
                stdin.close()
            except OSError:
                pass
        _kill_and_reap(proc)
        return False, None
    return True, stdin if keep else None


def _kill_and_reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc` if it still runs, wait for it, close its pipes and unmap its ring. Never raises."""
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass
    proc.wait()
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
    _close_ring(proc)


class EncryptingChild:
    """One encrypting child for the file `src` to `recipient` (`age1…`), hashing the plaintext with
    `algorithm` ("sha256" or "blake3").

    chunks() yields the age file in chunks of at most PIPE_BYTES as the child writes it (or readinto() reads it,
    or, on Linux, windows() hands over the shared ring's windows themselves); then
    finish() returns the plaintext's (size in bytes, hex digest of `algorithm`). Use it as a context manager:
    leaving kills the child if it is still running and reaps it, so none is ever left encrypting.

    Raises (from the constructor) OSError when no process can be started; from finish(), the OSError
    the child met reading `src` (FileNotFoundError, PermissionError, EIO… rebuilt with its errno),
    ValueError for a recipient age refused (from the constructor: for an unknown `algorithm`), or
    EncryptionChildFailed when it was killed or crashed.
    """

    def __init__(
        self, src: Path, recipient: str, algorithm: str = "sha256", spare: SpareEncryptor | None = None
    ) -> None:
        import subprocess

        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown checksum algorithm {algorithm!r}")
        self.src = src
        self.algorithm = algorithm
        work = [str(src), recipient, algorithm]
        proc = spare.take() if spare is not None else None
        if proc is None:
            proc = _start_child([STDIN_ARG], subprocess.PIPE)
        handed, self._back = _hand_over(proc, work)
        if not handed:  # it ended before it took its work: one given it on its command line, through its pipe
            proc = _start_child(work, subprocess.DEVNULL)
        self._proc: subprocess.Popen[bytes] | None = proc
        self._ring = _ring_of(proc)
        assert proc.stdout is not None
        self._out = proc.stdout.fileno()
        # the ring: lengths read from the pipe not yet parsed; windows received (their sequence), and the next
        # window to give back (the child reuses them in order); the windows given back out of order so far
        self._tokens = b""
        self._received = 0
        self._given_back = 0
        self._done_early: set[int] = set()
        self._ended = False  # the last window (a length under RING_SLOT) came
        self._current: memoryview | None = None  # readinto's window being read, and its sequence
        self._current_seq = -1
        self._at = 0
        import threading

        self._back_lock = threading.Lock()

    @property
    def pid(self) -> int:
        """The child's process id (0 once reaped). Never raises."""
        return self._proc.pid if self._proc is not None else 0

    @property
    def shares_windows(self) -> bool:
        """Whether windows() can hand over the ring's windows (Linux, a ring made). Never raises."""
        return self._ring is not None

    def windows(self) -> Iterator[tuple[int, memoryview]]:
        """The ring's windows as the child fills them, in order: (sequence, the window's bytes: RING_SLOT bytes, the
        last one fewer, possibly none), each to be given back with give_back(sequence) once its bytes are no longer
        needed (the child does not write into it before; it waits for a window given back when all are out).
        Ends after the last window, or early when the child stopped (finish() says why). Raises as chunks()."""
        assert self._ring is not None
        while not self._ended:
            n = self._next_length()
            if n < 0:
                return  # the child stopped without its last window: finish() raises its failure
            seq = self._received
            self._received += 1
            if n < RING_SLOT:
                self._ended = True
            slot = self._ring.slots[seq % RING_SLOTS]
            yield seq, (slot if n == RING_SLOT else slot[:n])

    def give_back(self, seq: int) -> None:
        """The window `seq` (from windows()) is free for the child again: it is told once every window before it
        was given back too. Any thread may call it. Never raises (a child gone: finish() says why)."""
        with self._back_lock:
            self._done_early.add(seq)
            n = 0
            while self._given_back in self._done_early:
                self._done_early.discard(self._given_back)
                self._given_back += 1
                n += 1
            if n and self._back is not None:
                try:
                    os.write(self._back.fileno(), b"\x01" * n)
                except (OSError, ValueError):
                    pass

    def _next_length(self) -> int:
        """The next window's length from the pipe; -1 at its end (the child gone before its last window)."""
        while len(self._tokens) < _TOKEN:
            self._wait_readable(self._out)
            got = os.read(self._out, 4096)
            if not got:
                return -1
            self._tokens += got
        n = int.from_bytes(self._tokens[:_TOKEN], "little")
        self._tokens = self._tokens[_TOKEN:]
        if n > RING_SLOT:
            self.kill()
            raise EncryptionChildFailed("its process sent what it was not asked for", ended=f"window of {n} bytes")
        return n

    def chunks(self) -> Iterator[bytes]:
        """The age file's bytes as they come, in chunks of 1 to PIPE_BYTES bytes, until the child closes the
        pipe. Raises OSError only when the pipe cannot be read (not for the child's own failures: finish()),
        and EncryptionStalled (the child killed) when no byte came for STALL_SECONDS while this waited."""
        if self._ring is not None:
            for seq, window in self.windows():
                for at in range(0, len(window), PIPE_BYTES):
                    yield bytes(window[at : at + PIPE_BYTES])
                self.give_back(seq)
            return
        read = os.read
        fd = self._out
        while True:
            self._wait_readable(fd)
            chunk = read(fd, PIPE_BYTES)
            if not chunk:
                return
            yield chunk

    def readinto(self, view: memoryview) -> int:
        """Read the age file's next bytes (as many as the pipe holds, up to len(view)) into `view`; the number
        read, 0 at its end. Raises as chunks()."""
        if self._ring is not None:
            return self._ring_readinto(view)
        self._wait_readable(self._out)
        if hasattr(os, "readv"):
            return os.readv(self._out, [view])
        chunk = os.read(self._out, len(view))  # Windows
        view[: len(chunk)] = chunk
        return len(chunk)

    def _ring_readinto(self, view: memoryview) -> int:
        while self._current is None or self._at >= len(self._current):
            if self._current is not None:
                self._current = None
                self.give_back(self._current_seq)
            if self._ended:
                return 0
            n = self._next_length()
            if n < 0:
                self._ended = True
                return 0
            assert self._ring is not None
            self._current_seq = self._received
            self._received += 1
            self._ended = n < RING_SLOT
            self._current = self._ring.slots[self._current_seq % RING_SLOTS][:n]
            self._at = 0
        # at most PIPE_BYTES at a time, as through the pipe: a writer's progress (and a drive filling up) is told
        # at that grain, not a whole window's
        k = min(len(view), len(self._current) - self._at, PIPE_BYTES)
        view[:k] = self._current[self._at : self._at + k]
        self._at += k
        return k

    def _wait_readable(self, fd: int) -> None:
        """Wait until `fd` has bytes (or its end) for at most STALL_SECONDS; then kill the child and raise
        EncryptionStalled. Where pipes cannot be polled (Windows) it returns at once: the read then waits."""
        if sys.platform == "win32":
            return
        import select

        if not select.select([fd], [], [], STALL_SECONDS)[0]:
            self.kill()
            raise EncryptionStalled(f"the encrypting process sent nothing for {STALL_SECONDS:g} seconds")

    def finish(self) -> tuple[int, str]:
        """Wait for the child (after chunks() ended) and return the plaintext's (size in bytes, hex digest of
        the algorithm asked for).
        Raises as the class says (EncryptionStalled when the child does not end within STALL_SECONDS)."""
        import subprocess

        proc = self._proc
        assert proc is not None and proc.stderr is not None
        self._close_back()
        try:
            _, err = proc.communicate(timeout=STALL_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise EncryptionStalled(f"the encrypting process did not finish within {STALL_SECONDS:g} seconds") from None
        code = proc.returncode
        self._reap()
        if self._ring is not None and code == 0 and not self._ended:
            # never a short copy: the age file's end is its last window, whatever the exit code says
            raise EncryptionChildFailed("its process failed (exit code 0)", ended="exit 0 without its last window")
        return _outcome(code, err, self.algorithm)

    def _close_back(self) -> None:
        back, self._back = self._back, None
        if back is not None:
            try:
                back.close()
            except OSError:
                pass

    def kill(self) -> None:
        """Kill the child if it still runs and reap it; again is a no-op. Never raises."""
        self._reap()

    def _reap(self) -> None:
        """Forget the child, killing it if it still runs, waiting for it and closing its pipes (_kill_and_reap)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _kill_and_reap(proc)
        self._close_back()

    def __enter__(self) -> "EncryptingChild":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _outcome(code: int, err: bytes, algorithm: str = "sha256") -> tuple[int, str]:
    """The child's answer from its exit code and standard error's last line (a digest of another algorithm
    than the one asked for is no answer: never compared with the wrong checksum)."""
    last = err.strip().rsplit(b"\n", 1)[-1] if err.strip() else b""
    try:
        answer = json.loads(last) if last.startswith(b"{") else {}
    except ValueError:
        answer = {}
    if code == 0 and "size" in answer and "digest" in answer and answer.get("algorithm", "sha256") == algorithm:
        global last_child_peak_kb
        last_child_peak_kb = int(answer.get("peak_kb") or 0)
        return int(answer["size"]), str(answer["digest"])
    if "errno" in answer:
        raise OSError(answer["errno"], answer.get("strerror") or "", answer.get("filename"))
    if answer.get("recipient"):
        raise ValueError(answer["recipient"])
    if code < 0:
        from ..checkproc import signal_name

        raise EncryptionChildFailed(
            "its process was stopped (the system may have run short of memory, or it was ended)",
            ended=signal_name(code),
        )
    detail = err.decode("utf-8", "replace").strip()[-300:] or "no answer"
    # its error output (a Python traceback at worst) is for the log, not the user's words (L19's kind)
    raise EncryptionChildFailed(f"its process failed (exit code {code})", ended=f"exit {code}: {detail}")


# -- the child ---------------------------------------------------------------------------------------


def _die_with_parent(parent: int | None = None) -> bool:
    """Linux: have the kernel kill this process when the thread that started it ends (PR_SET_PDEATHSIG; the
    thread that calls EncryptingChild waits for the child, so in practice when the parent process ends).
    A parent gone before this request is noticed at the first write: the pipe's reader is gone (EPIPE),
    and so it is everywhere else, and where the parent is not this process's direct parent (a one-file
    bundle's bootloader in between).

    `parent`: the process id of the process that started this one (a child that writes nothing for long, as
    the key child's scrypt, passes it): returns False when this process's parent is another already, so the
    starter ended before the request above could take effect (Y9d), and the caller ends at once, its work
    undone. Without it, or where there is no getppid, True."""
    if sys.platform == "linux" and not os.environ.get(NO_DEATHSIG_ENV):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    # after the request: a parent that ends from now on kills this process, one that ended before is seen here
    return parent is None or not hasattr(os, "getppid") or os.getppid() == parent


class _Plaintext:
    """The backup for age: read in BLOCK-sized blocks, each hashed once, handed out in age's small pieces."""

    def __init__(self, fd: int, digest) -> None:
        self._fd = fd
        self._digest = digest
        self._block = b""
        self._pos = 0
        self.size = 0
        self.error: OSError | None = None  # kept: pyrage wraps it and drops its errno
        self._paused = not os.environ.get(PAUSE_ENV)

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self._block):
            if not self._paused:
                self._pause()
            try:
                self._block = os.read(self._fd, BLOCK)
            except OSError as e:
                self.error = e
                raise
            self._pos = 0
            if not self._block:
                return b""
            self._digest.update(self._block)
            self.size += len(self._block)
        end = len(self._block) if n is None or n < 0 else self._pos + n
        out = self._block[self._pos : end]
        self._pos += len(out)
        return out

    def _pause(self) -> None:
        import time

        self._paused = True
        if self.size:  # after the first block
            folder = os.environ[PAUSE_ENV]
            open(os.path.join(folder, f"child-{os.getpid()}"), "w").close()
            while not os.path.exists(os.path.join(folder, "go")):
                time.sleep(0.02)
        else:
            self._paused = False

    def readable(self) -> bool:
        return True


class _Pipe:
    """Standard output, written in full, age's 64 KiB chunks gathered into batches of about BATCH bytes: a pipe
    written 64 KiB at a time wakes the parent for each (about 1,500 selects, reads and writes per 100 MB on
    its side, the copy's busiest; 60-80 ms of its CPU against about 20 ms in batches). Gathered without
    copying a byte (one writev per batch). close() writes what is left: call it after age's last chunk."""

    error: OSError | None = None

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._pending: list[bytes] = []
        self._pending_n = 0

    def write(self, data) -> int:
        n = len(data)
        self._pending.append(bytes(data))  # age's own bytes object: kept, not copied
        self._pending_n += n
        if self._pending_n >= BATCH:
            self._write_pending()
        return n

    def _write_pending(self) -> None:
        pending, self._pending, self._pending_n = self._pending, [], 0
        try:
            if hasattr(os, "writev"):
                _writev_all(self._fd, pending)
            else:  # Windows
                for b in pending:
                    view = memoryview(b)
                    while view:
                        view = view[os.write(self._fd, view) :]
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        pass

    def close(self) -> None:
        """Write what is still gathered. Raises OSError (EPIPE: the parent stopped reading)."""
        if self._pending:
            self._write_pending()

    def writable(self) -> bool:
        return True


def _writev_all(fd: int, buffers: list[bytes]) -> None:
    """Write every byte of `buffers`, in order, to `fd` with as few writev calls as the system allows (a pipe
    may take part of a batch at a time; IOV_MAX buffers at most per call). Raises OSError."""
    views = [memoryview(b) for b in buffers if b]
    first = 0
    while first < len(views):
        done = os.writev(fd, views[first : first + _IOV_MAX])
        while first < len(views) and done >= len(views[first]):
            done -= len(views[first])
            first += 1
        if done:
            views[first] = views[first][done:]


def _answer(obj: dict) -> None:
    os.write(2, b"\n" + json.dumps(obj).encode() + b"\n")


def child_main(argv: list[str]) -> int:
    """The child: argv = [backup path, recipient, algorithm] (algorithm: one of ALGORITHMS; absent: sha256),
    or [STDIN_ARG] (a SpareEncryptor: those three come as a JSON list and a newline on standard input, after its
    imports; end-of-file without them: exit 0, nothing done), or [STDIN_ARG, RING_ARG, memfd's descriptor] (the
    same, and the age file goes into the shared ring: _RingOut).
    Writes the age file to standard output (or the ring) and one line of JSON to standard error: {"size", "digest",
    "algorithm"} (exit 0), {"errno", "strerror", "filename"} when the backup cannot be read (exit 1; a closed
    pipe: exit 1 quietly), {"recipient"} for a recipient age refuses and {"error"} for an unknown algorithm
    or unreadable work (exit 2). Never raises (a bug's traceback goes to standard error)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal reaches the parent, which stops us
    ring = -1
    if len(argv) == 3 and argv[:2] == [STDIN_ARG, RING_ARG] and argv[2].isdigit():
        ring, argv = int(argv[2]), [STDIN_ARG]
    if argv == [STDIN_ARG]:
        try:  # imported ahead: the work then starts at once (a missing one is said when the work needs it)
            import hashlib  # noqa: F401

            import blake3  # noqa: F401
            import pyrage  # noqa: F401
        except ImportError:
            pass
        os.write(2, b"\n")  # ready (SpareEncryptor.ready): a blank line before the answer's line
        work, early = _read_work()
        if work is None:
            return 0  # closed unused: its parent is gone or needed it no more
        if not (isinstance(work, list) and len(work) == 3 and all(isinstance(x, str) for x in work)):
            _answer({"error": "unreadable work for the encrypting process"})
            return 2
        argv = work
    src, recipient = argv[0], argv[1]
    algorithm = argv[2] if len(argv) > 2 else "sha256"
    out = _RingOut(ring, early) if ring >= 0 else _Pipe()
    return _encrypt(src, recipient, algorithm, out)


def _read_work() -> tuple[Any, int]:
    """The JSON value on standard input up to its first newline or its end (None when it is empty or not JSON:
    nothing to do), and the number of bytes after that newline (windows given back: _RingOut)."""
    data = b""
    while b"\n" not in data and (chunk := os.read(0, 65536)):
        data += chunk
    line, _, rest = data.partition(b"\n")
    try:
        return (json.loads(line) if line.strip() else None), len(rest)
    except ValueError:
        return None, 0


class _RingOut:
    """Standard output through the shared ring (Linux; the parent's side: EncryptingChild.windows): age's chunks
    are copied into the ring's windows in order; a full window's length (RING_SLOT) goes to the parent on the
    pipe, and the last window's (under RING_SLOT, possibly 0) from close(). Before filling a window again the
    child waits until the parent gave it back: one byte per window on standard input, in order (end-of-file
    there: the parent is gone, EPIPE as for a pipe)."""

    error: OSError | None = None

    def __init__(self, fd: int, given_back: int = 0) -> None:
        import mmap

        try:
            self._map = mmap.mmap(fd, RING_SLOTS * RING_SLOT)
        finally:
            os.close(fd)
        self._seq = 0  # the window being filled
        self._at = 0  # bytes in it so far
        self._given_back = given_back
        self._has_window = False

    def write(self, data) -> int:
        view = memoryview(data)
        n = len(view)
        while view:
            if not self._has_window:
                self._wait_for_window()
            k = min(len(view), RING_SLOT - self._at)
            start = (self._seq % RING_SLOTS) * RING_SLOT + self._at
            self._map[start : start + k] = view[:k]
            self._at += k
            view = view[k:]
            if self._at == RING_SLOT:
                self._send(RING_SLOT)
        return n

    def _wait_for_window(self) -> None:
        while self._seq - self._given_back >= RING_SLOTS:
            try:
                got = os.read(0, 4096)
            except OSError as e:
                self.error = e
                raise
            if not got:
                self.error = BrokenPipeError(32, "the parent is gone")
                raise self.error
            self._given_back += len(got)
        self._has_window = True

    def _send(self, n: int) -> None:
        try:
            os.write(1, n.to_bytes(_TOKEN, "little"))  # under PIPE_BUF: written whole
        except OSError as e:
            self.error = e
            raise
        self._seq += 1
        self._at = 0
        self._has_window = False

    def flush(self) -> None:
        pass

    def close(self) -> None:
        """Send the last window's length (under RING_SLOT). Raises OSError (EPIPE: the parent stopped reading)."""
        self._send(self._at)

    def writable(self) -> bool:
        return True


def _encrypt(src: str, recipient: str, algorithm: str, pipe: _Pipe | _RingOut) -> int:
    import pyrage
    from pyrage import x25519

    digest: Any
    if algorithm == "blake3":
        import blake3  # one thread: the other core is the parent's (hashing and writing the ciphertext)

        digest = blake3.blake3()
    elif algorithm == "sha256":
        import hashlib

        digest = hashlib.sha256()
    else:
        _answer({"error": f"unknown checksum algorithm {algorithm!r}"})
        return 2
    try:
        to = [x25519.Recipient.from_str(recipient)]
    except Exception as e:  # noqa: BLE001 - pyrage's RecipientError and ValueError alike
        _answer({"recipient": f"not an age recipient: {e}"})
        return 2
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            plain = _Plaintext(fd, digest)
            try:
                pyrage.encrypt_io(plain, pipe, to)
                pipe.close()
            except Exception:
                if plain.error is not None:  # pyrage wraps what read() raised and drops its errno
                    raise plain.error from None
                if pipe.error is not None:  # EPIPE: the parent stopped reading; nobody to tell
                    return 1
                raise
        finally:
            os.close(fd)
    except OSError as e:
        _answer({"errno": e.errno, "strerror": e.strerror, "filename": src})
        return 1
    except Exception as e:  # noqa: BLE001 - pyrage.EncryptError for anything else
        _answer({"error": str(e)})
        return 1
    _answer({"size": plain.size, "digest": digest.hexdigest(), "algorithm": algorithm, "peak_kb": _peak_kb()})
    return 0


def _peak_kb() -> int:
    """This process's peak resident memory in kB (VmHWM; 0 where /proc has none)."""
    try:
        with open("/proc/self/status", "rb") as f:
            return next((int(line.split()[1]) for line in f if line.startswith(b"VmHWM:")), 0)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
