"""One error shape for every failure: ``{"code", "detail"[, "errors"]}``.

Views and services raise :class:`APIError` through its named constructors; the
handlers registered here turn it, and every error of Flask, werkzeug, marshmallow,
SQLAlchemy and redis-py, into that shape. Tokens are decoded by luffy alone
(``luffy.core.tokens.check``), which answers every bad token with ``token_not_valid``
itself: flask-jwt-extended only makes tokens and cookies here, so none of its decode
errors can arise.
"""

import logging

import redis
import sqlalchemy.exc
from flask import jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "No active account found with the given credentials"
BAD_TOKEN = "Token is invalid or expired"

HTTP_CODES = {
    400: ("parse_error", "Malformed request."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("payload_too_large", "Request body is too large."),
    415: ("unsupported_media_type", "Unsupported media type: send JSON or a form."),
    429: ("throttled", "Request was throttled."),
}


class APIError(Exception):
    """An error answered to the client as it is."""

    def __init__(self, status, code, detail, errors=None, headers=None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers = errors, headers or {}

    @classmethod
    def invalid(cls, errors):
        """Field validation failed; ``errors`` maps fields to messages."""
        return cls(400, "invalid", "Invalid input.", errors=errors)

    @classmethod
    def parse_error(cls, detail="Malformed request body."):
        """The body does not parse."""
        return cls(400, "parse_error", detail)

    @classmethod
    def unsupported_media_type(cls):
        """The body is neither JSON nor a form."""
        return cls(415, *HTTP_CODES[415])

    @classmethod
    def authentication_failed(cls):
        """Wrong credentials, unknown or inactive account: always the same words."""
        return cls(401, "authentication_failed", BAD_CREDENTIALS)

    @classmethod
    def not_authenticated(cls):
        """A protected endpoint was called without credentials."""
        return cls(401, *HTTP_CODES[401])

    @classmethod
    def token_not_valid(cls, detail=BAD_TOKEN):
        """A bad, expired, revoked or wrong-type token."""
        return cls(401, "token_not_valid", detail)

    @classmethod
    def throttled(cls, retry_after):
        """Too many attempts: come back in ``retry_after`` seconds (``Retry-After``)."""
        wait = max(1, int(retry_after))
        return cls(429, "throttled", f"Request was throttled. Expected available in {wait} seconds.",
                   headers={"Retry-After": str(wait)})

    @classmethod
    def service_unavailable(cls, what="database"):
        """A dependency the request cannot do without is down."""
        return cls(503, "service_unavailable", f"The {what} is unavailable; try again shortly.")


class PasswordRejected(APIError):
    """A password was checked and refused; ``account`` is the budget it counts against
    (``luffy.core.throttle``), which counts it once (``counted``)."""

    def __init__(self, account, error):
        super().__init__(error.status, error.code, error.detail, error.errors, error.headers)
        self.account = account
        self.counted = False

    @classmethod
    def login(cls, account):
        """Wrong credentials at login or with HTTP Basic: 401 ``authentication_failed``."""
        return cls(account, APIError.authentication_failed())

    @classmethod
    def old_password(cls, account):
        """A wrong old password on a password change: 400 ``invalid``."""
        return cls(account, APIError.invalid({"old_password": ["Wrong password."]}))


def error_response(status, code, detail, errors=None, headers=None, **extra):
    """The one JSON error body, with a ``WWW-Authenticate`` challenge on a 401.

    ``extra`` members (``/readyz`` names its checks) go after ``code`` and ``detail``.
    """
    body = {"code": code, "detail": detail, **extra}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    if status == 401:
        # Only the Bearer scheme is challenged: a Basic challenge would make browsers
        # open their own password dialog over the login page.
        challenge = 'Bearer realm="luffy"'
        if code == "token_not_valid":
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response


def _api_error(e):
    return error_response(e.status, e.code, e.detail, e.errors, e.headers)


def _http_error(e):
    fallback = "server_error" if e.code >= 500 else "invalid"
    code, detail = HTTP_CODES.get(e.code, (fallback, e.description or e.name))
    response = error_response(e.code, code, detail)
    if e.code == 405 and e.valid_methods:
        response.headers["Allow"] = ", ".join(e.valid_methods)
    return response


def _validation_error(e):
    messages = e.messages if isinstance(e.messages, dict) else {"_schema": e.messages}
    return error_response(400, "invalid", "Invalid input.", messages)


def _database_error(e):
    log.error("database unavailable: %s", e.__class__.__name__, exc_info=e)
    return _api_error(APIError.service_unavailable("database"))


def _redis_error(e):
    # Every Redis call that can do without Redis catches its own errors: the traceback
    # names the one that did not.
    log.error("redis unavailable: %s", e.__class__.__name__, exc_info=e)
    return _api_error(APIError.service_unavailable("cache"))


def _server_error(e):
    log.error("unhandled exception", exc_info=e)
    return error_response(500, "server_error", "A server error occurred.")


def register_error_handlers(app):
    """Route every error of every layer to :func:`error_response`."""
    app.register_error_handler(APIError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    for exc in (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                sqlalchemy.exc.TimeoutError):
        app.register_error_handler(exc, _database_error)
    app.register_error_handler(redis.exceptions.ConnectionError, _redis_error)
    app.register_error_handler(redis.exceptions.TimeoutError, _redis_error)
    app.register_error_handler(Exception, _server_error)
