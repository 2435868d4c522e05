"""Accounts: creating one, the identifiers no two may share, its password and its state.

An account's username, email and mobile each open it at login, so no identifier may
make a login ambiguous (:func:`identifier_taken`). :func:`add` puts a new account in
the caller's transaction; the other verbs are whole service calls.
"""

from sqlalchemy import exists, or_, select

from luffy.core import events, sessions
from luffy.core.identifiers import fold
from luffy.core.models import User
from luffy.core.strength import password_problems
from luffy.core.throttle import account_key
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import db

TAKEN = "Another account uses this as an identifier."


def add(username, password, email=None, mobile=None, **profile):
    """A new account in the caller's transaction (flushed: it has its id), refused
    (400) when an identifier would make any login ambiguous."""
    email = email.lower() if email else None
    if _too_long_once_folded(username, email):
        raise APIError.invalid({"username": ["An identifier is too long once normalised."]})
    if identifier_taken(username, email, mobile):
        raise APIError.invalid({"username": [TAKEN]})
    user = User(username=username, email=email, mobile=mobile, **profile)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def create(username, password, email=None, mobile=None, **profile):
    """:func:`add` an account and commit it (operators, ``flask users create``)."""
    user = add(username, password, email=email, mobile=mobile, **profile)
    db.session.commit()
    return user


def _too_long_once_folded(username, email):
    """Whether a key would overflow its column (NFKC expands a few characters, "ﬃ" to "ffi")."""
    return any(value and len(fold(value)) > column.type.length
               for value, column in ((username, User.username_key), (email, User.email_key)))


def identifier_taken(username=None, email=None, mobile=None, exclude_id=None):
    """Whether any of the identifiers would make another account's login ambiguous.

    A login matches an account by ``username == given``, ``email_key == fold(given)``
    or ``mobile == given`` (:func:`luffy.core.identifiers.fold`): a username may not
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


def mobile_registered(mobile):
    """Whether sign-up with ``mobile`` would be refused as registered."""
    return bool(identifier_taken(mobile=mobile))


def find(identifier):
    """The account that ``identifier`` (username, email or mobile) names, or None."""
    return db.session.scalars(User.identified_by(identifier)).first()


def load(user_id):
    """The account entity of ``user_id`` (a checked token's), in the request's session."""
    return db.session.get(User, user_id)


def verify_password(user, password, guard):
    """Raise :class:`~luffy.errors.PasswordRejected` (400 naming ``password``) unless
    ``password`` is ``user``'s; ``guard`` may refuse the try first (429). For the
    changes that take the account's password as well as a token."""
    account = account_key(user)
    guard.admit(account)
    if not user.check_password(password)[0]:
        raise PasswordRejected(account, APIError.invalid({"password": ["Wrong password."]}))


def change_password(user_id, old_password, new_password, guard):
    """Change the password after checking the old one (``guard`` may refuse the
    attempt) and the password rules; ends every session."""
    user = load(user_id)
    account = account_key(user)
    guard.admit(account)
    if not user.check_password(old_password)[0]:
        raise PasswordRejected.old_password(account)
    refuse_weak(user, new_password, "new_password")
    events.record(user.id, "password_changed")
    set_password(user, new_password)


def refuse_weak(user, password, field):
    """400 naming ``field`` unless ``password`` passes the rules of a new password for
    ``user`` (luffy/core/strength.py)."""
    problems = password_problems(password, user.username, user.email, user.mobile, user.nickname)
    if problems:
        raise APIError.invalid({field: problems})


def set_password(user, password):
    """Give ``user`` a new password; every session of the account ends. Commits."""
    user.set_password(password)
    sessions.end_all(user)


def deactivate(user):
    """Refuse the account from now on, its tokens included."""
    user.is_active = False
    sessions.end_all(user)


def activate(user):
    """Let a deactivated account log in again."""
    user.is_active = True
    db.session.commit()
