"""A credential that is present but malformed is a bad token, not a missing one (issue
16, item 12): under any ``AUTH_HEADER_TYPES`` scheme, an empty value or one that is no
JWT is 401 ``token_not_valid``; only a request with no credential at all is
``not_authenticated``. Werkzeug's parse gives no token for some such values
(``Bearer ===.===.===`` reads as auth-params), so the header is judged as sent."""

import pytest

from tests.accounts import PASSWORD

BAD_TOKEN = {"code": "token_not_valid", "detail": "Token is invalid or expired"}
NO_CREDENTIALS = {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}
MALFORMED = [
    "Bearer ===.===.===", "Bearer =", "Bearer a=b", "Bearer a=b, c=d", "Bearer", "Bearer ",
    "bearer    ", "Bearer ,", "Bearer a b", "Bearer not-a-jwt", "BEARER a.b.c", "JWT ===.===.===",
    "jwt", "JWT a=b",
]
# Each protected endpoint, with a body that would otherwise pass (the confirm code
# request also asks for the account's password).
ENDPOINTS = [
    ("get", "/users/me", None),
    ("post", "/users/password", {"old_password": PASSWORD, "new_password": "a long and unusual passphrase"}),
    ("post", "/users/email/code", {"email": "a@example.com", "purpose": "confirm", "password": PASSWORD}),
]


def call(client, method, path, body, header):
    headers = {} if header is None else {"Authorization": header}
    return getattr(client, method)(path, json=body, headers=headers)


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
@pytest.mark.parametrize("header", MALFORMED)
def test_a_malformed_credential_is_a_bad_token(client, user, method, path, body, header):
    response = call(client, method, path, body, header)
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
@pytest.mark.parametrize("header", [None, "", "   ", "Token abc", "Negotiate ===.===.==="])
def test_no_credential_of_an_accepted_scheme_is_not_authenticated(client, user, method, path, body,
                                                                  header):
    response = call(client, method, path, body, header)
    assert response.status_code == 401 and response.get_json() == NO_CREDENTIALS


def test_a_malformed_header_is_judged_before_a_good_cookie(client, user, auth):
    """The header is the credential presented: a good access cookie does not rescue it."""
    auth.login(query_string={"cookies": 1})
    assert client.get("/users/me").status_code == 200
    response = client.get("/users/me", headers={"Authorization": "Bearer ===.===.==="})
    assert response.status_code == 401 and response.get_json() == BAD_TOKEN

