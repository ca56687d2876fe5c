"""badreadfs: a FUSE view of a folder whose named files have a bad stretch, as a failing disk has.

    python tests/badreadfs.py BACKING MOUNT --bad-name GLOB --bad-from OFFSET --status FILE [--writable]

Every file of BACKING is served at MOUNT, read-only unless --writable (then writes, renames and
deletions pass through; each open drops the file's cached pages, as FUSE does without
`keep_cache`, so a file written there and opened again is read back from this process). A read of a file
whose name matches GLOB that reaches OFFSET or beyond fails with EIO, as a read of an unreadable
sector does: `pread` returns the error, a memory mapping of it gets SIGBUS. Reads before OFFSET
succeed. The status file says {"mounted": true} once the mount is live. Unmount with
`fusermount3 -u MOUNT`.
Needs root, /dev/fuse, fusermount3 and mfusepy (tests skip without them: powerloss.unavailable()).
"""

from __future__ import annotations

import argparse
import errno
import fnmatch
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backing", type=Path)
    p.add_argument("mount", type=Path)
    p.add_argument("--bad-name", required=True)
    p.add_argument("--bad-from", type=int, required=True)
    p.add_argument("--status", type=Path, required=True)
    p.add_argument("--writable", action="store_true")
    args = p.parse_args(argv)
    backing, status = args.backing.absolute(), args.status.absolute()  # libfuse may change the directory

    import mfusepy as fuse

    class BadReadFS(fuse.Operations):
        use_ns = True

        def init(self, path):
            status.write_text(json.dumps({"mounted": True, "pid": os.getpid()}))

        def _full(self, path: str) -> str:
            return str(backing / path.lstrip("/"))

        def getattr(self, path, fh=None):
            try:
                st = os.lstat(self._full(path))
            except OSError as e:
                raise fuse.FuseOSError(e.errno or errno.EIO) from None
            return {
                k: getattr(st, k)
                for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino", "st_blocks", "st_blksize")
            } | {"st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._full(path))]

        def _do(self, fn, *a):
            if not args.writable:
                raise fuse.FuseOSError(errno.EROFS)
            try:
                return fn(*a)
            except OSError as e:
                raise fuse.FuseOSError(e.errno or errno.EIO) from None

        def open(self, path, flags):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_CREAT) and not args.writable:
                raise fuse.FuseOSError(errno.EROFS)
            try:
                return os.open(self._full(path), flags & ~(os.O_CREAT | os.O_EXCL))
            except OSError as e:
                raise fuse.FuseOSError(e.errno or errno.EIO) from None

        def read(self, path, size, offset, fh):
            if fnmatch.fnmatchcase(Path(path).name, args.bad_name) and offset + size > args.bad_from:
                raise fuse.FuseOSError(errno.EIO)
            return os.pread(fh, size, offset)

        def release(self, path, fh):
            os.close(fh)
            return 0

        def statfs(self, path):
            sv = os.statvfs(self._full(path))
            names = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_frsize")
            return {k: getattr(sv, k) for k in (*names, "f_flag", "f_namemax")}

        # -- writing (--writable only)
        def create(self, path, mode, fi=None):
            return self._do(os.open, self._full(path), os.O_RDWR | os.O_CREAT, mode)

        def write(self, path, data, offset, fh):
            return self._do(os.pwrite, fh, data, offset)

        def truncate(self, path, length, fh=None):
            return self._do(
                lambda: os.ftruncate(fh, length) if fh is not None else os.truncate(self._full(path), length)
            )

        def fsync(self, path, datasync, fh):
            return self._do(os.fsync, fh)

        def flush(self, path, fh):
            return 0

        def unlink(self, path):
            return self._do(os.unlink, self._full(path))

        def rename(self, old, new):
            return self._do(os.replace, self._full(old), self._full(new))

        def link(self, target, source):
            return self._do(os.link, self._full(source), self._full(target))

        def mkdir(self, path, mode):
            return self._do(os.mkdir, self._full(path), mode)

        def rmdir(self, path):
            return self._do(os.rmdir, self._full(path))

        def chmod(self, path, mode):
            return self._do(os.chmod, self._full(path), mode)

        def chown(self, path, uid, gid):
            return self._do(os.chown, self._full(path), uid, gid)

        def utimens(self, path, times=None):
            return self._do(lambda: os.utime(self._full(path), ns=times) if times else os.utime(self._full(path)))

        def fsyncdir(self, path, datasync, fh):
            return 0

    options = {} if args.writable else {"ro": True}
    fuse.FUSE(BadReadFS(), str(args.mount), foreground=True, nothreads=True, fsname="badreadfs", **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
