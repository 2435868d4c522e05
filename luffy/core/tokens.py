"""Tokens: how they are issued, and :func:`check`, the one answer to "is this token valid?".

Tokens are made by flask-jwt-extended (``create_access_token``, the additional-claims
loader for the profile, the key and header loaders below); luffy owns the decode
whole, in :func:`check`, for every path: a Bearer or cookie access token, verify,
refresh and logout. Access tokens carry ``user_id``, ``token_type``, ``ver`` (the
account's token version) and the profile claims; refresh tokens ``user_id`` and
``token_type``, and a record of their ``jti`` in the database (never the token).

:func:`check` returns a :class:`Token`, with the :class:`Account` it read when it read
one: never an ORM entity, never a bare database row.

While ``LEGACY_JWT_SECRET_KEY`` is set, the same check honours the old Django backend's
simplejwt tokens (HS256, no ``kid``) for the accounts imported under their ids
(:mod:`luffy.legacy`): an old access token as an access token of token version 0, an old
refresh token adopted as a luffy session on its first use (:func:`_adopt`).
"""

import base64
import hmac
import json
import logging
import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import NamedTuple

import jwt as pyjwt
from flask import current_app, has_request_context, request
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, select

from luffy import logs, speed
from luffy.core import revocation
from luffy.core.keys import KeyRing
from luffy.core.models import RefreshToken, Session, User, utcnow
from luffy.errors import APIError
from luffy.extensions import db
from luffy.legacy.models import LegacyAccount, LegacyBlacklistedToken

log = logging.getLogger(__name__)
speed.prepare_hmac_keys_once()  # PyJWT checks each HS key once, not on every call

# users.id is a 32-bit INTEGER on PostgreSQL and MySQL: no account has a larger id.
MAX_USER_ID = 2**31 - 1
TOKEN_TYPES = ("access", "refresh")
SESSION_ID_LENGTH = 36  # a session's id: its first refresh token's jti
LEGACY_ALGORITHM = "HS256"  # simplejwt's default, the old backend's
LEGACY_USER_ID = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)  # simplejwt may write the id as text
LEGACY_JTI_LENGTH = 36  # simplejwt: uuid4().hex, 32; luffy's record holds 36


class Account(NamedTuple):
    """An account as a token's request knows it: its profile and the state that decides
    whether its tokens live (the password hash is never read for it). A named tuple:
    read-only, and made from a row at the cost of a tuple."""

    id: int
    username: str
    email: str | None
    email_verified: bool
    mobile: str | None
    nickname: str
    avatar: str
    money: Decimal
    credit: int
    is_active: bool
    token_version: int

    @classmethod
    def of(cls, user):
        """The account of a :class:`~luffy.core.models.User` entity."""
        return cls._make(getattr(user, name) for name in cls._fields)


class StoredToken(NamedTuple):
    """A refresh token's record: its row, the login (``family``) it descends from, and
    whether a rotation already replaced it."""

    id: int
    family: str  # the id of its session
    used_at: datetime | None
    last_used_at: datetime  # its session's, as last written


class Token(NamedTuple):
    """A token luffy issued and still honours, as :func:`check` found it."""

    type: str  # "access" or "refresh"
    user_id: int
    jti: str
    expires_at: float  # the exp claim, seconds since the epoch
    version: int | None  # access tokens: the account's token version when issued
    account: Account | None = None  # read by the check when asked for (always for refresh)
    stored: StoredToken | None = None  # refresh tokens: their record
    legacy: bool = False  # signed by the old backend (LEGACY_JWT_SECRET_KEY)
    sid: str | None = None  # access tokens: the session (absent from older tokens)


# What a token's request reads of its account: the profile /users/me answers and the
# state the check decides on; a refresh reads its token's record with it, in one join.
# Each is compiled once and run outside the ORM (luffy.speed.CompiledRead).
ACCOUNT_COLUMNS = tuple(getattr(User, name) for name in Account._fields)
ACCOUNT = speed.CompiledRead(select(*ACCOUNT_COLUMNS).where(User.id == bindparam("user_id")))
ACCOUNT_WITH_TOKEN = speed.CompiledRead(select(
    *ACCOUNT_COLUMNS, RefreshToken.id.label("token_id"), RefreshToken.user_id.label("token_user"),
    RefreshToken.family, RefreshToken.used_at, RefreshToken.revoked_at, Session.last_used_at,
).join_from(RefreshToken, User).join(Session, Session.id == RefreshToken.family)
    .where(RefreshToken.jti == bindparam("jti")))
