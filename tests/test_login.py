"""POST /users/login/: identifiers, bodies, the answer, and failures that look alike."""

import jwt
import pytest

from luffy.core import passwords
from luffy.core.models import User
from luffy.redis_clients import redis_from_url
from luffy.extensions import db
from tests.accounts import PASSWORD, add_user

BAD = {"code": "authentication_failed",
       "detail": "No active account found with the given credentials"}


@pytest.mark.parametrize("identifier", ["alice", "alice@example.com", "ALICE@Example.COM",
                                        "13800000001"])
def test_login_by_each_identifier(auth, user, identifier):
    response = auth.login(identifier)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"token", "refresh", "cart_total"}
    assert jwt.decode(body["token"], options={"verify_signature": False})["user_id"] == user.id
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/users/login/", "/users/login"])
def test_login_with_and_without_slash_and_as_form(client, user, path):
    response = client.post(path, data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert "token" in response.get_json()


def test_login_multipart_form(client, user):
    response = client.post("/users/login/", data={"username": "alice", "password": PASSWORD},
                           content_type="multipart/form-data")
    assert response.status_code == 200


def test_access_token_claims(auth, user, app):
    body = auth.tokens()
    claims = jwt.decode(body["token"], app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["user_id"] == user.id and isinstance(claims["user_id"], int)
    assert claims["token_type"] == "access"
    assert claims["nickname"] == "Alice" and claims["avatar"] == ""
    assert claims["money"] == 12.5 and claims["credit"] == 30
    assert claims["exp"] - claims["iat"] == 300
    assert {"jti", "iat", "exp"} <= set(claims)
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256" and header["kid"]


def test_refresh_token_claims_carry_no_profile(auth, user, app):
    claims = jwt.decode(auth.tokens()["refresh"], app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["token_type"] == "refresh" and claims["user_id"] == user.id
    assert claims["exp"] - claims["iat"] == 86400
    assert not {"nickname", "avatar", "money", "credit"} & set(claims)


def test_cart_total_counts_the_cart_hash(auth, user, redis_client):
    redis_client.hset(f"cart_{user.id}", mapping={"1": "1", "7": "2", "9": "1"})
    assert auth.tokens()["cart_total"] == 3


def test_empty_cart_is_zero(auth, user):
    assert auth.tokens()["cart_total"] == 0


def test_login_survives_a_dead_cart_redis(make_app, caplog):
    app = make_app()
    app.extensions["luffy_redis"]["cart"] = redis_from_url("redis://127.0.0.1:1/0", 0.2)
    add_user(app, "bob", email="bob@example.com", mobile="13900000000")
    response = app.test_client().post("/users/login/", json={"username": "bob", "password": PASSWORD})
    assert response.status_code == 200
    assert response.get_json()["cart_total"] is None
    assert "cart store unavailable" in caplog.text


def test_wrong_password_unknown_and_inactive_look_alike(auth, make_user):
    make_user()
    make_user("carol", email="carol@example.com", mobile="13800000009", is_active=False)
    answers = [auth.login("alice", "wrong password"), auth.login("nobody", PASSWORD),
               auth.login("carol", PASSWORD)]
    for response in answers:
        assert response.status_code == 401
        assert response.get_json() == BAD
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_account_still_checks_a_hash(auth, user, monkeypatch):
    calls = []
    real = passwords.burn_time
    monkeypatch.setattr(passwords, "burn_time", lambda pw: calls.append(pw) or real(pw))
    assert auth.login("nobody", "some password").status_code == 401
    assert calls == ["some password"]


def test_last_login_is_recorded(auth, user, app):
    auth.tokens()
    with app.app_context():
        assert db.session.get(User, user.id).last_login is not None


@pytest.mark.parametrize("body, field", [
    ({"password": PASSWORD}, "username"),
    ({"username": "alice"}, "password"),
    ({"username": "", "password": PASSWORD}, "username"),
    ({"username": "alice", "password": ""}, "password"),
    ({"username": 5, "password": PASSWORD}, "username"),
    ({"username": ["alice"], "password": PASSWORD}, "username"),
    ({"username": {"a": 1}, "password": PASSWORD}, "username"),
    ({"username": True, "password": PASSWORD}, "username"),
    ({"username": "alice", "password": 123456}, "password"),
    ({"username": "a" * 255, "password": PASSWORD}, "username"),
    ({"username": "alice", "password": "p" * 1025}, "password"),
])
def test_invalid_fields(client, user, body, field):
    response = client.post("/users/login/", json=body)
    assert response.status_code == 400
    data = response.get_json()
    assert data["code"] == "invalid" and field in data["errors"]


@pytest.mark.parametrize("payload", ["[1, 2]", "3", "null", '"alice"'])
def test_json_that_is_not_an_object_is_invalid(client, payload):
    response = client.post("/users/login/", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid"


@pytest.mark.parametrize("payload", ["{bad", "", '{"username": "a",}', "[" * 50000])
def test_unparsable_json_is_a_parse_error(client, payload):
    response = client.post("/users/login/", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "parse_error"


def test_other_media_types_are_415(client):
    response = client.post("/users/login/", data="username=alice", content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_413(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    response = client.post("/users/login/", json={"username": "a", "password": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"


def test_login_rehashes_a_werkzeug_hash(auth, user, app):
    from werkzeug.security import generate_password_hash
    with app.app_context():
        account = db.session.get(User, user.id)
        account.password = generate_password_hash(PASSWORD)
        db.session.commit()
    assert auth.login().status_code == 200
    with app.app_context():
        assert db.session.get(User, user.id).password.startswith("$argon2id$")


def test_an_unusable_stored_hash_still_costs_a_check(auth, user, app, monkeypatch):
    with app.app_context():
        db.session.get(User, user.id).password = "!unusable-django-password"
        db.session.commit()
    calls = []
    real = passwords.burn_time
    monkeypatch.setattr(passwords, "burn_time", lambda pw: calls.append(pw) or real(pw))
    assert auth.login().get_json() == BAD
    assert calls == [PASSWORD]


def test_an_inactive_account_is_not_rehashed(auth, user, app):
    from werkzeug.security import generate_password_hash
    with app.app_context():
        account = db.session.get(User, user.id)
        account.password, account.is_active = generate_password_hash(PASSWORD), False
        db.session.commit()
    assert auth.login().status_code == 401
    with app.app_context():
        assert db.session.get(User, user.id).password.startswith("scrypt:")
