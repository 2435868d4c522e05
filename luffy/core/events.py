"""The security log: what happened to an account, for its owner to read.

:func:`record` adds an entry to the caller's transaction (it commits with the change it
reports, or not at all); :func:`page` reads the log newest first; :func:`prune` deletes
what is older than :data:`KEEP`. An entry holds its type, the login method for a login,
the time, the client's address and user agent: never a password, code or token (the
types and methods are fixed lists, and nothing else is taken).
"""

from datetime import timedelta

from sqlalchemy import delete, select

from luffy.core import tokens
from luffy.core.models import Event, utcnow
from luffy.extensions import db

TYPES = frozenset({
    "login", "login_failed", "logout", "session_ended", "password_changed", "password_reset",
    "email_confirmed", "email_changed", "2fa_enabled", "2fa_disabled", "recovery_code_used",
    "new_device",
})
METHODS = frozenset({"password", "sms", "register", "2fa"})
PAGE = 50
KEEP = timedelta(days=90)


def record(account_id, type, method=None):
    """Add an event of ``type`` (one of :data:`TYPES`; a login names its ``method``) for
    ``account_id`` to the caller's transaction, with this request's address and user agent."""
    if type not in TYPES or (method is not None and method not in METHODS):
        raise ValueError(f"not an event: {type!r} {method!r}")
    db.session.add(Event(account_id=account_id, type=type, at=utcnow(), method=method,
                         **tokens.client_seen()))


def page(account_id, before=None):
    """``(events, more)``: up to :data:`PAGE` of the account's events, newest first, with
    ids below ``before`` when given, and whether older ones remain."""
    query = select(Event).where(Event.account_id == account_id)
    if before is not None:
        query = query.where(Event.id < before)
    found = db.session.scalars(query.order_by(Event.id.desc()).limit(PAGE + 1)).all()
    return found[:PAGE], len(found) > PAGE


def prune():
    """Delete the events older than :data:`KEEP` and commit; how many."""
    result = db.session.execute(delete(Event).where(Event.at < utcnow() - KEEP))
    db.session.commit()
    return result.rowcount
