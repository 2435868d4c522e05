"""Two (or eight) simultaneous sign-ups of one mobile under gunicorn on the real
database give one account, and a 400 to every other."""

import pytest

from tests.backends import BROKER_URL, DATABASE_URL, REDIS_URL
from tests.servers import Server, Worker, drop_queue, flask, queue_name, race, reachable, request, server_env
from tests.standins import wait_for

pytestmark = pytest.mark.slow
MOBILE = "13912345678"
PASSWORD = "a long and unusual passphrase"


def test_concurrent_sign_ups_of_one_mobile_give_one_account(tmp_path, make_app, gateway):
    why = reachable(BROKER_URL)
    if why:
        pytest.skip(why)
    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL,
                     SMS_BACKEND="webhook", SMS_WEBHOOK_URL=gateway.url + "/webhook",
                     CELERY_QUEUE=queue_name())
    flask(env, "db", "upgrade")
    with Server(env, workers=4, args=("--threads", "2")) as server, \
            Worker(env, tmp_path / "worker.log"):
        status, _, body = request("POST", f"{server.url}/users/sms/{MOBILE}", {})
        assert status == 202, body
        (code,) = wait_for(lambda: gateway.codes_to(MOBILE))
        answers = race(server.url + "/users/register", [{
            "mobile": MOBILE, "sms_code": code, "password": PASSWORD, "re_password": PASSWORD}] * 8)
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [201] + [400] * 7, statuses
        assert all(body["code"] == "invalid" and set(body["errors"]) <= {"sms_code", "mobile"}
                   for status, _, body in answers if status == 400)
        status, _, body = request("POST", server.url + "/users/login/",
                                  {"username": MOBILE, "password": PASSWORD})
        assert status == 200, body
    drop_queue(BROKER_URL, env["LUFFY_CELERY_QUEUE"])
    listed = flask(env, "users", "list").stdout
    assert listed.count(MOBILE) == 2  # one account: its username and its mobile
