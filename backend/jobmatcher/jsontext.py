"""JSON text for what JobMatcher shows (the command line's --json, the page's answers) that never fails on a name
that is not UTF-8.

A data folder, backup file or location named in an older encoding reaches Python with each byte that is not
UTF-8 as a lone surrogate (U+DC80-U+DCFF, surrogateescape). JSON text is UTF-8, so such a character is written
as its \\uDCxx escape: valid JSON syntax, read back by Python's json.loads as the same string, and
`os.fsencode(json.loads(text))` gives the name's exact bytes. The files JobMatcher keeps hold such a name only
when JobMatcher recorded it without the user choosing it (settings.json's previous backup folder: the default
folder of a data folder so named, Y3), and read it back with json.loads; a name the user chooses is refused
(fsutil.require_utf8_path).
"""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """JSON text `text` (from json.dumps(..., ensure_ascii=False)) with each lone surrogate as its \\uXXXX escape.
    Surrogates can only stand inside JSON strings, so the escape is always in a string."""
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(value: Any, *, indent: int | None = None, exclude: Any = None) -> str:
    """`value` (models, lists, dicts of JSON-able values) as JSON text, as pydantic_core.to_json writes it; a string
    holding bytes that are not UTF-8 is written with \\uDCxx escapes instead of failing (see the module)."""
    from pydantic_core import PydanticSerializationError, to_json, to_jsonable_python

    try:  # pydantic_core's encoder (Rust): the standard library's indenting encoder is ~60 ms for 1,000 backups
        return to_json(value, indent=indent, exclude=exclude).decode()
    except PydanticSerializationError:  # "surrogates not allowed": the rare slow way
        plain = to_jsonable_python(value, exclude=exclude)
    return escape_surrogates(json.dumps(plain, indent=indent, ensure_ascii=False))
