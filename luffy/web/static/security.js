/*
 * The "Security" view: where the account is signed in (each session endable, the
 * current one marked), the security log (newest first, "More" pages back), and
 * two-factor: set-up (password -> QR code and key -> a code -> 10 recovery codes,
 * shown once, to download or copy) and turning it off.
 *
 * The API does not tell whether two-factor is on; the view reads it from the log (the
 * newest `2fa_enabled` / `2fa_disabled`, or a login by `2fa`) and offers both forms.
 */

import { ApiError, api, cookie, describe } from "./api.js";
import { FormView, setBusy, showAlert } from "./forms.js";

const API = {
  sessions: "/users/sessions",
  session: (id) => `/users/sessions/${encodeURIComponent(id)}`,
  events: (before) => (before ? `/users/events?before=${encodeURIComponent(before)}` : "/users/events"),
  totp: "/users/2fa/totp",
  confirm: "/users/2fa/totp/confirm",
  twoFactor: "/users/2fa",
  qr: "/web/2fa/qr",
};

const EVENT_NAMES = {
  login: "Signed in",
  login_failed: "Failed sign-in",
  logout: "Signed out",
  session_ended: "Session ended",
  password_changed: "Password changed",
  password_reset: "Password reset",
  email_confirmed: "Email confirmed",
  email_changed: "Email changed",
  "2fa_enabled": "Two-factor turned on",
  "2fa_disabled": "Two-factor turned off",
  recovery_code_used: "Recovery code used",
  new_device: "Sign-in from a new device",
};
const METHOD_NAMES = { password: "with a password", sms: "by SMS", register: "at sign-up", "2fa": "with two-factor" };

