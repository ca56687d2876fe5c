"""An age passphrase (scrypt) file written by the tests themselves, with a work factor of their choosing.

age (rage, pyrage) picks the work factor itself, the one that takes about a second on this computer, and every
opening of such a key pays it again: seconds per test where the test is about something else (which folder a
recovery takes over, what it says). A key the test locks itself at log_n 10 (1 MiB, milliseconds) is still a real
age v1 file (the format at age-encryption.org/v1: the scrypt stanza, its HMAC'd header, the ChaCha20-Poly1305
payload), opened by the same age code the app uses; the app takes any work factor age accepts, as it would a key
locked elsewhere. Tests about scrypt's cost itself (test_age_work.py, test_key_child.py) keep age's own key
(conftest.locked_identity)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")  # age: standard alphabet, no padding


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def scrypt_encrypt(plaintext: bytes, passphrase: str, log_n: int = 10) -> bytes:
    """`plaintext` (up to one 64 KiB chunk) as an age file opened with `passphrase`, scrypt work factor 2**log_n."""
    if len(plaintext) > 64 << 10:
        raise ValueError("one chunk only")
    file_key, salt = os.urandom(16), os.urandom(16)
    wrap = hashlib.scrypt(
        passphrase.encode(), salt=b"age-encryption.org/v1/scrypt" + salt, n=1 << log_n, r=8, p=1, dklen=32
    )
    body = ChaCha20Poly1305(wrap).encrypt(b"\0" * 12, file_key, None)
    header = b"age-encryption.org/v1\n-> scrypt %s %d\n%s\n---" % (_b64(salt), log_n, _b64(body))
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    nonce = os.urandom(16)
    last_chunk = b"\0" * 11 + b"\x01"
    payload = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload")).encrypt(last_chunk, plaintext, None)
    return header + b" " + _b64(mac) + b"\n" + nonce + payload
