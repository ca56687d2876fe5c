"""The pydantic-core schemas of `backup list` (core_schemas.py) against the models they stand in for.

The models (manifest.Manifest, settings.Settings, manifest.BackupRecord) are the single source of truth. The list
reads without them (listing.py): these tests hold both equal on every manifest and settings case of tests/corpus.py
and on manifests the engine wrote, hostile ones included (same inputs accepted with the same values, same ones
refused), and hold `backup list` and `backup list --json` byte for byte to what the model path prints.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from corpus import manifest_cases, settings_cases
from jobmatcher import cli, core_schemas, listing
from jobmatcher import settings as settings_mod
from jobmatcher.engine import Engine
from jobmatcher.errors import SettingsError
from jobmatcher.manifest import BackupRecord, Manifest, load_manifest_file
from jobmatcher.settings import Settings
from pydantic_core import to_json


def _same(a, b) -> bool:
    """Equal values of the same types (True is not 1, NaN equals NaN), deeply."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, datetime):
        return a == b and a.tzinfo == b.tzinfo and a.utcoffset() == b.utcoffset()
    return a == b


def _outcome(call, *args):
    try:
        return "ok", call(*args)
    except ValueError:  # pydantic's ValidationError (pydantic_core's) is a ValueError
        return "refused", None
    except Exception as e:  # noqa: BLE001 - another exception must be the same one on both sides
        return type(e).__name__, None


def test_the_schemas_have_the_models_fields_in_their_order():
    """A field added to a model (or to the list's record) fails here until it is added to the core schema too."""
    assert list(core_schemas.MANIFEST_SCHEMA["fields"]) == list(Manifest.model_fields)
    assert list(core_schemas.SETTINGS_SCHEMA["schema"]["fields"]) == list(Settings.model_fields)
    assert list(listing.RECORD_FIELDS) == list(BackupRecord.model_fields)  # ListedBackup's fields
    m = core_schemas.manifest_values(b'{"created_at": "2025-03-01T12:00:00Z", "size_bytes": 1}')
    assert list(listing.record_values("x", "/x.db", m)) == list(listing.RECORD_FIELDS)


@pytest.fixture
def real_manifest(engine) -> dict:
    made = engine.create_backup(note="real")
    engine.set_pinned(made.id, True)
    return json.loads(Path(made.path).with_suffix(".json").read_bytes())


def test_manifests_are_accepted_and_refused_alike_with_the_same_values(real_manifest):
    """Every case of tests/corpus.py made from a manifest the engine wrote: wrong types, out-of-range and naive
    dates, extra keys, upper-case hex, huge numbers, texts that are no JSON. Both refuse, or both give the same
    values (types included)."""
    cases = manifest_cases(real_manifest)
    assert len(cases) > 400
    kinds = {"ok": 0, "refused": 0}
    for name, raw in cases.items():
        model = _outcome(lambda r: Manifest.model_validate_json(r).__dict__, raw)
        core = _outcome(core_schemas.manifest_values, raw)
        assert model[0] == core[0], f"{name}: the model {model[0]}, the core schema {core[0]}"
        if model[0] == "ok":
            assert _same(model[1], dict(core[1])), f"{name}: {model[1]} != {core[1]}"
        kinds[model[0]] = kinds.get(model[0], 0) + 1
    assert kinds["ok"] > 100 and kinds["refused"] > 100, kinds  # the corpus has both kinds, many of each


def test_the_unlisted_files_manifest_is_the_models():
    """A file without a readable manifest gets the fields Manifest(...) would give it, on both paths."""
    fields = {
        "type": core_schemas.BackupType.manual,
        "created_at": datetime(1971, 1, 1, tzinfo=timezone.utc),
        "size_bytes": 7,
        "note": "Added to the folder by hand",
        "added_by_hand": True,
    }
    assert _same(Manifest(**fields).__dict__, dict(core_schemas.manifest_values_of(fields)))


def test_settings_are_accepted_and_refused_alike_with_the_same_values():
    """Every settings case of tests/corpus.py, as load_settings validates them (json.loads, then the model)."""
    kinds: dict[str, int] = {}
    for name, data in settings_cases().items():
        model = _outcome(lambda d: Settings.model_validate(d).model_dump(), data)
        core = _outcome(core_schemas.settings_values, data)
        assert model[0] == core[0], f"{name}: the model {model[0]}, the core schema {core[0]}"
        if model[0] == "ok":
            assert _same(model[1], dict(core[1])), f"{name}: {model[1]} != {core[1]}"
        kinds[model[0]] = kinds.get(model[0], 0) + 1
    assert kinds["ok"] > 20 and kinds["refused"] > 50, kinds


