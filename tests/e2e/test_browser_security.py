"""The "Security" view and the login's second step, in a real browser against gunicorn:
sessions listed and ended, two-factor set up with a code computed here, its recovery
codes, a login through the second step, two-factor turned off."""

import re
import time
import urllib.request
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect

from tests.servers import request

pytestmark = pytest.mark.e2e
PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


def api_login(server, account, agent="curl/8.5.0"):
    """Tokens of a login through the API (another device, as the server sees it)."""
    status, _headers, answer = request("POST", server.url + "/users/login/",
                                       {"username": account["username"], "password": account["password"]},
                                       headers={"User-Agent": agent})
    assert status == 200, answer
    return answer


def me_status(server, token):
    return request("GET", server.url + "/users/me", headers={"Authorization": "Bearer " + token})[0]


def open_and_sign_in(page, server, account):
    page.goto(server.url + "/")
    page.get_by_label("Username, email or mobile").fill(account["username"])
    page.locator("#login-form").get_by_label("Password", exact=True).fill(account["password"])
    page.get_by_role("button", name="Sign in").click()


def open_security(page):
    expect(page.locator("#account-view")).to_be_visible()
    security = page.get_by_role("button", name="Security")
    security.focus()
    page.keyboard.press("Enter")  # by keyboard
    expect(page.locator("#security-view")).to_be_visible()
    expect(page.locator("#security-title")).to_be_focused()


def fresh_code(totp, used):
    """A TOTP code not used yet (each code works once): wait for the next step if needed."""
    while True:
        code = totp.now()
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)


def test_sessions_are_listed_and_one_is_ended(page, luffy_server, make_account):
    account = make_account()
    phone = api_login(luffy_server, account, agent=PHONE_AGENT)
    script = api_login(luffy_server, account)
    open_and_sign_in(page, luffy_server, account)
    open_security(page)

    rows = page.locator("#sessions-list > li")
    expect(rows).to_have_count(3)
    current = rows.filter(has_text="This device")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(re.compile(r"Chrome on Linux"))
    expect(current).to_contain_text("127.0.0.1")
    expect(current).to_contain_text("last seen")
    expect(current.get_by_role("button")).to_have_count(0)  # the current one ends by signing out
    phone_row = rows.filter(has_text="Safari on iOS")
    expect(phone_row).to_have_count(1)
    assert me_status(luffy_server, phone["token"]) == 200

    end = phone_row.get_by_role("button", name=re.compile("^End the session of Safari on iOS"))
    end.focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(2)
    expect(page.locator("#security-status")).to_have_text("The session of Safari on iOS has ended.")
    # Its access token is dead at once, its refresh token too; the others live.
    assert me_status(luffy_server, phone["token"]) == 401
    status, _, _ = request("POST", luffy_server.url + "/users/login/refresh", {"refresh": phone["refresh"]})
    assert status == 401
    assert me_status(luffy_server, script["token"]) == 200

    # The log names the logins and the ended session, newest first.
    events = page.locator("#events-list > li")
    expect(events.first).to_contain_text("Session ended")
    expect(page.locator("#events-list")).to_contain_text("Signed in with a password")

    page.get_by_role("button", name="End all other sessions").click()
    expect(page.locator("#security-status")).to_have_text("Every other session has ended.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("This device")
    assert me_status(luffy_server, script["token"]) == 401
    expect(page.get_by_role("button", name="End all other sessions")).to_be_hidden()

    # The page's own session goes on.
    page.get_by_role("button", name="Back to your account").click()
    expect(page.locator("#account-view")).to_be_visible()
    expect(page.locator("#nickname")).to_have_text(account["username"])


def test_the_log_pages_back_with_more(page, luffy_server, make_account):
    account = make_account()
    for _ in range(26):  # a login and a logout each: more than a page of 50
        tokens = api_login(luffy_server, account)
        request("POST", luffy_server.url + "/users/logout", {"refresh": tokens["refresh"]})
    open_and_sign_in(page, luffy_server, account)
    open_security(page)
    events = page.locator("#events-list > li")
    expect(events).to_have_count(50)
    more = page.get_by_role("button", name="More")
    expect(more).to_be_visible()
    more.click()
    expect(events).not_to_have_count(50)
    assert events.count() >= 53  # 26 logins, 26 logouts, the page's login
    expect(more).to_be_hidden()
    expect(events.nth(50)).to_be_focused()
    expect(events.last).to_contain_text("Signed in with a password")


def test_two_factor_set_up_login_with_second_step_and_off(page, luffy_server, make_account, context):
    account = make_account()
    open_and_sign_in(page, luffy_server, account)
    open_security(page)
    expect(page.locator("#twofactor-state")).to_be_hidden()  # the log says nothing yet

    # A wrong password: the error under the field.
    page.locator("#tfa-begin-form").get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Set up two-factor").click()
    expect(page.locator("#tfa-password-error")).to_be_visible()
    expect(page.locator("#tfa-begin-form").get_by_label("Your password")).to_be_focused()

    page.locator("#tfa-begin-form").get_by_label("Your password").fill(account["password"])
    page.locator("#tfa-begin-form").get_by_label("Your password").press("Enter")
    qr = page.get_by_role("img", name="QR code of your two-factor key")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 100  # the SVG drew
    secret = page.locator("#tfa-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]+=*", secret)
    code_field = page.get_by_label("Code from the app", exact=True)
    expect(code_field).to_be_focused()

    # The server drew the URI the API gave: the QR holds this very secret.
    svg = page.evaluate("src => decodeURIComponent(src.split(',')[1])", qr.get_attribute("src"))
    assert svg.startswith("<?xml") or svg.startswith("<svg")
    assert "<script" not in svg

    code_field.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.locator("#tfa-code-error")).to_be_visible()

    totp = pyotp.TOTP(secret)
    used = set()
    code_field.fill(fresh_code(totp, used))
    page.get_by_role("button", name="Turn on two-factor").click()
    codes = page.locator("#tfa-codes-list > li")
    expect(codes).to_have_count(10)
    recovery = codes.all_inner_texts()
    assert len(set(recovery)) == 10
    expect(page.locator("#twofactor-state")).to_have_text("Two-factor is on.")
    download = page.get_by_role("link", name="Download")
    expect(download).to_be_focused()
    with page.expect_download() as info:
        download.click()
    saved = Path(info.value.path()).read_text()
    assert all(code in saved for code in recovery)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#tfa-codes-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()").split() == recovery
    page.get_by_role("button", name="I saved them").click()
    expect(codes).to_have_count(0)  # shown once
    expect(page.locator("#events-list > li").first).to_contain_text("Two-factor turned on")

    # Sign out, then in: the password alone is not enough.
    page.get_by_role("button", name="Back to your account").click()
    page.get_by_role("button", name="Sign out").click()
    open_and_sign_in(page, luffy_server, account)
    mfa_code = page.get_by_label("Authentication code")
    expect(mfa_code).to_be_focused()
    expect(page.locator("#account-view")).to_be_hidden()
    mfa_code.fill("12345x")
    mfa_code.press("Enter")
    expect(page.locator("#mfa-code-error")).to_be_visible()
    expect(page.locator("#account-view")).to_be_hidden()
    mfa_code.fill(fresh_code(totp, used))
    mfa_code.press("Enter")
    expect(page.locator("#account-view")).to_be_visible()
    expect(page.locator("#nickname")).to_have_text(account["username"])

    # A recovery code works once, in a second sign-in from another browser profile.
    other = context.browser.new_context()
    try:
        second = other.new_page()
        open_and_sign_in(second, luffy_server, account)
        second.get_by_label("Authentication code").fill(recovery[0])
        second.get_by_role("button", name="Verify").click()
        expect(second.locator("#account-view")).to_be_visible()
    finally:
        other.close()

    # Turn it off (keyboard: the details open with Enter on their summary).
    open_security(page)
    expect(page.locator("#twofactor-state")).to_have_text("Two-factor is on.")
    summary = page.locator("#tfa-off summary")
    summary.focus()
    page.keyboard.press("Enter")
    page.locator("#tfa-off-form").get_by_label("Your password").fill(account["password"])
    page.get_by_label("Code from the app, or a recovery code").fill(fresh_code(totp, used))
    page.get_by_role("button", name="Turn off two-factor").click()
    expect(page.locator("#twofactor-state")).to_have_text("Two-factor is off.")
    expect(page.locator("#events-list > li").first).to_contain_text("Two-factor turned off")
    status, _, answer = request("POST", luffy_server.url + "/users/login/",
                                {"username": account["username"], "password": account["password"]})
    assert status == 200 and "mfa_required" not in answer and answer["token"]


