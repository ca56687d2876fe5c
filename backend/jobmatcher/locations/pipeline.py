"""Threads around age for copies to locations: read and hash, hash and write, read back behind the writer.

Where they are used: ReadBehind by folder copies streamed into a location (the read-back behind the
writer); PipelinedWriter by S3's spool file (hashing, MD5 included, beside the producer); the
in-process encryption (PlaintextReader, gil_handover) only where no child process can be started
(age normally runs in its own process: encproc.py).

pyrage holds the GIL the whole time it encrypts (it never releases it) and calls back into
Python for each small read (8 KiB) and each age chunk it writes (64 KiB). SHA-256 (hashlib)
and reading and writing files release the GIL for large buffers, so that work can run on
another core beside age: a reader thread reads the backup in blocks and hashes the plaintext
ahead of age, a writer thread hashes the ciphertext and writes it out in blocks behind it.

The threads hand over whole blocks (BLOCK bytes), not age's small pieces. A thread that needs
the GIL back while age holds it waits a switch interval for it (Python's default: 5 ms, longer
than hashing a block takes), so while age runs the interval is lowered (gil_handover). The
queues are DEPTH blocks deep, so memory stays bounded whatever the size of the backup (about
2 × (DEPTH + 2) blocks).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import sys
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, NamedTuple

from ..digests import Algorithm, new_hash
from .client import HashingWriter, Producer, Stored

BLOCK = 2 * 1024 * 1024
DEPTH = 2
# While age runs, a thread waiting for the GIL gets it after this long (Python's default is 5 ms):
# each block's hand-over costs a few such waits, so with the default the helpers idle most of the time.
SWITCH_INTERVAL = 0.0002
_END = b""


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextlib.contextmanager
def gil_handover() -> Iterator[None]:
    """Lower Python's thread switch interval to SWITCH_INTERVAL while the block runs (process-wide;
    nested and concurrent uses share one lowering, the last one out restores the previous value).
    Never raises (the block's own exceptions pass through)."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class _Closed(Exception):
    """The consumer went away: the producing thread stops."""


def _put(q: queue.Queue, item: object, stop: threading.Event) -> None:
    """Put `item` into `q`, giving up (_Closed) once `stop` is set, so a thread never hangs on a dead consumer."""
    while True:
        if stop.is_set():
            raise _Closed
        try:
            q.put(item, timeout=0.05)
            return
        except queue.Full:
            continue


class PlaintextReader:
    """A readable file object over the file `src` for pyrage: a thread reads it ahead in blocks and hashes it
    with `algorithm` (digests.Algorithm: "sha256" or "blake3").

    `digest` (a hash object) and `size` describe every byte handed out once read() has returned b""
    (end of file).
    Opening happens here, so FileNotFoundError/PermissionError come out of the constructor; a read
    error in the thread comes out of the next read() and is kept in `error` (pyrage wraps what
    read() raises and drops its errno). Use it as a context manager: leaving stops and joins the
    thread and closes the file.
    """

    def __init__(self, src: Path, block: int = BLOCK, depth: int = DEPTH, algorithm: Algorithm = "sha256") -> None:
        self.digest = new_hash(algorithm)
        self.size = 0
        self._fd = os.open(src, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._block = block
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._view = memoryview(b"")
        self._pos = 0
        self._eof = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="location-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                chunk = os.read(self._fd, self._block)
                if chunk:
                    self.digest.update(chunk)
                _put(self._q, chunk, self._stop)
                if not chunk:
                    return
        except _Closed:
            return
        except BaseException as e:  # noqa: BLE001 - handed to the reading side, raised there
            try:
                _put(self._q, e, self._stop)
            except _Closed:
                pass

    def read(self, n: int | None = -1) -> bytes:
        """Up to `n` bytes of the file (all that is buffered for n < 0), b"" at its end. Raises the reading
        thread's error (an OSError for the file) here, where the caller can handle it."""
        if self._pos >= len(self._view):
            if self._eof:
                return _END
            item = self._q.get()
            if isinstance(item, BaseException):
                self._eof = True
                self.error = item
                raise item
            if not item:
                self._eof = True
                return _END
            self._view = memoryview(item)
            self._pos = 0
        end = len(self._view) if n is None or n < 0 else self._pos + n
        out = self._view[self._pos : end].tobytes()
        self._pos += len(out)
        self.size += len(out)
        return out

    def readable(self) -> bool:
        """Always True. Never raises."""
        return True

    def close(self) -> None:
        """Stop the reading thread, wait for it and close the file. Never raises."""
        self._stop.set()
        self._thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "PlaintextReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PipelinedWriter(HashingWriter):
    """A HashingWriter whose hashing and writing run on a thread, in blocks, behind the producer.

    write() only gathers bytes (and reports progress); a full block goes to the thread, which
    hashes it (unless `hashes` is False: then `sha256` and `md5` stay empty) and writes it to
    `raw`, then calls `on_written(block)` (on that thread; an OSError it raises fails the copy
    like a write error). produce_with() runs the producer, then waits for the thread to write
    everything: when it returns, `size`, `sha256`
    (and `md5`) cover all the bytes and they are in `raw` (not yet flushed to disk). A write
    error (ENOSPC, EROFS…) stops the producer at its next write and comes out of produce_with()
    as that OSError.
    """

    def __init__(
        self,
        raw: BinaryIO,
        md5: bool = False,
        progress: Callable[[int], None] | None = None,
        block: int = BLOCK,
        depth: int = DEPTH,
        on_written: Callable[[bytes], None] | None = None,
        hashes: bool = True,
    ) -> None:
        super().__init__(raw, md5=md5, progress=progress)
        self._block = block
        self._on_written = on_written
        self._hashes = hashes
        self._pending: list[bytes] = []
        self._pending_n = 0
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._failed = threading.Event()
        self._abandoned = threading.Event()  # the producer left without its end mark (interrupted)
        self._unexpected: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="location-write", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                block = self._q.get(timeout=0.1)
            except queue.Empty:
                if self._abandoned.is_set():
                    return
                continue
            if block is None:
                return
            if self._failed.is_set():
                continue  # drain: the producer is told at its next write
            try:
                if self._hashes:
                    self.sha256.update(block)
                    if self.md5 is not None:
                        self.md5.update(block)
                self.raw.write(block)
                if self._on_written is not None:
                    self._on_written(block)
            except OSError as e:
                self.error = e
                self._failed.set()
            except BaseException as e:  # noqa: BLE001 - not a file error: raised as it is by produce_with
                self._unexpected = e
                self._failed.set()

    def write(self, data) -> int:
        """Queue `data` for the writing thread; returns its length in bytes. Raises the OSError the writing
        thread met (ENOSPC, EROFS…) once it has failed."""
        if self._failed.is_set():
            raise self.error or OSError("the copy's writer stopped")
        n = len(data)
        self._pending.append(bytes(data))
        self._pending_n += n
        self.size += n
        if self._pending_n >= self._block:
            self._hand_over()
        if self._progress:
            self._progress(self.size)
        return n

    def _hand_over(self) -> None:
        block = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        self._pending_n = 0
        self._q.put(block)  # the thread drains even after a failure, so this never waits for long

    def flush(self) -> None:
        """Nothing to do: the bytes reach `raw` when produce_with() returns. Never raises."""

    def produce_with(self, produce: Producer) -> None:
        """Run `produce` into this writer and wait until every byte reached `raw`. Raises the writing thread's
        OSError as it was (not pyrage's wrapper), or what `produce` or the thread raised otherwise."""
        self._thread.start()
        try:
            try:
                produce(self)
                if self._pending:
                    self._hand_over()
            finally:
                try:
                    self._q.put(None)  # the thread drains, so this never waits long
                finally:
                    self._abandoned.set()
                    self._thread.join()
        except Exception:
            if self.error is not None:
                raise self.error from None
            if self._unexpected is not None:
                raise self._unexpected from None
            raise
        if self.error is not None:
            raise self.error
        if self._unexpected is not None:
            raise self._unexpected


class ReadBehind:
    """Reads a file back from the disk behind its writer, on a thread, compares it with what was written
    and hashes it.

    The writer calls check(blocks) with the blocks it wrote since its last call, once they are on
    the disk or on their way there: then `settle(fd, offset, length)` (when given) is called first
    on the thread to wait until that range has reached the disk (folder.py: sync_file_range).
    The thread drops their pages from the page cache and reads them again through its own
    descriptor, opened by the file's path, so they come from the disk, compares them byte for byte
    with the blocks and hashes what it read. Where the system has it (Linux), that descriptor reads
    with O_DIRECT: from the disk straight into this thread's buffer, past the page cache (a third of
    the CPU of a read through it, and no page of it kept), in whole disk blocks; so each check reads
    up to the last whole block written and the rest waits for the next (for finish(), at the end).
    A file system that refuses O_DIRECT is read through the page cache, its pages dropped first
    (posix_fadvise), as everywhere else. At most one batch waits (check() blocks until the thread
    catches up), so memory stays bounded. finish() returns Stored(size, SHA-256 hex of what was read
    back) and whether it was identical. Use it as a context manager: leaving stops the thread and
    closes the descriptors.
    """

    def __init__(self, path: Path, settle: Callable[[int, int, int], object] | None = None) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._direct = -1  # the O_DIRECT descriptor, -1 where there is none (refused: read through the cache)
        if _O_DIRECT:
            try:
                self._direct = os.open(path, os.O_RDONLY | _O_DIRECT)
            except OSError:
                pass
        self.sha256 = hashlib.sha256()
        self.size = 0  # bytes read back and compared so far: the offset of the next read
        self.identical = True
        self.error: OSError | None = None
        self._settle = settle
        self._handed = 0  # bytes handed over by check() (settled on the disk once the thread took them)
        # those not yet compared: (block, from, to)
        self._pending: list[tuple[bytes | bytearray | memoryview, int, int]] = []
        # Called on this thread with each block once it has been compared in full (a writer reusing its buffers).
        self.release: Callable[[bytes | bytearray | memoryview], object] | None = None
        self._q: queue.Queue = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="location-read-back", daemon=True)
        self._thread.start()

    def check(self, blocks: list[bytes | bytearray | Window]) -> None:
        """Compare `blocks` (the next bytes of the file, on the disk now) with the disk; may wait for the thread.
        A block is kept as it is until it was compared (a bytearray or a Window's must not change until
        `release` gives it back). Never raises: a read error is kept and raised by finish()."""
        self._q.put(blocks)

    def _run(self) -> None:
        # One buffer, read into again for every batch: a fresh one per read cost page faults and zeroing for
        # every page (about a tenth of the copy's CPU per GB here). A bytearray (its window aligned on _ALIGN
        # bytes, as O_DIRECT wants it), so a block in shared memory (a memoryview: the encrypting child's ring)
        # is compared with it by bytearray.startswith, a memcmp.
        buffer = bytearray(_READ_BYTES + _ALIGN)
        base = _align_offset(buffer)
        view = memoryview(buffer)[base : base + _READ_BYTES]
        try:
            while (blocks := self._q.get()) is not _STOP:
                if self.error is not None or not self.identical:
                    self._drop(blocks)  # drained: the writer is told by finish(); its buffers given back
                    continue
                try:
                    if blocks is _FINISH:
                        self._compare(buffer, base, view, self._handed, last=True)  # all of it, to the end
                        continue
                    pending = [_part(b) for b in blocks]
                    n = sum(end - start for _, start, end in pending)
                    if self._settle is not None:
                        self._settle(self._fd, self._handed, n)
                    self._pending.extend(p for p in pending if p[2] > p[1])
                    self._handed += n
                    # a read through O_DIRECT covers whole disk blocks: the last one written waits for the next
                    end = self._handed - self._handed % _ALIGN if self._direct >= 0 else self._handed
                    self._compare(buffer, base, view, end, last=False)
                except OSError as e:
                    self.error = e
                if self.error is not None or not self.identical:
                    self._drop([b for b, _, _ in self._pending])  # never compared now
                    self._pending = []
        finally:
            view.release()

    def _drop(self, blocks: list[bytes | bytearray | memoryview | Window]) -> None:
        """Give back (`release`) the buffers of `blocks` that will not be compared (after a failure), so a writer
        waiting for its buffers (the encrypting child's ring) is never left waiting. Never raises."""
        if self.release is not None:
            for b in blocks:
                self.release(b.buffer if isinstance(b, Window) else b)

    def _compare(self, buffer: bytearray, base: int, view: memoryview, end: int, last: bool) -> None:
        """Read the file's bytes [self.size, end) back from the disk into `view` (buffer[base:]), compare them with
        the pending blocks and hash them; with `last`, the file must end there. Raises OSError for a read the disk
        refused."""
        if end > self.size and hasattr(os, "posix_fadvise"):
            # clean pages (written, settled) are dropped, so even a read the file system serves through its
            # cache (O_DIRECT refused, or quietly done through the cache) comes from the disk
            os.posix_fadvise(self._fd, self.size, end - self.size, os.POSIX_FADV_DONTNEED)
        while self.size < end and self.identical:
            want = min(end - self.size, len(view))
            got = self._read(view, want)
            if got < want:  # the disk holds less than was written
                self.identical = False
                return
            self.sha256.update(view[:want])
            self._match(buffer, base, want)
            self.size += want
        if last and self.identical and os.pread(self._fd, 1, self.size):
            self.identical = False  # longer on the disk than what was written

    def _read(self, view: memoryview, want: int) -> int:
        """Fill view[:want] from the file at self.size; the bytes read (fewer only at its end)."""
        if self._direct >= 0:
            try:  # whole disk blocks: the last read of the file may ask for more than it has, and gets less
                size = min(-(-want // _ALIGN) * _ALIGN, len(view))
                got = _pread_into(self._direct, view[:size], self.size)
                return min(got, want)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                os.close(self._direct)  # refused after all (a file system that wants other sizes): the cache
                self._direct = -1
        return _pread_into(self._fd, view[:want], self.size)

    def _match(self, buffer: bytearray, base: int, length: int) -> None:
        """Compare buffer[base : base + length] (the disk's next bytes) with the pending blocks, dropping those it
        covered."""
        got = memoryview(buffer)[base : base + length]
        try:
            at = 0
            while at < length:
                block, start, stop = self._pending[0]
                n = min(stop - start, length - at)
                # bytes.startswith at an offset: a memcmp, no copy (a memoryview's == compares item by item); a
                # block in shared memory (a memoryview) the other way round, as the prefix of the buffer read
                if isinstance(block, (bytes, bytearray)):
                    same = block.startswith(got[at : at + n], start)
                else:
                    same = buffer.startswith(block[start : start + n], base + at)
                if not same:
                    self.identical = False
                    return
                at += n
                if start + n == stop:
                    self._pending.pop(0)
                    if self.release is not None:
                        self.release(block)
                else:
                    self._pending[0] = (block, start + n, stop)
        finally:
            got.release()

    def finish(self) -> tuple[Stored, bool]:
        """(what was read back, whether it was identical to everything written and nothing more).

        Raises the OSError the thread met when the disk could not be read."""
        if self._thread.is_alive():
            self._q.put(_FINISH)
            self._q.put(_STOP)
            self._thread.join()
        if self.error is not None:
            raise self.error
        return Stored(self.size, self.sha256.hexdigest()), self.identical

    def close(self) -> None:
        """Stop the thread (waiting for it) and close the descriptors; again is a no-op. Never raises."""
        if self._fd >= 0:
            if self._thread.is_alive():
                self._q.put(_STOP)  # what was not compared is not read
                self._thread.join()
            for fd in (self._fd, self._direct):
                if fd >= 0:
                    os.close(fd)
            self._fd = self._direct = -1

    def __enter__(self) -> "ReadBehind":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# O_DIRECT reads (Linux): offsets and sizes in whole blocks of this many bytes (4 KiB: every disk's logical block
# size, 512 or 4096, divides it), into a page-aligned buffer of _READ_BYTES.
_O_DIRECT = getattr(os, "O_DIRECT", 0) if sys.platform == "linux" else 0
_ALIGN = 4096
_READ_BYTES = 4 * 1024 * 1024
# What ReadBehind's thread is told besides batches: read the rest (finish()), and stop (finish(), close()).
_FINISH: list[bytes] = []
_STOP: list[bytes] = []


class Window(NamedTuple):
    """A part of a buffer handed to ReadBehind.check as a block: buffer[start:end] (no copy made). The buffer is a
    bytearray, or a memoryview of shared memory (the encrypting child's ring: encproc.EncryptingChild.windows)."""

    buffer: bytearray | memoryview
    start: int
    end: int


def _align_offset(buf: bytearray) -> int:
    """Where in `buf` its first byte aligned on _ALIGN bytes is (its memory never moves: never resized)."""
    import ctypes

    c = ctypes.c_char.from_buffer(buf)
    try:
        return -ctypes.addressof(c) % _ALIGN
    finally:
        del c


def _part(block: bytes | bytearray | Window) -> tuple[bytes | bytearray | memoryview, int, int]:
    """(object, start, end) of a block given to ReadBehind.check."""
    if isinstance(block, Window):
        return block.buffer, block.start, block.end
    if not isinstance(block, (bytes, bytearray)):
        block = bytes(block)
    return block, 0, len(block)


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill `view` from `fd` at `offset`; the bytes read (fewer only at the end of the file)."""
    got = 0
    while got < len(view):
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[got:]], offset + got)
        else:  # macOS before 11
            os.lseek(fd, offset + got, os.SEEK_SET)
            n = os.readv(fd, [view[got:]])
        if not n:
            break
        got += n
    return got
