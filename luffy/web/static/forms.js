/*
 * The forms of the page: errors under their fields (from the API's 400 `errors` map
 * or from checks made before sending), an alert for the rest, a busy submit button,
 * and the "send code" button with its countdown until a new code may be asked for.
 */

import { ApiError, MESSAGES, describe, plural } from "./api.js";

export function showAlert(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

export function setBusy(button, busy, label) {
  button.disabled = busy;
  button.setAttribute("aria-busy", String(busy));
  button.querySelector(".button-label").textContent = label;
}

/** One form: ``fields`` maps the API's field names to inputs; errors show under them. */
export class FormView {
  constructor({ form, alert, button, label, busyLabel, fields, required = {}, aliases = {} }) {
    Object.assign(this, { form, alert, button, label, busyLabel, fields, required, aliases });
  }

  fieldName(input) {
    return Object.keys(this.fields).find((name) => this.fields[name] === input);
  }

  emptyMessage(input) {
    return this.required[this.fieldName(input)] || "This field is required.";
  }

  /** ``{field: [message]}`` for each required field left empty. */
  missing(names = Object.keys(this.required)) {
    const errors = {};
    for (const name of names) {
      if (!this.fields[name].value.trim()) errors[name] = [this.required[name]];
    }
    return errors;
  }

  /** The values of the fields by API name (mobile numbers, codes and emails trimmed;
   * usernames and passwords as typed), leaving out empty ``optional`` ones. */
  values(optional = []) {
    const body = {};
    for (const [name, input] of Object.entries(this.fields)) {
      const trim = input.type === "tel" || input.type === "email" || input.inputMode === "numeric";
      const value = trim ? input.value.trim() : input.value;
      if (value || !optional.includes(name)) body[name] = value;
    }
    return body;
  }

  input(name) {
    return this.fields[this.aliases[name] || name] || null;
  }

  clear() {
    for (const input of Object.values(this.fields)) this.setError(input, "");
    showAlert(this.alert, "");
  }

  setError(input, text) {
    const message = document.getElementById(`${input.id}-error`);
    message.textContent = text;
    message.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /** Show ``{field: [messages]}`` under the fields, focus the first; returns the others. */
  showErrors(errors) {
    const others = [];
    const marked = new Set();
    for (const [name, messages] of Object.entries(errors || {})) {
      const text = [].concat(messages).join(" ");
      const input = this.input(name);
      if (!input) {
        others.push(text);
        continue;
      }
      this.setError(input, text);
      const details = input.closest("details");
      if (details) details.open = true;
      marked.add(input);
    }
    // Focus the first field in error in the form's order, whatever the map's order.
    const first = Object.values(this.fields).find((input) => marked.has(input));
    if (first) first.focus();
    return others;
  }

  /** Errors found before sending: under their fields, with the alert. */
  refuse(errors) {
    this.showErrors(errors);
    showAlert(this.alert, MESSAGES.invalid);
  }

  /** Refuse ``missing`` (``{field: [messages]}``, the form's empty fields by default) if
   * there are any, else mark the form busy: whether the request may go. */
  ready(missing = this.missing()) {
    if (Object.keys(missing).length) {
      this.refuse(missing);
      return false;
    }
    this.busy(true);
    return true;
  }

  busy(on) {
    setBusy(this.button, on, on ? this.busyLabel : this.label);
  }

  /** Tell a failed request: field errors under the fields, a sentence in the alert. */
  fail(error, sentences = {}) {
    this.busy(false);
    const others = error instanceof ApiError && error.status === 400 ? this.showErrors(error.errors) : [];
    const sentence = (error instanceof ApiError && sentences[error.status]) || describe(error);
    showAlert(this.alert, [sentence, ...others].join(" "));
  }
}

/**
 * A "send code" button. After a 202 it counts down ``resend_after`` seconds, and
 * after a 429 the ``Retry-After`` seconds, before it can be pressed again; the
 * countdown is on the button, and one sentence per send goes to a polite live region.
 */
export class CodeSender {
  constructor({ button, status, view, destination, request, codeInput }) {
    Object.assign(this, { button, status, view, destination, request, codeInput });
    this.timer = null;
    this.until = 0;
    this.sent = false;
    this.label = button.querySelector(".button-label");
    button.addEventListener("click", () => this.send());
  }

  get waiting() {
    return Date.now() < this.until;
  }

  async send() {
    if (this.waiting || this.button.getAttribute("aria-busy") === "true") return;
    const value = this.destination.value.trim();
    this.view.clear();
    if (!value) {
      this.view.refuse({ [this.view.fieldName(this.destination)]: [this.view.emptyMessage(this.destination)] });
      return;
    }
    this.button.disabled = true;
    this.button.setAttribute("aria-busy", "true");
    this.label.textContent = "Sending…";
    try {
      const answer = await this.request(value);
      this.sent = true;
      const seconds = Number(answer && answer.resend_after) || 0;
      this.status.textContent = seconds
        ? `We sent a code. You can ask for a new one in ${plural(seconds, "second")}.`
        : "We sent a code.";
      this.wait(seconds);
      this.codeInput.focus();
    } catch (error) {
      this.button.setAttribute("aria-busy", "false");
      if (error instanceof ApiError && error.status === 429) {
        this.wait(error.retryAfter || 0);
        const when = error.retryAfter ? `in ${plural(error.retryAfter, "second")}` : "later";
        this.view.fail(error, { 429: `Too many codes asked for. You can ask again ${when}.` });
      } else {
        this.reset();
        this.view.fail(error);
      }
    }
  }

  /** Count ``seconds`` down on the button, then let it be pressed again. */
  wait(seconds) {
    clearInterval(this.timer);
    this.button.setAttribute("aria-busy", "false");
    this.until = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((this.until - Date.now()) / 1000);
      if (left > 0) {
        this.button.disabled = true;
        this.label.textContent = `Resend in ${left} s`;
      } else {
        this.reset();
      }
    };
    tick();
    if (this.waiting) this.timer = setInterval(tick, 250);
  }

  reset() {
    clearInterval(this.timer);
    this.timer = null;
    this.until = 0;
    this.button.disabled = false;
    this.button.setAttribute("aria-busy", "false");
    this.label.textContent = this.sent ? "Send a new code" : "Send code";
  }
}
