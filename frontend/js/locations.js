// Backup & Restore → Backup locations: the list with status, adding a folder or S3
// storage, Sync now, enable/disable/remove, and "Restore from a backup location"
// (also the way back for a new computer). Passphrases and keys are sent once and
// never shown again.

import { $, ago, busy, h, isBusy, localDateTime, shown, timeLabels } from "./dom.js";
import { call, mode } from "./transport.js";
import { confirmDialog, errorDialog, secretDialog, showError, toast } from "./dialogs.js";
import { loadBackups, runRestore } from "./backups.js";

let overview = null;
let polling = null;

export async function loadLocations() {
  overview = await call("locations_overview");
  render();
  if (overview.sync && overview.sync.state === "running") pollSync();
}

function render() {
  $("#locations-status").textContent = shown(overview.status_line);
  $("#first-run").hidden = !overview.first_run;
  // Encrypted copies stopped until the key is unlocked once (U4): the page's own way to do it
  $("#locations-unlock").hidden = !overview.locations.some((l) => l.enabled && l.problem_code === "recipient-unproven");
  const list = $("#location-list");
  list.replaceChildren(...overview.locations.map(item));
  $("#no-locations").hidden = overview.locations.length > 0;
  $("#sync-locations").hidden = overview.locations.length === 0;
  $("#change-passphrase").hidden = !overview.locations.some((l) => l.encrypted);
  renderSync(overview.sync);
}

// The short state a location's row shows for its problem (the whole message is shown under it).
const PROBLEM_LABELS = {
  "location-credentials": "Keys refused",
  "location-clock": "Clock is off",
  "keyring-locked": "Keyring locked",
  "location-copy-failed": "Copy failed",
  "location-taken-over": "Used by another computer",
  "location-marker-missing": "Marker missing",
};

function item(loc) {
  const state = !loc.enabled ? ["Disabled", "is-unknown"]
    : loc.problem ? [PROBLEM_LABELS[loc.problem_code] || "Not available", "is-bad"]
      : loc.lost ? ["Damaged copies", "is-warn"]  // working, but holding copies that cannot be restored (D5)
        : loc.last_success_at ? ["Up to date", "is-ok"] : ["Not copied yet", "is-unknown"];
  const facts = [
    loc.kind === "s3" ? "S3 storage" : "Folder",
    loc.encrypted ? "encrypted" : "not encrypted",
    loc.last_success_at ? `last copy ${ago(loc.last_success_at)} (${localDateTime(loc.last_success_at)})` : "no copy yet",
    loc.damaged
      ? `${loc.copies} good ${loc.copies === 1 ? "copy" : "copies"}, ${loc.damaged} damaged, ${loc.used} there`
      : `${loc.copies} ${loc.copies === 1 ? "copy" : "copies"}, ${loc.used}`,
    loc.pending ? `${loc.pending} waiting` : null,
    loc.lost ? `${loc.lost} damaged ${loc.lost === 1 ? "copy" : "copies"} cannot be restored (${loc.lost === 1 ? "its backup is" : "their backups are"} no longer on this computer)` : null,
    loc.old_passphrase ? "its key still opens with your old passphrase (or with the new one, if a change stopped part way reached it); updated at its next copy" : null,
    `keeps ${loc.keeps}`,
  ].filter(Boolean).join(" · ");
  const actions = h("div", { class: "row-actions" },
    h("button", { type: "button", class: "btn btn-small btn-secondary", text: "Sync now",
                  disabled: !loc.enabled, onclick: (e) => syncNow(e.currentTarget, loc.name) }),
    // reads every copy there back and compares its checksum (`location sync --verify`): bit rot, a sync tool
    h("button", { type: "button", class: "btn btn-small btn-secondary", text: "Check copies",
                  title: "Read every copy there back and compare it with what was written (downloads them all)",
                  disabled: !loc.enabled, onclick: (e) => syncNow(e.currentTarget, loc.name, true) }),
    h("button", { type: "button", class: "btn btn-small btn-secondary", text: loc.enabled ? "Disable" : "Enable",
                  onclick: (e) => toggle(e.currentTarget, loc) }),
    h("button", { type: "button", class: "btn btn-small btn-secondary", text: "Copies to keep…",
                  onclick: () => changeRetention(loc).catch(showError) }),
    loc.kind === "folder"
      ? h("button", { type: "button", class: "btn btn-small btn-secondary", text: "Change folder…",
                      onclick: () => changeFolder(loc).catch(showError) })
      : null,
    h("button", { type: "button", class: "btn btn-small btn-danger-text", text: "Remove",
                  onclick: (e) => remove(e.currentTarget, loc) }));
  return h("li", { class: "location", dataset: { name: loc.name } },
    h("div", { class: "location-main" },
      h("strong", { class: "location-name", text: loc.name }),
      h("span", { class: `verified ${state[1]}`, text: state[0] }),
      h("p", { class: "path small", text: loc.where }),
      h("p", { class: "small muted", text: facts }),
      loc.problem ? h("p", { class: "small status-warning", text: loc.problem }) : null),
    actions);
}

