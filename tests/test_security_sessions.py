"""Sessions: every login listed where its owner can see it, and ended one by one (its
access tokens stop at once, on every worker), or all but the current one."""

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import update

from luffy.core.models import RefreshToken, Session, utcnow
from luffy.extensions import db
from tests.accounts import PASSWORD, add_user
from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, reachable, request, server_env

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"
BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}


def login(client, agent=AGENT, address="203.0.113.7"):
    answer = client.post("/users/login/", json={"username": "alice", "password": PASSWORD},
                         headers={"User-Agent": agent}, environ_overrides={"REMOTE_ADDR": address})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def bearer(tokens):
    return {"Authorization": f"Bearer {tokens['token']}"}


def sid(tokens):
    return jwt.decode(tokens["token"], options={"verify_signature": False})["sid"]


def listed(client, tokens):
    answer = client.get("/users/sessions", headers=bearer(tokens))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["sessions"]


def refused(response):
    return response.status_code == 401 and response.get_json() == BAD_TOKEN


def alive(client, tokens):
    """Whether the login's access and refresh tokens still work (both, or neither)."""
    me = client.get("/users/me", headers=bearer(tokens)).status_code == 200
    refreshed = client.post("/users/login/refresh",
                            json={"refresh": tokens["refresh"]}).status_code == 200
    assert me == refreshed, (me, refreshed)
    return me


@pytest.fixture
def alice(user):
    return user


