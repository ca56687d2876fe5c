// The one place that knows how the page talks to Python.
//
// In the window, pywebview injects `window.pywebview.api` (and fires
// `pywebviewready` once it is there). In browser mode the same calls go to
// the local server as `POST /api/<name>` with the run's secret, which arrives
// in the URL fragment (#secret=...; fragments are never sent to servers) and
// is kept in sessionStorage so a reload after a restart still has it.
// Either way a call resolves with the value or rejects with an ApiError that
// carries a readable message and hint: never a stack trace.

export class ApiError extends Error {
  constructor({ code = "error", message = "Something went wrong.", hint = "", ...extra } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.hint = hint;
    Object.assign(this, extra); // e.g. reason (invalid backup), recovered (failed restore)
  }
}

const SECRET_KEY = "jobmatcher-secret";

function takeSecret() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("secret");
  if (fromHash) {
    sessionStorage.setItem(SECRET_KEY, fromHash);
    // Keep the secret out of the address bar, history and screenshots.
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(SECRET_KEY);
}

const secret = takeSecret();
// The window loads index.html#window; a browser has the secret; anything else is not connected.
export const inWindow = !secret && new URLSearchParams(location.hash.slice(1)).has("window");
export const mode = secret ? "browser" : "window";

// Resolves when pywebview's bridge is there, however late (it is injected after the page loads).
const bridgeArrived = new Promise((resolve) => {
  const present = () => window.pywebview && window.pywebview.api && window.pywebview.api.app_info;
  if (mode === "browser" || present()) resolve();
  else window.addEventListener("pywebviewready", () => resolve(), { once: true });
});

/** Resolves once calls can be made; rejects if no bridge came within `timeoutMs` (see `bridgeArrived`). */
export function ready(timeoutMs = 20000) {
  if (!secret && !inWindow) timeoutMs = 0; // opened in a browser without the secret: say so at once
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new ApiError(inWindow ? {
      code: "no-bridge",
      message: "The window could not connect to JobMatcher.",
      hint: "Close JobMatcher and open it again.",
    } : {
      code: "no-bridge",
      message: "Open this page from the link JobMatcher printed when it started: the full address, "
               + "ending in #secret=…, which is this run's key. Your data is fine.",
      hint: "Look in the terminal where JobMatcher runs for “JobMatcher is open at http://127.0.0.1:…”, "
            + "or stop it (Ctrl+C) and start it again for a new link.",
    })), timeoutMs);
  });
  return Promise.race([bridgeArrived, timeout]).finally(() => clearTimeout(timer));
}

export { bridgeArrived };

const OFFLINE = {
  code: "offline",
  message: "Lost the connection to JobMatcher.",
  hint: "Check that JobMatcher is still running, then reload the page.",
};

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Browser mode: the instance id of the JobMatcher answering at this address, once it has proved that it
 * knows the secret (an HMAC of a fresh nonce) without the page sending it; null otherwise. Used while
 * JobMatcher restarts: a program that took the port in between cannot answer and never sees the secret.
 */
export async function verifiedInstance() {
  if (mode !== "browser" || !window.crypto || !crypto.subtle) return null;
  const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
  let value;
  try {
    const r = await fetch("/hello", { method: "POST", cache: "no-store", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify({ nonce }) });
    value = (await r.json()).value;
  } catch (e) {
    return null;
  }
  if (!value || typeof value.proof !== "string" || typeof value.instance !== "string") return null;
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false,
                                            ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, enc.encode(`jobmatcher-hello:${nonce}:${value.instance}`));
  return hex(new Uint8Array(mac)) === value.proof ? value.instance : null;
}

// Set while JobMatcher restarts (browser mode): every call first checks who answers (verifiedInstance),
// so nothing that polls in the background sends the secret to a program that took the port in between.
let restarting = false;
export function expectRestart() { restarting = true; }

async function sendSecretHere() {
  if (restarting && !(await verifiedInstance())) throw new ApiError(OFFLINE);
}

/** Call the Python API method `name` with positional arguments. */
export async function call(name, ...args) {
  await bridgeArrived;
  let envelope;
  if (mode === "browser") await sendSecretHere();
  if (mode === "window") {
    try {
      envelope = await window.pywebview.api[name](...args);
    } catch (e) {
      // Only reached if pywebview itself failed (the API never throws across the bridge).
      throw new ApiError({ code: "bridge", message: "Something unexpected went wrong in JobMatcher.",
                           hint: "Try again. If it keeps happening, restart JobMatcher." });
    }
  } else {
    let response;
    try {
      response = await fetch(`/api/${encodeURIComponent(name)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-JobMatcher-Secret": secret },
        body: JSON.stringify({ args }),
        cache: "no-store",
      });
      envelope = await response.json();
    } catch (e) {
      throw new ApiError(OFFLINE);
    }
  }
  if (envelope && envelope.ok) return envelope.value;
  throw new ApiError((envelope && envelope.error) || {});
}

/** Browser mode: send a file to the server; resolves with {token, name}. */
export async function upload(file) {
  let envelope;
  await sendSecretHere();
  try {
    const response = await fetch("/upload", {
      method: "POST",
      headers: { "X-JobMatcher-Secret": secret, "X-File-Name": encodeURIComponent(file.name),
                 "Content-Type": "application/octet-stream" },
      body: file,
    });
    envelope = await response.json();
  } catch (e) {
    throw new ApiError(OFFLINE);
  }
  if (envelope && envelope.ok) return envelope.value;
  throw new ApiError((envelope && envelope.error) || {});
}

/** Browser mode: start downloading a URL the API handed out (export). */
export function download(url, filename) {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename || "";
  document.body.append(a);
  a.click();
  a.remove();
}

/** Poll a background task until it ends; `onUpdate(task)` sees every state. Resolves with the last state. */
export async function followTask(task, onUpdate, intervalMs = 150) {
  onUpdate(task);
  let misses = 0;
  while (task.state === "running") {
    await new Promise((r) => setTimeout(r, intervalMs));
    try {
      task = await call("task_status", task.id);
      misses = 0;
    } catch (e) {
      if (e.code === "offline" && ++misses < 40) continue; // a blip; keep asking for a few seconds
      throw e;
    }
    onUpdate(task);
  }
  return task;
}
