"""The OpenAPI document: valid, what the contract says, derived from the markers on the views,
built once, and served with its docs page (Swagger UI)."""

from html.parser import HTMLParser
from importlib.metadata import version

import pytest
import schemathesis
from flask import Blueprint, Flask, jsonify
from marshmallow import Schema, fields, validate

from luffy import create_app, openapi
from luffy.core.guard import login_required
from luffy.core.schemas import InputSchema
from luffy.core.throttle import rate_limited
from luffy.markers import answers, body, path, undocumented
from luffy.openapi import DocumentError, build_spec

LOGIN_ERRORS = {400, 401, 413, 415, 429, 503}
WRITE = {400, 413, 415, 503}  # what every endpoint with a body can answer
# API.md's endpoints: (method, path) -> success status, its schema, the error statuses,
# whether the success answer carries tokens (Cache-Control: no-store), the credentials.
CONTRACT = {
    ("post", "/users/login"): (200, ("LoginAnswer", "MfaRequired"), LOGIN_ERRORS, True, None),
    ("post", "/users/login/refresh"): (200, "RefreshAnswer", WRITE | {401}, True, None),
    ("post", "/users/login/verify"): (200, "Empty", WRITE | {401}, False, None),
    ("post", "/users/logout"): (200, "Empty", WRITE | {401}, True, None),
    ("get", "/users/me"): (200, "User", {401, 429, 503}, False, "required"),
    ("post", "/users/password"): (200, "Empty", LOGIN_ERRORS, True, "required"),
    ("get", "/users/mobile/{mobile}"): (200, "MobileState", {400, 429, 503}, False, None),
    ("post", "/users/sms/{mobile}"): (202, "CodeSent", WRITE | {429}, False, None),
    ("post", "/users/login/sms"): (200, ("LoginAnswer", "MfaRequired"), WRITE | {401}, True, None),
    ("post", "/users/register"): (201, "LoginAnswer", WRITE, True, None),
    ("post", "/users/email/code"): (202, "CodeSent", LOGIN_ERRORS, False, "optional"),
    ("post", "/users/email/confirm"): (200, "User", LOGIN_ERRORS, False, "required"),
    ("post", "/users/password/reset"): (200, "Empty", WRITE, True, None),
    ("post", "/users/login/2fa"): (200, "LoginAnswer", LOGIN_ERRORS, True, None),
    ("get", "/users/events"): (200, "Events", {400, 401, 429, 503}, False, "required"),
    ("post", "/users/2fa/totp"): (200, "TotpSecret", LOGIN_ERRORS, True, "required"),
    ("post", "/users/2fa/totp/confirm"): (200, "RecoveryCodes", LOGIN_ERRORS, True, "required"),
    ("post", "/users/2fa/recovery-codes"): (200, "RecoveryCodes", LOGIN_ERRORS, True, "required"),
    ("delete", "/users/2fa"): (200, "Empty", LOGIN_ERRORS, False, "required"),
    ("get", "/users/sessions"): (200, "Sessions", {401, 429, 503}, False, "required"),
    ("delete", "/users/sessions/{session_id}"): (200, "Empty", {400, 401, 404, 429, 503}, False,
                                                 "required"),
    ("delete", "/users/sessions"): (200, "Empty", {401, 429, 503}, False, "required"),
    ("get", "/healthz"): (200, "Health", set(), False, None),
    ("get", "/readyz"): (200, "Readiness", {503}, False, None),
    ("get", "/.well-known/jwks.json"): (200, "JWKS", set(), False, None),
    ("get", "/openapi.json"): (200, None, set(), False, None),
    ("get", "/docs"): (200, None, set(), False, None),
    ("get", "/"): (200, None, set(), False, None),
}
AUTHENTICATED = [{"bearerAuth": []}, {"basicAuth": []}, {"cookieAuth": []}]


@pytest.fixture
def spec(client):
    """The document as the app serves it."""
    return client.get("/openapi.json").get_json()


def operations(spec):
    """``{(method, path): operation}`` of the document."""
    return {(method, path): operation for path, methods in spec["paths"].items()
            for method, operation in methods.items()}


def test_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(spec).validate()  # against the OpenAPI 3.0 meta-schema


