// Modal dialogs (native <dialog>, so focus is trapped and Escape works) and
// toast messages. Every dialog is named by its title (aria-labelledby) and
// described by its body (aria-describedby).

import { h } from "./dom.js";

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

/**
 * A progress dialog that cannot be dismissed (Escape is ignored, there is no
 * close button) until `allowClose()` adds one. For restores: they must not
 * be interrupted, and the user must see how they ended.
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
    dialog.addEventListener("cancel", (e) => { if (!this.closable) e.preventDefault(); });
    this.closable = false;
    dialog.showModal();
  }

  update(task) {
    if (task.message) this.message.textContent = task.message;
    this.bar.value = Math.round((task.fraction || 0) * 100);
  }

  /** Replace the contents with the outcome: a title, paragraphs, and whether it is an error. */
  finish(title, paragraphs, { error = false, busy = false } = {}) {
    this.titleEl.textContent = title;
    this.dialog.classList.toggle("is-error", error);
    this.dialog.classList.toggle("is-success", !error);
    this.bar.hidden = !busy;
    if (busy) this.bar.removeAttribute("value"); // indeterminate while restarting
    this.message.textContent = paragraphs[0] || "";
    this.detail.replaceChildren(...paragraphs.slice(1).map((p) => h("p", { text: p })));
  }

  allowClose(label = "Close", onClose) {
    this.closable = true;
    const button = h("button", { type: "button", class: "btn btn-primary", text: label });
    button.addEventListener("click", () => this.close());
    this.dialog.addEventListener("close", () => onClose && onClose(), { once: true });
    this.actions.replaceChildren(button);
    button.focus();
  }

  close() {
    this.closable = true;
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
  for (const old of region.querySelectorAll(".toast")) {
    if (old.querySelector(".toast-message").textContent === message) old.remove();
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
