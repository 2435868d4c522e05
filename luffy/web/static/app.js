/*
 * The login page of luffy. It talks to the auth API in cookie mode: the server keeps
 * the tokens in HttpOnly cookies and never hands one to this script (a cookie login
 * answers only the cart total, a cookie refresh `{}`). The profile comes from
 * GET /users/me; whether a session exists, from the readable csrf cookies. Nothing
 * goes into localStorage or sessionStorage.
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

  // The session, in memory only: the profile, the cart total (only a login tells it)
  // and what the page knows of the current access cookie's life (see scheduleRefresh).
  const session = { profile: null, cartTotal: null };
  const access = { receivedAt: 0, expiresAt: null, watching: false };
  let learnedLifetime = null;  // ms, seen from a csrf_access_token cookie's disappearance
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

  /** When a readable cookie expires (ms since the epoch), where the browser says; else null. */
  async function cookieExpiry(name) {
    if (!window.cookieStore) return null;  // the Cookie Store API: Chromium, Safari 18.4+
    try {
      const found = await window.cookieStore.get(name);
      return found && Number.isFinite(found.expires) ? found.expires : null;
    } catch (_unavailable) {
      return null;
    }
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
      await signedIn(answer.cart_total);
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

  /** Render the account from the profile (GET /users/me). */
  function renderAccount() {
    const profile = session.profile || {};
    const pick = (key) => profile[key];
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

  // ---- the countdown and the keep-alive ------------------------------------------
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
        showLogin(SESSION_ENDED);
      } else {
        scheduleRefresh(RETRY_SECONDS);  // the server or the network is down: try again soon
      }
      return false;
    }
  }

  // ---- logout ----------------------------------------------------------------------

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

  // ---- page load -------------------------------------------------------------------

  /** Sign back in with the cookies of an earlier visit, if they still hold.
   *
   * The readable csrf cookies tell whether there is a session: none means none (no
   * request is made). With a refresh cookie the page refreshes first, which also
   * tells it when the new access cookie expires; then it loads the profile. */
  async function restore() {
    const hasRefresh = Boolean(cookie("csrf_refresh_token"));
    if (!hasRefresh && !cookie("csrf_access_token")) {
      showLogin("");
      return;
    }
    const started = epoch;
    if (hasRefresh) {
      try {
        await refreshAccess();
        await accessRenewed();
      } catch (error) {
        showLogin(error.status === 0 || error.status >= 500 ? describe(error) : SESSION_ENDED);
        return;
      }
    } else {
      access.receivedAt = Date.now();  // an access cookie alone: it ends when it ends
      access.watching = true;
    }
    try {
      session.profile = await api(API.me);
    } catch (error) {
      if (started !== epoch) return;
      showLogin(error.status === 0 || error.status >= 500 ? describe(error) : SESSION_ENDED);
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

  view.form.addEventListener("submit", onSubmit);
  view.logoutButton.addEventListener("click", onLogout);
  view.togglePassword.addEventListener("click", onTogglePassword);
  view.avatarImage.addEventListener("error", onAvatarError);
  restore();
})();
