"""The accounts endpoints (mounted under ``/users``): a schema parses the body and the
path (:mod:`luffy.markers`), a service does the work, the answer is shaped; the markers
also make each endpoint's OpenAPI entry."""

from flask import jsonify

from luffy.accounts import bp
from luffy.accounts.schemas import (
    CodeSentSchema, EmailCodeRequestSchema, EmailConfirmSchema, MobilePathSchema,
    MobileStateSchema, PasswordResetSchema, RegisterSchema, SmsCodeRequestSchema, SmsLoginSchema,
)
from luffy.core import accounts, authentication, confirmation, messages, recovery, registration
from luffy.core.guard import login_required
from luffy.core.responses import login_response, no_store, wants_cookies
from luffy.core.schemas import LOGIN_OR_MFA, EmptySchema, LoginAnswerSchema, UserSchema
from luffy.core.throttle import client_address, password_guesses, rate_limited
from luffy.markers import COOKIE_MODE, DEVICE_COOKIE, answers, body, path

USER = UserSchema()


def _code_sent(resend_after):
    return jsonify({"resend_after": resend_after}), 202


@bp.get("/mobile/<mobile>")
@answers(MobileStateSchema, errors=(503,))
@rate_limited("LOOKUP_RATE_LIMIT")
@path(MobilePathSchema)
def mobile_state(mobile):
    """Whether a mobile number is registered (limited by ``LOOKUP_RATE_LIMIT``)."""
    return jsonify({"mobile": mobile, "registered": accounts.mobile_registered(mobile)})


@bp.post("/sms/<mobile>")
@answers(CodeSentSchema, 202, errors=(429, 503))
@path(MobilePathSchema)
@body(SmsCodeRequestSchema)
def sms_code(mobile, body):
    """Send a code by SMS (``register`` by default, ``login``, ``reset``): 202 whether or not
    an account has the number."""
    return _code_sent(messages.send_sms_code(mobile, body["purpose"], client_address()))


@bp.post("/login/sms")
@answers(LOGIN_OR_MFA, errors=(401, 503), no_store=True, parameters=(COOKIE_MODE, DEVICE_COOKIE))
@body(SmsLoginSchema)
def sms_login(body):
    """Log in with a mobile number and its SMS code (no password): the login answer."""
    cookies = wants_cookies(body)
    return login_response(authentication.sms_login(body["mobile"], body["sms_code"]), cookies)


@bp.post("/register")
@answers(LoginAnswerSchema, 201, errors=(503,), no_store=True, parameters=(COOKIE_MODE, DEVICE_COOKIE))
@body(RegisterSchema)
def register(body):
    """Sign up with a mobile number and its SMS code: 201 and the login answer."""
    cookies = wants_cookies(body)
    return login_response(registration.register(body), cookies, status=201)


@login_required  # outermost: HTTP Basic's own guesses are counted by its own guard
@password_guesses  # this guard counts the body's password
def _confirmation_code(body, account, guard):
    return confirmation.send_code(account.id, body["email"], body["password"], client_address(),
                                  guard)


@bp.post("/email/code")
@answers(CodeSentSchema, 202, errors=(401, 429, 503), optional_login=True)
@body(EmailCodeRequestSchema)
def email_code(body):
    """Send a code by email: ``confirm`` (needs an access token and the account's
    ``password``) or ``reset``; 202 whether or not a message goes out."""
    if body["purpose"] == "confirm":
        return _code_sent(_confirmation_code(body))
    return _code_sent(messages.send_email_code(body["email"], "reset", client_address()))


@bp.post("/email/confirm")
@answers(UserSchema, errors=(401, 503))
@login_required
@body(EmailConfirmSchema)
def email_confirm(body, account):
    """Set and confirm the account's email with its code: the profile (a confirmed address
    it replaces is told)."""
    return jsonify(USER.dump(confirmation.confirm_email(account.id, body["email"], body["code"])))


@bp.post("/password/reset")
@answers(EmptySchema, errors=(503,), no_store=True)
@body(PasswordResetSchema)
def password_reset(body):
    """Set a new password with a reset code; every session of the account ends."""
    recovery.reset_password(body["username"], body["code"], body["new_password"])
    return no_store(jsonify({}))
