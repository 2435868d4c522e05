"""A real Celery worker (``celery -A wsgi:celery worker``) against a real broker
delivers to a real SMTP server (aiosmtpd) and to a Twilio stand-in; the tests read
each code from what was delivered and complete sign-up, SMS login, email
confirmation and reset. Faults: providers down or slow, the worker stopped or
restarted.

The broker is ``LUFFY_TEST_BROKER_URL``, else ``LUFFY_TEST_REDIS_URL``, else the
machine's Redis (DB 6); each test has a queue of its own. The tests skip only when
that broker cannot be reached.
"""

import os
import time

import pytest
from sqlalchemy import update

from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD, STRONG, AuthActions, add_user, register, send_sms
from tests.backends import BROKER_URL, DATABASE_URL, REDIS_URL
from tests.servers import Worker, drop_queue, queue_name, reachable, server_env
from tests.standins import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, MailServer, SmsProvider, wait_for

pytestmark = pytest.mark.slow

RABBITMQ = os.environ.get("LUFFY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
MOBILE = "13912345678"


@pytest.fixture
def providers():
    sms, mail = SmsProvider(), MailServer()
    yield sms, mail
    sms.close()
    mail.close()


def provider_settings(sms, mail):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mail.port, "MAIL_TIMEOUT": 1,
            "MAIL_DEFAULT_SENDER": "luffy <no-reply@luffy.test>", "SMS_BACKEND": "twilio",
            "SMS_TIMEOUT": 1, "TWILIO_BASE_URL": sms.url, "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM": TWILIO_FROM}


def connect(tmp_path, make_app, broker, **settings):
    """``(app, worker)``: an app that enqueues on ``broker`` (a queue of its own) and a
    worker (not yet started) with the same secret and database, and ``settings``."""
    queue = queue_name()
    database = DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db"
    env = server_env(database, REDIS_URL, CELERY_BROKER_URL=broker, CELERY_QUEUE=queue, **settings)
    app = make_app(SECRET_KEY=env["SECRET_KEY"], SQLALCHEMY_DATABASE_URI=database,
                   CELERY_BROKER_URL=broker, CELERY_QUEUE=queue)
    return app, Worker(env, tmp_path / f"worker-{queue}.log")


@pytest.fixture
def system(tmp_path, make_app, providers):
    """``(app, worker, sms, mail)`` on ``BROKER_URL``: the app enqueues, the worker (not yet
    started) delivers."""
    why = reachable(BROKER_URL)
    if why:
        pytest.skip(why)
    yield from _system(tmp_path, make_app, providers, BROKER_URL)


def _system(tmp_path, make_app, providers, broker):
    sms, mail = providers
    app, worker = connect(tmp_path, make_app, broker, **provider_settings(sms, mail))
    try:
        yield app, worker, sms, mail
    finally:
        worker.stop()
        drop_queue(broker, worker.queue)


def test_a_real_worker_delivers_and_every_flow_completes_end_to_end(system):
    app, worker, sms, mail = system
    worker.start()
    client = app.test_client()

    # Sign-up by SMS through Twilio, then an SMS login.
    assert send_sms(client, MOBILE).status_code == 202
    code = wait_for(lambda: sms.codes_to("+86" + MOBILE))[-1]
    response = register(client, MOBILE, code, username="neo")
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        from luffy.core import codes

        codes.clear(codes.sms(MOBILE))
    assert send_sms(client, MOBILE, "login").status_code == 202
    code = wait_for(lambda: sms.codes_to("+86" + MOBILE)[1:])[-1]
    response = client.post("/users/login/sms", json={"mobile": MOBILE, "sms_code": code})
    assert response.status_code == 200
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}

    # Confirm an email over SMTP, then reset the password with a code sent there.
    response = client.post("/users/email/code", headers=headers,
                           json={"email": "neo@example.com", "purpose": "confirm", "password": STRONG})
    assert response.status_code == 202
    code = wait_for(lambda: mail.codes_to("neo@example.com"))[-1]
    response = client.post("/users/email/confirm", headers=headers,
                           json={"email": "neo@example.com", "code": code})
    assert response.status_code == 200 and response.get_json()["email_verified"] is True
    with app.app_context():
        codes.clear(codes.email("neo@example.com"))
    response = client.post("/users/email/code", json={"email": "neo@example.com", "purpose": "reset"})
    assert response.status_code == 202
    code = wait_for(lambda: mail.codes_to("neo@example.com")[1:])[-1]
    response = client.post("/users/password/reset", json={
        "username": "neo@example.com", "code": code, "new_password": "another unusual passphrase"})
    assert response.status_code == 200
    assert client.get("/users/me", headers=headers).status_code == 401  # every session ended
    assert AuthActions(client).login("neo", "another unusual passphrase").status_code == 200
    assert sms.rejected == []
    assert "luffy.send_sms" in worker.output() and "luffy.send_email" in worker.output()


def test_a_stopped_worker_lets_messages_wait_in_the_queue(system):
    app, worker, sms, mail = system
    client = app.test_client()
    add_user(app, mobile=MOBILE)
    assert send_sms(client, MOBILE, "reset").status_code == 202  # no worker is running
    time.sleep(1)
    assert sms.messages == []
    worker.start()
    code = wait_for(lambda: sms.codes_to("+86" + MOBILE))[-1]
    response = client.post("/users/password/reset", json={
        "username": MOBILE, "code": code, "new_password": STRONG})
    assert response.status_code == 200


