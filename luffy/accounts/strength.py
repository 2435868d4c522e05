"""The password rules of a new password (sign-up, reset, change), with zxcvbn.

A password is refused when it is like one of the account's own identifiers or when
zxcvbn (Dropbox's strength estimator: dictionaries of common passwords, names and
words, keyboard patterns, dates, l33t) scores it under ``PASSWORD_MIN_STRENGTH``.
Length (8 to 1024) is the schemas' rule.
"""

from flask import current_app
from zxcvbn import zxcvbn

SCORED = 100  # zxcvbn's time grows with length; a longer password is scored by its start
LIKE_IDENTIFIER = "This password is too similar to your username, email or mobile."
TOO_COMMON = "This password is too common or too easy to guess."


def password_problems(password, *identifiers):
    """The messages that refuse ``password`` for an account with ``identifiers``, or []."""
    names = [i.lower() for i in identifiers if i]
    folded = password.lower()
    parts = [n.split("@")[0] for n in names if "@" in n]
    if any(folded == n or (len(n) >= 4 and n in folded) or folded in n for n in names + parts):
        return [LIKE_IDENTIFIER]
    result = zxcvbn(password[:SCORED], user_inputs=names + parts)
    if result["score"] < current_app.config["PASSWORD_MIN_STRENGTH"]:
        return [TOO_COMMON]
    return []
