"""Encryption of copies with age (through pyrage: no cryptography of our own).

One X25519 identity per data folder. Copies are encrypted to its public
recipient, so unattended copies need no passphrase. The private identity is
kept only encrypted with the user's passphrase (age's scrypt mode), in the
data folder and at every location; the user also gets it once as a printable
recovery key (`AGE-SECRET-KEY-1…`). Both are standard age: the `age` command
decrypts a copy with either, without JobMatcher.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..digests import Algorithm
from ..errors import JobMatcherError, TamperedCopyError, ValidationError, WrongIdentityError, WrongPassphraseError
from ..progress import Count
from .client import HashingWriter

if TYPE_CHECKING:
    from .encproc import SpareEncryptor

MIN_PASSPHRASE = 8
RECOVERY_KEY_PREFIX = "AGE-SECRET-KEY-1"
# age refuses a passphrase's work when it measures it as too slow here; measured again it may pass
UNLOCK_TRIES = 3
UNLOCK_RETRY_PAUSE = 1.0  # seconds between those tries
# The byte-order mark Windows Notepad writes at the start of a text file saved as "UTF-8" (Z1): invisible, never
# typed, so never part of a passphrase or a recovery key.
BOM = "\ufeff"


def new_identity() -> tuple[str, str]:
    """A fresh X25519 identity: (secret identity string `AGE-SECRET-KEY-1…`, public recipient `age1…`).
    Never raises."""
    from pyrage import x25519

    ident = x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def recipient_of(identity: str) -> str:
    """The public recipient (`age1…`) of a secret identity string.

    Raises ValidationError (in the user's words: a recovery key) when it is not one."""
    from pyrage import IdentityError, x25519

    try:
        return str(x25519.Identity.from_str(as_recovery_key(identity)).to_public())
    except (IdentityError, ValueError):
        raise ValidationError(
            "That is not a JobMatcher recovery key.",
            f"A recovery key starts with {RECOVERY_KEY_PREFIX} and is one line; check it was copied whole.",
        ) from None


def is_recovery_key(secret: str) -> bool:
    """Whether `secret` (a passphrase field's or file's text) is given as a recovery key: it starts with
    `AGE-SECRET-KEY-1` in either case, whitespace anywhere in it aside. A key is Bech32, which means the same in
    upper or lower case and has no spaces (V17, X25: typed back from paper or a phone's note in lower case, or
    in groups of a few characters, it is still the key, never a passphrase). Never raises."""
    return as_recovery_key(secret).startswith(RECOVERY_KEY_PREFIX)


_WHITESPACE = re.compile(r"[\s\ufeff]+")  # with the byte-order mark (BOM), which \s does not match


def as_recovery_key(secret: str) -> str:
    """The recovery key `secret` (is_recovery_key) as age writes it: every space, tab and line break removed
    (copied from paper in groups: X25), in upper case (Bech32 refuses mixed case; a person retyping it means
    the key whatever case each letter came out in). Never raises."""
    return _WHITESPACE.sub("", secret).upper()


# Characters that show as nothing (A3): Unicode's format characters (zero-width space and joiners, soft hyphen,
# word joiner, byte-order mark: category Cf) and control characters (Cc). Pasted from a web page or a chat they
# ride along unseen; they never count toward a new passphrase's length.
_INVISIBLE_CATEGORIES = ("Cf", "Cc")


def _seen(passphrase: str) -> str:
    """What a person sees of `passphrase`: without invisible characters (_INVISIBLE_CATEGORIES) and without the
    blanks at its start and end. Never raises."""
    import unicodedata

    return "".join(c for c in passphrase if unicodedata.category(c) not in _INVISIBLE_CATEGORIES).strip()


def unicodedata_category(c: str) -> str:
    """Unicode's general category of the character `c` ("Cc": a control character). Never raises."""
    import unicodedata

    return unicodedata.category(c)


def check_new_passphrase(passphrase: str) -> None:
    """Raises ValidationError when a new passphrase is only blank or invisible characters, or shorter than
    MIN_PASSPHRASE characters not counting the blanks at its start and end nor any invisible character
    (zero-width spaces, soft hyphens, a byte-order mark...: _seen). The one rule for a passphrase chosen
    (location add, location passphrase, the page): what cannot be seen is no secret and cannot be typed again,
    so eight spaces (Z7) or eight zero-width spaces (A3) are refused; so is a text that is_recovery_key reads as a
    recovery key (B9: it would never be tried as a passphrase), and one holding a control character other than a
    tab (B16: a NUL or an escape cannot be typed). Only a new passphrase is checked so: one
    already locking a key opens exactly as it was typed, its blanks included."""
    if is_recovery_key(passphrase):
        # B9: every reader takes such a text as a recovery key (is_recovery_key) and never tries it as a
        # passphrase, so a key file locked with it would open nowhere in JobMatcher, disaster recovery included
        raise ValidationError(
            f"That is an encryption key (it starts with {RECOVERY_KEY_PREFIX}), not a passphrase: JobMatcher reads "
            "such a text as a recovery key wherever it is given, so it could never open the key with it.",
            "Choose a passphrase of words or letters (a few words are easy to remember); keep keys apart.",
            code="passphrase-is-a-key",
        )
    seen = _seen(passphrase)
    if not seen:
        raise ValidationError(
            "The passphrase is only blank space (spaces, tabs or invisible characters such as zero-width "
            "spaces): that is no secret, and nobody can see what was typed.",
            "Choose a passphrase of words or letters (a few words are easy to remember).",
        )
    if any(unicodedata_category(c) == "Cc" and c != "\t" for c in passphrase.rstrip("\r\n")):
        # B16: a NUL or an escape sequence cannot be typed at a prompt, in the page or to `age`: only ever given
        # from a file, and lost with it
        raise ValidationError(
            "The passphrase holds control characters (such as a NUL or an escape sequence) that cannot be typed, so "
            "it could only ever be given from that file.",
            "Choose a passphrase of words or letters you can type (a few words are easy to remember).",
            code="passphrase-untypable",
        )
    if len(seen) < MIN_PASSPHRASE:
        raise ValidationError(
            f"The passphrase must be at least {MIN_PASSPHRASE} characters (blanks at its start or end and invisible "
            "characters such as zero-width spaces not counted).",
            "Choose a longer passphrase (a few words are easy to remember).",
        )


def without_bom(secret: str) -> str:
    """`secret` without the byte-order marks (U+FEFF) at its start: a passphrase read from a file saved by
    Windows Notepad as "UTF-8" starts with one, which nobody types on a new machine or gives to `age` (Z1).
    Never raises."""
    return secret.lstrip(BOM)


def lock_identity(identity: str, passphrase: str) -> bytes:
    """The identity encrypted with the passphrase (age scrypt), as an age file's bytes. A leading byte-order
    mark is not part of the passphrase locked (without_bom), so the passphrase opens it as typed.

    Raises ValidationError when the passphrase is too short (check_new_passphrase), JobMatcherError (code
    "memory-low") when the memory age's scrypt may take here is not there (lock_memory, check_scrypt_memory)."""
    check_new_passphrase(passphrase)
    check_scrypt_memory(lock_memory(), locking=True)  # V15d: as unlock_identity does, before age's scrypt
    try:
        return _scrypt("encrypt", (identity.strip() + "\n").encode(), without_bom(passphrase), locking=True)
    except _Refused as e:
        raise JobMatcherError(
            f"age could not lock the new encryption key with the passphrase ({e}). Nothing was changed.",
            "Try again; if it keeps failing, choose another passphrase.",
            code="key-lock-failed",
        ) from None


class _Refused(Exception):
    """age refused its passphrase work (pyrage's DecryptError or EncryptError): its words are str(self)."""


def _scrypt(op: str, data: bytes, passphrase: str, locking: bool = False) -> bytes:
    """age's passphrase work, `op` "decrypt" (data: a locked file) or "encrypt" (data: the plaintext), in a
    child process (keyproc.py: scrypt holds the GIL for seconds, X17); here only where no process can be
    started. Raises _Refused with age's words, JobMatcherError (code "memory-low") when the child was killed
    (the system ran out of memory, or age aborted a refused allocation); age runs here when the child could
    not run at all (exited with an error)."""
    from .keyproc import AgeRefused, KeyChildFailed, run

    try:
        return run(op, data, passphrase)
    except AgeRefused as e:
        raise _Refused(str(e)) from None
    except KeyChildFailed as e:
        import logging

        logging.getLogger(__name__).warning("the key's process ended without an answer: %s", e.ended)
        if not e.signalled:  # it could not run (a broken install, a bundle without it): age here, as before
            return _scrypt_here(op, data, passphrase)
        what = "Locking the new encryption key with" if locking else "Opening the encryption key with"
        raise JobMatcherError(
            f"{what} the passphrase was stopped: its process ended without an answer (the computer may have run "
            "short of memory for age's scrypt). Nothing was changed.",
            "Close other programs and try again"
            + ("." if locking else "; or give the recovery key instead of the passphrase: it needs no scrypt."),
            code="memory-low",
        ) from None
    except OSError:  # no process can be started here: age runs in this process (holding the GIL meanwhile)
        return _scrypt_here(op, data, passphrase)


def _scrypt_here(op: str, data: bytes, passphrase: str) -> bytes:
    """_scrypt in this process (the fallback). Raises _Refused with age's words."""
    from pyrage import DecryptError, EncryptError
    from pyrage import passphrase as pp

    try:
        return pp.decrypt(data, passphrase) if op == "decrypt" else pp.encrypt(data, passphrase)
    except (DecryptError, EncryptError) as e:
        raise _Refused(str(e)) from None


_SCRYPT_STANZA = re.compile(rb"^-> scrypt \S+ ([0-9]{1,2})$", re.M)


# age (rage) does not try a work factor more than 4 above the one it can do in about a second here: it refuses
# with "excessive work" before allocating anything (reported as too busy). No computer does 2**22 in a second,
# so above 2**26 age never allocates the memory.
_MAX_TRIED_LOG_N = 26


def scrypt_memory(locked: bytes) -> int:
    """Bytes age's scrypt takes for a moment to open `locked` with a passphrase: 128 * r * N, r = 8 and N =
    2**log_n from the file's scrypt stanza (log_n 18: 256 MiB); 0 when the file has no such stanza, or asks
    for a work factor age refuses to try on any computer (above 2**26, _MAX_TRIED_LOG_N). Never raises."""
    m = _SCRYPT_STANZA.search(locked[:4096])
    if not m or int(m.group(1)) > _MAX_TRIED_LOG_N:
        return 0
    return 1024 << int(m.group(1))


def _memory_limits() -> tuple[int | None, int | None]:
    """(bytes this process may still map under its address-space limit, `ulimit -v`; bytes of memory the
    system has available, MemAvailable plus free swap), None for what is unlimited or cannot be read (not
    Linux). Never raises."""
    room = available = None
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as f:
                mapped = int(f.read().split()[0]) * resource.getpagesize()
            room = max(0, limit - mapped)
    except (ImportError, OSError, ValueError, IndexError):
        pass
    try:
        info = {}
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, rest = line.partition(":")
                info[name] = int(rest.split()[0]) * 1024
        available = info["MemAvailable"] + info.get("SwapFree", 0)
    except (OSError, ValueError, KeyError, IndexError):
        pass
    return room, available


def lock_memory() -> int:
    """Bytes age's scrypt may take for a moment to lock a key with a passphrase on this computer. age picks
    the work factor itself, as the one that takes about a second here: it times one scrypt at 2**10 and
    doubles (rage's target_scrypt_work_factor). The same rule on the fastest of three timings with the
    standard library's scrypt, then once more: age's single timing has come out twice as fast as that on a
    busy machine (2**20 chosen where this said 2**19), and a refused allocation would end the process. So an
    upper estimate: 512 MiB to 1 GiB on a computer where age usually picks 2**18 to 2**19. Never raises."""
    import hashlib

    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        try:
            hashlib.scrypt(b"", salt=b"\0" * 16, n=1 << 10, r=8, p=1, maxmem=32 << 20, dklen=32)
        except (ValueError, MemoryError):  # no scrypt in this OpenSSL: age's own guess when it cannot time
            return 1024 << 18
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    log_n = 10
    while best is not None and best < 1.0 and log_n < _MAX_TRIED_LOG_N:
        log_n += 1
        best *= 2
    return 1024 << min(log_n + 1, _MAX_TRIED_LOG_N)


def check_unlock_memory(locked: bytes) -> None:
    """JobMatcherError (code "memory-low") when opening `locked` with a passphrase cannot get the memory age's
    scrypt needs for a moment (scrypt_memory; check_scrypt_memory)."""
    check_scrypt_memory(scrypt_memory(locked))


def check_scrypt_memory(need: int, locking: bool = False) -> None:
    """The one check before any scrypt of age's (opening a key with a passphrase, or `locking` a new one):
    JobMatcherError (code "memory-low") when `need` bytes (and a margin for age's own buffers) are more than
    this process may map (ulimit -v) or the computer has available: a refused allocation in age would end the
    whole process without a word (Rust aborts), and an exhausted machine would kill it. `need` 0: no check."""
    if not need:
        return
    room, available = _memory_limits()
    margin = need // 8 + (32 << 20)
    for have, where in ((room, "this process may use (ulimit -v)"), (available, "the computer has free")):
        if have is not None and have < need + margin:
            if locking:
                raise JobMatcherError(
                    f"Locking the new encryption key with the passphrase may need up to about "
                    f"{(need + margin) >> 20} MB of memory for a moment (age's scrypt), and {where} only "
                    f"{have >> 20} MB. Nothing was changed.",
                    "Close other programs (or raise the memory limit) and try again.",
                    code="memory-low",
                )
            raise JobMatcherError(
                f"Opening the encryption key with the passphrase needs about {(need + margin) >> 20} MB of memory "
                f"for a moment (age's scrypt), and {where} only {have >> 20} MB. Nothing was changed.",
                "Close other programs (or raise the memory limit) and try again; or give the recovery key "
                "instead of the passphrase: it needs no scrypt.",
                code="memory-low",
            )


def unlock_identity(locked: bytes, secret: str) -> str:
    """The identity from its locked file, given the passphrase or the recovery key itself.

    Raises WrongPassphraseError when the passphrase does not open it (code "key-unlock-too-slow" when
    age refused the work of trying, three times a second apart, on a computer too busy: not a verdict on
    the passphrase; code "key-damaged" when age cannot read the file at all, whatever the passphrase),
    JobMatcherError (code "memory-low") when the memory age's scrypt takes is not there (checked before) or its
    process was killed. age's scrypt runs in a child process (keyproc.py), so this process's threads go on.
    A passphrase that does not open it as given is tried in its other Unicode normal forms too (other_forms).
    """
    secret = without_bom(secret.rstrip("\r\n"))
    if is_recovery_key(secret):
        identity = as_recovery_key(secret)
        recipient_of(identity)  # ValidationError when mangled
        return identity
    check_unlock_memory(locked)
    opened, said = _try_passphrase(locked, secret)
    if opened is None and _is_wrong_passphrase(said):
        # Z1: a key locked before this version from a passphrase file that began with a byte-order mark was
        # locked with the mark in front; the passphrase as typed (or that same file) still opens it.
        opened, said = _try_passphrase(locked, BOM + secret)
    for other in other_forms(secret):
        if opened is not None or not _is_wrong_passphrase(said):
            break
        # B16: age compares the passphrase's bytes, and the same passphrase typed on another computer can arrive
        # in another Unicode form ("é" as one character, or as "e" and a combining accent: macOS's tools, some
        # input methods, a file saved by another editor): a disaster recovery must not fail on that
        opened, said = _try_passphrase(locked, other)
    if opened is not None:
        return opened
    if not _is_wrong_passphrase(said):
        # age read the file's header and the passphrase did not open it: "Decryption failed". Anything else
        # (a header cut short, a payload that does not decrypt, not an age file) is the file, not the
        # passphrase (L24): code "key-damaged", so callers can say which file is damaged.
        raise WrongPassphraseError(
            "The encryption key file is damaged: age cannot read it, whatever the passphrase.",
            "Take the key back from a backup location that holds it, with your passphrase.",
            code="key-damaged",
        )
    raise WrongPassphraseError(
        "That passphrase does not open the encryption key of these copies.",
        "Check the passphrase (it is case-sensitive), or use the recovery key you "
        "were shown when encryption was set up. Nothing was changed.",
    )


def other_forms(passphrase: str) -> list[str]:
    """The passphrase's other Unicode normal forms (NFC: composed, NFD: decomposed; UAX #15), those that differ
    from it, in that order: empty for a passphrase of ASCII only. A key is locked with the passphrase as typed (so
    the `age` command opens it with the same keystrokes); unlocking tries these too. Never raises."""
    if passphrase.isascii():
        return []
    import unicodedata

    out: list[str] = []
    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, passphrase)
        if other != passphrase and other not in out:
            out.append(other)
    return out