// -- sync ----------------------------------------------------------------------------

function renderSync(sync) {
  const line = $("#locations-sync");
  if (!sync) { line.hidden = true; return; }
  line.hidden = false;
  const mb = (n) => (n / 1e6).toFixed(1);
  if (sync.state === "running" && sync.phase === "verify") {
    line.textContent = shown("Reading the copies back…" + (sync.total ? ` ${mb(sync.done)} of ${mb(sync.total)} MB` : ""));
  } else if (sync.state === "running") {
    const which = sync.backups ? `backup ${Math.min(sync.backup + 1, sync.backups)} of ${sync.backups}` : "checking";
    line.textContent = shown(`Copying… ${which}` + (sync.total ? `: ${mb(sync.done)} of ${mb(sync.total)} MB` : ""));
  } else if (sync.error) {
    line.textContent = shown(`${sync.error.message} ${sync.error.hint || ""}`);
  } else {
    const results = sync.results || [];
    const failed = results.filter((r) => r.error);
    const copied = results.reduce((n, r) => n + r.copied.length, 0);
    // what a read-back found, as `location sync --verify` says it: each damaged copy with why, and whether
    // it was copied again or cannot be (its backup is no longer on this computer)
    const checked = sync.verify ? results.filter((r) => r.verified || r.damaged.length).map((r) => {
      const bad = r.damaged.map((id) => `${id}: ${r.damaged_why[id] || "damaged"} (${r.copied.includes(id)
        ? "copied again" : (r.failed_backups || []).includes(id)
          ? "its backup here failed its check too, so it was not copied again"
          : "this computer no longer has that backup to copy again"}).`);
      return [`${r.name}: checked ${r.verified} ${r.verified === 1 ? "copy" : "copies"} there, `
        + `${r.verified - r.damaged.length} as written.`, ...bad].join(" ");
    }) : [];
    const notCopied = results.filter((r) => (r.failed_backups || []).length).map((r) =>
      `${r.name}: ${r.failed_backups.join(", ")} not copied: ${r.failed_backups.length === 1 ? "it" : "they"} failed `
      + `${r.failed_backups.length === 1 ? "its" : "their"} check.`);
    const made = `${copied} ${copied === 1 ? "copy" : "copies"} made`;
    const damaged = results.some((r) => r.damaged.length || (r.lost || []).length);
    const done = failed.length ? failed.map((r) => r.error).join(" ")
      : notCopied.length ? notCopied.join(" ")
        : damaged ? `${made[0].toUpperCase()}${made.slice(1)}.` : `Up to date (${made}).`;
    line.textContent = shown([...checked, done].join(" "));
  }
}

