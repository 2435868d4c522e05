"""The OpenAPI 3 document of every endpoint, built from the marshmallow schemas.

apispec's MarshmallowPlugin turns the schemas of :mod:`luffy.auth.schemas` into
components; the table below says which endpoint takes and answers which. The
document is built once per app, when the blueprint is registered, and served at
``GET /openapi.json``; ``GET /docs`` is a page rendered from it on the server: no
script and no CDN, under a CSP that allows only its own stylesheet.
"""

import base64
import hashlib

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify, render_template

from luffy.accounts import schemas as accounts
from luffy.auth import schemas

bp = Blueprint("openapi", __name__, template_folder="templates")

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
DOCS_CSS = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,.path{font-family:ui-monospace,monospace}section{border-top:1px solid #ccc;padding:.5rem 0}"
    ".method{font-weight:bold;text-transform:uppercase;margin-right:.5rem}"
    "table{border-collapse:collapse}td,th{text-align:left;padding:.1rem .8rem .1rem 0;vertical-align:top}"
)


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
    s, a = schemas, accounts
    html = {"type": "string"}
    return {
        "/users/login/": {"post": _token_answer(_operation(
            "Exchange a username, email or mobile and a password for tokens", s.LoginAnswerSchema,
            (*WRITE, 401, 429), s.LoginSchema, parameters=[{
                "in": "query", "name": "cookies", "required": False, "schema": {"type": "string"},
                "description": "`1`/`true`: also set the HttpOnly token cookies"}]))},
        "/users/login/refresh": {"post": _token_answer(_operation(
            "A new access token (and, with rotation on, a new refresh token)",
            s.RefreshAnswerSchema, (*WRITE, 401, 429), s.RefreshSchema, parameters=REFRESH_COOKIE))},
        "/users/login/verify": {"post": _operation(
            "`{}` when the access or refresh token is live", s.EmptySchema, (*WRITE, 401),
            s.VerifySchema)},
        "/users/logout": {"post": _token_answer(_operation(
            "Kill the refresh token and its family; a presented access token is denied too",
            s.EmptySchema, (*WRITE, 401), s.RefreshSchema, parameters=REFRESH_COOKIE))},
        "/users/me": {"get": _operation(
            "The profile of the authenticated account", s.UserSchema, (401, 429, 503),
            security=AUTHENTICATED)},
        "/users/password": {"post": _token_answer(_operation(
            "Change the password; every session of the account ends", s.EmptySchema,
            (*WRITE, 401, 429), s.PasswordChangeSchema, security=AUTHENTICATED))},
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
            "Send a code by email: `confirm` (needs an access token) or `reset`",
            a.CodeSentSchema, (*WRITE, 401, 429), a.EmailCodeRequestSchema, tag="accounts",
            security=[{}, *AUTHENTICATED]))},
        "/users/email/confirm": {"post": _operation(
            "Set and confirm the account's email with its code: the profile", s.UserSchema,
            (*WRITE, 401), a.EmailConfirmSchema, tag="accounts", security=AUTHENTICATED)},
        "/users/password/reset": {"post": _token_answer(_operation(
            "Set a new password with a reset code; every session of the account ends",
            s.EmptySchema, WRITE, a.PasswordResetSchema, tag="accounts"))},
        "/healthz": {"get": _operation("The process answers", s.HealthSchema, tag="ops")},
        "/readyz": {"get": _operation("The database and Redis answer", s.ReadinessSchema, (503,),
                                      tag="ops", error=s.ReadinessErrorSchema)},
        "/.well-known/jwks.json": {"get": _operation(
            "The public verifying keys (RFC 7517)", s.JWKSSchema, tag="ops")},
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


def _ref_name(schema):
    """``LoginSchema`` for ``{"$ref": "#/components/schemas/Login"}``, else the type."""
    return schema["$ref"].rsplit("/", 1)[1] if "$ref" in schema else schema.get("type", "")


def docs_page(spec):
    """What the docs template shows: operations in order, then the schemas' fields."""
    operations = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            operations.append({
                "method": method, "path": path, "op": op,
                "body": _ref_name(next(iter(body.values()))["schema"]) if body else None,
                "body_types": list(body),
                "security": [name for alt in op.get("security", []) for name in alt],
                "responses": [(status, r["description"], ", ".join(r.get("content", {})),
                               " ".join(_ref_name(c["schema"]) for c in r.get("content", {}).values()))
                              for status, r in op["responses"].items()],
            })
    return {"operations": operations, "schemas": spec["components"]["schemas"]}


def _csp(css):
    """A CSP that allows nothing but the page's one inline stylesheet, by its hash."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return ("default-src 'none'; style-src 'sha256-%s'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'" % digest)


@bp.record_once
def _build(state):
    """Build the document and the docs page's data once, when the app registers ``bp``."""
    spec = build_spec()
    state.app.extensions["luffy_openapi"] = {"spec": spec, "page": docs_page(spec),
                                             "csp": _csp(DOCS_CSS)}


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document."""
    return jsonify(current_app.extensions["luffy_openapi"]["spec"])


@bp.get("/docs")
def docs():
    """The document as a page, rendered on the server."""
    built = current_app.extensions["luffy_openapi"]
    response = current_app.make_response(render_template(
        "openapi/docs.html", css=DOCS_CSS, info=built["spec"]["info"], **built["page"]))
    response.headers["Content-Security-Policy"] = built["csp"]
    return response
