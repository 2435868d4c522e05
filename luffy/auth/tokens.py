"""Every flask-jwt-extended callback of luffy, and the one check of a token's claims.

Access tokens carry ``user_id``, ``token_type`` and the profile claims; refresh
tokens only ``user_id`` and ``token_type`` (besides what the library adds). A good
signature is not enough: :func:`well_formed` decides whether the claims are what
luffy issues, for every path (Bearer, cookie, verify, refresh, logout). An access
token is refused when its ``jti`` is on the Redis denylist (logout) or its ``ver`` is
older than the account's token version (every session ended).
"""

import logging
import math

import jwt as pyjwt
import redis
from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException

from luffy.auth.keys import KeyRing
from luffy.auth.models import User
from luffy.errors import APIError
from luffy.extensions import db, read_without_transaction, redis_clients

log = logging.getLogger(__name__)


# users.id is a 32-bit INTEGER on PostgreSQL and MySQL: no account has a larger id.
MAX_USER_ID = 2**31 - 1
TOKEN_TYPES = ("access", "refresh")


def _is_int(value):
    return type(value) is int  # not bool, not float, not a numeric string


def _is_time(value):
    return (_is_int(value) or type(value) is float) and math.isfinite(value)


def well_formed(claims, token_type=None):
    """Whether decoded ``claims`` are those of a token luffy issues (of ``token_type``).

    Required and well typed: ``exp`` and ``iat`` (numbers), ``jti`` (text),
    ``token_type`` (the library's ``type`` agreeing), ``user_id`` (an int that can
    be an account's id: not a bool, float or string), and on access tokens ``ver``.
    """
    kind = claims.get("token_type")
    if kind not in TOKEN_TYPES or claims.get("type") != kind or token_type not in (None, kind):
        return False
    user_id, jti, csrf = claims.get("user_id"), claims.get("jti"), claims.get("csrf", "")
    return (_is_int(user_id) and 1 <= user_id <= MAX_USER_ID
            and isinstance(jti, str) and 0 < len(jti) <= 64
            and _is_time(claims.get("exp")) and _is_time(claims.get("iat"))
            and isinstance(csrf, str)
            and (kind == "refresh" or (_is_int(claims.get("ver")) and claims["ver"] >= 0)))


def decode(raw, token_type=None, csrf=None):
    """The claims of ``raw`` if it is a live-signed, unexpired, well-formed token of
    ``token_type`` (either type when ``None``), else 401 ``token_not_valid``."""
    try:
        claims = decode_token(raw, csrf_value=csrf)
    except TypeError:  # a CSRF claim that is not text: compared by the library first
        raise APIError.token_not_valid() from None
    except (JWTExtendedException, pyjwt.PyJWTError):
        raise APIError.token_not_valid() from None
    if not well_formed(claims, token_type):
        raise APIError.token_not_valid()
    return claims


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
    return denied is not None or (version is not None and payload["ver"] < int(version))


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
        # The library asks this first, before any other check of ours: a malformed
        # token is refused here, before its claims are used.
        return not well_formed(payload, "access") or access_token_revoked(payload)

    @jwt.user_lookup_loader
    def load_user(_header, payload):
        if request.method in ("GET", "HEAD"):  # safe methods change nothing
            read_without_transaction()
        user = db.session.get(User, payload["user_id"])
        if user is None or not user.is_active or payload["ver"] < user.token_version:
            return None
        return user
