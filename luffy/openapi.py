"""The OpenAPI 3 document of every endpoint, derived from the routes themselves.

:func:`init_app` walks the app's URL map once, when the app is built, and turns each
view's markers (:mod:`luffy.markers`: the body and path schemas it parses, the answers
it declares, ``login_required`` and the throttle) into an operation; apispec's
MarshmallowPlugin turns the marshmallow schemas into components. A view with no
marker stops the app from starting, so no endpoint goes undocumented. The document is
served at ``GET /openapi.json``. ``GET /docs`` shows it with Swagger UI ("try it out"
included): its files come from the ``flask-swagger-ui`` package and are served by
luffy itself (no CDN), started by luffy's own ``docs.js``, under a CSP that allows
scripts, styles and requests of this origin only, nothing inline.
"""

import re
from http import HTTPStatus
from importlib.resources import files

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, abort, current_app, jsonify, render_template, send_from_directory

from luffy import markers
from luffy.bodies import FORM_TYPES
from luffy.markers import answers, undocumented

bp = Blueprint("openapi", __name__, template_folder="templates",
               static_folder="static/openapi", static_url_path="/static/openapi")

BODY_TYPES = ("application/json", *FORM_TYPES)  # what luffy.bodies reads
METHODS = ("get", "post", "put", "patch", "delete")  # HEAD and OPTIONS come with them
ERRORS = {
    400: "`invalid` (with `errors` per field) or `parse_error`",
    401: "`authentication_failed`, `not_authenticated` or `token_not_valid`",
    413: "`payload_too_large`: the body is over `MAX_CONTENT_LENGTH`",
    415: "`unsupported_media_type`: the body is neither JSON nor a form",
    429: "`throttled`: too many attempts; `Retry-After` says when to come back",
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
AUTHENTICATED = [{"bearerAuth": []}, {"basicAuth": []}, {"cookieAuth": []}]
# A blueprint's route for its static folder: files, not operations (luffy's app itself
# has no static folder).
STATIC_FILES = (Blueprint.send_static_file,)
# A URL variable, <name> or <converter(args):name>, as apispec-webframeworks' FlaskPlugin
# (and flask-restplus before it) reads it.
VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
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


class DocumentError(Exception):
    """A route the document cannot describe: a view without markers, or a URL variable
    without a path schema. Raised while the app is built, so it never starts like that."""


def summary(view):
    """The first paragraph of ``view``'s docstring, as one line of Markdown."""
    paragraph = (view.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split()).replace("``", "`").rstrip(".")


def error_statuses(view, declared):
    """The error statuses ``view`` can answer: those it declares, and its markers'."""
    statuses = set(declared.errors)
    if getattr(view, markers.BODY, None) is not None:
        statuses |= {400, 413, 415}
    if getattr(view, markers.PATH, None) is not None or getattr(view, markers.QUERY, None) is not None:
        statuses.add(400)
    if getattr(view, markers.LOGIN_REQUIRED, False) or declared.optional_login:
        statuses |= {401, 429}  # HTTP Basic's guesses are throttled like logins
    if getattr(view, markers.THROTTLED, False):
        statuses.add(429)
    return statuses


def responses(view, declared):
    """The success answer and every error answer of ``view``."""
    success = {"description": HTTPStatus(declared.status).phrase,
               "content": {declared.content: {"schema": declared.schema}}}
    if declared.no_store:
        success["headers"] = NO_STORE
    found = {str(declared.status): success}
    for status in sorted(error_statuses(view, declared)):
        found[str(status)] = {"description": ERRORS[status],
                              "content": {"application/json": {"schema": declared.error}}}
        if status in HEADERS:
            found[str(status)]["headers"] = HEADERS[status]
    return found


def operation(rule, view):
    """The OpenAPI operation of ``view``, routed by ``rule``, as its markers declare it."""
    declared = getattr(view, markers.ANSWERS, None)
    if declared is None:
        raise DocumentError(f"{rule.rule} ({rule.endpoint}): the view declares no @answers "
                            "(nor is it @undocumented)")
    body, path = getattr(view, markers.BODY, None), getattr(view, markers.PATH, None)
    if set(rule.arguments) != set(path().load_fields if path else ()):
        raise DocumentError(f"{rule.rule} ({rule.endpoint}): its variables need a @path schema")
    found = {"summary": summary(view), "responses": responses(view, declared)}
    tag = declared.tag or rule.endpoint.rpartition(".")[0]  # by default, the blueprint's name
    if tag:
        found["tags"] = [tag]
    query = getattr(view, markers.QUERY, None)
    parameters = ([{"in": "path", "schema": path}] if path else []) + (
        [{"in": "query", "schema": query}] if query else []) + list(declared.parameters)
    if parameters:
        found["parameters"] = parameters
    if body is not None:
        required = any(field.required for field in body().load_fields.values())
        found["requestBody"] = {"required": required, "content": {
            media: {"schema": body} for media in BODY_TYPES}}
    if getattr(view, markers.LOGIN_REQUIRED, False):
        found["security"] = AUTHENTICATED
    elif declared.optional_login:
        found["security"] = [{}, *AUTHENTICATED]
    return found


def build_spec(app):
    """The OpenAPI 3 document of ``app``'s routes, as a dict."""
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
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "__func__", None) in STATIC_FILES or getattr(view, markers.UNDOCUMENTED, False):
            continue  # files, not operations
        spec.path(path=VARIABLE.sub(r"{\1}", rule.rule), operations={
            method: operation(rule, view) for method in METHODS if method.upper() in rule.methods})
    return spec.to_dict()


def init_app(app):
    """Build ``app``'s document, once, from every route registered so far."""
    app.extensions["luffy_openapi"] = {"spec": build_spec(app)}


@bp.get("/openapi.json")
@answers({"type": "object"}, tag="docs")
def openapi_json():
    """This document (OpenAPI 3)."""
    return jsonify(current_app.extensions["luffy_openapi"]["spec"])


@bp.get("/docs")
@answers({"type": "string"}, content="text/html", tag="docs")
def docs():
    """This document as a page: Swagger UI; the page is static markup, its script a file."""
    info = current_app.extensions["luffy_openapi"]["spec"]["info"]
    response = current_app.make_response(render_template("openapi/docs.html", info=info))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/static/swagger-ui/<name>")
@undocumented
def swagger_ui_static(name):
    """The few files of Swagger UI's distribution that the docs page loads."""
    if name not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(str(SWAGGER_UI_DIST), name)
