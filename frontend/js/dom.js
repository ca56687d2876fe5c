// Small helpers to build DOM nodes and format values. Text always goes in as
// text (never as HTML), so names and notes cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = shown(value, { keepNewlines: true });
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "aria-label" || key === "title") el.setAttribute(key, shown(value));
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(shown(child, { keepNewlines: true })));
  }
  return el;
}

// Control characters (C0, DEL, C1), line/paragraph separators and the bidirectional controls (U+061C,
// U+200E-200F, U+202A-202E, U+2066-2069) in text from outside (file names, notes): shown as \xNN / \uNNNN,
// as the command line prints them (printable.py), so a name can neither reverse the words around it
// ("a\u202egnp.db" read as "a…png") nor hide a line break in a screen reader's label (H24, K5).
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_NEWLINES = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with control and bidirectional-control characters written as escapes (a tab and, with
 * `keepNewlines`, a line break stay: ours, in messages). */
export function shown(text, { keepNewlines = false } = {}) {
  const escape = (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  };
  return String(text).replace(keepNewlines ? UNSAFE : UNSAFE_NEWLINES, escape);
}

export const $ = (selector, root = document) => root.querySelector(selector);

// One way of writing a backup's time on every screen, the one the engine writes in the notes it makes
// ("Before restoring the backup from 30 Nov 2026, 19:25", preview.backup_label): day month year, 24 hours (K2).
const DATE_PARTS = { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
const dateTime = new Intl.DateTimeFormat("en-GB", DATE_PARTS);
const dateTimeSeconds = new Intl.DateTimeFormat("en-GB", { ...DATE_PARTS, second: "2-digit" });

/** An ISO timestamp from the API as local date and time: "30 Nov 2026, 19:25" (`seconds`: "…, 19:25:41"). */
export function localDateTime(iso, { seconds = false } = {}) {
  return iso ? (seconds ? dateTimeSeconds : dateTime).format(new Date(iso)) : "";
}

/**
 * For a list of `items`, a function naming each one's time (`at(item)`, an ISO timestamp) as localDateTime
 * does: to the minute, and to the second where two items of the list read alike to the minute (two backups
 * made in one minute would otherwise show the same label: T16).
 */
export function timeLabels(items, at = (x) => x.created_at) {
  const count = new Map();
  for (const x of items) {
    const m = localDateTime(at(x));
    count.set(m, (count.get(m) || 0) + 1);
  }
  return (x) => localDateTime(at(x), { seconds: count.get(localDateTime(at(x))) > 1 });
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "just now", "5 minutes ago", "yesterday", "3 days ago", in the user's language. */
export function ago(iso, now = Date.now()) {
  const diff = (now - new Date(iso).getTime()) / 1000;
  // A date in the future (a wrong clock) says so, "in 4 years", not "now" beside "Dated in the future" (K6);
  // a few seconds ahead (clocks of two programs) is still "now".
  const seconds = diff < -60 ? -diff : Math.max(0, diff);
  const units = [["year", 365 * 86400], ["month", 30 * 86400], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return relative.format(diff < -60 ? n : -n, unit);
  }
  return relative.format(0, "second"); // "now"
}

/**
 * A file path as nodes that wrap only after its separators (/ or \\), never inside a name:
 * text with <wbr> break opportunities. Put them in an element with class "path".
 */
export function pathParts(path) {
  const parts = String(path || "").split(/(?<=[\\/])/);
  return parts.flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

export const isBusy = (button) => button.getAttribute("aria-disabled") === "true";

/**
 * Button busy state: a spinner, announced as busy, and inert until the work ends. It is marked
 * aria-disabled rather than disabled, so keyboard focus stays on it (a disabled button drops focus
 * to the page); handlers check `isBusy` and ignore clicks meanwhile.
 */
export async function busy(button, work) {
  button.setAttribute("aria-disabled", "true");
  button.classList.add("is-busy");
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.removeAttribute("aria-disabled");
    button.classList.remove("is-busy");
    button.removeAttribute("aria-busy");
  }
}

const sizeUnits = ["bytes", "KB", "MB", "GB", "TB"];

/** 1234567 → "1.2 MB" (decimal units, as the backup list shows sizes). */
export function humanSize(n) {
  let i = 0;
  while (n >= 1000 && i < sizeUnits.length - 1) { n /= 1000; i += 1; }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${sizeUnits[i]}`;
}

/**
 * A task's progress line in the unit its phase reported (tasks.py, progress.py):
 * "Copying… 12.3 MB of 200.1 MB", "… 1,200 of 4,800 pages", "… 2 of 5 backups". A phase
 * with no measure (total null: the check in its child process) says how long it has run.
 */
export function taskText(t) {
  const count = (n) => Number(n).toLocaleString("en-GB");
  if (t.total === null || t.total === undefined) {
    const seconds = t.phase_started_at ? Math.floor(Date.now() / 1000 - t.phase_started_at) : 0;
    return seconds >= 2 ? `${t.message} (${seconds} s)` : t.message;
  }
  if (!(t.total > 1)) return t.message;
  if (t.unit === "bytes") return `${t.message} ${humanSize(t.done)} of ${humanSize(t.total)}`;
  if (["pages", "backups", "files"].includes(t.unit)) {
    return `${t.message} ${count(t.done)} of ${count(t.total)} ${t.unit}`;
  }
  return t.message;
}
