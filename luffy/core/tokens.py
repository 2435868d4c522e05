"""Tokens: flask-jwt-extended's callbacks that issue them, and the one decode that checks them.

Access tokens carry ``user_id``, ``token_type`` and the profile claims; refresh
tokens only ``user_id`` and ``token_type`` (besides what the library adds). A good
signature is not enough: :func:`well_formed` decides whether the claims are what
luffy issues, for every path (Bearer, cookie, verify, refresh, logout). An access
token is refused when its ``jti`` is on the Redis denylist (logout) or its ``ver`` is
older than the account's token version (every session ended).
"""

import base64
import hmac
import json
import logging
import math

import jwt as pyjwt
import redis
from flask import current_app
from sqlalchemy import bindparam, select

from luffy.auth.keys import KeyRing
from luffy.auth.models import User
from luffy.errors import APIError
from luffy.extensions import db, redis_clients
from luffy.speed import read_row

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


def _kid(raw):
    """The ``kid`` of a token's header, read only to pick the key: the signature check
    that follows reads the same header strictly (and refuses what this let through)."""
    segment = raw.split(".", 1)[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return header.get("kid") if isinstance(header, dict) else None


def decode(raw, token_type=None, csrf=None):
    """The claims of ``raw`` if it is a token luffy issued and still honours the key of:
    a good signature by a verifying key (by ``kid``), unexpired, of the configured
    audience and issuer, :func:`well_formed` as ``token_type`` (either type when
    ``None``), and bound to ``csrf`` when given (cookie mode). Else 401 ``token_not_valid``.

    One parse of the token (flask-jwt-extended's ``decode_token`` makes three, and its
    request check a fourth, each base64-checking every character: bench/PROFILE.md).
    """
    config = current_app.config
    try:
        key = keyring().verifying.get(_kid(raw))
        if key is None:
            raise APIError.token_not_valid()
        claims = pyjwt.decode(
            raw, key, algorithms=config["JWT_DECODE_ALGORITHMS"],
            audience=config["JWT_DECODE_AUDIENCE"], issuer=config["JWT_DECODE_ISSUER"],
            leeway=config["JWT_DECODE_LEEWAY"],
            options={"verify_aud": config["JWT_DECODE_AUDIENCE"] is not None,
                     "require": ["exp", "iat", "jti"]})
    except (ValueError, TypeError, pyjwt.PyJWTError):  # ValueError: base64, JSON, text
        raise APIError.token_not_valid() from None
    if not well_formed(claims, token_type):
        raise APIError.token_not_valid()
    if csrf is not None and not hmac.compare_digest(claims.get("csrf", "").encode(), csrf.encode()):
        raise APIError.token_not_valid("CSRF double submit tokens do not match")
    return claims


_users = User.__table__
# What a read-only account is: the profile that /users/me answers, and what
# load_user checks. Not the password hash, which a token's request never needs.
ACCOUNT_PROFILE = select(
    _users.c.id, _users.c.username, _users.c.email, _users.c.email_verified, _users.c.mobile,
    _users.c.nickname, _users.c.avatar, _users.c.money, _users.c.credit,
    _users.c.is_active, _users.c.token_version,
).where(_users.c.id == bindparam("user_id"))


def load_user(claims, read_only=False):
    """The active account that access ``claims`` name, if they are of its current version.

    ``read_only``: the account's :data:`ACCOUNT_PROFILE` as a row (attributes as on the
    entity), read by :func:`luffy.speed.read_row`: no ORM session, no entity to build.
    """
    if read_only:
        user = read_row(ACCOUNT_PROFILE, {"user_id": claims["user_id"]})
    else:
        user = db.session.get(User, claims["user_id"])
    if user is None or not user.is_active or claims["ver"] < user.token_version:
        return None
    return user


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
    """Build the key ring and register the callbacks that issue tokens on ``jwt``."""
    app.extensions["luffy_keys"] = KeyRing.from_config(app.config)

    @jwt.user_identity_loader
    def identity(user):
        return user if isinstance(user, int) else user.id

    @jwt.additional_claims_loader
    def claims(user):
        # Access tokens are minted from the account (an entity or a row); refresh
        # tokens from the bare id, and so carry no profile.
        return {} if isinstance(user, int) else profile_claims(user)

    @jwt.additional_headers_loader
    def headers(_identity):
        return {"kid": keyring().signing_kid}

    @jwt.encode_key_loader
    def signing_key(_identity):
        return keyring().signing_key
