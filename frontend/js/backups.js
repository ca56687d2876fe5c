// The Backup & Restore section: status line, "Back up now", the list of
// backups with their actions, "Restore from file…", and the backup settings.

import { $, ago, busy, h, isBusy, localDateTime, pathParts, taskText, timeLabels } from "./dom.js";
import { call, download, expectRestart, followTask, mode, upload, verifiedInstance } from "./transport.js";
import { confirmDialog, errorDialog, pathDialog, ProgressDialog, showError, toast } from "./dialogs.js";

let overview = null;
let instance = null; // the app process we talk to; a new one means the app restarted
let onDataChanged = async () => {};

const VERIFIED = {
  true: ["Verified", "is-ok"],
  false: ["Failed check", "is-bad"],
  null: ["Not checked yet", "is-unknown"],
};

// Minutes: backups while JobMatcher runs, when the data changed.
const INTERVALS = [[0, "Off"], [15, "Every 15 minutes"], [30, "Every 30 minutes"], [60, "Every hour"],
                   [360, "Every 6 hours"], [1440, "Every day"], [10080, "Every week"]];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Why a backup failed its check, as one plain sentence (by the engine's reason code); the engine's
// own detailed message stays in the list's tooltip and the log.
const FAILED_CHECK = {
  "checksum-mismatch": "It has changed since it was made, so it can no longer be trusted.",
  corrupt: "It is damaged.",
  truncated: "It is cut short: part of it is missing.",
  "damaged-header": "It is damaged.",
  empty: "Its file is empty.",
  missing: "Its file is no longer in the backups folder.",
  unreadable: "Its file cannot be read.",
  "missing-tables": "It is incomplete.",
  "not-sqlite": "Its file is not a backup.",
  "not-jobmatcher": "Its file is not a JobMatcher backup.",
};
const FAILED_CHECK_HINT = "Make a new backup now; you can then delete this one.";
// A new backup holds the data as it is now: it replaces a backup of the same data, not one that held
// something else (K4). Those are kept: it may still be the only copy of what it held.
function failedCheckHint(b) {
  const held = {
    safety: "It held your data from before a restore, which a new backup cannot hold.",
    "pre-migration": "It held your data from before an update, which a new backup cannot hold.",
  }[b.type];
  if (held) return `${held} Keep it until you are sure you do not need that data. Make a new backup now.`;
  if (b.pinned) return "Make a new backup now. It is pinned: you chose to keep it; unpin it once you no longer need it.";
  return FAILED_CHECK_HINT;
}

// The last backup attempt of this session failed (Back up now, or the automatic one at start):
// the status line says so until a backup succeeds.
let lastAttemptFailed = null;
export function noteBackupFailure(error) { lastAttemptFailed = error || {}; }

export async function loadBackups({ settings = false } = {}) {
  overview = await call("backup_overview");
  signature = overview.signature;
  renderStatus(overview.health, overview.status);
  renderList(overview.backups, overview.status);
  renderPrevious(overview.previous || []);
  renderSkipped(overview.skipped || []);
  if (settings) renderSettings(overview.settings);
}

// -- files in the backup folder that are not backups (a database some program has open): said, not hidden --
function renderSkipped(skipped) {
  const box = $("#skipped-files");
  box.hidden = skipped.length === 0;
  box.replaceChildren(...skipped.map((why) => h("p", { text: why })));
}

// -- backups left in a previous backup folder (after the folder setting changed) -----------------------

function renderPrevious(previous) {
  const box = $("#previous-backups");
  box.hidden = previous.length === 0;
  box.replaceChildren(...previous.map((p) => {
    const what = `${p.count} backup${p.count === 1 ? "" : "s"} (${p.size})`;
    const text = p.available
      ? `${what} ${p.count === 1 ? "is" : "are"} still in your previous backup folder ${p.folder}. `
        + `${p.count === 1 ? "It is" : "They are"} not cleaned up or used from there.`
      : `Your previous backup folder ${p.folder} is not available now; its backups stay listed until you decide.`;
    const move = h("button", { type: "button", class: "btn btn-small btn-primary", text: "Move them here",
                               disabled: !p.available || p.count === 0, onclick: (e) => moveBackups(e.currentTarget, p) });
    const leave = h("button", { type: "button", class: "btn btn-small btn-ghost", text: "Leave them there",
                                onclick: (e) => forgetFolder(e.currentTarget, p) });
    const when = timeLabels(p.backups);
    const list = h("details", {}, h("summary", { text: "Show them" }),
      h("ul", {}, p.backups.map((b) => h("li", { text: `${when(b)} · ${b.type_label} · ${b.size}${b.note ? ` · ${b.note}` : ""}` }))));
    return h("div", { class: "previous-folder", dataset: { folder: p.folder } },
      h("p", { text }), p.count ? list : null, h("div", { class: "row-actions" }, move, leave));
  }));
}

async function moveBackups(button, p) {
  await busy(button, async () => {
    try {
      const final = await followTask(await call("start_move_backups", p.index), () => {});
      if (final.state !== "done") {
        showError(final.error, "The backups could not be moved:");
      } else if (final.result.failed.length) {
        showError({ message: `${final.result.moved.length} moved; ${final.result.failed.length} left in ${p.folder}: ` +
                             final.result.failed.map((f) => f.message).join(" "),
                    hint: "Those stay where they were; nothing was lost." });
      } else {
        toast(`Moved ${final.result.moved.length} backup${final.result.moved.length === 1 ? "" : "s"} to the new folder.`);
      }
      await loadBackups();
    } catch (e) {
      showError(e);
    }
  });
}

async function forgetFolder(button, p) {
  await busy(button, async () => {
    try {
      await call("forget_previous_folder", p.index);
      toast(`The backups in ${p.folder} are left there and no longer listed.`);
      await loadBackups();
    } catch (e) {
      showError(e);
    }
  });
}

// -- status line ------------------------------------------------------------------
// The engine's health rule decides what is wrong (health.py); the page only words the times,
// so "12 minutes ago" stays true between refreshes.

let signature = null;
let lastHealth = null;

function until(iso, now = Date.now()) {
  const seconds = Math.max(0, (new Date(iso).getTime() - now) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `in ${n} ${unit}${n === 1 ? "" : "s"}`;
  }
  return seconds > 0 ? "in less than a minute" : "now";
}

function agoText(iso) {
  return Date.now() - new Date(iso).getTime() < 60000 ? "just now" : ago(iso);
}

function summary(hl) {
  const available = !hl.folder || hl.folder.available;
  const parts = [!available ? "Backup folder not available"
                 : hl.last ? `Last backup ${agoText(hl.last_at || hl.last.created_at)}` : "No backups yet"];
  // no countdown to a backup that cannot be made: it resumes when the drive is back (K8's page part)
  if (!available) parts.push("backups resume when it is back");
  else if (!hl.interval_minutes) parts.push("automatic backups off");
  else if (hl.next_at) parts.push(`next ${until(hl.next_at)}`);
  else if (!hl.app_running) parts.push("next while JobMatcher is open");
  // the count and the size of the same backups: this data folder's own (files added by hand are listed, not counted)
  const size = hl.folder ? hl.folder.used_bytes : 0;
  if (available) parts.push(`${hl.count} backup${hl.count === 1 ? "" : "s"}, ${humanSize(size)}`);
  return parts.join(" · ");
}

function humanSize(n) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

function renderStatus(hl, status) {
  lastHealth = hl;
  const box = $("#backup-status");
  const level = hl.level === "ok" && lastAttemptFailed ? "warn" : hl.level || "ok";
  const lines = [];
  if (hl.summary !== "") {
    const main = h("p", { class: "status-main" }, h("strong", { class: "status-summary", text: summary(hl) }));
    if (hl.last) {
      const [label, cls] = hl.last.verify_message === "newer-version"
        ? ["made by a newer JobMatcher", "is-unknown"]
        : hl.last.verify_message === "changed-after-restore"
          ? ["changed after its restore", "is-unknown"]
        : hl.last.verified === null && hl.last.verify_message === "checking"
          ? ["checking in the background", "is-unknown"] : VERIFIED[String(hl.last.verified)];
      main.append(" · ", h("span", { class: `verified ${cls}`, text: label }));
    }
    lines.push(main);
  }
  if (hl.copies) lines.push(h("p", { class: "status-copies small", text: hl.copies }));  // backup locations
  const warnings = [...(hl.warnings || [])];
  if (lastAttemptFailed) {
    warnings.unshift({ code: "last-attempt-failed", level: "warn", message: "Your last backup failed.",
                       hint: "Make a new backup now (Back up now)." });
  }
  for (const w of warnings) {
    lines.push(h("p", { class: `status-warning level-${w.level}`, dataset: { code: w.code } },
      h("span", { text: w.message }), " ", h("span", { class: "status-hint", text: w.hint })));
  }
  box.className = `status status-${level === "ok" ? "ok" : level === "error" ? "error" : "warn"}`;
  box.dataset.level = level;
  box.replaceChildren(h("span", { class: "status-icon", "aria-hidden": "true", text: level === "ok" ? "✓" : "!" }),
                      h("div", { class: "status-text" }, lines));
}

/** Backups made from outside (a `backup create` in a terminal, the schedule) show within a few seconds. */
export function watchBackups(everyMs = 2500) {
  setInterval(async () => {
    if (document.hidden || !overview) return;
    try {
      const now = await call("backup_signature");
      if (now !== signature) await loadBackups();
      else if (lastHealth) renderStatus(lastHealth);  // the times move on
    } catch (e) {
      // the app may be restarting; the next tick tries again
    }
  }, everyMs);
}

// -- the list -----------------------------------------------------------------------

function renderList(backups, status = {}) {
  const body = $("#backup-rows");
  // Re-rendering replaces the buttons: keep keyboard focus on the same action of the same backup.
  const active = document.activeElement;
  const focused = body.contains(active) && active.dataset.action
    ? [active.closest("tr").dataset.backupId, active.dataset.action] : null;
  // Each row's buttons are named with their backup: its time to the second and its type, and where two
  // rows would still sound alike (made the same second), its id too (K2).
  timeOf = timeLabels(backups);  // two backups made in one minute are told apart to the second (T16)
  const names = backups.map(rowName);
  const seen = new Map();
  for (const n of names) seen.set(n, (seen.get(n) || 0) + 1);
  body.replaceChildren(...backups.map((b, i) => row(b, seen.get(names[i]) > 1 ? `${names[i]}, ${b.id}` : names[i])));
  if (focused) {
    const again = body.querySelector(`tr[data-backup-id="${CSS.escape(focused[0])}"] `
                                     + `button[data-action="${focused[1]}"]`);
    if (again) again.focus();
  }
  $("#backup-table").hidden = backups.length === 0;
  const empty = $("#no-backups");
  empty.hidden = backups.length > 0;
  // An unplugged drive: the backups exist, on it; "no backups yet, make one" would be untrue (and would fail).
  empty.textContent = status.folder_available === false
    ? "Your backup folder is not available: its backups show here again when the drive is back."
    : "No backups yet. Click “Back up now” to make the first one.";
  empty.dataset.reason = status.folder_available === false ? "folder-unavailable" : "none";
  const others = backups.filter((b) => b.added_by_hand || b.owned === false).length;
  const count = backups.length === 1 ? "1 backup" : `${backups.length} backups`;
  $("#backup-count").textContent = status.folder_available === false ? ""
    : others ? `${count}: ${backups.length - others} made here, ${others} added by hand or from another data folder`
      : count;
}

// How the page names a listed backup's time: to the minute, to the second where two in the list read alike.
let timeOf = (b) => localDateTime(b.created_at);

/** How a row's buttons name their backup: "the backup from 30 Nov 2026, 19:25:41 (Safety)". */
function rowName(b) {
  return b.added_by_hand ? `the file ${b.file_name}`
    : `the backup from ${localDateTime(b.created_at, { seconds: true })} (${b.type_label})`;
}

function row(b, name) {
  // A restore's safety backup (the old data itself) is checked in the background: "Checking…" until then.
  const [verifiedLabel, verifiedClass] = b.verified === null && b.verify_message === "checking"
    ? ["Checking…", "is-unknown"]
    : b.verified === null && b.verify_message === "newer-version"
      ? ["Newer version", "is-unknown"]
      // a safety backup changed after its restore (Y7): sound as it is now, not proven to be the data from before
      : b.verified === null && b.verify_message === "changed-after-restore"
        ? ["Changed after restore", "is-unknown"] : VERIFIED[String(b.verified)];
  const when = timeOf(b);
  // Each button's accessible name says which backup it acts on ("Restore the backup from …"):
  // a screen reader moving from button to button hears more than "Delete, Delete, Delete".
  const button = (text, verb, handler, cls = "btn-ghost") =>
    h("button", { type: "button", class: `btn btn-small ${cls}`, text, "aria-label": `${verb} ${name}`,
                  dataset: { action: handler.name },
                  onclick: (e) => { if (!isBusy(e.currentTarget)) handler(e.currentTarget, b); } });
  const cell = (attrs, ...children) => h("td", { role: "cell", ...attrs }, ...children);
  return h("tr", { role: "row", dataset: { backupId: b.id, type: b.type } },
    cell({ class: "col-date" },
      h("div", { class: "date", text: when }),
      // a file added by hand is known by its name (its time is only the file's); ours by their time
      b.added_by_hand || b.owned === false ? h("div", { class: "file-name path", text: b.file_name }) : null,
      h("div", { class: "sub", text: ago(b.created_at) })),
    cell({ class: "col-type" },
      b.added_by_hand ? h("span", { class: "badge badge-flag", title: "Copied into the folder by hand: "
        + "never cleaned up automatically", text: b.type_label }) : h("span", { class: `badge badge-${b.type}`, text: b.type_label }),
      b.pinned ? h("span", { class: "badge badge-pinned", title: "Kept until you unpin it", text: "Pinned" }) : null,
      // never deleted automatically: not made by JobMatcher for this data folder, or its date is not known
      b.owned === false ? h("span", { class: "badge badge-flag", title: "A backup of another data folder: "
        + "listed, never cleaned up here", text: "Other data folder" }) : null,
      b.manifest_unreadable ? h("span", { class: "badge badge-flag", title: "Its manifest is damaged: its date "
        + "and checks are unknown", text: "Manifest unreadable" }) : null,
      b.future ? h("span", { class: "badge badge-flag", title: "Dated in the future: the clock was wrong when it "
        + "was made. Kept, never counted as the newest", text: "Dated in the future" }) : null),
    cell({ class: "col-size", text: b.size }),
    cell({ class: "col-note", text: b.note }),
    cell({ class: "col-verified" },
      h("span", { class: `verified ${verifiedClass}`, title: b.verify_message === "newer-version"
        ? "Made by a newer JobMatcher: kept, restorable with that version"
        : b.verify_message === "changed-after-restore" ? CHANGED_AFTER_RESTORE : b.verify_message || undefined,
      text: verifiedLabel })),
    cell({ class: "col-actions" },
      h("div", { class: "row-actions" },
        button("Restore…", "Restore", restoreBackup, "btn-ghost btn-accent"),
        button("Verify", "Verify", verifyBackup),
        b.pinned ? button("Unpin", "Unpin", togglePin) : button("Pin", "Pin", togglePin),
        button("Export…", "Export", exportBackup),
        button("Delete", "Delete", deleteBackup, "btn-ghost btn-danger-text"))));
}

/** "the backup from 30 Nov 2026, 19:25 (Manual)"; `when` names its time (timeLabels of the list it is in). */
export function describe(b, when = timeOf) {
  return b.added_by_hand ? `the file ${b.file_name} (added by hand)`
    : `the backup from ${when(b)} (${b.type_label})`;
}

function highlight(id) {
  const tr = document.querySelector(`#backup-rows tr[data-backup-id="${CSS.escape(id)}"]`);
  if (tr) {
    tr.classList.add("is-new");
    setTimeout(() => tr.classList.remove("is-new"), 2500);
  }
}

// -- back up now ---------------------------------------------------------------------

async function backUpNow() {
  const button = $("#backup-now");
  if (isBusy(button)) return;
  const panel = $("#backup-progress");
  const bar = $("#backup-progress-bar");
  const text = $("#backup-progress-text");
  await busy(button, async () => {
    panel.hidden = false;
    bar.value = 0;
    text.textContent = "Starting the backup…";
    const shownAt = performance.now();
    try {
      const task = await call("start_backup", $("#backup-note").value);
      const final = await followTask(task, (t) => {
        bar.value = Math.round((t.fraction || 0) * 100);
        text.textContent = taskText(t);
      });
      // Keep the bar up long enough to be seen; a flash reads like a glitch.
      await sleep(Math.max(0, 700 - (performance.now() - shownAt)));
      if (final.state === "done") {
        $("#backup-note").value = "";
        lastAttemptFailed = null;
        // Another program was still writing when the wait ended: say what the backup holds (K3).
        toast(final.result.gave_up_waiting
          ? `Backup made and verified, after waiting ${final.result.waited_seconds} s for another program that `
            + "was writing: it holds everything saved before then, not the changes that program had not saved yet."
          : "Backup made and verified.");
        await loadBackups();
        highlight(final.result.backup.id);
      } else {
        lastAttemptFailed = final.error || {};
        showError(final.error, "The backup failed:");
        await loadBackups();
      }
    } catch (e) {
      showError(e);
    } finally {
      panel.hidden = true;
    }
  });
}

// -- per-backup actions ------------------------------------------------------------------

async function verifyBackup(button, b) {
  await busy(button, async () => {
    try {
      const final = await followTask(await call("start_verify", b.id), () => {});
      if (final.state === "done") toast(`The backup from ${timeOf(b)} passed its check.`);
      else {
        const e = final.error || {};
        await errorDialog("This backup did not pass its check", {
          message: FAILED_CHECK[e.reason] || e.message, hint: e.reason in FAILED_CHECK ? failedCheckHint(b) : e.hint });
      }
      await loadBackups();
    } catch (e) {
      showError(e);
    }
  });
}

async function togglePin(button, b) {
  await busy(button, async () => {
    try {
      await call("set_pinned", b.id, !b.pinned);
      toast(b.pinned ? "Unpinned: this backup is cleaned up with the others when it gets old."
                     : "Pinned: this backup is kept until you unpin it.");
      await loadBackups();
    } catch (e) {
      showError(e);
    }
  });
}

async function exportBackup(button, b) {
  await busy(button, async () => {
    try {
      const result = await call("export_backup", b.id);
      if (result.cancelled) return;
      if (result.download) {
        download(result.download, result.name);
        toast(`Downloading ${result.name}.`);
      } else {
        toast(`Saved a copy to ${result.saved_to}.`);
      }
    } catch (e) {
      showError(e);
    }
  });
}

async function deleteBackup(button, b) {
  const body = [`Delete ${describe(b)}? This cannot be undone.`];
  if (b.type === "pre-migration") {
    body.push(h("p", { class: "warning-text" },
      h("strong", { text: "This backup was made before JobMatcher updated your data. " }),
      "It is your way back to your data as it was before the update."));
  }
  if (b.pinned) body.push("It is pinned: you wanted to keep it.");
  const ok = await confirmDialog({ title: "Delete this backup?", body, confirmLabel: "Delete", danger: true });
  if (!ok) return;
  await busy(button, async () => {
    try {
      await call("delete_backup", b.id);
      toast(`Deleted the backup from ${timeOf(b)}.`);
      await loadBackups();
    } catch (e) {
      showError(e);
    }
  });
}

/** What the backup holds against the current data (the engine's preview, read-only): a small table. */
function previewTable(p) {
  const now = p.current;
  const cell = (v) => (v === null || v === undefined ? "–" : String(v));
  const rows = [
    ["Name", p.backup.full_name || "–", now ? now.full_name || "–" : "?"],
    ["Headline", p.backup.headline || "–", now ? now.headline || "–" : "?"],
    ...p.tables.map((t) => [t.label, cell(t.then), now ? cell(t.now) : "?"]),
    ["Schema", p.backup.schema_revision || "–", now ? now.schema_revision || "–" : "?"],
  ];
  return h("table", { class: "preview-table", "aria-label": "What this backup holds, and your data now" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "" }), h("th", { scope: "col", text: "In the backup" }),
                                h("th", { scope: "col", text: "Now" }))),
    h("tbody", {}, rows.map(([label, then, current]) =>
      h("tr", { class: then !== current ? "is-different" : "" },
        h("th", { scope: "row", text: label }), h("td", { text: then }), h("td", { text: current })))));
}

