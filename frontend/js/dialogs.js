// Modal dialogs (native <dialog>, so focus is trapped and Escape works) and
// toast messages. Every dialog is named by its title (aria-labelledby) and
// described by its body (aria-describedby).

import { h, shown, taskText } from "./dom.js";

let dialogCount = 0;

function makeDialog({ title, body, className = "", role }) {
  const id = `dlg-${++dialogCount}`;
  const titleEl = h("h2", { id: `${id}-title`, class: "dialog-title", text: title });
  const bodyEl = h("div", { id: `${id}-body`, class: "dialog-body" });
  setBody(bodyEl, body);
  const actions = h("div", { class: "dialog-actions" });
  const dialog = h("dialog", { class: `dialog ${className}`, "aria-labelledby": titleEl.id,
                               "aria-describedby": bodyEl.id, role }, titleEl, bodyEl, actions);
  document.body.append(dialog);
  return { dialog, titleEl, bodyEl, actions };
}

function setBody(bodyEl, body) {
  bodyEl.replaceChildren(...[].concat(body || []).map((part) =>
    part instanceof Node ? part : h("p", { text: part })));
}

/** Ask a yes/no question; resolves true only when the confirm button was pressed. */
export function confirmDialog({ title, body, confirmLabel = "OK", cancelLabel = "Cancel", danger = false }) {
  return new Promise((resolve) => {
    const { dialog, actions } = makeDialog({ title, body, className: danger ? "is-danger" : "" });
    const cancel = h("button", { type: "button", class: "btn btn-secondary", text: cancelLabel, autofocus: true });
    const ok = h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, text: confirmLabel });
    actions.append(cancel, ok);
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    ok.addEventListener("click", () => { answer = true; dialog.close(); });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(answer); });
    dialog.showModal();
  });
}

/**
 * Show a secret that is shown only this once (a recovery key). Only `keptLabel` closes it at once; Escape and
 * `closeLabel` first ask `question` (a confirmDialog's options), since nothing shows the secret again (L10).
 * Escape is stopped before it becomes a close request, as for ProgressDialog (Chromium's close watcher closes
 * a modal dialog on a second Escape even when its cancel event is prevented). Resolves when closed.
 */
export function secretDialog({ title, body, keptLabel, closeLabel = "Close", question }) {
  return new Promise((resolve) => {
    const { dialog, actions } = makeDialog({ title, body });
    const close = h("button", { type: "button", class: "btn btn-secondary", text: closeLabel });
    const kept = h("button", { type: "button", class: "btn btn-primary", text: keptLabel });
    actions.append(close, kept);
    let asking = false;
    let done = false;
    const finish = () => {
      done = true;
      document.removeEventListener("keydown", onKey, true);
      dialog.close();
    };
    const ask = async () => {
      if (asking) return;
      asking = true;
      const sure = await confirmDialog(question);
      asking = false;
      if (sure) finish();
    };
    const onKey = (e) => {
      if (e.key === "Escape" && !asking) { // while asking, Escape answers the question ("go back")
        e.preventDefault();
        e.stopPropagation();
        ask();
      }
    };
    document.addEventListener("keydown", onKey, true);
    dialog.setAttribute("closedby", "none");
    // Chromium may turn Escape into a close request before the page sees the key: that asks too
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); ask(); });
    close.addEventListener("click", ask);
    kept.addEventListener("click", finish);
    dialog.addEventListener("close", () => {
      if (!done && dialog.isConnected) { // closed against our will: back it comes, and it asks
        dialog.showModal();
        ask();
        return;
      }
      dialog.remove();
      resolve();
    });
    dialog.showModal();
  });
}

/** Show an error (message + what to do) in a modal; resolves when dismissed. */
export function errorDialog(title, error) {
  return new Promise((resolve) => {
    const body = [h("p", { class: "error-message", text: error.message })];
    if (error.hint) body.push(h("p", { class: "error-hint", text: error.hint }));
    const { dialog, actions } = makeDialog({ title, body, className: "is-error", role: "alertdialog" });
    const ok = h("button", { type: "button", class: "btn btn-primary", text: "OK", autofocus: true });
    actions.append(ok);
    ok.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { dialog.remove(); resolve(); });
    dialog.showModal();
  });
}

/** Show a path the user can select and copy (when JobMatcher could not open it for them). */
export function pathDialog(title, message, path) {
  return new Promise((resolve) => {
    const field = h("input", { type: "text", class: "path-field", readonly: true, value: path,
                               "aria-label": "Path", spellcheck: "false" });
    const copy = h("button", { type: "button", class: "btn btn-secondary", text: "Copy path" });
    const body = [h("p", { text: message }), h("div", { class: "inline-form" }, field, copy)];
    const { dialog, actions } = makeDialog({ title, body, role: "alertdialog" });
    const ok = h("button", { type: "button", class: "btn btn-primary", text: "OK" });
    actions.append(ok);
    copy.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(path);
      } catch (e) {
        document.execCommand("copy"); // the window's file:// page may not have the async clipboard
      }
      copy.textContent = "Copied";
    });
    ok.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { dialog.remove(); resolve(); });
    dialog.showModal();
    field.focus();
    field.select();
  });
}

