"""The checksums of backup files: SHA-256, and BLAKE3 beside it.

SHA-256 is the checksum everything else compares and outside tools can recompute
(`sha256sum`): the manifest's `sha256`, the backup locations (their remote
manifests, S3's own SHA-256 checksums), reuse of an identical snapshot, moving a
backup, recovery from a safety backup. BLAKE3 (the `blake3` package, bindings for
the reference Rust implementation) proves the same thing - these are the very bytes
that passed the check - at about a quarter of SHA-256's CPU time here (issue 13).
A new backup's manifest records both, computed from the same bytes; verify and
restore compare BLAKE3 when a manifest has it and SHA-256 otherwise (manifests of
older versions), so nothing old loses its proof.

Both hash functions release the GIL on large buffers, so a digest computed in a
thread runs beside SQLite's check on the other core. file_digests() reads a file
once for every checksum it needs (issue 13: the two checksums of a new backup used
to read it twice, each in its own thread).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from io import FileIO
from pathlib import Path
from typing import Literal

Algorithm = Literal["sha256", "blake3"]
SHA256: Algorithm = "sha256"
BLAKE3: Algorithm = "blake3"

# file_digests' read size: large enough that handing a chunk to the other thread (about 20 us) is noise
# beside hashing it (SHA-256: about 0.65 ms per MB here), small enough that the chunk is still in the
# processor's cache when the second hash reads it.
CHUNK_BYTES = 1 << 20
# The read size where one thread reads and hashes alone (file_digest; FollowingDigests with one algorithm): a
# read that stays in the processor's cache beside the hash's own work. Measured on the 2-core test machine
# (issue 13; fresh processes, the file in the page cache, best of 3): reading and BLAKE3-hashing 10 MB took
# 5.5 ms with 64 KiB reads, 9.8 ms with 128 KiB and 11.1 ms with 256 KiB (hashlib.file_digest's size) or 1 MiB;
# 1 GB 0.44 s against 1.15 s; SHA-256 of 1 GB 0.82 s against 1.11 s. The read alone of 100 MB: 12.5 ms with
# 64 or 128 KiB, 45-73 ms with 256 KiB or 1 MiB. (Where two threads share the chunks, file_digests, 64 KiB
# is slower: each hand-over costs about 20 us, so they keep CHUNK_BYTES.)
SOLO_CHUNK_BYTES = 64 << 10


def new_hash(algorithm: Algorithm):
    """A fresh hash object (`update(bytes)`, `hexdigest()`) for `algorithm`; ValueError for another name."""
    if algorithm == SHA256:
        return hashlib.sha256()
    if algorithm == BLAKE3:
        import blake3  # here: commands that never hash (backup list) do not load it

        return blake3.blake3()
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def file_digest(path: Path, algorithm: Algorithm = SHA256) -> str:
    """The hex digest of the whole file `path`. Raises OSError as reading reports it.

    Read into one reused buffer (no fresh memory, so no page faults, per chunk) of SOLO_CHUNK_BYTES.
    """
    h = new_hash(algorithm)
    view = memoryview(bytearray(min(CHUNK_BYTES, SOLO_CHUNK_BYTES)))
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(view):
            h.update(view[:n])
    return h.hexdigest()


def buffer_digest(data: bytes | bytearray | memoryview, algorithm: Algorithm = SHA256) -> str:
    """The hex digest of bytes already in memory. Raises ValueError for an unknown `algorithm`."""
    h = new_hash(algorithm)
    h.update(data)
    return h.hexdigest()


def file_digests(path: Path, algorithms: Sequence[Algorithm] = (SHA256, BLAKE3)) -> dict[Algorithm, str]:
    """The hex digests of the whole file `path` for each of `algorithms` ({algorithm: hex}), from one read.

    The file is read once, CHUNK_BYTES at a time into two reused buffers: the first algorithm hashes a
    chunk in the calling thread while a second thread hashes it with the others and then reads the next
    chunk into the other buffer. So the slowest hash (SHA-256, put it first) is the only work on the
    calling thread's core, every digest is of the very same bytes, and no byte is read twice. Both hash
    functions release the GIL on such buffers, so the two threads run on two cores.

    One algorithm alone (BLAKE3 of a sealed backup's verify) is read and hashed on the calling thread: with
    nothing to share a chunk with, handing chunks to a helper only adds its round trips (at 10 MB: BLAKE3 by
    file_digest 2.6 ms, through the helper 4.4-5.4 ms).

    Raises OSError as reading reports it; ValueError for an unknown algorithm.
    """
    if len(algorithms) == 1:
        return {algorithms[0]: file_digest(path, algorithms[0])}
    hashes = [new_hash(a) for a in algorithms]
    if not hashes:
        return {}
    from .helperthread import HelperThread  # here: one checksum alone (above) needs no thread

    first, others = hashes[0], hashes[1:]
    buffers = (bytearray(CHUNK_BYTES), bytearray(CHUNK_BYTES))
    with open(path, "rb", buffering=0) as f, HelperThread("file-digests") as helper:

        def side(chunk: memoryview, into: bytearray) -> int:
            for h in others:
                h.update(chunk)
            return f.readinto(into) or 0

        n = f.readinto(buffers[0]) or 0
        i = 0
        while n:
            chunk = memoryview(buffers[i])[:n]
            pending = helper.submit(side, chunk, buffers[i ^ 1])
            try:
                first.update(chunk)
            finally:
                n = pending.result()  # never leave the helper writing into a buffer (or file) we let go
            i ^= 1
    return {a: h.hexdigest() for a, h in zip(algorithms, hashes, strict=True)}


class FollowingDigests:
    """The digests of a file hashed while it is still being written, on a thread of its own (issue 13: a
    new backup's copy is hashed chunk by chunk while the kernel copies the next chunk).

    The writer calls ready(n) each time the file's first `n` bytes are written and final (they will never
    change again); the thread reads them back from the file (from the page cache, just written) and feeds
    every hash. result() is called once the whole file is written: it waits for the thread and returns
    {algorithm: hex digest} of the file's first `n` bytes, n from the last ready() - the whole file, when
    the writer kept its word. abandon() stops the thread when the file will be changed after all (its
    digests are then never asked for). Use it as a context manager: leaving it abandons it.

    `idle`: the thread hashes only with CPU time nothing else wants (Linux: the thread's nice value 19)
    until foreground() is called. For a backup's copy, made while it holds the database's write lock: on a
    busy machine the hashing must not slow the copy (other programs' writes wait for it); on an idle second
    core it runs at full speed all the same. foreground() never waits for the idle thread (which a busy
    machine may not run for a while): a thread of normal priority goes on from the last chunk the idle one
    finished (each finished chunk leaves a copy of the hashes' state), and the idle one stops at its next.

    Raises from result(): OSError as reading the file reported it; ValueError for an unknown algorithm
    (at construction).
    """

    def __init__(self, path: Path, algorithms: Sequence[Algorithm] = (SHA256, BLAKE3), idle: bool = False) -> None:
        import threading  # here: most commands never hash a file as it is written

        self.path = Path(path)
        self.algorithms = tuple(algorithms)
        # (bytes hashed, the hashes' state after them): what the next thread goes on from, and the result
        self._state: tuple[int, list] = (0, [new_hash(a) for a in self.algorithms])
        self._final = 0  # bytes of the file that are written and final
        self._closed = False  # no more ready() calls: hash up to _final and stop
        self._abandoned = False
        self._error: BaseException | None = None
        self._worker = 0  # the number of the thread whose work counts; an older one stops at its next chunk
        # Linux: there a thread's nice value is its own (elsewhere setpriority sets the whole process's)
        self._idle = idle and sys.platform == "linux"
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(0, self._idle), name="following-digests", daemon=True)
        self._thread.start()

    def ready(self, final_bytes: int) -> None:
        """The file's first `final_bytes` bytes are written and will not change. Never raises."""
        with self._wake:
            if final_bytes > self._final:
                self._final = final_bytes
                self._wake.notify_all()

    def foreground(self) -> None:
        """Go on hashing at this thread's priority (see `idle`), at once; a no-op when not idle. Never raises."""
        import threading

        with self._wake:
            if not self._idle or self._abandoned or self._closed:
                return
            self._idle = False
            self._worker += 1
            number = self._worker
            self._wake.notify_all()
        # a new thread has the priority of the one that starts it
        self._thread = threading.Thread(target=self._run, args=(number, False), name="following-digests", daemon=True)
        self._thread.start()

    def result(self) -> dict[Algorithm, str]:
        """{algorithm: hex digest} of the file's first ready() bytes, once the thread has hashed them.
        Raises OSError as reading the file reported it; RuntimeError after abandon()."""
        with self._wake:
            if self._abandoned:
                raise RuntimeError("the digests were abandoned")
            self._closed = True
            self._wake.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error
        done, hashes = self._state
        if done != self._final:  # never a digest of fewer bytes than promised
            raise RuntimeError(f"hashed {done:,} of {self._final:,} bytes")
        return {a: h.hexdigest() for a, h in zip(self.algorithms, hashes, strict=True)}

    def abandon(self) -> None:
        """Stop hashing (the file will change, or is discarded) and wait for the thread. Never raises."""
        with self._wake:
            self._abandoned = True
            self._wake.notify_all()
        self._thread.join()

    def __enter__(self) -> FollowingDigests:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.abandon()

    def _run(self, number: int, idle: bool) -> None:
        import os

        from .helperthread import HelperThread

        with self._wake:
            done, committed = self._state
        hashes = [h.copy() for h in committed]  # its own: an older thread may still be updating its own
        first, others = hashes[0], hashes[1:]
        # Two reused buffers (no fresh memory, so no page faults, per chunk): one is hashed while the next chunk
        # is read into the other. The other hashes (BLAKE3) of each chunk and that reading on a helper thread
        # while this one does the first (SHA-256), as file_digests does: the two cores share the hashing once
        # the copy is done. Started by this thread at its first chunk (HelperThread starts with its first call),
        # the helper has this thread's priority.
        size = CHUNK_BYTES if others else min(CHUNK_BYTES, SOLO_CHUNK_BYTES)  # one thread alone: cache-sized reads
        buffers = (memoryview(bytearray(size)), memoryview(bytearray(size)))
        helper = HelperThread("following-digests-helper") if others else None
        f: FileIO | None = None

        def read(into: memoryview, limit: int) -> int:
            """Read the next at most `limit` bytes (none for 0) into `into`; never fewer than promised."""
            if limit <= 0:
                return 0
            assert f is not None
            n = f.readinto(into[: min(size, limit)]) or 0
            if n <= 0:  # shorter than the writer said: never a digest of fewer bytes than promised
                raise OSError(f"{self.path} ended at {f.tell():,} bytes while hashing it")
            return n

        def side(chunk: memoryview, into: memoryview, limit: int) -> int:
            for h in others:
                h.update(chunk)
            return read(into, limit)

        def stopped() -> bool:
            return self._abandoned or number != self._worker

        if idle:
            # Only now, once the set-up above is done: a thread of nice 19 that holds the interpreter's lock (GIL)
            # is rarely run on a busy machine, and every other thread of the process (the copy's) waits for that
            # lock meanwhile (tens of ms seen under load when this came first). From here on it holds the lock
            # only briefly between reads and hashes, which release it.
            try:
                os.setpriority(os.PRIO_PROCESS, 0, 19)  # this thread only (Linux)
            except OSError:
                pass  # hashed at normal priority: slower copies on a busy machine, nothing worse

        try:
            while True:
                with self._wake:
                    while not (stopped() or done < self._final or self._closed):
                        self._wake.wait()
                    if stopped() or (self._closed and done >= self._final):
                        return
                    final = self._final
                if f is None:  # opened once the writer has made the file; this thread's own
                    f = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed in finally
                    f.seek(done)
                i = 0
                n = read(buffers[0], final - done)
                while n:
                    chunk = buffers[i][:n]
                    more = 0 if stopped() else final - done - n  # read ahead only what is final
                    if helper is not None:
                        pending = helper.submit(side, chunk, buffers[i ^ 1], more)
                        try:
                            first.update(chunk)
                        finally:
                            ahead = pending.result()  # never leave the helper reading into a buffer we let go
                    else:
                        first.update(chunk)
                        ahead = read(buffers[i ^ 1], more)
                    done += n
                    with self._wake:
                        if stopped():  # a newer thread goes on from the last state left: this one's work ends
                            return
                        self._state = (done, [h.copy() for h in hashes])
                    n, i = ahead, i ^ 1
        except BaseException as e:  # noqa: BLE001 - handed to result()
            with self._wake:
                if number == self._worker:
                    self._error = e
        finally:
            if helper is not None:
                helper.shutdown()
            if f is not None:
                f.close()
