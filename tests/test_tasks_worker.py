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
import secrets
import signal
import subprocess
import sys
import time

import pytest
import redis

from tests.accounts import STRONG, register, send_sms
from tests.conftest import REDIS_URL, AuthActions, add_user
from tests.servers import ROOT
from tests.standins import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, MailServer, SmsProvider, wait_for

pytestmark = pytest.mark.slow

BROKER = os.environ.get("LUFFY_TEST_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/6"
RABBITMQ = os.environ.get("LUFFY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
MOBILE = "13912345678"


def reachable(url):
    """Why ``url``'s broker cannot be used, or None."""
    try:
        if url.startswith("redis"):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
    except Exception as e:  # any failure to connect means: no such broker here
        return f"no broker at {url}: {e.__class__.__name__}"
    return None


class Worker:
    """``celery -A wsgi:celery worker`` in production configuration, one process."""

    def __init__(self, tmp_path, broker, queue, **settings):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LUFFY_", "SERVER_SOFTWARE"))}
        env.update(SECRET_KEY=secrets.token_hex(32), DATABASE_URL=f"sqlite:///{tmp_path}/worker.db",
                   REDIS_URL=REDIS_URL or "redis://127.0.0.1:6379/6", PYTHONUNBUFFERED="1",
                   LUFFY_CONFIG="production", LUFFY_CELERY_BROKER_URL=broker, LUFFY_CELERY_QUEUE=queue)
        env.update({f"LUFFY_{key}": str(value) for key, value in settings.items()})
        self.env, self.queue, self.log_path = env, queue, tmp_path / f"worker-{queue}.log"
        self.process = None

    def start(self):
        """Start the worker and wait until it consumes its queue."""
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery", "worker", "-P", "solo",
             "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.process.poll() is not None or " ready." in self.output(), timeout=60)
        assert self.process.poll() is None, self.output()
        return self

    def output(self):
        """Everything the worker wrote so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self):
        """A warm shutdown (SIGTERM), as a deploy or a restart does."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()


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


def _drop_queue(app, queue):
    with app.extensions["celery"].connection_for_write() as connection:
        try:
            connection.default_channel.queue_delete(queue)
        except Exception:  # already gone, or the broker went away: nothing to clean
            pass


@pytest.fixture
def system(tmp_path, make_app, providers):
    """``(app, worker, sms, mail)`` on ``BROKER``: the app enqueues, the worker (not yet
    started) delivers."""
    why = reachable(BROKER)
    if why:
        pytest.skip(why)
    yield from _system(tmp_path, make_app, providers, BROKER)


def _system(tmp_path, make_app, providers, broker):
    sms, mail = providers
    queue = f"luffy-h3-{secrets.token_hex(4)}"
    app = make_app(CELERY_BROKER_URL=broker, CELERY_QUEUE=queue)
    worker = Worker(tmp_path, broker, queue, **provider_settings(sms, mail))
    try:
        yield app, worker, sms, mail
    finally:
        worker.stop()
        _drop_queue(app, queue)


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
        from luffy.accounts import codes

        codes.clear(codes.sms(MOBILE))
    assert send_sms(client, MOBILE, "login").status_code == 202
    code = wait_for(lambda: sms.codes_to("+86" + MOBILE)[1:])[-1]
    response = client.post("/users/login/sms", json={"mobile": MOBILE, "sms_code": code})
    assert response.status_code == 200
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}

    # Confirm an email over SMTP, then reset the password with a code sent there.
    response = client.post("/users/email/code", headers=headers,
                           json={"email": "neo@example.com", "purpose": "confirm"})
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
                           json={"email": "slow@example.com", "purpose": "confirm"})
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
