"""One address cannot use up a destination's codes: in a rolling 24 hours each client
address sends at most ``CODE_DAILY_LIMIT`` (10) codes, and a destination receives at
most ``CODE_DESTINATION_DAILY_LIMIT`` (30) from all addresses together. Refused
requests count nowhere; a 429 says when a send is allowed again.

Fast, with the peer address of the test client; under gunicorn, from real loopback
source addresses (127.0.0.N: the whole of 127/8 is loopback on Linux).
"""

import http.client
import json

import pytest

from tests.accounts import send_sms
from tests.backends import BROKER_URL, DATABASE_URL, REDIS_URL
from tests.servers import Server, Worker, flask, queue_name, reachable, server_env
from tests.standins import code_in, wait_for

VICTIM = "13800000001"
DAY = 24 * 3600


def assert_throttled_for_a_day(response_status, retry_after):
    assert response_status == 429
    assert DAY - 120 < int(retry_after) <= DAY


def test_other_addresses_still_get_codes_for_a_destination_one_address_used_up(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0).test_client()
    for _ in range(10):
        assert send_sms(client, VICTIM, address="10.6.0.1").status_code == 202
    refused = send_sms(client, VICTIM, address="10.6.0.1")
    assert_throttled_for_a_day(refused.status_code, refused.headers["Retry-After"])
    assert refused.get_json()["code"] == "throttled"
    # The owner, from another address, still gets a code.
    assert send_sms(client, VICTIM, address="10.6.0.2").status_code == 202
    assert len(outbox.to(VICTIM)) == 11


def test_spraying_addresses_is_bounded_by_the_destinations_ceiling(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0).test_client()
    for i in range(30):
        assert send_sms(client, VICTIM, address=f"10.7.0.{i // 10}").status_code == 202
    for address in ("10.7.1.1", "10.7.1.2"):
        refused = send_sms(client, VICTIM, address=address)
        assert_throttled_for_a_day(refused.status_code, refused.headers["Retry-After"])
    assert len(outbox.to(VICTIM)) == 30
    # The refused requests counted nowhere: those addresses send elsewhere at once.
    assert send_sms(client, "13800000002", address="10.7.1.1").status_code == 202


def test_the_ceiling_is_a_setting(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0, CODE_DESTINATION_DAILY_LIMIT=3).test_client()
    for i in range(3):
        assert send_sms(client, VICTIM, address=f"10.8.0.{i}").status_code == 202
    assert send_sms(client, VICTIM, address="10.8.0.9").status_code == 429
    assert len(outbox.to(VICTIM)) == 3


def test_an_address_at_its_cap_is_refused_for_every_destination(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0, CODE_DAILY_LIMIT=3).test_client()
    for i in range(3):
        assert send_sms(client, f"1380000001{i}", address="10.9.0.1").status_code == 202
    refused = send_sms(client, "13800000019", address="10.9.0.1")
    assert_throttled_for_a_day(refused.status_code, refused.headers["Retry-After"])


def test_retry_after_is_the_wait_until_every_limit_allows_a_send(make_app):
    # Both the resend interval (60 s) and the address's daily cap refuse: a day, not a minute.
    client = make_app(CODE_RESEND_INTERVAL=60, CODE_DAILY_LIMIT=1).test_client()
    assert send_sms(client, VICTIM, address="10.10.0.1").status_code == 202
    refused = send_sms(client, VICTIM, address="10.10.0.1")
    assert_throttled_for_a_day(refused.status_code, refused.headers["Retry-After"])
    # The resend interval alone: its own wait.
    refused = send_sms(client, VICTIM, address="10.10.0.2")
    assert refused.status_code == 429 and 55 <= int(refused.headers["Retry-After"]) <= 60


def post_from(port, source, path, body):
    """``(status, Retry-After, json)`` of a POST to 127.0.0.1:``port`` sent from ``source``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(source, 0))
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Retry-After"), json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
def test_under_gunicorn_from_several_loopback_addresses(tmp_path, make_app, request, gateway):
    why = reachable(BROKER_URL)
    if why:
        pytest.skip(why)
    make_app()  # on a real database: empties the tables
    redis_url = REDIS_URL or request.getfixturevalue("redis_server").url
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", redis_url,
                     CODE_RESEND_INTERVAL=0, SMS_WEBHOOK_URL=gateway.url + "/webhook",
                     CELERY_QUEUE=queue_name())
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "victim", "--mobile", VICTIM, "--password", "a long passphrase")
    with Server(env, workers=2, args=("--threads", "2")) as server, \
            Worker(env, tmp_path / "worker.log", pool="prefork"):
        def login_code(source, mobile=VICTIM):
            return post_from(server.port, source, f"/users/sms/{mobile}", {"purpose": "login"})

        # An attacker at 127.0.0.2 spends its ten codes on the victim's number...
        assert [login_code("127.0.0.2")[0] for _ in range(10)] == [202] * 10
        status, retry_after, body = login_code("127.0.0.2")
        assert_throttled_for_a_day(status, retry_after)
        assert body["code"] == "throttled"
        assert login_code("127.0.0.2", "13800000002")[0] == 429  # its cap, whatever the number
        # ...and the victim, at 127.0.0.3, still gets a code and logs in with it.
        assert login_code("127.0.0.3")[0] == 202
        wait_for(lambda: len(gateway.codes_to(VICTIM)) == 11)  # the worker delivers them
        code = code_in(gateway.messages[-1][1])
        status, _, body = post_from(server.port, "127.0.0.3", "/users/login/sms",
                                    {"mobile": VICTIM, "sms_code": code})
        assert status == 200, body
        # Spraying addresses: the number gets 30 codes in all, then none from anywhere.
        sent = 11
        for source in ("127.0.0.4", "127.0.0.5", "127.0.0.6"):
            while sent < 30 and login_code(source)[0] == 202:
                sent += 1
        assert sent == 30
        status, retry_after, _ = login_code("127.0.0.7")
        assert_throttled_for_a_day(status, retry_after)
        wait_for(lambda: len(gateway.codes_to(VICTIM)) >= 30)
    assert len(gateway.codes_to(VICTIM)) == 30
