"""The auth endpoints: a schema parses the body (:mod:`luffy.markers`), a service does
the work, the answer is shaped; the markers also make each endpoint's OpenAPI entry."""

from flask import after_this_request, jsonify

from luffy.auth import bp
from luffy.auth.schemas import (
    LoginSchema, PasswordChangeSchema, RefreshAnswerSchema, RefreshSchema, VerifySchema,
)
from luffy.core import accounts, authentication, sessions, tokens
from luffy.core.guard import login_required, presented_access, refresh_token
from luffy.core.responses import (
    clear_cookies, login_response, no_store, refresh_response, wants_cookies,
)
from luffy.core.schemas import LOGIN_OR_MFA, EmptySchema, UserSchema, profile
from luffy.core.throttle import password_guesses
from luffy.logs import login_event
from luffy.markers import COOKIE_MODE, DEVICE_COOKIE, REFRESH_COOKIE, answers, body


@bp.post("/login")  # also answers /login/ (strict_slashes is off)
@answers(LOGIN_OR_MFA, errors=(401, 503), no_store=True, parameters=(COOKIE_MODE, DEVICE_COOKIE))
@login_event
@password_guesses
@body(LoginSchema)
def login(body, guard):
    """Exchange a username, email or mobile and a password for tokens."""
    cookies = wants_cookies(body)
    return login_response(authentication.login(body["username"], body["password"], guard), cookies)


@bp.post("/login/refresh")
@answers(RefreshAnswerSchema, errors=(401, 503), no_store=True, parameters=REFRESH_COOKIE)
@body(RefreshSchema)
def refresh(body):
    """A new access token (and, with rotation on, a new refresh token)."""
    raw, csrf = refresh_token(body["refresh"])
    return refresh_response(sessions.refresh(raw, csrf), cookies=csrf is not None)


@bp.post("/login/verify")
@answers(EmptySchema, errors=(401, 503))
@body(VerifySchema)
def verify(body):
    """``{}`` when the access or refresh token is live, else 401."""
    tokens.check(body["token"])
    return jsonify({})


@bp.post("/logout")
@answers(EmptySchema, errors=(401, 503), no_store=True, parameters=REFRESH_COOKIE)
@body(RefreshSchema)
def logout(body):
    """Kill the refresh token and its family; a presented access token is denied too."""
    raw, csrf = refresh_token(body["refresh"])
    # A browser's cookies go even when the token was already dead (a 401 below).
    after_this_request(clear_cookies)
    sessions.logout(raw, csrf, presented_access())
    return no_store(jsonify({}))


@bp.get("/me")
@answers(UserSchema, errors=(503,))
@login_required
def me(account):
    """The profile of the authenticated account."""
    return jsonify(profile(account))  # UserSchema's dump without marshmallow (hot path)


@bp.post("/password")
@answers(EmptySchema, errors=(401, 503), no_store=True)
@login_required  # outermost: HTTP Basic's own guesses are counted by its own guard
@password_guesses
@body(PasswordChangeSchema)
def change_password(body, account, guard):
    """Change the password; every session of the account ends."""
    accounts.change_password(account.id, body["old_password"], body["new_password"], guard)
    return no_store(clear_cookies(jsonify({})))
