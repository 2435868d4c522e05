"""Every per-address throttle keys an IPv6 client by its /64 and an IPv4 client by its
whole address (an IPv4-mapped IPv6 address is the IPv4 address): the login throttle,
the code send caps and the mobile lookup limit.

Through the API with the peer's address (fast), through ``TRUSTED_PROXIES`` and
X-Forwarded-For, and under gunicorn with real source addresses: IPv4 clients that
reach a dual-stack socket arrive as ``::ffff:127.0.0.N``.
"""

import http.client
import itertools
import json

import pytest

from luffy.core.throttle import address_key
from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, free_port, server_env

MOBILE = "13912345678"
# Two addresses of one /64, one of the next /64.
ONE_64, SAME_64, NEXT_64 = "2001:db8:1:2::a", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:3::a"


@pytest.mark.parametrize("address, key", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::", "2001:db8:1:3::/64"),
    ("::1", "::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("::ffff:cb00:7107", "203.0.113.7"),
    ("unknown", "unknown"),
    ("not:an:address", "not:an:address"),
])
def test_the_key_of_an_address(address, key):
    assert address_key(address) == key


def test_the_key_of_the_requests_client(app):
    with app.test_request_context(environ_base={"REMOTE_ADDR": "2001:db8:7::99"}):
        assert address_key() == "2001:db8:7::/64"


_numbers = itertools.count(13900000001)


def fail_login(client, address):
    """A failed login for a name no other request used: only the address's budget."""
    return client.post("/users/login/", json={"username": f"user{next(_numbers)}", "password": "x"},
                       environ_overrides={"REMOTE_ADDR": address})



def send_code_to_a_new_number(client, address):
    """A code request no other request shares a destination with: only the address's cap."""
    return client.post(f"/users/sms/{next(_numbers)}", json={},
                       environ_overrides={"REMOTE_ADDR": address})


def look_up(client, address):
    return client.get(f"/users/mobile/{MOBILE}", environ_overrides={"REMOTE_ADDR": address})


THROTTLES = {  # a request that counts against its address, and settings that allow it 2
    "login": (fail_login, {"LOGIN_RATE_LIMIT": "2 per minute"}),
    "code sends": (send_code_to_a_new_number, {"CODE_DAILY_LIMIT": 2, "CODE_RESEND_INTERVAL": 0}),
    "mobile lookup": (look_up, {"LOOKUP_RATE_LIMIT": "2 per minute"}),
}


def spend(client, throttle, address):
    """The status of one request that counts against ``address``'s budget."""
    return THROTTLES[throttle][0](client, address).status_code


@pytest.mark.parametrize("throttle", THROTTLES)
def test_addresses_of_one_64_share_a_budget_and_the_next_64_has_its_own(make_app, throttle):
    client = make_app(**THROTTLES[throttle][1]).test_client()
    assert spend(client, throttle, ONE_64) != 429
    assert spend(client, throttle, SAME_64) != 429
    assert spend(client, throttle, "2001:db8:1:2::1234") == 429
    assert spend(client, throttle, NEXT_64) != 429


@pytest.mark.parametrize("throttle", THROTTLES)
def test_an_ipv4_mapped_address_is_its_ipv4_address(make_app, throttle):
    client = make_app(**THROTTLES[throttle][1]).test_client()
    assert spend(client, throttle, "198.51.100.7") != 429
    assert spend(client, throttle, "::ffff:198.51.100.7") != 429
    assert spend(client, throttle, "198.51.100.7") == 429
    # Two IPv4 clients are two budgets, though their mapped forms share a /64.
    assert spend(client, throttle, "::ffff:198.51.100.8") != 429


def test_behind_a_proxy_the_forwarded_address_is_keyed_by_its_64(make_app):
    client = make_app(LOGIN_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=1).test_client()

    def fail(forwarded_for):
        return client.post("/users/login/", json={"username": f"user{next(_numbers)}",
                                                  "password": "x"},
                           headers={"X-Forwarded-For": forwarded_for},
                           environ_overrides={"REMOTE_ADDR": "192.0.2.10"}).status_code

    assert fail(ONE_64) == 401 and fail(SAME_64) == 401
    assert fail("2001:db8:1:2::77") == 429
    assert fail(NEXT_64) == 401


def source_request(port, source, method, path, body=None, headers=None):
    """``(status, json)`` of a request to 127.0.0.1:``port`` sent from ``source``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(source, 0))
    try:
        data = None if body is None else json.dumps(body)
        connection.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.mark.slow
def test_under_gunicorn_real_sources_and_forwarded_ipv6_are_keyed_alike(tmp_path, make_app, request):
    make_app()  # on a real database: empties the tables
    redis_url = REDIS_URL or request.getfixturevalue("redis_server").url
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", redis_url,
                     TRUSTED_PROXIES=1, LOGIN_RATE_LIMIT="2 per minute")
    flask(env, "db", "upgrade")
    dual_stack = free_port()
    # Also on [::]: IPv4 clients reach that socket as ::ffff:127.0.0.N.
    with Server(env, workers=2, args=("--threads", "2", "-b", f"[::]:{dual_stack}")):
        def fail(source, forwarded_for=None):
            headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
            status, _ = source_request(dual_stack, source, "POST", "/users/login/",
                                       {"username": f"user{next(_numbers)}", "password": "x"},
                                       headers)
            return status

        # Real IPv4 sources, seen as IPv4-mapped IPv6: one budget each.
        assert [fail("127.0.0.2"), fail("127.0.0.2"), fail("127.0.0.2")] == [401, 401, 429]
        assert fail("127.0.0.3") == 401
        # IPv6 clients forwarded by the proxy at 127.0.0.4: one budget per /64.
        assert fail("127.0.0.4", ONE_64) == 401 and fail("127.0.0.4", SAME_64) == 401
        assert fail("127.0.0.4", "2001:db8:1:2::77") == 429
        assert fail("127.0.0.4", NEXT_64) == 401
