"""What the accounts endpoints take as a mobile number and as an email, and what a
sign-up with a wrong code tells (issue 16, items 1, 2 and 7).

- A mobile number is ASCII digits only, wherever one is taken: a fullwidth, Arabic-Indic
  or Bengali twin of a number is no number (else it is "unregistered", gets codes of
  its own past the real number's throttles, and signs up a second account for it).
- A sign-up with a wrong or expired code is answered with the code error alone: only
  the holder of a live code learns whether a mobile, username or email is taken.
- An email that mail cannot be sent to as it is (a control character, an IP literal or
  another host-by-address domain, what the mail library would change) is refused at
  the request, 400 ``invalid`` naming the field.
"""

from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from luffy.core import codes
from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD, STRONG, AuthActions, add_user, errors_of, register, send_sms
from tests.servers import free_port

ALICE, FREE = "13800000001", "13912345678"  # alice's number (the `user` fixture), a free one
NOT_A_MOBILE = {"mobile": ["Not a valid mobile number."]}
ZEROS = {"fullwidth": "\uff10", "arabic-indic": "\u0660", "bengali": "\u09e6"}


def twin(number, script, part="tail"):
    """``number`` with other-script digits: ``all`` of them, the ``tail`` after its
    first two (which the default pattern's ``^1[3-9]`` wants in ASCII), or the ``last``."""
    start = {"all": 0, "tail": 2, "last": len(number) - 1}[part]
    return number[:start] + "".join(chr(ord(ZEROS[script]) + int(d)) for d in number[start:])


TWINS = [pytest.param(script, part, id=f"{script}-{part}")
         for script in ZEROS for part in ("all", "tail", "last")]


def issue(app, destination, purpose):
    """A live code for ``destination``, as if one had been sent there (a gateway that
    folds digits to ASCII would deliver a twin's code to the real number)."""
    with app.app_context():
        return codes.issue(destination, purpose)


def accounts(app):
    with app.app_context():
        return db.session.scalars(select(User.mobile)).all()


# -- 1. a mobile number is ASCII digits --------------------------------------------

@pytest.mark.parametrize("script, part", TWINS)
def test_a_twin_is_not_looked_up_as_an_unregistered_number(client, user, script, part):
    for number in (ALICE, FREE):
        response = client.get(f"/users/mobile/{quote(twin(number, script, part))}")
        assert errors_of(response) == NOT_A_MOBILE
    assert client.get(f"/users/mobile/{ALICE}").get_json()["registered"] is True


@pytest.mark.parametrize("script, part", TWINS)
@pytest.mark.parametrize("purpose", ["register", "login", "reset"])
def test_a_twin_gets_no_code_and_leaves_the_real_numbers_throttle_alone(client, user, outbox,
                                                                        script, part, purpose):
    for number in (ALICE, FREE):
        response = send_sms(client, quote(twin(number, script, part)), purpose)
        assert errors_of(response) == NOT_A_MOBILE
    assert outbox.messages() == []
    # The refusals counted nowhere: the real number gets its code at once.
    assert send_sms(client, FREE, "register").status_code == 202
    assert len(outbox.to(FREE)) == 1


@pytest.mark.parametrize("script, part", TWINS)
def test_a_registered_numbers_twin_cannot_sign_up(app, client, user, script, part):
    mobile = twin(ALICE, script, part)
    code = issue(app, codes.sms(mobile), "register")
    assert errors_of(register(client, mobile, code)) == NOT_A_MOBILE
    assert accounts(app) == [ALICE]


@pytest.mark.parametrize("script, part", TWINS)
def test_a_twin_cannot_log_in_by_sms(app, client, user, script, part):
    mobile = twin(ALICE, script, part)
    code = issue(app, codes.sms(mobile), "login")
    response = client.post("/users/login/sms", json={"mobile": mobile, "sms_code": code})
    assert errors_of(response) == NOT_A_MOBILE


@pytest.mark.parametrize("script, part", TWINS)
def test_a_twin_cannot_reset_a_password(app, client, user, auth, script, part):
    mobile = twin(ALICE, script, part)
    code = issue(app, codes.sms(mobile), "reset")
    response = client.post("/users/password/reset",
                           json={"username": mobile, "code": code, "new_password": STRONG})
    assert errors_of(response) == {"username": ["Not a valid mobile number."]}
    assert auth.login(password=PASSWORD).status_code == 200


@pytest.mark.parametrize("script, part", TWINS)
def test_a_username_cannot_be_another_numbers_twin(client, outbox, script, part):
    """The sign-up rule that a username is no other person's mobile holds for twins too:
    such a username reads as the number it imitates."""
    assert send_sms(client, FREE).status_code == 202
    code = outbox.code(FREE)
    assert set(errors_of(register(client, FREE, code, username=twin(ALICE, script, part)))) == {"username"}
    assert register(client, FREE, code, username=twin(FREE, script, part)).status_code == 201  # its own


@pytest.mark.parametrize("mobile", [
    twin(FREE, "fullwidth"), twin(FREE, "arabic-indic"), twin(FREE, "bengali", "last"),
    FREE + "\n",      # the old command's pattern ($ before a final newline) took it
    "12345",          # not MOBILE_PATTERN: the command judges like the endpoints now
    "+8613912345678",
])
def test_users_create_takes_a_mobile_as_the_endpoints_do(app, runner, mobile):
    result = runner.invoke(args=["users", "create", "neo", "--password", PASSWORD, "--mobile", mobile])
    assert result.exit_code != 0 and "mobile" in result.output
    assert accounts(app) == []
    result = runner.invoke(args=["users", "create", "neo", "--password", PASSWORD, "--mobile", FREE])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("pattern", [r"^\+?\d{6,15}$", r"^1.{10}$"])