async function preview(name, arg) {
  try {
    return previewTable(await call(name, arg));
  } catch (e) {
    return h("p", { class: "muted", text: `What it holds cannot be shown: ${e.message}` });
  }
}

// What the page says of a safety backup whose file was changed after its restore (Y7), as the command line does.
const CHANGED_AFTER_RESTORE = "Changed after the restore that made it: it may not be your data from before "
  + "that restore. It is sound as it is now, kept, and can be restored as it is (checked in full first).";

export async function restoreBackup(button, b) {
  const table = await preview("preview_backup", b.id);
  const changed = b.verify_message === "changed-after-restore";
  const ok = await confirmDialog({
    title: "Restore this backup?",
    body: [`Your current data will be replaced by ${describe(b)}${b.note ? ` (“${b.note}”)` : ""}${
             changed ? " as its file is now" : ""}.`,
           ...(changed ? ["This safety backup was changed after the restore that made it (its file was written, "
             + "replaced or touched): it may not be your data from before that restore."] : []),
           table,
           "First, JobMatcher makes a safety backup of your current data, so you can go back to it.",
           "When the restore is done, JobMatcher restarts."],
    confirmLabel: "Restore",
  });
  if (ok) await runRestore(() => call("start_restore", b.id));
}

// -- restore from a file --------------------------------------------------------------------

