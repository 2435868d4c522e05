"""The OpenAPI 3 document of every endpoint, built from the marshmallow schemas.

apispec's MarshmallowPlugin turns the schemas of :mod:`luffy.core.schemas` and the blueprints' schemas into
components; the table below says which endpoint takes and answers which. The
document is built once per app, when the blueprint is registered, and served at
``GET /openapi.json``. ``GET /docs`` shows it with Swagger UI ("try it out"
included): its files come from the ``flask-swagger-ui`` package and are served by
luffy itself (no CDN), started by luffy's own ``docs.js``, under a CSP that allows
scripts, styles and requests of this origin only, nothing inline.
"""

from importlib.resources import files

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, abort, current_app, jsonify, render_template, send_from_directory

from luffy import ops
from luffy.accounts import schemas as accounts
from luffy.auth import schemas as auth
from luffy.core import schemas

bp = Blueprint("openapi", __name__, template_folder="templates",
               static_folder="static/openapi", static_url_path="/static/openapi")

BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
ERRORS = {
    400: "`invalid` (with `errors` per field) or `parse_error`",
    401: "`authentication_failed`, `not_authenticated` or `token_not_valid`",
    413: "`payload_too_large`: the body is over `MAX_CONTENT_LENGTH`",
    415: "`unsupported_media_type`: the body is neither JSON nor a form",
    429: "`throttled`: too many failed attempts",
    503: "`service_unavailable`: the database or Redis cannot be reached",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "the Bearer challenge", "required": True,
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "required": True,
                          "schema": {"type": "string"}}},
}
NO_STORE = {"Cache-Control": {"description": "token answers are never cached", "required": True,
                              "schema": {"type": "string", "enum": ["no-store"]}}}
WRITE = (400, 413, 415, 503)  # what every endpoint with a body can answer
AUTHENTICATED = [{"bearerAuth": []}, {"basicAuth": []}, {"cookieAuth": []}]
REFRESH_COOKIE = [
    {"in": "cookie", "name": "refresh_token_cookie", "required": False, "schema": {"type": "string"},
     "description": "cookie mode: stands in for `refresh` (with `X-CSRF-TOKEN`)"},
    {"in": "header", "name": "X-CSRF-TOKEN", "required": False, "schema": {"type": "string"},
     "description": "cookie mode: the value of the `csrf_refresh_token` cookie"},
]
# Swagger UI's distribution, as shipped in the flask-swagger-ui wheel (only its files
# are used, not its blueprint, whose page runs an inline script).
SWAGGER_UI_DIST = files("flask_swagger_ui") / "dist"
SWAGGER_UI_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "index.css",
                              "favicon-32x32.png", "favicon-16x16.png"})
# Swagger UI sets styles through the DOM (React style props), which style-src does not
# govern, and its icons are data: SVGs in its stylesheet: nothing inline is allowed.
DOCS_CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",  # "try it out", and the document itself
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",  # Swagger UI's forms never submit: it sends with fetch
))


def _operation(summary, answer, errors=(), body=None, tag="auth", content="application/json",
               error=schemas.ErrorSchema, **extra):
    """One operation: ``answer`` on 200, ``error`` on each status of ``errors``."""
    responses = {"200": {"description": "OK", "content": {content: {"schema": answer}}}}
    for status in sorted(errors):
        responses[str(status)] = {"description": ERRORS[status], "headers": HEADERS.get(status, {}),
                                  "content": {"application/json": {"schema": error}}}
    operation = {"summary": summary, "tags": [tag], "responses": responses, **extra}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            media: {"schema": body} for media in BODY_TYPES}}
    return operation


def _token_answer(operation):
    """Mark the 200 answer of ``operation`` as carrying tokens: ``no-store``."""
    operation["responses"]["200"]["headers"] = NO_STORE
    return operation


def _answered(status, operation):
    """``operation`` with its success answer under ``status`` instead of 200."""
    operation["responses"] = {str(status) if code == "200" else code: answer
                              for code, answer in operation["responses"].items()}
    return operation


MOBILE_PARAMETER = [{"in": "path", "name": "mobile", "required": True, "schema": {"type": "string"},
                     "description": "matches `MOBILE_PATTERN` (default `^1[3-9]\\d{9}$`)"}]
COOKIES_PARAMETER = [{"in": "query", "name": "cookies", "required": False, "schema": {"type": "string"},
                      "description": "`1`/`true`: set the HttpOnly token cookies instead"}]


