"""The accounts logic: send codes, sign up, SMS login, confirm an email, reset a
password. Raises APIError.

Nothing here tells whether an account exists (except :func:`mobile_registered`, which
the sign-up form needs): a code request does the same work whether or not a message
goes out (it throttles, issues a code and enqueues one sealed message, without looking
an account up: the worker decides whether the message goes out, see
luffy/accounts/messages.py), and a code that does not match fails alike whether or not
there is an account, without looking the account up.
"""

import logging

from flask import current_app
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from luffy.accounts import codes, messages, tasks
from luffy.accounts.strength import password_problems
from luffy.auth import services as auth_services
from luffy.auth.models import User
from luffy.auth.throttle import account_key
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import db
from luffy.logs import masked

log = logging.getLogger(__name__)

WRONG_CODE = "Wrong or expired code."
REGISTERED = "This mobile number is already registered."
TAKEN = "Another account uses this as an identifier."
SMS_TEXT = {
    "register": "Your luffy sign-up code is {code}. It expires in {minutes} minutes.",
    "login": "Your luffy login code is {code}. It expires in {minutes} minutes.",
    "reset": "Your luffy password reset code is {code}. It expires in {minutes} minutes. "
             "If you did not ask for it, ignore this message.",
}
EMAIL_SUBJECT = {"confirm": "Confirm your email for luffy", "reset": "Reset your luffy password"}
EMAIL_TEXT = {
    "confirm": "Your luffy email confirmation code is {code}. It expires in {minutes} minutes.",
    "reset": SMS_TEXT["reset"],
}
# Who may receive a code (luffy/accounts/messages.py decides, in the worker).
SMS_ONLY_TO = {"register": "newcomer", "login": "account", "reset": "account"}
EMAIL_CHANGED_SUBJECT = "Your luffy email was changed"
EMAIL_CHANGED_TEXT = ("The email of your luffy account was changed to {email}. If you did not "
                      "change it, reset your password and contact us.")
WRONG_PASSWORD = "Wrong password."


def mobile_registered(mobile):
    """Whether sign-up with ``mobile`` would be refused as registered."""
    return bool(auth_services.identifier_taken(mobile=mobile))


def _active(*where):
    return db.session.scalar(select(User).where(*where, User.is_active.is_(True)))


def _enqueue(task, message, expires=None):
    """Hand ``message`` sealed to the task queue (or, with no broker, send it now)."""
    celery = current_app.extensions["celery"]
    try:
        celery.tasks[task.name].apply_async(
            (messages.seal(message),), expires=expires,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2})
    except BrokerError as e:
        log.error("task queue unavailable: %s", e.__class__.__name__)
        raise APIError.service_unavailable("task queue") from None


