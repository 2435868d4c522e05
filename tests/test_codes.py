"""Codes in Redis: only a keyed hash, Redis down is a clear 503, operators' commands,
and production's refusal of the development-only message backends."""

import pytest

from luffy import create_app
from luffy.redis_clients import redis_from_url
from tests.accounts import STRONG, add_user, send_sms
from tests.backends import DATABASE_URL

MOBILE = "13912345678"
OWNER = "13800000001"


def test_redis_holds_no_code_and_no_destination(client, redis_client, outbox):
    send_sms(client, MOBILE)
    code = outbox.code(MOBILE)
    dump = []
    for key in redis_client.keys("luffy:*"):
        kind = redis_client.type(key)
        values = (redis_client.hgetall(key).values() if kind == "hash" else
                  redis_client.lrange(key, 0, -1) if kind == "list" else [redis_client.get(key)])
        dump += [key, *map(str, values)]
    assert len(dump) > 3 and not any(code in item or MOBILE in item for item in dump)
    code_keys = redis_client.keys("luffy:code:*")
    assert len(code_keys) == 1 and 0 < redis_client.ttl(code_keys[0]) <= 300


@pytest.fixture
def redis_down_app(migrated, tmp_path):
    down = redis_from_url("redis://127.0.0.1:1/0", 0.2)  # nothing listens on port 1
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": DATABASE_URL or f"sqlite:///{tmp_path}/x.db"},
                     redis_main=down, redis_cart=down)
    from luffy.extensions import db

    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("method, path, body", [
    ("post", f"/users/sms/{MOBILE}", {}),
    ("post", "/users/login/sms", {"mobile": MOBILE, "sms_code": "123456"}),
    ("post", "/users/register", {"mobile": MOBILE, "sms_code": "123456", "password": STRONG,
                                 "re_password": STRONG}),
    ("post", "/users/password/reset", {"username": MOBILE, "code": "123456", "new_password": STRONG}),
    ("post", "/users/email/code", {"email": "a@example.com", "purpose": "reset"}),
])
def test_redis_down_is_a_clear_503_and_no_code_goes_out_or_counts(redis_down_app, outbox,
                                                                   method, path, body):
    response = getattr(redis_down_app.test_client(), method)(path, json=body)
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["code"] == "service_unavailable"
    assert outbox.messages() == []


def test_codes_show_and_clear_a_destinations_throttle(app, client, outbox):
    send_sms(client, MOBILE)
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["codes", "show", MOBILE])
    assert shown.exit_code == 0, shown.output
    assert "code live, 0 wrong tries" in shown.output and "1 sends in the last 24 hours" in shown.output
    assert outbox.code(MOBILE) not in shown.output
    assert send_sms(client, MOBILE).status_code == 429
    cleared = runner.invoke(args=["codes", "clear", MOBILE, "--address", "10.1.0.1"])
    assert cleared.exit_code == 0 and "cleared" in cleared.output
    assert "0 sends in the last 24 hours" in runner.invoke(args=["codes", "show", MOBILE]).output
    assert send_sms(client, MOBILE).status_code == 202


def test_codes_clear_an_ipv6_address_clears_its_64(make_app, outbox):
    app = make_app(CODE_DAILY_LIMIT=1, CODE_RESEND_INTERVAL=0)
    client = app.test_client()
    assert send_sms(client, MOBILE, address="2001:db8:5:6::1").status_code == 202
    assert send_sms(client, "13912345679", address="2001:db8:5:6::2").status_code == 429
    cleared = app.test_cli_runner().invoke(args=["codes", "clear", MOBILE, "--address",
                                                 "2001:db8:5:6:ffff::9"])
    assert cleared.exit_code == 0, cleared.output
    assert send_sms(client, "13912345679", address="2001:db8:5:6::2").status_code == 202


def test_codes_show_an_email_destination(app):
    result = app.test_cli_runner().invoke(args=["codes", "show", "Nobody@Example.com"])
    assert result.exit_code == 0 and "code none" in result.output