def test_the_qr_endpoint_wants_a_session_and_an_otpauth_uri(luffy_server, make_account):
    account = make_account()
    uri = "otpauth://totp/luffy:x?secret=JBSWY3DPEHPK3PXP&issuer=luffy"
    status, _, answer = request("POST", luffy_server.url + "/web/2fa/qr", {"uri": uri})
    assert status == 401 and answer["code"] == "not_authenticated"
    token = api_login(luffy_server, account)["token"]
    bearer = {"Authorization": "Bearer " + token}
    status, _, answer = request("POST", luffy_server.url + "/web/2fa/qr", {"uri": "https://x"}, headers=bearer)
    assert status == 400 and list(answer["errors"]) == ["uri"]
    req = urllib.request.Request(luffy_server.url + "/web/2fa/qr", method="POST",
                                 data=b'{"uri": "%s"}' % uri.encode(),
                                 headers={**bearer, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        svg = response.read().decode()
    assert "<svg" in svg and "JBSWY3DP" not in svg  # a drawing, not the text


def test_the_qr_endpoint_wants_the_csrf_header_in_cookie_mode(page, luffy_server, make_account):
    account = make_account()
    open_and_sign_in(page, luffy_server, account)
    expect(page.locator("#account-view")).to_be_visible()
    statuses = page.evaluate(
        """async () => {
            const csrf = document.cookie.split("; ").find((c) => c.startsWith("csrf_access_token="));
            const send = (headers) => fetch("/web/2fa/qr", {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", ...headers},
                body: JSON.stringify({uri: "otpauth://totp/luffy:x?secret=JBSWY3DPEHPK3PXP"})});
            const without = await send({});
            const withIt = await send({"X-CSRF-TOKEN": decodeURIComponent(csrf.split("=")[1])});
            return [without.status, withIt.status, withIt.headers.get("content-type")];
        }""")
    assert statuses[0] == 401
    assert statuses[1] == 200 and statuses[2].startswith("image/svg+xml")