def _send_code(task, destination, purpose, address, message):
    """Throttle, issue a code and enqueue ``message`` with it: the same work for every
    destination (``message["text"]`` holds ``{code}`` and ``{minutes}``)."""
    codes.reserve_send(destination, address)
    code = codes.issue(destination, purpose)
    ttl = current_app.config["CODE_TTL"]
    message["text"] = message["text"].format(code=code, minutes=max(1, ttl // 60))
    _enqueue(task, message, expires=ttl)  # a dead code is not worth sending
    return current_app.config["CODE_RESEND_INTERVAL"]


def send_sms_code(mobile, purpose, address):
    """Send a code by SMS; it goes out only where ``SMS_ONLY_TO`` says (the worker decides)."""
    return _send_code(tasks.send_sms, codes.sms(mobile), purpose, address, {
        "to": mobile, "text": SMS_TEXT[purpose], "only_to": SMS_ONLY_TO[purpose]})


def send_email_code(email, purpose, address, user=None):
    """Send a code by email: to confirm ``user``'s new address, or to reset a password.

    A reset code goes only to an active account's confirmed address; a confirmation
    code only to an address no other account uses (the worker decides).
    """
    email = email.lower()
    message = {"to": email, "subject": EMAIL_SUBJECT[purpose], "text": EMAIL_TEXT[purpose]}
    if purpose == "confirm":
        bound = f"confirm:{user.id}"  # only this account can use the code
        message.update(only_to="free", user=user.id)
    else:
        bound = "reset"
        message.update(only_to="account")
    return _send_code(tasks.send_email, codes.email(email), bound, address, message)


def send_confirmation_code(user, email, password, address, guard):
    """Send a code to confirm ``email`` as ``user``'s, if ``password`` is the account's.

    A wrong password is a failed password attempt (``guard`` may refuse the try: 429),
    so a token alone cannot put a new email on an account.
    """
    account = account_key(user)
    guard.admit(account)
    if not user.check_password(password)[0]:
        raise PasswordRejected(account, APIError.invalid({"password": [WRONG_PASSWORD]}))
    return send_email_code(email, "confirm", address, user)


def sms_login(mobile, code):
    """The active account of ``mobile`` if ``code`` is its live login code; else 401."""
    claim = codes.check(codes.sms(mobile), "login", code)
    user = _active(User.mobile == mobile) if claim else None
    if user is None or not codes.consume(claim):
        raise APIError.authentication_failed()
    return user


def register(data):
    """Create the account of a sign-up form with its live code; refused fields are named at once.

    The code is checked first: a wrong or expired one is the only error answered (and
    counts as a try on the code), so only the holder of a live code for the mobile
    learns whether a username or email is taken. A form refused with a right code
    does not spend it.
    """
    mobile, password = data["mobile"], data["password"]
    claim = codes.check(codes.sms(mobile), "register", data["sms_code"])
    if claim is None:
        raise APIError.invalid({"sms_code": [WRONG_CODE]})
    username = data["username"] or mobile
    errors = {}
    if mobile_registered(mobile):
        errors["mobile"] = [REGISTERED]
    if username != mobile and auth_services.identifier_taken(username=username):
        errors["username"] = [TAKEN]
    if data["email"] and auth_services.identifier_taken(email=data["email"]):
        errors["email"] = [TAKEN]
    if password != data["re_password"]:
        errors["re_password"] = ["The two passwords differ."]
    problems = password_problems(password, username, mobile, data["email"], data["nickname"])
    if problems:
        errors["password"] = problems
    if errors:
        raise APIError.invalid(errors)
    if not codes.consume(claim):  # a concurrent sign-up used it first
        raise APIError.invalid({"sms_code": [WRONG_CODE]})
    try:
        return auth_services.create_user(username, password, email=data["email"], mobile=mobile,
                                         nickname=data["nickname"])
    except IntegrityError:  # an account with one of these identifiers was committed meanwhile
        db.session.rollback()
        raise APIError.invalid({"mobile": [REGISTERED]}) from None


def confirm_email(user, email, code):
    """Set ``user``'s email to ``email``, confirmed, if ``code`` was sent there for it;
    the confirmed address it replaces is told."""
    email = email.lower()
    claim = codes.check(codes.email(email), f"confirm:{user.id}", code)
    if claim is None:
        raise APIError.invalid({"code": [WRONG_CODE]})
    if auth_services.identifier_taken(email=email, exclude_id=user.id):
        raise APIError.invalid({"email": [TAKEN]})
    if not codes.consume(claim):
        raise APIError.invalid({"code": [WRONG_CODE]})
    if user.email_verified and user.email and user.email != email:
        # Told before the change is saved: no confirmed address is replaced unannounced.
        _enqueue(tasks.send_email, {"to": user.email, "subject": EMAIL_CHANGED_SUBJECT,
                                    "text": EMAIL_CHANGED_TEXT.format(email=masked(email))})
    user.email, user.email_verified = email, True
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise APIError.invalid({"email": [TAKEN]}) from None
    return user


def reset_password(identifier, code, new_password):
    """Set a new password with a reset code sent to the mobile or email ``identifier``.

    A wrong code and an unknown account are the same 400 on ``code``, and the account
    is looked up only once the code matched, so timing tells nothing either.
    """
    by_email = "@" in identifier
    destination = codes.email(identifier) if by_email else codes.sms(identifier)
    errors = {}
    problems = password_problems(new_password, identifier)
    if problems:
        errors["new_password"] = problems
    claim = codes.check(destination, "reset", code)
    if claim is None:
        errors["code"] = [WRONG_CODE]
    if errors:
        raise APIError.invalid(errors)
    where = (User.email == identifier.lower(), User.email_verified.is_(True)) if by_email \
        else (User.mobile == identifier,)
    user = _active(*where)
    if user is None:
        raise APIError.invalid({"code": [WRONG_CODE]})
    problems = password_problems(new_password, user.username, user.email, user.mobile, user.nickname)
    if problems:
        raise APIError.invalid({"new_password": problems})
    if not codes.consume(claim):
        raise APIError.invalid({"code": [WRONG_CODE]})
    user.set_password(new_password)
    auth_services.end_sessions(user)  # commits the new password too