def _paths():
    """Every endpoint of luffy: path -> method -> operation."""
    s, a, u = schemas, accounts, auth
    html = {"type": "string"}
    return {
        "/users/login/": {"post": _token_answer(_operation(
            "Exchange a username, email or mobile and a password for tokens", s.LoginAnswerSchema,
            (*WRITE, 401, 429), u.LoginSchema, parameters=[{
                "in": "query", "name": "cookies", "required": False, "schema": {"type": "string"},
                "description": "`1`/`true`: also set the HttpOnly token cookies"}]))},
        "/users/login/refresh": {"post": _token_answer(_operation(
            "A new access token (and, with rotation on, a new refresh token)",
            u.RefreshAnswerSchema, (*WRITE, 401, 429), u.RefreshSchema, parameters=REFRESH_COOKIE))},
        "/users/login/verify": {"post": _operation(
            "`{}` when the access or refresh token is live", s.EmptySchema, (*WRITE, 401),
            u.VerifySchema)},
        "/users/logout": {"post": _token_answer(_operation(
            "Kill the refresh token and its family; a presented access token is denied too",
            s.EmptySchema, (*WRITE, 401), u.RefreshSchema, parameters=REFRESH_COOKIE))},
        "/users/me": {"get": _operation(
            "The profile of the authenticated account", s.UserSchema, (401, 429, 503),
            security=AUTHENTICATED)},
        "/users/password": {"post": _token_answer(_operation(
            "Change the password; every session of the account ends", s.EmptySchema,
            (*WRITE, 401, 429), u.PasswordChangeSchema, security=AUTHENTICATED))},
        "/users/mobile/{mobile}": {"get": _operation(
            "Whether a mobile number is registered (limited by `LOOKUP_RATE_LIMIT`)",
            a.MobileStateSchema, (400, 429, 503), tag="accounts", parameters=MOBILE_PARAMETER)},
        "/users/sms/{mobile}": {"post": _answered(202, _operation(
            "Send a code by SMS (`register` by default, `login`, `reset`): 202 whether or not "
            "an account has the number", a.CodeSentSchema, (*WRITE, 429), a.SmsCodeRequestSchema,
            tag="accounts", parameters=MOBILE_PARAMETER))},
        "/users/login/sms": {"post": _token_answer(_operation(
            "Log in with a mobile number and its SMS code (no password)", s.LoginAnswerSchema,
            (*WRITE, 401), a.SmsLoginSchema, tag="accounts", parameters=COOKIES_PARAMETER))},
        "/users/register": {"post": _answered(201, _token_answer(_operation(
            "Sign up with a mobile number and its SMS code: the login answer", s.LoginAnswerSchema,
            WRITE, a.RegisterSchema, tag="accounts", parameters=COOKIES_PARAMETER)))},
        "/users/email/code": {"post": _answered(202, _operation(
            "Send a code by email: `confirm` (needs an access token and the account's "
            "`password`) or `reset`; 202 whether or not a message goes out",
            a.CodeSentSchema, (*WRITE, 401, 429), a.EmailCodeRequestSchema, tag="accounts",
            security=[{}, *AUTHENTICATED]))},
        "/users/email/confirm": {"post": _operation(
            "Set and confirm the account's email with its code: the profile (a confirmed "
            "address it replaces is told)", s.UserSchema,
            (*WRITE, 401), a.EmailConfirmSchema, tag="accounts", security=AUTHENTICATED)},
        "/users/password/reset": {"post": _token_answer(_operation(
            "Set a new password with a reset code; every session of the account ends",
            s.EmptySchema, WRITE, a.PasswordResetSchema, tag="accounts"))},
        "/healthz": {"get": _operation("The process answers", ops.HealthSchema, tag="ops")},
        "/readyz": {"get": _operation("The database and Redis answer", ops.ReadinessSchema, (503,),
                                      tag="ops", error=ops.ReadinessErrorSchema)},
        "/.well-known/jwks.json": {"get": _operation(
            "The public verifying keys (RFC 7517)", ops.JWKSSchema, tag="ops")},
        "/openapi.json": {"get": _operation("This document", {"type": "object"}, tag="docs")},
        "/docs": {"get": _operation("This document as a page", html, tag="docs",
                                    content="text/html")},
        "/": {"get": _operation("The login page", html, tag="docs", content="text/html")},
    }


def build_spec():
    """The OpenAPI 3 document of luffy, as a dict."""
    spec = APISpec(
        title="luffy auth", version="0.1.0", openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "JWT login by username, email or mobile; see API.md for the contract."},
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                   "bearerFormat": "JWT"})
    spec.components.security_scheme("basicAuth", {"type": "http", "scheme": "basic"})
    spec.components.security_scheme("cookieAuth", {
        "type": "apiKey", "in": "cookie", "name": "access_token_cookie",
        "description": "state-changing requests also send `X-CSRF-TOKEN`"})
    for path, operations in _paths().items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.record_once
def _build(state):
    """Build the document once, when the app registers ``bp``."""
    state.app.extensions["luffy_openapi"] = {"spec": build_spec()}


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document."""
    return jsonify(current_app.extensions["luffy_openapi"]["spec"])


@bp.get("/docs")
def docs():
    """The document in Swagger UI; the page itself is static markup, its script a file."""
    info = current_app.extensions["luffy_openapi"]["spec"]["info"]
    response = current_app.make_response(render_template("openapi/docs.html", info=info))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/static/swagger-ui/<name>")
def swagger_ui_static(name):
    """The few files of Swagger UI's distribution that the docs page loads."""
    if name not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(str(SWAGGER_UI_DIST), name)
