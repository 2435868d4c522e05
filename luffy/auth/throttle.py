"""Throttling of password guesses (login and HTTP Basic) and of failed refreshes.

Flask-Limiter counts only failed attempts (``g.credentials_rejected``), per
identifier and per client address, in the shared Redis so that the limits hold
across workers and instances; it falls back to process memory while Redis is down.
"""

import hashlib

from flask import current_app, g, request

from luffy.extensions import client_address, limiter


def attempted_identifier():
    """The identifier a password was offered for, hashed and case-folded."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        identifier = auth.username
    else:
        body = request.get_json(silent=True) if request.is_json else request.form
        identifier = body.get("username") if isinstance(body, dict) else None
    identifier = identifier if isinstance(identifier, str) else ""
    return hashlib.sha256(identifier.lower().encode()).hexdigest()[:32]


def _basic():
    auth = request.authorization
    return auth is not None and auth.type == "basic"


def no_identifier_offered():
    """Only login and HTTP Basic name an identifier with the password they offer."""
    return request.endpoint != "auth.login" and not _basic()


def not_a_password_attempt():
    """Bearer and cookie requests are throttled here only when they offer a password
    (the old one, to ``/users/password``): a stolen token must not buy guesses."""
    return request.endpoint not in ("auth.login", "auth.change_password") and not _basic()


def credentials_rejected(_response):
    """Deduct only when a password was checked and refused."""
    return g.get("credentials_rejected", False)


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _refresh_limit():
    return current_app.config["REFRESH_RATE_LIMIT"]


def _refresh_failed(response):
    return response.status_code == 401


password_guesses = [
    limiter.shared_limit(_login_limit, scope="login-identifier", key_func=attempted_identifier,
                         exempt_when=no_identifier_offered, deduct_when=credentials_rejected),
    limiter.shared_limit(_login_limit, scope="login-address", key_func=client_address,
                         exempt_when=not_a_password_attempt, deduct_when=credentials_rejected),
]
failed_refreshes = limiter.limit(_refresh_limit, key_func=client_address,
                                 deduct_when=_refresh_failed)


def throttle_passwords(view):
    """Apply both password-guess limits to ``view``."""
    for limit in password_guesses:
        view = limit(view)
    return view
