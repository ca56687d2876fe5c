"""See what you restore: the preview in the restore dialogs (real Chromium), and `backup show`."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli
from conftest_app import screenshot
from jobmatcher.engine import Engine
from jobmatcher.manifest import BackupType
from playwright.sync_api import Page, expect
from test_ui_browser import backup_row, open_app

pytestmark = pytest.mark.browser


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def preview_rows(dialog) -> dict[str, list[str]]:
    rows = {}
    for tr in dialog.locator(".preview-table tbody tr").all():
        cells = [c.inner_text().strip() for c in tr.locator("th, td").all()]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_restore_dialog_shows_then_and_now_and_reads_the_backup_only(page: Page, start_app, app_data):
    app = start_app(app_data, "--browser")
    open_app(page, app)
    page.get_by_label("Name", exact=True).fill("Grace Hopper")
    page.get_by_role("button", name="Save profile").click()
    page.get_by_label("New skill").fill("COBOL")
    page.get_by_role("button", name="Add skill").click()
    expect(page.locator("#skills")).to_contain_text("COBOL")
    before = digest(app_data / "backups")

    backup_row(page, "first").get_by_role("button", name=re.compile("^Restore the backup")).click()
    confirm = page.get_by_role("dialog", name="Restore this backup?")
    table = confirm.get_by_role("table", name="What this backup holds, and your data now")
    expect(table).to_be_visible()
    rows = preview_rows(confirm)
    assert rows["Name"] == ["Ada Lovelace", "Grace Hopper"], rows
    assert rows["Headline"] == ["Analyst", "Analyst"]
    assert rows["Skills"] == ["3", "4"] and rows["Saved jobs"] == ["20", "20"]
    assert rows["Preferences"] == ["1", "1"] and rows["Schema"][0] == rows["Schema"][1]
    screenshot(page, "browser-preview-restore")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert digest(app_data / "backups") == before  # looking changed nothing, not even a -wal or -shm


def test_a_long_unbroken_value_wraps_inside_the_restore_dialog(page: Page, start_app, app_data):
    """Finding G9: a pasted URL as the headline pushed the "Now" column out of the dialog at 800 px."""
    page.set_viewport_size({"width": 800, "height": 600})
    app = start_app(app_data, "--browser")
    open_app(page, app)
    page.get_by_label("Headline", exact=True).fill("https://www.linkedin.com/in/" + "x" * 250)
    page.get_by_role("button", name="Save profile").click()
    backup_row(page, "first").get_by_role("button", name=re.compile("^Restore the backup")).click()
    confirm = page.get_by_role("dialog", name="Restore this backup?")
    table = confirm.get_by_role("table", name="What this backup holds, and your data now")
    expect(table).to_be_visible()
    box = confirm.bounding_box()
    for cell in table.locator("th, td").all():
        b = cell.bounding_box()
        assert b is not None and box is not None
        assert box["x"] <= b["x"] and b["x"] + b["width"] <= box["x"] + box["width"] + 1, (
            cell.inner_text()[:40],
            b,
            box,
        )
    assert preview_rows(confirm)["Headline"][0] == "Analyst"
    confirm.get_by_role("button", name="Cancel").click()


def test_restore_from_a_file_previews_it_and_the_safety_note_names_the_file(page: Page, start_app, app_data, tmp_path):
    exported = tmp_path / "Résumé before move.db"
    shutil.copy(sorted((app_data / "backups").glob("*.db"))[0], exported)
    from conftest_app import set_profile_name

    set_profile_name(app_data, "Someone Else")
    app = start_app(app_data, "--browser")
    open_app(page, app)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Restore from file…").click()
    chooser.value.set_files(str(exported))
    confirm = page.get_by_role("dialog", name="Restore from this file?")
    expect(confirm.locator(".preview-table")).to_be_visible()
    assert preview_rows(confirm)["Name"] == ["Ada Lovelace", "Someone Else"]
    expect(confirm).not_to_contain_text(".uploads")
    confirm.get_by_role("button", name="Restore", exact=True).click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ada Lovelace", timeout=40000)
    safety = [b for b in Engine(app_data).list_backups() if b.type == BackupType.safety]
    assert [b.note for b in safety] == ["Before restoring the file Résumé before move.db"]


def test_the_safety_note_names_a_listed_backup_by_its_date(engine):
    b = engine.create_backup(note="first")
    engine.restore(b.id)
    safety = [r for r in engine.list_backups() if r.type == BackupType.safety]
    assert len(safety) == 1
    assert re.fullmatch(r"Before restoring the backup from \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d", safety[0].note)
    assert "backup_" not in safety[0].note


def test_backup_show_on_the_command_line(engine, tmp_path):
    b = engine.create_backup(note="before the fair")
    conn = engine.connect()
    conn.execute("UPDATE user_profile SET full_name = 'Changed' WHERE id = 1")
    conn.execute("DELETE FROM saved_jobs WHERE id > 10")
    conn.close()
    folder = engine.store.folder
    before = digest(folder)
    r = run_cli("backup", "show", b.id, data_dir=engine.data.root)
    assert r.returncode == 0, r.stderr
    assert "(Manual)" in r.stdout and "Note: before the fair" in r.stdout
    assert re.search(r"Name\s+Ada Lovelace\s+Changed", r.stdout)
    assert re.search(r"Saved jobs\s+50\s+10", r.stdout)
    body = json.loads(run_cli("backup", "show", b.path, "--json", data_dir=engine.data.root).stdout)
    assert body["id"] == b.id  # the listed backup named by its path is that backup (H7), not "a file"
    assert {t["table"]: (t["then"], t["now"]) for t in body["tables"]}["saved_jobs"] == (50, 10)
    assert digest(folder) == before
    bad = tmp_path / "notes.db"
    bad.write_text("not a database")
    r = run_cli("backup", "show", str(bad), data_dir=engine.data.root)
    assert r.returncode == 1 and "notes.db is not a JobMatcher backup: it is not a SQLite database" in r.stderr
    r = run_cli("backup", "show", "backup_nope", data_dir=engine.data.root)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_changing_the_backup_folder_offers_to_move_the_backups(page: Page, start_app, app_data, tmp_path):
    app = start_app(app_data, "--browser")
    open_app(page, app)
    usb = tmp_path / "usb"
    usb.mkdir()
    page.get_by_label("Backup folder").fill(str(usb))
    page.get_by_role("button", name="Save settings").click()
    notice = page.locator("#previous-backups")
    expect(notice).to_contain_text("1 backup")  # one: "is", not "are"
    expect(notice).to_contain_text("is still in your previous backup folder")
    screenshot(page, "browser-previous-backups")
    notice.get_by_role("button", name="Move them here").click()
    expect(notice).to_be_hidden(timeout=15000)
    expect(page.locator("#backup-rows tr")).to_have_count(1)
    expect(page.locator("#backup-rows tr").first).to_contain_text("first")
    assert len(list(usb.glob("backup_*.db"))) == 1 and not list((app_data / "backups").glob("backup_*.db"))


def test_the_retention_tiers_and_budget_are_settings_on_the_page(page: Page, start_app, app_data):
    app = start_app(app_data, "--browser")
    open_app(page, app)
    expect(page.locator("#keep-daily-days")).to_have_value("14")
    page.locator("#keep-daily-days").fill("7")
    page.locator("#keep-monthly-months").fill("24")
    page.locator("#budget-mb").fill("500")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    s = Engine(app_data).settings
    assert (s.keep_daily_days, s.keep_monthly_months, s.budget_mb, s.retention_policy) == (7, 24, 500, "tiered")
    page.locator("#retention-policy").select_option("simple")
    expect(page.locator("#tiers")).to_be_hidden()
    page.locator("#budget-mb").fill("")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    s = Engine(app_data).settings
    assert (s.retention_policy, s.budget_mb, s.keep_daily_days) == ("simple", None, 7)


def test_backup_show_refuses_what_verify_refuses_and_creates_no_side_file(engine, tmp_path):
    """`backup show` only looks: a folder is named as one; a copy with unsaved changes in its -wal is
    refused with that reason, and no -shm is made beside the user's file (F1, F6)."""
    made = engine.create_backup()
    r = run_cli("backup", "show", str(tmp_path), data_dir=engine.data.root)
    assert r.returncode == 1 and "folder" in r.stderr and "damaged" not in r.stderr, r.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    copy = outside / "w.db"
    copy.write_bytes(Path(made.path).read_bytes())
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE only_in_the_wal (x)")
    w2 = outside / "w2.db"
    w2.write_bytes(copy.read_bytes())
    (outside / "w2.db-wal").write_bytes((outside / "w.db-wal").read_bytes())
    conn.close()
    before = sorted(p.name for p in outside.iterdir())
    r = run_cli("backup", "show", str(w2), data_dir=engine.data.root)
    assert r.returncode == 1 and "-wal" in r.stderr, r.stdout + r.stderr
    assert sorted(p.name for p in outside.iterdir()) == before  # no w2.db-shm


