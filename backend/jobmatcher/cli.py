"""The command line: a thin layer that turns engine results into text or JSON, and errors into exit codes.

Exit codes: 0 success, 1 refused or failed (the message on stderr says what to
do), 2 usage error. A traceback is never printed; it goes to the log file.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import logging
import os
import re
import sys
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterator

from . import __version__
from .errors import JobMatcherError

# Everything else is imported by the command that needs it: start-up is part of every command's time
# (`--help` and `--version` import no pydantic at all; tests/test_cli_ux.py keeps these imports light).

log = logging.getLogger("jobmatcher.cli")

# Set by a command that leaves nothing for the interpreter's shutdown to finish (no thread, no open database,
# no temporary file): the program may then end at once after it (entry.py), without freeing every object.
QUICK_EXIT = False  # set by backup list, verify, a listed restore, status and db status (entry.py)
AS_PROGRAM = False  # set by entry.main when this process is the `jobmatcher` command itself (not a caller's import)


def _change_made() -> None:
    """The command's change is made (a restore, a backup): a Ctrl+C from here on, while the result is printed
    or the interpreter exits, would kill the process by the signal (the interpreter puts back the default
    handler as it ends) or say "Interrupted." of a change that did happen (K10). So it is ignored: the
    command ends with its own code. Only in the program's own process and main thread."""
    if AS_PROGRAM and threading.current_thread() is threading.main_thread():
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- output helpers --------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):  # a pydantic model
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _emit_json(value: Any) -> None:
    # pydantic_core's encoder (Rust): the standard library's pure-Python indenting encoder took
    # about 60 ms for a list of 1,000 backups. A name that is not UTF-8 is escaped, never a failure (X27).
    from .jsontext import json_text

    sys.stdout.write(json_text(_sentences_for_this_folder(_jsonable(value)), indent=2) + "\n")


# -- the commands a message names, for the data folder this command ran on (D6) --------------------------------

# The data folder this command was given (--data-dir, else $JOBMATCHER_DATA_DIR), shell-quoted and absolute, for
# the commands its messages name; None for the default data folder (main sets it).
_GIVEN_DATA_DIR: str | None = None
# "`jobmatcher " opening a command in a message, unless that command names its data folder already (or is
# `completion`, which takes none). The library's messages name bare commands; the words are chosen here.
_BARE_COMMAND = re.compile(r"`jobmatcher (?!completion\b)(?![^`]*--data-dir)")
# The keys of --json output whose strings are the library's sentences (an error's message and hint, a warning's,
# a location's problem, a sync's error; `problems` by name): never the user's own text (a note, a name, a path).
_SENTENCE_KEYS = frozenset({"message", "hint", "problem", "error", "problems"})


def _given_data_dir(args: argparse.Namespace) -> str | None:
    """The data folder `args` name other than the default one (--data-dir, else a non-blank $JOBMATCHER_DATA_DIR,
    the rule of the engine's default_data_dir), absolute and shell-quoted; None for the default data folder."""
    import shlex

    given = args.data_dir if args.data_dir is not None else os.environ.get("JOBMATCHER_DATA_DIR", "")
    if not str(given).strip():
        return None
    return shlex.quote(os.path.abspath(os.path.expanduser(os.fspath(given))))


def _for_this_folder(text: str) -> str:
    """D6: `text` with every command it names (`jobmatcher …` in backquotes) given this command's data folder
    (`jobmatcher --data-dir FOLDER …`) when the command ran on one other than the default, so a way out followed
    as written acts on that folder, not on the default one. A command naming --data-dir already is left as it is.
    Every line the command line prints passes here (print, _emit_json's sentences, the usage errors)."""
    if _GIVEN_DATA_DIR is None or "`jobmatcher " not in text:
        return text
    return _BARE_COMMAND.sub(lambda _: f"`jobmatcher --data-dir {_GIVEN_DATA_DIR} ", text)