ACCOUNT_FIELDS = len(ACCOUNT_COLUMNS)
# An old backend's token names an account by its old id: honoured only for an account
# imported under that very id (one that took a new id is another person's old id).
LEGACY_ACCOUNT = select(*ACCOUNT_COLUMNS).join(
    LegacyAccount, LegacyAccount.account_id == User.id
).where(LegacyAccount.old_id == bindparam("user_id"), User.id == bindparam("user_id"))
LEGACY_BLACKLISTED = select(LegacyBlacklistedToken.jti).where(
    LegacyBlacklistedToken.jti == bindparam("jti"))


def check(raw, token_type=None, *, csrf=None, account=False, lock=False):
    """The :class:`Token` of ``raw`` if luffy issued it and still honours it; else 401
    ``token_not_valid``. Each path asks for the checks it needs beyond the first two:

    1. a good signature by a verifying key (by ``kid``), unexpired, of the configured
       audience and issuer, bound to ``csrf`` when given (cookie mode);
    2. claims exactly as luffy issues them (:func:`well_formed`), of ``token_type``
       (either when ``None``);
    3. an access token: not logged out nor older than its account's token version, as
       Redis knows (one round trip; when Redis cannot be read the token passes: its
       five-minute life bounds the risk); with ``account``, its account read from the
       database too: active, and of no newer version;
    4. a refresh token: its record and account read from the database (under a lock on
       the account's row with ``lock``, for rotation and logout): the record issued to
       this account, not revoked, the account active. A rotated token that comes back
       ends its whole family (reuse detection) when ``JWT_BLACKLIST_AFTER_ROTATION``.
    """
    claims, legacy = _decode(raw)
    if legacy:
        claims = legacy_claims(claims, token_type)
    if claims is None or not (legacy or well_formed(claims, token_type)):
        raise APIError.token_not_valid()
    if csrf is not None and not hmac.compare_digest(claims.get("csrf", "").encode(), csrf.encode()):
        raise APIError.token_not_valid("CSRF double submit tokens do not match")
    kind, user_id = claims["token_type"], claims["user_id"]
    logs.identify(user_id)
    token = Token(kind, user_id, claims["jti"], claims["exp"], claims.get("ver"), None, None, legacy,
                  claims.get("sid"))
    if kind == "refresh":
        return _check_stored(token, lock)
    if revocation.access_revoked(token):
        raise APIError.token_not_valid()
    if account or legacy:  # an old token's account is always read: imported under its id?
        row = (speed.read_row(LEGACY_ACCOUNT, {"user_id": user_id}) if legacy
               else ACCOUNT.first({"user_id": user_id}))
        found = Account._make(row) if row is not None else None
        if found is None or not found.is_active or token.version < found.token_version:
            raise APIError.token_not_valid()
        token = token._replace(account=found)
    return token


def _check_stored(token, lock):
    """Step 4 of :func:`check`."""
    if lock:
        lock_account(token.user_id)
        row = db.session.execute(ACCOUNT_WITH_TOKEN.statement, {"jti": token.jti}).first()
    else:
        row = ACCOUNT_WITH_TOKEN.first({"jti": token.jti})
    if row is None and token.legacy:
        row = _adopt(token)
    if row is None:
        raise APIError.token_not_valid()
    found = Account._make(row[:ACCOUNT_FIELDS])
    if row.token_user != token.user_id or row.revoked_at is not None or not found.is_active:
        raise APIError.token_not_valid()
    stored = StoredToken(row.token_id, row.family, row.used_at, row.last_used_at)
    if stored.used_at is not None and current_app.config["JWT_BLACKLIST_AFTER_ROTATION"]:
        reuse_detected(token.user_id, stored.family)
    return token._replace(account=found, stored=stored)


