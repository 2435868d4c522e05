/*
 * How the page talks to the API: one fetch wrapper, one error type, the readable
 * cookies, and sentences a person understands for each kind of failure.
 */

export const MESSAGES = {
  sessionEnded: "Your session has ended. Please sign in again.",
  wrongCredentials: "Wrong username or password.",
  wrongCode: "Wrong or expired code. Ask for a new one if needed.",
  unavailable: "The service is unavailable right now. Please try again shortly.",
  network: "We couldn't reach the server. Check your connection and try again.",
  invalid: "Please check the fields below.",
  unexpected: "Something went wrong on our side. Please try again.",
};

/** An answer of the API that is not a 2xx, or a request that never got one (status 0). */
export class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.errors = (body && body.errors) || null;
    this.headers = headers || new Headers();
  }

  /** Seconds from the Retry-After header of a 429, or null. */
  get retryAfter() {
    const seconds = parseInt(this.headers.get("Retry-After"), 10);
    return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
  }
}

/** Call the API; resolves to the JSON answer, rejects with an ApiError. */
export async function api(path, { method = "GET", body, csrf } = {}) {
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
export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** When a readable cookie expires (ms since the epoch), where the browser says; else null. */
export async function cookieExpiry(name) {
  if (!window.cookieStore) return null;  // the Cookie Store API: Chromium, Safari 18.4+
  try {
    const found = await window.cookieStore.get(name);
    return found && Number.isFinite(found.expires) ? found.expires : null;
  } catch (_unavailable) {
    return null;
  }
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A sentence a person understands for a failed request. */
export function describe(error) {
  if (!(error instanceof ApiError)) return MESSAGES.unexpected;
  if (error.status === 0) return MESSAGES.network;
  if (error.status === 401 && error.code === "authentication_failed") return MESSAGES.wrongCredentials;
  if (error.status === 401) return MESSAGES.sessionEnded;
  if (error.status === 429) {
    const seconds = error.retryAfter;
    return seconds
      ? `Too many attempts. Try again in ${plural(seconds, "second")}.`
      : "Too many attempts. Try again in a little while.";
  }
  if (error.status === 503) return MESSAGES.unavailable;
  if (error.status === 400 && error.errors) return MESSAGES.invalid;
  if (error.status >= 400 && error.status < 500 && error.message) return error.message;
  return MESSAGES.unexpected;
}