def test_every_login_is_listed_newest_first_with_the_current_one_marked(client, alice):
    laptop = login(client)
    phone = login(client, agent=PHONE, address="198.51.100.20")
    sessions = listed(client, laptop)
    assert [s["id"] for s in sessions] == [sid(phone), sid(laptop)]
    assert [s["current"] for s in sessions] == [False, True]
    assert [s["current"] for s in listed(client, phone)] == [True, False]
    newest = sessions[0]
    assert set(newest) == {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
    assert (newest["ip"], newest["user_agent"]) == ("198.51.100.20", PHONE)
    assert newest["created_at"].endswith("Z") and newest["last_used_at"] == newest["created_at"]


def test_ending_one_session_stops_its_tokens_at_once_and_leaves_the_others(client, alice):
    laptop, lost_phone = login(client), login(client, agent=PHONE)
    answer = client.delete(f"/users/sessions/{sid(lost_phone)}", headers=bearer(laptop))
    assert answer.status_code == 200 and answer.get_json() == {}
    assert not alive(client, lost_phone)
    assert refused(client.post("/users/login/verify", json={"token": lost_phone["token"]}))
    assert alive(client, laptop)
    assert [s["id"] for s in listed(client, laptop)] == [sid(laptop)]
    events = client.get("/users/events", headers=bearer(laptop)).get_json()["events"]
    assert events[0]["type"] == "session_ended"


def test_ending_the_others_keeps_the_current_session(client, alice):
    first, second, current = login(client), login(client), login(client)
    answer = client.delete("/users/sessions", headers=bearer(current))
    assert answer.status_code == 200 and answer.get_json() == {}
    assert not alive(client, first) and not alive(client, second)
    assert alive(client, current)
    assert [s["id"] for s in listed(client, current)] == [sid(current)]


def test_a_session_id_of_another_account_an_ended_one_or_a_bad_one_is_refused(
        client, alice, make_user):
    make_user("bob", email="bob@example.com", mobile="13900000000")
    mine = login(client)
    bobs = client.post("/users/login/", json={"username": "bob", "password": PASSWORD}).get_json()
    almost_mine = sid(mine)[:-1] + ("1" if sid(mine)[-1] == "0" else "0")
    for target in (sid(bobs), "no-such-session", almost_mine):
        answer = client.delete(f"/users/sessions/{target}", headers=bearer(mine))
        assert answer.status_code == 404, target
        assert answer.get_json() == {"code": "not_found", "detail": "Not found."}
    assert alive(client, bobs)
    ended = login(client)
    assert client.delete(f"/users/sessions/{sid(ended)}", headers=bearer(mine)).status_code == 200
    assert client.delete(f"/users/sessions/{sid(ended)}", headers=bearer(mine)).status_code == 404
    answer = client.delete(f"/users/sessions/{'x' * 37}", headers=bearer(mine))
    assert answer.status_code == 400 and "session_id" in answer.get_json()["errors"]


def test_the_session_list_needs_credentials(client, alice):
    answer = client.get("/users/sessions")
    assert answer.status_code == 401 and answer.get_json()["code"] == "not_authenticated"


def test_logout_and_a_password_change_end_sessions_in_the_list(client, alice):
    kept, logged_out = login(client), login(client)
    assert client.post("/users/logout", json={"refresh": logged_out["refresh"]}).status_code == 200
    assert [s["id"] for s in listed(client, kept)] == [sid(kept)]
    changed = client.post("/users/password", headers=bearer(kept),
                          json={"old_password": PASSWORD, "new_password": "another good password"})
    assert changed.status_code == 200
    fresh = client.post("/users/login/", json={"username": "alice",
                                               "password": "another good password"}).get_json()
    assert [s["id"] for s in listed(client, fresh)] == [sid(fresh)]


def _last_used(app, session_id):
    with app.app_context():
        return db.session.get(Session, session_id)


def test_a_refresh_touches_the_session_at_most_once_an_interval(make_app):
    app = make_app(SESSION_TOUCH_INTERVAL=60)
    add_user(app)
    client = app.test_client()
    tokens = login(client)
    before = _last_used(app, sid(tokens))
    refreshed = client.post("/users/login/refresh", json={"refresh": tokens["refresh"]},
                            headers={"User-Agent": PHONE})
    assert refreshed.status_code == 200
    assert jwt.decode(refreshed.get_json()["access"], options={"verify_signature": False})["sid"] \
        == sid(tokens)
    same = _last_used(app, sid(tokens))
    assert (same.last_used_at, same.user_agent) == (before.last_used_at, AGENT)  # within 60 s
    backdated = (utcnow() - timedelta(seconds=61)).replace(microsecond=0)
    with app.app_context():  # as if the last write were a minute old
        db.session.execute(update(Session).values(last_used_at=backdated))
        db.session.commit()
    client.post("/users/login/refresh", json={"refresh": tokens["refresh"]},
                headers={"User-Agent": PHONE}, environ_overrides={"REMOTE_ADDR": "198.51.100.9"})
    touched = _last_used(app, sid(tokens))
    assert touched.last_used_at > backdated  # written again (MySQL keeps whole seconds)
    assert touched.last_used_at >= before.last_used_at.replace(microsecond=0)
    assert (touched.ip, touched.user_agent) == ("198.51.100.9", PHONE)


def test_an_expired_session_is_not_listed(app, client, alice):
    old, current = login(client), login(client)
    with app.app_context():
        db.session.execute(update(RefreshToken).where(RefreshToken.family == sid(old))
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert [s["id"] for s in listed(client, current)] == [sid(current)]


@pytest.mark.slow
def test_an_ended_session_is_refused_at_once_by_every_worker(tmp_path, make_app):
    """Two gunicorn workers share the denylist in Redis: the access token of a session
    ended through one is refused by both, long before it expires."""
    redis_url = REDIS_URL or "redis://127.0.0.1:6379/7"
    if reachable(redis_url):
        pytest.skip(reachable(redis_url))
    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", redis_url)
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "gina", "--email", "gina@example.com", "--mobile",
          "13700000000", "--password", PASSWORD)
    with Server(env, workers=2) as server:
        logins = []
        for _ in range(2):
            status, _, body = request("POST", server.url + "/users/login/",
                                      {"username": "gina", "password": PASSWORD})
            assert status == 200, body
            logins.append(body)
        keep, end = logins
        auth = {"Authorization": f"Bearer {keep['token']}"}
        status, _, body = request("DELETE", server.url + f"/users/sessions/{sid(end)}",
                                  headers=auth)
        assert status == 200, body
        for _ in range(10):  # keep-alive off: each request may land on either worker
            status, _, body = request("GET", server.url + "/users/me",
                                      headers={"Authorization": f"Bearer {end['token']}"})
            assert status == 401 and body["code"] == "token_not_valid"
            assert request("GET", server.url + "/users/me", headers=auth)[0] == 200
