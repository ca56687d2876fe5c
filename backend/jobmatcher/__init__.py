"""JobMatcher: a person's job-search data, kept safe.

The package is a library first: the command line (`cli`) and the desktop
window (`app`) are thin layers over the engine modules below.
"""

__version__ = "0.1.0"


def _quiet_ctrl_c_until_main() -> None:
    """Run as the program (`python -m jobmatcher`: sys.argv[0] is "-m" while runpy looks for __main__; the
    `jobmatcher` script or the bundle), a Ctrl+C before entry.main runs (runpy's own lookup, the script's import
    of entry) printed a traceback of whatever it interrupted (G3; seen under load in test_cli_interrupt): until
    entry.main puts Python's handler back, the signal ends the process as signals do, quietly. Imported as a
    library, nothing changes. Never raises."""
    import os
    import sys

    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    if sys.argv[:1] != ["-m"] and name not in ("jobmatcher", "jobmatcher.exe"):
        return
    import signal

    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
    except (ValueError, OSError):  # not the main thread: nothing to do
        pass


_quiet_ctrl_c_until_main()
