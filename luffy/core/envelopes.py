"""Envelopes: how a queued message is sealed, and to whom it may be delivered.

A request that sends a code always does the same work, whether or not an account has
the destination: it issues the code and enqueues one message. The message names the
condition under which it goes out (``only_to``), and the worker, when it takes the
message, checks that condition (:func:`wanted`) and drops the message when it fails:

- ``account``: an active account has this mobile, or this email confirmed (login and
  reset codes);
- ``newcomer``: no account has this mobile (sign-up codes);
- ``free``: no account but ``user``'s uses this email (confirmation codes);
- none: always (a notice to an account's own address).

So no message reaches a destination that has no account (login, reset) or already has
one (sign-up), and the request neither looks the account up nor takes longer for one.

In the broker a message rests sealed (:func:`seal`): its destination, text and code are
encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``) under a key
derived from ``SECRET_KEY`` by HKDF-SHA256, so the web processes and the worker must
share ``SECRET_KEY``. :func:`derived_key` and :func:`fernet` give other uses (the TOTP
secrets of :mod:`luffy.core.twofactor`) keys of their own, each under its own HKDF
context.
"""

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select

from luffy.core.accounts import identifier_taken
from luffy.core.models import User
from luffy.extensions import db

KEY_INFO = b"luffy queued messages v1"  # HKDF's context: this key serves nothing else


class Unreadable(Exception):
    """A queued message that this ``SECRET_KEY`` did not seal, or that was altered."""


def derived_key(info):
    """32 bytes derived from ``SECRET_KEY`` by HKDF-SHA256 for the one use that ``info``
    (HKDF's context) names: no two uses share a key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        current_app.config["SECRET_KEY"].encode())


def fernet(info):
    """The app's Fernet for the use ``info`` names (:func:`derived_key`), built on first use."""
    built = current_app.extensions.setdefault("luffy_fernets", {})
    if info not in built:
        built[info] = Fernet(base64.urlsafe_b64encode(derived_key(info)))
    return built[info]


def _fernet():
    """The Fernet of queued messages."""
    return fernet(KEY_INFO)


def seal(message):
    """``message`` (a dict of strings and numbers) as an encrypted, authenticated token."""
    return _fernet().encrypt(json.dumps(message).encode()).decode()


def unseal(token):
    """The message that :func:`seal` made ``token`` of; :class:`Unreadable` otherwise."""
    try:
        return json.loads(_fernet().decrypt(token))
    except (InvalidToken, TypeError, ValueError):
        raise Unreadable("not sealed with this SECRET_KEY, or altered") from None


def _active(*where):
    return db.session.scalar(select(User.id).where(*where, User.is_active.is_(True))) is not None


def wanted(channel, message):
    """Whether ``message`` (``channel``: ``sms`` or ``email``) may go to its destination now."""
    to, only_to = message["to"], message.get("only_to")
    if only_to is None:
        return True
    if only_to == "account":
        if channel == "sms":
            return _active(User.mobile == to)
        return _active(User.email == to, User.email_verified.is_(True))
    if only_to == "newcomer":
        return not identifier_taken(mobile=to)
    if only_to == "free":
        return not identifier_taken(email=to, exclude_id=message["user"])
    raise ValueError(f"unknown condition {only_to!r}")
