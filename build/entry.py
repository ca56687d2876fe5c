"""The bundle's entry point: the same `jobmatcher` command as the console script.

PyInstaller runs this file as `__main__`; it cannot use `jobmatcher/__main__.py`
directly because that one imports relatively (`from .cli import main`).
"""

import sys

from jobmatcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
