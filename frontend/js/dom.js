// Small helpers to build DOM nodes and format values. Text always goes in as
// text (never as HTML), so names and notes cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** An ISO timestamp from the API as local date and time. */
export function localDateTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : "";
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "just now", "5 minutes ago", "yesterday", "3 days ago", in the user's language. */
export function ago(iso, now = Date.now()) {
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  const units = [["year", 365 * 86400], ["month", 30 * 86400], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return relative.format(-n, unit);
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
