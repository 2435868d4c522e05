"""The login page in a real browser against gunicorn: sign in, stay signed in, sign out."""

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.accounts import ACCESS_LIFETIME, ALICE, CART_ITEMS
from tests.servers import request

pytestmark = pytest.mark.e2e
SESSION_ENDED = "Your session has ended. Please sign in again."
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def open_login(page, server):
    """Load ``/`` and wait for the form; returns the response of the page."""
    response = page.goto(server.url + "/")
    expect(page.get_by_label("Username, email or mobile")).to_be_visible()
    return response


def password_field(page):
    """The password input of the password form (the sign-up form has one too)."""
    return page.locator("#login-form").get_by_label("Password", exact=True)


def sign_in(page, username=ALICE["username"], password=ALICE["password"]):
    """Fill the form and submit it."""
    page.get_by_label("Username, email or mobile").fill(username)
    password_field(page).fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_account(page, cart_total=str(CART_ITEMS)):
    """The account card shows alice's profile."""
    account = page.locator("#account-view")
    expect(account).to_be_visible()
    expect(page.locator("#nickname")).to_have_text(ALICE["nickname"])
    expect(page.locator("#money")).to_have_text("12.50")
    expect(page.locator("#credit")).to_have_text("30")
    expect(page.locator("#cart-total")).to_have_text(cart_total)
    expect(page.locator("#avatar-initials")).to_have_text("A")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^0:0\d$"))
    expect(page.locator("#login-view")).to_be_hidden()


def page_fetch(page, path, method="GET"):
    """``[status, json]`` of a same-origin fetch made by the page with its cookies."""
    return page.evaluate(
        """async ([path, method]) => {
            const r = await fetch(path, {method, credentials: "same-origin",
                                         headers: {Accept: "application/json"}});
            return [r.status, await r.json()];
        }""", [path, method])


def test_the_page_is_served_with_a_strict_policy(page, luffy_server):
    response = open_login(page, luffy_server)
    assert response.status == 200
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"].startswith("text/html")
    expect(page).to_have_title(re.compile("Sign in"))
    expect(password_field(page)).to_have_attribute("type", "password")
    expect(page.get_by_role("alert")).to_have_count(0)  # both alerts are hidden


def test_login_by_username_shows_the_account(page, luffy_server, screenshot):
    open_login(page, luffy_server)
    held = []
    page.route("**/users/login/?cookies=1", lambda route: held.append(route))  # hold the request to see progress
    sign_in(page)
    button = page.locator("#login-button")
    expect(button).to_be_disabled()
    expect(button).to_have_text("Signing in…")
    held[0].continue_()

    expect_account(page)
    expect(page.locator("#identity")).to_have_text(re.compile(r"^@alice · alice@example\.com$", re.I))
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["access_token_cookie"]["httpOnly"] and cookies["refresh_token_cookie"]["httpOnly"]
    readable = page.evaluate("document.cookie")
    assert "csrf_refresh_token=" in readable and "access_token_cookie" not in readable
    screenshot()
    if os.environ.get("LUFFY_E2E_DOCS_SCREENSHOT"):  # refresh the picture of the README
        page.set_viewport_size({"width": 640, "height": 600})
        page.screenshot(path=str(DOCS_SCREENSHOT))


@pytest.mark.parametrize("identifier", ["ALICE@example.com", "13800000001"], ids=["email", "mobile"])
def test_login_by_email_or_mobile_shows_the_account(page, luffy_server, screenshot, identifier):
    open_login(page, luffy_server)
    sign_in(page, identifier)
    expect_account(page)
    screenshot()


def test_a_wrong_password_shows_a_message_and_no_profile(page, luffy_server, screenshot):
    open_login(page, luffy_server)
    sign_in(page, password="wrong horse 1")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.locator("#account-view")).to_be_hidden()
    expect(password_field(page)).to_have_value("")
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    screenshot()


def test_the_page_refreshes_the_access_token_on_its_own(page, luffy_server, screenshot):
    refreshes = []
    page.on("response", lambda r: refreshes.append(r.status) if r.url.endswith("/users/login/refresh") else None)
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    page.wait_for_timeout((ACCESS_LIFETIME * 2 + 1) * 1000)  # two lifetimes and more

    expect_account(page)
    assert len(refreshes) >= 2 and set(refreshes) == {200}, refreshes
    status, me = page_fetch(page, "/users/me")
    assert status == 200 and me["username"] == "alice" and me["money"] == 12.5
    screenshot()


def test_no_token_reaches_the_page(page, luffy_server):
    bodies = {}
    page.on("response", lambda r: bodies.setdefault(r.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1],
                                                    r) if "/users/login" in r.url else None)
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    page.wait_for_timeout(ACCESS_LIFETIME * 1000)  # an automatic refresh
    assert bodies["login"].json() == {"cart_total": CART_ITEMS}
    assert bodies["refresh"].json() == {}
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["refresh_token_cookie"]["path"] in ("/users/login/refresh", "/users/logout")
    assert cookies["access_token_cookie"]["expires"] > 0  # not a session cookie: it ends with its token


def test_without_the_cookie_store_api_the_page_learns_the_lifetime(page, luffy_server):
    """Browsers that cannot tell a cookie's expiry: the page watches the csrf cookie go."""
    page.add_init_script("delete window.cookieStore")
    refreshes = []
    page.on("response", lambda r: refreshes.append(r.status) if r.url.endswith("/users/login/refresh") else None)
    open_login(page, luffy_server)
    assert page.evaluate("'cookieStore' in window") is False
    sign_in(page)
    expect(page.locator("#nickname")).to_have_text(ALICE["nickname"])
    expect(page.locator("#countdown")).to_have_text("—")  # no expiry known yet
    page.wait_for_timeout((ACCESS_LIFETIME * 3 + 1) * 1000)

    assert len(refreshes) >= 3 and set(refreshes) == {200}, refreshes
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^0:0\d$"))  # the lifetime, learned
    assert page_fetch(page, "/users/me")[0] == 200


