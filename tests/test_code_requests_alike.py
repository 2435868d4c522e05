"""A code request does the same work, and takes as long, whether or not a message goes
out: with a real worker on Redis and on RabbitMQ, requests for destinations with and
without an account are compared.

- Structurally (the strong proof): each request runs the same Redis commands in the
  same order, the same database statements (none, for a code by SMS or a reset by
  email) and exactly one broker publish.
- In time: many interleaved requests of each kind; their medians and a sign test of
  pairs are compared with generous margins (a property about time, so measured).
- The worker decides: the message reaches only the destinations that should have it
  (SMS webhook stand-in, aiosmtpd), and every other one is dropped there.
"""

import json
import os
import statistics
import time

import pytest
import redis
from celery.signals import before_task_publish
from sqlalchemy import event, update

from luffy.core import accounts
from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD, AuthActions
from tests.backends import BROKER_URL, DATABASE_URL, REDIS_URL
from tests.servers import Worker, drop_queue, queue_name, reachable, server_env
from tests.standins import MailServer, SmsProvider, wait_for

pytestmark = pytest.mark.slow

RABBITMQ = os.environ.get("LUFFY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PAIRS = 120  # timed requests of each kind


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request):
    url = BROKER_URL if request.param == "redis" else RABBITMQ
    why = reachable(url)
    if why:
        pytest.skip(why)
    return url


@pytest.fixture
def system(tmp_path, make_app, broker):
    """``(app, worker, sms, mail)``: the app enqueues on ``broker``, the worker delivers."""
    sms, mail = SmsProvider(), MailServer()
    queue = queue_name()
    database = DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db"
    env = server_env(database, REDIS_URL, CELERY_BROKER_URL=broker, CELERY_QUEUE=queue,
                     SMS_BACKEND="webhook", SMS_WEBHOOK_URL=sms.url + "/webhook",
                     MAIL_SERVER="127.0.0.1", MAIL_PORT=mail.port)
    app = make_app(SECRET_KEY=env["SECRET_KEY"], SQLALCHEMY_DATABASE_URI=database,
                   CELERY_BROKER_URL=broker, CELERY_QUEUE=queue, CODE_RESEND_INTERVAL=0)
    worker = Worker(env, tmp_path / "worker.log", pool="prefork")
    try:
        yield app, worker.start(), sms, mail
    finally:
        worker.stop()
        sms.close()
        mail.close()
        drop_queue(broker, queue)


def mobile(n):
    return f"1370{n:07d}"


def create_accounts(app, numbers, confirmed=True):
    """Active accounts with mobile ``mobile(n)`` and email ``u<n>@example.com``."""
    with app.app_context():
        for n in numbers:
            accounts.create(f"u{n}", PASSWORD, email=f"u{n}@example.com", mobile=mobile(n))
        db.session.execute(update(User).values(email_verified=confirmed))
        db.session.commit()


class Work:
    """What the app does per request: Redis commands (the main Redis), SQL statements,
    broker publishes."""

    def __init__(self, app, redis_client, monkeypatch):
        self.redis, self.sql, self.published = [], [], []
        with app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._statement)
        before_task_publish.connect(self._publish)
        self._count_redis(redis_client, monkeypatch)

    def _statement(self, _conn, _cursor, statement, *_):
        self.sql.append(statement)

    def _publish(self, sender=None, **_):
        self.published.append(sender)

    def _count_redis(self, client, monkeypatch):
        """Record the name of every command sent to the main Redis, by any client of its
        connection pool (the throttle's included), pipelines included."""
        pool = client.connection_pool

        def counted(execute):
            def execute_command(redis_client, *args, **kwargs):
                if redis_client.connection_pool is pool:
                    self.redis.append(args[0])
                return execute(redis_client, *args, **kwargs)
            return execute_command

        def counted_pipeline(execute):
            def execute_command(pipe, *args, **kwargs):
                if pipe.connection_pool is pool:
                    self.redis.append(args[0])
                return execute(pipe, *args, **kwargs)
            return execute_command

        monkeypatch.setattr(redis.Redis, "execute_command", counted(redis.Redis.execute_command))
        monkeypatch.setattr(redis.client.Pipeline, "execute_command",
                            counted_pipeline(redis.client.Pipeline.execute_command))

    def of(self, send):
        """``(answer, (redis commands, sql statements, publishes))`` of ``send()``."""
        for seen in (self.redis, self.sql, self.published):
            seen.clear()
        response = send()
        return ((response.status_code, response.get_json()),
                (tuple(self.redis), tuple(self.sql), tuple(self.published)))

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        before_task_publish.disconnect(self._publish)


@pytest.fixture
def work(system, redis_client, monkeypatch):
    recorder = Work(system[0], redis_client, monkeypatch)
    yield recorder
    recorder.close()


def sms_request(client, number, purpose, i):
    return lambda: client.post(f"/users/sms/{number}", json={"purpose": purpose},
                               environ_overrides={"REMOTE_ADDR": f"10.{i // 250}.{i % 250}.9"})


def email_request(client, address, purpose, i, headers=None, password=None):
    body = {"email": address, "purpose": purpose}
    if password:
        body["password"] = password
    return lambda: client.post("/users/email/code", json=body, headers=headers or {},
                               environ_overrides={"REMOTE_ADDR": f"10.{i // 250}.{i % 250}.8"})


def outcomes(worker):
    """What the worker's tasks logged (its JSON lines), message by message."""
    return [json.loads(line[line.index("{"):])["message"] for line in worker.output().splitlines()
            if '"logger": "luffy.core.tasks"' in line]


