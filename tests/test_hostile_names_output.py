"""A hostile file name (a line break, a terminal escape) in every line the command line prints, and in the
safety backup's note made from it (finding G10). The real CLI on a real data folder."""

from __future__ import annotations

import json
import shutil

from conftest import run_cli

EVIL = "evil\n\x1b[31mname\x07.db"


def _clean(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    for line in text.splitlines():
        assert not line.startswith("\\x1b[31m") and not line.startswith("\x1b"), repr(text)


def test_a_hostile_file_name_is_escaped_in_success_lines_and_the_safety_note(engine, data_dir, tmp_path):
    made = engine.create_backup()
    other = tmp_path / "x"
    other.mkdir()
    f = other / EVIL
    shutil.copyfile(made.path, f)
    for args in (("backup", "verify", str(f)), ("backup", "show", str(f)), ("backup", "restore", str(f), "--yes")):
        r = run_cli(*args, data_dir=data_dir)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        _clean(r.stdout)
        _clean(r.stderr)
        assert "evil\\x0a\\x1b[31mname\\x07.db" in r.stdout, (args, r.stdout)  # named, escaped, on one line
    safety = [b for b in engine.list_backups() if b.type.value == "safety"]
    assert safety, "a safety backup was made"
    note = safety[0].note
    assert note.isprintable() and "evil" in note, repr(note)
    raw = json.loads((engine.store.folder / f"{safety[0].id}.json").read_text())["note"]
    assert raw.isprintable(), repr(raw)


def test_a_hostile_file_name_in_a_refusal_forges_no_line(engine, data_dir, tmp_path):
    """The same name in an error (a file that is not a backup): one "Error:" line, the name escaped."""
    other = tmp_path / "y"
    other.mkdir()
    f = other / "bad\nOK: all good\x1b[2J.db"
    f.write_bytes(b"not a database at all" * 100)
    r = run_cli("backup", "verify", str(f), data_dir=data_dir)
    assert r.returncode == 1, (r.stdout, r.stderr)
    _clean(r.stderr)
    assert not any(line.startswith("OK:") for line in r.stderr.splitlines()), r.stderr
    assert "bad\\x0aOK: all good\\x1b[2J.db" in r.stderr, r.stderr


def test_an_id_printed_escaped_can_be_typed_back_and_bidi_controls_are_escaped(engine, data_dir):
    """K5 and H24: `backup list` prints an id with control characters or bidirectional controls (a
    right-to-left override that would show "a\u202egnp" reversed) escaped; that escaped form, typed back, names
    the backup; an unknown id is quoted as typed (no doubled backslashes)."""
    made = engine.create_backup()
    folder = engine.store.folder
    for name in ("evil\nline\x1b[31m.db", "a\u202egnp.db", "b\u2066x\u2069.db"):
        shutil.copyfile(made.path, folder / name)
    r = run_cli("backup", "list", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x1b":
        assert c not in r.stdout, repr(r.stdout)
    for printed in ("evil\\x0aline\\x1b[31m", "a\\u202egnp", "b\\u2066x\\u2069"):
        assert printed in r.stdout, r.stdout
        v = run_cli("backup", "verify", printed, data_dir=data_dir)
        assert v.returncode == 0 and "is a sound backup" in v.stdout, (printed, v.stdout, v.stderr)
        _clean(v.stdout)
    v = run_cli("backup", "verify", "evil\\x0aline", data_dir=data_dir)
    assert v.returncode == 1 and "There is no backup with the id 'evil\\x0aline'." in v.stderr, v.stderr
    # the safety backup's note made from such a name holds no bidi control either
    r = run_cli("backup", "restore", "a\\u202egnp", "--yes", data_dir=data_dir)
    assert r.returncode == 0 and "\u202e" not in r.stdout, (r.stdout, r.stderr)


def test_a_listed_backup_that_fails_its_check_is_named_by_its_id(engine, data_dir):
    """K4: the refusal names a listed backup as the list does (its id), not by its file name."""
    from pathlib import Path

    made = engine.create_backup()
    data = bytearray(Path(made.path).read_bytes())
    data[-100] ^= 0xFF
    Path(made.path).write_bytes(bytes(data))
    r = run_cli("backup", "verify", made.id, data_dir=data_dir)
    assert r.returncode == 1 and f"The backup {made.id} has changed" in r.stderr, r.stderr
    error = r.stderr.split("\n")[0]
    assert f"{made.id}.db" not in error, r.stderr
    # only the way to what it holds names its file, as the one to copy (Y7's kind: no dead end)
    assert f"copy its file {made.path} to another folder" in " ".join(r.stderr.split()), r.stderr
