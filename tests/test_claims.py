"""A good signature is not enough: tokens signed with the right key and ``kid`` but
carrying claims luffy never issues are 401 ``token_not_valid`` on every path, never 500."""

import jwt
import pytest

from luffy.core.tokens import MAX_USER_ID
from tests.accounts import PASSWORD, add_user

BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}
DROP = object()

# (name, claim, value): each makes one claim of a real token wrong (DROP removes it).
COMMON = [
    ("user_id true", "user_id", True),
    ("user_id float", "user_id", 1.0),
    ("user_id string", "user_id", "1"),
    ("user_id list", "user_id", [1]),
    ("user_id null", "user_id", None),
    ("user_id zero", "user_id", 0),
    ("user_id negative", "user_id", -1),
    ("user_id 2^63", "user_id", 2**63),
    ("user_id 10^30", "user_id", 10**30),
    ("user_id past the column", "user_id", MAX_USER_ID + 1),
    ("no user_id", "user_id", DROP),
    ("no exp", "exp", DROP),
    ("exp text", "exp", "9999999999"),
    ("exp true", "exp", True),
    ("no iat", "iat", DROP),
    ("iat text", "iat", "0"),
    ("no jti", "jti", DROP),
    ("jti number", "jti", 12345),
    ("jti empty", "jti", ""),
    ("jti object", "jti", {"a": 1}),
    ("no token_type", "token_type", DROP),
    ("token_type other", "token_type", "id"),
    ("token_type list", "token_type", ["access"]),
    ("type disagrees", "type", "other"),
]
ACCESS_ONLY = [
    ("no ver", "ver", DROP),
    ("ver text", "ver", "0"),
    ("ver negative", "ver", -1),
    ("ver true", "ver", True),
    ("sid number", "sid", 5),
    ("sid list", "sid", ["a"]),
    ("sid over-long", "sid", "s" * 37),
]


@pytest.fixture
def tokens(client, alice):
    response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    return response.get_json()


def forge(app, token, claim, value):
    """``token`` re-signed with the app's signing key and kid, one claim changed."""
    claims = jwt.decode(token, options={"verify_signature": False})
    if value is DROP:
        del claims[claim]
    else:
        claims[claim] = value
    ring = app.extensions["luffy_keys"]
    return jwt.encode(claims, ring.signing_key, algorithm=app.config["JWT_ALGORITHM"],
                      headers={"kid": ring.signing_kid})


def refused(response):
    return response.status_code == 401 and response.get_json() == BAD_TOKEN


def test_a_faithful_re_signature_is_accepted(app, client, tokens):
    """The forging itself is sound: re-signing unchanged claims gives a working token."""
    access = forge(app, tokens["token"], "credit", 30)
    assert client.get("/users/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    refresh = forge(app, tokens["refresh"], "token_type", "refresh")
    assert client.post("/users/login/refresh", json={"refresh": refresh}).status_code == 200


@pytest.mark.parametrize("name, claim, value", COMMON + ACCESS_ONLY, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_access_claims_are_refused_everywhere(app, client, tokens, name, claim, value):
    access = forge(app, tokens["token"], claim, value)
    assert refused(client.get("/users/me", headers={"Authorization": f"Bearer {access}"})), name
    assert refused(client.get("/users/me", headers={"Authorization": f"JWT {access}"})), name
    client.set_cookie("access_token_cookie", access)
    assert refused(client.get("/users/me")), name
    client.delete_cookie("access_token_cookie")
    assert refused(client.post("/users/login/verify", json={"token": access})), name


@pytest.mark.parametrize("name, claim, value", COMMON, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_refresh_claims_are_refused_everywhere(app, client, tokens, name, claim, value):
    refresh = forge(app, tokens["refresh"], claim, value)
    assert refused(client.post("/users/login/refresh", json={"refresh": refresh})), name
    assert refused(client.post("/users/login/verify", json={"token": refresh})), name
    assert refused(client.post("/users/logout", json={"refresh": refresh})), name
    # The real token was not harmed by the attempts.
    assert client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}).status_code == 200


@pytest.mark.parametrize("user_id", [-1, 0, "other"])
def test_a_refresh_token_for_another_account_is_refused(app, client, tokens, user_id):
    if user_id == "other":
        user_id = add_user(app, "bob", email="bob@example.com", mobile="13800000002").id
    refresh = forge(app, tokens["refresh"], "user_id", user_id)
    assert refused(client.post("/users/login/refresh", json={"refresh": refresh}))
    assert refused(client.post("/users/login/verify", json={"token": refresh}))
    assert refused(client.post("/users/logout", json={"refresh": refresh}))


def test_a_csrf_claim_that_is_not_text_is_refused_in_cookie_mode(app, client, alice):
    response = client.post("/users/login/?cookies=1", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    access = client.get_cookie("access_token_cookie").value
    csrf = client.get_cookie("csrf_access_token").value
    client.set_cookie("access_token_cookie", forge(app, access, "csrf", 12345))
    headers = {"X-CSRF-TOKEN": csrf}
    assert refused(client.post("/users/password", headers=headers,
                               json={"old_password": PASSWORD, "new_password": "another passphrase"}))
    refresh = client.get_cookie("refresh_token_cookie", path="/users/login/refresh").value
    client.set_cookie("refresh_token_cookie", forge(app, refresh, "csrf", 12345), path="/users/login/refresh")
    assert refused(client.post("/users/login/refresh", headers={"X-CSRF-TOKEN": "12345"}))
