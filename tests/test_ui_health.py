"""The status line in a real Chromium: the health rule's summary, outside changes, amber and red."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from jobmatcher.engine import Engine
from playwright.sync_api import Page, expect
from test_ui_browser import open_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
# The README's pictures of the status line are taken here when asked (JOBMATCHER_DOCS_SCREENSHOTS=1);
# otherwise they go to test-artifacts/ with the other screenshots.
DOCS = ROOT / ("docs" if os.environ.get("JOBMATCHER_DOCS_SCREENSHOTS") == "1" else "test-artifacts")


def test_the_status_line_follows_backups_made_from_outside_and_turns_red(page: Page, start_app, app_data, tmp_path):
    app = start_app(app_data, "--browser")
    open_app(page, app)
    status = page.locator("#backup-status")
    expect(status).to_contain_text(re.compile(r"Last backup just now · next in (29|30) minutes · 1 backup, \d"))
    expect(status).to_have_attribute("data-level", "ok")
    DOCS.mkdir(exist_ok=True)
    status.screenshot(path=str(DOCS / "status-line.png"))

    # a backup made in a terminal while the app runs shows up within a few seconds, no reload
    from conftest_app import set_profile_name

    set_profile_name(app_data, "Changed in another program")
    r = run_cli("backup", "create", "--note", "from the terminal", data_dir=app_data)
    assert r.returncode == 0, r.stderr
    expect(status).to_contain_text("2 backups", timeout=8000)
    expect(page.locator("#backup-rows tr").first).to_contain_text("from the terminal")

    # the chosen backup folder goes away (an unplugged drive): red, with what to do, and nothing recreated
    usb = tmp_path / "media" / "usb" / "JobMatcher"
    usb.mkdir(parents=True)
    Engine(app_data).update_settings({"backup_dir": str(usb)})
    shutil.rmtree(usb)
    expect(status).to_have_attribute("data-level", "error", timeout=8000)
    expect(status).to_contain_text("Backup folder not available · backups resume when it is back")  # K8
    expect(status).to_contain_text("is not available — connect the drive or choose another folder")
    expect(status).to_contain_text("Backups resume by themselves once it is back.")
    status.screenshot(path=str(DOCS / "status-line-unavailable.png"))
    assert not usb.exists()
