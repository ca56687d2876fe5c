"""V15e on the page, in a real Chromium against the real app in browser mode: the copies at a location that are
left out because their manifest there cannot be read are said in the restore dialog, in the command line's words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_the_restore_dialog_says_which_copies_at_the_folder_are_not_listed(
    page: Page, start_app, app_data: Path, tmp_path: Path
):
    src, usb = tmp_path / "src", tmp_path / "usb"
    usb.mkdir()
    assert run_cli("db", "migrate", data_dir=src).returncode == 0
    r = run_cli("location", "add", "folder", str(usb), "--name", "usb", "--no-encrypt", "--yes", data_dir=src)
    assert r.returncode == 0, r.stderr
    for note in ("one", "two"):
        assert run_cli("backup", "create", "--note", note, data_dir=src).returncode == 0
    assert run_cli("location", "sync", data_dir=src).returncode == 0
    bad, good = sorted(usb.glob("JobMatcher/*/backup_*.json"))
    bad.write_text(json.dumps({**json.loads(bad.read_text()), "size_bytes": 1e308}))
    said = next(line for line in run_cli("backup", "list", "--from-folder", str(usb), data_dir=tmp_path / "look")
                .stderr.splitlines() if "is not listed" in line)  # fmt: skip

    app = start_app(app_data)
    page.goto(app.url)
    expect(page.get_by_role("button", name="Back up now")).to_be_visible(timeout=20000)
    page.locator("#restore-from-location").click()
    page.locator("#restore-source-kind").select_option("folder")
    page.get_by_label("Folder", exact=True).fill(str(usb))
    page.get_by_role("button", name="Show backups").click()
    dialog = page.get_by_role("dialog", name=re.compile("Choose a backup to restore"))
    expect(dialog).to_be_visible(timeout=20000)
    expect(dialog.locator(".unlisted-copy")).to_have_text([said])
    assert page.locator("#restore-pick option").count() == 1
    assert good.stem not in said
