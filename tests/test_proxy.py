"""``TRUSTED_PROXIES``: which X-Forwarded-For address the per-address throttle counts."""

import pytest

LIMIT = "3 per minute"


def fail_login(client, name, forwarded_for, peer="192.0.2.10"):
    """A failed login for ``name`` arriving from ``peer`` with an X-Forwarded-For header."""
    return client.post("/users/login/", json={"username": name, "password": "wrong"},
                       headers={"X-Forwarded-For": forwarded_for},
                       environ_overrides={"REMOTE_ADDR": peer})


@pytest.mark.parametrize("proxies", [0, None])
def test_without_trusted_proxies_x_forwarded_for_is_ignored(make_app, proxies):
    overrides = {"LOGIN_RATE_LIMIT": LIMIT}
    if proxies is not None:
        overrides["TRUSTED_PROXIES"] = proxies
    client = make_app(**overrides).test_client()
    # Each attempt claims another address; all come from one peer, so one bucket.
    for i in range(3):
        assert fail_login(client, f"user{i}", f"198.51.100.{i}").status_code == 401
    response = fail_login(client, "user9", "198.51.100.99")
    assert response.status_code == 429
    assert response.get_json()["code"] == "throttled"
    # Another peer is another client.
    assert fail_login(client, "user8", "198.51.100.99", peer="192.0.2.11").status_code == 401


def test_one_trusted_proxy_uses_the_right_most_address(make_app):
    client = make_app(LOGIN_RATE_LIMIT=LIMIT, TRUSTED_PROXIES=1).test_client()
    # The client may prepend anything; the proxy appends the address it saw.
    for i in range(3):
        response = fail_login(client, f"user{i}", f"10.{i}.0.1, 203.0.113.5")
        assert response.status_code == 401
    assert fail_login(client, "user9", "1.2.3.4, 203.0.113.5").status_code == 429
    # The same proxy forwarding another client: a bucket of its own.
    assert fail_login(client, "user8", "203.0.113.5, 203.0.113.6").status_code == 401
    assert fail_login(client, "user7", "203.0.113.6").status_code == 401


def test_one_trusted_proxy_sets_remote_addr(make_app):
    app = make_app(TRUSTED_PROXIES=1)
    seen = {}

    @app.get("/_probe_addr")
    def probe():
        from flask import request

        seen["addr"] = request.remote_addr
        return {}

    app.test_client().get("/_probe_addr", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7"},
                          environ_overrides={"REMOTE_ADDR": "192.0.2.10"})
    assert seen["addr"] == "203.0.113.7"
