/*
 * The login page of luffy. It talks to the auth API in cookie mode: the server keeps
 * the tokens in HttpOnly cookies and never hands one to this script (a cookie login
 * answers only the cart total, a cookie refresh `{}`). The profile comes from
 * GET /users/me; whether a session exists, from the readable csrf cookies. Nothing
 * goes into localStorage or sessionStorage.
 *
 * Besides the password form: the "SMS login" tab, "Create account" (#register) and
 * "Forgot password" (#reset), each a form whose codes come by SMS (or email).
 */

import { ApiError, MESSAGES, api, cookie, cookieExpiry, describe } from "./api.js";
import { CodeSender, FormView, setBusy, showAlert } from "./forms.js";
import { SecurityView } from "./security.js";

const API = {
  login: "/users/login/?cookies=1",
  smsLogin: "/users/login/sms?cookies=1",
  secondFactor: "/users/login/2fa?cookies=1",
  register: "/users/register?cookies=1",
  refresh: "/users/login/refresh",
  logout: "/users/logout",
  me: "/users/me",
  sms: (mobile) => `/users/sms/${encodeURIComponent(mobile)}`,
  mobile: (mobile) => `/users/mobile/${encodeURIComponent(mobile)}`,
  emailCode: "/users/email/code",
  reset: "/users/password/reset",
};
const RETRY_SECONDS = 5;
const PASSWORD_CHANGED = "Your password has been changed. Sign in with the new one.";
const MFA_EXPIRED = "This sign-in took too long or had too many wrong codes. Please sign in again.";
const REGISTERED = "This number already has an account. Sign in, or reset its password.";

const $ = (id) => document.getElementById(id);
const view = {
  loading: $("loading"),
  login: $("login-view"),
  register: $("register-view"),
  reset: $("reset-view"),
  account: $("account-view"),
  mfa: $("mfa-view"),
  security: $("security-view"),
  loginNotice: $("login-notice"),
  tabs: [$("tab-password"), $("tab-sms")],
  username: $("username"),
  password: $("password"),
  togglePassword: $("toggle-password"),
  accountAlert: $("account-alert"),
  logoutButton: $("logout-button"),
  avatarImage: $("avatar-image"),
  avatarInitials: $("avatar-initials"),
  title: $("account-title"),
  nickname: $("nickname"),
  identity: $("identity"),
  money: $("money"),
  credit: $("credit"),
  cartTotal: $("cart-total"),
  countdown: $("countdown"),
};

const forms = {
  password: new FormView({
    form: $("login-form"), alert: $("login-alert"), button: $("login-button"),
    label: "Sign in", busyLabel: "Signing in…",
    fields: { username: view.username, password: view.password },
    required: { username: "Enter your username, email or mobile number.", password: "Enter your password." },
  }),
  sms: new FormView({
    form: $("sms-form"), alert: $("sms-alert"), button: $("sms-button"),
    label: "Sign in", busyLabel: "Signing in…",
    fields: { mobile: $("sms-mobile"), sms_code: $("sms-code") },
    required: { mobile: "Enter your mobile number.", sms_code: "Enter the code we sent you." },
  }),
  register: new FormView({
    form: $("register-form"), alert: $("register-alert"), button: $("register-button"),
    label: "Create account", busyLabel: "Creating your account…",
    fields: {
      mobile: $("reg-mobile"), sms_code: $("reg-code"), password: $("reg-password"),
      re_password: $("reg-re-password"), username: $("reg-username"), email: $("reg-email"),
      nickname: $("reg-nickname"),
    },
    required: {
      mobile: "Enter your mobile number.", sms_code: "Enter the code we sent you.",
      password: "Choose a password.", re_password: "Enter the password again.",
    },
  }),
  mfa: new FormView({
    form: $("mfa-form"), alert: $("mfa-alert"), button: $("mfa-button"),
    label: "Verify", busyLabel: "Checking…",
    fields: { code: $("mfa-code") },
    required: { code: "Enter the code your authenticator app shows, or a recovery code." },
  }),
  reset: new FormView({
    form: $("reset-form"), alert: $("reset-alert"), button: $("reset-button"),
    label: "Set the new password", busyLabel: "Saving…",
    fields: { username: $("reset-username"), code: $("reset-code"), new_password: $("reset-password") },
    required: {
      username: "Enter your mobile number or email address.", code: "Enter the code we sent you.",
      new_password: "Choose a new password.",
    },
    aliases: { mobile: "username", email: "username" },  // the send-code endpoints' names
  }),
};

