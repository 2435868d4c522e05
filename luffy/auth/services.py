"""The auth logic: authenticate, issue, refresh, verify, revoke. Raises APIError."""

import logging
import uuid
from datetime import timedelta

import redis
from flask import current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import exists, func, or_, select, update

from luffy.auth import passwords
from luffy.auth.models import RefreshToken, User, utcnow
from luffy.auth.tokens import access_token_revoked, denied_key, version_key
from luffy.errors import APIError
from luffy.extensions import db, read_without_transaction, redis_clients

log = logging.getLogger(__name__)


def authenticate(identifier, password):
    """The active account that ``identifier`` names and ``password`` opens, or 401.

    Every failure costs one argon2id check and gives the same answer, so neither the
    words nor the timing tell an unknown account from a wrong password.
    """
    # No identifier holds a NUL, and PostgreSQL refuses one even in a query.
    users = [] if "\x00" in identifier else db.session.scalars(User.identified_by(identifier)).all()
    users = [user for user in users if user.identified_as(identifier)]
    if len(users) != 1:
        if users:
            log.error("login identifier matches %d accounts", len(users))
        passwords.burn_time(password)
        return _reject()
    user = users[0]
    ok, outdated = user.check_password(password)
    if not ok or not user.is_active:
        return _reject(user)
    if outdated:  # only now, so that a refused inactive account costs no extra hash
        user.set_password(password)
    g.user_id = user.id
    return user  # a re-hashed password is saved by the caller's commit


def authenticate_basic(identifier, password):
    """:func:`authenticate` for HTTP Basic: keeps a re-hashed password."""
    user = authenticate(identifier, password)
    db.session.commit()
    return user


def _reject(user=None):
    g.credentials_rejected = True  # counted by the login throttle
    if user is not None:
        g.user_id = user.id
    raise APIError.authentication_failed()


def cart_total(user_id):
    """``HLEN cart_<id>``; ``None`` when the cart store is down, which no login fails for."""
    try:
        return redis_clients.cart.hlen(f"cart_{user_id}")
    except redis.RedisError as e:
        log.warning("cart store unavailable, cart_total is null: %s", e.__class__.__name__)
        return None


def issue_access(user):
    """A new access token with the account's current profile."""
    return create_access_token(user, additional_claims={"token_type": "access"})


def issue_refresh(user, family=None):
    """A new refresh token, recorded by jti in ``family`` (a new one at login)."""
    jti = str(uuid.uuid4())
    lifetime = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    db.session.add(RefreshToken(jti=jti, family=family or jti, user_id=user.id,
                                expires_at=utcnow() + lifetime))
    return create_refresh_token(user.id, additional_claims={"token_type": "refresh", "jti": jti})


def login(user):
    """The login answer for an authenticated account: one transaction, one commit."""
    user.last_login = utcnow()
    tokens = {"token": issue_access(user), "refresh": issue_refresh(user)}
    db.session.commit()
    return {**tokens, "cart_total": cart_total(user.id)}


def decode(raw, token_type, csrf=None):
    """The claims of ``raw`` if it is a well-signed, unexpired token of ``token_type``."""
    claims = decode_token(raw, csrf_value=csrf)
    if claims.get("token_type") != token_type or claims.get("type") != token_type:
        raise APIError.token_not_valid()
    return claims


def _refresh_row(claims):
    """The stored refresh token and its account, or 401 when either is gone or dead."""
    found = db.session.execute(
        select(RefreshToken, User).join(User).where(RefreshToken.jti == claims["jti"])
    ).first()
    if found is None:
        raise APIError.token_not_valid()
    row, user = found
    g.user_id = user.id  # for the logs
    if row.revoked_at is not None or not user.is_active:
        raise APIError.token_not_valid()
    if row.used_at is not None and current_app.config["JWT_BLACKLIST_AFTER_ROTATION"]:
        _reuse_detected(row)
    return row, user


def _reuse_detected(row):
    """A rotated refresh token came back: a thief or its victim holds a copy. End both."""
    log.warning("refresh token reuse: family %s of user %s revoked", row.family, row.user_id)
    revoke_family(row.family)
    db.session.commit()
    raise APIError.token_not_valid()


