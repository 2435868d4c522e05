"""Logs: request ids, one line per request, login outcomes, never a password or a token."""

import json
import logging
import re

import pytest

from luffy.core import accounts
from tests.accounts import PASSWORD

HEX_ID = re.compile(r"[0-9a-f]{32}")


def with_alice(app):
    """``app`` with alice in its database; returns her id."""
    with app.app_context():
        return accounts.create("alice", PASSWORD, email="alice@example.com").id


@pytest.fixture
def json_app(make_app):
    """The testing app with production's JSON logs, and alice."""
    app = make_app(LOG_JSON=True)
    app.alice_id = with_alice(app)
    return app


def json_lines(text):
    """The JSON objects of ``text``, one a line (other lines are not luffy's)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("sent", ["abc-123", "A.b_c-9", "x" * 64])
def test_sane_request_id_is_echoed(client, sent):
    assert client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["", "x" * 65, "a b", "a/b", "<script>", "é"])
def test_other_request_ids_are_replaced(client, sent):
    echoed = client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert HEX_ID.fullmatch(echoed)


def test_every_answer_has_a_request_id(client):
    ids = {client.get(path).headers["X-Request-ID"] for path in ("/healthz", "/nope", "/users/me")}
    ids.add(client.put("/users/login/").headers["X-Request-ID"])
    ids.add(client.post("/users/login/", json={"username": "x", "password": "y"}).headers["X-Request-ID"])
    assert len(ids) == 5 and all(HEX_ID.fullmatch(i) for i in ids)


def test_json_login_lines(json_app, capsys):
    client = json_app.test_client()
    ok = client.post("/users/login/", json={"username": "alice", "password": PASSWORD},
                     headers={"X-Request-ID": "req-ok"})
    bad = client.post("/users/login/", data={"username": "alice", "password": "wrong"})
    lines = [line for line in json_lines(capsys.readouterr().err) if line.get("event") == "login"]
    assert [line["outcome"] for line in lines] == ["success", "failure"]
    success, failure = lines
    assert success["request_id"] == "req-ok" == ok.headers["X-Request-ID"]
    assert failure["request_id"] == bad.headers["X-Request-ID"]
    for line, status, level in ((success, 200, "INFO"), (failure, 401, "WARNING")):
        assert line["status"] == status and line["level"] == level
        assert line["user_id"] == json_app.alice_id
        assert line["method"] == "POST" and line["path"] == "/users/login/"
        assert line["logger"] == "luffy.request" and line["duration_ms"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


def test_json_line_per_request(json_app, capsys):
    json_app.test_client().get("/users/me", headers={"Authorization": "Basic YWxpY2U6eA=="})
    line = json_lines(capsys.readouterr().err)[-1]
    assert {k: line[k] for k in ("message", "method", "path", "status", "user_id")} == {
        "message": "request", "method": "GET", "path": "/users/me", "status": 401,
        "user_id": json_app.alice_id}  # alice:x over Basic: a known account, a wrong password
    assert "event" not in line


def test_unknown_account_has_no_user_id(json_app, capsys):
    json_app.test_client().post("/users/login/", json={"username": "nobody", "password": "x"})
    (line,) = [line for line in json_lines(capsys.readouterr().err) if line.get("event") == "login"]
    assert line["outcome"] == "failure" and "user_id" not in line


def test_text_lines_by_default(client, user, capsys):
    client.post("/users/login/", json={"username": "alice", "password": PASSWORD},
                headers={"X-Request-ID": "req-text"})
    err = capsys.readouterr().err
    assert "INFO luffy.request: login success [request_id=req-text" in err
    assert "outcome=success" in err


def test_text_lines_cannot_be_split_by_a_path(client, capsys):
    client.get("/a%0Afake%20line")
    assert "path=/a\\nfake line" in capsys.readouterr().err


@pytest.mark.parametrize("log_json", [True, False])
def test_no_password_or_token_in_logs(make_app, log_json, capsys, caplog):
    app = make_app(LOG_JSON=log_json, JWT_ROTATE_REFRESH_TOKENS=True)
    with_alice(app)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    tokens = client.post("/users/login/", json={"username": "alice", "password": PASSWORD}).get_json()
    client.post("/users/login/", data={"username": "alice", "password": PASSWORD + "x"})
    refreshed = client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}).get_json()
    client.post("/users/login/refresh", json={"refresh": tokens["refresh"]})  # reuse: logged
    client.post("/users/login/verify", json={"token": tokens["token"]})
    client.get("/users/me", headers={"Authorization": "Bearer " + refreshed["access"]})
    client.post("/users/logout", json={"refresh": refreshed["refresh"]})
    logging.getLogger("luffy.test").warning("a careless line: %s", refreshed["access"])
    err = capsys.readouterr().err  # what luffy's handler wrote
    messages = "\n".join(r.getMessage() for r in caplog.records if r.name != "luffy.test")
    assert "login success" in err and "login failure" in err and "reuse" in messages
    assert "a careless line: [token]" in err
    for secret in (PASSWORD, tokens["token"], tokens["refresh"], refreshed["access"],
                   refreshed["refresh"]):
        assert secret not in err and secret not in messages


def login_lines(err):
    return [line for line in json_lines(err) if line.get("event") == "login"]


def test_login_during_a_database_outage_is_logged_as_an_outage(capsys):
    """An outage must not look like a burst of password guessing."""
    import fakeredis

    from luffy import create_app
    from tests.servers import free_port

    nobody_listens = f"postgresql://postgres@127.0.0.1:{free_port()}/luffy"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": nobody_listens, "LOG_JSON": True},
                     redis_main=fakeredis.FakeRedis(decode_responses=True))
    response = app.test_client().post("/users/login/", json={"username": "alice", "password": "x"})
    assert response.status_code == 503 and response.get_json()["code"] == "service_unavailable"
    (line,) = login_lines(capsys.readouterr().err)
    assert line["outcome"] == "unavailable" and line["status"] == 503
    assert line["level"] == "ERROR" and line["message"] == "login unavailable"


def test_malformed_login_is_not_a_failed_password(json_app, capsys):
    client = json_app.test_client()
    assert client.post("/users/login/", json={"username": "alice"}).status_code == 400
    assert client.post("/users/login/", data="[", content_type="application/json").status_code == 400
    assert [line["outcome"] for line in login_lines(capsys.readouterr().err)] == ["invalid", "invalid"]
