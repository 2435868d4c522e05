"""A rotated refresh token is single-use under real concurrency: gunicorn, threads, the real database."""

import threading
import time
from base64 import b64encode

import pytest

from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, race, request, server_env

pytestmark = pytest.mark.slow
PASSWORD = "a production password"
RACERS = 8


@pytest.fixture
def server(tmp_path, make_app):
    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL,
                     JWT_ROTATE_REFRESH_TOKENS=True)
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "rita", "--email", "rita@example.com", "--password", PASSWORD)
    # Four processes of two threads each: all eight requests can be in flight at once.
    with Server(env, workers=4, args=("--threads", "2")) as running:
        yield running


def test_concurrent_refreshes_of_one_token_give_exactly_one_success(server):
    status, _, tokens = request("POST", server.url + "/users/login/",
                                {"username": "rita", "password": PASSWORD})
    assert status == 200, tokens
    answers = race(server.url + "/users/login/refresh", [{"refresh": tokens["refresh"]}] * RACERS)
    statuses = sorted(status for status, _, _ in answers)
    winners = [body for status, _, body in answers if status == 200]
    assert len(winners) == 1, statuses
    assert set(winners[0]) == {"access", "refresh"}
    # The losers presented a token that was already used: refused as reuse, never a 500.
    assert all(status == 401 for status in statuses if status != 200), statuses
    assert all(body["code"] == "token_not_valid" for status, _, body in answers if status == 401)
    # And the used token stays dead.
    status, _, body = request("POST", server.url + "/users/login/refresh", {"refresh": tokens["refresh"]})
    assert status == 401 and body["code"] == "token_not_valid"


CHAINS = 20


def _rotating_chains(server, stop, n=CHAINS):
    """``n`` logins of rita, each refreshed in a loop by its own thread until ``stop`` is set
    or a refresh is refused; every chain's newest tokens are kept in ``latest[i]``."""
    latest = []
    for _ in range(n):
        status, _, tokens = request("POST", server.url + "/users/login/",
                                    {"username": "rita", "password": PASSWORD})
        assert status == 200, tokens
        latest.append({"refresh": tokens["refresh"], "access": tokens["token"]})

    def rotate(i):
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            status, _, body = request("POST", server.url + "/users/login/refresh",
                                      {"refresh": latest[i]["refresh"]})
            if status != 200:
                assert status == 401, body
                return
            latest[i] = body

    threads = [threading.Thread(target=rotate, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    return latest, threads


def _assert_no_chain_survives(server, latest):
    for tokens in latest:  # the newest of each chain: the one a leak would leave alive
        status, _, body = request("POST", server.url + "/users/login/refresh",
                                  {"refresh": tokens["refresh"]})
        assert status == 401, f"a refresh token minted in flight survived: {body}"


def test_refreshes_in_flight_cannot_outrun_a_password_change(server):
    stop = threading.Event()
    latest, threads = _rotating_chains(server, stop)
    time.sleep(0.5)  # every chain is rotating
    status, _, body = request("POST", server.url + "/users/password",
                              {"old_password": PASSWORD, "new_password": "a new production password"},
                              headers={"Authorization": "Basic " + b64encode(
                                  f"rita:{PASSWORD}".encode()).decode()})
    assert status == 200, body
    time.sleep(0.5)  # let the refreshes that were in flight land
    stop.set()
    for thread in threads:
        thread.join(30)
    _assert_no_chain_survives(server, latest)
    for tokens in latest:  # an access token minted in flight carries the old token version
        status, _, _ = request("GET", server.url + "/users/me",
                               headers={"Authorization": f"Bearer {tokens['access']}"})
        assert status == 401


def test_refreshes_in_flight_cannot_outrun_a_logout(server):
    stop = threading.Event()
    latest, threads = _rotating_chains(server, stop)
    time.sleep(0.5)
    for tokens in list(latest):  # log each chain out with whatever token is newest now
        status, _, body = request("POST", server.url + "/users/logout", {"refresh": tokens["refresh"]})
        assert status in (200, 401), body  # 401: rotated meanwhile, which ends the family too
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(30)
    _assert_no_chain_survives(server, latest)
