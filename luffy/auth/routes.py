"""The auth endpoints: parse with a schema, call a service, dump with a schema."""

from functools import wraps

from flask import after_this_request, current_app, g, jsonify, request
from flask_jwt_extended import decode_token, get_current_user, get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from luffy.auth import bp, services
from luffy.auth.responses import (
    clear_cookies, login_response, no_store, refresh_response, wants_cookies,
)
from luffy.auth.schemas import (
    LoginSchema, PasswordChangeSchema, RefreshSchema, UserSchema, VerifySchema,
)
from luffy.auth.throttle import failed_refreshes, throttle_passwords
from luffy.bodies import load_body
from luffy.errors import APIError

# Schemas hold no per-call state: built once, not per request.
LOGIN, REFRESH, VERIFY = LoginSchema(), RefreshSchema(), VerifySchema()
USER, PASSWORD_CHANGE = UserSchema(), PasswordChangeSchema()


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
    cookies = wants_cookies(body)
    return login_response(services.authenticate(body["username"], body["password"]), cookies)


@bp.post("/login/refresh")
@failed_refreshes
def refresh():
    """A new access token (and, with rotation, a new refresh token)."""
    raw, csrf = _refresh_token(load_body(REFRESH))
    answer = services.refresh(services.decode(raw, "refresh", csrf))
    return refresh_response(answer, cookies=csrf is not None)


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
    after_this_request(clear_cookies)
    services.logout(claims, _presented_access_claims())
    return no_store(jsonify({}))


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
    return no_store(clear_cookies(jsonify({})))
