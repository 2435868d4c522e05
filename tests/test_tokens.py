"""Refresh, verify, logout and /users/me, and the tokens they refuse."""

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import delete

from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD, AuthActions, add_user

BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _update(app, user, **values):
    with app.app_context():
        account = db.session.get(User, user.id)
        for key, value in values.items():
            setattr(account, key, value)
        db.session.commit()


@pytest.mark.parametrize("path", ["/users/login/refresh", "/users/login/refresh/"])
def test_refresh_gives_a_new_access_token(client, auth, user, path):
    tokens = auth.tokens()
    response = client.post(path, json={"refresh": tokens["refresh"]})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access"}
    assert response.headers["Cache-Control"] == "no-store"
    claims = _claims(body["access"])
    assert claims["token_type"] == "access" and claims["user_id"] == user.id
    assert claims["jti"] != _claims(tokens["token"])["jti"]


def test_refresh_takes_a_form(client, auth, user):
    response = client.post("/users/login/refresh", data={"refresh": auth.tokens()["refresh"]})
    assert response.status_code == 200 and "access" in response.get_json()


def test_refresh_carries_the_current_profile(app, client, auth, user):
    refresh = auth.tokens()["refresh"]
    _update(app, user, nickname="Al", credit=99, avatar="https://cdn.example.com/a.png")
    access = client.post("/users/login/refresh", json={"refresh": refresh}).get_json()["access"]
    claims = _claims(access)
    assert (claims["nickname"], claims["credit"], claims["avatar"]) == \
        ("Al", 99, "https://cdn.example.com/a.png")


def test_refresh_refuses_a_deactivated_account(app, client, auth, user):
    refresh = auth.tokens()["refresh"]
    _update(app, user, is_active=False)
    response = client.post("/users/login/refresh", json={"refresh": refresh})
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_deleted_account_tokens_are_refused(app, client, auth, user):
    tokens = auth.tokens()
    with app.app_context():
        db.session.execute(delete(User).where(User.id == user.id))
        db.session.commit()
    for response in (client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}),
                     client.get("/users/me", headers={"Authorization": f"Bearer {tokens['token']}"})):
        assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_refresh_refuses_an_access_token(client, auth, user):
    response = client.post("/users/login/refresh", json={"refresh": auth.tokens()["token"]})
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_refresh_without_a_token_is_invalid(client):
    response = client.post("/users/login/refresh", json={})
    assert response.status_code == 400 and "refresh" in response.get_json()["errors"]


def test_verify_takes_access_and_refresh_tokens(client, auth, user):
    tokens = auth.tokens()
    for token in (tokens["token"], tokens["refresh"]):
        response = client.post("/users/login/verify", json={"token": token})
        assert response.status_code == 200 and response.get_json() == {}
    assert client.post("/users/login/verify/", data={"token": tokens["token"]}).status_code == 200


def _forge(app, claims, key=None, algorithm="HS256", headers=None):
    return jwt.encode(claims, key or app.config["JWT_SECRET_KEY"], algorithm=algorithm,
                      headers=headers)


def test_verify_refuses_every_defect(app, client, auth, user):
    token = auth.tokens()["token"]
    claims = _claims(token)
    kid = jwt.get_unverified_header(token)["kid"]
    head, payload, signature = token.split(".")
    expired = {**claims, "exp": claims["iat"] - 10, "iat": claims["iat"] - 400}
    defects = {
        "garbage": "not-a-token",
        "empty parts": "..",
        "tampered payload": f"{head}.{payload[:-2]}xx.{signature}",
        "bad signature": f"{head}.{payload}.{signature[::-1]}",
        "other secret": _forge(app, claims, key="x" * 64, headers={"kid": kid}),
        "expired": _forge(app, expired, headers={"kid": kid}),
        "no kid": _forge(app, claims),
        "unknown kid": _forge(app, claims, headers={"kid": "nope"}),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        "no user_id": _forge(app, {k: v for k, v in claims.items() if k != "user_id"},
                             headers={"kid": kid}),
        "unknown token_type": _forge(app, {**claims, "token_type": "id"}, headers={"kid": kid}),
    }
    for name, bad in defects.items():
        response = client.post("/users/login/verify", json={"token": bad})
        assert response.status_code == 401, name
        assert response.get_json() == BAD_TOKEN, name
        assert "WWW-Authenticate" in response.headers, name


