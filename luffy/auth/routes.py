"""The auth endpoints: parse with a schema, call a service, dump with a schema."""

from functools import wraps

from flask import after_this_request, current_app, g, jsonify, request

from luffy.auth import bp, services, tokens
from luffy.auth.responses import (
    clear_cookies, login_response, no_store, refresh_response, wants_cookies,
)
from luffy.auth.schemas import (
    LoginSchema, PasswordChangeSchema, RefreshSchema, UserSchema, VerifySchema,
)
from luffy.auth.throttle import password_guesses
from luffy.bodies import load_body
from luffy.errors import APIError
from luffy.logs import login_event

# Schemas hold no per-call state: built once, not per request.
LOGIN, REFRESH, VERIFY = LoginSchema(), RefreshSchema(), VerifySchema()
USER, PASSWORD_CHANGE = UserSchema(), PasswordChangeSchema()


def _authorization():
    """The raw ``Authorization`` header as ``(scheme, credentials)``, the scheme lower-cased;
    ``("", "")`` without one. Read raw: werkzeug's parse gives no token for some malformed
    credentials (``Bearer ===.===.===`` reads as auth-params), which must still count."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower(), credentials.strip()


def _access_token(authorization):
    """The request's access token and the CSRF value it must carry: ``Authorization``
    (as :func:`_authorization` read it) under any ``AUTH_HEADER_TYPES`` scheme (any
    case, RFC 9110), else the access cookie, which on a state-changing request needs
    ``X-CSRF-TOKEN`` (double submit). A header under such a scheme is the credential
    even when it is empty or no JWT: 401 ``token_not_valid``, like any bad token; none
    at all is ``not_authenticated``."""
    config = current_app.config
    scheme, credentials = authorization
    if scheme in {name.lower() for name in config["AUTH_HEADER_TYPES"]}:
        if not credentials:
            raise APIError.token_not_valid()
        return credentials, None
    cookie = request.cookies.get(config["JWT_ACCESS_COOKIE_NAME"])
    if not cookie:
        raise APIError.not_authenticated()
    if request.method not in config["JWT_CSRF_METHODS"]:
        return cookie, None
    csrf = request.headers.get(config["JWT_ACCESS_CSRF_HEADER_NAME"])
    if not csrf:
        raise APIError.token_not_valid("Missing CSRF token")
    return cookie, csrf


def _token_user(read_only, authorization):
    """The account of the request's live access token, or 401 ``token_not_valid``."""
    raw, csrf = _access_token(authorization)
    claims = tokens.decode(raw, "access", csrf)
    user = None if tokens.access_token_revoked(claims) else tokens.load_user(claims, read_only)
    if user is None:
        raise APIError.token_not_valid()
    return user


@password_guesses
def _basic_user(auth, guard):
    """The account that HTTP Basic credentials open; guesses are throttled like logins."""
    username, password = auth.username or "", auth.password or ""
    if len(username) > 254 or len(password) > 1024:  # the login's limits
        raise APIError.invalid({"authorization": ["Identifier or password too long."]})
    return services.authenticate_basic(username, password, guard)


def login_required(view=None, *, read_only=False):
    """A Bearer access token, the access cookie (with CSRF), or HTTP Basic when enabled;
    the account in ``g.user``. ``read_only``: the view only reads the account, which
    may then be a plain row instead of an ORM entity (see ``tokens.load_user``)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            authorization = _authorization()
            if authorization[0] == "basic" and current_app.config["AUTH_BASIC"] \
                    and request.authorization is not None:  # werkzeug parsed the credentials
                g.user = _basic_user(request.authorization)
            else:
                g.user = _token_user(read_only, authorization)
            g.user_id = g.user.id
            return view(*args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


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
    """The claims of a good access token sent with a logout (header or cookie), if any."""
    try:
        # The logout itself passed the refresh token's CSRF check: no second one here.
        return tokens.decode(_access_token(_authorization())[0] if request.authorization else
                             request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"], ""),
                             "access")
    except APIError:  # a bad or missing access token does not stop a logout
        return None


@bp.post("/login")  # also answers /login/ (strict_slashes is off)
@login_event
@password_guesses
def login(guard):
    """Exchange a username, email or mobile and a password for tokens."""
    body = load_body(LOGIN)
    cookies = wants_cookies(body)
    user = services.authenticate(body["username"], body["password"], guard)
    return login_response(user, cookies)


@bp.post("/login/refresh")
def refresh():
    """A new access token (and, with rotation, a new refresh token)."""
    raw, csrf = _refresh_token(load_body(REFRESH))
    answer = services.refresh(tokens.decode(raw, "refresh", csrf))
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
    claims = tokens.decode(raw, "refresh", csrf)
    # A browser's cookies go even when the token was already dead (a 401 below).
    after_this_request(clear_cookies)
    services.logout(claims, _presented_access_claims())
    return no_store(jsonify({}))


@bp.get("/me")
@login_required(read_only=True)
def me():
    """The profile of the authenticated account."""
    return jsonify(USER.dump(g.user))


@bp.post("/password")
@password_guesses
@login_required
def change_password(guard):
    """Change the password; every session of the account ends."""
    body = load_body(PASSWORD_CHANGE)
    services.change_password(g.user, body["old_password"], body["new_password"], guard)
    return no_store(clear_cookies(jsonify({})))
