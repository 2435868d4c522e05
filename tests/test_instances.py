"""Two gunicorn instances behind one load balancer: one database, one Redis, one secret.

With ``LUFFY_TEST_DATABASE_URL`` and ``LUFFY_TEST_REDIS_URL`` they run on the real
servers; without, they share a SQLite file and each has its own in-process Redis, so
the tests that need a shared Redis are skipped.
"""

import pytest

from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, request, server_env

pytestmark = pytest.mark.slow
PASSWORD = "a password for two instances"
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="the denylist and throttle are shared through Redis: set LUFFY_TEST_REDIS_URL")


@pytest.fixture
def pair(tmp_path, make_app):
    """Servers A and B (two workers each) with the account hana."""
    make_app()  # on a real database: empties the tables; on a real Redis: flushes it
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/shared.db", REDIS_URL,
                     LOGIN_RATE_LIMIT="3 per minute")
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "hana", "--email", "hana@example.com", "--mobile", "13600000000",
          "--password", PASSWORD)
    with Server(env, workers=2) as a, Server(env, workers=2) as b:
        yield a, b


def call(server, path, body=None, token=None, method="POST"):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    status, _, answer = request(method, server.url + path, body, headers)
    return status, answer


def login(server, password=PASSWORD):
    return call(server, "/users/login/", {"username": "hana", "password": password})


def test_each_accepts_the_others_tokens(pair):
    a, b = pair
    status, tokens = login(a)
    assert status == 200, tokens
    status, me = call(b, "/users/me", token=tokens["token"], method="GET")
    assert status == 200 and me["username"] == "hana"
    assert call(b, "/users/login/verify", {"token": tokens["token"]})[0] == 200
    assert call(b, "/users/login/verify", {"token": tokens["refresh"]})[0] == 200
    status, refreshed = call(b, "/users/login/refresh", {"refresh": tokens["refresh"]})
    assert status == 200
    assert call(a, "/users/me", token=refreshed["access"], method="GET")[0] == 200


def test_logout_on_one_kills_the_refresh_token_on_the_other(pair):
    a, b = pair
    _, tokens = login(a)
    assert call(a, "/users/logout", {"refresh": tokens["refresh"]})[0] == 200
    status, body = call(b, "/users/login/refresh", {"refresh": tokens["refresh"]})
    assert status == 401 and body["code"] == "token_not_valid"
    assert call(b, "/users/login/verify", {"token": tokens["refresh"]})[0] == 401
    assert call(b, "/users/logout", {"refresh": tokens["refresh"]})[0] == 401


def test_password_change_on_one_ends_sessions_on_the_other(pair):
    a, b = pair
    _, tokens = login(a)
    status, _ = call(a, "/users/password", {"old_password": PASSWORD, "new_password": "a brand new password"},
                     token=tokens["token"])
    assert status == 200
    assert call(b, "/users/me", token=tokens["token"], method="GET")[0] == 401
    assert call(b, "/users/login/refresh", {"refresh": tokens["refresh"]})[0] == 401
    assert login(b, "a brand new password")[0] == 200


@needs_redis
def test_access_token_denied_at_logout_on_one_is_refused_by_the_other(pair):
    a, b = pair
    _, tokens = login(a)
    assert call(b, "/users/login/verify", {"token": tokens["token"]})[0] == 200
    status, _ = call(a, "/users/logout", {"refresh": tokens["refresh"]}, token=tokens["token"])
    assert status == 200
    status, body = call(b, "/users/login/verify", {"token": tokens["token"]})
    assert status == 401 and body["code"] == "token_not_valid"
    assert call(b, "/users/me", token=tokens["token"], method="GET")[0] == 401


@needs_redis
def test_failures_on_one_count_on_the_other(pair):
    a, b = pair
    assert login(a, "wrong")[0] == 401
    assert login(a, "wrong")[0] == 401
    assert login(b, "wrong")[0] == 401
    for server in (b, a, b):  # every worker of both instances
        status, body = login(server)
        assert status == 429 and body["code"] == "throttled", body