def _adopt(token):
    """An old backend's refresh token used for the first time becomes a luffy session:
    its record (its jti, a family and session of its own, its expiry) is added to the request's
    transaction, which the caller commits. Refused (None) when its account was not
    imported under its id, is inactive, or has had its sessions ended in luffy (token
    version above 0), and when the old backend blacklisted it. Under the account's lock,
    so that two first uses make one record; the row as :func:`_check_stored` reads it."""
    lock_account(token.user_id)
    row = db.session.execute(ACCOUNT_WITH_TOKEN.statement, {"jti": token.jti}).first()
    if row is not None:  # adopted by a concurrent first use
        return row
    found = db.session.execute(LEGACY_ACCOUNT, {"user_id": token.user_id}).first()
    if (found is None or not found.is_active or found.token_version > 0
            or db.session.execute(LEGACY_BLACKLISTED, {"jti": token.jti}).first() is not None):
        return None
    expires_at = datetime.fromtimestamp(token.expires_at, timezone.utc).replace(tzinfo=None)
    db.session.add(Session(id=token.jti, account_id=token.user_id, **client_seen()))
    db.session.add(RefreshToken(jti=token.jti, family=token.jti, user_id=token.user_id,
                                expires_at=expires_at))
    db.session.flush()
    log.info("old backend's refresh token adopted as a session of user %s", token.user_id)
    return db.session.execute(ACCOUNT_WITH_TOKEN.statement, {"jti": token.jti}).first()


def reuse_detected(user_id, family):
    """A rotated refresh token came back: a thief or its victim holds a copy. End both
    (under the account's lock when the caller took it)."""
    log.warning("refresh token reuse: family %s of user %s revoked", family, user_id)
    revocation.end_session(family)
    db.session.commit()
    revocation.deny_session(family)
    raise APIError.token_not_valid()


def lock_account(user_id):
    """Lock the account's row until the transaction ends; its current token version.

    Rotation, logout and ending every session take this lock before they touch refresh
    tokens, in one order, so none acts on a family another is changing and none
    deadlocks (PostgreSQL, MySQL; SQLite has one writer). A separate statement, first:
    on MariaDB one join ``FOR UPDATE`` deadlocked against a password change.
    """
    with db.session.no_autoflush:  # pending changes (a new password) go out later, in one UPDATE
        return db.session.execute(
            select(User.token_version).where(User.id == user_id).with_for_update()).scalar()


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
    sid = claims.get("sid", "")
    return (_is_int(user_id) and 1 <= user_id <= MAX_USER_ID
            and isinstance(jti, str) and 0 < len(jti) <= 64
            and _is_time(claims.get("exp")) and _is_time(claims.get("iat"))
            and isinstance(csrf, str) and isinstance(sid, str) and len(sid) <= SESSION_ID_LENGTH
            and (kind == "refresh" or (_is_int(claims.get("ver")) and claims["ver"] >= 0)))


