"""One rule for showing text that comes from outside (file names, notes, location names, revisions read from a
file): control characters are written as escapes, so a name can neither forge a line nor drive the terminal.

Imported by the command line at start-up: standard library only.
"""

from __future__ import annotations

import unicodedata


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` with control characters (line breaks, ESC, BEL, C1) and line/paragraph separators written as
    \\xNN / \\uNNNN. `keep_newlines`: for our own multi-line messages, whose line breaks are ours.

    A note, a file name dropped into a backup folder or a location's name comes from outside: printed raw,
    a line break forges a row and an escape sequence clears the screen or sets the window title.
    Never raises (anything is shown through str())."""
    text = str(text)
    if text.isprintable():  # the common case: no control character, no line or paragraph separator
        return text
    out = []
    for c in text:
        if (c == "\n" and keep_newlines) or not (unicodedata.category(c) == "Cc" or c in "\u2028\u2029"):
            out.append(c)
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)