def test_the_page_refuses_a_tiny_budget_and_confirms_before_settings_delete_backups(page: Page, start_app, app_data):
    """G16 in the page: "1" MiB for a 3 MiB database is refused in the form, saying how much is needed;
    tiers that make the next clean-up delete backups ask first (Cancel saves nothing; the confirm saves)."""
    e = Engine(app_data)
    conn = e.connect()
    with conn:
        conn.executemany(
            "INSERT INTO saved_jobs (title, company, description) VALUES (?, 'c', ?)",
            [(f"j{i}", "Build things. " * 20) for i in range(9000)],
        )
    conn.close()
    for i in range(2):
        with sqlite3.connect(e.data.db_path) as c:  # changed data: each automatic backup is a new one
            c.execute("INSERT INTO saved_jobs (title, company, description) VALUES (?, 'c', 'd')", (f"k{i}",))
        e.create_backup(kind=BackupType.auto)
    before = Engine(app_data).settings_path.read_bytes() if Engine(app_data).settings_path.exists() else None
    app = start_app(app_data, "--browser")
    open_app(page, app)
    page.locator("#budget-mb").fill("1")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-message")).to_contain_text("cannot hold even one backup")
    expect(page.locator("#settings-message")).to_contain_text("at least")
    page.locator("#budget-mb").fill("")
    for field in ("#keep-all-hours", "#keep-daily-days", "#keep-weekly-weeks", "#keep-monthly-months"):
        page.locator(field).fill("0")
    page.get_by_role("button", name="Save settings").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("deletes")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#settings-message")).to_contain_text("Nothing was changed.")
    after = Engine(app_data).settings_path.read_bytes() if Engine(app_data).settings_path.exists() else None
    assert after == before
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("dialog").get_by_role("button", name="Save anyway").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    assert Engine(app_data).settings.keep_all_hours == 0
