"""The accounts endpoints (mounted under ``/users``): parse, call a service, answer."""

from flask import jsonify
from marshmallow import ValidationError

from luffy.accounts import bp
from luffy.accounts.schemas import (
    EmailCodeRequestSchema, EmailConfirmSchema, PasswordResetSchema, RegisterSchema,
    SmsCodeRequestSchema, SmsLoginSchema,
)
from luffy.bodies import load_body
from luffy.core import accounts, authentication, confirmation, messages, recovery, registration
from luffy.core.guard import login_required
from luffy.core.responses import login_response, no_store, wants_cookies
from luffy.core.schemas import NOT_A_MOBILE, UserSchema, check_mobile
from luffy.core.throttle import client_address, password_guesses, rate_limited
from luffy.errors import APIError

SMS_CODE, SMS_LOGIN, REGISTER = SmsCodeRequestSchema(), SmsLoginSchema(), RegisterSchema()
EMAIL_CODE, EMAIL_CONFIRM, RESET = EmailCodeRequestSchema(), EmailConfirmSchema(), PasswordResetSchema()
USER = UserSchema()


def _mobile(value):
    """``value`` if it is a valid mobile number, else 400 ``invalid`` on ``mobile``."""
    try:
        check_mobile(value)
    except ValidationError:
        raise APIError.invalid({"mobile": [NOT_A_MOBILE]}) from None
    return value


def _code_sent(resend_after):
    return jsonify({"resend_after": resend_after}), 202


@bp.get("/mobile/<mobile>")
@rate_limited("LOOKUP_RATE_LIMIT")
def mobile_state(mobile):
    """Whether a mobile number is registered (the sign-up form asks while it is typed)."""
    mobile = _mobile(mobile)
    return jsonify({"mobile": mobile, "registered": accounts.mobile_registered(mobile)})


@bp.post("/sms/<mobile>")
def sms_code(mobile):
    """Send a code by SMS for sign-up, login or reset; 202 whether or not it goes out."""
    mobile = _mobile(mobile)
    purpose = load_body(SMS_CODE)["purpose"]
    return _code_sent(messages.send_sms_code(mobile, purpose, client_address()))


@bp.post("/login/sms")
def sms_login():
    """Log in with a mobile number and its SMS code: the login answer."""
    body = load_body(SMS_LOGIN)
    cookies = wants_cookies(body)
    return login_response(authentication.sms_login(body["mobile"], body["sms_code"]), cookies)


@bp.post("/register")
def register():
    """Sign up with a mobile number and its SMS code: 201 and the login answer."""
    body = load_body(REGISTER)
    cookies = wants_cookies(body)
    return login_response(registration.register(body), cookies, status=201)


@login_required  # outermost: HTTP Basic's own guesses are counted by its own guard
@password_guesses  # this guard counts the body's password
def _confirmation_code(body, account, guard):
    return confirmation.send_code(account.id, body["email"], body["password"], client_address(),
                                  guard)


@bp.post("/email/code")
def email_code():
    """Send a code by email: ``confirm`` (signed in, with the password) or ``reset``."""
    body = load_body(EMAIL_CODE)
    if body["purpose"] == "confirm":
        return _code_sent(_confirmation_code(body))
    return _code_sent(messages.send_email_code(body["email"], "reset", client_address()))


@bp.post("/email/confirm")
@login_required
def email_confirm(account):
    """Set and confirm the account's email with the code sent there: the profile."""
    body = load_body(EMAIL_CONFIRM)
    return jsonify(USER.dump(confirmation.confirm_email(account.id, body["email"], body["code"])))


@bp.post("/password/reset")
def password_reset():
    """Set a new password with a reset code; every session of the account ends."""
    body = load_body(RESET)
    recovery.reset_password(body["username"], body["code"], body["new_password"])
    return no_store(jsonify({}))
