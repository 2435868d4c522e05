"""Codes of the second factor serve once under real concurrency: gunicorn with four
workers of two threads (one of eight without a real Redis), the real database and Redis."""

import pytest

from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, race, request, server_env
from tests.accounts import code_at

pytestmark = pytest.mark.slow
PASSWORD = "a production password"
RACERS = 8


@pytest.fixture
def server(tmp_path, make_app):
    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL,
                     LOGIN_RATE_LIMIT="100 per minute")
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "rita", "--email", "rita@example.com", "--password", PASSWORD)
    # mfa_tokens live in Redis: without a real one (memory://), one process of eight threads.
    workers, threads = (4, 2) if REDIS_URL else (1, 8)
    with Server(env, workers=workers, args=("--threads", str(threads))) as running:
        yield running


def mfa_token(url):
    status, _, body = request("POST", url + "/users/login/", {"username": "rita", "password": PASSWORD})
    assert status == 200 and body["mfa_required"], body
    return body["mfa_token"]


def test_one_code_and_one_mfa_token_open_one_session_each(server):
    url = server.url
    _, _, tokens = request("POST", url + "/users/login/", {"username": "rita", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {tokens['token']}"}
    _, _, begun = request("POST", url + "/users/2fa/totp", {"password": PASSWORD}, auth)
    secret = begun["secret"]
    status, _, confirmed = request("POST", url + "/users/2fa/totp/confirm",
                                   {"code": code_at(secret)}, auth)
    assert status == 200, confirmed
    codes = confirmed["recovery_codes"]

    # One TOTP code, eight logins waiting for it: one gets in.
    code = code_at(secret, 1)
    answers = race(url + "/users/login/2fa",
                   [{"mfa_token": mfa_token(url), "code": code} for _ in range(RACERS)])
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] + [400] * (RACERS - 1), statuses
    assert all(list(body["errors"]) == ["code"] for status, _, body in answers if status == 400)

    # One mfa_token, eight good recovery codes: one session.
    token = mfa_token(url)
    answers = race(url + "/users/login/2fa",
                   [{"mfa_token": token, "code": codes[i]} for i in range(RACERS)])
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] + [401] * (RACERS - 1), statuses