def _is_wrong_passphrase(said: str) -> bool:
    """Whether age's refusal `said` means the passphrase did not open a readable key file ("Decryption failed")."""
    return said.strip().lower() in ("decryption failed", "")


def _try_passphrase(locked: bytes, passphrase: str) -> tuple[str | None, str]:
    """(the identity, "") when `passphrase` opens `locked`, else (None, age's refusal). age's "excessive work"
    refusal is tried again, UNLOCK_TRIES times UNLOCK_RETRY_PAUSE seconds apart, then raised as _too_slow."""
    said = ""
    for attempt in range(UNLOCK_TRIES):
        try:
            return _scrypt("decrypt", locked, passphrase).decode().strip(), ""
        except _Refused as e:
            said = str(e)
            if "excessive work" not in said.lower():
                break
            # age refuses a scrypt work factor far above what it measures this computer can do in about a
            # second (rage: target work factor + 4). On a busy machine that measurement comes out low, and a
            # correct passphrase was then refused as wrong. Measured again after a pause, it usually passes;
            # if not, say what happened instead of blaming the passphrase.
            if attempt == UNLOCK_TRIES - 1:
                raise _too_slow(str(e)) from None
            time.sleep(UNLOCK_RETRY_PAUSE)
    return None, said


def _too_slow(said: str) -> WrongPassphraseError:
    """The refusal when age would not try the passphrase (its "excessive work" error, `said`): with age's
    estimate of the time it would take, when it gives one. Code "key-unlock-too-slow"."""
    m = re.search(r"([0-9]+)[^0-9]*seconds", said)
    took = ""
    if m:
        secs = int(m.group(1))
        n, unit = next(
            (
                (secs // size, unit)
                for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"))
                if secs >= 2 * size
            ),
            (secs, "second"),
        )
        took = f": age estimates it would take about {n} {unit}{'s' if n != 1 else ''} here, and refuses work that slow"
    return WrongPassphraseError(
        f"This computer is too busy right now to open the encryption key with the passphrase{took}. "
        "The passphrase itself was not refused.",
        "Try again when fewer programs are running. If it keeps saying so, use the recovery key: the key file "
        "was then made on a much faster computer, or changed. Nothing was changed.",
        code="key-unlock-too-slow",
    )


def encrypt_file_into(
    src: Path,
    out: BinaryIO | HashingWriter,
    recipient: str,
    algorithm: Algorithm = "sha256",
    spare: SpareEncryptor | None = None,
) -> tuple[int, str]:
    """Encrypt the file `src` to `recipient` (an `age1…` string), writing the age file into `out`.

    age runs in a child process (encproc.py: it holds the GIL while it encrypts, so not in the app's
    process), which reads `src` once and hashes those very bytes with `algorithm` ("sha256", or "blake3":
    about a third of SHA-256's CPU time, for a backup whose manifest's seal makes its BLAKE3 a proof);
    the age file comes back in chunks of up to 1 MiB, written to `out.write` here. Bounded memory.
    Where no process can be started, age runs here instead (three threads, see pipeline.py).
    `spare`: a child started ahead (encproc.SpareEncryptor; its start-up then already paid), used when it is
    still there, else a child is started now.
    Returns the plaintext's (size in bytes, hex digest of `algorithm`), so the caller can check that what
    was encrypted is the backup it meant.

    Raises ValueError for an unknown `algorithm`, OSError for `src` (missing, unreadable), what `out.write`
    raises (an OSError), or
    encproc.EncryptionChildFailed when the child was killed or crashed (the child is never left running).
    """
    from .encproc import EncryptingChild

    try:
        child = EncryptingChild(src, recipient, algorithm, spare)
    except OSError:
        return _encrypt_here(src, out, recipient, algorithm)
    with child:
        fill = getattr(out, "fill_from", None)
        if child.shares_windows and getattr(out, "takes_windows", False):
            # a folder copy on a disk writes the child's shared windows as they are (folder._WritebackWriter)
            out.fill_from_windows(child.windows, child.give_back)  # type: ignore[union-attr]
        elif fill is not None:  # a folder copy's writer reads the pipe into its own buffers (folder._WritebackWriter)
            fill(child.readinto)
        else:
            for chunk in child.chunks():
                out.write(chunk)
        return child.finish()


def _encrypt_here(
    src: Path, out: BinaryIO | HashingWriter, recipient: str, algorithm: Algorithm = "sha256"
) -> tuple[int, str]:
    """encrypt_file_into in this process (the fallback): pyrage reads through a thread that hashes ahead."""
    import pyrage
    from pyrage import x25519

    from .pipeline import PlaintextReader, gil_handover

    to = [x25519.Recipient.from_str(recipient)]
    with PlaintextReader(src, algorithm=algorithm) as reader, gil_handover():
        try:
            pyrage.encrypt_io(reader, out, to)
        except Exception:
            if reader.error is not None:
                raise reader.error from None
            raise
        return reader.size, reader.digest.hexdigest()


class _PastLimit(Exception):
    """Raised by _BoundedWriter through age's decryption: more plaintext than the copy's recorded size."""


# A decryption's progress is reported at most once per this many bytes written (age writes 64 KiB at a time).
DECRYPT_REPORT_BYTES = 4 << 20


class _BoundedWriter:
    """A file's `write` that refuses (raises _PastLimit) past `limit` bytes (None: no bound), before writing
    them: a copy's decryption never writes more than the size recorded when the copy was written (V13). `count`
    gets (bytes written, `limit`) every DECRYPT_REPORT_BYTES (finish() reports the last)."""

    def __init__(self, out: BinaryIO, limit: int | None, count: Count | None = None) -> None:
        self.out = out
        self.limit = limit
        self.done = 0
        self.count = count
        self._next = DECRYPT_REPORT_BYTES

    def write(self, data: bytes) -> int:
        self.done += len(data)
        if self.limit is not None and self.done > self.limit:
            raise _PastLimit
        n = self.out.write(data)
        if self.count is not None and self.done >= self._next:
            self._next = self.done + DECRYPT_REPORT_BYTES
            self.count(self.done, max(self.limit or 0, self.done))
        return n

    def finish(self) -> None:
        if self.count is not None:
            self.count(self.done, max(self.limit or 0, self.done))

    def flush(self) -> None:
        self.out.flush()


def decrypt_file(src: Path, dest: Path, identity: str, limit: int | None = None, count: Count | None = None) -> None:
    """Decrypt the age file `src` into the new file `dest` with `identity`, writing at most `limit` bytes
    (the database's size recorded with the copy; None: no bound). `count(done, total)`, when given, gets the
    bytes written so far of `limit` (the total: known, as it bounds the decryption) every few MB and at the end.

    Raises WrongIdentityError (made for another key) or TamperedCopyError (changed or cut short; reason
    "too-large" when it decrypts to more than `limit` bytes: stopped there), OSError for `dest`'s disk (a
    full disk: errno ENOSPC); `dest` is removed then.
    """
    import pyrage
    from pyrage import DecryptError, x25519

    ident = x25519.Identity.from_str(identity)
    try:
        with open(src, "rb") as fi, open(dest, "xb") as fo:
            out = _BoundedWriter(fo, limit, count) if limit is not None or count is not None else fo
            pyrage.decrypt_io(fi, out, [ident])
            if isinstance(out, _BoundedWriter):
                out.finish()
    except _PastLimit:
        dest.unlink(missing_ok=True)
        raise TamperedCopyError(
            f"This encrypted copy decrypts to more than the {limit:,} bytes recorded when it was written: it was "
            "changed since. Its decryption was stopped there, and nothing was changed.",
            "Choose another copy; this one cannot be trusted.",
            reason="too-large",
        ) from None
    except DecryptError as e:
        dest.unlink(missing_ok=True)
        if "No matching keys" in str(e):
            raise WrongIdentityError(
                "This copy was encrypted with another key (another data folder's or an older one), so this key "
                "cannot open it. Nothing was changed.",
                "Use the passphrase or recovery key of the data folder that made the copy.",
            ) from None
        raise TamperedCopyError(
            "This encrypted copy was changed or cut short after it was written: it fails age's authentication. "
            "Nothing was changed.",
            "Choose another copy; this one cannot be trusted.",
        ) from None
    except OSError as e:
        dest.unlink(missing_ok=True)
        # pyrage reports a failed payload chunk (age's STREAM authentication) as an OSError without errno, and
        # so a payload that ends where a chunk does but not with age's last chunk ("age file is truncated"):
        # both are the copy's own (cut short or changed), not the disk's (T5)
        if e.errno is None and ("decryption error" in str(e) or "truncated" in str(e)):
            raise TamperedCopyError(
                "This encrypted copy was changed or cut short after it was written: it fails age's authentication. "
                "Nothing was changed.",
                "Choose another copy; this one cannot be trusted.",
            ) from None
        raise
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
