"""Throttling of password guesses (README, "Throttling"), through the HTTP API.

With ``LOGIN_RATE_LIMIT`` at N failures a window: an address is refused after N
failures; an account has one budget whichever identifier names it, and once it is
spent only the addresses that failed against it are refused, until the account's
failures reach 20 x N. Refreshes are not throttled.
"""

import pytest

from luffy.core.throttle import OWNER_LOCKOUT_FACTOR
from luffy.redis_clients import redis_from_url
from tests.accounts import PASSWORD, AuthActions, add_user
from tests.backends import REDIS_URL

LIMIT = "3 per minute"
N = 3


@pytest.fixture
def throttled(make_app):
    """An app allowing three failed attempts a minute, with alice in it."""
    app = make_app(LOGIN_RATE_LIMIT=LIMIT)
    add_user(app)
    return app


@pytest.fixture
def client(throttled):
    return throttled.test_client()


def login(client, username, password, address="10.0.0.1", **kwargs):
    """POST a login from ``address``."""
    return client.post("/users/login/", json={"username": username, "password": password},
                       environ_overrides={"REMOTE_ADDR": address}, **kwargs)


def assert_throttled(response):
    """A 429 in the contract's shape with a Retry-After in whole seconds."""
    assert response.status_code == 429, response.get_json()
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 60
    assert response.get_json() == {
        "code": "throttled", "detail": f"Request was throttled. Expected available in {wait} seconds."}


def test_an_address_is_refused_after_the_limit_whatever_it_tries(client):
    for name in ("bob", "carol", "dave"):
        assert login(client, name, "wrong", address="10.0.2.1").status_code == 401
    assert_throttled(login(client, "erin", "wrong", address="10.0.2.1"))
    assert_throttled(login(client, "alice", PASSWORD, address="10.0.2.1"))
    assert login(client, "alice", PASSWORD, address="10.0.2.2").status_code == 200


def test_the_owner_still_gets_in_while_others_guess(client):
    # An attacker spends the account's budget from one address, then sprays from others.
    for _ in range(N):
        assert login(client, "alice", "wrong", address="10.6.6.1").status_code == 401
    assert_throttled(login(client, "alice", "wrong", address="10.6.6.1"))
    for i in range(2, 10):
        assert login(client, "alice", "wrong", address=f"10.6.6.{i}").status_code == 401
    # alice, from her laptop, has never failed: her password works.
    assert login(client, "alice", PASSWORD, address="192.0.2.7").status_code == 200


def test_a_spray_gets_one_guess_per_address_once_the_budget_is_spent(client):
    for i in range(N):
        assert login(client, "alice", "wrong", address=f"10.7.0.{i}").status_code == 401
    # Each of those addresses has failed against alice: refused, even with the password.
    for i in range(N):
        assert_throttled(login(client, "alice", PASSWORD, address=f"10.7.0.{i}"))
    # A new address gets its one guess, then waits too.
    assert login(client, "alice", "wrong", address="10.7.1.1").status_code == 401
    assert_throttled(login(client, "alice", "wrong", address="10.7.1.1"))
    # Other accounts are untouched for those addresses (below their own limit).
    add_user(client.application, "bob", email="bob@example.com", mobile="13800000002")
    assert login(client, "bob", PASSWORD, address="10.7.0.0").status_code == 200


def test_far_beyond_the_limit_every_address_waits(client):
    failures = OWNER_LOCKOUT_FACTOR * N
    for i in range(failures):  # one guess from each of many addresses
        assert login(client, "alice", "wrong", address=f"10.8.{i // 200}.{i % 200}").status_code == 401
    assert_throttled(login(client, "alice", PASSWORD, address="192.0.2.8"))


def test_one_budget_per_account_whichever_identifier(client):
    identifiers = ("alice", "ALICE@example.com", "13800000001")
    for i, identifier in enumerate(identifiers):
        assert login(client, identifier, "wrong", address=f"10.1.0.{i}").status_code == 401
    # Three failures through three identifiers spent alice's one budget: the first
    # address is refused under another of her identifiers.
    assert_throttled(login(client, "alice@EXAMPLE.com", PASSWORD, address="10.1.0.0"))
    assert login(client, "13800000001", PASSWORD, address="10.1.0.9").status_code == 200


def test_an_unknown_identifier_counts_under_its_normalised_form(client):
    for i, name in enumerate(("Nobody@Example.com", "nobody@example.com", "NOBODY@EXAMPLE.COM")):
        assert login(client, name, "wrong", address=f"10.2.0.{i}").status_code == 401
    # Like a known account: the budget is spent, an address that failed waits...
    assert_throttled(login(client, "nobody@example.com", "wrong", address="10.2.0.1"))
    # ...and one that did not is let through to fail (nothing tells that it is unknown).
    assert login(client, "nobody@example.com", "wrong", address="10.2.0.9").status_code == 401