def test_a_401_from_the_profile_triggers_a_refresh_and_a_retry(page, luffy_server):
    open_login(page, luffy_server)
    answered = []

    def first_refused(route):
        if answered:
            route.continue_()
        else:
            answered.append(401)
            route.fulfill(status=401, headers={"Content-Type": "application/json"},
                          body=json.dumps({"code": "token_not_valid", "detail": "Token is invalid or expired"}))

    page.route("**/users/me", first_refused)
    with page.expect_response("**/users/login/refresh") as refresh:
        sign_in(page)
    assert refresh.value.status == 200
    expect_account(page)
    expect(page.locator("#identity")).to_have_text(re.compile(r"^@alice · ", re.I))


def test_a_reload_restores_the_session_without_the_cart(page, luffy_server, screenshot):
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    page.wait_for_timeout(ACCESS_LIFETIME * 1000 + 500)  # the first access cookie has expired
    page.reload()
    expect_account(page, cart_total="—")
    screenshot()


def test_after_logout_a_reload_shows_the_form(page, luffy_server, screenshot):
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Username, email or mobile")).to_be_visible()
    expect(page.locator("#account-view")).to_be_hidden()
    assert "csrf_refresh_token" not in page.evaluate("document.cookie")

    page.reload()
    expect(page.get_by_label("Username, email or mobile")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)  # a logout is not an ended session
    assert page_fetch(page, "/users/me")[0] == 401
    screenshot()


def test_a_refresh_in_flight_does_not_outlive_the_logout(page, luffy_server):
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    held = []
    page.route("**/users/login/refresh", lambda route: held.append(route))
    for _ in range(ACCESS_LIFETIME * 20):  # the automatic refresh comes within a lifetime
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page did not refresh on its own"
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#logout-button")).to_have_text("Signing out…")
    held[0].continue_()  # the refresh answers (with a new access cookie) before the logout

    expect(page.get_by_label("Username, email or mobile")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Username, email or mobile")).to_be_visible()
    assert page_fetch(page, "/users/me")[0] == 401


def test_a_revoked_session_sends_the_page_back_to_the_form(page, luffy_server, screenshot):
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    refresh = next(c["value"] for c in page.context.cookies() if c["name"] == "refresh_token_cookie")
    assert request("POST", luffy_server.url + "/users/logout", {"refresh": refresh})[0] == 200

    # the next automatic refresh (within one access lifetime) is refused
    expect(page.get_by_role("alert")).to_have_text(SESSION_ENDED, timeout=ACCESS_LIFETIME * 1000 + 5000)
    expect(page.get_by_label("Username, email or mobile")).to_be_visible()
    expect(page.locator("#account-view")).to_be_hidden()
    screenshot()


def test_a_reload_after_the_session_died_says_so(page, luffy_server):
    open_login(page, luffy_server)
    sign_in(page)
    expect_account(page)
    page.context.clear_cookies(name="access_token_cookie")
    page.context.clear_cookies(name="refresh_token_cookie")  # the csrf cookies stay behind
    page.reload()
    expect(page.get_by_role("alert")).to_have_text(SESSION_ENDED)
    expect(page.locator("#account-view")).to_be_hidden()


def test_a_first_visit_shows_the_form_without_a_message(page, luffy_server):
    open_login(page, luffy_server)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_label("Username, email or mobile")).to_be_focused()


def _error(status, body, headers=None):
    return {"status": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(body)}


@pytest.mark.parametrize("answer, message", [
    (_error(429, {"code": "throttled", "detail": "Request was throttled."}, {"Retry-After": "42"}),
     "Too many attempts. Try again in 42 seconds."),
    (_error(503, {"code": "service_unavailable", "detail": "Service unavailable."}),
     "The service is unavailable right now. Please try again shortly."),
    (None, "We couldn't reach the server. Check your connection and try again."),
], ids=["throttled", "unavailable", "network"])
def test_api_failures_are_told_in_words(page, luffy_server, screenshot, answer, message):
    open_login(page, luffy_server)
    page.route("**/users/login/?cookies=1",
               lambda route: route.fulfill(**answer) if answer else route.abort("internetdisconnected"))
    sign_in(page)
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    expect(page.locator("#account-view")).to_be_hidden()
    screenshot()


def test_field_errors_of_the_api_appear_next_to_the_fields(page, luffy_server, screenshot):
    open_login(page, luffy_server)
    page.route("**/users/login/?cookies=1", lambda route: route.fulfill(**_error(
        400, {"code": "invalid", "detail": "Invalid input.",
              "errors": {"username": ["Longer than maximum length 254."]}})))
    sign_in(page)
    username = page.get_by_label("Username, email or mobile")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#username-error")).to_have_text("Longer than maximum length 254.")
    expect(username).to_have_accessible_description("Longer than maximum length 254.")
    expect(page.locator("#login-alert")).to_be_visible()
    screenshot()


def test_empty_fields_are_caught_before_any_request(page, luffy_server):
    open_login(page, luffy_server)
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/users/login" in r.url else None)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#username-error")).to_be_visible()
    expect(page.locator("#password-error")).to_be_visible()
    assert sent == []