def _kid(raw):
    """The ``kid`` of a token's header, read only to pick the key: the signature check
    that follows reads the same header strictly (and refuses what this let through)."""
    segment = raw.split(".", 1)[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return header.get("kid") if isinstance(header, dict) else None


def _decode(raw):
    """Step 1 of :func:`check`: the claims of a good signature, or 401.

    One parse of the token (flask-jwt-extended's ``decode_token`` makes three, and its
    request check a fourth, each base64-checking every character: bench/PROFILE.md).
    """
    config = current_app.config
    try:
        kid = _kid(raw)
        key = keyring().verifying.get(kid)
        if key is None:
            if kid is None and config["LEGACY_JWT_SECRET_KEY"]:
                return _decode_legacy(raw, config), True
            raise APIError.token_not_valid()
        claims = pyjwt.decode(
            raw, key, algorithms=config["JWT_DECODE_ALGORITHMS"],
            audience=config["JWT_DECODE_AUDIENCE"], issuer=config["JWT_DECODE_ISSUER"],
            leeway=config["JWT_DECODE_LEEWAY"],
            options={"verify_aud": config["JWT_DECODE_AUDIENCE"] is not None,
                     "require": ["exp", "iat", "jti"]})
    except (ValueError, TypeError, pyjwt.PyJWTError):  # ValueError: base64, JSON, text
        raise APIError.token_not_valid() from None
    return claims, False


def _decode_legacy(raw, config):
    """The claims of a token the old backend signed: HS256 by ``LEGACY_JWT_SECRET_KEY``,
    unexpired (simplejwt's settings: no audience, no issuer)."""
    return pyjwt.decode(raw, config["LEGACY_JWT_SECRET_KEY"], algorithms=[LEGACY_ALGORITHM],
                        leeway=config["JWT_DECODE_LEEWAY"],
                        options={"verify_aud": False, "require": ["exp", "iat", "jti"]})


def legacy_claims(claims, token_type=None):
    """The claims of an old backend's token as :func:`check` reads them (``user_id`` an
    int, token version 0), or None unless they are what simplejwt issues: ``token_type``
    (of ``token_type`` when given), ``jti`` (text), ``exp`` and ``iat`` (numbers) and
    ``user_id``, an int or, here and only here, its decimal text."""
    kind, user_id, jti = claims.get("token_type"), claims.get("user_id"), claims.get("jti")
    if kind not in TOKEN_TYPES or token_type not in (None, kind):
        return None
    if type(user_id) is str and LEGACY_USER_ID.fullmatch(user_id):
        user_id = int(user_id)
    if not (_is_int(user_id) and 1 <= user_id <= MAX_USER_ID and isinstance(jti, str)
            and 0 < len(jti) <= LEGACY_JTI_LENGTH
            and _is_time(claims.get("exp")) and _is_time(claims.get("iat"))):
        return None
    return {"token_type": kind, "user_id": user_id, "jti": jti, "exp": claims["exp"], "ver": 0}


def issue_access(account, sid):
    """A new access token of the session ``sid`` with the current profile of ``account``
    (an :class:`Account` or a :class:`~luffy.core.models.User`)."""
    return create_access_token(account, additional_claims={"token_type": "access", "sid": sid,
                                                           "jti": speed.token_id()})


def new_refresh(user_id, family=None):
    """A new refresh token in ``family`` (a new one at login) and the columns of its
    record, which the caller writes: ``(token, row)``."""
    jti = speed.token_id()
    now = utcnow()
    row = {"jti": jti, "family": family or jti, "user_id": user_id, "created_at": now,
           "expires_at": now + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]}
    token = create_refresh_token(user_id, additional_claims={"token_type": "refresh", "jti": jti})
    return token, row


def issue_refresh(user_id, family=None):
    """A new refresh token, recorded by jti in ``family`` (a new one at login) in the
    request's transaction, which the caller commits."""
    token, row = new_refresh(user_id, family)
    db.session.add(RefreshToken(**row))
    return token


def client_seen():
    """What a session records of the request's client: its address (as the throttle
    sees it: proxies peeled off) and user agent, cut to their columns; ``None`` outside a
    request (a command)."""
    if not has_request_context():
        return {"ip": None, "user_agent": None}
    agent = request.headers.get("User-Agent") or None
    return {"ip": (request.remote_addr or "")[:Session.ip.type.length] or None,
            "user_agent": agent[:Session.user_agent.type.length] if agent else None}


def keyring():
    """The app's :class:`KeyRing`."""
    return current_app.extensions["luffy_keys"]


def profile_claims(account):
    """The claims an access token carries about its account."""
    return {
        "nickname": account.nickname,
        "avatar": account.avatar,
        "money": float(account.money),
        "credit": account.credit,
        "ver": account.token_version,
    }


def init_app(app, jwt):
    """Build the key ring and register the callbacks that issue tokens on ``jwt``."""
    app.extensions["luffy_keys"] = KeyRing.from_config(app.config)

    @jwt.user_identity_loader
    def identity(account):
        return account if isinstance(account, int) else account.id

    @jwt.additional_claims_loader
    def claims(account):
        # Access tokens are minted from the account; refresh tokens from the bare id,
        # and so carry no profile.
        return {} if isinstance(account, int) else profile_claims(account)

    @jwt.additional_headers_loader
    def headers(_identity):
        return {"kid": keyring().signing_kid}

    @jwt.encode_key_loader
    def signing_key(_identity):
        return keyring().signing_key