async function syncNow(button, name = "", verify = false) {
  await busy(button, async () => {
    try {
      const state = await call("sync_locations", name, verify);
      renderSync(state);
      pollSync();
    } catch (e) {
      showError(e);
    }
  });
}

function pollSync() {
  if (polling) return;
  polling = setInterval(async () => {
    try {
      overview = await call("locations_overview");
    } catch (e) {
      return;
    }
    render();
    if (!overview.sync || overview.sync.state !== "running") {
      clearInterval(polling);
      polling = null;
      // the status line above holds the locations' health too: a copy that worked (or failed) changes it
      loadBackups().catch(() => {});
    }
  }, 400);
}

// The one step an older data folder takes before encrypted copies are made again: the key file opened once
// with the passphrase (its recipient recorded beside it), then the copies, as Sync now.
async function unlockKey(event) {
  event.preventDefault();
  const input = $("#unlock-passphrase");
  const error = $("#locations-unlock-error");
  const button = $("#unlock-key");
  if (isBusy(button)) return;  // opening the key takes seconds: one attempt at a time
  error.hidden = true;
  await busy(button, async () => {
    try {
      const state = await call("unlock_location_key", input.value);
      renderSync(state);
      pollSync();
    } catch (e) {
      error.textContent = shown([e.message, e.hint].filter(Boolean).join(" "));
      error.hidden = false;
    } finally {
      input.value = "";  // never kept on the page
    }
  });
}

// A change that makes a location delete copies already there (its retention, at its next copy): the
// engine refuses it with code "confirmation-needed"; ask, then call again confirmed. Resolves with the
// answer, or null when the user said no.
async function confirmingCopies(title, confirmLabel, run) {
  try {
    return await run(false);
  } catch (e) {
    if (e.code !== "confirmation-needed") throw e;
    const yes = await confirmDialog({ title, body: `${e.message} ${e.hint || ""}`.trim(), confirmLabel, danger: true });
    return yes ? run(true) : null;
  }
}

async function toggle(button, loc) {
  await busy(button, async () => {
    try {
      const done = await confirmingCopies("Delete copies there?", "Enable anyway",
        (confirmed) => call("set_location_enabled", loc.name, !loc.enabled, confirmed));
      if (!done) { toast(`${loc.name} stays disabled; its copies there are kept.`); return; }
      toast(loc.enabled ? `${loc.name} is left alone until you enable it again.` : `${loc.name} is enabled again.`);
      await loadLocations();
    } catch (e) {
      showError(e);
    }
  });
}

// Which copies a location keeps (its retention); a change that deletes copies there at its next copy asks first.
async function changeRetention(loc) {
  const changed = await formDialog({
    title: `Copies to keep at ${loc.name}`, fields: retentionFields(loc.retention),
    confirmLabel: "Save", onOpen: followPolicy,
    submit: async (v) => {
      const retention = retentionOf(v);
      const done = await confirmingCopies("Delete copies there?", "Save anyway",
        (confirmed) => call("set_location_retention", loc.name, null, confirmed, retention));
      if (!done) throw { message: "Nothing was changed; the copies there are kept.", hint: "Keep more, or cancel." };
      return done;
    },
  });
  if (changed) {
    toast(`${loc.name} keeps ${changed.keeps}.`);
    await loadLocations();
  }
}

// A folder location's drive mounted at another place (X26): the new folder must hold this data folder's copies or
// none; nothing at the old folder is touched.
async function changeFolder(loc) {
  const done = await formDialog({
    title: `Folder of ${loc.name}`,
    intro: [`Now: ${loc.where}. If its drive is mounted at another place, give that folder: it must hold this data `
            + "folder's copies, or none yet. Nothing at the old folder is deleted."],
    fields: [{ name: "path", label: "New folder", value: loc.where, required: true, button: folderPicker }],
    confirmLabel: "Change folder",
    submit: (v) => call("set_location_path", loc.name, v.path),
  });
  if (!done) return;
  const n = `${done.copies} ${done.copies === 1 ? "copy" : "copies"}`;
  const what = done.found === "new" ? "no copies there yet: they are made at the next copy"
    : done.found === "marker" ? `its marker was written there again, beside ${n} of yours`
      : `${n} there join it`;
  toast(`${done.name} now copies to ${done.where} (${what}).`);
  await loadLocations();
}

