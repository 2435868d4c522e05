"""The auth logic: authenticate, issue, refresh, verify, revoke. Raises APIError."""

import logging
import uuid
from datetime import timedelta

import redis
from flask import current_app, g
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, exists, or_, select, update

from luffy.auth import passwords, tokens
from luffy.auth.identifiers import fold
from luffy.auth.models import RefreshToken, User, utcnow
from luffy.auth.throttle import account_key
from luffy.auth.tokens import access_token_revoked, denied_key, version_key
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import db, redis_clients
from luffy.speed import read_row

log = logging.getLogger(__name__)


def authenticate(identifier, password, guard):
    """The active account that ``identifier`` names and ``password`` opens.

    ``guard`` (:class:`luffy.auth.throttle.PasswordGuard`) may refuse the attempt (429)
    before the password is checked; a refused password raises
    :class:`~luffy.errors.PasswordRejected`. Every failure costs one argon2id check and
    gives the same answer, so neither the words nor the timing tell an unknown account
    from a wrong password.
    """
    # No identifier holds a NUL, and PostgreSQL refuses one even in a query.
    users = [] if "\x00" in identifier else db.session.scalars(User.identified_by(identifier)).all()
    users = [user for user in users if user.identified_as(identifier)]
    if len(users) > 1:
        log.error("login identifier matches %d accounts", len(users))
    user = users[0] if len(users) == 1 else None
    account = account_key(user, identifier)
    guard.admit(account)
    if user is None:
        passwords.burn_time(password)
        raise PasswordRejected.login(account)
    g.user_id = user.id  # for the logs
    ok, outdated = user.check_password(password)
    if not ok or not user.is_active:
        raise PasswordRejected.login(account)
    if outdated:  # only now, so that a refused inactive account costs no extra hash
        user.set_password(password)
    return user  # a re-hashed password is saved by the caller's commit


def authenticate_basic(identifier, password, guard):
    """:func:`authenticate` for HTTP Basic: keeps a re-hashed password."""
    user = authenticate(identifier, password, guard)
    db.session.commit()
    return user


def cart_total(user_id):
    """``HLEN cart_<id>``; ``None`` when the cart store is down, which no login fails for."""
    try:
        return redis_clients.cart.hlen(f"cart_{user_id}")
    except redis.RedisError as e:
        log.warning("cart store unavailable, cart_total is null: %s", e.__class__.__name__)
        return None


def issue_access(user):
    """A new access token with the current profile of ``user`` (an entity or a row)."""
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


# What a refresh reads: the account's token claims and state, with the state of one of
# its refresh tokens (by jti); one Core join, no ORM entity built.
ACCOUNT_WITH_TOKEN = select(
    User.id, User.nickname, User.avatar, User.money, User.credit, User.is_active,
    User.token_version,
    RefreshToken.id.label("token_id"), RefreshToken.family,
    RefreshToken.used_at, RefreshToken.revoked_at,
).join_from(RefreshToken, User).where(RefreshToken.jti == bindparam("jti"))


def _refresh_account(claims, lock=False):
    """The account of a stored refresh token, with the token's ``token_id``, ``family``,
    ``used_at`` and ``revoked_at``; 401 when either is gone or dead.

    Without ``lock``, one read outside the session (:func:`luffy.speed.read_row`). With
    ``lock`` the account's row is locked first, until the transaction ends:
    rotation, logout and ending every session all take that lock before they touch
    refresh tokens, so none of them acts on a family that another is changing, and in
    one order, so they cannot deadlock (PostgreSQL, MySQL; SQLite has one writer).
    """
    if lock:
        _lock_account(claims["user_id"])
        account = db.session.execute(ACCOUNT_WITH_TOKEN, {"jti": claims["jti"]}).first()
    else:
        account = read_row(ACCOUNT_WITH_TOKEN, {"jti": claims["jti"]})
    if account is None:
        raise APIError.token_not_valid()
    g.user_id = account.id  # for the logs
    if account.id != claims["user_id"] or account.revoked_at is not None or not account.is_active:
        raise APIError.token_not_valid()
    if account.used_at is not None and current_app.config["JWT_BLACKLIST_AFTER_ROTATION"]:
        _reuse_detected(account)
    return account


