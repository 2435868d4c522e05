"""Password reset with a code sent to the account's mobile or confirmed email.

A wrong code and an unknown account are the same 400 on ``code``, and the account is
looked up only once the code matched, so timing tells nothing either.
"""

from luffy.core import accounts, codes, events
from luffy.core.models import User
from luffy.core.strength import password_problems
from luffy.errors import APIError
from luffy.extensions import db


def reset_password(identifier, code, new_password):
    """Set a new password with a reset code sent to the mobile or email ``identifier``;
    every session of the account ends."""
    by_email = "@" in identifier
    destination = codes.email(identifier) if by_email else codes.sms(identifier)
    errors = {}
    problems = password_problems(new_password, identifier)
    if problems:
        errors["new_password"] = problems
    claim = codes.check(destination, "reset", code)
    if claim is None:
        errors["code"] = [codes.WRONG_CODE]
    if errors:
        raise APIError.invalid(errors)
    where = (User.email == identifier.lower(), User.email_verified.is_(True)) if by_email \
        else (User.mobile == identifier,)
    user = db.session.scalar(User.active().where(*where))
    if user is None:
        raise APIError.invalid({"code": [codes.WRONG_CODE]})
    accounts.refuse_weak(user, new_password, "new_password")
    if not codes.consume(claim):
        raise APIError.invalid({"code": [codes.WRONG_CODE]})
    events.record(user.id, "password_reset")
    accounts.set_password(user, new_password)
