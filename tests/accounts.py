"""Accounts in the tests: creating them, logging in, and the requests of a sign-up.

``add_user`` creates an account through the service the CLI uses; ``AuthActions``
logs in for real (the ``auth`` fixture); ``Outbox`` reads the codes the development
(log) backends wrote (the ``outbox`` fixture); ``turn_on`` sets two-factor up.
"""

import logging
import time
from base64 import b64encode

import pyotp

from luffy.core import accounts
from luffy.core.models import User
from luffy.extensions import db
from tests.standins import code_in

PASSWORD = "correct horse battery"
STRONG = "a long and unusual passphrase"


def add_user(app, username="alice", password=PASSWORD, email="Alice@Example.com",
             mobile="13800000001", **profile):
    """Create an account in ``app`` through the service that the CLI uses; detached."""
    with app.app_context():
        user = accounts.create(username, password, email=email, mobile=mobile, **profile)
        db.session.refresh(user)
        db.session.expunge(user)
        return user


class AuthActions:
    """Log in for real and build the headers of authenticated requests."""

    def __init__(self, client):
        self.client = client

    def login(self, username="alice", password=PASSWORD, **kwargs):
        """POST the login form as JSON; returns the response."""
        return self.client.post("/users/login/", json={"username": username, "password": password},
                                **kwargs)

    def tokens(self, username="alice", password=PASSWORD):
        """The login answer; fails the test if the login fails."""
        response = self.login(username, password)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def headers(self, username="alice", password=PASSWORD):
        """``Authorization: Bearer`` with a fresh access token."""
        return {"Authorization": f"Bearer {self.tokens(username, password)['token']}"}

    @staticmethod
    def basic(username="alice", password=PASSWORD):
        """``Authorization: Basic``."""
        return {"Authorization": "Basic " + b64encode(f"{username}:{password}".encode()).decode()}


class Outbox:
    """The messages the development (log) backends wrote, read from the captured log."""

    def __init__(self, caplog):
        self.caplog = caplog
        caplog.set_level(logging.INFO, logger="luffy")

    def messages(self):
        """``(to, text)`` of every message written so far."""
        return [(r.args[0], r.args[-1]) for r in self.caplog.records
                if r.name == "luffy.core.senders" and "log backend" in r.msg]

    def to(self, destination):
        """The texts sent to ``destination``."""
        return [text for to, text in self.messages() if to == destination]

    def code(self, destination):
        """The last code sent to ``destination``; fails when there is none."""
        texts = self.to(destination)
        assert texts, f"nothing was sent to {destination}"
        return code_in(texts[-1])


def send_sms(client, mobile, purpose=None, address="10.1.0.1"):
    """``POST /users/sms/<mobile>`` from ``address``."""
    body = {} if purpose is None else {"purpose": purpose}
    return client.post(f"/users/sms/{mobile}", json=body, environ_overrides={"REMOTE_ADDR": address})


def register(client, mobile, code, password=STRONG, **extra):
    """``POST /users/register``."""
    return client.post("/users/register", json={"mobile": mobile, "sms_code": code,
                                                "password": password, "re_password": password,
                                                **extra})


def errors_of(response):
    """The field errors of a 400 ``invalid``."""
    body = response.get_json()
    assert response.status_code == 400 and body["code"] == "invalid", body
    return body["errors"]


def code_at(secret, offset=0):
    """The TOTP code of ``secret`` for the current 30-second step plus ``offset`` steps."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(time.time()) + offset)


def begin(client, headers, password=PASSWORD):
    """``POST /users/2fa/totp``: the first step of setting two-factor up."""
    return client.post("/users/2fa/totp", headers=headers, json={"password": password})


def turn_on(client, headers):
    """Set two-factor up for the headers' account: ``(secret, recovery codes)``."""
    secret = begin(client, headers).get_json()["secret"]
    answer = client.post("/users/2fa/totp/confirm", headers=headers, json={"code": code_at(secret)})
    assert answer.status_code == 200, answer.get_json()
    return secret, answer.get_json()["recovery_codes"]


def stored_hash(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).password


def store_hash(app, user_id, value):
    """Put ``value`` in the password column, as a migration from another system would."""
    with app.app_context():
        db.session.get(User, user_id).password = value
        db.session.commit()


def login(client, username="alice", password=PASSWORD):
    return client.post("/users/login/", json={"username": username, "password": password})


def alice_with_two_factor(app):
    """alice with two-factor on: ``(client, secret, recovery codes)``."""
    add_user(app)
    client = app.test_client()
    secret, codes = turn_on(client, AuthActions(client).headers())
    return client, secret, codes
