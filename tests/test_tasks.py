"""The senders and tasks, in-process (no broker): real SMTP (aiosmtpd) and a local
stand-in of the SMS providers that checks each request as the provider documents it."""

import threading

import pytest
from sqlalchemy import update

from luffy.core.models import User
from luffy.extensions import db

from tests.accounts import add_user, register, send_sms
from tests.standins import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, MailServer, SmsProvider

MOBILE = "13912345678"


@pytest.fixture
def provider():
    server = SmsProvider()
    yield server
    server.close()


@pytest.fixture
def mail():
    server = MailServer()
    yield server
    server.close()


def twilio(provider, **settings):
    return {"SMS_BACKEND": "twilio", "TWILIO_BASE_URL": provider.url, "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM": TWILIO_FROM, **settings}


def test_twilio_gets_the_documented_request_and_sign_up_completes(make_app, provider):
    client = make_app(**twilio(provider)).test_client()
    assert send_sms(client, MOBILE).status_code == 202
    assert provider.rejected == []
    ((to, text),) = provider.messages
    assert to == "+86" + MOBILE and "sign-up" in text
    assert register(client, MOBILE, provider.codes_to(to)[0]).status_code == 201


def test_twilio_with_a_messaging_service(make_app, provider):
    client = make_app(**twilio(provider, TWILIO_FROM="MG" + "1" * 32)).test_client()
    send_sms(client, MOBILE)
    assert provider.rejected == [] and len(provider.messages) == 1


def test_twilio_refuses_wrong_credentials_and_the_task_does_not_retry_a_refusal(make_app, provider):
    client = make_app(**twilio(provider, TWILIO_AUTH_TOKEN="wrong")).test_client()
    assert send_sms(client, MOBILE).status_code == 202  # the request only enqueues
    assert provider.rejected == ["Authenticate"] and provider.messages == []
    assert provider.requests == 1


def test_the_webhook_gets_to_and_text(make_app, provider):
    client = make_app(SMS_BACKEND="webhook", SMS_WEBHOOK_URL=provider.url + "/webhook").test_client()
    send_sms(client, MOBILE)
    ((to, text),) = provider.messages
    assert to == MOBILE and len(provider.codes_to(MOBILE)) == 1


def test_a_provider_down_is_retried_then_given_up(make_app, provider, caplog):
    provider.mode = "down"
    client = make_app(SMS_BACKEND="webhook", SMS_WEBHOOK_URL=provider.url + "/webhook",
                      MESSAGE_MAX_RETRIES=3).test_client()
    assert send_sms(client, MOBILE).status_code == 202
    assert provider.requests == 4  # the first try and three retries (in-process: at once)
    assert "failed (try 4)" in caplog.text


def test_email_goes_through_smtp(make_app, mail):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=mail.port,
                   MAIL_DEFAULT_SENDER="luffy <no-reply@luffy.test>")
    add_user(app)
    client = app.test_client()
    response = client.post("/users/login/", json={"username": "alice", "password": "correct horse battery"})
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    response = client.post("/users/email/code", headers=headers,
                           json={"email": "alice.new@example.com", "purpose": "confirm",
                                 "password": "correct horse battery"})
    assert response.status_code == 202
    (message,) = mail.messages
    assert message["From"] == "luffy <no-reply@luffy.test>" and message["Subject"].startswith("Confirm")
    (code,) = mail.codes_to("alice.new@example.com")
    response = client.post("/users/email/confirm", headers=headers,
                           json={"email": "alice.new@example.com", "code": code})
    assert response.status_code == 200 and response.get_json()["email_verified"] is True


def test_smtp_down_is_retried(make_app, caplog):
    from tests.servers import free_port

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MESSAGE_MAX_RETRIES=2)
    add_user(app)
    client = app.test_client()
    token = client.post("/users/login/", json={"username": "alice", "password": "correct horse battery"})
    response = client.post("/users/email/code", json={"email": "new@example.com", "purpose": "confirm",
                                                      "password": "correct horse battery"},
                           headers={"Authorization": f"Bearer {token.get_json()['token']}"})
    assert response.status_code == 202
    assert "luffy.send_email to ne****@example.com failed (try 3): SMTP server unavailable" in caplog.text


def test_a_late_answer_is_retried_with_the_same_idempotency_key(make_app, provider, caplog):
    """The gateway takes the message but answers after SMS_TIMEOUT, twice: every try of
    the message carries one Idempotency-Key, so the gateway sends it once."""
    provider.late, provider.late_by = 2, 1.0
    client = make_app(SMS_BACKEND="webhook", SMS_WEBHOOK_URL=provider.url + "/webhook",
                      SMS_TIMEOUT=0.3).test_client()
    assert send_sms(client, MOBILE).status_code == 202
    assert provider.requests == 3 and "failed (try 2): SMS provider unavailable: ReadTimeout" in caplog.text
    key = provider.keys[0]
    assert key and provider.keys == [key] * 3
    assert len(provider.messages) == 1  # what the key is for: one SMS, not three
    # Another message has another key.
    assert send_sms(client, "13912345679", address="10.1.0.2").status_code == 202
    assert provider.keys[3] not in (None, key)


def test_twilio_gets_the_message_id_in_its_idempotency_header(make_app, provider):
    provider.late, provider.late_by = 1, 1.0
    client = make_app(**twilio(provider, SMS_TIMEOUT=0.3)).test_client()
    assert send_sms(client, MOBILE).status_code == 202
    assert provider.requests == 2 and provider.rejected == []
    key = provider.keys[0]
    assert key and provider.keys == [key, key]


def test_each_try_of_an_email_has_one_message_id(make_app, mail):
    """A mail server that took the message but answered too late sees the same
    Message-ID again (and may drop the copy)."""
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=mail.port, MAIL_TIMEOUT=0.5,
                   MAIL_DEFAULT_SENDER="luffy <no-reply@luffy.test>", MESSAGE_MAX_RETRIES=1)
    add_user(app)
    with app.app_context():
        db.session.execute(update(User).values(email_verified=True))
        db.session.commit()
    mail.gate.clear()  # the first try times out while the server holds the message
    threading.Timer(0.8, mail.gate.set).start()
    response = app.test_client().post("/users/email/code", json={
        "email": "alice@example.com", "purpose": "reset"})
    assert response.status_code == 202
    assert len(mail.taken) == 2 and len(mail.messages) == 1  # taken twice, answered once
    ids = {m["Message-ID"] for m in mail.taken}
    assert len(ids) == 1 and ids.pop().endswith("@luffy.test>")