def _sentences_for_this_folder(value: Any, sentence: bool = False) -> Any:
    """`value` (JSON-ready) with _for_this_folder applied to the strings under _SENTENCE_KEYS, however deep."""
    if _GIVEN_DATA_DIR is None:
        return value
    if isinstance(value, str):
        return _for_this_folder(value) if sentence else value
    if isinstance(value, dict):
        return {k: _sentences_for_this_folder(v, sentence or k in _SENTENCE_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_sentences_for_this_folder(v, sentence) for v in value]
    return value


_printable: Callable[[object, bool], str] | None = None


def _safe(text: object, keep_newlines: bool = False) -> str:
    """`text` for the terminal (printable.printable: control characters escaped)."""
    global _printable
    if _printable is None:  # imported at the first use, once (a list of 1,000 backups escapes 7,000 cells)
        from .printable import printable  # here: `--help` and `--version` import nothing more (test_cli_ux)

        _printable = printable
    return _printable(text, keep_newlines)


def print(*parts: object, verbatim: bool = False, **kwargs: Any) -> None:  # noqa: A001 - every line printed
    """builtins.print with every part passed through _safe (line breaks kept: a part's own line breaks are
    ours; a name that may hold one is escaped where it is put into the line, with _safe). So no escape
    sequence from a file name, note or location name reaches the terminal, whatever line shows it (G10).
    The commands a part names are given this command's data folder (_for_this_folder, D6), except in a
    `verbatim` line: one showing the user's own text (a backup's note, a profile's name) as it is."""
    if verbatim:
        builtins.print(*(_safe(p, keep_newlines=True) for p in parts), **kwargs)
    else:
        builtins.print(*(_safe(_for_this_folder(str(p)), keep_newlines=True) for p in parts), **kwargs)


def _cells(row: tuple) -> tuple[str, ...]:
    cells = tuple(c if isinstance(c, str) else str(c) for c in row)
    if "".join(cells).isprintable():  # the common row: nothing to escape (one check in C, not one per cell)
        return cells
    return tuple(_safe(c) for c in cells)


def _size(n: int) -> str:
    from .fsutil import human_size

    return human_size(n)


def type_label(kind: object) -> str:
    from .presentation import type_label

    return type_label(kind)


def _seconds(s: float) -> str:
    return f"{s:.2f} s" if s < 10 else f"{s:.0f} s"


def _local(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def _stderr_is_terminal() -> bool:
    """True when stderr is a terminal; False also when it is None (a stream closed when a caller's program
    started; the `jobmatcher` program itself puts /dev/null there, streams.install) or is itself closed (U6)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (OSError, ValueError):
        return False


class _ProgressBar:
    """A tqdm bar per phase on stderr, only when stderr is a terminal (tqdm throttles redraws itself).

    A progress.Progress: every report names its unit, and the bar counts in it: bytes as
    kB/MB/GB, pages and backups as counts. A phase with no measurable progress (total None,
    unit "steps": the integrity check in its child process, a schema update) gets a spinner
    with the elapsed time instead of a bar stuck at 0%. The outer count of a location sync
    ("backup", in backups) labels the bars of the phases inside it ("Copying (2/5)").
    """

    LABELS = {
        "copy": "Copying",
        "verify": "Verifying",
        "check": "Checking",
        "safety": "Safety backup",
        "safety-verify": "Checking the safety backup",
        "migrate": "Updating schema",
        "swap": "Replacing",
        "unlock": "Opening the encryption key",
        "download": "Downloading",
        "decrypt": "Decrypting",
        "move": "Moving backups",
        "wait": "Waiting for another program to finish writing",
        "done": "Done",
    }

    def __init__(self, enabled: bool) -> None:
        self.notices = enabled  # a wait is said also when stderr is not a terminal (a script's log)
        self.enabled = enabled and _stderr_is_terminal()
        self._bar: Any = None
        self._spinner: _Spinner | None = None
        self._phase: str | None = None
        self._of = ""  # " (2/5)" while a phase counting backups runs around the others
        self._drawn = 0.0  # time.monotonic() of the last redraw

    def __call__(self, phase: str, done: int, total: int | None, unit: str) -> None:
        if phase == "wait" and done == 0 and self.notices and not self.enabled:
            print("Waiting for another program to finish writing to the database…", file=sys.stderr, flush=True)
            return
        if not self.enabled or phase == "done":
            return
        if phase == "backup" and unit == "backups":  # the outer count: a label for the inner bars
            of = f" ({min(done + 1, total)}/{total})" if total else ""
            if of != self._of:
                self.close()  # the next backup's copy gets a bar of its own
                self._of = of
            return
        measurable = total is not None and unit != "steps"
        if phase != self._phase or (measurable and self._bar is None):
            self.close()
            self._phase = phase
            label = self.LABELS.get(phase, phase) + self._of
            if measurable:
                self._bar = self._new_bar(label, max(int(total or 0), 1), unit, done)
            else:
                self._spinner = _Spinner(True, label).__enter__()
        if self._bar is not None and total is not None:
            self._bar.total = max(total, 1)
            self._bar.n = done
            # Reports come every 64 KB of a copy: redraw at most ten times a second, and at the end (H12:
            # a 680 MB sync drew its bar 10,000 times, over a megabyte of terminal output).
            now = time.monotonic()
            if now - self._drawn >= 0.1 or done >= total:
                self._drawn = now
                self._bar.refresh()

    @staticmethod
    def _new_bar(label: str, total: int, unit: str, initial: int) -> Any:
        from tqdm import tqdm

        if unit == "bytes":  # decimal prefixes, as fsutil.human_size and the page show sizes
            kind: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1000}
            counts = "{n_fmt}B/{total_fmt}B"
        else:
            kind, counts = {"unit": f" {unit}"}, "{n_fmt}/{total_fmt}{unit}"
        # a count's rate would read "149234.13 pages/s" (tqdm shows it with fractions): only bytes get one (L15)
        rate = ", {rate_fmt}" if unit == "bytes" else ""
        fmt = "{desc}: {percentage:3.0f}%|{bar}| " + counts + " [{elapsed}<{remaining}" + rate + "]"
        # initial: what the first report had already done before the bar existed is not counted in the rate
        # (a 60 MB restore's first report, 16 MB in, read as "1.7TB/s")
        return tqdm(
            total=total,
            initial=initial,
            desc=label,
            file=sys.stderr,
            leave=False,
            mininterval=0.1,
            bar_format=fmt,
            **kind,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._spinner is not None:
            self._spinner.__exit__(None, None, None)
            self._spinner = None
        self._phase = None


class _Spinner:
    """An honest "still working" line for a step with no measurable progress: a spinner and the elapsed time."""

    FRAMES = "|/-\\"

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled and _stderr_is_terminal()
        self.label = label
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "_Spinner":
        if self.enabled:
            start = time.monotonic()
            self._frame(0, start)  # at once, however short the step: the user sees what ran
            self._thread = threading.Thread(target=self._draw, args=(start,), daemon=True)
            self._thread.start()
        return self

    def _frame(self, i: int, start: float) -> None:
        elapsed = time.monotonic() - start
        sys.stderr.write(f"\r{self.label}… {self.FRAMES[i % 4]} {elapsed:.0f} s\x1b[K")
        sys.stderr.flush()

    def _draw(self, start: float) -> None:
        i = 1
        while not self._stop.wait(0.1):
            self._frame(i, start)
            i += 1

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


class _UsageError(Exception):
    """A value argparse cannot check by itself; reported like argparse's own errors (exit 2)."""


def _confirm(args, question: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise JobMatcherError(
            "Confirmation needed, and there is no terminal to ask on.",
            "Run the command again with --yes to confirm.",
            code="confirmation-needed",
        )
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


# -- commands ----------------------------------------------------------------------


def _engine(args, read_only: bool = False):
    """The engine for the data folder; `read_only` for commands that only look (nothing is created or changed)."""
    from .engine import Engine

    return Engine(args.data_dir, read_only=read_only)


def cmd_backup_create(args) -> int:
    _engine(args, read_only=True).require_database()  # refused before the data folder is made: nothing left behind
    bar = _ProgressBar(not args.json)
    try:
        b = _engine(args).create_backup(note=args.note or "", progress=bar)
        _change_made()
    finally:
        bar.close()
    stopped = _start_copies(args)
    if args.json:  # D17: a script reading the JSON learns that copies stopped, as a person reading the terminal
        warnings = [{"code": "copies-stopped", "message": stopped[:1].upper() + stopped[1:]}] if stopped else []
        _emit_json({**_jsonable(b), "warnings": warnings})
    else:
        waited = f", after waiting {_seconds(b.wait_seconds)} for another program to finish writing"
        if b.wait_gave_up:  # it had not finished: say what the backup holds (K3)
            waited = f", after waiting {_seconds(b.wait_seconds)} for another program that was writing"
        print(
            f"Backed up {_size(b.size_bytes)} in {_seconds(b.copy_seconds)}, verified in "
            f"{_seconds(b.verify_seconds)}{waited if b.wait_seconds >= 0.5 else ''}: {_safe(b.id)}"
        )
        print(f"  {_safe(b.path)}")
        if b.wait_gave_up:
            print(
                "  That program was still writing, so JobMatcher stopped waiting: the backup holds everything "
                "saved before then, not the changes it had not saved yet."
            )
        if stopped:
            print(f"Warning: {stopped}", file=sys.stderr)
    return 0  # no quick exit: the copy keeps a descriptor of the live database to the end (snapshot.py)


def _start_copies(args) -> str | None:
    """Start the copies of a backup just made to the backup locations (in the background, never waited for);
    None, or the sentence saying that copies off this disk have stopped and why (C4: the locations file cannot
    be read; D7: it is damaged): the backup itself is made. Never raises for those."""
    from .locations.copier import spawn_background_sync

    root = _engine(args).data_dir
    why = None
    try:
        spawn_background_sync(root)  # copies to locations after the check; never waited for
    except OSError as e:
        from .causes import explain

        named = explain(e, "reading the backup locations file")
        why = named.message if named else str(e)
    if why is None:  # D7: a damaged locations file stops them as silently
        from .locations.copier import damaged_locations_file

        why = damaged_locations_file(root)
    if why is None:
        return None
    return (
        f"the backup is made, but copies off this disk have stopped: {why} Run `jobmatcher status` to see what to do."
    )


# The VERIFIED column of a backup not checked (verified None), by its verify_message.
_UNCHECKED = {
    "checking": "checking",
    "newer-version": "newer version",
    "changed-after-restore": "CHANGED after restore",
}


def cmd_backup_list(args) -> int:
    if _location_source(args):
        return cmd_location_backups(args)
    _quick_exit()  # reads manifests only: no connection, no thread, nothing to close but the files it closed
    # Engine.list_backups and previous_backups as rows read with the core schemas (listing.py): no pydantic model
    # imported or built, the same rows (issue 13: 1,000 backups under 150 ms, the interpreter's start included).
    from .listing import list_backups, restore_held_checks, stopped_checks

    skipped: list[str] = []
    items, previous = list_backups(args.data_dir, skipped)
    for why in skipped:  # files in the folder that are not backups: said, not silently hidden (K11)
        print(_safe(why), file=sys.stderr)
    stopped = stopped_checks(args.data_dir, items)
    for bid in sorted(stopped):  # a check killed (V7): said, not "checking" until something else notices
        print(
            f"The check of {_safe(bid)} stopped before it finished (its process ended): it runs again when "
            f"JobMatcher opens next, or now with `jobmatcher backup verify {_safe(bid)}`.",
            file=sys.stderr,
        )
    waiting, restore_gone = restore_held_checks(args.data_dir, items)
    if not restore_gone:
        waiting = set()  # a restore still at work: its safety backup is checked as soon as it ends
    for bid in sorted(waiting):  # FINDINGS20 7: a restore killed before its safety backup's check began
        print(f"The check of {_safe(bid)} {_RESTORE_STOPPED}", file=sys.stderr)
    for r in items:  # a safety backup changed after its restore (Y7): said, as the check stopped is
        if r.verified is None and r.verify_message == "changed-after-restore":
            print(
                f"The safety backup {_safe(r.id)} was changed after the restore that made it: it may not be your "
                f"data from before that restore (`jobmatcher backup show {_safe(r.id)}` shows what it holds; it can "
                "be restored as it is).",
                file=sys.stderr,
            )
    if args.json:
        from .jsontext import json_text

        # The records as BackupRecord.model_dump(mode="json") gives them (the same fields, in its order), in one
        # call (half the time for 1,000 rows).
        fields = [r.__dict__ for r in items]
        sys.stdout.write(json_text(fields, indent=2, exclude={"__all__": {"verify_message", "has_manifest"}}) + "\n")
        return 0
    for prev in previous:  # backups left behind by a change of folder: listed as such until moved
        n = len(prev["backups"])
        if n == 0:
            continue  # all moved already: nothing to say (G20)
        where = _safe(prev["folder"]) if prev["available"] else f"{_safe(prev['folder'])} (not available now)"
        print(
            f"In the previous backup folder {where}: {n} backup{'s' if n != 1 else ''} "
            "(`jobmatcher settings --move-backups` moves them here)",
            file=sys.stderr,
        )
    if not items:
        print(
            "No backups in the backup folder yet. Make one with `jobmatcher backup create`."
            if previous
            else "No backups yet. Make one with `jobmatcher backup create`."
        )
        return 0
    from .fsutil import human_size
    from .presentation import row_type_label

    rows: list[tuple[str, ...]] = [("ID", "TYPE", "CREATED", "SIZE", "VERIFIED", "PINNED", "NOTE")]
    others = [r for r in items if not r.owned]
    for r in [r for r in items if r.owned] + others:
        if r is (others[0] if others else None):
            rows.append(("", "", "", "", "", "", ""))
            rows.append(("Backups of other data folders (never cleaned up here):", "", "", "", "", "", ""))
        verified = (
            "yes"
            if r.verified is True
            else "FAILED"
            if r.verified is False
            else "check stopped"
            if r.id in stopped and r.verify_message == "checking"
            else "not started"
            if r.id in waiting and r.verify_message == "checking"
            else _UNCHECKED.get(r.verify_message, "not yet")
        )
        note = r.note if r.note and r.manifest == "ok" else ""
        if r.manifest == "unreadable" or r.future:
            flags = [
                text
                for cond, text in (
                    (r.manifest == "unreadable", "manifest unreadable"),
                    (r.future, "DATED IN THE FUTURE (wrong clock)"),
                )
                if cond
            ]
            note = "; ".join(flags + ([note] if note else []))
        rows.append(
            _cells(
                (
                    r.id,
                    row_type_label(r),
                    _local(r.created_at),
                    human_size(r.size_bytes),
                    verified,
                    "pinned" if r.pinned else "",
                    note,
                )
            )
        )
    widths = [max(len(row[i]) for row in rows if row[1]) for i in range(6)]
    print(  # one write for the table: its cells are escaped (_cells), the line breaks are ours
        "\n".join(
            ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[6])  # note unpadded
            if row[1]
            else row[0]
            for row in rows
        ),
        verbatim=True,  # the notes are the user's words
    )
    # the page's status-line warning, with the command instead of the button
    from .presentation import newest_backup_warning

    warning = newest_backup_warning(items, remedy=("Make one with `jobmatcher backup create`.",) * 2)
    if warning:
        print(f"\n{warning}", file=sys.stderr)
    return 0


def cmd_backup_show(args) -> int:
    p = _engine(args, read_only=True).preview(args.target)
    if args.json:
        _emit_json(p)
        return 0
    label = _safe(p.label[:1].upper() + p.label[1:])
    kind = f" ({type_label(p.type)})" if p.type else ""
    checked = {True: "passed its check", False: "FAILED its check", None: "not checked yet"}[p.verified]
    if p.newer_version:
        checked = "made by a newer JobMatcher (restorable with that version)"
    if p.changed_after_restore:  # Y7: what it holds is shown, never as the data from before the restore
        checked = "CHANGED after the restore that made it: it may not be your data from before that restore" + (
            "; FAILED its check as it is now" if p.verified is False else ""
        )
    print(f"{label}{kind}, {_size(p.size_bytes)}" + (f", {checked}" if p.id else ""))
    if p.note:
        print(f"  Note: {_safe(p.note)}", verbatim=True)  # the user's words
    cur = p.current
    rows = [
        ("", "IN THE BACKUP", "NOW"),
        ("Name", p.backup.full_name or "-", cur.full_name or "-" if cur else "?"),
        ("Headline", p.backup.headline or "-", cur.headline or "-" if cur else "?"),
    ]
    for t in p.tables:
        rows.append((t.label, "-" if t.then is None else str(t.then), "?" if t.now is None else str(t.now)))
    rows.append(("Schema", p.backup.schema_revision or "-", cur.schema_revision or "-" if cur else "?"))
    cells = [_cells(r) for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(2)]
    for r in cells:
        print(f"  {r[0].ljust(w[0])}  {r[1].ljust(w[1])}  {r[2]}", verbatim=True)  # the profile's own words
    return 0


def _quick_exit() -> None:
    """This command may end without the interpreter's shutdown (freeing every object: about 20 ms of CPU once
    the engine is loaded, T10). entry._end_now still ends it normally when a thread runs or a file is open."""
    global QUICK_EXIT
    QUICK_EXIT = True


def cmd_backup_verify(args) -> int:
    from .checkproc import SpareChild

    _quick_exit()
    # Started before the engine's modules are imported: the check's child starts on the other core meanwhile,
    # so the check (memory-mapped, in that child: a read error kills only it) need not wait for a process.
    with SpareChild.start() or contextlib.nullcontext() as spare:
        with _Spinner(not args.json, f"Checking {_safe(args.target)}"):
            engine = _engine(args, read_only=True)
            result = engine.verify(args.target, spare=spare)
    if result.backup is not None and result.backup.type == "safety" and result.backup.verified:
        from .locations.copier import spawn_background_sync

        # a restore's safety backup (copied only once it passed: V7) goes to the locations now, not at the
        # next backup; never waited for
        spawn_background_sync(engine.data_dir)
    if args.json:
        _emit_json({"ok": True, **_jsonable(result)})
    else:
        rev = result.schema_revision
        schema_text = f"schema {_safe(rev)}" if rev else "schema not recorded"
        print(f"OK: {_safe(args.target)} is a sound backup ({schema_text}, {_size(result.size_bytes)}).")
        if result.manifest_size_bytes is not None:  # T3: said, not corrected silently
            print(
                f"Its manifest said {_size(result.manifest_size_bytes)} ({result.manifest_size_bytes:,} bytes), "
                f"not the file's {result.size_bytes:,} bytes: it records the file's size now."
            )
    return 0


@contextlib.contextmanager
def _leaving_no_new_data_folder(engine) -> Iterator[None]:
    """A refused or failed command leaves no data folder it made itself (holding only its lock files): "Nothing
    was changed" stays true for a mistyped --data-dir (L2). The block's exception passes through."""
    try:
        yield
    except BaseException:
        engine.remove_data_folder_if_unused()
        raise


def cmd_backup_restore(args) -> int:
    if _location_source(args):
        return cmd_location_restore(args)
    engine = _engine(args)
    _quick_exit()
    with _leaving_no_new_data_folder(engine):
        code = _restore_listed(args, engine)
    if code:  # answered no: nothing restored, nothing made
        engine.remove_data_folder_if_unused()
    return code


def _restore_listed(args, engine) -> int:
    target = engine.resolve(args.target)
    label, rec = _safe(target.label), target.record
    # Check first, ask second (as the page does): a file that cannot be restored is
    # refused before the user is asked to confirm anything. A listed backup that
    # passed its check is checked again by its checksum during the restore.
    question = f"Replace your current data with {label}? A safety backup of it is made first."
    if rec is None or rec.verified is not True:
        from .errors import InvalidBackupError

        try:
            with _Spinner(not args.json, f"Checking {label}"):
                engine.verify(args.target)
        except InvalidBackupError as e:
            if e.reason != "changed-after-restore":
                raise
            # a safety backup changed after its restore (Y7): sound as it is now, restorable as it is, never
            # as the data from before that restore; said before the question, and in it
            print(_safe(e.message), file=sys.stderr)
            question = (
                f"Replace your current data with {label} as its file is now (it may not be your data from before "
                "the restore that made it)? A safety backup of your current data is made first."
            )
    if not _confirm(args, question):
        print("Nothing was restored.", file=sys.stderr)
        return 1
    bar = _ProgressBar(not args.json)
    try:
        result = engine.restore(args.target, progress=bar)
        _change_made()
    finally:
        bar.close()
    result.relaunch_required = False  # the command line owns no running app
    if args.json:
        _emit_json(result)
    else:
        print(f"Restored {label} in {_seconds(result.seconds)}.")
        if result.source_changed_after_restore:
            print(
                "  It was changed after the restore that made it: what was restored is its file as it is now, "
                "which may not be your data from before that restore."
            )
        if result.migrated_from:
            print(f"  Its data was updated from schema {_safe(result.migrated_from)} to {result.schema_revision}.")
        _print_safety_backup(result)
    return 0


def _print_safety_backup(result) -> None:
    """The line after a restore saying where the data it replaced was kept (a listed or a location restore)."""
    if result.safety_backup_id and result.safety_backup_verified is False:
        print(
            f"  Your previous data was damaged; it was still saved first, as {result.safety_backup_id} "
            "(marked as failing its check)."
        )
    elif result.safety_backup_id and result.safety_backup_checking:
        print(
            f"  Your previous data was kept as {result.safety_backup_id} (its check runs in the background; "
            "`jobmatcher backup list` shows it as checking until it is done)."
        )
    elif result.safety_backup_id:
        print(f"  Your previous data was saved first as {result.safety_backup_id}.")


def cmd_backup_delete(args) -> int:
    engine = _engine(args)
    try:
        rec = engine.get_backup(args.id)
    except JobMatcherError as e:
        if getattr(e, "reason", None) != "live-linked" or not e.fields.get("removable"):
            raise  # a second name the user chose is theirs to remove: the hint says how
        return _remove_live_link(args, engine, e)
    warnings = []
    if rec.type.value == "pre-migration":
        warnings.append("it was made before a database update: it is the way back from that update")
    if rec.pinned:
        warnings.append("it is pinned: you chose to keep it")
    question = (
        f"Delete the backup {_safe(rec.id)}? " + "; ".join(warnings).capitalize() + ". Delete it anyway?"
        if warnings
        else f"Delete the backup {_safe(rec.id)}?"
    )
    if not _confirm(args, question):
        print("Nothing was deleted.", file=sys.stderr)
        return 1
    engine.delete_backup(rec.id)
    _change_made()
    if args.json:
        _emit_json({"deleted": rec.id})
    else:
        print(f"Deleted {_safe(rec.id)}.")
    return 0


def _remove_live_link(args, engine, refused: JobMatcherError) -> int:
    """`backup delete ID` of a backup that is the live database under a second name (X1): only that name and its
    manifest go, after the user's yes; the data stays in the live file."""
    backup_id = refused.fields["id"]
    live = _safe(str(engine.database_path))
    print(refused.message, file=sys.stderr)
    if not _confirm(args, f"Remove the name {_safe(backup_id)} and its manifest? Your data stays in {live}."):
        print("Nothing was removed.", file=sys.stderr)
        return 1
    engine.delete_backup(backup_id)
    _change_made()
    if args.json:
        _emit_json({"deleted": backup_id, "live_link": True})
    else:
        print(
            f"Removed {_safe(backup_id)}, a second name of your live database; your data is in {live}, unchanged. "
            "Make a real backup with `jobmatcher backup create` if you have not yet."
        )
    return 0


def _cmd_pin(pinned: bool) -> Callable:
    def run(args) -> int:
        rec = _engine(args).set_pinned(args.id, pinned)
        if args.json:
            _emit_json(rec)
        else:
            print(
                f"{'Pinned' if pinned else 'Unpinned'} {_safe(rec.id)}"
                + (": it is kept until you unpin or delete it." if pinned else ".")
            )
        return 0

    return run


def cmd_backup_prune(args) -> int:
    engine = _engine(args, read_only=args.dry_run)  # --dry-run only looks
    plan, chosen = engine.prune_plan()
    not_deleted = []
    if not args.dry_run:
        planned = chosen
        chosen = engine.prune()  # what was really deleted: only that is reported as deleted
        _change_made()
        not_deleted = [r for r in planned if r.id not in {c.id for c in chosen}]
    rules = {d.id: d.rule for d in plan.decisions}
    gone = {r.id for r in chosen}
    if args.json:
        _emit_json(
            {
                "dry_run": args.dry_run,
                "would_delete" if args.dry_run else "deleted": [
                    {
                        "id": r.id,
                        "type": r.type.value,
                        "created_at": r.created_at.isoformat(),
                        "size_bytes": r.size_bytes,
                        "rule": rules.get(r.id, ""),
                    }
                    for r in chosen
                ],
                "kept": [{"id": d.id, "rule": d.rule} for d in plan.decisions if d.id not in gone],
                "kept_bytes": plan.kept_bytes,
                "budget_bytes": plan.budget_bytes,
                "over_budget": plan.over_budget,
                "not_deleted": [r.id for r in not_deleted],
            }
        )
        return 1 if not_deleted else 0  # as the text says: a backup that should have gone is still there
    if not chosen:
        print("Nothing to clean up.")
    for r in chosen:
        print(
            f"{'Would delete' if args.dry_run else 'Deleted'} {_safe(r.id)} ({_local(r.created_at)}, "
            f"{type_label(r.type).lower()}): {rules.get(r.id, '')}"
        )
    print(f"Backups kept: {_size(plan.kept_bytes)} of at most {_size(plan.budget_bytes or 0)}.")
    if plan.over_budget:
        print(
            "Warning: the backups JobMatcher must keep (pinned, before an update, the newest good one, the safety "
            "backups of the last days' restores) take "
            "more than the space allowed. Unpin or delete old backups, or allow more space "
            "(`jobmatcher settings --budget-mb N`).",
            file=sys.stderr,
        )
    for r in not_deleted:
        print(f"Could not delete {_safe(r.id)}: it is still there (see the log for why).", file=sys.stderr)
    return 1 if not_deleted else 0


def _stopped_of(args, engine, backup_id: str) -> set[str]:
    """{backup_id} when that listed backup is "checking" and its check's process is gone (read-only: listing.
    stopped_checks); empty otherwise, or when it cannot be told. Never raises."""
    from .listing import stopped_checks

    try:
        return stopped_checks(args.data_dir, [engine.get_backup(backup_id)])
    except Exception:  # noqa: BLE001 - status then says "running", as before
        return set()


# The check of a restore's safety backup whose restore was killed before it began it (FINDINGS20 7).
_RESTORE_STOPPED = (
    "has not started: the restore that made this safety backup was stopped before it finished (its process "
    "ended), so no check runs. Opening JobMatcher, or `jobmatcher db migrate` now, finishes or undoes that restore, "
    "then checks this backup"
)


def _restore_held_of(args, engine, backup_id: str) -> tuple[bool, bool]:
    """(whether the listed backup `backup_id` is "checking" and waits for the restore whose journal names it,
    whether that restore's process is gone): listing.restore_held_checks, read-only. Never raises ((False,
    False))."""
    from .listing import restore_held_checks

    try:
        held, gone = restore_held_checks(args.data_dir, [engine.get_backup(backup_id)])
    except Exception:  # noqa: BLE001 - status then says "running", as before
        return False, False
    return backup_id in held, gone


def cmd_status(args) -> int:
    _quick_exit()
    engine = _engine(args, read_only=True)
    engine.require_database()  # no data there (a mistyped folder, a deleted database) is not a healthy state
    h = engine.health()
    if args.json:
        _emit_json(h)
        return 1 if h.level == "error" else 0  # the same exit code as the text: scripts check either
    print(h.summary + ".")
    if h.copies:
        print(f"  {h.copies}")
    if h.last is not None:
        verified = {True: "passed its check", False: "FAILED its check", None: "not checked yet"}[h.last.verified]
        if h.last.verify_message == "newer-version":
            verified = "made by a newer JobMatcher (restorable with that version)"
        elif h.last.verify_message == "changed-after-restore":
            verified = "changed after the restore that made it (it may not be your data from before that restore)"
        elif h.last.verified is None and h.last.verify_message == "checking":  # a restore's safety backup
            # status only looks (README): a check whose process is gone is said, not started again here
            held, restore_gone = _restore_held_of(args, engine, h.last.id)
            verified = (
                "its check stopped before it finished: it runs when JobMatcher opens next, or now with "
                f"`jobmatcher backup verify {_safe(h.last.id)}`"
                if h.last.id in _stopped_of(args, engine, h.last.id)
                # FINDINGS20 7: a restore killed before it started this check: no process runs it (it said
                # "running in the background"), and the next launch finishes the restore, then checks it
                else f"its check {_RESTORE_STOPPED}"
                if held and restore_gone
                else "its check starts when the restore that made it finishes"
                if held
                else "its check is running in the background"
            )
        print(f"  Last backup:  {_local(h.last.created_at)} ({type_label(h.last.type)}), {verified}")
        if h.last_at is not None and h.last_at > h.last.created_at:
            # the headline's "… ago" is bounded by the latest date among the backups (V15a): the backup made last
            # is dated before one made earlier, so one of the two clocks was wrong; say which date it goes by
            print(
                f"                made after a backup dated {_local(h.last_at)} (a clock was wrong): "
                "the time above goes by that date"
            )
    elif not h.folder.available:  # the backups are there, on the unplugged drive: not "none" (K7)
        print("  Last backup:  not known while the backup folder is not available")
    if not h.interval_minutes:
        print("  Next backup:  automatic backups are off")
    elif h.next_at is not None:
        print(f"  Next backup:  {_local(h.next_at)} (if your data changed)")
    else:
        print(f"  Next backup:  {_interval(h.interval_minutes)} while JobMatcher is open")
    free = f", {_size(h.folder.free_bytes)} free" if h.folder.free_bytes is not None else ""
    state = "NOT AVAILABLE" if not h.folder.available else "available" if h.folder.writable else "READ-ONLY"
    used = f", backups use {_size(h.folder.used_bytes)}" if h.folder.available else ""  # unknown, not 0 bytes
    print(f"  Backup folder: {_safe(h.folder.path)} ({state}{free}{used})")
    if h.uncounted:  # so the count above and `backup list` never disagree unexplained
        n = h.uncounted
        print(
            f"  Also listed:  {n} file{'s' if n != 1 else ''} added by hand or from another data folder "
            "(not counted above; never cleaned up)"
        )
    for w in h.warnings:
        print(f"{'Error' if w.level == 'error' else 'Warning'}: {w.message}", file=sys.stderr)
        print(f"  {w.hint}", file=sys.stderr)
    return 1 if h.level == "error" else 0


def cmd_db_status(args) -> int:
    from .dbstate import read_db_state

    _quick_exit()
    s = read_db_state(args.data_dir)  # what Engine.status reports, without importing the engine (T10)
    if args.json:
        _emit_json(
            {
                "current": s.current,
                "head": s.head,
                "pending": s.pending,
                "database": s.database,
                "exists": s.exists,
                "known": s.known,
                "size_bytes": s.size_bytes,
            }
        )
        return 0
    print(f"Database: {_safe(s.database)}" + ("" if s.exists else " (not created yet)"))
    print(f"Revision: {_safe(s.current or '(none)')}" + ("" if s.known else "  (made by a newer JobMatcher)"))
    print(f"Newest:   {s.head}")
    if not s.known:
        print("Pending:  none: your data is newer than this version (nothing to do here; use the newer JobMatcher)")
    else:
        print("Pending:  " + (", ".join(s.pending) if s.pending else "none, up to date"))
    return 0


def cmd_db_migrate(args) -> int:
    if args.to is not None:
        from .engine import Engine

        known = Engine.known_revisions()
        if args.to not in known:
            raise _UsageError(
                f"argument --to: {args.to!r} is not a revision this version knows (known: {', '.join(known)})"
            )
    bar = _ProgressBar(not args.json)
    try:
        r = _engine(args).migrate(target=args.to, progress=bar)
        _change_made()
    finally:
        bar.close()
    if args.json:
        _emit_json(r)
        return 0
    if r.recovered:
        print(r.recovered)
    if r.removed_foreign:
        print(
            f"Removed {', '.join(r.removed_foreign)} that JobMatcher did not make (it could have changed or deleted "
            "your data at your next edit); your data as it was is kept in the safety backup "
            f"{r.removed_foreign_backup}."
        )
    if r.foreign_schema:
        print(f"Warning: {r.foreign_schema}", file=sys.stderr)
    for message in r.live_links:  # a backup that is the live file itself (X1): `jobmatcher status` says what to do
        print(f"Warning: {message} Run `jobmatcher status` for what to do.", file=sys.stderr)
    if r.backup_folder_error:  # FINDINGS20 6: no backup was made or cleaned up (damaged settings): said, not hidden
        said, _, hint = r.backup_folder_error.partition("\n")  # str(JobMatcherError): message, then its hint
        print(f"Warning: {_safe(said)}" + (f"\n  {_safe(hint)}" if hint else ""), file=sys.stderr)
    if r.created:
        print(f"Created a new database at {_safe(r.migrated_to)}.")
    elif r.migrated_to:
        print(f"Backed up first as {r.pre_migration_backup}, then updated from {r.migrated_from} to {r.migrated_to}.")
    else:
        print("Already up to date.")
    return 0


def cmd_db_check(args) -> int:
    engine = _engine(args, read_only=True)
    r = engine.check()
    from .listing import live_link_warning

    warnings = []  # (code, message, hint)
    for link in engine.live_links():  # the data is sound, but a "backup" is this very file (X1)
        message, hint, _page = live_link_warning(link)
        warnings.append(("backup-is-live-file", message, hint))
    if (other := engine.live_other_names()) is not None:  # another folder's live file shares it (Y5)
        warnings.append(("live-file-has-other-names", other[0], other[1]))
    if args.json:  # D17's kind: what the terminal is warned of, the JSON carries too
        _emit_json({**_jsonable(r), "warnings": [{"code": c, "message": m, "hint": h} for c, m, h in warnings]})
        return 0 if r.ok else 1
    for _code, message, hint in warnings:
        print(f"Warning: {message}\n  {hint}", file=sys.stderr)
    if r.ok:
        print("OK: the database passed its integrity check.")
    elif not r.problems:  # sound, but it holds triggers or the like that JobMatcher did not make
        print(
            f"Your data holds {', '.join(r.foreign)} that JobMatcher did not make; it could change or delete your "
            "data when you edit it.",
            file=sys.stderr,
        )
        print(
            "Start JobMatcher (or run `jobmatcher db migrate`): it removes triggers and views it did not make, after "
            "a safety backup. For anything else named here, restore a backup made before it appeared: "
            "`jobmatcher backup list`, then `jobmatcher backup restore ID`.",
            file=sys.stderr,
        )
    else:
        print("The database FAILED its integrity check:", file=sys.stderr)
        for p in r.problems:
            print(f"  {p}", file=sys.stderr)
        print(
            "Restore your newest verified backup: `jobmatcher backup list`, then `jobmatcher backup restore ID`.",
            file=sys.stderr,
        )
    return 0 if r.ok else 1


def _count(n: int, unit: str) -> str:
    """'1 day', '2 days': a number with its unit, singular for one."""
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _interval(minutes: int) -> str:
    if minutes % 1440 == 0:
        n, unit = minutes // 1440, "day"
    elif minutes % 60 == 0:
        n, unit = minutes // 60, "hour"
    else:
        n, unit = minutes, "minute"
    return f"every {n} {unit}" + ("s" if n != 1 else "")


def _confirmed(args, call, question: str):
    """`call(confirmed)`, asking first when it needs the user's yes (ConfirmationNeededError): --yes says
    it; a terminal asks `question`; anything else (a script, a pipe) is refused with the hint (exit 1)."""
    from .errors import ConfirmationNeededError

    try:
        return call(bool(getattr(args, "yes", False)))
    except ConfirmationNeededError as e:
        if not sys.stdin.isatty():
            raise
        print(_safe(e.message), file=sys.stderr)
        if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
            raise JobMatcherError("Nothing was changed.", "", code="cancelled") from None
        return call(True)


def _save_settings(args, engine, changes: dict):
    """engine.update_settings, asking first when the change needs the user's yes (_confirmed); a space for
    backups too small for one backup is a usage error (exit 2)."""
    from .errors import SettingsError

    try:
        return _confirmed(args, lambda ok: engine.update_settings(changes, confirmed=ok), "Save these settings?")
    except SettingsError as e:
        if e.code == "budget-too-small":
            raise _UsageError(f"argument --budget-mb: {e.message} {e.hint}") from None
        raise


# The settings options stored as they are given (--auto-backup-hours, the old option, is converted).
_SETTING_OPTIONS = (
    "backup_dir",
    "retention_days",
    "auto_backup_minutes",
    "retention_policy",
    "keep_all_hours",
    "keep_daily_days",
    "keep_weekly_weeks",
    "keep_monthly_months",
    "budget_mb",
)


def cmd_settings(args) -> int:
    from .settings import hours_to_minutes

    names = _SETTING_OPTIONS + ("auto_backup_hours",)
    if args.default_backup_dir and args.backup_dir is not None:
        raise _UsageError("give either --backup-dir DIR or --default-backup-dir, not both")
    if args.backup_dir:  # settings.json must give it back exactly: a usage error before anything opens (X27)
        from .errors import SettingsError
        from .fsutil import require_utf8_path

        try:
            require_utf8_path(args.backup_dir, "The backup folder")
        except SettingsError as e:
            raise _UsageError(f"argument --backup-dir: {e.message} {e.hint}") from None
    showing = all(getattr(args, k, None) is None for k in names) and not args.default_backup_dir
    engine = _engine(args, read_only=showing)  # showing only looks
    changes = {k: getattr(args, k) for k in _SETTING_OPTIONS if getattr(args, k) is not None}
    if args.auto_backup_hours is not None:  # the old option: still accepted, stored in minutes
        if args.auto_backup_minutes is not None:
            raise _UsageError("give either --auto-backup-minutes or --auto-backup-hours, not both")
        try:
            changes["auto_backup_minutes"] = hours_to_minutes(args.auto_backup_hours)
        except ValueError:
            raise _UsageError(
                f"argument --auto-backup-hours: {args.auto_backup_hours:g} hours is not an interval "
                "(give 0 for off, or a positive number of hours, at most 168)"
            ) from None
    if args.default_backup_dir:
        changes["backup_dir"] = None  # back to <data>/backups (an empty --backup-dir is a usage error: V9's kind)
    elif args.backup_dir and not args.backup_dir.startswith("~") and not os.path.isabs(args.backup_dir):
        # As any command-line tool: a relative path is from the working folder (K8), made full before it is kept
        changes["backup_dir"] = os.path.abspath(args.backup_dir)
    if args.budget_mb == 0:
        changes["budget_mb"] = None  # back to the automatic budget
    s = _save_settings(args, engine, changes) if changes else engine.settings
    moves = []
    if args.move_backups:
        for folder in list(s.previous_backup_dirs):
            bar = _ProgressBar(not args.json)
            try:
                moves.append({"from": folder, **engine.move_previous_backups(folder, progress=bar)})
            finally:
                bar.close()
        s = engine.settings
    failed = any(m["failed"] for m in moves)  # a move that left any backup behind is not a success
    if args.json:
        _emit_json({**s.model_dump(mode="json"), "moves": moves} if args.move_backups else s)
        return 1 if failed else 0
    if args.move_backups and not moves:
        print("No backups to move: none are left in a previous backup folder.")
    for m in moves:
        if m.get("already_moved"):
            print(f"The backups from {_safe(m['from'])} were moved already (by another JobMatcher).")
            continue
        if m.get("same_folder"):
            print(
                f"{_safe(m['from'])} is the current backup folder under another path: its backups are already "
                "here, so nothing was moved. It is no longer listed as a previous folder."
            )
            continue
        print(f"Moved {len(m['moved'])} backup{'s' if len(m['moved']) != 1 else ''} from {_safe(m['from'])}.")
        for f in m["failed"]:
            print(f"  Not moved: {_safe(f['id'])}: {f['message']}", file=sys.stderr)
    problem = engine.backups_folder_problem()
    print(
        f"Backup folder:      {_safe(engine.backups_folder)}"
        + ("" if s.backup_dir else "  (default)")
        + ("" if problem is None else "  (NOT AVAILABLE)" if problem.code == "folder-unavailable" else "  (REFUSED)")
    )
    if problem is not None:
        print(f"  {_safe(problem.message)}", file=sys.stderr)
        print(f"  {_safe(problem.hint)}", file=sys.stderr)
    for folder in engine.previous_folders():
        print(
            f"  Backups are still in the previous folder {_safe(folder)}: "
            "`jobmatcher settings --move-backups` moves them here."
        )
    print(
        "Automatic backups:  "
        + (
            f"{_interval(s.auto_backup_minutes)} while JobMatcher runs, and at launch, when your data changed"
            if s.auto_backup_minutes
            else "off"
        )
    )
    if s.retention_policy == "tiered":
        print(
            f"Keep (automatic and safety backups): all from the last {_count(s.keep_all_hours, 'hour')}; the "
            f"newest of each day for {_count(s.keep_daily_days, 'day')}, of each week for "
            f"{_count(s.keep_weekly_weeks, 'week')}, of each month for {_count(s.keep_monthly_months, 'month')}"
        )
        print(f"Keep manual backups for: {_count(s.retention_days, 'day')}")
    else:
        print(f"Keep backups for:   {_count(s.retention_days, 'day')}")
    print("  (pre-migration, pinned and the newest backup that passed its check: always)")
    print(
        "Space for backups:  "
        + (
            f"at most {_size(s.budget_mb << 20)} ({s.budget_mb} MiB)"  # the size as prune and status show it
            if s.budget_mb
            else "at most 2 GiB or 20 times the database, whichever is larger"
        )
    )
    if failed:
        print(
            "Some backups could not be moved (see above): they are still in the previous folder, listed as such.",
            file=sys.stderr,
        )
        return 1
    return 0


# -- backup locations ------------------------------------------------------------------

SECRET_FILE_MAX = 4096  # bytes; a passphrase, recovery key or access key is far shorter (the page caps one at 1000)


def _read_secret_file(f: str, what: str) -> str:
    """The first line of a small regular file holding a secret (without its line end, and without the
    byte-order mark a file may start with).

    Reads at most SECRET_FILE_MAX + 1 bytes, so `/dev/zero` or a huge file cannot exhaust memory; refuses
    (JobMatcherError) a missing, unreadable, non-regular (device, pipe, folder), too large or non-UTF-8 file.
    The secret itself never appears in a message.
    """
    try:
        # O_NONBLOCK: opening a pipe with no writer must not hang; it is refused below as not a regular file
        fd = os.open(f, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise JobMatcherError(
            f"Cannot read the {what} {f}: {e.strerror or e}.",
            "Check the file name and its permissions.",
            code="secret-file-refused",
            path=str(f),
            reason="unreadable",
        ) from None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise JobMatcherError(
                f"The {what} {f} is not a regular file.",
                "Give a small text file with the secret on its first line.",
                code="secret-file-refused",
                path=str(f),
                reason="not-a-file",
            )
        data = b""
        while len(data) <= SECRET_FILE_MAX:
            chunk = os.read(fd, SECRET_FILE_MAX + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise JobMatcherError(
            f"Cannot read the {what} {f}: {e.strerror or e}.",
            "Check the file name and its permissions.",
            code="secret-file-refused",
            path=str(f),
            reason="unreadable",
        ) from None
    finally:
        os.close(fd)
    if len(data) > SECRET_FILE_MAX:
        raise JobMatcherError(
            f"The {what} {f} is too large (more than {SECRET_FILE_MAX} bytes).",
            "Give a small text file with the secret on its first line.",
            code="secret-file-refused",
            path=str(f),
            reason="too-large",
        )
    try:
        # utf-8-sig: without the byte-order mark a file saved as "UTF-8" by Windows Notepad starts with (Z1):
        # it is no part of a secret anyone types
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JobMatcherError(
            f"The {what} {f} is not UTF-8 text.",
            "Give a small text file with the secret on its first line.",
            code="secret-file-refused",
            path=str(f),
            reason="not-text",
        ) from None
    return text.split("\n", 1)[0].rstrip("\r")


def _read_secret(args, creating: bool) -> str | None:
    """The passphrase (or recovery key): from --passphrase-file, else asked on a terminal (twice when
    `creating`); None if neither."""
    f = getattr(args, "passphrase_file", None)
    if creating and not f and sys.stdin.isatty():
        print(
            "Copies are encrypted. Choose a passphrase for this data folder: it unlocks your copies on a new "
            "machine. JobMatcher cannot recover it for you.",
            file=sys.stderr,
        )
    return _secret_from(f, "passphrase file", "Passphrase", twice=creating)


def _s3_keys(args):
    import os

    from .locations.credentials import S3Keys

    key_id = getattr(args, "access_key_id", None) or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = None
    f = getattr(args, "secret_access_key_file", None)
    if f:
        secret = _read_secret_file(f, "secret key file").strip()
    secret = secret or os.environ.get("AWS_SECRET_ACCESS_KEY")
    return S3Keys(key_id, secret) if key_id and secret else None


def _location_source(args) -> bool:
    return bool(getattr(args, "location", None) or getattr(args, "from_folder", None) or getattr(args, "from_s3", None))


def _source_client(args):
    """(client, label) for --location NAME, --from-folder PATH or --from-s3 s3://BUCKET/PREFIX."""
    given = [x for x in ("location", "from_folder", "from_s3") if getattr(args, x, None)]
    if len(given) > 1:
        raise _UsageError("give only one of --location, --from-folder and --from-s3")
    if args.location:
        engine = _engine(args)
        client = engine.locations.client(args.location)
        client.reading = True  # restored from or listed, not copied to: its hints fit that (V15c)
        return client, args.location
    if args.from_folder:
        from .errors import SettingsError
        from .fsutil import user_path
        from .locations.folder import FolderLocation

        try:
            folder = user_path(args.from_folder, "The folder")
        except SettingsError as e:  # "~nobody/…": no such user
            raise _UsageError(f"argument --from-folder: {e.message} {e.hint}") from None
        place = FolderLocation(folder.absolute())
        place.configured = False  # only looked into: its errors' hints fit that
        return place, args.from_folder
    from .errors import ValidationError
    from .locations.s3 import S3Location, check_endpoint_url

    url = args.from_s3
    if not url.startswith("s3://") or len(url) <= 5 or "?" in url or "#" in url:  # a web address's query: not S3's
        raise _UsageError(f"argument --from-s3: {url!r} is not an s3:// address (write it as s3://BUCKET/PREFIX)")
    bucket, _, prefix = url[5:].partition("/")
    from .locations.s3 import check_address

    try:  # the address as typed is a usage error (exit 2) whichever part is wrong, as `s3://` alone is (T16)
        check_address(bucket, prefix.rstrip("/"))  # a trailing / is only the end of the address; `//` an empty name
    except ValidationError as e:
        raise _UsageError(f"argument --from-s3: {e.message} {e.hint}") from None
    keys = _s3_keys(args)
    if keys is None:
        raise JobMatcherError(
            "The access keys of the storage are needed.",
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
            code="keys-needed",
        )
    try:
        endpoint = check_endpoint_url(args.endpoint_url)
    except ValidationError as e:  # never repeats a password given in it
        raise _UsageError(f"argument --endpoint-url: {e.message} {e.hint}") from None
    client = S3Location(bucket, prefix, endpoint, keys.access_key_id, keys.secret_access_key, spool_dir=None)
    client.configured = False  # only looked into: its errors' hints fit that
    return client, url


def cmd_location_backups(args) -> int:
    from .locations.remote import check_source, remote_listing

    client, label = _source_client(args)
    # a network place may take seconds to answer (or never): a live line says what is being waited for (T11)
    with _Spinner(not args.json, f"Looking into {_safe(label)}"):
        found = check_source(client, configured=bool(args.location))  # a folder only looked into may hold none
        unlisted: list[str] = []
        items, encrypted_there = (
            remote_listing(client, getattr(args, "folder_id", None), unlisted) if found else ([], set())
        )
    for why in unlisted:  # copies whose manifest cannot be read: said, not silently hidden (V15e, as K11 locally)
        print(_safe(why), file=sys.stderr)
    engine = _engine(args, read_only=True) if args.location else None
    if engine is not None:  # copies a read-back found damaged are "NO" in every listing after it, not only then (D5)
        engine.locations.mark_known_damage(args.location, items)
    if args.json:
        _emit_json(items)
        return 0
    if not items:
        print(f"No copies at {_safe(label)}.")
        return 0
    several = len({r.folder_id for r in items}) > 1
    # a plain copy at an encrypted location, or beside the data folder's encrypted copies or its key, was not
    # made by JobMatcher's copier: a restore refuses it (L1)
    encrypted_location = engine is not None and engine.locations.get(args.location).encrypt
    encrypted_folders = {r.folder_id for r in items} if encrypted_location else encrypted_there
    from .locations.remote import clock_check

    # a copy dated after this clock is still listed; when even the newest one is, this clock may be behind (X15)
    future, clock_words = clock_check(items)
    if clock_words:
        print(_safe(clock_words), file=sys.stderr)
    rows = [
        ("ID", "TYPE", "CREATED", "SIZE", "REVISION", "VERIFIED", "ENCRYPTED", "PINNED")
        + (("DATA FOLDER",) if several else ())
    ]
    for r in items:
        rows.append(
            _cells(
                (
                    r.id,
                    type_label(r.type),
                    _local(r.created_at)
                    + (" (in the future!)" if r.id in future else "")
                    + (f" (NO: {r.doubt})" if r.doubt else ""),  # not restorable: renamed (Z4) or damaged (B5)
                    _size(r.size_bytes),
                    r.schema_revision or "-",
                    # checked before it was copied, read back when written, its size there still the size written
                    "yes" if r.verified and not r.doubt else "NO",
                    "yes"
                    if r.encrypted
                    else ("NO: not made by JobMatcher" if r.folder_id in encrypted_folders else "no"),
                    # the pin recorded with the copy (Z2); an older version's copy has none recorded
                    {True: "pinned", False: "", None: "not recorded"}[r.pin_recorded],
                )
                + ((r.folder_id,) if several else ())
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_location_restore(args) -> int:
    from .locations.recovery import restore_from_location
    from .locations.remote import check_source, find_remote, no_copies

    client, label = _source_client(args)
    with _Spinner(not getattr(args, "json", False), f"Looking into {_safe(label)}"):  # as the list (T11)
        if not check_source(client, configured=bool(args.location), backup_id=args.target):
            raise no_copies(label)
        # this data folder's own copy is the one its id names, when another data folder has one of that name too
        own = _engine(args, read_only=True).folder_id()
        remote = find_remote(
            client, args.target, getattr(args, "folder_id", None), prefer=own, listing=_listing_command(args)
        )
    chosen = bool(getattr(args, "folder_id", None))  # the other data folder named on purpose
    if not chosen:  # the same rule for --location, --from-folder and --from-s3 (C9, D9)
        _refuse_another_folders_copy(args, remote, label)
    if not _confirm(args, _location_restore_question(args, remote.id, label)):
        print("Nothing was restored.", file=sys.stderr)
        return 1
    secret = _read_secret(args, creating=False) if remote.encrypted else None
    if not remote.encrypted and getattr(args, "passphrase_file", None):  # a habit, or one script for all (L26)
        print("These copies are not encrypted: the passphrase is not needed.", file=sys.stderr)
    engine = _engine(args)
    encrypted_location = bool(args.location) and engine.locations.get(args.location).encrypt
    bar = _ProgressBar(not args.json)
    try:
        with _leaving_no_new_data_folder(engine):
            result, _ = restore_from_location(
                engine,
                client,
                remote.id,
                secret,
                remote.folder_id,
                bar,
                label,
                encrypted_location=encrypted_location,
                another_folders=chosen,
            )
        _change_made()
    finally:
        bar.close()
    result.relaunch_required = False
    if args.json:
        _emit_json(result)
    else:
        checked = "checksums, decryption and integrity" if remote.encrypted else "checksums and integrity"
        print(f"Restored {_safe(remote.id)} from {_safe(label)} in {_seconds(result.seconds)} ({checked} verified).")
        if result.first_run:
            _print_first_run(args, result, label, remote.encrypted)
        else:
            _print_safety_backup(result)
    return 0


def _refuse_another_folders_copy(args, remote, label: str) -> None:
    """C9, D9: another data folder's copy is not restored over this data folder's data by its id alone, whatever
    the place (--location, --from-folder, --from-s3): locations.recovery.refuse_another_folders_copy's rule, with
    the command that lists that place's copies in its hint. Raises AnotherFoldersCopyError. Read-only."""
    from .locations.recovery import refuse_another_folders_copy

    refuse_another_folders_copy(_engine(args, read_only=True), remote, label, _listing_command(args))


def _listing_command(args) -> str:
    """The command that lists the copies of the place a restore names (--location, --from-folder, --from-s3),
    in backquotes, for the hints of a refusal: "`jobmatcher backup list --from-folder /media/usb`"."""
    import shlex

    if args.location:
        where = f"--location {shlex.quote(args.location)}"
    elif args.from_folder:
        where = f"--from-folder {shlex.quote(args.from_folder)}"
    else:
        where = f"--from-s3 {shlex.quote(args.from_s3)}" + (
            f" --endpoint-url {shlex.quote(args.endpoint_url)}" if getattr(args, "endpoint_url", None) else ""
        )
    return f"`jobmatcher backup list {where}`"


def _location_restore_question(args, backup_id: str, label: str) -> str:
    """The question before a restore from a location: on a data folder that holds nothing of the user's yet (a
    new computer: recovery.holds_no_user_data, looked at read-only) there is no current data to replace and no
    safety backup to make (X23), so neither is said."""
    question = f"Restore {_safe(backup_id)} from {_safe(label)}?"
    if args.yes:
        return question  # not asked
    from .locations.recovery import holds_no_user_data

    try:
        fresh = holds_no_user_data(_engine(args, read_only=True))
    except JobMatcherError:
        fresh = False
    if fresh:
        return question
    return (
        f"Replace your current data with {_safe(backup_id)} from {_safe(label)}? "
        "A safety backup of it is made first (if there is any)."
    )


def _print_first_run(args, result, label: str, encrypted: bool) -> None:
    """What a new computer's first restore from a location did (W4), in its user's words: nothing of theirs was
    here to keep, and whether it now continues the copies it came from."""
    if result.safety_backup_id:  # kept after all (it could not be deleted): said as any restore's
        _print_safety_backup(result)
    else:
        print("  This computer held none of your data yet, so there was nothing here to keep from before.")
    if result.continues_copies:
        import shlex

        again = (
            f"`jobmatcher location add folder {shlex.quote(args.from_folder)}`"
            if getattr(args, "from_folder", None)
            else "`jobmatcher location add s3 …` with the same bucket and prefix"
        )
        key = ", encrypted with the same key (the same passphrase opens them all)" if encrypted else ""
        from .fsutil import is_utf8, shown_bytes

        folder = getattr(args, "from_folder", None)
        if folder and not is_utf8(folder):  # `location add` refuses such a name (X27): say the step before it (Y4)
            print(
                f"  This computer now continues the backups at {shown_bytes(folder)}, but that folder's name is not "
                "valid UTF-8 text (a name in an older encoding), so it cannot be added as a backup location as it "
                "is: rename the folder (or mount the drive with UTF-8 names), then add it again (`jobmatcher "
                f"location add folder` with its new name) and its new copies join the same list{key}."
            )
        else:
            print(
                f"  This computer now continues the backups at {_safe(label)}: add that place as a backup location "
                f"again ({again}) and its new copies join the same list{key}."
            )
    else:
        print(
            f"  The copies at {_safe(label)} stay as they are; this computer's new copies will start a list of "
            "their own there"
            + (
                " (this data folder keeps its own encryption key: restored with the recovery key, it cannot keep "
                "theirs without the passphrase; and a key that already encrypted copies is never replaced)."
                if encrypted
                else "."
            )
        )
    if result.key_replaced:
        print(
            "  The encryption key made when you added the location here had encrypted nothing yet: it was replaced "
            "by the key of these copies (the same passphrase opens them). The recovery key shown then no longer "
            "applies: keep the recovery key of these copies."
        )


def cmd_location_add(args) -> int:
    if args.name is not None:  # a usage error, before anything is asked or made (L15)
        from .errors import ValidationError
        from .locations.config import check_new_name

        try:
            check_new_name(args.name)
        except ValidationError as e:
            raise _UsageError(f"argument --name: {e.message} {e.hint}") from None
    if args.kind == "folder":  # before anything is asked or made
        from .errors import SettingsError
        from .fsutil import require_utf8_path, user_path

        try:
            folder = user_path(args.path, "The folder")
            require_utf8_path(folder, "The folder")  # locations.json must give it back exactly (X27)
        except SettingsError as e:  # "~nobody/…": no such user; a NUL; a name not in UTF-8
            raise _UsageError(f"argument PATH: {e.message} {e.hint}") from None
        args.path = os.path.abspath(folder)  # relative to where the command runs, as every other path (L15)
    else:  # the address and region too, before a passphrase is asked for (X12, X14)
        from .errors import ValidationError
        from .locations.s3 import check_endpoint_url, check_region

        for option, check, value in (
            ("--endpoint-url", check_endpoint_url, args.endpoint_url),
            ("--region", check_region, args.region),
        ):
            try:
                check(value)
            except ValidationError as e:  # never repeats a password given in the address
                raise _UsageError(f"argument {option}: {e.message} {e.hint}") from None
    engine = _engine(args)
    locs = engine.locations
    encrypt = not args.no_encrypt
    passphrase = None
    if args.kind == "folder":  # every check that needs no secret, before a new passphrase is asked for (X12)
        locs.check_new_folder(args.path)
    cfg = locs.config()
    if encrypt and not (cfg.recipient and locs.identity_path().is_file()):
        # with a recipient but no key file, the key is taken back from a location: the existing passphrase
        passphrase = _read_secret(args, creating=not cfg.recipient and not locs.identity_path().is_file())
        if passphrase is None:
            raise JobMatcherError(
                "Encrypted copies need a passphrase, and there is no terminal to ask for one.",
                "Give it with --passphrase-file FILE (or use --no-encrypt).",
                code="passphrase-needed",
            )
    elif encrypt and getattr(args, "passphrase_file", None):
        passphrase = _read_secret(args, creating=False)  # must be the data folder's passphrase: checked by add
    if args.kind == "folder":
        where: dict = {"path": args.path}
    else:
        where = {
            "endpoint_url": args.endpoint_url,
            "bucket": args.bucket,
            "prefix": args.prefix or "",
            "region": args.region,
            "keys": _s3_keys(args),
        }
    r = _confirmed(
        args,
        lambda yes: locs.add(
            args.kind,
            **where,
            name=args.name,
            encrypt=encrypt,
            passphrase=passphrase,
            retention=_location_retention(args),
            confirmed=yes,
        ),
        "Add it and delete those copies?",
    )
    if args.json:
        _emit_json(r)
    else:
        loc = r.location
        print(
            f"Added the backup location '{loc.name}' ({_safe(loc.where())}), "
            f"{'encrypted' if loc.encrypt else 'NOT encrypted'}, keeping {_keeps(loc)}."
        )
        if r.recovery_key:
            print()
            print("Your recovery key (shown only this once). Print it or write it down and keep it safe:")
            print()
            print(f"    {r.recovery_key}")
            print()
            print(
                "With it, or with your passphrase, your copies can be restored on any machine, even without "
                'JobMatcher (see "Your backups without JobMatcher" in the README).'
            )
        print("Copies are made in the background after each backup; `jobmatcher location sync` copies now.")
        if r.note:
            print(f"Note: {_safe(r.note)}")
    return 0


def cmd_location_list(args) -> int:
    rows = _engine(args, read_only=True).locations.status(check=True)
    if args.json:
        _emit_json(rows)
        return 0
    if not rows:
        print(
            "No backup locations yet. Add one with `jobmatcher location add folder PATH` or "
            "`jobmatcher location add s3 --endpoint-url URL --bucket B`."
        )
        return 0
    from datetime import datetime as _datetime
    from datetime import timezone as _timezone

    from .health import assess_locations

    # each row's problem with health's hint for it (the same words `status` prints), by the warning's message
    hints = {
        r.name: w.hint
        for w in assess_locations(_datetime.now(_timezone.utc), rows, 0)
        for r in rows
        if r.problem and w.message == f"{r.name}: {r.problem}"
    }
    for r in rows:
        state = "disabled" if not r.enabled else ("reachable" if r.reachable else "NOT reachable")
        print(f"{_safe(r.name)}  ({r.kind}, {'encrypted' if r.encrypted else 'not encrypted'}, {state})")
        print(
            f"  where:        {_safe(r.where)}"
            + ("  (same disk as your data: not another copy)" if r.same_disk else "")
        )
        last = "never"
        if r.last_success_at:  # dated by a clock set ahead then back: marked, as status marks it (Y9b)
            from datetime import datetime, timedelta, timezone

            ahead = r.last_success_at > datetime.now(timezone.utc) + timedelta(hours=1)
            last = _local(r.last_success_at) + (
                " (in the future: this computer's clock was ahead then, or is behind now)" if ahead else ""
            )
        print(f"  last copy:    {last}")
        if r.damaged:  # D10: the space is every file there, damaged ones too; "0 (90.6 KB)" read as a miscount
            print(
                f"  copies:       {r.copies} good, {len(r.damaged)} damaged, {r.pending} pending "
                f"({r.used_said()} there)"
            )
        else:
            print(f"  copies:       {r.copies} ({r.used_said()}), {r.pending} pending")
        print(f"  keeps:        {r.keeps} ({r.retention_policy})")
        if r.old_passphrase:  # a passphrase change not yet there (X13)
            print(
                "  key:          still opens with your old passphrase there (or with the new one, if a change "
                "stopped part way reached it); updated at its next copy"
            )
        if r.problem:
            print(f"  problem:      {_safe(r.problem, keep_newlines=True)}")
            if hints.get(r.name):  # what to do, in health's words (as `status` says it): FINDINGS20 1
                print(f"  to fix:       {_safe(hints[r.name], keep_newlines=True)}")
    return 0


def cmd_location_sync(args) -> int:
    engine = _engine(args)
    if args.background:
        from .locations.copier import run_background_sync

        return run_background_sync(lambda: engine.locations, engine.data_dir)
    from .locations.copier import spare_encryptor

    # the encrypting child starts before the locations' code is loaded: its start-up is not the first copy's
    with spare_encryptor(engine.data_dir) as spare:
        if args.passphrase_file:  # the one step an older data folder takes before encrypted copies (U4)
            secret = _read_secret(args, creating=False)
            engine.locations.prove_recipient(secret or "")
        bar = _ProgressBar(not args.json)
        try:
            results = engine.locations.sync(args.name, progress=bar, spare=spare, verify=args.verify)
        finally:
            bar.close()
    # C16: a damaged copy whose backup is no longer here cannot be made again: said, and the command ends 1 when
    # this read-back found it (a plain sync says the ones known from before, and ends 0: nothing failed now)
    lost = {r.name: [d for d in r.damaged if d not in r.copied] for r in results}
    known_lost = {r.name: sorted(set(r.lost) | set(lost[r.name])) for r in results}
    if args.json:
        _emit_json(results)
    else:
        for r in results:
            if args.verify and not r.skipped and (r.verified or r.damaged):
                sound = r.verified - len(r.damaged)
                print(
                    f"{_safe(r.name)}: checked {r.verified} {'copy' if r.verified == 1 else 'copies'} there: "
                    f"{sound} as written"
                )
                for d in r.damaged:
                    again = (
                        "copied again"
                        if d in r.copied
                        else "its backup here failed its check too, so it was not copied again"
                        if d in r.failed_backups
                        else "this computer no longer has that backup to copy again"
                    )
                    why = r.damaged_why.get(d, "damaged")
                    print(f"  {_safe(d)}: {_safe(why)} ({again})", file=sys.stderr)
            if r.skipped:
                print(f"{r.name}: disabled, left alone.")
            elif r.error:
                print(f"{_safe(r.name)}: {r.error}", file=sys.stderr)
            else:
                extra = f", removed {len(r.deleted)} old" if r.deleted else ""
                said = []  # what keeps the location from being up to date, when anything does
                if r.failed_backups:  # D16: not "up to date" over a backup that could not be copied
                    n = len(r.failed_backups)
                    said.append(
                        f"{n} backup{'s' if n != 1 else ''} not copied: {', '.join(r.failed_backups)} failed "
                        f"{'its' if n == 1 else 'their'} check (`jobmatcher backup list` says why)"
                    )
                if known_lost.get(r.name):  # nor over copies that can no longer be made (FINDINGS18 3, 19 6)
                    n = len(known_lost[r.name])
                    named = "named above" if lost.get(r.name) else ", ".join(known_lost[r.name])
                    said.append(f"{n} damaged cop{'y' if n == 1 else 'ies'} there cannot be copied again ({named})")
                print(f"{r.name}: copied {len(r.copied)}{extra}; {'; '.join(said) or 'up to date'}.")
        if not results:
            print("No backup locations yet.")
    return 1 if any(r.error for r in results) or any(lost.values()) else 0


def cmd_location_remove(args) -> int:
    locs = _engine(args).locations
    known = locs.get(args.name)  # an unknown name is refused before anything is asked
    keys = " Its access keys are deleted from this computer." if known.kind == "s3" else ""
    # asked as the page asks, and as other commands that change what JobMatcher keeps (FINDINGS20 8)
    question = (
        f"Remove the location '{_safe(known.name)}' ({_safe(known.where())})? JobMatcher stops copying there; the "
        f"copies already there are left in place.{keys}"
    )
    if not _confirm(args, question):
        print("Nothing was changed.", file=sys.stderr)
        return 1
    loc = locs.remove(args.name)
    _change_made()
    if args.json:
        _emit_json(loc)
    else:
        print(f"Removed the location '{loc.name}'. The copies there were left in place ({_safe(loc.where())}).")
    return 0


def _cmd_location_enable(enabled: bool):
    def run(args) -> int:
        locs = _engine(args).locations
        loc = _confirmed(
            args, lambda yes: locs.set_enabled(args.name, enabled, confirmed=yes), "Enable it and delete those copies?"
        )
        if args.json:
            _emit_json(loc)
        else:
            print(
                f"{'Enabled' if enabled else 'Disabled'} '{loc.name}'"
                + ("." if enabled else ": it is left alone until you enable it again.")
            )
        return 0

    return run


def _keeps(loc) -> str:
    """A location's retention in words (retention.describe)."""
    from .retention import RetentionPolicy, describe

    return describe(RetentionPolicy.from_settings(loc), "copy")


def cmd_location_set(args) -> int:
    changes = _location_retention(args)
    if not changes and args.new_path is None:
        raise _UsageError(
            "say what to change: --path, --retention-policy, --keep-days, --keep-all-hours, --keep-daily-days, "
            "--keep-weekly-weeks or --keep-monthly-months"
        )
    if args.new_path is not None:  # before anything is changed, as `location add` reads its PATH
        from .errors import SettingsError
        from .fsutil import require_utf8_path, user_path

        try:
            folder = user_path(args.new_path, "The folder")
            require_utf8_path(folder, "The folder")
        except SettingsError as e:
            raise _UsageError(f"argument --path: {e.message} {e.hint}") from None
        args.new_path = os.path.abspath(folder)  # relative to where the command runs, as every other path
    locs = _engine(args).locations
    if args.new_path is not None:
        moved = locs.set_path(args.name, args.new_path)
        _change_made()
        if not changes:
            if args.json:
                _emit_json(moved)
                return 0
            _say_moved(moved)
            return 0
        _say_moved(moved, to=sys.stderr if args.json else sys.stdout)
    loc = _confirmed(
        args,
        lambda yes: locs.set_retention(args.name, confirmed=yes, **changes),
        "Change it and delete those copies?",
    )
    if args.json:
        _emit_json(loc)
    else:
        print(f"'{loc.name}' keeps {_keeps(loc)} ({loc.retention_policy}).")
    return 0


def _secret_from(f: str | None, what: str, prompt: str, twice: bool) -> str | None:
    """A secret from the file `f` (its first line; `what` names it in messages), else asked on a terminal without
    echo (`twice`: typed again, refused when the two differ); None when neither a file nor a terminal."""
    if f:
        text = _read_secret_file(f, what)
        if not text:
            raise JobMatcherError(
                f"The {what} {f} is empty.",
                "Put the passphrase on its first line.",
                code="secret-file-refused",
                path=str(f),
                reason="empty",
            )
        return text
    if not sys.stdin.isatty():
        return None
    import getpass

    first = getpass.getpass(f"{prompt}: ")
    if twice and getpass.getpass(f"{prompt} again: ") != first:
        raise JobMatcherError("The two passphrases differ.", "Run the command again.", code="passphrases-differ")
    return first


def cmd_location_passphrase(args) -> int:
    import shlex

    from .locations.crypto import check_new_passphrase

    locs = _engine(args).locations
    cfg = locs.config()
    locs.refuse_odd_key_file()  # B6: a pipe or folder there is not "no key yet"
    if not (cfg.recipient and locs.identity_path().is_file()):  # said before anything is asked (X12)
        raise JobMatcherError(
            "This data folder has no encryption key yet, so there is no passphrase to change.",
            "Add an encrypted backup location: its passphrase is chosen then.",
            code="no-key-file",
        )
    old = _secret_from(args.passphrase_file, "passphrase file", "Current passphrase (or recovery key)", twice=False)
    if old is None:
        raise JobMatcherError(
            "Changing the passphrase needs the current one, and there is no terminal to ask for it.",
            "Give it with --passphrase-file FILE (a file with the passphrase on its first line).",
            code="passphrase-needed",
        )
    new = _secret_from(args.new_passphrase_file, "new passphrase file", "New passphrase", twice=True)
    if new is None:
        raise JobMatcherError(
            "Changing the passphrase needs the new one, and there is no terminal to ask for it.",
            "Give it with --new-passphrase-file FILE (a file with the new passphrase on its first line).",
            code="passphrase-needed",
        )
    check_new_passphrase(new)  # before age's scrypt runs (seconds)
    if not args.json:
        print("Opening the encryption key and locking it with the new passphrase…", file=sys.stderr)
    r = locs.change_passphrase(old, new)
    _change_made()
    if args.json:
        _emit_json(r)
        return 0
    places = len(r.updated) + len(r.pending) + len(r.disabled) + len(r.other_key)
    print(
        "The passphrase was changed: the encryption key in the data folder"
        + (f" and at {len(r.updated)} of {places} backup location{'s' if places != 1 else ''}" if places else "")
        + " now opens with the new passphrase. It is the same key: your copies, and the recovery key, are as before."
    )
    for name in r.pending:
        print(
            f"'{_safe(name)}' still holds the key locked with the old passphrase: {_safe(r.problems.get(name, ''))} "
            "It is updated at its next copy (or now with `jobmatcher location sync "
            f"{shlex.quote(name)}` once it is reachable).",
            file=sys.stderr,
        )
    for name in r.other_key:
        print(
            f"'{_safe(name)}' holds another encryption key's file, which no passphrase of yours opens, so it was "
            f"left as it is: {_safe(r.problems.get(name, ''))}",
            file=sys.stderr,
        )
    for name in r.disabled:
        print(
            f"'{_safe(name)}' is disabled, so it was left alone: it still holds the key locked with the old "
            "passphrase. It is updated at its next copy once you enable it (`jobmatcher location enable "
            f"{shlex.quote(name)}`).",
            file=sys.stderr,
        )
    return 0


def _say_moved(r, to=None) -> None:
    """What `location set --path` found at the new folder, in words."""
    loc = r.location
    n = f"{r.copies} cop{'y' if r.copies == 1 else 'ies'} of this data folder's backups"
    if r.found == "marker":  # its own folder again, its marker lost (FINDINGS20 1)
        print(
            f"'{_safe(loc.name)}' copies to {_safe(loc.where())} again: its marker (.jobmatcher-location) is "
            f"written there anew, beside {n}. Copies are caught up at the next sync; nothing there was deleted.",
            file=to or sys.stdout,
        )
        return
    if r.found == "same-drive":
        what = f"the same drive (or folder) as before, holding {n}: they stay with it"
    elif r.found == "copies":
        what = f"a folder holding {n}: they join it"
    else:
        what = "a folder with no copies of this data folder yet: the next sync copies your backups there"
    print(
        f"'{_safe(loc.name)}' now copies to {_safe(loc.where())}, {what}. Nothing was deleted or changed at "
        f"{_safe(r.previous)}.",
        file=to or sys.stdout,
    )


def cmd_app(args) -> int:
    from .app import run_app

    return run_app(args)


# -- parser --------------------------------------------------------------------------


def _plain(x: float) -> str:
    """A limit as people write it: 36,500 and 0.5, never 3.65e+04."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,}"


def _number(kind: type, low: float, high: float, what: str) -> Callable[[str], Any]:
    """An argparse type: a number in [low, high], refused in the user's words (argparse then exits 2)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value or not low <= value <= high:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"must be {what} from {_plain(low)} to {_plain(high)}, not {text!r}")
        return value

    return parse


def _note(text: str) -> str:
    """--note: the note rule (manifest.clean_note) at parse time, so a bad note is a usage error (exit 2)."""
    from .errors import ValidationError as NoteError
    from .manifest import clean_note

    try:
        return clean_note(text)
    except NoteError as e:
        raise argparse.ArgumentTypeError(f"{e.message[0].lower()}{e.message[1:].rstrip('.')}") from None


def _setting(field: str, what: str, model: str = "settings") -> Callable[[str], Any]:
    """A number option with the limits of a model's field (the settings, or with model="location" a backup
    location's): one source for both. The model is imported when the option is given, not to build the
    parser: `--help` and every other command start without pydantic's models."""

    def parse(text: str) -> Any:
        fields_of: Any
        if model == "location":
            from .locations.config import LocationConfig as fields_of
        else:
            from .settings import Settings as fields_of
        info = fields_of.model_fields[field]
        low = next(m.ge for m in info.metadata if hasattr(m, "ge"))
        high = next(m.le for m in info.metadata if hasattr(m, "le"))
        return _number(info.annotation, low, high, what)(text)

    return parse


_PORT = _number(int, 0, 65535, "a port number")


def _location_retention_options(p: argparse.ArgumentParser, adding: bool) -> None:
    """A location's retention options (`location add` and `location set`): the `settings` ones, with the
    limits of a location's fields (the same as the settings'). Not given: None (add: the defaults)."""
    p.add_argument(
        "--retention-policy",
        choices=("tiered", "simple"),
        default=None,
        help="tiered: keep hourly/daily/weekly/monthly generations there; simple: one age limit"
        + (" (default tiered)" if adding else ""),
    )
    p.add_argument(
        "--keep-days",
        "--retention-days",
        dest="keep_days",
        type=_setting("retention_days", "a whole number of days", "location"),
        default=None,
        metavar="N",
        help="keep manual copies (with --retention-policy simple: all copies) there N days"
        + (" (default 90)" if adding else ""),
    )
    for option, field, what, text, default in (
        ("--keep-all-hours", "keep_all_hours", "hours", "keep every copy from the last N hours", 24),
        ("--keep-daily-days", "keep_daily_days", "days", "keep the newest copy of each day for N days", 14),
        ("--keep-weekly-weeks", "keep_weekly_weeks", "weeks", "keep the newest copy of each week for N weeks", 8),
        (
            "--keep-monthly-months",
            "keep_monthly_months",
            "months",
            "keep the newest copy of each month for N months",
            12,
        ),
    ):
        p.add_argument(
            option,
            metavar="N",
            type=_setting(field, f"a whole number of {what}", "location"),
            default=None,
            help=f"tiered: {text}" + (f" (default {default})" if adding else ""),
        )


def _location_retention(args) -> dict[str, Any]:
    """The retention options given to `location add` or `location set` (LocationConfig's field names)."""
    given = {
        "retention_policy": args.retention_policy,
        "retention_days": args.keep_days,
        "keep_all_hours": args.keep_all_hours,
        "keep_daily_days": args.keep_daily_days,
        "keep_weekly_weeks": args.keep_weekly_weeks,
        "keep_monthly_months": args.keep_monthly_months,
    }
    return {k: v for k, v in given.items() if v is not None}


def _folder_id(text: str) -> str:
    """--folder-id: a data folder's id, 32 hexadecimal digits (refused as a usage error otherwise)."""
    if len(text) != 32 or any(c not in "0123456789abcdefABCDEF" for c in text):
        shown = text if len(text) <= 40 and text.isprintable() else text[:40].encode("unicode_escape").decode() + "…"
        raise argparse.ArgumentTypeError(
            f"{shown!r} is not a data folder id (32 hexadecimal digits, as `backup list` with the same location shows)"
        )
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data folder (default: $JOBMATCHER_DATA_DIR or the platform's user data folder)",
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details")

    p = argparse.ArgumentParser(
        prog="jobmatcher", parents=[common], description="JobMatcher: your job-search data, with verified backups."
    )
    p.add_argument("--version", action="version", version=f"jobmatcher {__version__}")
    p.add_argument("--browser", action="store_true", help="serve the window's page on 127.0.0.1 instead")
    p.add_argument("--port", type=_PORT, default=0, help="with --browser: the port (default: any free one)")
    p.set_defaults(func=cmd_app)
    sub = p.add_subparsers(dest="group", metavar="COMMAND")

    b = sub.add_parser("backup", help="make, list, check and restore backups", parents=[common])
    bs = b.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = bs.add_parser("create", help="make a verified backup now", parents=[common])
    c.add_argument("--note", default="", type=_note, help="a note to remember it by (one line)")
    c.set_defaults(func=cmd_backup_create)
    src = argparse.ArgumentParser(add_help=False)
    src.add_argument("--location", metavar="NAME", help="the copies at this backup location")
    src.add_argument("--from-folder", metavar="PATH", help="the copies in this folder (a fresh data folder)")
    src.add_argument("--from-s3", metavar="s3://BUCKET/PREFIX", help="the copies in this bucket (keys: AWS_* env)")
    src.add_argument("--endpoint-url", metavar="URL", help="with --from-s3: the S3 endpoint")
    src.add_argument("--folder-id", metavar="ID", type=_folder_id, help="when several data folders keep copies there")
    bs.add_parser("list", help="list backups, newest first", parents=[common, src]).set_defaults(func=cmd_backup_list)
    sh = bs.add_parser(
        "show", help="what a backup (id or file) holds against your current data (read-only)", parents=[common]
    )
    sh.add_argument("target", metavar="ID_OR_PATH")
    sh.set_defaults(func=cmd_backup_show)
    v = bs.add_parser("verify", help="check a backup (id or file)", parents=[common])
    v.add_argument("target", metavar="ID_OR_PATH")
    v.set_defaults(func=cmd_backup_verify)
    r = bs.add_parser("restore", help="replace the current data with a backup (id or file)", parents=[common, src])
    r.add_argument("target", metavar="ID_OR_PATH")
    r.add_argument("--passphrase-file", metavar="F", help="passphrase (or recovery key) of encrypted copies")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    r.set_defaults(func=cmd_backup_restore)
    d = bs.add_parser("delete", help="delete a backup", parents=[common])
    d.add_argument("id", metavar="ID")
    d.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    d.set_defaults(func=cmd_backup_delete)
    for name, pinned in (("pin", True), ("unpin", False)):
        x = bs.add_parser(
            name, help=f"{name} a backup ({'kept forever' if pinned else 'prunable again'})", parents=[common]
        )
        x.add_argument("id", metavar="ID")
        x.set_defaults(func=_cmd_pin(pinned))
    pr = bs.add_parser("prune", help="delete backups older than the retention setting", parents=[common])
    pr.add_argument("--dry-run", action="store_true", help="only list what would be deleted, and by which rule")
    pr.set_defaults(func=cmd_backup_prune)

    sub.add_parser(
        "status", help="are your backups healthy: last, next, folder, warnings", parents=[common]
    ).set_defaults(func=cmd_status)

    st = sub.add_parser("settings", help="show or change the backup settings", parents=[common])
    st.add_argument(
        "--backup-dir",
        metavar="DIR",
        default=None,
        help="folder for backups (must exist, be writable, lie outside the data folder)",
    )
    st.add_argument(
        "--default-backup-dir",
        action="store_true",
        help="go back to the default backup folder, <data folder>/backups",
    )
    st.add_argument(
        "--retention-days",
        metavar="N",
        type=_setting("retention_days", "a whole number of days"),
        default=None,
        help="delete manual backups (with --retention-policy simple: all backups) older than N days",
    )
    st.add_argument(
        "--auto-backup-minutes",
        metavar="N",
        type=_setting("auto_backup_minutes", "a whole number of minutes"),
        default=None,
        help="while the app runs: an automatic backup every N minutes when the data changed (1 to 10080; 0 = off)",
    )
    st.add_argument(
        "--auto-backup-hours",
        metavar="H",
        type=_number(float, 0, 168, "a number of hours"),
        default=None,
        help="the same interval in hours (older option, stored in minutes)",
    )
    st.add_argument(
        "--move-backups",
        action="store_true",
        help="move the backups left in previous backup folders into the current one (each copied, "
        "checked, then removed from the old place)",
    )
    st.add_argument(
        "--retention-policy",
        choices=("tiered", "simple"),
        default=None,
        help="tiered: keep hourly/daily/weekly/monthly generations; simple: one age limit",
    )
    st.add_argument(
        "--keep-all-hours",
        metavar="N",
        type=_setting("keep_all_hours", "a whole number of hours"),
        default=None,
        help="tiered: keep every backup from the last N hours (default 24)",
    )
    st.add_argument(
        "--keep-daily-days",
        metavar="N",
        type=_setting("keep_daily_days", "a whole number of days"),
        default=None,
        help="tiered: keep the newest backup of each day for N days (default 14)",
    )
    st.add_argument(
        "--keep-weekly-weeks",
        metavar="N",
        type=_setting("keep_weekly_weeks", "a whole number of weeks"),
        default=None,
        help="tiered: keep the newest backup of each week for N weeks (default 8)",
    )
    st.add_argument(
        "--keep-monthly-months",
        metavar="N",
        type=_setting("keep_monthly_months", "a whole number of months"),
        default=None,
        help="tiered: keep the newest backup of each month for N months (default 12)",
    )
    st.add_argument(
        "--budget-mb",
        metavar="MIB",
        type=_number(int, 0, 100 * 1024 * 1024, "a number of MiB"),
        default=None,
        help="most space backups may use, in MiB (0 = automatic: 2 GiB or 20x the database)",
    )
    st.add_argument(
        "--yes",
        action="store_true",
        help="do not ask: save settings that make the next clean-up delete backups, or adopt the backup "
        "folder again (a new drive at the same place)",
    )
    st.set_defaults(func=cmd_settings)

    lp = sub.add_parser("location", help="backup locations off this disk: folders and S3", parents=[common])
    ls_ = lp.add_subparsers(dest="action", metavar="ACTION", required=True)
    la = ls_.add_parser("add", help="add a folder or S3 location", parents=[common])
    las = la.add_subparsers(dest="kind", metavar="KIND", required=True)
    addc = argparse.ArgumentParser(add_help=False)
    addc.add_argument("--name", help="a short name (default: the folder's or bucket's)")
    addc.add_argument("--no-encrypt", action="store_true", help="keep plain copies (e.g. your own USB drive)")
    addc.add_argument(
        "--passphrase-file",
        metavar="F",
        help="the passphrase (chosen with the first encrypted location; "
        "later ones must give the same one or the recovery key)",
    )
    _location_retention_options(addc, adding=True)
    addc.add_argument(
        "--yes",
        action="store_true",
        help="do not ask: add it even when its retention deletes copies this data folder made there earlier",
    )
    laf = las.add_parser("folder", help="a folder: USB drive, network share, synced folder", parents=[common, addc])
    laf.add_argument("path", metavar="PATH")
    laf.set_defaults(func=cmd_location_add)
    la3 = las.add_parser("s3", help="S3-compatible storage", parents=[common, addc])
    la3.add_argument("--endpoint-url", metavar="URL", help="e.g. https://s3.us-west-004.backblazeb2.com")
    la3.add_argument("--bucket", metavar="B", required=True)
    la3.add_argument("--prefix", metavar="P", default="")
    la3.add_argument("--region", metavar="R", default=None)
    la3.add_argument("--access-key-id", metavar="ID", help="default: $AWS_ACCESS_KEY_ID")
    la3.add_argument("--secret-access-key-file", metavar="F", help="default: $AWS_SECRET_ACCESS_KEY")
    la3.set_defaults(func=cmd_location_add)
    ls_.add_parser("list", help="locations with their status", parents=[common]).set_defaults(func=cmd_location_list)
    lsy = ls_.add_parser("sync", help="copy what is missing now", parents=[common])
    lsy.add_argument("name", nargs="?", metavar="NAME")
    lsy.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    lsy.add_argument(
        "--passphrase-file",
        metavar="F",
        help="unlock the encryption key once (a data folder set up by an older version asks for it)",
    )
    lsy.add_argument(
        "--verify",
        action="store_true",
        help="first read every copy there back and compare its checksum; copy again those that changed",
    )
    lsy.set_defaults(func=cmd_location_sync)
    for action, fn, text in (
        ("remove", cmd_location_remove, "forget a location (its copies stay there)"),
        ("disable", _cmd_location_enable(False), "leave a location alone"),
        ("enable", _cmd_location_enable(True), "copy to it again"),
    ):
        x = ls_.add_parser(action, help=text, parents=[common])
        x.add_argument("name", metavar="NAME")
        if action == "remove":
            x.add_argument("--yes", action="store_true", help="do not ask: remove it (its copies stay there)")
        if action == "enable":
            x.add_argument(
                "--yes",
                action="store_true",
                help="do not ask: enable it even when its retention deletes copies that aged there meanwhile",
            )
        x.set_defaults(func=fn)
    lpp = ls_.add_parser(
        "passphrase",
        help="change the passphrase of the encryption key (the same key: copies and the recovery key stay valid)",
        parents=[common],
    )
    lpp.add_argument(
        "--passphrase-file", metavar="F", help="the current passphrase (or the recovery key); default: asked"
    )
    lpp.add_argument(
        "--new-passphrase-file", metavar="F", help="the new passphrase (at least 8 characters); default: asked twice"
    )
    lpp.set_defaults(func=cmd_location_passphrase)
    lse = ls_.add_parser(
        "set", help="change a location's folder (a drive mounted elsewhere) or its retention", parents=[common]
    )
    lse.add_argument("name", metavar="NAME")
    lse.add_argument(
        "--path",
        dest="new_path",
        metavar="NEWPATH",
        default=None,
        help="a folder location's new folder (its drive mounted at another place): it must hold this data "
        "folder's copies or none",
    )
    _location_retention_options(lse, adding=False)
    lse.add_argument(
        "--yes", action="store_true", help="do not ask: change it even when its next copy deletes copies there"
    )
    lse.set_defaults(func=cmd_location_set)

    dbp = sub.add_parser("db", help="the database: status, migrate, check", parents=[common])
    ds = dbp.add_subparsers(dest="action", metavar="ACTION", required=True)
    ds.add_parser("status", help="current revision, newest, pending", parents=[common]).set_defaults(func=cmd_db_status)
    m = ds.add_parser("migrate", help="update the schema (a verified backup is made first)", parents=[common])
    m.add_argument("--to", metavar="REVISION", default=None, help="stop at this revision")
    m.set_defaults(func=cmd_db_migrate)
    ds.add_parser("check", help="integrity check of the live database", parents=[common]).set_defaults(
        func=cmd_db_check
    )

    co = sub.add_parser(
        "completion",
        help="print a shell completion script (bash: source <(jobmatcher completion bash))",
        parents=[common],
    )
    co.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")
    co.set_defaults(func=cmd_completion)
    return p


# What the shell offers for an argument, by its dest: folders, or files (anything else: nothing but options).
_COMPLETE_DIRECTORY = {"data_dir", "backup_dir", "from_folder", "path", "new_path"}  # path: `location add folder PATH`
_COMPLETE_FILE = {
    "target",
    "passphrase_file",
    "new_passphrase_file",
    "secret_access_key_file",
}  # target: a backup's id or file


def cmd_completion(args) -> int:
    """Print a static completion script made from this very parser by shtab (nothing runs at completion time)."""
    if args.json or args.data_dir is not None:  # accepted by every command's parser, meaningless here (H24)
        raise _UsageError(
            "completion prints a shell script: --json and --data-dir do not apply to it; "
            "run `jobmatcher completion bash` (or zsh)"
        )
    import shtab

    parser = build_parser()
    for action in _all_actions(parser):
        if action.dest in _COMPLETE_DIRECTORY:
            action.complete = shtab.DIRECTORY  # shtab reads this attribute
        elif action.dest in _COMPLETE_FILE:
            action.complete = shtab.FILE
    print(shtab.complete(parser, shell=args.shell))
    return 0


# Options and arguments that name a place, a file, a location, a backup or a revision, as the user says them.
# Given empty (a script's unset variable: `--from-folder "$USB"`), each would otherwise be taken as not given
# and the command would act on another place (the local backups for `backup restore ID`): a usage error,
# as `--data-dir ""` is (F14, V9). `--prefix ""` (the bucket's top) is a value, not an absence, and is not listed;
# `settings --backup-dir ""` once meant the default folder, silently (a script's unset $DIR moved the backups'
# home): the default has its own option, --default-backup-dir.
_PLACE_ARGUMENTS = {
    "backup_dir": (
        "--backup-dir",
        "give the backup folder's path; to go back to the default folder (<data folder>/backups), give "
        "--default-backup-dir instead",
    ),
    "location": ("--location", "give the backup location's name (see `jobmatcher location list`)"),
    "from_folder": ("--from-folder", "give the folder of the backup location (the drive or folder you copied to)"),
    "from_s3": ("--from-s3", "give the storage's address as s3://BUCKET/PREFIX"),
    "endpoint_url": ("--endpoint-url", "give the storage service's address (https://…)"),
    "passphrase_file": ("--passphrase-file", "give the file that holds the passphrase or the recovery key"),
    "new_passphrase_file": ("--new-passphrase-file", "give the file that holds the new passphrase"),
    "new_path": ("--path", "give the folder's new path (where the drive is mounted now)"),
    "secret_access_key_file": ("--secret-access-key-file", "give the file that holds the secret key"),
    "access_key_id": ("--access-key-id", "give the access key id"),
    "bucket": ("--bucket", "give the bucket's name"),
    "region": ("--region", "give the storage's region"),
    "target": ("ID_OR_PATH", "give a backup's id (see `jobmatcher backup list`) or a backup file"),
    "id": ("ID", "give a backup's id (see `jobmatcher backup list`)"),
    "path": ("PATH", "give the folder's path"),
    "name": ("NAME", "give the location's name (see `jobmatcher location list`)"),
    "to": ("--to", "give a revision (see `jobmatcher db status`)"),
}


def _unsaid_place(args: argparse.Namespace) -> str | None:
    """The usage error for a place given empty or blank (V9), or for an option that only applies with a
    backup location given without one; None when the command line says what it means."""
    for dest, (option, what) in _PLACE_ARGUMENTS.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            if dest == "name" and getattr(args, "action", None) == "add":  # `location add … --name NAME`
                option, what = "--name", "give a short name for the location (default: the folder's or bucket's)"
            if dest == "backup_dir":
                return f"argument {option} is empty: {what}"
            if option.startswith("--"):
                return f"argument {option} is empty: {what}, or leave {option} out"
            return f"argument {option} is empty: {what}"
    if getattr(args, "group", None) == "backup":  # options of copies at a location, given without one: ignored
        if getattr(args, "endpoint_url", None) is not None and getattr(args, "from_s3", None) is None:
            return "argument --endpoint-url goes with --from-s3 s3://BUCKET/PREFIX: give both, or leave it out"
        if getattr(args, "folder_id", None) is not None and not _location_source(args):
            return (
                "argument --folder-id is for copies at a backup location: give --location, --from-folder or --from-s3"
            )
    return None


def _innermost(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The sub-command's parser `argv` reaches (`backup create` for ['backup', 'create', '--yes'])."""
    for token in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and token in subs[0].choices:
            parser = subs[0].choices[token]
    return parser


def _all_actions(parser: argparse.ArgumentParser):
    """Every argument of `parser` and of its sub-commands, however deep."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_actions(child)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """Python prints an uncaught exception of a thread (the scheduler, a server thread) as a traceback on
    stderr, which is the user's terminal here: it goes to the log file instead."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.error("uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def main(argv: list[str] | None = None) -> int:
    if os.name == "posix":
        # Everything this process creates (the database, its -wal and -shm, backups, uploads, logs, Qt's
        # caches) is its user's only: job-search data is personal and machines are shared.
        os.umask(0o077)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's own parser, with its usage line, not the top level's (K7)
        _innermost(parser, sys.argv[1:] if argv is None else argv).error(f"unrecognized arguments: {' '.join(extra)}")
    for name, default in (("data_dir", None), ("json", False), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.data_dir is not None and not str(args.data_dir).strip():
        # `--data-dir "$DIR"` with $DIR unset: acting on the default (the user's real data) would be a surprise
        parser.error(
            "--data-dir is empty: give the data folder's path, or leave --data-dir out for the default data folder"
        )
    global _GIVEN_DATA_DIR
    _GIVEN_DATA_DIR = _given_data_dir(args)  # the commands its messages name act on this data folder (D6)
    problem = _unsaid_place(args)
    if problem:
        _innermost(parser, sys.argv[1:] if argv is None else argv).error(problem)  # exits 2
    if args.func is not cmd_app and (bool(getattr(args, "port", 0)) or bool(getattr(args, "browser", False))):
        # `--port`/`--browser` belong to starting the app; with a command they would be ignored (G23)
        parser.error("--browser and --port start the app: leave them out when you run a command")
    from .logs import log_file, setup_logging

    setup_logging(args.verbose)
    threading.excepthook = _log_thread_exception  # a failing background thread: the log file, not the terminal
    try:
        return args.func(args)
    except _UsageError as e:  # the command's own usage line, not the top level's (L15, as K7)
        _innermost(parser, sys.argv[1:] if argv is None else argv).error(_for_this_folder(str(e)))  # exits 2
    except JobMatcherError as e:
        log.info("refused: %s", e.message)
        if args.json:
            _emit_json(e.to_dict())
        # One line each: no message or hint has a line break of ours, so any is a name's (a forged line).
        print(f"Error: {_safe(e.message)}", file=sys.stderr)
        if e.hint:
            print(_safe(e.hint), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`jobmatcher backup list | head`): not a disk fault, nothing to
        # report. Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: no traceback for the user
        from .causes import explain

        named = explain(e, "the command")  # a full disk, a read-only file, a held lock...: its real cause
        if named is not None:
            log.warning("%s: %r", named.code, e)
            if args.json:
                _emit_json(named.to_dict())
            print(f"Error: {_safe(named.message)}", file=sys.stderr)
            print(named.hint, file=sys.stderr)
            return 1
        log.exception("unexpected error")
        logged_to = log_file()  # the record above opened it (None: the log folder cannot be used)
        where = f" Details are in {logged_to}." if logged_to else ""
        print(f"Error: something unexpected went wrong: {type(e).__name__}: {_safe(e)}.{where}", file=sys.stderr)
        print("Your data has not been changed. Please report this with the log file.", file=sys.stderr)
        return 1
    finally:
        # A copied data folder given its own id just now (Y6). Only a command that opened a data folder loaded
        # datadir (cli reaches the data through the engine's facade; `backup list` loads no more than it needs).
        opened = sys.modules.get(f"{__package__}.datadir")
        for notice in opened.DataDir.take_id_notices() if opened is not None else ():
            print(f"Note: {_safe(notice)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