def test_a_provider_down_is_retried_and_nothing_is_lost_when_the_worker_restarts(system):
    app, worker, sms, mail = system
    sms.mode = "down"
    worker.start()
    client = app.test_client()
    assert send_sms(client, MOBILE).status_code == 202
    wait_for(lambda: sms.requests >= 2)  # the first try and a retry failed
    worker.stop()  # a retry is pending in the worker: it goes back to the queue
    assert sms.messages == []
    sms.mode = "ok"
    worker.start()
    code = wait_for(lambda: sms.codes_to("+86" + MOBILE))[-1]
    assert register(client, MOBILE, code).status_code == 201
    assert "failed (try 1)" in worker.output()


def test_slow_providers_do_not_hold_the_request_and_the_task_retries(system):
    app, worker, sms, mail = system
    worker.start()
    client = app.test_client()
    sms.gate.clear()  # Twilio holds every request
    assert send_sms(client, MOBILE).status_code == 202  # answered while the provider holds
    wait_for(lambda: "failed (try 1): SMS provider unavailable: ReadTimeout" in worker.output())
    sms.gate.set()
    code = wait_for(lambda: sms.codes_to("+86" + MOBILE))[-1]
    assert register(client, MOBILE, code).status_code == 201

    headers = AuthActions(client).headers(MOBILE, STRONG)
    mail.gate.clear()  # the SMTP server holds every message past MAIL_TIMEOUT
    response = client.post("/users/email/code", headers=headers,
                           json={"email": "slow@example.com", "purpose": "confirm", "password": STRONG})
    assert response.status_code == 202
    wait_for(lambda: "luffy.send_email to sl****@example.com failed (try 1)" in worker.output())
    mail.gate.set()
    code = wait_for(lambda: mail.codes_to("slow@example.com"))[-1]
    response = client.post("/users/email/confirm", headers=headers,
                           json={"email": "slow@example.com", "code": code})
    assert response.status_code == 200


def test_rabbitmq_as_the_broker(tmp_path, make_app, providers):
    why = reachable(RABBITMQ)
    if why:
        pytest.skip(why)
    for app, worker, sms, mail in _system(tmp_path, make_app, providers, RABBITMQ):
        worker.start()
        client = app.test_client()
        assert send_sms(client, MOBILE).status_code == 202
        code = wait_for(lambda: sms.codes_to("+86" + MOBILE))[-1]
        assert register(client, MOBILE, code).status_code == 201


def test_a_late_provider_gets_every_retry_of_a_message_under_one_key(system):
    """Through the broker, a retry is the same message: Twilio gets the same
    I-Twilio-Idempotency-Token (the task's id) on every try; another message, another."""
    app, worker, sms, mail = system
    sms.late, sms.late_by = 1, 2.0  # takes the first try, answers after SMS_TIMEOUT (1 s)
    worker.start()
    client = app.test_client()
    assert send_sms(client, MOBILE).status_code == 202
    wait_for(lambda: len(sms.keys) >= 2 and "luffy.send_sms to 139****78 delivered" in worker.output())
    first, retry = sms.keys[:2]
    assert first and first == retry and "failed (try 1)" in worker.output()
    assert first in worker.output()  # the task's id, as the worker logs it
    assert send_sms(client, "13912345679").status_code == 202
    wait_for(lambda: len(sms.keys) == 3)
    assert sms.keys[2] not in (None, first)


def test_the_replaced_confirmed_address_is_told_through_the_queue(system):
    app, worker, sms, mail = system
    add_user(app, email="old@example.com")
    with app.app_context():
        db.session.execute(update(User).values(email_verified=True))
        db.session.commit()
    worker.start()
    client = app.test_client()
    headers = AuthActions(client).headers()
    response = client.post("/users/email/code", headers=headers, json={
        "email": "new@example.com", "purpose": "confirm", "password": PASSWORD})
    assert response.status_code == 202
    code = wait_for(lambda: mail.codes_to("new@example.com"))[-1]
    response = client.post("/users/email/confirm", headers=headers,
                           json={"email": "new@example.com", "code": code})
    assert response.status_code == 200
    (notice,) = wait_for(lambda: [m for m in mail.messages if m["To"] == "old@example.com"])
    assert notice["Subject"] == "Your luffy email was changed"
    assert "changed to ne****@example.com" in notice.get_content()


# A new device's notice (luffy/core/devices.py): the email to a confirmed address, else
# the SMS; the time, address, browser and system, and no token.
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


def log_in(client, agent, address):
    response = client.post("/users/login", json={"username": "alice", "password": PASSWORD},
                           headers={"User-Agent": agent}, environ_overrides={"REMOTE_ADDR": address})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_real_worker_mails_a_new_devices_notice_else_texts_it(system):
    app, worker, sms, mail = system
    worker.start()
    add_user(app)
    log_in(app.test_client(), "curl/8.5.0", "10.7.1.5")  # the first device: no notice

    answer = log_in(app.test_client(), CHROME, "203.0.113.9")  # no confirmed email: SMS
    ((to, text),) = wait_for(lambda: sms.messages)
    assert to == "+8613800000001"
    assert "203.0.113.9" in text and "Chrome on Windows" in text and "/users/sessions" in text
    assert answer["token"] not in text and answer["refresh"] not in text

    with app.app_context():
        db.session.execute(update(User).values(email_verified=True))
        db.session.commit()
    answer = log_in(app.test_client(), "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
                    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 "
                    "Safari/604.1", "2001:db8::7")
    (message,) = wait_for(lambda: mail.messages)
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "New sign-in to your luffy account"
    body = message.get_content()
    assert "2001:db8::7" in body and "Mobile Safari on iOS" in body
    assert "change your password" in body and "/users/sessions" in body
    assert answer["token"] not in body and answer["refresh"] not in body
    assert len(sms.messages) == 1  # the email only
    assert "luffy.send_email" in worker.output()
