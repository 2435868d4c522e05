"""Email confirmation: a code sent to the new address, the account's password to ask
for it, and a notice to the confirmed address it replaces.

A token alone cannot put a new email on an account (which a reset could then use):
asking for a confirmation code takes the account's password too, and a wrong one is a
failed password attempt for the throttle.
"""

from sqlalchemy.exc import IntegrityError

from luffy.core import accounts, codes, events, messages
from luffy.errors import APIError
from luffy.extensions import db


def send_code(user_id, email, password, address, guard):
    """Send a code to confirm ``email`` as account ``user_id``'s, if ``password`` is the
    account's (``guard`` may refuse the try: 429)."""
    accounts.verify_password(accounts.load(user_id), password, guard)
    return messages.send_email_code(email, "confirm", address, user_id)


def confirm_email(user_id, email, code):
    """Set the account's email to ``email``, confirmed, if ``code`` was sent there for
    it; the confirmed address it replaces is told. The account."""
    user = accounts.load(user_id)
    email = email.lower()
    claim = codes.check(codes.email(email), f"confirm:{user.id}", code)
    if claim is None:
        raise APIError.invalid({"code": [codes.WRONG_CODE]})
    if accounts.identifier_taken(email=email, exclude_id=user.id):
        raise APIError.invalid({"email": [accounts.TAKEN]})
    if not codes.consume(claim):
        raise APIError.invalid({"code": [codes.WRONG_CODE]})
    if user.email_verified and user.email and user.email != email:
        # Told before the change is saved: no confirmed address is replaced unannounced.
        messages.tell_email_changed(user.email, email)
    events.record(user.id, "email_changed" if user.email and user.email != email else "email_confirmed")
    user.email, user.email_verified = email, True
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise APIError.invalid({"email": [accounts.TAKEN]}) from None
    return user
