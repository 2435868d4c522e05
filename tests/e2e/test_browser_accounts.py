"""The page's account flows in a real browser, end to end against gunicorn: SMS login,
Create account and Forgot password, with codes read from the SMS gateway stand-in and
the SMTP server that the server sends to; by keyboard where a person would use one."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.accounts import ALICE, RESEND_INTERVAL, fresh_mobile
from tests.servers import request
from tests.standins import wait_for

pytestmark = pytest.mark.e2e
WRONG_CODE = "Wrong or expired code. Ask for a new one if needed."


def open_page(page, server, hash=""):
    """Load ``/`` (or ``/#register``...) and wait for the form."""
    page.goto(server.url + "/" + hash)
    expect(page.locator("#loading")).to_be_hidden()


def code_for(outbox, destination, after=0):
    """The newest code sent to ``destination`` once more than ``after`` were sent there."""
    sms, mail = outbox
    box = mail if "@" in destination else sms
    return wait_for(lambda: len(box.codes_to(destination)) > after and box.codes_to(destination))[-1]


def sent_count(outbox, destination):
    sms, mail = outbox
    return len((mail if "@" in destination else sms).codes_to(destination))


def expect_signed_in_as(page, nickname):
    expect(page.locator("#account-view")).to_be_visible()
    expect(page.locator("#nickname")).to_have_text(nickname)
    expect(page.locator("#account-title")).to_be_focused()


# ---- SMS login ---------------------------------------------------------------------


def test_sms_login_by_keyboard_with_the_code_from_the_outbox(page, luffy_server, outbox, make_account,
                                                             screenshot):
    account = make_account()
    open_page(page, luffy_server)
    # The tabs: focus the selected one, then the arrow key moves to "SMS login".
    page.get_by_role("tab", name="Password").focus()
    page.keyboard.press("ArrowRight")
    sms_tab = page.get_by_role("tab", name="SMS login")
    expect(sms_tab).to_be_focused()
    expect(sms_tab).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="SMS login")).to_be_visible()
    expect(page.locator("#login-form")).to_be_hidden()

    page.keyboard.press("Tab")
    panel = page.locator("#panel-sms")
    mobile = panel.get_by_label("Mobile number")
    expect(mobile).to_be_focused()
    mobile.type(account["mobile"])
    page.keyboard.press("Enter")  # no code yet: Enter asks for one
    code_input = panel.get_by_label("SMS code")
    expect(code_input).to_be_focused()
    send = page.locator("#sms-send")
    expect(send).to_be_disabled()
    expect(send).to_have_text(re.compile(r"^\s*Resend in \d s\s*$"))
    expect(page.locator("#sms-send-status")).to_have_text(
        f"We sent a code. You can ask for a new one in {RESEND_INTERVAL} seconds.")
    screenshot("-sent")

    code_input.type(code_for(outbox, account["mobile"]))
    page.keyboard.press("Enter")
    expect_signed_in_as(page, account["username"])
    expect(page.locator("#identity")).to_have_text(f"@{account['username']} · {account['email']}")
    expect(page.locator("#cart-total")).to_have_text("0")
    assert page.evaluate("document.cookie").count("csrf_") == 2  # a cookie session, no token in script
    screenshot()


def test_sms_login_with_a_wrong_code_says_so(page, luffy_server, outbox, make_account):
    account = make_account()
    open_page(page, luffy_server, "#sms")
    panel = page.locator("#panel-sms")
    panel.get_by_label("Mobile number").fill(account["mobile"])
    panel.get_by_role("button", name="Send code").click()
    right = code_for(outbox, account["mobile"])
    panel.get_by_label("SMS code").fill("000000" if right != "000000" else "111111")
    panel.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_have_text(WRONG_CODE)
    expect(panel.get_by_label("SMS code")).to_have_value("")
    expect(panel.get_by_label("SMS code")).to_be_focused()
    expect(page.locator("#account-view")).to_be_hidden()


def test_the_send_button_counts_down_and_honours_retry_after(page, luffy_server, outbox, make_account,
                                                             screenshot):
    account = make_account()
    # A code was just sent to this number from elsewhere: the page's request is refused.
    status, _, answer = request("POST", f"{luffy_server.url}/users/sms/{account['mobile']}",
                                {"purpose": "login"})
    assert status == 202 and answer == {"resend_after": RESEND_INTERVAL}
    open_page(page, luffy_server, "#sms")
    panel = page.locator("#panel-sms")
    panel.get_by_label("Mobile number").fill(account["mobile"])
    with page.expect_response(re.compile(r"/users/sms/")) as refused:
        panel.get_by_role("button", name="Send code").click()
    assert refused.value.status == 429
    seconds = int(refused.value.headers["retry-after"])
    assert 0 < seconds <= RESEND_INTERVAL
    expect(page.get_by_role("alert")).to_have_text(re.compile(
        r"^Too many codes asked for\. You can ask again in \d seconds?\.$"))
    send = page.locator("#sms-send")
    expect(send).to_be_disabled()
    expect(send).to_have_text(re.compile(r"^\s*Resend in \d s\s*$"))
    screenshot()

    # When the countdown ends the button works again, and the next code is sent.
    expect(send).to_be_enabled(timeout=(RESEND_INTERVAL + 2) * 1000)
    sent = sent_count(outbox, account["mobile"])
    with page.expect_response(re.compile(r"/users/sms/")) as accepted:
        send.click()
    assert accepted.value.status == 202
    code_for(outbox, account["mobile"], after=sent)
    expect(send).to_have_text(re.compile(r"^\s*Resend in \d s\s*$"))
    expect(send).to_have_text("Send a new code", timeout=(RESEND_INTERVAL + 2) * 1000)


