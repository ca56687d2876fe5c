"""Leftovers of trial11/trial12's findings (FINDINGS9 V15d, V15e, V7; the empty --backup-dir; status
read-only), each through the real command line or the real API object."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

PASS = "correct horse battery staple 42"


def _capped(cap_mb: int, *args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """The real command line with its address space capped at `cap_mb` MB (ulimit -v)."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb << 20, cap_mb << 20))

    return subprocess.run(
        [sys.executable, "-m", "jobmatcher", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/statm: Linux")
def test_the_first_encrypted_location_under_a_memory_limit_is_refused_in_words_not_aborted(tmp_path):
    """V15d: the first `location add` of an encrypted location locks a new key with the passphrase (age's
    scrypt, 1 KiB x 2^N, N chosen by age: 128 MiB and up); under `ulimit -v` 150 MB age's refused allocation
    aborted the process (SIGABRT, 'memory allocation of … bytes failed'). Now the same check as opening a key."""
    data, usb = tmp_path / "d", tmp_path / "usb"
    usb.mkdir()
    (tmp_path / "pw").write_text(PASS + "\n")
    assert run_cli("db", "migrate", data_dir=data).returncode == 0
    r = _capped(
        150, "location", "add", "folder", str(usb), "--passphrase-file", str(tmp_path / "pw"), "--yes", data_dir=data
    )
    assert r.returncode == 1, (r.returncode, r.stderr[-800:])
    assert "Locking the new encryption key with the passphrase may need up to about" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "memory allocation" not in r.stderr
    assert os.listdir(usb) == []  # nothing written at the location
    assert not {"location-identity.age", "locations.json"} & set(os.listdir(data))  # no key, no location
