"""Cookie mode for browsers: HttpOnly token cookies, CSRF double submit, logout clears them."""

import pytest
from flask import request

from tests.accounts import PASSWORD, add_user

TOKEN_COOKIES = ("access_token_cookie", "refresh_token_cookie")
CSRF_COOKIES = ("csrf_access_token", "csrf_refresh_token")
DEVICE_COOKIE = "luffy_device"  # not a token: it knows the browser again (tests/test_devices.py)
NEW_PASSWORD = "a brand new passphrase"


def set_cookies(response):
    """``{name: Set-Cookie header}`` of ``response``."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def all_set_cookies(response):
    """Every ``Set-Cookie`` header of ``response``, as ``(name, header)`` pairs."""
    return [(h.split("=", 1)[0], h) for h in response.headers.getlist("Set-Cookie")]


REFRESH_PATHS = ("/users/login/refresh", "/users/logout")


def cookie(client, name):
    """The value of cookie ``name`` on any path (the refresh cookie lives on two)."""
    for path in ("/", *REFRESH_PATHS):
        found = client.get_cookie(name, path=path)
        if found:
            return found.value
    return None


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
    assert set(headers) == set(TOKEN_COOKIES + CSRF_COOKIES + (DEVICE_COOKIE,))
    for name in (*TOKEN_COOKIES, DEVICE_COOKIE):
        assert "HttpOnly" in headers[name] and "SameSite=Lax" in headers[name]
    for name in CSRF_COOKIES:
        assert "HttpOnly" not in headers[name]  # the page's script reads it to send X-CSRF-TOKEN
    # No token in the body: page script never holds one.
    assert answer == {"cart_total": 0}
    assert cookie(client, "access_token_cookie").count(".") == 2
    assert response.headers["Cache-Control"] == "no-store"


def test_token_cookies_expire_with_their_tokens(make_app):
    app = make_app(JWT_ACCESS_TOKEN_EXPIRES=120, JWT_REFRESH_TOKEN_EXPIRES=3600)
    add_user(app)
    response = app.test_client().post("/users/login/?cookies=1",
                                      json={"username": "alice", "password": PASSWORD})
    for name, header in all_set_cookies(response):
        if name == DEVICE_COOKIE:
            continue  # 400 days, not a token's life (tests/test_devices.py)
        lifetime = 120 if "access" in name else 3600
        assert f"Max-Age={lifetime}" in header, header


def test_the_refresh_cookie_goes_only_to_refresh_and_logout(make_app):
    app = make_app()
    add_user(app)
    sent = {}

    @app.before_request
    def record():  # which requests carry the refresh cookie (the test client sends by path)
        sent[request.path] = "refresh_token_cookie" in request.cookies

    client = app.test_client()
    response = client.post("/users/login/?cookies=1", json={"username": "alice", "password": PASSWORD})
    paths = sorted(h.split("Path=")[1].split(";")[0]
                   for name, h in all_set_cookies(response) if name == "refresh_token_cookie")
    assert paths == sorted(REFRESH_PATHS)
    client.get("/users/me")
    client.post("/users/login/verify", json={"token": "x"})
    client.post("/users/login/refresh")
    client.post("/users/logout")
    assert sent == {"/users/login/": False, "/users/me": False, "/users/login/verify": False,
                    "/users/login/refresh": True, "/users/logout": True}


def test_plain_login_sets_no_token_cookie(client, user):
    response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
    # Only the device cookie, which every login sets (tests/test_devices.py).
    assert response.status_code == 200 and list(set_cookies(response)) == [DEVICE_COOKIE]


def test_production_cookies_are_secure(make_app):
    app = make_app(JWT_COOKIE_SECURE=True)
    add_user(app)
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
    assert response.status_code == 200 and response.get_json() == {}
    assert cookie(browser, "access_token_cookie") != old_access
    assert browser.get("/users/me").status_code == 200


def test_rotating_refresh_with_the_cookie_replaces_the_refresh_cookie(make_app):
    app = make_app(JWT_ROTATE_REFRESH_TOKENS=True)
    add_user(app)
    client = app.test_client()
    client.post("/users/login/", json={"username": "alice", "password": PASSWORD, "cookies": True})
    old_refresh = cookie(client, "refresh_token_cookie")
    response = client.post("/users/login/refresh",
                           headers={"X-CSRF-TOKEN": cookie(client, "csrf_refresh_token")})
    assert response.status_code == 200 and response.get_json() == {}
    assert cookie(client, "refresh_token_cookie") != old_refresh
    response = client.post("/users/login/refresh",
                           headers={"X-CSRF-TOKEN": cookie(client, "csrf_refresh_token")})
    assert response.status_code == 200


def test_logout_with_the_cookie_needs_the_csrf_header(browser):
    refresh = cookie(browser, "refresh_token_cookie")
    assert refused(browser.post("/users/logout"))
    assert cookie(browser, "refresh_token_cookie") == refresh  # nothing was cleared
    response = browser.post("/users/logout", headers={"X-CSRF-TOKEN": cookie(browser, "csrf_refresh_token")})
    assert response.status_code == 200 and response.get_json() == {}
    headers = all_set_cookies(response)
    assert {name for name, _ in headers} == set(TOKEN_COOKIES + CSRF_COOKIES)
    for name, header in headers:
        assert "Max-Age=0" in header or "Expires=Thu, 01 Jan 1970" in header
    for name in TOKEN_COOKIES + CSRF_COOKIES:
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
    add_user(app)
    response = app.test_client().post("/users/login/?cookies=1", json={"username": "alice", "password": PASSWORD},
                                      headers={"Origin": "https://courses.example.com"})
    assert response.status_code == 200 and "access_token_cookie" in set_cookies(response)
