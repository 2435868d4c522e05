"""Password hashing: argon2id for new hashes; werkzeug and Django hashes still verify.

Every check that succeeds against an older or weaker hash hands back a new argon2id
hash, so accounts migrate on their next login.
"""

import base64
import ctypes
import ctypes.util
import hashlib
import hmac

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from werkzeug.security import check_password_hash

DJANGO_PBKDF2 = "pbkdf2_sha256$"


def _return_hash_memory_to_the_os():
    """Serve argon2's 19 MiB blocks with mmap, so that each is given back when freed.

    glibc raises its mmap threshold after the first large block is freed; later blocks
    then come from heap arenas (one per thread) that keep them: a gthread worker held
    19 MiB per thread after its first logins (173 MB). A fixed threshold keeps every
    block mmapped (96 MB), at the price of faulting its pages in on each check
    (bench/PROFILE.md has the numbers).
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name and "libc.so" in libc_name:
        M_MMAP_THRESHOLD = -3
        ctypes.CDLL(libc_name).mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def init_app(app):
    """Build the app's argon2id hasher at start-up, before any worker thread allocates."""
    _return_hash_memory_to_the_os()
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
        return _check_django_pbkdf2(stored, password), True
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


def _check_django_pbkdf2(stored, password):
    """Django's ``pbkdf2_sha256$<iterations>$<salt>$<base64 hash>``."""
    try:
        _, iterations, salt, expected = stored.split("$", 3)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(digest).decode(), expected)