export async function restoreFromFile() {
  let chosen;
  try {
    if (mode === "window") {
      chosen = await call("choose_restore_file");
      if (chosen.cancelled) return;
    } else {
      const file = await pickFile();
      if (!file) return;
      chosen = await upload(file);
    }
  } catch (e) {
    await errorDialog("This file cannot be restored", e);
    return;
  }
  await checkAndRestoreFile(chosen);
}

function pickFile() {
  return new Promise((resolve) => {
    const input = $("#restore-file-input");
    input.value = "";
    input.onchange = () => resolve(input.files[0] || null);
    input.oncancel = () => resolve(null);
    input.click();
  });
}

async function checkAndRestoreFile(chosen) {
  const checking = new ProgressDialog("Checking the file", "Checking the file");
  checking.update({ message: `Checking ${chosen.name}…`, fraction: 0 });
  checking.bar.removeAttribute("value");
  let info;
  try {
    info = await call("check_restore_file", chosen.token);
  } catch (e) {
    checking.close();
    await errorDialog("This file cannot be restored", e);
    return;
  }
  checking.close();
  const body = [`Your current data will be replaced by the backup in ${info.name} (${info.size}).`,
                await preview("preview_restore_file", info.token)];
  if (info.needs_update) body.push("It was made by an older version of JobMatcher; it is updated as it is restored.");
  body.push("First, JobMatcher makes a safety backup of your current data, so you can go back to it.",
            "When the restore is done, JobMatcher restarts.");
  const ok = await confirmDialog({ title: "Restore from this file?", body, confirmLabel: "Restore" });
  if (ok) await runRestore(() => call("start_restore_file", info.token));
}

