"""The security log: each flow writes its event with the client's address and user agent,
in the flow's own transaction; the owner reads it newest first, 50 a page; it is pruned
after 90 days; it never holds a password, code or token."""

from datetime import timedelta

from sqlalchemy import select, update

from luffy.core import events
from luffy.core.models import Event, User, utcnow
from luffy.extensions import db
from tests.accounts import PASSWORD, STRONG, AuthActions, add_user, errors_of, register, send_sms

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
FROM = {"environ_overrides": {"REMOTE_ADDR": "203.0.113.7"}, "headers": {"User-Agent": AGENT}}


def log_of(client, headers, **query):
    """The account's log as the API answers it (first page)."""
    answer = client.get("/users/events", headers=headers, query_string=query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def types(client, headers):
    return [(event["type"], event.get("method")) for event in log_of(client, headers)["events"]]


def stored(app):
    """Every stored event, oldest first."""
    with app.app_context():
        return db.session.scalars(select(Event).order_by(Event.id)).all()


def test_a_password_login_is_logged_with_the_address_and_the_user_agent(client, user):
    answer = client.post("/users/login/", json={"username": "alice", "password": PASSWORD}, **FROM)
    headers = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    (event,) = log_of(client, headers)["events"]
    assert event.pop("at").endswith("Z")
    assert event == {"id": event["id"], "type": "login", "method": "password",
                     "ip": "203.0.113.7", "user_agent": AGENT}


def test_a_wrong_password_of_an_account_is_logged_though_the_login_fails(app, client, user, auth):
    assert auth.login(password="a wrong guess").status_code == 401
    assert auth.login(username="nobody", password="a wrong guess").status_code == 401
    # HTTP Basic checks passwords the same way.
    assert client.get("/users/me", headers=AuthActions.basic(password="guess")).status_code == 401
    assert [(e.account_id, e.type) for e in stored(app)] == [(user.id, "login_failed")] * 2
    assert types(client, auth.headers()) == [("login", "password"), ("login_failed", "password"),
                                             ("login_failed", "password")]


def test_sign_up_sms_login_and_logout_are_logged(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0).test_client()
    assert send_sms(client, "13900000001").status_code == 202
    answer = register(client, "13900000001", outbox.code("13900000001"))
    assert answer.status_code == 201, answer.get_json()
    refresh = answer.get_json()["refresh"]
    assert client.post("/users/logout", json={"refresh": refresh}).status_code == 200
    assert send_sms(client, "13900000001", "login").status_code == 202
    answer = client.post("/users/login/sms", json={"mobile": "13900000001",
                                                   "sms_code": outbox.code("13900000001")})
    headers = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    assert types(client, headers) == [("login", "sms"), ("logout", None), ("login", "register")]


def test_a_password_change_and_a_reset_are_logged(client, user, auth, outbox):
    headers = auth.headers()
    refused = client.post("/users/password", headers=headers,
                          json={"old_password": PASSWORD, "new_password": "alice"})
    assert refused.status_code == 400  # refused: nothing happened, nothing logged
    assert client.post("/users/password", headers=headers, json={
        "old_password": PASSWORD, "new_password": STRONG}).status_code == 200
    assert send_sms(client, "13800000001", "reset").status_code == 202
    assert client.post("/users/password/reset", json={
        "username": "13800000001", "code": outbox.code("13800000001"),
        "new_password": PASSWORD}).status_code == 200
    assert types(client, auth.headers()) == [
        ("login", "password"), ("password_reset", None), ("password_changed", None),
        ("login", "password")]


def test_a_first_confirmation_and_a_change_of_email_are_logged(app, client, outbox):
    add_user(app, email=None)
    headers = AuthActions(client).headers()
    for email in ("alice@example.com", "alice@example.org"):
        assert client.post("/users/email/code", headers=headers, json={
            "email": email, "purpose": "confirm", "password": PASSWORD}).status_code == 202
        assert client.post("/users/email/confirm", headers=headers, json={
            "email": email, "code": outbox.code(email)}).status_code == 200
    assert types(client, headers)[:2] == [("email_changed", None), ("email_confirmed", None)]


def test_the_log_pages_back_50_at_a_time_newest_first(app, client, user, make_user):
    make_user("bob", email="bob@example.com", mobile="13800000002")
    with app.app_context():
        for _ in range(119):
            events.record(user.id, "logout")
        events.record(user.id + 1, "logout")  # bob's: never in alice's log
        db.session.commit()
    headers = AuthActions(client).headers()  # the 120th of alice's
    pages, before = [], None
    while True:
        page = log_of(client, headers, **({"before": before} if before else {}))
        pages.append(page)
        if not page["more"]:
            break
        before = page["events"][-1]["id"]
    assert [len(page["events"]) for page in pages] == [50, 50, 20]
    ids = [event["id"] for page in pages for event in page["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 120
    assert pages[0]["events"][0]["type"] == "login"
    assert log_of(client, headers, before=min(ids)) == {"events": [], "more": False}


def test_the_log_takes_an_access_token_and_a_good_before(client, user, auth):
    assert client.get("/users/events").get_json()["code"] == "not_authenticated"
    headers = auth.headers()
    for bad in ("x", "0", "-1", "1.5", str(2**31), str(2**70)):
        answer = client.get("/users/events", headers=headers, query_string={"before": bad})
        assert list(errors_of(answer)) == ["before"], bad
    # HTTP Basic opens it like every protected endpoint (and writes no login event).
    assert client.get("/users/events", headers=auth.basic()).get_json()["more"] is False


def test_flush_expired_prunes_events_older_than_90_days(app, client, user, runner):
    with app.app_context():
        for days in (91, 89):
            events.record(user.id, "logout")
            db.session.flush()
            db.session.execute(update(Event).where(Event.at > utcnow() - timedelta(minutes=1))
                               .values(at=utcnow() - timedelta(days=days)))
        db.session.commit()
    result = runner.invoke(args=["tokens", "flush-expired"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 security-log events older than 90 days" in result.output
    assert [event.at < utcnow() - timedelta(days=88) for event in stored(app)] == [True]


def test_no_password_code_or_token_reaches_the_log(app, client, user, auth, outbox):
    tokens = auth.tokens()
    auth.login(password="my secret guess")
    assert send_sms(client, "13800000001", "reset").status_code == 202
    code = outbox.code("13800000001")
    client.post("/users/password/reset", json={"username": "13800000001", "code": code,
                                               "new_password": STRONG})
    client.post("/users/logout", json={"refresh": tokens["refresh"]})
    secrets = (PASSWORD, "my secret guess", STRONG, code, tokens["token"], tokens["refresh"])
    with app.app_context():
        rows = db.session.execute(select(Event.__table__)).all()
        hashes = db.session.scalars(select(User.password)).all()
    text = repr(rows)
    assert len(rows) >= 3 and not any(secret in text for secret in secrets + tuple(hashes))


def test_record_takes_only_the_known_types_and_methods(app):
    with app.app_context():
        for kind, method in (("password", None), ("login", "hunter2")):
            try:
                events.record(1, kind, method=method)
            except ValueError:
                continue
            raise AssertionError(f"{kind} {method} was recorded")
