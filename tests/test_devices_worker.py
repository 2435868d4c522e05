"""A new device's notice through a real Celery worker to a real SMTP server (aiosmtpd)
and to the Twilio stand-in (the fixtures of tests/test_tasks_worker.py): the email to a
confirmed address, else the SMS; the time, address, browser and system, and no token."""

import pytest
from sqlalchemy import update

from luffy.core.models import User
from luffy.extensions import db
from tests.conftest import PASSWORD, add_user
from tests.standins import wait_for
from tests.test_tasks_worker import providers, system  # noqa: F401

pytestmark = pytest.mark.slow

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


def log_in(client, agent, address):
    response = client.post("/users/login", json={"username": "alice", "password": PASSWORD},
                           headers={"User-Agent": agent}, environ_overrides={"REMOTE_ADDR": address})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_real_worker_mails_a_new_devices_notice_else_texts_it(system):  # noqa: F811
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
