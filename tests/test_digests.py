"""BLAKE3 beside SHA-256 in a backup's manifest (issue 13): a new backup records both checksums of the
bytes that passed its check; verify and restore prove a backup by BLAKE3 when its manifest has it, by
SHA-256 when it does not (manifests of older versions, which verify then completes); either way a backup
changed after its check is refused, and a manifest whose two checksums disagree is never trusted."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import blake3
import pytest
from conftest import fingerprint
from jobmatcher import digests
from jobmatcher import restore as restore_mod
from jobmatcher import verify as verify_mod
from jobmatcher.errors import InvalidBackupError
from jobmatcher.manifest import manifest_path, read_manifest


def _b3(path: Path) -> str:
    return blake3.blake3(Path(path).read_bytes()).hexdigest()


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _as_older_version(path: Path) -> None:
    """The manifest as a version before issue 13 wrote it: no BLAKE3 (and so no seal)."""
    m = manifest_path(Path(path))
    raw = json.loads(m.read_text())
    raw.pop("blake3", None)
    raw.pop("seal", None)
    m.write_text(json.dumps(raw, indent=2))


def _change_text(path: Path) -> None:
    """One letter inside a row's text: integrity_check cannot see it, a checksum can."""
    data = bytearray(Path(path).read_bytes())
    at = data.find(b"full_name")
    assert at > 0
    data[at] = ord("F")
    Path(path).write_bytes(bytes(data))


@pytest.fixture
def algorithms(monkeypatch) -> list[str]:
    """The checksums verify computed, in order."""
    used: list[str] = []
    real = verify_mod.file_digests

    def spy(src, algorithms=("sha256", "blake3")):
        used.extend(algorithms)
        return real(src, algorithms)

    monkeypatch.setattr(verify_mod, "file_digests", spy)
    return used


def test_file_and_buffer_digests_are_the_reference_ones(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(bytes(range(256)) * 5000 + b"tail")
    data = f.read_bytes()
    assert digests.file_digest(f, digests.SHA256) == hashlib.sha256(data).hexdigest()
    assert digests.file_digest(f, digests.BLAKE3) == blake3.blake3(data).hexdigest()
    assert digests.buffer_digest(bytearray(data), digests.BLAKE3) == blake3.blake3(data).hexdigest()
    with pytest.raises(ValueError):
        digests.new_hash("md5")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "size", [0, 1, digests.SOLO_CHUNK_BYTES - 1, digests.SOLO_CHUNK_BYTES, 3 * digests.SOLO_CHUNK_BYTES + 7]
)
def test_one_checksum_read_alone_in_cache_sized_chunks_is_the_reference_one(tmp_path, size):
    """file_digest reads SOLO_CHUNK_BYTES at a time (smaller than file_digests' chunks): each digest is the
    reference one of the whole file, at every chunk boundary."""
    assert digests.SOLO_CHUNK_BYTES < digests.CHUNK_BYTES
    f = tmp_path / "f.bin"
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    f.write_bytes(data)
    assert digests.file_digest(f, digests.SHA256) == hashlib.sha256(data).hexdigest()
    assert digests.file_digest(f, digests.BLAKE3) == blake3.blake3(data).hexdigest()
    with pytest.raises(FileNotFoundError):
        digests.file_digest(tmp_path / "missing.bin", digests.BLAKE3)


@pytest.mark.parametrize("size", [0, 1, digests.CHUNK_BYTES - 1, digests.CHUNK_BYTES, 3 * digests.CHUNK_BYTES + 7])
def test_one_read_gives_every_digest_of_the_same_bytes(tmp_path, size):
    """file_digests reads the file once for both checksums (two buffers, two threads): each digest is the
    reference one of the whole file, at every chunk boundary."""
    f = tmp_path / "f.bin"
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    f.write_bytes(data)
    want = {"sha256": hashlib.sha256(data).hexdigest(), "blake3": blake3.blake3(data).hexdigest()}
    assert digests.file_digests(f) == want
    assert digests.file_digests(f, ("blake3", "sha256")) == want
    assert digests.file_digests(f, ("blake3",)) == {"blake3": want["blake3"]}
    assert digests.file_digests(f, ()) == {}
    with pytest.raises(FileNotFoundError):
        digests.file_digests(tmp_path / "missing.bin")


@pytest.mark.parametrize("kernel_copy", [True, False])
@pytest.mark.parametrize("size", [0, 5, 3 * (1 << 20) + 7])
def test_a_restores_staged_copy_is_hashed_as_it_is_written(tmp_path, monkeypatch, kernel_copy, size):
    """restore's copy is hashed by digests.FollowingDigests as the kernel writes it, chunk after chunk: the
    digests are the reference ones of the whole file, also where each chunk is written through Python's
    buffered file (no copy_file_range: each is flushed before it is read back), and the copy is private."""
    from jobmatcher import fsutil

    monkeypatch.setattr(fsutil, "CHUNK", 1 << 20)  # several chunks, so the hashing trails the copy
    if not kernel_copy:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    src, dest = tmp_path / "src.db", tmp_path / "staged.db"
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    src.write_bytes(data)
    said: list[int] = []
    got = restore_mod._copy_hashed(src, dest, lambda _p, done, total, _u: said.append(done), ("sha256", "blake3"))
    assert got == {"sha256": hashlib.sha256(data).hexdigest(), "blake3": blake3.blake3(data).hexdigest()}
    assert dest.read_bytes() == data
    assert dest.stat().st_mode & 0o777 == 0o600
    assert said == sorted(said) and (said[-1] == size if said else size == 0)
    assert restore_mod._copy_hashed(src, dest, lambda *a: None, ("blake3",)) == {"blake3": got["blake3"]}