// The passphrase of the encryption key (X13): the same key locked anew, so copies and the recovery key stay
// valid. Both passphrases are sent once and cleared from the form when it closes (formDialog).
async function changePassphrase() {
  const done = await formDialog({
    title: "Change the passphrase",
    intro: ["The same encryption key is locked with the new passphrase, here and at every location that can be "
            + "reached now: your copies and your recovery key stay valid. A location that cannot be reached now "
            + "is updated at its next copy."],
    fields: [
      { name: "old", label: "Current passphrase or recovery key", type: "password", autocomplete: "current-password",
        required: true },
      { name: "new1", label: "New passphrase", type: "password", autocomplete: "new-password", required: true,
        help: "At least 8 characters. JobMatcher cannot recover it for you." },
      { name: "new2", label: "New passphrase again", type: "password", autocomplete: "new-password", required: true },
    ],
    confirmLabel: "Change passphrase",
    submit: async (v) => {
      if (v.new1 !== v.new2) throw { message: "The two new passphrases differ.", hint: "Type the same passphrase twice." };
      return call("change_location_passphrase", v.old, v.new1);
    },
  });
  if (!done) return;
  const later = [...done.pending, ...(done.disabled || [])];
  const other = done.other_key || [];
  if (other.length) toast(`${other.join(", ")}: another encryption key's file is there, which no passphrase of yours opens; left as it is.`);
  toast(later.length
    ? `Passphrase changed. ${later.join(", ")}: still the old passphrase until its next copy`
      + (done.disabled && done.disabled.length ? ` (a disabled location is left alone until you enable it).` : ".")
    : "Passphrase changed everywhere.");
  await loadLocations();
}

async function remove(button, loc) {
  const ok = await confirmDialog({
    title: `Remove ${loc.name}?`,
    body: ["JobMatcher stops copying there. The copies already there are left in place.", loc.where],
    confirmLabel: "Remove", danger: true,
  });
  if (!ok) return;
  await busy(button, async () => {
    try {
      await call("remove_location", loc.name);
      toast(`Removed ${loc.name}; its copies were left in place.`);
      await loadLocations();
    } catch (e) {
      showError(e);
    }
  });
}

// -- forms -----------------------------------------------------------------------------

/**
 * A modal form. `fields`: [{name, label, type, value, help, required, autocomplete}]. Resolves with the
 * values, or null when cancelled. `submit(values)` may throw an ApiError: shown in the form, which stays.
 */