@pytest.mark.parametrize("script", list(ZEROS))
def test_a_deployments_own_pattern_takes_ascii_digits_only(make_app, pattern, script):
    client = make_app(MOBILE_PATTERN=pattern).test_client()
    mobile = twin(FREE, script, "last")
    assert client.get(f"/users/mobile/{FREE}").status_code == 200
    assert errors_of(client.get(f"/users/mobile/{quote(mobile)}")) == NOT_A_MOBILE
    response = client.post("/users/login/sms", json={"mobile": mobile, "sms_code": "123456"})
    assert errors_of(response) == NOT_A_MOBILE


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


def test_a_wrong_code_never_looks_an_identifier_up(client, user, statements):
    answers = []
    for mobile, username, email in ((ALICE, "alice", "alice@example.com"),
                                    (FREE, "nobody", "nobody@example.com")):
        statements.clear()
        answers.append(register(client, mobile, "123456", username=username, email=email).get_json())
        assert not [s for s in statements if "users" in s.sql], statements
    assert answers[0] == answers[1]


def test_the_holder_of_a_live_code_learns_what_is_taken_and_keeps_the_code(client, user, outbox):
    assert send_sms(client, FREE).status_code == 202
    code = outbox.code(FREE)
    errors = errors_of(register(client, FREE, code, username="alice", email="alice@example.com"))
    assert set(errors) == {"username", "email"}
    assert register(client, FREE, code, username="neo").status_code == 201


# -- 7. an email mail can be sent to as it is ---------------------------------------

UNSENDABLE = [
    '"a\x01b"@example.com',      # a control character in a quoted local part
    '"a\x1b[31m"@example.com',   # an escape sequence, quoted
    '"a\\\x7f"@example.com',     # DEL, as a quoted pair
    "a@[127.0.0.1]",             # IP literals: relayed to a host by address
    "a@[10.0.0.1]",
    "a@10.0.0.10",               # the same unbracketed (a numeric top label)
    "a@127.0.0.01",
    "a@localhost",               # a single label: a host of the mail server's network
    '"a..b"@example.com',        # the mail library would drop the quotes: RCPT TO a..b@
]
SENDABLE = [
    "a@example.com", "o'brien+tag@mail.example.org", '"a,b"@example.com', '"a\\"b"@example.com',
    "straße@example.org", "neo@例子.广告", "neo@example.xn--p1ai",
]


@pytest.fixture
def bob(app, client):
    """Bob's Bearer headers; the body field ``password`` (his) is sent where it may be asked."""
    add_user(app, "bob", email="bob@example.com", mobile="13800000002")
    return AuthActions(client).headers("bob")


@pytest.mark.parametrize("email", UNSENDABLE)
def test_an_unsendable_email_is_refused_wherever_one_is_taken(app, client, runner, bob, outbox, email):
    invalid_email = {"email": ["Not a valid email address."]}
    response = client.post("/users/email/code", json={"email": email, "purpose": "reset"})
    assert errors_of(response) == invalid_email
    response = client.post("/users/email/code", headers=bob,
                           json={"email": email, "purpose": "confirm", "password": PASSWORD})
    assert errors_of(response) == invalid_email
    response = client.post("/users/email/confirm", headers=bob, json={"email": email, "code": "123456"})
    assert errors_of(response) == invalid_email
    assert errors_of(register(client, FREE, "123456", email=email))["email"] == invalid_email["email"]
    response = client.post("/users/password/reset",
                           json={"username": email, "code": "123456", "new_password": STRONG})
    assert errors_of(response) == {"username": ["Not a valid email address."]}
    result = runner.invoke(args=["users", "create", "neo", "--password", PASSWORD, "--email", email])
    assert result.exit_code != 0 and "email: Not a valid email address." in result.output
    assert outbox.messages() == []


@pytest.mark.parametrize("email", SENDABLE)
def test_an_unusual_but_sendable_email_is_taken(client, bob, outbox, email):
    response = client.post("/users/email/code", headers=bob,
                           json={"email": email, "purpose": "confirm", "password": PASSWORD})
    assert response.status_code == 202, response.get_json()
    assert len(outbox.to(email.lower())) == 1


class Envelopes:
    """A real SMTP server (aiosmtpd, SMTPUTF8 on) that keeps each message's RCPT TO."""

    def __init__(self):
        self.recipients = []
        outer = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):
                outer.recipients.append(envelope.rcpt_tos)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=True)
        self.controller.start()


@pytest.fixture
def envelopes():
    server = Envelopes()
    yield server
    server.controller.stop()


def test_a_taken_email_reaches_the_mail_server_as_it_was_given(make_app, envelopes):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=envelopes.port,
                   MAIL_DEFAULT_SENDER="luffy <no-reply@luffy.test>")
    add_user(app, "bob", email="bob@example.com", mobile="13800000002")
    client = app.test_client()
    headers = AuthActions(client).headers("bob")
    for email in SENDABLE:
        response = client.post("/users/email/code", headers=headers,
                               json={"email": email, "purpose": "confirm", "password": PASSWORD})
        assert response.status_code == 202, response.get_json()
    assert envelopes.recipients == [[email.lower()] for email in SENDABLE]
