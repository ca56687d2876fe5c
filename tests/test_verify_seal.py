"""The seal in a backup's manifest (issue 13, verify <= 1.0x a bare integrity_check): a digest of the size and
both checksums, written when both come from one read of the file. While it holds, `backup verify` proves the
file by BLAKE3 alone (the seal ties the recorded SHA-256 to the recorded BLAKE3); a manifest without a seal, or
with a size, checksum or seal changed since, is checked with both checksums as before (finding H6), and a
full check that proves both seals it (again)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import blake3
import pytest
from conftest import run_cli
from jobmatcher import verify as verify_mod
from jobmatcher.errors import InvalidBackupError
from jobmatcher.manifest import BackupType, compute_seal, manifest_path, read_manifest, seal_holds


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


def _edit(path: str | Path, **fields) -> None:
    """Change fields of the backup's manifest as a hand edit or another tool would (None: remove it)."""
    mpath = manifest_path(Path(path))
    raw = json.loads(mpath.read_text())
    for k, v in fields.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    mpath.write_text(json.dumps(raw, indent=2))


def _raw(path: str | Path) -> dict:
    return json.loads(manifest_path(Path(path)).read_text())


def _change_text(path: str | Path) -> None:
    """One letter inside a row's text: integrity_check cannot see it, a checksum can."""
    data = bytearray(Path(path).read_bytes())
    at = data.find(b"full_name")
    assert at > 0
    data[at] = ord("F")
    Path(path).write_bytes(bytes(data))


def test_the_seal_is_blake3_derive_key_of_the_size_and_both_checksums(engine):
    b = engine.create_backup()
    raw = _raw(b.path)
    data = Path(b.path).read_bytes()
    sha, b3 = hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest()
    assert (raw["sha256"], raw["blake3"], raw["size_bytes"]) == (sha, b3, len(data))
    # computed here independently of manifest.py: the documented construction, fixed for older and newer versions
    text = f"size={len(data)}\nsha256={sha}\nblake3={b3}\n".encode()
    expected = blake3.blake3(text, derive_key_context="JobMatcher 2026-12-01 backup manifest seal v1").hexdigest()
    assert raw["seal"] == expected == compute_seal(len(data), sha.upper(), b3.upper())
    assert seal_holds(read_manifest(Path(b.path)))
    with pytest.raises(ValueError):
        compute_seal(len(data), "0" * 63, b3)


def test_a_sealed_backup_is_verified_by_blake3_alone(engine, algorithms):
    b = engine.create_backup()
    algorithms.clear()
    result = engine.verify(b.id)
    assert algorithms == ["blake3"]  # the seal proves the recorded SHA-256: it is not computed again
    assert result.sha256 == hashlib.sha256(Path(b.path).read_bytes()).hexdigest()
    assert engine.store.get(b.id).verified is True
    assert seal_holds(read_manifest(Path(b.path)))  # still sealed after the check wrote its result
    # the same by its path (a listed backup named by its file, or one beside its manifest elsewhere: H7)
    algorithms.clear()
    engine.verify(b.path)
    assert algorithms == ["blake3"]


def test_a_sealed_manifest_whose_sha256_was_edited_is_refused(engine, algorithms):
    """H6 with the seal: an edited SHA-256 breaks the seal, so both checksums are computed and the one that
    disagrees fails the check, by id and by path."""
    b = engine.create_backup()
    _edit(b.path, sha256="0" * 64)
    assert not seal_holds(read_manifest(Path(b.path)))
    algorithms.clear()
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert sorted(algorithms) == ["blake3", "sha256"]
    assert engine.store.get(b.id).verified is False
    assert _raw(b.path)["sha256"] == "0" * 64  # a failed check writes no checksum (nor a seal)
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(b.path)
    assert e.value.reason == "checksum-mismatch"


def test_an_edited_sha256_with_a_seal_made_for_it_is_the_attackers_case(engine):
    """What the seal does not protect against (README): whoever rewrites the manifest can compute a new seal.
    Then BLAKE3 alone is compared and the wrong SHA-256 is not noticed by verify; the location's read-back
    still compares SHA-256 and names the backup, not the drive (H6's message)."""
    b = engine.create_backup()
    raw = _raw(b.path)
    forged = "1" * 64
    _edit(b.path, sha256=forged, seal=compute_seal(raw["size_bytes"], forged, raw["blake3"]))
    assert seal_holds(read_manifest(Path(b.path)))
    engine.verify(b.id)  # documented: the seal guards against edits and tools, not against a forger


