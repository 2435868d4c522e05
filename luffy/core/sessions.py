"""Sessions: a login's tokens, their refresh, logout, and the end of every session.

A session is one login and every token refreshed from it: its refresh tokens share a
``family``. :func:`start` opens one in the caller's transaction; every other verb here
is a whole service call that commits once. Tokens arrive already checked
(:func:`luffy.core.tokens.check`).
"""

import logging
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import update

from luffy import speed
from luffy.core import events, revocation, tokens
from luffy.core.models import RefreshToken, utcnow
from luffy.extensions import db, redis_clients

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    """The login answer: an access token (``token``), a refresh token and the cart size."""

    token: str
    refresh: str
    cart_total: int | None


def start(user):
    """Open a session for the authenticated ``user`` in the caller's transaction: its
    last login and the new refresh token's record, written when the caller commits;
    returns ``(access, refresh)``."""
    user.last_login = utcnow()
    return tokens.issue_access(user), tokens.issue_refresh(user.id)


def answer(user_id, access, refresh):
    """The :class:`LoginAnswer` of a committed login."""
    return LoginAnswer(access, refresh, cart_total(user_id))


def login(user):
    """Open a session for the authenticated ``user`` and commit: the login answer. Its
    last login and the refresh token's record are one write (:func:`luffy.speed.record_login`)."""
    access = tokens.issue_access(user)
    refresh, record = tokens.new_refresh(user.id)
    speed.record_login(user, record)
    db.session.commit()
    return answer(user.id, access, refresh)


def cart_total(user_id):
    """``HLEN cart_<id>``; ``None`` when the cart store is down, which no login fails for."""
    try:
        return redis_clients.cart.hlen(f"cart_{user_id}")
    except redis.RedisError as e:
        log.warning("cart store unavailable, cart_total is null: %s", e.__class__.__name__)
        return None


def refresh(raw, csrf=None):
    """A new access token for the refresh token ``raw`` (and with rotation a new refresh
    token): ``{"access"[, "refresh"]}``."""
    rotate = current_app.config["JWT_ROTATE_REFRESH_TOKENS"]
    token = tokens.check(raw, "refresh", csrf=csrf, lock=rotate)
    answer = {"access": tokens.issue_access(token.account)}
    if not rotate:
        if token.legacy:  # its first use made it a session (tokens._adopt): keep that
            db.session.commit()
        return answer
    if current_app.config["JWT_BLACKLIST_AFTER_ROTATION"]:
        # Single use, atomically: of N concurrent refreshes one UPDATE matches the row.
        claimed = db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.stored.id, RefreshToken.used_at.is_(None),
                   RefreshToken.revoked_at.is_(None))
            .values(used_at=utcnow())
        ).rowcount
        if claimed != 1:
            tokens.reuse_detected(token.user_id, token.stored.family)
    answer["refresh"] = tokens.issue_refresh(token.user_id, family=token.stored.family)
    db.session.commit()
    return answer


def logout(raw, csrf=None, access=None):
    """End the session of the refresh token ``raw``; a checked ``access`` token sent
    along (of the same account) goes on the denylist."""
    token = tokens.check(raw, "refresh", csrf=csrf, lock=True)
    revocation.revoke_family(token.stored.family)
    events.record(token.user_id, "logout")
    db.session.commit()
    if access is not None and access.user_id == token.user_id:
        revocation.deny(access)


def end_all(user):
    """Every refresh token of ``user`` dies and every access token issued so far stops;
    commits the caller's pending changes to ``user`` (a new password) with it."""
    user.token_version = tokens.lock_account(user.id) + 1  # read afresh under the lock
    revocation.revoke_all(user.id)
    db.session.commit()
    revocation.publish_version(user.id, user.token_version)


def flush_expired():
    """Delete refresh-token rows past their expiry; returns how many."""
    result = db.session.execute(
        RefreshToken.__table__.delete().where(RefreshToken.expires_at < utcnow()))
    db.session.commit()
    return result.rowcount