function formDialog({ title, intro = [], fields, confirmLabel, submit, extra = null, onOpen = null }) {
  return new Promise((resolve) => {
    const inputs = {};
    const rows = fields.map((f) => {
      const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
      const input = f.type === "checkbox"
        ? h("input", { id, type: "checkbox", checked: f.value !== false })
        : f.type === "select"
          ? h("select", { id }, ...f.options.map(([value, text]) => h("option", { value, text, selected: value === f.value })))
          : h("input", { id, type: f.type || "text", value: f.value || "", required: f.required,
                       autocomplete: f.autocomplete || "off", spellcheck: "false", placeholder: f.placeholder,
                       min: f.min, max: f.max, step: f.step });
      inputs[f.name] = input;
      const control = f.button ? h("div", { class: "with-button" }, input, f.button(input)) : input;
      return h("div", { class: f.type === "checkbox" ? "form-row is-check" : "form-row",
                        dataset: f.group ? { group: f.group } : undefined },
               h("label", { for: id, text: f.label }), control,
               f.help ? h("p", { class: "help", text: f.help }) : null);
    });
    const error = h("p", { class: "error-message", role: "alert", hidden: true });
    const cancel = h("button", { type: "button", class: "btn btn-secondary", text: "Cancel" });
    const ok = h("button", { type: "submit", class: "btn btn-primary", text: confirmLabel });
    const titleId = `dlg-form-${Math.random().toString(36).slice(2, 8)}`;
    const form = h("form", { method: "dialog", class: "dialog-form" },
      ...intro.map((p) => (p instanceof Node ? p : h("p", { text: p }))), ...rows, extra, error,
      h("div", { class: "dialog-actions" }, cancel, ok));
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId, class: "dialog-title", text: title }), form);
    document.body.append(dialog);
    if (onOpen) onOpen(dialog);
    let result = null;
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const values = {};
      for (const [k, input] of Object.entries(inputs)) values[k] = input.type === "checkbox" ? input.checked : input.value;
      ok.disabled = true;
      error.hidden = true;
      try {
        result = await submit(values);
        dialog.close();
      } catch (err) {
        error.textContent = shown([err.message, err.hint].filter(Boolean).join(" "));
        error.hidden = false;
      } finally {
        ok.disabled = false;
      }
    });
    dialog.addEventListener("close", () => {
      for (const input of Object.values(inputs)) if (input.type === "password") input.value = "";
      dialog.remove();
      resolve(result);
    });
    dialog.showModal();
  });
}

function folderPicker(input) {
  if (mode !== "window") return null;
  return h("button", { type: "button", class: "btn btn-secondary", text: "Choose…", onclick: async () => {
    try {
      const r = await call("choose_location_folder");
      if (!r.cancelled) input.value = r.path;
    } catch (e) {
      showError(e);
    }
  } });
}

async function passphraseFields() {
  const { needs_passphrase: needs } = await call("needs_passphrase");
  if (!needs) return [];
  return [
    { name: "passphrase", label: "Passphrase (for encrypted copies)", type: "password", autocomplete: "new-password",
      help: "Chosen once for this data folder. With it you can restore your copies on a new computer. " +
            "JobMatcher cannot recover it for you." },
    { name: "passphrase2", label: "Passphrase again", type: "password", autocomplete: "new-password" },
  ];
}

// A location's retention: the backup folder's policy with its own numbers (the limits are the settings').
const DEFAULT_RETENTION = { retention_policy: "tiered", retention_days: 90, keep_all_hours: 24, keep_daily_days: 14,
                            keep_weekly_weeks: 8, keep_monthly_months: 12 };
const RETENTION_LIMITS = {
  retention_days: [1, 36500, "days"], keep_all_hours: [0, 8784, "hours"], keep_daily_days: [0, 3660, "days"],
  keep_weekly_weeks: [0, 520, "weeks"], keep_monthly_months: [0, 1200, "months"],
};
const DAYS_LABEL = { tiered: "Keep manual copies for (days)", simple: "Keep every copy for (days)" };

function retentionFields(r = DEFAULT_RETENTION) {
  const number = (name, label, help) => ({ name, label, type: "number", value: String(r[name]), required: true,
    min: RETENTION_LIMITS[name][0], max: RETENTION_LIMITS[name][1], step: 1, help,
    group: name === "retention_days" ? undefined : "tiered" });
  return [
    { name: "retention_policy", label: "Copies to keep there", type: "select", value: r.retention_policy,
      options: [["tiered", "Tiered: recent ones, then one a day, a week, a month"],
                ["simple", "Simple: every copy for a number of days"]],
      help: "The newest copy and pinned backups are always kept. Keep more at a drive away from home." },
    number("keep_all_hours", "Keep every copy from the last (hours)"),
    number("keep_daily_days", "Keep the newest of each day for (days)"),
    number("keep_weekly_weeks", "Keep the newest of each week for (weeks)"),
    number("keep_monthly_months", "Keep the newest of each month for (months)"),
    number("retention_days", DAYS_LABEL[r.retention_policy] || DAYS_LABEL.tiered),
  ];
}