# ---- Create account ----------------------------------------------------------------


def test_create_account_end_to_end(page, luffy_server, outbox, screenshot):
    mobile = fresh_mobile()
    open_page(page, luffy_server)
    page.get_by_role("link", name="Create account").click()
    view = page.locator("#register-view")
    expect(view).to_be_visible()
    expect(view.get_by_label("Mobile number")).to_be_focused()
    assert page.url.endswith("#register")

    view.get_by_label("Mobile number").fill(mobile)
    view.get_by_role("button", name="Send code").click()
    expect(view.get_by_label("SMS code")).to_be_focused()
    expect(view.locator("#reg-send")).to_have_text(re.compile(r"^\s*Resend in \d s\s*$"))
    view.get_by_label("SMS code").fill(code_for(outbox, mobile))
    view.get_by_label("Password", exact=True).fill("a brand new password 9")
    view.get_by_label("Password again").fill("a brand new password 9")
    view.get_by_text("More about you (optional)").click()
    view.get_by_label("Nickname").fill("Bob")
    screenshot("-filled")
    with page.expect_response(re.compile(r"/users/register")) as created:
        view.get_by_label("Nickname").press("Enter")
    assert created.value.status == 201 and created.value.json() == {"cart_total": 0}

    expect_signed_in_as(page, "Bob")
    expect(page.locator("#identity")).to_have_text(f"@{mobile}")  # the username is the mobile
    assert not page.url.endswith("#register")
    screenshot()

    # The new account signs in with its password too.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username, email or mobile").fill(mobile)
    page.locator("#login-form").get_by_label("Password", exact=True).fill("a brand new password 9")
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in_as(page, "Bob")


def test_create_account_errors_appear_under_their_fields(page, luffy_server, outbox, screenshot):
    open_page(page, luffy_server, "#register")
    view = page.locator("#register-view")
    mobile_input = view.get_by_label("Mobile number")

    # A registered number is told while it is typed.
    mobile_input.fill(ALICE["mobile"])
    expect(view.locator("#reg-mobile-error")).to_have_text(re.compile("already has an account"))
    expect(mobile_input).to_have_attribute("aria-invalid", "true")

    # Passwords that differ are caught before any request.
    mobile = fresh_mobile()
    mobile_input.fill(mobile)
    expect(view.locator("#reg-mobile-error")).to_be_hidden()
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/users/register" in r.url else None)
    view.get_by_label("SMS code").fill("123456")
    view.get_by_label("Password", exact=True).fill("one password 123")
    view.get_by_label("Password again").fill("another password 123")
    view.get_by_role("button", name="Create account").click()
    expect(view.locator("#reg-re-password-error")).to_have_text("The two passwords differ.")
    expect(view.get_by_label("Password again")).to_be_focused()
    assert sent == []

    # The server's 400 errors map. A wrong code is answered alone, whatever the other
    # fields hold (only the holder of a live code learns what is taken) ...
    view.get_by_role("button", name="Send code").click()
    right = code_for(outbox, mobile)
    view.get_by_label("SMS code").fill("000000" if right != "000000" else "111111")
    view.get_by_label("Password", exact=True).fill("password123")  # a common password
    view.get_by_label("Password again").fill("password123")
    view.get_by_text("More about you (optional)").click()
    view.get_by_label("Username").fill("alice")
    with page.expect_response(re.compile(r"/users/register")) as refused:
        view.get_by_role("button", name="Create account").click()
    assert refused.value.status == 400
    errors = refused.value.json()["errors"]
    assert set(errors) == {"sms_code"}, errors
    expect(view.get_by_role("alert")).to_have_text("Please check the fields below.")
    expect(view.get_by_label("SMS code")).to_have_attribute("aria-invalid", "true")
    expect(view.get_by_label("SMS code")).to_have_accessible_description(
        re.compile(re.escape(" ".join(errors["sms_code"]))))
    expect(view.get_by_label("SMS code")).to_be_focused()

    # ... and with the right code, a weak password and a username taken.
    view.get_by_label("SMS code").fill(right)
    with page.expect_response(re.compile(r"/users/register")) as refused:
        view.get_by_role("button", name="Create account").click()
    assert refused.value.status == 400
    errors = refused.value.json()["errors"]
    assert {"password", "username"} <= set(errors) and "sms_code" not in errors, errors

    expect(view.get_by_role("alert")).to_have_text("Please check the fields below.")
    for field, label in (("password", "Password"), ("username", "Username")):
        text = " ".join(errors[field])
        expect(view.get_by_label(label, exact=True)).to_have_attribute("aria-invalid", "true")
        expect(view.get_by_label(label, exact=True)).to_have_accessible_description(
            re.compile(re.escape(text)))
    expect(view.get_by_label("SMS code")).not_to_have_attribute("aria-invalid", "true")
    expect(view.get_by_label("Password", exact=True)).to_be_focused()  # the first field in error
    expect(page.locator("#account-view")).to_be_hidden()
    screenshot()


