"""FINDINGS8 U4: copies are encrypted only to a recipient proven to be this data folder's key file's, whether or not
locations.json still holds its `recipient_binding` line. Real CLI, real age, a real folder location."""

import json

from conftest import LOCATION_PASSPHRASE, run_cli


def _setup(d, usb, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(LOCATION_PASSPHRASE + "\n")
    assert run_cli("db", "migrate", data_dir=d).returncode == 0
    r = run_cli(
        "location", "add", "folder", str(usb), "--name", "enc", "--passphrase-file", str(pw), "--yes", data_dir=d
    )
    assert r.returncode == 0, r.stderr
    assert run_cli("backup", "create", data_dir=d).returncode == 0
    r = run_cli("location", "sync", "enc", data_dir=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "location-identity.recipient").is_file()  # recorded when the key was made
    return pw, next((usb / "JobMatcher").iterdir())


def _refused(d, ns, copies, words):
    assert run_cli("backup", "create", data_dir=d).returncode == 0
    r = run_cli("location", "sync", "enc", data_dir=d)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and words in out and "Traceback" not in out, out
    assert sorted(p.name for p in ns.glob("*.db.age")) == copies  # nothing encrypted
    st = run_cli("status", data_dir=d)
    assert "enc ✓" not in st.stdout, st.stdout
    ls = run_cli("location", "list", data_dir=d)  # reaching the place does not clear it
    assert words in ls.stdout + ls.stderr, ls
    return out


def test_u4_a_foreign_recipient_without_its_binding_line_is_refused(data_dir, usb, tmp_path, locked_identity):
    """The tester's reproduction: another data folder's recipient, the `recipient_binding` line dropped. T9's fix
    bound it anew and encrypted every new copy to it; now the record beside the key file refuses it."""
    d = data_dir
    _pw, ns = _setup(d, usb, tmp_path)
    copies = sorted(p.name for p in ns.glob("*.db.age"))
    cfg_path = d / "locations.json"
    good = json.loads(cfg_path.read_text())
    bad = {**good, "recipient": locked_identity[2]}
    del bad["recipient_binding"]
    cfg_path.write_text(json.dumps(bad))
    _refused(d, ns, copies, "is not the key of this data folder's key file")
    assert "recipient_binding" not in json.loads(cfg_path.read_text())  # not bound blindly
    _refused(d, ns, copies, "is not the key of this data folder's key file")  # nor at the next sync
    cfg_path.write_text(json.dumps({k: v for k, v in good.items() if k != "recipient_binding"}))
    r = run_cli("location", "sync", "enc", data_dir=d)  # its own recipient, line dropped: the record proves it
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list(ns.glob("*.db.age"))) == len(copies) + 2


def test_u4_an_older_data_folder_is_asked_to_unlock_once(data_dir, usb, tmp_path, locked_identity):
    """No record beside the key file and no binding (an older version's data folder): copies stop with what to
    do; a wrong passphrase changes nothing; `location sync --passphrase-file` unlocks once and copies resume.
    With another folder's recipient, that step refuses and nothing is encrypted."""
    d = data_dir
    pw, ns = _setup(d, usb, tmp_path)
    cfg_path = d / "locations.json"
    good = json.loads(cfg_path.read_text())
    old = {k: v for k, v in good.items() if k != "recipient_binding"}
    (d / "location-identity.recipient").unlink()
    copies = sorted(p.name for p in ns.glob("*.db.age"))

    # another data folder's recipient in an older folder: refused until unlocked, and unlocking refuses it
    cfg_path.write_text(json.dumps({**old, "recipient": locked_identity[2]}))
    out = _refused(d, ns, copies, "cannot tell whether the encryption key in locations.json")
    assert "location sync --passphrase-file" in out, out
    st = run_cli("status", data_dir=d)  # the status says what to do, not only that copies stopped
    assert "enc ✗" in st.stdout and "location sync --passphrase-file FILE" in st.stdout + st.stderr, st
    r = run_cli("location", "sync", "enc", "--passphrase-file", str(pw), data_dir=d)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "is not the key of this data folder's key file" in out, out
    assert sorted(p.name for p in ns.glob("*.db.age")) == copies

    # its own recipient, as an older version left it
    cfg_path.write_text(json.dumps(old))
    (d / "location-identity.recipient").unlink()
    _refused(d, ns, copies, "cannot tell whether the encryption key in locations.json")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    r = run_cli("location", "sync", "enc", "--passphrase-file", str(wrong), data_dir=d)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "does not open" in out and "Traceback" not in out, out
    assert not (d / "location-identity.recipient").exists()
    r = run_cli("location", "sync", "enc", "--passphrase-file", str(pw), data_dir=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list(ns.glob("*.db.age"))) == len(copies) + 2
    assert run_cli("backup", "create", data_dir=d).returncode == 0
    r = run_cli("location", "sync", "enc", data_dir=d)  # from now on, without the passphrase
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list(ns.glob("*.db.age"))) == len(copies) + 3


def test_u4_a_t9_binding_is_taken_as_proof_and_recorded(data_dir, usb, tmp_path):
    """A data folder of T9's version (binding in locations.json, no record beside the key file) goes on without
    a step, and gets the record."""
    d = data_dir
    _pw, ns = _setup(d, usb, tmp_path)
    (d / "location-identity.recipient").unlink()
    assert run_cli("backup", "create", data_dir=d).returncode == 0
    r = run_cli("location", "sync", "enc", data_dir=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "location-identity.recipient").is_file()
    assert oct((d / "location-identity.recipient").stat().st_mode & 0o777) == "0o600"
