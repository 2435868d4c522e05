"""What a view takes and answers, declared on the view itself: the one source of both
the parsing and the OpenAPI document (:mod:`luffy.openapi` reads these markers).

- :func:`body` loads the request body with a marshmallow schema and hands it to the
  view as ``body``; :func:`path` does the same for the URL's variables, and
  :func:`query` for its query string. What is
  parsed is what is documented, so the two cannot drift.
- :func:`answers` declares the success answer and the errors the view's services can
  raise. The rest is read from the other markers: a body can be refused with 400, 413
  and 415, a path with 400; ``login_required`` (:mod:`luffy.core.guard`) adds the
  credentials and 401, and, since HTTP Basic guesses are throttled, 429; the throttle's
  decorators (:mod:`luffy.core.throttle`) add 429.
- :func:`undocumented` marks a view that is no API operation (files of the docs page).
"""

from dataclasses import dataclass
from functools import wraps

from flask import request

from luffy.bodies import load_body
from luffy.core.schemas import ErrorSchema

BODY = "luffy_body"
PATH = "luffy_path"
QUERY = "luffy_query"
ANSWERS = "luffy_answers"
UNDOCUMENTED = "luffy_undocumented"
LOGIN_REQUIRED = "luffy_login_required"  # set by luffy.core.guard.login_required
THROTTLED = "luffy_throttled"  # set by luffy.core.throttle's decorators

# Parameters that the views read outside their body and path.
COOKIE_MODE = {
    "in": "query", "name": "cookies", "required": False, "schema": {"type": "string"},
    "description": "`1`, `true`, `yes` or `on`: set the HttpOnly token cookies, and answer "
                   "no token in the body (as `\"cookies\": true` in the body does)"}
DEVICE_COOKIE = {
    "in": "cookie", "name": "luffy_device", "required": False, "schema": {"type": "string"},
    "description": "the device cookie a login answer sets (signed, HttpOnly, 400 days): a "
                   "browser that sends it is a known device, and not told of as a new one"}
REFRESH_COOKIE = (
    {"in": "cookie", "name": "refresh_token_cookie", "required": False, "schema": {"type": "string"},
     "description": "cookie mode: stands in for `refresh` (with `X-CSRF-TOKEN`)"},
    {"in": "header", "name": "X-CSRF-TOKEN", "required": False, "schema": {"type": "string"},
     "description": "cookie mode: the value of the `csrf_refresh_token` cookie"},
)


@dataclass(frozen=True)
class Answers:
    """What :func:`answers` declares about a view."""

    schema: object  # a marshmallow Schema class, or a JSON schema as a dict
    status: int = 200
    content: str = "application/json"
    errors: tuple = ()
    error: type = ErrorSchema
    no_store: bool = False
    optional_login: bool = False
    parameters: tuple = ()
    tag: str | None = None


def body(schema_class):
    """The view takes a body as ``schema_class`` loads it (JSON or form), as ``body``."""
    schema = schema_class()  # schemas hold no per-call state: built once

    def decorate(view):
        @wraps(view)
        def parsed(*args, **kwargs):
            return view(*args, body=load_body(schema), **kwargs)

        setattr(parsed, BODY, schema_class)
        return parsed

    return decorate


def path(schema_class):
    """The view's URL variables, loaded by ``schema_class`` (a failure is 400 ``invalid``)."""
    schema = schema_class()

    def decorate(view):
        @wraps(view)
        def parsed(*args, **kwargs):
            values = {name: kwargs.pop(name) for name in schema.load_fields}
            return view(*args, **schema.load(values), **kwargs)

        setattr(parsed, PATH, schema_class)
        return parsed

    return decorate


def query(schema_class):
    """The view's query parameters, loaded by ``schema_class`` (a failure is 400
    ``invalid``) and handed to it as keyword arguments."""
    schema = schema_class()

    def decorate(view):
        @wraps(view)
        def parsed(*args, **kwargs):
            return view(*args, **schema.load(request.args.to_dict()), **kwargs)

        setattr(parsed, QUERY, schema_class)
        return parsed

    return decorate


def answers(schema, status=200, **declared):
    """Declare the view's success answer (``schema`` under ``status``) and the rest of
    :class:`Answers`: the ``errors`` its services raise, ``no_store`` for token answers,
    ``optional_login``, extra ``parameters``, a ``tag`` other than its blueprint's."""
    declared = Answers(schema, status, **declared)

    def decorate(view):
        setattr(view, ANSWERS, declared)
        return view

    return decorate


def undocumented(view):
    """Leave ``view`` out of the document: it serves files, not the API."""
    setattr(view, UNDOCUMENTED, True)
    return view