// -- the restore itself -----------------------------------------------------------------------

export async function runRestore(start) {
  const dialog = new ProgressDialog("Restoring your data", "Restore progress",
                                    "This cannot be cancelled. Keep JobMatcher open until it is done.");
  dialog.update({ message: "Starting the restore…", fraction: 0 });
  let final;
  try {
    final = await followTask(await start(), (t) => dialog.update(t));
  } catch (e) {
    final = { state: "failed", error: e };
  }
  if (final.state !== "done") {
    const e = final.error || {};
    let title = "The restore did not run";
    if (e.code === "restore-failed") {
      title = e.recovered ? "The restore failed, and your data was put back" : "The restore failed";
    } else if (e.code === "invalid-backup" || e.code === "foreign-schema") {
      title = "This backup cannot be restored";
    }
    dialog.finish(title, [e.message || "The restore failed.", e.hint || ""].filter(Boolean), { error: true });
    dialog.allowClose("Close", () => onDataChanged());
    return;
  }
  // a new computer's first restore replaced only the empty database its first launch made: nothing to keep (T16)
  const safety = final.result.safety_backup_id && !final.result.first_run;
  // a safety backup changed after its restore was restored as its file is (Y7): said, as the command line does
  const changed = final.result.source_changed_after_restore
    ? "What was restored is that safety backup's file as it is now, which may not be your data from before "
      + "the restore that made it." : "";
  if (final.result.reopen) {
    // The data could not be opened before: nothing holds it, so opening it again is enough.
    dialog.finish("Your data was restored", [
      "Restore complete. JobMatcher is opening your data…",
      changed,
      safety ? "The data you had before is kept in a safety backup." : "",
    ].filter(Boolean), { busy: true });
    try {
      await call("retry_launch");
    } catch (e) {
      // the reloaded page shows what happened
    }
    location.reload();
    return;
  }
  dialog.finish("Your data was restored", [
    "Restore complete. JobMatcher will restart…",
    changed,
    safety ? "The data you had before is kept in a safety backup, in case you want it back." : "",
  ].filter(Boolean), { busy: true });
  await sleep(1200);
  let answer;
  try {
    answer = await call("restart");
  } catch (e) {
    answer = { restarting: false, message: `${e.message} Close JobMatcher and open it again; your restored data is already in place.` };
  }
  if (!answer.restarting) {
    dialog.finish("Your data was restored", ["Restore complete.", answer.message], { error: false });
    return;
  }
  if (mode === "browser") await reconnect(dialog);
  // In the window, this window closes now and the new one opens by itself.
}