/**
 * A progress dialog that cannot be dismissed (Escape is ignored, there is no
 * close button) until `allowClose()` adds one. For restores: they must not
 * be interrupted, and the user must see how they ended.
 *
 * Preventing the dialog's "cancel" event is not enough: Chromium's close watcher
 * lets a second Escape without a click in between close a modal dialog anyway,
 * without any cancel event. So Escape is stopped before it becomes a close
 * request (keydown, in the capture phase, for the whole document), the dialog
 * asks for closedby="none" where supported, and should it close regardless it
 * is shown again at once.
 */
export class ProgressDialog {
  constructor(title, label, note = "") {
    const { dialog, titleEl, bodyEl, actions } = makeDialog({ title, body: [], className: "is-progress" });
    this.dialog = dialog;
    this.titleEl = titleEl;
    this.actions = actions;
    this.message = h("p", { class: "progress-message", role: "status", "aria-live": "polite" });
    this.bar = h("progress", { max: "100", value: "0", "aria-label": label || title });
    this.detail = h("div", { class: "progress-detail" }, note ? h("p", { class: "muted small", text: note }) : null);
    bodyEl.append(this.message, this.bar, this.detail);
    this.closable = false;
    dialog.setAttribute("closedby", "none");
    dialog.addEventListener("cancel", (e) => { if (!this.closable) e.preventDefault(); });
    this.onKey = (e) => {
      if (e.key === "Escape" && !this.closable) {
        e.preventDefault();
        e.stopPropagation();
      }
    };
    document.addEventListener("keydown", this.onKey, true);
    dialog.addEventListener("close", () => {
      if (!this.closable && dialog.isConnected) dialog.showModal(); // closed against our will: back it comes
    });
    dialog.showModal();
  }

  update(task) {
    if (task.message) this.message.textContent = shown(taskText(task), { keepNewlines: true });
    this.bar.value = Math.round((task.fraction || 0) * 100);
  }

  /** Replace the contents with the outcome: a title, paragraphs, and whether it is an error. */
  finish(title, paragraphs, { error = false, busy = false } = {}) {
    this.titleEl.textContent = shown(title);
    this.dialog.classList.toggle("is-error", error);
    this.dialog.classList.toggle("is-success", !error);
    this.bar.hidden = !busy;
    if (busy) this.bar.removeAttribute("value"); // indeterminate while restarting
    this.message.textContent = shown(paragraphs[0] || "", { keepNewlines: true });
    this.detail.replaceChildren(...paragraphs.slice(1).map((p) => h("p", { text: p })));
  }

  allowClose(label = "Close", onClose) {
    this.closable = true;
    this.dialog.setAttribute("closedby", "closerequest");
    document.removeEventListener("keydown", this.onKey, true);
    const button = h("button", { type: "button", class: "btn btn-primary", text: label });
    button.addEventListener("click", () => this.close());
    this.dialog.addEventListener("close", () => onClose && onClose(), { once: true });
    this.actions.replaceChildren(button);
    button.focus();
  }

  close() {
    this.closable = true;
    document.removeEventListener("keydown", this.onKey, true);
    if (this.dialog.open) this.dialog.close();
    this.dialog.remove();
  }
}

/** A short message in the corner; errors stay until dismissed and are announced at once. */
export function toast(message, { kind = "success", hint = "", timeout = 6000 } = {}) {
  const region = document.getElementById(kind === "error" ? "alerts" : "toasts");
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", text: "×" });
  const item = h("div", { class: `toast toast-${kind}` },
    h("div", { class: "toast-text" }, h("p", { class: "toast-message", text: message }),
      hint ? h("p", { class: "toast-hint", text: hint }) : null),
    close);
  close.addEventListener("click", () => item.remove());
  // The same news twice is noise; and a handful at most, the oldest go first.
  // The same news with or without a prefix ("The backup failed: …" and then "…" from another button) too.
  const text = shown(message, { keepNewlines: true });
  for (const old of region.querySelectorAll(".toast")) {
    const said = old.querySelector(".toast-message").textContent;
    if (said === text || said.endsWith(` ${text}`) || text.endsWith(` ${said}`)) old.remove();
  }
  region.append(item);
  while (region.children.length > 3) region.firstElementChild.remove();
  if (kind !== "error" && timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

/** Show an ApiError (or anything thrown) as an error toast. */
export function showError(error, prefix = "") {
  const message = error && error.message ? error.message : "Something went wrong.";
  return toast(prefix ? `${prefix} ${message}` : message, { kind: "error", hint: error && error.hint });
}
