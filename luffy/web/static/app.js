/*
 * The login page of luffy. It talks to the auth API in cookie mode: the server keeps
 * the tokens in HttpOnly cookies, and this script keeps only the access token's
 * decoded claims, in memory. Nothing goes into localStorage or sessionStorage.
 */
"use strict";

(() => {
  const API = {
    login: "/users/login/?cookies=1",
    refresh: "/users/login/refresh",
    logout: "/users/logout",
    me: "/users/me",
  };
  const SESSION_ENDED = "Your session has ended. Please sign in again.";
  const MESSAGES = {
    wrongCredentials: "Wrong username or password.",
    unavailable: "The service is unavailable right now. Please try again shortly.",
    network: "We couldn't reach the server. Check your connection and try again.",
    invalid: "Please check the fields below.",
    unexpected: "Something went wrong on our side. Please try again.",
  };
  const FIELD_LABELS = { username: "Username, email or mobile", password: "Password" };
  const RETRY_SECONDS = 5;

  const $ = (id) => document.getElementById(id);
  const view = {
    loading: $("loading"),
    login: $("login-view"),
    account: $("account-view"),
    form: $("login-form"),
    username: $("username"),
    password: $("password"),
    togglePassword: $("toggle-password"),
    loginButton: $("login-button"),
    loginAlert: $("login-alert"),
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

  // The session, in memory only.
  const session = { claims: null, profile: null, cartTotal: null };
  let refreshTimer = null;
  let refreshing = null;  // the refresh request in flight, if any
  let epoch = 0;  // bumped when a session ends: late answers of its requests are dropped
  let countdownTimer = null;

  /** An answer of the API that is not a 2xx, or a request that never got one (status 0). */
  class ApiError extends Error {
    constructor(status, body, headers) {
      super((body && body.detail) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.code;
      this.errors = (body && body.errors) || null;
      this.headers = headers || new Headers();
    }
  }

  /** Call the API; resolves to the JSON answer, rejects with an ApiError. */
  async function api(path, { method = "GET", body, csrf } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-TOKEN"] = csrf;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (_networkFailure) {
      throw new ApiError(0, null, null);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_notJson) {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data, response.headers);
    return data;
  }

  /** The value of a readable cookie, or null. */
  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return null;
  }

  /** The payload of a JWT, decoded but not verified (the server verifies). */
  function decodeJwt(token) {
    const payload = String(token).split(".")[1] || "";
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  /** A sentence a person understands for a failed request. */
  function describe(error) {
    if (error.status === 0) return MESSAGES.network;
    if (error.status === 401 && error.code === "authentication_failed") return MESSAGES.wrongCredentials;
    if (error.status === 401) return SESSION_ENDED;
    if (error.status === 429) {
      const seconds = parseInt(error.headers.get("Retry-After"), 10);
      if (Number.isFinite(seconds) && seconds > 0) {
        return `Too many attempts. Try again in ${seconds} ${seconds === 1 ? "second" : "seconds"}.`;
      }
      return "Too many attempts. Try again in a little while.";
    }
    if (error.status === 503) return MESSAGES.unavailable;
    if (error.status === 400 && error.errors) return MESSAGES.invalid;
    if (error.status >= 400 && error.status < 500 && error.message) return error.message;
    return MESSAGES.unexpected;
  }

  function showAlert(element, message) {
    element.textContent = message || "";
    element.hidden = !message;
  }

  function setBusy(button, busy, label) {
    button.disabled = busy;
    button.setAttribute("aria-busy", String(busy));
    button.querySelector(".button-label").textContent = label;
  }

  // ---- the login form ------------------------------------------------------------

  function clearFieldErrors() {
    for (const name of Object.keys(FIELD_LABELS)) {
      const input = view[name];
      const message = $(`${name}-error`);
      input.removeAttribute("aria-invalid");
      message.textContent = "";
      message.hidden = true;
    }
  }

  /** Show ``{field: [messages]}`` next to the fields; returns the ones with no field here. */
  function showFieldErrors(errors) {
    const others = [];
    let first = null;
    for (const [name, messages] of Object.entries(errors || {})) {
      const text = [].concat(messages).join(" ");
      if (!(name in FIELD_LABELS)) {
        others.push(text);
        continue;
      }
      const message = $(`${name}-error`);
      message.textContent = text;
      message.hidden = false;
      view[name].setAttribute("aria-invalid", "true");
      first = first || view[name];
    }
    if (first) first.focus();
    return others;
  }

  /** Fields the browser can check before asking the server. */
  function localErrors() {
    const errors = {};
    if (!view.username.value) errors.username = ["Enter your username, email or mobile number."];
    if (!view.password.value) errors.password = ["Enter your password."];
    return errors;
  }

  function showLogin(message) {
    stopTimers();
    epoch += 1;
    session.claims = null;
    session.profile = null;
    session.cartTotal = null;
    view.loading.hidden = true;
    view.account.hidden = true;
    view.login.hidden = false;
    view.password.value = "";
    clearFieldErrors();
    showAlert(view.loginAlert, message);
    setBusy(view.loginButton, false, "Sign in");
    view.username.focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearFieldErrors();
    showAlert(view.loginAlert, "");
    const missing = localErrors();
    if (Object.keys(missing).length) {
      showFieldErrors(missing);
      showAlert(view.loginAlert, MESSAGES.invalid);
      return;
    }
    setBusy(view.loginButton, true, "Signing in…");
    try {
      const answer = await api(API.login, {
        method: "POST",
        body: { username: view.username.value, password: view.password.value },
      });
      session.claims = decodeJwt(answer.token);
      session.cartTotal = answer.cart_total;
      session.profile = null;
      showAccount();
      loadProfile();
    } catch (error) {
      setBusy(view.loginButton, false, "Sign in");
      if (error instanceof ApiError) {
        const others = error.status === 400 ? showFieldErrors(error.errors) : [];
        const sentence = error.status === 401 ? MESSAGES.wrongCredentials : describe(error);
        showAlert(view.loginAlert, [sentence, ...others].join(" "));
        if (error.status === 401) {
          view.password.value = "";
          view.password.focus();
        }
      } else {
        showAlert(view.loginAlert, MESSAGES.unexpected);
      }
    }
  }

  // ---- the account -----------------------------------------------------------------

  function initials(name) {
    const words = String(name || "").trim().split(/\s+/).filter(Boolean);
    const letters = words.slice(0, 2).map((word) => Array.from(word)[0]);
    return (letters.join("") || "?").toUpperCase();
  }

  function formatMoney(value) {
    const number = Number(value);
    return Number.isFinite(number) ? number.toFixed(2) : "—";
  }

  function formatCount(value) {
    return value === null || value === undefined ? "—" : String(value);
  }

  /** Render the account from the profile (if known) and the access token's claims. */
  function renderAccount() {
    const claims = session.claims || {};
    const profile = session.profile || {};
    const pick = (key) => (profile[key] !== undefined ? profile[key] : claims[key]);
    const name = pick("nickname") || profile.username || "";
    view.nickname.textContent = name || "Your account";
    view.avatarInitials.textContent = initials(name);
    const identity = [profile.username && `@${profile.username}`, profile.email].filter(Boolean);
    view.identity.textContent = identity.join(" · ");
    view.identity.hidden = !identity.length;
    view.money.textContent = formatMoney(pick("money"));
    view.credit.textContent = formatCount(pick("credit"));
    view.cartTotal.textContent = formatCount(session.cartTotal);

    const avatar = pick("avatar");
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
    view.loading.hidden = true;
    view.login.hidden = true;
    view.account.hidden = false;
    view.password.value = "";
    showAlert(view.accountAlert, "");
    setBusy(view.logoutButton, false, "Sign out");
    renderAccount();
    startCountdown();
    scheduleRefresh();
    view.title.focus();
  }

  /** Fill in what the token does not carry (username, email); a failure is not fatal. */
  async function loadProfile() {
    const started = epoch;
    try {
      const profile = await api(API.me);
      if (started !== epoch) return;
      session.profile = profile;
      renderAccount();
    } catch (error) {
      if (started === epoch && error.status === 401) await refreshNow();
    }
  }

  // ---- the countdown and the keep-alive ------------------------------------------

  function formatRemaining(seconds) {
    if (seconds <= 0) return "expired";
    const minutes = Math.floor(seconds / 60);
    const rest = seconds % 60;
    return `${minutes}:${String(rest).padStart(2, "0")}`;
  }

  function tick() {
    const exp = session.claims && session.claims.exp;
    view.countdown.textContent = exp
      ? formatRemaining(Math.max(0, Math.ceil(exp - Date.now() / 1000)))
      : "—";
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
  }

  /** Refresh about 20% of the token's lifetime before it expires (at least 1 s before). */
  function scheduleRefresh(delaySeconds) {
    clearTimeout(refreshTimer);
    let delay = delaySeconds;
    if (delay === undefined) {
      const { exp, iat } = session.claims || {};
      if (!exp) return;
      const lifetime = iat ? exp - iat : 60;
      const margin = Math.max(1, lifetime * 0.2);
      delay = exp - margin - Date.now() / 1000;
    }
    refreshTimer = setTimeout(refreshNow, Math.max(0, delay) * 1000);
  }

  /** Trade the refresh cookie for a new access token; resolves to its claims. */
  function refreshAccess() {
    if (!refreshing) {
      refreshing = api(API.refresh, { method: "POST", csrf: cookie("csrf_refresh_token") })
        .then((answer) => decodeJwt(answer.access))
        .finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  async function refreshNow() {
    const started = epoch;
    try {
      const claims = await refreshAccess();
      if (started !== epoch) return;
      session.claims = claims;
      renderAccount();
      tick();
      scheduleRefresh();
    } catch (error) {
      if (started !== epoch) return;
      if (error.status === 401 || error.status === 400) {
        showLogin(SESSION_ENDED);
      } else {
        scheduleRefresh(RETRY_SECONDS);  // the server or the network is down: try again soon
      }
    }
  }

  // ---- logout ----------------------------------------------------------------------

  async function onLogout() {
    setBusy(view.logoutButton, true, "Signing out…");
    showAlert(view.accountAlert, "");
    clearTimeout(refreshTimer);
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
        scheduleRefresh();
        return;
      }
    }
    view.username.value = "";
    showLogin("");
  }

  // ---- page load -------------------------------------------------------------------

  /** Sign back in with the cookies of an earlier visit, if they still hold. */
  async function restore() {
    const hadSession = Boolean(cookie("csrf_refresh_token") || cookie("csrf_access_token"));
    try {
      session.profile = await api(API.me);
    } catch (error) {
      if (error.status !== 401 || !cookie("csrf_refresh_token")) {
        showLogin(error.status === 401 || error.status === 400 ? (hadSession ? SESSION_ENDED : "") : describe(error));
        return;
      }
      try {
        session.claims = await refreshAccess();
        session.profile = await api(API.me);
      } catch (again) {
        showLogin(again.status === 0 || again.status >= 500 ? describe(again) : SESSION_ENDED);
        return;
      }
    }
    if (!session.claims) {
      // The access cookie is HttpOnly: a refresh tells us its claims and its expiry.
      try {
        session.claims = await refreshAccess();
      } catch (error) {
        if (error.status === 401 || error.status === 400) {
          showLogin(SESSION_ENDED);
          return;
        }
      }
    }
    session.cartTotal = null;  // only a login tells the cart total
    showAccount();
    if (!session.claims) scheduleRefresh(RETRY_SECONDS);
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

  view.form.addEventListener("submit", onSubmit);
  view.logoutButton.addEventListener("click", onLogout);
  view.togglePassword.addEventListener("click", onTogglePassword);
  view.avatarImage.addEventListener("error", onAvatarError);
  restore();
})();
