"""The database and Redis stopped and started under a running gunicorn.

Each test runs its own throwaway PostgreSQL and redis-server (``tests/throwaway.py``),
never the machine's shared ones.
"""

import time

import pytest

from tests import throwaway
from tests.servers import Server, flask, request, server_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(throwaway.available() is not None, reason=str(throwaway.available())),
]
PASSWORD = "an outage-proof password"
SLOW = 10  # seconds: the answers come within 2-3 s; this only catches a hang


@pytest.fixture
def service(postgres, redis_server):
    """gunicorn (two workers) on the throwaway servers, with the account gina."""
    env = server_env(postgres.url, redis_server.url)
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "gina", "--email", "gina@example.com", "--mobile", "13700000000",
          "--password", PASSWORD)
    with Server(env, workers=2) as running:
        yield running


def timed(method, url, body=None, headers=None):
    """``request`` plus how long it took."""
    started = time.monotonic()
    status, headers, answer = request(method, url, body, headers)
    return status, answer, time.monotonic() - started


def login(service, username="gina", password=PASSWORD):
    return timed("POST", service.url + "/users/login/", {"username": username, "password": password})


def test_database_down_is_503_and_back_up_works_without_a_restart(service, postgres):
    status, tokens, _ = login(service)
    assert status == 200, tokens

    postgres.stop()
    for _ in range(3):  # every worker, every pooled connection
        status, body, took = login(service)
        assert status == 503 and body["code"] == "service_unavailable", body
        assert "database" in body["detail"]
        assert took < SLOW, f"login took {took:.1f}s with the database down"
    status, body, took = timed("POST", service.url + "/users/login/refresh", {"refresh": tokens["refresh"]})
    assert status == 503 and body["code"] == "service_unavailable" and took < SLOW
    status, body, took = timed("GET", service.url + "/users/me",
                               headers={"Authorization": f"Bearer {tokens['token']}"})
    assert status == 503 and body["code"] == "service_unavailable" and took < SLOW
    status, body, _ = timed("GET", service.url + "/healthz")
    assert status == 200 and body == {"status": "ok"}
    status, body, took = timed("GET", service.url + "/readyz")
    assert status == 503 and body["code"] == "service_unavailable" and took < SLOW
    assert "database" in body["detail"] and body["checks"]["database"] == "unavailable"
    assert body["checks"]["redis"] == "ok"

    postgres.start()
    status, body, _ = login(service)
    assert status == 200, body
    # Nothing written before the outage is lost: the account, and the refresh token row.
    status, body, _ = timed("POST", service.url + "/users/login/refresh", {"refresh": tokens["refresh"]})
    assert status == 200 and "access" in body, body
    status, me, _ = timed("GET", service.url + "/users/me",
                          headers={"Authorization": f"Bearer {body['access']}"})
    assert status == 200 and me["username"] == "gina"
    assert timed("GET", service.url + "/readyz")[0] == 200


def test_redis_down_logins_still_work_and_tokens_fail_open(service, redis_server):
    status, tokens, _ = login(service)
    assert status == 200 and isinstance(tokens["cart_total"], int), tokens

    redis_server.stop()
    status, fresh, took = login(service)
    assert status == 200 and fresh["cart_total"] is None, fresh
    assert took < SLOW
    status, body, _ = login(service, password="wrong")
    assert status == 401 and body["code"] == "authentication_failed"  # the throttle falls back
    status, body, took = timed("GET", service.url + "/readyz")
    assert status == 503 and "redis" in body["detail"] and body["checks"]["database"] == "ok"
    assert took < SLOW
    # The denylist cannot be read: a valid access token passes (its short life bounds the risk).
    assert timed("POST", service.url + "/users/login/verify", {"token": tokens["token"]})[0] == 200
    status, body, _ = timed("POST", service.url + "/users/login/refresh", {"refresh": tokens["refresh"]})
    assert status == 200 and "access" in body  # refresh tokens live in the database
    status, me, _ = timed("GET", service.url + "/users/me",
                          headers={"Authorization": f"Bearer {fresh['token']}"})
    assert status == 200 and me["username"] == "gina"

    redis_server.start()
    deadline = time.monotonic() + 15
    while True:  # a worker may still be backing off its dead connection
        status, body, _ = login(service)
        if status == 200 and isinstance(body["cart_total"], int) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200 and body["cart_total"] == 0, body
    assert timed("GET", service.url + "/readyz")[0] == 200


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never answers: a database that hangs."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_hanging_database_times_out_as_503(silent_port, scheme):
    env = server_env(f"{scheme}://root@127.0.0.1:{silent_port}/luffy")
    with Server(env, workers=1) as service:
        status, body, took = login(service)
        assert status == 503 and body["code"] == "service_unavailable", body
        assert took < SLOW, f"login hung for {took:.1f}s"
        status, body, took = timed("GET", service.url + "/readyz")
        assert status == 503 and body["checks"]["database"] == "unavailable" and took < SLOW
        assert timed("GET", service.url + "/healthz")[0] == 200


def test_first_request_after_a_quiet_database_restart_succeeds(service, postgres):
    """The pooled connections died while nobody asked: the pool replaces them unseen."""
    status, tokens, _ = login(service)
    assert status == 200, tokens
    for _ in range(4):  # every worker holds a pooled connection
        assert login(service)[0] == 200
    postgres.stop()
    postgres.start()
    headers = {"Authorization": f"Bearer {tokens['token']}"}
    for _ in range(4):  # no 503: each stale connection is noticed at checkout and replaced
        status, me, _ = timed("GET", service.url + "/users/me", headers=headers)
        assert status == 200 and me["username"] == "gina", me
        status, body, _ = timed("POST", service.url + "/users/login/refresh", {"refresh": tokens["refresh"]})
        assert status == 200, body
        assert login(service)[0] == 200
