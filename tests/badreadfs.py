"""badreadfs: a read-only FUSE view of a folder whose named file has a bad stretch, as a failing disk has.

    python tests/badreadfs.py BACKING MOUNT --bad-name NAME --bad-from OFFSET --status FILE

Every file of BACKING is served at MOUNT, read-only. A read of the file called NAME that reaches
OFFSET or beyond fails with EIO, as a read of an unreadable sector does: `pread` returns the
error, a memory mapping of it gets SIGBUS. Reads before OFFSET succeed. The status file says
{"mounted": true} once the mount is live. Unmount with `fusermount3 -u MOUNT`.
Needs root, /dev/fuse, fusermount3 and mfusepy (tests skip without them: powerloss.unavailable()).
"""

from __future__ import annotations

import argparse
import errno
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

        def open(self, path, flags):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_CREAT):
                raise fuse.FuseOSError(errno.EROFS)
            try:
                return os.open(self._full(path), os.O_RDONLY)
            except OSError as e:
                raise fuse.FuseOSError(e.errno or errno.EIO) from None

        def read(self, path, size, offset, fh):
            if Path(path).name == args.bad_name and offset + size > args.bad_from:
                raise fuse.FuseOSError(errno.EIO)
            return os.pread(fh, size, offset)

        def release(self, path, fh):
            os.close(fh)
            return 0

    fuse.FUSE(BadReadFS(), str(args.mount), foreground=True, nothreads=True, ro=True, fsname="badreadfs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
