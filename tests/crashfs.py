"""crashfs: a FUSE file system that forgets what was not made durable when the power is cut.

Run as its own process (so the program under test and the file system never
share a GIL, and the operation count is one counter in one place):

    python tests/crashfs.py BACKING MOUNT --store DIR --cut-after N --seed S --status FILE

It passes every operation through to the real folder BACKING, and keeps, next
to it, what a real file system would have on its disk if the power went out
now. The model (the one LazyFS and the ALICE study describe: what POSIX
promises after a crash, not what one file system happens to do):

* File data is durable once the file was fsynced or fdatasynced (through any
  descriptor of it, or an mmap flushed and then fsynced). Until then every
  write and every change of size is pending, page by page (4 KiB pages).
* A directory change (create, mkdir, symlink, link, unlink, rmdir, rename) is
  durable once a directory it touched was fsynced. A rename between two
  directories is one atomic change, made durable by an fsync of either
  (journaling file systems commit it as one transaction). A new directory's
  own entry needs an fsync of its parent.
* The stricter POSIX reading is used for files: fsync of a file makes its
  data durable, never its directory entry. (ext4 with data=ordered commits
  the entry too, as a side effect of its journal; code that relies on that
  loses files on other file systems, so the stricter model finds more bugs.)
* Files identify by inode: a file renamed or unlinked after its data was
  fsynced keeps that data wherever its durable entry still points.

The power cut. After the N-th mutating operation (write, truncate, create,
mkdir, symlink, link, unlink, rmdir, rename, fsync, fsyncdir) the file system
freezes: every later operation fails with EIO (reads too), and the status file
says {"frozen": true}. The test then kills the program (everything stops in a
power cut) and unmounts. On unmount the pending changes are discarded in one of
the ways a real file system may lose them, chosen by the seed (or --mode):

* ``lose-all``: every pending change is lost: the durable state only.
* ``torn``: a prefix of the pending directory changes survives (a journal
  commits them in order) and each pending data page independently survives or
  not, the file's size being the durable or the latest one (torn writes at
  page granularity; new files may come back empty or with holes).
* ``renames-reverted``: all data reached the disk, and every other directory
  change, but the un-synced renames did not (their files keep the old names).

BACKING is then rewritten to exactly that state (its files' modes and times
kept), and the status file gets a report: the mode, the operation count, what
was pending and what was lost. Without a cut (``--cut-after`` beyond the
operation count) the same loss is applied at unmount: a power cut right after
the program finished. ``--no-loss`` unmounts without any loss (to count the
operations of a run).

What the model does not cover:

* The drive: it assumes a flush reaches stable storage (a drive whose cache
  ignores flushes loses more, and nothing in software can test that), and
  that a page is written whole or not at all (no torn sectors inside a page,
  no bit rot, no misdirected writes).
* Data reordering inside an fsync'd range and metadata-only changes (mode,
  times, xattrs, fallocate) are not modelled: chmod and utimens pass through
  and survive. Hard links are followed by inode, but open-unlinked files'
  data, like everything else, only matters through a durable entry.
* File locks are the kernel's (this file system does not implement them), so
  they behave as on a local disk; RENAME_NOREPLACE/EXCHANGE flags are not
  passed by the binding (plain rename semantics).
* SQLite's -shm shared memory works through the kernel page cache (no
  direct_io), so mmap works; the -shm is never needed after a crash (SQLite
  rebuilds it) and is treated like any other file.
* One mount, one cut. tests/powerloss.py mounts again to cut the power a
  second time during the recovery (in a third of its rounds); cuts in the
  later life of the data are not simulated.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import shutil
import stat
import sys
import threading
from pathlib import Path

PAGE = 4096
MODES = ("lose-all", "torn", "renames-reverted")


class Frozen(OSError):
    pass


def _pages(offset: int, length: int) -> range:
    if length <= 0:
        return range(0)
    return range(offset // PAGE, (offset + length - 1) // PAGE + 1)


class CrashModel:
    """The durable state beside a passthrough folder; pure file-system logic, no FUSE.

    Identities are real inode numbers of BACKING: every inode ever seen keeps a
    hard link (files) or is moved (removed directories) into the store folder,
    so an inode number is never reused while the model lives, and the latest
    content of a file is reachable even after its last name is gone.
    """

    def __init__(self, backing: Path, store: Path) -> None:
        self.backing = Path(backing).absolute()
        self.store = Path(store).absolute()
        if self.store.exists():
            shutil.rmtree(self.store)
        (self.store / "latest").mkdir(parents=True)
        (self.store / "durable").mkdir()
        (self.store / "gone-dirs").mkdir()
        if os.stat(self.store).st_dev != os.stat(self.backing).st_dev:
            raise SystemExit("crashfs: the store must be on the same file system as the backing folder")
        self.root = os.stat(self.backing).st_ino
        self.kind: dict[int, str] = {self.root: "d"}  # ino -> 'f' | 'd' | 'l'
        self.links: dict[int, str] = {}  # symlink ino -> target
        self.durable_ns: dict[int, dict[str, int]] = {self.root: {}}  # dir ino -> {name: ino}
        self.pending_ops: list[tuple] = []  # directory changes not yet durable, in order
        self.dirty: dict[int, set[int]] = {}  # file ino -> pages written since its last fsync
        self.resized: set[int] = set()  # files whose size changed since their last fsync
        self.counts = {"fsync": 0, "fsyncdir": 0, "ops": 0}
        self._adopt(self.backing, self.root)

    # -- the state at mount: all of it durable
    def _adopt(self, folder: Path, dir_ino: int) -> None:
        for entry in os.scandir(folder):
            st = entry.stat(follow_symlinks=False)
            ino = st.st_ino
            self.durable_ns[dir_ino][entry.name] = ino
            if stat.S_ISDIR(st.st_mode):
                self.kind[ino] = "d"
                self.durable_ns[ino] = {}
                self._adopt(Path(entry.path), ino)
            elif stat.S_ISLNK(st.st_mode):
                self.kind[ino] = "l"
                self.links[ino] = os.readlink(entry.path)
            else:
                self._track_file(Path(entry.path), ino)
                shutil.copyfile(entry.path, self._durable(ino))

    def _latest(self, ino: int) -> Path:
        return self.store / "latest" / str(ino)

    def _durable(self, ino: int) -> Path:
        return self.store / "durable" / str(ino)

    def _track_file(self, path: Path, ino: int) -> None:
        if ino not in self.kind:
            self.kind[ino] = "f"
            os.link(path, self._latest(ino))

    def full(self, path: str) -> Path:
        return self.backing / path.lstrip("/")

    def ino(self, path: str) -> int:
        return os.lstat(self.full(path)).st_ino

    def parent_and_name(self, path: str) -> tuple[int, str]:
        p = self.full(path)
        return os.stat(p.parent).st_ino, p.name

    # -- data
    def wrote(self, ino: int, offset: int, length: int) -> None:
        self.dirty.setdefault(ino, set()).update(_pages(offset, length))

    def resized_to(self, ino: int, old: int, new: int) -> None:
        self.resized.add(ino)
        lo, hi = min(old, new), max(old, new)
        self.dirty.setdefault(ino, set()).update(_pages(lo, hi - lo))

    def fsync_file(self, ino: int) -> None:
        """The file's latest data becomes its durable data (the entry does not: strict POSIX)."""
        self.counts["fsync"] += 1
        if self.kind.get(ino) != "f":
            return
        shutil.copyfile(self._latest(ino), self._durable(ino))
        self.dirty.pop(ino, None)
        self.resized.discard(ino)

    # -- directory changes
    def changed(self, op: tuple) -> None:
        self.pending_ops.append(op)

    @staticmethod
    def _dirs_of(op: tuple) -> set[int]:
        if op[0] == "rename":
            return {op[1], op[3]}
        return {op[1]}

    def fsync_dir(self, dir_ino: int) -> None:
        """Every pending change that touched this directory becomes durable, in order."""
        self.counts["fsyncdir"] += 1
        keep = []
        for op in self.pending_ops:
            if dir_ino in self._dirs_of(op):
                self._apply(self.durable_ns, op)
            else:
                keep.append(op)
        self.pending_ops = keep

    def _apply(self, ns: dict[int, dict[str, int]], op: tuple) -> None:
        kind = op[0]
        if kind == "add":  # ("add", dir, name, ino): create, mkdir, symlink, link
            _, d, name, ino = op
            ns.setdefault(d, {})[name] = ino
            if self.kind.get(ino) == "d":
                ns.setdefault(ino, {})
        elif kind == "remove":  # ("remove", dir, name, ino): unlink, rmdir
            _, d, name, ino = op
            if ns.get(d, {}).get(name) == ino:
                del ns[d][name]
        elif kind == "rename":  # ("rename", src dir, src name, dst dir, dst name, ino)
            _, sd, sn, dd, dn, ino = op
            if ns.get(sd, {}).get(sn) == ino:
                del ns[sd][sn]
            ns.setdefault(dd, {})[dn] = ino
            if self.kind.get(ino) == "d":
                ns.setdefault(ino, {})

    # -- the power cut
    def crash(self, mode: str, rng: random.Random) -> dict:
        """Rewrite BACKING as the disk would hold it after a power cut in `mode`; return what was lost."""
        ns = {d: dict(entries) for d, entries in self.durable_ns.items()}
        pending = list(self.pending_ops)
        if mode == "lose-all":
            kept_ops: list[tuple] = []
        elif mode == "torn":
            kept_ops = pending[: rng.randint(0, len(pending))]
        elif mode == "renames-reverted":
            kept_ops = [op for op in pending if op[0] != "rename"]
        else:
            raise ValueError(mode)
        for op in kept_ops:
            self._apply(ns, op)
        report = {
            "mode": mode,
            "pending_dir_changes": len(pending),
            "dir_changes_kept": len(kept_ops),
            "dirty_files": len(self.dirty),
            "dirty_pages": sum(map(len, self.dirty.values())),
            "dirty_pages_kept": 0,
            **self.counts,
        }
        image = self.backing.with_name(self.backing.name + ".crashed")
        if image.exists():
            shutil.rmtree(image)
        image.mkdir()
        shutil.copystat(self.backing, image)
        placed: set[int] = set()
        self._materialize(ns, self.root, image, mode, rng, report, placed, set())
        old = self.backing.with_name(self.backing.name + ".before-crash")
        if old.exists():
            shutil.rmtree(old)
        os.rename(self.backing, old)
        os.rename(image, self.backing)
        shutil.rmtree(old)
        shutil.rmtree(self.store)
        return report

    def _materialize(self, ns, dir_ino, folder: Path, mode, rng, report, placed, seen_dirs) -> None:
        if dir_ino in seen_dirs:  # a directory cannot be in two places; the first one wins
            return
        seen_dirs.add(dir_ino)
        for name, ino in sorted(ns.get(dir_ino, {}).items()):
            target = folder / name
            kind = self.kind.get(ino)
            if kind == "d":
                if ino in seen_dirs:
                    continue
                target.mkdir()
                self._materialize(ns, ino, target, mode, rng, report, placed, seen_dirs)
            elif kind == "l":
                os.symlink(self.links[ino], target)
            elif kind == "f":
                self._write_file(ino, target, mode, rng, report)
                placed.add(ino)

    def _write_file(self, ino: int, target: Path, mode: str, rng: random.Random, report: dict) -> None:
        latest, durable = self._latest(ino), self._durable(ino)
        if mode == "renames-reverted" or ino not in self.dirty and ino not in self.resized:
            source = latest
        else:
            source = durable
        if mode == "torn" and (ino in self.dirty or ino in self.resized):
            new = bytearray(latest.read_bytes())
            old = durable.read_bytes() if durable.exists() else b""
            data = bytearray(old)
            for page in sorted(self.dirty.get(ino, ())):
                if rng.random() < 0.5:
                    a, b = page * PAGE, (page + 1) * PAGE
                    chunk = new[a:b]
                    if len(data) < a:
                        data.extend(b"\0" * (a - len(data)))
                    data[a : a + len(chunk)] = chunk
                    report["dirty_pages_kept"] += 1
            size = rng.choice((len(old), len(new)))
            data = data[:size] + b"\0" * max(0, size - len(data))
            target.write_bytes(bytes(data))
        elif source.exists():
            shutil.copyfile(source, target)
        else:
            target.write_bytes(b"")  # created, never fsynced: the entry survived, no data
        st = os.stat(latest)
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