def test_a_new_backup_records_both_checksums_of_its_bytes(engine):
    b = engine.create_backup()
    m = read_manifest(Path(b.path))
    assert m is not None and m.verified is True
    assert m.sha256 == _sha(b.path) and m.blake3 == _b3(b.path)


def test_verify_compares_every_recorded_checksum(engine, algorithms):
    b = engine.create_backup()
    assert algorithms == []  # the new backup's copy is hashed as it is copied (both), not read again
    algorithms.clear()
    result = engine.verify(b.id)
    # verify: both recorded checksums must hold (H6); the manifest's seal ties them, so BLAKE3 proves both
    # (tests/test_verify_seal.py: without a holding seal both are computed)
    assert algorithms == ["blake3"]
    assert result.sha256 == _sha(b.path)
    _as_older_version(Path(b.path))  # no BLAKE3, no seal
    algorithms.clear()
    engine.verify(b.id)
    assert sorted(algorithms) == ["blake3", "sha256"]


def test_an_older_manifest_is_proven_by_sha256_and_gets_blake3(engine, algorithms):
    b = engine.create_backup()
    _as_older_version(Path(b.path))
    assert read_manifest(Path(b.path)).blake3 is None
    algorithms.clear()
    engine.verify(b.id)
    assert sorted(algorithms) == ["blake3", "sha256"]
    assert read_manifest(Path(b.path)).blake3 == _b3(b.path)
    algorithms.clear()
    engine.verify(b.id)
    assert algorithms == ["blake3"]  # now both are recorded from one read and sealed: BLAKE3 proves both (H6)


@pytest.mark.parametrize("manifest", ["new", "older"])
def test_a_backup_changed_after_its_check_fails_verify_and_restore(engine, manifest):
    b = engine.create_backup()
    if manifest == "older":
        _as_older_version(Path(b.path))
    _change_text(Path(b.path))
    before = fingerprint(engine.data.db_path)
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert engine.store.get(b.id).verified is False
    with pytest.raises(InvalidBackupError) as e:
        engine.restore(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert fingerprint(engine.data.db_path) == before


@pytest.mark.parametrize("manifest", ["new", "older"])
def test_a_verified_backup_changed_before_its_restore_is_refused_at_staging(engine, manifest, monkeypatch):
    """The restore of a listed, verified backup proves it by the checksum of its staged copy (BLAKE3 when the
    manifest has it): a change made after its check is refused there, and nothing live is touched."""
    staged_with = []
    real = restore_mod._copy_hashed

    def spy(source, dest, say, algorithms=("sha256",)):
        staged_with.append("+".join(algorithms))
        return real(source, dest, say, algorithms)

    monkeypatch.setattr(restore_mod, "_copy_hashed", spy)
    b = engine.create_backup()
    if manifest == "older":
        _as_older_version(Path(b.path))
    assert engine.store.get(b.id).verified is True
    _change_text(Path(b.path))
    before = fingerprint(engine.data.db_path)
    listed = sorted(r.id for r in engine.list_backups())
    with pytest.raises(InvalidBackupError) as e:
        engine.restore(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert staged_with == ["blake3" if manifest == "new" else "sha256"]
    assert fingerprint(engine.data.db_path) == before
    assert sorted(r.id for r in engine.list_backups()) == listed
    # and unchanged, it restores, proven the same way
    staged_with.clear()
    good = engine.create_backup()
    if manifest == "older":
        _as_older_version(Path(good.path))
    engine.restore(good.id)
    assert staged_with == ["blake3" if manifest == "new" else "sha256"]


def test_a_manifest_whose_blake3_does_not_match_is_not_trusted(engine):
    b = engine.create_backup()
    m = manifest_path(Path(b.path))
    raw = json.loads(m.read_text())
    raw["blake3"] = "0" * 64  # the SHA-256 still matches the file
    m.write_text(json.dumps(raw))
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id)
    assert e.value.reason == "checksum-mismatch"


def test_an_automatic_backup_reads_its_copy_once_for_both_checksums(engine, monkeypatch):
    """An automatic backup hashes its copy to find an identical backup (then it keeps none); when none is,
    the check takes those checksums as found: the copy is hashed once for both (while it is copied, so
    never read again for them: tests/test_create_overlap.py), and the manifest still holds the reference
    checksums of the bytes that passed the check."""
    from jobmatcher.manifest import BackupType

    reads: list[tuple[str, ...]] = []
    real = digests.file_digests

    def spy(src, algorithms=("sha256", "blake3")):
        reads.append(tuple(algorithms))
        return real(src, algorithms)

    monkeypatch.setattr(digests, "file_digests", spy)  # backups.py imports it where it hashes (issue 13's list)
    monkeypatch.setattr(verify_mod, "file_digests", spy)
    first = engine.store.create(engine.data.db_path, BackupType.auto, reuse_identical=True)
    assert reads == []  # no backup to match yet: hashed while copied, no second read in the check
    reads.clear()
    again = engine.store.create(engine.data.db_path, BackupType.auto, reuse_identical=True)
    assert again.unchanged and again.id == first.id and reads == []
    conn = engine.connect()
    try:
        with conn:
            conn.execute("INSERT INTO saved_jobs (title, company, description) VALUES ('Pilot', 'Air', 'Fly.')")
    finally:
        conn.close()
    reads.clear()
    new = engine.store.create(engine.data.db_path, BackupType.auto, reuse_identical=True)
    assert not new.unchanged and new.id != first.id and reads == []
    m = read_manifest(Path(new.path))
    assert m is not None and m.verified is True
    assert m.sha256 == _sha(new.path) and m.blake3 == _b3(new.path)
