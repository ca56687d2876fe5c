// Start-up: connect to Python, wait for the data to be opened (the engine's
// launch sequence, with progress), then show the Settings page, or the reason
// the data could not be opened and what to do.

import { $, h, pathParts, shown, taskText, timeLabels } from "./dom.js";
import { bridgeArrived, call, inWindow, mode, ready } from "./transport.js";
import { showError, toast } from "./dialogs.js";
import { loadProfile, setUpProfile } from "./profile.js";
import { loadLocations, setUpLocations } from "./locations.js";
import { describe, loadBackups, noteBackupFailure, restoreBackup, restoreFromFile, setUpBackups, watchBackups } from "./backups.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** For tests and the window's test hook: the page has settled (the app, or the launch error). */
function markReady() {
  window.__jobmatcherReady = true;
  document.documentElement.dataset.ready = "true";
}

function showScreen(id) {
  for (const screen of ["boot", "launch-error", "app"]) $(`#${screen}`).hidden = screen !== id;
  // In the app the toasts live under its top bar (style.css says where at each width): never over
  // "Back up now" or "Restore from file…". On the start-up screens they stay in the corner.
  const stack = $(".toast-stack");
  if (id === "app") $("#app > .topbar").after(stack);
  else document.body.append(stack);
}

// How tall the toasts under the top bar are: scrolling to a focused control keeps it below them.
new ResizeObserver(([entry]) => {
  document.documentElement.style.setProperty("--toasts-height", `${Math.ceil(entry.target.offsetHeight)}px`);
}).observe($(".toast-stack"));

async function showLaunchError(error, info = null) {
  showScreen("launch-error");
  // Not connected at all (a browser without this run's secret, or with an earlier run's: a bookmark,
  // a reopened tab; or a window whose bridge never came): the data is fine, the page is just not
  // talking to JobMatcher, and trying again cannot help.
  if (error.code === "wrong-secret") {
    error = {
      code: "no-bridge",
      message: "This page's link is from an earlier run of JobMatcher: each run makes a new link, with a new "
               + "key after #secret=. Your data is fine.",
      hint: "Open the link JobMatcher printed when it started this time (in its terminal: “JobMatcher is open "
            + "at http://127.0.0.1:…”), or stop it (Ctrl+C) and start it again for a new link.",
    };
  }
  const unconnected = error.code === "no-bridge";
  $("#launch-error h1").textContent = unconnected ? "This page is not connected to JobMatcher"
                                                  : "JobMatcher could not open your data";
  $("#launch-retry").hidden = unconnected && !inWindow; // only the printed link helps there
  $("#launch-error-message").textContent = shown(error.message || "JobMatcher could not open your data.");
  $("#launch-error-hint").textContent = shown(error.hint || "");
  $("#launch-error-hint").hidden = !error.hint;
  $("#way-out").hidden = true;
  if (info && info.way_out) {
    try {
      await showWayOut();
    } catch (e) {
      showError(e);
    }
  }
  $("#launch-error h1").focus();
  markReady();
}

/** The data cannot be opened as it is: offer the newest backup that passed its check, any other, or a file. */
async function showWayOut() {
  const backups = await call("list_backups");
  const when = timeLabels(backups);  // two backups made in one minute are told apart to the second (T16)
  // only this data folder's own backups are offered: not another data folder's, a file added by hand
  // (its age is unknown) or one dated in the future (a wrong clock)
  const good = backups.find((b) => b.verified === true && b.owned !== false && !b.added_by_hand && !b.future);
  const newest = $("#way-out-newest");
  newest.hidden = !good;
  $("#way-out-none").hidden = Boolean(good);
  if (good) {
    newest.textContent = shown(`Restore the newest checked backup (${describe(good, when)})`);
    newest.onclick = (e) => restoreBackup(e.currentTarget, good);
  }
  const list = $("#way-out-list");
  list.replaceChildren(...backups.map((b) => h("li", {},
    h("span", { text: `${describe(b, when)}${b.note ? ` – ${b.note}` : ""}${b.verified === false ? " – failed its check" : ""}${
      b.verify_message === "newer-version" ? " – made by a newer JobMatcher (restore it with that version)" : ""}${
      b.verify_message === "changed-after-restore" ? " – changed after its restore (may not be the data from before it)" : ""}` }),
    h("button", { type: "button", class: "btn btn-small btn-secondary", text: "Restore…",
                  "aria-label": `Restore ${describe(b, when)}`, disabled: b.verified === false || b.verify_message === "newer-version",
                  onclick: (e) => restoreBackup(e.currentTarget, b) }))));
  list.hidden = true;
  $("#way-out-choose").hidden = backups.length === 0;
  $("#way-out-choose").onclick = () => { list.hidden = !list.hidden; };
  $("#way-out-file").onclick = () => restoreFromFile();
  $("#way-out").hidden = false;
}

