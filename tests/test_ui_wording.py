"""The page's words in a real Chromium (issue 12, findings F9, F23): files added by hand by their name,
an unplugged backup folder that is not "no backups yet", and one message where there was the same twice."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest_app import screenshot
from jobmatcher.engine import Engine
from playwright.sync_api import Page, expect
from test_ui_browser import open_app

pytestmark = pytest.mark.browser


def test_files_added_by_hand_show_their_name_and_one_count(page: Page, start_app, app_data):
    page.set_viewport_size({"width": 800, "height": 900})
    folder = app_data / "backups"
    ours = next(folder.glob("backup_*.db"))
    for name in ("Résumé before move.db", "2026 März.db", "<img src=x onerror=alert(1)>.db"):
        shutil.copy(ours, folder / name)
    app = start_app(app_data, "--browser")
    open_app(page, app)
    rows = page.locator("#backup-rows tr")
    expect(rows).to_have_count(4)  # ours and three copies by hand
    for stem in ("Résumé before move", "2026 März", "<img src=x onerror=alert(1)>"):
        row = page.locator(f'#backup-rows tr[data-backup-id="{stem}"]')
        expect(row.locator(".file-name")).to_have_text(f"{stem}.db")  # as text: markup stays text
        expect(row.locator(".col-type")).to_have_text("Added by hand")  # not "Manual": JobMatcher did not make it
        expect(row.get_by_role("button", name=f"Delete the file {stem}.db")).to_have_count(1)
    ours_row = page.locator(f'#backup-rows tr[data-backup-id="{ours.stem}"]')
    expect(ours_row.locator(".file-name")).to_have_count(0)
    expect(ours_row.locator(".col-type")).to_contain_text("Manual")
    # the status line counts and sizes the same backups (this data folder's own); the list says what else it shows
    own = Engine(app_data).health().folder.used_bytes
    assert own == ours.stat().st_size
    summary = page.locator(".status-summary")
    expect(summary).to_contain_text("1 backup, ")
    size = re.search(r"1 backup, ([\d.]+) KB", summary.inner_text())
    assert size and abs(float(size.group(1)) * 1000 - own) <= 50, (summary.inner_text(), own)
    expect(page.locator("#backup-count")).to_have_text(
        "4 backups: 1 made here, 3 added by hand or from another data folder"
    )
    screenshot(page, "wording-added-by-hand", full_page=True)


def test_an_unplugged_backup_folder_is_not_no_backups_yet(page: Page, start_app, app_data, tmp_path):
    page.set_viewport_size({"width": 800, "height": 900})
    usb = tmp_path / "media" / "usb"
    usb.mkdir(parents=True)
    e = Engine(app_data)
    e.update_settings({"backup_dir": str(usb)})
    e.create_backup(note="on the drive")
    shutil.rmtree(usb)  # the drive is unplugged
    app = start_app(app_data, "--browser")
    open_app(page, app)
    status = page.locator("#backup-status")
    expect(status).to_have_attribute("data-level", "error")
    expect(status).to_contain_text("is not available — connect the drive or choose another folder")
    empty = page.locator("#no-backups")
    expect(empty).to_be_visible()
    expect(empty).to_have_text(
        "Your backup folder is not available: its backups show here again when the drive is back."
    )
    expect(empty).not_to_contain_text("Back up now")
    expect(page.locator("#backup-count")).to_have_text("")
    page.wait_for_timeout(1500)  # the launch's announcements come right after the page is ready
    # the status box says it, in red: no toast repeats it (the launch's automatic backup, the locations)
    expect(page.locator(".toast")).to_have_count(0)
    screenshot(page, "wording-folder-unplugged", full_page=True)
    assert not usb.exists()