def settled(worker, sent):
    """Wait until the worker has taken ``sent`` messages (delivered or dropped); the
    messages it dropped."""
    wait_for(lambda: len([m for m in outcomes(worker) if "delivered" in m or "not sent" in m])
             >= sent, timeout=120)
    return [m for m in outcomes(worker) if "not sent" in m]


def test_every_kind_of_code_request_does_the_same_work_with_or_without_an_account(system, work):
    app, worker, sms, mail = system
    client = app.test_client()
    create_accounts(app, range(0, 10))
    headers = AuthActions(client).headers("u0")
    # (request for a destination that gets a message, for one that does not)
    kinds = {
        "sms login": lambda i: (sms_request(client, mobile(i), "login", i),
                                sms_request(client, mobile(500 + i), "login", 500 + i)),
        "sms reset": lambda i: (sms_request(client, mobile(i), "reset", i),
                                sms_request(client, mobile(500 + i), "reset", 500 + i)),
        "sms sign-up": lambda i: (sms_request(client, mobile(500 + i), "register", 500 + i),
                                  sms_request(client, mobile(i), "register", i)),
        "email reset": lambda i: (email_request(client, f"u{i}@example.com", "reset", i),
                                  email_request(client, f"nobody{i}@example.com", "reset", 500 + i)),
        "email confirm": lambda i: (
            email_request(client, f"new{i}@example.com", "confirm", i, headers, PASSWORD),
            email_request(client, f"u{i + 1}@example.com", "confirm", 500 + i, headers, PASSWORD)),
    }
    sent = 0
    for kind, pair in kinds.items():
        pair(9)[0]()  # a first request warms every path up
        sent += 1
        for i in range(1, 4):
            (goes, goes_work), (stays, stays_work) = (work.of(send) for send in pair(i))
            sent += 2
            assert goes == stays == (202, {"resend_after": 0}), kind
            assert goes_work == stays_work, kind
            redis, sql, published = goes_work
            assert published == (("luffy.send_email",) if "email" in kind else ("luffy.send_sms",))
            # The code issued; the send counted (the throttle's moving windows: Lua).
            assert "HSET" in redis and "EVALSHA" in redis
            if kind != "email confirm":  # that one reads the signed-in account, alike for both
                assert sql == (), kind  # no account is looked up

    assert len(settled(worker, sent)) == 3 * len(kinds)  # each refused in the worker
    texts = {}
    for to, text in sms.messages:
        texts.setdefault(to, []).append(text)
    for m in mail.messages:
        texts.setdefault(m["To"], []).append(m.get_content())
    for i in range(1, 4):
        registered, newcomer = mobile(i), mobile(500 + i)
        assert len(texts[registered]) == 2 and not any("sign-up" in t for t in texts[registered])
        assert len(texts[newcomer]) == 1 and "sign-up" in texts[newcomer][0]
        assert len(texts[f"u{i}@example.com"]) == 1 and "reset" in texts[f"u{i}@example.com"][0]
        assert len(texts[f"new{i}@example.com"]) == 1
        assert f"nobody{i}@example.com" not in texts
        assert not any("confirmation" in t for t in texts.get(f"u{i + 1}@example.com", []))


def timed(send):
    started = time.perf_counter()
    response = send()
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, response.get_json()
    return elapsed


@pytest.mark.parametrize("kind", ["sms login", "email reset"])
def test_a_code_request_takes_as_long_with_or_without_an_account(system, kind):
    """Many interleaved pairs (the order alternating inside a pair): neither kind is the
    slower one in more than 75 % of the pairs (a sign test: by chance alone, 120 pairs
    stray that far once in millions), and the median difference within a pair is under
    a quarter of a request's time."""
    app, worker, sms, mail = system
    client = app.test_client()
    create_accounts(app, range(PAIRS + 10))
    if kind == "sms login":
        def pair(i):
            return (sms_request(client, mobile(i), "login", i),
                    sms_request(client, mobile(5000 + i), "login", 5000 + i))
    else:
        def pair(i):
            return (email_request(client, f"u{i}@example.com", "reset", i),
                    email_request(client, f"nobody{i}@example.com", "reset", 5000 + i))

    for i in range(PAIRS, PAIRS + 10):  # warm-up, not timed
        for send in pair(i):
            timed(send)
    account, none = [], []
    for i in range(PAIRS):
        goes, stays = pair(i)
        if i % 2:
            account.append(timed(goes))
            none.append(timed(stays))
        else:
            none.append(timed(stays))
            account.append(timed(goes))
    # Paired: the two requests of a pair ran back to back, so the machine's load, which
    # moves both, cancels out of their difference.
    slower = sum(a > b for a, b in zip(account, none)) / PAIRS
    shift = statistics.median(a - b for a, b in zip(account, none))
    typical = statistics.median(account + none)
    summary = (f"with an account {statistics.median(account) * 1000:.2f} ms, without "
               f"{statistics.median(none) * 1000:.2f} ms (medians); the first slower in "
               f"{slower:.0%} of pairs, by {shift * 1000:+.2f} ms (median difference)")
    print(summary)
    assert 0.25 < slower < 0.75, summary
    assert abs(shift) < 0.25 * typical, summary

    assert len(settled(worker, 2 * (PAIRS + 10))) == PAIRS + 10
    if kind == "sms login":
        assert len(sms.messages) == PAIRS + 10
        assert {to for to, _ in sms.messages} == {mobile(i) for i in range(PAIRS + 10)}
    else:
        assert len(mail.messages) == PAIRS + 10
        assert {m["To"] for m in mail.messages} == {f"u{i}@example.com" for i in range(PAIRS + 10)}
