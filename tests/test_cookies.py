"""Cookie mode for browsers: HttpOnly token cookies, CSRF double submit, logout clears them."""

import pytest

from luffy.auth import services
from tests.conftest import PASSWORD

TOKEN_COOKIES = ("access_token_cookie", "refresh_token_cookie")
CSRF_COOKIES = ("csrf_access_token", "csrf_refresh_token")
NEW_PASSWORD = "a brand new passphrase"


def set_cookies(response):
    """``{name: Set-Cookie header}`` of ``response``."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def cookie(client, name):
    found = client.get_cookie(name)
    return found.value if found else None


def add_alice(app):
    with app.app_context():
        services.create_user("alice", PASSWORD, email="alice@example.com", mobile="13800000001")


def refused(response):
    """401 ``token_not_valid`` (the detail may name the missing CSRF token)."""
    return response.status_code == 401 and response.get_json()["code"] == "token_not_valid"


@pytest.fixture
def browser(client, user):
    """A client logged in with ``?cookies=1``: it holds the four cookies and no token in hand."""
    response = client.post("/users/login/?cookies=1", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    return client


@pytest.mark.parametrize("path, body", [
    ("/users/login/?cookies=1", {}),
    ("/users/login/", {"cookies": True}),
])
def test_cookie_login_sets_the_four_cookies(client, user, path, body):
    response = client.post(path, json={"username": "alice", "password": PASSWORD, **body})
    assert response.status_code == 200
    answer = response.get_json()
    headers = set_cookies(response)
    assert set(headers) == set(TOKEN_COOKIES + CSRF_COOKIES)
    for name in TOKEN_COOKIES:
        assert "HttpOnly" in headers[name] and "SameSite=Lax" in headers[name]
    for name in CSRF_COOKIES:
        assert "HttpOnly" not in headers[name]  # the page's script reads it to send X-CSRF-TOKEN
    assert cookie(client, "access_token_cookie") == answer["token"]
    assert cookie(client, "refresh_token_cookie") == answer["refresh"]
    assert response.headers["Cache-Control"] == "no-store"


def test_plain_login_sets_no_cookie(client, user):
    response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and not response.headers.getlist("Set-Cookie")


def test_production_cookies_are_secure(make_app):
    app = make_app(JWT_COOKIE_SECURE=True)
    add_alice(app)
    response = app.test_client().post("/users/login/?cookies=1",
                                      json={"username": "alice", "password": PASSWORD})
    assert all("Secure" in h for h in set_cookies(response).values())


def test_me_with_the_access_cookie(browser):
    response = browser.get("/users/me")
    assert response.status_code == 200 and response.get_json()["username"] == "alice"


def test_a_state_change_without_the_csrf_header_is_refused(browser):
    body = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert refused(browser.post("/users/password", json=body))
    assert refused(browser.post("/users/password", json=body, headers={"X-CSRF-TOKEN": "forged"}))
    # Nothing changed: the old password still logs in.
    assert browser.post("/users/login/", json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_a_state_change_with_the_csrf_header_passes(browser):
    response = browser.post("/users/password",
                            json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
                            headers={"X-CSRF-TOKEN": cookie(browser, "csrf_access_token")})
    assert response.status_code == 200
    assert not any(cookie(browser, name) for name in TOKEN_COOKIES)  # every session ended


def test_refresh_with_the_cookie_needs_the_csrf_header(browser):
    old_access = cookie(browser, "access_token_cookie")
    assert refused(browser.post("/users/login/refresh"))
    assert refused(browser.post("/users/login/refresh", headers={"X-CSRF-TOKEN": "forged"}))
    assert refused(browser.post("/users/login/refresh",  # the access token's csrf is not the refresh one's
                                headers={"X-CSRF-TOKEN": cookie(browser, "csrf_access_token")}))
    response = browser.post("/users/login/refresh",
                            headers={"X-CSRF-TOKEN": cookie(browser, "csrf_refresh_token")})
    assert response.status_code == 200
    new_access = response.get_json()["access"]
    assert cookie(browser, "access_token_cookie") == new_access != old_access
    assert browser.get("/users/me").status_code == 200


def test_rotating_refresh_with_the_cookie_replaces_the_refresh_cookie(make_app):
    app = make_app(JWT_ROTATE_REFRESH_TOKENS=True)
    add_alice(app)
    client = app.test_client()
    client.post("/users/login/", json={"username": "alice", "password": PASSWORD, "cookies": True})
    old_refresh = cookie(client, "refresh_token_cookie")
    response = client.post("/users/login/refresh",
                           headers={"X-CSRF-TOKEN": cookie(client, "csrf_refresh_token")})
    assert response.status_code == 200
    assert cookie(client, "refresh_token_cookie") == response.get_json()["refresh"] != old_refresh
    response = client.post("/users/login/refresh",
                           headers={"X-CSRF-TOKEN": cookie(client, "csrf_refresh_token")})
    assert response.status_code == 200


def test_logout_with_the_cookie_needs_the_csrf_header(browser):
    refresh = cookie(browser, "refresh_token_cookie")
    assert refused(browser.post("/users/logout"))
    assert cookie(browser, "refresh_token_cookie") == refresh  # nothing was cleared
    response = browser.post("/users/logout", headers={"X-CSRF-TOKEN": cookie(browser, "csrf_refresh_token")})
    assert response.status_code == 200 and response.get_json() == {}
    headers = set_cookies(response)
    assert set(headers) == set(TOKEN_COOKIES + CSRF_COOKIES)
    for name in TOKEN_COOKIES + CSRF_COOKIES:
        assert "Max-Age=0" in headers[name] or "Expires=Thu, 01 Jan 1970" in headers[name]
        assert cookie(browser, name) is None
    # The refresh token is dead even for a client that kept a copy.
    assert refused(browser.post("/users/login/refresh", json={"refresh": refresh}))
    assert browser.get("/users/me").status_code == 401


def test_cookie_logout_denylists_the_access_cookie(browser):
    access = cookie(browser, "access_token_cookie")
    assert browser.get("/users/me").status_code == 200
    response = browser.post("/users/logout", headers={"X-CSRF-TOKEN": cookie(browser, "csrf_refresh_token")})
    assert response.status_code == 200
    # A copy of the access cookie (stolen, or a tab that kept it) no longer works.
    assert refused(browser.get("/users/me", headers={"Authorization": f"Bearer {access}"}))
    assert refused(browser.post("/users/login/verify", json={"token": access}))


def test_logout_with_a_dead_refresh_cookie_still_clears_the_cookies(browser):
    stale = cookie(browser, "refresh_token_cookie")
    csrf = cookie(browser, "csrf_refresh_token")
    assert browser.post("/users/logout", headers={"X-CSRF-TOKEN": csrf}).status_code == 200
    browser.set_cookie("refresh_token_cookie", stale)  # the browser kept a copy
    browser.set_cookie("csrf_refresh_token", csrf)
    response = browser.post("/users/logout", headers={"X-CSRF-TOKEN": csrf})
    assert refused(response)
    cleared = set_cookies(response)
    assert set(TOKEN_COOKIES + CSRF_COOKIES) <= set(cleared)
    assert all("Max-Age=0" in cleared[name] or "Expires=Thu, 01 Jan 1970" in cleared[name]
               for name in TOKEN_COOKIES)


@pytest.mark.parametrize("origin, allowed", [
    (None, True), ("http://localhost", True), ("https://evil.example", False)])
def test_cookie_login_from_another_site_is_refused(client, user, origin, allowed):
    headers = {"Origin": origin} if origin else {}
    response = client.post("/users/login/?cookies=1", data={"username": "alice", "password": PASSWORD},
                           headers=headers)
    if allowed:
        assert response.status_code == 200 and "access_token_cookie" in set_cookies(response)
    else:
        assert response.status_code == 400 and "cookies" in response.get_json()["errors"]
        assert not set_cookies(response)


def test_cookie_login_from_a_cors_origin(make_app):
    app = make_app(CORS_ORIGINS=["https://courses.example.com"])
    add_alice(app)
    response = app.test_client().post("/users/login/?cookies=1", json={"username": "alice", "password": PASSWORD},
                                      headers={"Origin": "https://courses.example.com"})
    assert response.status_code == 200 and "access_token_cookie" in set_cookies(response)
