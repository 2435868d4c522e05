"""How token answers are written: tokens in the body, or, in cookie mode, only in cookies.
This module shapes answers and writes nothing else.

A browser that asks for cookies (``?cookies=1`` or ``"cookies": true``) gets the
HttpOnly token cookies and the readable CSRF cookies, and no token in the body, so
that page script never holds one. Token cookies live as long as their tokens, and the
refresh cookie is sent only to the two paths that take it: refresh and logout.
"""

from urllib.parse import urlsplit

from flask import current_app, jsonify, request
from flask_jwt_extended import set_access_cookies, set_refresh_cookies, unset_jwt_cookies

from luffy.core.mfa import Challenge
from luffy.errors import APIError

TRUE = ("1", "true", "yes", "on")
# flask-jwt-extended sets the refresh cookie on JWT_REFRESH_COOKIE_PATH (refresh);
# logout, the other path that reads it, gets a second cookie of the same name.
LOGOUT_PATH = "/users/logout"
# The device cookie (luffy.core.devices): every /users path may read it, for 400 days.
DEVICE_COOKIE_PATH = "/users"
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600


def no_store(response):
    """Token answers must not be cached by anything on the way."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def wants_cookies(body):
    """Whether the client asked for cookie mode; refused from a foreign origin.

    Login CSRF: another site's form must not log a browser into someone's account.
    Browsers name the page's origin on every cross-site POST; only this service's own
    origin and ``CORS_ORIGINS`` may ask for cookies. Clients without ``Origin`` (curl,
    scripts) are not browsers and carry no ambient cookies to abuse.
    """
    if not (body.get("cookies") or request.args.get("cookies", "").lower() in TRUE):
        return False
    origin = request.headers.get("Origin")
    # The host alone: behind a TLS-terminating proxy the scheme seen here may differ.
    if origin and urlsplit(origin).netloc != request.host and \
            origin not in current_app.config["CORS_ORIGINS"]:
        raise APIError.invalid({"cookies": ["Cookie login is not allowed from this origin."]})
    return True


def _seconds(key):
    return int(current_app.config[key].total_seconds())


def set_access_cookie(response, access):
    """The access cookie and its CSRF cookie, expiring with the token."""
    set_access_cookies(response, access, max_age=_seconds("JWT_ACCESS_TOKEN_EXPIRES"))


def set_refresh_cookie(response, refresh):
    """The refresh cookie on the refresh path and the logout path, expiring with the token."""
    max_age = _seconds("JWT_REFRESH_TOKEN_EXPIRES")
    set_refresh_cookies(response, refresh, max_age=max_age)
    config = current_app.config
    response.set_cookie(
        config["JWT_REFRESH_COOKIE_NAME"], refresh, max_age=max_age, path=LOGOUT_PATH,
        secure=config["JWT_COOKIE_SECURE"], httponly=True, domain=config["JWT_COOKIE_DOMAIN"],
        samesite=config["JWT_COOKIE_SAMESITE"])


def clear_cookies(response):
    """Delete every token cookie, the logout path's refresh cookie included."""
    unset_jwt_cookies(response)
    config = current_app.config
    response.set_cookie(
        config["JWT_REFRESH_COOKIE_NAME"], "", expires=0, path=LOGOUT_PATH,
        secure=config["JWT_COOKIE_SECURE"], httponly=True, domain=config["JWT_COOKIE_DOMAIN"],
        samesite=config["JWT_COOKIE_SAMESITE"])
    return response


def set_device_cookie(response, value):
    """The device cookie (:mod:`luffy.core.devices`): HttpOnly, 400 days, for /users."""
    config = current_app.config
    response.set_cookie(
        config["DEVICE_COOKIE_NAME"], value, max_age=DEVICE_COOKIE_MAX_AGE, path=DEVICE_COOKIE_PATH,
        secure=config["JWT_COOKIE_SECURE"], httponly=True, domain=config["JWT_COOKIE_DOMAIN"],
        samesite="Lax")


def login_response(answer, cookies, status=200):
    """The login answer (a :class:`~luffy.core.sessions.LoginAnswer`): tokens in the body,
    or cookies. A :class:`~luffy.core.mfa.Challenge` answers the second step's token
    instead, and no cookie. Either way a login sets the device cookie."""
    if isinstance(answer, Challenge):
        return no_store(jsonify(mfa_required=True, mfa_token=answer.mfa_token,
                                methods=list(answer.methods))), status
    if not cookies:
        response = jsonify(token=answer.token, refresh=answer.refresh,
                           cart_total=answer.cart_total)
    else:
        response = jsonify({"cart_total": answer.cart_total})
        set_access_cookie(response, answer.token)
        set_refresh_cookie(response, answer.refresh)
    if answer.device is not None:
        set_device_cookie(response, answer.device)
    return no_store(response), status


def refresh_response(answer, cookies):
    """The refresh answer: ``{"access"[, "refresh"]}``, or ``{}`` with cookies set."""
    if not cookies:
        return no_store(jsonify(answer))
    response = jsonify({})
    set_access_cookie(response, answer["access"])
    if "refresh" in answer:
        set_refresh_cookie(response, answer["refresh"])
    return no_store(response)