# The letters of the mutating operations in a trace (--trace).
TRACE = {
    "w": "write",
    "t": "truncate",
    "o": "open with O_TRUNC",
    "c": "create",
    "m": "mkdir",
    "s": "symlink",
    "l": "link",
    "u": "unlink",
    "r": "rmdir",
    "n": "rename",
    "f": "fsync",
    "d": "fsyncdir",
}


def make_operations(model: CrashModel, cut_after: int, status: Path, trace: list[str] | None = None):
    """The mfusepy Operations passing through to the backing folder and feeding `model`."""
    import mfusepy as fuse

    class CrashFS(fuse.Operations):
        use_ns = True

        def __init__(self) -> None:
            self._mutex = threading.RLock()
            self.frozen = False
            self.fds: dict[int, int] = {}  # fh -> ino

        # every call: refused once frozen; mutating calls count towards the cut
        def _gate(self, kind: str | None) -> None:
            if self.frozen:
                raise fuse.FuseOSError(errno.EIO)
            if kind:
                model.counts["ops"] += 1
                if trace is not None:
                    trace.append(kind)
                if model.counts["ops"] > cut_after:
                    self.frozen = True
                    _write_status(status, {"frozen": True, "ops": model.counts["ops"] - 1})
                    raise fuse.FuseOSError(errno.EIO)

        def _call(self, kind: str | None, fn, *args):
            """Run `fn` under the one lock; `kind` (a letter, see TRACE) marks a mutating operation."""
            with self._mutex:
                self._gate(kind)
                try:
                    return fn(*args)
                except OSError as e:
                    raise fuse.FuseOSError(e.errno or errno.EIO) from None

        # -- reading
        def getattr(self, path, fh=None):
            def go():
                st = os.fstat(fh) if fh is not None else os.lstat(model.full(path))
                return {
                    k: getattr(st, k)
                    for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino", "st_blocks", "st_blksize")
                } | {"st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

            return self._call(None, go)

        def access(self, path, amode):
            return self._call(
                None,
                lambda: (
                    0 if os.access(model.full(path), amode) else (_ for _ in ()).throw(OSError(errno.EACCES, "access"))
                ),
            )

        def readdir(self, path, fh):
            return self._call(None, lambda: [".", ".."] + os.listdir(model.full(path)))

        def readlink(self, path):
            return self._call(None, lambda: os.readlink(model.full(path)))

        def statfs(self, path):
            def go():
                sv = os.statvfs(model.full(path))
                return {
                    k: getattr(sv, k)
                    for k in (
                        "f_bavail",
                        "f_bfree",
                        "f_blocks",
                        "f_bsize",
                        "f_favail",
                        "f_ffree",
                        "f_files",
                        "f_flag",
                        "f_frsize",
                        "f_namemax",
                    )
                }

            return self._call(None, go)

        def open(self, path, flags):
            def go():
                p = model.full(path)
                old = os.lstat(p).st_size if flags & os.O_TRUNC else 0
                fh = os.open(p, flags & ~(os.O_CREAT | os.O_EXCL))
                ino = os.fstat(fh).st_ino
                model._track_file(p, ino)
                self.fds[fh] = ino
                if flags & os.O_TRUNC and old:
                    model.resized_to(ino, old, 0)
                return fh

            return self._call("o" if flags & os.O_TRUNC else None, go)

        def read(self, path, size, offset, fh):
            return self._call(None, lambda: os.pread(fh, size, offset))

        def flush(self, path, fh):
            return self._call(None, lambda: 0)

        def release(self, path, fh):
            with self._mutex:
                self.fds.pop(fh, None)
                os.close(fh)
            return 0

        def opendir(self, path):
            return self._call(None, lambda: 0)

        def releasedir(self, path, fh):
            return 0

        # -- data
        def create(self, path, mode, flags=os.O_WRONLY):
            def go():
                p = model.full(path)
                existed = p.exists()
                fh = os.open(p, flags | os.O_CREAT, mode)
                ino = os.fstat(fh).st_ino
                model._track_file(p, ino)
                self.fds[fh] = ino
                if not existed:
                    model.changed(("add", *model.parent_and_name(path), ino))
                return fh

            return self._call("c", go)

        def write(self, path, data, offset, fh):
            def go():
                n = os.pwrite(fh, data, offset)
                model.wrote(self.fds.get(fh) or os.fstat(fh).st_ino, offset, n)
                return n

            return self._call("w", go)

        def truncate(self, path, length, fh=None):
            def go():
                if fh is not None:
                    old, ino = os.fstat(fh).st_size, os.fstat(fh).st_ino
                    os.ftruncate(fh, length)
                else:
                    p = model.full(path)
                    st = os.lstat(p)
                    old, ino = st.st_size, st.st_ino
                    os.truncate(p, length)
                if old != length:
                    model.resized_to(ino, old, length)
                return 0

            return self._call("t", go)

        def fsync(self, path, datasync, fh):
            def go():
                model.fsync_file(self.fds.get(fh) or os.fstat(fh).st_ino)
                return 0

            return self._call("f", go)

        def fsyncdir(self, path, datasync, fh):
            return self._call("d", lambda: model.fsync_dir(model.ino(path)) or 0)

        def chmod(self, path, mode):
            return self._call(None, lambda: os.chmod(model.full(path), mode) or 0)

        def chown(self, path, uid, gid):
            return self._call(None, lambda: os.chown(model.full(path), uid, gid) or 0)

        def utimens(self, path, times=None):
            return self._call(
                None, lambda: (os.utime(model.full(path), ns=times) if times else os.utime(model.full(path))) or 0
            )

        # -- directory changes
        def mkdir(self, path, mode):
            def go():
                os.mkdir(model.full(path), mode)
                ino = model.ino(path)
                model.kind[ino] = "d"
                model.changed(("add", *model.parent_and_name(path), ino))
                return 0

            return self._call("m", go)

        def symlink(self, target, source):
            def go():
                os.symlink(source, model.full(target))
                ino = model.ino(target)
                model.kind[ino], model.links[ino] = "l", source
                model.changed(("add", *model.parent_and_name(target), ino))
                return 0

            return self._call("s", go)

        def link(self, target, source):
            def go():
                os.link(model.full(source), model.full(target))
                ino = model.ino(target)
                model._track_file(model.full(target), ino)
                model.changed(("add", *model.parent_and_name(target), ino))
                return 0

            return self._call("l", go)

        def unlink(self, path):
            def go():
                d, name = model.parent_and_name(path)
                ino = model.ino(path)
                os.unlink(model.full(path))  # the store keeps a link: the inode lives on
                model.changed(("remove", d, name, ino))
                return 0

            return self._call("u", go)

        def rmdir(self, path):
            def go():
                d, name = model.parent_and_name(path)
                ino = model.ino(path)
                if os.listdir(model.full(path)):
                    raise OSError(errno.ENOTEMPTY, "not empty")
                os.rename(model.full(path), model.store / "gone-dirs" / str(ino))  # keep its inode number taken
                model.changed(("remove", d, name, ino))
                return 0

            return self._call("r", go)

        def rename(self, old, new):
            def go():
                sd, sn = model.parent_and_name(old)
                dd, dn = model.parent_and_name(new)
                ino = model.ino(old)
                dest = model.full(new)
                if dest.is_dir() and not dest.is_symlink() and model.kind.get(ino) == "d":
                    if os.listdir(dest):
                        raise OSError(errno.ENOTEMPTY, "not empty")
                    os.rename(dest, model.store / "gone-dirs" / str(os.lstat(dest).st_ino))
                os.rename(model.full(old), dest)
                model.changed(("rename", sd, sn, dd, dn, ino))
                return 0

            return self._call("n", go)

    return CrashFS()


def _write_status(path: Path, body: dict) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backing", type=Path)
    p.add_argument("mount", type=Path)
    p.add_argument(
        "--store", type=Path, required=True, help="a folder for the durable state, on the same file system as BACKING"
    )
    p.add_argument("--status", type=Path, required=True, help="JSON: mounted, frozen, then the crash report")
    p.add_argument("--cut-after", type=int, default=1 << 62, help="freeze after this many mutating operations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=MODES, default=None, help="default: chosen by the seed")
    p.add_argument("--no-loss", action="store_true", help="unmount without losing anything")
    p.add_argument("--trace", action="store_true", help="report the kinds of the mutating operations, in order")
    args = p.parse_args(argv)
    args.status = args.status.absolute()  # libfuse may change the working directory

    import mfusepy as fuse

    rng = random.Random(args.seed)
    mode = args.mode or rng.choice(MODES)
    model = CrashModel(args.backing, args.store)
    trace: list[str] | None = [] if args.trace else None
    ops = make_operations(model, args.cut_after, args.status, trace)

    def mounted() -> None:
        _write_status(args.status, {"mounted": True, "pid": os.getpid()})

    init_original = getattr(ops, "init", None)

    def init(path):  # called by libfuse once the mount is live
        mounted()
        if init_original:
            init_original(path)

    ops.init = init
    try:
        fuse.FUSE(
            ops, str(args.mount), foreground=True, nothreads=True, fsname="crashfs", auto_unmount=True, hard_remove=True
        )  # an unlinked open file really goes (no .fuse_hidden files)
    finally:
        frozen = ops.frozen
        if args.no_loss:
            report = {"mode": "none", "frozen": frozen, **model.counts}
            shutil.rmtree(model.store, ignore_errors=True)
        else:
            report = {"frozen": frozen, **model.crash(mode, rng)}
        if trace is not None:
            report["trace"] = "".join(trace)
        report["done"] = True
        _write_status(args.status, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
