"""A rotated refresh token is single-use under real concurrency: gunicorn, threads, the real database."""

import threading

import pytest

from tests.conftest import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, request, server_env

pytestmark = pytest.mark.slow
PASSWORD = "a production password"
RACERS = 8


@pytest.fixture
def server(tmp_path, make_app):
    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL,
                     JWT_ROTATE_REFRESH_TOKENS=True, REFRESH_RATE_LIMIT="1000 per minute")
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "rita", "--email", "rita@example.com", "--password", PASSWORD)
    # Four processes of two threads each: all eight requests can be in flight at once.
    with Server(env, workers=4, args=("--threads", "2")) as running:
        yield running


def race(url, body, n):
    """POST ``body`` to ``url`` from ``n`` threads released together; their answers."""
    barrier = threading.Barrier(n)
    answers = [None] * n

    def run(i):
        barrier.wait()
        answers[i] = request("POST", url, body)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_concurrent_refreshes_of_one_token_give_exactly_one_success(server):
    status, _, tokens = request("POST", server.url + "/users/login/",
                                {"username": "rita", "password": PASSWORD})
    assert status == 200, tokens
    answers = race(server.url + "/users/login/refresh", {"refresh": tokens["refresh"]}, RACERS)
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
