"""The password rules of a new password (sign-up, reset, change), with zxcvbn.

A password is refused when it is like one of the account's own identifiers (as
Django's similarity validator judges, or holding a long one whole) or when
zxcvbn (Dropbox's strength estimator: dictionaries of common passwords, names and
words, keyboard patterns, dates, l33t) scores it under ``PASSWORD_MIN_STRENGTH``.
Length (8 to 1024) is the schemas' rule.
"""

from difflib import SequenceMatcher

from flask import current_app

SIMILARITY = 0.7  # Django UserAttributeSimilarityValidator's default
SCORED = 72  # zxcvbn's limit (its time grows with length): a longer one is scored by its start
LIKE_IDENTIFIER = "This password is too similar to your username, email or mobile."
TOO_COMMON = "This password is too common or too easy to guess."


def password_problems(password, *identifiers):
    """The messages that refuse ``password`` for an account with ``identifiers``, or []."""
    names = [i.lower() for i in identifiers if i]
    parts = [n.split("@")[0] for n in names if "@" in n]
    if any(_alike(password.lower(), n) for n in names + parts):
        return [LIKE_IDENTIFIER]
    # On first use: its dictionaries are 12 MB that a worker serving only logins and
    # tokens never needs (bench/PROFILE.md, "Memory").
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:SCORED], user_inputs=names + parts)
    if result["score"] < current_app.config["PASSWORD_MIN_STRENGTH"]:
        return [TOO_COMMON]
    return []


def _alike(password, identifier):
    """Django's rule (similarity 0.7 or more), and a long identifier inside the password."""
    if password in identifier or (len(identifier) >= 6 and identifier in password):
        return True
    matcher = SequenceMatcher(a=password, b=identifier)
    return matcher.quick_ratio() >= SIMILARITY and matcher.ratio() >= SIMILARITY