// In a form with retentionFields: the tiers are shown only for the tiered policy, and the days say what they keep.
function followPolicy(dialog) {
  const policy = dialog.querySelector("select");
  const follow = () => {
    for (const row of dialog.querySelectorAll('[data-group="tiered"]')) row.hidden = policy.value !== "tiered";
    const label = [...dialog.querySelectorAll("label")].find((l) => Object.values(DAYS_LABEL).includes(l.textContent));
    if (label) label.textContent = DAYS_LABEL[policy.value];
  };
  follow();
  policy.addEventListener("change", follow);
}

// The retention the form says, checked against its limits (the engine checks them again).
function retentionOf(v) {
  const r = { retention_policy: v.retention_policy === "simple" ? "simple" : "tiered" };
  for (const [name, [low, high, unit]] of Object.entries(RETENTION_LIMITS)) {
    const n = Number(v[name]);
    if (!(r.retention_policy === "simple" && name !== "retention_days") && (!Number.isInteger(n) || n < low || n > high)) {
      throw { message: `Type a whole number of ${unit} from ${low} to ${high.toLocaleString("en-GB")}.`,
              hint: "Keep more copies at a drive away from home, fewer where space is short." };
    }
    r[name] = Number.isInteger(n) && n >= low && n <= high ? n : DEFAULT_RETENTION[name];
  }
  return r;
}

// Adding a location: when its days would delete copies this data folder made there earlier (a drive added
// again), ask first; a "no" leaves the form open with nothing added.
async function addConfirming(add) {
  const added = await confirmingCopies("Delete copies there?", "Add anyway", add);
  if (!added) throw { message: "Nothing was added; the copies there are kept.", hint: "Keep more copies there, or cancel." };
  return added;
}

function checkPassphrase(v) {
  if (v.encrypt && "passphrase" in v && v.passphrase !== v.passphrase2) {
    throw { message: "The two passphrases differ.", hint: "Type the same passphrase twice." };
  }
}

async function showRecoveryKey(added) {
  if (!added.recovery_key) {
    toast(`Added ${added.name}. Copies are made in the background.` + (added.note ? ` ${added.note}` : ""));
    return;
  }
  const key = h("input", { type: "text", class: "path-field recovery-key", readonly: true, value: added.recovery_key,
                           "aria-label": "Recovery key", spellcheck: "false" });
  await secretDialog({
    title: "Your recovery key",
    body: [`Added ${added.name}. Your copies are encrypted.` + (added.note ? ` ${added.note}` : ""),
           "This is your recovery key. It is shown only this once: print it or write it down and keep it safe.",
           key,
           "With it, or with your passphrase, your copies can be restored on any computer, even without JobMatcher."],
    keptLabel: "I have kept it", closeLabel: "Close",
    question: {
      title: "Close without keeping the key?",
      body: "You will not see this recovery key again. Without it, only your passphrase opens your copies.",
      confirmLabel: "Close anyway", cancelLabel: "Go back",
    },
  });
}

async function addFolder() {
  const fields = [
    { name: "path", label: "Folder", required: true, button: folderPicker,
      placeholder: "/media/me/USB-drive", help: "A USB drive, a network share, or a folder Dropbox, OneDrive, Google Drive or iCloud syncs." },
    { name: "name", label: "Name (optional)", placeholder: "USB drive" },
    ...retentionFields(),
    { name: "encrypt", label: "Encrypt the copies", type: "checkbox", value: true },
    ...(await passphraseFields()),
  ];
  const added = await formDialog({
    title: "Add a backup folder", fields, confirmLabel: "Add folder", onOpen: followPolicy,
    submit: (v) => {
      checkPassphrase(v);
      const r = retentionOf(v);
      return addConfirming((confirmed) => call("add_folder_location", v.path, v.name, v.encrypt, v.passphrase || "",
                                               r.retention_days, confirmed, r));
    },
  });
  if (added) {
    await showRecoveryKey(added);
    await loadLocations();
  }
}

