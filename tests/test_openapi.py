"""The OpenAPI document: valid, complete, built once, and served with its docs page (Swagger UI)."""

from html.parser import HTMLParser
from importlib.metadata import version

import re

import pytest
import schemathesis

from luffy import openapi

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def documented(spec):
    """``{(METHOD, path)}`` of the document, trailing slashes dropped (both answer)."""
    return {(method.upper(), path.rstrip("/") or "/")
            for path, methods in spec["paths"].items() for method in methods}


def test_document_is_valid_openapi_3(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(spec).validate()  # against the OpenAPI 3.0 meta-schema


def test_every_route_is_documented_and_every_operation_routed(app, client):
    routed = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).rstrip("/") or "/")
              for rule in app.url_map.iter_rules() if not rule.endpoint.endswith("static")
              for method in rule.methods & METHODS}
    assert routed == documented(client.get("/openapi.json").get_json())


def test_document_is_built_once_per_app(app, client, monkeypatch):
    monkeypatch.setattr(openapi, "build_spec", lambda: pytest.fail("rebuilt"))
    first = client.get("/openapi.json").get_json()
    assert client.get("/openapi.json").get_json() == first
    assert client.get("/docs").status_code == 200


def test_protected_operations_name_their_credentials(client):
    spec = client.get("/openapi.json").get_json()
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth", "cookieAuth"}
    for path in ("/users/me", "/users/password"):
        (operation,) = spec["paths"][path].values()
        assert {"bearerAuth": []} in operation["security"]
        assert "401" in operation["responses"]


def test_answers_come_from_the_marshmallow_schemas(client):
    spec = client.get("/openapi.json").get_json()
    login = spec["paths"]["/users/login/"]["post"]
    assert set(login["requestBody"]["content"]) >= {"application/json",
                                                    "application/x-www-form-urlencoded"}
    assert login["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginAnswer"}
    assert set(login["responses"]) == {"200", "400", "401", "413", "415", "429", "503"}
    assert spec["components"]["schemas"]["LoginAnswer"]["required"] == ["cart_total", "refresh", "token"]
    assert spec["components"]["schemas"]["Error"]["required"] == ["code", "detail"]
    page = spec["paths"]["/"]["get"]["responses"]["200"]["content"]
    assert page == {"text/html": {"schema": {"type": "string"}}}


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