def _reuse_detected(account):
    """A rotated refresh token came back: a thief or its victim holds a copy. End both."""
    log.warning("refresh token reuse: family %s of user %s revoked", account.family, account.id)
    revoke_family(account.family)
    db.session.commit()
    raise APIError.token_not_valid()


def refresh(claims):
    """A new access token (and with rotation a new refresh token) for refresh ``claims``."""
    config = current_app.config
    rotate = config["JWT_ROTATE_REFRESH_TOKENS"]
    account = _refresh_account(claims, lock=rotate)
    answer = {"access": issue_access(account)}
    if not rotate:
        return answer
    if config["JWT_BLACKLIST_AFTER_ROTATION"]:
        # Single use, atomically: of N concurrent refreshes one UPDATE matches the row.
        claimed = db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == account.token_id, RefreshToken.used_at.is_(None),
                   RefreshToken.revoked_at.is_(None))
            .values(used_at=utcnow())
        ).rowcount
        if claimed != 1:
            db.session.rollback()
            _reuse_detected(account)
    answer["refresh"] = issue_refresh(account, family=account.family)
    db.session.commit()
    return answer


def verify(raw):
    """Accept a live access or refresh token, or raise 401."""
    claims = tokens.decode(raw)
    if claims["token_type"] == "refresh":
        _refresh_account(claims)
    elif access_token_revoked(claims):
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
    account = _refresh_account(claims, lock=True)
    revoke_family(account.family)
    db.session.commit()
    if access_claims and access_claims["user_id"] == account.id:
        ttl = int(access_claims["exp"] - utcnow().timestamp()) + 1
        try:
            redis_clients.main.set(denied_key(access_claims["jti"]), 1, ex=max(ttl, 1))
        except redis.RedisError as e:
            log.warning("could not deny access token at logout: %s", e.__class__.__name__)


def _lock_account(user_id):
    """Lock the account's row for this transaction; its current token version."""
    with db.session.no_autoflush:  # pending changes (a new password) go out later, in one UPDATE
        return db.session.execute(
            select(User.token_version).where(User.id == user_id).with_for_update()).scalar()


def end_sessions(user):
    """Every refresh token of ``user`` dies and every access token issued so far stops."""
    user.token_version = _lock_account(user.id) + 1  # read afresh under the lock
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


def change_password(user, old_password, new_password, guard):
    """Change the password after checking the old one (``guard`` may refuse the
    attempt); ends every session."""
    account = account_key(user)
    guard.admit(account)
    if not user.check_password(old_password)[0]:
        raise PasswordRejected.old_password(account)
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
    if _too_long_once_folded(username, email):
        raise APIError.invalid({"username": ["An identifier is too long once normalised."]})
    if identifier_taken(username, email, mobile):
        raise APIError.invalid({"username": ["An account already uses one of these identifiers."]})
    user = User(username=username, email=email, mobile=mobile, **profile)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def _too_long_once_folded(username, email):
    """Whether a key would overflow its column (NFKC expands a few characters, "ﬃ" to "ffi")."""
    return any(value and len(fold(value)) > column.type.length
               for value, column in ((username, User.username_key), (email, User.email_key)))


def identifier_taken(username=None, email=None, mobile=None, exclude_id=None):
    """Whether any of the identifiers would make another account's login ambiguous.

    A login matches an account by ``username == given``, ``email_key == fold(given)``
    or ``mobile == given`` (:func:`luffy.auth.identifiers.fold`): a username may not
    equal another account's username or mobile, nor fold to its email key; an email's
    key may not equal another account's email key, username key or mobile; a mobile
    may not equal another account's mobile or username, nor fold to its email key.
    """
    checks = []
    if username:
        checks += [User.username == username, User.email_key == fold(username),
                   User.mobile == username]
    if email:
        key = fold(email)
        checks += [User.email_key == key, User.username_key == key, User.mobile == key]
    if mobile:
        checks += [User.mobile == mobile, User.username == mobile, User.email_key == fold(mobile)]
    if not checks:
        return False
    query = select(User.id).where(or_(*checks))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return db.session.execute(select(exists(query))).scalar()
