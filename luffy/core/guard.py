"""The guard of protected endpoints: :func:`login_required`, and where a request's
tokens come from.

An access token comes as ``Authorization`` under any ``AUTH_HEADER_TYPES`` scheme
(any case, RFC 9110), else as the access cookie, which a state-changing request must
back with ``X-CSRF-TOKEN`` (double submit); HTTP Basic opens an account too when
``AUTH_BASIC`` is on, its guesses throttled like logins. A refresh token comes in the
body, else as the refresh cookie (with its CSRF header).
"""

import inspect
from functools import wraps

from flask import current_app, request

from luffy import logs
from luffy.core import authentication, tokens
from luffy.core.throttle import password_guesses
from luffy.errors import APIError


def _authorization():
    """The raw ``Authorization`` header as ``(scheme, credentials)``, the scheme lower-cased;
    ``("", "")`` without one. Read raw: werkzeug's parse gives no token for some malformed
    credentials (``Bearer ===.===.===`` reads as auth-params), which must still count."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower(), credentials.strip()


def access_token():
    """The request's access token and the CSRF value it must carry (``None`` when it came
    in a header). A header under an accepted scheme is the credential even when it is
    empty or no JWT: 401 ``token_not_valid``, like any bad token; none at all is
    ``not_authenticated``."""
    config = current_app.config
    scheme, credentials = _authorization()
    if scheme in {name.lower() for name in config["AUTH_HEADER_TYPES"]}:
        if not credentials:
            raise APIError.token_not_valid()
        return credentials, None
    cookie = request.cookies.get(config["JWT_ACCESS_COOKIE_NAME"])
    if not cookie:
        raise APIError.not_authenticated()
    if request.method not in config["JWT_CSRF_METHODS"]:
        return cookie, None
    csrf = request.headers.get(config["JWT_ACCESS_CSRF_HEADER_NAME"])
    if not csrf:
        raise APIError.token_not_valid("Missing CSRF token")
    return cookie, csrf


def refresh_token(presented):
    """The refresh token (``presented`` in the body, else the refresh cookie, which needs
    the CSRF header) and the CSRF value it must carry."""
    if presented:
        return presented, None
    config = current_app.config
    cookie = request.cookies.get(config["JWT_REFRESH_COOKIE_NAME"])
    if not cookie:
        raise APIError.invalid({"refresh": ["Missing data for required field."]})
    csrf = request.headers.get(config["JWT_REFRESH_CSRF_HEADER_NAME"])
    if not csrf:
        raise APIError.token_not_valid("Missing CSRF token")
    return cookie, csrf


def presented_access():
    """The checked access token sent along with a logout (header or cookie), or None: a
    bad or missing one does not stop a logout, and the logout passed its own CSRF check."""
    try:
        raw = access_token()[0] if request.authorization else \
            request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"], "")
        return tokens.check(raw, "access")
    except APIError:
        return None


@password_guesses
def _basic_account(credentials, guard):
    """The account that HTTP Basic credentials open; guesses are throttled like logins."""
    username, password = credentials.username or "", credentials.password or ""
    if len(username) > 254 or len(password) > 1024:  # the login's limits
        raise APIError.invalid({"authorization": ["Identifier or password too long."]})
    return tokens.Account.of(authentication.basic(username, password, guard))


def authenticated():
    """``(account, session_id)``: the :class:`~luffy.core.tokens.Account` the request's
    credentials open and the session of its access token (None for HTTP Basic and for
    tokens that carry none), or 401."""
    if _authorization()[0] == "basic" and current_app.config["AUTH_BASIC"] \
            and request.authorization is not None:  # werkzeug parsed the credentials
        account, sid = _basic_account(request.authorization), None
    else:
        raw, csrf = access_token()
        token = tokens.check(raw, "access", csrf=csrf, account=True)
        account, sid = token.account, token.sid
    logs.identify(account.id)
    return account, sid


def login_required(view):
    """A protected view: it gets the ``account`` that a Bearer access token, the access
    cookie (with CSRF) or, when enabled, HTTP Basic opens; else 401. A view that takes a
    ``current_session`` argument gets its token's session id too."""
    wants_session = "current_session" in inspect.signature(view).parameters

    @wraps(view)
    def guarded(*args, **kwargs):
        account, sid = authenticated()
        if wants_session:
            kwargs["current_session"] = sid
        return view(*args, account=account, **kwargs)

    guarded.luffy_login_required = True  # luffy.openapi documents the credentials and 401
    return guarded
