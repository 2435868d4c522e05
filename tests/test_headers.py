"""Security headers: nosniff everywhere, no-store on tokens, CSPs that the pages satisfy."""

import base64
import hashlib
from html.parser import HTMLParser

import pytest

from tests.conftest import PASSWORD

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def answers(client, auth):
    """One answer of each kind: successes, errors of every layer, and the docs."""
    tokens = auth.tokens()
    bearer = {"Authorization": "Bearer " + tokens["token"]}
    return {
        "login": auth.login(),
        "login failed": auth.login(password="wrong"),
        "refresh": client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}),
        "verify": client.post("/users/login/verify", json={"token": tokens["token"]}),
        "me": client.get("/users/me", headers=bearer),
        "me unauthenticated": client.get("/users/me"),
        "invalid": client.post("/users/login/", json={"username": 1}),
        "unsupported": client.post("/users/login/", data="x", content_type="text/plain"),
        "not found": client.get("/nope"),
        "method": client.put("/users/login/"),
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "jwks": client.get("/.well-known/jwks.json"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
        "logout": client.post("/users/logout", json={"refresh": tokens["refresh"]}),
        "password": client.post("/users/password", headers=bearer,
                                json={"old_password": PASSWORD, "new_password": PASSWORD + "!"}),
    }


@pytest.fixture
def every_answer(client, auth, user):
    """``answers`` of alice's session."""
    return answers(client, auth)


def test_every_answer_has_nosniff_and_no_framing(every_answer):
    for name, response in every_answer.items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["X-Frame-Options"] == "DENY", name


def test_json_answers_have_the_json_csp(every_answer):
    for name, response in every_answer.items():
        if response.mimetype == "application/json":
            assert response.headers["Content-Security-Policy"] == JSON_CSP, name


@pytest.mark.parametrize("name", ["login", "refresh", "logout", "password"])
def test_token_answers_are_not_stored(every_answer, name):
    response = every_answer[name]
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_cookie_login_is_not_stored(client, user):
    response = client.post("/users/login/?cookies=1", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


class PageAudit(HTMLParser):
    """What a page would load or run: scripts, inline styles, handlers, external URLs."""

    def __init__(self):
        super().__init__()
        self.styles, self.problems, self._in_style = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.problems.append("script")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"inline {name}")
            if name in ("src", "href") and value and not value.startswith(("/", "#")):
                self.problems.append(f"external {value}")
            if name in ("src", "href") and value and value.startswith("//"):
                self.problems.append(f"external {value}")
        if tag == "link":
            self.problems.append("link")  # a stylesheet or icon: the CSP forbids loading it
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def test_docs_page_has_a_strict_csp_that_it_satisfies(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "script-src" not in csp and "unsafe" not in response.headers["Content-Security-Policy"]
    audit = PageAudit()
    audit.feed(response.get_data(as_text=True))
    assert audit.problems == []
    assert audit.styles, "the page has its one stylesheet"
    for style in audit.styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["style-src"].split()


def test_docs_page_lists_every_operation(client):
    page = client.get("/docs").get_data(as_text=True)
    spec = client.get("/openapi.json").get_json()
    for path, methods in spec["paths"].items():
        for method in methods:
            assert f'id="{method}-{path}"' in page
