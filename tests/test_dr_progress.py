"""X23: a restore from a location counts its decryption in bytes of the recorded size (not a spinner), its
download too, and on a data folder that holds nothing of the user's the question does not offer to replace
data that is not there.

Real parts: a real encrypted copy at a real folder location, real age, the real command line on a
pseudo-terminal. Progress is judged by the Progress reports themselves, never by time.
"""

from __future__ import annotations

import re

from conftest import LOCATION_PASSPHRASE as PASS
from conftest import prime
from jobmatcher.locations import crypto
from jobmatcher.locations.folder import FolderLocation
from jobmatcher.locations.remote import fetch_verified, find_remote
from test_cli_ux import Terminal


def _copy(engine, tmp_path, quick_identity):
    """An encrypted copy of the engine's data at a folder location: (usb, backup id, passphrase file)."""
    prime(engine, quick_identity)
    usb = tmp_path / "usb"
    usb.mkdir()
    engine.locations.add("folder", path=str(usb), name="USB", passphrase=PASS)
    bid = engine.create_backup().id
    assert engine.locations.sync()[0].copied == [bid]
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    return usb, bid, pw


def test_the_decryption_and_download_are_counted_in_bytes_of_the_recorded_size(
    engine, tmp_path, quick_identity, monkeypatch
):
    usb, bid, _ = _copy(engine, tmp_path, quick_identity)
    monkeypatch.setattr(
        crypto, "DECRYPT_REPORT_BYTES", 4096, raising=False
    )  # a small database: several reports all the same
    client = FolderLocation(usb)
    remote = find_remote(client, bid)
    reports: list[tuple[str, int, int | None, str]] = []
    plain = fetch_verified(client, remote, PASS, tmp_path, lambda *r: reports.append(r))
    assert plain.stat().st_size == remote.size_bytes
    decrypt = [r for r in reports if r[0] == "decrypt"]
    download = [r for r in reports if r[0] == "download"]
    # before: ("decrypt", 0, None, "steps") then ("decrypt", 1, 1, "steps"): a spinner
    assert decrypt and all(u == "bytes" and t == remote.size_bytes for _, _, t, u in decrypt), decrypt
    assert len(decrypt) > 3 and decrypt[-1][1] == remote.size_bytes, decrypt
    assert [d for _, d, _, _ in decrypt] == sorted(d for _, d, _, _ in decrypt)
    assert download and download[-1][1:] == (remote.stored_size, remote.stored_size, "bytes"), download


def test_a_recovery_on_a_terminal_draws_bytes_and_asks_without_replacing_on_a_fresh_folder(
    engine, tmp_path, quick_identity
):
    usb, bid, pw = _copy(engine, tmp_path, quick_identity)
    new = tmp_path / "new"  # a new computer: no data folder yet
    t = Terminal("backup", "restore", bid, "--from-folder", str(usb), "--passphrase-file", str(pw), data_dir=new)
    t.read_until(r"\[y/N\]")
    assert f"Restore {bid} from {usb}?" in t.text, t.text
    assert "Replace your current data" not in t.text and "safety backup" not in t.text, t.text
    t.type("y")
    assert t.wait() == 0, t.text
    assert re.search(r"Decrypting: +\d+%.*\d(\.\d+)?[kMG]?B/\d", t.text), t.text  # a bar in bytes
    assert "Decrypting…" not in t.text, t.text  # not a spinner
    assert f"Restored {bid}" in t.text


def test_a_folder_holding_data_is_still_asked_about_replacing_it(engine, tmp_path, quick_identity):
    usb, bid, pw = _copy(engine, tmp_path, quick_identity)
    t = Terminal(
        "backup", "restore", bid, "--from-folder", str(usb), "--passphrase-file", str(pw), data_dir=engine.data.root
    )
    t.read_until(r"\[y/N\]")
    assert "Replace your current data" in t.text and "A safety backup" in t.text, t.text
    t.type("n")
    assert t.wait() == 1 and "Nothing was restored." in t.text
