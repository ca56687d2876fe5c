"""One rule for showing text that comes from outside (file names, notes, location names, revisions read from a
file): control characters are written as escapes, so a name can neither forge a line nor drive the terminal.

Imported by the command line at start-up: standard library only.
"""

from __future__ import annotations

import re
import unicodedata

# Beside the control characters: the line and paragraph separators, and the bidirectional controls (a
# right-to-left override in "a\u202egnp.db" shows it as "a…png.db"; H24). The page escapes the same (dom.js).
_ALSO_ESCAPED = frozenset("\u2028\u2029\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` with control characters (line breaks, ESC, BEL, C1), line/paragraph separators and bidirectional
    controls written as \\xNN / \\uNNNN. `keep_newlines`: for our own multi-line messages, whose line breaks are ours.

    A note, a file name dropped into a backup folder or a location's name comes from outside: printed raw,
    a line break forges a row and an escape sequence clears the screen or sets the window title.
    Never raises (anything is shown through str())."""
    text = str(text)
    if text.isprintable():  # the common case: no control character, no line or paragraph separator
        return text
    if keep_newlines and text.replace("\n", "").isprintable():  # our lines (a whole table): checked in C
        return text
    out = []
    for c in text:
        if (c == "\n" and keep_newlines) or not (unicodedata.category(c) == "Cc" or c in _ALSO_ESCAPED):
            out.append(c)
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)


def unprintable(text: str) -> str:
    """The inverse of printable() for what it escapes: each \\xNN / \\uNNNN standing for a character printable()
    writes as an escape becomes that character again; anything else (a backslash in a Windows path, an
    escape of a printable character) stays as written. So a name printed escaped can be typed back (K5).
    Never raises."""
    if "\\" not in text:
        return text

    def back(m: "re.Match[str]") -> str:
        c = chr(int(m.group(1) or m.group(2), 16))
        return c if unicodedata.category(c) == "Cc" or c in _ALSO_ESCAPED else m.group(0)

    return _ESCAPE.sub(back, text)


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")
