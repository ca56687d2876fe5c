"""age's passphrase work (scrypt) in a child process: opening the data folder's key, or locking a new one.

Why a child: pyrage holds Python's GIL for the whole of age's scrypt (seconds by design, 256 MiB to 1 GiB of
memory), so in the app's own process every other thread (the page's server and its progress polls, the Qt
window, the scheduler, the copier, a terminal's spinner, Ctrl+C) stopped for that long (X17). The child does
only that one call and ends.

Secrets never go through the command line or the environment (both readable in /proc by the same user for
the child's life): the request (the locked file or the identity, and the passphrase) comes as one JSON object
on the child's standard input, and the answer (the identity, or the locked file) as one JSON object on its
standard output, through pipes only this process holds.

The child is `python -m jobmatcher.locations.keyproc` (or the bundle's executable with CHILD_FLAG, as
encproc's child); it imports only the standard library and pyrage, dies with its parent (PR_SET_PDEATHSIG,
and ends at once when its parent is gone before that took effect) and
ignores Ctrl+C (the parent, which gets it too, kills it). The memory check before scrypt (crypto.py,
check_scrypt_memory) stays in the parent: the child inherits its limits and maps less.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys

CHILD_FLAG = "--jobmatcher-key"


class KeyChildFailed(Exception):
    """The child ended without an answer: killed (a signal: the system may have run out of memory; age aborts
    a refused allocation) or crashed. `ended` says how, for the log."""

    def __init__(self, ended: str, signalled: bool) -> None:
        super().__init__(ended)
        self.ended = ended
        self.signalled = signalled


class AgeRefused(Exception):
    """age's own error (pyrage's DecryptError or EncryptError), with its words (str(self))."""


def run(op: str, data: bytes, passphrase: str) -> bytes:
    """age's passphrase `op` in a child: "decrypt" (`data` a locked file; returns its plaintext) or "encrypt"
    (`data` the plaintext; returns the locked file, age choosing the work factor as always).

    Raises OSError when no process can be started (the caller then does it here), AgeRefused with age's
    words (a wrong passphrase, a damaged file, "excessive work"), KeyChildFailed when the child died."""
    import subprocess

    from ..checkproc import child_command, signal_name
    from ..relaunch import child_environment
    from .encproc import _kill_and_reap, child_path  # the same launch rules as the encrypting child

    # this process's id: the child checks it is still its parent once it asked to die with it (Y9d)
    cmd = child_command(CHILD_FLAG, ["-S", "-m", __name__], [str(os.getpid())])
    env = child_environment() if getattr(sys, "frozen", False) else child_environment({"PYTHONPATH": child_path()})
    request = json.dumps({"op": op, "data": base64.b64encode(data).decode(), "passphrase": passphrase}).encode()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True, env=env
    )
    try:
        out, err = proc.communicate(request)
    finally:
        _kill_and_reap(proc)  # Ctrl+C (KeyboardInterrupt) or anything else while it ran: none left running
    code = proc.returncode
    try:
        answer = json.loads(out) if out.strip() else {}
    except ValueError:
        answer = {}
    if code == 0 and isinstance(answer.get("data"), str):
        return base64.b64decode(answer["data"])
    if isinstance(answer.get("refused"), str):
        raise AgeRefused(answer["refused"])
    if code < 0:
        raise KeyChildFailed(signal_name(code), signalled=True)
    detail = err.decode("utf-8", "replace").strip()[-300:] or "no answer"
    raise KeyChildFailed(f"exit {code}: {detail}", signalled=False)


def child_main(argv: list[str]) -> int:
    """The child: argv = [the parent's process id] (absent: not checked); one JSON request on standard input
    ({"op", "data" (base64), "passphrase"}), one JSON answer on standard output: {"data": base64} (exit 0) or
    {"refused": age's words} (exit 1); an unreadable request: exit 2; the parent gone before this child asked
    to die with it: exit 3 at once, no scrypt run for no one (Y9d: it outlived a killed restore by its
    seconds of scrypt). Never raises (a bug's traceback goes to standard error)."""
    from .encproc import _die_with_parent

    if not _die_with_parent(int(argv[0]) if argv[:1] and argv[0].isdigit() else None):
        return 3
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal reaches the parent, which stops us
    raw = b""
    while chunk := os.read(0, 65536):
        raw += chunk
    try:
        req = json.loads(raw)
        op, data, passphrase = req["op"], base64.b64decode(req["data"]), req["passphrase"]
        if op not in ("decrypt", "encrypt") or not isinstance(passphrase, str):
            raise ValueError(op)
    except (ValueError, KeyError, TypeError):
        os.write(2, b"unreadable request for the key process\n")
        return 2
    from pyrage import passphrase as pp

    try:
        result = pp.decrypt(data, passphrase) if op == "decrypt" else pp.encrypt(data, passphrase)
    except Exception as e:  # noqa: BLE001 - pyrage's DecryptError / EncryptError: the parent reads their words
        _write_all(json.dumps({"refused": str(e)}).encode())
        return 1
    _write_all(json.dumps({"data": base64.b64encode(result).decode()}).encode())
    return 0


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
