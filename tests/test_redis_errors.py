"""Every Redis call a client can trigger outside the throttle, with Redis killed or frozen.

Killed: nothing listens on the port (connection refused). Frozen: a socket that takes
connections and never answers (every command times out), as a stopped redis-server does.
The clients are luffy's own (``redis_from_url``: its timeouts and retry), pointed at
those ports after the tokens were issued. The contract: an access token whose denylist
cannot be read passes, refresh tokens are checked in the database, the login succeeds
with ``"cart_total": null``, ``/readyz`` answers 503 naming both Redis clients, and
every failure is logged; never a 500.
"""

import logging
import socket

import pytest

from luffy.redis_clients import redis_from_url
from tests.accounts import PASSWORD
from tests.servers import free_port

TIMEOUT = 0.1  # seconds: the frozen Redis costs this per attempt


@pytest.fixture(params=["killed", "frozen"])
def dead_redis_url(request):
    """A Redis URL that refuses connections, or one that never answers."""
    if request.param == "killed":
        yield f"redis://127.0.0.1:{free_port()}/0"
        return
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.fixture
def tokens(auth, user):
    """alice's tokens of two logins, issued while Redis answered."""
    return auth.tokens(), auth.tokens()


@pytest.fixture
def redis_down(app, dead_redis_url, tokens):
    """From now on both of the app's Redis clients reach the dead Redis."""
    dead = redis_from_url(dead_redis_url, TIMEOUT)
    app.extensions["luffy_redis"] = {"main": dead, "cart": dead}
    yield
    dead.close()


def assert_error(response, status, code):
    body = response.get_json()
    assert response.status_code == status and response.mimetype == "application/json", response.data
    assert body["code"] == code and isinstance(body["detail"], str)
    return body


def test_login_succeeds_with_a_null_cart(client, tokens, redis_down, caplog):
    response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["cart_total"] is None and body["token"] and body["refresh"]
    assert any("cart store unavailable" in r.getMessage() for r in caplog.records)


def test_verify_lets_a_valid_access_token_through_and_checks_refresh_tokens(client, tokens,
                                                                           redis_down, caplog):
    (first, second) = tokens
    caplog.set_level(logging.WARNING)
    response = client.post("/users/login/verify", json={"token": first["token"]})
    assert response.status_code == 200 and response.get_json() == {}
    assert any(r.levelno == logging.WARNING and "denylist unreadable" in r.getMessage()
               for r in caplog.records)
    assert client.post("/users/login/verify", json={"token": first["refresh"]}).status_code == 200
    assert client.post("/users/logout", json={"refresh": second["refresh"]}).status_code == 200
    response = client.post("/users/login/verify", json={"token": second["refresh"]})
    assert_error(response, 401, "token_not_valid")  # the database still says it is dead


def test_me_and_refresh_answer(client, tokens, redis_down):
    first, _ = tokens
    response = client.get("/users/me", headers={"Authorization": f"Bearer {first['token']}"})
    assert response.status_code == 200 and response.get_json()["username"] == "alice"
    response = client.post("/users/login/refresh", json={"refresh": first["refresh"]})
    assert response.status_code == 200 and response.get_json()["access"]


def test_logout_ends_the_session_though_the_denylist_cannot_be_written(client, tokens,
                                                                       redis_down, caplog):
    first, _ = tokens
    response = client.post("/users/logout", json={"refresh": first["refresh"]},
                           headers={"Authorization": f"Bearer {first['token']}"})
    assert response.status_code == 200 and response.get_json() == {}
    assert any("could not deny access token" in r.getMessage() for r in caplog.records)
    response = client.post("/users/login/refresh", json={"refresh": first["refresh"]})
    assert_error(response, 401, "token_not_valid")
    response = client.post("/users/logout", json={"refresh": first["refresh"]})
    assert_error(response, 401, "token_not_valid")


def test_password_change_ends_sessions_though_the_version_cannot_be_published(client, tokens,
                                                                             redis_down, caplog):
    first, second = tokens
    response = client.post("/users/password",
                           headers={"Authorization": f"Bearer {first['token']}"},
                           json={"old_password": PASSWORD, "new_password": PASSWORD + " anew"})
    assert response.status_code == 200, response.data
    assert any("could not publish token version" in r.getMessage() for r in caplog.records)
    # /users/me checks the token version in the database.
    response = client.get("/users/me", headers={"Authorization": f"Bearer {second['token']}"})
    assert_error(response, 401, "token_not_valid")
    response = client.post("/users/login/refresh", json={"refresh": second["refresh"]})
    assert_error(response, 401, "token_not_valid")


def test_readyz_names_both_redis_clients(client, redis_down):
    body = assert_error(client.get("/readyz"), 503, "service_unavailable")
    assert body["checks"] == {"database": "ok", "redis": "unavailable", "cart_redis": "unavailable"}
    assert client.get("/healthz").status_code == 200
