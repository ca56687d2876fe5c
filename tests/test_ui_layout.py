"""The page's layout and manners in a real Chromium: rows that fit, toasts out of the way, a dialog that stays.

Each test starts the real app in browser mode (see test_ui_browser.py) and looks
at the page as a person would, at the window sizes people have: 800 px (the
smallest window), 1180 px (the app's own default) and 1920 px.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from conftest import wait_for_check
from conftest_app import screenshot
from jobmatcher.engine import Engine
from jobmatcher.manifest import BackupType
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def open_app(page: Page, app) -> None:
    page.goto(app.url)
    expect(page.get_by_role("button", name="Back up now")).to_be_visible(timeout=20000)
    expect(page.locator("html[data-ready='true']")).to_have_count(1)


@pytest.fixture
def crowded_data(app_data) -> Path:
    """Backups whose rows are as wide as they get: pinned, before an update, a long note, sizes of "209.8 MB"."""
    e = Engine(app_data)
    time.sleep(1.1)  # backup ids have one-second resolution
    b = e.create_backup(note="before cleaning up every skill and all of the saved jobs from last spring's search")
    e.set_pinned(b.id, True)
    time.sleep(1.1)
    e.create_backup(kind=BackupType.pre_migration, note="Before updating from 0001_initial to 0002_saved_jobs")
    for m in (app_data / "backups").glob("*.json"):
        body = json.loads(m.read_text())
        body["size_bytes"] = 209_800_000  # "209.8 MB": the widest size label (the list reads manifests only)
        m.write_text(json.dumps(body))
    return app_data


def inside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


def overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("width, height", [(800, 600), (1180, 860), (1920, 1080)])
def test_every_rows_actions_fit_inside_the_table(page: Page, start_app, crowded_data, width, height):
    page.set_viewport_size({"width": width, "height": height})
    app = start_app(crowded_data, "--browser")
    open_app(page, app)
    rows = page.locator("#backup-rows tr")
    expect(rows).to_have_count(3)
    wrap = page.locator(".table-wrap")
    # no horizontal scrollbar: everything is on the page, none of it behind a scroll
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 1"), f"the list scrolls sideways at {width} px"
    table = page.locator("#backup-table").bounding_box()
    visible = wrap.bounding_box()
    buttons = page.locator("#backup-rows button")
    assert buttons.count() == 15
    for i in range(buttons.count()):
        button = buttons.nth(i)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        table, visible = page.locator("#backup-table").bounding_box(), wrap.bounding_box()
        label = button.inner_text()
        assert inside(box, table) and inside(box, visible), f"{label!r} is clipped at {width} px: {box} vs {table}"
        assert box["width"] >= 24 and box["height"] >= 20, f"{label!r} is squeezed at {width} px"
    # the notes wrap rather than push the actions out
    expect(rows.first.locator(".col-note")).to_contain_text("Before updating from")
    screenshot(page, f"layout-rows-{width}", full_page=True)


@pytest.mark.parametrize("width, height", [(800, 600), (860, 700), (1180, 860), (1920, 1080)])
def test_toasts_do_not_cover_the_main_actions(page: Page, start_app, crowded_data, width, height):
    page.set_viewport_size({"width": width, "height": height})
    app = start_app(crowded_data, "--browser")
    open_app(page, app)
    # three toasts at once, one of them an error (errors stay until dismissed)
    page.locator("#backup-rows tr").nth(2).get_by_role("button", name=re.compile("^Pin the backup")).click()
    page.get_by_role("button", name="Add skill").click()  # an empty skill: an error toast
    page.get_by_role("button", name=re.compile("^Verify the backup")).first.click()
    toasts = page.locator(".toast")
    expect(toasts).to_have_count(3, timeout=15000)
    # Scroll each main action to the top, middle and bottom of the window: no toast may cover it anywhere.
    covered = page.evaluate("""() => {
      const targets = [...document.querySelectorAll("#backup-now, #backup-note, #restore-file, #open-folder,"
                                                   + " #backup-rows button")];
      const hit = (a, b) => !(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top);
      const found = [];
      for (const t of targets) {
        for (const block of ["start", "center", "end"]) {
          t.scrollIntoView({ block });
          const r = t.getBoundingClientRect();
          for (const toast of document.querySelectorAll(".toast")) {
            if (hit(r, toast.getBoundingClientRect())) found.push(`${t.id || t.getAttribute("aria-label")} (${block})`);
          }
        }
      }
      return found;
    }""")
    assert covered == [], f"toasts cover {covered} at {width} px"
    # K1: and wherever the person scrolls by hand (the wheel, not scrollIntoView with its scroll padding):
    # every action that is in view, in its scroll area, is what a click there hits, never a toast over it.
    covered = page.evaluate("""() => {
      const targets = [...document.querySelectorAll("#backup-now, #restore-file, #open-folder, #backup-rows button")];
      const scroller = (el) => {
        for (let p = el.parentElement; p; p = p.parentElement) {
          const o = getComputedStyle(p).overflowY;
          if ((o === "auto" || o === "scroll") && p.scrollHeight > p.clientHeight) return p;
        }
        return document.scrollingElement;
      };
      const areas = [...new Set(targets.map(scroller))];
      const found = new Set();
      for (const area of areas) {
        for (let y = 0; y <= area.scrollHeight; y += 40) {
          area.scrollTop = y;
          for (const t of targets) {
            const r = t.getBoundingClientRect();
            const port = area === document.scrollingElement
              ? { top: 0, bottom: innerHeight } : area.getBoundingClientRect();
            const x = r.left + r.width / 2, cy = r.top + r.height / 2;
            const outside = cy < Math.max(0, port.top) || cy > Math.min(innerHeight, port.bottom);
            if (outside || x < 0 || x > innerWidth) continue;
            const top = document.elementFromPoint(x, cy);
            if (top && top.closest(".toast-stack")) found.add(t.id || t.getAttribute("aria-label"));
          }
        }
      }
      return [...found];
    }""")
    assert covered == [], f"toasts cover {covered} at {width} px when scrolled by hand"
    screenshot(page, f"layout-toasts-{width}")
    page.wait_for_timeout(6500)  # the successes go; the error stays until dismissed
    expect(page.locator(".toast-error")).to_have_count(1)
    expect(page.locator(".toast-success")).to_have_count(0)
    page.locator(".toast-error").get_by_role("button", name="Dismiss").click()
    expect(page.locator(".toast")).to_have_count(0)


@pytest.mark.parametrize("presses", [2, 3])
def test_the_restore_progress_dialog_survives_repeated_escape(page: Page, start_app, app_data, presses):
    app = start_app(app_data, "--browser")
    open_app(page, app)
    running = {
        "id": "restore-98",
        "kind": "restore",
        "state": "running",
        "phase": "copy",
        "unit": "bytes",
        "message": "Copying…",
        "done": 5_000_000,
        "total": 10_000_000,
        "fraction": 0.6,
        "result": None,
        "error": None,
        "started_at": 0,
        "finished_at": None,
    }
    # A restore that never ends (the engine is not asked): the dialog must stay through anything.
    page.route("**/api/start_restore", lambda route: route.fulfill(json={"ok": True, "value": running}))
    page.route("**/api/task_status", lambda route: route.fulfill(json={"ok": True, "value": running}))
    page.locator("#backup-rows tr").first.get_by_role("button", name=re.compile("^Restore the backup")).click()
    page.get_by_role("dialog", name="Restore this backup?").get_by_role("button", name="Restore", exact=True).click()
    dialog = page.get_by_role("dialog", name="Restoring your data")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Copying… 5.0 MB of 10.0 MB")  # progress in its honest unit
    for _round in range(2):
        for _ in range(presses):  # quickly, without a click in between (Chromium's close watcher)
            page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        expect(dialog).to_be_visible()
        assert page.evaluate("document.querySelector('dialog.is-progress').open") is True
        assert page.evaluate("document.querySelector('dialog.is-progress').matches(':modal')") is True
    expect(dialog.get_by_role("button")).to_have_count(0)  # no close, no cancel


def test_the_page_without_its_secret_says_to_open_the_printed_link(page: Page, start_app, app_data):
    app = start_app(app_data, "--browser")
    page.goto(re.sub(r"#.*$", "", app.url))
    screen = page.locator("#launch-error").get_by_role("alert")
    expect(screen).to_contain_text("This page is not connected to JobMatcher", timeout=30000)
    expect(screen).to_contain_text("link JobMatcher printed")
    expect(screen).to_contain_text("Your data is fine")
    expect(screen).not_to_contain_text("could not open your data")
    expect(page.get_by_role("button", name="Try again")).to_be_hidden()  # it could never help
    screenshot(page, "layout-no-secret")


def test_open_backups_folder_says_when_no_file_manager_started(page: Page, start_app, app_data, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text("#!/bin/sh\nexit 3\n")  # xdg-open's "no tool for the job"
    opener.chmod(0o755)
    app = start_app(app_data, "--browser", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    open_app(page, app)
    page.get_by_role("button", name="Open backups folder").click()
    dialog = page.get_by_role("alertdialog", name="Could not open the backups folder")
    expect(dialog).to_be_visible(timeout=10000)
    expect(dialog.get_by_role("textbox", name="Path")).to_have_value(str(app_data / "backups"))
    expect(page.get_by_text("Opened the backups folder")).to_have_count(
        0
    )  # the success toast (not any text holding "opened")
    # the button's spinner was for the attempt: not still turning behind the dialog (K-notes, cosmetic)
    expect(page.locator("#open-folder")).not_to_have_attribute("aria-busy", "true")
    screenshot(page, "layout-open-folder-failed")
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()


def test_row_buttons_name_their_backup_and_keep_focus_while_busy(page: Page, start_app, app_data):
    app = start_app(app_data, "--browser")
    open_app(page, app)
    shown = page.locator("#backup-rows tr").first.locator(".date").inner_text()
    # one way of writing a time on the page, as the engine writes it in its notes: "30 Nov 2026, 19:25" (K2)
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d", shown), shown
    backup = Engine(app_data).list_backups()[0]
    local = backup.created_at.astimezone()
    when = f"{local.day} {local:%b %Y, %H:%M:%S} (Manual)"  # to the second, and its type
    for verb in ("Restore", "Verify", "Pin", "Export", "Delete"):
        expect(page.get_by_role("button", name=f"{verb} the backup from {when}", exact=True)).to_have_count(1)
    verify = page.get_by_role("button", name=f"Verify the backup from {when}", exact=True)
    verify.focus()
    # hold the check open for a moment, to look at the busy button
    page.route("**/api/task_status", lambda route: (time.sleep(0.4), route.continue_())[1])
    starts: list[str] = []
    page.on("request", lambda r: starts.append(r.url) if r.url.endswith("/api/start_verify") else None)
    page.keyboard.press("Enter")
    expect(verify).to_have_attribute("aria-busy", "true")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == f"Verify the backup from {when}"
    page.keyboard.press("Enter")  # pressed again while busy: ignored, not a second check
    expect(page.locator(".toast", has_text="passed its check")).to_have_count(1, timeout=15000)
    assert len(starts) == 1, starts  # one check, not two
    expect(verify).not_to_have_attribute("aria-busy", "true")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == f"Verify the backup from {when}"
    # relative times come from Intl.RelativeTimeFormat ("now", "1 minute ago", …)
    expect(page.locator("#backup-rows .sub").first).to_have_text(re.compile(r"^(now|\d+ (second|minute)s? ago)$"))


def test_a_failed_check_says_it_once_plainly_and_turns_the_status_amber(page: Page, start_app, app_data):
    # An older backup passed its check; the newest one is damaged afterwards (amber, not red: there
    # is still a good backup to fall back on).
    time.sleep(1.1)  # a later second, so the new backup is the newest by name and time
    backup = Path(Engine(app_data).create_backup(note="second").path)
    data = bytearray(backup.read_bytes())
    data[-100] ^= 0xFF  # one flipped bit near the end: the checksum no longer matches
    backup.write_bytes(bytes(data))
    app = start_app(app_data, "--browser")
    open_app(page, app)
    page.get_by_role("button", name=re.compile("^Verify the backup")).first.click()  # newest first
    dialog = page.get_by_role("alertdialog", name="This backup did not pass its check")
    expect(dialog).to_be_visible(timeout=15000)
    text = dialog.inner_text()
    assert text.count("did not pass its check") == 1, text  # the title only
    assert "Make a new backup now" in text
    assert "manifest" not in text and "checksum" not in text and "sha" not in text.lower()
    screenshot(page, "layout-failed-check")
    dialog.get_by_role("button", name="OK").click()
    status = page.locator("#backup-status")
    expect(status).to_have_class(re.compile(r"\bstatus-warn\b"))
    expect(status).to_contain_text("failed its check")
    color = status.evaluate("s => getComputedStyle(s).backgroundColor")
    assert color == "rgb(255, 251, 235)", color  # amber (--warn-soft), not green


def test_the_layout_is_centred_on_a_wide_screen(page: Page, start_app, app_data):
    page.set_viewport_size({"width": 2560, "height": 1200})
    app = start_app(app_data, "--browser")
    open_app(page, app)
    layout = page.locator(".layout").bounding_box()
    left, right = layout["x"], 2560 - (layout["x"] + layout["width"])
    assert left > 100 and abs(left - right) <= 20, (left, right)
    brand = page.locator(".brand").bounding_box()
    assert abs(brand["x"] - (layout["x"] + 24)) <= 2, "the top bar lines up with the page, not the screen's edge"


def test_row_buttons_tell_apart_backups_made_the_same_minute_or_second(page: Page, start_app, app_data):
    """K2: several backups of one minute (and two of one second) each have their own button names."""
    e = Engine(app_data)
    made = [e.create_backup(note=f"n{i}") for i in range(3)]  # within a second or two: one has an id ending _2
    e.release_instance_lock()
    app = start_app(app_data, "--browser")
    open_app(page, app)
    rows = page.locator("#backup-rows tr")
    expect(rows).to_have_count(len(made) + 1)
    labels = page.evaluate(
        "() => [...document.querySelectorAll('#backup-rows button')].map((b) => b.getAttribute('aria-label'))"
    )
    assert len(labels) == len(set(labels)), labels
    assert any(f", {made[1].id}" in x for x in labels) or len({m.id[:26] for m in made}) == len(made), labels


def test_names_from_outside_are_shown_escaped_not_obeyed(page: Page, start_app, app_data):
    """H24 and K5 on the page: a file name with a right-to-left override or control characters is shown
    with them escaped (as the command line prints it), in the row and in its buttons' names, so it can
    neither reverse the words around it nor put a line break into a screen reader's label."""
    folder = app_data / "backups"
    source = next(folder.glob("backup_*.db"))
    for name in ("a\u202egnp.db", "evil\nline\x1b[31m.db"):
        (folder / name).write_bytes(source.read_bytes())
    app = start_app(app_data, "--browser")
    open_app(page, app)
    expect(page.locator("#backup-rows tr")).to_have_count(3)
    texts = page.evaluate(
        "() => [document.querySelector('#backup-rows').innerText,"
        " ...[...document.querySelectorAll('#backup-rows [aria-label]')].map((b) => b.getAttribute('aria-label'))]"
    )
    for t in texts:
        assert not any(c in t for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x1b"), t
    labels = texts[1:]
    assert "Delete the file a\\u202egnp.db" in labels, labels
    assert "Delete the file evil\\x0aline\\x1b[31m.db" in labels, labels
    assert "a\\u202egnp.db" in texts[0]
    row = page.locator("#backup-rows tr", has_text="gnp.db")
    row.get_by_role("button", name=re.compile("^Restore")).click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("a\\u202egnp.db", timeout=15000)
    assert "\u202e" not in dialog.inner_text()


def test_a_failed_check_of_a_safety_backup_does_not_advise_deleting_it(page: Page, start_app, app_data):
    """K4: a new backup does not replace a safety backup (it held the data from before a restore):
    the failed-check dialog says to keep it, not "you can then delete this one"."""
    e = Engine(app_data)
    first = e.list_backups()[0].id
    safety = e.restore(first).safety_backup_id
    assert wait_for_check(e, safety).verified is True  # its checksum recorded (in the background) first
    e.release_instance_lock()
    path = app_data / "backups" / f"{safety}.db"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    app = start_app(app_data, "--browser")
    open_app(page, app)
    row = page.locator("#backup-rows tr[data-type='safety']")
    row.get_by_role("button", name=re.compile("^Verify the backup")).click()
    dialog = page.get_by_role("alertdialog", name="This backup did not pass its check")
    expect(dialog).to_be_visible(timeout=15000)
    text = dialog.inner_text()
    assert "delete this one" not in text and "from before a restore" in text and "Keep it" in text, text


def test_the_same_error_from_two_buttons_is_one_toast(page: Page, start_app, app_data, tmp_path):
    """K8 (page): with the backup folder unplugged, "Back up now" and then "Open backups folder" gave two
    near-identical red toasts (one with "The backup failed:" in front): the same news is one toast."""
    import shutil

    usb = tmp_path / "media" / "JobMatcher"
    usb.mkdir(parents=True)
    Engine(app_data).update_settings({"backup_dir": str(usb)})
    shutil.rmtree(usb)
    app = start_app(app_data, "--browser")
    open_app(page, app)
    page.get_by_role("button", name="Back up now").click()
    expect(page.locator(".toast-error")).to_have_count(1, timeout=15000)
    page.get_by_role("button", name="Open backups folder").click()
    page.wait_for_timeout(1500)
    errors = page.locator(".toast-error .toast-message").all_inner_texts()
    assert len(errors) == 1 and "is not available" in errors[0], errors


@pytest.mark.parametrize("width, height", [(800, 600), (1180, 900)])
def test_the_location_forms_have_their_padding_and_styled_secret_fields(page: Page, start_app, app_data, width, height):
    """L13 (and L18's layout): the location forms' fields stayed inside the dialog's padding only on paper (the form
    was wider than the dialog), the password fields were the browser's bare boxes, and "Encrypt the copies" floated
    alone in the middle of its row."""
    page.set_viewport_size({"width": width, "height": height})
    app = start_app(app_data, "--browser")
    open_app(page, app)

    def check(dialog, name: str) -> None:
        box = dialog.bounding_box()
        assert inside(box, {"x": 0, "y": 0, "width": width, "height": height}), (name, box)  # fits the window
        content = {
            "x": box["x"] + 16,
            "y": box["y"],
            "width": box["width"] - 32,
            "height": dialog.evaluate("d => d.scrollHeight"),
        }
        for control in dialog.locator("input:visible, select:visible, button:visible, label:visible, h2").all():
            b = control.bounding_box()
            assert b is not None and b["x"] >= content["x"] - 0.5, (name, control.evaluate("e => e.outerHTML"), b, box)
            assert b["x"] + b["width"] <= content["x"] + content["width"] + 0.5, (
                name,
                control.evaluate("e => e.outerHTML"),
                b,
                box,
            )
        text = dialog.locator("input[type=text]:visible").first
        style = (
            "e => { const s = getComputedStyle(e); "
            "return [s.paddingLeft, s.borderRadius, s.borderTopWidth, e.getBoundingClientRect().height]; }"
        )
        for secret in dialog.locator("input[type=password]:visible").all():
            assert secret.evaluate(style) == text.evaluate(style), (name, secret.evaluate("e => e.outerHTML"))

    page.get_by_role("button", name="Restore from a backup location…").click()
    where = page.get_by_role("dialog", name="Restore from a backup location")
    where.get_by_label("Location").select_option("s3")
    check(where, "restore from S3")
    screenshot(page, f"locations-restore-s3-{width}")
    where.get_by_role("button", name="Cancel").click()

    page.get_by_role("button", name="Add S3 storage…").click()
    add = page.get_by_role("dialog", name="Add S3 storage")
    check(add, "add S3")
    box, label = (
        add.get_by_label("Encrypt the copies").bounding_box(),
        add.get_by_text("Encrypt the copies").bounding_box(),
    )
    assert box["x"] < label["x"] and abs((box["y"] + box["height"] / 2) - (label["y"] + label["height"] / 2)) < 8, (
        box,
        label,
    )
    assert label["x"] - (box["x"] + box["width"]) < 24, (box, label)  # beside its words, not alone mid-row
    screenshot(page, f"locations-add-s3-{width}")
    add.get_by_role("button", name="Cancel").click()
    app.stop()