/** Browser mode: wait for the restarted server (same address, same secret), then reload the page. */
async function reconnect(dialog) {
  sessionStorage.setItem("jobmatcher-restarted-after-restore", "1");
  expectRestart();
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    await sleep(400);
    try {
      // Whoever answers at this address must prove it is JobMatcher before the page sends the secret again.
      const back = await verifiedInstance();
      if (!back || back === instance) continue;
      const info = await call("app_info");
      if (info.instance !== instance && info.launch && info.launch.state !== "running") {
        location.reload();
        return;
      }
    } catch (e) {
      // not back yet
    }
  }
  dialog.finish("JobMatcher did not come back", [
    "Your restored data is already in place, but JobMatcher did not restart by itself.",
    "Start JobMatcher again, then reload this page.",
  ], { error: true });
}

// -- settings ------------------------------------------------------------------------------------

function renderSettings(s) {
  const select = $("#auto-backup");
  const options = INTERVALS.some(([v]) => v === s.auto_backup_minutes)
    ? INTERVALS : [...INTERVALS, [s.auto_backup_minutes, `Every ${s.auto_backup_minutes} minutes`]];
  select.replaceChildren(...options.map(([v, label]) => h("option", { value: v, text: label })));
  select.value = String(s.auto_backup_minutes);
  $("#retention-days").value = s.retention_days;
  const r = s.retention || {};
  $("#retention-policy").value = r.retention_policy || "tiered";
  $("#keep-all-hours").value = r.keep_all_hours ?? 24;
  $("#keep-daily-days").value = r.keep_daily_days ?? 14;
  $("#keep-weekly-weeks").value = r.keep_weekly_weeks ?? 8;
  $("#keep-monthly-months").value = r.keep_monthly_months ?? 12;
  $("#budget-mb").value = r.budget_mb ?? "";
  $("#tiers").hidden = $("#retention-policy").value !== "tiered";
  $("#backup-dir").value = s.backup_dir;
  $("#backup-dir").placeholder = s.default_backup_dir;
  $("#backup-dir-current").replaceChildren(...pathParts(s.effective_backup_dir));
}