def test_every_endpoint_of_the_contract_is_documented_and_nothing_else(spec):
    assert set(operations(spec)) == set(CONTRACT)


@pytest.mark.parametrize("key", CONTRACT, ids=" ".join)
def test_each_operation_answers_as_the_contract_says(spec, key):
    status, schema, errors, no_store, login = CONTRACT[key]
    operation = operations(spec)[key]
    assert {int(code) for code in operation["responses"]} == {status} | errors
    success = operation["responses"][str(status)]
    if isinstance(schema, tuple):  # one of these answers
        assert success["content"] == {"application/json": {"schema": {"oneOf": [
            {"$ref": f"#/components/schemas/{name}"} for name in schema]}}}
    elif schema is not None:
        assert success["content"] == {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{schema}"}}}
    assert ("Cache-Control" in success.get("headers", {})) is no_store
    if no_store:
        assert success["headers"]["Cache-Control"]["schema"]["enum"] == ["no-store"]
    for code in errors:
        error = operation["responses"][str(code)]
        kind = "ReadinessError" if key == ("get", "/readyz") else "Error"
        assert error["content"] == {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{kind}"}}}
        headers = error.get("headers", {})
        assert ("WWW-Authenticate" in headers) is (code == 401)
        assert ("Retry-After" in headers) is (code == 429)
        if code in (401, 429):
            assert next(iter(headers.values()))["required"] is True
    assert operation.get("security") == {None: None, "required": AUTHENTICATED,
                                         "optional": [{}, *AUTHENTICATED]}[login]
    assert operation["summary"] and operation["tags"]


def test_bodies_are_json_or_forms_and_required_when_a_field_is(spec):
    required = {}
    for key, operation in operations(spec).items():
        if "requestBody" in operation:
            body = operation["requestBody"]
            assert set(body["content"]) == {"application/json", "application/x-www-form-urlencoded",
                                            "multipart/form-data"}, key
            (schema,) = {media["schema"]["$ref"] for media in body["content"].values()}
            required[key] = (schema.rpartition("/")[2], body["required"])
    assert required == {
        ("post", "/users/login"): ("Login", True),
        ("post", "/users/login/refresh"): ("Refresh", False),  # the refresh cookie may stand in
        ("post", "/users/login/verify"): ("Verify", True),
        ("post", "/users/logout"): ("Refresh", False),
        ("post", "/users/password"): ("PasswordChange", True),
        ("post", "/users/sms/{mobile}"): ("SmsCodeRequest", False),  # purpose: register
        ("post", "/users/login/sms"): ("SmsLogin", True),
        ("post", "/users/register"): ("Register", True),
        ("post", "/users/email/code"): ("EmailCodeRequest", True),
        ("post", "/users/email/confirm"): ("EmailConfirm", True),
        ("post", "/users/password/reset"): ("PasswordReset", True),
        ("post", "/users/2fa/totp"): ("Password", True),
        ("post", "/users/2fa/totp/confirm"): ("TotpCode", True),
        ("post", "/users/2fa/recovery-codes"): ("PasswordAndCode", True),
        ("delete", "/users/2fa"): ("PasswordAndCode", True),
        ("post", "/users/login/2fa"): ("MfaLogin", True),
    }
    assert spec["components"]["schemas"]["Login"]["required"] == ["password", "username"]


def test_parameters_outside_the_body(spec):
    """The mobile number in the path, the cookie mode's query parameter and the device
    cookie of a login, the refresh cookie with its CSRF header."""
    found = {key: {(p["in"], p["name"], p["required"]) for p in operation.get("parameters", [])}
             for key, operation in operations(spec).items()}
    mobile = {("path", "mobile", True)}
    cookies = {("query", "cookies", False), ("cookie", "luffy_device", False)}
    refresh = {("cookie", "refresh_token_cookie", False), ("header", "X-CSRF-TOKEN", False)}
    assert {key: names for key, names in found.items() if names} == {
        ("get", "/users/mobile/{mobile}"): mobile,
        ("post", "/users/sms/{mobile}"): mobile,
        ("post", "/users/login"): cookies,
        ("post", "/users/login/sms"): cookies,
        ("post", "/users/login/2fa"): cookies,
        ("post", "/users/register"): cookies,
        ("post", "/users/login/refresh"): refresh,
        ("post", "/users/logout"): refresh,
        ("get", "/users/events"): {("query", "before", False)},
        ("delete", "/users/sessions/{session_id}"): {("path", "session_id", True)},
    }
    (parameter,) = spec["paths"]["/users/mobile/{mobile}"]["get"]["parameters"]
    assert "MOBILE_PATTERN" in parameter["description"]  # the Mobile field's own words


def test_credentials_and_answers_come_from_the_schemas(spec):
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth", "cookieAuth"}
    schemas = spec["components"]["schemas"]
    assert schemas["LoginAnswer"]["required"] == ["cart_total", "refresh", "token"]
    assert schemas["Error"]["required"] == ["code", "detail"]
    assert set(schemas["User"]["properties"]) >= {"id", "username", "email", "mobile", "nickname",
                                                  "avatar", "money", "credit"}
    page = spec["paths"]["/"]["get"]["responses"]["200"]["content"]
    assert page == {"text/html": {"schema": {"type": "string"}}}


def test_document_is_built_once_per_app(app, client, monkeypatch):
    monkeypatch.setattr(openapi, "build_spec", lambda app: pytest.fail("rebuilt"))
    first = client.get("/openapi.json").get_json()
    assert client.get("/openapi.json").get_json() == first
    assert client.get("/docs").status_code == 200


# -- the document comes from the markers on the views ------------------------------

class Thing(InputSchema):
    """A body."""

    name = fields.String(required=True)


class Code(Schema):
    """A path."""

    code = fields.String(required=True, validate=validate.Length(equal=4),
                         metadata={"description": "four characters"})


def toy_app(*views):
    """A Flask app with ``views`` routed as ``(rule, method, view)``."""
    toy = Flask(__name__, static_folder=None)  # as luffy's: files come from blueprints
    for rule, method, view in views:
        toy.add_url_rule(rule, view.__name__, view, methods=[method])
    return toy


def test_an_operation_is_what_its_markers_declare():
    @answers(Thing, 201, errors=(503,), no_store=True)
    @login_required
    @rate_limited("LOOKUP_RATE_LIMIT")
    @path(Code)
    @body(Thing)
    def make(code, body, account):
        """Make a thing.

        Not in the summary.
        """

    @answers({"type": "string"}, content="text/plain", tag="files")
    def readme():
        """The readme."""

    spec = build_spec(toy_app(("/things/<code>", "POST", make), ("/readme", "GET", readme)))
    made = spec["paths"]["/things/{code}"]["post"]
    assert made["summary"] == "Make a thing" and "tags" not in made  # no blueprint
    assert set(made["responses"]) == {"201", "400", "401", "413", "415", "429", "503"}
    assert made["responses"]["201"]["headers"]["Cache-Control"]["schema"]["enum"] == ["no-store"]
    assert made["security"] == AUTHENTICATED
    assert made["parameters"] == [{"in": "path", "name": "code", "required": True,
                                   "description": "four characters",
                                   "schema": {"type": "string", "minLength": 4, "maxLength": 4}}]
    assert made["requestBody"]["required"] is True
    assert made["requestBody"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/Thing"}}
    read = spec["paths"]["/readme"]["get"]
    assert read["responses"] == {"200": {"description": "OK", "content": {
        "text/plain": {"schema": {"type": "string"}}}}}
    assert read["tags"] == ["files"] and "security" not in read and "requestBody" not in read


def test_a_view_without_markers_stops_the_app_from_starting():
    def unmarked():
        """Who knows."""

    with pytest.raises(DocumentError, match="/unmarked"):
        build_spec(toy_app(("/unmarked", "GET", unmarked)))


def test_a_url_variable_without_a_path_schema_stops_the_app_from_starting():
    @answers(Thing)
    def loose(code):
        """Takes a code it never checks."""

    with pytest.raises(DocumentError, match="@path"):
        build_spec(toy_app(("/loose/<code>", "GET", loose)))


def test_files_and_undocumented_views_are_left_out():
    @undocumented
    def asset(name):
        """A file."""

    toy = toy_app(("/assets/<name>", "GET", asset))
    toy.register_blueprint(Blueprint("pages", __name__, static_folder="static"))
    assert [rule.rule for rule in toy.url_map.iter_rules()] == ["/assets/<name>", "/static/<path:filename>"]
    assert build_spec(toy)["paths"] == {}


def test_body_and_path_markers_parse_what_they_document():
    @answers(Thing)
    @path(Code)
    @body(Thing)
    def make(code, body):
        """Make a thing."""
        return jsonify({"code": code, "name": body["name"]})

    toy = create_app("testing")
    toy.add_url_rule("/things/<code>", "make", make, methods=["POST"])
    client = toy.test_client()
    assert client.post("/things/abcd", data={"name": "x", "extra": "dropped"}).get_json() == {
        "code": "abcd", "name": "x"}
    assert client.post("/things/abc", json={"name": "x"}).get_json()["errors"] == {
        "code": ["Length must be 4."]}
    assert client.post("/things/abcd", json={}).get_json()["errors"] == {
        "name": ["Missing data for required field."]}


DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class PageAudit(HTMLParser):
    """What a page loads (``src``/``href`` of scripts and links), and anything inline."""

    def __init__(self):
        super().__init__()
        self.scripts, self.stylesheets, self.problems = [], [], []
        self._inline = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"inline {name} on <{tag}>")
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if value.startswith("//") or (value and not value.startswith(("/", "#"))):
                self.problems.append(f"external {value}")
        if tag == "script":
            if "src" in attrs:
                self.scripts.append(attrs["src"])
            self._inline = "script"
        elif tag == "style":
            self._inline = "style"
        elif tag == "link" and attrs.get("rel") == "stylesheet":
            self.stylesheets.append(attrs["href"])

    def handle_endtag(self, tag):
        self._inline = None

    def handle_data(self, data):
        if self._inline and data.strip():
            self.problems.append(f"inline <{self._inline}>")


def audit(client):
    """The docs page, parsed."""
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = PageAudit()
    page.feed(response.get_data(as_text=True))
    return response, page


def served(client, url):
    """The bytes of a file the app serves (the file closed afterwards)."""
    with client.get(url) as response:
        assert response.status_code == 200, url
        return response.get_data()


def test_docs_page_has_a_strict_csp_and_nothing_inline(client):
    response, page = audit(client)
    assert response.headers["Content-Security-Policy"] == DOCS_CSP
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert page.problems == []


def test_docs_page_loads_swagger_ui_from_luffy_itself(client):
    _, page = audit(client)
    assert page.scripts == ["/static/swagger-ui/swagger-ui-bundle.js", "/static/openapi/docs.js"]
    assert "/static/swagger-ui/swagger-ui.css" in page.stylesheets
    for url in page.scripts + page.stylesheets:
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            assert asset.headers["X-Content-Type-Options"] == "nosniff"
            kind = "text/javascript" if url.endswith(".js") else "text/css"
            assert asset.mimetype == kind, url
    assert "SwaggerUIBundle" in served(client, "/static/swagger-ui/swagger-ui-bundle.js").decode()
    init = served(client, "/static/openapi/docs.js").decode()
    assert "SwaggerUIBundle(" in init and "validatorUrl: null" in init


def test_swagger_ui_is_the_packaged_one(client):
    """The files are flask-swagger-ui's, whose version is Swagger UI's own."""
    shipped = (openapi.SWAGGER_UI_DIST / "VERSION").read_text().strip()
    assert shipped == "v" + version("flask-swagger-ui")
    bundle = served(client, "/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle == (openapi.SWAGGER_UI_DIST / "swagger-ui-bundle.js").read_bytes()


@pytest.mark.parametrize("name", ["oauth2-redirect.html", "index.template.html", "../LICENSE",
                                  "..%2Fflask_swagger_ui.py", "VERSION"])
def test_only_the_page_s_swagger_files_are_served(client, name):
    response = client.get(f"/static/swagger-ui/{name}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_docs_page_points_swagger_ui_at_the_document(client):
    page = client.get("/docs").get_data(as_text=True)
    assert 'id="swagger-ui" data-url="/openapi.json"' in page
