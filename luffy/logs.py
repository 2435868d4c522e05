"""Logs: one JSON object a line with ``LOG_JSON`` (production), readable text otherwise.

Every record made under the ``luffy`` logger during a request carries the request id
(a sane incoming ``X-Request-ID``, else a new one, echoed in the answer), the user id
once it is known (:func:`identify`), the method and the path. Each failed request
(and, at DEBUG, every request) ends with one line with its status and duration; each
login attempt ends with one line with its outcome (``success``, ``failure``: a refused
password, ``throttled``, ``unavailable``: an outage, ``invalid`` or ``error``). Bodies
are never logged, anything shaped like a JWT is masked, and so is the mobile number of
a ``/users/mobile/<m>`` or ``/users/sms/<m>`` path (:func:`redact`, which gunicorn's
lines go through too: :class:`Redacted`, installed by gunicorn.conf.py).
"""

import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import current_app, g, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# The path segment that holds a mobile number, as a request line or a path shows it.
MOBILE_IN_PATH = re.compile(r"(/(?:mobile|sms)/)([^/?#\s\"\]]+)")
FIELDS = ("request_id", "user_id", "method", "path", "status", "duration_ms", "event", "outcome")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("luffy.request")


def identify(user_id):
    """From now on, this request's log lines name account ``user_id``."""
    if has_request_context():
        g.user_id = user_id


def second_step():
    """This request's login passed its first factor and waits for its second: its log
    line says ``mfa_required``, not ``success``."""
    if has_request_context():
        g.login_outcome = "mfa_required"


def masked(destination):
    """A mobile number or email as logs show it: ``138****01``, ``al****@example.com``."""
    name, at, domain = destination.partition("@")
    if at:
        return name[:2] + "****" + at + domain
    return destination[:3] + "****" + destination[-2:] if len(destination) > 7 else "****"


def redact(text):
    """``text`` with every JWT-shaped run replaced, and the mobile numbers of paths masked."""
    return MOBILE_IN_PATH.sub(lambda m: m.group(1) + masked(m.group(2)), JWT.sub("[token]", text))


class Redacted(logging.Filter):
    """Passes another library's records (gunicorn's access and error lines) through
    :func:`redact`: the record's message is formatted and masked here."""

    def filter(self, record):
        """Never drops a record; masks its message."""
        record.msg, record.args = redact(record.getMessage()), None
        return True


class RequestContext(logging.Filter):
    """Adds the request's id, user, method and path to each record made in a request."""

    def filter(self, record):
        """Never drops a record; only fills in what is known."""
        if has_request_context():
            for key, value in (("request_id", g.get("request_id")), ("user_id", g.get("user_id")),
                               ("method", request.method), ("path", redact(request.path))):
                if getattr(record, key, None) is None:
                    setattr(record, key, value)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the request's fields."""

    def format(self, record):
        """The record as a JSON line, tokens masked."""
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update({key: getattr(record, key) for key in FIELDS if getattr(record, key, None) is not None})
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [key=value ...]``, tokens masked."""

    def format(self, record):
        """The record as readable text; a path cannot break the line."""
        extra = " ".join(f"{key}={getattr(record, key)!s}".replace("\n", "\\n").replace("\r", "\\r")
                         for key in FIELDS if getattr(record, key, None) is not None)
        return redact(super().format(record) + (f" [{extra}]" if extra else ""))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    @property
    def stream(self):
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def request_id():
    """The incoming ``X-Request-ID`` when it is sane, else a new one."""
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


LOGIN_OUTCOMES = {200: "success", 401: "failure", 429: "throttled", 503: "unavailable"}


def login_outcome(status):
    """What a login's answer says happened: only a 401 is a refused password.

    An outage (503) or a server error is not counted as a failure, so that an outage
    does not look like a burst of password guessing; neither is a malformed request.
    """
    return LOGIN_OUTCOMES.get(status, "error" if status >= 500 else "invalid")


def _begin():
    g.request_id = request_id()
    g.request_started = time.perf_counter()


def _end(response):
    """Echo the request id and log the request's one line (a login's outcome)."""
    if "request_id" not in g:  # a request that failed before _begin ran
        g.request_id = request_id()
    response.headers["X-Request-ID"] = g.request_id
    started = g.get("request_started")
    fields = {"status": response.status_code,
              "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None}
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, LOGIN_EVENT, False):
        outcome = g.get("login_outcome") if response.status_code == 200 else None
        outcome = outcome or login_outcome(response.status_code)
        level = (logging.INFO if outcome in ("success", "mfa_required")
                 else logging.ERROR if response.status_code >= 500 else logging.WARNING)
        log.log(level, "login %s", outcome, extra={**fields, "event": "login", "outcome": outcome})
    else:
        # gunicorn's access log already has every request with its id; the app adds a
        # line of its own for failures (who failed, and how), and for all at DEBUG.
        level = logging.INFO if response.status_code >= 400 else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "request", extra=fields)
    return response


LOGIN_EVENT = "luffy_login_event"


def login_event(view):
    """Mark ``view`` as a login: each of its answers is logged with its outcome."""
    setattr(view, LOGIN_EVENT, True)
    return view


def register_logging(app):
    """Send the ``luffy`` loggers to stderr in the configured format; add the request hooks."""
    logger = logging.getLogger("luffy")
    for old in [h for h in logger.handlers if getattr(h, "luffy", False)]:
        logger.removeHandler(old)  # a second app in one process replaces the first's handler
    handler = StderrHandler()
    handler.luffy = True
    handler.addFilter(RequestContext())
    handler.setFormatter(JSONFormatter() if app.config["LOG_JSON"] else TextFormatter(TEXT_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    app.extensions["luffy_log_handler"] = handler
    werkzeug = logging.getLogger("werkzeug")  # the development server's request lines
    if not any(isinstance(f, Redacted) for f in werkzeug.filters):
        werkzeug.addFilter(Redacted())
    app.before_request(_begin)
    app.after_request(_end)
