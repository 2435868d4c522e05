"""The auth endpoints: parse with a schema, call a service, shape the answer."""

from flask import after_this_request, jsonify

from luffy.auth import bp
from luffy.auth.schemas import LoginSchema, PasswordChangeSchema, RefreshSchema, VerifySchema
from luffy.bodies import load_body
from luffy.core import accounts, authentication, guard, sessions, tokens
from luffy.core.guard import login_required
from luffy.core.responses import (
    clear_cookies, login_response, no_store, refresh_response, wants_cookies,
)
from luffy.core.schemas import UserSchema
from luffy.core.throttle import password_guesses
from luffy.logs import login_event

# Schemas hold no per-call state: built once, not per request.
LOGIN, REFRESH, VERIFY = LoginSchema(), RefreshSchema(), VerifySchema()
USER, PASSWORD_CHANGE = UserSchema(), PasswordChangeSchema()


@bp.post("/login")  # also answers /login/ (strict_slashes is off)
@login_event
@password_guesses
def login(guard):
    """Exchange a username, email or mobile and a password for tokens."""
    body = load_body(LOGIN)
    cookies = wants_cookies(body)
    return login_response(authentication.login(body["username"], body["password"], guard), cookies)


@bp.post("/login/refresh")
def refresh():
    """A new access token (and, with rotation, a new refresh token)."""
    raw, csrf = guard.refresh_token(load_body(REFRESH)["refresh"])
    return refresh_response(sessions.refresh(raw, csrf), cookies=csrf is not None)


@bp.post("/login/verify")
def verify():
    """``{}`` if the token is live, else 401."""
    tokens.check(load_body(VERIFY)["token"])
    return jsonify({})


@bp.post("/logout")
def logout():
    """End the refresh token's session; clear the cookies."""
    raw, csrf = guard.refresh_token(load_body(REFRESH)["refresh"])
    # A browser's cookies go even when the token was already dead (a 401 below).
    after_this_request(clear_cookies)
    sessions.logout(raw, csrf, guard.presented_access())
    return no_store(jsonify({}))


@bp.get("/me")
@login_required
def me(account):
    """The profile of the authenticated account."""
    return jsonify(USER.dump(account))


@bp.post("/password")
@login_required  # outermost: HTTP Basic's own guesses are counted by its own guard
@password_guesses
def change_password(account, guard):
    """Change the password; every session of the account ends."""
    body = load_body(PASSWORD_CHANGE)
    accounts.change_password(account.id, body["old_password"], body["new_password"], guard)
    return no_store(clear_cookies(jsonify({})))
