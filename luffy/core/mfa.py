"""The second step of a login, for an account with two-factor on.

A password or SMS login of such an account opens no session: it answers a
:class:`Challenge`, whose ``mfa_token`` (random, kept in the main Redis by its hash for
``MFA_TOKEN_EXPIRES`` seconds) serves only :func:`complete`. There a TOTP or recovery
code (:func:`luffy.core.twofactor.take_code`) opens the session; a wrong one is a failed
password attempt for the throttle and a ``login_failed`` event, and the fifth kills the
token. The token holds the account's token version: when every session of the account
ends (a new password, a deactivation), the second steps waiting die too.
"""

import hashlib
import secrets
from dataclasses import dataclass

from flask import current_app

from luffy import logs
from luffy.core import devices, events, sessions, twofactor
from luffy.core.models import User
from luffy.core.throttle import account_key
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import db, redis_clients

MAX_TRIES = 5
METHODS = ("totp", "recovery_code")
# One more wrong try on a live token; -1 when it is gone (never a token without its expiry).
WRONG_TRY = """
if redis.call('exists', KEYS[1]) == 0 then return -1 end
return redis.call('hincrby', KEYS[1], 'tries', 1)
"""


@dataclass(frozen=True, slots=True)
class Challenge:
    """The answer of a first factor when a second one is needed."""

    mfa_token: str
    methods: tuple = METHODS


def _key(token):
    return "luffy:mfa:" + hashlib.sha256(token.encode()).hexdigest()


def challenge(user):
    """A new ``mfa_token`` for the account ``user``, whose first factor just passed."""
    token = secrets.token_urlsafe(32)
    pipe = redis_clients.main.pipeline()  # MULTI: never a token without its expiry
    pipe.hset(_key(token), mapping={"user": user.id, "ver": user.token_version, "tries": 0})
    pipe.expire(_key(token), current_app.config["MFA_TOKEN_EXPIRES"])
    pipe.execute()
    logs.second_step()
    return Challenge(token)


def complete(token, code, guard):
    """The login answer for a live ``mfa_token`` and a good ``code`` (``guard`` may refuse
    the try first: 429); 401 ``token_not_valid`` for a token that is not one, expired or
    used up; 400 naming ``code`` for a wrong code."""
    key = _key(token)
    user_id, version = redis_clients.main.hmget(key, "user", "ver")
    user = db.session.scalar(User.active().where(User.id == int(user_id))) if user_id else None
    if user is None or not user.two_factor or user.token_version != int(version):
        raise APIError.token_not_valid()
    account = account_key(user)
    guard.admit(account)
    if twofactor.take_code(user, code) is None:
        if redis_clients.main.eval(WRONG_TRY, 1, key) >= MAX_TRIES:
            redis_clients.main.delete(key)
        events.record(user.id, "login_failed", method="2fa")
        db.session.commit()
        raise PasswordRejected(account, APIError.invalid({"code": [twofactor.WRONG_CODE]}))
    if not redis_clients.main.delete(key):  # a concurrent request used the token first
        db.session.rollback()
        raise APIError.token_not_valid()
    events.record(user.id, "login", method="2fa")
    device = devices.seen(user)
    return devices.told(user, device, sessions.login(user))