def test_a_manifest_whose_seal_was_edited_is_checked_in_full_and_sealed_again(engine, algorithms):
    b = engine.create_backup()
    good = _raw(b.path)["seal"]
    _edit(b.path, seal="f" * 64)
    algorithms.clear()
    engine.verify(b.id)
    assert sorted(algorithms) == ["blake3", "sha256"]  # no holding seal: both checksums, as before it
    assert _raw(b.path)["seal"] == good  # both proven from one read: sealed again
    algorithms.clear()
    engine.verify(b.id)
    assert algorithms == ["blake3"]


@pytest.mark.parametrize("field", ["size_bytes", "blake3"])
def test_a_sealed_manifest_with_another_field_edited_is_not_trusted_by_its_seal(engine, algorithms, field):
    b = engine.create_backup()
    raw = _raw(b.path)
    _edit(b.path, **{field: raw[field] + 4096 if field == "size_bytes" else "0" * 64})
    assert not seal_holds(read_manifest(Path(b.path)))
    algorithms.clear()
    if field == "blake3":
        with pytest.raises(InvalidBackupError) as e:
            engine.verify(b.id)
        assert e.value.reason == "checksum-mismatch"
    else:  # the size is the check's to record: both checksums prove the file, and it is sealed again
        engine.verify(b.id)
        assert _raw(b.path)["size_bytes"] == raw["size_bytes"] and _raw(b.path)["seal"] == raw["seal"]
    assert sorted(algorithms) == ["blake3", "sha256"]


def test_a_sealed_backup_whose_file_changed_is_refused(engine, algorithms):
    b = engine.create_backup()
    _change_text(b.path)
    algorithms.clear()
    with pytest.raises(InvalidBackupError) as e:
        engine.verify(b.id)
    assert e.value.reason == "checksum-mismatch"
    assert algorithms == ["blake3"]  # BLAKE3 alone sees the change
    assert engine.store.get(b.id).verified is False
    with pytest.raises(InvalidBackupError) as e:
        engine.restore(b.id)
    assert e.value.reason == "checksum-mismatch"


def test_checksums_and_seal_in_capitals_keep_the_seal(engine, algorithms):
    """H6's addendum: a tool that rewrote the hex in capitals changed nothing; the seal still holds."""
    b = engine.create_backup()
    raw = _raw(b.path)
    _edit(b.path, sha256=raw["sha256"].upper(), blake3=raw["blake3"].upper(), seal=raw["seal"].upper())
    assert seal_holds(read_manifest(Path(b.path)))
    algorithms.clear()
    engine.verify(b.id)
    assert algorithms == ["blake3"]
    r = run_cli("backup", "verify", b.id, data_dir=engine.data.root)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_an_older_manifest_is_checked_in_full_then_sealed(engine, algorithms):
    """A manifest of an older version (no seal; the oldest without BLAKE3 either): both checksums are computed
    and compared; they come from one read, so the check seals it and the next check needs BLAKE3 only."""
    for drop in (("seal",), ("seal", "blake3")):
        b = engine.create_backup()
        sealed = _raw(b.path)
        _edit(b.path, **dict.fromkeys(drop))
        algorithms.clear()
        engine.verify(b.id)
        assert sorted(algorithms) == ["blake3", "sha256"]
        now = _raw(b.path)
        assert (now["blake3"], now["seal"]) == (sealed["blake3"], sealed["seal"])
        algorithms.clear()
        engine.verify(b.id)
        assert algorithms == ["blake3"]


def test_an_older_version_reads_a_sealed_manifest(engine):
    """The seal is one optional key more: a reader that knows none of it (extra keys ignored, as every
    version's Manifest does) reads the manifest as before."""
    from jobmatcher.manifest import Manifest

    b = engine.create_backup()
    raw = _raw(b.path)
    assert "seal" in raw
    older = {k: v for k, v in raw.items() if k != "seal"}
    assert Manifest.model_validate_json(json.dumps(raw)).model_dump(exclude={"seal"}) == (
        Manifest.model_validate_json(json.dumps(older)).model_dump(exclude={"seal"})
    )
    assert Manifest.model_config.get("extra") == "ignore"


def test_raw_and_safety_copies_are_sealed(engine):
    raw_copy = engine.store.create_raw_copy(engine.data.db_path, BackupType.safety, "kept as is", "unreadable")
    m = read_manifest(Path(raw_copy.path))
    assert m is not None and m.blake3 == blake3.blake3(Path(raw_copy.path).read_bytes()).hexdigest()
    assert seal_holds(m)
    made = engine.store.create(engine.data.db_path, BackupType.safety, note="safety")
    assert seal_holds(read_manifest(Path(made.path)))