async function addS3() {
  const fields = [
    { name: "endpoint", label: "Endpoint URL", placeholder: "https://s3.eu-central-003.backblazeb2.com",
      help: "Your provider's S3 address (leave empty for Amazon S3)." },
    { name: "bucket", label: "Bucket", required: true },
    { name: "prefix", label: "Folder in the bucket (optional)", placeholder: "jobmatcher" },
    { name: "key_id", label: "Access key id", required: true },
    { name: "secret", label: "Secret access key", type: "password", required: true, autocomplete: "off",
      help: "Kept in your system's keyring (or a private file); never shown again." },
    { name: "name", label: "Name (optional)", placeholder: "Backblaze" },
    ...retentionFields(),
    { name: "encrypt", label: "Encrypt the copies", type: "checkbox", value: true },
    ...(await passphraseFields()),
  ];
  const added = await formDialog({
    title: "Add S3 storage", fields, confirmLabel: "Add storage", onOpen: followPolicy,
    submit: (v) => {
      checkPassphrase(v);
      const r = retentionOf(v);
      return addConfirming((confirmed) => call("add_s3_location", v.endpoint, v.bucket, v.key_id, v.secret, v.prefix,
                                               v.name, v.encrypt, v.passphrase || "", r.retention_days, confirmed, r));
    },
  });
  if (added) {
    await showRecoveryKey(added);
    await loadLocations();
  }
}

// -- restore from a location -------------------------------------------------------------------