async function saveSettings(event) {
  event.preventDefault();
  const message = $("#settings-message");
  message.hidden = true;
  await busy($("#save-settings"), async () => {
    try {
      const budget = $("#budget-mb").value.trim();
      const retention = {
        retention_policy: $("#retention-policy").value,
        keep_all_hours: Number($("#keep-all-hours").value),
        keep_daily_days: Number($("#keep-daily-days").value),
        keep_weekly_weeks: Number($("#keep-weekly-weeks").value),
        keep_monthly_months: Number($("#keep-monthly-months").value),
        budget_mb: budget === "" ? null : Number(budget),
      };
      const args = [Number($("#auto-backup").value), Number($("#retention-days").value),
                    $("#backup-dir").value, retention];
      let s;
      try {
        s = await call("save_settings", ...args);
      } catch (e) {
        // A change that deletes backups at the next clean-up, or adopts a replaced backup drive: ask first.
        if (e.code !== "confirmation-needed") throw e;
        const adopt = e.action === "adopt-backup-folder";
        const yes = await confirmDialog({
          title: adopt ? "Use this folder for your backups?" : "Delete backups at the next clean-up?",
          body: `${e.message} ${e.hint || ""}`.trim(),
          confirmLabel: adopt ? "Use this folder" : "Save anyway",
          danger: !adopt,
        });
        if (!yes) {
          message.className = "form-message";
          message.replaceChildren(h("p", { text: "Nothing was changed." }));
          message.hidden = false;
          return;
        }
        s = await call("save_settings", ...args, true);
      }
      renderSettings(s);
      message.className = "form-message is-ok";
      message.replaceChildren(h("p", { text: "Settings saved." }));
      message.hidden = false;
      await loadBackups();
    } catch (e) {
      message.className = "form-message is-error";
      message.replaceChildren(h("p", { class: "error-message", text: e.message }),
                              e.hint ? h("p", { class: "error-hint", text: e.hint }) : "");
      message.hidden = false;
    }
  });
}