# ---- Forgot password ---------------------------------------------------------------


def reset_password(page, server, outbox, destination, new_password, sent=0):
    """Go through "Forgot password?" for ``destination`` (a mobile or an email)."""
    open_page(page, server)
    page.get_by_role("link", name="Forgot password?").click()
    view = page.locator("#reset-view")
    expect(view.get_by_label("Mobile or email")).to_be_focused()
    view.get_by_label("Mobile or email").fill(destination)
    view.get_by_role("button", name="Send code").click()
    expect(view.get_by_label("Code", exact=True)).to_be_focused()
    view.get_by_label("Code", exact=True).fill(code_for(outbox, destination, after=sent))
    view.get_by_label("New password").fill(new_password)
    with page.expect_response(re.compile(r"/users/password/reset")) as answer:
        view.get_by_label("New password").press("Enter")
    assert answer.value.status == 200


def confirm_email(server, outbox, account):
    """Confirm the account's email through the API: a reset code goes only to a confirmed
    address."""
    url = server.url + "/users"
    status, _, tokens = request("POST", url + "/login/", {"username": account["username"],
                                                           "password": account["password"]})
    assert status == 200
    bearer = {"Authorization": "Bearer " + tokens["token"]}
    body = {"email": account["email"], "purpose": "confirm", "password": account["password"]}
    assert request("POST", url + "/email/code", body, bearer)[0] == 202
    code = code_for(outbox, account["email"])
    status, _, profile = request("POST", url + "/email/confirm",
                                 {"email": account["email"], "code": code}, bearer)
    assert status == 200 and profile["email_verified"] is True
    return len(outbox[1].codes_to(account["email"]))


@pytest.mark.parametrize("by", ["mobile", "email"])
def test_forgot_password_end_to_end(page, luffy_server, outbox, make_account, screenshot, by):
    account = make_account()
    sent = confirm_email(luffy_server, outbox, account) if by == "email" else 0
    if by == "email":
        page.wait_for_timeout(RESEND_INTERVAL * 1000)  # one code per address per interval
    reset_password(page, luffy_server, outbox, account[by], "my new secret phrase 5", sent)

    # Back on the sign-in form, the identifier filled in, the password field focused.
    expect(page.get_by_role("status")).to_have_text(
        "Your password has been changed. Sign in with the new one.")
    expect(page.get_by_label("Username, email or mobile")).to_have_value(account[by])
    password = page.locator("#login-form").get_by_label("Password", exact=True)
    expect(password).to_be_focused()
    screenshot()
    password.fill(account["password"])  # the old one is dead
    password.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    password.fill("my new secret phrase 5")
    password.press("Enter")
    expect_signed_in_as(page, account["username"])


def test_forgot_password_with_a_wrong_code_or_a_weak_password(page, luffy_server, outbox, make_account):
    account = make_account()
    open_page(page, luffy_server, "#reset")
    view = page.locator("#reset-view")
    view.get_by_label("Mobile or email").fill(account["mobile"])
    view.get_by_role("button", name="Send code").click()
    right = code_for(outbox, account["mobile"])
    view.get_by_label("Code", exact=True).fill("000000" if right != "000000" else "111111")
    view.get_by_label("New password").fill("password")
    view.get_by_role("button", name="Set the new password").click()

    expect(view.get_by_role("alert")).to_have_text("Please check the fields below.")
    expect(view.get_by_label("Code", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(view.locator("#reset-code-error")).to_be_visible()
    expect(view.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#reset-view")).to_be_visible()


def test_forgot_password_of_a_malformed_mobile_shows_the_error_under_the_field(page, luffy_server):
    open_page(page, luffy_server, "#reset")
    view = page.locator("#reset-view")
    view.get_by_label("Mobile or email").fill("12345")
    view.get_by_role("button", name="Send code").click()
    expect(view.locator("#reset-username-error")).to_have_text("Not a valid mobile number.")
    expect(view.get_by_label("Mobile or email")).to_be_focused()
    expect(view.locator("#reset-send")).to_be_enabled()