async function waitForLaunch() {
  for (;;) {
    const info = await call("app_info");
    const launch = info.launch;
    if (launch && launch.state !== "running") return info;
    if (launch) {
      $("#boot-message").textContent = launch.phase && launch.phase !== "open"
        ? `Opening your data: ${taskText({ ...launch, message: launch.message.toLowerCase() })}`
        : "Opening your data…";
      $("#boot-progress").value = Math.round((launch.fraction || 0) * 100);
    }
    await sleep(150);
  }
}

async function refreshAll() {
  const results = await Promise.allSettled([loadProfile(), loadBackups({ settings: true }), loadLocations()]);
  for (const r of results) if (r.status === "rejected") showError(r.reason);
}

/** Why the launch's automatic backup failed ({code, message, page_hint}), unless the status box says it already. */
function autoBackupFailure(report) {
  const failure = report.auto_backup_failure;
  return failure && failure.code !== "folder-unavailable" ? failure : null;
}

function announceLaunch(info) {
  const report = info.launch.result || {};
  if (report.recovered) toast(report.recovered, { kind: "info", timeout: 12000 });
  if (report.removed_foreign && report.removed_foreign.length) {
    toast(`JobMatcher removed ${report.removed_foreign.join(", ")} that it did not make: it could have changed or ` +
          "deleted your data at your next edit. Your data as it was is kept in a safety backup.",
          { kind: "info", timeout: 15000 });
  }
  if (report.foreign_schema) toast(report.foreign_schema, { kind: "error" });
  if (report.pre_migration_backup) {
    toast("JobMatcher updated your data to this version. It made a backup first (“Before update” in the list).",
          { kind: "info", timeout: 12000 });
  }
  // An unavailable backup folder is already in the status box, in red: a toast would only repeat it.
  const failure = autoBackupFailure(report);
  if (failure) {
    toast("The automatic backup failed.", { kind: "error",
                                            hint: [failure.message, failure.page_hint].filter(Boolean).join(" ") });
  }
  const restartedKey = "jobmatcher-restarted-after-restore";
  if (info.relaunched && (mode === "window" || sessionStorage.getItem(restartedKey))) {
    sessionStorage.removeItem(restartedKey);
    toast("JobMatcher restarted with your restored data.", { timeout: 10000 });
  }
}

async function start() {
  try {
    await ready();
  } catch (e) {
    showLaunchError(e);
    $("#launch-retry").onclick = () => location.reload();
    // A slow window may still connect: then start over.
    bridgeArrived.then(() => { showScreen("boot"); start(); });
    return;
  }
  let info;
  for (;;) {
    try {
      info = await waitForLaunch();
    } catch (e) {
      showLaunchError(e);
      return;
    }
    if (info.launch.state === "done") break;
    await showLaunchError(info.launch.error || {}, info);
    // Wait for "Try again", then go round once more.
    await new Promise((resolve) => {
      $("#launch-retry").onclick = async () => {
        try {
          await call("retry_launch");
        } catch (e) {
          showError(e);
        }
        showScreen("boot");
        resolve();
      };
    });
  }
  $("#data-dir").replaceChildren(...pathParts(info.data_dir));
  $("#app-version").textContent = `JobMatcher ${info.version}`;
  document.body.dataset.mode = mode;
  setUpProfile();
  setUpBackups({ appInstance: info.instance, dataChanged: refreshAll });
  watchBackups();
  setUpLocations();
  showScreen("app");
  const failure = autoBackupFailure(info.launch.result || {});
  if (failure) noteBackupFailure(failure);
  await refreshAll();
  announceLaunch(info);
  markReady();
}

start();