const security = new SecurityView({ refresh: () => refreshNow() });

const senders = {
  sms: new CodeSender({
    button: $("sms-send"), status: $("sms-send-status"), view: forms.sms,
    destination: forms.sms.fields.mobile, codeInput: forms.sms.fields.sms_code,
    request: (mobile) => api(API.sms(mobile), { method: "POST", body: { purpose: "login" } }),
  }),
  register: new CodeSender({
    button: $("reg-send"), status: $("reg-send-status"), view: forms.register,
    destination: forms.register.fields.mobile, codeInput: forms.register.fields.sms_code,
    request: (mobile) => api(API.sms(mobile), { method: "POST", body: { purpose: "register" } }),
  }),
  reset: new CodeSender({
    button: $("reset-send"), status: $("reset-send-status"), view: forms.reset,
    destination: forms.reset.fields.username, codeInput: forms.reset.fields.code,
    request: (destination) => (destination.includes("@")
      ? api(API.emailCode, { method: "POST", body: { email: destination, purpose: "reset" } })
      : api(API.sms(destination), { method: "POST", body: { purpose: "reset" } })),
  }),
};

// The session, in memory only: the profile, the cart total (only a login tells it)
// and what the page knows of the current access cookie's life (see scheduleRefresh).
const session = { profile: null, cartTotal: null };
const access = { receivedAt: 0, expiresAt: null, watching: false };
let learnedLifetime = null;  // ms, seen from a csrf_access_token cookie's disappearance
let refreshTimer = null;
let refreshing = null;  // the refresh request in flight, if any
let epoch = 0;  // bumped when a session ends: late answers of its requests are dropped
let countdownTimer = null;
let signedInNow = false;
let mfaToken = null;  // the first step's answer while the second is asked for (memory only)

// ---- views -------------------------------------------------------------------------

const CARDS = ["loading", "login", "mfa", "register", "reset", "account", "security"];

function showCard(name) {
  for (const card of CARDS) view[card].hidden = card !== name;
}

