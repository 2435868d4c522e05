"""Sessions: a login's tokens, their refresh, logout, and the end of one session, of
the others or of every session.

A session is one login and every token refreshed from it: a
:class:`~luffy.core.models.Session` row whose id is the ``family`` of its refresh tokens
and the ``sid`` of its access tokens. :func:`start` opens one in the caller's
transaction; every other verb here is a whole service call that commits once. Tokens
arrive already checked (:func:`luffy.core.tokens.check`).
"""

import logging
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import exists, select, update

from luffy import speed
from luffy.core import events, revocation, tokens
from luffy.core.models import RefreshToken, Session, utcnow
from luffy.extensions import db, redis_clients

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    """The login answer: an access token (``token``), a refresh token and the cart size;
    ``device``, the device cookie's value (:mod:`luffy.core.devices`)."""

    token: str
    refresh: str
    cart_total: int | None
    device: str | None = None


def _opened(user):
    """A new session's tokens and rows: ``(access, refresh, token_row, session_row)``."""
    refresh, record = tokens.new_refresh(user.id)
    sid, now = record["family"], record["created_at"]
    session = {"id": sid, "account_id": user.id, "created_at": now, "last_used_at": now,
               **tokens.client_seen()}
    return tokens.issue_access(user, sid), refresh, record, session


def start(user):
    """Open a session for the authenticated ``user`` in the caller's transaction: its
    row, its last login and the new refresh token's record, written when the caller
    commits; returns ``(access, refresh)``."""
    access, refresh, record, session = _opened(user)
    user.last_login = record["created_at"]
    db.session.add(Session(**session))
    db.session.add(RefreshToken(**record))
    return access, refresh


def answer(user_id, access, refresh):
    """The :class:`LoginAnswer` of a committed login."""
    return LoginAnswer(access, refresh, cart_total(user_id))


def login(user):
    """Open a session for the authenticated ``user`` and commit: the login answer. Its
    row, last login and the refresh token's record are one write
    (:func:`luffy.speed.record_login`)."""
    access, refresh, record, session = _opened(user)
    speed.record_login(user, record, session)
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
    answer = {"access": tokens.issue_access(token.account, token.stored.family)}
    touched = _touch(token.stored)
    if not rotate:
        # A write of the check (an old backend's token adopted: tokens._adopt) or the touch.
        if token.legacy or touched:
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


def _touch(stored):
    """Write the session's ``last_used_at``, address and user agent if the last write is
    ``SESSION_TOUCH_INTERVAL`` old (into the caller's transaction); whether it wrote."""
    now = utcnow()
    if now - stored.last_used_at < current_app.config["SESSION_TOUCH_INTERVAL"]:
        return False
    db.session.execute(update(Session).where(Session.id == stored.family)
                       .values(last_used_at=now, **tokens.client_seen()))
    return True


def logout(raw, csrf=None, access=None):
    """End the session of the refresh token ``raw`` (its access tokens stop at once); a
    checked ``access`` token sent along (of the same account) goes on the denylist."""
    token = tokens.check(raw, "refresh", csrf=csrf, lock=True)
    revocation.end_session(token.stored.family)
    events.record(token.user_id, "logout")
    db.session.commit()
    revocation.deny_session(token.stored.family)
    if access is not None and access.user_id == token.user_id:
        revocation.deny(access)


def _live(account_id):
    """The live sessions of ``account_id``: not ended, with a refresh token alive."""
    alive = exists().where(RefreshToken.family == Session.id, RefreshToken.revoked_at.is_(None),
                           RefreshToken.expires_at > utcnow())
    return select(Session).where(Session.account_id == account_id, Session.ended_at.is_(None),
                                 alive)


def listed(account_id):
    """The live sessions of ``account_id``, newest first."""
    return db.session.scalars(_live(account_id).order_by(Session.created_at.desc(),
                                                         Session.id)).all()


def end(account_id, sid):
    """End the live session ``sid`` of ``account_id``: its refresh tokens die and its
    access tokens stop at once. Whether there was one (another account's is not)."""
    tokens.lock_account(account_id)
    if db.session.scalar(_live(account_id).where(Session.id == sid)) is None:
        db.session.rollback()
        return False
    revocation.end_session(sid)
    events.record(account_id, "session_ended")
    db.session.commit()
    revocation.deny_session(sid)
    return True


def end_others(account_id, current):
    """End every live session of ``account_id`` but ``current`` (None: every one)."""
    tokens.lock_account(account_id)
    ended = [s.id for s in db.session.scalars(_live(account_id)) if s.id != current]
    for sid in ended:
        revocation.end_session(sid)
    if ended:
        events.record(account_id, "session_ended")
    db.session.commit()
    for sid in ended:
        revocation.deny_session(sid)


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
