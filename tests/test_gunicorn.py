"""The deployment path: ``gunicorn wsgi:app`` in production configuration, over real HTTP."""

import pytest

from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, request, server_env

pytestmark = pytest.mark.slow
PASSWORD = "a production password"


@pytest.fixture
def server(tmp_path, make_app):
    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL)
    flask(env, "db", "upgrade")
    result = flask(env, "users", "create", "gina", "--email", "Gina@Example.com", "--mobile",
                   "13700000000", "--password", PASSWORD, "--nickname", "Gina")
    assert "created user" in result.stdout
    with Server(env, workers=2) as running:
        yield running


def test_login_refresh_verify_me_logout_over_http(server):
    status, headers, body = request("POST", server.url + "/users/login/",
                                    {"username": "gina@example.com", "password": PASSWORD})
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert set(body) == {"token", "refresh", "cart_total"}

    status, _, me = request("GET", server.url + "/users/me",
                            headers={"Authorization": f"Bearer {body['token']}"})
    assert status == 200 and me["username"] == "gina" and me["nickname"] == "Gina"

    status, _, refreshed = request("POST", server.url + "/users/login/refresh",
                                   {"refresh": body["refresh"]}, form=True)
    assert status == 200 and "access" in refreshed

    for token in (body["token"], refreshed["access"], body["refresh"]):
        assert request("POST", server.url + "/users/login/verify", {"token": token})[0] == 200

    assert request("POST", server.url + "/users/logout", {"refresh": body["refresh"]})[:3:2] == (200, {})
    status, headers, error = request("POST", server.url + "/users/logout", {"refresh": body["refresh"]})
    assert status == 401 and error["code"] == "token_not_valid"
    assert "WWW-Authenticate" in headers


def test_production_answers_errors_as_json(server):
    status, _, body = request("GET", server.url + "/no/such/page")
    assert status == 404 and body == {"code": "not_found", "detail": "Not found."}
    status, _, body = request("POST", server.url + "/users/login/", {"username": "gina", "password": "nope"})
    assert status == 401 and body["code"] == "authentication_failed"
