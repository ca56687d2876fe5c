"""The `jobmatcher` command's entry point: Ctrl+C is answered in the user's words from the first moment.

The command line's modules take a noticeable part of a second to import on a busy machine. A
Ctrl+C in that time used to reach Python's default handler and print a traceback of whatever
import it interrupted (finding G3); `cli.main` only turns Ctrl+C into "Interrupted." once it runs.
So the import happens here, inside the same handling.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl+C


def main(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); its exit code (0, 1, 2; 130 on Ctrl+C)."""
    try:
        from .cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return INTERRUPTED