async function restoreFromLocation() {
  const configured = (overview && overview.locations) || [];
  const where = h("select", { id: "restore-source-kind" },
    ...configured.map((l) => h("option", { value: `configured:${l.name}`, text: l.name })),
    h("option", { value: "folder", text: "A folder…" }),
    h("option", { value: "s3", text: "S3 storage…" }));
  const fields = [
    { name: "path", label: "Folder", button: folderPicker, placeholder: "/media/me/USB-drive", group: "folder" },
    { name: "endpoint", label: "Endpoint URL", placeholder: "https://s3.eu-central-003.backblazeb2.com", group: "s3" },
    { name: "bucket", label: "Bucket", group: "s3" },
    { name: "prefix", label: "Folder in the bucket", group: "s3" },
    { name: "key_id", label: "Access key id", group: "s3" },
    { name: "secret", label: "Secret access key", type: "password", group: "s3" },
  ];
  // only the fields of the kind of location chosen
  const showGroup = (dialog) => {
    const kind = where.value.split(":")[0];
    for (const row of dialog.querySelectorAll("[data-group]")) row.hidden = row.dataset.group !== kind;
  };
  let source = null;
  let found = null;
  const listed = await formDialog({
    title: "Restore from a backup location",
    intro: ["Where are your copies?", h("div", { class: "form-row" }, h("label", { for: "restore-source-kind", text: "Location" }), where)],
    fields, confirmLabel: "Show backups",
    onOpen: (dialog) => { showGroup(dialog); where.addEventListener("change", () => showGroup(dialog)); },
    submit: async (v) => {
      const [kind, name] = where.value.split(":");
      source = kind === "configured" ? { kind, name }
        : kind === "folder" ? { kind, path: v.path }
          : { kind, endpoint_url: v.endpoint, bucket: v.bucket, prefix: v.prefix, access_key_id: v.key_id,
              secret_access_key: v.secret };
      found = await call("remote_backups", source);
      return found;
    },
  });
  if (!listed) return;
  // copies whose manifest there cannot be read are said, never silently left out (V15e: the library's words)
  const unlisted = found.unlisted || [];
  if (!found.backups.length) {
    await errorDialog("No backups there", {
      message: [`There are no JobMatcher copies at ${found.where}${unlisted.length ? " that can be read" : ""}.`,
                ...unlisted].join(" "),
      hint: "Check the folder or bucket and try again." });
    return;
  }
  // Two copies made in the same minute read alike to the minute: those are shown to the second (T16).
  const when = timeLabels(found.backups);
  // In the order of making (the server sorts by sequence, V11): a copy dated in the future was made while a
  // clock was ahead; it says so and is never the one chosen for the user.
  const options = found.backups.map((b, i) => h("option", { value: String(i),
    text: `${when(b)}${b.future ? " (dated in the future: a wrong clock)" : ""} · ${b.type_label || b.type} · ` +
          `${b.size} · ${b.schema_revision || "?"}` + (b.verified ? " · verified" : "") +
          (b.encrypted ? " · encrypted" : b.not_ours ? " · NOT encrypted: not made by JobMatcher" : "") +
          (b.pinned ? " · pinned" : "") +
          (b.doubt ? ` · NOT restorable: ${b.doubt}` : "") +
          (found.several_folders ? ` · data folder ${b.folder_id.slice(0, 8)}` : "") }));
  const pick = h("select", { id: "restore-pick", class: "restore-pick" }, ...options);
  const first = found.backups.findIndex((b) => !b.future && !b.not_ours && !b.doubt);
  pick.value = String(first >= 0 ? first : 0);
  const needsSecret = found.backups.some((b) => b.encrypted);
  const chosen = await formDialog({
    title: "Choose a backup to restore",
    intro: [`Backups at ${found.where}, newest first (in the order they were made).`,
            h("div", { class: "form-row" }, h("label", { for: "restore-pick", text: "Backup" }), pick),
            ...unlisted.map((why) => h("p", { class: "unlisted-copy", text: why })),
            // even the newest copy is dated after this computer's clock: it may be behind (X15), the copies are fine
            ...(found.clock_behind ? [h("p", { class: "clock-behind", text: found.clock_behind })] : []),
            "Your current data (if any) is saved first in a safety backup. The copy is checked end to end before anything is replaced; then JobMatcher restarts."],
    fields: needsSecret ? [{ name: "passphrase", label: "Passphrase or recovery key", type: "password",
                             autocomplete: "current-password" }] : [],
    confirmLabel: "Restore",
    submit: async (v) => ({ backup: found.backups[Number(pick.value)], passphrase: v.passphrase || "" }),
  });
  if (!chosen) return;
  const start = (another) => call("start_restore_from_location", source, chosen.backup.id, chosen.passphrase,
                                  chosen.backup.folder_id, another);
  // Another data folder's copy over this one's data is refused until the user says yes to it (D9: the command
  // line's --folder-id); any other refusal is shown by runRestore, as before.
  let attempt = start(false);
  const refusal = await attempt.then(() => null, (e) => (e.code === "another-folders-copy" ? e : null));
  if (refusal) {
    const yes = await confirmDialog({ title: "This backup is another data folder's",
                                      body: `${refusal.message} ${refusal.hint || ""}`.trim(),
                                      confirmLabel: "Restore it anyway", danger: true });
    if (!yes) return;
    attempt = null;
  }
  await runRestore(() => attempt || start(true));
}

export function setUpLocations() {
  $("#add-folder-location").addEventListener("click", () => addFolder().catch(showError));
  $("#change-passphrase").addEventListener("click", () => changePassphrase().catch(showError));
  $("#add-s3-location").addEventListener("click", () => addS3().catch(showError));
  $("#sync-locations").addEventListener("click", (e) => syncNow(e.currentTarget));
  $("#locations-unlock").addEventListener("submit", (e) => unlockKey(e).catch(showError));
  $("#restore-from-location").addEventListener("click", () => restoreFromLocation().catch(showError));
}