def test_a_damaged_settings_file_is_reported_in_the_models_words(tmp_path, monkeypatch):
    """listing.read_settings reads a sound file with the core schema alone (the model is never asked), gives the
    defaults for a missing file, and refuses every damaged one as load_settings words it: a SettingsError naming
    the file and, in the file's own keys, what is wrong; never pydantic's internals. (It hands each refusal to
    load_settings for those words, so comparing its message with load_settings' own would compare it with itself.)
    """
    asked: list[Path] = []
    real_load = settings_mod.load_settings

    def load_settings_spy(p: Path) -> Settings:
        asked.append(p)
        return real_load(p)

    monkeypatch.setattr(settings_mod, "load_settings", load_settings_spy)
    path = tmp_path / "settings.json"
    assert _same(listing.read_settings(path), Settings().model_dump()) and asked == []
    kinds = {"ok": 0, "refused": 0}
    damaged = f"The settings file {path} is damaged: "
    hint = settings_mod.damaged_settings_error(path, "").hint  # FINDINGS20 6: how to fix it, moving it away safely
    for name, data in settings_cases().items():
        text = json.dumps(data)
        path.write_text(text)
        asked.clear()
        model = _outcome(lambda d: Settings.model_validate(d).model_dump(), json.loads(text))
        if model[0] == "ok":
            assert _same(model[1], dict(listing.read_settings(path))), name
            assert asked == [], f"{name}: a sound file was read again with the model"
            kinds["ok"] += 1
            continue
        with pytest.raises(SettingsError) as e:
            listing.read_settings(path)
        kinds["refused"] += 1
        words = e.value.message
        assert words.startswith(damaged) and len(words) > len(damaged) and e.value.hint == hint, name
        key = re.split("[=-]", name)[0]
        if key in Settings.model_fields or key == "auto_backup_hours":
            assert key in words, f"{name}: {words}"
        for internal in ("pydantic", "Settings", "input_value", "type="):
            assert internal not in words, f"{name}: {words}"
    assert kinds["ok"] > 20 and kinds["refused"] > 50, kinds
    for raw in (b"{not json", b"", b"\xff", b'{"retention_days": 7} trailing'):
        path.write_bytes(raw)
        with pytest.raises(SettingsError) as e:
            listing.read_settings(path)
        assert e.value.message.startswith(damaged) and e.value.hint == hint, raw


# -- the whole list, both ways ---------------------------------------------------------------------------


