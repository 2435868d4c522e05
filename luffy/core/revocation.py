"""How tokens die before they expire, and how the check learns it.

- A refresh token dies in the database: its record, or its whole family (one login and
  everything refreshed from it), is marked revoked.
- An access token lives five minutes and is checked without the database: logout puts
  its ``jti`` on a denylist in Redis, and ending every session of an account publishes
  the account's new token version there (access tokens carry the version they were
  issued under, ``ver``). Each entry expires when the tokens it kills would have.
  ``/users/me`` and the other protected endpoints check the version in the database
  too, so Redis being down lets an access token through only on verify.
"""

import logging
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import update

from luffy.core.models import RefreshToken, utcnow
from luffy.extensions import db, redis_clients

log = logging.getLogger(__name__)


def denied_key(jti):
    """Redis key of a logged-out access token."""
    return f"luffy:deny:{jti}"


def version_key(user_id):
    """Redis key of an account's token version, written when its sessions end."""
    return f"luffy:ver:{user_id}"


def access_revoked(token):
    """Whether the denylist or a newer token version kills the access ``token``.

    One Redis round trip. When Redis cannot be read the token passes: its short life
    bounds the risk, and the protected endpoints still check the version in the database.
    """
    try:
        denied, version = redis_clients.main.mget(denied_key(token.jti), version_key(token.user_id))
    except redis.RedisError as e:
        log.warning("access-token denylist unreadable, token let through: %s", e.__class__.__name__)
        return False
    return denied is not None or (version is not None and token.version < int(version))


def deny(token):
    """Put the access ``token`` on the denylist until it expires (logout)."""
    ttl = int(token.expires_at - utcnow().timestamp()) + 1
    try:
        redis_clients.main.set(denied_key(token.jti), 1, ex=max(ttl, 1))
    except redis.RedisError as e:
        log.warning("could not deny access token at logout: %s", e.__class__.__name__)


def publish_version(user_id, version):
    """Tell every instance that access tokens of ``user_id`` older than ``version`` are dead."""
    ttl = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"] + timedelta(seconds=60)
    try:
        redis_clients.main.set(version_key(user_id), version, ex=ttl)
    except redis.RedisError as e:
        # The protected endpoints still check the version in the database; verify fails open.
        log.warning("could not publish token version of user %s: %s", user_id, e.__class__.__name__)


def revoke_family(family):
    """Revoke every live refresh token descended from one login."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all(user_id):
    """Revoke every live refresh token of an account."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