def test_users_create_still_works(runner):
    result = runner.invoke(args=["users", "create", "carol", "--mobile", "13700000001",
                                 "--password", STRONG])
    assert result.exit_code == 0 and "created user" in result.output


PRODUCTION = {"SECRET_KEY": "p" * 40, "SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": "memory://",
              "MAIL_SERVER": "smtp.internal",
              "SMS_BACKEND": "webhook", "SMS_WEBHOOK_URL": "https://sms.internal/send",
              "CELERY_BROKER_URL": "redis://127.0.0.1:6379/6"}


@pytest.fixture
def no_message_environment(monkeypatch):
    for key in ("MAIL_SERVER", "SMS_BACKEND", "SMS_WEBHOOK_URL", "CELERY_BROKER_URL", "CONFIG"):
        monkeypatch.delenv(f"LUFFY_{key}", raising=False)


@pytest.mark.parametrize("change, words", [
    ({"MAIL_SERVER": None}, "MAIL_SERVER is not set"),
    ({"SMS_BACKEND": "log"}, "SMS_BACKEND is log"),
    ({"SMS_WEBHOOK_URL": None}, "SMS_WEBHOOK_URL is not set"),
    ({"SMS_BACKEND": "twilio"}, "TWILIO_ACCOUNT_SID is not set"),
    ({"SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND must be one of"),
    # In-process, a message makes its request wait for the provider: timing would tell
    # whether the destination has an account.
    ({"CELERY_BROKER_URL": None}, "CELERY_BROKER_URL is not set"),
    ({"CELERY_BROKER_URL": ""}, "CELERY_BROKER_URL is not set"),
    ({"CELERY_BROKER_URL": "memory://"}, "a broker inside this process"),
])
def test_production_refuses_development_message_backends(no_message_environment, change, words):
    with pytest.raises(RuntimeError, match=words):
        create_app("production", {**PRODUCTION, **change})


def test_production_with_real_senders_and_a_broker_starts_and_only_enqueues(no_message_environment):
    from luffy.worker import celery_of

    app = create_app("production", PRODUCTION)
    assert celery_of(app).conf.task_always_eager is False
    app = create_app("production", {**PRODUCTION, "CELERY_BROKER_URL": "amqp://u:p@rabbit//"})
    assert celery_of(app).conf.task_always_eager is False


def test_a_code_of_another_purpose_leaves_the_live_code_alone(make_app, outbox):
    """A sign-up code requested for a registered number goes nowhere, and must not kill
    the owner's login code on its way (anyone may request one)."""
    app = make_app(CODE_RESEND_INTERVAL=0)
    add_user(app, mobile=OWNER)
    client = app.test_client()
    assert send_sms(client, OWNER, "login").status_code == 202
    code = outbox.code(OWNER)
    assert send_sms(client, OWNER, "register", address="10.7.0.1").status_code == 202
    assert send_sms(client, OWNER, "reset", address="10.7.0.2").status_code == 202
    assert len(outbox.to(OWNER)) == 3 - 1  # the sign-up code went nowhere
    login = client.post("/users/login/sms", json={"mobile": OWNER, "sms_code": code})
    assert login.status_code == 200, login.get_json()


def test_a_new_code_replaces_the_older_one_of_its_purpose(make_app, outbox):
    app = make_app(CODE_RESEND_INTERVAL=0)
    add_user(app, mobile=OWNER)
    client = app.test_client()
    send_sms(client, OWNER, "login")
    first = outbox.code(OWNER)
    send_sms(client, OWNER, "login")
    second = outbox.code(OWNER)
    if first != second:  # one chance in a million that both are the same
        refused = client.post("/users/login/sms", json={"mobile": OWNER, "sms_code": first})
        assert refused.status_code == 401
    assert client.post("/users/login/sms", json={"mobile": OWNER, "sms_code": second}).status_code == 200
    shown = app.test_cli_runner().invoke(args=["codes", "show", OWNER])
    assert "code none" in shown.output, shown.output
