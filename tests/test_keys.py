"""Signing keys through the HTTP API: audience and issuer, RS/ES key pairs, kids, JWKS, rotation."""

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path

import jwt
import pytest

from tests.accounts import PASSWORD, add_user
from tests.backends import DATABASE_URL

BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}
SECRET_A = "first-signing-secret-0123456789abcdef0123456789"
SECRET_B = "second-signing-secret-0123456789abcdef012345678"


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def header(token):
    return jwt.get_unverified_header(token)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def login(app):
    response = app.test_client().post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def me(app, token):
    return app.test_client().get("/users/me", headers={"Authorization": f"Bearer {token}"})


def verify(app, token):
    return app.test_client().post("/users/login/verify", json={"token": token})


def refused(response):
    return response.status_code == 401 and response.get_json() == BAD_TOKEN


def accepted_everywhere(app, tokens):
    """The access token opens /users/me and verifies; the refresh token refreshes."""
    client = app.test_client()
    return (me(app, tokens["token"]).status_code == 200
            and verify(app, tokens["token"]).status_code == 200
            and client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}).status_code == 200)


def refused_everywhere(app, tokens):
    client = app.test_client()
    return (refused(me(app, tokens["token"])) and refused(verify(app, tokens["token"]))
            and refused(client.post("/users/login/refresh", json={"refresh": tokens["refresh"]})))


@pytest.fixture
def database(tmp_path):
    """One database several apps share: the real one, or a SQLite file."""
    return DATABASE_URL or f"sqlite:///{tmp_path}/keys.sqlite3"


def generate(runner, algorithm, out):
    """``flask keys generate``; returns (kid, private path, public path)."""
    result = runner.invoke(args=["keys", "generate", "--algorithm", algorithm, "--out", str(out)])
    assert result.exit_code == 0, result.output
    kid = re.search(r"kid (\S+)", result.output).group(1)
    private, public = out / f"{kid}.pem", out / f"{kid}.pub.pem"
    assert private.is_file() and public.is_file()
    assert private.stat().st_mode & 0o077 == 0  # the private key is not world-readable
    return kid, str(private), str(public)


def resign_hs(token, secret, **changes):
    """``token`` with its claims changed (None deletes one), re-signed with ``secret``."""
    payload = {**claims(token), **changes}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": header(token)["kid"]})


# Audience and issuer

@pytest.fixture
def scoped(make_app):
    app = make_app(JWT_AUDIENCE="luffy-api", JWT_ISSUER="https://auth.luffy.example")
    add_user(app)
    return app


def test_audience_and_issuer_go_into_new_tokens(scoped):
    tokens = login(scoped)
    for token in (tokens["token"], tokens["refresh"]):
        payload = claims(token)
        assert payload["aud"] == "luffy-api" and payload["iss"] == "https://auth.luffy.example"
    assert accepted_everywhere(scoped, tokens)


@pytest.mark.parametrize("changes", [
    {"aud": None}, {"aud": "another-api"}, {"iss": None}, {"iss": "https://evil.example"},
])
def test_audience_and_issuer_are_required(scoped, changes):
    tokens = login(scoped)
    secret = scoped.config["JWT_SECRET_KEY"]
    forged = {name: resign_hs(token, secret, **changes) for name, token in tokens.items()
              if name in ("token", "refresh")}
    assert refused_everywhere(scoped, forged)
    # The same tokens re-signed without a change pass: only the claim was refused.
    resigned = {name: resign_hs(tokens[name], secret) for name in ("token", "refresh")}
    assert accepted_everywhere(scoped, resigned)


def test_a_token_of_another_audience_is_refused(make_app, database):
    ours = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_AUDIENCE="luffy-api")
    theirs = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_AUDIENCE="billing-api")
    add_user(ours)
    assert accepted_everywhere(ours, login(ours))
    assert refused_everywhere(ours, login(theirs))


# RS256 / ES256