def _varied_folder(engine: Engine, real_manifest: dict) -> None:
    """Backups of every kind the list shows: sound, pinned, failed, checking, made by a newer version, another data
    folder's, dated in the future, each hostile manifest of the corpus, missing and damaged manifests, and files
    not listed (a live database, a link), plus a previous backup folder (one there, one gone)."""
    folder = engine.store.folder
    newest = engine.list_backups()[0]
    db = Path(newest.path)
    variants = {
        "failed": {"verified": False, "verify_message": "database disk image is malformed"},
        "checking": {"verified": None, "verify_message": "checking"},
        "newer": {"verified": True, "schema_revision": "9999_from_the_future"},
        "newer-version": {"verified": None, "verify_message": "newer-version", "schema_revision": "9999_x"},
        "other-folder": {"data_folder_id": "someone-else"},
        "future": {"created_at": (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()},
        "no-folder-id": {"data_folder_id": None},
        "by-hand-flag": {"added_by_hand": True},
        "old": {"created_at": "2020-01-01T00:00:00Z", "sequence": None},
        "note-control": {"note": "line\x1b[31m red\tand tab"},
    }
    for n, (name, raw) in enumerate(manifest_cases(real_manifest).items()):
        if n % 3 == 0 or name.startswith(("created_at", "type", "sequence", "verified", "extra")):
            target = folder / f"case {name[:60]}.db"
            shutil.copyfile(db, target)
            target.with_suffix(".json").write_bytes(raw)
    for name, changes in variants.items():
        target = folder / f"backup_2025-01-0{len(name) % 9 + 1}_00-00-0{len(name) % 7}_{len(name)}.db"
        if target.exists():
            target = folder / f"variant {name}.db"
        shutil.copyfile(db, target)
        target.with_suffix(".json").write_text(json.dumps({**real_manifest, **changes}))
    shutil.copyfile(db, folder / "by hand.db")  # no manifest
    shutil.copyfile(db, folder / "damaged.db")
    (folder / "damaged.json").write_bytes(b"{broken")
    shutil.copyfile(db, folder / "huge manifest.db")
    (folder / "huge manifest.json").write_bytes(b" " * (listing.MAX_MANIFEST_BYTES + 1))
    shutil.copyfile(db, folder / "fifo manifest.db")
    os.mkfifo(folder / "fifo manifest.json")
    shutil.copyfile(db, folder / "in use.db")
    (folder / "in use.db-wal").write_bytes(b"")
    shutil.copyfile(db, folder / "open elsewhere.db")
    (folder / "open elsewhere.db-shm").write_bytes(b"")
    (folder / "link.db").symlink_to(db)
    old = engine.data.root.parent / "old backups"
    old.mkdir()
    shutil.copyfile(db, old / db.name)
    shutil.copyfile(db.with_suffix(".json"), old / db.with_name(db.stem + ".json").name)
    body = engine.settings.model_dump()  # previous folders, as a change of folder leaves them
    body["previous_backup_dirs"] = [str(old), str(engine.data.root.parent / "gone")]
    engine.data.settings_path.write_text(json.dumps(body))


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _old_path(monkeypatch) -> None:
    """`backup list` reads through the engine and its models, as before listing.py."""

    def through_the_engine(data_dir, skipped=None):
        engine = Engine(data_dir, read_only=True)
        return engine.list_backups(skipped), engine.previous_backups()

    monkeypatch.setattr(listing, "list_backups", through_the_engine)


def test_backup_list_prints_what_the_model_path_prints(engine, real_manifest, capsys, monkeypatch):
    """The table and --json, byte for byte (stderr too: files not listed, previous folders, the warning) and the
    same exit code, read with the core schemas and read through the engine's models; --json also equals what the
    records serialize to as models (the old command's own expression)."""
    _varied_folder(engine, real_manifest)
    root = str(engine.data.root)
    new = {extra: _run(capsys, "--data-dir", root, "backup", "list", *extra) for extra in ((), ("--json",))}
    rows = Engine(root, read_only=True).list_backups()
    assert len(rows) > 150 and {r.manifest for r in rows} == {"ok", "missing", "unreadable"}
    assert any(r.future for r in rows) and any(not r.owned for r in rows) and any(r.pinned for r in rows)
    old_json = to_json(rows, indent=2, exclude={"__all__": {"verify_message", "has_manifest"}}).decode() + "\n"
    assert new[("--json",)][0] == 0 and new[("--json",)][1] == old_json
    with monkeypatch.context() as m:
        _old_path(m)
        old = {extra: _run(capsys, "--data-dir", root, "backup", "list", *extra) for extra in ((), ("--json",))}
    assert new == old
    table = new[()]
    assert (
        "manifest unreadable" in table[1] and "DATED IN THE FUTURE" in table[1] and "link.db is not listed" in table[2]
    )
    assert "In the previous backup folder" in table[2] and "\x1b" not in table[1]


@pytest.mark.parametrize(
    "spoil",
    ["damaged-settings", "wrong-type-settings", "unavailable-folder", "refused-folder", "no-data-folder"],
)
def test_backup_list_refuses_as_the_model_path_does(engine, capsys, monkeypatch, tmp_path, spoil):
    """Errors read as before, with the same exit code and no traceback: damaged settings (not JSON; a wrong type),
    a chosen folder not there, a folder the rules refuse, a data folder that does not exist."""
    engine.create_backup()
    root = engine.data.root
    settings = engine.data.settings_path
    if spoil == "damaged-settings":
        settings.write_text("{not json")
    elif spoil == "wrong-type-settings":
        settings.write_text(json.dumps({"retention_days": "many", "previous_backup_dirs": 3}))
    elif spoil == "unavailable-folder":
        chosen = tmp_path / "usb"
        chosen.mkdir()
        engine.update_settings({"backup_dir": str(chosen)}, confirmed=True)
        chosen.rename(tmp_path / "unplugged")
    elif spoil == "refused-folder":
        settings.write_text(json.dumps({"backup_dir": "/etc"}))
    else:
        root = tmp_path / "no such folder"
    for extra in ((), ("--json",)):
        new = _run(capsys, "--data-dir", str(root), "backup", "list", *extra)
        with monkeypatch.context() as m:
            _old_path(m)
            old = _run(capsys, "--data-dir", str(root), "backup", "list", *extra)
        assert new == old
        assert "Traceback" not in new[2]
        assert new[0] == (0 if spoil == "no-data-folder" else 1), new


def test_the_list_reads_each_manifest_as_the_model_path_does(engine, real_manifest, tmp_path):
    """Row by row, the core path's values are the model path's (types included), and a manifest the model
    path cannot read is unreadable on both."""
    _varied_folder(engine, real_manifest)
    model_rows = Engine(engine.data.root, read_only=True).list_backups()
    rows, _previous = listing.list_backups(engine.data.root)
    assert [r.id for r in rows] == [r.id for r in model_rows]
    for ours, theirs in zip(rows, model_rows, strict=True):
        assert _same(ours.__dict__, theirs.__dict__), ours.id
    for r in rows:
        path = str(Path(r.path).with_suffix(".json"))
        assert (load_manifest_file(path)[1] == "ok") == (r.manifest == "ok"), r.id


def test_every_manifest_the_engine_writes_reads_alike(engine, tmp_path):
    """The manifests the engine itself writes as it works (a backup, a pin, a check's result, a file added by hand
    then pinned, the safety backup a restore makes): each reads to the same
    values through the model and through the core schema."""
    first = engine.create_backup(note="first")
    second = engine.create_backup(note="second")
    engine.set_pinned(first.id, True)
    engine.verify(second.id)
    folder = engine.store.folder
    shutil.copyfile(first.path, folder / "by hand.db")
    engine.set_pinned("by hand", True)
    engine.restore(first.id)
    written = sorted(p for p in folder.glob("*.json"))
    assert len(written) >= 4
    kinds = set()
    for path in written:
        raw = path.read_bytes()
        model = Manifest.model_validate_json(raw).__dict__
        assert _same(model, dict(core_schemas.manifest_values(raw))), path.name
        kinds.add((model["type"], model["verified"], model["added_by_hand"], model["pinned"]))
    assert len(kinds) >= 4, kinds  # made and pinned, checked, by hand and pinned, a safety backup
