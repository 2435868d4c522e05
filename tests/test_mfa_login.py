"""The second step of a login: a password or SMS login of an account with two-factor on
answers an mfa_token and no tokens; POST /users/login/2fa with a TOTP or recovery code
gives the login answer; the token lives MFA_TOKEN_EXPIRES, serves once and dies after 5
wrong codes, which count as failed password attempts; HTTP Basic is refused."""

import time

from sqlalchemy import select

from luffy.core.models import Event
from luffy.extensions import db
from tests.accounts import (
    PASSWORD, STRONG, AuthActions, alice_with_two_factor, code_at, errors_of, send_sms,
)


def challenge(client, **kwargs):
    answer = AuthActions(client).login(**kwargs)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body.keys() == {"mfa_required", "mfa_token", "methods"} and body["mfa_required"] is True
    assert body["methods"] == ["totp", "recovery_code"]
    assert answer.headers["Cache-Control"] == "no-store"
    return body["mfa_token"]


def second(client, token, code, **kwargs):
    return client.post("/users/login/2fa", json={"mfa_token": token, "code": code}, **kwargs)


def logins(app):
    with app.app_context():
        return db.session.execute(select(Event.type, Event.method).where(
            Event.type.in_(("login", "login_failed"))).order_by(Event.id)).all()


def test_a_password_login_takes_a_second_step(app):
    client, secret, _codes = alice_with_two_factor(app)
    token = challenge(client)
    answer = second(client, token, code_at(secret, 1))
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json().keys() == {"token", "refresh", "cart_total"}
    me = client.get("/users/me", headers={"Authorization": f"Bearer {answer.get_json()['token']}"})
    assert me.get_json()["username"] == "alice"
    assert second(client, token, code_at(secret, 1)).get_json()["code"] == "token_not_valid"  # once
    assert logins(app)[-1] == ("login", "2fa")


def test_the_log_tells_a_first_step_from_a_login(app, caplog):
    client, secret, _codes = alice_with_two_factor(app)
    caplog.clear()
    second(client, challenge(client), code_at(secret, 1))
    assert [r.getMessage() for r in caplog.records if r.name == "luffy.request"] == [
        "login mfa_required", "login success"]


def test_cookie_mode_sets_the_cookies_at_the_second_step_only(app):
    client, secret, _codes = alice_with_two_factor(app)
    first = AuthActions(client).login(query_string={"cookies": 1})
    assert "mfa_token" in first.get_json() and not first.headers.getlist("Set-Cookie")
    answer = second(client, first.get_json()["mfa_token"], code_at(secret, 1),
                    query_string={"cookies": 1})
    assert answer.get_json() == {"cart_total": 0}
    assert any(c.startswith("access_token_cookie=") for c in answer.headers.getlist("Set-Cookie"))


def test_an_sms_login_takes_a_second_step_too(make_app, outbox):
    app = make_app(CODE_RESEND_INTERVAL=0)
    client, secret, codes = alice_with_two_factor(app)
    assert send_sms(client, "13800000001", "login").status_code == 202
    answer = client.post("/users/login/sms", json={"mobile": "13800000001",
                                                   "sms_code": outbox.code("13800000001")})
    assert answer.get_json()["mfa_required"] is True and "token" not in answer.get_json()
    assert second(client, answer.get_json()["mfa_token"], codes[0]).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Event.type).order_by(Event.id.desc())).first() == "login"


def test_a_recovery_code_opens_the_second_step_once(app):
    client, _secret, codes = alice_with_two_factor(app)
    assert second(client, challenge(client), codes[3]).status_code == 200
    assert list(errors_of(second(client, challenge(client), codes[3]))) == ["code"]


def test_the_token_dies_after_five_wrong_codes(app):
    client, secret, _codes = alice_with_two_factor(app)
    token = challenge(client)
    for _ in range(4):
        assert errors_of(second(client, token, "000-000")) == {"code": ["Wrong, used or expired code."]}
    assert second(client, token, code_at(secret, 1)).status_code == 200  # the fifth try: good
    token = challenge(client)
    for _ in range(5):
        assert list(errors_of(second(client, token, "not-it"))) == ["code"]
    assert second(client, token, code_at(secret, 1)).get_json()["code"] == "token_not_valid"
    assert logins(app).count(("login_failed", "2fa")) == 9


def test_the_token_expires(make_app):
    app = make_app(MFA_TOKEN_EXPIRES=1)
    client, secret, _codes = alice_with_two_factor(app)
    token = challenge(client)
    time.sleep(1.2)
    assert second(client, token, code_at(secret, 1)).get_json()["code"] == "token_not_valid"


def test_what_is_not_an_mfa_token_is_refused(app):
    client, secret, _codes = alice_with_two_factor(app)
    for token in ("x", "a" * 43, challenge(client) + "x"):
        answer = second(client, token, code_at(secret, 1))
        assert (answer.status_code, answer.get_json()["code"]) == (401, "token_not_valid"), token
    assert errors_of(client.post("/users/login/2fa", json={"code": "123456"})) == {
        "mfa_token": ["Missing data for required field."]}


def test_wrong_codes_are_failed_password_attempts(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client, secret, _codes = alice_with_two_factor(app)
    token = challenge(client)
    for _ in range(3):
        assert list(errors_of(second(client, token, "000000"))) == ["code"]
    assert second(client, token, code_at(secret, 1)).status_code == 429
    assert AuthActions(client).login().status_code == 429


def test_http_basic_is_refused_for_an_account_with_two_factor(app):
    client, _secret, _codes = alice_with_two_factor(app)
    answer = client.get("/users/me", headers=AuthActions.basic())
    assert (answer.status_code, answer.get_json()["code"]) == (401, "authentication_failed")


def test_a_password_reset_leaves_two_factor_on(make_app, outbox):
    app = make_app(CODE_RESEND_INTERVAL=0)
    client, _secret, _codes = alice_with_two_factor(app)
    assert send_sms(client, "13800000001", "reset").status_code == 202
    assert client.post("/users/password/reset", json={
        "username": "13800000001", "code": outbox.code("13800000001"),
        "new_password": STRONG}).status_code == 200
    challenge(client, password=STRONG)


def test_turning_it_off_makes_logins_one_step_again(app):
    client, _secret, codes = alice_with_two_factor(app)
    headers = {"Authorization": "Bearer " + second(client, challenge(client), codes[0]).get_json()["token"]}
    assert client.delete("/users/2fa", headers=headers,
                         json={"password": PASSWORD, "code": codes[1]}).status_code == 200
    assert "token" in AuthActions(client).tokens()


def test_an_operator_can_turn_it_off(app):
    client, _secret, _codes = alice_with_two_factor(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "2fa-off", "alice"])
    assert result.exit_code == 0 and "two-factor of alice is off" in result.output
    assert "token" in AuthActions(client).tokens()
    result = runner.invoke(args=["users", "2fa-off", "alice"])
    assert result.exit_code == 1 and "alice has no two-factor" in result.output


def test_a_new_password_kills_the_second_steps_waiting(app):
    client, secret, codes = alice_with_two_factor(app)
    token = challenge(client)
    headers = {"Authorization": "Bearer " + second(client, challenge(client), codes[0]).get_json()["token"]}
    assert client.post("/users/password", headers=headers, json={
        "old_password": PASSWORD, "new_password": STRONG}).status_code == 200
    assert second(client, token, code_at(secret, 1)).get_json()["code"] == "token_not_valid"
    assert second(client, challenge(client, password=STRONG), code_at(secret, 1)).status_code == 200