@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_asymmetric_keys_sign_and_the_jwks_verifies(make_app, runner, tmp_path, algorithm):
    kid, private, public = generate(runner, algorithm, tmp_path / "keys")
    app = make_app(JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=private,
                   JWT_PUBLIC_KEY_FILES=[public])
    add_user(app)
    tokens = login(app)
    for token in (tokens["token"], tokens["refresh"]):
        assert header(token) == {"alg": algorithm, "kid": kid, "typ": "JWT"}
    assert accepted_everywhere(app, tokens)

    response = app.test_client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.get_json()["keys"]
    assert [k["kid"] for k in keys] == [kid]
    assert keys[0]["alg"] == algorithm and keys[0]["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])  # no private members
    # Another service verifies with PyJWT and the JWKS alone: no secret, no luffy code.
    jwk_set = jwt.PyJWKSet.from_dict(response.get_json())
    key = jwk_set[header(tokens["token"])["kid"]]
    payload = jwt.decode(tokens["token"], key.key, algorithms=[algorithm])
    assert payload["token_type"] == "access" and payload["user_id"] > 0
    assert jwt.decode(tokens["refresh"], jwt.PyJWK(keys[0]).key, algorithms=[algorithm])["token_type"] == "refresh"


def test_a_retired_key_still_verifies_and_a_removed_one_does_not(make_app, runner, tmp_path, database):
    old_kid, old_private, old_public = generate(runner, "RS256", tmp_path / "old")
    new_kid, new_private, new_public = generate(runner, "RS256", tmp_path / "new")
    before = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_ALGORITHM="RS256",
                      JWT_PRIVATE_KEY_FILE=old_private)
    retired = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_ALGORITHM="RS256",
                       JWT_PRIVATE_KEY_FILE=new_private, JWT_PUBLIC_KEY_FILES=[new_public, old_public])
    removed = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_ALGORITHM="RS256",
                       JWT_PRIVATE_KEY_FILE=new_private, JWT_PUBLIC_KEY_FILES=[new_public])
    add_user(before)
    old_tokens = login(before)
    assert header(old_tokens["token"])["kid"] == old_kid

    assert accepted_everywhere(retired, old_tokens)
    assert header(login(retired)["token"])["kid"] == new_kid  # the new key signs
    jwks = retired.test_client().get("/.well-known/jwks.json").get_json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]

    assert refused_everywhere(removed, login(before))
    jwks = removed.test_client().get("/.well-known/jwks.json").get_json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid]


# HMAC secrets

def test_previous_hs_secrets_verify_and_unknown_ones_do_not(make_app, database):
    before = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_SECRET_KEY=SECRET_A)
    rotated = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_SECRET_KEY=SECRET_B,
                       JWT_PREVIOUS_SECRET_KEYS=[SECRET_A])
    forgotten = make_app(SQLALCHEMY_DATABASE_URI=database, JWT_SECRET_KEY=SECRET_B)
    add_user(before)
    old_tokens = login(before)
    assert accepted_everywhere(rotated, old_tokens)
    new_kid = header(login(rotated)["token"])["kid"]
    assert new_kid != header(old_tokens["token"])["kid"]
    assert SECRET_B not in new_kid  # the kid does not reveal the secret
    assert refused_everywhere(forgotten, login(before))
    assert rotated.test_client().get("/.well-known/jwks.json").get_json() == {"keys": []}


def test_unknown_kid_is_refused(app, auth, user):
    tokens = auth.tokens()
    secret = app.config["JWT_SECRET_KEY"]
    for kid in ("no-such-key", None):
        payload = claims(tokens["token"])
        headers = {"kid": kid} if kid else {}
        forged = jwt.encode(payload, secret, algorithm="HS256", headers=headers)
        assert refused(me(app, forged)) and refused(verify(app, forged))
    assert me(app, tokens["token"]).status_code == 200


def test_alg_none_is_refused(app, auth, user):
    token = auth.tokens()["token"]
    kid = header(token)["kid"]
    unsigned = (b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode()) + "."
                + b64(json.dumps(claims(token)).encode()) + ".")
    assert refused(me(app, unsigned)) and refused(verify(app, unsigned))


def test_an_hs_token_under_an_rs_config_is_refused(make_app, runner, tmp_path):
    kid, private, public = generate(runner, "RS256", tmp_path / "keys")
    app = make_app(JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=private)
    add_user(app)
    token = login(app)["token"]
    assert me(app, token).status_code == 200
    # Algorithm confusion: HMAC-sign with the public key, which every verifier knows.
    signing_input = (b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode()) + "."
                     + b64(json.dumps(claims(token)).encode()))
    for secret in (Path(public).read_bytes(), app.config["SECRET_KEY"].encode()):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = signing_input + "." + b64(signature)
        assert refused(me(app, forged)) and refused(verify(app, forged))


def test_jwks_is_empty_with_hmac(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.get_json() == {"keys": []}
