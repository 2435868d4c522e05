"""Helpers of the accounts tests: read the codes the log backends wrote."""

import logging

import pytest

from tests.standins import code_in

STRONG = "a long and unusual passphrase"


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


@pytest.fixture
def outbox(caplog):
    """What the log backends sent."""
    return Outbox(caplog)


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