def test_a_decoy_basic_header_on_a_login_changes_nothing(client):
    decoy = AuthActions.basic("decoy", "x")
    for i in range(N):
        response = login(client, "alice", "wrong", address=f"10.3.0.{i}",
                         headers={"Authorization": decoy["Authorization"].replace("x", f"x{i}")})
        assert response.status_code == 401
    # The failures counted against alice, the account the login checked.
    assert_throttled(login(client, "alice", PASSWORD, address="10.3.0.0", headers=decoy))


def test_successes_do_not_count(client):
    for _ in range(6):
        assert login(client, "alice", PASSWORD).status_code == 200
    for _ in range(N - 1):
        assert login(client, "alice", "wrong").status_code == 401
    assert login(client, "alice", PASSWORD).status_code == 200
    assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))


def test_validation_errors_do_not_count(client):
    for _ in range(5):
        assert client.post("/users/login/", json={"username": "alice"}).status_code == 400
    assert login(client, "alice", PASSWORD).status_code == 200


def test_basic_failures_count_with_login_failures(client):
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
    assert client.get("/users/me", headers=AuthActions.basic("alice", PASSWORD),
                      environ_overrides={"REMOTE_ADDR": "10.0.3.2"}).status_code == 200


@pytest.mark.parametrize("path, body", [
    ("/users/password", {"old_password": "x", "new_password": "whatever-123"}),
    ("/users/email/code", {"email": "new@example.com", "purpose": "confirm", "password": "x"}),
])
def test_a_wrong_basic_password_on_a_view_that_takes_a_password_counts_once(client, path, body):
    env = {"REMOTE_ADDR": "10.0.3.9"}
    for _ in range(N - 1):  # each counted once: the address is one failure short of its limit
        response = client.post(path, headers=AuthActions.basic("alice", "wrong"), json=body,
                               environ_overrides=env)
        assert response.status_code == 401
    assert login(client, "alice", PASSWORD, address="10.0.3.9").status_code == 200


def test_bearer_requests_are_not_password_attempts(client):
    token = login(client, "alice", PASSWORD).get_json()["token"]
    for _ in range(5):
        assert client.get("/users/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_refreshes_are_not_throttled(client):
    refresh = login(client, "alice", PASSWORD).get_json()["refresh"]
    env = {"REMOTE_ADDR": "10.0.4.1"}  # one NAT, one client sending garbage
    for _ in range(10 * N):
        response = client.post("/users/login/refresh", json={"refresh": "not.a.token"},
                               environ_overrides=env)
        assert response.status_code == 401
    response = client.post("/users/login/refresh", json={"refresh": refresh}, environ_overrides=env)
    assert response.status_code == 200


def test_old_password_guesses_with_a_token_are_throttled(client):
    token = login(client, "alice", PASSWORD).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(N):
        response = client.post("/users/password", headers=headers,
                               json={"old_password": "guess", "new_password": "a new password"})
        assert response.status_code == 400 and "old_password" in response.get_json()["errors"]
    assert_throttled(client.post("/users/password", headers=headers,
                                 json={"old_password": PASSWORD, "new_password": "a new password"}))


@pytest.mark.skipif(not REDIS_URL, reason="needs a real Redis: set LUFFY_TEST_REDIS_URL")
def test_counts_live_in_redis_and_survive_a_new_app(make_app, redis_client):
    first = make_app(LOGIN_RATE_LIMIT=LIMIT)
    add_user(first)
    for _ in range(2):
        assert login(first.test_client(), "alice", "wrong").status_code == 401
    assert redis_client.keys("luffy:LIMITER/fail-*"), "no throttle counters in Redis"
    # A second app (as in another worker or instance) sees the same counts.
    second = make_app(LOGIN_RATE_LIMIT=LIMIT)
    client = second.test_client()
    assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))


def test_counts_live_in_the_apps_main_redis(make_app, redis_client):
    app = make_app(LOGIN_RATE_LIMIT=LIMIT)
    add_user(app)
    assert login(app.test_client(), "alice", "wrong").status_code == 401
    counters = redis_client.keys("luffy:LIMITER/fail-*")
    assert len(counters) == 3, counters  # by address, by account, by the pair
    assert {key.split("/")[1] for key in counters} == {"fail-addr", "fail-acct", "fail-pair"}


def test_a_dead_redis_falls_back_to_memory(make_app):
    dead = redis_from_url("redis://127.0.0.1:1/0", timeout=0.2)  # as the app would build it
    app = make_app(redis_main=dead, LOGIN_RATE_LIMIT=LIMIT)
    add_user(app)
    client = app.test_client()
    assert login(client, "alice", PASSWORD).status_code == 200
    for _ in range(N):
        assert login(client, "alice", "wrong").status_code == 401
    assert_throttled(login(client, "alice", "wrong"))
    assert login(client, "alice", PASSWORD, address="10.9.9.9").status_code == 200
