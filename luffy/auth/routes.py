"""The auth endpoints: parse with a schema, call a service, dump with a schema."""

from functools import wraps
from urllib.parse import urlsplit

from flask import after_this_request, current_app, g, jsonify, request
from flask_jwt_extended import (
    decode_token, get_current_user, get_jwt, set_access_cookies, set_refresh_cookies,
    unset_jwt_cookies, verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from luffy.auth import bp, services
from luffy.auth.schemas import (
    LoginSchema, PasswordChangeSchema, RefreshSchema, UserSchema, VerifySchema,
)
from luffy.auth.throttle import failed_refreshes, throttle_passwords
from luffy.bodies import load_body
from luffy.errors import APIError

TRUE = ("1", "true", "yes", "on")
# Schemas hold no per-call state: built once, not per request.
LOGIN, REFRESH, VERIFY = LoginSchema(), RefreshSchema(), VerifySchema()
USER, PASSWORD_CHANGE = UserSchema(), PasswordChangeSchema()


def no_store(response):
    """Token answers must not be cached by anything on the way."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _normalize_bearer():
    """RFC 9110 auth schemes are case-insensitive; flask-jwt-extended wants "Bearer"."""
    scheme, _, rest = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and scheme != "Bearer":
        request.environ["HTTP_AUTHORIZATION"] = "Bearer " + rest.strip()


def login_required(view):
    """A Bearer access token, the access cookie (with CSRF), or HTTP Basic when enabled."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        auth = request.authorization
        if auth is not None and auth.type == "basic" and current_app.config["AUTH_BASIC"]:
            username, password = auth.username or "", auth.password or ""
            if len(username) > 254 or len(password) > 1024:  # the login's limits
                raise APIError.invalid({"authorization": ["Identifier or password too long."]})
            g.user = services.authenticate_basic(username, password)
        else:
            _normalize_bearer()
            verify_jwt_in_request()
            g.user = get_current_user()
        g.user_id = g.user.id
        return view(*args, **kwargs)

    return wrapped


def _refuse_cross_site_cookie_login():
    """Login CSRF: another site's form must not log a browser into someone's account.

    Browsers name the page's origin on every cross-site POST; only this service's own
    origin and ``CORS_ORIGINS`` may ask for cookies. Clients without ``Origin`` (curl,
    scripts) are not browsers and carry no ambient cookies to abuse.
    """
    origin = request.headers.get("Origin")
    # The host alone: behind a TLS-terminating proxy the scheme seen here may differ.
    if origin and urlsplit(origin).netloc != request.host and \
            origin not in current_app.config["CORS_ORIGINS"]:
        raise APIError.invalid({"cookies": ["Cookie login is not allowed from this origin."]})


def _refresh_token(body):
    """The refresh token from the body, else from the cookie (which needs the CSRF header)."""
    if body["refresh"]:
        return body["refresh"], None
    cookie = request.cookies.get(current_app.config["JWT_REFRESH_COOKIE_NAME"])
    if not cookie:
        raise APIError.invalid({"refresh": ["Missing data for required field."]})
    csrf = request.headers.get(current_app.config["JWT_REFRESH_CSRF_HEADER_NAME"])
    if not csrf:
        raise APIError.token_not_valid("Missing CSRF token")
    return cookie, csrf


def _presented_access_claims():
    """The claims of a valid access token sent with a logout (header or cookie), if any."""
    _normalize_bearer()
    try:
        verify_jwt_in_request(optional=True, locations=["headers"])
        claims = get_jwt()
        access_cookie = request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"])
        if not claims and access_cookie:
            # A browser's access cookie rides along; the logout itself passed the CSRF check.
            claims = decode_token(access_cookie)
    except (JWTExtendedException, PyJWTError):  # a bad access token does not stop a logout
        return None
    return claims if claims and claims.get("token_type") == "access" else None


@bp.post("/login")  # also answers /login/ (strict_slashes is off)
@throttle_passwords
def login():
    """Exchange a username, email or mobile and a password for tokens."""
    body = load_body(LOGIN)
    cookies = body["cookies"] or request.args.get("cookies", "").lower() in TRUE
    if cookies:
        _refuse_cross_site_cookie_login()
    user = services.authenticate(body["username"], body["password"])
    answer = services.login(user)
    response = jsonify(answer)
    if cookies:
        set_access_cookies(response, answer["token"])
        set_refresh_cookies(response, answer["refresh"])
    return no_store(response)


@bp.post("/login/refresh")
@failed_refreshes
def refresh():
    """A new access token (and, with rotation, a new refresh token)."""
    raw, csrf = _refresh_token(load_body(REFRESH))
    answer = services.refresh(services.decode(raw, "refresh", csrf))
    response = jsonify(answer)
    if csrf is not None:  # the client uses cookies: keep them current
        set_access_cookies(response, answer["access"])
        if "refresh" in answer:
            set_refresh_cookies(response, answer["refresh"])
    return no_store(response)


@bp.post("/login/verify")
def verify():
    """``{}`` if the token is live, else 401."""
    services.verify(load_body(VERIFY)["token"])
    return jsonify({})


@bp.post("/logout")
def logout():
    """Kill the refresh token (and its family); clear the cookies."""
    raw, csrf = _refresh_token(load_body(REFRESH))
    claims = services.decode(raw, "refresh", csrf)
    # A browser's cookies go even when the token was already dead (a 401 below).
    after_this_request(_clear_cookies)
    services.logout(claims, _presented_access_claims())
    return no_store(jsonify({}))


def _clear_cookies(response):
    unset_jwt_cookies(response)
    return response


@bp.get("/me")
@throttle_passwords
@login_required
def me():
    """The profile of the authenticated account."""
    return jsonify(USER.dump(g.user))


@bp.post("/password")
@throttle_passwords
@login_required
def change_password():
    """Change the password; every session of the account ends."""
    body = load_body(PASSWORD_CHANGE)
    services.change_password(g.user, body["old_password"], body["new_password"])
    response = jsonify({})
    unset_jwt_cookies(response)
    return no_store(response)
