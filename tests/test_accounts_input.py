"""What a sign-up with a wrong code tells (issue 16, item 2): it is answered with the code
error alone, so only the holder of a live code learns whether a mobile, username or
email is taken.
"""

from tests.accounts import STRONG, errors_of, outbox, register, send_sms  # noqa: F401
from tests.test_accounts_enumeration import statements  # noqa: F401

ALICE, FREE = "13800000001", "13912345678"  # alice's number (the `user` fixture), a free one


# -- 2. a wrong code tells nothing else -------------------------------------------

def test_a_wrong_code_is_answered_alone_whatever_the_other_fields_hold(client, user, outbox):
    assert send_sms(client, FREE).status_code == 202
    code = outbox.code(FREE)
    wrong = "000000" if code != "000000" else "111111"
    forms = [
        {},                                                   # nothing taken
        {"username": "alice"},                                # a taken username
        {"email": "ALICE@example.com"},                       # a taken email
        {"username": "alice", "email": "alice@example.com"},  # both
        {"password": "password123", "re_password": "other"},  # weak, and they differ
    ]
    answers = []
    for extra in forms:
        body = {"mobile": FREE, "sms_code": wrong, "password": STRONG, "re_password": STRONG, **extra}
        answers.append(client.post("/users/register", json=body).get_json())
    # A taken mobile, with no live code of its own (none is ever sent to it for sign-up).
    answers.append(register(client, ALICE, wrong).get_json())
    assert answers == [{"code": "invalid", "detail": answers[0]["detail"],
                        "errors": {"sms_code": ["Wrong or expired code."]}}] * len(answers)
    # The five wrong tries on FREE's code killed it: guessing is bounded.
    assert errors_of(register(client, FREE, code)) == {"sms_code": ["Wrong or expired code."]}


def test_a_wrong_code_never_looks_an_identifier_up(client, user, statements):  # noqa: F811
    answers = []
    for mobile, username, email in ((ALICE, "alice", "alice@example.com"),
                                    (FREE, "nobody", "nobody@example.com")):
        statements.clear()
        answers.append(register(client, mobile, "123456", username=username, email=email).get_json())
        assert not [s for s in statements if "users" in s], statements
    assert answers[0] == answers[1]


def test_the_holder_of_a_live_code_learns_what_is_taken_and_keeps_the_code(client, user, outbox):
    assert send_sms(client, FREE).status_code == 202
    code = outbox.code(FREE)
    errors = errors_of(register(client, FREE, code, username="alice", email="alice@example.com"))
    assert set(errors) == {"username", "email"}
    assert register(client, FREE, code, username="neo").status_code == 201