async function chooseFolder(event) {
  try {
    const r = await call("choose_backup_folder");
    if (!r.cancelled) $("#backup-dir").value = r.path;
  } catch (e) {
    showError(e);
  }
}

async function openFolder(event) {
  let failed = null;
  await busy(event.currentTarget, async () => {
    try {
      const r = await call("open_backups_folder");
      if (r.opened) toast("Opened the backups folder in your file manager.");
      else failed = r;
    } catch (e) {
      showError(e);
    }
  });
  // the button's spinner is for the attempt, not for the dialog that follows it
  if (failed) await pathDialog("Could not open the backups folder",
                               "JobMatcher could not start a file manager. Open this folder yourself:", failed.path);
}

// -- wiring ------------------------------------------------------------------------------------------

export function setUpBackups({ appInstance, dataChanged }) {
  instance = appInstance;
  onDataChanged = dataChanged;
  $("#backup-form").addEventListener("submit", (e) => { e.preventDefault(); backUpNow(); });
  $("#restore-file").addEventListener("click", restoreFromFile);
  $("#open-folder").addEventListener("click", openFolder);
  $("#settings-form").addEventListener("submit", saveSettings);
  $("#retention-policy").addEventListener("change", () => {
    $("#tiers").hidden = $("#retention-policy").value !== "tiered";
  });
  const choose = $("#choose-folder");
  choose.hidden = mode !== "window";
  choose.addEventListener("click", chooseFolder);
}