def test_expired_access_token_is_refused_by_me(make_app):
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=-1))
    add_user(app, "eve", email="eve@example.com", mobile="13600000000")
    client = app.test_client()
    token = client.post("/users/login/", json={"username": "eve", "password": PASSWORD}).get_json()["token"]
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_logout_kills_the_refresh_token(client, auth, user):
    refresh = auth.tokens()["refresh"]
    response = client.post("/users/logout", json={"refresh": refresh})
    assert response.status_code == 200 and response.get_json() == {}
    again = client.post("/users/logout/", json={"refresh": refresh})
    assert again.status_code == 401 and again.get_json() == BAD_TOKEN
    assert client.post("/users/login/refresh", json={"refresh": refresh}).status_code == 401
    assert client.post("/users/login/verify", json={"token": refresh}).status_code == 401


def test_logout_leaves_other_sessions_alone(client, auth, user):
    first, second = auth.tokens()["refresh"], auth.tokens()["refresh"]
    assert client.post("/users/logout", data={"refresh": first}).status_code == 200
    assert client.post("/users/login/refresh", json={"refresh": second}).status_code == 200


def test_me_answers_the_profile(client, user, auth_headers):
    response = client.get("/users/me", headers=auth_headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": user.id, "username": "alice", "email": "alice@example.com",
        "mobile": "13800000001", "nickname": "Alice", "avatar": "", "money": 12.5, "credit": 30,
        "email_verified": False,
    }


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_in_any_case(client, auth, user, scheme):
    token = auth.tokens()["token"]
    response = client.get("/users/me", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200


def test_me_refuses_a_refresh_token(client, auth, user):
    token = auth.tokens()["refresh"]
    response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN


@pytest.mark.parametrize("header", [None, "", "Token abc", "Bearer", "Bearer a b"])
def test_me_without_usable_credentials(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] in ("not_authenticated", "token_not_valid")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_me_without_credentials_is_not_authenticated(client):
    response = client.get("/users/me")
    assert response.get_json() == {"code": "not_authenticated",
                                   "detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("identifier", ["alice", "ALICE@example.com", "13800000001"])
def test_me_with_http_basic(client, auth, user, identifier):
    response = client.get("/users/me", headers=auth.basic(identifier))
    assert response.status_code == 200 and response.get_json()["username"] == "alice"


def test_basic_with_a_wrong_password(client, auth, user):
    response = client.get("/users/me", headers=auth.basic("alice", "wrong"))
    assert response.status_code == 401 and response.get_json()["code"] == "authentication_failed"


def test_basic_can_be_turned_off(make_app, user):
    app = make_app(AUTH_BASIC=False)
    add_user(app, "bob", email="bob@example.com", mobile="13900000000")
    response = app.test_client().get("/users/me", headers=AuthActions.basic("bob"))
    assert response.status_code == 401 and response.get_json()["code"] == "not_authenticated"


def test_basic_with_over_long_credentials_is_invalid(client, auth, user):
    for headers in (auth.basic("a" * 255, PASSWORD), auth.basic("alice", "p" * 1025)):
        response = client.get("/users/me", headers=headers)
        assert response.status_code == 400 and response.get_json()["code"] == "invalid"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "JWT", "jwt", "BEARER"])
def test_access_token_under_every_accepted_scheme(client, auth, user, scheme):
    access = auth.tokens()["token"]
    response = client.get("/users/me", headers={"Authorization": f"{scheme} {access}"})
    assert response.status_code == 200, response.get_json()


def test_a_scheme_not_in_auth_header_types_is_refused(make_app):
    app = make_app(AUTH_HEADER_TYPES=["Bearer"])
    add_user(app)
    client = app.test_client()
    access = AuthActions(client).tokens()["token"]
    for scheme in ("JWT", "Token"):
        response = client.get("/users/me", headers={"Authorization": f"{scheme} {access}"})
        assert response.status_code == 401 and response.get_json()["code"] == "not_authenticated"
    assert client.get("/users/me", headers={"Authorization": f"bearer {access}"}).status_code == 200
