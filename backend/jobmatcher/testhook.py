"""A scripted run of the real window, for the tests (inert unless both variables below are set).

A window test cannot click inside a Qt WebEngine window from outside, so the
test hands the app a JavaScript file (`JOBMATCHER_TEST_SCRIPT`). Once the page
is ready the app runs it in the page; the script drives the page like a user
(clicks, dialogs) and records what it sees in `window.__jobmatcherTest`. The
app copies that object to `JOBMATCHER_TEST_RESULTS/<pid>.json` whenever it
changes, and closes the window when the script sets `close: true`. The script
has no more power than the page itself. A relaunched app inherits the
variables, so the same script can check the restarted window too (it tells
the runs apart by `app_info().relaunched`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

SCRIPT_ENV = "JOBMATCHER_TEST_SCRIPT"
RESULTS_ENV = "JOBMATCHER_TEST_RESULTS"
LIFETIME = 90  # seconds; a stuck script closes the window rather than hanging the test run


def start_if_asked(window, closing: threading.Event) -> None:
    script, results = os.environ.get(SCRIPT_ENV), os.environ.get(RESULTS_ENV)
    if not script or not results:
        return
    # A daemon thread: it must never keep the process alive after the window closed.
    threading.Thread(
        target=_run, args=(window, Path(script), Path(results), closing), name="jobmatcher-testhook", daemon=True
    ).start()


def _write(results: Path, state: dict) -> None:
    results.mkdir(parents=True, exist_ok=True)
    tmp = results / f".{os.getpid()}.json.tmp"
    tmp.write_text(json.dumps({"pid": os.getpid(), **state}))
    os.replace(tmp, results / f"{os.getpid()}.json")


def _run(window, script: Path, results: Path, closing: threading.Event) -> None:
    deadline = time.monotonic() + LIFETIME
    try:
        if not window.events.loaded.wait(60):
            _write(results, {"error": "the page did not load"})
            return
        while not window.evaluate_js("!!window.__jobmatcherReady") and time.monotonic() < deadline:
            time.sleep(0.1)
        window.evaluate_js(script.read_text())
        last = None
        while not closing.is_set():
            raw = window.evaluate_js("JSON.stringify(window.__jobmatcherTest || {})")
            if raw != last:
                last = raw
                state = json.loads(raw or "{}")
                _write(results, state)
                if state.get("close"):
                    closing.set()
                    window.destroy()
                    return
            if time.monotonic() > deadline:
                _write(results, {**json.loads(last or "{}"), "error": "the test script timed out"})
                window.destroy()
                return
            time.sleep(0.1)
    except Exception as e:  # noqa: BLE001 - report, then let the window go
        log.exception("test hook failed")
        if not closing.is_set():
            _write(results, {"error": f"{type(e).__name__}: {e}"})
            window.destroy()
