"""Every flask-jwt-extended callback of luffy, in one place.

Access tokens carry ``user_id``, ``token_type`` and the profile claims; refresh
tokens only ``user_id`` and ``token_type`` (besides what the library adds). An
access token is refused when its ``jti`` is on the Redis denylist (logout) or its
``ver`` is older than the account's token version (every session ended).
"""

import logging

import jwt as pyjwt
import redis
from flask import current_app, request

from luffy.auth.keys import KeyRing
from luffy.auth.models import User
from luffy.extensions import db, read_without_transaction, redis_clients

log = logging.getLogger(__name__)


def denied_key(jti):
    """Redis key of a logged-out access token."""
    return f"luffy:deny:{jti}"


def version_key(user_id):
    """Redis key of an account's token version, written when its sessions end."""
    return f"luffy:ver:{user_id}"


def keyring():
    """The app's :class:`KeyRing`."""
    return current_app.extensions["luffy_keys"]


def profile_claims(user):
    """The claims an access token carries about its account."""
    return {
        "nickname": user.nickname,
        "avatar": user.avatar,
        "money": float(user.money),
        "credit": user.credit,
        "ver": user.token_version,
    }


def access_token_revoked(payload):
    """Whether the denylist or a newer token version kills this access token.

    One Redis round trip. When Redis cannot be read the token passes: its short life
    bounds the risk, and ``/users/me`` still checks the version in the database.
    """
    try:
        denied, version = redis_clients.main.mget(
            denied_key(payload["jti"]), version_key(payload["user_id"]))
    except redis.RedisError as e:
        log.warning("access-token denylist unreadable, token let through: %s", e.__class__.__name__)
        return False
    return denied is not None or (version is not None and payload.get("ver", 0) < int(version))


def init_app(app, jwt):
    """Build the key ring and register the callbacks on ``jwt``."""
    app.extensions["luffy_keys"] = KeyRing.from_config(app.config)

    @jwt.user_identity_loader
    def identity(user):
        return user.id if isinstance(user, User) else int(user)

    @jwt.additional_claims_loader
    def claims(user):
        # Refresh tokens are minted from the bare id and so carry no profile.
        return profile_claims(user) if isinstance(user, User) else {}

    @jwt.additional_headers_loader
    def headers(_identity):
        return {"kid": keyring().signing_kid}

    @jwt.encode_key_loader
    def signing_key(_identity):
        return keyring().signing_key

    @jwt.decode_key_loader
    def verifying_key(header, _payload):
        key = keyring().verifying.get(header.get("kid"))
        if key is None:
            raise pyjwt.InvalidTokenError("unknown signing key")
        return key

    @jwt.token_in_blocklist_loader
    def revoked(_header, payload):
        return payload.get("token_type") != "access" or access_token_revoked(payload)

    @jwt.user_lookup_loader
    def load_user(_header, payload):
        if request.method in ("GET", "HEAD"):  # safe methods change nothing
            read_without_transaction()
        user = db.session.get(User, payload["user_id"])
        if user is None or not user.is_active or payload.get("ver", 0) < user.token_version:
            return None
        return user
