"""The security endpoints: a schema parses the request (:mod:`luffy.markers`), a service
of :mod:`luffy.core` does the work, the answer is shaped."""

from flask import jsonify

from luffy.core import events, mfa, sessions, twofactor
from luffy.core.guard import login_required
from luffy.core.responses import login_response, no_store, wants_cookies
from luffy.core.schemas import EmptySchema, LoginAnswerSchema
from luffy.core.throttle import password_guesses
from luffy.logs import login_event
from luffy.errors import APIError
from luffy.markers import COOKIE_MODE, DEVICE_COOKIE, answers, body, path, query
from luffy.security import bp
from luffy.security.schemas import (
    EventSchema, EventsQuerySchema, EventsSchema, MfaLoginSchema, PasswordAndCodeSchema,
    PasswordSchema,
    RecoveryCodesSchema, SessionPathSchema, SessionSchema, SessionsSchema, TotpCodeSchema,
    TotpSecretSchema,
)

EVENTS = EventSchema(many=True)  # schemas hold no per-call state: built once
SESSIONS = SessionSchema(many=True)


@bp.get("/sessions")
@answers(SessionsSchema, errors=(503,))
@login_required
def list_sessions(account, current_session):
    """Where the account is signed in: its live sessions, newest first; ``current`` marks
    the session of the access token used."""
    found = [{"id": s.id, "created_at": s.created_at, "last_used_at": s.last_used_at,
              "ip": s.ip, "user_agent": s.user_agent, "current": s.id == current_session}
             for s in sessions.listed(account.id)]
    return jsonify({"sessions": SESSIONS.dump(found)})


@bp.delete("/sessions/<session_id>")
@answers(EmptySchema, errors=(404, 503))
@login_required
@path(SessionPathSchema)
def end_session(account, session_id):
    """End one session: its refresh tokens die and its access tokens stop at once.
    Another account's session, or one already ended, is 404."""
    if not sessions.end(account.id, session_id):
        raise APIError(404, "not_found", "Not found.")
    return jsonify({})


@bp.delete("/sessions")
@answers(EmptySchema, errors=(503,))
@login_required
def end_other_sessions(account, current_session):
    """End every session but the current one (with HTTP Basic, every session)."""
    sessions.end_others(account.id, current_session)
    return jsonify({})


@bp.get("/events")
@answers(EventsSchema, errors=(503,))
@login_required
@query(EventsQuerySchema)
def list_events(account, before):
    """The account's security log, newest first, 50 a page; ``?before=<id>`` pages back."""
    found, more = events.page(account.id, before)
    return jsonify({"events": EVENTS.dump(found), "more": more})


@bp.post("/2fa/totp")
@answers(TotpSecretSchema, errors=(503,), no_store=True)
@login_required  # outermost: HTTP Basic's own guesses are counted by its own guard
@password_guesses
@body(PasswordSchema)
def totp_begin(body, account, guard):
    """A new TOTP secret (and its `otpauth://` URI), with the password; not in force until
    confirmed."""
    secret, uri = twofactor.begin(account.id, body["password"], guard)
    return no_store(jsonify({"secret": secret, "otpauth_uri": uri}))


@bp.post("/2fa/totp/confirm")
@answers(RecoveryCodesSchema, errors=(503,), no_store=True)
@login_required
@body(TotpCodeSchema)
def totp_confirm(body, account):
    """Turn two-factor on with a code of the new secret: 10 recovery codes, shown once."""
    return no_store(jsonify({"recovery_codes": twofactor.confirm(account.id, body["code"])}))


@bp.post("/2fa/recovery-codes")
@answers(RecoveryCodesSchema, errors=(503,), no_store=True)
@login_required
@password_guesses
@body(PasswordAndCodeSchema)
def recovery_codes(body, account, guard):
    """New recovery codes (the old ones die), with the password and a code."""
    codes = twofactor.renew(account.id, body["password"], body["code"], guard)
    return no_store(jsonify({"recovery_codes": codes}))


@bp.delete("/2fa")
@answers(EmptySchema, errors=(503,))
@login_required
@password_guesses
@body(PasswordAndCodeSchema)
def two_factor_off(body, account, guard):
    """Turn two-factor off, with the password and a code (TOTP or recovery)."""
    twofactor.disable(account.id, body["password"], body["code"], guard)
    return jsonify({})


@bp.post("/login/2fa")
@answers(LoginAnswerSchema, errors=(401, 429, 503), no_store=True, parameters=(COOKIE_MODE, DEVICE_COOKIE))
@login_event
@password_guesses  # a wrong code is a failed password attempt
@body(MfaLoginSchema)
def login_second_factor(body, guard):
    """The second step of a login with two-factor on: the `mfa_token` and a TOTP or
    recovery code for the login answer."""
    cookies = wants_cookies(body)
    return login_response(mfa.complete(body["mfa_token"], body["code"], guard), cookies)
