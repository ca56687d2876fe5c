"""The `jobmatcher` command's entry point: Ctrl+C is answered in the user's words from the first moment.

The command line's modules take a noticeable part of a second to import on a busy machine. A
Ctrl+C in that time used to reach Python's default handler and print a traceback of whatever
import it interrupted (finding G3); `cli.main` only turns Ctrl+C into "Interrupted." once it runs.
So the import happens here, inside the same handling.
"""

from __future__ import annotations

import os
import sys

INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl+C
# pydantic's environment variable naming the plugins not to load ("__all__": none at all).
PLUGINS_SWITCH = "PYDANTIC_DISABLE_PLUGINS"
RELAUNCHED_ENV = "JOBMATCHER_RELAUNCHED"  # relaunch.RELAUNCHED_ENV, without importing relaunch in every command


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); its exit code (0, 1, 2; 130 on Ctrl+C).

    Run as the program itself (`argv` None) after a command that leaves nothing behind (cli.QUICK_EXIT:
    `backup list`, verify, a listed restore, status, db status), the process ends here, once its output is
    flushed and logging shut down: the interpreter's own shutdown frees every object one by one, a fifth of
    `backup list`'s time with 1,000 backups, for nothing anyone can see. `--version` alone is answered before
    the command line's modules are imported.

    Run as the program, pydantic's plugins are turned off for this process (PYDANTIC_DISABLE_PLUGINS, pydantic's
    documented switch, unless the environment already sets it): JobMatcher uses none, and looking for them
    scans every installed package's entry points when the first model is built, in every command.
    """
    try:
        if argv is None:
            import signal

            if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:  # __init__'s quiet window ends: ours from here
                signal.signal(signal.SIGINT, signal.default_int_handler)
            if os.environ.get(RELAUNCHED_ENV) == "1":  # restarted in place: a Ctrl+C held across the restart stops us
                from .relaunch import release_held_signals

                release_held_signals()
            os.environ.setdefault(PLUGINS_SWITCH, "__all__")
            from . import streams

            streams.install()  # a closed, full or gone stdout/stderr: never a traceback (U2, U6)
            if sys.argv[1:] == ["--version"]:  # what argparse prints for it, without building the parser (T10)
                from . import __version__

                sys.stdout.write(f"jobmatcher {__version__}\n")
                return streams.finish(0)
            import logging

            # A log record that cannot be written is dropped, never a "--- Logging error ---" traceback on the
            # user's terminal (logs.py turns its file off after one line when the disk fails, U3).
            logging.raiseExceptions = False
        from . import cli

        cli.AS_PROGRAM = argv is None
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse's usage errors (2) and --help (0): their output may fail too
            if argv is not None:
                raise
            code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
        cli._change_made()  # done: a Ctrl+C while the interpreter ends must not kill it by the signal (K10)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return INTERRUPTED
    if argv is None:
        from . import streams

        code = streams.finish(code)  # an output that could not be written is said (stderr) and ends 1
        if cli.QUICK_EXIT:
            _end_now(code)
    return code


def _end_now(code: int) -> None:
    """End the process with `code` now, as a normal exit would end it but for freeing memory: only when no
    other thread runs and no file is open but the three standard streams (nothing unfinished is cut short: no
    unwritten buffer, no database connection, no lock, no temporary file whose object would remove it).
    Returns (a normal exit follows) otherwise."""
    import logging
    import os
    import threading

    if "jobmatcher.fsutil" in sys.modules:  # a close handed to a thread (close_later) ends first
        sys.modules["jobmatcher.fsutil"].finish_closes()
    if threading.active_count() != 1:
        return
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: a stream closed when the program started (U6)
                stream.flush()
    except BrokenPipeError:  # the reader went away (`| head`): as cli.main answers it, exit 1, no message
        code = 1
    except OSError:
        return  # let the normal exit report it
    logging.shutdown()  # what the normal exit runs first: flush and close the log file
    if _files_open():
        return
    os._exit(code)


def _files_open() -> bool:
    """True when this process holds a file descriptor other than 0, 1 and 2, or when that cannot be known (no
    /proc/self/fd nor /dev/fd: Windows, where the normal exit follows). The descriptor that read the list is
    closed by the time each is looked at (EBADF: not counted)."""
    import os

    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            fds = [int(name) for name in os.listdir(folder)]
            break
        except (OSError, ValueError):
            continue
    else:
        return True
    for fd in fds:
        if fd > 2:
            try:
                os.fstat(fd)
            except OSError:
                continue
            return True
    return False