const BROWSERS = [
  [/Edg(?:e|A|iOS)?\//, "Edge"], [/OPR\/|Opera/, "Opera"], [/SamsungBrowser\//, "Samsung Internet"],
  [/Firefox\/|FxiOS\//, "Firefox"], [/Chrome\/|CriOS\/|Chromium\//, "Chrome"], [/Safari\//, "Safari"],
  [/^curl\//, "curl"], [/python-requests|python-httpx|aiohttp/i, "Python"], [/okhttp/i, "Android app"],
];
const SYSTEMS = [
  [/iPhone|iPad|iPod/, "iOS"], [/Android/, "Android"], [/CrOS/, "ChromeOS"], [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"], [/Linux/, "Linux"],
];

/** "Chrome on Linux" from a user agent; the first word of an unknown one. */
export function deviceName(userAgent) {
  if (!userAgent) return "Unknown device";
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent));
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent));
  const name = browser ? browser[1] : userAgent.split(/[\s/]/)[0].slice(0, 40) || "Unknown client";
  return system ? `${name} on ${system[1]}` : name;
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeElement(iso) {
  const node = element("time", "", when(iso));
  node.dateTime = iso || "";
  return node;
}

export class SecurityView {
  /** ``refresh()`` renews the access cookie (resolves to whether the session goes on). */
  constructor({ refresh }) {
    const $ = (id) => document.getElementById(id);
    this.refresh = refresh;
    this.card = $("security-view");
    this.title = $("security-title");
    this.alert = $("security-alert");
    this.status = $("security-status");
    this.sessionsList = $("sessions-list");
    this.endOthers = $("sessions-end-others");
    this.eventsList = $("events-list");
    this.moreButton = $("events-more");
    this.state = $("twofactor-state");
    this.qr = $("tfa-qr");
    this.secret = $("tfa-secret");
    this.codes = $("tfa-codes");
    this.codesList = $("tfa-codes-list");
    this.download = $("tfa-codes-download");
    this.copyButton = $("tfa-codes-copy");
    this.codesStatus = $("tfa-codes-status");
    this.offDetails = $("tfa-off");
    this.oldest = null;
    this.twoFactorOn = null;
    this.downloadUrl = null;
    this.begin = new FormView({
      form: $("tfa-begin-form"), alert: $("tfa-alert"), button: $("tfa-begin-button"),
      label: "Set up two-factor", busyLabel: "Checking…",
      fields: { password: $("tfa-password") }, required: { password: "Enter your password." },
    });
    this.confirm = new FormView({
      form: $("tfa-confirm-form"), alert: $("tfa-alert"), button: $("tfa-confirm-button"),
      label: "Turn on two-factor", busyLabel: "Checking…",
      fields: { code: $("tfa-code") }, required: { code: "Enter the code your app shows." },
    });
    this.off = new FormView({
      form: $("tfa-off-form"), alert: $("tfa-alert"), button: $("tfa-off-button"),
      label: "Turn off two-factor", busyLabel: "Turning off…",
      fields: { password: $("tfa-off-password"), code: $("tfa-off-code") },
      required: { password: "Enter your password.", code: "Enter a code from your app, or a recovery code." },
    });
    this.begin.form.addEventListener("submit", (event) => this.onBegin(event));
    this.confirm.form.addEventListener("submit", (event) => this.onConfirm(event));
    this.off.form.addEventListener("submit", (event) => this.onOff(event));
    this.endOthers.addEventListener("click", () => this.onEndOthers());
    this.moreButton.addEventListener("click", () => this.loadEvents(true));
    this.copyButton.addEventListener("click", () => this.onCopy());
    $("tfa-codes-done").addEventListener("click", () => this.hideCodes(true));
  }

  /** An API call with the access cookie (and its CSRF token); a 401 refreshes once. */
  async call(path, options = {}) {
    const send = () => api(path, { ...options, csrf: options.method ? cookie("csrf_access_token") : undefined });
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || !(await this.refresh())) throw error;
      return send();
    }
  }

  /** Show the view and load its lists. */
  async open() {
    this.reset();
    this.title.focus();
    await Promise.all([this.loadSessions(), this.loadEvents(false)]);
  }

  /** Forget everything shown (a new session starts clean): no key nor code stays in the page. */
  reset() {
    for (const form of [this.begin, this.confirm, this.off]) {
      form.clear();
      form.busy(false);
      form.form.reset();
    }
    this.confirm.form.hidden = true;
    this.begin.form.hidden = false;
    this.qr.removeAttribute("src");
    this.secret.textContent = "";
    this.hideCodes(false);
    this.offDetails.open = false;
    this.sessionsList.replaceChildren();
    this.eventsList.replaceChildren();
    this.moreButton.hidden = true;
    this.oldest = null;
    this.twoFactorOn = null;
    this.renderState();
    showAlert(this.alert, "");
    this.status.textContent = "";
  }

  say(text) {
    this.status.textContent = text;
  }

  // ---- sessions ----------------------------------------------------------------------

  async loadSessions() {
    let answer;
    try {
      answer = await this.call(API.sessions);
    } catch (error) {
      showAlert(this.alert, describe(error));
      return;
    }
    const rows = answer.sessions.map((session) => this.sessionRow(session));
    this.sessionsList.replaceChildren(...rows);
    this.endOthers.hidden = !answer.sessions.some((session) => !session.current);
  }

  sessionRow(session) {
    const row = element("li", "row");
    row.dataset.session = session.id;
    const text = element("div", "row-text");
    const device = element("p", "row-title", deviceName(session.user_agent));
    if (session.current) device.append(" ", element("span", "badge", "This device"));
    if (session.user_agent) device.title = session.user_agent;
    const place = element("p", "muted", `${session.ip || "Unknown address"} · last seen `);
    place.append(timeElement(session.last_used_at));
    text.append(device, place);
    row.append(text);
    if (!session.current) {
      const button = element("button", "button secondary small");
      button.type = "button";
      button.append(element("span", "spinner"), element("span", "button-label", "End"));
      button.firstChild.setAttribute("aria-hidden", "true");
      button.setAttribute("aria-label", `End the session of ${deviceName(session.user_agent)}, ${session.ip || "unknown address"}`);
      button.addEventListener("click", () => this.onEnd(session, row, button));
      row.append(button);
    }
    return row;
  }

  async onEnd(session, row, button) {
    showAlert(this.alert, "");
    setBusy(button, true, "Ending…");
    try {
      await this.call(API.session(session.id), { method: "DELETE" });
    } catch (error) {
      setBusy(button, false, "End");
      if (!(error instanceof ApiError && error.status === 404)) {  // 404: it had ended already
        showAlert(this.alert, describe(error));
        return;
      }
    }
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    this.say(`The session of ${deviceName(session.user_agent)} has ended.`);
    (next && next.querySelector("button")) ? next.querySelector("button").focus() : this.title.focus();
    this.endOthers.hidden = !this.sessionsList.querySelector("button");
    this.loadEvents(false);
  }

  async onEndOthers() {
    showAlert(this.alert, "");
    setBusy(this.endOthers, true, "Ending…");
    try {
      await this.call(API.sessions, { method: "DELETE" });
      this.say("Every other session has ended.");
    } catch (error) {
      showAlert(this.alert, describe(error));
    }
    setBusy(this.endOthers, false, "End all other sessions");
    await this.loadSessions();
    this.title.focus();
    this.loadEvents(false);
  }

  // ---- the log -----------------------------------------------------------------------

  /** The newest page (``more`` false) or the page before the oldest shown. */
  async loadEvents(more) {
    if (more) setBusy(this.moreButton, true, "Loading…");
    let answer;
    try {
      answer = await this.call(API.events(more ? this.oldest : null));
    } catch (error) {
      if (more) setBusy(this.moreButton, false, "More");
      showAlert(this.alert, describe(error));
      return;
    }
    const rows = answer.events.map((event) => this.eventRow(event));
    if (more) {
      this.eventsList.append(...rows);
      setBusy(this.moreButton, false, "More");
      if (rows.length) rows[0].focus();
    } else {
      this.eventsList.replaceChildren(...rows);
      this.learnState(answer.events);
    }
    if (answer.events.length) this.oldest = answer.events[answer.events.length - 1].id;
    this.moreButton.hidden = !answer.more;
  }

  eventRow(event) {
    const row = element("li", "row");
    row.tabIndex = -1;
    const text = element("div", "row-text");
    let title = EVENT_NAMES[event.type] || event.type;
    if (event.method && METHOD_NAMES[event.method]) title += ` ${METHOD_NAMES[event.method]}`;
    const details = element("p", "muted", "");
    details.append(timeElement(event.at), ` · ${event.ip || "unknown address"} · ${deviceName(event.user_agent)}`);
    text.append(element("p", "row-title", title), details);
    row.append(text);
    return row;
  }

  // ---- two-factor --------------------------------------------------------------------

  learnState(events) {
    if (this.twoFactorOn !== null) return;
    const sign = events.find((event) => event.type === "2fa_enabled" || event.type === "2fa_disabled"
                             || (event.type === "login" && event.method === "2fa"));
    this.twoFactorOn = sign ? sign.type !== "2fa_disabled" : null;
    this.renderState();
  }

  renderState() {
    const on = this.twoFactorOn;
    this.state.textContent = on === true ? "Two-factor is on." : on === false ? "Two-factor is off." : "";
    this.state.hidden = on === null;
  }

  async onBegin(event) {
    event.preventDefault();
    const form = this.begin;
    form.clear();
    if (!form.ready()) return;
    let secret;
    let svg;
    try {
      secret = await this.call(API.totp, { method: "POST", body: { password: form.fields.password.value } });
      svg = await this.qrCode(secret.otpauth_uri);
    } catch (error) {
      form.fail(error);
      return;
    }
    form.busy(false);
    form.form.reset();
    this.qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    this.secret.textContent = secret.secret;
    form.form.hidden = true;
    this.confirm.form.hidden = false;
    this.confirm.fields.code.focus();
  }

  /** The SVG of ``uri``, drawn on the server (POST: the secret stays out of addresses). */
  async qrCode(uri) {
    const send = () => fetch(API.qr, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "image/svg+xml",
                 "X-CSRF-TOKEN": cookie("csrf_access_token") || "" },
      body: JSON.stringify({ uri }),
    });
    let response;
    try {
      response = await send();
      if (response.status === 401 && await this.refresh()) response = await send();
    } catch (_network) {
      throw new ApiError(0, null, null);
    }
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null), response.headers);
    return response.text();
  }

  async onConfirm(event) {
    event.preventDefault();
    const form = this.confirm;
    form.clear();
    if (!form.ready()) return;
    let answer;
    try {
      answer = await this.call(API.confirm, { method: "POST", body: form.values() });
    } catch (error) {
      form.fail(error);
      return;
    }
    form.busy(false);
    form.form.reset();
    form.form.hidden = true;
    this.qr.removeAttribute("src");
    this.secret.textContent = "";
    this.twoFactorOn = true;
    this.renderState();
    this.showCodes(answer.recovery_codes);
    this.loadEvents(false);
  }

  showCodes(codes) {
    this.codesList.replaceChildren(...codes.map((code) => element("li", "", code)));
    const text = `Luffy recovery codes (each works once)\n\n${codes.join("\n")}\n`;
    if (this.downloadUrl) URL.revokeObjectURL(this.downloadUrl);
    this.downloadUrl = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    this.download.href = this.downloadUrl;
    this.codesText = codes.join("\n");
    this.codesStatus.textContent = "";
    this.codes.hidden = false;
    this.say("Two-factor is on. Save your recovery codes.");
    this.download.focus();
  }

  hideCodes(focus) {
    this.codes.hidden = true;
    this.codesList.replaceChildren();
    this.codesText = "";
    if (this.downloadUrl) URL.revokeObjectURL(this.downloadUrl);
    this.downloadUrl = null;
    this.download.href = "#";
    this.begin.form.hidden = false;
    if (focus) this.state.hidden ? this.title.focus() : this.begin.fields.password.focus();
  }

  async onCopy() {
    try {
      await navigator.clipboard.writeText(this.codesText);
      this.codesStatus.textContent = "Copied.";
    } catch (_refused) {
      // No clipboard (not allowed, or not a secure context): select the list to copy by hand.
      const range = document.createRange();
      range.selectNodeContents(this.codesList);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      this.codesStatus.textContent = "Press Ctrl+C (or ⌘C) to copy the selected codes.";
    }
  }

  async onOff(event) {
    event.preventDefault();
    const form = this.off;
    form.clear();
    if (!form.ready()) return;
    try {
      await this.call(API.twoFactor, { method: "DELETE", body: form.values() });
    } catch (error) {
      form.fail(error);
      return;
    }
    form.busy(false);
    form.form.reset();
    this.offDetails.open = false;
    this.twoFactorOn = false;
    this.renderState();
    this.say("Two-factor is off.");
    this.begin.fields.password.focus();
    this.loadEvents(false);
  }
}
