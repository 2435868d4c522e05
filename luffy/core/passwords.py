"""Password hashing: argon2id for new hashes; werkzeug and Django hashes still verify.

Every check that succeeds against an older or weaker hash hands back a new argon2id
hash, so accounts migrate on their next login.
"""

import base64
import hashlib
import hmac

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from werkzeug.security import check_password_hash

DJANGO_PBKDF2 = "pbkdf2_sha256$"


def init_app(app):
    """Build the app's argon2id hasher at start-up, before any worker thread allocates."""
    config = app.config
    ph = PasswordHasher(
        memory_cost=config["PASSWORD_HASH_MEMORY_COST"],
        time_cost=config["PASSWORD_HASH_TIME_COST"],
        parallelism=config["PASSWORD_HASH_PARALLELISM"],
        type=Type.ID,
    )
    # Checked against unknown accounts so that they cost what a real check costs.
    app.extensions["luffy_hasher"] = (ph, ph.hash("luffy timing equaliser"))


def hasher():
    """The app's hasher and its dummy hash."""
    return current_app.extensions["luffy_hasher"]


def hash_password(password):
    """An argon2id hash of ``password``."""
    return hasher()[0].hash(password)


def verify_password(stored, password):
    """``(ok, outdated)``: whether ``password`` matches ``stored``, and whether the
    stored hash is weaker than today's (the caller re-hashes once it lets the user in)."""
    ph = hasher()[0]
    if stored.startswith("$argon2"):
        try:
            ph.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False, False
        return True, ph.check_needs_rehash(stored)
    if stored.startswith(DJANGO_PBKDF2):
        ok = _check_django_pbkdf2(stored, password,
                                  current_app.config["DJANGO_PBKDF2_MAX_ITERATIONS"])
        if ok is not None:
            return ok, True
    if stored.startswith(("scrypt:", "pbkdf2:")):
        return check_password_hash(stored, password), True
    burn_time(password)  # an unusable or unknown hash costs what a real check costs
    return False, False


def burn_time(password):
    """Spend one argon2id check, so an unknown account answers as slowly as a known one."""
    ph, dummy = hasher()
    try:
        ph.verify(dummy, password)
    except VerificationError:
        pass


def _check_django_pbkdf2(stored, password, max_iterations):
    """Django's ``pbkdf2_sha256$<iterations>$<salt>$<base64 hash>``; ``None`` when the
    hash is malformed or asks for more than ``max_iterations`` (a stored hash must not
    buy an attacker unbounded CPU per login): the caller treats it as unknown."""
    try:
        _, iterations, salt, expected = stored.split("$", 3)
        iterations = int(iterations)
    except ValueError:
        return None
    if not 0 < iterations <= max_iterations:
        return None
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return hmac.compare_digest(base64.b64encode(digest).decode(), expected)