function selectTab(tab, focus = false) {
  for (const each of view.tabs) {
    const selected = each === tab;
    each.setAttribute("aria-selected", String(selected));
    each.tabIndex = selected ? 0 : -1;
    $(each.getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) tab.focus();
}

function activeLoginForm() {
  return view.tabs[1].getAttribute("aria-selected") === "true" ? forms.sms : forms.password;
}

function onTabKey(event) {
  const index = view.tabs.indexOf(event.currentTarget);
  const last = view.tabs.length - 1;
  const next = { ArrowRight: index === last ? 0 : index + 1, ArrowLeft: index === 0 ? last : index - 1,
                 Home: 0, End: last }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  selectTab(view.tabs[next], true);
}

/** Show the form the address names (#register, #reset, #sms, else the password form). */
function route() {
  if (signedInNow) return;
  const name = location.hash.slice(1);
  showAlert(view.loginNotice, "");
  if (name === "register" || name === "reset") {
    showCard(name);
    forms[name].fields[name === "register" ? "mobile" : "username"].focus();
    return;
  }
  if (name === "sms") selectTab(view.tabs[1]);
  showCard("login");
  activeLoginForm().fields[activeLoginForm() === forms.sms ? "mobile" : "username"].focus();
}

/** Go to the login form (dropping #register or #reset from the address). */
function toLoginAddress() {
  if (location.hash && location.hash !== "#sms") {
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function showLogin(message, notice = "") {
  stopTimers();
  epoch += 1;
  signedInNow = false;
  session.profile = null;
  mfaToken = null;
  security.reset();
  toLoginAddress();
  showCard("login");
  view.password.value = "";
  for (const form of Object.values(forms)) {
    form.clear();
    form.busy(false);
  }
  const form = activeLoginForm();
  showAlert(form.alert, message);
  showAlert(view.loginNotice, notice);
  (form === forms.sms ? form.fields.mobile : (notice ? view.password : view.username)).focus();
}

// ---- the password form -------------------------------------------------------------

async function onPasswordSubmit(event) {
  event.preventDefault();
  const form = forms.password;
  form.clear();
  showAlert(view.loginNotice, "");
  // The password form sends the username as typed: usernames are not trimmed.
  const missing = {};
  if (!view.username.value) missing.username = [form.required.username];
  if (!view.password.value) missing.password = [form.required.password];
  if (Object.keys(missing).length) {
    form.refuse(missing);
    return;
  }
  form.busy(true);
  try {
    const answer = await api(API.login, {
      method: "POST",
      body: { username: view.username.value, password: view.password.value },
    });
    if (answer.mfa_required) {
      askSecondFactor(answer.mfa_token, form);
      return;
    }
    await signedIn(answer.cart_total);
  } catch (error) {
    form.fail(error, { 401: MESSAGES.wrongCredentials });
    if (error.status === 401) {
      view.password.value = "";
      view.password.focus();
    }
  }
}

// ---- the SMS login tab -------------------------------------------------------------

async function onSmsSubmit(event) {
  event.preventDefault();
  const form = forms.sms;
  form.clear();
  showAlert(view.loginNotice, "");
  // Enter in the mobile field before any code was asked for: ask for one.
  if (!form.fields.sms_code.value.trim() && form.fields.mobile.value.trim() && !senders.sms.sent) {
    await senders.sms.send();
    return;
  }
  if (!form.ready()) return;
  try {
    const answer = await api(API.smsLogin, { method: "POST", body: form.values() });
    if (answer.mfa_required) {
      askSecondFactor(answer.mfa_token, form);
      return;
    }
    await signedIn(answer.cart_total);
  } catch (error) {
    form.fail(error, { 401: MESSAGES.wrongCode });
    if (error.status === 401) {
      form.fields.sms_code.value = "";
      form.fields.sms_code.focus();
    }
  }
}

// ---- the second step of a login with two-factor ---------------------------------

/** The password (or SMS code) was right and the account has two-factor: ask for a code. */
function askSecondFactor(token, first) {
  first.busy(false);
  view.password.value = "";
  mfaToken = token;
  forms.mfa.clear();
  forms.mfa.busy(false);
  forms.mfa.form.reset();
  showCard("mfa");
  forms.mfa.fields.code.focus();
}

async function onMfaSubmit(event) {
  event.preventDefault();
  const form = forms.mfa;
  form.clear();
  if (!form.ready()) return;
  try {
    const answer = await api(API.secondFactor, {
      method: "POST", body: { mfa_token: mfaToken, code: form.fields.code.value.trim() },
    });
    mfaToken = null;
    form.form.reset();
    await signedIn(answer.cart_total);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin(MFA_EXPIRED);  // the mfa_token expired or is used up: start again
      return;
    }
    form.fail(error);
    form.fields.code.select();
  }
}

function onMfaCancel() {
  showLogin("");
}

// ---- create account ----------------------------------------------------------------

let lookup = null;  // the timer of a pending "is this number registered?" question

/** Tell, while the number is typed, whether it already has an account. */
function checkMobile(now = false) {
  clearTimeout(lookup);
  const input = forms.register.fields.mobile;
  const mobile = input.value.trim();
  const ask = async () => {
    if (!/^\+?\d{6,15}$/.test(mobile)) return;
    try {
      const answer = await api(API.mobile(mobile));
      if (input.value.trim() !== mobile) return;
      forms.register.setError(input, answer.registered ? REGISTERED : "");
    } catch (error) {
      // a malformed number is said on submit; a throttled lookup is no one's business
      if (now && error.status === 400 && input.value.trim() === mobile) {
        forms.register.showErrors(error.errors);
      }
    }
  };
  if (now) ask();
  else lookup = setTimeout(ask, 500);
}

async function onRegisterSubmit(event) {
  event.preventDefault();
  const form = forms.register;
  form.clear();
  if (!form.fields.sms_code.value.trim() && form.fields.mobile.value.trim() && !senders.register.sent) {
    await senders.register.send();
    return;
  }
  const missing = form.missing();
  const { password, re_password: again } = form.fields;
  if (password.value && again.value && password.value !== again.value) {
    missing.re_password = ["The two passwords differ."];
  }
  if (Object.keys(missing).length) {
    form.refuse(missing);
    return;
  }
  form.busy(true);
  try {
    const answer = await api(API.register, {
      method: "POST", body: form.values(["username", "email", "nickname"]),
    });
    form.form.reset();
    senders.register.reset();
    await signedIn(answer.cart_total);
  } catch (error) {
    form.fail(error);
  }
}

// ---- forgot password ---------------------------------------------------------------

async function onResetSubmit(event) {
  event.preventDefault();
  const form = forms.reset;
  form.clear();
  if (!form.fields.code.value.trim() && form.fields.username.value.trim() && !senders.reset.sent) {
    await senders.reset.send();
    return;
  }
  if (!form.ready()) return;
  const body = form.values();
  body.username = body.username.trim();
  try {
    await api(API.reset, { method: "POST", body });
  } catch (error) {
    form.fail(error);
    return;
  }
  form.form.reset();
  senders.reset.reset();
  selectTab(view.tabs[0]);
  view.username.value = body.username;
  showLogin("", PASSWORD_CHANGED);
}

// ---- the account -------------------------------------------------------------------

function initials(name) {
  const words = String(name || "").trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((word) => Array.from(word)[0]);
  return (letters.join("") || "?").toUpperCase();
}

function formatMoney(value) {
  const number = Number(value);
  return value !== null && value !== undefined && Number.isFinite(number) ? number.toFixed(2) : "—";
}

function formatCount(value) {
  return value === null || value === undefined ? "—" : String(value);
}

/** Render the account from the profile (GET /users/me). */
function renderAccount() {
  const profile = session.profile || {};
  const name = profile.nickname || profile.username || "";
  view.nickname.textContent = name || "Your account";
  view.avatarInitials.textContent = initials(name);
  const identity = [profile.username && `@${profile.username}`, profile.email].filter(Boolean);
  view.identity.textContent = identity.join(" · ");
  view.identity.hidden = !identity.length;
  view.money.textContent = formatMoney(profile.money);
  view.credit.textContent = formatCount(profile.credit);
  view.cartTotal.textContent = formatCount(session.cartTotal);

  const avatar = profile.avatar;
  if (avatar && /^https?:\/\//i.test(avatar)) {
    if (view.avatarImage.getAttribute("src") !== avatar) view.avatarImage.src = avatar;
    view.avatarImage.hidden = false;
    view.avatarInitials.hidden = true;
  } else {
    view.avatarImage.removeAttribute("src");
    view.avatarImage.hidden = true;
    view.avatarInitials.hidden = false;
  }
}

function showAccount() {
  signedInNow = true;
  toLoginAddress();
  showCard("account");
  view.password.value = "";
  for (const form of Object.values(forms)) form.busy(false);
  showAlert(view.accountAlert, "");
  setBusy(view.logoutButton, false, "Sign out");
  renderAccount();
  startCountdown();
  view.title.focus();
}

/** A login succeeded (its cookies are set): load the profile, then show the account. */
async function signedIn(cartTotal) {
  session.cartTotal = cartTotal === undefined ? null : cartTotal;
  session.profile = null;
  await accessRenewed();
  await loadProfile();
  showAccount();
}

/** GET /users/me; on a 401, one refresh and one more try. A failure is not fatal. */
async function loadProfile() {
  const started = epoch;
  try {
    const profile = await api(API.me);
    if (started === epoch) session.profile = profile;
  } catch (error) {
    if (started !== epoch || error.status !== 401) return;
    if (await refreshNow() && started === epoch) {
      try {
        session.profile = await api(API.me);
      } catch (_again) {
        // refreshNow has already shown what went wrong, or will retry
      }
    }
  }
  if (started === epoch && !view.account.hidden) renderAccount();
}

function onSecurity() {
  showCard("security");
  security.open();
}

function onSecurityBack() {
  security.reset();
  showCard("account");
  renderAccount();
  view.title.focus();
}

// ---- the countdown and the keep-alive ----------------------------------------------
//
// When to refresh. This script never holds a token, so it cannot read an `exp`
// claim. What it can see, honestly, is the readable csrf_access_token cookie: the
// server sets it beside the access cookie with the access token's own lifetime
// (Max-Age), so the two expire together. So:
//  - where the browser tells a cookie's expiry (the Cookie Store API: Chromium,
//    Safari), the page refreshes when 80% of that lifetime has passed (at least 1 s
//    before the end) and counts down to the expiry;
//  - elsewhere it watches the csrf cookie: the first time it disappears, the page
//    refreshes at once and learns the lifetime (from the answer that set it to its
//    disappearance); later access tokens are refreshed at 80% of that lifetime;
//  - and whatever the timers say, a 401 from /users/me triggers a refresh and a retry.

function formatRemaining(seconds) {
  if (seconds <= 0) return "expired";
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return `${minutes}:${String(rest).padStart(2, "0")}`;
}

function tick() {
  view.countdown.textContent = access.expiresAt
    ? formatRemaining(Math.max(0, Math.ceil((access.expiresAt - Date.now()) / 1000)))
    : "—";
  // The watch: the access cookie has gone (with its csrf twin) and no timer caught it.
  if (access.watching && !cookie("csrf_access_token") && !refreshing) {
    access.watching = false;
    if (!access.expiresAt) learnedLifetime = Date.now() - access.receivedAt;
    refreshNow();
  }
}

function startCountdown() {
  clearInterval(countdownTimer);
  tick();
  countdownTimer = setInterval(tick, 250);
}

function stopTimers() {
  clearInterval(countdownTimer);
  clearTimeout(refreshTimer);
  countdownTimer = refreshTimer = null;
  access.watching = false;
}

/** A new access cookie has just been set: learn its expiry and plan its refresh. */
async function accessRenewed() {
  const receivedAt = Date.now();
  const expiresAt = await cookieExpiry("csrf_access_token");
  access.receivedAt = receivedAt;
  access.expiresAt = expiresAt || (learnedLifetime ? receivedAt + learnedLifetime : null);
  access.watching = Boolean(cookie("csrf_access_token"));
  scheduleRefresh();
}

/** Refresh 20% of the access lifetime before it ends (at least 1 s before), or in
 * ``delaySeconds``; with no known expiry, the watch in ``tick`` does it. */
function scheduleRefresh(delaySeconds) {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  let delay = delaySeconds === undefined ? null : delaySeconds * 1000;
  if (delay === null) {
    if (!access.expiresAt) return;
    const lifetime = access.expiresAt - access.receivedAt;
    const margin = Math.max(1000, lifetime * 0.2);
    delay = access.expiresAt - margin - Date.now();
  }
  refreshTimer = setTimeout(refreshNow, Math.max(0, delay));
}

/** Trade the refresh cookie for new cookies (the answer is ``{}``). */
function refreshAccess() {
  if (!refreshing) {
    refreshing = api(API.refresh, { method: "POST", csrf: cookie("csrf_refresh_token") })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Refresh now; resolves to whether the session goes on with a new access cookie. */
async function refreshNow() {
  const started = epoch;
  try {
    await refreshAccess();
    if (started !== epoch) return false;
    await accessRenewed();
    tick();
    return true;
  } catch (error) {
    if (started !== epoch) return false;
    if (error.status === 401 || error.status === 400) {
      showLogin(MESSAGES.sessionEnded);
    } else {
      scheduleRefresh(RETRY_SECONDS);  // the server or the network is down: try again soon
    }
    return false;
  }
}

// ---- logout ------------------------------------------------------------------------

async function onLogout() {
  setBusy(view.logoutButton, true, "Signing out…");
  showAlert(view.accountAlert, "");
  clearTimeout(refreshTimer);
  access.watching = false;
  epoch += 1;  // a refresh that answers from now on belongs to the session being closed
  if (refreshing) {
    // Let it land first: its new access cookie must not outlive the logout.
    await refreshing.catch(() => null);
  }
  try {
    await api(API.logout, { method: "POST", csrf: cookie("csrf_refresh_token") });
  } catch (error) {
    if (error.status !== 401 && error.status !== 400) {  // else the session was gone anyway
      setBusy(view.logoutButton, false, "Sign out");
      showAlert(view.accountAlert, describe(error));
      access.watching = true;
      scheduleRefresh();
      return;
    }
  }
  view.username.value = "";
  showLogin("");
}

// ---- page load ---------------------------------------------------------------------

/** Sign back in with the cookies of an earlier visit, if they still hold.
 *
 * The readable csrf cookies tell whether there is a session: none means none (no
 * request is made). With a refresh cookie the page refreshes first, which also
 * tells it when the new access cookie expires; then it loads the profile. */
async function restore() {
  const hasRefresh = Boolean(cookie("csrf_refresh_token"));
  if (!hasRefresh && !cookie("csrf_access_token")) {
    route();
    return;
  }
  const started = epoch;
  const failed = (error) => showLogin(
    error instanceof ApiError && (error.status === 0 || error.status >= 500)
      ? describe(error) : MESSAGES.sessionEnded);
  if (hasRefresh) {
    try {
      await refreshAccess();
      await accessRenewed();
    } catch (error) {
      failed(error);
      return;
    }
  } else {
    access.receivedAt = Date.now();  // an access cookie alone: it ends when it ends
    access.watching = true;
  }
  try {
    session.profile = await api(API.me);
  } catch (error) {
    if (started === epoch) failed(error);
    return;
  }
  session.cartTotal = null;  // only a login tells the cart total
  showAccount();
}

function onTogglePassword() {
  const show = view.password.type === "password";
  view.password.type = show ? "text" : "password";
  view.togglePassword.textContent = show ? "Hide" : "Show";
  view.togglePassword.setAttribute("aria-pressed", String(show));
}

function onAvatarError() {
  view.avatarImage.hidden = true;
  view.avatarInitials.hidden = false;
}

forms.password.form.addEventListener("submit", onPasswordSubmit);
forms.sms.form.addEventListener("submit", onSmsSubmit);
forms.register.form.addEventListener("submit", onRegisterSubmit);
forms.reset.form.addEventListener("submit", onResetSubmit);
forms.mfa.form.addEventListener("submit", onMfaSubmit);
$("mfa-cancel").addEventListener("click", onMfaCancel);
$("security-button").addEventListener("click", onSecurity);
$("security-back").addEventListener("click", onSecurityBack);
forms.register.fields.mobile.addEventListener("input", () => checkMobile());
forms.register.fields.mobile.addEventListener("change", () => checkMobile(true));
for (const tab of view.tabs) {
  tab.addEventListener("click", (event) => {
    selectTab(tab);
    showAlert(view.loginNotice, "");
    // A pointer goes on to the first field; a keyboard stays on the tab (the tabs pattern).
    if (event.detail > 0) activeLoginForm().fields[tab === view.tabs[1] ? "mobile" : "username"].focus();
  });
  tab.addEventListener("keydown", onTabKey);
}
window.addEventListener("hashchange", route);
view.logoutButton.addEventListener("click", onLogout);
view.togglePassword.addEventListener("click", onTogglePassword);
view.avatarImage.addEventListener("error", onAvatarError);
restore();
