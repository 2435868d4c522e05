"""Password hashing: argon2id for new hashes; werkzeug and Django hashes still verify.

Every check that succeeds against an older or weaker hash hands back a new argon2id
hash, so accounts migrate on their next login. Django's default ``PASSWORD_HASHERS``
formats (accounts imported by ``flask users import-django``): ``pbkdf2_sha256`` and
``pbkdf2_sha1`` (hashlib), ``argon2`` (argon2-cffi, as Django itself uses it),
``bcrypt_sha256`` (the bcrypt package, as Django uses it) and ``scrypt`` (hashlib).
A stored hash asking for more work than the ceilings below is treated as unknown (one
argon2id check, never run): a hash must not buy an attacker unbounded CPU or memory.
"""

import base64
import binascii
import hashlib
import hmac

import bcrypt
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from werkzeug.security import check_password_hash

DJANGO_PBKDF2 = "pbkdf2_sha256$"
# Ceilings on the work a stored Django hash may ask for (Django 5.2's defaults are
# argon2 m=102400 KiB t=2 p=8, bcrypt 12 rounds, scrypt n=2**14 r=8 p=5).
ARGON2_MAX_MEMORY_KIB = 262_144
ARGON2_MAX_TIME_COST = 16
ARGON2_MAX_PARALLELISM = 16
BCRYPT_MAX_ROUNDS = 14
SCRYPT_MAX_MEMORY = 64 * 1024 * 1024  # bytes: 128 * n * r
SCRYPT_MAX_PARALLELISM = 16


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
    check = _DJANGO.get(stored.split("$", 1)[0]) if "$" in stored else None
    if check is not None:
        ok = check(stored, password)
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


# Each Django check answers True/False, or None when the hash is malformed or over a
# ceiling: the caller then treats it as unknown.

def _check_django_pbkdf2(stored, password, digest="sha256"):
    """Django's ``pbkdf2_<digest>$<iterations>$<salt>$<base64 hash>``, at most
    ``DJANGO_PBKDF2_MAX_ITERATIONS`` iterations."""
    try:
        _, iterations, salt, expected = stored.split("$", 3)
        iterations = int(iterations)
    except ValueError:
        return None
    if not 0 < iterations <= current_app.config["DJANGO_PBKDF2_MAX_ITERATIONS"]:
        return None
    derived = hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), iterations)
    return hmac.compare_digest(base64.b64encode(derived).decode(), expected)


def _check_django_pbkdf2_sha1(stored, password):
    return _check_django_pbkdf2(stored, password, "sha1")


def _check_django_argon2(stored, password):
    """Django's ``argon2$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>``: argon2-cffi's
    own encoding behind an ``argon2`` prefix, verified as Django verifies it."""
    encoded = stored[len("argon2"):]
    try:
        params = extract_parameters(encoded)
    except InvalidHashError:
        return None
    if (params.memory_cost > ARGON2_MAX_MEMORY_KIB or params.time_cost > ARGON2_MAX_TIME_COST
            or params.parallelism > ARGON2_MAX_PARALLELISM):
        return None
    try:
        return hasher()[0].verify(encoded, password)
    except VerificationError:
        return False
    except InvalidHashError:
        return None


def _check_django_bcrypt_sha256(stored, password):
    """Django's ``bcrypt_sha256$$2b$<rounds>$<salt+hash>``: bcrypt of the hex SHA-256 of
    the password (no 72-byte truncation), with the bcrypt package as Django uses it."""
    encoded = stored[len("bcrypt_sha256$"):].encode("ascii", "replace")
    try:
        rounds = int(encoded.split(b"$")[2])
    except (IndexError, ValueError):
        return None
    if not 4 <= rounds <= BCRYPT_MAX_ROUNDS:
        return None
    try:
        return bcrypt.checkpw(binascii.hexlify(hashlib.sha256(password.encode()).digest()), encoded)
    except ValueError:
        return None


def _check_django_scrypt(stored, password):
    """Django's ``scrypt$<n>$<salt>$<r>$<p>$<base64 hash>`` (64-byte key), with hashlib."""
    try:
        _, n, salt, r, p, expected = stored.split("$", 5)
        n, r, p = int(n), int(r), int(p)
    except ValueError:
        return None
    if min(n, r, p) < 1 or 128 * n * r > SCRYPT_MAX_MEMORY or p > SCRYPT_MAX_PARALLELISM:
        return None
    try:
        derived = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p,
                                 maxmem=SCRYPT_MAX_MEMORY + 1024 * 1024, dklen=64)
    except ValueError:  # n not a power of 2
        return None
    return hmac.compare_digest(base64.b64encode(derived).decode(), expected)


_DJANGO = {
    "pbkdf2_sha256": _check_django_pbkdf2,
    "pbkdf2_sha1": _check_django_pbkdf2_sha1,
    "argon2": _check_django_argon2,
    "bcrypt_sha256": _check_django_bcrypt_sha256,
    "scrypt": _check_django_scrypt,
}
