"""Sign-up, SMS login, email confirmation and password reset through the HTTP API,
with the development backends (the messages are read from the log)."""

import pytest
from sqlalchemy import select

from luffy.core.models import User
from luffy.extensions import db
from tests.accounts import PASSWORD, STRONG, AuthActions, add_user, errors_of, register, send_sms
from tests.standins import code_in

MOBILE = "13912345678"


def sign_up(client, outbox, mobile=MOBILE, **extra):
    assert send_sms(client, mobile).status_code == 202
    response = register(client, mobile, outbox.code(mobile), **extra)
    assert response.status_code == 201, response.get_json()
    return response


def test_mobile_check_says_whether_a_number_is_registered(client, user):
    assert client.get("/users/mobile/13800000001").get_json() == {
        "mobile": "13800000001", "registered": True}
    assert client.get(f"/users/mobile/{MOBILE}/").get_json() == {"mobile": MOBILE, "registered": False}
    assert errors_of(client.get("/users/mobile/12345")) == {"mobile": ["Not a valid mobile number."]}


def test_mobile_check_is_limited_per_address(make_app):
    client = make_app(LOOKUP_RATE_LIMIT="2 per minute").test_client()
    for _ in range(2):
        assert client.get(f"/users/mobile/{MOBILE}").status_code == 200
    response = client.get(f"/users/mobile/{MOBILE}")
    assert response.status_code == 429 and response.get_json()["code"] == "throttled"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    other = client.get(f"/users/mobile/{MOBILE}", environ_overrides={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_the_throttle_runs_only_where_a_limit_is_declared(make_app, monkeypatch):
    from luffy.core import throttle

    runs = []
    run = throttle.Windows.run
    monkeypatch.setattr(throttle.Windows, "run", lambda self, work: runs.append(work) or run(self, work))
    client = make_app(LOOKUP_RATE_LIMIT="2 per minute").test_client()
    assert client.get("/healthz").status_code == 200
    assert client.post("/users/login/verify", json={"token": "x"}).status_code == 401
    assert runs == []  # no request pays for a throttle it does not declare
    for status in (200, 200, 429):
        assert client.get(f"/users/mobile/{MOBILE}").status_code == status
    assert len(runs) == 3  # the lookup's own limit, once a request


def test_sign_up_answers_the_login_answer_and_the_account_logs_in(client, outbox):
    response = send_sms(client, MOBILE)
    assert response.status_code == 202 and response.get_json() == {"resend_after": 60}
    (text,) = outbox.to(MOBILE)
    assert "sign-up" in text
    response = register(client, MOBILE, outbox.code(MOBILE), nickname="Neo")
    answer = response.get_json()
    assert response.status_code == 201 and set(answer) == {"token", "refresh", "cart_total"}
    assert response.headers["Cache-Control"] == "no-store"
    me = client.get("/users/me", headers={"Authorization": f"Bearer {answer['token']}"}).get_json()
    assert me["username"] == MOBILE and me["mobile"] == MOBILE and me["nickname"] == "Neo"
    assert me["email"] == "" and me["email_verified"] is False
    login = client.post("/users/login/", json={"username": MOBILE, "password": STRONG})
    assert login.status_code == 200
    with client.application.app_context():
        stored = db.session.scalar(select(User.password).where(User.mobile == MOBILE))
    assert stored.startswith("$argon2id$")


def test_sign_up_with_a_username_and_an_email(client, outbox):
    sign_up(client, outbox, username="neo", email="Neo@Example.com")
    login = client.post("/users/login/", json={"username": "neo@example.com", "password": STRONG})
    assert login.status_code == 200


def test_sign_up_in_cookie_mode_sets_cookies_and_keeps_tokens_out_of_the_body(client, outbox):
    send_sms(client, MOBILE)
    response = client.post("/users/register?cookies=1", json={
        "mobile": MOBILE, "sms_code": outbox.code(MOBILE), "password": STRONG, "re_password": STRONG})
    assert response.status_code == 201 and response.get_json() == {"cart_total": 0}
    cookies = " ".join(response.headers.getlist("Set-Cookie"))
    assert "access_token_cookie=" in cookies and "refresh_token_cookie=" in cookies


def test_sign_up_refusals_name_their_fields(client, user, outbox, make_user):
    send_sms(client, MOBILE)
    code = outbox.code(MOBILE)
    wrong = "000000" if code != "000000" else "111111"
    errors = errors_of(client.post("/users/register", json={
        "mobile": MOBILE, "sms_code": wrong, "password": "password123", "re_password": "other"}))
    assert set(errors) == {"sms_code"}  # a wrong code is the only error told
    errors = errors_of(client.post("/users/register", json={
        "mobile": MOBILE, "sms_code": code, "password": "password123", "re_password": "other"}))
    assert set(errors) == {"password", "re_password"}
    assert set(errors_of(register(client, MOBILE, code, password=MOBILE + "x"))) == {"password"}
    errors = errors_of(register(client, MOBILE, code, username="alice", email="ALICE@example.com"))
    assert set(errors) == {"username", "email"}
    assert set(errors_of(register(client, MOBILE, code, username="13700000000"))) == {"username"}
    assert set(errors_of(register(client, MOBILE, code, username="x@y"))) == {"username"}
    assert set(errors_of(register(client, MOBILE[:-1], code))) == {"mobile"}
    # None of these spent the code.
    assert register(client, MOBILE, code).status_code == 201


def test_a_registered_mobile_gets_no_sign_up_code_and_cannot_sign_up(client, user, outbox):
    response = send_sms(client, "13800000001")
    assert response.status_code == 202 and response.get_json() == {"resend_after": 60}
    assert outbox.to("13800000001") == []
    # The code is checked first: without one, nothing tells that the number is registered.
    assert set(errors_of(register(client, "13800000001", "123456"))) == {"sms_code"}


def test_sms_purpose(client):
    assert send_sms(client, MOBILE, purpose="register").status_code == 202
    response = client.post(f"/users/sms/{MOBILE[:-1]}9")  # no body at all means register
    assert response.status_code == 202
    assert set(errors_of(send_sms(client, "13912345670", purpose="spam"))) == {"purpose"}
    assert set(errors_of(send_sms(client, "1391234567a"))) == {"mobile"}


def test_sms_login(client, user, outbox):
    assert send_sms(client, "13800000001", "login").status_code == 202
    code = outbox.code("13800000001")
    response = client.post("/users/login/sms", json={"mobile": "13800000001", "sms_code": code})
    assert response.status_code == 200 and set(response.get_json()) == {"token", "refresh", "cart_total"}
    again = client.post("/users/login/sms", json={"mobile": "13800000001", "sms_code": code})
    assert again.status_code == 401  # single use


def test_sms_login_in_cookie_mode(client, user, outbox):
    send_sms(client, "13800000001", "login")
    response = client.post("/users/login/sms", json={
        "mobile": "13800000001", "sms_code": outbox.code("13800000001"), "cookies": True})
    assert response.status_code == 200 and response.get_json() == {"cart_total": 0}
    assert "access_token_cookie=" in " ".join(response.headers.getlist("Set-Cookie"))


def test_sms_login_failures_are_one_answer(client, user, outbox):
    assert send_sms(client, MOBILE, "login").status_code == 202
    assert outbox.to(MOBILE) == []  # no account: no message
    unknown = client.post("/users/login/sms", json={"mobile": MOBILE, "sms_code": "123456"})
    send_sms(client, "13800000001", "login")
    code = outbox.code("13800000001")
    wrong = client.post("/users/login/sms", json={
        "mobile": "13800000001", "sms_code": "000000" if code != "000000" else "111111"})
    for response in (unknown, wrong):
        assert response.status_code == 401
        assert response.get_json() == {"code": "authentication_failed",
                                       "detail": "No active account found with the given credentials"}


def test_five_wrong_codes_kill_the_code(client, user, outbox):
    send_sms(client, "13800000001", "login")
    code = outbox.code("13800000001")
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != code]
    for guess in wrong[:5]:
        assert client.post("/users/login/sms", json={"mobile": "13800000001",
                                                     "sms_code": guess}).status_code == 401
    right = client.post("/users/login/sms", json={"mobile": "13800000001", "sms_code": code})
    assert right.status_code == 401


def test_four_wrong_codes_leave_it_alive(client, user, outbox):
    send_sms(client, "13800000001", "login")
    code = outbox.code("13800000001")
    for guess in [c for c in ("000000", "111111", "222222", "333333", "444444") if c != code][:4]:
        client.post("/users/login/sms", json={"mobile": "13800000001", "sms_code": guess})
    right = client.post("/users/login/sms", json={"mobile": "13800000001", "sms_code": code})
    assert right.status_code == 200


def test_a_code_of_one_purpose_does_not_serve_another(client, user, outbox):
    send_sms(client, "13800000001", "reset")
    code = outbox.code("13800000001")
    login = client.post("/users/login/sms", json={"mobile": "13800000001", "sms_code": code})
    assert login.status_code == 401
    send_sms(client, MOBILE, "register", address="10.1.0.2")
    sign_up_code = outbox.code(MOBILE)
    reset = client.post("/users/password/reset", json={
        "username": MOBILE, "code": sign_up_code, "new_password": STRONG})
    assert set(errors_of(reset)) == {"code"}


def test_a_code_of_one_number_does_not_serve_another(client, outbox):
    send_sms(client, MOBILE)
    code = outbox.code(MOBILE)
    assert set(errors_of(register(client, "13912345679", code))) == {"sms_code"}


def test_a_new_code_replaces_the_old_one(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0).test_client()
    send_sms(client, MOBILE)
    first = outbox.code(MOBILE)
    send_sms(client, MOBILE)
    second = outbox.code(MOBILE)
    if first != second:
        assert set(errors_of(register(client, MOBILE, first))) == {"sms_code"}
    assert register(client, MOBILE, second).status_code == 201


def test_an_expired_code_is_refused(make_app, outbox):
    import time

    client = make_app(CODE_TTL=1).test_client()
    send_sms(client, MOBILE)
    code = outbox.code(MOBILE)
    time.sleep(1.5)
    assert set(errors_of(register(client, MOBILE, code))) == {"sms_code"}


def test_resend_too_early_is_throttled_across_purposes(client, user, outbox):
    assert send_sms(client, "13800000001", "login").status_code == 202
    response = send_sms(client, "13800000001", "reset", address="10.2.0.1")
    assert response.status_code == 429 and response.get_json()["code"] == "throttled"
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    assert len(outbox.to("13800000001")) == 1


def test_daily_cap_per_destination_and_per_address_refused_requests_do_not_count(make_app, outbox):
    client = make_app(CODE_RESEND_INTERVAL=0, CODE_DAILY_LIMIT=2,
                      CODE_DESTINATION_DAILY_LIMIT=2).test_client()
    x, y = "13900000001", "13900000002"
    assert send_sms(client, x, address="10.3.0.1").status_code == 202
    assert send_sms(client, x, address="10.3.0.1").status_code == 202
    capped = send_sms(client, x, address="10.3.0.2")  # the destination's ceiling, from anywhere
    assert capped.status_code == 429
    assert 86000 < int(capped.headers["Retry-After"]) <= 86400
    assert send_sms(client, y, address="10.3.0.1").status_code == 429  # the address's cap
    assert send_sms(client, y, address="10.3.0.2").status_code == 202  # 10.3.0.2: one, refused x not counted
    assert send_sms(client, y, address="10.3.0.3").status_code == 202  # y: refused 10.3.0.1 not counted
    assert send_sms(client, y, address="10.3.0.4").status_code == 429
    assert len(outbox.to(x)) == 2 and len(outbox.to(y)) == 2


def test_email_confirmation_sets_the_email_and_its_flag(client, user, auth_headers, outbox):
    response = client.post("/users/email/code", headers=auth_headers,
                           json={"email": "Alice.New@Example.com", "purpose": "confirm",
                                 "password": PASSWORD})
    assert response.status_code == 202 and response.get_json() == {"resend_after": 60}
    code = outbox.code("alice.new@example.com")
    response = client.post("/users/email/confirm", headers=auth_headers,
                           json={"email": "alice.new@example.com", "code": code})
    assert response.status_code == 200, response.get_json()
    profile = response.get_json()
    assert profile["email"] == "alice.new@example.com" and profile["email_verified"] is True
    me = client.get("/users/me", headers=auth_headers).get_json()
    assert me["email_verified"] is True


def test_email_confirmation_needs_a_token_and_its_own_code(client, user, auth, auth_headers,
                                                           make_user, outbox):
    body = {"email": "x@example.com", "purpose": "confirm", "password": PASSWORD}
    response = client.post("/users/email/code", json=body)
    assert response.status_code == 401
    client.post("/users/email/code", headers=auth_headers, json=body)
    code = outbox.code("x@example.com")
    make_user("bob", email="bob@example.com", mobile="13800000002")
    bob = auth.headers("bob")
    response = client.post("/users/email/confirm", headers=bob, json={"email": "x@example.com", "code": code})
    assert set(errors_of(response)) == {"code"}  # alice's code does not confirm bob
    assert client.post("/users/email/confirm", json={"email": "x@example.com", "code": code}).status_code == 401


def test_no_confirmation_code_for_an_email_another_account_uses(client, user, make_user, outbox):
    make_user("bob", email="bob@example.com", mobile="13800000002")
    headers = AuthActions(client).headers()
    response = client.post("/users/email/code", headers=headers,
                           json={"email": "BOB@example.com", "purpose": "confirm",
                                 "password": PASSWORD})
    assert response.status_code == 202
    assert outbox.to("bob@example.com") == []


def test_reset_by_sms_changes_the_password_and_ends_every_session(client, user, auth, outbox):
    tokens = auth.tokens()
    assert send_sms(client, "13800000001", "reset").status_code == 202
    response = client.post("/users/password/reset", data={
        "username": "13800000001", "code": outbox.code("13800000001"), "new_password": STRONG})
    assert response.status_code == 200 and response.get_json() == {}
    refresh = client.post("/users/login/refresh", json={"refresh": tokens["refresh"]})
    assert refresh.status_code == 401
    me = client.get("/users/me", headers={"Authorization": f"Bearer {tokens['token']}"})
    assert me.status_code == 401
    assert auth.login(password=PASSWORD).status_code == 401
    assert auth.login(password=STRONG).status_code == 200


def test_reset_failures_are_one_answer_and_a_weak_password_is_refused(client, user, outbox):
    unknown = client.post("/users/password/reset", json={
        "username": MOBILE, "code": "123456", "new_password": STRONG})
    send_sms(client, "13800000001", "reset")
    code = outbox.code("13800000001")
    wrong = client.post("/users/password/reset", json={
        "username": "13800000001", "code": "000000" if code != "000000" else "111111",
        "new_password": STRONG})
    assert unknown.get_json() == wrong.get_json()
    assert errors_of(wrong) == {"code": ["Wrong or expired code."]}
    weak = client.post("/users/password/reset", json={
        "username": "13800000001", "code": code, "new_password": "alice2024"})
    assert set(errors_of(weak)) == {"new_password"}
    common = client.post("/users/password/reset", json={
        "username": "13800000001", "code": code, "new_password": "password1234"})
    assert set(errors_of(common)) == {"new_password"}
    ok = client.post("/users/password/reset", json={
        "username": "13800000001", "code": code, "new_password": STRONG})
    assert ok.status_code == 200


def test_reset_by_email_goes_only_to_a_confirmed_address(make_app, outbox):
    app = make_app(CODE_RESEND_INTERVAL=0)
    client = app.test_client()
    add_user(app)
    headers = AuthActions(client).headers()
    response = client.post("/users/email/code", json={"email": "alice@example.com", "purpose": "reset"})
    assert response.status_code == 202 and outbox.to("alice@example.com") == []  # not confirmed
    client.post("/users/email/code", headers=headers,
                json={"email": "alice@example.com", "purpose": "confirm", "password": PASSWORD})
    client.post("/users/email/confirm", headers=headers,
                json={"email": "alice@example.com", "code": outbox.code("alice@example.com")})
    response = client.post("/users/email/code", json={"email": "Alice@Example.com", "purpose": "reset"})
    assert response.status_code == 202
    (_, reset_text) = outbox.to("alice@example.com")
    assert "reset" in reset_text
    response = client.post("/users/password/reset", json={
        "username": "ALICE@example.com", "code": code_in(reset_text), "new_password": STRONG})
    assert response.status_code == 200


def test_unknown_email_reset_answers_the_same_and_sends_nothing(client, outbox):
    response = client.post("/users/email/code", json={"email": "nobody@example.com", "purpose": "reset"})
    assert response.status_code == 202 and response.get_json() == {"resend_after": 60}
    assert outbox.messages() == []


@pytest.mark.parametrize("path", ["/users/register", "/users/login/sms", "/users/password/reset",
                                  "/users/email/code"])
def test_bodies_follow_the_input_rules(client, path):
    assert client.post(path, data="{", content_type="application/json").get_json()["code"] == "parse_error"
    assert client.post(path, json=[1]).get_json()["code"] == "invalid"
    response = client.post(path, json={"mobile": 13912345678, "sms_code": 123456, "email": 1,
                                       "username": 1, "code": 1})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid"


def test_long_passwords_are_judged_not_crashed_on(client, outbox):
    send_sms(client, MOBILE)
    code = outbox.code(MOBILE)
    assert set(errors_of(register(client, MOBILE, code, password="x" * 1024))) == {"password"}
    assert "password" in errors_of(register(client, MOBILE, code, password="x" * 1025))
    assert register(client, MOBILE, code, password=STRONG + "!" * 900).status_code == 201


@pytest.mark.parametrize("path", ["/users/email/confirm", "/users/email/code"])
def test_basic_auth_guesses_on_the_email_endpoints_count_like_logins(make_app, path):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    add_user(app)
    client = app.test_client()
    body = {"email": "a@example.com", "code": "123456", "purpose": "confirm", "password": PASSWORD}
    for _ in range(2):
        assert client.post(path, json=body, headers=AuthActions.basic(password="wrong")).status_code == 401
    response = client.post(path, json=body, headers=AuthActions.basic(password="wrong"))
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_a_password_change_follows_the_same_rules(client, user, auth_headers):
    for weak in ("password1234", "alice@example"):
        response = client.post("/users/password", headers=auth_headers,
                               json={"old_password": PASSWORD, "new_password": weak})
        assert set(errors_of(response)) == {"new_password"}
    response = client.post("/users/password", headers=auth_headers,
                           json={"old_password": PASSWORD, "new_password": STRONG})
    assert response.status_code == 200


def test_the_accounts_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    expected = {"/users/mobile/{mobile}": ("get", "200"), "/users/sms/{mobile}": ("post", "202"),
                "/users/login/sms": ("post", "200"), "/users/register": ("post", "201"),
                "/users/email/code": ("post", "202"), "/users/email/confirm": ("post", "200"),
                "/users/password/reset": ("post", "200")}
    for path, (method, status) in expected.items():
        responses = paths[path][method]["responses"]
        assert status in responses and "400" in responses, path
    assert "429" in paths["/users/sms/{mobile}"]["post"]["responses"]
    assert {"bearerAuth": []} in paths["/users/email/confirm"]["post"]["security"]
