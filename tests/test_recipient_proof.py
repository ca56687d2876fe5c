"""FINDINGS8 U4: copies are encrypted only to a recipient proven to be this data folder's key file's, whether or not
locations.json still holds its `recipient_binding` line. Real CLI, real age, a real folder location."""

import json
import os
from pathlib import Path

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


def _unproven(d, usb, tmp_path):
    """A data folder as an older version left it (no record beside the key file, no binding), its encrypted
    copies stopped as recipient-unproven; (passphrase file, the location's folder, copies there)."""
    pw, ns = _setup(d, usb, tmp_path)
    cfg_path = d / "locations.json"
    cfg_path.write_text(
        json.dumps({k: v for k, v in json.loads(cfg_path.read_text()).items() if k != "recipient_binding"})
    )
    (d / "location-identity.recipient").unlink()
    copies = sorted(p.name for p in ns.glob("*.db.age"))
    _refused(d, ns, copies, "cannot tell whether the encryption key in locations.json")
    return pw, ns, copies


def test_u4_the_page_unlocks_the_key_once_through_its_api(data_dir, usb, tmp_path, monkeypatch):
    """FINDINGS8 U4 on the page: its hint named the terminal's `location sync --passphrase-file`, and the window had
    no way to do that one step. unlock_location_key(passphrase) does it (validated, the passphrase never in an
    answer, a log or a file), then copies as Sync now; health's page hint names the page's field."""
    import time

    from jobmatcher.api import Api
    from jobmatcher.engine import Engine

    d = data_dir
    _pw, ns, copies = _unproven(d, usb, tmp_path)
    api = Api(Engine(d), mode="browser")
    api._begin_launch()
    api._wait_launched(30)
    try:

        def call(name, *args):
            return api._dispatch(name, list(args))

        [row] = call("locations_overview")["value"]["locations"]
        assert row["problem_code"] == "recipient-unproven", row
        health = call("backup_overview")["value"]["health"]
        warnings = [w for w in health["warnings"] if w["code"] == "recipient-unproven"]
        assert warnings and "Unlock and copy" in warnings[0]["hint"] and "--passphrase" not in warnings[0]["hint"]

        r = call("unlock_location_key", "")
        assert not r["ok"] and r["error"]["code"] == "invalid-input", r
        wrong = "not-the-passphrase-9f3c"
        r = call("unlock_location_key", wrong)
        assert not r["ok"] and "does not open" in r["error"]["message"], r
        assert wrong not in json.dumps(r)
        assert not (d / "location-identity.recipient").exists()  # nothing recorded
        assert sorted(p.name for p in ns.glob("*.db.age")) == copies

        r = call("unlock_location_key", LOCATION_PASSPHRASE)
        assert r["ok"] and LOCATION_PASSPHRASE not in json.dumps(r), r
        deadline = time.monotonic() + 60
        while call("locations_overview")["value"]["sync"]["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        [row] = call("locations_overview")["value"]["locations"]
        assert row["problem_code"] == "" and row["pending"] == 0, row
        assert (d / "location-identity.recipient").is_file()
        assert len(list(ns.glob("*.db.age"))) == len(copies) + 1  # the copy that waited
    finally:
        api._close()
    logs = os.environ["JOBMATCHER_LOG_DIR"]
    for secret in (wrong, LOCATION_PASSPHRASE):
        for folder in (d, usb, Path(logs)):
            for p in folder.rglob("*"):
                if p.is_file():
                    assert secret.encode() not in p.read_bytes(), p
