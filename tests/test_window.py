"""The real pywebview window (Qt WebEngine, QT_QPA_PLATFORM=offscreen) in a subprocess.

A test cannot click inside the Qt window from outside, so the app's test hook
(jobmatcher/testhook.py) runs a JavaScript file in the page that acts like a
user and records what it sees; the app writes that to <results>/<pid>.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("webview", reason="needs the gui extra (pywebview)")

from conftest_app import lock_owner, pid_alive, profile_name, set_profile_name
from jobmatcher.api import PUBLIC_METHODS

pytestmark = pytest.mark.gui

HELPERS = r"""
const T = (window.__jobmatcherTest = {});
const $ = (s) => document.querySelector(s);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(50);
  }
}
const buttonIn = (root, label) => [...root.querySelectorAll("button")].find((b) => b.textContent.trim() === label);
"""

SMOKE = (
    HELPERS
    + r"""
(async () => {
  try {
    T.title = document.title;
    T.mode = document.body.dataset.mode;
    T.exposed = Object.keys(window.pywebview.api).sort();
    const envelope = await window.pywebview.api.get_profile();  // JS -> Python -> JS
    T.api_ok = envelope.ok;
    T.api_name = envelope.value.full_name;
    T.field_name = $("#full-name").value;
    T.rows = [...document.querySelectorAll("#backup-rows tr")].map((tr) => tr.textContent);
    T.labels = [...document.querySelectorAll("#backup-rows tr:first-child button")].map((b) => b.textContent);
    T.bad_call = await window.pywebview.api.save_profile(42);  // refused with a message, not a traceback
  } catch (e) {
    T.error = String(e);
  }
  T.close = true;
})();
"""
)

RESTORE = (
    HELPERS
    + r"""
(async () => {
  try {
    const info = (await window.pywebview.api.app_info()).value;
    T.relaunched = info.relaunched;
    T.name = await waitFor("the profile", () => $("#full-name").value);
    if (!info.relaunched) {
      const row = await waitFor("the row", () =>
        [...document.querySelectorAll("#backup-rows tr")].find((tr) => tr.textContent.includes("first")));
      buttonIn(row, "Restore…").click();
      const confirm = await waitFor("the confirmation", () => $("dialog[open]"));
      T.confirm = confirm.textContent;
      buttonIn(confirm, "Restore").click();
      const done = await waitFor("the end of the restore",
        () => [...document.querySelectorAll("dialog[open]")].find((d) => d.textContent.includes("Restore complete")));
      T.done = done.textContent;
      // The page itself now asks the app to restart; this window closes.
    } else {
      T.toast = await waitFor("the restart notice", () => document.querySelector("#toasts").textContent);
      T.close = true;
    }
  } catch (e) {
    T.error = String(e);
    T.close = true;
  }
})();
"""
)


def run_script(start_app, data_dir: Path, tmp_path: Path, script: str):
    script_file = tmp_path / "script.js"
    script_file.write_text(script)
    results = tmp_path / "results"
    app = start_app(
        data_dir,
        QT_QPA_PLATFORM="offscreen",
        JOBMATCHER_TEST_SCRIPT=str(script_file),
        JOBMATCHER_TEST_RESULTS=str(results),
    )
    return app, results


def read_result(results: Path, pid: int) -> dict:
    f = results / f"{pid}.json"
    return json.loads(f.read_text()) if f.exists() else {}


def wait_for(what: str, fn, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_window_opens_calls_python_lists_backups_and_closes_cleanly(start_app, app_data, tmp_path):
    app, results = run_script(start_app, app_data, tmp_path, SMOKE)
    code = app.proc.wait(90)
    r = read_result(results, app.proc.pid)
    assert code == 0, "\n".join(app.stderr[-30:])
    assert "error" not in r, r
    assert r["title"] == "JobMatcher"
    assert r["mode"] == "window"
    assert r["api_ok"] is True and r["api_name"] == "Ada Lovelace"
    assert r["field_name"] == "Ada Lovelace"
    # The backup made before, and the automatic one the launch made (the newest was not old, so none).
    assert len(r["rows"]) == 1 and "first" in r["rows"][0]
    assert r["labels"] == ["Restore…", "Verify", "Pin", "Export…", "Delete"]
    # Only the public methods reach the page.
    assert r["exposed"] == sorted(PUBLIC_METHODS)
    assert r["bad_call"]["ok"] is False
    assert r["bad_call"]["error"]["code"] == "invalid-input"
    assert "Traceback" not in json.dumps(r["bad_call"])
    # Closed cleanly: the lock is free again, so the data can be opened at once.
    from jobmatcher.engine import Engine

    e = Engine(app_data)
    e.take_instance_lock()
    e.release_instance_lock()


def test_a_restore_in_the_window_relaunches_the_app_with_the_restored_data(start_app, app_data, tmp_path):
    set_profile_name(app_data, "Grace Hopper")
    app, results = run_script(start_app, app_data, tmp_path, RESTORE)
    first = app.proc.pid

    assert app.proc.wait(60) == 0, "\n".join(app.stderr[-30:])  # the first app exits by itself
    r1 = read_result(results, first)
    assert "error" not in r1, r1
    assert r1["relaunched"] is False
    assert r1["name"] == "Grace Hopper"
    assert "safety backup" in r1["confirm"]
    assert "Restore complete. JobMatcher will restart…" in r1["done"]

    # A new app process, started by the launcher, shows the restored data and closes.
    second = wait_for(
        "the relaunched window's results",
        lambda: next((int(f.stem) for f in results.glob("*.json") if int(f.stem) != first), None),
    )
    r2 = wait_for(
        "the relaunched window to finish",
        lambda: read_result(results, second).get("close") and read_result(results, second),
    )
    assert "error" not in r2, r2
    assert r2["relaunched"] is True
    assert r2["name"] == "Ada Lovelace"
    assert "JobMatcher restarted with your restored data." in r2["toast"]
    wait_for("the relaunched app to exit", lambda: not pid_alive(second), timeout=30)
    assert lock_owner(app_data) == second  # it owned the data folder after the first one
    assert profile_name(app_data) == "Ada Lovelace"
    assert len(list((app_data / "backups").glob("*.db"))) == 2  # "first" + the safety backup
