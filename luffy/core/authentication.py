"""Authentication: who a password, an SMS code or HTTP Basic credentials open.

Every failure gives the same answer whether or not the account exists, and costs the
same: a password is checked against a dummy hash for an unknown account, and an SMS
code's account is looked up only once the code matched.
"""

import logging

from luffy import logs, speed
from luffy.core import codes, devices, events, mfa, passwords, sessions
from luffy.core.models import User
from luffy.core.throttle import account_key
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import db

log = logging.getLogger(__name__)


def authenticate(identifier, password, guard):
    """The active account that ``identifier`` names and ``password`` opens.

    ``guard`` (:class:`luffy.core.throttle.PasswordGuard`) may refuse the attempt (429)
    before the password is checked; a refused password raises
    :class:`~luffy.errors.PasswordRejected`. Every failure costs one argon2id check and
    gives the same answer, so neither the words nor the timing tell an unknown account
    from a wrong password. A password hash older than today's is replaced in the
    request's transaction (the caller commits).
    """
    # No identifier holds a NUL, and PostgreSQL refuses one even in a query.
    users = [] if "\x00" in identifier else db.session.scalars(User.identified_by(identifier)).all()
    users = [user for user in users if user.identified_as(identifier)]
    if len(users) > 1:
        log.error("login identifier matches %d accounts", len(users))
    user = users[0] if len(users) == 1 else None
    account = account_key(user, identifier)
    guard.admit(account)
    if user is None:
        passwords.burn_time(password)
        raise PasswordRejected.login(account)
    logs.identify(user.id)
    ok, outdated = user.check_password(password)
    if not ok:
        # The owner reads of it in the security log: committed although the request fails.
        events.record(user.id, "login_failed", method="password")
        db.session.commit()
    if not ok or not user.is_active:
        raise PasswordRejected.login(account)
    if outdated:  # only now, so that a refused inactive account costs no extra hash
        user.set_password(password)
    return user


def login(identifier, password, guard):
    """Log in with a password: the login answer, or, for an account with two-factor on,
    the challenge of the second step (:mod:`luffy.core.mfa`). Its reads and writes are
    each atomic alone: on PostgreSQL they run in autocommit
    (:func:`luffy.speed.autocommit_session`)."""
    speed.autocommit_session()
    user = authenticate(identifier, password, guard)
    return _second_factor(user) if user.two_factor else _logged_in(user, "password")


def _logged_in(user, method):
    device = devices.seen(user)  # read before the event is pending: it goes in the login's write
    events.record(user.id, "login", method=method)
    return devices.told(user, device, sessions.login(user))


def _second_factor(user):
    """No session yet for an account with two-factor on: the challenge of its second step
    (a re-hashed password is kept)."""
    db.session.commit()
    return mfa.challenge(user)


def basic(identifier, password, guard):
    """The account that HTTP Basic credentials open; a re-hashed password is kept. An
    account with two-factor on is refused: Basic has no second step."""
    user = authenticate(identifier, password, guard)
    db.session.commit()
    if user.two_factor:
        raise APIError.authentication_failed()
    return user


def sms_login(mobile, code):
    """Log in with a mobile number and its live login code: the login answer (or, with
    two-factor on, the second step's challenge); else 401."""
    speed.autocommit_session()  # reads and writes each atomic alone, as a password login
    claim = codes.check(codes.sms(mobile), "login", code)
    user = db.session.scalar(User.active().where(User.mobile == mobile)) if claim else None
    if user is None or not codes.consume(claim):
        raise APIError.authentication_failed()
    return _second_factor(user) if user.two_factor else _logged_in(user, "sms")
