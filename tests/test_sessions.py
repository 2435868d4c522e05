"""Session lifecycle through the HTTP API: rotation, reuse detection, logout, ending sessions."""

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from luffy.core.models import RefreshToken, User, utcnow
from luffy.extensions import db
from luffy.redis_clients import redis_from_url
from tests.accounts import PASSWORD, add_user

BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}
NEW_PASSWORD = "a brand new passphrase"


def claims(token):
    """The payload of ``token``, unverified: the tests only read it."""
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def refresh(client, token):
    return client.post("/users/login/refresh", json={"refresh": token})


def verify(client, token):
    return client.post("/users/login/verify", json={"token": token})


def me(client, token):
    return client.get("/users/me", headers=bearer(token))


def refused(response):
    """A 401 token_not_valid, the contract's answer to every dead token."""
    return response.status_code == 401 and response.get_json() == BAD_TOKEN


@pytest.fixture
def rotating(make_app):
    """An app with refresh-token rotation on (blacklist after rotation: the default)."""
    return make_app(JWT_ROTATE_REFRESH_TOKENS=True)


@pytest.fixture
def rclient(rotating):
    """A client of ``rotating`` with alice in its database."""
    add_user(rotating)
    return rotating.test_client()


def login(client, username="alice", password=PASSWORD):
    response = client.post("/users/login/", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# Rotation and reuse detection

def test_refresh_without_rotation_answers_only_an_access_token(client, auth, user):
    tokens = auth.tokens()
    first = refresh(client, tokens["refresh"])
    assert first.status_code == 200 and set(first.get_json()) == {"access"}
    # Without rotation the refresh token stays usable.
    assert refresh(client, tokens["refresh"]).status_code == 200


def test_rotation_answers_a_new_refresh_token_and_kills_the_used_one(rclient):
    tokens = login(rclient)
    response = refresh(rclient, tokens["refresh"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access", "refresh"}
    new = claims(body["refresh"])
    assert new["token_type"] == "refresh" and new["jti"] != claims(tokens["refresh"])["jti"]
    assert me(rclient, body["access"]).status_code == 200
    # The new one works; the used one is dead (and presenting it is reuse, see below).
    assert refresh(rclient, body["refresh"]).status_code == 200
    assert refused(refresh(rclient, tokens["refresh"]))


def test_reuse_of_a_rotated_token_kills_the_victims_newer_token(rclient, rotating, caplog):
    stolen = login(rclient)["refresh"]
    # The victim keeps refreshing: two rotations.
    victim = refresh(rclient, stolen).get_json()["refresh"]
    victim = refresh(rclient, victim).get_json()["refresh"]
    assert verify(rclient, victim).status_code == 200
    # The thief replays the stolen (already rotated) token.
    caplog.clear()
    assert refused(refresh(rclient, stolen))
    # ...and the victim's newest token died with it: the whole family is revoked.
    assert refused(refresh(rclient, victim))
    assert refused(verify(rclient, victim))
    family, user_id = claims(stolen)["jti"], claims(stolen)["user_id"]
    assert any("reuse" in r.getMessage() and family in r.getMessage()
               and f"user {user_id}" in r.getMessage() for r in caplog.records)
    assert stolen not in caplog.text and victim not in caplog.text
    with rotating.app_context():
        rows = db.session.scalars(select(RefreshToken).where(RefreshToken.family == family)).all()
        assert len(rows) == 3 and all(row.revoked_at is not None for row in rows)


def test_reuse_leaves_other_logins_alone(rclient):
    stolen = login(rclient)["refresh"]
    other = login(rclient)["refresh"]
    refresh(rclient, stolen)
    assert refused(refresh(rclient, stolen))
    assert refresh(rclient, other).status_code == 200


@pytest.fixture
def rotated_pair(make_app):
    """Rotation without blacklisting: a client and the first two refresh tokens of a login."""
    app = make_app(JWT_ROTATE_REFRESH_TOKENS=True, JWT_BLACKLIST_AFTER_ROTATION=False)
    add_user(app)
    client = app.test_client()
    first = login(client)["refresh"]
    return client, first, refresh(client, first).get_json()["refresh"]


def test_rotation_without_blacklist_keeps_the_used_token(rotated_pair):
    client, first, second = rotated_pair
    assert refresh(client, first).status_code == 200
    assert refresh(client, second).status_code == 200


# Logout

def test_logout_kills_the_whole_family(rotated_pair):
    client, first, second = rotated_pair
    assert client.post("/users/logout", json={"refresh": second}).status_code == 200
    # The older token of the same login dies too, not only the one presented.
    assert refused(refresh(client, first))
    assert refused(verify(client, first))


def test_second_logout_is_token_not_valid(client, auth, user):
    token = auth.tokens()["refresh"]
    first = client.post("/users/logout", json={"refresh": token})
    assert first.status_code == 200 and first.get_json() == {}
    second = client.post("/users/logout", json={"refresh": token})
    assert refused(second)
    assert "WWW-Authenticate" in second.headers


def test_logout_denylists_the_access_token_sent_with_it(client, auth, user, redis_client):
    tokens = auth.tokens()
    other = auth.tokens()  # another session of the same account
    assert me(client, tokens["token"]).status_code == 200
    response = client.post("/users/logout", json={"refresh": tokens["refresh"]},
                           headers=bearer(tokens["token"]))
    assert response.status_code == 200
    assert refused(me(client, tokens["token"]))
    assert refused(verify(client, tokens["token"]))
    key = f"luffy:deny:{claims(tokens['token'])['jti']}"
    assert 0 < redis_client.ttl(key) <= 301
    assert me(client, other["token"]).status_code == 200


def test_logout_without_an_access_token_still_stops_the_sessions_access_tokens(client, auth, user):
    """The session ended: its access tokens carry its id (sid), which goes on the denylist."""
    tokens, other = auth.tokens(), auth.tokens()
    assert client.post("/users/logout", json={"refresh": tokens["refresh"]}).status_code == 200
    assert refused(me(client, tokens["token"]))
    assert refused(verify(client, tokens["token"]))
    assert me(client, other["token"]).status_code == 200  # another login of the account


def test_logout_does_not_denylist_another_accounts_access_token(client, auth, user, make_user):
    make_user("bob", email="bob@example.com", mobile="13900000000")
    alice, bob = auth.tokens(), auth.tokens("bob")
    response = client.post("/users/logout", json={"refresh": alice["refresh"]},
                           headers=bearer(bob["token"]))
    assert response.status_code == 200
    assert me(client, bob["token"]).status_code == 200


def test_unreadable_denylist_lets_the_access_token_through(app, client, auth, user, caplog):
    tokens = auth.tokens()
    client.post("/users/logout", json={"refresh": tokens["refresh"]}, headers=bearer(tokens["token"]))
    assert refused(verify(client, tokens["token"]))
    app.extensions["luffy_redis"]["main"] = redis_from_url("redis://127.0.0.1:1/0", 0.2)
    caplog.clear()
    response = verify(client, tokens["token"])
    assert response.status_code == 200 and response.get_json() == {}
    assert any(r.levelname == "WARNING" and "denylist unreadable" in r.getMessage()
               for r in caplog.records)
    assert me(client, tokens["token"]).status_code == 200


# Ending every session

def change_password(client, token, old=PASSWORD, new=NEW_PASSWORD):
    return client.post("/users/password", json={"old_password": old, "new_password": new},
                       headers=bearer(token))


def test_password_change_ends_every_session(client, auth, user):
    first, second = auth.tokens(), auth.tokens()
    response = change_password(client, first["token"])
    assert response.status_code == 200 and response.get_json() == {}
    for tokens in (first, second):
        assert refused(refresh(client, tokens["refresh"]))
        assert refused(verify(client, tokens["refresh"]))
        assert refused(me(client, tokens["token"]))
        assert refused(verify(client, tokens["token"]))
    assert auth.login().status_code == 401  # the old password is gone
    fresh = auth.tokens(password=NEW_PASSWORD)
    assert me(client, fresh["token"]).status_code == 200
    assert verify(client, fresh["token"]).status_code == 200
    assert refresh(client, fresh["refresh"]).status_code == 200


def test_password_change_checks_the_database_when_redis_is_down(app, client, auth, user):
    tokens = auth.tokens()
    app.extensions["luffy_redis"]["main"] = redis_from_url("redis://127.0.0.1:1/0", 0.2)
    assert change_password(client, tokens["token"]).status_code == 200
    # /users/me reads the account's token version from the database.
    assert refused(me(client, tokens["token"]))
    assert refused(refresh(client, tokens["refresh"]))


def test_password_change_with_a_wrong_old_password(client, auth, user):
    tokens = auth.tokens()
    response = change_password(client, tokens["token"], old="not my password")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid" and "old_password" in body["errors"]
    assert me(client, tokens["token"]).status_code == 200
    assert refresh(client, tokens["refresh"]).status_code == 200
    assert auth.login().status_code == 200


def test_password_change_needs_credentials(client, user):
    response = client.post("/users/password",
                           json={"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401 and response.get_json()["code"] == "not_authenticated"


def test_cli_deactivate_ends_every_session(app, client, auth, user, runner):
    tokens = auth.tokens()
    result = runner.invoke(args=["users", "deactivate", "alice"])
    assert result.exit_code == 0, result.output
    assert refused(refresh(client, tokens["refresh"]))
    assert refused(verify(client, tokens["refresh"]))
    assert refused(me(client, tokens["token"]))
    assert refused(verify(client, tokens["token"]))
    assert auth.login().status_code == 401
    with app.app_context():
        rows = db.session.scalars(select(RefreshToken)).all()
        assert rows and all(row.revoked_at is not None for row in rows)


def test_refresh_of_a_deleted_account(app, client, auth, user):
    tokens = auth.tokens()
    with app.app_context():
        db.session.delete(db.session.get(User, user.id))
        db.session.commit()
    assert refused(refresh(client, tokens["refresh"]))
    assert refused(me(client, tokens["token"]))


# Housekeeping

def test_flush_expired_deletes_only_expired_rows(app, client, auth, user, runner):
    expired, live = auth.tokens()["refresh"], auth.tokens()["refresh"]
    with app.app_context():
        row = db.session.scalars(
            select(RefreshToken).where(RefreshToken.jti == claims(expired)["jti"])).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    result = runner.invoke(args=["tokens", "flush-expired"])
    assert result.exit_code == 0 and "deleted 1 expired" in result.output
    with app.app_context():
        left = db.session.scalars(select(RefreshToken.jti)).all()
    assert left == [claims(live)["jti"]]
    assert refresh(client, live).status_code == 200
    assert refused(refresh(client, expired))


def test_the_token_table_stores_the_jti_not_the_token(app, auth, user):
    token = auth.tokens()["refresh"]
    payload = claims(token)
    with app.app_context():
        row = db.session.scalars(select(RefreshToken)).one()
        values = [str(getattr(row, c.key)) for c in RefreshToken.__table__.columns]
    assert row.jti == payload["jti"] and row.user_id == user.id
    assert abs(row.expires_at - row.created_at - timedelta(days=1)) < timedelta(seconds=5)
    for part in token.split("."):
        assert not any(part in value for value in values)
    assert "jti" in {i.columns[0].name for i in RefreshToken.__table__.indexes} | \
        {c.name for c in RefreshToken.__table__.columns if c.unique}
