"""Throttling of failed password attempts and failed refreshes, through the HTTP API."""

import pytest
from sqlalchemy import func, select

from luffy.auth import services
from luffy.auth.models import User
from luffy.extensions import db, limiter
from tests.conftest import PASSWORD, REDIS_URL, AuthActions

LIMIT = "3 per minute"


@pytest.fixture
def throttled(make_app):
    """An app allowing three failed attempts a minute, with alice in it."""
    app = make_app(LOGIN_RATE_LIMIT=LIMIT, REFRESH_RATE_LIMIT=LIMIT)
    _add_alice(app)
    return app


def _add_alice(app):
    """Create alice unless the (shared) database already holds her."""
    with app.app_context():
        if not db.session.scalar(select(func.count()).select_from(User)):
            services.create_user("alice", PASSWORD, email="Alice@Example.com", mobile="13800000001")


def login(client, username, password, address="10.0.0.1"):
    """POST a login from ``address``."""
    return client.post("/users/login/", json={"username": username, "password": password},
                       environ_overrides={"REMOTE_ADDR": address})


def assert_throttled(response):
    """A 429 in the contract's shape with a Retry-After in whole seconds."""
    assert response.status_code == 429, response.get_json()
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 60
    assert response.get_json() == {
        "code": "throttled", "detail": f"Request was throttled. Expected available in {wait} seconds."}


def test_failed_logins_are_throttled_with_retry_after(throttled):
    client = throttled.test_client()
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))
    # Locked out: even the right password waits (else the lock would tell it apart).
    assert_throttled(login(client, "alice", PASSWORD))


def test_identifier_bucket_is_case_insensitive_across_addresses(throttled):
    client = throttled.test_client()
    for i, variant in enumerate(["Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"]):
        assert login(client, variant, "wrong", address=f"10.0.1.{i}").status_code == 401
    assert_throttled(login(client, "alice@example.COM", "wrong", address="10.0.1.99"))
    # Another identifier of the same account is its own bucket.
    assert login(client, "alice", PASSWORD, address="10.0.1.99").status_code == 200


def test_address_bucket_spans_identifiers(throttled):
    client = throttled.test_client()
    for name in ("bob", "carol", "dave"):
        assert login(client, name, "wrong", address="10.0.2.1").status_code == 401
    assert_throttled(login(client, "erin", "wrong", address="10.0.2.1"))
    assert_throttled(login(client, "alice", PASSWORD, address="10.0.2.1"))
    assert login(client, "alice", PASSWORD, address="10.0.2.2").status_code == 200


def test_successes_do_not_count(throttled):
    client = throttled.test_client()
    for _ in range(6):
        assert login(client, "alice", PASSWORD).status_code == 200
    for _ in range(2):
        assert login(client, "alice", "wrong").status_code == 401
    assert login(client, "alice", PASSWORD).status_code == 200
    assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))


def test_validation_errors_do_not_count(throttled):
    client = throttled.test_client()
    for _ in range(5):
        response = client.post("/users/login/", json={"username": "alice"})
        assert response.status_code == 400
    assert login(client, "alice", PASSWORD).status_code == 200


def test_basic_failures_count_with_login_failures(throttled):
    client = throttled.test_client()
    env = {"REMOTE_ADDR": "10.0.3.1"}
    for _ in range(2):
        response = client.get("/users/me", headers=AuthActions.basic("alice", "wrong"),
                              environ_overrides=env)
        assert response.status_code == 401
    response = client.post("/users/password", headers=AuthActions.basic("alice", "wrong"),
                           json={"old_password": "x", "new_password": "whatever-123"},
                           environ_overrides=env)
    assert response.status_code == 401
    assert_throttled(client.get("/users/me", headers=AuthActions.basic("alice", PASSWORD),
                                environ_overrides=env))
    assert_throttled(login(client, "alice", PASSWORD, address="10.0.3.1"))


def test_bearer_requests_are_not_password_attempts(throttled):
    client = throttled.test_client()
    token = login(client, "alice", PASSWORD).get_json()["token"]
    for _ in range(5):
        assert client.get("/users/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_failed_refreshes_are_throttled_per_address(throttled):
    client = throttled.test_client()
    refresh = login(client, "alice", PASSWORD).get_json()["refresh"]
    env = {"REMOTE_ADDR": "10.0.4.1"}
    for _ in range(3):
        response = client.post("/users/login/refresh", json={"refresh": "not.a.token"},
                               environ_overrides=env)
        assert response.status_code == 401
    assert_throttled(client.post("/users/login/refresh", json={"refresh": refresh},
                                 environ_overrides=env))
    response = client.post("/users/login/refresh", json={"refresh": refresh},
                           environ_overrides={"REMOTE_ADDR": "10.0.4.2"})
    assert response.status_code == 200


def test_successful_refreshes_do_not_count(throttled):
    client = throttled.test_client()
    refresh = login(client, "alice", PASSWORD).get_json()["refresh"]
    for _ in range(6):
        assert client.post("/users/login/refresh", json={"refresh": refresh}).status_code == 200


@pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set LUFFY_TEST_REDIS_URL")
def test_counts_live_in_redis_and_survive_a_new_app(make_app, redis_client):
    first = make_app(LOGIN_RATE_LIMIT=LIMIT)
    _add_alice(first)
    for _ in range(2):
        assert login(first.test_client(), "alice", "wrong").status_code == 401
    assert redis_client.keys("*luffy*login-identifier*"), "no throttle counters in Redis"
    # A second app (a new limiter storage, as in another instance) sees the same counts.
    second = make_app(LOGIN_RATE_LIMIT=LIMIT)
    _add_alice(second)
    client = second.test_client()
    assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))


@pytest.fixture
def dead_storage_app(make_app):
    """An app whose limiter storage is a Redis nobody listens on."""
    app = make_app(LOGIN_RATE_LIMIT=LIMIT, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    _add_alice(app)
    yield app
    # The limiter is one object per process: let the next app start with a live storage.
    limiter._storage_dead = False


def test_dead_limiter_storage_falls_back_to_memory(dead_storage_app):
    client = dead_storage_app.test_client()
    assert login(client, "alice", PASSWORD).status_code == 200
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))
    assert login(client, "alice", PASSWORD, address="10.9.9.9").status_code == 429  # identifier


def test_old_password_guesses_with_a_token_are_throttled(throttled):
    client = throttled.test_client()
    token = login(client, "alice", PASSWORD).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        response = client.post("/users/password", headers=headers,
                               json={"old_password": "guess", "new_password": "a new password"})
        assert response.status_code == 400
    assert_throttled(client.post("/users/password", headers=headers,
                                 json={"old_password": PASSWORD, "new_password": "a new password"}))
