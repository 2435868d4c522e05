"""Nothing tells whether an account exists: a reset or login code request, and a reset
or SMS login with a wrong code, do the same work and answer the same for an account
and for no account. (Work, not time: the statements run and the Redis keys written.)"""

import pytest

from tests.accounts import STRONG, send_sms

KNOWN, UNKNOWN = "13800000001", "13912345678"


def redis_kinds(redis_client):
    """The kinds of luffy keys in Redis (``luffy:code``, the throttle's ``sends-dest`` ...)."""
    return sorted(key.split(":")[1] if key.startswith("luffy:code:") else key.split("/")[1]
                  for key in redis_client.keys("luffy:*"))


def test_a_reset_code_request_does_the_same_work_for_no_account(client, user, statements,
                                                                 redis_client, outbox):
    answers, work = [], []
    for mobile, address in ((KNOWN, "10.7.0.1"), (UNKNOWN, "10.7.0.2")):
        redis_client.flushdb()
        statements.clear()
        response = send_sms(client, mobile, "reset", address=address)
        answers.append((response.status_code, response.get_json()))
        work.append((len(statements), redis_kinds(redis_client)))
    assert answers[0] == answers[1] == (202, {"resend_after": 60})
    # In-process (no broker) the task's decision runs inside the request, alike for both.
    assert work[0][0] == work[1][0]
    assert len(outbox.to(KNOWN)) == 1 and outbox.to(UNKNOWN) == []
    # A code is issued for both (no one receives the unknown one), the throttles counted.
    assert work[0][1] == work[1][1] and "code" in work[0][1] and "sends-dest" in work[0][1]


@pytest.mark.parametrize("path, body", [
    ("/users/password/reset", lambda m: {"username": m, "code": "123456", "new_password": STRONG}),
    ("/users/login/sms", lambda m: {"mobile": m, "sms_code": "123456"}),
])
def test_a_wrong_code_never_looks_the_account_up(client, user, statements, path, body):
    answers = []
    for mobile in (KNOWN, UNKNOWN):
        statements.clear()
        response = client.post(path, json=body(mobile))
        answers.append(response.get_json())
        assert not [s for s in statements if "users" in s.sql], statements
    assert answers[0] == answers[1]