def refresh(claims):
    """A new access token (and with rotation a new refresh token) for refresh ``claims``."""
    config = current_app.config
    if not config["JWT_ROTATE_REFRESH_TOKENS"]:
        read_without_transaction()  # one read (a reused token's revocation: one write)
    row, user = _refresh_row(claims)
    answer = {"access": issue_access(user)}
    if not config["JWT_ROTATE_REFRESH_TOKENS"]:
        return answer
    if config["JWT_BLACKLIST_AFTER_ROTATION"]:
        # Single use, atomically: of N concurrent refreshes one UPDATE matches the row.
        claimed = db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None),
                   RefreshToken.revoked_at.is_(None))
            .values(used_at=utcnow())
        ).rowcount
        if claimed != 1:
            db.session.rollback()
            _reuse_detected(row)
    answer["refresh"] = issue_refresh(user, family=row.family)
    db.session.commit()
    return answer


def verify(raw):
    """Accept a live access or refresh token, or raise 401."""
    claims = decode_token(raw)
    if claims.get("token_type") == "refresh" and claims.get("type") == "refresh":
        read_without_transaction()
        _refresh_row(claims)
    elif claims.get("token_type") != "access" or access_token_revoked(claims):
        raise APIError.token_not_valid()


def revoke_family(family):
    """Revoke every live refresh token descended from one login."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def logout(claims, access_claims=None):
    """Kill the refresh token's family, and put a presented access token on the denylist."""
    row, _user = _refresh_row(claims)
    revoke_family(row.family)
    db.session.commit()
    if access_claims and access_claims["user_id"] == row.user_id:
        ttl = int(access_claims["exp"] - utcnow().timestamp()) + 1
        try:
            redis_clients.main.set(denied_key(access_claims["jti"]), 1, ex=max(ttl, 1))
        except redis.RedisError as e:
            log.warning("could not deny access token at logout: %s", e.__class__.__name__)


def end_sessions(user):
    """Every refresh token of ``user`` dies and every access token issued so far stops."""
    user.token_version += 1
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    ttl = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"] + timedelta(seconds=60)
    try:
        redis_clients.main.set(version_key(user.id), user.token_version, ex=ttl)
    except redis.RedisError as e:
        # /users/me still checks the version in the database; verify fails open.
        log.warning("could not publish token version of user %s: %s", user.id, e.__class__.__name__)


def change_password(user, old_password, new_password):
    """Change the password after checking the old one; ends every session."""
    if not user.check_password(old_password)[0]:
        g.credentials_rejected = True
        raise APIError.invalid({"old_password": ["Wrong password."]})
    # The rules of sign-up and reset; imported here because luffy.accounts imports this module.
    from luffy.accounts.strength import password_problems

    problems = password_problems(new_password, user.username, user.email, user.mobile, user.nickname)
    if problems:
        raise APIError.invalid({"new_password": problems})
    user.set_password(new_password)
    end_sessions(user)


def deactivate(user):
    """Refuse the account from now on, its tokens included."""
    user.is_active = False
    end_sessions(user)


def flush_expired():
    """Delete refresh-token rows past their expiry; returns how many."""
    result = db.session.execute(
        RefreshToken.__table__.delete().where(RefreshToken.expires_at < utcnow()))
    db.session.commit()
    return result.rowcount


def create_user(username, password, email=None, mobile=None, **profile):
    """A new account, refused when an identifier would make any login ambiguous."""
    email = email.lower() if email else None
    if identifier_taken(username, email, mobile):
        raise APIError.invalid({"username": ["An account already uses one of these identifiers."]})
    user = User(username=username, email=email, mobile=mobile, **profile)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def identifier_taken(username=None, email=None, mobile=None, exclude_id=None):
    """Whether any of the identifiers would make another account's login ambiguous.

    A username may not equal another account's username, email (any case) or mobile;
    an email or mobile may not equal another account's own or its username.
    """
    checks = []
    if username:
        checks += [User.username == username, User.email == username.lower(),
                   User.mobile == username]
    if email:
        checks += [User.email == email.lower(), func.lower(User.username) == email.lower()]
    if mobile:
        checks += [User.mobile == mobile, User.username == mobile]
    if not checks:
        return False
    query = select(User.id).where(or_(*checks))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return db.session.execute(select(exists(query))).scalar()
