"""A queued message never rests in plain text: read raw from the broker (the Redis list,
or the RabbitMQ queue) while no worker consumes it, and decoded as an attacker would
(the envelope's base64 body, the headers' ``argsrepr``), it shows neither the code nor
its text nor the destination. Then a worker with the same ``SECRET_KEY`` opens and
delivers it; one with another key drops it."""

import base64
import json
import os
import re

import pytest
import redis

from tests.accounts import add_user
from tests.backends import BROKER_URL, DATABASE_URL, REDIS_URL
from tests.servers import Worker, drop_queue, queue_name, reachable, server_env
from tests.standins import SmsProvider, code_in, wait_for

RABBITMQ = os.environ.get("LUFFY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
MOBILE = "13912345678"
SEALED = re.compile(r"gAAAAA[A-Za-z0-9_=-]+")  # a Fernet token (version byte 0x80)


def test_a_sealed_message_opens_only_with_its_key_and_unaltered(make_app):
    from luffy.core import envelopes

    app, other = make_app(), make_app(SECRET_KEY="another-secret-key-0123456789abcdef-xyz")
    message = {"to": MOBILE, "text": "Your luffy login code is 123456.", "only_to": "account"}
    with app.app_context():
        token = envelopes.seal(message)
        assert envelopes.unseal(token) == message
        assert "123456" not in token and MOBILE not in token
        altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
        with pytest.raises(envelopes.Unreadable):
            envelopes.unseal(altered)
        with pytest.raises(envelopes.Unreadable):
            envelopes.unseal("not a token")
    with other.app_context(), pytest.raises(envelopes.Unreadable):
        envelopes.unseal(token)


def test_a_task_drops_a_message_it_cannot_open(make_app, caplog):
    from luffy.core import tasks

    app = make_app()
    with app.app_context():
        tasks.send_sms.apply(args=("gAAAAABforged",))
    assert "luffy.send_sms dropped: not sealed with this SECRET_KEY, or altered" in caplog.text


def decoded(envelope):
    """Everything a reader of the broker sees of one Celery message, decoded."""
    parts = [json.dumps(envelope)]
    body = envelope.get("body", "")
    if envelope.get("properties", {}).get("body_encoding") == "base64":
        parts.append(base64.b64decode(body).decode())
    return "\n".join(parts)


def raw_redis(broker, queue):
    client = redis.Redis.from_url(broker, decode_responses=True)
    try:
        return [decoded(json.loads(item)) for item in client.lrange(queue, 0, -1)]
    finally:
        client.close()


def raw_rabbitmq(broker, queue):
    """Take the queue's messages without acknowledging them: they go back when the
    connection closes."""
    from kombu import Connection

    seen = []
    with Connection(broker, connect_timeout=2) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(queue=queue, no_ack=False)) is not None:
            body = message.body.decode() if isinstance(message.body, bytes) else message.body
            seen.append(json.dumps({"headers": message.headers, "properties": message.properties},
                                   default=str) + "\n" + body)
        channel.close()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_the_broker_holds_no_code_text_or_destination_and_the_worker_delivers(tmp_path, make_app,
                                                                           broker):
    url = BROKER_URL if broker == "redis" else RABBITMQ
    why = reachable(url)
    if why:
        pytest.skip(why)
    sms, queue = SmsProvider(), queue_name()
    database = DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db"
    env = server_env(database, REDIS_URL, CELERY_BROKER_URL=url, CELERY_QUEUE=queue,
                     SMS_BACKEND="webhook", SMS_WEBHOOK_URL=sms.url + "/webhook")
    app = make_app(SECRET_KEY=env["SECRET_KEY"], SQLALCHEMY_DATABASE_URI=database,
                   CELERY_BROKER_URL=url, CELERY_QUEUE=queue, CODE_RESEND_INTERVAL=0)
    add_user(app, mobile=MOBILE)
    try:
        response = app.test_client().post(f"/users/sms/{MOBILE}", json={"purpose": "login"})
        assert response.status_code == 202
        wait_for(lambda: (raw_redis if broker == "redis" else raw_rabbitmq)(url, queue))
        (raw,) = (raw_redis if broker == "redis" else raw_rabbitmq)(url, queue)
        assert "luffy.send_sms" in raw  # it is the message, read whole

        with Worker(env, tmp_path / "worker.log"):
            ((to, text),) = wait_for(lambda: sms.messages)
        assert to == MOBILE and "login code" in text
        code = code_in(text)
        visible = SEALED.sub("[sealed]", raw)  # ciphertext aside, where a match is chance
        for secret in (code, text, "login code", MOBILE, MOBILE[-4:] + '"'):
            assert secret not in visible, f"{secret!r} in the broker: {visible}"
        assert "[sealed]" in visible

        # A worker with another SECRET_KEY cannot open a message: it drops it, says so.
        response = app.test_client().post(f"/users/sms/{MOBILE}", json={"purpose": "login"})
        assert response.status_code == 202
        worker = Worker(dict(env, SECRET_KEY="a-different-secret-key-0123456789abcdef"),
                        tmp_path / "other.log")
        with worker:
            wait_for(lambda: "dropped: not sealed with this SECRET_KEY" in worker.output())
        assert len(sms.messages) == 1
    finally:
        sms.close()
        drop_queue(url, queue)
