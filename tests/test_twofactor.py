"""Two-factor set-up, recovery codes and turning it off: TOTP with pyotp, each step's
code taken once, recovery codes single use and stored as hashes, the secret stored
encrypted, wrong passwords and codes throttled like password guesses."""

import pyotp
import pytest
from sqlalchemy import select

from luffy.core.models import Event, RecoveryCode, TwoFactor, User
from luffy.extensions import db
from tests.accounts import PASSWORD, AuthActions, add_user, begin, code_at, errors_of, turn_on


def off(client, headers, code, password=PASSWORD):
    return client.delete("/users/2fa", headers=headers, json={"password": password, "code": code})


def renew(client, headers, code, password=PASSWORD):
    return client.post("/users/2fa/recovery-codes", headers=headers,
                       json={"password": password, "code": code})


def state(app):
    """``(users.two_factor, the two_factor row, recovery-code rows, event types)``."""
    with app.app_context():
        return (db.session.scalar(select(User.two_factor)),
                db.session.scalars(select(TwoFactor)).first(),
                db.session.scalars(select(RecoveryCode)).all(),
                db.session.scalars(select(Event.type).order_by(Event.id)).all())


def test_set_up_gives_a_secret_that_is_in_force_once_a_code_confirms_it(app, client, auth_headers):
    answer = begin(client, auth_headers)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    secret, uri = answer.get_json()["secret"], answer.get_json()["otpauth_uri"]
    assert pyotp.parse_uri(uri).secret == secret
    assert uri.startswith("otpauth://totp/luffy:alice?") and "issuer=luffy" in uri
    assert state(app)[0] is False  # not in force yet
    wrong = client.post("/users/2fa/totp/confirm", headers=auth_headers,
                        json={"code": code_at(secret, 3)})
    assert list(errors_of(wrong)) == ["code"]
    answer = client.post("/users/2fa/totp/confirm", headers=auth_headers,
                         json={"code": code_at(secret)})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    codes = answer.get_json()["recovery_codes"]
    assert len(set(codes)) == 10
    on, row, stored, events = state(app)
    assert on is True and row.confirmed_at is not None and len(stored) == 10
    assert events[-1] == "2fa_enabled"


def test_set_up_takes_the_password(client, auth_headers):
    assert errors_of(client.post("/users/2fa/totp", headers=auth_headers, json={})) == {
        "password": ["Missing data for required field."]}
    assert errors_of(begin(client, auth_headers, "a guess")) == {"password": ["Wrong password."]}
    assert client.post("/users/2fa/totp", json={"password": PASSWORD}).status_code == 401


def test_a_code_is_refused_without_a_set_up_and_while_it_is_on(client, auth_headers):
    assert list(errors_of(client.post("/users/2fa/totp/confirm", headers=auth_headers,
                                      json={"code": "123456"}))) == ["code"]
    turn_on(client, auth_headers)
    assert list(errors_of(begin(client, auth_headers))) == ["totp"]  # off first, then anew
    assert list(errors_of(client.post("/users/2fa/totp/confirm", headers=auth_headers,
                                      json={"code": "123456"}))) == ["code"]


def test_each_step_s_code_serves_once_and_one_step_either_side(app, client, auth_headers):
    secret, _codes = turn_on(client, auth_headers)  # took the current step's code
    for used_or_older in (code_at(secret), code_at(secret, -1), code_at(secret, -2)):
        assert errors_of(renew(client, auth_headers, used_or_older)) == {
            "code": ["Wrong, used or expired code."]}
    assert errors_of(renew(client, auth_headers, code_at(secret, 2))) == {
        "code": ["Wrong, used or expired code."]}  # too far ahead
    assert renew(client, auth_headers, code_at(secret, 1)).status_code == 200  # the next step
    assert list(errors_of(off(client, auth_headers, code_at(secret, 1)))) == ["code"]  # spent


@pytest.mark.parametrize("typed", ["{} {}", " {}{} "])
def test_a_code_may_be_typed_with_spaces(client, auth_headers, typed):
    secret = begin(client, auth_headers).get_json()["secret"]
    code = code_at(secret)
    answer = client.post("/users/2fa/totp/confirm", headers=auth_headers,
                         json={"code": typed.format(code[:3], code[3:])})
    assert answer.status_code == 200, answer.get_json()


def test_recovery_codes_serve_once_and_new_ones_kill_the_old(app, client, auth_headers):
    secret, codes = turn_on(client, auth_headers)
    answer = renew(client, auth_headers, codes[0].upper())  # any case, dashes or not
    assert answer.status_code == 200
    new = answer.get_json()["recovery_codes"]
    assert len(set(new)) == 10 and not set(new) & set(codes)
    assert list(errors_of(off(client, auth_headers, codes[1]))) == ["code"]  # an old one: dead
    assert off(client, auth_headers, new[0].replace("-", "")).status_code == 200
    on, row, stored, events = state(app)
    assert (on, row, stored) == (False, None, [])
    assert events[-3:] == ["recovery_code_used", "recovery_code_used", "2fa_disabled"]


def test_turning_it_off_takes_the_password_and_a_code(app, client, auth_headers):
    secret, codes = turn_on(client, auth_headers)
    assert errors_of(off(client, auth_headers, code_at(secret, 1), "a guess")) == {
        "password": ["Wrong password."]}
    assert list(errors_of(off(client, auth_headers, code_at(secret, 5)))) == ["code"]
    assert errors_of(client.delete("/users/2fa", headers=auth_headers, json={"password": PASSWORD})) == {
        "code": ["Missing data for required field."]}
    assert state(app)[0] is True
    assert off(client, auth_headers, codes[0]).status_code == 200
    assert list(errors_of(off(client, auth_headers, codes[1]))) == ["code"]  # already off


def test_wrong_codes_are_password_guesses_for_the_throttle(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    add_user(app)
    client = app.test_client()
    headers = AuthActions(client).headers()
    turn_on(client, headers)
    for _ in range(3):
        assert list(errors_of(off(client, headers, "not-a-code"))) == ["code"]
    assert off(client, headers, "not-a-code").status_code == 429
    assert AuthActions(client).login().status_code == 429  # the same budget as passwords


def test_the_secret_is_stored_encrypted_and_the_codes_as_hashes(app, client, auth_headers,
                                                                  make_app):
    secret, codes = turn_on(client, auth_headers)
    with app.app_context():
        dump = repr(db.session.execute(select(TwoFactor.__table__)).all()) + \
            repr(db.session.execute(select(RecoveryCode.__table__)).all())
    assert secret not in dump and not any(code in dump or code.replace("-", "") in dump
                                          for code in codes)
    # Under another SECRET_KEY the secret cannot be read: no TOTP code opens it, and a
    # recovery code still does.
    with app.app_context():
        app.config["SECRET_KEY"] = "another-secret-key-0123456789abcdef0123456789abcdef"
        app.extensions.pop("luffy_fernets", None)
    assert list(errors_of(off(client, auth_headers, code_at(secret, 1)))) == ["code"]
    assert off(client, auth_headers, codes[0]).status_code == 200
