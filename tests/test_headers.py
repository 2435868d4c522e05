"""Security headers: nosniff everywhere, no-store on tokens, the JSON answers' CSP.

The docs page's CSP is tested in test_openapi.py, the login page's in the browser tests.
"""

import pytest

from tests.conftest import PASSWORD

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def answers(client, auth):
    """One answer of each kind: successes, errors of every layer, and the docs."""
    tokens = auth.tokens()
    other = auth.tokens()  # the logout's own session: a logout ends its access tokens too
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
        "logout": client.post("/users/logout", json={"refresh": other["refresh"]}),
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
