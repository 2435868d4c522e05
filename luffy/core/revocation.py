"""How tokens die before they expire, and how the check learns it.

- A refresh token dies in the database: its record, or its whole family (one login and
  everything refreshed from it), is marked revoked.
- A session (:class:`~luffy.core.models.Session`) ends with its family: its row is
  marked ended in the same transaction.
- An access token lives five minutes and is checked without the database: logout puts
  its ``jti`` on a denylist in Redis, ending a session puts the session's id (the
  ``sid`` its access tokens carry) there, and ending every session of an account
  publishes the account's new token version there (access tokens carry the version they
  were issued under, ``ver``). Each entry expires when the tokens it kills would have.
  ``/users/me`` and the other protected endpoints check the version in the database
  too, so Redis being down lets an access token through only on verify.
"""

import logging
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import update

from luffy.core.models import RefreshToken, Session, utcnow
from luffy.extensions import db, redis_clients

log = logging.getLogger(__name__)


def denied_key(jti):
    """Redis key of a logged-out access token."""
    return f"luffy:deny:{jti}"


def session_key(sid):
    """Redis key of an ended session, whose access tokens die at once."""
    return f"luffy:sid:{sid}"


def version_key(user_id):
    """Redis key of an account's token version, written when its sessions end."""
    return f"luffy:ver:{user_id}"


def access_revoked(token):
    """Whether the denylist (the token, or its session) or a newer token version kills
    the access ``token``.

    One Redis round trip. When Redis cannot be read the token passes: its short life
    bounds the risk, and the protected endpoints still check the version in the database.
    """
    keys = (denied_key(token.jti), version_key(token.user_id), session_key(token.sid)) \
        if token.sid else (denied_key(token.jti), version_key(token.user_id))
    try:
        denied, version, *ended = redis_clients.main.mget(keys)
    except redis.RedisError as e:
        log.warning("access-token denylist unreadable, token let through: %s", e.__class__.__name__)
        return False
    return (denied is not None or (version is not None and token.version < int(version))
            or (ended and ended[0] is not None))


def deny(token):
    """Put the access ``token`` on the denylist until it expires (logout)."""
    ttl = int(token.expires_at - utcnow().timestamp()) + 1
    try:
        redis_clients.main.set(denied_key(token.jti), 1, ex=max(ttl, 1))
    except redis.RedisError as e:
        log.warning("could not deny access token at logout: %s", e.__class__.__name__)


def deny_session(sid):
    """Stop the access tokens of the ended session ``sid`` at once, on every instance."""
    ttl = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"] + timedelta(seconds=60)
    try:
        redis_clients.main.set(session_key(sid), 1, ex=ttl)
    except redis.RedisError as e:
        # Its refresh tokens are dead; its access tokens live out their five minutes.
        log.warning("could not deny the access tokens of an ended session: %s",
                    e.__class__.__name__)


def publish_version(user_id, version):
    """Tell every instance that access tokens of ``user_id`` older than ``version`` are dead."""
    ttl = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"] + timedelta(seconds=60)
    try:
        redis_clients.main.set(version_key(user_id), version, ex=ttl)
    except redis.RedisError as e:
        # The protected endpoints still check the version in the database; verify fails open.
        log.warning("could not publish token version of user %s: %s", user_id, e.__class__.__name__)


def end_session(family):
    """End the session ``family``: its row marked ended, its live refresh tokens revoked
    (in the caller's transaction; :func:`deny_session` after the commit)."""
    db.session.execute(update(Session).where(Session.id == family, Session.ended_at.is_(None))
                       .values(ended_at=utcnow()))
    revoke_family(family)


def revoke_family(family):
    """Revoke every live refresh token descended from one login."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all(user_id):
    """End every session of an account: its refresh tokens revoked, its sessions ended."""
    db.session.execute(update(Session).where(Session.account_id == user_id,
                                             Session.ended_at.is_(None))
                       .values(ended_at=utcnow()))
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
